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
    "::mlir::scf::SCFDialect",
    // Formulas of rules are parsed as functions.
    "::mlir::func::FuncDialect"
  ];
}

def OptimDistributeToThreads
    : Pass<"optim-distribute-to-threads", "::mlir::func::FuncOp"> {
  let summary = "Run a chunk function on all the threads of a GPU block";
  let description = [{
    The shared functions of a step (`optim.sequential`: called once per
    chunk) were tiled by `optim-tile-and-vectorize` into a main loop over
    whole vector tiles (`optim.vector_loop`) and a loop over the last
    partial tile (`optim.remainder_loop`). On a GPU one block processes a
    chunk: this pass makes every such function run on all of its threads.

    - A main loop becomes a block-stride loop: thread `t` of `n` takes tiles
      `t, t + n, t + 2n, ...`, so a warp reads consecutive tiles (coalesced
      loads of `vector-bytes`, 128-bit for 16-byte tiles), as aligned
      vector loads and stores of the global address space (the step's
      buffers are device memory; the runtime requires 16-byte alignment).
    - The last partial tile runs on thread 0 (fewer elements than a tile).
    - A vector reduction (`vector.reduction <add>`: row sums, squared norms)
      becomes the thread's partial sum, then a block-wide tree reduction
      (`gpu.all_reduce add`), then the accumulator is added: every thread
      holds the total, and writes of it are uniform.

    Code outside those loops runs on every thread with the same values
    (uniform), which is what the functions of a step contain: scalar set-up,
    fills, row loops.
  }];
  let dependentDialects = ["::mlir::gpu::GPUDialect"];
}

def OptimMapStepToGPU : Pass<"optim-map-step-to-gpu", "::mlir::ModuleOp"> {
  let summary = "Turn each phase of a multi-tensor step into a GPU launch";
  let description = [{
    Every phase of a `@<name>_step` function (one `scf.parallel` over the
    chunk table, see `optim-schedule-step`) becomes one `gpu.launch`
    with one block per chunk (`block-size` threads each), the loop index
    being the block index:

    - the scalars the phase uses (hyper-parameter loads from the table,
      learning-rate schedules, products) are recomputed inside the launch
      from the step's arguments, so the hyper-parameter table stays an
      operand in device memory rather than values frozen at launch;
    - the chunk table and scratch tables (`memref.get_global`) move inside,
      so that kernel outlining places them in the GPU module (device
      memory);
    - the shared functions the phase calls are inlined into it.

    A scalar store at the top level of the step (the increment of the
    step counter, `optim-step-counter-to-memory`) becomes a launch of one
    thread, ordered after the phases before it.

    `gpu-kernel-outlining` then gives one kernel per phase, whatever the
    number of tensors and classes.
  }];
  let options = [
    Option<"blockSize", "block-size", "int64_t", "256",
           "Threads per block (one block per chunk)">
  ];
  let dependentDialects = ["::mlir::gpu::GPUDialect"];
}

def OptimStepCounterToMemory
    : Pass<"optim-step-counter-to-memory", "::mlir::ModuleOp"> {
  let summary = "Keep the global step in memory, incremented by the step";
  let description = [{
    A step function (`@<name>_step`) takes the global step as its last
    argument, an `i64` passed by value (StepABI.h). This pass turns that
    argument into a one-element buffer, `memref<1xi64>`, which the step
    reads where it starts and increments (stores the value plus one) where
    it returns.

    On a GPU the counter then lives in device memory: the launches of a
    step read it, and a last single-thread launch increments it
    (`optim-map-step-to-gpu`). A step captured in a CUDA graph replays
    with the right count, and the host never passes a value that a
    replay would freeze.
  }];
  let dependentDialects = [
    "::mlir::memref::MemRefDialect", "::mlir::arith::ArithDialect"
  ];
}

def OptimLowerBlockReductions
    : Pass<"optim-lower-block-reductions", "::mlir::gpu::GPUModuleOp"> {
  let summary = "Lower block-wide reductions to warp shuffles";
  let description = [{
    Applies upstream's GPU rewrite patterns to the kernels of a GPU module:
    `gpu.all_reduce` becomes a warp-level shuffle tree plus one exchange
    through workgroup memory (a tree reduction over the block), which the
    NVVM lowering then turns into `shfl.sync` and `bar.sync`. Structured
    control flow must be lowered first (the rewrite splits blocks).
  }];
  let dependentDialects = [
    "::mlir::gpu::GPUDialect", "::mlir::cf::ControlFlowDialect",
    "::mlir::memref::MemRefDialect", "::mlir::arith::ArithDialect"
  ];
}

def OptimCorrectlyRoundedSqrt
    : Pass<"optim-correctly-rounded-sqrt", "::mlir::gpu::GPUModuleOp"> {
  let summary = "Take square roots in kernels as LLVM's correctly rounded sqrt";
  let description = [{
    The NVVM conversion turns `math.sqrt` into calls of libdevice's
    `__nv_sqrtf` / `__nv_sqrt`, whose precise form is selected by
    `__CUDA_PREC_SQRT`, a reflection LLVM's NVVMReflect does not define: the
    kernels would get `sqrt.approx.f32`, and their results would differ from
    the CPU step's (correctly rounded) in the last place. This pass, run on
    the kernels' GPU module after `convert-gpu-to-nvvm`, replaces those
    calls with LLVM's `llvm.intr.sqrt`, which the NVPTX backend emits as
    the correctly rounded `sqrt.rn`.
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

def OptimVerifyNVPTXTarget
    : Pass<"optim-verify-nvptx-target", "::mlir::ModuleOp"> {
  let summary = "Reject NVPTX targets that would abort code generation";
  let description = [{
    Checks the chip and PTX features of `optim-lower-to-gpu` before they
    reach LLVM's NVPTX backend or `ptxas`, where a bad pair aborts the
    process or fails late: the chip must be `sm_<N>` (`sm_<N>a` for
    architecture-specific features) with N >= 50; a PTX version, when
    given (`+ptx<NN>`), must be at least the one the chip needs (e.g. 7.8
    for sm_90); a cubin needs a chip that CUDA 13's `ptxas` assembles
    (sm_75 or later). On failure the pass reports what is wrong and stops
    the pipeline.
  }];
  let options = [
    Option<"chip", "chip", "std::string", "\"\"", "NVIDIA chip, e.g. sm_90">,
    Option<"features", "features", "std::string", "\"\"",
           "PTX features, e.g. +ptx80 (empty: chosen from the chip)">,
    Option<"format", "format", "std::string", "\"isa\"",
           "Output form: isa (PTX) or bin (cubin)">
  ];
}

def OptimMergeKernelModules
    : Pass<"optim-merge-kernel-modules", "::mlir::ModuleOp"> {
  let summary = "Put the kernels of a step into one GPU module";
  let description = [{
    Kernel outlining gives every launch its own `gpu.module`. This pass
    moves all kernels into the first one (renamed after their launch's
    phase: `<name>_step_kernel`, `<name>_step_kernel_0`, ...), keeping one
    copy of the globals they share (the chunk table, the scratch tables),
    and updates the launches: one PTX or cubin image holds the whole step,
    loaded once, with one scratch table.
  }];
}

#endif // OPTIM_CONVERSION_PASSES_TD
