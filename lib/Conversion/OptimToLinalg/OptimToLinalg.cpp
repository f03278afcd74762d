//===- OptimToLinalg.cpp - lower optim compute ops to linalg --------------===//
//
// The pass: every compute op of the optim dialect is illegal and is
// rewritten into linalg/tensor/arith/math/scf on tensors by the patterns of
// BaseOps.cpp, UpdateOps.cpp and SparseOps.cpp. The declarative ops
// (optim.optimizer and its body) stay.
//
//===----------------------------------------------------------------------===//

#include "Patterns.h"

#include "optim/Conversion/Passes.h"
#include "optim/Dialect/Optim/IR/Optim.h"

#include "mlir/Transforms/DialectConversion.h"

namespace mlir::optim {
#define GEN_PASS_DEF_CONVERTOPTIMTOLINALG
#include "optim/Conversion/Passes.h.inc"
} // namespace mlir::optim

using namespace mlir;
using namespace mlir::optim;

void mlir::optim::populateOptimToLinalgConversionPatterns(
    RewritePatternSet &patterns) {
  populateBaseOpLoweringPatterns(patterns);
  populateUpdateOpLoweringPatterns(patterns);
  populateFormulaRuleLoweringPatterns(patterns);
  populateSparseOpLoweringPatterns(patterns);
  populateAdaFactorLoweringPatterns(patterns);
}

/// Reports the ops this lowering has no code for, each with its reason
/// (the patterns only decline them, which would say less).
static LogicalResult checkLowerable(Operation *root) {
  bool lowerable = true;
  root->walk([&](BroadcastParamsOp op) {
    if (op.getNumRanks() == 1)
      return;
    op.emitError() << "optim.broadcast_params across " << op.getNumRanks()
                   << " ranks needs a distributed runtime: declare the "
                      "optimizer with `sharding <broadcast_params>` and run "
                      "it with the runtime's sharded step "
                      "(docs/Distributed.md)";
    lowerable = false;
  });
  return success(lowerable);
}

namespace {
struct ConvertOptimToLinalgPass
    : public optim::impl::ConvertOptimToLinalgBase<ConvertOptimToLinalgPass> {
  void runOnOperation() override {
    Operation *root = getOperation();
    if (failed(checkLowerable(root)))
      return signalPassFailure();

    MLIRContext *context = &getContext();
    ConversionTarget target(*context);
    target.addLegalDialect<arith::ArithDialect, linalg::LinalgDialect,
                           math::MathDialect, scf::SCFDialect,
                           tensor::TensorDialect>();
    // Every compute op goes; the declarative ops (the optimizer's
    // description, which the resolve pass reads) stay.
    target.addIllegalDialect<OptimDialect>();
    target.addLegalOp<OptimizerOp, GroupOp, ParamOp, OrderParamsOp>();

    RewritePatternSet patterns(context);
    populateOptimToLinalgConversionPatterns(patterns);
    if (failed(applyPartialConversion(root, target, std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace
