//===- Threads.cpp - the OpenMP threads a step runs on --------------------===//

#include "Threads.h"

#include "llvm/Support/DynamicLibrary.h"

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <string>

#include <sched.h>

using namespace optim::runtime;
using namespace optim::runtime::detail;

#ifndef OPTIM_OMP_LIBRARY
#define OPTIM_OMP_LIBRARY "libomp.so"
#endif

namespace {
/// The few libomp entry points the runtime calls. All of them act on the
/// calling thread's internal control variables.
struct OpenMPControls {
  void (*setNumThreads)(int) = nullptr;
  int (*getMaxThreads)() = nullptr;
  void (*setBlocktime)(int) = nullptr;
  int (*getBlocktime)() = nullptr;

  bool available() const {
    return setNumThreads && getMaxThreads && setBlocktime && getBlocktime;
  }
};

struct LoadedRuntime {
  std::string error;
  OpenMPControls controls;
};

const LoadedRuntime &getLoadedRuntime() {
  static const LoadedRuntime *loaded = [] {
    auto *result = new LoadedRuntime();
    std::string path = getOpenMPLibraryPath().str();
    // The same call the ExecutionEngine makes for its shared libraries:
    // dlopen(RTLD_GLOBAL), never closed.
    llvm::sys::DynamicLibrary library =
        llvm::sys::DynamicLibrary::getPermanentLibrary(path.c_str(),
                                                       &result->error);
    if (!library.isValid()) {
      if (result->error.empty())
        result->error = "cannot load the OpenMP runtime '" + path + "'";
      return result;
    }
    result->error.clear();
    auto lookup = [&](const char *name) {
      return library.getAddressOfSymbol(name);
    };
    OpenMPControls &c = result->controls;
    c.setNumThreads =
        reinterpret_cast<void (*)(int)>(lookup("omp_set_num_threads"));
    c.getMaxThreads =
        reinterpret_cast<int (*)()>(lookup("omp_get_max_threads"));
    c.setBlocktime =
        reinterpret_cast<void (*)(int)>(lookup("kmp_set_blocktime"));
    c.getBlocktime = reinterpret_cast<int (*)()>(lookup("kmp_get_blocktime"));
    return result;
  }();
  return *loaded;
}
} // namespace

llvm::StringRef detail::getOpenMPLibraryPath() {
  static const std::string path = [] {
    const char *override = std::getenv("OPTIM_OMP_LIBRARY");
    return std::string(override && *override ? override : OPTIM_OMP_LIBRARY);
  }();
  return path;
}

llvm::Error detail::loadOpenMPRuntime() {
  const LoadedRuntime &loaded = getLoadedRuntime();
  if (!loaded.error.empty())
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   loaded.error);
  return llvm::Error::success();
}

int detail::getAvailableCores() {
  static const int cores = [] {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) == 0)
      return std::max(1, CPU_COUNT(&set));
    return 1;
  }();
  return cores;
}

int detail::chooseStepThreads(int64_t elements, int requested,
                              int64_t chunkSize) {
  if (elements < kSerialStepElements)
    return 1;
  int64_t threads = getAvailableCores();
  if (requested > 0)
    threads = std::min<int64_t>(threads, requested);
  if (chunkSize > 0)
    threads =
        std::min<int64_t>(threads, std::max<int64_t>(1, elements / chunkSize));
  return static_cast<int>(threads);
}

StepThreadScope::StepThreadScope(int numThreads) {
  const OpenMPControls &c = getLoadedRuntime().controls;
  if (!c.available())
    return;
  savedThreads = c.getMaxThreads();
  savedBlocktime = c.getBlocktime();
  appliedThreads = numThreads;
  if (savedThreads != numThreads)
    c.setNumThreads(numThreads);
  if (savedBlocktime != 0)
    c.setBlocktime(0);
}

StepThreadScope::~StepThreadScope() {
  const OpenMPControls &c = getLoadedRuntime().controls;
  if (!c.available())
    return;
  // Workers read the blocktime when a region ends: restoring it now leaves
  // this step's workers asleep.
  if (savedBlocktime != 0)
    c.setBlocktime(savedBlocktime);
  if (savedThreads != appliedThreads)
    c.setNumThreads(savedThreads);
}
