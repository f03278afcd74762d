//===- StepABI.cpp - the calling convention of a compiled step ------------===//

#include "optim/Dialect/Optim/Transforms/StepABI.h"

#include "llvm/ADT/StringMap.h"

using namespace mlir;
using namespace mlir::optim;

bool GroupABI::hasConstantLearningRate() const {
  if (isa<FloatAttr>(learningRate))
    return true;
  auto dense = dyn_cast<DenseFPElementsAttr>(learningRate);
  return dense && dense.getType().getRank() == 0;
}

double GroupABI::getConstantLearningRate() const {
  if (auto value = dyn_cast<FloatAttr>(learningRate))
    return value.getValueAsDouble();
  return cast<DenseFPElementsAttr>(learningRate)
      .getSplatValue<APFloat>()
      .convertToDouble();
}

/// Rank of an element type in the buffer-table order.
static unsigned getTableOrder(Type type) {
  if (type.isF32())
    return 0;
  if (type.isF64())
    return 1;
  if (type.isF16())
    return 2;
  return 3;
}

/// The buffer tables' element types in table order, and each parameter's
/// (table, index among that table's parameters).
static void computeTableLayout(
    ArrayRef<ParamABI> params, SmallVectorImpl<Type> &types,
    SmallVectorImpl<std::pair<unsigned, unsigned>> &positions) {
  for (const ParamABI &param : params)
    if (!llvm::is_contained(types, param.type.getElementType()))
      types.push_back(param.type.getElementType());
  llvm::sort(types, [](Type a, Type b) {
    return getTableOrder(a) < getTableOrder(b);
  });
  SmallVector<unsigned> counts(types.size(), 0);
  for (const ParamABI &param : params) {
    unsigned table =
        llvm::find(types, param.type.getElementType()) - types.begin();
    positions.push_back({table, counts[table]++});
  }
}

StepABI StepABI::get(OptimizerOp optimizer) {
  assert(optimizer.isResolved() && "resolveGroups() comes first");
  StepABI abi;
  abi.rule = optimizer.getRule();
  abi.lossScale = optimizer.getLossScale().convertToDouble();
  const RuleSpec &spec = abi.getSpec();
  abi.numOperandHyperParams = spec.getOperandHyperParams().size();
  RuleAttr rule = abi.rule;
  abi.states = spec.getActiveStates(
      [&](StringRef option) { return rule.getOption(option); });

  if (FloatAttr maxNorm = optimizer.getMaxGradNormAttr())
    abi.maxGradNorm = maxNorm.getValueAsDouble();
  abi.dynamic = optimizer.getDynamicLossScaleAttr();

  llvm::DenseMap<Operation *, unsigned> groupOf;
  unsigned offset = abi.getNumGlobalSlots();
  for (GroupOp op : optimizer.getBody().front().getOps<GroupOp>()) {
    groupOf[op] = abi.groups.size();
    GroupABI group;
    group.learningRate = op.getLearningRateAttr();
    group.weightDecay = op.getWeightDecayAttr().getValueAsDouble();
    group.gradCentralization = op.getGradCentralization();
    group.tableOffset = offset;
    offset += abi.getNumGroupSlots();
    abi.groups.push_back(group);
  }
  for (ParamOp param : getOrderedParams(optimizer)) {
    ParamABI entry;
    entry.name = param.getName().str();
    entry.type = param.getTensorType();
    entry.sparse = param.getSparse();
    entry.group = groupOf.lookup(param->getParentOp());
    entry.decay = param.getDecayAttr().getValue();
    entry.centralize = abi.groups[entry.group].gradCentralization &&
                       CentralizeOp::appliesTo(entry.type);
    abi.params.push_back(std::move(entry));
  }
  computeTableLayout(abi.params, abi.tableElementTypes, abi.tablePositions);
  return abi;
}

SmallVector<StringRef> StepABI::getGlobalSlotNames() const {
  SmallVector<StringRef> names = {"loss_scale"};
  if (hasClipping())
    names.push_back("max_grad_norm");
  if (hasDynamicLossScale())
    names.append({"growth_factor", "backoff_factor", "growth_interval",
                  "min_loss_scale"});
  return names;
}

SmallVector<double> StepABI::getInitialStatus() const {
  return {lossScale, 0.0, 0.0, 0.0, 1.0};
}

SmallVector<double> StepABI::getInitialTable() const {
  SmallVector<double> table(getTableSize(), 0.0);
  table[kLossScaleSlot] = lossScale;
  unsigned next = 1;
  if (hasClipping())
    table[next++] = *maxGradNorm;
  if (hasDynamicLossScale()) {
    table[next++] = dynamic.getGrowthFactor().convertToDouble();
    table[next++] = dynamic.getBackoffFactor().convertToDouble();
    table[next++] = static_cast<double>(dynamic.getGrowthInterval());
    table[next++] = dynamic.getMinScale().convertToDouble();
  }
  auto hypers = getSpec().getOperandHyperParams();
  for (const GroupABI &group : groups) {
    if (group.hasConstantLearningRate())
      table[group.tableOffset + kLearningRateOffset] =
          group.getConstantLearningRate();
    table[group.tableOffset + kWeightDecayOffset] = group.weightDecay;
    for (auto [i, hyper] : llvm::enumerate(hypers))
      table[group.tableOffset + kFirstHyperParamOffset + i] =
          rule.getHyperParam(hyper->name);
  }
  return table;
}

int StepABI::getSlot(unsigned group, StringRef name) const {
  for (auto [slot, global] : llvm::enumerate(getGlobalSlotNames()))
    if (name == global)
      return slot;
  if (group >= groups.size())
    return -1;
  unsigned base = groups[group].tableOffset;
  if (name == "learning_rate" || name == "lr")
    return base + kLearningRateOffset;
  if (name == "weight_decay")
    return base + kWeightDecayOffset;
  for (auto [i, hyper] : llvm::enumerate(getSpec().getOperandHyperParams()))
    if (hyper->name == name)
      return base + kFirstHyperParamOffset + i;
  return -1;
}

double StepABI::getStateInitValue(const StateSpec &state,
                                  unsigned group) const {
  if (state.initFrom.empty())
    return state.initValue;
  if (state.initFrom == "learning_rate") {
    const GroupABI &g = groups[group];
    return g.hasConstantLearningRate() ? g.getConstantLearningRate() : 0.0;
  }
  return rule.getHyperParam(state.initFrom);
}

bool StepABI::hasSparseParams() const {
  return llvm::any_of(params, [](const ParamABI &p) { return p.sparse; });
}


