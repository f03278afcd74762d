//===- Runtime.cpp - compile an optimizer and run its steps ---------------===//

#include "ParsedOptimizer.h"
#include "StepDescription.h"
#include "optim/Runtime/Runtime.h"

#include "optim/Dialect/Optim/IR/Optim.h"
#include "optim/Dialect/Optim/Transforms/StepABI.h"
#include "optim/Pipelines/Pipelines.h"

#include "DiskCache.h"
#include "JIT.h"
#include "MixedPrecisionLayout.h"
#include "Threads.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/ExecutionEngine/CRunnerUtils.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <mutex>
#include <optional>

using namespace optim::runtime;
using llvm::Error;
using llvm::Expected;
using llvm::StringRef;

static Error makeError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

unsigned optim::runtime::getElementSize(DType dtype) {
  switch (dtype) {
  case DType::F32:
    return 4;
  case DType::F64:
    return 8;
  case DType::F16:
  case DType::BF16:
    return 2;
  }
  return 0;
}

namespace {
/// Everything the step's ABI says about an optimizer: the same for every
/// optimizer compiled from the same source and options, so computed once
/// and shared through the in-process cache.
struct StepLayout : detail::StepDescription {
  /// Whether the step takes one argument per buffer (sparse parameters, see
  /// StepABI.h) rather than buffer tables.
  bool perBuffer = false;
  /// Buffer tables: entries of each table, and per parameter where each of
  /// its buffers lives (param, grad, states: StepABI::getTableEntries;
  /// table -1 for a buffer the step does not read).
  std::vector<size_t> bufferTableEntries;
  std::vector<std::vector<std::pair<int, size_t>>> entries;
  /// Elements of all dense parameters, and the pipeline's chunk size: they
  /// decide a step's threads.
  int64_t denseElements = 0;
  int64_t chunkSize = 0;
  /// Sparse gradients' duplicate indices are merged (the optimizer's
  /// `unique`); off, the step refuses them.
  bool uniqueSparse = true;
};

/// What compiling one (source, options) pair produces; shared by every
/// Optimizer compiled from the same pair.
struct CompiledModule {
  optim::runtime::detail::JITModule code;
  StepLayout layout;
  /// A step uses the module's scratch table (row sums, partial norms; see
  /// docs/Step-structure.md): Optimizers sharing this module step one at a
  /// time. Uncontended, the lock costs tens of nanoseconds a step.
  mutable std::mutex stepMutex;
};

/// An entry of a buffer table: the 1-D memref descriptor of one buffer.
using BufferEntry = StridedMemRefType<char, 1>;

/// A ranked memref descriptor (StridedMemRefType) of any rank.
class Descriptor {
public:
  explicit Descriptor(llvm::ArrayRef<int64_t> shape) {
    unsigned rank = shape.size();
    words.assign(3 + 2 * rank, 0);
    int64_t stride = 1;
    for (unsigned i = rank; i-- > 0;) {
      words[3 + i] = shape[i];
      words[3 + rank + i] = stride;
      stride *= shape[i];
    }
  }
  void setData(void *data) {
    std::memcpy(&words[0], &data, sizeof(void *));
    std::memcpy(&words[1], &data, sizeof(void *));
  }
  /// Sets the size of dimension `dim` (e.g. a dynamic row count); the
  /// strides, computed from the other sizes, stay valid for dimension 0.
  void setSize(unsigned dim, int64_t size) { words[3 + dim] = size; }
  void *get() { return words.data(); }

private:
  std::vector<int64_t> words;
};
} // namespace

class Optimizer::Impl {
public:
  std::shared_ptr<const CompiledModule> compiled;
  CodeOrigin origin = CodeOrigin::Compiled;
  std::vector<double> table;
  /// The step's status buffer (GradientControlOp; empty without one).
  std::vector<double> status;
  int64_t globalStep = 0;
  /// Optimizer::setNumThreads, and the pipeline's `num-threads` (0: none).
  int numThreads = 0;
  int defaultThreads = 0;

  const StepLayout &layout() const { return compiled->layout; }

  // Packed arguments of the step (see StepABI.h): one buffer table per
  // element type, whose entries are 1-D memref descriptors, then the
  // hyper-parameter table and the step.
  std::vector<std::vector<BufferEntry>> bufferTables;
  /// Scratch of the duplicate-index check (sparse gradients, `unique`
  /// off), kept to avoid an allocation per step.
  std::vector<int32_t> sortedIndices;
  std::vector<Descriptor> descriptors;
  std::vector<void *> descriptorPtrs;
  std::vector<void *> packedArgs;

  // With sparse parameters, the step takes one argument per buffer (see
  // StepABI.h): `descriptors` then holds, per parameter, the descriptors of
  // its parameter, gradient (dense) or indices and rows (sparse), and
  // states, from `firstDescriptor[p]` on, then the hyper-parameter table.
  std::vector<unsigned> firstDescriptor;
  int64_t stepArg = 0;

  /// Builds this optimizer's argument buffers from the shared layout.
  void bindArguments() {
    const StepLayout &l = layout();
    table = l.initialTable;
    if (l.perBuffer) {
      // One descriptor per buffer argument. Sparse indices and rows have a
      // dynamic first dimension, set at each step.
      for (const ParamInfo &info : l.params) {
        firstDescriptor.push_back(descriptors.size());
        descriptors.emplace_back(info.shape);
        if (info.sparse) {
          descriptors.emplace_back(std::vector<int64_t>{0});
          std::vector<int64_t> rowsShape = info.shape;
          rowsShape[0] = 0;
          descriptors.emplace_back(rowsShape);
        } else {
          descriptors.emplace_back(info.shape);
        }
        for (size_t s = 0; s < l.stateNames.size(); ++s)
          descriptors.emplace_back(info.stateShapes[s]);
      }
    } else {
      // Buffer tables: one entry per buffer (param, grad, states), each
      // in the table of its element type.
      for (size_t count : l.bufferTableEntries)
        bufferTables.emplace_back(count, BufferEntry{});
      for (size_t p = 0; p < l.params.size(); ++p)
        for (auto [j, location] : llvm::enumerate(l.entries[p])) {
          if (location.first < 0)
            continue;
          BufferEntry &entry = bufferTables[location.first][location.second];
          entry.sizes[0] = j < 2 ? l.params[p].numElements
                                 : l.params[p].stateNumElements[j - 2];
          entry.strides[0] = 1;
        }
      for (std::vector<BufferEntry> &entries : bufferTables) {
        int64_t count = entries.size();
        descriptors.emplace_back(llvm::ArrayRef<int64_t>(count));
        descriptors.back().setData(entries.data());
      }
    }
    // The hyper-parameter table, then the step counter: the trailing
    // arguments of both step forms.
    int64_t tableSize = table.size();
    descriptors.emplace_back(llvm::ArrayRef<int64_t>(tableSize));
    descriptors.back().setData(table.data());
    status = l.initialStatus;
    if (!status.empty()) {
      int64_t statusSize = status.size();
      descriptors.emplace_back(llvm::ArrayRef<int64_t>(statusSize));
      descriptors.back().setData(status.data());
    }
    for (Descriptor &descriptor : descriptors)
      descriptorPtrs.push_back(descriptor.get());
    for (void *&ptr : descriptorPtrs)
      packedArgs.push_back(&ptr);
    packedArgs.push_back(&stepArg);
  }

  /// Runs the compiled step on the packed arguments with the threads a step
  /// of `elements` elements gets.
  void runStep(int64_t elements) {
    int requested = numThreads > 0 ? numThreads : defaultThreads;
    detail::StepThreadScope threads(
        detail::chooseStepThreads(elements, requested, layout().chunkSize));
    stepArg = globalStep;
    {
      std::lock_guard<std::mutex> lock(compiled->stepMutex);
      compiled->code.step(packedArgs.data());
    }
    // Dynamic loss scaling: a step that found an inf did not happen.
    if (layout().skipsNonfinite &&
        status[mlir::optim::GradientControlOp::kStatusFoundInf] != 0.0)
      return;
    ++globalStep;
  }
};

Optimizer::Optimizer(std::unique_ptr<Impl> impl) : impl(std::move(impl)) {}
Optimizer::~Optimizer() = default;

//===----------------------------------------------------------------------===//
// Compilation and caches
//===----------------------------------------------------------------------===//

namespace {
/// Compiled code lives as long as the process: it is never destroyed, so
/// that no JIT'd code is torn down after LLVM's own globals at exit (an
/// Optimizer released late by a garbage collector then stays safe).
struct ModuleCache {
  std::mutex mutex;
  /// Keyed by the full canonical options and source (getMemoryCacheKey):
  /// two different texts never share an entry.
  llvm::StringMap<std::shared_ptr<const CompiledModule>> modules;
  std::atomic<int64_t> compilations{0}, memoryHits{0}, diskHits{0},
      diskRejects{0}, diskWrites{0};
};

ModuleCache &getModuleCache() {
  static auto *cache = new ModuleCache();
  return *cache;
}

std::string getMemoryCacheKey(StringRef canonicalOptions, StringRef source) {
  std::string key;
  key.reserve(canonicalOptions.size() + 1 + source.size());
  key += canonicalOptions;
  key += '\0';
  key += source;
  return key;
}
} // namespace

/// Parses the pipeline options and makes them canonical: `vector-bytes`
/// follows the host unless given, `num-threads` moves to `defaultThreads`
/// (the code is compiled for any thread count).
static Expected<std::unique_ptr<mlir::optim::CPUPipelineOptions>>
parsePipelineOptions(StringRef text, int &defaultThreads,
                     std::string &canonical) {
  std::string problem;
  auto options =
      detail::parsePipelineOptions<mlir::optim::CPUPipelineOptions>(text,
                                                                    problem);
  if (!options)
    return makeError("invalid pipeline options '" + text + "': " + problem);
  if (!options->shareUpdateFunctions)
    return makeError("the runtime calls steps through buffer tables: "
                     "'share-update-functions=0' is for reading the IR only");
  if (std::optional<std::string> error =
          mlir::optim::checkCPUPipelineOptions(*options))
    return makeError("invalid pipeline options '" + text + "': " + *error);
  if (!options->vectorBytes.hasValue())
    options->vectorBytes = detail::getHostTarget().vectorBytes;
  defaultThreads = static_cast<int>(options->numThreads);
  options->numThreads = 0;
  llvm::raw_string_ostream os(canonical);
  options->print(os);
  return options;
}

/// The layout of the step of `optimizerOp`.
static Expected<StepLayout>
buildStepLayout(mlir::optim::OptimizerOp optimizerOp,
                const mlir::optim::CPUPipelineOptions &options) {
  mlir::optim::StepABI abi = mlir::optim::StepABI::get(optimizerOp);
  auto description = detail::StepDescription::get(abi);
  if (!description)
    return description.takeError();
  StepLayout layout;
  static_cast<detail::StepDescription &>(layout) = std::move(*description);
  layout.chunkSize = options.chunkSize;
  layout.constantHyperParams = options.constantHyperParams;
  layout.uniqueSparse = optimizerOp.getUnique();
  for (const ParamInfo &info : layout.params) {
    if (info.sparse && info.shape.empty())
      return makeError("sparse parameter '" + info.name +
                       "' must have rank >= 1");
    if (!info.sparse)
      layout.denseElements += info.numElements;
  }

  layout.perBuffer = abi.hasSparseParams();
  if (layout.perBuffer)
    return layout;
  layout.bufferTableEntries.assign(abi.getTableSizes().begin(),
                                   abi.getTableSizes().end());
  for (unsigned p = 0; p < layout.params.size(); ++p) {
    std::vector<std::pair<int, size_t>> entries;
    for (const std::optional<mlir::optim::TableEntry> &entry :
         abi.getTableEntries(p))
      entries.push_back(entry ? std::make_pair(int(entry->table),
                                               size_t(entry->entry))
                              : std::make_pair(-1, size_t(0)));
    layout.entries.push_back(std::move(entries));
  }
  return layout;
}

/// Lowers `source` and makes host code of it: from the disk cache when it
/// holds this (source, options, host, compiler), else by compiling (and
/// storing the result there).
static Expected<std::shared_ptr<const CompiledModule>>
compileModule(StringRef source, mlir::optim::CPUPipelineOptions &options,
              StringRef canonicalOptions, CodeOrigin &origin) {
  auto parsed = detail::ParsedOptimizer::parse(source);
  if (!parsed)
    return parsed.takeError();
  mlir::MLIRContext &context = (*parsed)->getContext();
  mlir::ModuleOp module = (*parsed)->getModule();
  mlir::optim::OptimizerOp optimizerOp = (*parsed)->getOptimizer();
  std::string symbol = optimizerOp.getSymName().str();
  auto compiled = std::make_shared<CompiledModule>();
  auto layout = buildStepLayout(optimizerOp, options);
  if (!layout)
    return layout.takeError();
  compiled->layout = std::move(*layout);

  ModuleCache &cache = getModuleCache();
  std::optional<std::string> diskDirectory = detail::getDiskCacheDirectory();
  std::string diskKey;
  if (diskDirectory) {
    const detail::HostTarget &host = detail::getHostTarget();
    diskKey = detail::computeDiskCacheKey(source, canonicalOptions,
                                          host.cpu + " " + host.features);
    detail::DiskCacheLookup found =
        detail::loadFromDiskCache(*diskDirectory, diskKey);
    if (found.rejected)
      ++cache.diskRejects;
    if (found.object) {
      auto code = detail::loadStepObject(*found.object, symbol);
      if (code) {
        ++cache.diskHits;
        compiled->code = std::move(*code);
        origin = CodeOrigin::DiskCache;
        return compiled;
      }
      // An entry that passed its check but does not link (e.g. written by
      // a runtime with another ABI under the same key): compile instead.
      llvm::consumeError(code.takeError());
      ++cache.diskRejects;
    }
  }

  mlir::PassManager pm(&context);
  mlir::optim::buildOptimCPUPipeline(pm, options);
  if (mlir::failed(pm.run(module)))
    return makeError("lowering failed: " + (*parsed)->getDiagnostics());
  auto code =
      detail::compileStepModule(module, symbol,
                                /*keepObject=*/diskDirectory.has_value());
  if (!code)
    return code.takeError();
  ++cache.compilations;
  if (diskDirectory && !code->object.empty() &&
      detail::storeInDiskCache(*diskDirectory, diskKey, code->object))
    ++cache.diskWrites;
  code->object.clear();
  compiled->code = std::move(*code);
  origin = CodeOrigin::Compiled;
  return compiled;
}

Expected<std::unique_ptr<Optimizer>>
Optimizer::compile(StringRef source, const CompileOptions &options) {
  auto impl = std::make_unique<Impl>();
  std::string canonicalOptions;
  auto pipelineOptions = parsePipelineOptions(
      options.pipelineOptions, impl->defaultThreads, canonicalOptions);
  if (!pipelineOptions)
    return pipelineOptions.takeError();

  // Reuse what an identical (source, options) compiled to: a hit skips
  // parsing, the ABI and code generation.
  std::string key = getMemoryCacheKey(canonicalOptions, source);
  ModuleCache &cache = getModuleCache();
  {
    std::lock_guard<std::mutex> lock(cache.mutex);
    auto it = cache.modules.find(key);
    if (it != cache.modules.end()) {
      impl->compiled = it->second;
      impl->origin = CodeOrigin::MemoryCache;
      ++cache.memoryHits;
    }
  }
  if (!impl->compiled) {
    auto compiled = compileModule(source, **pipelineOptions, canonicalOptions,
                                  impl->origin);
    if (!compiled)
      return compiled.takeError();
    std::lock_guard<std::mutex> lock(cache.mutex);
    // Another thread may have compiled the same key meanwhile: share its
    // module, so that one key always maps to one module.
    impl->compiled = cache.modules.try_emplace(key, *compiled).first->second;
  }
  impl->bindArguments();
  return std::unique_ptr<Optimizer>(new Optimizer(std::move(impl)));
}

Error Optimizer::setNumThreads(int numThreads) {
  if (numThreads < 0 ||
      numThreads > static_cast<int>(mlir::optim::kMaxPipelineThreads))
    return makeError("the number of threads must be in [0, " +
                     llvm::Twine(mlir::optim::kMaxPipelineThreads) +
                     "] (0: the default), got " + llvm::Twine(numThreads));
  impl->numThreads = numThreads;
  return Error::success();
}

int Optimizer::getNumThreads() const {
  int requested =
      impl->numThreads > 0 ? impl->numThreads : impl->defaultThreads;
  return detail::chooseStepThreads(std::numeric_limits<int64_t>::max(),
                                   requested, /*chunkSize=*/0);
}

CodeOrigin Optimizer::getCodeOrigin() const { return impl->origin; }

llvm::StringRef optim::runtime::getCodeOriginName(CodeOrigin origin) {
  switch (origin) {
  case CodeOrigin::Compiled:
    return "compiled";
  case CodeOrigin::MemoryCache:
    return "memory cache";
  case CodeOrigin::DiskCache:
    return "disk cache";
  }
  return "unknown";
}

CacheStats Optimizer::getCacheStats() {
  ModuleCache &cache = getModuleCache();
  CacheStats stats;
  stats.compilations = cache.compilations;
  stats.memoryHits = cache.memoryHits;
  stats.diskHits = cache.diskHits;
  stats.diskRejects = cache.diskRejects;
  stats.diskWrites = cache.diskWrites;
  return stats;
}

//===----------------------------------------------------------------------===//
// Buffers, hyper-parameters and steps
//===----------------------------------------------------------------------===//

llvm::ArrayRef<ParamInfo> Optimizer::getParams() const {
  return impl->layout().params;
}
llvm::ArrayRef<std::string> Optimizer::getStateNames() const {
  return impl->layout().stateNames;
}
unsigned Optimizer::getNumGroups() const { return impl->layout().numGroups; }
int64_t Optimizer::getGlobalStep() const { return impl->globalStep; }
void Optimizer::setGlobalStep(int64_t step) { impl->globalStep = step; }
Error Optimizer::setGlobalStepChecked(int64_t step) {
  if (Error error = detail::StepDescription::checkGlobalStepValue(step))
    return error;
  impl->globalStep = step;
  return Error::success();
}

bool Optimizer::hasStepStatus() const { return !impl->status.empty(); }

Expected<StepStatus> Optimizer::getStepStatus() const {
  if (impl->status.empty())
    return makeError("the optimizer has no step status: it neither clips "
                     "gradients nor scales the loss dynamically");
  return impl->layout().readStatus(impl->status.data());
}

Error Optimizer::setLossScaleState(double lossScale, int64_t goodSteps) {
  return impl->layout().writeLossScaleState(impl->status.data(), lossScale,
                                            goodSteps);
}

double Optimizer::getStateInitValue(unsigned param, unsigned state) const {
  double value = impl->layout().stateInit[param][state];
  if (!std::isnan(value))
    return value;
  auto rates = getLearningRates();
  if (!rates) {
    llvm::consumeError(rates.takeError());
    return 0.0;
  }
  return (*rates)[impl->layout().params[param].group];
}

bool Optimizer::hasMasterWeights() const { return impl->layout().hasMaster; }

Error Optimizer::initStates(llvm::ArrayRef<void *> states) const {
  if (impl->layout().hasMaster)
    return makeError("the optimizer keeps float32 master weights: their "
                     "initial values are the parameters', give the "
                     "parameters to initStates");
  return initStates({}, states);
}

Error Optimizer::initStates(llvm::ArrayRef<void *> params,
                            llvm::ArrayRef<void *> states) const {
  const StepLayout &layout = impl->layout();
  llvm::ArrayRef<ParamInfo> infos = layout.params;
  size_t numStates = layout.stateNames.size();
  if (states.size() != infos.size() * numStates)
    return makeError("expected " + llvm::Twine(infos.size() * numStates) +
                     " state buffers, got " + llvm::Twine(states.size()));
  if (layout.hasMaster && params.size() != infos.size())
    return makeError("expected " + llvm::Twine(infos.size()) +
                     " parameter buffers for the master weights, got " +
                     llvm::Twine(params.size()));
  // Check everything before writing anything.
  for (size_t p = 0; p < infos.size(); ++p) {
    for (size_t s = 0; s < numStates; ++s)
      if (!states[p * numStates + s] && infos[p].stateNumElements[s] != 0)
        return makeError("state buffer " + llvm::Twine(p * numStates + s) +
                         " is null");
    if (infos[p].hasMaster && infos[p].numElements != 0 && !params[p])
      return makeError("null buffer for parameter '" + infos[p].name + "'");
  }
  for (size_t p = 0; p < infos.size(); ++p)
    for (size_t s = 0; s < numStates; ++s) {
      void *data = states[p * numStates + s];
      int64_t count = infos[p].stateNumElements[s];
      if (layout.hasMaster && s + 1 == numStates) {
        // The master: the parameter's value, exactly (f16 and bf16 values
        // are all f32 values).
        detail::convertToFloat32(params[p], infos[p].dtype, count,
                                 static_cast<float *>(data));
        continue;
      }
      detail::fillBuffer(data, count, infos[p].stateDTypes[s],
                         getStateInitValue(p, s));
    }
  return Error::success();
}

Error Optimizer::setHyperParam(unsigned group, StringRef name, double value) {
  return impl->layout().setHyperParam(impl->table, group, name, value);
}

Error Optimizer::setLossScaleSlot(double value) {
  if (impl->layout().constantHyperParams)
    return makeError("the optimizer was compiled with constant-hyper-params: "
                     "its loss scale is a constant of the step's code");
  auto slot = impl->layout().findSlot(0, "loss_scale");
  if (!slot)
    return slot.takeError();
  impl->table[*slot] = value;
  return Error::success();
}

Expected<double> Optimizer::getHyperParam(unsigned group,
                                          StringRef name) const {
  return impl->layout().getHyperParam(impl->table, group, name);
}

Expected<std::vector<double>> Optimizer::getLearningRates() const {
  int64_t tableSize = impl->table.size();
  Descriptor table{llvm::ArrayRef<int64_t>(tableSize)};
  table.setData(impl->table.data());
  int64_t numGroups = impl->layout().numGroups;
  Descriptor out{llvm::ArrayRef<int64_t>(numGroups)};
  std::vector<double> rates(numGroups, 0.0);
  out.setData(rates.data());
  void *tablePtr = table.get();
  void *outPtr = out.get();
  int64_t step = impl->globalStep;
  void *args[] = {&tablePtr, &step, &outPtr};
  impl->compiled->code.learningRates(args);
  return rates;
}

Error Optimizer::checkStep(llvm::ArrayRef<void *> params,
                           llvm::ArrayRef<void *> grads,
                           llvm::ArrayRef<void *> states) const {
  const StepLayout &layout = impl->layout();
  size_t numParams = layout.params.size();
  size_t numStates = layout.stateNames.size();
  if (Error error =
          layout.checkBufferCounts(params.size(), grads.size(), states.size()))
    return error;
  if (Error error = detail::StepDescription::checkStepCounter(impl->globalStep))
    return error;
  // Validate everything before touching any buffer.
  for (size_t p = 0; p < numParams; ++p) {
    const ParamInfo &info = layout.params[p];
    if (info.sparse) {
      if (!grads[p])
        return makeError("null sparse gradient of parameter '" + info.name +
                         "'");
      const auto &grad = *static_cast<const SparseGrad *>(grads[p]);
      if (grad.count < 0)
        return makeError("negative row count " + llvm::Twine(grad.count) +
                         " in the gradient of '" + info.name + "'");
      if (grad.count > 0 && (!grad.indices || !grad.rows))
        return makeError("null indices or rows in the gradient of '" +
                         info.name + "'");
      int64_t numRows = info.shape[0];
      for (int64_t k = 0; k < grad.count; ++k)
        if (grad.indices[k] < 0 || grad.indices[k] >= numRows)
          return makeError("index " + llvm::Twine(grad.indices[k]) +
                           " (row " + llvm::Twine(k) +
                           ") of the gradient of '" + info.name +
                           "' is out of range [0, " + llvm::Twine(numRows) +
                           ")");
      if (!layout.uniqueSparse && grad.count > 1) {
        // Without `unique` each row is applied on its own: a repeated index
        // would update its row twice from the same old values. Sorting a
        // copy costs O(count log count) per step.
        std::vector<int32_t> &sorted = impl->sortedIndices;
        sorted.assign(grad.indices, grad.indices + grad.count);
        llvm::sort(sorted);
        auto repeated = std::adjacent_find(sorted.begin(), sorted.end());
        if (repeated != sorted.end())
          return makeError(
              "index " + llvm::Twine(*repeated) +
              " appears more than once in the gradient of '" + info.name +
              "', and the optimizer does not merge duplicates ('unique' is "
              "off): merge them first or compile with 'unique'");
      }
      if (info.numElements == 0)
        continue;
      if (!params[p])
        return makeError("null buffer for parameter '" + info.name + "'");
      for (size_t s = 0; s < numStates; ++s)
        if (!states[p * numStates + s])
          return makeError("null state '" + layout.stateNames[s] +
                           "' for parameter '" + info.name + "'");
      continue;
    }
    if (info.numElements == 0)
      continue;
    if (!params[p] || !grads[p])
      return makeError("null buffer for parameter '" + info.name + "'");
    for (size_t s = 0; s < numStates; ++s)
      if (!states[p * numStates + s] && info.stateNumElements[s] != 0)
        return makeError("null state '" + layout.stateNames[s] +
                         "' for parameter '" + info.name + "'");
  }
  if (Error error = layout.checkNoAliasing(params, grads, states))
    return error;
  return Error::success();
}

Error Optimizer::step(llvm::ArrayRef<void *> params,
                      llvm::ArrayRef<void *> grads,
                      llvm::ArrayRef<void *> states) {
  if (Error error = checkStep(params, grads, states))
    return error;
  const StepLayout &layout = impl->layout();
  size_t numParams = layout.params.size();
  size_t numStates = layout.stateNames.size();
  if (layout.perBuffer) {
    int64_t elements = layout.denseElements;
    for (size_t p = 0; p < numParams; ++p) {
      Descriptor *d = &impl->descriptors[impl->firstDescriptor[p]];
      (d++)->setData(params[p]);
      if (layout.params[p].sparse) {
        const auto &grad = *static_cast<const SparseGrad *>(grads[p]);
        elements +=
            grad.count * (layout.params[p].numElements /
                          std::max<int64_t>(1, layout.params[p].shape[0]));
        d->setData(const_cast<int32_t *>(grad.indices));
        (d++)->setSize(0, grad.count);
        d->setData(const_cast<void *>(grad.rows));
        (d++)->setSize(0, grad.count);
      } else {
        (d++)->setData(grads[p]);
      }
      for (size_t s = 0; s < numStates; ++s)
        (d++)->setData(states[p * numStates + s]);
    }
    impl->runStep(elements);
    return Error::success();
  }
  // Point the table entries at the caller's buffers.
  for (size_t p = 0; p < numParams; ++p) {
    llvm::ArrayRef<std::pair<int, size_t>> entries = layout.entries[p];
    auto point = [&](size_t j, void *data) {
      if (entries[j].first < 0)
        return;
      BufferEntry &entry =
          impl->bufferTables[entries[j].first][entries[j].second];
      entry.basePtr = entry.data = static_cast<char *>(data);
    };
    point(0, params[p]);
    point(1, grads[p]);
    for (size_t s = 0; s < numStates; ++s)
      point(2 + s, states[p * numStates + s]);
  }
  impl->runStep(layout.denseElements);
  return Error::success();
}

//===----------------------------------------------------------------------===//
// Bound-buffer steps (BoundStep.h)
//===----------------------------------------------------------------------===//

Error Optimizer::runCompiledStep() {
  if (Error error = detail::StepDescription::checkStepCounter(impl->globalStep))
    return error;
  impl->runStep(impl->layout().denseElements);
  return Error::success();
}
