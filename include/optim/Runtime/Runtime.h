//===- Runtime.h - C++ API of the optim-mlir runtime ------------*- C++ -*-===//
//
// Compile an optimizer once, then call step() many times on the caller's
// buffers. Errors are llvm::Error / llvm::Expected values; nothing aborts.
//
//===----------------------------------------------------------------------===//

#ifndef OPTIM_RUNTIME_RUNTIME_H
#define OPTIM_RUNTIME_RUNTIME_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace optim::runtime {

enum class DType { F32 = 0, F64 = 1, F16 = 2, BF16 = 3 };

/// Size in bytes of one element.
unsigned getElementSize(DType dtype);

struct ParamInfo {
  std::string name;
  std::vector<int64_t> shape;
  int64_t numElements = 0;
  DType dtype = DType::F32;
  unsigned group = 0;
  /// The gradient arrives as rows (see SparseGrad); only `lazy_adam`.
  bool sparse = false;
  /// Each state's shape and element count, in getStateNames() order: the
  /// parameter's, except for rules whose states have other shapes
  /// (Adafactor's factored row and column states).
  std::vector<std::vector<int64_t>> stateShapes;
  std::vector<int64_t> stateNumElements;
  /// Each state's element type: the parameter's, or with mixed precision
  /// (docs/Mixed-precision.md) the `states` type; the "master" state is
  /// f32 (0 elements for a parameter without a master).
  std::vector<DType> stateDTypes;
  /// The parameter has a float32 master copy (the "master" state).
  bool hasMaster = false;
};

/// The gradient of a sparse parameter of shape (R, d1, ...): `count` rows,
/// row k (`rows + k * d1 * ...` elements of the parameter's dtype,
/// contiguous, row-major) being the gradient of parameter row
/// `indices[k]`. Indices must lie in [0, R); duplicates are allowed when
/// the optimizer merges them (`unique`, the default), and are then summed.
/// `count` may be 0 (then `indices` and `rows` may be null). The runtime
/// reads both buffers during step() only and keeps no pointer to them.
/// Same layout as the C API's OptimSparseGrad.
struct SparseGrad {
  const int32_t *indices = nullptr;
  const void *rows = nullptr;
  int64_t count = 0;
};

struct CompileOptions {
  /// Options of the `optim-lower-to-cpu` pipeline, e.g. "chunk-size=16384".
  /// Unset `vector-bytes` follows the host (64 with AVX-512F, else 32);
  /// `num-threads=N` is the optimizer's default thread count (see
  /// Optimizer::setNumThreads), not compiled into the code.
  std::string pipelineOptions;
};

/// Where an optimizer's code came from (docs/Threads-and-caches.md).
enum class CodeOrigin {
  /// Lowered and compiled by this call.
  Compiled = 0,
  /// Shared with an optimizer compiled earlier in this process from the
  /// same source and options.
  MemoryCache = 1,
  /// Loaded from the on-disk cache, written by an earlier compilation.
  DiskCache = 2,
};

/// Counters of this process's compiled-code caches, since it started.
/// "compiled", "memory cache" or "disk cache".
llvm::StringRef getCodeOriginName(CodeOrigin origin);

struct CacheStats {
  /// Lowerings and code generations (cache misses).
  int64_t compilations = 0;
  int64_t memoryHits = 0;
  int64_t diskHits = 0;
  /// Disk entries that failed their check (damaged) and were ignored.
  int64_t diskRejects = 0;
  int64_t diskWrites = 0;
};

/// What the last step found and did, for an optimizer that clips gradients
/// (`max_grad_norm`) or scales the loss dynamically. It lives in the step's
/// own memory (device memory on a GPU): the step reads and writes it, the
/// host only when asked.
struct StepStatus {
  /// The loss scale the next step unscales by (dynamic scaling; else the
  /// initial one).
  double lossScale = 1.0;
  /// Clean steps since the scale last changed.
  int64_t goodSteps = 0;
  /// The last step's gradients held an inf or a NaN. With dynamic scaling
  /// the step then changed no parameter and no state, and did not count.
  bool foundInf = false;
  /// The global L2 norm of the last step's gradients, unscaled (before
  /// clipping).
  double gradNorm = 0.0;
  /// What clipping divided the gradients by: max(1, (norm + 1e-6) /
  /// max_grad_norm); 1 without clipping.
  double clipFactor = 1.0;
};

class Optimizer {
public:
  /// Parses optim-dialect source holding one `optim.optimizer` and
  /// compiles it for the host CPU.
  static llvm::Expected<std::unique_ptr<Optimizer>>
  compile(llvm::StringRef source, const CompileOptions &options = {});
  ~Optimizer();

  llvm::ArrayRef<ParamInfo> getParams() const;
  llvm::ArrayRef<std::string> getStateNames() const;
  unsigned getNumGroups() const;
  /// Initial value of state `state` of parameter `param`.
  double getStateInitValue(unsigned param, unsigned state) const;
  /// Fills states (param-major, see optim-c.h) with their initial values.
  /// An error when some parameter has a master copy: its initial value is
  /// the parameter's (the overload below).
  llvm::Error initStates(llvm::ArrayRef<void *> states) const;
  /// Same, each master copy being its parameter's value (`params`, one
  /// buffer per parameter) converted to float32.
  llvm::Error initStates(llvm::ArrayRef<void *> params,
                         llvm::ArrayRef<void *> states) const;
  /// True if some parameter has a float32 master copy.
  bool hasMasterWeights() const;

  /// Checks `value` and writes it to the table: NaN, a value outside the
  /// hyper-parameter's range (the rule's, OptimRules.td) or one that is not
  /// a float32 value where the step computes in float32 is an error, as is
  /// any change under `constant-hyper-params`. Rule hyper-parameters use the
  /// rule's range with its lower end included (docs/C-API.md).
  llvm::Error setHyperParam(unsigned group, llvm::StringRef name,
                            double value);
  llvm::Expected<double> getHyperParam(unsigned group,
                                       llvm::StringRef name) const;

  int64_t getGlobalStep() const;
  /// Sets the global step without a check: step() refuses a negative one
  /// (and the largest int64_t, from which the counter would overflow).
  void setGlobalStep(int64_t step);
  /// Same, refusing a negative step.
  llvm::Error setGlobalStepChecked(int64_t step);
  /// True if the step clips gradients or scales the loss dynamically.
  bool hasStepStatus() const;
  /// The status of the last step (an error without hasStepStatus()).
  llvm::Expected<StepStatus> getStepStatus() const;
  /// Restores a dynamic loss scale and its count of clean steps (e.g. from
  /// a checkpoint); checks both first.
  llvm::Error setLossScaleState(double lossScale, int64_t goodSteps);
  /// The learning rate of each group at the current global step.
  llvm::Expected<std::vector<double>> getLearningRates() const;

  /// One step in place on the caller's buffers; increments the global step.
  /// `grads[i]` points to parameter i's gradient (the parameter's shape)
  /// if it is dense, and to a SparseGrad if it is sparse. Everything,
  /// including the sparse indices' range, duplicate indices when the
  /// optimizer does not merge them, buffers that overlap one the step
  /// writes, and a global step that is negative or would overflow, is
  /// validated before any buffer changes: on error, nothing changed and the
  /// global step stays.
  llvm::Error step(llvm::ArrayRef<void *> params, llvm::ArrayRef<void *> grads,
                   llvm::ArrayRef<void *> states);
  /// Validates the arguments of a step exactly as step() does, without
  /// running it (a distributed step agrees on every rank's result first).
  llvm::Error checkStep(llvm::ArrayRef<void *> params,
                        llvm::ArrayRef<void *> grads,
                        llvm::ArrayRef<void *> states) const;

  // Threads and caches (docs/Threads-and-caches.md).

  /// The OpenMP threads of a large step: 0 (the default) for the pipeline's
  /// `num-threads` if given, else every core this process may run on.
  /// Never more than those cores. Steps of fewer than 256Ki elements run on
  /// the calling thread. Negative counts are an error.
  llvm::Error setNumThreads(int numThreads);
  /// The threads a large step uses now (the setting, resolved).
  int getNumThreads() const;
  /// Where this optimizer's code came from.
  CodeOrigin getCodeOrigin() const;
  /// The counters of this process's caches.
  static CacheStats getCacheStats();

  class Impl;

private:
  // Bound-buffer steps (BoundStep.h).
  friend class BoundStep;
  /// The compiled call alone on the buffer tables as the last step() left
  /// them; increments the global step (BoundStep::stepCompiledOnly). An
  /// error when the counter would overflow.
  llvm::Error runCompiledStep();
  // Sharded steps (Distributed.h) with clipping or dynamic loss scaling:
  // the host computes the global norm, and the local step, compiled without
  // the control, divides the gradients by the loss scale times the clip
  // factor.
  friend class ShardedOptimizer;
  /// Writes `value` (any double: inf and NaN included, as the compiled
  /// control multiplies them in) to the loss-scale slot; an error under
  /// `constant-hyper-params`, where the slot is a constant of the code.
  llvm::Error setLossScaleSlot(double value);

  explicit Optimizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl;
};

} // namespace optim::runtime

#endif // OPTIM_RUNTIME_RUNTIME_H
