//===- StepDescription.cpp - a step's ABI, whatever the target ------------===//

#include "StepDescription.h"

#include "llvm/ADT/SmallVector.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>

using namespace optim::runtime;
using namespace optim::runtime::detail;

static llvm::Error makeError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

/// `value` as printf's %g writes it (shortest of fixed and exponent).
static std::string formatNumber(double value) {
  char text[32];
  std::snprintf(text, sizeof(text), "%g", value);
  return text;
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

  // What a value written to each slot must satisfy: the rule's range for
  // its hyper-parameters (the verifier's), and float32 values where an
  // element loop computes in float32 (every type but f64 does).
  auto computesInF32 = [](const ParamInfo &info) {
    if (info.dtype != DType::F64)
      return true;
    return llvm::any_of(info.stateDTypes,
                        [](DType type) { return type != DType::F64; });
  };
  std::vector<bool> groupNarrow(description.numGroups, false);
  bool anyNarrow = false;
  for (const ParamInfo &info : description.params)
    if (computesInF32(info)) {
      groupNarrow[info.group] = true;
      anyNarrow = true;
    }
  description.slotRanges.assign(description.initialTable.size(), std::nullopt);
  description.slotNarrow.assign(description.initialTable.size(), anyNarrow);
  for (unsigned g = 0; g < description.numGroups; ++g) {
    for (const auto &slot : description.slots[g]) {
      if (llvm::is_contained(abi.getGlobalSlotNames(), slot.getKey()))
        continue;
      description.slotNarrow[slot.getValue()] = groupNarrow[g];
    }
    for (const mlir::optim::HyperParamSpec *hyper :
         abi.getSpec().getOperandHyperParams())
      description.slotRanges[abi.getSlot(g, hyper->name)] = hyper->range;
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

/// Checks a rule hyper-parameter against its range in the rule records
/// (OptimRules.td), with the lower end included: the front ends set values
/// at run time with their own checks, and torch accepts the lower ends that
/// MindSpore's ranges exclude (`betas[0] = 0`, `eps = 0`); the upper ends,
/// where updates divide by zero (`beta1 = 1`), hold as declared.
static llvm::Error checkRuleRange(llvm::StringRef name,
                                  mlir::optim::HyperRange range, double value) {
  mlir::optim::RangeBounds bounds = mlir::optim::getRangeBounds(range);
  bool aboveLower = !bounds.lower || value >= *bounds.lower;
  bool belowUpper = !bounds.upper || value < *bounds.upper ||
                    (bounds.upperClosed && value == *bounds.upper);
  if (aboveLower && belowUpper)
    return llvm::Error::success();
  std::string accepted =
      (bounds.lower ? "[" + formatNumber(*bounds.lower) : "(-inf") + ", " +
      (bounds.upper
           ? formatNumber(*bounds.upper) + (bounds.upperClosed ? "]" : ")")
           : "inf)");
  return makeError("'" + name + "' must be in " + accepted + ", got " +
                   formatNumber(value) + " (the rule's range, " +
                   mlir::optim::describeRange(range) +
                   ", with its lower end included)");
}

/// Checks `value` against the range of hyper-parameter `name`: the rule's
/// (`range`) or, for the other slots, their own.
static llvm::Error
checkRange(llvm::StringRef name,
           const std::optional<mlir::optim::HyperRange> &range, double value) {
  if (range)
    return checkRuleRange(name, *range, value);
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
  return llvm::Error::success();
}

llvm::Error StepDescription::setHyperParam(std::vector<double> &table,
                                           unsigned group, llvm::StringRef name,
                                           double value) const {
  auto slot = findSlot(group, name);
  if (!slot)
    return slot.takeError();
  if (std::isnan(value))
    return makeError("'" + name + "' must not be NaN");
  if (constantHyperParams) {
    if (value == table[*slot])
      return llvm::Error::success();
    return makeError(
        "the optimizer was compiled with constant-hyper-params: '" + name +
        "' is the constant " + formatNumber(table[*slot]) +
        " in the step's code and cannot be set to " + formatNumber(value) +
        " (compile without the option to change it at run time)");
  }
  if (llvm::Error error = checkRange(name, slotRanges[*slot], value))
    return error;
  // The element loops of float32 (and 16-bit) parameters read the value as
  // a float32: it must not overflow to inf there, nor flush to zero where
  // zero is not a valid value.
  if (slotNarrow[*slot] && name != "growth_interval" && std::isfinite(value)) {
    if (std::fabs(value) > FLT_MAX)
      return makeError("'" + name + "' = " + formatNumber(value) +
                       " is not a float32 value (magnitude above " +
                       formatNumber(FLT_MAX) +
                       "): the step computes in float32 and would see inf");
    if (value != 0.0 && std::fabs(value) < FLT_MIN)
      if (llvm::Error zero = checkRange(name, slotRanges[*slot], 0.0)) {
        llvm::consumeError(std::move(zero));
        return makeError("'" + name + "' = " + formatNumber(value) +
                         " is not a float32 value (magnitude below " +
                         formatNumber(FLT_MIN) +
                         "): the step computes in float32 and would see 0, "
                         "which '" +
                         name + "' may not be");
      }
  }
  // Gradients are multiplied by 1 / loss_scale, which must be one too.
  if (name == "loss_scale" && slotNarrow[*slot] && value > 0.0 &&
      1.0 / value < FLT_MIN)
    return makeError("'loss_scale' = " + formatNumber(value) +
                     " is too large: the step computes in float32 and "
                     "1 / loss_scale would flush to 0 (at most " +
                     formatNumber(1.0 / FLT_MIN) + ")");
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
  // The step multiplies float32 gradients by its inverse.
  if (!slotNarrow.empty() && slotNarrow[0] &&
      (lossScale < FLT_MIN || lossScale > 1.0 / FLT_MIN))
    return makeError("the loss scale " + formatNumber(lossScale) +
                     " is out of range for a step that computes in float32 "
                     "(it and its inverse must be float32 values: [" +
                     formatNumber(FLT_MIN) + ", " +
                     formatNumber(1.0 / FLT_MIN) + "])");
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

llvm::Error StepDescription::checkGlobalStepValue(int64_t step) {
  if (step < 0)
    return makeError("the global step must not be negative, got " +
                     llvm::Twine(step));
  return llvm::Error::success();
}

llvm::Error StepDescription::checkStepCounter(int64_t step) {
  if (llvm::Error error = checkGlobalStepValue(step))
    return error;
  if (step == std::numeric_limits<int64_t>::max())
    return makeError("the global step " + llvm::Twine(step) +
                     " is the largest the counter holds: a step would "
                     "overflow it (set a smaller global step)");
  return llvm::Error::success();
}

namespace {
/// A buffer of a step: its bytes, whether the step writes it, and what it
/// is (for messages).
struct BufferRange {
  uintptr_t begin, end;
  bool written;
  unsigned param;
  /// 0: the parameter, 1: its gradient, 2: sparse indices, 3: sparse rows,
  /// 4 + s: state s.
  unsigned what;
};
} // namespace

llvm::Error
StepDescription::checkNoAliasing(llvm::ArrayRef<void *> paramBuffers,
                                 llvm::ArrayRef<void *> gradBuffers,
                                 llvm::ArrayRef<void *> stateBuffers) const {
  size_t numStates = stateNames.size();
  llvm::SmallVector<BufferRange, 64> ranges;
  ranges.reserve(params.size() * (numStates + 3));
  auto add = [&](const void *data, uint64_t bytes, bool written, unsigned param,
                 unsigned what) {
    if (!data || bytes == 0)
      return;
    auto begin = reinterpret_cast<uintptr_t>(data);
    ranges.push_back({begin, begin + bytes, written, param, what});
  };
  for (auto [p, info] : llvm::enumerate(params)) {
    uint64_t size = getElementSize(info.dtype);
    add(paramBuffers[p], info.numElements * size, true, p, 0);
    if (info.sparse) {
      if (const auto *grad = static_cast<const SparseGrad *>(gradBuffers[p])) {
        int64_t rowElements =
            info.numElements / std::max<int64_t>(1, info.shape[0]);
        add(grad->indices, grad->count * sizeof(int32_t), false, p, 2);
        add(grad->rows, grad->count * rowElements * size, false, p, 3);
      }
    } else {
      add(gradBuffers[p], info.numElements * size, false, p, 1);
    }
    for (size_t s = 0; s < numStates; ++s)
      add(stateBuffers[p * numStates + s],
          info.stateNumElements[s] * getElementSize(info.stateDTypes[s]), true,
          p, 4 + s);
  }
  llvm::sort(ranges, [](const BufferRange &a, const BufferRange &b) {
    return a.begin < b.begin;
  });
  auto describe = [&](const BufferRange &range) {
    std::string name = "'" + params[range.param].name + "'";
    switch (range.what) {
    case 0:
      return "parameter " + name;
    case 1:
      return "the gradient of " + name;
    case 2:
      return "the sparse indices of " + name;
    case 3:
      return "the sparse rows of " + name;
    default:
      return "state '" + stateNames[range.what - 4] + "' of " + name;
    }
  };
  // Sweep in address order: a range overlaps an earlier one iff it starts
  // before the largest end seen so far (of any range, for a written one;
  // of a written range, for a read one).
  const BufferRange *furthest = nullptr, *furthestWritten = nullptr;
  for (const BufferRange &range : ranges) {
    const BufferRange *other = range.written ? furthest : furthestWritten;
    if (other && range.begin < other->end)
      return makeError(describe(*other) + " and " + describe(range) +
                       " overlap in memory, and the step writes " +
                       (other->written ? describe(*other) : describe(range)) +
                       ": every parameter and state needs its own buffer, "
                       "apart from the gradients");
    if (!furthest || range.end > furthest->end)
      furthest = &range;
    if (range.written && (!furthestWritten || range.end > furthestWritten->end))
      furthestWritten = &range;
  }
  return llvm::Error::success();
}
