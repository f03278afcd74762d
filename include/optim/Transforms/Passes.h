//===- Passes.h - loop-level passes of the step -----------------*- C++ -*-===//
//
// Passes over the upstream ops a step is lowered to; they touch no optim op.
//
//===----------------------------------------------------------------------===//

#ifndef OPTIM_TRANSFORMS_PASSES_H
#define OPTIM_TRANSFORMS_PASSES_H

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Pass/Pass.h"

namespace mlir::optim {

#define GEN_PASS_DECL
#include "optim/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "optim/Transforms/Passes.h.inc"

} // namespace mlir::optim

#endif // OPTIM_TRANSFORMS_PASSES_H
