//===- StepABI.h - the calling convention of a compiled step ----*- C++ -*-===//
//
// Describes, for one resolved `optim.optimizer` (resolveGroups), the
// arguments of the step function that `optim-build-step-boundary` emits and
// the layout of its hyper-parameter table. The passes and the runtime both
// derive it from the optimizer op, so they cannot disagree.
//
// Step function arguments, in order. With buffer tables (the default, all
// parameters dense):
//   one buffer table per element type in use (f32, f64, f16, bf16 order):
//     memref<? x memref<? x T>>, each entry a flat, contiguous buffer.
//     Every buffer goes to the table of its own element type: a
//     parameter's param and grad (its dtype), the states of its dtype
//     after them, from its first entry in that table (getTablePosition);
//     with mixed precision (docs/Mixed-precision.md), its f32 states and
//     then its f32 master from its first entry in the f32 table
//     (getAuxTablePosition). Parameters follow each other in order in
//     each table; a parameter without mixed precision owns entries
//     first + {0: param, 1: grad, 2...: states}.
//   The state list of the C API (getNumStateBuffers) is the rule's states,
//   then "master" when some parameter has one (0 elements for the others,
//   which own no entry for it);
// otherwise (`share-update-functions=0`, or sparse parameters), one
// argument per buffer:
//   for each parameter (in `order_params` order):
//     dense:  param, grad, states...
//     sparse: param, indices (memref<?xi32>), rows (memref<?x...>), states...
// then, in both forms:
//   hyper:  memref<N x f64>  (the table below)
//   status: memref<5 x f64>  (only with clipping or dynamic loss scaling:
//                             the step's own state, GradientControlOp)
//   step:   i64              (0-based global step of this update)
//
// Hyper-parameter table (f64, whatever the parameters' element types: the
// step's scalar arithmetic runs in f64, elementwise arithmetic in each
// parameter's compute type):
//   [0]                       loss_scale (with dynamic scaling: the initial
//                             scale; the step reads status[0])
//   [1...]                    the step's global values, getGlobalSlotNames()
//                             order: max_grad_norm (clipping), then
//                             growth_factor, backoff_factor, growth_interval,
//                             min_loss_scale (dynamic loss scaling)
//   per group g, from groupOffset(g):
//     +0                      learning rate (constant learning rates only)
//     +1                      weight decay
//     +2 ...                  the rule's operand hyper-parameters, in
//                             RuleSpec::getOperandHyperParams() order
//
//===----------------------------------------------------------------------===//

#ifndef OPTIM_DIALECT_OPTIM_TRANSFORMS_STEPABI_H
#define OPTIM_DIALECT_OPTIM_TRANSFORMS_STEPABI_H

#include "optim/Dialect/Optim/IR/Optim.h"

#include <optional>
#include <string>

namespace mlir::optim {

struct GroupABI {
  /// FloatAttr, DenseFPElementsAttr or a LearningRateAttrInterface.
  Attribute learningRate;
  double weightDecay = 0.0;
  bool gradCentralization = false;
  /// Index of this group's first entry in the hyper-parameter table.
  unsigned tableOffset = 0;

  /// True if the learning rate is a single value read from the table.
  bool hasConstantLearningRate() const;
  /// The constant learning rate (valid if hasConstantLearningRate()).
  double getConstantLearningRate() const;
};

struct ParamABI {
  std::string name;
  RankedTensorType type;
  unsigned group = 0;
  /// Weight decay applies to this parameter (default filter / groups).
  bool decay = false;
  /// Gradient centralization changes this parameter's gradient.
  bool centralize = false;
  bool sparse = false;
  /// Mixed precision: the element type of the master copy (f32), null
  /// without one.
  Type master;
  /// The element type of the rule's states.
  Type stateElementType;
};

/// Where one buffer lives: a buffer table and an entry of it.
struct TableEntry {
  unsigned table = 0;
  unsigned entry = 0;
};

class StepABI {
public:
  /// Computes the ABI of `optimizer`, which must verify and be resolved
  /// (resolveGroups).
  static StepABI get(OptimizerOp optimizer);

  RuleAttr getRule() const { return rule; }
  const RuleSpec &getSpec() const { return rule.getSpec(); }
  ArrayRef<ParamABI> getParams() const { return params; }
  ArrayRef<GroupABI> getGroups() const { return groups; }
  /// States of every parameter, for the rule's options.
  ArrayRef<const StateSpec *> getStates() const { return states; }
  double getLossScale() const { return lossScale; }

  static constexpr unsigned kLossScaleSlot = 0;
  static constexpr unsigned kLearningRateOffset = 0;
  static constexpr unsigned kWeightDecayOffset = 1;
  static constexpr unsigned kFirstHyperParamOffset = 2;
  unsigned getNumGroupSlots() const {
    return kFirstHyperParamOffset + numOperandHyperParams;
  }
  unsigned getTableSize() const {
    return getNumGlobalSlots() + groups.size() * getNumGroupSlots();
  }
  /// Names of the table's global slots: loss_scale, then the clipping and
  /// dynamic-scaling values the optimizer has.
  SmallVector<StringRef> getGlobalSlotNames() const;
  unsigned getNumGlobalSlots() const { return getGlobalSlotNames().size(); }
  /// Global-norm clipping (`max_grad_norm`).
  bool hasClipping() const { return maxGradNorm.has_value(); }
  /// Dynamic loss scaling (`#optim.dynamic_loss_scale`).
  bool hasDynamicLossScale() const { return static_cast<bool>(dynamic); }
  /// The step takes the status argument (GradientControlOp).
  bool hasStatus() const { return hasClipping() || hasDynamicLossScale(); }
  /// The status a step starts from: the initial loss scale, no clean steps,
  /// no inf found, norm 0, clip factor 1.
  SmallVector<double> getInitialStatus() const;
  /// The table with the values declared in the IR.
  SmallVector<double> getInitialTable() const;
  /// Slot of a named value ("learning_rate", "weight_decay" or one of the
  /// rule's operand hyper-parameters) of group `group`; -1 if unknown.
  int getSlot(unsigned group, StringRef name) const;
  /// Number of function arguments per parameter (dense: 2 + states).
  unsigned getNumArgsOfParam(const ParamABI &param) const {
    return (param.sparse ? 3 : 2) + states.size();
  }
  /// Initial value of state `state` for every element.
  double getStateInitValue(const StateSpec &state, unsigned group) const;

  /// True if some parameter is sparse; the step then takes one argument per
  /// buffer instead of buffer tables.
  bool hasSparseParams() const;
  /// Element types of the buffer tables, in argument order.
  ArrayRef<Type> getTableElementTypes() const { return tableElementTypes; }
  /// Buffer table of parameter `param` (its element type's) and its first
  /// entry there.
  std::pair<unsigned, unsigned> getTablePosition(unsigned param) const {
    return tablePositions[param];
  }
  /// The f32 table and `param`'s first entry there, for a 16-bit parameter
  /// with f32 states or a master; nullopt otherwise.
  std::optional<std::pair<unsigned, unsigned>>
  getAuxTablePosition(unsigned param) const {
    return auxTablePositions[param];
  }
  /// Entries of each buffer table, in getTableElementTypes() order.
  ArrayRef<unsigned> getTableSizes() const { return tableSizes; }
  /// Where each buffer of `param` lives: param, grad, then each of the
  /// getNumStateBuffers() states; nullopt for a buffer the step does not
  /// read (the 0-element master of a parameter without one).
  ArrayRef<std::optional<TableEntry>> getTableEntries(unsigned param) const {
    return tableEntries[param];
  }

  /// Mixed precision: some parameter has a master copy, the last state
  /// buffer of every parameter ("master").
  bool hasMaster() const;
  /// Some parameter has a master or states of another type than its own.
  bool hasMixedPrecision() const;
  /// The rule's states, then the master (hasMaster()).
  unsigned getNumStateBuffers() const { return states.size() + hasMaster(); }
  /// Element type of state buffer `state` of `param`.
  Type getStateElementType(unsigned param, unsigned state) const;
  /// Shape of state buffer `state` of `param` (empty and 0 elements for the
  /// master of a parameter without one: see getStateNumElements).
  SmallVector<int64_t> getStateShape(unsigned param, unsigned state) const;
  int64_t getStateNumElements(unsigned param, unsigned state) const;

private:
  void computeTableLayout();

  RuleAttr rule;
  double lossScale = 1.0;
  std::optional<double> maxGradNorm;
  DynamicLossScaleAttr dynamic;
  SmallVector<ParamABI> params;
  SmallVector<GroupABI> groups;
  SmallVector<const StateSpec *> states;
  unsigned numOperandHyperParams = 0;
  /// Buffer-table layout, computed once by get().
  SmallVector<Type> tableElementTypes;
  SmallVector<std::pair<unsigned, unsigned>> tablePositions;
  SmallVector<std::optional<std::pair<unsigned, unsigned>>> auxTablePositions;
  SmallVector<unsigned> tableSizes;
  SmallVector<SmallVector<std::optional<TableEntry>>> tableEntries;
};

/// True if MindSpore's default weight-decay filter lets `name` decay (its
/// name holds neither "beta" nor "gamma").
bool passesDefaultDecayFilter(StringRef name);

/// Writes into `optimizer` what MindSpore's `Optimizer` constructor
/// resolves: one group when ungrouped, each group's learning rate and
/// weight decay, each parameter's `decay` (see `optim-resolve-groups`).
/// Changes nothing on a resolved optimizer.
void resolveGroups(OptimizerOp optimizer);

} // namespace mlir::optim

#endif // OPTIM_DIALECT_OPTIM_TRANSFORMS_STEPABI_H
