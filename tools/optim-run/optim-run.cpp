//===- optim-run.cpp - compile an optimizer and run steps -----------------===//
//
// JIT-compiles an `optim.optimizer` and runs steps on synthetic data
// (deterministic pseudo-random parameters and gradients), printing per step
// the learning rate of every group and a checksum of the parameters. It is
// the smallest real user of the runtime API.
//
//===----------------------------------------------------------------------===//

#include "optim/Runtime/Runtime.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MathExtras.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <new>
#include <random>
#include <type_traits>

namespace cl = llvm::cl;
using namespace optim::runtime;

static cl::OptionCategory category("optim-run options");
static cl::opt<std::string> inputFilename(cl::Positional,
                                          cl::desc("<input .mlir>"),
                                          cl::Required, cl::cat(category));
static cl::opt<unsigned> numSteps("steps", cl::desc("Steps to run"),
                                  cl::init(5), cl::cat(category));
static cl::opt<std::string>
    pipelineOptions("pipeline-options",
                    cl::desc("Options of optim-lower-to-cpu"), cl::init(""),
                    cl::cat(category));
static cl::opt<unsigned> seed("seed", cl::desc("Seed of the synthetic data"),
                              cl::init(0), cl::cat(category));
static cl::opt<int>
    numThreads("num-threads",
               cl::desc("OpenMP threads of large steps (0: every core)"),
               cl::init(0), cl::cat(category));
static cl::opt<bool>
    cacheInfo("cache-info",
              cl::desc("Print where the code came from (compiled, memory "
                       "cache, disk cache) and the cache counters"),
              cl::init(false), cl::cat(category));

/// Frees what allocate() returned.
struct FreeDeleter {
  void operator()(void *pointer) const { std::free(pointer); }
};
template <typename T> using Allocation = std::unique_ptr<T[], FreeDeleter>;

/// A buffer of `count` elements of T, or null when it cannot be allocated
/// (no exception, no abort: the caller reports it). malloc rather than
/// operator new: LLVM's out-of-memory handler (InitLLVM) would abort in
/// operator new, even the nothrow one.
template <typename T> static Allocation<T> allocate(int64_t count) {
  static_assert(std::is_trivial_v<T>, "raw storage of trivial elements");
  if (count < 0 ||
      static_cast<uint64_t>(count) > SIZE_MAX / sizeof(T) / 2)
    return nullptr;
  size_t bytes = static_cast<size_t>(std::max<int64_t>(count, 1)) * sizeof(T);
  return Allocation<T>(static_cast<T *>(std::malloc(bytes)));
}

/// The most OpenMP threads a step asks for (docs/Limits.md).
static constexpr int kMaxNumThreads = 1024;

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(argc, argv, "optim-mlir: compile and run steps\n");

  auto buffer = llvm::MemoryBuffer::getFileOrSTDIN(inputFilename);
  if (!buffer) {
    llvm::errs() << "error: cannot read '" << inputFilename
                 << "': " << buffer.getError().message() << "\n";
    return 1;
  }
  auto start = std::chrono::steady_clock::now();
  CompileOptions options;
  options.pipelineOptions = pipelineOptions;
  auto compiled = Optimizer::compile((*buffer)->getBuffer(), options);
  if (!compiled) {
    llvm::errs() << "error: " << llvm::toString(compiled.takeError()) << "\n";
    return 1;
  }
  Optimizer &optimizer = **compiled;
  if (numThreads < 0 || numThreads > kMaxNumThreads) {
    llvm::errs() << "error: --num-threads must be in [0, " << kMaxNumThreads
                 << "], got " << numThreads << "\n";
    return 1;
  }
  if (llvm::Error error = optimizer.setNumThreads(numThreads)) {
    llvm::errs() << "error: " << llvm::toString(std::move(error)) << "\n";
    return 1;
  }
  if (cacheInfo) {
    CacheStats stats = Optimizer::getCacheStats();
    llvm::outs() << "code: " << getCodeOriginName(optimizer.getCodeOrigin())
                 << "\ncache: compilations " << stats.compilations
                 << " memory-hits " << stats.memoryHits << " disk-hits "
                 << stats.diskHits << " disk-rejects " << stats.diskRejects
                 << " disk-writes " << stats.diskWrites << "\n";
  }
  double compileMs = std::chrono::duration<double, std::milli>(
                         std::chrono::steady_clock::now() - start)
                         .count();

  auto params = optimizer.getParams();
  size_t numStates = optimizer.getStateNames().size();
  int64_t total = 0;
  for (const ParamInfo &p : params) {
    if (p.dtype != DType::F32) {
      llvm::errs() << "error: optim-run only fills float32 parameters; '"
                   << p.name << "' is not\n";
      return 1;
    }
    if (p.numElements < 0 || llvm::AddOverflow(total, p.numElements, total)) {
      llvm::errs() << "error: the parameters' element count overflows\n";
      return 1;
    }
  }
  llvm::outs() << "compiled " << params.size() << " parameters ("
               << total << " elements, " << numStates << " states each, "
               << optimizer.getNumGroups() << " groups) in "
               << llvm::format("%.0f", compileMs) << " ms\n";

  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  struct Buffer {
    Allocation<float> values;
    int64_t size = 0;
  };
  std::vector<Buffer> data(params.size()), grads(params.size()),
      states(params.size() * numStates);
  std::vector<void *> paramPtrs, gradPtrs, statePtrs;
  // A sparse parameter gets a gradient for each of its rows, in order.
  std::vector<SparseGrad> sparseGrads(params.size());
  std::vector<Allocation<int32_t>> rowIndices(params.size());
  auto fill = [&](Buffer &buffer, int64_t size, const std::string &what) {
    buffer.values = allocate<float>(size);
    buffer.size = size;
    if (buffer.values)
      return true;
    llvm::errs() << "error: cannot allocate " << size << " floats for "
                 << what << "\n";
    return false;
  };
  for (size_t i = 0; i < params.size(); ++i) {
    if (!fill(data[i], params[i].numElements, "'" + params[i].name + "'") ||
        !fill(grads[i], params[i].numElements,
              "the gradient of '" + params[i].name + "'"))
      return 1;
    for (int64_t k = 0; k < data[i].size; ++k)
      data[i].values[k] = normal(rng);
    paramPtrs.push_back(data[i].values.get());
    if (params[i].sparse) {
      int64_t numRows = params[i].shape[0];
      if (numRows > INT32_MAX) {
        llvm::errs() << "error: '" << params[i].name << "' has " << numRows
                     << " rows; row indices are int32\n";
        return 1;
      }
      rowIndices[i] = allocate<int32_t>(numRows);
      if (!rowIndices[i]) {
        llvm::errs() << "error: cannot allocate " << numRows
                     << " row indices for '" << params[i].name << "'\n";
        return 1;
      }
      for (int64_t r = 0; r < numRows; ++r)
        rowIndices[i][r] = static_cast<int32_t>(r);
      sparseGrads[i] = {rowIndices[i].get(), grads[i].values.get(), numRows};
      gradPtrs.push_back(&sparseGrads[i]);
    } else {
      gradPtrs.push_back(grads[i].values.get());
    }
    for (size_t s = 0; s < numStates; ++s) {
      Buffer &state = states[i * numStates + s];
      if (!fill(state, params[i].stateNumElements[s],
                "state " + std::to_string(s) + " of '" + params[i].name +
                    "'"))
        return 1;
      std::fill_n(state.values.get(), state.size, 0.0f);
      statePtrs.push_back(state.values.get());
    }
  }
  if (llvm::Error error = optimizer.initStates(statePtrs)) {
    llvm::errs() << "error: " << llvm::toString(std::move(error)) << "\n";
    return 1;
  }

  for (unsigned step = 0; step < numSteps; ++step) {
    for (Buffer &g : grads)
      for (int64_t k = 0; k < g.size; ++k)
        g.values[k] = normal(rng);
    auto rates = optimizer.getLearningRates();
    if (!rates) {
      llvm::errs() << "error: " << llvm::toString(rates.takeError()) << "\n";
      return 1;
    }
    if (llvm::Error error = optimizer.step(paramPtrs, gradPtrs, statePtrs)) {
      llvm::errs() << "error: " << llvm::toString(std::move(error)) << "\n";
      return 1;
    }
    double checksum = 0.0;
    for (const Buffer &p : data)
      for (int64_t k = 0; k < p.size; ++k)
        checksum += p.values[k];
    llvm::outs() << "step " << step << " lr";
    for (float lr : *rates)
      llvm::outs() << " " << llvm::format("%.6e", lr);
    llvm::outs() << " checksum " << llvm::format("%.6f", checksum) << "\n";
  }
  return 0;
}
