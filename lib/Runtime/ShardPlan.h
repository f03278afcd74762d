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
  /// does not support (clipping, dynamic loss scaling; a gradient
  /// reduction of sparse or 16-bit gradients).
  static llvm::Expected<ShardPlan> get(llvm::StringRef source, int rank,
                                       int size, ShardMode mode,
                                       GradientReduction reduction);
};

/// Orders this rank's pieces as its compiled local step orders its
/// parameters (by group): `localPieces[k]` is local parameter k, and
/// `localIndexOfPlan[j]` the local index of `own[j]`.
llvm::Error orderLocalPieces(llvm::ArrayRef<ShardPiece> own,
                             llvm::ArrayRef<std::string> pieceNames,
                             llvm::ArrayRef<ParamInfo> localParams,
                             std::vector<ShardPiece> &localPieces,
                             std::vector<size_t> &localIndexOfPlan);

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

} // namespace optim::runtime::detail

#endif // LIB_RUNTIME_SHARDPLAN_H
