//===- Rules.cpp - the table of update rules ------------------------------===//
//
// The table itself is generated from the rule records (OptimRules.td).
// Scalar operands of an update op are `lr`, the non-init-only
// hyper-parameters in the record's order, then `weight_decay` when
// `decayInRule`, then `step` when `usesStep`.
//
//===----------------------------------------------------------------------===//

#include "optim/Dialect/Optim/IR/Rules.h"

#include "llvm/ADT/STLExtras.h"

using namespace mlir;
using namespace mlir::optim;

#include "optim/Dialect/Optim/IR/OptimEnums.cpp.inc"

#include "optim/Dialect/Optim/IR/OptimRules.cpp.inc"

ArrayRef<RuleSpec> mlir::optim::getAllRuleSpecs() { return kRuleSpecs; }

SmallVector<int64_t> mlir::optim::getStateShape(StateShape shape,
                                                ArrayRef<int64_t> paramShape) {
  size_t rank = paramShape.size();
  switch (shape) {
  case StateShape::Param:
    return SmallVector<int64_t>(paramShape);
  case StateShape::FactoredRows:
    if (rank < 2)
      return {1};
    return SmallVector<int64_t>(paramShape.drop_back());
  case StateShape::FactoredCols: {
    if (rank < 2)
      return SmallVector<int64_t>(paramShape);
    SmallVector<int64_t> result(paramShape.drop_back(2));
    result.push_back(paramShape.back());
    return result;
  }
  }
  return SmallVector<int64_t>(paramShape);
}

const RuleSpec &mlir::optim::getRuleSpec(RuleKind kind) {
  const RuleSpec &spec = kRuleSpecs[static_cast<unsigned>(kind)];
  assert(spec.kind == kind && "rule table out of order");
  return spec;
}

const RuleSpec *mlir::optim::lookupRuleSpecByOpName(StringRef opName) {
  for (const RuleSpec &spec : kRuleSpecs)
    if (spec.opName == opName)
      return &spec;
  return nullptr;
}

SmallVector<const HyperParamSpec *> RuleSpec::getOperandHyperParams() const {
  SmallVector<const HyperParamSpec *> result;
  for (const HyperParamSpec &hyper : hyperParams)
    if (!hyper.initOnly)
      result.push_back(&hyper);
  return result;
}

SmallVector<const StateSpec *>
RuleSpec::getActiveStates(function_ref<bool(StringRef)> getOption) const {
  SmallVector<const StateSpec *> result;
  for (const StateSpec &state : states)
    if (state.requiresOption.empty() || getOption(state.requiresOption))
      result.push_back(&state);
  return result;
}

const HyperParamSpec *RuleSpec::findHyperParam(StringRef name) const {
  for (const HyperParamSpec &hyper : hyperParams)
    if (hyper.name == name)
      return &hyper;
  return nullptr;
}

const OptionSpec *RuleSpec::findOption(StringRef name) const {
  for (const OptionSpec &option : options)
    if (option.name == name)
      return &option;
  return nullptr;
}
