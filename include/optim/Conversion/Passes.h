//===- Passes.h - optim conversion passes -----------------------*- C++ -*-===//

#ifndef OPTIM_CONVERSION_PASSES_H
#define OPTIM_CONVERSION_PASSES_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Pass/Pass.h"

namespace mlir {
class RewritePatternSet;
namespace optim {

#define GEN_PASS_DECL
#include "optim/Conversion/Passes.h.inc"

/// Patterns lowering optim compute ops to linalg/arith/math/tensor.
void populateOptimToLinalgConversionPatterns(RewritePatternSet &patterns);

#define GEN_PASS_REGISTRATION
#include "optim/Conversion/Passes.h.inc"

} // namespace optim
} // namespace mlir

#endif // OPTIM_CONVERSION_PASSES_H
