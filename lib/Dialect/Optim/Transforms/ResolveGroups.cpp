//===- ResolveGroups.cpp - groups, defaults and the decay filter ----------===//
//
// Writes into an optimizer what MindSpore's Optimizer constructor resolves:
// its groups, their inherited values and each parameter's weight decay.
// Everything after this pass (the step's boundary, StepABI, the runtime)
// reads these decisions from the IR.
//
//===----------------------------------------------------------------------===//

#include "optim/Dialect/Optim/IR/Optim.h"
#include "optim/Dialect/Optim/Transforms/Passes.h"
#include "optim/Dialect/Optim/Transforms/StepABI.h"

#include "mlir/IR/Builders.h"

namespace mlir::optim {
#define GEN_PASS_DEF_OPTIMRESOLVEGROUPS
#include "optim/Dialect/Optim/Transforms/Passes.h.inc"
} // namespace mlir::optim

using namespace mlir;
using namespace mlir::optim;

bool mlir::optim::passesDefaultDecayFilter(StringRef name) {
  return !name.contains("beta") && !name.contains("gamma");
}

void mlir::optim::resolveGroups(OptimizerOp optimizer) {
  if (optimizer.isResolved())
    return;
  MLIRContext *ctx = optimizer.getContext();
  OpBuilder b(ctx);
  Block &body = optimizer.getBody().front();
  FloatAttr globalDecay = optimizer.getWeightDecayAttr();
  if (!globalDecay)
    globalDecay = b.getF64FloatAttr(optimizer.getWeightDecay().convertToDouble());

  // Ungrouped: MindSpore's filter, and only with a positive decay.
  if (!optimizer.isGrouped()) {
    bool positive = globalDecay.getValueAsDouble() > 0.0;
    b.setInsertionPointToStart(&body);
    auto group = GroupOp::create(b, optimizer.getLoc(),
                                 optimizer.getLearningRate(), globalDecay,
                                 /*grad_centralization=*/UnitAttr());
    Block *groupBody = b.createBlock(&group.getBody());
    for (ParamOp param : llvm::make_early_inc_range(body.getOps<ParamOp>())) {
      if (!param.getDecayAttr())
        param.setDecayAttr(b.getBoolAttr(
            positive && passesDefaultDecayFilter(param.getName())));
      param->moveBefore(groupBody, groupBody->end());
    }
    return;
  }

  // Grouped: every parameter of a group decays (the value is runtime
  // data); a sparse gradient only where the group declares a positive
  // decay.
  for (GroupOp group : body.getOps<GroupOp>()) {
    if (!group.getLearningRateAttr())
      group.setLearningRateAttr(optimizer.getLearningRate());
    if (!group.getWeightDecayAttr())
      group.setWeightDecayAttr(globalDecay);
    bool positive = group.getWeightDecayAttr().getValueAsDouble() > 0.0;
    for (ParamOp param : group.getBody().front().getOps<ParamOp>())
      if (!param.getDecayAttr())
        param.setDecayAttr(b.getBoolAttr(!param.getSparse() || positive));
  }
}

namespace {
struct ResolveGroupsPass
    : public optim::impl::OptimResolveGroupsBase<ResolveGroupsPass> {
  void runOnOperation() override {
    for (OptimizerOp optimizer : getOperation().getOps<OptimizerOp>())
      resolveGroups(optimizer);
  }
};
} // namespace
