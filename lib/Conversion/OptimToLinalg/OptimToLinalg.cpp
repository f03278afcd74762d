//===- OptimToLinalg.cpp - lower optim compute ops to linalg --------------===//

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
    RewritePatternSet &patterns) {}

namespace {
struct ConvertOptimToLinalgPass
    : public optim::impl::ConvertOptimToLinalgBase<ConvertOptimToLinalgPass> {
  void runOnOperation() override {}
};
} // namespace
