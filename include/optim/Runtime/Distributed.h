//===- Distributed.h - optimizer steps sharded over MPI ranks ---*- C++ -*-===//
//
// A step divided among the ranks of an MPI job (docs/Distributed.md):
// MindSpore's `broadcast_params` (parameter i updated by rank i mod N, then
// broadcast rank by rank) and ZeRO-1 (each rank keeps the states of 1/N of
// every class's elements, then the parameters are allgathered). The
// communication is MPI's non-blocking collectives, waited on with a
// deadline: a rank that dies or stalls gives the others an error, not a
// hang, and parameters received from other ranks are written only when the
// whole exchange has completed.
//
//===----------------------------------------------------------------------===//

#ifndef OPTIM_RUNTIME_DISTRIBUTED_H
#define OPTIM_RUNTIME_DISTRIBUTED_H

#include "optim/Runtime/Runtime.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace optim::runtime {
namespace detail {
struct ShardedState;
} // namespace detail

/// Bytes and time of the communication of the last call.
struct ExchangeStats {
  /// Bytes this rank sent and received (payload; MPI's own copies and
  /// headers not counted).
  int64_t bytesSent = 0;
  int64_t bytesReceived = 0;
  /// Wall time of the gradient reduction and of the parameter exchange.
  double reduceSeconds = 0.0;
  double exchangeSeconds = 0.0;
};

/// The ranks of MPI_COMM_WORLD (a duplicate of it), with a deadline on
/// every collective. MPI is initialised on first use (MPI_THREAD_SERIALIZED)
/// and finalised at exit if this library initialised it. Calls must come
/// from one thread at a time. After a failure (a timeout, an MPI error) the
/// communicator is broken: every later call returns the first error.
class Communicator {
public:
  /// The job's communicator; `timeoutSeconds` (> 0) bounds every wait.
  /// The environment variable OPTIM_DIST_TIMEOUT, when set, overrides it.
  static llvm::Expected<std::shared_ptr<Communicator>>
  world(double timeoutSeconds = 60.0);
  ~Communicator();
  Communicator(const Communicator &) = delete;
  Communicator &operator=(const Communicator &) = delete;

  int getRank() const;
  int getSize() const;
  double getTimeout() const;
  /// Changes the deadline of later calls (> 0 seconds).
  llvm::Error setTimeout(double seconds);
  /// The first error, if the communicator is broken ("" otherwise).
  const std::string &getFailure() const;

  llvm::Error barrier();
  /// Every rank's `data` (of any length), in rank order.
  llvm::Expected<std::vector<std::string>> allgather(llvm::StringRef data);
  /// Root's `data` on every rank (`data` is ignored elsewhere).
  llvm::Expected<std::string> broadcast(llvm::StringRef data, int root);
  /// Parameter exchange: every rank passes the same buffer sizes; buffer i
  /// holds, on rank `owners[i]`, the value every rank must have. With
  /// `inOrder`, one broadcast per rank in rank order (MindSpore's
  /// broadcast_params), else one allgather. Received bytes are staged and
  /// copied into the buffers only when every transfer has completed: on an
  /// error no buffer changed.
  llvm::Error exchange(llvm::ArrayRef<void *> buffers,
                       llvm::ArrayRef<int64_t> sizes,
                       llvm::ArrayRef<int> owners, bool inOrder = false);
  const ExchangeStats &getLastStats() const;
  /// MPI's allreduce (sum) of `count` float32 or float64 elements, in place.
  /// The order of the additions is MPI's: use ShardedOptimizer's reduction
  /// for results that do not depend on the number of ranks' grouping.
  llvm::Error allreduceSum(void *data, int64_t count, DType dtype);

  class Impl;

private:
  friend class ShardedOptimizer;
  friend class GPUShardedOptimizer;
  friend struct detail::ShardedState;
  explicit Communicator(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl;
};

enum class ShardMode {
  /// From the IR's `sharding` attribute; ZeRO when it has none.
  FromSource = 0,
  BroadcastParams = 1,
  Zero = 2,
};

/// What a rank does with the gradients it is given.
enum class GradientReduction {
  /// They are the same on every rank already (after a data-parallel
  /// allreduce, as torch's ZeroRedundancyOptimizer expects).
  None = 0,
  /// Sum (or average) them over the ranks first: a reduce-scatter, each
  /// rank summing in rank order the pieces it updates (deterministic).
  Sum = 1,
  Mean = 2,
};

/// A part of a parameter whose states a rank keeps and which it updates:
/// `count` elements from element `offset` of the flat parameter; `whole`
/// when it is the whole parameter (then the piece keeps its shape).
struct ShardPiece {
  unsigned param = 0;
  int64_t offset = 0;
  int64_t count = 0;
  bool whole = true;
};

/// A step sharded over a communicator. Every rank compiles the same source
/// and passes every parameter and every gradient; states exist only for the
/// rank's own pieces (getLocalPieces(), piece-major, getStateNames()
/// order, each state of a piece sized by getLocalOptimizer().getParams()).
class ShardedOptimizer {
public:
  /// Compiles this rank's part. A collective: every rank must call it with
  /// the same source, mode, reduction and options, and every rank gets an
  /// error if one rank's compilation failed.
  static llvm::Expected<std::unique_ptr<ShardedOptimizer>>
  compile(llvm::StringRef source, std::shared_ptr<Communicator> comm,
          ShardMode mode = ShardMode::FromSource,
          GradientReduction reduction = GradientReduction::None,
          const CompileOptions &options = {});
  ~ShardedOptimizer();

  ShardMode getMode() const;
  Communicator &getCommunicator() const;
  /// Every parameter, in step order (as Optimizer::getParams()).
  llvm::ArrayRef<ParamInfo> getParams() const;
  llvm::ArrayRef<std::string> getStateNames() const;
  unsigned getNumGroups() const;
  /// The pieces of rank `rank` in the step's order (every rank's plan is
  /// known everywhere, and the exchange follows it).
  llvm::ArrayRef<ShardPiece> getPieces(int rank) const;
  /// This rank's pieces in the order of its local states (the local step's
  /// parameter order, which follows the groups).
  llvm::ArrayRef<ShardPiece> getLocalPieces() const;
  /// The compiled step of this rank's pieces. Null on a rank without
  /// pieces.
  const Optimizer *getLocalOptimizer() const;
  /// Local piece k as a parameter: its shape, dtype and the shapes, counts
  /// and dtypes of its states in getStateNames() order (a piece without a
  /// master copy in an optimizer with some has a "master" of 0 elements, as
  /// in a single process). The local states follow this layout.
  llvm::ArrayRef<ParamInfo> getLocalParams() const;

  /// Fills the local states with their initial values (as
  /// Optimizer::initStates); with float32 master copies, the overload
  /// taking every parameter (`params`, step order) starts them from the
  /// parameters.
  llvm::Error initStates(llvm::ArrayRef<void *> localStates) const;
  llvm::Error initStates(llvm::ArrayRef<void *> params,
                         llvm::ArrayRef<void *> localStates) const;
  llvm::Error setHyperParam(unsigned group, llvm::StringRef name,
                            double value);
  llvm::Expected<double> getHyperParam(unsigned group,
                                       llvm::StringRef name) const;
  int64_t getGlobalStep() const;
  llvm::Error setGlobalStep(int64_t step);
  /// Every group's learning rate at the current step; NaN for a group this
  /// rank does not update whose rate is a per-step list or a schedule.
  llvm::Expected<std::vector<double>> getLearningRates() const;
  llvm::Error setNumThreads(int numThreads);

  /// Clipping and dynamic loss scaling (docs/Distributed.md): the status of
  /// the last step, the same on every rank (as Optimizer::getStepStatus;
  /// an error when the step has neither), and the dynamic scale and its
  /// count of clean steps (as Optimizer::setLossScaleState; every rank must
  /// set the same).
  bool hasStepStatus() const;
  llvm::Expected<StepStatus> getStepStatus() const;
  llvm::Error setLossScaleState(double lossScale, int64_t goodSteps);

  /// One step: every rank validates its arguments and agrees that all did
  /// (else every rank returns an error and nothing changed); each updates
  /// its pieces; the parameters are exchanged (Communicator::exchange).
  /// With clipping or dynamic loss scaling, the ranks first gather the
  /// norm of all the gradients (after the reduction, if any); a step that
  /// dynamic scaling skips changes nothing anywhere and exchanges nothing.
  /// On an exchange error, this rank's own pieces are updated and nothing
  /// it would have received is written; the communicator is broken.
  /// `params` and `grads` as in Optimizer::step, for every parameter.
  llvm::Error step(llvm::ArrayRef<void *> params, llvm::ArrayRef<void *> grads,
                   llvm::ArrayRef<void *> localStates);
  /// Takes part in a step's agreement with a refusal, for a caller that
  /// found its own arguments wrong (e.g. a binding's type checks): every
  /// rank's step returns an error naming this rank and `problem`, and
  /// nothing changes anywhere. Returns that error here too.
  llvm::Error refuseStep(llvm::StringRef problem);
  const ExchangeStats &getLastStats() const;

  class Impl;

private:
  /// compile() without the agreement between the ranks.
  static llvm::Expected<std::unique_ptr<ShardedOptimizer>>
  compileOnRank(llvm::StringRef source, std::shared_ptr<Communicator> comm,
                ShardMode mode, GradientReduction reduction,
                const CompileOptions &options);
  explicit ShardedOptimizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl;
};

} // namespace optim::runtime

#endif // OPTIM_RUNTIME_DISTRIBUTED_H
