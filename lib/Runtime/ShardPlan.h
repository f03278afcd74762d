//===- ShardPlan.h - what a sharded step derives from its source -*- C++ -*-===//
//
// The part of a sharded step that does not depend on the target: which
// pieces of which parameters every rank updates, and the IR of one rank's
// local step (the optimizer with only its pieces). The CPU step compiles
// that IR with the JIT, a GPU step with the GPU pipeline.
//
//===----------------------------------------------------------------------===//

#ifndef LIB_RUNTIME_SHARDPLAN_H
#define LIB_RUNTIME_SHARDPLAN_H

#include "StepDescription.h"

#include "optim/Runtime/Distributed.h"

#include "llvm/Support/Error.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace optim::runtime::detail {

struct ShardPlan {
  /// Resolved: never FromSource.
  ShardMode mode = ShardMode::Zero;
  /// The whole optimizer's step (every parameter, the whole table).
  StepDescription description;
  /// Slots before the first group's in the table (StepABI).
  unsigned numGlobalSlots = 0;
  /// Every rank's pieces, in the step's order.
  std::vector<std::vector<ShardPiece>> pieces;
  /// Whole group -> group of the local step (-1: no local piece in it).
  std::vector<int> groupMap;
  /// Per group: its learning rate is a value of the table.
  std::vector<bool> constantRate;
  /// The IR of this rank's local step; empty when it has no piece.
  std::string localSource;
  /// The local step's parameter name of each of this rank's pieces, in
  /// `pieces[rank]`'s order.
  std::vector<std::string> pieceNames;

  /// Plans `source` for rank `rank` of `size`. Refuses what a sharded step
  /// does not support: a gradient reduction of sparse or 16-bit gradients;
  /// clipping and dynamic loss scaling of sparse gradients, or at all
  /// without `hostGradientControl`. With it, the local step is compiled
  /// without them: the host computes the global norm over the ranks
  /// (ShardedState::controlStep).
  static llvm::Expected<ShardPlan> get(llvm::StringRef source, int rank,
                                       int size, ShardMode mode,
                                       GradientReduction reduction,
                                       bool hostGradientControl);
};

/// Orders this rank's pieces as its compiled local step orders its
/// parameters (by group): `localPieces[k]` is local parameter k, and
/// `localIndexOfPlan[j]` the local index of `own[j]`.
llvm::Error orderLocalPieces(llvm::ArrayRef<ShardPiece> own,
                             llvm::ArrayRef<std::string> pieceNames,
                             llvm::ArrayRef<ParamInfo> localParams,
                             std::vector<ShardPiece> &localPieces,
                             std::vector<size_t> &localIndexOfPlan);

/// The sum of the squares of `count` elements, in float64 (finite exactly
/// when every element is, as the compiled step's squared norms).
double sumOfSquares(const void *data, int64_t count, DType dtype);

/// OPTIM_DIST_FAULT="rank=R,step=K,action=stall|kill": rank R stalls or
/// dies in global step K, after its update and before the parameter
/// exchange (for testing the failure path).
struct Fault {
  int rank = -1;
  int64_t step = -1;
  std::string action;
  static llvm::Expected<Fault> fromEnvironment();
  /// Stalls or dies if this is the rank and the step.
  void inject(int rank, int64_t step) const;
};

/// What the sharded steps of every target keep between steps, and the
/// parts of their steps that do not depend on the target.
struct ShardedState {
  std::shared_ptr<Communicator> comm;
  ShardMode mode = ShardMode::Zero;
  StepDescription description;
  /// The whole table, for checking and reading values on every rank.
  std::vector<double> table;
  /// Every rank's pieces, in the step's order (the exchange follows it).
  std::vector<std::vector<ShardPiece>> pieces;
  /// Whole group -> local group (-1: no local piece in it).
  std::vector<int> groupMap;
  unsigned numGlobalSlots = 0;
  /// Per group: its learning rate is a value of the table.
  std::vector<bool> constantRate;
  int64_t globalStep = 0;
  /// The step status (StepDescription::readStatus) when the step clips or
  /// scales the loss dynamically; else empty. The host keeps it: the local
  /// steps are compiled without the control.
  std::vector<double> status;
  ExchangeStats stats;
  /// OPTIM_DIST_FAULT: a failure to inject, for testing the failure path.
  Fault fault;
  /// This rank's pieces in the local step's order (of its states), and
  /// for each of its pieces in plan order, its index there.
  std::vector<ShardPiece> localPieces;
  std::vector<size_t> localIndexOfPlan;
  /// The local pieces as parameters, in the whole step's state layout; and
  /// whether the local step lacks the "master" state the whole one has
  /// (then every piece's last local state is dropped when calling it).
  std::vector<ParamInfo> localParams;
  bool dropMaster = false;

  /// Takes the plan's tables.
  void adopt(ShardPlan &plan);
  /// Rank `rank`'s pieces (none for a rank out of range).
  llvm::ArrayRef<ShardPiece> piecesOf(int rank) const;
  /// The bytes of `piece`, and its first byte in `buffer` (its parameter's
  /// buffer, flat: a parameter, a gradient, on the host or a device).
  int64_t pieceBytes(const ShardPiece &piece) const;
  char *pieceAddress(void *buffer, const ShardPiece &piece) const;
  /// Once the local step is compiled: the local order of this rank's
  /// pieces (`pieceNames`, plan order) and their state layout.
  llvm::Error setLocal(int rank, llvm::ArrayRef<std::string> pieceNames,
                       llvm::ArrayRef<ParamInfo> localStepParams,
                       bool localHasMaster);
  /// Checks the count of local state buffers (none on a rank without
  /// pieces).
  llvm::Error checkLocalStateCount(size_t count) const;
  /// The local states as the local step takes them.
  std::vector<void *> forLocal(llvm::ArrayRef<void *> states) const;
  /// Checks `value` and keeps it; the local group it goes to, -1 for none
  /// (a global slot goes to any local group).
  llvm::Expected<int> keepHyperParam(unsigned group, llvm::StringRef name,
                                     double value, bool hasLocal);
  /// The problem with a step's arguments ("" if none); on success, the
  /// local pieces' parameter and gradient pointers (a sparse gradient is
  /// passed whole).
  std::string prepareStep(llvm::ArrayRef<void *> params,
                          llvm::ArrayRef<void *> grads, size_t numLocalStates,
                          std::vector<void *> &localParamPtrs,
                          std::vector<void *> &localGradPtrs) const;
  /// ShardedOptimizer::refuseStep.
  llvm::Error refuse(llvm::StringRef problem);

  /// The gradient control of a step (`status` not empty), from `squares`,
  /// the sum of the squares of every rank's gradients as passed (each
  /// rank's float64 sum, added in rank order): what the compiled step's
  /// combine and loss-scale update compute. Fills `next` (the status after
  /// the step) and returns the scale the local step divides the gradients
  /// by (the loss scale times the clip factor), or nullopt when the step is
  /// skipped (dynamic scaling found an inf or NaN).
  std::optional<double> controlStep(double squares,
                                    std::vector<double> &next) const;

  /// setHyperParam of a sharded step whose local step is `local` (null on
  /// a rank without pieces).
  template <typename LocalT>
  llvm::Error setHyperParam(unsigned group, llvm::StringRef name,
                            double value, LocalT *local) {
    std::vector<double> saved = table;
    auto localGroup = keepHyperParam(group, name, value, local != nullptr);
    if (!localGroup)
      return localGroup.takeError();
    if (*localGroup >= 0)
      if (llvm::Error error = local->setHyperParam(*localGroup, name, value)) {
        table = std::move(saved);
        return error;
      }
    return llvm::Error::success();
  }
};

} // namespace optim::runtime::detail

#endif // LIB_RUNTIME_SHARDPLAN_H
