//===- FuseElementwise.cpp - fuse producers into every consumer -----------===//

#include "optim/Transforms/Passes.h"

#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::optim {
#define GEN_PASS_DEF_OPTIMFUSEELEMENTWISE
#include "optim/Transforms/Passes.h.inc"
} // namespace mlir::optim

using namespace mlir;

namespace {
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
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};
} // namespace
