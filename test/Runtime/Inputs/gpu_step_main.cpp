// The GPU step runtime (GPUOptimizer.h) and its C API on a machine without
// a GPU, against no driver or the recording fake driver (cuda_stub.c).
//
//   gpu_step_main nodriver FILE   compiles; every step reports the driver
//   gpu_step_main stub FILE       loads, copies and launches on the stub
//
// Output goes through printf only, so that it interleaves in order with the
// stub's own lines.

#include "optim/Runtime/CUDADriver.h"
#include "optim/Runtime/GPUOptimizer.h"
#include "optim/Runtime/optim-c.h"

#include "llvm/Support/MemoryBuffer.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

using namespace optim::runtime;

namespace {

void printError(const char *what, llvm::Error error) {
  std::printf("%s: error: %s\n", what,
              llvm::toString(std::move(error)).c_str());
}

template <typename T> T *stubFunction(const char *name) {
  // The runtime opens the driver with RTLD_GLOBAL.
  return reinterpret_cast<T *>(dlsym(RTLD_DEFAULT, name));
}

long stubCounter(const char *name) {
  auto *counter = stubFunction<long()>(name);
  return counter ? counter() : -1;
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

/// Fake, 256-byte aligned device pointers (the stub never dereferences the
/// buffers of a kernel it does not run).
struct Buffers {
  std::vector<void *> params, grads, states;
  Buffers(const GPUOptimizer &optimizer, std::uintptr_t base) {
    size_t numParams = optimizer.getParams().size();
    size_t numStates = optimizer.getStateNames().size();
    std::uintptr_t next = base;
    auto take = [&]() {
      next += 0x100;
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

  GPUCompileOptions options;
  options.chip = "sm_90";
  auto optimizer = GPUOptimizer::compile(source, options);
  if (!optimizer) {
    printError("compile", optimizer.takeError());
    return 1;
  }
  printPlan(**optimizer);
  Buffers buffers(**optimizer, 0x10000);
  if (llvm::Error error = (*optimizer)->step(buffers.params, buffers.grads,
                                             buffers.states, nullptr))
    printError("step", std::move(error));
  std::printf("loaded %d global step %lld\n", (*optimizer)->isLoaded(),
              static_cast<long long>((*optimizer)->getGlobalStep()));

  // The C API.
  char *error = nullptr;
  OptimGPUOptimizer *c =
      optimGPUCompile(source.data(), source.size(), "sm_90", nullptr, &error);
  if (!c) {
    std::printf("optimGPUCompile: %s\n", error);
    optimFreeError(error);
    return 1;
  }
  std::printf("optimGPUCompile: params %lld states %lld\n",
              static_cast<long long>(optimGPUNumParams(c)),
              static_cast<long long>(optimGPUNumStates(c)));
  int status = optimGPUStep(c, buffers.params.data(), buffers.grads.data(),
                            buffers.states.data(), nullptr, &error);
  std::printf("optimGPUStep: %d %s\n", status, status ? error : "");
  optimFreeError(error);
  optimGPUDestroy(c);
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
      std::printf("  step %llu\n", param(index, offset));
      offset += 1;
      continue;
    }
    unsigned long long pointer = param(index, offset);
    unsigned long long size = param(index, offset + 3);
    bool wellFormed = param(index, offset + 1) == pointer &&
                      param(index, offset + 2) == 0 &&
                      param(index, offset + 4) == 1;
    if (argument == numTables) {
      const float *table =
          reinterpret_cast<const float *>(static_cast<uintptr_t>(pointer));
      std::printf("  hyper table: size %llu descriptor %d values", size,
                  wellFormed);
      for (unsigned long long i = 0; i < size; ++i)
        std::printf(" %g", static_cast<double>(table[i]));
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
  auto optimizer = GPUOptimizer::compile(source, {});
  if (!optimizer) {
    printError("compile", optimizer.takeError());
    return 1;
  }
  printPlan(**optimizer);
  GPUOptimizer &o = **optimizer;

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
  std::printf("loaded %d global step %lld\n", o.isLoaded(),
              static_cast<long long>(o.getGlobalStep()));
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
  for (size_t k = 0; k < o.getLaunches().size(); ++k)
    checkLaunch(o, static_cast<long>(k), o.getLaunches()[k], buffers);

  // A new hyper-parameter value and new buffers reach the device at the
  // next step; the module stays loaded.
  if (llvm::Error error = o.setHyperParam(1, "beta1", 0.5))
    printError("set beta1", std::move(error));
  if (llvm::Error error = o.setHyperParam(0, "learning_rate", 0.5))
    printError("set learning_rate", std::move(error));
  auto beta1 = o.getHyperParam(1, "beta1");
  if (beta1)
    std::printf("beta1 of group 1: %g\n", *beta1);
  else
    printError("get beta1", beta1.takeError());
  Buffers moved(o, 0x7e0000000000);
  if (llvm::Error error =
          o.step(moved.params, moved.grads, moved.states, *stream)) {
    printError("step 2", std::move(error));
    return 1;
  }
  printCounters("after step 2");
  size_t numLaunches = o.getLaunches().size();
  for (size_t k = 0; k < numLaunches; ++k)
    checkLaunch(o, static_cast<long>(numLaunches + k), o.getLaunches()[k],
                moved);
  std::printf("global step %lld\n", static_cast<long long>(o.getGlobalStep()));
  if (llvm::Error error = o.load(0))
    printError("load again", std::move(error));

  // The C API, the chip from the device.
  char *error = nullptr;
  OptimGPUOptimizer *c =
      optimGPUCompile(source.data(), source.size(), nullptr, nullptr, &error);
  if (!c) {
    std::printf("optimGPUCompile: %s\n", error);
    optimFreeError(error);
    return 1;
  }
  int status = optimGPUSetHyperParam(c, 0, "nonsense", 1.0, &error);
  std::printf("optimGPUSetHyperParam: %d %s\n", status, status ? error : "");
  optimFreeError(error);
  error = nullptr;
  status = optimGPUStep(c, buffers.params.data(), misaligned.data(),
                        buffers.states.data(), *stream, &error);
  std::printf("optimGPUStep misaligned: %d %s\n", status, status ? error : "");
  optimFreeError(error);
  error = nullptr;
  status = optimGPUStep(c, buffers.params.data(), buffers.grads.data(),
                        buffers.states.data(), *stream, &error);
  std::printf("optimGPUStep: %d global step %lld\n", status,
              static_cast<long long>(optimGPUGlobalStep(c)));
  optimFreeError(error);
  optimGPUDestroy(c);

  optimizer->reset();
  llvm::consumeError(driver->destroyStream(*context, *stream));
  std::printf("live: modules %ld allocations %ld streams %ld\n",
              stubCounter("optimStubLiveModules"),
              stubCounter("optimStubLiveAllocations"),
              stubCounter("optimStubLiveStreams"));
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  if (argc != 3) {
    std::printf("usage: gpu_step_main nodriver|stub FILE\n");
    return 2;
  }
  std::string source = readSource(argv[2]);
  if (source.empty())
    return 1;
  if (std::strcmp(argv[1], "nodriver") == 0)
    return runNoDriver(source);
  if (std::strcmp(argv[1], "stub") == 0)
    return runStub(source);
  std::printf("unknown mode %s\n", argv[1]);
  return 2;
}
