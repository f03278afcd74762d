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

struct OptimOptimizer {
  std::unique_ptr<Optimizer> optimizer;
};

/// Stores `error`'s message in `*out` (if requested) and returns 1.
static int report(llvm::Error error, char **out) {
  std::string message = llvm::toString(std::move(error));
  if (out)
    *out = strdup(message.c_str());
  return 1;
}

extern "C" {

OptimOptimizer *optimCompile(const char *source, size_t length,
                             const char *options, char **error) {
  if (!source) {
    report(llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "source is null"),
           error);
    return nullptr;
  }
  CompileOptions compileOptions;
  if (options)
    compileOptions.pipelineOptions = options;
  auto optimizer =
      Optimizer::compile(llvm::StringRef(source, length), compileOptions);
  if (!optimizer) {
    report(optimizer.takeError(), error);
    return nullptr;
  }
  return new OptimOptimizer{std::move(*optimizer)};
}

void optimDestroy(OptimOptimizer *optimizer) { delete optimizer; }
void optimFreeError(char *error) { std::free(error); }

int64_t optimNumParams(const OptimOptimizer *o) {
  return o->optimizer->getParams().size();
}
const char *optimParamName(const OptimOptimizer *o, int64_t param) {
  return o->optimizer->getParams()[param].name.c_str();
}
int64_t optimParamRank(const OptimOptimizer *o, int64_t param) {
  return o->optimizer->getParams()[param].shape.size();
}
void optimParamShape(const OptimOptimizer *o, int64_t param, int64_t *shape) {
  const auto &dims = o->optimizer->getParams()[param].shape;
  std::copy(dims.begin(), dims.end(), shape);
}
int64_t optimParamNumElements(const OptimOptimizer *o, int64_t param) {
  return o->optimizer->getParams()[param].numElements;
}
OptimDType optimParamDType(const OptimOptimizer *o, int64_t param) {
  return static_cast<OptimDType>(o->optimizer->getParams()[param].dtype);
}
int64_t optimParamGroup(const OptimOptimizer *o, int64_t param) {
  return o->optimizer->getParams()[param].group;
}
int optimParamIsSparse(const OptimOptimizer *o, int64_t param) {
  return o->optimizer->getParams()[param].sparse ? 1 : 0;
}
int64_t optimNumStates(const OptimOptimizer *o) {
  return o->optimizer->getStateNames().size();
}
const char *optimStateName(const OptimOptimizer *o, int64_t state) {
  return o->optimizer->getStateNames()[state].c_str();
}
int64_t optimNumGroups(const OptimOptimizer *o) {
  return o->optimizer->getNumGroups();
}

int optimInitStates(OptimOptimizer *o, void *const *states, char **error) {
  size_t count = o->optimizer->getParams().size() *
                 o->optimizer->getStateNames().size();
  if (llvm::Error e = o->optimizer->initStates(
          llvm::ArrayRef<void *>(const_cast<void **>(states), count)))
    return report(std::move(e), error);
  return 0;
}

/// The hyper-parameter accessors of both optimizer kinds (CPU, GPU).
extern "C++" {
template <typename OptimizerT>
static int setHyperParamOf(OptimizerT &optimizer, int64_t group,
                           const char *name, double value, char **error) {
  if (group < 0)
    return report(llvm::createStringError(llvm::inconvertibleErrorCode(),
                                          "negative group index"),
                  error);
  if (llvm::Error e = optimizer.setHyperParam(group, name, value))
    return report(std::move(e), error);
  return 0;
}

template <typename OptimizerT>
static int getHyperParamOf(const OptimizerT &optimizer, int64_t group,
                           const char *name, double *value, char **error) {
  if (group < 0)
    return report(llvm::createStringError(llvm::inconvertibleErrorCode(),
                                          "negative group index"),
                  error);
  auto result = optimizer.getHyperParam(group, name);
  if (!result)
    return report(result.takeError(), error);
  *value = *result;
  return 0;
}
} // extern "C++"

int optimSetHyperParam(OptimOptimizer *o, int64_t group, const char *name,
                       double value, char **error) {
  return setHyperParamOf(*o->optimizer, group, name, value, error);
}

int optimGetHyperParam(const OptimOptimizer *o, int64_t group,
                       const char *name, double *value, char **error) {
  return getHyperParamOf(*o->optimizer, group, name, value, error);
}

int64_t optimGlobalStep(const OptimOptimizer *o) {
  return o->optimizer->getGlobalStep();
}
void optimSetGlobalStep(OptimOptimizer *o, int64_t step) {
  o->optimizer->setGlobalStep(step);
}

int optimLearningRates(const OptimOptimizer *o, float *rates, char **error) {
  auto result = o->optimizer->getLearningRates();
  if (!result)
    return report(result.takeError(), error);
  std::copy(result->begin(), result->end(), rates);
  return 0;
}

int optimStep(OptimOptimizer *o, void *const *params, void *const *grads,
              void *const *states, char **error) {
  size_t numParams = o->optimizer->getParams().size();
  size_t numStates = o->optimizer->getStateNames().size();
  if (llvm::Error e = o->optimizer->step(
          llvm::ArrayRef<void *>(const_cast<void **>(params), numParams),
          llvm::ArrayRef<void *>(const_cast<void **>(grads), numParams),
          llvm::ArrayRef<void *>(const_cast<void **>(states),
                                 numParams * numStates)))
    return report(std::move(e), error);
  return 0;
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
    report(llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "optimizer is null"),
           error);
    return nullptr;
  }
  return new OptimBoundStep{BoundStep(*o->optimizer)};
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
  if (llvm::Error e = o->optimizer->setNumThreads(numThreads))
    return report(std::move(e), error);
  return 0;
}

int optimNumThreads(const OptimOptimizer *o) {
  return o->optimizer->getNumThreads();
}

OptimCodeOrigin optimCodeOrigin(const OptimOptimizer *o) {
  return static_cast<OptimCodeOrigin>(o->optimizer->getCodeOrigin());
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

//===----------------------------------------------------------------------===//
// GPU step (GPUOptimizer.h, docs/GPU.md)
//===----------------------------------------------------------------------===//

struct OptimGPUOptimizer {
  std::unique_ptr<GPUOptimizer> optimizer;
};

extern "C" {

OptimGPUOptimizer *optimGPUCompile(const char *source, size_t length,
                                   const char *chip, const char *options,
                                   char **error) {
  if (!source) {
    report(llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "source is null"),
           error);
    return nullptr;
  }
  GPUCompileOptions compileOptions;
  if (chip)
    compileOptions.chip = chip;
  if (options)
    compileOptions.pipelineOptions = options;
  auto optimizer =
      GPUOptimizer::compile(llvm::StringRef(source, length), compileOptions);
  if (!optimizer) {
    report(optimizer.takeError(), error);
    return nullptr;
  }
  return new OptimGPUOptimizer{std::move(*optimizer)};
}

void optimGPUDestroy(OptimGPUOptimizer *optimizer) { delete optimizer; }

int64_t optimGPUNumParams(const OptimGPUOptimizer *o) {
  return o->optimizer->getParams().size();
}
int64_t optimGPUNumStates(const OptimGPUOptimizer *o) {
  return o->optimizer->getStateNames().size();
}

int optimGPUSetHyperParam(OptimGPUOptimizer *o, int64_t group,
                          const char *name, double value, char **error) {
  return setHyperParamOf(*o->optimizer, group, name, value, error);
}

int optimGPUGetHyperParam(const OptimGPUOptimizer *o, int64_t group,
                          const char *name, double *value, char **error) {
  return getHyperParamOf(*o->optimizer, group, name, value, error);
}

int64_t optimGPUGlobalStep(const OptimGPUOptimizer *o) {
  return o->optimizer->getGlobalStep();
}
void optimGPUSetGlobalStep(OptimGPUOptimizer *o, int64_t step) {
  o->optimizer->setGlobalStep(step);
}

int optimGPULoad(OptimGPUOptimizer *o, int device, char **error) {
  if (llvm::Error e = o->optimizer->load(device))
    return report(std::move(e), error);
  return 0;
}

int optimGPUStep(OptimGPUOptimizer *o, void *const *params,
                 void *const *grads, void *const *states, void *stream,
                 char **error) {
  size_t numParams = o->optimizer->getParams().size();
  size_t numStates = o->optimizer->getStateNames().size();
  if ((numParams && (!params || !grads)) ||
      (numParams * numStates != 0 && !states))
    return report(llvm::createStringError(llvm::inconvertibleErrorCode(),
                                          "a pointer array is null"),
                  error);
  if (llvm::Error e = o->optimizer->step(
          llvm::ArrayRef<void *>(const_cast<void **>(params), numParams),
          llvm::ArrayRef<void *>(const_cast<void **>(grads), numParams),
          llvm::ArrayRef<void *>(const_cast<void **>(states),
                                 numParams * numStates),
          stream))
    return report(std::move(e), error);
  return 0;
}

} // extern "C"
