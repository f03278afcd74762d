//===- CAPI.cpp - C API of the optim-mlir runtime -------------------------===//

#include "optim/Runtime/optim-c.h"
#include "optim/Runtime/BoundStep.h"
#include "optim/Runtime/CUDADriver.h"
#include "optim/Runtime/GPUOptimizer.h"
#include "optim/Runtime/Runtime.h"

#include <cstddef>
#include <cstdlib>
#include <cstring>

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

static llvm::Error makeError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

/// Stores `error`'s message in `*out` (if requested) and returns 1.
static int report(llvm::Error error, char **out) {
  std::string message = llvm::toString(std::move(error));
  if (out)
    *out = strdup(message.c_str());
  return 1;
}

/// The error of an operation `o`'s target does not have.
static int reportTarget(const OptimOptimizer *o, const char *what,
                        char **error) {
  return report(makeError(llvm::Twine(what) + " is not available for an "
                                              "optimizer compiled for " +
                          (o->cpu ? "cpu" : "cuda")),
                error);
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
  return result.release();
}

OptimOptimizer *optimCompile(const char *source, size_t length,
                             const char *options, char **error) {
  return optimCompileForTarget(source, length, OPTIM_TARGET_CPU, options,
                               error);
}

OptimTarget optimGetTarget(const OptimOptimizer *o) {
  return o->cpu ? OPTIM_TARGET_CPU : OPTIM_TARGET_CUDA;
}

void optimDestroy(OptimOptimizer *optimizer) { delete optimizer; }
void optimFreeError(char *error) { std::free(error); }

int64_t optimNumParams(const OptimOptimizer *o) {
  return o->getParams().size();
}
const char *optimParamName(const OptimOptimizer *o, int64_t param) {
  return o->getParams()[param].name.c_str();
}
int64_t optimParamRank(const OptimOptimizer *o, int64_t param) {
  return o->getParams()[param].shape.size();
}
void optimParamShape(const OptimOptimizer *o, int64_t param, int64_t *shape) {
  const auto &dims = o->getParams()[param].shape;
  std::copy(dims.begin(), dims.end(), shape);
}
int64_t optimParamNumElements(const OptimOptimizer *o, int64_t param) {
  return o->getParams()[param].numElements;
}
int64_t optimStateRank(const OptimOptimizer *o, int64_t param, int64_t state) {
  return o->getParams()[param].stateShapes[state].size();
}
void optimStateShape(const OptimOptimizer *o, int64_t param, int64_t state,
                     int64_t *shape) {
  const auto &dims = o->getParams()[param].stateShapes[state];
  std::copy(dims.begin(), dims.end(), shape);
}
int64_t optimStateNumElements(const OptimOptimizer *o, int64_t param,
                              int64_t state) {
  return o->getParams()[param].stateNumElements[state];
}
OptimDType optimParamDType(const OptimOptimizer *o, int64_t param) {
  return static_cast<OptimDType>(o->getParams()[param].dtype);
}
int64_t optimParamGroup(const OptimOptimizer *o, int64_t param) {
  return o->getParams()[param].group;
}
int optimParamIsSparse(const OptimOptimizer *o, int64_t param) {
  return o->getParams()[param].sparse ? 1 : 0;
}
int64_t optimNumStates(const OptimOptimizer *o) {
  return o->getStateNames().size();
}
const char *optimStateName(const OptimOptimizer *o, int64_t state) {
  return o->getStateNames()[state].c_str();
}
OptimDType optimStateDType(const OptimOptimizer *o, int64_t param,
                           int64_t state) {
  return static_cast<OptimDType>(
      o->getParams()[param].stateDTypes[state]);
}
int64_t optimNumGroups(const OptimOptimizer *o) {
  return o->getNumGroups();
}

int optimInitStatesOnStream(OptimOptimizer *o, void *const *states,
                            void *stream, char **error) {
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
  if (group < 0 || !name)
    return report(makeError(group < 0 ? "negative group index"
                                      : "the hyper-parameter name is null"),
                  error);
  if (llvm::Error e = o->cpu ? o->cpu->setHyperParam(group, name, value)
                             : o->gpu->setHyperParam(group, name, value))
    return report(std::move(e), error);
  return 0;
}

int optimGetHyperParam(const OptimOptimizer *o, int64_t group,
                       const char *name, double *value, char **error) {
  if (group < 0 || !name)
    return report(makeError(group < 0 ? "negative group index"
                                      : "the hyper-parameter name is null"),
                  error);
  auto result = o->cpu ? o->cpu->getHyperParam(group, name)
                       : o->gpu->getHyperParam(group, name);
  if (!result)
    return report(result.takeError(), error);
  *value = *result;
  return 0;
}

int optimGetGlobalStep(OptimOptimizer *o, int64_t *step, char **error) {
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
  if (o->cpu) {
    o->cpu->setGlobalStep(step);
    return 0;
  }
  if (llvm::Error e = o->gpu->setGlobalStep(step))
    return report(std::move(e), error);
  return 0;
}

int optimHasStepStatus(const OptimOptimizer *o) {
  return o->cpu ? o->cpu->hasStepStatus() : o->gpu->hasStepStatus();
}

int optimGetStepStatus(OptimOptimizer *o, OptimStepStatus *status,
                       char **error) {
  if (!status)
    return report(makeError("null status"), error);
  auto value = o->cpu ? o->cpu->getStepStatus() : o->gpu->getStepStatus();
  if (!value)
    return report(value.takeError(), error);
  status->loss_scale = value->lossScale;
  status->good_steps = value->goodSteps;
  status->found_inf = value->foundInf ? 1 : 0;
  status->grad_norm = value->gradNorm;
  status->clip_factor = value->clipFactor;
  return 0;
}

int optimSetLossScaleState(OptimOptimizer *o, double lossScale,
                           int64_t goodSteps, char **error) {
  llvm::Error e = o->cpu ? o->cpu->setLossScaleState(lossScale, goodSteps)
                         : o->gpu->setLossScaleState(lossScale, goodSteps);
  if (e)
    return report(std::move(e), error);
  return 0;
}

int optimLoad(OptimOptimizer *o, int device, char **error) {
  if (o->cpu)
    return reportTarget(o, "optimLoad", error);
  if (llvm::Error e = o->gpu->load(device))
    return report(std::move(e), error);
  return 0;
}

int optimLearningRates(const OptimOptimizer *o, double *rates,
                       char **error) {
  if (o->gpu)
    return reportTarget(o, "optimLearningRates", error);
  auto result = o->cpu->getLearningRates();
  if (!result)
    return report(result.takeError(), error);
  std::copy(result->begin(), result->end(), rates);
  return 0;
}

int optimStepOnStream(OptimOptimizer *o, void *const *params,
                      void *const *grads, void *const *states, void *stream,
                      char **error) {
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

struct OptimBoundStep {
  BoundStep bound;
};

extern "C" {

OptimBoundStep *optimBoundStepCreate(OptimOptimizer *o, char **error) {
  if (!o) {
    report(makeError("optimizer is null"), error);
    return nullptr;
  }
  if (!o->cpu) {
    reportTarget(o, "a bound step", error);
    return nullptr;
  }
  return new OptimBoundStep{BoundStep(*o->cpu)};
}

void optimBoundStepDestroy(OptimBoundStep *bound) { delete bound; }

int optimBoundStepAllocateStates(OptimBoundStep *bound, char **error) {
  if (llvm::Error e = bound->bound.allocateStates())
    return report(std::move(e), error);
  return 0;
}

void **optimBoundStepParams(OptimBoundStep *bound) {
  return bound->bound.getParamTable();
}
void **optimBoundStepGrads(OptimBoundStep *bound) {
  return bound->bound.getGradTable();
}
void **optimBoundStepStates(OptimBoundStep *bound) {
  return bound->bound.getStateTable();
}

int optimBoundStepRun(OptimBoundStep *bound, char **error) {
  if (llvm::Error e = bound->bound.step())
    return report(std::move(e), error);
  return 0;
}

int optimBoundStepRunCompiledOnly(OptimBoundStep *bound, char **error) {
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
  if (!o->cpu)
    return reportTarget(o, "optimSetNumThreads", error);
  if (llvm::Error e = o->cpu->setNumThreads(numThreads))
    return report(std::move(e), error);
  return 0;
}

int optimNumThreads(const OptimOptimizer *o) {
  return o->cpu ? o->cpu->getNumThreads() : 0;
}

OptimCodeOrigin optimCodeOrigin(const OptimOptimizer *o) {
  return o->cpu ? static_cast<OptimCodeOrigin>(o->cpu->getCodeOrigin())
                : OPTIM_CODE_COMPILED;
}

void optimGetCacheStats(OptimCacheStats *stats) {
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
