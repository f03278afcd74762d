//===- Rules.h - static description of the update rules ---------*- C++ -*-===//
//
// One table describes every update rule: its hyper-parameters (names,
// MindSpore defaults, valid ranges), boolean options, state buffers and
// whether the rule needs the step counter. It is generated from the rule
// records of OptimRules.td, which also define the update ops; the verifier,
// the step's passes, the runtime ABI and the Python layer all read it.
//
//===----------------------------------------------------------------------===//

#ifndef OPTIM_DIALECT_OPTIM_IR_RULES_H
#define OPTIM_DIALECT_OPTIM_IR_RULES_H

#include "mlir/Support/LLVM.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/raw_ostream.h"
#include "mlir/IR/DialectImplementation.h"

#include <optional>

#include "optim/Dialect/Optim/IR/OptimEnums.h.inc"

namespace mlir::optim {

#include "optim/Dialect/Optim/IR/OptimRules.h.inc"

/// Returns true if `value` lies in `range`.
bool isInRange(HyperRange range, double value);
/// Human-readable range, e.g. "in [0, 1)".
StringRef describeRange(HyperRange range);

/// The ends of a range: absent where unbounded, each included or not.
struct RangeBounds {
  std::optional<double> lower;
  bool lowerClosed = false;
  std::optional<double> upper;
  bool upperClosed = false;
};
RangeBounds getRangeBounds(HyperRange range);

struct HyperParamSpec {
  StringRef name;
  double defaultValue;
  HyperRange range;
  /// Only used to initialise a state buffer; not an operand of the update.
  bool initOnly = false;
  /// The torch front end computes it for each group and step (from the
  /// group's values and its per-parameter scalar states); the generated
  /// torch class takes no argument for it.
  bool computed = false;
  /// The tuple argument of the generated torch class that holds it, in the
  /// record's order ("etas"); empty: its own argument, or `betas` for
  /// beta1, beta2, ...
  StringRef tupleArg = {};
};

struct OptionSpec {
  StringRef name;
  bool defaultValue;
  /// The front ends turn the option on when this hyper-parameter is > 0
  /// (no constructor argument of its own); empty: a boolean argument.
  StringRef positive = {};
};

struct StateSpec {
  StringRef name;
  /// Initial value of every element...
  double initValue = 0.0;
  /// ...or the value of this hyper-parameter ("learning_rate" for the lr).
  StringRef initFrom = {};
  /// The state exists only when this option is on.
  StringRef requiresOption = {};
  /// Its shape, a function of the parameter's (getStateShape).
  StateShape shape = StateShape::Param;
};

/// The name of `shape` in the rule table ("param", "factored_rows", ...).
StringRef stringifyStateShape(StateShape shape);
/// Every state shape.
ArrayRef<StateShape> getAllStateShapes();
/// The shape of a state of kind `shape` for a parameter of shape
/// `paramShape` (dynamic sizes stay dynamic).
SmallVector<int64_t> getStateShape(StateShape shape,
                                   ArrayRef<int64_t> paramShape);

struct RuleSpec {
  RuleKind kind;
  /// Class name in the Python front ends, e.g. "AdamWeightDecay".
  StringRef className;
  /// Compute-level update op, e.g. "optim.adam_weight_decay_update".
  StringRef opName;
  ArrayRef<HyperParamSpec> hyperParams;
  ArrayRef<OptionSpec> options;
  ArrayRef<StateSpec> states;
  /// The update takes the 1-based update count `t` as an i64 operand.
  bool usesStep;
  /// The group's weight decay is an operand of the update (AdamWeightDecay,
  /// Lamb, LARS) instead of being applied by `optim.decay_weight`.
  bool decayInRule;
  /// The gradient arrives as rows (indices, values).
  bool sparseGrad;
  /// The update needs norms of whole tensors (trust ratios): a parameter
  /// cannot be split into independent chunks.
  bool perTensorNorms = false;
  /// With perTensorNorms: the op computing the squared norms over one chunk
  /// (its operands are the update op's) and how many it computes.
  StringRef normsOpName = {};
  unsigned numNorms = 0;
  /// The update reads whole tensors (Adafactor): each parameter is one
  /// chunk of the multi-tensor step, viewed as (B, R, C).
  bool wholeTensor = false;
  /// The rule's formula (OptimRules.td, `formula`): the body of a scalar
  /// function in arith and math ops, lowered by the generic formula
  /// lowering. Empty when the lowering is written in C++.
  StringRef formula = {};
  /// The Python front ends build this rule's classes from the table
  /// (OptimRules.td, `genPythonClasses`), with this default learning rate
  /// and this docstring.
  bool genPythonClasses = false;
  std::optional<double> defaultLearningRate = std::nullopt;
  StringRef classDescription = {};
  /// With genPythonClasses: `optim_mlir.nn` gets the class too.
  bool genNNClass = true;
  /// With genPythonClasses: `optim_mlir.torch` gets the class too.
  bool genTorchClass = true;

  /// Hyper-parameters that are operands of the update, in operand order
  /// (after `lr`, before `weight_decay` and `step`).
  SmallVector<const HyperParamSpec *> getOperandHyperParams() const;
  /// States present under the given option values (`getOption(name)`).
  SmallVector<const StateSpec *>
  getActiveStates(function_ref<bool(StringRef)> getOption) const;
  const HyperParamSpec *findHyperParam(StringRef name) const;
  const OptionSpec *findOption(StringRef name) const;
};

/// The spec of `kind`.
const RuleSpec &getRuleSpec(RuleKind kind);
/// Every rule, in `RuleKind` order.
ArrayRef<RuleSpec> getAllRuleSpecs();
/// The rule whose update op is named `opName`, if any.
const RuleSpec *lookupRuleSpecByOpName(StringRef opName);

} // namespace mlir::optim

#endif // OPTIM_DIALECT_OPTIM_IR_RULES_H
