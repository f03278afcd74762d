//===- GPUOptimizer.cpp - run a step's kernels on a CUDA GPU --------------===//
//
// Compiling: the GPU pipeline with `lower-host=0` leaves a host step
// function made of `gpu.launch_func` ops with constant shapes whose
// arguments are the step function's own arguments, and one `gpu.binary`.
// That function is read as a launch plan; nothing of it is executed.
//
// Stepping: per buffer table, an array of 1-D memref descriptors
// (StridedMemRefType<T, 1>: allocated and aligned pointers, offset, size,
// stride) pointing to the caller's device buffers is copied to device
// memory, with the hyper-parameter table; then each kernel is launched with
// its arguments expanded as NVVM's calling convention does.
//
//===----------------------------------------------------------------------===//

#include "ParsedOptimizer.h"
#include "StepDescription.h"
#include "optim/Runtime/GPUOptimizer.h"

#include "optim/Dialect/Optim/IR/Optim.h"
#include "optim/Dialect/Optim/Transforms/StepABI.h"
#include "optim/Pipelines/Pipelines.h"
#include "optim/Runtime/CUDADriver.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
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

/// A 1-D memref descriptor as the kernels read it from a buffer table
/// (StridedMemRefType<T, 1> of mlir/ExecutionEngine/CRunnerUtils.h).
struct Descriptor1D {
  std::uint64_t allocated;
  std::uint64_t aligned;
  std::int64_t offset;
  std::int64_t size;
  std::int64_t stride;
};
static_assert(sizeof(Descriptor1D) == 40, "a 1-D memref descriptor");

constexpr std::uintptr_t kBufferAlignment = 16;

/// What a step-function argument is.
enum class ArgKind { Table, Hyper, Step };

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
  /// where buffer 0 is the parameter, 1 its gradient, 2 + s state s.
  std::vector<std::vector<std::pair<unsigned, unsigned>>> tableEntries;
  std::vector<float> table;
  int64_t globalStep = 0;

  // Loaded.
  cuda::Driver *driver = nullptr;
  cuda::ContextHandle context = nullptr;
  /// Declared before the buffers and functions it holds so that it is
  /// destroyed last.
  cuda::Module module;
  std::vector<cuda::Function> functions;
  std::vector<cuda::DeviceBuffer> deviceTables;
  cuda::DeviceBuffer deviceHyper;
  /// The host sources of the last step's asynchronous copies.
  std::vector<std::vector<Descriptor1D>> hostTables;
  std::vector<float> hostHyper;

  unsigned numTables() const { return tableEntries.size(); }

  ArgKind kindOf(unsigned argument) const {
    if (argument < numTables())
      return ArgKind::Table;
    return argument == numTables() ? ArgKind::Hyper : ArgKind::Step;
  }

  Error checkBuffers(llvm::ArrayRef<void *> paramPtrs,
                     llvm::ArrayRef<void *> gradPtrs,
                     llvm::ArrayRef<void *> statePtrs) const;
  Error load(int device);
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
readLaunchPlan(mlir::func::FuncOp step, unsigned numTables) {
  std::vector<GPUKernelLaunch> launches;
  unsigned numArgs = step.getNumArguments();
  if (numArgs != numTables + 2)
    return makeError("the host step function '" + step.getSymName() +
                     "' has " + llvm::Twine(numArgs) +
                     " arguments; the ABI has " + llvm::Twine(numTables + 2));
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
      if (auto memref = mlir::dyn_cast<mlir::MemRefType>(type)) {
        if (index > numTables || memref.getRank() != 1)
          return makeError("argument " + llvm::Twine(index) + " of kernel '" +
                           kernel + "' has an unexpected memref type");
        plan.numParams += 3 + 2 * memref.getRank();
      } else if (type.isInteger(64) && index == numTables + 1) {
        plan.numParams += 1;
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
  unsigned buffersPerParam = 2 + abi.getStates().size();
  impl->tableEntries.resize(abi.getTableElementTypes().size());
  for (unsigned p = 0; p < abi.getParams().size(); ++p) {
    auto [table, position] = abi.getTablePosition(p);
    auto &entries = impl->tableEntries[table];
    if (entries.size() < (position + 1) * buffersPerParam)
      entries.resize((position + 1) * buffersPerParam);
    for (unsigned b = 0; b < buffersPerParam; ++b)
      entries[position * buffersPerParam + b] = {p, b};
  }

  // Kernels and launch plan. The chip, the image form and the host form
  // are the runtime's to choose.
  for (llvm::StringRef reserved : {"chip=", "format=", "lower-host="})
    if (llvm::StringRef(options.pipelineOptions).contains(reserved))
      return makeError("pipeline options may not set '" + reserved.str() +
                       "' (the runtime chooses it)");
  std::string text = "chip=" + impl->chip + " format=isa " +
                     options.pipelineOptions + " lower-host=0";
  auto pipelineOptions =
      mlir::optim::GPUPipelineOptions::createFromString(text);
  if (!pipelineOptions)
    return makeError("invalid GPU pipeline options '" +
                     options.pipelineOptions + "'");
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
  auto launches = readLaunchPlan(step, impl->numTables());
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
// Hyper-parameters and the global step
//===----------------------------------------------------------------------===//

Error GPUOptimizer::setHyperParam(unsigned group, StringRef name,
                                  double value) {
  return impl->setHyperParam(impl->table, group, name, value);
}

Expected<double> GPUOptimizer::getHyperParam(unsigned group,
                                             StringRef name) const {
  return impl->getHyperParam(impl->table, group, name);
}

int64_t GPUOptimizer::getGlobalStep() const { return impl->globalStep; }
void GPUOptimizer::setGlobalStep(int64_t step) { impl->globalStep = step; }

//===----------------------------------------------------------------------===//
// Loading and stepping
//===----------------------------------------------------------------------===//

Error GPUOptimizer::Impl::load(int device) {
  if (driver)
    return makeError("the GPU optimizer is already loaded");
  auto loaded = cuda::Driver::get();
  if (!loaded)
    return loaded.takeError();
  auto primary = loaded->getPrimaryContext(device);
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
                                            table.size() * sizeof(float));
  if (!hyper)
    return hyper.takeError();

  // Everything worked: keep it.
  module = std::move(*image);
  functions = std::move(kernels);
  deviceTables = std::move(tables);
  deviceHyper = std::move(*hyper);
  hostTables.assign(tableEntries.size(), {});
  for (size_t t = 0; t < tableEntries.size(); ++t)
    hostTables[t].resize(tableEntries[t].size());
  hostHyper.resize(table.size());
  driver = &*loaded;
  context = *primary;
  return Error::success();
}

Error GPUOptimizer::load(int device) { return impl->load(device); }
bool GPUOptimizer::isLoaded() const { return impl->driver != nullptr; }

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
    if (Error error = check(statePtrs[s], "state buffer " + llvm::Twine(s)))
      return error;
  return Error::success();
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

  // The host copies the asynchronous copies read.
  size_t numStates = s.stateNames.size();
  for (size_t t = 0; t < s.tableEntries.size(); ++t) {
    for (size_t e = 0; e < s.tableEntries[t].size(); ++e) {
      auto [p, b] = s.tableEntries[t][e];
      void *pointer = b == 0   ? params[p]
                      : b == 1 ? grads[p]
                               : states[p * numStates + (b - 2)];
      auto address = static_cast<std::uint64_t>(
          reinterpret_cast<std::uintptr_t>(pointer));
      s.hostTables[t][e] = {address, address, 0, s.params[p].numElements, 1};
    }
  }
  s.hostHyper = s.table;

  auto cuStream = static_cast<cuda::StreamHandle>(stream);
  for (size_t t = 0; t < s.deviceTables.size(); ++t)
    if (Error error = s.deviceTables[t].copyFromHostAsync(
            s.hostTables[t].data(),
            s.hostTables[t].size() * sizeof(Descriptor1D), cuStream))
      return error;
  if (Error error = s.deviceHyper.copyFromHostAsync(
          s.hostHyper.data(), s.hostHyper.size() * sizeof(float), cuStream))
    return error;

  // Kernel parameters: every expanded value is 64 bits.
  int64_t stepValue = s.globalStep;
  for (size_t k = 0; k < s.launches.size(); ++k) {
    const GPUKernelLaunch &launch = s.launches[k];
    std::vector<std::uint64_t> values;
    values.reserve(launch.numParams);
    for (unsigned argument : launch.arguments) {
      switch (s.kindOf(argument)) {
      case ArgKind::Table: {
        const cuda::DeviceBuffer &buffer = s.deviceTables[argument];
        values.insert(values.end(), {buffer.get(), buffer.get(), 0,
                                     s.tableEntries[argument].size(), 1});
        break;
      }
      case ArgKind::Hyper:
        values.insert(values.end(), {s.deviceHyper.get(), s.deviceHyper.get(),
                                     0, s.table.size(), 1});
        break;
      case ArgKind::Step:
        values.push_back(static_cast<std::uint64_t>(stepValue));
        break;
      }
    }
    std::vector<void *> args;
    args.reserve(values.size());
    for (std::uint64_t &value : values)
      args.push_back(&value);
    cuda::Dim3 grid{launch.grid[0], launch.grid[1], launch.grid[2]};
    cuda::Dim3 block{launch.block[0], launch.block[1], launch.block[2]};
    if (Error error = s.driver->launch(s.functions[k], grid, block, 0,
                                       cuStream, args.data()))
      return error;
  }
  ++s.globalStep;
  return Error::success();
}
