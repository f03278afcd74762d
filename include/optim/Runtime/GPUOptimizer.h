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
/// Its state on the device: the buffer tables (memref descriptors of the
/// caller's buffers), the hyper-parameter table and the global step
/// counter. The kernels read all three from device memory, so a captured
/// step replays with the current hyper-parameters and count. One step at a
/// time per optimizer: consecutive steps must be ordered on the device,
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
  /// Mixed precision (docs/Mixed-precision.md): some parameter keeps a
  /// float32 master copy, its last state ("master"; 0 elements, and no
  /// buffer needed, for a parameter without one).
  bool hasMasterWeights() const;
  /// Element type of state `state` of parameter `param`: the parameter's,
  /// or with mixed precision its `states` type (f32 for the master).
  DType getStateDType(unsigned param, unsigned state) const;

  /// The chip the kernels were compiled for.
  llvm::StringRef getChip() const;
  /// The image of every kernel (PTX text unless the pipeline options asked
  /// for `format=bin`).
  llvm::StringRef getImage() const;
  /// The launches of one step, in order.
  llvm::ArrayRef<GPUKernelLaunch> getLaunches() const;
  /// Buffer tables of the step, one per element type in use (StepABI.h).
  unsigned getNumTables() const;
  /// Entries of buffer table `table`: every buffer of its element type,
  /// parameters in order (2 + states per parameter without mixed
  /// precision; see docs/Mixed-precision.md for the others).
  unsigned getNumTableEntries(unsigned table) const;
  /// Size of the hyper-parameter table (float64 values).
  unsigned getHyperTableSize() const;

  /// Loads the driver, retains the primary context of `device`, loads the
  /// image and allocates the device tables, the hyper-parameter table and
  /// the step counter, and uploads the hyper-parameters and the global step
  /// (waiting for those copies). Done by the first step or initStates
  /// (device 0) when not called before; loading again is an error.
  llvm::Error load(int device = 0);
  bool isLoaded() const;
  /// The device loaded on, or -1.
  int getDevice() const;

  /// Hyper-parameters (names as in optim-c.h). Once loaded, the table
  /// lives in device memory: a new value is copied there at once, in order
  /// on the optimizer's stream (that of its latest step, else the legacy
  /// default stream), so that the steps enqueued after it, a replayed
  /// CUDA graph included, use it. Setting one never recompiles.
  llvm::Error setHyperParam(unsigned group, llvm::StringRef name,
                            double value);
  llvm::Expected<double> getHyperParam(unsigned group,
                                       llvm::StringRef name) const;

  /// The global step (0 before the first step). Once loaded it lives in
  /// device memory and the step's last kernel increments it, so a step
  /// replayed from a CUDA graph counts too: reading it copies it back on the
  /// optimizer's stream and waits for that stream; setting it enqueues a
  /// copy there.
  llvm::Expected<int64_t> getGlobalStep();
  llvm::Error setGlobalStep(int64_t step);
  /// True if the step clips gradients or scales the loss dynamically.
  bool hasStepStatus() const;
  /// The status of the last step, from device memory once loaded (waits
  /// for the stream of the latest step).
  llvm::Expected<StepStatus> getStepStatus();
  /// Restores a dynamic loss scale and its count of clean steps.
  llvm::Error setLossScaleState(double lossScale, int64_t goodSteps);

  /// Initial value of state `state` of parameter `param`.
  double getStateInitValue(unsigned param, unsigned state) const;
  /// Fills the states (device pointers, param-major as in step()) with
  /// their initial values, each in its dtype, enqueued on `stream`; loads
  /// first if needed. An optimizer with master weights refuses: use
  /// initStatesFromParams.
  llvm::Error initStates(llvm::ArrayRef<void *> states, void *stream = nullptr);
  /// initStates, and each master from its parameter (`params`: device
  /// pointers in step order; only those of parameters with a master are
  /// read): the parameter is copied back once the work enqueued before on
  /// `stream` is done (this waits for the stream), converted to float32 on
  /// the host and copied to the master.
  llvm::Error initStatesFromParams(llvm::ArrayRef<void *> params,
                                   llvm::ArrayRef<void *> states,
                                   void *stream = nullptr);

  /// Enqueues one step on `stream` (a CUstream; null: the legacy default
  /// stream); the step's last kernel increments the global step. `params`,
  /// `grads` and `states` (param-major, as in Runtime.h) are device
  /// pointers, each 16-byte aligned, of the parameter's element count and
  /// type (a state: its own, getStateDType; a state of 0 elements may be
  /// null). Every argument is checked before anything is loaded, copied or
  /// launched: on error nothing was enqueued.
  ///
  /// The pointer tables are copied to the device only when a pointer
  /// changed since the previous step; otherwise a step is the kernel
  /// launches alone. A step captured in a CUDA graph (stream capture) must
  /// therefore use the buffers of the step before it: run one step before
  /// capturing. Capturing with other buffers is an error, not a graph that
  /// would read stale tables. Nothing is synchronized; one step at a time
  /// per optimizer (issue consecutive steps on one stream, or order them).
  llvm::Error step(llvm::ArrayRef<void *> params, llvm::ArrayRef<void *> grads,
                   llvm::ArrayRef<void *> states, void *stream = nullptr);
  /// The checks step() makes of its arguments (counts, null and misaligned
  /// pointers, overlapping buffers), without stepping.
  llvm::Error checkStep(llvm::ArrayRef<void *> params,
                        llvm::ArrayRef<void *> grads,
                        llvm::ArrayRef<void *> states) const;

  class Impl;

private:
  explicit GPUOptimizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl;
};

} // namespace optim::runtime

#endif // OPTIM_RUNTIME_GPUOPTIMIZER_H
