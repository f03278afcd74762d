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

    With `share-update-functions` (the default), the step is a multi-tensor
    step whose code does not depend on any tensor's size. Parameters fall
    into classes (update code, group, decay); each class has one private
    `@name_update_<k>` function over a chunk of any length (a flat
    `memref<?xT>`, or for centralized parameters a `memref<?x?xT>` of whole
    rows, cols being the product of the other dimensions), and classes that
    need a reduction (centralization's row sums, Lamb/LARS trust-ratio
    norms) also a `@name_reduce_<k>` function. The buffers arrive through
    one table per element type. Every parameter is cut into chunks of at
    most `chunk-size` elements listed in one constant chunk table
    (`@name_chunks`: class, position, offset, size, cols, row slot, partial
    slot, first partial, partial count), and the step runs in phases, one
    parallel loop each:

    1. reduction (only when some class needs it): the reduce function of
       each chunk of a reduction class writes the sums of its rows and its
       partial squared norms into a scratch table (`@name_scratch_f32`,
       `@name_scratch_f64`: module globals, nothing is allocated per step);
    2. update: every chunk calls its class's update function; a chunk of a
       reduction class passes its rows' sums and the sums of its tensor's
       partial norms, added up in chunk order.

    IR size and compile time depend on the number of classes only. The
    phases are also the kernel launches of a GPU lowering, and the
    mechanism a global reduction (global-norm clipping, the all-finite
    check) uses: a reduction phase writing partial sums, read by the next.
    The scratch table makes one step of a compiled module at a time safe
    to run, not two concurrently.
  }];
  let options = [
    Option<"constantHyperParams", "constant-hyper-params", "bool", "false",
           "Emit hyper-parameters as constants instead of table loads">,
    Option<"chunkSize", "chunk-size", "int64_t", "65536",
           "Elements per chunk of the step's parallel loop over parameters">,
    Option<"shareUpdateFunctions", "share-update-functions", "bool", "true",
           "Emit one update function per class of parameters (element "
           "type, decay, centralization) over flat buffers of any length, "
           "called once per parameter, so that code size and compile time "
           "grow with the number of classes, not of parameters">
  ];
  let dependentDialects = [
    "::mlir::func::FuncDialect", "::mlir::memref::MemRefDialect",
    "::mlir::bufferization::BufferizationDialect",
    "::mlir::arith::ArithDialect", "::mlir::tensor::TensorDialect",
    "::mlir::scf::SCFDialect"
  ];
}

#endif // OPTIM_DIALECT_OPTIM_TRANSFORMS_PASSES_TD
