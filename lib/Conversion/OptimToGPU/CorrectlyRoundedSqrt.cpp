//===- CorrectlyRoundedSqrt.cpp - sqrt.rn in kernels ----------------------===//
//
// See the pass description in Passes.td.
//
//===----------------------------------------------------------------------===//

#include "optim/Conversion/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::optim {
#define GEN_PASS_DEF_OPTIMCORRECTLYROUNDEDSQRT
#include "optim/Conversion/Passes.h.inc"
} // namespace mlir::optim

using namespace mlir;

namespace {
/// `llvm.call @__nv_sqrtf(%x)` (or `__nv_sqrt`) as `llvm.intr.sqrt`.
struct LibdeviceSqrtToIntrinsic : OpRewritePattern<LLVM::CallOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(LLVM::CallOp call,
                                PatternRewriter &rewriter) const override {
    std::optional<StringRef> callee = call.getCallee();
    if (!callee || (*callee != "__nv_sqrtf" && *callee != "__nv_sqrt") ||
        call.getNumOperands() != 1 || call.getNumResults() != 1)
      return rewriter.notifyMatchFailure(call, "not a libdevice sqrt");
    rewriter.replaceOpWithNewOp<LLVM::SqrtOp>(call, call.getResult().getType(),
                                              call.getOperand(0));
    return success();
  }
};

struct CorrectlyRoundedSqrtPass
    : public optim::impl::OptimCorrectlyRoundedSqrtBase<
          CorrectlyRoundedSqrtPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<LibdeviceSqrtToIntrinsic>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace
