//===- StepDescription.cpp - a step's ABI, whatever the target ------------===//

#include "StepDescription.h"

#include <cmath>

using namespace optim::runtime;
using namespace optim::runtime::detail;

static llvm::Error makeError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

static std::optional<DType> toDType(mlir::Type type) {
  if (type.isF32())
    return DType::F32;
  if (type.isF64())
    return DType::F64;
  if (type.isF16())
    return DType::F16;
  if (type.isBF16())
    return DType::BF16;
  return std::nullopt;
}

llvm::Expected<StepDescription>
StepDescription::get(const mlir::optim::StepABI &abi) {
  StepDescription description;
  for (const mlir::optim::ParamABI &param : abi.getParams()) {
    ParamInfo info;
    info.name = param.name;
    info.shape.assign(param.type.getShape().begin(),
                      param.type.getShape().end());
    info.numElements = param.type.getNumElements();
    std::optional<DType> dtype = toDType(param.type.getElementType());
    if (!dtype)
      return makeError("parameter '" + param.name +
                       "' has an unsupported element type");
    info.dtype = *dtype;
    info.group = param.group;
    info.sparse = param.sparse;
    info.hasMaster = static_cast<bool>(param.master);
    unsigned index = description.params.size();
    for (unsigned s = 0, e = abi.getNumStateBuffers(); s < e; ++s) {
      llvm::SmallVector<int64_t> shape = abi.getStateShape(index, s);
      info.stateShapes.emplace_back(shape.begin(), shape.end());
      info.stateNumElements.push_back(abi.getStateNumElements(index, s));
      std::optional<DType> stateDType =
          toDType(abi.getStateElementType(index, s));
      if (!stateDType)
        return makeError("a state of parameter '" + param.name +
                         "' has an unsupported element type");
      info.stateDTypes.push_back(*stateDType);
    }
    description.params.push_back(std::move(info));
  }
  for (const mlir::optim::StateSpec *state : abi.getStates())
    description.stateNames.push_back(state->name.str());
  description.hasMaster = abi.hasMaster();
  if (description.hasMaster)
    description.stateNames.push_back("master");
  for (const ParamInfo &info : description.params) {
    std::vector<double> inits;
    for (const mlir::optim::StateSpec *state : abi.getStates())
      inits.push_back(state->initFrom == "learning_rate"
                          ? std::nan("")
                          : abi.getStateInitValue(*state, info.group));
    // The master starts as the parameter (Optimizer::initStates).
    if (description.hasMaster)
      inits.push_back(0.0);
    description.stateInit.push_back(std::move(inits));
  }
  if (abi.hasStatus()) {
    llvm::SmallVector<double> status = abi.getInitialStatus();
    description.initialStatus.assign(status.begin(), status.end());
  }
  description.skipsNonfinite = abi.hasDynamicLossScale();
  description.numGroups = abi.getGroups().size();
  llvm::SmallVector<double> table = abi.getInitialTable();
  description.initialTable.assign(table.begin(), table.end());
  for (unsigned g = 0; g < description.numGroups; ++g) {
    llvm::StringMap<unsigned> slots;
    for (llvm::StringRef name : abi.getGlobalSlotNames())
      slots[name] = abi.getSlot(g, name);
    slots["weight_decay"] = abi.getSlot(g, "weight_decay");
    if (abi.getGroups()[g].hasConstantLearningRate()) {
      slots["learning_rate"] = abi.getSlot(g, "learning_rate");
      slots["lr"] = abi.getSlot(g, "learning_rate");
    }
    for (const mlir::optim::HyperParamSpec *hyper :
         abi.getSpec().getOperandHyperParams())
      slots[hyper->name] = abi.getSlot(g, hyper->name);
    description.slots.push_back(std::move(slots));
  }
  return description;
}

llvm::Expected<unsigned>
StepDescription::findSlot(unsigned group, llvm::StringRef name) const {
  if (group >= numGroups)
    return makeError("group " + llvm::Twine(group) + " out of range (" +
                     llvm::Twine(numGroups) + " groups)");
  auto it = slots[group].find(name);
  if (it == slots[group].end())
    return makeError("unknown hyper-parameter '" + name + "'");
  return it->second;
}

llvm::Error StepDescription::setHyperParam(std::vector<double> &table,
                                           unsigned group,
                                           llvm::StringRef name,
                                           double value) const {
  auto slot = findSlot(group, name);
  if (!slot)
    return slot.takeError();
  if (std::isnan(value))
    return makeError("'" + name + "' must not be NaN");
  if (name == "loss_scale" && !(value > 0.0))
    return makeError("'loss_scale' must be positive, got " +
                     std::to_string(value));
  if (name == "max_grad_norm" && !(value > 0.0 && std::isfinite(value)))
    return makeError("'max_grad_norm' must be positive and finite, got " +
                     std::to_string(value));
  if (name == "growth_factor" && !(value >= 1.0 && std::isfinite(value)))
    return makeError("'growth_factor' must be at least 1 and finite, got " +
                     std::to_string(value));
  if (name == "backoff_factor" && !(value > 0.0 && value <= 1.0))
    return makeError("'backoff_factor' must be in (0, 1], got " +
                     std::to_string(value));
  if (name == "growth_interval" &&
      !(value >= 1.0 && value <= 9.0e15 && value == std::floor(value)))
    return makeError("'growth_interval' must be a positive integer, got " +
                     std::to_string(value));
  if (name == "min_loss_scale" && !(value >= 0.0 && std::isfinite(value)))
    return makeError("'min_loss_scale' must be non-negative and finite, got " +
                     std::to_string(value));
  if ((name == "weight_decay" || name == "learning_rate" || name == "lr") &&
      !(value >= 0.0))
    return makeError("'" + name + "' must be non-negative, got " +
                     std::to_string(value));
  table[*slot] = value;
  return llvm::Error::success();
}

llvm::Expected<double>
StepDescription::getHyperParam(const std::vector<double> &table,
                               unsigned group, llvm::StringRef name) const {
  auto slot = findSlot(group, name);
  if (!slot)
    return slot.takeError();
  return table[*slot];
}

StepStatus StepDescription::readStatus(const double *status) const {
  StepStatus result;
  using Control = mlir::optim::GradientControlOp;
  result.lossScale = status[Control::kStatusLossScale];
  result.goodSteps = static_cast<int64_t>(status[Control::kStatusGoodSteps]);
  result.foundInf = status[Control::kStatusFoundInf] != 0.0;
  result.gradNorm = status[Control::kStatusGradNorm];
  result.clipFactor = status[Control::kStatusClipFactor];
  return result;
}

llvm::Error StepDescription::writeLossScaleState(double *status,
                                                 double lossScale,
                                                 int64_t goodSteps) const {
  if (initialStatus.empty())
    return makeError("the optimizer has no step status: it neither clips "
                     "gradients nor scales the loss dynamically");
  if (!skipsNonfinite)
    return makeError("the optimizer does not scale the loss dynamically: "
                     "set 'loss_scale' instead");
  if (!(lossScale > 0.0) || !std::isfinite(lossScale))
    return makeError("the loss scale must be positive and finite, got " +
                     std::to_string(lossScale));
  if (goodSteps < 0)
    return makeError("the count of clean steps must not be negative, got " +
                     std::to_string(goodSteps));
  using Control = mlir::optim::GradientControlOp;
  status[Control::kStatusLossScale] = lossScale;
  status[Control::kStatusGoodSteps] = static_cast<double>(goodSteps);
  return llvm::Error::success();
}

llvm::Error StepDescription::checkBufferCounts(size_t numParamBuffers,
                                               size_t numGradBuffers,
                                               size_t numStateBuffers) const {
  size_t numParams = params.size(), numStates = stateNames.size();
  if (numParamBuffers != numParams || numGradBuffers != numParams)
    return makeError("expected " + llvm::Twine(numParams) +
                     " parameters and gradients, got " +
                     llvm::Twine(numParamBuffers) + " and " +
                     llvm::Twine(numGradBuffers));
  if (numStateBuffers != numParams * numStates)
    return makeError("expected " + llvm::Twine(numParams * numStates) +
                     " state buffers, got " + llvm::Twine(numStateBuffers));
  return llvm::Error::success();
}
