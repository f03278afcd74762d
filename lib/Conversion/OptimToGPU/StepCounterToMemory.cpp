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
/// Whether argument `index` (an integer of any width and sign) of `func`
/// is a status buffer (memref<kStatusSize x f64>) before argument `step`.
bool isStatusArgument(func::FuncOp func, const APInt &index, unsigned step) {
  if (index.isNegative() || index.uge(step))
    return false;
  auto type = dyn_cast<MemRefType>(
      func.getArgument(index.getZExtValue()).getType());
  return type && type.getRank() == 1 && type.getElementType().isF64() &&
         type.getDimSize(0) == optim::GradientControlOp::kStatusSize;
}

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
      // With dynamic loss scaling, a step that found an inf or a NaN does
      // not count (the status argument, before the step, holds the flag).
      std::optional<unsigned> statusIndex;
      StringRef skips =
          optim::OptimDialect::SkipsNonfiniteAttrHelper::getNameStr();
      if (Attribute attr = func->getAttr(skips)) {
        auto value = dyn_cast<IntegerAttr>(attr);
        if (!value || !isStatusArgument(func, value.getValue(), index)) {
          func.emitOpError() << "'" << skips
                             << "' must be the index of the step's status "
                                "argument (memref<"
                             << optim::GradientControlOp::kStatusSize
                             << "xf64>, before the global step), got "
                             << attr;
          return signalPassFailure();
        }
        statusIndex = value.getValue().getZExtValue();
      }
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
