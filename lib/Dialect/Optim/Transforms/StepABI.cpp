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
    if (std::optional<Type> master = param.getMaster())
      entry.master = *master;
    entry.stateElementType = param.getStateElementType();
    abi.params.push_back(std::move(entry));
  }
  abi.computeTableLayout();
  return abi;
}

/// The buffer tables' element types in table order, and where each buffer
/// of each parameter lives: param, grad and the states of the parameter's
/// type in its own table, the f32 states and the master of a 16-bit
/// parameter in the f32 table; parameters in order in each table.
void StepABI::computeTableLayout() {
  auto addType = [&](Type type) {
    if (!llvm::is_contained(tableElementTypes, type))
      tableElementTypes.push_back(type);
  };
  for (const ParamABI &param : params) {
    addType(param.type.getElementType());
    if (!states.empty())
      addType(param.stateElementType);
    if (param.master)
      addType(param.master);
  }
  llvm::sort(tableElementTypes, [](Type a, Type b) {
    return getTableOrder(a) < getTableOrder(b);
  });
  auto tableOf = [&](Type type) -> unsigned {
    return llvm::find(tableElementTypes, type) - tableElementTypes.begin();
  };
  tableSizes.assign(tableElementTypes.size(), 0);
  unsigned numStateBuffers = getNumStateBuffers();
  for (const ParamABI &param : params) {
    Type element = param.type.getElementType();
    unsigned table = tableOf(element);
    SmallVector<std::optional<TableEntry>> entries;
    auto place = [&](unsigned t) {
      entries.push_back(TableEntry{t, tableSizes[t]++});
    };
    tablePositions.push_back({table, tableSizes[table]});
    place(table); // param
    place(table); // grad
    bool auxStates = !states.empty() && param.stateElementType != element;
    std::optional<std::pair<unsigned, unsigned>> aux;
    if (auxStates || param.master) {
      unsigned auxTable = tableOf(Float32Type::get(element.getContext()));
      aux = std::make_pair(auxTable, tableSizes[auxTable]);
    }
    for (size_t s = 0; s < states.size(); ++s)
      place(auxStates ? aux->first : table);
    if (hasMaster()) {
      if (param.master)
        place(aux->first);
      else
        entries.push_back(std::nullopt);
    }
    assert(entries.size() == 2 + numStateBuffers && "one entry per buffer");
    (void)numStateBuffers;
    auxTablePositions.push_back(aux);
    tableEntries.push_back(std::move(entries));
  }
}

bool StepABI::hasMaster() const {
  return llvm::any_of(params, [](const ParamABI &p) {
    return static_cast<bool>(p.master);
  });
}

bool StepABI::hasMixedPrecision() const {
  return llvm::any_of(params, [&](const ParamABI &p) {
    return p.master || (!states.empty() &&
                        p.stateElementType != p.type.getElementType());
  });
}

Type StepABI::getStateElementType(unsigned param, unsigned state) const {
  const ParamABI &p = params[param];
  if (state < states.size())
    return p.stateElementType;
  // The master state is f32, also where it is empty.
  return Float32Type::get(p.type.getContext());
}

SmallVector<int64_t> StepABI::getStateShape(unsigned param,
                                            unsigned state) const {
  const ParamABI &p = params[param];
  if (state < states.size())
    return mlir::optim::getStateShape(states[state]->shape,
                                      p.type.getShape());
  if (p.master)
    return SmallVector<int64_t>(p.type.getShape());
  return {0};
}

int64_t StepABI::getStateNumElements(unsigned param, unsigned state) const {
  // The verifier bounds each parameter (static shape, at most
  // kMaxParamElements elements); a state has at most its parameter's.
  std::optional<int64_t> count =
      getCheckedNumElements(getStateShape(param, state));
  assert(count && *count <= kMaxParamElements && "verified parameter shape");
  return count.value_or(0);
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


