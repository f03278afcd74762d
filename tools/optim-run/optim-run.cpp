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
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <cmath>
#include <random>

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
    total += p.numElements;
  }
  llvm::outs() << "compiled " << params.size() << " parameters ("
               << total << " elements, " << numStates << " states each, "
               << optimizer.getNumGroups() << " groups) in "
               << llvm::format("%.0f", compileMs) << " ms\n";

  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<std::vector<float>> data(params.size()), grads(params.size()),
      states(params.size() * numStates);
  std::vector<void *> paramPtrs, gradPtrs, statePtrs;
  // A sparse parameter gets a gradient for each of its rows, in order.
  std::vector<SparseGrad> sparseGrads(params.size());
  std::vector<std::vector<int32_t>> rowIndices(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    data[i].resize(params[i].numElements);
    grads[i].resize(params[i].numElements);
    for (float &x : data[i])
      x = normal(rng);
    paramPtrs.push_back(data[i].data());
    if (params[i].sparse) {
      int64_t numRows = params[i].shape[0];
      for (int64_t r = 0; r < numRows; ++r)
        rowIndices[i].push_back(static_cast<int32_t>(r));
      sparseGrads[i] = {rowIndices[i].data(), grads[i].data(), numRows};
      gradPtrs.push_back(&sparseGrads[i]);
    } else {
      gradPtrs.push_back(grads[i].data());
    }
    for (size_t s = 0; s < numStates; ++s) {
      states[i * numStates + s].resize(params[i].stateNumElements[s]);
      statePtrs.push_back(states[i * numStates + s].data());
    }
  }
  if (llvm::Error error = optimizer.initStates(statePtrs)) {
    llvm::errs() << "error: " << llvm::toString(std::move(error)) << "\n";
    return 1;
  }

  for (unsigned step = 0; step < numSteps; ++step) {
    for (auto &g : grads)
      for (float &x : g)
        x = normal(rng);
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
    for (const auto &p : data)
      for (float x : p)
        checksum += x;
    llvm::outs() << "step " << step << " lr";
    for (float lr : *rates)
      llvm::outs() << " " << llvm::format("%.6e", lr);
    llvm::outs() << " checksum " << llvm::format("%.6f", checksum) << "\n";
  }
  return 0;
}
