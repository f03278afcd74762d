//===- Pipelines.h - named optim-mlir pipelines -----------------*- C++ -*-===//

#ifndef OPTIM_PIPELINES_PIPELINES_H
#define OPTIM_PIPELINES_PIPELINES_H

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"

#include <optional>
#include <string>

namespace mlir::optim {

struct StepPipelineOptions : public PassPipelineOptions<StepPipelineOptions> {
  PassOptions::Option<bool> constantHyperParams{
      *this, "constant-hyper-params",
      llvm::cl::desc("Compile hyper-parameters in as constants (AOT)"),
      llvm::cl::init(false)};
  PassOptions::Option<bool> shareUpdateFunctions{
      *this, "share-update-functions",
      llvm::cl::desc("Buffer tables and one update function per class of "
                     "parameters; off, each buffer is an argument"),
      llvm::cl::init(true)};
  PassOptions::Option<int64_t> chunkSize{
      *this, "chunk-size", llvm::cl::desc("Elements per parallel chunk"),
      llvm::cl::init(65536)};
};

/// Declarative optimizers -> step functions at the compute level:
/// optim-resolve-groups, optim-build-step-boundary, optim-schedule-step.
void buildOptimStepPipeline(OpPassManager &pm,
                            const StepPipelineOptions &options);

struct CPUPipelineOptions : public PassPipelineOptions<CPUPipelineOptions> {
  PassOptions::Option<bool> constantHyperParams{
      *this, "constant-hyper-params",
      llvm::cl::desc("Compile hyper-parameters in as constants (AOT)"),
      llvm::cl::init(false)};
  PassOptions::Option<bool> shareUpdateFunctions{
      *this, "share-update-functions",
      llvm::cl::desc("One update function per class of parameters (code "
                     "size grows with classes, not parameters); off, "
                     "constant hyper-parameters fold into each update"),
      llvm::cl::init(true)};
  PassOptions::Option<int64_t> chunkSize{
      *this, "chunk-size", llvm::cl::desc("Elements per parallel chunk"),
      llvm::cl::init(65536)};
  PassOptions::Option<int64_t> vectorBytes{
      *this, "vector-bytes",
      llvm::cl::desc("Bytes of one hardware vector (32: AVX2, 64: AVX-512)"),
      llvm::cl::init(32)};
  PassOptions::Option<int64_t> unroll{
      *this, "unroll", llvm::cl::desc("Vectors per main-loop iteration"),
      llvm::cl::init(2)};
  PassOptions::Option<unsigned> numThreads{
      *this, "num-threads",
      llvm::cl::desc("OpenMP threads (0: the OpenMP runtime's default)"),
      llvm::cl::init(0)};
  PassOptions::Option<int64_t> prefetchBytes{
      *this, "prefetch-bytes",
      llvm::cl::desc("Software prefetch distance of the read-only vector "
                     "loops (reductions), in bytes; 0: none"),
      llvm::cl::init(4096)};
};

struct GPUPipelineOptions : public PassPipelineOptions<GPUPipelineOptions> {
  PassOptions::Option<std::string> chip{
      *this, "chip",
      llvm::cl::desc("NVIDIA chip, e.g. sm_80 or sm_90 (required)"),
      llvm::cl::init("")};
  PassOptions::Option<std::string> features{
      *this, "features",
      llvm::cl::desc("PTX features, e.g. +ptx80 (default: chosen from the "
                     "chip)"),
      llvm::cl::init("")};
  PassOptions::Option<std::string> format{
      *this, "format",
      llvm::cl::desc("Output form of the kernels: isa (PTX) or bin "
                     "(cubin, assembled by the toolkit's ptxas)"),
      llvm::cl::init("isa")};
  PassOptions::Option<std::string> toolkit{
      *this, "toolkit",
      llvm::cl::desc("CUDA toolkit (libdevice, ptxas); default $CUDA_HOME, "
                     "else /usr/local/cuda"),
      llvm::cl::init("")};
  PassOptions::Option<bool> constantHyperParams{
      *this, "constant-hyper-params",
      llvm::cl::desc("Compile hyper-parameters in as constants (AOT)"),
      llvm::cl::init(false)};
  PassOptions::Option<int64_t> chunkSize{
      *this, "chunk-size",
      llvm::cl::desc("Elements per chunk (one block each)"),
      llvm::cl::init(16384)};
  PassOptions::Option<int64_t> blockSize{
      *this, "block-size", llvm::cl::desc("Threads per block"),
      llvm::cl::init(256)};
  PassOptions::Option<bool> lowerHost{
      *this, "lower-host",
      llvm::cl::desc("Lower the host code (the launches) to the LLVM "
                     "dialect; off, it stays func/memref code whose "
                     "gpu.launch_func ops a runtime reads as a launch plan"),
      llvm::cl::init(true)};
};

/// optim (declarative level) -> one kernel per phase of the multi-tensor
/// step in a GPU module serialized to PTX or cubin, and the host code that
/// launches them, in the LLVM dialect.
void buildOptimGPUPipeline(OpPassManager &pm,
                           const GPUPipelineOptions &options);

/// optim (declarative or compute level) -> LLVM dialect for the host CPU:
/// resolve, lower to linalg, fuse, chunk/tile/peel/vectorize, bufferize in
/// place, OpenMP, LLVM.
/// The most OpenMP threads a compiled step may ask for (docs/Limits.md):
/// the OpenMP runtime fails to start many more threads than cores.
constexpr unsigned kMaxPipelineThreads = 1024;

/// What is wrong with `options` that no pass of the pipeline checks (the
/// passes check their own options), or nothing.
std::optional<std::string>
checkCPUPipelineOptions(const CPUPipelineOptions &options);

void buildOptimCPUPipeline(OpPassManager &pm,
                           const CPUPipelineOptions &options);

/// Registers `--optim-lower-to-cpu` and `--optim-lower-to-gpu`.
void registerOptimPipelines();

/// Registers every dialect, interface model and LLVM IR translation that
/// the optim-mlir pipelines use.
void registerOptimDialects(DialectRegistry &registry);

} // namespace mlir::optim

#endif // OPTIM_PIPELINES_PIPELINES_H
