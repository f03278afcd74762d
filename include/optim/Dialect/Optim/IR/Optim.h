//===- Optim.h - the optim dialect ------------------------------*- C++ -*-===//
//
// Dialect, attributes and operations of the optim dialect.
//
//===----------------------------------------------------------------------===//

#ifndef OPTIM_DIALECT_OPTIM_IR_OPTIM_H
#define OPTIM_DIALECT_OPTIM_IR_OPTIM_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/DialectImplementation.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/RegionKindInterface.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "optim/Dialect/Optim/IR/Rules.h"

namespace mlir::optim::detail {
/// A float as users of the frameworks write it: `0.001`, `1e-3`, `1`.
FailureOr<double> parseF64(AsmParser &parser);
/// Whether the next token starts such a number.
bool startsWithNumber(AsmParser &parser);
FailureOr<APFloat> parseAPFloat(AsmParser &parser);
void printF64(AsmPrinter &printer, double value);
FailureOr<bool> parseBool(AsmParser &parser);
FailureOr<DenseF64ArrayAttr> parseF64Array(AsmParser &parser);
void printF64Array(AsmPrinter &printer, ArrayRef<double> values);
FailureOr<SmallVector<int64_t>> parseI64Array(AsmParser &parser);
} // namespace mlir::optim::detail

#include "optim/Dialect/Optim/IR/OptimOpsDialect.h.inc"

#include "optim/Dialect/Optim/IR/OptimAttrInterfaces.h.inc"

namespace mlir::optim::detail {
/// The verifier of UpdateOpInterface (OptimOps.cpp).
LogicalResult verifyUpdateOp(Operation *op);
} // namespace mlir::optim::detail

#include "optim/Dialect/Optim/IR/OptimInterfaces.h.inc"

#define GET_ATTRDEF_CLASSES
#include "optim/Dialect/Optim/IR/OptimAttrs.h.inc"

#define GET_OP_CLASSES
#include "optim/Dialect/Optim/IR/OptimOps.h.inc"

namespace mlir::optim {

/// Checks that `attr` is a valid learning rate: a float >= 0, a dense float
/// tensor of rank 0 or 1 with values >= 0, or a schedule/list attribute.
LogicalResult verifyLearningRate(function_ref<InFlightDiagnostic()> emitError,
                                 Attribute attr);

/// Parameters in the order of MindSpore's `parameters` property:
/// `order_params` when present, else declaration order.
SmallVector<ParamOp> getOrderedParams(OptimizerOp optimizer);

/// A parameter of a learning-rate schedule attribute.
enum class ScheduleParamKind { Float, Int, Bool };
struct ScheduleParamSpec {
  StringRef name;
  ScheduleParamKind kind;
};
/// A schedule attribute (`#optim.<name><param = value, ...>`) and its
/// parameters in order; generated from OptimAttrs.td.
struct ScheduleSpec {
  StringRef name;
  ArrayRef<ScheduleParamSpec> params;
};
ArrayRef<ScheduleSpec> getScheduleSpecs();

/// Bounds on what an optimizer may declare (docs/Limits.md).
/// Elements of one parameter (and of each of its states): 2^48, the bytes
/// an x86-64 or AArch64 process addresses, which keeps every element and
/// byte offset of the step (up to 8 bytes an element) far from int64
/// overflow.
constexpr int64_t kMaxParamElements = int64_t(1) << 48;
/// Elements of all parameters of an optimizer together.
constexpr int64_t kMaxTotalElements = int64_t(1) << 48;
/// Values of a per-step learning-rate list (2^20: a million steps).
constexpr int64_t kMaxLearningRateListLength = int64_t(1) << 20;
/// Elements of one chunk (the `chunk-size` options).
constexpr int64_t kMaxChunkSize = int64_t(1) << 30;
/// Bytes of one hardware vector (`vector-bytes`): AVX-512 has 64, SVE at
/// most 256.
constexpr int64_t kMaxVectorBytes = 256;
/// Vectors per main-loop iteration (`unroll`).
constexpr int64_t kMaxUnroll = 16;
/// Threads of a GPU block (`block-size`), CUDA's limit.
constexpr int64_t kMaxBlockSize = 1024;
/// OpenMP threads (`num-threads`).
constexpr int64_t kMaxNumThreads = 1024;
/// Rows of the chunk table of one step function (optim-schedule-step).
constexpr int64_t kMaxChunks = int64_t(1) << 20;

/// The element count of a shape: std::nullopt when a dimension is dynamic
/// or negative, or the product overflows int64.
std::optional<int64_t> getCheckedNumElements(ArrayRef<int64_t> shape);

/// Number of values of a per-step learning rate (a list or a rank-1 tensor);
/// std::nullopt for constants and schedules.
std::optional<int64_t> getLearningRateListLength(Attribute attr);

} // namespace mlir::optim

#endif // OPTIM_DIALECT_OPTIM_IR_OPTIM_H
