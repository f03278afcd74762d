//===- GPUOptimizer.h - run a step's kernels on a CUDA GPU ------*- C++ -*-===//
//
// Compile an optimizer for an NVIDIA GPU once, then launch its kernels on
// the caller's device buffers (docs/GPU.md, "GPU step runtime").
//
// Compiling needs no driver: it lowers the optimizer with
// `--optim-lower-to-gpu` (`lower-host=0`), keeps the one PTX image and reads
// the launch plan from the host step function. The CUDA driver
// (CUDADriver.h) is loaded at the first step or at load().
//
// Every operation returns llvm::Error / llvm::Expected; nothing aborts.
//
//===----------------------------------------------------------------------===//

#ifndef OPTIM_RUNTIME_GPUOPTIMIZER_H
#define OPTIM_RUNTIME_GPUOPTIMIZER_H

#include "optim/Runtime/Runtime.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace optim::runtime {

struct GPUCompileOptions {
  /// The NVIDIA chip, e.g. "sm_90". Empty: the compute capability of CUDA
  /// device 0 (the driver must then be available).
  std::string chip;
  /// More options of the `optim-lower-to-gpu` pipeline, e.g.
  /// "chunk-size=8192 block-size=128". `lower-host` is always 0.
  std::string pipelineOptions;
};

/// One kernel launch of a step, in launch order.
struct GPUKernelLaunch {
  /// The kernel's name (an `.entry` of the image).
  std::string name;
  unsigned grid[3] = {1, 1, 1};
  unsigned block[3] = {1, 1, 1};
  /// For each kernel argument, the index of the step-function argument it
  /// is: buffer tables first, then the hyper-parameter table, then the
  /// global step (StepABI.h).
  std::vector<unsigned> arguments;
  /// Kernel parameters once the arguments are expanded as NVVM does: 3 + 2
  /// * rank per memref (allocated and aligned pointers, offset, sizes,
  /// strides), 1 per integer.
  unsigned numParams = 0;
};

/// An optimizer whose step runs as CUDA kernels on device buffers.
///
/// One step at a time per optimizer: step() keeps the host copies of the
/// pointer tables and hyper-parameters that its asynchronous copies read,
/// and the device tables that its kernels read, and overwrites them at the
/// next step. Consecutive steps must therefore be ordered on the device,
/// e.g. issued on one stream.
class GPUOptimizer {
public:
  /// Parses optim-dialect source holding one `optim.optimizer` (dense
  /// parameters only) and compiles its kernels to PTX.
  static llvm::Expected<std::unique_ptr<GPUOptimizer>>
  compile(llvm::StringRef source, const GPUCompileOptions &options = {});
  ~GPUOptimizer();

  llvm::ArrayRef<ParamInfo> getParams() const;
  llvm::ArrayRef<std::string> getStateNames() const;
  unsigned getNumGroups() const;

  /// The chip the kernels were compiled for.
  llvm::StringRef getChip() const;
  /// The image of every kernel (PTX text unless the pipeline options asked
  /// for `format=bin`).
  llvm::StringRef getImage() const;
  /// The launches of one step, in order.
  llvm::ArrayRef<GPUKernelLaunch> getLaunches() const;
  /// Buffer tables of the step, one per element type in use (StepABI.h).
  unsigned getNumTables() const;
  /// Entries of buffer table `table`: (2 + states) per parameter of its
  /// element type.
  unsigned getNumTableEntries(unsigned table) const;
  /// Size of the hyper-parameter table (float32 values).
  unsigned getHyperTableSize() const;

  /// Loads the driver, retains the primary context of `device`, loads the
  /// image and allocates the device tables. Done by the first step (device
  /// 0) when not called before; loading again is an error.
  llvm::Error load(int device = 0);
  bool isLoaded() const;

  /// Hyper-parameters (see optim-c.h). A new value reaches the device at
  /// the next step.
  llvm::Error setHyperParam(unsigned group, llvm::StringRef name,
                            double value);
  llvm::Expected<double> getHyperParam(unsigned group,
                                       llvm::StringRef name) const;

  /// The global step, kept on the host and passed to the kernels by value.
  /// (A device-resident counter, which a captured CUDA graph could replay,
  /// is still to come.)
  int64_t getGlobalStep() const;
  void setGlobalStep(int64_t step);

  /// Enqueues one step on `stream` (a CUstream; null: the legacy default
  /// stream) and increments the global step. `params`, `grads` and
  /// `states` (param-major, as in Runtime.h) are device pointers, each
  /// 16-byte aligned, of the parameter's element count and type. Every
  /// argument is checked before anything is loaded, copied or launched:
  /// on error nothing was enqueued and the global step stays. Nothing is
  /// synchronized: the stream orders the step after earlier work and later
  /// work after it.
  llvm::Error step(llvm::ArrayRef<void *> params, llvm::ArrayRef<void *> grads,
                   llvm::ArrayRef<void *> states, void *stream = nullptr);

  class Impl;

private:
  explicit GPUOptimizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl;
};

} // namespace optim::runtime

#endif // OPTIM_RUNTIME_GPUOPTIMIZER_H
