//===- Utils.h - building blocks of optim-to-linalg -------------*- C++ -*-===//
//
// Float arithmetic in one compute type, and the few shapes of linalg.generic
// the lowering emits: elementwise maps, reductions and filled accumulators.
// Private to lib/Conversion/OptimToLinalg.
//
//===----------------------------------------------------------------------===//

#ifndef LIB_CONVERSION_OPTIMTOLINALG_UTILS_H
#define LIB_CONVERSION_OPTIMTOLINALG_UTILS_H

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/Builders.h"

namespace mlir::optim {

/// The type element math runs in: f32 for narrower floats (f16, bf16, ...),
/// which are extended on load and truncated on store, else the element type
/// itself (f32, f64 natively).
FloatType getComputeType(Type elementType);
/// The compute type of the elements of the ranked tensor `tensor`.
FloatType getElementComputeType(Value tensor);

/// `value` (a float scalar) converted to the float type `to`.
Value convertFloat(OpBuilder &b, Location loc, Value value, Type to);

/// The type of a compute op's scalar arithmetic (bias corrections, step
/// sizes, trust ratios, `1 - beta2`): that of its float scalar operands,
/// f32 when it has none. The step's boundary passes f64 scalars whatever
/// the parameters' element type, so that a float64 parameter gets float64
/// hyper-parameters and a float32 one gets `1 - beta2` and `beta2^t` as
/// exactly as the frameworks compute them on the host
/// (docs/Step-structure.md).
FloatType getScalarType(ValueRange scalars);

/// Emits scalar float arithmetic in one compute type at the builder's
/// insertion point: before a loop for loop-invariant scalars (in the scalar
/// type, `getScalarType`), or inside a linalg.generic body for element math
/// (in the element compute type). Float operands of another type are
/// converted to the compute type first, right after their definition, so a
/// loop-invariant scalar is converted once, outside the loop; predicates
/// return i1.
///
/// Each call emits an op, so never pass two op-building calls as arguments of
/// one call (`add(mul(a, b), mul(c, d))`): C++ leaves the evaluation order of
/// arguments unspecified, and the IR would differ between compilers. Name
/// the operands in locals first, left to right.
class FloatMath {
public:
  FloatMath(OpBuilder &b, Location loc, FloatType type)
      : b(b), loc(loc), type(type) {}

  FloatType getType() const { return type; }
  OpBuilder &getBuilder() const { return b; }
  Location getLoc() const { return loc; }

  Value constant(double value) const;
  /// A float of any width converted to the compute type.
  Value cast(Value value) const { return convertFloat(b, loc, value, type); }
  /// An integer (the i64 step counter) converted to the compute type.
  Value fromSignedInt(Value value) const;

  Value add(Value x, Value y) const;
  Value sub(Value x, Value y) const;
  Value mul(Value x, Value y) const;
  Value div(Value x, Value y) const;
  Value neg(Value x) const;
  /// `1 - x`, the complement of a decay rate.
  Value oneMinus(Value x) const { return sub(constant(1.0), x); }
  /// `x * x` (what `x^2` means in the op descriptions).
  Value square(Value x) const { return mul(x, x); }
  Value sqrt(Value x) const;
  Value abs(Value x) const;
  Value pow(Value base, Value exponent) const;
  /// NaN-propagating maximum and minimum (NumPy's `maximum`/`minimum`).
  Value max(Value x, Value y) const;
  Value min(Value x, Value y) const;
  /// `|magnitude|` with the sign of `sign`.
  Value copySign(Value magnitude, Value sign) const;
  /// 1 for x > 0, -1 for x < 0, else x itself (so 0 and NaN map to themselves,
  /// like NumPy's `sign`).
  Value sign(Value x) const;

  /// Ordered comparisons: false when either operand is NaN.
  Value greater(Value x, Value y) const;
  Value less(Value x, Value y) const;
  Value equal(Value x, Value y) const;
  /// True when `x` is neither inf nor NaN.
  Value isFinite(Value x) const;
  Value select(Value condition, Value ifTrue, Value ifFalse) const;
  /// `x && y` on i1 predicates.
  Value logicalAnd(Value x, Value y) const;

private:
  /// `value` in the compute type: converted right after its definition
  /// when it is a float of another type.
  Value coerce(Value value) const;
  /// Both, converted in this order.
  std::pair<Value, Value> coerce(Value x, Value y) const;

  OpBuilder &b;
  Location loc;
  FloatType type;
};

/// Body of a destination-passing elementwise generic: gets the input and
/// output elements in the compute type and returns one new value per output
/// (in the compute type).
using ElementwiseBodyFn = function_ref<SmallVector<Value>(
    const FloatMath &math, ArrayRef<Value> inputs, ArrayRef<Value> outputs)>;

/// Builds an all-parallel linalg.generic over the shape of `outputs` (which
/// also give the result types): destination-passing, so the body reads the
/// current output values. Inputs use the identity map unless `inputMaps`
/// gives one map per input. Returns the results.
SmallVector<Value> buildElementwise(OpBuilder &b, Location loc,
                                    FloatType computeType, ValueRange inputs,
                                    ValueRange outputs, ElementwiseBodyFn body,
                                    ArrayRef<AffineMap> inputMaps = {});

/// Body of an elementwise map: the input elements in the compute type in,
/// the result element out.
using ElementwiseMapFn =
    function_ref<Value(const FloatMath &math, ArrayRef<Value> inputs)>;

/// Builds an all-parallel linalg.generic writing a new tensor of the type of
/// `shapeLike` (a `tensor.empty` destination, never read), the form upstream
/// elementwise fusion folds into its consumer. Inputs use the identity map
/// unless `inputMaps` gives one map per input.
Value buildElementwiseMap(OpBuilder &b, Location loc, FloatType computeType,
                          ValueRange inputs, Value shapeLike,
                          ElementwiseMapFn body,
                          ArrayRef<AffineMap> inputMaps = {});

/// Body of a reduction: the raw input elements and accumulators in, the new
/// accumulators out.
using ReductionBodyFn = function_ref<SmallVector<Value>(
    OpBuilder &b, Location loc, ValueRange inputs, ValueRange accumulators)>;

/// Builds a linalg.generic that folds every element of `inputs` (all of one
/// shape) into `inits`, keeping the leading `numKeptDims` dimensions (0: a
/// full reduction into 0-d tensors; 1: one value per row).
SmallVector<Value> buildReduction(OpBuilder &b, Location loc, ValueRange inputs,
                                  ValueRange inits, unsigned numKeptDims,
                                  ReductionBodyFn body);

/// Per-element terms whose squares a full reduction sums (from the inputs in
/// the compute type).
using SquaredTermsFn = function_ref<SmallVector<Value>(const FloatMath &math,
                                                       ArrayRef<Value> inputs)>;

/// Sums of squares, over all elements of `inputs`, of the `numTerms` values
/// `terms` computes per element; one reduction generic, accumulating in
/// `computeType`. Returns the sums as scalars.
SmallVector<Value> buildSumsOfSquares(OpBuilder &b, Location loc,
                                      FloatType computeType, ValueRange inputs,
                                      unsigned numTerms, SquaredTermsFn terms);

/// A tensor of the given sizes with every element `value` (tensor.empty +
/// linalg.fill).
Value buildFilledTensor(OpBuilder &b, Location loc,
                        ArrayRef<OpFoldResult> sizes, TypedAttr value);

/// An uninitialised tensor of the type of `like`.
Value buildEmptyLike(OpBuilder &b, Location loc, Value like);

/// The sizes of `tensor` with `leading` instead of its first size.
SmallVector<OpFoldResult> getMixedSizesWithLeading(OpBuilder &b, Location loc,
                                                   Value tensor,
                                                   OpFoldResult leading);

/// Row `row` of `tensor` (dimension 0) as a tensor with a leading unit
/// dimension, and its inverse.
Value extractRow(OpBuilder &b, Location loc, Value tensor, Value row);
Value insertRow(OpBuilder &b, Location loc, Value rowTensor, Value dest,
                Value row);

} // namespace mlir::optim

#endif // LIB_CONVERSION_OPTIMTOLINALG_UTILS_H
