//===- Passes.h - optim conversion passes -----------------------*- C++ -*-===//

#ifndef OPTIM_CONVERSION_PASSES_H
#define OPTIM_CONVERSION_PASSES_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlow.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Pass/Pass.h"

namespace mlir {
class DialectRegistry;
class RewritePatternSet;
namespace optim {

#define GEN_PASS_DECL
#include "optim/Conversion/Passes.h.inc"

/// Patterns lowering optim compute ops to linalg/arith/math/tensor.
void populateOptimToLinalgConversionPatterns(RewritePatternSet &patterns);

/// Attaches the code of every learning-rate attribute (schedules, per-step
/// lists) as LearningRateBuilderAttrInterface models, when the optim
/// dialect loads. `convert-optim-to-linalg` needs them.
void registerLearningRateLoweringModels(DialectRegistry &registry);

/// The PTX version (e.g. 78 for 7.8) LLVM's NVPTX backend needs at least
/// for `chip` ("sm_90", "sm_90a"); std::nullopt if `chip` is not a chip
/// name this project accepts.
std::optional<unsigned> getMinimumPTXVersion(llvm::StringRef chip);
/// The PTX features to use for `chip` when none are given.
std::string getDefaultPTXFeatures(llvm::StringRef chip);

#define GEN_PASS_REGISTRATION
#include "optim/Conversion/Passes.h.inc"

} // namespace optim
} // namespace mlir

#endif // OPTIM_CONVERSION_PASSES_H
