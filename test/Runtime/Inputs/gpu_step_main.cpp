// The GPU step runtime (GPUOptimizer.h) and its C API on a machine without
// a GPU, against no driver or the recording fake driver (cuda_stub.c).
//
//   gpu_step_main nodriver FILE   compiles; every step reports the driver
//   gpu_step_main stub FILE       loads, copies and launches on the stub
//   gpu_step_main amp FILE        a step with clipping and dynamic loss
//                                 scaling: its status buffer on the device
//   gpu_step_main mixed FILE      mixed precision: per-state dtypes, the
//                                 masters filled from the parameters, every
//                                 buffer in the table of its dtype
//
// Output goes through printf only, so that it interleaves in order with the
// stub's own lines.

#include "optim/Runtime/CUDADriver.h"
#include "optim/Runtime/GPUOptimizer.h"
#include "optim/Runtime/optim-c.h"

#include "gpu_stub_support.h"

#include "llvm/Support/MemoryBuffer.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

using namespace optim::runtime;
using namespace gpu_stub_support;

namespace {

void printError(const char *what, llvm::Error error) {
  std::printf("%s: error: %s\n", what,
              llvm::toString(std::move(error)).c_str());
}

void printCounters(const char *when) {
  std::printf("%s: modules %ld allocations %ld launches %ld copies %ld\n",
              when, stubCounter("optimStubLiveModules"),
              stubCounter("optimStubLiveAllocations"),
              stubCounter("optimStubLaunches"),
              stubCounter("optimStubHtoDCopies"));
}

void printPlan(const GPUOptimizer &optimizer) {
  std::printf("chip %s tables %u hyper %u\n", optimizer.getChip().str().c_str(),
              optimizer.getNumTables(), optimizer.getHyperTableSize());
  for (unsigned t = 0; t < optimizer.getNumTables(); ++t)
    std::printf("table %u entries %u\n", t, optimizer.getNumTableEntries(t));
  for (const GPUKernelLaunch &launch : optimizer.getLaunches()) {
    std::printf("kernel %s grid %ux%ux%u block %ux%ux%u params %u args",
                launch.name.c_str(), launch.grid[0], launch.grid[1],
                launch.grid[2], launch.block[0], launch.block[1],
                launch.block[2], launch.numParams);
    for (unsigned argument : launch.arguments)
      std::printf(" %u", argument);
    std::printf("\n");
    std::string entry = ".entry " + launch.name + "(";
    std::printf("image has %s: %d\n", entry.c_str(),
                optimizer.getImage().contains(entry) ? 1 : 0);
  }
}

/// Compiles `source` for `chip` (empty: the device's) and prints its plan;
/// null, after printing why, when it does not compile.
std::unique_ptr<GPUOptimizer> compileAndPrintPlan(const std::string &source,
                                                  const std::string &chip) {
  GPUCompileOptions options;
  options.chip = chip;
  auto optimizer = GPUOptimizer::compile(source, options);
  if (!optimizer) {
    printError("compile", optimizer.takeError());
    return nullptr;
  }
  printPlan(**optimizer);
  return std::move(*optimizer);
}

/// Fake, 256-byte aligned device pointers (the stub never dereferences the
/// buffers of a kernel it does not run).
struct Buffers {
  std::vector<void *> params, grads, states;
  Buffers(const GPUOptimizer &optimizer, std::uintptr_t base) {
    size_t numParams = optimizer.getParams().size();
    size_t numStates = optimizer.getStateNames().size();
    std::uintptr_t next = base;
    // 1 MiB apart: larger than any buffer of the tests, so that none
    // overlaps another (the runtime refuses overlapping buffers).
    auto take = [&]() {
      next += 0x100000;
      return reinterpret_cast<void *>(next);
    };
    for (size_t p = 0; p < numParams; ++p) {
      params.push_back(take());
      grads.push_back(take());
    }
    for (size_t s = 0; s < numParams * numStates; ++s)
      states.push_back(take());
  }
};

std::string readSource(const char *path) {
  auto buffer = llvm::MemoryBuffer::getFile(path);
  if (!buffer) {
    std::printf("cannot read %s\n", path);
    return "";
  }
  return (*buffer)->getBuffer().str();
}

int runNoDriver(const std::string &source) {
  auto noChip = GPUOptimizer::compile(source, {});
  if (!noChip)
    printError("compile without a chip", noChip.takeError());
  else
    std::printf("compile without a chip: unexpected success\n");

  std::unique_ptr<GPUOptimizer> optimizer =
      compileAndPrintPlan(source, "sm_90");
  if (!optimizer)
    return 1;
  Buffers buffers(*optimizer, 0x10000);
  if (llvm::Error error = optimizer->step(buffers.params, buffers.grads,
                                          buffers.states, nullptr))
    printError("step", std::move(error));
  std::printf("loaded %d global step %lld\n", optimizer->isLoaded(),
              static_cast<long long>(cantFail(optimizer->getGlobalStep())));
  if (llvm::Error error = optimizer->initStates(buffers.states, nullptr))
    printError("init states", std::move(error));

  // The C API: one handle type, the target chosen at compile time.
  char *error = nullptr;
  OptimOptimizer *c = optimCompileForTarget(
      source.data(), source.size(), OPTIM_TARGET_CUDA, "chip=sm_90", &error);
  if (!c) {
    std::printf("optimCompileForTarget: %s\n", error);
    optimFreeError(error);
    return 1;
  }
  std::printf("optimCompileForTarget: target %d params %lld states %lld "
              "threads %d\n",
              static_cast<int>(optimGetTarget(c)),
              static_cast<long long>(optimNumParams(c)),
              static_cast<long long>(optimNumStates(c)), optimNumThreads(c));
  int status = optimStepOnStream(c, buffers.params.data(), buffers.grads.data(),
                                 buffers.states.data(), nullptr, &error);
  std::printf("optimStepOnStream: %d %s\n", status, status ? error : "");
  optimFreeError(error);
  error = nullptr;
  status = optimLoad(c, 0, &error);
  std::printf("optimLoad: %d %s\n", status, status ? error : "");
  optimFreeError(error);
  error = nullptr;
  double rates[2];
  status = optimLearningRates(c, rates, 2, &error);
  std::printf("optimLearningRates: %d %s\n", status, status ? error : "");
  optimFreeError(error);
  error = nullptr;
  OptimBoundStep *bound = optimBoundStepCreate(c, &error);
  std::printf("optimBoundStepCreate: %s %s\n", bound ? "bound" : "null",
              bound ? "" : error);
  optimFreeError(error);
  error = nullptr;
  optimDestroy(c);

  // A CPU optimizer takes no stream.
  OptimOptimizer *cpu = optimCompileForTarget(
      source.data(), source.size(), OPTIM_TARGET_CPU, nullptr, &error);
  if (!cpu) {
    std::printf("cpu: %s\n", error);
    optimFreeError(error);
    return 1;
  }
  void *fakeStream = reinterpret_cast<void *>(0x10);
  status = optimStepOnStream(cpu, buffers.params.data(), buffers.grads.data(),
                             buffers.states.data(), fakeStream, &error);
  std::printf("cpu optimStepOnStream: target %d status %d %s\n",
              static_cast<int>(optimGetTarget(cpu)), status,
              status ? error : "");
  optimFreeError(error);
  error = nullptr;
  status = optimLoad(cpu, 0, &error);
  std::printf("cpu optimLoad: %d %s\n", status, status ? error : "");
  optimFreeError(error);
  optimDestroy(cpu);
  error = nullptr;
  OptimOptimizer *bad = optimCompileForTarget(
      source.data(), source.size(), static_cast<OptimTarget>(7), nullptr,
      &error);
  std::printf("target 7: %s %s\n", bad ? "compiled" : "null",
              bad ? "" : error);
  optimFreeError(error);
  return 0;
}

/// Checks launch `index` of the stub against `launch` of the plan, and the
/// descriptors of buffer tables it passes against `buffers`.
void checkLaunch(const GPUOptimizer &optimizer, long index,
                 const GPUKernelLaunch &launch, const Buffers &buffers) {
  auto *name = stubFunction<const char *(long)>("optimStubLaunchName");
  auto *gridX = stubFunction<unsigned(long)>("optimStubLaunchGridX");
  auto *blockX = stubFunction<unsigned(long)>("optimStubLaunchBlockX");
  auto *numParams = stubFunction<int(long)>("optimStubLaunchNumParams");
  auto *param =
      stubFunction<unsigned long long(long, int)>("optimStubLaunchParam");
  const char *launched = name(index);
  std::printf("launch %ld: %s grid %u block %u params %d; plan: grid %u "
              "block %u params %u; same %d\n",
              index, launched ? launched : "(none)", gridX(index),
              blockX(index), numParams(index), launch.grid[0],
              launch.block[0], launch.numParams,
              launched && launch.name == launched &&
                  gridX(index) == launch.grid[0] &&
                  blockX(index) == launch.block[0] &&
                  numParams(index) == static_cast<int>(launch.numParams));

  unsigned numTables = optimizer.getNumTables();
  size_t numStates = optimizer.getStateNames().size();
  int offset = 0;
  for (unsigned argument : launch.arguments) {
    if (argument == numTables + 1) {
      // The step counter: a memref<1xi64> in (stub) device memory.
      unsigned long long pointer = param(index, offset);
      const auto *counter =
          reinterpret_cast<const std::int64_t *>(static_cast<uintptr_t>(pointer));
      std::printf("  step counter: descriptor %d value %lld\n",
                  param(index, offset + 1) == pointer &&
                      param(index, offset + 2) == 0 &&
                      param(index, offset + 3) == 1 &&
                      param(index, offset + 4) == 1,
                  static_cast<long long>(*counter));
      offset += 5;
      continue;
    }
    unsigned long long pointer = param(index, offset);
    unsigned long long size = param(index, offset + 3);
    bool wellFormed = param(index, offset + 1) == pointer &&
                      param(index, offset + 2) == 0 &&
                      param(index, offset + 4) == 1;
    if (argument == numTables) {
      const double *table =
          reinterpret_cast<const double *>(static_cast<uintptr_t>(pointer));
      std::printf("  hyper table: size %llu descriptor %d values", size,
                  wellFormed);
      for (unsigned long long i = 0; i < size; ++i)
        std::printf(" %g", table[i]);
      std::printf("\n");
    } else {
      // The table of one element type: the parameters of that type in
      // order, each (param, grad, states...).
      struct Descriptor {
        std::uint64_t allocated, aligned;
        std::int64_t offset, size, stride;
      };
      const auto *entries = reinterpret_cast<const Descriptor *>(
          static_cast<uintptr_t>(pointer));
      std::vector<unsigned> usedTypes;
      for (const ParamInfo &info : optimizer.getParams())
        if (std::find(usedTypes.begin(), usedTypes.end(),
                      static_cast<unsigned>(info.dtype)) == usedTypes.end())
          usedTypes.push_back(static_cast<unsigned>(info.dtype));
      std::sort(usedTypes.begin(), usedTypes.end());
      unsigned long long entry = 0;
      bool match = true;
      for (size_t p = 0; p < optimizer.getParams().size(); ++p) {
        const ParamInfo &info = optimizer.getParams()[p];
        if (usedTypes[argument] != static_cast<unsigned>(info.dtype))
          continue;
        for (size_t b = 0; b < 2 + numStates; ++b, ++entry) {
          void *expected = b == 0   ? buffers.params[p]
                           : b == 1 ? buffers.grads[p]
                                    : buffers.states[p * numStates + b - 2];
          auto address = static_cast<std::uint64_t>(
              reinterpret_cast<uintptr_t>(expected));
          const Descriptor &d = entries[entry];
          match &= d.allocated == address && d.aligned == address &&
                   d.offset == 0 && d.size == info.numElements &&
                   d.stride == 1;
        }
      }
      std::printf("  table %u: entries %llu descriptor %d bytes %llu "
                  "pointers match %d\n",
                  argument, size, wellFormed,
                  size * static_cast<unsigned long long>(sizeof(Descriptor)),
                  match && entry == size);
    }
    offset += 5;
  }
}

int runStub(const std::string &source) {
  std::unique_ptr<GPUOptimizer> optimizer = compileAndPrintPlan(source, "");
  if (!optimizer)
    return 1;
  GPUOptimizer &o = *optimizer;

  // Bad arguments fail before anything is loaded, copied or launched.
  Buffers buffers(o, 0x7f0000000000);
  std::vector<void *> shortStates(buffers.states.begin(),
                                  buffers.states.end() - 1);
  if (llvm::Error error =
          o.step(buffers.params, buffers.grads, shortStates, nullptr))
    printError("too few states", std::move(error));
  std::vector<void *> misaligned = buffers.grads;
  misaligned[1] = static_cast<char *>(misaligned[1]) + 8;
  if (llvm::Error error =
          o.step(buffers.params, misaligned, buffers.states, nullptr))
    printError("misaligned", std::move(error));
  std::vector<void *> null = buffers.states;
  null.back() = nullptr;
  if (llvm::Error error = o.step(buffers.params, buffers.grads, null, nullptr))
    printError("null", std::move(error));
  if (llvm::Error error = o.setGlobalStep(-1))
    printError("negative step", std::move(error));
  // Before loading, the step is kept on the host.
  if (llvm::Error error = o.setGlobalStep(5))
    printError("set step", std::move(error));
  std::printf("loaded %d global step %lld\n", o.isLoaded(),
              static_cast<long long>(cantFail(o.getGlobalStep())));
  printCounters("after the bad steps");

  auto driver = cuda::Driver::get();
  if (!driver) {
    printError("driver", driver.takeError());
    return 1;
  }
  auto context = driver->getPrimaryContext(0);
  if (!context) {
    printError("context", context.takeError());
    return 1;
  }
  auto stream = driver->createStream(*context);
  if (!stream) {
    printError("stream", stream.takeError());
    return 1;
  }

  std::printf("-- step 1\n");
  if (llvm::Error error =
          o.step(buffers.params, buffers.grads, buffers.states, *stream)) {
    printError("step 1", std::move(error));
    return 1;
  }
  printCounters("after step 1");
  auto *lastImage = stubFunction<const char *()>("optimStubLastImage");
  const char *image = lastImage ? lastImage() : nullptr;
  std::printf("loaded image is the compiled one: %d\n",
              image && o.getImage() == image);
  size_t numLaunches = o.getLaunches().size();
  for (size_t k = 0; k < numLaunches; ++k)
    checkLaunch(o, static_cast<long>(k), o.getLaunches()[k], buffers);

  // A new hyper-parameter value goes to the device at once, on the stream
  // of the latest step; an unknown name changes nothing.
  std::printf("-- set beta1\n");
  if (llvm::Error error = o.setHyperParam(1, "beta1", 0.5))
    printError("set beta1", std::move(error));
  if (llvm::Error error = o.setHyperParam(0, "learning_rate", 0.5))
    printError("set learning_rate", std::move(error));
  std::printf("beta1 of group 1: %g\n", cantFail(o.getHyperParam(1, "beta1")));

  // The same buffers: the step is the launches alone.
  std::printf("-- step 2\n");
  if (llvm::Error error =
          o.step(buffers.params, buffers.grads, buffers.states, *stream)) {
    printError("step 2", std::move(error));
    return 1;
  }
  printCounters("after step 2");
  checkLaunch(o, static_cast<long>(numLaunches + 1), o.getLaunches()[1],
              buffers);

  // Stream capture: the same buffers are captured (launches only); moved
  // buffers would need a table copy a graph cannot replay: an error.
  auto *setCapturing = stubFunction<void(int)>("optimStubSetCapturing");
  Buffers moved(o, 0x7e0000000000);
  std::printf("-- capture\n");
  setCapturing(1);
  if (llvm::Error error =
          o.step(buffers.params, buffers.grads, buffers.states, *stream))
    printError("captured step", std::move(error));
  if (llvm::Error error =
          o.step(moved.params, moved.grads, moved.states, *stream))
    printError("captured step with moved buffers", std::move(error));
  setCapturing(0);
  printCounters("after capture");

  // Moved buffers outside a capture: the table is copied again.
  std::printf("-- step 4\n");
  if (llvm::Error error =
          o.step(moved.params, moved.grads, moved.states, *stream)) {
    printError("step 4", std::move(error));
    return 1;
  }
  printCounters("after step 4");
  checkLaunch(o, static_cast<long>(3 * numLaunches), o.getLaunches()[0],
              moved);

  // The global step lives on the device (the stub runs no kernel, so it
  // stays where it was set).
  std::printf("-- global step\n");
  std::printf("global step %lld\n",
              static_cast<long long>(cantFail(o.getGlobalStep())));
  if (llvm::Error error = o.setGlobalStep(7))
    printError("set step", std::move(error));
  std::printf("global step %lld\n",
              static_cast<long long>(cantFail(o.getGlobalStep())));
  if (llvm::Error error = o.load(0))
    printError("load again", std::move(error));

  // States filled on the device: the stub's device memory is host memory.
  std::printf("-- init states\n");
  size_t numStates = o.getStateNames().size();
  std::vector<std::vector<float>> stateData;
  std::vector<void *> statePointers;
  for (size_t p = 0; p < o.getParams().size(); ++p)
    for (size_t k = 0; k < numStates; ++k) {
      stateData.emplace_back(o.getParams()[p].numElements + 4, -3.0f);
      auto address = reinterpret_cast<std::uintptr_t>(stateData.back().data());
      // 16-byte aligned inside the vector (the padding covers the shift).
      statePointers.push_back(
          reinterpret_cast<void *>((address + 15) & ~std::uintptr_t(15)));
    }
  if (llvm::Error error = o.initStates(statePointers, *stream))
    printError("init states", std::move(error));
  bool filled = true;
  for (size_t i = 0; i < statePointers.size(); ++i) {
    const float *data = static_cast<const float *>(statePointers[i]);
    size_t p = i / numStates, k = i % numStates;
    for (int64_t e = 0; e < o.getParams()[p].numElements; ++e)
      filled &= data[e] == static_cast<float>(o.getStateInitValue(p, k));
  }
  std::printf("states filled with their initial values: %d\n", filled);

  // The C API, the chip from the device.
  std::printf("-- C API\n");
  char *error = nullptr;
  OptimOptimizer *c = optimCompileForTarget(source.data(), source.size(),
                                            OPTIM_TARGET_CUDA, nullptr, &error);
  if (!c) {
    std::printf("optimCompileForTarget: %s\n", error);
    optimFreeError(error);
    return 1;
  }
  int status = optimSetHyperParam(c, 0, "nonsense", 1.0, &error);
  std::printf("optimSetHyperParam: %d %s\n", status, status ? error : "");
  optimFreeError(error);
  error = nullptr;
  status = optimStepOnStream(c, buffers.params.data(), misaligned.data(),
                             buffers.states.data(), *stream, &error);
  std::printf("optimStepOnStream misaligned: %d %s\n", status,
              status ? error : "");
  optimFreeError(error);
  error = nullptr;
  status = optimStepOnStream(c, buffers.params.data(), buffers.grads.data(),
                             buffers.states.data(), *stream, &error);
  std::printf("optimStepOnStream: %d\n", status);
  status = optimSetGlobalStep(c, 11, &error);
  int64_t step = -1;
  int read = optimGetGlobalStep(c, &step, &error);
  std::printf("optimSetGlobalStep: %d optimGetGlobalStep: %d step %lld "
              "optimGlobalStep %lld\n",
              status, read, static_cast<long long>(step),
              static_cast<long long>(optimGlobalStep(c)));
  optimDestroy(c);

  optimizer.reset();
  llvm::consumeError(driver->destroyStream(*context, *stream));
  std::printf("live: modules %ld allocations %ld streams %ld\n",
              stubCounter("optimStubLiveModules"),
              stubCounter("optimStubLiveAllocations"),
              stubCounter("optimStubLiveStreams"));
  return 0;
}

void printStatus(const char *when, GPUOptimizer &o) {
  auto status = o.getStepStatus();
  if (!status) {
    printError(when, status.takeError());
    return;
  }
  std::printf("%s: loss scale %g good steps %lld found inf %d norm %g clip "
              "%g\n",
              when, status->lossScale,
              static_cast<long long>(status->goodSteps), status->foundInf,
              status->gradNorm, status->clipFactor);
}

/// Clipping and dynamic loss scaling: the status buffer is a step argument
/// between the hyper-parameter table and the step counter, allocated and
/// filled on the device at load, read back and restored through copies.
int runAmp(const std::string &source) {
  std::unique_ptr<GPUOptimizer> optimizer =
      compileAndPrintPlan(source, "sm_90");
  if (!optimizer)
    return 1;
  GPUOptimizer &o = *optimizer;
  std::printf("has status %d\n", o.hasStepStatus());
  printStatus("before loading", o);
  if (llvm::Error error = o.setLossScaleState(-1.0, 0))
    printError("negative scale", std::move(error));
  if (llvm::Error error = o.load(0)) {
    printError("load", std::move(error));
    return 1;
  }
  printCounters("loaded");
  printStatus("loaded", o);
  if (llvm::Error error = o.setLossScaleState(4096.0, 7))
    printError("restore", std::move(error));
  printStatus("restored", o);
  Buffers buffers(o, 0x7f0000000000);
  if (llvm::Error error =
          o.step(buffers.params, buffers.grads, buffers.states, nullptr))
    printError("step", std::move(error));
  printCounters("stepped");
  return 0;
}

/// Mixed precision (docs/Mixed-precision.md): each state has its own dtype,
/// the masters start from the parameters, and each buffer is an entry of
/// the table of its own dtype. The stub's device memory is host memory, so
/// the fills and the tables the kernels receive are read back here.
int runMixed(const std::string &source) {
  std::unique_ptr<GPUOptimizer> optimizer =
      compileAndPrintPlan(source, "sm_90");
  if (!optimizer)
    return 1;
  GPUOptimizer &o = *optimizer;
  llvm::ArrayRef<ParamInfo> infos = o.getParams();
  size_t numParams = infos.size(), numStates = o.getStateNames().size();
  std::printf("master weights %d states", o.hasMasterWeights());
  for (const std::string &name : o.getStateNames())
    std::printf(" %s", name.c_str());
  std::printf("\n");
  for (size_t p = 0; p < numParams; ++p) {
    std::printf("%s %s master %d:", infos[p].name.c_str(),
                dtypeName(infos[p].dtype), infos[p].hasMaster);
    for (size_t k = 0; k < numStates; ++k)
      std::printf(" %s[%lld]", dtypeName(o.getStateDType(p, k)),
                  static_cast<long long>(infos[p].stateNumElements[k]));
    std::printf("\n");
  }

  // Every buffer in (stub) device memory, 16-byte aligned, followed by a
  // guard of 16 bytes that nothing may write. A state of no elements gets
  // no buffer.
  std::vector<std::vector<unsigned char>> storage;
  auto allocate = [&](size_t bytes, unsigned char fill) -> void * {
    if (bytes == 0)
      return nullptr;
    storage.emplace_back(bytes + 48, fill);
    auto address = reinterpret_cast<std::uintptr_t>(storage.back().data());
    return reinterpret_cast<void *>((address + 15) & ~std::uintptr_t(15));
  };
  std::vector<void *> params, grads, states;
  std::map<void *, std::string> names;
  for (size_t p = 0; p < numParams; ++p) {
    size_t bytes = infos[p].numElements * getElementSize(infos[p].dtype);
    params.push_back(allocate(bytes, 0));
    names[params.back()] = infos[p].name + ".param";
    // Parameter values: element i is i + 1 (exact in every dtype here).
    for (int64_t i = 0; i < infos[p].numElements; ++i) {
      float value = static_cast<float>(i + 1);
      std::uint32_t bits;
      std::memcpy(&bits, &value, 4);
      if (infos[p].dtype == DType::F32) {
        std::memcpy(static_cast<char *>(params.back()) + 4 * i, &bits, 4);
      } else {
        std::uint16_t half =
            infos[p].dtype == DType::BF16
                ? static_cast<std::uint16_t>(bits >> 16)
                : static_cast<std::uint16_t>(
                      (((bits >> 23) & 0xff) - 112) << 10 |
                      ((bits >> 13) & 0x3ff));
        std::memcpy(static_cast<char *>(params.back()) + 2 * i, &half, 2);
      }
    }
    grads.push_back(allocate(bytes, 0));
    names[grads.back()] = infos[p].name + ".grad";
    for (size_t k = 0; k < numStates; ++k) {
      states.push_back(allocate(infos[p].stateNumElements[k] *
                                    getElementSize(o.getStateDType(p, k)),
                                0xAB));
      if (states.back())
        names[states.back()] = infos[p].name + "." + o.getStateNames()[k];
    }
  }

  std::printf("-- init states\n");
  if (llvm::Error error = o.initStates(states, nullptr))
    printError("init states without the parameters", std::move(error));
  std::vector<void *> nullParams = params;
  nullParams[0] = nullptr;
  if (llvm::Error error = o.initStatesFromParams(nullParams, states, nullptr))
    printError("init states with a null parameter", std::move(error));
  if (llvm::Error error = o.initStatesFromParams(
          llvm::ArrayRef<void *>(params).drop_back(), states, nullptr))
    printError("init states with too few parameters", std::move(error));
  if (llvm::Error error = o.initStatesFromParams(params, states, nullptr)) {
    printError("init states", std::move(error));
    return 1;
  }
  // Moments 0 in their dtype, masters the parameters' values in f32, and
  // nothing written past a buffer's end.
  for (size_t p = 0; p < numParams; ++p) {
    std::printf("filled %s:", infos[p].name.c_str());
    for (size_t k = 0; k < numStates; ++k) {
      const auto *data =
          static_cast<const unsigned char *>(states[p * numStates + k]);
      if (!data) {
        std::printf(" none");
        continue;
      }
      size_t bytes = infos[p].stateNumElements[k] *
                     getElementSize(o.getStateDType(p, k));
      bool right = true;
      for (int64_t i = 0; i < infos[p].stateNumElements[k]; ++i) {
        if (o.getStateNames()[k] == "master") {
          float value;
          std::memcpy(&value, data + 4 * i, 4);
          right &= value == static_cast<float>(i + 1);
        }
      }
      if (o.getStateNames()[k] != "master")
        for (size_t i = 0; i < bytes; ++i)
          right &= data[i] == 0;
      bool guard = true;
      for (size_t i = bytes; i < bytes + 16; ++i)
        guard &= data[i] == 0xAB;
      std::printf(" %s %d guard %d", o.getStateNames()[k].c_str(), right,
                  guard);
    }
    std::printf("\n");
  }

  // A step: the tables the kernels receive hold every buffer with its size.
  std::printf("-- step\n");
  if (llvm::Error error = o.step(params, grads, states, nullptr)) {
    printError("step", std::move(error));
    return 1;
  }
  auto *param =
      stubFunction<unsigned long long(long, int)>("optimStubLaunchParam");
  struct Descriptor {
    std::uint64_t allocated, aligned;
    std::int64_t offset, size, stride;
  };
  std::vector<bool> printed(o.getNumTables(), false);
  for (size_t k = 0; k < o.getLaunches().size(); ++k) {
    int offset = 0;
    for (unsigned argument : o.getLaunches()[k].arguments) {
      long index = static_cast<long>(k);
      if (argument < o.getNumTables() && !printed[argument]) {
        printed[argument] = true;
        unsigned long long pointer = param(index, offset);
        unsigned long long size = param(index, offset + 3);
        const auto *entries = reinterpret_cast<const Descriptor *>(
            static_cast<uintptr_t>(pointer));
        std::printf("table %u (%llu entries):", argument, size);
        for (unsigned long long e = 0; e < size; ++e) {
          const Descriptor &d = entries[e];
          auto it = names.find(reinterpret_cast<void *>(d.aligned));
          bool wellFormed =
              d.allocated == d.aligned && d.offset == 0 && d.stride == 1;
          std::printf(" %s[%lld]%s",
                      it == names.end() ? "unknown" : it->second.c_str(),
                      static_cast<long long>(d.size), wellFormed ? "" : "!");
        }
        std::printf("\n");
      }
      offset += 5;
    }
  }

  // A null buffer only for a state of no elements.
  std::vector<void *> nullMoment = states;
  nullMoment[0] = nullptr;
  if (llvm::Error error = o.step(params, grads, nullMoment, nullptr))
    printError("step with a null moment", std::move(error));
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  if (argc != 3) {
    std::printf("usage: gpu_step_main nodriver|stub|amp|mixed FILE\n");
    return 2;
  }
  std::string source = readSource(argv[2]);
  if (source.empty())
    return 1;
  if (std::strcmp(argv[1], "nodriver") == 0)
    return runNoDriver(source);
  if (std::strcmp(argv[1], "stub") == 0)
    return runStub(source);
  if (std::strcmp(argv[1], "amp") == 0)
    return runAmp(source);
  if (std::strcmp(argv[1], "mixed") == 0)
    return runMixed(source);
  std::printf("unknown mode %s\n", argv[1]);
  return 2;
}
