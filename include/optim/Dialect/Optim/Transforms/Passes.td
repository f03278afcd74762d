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

def OptimFuseElementwise : Pass<"optim-fuse-elementwise", "::mlir::func::FuncOp"> {
  let summary = "Fuse elementwise producers into every consumer";
  let description = [{
    Upstream's `linalg-fuse-elementwise-ops` fuses a producer only into its
    single use. In an optimizer step, the cheap elementwise producers
    (weight decay, unscaling, the apply half of centralization) often feed
    both a reduction (centralization's row means, Lamb/LARS norms) and the
    update; this pass fuses them into every consumer, recomputing a few
    flops instead of writing and re-reading a temporary tensor, so each
    parameter costs one reduction pass plus one fused update loop.
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect"];
}

def OptimTileAndVectorize : Pass<"optim-tile-and-vectorize", "::mlir::func::FuncOp"> {
  let summary = "Chunk, tile, peel and vectorize elementwise linalg ops";
  let description = [{
    For every elementwise `linalg.generic` on static tensors (the fused
    per-parameter loops of a step):

    1. collapses it to one dimension when all its operands are read and
       written in the same order (contiguous memory);
    2. splits the outermost dimension into chunks of about `chunk-size`
       elements processed by an `scf.forall` (threads, later OpenMP);
    3. tiles the innermost dimension by `vector-bytes * unroll` bytes worth
       of elements with `scf.for`, peels the remainder into its own loop,
       and vectorizes the main loop's body.

    A flat range of run-time length (a shared update function) gets the
    threaded version only when it is longer than `chunk-size`, chosen at run
    time; a function marked `optim.sequential` (called from the step's
    parallel loop over chunks) gets no threads at all. A chunk of rows of
    run-time size whose other operands are broadcast along the rows (a
    row's sum) is processed a row at a time, vectorized along the row.

    Reductions over the innermost dimension (row sums, the partial norms of
    a chunk) are split into `vector-bytes * unroll` bytes of partial
    accumulators with upstream's partial-reduction tiling, the main loop is
    peeled and vectorized, and the accumulators are carried through it as
    vectors (upstream's loop subset hoisting), so that the sums run at
    vector speed without heap memory.

    With `align-to-vector`, the vector loop of a flat range written into a
    known buffer starts on a `vector-bytes` boundary of that buffer: the
    elements before the first boundary get a scalar loop of their own.
    NumPy's large buffers start 16 bytes into a cache line; unaligned
    64-byte vectors would split every access across two lines (15 % slower
    for AdamW at one thread, measured).

    Upstream's masked vectorization of dynamic shapes emits masked loads
    and stores on every iteration, which is several times slower on AVX2
    hardware; peeling keeps the main loop unmasked, which is why this pass
    exists rather than using the transform dialect's defaults.
  }];
  let options = [
    Option<"chunkSize", "chunk-size", "int64_t", "65536",
           "Elements per parallel chunk">,
    Option<"vectorBytes", "vector-bytes", "int64_t", "32",
           "Bytes of one hardware vector (32 for AVX2, 64 for AVX-512)">,
    Option<"unroll", "unroll", "int64_t", "2",
           "Vectors processed per iteration of the main loop">,
    Option<"alignToVector", "align-to-vector", "bool", "true",
           "Peel the first elements of a flat range of run-time length so "
           "that its vector loop starts on a vector boundary of the "
           "written buffer (NumPy's large buffers start 16 bytes into a "
           "cache line: unaligned 64-byte vectors split every access)">
  ];
  let dependentDialects = [
    "::mlir::scf::SCFDialect", "::mlir::vector::VectorDialect",
    "::mlir::tensor::TensorDialect", "::mlir::affine::AffineDialect",
    "::mlir::linalg::LinalgDialect"
  ];
}

#endif // OPTIM_DIALECT_OPTIM_TRANSFORMS_PASSES_TD
