//===- ResolveOptimizer.cpp - declarative optimizer to step function ------===//

#include "optim/Dialect/Optim/IR/Optim.h"
#include "optim/Dialect/Optim/Transforms/Passes.h"

namespace mlir::optim {
#define GEN_PASS_DEF_OPTIMRESOLVEOPTIMIZER
#include "optim/Dialect/Optim/Transforms/Passes.h.inc"
} // namespace mlir::optim

using namespace mlir;
using namespace mlir::optim;

namespace {
struct ResolveOptimizerPass
    : public optim::impl::OptimResolveOptimizerBase<ResolveOptimizerPass> {
  using Base::Base;
  void runOnOperation() override {}
};
} // namespace
