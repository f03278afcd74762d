//===- DistributeToThreads.cpp - chunk functions on a GPU block -----------===//
//
// See the pass description in Passes.td.
//
//===----------------------------------------------------------------------===//

#include "optim/Conversion/Passes.h"
#include "optim/Dialect/Optim/IR/Optim.h"

#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::optim {
#define GEN_PASS_DEF_OPTIMDISTRIBUTETOTHREADS
#include "optim/Conversion/Passes.h.inc"
} // namespace mlir::optim

using namespace mlir;

static constexpr StringLiteral kSequentialAttr =
    optim::OptimDialect::SequentialAttrHelper::getNameStr();
static constexpr StringLiteral kVectorLoopAttr =
    optim::OptimDialect::VectorLoopAttrHelper::getNameStr();
static constexpr StringLiteral kRemainderLoopAttr =
    optim::OptimDialect::RemainderLoopAttrHelper::getNameStr();

/// True if `transfer` reads or writes one contiguous, in-bounds 1-D tile of
/// a memref whose innermost stride is 1.
static bool isContiguousTile(VectorTransferOpInterface transfer) {
  auto memref = dyn_cast<MemRefType>(transfer.getShapedType());
  VectorType vector = transfer.getVectorType();
  if (!memref || vector.getRank() != 1 || transfer.hasOutOfBoundsDim() ||
      transfer.getMask() || !transfer.getPermutationMap().isMinorIdentity())
    return false;
  SmallVector<int64_t> strides;
  int64_t offset;
  return succeeded(memref.getStridesAndOffset(strides, offset)) &&
         !strides.empty() && strides.back() == 1;
}

/// `memref` seen in the global address space (it always is: the step's
/// buffers are device memory), so that NVPTX emits `ld.global` /
/// `st.global` rather than generic accesses. One cast per buffer, before
/// `loop`.
static Value castToGlobal(RewriterBase &rewriter, scf::ForOp loop,
                          Value memref,
                          llvm::DenseMap<Value, Value> &casts) {
  Value &cast = casts[memref];
  if (cast)
    return cast;
  auto type = cast_or_null<MemRefType>(memref.getType());
  if (!type || type.getMemorySpace()) {
    cast = memref;
    return cast;
  }
  auto global = gpu::AddressSpaceAttr::get(rewriter.getContext(),
                                           gpu::AddressSpace::Global);
  auto castType = MemRefType::get(type.getShape(), type.getElementType(),
                                  type.getLayout(), global);
  OpBuilder::InsertionGuard guard(rewriter);
  rewriter.setInsertionPoint(loop);
  if (Operation *def = memref.getDefiningOp())
    if (loop->isAncestor(def))
      rewriter.setInsertionPointAfter(def);
  cast = memref::MemorySpaceCastOp::create(rewriter, loop.getLoc(), castType,
                                           memref);
  return cast;
}

/// Rewrites the contiguous tile transfers directly in `loop` into aligned
/// vector loads and stores (the tile's size in bytes, at most 16) of
/// global memory.
static LogicalResult alignTileAccesses(RewriterBase &rewriter,
                                       scf::ForOp loop) {
  llvm::DenseMap<Value, Value> casts;
  SmallVector<Operation *> transfers;
  for (Operation &op : loop.getBody()->without_terminator())
    if (auto transfer = dyn_cast<VectorTransferOpInterface>(op))
      if (isContiguousTile(transfer))
        transfers.push_back(&op);
  for (Operation *op : transfers) {
    auto transfer = cast<VectorTransferOpInterface>(op);
    VectorType vector = transfer.getVectorType();
    int64_t bytes = vector.getNumElements() *
                    vector.getElementTypeBitWidth() / 8;
    if (bytes <= 0 || !llvm::isPowerOf2_64(bytes))
      continue;
    IntegerAttr alignment =
        rewriter.getI64IntegerAttr(std::min<int64_t>(bytes, 16));
    rewriter.setInsertionPoint(op);
    if (auto read = dyn_cast<vector::TransferReadOp>(op)) {
      Value base = castToGlobal(rewriter, loop, read.getBase(), casts);
      rewriter.setInsertionPoint(op);
      auto load = vector::LoadOp::create(rewriter, read.getLoc(), vector,
                                         base, read.getIndices());
      load.setAlignmentAttr(alignment);
      rewriter.replaceOp(read, load.getResult());
    } else if (auto write = dyn_cast<vector::TransferWriteOp>(op)) {
      if (write->getNumResults() != 0)
        continue; // (on tensors: not after bufferization)
      Value base = castToGlobal(rewriter, loop, write.getBase(), casts);
      rewriter.setInsertionPoint(op);
      auto store = vector::StoreOp::create(rewriter, write.getLoc(),
                                           write.getVector(), base,
                                           write.getIndices());
      store.setAlignmentAttr(alignment);
      rewriter.eraseOp(write);
    }
  }
  return success();
}

namespace {
struct DistributeToThreadsPass
    : public optim::impl::OptimDistributeToThreadsBase<
          DistributeToThreadsPass> {
  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (!func->hasAttr(kSequentialAttr) || func.isExternal())
      return;
    IRRewriter rewriter(func.getContext());
    Location loc = func.getLoc();
    rewriter.setInsertionPointToStart(&func.getBody().front());
    Value thread = gpu::ThreadIdOp::create(rewriter, loc, gpu::Dimension::x);
    Value threads = gpu::BlockDimOp::create(rewriter, loc, gpu::Dimension::x);
    Value zero = arith::ConstantIndexOp::create(rewriter, loc, 0);
    Value isFirst = arith::CmpIOp::create(
        rewriter, loc, arith::CmpIPredicate::eq, thread, zero);

    SmallVector<scf::ForOp> vectorLoops, remainderLoops;
    func.walk([&](scf::ForOp loop) {
      if (loop->hasAttr(kVectorLoopAttr))
        vectorLoops.push_back(loop);
      else if (loop->hasAttr(kRemainderLoopAttr))
        remainderLoops.push_back(loop);
    });
    for (scf::ForOp loop : vectorLoops) {
      // Tiles t, t + n, ...: lb + t * step, step * n.
      rewriter.setInsertionPoint(loop);
      Value offset = arith::MulIOp::create(rewriter, loc, thread,
                                           loop.getStep());
      loop.setLowerBound(
          arith::AddIOp::create(rewriter, loc, loop.getLowerBound(), offset));
      loop.setStep(
          arith::MulIOp::create(rewriter, loc, loop.getStep(), threads));
    }
    for (scf::ForOp loop : remainderLoops) {
      // The last partial tile, on thread 0; the others keep the values the
      // loop started from.
      rewriter.setInsertionPoint(loop);
      auto guard = scf::IfOp::create(rewriter, loc, loop.getResultTypes(),
                                     isFirst, /*withElseRegion=*/true);
      rewriter.replaceAllUsesWith(loop.getResults(), guard.getResults());
      if (loop.getNumResults() == 0) {
        // (The builder gave both blocks their terminators.)
        loop->moveBefore(guard.thenBlock()->getTerminator());
        continue;
      }
      rewriter.setInsertionPointToStart(guard.elseBlock());
      scf::YieldOp::create(rewriter, loc, loop.getInitArgs());
      loop->moveBefore(guard.thenBlock(), guard.thenBlock()->begin());
      rewriter.setInsertionPointAfter(loop);
      scf::YieldOp::create(rewriter, loc, loop.getResults());
    }

    // The tiles of a main loop start at multiples of the tile size from a
    // chunk start, which is a multiple of it too: with buffers aligned to
    // a tile (the runtime checks 16 bytes), each tile is one aligned
    // 128-bit access, which NVPTX only emits when it knows the alignment.
    for (scf::ForOp loop : vectorLoops)
      if (failed(alignTileAccesses(rewriter, loop)))
        return signalPassFailure();

    SmallVector<vector::ReductionOp> reductions;
    WalkResult result = func.walk([&](vector::ReductionOp op) {
      if (op.getKind() != vector::CombiningKind::ADD) {
        op.emitError("only sums can be reduced across a GPU block");
        return WalkResult::interrupt();
      }
      reductions.push_back(op);
      return WalkResult::advance();
    });
    if (result.wasInterrupted())
      return signalPassFailure();
    for (vector::ReductionOp op : reductions) {
      // This thread's partial sum, the block's total, then the accumulator.
      rewriter.setInsertionPoint(op);
      Value partial = vector::ReductionOp::create(
          rewriter, op.getLoc(), vector::CombiningKind::ADD, op.getVector());
      Value total = gpu::AllReduceOp::create(
          rewriter, op.getLoc(), partial,
          gpu::AllReduceOperationAttr::get(rewriter.getContext(),
                                           gpu::AllReduceOperation::ADD),
          /*uniform=*/true);
      Value sum = total;
      if (Value acc = op.getAcc())
        sum = arith::AddFOp::create(rewriter, op.getLoc(), total, acc);
      rewriter.replaceOp(op, sum);
    }
  }
};
} // namespace
