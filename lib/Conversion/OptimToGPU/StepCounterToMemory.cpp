//===- StepCounterToMemory.cpp - the global step as a device counter ------===//
//
// See the pass description in Passes.td.
//
//===----------------------------------------------------------------------===//

#include "optim/Conversion/Passes.h"
#include "optim/Dialect/Optim/IR/Optim.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

namespace mlir::optim {
#define GEN_PASS_DEF_OPTIMSTEPCOUNTERTOMEMORY
#include "optim/Conversion/Passes.h.inc"
} // namespace mlir::optim

using namespace mlir;

namespace {
struct StepCounterToMemoryPass
    : public optim::impl::OptimStepCounterToMemoryBase<
          StepCounterToMemoryPass> {
  void runOnOperation() override {
    for (auto func : getOperation().getOps<func::FuncOp>()) {
      if (func.isExternal() || !func.getSymName().ends_with("_step"))
        continue;
      unsigned index = func.getNumArguments();
      if (index == 0 || !func.getArgument(index - 1).getType().isInteger(64)) {
        func.emitOpError("a step function must take the global step (i64) "
                         "as its last argument");
        return signalPassFailure();
      }
      --index;
      Location loc = func.getLoc();
      auto counterType =
          MemRefType::get({1}, IntegerType::get(&getContext(), 64));
      if (failed(func.insertArgument(index + 1, counterType, {}, loc)))
        return signalPassFailure();
      BlockArgument step = func.getArgument(index);
      BlockArgument counter = func.getArgument(index + 1);

      OpBuilder b = OpBuilder::atBlockBegin(&func.getBody().front());
      Value zero = arith::ConstantIndexOp::create(b, loc, 0);
      Value current =
          memref::LoadOp::create(b, loc, counter, ValueRange{zero});
      step.replaceAllUsesWith(current);
      // With dynamic loss scaling, a step that found an inf or a NaN does
      // not count (the status argument, before the step, holds the flag).
      std::optional<unsigned> statusIndex;
      if (auto attr = func->getAttrOfType<IntegerAttr>(
              optim::OptimDialect::SkipsNonfiniteAttrHelper::getNameStr()))
        statusIndex = attr.getInt();
      func.walk([&](func::ReturnOp ret) {
        OpBuilder at(ret);
        Value one = arith::ConstantIntOp::create(at, loc, 1, 64);
        if (statusIndex) {
          Value status = func.getArgument(*statusIndex);
          Value flag = memref::LoadOp::create(
              at, loc, status,
              ValueRange{arith::ConstantIndexOp::create(
                  at, loc, optim::GradientControlOp::kStatusFoundInf)});
          Value zero = arith::ConstantOp::create(at, loc,
                                                 at.getF64FloatAttr(0.0));
          Value clean = arith::CmpFOp::create(
              at, loc, arith::CmpFPredicate::OEQ, flag, zero);
          one = arith::ExtUIOp::create(at, loc, at.getI64Type(), clean);
        }
        Value next = arith::AddIOp::create(at, loc, current, one);
        memref::StoreOp::create(at, loc, next, counter, ValueRange{zero});
      });
      if (failed(func.eraseArgument(index)))
        return signalPassFailure();
    }
  }
};
} // namespace
