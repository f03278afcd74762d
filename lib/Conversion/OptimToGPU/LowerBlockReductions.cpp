//===- LowerBlockReductions.cpp - gpu.all_reduce to shuffles --------------===//

#include "optim/Conversion/Passes.h"

#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::optim {
#define GEN_PASS_DEF_OPTIMLOWERBLOCKREDUCTIONS
#include "optim/Conversion/Passes.h.inc"
} // namespace mlir::optim

using namespace mlir;

namespace {
struct LowerBlockReductionsPass
    : public optim::impl::OptimLowerBlockReductionsBase<
          LowerBlockReductionsPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateGpuAllReducePatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
    // A reduction outside a kernel has no workgroup memory to use.
    WalkResult result = getOperation().walk([](gpu::AllReduceOp op) {
      op.emitError("block-wide reduction outside a GPU kernel");
      return WalkResult::interrupt();
    });
    if (result.wasInterrupted())
      signalPassFailure();
  }
};
} // namespace
