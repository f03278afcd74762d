//===- Rules.cpp - the table of update rules ------------------------------===//
//
// Defaults and ranges follow the constructors of MindSpore's optimizers.
// Scalar operands of an update op are `lr`, the non-init-only
// hyper-parameters in the order listed here, then `weight_decay` when
// `decayInRule`, then `step` when `usesStep`.
//
//===----------------------------------------------------------------------===//

#include "optim/Dialect/Optim/IR/Rules.h"

#include "llvm/ADT/STLExtras.h"

using namespace mlir;
using namespace mlir::optim;

#include "optim/Dialect/Optim/IR/OptimEnums.cpp.inc"

bool mlir::optim::isInRange(HyperRange range, double x) {
  switch (range) {
  case HyperRange::Any:
    return true;
  case HyperRange::NonNegative:
    return x >= 0.0;
  case HyperRange::Positive:
    return x > 0.0;
  case HyperRange::OpenUnit:
    return x > 0.0 && x < 1.0;
  case HyperRange::HalfOpenUnit:
    return x >= 0.0 && x < 1.0;
  case HyperRange::ClosedUnit:
    return x >= 0.0 && x <= 1.0;
  case HyperRange::NonPositive:
    return x <= 0.0;
  case HyperRange::GreaterThanOne:
    return x > 1.0;
  }
  return false;
}

StringRef mlir::optim::describeRange(HyperRange range) {
  switch (range) {
  case HyperRange::Any:
    return "any value";
  case HyperRange::NonNegative:
    return "in [0, inf)";
  case HyperRange::Positive:
    return "in (0, inf)";
  case HyperRange::OpenUnit:
    return "in (0, 1)";
  case HyperRange::HalfOpenUnit:
    return "in [0, 1)";
  case HyperRange::ClosedUnit:
    return "in [0, 1]";
  case HyperRange::NonPositive:
    return "in (-inf, 0]";
  case HyperRange::GreaterThanOne:
    return "in (1, inf)";
  }
  return "";
}

namespace {
using R = HyperRange;

const HyperParamSpec kSGDHyper[] = {{"momentum", 0.0, R::NonNegative},
                                    {"dampening", 0.0, R::NonNegative}};
const OptionSpec kSGDOptions[] = {{"nesterov", false}};
const StateSpec kSGDStates[] = {{"accum"}};

const HyperParamSpec kMomentumHyper[] = {{"momentum", 0.9, R::NonNegative}};
const OptionSpec kUseNesterov[] = {{"use_nesterov", false}};
const StateSpec kMomentumStates[] = {{"moments"}};

const HyperParamSpec kAdamHyper[] = {{"beta1", 0.9, R::OpenUnit},
                                     {"beta2", 0.999, R::OpenUnit},
                                     {"eps", 1e-8, R::Positive}};
const OptionSpec kAdamOptions[] = {{"use_nesterov", false},
                                   {"use_amsgrad", false}};
const StateSpec kAdamStates[] = {
    {"moment1"}, {"moment2"}, {"vhat", 0.0, {}, "use_amsgrad"}};
const StateSpec kMomentsStates[] = {{"moment1"}, {"moment2"}};

const HyperParamSpec kAdamWeightDecayHyper[] = {{"beta1", 0.9, R::OpenUnit},
                                                {"beta2", 0.999, R::OpenUnit},
                                                {"eps", 1e-6, R::Positive}};

const HyperParamSpec kLARSHyper[] = {{"momentum", 0.9, R::NonNegative},
                                     {"epsilon", 1e-5, R::NonNegative},
                                     {"coefficient", 0.001, R::Positive}};

const HyperParamSpec kAdagradHyper[] = {
    {"accum", 0.1, R::NonNegative, /*initOnly=*/true}};
const OptionSpec kAdagradOptions[] = {{"update_slots", true}};
const StateSpec kAdagradStates[] = {{"accum", 0.0, "accum"}};

const HyperParamSpec kRMSPropHyper[] = {{"decay", 0.9, R::NonNegative},
                                        {"momentum", 0.0, R::NonNegative},
                                        {"epsilon", 1e-10, R::Positive}};
const OptionSpec kRMSPropOptions[] = {{"centered", false}};
// MindSpore starts mean_square at one (torch at zero).
const StateSpec kRMSPropStates[] = {
    {"mean_grad", 0.0, {}, "centered"}, {"mean_square", 1.0}, {"moment"}};

const HyperParamSpec kFTRLHyper[] = {
    {"initial_accum", 0.1, R::NonNegative, /*initOnly=*/true},
    {"lr_power", -0.5, R::NonPositive},
    {"l1", 0.0, R::NonNegative},
    {"l2", 0.0, R::NonNegative}};
const StateSpec kFTRLStates[] = {{"accum", 0.0, "initial_accum"},
                                 {"linear"}};

const HyperParamSpec kProximalAdagradHyper[] = {
    {"accum", 0.1, R::NonNegative, /*initOnly=*/true},
    {"l1", 0.0, R::NonNegative},
    {"l2", 0.0, R::NonNegative}};

const HyperParamSpec kAdaMaxHyper[] = {{"beta1", 0.9, R::OpenUnit},
                                       {"beta2", 0.999, R::OpenUnit},
                                       {"eps", 1e-8, R::Positive}};

const HyperParamSpec kAdadeltaHyper[] = {{"rho", 0.9, R::ClosedUnit},
                                         {"epsilon", 1e-6, R::Positive}};
const StateSpec kAdadeltaStates[] = {{"accum"}, {"accum_update"}};

const HyperParamSpec kASGDHyper[] = {{"lambd", 1e-4, R::NonNegative},
                                     {"alpha", 0.75, R::Any},
                                     {"t0", 1e6, R::Any}};
const StateSpec kASGDStates[] = {{"ax"}};

const HyperParamSpec kRpropHyper[] = {{"etaminus", 0.5, R::OpenUnit},
                                      {"etaplus", 1.2, R::GreaterThanOne},
                                      {"min_step", 1e-6, R::NonNegative},
                                      {"max_step", 50.0, R::Positive}};
const StateSpec kRpropStates[] = {{"prev"},
                                  {"step_size", 0.0, "learning_rate"}};

const HyperParamSpec kLazyAdamHyper[] = {{"beta1", 0.9, R::OpenUnit},
                                         {"beta2", 0.999, R::OpenUnit},
                                         {"eps", 1e-8, R::Positive}};

// clang-format off
const RuleSpec kRuleSpecs[] = {
  {RuleKind::SGD, "SGD", "optim.sgd_update", kSGDHyper, kSGDOptions,
   kSGDStates, /*usesStep=*/true, /*decayInRule=*/false, /*sparseGrad=*/false},
  {RuleKind::Momentum, "Momentum", "optim.momentum_update", kMomentumHyper,
   kUseNesterov, kMomentumStates, false, false, false},
  {RuleKind::Adam, "Adam", "optim.adam_update", kAdamHyper, kAdamOptions,
   kAdamStates, true, false, false},
  {RuleKind::AdamWeightDecay, "AdamWeightDecay",
   "optim.adam_weight_decay_update", kAdamWeightDecayHyper, {},
   kMomentsStates, false, true, false},
  {RuleKind::Lamb, "Lamb", "optim.lamb_update", kAdamWeightDecayHyper, {},
   kMomentsStates, true, true, false, /*perTensorNorms=*/true,
   "optim.lamb_norms", /*numNorms=*/3},
  {RuleKind::LARS, "LARS", "optim.lars_update", kLARSHyper, kUseNesterov,
   kMomentumStates, false, true, false, /*perTensorNorms=*/true,
   "optim.lars_norms", /*numNorms=*/2},
  {RuleKind::Adagrad, "Adagrad", "optim.adagrad_update", kAdagradHyper,
   kAdagradOptions, kAdagradStates, false, false, false},
  {RuleKind::RMSProp, "RMSProp", "optim.rmsprop_update", kRMSPropHyper,
   kRMSPropOptions, kRMSPropStates, false, false, false},
  {RuleKind::FTRL, "FTRL", "optim.ftrl_update", kFTRLHyper, {}, kFTRLStates,
   false, false, false},
  {RuleKind::ProximalAdagrad, "ProximalAdagrad",
   "optim.proximal_adagrad_update", kProximalAdagradHyper, {},
   kAdagradStates, false, false, false},
  {RuleKind::AdaMax, "AdaMax", "optim.adamax_update", kAdaMaxHyper, {},
   kMomentsStates, true, false, false},
  {RuleKind::Adadelta, "Adadelta", "optim.adadelta_update", kAdadeltaHyper,
   {}, kAdadeltaStates, false, false, false},
  {RuleKind::ASGD, "ASGD", "optim.asgd_update", kASGDHyper, {}, kASGDStates,
   true, false, false},
  {RuleKind::Rprop, "Rprop", "optim.rprop_update", kRpropHyper, {},
   kRpropStates, true, false, false},
  {RuleKind::LazyAdam, "LazyAdam", "optim.lazy_adam_update", kLazyAdamHyper,
   kUseNesterov, kMomentsStates, true, false, true},
};
// clang-format on
} // namespace


ArrayRef<RuleSpec> mlir::optim::getAllRuleSpecs() { return kRuleSpecs; }

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
