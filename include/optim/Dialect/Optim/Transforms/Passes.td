//===- Passes.td - optim dialect passes --------------------*- tablegen -*-===//

#ifndef OPTIM_DIALECT_OPTIM_TRANSFORMS_PASSES_TD
#define OPTIM_DIALECT_OPTIM_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def OptimResolveOptimizer : Pass<"optim-resolve-optimizer", "::mlir::ModuleOp"> {
  let summary = "Turn declarative optimizers into compute-level step functions";
  let description = [{
    For every `optim.optimizer @name`, emits

    * `func.func @name_step(<param, grad, states...> per parameter,
       %hyper: memref<Nxf32>, %step: i64)`: one step of the optimizer on
      the caller's buffers, in MindSpore's order: `decay_weight` ->
      `centralize` -> `scale_grad` -> learning rate at `step` -> the
      rule's update with `t = step + 1`;
    * `func.func @name_lr(%hyper: memref<Nxf32>, %step: i64, %out: memref<Gxf32>)`:
      the learning rate of every group at `step`.

    Group defaults and inheritance, the default weight-decay filter (names
    holding `beta` or `gamma` get none when parameters are ungrouped),
    `order_params` and per-group learning rates are resolved here.
    Hyper-parameter values (learning rates, weight decays, the loss scale and
    the rule's hyper-parameters) are loaded from `%hyper`, whose layout
    `StepABI` describes, so changing them never recompiles; with
    `constant-hyper-params` they are emitted as constants instead (an
    ahead-of-time build with fixed values), which canonicalization may fold.
    The optimizer op is removed.
  }];
  let options = [
    Option<"constantHyperParams", "constant-hyper-params", "bool", "false",
           "Emit hyper-parameters as constants instead of table loads">
  ];
  let dependentDialects = [
    "::mlir::func::FuncDialect", "::mlir::memref::MemRefDialect",
    "::mlir::bufferization::BufferizationDialect",
    "::mlir::arith::ArithDialect", "::mlir::tensor::TensorDialect"
  ];
}

#endif // OPTIM_DIALECT_OPTIM_TRANSFORMS_PASSES_TD
