//===- Threads.h - the OpenMP threads a step runs on ------------*- C++ -*-===//
//
// JIT'd steps run their parallel loop through LLVM's OpenMP runtime
// (libomp). These helpers load it, choose how many threads a step uses and
// set the calling thread's OpenMP controls for the duration of one step.
// See docs/Threads-and-caches.md.
//
//===----------------------------------------------------------------------===//

#ifndef OPTIM_LIB_RUNTIME_THREADS_H
#define OPTIM_LIB_RUNTIME_THREADS_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>

namespace optim::runtime::detail {

/// Below this many elements a step runs on the calling thread alone: waking
/// sleeping workers (20 to 100 us) would cost more than they save.
constexpr int64_t kSerialStepElements = int64_t(256) * 1024;

/// The path of the OpenMP runtime that JIT'd code links against:
/// $OPTIM_OMP_LIBRARY, else the libomp found at build time.
llvm::StringRef getOpenMPLibraryPath();

/// Loads the OpenMP runtime into the process (once; later calls return the
/// first result) so that JIT'd code resolves `__kmpc_*` against it.
llvm::Error loadOpenMPRuntime();

/// The number of cores this process may run on (its CPU affinity mask),
/// at least 1. Read once per process.
int getAvailableCores();

/// The OpenMP threads of a step over `elements` elements: 1 below
/// kSerialStepElements; else `requested` (0: getAvailableCores()), never
/// more than the available cores, nor more threads than chunks of
/// `chunkSize` elements.
int chooseStepThreads(int64_t elements, int requested, int64_t chunkSize);

/// For its lifetime, the calling thread's OpenMP regions use `numThreads`
/// threads and their workers sleep as soon as a region ends (libomp's
/// blocktime 0). Both controls are per-thread settings of libomp; the
/// previous values are restored on destruction, so code that uses the same
/// libomp elsewhere on this thread keeps its own settings. A no-op when the
/// runtime lacks the controls (an OpenMP runtime other than libomp).
class StepThreadScope {
public:
  explicit StepThreadScope(int numThreads);
  ~StepThreadScope();
  StepThreadScope(const StepThreadScope &) = delete;
  StepThreadScope &operator=(const StepThreadScope &) = delete;

private:
  int savedThreads = -1;
  int appliedThreads = -1;
  int savedBlocktime = -1;
};

} // namespace optim::runtime::detail

#endif // OPTIM_LIB_RUNTIME_THREADS_H
