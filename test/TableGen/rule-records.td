// The rule generators read the rule records; a record set they cannot turn
// into a table is an error at build time, not a wrong table.
// RUN: optim-tblgen -gen-rule-defs -I %optim_include %s | FileCheck %s
// RUN: optim-tblgen -gen-rule-decls -I %optim_include %s | FileCheck %s --check-prefix=DECLS
// RUN: optim-tblgen -gen-rule-docs -I %optim_include %s | FileCheck %s --check-prefix=DOCS
// RUN: not optim-tblgen -gen-rule-defs -I %optim_include -DGAP %s 2>&1 | FileCheck %s --check-prefix=GAP

include "optim/Dialect/Optim/IR/OptimRules.td"

// Two more rules after the built-in ones.
def Test_SignRule : Optim_Rule<15, "Sign", "sign", "Sign"> {
  let hyperParams = [Optim_Hyper<"beta", "0.9", Optim_OpenUnit>,
                     Optim_Hyper<"start", "0.5", Optim_Any, /*initOnly=*/1>];
  let options = [Optim_Option<"flip", 1>];
  let states = [Optim_State<"m", "0.0", "start">,
                Optim_State<"lr_copy", "0.0", "learning_rate", "flip">];
  let usesStep = 1;
  let description = [{ `param -= lr * sign(m)`. }];
}

#ifdef GAP
def Test_GapRule : Optim_Rule<17, "Gap", "gap", "Gap">;
#else
def Test_NextRule : Optim_Rule<16, "Next", "next", "Next">;
#endif

// DECLS: enum class HyperRange {
// DECLS:   OpenUnit, // in (0, 1)

// CHECK:      case HyperRange::OpenUnit:
// CHECK-NEXT:   return x > 0.0 && x < 1.0;
// CHECK:      case HyperRange::NonNegative:
// CHECK-NEXT:   return "in [0, inf)";
// CHECK:      getRangeBounds(HyperRange range) {
// CHECK:      case HyperRange::Any:
// CHECK-NEXT:   return {std::nullopt, false, std::nullopt, false};
// CHECK:      case HyperRange::NonPositive:
// CHECK-NEXT:   return {std::nullopt, false, 0.0, true};
// CHECK:      const HyperParamSpec kSignHyper[] = {
// CHECK-NEXT:     {"beta", 0.9, HyperRange::OpenUnit, false},
// CHECK-NEXT:     {"start", 0.5, HyperRange::Any, true},
// CHECK:      const OptionSpec kSignOptions[] = {
// CHECK-NEXT:     {"flip", true},
// CHECK:      const StateSpec kSignStates[] = {
// CHECK-NEXT:     {"m", 0.0, "start", ""},
// CHECK-NEXT:     {"lr_copy", 0.0, "learning_rate", "flip"},
// CHECK:      const RuleSpec kRuleSpecs[] = {
// CHECK-NEXT:     {RuleKind::SGD, "SGD", "optim.sgd_update",
// CHECK:          {RuleKind::Lamb, "Lamb", "optim.lamb_update", kLambHyper, {}, kLambStates, /*usesStep=*/true, /*decayInRule=*/true, /*sparseGrad=*/false, /*perTensorNorms=*/true, "optim.lamb_norms", /*numNorms=*/3},
// CHECK:          {RuleKind::Sign, "Sign", "optim.sign_update", kSignHyper, kSignOptions, kSignStates, /*usesStep=*/true, /*decayInRule=*/false, /*sparseGrad=*/false, /*perTensorNorms=*/false, {}, /*numNorms=*/0},
// CHECK-NEXT:     {RuleKind::Next, "Next", "optim.next_update", {}, {}, {},

// DOCS: | [`sign`](#sign) | `Sign` | `optim.sign_update` | yes | `optim.decay_weight` |
// DOCS: ## sign
// DOCS: | `start` (init only) | 0.5 | any value |
// DOCS: Options: `flip` (default true).
// DOCS: States: `m` (starts at `start`) `lr_copy` (starts at `learning_rate`; only with `flip`).

// GAP: error: rule indices must be 0, 1, 2, ... without gaps; Test_GapRule has 17, expected 16
