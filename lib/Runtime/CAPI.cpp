//===- CAPI.cpp - C API of the optim-mlir runtime -------------------------===//

#include "optim/Runtime/optim-c.h"
#include "optim/Runtime/BoundStep.h"
#include "optim/Runtime/CUDADriver.h"
#include "optim/Runtime/Distributed.h"
#include "optim/Runtime/GPUOptimizer.h"
#include "optim/Runtime/Runtime.h"

#include "llvm/ADT/DenseSet.h"

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>

using namespace optim::runtime;

// step() reads an OptimSparseGrad as a SparseGrad.
static_assert(sizeof(OptimSparseGrad) == sizeof(SparseGrad) &&
                  offsetof(OptimSparseGrad, indices) ==
                      offsetof(SparseGrad, indices) &&
                  offsetof(OptimSparseGrad, rows) ==
                      offsetof(SparseGrad, rows) &&
                  offsetof(OptimSparseGrad, count) ==
                      offsetof(SparseGrad, count),
              "OptimSparseGrad and SparseGrad must have the same layout");

/// An optimizer of either target: exactly one of the two is set.
struct OptimOptimizer {
  std::unique_ptr<Optimizer> cpu;
  std::unique_ptr<GPUOptimizer> gpu;
  /// Set while a call that changes or runs the optimizer is in progress:
  /// a concurrent second call fails instead of racing (optim-c.h).
  std::atomic<bool> inUse{false};

  llvm::ArrayRef<ParamInfo> getParams() const {
    return cpu ? cpu->getParams() : gpu->getParams();
  }
  llvm::ArrayRef<std::string> getStateNames() const {
    return cpu ? cpu->getStateNames() : gpu->getStateNames();
  }
  unsigned getNumGroups() const {
    return cpu ? cpu->getNumGroups() : gpu->getNumGroups();
  }
};

struct OptimBoundStep {
  BoundStep bound;
  OptimOptimizer *owner;
};

static llvm::Error makeError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

/// Stores `message` in `*out` (if requested) and returns `code`.
static int reportCode(int code, const llvm::Twine &message, char **out) {
  if (out)
    *out = strdup(message.str().c_str());
  return code;
}

/// Stores `error`'s message in `*out` (if requested) and returns
/// OPTIM_ERROR.
static int report(llvm::Error error, char **out) {
  std::string message = llvm::toString(std::move(error));
  return reportCode(OPTIM_ERROR, message, out);
}

/// The error of an operation `o`'s target does not have.
static int reportTarget(const OptimOptimizer *o, const char *what,
                        char **error) {
  return report(makeError(llvm::Twine(what) + " is not available for an "
                                              "optimizer compiled for " +
                          (o->cpu ? "cpu" : "cuda")),
                error);
}

//===----------------------------------------------------------------------===//
// Live handles
//===----------------------------------------------------------------------===//

namespace {
/// The handles this library created and has not destroyed: a call with a
/// null, destroyed or foreign handle is refused instead of reading freed
/// or foreign memory. Lookups take a mutex (tens of nanoseconds,
/// uncontended).
struct HandleRegistry {
  std::mutex mutex;
  llvm::DenseSet<const void *> handles;

  void add(const void *handle) {
    std::lock_guard<std::mutex> lock(mutex);
    handles.insert(handle);
  }
  /// Removes `handle`; false if it was not live.
  bool remove(const void *handle) {
    std::lock_guard<std::mutex> lock(mutex);
    return handles.erase(handle);
  }
  bool contains(const void *handle) {
    if (!handle)
      return false;
    std::lock_guard<std::mutex> lock(mutex);
    return handles.contains(handle);
  }
};

HandleRegistry &getRegistry() {
  // Never destroyed: handles may be released by other static destructors.
  static auto *registry = new HandleRegistry();
  return *registry;
}

/// Marks a handle (its in-use flag) in use for the duration of a call that
/// changes or runs it; `acquired()` is false when another call holds it.
class UseGuard {
public:
  explicit UseGuard(std::atomic<bool> &flag)
      : flag(flag), held(!flag.exchange(true, std::memory_order_acquire)) {}
  ~UseGuard() {
    if (held)
      flag.store(false, std::memory_order_release);
  }
  UseGuard(const UseGuard &) = delete;
  UseGuard &operator=(const UseGuard &) = delete;
  bool acquired() const { return held; }

private:
  std::atomic<bool> &flag;
  bool held;
};
} // namespace

static bool isLive(const OptimOptimizer *o) {
  return getRegistry().contains(o);
}
static bool isLive(const OptimBoundStep *b) {
  return getRegistry().contains(b);
}

/// The error of a handle that is null, destroyed or not this library's.
static int reportHandle(const char *function, const char *what,
                        const void *handle, char **error) {
  return reportCode(OPTIM_ERROR_INVALID_HANDLE,
                    llvm::Twine(function) + ": " +
                        (handle ? llvm::Twine("the ") + what +
                                      " is not a live handle (destroyed, or "
                                      "not created by this library)"
                                : llvm::Twine("the ") + what + " is null"),
                    error);
}

static int reportBusy(const char *function, char **error) {
  return reportCode(OPTIM_ERROR_BUSY,
                    llvm::Twine(function) +
                        ": the optimizer is in use by another call (one "
                        "optimizer is not re-entrant: serialise its calls)",
                    error);
}

/// Checks `o` and takes its in-use flag into `guard` for the rest of the
/// calling function; returns 0, or the error code of `function`.
static int enter(OptimOptimizer *o, std::optional<UseGuard> &guard,
                 const char *function, char **error) {
  if (!isLive(o))
    return reportHandle(function, "optimizer", o, error);
  guard.emplace(o->inUse);
  if (!guard->acquired())
    return reportBusy(function, error);
  return 0;
}

static bool isParam(const OptimOptimizer *o, int64_t param) {
  return isLive(o) && param >= 0 &&
         static_cast<uint64_t>(param) < o->getParams().size();
}
static bool isState(const OptimOptimizer *o, int64_t param, int64_t state) {
  return isParam(o, param) && state >= 0 &&
         static_cast<uint64_t>(state) < o->getStateNames().size();
}

/// Checks `group` against `o`'s groups before it narrows to unsigned.
static llvm::Error checkGroup(const OptimOptimizer *o, int64_t group) {
  if (group < 0 || group >= static_cast<int64_t>(o->getNumGroups()))
    return makeError("group " + llvm::Twine(group) + " out of range [0, " +
                     llvm::Twine(o->getNumGroups()) + ")");
  return llvm::Error::success();
}

/// Copies `values` to `out` of `capacity` elements.
template <typename T>
static int copyOut(llvm::ArrayRef<T> values, T *out, int64_t capacity,
                   const char *function, char **error) {
  if (capacity < 0 || static_cast<uint64_t>(capacity) < values.size())
    return report(makeError(llvm::Twine(function) + ": the output holds " +
                            llvm::Twine(capacity) + " elements, " +
                            llvm::Twine(values.size()) + " needed"),
                  error);
  if (!values.empty() && !out)
    return report(makeError(llvm::Twine(function) + ": the output is null"),
                  error);
  std::copy(values.begin(), values.end(), out);
  return 0;
}

extern "C" {

OptimOptimizer *optimCompileForTarget(const char *source, size_t length,
                                      OptimTarget target, const char *options,
                                      char **error) {
  if (!source) {
    report(makeError("source is null"), error);
    return nullptr;
  }
  llvm::StringRef text(source, length);
  std::string optionText = options ? options : "";
  auto result = std::make_unique<OptimOptimizer>();
  if (target == OPTIM_TARGET_CPU) {
    CompileOptions compileOptions;
    compileOptions.pipelineOptions = optionText;
    auto optimizer = Optimizer::compile(text, compileOptions);
    if (!optimizer) {
      report(optimizer.takeError(), error);
      return nullptr;
    }
    result->cpu = std::move(*optimizer);
    getRegistry().add(result.get());
    return result.release();
  }
  if (target != OPTIM_TARGET_CUDA) {
    report(makeError("unknown target " + llvm::Twine(static_cast<int>(target)) +
                     " (OPTIM_TARGET_CPU or OPTIM_TARGET_CUDA)"),
           error);
    return nullptr;
  }
  // `chip=` belongs to the runtime's options; the rest are the pipeline's.
  GPUCompileOptions compileOptions;
  llvm::SmallVector<llvm::StringRef> words;
  llvm::StringRef(optionText).split(words, ' ', -1, false);
  std::string rest;
  for (llvm::StringRef word : words) {
    if (word.consume_front("chip="))
      compileOptions.chip = word.str();
    else
      rest += (rest.empty() ? "" : " ") + word.str();
  }
  compileOptions.pipelineOptions = rest;
  auto optimizer = GPUOptimizer::compile(text, compileOptions);
  if (!optimizer) {
    report(optimizer.takeError(), error);
    return nullptr;
  }
  result->gpu = std::move(*optimizer);
  getRegistry().add(result.get());
  return result.release();
}

OptimOptimizer *optimCompile(const char *source, size_t length,
                             const char *options, char **error) {
  return optimCompileForTarget(source, length, OPTIM_TARGET_CPU, options,
                               error);
}

OptimTarget optimGetTarget(const OptimOptimizer *o) {
  if (!isLive(o))
    return OPTIM_TARGET_INVALID;
  return o->cpu ? OPTIM_TARGET_CPU : OPTIM_TARGET_CUDA;
}

int optimDestroy(OptimOptimizer *optimizer) {
  if (!optimizer)
    return 0;
  if (!isLive(optimizer))
    return OPTIM_ERROR_INVALID_HANDLE;
  // A call in progress on another thread still uses it.
  if (optimizer->inUse.exchange(true, std::memory_order_acquire))
    return OPTIM_ERROR_BUSY;
  if (!getRegistry().remove(optimizer))
    return OPTIM_ERROR_INVALID_HANDLE;
  delete optimizer;
  return 0;
}
void optimFreeError(char *error) { std::free(error); }

int64_t optimNumParams(const OptimOptimizer *o) {
  return isLive(o) ? static_cast<int64_t>(o->getParams().size()) : -1;
}
const char *optimParamName(const OptimOptimizer *o, int64_t param) {
  return isParam(o, param) ? o->getParams()[param].name.c_str() : nullptr;
}
int64_t optimParamRank(const OptimOptimizer *o, int64_t param) {
  return isParam(o, param)
             ? static_cast<int64_t>(o->getParams()[param].shape.size())
             : -1;
}
int optimParamShape(const OptimOptimizer *o, int64_t param, int64_t *shape,
                    int64_t capacity, char **error) {
  if (!isLive(o))
    return reportHandle(__func__, "optimizer", o, error);
  if (!isParam(o, param))
    return report(makeError("optimParamShape: parameter " + llvm::Twine(param) +
                            " out of range [0, " +
                            llvm::Twine(o->getParams().size()) + ")"),
                  error);
  return copyOut(llvm::ArrayRef<int64_t>(o->getParams()[param].shape), shape,
                 capacity, __func__, error);
}
int64_t optimParamNumElements(const OptimOptimizer *o, int64_t param) {
  return isParam(o, param) ? o->getParams()[param].numElements : -1;
}
int64_t optimStateRank(const OptimOptimizer *o, int64_t param, int64_t state) {
  return isState(o, param, state)
             ? static_cast<int64_t>(
                   o->getParams()[param].stateShapes[state].size())
             : -1;
}
int optimStateShape(const OptimOptimizer *o, int64_t param, int64_t state,
                    int64_t *shape, int64_t capacity, char **error) {
  if (!isLive(o))
    return reportHandle(__func__, "optimizer", o, error);
  if (!isState(o, param, state))
    return report(
        makeError("optimStateShape: parameter " + llvm::Twine(param) +
                  " or state " + llvm::Twine(state) + " out of range (" +
                  llvm::Twine(o->getParams().size()) + " parameters, " +
                  llvm::Twine(o->getStateNames().size()) + " states)"),
        error);
  return copyOut(
      llvm::ArrayRef<int64_t>(o->getParams()[param].stateShapes[state]), shape,
      capacity, __func__, error);
}
int64_t optimStateNumElements(const OptimOptimizer *o, int64_t param,
                              int64_t state) {
  return isState(o, param, state)
             ? o->getParams()[param].stateNumElements[state]
             : -1;
}
OptimDType optimParamDType(const OptimOptimizer *o, int64_t param) {
  return isParam(o, param)
             ? static_cast<OptimDType>(o->getParams()[param].dtype)
             : OPTIM_DTYPE_INVALID;
}
int64_t optimParamGroup(const OptimOptimizer *o, int64_t param) {
  return isParam(o, param) ? static_cast<int64_t>(o->getParams()[param].group)
                           : -1;
}
int optimParamIsSparse(const OptimOptimizer *o, int64_t param) {
  if (!isParam(o, param))
    return -1;
  return o->getParams()[param].sparse ? 1 : 0;
}
int64_t optimNumStates(const OptimOptimizer *o) {
  return isLive(o) ? static_cast<int64_t>(o->getStateNames().size()) : -1;
}
const char *optimStateName(const OptimOptimizer *o, int64_t state) {
  if (!isLive(o) || state < 0 ||
      static_cast<uint64_t>(state) >= o->getStateNames().size())
    return nullptr;
  return o->getStateNames()[state].c_str();
}
OptimDType optimStateDType(const OptimOptimizer *o, int64_t param,
                           int64_t state) {
  if (!isState(o, param, state))
    return OPTIM_DTYPE_INVALID;
  return static_cast<OptimDType>(o->getParams()[param].stateDTypes[state]);
}
int64_t optimNumGroups(const OptimOptimizer *o) {
  return isLive(o) ? static_cast<int64_t>(o->getNumGroups()) : -1;
}

int optimInitStatesOnStream(OptimOptimizer *o, void *const *states,
                            void *stream, char **error) {
  std::optional<UseGuard> guard;
  if (int code = enter(o, guard, __func__, error))
    return code;
  size_t count = o->getParams().size() * o->getStateNames().size();
  if (count && !states)
    return report(makeError("the state pointer array is null"), error);
  llvm::ArrayRef<void *> buffers(const_cast<void **>(states), count);
  if (o->cpu && stream)
    return report(makeError("a cpu optimizer takes no stream"), error);
  if (llvm::Error e = o->cpu ? o->cpu->initStates(buffers)
                             : o->gpu->initStates(buffers, stream))
    return report(std::move(e), error);
  return 0;
}

int optimInitStates(OptimOptimizer *o, void *const *states, char **error) {
  return optimInitStatesOnStream(o, states, nullptr, error);
}

int optimInitStatesFromParams(OptimOptimizer *o, void *const *params,
                              void *const *states, char **error) {
  std::optional<UseGuard> guard;
  if (int code = enter(o, guard, __func__, error))
    return code;
  if (!o->cpu)
    return report(makeError("optimInitStatesFromParams: master weights are "
                            "supported on the CPU only"),
                  error);
  size_t numParams = o->getParams().size();
  size_t count = numParams * o->getStateNames().size();
  if (count && !states)
    return report(makeError("the state pointer array is null"), error);
  if (numParams && !params)
    return report(makeError("the parameter pointer array is null"), error);
  llvm::ArrayRef<void *> buffers(const_cast<void **>(states), count);
  llvm::ArrayRef<void *> paramBuffers(const_cast<void **>(params), numParams);
  if (llvm::Error e = o->cpu->initStates(paramBuffers, buffers))
    return report(std::move(e), error);
  return 0;
}

int optimSetHyperParam(OptimOptimizer *o, int64_t group, const char *name,
                       double value, char **error) {
  std::optional<UseGuard> guard;
  if (int code = enter(o, guard, __func__, error))
    return code;
  if (!name)
    return report(makeError("the hyper-parameter name is null"), error);
  if (llvm::Error e = checkGroup(o, group))
    return report(std::move(e), error);
  if (llvm::Error e = o->cpu ? o->cpu->setHyperParam(group, name, value)
                             : o->gpu->setHyperParam(group, name, value))
    return report(std::move(e), error);
  return 0;
}

int optimGetHyperParam(const OptimOptimizer *o, int64_t group,
                       const char *name, double *value, char **error) {
  if (!isLive(o))
    return reportHandle(__func__, "optimizer", o, error);
  if (!name || !value)
    return report(makeError(!name ? "the hyper-parameter name is null"
                                  : "the output value is null"),
                  error);
  if (llvm::Error e = checkGroup(o, group))
    return report(std::move(e), error);
  auto result = o->cpu ? o->cpu->getHyperParam(group, name)
                       : o->gpu->getHyperParam(group, name);
  if (!result)
    return report(result.takeError(), error);
  *value = *result;
  return 0;
}

int optimGetGlobalStep(OptimOptimizer *o, int64_t *step, char **error) {
  std::optional<UseGuard> guard;
  if (int code = enter(o, guard, __func__, error))
    return code;
  if (!step)
    return report(makeError("the output step is null"), error);
  if (o->cpu) {
    *step = o->cpu->getGlobalStep();
    return 0;
  }
  auto value = o->gpu->getGlobalStep();
  if (!value)
    return report(value.takeError(), error);
  *step = *value;
  return 0;
}

int64_t optimGlobalStep(const OptimOptimizer *o) {
  int64_t step = -1;
  if (optimGetGlobalStep(const_cast<OptimOptimizer *>(o), &step, nullptr))
    return -1;
  return step;
}

int optimSetGlobalStep(OptimOptimizer *o, int64_t step, char **error) {
  std::optional<UseGuard> guard;
  if (int code = enter(o, guard, __func__, error))
    return code;
  if (llvm::Error e = o->cpu ? o->cpu->setGlobalStepChecked(step)
                             : o->gpu->setGlobalStep(step))
    return report(std::move(e), error);
  return 0;
}

static OptimStepStatus toC(const optim::runtime::StepStatus &value) {
  OptimStepStatus status;
  status.loss_scale = value.lossScale;
  status.good_steps = value.goodSteps;
  status.found_inf = value.foundInf ? 1 : 0;
  status.grad_norm = value.gradNorm;
  status.clip_factor = value.clipFactor;
  return status;
}

int optimHasStepStatus(const OptimOptimizer *o) {
  if (!isLive(o))
    return -1;
  return o->cpu ? o->cpu->hasStepStatus() : o->gpu->hasStepStatus();
}

int optimGetStepStatus(OptimOptimizer *o, OptimStepStatus *status,
                       char **error) {
  std::optional<UseGuard> guard;
  if (int code = enter(o, guard, __func__, error))
    return code;
  if (!status)
    return report(makeError("null status"), error);
  auto value = o->cpu ? o->cpu->getStepStatus() : o->gpu->getStepStatus();
  if (!value)
    return report(value.takeError(), error);
  *status = toC(*value);
  return 0;
}

int optimSetLossScaleState(OptimOptimizer *o, double lossScale,
                           int64_t goodSteps, char **error) {
  std::optional<UseGuard> guard;
  if (int code = enter(o, guard, __func__, error))
    return code;
  llvm::Error e = o->cpu ? o->cpu->setLossScaleState(lossScale, goodSteps)
                         : o->gpu->setLossScaleState(lossScale, goodSteps);
  if (e)
    return report(std::move(e), error);
  return 0;
}

int optimLoad(OptimOptimizer *o, int device, char **error) {
  std::optional<UseGuard> guard;
  if (int code = enter(o, guard, __func__, error))
    return code;
  if (o->cpu)
    return reportTarget(o, "optimLoad", error);
  if (llvm::Error e = o->gpu->load(device))
    return report(std::move(e), error);
  return 0;
}

int optimLearningRates(const OptimOptimizer *o, double *rates, int64_t capacity,
                       char **error) {
  if (!isLive(o))
    return reportHandle(__func__, "optimizer", o, error);
  if (o->gpu)
    return reportTarget(o, "optimLearningRates", error);
  auto result = o->cpu->getLearningRates();
  if (!result)
    return report(result.takeError(), error);
  return copyOut(llvm::ArrayRef<double>(*result), rates, capacity, __func__,
                 error);
}

int optimStepOnStream(OptimOptimizer *o, void *const *params,
                      void *const *grads, void *const *states, void *stream,
                      char **error) {
  std::optional<UseGuard> guard;
  if (int code = enter(o, guard, __func__, error))
    return code;
  size_t numParams = o->getParams().size();
  size_t numStates = o->getStateNames().size();
  if ((numParams && (!params || !grads)) ||
      (numParams * numStates != 0 && !states))
    return report(makeError("a pointer array is null"), error);
  llvm::ArrayRef<void *> paramBuffers(const_cast<void **>(params), numParams);
  llvm::ArrayRef<void *> gradBuffers(const_cast<void **>(grads), numParams);
  llvm::ArrayRef<void *> stateBuffers(const_cast<void **>(states),
                                      numParams * numStates);
  if (o->cpu && stream)
    return report(makeError("a cpu optimizer takes no stream"), error);
  if (llvm::Error e =
          o->cpu ? o->cpu->step(paramBuffers, gradBuffers, stateBuffers)
                 : o->gpu->step(paramBuffers, gradBuffers, stateBuffers,
                                stream))
    return report(std::move(e), error);
  return 0;
}

int optimStep(OptimOptimizer *o, void *const *params, void *const *grads,
              void *const *states, char **error) {
  return optimStepOnStream(o, params, grads, states, nullptr, error);
}

} // extern "C"

//===----------------------------------------------------------------------===//
// Bound steps (BoundStep.h)
//===----------------------------------------------------------------------===//

/// Checks `bound` and its optimizer, and takes the optimizer's in-use flag
/// into `guard`; returns 0, or the error code of `function`.
static int enter(OptimBoundStep *bound, std::optional<UseGuard> &guard,
                 const char *function, char **error) {
  if (!isLive(bound))
    return reportHandle(function, "bound step", bound, error);
  if (!isLive(bound->owner))
    return reportHandle(function, "bound step's optimizer", bound->owner,
                        error);
  return enter(bound->owner, guard, function, error);
}

extern "C" {

OptimBoundStep *optimBoundStepCreate(OptimOptimizer *o, char **error) {
  if (!isLive(o)) {
    reportHandle(__func__, "optimizer", o, error);
    return nullptr;
  }
  if (!o->cpu) {
    reportTarget(o, "a bound step", error);
    return nullptr;
  }
  auto *bound = new OptimBoundStep{BoundStep(*o->cpu), o};
  getRegistry().add(bound);
  return bound;
}

int optimBoundStepDestroy(OptimBoundStep *bound) {
  if (!bound)
    return 0;
  if (!getRegistry().remove(bound))
    return OPTIM_ERROR_INVALID_HANDLE;
  delete bound;
  return 0;
}

int optimBoundStepAllocateStates(OptimBoundStep *bound, char **error) {
  std::optional<UseGuard> guard;
  if (int code = enter(bound, guard, __func__, error))
    return code;
  if (llvm::Error e = bound->bound.allocateStates())
    return report(std::move(e), error);
  return 0;
}

void **optimBoundStepParams(OptimBoundStep *bound) {
  return isLive(bound) ? bound->bound.getParamTable() : nullptr;
}
void **optimBoundStepGrads(OptimBoundStep *bound) {
  return isLive(bound) ? bound->bound.getGradTable() : nullptr;
}
void **optimBoundStepStates(OptimBoundStep *bound) {
  return isLive(bound) ? bound->bound.getStateTable() : nullptr;
}

int optimBoundStepRun(OptimBoundStep *bound, char **error) {
  std::optional<UseGuard> guard;
  if (int code = enter(bound, guard, __func__, error))
    return code;
  if (llvm::Error e = bound->bound.step())
    return report(std::move(e), error);
  return 0;
}

int optimBoundStepRunCompiledOnly(OptimBoundStep *bound, char **error) {
  std::optional<UseGuard> guard;
  if (int code = enter(bound, guard, __func__, error))
    return code;
  if (llvm::Error e = bound->bound.stepCompiledOnly())
    return report(std::move(e), error);
  return 0;
}

} // extern "C"

//===----------------------------------------------------------------------===//
// Threads and caches (docs/Threads-and-caches.md)
//===----------------------------------------------------------------------===//

static_assert(static_cast<int>(CodeOrigin::Compiled) == OPTIM_CODE_COMPILED &&
                  static_cast<int>(CodeOrigin::MemoryCache) ==
                      OPTIM_CODE_MEMORY_CACHE &&
                  static_cast<int>(CodeOrigin::DiskCache) ==
                      OPTIM_CODE_DISK_CACHE,
              "OptimCodeOrigin and CodeOrigin must agree");

extern "C" {

int optimSetNumThreads(OptimOptimizer *o, int numThreads, char **error) {
  std::optional<UseGuard> guard;
  if (int code = enter(o, guard, __func__, error))
    return code;
  if (!o->cpu)
    return reportTarget(o, "optimSetNumThreads", error);
  if (llvm::Error e = o->cpu->setNumThreads(numThreads))
    return report(std::move(e), error);
  return 0;
}

int optimNumThreads(const OptimOptimizer *o) {
  if (!isLive(o))
    return -1;
  return o->cpu ? o->cpu->getNumThreads() : 0;
}

OptimCodeOrigin optimCodeOrigin(const OptimOptimizer *o) {
  if (!isLive(o))
    return OPTIM_CODE_INVALID;
  return o->cpu ? static_cast<OptimCodeOrigin>(o->cpu->getCodeOrigin())
                : OPTIM_CODE_COMPILED;
}

void optimGetCacheStats(OptimCacheStats *stats) {
  if (!stats)
    return;
  CacheStats counters = Optimizer::getCacheStats();
  stats->compilations = counters.compilations;
  stats->memoryHits = counters.memoryHits;
  stats->diskHits = counters.diskHits;
  stats->diskRejects = counters.diskRejects;
  stats->diskWrites = counters.diskWrites;
}

} // extern "C"

//===----------------------------------------------------------------------===//
// CUDA driver (CUDADriver.h, docs/GPU.md)
//===----------------------------------------------------------------------===//

/// The driver's version and path, then a line per device: "device 0: NAME
/// (compute capability 9.0)".
static llvm::Expected<std::string> describeCudaDriver(cuda::Driver &driver) {
  int version = driver.getVersion();
  std::string text = "CUDA driver " + std::to_string(version / 1000) + "." +
                     std::to_string(version % 1000 / 10) + " (" +
                     driver.getLoadedPath().str() + "), " +
                     std::to_string(driver.getDeviceCount()) +
                     (driver.getDeviceCount() == 1 ? " device" : " devices");
  for (int device = 0; device < driver.getDeviceCount(); ++device) {
    auto name = driver.getDeviceName(device);
    if (!name)
      return name.takeError();
    auto capability = driver.getComputeCapability(device);
    if (!capability)
      return capability.takeError();
    text += "\ndevice " + std::to_string(device) + ": " + *name +
            " (compute capability " + std::to_string(capability->major) + "." +
            std::to_string(capability->minor) + ")";
  }
  return text;
}

extern "C" {

int optimCudaDriverAvailable(char **error) {
  auto driver = cuda::Driver::get();
  if (!driver)
    return report(driver.takeError(), error);
  return 0;
}

int optimCudaDriverDescribe(char **description, char **error) {
  auto driver = cuda::Driver::get();
  if (!driver)
    return report(driver.takeError(), error);
  auto text = describeCudaDriver(*driver);
  if (!text)
    return report(text.takeError(), error);
  if (description)
    *description = strdup(text->c_str());
  return 0;
}

} // extern "C"

//===----------------------------------------------------------------------===//
// Distributed steps (Distributed.h, docs/Distributed.md)
//===----------------------------------------------------------------------===//

struct OptimCommunicator {
  std::shared_ptr<Communicator> comm;
};

struct OptimShardedOptimizer {
  std::unique_ptr<ShardedOptimizer> sharded;
  /// As OptimOptimizer::inUse.
  std::atomic<bool> inUse{false};
};

static_assert(static_cast<int>(ShardMode::FromSource) ==
                      OPTIM_SHARD_FROM_SOURCE &&
                  static_cast<int>(ShardMode::BroadcastParams) ==
                      OPTIM_SHARD_BROADCAST_PARAMS &&
                  static_cast<int>(ShardMode::Zero) == OPTIM_SHARD_ZERO,
              "OptimShardMode and ShardMode must agree");
static_assert(static_cast<int>(GradientReduction::None) == OPTIM_REDUCE_NONE &&
                  static_cast<int>(GradientReduction::Sum) ==
                      OPTIM_REDUCE_SUM &&
                  static_cast<int>(GradientReduction::Mean) ==
                      OPTIM_REDUCE_MEAN,
              "OptimGradientReduction and GradientReduction must agree");

/// Held by every call that communicates or creates or releases a
/// communicator reference (MPI runs under MPI_THREAD_SERIALIZED: one such
/// call at a time in the process).
static std::atomic<bool> &getCommInUse() {
  static std::atomic<bool> inUse{false};
  return inUse;
}

static bool isLive(const OptimCommunicator *c) {
  return getRegistry().contains(c);
}
static bool isLive(const OptimShardedOptimizer *s) {
  return getRegistry().contains(s);
}

static int reportCommBusy(const char *function, char **error) {
  return reportCode(OPTIM_ERROR_BUSY,
                    llvm::Twine(function) +
                        ": the communicator is in use by another call (calls "
                        "that communicate run one at a time in a process: "
                        "serialise them)",
                    error);
}

/// Takes the process's communication flag into `guard`; returns 0, or
/// OPTIM_ERROR_BUSY.
static int enterComm(std::optional<UseGuard> &guard, const char *function,
                     char **error) {
  guard.emplace(getCommInUse());
  if (!guard->acquired())
    return reportCommBusy(function, error);
  return 0;
}

/// Checks `s` and takes its in-use flag into `guard`.
static int enter(OptimShardedOptimizer *s, std::optional<UseGuard> &guard,
                 const char *function, char **error) {
  if (!isLive(s))
    return reportHandle(function, "sharded optimizer", s, error);
  guard.emplace(s->inUse);
  if (!guard->acquired())
    return reportCode(OPTIM_ERROR_BUSY,
                      llvm::Twine(function) +
                          ": the sharded optimizer is in use by another call "
                          "(one optimizer is not re-entrant: serialise its "
                          "calls)",
                      error);
  return 0;
}

/// OPTIM_ERROR_DISTRIBUTED when `comm` is broken (a collective failed now
/// or earlier), else OPTIM_ERROR.
static int reportDistributed(llvm::Error error, const Communicator &comm,
                             char **out) {
  std::string message = llvm::toString(std::move(error));
  return reportCode(comm.getFailure().empty() ? OPTIM_ERROR
                                              : OPTIM_ERROR_DISTRIBUTED,
                    message, out);
}

static bool isParam(const OptimShardedOptimizer *s, int64_t param) {
  return isLive(s) && param >= 0 &&
         static_cast<uint64_t>(param) < s->sharded->getParams().size();
}

static bool isLocalState(const OptimShardedOptimizer *s, int64_t piece,
                         int64_t state) {
  if (!isLive(s))
    return false;
  auto local = s->sharded->getLocalParams();
  return piece >= 0 && static_cast<uint64_t>(piece) < local.size() &&
         state >= 0 &&
         static_cast<uint64_t>(state) < s->sharded->getStateNames().size();
}

static llvm::Error checkGroup(const OptimShardedOptimizer *s, int64_t group) {
  int64_t groups = s->sharded->getNumGroups();
  if (group < 0 || group >= groups)
    return makeError("group " + llvm::Twine(group) + " out of range [0, " +
                     llvm::Twine(groups) + ")");
  return llvm::Error::success();
}

/// Writes `pieces` to `out` of `capacity` elements.
static int copyPieces(llvm::ArrayRef<ShardPiece> pieces, OptimShardPiece *out,
                      int64_t capacity, const char *function, char **error) {
  std::vector<OptimShardPiece> converted;
  for (const ShardPiece &piece : pieces)
    converted.push_back(OptimShardPiece{piece.param, piece.offset, piece.count,
                                        piece.whole ? 1 : 0});
  return copyOut(llvm::ArrayRef<OptimShardPiece>(converted), out, capacity,
                 function, error);
}

extern "C" {

OptimCommunicator *optimCommWorld(double timeout, char **error) {
  std::optional<UseGuard> commGuard;
  if (enterComm(commGuard, __func__, error))
    return nullptr;
  auto comm = Communicator::world(timeout);
  if (!comm) {
    report(comm.takeError(), error);
    return nullptr;
  }
  auto *handle = new OptimCommunicator{std::move(*comm)};
  getRegistry().add(handle);
  return handle;
}

int optimCommDestroy(OptimCommunicator *c) {
  if (!c)
    return 0;
  if (!isLive(c))
    return OPTIM_ERROR_INVALID_HANDLE;
  // Releasing the last reference frees the MPI communicator.
  std::optional<UseGuard> commGuard;
  if (enterComm(commGuard, __func__, nullptr))
    return OPTIM_ERROR_BUSY;
  if (!getRegistry().remove(c))
    return OPTIM_ERROR_INVALID_HANDLE;
  delete c;
  return 0;
}

int optimCommRank(const OptimCommunicator *c) {
  return isLive(c) ? c->comm->getRank() : -1;
}
int optimCommSize(const OptimCommunicator *c) {
  return isLive(c) ? c->comm->getSize() : -1;
}
double optimCommGetTimeout(const OptimCommunicator *c) {
  return isLive(c) ? c->comm->getTimeout() : -1.0;
}

int optimCommSetTimeout(OptimCommunicator *c, double seconds, char **error) {
  if (!isLive(c))
    return reportHandle(__func__, "communicator", c, error);
  std::optional<UseGuard> commGuard;
  if (int code = enterComm(commGuard, __func__, error))
    return code;
  if (llvm::Error e = c->comm->setTimeout(seconds))
    return report(std::move(e), error);
  return 0;
}

const char *optimCommFailure(const OptimCommunicator *c) {
  return isLive(c) ? c->comm->getFailure().c_str() : nullptr;
}

int optimCommBarrier(OptimCommunicator *c, char **error) {
  if (!isLive(c))
    return reportHandle(__func__, "communicator", c, error);
  std::optional<UseGuard> commGuard;
  if (int code = enterComm(commGuard, __func__, error))
    return code;
  if (llvm::Error e = c->comm->barrier())
    return reportDistributed(std::move(e), *c->comm, error);
  return 0;
}

OptimShardedOptimizer *optimShardedCompile(const char *source, size_t length,
                                           OptimCommunicator *c,
                                           OptimShardMode mode,
                                           OptimGradientReduction reduction,
                                           const char *options, char **error) {
  if (!isLive(c)) {
    reportHandle(__func__, "communicator", c, error);
    return nullptr;
  }
  std::optional<UseGuard> commGuard;
  if (enterComm(commGuard, __func__, error))
    return nullptr;
  // Compiling is a collective: the other refusals (a null source, a value
  // outside the enums) are the compiler's, agreed on by every rank.
  llvm::StringRef text = source ? llvm::StringRef(source, length) : "";
  CompileOptions compileOptions;
  compileOptions.pipelineOptions = options ? options : "";
  auto sharded = ShardedOptimizer::compile(
      text, c->comm, static_cast<ShardMode>(mode),
      static_cast<GradientReduction>(reduction), compileOptions);
  if (!sharded) {
    report(sharded.takeError(), error);
    return nullptr;
  }
  auto *handle = new OptimShardedOptimizer();
  handle->sharded = std::move(*sharded);
  getRegistry().add(handle);
  return handle;
}

int optimShardedDestroy(OptimShardedOptimizer *s) {
  if (!s)
    return 0;
  if (!isLive(s))
    return OPTIM_ERROR_INVALID_HANDLE;
  if (s->inUse.exchange(true, std::memory_order_acquire))
    return OPTIM_ERROR_BUSY;
  // Releasing the last reference to the communicator frees it.
  std::optional<UseGuard> commGuard;
  if (enterComm(commGuard, __func__, nullptr)) {
    s->inUse.store(false, std::memory_order_release);
    return OPTIM_ERROR_BUSY;
  }
  if (!getRegistry().remove(s))
    return OPTIM_ERROR_INVALID_HANDLE;
  delete s;
  return 0;
}

OptimShardMode optimShardedMode(const OptimShardedOptimizer *s) {
  return isLive(s) ? static_cast<OptimShardMode>(s->sharded->getMode())
                   : OPTIM_SHARD_INVALID;
}

int64_t optimShardedNumParams(const OptimShardedOptimizer *s) {
  return isLive(s) ? static_cast<int64_t>(s->sharded->getParams().size()) : -1;
}
const char *optimShardedParamName(const OptimShardedOptimizer *s,
                                  int64_t param) {
  return isParam(s, param) ? s->sharded->getParams()[param].name.c_str()
                           : nullptr;
}
int64_t optimShardedParamRank(const OptimShardedOptimizer *s, int64_t param) {
  return isParam(s, param)
             ? static_cast<int64_t>(s->sharded->getParams()[param].shape.size())
             : -1;
}
int optimShardedParamShape(const OptimShardedOptimizer *s, int64_t param,
                           int64_t *shape, int64_t capacity, char **error) {
  if (!isLive(s))
    return reportHandle(__func__, "sharded optimizer", s, error);
  if (!isParam(s, param))
    return report(makeError(llvm::Twine(__func__) + ": parameter " +
                            llvm::Twine(param) + " out of range [0, " +
                            llvm::Twine(s->sharded->getParams().size()) + ")"),
                  error);
  return copyOut(llvm::ArrayRef<int64_t>(s->sharded->getParams()[param].shape),
                 shape, capacity, __func__, error);
}
int64_t optimShardedParamNumElements(const OptimShardedOptimizer *s,
                                     int64_t param) {
  return isParam(s, param) ? s->sharded->getParams()[param].numElements : -1;
}
OptimDType optimShardedParamDType(const OptimShardedOptimizer *s,
                                  int64_t param) {
  return isParam(s, param)
             ? static_cast<OptimDType>(s->sharded->getParams()[param].dtype)
             : OPTIM_DTYPE_INVALID;
}
int64_t optimShardedParamGroup(const OptimShardedOptimizer *s, int64_t param) {
  return isParam(s, param)
             ? static_cast<int64_t>(s->sharded->getParams()[param].group)
             : -1;
}
int optimShardedParamIsSparse(const OptimShardedOptimizer *s, int64_t param) {
  if (!isParam(s, param))
    return -1;
  return s->sharded->getParams()[param].sparse ? 1 : 0;
}
int64_t optimShardedNumStates(const OptimShardedOptimizer *s) {
  return isLive(s) ? static_cast<int64_t>(s->sharded->getStateNames().size())
                   : -1;
}
const char *optimShardedStateName(const OptimShardedOptimizer *s,
                                  int64_t state) {
  if (!isLive(s) || state < 0 ||
      static_cast<uint64_t>(state) >= s->sharded->getStateNames().size())
    return nullptr;
  return s->sharded->getStateNames()[state].c_str();
}
int64_t optimShardedNumGroups(const OptimShardedOptimizer *s) {
  return isLive(s) ? static_cast<int64_t>(s->sharded->getNumGroups()) : -1;
}

int64_t optimShardedNumPieces(const OptimShardedOptimizer *s, int64_t rank) {
  if (!isLive(s) || rank < 0 || rank >= s->sharded->getCommunicator().getSize())
    return -1;
  return static_cast<int64_t>(s->sharded->getPieces(rank).size());
}
int optimShardedPieces(const OptimShardedOptimizer *s, int64_t rank,
                       OptimShardPiece *pieces, int64_t capacity,
                       char **error) {
  if (!isLive(s))
    return reportHandle(__func__, "sharded optimizer", s, error);
  int size = s->sharded->getCommunicator().getSize();
  if (rank < 0 || rank >= size)
    return report(makeError(llvm::Twine(__func__) + ": rank " +
                            llvm::Twine(rank) + " out of range [0, " +
                            llvm::Twine(size) + ")"),
                  error);
  return copyPieces(s->sharded->getPieces(rank), pieces, capacity, __func__,
                    error);
}
int64_t optimShardedNumLocalPieces(const OptimShardedOptimizer *s) {
  return isLive(s) ? static_cast<int64_t>(s->sharded->getLocalPieces().size())
                   : -1;
}
int optimShardedLocalPieces(const OptimShardedOptimizer *s,
                            OptimShardPiece *pieces, int64_t capacity,
                            char **error) {
  if (!isLive(s))
    return reportHandle(__func__, "sharded optimizer", s, error);
  return copyPieces(s->sharded->getLocalPieces(), pieces, capacity, __func__,
                    error);
}
int64_t optimShardedLocalStateNumElements(const OptimShardedOptimizer *s,
                                          int64_t piece, int64_t state) {
  if (!isLocalState(s, piece, state))
    return -1;
  return s->sharded->getLocalParams()[piece].stateNumElements[state];
}
OptimDType optimShardedLocalStateDType(const OptimShardedOptimizer *s,
                                       int64_t piece, int64_t state) {
  if (!isLocalState(s, piece, state))
    return OPTIM_DTYPE_INVALID;
  return static_cast<OptimDType>(
      s->sharded->getLocalParams()[piece].stateDTypes[state]);
}

int optimShardedInitStates(OptimShardedOptimizer *s, void *const *localStates,
                           size_t numLocalStates, char **error) {
  std::optional<UseGuard> guard;
  if (int code = enter(s, guard, __func__, error))
    return code;
  size_t expected =
      s->sharded->getLocalPieces().size() * s->sharded->getStateNames().size();
  if (numLocalStates != expected)
    return report(makeError(llvm::Twine(__func__) + ": expected " +
                            llvm::Twine(expected) + " local state buffers (" +
                            llvm::Twine(s->sharded->getLocalPieces().size()) +
                            " pieces), got " + llvm::Twine(numLocalStates)),
                  error);
  if (expected && !localStates)
    return report(makeError("the state pointer array is null"), error);
  llvm::ArrayRef<void *> buffers(const_cast<void **>(localStates), expected);
  if (llvm::Error e = s->sharded->initStates(buffers))
    return report(std::move(e), error);
  return 0;
}

int optimShardedSetHyperParam(OptimShardedOptimizer *s, int64_t group,
                              const char *name, double value, char **error) {
  std::optional<UseGuard> guard;
  if (int code = enter(s, guard, __func__, error))
    return code;
  if (!name)
    return report(makeError("the hyper-parameter name is null"), error);
  if (llvm::Error e = checkGroup(s, group))
    return report(std::move(e), error);
  if (llvm::Error e = s->sharded->setHyperParam(group, name, value))
    return report(std::move(e), error);
  return 0;
}

int optimShardedGetHyperParam(const OptimShardedOptimizer *s, int64_t group,
                              const char *name, double *value, char **error) {
  if (!isLive(s))
    return reportHandle(__func__, "sharded optimizer", s, error);
  if (!name || !value)
    return report(makeError(!name ? "the hyper-parameter name is null"
                                  : "the output value is null"),
                  error);
  if (llvm::Error e = checkGroup(s, group))
    return report(std::move(e), error);
  auto result = s->sharded->getHyperParam(group, name);
  if (!result)
    return report(result.takeError(), error);
  *value = *result;
  return 0;
}

int64_t optimShardedGlobalStep(const OptimShardedOptimizer *s) {
  return isLive(s) ? s->sharded->getGlobalStep() : -1;
}

int optimShardedGetGlobalStep(OptimShardedOptimizer *s, int64_t *step,
                              char **error) {
  std::optional<UseGuard> guard;
  if (int code = enter(s, guard, __func__, error))
    return code;
  if (!step)
    return report(makeError("the output step is null"), error);
  *step = s->sharded->getGlobalStep();
  return 0;
}

int optimShardedSetGlobalStep(OptimShardedOptimizer *s, int64_t step,
                              char **error) {
  std::optional<UseGuard> guard;
  if (int code = enter(s, guard, __func__, error))
    return code;
  if (llvm::Error e = s->sharded->setGlobalStep(step))
    return report(std::move(e), error);
  return 0;
}

int optimShardedSetNumThreads(OptimShardedOptimizer *s, int numThreads,
                              char **error) {
  std::optional<UseGuard> guard;
  if (int code = enter(s, guard, __func__, error))
    return code;
  if (llvm::Error e = s->sharded->setNumThreads(numThreads))
    return report(std::move(e), error);
  return 0;
}

int optimShardedHasStepStatus(const OptimShardedOptimizer *s) {
  return isLive(s) ? s->sharded->hasStepStatus() : -1;
}

int optimShardedGetStepStatus(OptimShardedOptimizer *s,
                              OptimStepStatus *status, char **error) {
  std::optional<UseGuard> guard;
  if (int code = enter(s, guard, __func__, error))
    return code;
  if (!status)
    return report(makeError("null status"), error);
  auto value = s->sharded->getStepStatus();
  if (!value)
    return report(value.takeError(), error);
  *status = toC(*value);
  return 0;
}

int optimShardedSetLossScaleState(OptimShardedOptimizer *s, double lossScale,
                                  int64_t goodSteps, char **error) {
  std::optional<UseGuard> guard;
  if (int code = enter(s, guard, __func__, error))
    return code;
  if (llvm::Error e = s->sharded->setLossScaleState(lossScale, goodSteps))
    return report(std::move(e), error);
  return 0;
}

int optimShardedStep(OptimShardedOptimizer *s, void *const *params,
                     void *const *grads, size_t numParams,
                     void *const *localStates, size_t numLocalStates,
                     char **error) {
  std::optional<UseGuard> guard;
  if (int code = enter(s, guard, __func__, error))
    return code;
  std::optional<UseGuard> commGuard;
  if (int code = enterComm(commGuard, __func__, error))
    return code;
  // Counts and null arrays are checked by the step on every rank, which
  // agree before any write: a null array of the right count is passed as
  // that many null buffers (refused there, with the parameter's name), a
  // wrong count as it is (refused before any element is read).
  size_t numInfos = s->sharded->getParams().size();
  size_t numLocal =
      s->sharded->getLocalPieces().size() * s->sharded->getStateNames().size();
  std::vector<void *> nulls;
  auto table = [&](void *const *array, size_t count, size_t expected) {
    if (!array && count == expected) {
      if (nulls.size() < count)
        nulls.assign(count, nullptr);
      return llvm::ArrayRef<void *>(nulls.data(), count);
    }
    return llvm::ArrayRef<void *>(const_cast<void **>(array), count);
  };
  if (llvm::Error e = s->sharded->step(
          table(params, numParams, numInfos), table(grads, numParams, numInfos),
          table(localStates, numLocalStates, numLocal)))
    return reportDistributed(std::move(e), s->sharded->getCommunicator(),
                             error);
  return 0;
}

int optimShardedGetLastStats(const OptimShardedOptimizer *s,
                             OptimExchangeStats *stats, char **error) {
  if (!isLive(s))
    return reportHandle(__func__, "sharded optimizer", s, error);
  if (!stats)
    return report(makeError("the output stats is null"), error);
  const ExchangeStats &last = s->sharded->getLastStats();
  stats->bytes_sent = last.bytesSent;
  stats->bytes_received = last.bytesReceived;
  stats->reduce_seconds = last.reduceSeconds;
  stats->exchange_seconds = last.exchangeSeconds;
  return 0;
}

} // extern "C"
