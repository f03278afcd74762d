//===- Passes.td - optim dialect passes --------------------*- tablegen -*-===//

#ifndef OPTIM_DIALECT_OPTIM_TRANSFORMS_PASSES_TD
#define OPTIM_DIALECT_OPTIM_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def OptimResolveGroups : Pass<"optim-resolve-groups", "::mlir::ModuleOp"> {
  let summary = "Resolve an optimizer's groups, defaults and weight-decay "
                "filter into its IR";
  let description = [{
    Writes into every `optim.optimizer` what MindSpore's `Optimizer`
    constructor resolves, so that later passes and the runtime read it
    instead of deciding it again:

    * an ungrouped optimizer becomes one `optim.group` holding its
      parameters;
    * every group states its `learning_rate` and `weight_decay` (omitted
      values are the optimizer's);
    * every parameter states `decay`: ungrouped, MindSpore's default filter
      (names holding `beta` or `gamma` get none) and only with a positive
      weight decay; grouped, every parameter of the group (a sparse one only
      where the group's weight decay is positive). A `decay` already written
      in the input is kept.

    `order_params` is kept: the step's order. The result is the resolved
    form (`OptimizerOp::isResolved`), which `optim-build-step-boundary`
    requires; running the pass on it changes nothing.

    ```mlir
    optim.optimizer @opt rule #optim.rule<sgd> learning_rate 1.0e-01 weight_decay 1.0e-02 {
      optim.param "w" : tensor<8xf32>
      optim.param "norm.gamma" : tensor<8xf32>
    }
    // becomes
    optim.optimizer @opt rule #optim.rule<sgd> learning_rate 1.0e-01 weight_decay 1.0e-02 {
      optim.group learning_rate 1.0e-01 weight_decay 1.0e-02 {
        optim.param "w" : tensor<8xf32> decay true
        optim.param "norm.gamma" : tensor<8xf32> decay false
      }
    }
    ```
  }];
}

def OptimBuildStepBoundary
    : Pass<"optim-build-step-boundary", "::mlir::ModuleOp"> {
  let summary = "Build the memref boundary of each resolved optimizer's step";
  let description = [{
    For every resolved `optim.optimizer @name` (see `optim-resolve-groups`),
    emits

    * `func.func @name_step(<buffers>, %hyper: memref<Nxf64>, %step: i64)`:
      its arguments are those of `StepABI`: one buffer table per element
      type (`memref<? x memref<? x T>>`), or with
      `share-update-functions=0` or sparse parameters each parameter's
      buffers in turn. Its body reads the scalars (loss scale, each group's
      learning rate at `%step`, weight decays, the rule's hyper-parameters,
      the update count `step + 1`) once, and holds one
      `optim.multi_tensor_update` per class of parameters (one per parameter
      in the per-buffer form);
    * `func.func @name_lr(%hyper: memref<Nxf64>, %step: i64, %out: memref<Gxf64>)`:
      the learning rate of every group at `step`.

    Hyper-parameter values are loaded from `%hyper`, whose layout `StepABI`
    describes, so changing them never recompiles; with
    `constant-hyper-params` they are constants (an ahead-of-time build with
    fixed values), which canonicalization may fold. The optimizer op is
    removed. A class is the parameters that share their update code
    (element type, centralization, weight decay before unscaling) and their
    scalars (group, decay).
  }];
  let options = [
    Option<"constantHyperParams", "constant-hyper-params", "bool", "false",
           "Emit hyper-parameters as constants instead of table loads">,
    Option<"shareUpdateFunctions", "share-update-functions", "bool", "true",
           "Take the buffers through buffer tables, so that the step's code "
           "does not depend on the number or sizes of the parameters; off, "
           "each buffer is an argument of its static type">
  ];
  let dependentDialects = [
    "::mlir::func::FuncDialect", "::mlir::memref::MemRefDialect",
    "::mlir::arith::ArithDialect"
  ];
}

def OptimScheduleStep : Pass<"optim-schedule-step", "::mlir::ModuleOp"> {
  let summary = "Schedule the multi-tensor updates of each step: chunk "
                "tables, phases, shared update functions";
  let description = [{
    Replaces the `optim.multi_tensor_update` ops of every function by the
    code that runs them.

    In the per-buffer form, each parameter's update is emitted in place, on
    its static types, in MindSpore's order: `decay_weight` -> `centralize`
    -> `scale_grad` -> [`unique`] -> the rule's update, written back to the
    caller's buffers. A sparse parameter's update goes into a private
    `@name_sparse_update_<k>` function instead, which the step calls with
    the buffers cast to a run-time row count and the scalars: sparse
    parameters of one class (same code, same row length) share one.

    With buffer tables, the step becomes a multi-tensor step whose code does
    not depend on any tensor's size. Classes that share their code share one
    private `@name_update_<k>` function over a chunk of any length (a flat
    `memref<?xT>`, or for centralized parameters a `memref<?x?xT>` of whole
    rows, cols being the product of the other dimensions), and classes that
    need a reduction (centralization's row sums, Lamb/LARS trust-ratio
    norms) also a `@name_reduce_<k>` function (`name` is the step
    function's, without `_step`). Every parameter is cut into chunks of at
    most `chunk-size` elements listed in one constant chunk table
    (`@name_chunks`: class, position (the parameter's first entry in its
    buffer table), auxiliary position (its first entry in the f32 table
    with mixed precision), offset, size, cols, row slot, partial slot,
    first partial, partial count, slice rows, slice cols), and the step
    runs in phases, one parallel loop each:

    1. reduction (only when some class needs it): the reduce function of
       each chunk of a reduction class writes the sums of its rows and its
       partial squared norms into a scratch table (`@name_scratch_f32`,
       `@name_scratch_f64`: module globals, nothing is allocated per step);
    2. update: every chunk calls its class's update function; a chunk of a
       reduction class passes its rows' sums and the sums of its tensor's
       partial norms, added up in chunk order.

    With an `optim.gradient_control` (global-norm clipping, dynamic loss
    scaling), two phases come first: every chunk's squared gradient norm
    (`@name_grad_norm_<k>`, in f64, into the f64 scratch table), then
    `@name_combine` on one thread (found-inf flag, global norm, clip
    factor, into the status buffer). The classes' phases then scale their
    loss-scale and decay scalars by the clip factor and, with dynamic
    scaling, skip every chunk when an inf was found;
    `@name_update_loss_scale` (one thread) ends the step.

    IR size and compile time depend on the number of classes only. The
    phases are also the kernel launches of a GPU lowering, and the
    mechanism a global reduction (global-norm clipping, the all-finite
    check) uses: a reduction phase writing partial sums, read by the next.
    The scratch table makes one step of a compiled module at a time safe
    to run, not two concurrently.
  }];
  let options = [
    Option<"chunkSize", "chunk-size", "int64_t", "65536",
           "Elements per chunk of the step's parallel loop over parameters">
  ];
  let dependentDialects = [
    "::mlir::func::FuncDialect", "::mlir::memref::MemRefDialect",
    "::mlir::bufferization::BufferizationDialect",
    "::mlir::arith::ArithDialect", "::mlir::tensor::TensorDialect",
    "::mlir::scf::SCFDialect", "::mlir::math::MathDialect"
  ];
}

#endif // OPTIM_DIALECT_OPTIM_TRANSFORMS_PASSES_TD
