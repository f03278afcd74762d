//===- MapStepToGPU.cpp - phases of a step as GPU launches ----------------===//
//
// See the pass description in Passes.td.
//
//===----------------------------------------------------------------------===//

#include "optim/Conversion/Passes.h"
#include "optim/Dialect/Optim/IR/Optim.h"

#include "mlir/Analysis/SliceAnalysis.h"
#include "mlir/Analysis/TopologicalSortUtils.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Transforms/RegionUtils.h"

namespace mlir::optim {
#define GEN_PASS_DEF_OPTIMMAPSTEPTOGPU
#include "optim/Conversion/Passes.h.inc"
} // namespace mlir::optim

using namespace mlir;

/// Ops a launch may recompute from the step's arguments: pure ops, loads
/// (from the hyper-parameter table) and global addresses.
static bool canRecomputeInside(Operation *op) {
  return isPure(op) || isa<memref::LoadOp, memref::GetGlobalOp>(op);
}

namespace {
struct MapStepToGPUPass
    : public optim::impl::OptimMapStepToGPUBase<MapStepToGPUPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (blockSize < 1 || blockSize > mlir::optim::kMaxBlockSize) {
      emitError(module.getLoc()) << "'block-size' must be in [1, "
                                 << mlir::optim::kMaxBlockSize << "], got "
                                 << static_cast<int64_t>(blockSize);
      return signalPassFailure();
    }
    // Phases: parallel loops over chunks, and calls of a chunk function
    // left after canonicalization folded a phase of a single chunk.
    SmallVector<Operation *> phases;
    for (auto func : module.getOps<func::FuncOp>()) {
      if (!func.getSymName().ends_with("_step"))
        continue;
      for (Operation &op : func.getBody().getOps()) {
        // Stores of scalars (the step counter's increment) run on one
        // thread of their own launch, after the phases before them.
        if (isa<scf::ParallelOp, memref::StoreOp>(op))
          phases.push_back(&op);
        else if (auto call = dyn_cast<func::CallOp>(op))
          if (auto callee =
                  module.lookupSymbol<func::FuncOp>(call.getCallee()))
            if (callee->hasAttr(
                    optim::OptimDialect::SequentialAttrHelper::getNameStr()))
              phases.push_back(&op);
      }
    }
    if (!phases.empty())
      module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                      UnitAttr::get(&getContext()));
    for (Operation *phase : phases)
      if (failed(mapPhase(phase)))
        return signalPassFailure();
    // Whatever writes memory outside the launches would run on the host,
    // on device pointers: the per-parameter form of a step (sparse
    // gradients, share-update-functions=0) has no GPU mapping yet.
    for (auto func : module.getOps<func::FuncOp>()) {
      if (!func.getSymName().ends_with("_step"))
        continue;
      WalkResult result = func.walk<WalkOrder::PreOrder>([&](Operation *op) {
        if (isa<gpu::LaunchOp>(op))
          return WalkResult::skip();
        auto effects = dyn_cast<MemoryEffectOpInterface>(op);
        bool writes =
            isa<CallOpInterface>(op) ||
            (effects && (effects.hasEffect<MemoryEffects::Write>() ||
                         effects.hasEffect<MemoryEffects::Free>()));
        if (writes) {
          op->emitOpError("would run on the host in a GPU step: only the "
                          "multi-tensor step (dense gradients, shared "
                          "update functions) maps to GPU kernels");
          return WalkResult::interrupt();
        }
        return WalkResult::advance();
      });
      if (result.wasInterrupted())
        return signalPassFailure();
    }
    // The shared functions now live inside the launches. A chunk function
    // no launch calls would be left to the host, on device memory.
    for (auto func :
         llvm::make_early_inc_range(module.getOps<func::FuncOp>())) {
      if (!SymbolTable::symbolKnownUseEmpty(func, module))
        continue;
      if (func.isPrivate()) {
        func.erase();
        continue;
      }
      if (func->hasAttr(
              optim::OptimDialect::SequentialAttrHelper::getNameStr())) {
        func.emitOpError("is a chunk function ('optim.sequential') that no "
                         "step calls: on a GPU it runs only inside the "
                         "launches of a step");
        return signalPassFailure();
      }
    }
  }

  LogicalResult mapPhase(Operation *op) {
    auto phase = dyn_cast<scf::ParallelOp>(op);
    if (phase && (phase.getNumLoops() != 1 || !phase.getInitVals().empty()))
      return phase.emitOpError("a phase of the step must be a 1-D parallel "
                               "loop over chunks");
    OpBuilder b(op);
    Location loc = op->getLoc();
    // Chunks [lb, ub) with step 1: one block each (one for a single call).
    Value one = arith::ConstantIndexOp::create(b, loc, 1);
    Value lower, count = one;
    if (phase) {
      lower = phase.getLowerBound()[0];
      count = arith::SubIOp::create(b, loc, phase.getUpperBound()[0], lower);
    }
    bool singleThread = isa<memref::StoreOp>(op);
    if (auto call = dyn_cast<func::CallOp>(op))
      if (auto callee = op->getParentOfType<ModuleOp>().lookupSymbol<func::FuncOp>(
              call.getCallee()))
        singleThread = callee->hasAttr(
            optim::OptimDialect::SingleThreadAttrHelper::getNameStr());
    Value threads = singleThread
                        ? one
                        : arith::ConstantIndexOp::create(b, loc, blockSize);
    auto launch = gpu::LaunchOp::create(b, loc, count, one, one, threads, one,
                                        one);
    Block &body = launch.getBody().front();
    OpBuilder inner = OpBuilder::atBlockBegin(&body);

    // Recompute what the phase uses from outside inside the launch.
    llvm::SetVector<Value> captured;
    if (phase)
      getUsedValuesDefinedAbove(phase.getRegion(), captured);
    else
      captured.insert(op->getOperands().begin(), op->getOperands().end());
    SetVector<Operation *> slice;
    BackwardSliceOptions options;
    options.inclusive = true;
    options.filter = [&](Operation *op) {
      return !launch->isAncestor(op) && canRecomputeInside(op);
    };
    for (Value value : captured)
      if (Operation *def = value.getDefiningOp())
        if (canRecomputeInside(def))
          (void)getBackwardSlice(def, &slice, options);
    IRMapping mapping;
    for (Operation *op : topologicalSort(slice))
      inner.clone(*op, mapping);
    if (phase) {
      Value chunk = arith::AddIOp::create(inner, loc, lower,
                                          launch.getBlockIds().x);
      mapping.map(phase.getInductionVars()[0], chunk);
      for (Operation &nested : phase.getBody()->without_terminator())
        inner.clone(nested, mapping);
    } else {
      inner.clone(*op, mapping);
    }
    gpu::TerminatorOp::create(inner, loc);
    op->erase();

    // Inline the shared functions the phase calls (single-block bodies
    // without results: a clone of the body in place of the call).
    SmallVector<func::CallOp> calls;
    launch.walk([&](func::CallOp call) { calls.push_back(call); });
    auto module = launch->getParentOfType<ModuleOp>();
    for (func::CallOp call : calls) {
      auto callee = module.lookupSymbol<func::FuncOp>(call.getCallee());
      if (!callee || callee.isExternal() || !callee.getBody().hasOneBlock() ||
          callee.getNumResults() != 0)
        return call.emitOpError("calls a function the GPU step cannot "
                                "inline");
      Block &calleeBody = callee.getBody().front();
      IRMapping arguments;
      arguments.map(calleeBody.getArguments(), call.getOperands());
      OpBuilder at(call);
      for (Operation &op : calleeBody.without_terminator())
        at.clone(op, arguments);
      call.erase();
    }
    return success();
  }
};
} // namespace
