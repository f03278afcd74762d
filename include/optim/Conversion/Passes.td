//===- Passes.td - optim conversion passes -----------------*- tablegen -*-===//

#ifndef OPTIM_CONVERSION_PASSES_TD
#define OPTIM_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertOptimToLinalg : Pass<"convert-optim-to-linalg"> {
  let summary = "Lower optim compute ops to linalg on tensors";
  let description = [{
    Rewrites every compute op of the optim dialect into value-semantic
    `linalg.generic` ops (plus `arith`, `math`, `tensor` and `scf` ops):

    - an update op becomes one elementwise generic with `ins(grad)` and
      `outs(param, states...)` (destination-passing style: the body reads the
      current parameter and states from its outputs, so that bufferization
      updates them in place); step-dependent scalars (bias corrections, ASGD's
      `eta` and `mu`) are computed once before it. Lamb and LARS first reduce
      the norms they need in one reduction generic; the trust ratio is scalar
      code between the two;
    - `scale_grad`, `decay_weight` and the apply half of `centralize` become
      elementwise generics into `tensor.empty`, which upstream elementwise
      fusion (`--linalg-fuse-elementwise-ops`) merges into the update, so
      each parameter is read and written in one loop; centralization's row
      means are a reduction generic before it;
    - `global_norm` and `all_finite` are reductions; `learning_rate`
      evaluates its schedule; `broadcast_params` over one rank is the
      identity;
    - `unique` and `lazy_adam_update` are `scf.for` loops over the rows on
      tensors (`tensor.extract_slice` / `tensor.insert_slice`).

    f16, bf16 and other narrow floats are computed in f32 (extended on load,
    truncated on store); f32 and f64 natively, with the f32 scalar operands
    extended. `broadcast_params` across several ranks needs a distributed
    runtime that does not exist yet: the pass reports an error for it.
  }];
  let dependentDialects = [
    "::mlir::linalg::LinalgDialect", "::mlir::tensor::TensorDialect",
    "::mlir::arith::ArithDialect", "::mlir::math::MathDialect",
    "::mlir::scf::SCFDialect"
  ];
}

#endif // OPTIM_CONVERSION_PASSES_TD
