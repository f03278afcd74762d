//===- Utils.cpp - building blocks of the optim-to-linalg lowering --------===//

#include "Utils.h"

#include "mlir/Dialect/Arith/Utils/Utils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <limits>

using namespace mlir;
using namespace mlir::optim;

FloatType mlir::optim::getComputeType(Type elementType) {
  auto floatType = cast<FloatType>(elementType);
  if (floatType.getWidth() < 32)
    return Float32Type::get(elementType.getContext());
  return floatType;
}

FloatType mlir::optim::getElementComputeType(Value tensor) {
  return getComputeType(
      cast<RankedTensorType>(tensor.getType()).getElementType());
}

Value mlir::optim::convertFloat(OpBuilder &b, Location loc, Value value,
                                Type to) {
  auto from = cast<FloatType>(value.getType());
  if (from == to)
    return value;
  auto toFloat = cast<FloatType>(to);
  if (from.getWidth() < toFloat.getWidth())
    return arith::ExtFOp::create(b, loc, toFloat, value);
  return arith::TruncFOp::create(b, loc, toFloat, value);
}

FloatType mlir::optim::getScalarType(ValueRange scalars) {
  for (Value scalar : scalars)
    if (auto type = dyn_cast<FloatType>(scalar.getType()))
      return type;
  assert(!scalars.empty() && "a compute op with scalars");
  return Float32Type::get(scalars.front().getContext());
}

//===----------------------------------------------------------------------===//
// FloatMath
//===----------------------------------------------------------------------===//

Value FloatMath::coerce(Value value) const {
  if (value.getType() == type || !isa<FloatType>(value.getType()))
    return value;
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointAfterValue(value);
  return convertFloat(b, loc, value, type);
}

std::pair<Value, Value> FloatMath::coerce(Value x, Value y) const {
  Value first = coerce(x);
  Value second = coerce(y);
  return {first, second};
}

Value FloatMath::constant(double value) const {
  return arith::ConstantOp::create(b, loc, b.getFloatAttr(type, value));
}

Value FloatMath::fromSignedInt(Value value) const {
  return arith::SIToFPOp::create(b, loc, type, value);
}

// The operations upstream's ArithBuilder has (it picks the float ops, and
// the ordered float predicates, for float operands).
Value FloatMath::add(Value x, Value y) const {
  auto [lhs, rhs] = coerce(x, y);
  return ArithBuilder(b, loc).add(lhs, rhs);
}
Value FloatMath::sub(Value x, Value y) const {
  auto [lhs, rhs] = coerce(x, y);
  return ArithBuilder(b, loc).sub(lhs, rhs);
}
Value FloatMath::mul(Value x, Value y) const {
  auto [lhs, rhs] = coerce(x, y);
  return ArithBuilder(b, loc).mul(lhs, rhs);
}
Value FloatMath::div(Value x, Value y) const {
  auto [lhs, rhs] = coerce(x, y);
  return arith::DivFOp::create(b, loc, lhs, rhs);
}
Value FloatMath::neg(Value x) const {
  return arith::NegFOp::create(b, loc, coerce(x));
}
Value FloatMath::sqrt(Value x) const {
  return math::SqrtOp::create(b, loc, coerce(x));
}
Value FloatMath::abs(Value x) const {
  return math::AbsFOp::create(b, loc, coerce(x));
}
Value FloatMath::pow(Value base, Value exponent) const {
  auto [lhs, rhs] = coerce(base, exponent);
  return math::PowFOp::create(b, loc, lhs, rhs);
}
Value FloatMath::max(Value x, Value y) const {
  auto [lhs, rhs] = coerce(x, y);
  return arith::MaximumFOp::create(b, loc, lhs, rhs);
}
Value FloatMath::min(Value x, Value y) const {
  auto [lhs, rhs] = coerce(x, y);
  return arith::MinimumFOp::create(b, loc, lhs, rhs);
}
Value FloatMath::copySign(Value magnitude, Value sign) const {
  auto [lhs, rhs] = coerce(magnitude, sign);
  return math::CopySignOp::create(b, loc, lhs, rhs);
}

Value FloatMath::sign(Value x) const {
  Value zero = constant(0.0);
  Value isNegative = less(x, zero);
  Value minusOne = constant(-1.0);
  Value negativeOrSelf = select(isNegative, minusOne, x);
  Value isPositive = greater(x, zero);
  Value one = constant(1.0);
  return select(isPositive, one, negativeOrSelf);
}

Value FloatMath::greater(Value x, Value y) const {
  auto [lhs, rhs] = coerce(x, y);
  return ArithBuilder(b, loc).sgt(lhs, rhs);
}
Value FloatMath::less(Value x, Value y) const {
  auto [lhs, rhs] = coerce(x, y);
  return ArithBuilder(b, loc).slt(lhs, rhs);
}
Value FloatMath::equal(Value x, Value y) const {
  auto [lhs, rhs] = coerce(x, y);
  return arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, lhs, rhs);
}
Value FloatMath::isFinite(Value x) const {
  Value magnitude = abs(x);
  Value infinity = constant(std::numeric_limits<double>::infinity());
  return less(magnitude, infinity);
}
Value FloatMath::select(Value condition, Value ifTrue, Value ifFalse) const {
  auto [lhs, rhs] = coerce(ifTrue, ifFalse);
  return ArithBuilder(b, loc).select(condition, lhs, rhs);
}
Value FloatMath::logicalAnd(Value x, Value y) const {
  return ArithBuilder(b, loc)._and(x, y);
}

//===----------------------------------------------------------------------===//
// linalg.generic shapes
//===----------------------------------------------------------------------===//

/// An all-parallel generic over the shape of `outputs`; the body sees the
/// output elements only when `readOutputs`.
static SmallVector<Value>
buildParallelGeneric(OpBuilder &b, Location loc, FloatType computeType,
                     ValueRange inputs, ValueRange outputs, bool readOutputs,
                     ElementwiseBodyFn body, ArrayRef<AffineMap> inputMaps) {
  assert(!outputs.empty() && "an elementwise generic needs an output");
  assert((inputMaps.empty() || inputMaps.size() == inputs.size()) &&
         "one map per input");
  unsigned rank = cast<RankedTensorType>(outputs.front().getType()).getRank();
  AffineMap identity = b.getMultiDimIdentityMap(rank);
  SmallVector<AffineMap> maps(inputMaps.begin(), inputMaps.end());
  if (maps.empty())
    maps.assign(inputs.size(), identity);
  maps.append(outputs.size(), identity);
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::parallel);
  auto generic = linalg::GenericOp::create(
      b, loc, outputs.getTypes(), inputs, outputs, maps, iterators,
      [&](OpBuilder &nested, Location nestedLoc, ValueRange args) {
        FloatMath math(nested, nestedLoc, computeType);
        ValueRange outputArgs = args.drop_front(inputs.size());
        SmallVector<Value> ins, outs;
        for (Value arg : args.take_front(inputs.size()))
          ins.push_back(math.cast(arg));
        if (readOutputs)
          for (Value arg : outputArgs)
            outs.push_back(math.cast(arg));
        SmallVector<Value> results = body(math, ins, outs);
        assert(results.size() == outputs.size() && "one result per output");
        for (auto [result, arg] : llvm::zip(results, outputArgs))
          result = convertFloat(nested, nestedLoc, result, arg.getType());
        linalg::YieldOp::create(nested, nestedLoc, results);
      });
  return llvm::to_vector_of<Value>(generic.getResults());
}

SmallVector<Value> mlir::optim::buildElementwise(
    OpBuilder &b, Location loc, FloatType computeType, ValueRange inputs,
    ValueRange outputs, ElementwiseBodyFn body, ArrayRef<AffineMap> inputMaps) {
  return buildParallelGeneric(b, loc, computeType, inputs, outputs,
                              /*readOutputs=*/true, body, inputMaps);
}

Value mlir::optim::buildElementwiseMap(OpBuilder &b, Location loc,
                                       FloatType computeType, ValueRange inputs,
                                       Value shapeLike, ElementwiseMapFn body,
                                       ArrayRef<AffineMap> inputMaps) {
  Value init = buildEmptyLike(b, loc, shapeLike);
  return buildParallelGeneric(
             b, loc, computeType, inputs, init, /*readOutputs=*/false,
             [&](const FloatMath &math, ArrayRef<Value> elements,
                 ArrayRef<Value>) -> SmallVector<Value> {
               return {body(math, elements)};
             },
             inputMaps)
      .front();
}

SmallVector<Value> mlir::optim::buildReduction(OpBuilder &b, Location loc,
                                               ValueRange inputs,
                                               ValueRange inits,
                                               unsigned numKeptDims,
                                               ReductionBodyFn body) {
  unsigned rank = cast<RankedTensorType>(inputs.front().getType()).getRank();
  assert(numKeptDims <= rank && "cannot keep more dimensions than there are");
  SmallVector<AffineMap> maps(inputs.size(), b.getMultiDimIdentityMap(rank));
  SmallVector<AffineExpr> keptDims;
  for (unsigned dim = 0; dim < numKeptDims; ++dim)
    keptDims.push_back(b.getAffineDimExpr(dim));
  maps.append(inits.size(), AffineMap::get(rank, /*symbolCount=*/0, keptDims,
                                           b.getContext()));
  SmallVector<utils::IteratorType> iterators(numKeptDims,
                                             utils::IteratorType::parallel);
  iterators.append(rank - numKeptDims, utils::IteratorType::reduction);
  auto generic = linalg::GenericOp::create(
      b, loc, inits.getTypes(), inputs, inits, maps, iterators,
      [&](OpBuilder &nested, Location nestedLoc, ValueRange args) {
        SmallVector<Value> results =
            body(nested, nestedLoc, args.take_front(inputs.size()),
                 args.drop_front(inputs.size()));
        linalg::YieldOp::create(nested, nestedLoc, results);
      });
  return llvm::to_vector_of<Value>(generic.getResults());
}

SmallVector<Value> mlir::optim::buildSumsOfSquares(OpBuilder &b, Location loc,
                                                   FloatType computeType,
                                                   ValueRange inputs,
                                                   unsigned numTerms,
                                                   SquaredTermsFn terms) {
  // One accumulator each, so that bufferization gives each its own buffer.
  SmallVector<Value> inits;
  for (unsigned term = 0; term < numTerms; ++term)
    inits.push_back(
        buildFilledTensor(b, loc, {}, b.getFloatAttr(computeType, 0.0)));
  SmallVector<Value> sums = buildReduction(
      b, loc, inputs, inits, /*numKeptDims=*/0,
      [&](OpBuilder &nested, Location nestedLoc, ValueRange elements,
          ValueRange accumulators) {
        FloatMath math(nested, nestedLoc, computeType);
        SmallVector<Value> values;
        for (Value element : elements)
          values.push_back(math.cast(element));
        SmallVector<Value> results = terms(math, values);
        assert(results.size() == numTerms && "one term per accumulator");
        for (auto [result, accumulator] : llvm::zip(results, accumulators))
          result = math.add(accumulator, math.square(result));
        return results;
      });
  for (Value &sum : sums)
    sum = tensor::ExtractOp::create(b, loc, sum, ValueRange{});
  return sums;
}

Value mlir::optim::buildFilledTensor(OpBuilder &b, Location loc,
                                     ArrayRef<OpFoldResult> sizes,
                                     TypedAttr value) {
  Value empty = tensor::EmptyOp::create(b, loc, sizes, value.getType());
  Value scalar = arith::ConstantOp::create(b, loc, value);
  return linalg::FillOp::create(b, loc, ValueRange{scalar}, ValueRange{empty})
      .getResult(0);
}

Value mlir::optim::buildEmptyLike(OpBuilder &b, Location loc, Value like) {
  return tensor::EmptyOp::create(
      b, loc, tensor::getMixedSizes(b, loc, like),
      cast<RankedTensorType>(like.getType()).getElementType());
}

SmallVector<OpFoldResult>
mlir::optim::getMixedSizesWithLeading(OpBuilder &b, Location loc, Value tensor,
                                      OpFoldResult leading) {
  unsigned rank = cast<RankedTensorType>(tensor.getType()).getRank();
  SmallVector<OpFoldResult> sizes = {leading};
  for (unsigned dim = 1; dim < rank; ++dim)
    sizes.push_back(tensor::getMixedSize(b, loc, tensor, dim));
  return sizes;
}

/// Offsets, sizes and strides of row `row` of `tensor`.
static void getRowSlice(OpBuilder &b, Location loc, Value tensor, Value row,
                        SmallVectorImpl<OpFoldResult> &offsets,
                        SmallVectorImpl<OpFoldResult> &sizes,
                        SmallVectorImpl<OpFoldResult> &strides) {
  sizes = getMixedSizesWithLeading(b, loc, tensor, b.getIndexAttr(1));
  offsets.assign(sizes.size(), b.getIndexAttr(0));
  offsets.front() = row;
  strides.assign(sizes.size(), b.getIndexAttr(1));
}

Value mlir::optim::extractRow(OpBuilder &b, Location loc, Value tensor,
                              Value row) {
  SmallVector<OpFoldResult> offsets, sizes, strides;
  getRowSlice(b, loc, tensor, row, offsets, sizes, strides);
  return tensor::ExtractSliceOp::create(b, loc, tensor, offsets, sizes,
                                        strides);
}

Value mlir::optim::insertRow(OpBuilder &b, Location loc, Value rowTensor,
                             Value dest, Value row) {
  SmallVector<OpFoldResult> offsets, sizes, strides;
  getRowSlice(b, loc, dest, row, offsets, sizes, strides);
  return tensor::InsertSliceOp::create(b, loc, rowTensor, dest, offsets, sizes,
                                       strides);
}
