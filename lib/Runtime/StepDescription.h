//===- StepDescription.h - a step's ABI, whatever the target ----*- C++ -*-===//
//
// What both runtimes (the CPU JIT and the GPU launcher) tell their callers
// about a compiled step, derived once from StepABI: the parameters, the
// state buffers, the hyper-parameter table with its initial values and the
// names of its slots, and the checks a value must pass to be written there.
//
//===----------------------------------------------------------------------===//

#ifndef LIB_RUNTIME_STEPDESCRIPTION_H
#define LIB_RUNTIME_STEPDESCRIPTION_H

#include "optim/Dialect/Optim/Transforms/StepABI.h"
#include "optim/Runtime/Runtime.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/Support/Error.h"

#include <optional>
#include <string>
#include <vector>

namespace optim::runtime::detail {

struct StepDescription {
  std::vector<ParamInfo> params;
  std::vector<std::string> stateNames;
  std::vector<double> initialTable;
  /// The step's status buffer at the start (GradientControlOp's layout);
  /// empty when the step neither clips nor scales the loss dynamically.
  std::vector<double> initialStatus;
  /// Dynamic loss scaling: a step that finds an inf or a NaN changes
  /// nothing and does not count.
  bool skipsNonfinite = false;
  /// Per parameter and state, the state's initial value; NaN where it is
  /// the group's learning rate at the current step.
  std::vector<std::vector<double>> stateInit;
  /// Per group, the hyper-parameter names it accepts and their slots.
  std::vector<llvm::StringMap<unsigned>> slots;
  unsigned numGroups = 0;
  /// Mixed precision: the last state ("master") is each parameter's
  /// float32 master copy (0 elements where it has none).
  bool hasMaster = false;
  /// Per table slot: the rule's range (OptimRules.td) for a rule
  /// hyper-parameter, none for the others (checked by name).
  std::vector<std::optional<mlir::optim::HyperRange>> slotRanges;
  /// Per table slot: some element loop reads the value in float32 (a
  /// parameter of the slot's group, or any for a global slot, computes in
  /// float32), so it must be a float32 value.
  std::vector<bool> slotNarrow;
  /// Compiled with `constant-hyper-params`: the table is not read, a value
  /// can only be "set" to the compiled constant.
  bool constantHyperParams = false;

  static llvm::Expected<StepDescription>
  get(const mlir::optim::StepABI &abi);

  /// The slot of `name` in group `group`, or an error naming what is wrong.
  llvm::Expected<unsigned> findSlot(unsigned group,
                                    llvm::StringRef name) const;
  /// Checks `value` for `name` and writes it into `table` (a table of this
  /// step's layout); on error `table` is unchanged.
  llvm::Error setHyperParam(std::vector<double> &table, unsigned group,
                            llvm::StringRef name, double value) const;
  llvm::Expected<double> getHyperParam(const std::vector<double> &table,
                                       unsigned group,
                                       llvm::StringRef name) const;
  /// The status of the last step from a status buffer (its layout).
  StepStatus readStatus(const double *status) const;
  /// Checks a loss-scale state and writes it into a status buffer.
  llvm::Error writeLossScaleState(double *status, double lossScale,
                                  int64_t goodSteps) const;
  /// Checks that a step may run at global step `step` (0-based): not
  /// negative, and the counter can be incremented without overflow.
  static llvm::Error checkStepCounter(int64_t step);
  /// Checks that a global step may be set (not negative).
  static llvm::Error checkGlobalStepValue(int64_t step);
  /// Checks that no buffer the step writes (parameters, states) overlaps
  /// another buffer of the step: `params`, `states` and the dense `grads`
  /// (sparse gradients are checked by the caller). O(n log n) in the
  /// number of buffers, independent of their sizes; null and empty
  /// buffers are ignored.
  llvm::Error checkNoAliasing(llvm::ArrayRef<void *> params,
                              llvm::ArrayRef<void *> grads,
                              llvm::ArrayRef<void *> states) const;
  /// Checks the numbers of buffers a step is given: one parameter and one
  /// gradient per parameter, one buffer per state of each.
  llvm::Error checkBufferCounts(size_t numParamBuffers, size_t numGradBuffers,
                                size_t numStateBuffers) const;
};

} // namespace optim::runtime::detail

#endif // LIB_RUNTIME_STEPDESCRIPTION_H
