//===- DistributedGPU.h - sharded optimizer steps on GPUs -------*- C++ -*-===//
//
// The GPU half of a sharded step (docs/Distributed-gpu.md): the same plan as
// ShardedOptimizer (Distributed.h), each rank's pieces updated by a
// GPUOptimizer on its device, and the parameters exchanged with NCCL
// (loaded at run time, like the CUDA driver) on the caller's stream. MPI
// (the Communicator) carries what is not device data: the agreement of the
// ranks, NCCL's unique id, and the failure state.
//
//===----------------------------------------------------------------------===//

#ifndef OPTIM_RUNTIME_DISTRIBUTEDGPU_H
#define OPTIM_RUNTIME_DISTRIBUTEDGPU_H

#include "optim/Runtime/Distributed.h"
#include "optim/Runtime/GPUOptimizer.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace optim::runtime {

/// A step sharded over a communicator, each rank's part on one CUDA device.
/// As ShardedOptimizer: every rank compiles the same source and passes
/// every parameter and gradient (device pointers); states exist only for
/// the rank's own pieces (getLocalPieces(), piece-major, getStateNames()
/// order, each sized by getLocalParams()).
class GPUShardedOptimizer {
public:
  /// Compiles this rank's part with the GPU pipeline, loads it on `device`,
  /// allocates the exchange's staging buffer and joins the ranks in an NCCL
  /// communicator (rank 0's unique id, broadcast over `comm`). A
  /// collective: every rank must call it with the same source, mode and
  /// pipeline options; every rank gets an error if one rank failed (no NCCL
  /// library, no driver, a lowering error). Only GradientReduction::None:
  /// the gradients must already be the same on every rank.
  static llvm::Expected<std::unique_ptr<GPUShardedOptimizer>>
  compile(llvm::StringRef source, std::shared_ptr<Communicator> comm,
          ShardMode mode = ShardMode::FromSource,
          GradientReduction reduction = GradientReduction::None,
          const GPUCompileOptions &options = {}, int device = 0);
  ~GPUShardedOptimizer();

  ShardMode getMode() const;
  Communicator &getCommunicator() const;
  int getDevice() const;
  llvm::ArrayRef<ParamInfo> getParams() const;
  llvm::ArrayRef<std::string> getStateNames() const;
  unsigned getNumGroups() const;
  llvm::ArrayRef<ShardPiece> getPieces(int rank) const;
  llvm::ArrayRef<ShardPiece> getLocalPieces() const;
  /// The compiled step of this rank's pieces; null without pieces.
  GPUOptimizer *getLocalOptimizer() const;
  /// Local piece k as a parameter, its states in the whole step's layout
  /// (as ShardedOptimizer::getLocalParams: a piece without a master copy in
  /// an optimizer with some has a "master" of 0 elements, which may be
  /// null). The local states follow this layout.
  llvm::ArrayRef<ParamInfo> getLocalParams() const;

  /// Fills the local states (device pointers) with their initial values on
  /// `stream`. With master weights, `params` (every parameter's device
  /// pointer) gives the masters' values; otherwise it may be empty.
  llvm::Error initStates(llvm::ArrayRef<void *> params,
                         llvm::ArrayRef<void *> localStates,
                         void *stream = nullptr);
  llvm::Error setHyperParam(unsigned group, llvm::StringRef name,
                            double value);
  llvm::Expected<double> getHyperParam(unsigned group,
                                       llvm::StringRef name) const;
  /// Counted on the host, as ShardedOptimizer does (the local optimizer's
  /// counter on the device follows it).
  int64_t getGlobalStep() const;
  llvm::Error setGlobalStep(int64_t step);

  /// One step on `stream` (a CUstream; null: the legacy default stream).
  /// Every rank validates its arguments and agrees that all did (else
  /// every rank returns an error and nothing was enqueued anywhere); each
  /// enqueues its local step on its pieces; then the parameters are
  /// exchanged with NCCL on `stream` and waited for, with the
  /// communicator's timeout. Only when every transfer has completed are the
  /// other ranks' pieces copied (enqueued on `stream`) into `params`. On a
  /// timeout or an NCCL error the NCCL communicator is aborted, the
  /// Communicator is broken, and nothing received was written. The host
  /// waits for the exchange: a step cannot be captured in a CUDA graph.
  llvm::Error step(llvm::ArrayRef<void *> params, llvm::ArrayRef<void *> grads,
                   llvm::ArrayRef<void *> localStates, void *stream = nullptr);
  /// As ShardedOptimizer::refuseStep.
  llvm::Error refuseStep(llvm::StringRef problem);
  const ExchangeStats &getLastStats() const;

  class Impl;

private:
  static llvm::Expected<std::unique_ptr<GPUShardedOptimizer>>
  compileOnRank(llvm::StringRef source, std::shared_ptr<Communicator> comm,
                ShardMode mode, GradientReduction reduction,
                const GPUCompileOptions &options, int device);
  explicit GPUShardedOptimizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl;
};

} // namespace optim::runtime

#endif // OPTIM_RUNTIME_DISTRIBUTEDGPU_H
