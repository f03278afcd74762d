//===- Passes.td - loop-level passes of the step -----------*- tablegen -*-===//
//
// Passes over the upstream ops a step is lowered to (linalg, scf, vector):
// they touch no optim op. The dialect's own passes are in
// optim/Dialect/Optim/Transforms/Passes.td.
//
//===----------------------------------------------------------------------===//

#ifndef OPTIM_TRANSFORMS_PASSES_TD
#define OPTIM_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

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

def OptimPrefetchReads : Pass<"optim-prefetch-reads", "::mlir::func::FuncOp"> {
  let summary = "Software prefetch for the read-only vector loops of a step";
  let description = [{
    A vector loop that only reads memory (the partial sums of the global
    norm, the row sums of centralization, the norms of Lamb and LARS) is a
    single read stream per operand. On the CPUs this project is measured on,
    the hardware prefetcher keeps too few lines in flight for one read
    stream: a read-only pass runs at about 40 GB/s where the update's seven
    interleaved streams reach 57 GB/s. Prefetching `distance-bytes` ahead of
    each read restores about 52 GB/s (bench/RESULTS.md).

    For every `scf.for` marked `optim.vector_loop` whose body writes no
    memory, each `vector.transfer_read` or `vector.load` of a rank-1 memref
    indexed by the loop's induction variable gets a `memref.prefetch` of the
    element `distance-bytes` ahead, clamped to the memref's last element so
    that the address stays inside the buffer. Loops that write memory are
    left alone: their streams are already interleaved. A distance of 0
    disables the pass.
  }];
  let options = [
    Option<"distanceBytes", "distance-bytes", "int64_t", "4096",
           "How far ahead of each read to prefetch, in bytes (0: none; at "
           "most 1 MiB)">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::memref::MemRefDialect"
  ];
}

#endif // OPTIM_TRANSFORMS_PASSES_TD
