// The rule generators read the rule records; a record set they cannot turn
// into a table is an error at build time, not a wrong table.
// RUN: optim-tblgen -gen-rule-defs -I %optim_include %s | FileCheck %s
// RUN: optim-tblgen -gen-rule-decls -I %optim_include %s | FileCheck %s --check-prefix=DECLS
// RUN: optim-tblgen -gen-rule-docs -I %optim_include %s | FileCheck %s --check-prefix=DOCS
// RUN: not optim-tblgen -gen-rule-defs -I %optim_include -DGAP %s 2>&1 | FileCheck %s --check-prefix=GAP

include "optim/Dialect/Optim/IR/OptimRuleBase.td"

// Rules of this file alone (the record classes, not the dialect's rules).
def Test_PlainRule : Optim_Rule<0, "Plain", "plain", "Plain"> {
  let hyperParams = [Optim_Hyper<"decay", "0.5", Optim_NonNegative>];
  let states = [Optim_State<"acc">,
                Optim_State<"rows", "0.0", "", "", Optim_FactoredRowShape>];
  let decayInRule = 1;
  let numNorms = 2;
  let wholeTensor = 1;
}
def Test_SignRule : Optim_Rule<1, "Sign", "sign", "Sign"> {
  let hyperParams = [Optim_Hyper<"beta", "0.9", Optim_OpenUnit>,
                     Optim_Hyper<"start", "0.5", Optim_Any, /*initOnly=*/1>];
  let options = [Optim_Option<"flip", 1>];
  let states = [Optim_State<"m", "0.0", "start">,
                Optim_State<"lr_copy", "0.0", "learning_rate", "flip">];
  let usesStep = 1;
  let description = [{ `param -= lr * sign(m)`. }];
}

#ifdef GAP
def Test_GapRule : Optim_Rule<3, "Gap", "gap", "Gap">;
#else
def Test_NextRule : Optim_Rule<2, "Next", "next", "Next"> {
  // A torch-only class may have tuple arguments, computed hyper-parameters,
  // options and states that start from a hyper-parameter or need one.
  let hyperParams = [Optim_TupleHyper<"low", "0.5", Optim_OpenUnit, "bounds">,
                     Optim_TupleHyper<"high", "2.0", Optim_Any, "bounds">,
                     Optim_Hyper<"momentum", "0.0", Optim_NonNegative>,
                     Optim_ComputedHyper<"scale", "1.0", Optim_Any>];
  let options = [Optim_Option<"centered">,
                 Optim_Option<"use_momentum", 0, "momentum">];
  let states = [Optim_State<"s", "1.0">,
                Optim_State<"buf", "0.0", "low", "use_momentum">];
  let genPythonClasses = 1;
  let genNNClass = 0;
  let defaultLearningRate = "0.01";
  let classDescription = [{
    Halves `s`.
  }];
  let formula = [{
    %half = arith.constant 0.5 : f32
    %s = arith.mulf %half, %s : f32
    return %param, %s : f32, f32
  }];
}
#endif

// DECLS: enum class HyperRange {
// DECLS:   OpenUnit, // in (0, 1)
// The state shapes, in definition order.
// DECLS:      enum class StateShape {
// DECLS-NEXT:   Param, // the parameter's
// DECLS-NEXT:   FactoredRows, // `shape[:-1]` (rank >= 2), else `(1,)`
// DECLS-NEXT:   FactoredCols,
// DECLS-NEXT: };

// CHECK:      case HyperRange::OpenUnit:
// CHECK-NEXT:   return x > 0.0 && x < 1.0;
// CHECK:      case HyperRange::NonNegative:
// CHECK-NEXT:   return "in [0, inf)";
// CHECK:      getRangeBounds(HyperRange range) {
// CHECK:      case HyperRange::Any:
// CHECK-NEXT:   return {std::nullopt, false, std::nullopt, false};
// CHECK:      case HyperRange::NonPositive:
// CHECK-NEXT:   return {std::nullopt, false, 0.0, true};
// CHECK:      ::llvm::StringRef mlir::optim::stringifyStateShape(StateShape shape) {
// CHECK:      case StateShape::FactoredRows:
// CHECK-NEXT:   return "factored_rows";
// CHECK:      ::llvm::ArrayRef<StateShape> mlir::optim::getAllStateShapes() {
// CHECK-NEXT:   static const StateShape shapes[] = {StateShape::Param, StateShape::FactoredRows, StateShape::FactoredCols, };
// CHECK:      const StateSpec kPlainStates[] = {
// CHECK-NEXT:     {"acc", 0.0, "", "", StateShape::Param},
// CHECK-NEXT:     {"rows", 0.0, "", "", StateShape::FactoredRows},
// CHECK:      const HyperParamSpec kSignHyper[] = {
// CHECK-NEXT:     {"beta", 0.9, HyperRange::OpenUnit, false, false, ""},
// CHECK-NEXT:     {"start", 0.5, HyperRange::Any, true, false, ""},
// CHECK:      const OptionSpec kSignOptions[] = {
// CHECK-NEXT:     {"flip", true, ""},
// CHECK:      const StateSpec kSignStates[] = {
// CHECK-NEXT:     {"m", 0.0, "start", "", StateShape::Param},
// CHECK-NEXT:     {"lr_copy", 0.0, "learning_rate", "flip", StateShape::Param},
// CHECK:      const HyperParamSpec kNextHyper[] = {
// CHECK-NEXT:     {"low", 0.5, HyperRange::OpenUnit, false, false, "bounds"},
// CHECK-NEXT:     {"high", 2.0, HyperRange::Any, false, false, "bounds"},
// CHECK-NEXT:     {"momentum", 0.0, HyperRange::NonNegative, false, false, ""},
// CHECK-NEXT:     {"scale", 1.0, HyperRange::Any, false, true, ""},
// CHECK:      const OptionSpec kNextOptions[] = {
// CHECK-NEXT:     {"centered", false, ""},
// CHECK-NEXT:     {"use_momentum", false, "momentum"},
// CHECK:      const RuleSpec kRuleSpecs[] = {
// CHECK-NEXT:     {RuleKind::Plain, "Plain", "optim.plain_update", kPlainHyper, {}, kPlainStates, /*usesStep=*/false, /*decayInRule=*/true, /*sparseGrad=*/false, /*perTensorNorms=*/true, "optim.plain_norms", /*numNorms=*/2, /*wholeTensor=*/true},
// CHECK-NEXT:     {RuleKind::Sign, "Sign", "optim.sign_update", kSignHyper, kSignOptions, kSignStates, /*usesStep=*/true, /*decayInRule=*/false, /*sparseGrad=*/false, /*perTensorNorms=*/false, {}, /*numNorms=*/0, /*wholeTensor=*/false},
// CHECK-NEXT:     {RuleKind::Next, "Next", "optim.next_update", kNextHyper, kNextOptions, kNextStates,
// CHECK-SAME:     /*numNorms=*/0, /*wholeTensor=*/false,
// CHECK-NEXT:     R"optim(
// CHECK-NEXT:     %half = arith.constant 0.5 : f32
// CHECK:          )optim",
// CHECK-NEXT:     /*genPythonClasses=*/true, 0.01,
// CHECK-NEXT:     R"optim(Halves `s`.)optim", /*genNNClass=*/false, /*genTorchClass=*/true},

// DOCS: | [`sign`](#sign) | `Sign` | `optim.sign_update` | yes | `optim.decay_weight` |
// DOCS: | [`next`](#next) | `torch.Next` |
// DOCS: States: `acc` (starts at 0.0) `rows` (starts at 0.0; shape `shape[:-1]` (rank >= 2), else `(1,)`).
// DOCS: ## sign
// DOCS: `optim_mlir.nn.Sign`.
// DOCS: | `start` (init only) | 0.5 | any value |
// DOCS: Options: `flip` (default true).
// DOCS: States: `m` (starts at `start`) `lr_copy` (starts at `learning_rate`; only with `flip`).
// A torch-only class: no optim_mlir.nn class.
// DOCS: ## next
// DOCS-EMPTY:
// DOCS-NEXT: `optim_mlir.torch.Next`, generated from the record (learning rate 0.01 by default).
// DOCS:      | `low` (in torch's `bounds`) | 0.5 | in (0, 1) |
// DOCS:      | `scale` (computed by the torch front end) | 1.0 | any value |
// DOCS:      Options: `centered` (default false) `use_momentum` (the front ends set it when `momentum` > 0; default false).

// GAP: error: rule indices must be 0, 1, 2, ... without gaps; Test_GapRule has 3, expected 2

// A formula needs a dense rule without norms.
// RUN: not optim-tblgen -gen-rule-defs -I %optim_include -DNORMS_FORMULA %s 2>&1 | FileCheck %s --check-prefix=NORMS
#ifdef NORMS_FORMULA
def Test_Bad : Optim_Rule<3, "Bad", "bad", "Bad"> {
  let numNorms = 1;
  let formula = "return %param : f32";
}
#endif
// NORMS: error: a formula needs a dense rule without norms

// The front ends build classes only for rules they can express, and need a
// learning rate and a docstring for them.
// RUN: not optim-tblgen -gen-rule-defs -I %optim_include -DCLASS_OPTIONS %s 2>&1 | FileCheck %s --check-prefix=CLASS-OPTIONS
// RUN: not optim-tblgen -gen-rule-defs -I %optim_include -DCLASS_BETAS %s 2>&1 | FileCheck %s --check-prefix=CLASS-BETAS
// RUN: not optim-tblgen -gen-rule-defs -I %optim_include -DCLASS_STATE %s 2>&1 | FileCheck %s --check-prefix=CLASS-STATE
// RUN: not optim-tblgen -gen-rule-defs -I %optim_include -DCLASS_LR %s 2>&1 | FileCheck %s --check-prefix=CLASS-LR
// RUN: not optim-tblgen -gen-rule-defs -I %optim_include -DCLASS_UNFLAGGED %s 2>&1 | FileCheck %s --check-prefix=CLASS-UNFLAGGED
// RUN: not optim-tblgen -gen-rule-defs -I %optim_include -DCLASS_COMPUTED %s 2>&1 | FileCheck %s --check-prefix=CLASS-COMPUTED
// RUN: not optim-tblgen -gen-rule-defs -I %optim_include -DCLASS_POSITIVE %s 2>&1 | FileCheck %s --check-prefix=CLASS-POSITIVE
#ifdef CLASS_OPTIONS
def Test_Bad : Optim_Rule<3, "Bad", "bad", "Bad"> {
  let options = [Optim_Option<"flip">];
  let genPythonClasses = 1;
  let defaultLearningRate = "0.1";
  let classDescription = "Bad.";
}
#endif
#ifdef CLASS_BETAS
def Test_Bad : Optim_Rule<3, "Bad", "bad", "Bad"> {
  let hyperParams = [Optim_Hyper<"beta1", "0.9", Optim_OpenUnit>,
                     Optim_Hyper<"beta3", "0.9", Optim_OpenUnit>];
  let genPythonClasses = 1;
  let defaultLearningRate = "0.1";
  let classDescription = "Bad.";
}
#endif
#ifdef CLASS_STATE
def Test_Bad : Optim_Rule<3, "Bad", "bad", "Bad"> {
  let states = [Optim_State<"s", "0.0", "learning_rate">];
  let genPythonClasses = 1;
  let defaultLearningRate = "0.1";
  let classDescription = "Bad.";
}
#endif
#ifdef CLASS_LR
def Test_Bad : Optim_Rule<3, "Bad", "bad", "Bad"> {
  let genPythonClasses = 1;
  let classDescription = "Bad.";
}
#endif
#ifdef CLASS_UNFLAGGED
def Test_Bad : Optim_Rule<3, "Bad", "bad", "Bad"> {
  let defaultLearningRate = "0.1";
}
#endif
#ifdef CLASS_COMPUTED
def Test_Bad : Optim_Rule<3, "Bad", "bad", "Bad"> {
  let hyperParams = [Optim_ComputedHyper<"scale", "1.0", Optim_Any>];
  let genPythonClasses = 1;
  let defaultLearningRate = "0.1";
  let classDescription = "Bad.";
}
#endif
#ifdef CLASS_POSITIVE
def Test_Bad : Optim_Rule<3, "Bad", "bad", "Bad"> {
  let options = [Optim_Option<"use_momentum", 0, "momentum">];
  let genPythonClasses = 1;
  let genNNClass = 0;
  let defaultLearningRate = "0.1";
  let classDescription = "Bad.";
}
#endif
// A class for optim_mlir.nn only: its hyper-parameters need not be torch's
// beta1, beta2, ...; a record without either class is refused.
// RUN: optim-tblgen -gen-rule-defs -I %optim_include -DNN_ONLY %s | FileCheck %s --check-prefix=NN-ONLY
// RUN: optim-tblgen -gen-rule-docs -I %optim_include -DNN_ONLY %s | FileCheck %s --check-prefix=NN-ONLY-DOCS
// RUN: not optim-tblgen -gen-rule-defs -I %optim_include -DCLASS_NONE %s 2>&1 | FileCheck %s --check-prefix=CLASS-NONE
#ifdef NN_ONLY
def Test_NNOnly : Optim_Rule<3, "NNOnly", "nn_only", "NNOnly"> {
  let hyperParams = [Optim_Hyper<"beta", "0.9", Optim_ClosedUnit>];
  let genPythonClasses = 1;
  let genTorchClass = 0;
  let defaultLearningRate = "0.1";
  let classDescription = "NN only.";
}
#endif
#ifdef CLASS_NONE
def Test_Bad : Optim_Rule<3, "Bad", "bad", "Bad"> {
  let genPythonClasses = 1;
  let genNNClass = 0;
  let genTorchClass = 0;
  let defaultLearningRate = "0.1";
  let classDescription = "Bad.";
}
#endif
// NN-ONLY: {RuleKind::NNOnly,
// NN-ONLY: R"optim(NN only.)optim", /*genNNClass=*/true, /*genTorchClass=*/false},
// NN-ONLY-DOCS: | [`nn_only`](#nn_only) | `NNOnly` |
// NN-ONLY-DOCS: ## nn_only
// NN-ONLY-DOCS-EMPTY:
// NN-ONLY-DOCS-NEXT: `optim_mlir.nn.NNOnly`, generated from the record (learning rate 0.1 by default).
// CLASS-NONE: error: genPythonClasses: genNNClass and genTorchClass are both off: no class to build

// CLASS-OPTIONS: error: genPythonClasses: the rule may not have options (only a torch class, genNNClass = 0, may)
// CLASS-COMPUTED: error: genPythonClasses: hyper-parameter scale may not be computed (only a torch class, genNNClass = 0, may)
// CLASS-POSITIVE: error: genPythonClasses: option use_momentum follows `momentum`, which must be an operand hyper-parameter set by the user
// CLASS-BETAS: error: genPythonClasses: hyper-parameter beta3 must be beta2 (torch's betas are beta1, beta2, ... in order)
// CLASS-STATE: error: genPythonClasses: state s must start at a constant and exist without options (only a torch class, genNNClass = 0, may)
// CLASS-LR: error: genPythonClasses: the rule needs a `defaultLearningRate`
// CLASS-UNFLAGGED: error: defaultLearningRate and classDescription need genPythonClasses
