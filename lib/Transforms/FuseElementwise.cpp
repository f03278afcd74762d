//===- FuseElementwise.cpp - fuse producers into every consumer -----------===//

#include "optim/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::optim {
#define GEN_PASS_DEF_OPTIMFUSEELEMENTWISE
#include "optim/Transforms/Passes.h.inc"
} // namespace mlir::optim

using namespace mlir;

namespace {
/// A generic that only converts its one input to its one output's element
/// type, without reading the output: optim.round_to, the 16-bit parameter
/// rewritten from its master (docs/Mixed-precision.md).
bool isRoundingCopy(Operation *op) {
  auto generic = dyn_cast<linalg::GenericOp>(op);
  if (!generic || generic.getNumDpsInputs() != 1 ||
      generic.getNumDpsInits() != 1 ||
      generic.getNumParallelLoops() != generic.getNumLoops() ||
      generic.payloadUsesValueFromOperand(generic.getDpsInitOperand(0)))
    return false;
  for (AffineMap map : generic.getIndexingMapsArray())
    if (!map.isIdentity())
      return false;
  Block &body = generic.getRegion().front();
  if (body.getOperations().size() != 2)
    return false;
  Operation &convert = body.front();
  return isa<arith::TruncFOp, arith::ExtFOp>(convert) &&
         convert.getOperand(0) == body.getArgument(0);
}

/// Fuses an in-place producer into the rounding copy of one of its results
/// (the master rounded into the 16-bit parameter): the fused op keeps every
/// result of the producer, which then replaces all of them (upstream's
/// pattern replaces only the consumer's), so that the update runs once, in
/// one loop writing the master, the states and the parameter.
struct FuseIntoRoundingCopy : OpRewritePattern<linalg::GenericOp> {
  FuseIntoRoundingCopy(MLIRContext *ctx)
      : OpRewritePattern<linalg::GenericOp>(ctx, /*benefit=*/2) {}

  LogicalResult matchAndRewrite(linalg::GenericOp consumer,
                                PatternRewriter &rewriter) const override {
    if (!isRoundingCopy(consumer))
      return failure();
    OpOperand *operand = consumer.getDpsInputOperand(0);
    auto producer = operand->get().getDefiningOp<linalg::GenericOp>();
    if (!producer ||
        producer.getNumParallelLoops() != producer.getNumLoops() ||
        !linalg::areElementwiseOpsFusable(operand))
      return failure();
    // The fused op replaces the producer's results wherever they are used:
    // it goes right after the producer, which the copy's destination must
    // then dominate.
    // (A tensor.empty destination, which the upstream patterns put right
    // before the copy, moves up when its sizes allow.)
    Value dest = consumer.getDpsInitOperand(0)->get();
    if (consumer->getBlock() != producer->getBlock())
      return failure();
    auto dominatesProducer = [&](Value value) {
      if (Operation *def = value.getDefiningOp())
        return def->getBlock() == producer->getBlock() &&
               def->isBeforeInBlock(producer);
      return cast<BlockArgument>(value).getOwner() == producer->getBlock();
    };
    if (!dominatesProducer(dest)) {
      auto empty = dest.getDefiningOp<tensor::EmptyOp>();
      if (!empty || empty->getBlock() != producer->getBlock() ||
          !llvm::all_of(empty->getOperands(), dominatesProducer))
        return failure();
      rewriter.moveOpBefore(empty, producer);
    }
    rewriter.moveOpAfter(consumer, producer);
    FailureOr<linalg::ElementwiseOpFusionResult> fused =
        linalg::fuseElementwiseOps(rewriter, operand);
    if (failed(fused))
      return failure();
    for (auto [original, replacement] : fused->replacements)
      rewriter.replaceAllUsesWith(original, replacement);
    rewriter.eraseOp(consumer);
    if (producer->use_empty())
      rewriter.eraseOp(producer);
    return success();
  }
};

struct FuseElementwisePass
    : public optim::impl::OptimFuseElementwiseBase<FuseElementwisePass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    // Any all-parallel producer, whatever its number of uses: the
    // recomputation is a few flops per element, the temporary it replaces
    // is a full pass over memory. Except a producer that updates its
    // destination in place (reads its outputs: a state's new value) and
    // has other uses: a consumer recomputing it would read the old value
    // after the update overwrote it, and bufferization would copy.
    // A rounding copy of such a result (a master rounded into the 16-bit
    // parameter) is fused by FuseIntoRoundingCopy instead.
    linalg::populateElementwiseOpsFusionPatterns(
        patterns, [](OpOperand *fused) {
          auto producer = fused->get().getDefiningOp<linalg::GenericOp>();
          if (!producer ||
              producer.getNumParallelLoops() != producer.getNumLoops())
            return false;
          bool readsOutputs =
              llvm::any_of(producer.getDpsInitsMutable(), [&](OpOperand &init) {
                return producer.payloadUsesValueFromOperand(&init);
              });
          return !readsOutputs || producer->hasOneUse();
        });
    patterns.add<FuseIntoRoundingCopy>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};
} // namespace
