//===- GPUOptimizer.cpp - run a step's kernels on a CUDA GPU --------------===//
//
// Compiling: the GPU pipeline with `lower-host=0` leaves a host step
// function made of `gpu.launch_func` ops with constant shapes whose
// arguments are the step function's own arguments, and one `gpu.binary`.
// That function is read as a launch plan; nothing of it is executed.
//
// Loading: the image, and in device memory the optimizer's state: per
// buffer table an array of 1-D memref descriptors (StridedMemRefType<T, 1>:
// allocated and aligned pointers, offset, size, stride), the
// hyper-parameter table and the global step counter. Every kernel's
// parameters are then fixed (NVVM's expansion of the device tables), so
// they are built once.
//
// Stepping: the descriptors of the caller's buffers are copied to the
// device when they differ from those it holds; then each kernel is
// launched. The hyper-parameters and the step never travel with a step:
// setters copy them to the device when they change.
//
//===----------------------------------------------------------------------===//

#include "MixedPrecisionLayout.h"
#include "ParsedOptimizer.h"
#include "StepDescription.h"
#include "optim/Runtime/GPUOptimizer.h"

#include "optim/Dialect/Optim/IR/Optim.h"
#include "optim/Dialect/Optim/Transforms/StepABI.h"
#include "optim/Pipelines/Pipelines.h"
#include "optim/Runtime/CUDADriver.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/ExecutionEngine/CRunnerUtils.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <cstring>
#include <optional>

using namespace optim::runtime;
using llvm::Error;
using llvm::Expected;
using llvm::StringRef;

namespace {

Error makeError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

/// A 1-D memref descriptor as the kernels read it from a buffer table; its
/// pointers are device addresses.
using Descriptor1D = StridedMemRefType<char, 1>;

constexpr std::uintptr_t kBufferAlignment = 16;

/// What a step-function argument is.
enum class ArgKind { Table, Hyper, Status, Step };

} // namespace

/// The step's description (parameters, states, hyper-parameter slots) and
/// what compiling and loading it for a GPU adds.
class GPUOptimizer::Impl : public detail::StepDescription {
public:
  // Compiled (host only).
  std::string chip;
  std::string image;
  std::vector<GPUKernelLaunch> launches;
  /// Per buffer table: its entries, in order, as (parameter, buffer)
  /// where buffer 0 is the parameter, 1 its gradient, 2 + s state s
  /// (BufferTableLayout::contents).
  std::vector<std::vector<std::pair<unsigned, unsigned>>> tableEntries;
  /// The hyper-parameter table; once loaded, a mirror of the device's.
  std::vector<double> table;
  /// The global step until loaded (then it lives on the device).
  int64_t globalStep = 0;
  /// The step's status (clipping, dynamic loss scaling) until loaded (then
  /// it lives on the device); empty without one.
  std::vector<double> status;

  // Loaded.
  cuda::Driver *driver = nullptr;
  cuda::ContextHandle context = nullptr;
  int device = -1;
  /// Declared before the buffers and functions it holds so that it is
  /// destroyed last.
  cuda::Module module;
  std::vector<cuda::Function> functions;
  std::vector<cuda::DeviceBuffer> deviceTables;
  cuda::DeviceBuffer deviceHyper;
  cuda::DeviceBuffer deviceStep;
  cuda::DeviceBuffer deviceStatus;
  /// Per launch, its kernel parameters (every value 64 bits) and pointers
  /// to them, as cuLaunchKernel takes them.
  std::vector<std::vector<std::uint64_t>> launchValues;
  std::vector<std::vector<void *>> launchArgs;
  /// The descriptors the device tables hold (valid once uploaded), and the
  /// next step's, built before comparing.
  std::vector<std::vector<Descriptor1D>> uploadedTables;
  std::vector<std::vector<Descriptor1D>> nextTables;
  bool tablesUploaded = false;
  /// The stream of the latest step: setters copy there.
  cuda::StreamHandle stream = nullptr;

  unsigned numTables() const { return tableEntries.size(); }

  ArgKind kindOf(unsigned argument) const {
    if (argument < numTables())
      return ArgKind::Table;
    if (argument == numTables())
      return ArgKind::Hyper;
    if (!status.empty() && argument == numTables() + 1)
      return ArgKind::Status;
    return ArgKind::Step;
  }

  Error checkBuffers(llvm::ArrayRef<void *> paramPtrs,
                     llvm::ArrayRef<void *> gradPtrs,
                     llvm::ArrayRef<void *> statePtrs) const;
  /// Checks state buffer `index` (param-major): non-null and aligned, but
  /// for a state of no elements (the master of a parameter without one),
  /// which may be null.
  Error checkStateBuffer(llvm::ArrayRef<void *> statePtrs,
                         size_t index) const;
  /// Fills the states and, when `paramPtrs` is not empty, the masters from
  /// the parameters (see GPUOptimizer::initStatesFromParams).
  Error initStates(llvm::ArrayRef<void *> paramPtrs,
                   llvm::ArrayRef<void *> statePtrs, void *stream);
  Error load(int device);
  /// The initial value of a state (a group's constant learning rate where
  /// the rule starts a state from it).
  Expected<double> stateInitValue(unsigned param, unsigned state) const;
};

//===----------------------------------------------------------------------===//
// Compiling
//===----------------------------------------------------------------------===//

/// The chip of CUDA device 0, e.g. "sm_90".
static Expected<std::string> chipOfDevice0() {
  auto driver = cuda::Driver::get();
  if (!driver)
    return makeError("no chip given, and the CUDA driver cannot tell the "
                     "chip of device 0 (" +
                     llvm::toString(driver.takeError()) +
                     "): give one, e.g. sm_90");
  auto capability = driver->getComputeCapability(0);
  if (!capability)
    return capability.takeError();
  return "sm_" + std::to_string(capability->major) +
         std::to_string(capability->minor);
}

/// The integer constant `value` is, if it is one.
static std::optional<int64_t> constantOf(mlir::Value value) {
  mlir::IntegerAttr attr;
  if (value && mlir::matchPattern(value, mlir::m_Constant(&attr)))
    return attr.getInt();
  return std::nullopt;
}

/// Reads the launch plan from the host step function `step`.
static Expected<std::vector<GPUKernelLaunch>>
readLaunchPlan(mlir::func::FuncOp step, unsigned numTables, bool hasStatus) {
  std::vector<GPUKernelLaunch> launches;
  unsigned numArgs = step.getNumArguments();
  unsigned expected = numTables + 2 + (hasStatus ? 1 : 0);
  if (numArgs != expected)
    return makeError("the host step function '" + step.getSymName() +
                     "' has " + llvm::Twine(numArgs) +
                     " arguments; the ABI has " + llvm::Twine(expected));
  if (!step.getBody().hasOneBlock())
    return makeError("the host step function '" + step.getSymName() +
                     "' is not a single block");
  for (mlir::Operation &op : step.getBody().front()) {
    if (mlir::isa<mlir::arith::ConstantOp, mlir::func::ReturnOp>(op))
      continue;
    auto launch = mlir::dyn_cast<mlir::gpu::LaunchFuncOp>(op);
    if (!launch)
      return makeError("the host step function holds '" +
                       op.getName().getStringRef() +
                       "', which the GPU runtime cannot run (only "
                       "gpu.launch_func with constant shapes)");
    std::string kernel = launch.getKernelName().getValue().str();
    if (!launch.getAsyncDependencies().empty() || launch.getAsyncToken() ||
        launch.getAsyncObject() || launch.hasClusterSize())
      return makeError("the launch of kernel '" + kernel +
                       "' is asynchronous, on a given stream or clustered");
    if (mlir::Value shared = launch.getDynamicSharedMemorySize()) {
      std::optional<int64_t> bytes = constantOf(shared);
      if (!bytes || *bytes != 0)
        return makeError("the launch of kernel '" + kernel +
                         "' uses dynamic shared memory");
    }
    GPUKernelLaunch plan;
    plan.name = kernel;
    mlir::Value shape[6] = {launch.getGridSizeX(),  launch.getGridSizeY(),
                            launch.getGridSizeZ(),  launch.getBlockSizeX(),
                            launch.getBlockSizeY(), launch.getBlockSizeZ()};
    for (unsigned i = 0; i < 6; ++i) {
      std::optional<int64_t> size = constantOf(shape[i]);
      if (!size || *size < 1 || *size > INT32_MAX)
        return makeError("the launch of kernel '" + kernel +
                         "' has a grid or block size that is not a positive "
                         "constant");
      (i < 3 ? plan.grid[i] : plan.block[i - 3]) =
          static_cast<unsigned>(*size);
    }
    for (mlir::Value operand : launch.getKernelOperands()) {
      auto argument = mlir::dyn_cast<mlir::BlockArgument>(operand);
      if (!argument || argument.getOwner() != &step.getBody().front())
        return makeError("an argument of kernel '" + kernel +
                         "' is not an argument of the step function");
      unsigned index = argument.getArgNumber();
      mlir::Type type = argument.getType();
      auto memref = mlir::dyn_cast<mlir::MemRefType>(type);
      // Buffer tables, the hyper-parameter table, the status (clipping,
      // dynamic loss scaling), the step counter (memref<1xi64>,
      // optim-step-counter-to-memory).
      unsigned counterIndex = numTables + 1 + (hasStatus ? 1 : 0);
      bool isCounter = memref && index == counterIndex &&
                       memref.getElementType().isInteger(64) &&
                       memref.getShape() == llvm::ArrayRef<int64_t>{1};
      bool isStatus = memref && hasStatus && index == numTables + 1 &&
                      memref.getElementType().isF64();
      if (memref && memref.getRank() == 1 &&
          (index <= numTables || isCounter || isStatus)) {
        plan.numParams += 3 + 2 * memref.getRank();
      } else {
        return makeError("argument " + llvm::Twine(index) + " of kernel '" +
                         kernel + "' has an unexpected type");
      }
      plan.arguments.push_back(index);
    }
    launches.push_back(std::move(plan));
  }
  if (launches.empty())
    return makeError("the host step function launches no kernel");
  return launches;
}

Expected<std::unique_ptr<GPUOptimizer>>
GPUOptimizer::compile(StringRef source, const GPUCompileOptions &options) {
  auto impl = std::make_unique<Impl>();
  impl->chip = options.chip;
  if (impl->chip.empty()) {
    auto chip = chipOfDevice0();
    if (!chip)
      return chip.takeError();
    impl->chip = std::move(*chip);
  }

  auto parsed = detail::ParsedOptimizer::parse(source);
  if (!parsed)
    return parsed.takeError();
  mlir::MLIRContext &context = (*parsed)->getContext();
  mlir::ModuleOp module = (*parsed)->getModule();
  mlir::optim::OptimizerOp optimizerOp = (*parsed)->getOptimizer();
  std::string symbol = optimizerOp.getSymName().str();
  mlir::optim::StepABI abi = mlir::optim::StepABI::get(optimizerOp);
  for (const mlir::optim::ParamABI &param : abi.getParams())
    if (param.sparse)
      return makeError("the GPU runtime takes dense parameters only; '" +
                       param.name + "' has a sparse (row) gradient");

  // The ABI: parameters, states, hyper-parameters, buffer tables.
  auto description = detail::StepDescription::get(abi);
  if (!description)
    return description.takeError();
  static_cast<detail::StepDescription &>(*impl) = std::move(*description);
  impl->table = impl->initialTable;
  impl->status = impl->initialStatus;
  // Every buffer in the table of its own element type, as on the CPU
  // (docs/Mixed-precision.md).
  impl->tableEntries = detail::BufferTableLayout::get(abi).contents;

  // Kernels and launch plan. The chip, the image form and the host form
  // are the runtime's to choose.
  for (llvm::StringRef reserved : {"chip=", "format=", "lower-host="})
    if (llvm::StringRef(options.pipelineOptions).contains(reserved))
      return makeError("pipeline options may not set '" + reserved.str() +
                       "' (the runtime chooses it)");
  std::string text = "chip=" + impl->chip + " format=isa " +
                     options.pipelineOptions + " lower-host=0";
  std::string problem;
  auto pipelineOptions =
      detail::parsePipelineOptions<mlir::optim::GPUPipelineOptions>(text,
                                                                    problem);
  if (!pipelineOptions)
    return makeError("invalid GPU pipeline options '" +
                     options.pipelineOptions + "': " + problem);
  impl->constantHyperParams = pipelineOptions->constantHyperParams;
  mlir::PassManager pm(&context);
  mlir::optim::buildOptimGPUPipeline(pm, *pipelineOptions);
  if (mlir::failed(pm.run(module)))
    return makeError("lowering failed: " + (*parsed)->getDiagnostics());

  auto binaries = llvm::to_vector(module.getOps<mlir::gpu::BinaryOp>());
  if (binaries.size() != 1 || binaries.front().getObjects().size() != 1)
    return makeError("expected one GPU image, found " +
                     llvm::Twine(binaries.size()) + " binaries");
  auto object = mlir::cast<mlir::gpu::ObjectAttr>(
      binaries.front().getObjects().getValue().front());
  impl->image = object.getObject().getValue().str();

  auto step = module.lookupSymbol<mlir::func::FuncOp>(symbol + "_step");
  if (!step)
    return makeError("the lowered module has no host function '" + symbol +
                     "_step'");
  auto launches =
      readLaunchPlan(step, impl->numTables(), !impl->status.empty());
  if (!launches)
    return launches.takeError();
  impl->launches = std::move(*launches);
  return std::unique_ptr<GPUOptimizer>(new GPUOptimizer(std::move(impl)));
}

GPUOptimizer::GPUOptimizer(std::unique_ptr<Impl> impl)
    : impl(std::move(impl)) {}

GPUOptimizer::~GPUOptimizer() = default;

llvm::ArrayRef<ParamInfo> GPUOptimizer::getParams() const {
  return impl->params;
}
llvm::ArrayRef<std::string> GPUOptimizer::getStateNames() const {
  return impl->stateNames;
}
unsigned GPUOptimizer::getNumGroups() const { return impl->numGroups; }
bool GPUOptimizer::hasMasterWeights() const { return impl->hasMaster; }
DType GPUOptimizer::getStateDType(unsigned param, unsigned state) const {
  return impl->params[param].stateDTypes[state];
}
StringRef GPUOptimizer::getChip() const { return impl->chip; }
StringRef GPUOptimizer::getImage() const { return impl->image; }
llvm::ArrayRef<GPUKernelLaunch> GPUOptimizer::getLaunches() const {
  return impl->launches;
}
unsigned GPUOptimizer::getNumTables() const { return impl->numTables(); }
unsigned GPUOptimizer::getNumTableEntries(unsigned table) const {
  return table < impl->numTables() ? impl->tableEntries[table].size() : 0;
}
unsigned GPUOptimizer::getHyperTableSize() const { return impl->table.size(); }

//===----------------------------------------------------------------------===//
// Loading
//===----------------------------------------------------------------------===//

Error GPUOptimizer::Impl::load(int deviceIndex) {
  if (driver)
    return makeError("the GPU optimizer is already loaded");
  auto loaded = cuda::Driver::get();
  if (!loaded)
    return loaded.takeError();
  auto primary = loaded->getPrimaryContext(deviceIndex);
  if (!primary)
    return primary.takeError();
  auto image = cuda::Module::load(*loaded, *primary, this->image);
  if (!image)
    return image.takeError();
  std::vector<cuda::Function> kernels;
  for (const GPUKernelLaunch &launch : launches) {
    auto function = image->getFunction(launch.name);
    if (!function)
      return function.takeError();
    kernels.push_back(*function);
  }
  std::vector<cuda::DeviceBuffer> tables;
  for (const auto &entries : tableEntries) {
    auto buffer = cuda::DeviceBuffer::allocate(
        *loaded, *primary, entries.size() * sizeof(Descriptor1D));
    if (!buffer)
      return buffer.takeError();
    tables.push_back(std::move(*buffer));
  }
  auto hyper = cuda::DeviceBuffer::allocate(*loaded, *primary,
                                            table.size() * sizeof(double));
  if (!hyper)
    return hyper.takeError();
  auto counter =
      cuda::DeviceBuffer::allocate(*loaded, *primary, sizeof(int64_t));
  if (!counter)
    return counter.takeError();
  cuda::DeviceBuffer statusBuffer;
  if (!status.empty()) {
    auto allocated = cuda::DeviceBuffer::allocate(
        *loaded, *primary, status.size() * sizeof(double));
    if (!allocated)
      return allocated.takeError();
    statusBuffer = std::move(*allocated);
    if (Error error = statusBuffer.copyFromHostAsync(
            status.data(), status.size() * sizeof(double), nullptr))
      return error;
  }
  // The hyper-parameters and the step, on the device before any step: the
  // copies are complete when load returns, whatever stream steps use.
  if (Error error = hyper->copyFromHostAsync(
          table.data(), table.size() * sizeof(double), nullptr))
    return error;
  if (Error error =
          counter->copyFromHostAsync(&globalStep, sizeof(int64_t), nullptr))
    return error;
  if (Error error = loaded->synchronize(*primary, nullptr))
    return error;

  // Every kernel's parameters, expanded as NVVM's calling convention does:
  // a 1-D memref is (allocated, aligned, offset, size, stride).
  std::vector<std::vector<std::uint64_t>> values;
  for (const GPUKernelLaunch &launch : launches) {
    std::vector<std::uint64_t> kernelValues;
    kernelValues.reserve(launch.numParams);
    for (unsigned argument : launch.arguments) {
      switch (kindOf(argument)) {
      case ArgKind::Table: {
        const cuda::DeviceBuffer &buffer = tables[argument];
        kernelValues.insert(kernelValues.end(),
                            {buffer.get(), buffer.get(), 0,
                             tableEntries[argument].size(), 1});
        break;
      }
      case ArgKind::Hyper:
        kernelValues.insert(kernelValues.end(),
                            {hyper->get(), hyper->get(), 0, table.size(), 1});
        break;
      case ArgKind::Status:
        kernelValues.insert(kernelValues.end(),
                            {statusBuffer.get(), statusBuffer.get(), 0,
                             status.size(), 1});
        break;
      case ArgKind::Step:
        kernelValues.insert(kernelValues.end(),
                            {counter->get(), counter->get(), 0, 1, 1});
        break;
      }
    }
    values.push_back(std::move(kernelValues));
  }

  // Everything worked: keep it.
  module = std::move(*image);
  functions = std::move(kernels);
  deviceTables = std::move(tables);
  deviceHyper = std::move(*hyper);
  deviceStep = std::move(*counter);
  deviceStatus = std::move(statusBuffer);
  launchValues = std::move(values);
  launchArgs.clear();
  for (std::vector<std::uint64_t> &kernelValues : launchValues) {
    std::vector<void *> pointers;
    for (std::uint64_t &value : kernelValues)
      pointers.push_back(&value);
    launchArgs.push_back(std::move(pointers));
  }
  uploadedTables.assign(tableEntries.size(), {});
  nextTables.assign(tableEntries.size(), {});
  for (size_t t = 0; t < tableEntries.size(); ++t) {
    uploadedTables[t].resize(tableEntries[t].size());
    nextTables[t].resize(tableEntries[t].size());
  }
  tablesUploaded = false;
  driver = &*loaded;
  context = *primary;
  device = deviceIndex;
  return Error::success();
}

Error GPUOptimizer::load(int device) { return impl->load(device); }
bool GPUOptimizer::isLoaded() const { return impl->driver != nullptr; }
int GPUOptimizer::getDevice() const { return impl->device; }

//===----------------------------------------------------------------------===//
// Hyper-parameters and the global step
//===----------------------------------------------------------------------===//

Error GPUOptimizer::setHyperParam(unsigned group, StringRef name,
                                  double value) {
  Impl &s = *impl;
  std::vector<double> updated = s.table;
  if (Error error = s.setHyperParam(updated, group, name, value))
    return error;
  if (s.driver) {
    // The one slot that changed, in order on the optimizer's stream. The
    // source is pageable memory: the driver stages it before returning.
    unsigned slot = cantFail(s.findSlot(group, name));
    if (Error error = s.deviceHyper.copyFromHostAsync(
            &updated[slot], sizeof(double), s.stream, slot * sizeof(double)))
      return error;
  }
  s.table = std::move(updated);
  return Error::success();
}

Expected<double> GPUOptimizer::getHyperParam(unsigned group,
                                             StringRef name) const {
  return impl->getHyperParam(impl->table, group, name);
}

Expected<int64_t> GPUOptimizer::getGlobalStep() {
  Impl &s = *impl;
  if (!s.driver)
    return s.globalStep;
  int64_t value = 0;
  if (Error error =
          s.deviceStep.copyToHostAsync(&value, sizeof(int64_t), s.stream))
    return error;
  if (Error error = s.driver->synchronize(s.context, s.stream))
    return error;
  return value;
}

bool GPUOptimizer::hasStepStatus() const { return !impl->status.empty(); }

Expected<StepStatus> GPUOptimizer::getStepStatus() {
  Impl &s = *impl;
  if (s.status.empty())
    return makeError("the optimizer has no step status: it neither clips "
                     "gradients nor scales the loss dynamically");
  if (s.driver) {
    if (Error error = s.deviceStatus.copyToHostAsync(
            s.status.data(), s.status.size() * sizeof(double), s.stream))
      return error;
    if (Error error = s.driver->synchronize(s.context, s.stream))
      return error;
  }
  return s.readStatus(s.status.data());
}

Error GPUOptimizer::setLossScaleState(double lossScale, int64_t goodSteps) {
  Impl &s = *impl;
  std::vector<double> updated = s.status;
  if (Error error =
          s.writeLossScaleState(updated.data(), lossScale, goodSteps))
    return error;
  if (s.driver)
    if (Error error = s.deviceStatus.copyFromHostAsync(
            updated.data(), 2 * sizeof(double), s.stream))
      return error;
  s.status = std::move(updated);
  return Error::success();
}

Error GPUOptimizer::setGlobalStep(int64_t step) {
  Impl &s = *impl;
  if (step < 0)
    return makeError("the global step must not be negative, got " +
                     llvm::Twine(step));
  if (s.driver)
    if (Error error =
            s.deviceStep.copyFromHostAsync(&step, sizeof(int64_t), s.stream))
      return error;
  s.globalStep = step;
  return Error::success();
}

//===----------------------------------------------------------------------===//
// States
//===----------------------------------------------------------------------===//

Expected<double> GPUOptimizer::Impl::stateInitValue(unsigned param,
                                                    unsigned state) const {
  double value = stateInit[param][state];
  if (!std::isnan(value))
    return value;
  // The rule starts this state from the learning rate: a constant one is
  // in the table.
  unsigned group = params[param].group;
  auto rate = getHyperParam(table, group, "learning_rate");
  if (!rate) {
    llvm::consumeError(rate.takeError());
    return makeError("state '" + stateNames[state] + "' starts from the "
                     "learning rate, which is scheduled in group " +
                     llvm::Twine(group) +
                     ": the GPU runtime cannot fill it; fill it yourself");
  }
  return *rate;
}

double GPUOptimizer::getStateInitValue(unsigned param, unsigned state) const {
  auto value = impl->stateInitValue(param, state);
  if (!value) {
    llvm::consumeError(value.takeError());
    return std::nan("");
  }
  return *value;
}

Error GPUOptimizer::initStates(llvm::ArrayRef<void *> states, void *stream) {
  if (impl->hasMaster)
    return makeError("the optimizer keeps float32 master weights: their "
                     "initial values are the parameters', give the "
                     "parameters to initStatesFromParams");
  return impl->initStates({}, states, stream);
}

Error GPUOptimizer::initStatesFromParams(llvm::ArrayRef<void *> params,
                                         llvm::ArrayRef<void *> states,
                                         void *stream) {
  if (params.size() != impl->params.size())
    return makeError("expected " + llvm::Twine(impl->params.size()) +
                     " parameter buffers, got " +
                     llvm::Twine(params.size()));
  return impl->initStates(params, states, stream);
}

Error GPUOptimizer::Impl::initStates(llvm::ArrayRef<void *> paramPtrs,
                                     llvm::ArrayRef<void *> statePtrs,
                                     void *stream) {
  size_t numStates = stateNames.size();
  if (statePtrs.size() != params.size() * numStates)
    return makeError("expected " + llvm::Twine(params.size() * numStates) +
                     " state buffers, got " + llvm::Twine(statePtrs.size()));
  // Every value and pointer is checked before anything is enqueued.
  std::vector<double> values;
  for (size_t p = 0; p < params.size(); ++p) {
    for (size_t k = 0; k < numStates; ++k) {
      if (Error error = checkStateBuffer(statePtrs, p * numStates + k))
        return error;
      auto value = stateInitValue(p, k);
      if (!value)
        return value.takeError();
      values.push_back(*value);
    }
    if (params[p].hasMaster && params[p].numElements != 0 &&
        !paramPtrs.empty()) {
      if (!paramPtrs[p])
        return makeError("parameter buffer " + llvm::Twine(p) + " ('" +
                         params[p].name + "') is null");
      if (reinterpret_cast<std::uintptr_t>(paramPtrs[p]) % kBufferAlignment)
        return makeError("parameter buffer " + llvm::Twine(p) + " ('" +
                         params[p].name + "') is not 16-byte aligned");
    }
  }
  if (!driver)
    if (Error error = load(0))
      return error;
  auto cuStream = static_cast<cuda::StreamHandle>(stream);
  auto devicePtr = [](void *pointer) {
    return static_cast<cuda::DevicePtr>(
        reinterpret_cast<std::uintptr_t>(pointer));
  };
  for (size_t p = 0; p < params.size(); ++p) {
    const ParamInfo &info = params[p];
    for (size_t k = 0; k < numStates; ++k) {
      auto count = static_cast<std::size_t>(info.stateNumElements[k]);
      if (count == 0)
        continue;
      cuda::DevicePtr pointer = devicePtr(statePtrs[p * numStates + k]);
      if (hasMaster && k + 1 == numStates) {
        // The master: the parameter's value in float32 (exact), converted
        // on the host. The parameter is read back after the work enqueued
        // before on the stream, and the stream waited for.
        std::vector<char> param(count * getElementSize(info.dtype));
        std::vector<float> master(count);
        if (Error error = driver->copyToHostAsync(context, param.data(),
                                                  devicePtr(paramPtrs[p]),
                                                  param.size(), cuStream))
          return error;
        if (Error error = driver->synchronize(context, cuStream))
          return error;
        detail::convertToFloat32(param.data(), info.dtype, count,
                                 master.data());
        // Staged by the driver before the call returns.
        if (Error error =
                driver->copyToDeviceAsync(context, pointer, master.data(),
                                          count * sizeof(float), cuStream))
          return error;
        continue;
      }
      Error error = Error::success();
      double value = values[p * numStates + k];
      switch (info.stateDTypes[k]) {
      case DType::F32: {
        float v = static_cast<float>(value);
        std::uint32_t bits;
        std::memcpy(&bits, &v, sizeof(bits));
        error = driver->memsetD32Async(context, pointer, bits, count,
                                       cuStream);
        break;
      }
      case DType::F16:
      case DType::BF16:
        error = driver->memsetD16Async(
            context, pointer,
            detail::toHalfBits(value, info.stateDTypes[k]), count,
            cuStream);
        break;
      case DType::F64: {
        // No 64-bit memset: a host copy of the values (staged by the
        // driver before the call returns).
        std::vector<double> host(count, value);
        error = driver->copyToDeviceAsync(context, pointer, host.data(),
                                          count * sizeof(double), cuStream);
        break;
      }
      }
      if (error)
        return error;
    }
  }
  return Error::success();
}

//===----------------------------------------------------------------------===//
// Stepping
//===----------------------------------------------------------------------===//

Error GPUOptimizer::Impl::checkBuffers(llvm::ArrayRef<void *> paramPtrs,
                                       llvm::ArrayRef<void *> gradPtrs,
                                       llvm::ArrayRef<void *> statePtrs) const {
  size_t numParams = params.size();
  if (Error error = checkBufferCounts(paramPtrs.size(), gradPtrs.size(),
                                      statePtrs.size()))
    return error;
  auto check = [](void *pointer, const llvm::Twine &what) -> Error {
    if (!pointer)
      return makeError(what + " is null");
    if (reinterpret_cast<std::uintptr_t>(pointer) % kBufferAlignment)
      return makeError(what + " is not 16-byte aligned");
    return Error::success();
  };
  for (size_t p = 0; p < numParams; ++p) {
    if (Error error = check(paramPtrs[p], "parameter buffer " +
                                              llvm::Twine(p) + " ('" +
                                              params[p].name + "')"))
      return error;
    if (Error error = check(gradPtrs[p], "gradient buffer " + llvm::Twine(p) +
                                             " ('" + params[p].name + "')"))
      return error;
  }
  for (size_t s = 0; s < statePtrs.size(); ++s)
    if (Error error = checkStateBuffer(statePtrs, s))
      return error;
  // A buffer the step writes may not overlap another buffer of the step
  // (device addresses are compared as the host's are).
  return checkNoAliasing(paramPtrs, gradPtrs, statePtrs);
}

Error GPUOptimizer::Impl::checkStateBuffer(llvm::ArrayRef<void *> statePtrs,
                                           size_t index) const {
  size_t numStates = stateNames.size();
  void *pointer = statePtrs[index];
  if (!pointer) {
    if (params[index / numStates].stateNumElements[index % numStates] == 0)
      return Error::success();
    return makeError("state buffer " + llvm::Twine(index) + " is null");
  }
  if (reinterpret_cast<std::uintptr_t>(pointer) % kBufferAlignment)
    return makeError("state buffer " + llvm::Twine(index) +
                     " is not 16-byte aligned");
  return Error::success();
}

Error GPUOptimizer::checkStep(llvm::ArrayRef<void *> params,
                              llvm::ArrayRef<void *> grads,
                              llvm::ArrayRef<void *> states) const {
  return impl->checkBuffers(params, grads, states);
}

Error GPUOptimizer::step(llvm::ArrayRef<void *> params,
                         llvm::ArrayRef<void *> grads,
                         llvm::ArrayRef<void *> states, void *stream) {
  Impl &s = *impl;
  if (Error error = s.checkBuffers(params, grads, states))
    return error;
  if (!s.driver)
    if (Error error = s.load(0))
      return error;
  auto cuStream = static_cast<cuda::StreamHandle>(stream);

  // The descriptors of this step's buffers; copied only if they changed.
  size_t numStates = s.stateNames.size();
  bool changed = !s.tablesUploaded;
  for (size_t t = 0; t < s.tableEntries.size(); ++t) {
    for (size_t e = 0; e < s.tableEntries[t].size(); ++e) {
      auto [p, b] = s.tableEntries[t][e];
      void *pointer = b == 0   ? params[p]
                      : b == 1 ? grads[p]
                               : states[p * numStates + (b - 2)];
      Descriptor1D &entry = s.nextTables[t][e];
      entry.basePtr = entry.data = static_cast<char *>(pointer);
      entry.offset = 0;
      entry.sizes[0] =
          detail::BufferTableLayout::getNumElements(s.params[p], b);
      entry.strides[0] = 1;
      changed |= s.uploadedTables[t][e].data != entry.data;
    }
  }
  if (changed) {
    // A graph would replay the copy of a host buffer we overwrite later:
    // the tables of a captured step must already be on the device.
    auto capturing = s.driver->isCapturing(s.context, cuStream);
    if (!capturing)
      return capturing.takeError();
    if (*capturing)
      return makeError("this step is being captured into a CUDA graph with "
                       "buffers other than those of the optimizer's previous "
                       "step: run one step on these buffers before capturing");
    for (size_t t = 0; t < s.deviceTables.size(); ++t)
      if (Error error = s.deviceTables[t].copyFromHostAsync(
              s.nextTables[t].data(),
              s.nextTables[t].size() * sizeof(Descriptor1D), cuStream)) {
        s.tablesUploaded = false;
        return error;
      }
    std::swap(s.uploadedTables, s.nextTables);
    s.tablesUploaded = true;
  }

  for (size_t k = 0; k < s.launches.size(); ++k) {
    const GPUKernelLaunch &launch = s.launches[k];
    cuda::Dim3 grid{launch.grid[0], launch.grid[1], launch.grid[2]};
    cuda::Dim3 block{launch.block[0], launch.block[1], launch.block[2]};
    if (Error error = s.driver->launch(s.functions[k], grid, block, 0,
                                       cuStream, s.launchArgs[k].data())) {
      // A failed launch leaves the step partly enqueued: the tables are
      // sent again at the next step.
      s.tablesUploaded = false;
      return error;
    }
  }
  s.stream = cuStream;
  return Error::success();
}
