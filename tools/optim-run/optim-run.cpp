//===- optim-run.cpp - compile an optimizer and run steps -----------------===//
//
// JIT-compiles an `optim.optimizer` and runs steps on synthetic data
// (deterministic pseudo-random parameters and gradients), printing per step
// the learning rate of every group and a checksum of the parameters. It is
// the smallest real user of the runtime API.
//
//===----------------------------------------------------------------------===//

#include "optim/Runtime/Distributed.h"
#include "optim/Runtime/Runtime.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MathExtras.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
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

static cl::opt<bool> distributed(
    "distributed",
    cl::desc("Run the step sharded over the ranks of the MPI job (start with "
             "mpirun): the IR's `sharding` (broadcast_params or zero), ZeRO "
             "when it has none. Rank 0 prints the same lines as a single "
             "process"),
    cl::init(false), cl::cat(category));
static cl::opt<std::string> sharding(
    "sharding",
    cl::desc("With --distributed: 'broadcast_params' or 'zero' instead of "
             "the IR's choice"),
    cl::init(""), cl::cat(category));
static cl::opt<double> timeoutSeconds(
    "timeout",
    cl::desc("With --distributed: seconds a rank waits for the others "
             "before it reports an error"),
    cl::init(60.0), cl::cat(category));
static cl::opt<bool> printStats(
    "shard-stats",
    cl::desc("With --distributed: print each rank's pieces, state elements "
             "and bytes moved per step"),
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

namespace {
/// Synthetic data of optim-run: every rank draws the same parameters and
/// gradients from the seed, so a sharded run and a single process see the
/// same numbers.
struct Synthetic {
  struct Buffer {
    Allocation<float> values;
    int64_t size = 0;
  };
  std::vector<Buffer> data, grads;
  std::vector<void *> paramPtrs, gradPtrs;
  std::vector<SparseGrad> sparseGrads;
  std::vector<Allocation<int32_t>> rowIndices;
  std::mt19937 rng{seed};
  std::normal_distribution<float> normal{0.0f, 1.0f};

  static bool fill(Buffer &buffer, int64_t size, const std::string &what) {
    buffer.values = allocate<float>(size);
    buffer.size = size;
    if (buffer.values)
      return true;
    llvm::errs() << "error: cannot allocate " << size << " floats for "
                 << what << "\n";
    return false;
  }

  bool init(llvm::ArrayRef<ParamInfo> params) {
    data.resize(params.size());
    grads.resize(params.size());
    sparseGrads.resize(params.size());
    rowIndices.resize(params.size());
    for (size_t i = 0; i < params.size(); ++i) {
      if (!fill(data[i], params[i].numElements, "'" + params[i].name + "'") ||
          !fill(grads[i], params[i].numElements,
                "the gradient of '" + params[i].name + "'"))
        return false;
      for (int64_t k = 0; k < data[i].size; ++k)
        data[i].values[k] = normal(rng);
      paramPtrs.push_back(data[i].values.get());
      if (!params[i].sparse) {
        gradPtrs.push_back(grads[i].values.get());
        continue;
      }
      int64_t numRows = params[i].shape[0];
      if (numRows > INT32_MAX) {
        llvm::errs() << "error: '" << params[i].name << "' has " << numRows
                     << " rows; row indices are int32\n";
        return false;
      }
      rowIndices[i] = allocate<int32_t>(numRows);
      if (!rowIndices[i]) {
        llvm::errs() << "error: cannot allocate " << numRows
                     << " row indices for '" << params[i].name << "'\n";
        return false;
      }
      for (int64_t r = 0; r < numRows; ++r)
        rowIndices[i][r] = static_cast<int32_t>(r);
      sparseGrads[i] = {rowIndices[i].get(), grads[i].values.get(), numRows};
      gradPtrs.push_back(&sparseGrads[i]);
    }
    return true;
  }

  void nextGradients() {
    for (Buffer &g : grads)
      for (int64_t k = 0; k < g.size; ++k)
        g.values[k] = normal(rng);
  }

  double checksum() const {
    double sum = 0.0;
    for (const Buffer &p : data)
      for (int64_t k = 0; k < p.size; ++k)
        sum += p.values[k];
    return sum;
  }
};

/// The parameters' element count, or -1 (reported) when optim-run cannot
/// fill them: only float32, and a count that fits int64_t.
int64_t countElements(llvm::ArrayRef<ParamInfo> params) {
  int64_t total = 0;
  for (const ParamInfo &p : params) {
    if (p.dtype != DType::F32) {
      llvm::errs() << "error: optim-run only fills float32 parameters; '"
                   << p.name << "' is not\n";
      return -1;
    }
    if (p.numElements < 0 || llvm::AddOverflow(total, p.numElements, total)) {
      llvm::errs() << "error: the parameters' element count overflows\n";
      return -1;
    }
  }
  return total;
}

int fail(llvm::Error error) {
  // One write for the line: the ranks of a job share the terminal.
  llvm::errs() << ("error: " + llvm::toString(std::move(error)) + "\n");
  return 1;
}

/// --distributed: the sharded step on every rank; rank 0 prints.
int runDistributed(llvm::StringRef source,
                   std::chrono::steady_clock::time_point start) {
  auto comm = Communicator::world(timeoutSeconds);
  if (!comm)
    return fail(comm.takeError());
  int rank = (*comm)->getRank();
  ShardMode mode = ShardMode::FromSource;
  if (sharding == "broadcast_params")
    mode = ShardMode::BroadcastParams;
  else if (sharding == "zero")
    mode = ShardMode::Zero;
  else if (!sharding.empty()) {
    llvm::errs() << "error: --sharding must be broadcast_params or zero\n";
    return 1;
  }
  CompileOptions options;
  options.pipelineOptions = pipelineOptions;
  auto compiled = ShardedOptimizer::compile(source, *comm, mode,
                                            GradientReduction::None, options);
  if (!compiled)
    return fail(compiled.takeError());
  ShardedOptimizer &optimizer = **compiled;
  if (numThreads < 0 || numThreads > kMaxNumThreads) {
    llvm::errs() << "error: --num-threads must be in [0, " << kMaxNumThreads
                 << "], got " << numThreads << "\n";
    return 1;
  }
  if (llvm::Error error = optimizer.setNumThreads(numThreads))
    return fail(std::move(error));
  double compileMs = std::chrono::duration<double, std::milli>(
                         std::chrono::steady_clock::now() - start)
                         .count();
  auto params = optimizer.getParams();
  size_t numStates = optimizer.getStateNames().size();
  int64_t total = countElements(params);
  if (total < 0)
    return 1;
  bool broadcast = optimizer.getMode() == ShardMode::BroadcastParams;
  if (rank == 0)
    llvm::outs() << "compiled " << params.size() << " parameters (" << total
                 << " elements, " << numStates << " states each, "
                 << optimizer.getNumGroups() << " groups) in "
                 << llvm::format("%.0f", compileMs) << " ms, sharded over "
                 << (*comm)->getSize() << " ranks ("
                 << (broadcast ? "broadcast_params" : "zero") << ")\n";

  Synthetic synthetic;
  if (!synthetic.init(params))
    return 1;
  // States of this rank's pieces only.
  std::vector<Synthetic::Buffer> states;
  std::vector<void *> statePtrs;
  int64_t stateElements = 0;
  {
    for (const ParamInfo &piece : optimizer.getLocalParams())
      for (size_t s = 0; s < numStates; ++s) {
        states.emplace_back();
        if (!Synthetic::fill(states.back(), piece.stateNumElements[s],
                             "a state of '" + piece.name + "'"))
          return 1;
        std::fill_n(states.back().values.get(), states.back().size, 0.0f);
        statePtrs.push_back(states.back().values.get());
        stateElements += states.back().size;
      }
  }
  if (llvm::Error error = optimizer.initStates(statePtrs))
    return fail(std::move(error));
  if (printStats) {
    auto pieces = optimizer.getLocalPieces();
    std::string line;
    llvm::raw_string_ostream os(line);
    os << "rank " << rank << ": " << pieces.size() << " pieces, "
       << stateElements << " state elements\n";
    auto lines = (*comm)->allgather(line);
    if (!lines)
      return fail(lines.takeError());
    if (rank == 0)
      for (const std::string &text : *lines)
        llvm::outs() << text;
  }

  for (unsigned step = 0; step < numSteps; ++step) {
    synthetic.nextGradients();
    // Learning rates: every group's, from a rank that updates it.
    std::vector<double> rates(optimizer.getNumGroups(),
                              std::numeric_limits<double>::quiet_NaN());
    if (optimizer.getLocalOptimizer()) {
      auto local = optimizer.getLearningRates();
      if (!local)
        return fail(local.takeError());
      rates = *local;
    }
    auto all = (*comm)->allgather(llvm::StringRef(
        reinterpret_cast<const char *>(rates.data()),
        rates.size() * sizeof(double)));
    if (!all)
      return fail(all.takeError());
    for (const std::string &bytes : *all)
      for (size_t g = 0; g < rates.size(); ++g) {
        double value;
        std::memcpy(&value, bytes.data() + g * sizeof(double), sizeof(double));
        if (std::isnan(rates[g]))
          rates[g] = value;
      }
    if (llvm::Error error = optimizer.step(synthetic.paramPtrs,
                                           synthetic.gradPtrs, statePtrs))
      return fail(std::move(error));
    // Every rank holds every parameter: their checksums must agree.
    double checksum = synthetic.checksum();
    auto sums = (*comm)->allgather(llvm::StringRef(
        reinterpret_cast<const char *>(&checksum), sizeof(checksum)));
    if (!sums)
      return fail(sums.takeError());
    for (size_t r = 0; r < sums->size(); ++r)
      if (std::memcmp((*sums)[r].data(), &checksum, sizeof(checksum)) != 0) {
        llvm::errs() << "error: rank " << r
                     << " holds other parameters than rank " << rank
                     << " after step " << step << "\n";
        return 1;
      }
    if (rank != 0)
      continue;
    llvm::outs() << "step " << step << " lr";
    for (double lr : rates)
      llvm::outs() << " " << llvm::format("%.6e", static_cast<float>(lr));
    llvm::outs() << " checksum " << llvm::format("%.6f", checksum) << "\n";
    if (printStats) {
      const ExchangeStats &stats = optimizer.getLastStats();
      llvm::outs() << "  rank 0 sent " << stats.bytesSent << " bytes, received "
                   << stats.bytesReceived << " bytes\n";
    }
  }
  llvm::outs().flush();
  return 0;
}
} // namespace

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
  if (distributed)
    return runDistributed((*buffer)->getBuffer(), start);
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
  int64_t total = countElements(params);
  if (total < 0)
    return 1;
  llvm::outs() << "compiled " << params.size() << " parameters ("
               << total << " elements, " << numStates << " states each, "
               << optimizer.getNumGroups() << " groups) in "
               << llvm::format("%.0f", compileMs) << " ms\n";

  Synthetic synthetic;
  if (!synthetic.init(params))
    return 1;
  std::vector<Synthetic::Buffer> states(params.size() * numStates);
  std::vector<void *> statePtrs;
  for (size_t i = 0; i < params.size(); ++i)
    for (size_t s = 0; s < numStates; ++s) {
      Synthetic::Buffer &state = states[i * numStates + s];
      if (!Synthetic::fill(state, params[i].stateNumElements[s],
                           "state " + std::to_string(s) + " of '" +
                               params[i].name + "'"))
        return 1;
      std::fill_n(state.values.get(), state.size, 0.0f);
      statePtrs.push_back(state.values.get());
    }
  if (llvm::Error error = optimizer.initStates(statePtrs)) {
    llvm::errs() << "error: " << llvm::toString(std::move(error)) << "\n";
    return 1;
  }

  for (unsigned step = 0; step < numSteps; ++step) {
    synthetic.nextGradients();
    auto rates = optimizer.getLearningRates();
    if (!rates) {
      llvm::errs() << "error: " << llvm::toString(rates.takeError()) << "\n";
      return 1;
    }
    if (llvm::Error error = optimizer.step(synthetic.paramPtrs,
                                           synthetic.gradPtrs, statePtrs))
      return fail(std::move(error));
    double checksum = synthetic.checksum();
    llvm::outs() << "step " << step << " lr";
    for (float lr : *rates)
      llvm::outs() << " " << llvm::format("%.6e", lr);
    llvm::outs() << " checksum " << llvm::format("%.6f", checksum) << "\n";
  }
  return 0;
}
