//===- Passes.td - optim conversion passes -----------------*- tablegen -*-===//

#ifndef OPTIM_CONVERSION_PASSES_TD
#define OPTIM_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertOptimToLinalg : Pass<"convert-optim-to-linalg"> {
  let summary = "Lower optim compute ops to linalg on tensors";
  let description = [{
    Rewrites every compute op of the optim dialect into value-semantic
    `linalg.generic` ops (plus `arith`, `math` and `tensor` ops for the
    scalars): an update op becomes one elementwise generic whose outputs are
    the parameter and state tensors (destination-passing style, so that
    bufferization updates them in place), preceded by a reduction generic
    where the rule needs norms (Lamb, LARS). `scale_grad`, `decay_weight` and
    the apply half of `centralize` become elementwise generics that upstream
    elementwise fusion merges into the update, so each parameter is read and
    written in one loop.
  }];
  let dependentDialects = [
    "::mlir::linalg::LinalgDialect", "::mlir::tensor::TensorDialect",
    "::mlir::arith::ArithDialect", "::mlir::math::MathDialect",
    "::mlir::scf::SCFDialect"
  ];
}

#endif // OPTIM_CONVERSION_PASSES_TD
