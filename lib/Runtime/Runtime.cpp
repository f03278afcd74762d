//===- Runtime.cpp - compile an optimizer and run its steps ---------------===//

#include "optim/Runtime/Runtime.h"

#include "optim/Dialect/Optim/IR/Optim.h"
#include "optim/Dialect/Optim/Transforms/StepABI.h"
#include "optim/Pipelines/Pipelines.h"

#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/ADT/APFloat.h"
#include "llvm/ADT/Hashing.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h"
#include "llvm/Support/TargetSelect.h"

#include <cstdlib>
#include <cstring>
#include <mutex>

using namespace optim::runtime;
using llvm::Error;
using llvm::Expected;
using llvm::StringRef;

#ifndef OPTIM_OMP_LIBRARY
#define OPTIM_OMP_LIBRARY "libomp.so"
#endif

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

static Expected<DType> toDType(mlir::Type type) {
  if (type.isF32())
    return DType::F32;
  if (type.isF64())
    return DType::F64;
  if (type.isF16())
    return DType::F16;
  if (type.isBF16())
    return DType::BF16;
  return makeError("unsupported element type");
}

namespace {
/// What compiling one (source, options) pair produces; shared by every
/// Optimizer compiled from the same pair.
struct CompiledModule {
  std::unique_ptr<mlir::ExecutionEngine> engine;
  void (*step)(void **) = nullptr;
  void (*learningRates)(void **) = nullptr;
};

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

std::mutex &getCacheMutex() {
  static std::mutex mutex;
  return mutex;
}
/// Compiled code lives as long as the process: it is never destroyed, so
/// that no JIT'd code is torn down after LLVM's own globals at exit (an
/// Optimizer released late by a garbage collector then stays safe).
llvm::StringMap<std::shared_ptr<CompiledModule>> &getCache() {
  static auto *cache = new llvm::StringMap<std::shared_ptr<CompiledModule>>();
  return *cache;
}
} // namespace

class Optimizer::Impl {
public:
  std::shared_ptr<CompiledModule> compiled;
  std::vector<ParamInfo> params;
  std::vector<std::string> stateNames;
  /// [param][state] initial values; NaN marks "the group's learning rate".
  std::vector<std::vector<double>> stateInit;
  std::vector<float> table;
  std::vector<llvm::StringMap<unsigned>> slots;
  unsigned numGroups = 0;
  int64_t globalStep = 0;

  // Packed arguments of the step (see StepABI.h): one buffer table per
  // element type, whose entries are 1-D memref descriptors (5 words:
  // allocated, aligned, offset, size, stride), then the hyper-parameter
  // table and the step.
  static constexpr unsigned kEntryWords = 5;
  std::vector<std::vector<int64_t>> bufferTables;
  std::vector<Descriptor> descriptors;
  std::vector<void *> descriptorPtrs;
  std::vector<void *> packedArgs;
  /// Per parameter: its buffer table and its first entry's word offset.
  std::vector<std::pair<unsigned, size_t>> entryOffsets;

  // With sparse parameters, the step takes one argument per buffer (see
  // StepABI.h): `descriptors` then holds, per parameter, the descriptors of
  // its parameter, gradient (dense) or indices and rows (sparse), and
  // states, from `firstDescriptor[p]` on, then the hyper-parameter table.
  bool perBuffer = false;
  std::vector<unsigned> firstDescriptor;
  int64_t stepArg = 0;
  std::vector<float> lrOut;

  /// Appends the hyper-parameter table's descriptor to the buffer
  /// descriptors and points the packed arguments at all of them, then at
  /// the step counter (the trailing arguments of both step forms).
  void finishPackedArgs() {
    int64_t tableSize = table.size();
    descriptors.emplace_back(llvm::ArrayRef<int64_t>(tableSize));
    descriptors.back().setData(table.data());
    for (Descriptor &descriptor : descriptors)
      descriptorPtrs.push_back(descriptor.get());
    for (void *&ptr : descriptorPtrs)
      packedArgs.push_back(&ptr);
    packedArgs.push_back(&stepArg);
    lrOut.assign(numGroups, 0.0f);
  }

  Expected<unsigned> findSlot(unsigned group, StringRef name) const {
    if (group >= numGroups)
      return makeError("group " + llvm::Twine(group) + " out of range (" +
                       llvm::Twine(numGroups) + " groups)");
    auto it = slots[group].find(name);
    if (it == slots[group].end())
      return makeError("unknown hyper-parameter '" + name + "'");
    return it->second;
  }
};

Optimizer::Optimizer(std::unique_ptr<Impl> impl) : impl(std::move(impl)) {}
Optimizer::~Optimizer() = default;

static void initializeLLVMOnce() {
  static std::once_flag flag;
  std::call_once(flag, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
  });
}

/// Runs the CPU pipeline on `module` and JIT-compiles it.
static Expected<std::shared_ptr<CompiledModule>>
compileModule(mlir::ModuleOp module, StringRef symbol,
              const CompileOptions &options,
              std::string &diagnostics) {
  std::unique_ptr<mlir::optim::CPUPipelineOptions> pipelineOptions =
      mlir::optim::CPUPipelineOptions::createFromString(
          options.pipelineOptions);
  if (!pipelineOptions)
    return makeError("invalid pipeline options '" + options.pipelineOptions +
                     "'");
  if (!pipelineOptions->shareUpdateFunctions)
    return makeError("the runtime calls steps through buffer tables: "
                     "'share-update-functions=0' is for reading the IR only");
  mlir::PassManager pm(module->getName());
  mlir::optim::buildOptimCPUPipeline(pm, *pipelineOptions);
  if (mlir::failed(pm.run(module)))
    return makeError("lowering failed: " + diagnostics);

  initializeLLVMOnce();
  auto tmBuilder = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!tmBuilder)
    return tmBuilder.takeError();
  tmBuilder->setCodeGenOptLevel(llvm::CodeGenOptLevel::Aggressive);
  auto targetMachine = tmBuilder->createTargetMachine();
  if (!targetMachine)
    return targetMachine.takeError();
  auto transformer = mlir::makeOptimizingTransformer(
      /*optLevel=*/3, /*sizeLevel=*/0, targetMachine->get());

  const char *ompOverride = std::getenv("OPTIM_OMP_LIBRARY");
  StringRef ompLibrary = ompOverride ? ompOverride : OPTIM_OMP_LIBRARY;
  llvm::SmallVector<StringRef> libs{ompLibrary};
  mlir::ExecutionEngineOptions engineOptions;
  engineOptions.transformer = transformer;
  engineOptions.jitCodeGenOptLevel = llvm::CodeGenOptLevel::Aggressive;
  engineOptions.sharedLibPaths = libs;
  auto engine = mlir::ExecutionEngine::create(module, engineOptions,
                                              std::move(*targetMachine));
  if (!engine)
    return engine.takeError();

  auto compiled = std::make_shared<CompiledModule>();
  compiled->engine = std::move(*engine);
  auto step = compiled->engine->lookupPacked(
      ("_mlir_ciface_" + symbol + "_step").str());
  if (!step)
    return step.takeError();
  auto lr = compiled->engine->lookupPacked(
      ("_mlir_ciface_" + symbol + "_lr").str());
  if (!lr)
    return lr.takeError();
  compiled->step = *step;
  compiled->learningRates = *lr;
  return compiled;
}

Expected<std::unique_ptr<Optimizer>>
Optimizer::compile(StringRef source, const CompileOptions &options) {
  mlir::DialectRegistry registry;
  mlir::optim::registerOptimDialects(registry);
  mlir::MLIRContext context(registry);
  context.disableMultithreading();
  std::string diagnostics;
  mlir::ScopedDiagnosticHandler handler(&context, [&](mlir::Diagnostic &d) {
    if (!diagnostics.empty())
      diagnostics += "\n";
    llvm::raw_string_ostream os(diagnostics);
    os << d.getLocation() << ": " << d;
    return mlir::success();
  });

  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::parseSourceString<mlir::ModuleOp>(source, &context);
  if (!module)
    return makeError("invalid optimizer IR: " + diagnostics);
  auto optimizers = llvm::to_vector(module->getOps<mlir::optim::OptimizerOp>());
  if (optimizers.size() != 1)
    return makeError("expected exactly one 'optim.optimizer', found " +
                     llvm::Twine(optimizers.size()));
  mlir::optim::OptimizerOp optimizerOp = optimizers.front();
  mlir::optim::StepABI abi = mlir::optim::StepABI::get(optimizerOp);

  auto impl = std::make_unique<Impl>();
  for (const mlir::optim::ParamABI &param : abi.getParams()) {
    ParamInfo info;
    info.name = param.name;
    info.shape.assign(param.type.getShape().begin(),
                      param.type.getShape().end());
    info.numElements = param.type.getNumElements();
    auto dtype = toDType(param.type.getElementType());
    if (!dtype)
      return dtype.takeError();
    info.dtype = *dtype;
    info.group = param.group;
    info.sparse = param.sparse;
    if (param.sparse && info.shape.empty())
      return makeError("sparse parameter '" + param.name +
                       "' must have rank >= 1");
    impl->params.push_back(std::move(info));
    std::vector<double> inits;
    for (const mlir::optim::StateSpec *state : abi.getStates())
      inits.push_back(state->initFrom == "learning_rate"
                          ? std::nan("")
                          : abi.getStateInitValue(*state, param.group));
    impl->stateInit.push_back(std::move(inits));
  }
  for (const mlir::optim::StateSpec *state : abi.getStates())
    impl->stateNames.push_back(state->name.str());
  impl->numGroups = abi.getGroups().size();
  llvm::SmallVector<float> table = abi.getInitialTable();
  impl->table.assign(table.begin(), table.end());
  for (unsigned g = 0; g < impl->numGroups; ++g) {
    llvm::StringMap<unsigned> slots;
    slots["loss_scale"] = abi.getSlot(g, "loss_scale");
    slots["weight_decay"] = abi.getSlot(g, "weight_decay");
    if (abi.getGroups()[g].hasConstantLearningRate()) {
      slots["learning_rate"] = abi.getSlot(g, "learning_rate");
      slots["lr"] = abi.getSlot(g, "learning_rate");
    }
    for (const mlir::optim::HyperParamSpec *hyper :
         abi.getSpec().getOperandHyperParams())
      slots[hyper->name] = abi.getSlot(g, hyper->name);
    impl->slots.push_back(std::move(slots));
  }

  // Compile, or reuse what an identical (source, options) compiled to.
  std::string key = (llvm::Twine(llvm::hash_value(source)) + "/" +
                     llvm::Twine(llvm::hash_value(options.pipelineOptions)) +
                     "/" + llvm::Twine(source.size()))
                        .str();
  {
    std::lock_guard<std::mutex> lock(getCacheMutex());
    auto it = getCache().find(key);
    if (it != getCache().end())
      impl->compiled = it->second;
  }
  if (!impl->compiled) {
    std::string symbol = optimizerOp.getSymName().str();
    auto compiled = compileModule(*module, symbol, options, diagnostics);
    if (!compiled)
      return compiled.takeError();
    impl->compiled = *compiled;
    std::lock_guard<std::mutex> lock(getCacheMutex());
    getCache()[key] = impl->compiled;
  }

  if (abi.hasSparseParams()) {
    // One descriptor per buffer argument. Sparse indices and rows have a
    // dynamic first dimension, set at each step.
    impl->perBuffer = true;
    for (const ParamInfo &info : impl->params) {
      impl->firstDescriptor.push_back(impl->descriptors.size());
      impl->descriptors.emplace_back(info.shape);
      if (info.sparse) {
        impl->descriptors.emplace_back(std::vector<int64_t>{0});
        std::vector<int64_t> rowsShape = info.shape;
        rowsShape[0] = 0;
        impl->descriptors.emplace_back(rowsShape);
      } else {
        impl->descriptors.emplace_back(info.shape);
      }
      for (size_t s = 0; s < impl->stateNames.size(); ++s)
        impl->descriptors.emplace_back(info.shape);
    }
    impl->finishPackedArgs();
    return std::unique_ptr<Optimizer>(new Optimizer(std::move(impl)));
  }

  // Buffer tables: entries (param, grad, states) per parameter.
  unsigned entriesPerParam = 2 + impl->stateNames.size();
  impl->bufferTables.resize(abi.getTableElementTypes().size());
  for (unsigned p = 0; p < impl->params.size(); ++p) {
    auto [tableIndex, position] = abi.getTablePosition(p);
    std::vector<int64_t> &entries = impl->bufferTables[tableIndex];
    size_t first = size_t(position) * entriesPerParam * Impl::kEntryWords;
    if (entries.size() < first + entriesPerParam * Impl::kEntryWords)
      entries.resize(first + entriesPerParam * Impl::kEntryWords, 0);
    for (unsigned j = 0; j < entriesPerParam; ++j) {
      entries[first + j * Impl::kEntryWords + 3] = impl->params[p].numElements;
      entries[first + j * Impl::kEntryWords + 4] = 1;
    }
    impl->entryOffsets.push_back({tableIndex, first});
  }
  for (std::vector<int64_t> &entries : impl->bufferTables) {
    int64_t count = entries.size() / Impl::kEntryWords;
    impl->descriptors.emplace_back(llvm::ArrayRef<int64_t>(count));
    impl->descriptors.back().setData(entries.data());
  }
  impl->finishPackedArgs();
  return std::unique_ptr<Optimizer>(new Optimizer(std::move(impl)));
}

llvm::ArrayRef<ParamInfo> Optimizer::getParams() const { return impl->params; }
llvm::ArrayRef<std::string> Optimizer::getStateNames() const {
  return impl->stateNames;
}
unsigned Optimizer::getNumGroups() const { return impl->numGroups; }
int64_t Optimizer::getGlobalStep() const { return impl->globalStep; }
void Optimizer::setGlobalStep(int64_t step) { impl->globalStep = step; }

double Optimizer::getStateInitValue(unsigned param, unsigned state) const {
  double value = impl->stateInit[param][state];
  if (!std::isnan(value))
    return value;
  auto rates = getLearningRates();
  if (!rates) {
    llvm::consumeError(rates.takeError());
    return 0.0;
  }
  return (*rates)[impl->params[param].group];
}

/// Writes `value` to `count` elements of `dtype` at `data`.
static void fill(void *data, int64_t count, DType dtype, double value) {
  switch (dtype) {
  case DType::F32: {
    float v = static_cast<float>(value);
    std::fill_n(static_cast<float *>(data), count, v);
    return;
  }
  case DType::F64:
    std::fill_n(static_cast<double *>(data), count, value);
    return;
  case DType::F16:
  case DType::BF16: {
    llvm::APFloat v(value);
    bool losesInfo;
    v.convert(dtype == DType::F16 ? llvm::APFloat::IEEEhalf()
                                  : llvm::APFloat::BFloat(),
              llvm::APFloat::rmNearestTiesToEven, &losesInfo);
    uint16_t bits = static_cast<uint16_t>(v.bitcastToAPInt().getZExtValue());
    std::fill_n(static_cast<uint16_t *>(data), count, bits);
    return;
  }
  }
}

Error Optimizer::initStates(llvm::ArrayRef<void *> states) const {
  size_t numStates = impl->stateNames.size();
  if (states.size() != impl->params.size() * numStates)
    return makeError("expected " +
                     llvm::Twine(impl->params.size() * numStates) +
                     " state buffers, got " + llvm::Twine(states.size()));
  for (size_t p = 0; p < impl->params.size(); ++p)
    for (size_t s = 0; s < numStates; ++s) {
      void *data = states[p * numStates + s];
      if (!data && impl->params[p].numElements != 0)
        return makeError("state buffer " + llvm::Twine(p * numStates + s) +
                         " is null");
      fill(data, impl->params[p].numElements, impl->params[p].dtype,
           getStateInitValue(p, s));
    }
  return Error::success();
}

Error Optimizer::setHyperParam(unsigned group, StringRef name, double value) {
  auto slot = impl->findSlot(group, name);
  if (!slot)
    return slot.takeError();
  if (std::isnan(value))
    return makeError("'" + name + "' must not be NaN");
  if (name == "loss_scale" && !(value > 0.0))
    return makeError("'loss_scale' must be positive, got " +
                     std::to_string(value));
  if ((name == "weight_decay" || name == "learning_rate" || name == "lr") &&
      !(value >= 0.0))
    return makeError("'" + name + "' must be non-negative, got " +
                     std::to_string(value));
  impl->table[*slot] = static_cast<float>(value);
  return Error::success();
}

Expected<double> Optimizer::getHyperParam(unsigned group,
                                          StringRef name) const {
  auto slot = impl->findSlot(group, name);
  if (!slot)
    return slot.takeError();
  return static_cast<double>(impl->table[*slot]);
}

Expected<std::vector<float>> Optimizer::getLearningRates() const {
  int64_t tableSize = impl->table.size();
  Descriptor table{llvm::ArrayRef<int64_t>(tableSize)};
  table.setData(impl->table.data());
  int64_t numGroups = impl->numGroups;
  Descriptor out{llvm::ArrayRef<int64_t>(numGroups)};
  std::vector<float> rates(impl->numGroups, 0.0f);
  out.setData(rates.data());
  void *tablePtr = table.get();
  void *outPtr = out.get();
  int64_t step = impl->globalStep;
  void *args[] = {&tablePtr, &step, &outPtr};
  impl->compiled->learningRates(args);
  return rates;
}

Error Optimizer::step(llvm::ArrayRef<void *> params,
                      llvm::ArrayRef<void *> grads,
                      llvm::ArrayRef<void *> states) {
  size_t numParams = impl->params.size();
  size_t numStates = impl->stateNames.size();
  if (params.size() != numParams || grads.size() != numParams)
    return makeError("expected " + llvm::Twine(numParams) +
                     " parameters and gradients, got " +
                     llvm::Twine(params.size()) + " and " +
                     llvm::Twine(grads.size()));
  if (states.size() != numParams * numStates)
    return makeError("expected " + llvm::Twine(numParams * numStates) +
                     " state buffers, got " + llvm::Twine(states.size()));
  // Validate everything before touching any buffer.
  for (size_t p = 0; p < numParams; ++p) {
    const ParamInfo &info = impl->params[p];
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
      if (info.numElements == 0)
        continue;
      if (!params[p])
        return makeError("null buffer for parameter '" + info.name + "'");
      for (size_t s = 0; s < numStates; ++s)
        if (!states[p * numStates + s])
          return makeError("null state '" + impl->stateNames[s] +
                           "' for parameter '" + info.name + "'");
      continue;
    }
    if (info.numElements == 0)
      continue;
    if (!params[p] || !grads[p])
      return makeError("null buffer for parameter '" + impl->params[p].name +
                       "'");
    for (size_t s = 0; s < numStates; ++s)
      if (!states[p * numStates + s])
        return makeError("null state '" + impl->stateNames[s] +
                         "' for parameter '" + impl->params[p].name + "'");
  }
  if (impl->perBuffer) {
    for (size_t p = 0; p < numParams; ++p) {
      Descriptor *d = &impl->descriptors[impl->firstDescriptor[p]];
      (d++)->setData(params[p]);
      if (impl->params[p].sparse) {
        const auto &grad = *static_cast<const SparseGrad *>(grads[p]);
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
    impl->stepArg = impl->globalStep;
    impl->compiled->step(impl->packedArgs.data());
    ++impl->globalStep;
    return Error::success();
  }
  // Point the table entries at the caller's buffers.
  for (size_t p = 0; p < numParams; ++p) {
    auto [tableIndex, first] = impl->entryOffsets[p];
    int64_t *entry = impl->bufferTables[tableIndex].data() + first;
    auto point = [&](void *data) {
      std::memcpy(&entry[0], &data, sizeof(void *));
      std::memcpy(&entry[1], &data, sizeof(void *));
      entry += Impl::kEntryWords;
    };
    point(params[p]);
    point(grads[p]);
    for (size_t s = 0; s < numStates; ++s)
      point(states[p * numStates + s]);
  }
  impl->stepArg = impl->globalStep;
  impl->compiled->step(impl->packedArgs.data());
  ++impl->globalStep;
  return Error::success();
}
