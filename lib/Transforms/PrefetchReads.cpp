//===- PrefetchReads.cpp - prefetch the read-only vector loops -----------===//
//
// A read-only vector loop (a reduction) is one read stream per operand; the
// hardware prefetcher alone keeps too few lines in flight for it. This pass
// prefetches a fixed distance ahead of each of its reads.
//
//===----------------------------------------------------------------------===//

#include "optim/Dialect/Optim/IR/Optim.h"
#include "optim/Transforms/Passes.h"

#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/SetVector.h"

namespace mlir::optim {
#define GEN_PASS_DEF_OPTIMPREFETCHREADS
#include "optim/Transforms/Passes.h.inc"
} // namespace mlir::optim

using namespace mlir;

namespace {
/// Whether anything in `loop`'s body may write memory. An op without the
/// memory-effect interface counts as a writer unless it is pure
/// arithmetic on values (it has recursive effects only through its
/// regions, which the walk visits).
bool writesMemory(scf::ForOp loop) {
  WalkResult result = loop.getBody()->walk([](Operation *op) {
    if (op->hasTrait<OpTrait::HasRecursiveMemoryEffects>())
      return WalkResult::advance();
    auto effects = dyn_cast<MemoryEffectOpInterface>(op);
    if (!effects)
      return op->hasTrait<OpTrait::IsTerminator>() ? WalkResult::advance()
                                                   : WalkResult::interrupt();
    if (effects.hasEffect<MemoryEffects::Write>() ||
        effects.hasEffect<MemoryEffects::Allocate>() ||
        effects.hasEffect<MemoryEffects::Free>())
      return WalkResult::interrupt();
    return WalkResult::advance();
  });
  return result.wasInterrupted();
}

/// The rank-1 memref `op` reads at the loop's induction variable, if it is
/// such a read and the memref is defined outside the loop.
Value streamedMemRef(Operation *op, scf::ForOp loop) {
  Value base;
  ValueRange indices;
  if (auto read = dyn_cast<vector::TransferReadOp>(op)) {
    base = read.getBase();
    indices = read.getIndices();
  } else if (auto load = dyn_cast<vector::LoadOp>(op)) {
    base = load.getBase();
    indices = load.getIndices();
  } else {
    return {};
  }
  auto type = dyn_cast<MemRefType>(base.getType());
  if (!type || type.getRank() != 1 || indices.size() != 1 ||
      indices.front() != loop.getInductionVar() ||
      !loop.isDefinedOutsideOfLoop(base))
    return {};
  return base;
}

struct PrefetchReadsPass
    : optim::impl::OptimPrefetchReadsBase<PrefetchReadsPass> {
  using Base::Base;

  void runOnOperation() override {
    constexpr int64_t kMaxDistanceBytes = int64_t(1) << 20;
    if (distanceBytes < 0 || distanceBytes > kMaxDistanceBytes) {
      getOperation().emitError()
          << "optim-prefetch-reads: distance-bytes must be in [0, "
          << kMaxDistanceBytes << "], got " << distanceBytes.getValue();
      return signalPassFailure();
    }
    if (distanceBytes == 0)
      return;
    auto vectorLoop = optim::OptimDialect::VectorLoopAttrHelper(&getContext());
    getOperation().walk([&](scf::ForOp loop) {
      if (!vectorLoop.isAttrPresent(loop) || writesMemory(loop))
        return;
      llvm::SetVector<Value> streams;
      for (Operation &op : *loop.getBody())
        if (Value base = streamedMemRef(&op, loop))
          streams.insert(base);
      for (Value base : streams)
        prefetchAhead(loop, base);
    });
  }

  /// Before the loop: the clamp (the memref's last index) and the distance
  /// in elements; at the top of the body: the prefetch of
  /// min(iv + distance, last).
  void prefetchAhead(scf::ForOp loop, Value base) {
    auto type = cast<MemRefType>(base.getType());
    unsigned elementBytes =
        std::max<unsigned>(1, type.getElementTypeBitWidth() / 8);
    int64_t distance = std::max<int64_t>(1, distanceBytes / elementBytes);
    Location loc = loop.getLoc();
    OpBuilder builder(loop);
    Value zero = arith::ConstantIndexOp::create(builder, loc, 0);
    Value one = arith::ConstantIndexOp::create(builder, loc, 1);
    Value size = memref::DimOp::create(builder, loc, base, zero);
    Value last = arith::SubIOp::create(builder, loc, size, one);
    Value ahead = arith::ConstantIndexOp::create(builder, loc, distance);
    builder.setInsertionPointToStart(loop.getBody());
    Value index =
        arith::AddIOp::create(builder, loc, loop.getInductionVar(), ahead);
    index = arith::MinSIOp::create(builder, loc, index, last);
    memref::PrefetchOp::create(builder, loc, base, ValueRange{index},
                               /*isWrite=*/false, /*localityHint=*/3,
                               /*isDataCache=*/true);
  }
};
} // namespace
