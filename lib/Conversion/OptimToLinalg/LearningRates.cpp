//===- LearningRates.cpp - lowering of learning-rate attributes -----------===//
//
// The schedules and per-step lists of the optim dialect are attributes
// (OptimAttrs.td) that say what a learning rate is; the code computing one
// at a global step is this library's, attached to them as external models
// of LearningRateBuilderAttrInterface by registerLearningRateLoweringModels,
// as upstream's lowering libraries attach their interfaces.
//
//===----------------------------------------------------------------------===//

#include "optim/Conversion/Passes.h"
#include "optim/Dialect/Optim/IR/Optim.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/DialectRegistry.h"

#include <cmath>

using namespace mlir;
using namespace mlir::optim;

namespace {
double f(const APFloat &value) { return value.convertToDouble(); }
/// Small helper to emit f32 scalar arithmetic for schedules. As with any op
/// builder, operands that emit ops go into locals first (left to right), not
/// side by side into one call, whose argument order C++ leaves unspecified.
struct ScalarBuilder {
  OpBuilder &b;
  Location loc;

  Value c(double value) {
    return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(value));
  }
  Value add(Value x, Value y) { return arith::AddFOp::create(b, loc, x, y); }
  Value sub(Value x, Value y) { return arith::SubFOp::create(b, loc, x, y); }
  Value mul(Value x, Value y) { return arith::MulFOp::create(b, loc, x, y); }
  Value div(Value x, Value y) { return arith::DivFOp::create(b, loc, x, y); }
  Value min(Value x, Value y) {
    return arith::MinimumFOp::create(b, loc, x, y);
  }
  Value max(Value x, Value y) {
    return arith::MaximumFOp::create(b, loc, x, y);
  }
  Value toF32(Value i64) {
    return arith::SIToFPOp::create(b, loc, b.getF32Type(), i64);
  }
};

/// `values[clamp(index, 0, n - 1)]` for an i64 index, from a constant table.
Value extractClamped(OpBuilder &b, Location loc, ArrayRef<double> values,
                     Value index) {
  SmallVector<float> f32Values(values.begin(), values.end());
  auto type = RankedTensorType::get({static_cast<int64_t>(values.size())},
                                    b.getF32Type());
  Value table = arith::ConstantOp::create(
      b, loc, DenseElementsAttr::get(type, ArrayRef<float>(f32Values)));
  Value zero = arith::ConstantOp::create(b, loc, b.getI64IntegerAttr(0));
  Value last = arith::ConstantOp::create(
      b, loc, b.getI64IntegerAttr(static_cast<int64_t>(values.size()) - 1));
  Value clamped = arith::MinSIOp::create(
      b, loc, arith::MaxSIOp::create(b, loc, index, zero), last);
  Value idx = arith::IndexCastOp::create(b, loc, b.getIndexType(), clamped);
  return tensor::ExtractOp::create(b, loc, table, ValueRange{idx});
}

/// Shared by the three `p = step / decay_steps` schedules.
Value buildDecayExponent(ScalarBuilder &s, Value step, int64_t decaySteps,
                         bool isStair) {
  Value stepF = s.toF32(step);
  Value period = s.c(static_cast<double>(decaySteps));
  Value p = s.div(stepF, period);
  if (isStair)
    p = math::FloorOp::create(s.b, s.loc, p);
  return p;
}

Value buildLearningRate(ExponentialDecayAttr a, OpBuilder &b, Location loc,
                        Value step) {
  ScalarBuilder s{b, loc};
  Value p = buildDecayExponent(s, step, a.getDecaySteps(), a.getIsStair());
  Value learningRate = s.c(f(a.getLearningRate()));
  Value decayRate = s.c(f(a.getDecayRate()));
  Value decay = math::PowFOp::create(b, loc, decayRate, p);
  return s.mul(learningRate, decay);
}

Value buildLearningRate(NaturalExpDecayAttr a, OpBuilder &b, Location loc,
                        Value step) {
  // MindSpore's NaturalExpDecayLR: p = step, or whole periods of
  // decay_steps with is_stair.
  ScalarBuilder s{b, loc};
  Value p = s.toF32(step);
  if (a.getIsStair()) {
    Value decaySteps = s.c(static_cast<double>(a.getDecaySteps()));
    p = s.mul(math::FloorOp::create(b, loc, s.div(p, decaySteps)), decaySteps);
  }
  Value exponent = s.mul(s.c(-f(a.getDecayRate())), p);
  Value learningRate = s.c(f(a.getLearningRate()));
  Value decay = math::ExpOp::create(b, loc, exponent);
  return s.mul(learningRate, decay);
}

Value buildLearningRate(InverseDecayAttr a, OpBuilder &b, Location loc,
                        Value step) {
  ScalarBuilder s{b, loc};
  Value p = buildDecayExponent(s, step, a.getDecaySteps(), a.getIsStair());
  Value learningRate = s.c(f(a.getLearningRate()));
  Value one = s.c(1.0);
  Value decayed = s.mul(s.c(f(a.getDecayRate())), p);
  return s.div(learningRate, s.add(one, decayed));
}

Value buildLearningRate(CosineDecayAttr a, OpBuilder &b, Location loc,
                        Value step) {
  ScalarBuilder s{b, loc};
  double decaySteps = static_cast<double>(a.getDecaySteps());
  Value stepF = s.toF32(step);
  Value clampedStep = s.min(stepF, s.c(decaySteps));
  Value progress = s.div(clampedStep, s.c(decaySteps));
  Value cosine = math::CosOp::create(b, loc, s.mul(s.c(M_PI), progress));
  Value halfRange = s.c(0.5 * (f(a.getMaxLr()) - f(a.getMinLr())));
  Value one = s.c(1.0);
  Value half = s.mul(halfRange, s.add(one, cosine));
  return s.add(s.c(f(a.getMinLr())), half);
}

Value buildLearningRate(PolynomialDecayAttr a, OpBuilder &b, Location loc,
                        Value step) {
  ScalarBuilder s{b, loc};
  Value stepF = s.toF32(step);
  Value decaySteps = s.c(static_cast<double>(a.getDecaySteps()));
  Value progress;
  if (a.getUpdateDecaySteps()) {
    Value periods = math::CeilOp::create(b, loc, s.div(stepF, decaySteps));
    Value total = s.mul(decaySteps, s.max(periods, s.c(1.0)));
    progress = s.div(stepF, total);
  } else {
    progress = s.div(s.min(stepF, decaySteps), decaySteps);
  }
  Value base = s.sub(s.c(1.0), progress);
  Value range = s.c(f(a.getLearningRate()) - f(a.getEndLearningRate()));
  Value decay = math::PowFOp::create(b, loc, base, s.c(f(a.getPower())));
  Value scaled = s.mul(range, decay);
  return s.add(scaled, s.c(f(a.getEndLearningRate())));
}

Value buildLearningRate(WarmUpAttr a, OpBuilder &b, Location loc, Value step) {
  ScalarBuilder s{b, loc};
  double warmupSteps = static_cast<double>(a.getWarmupSteps());
  Value stepF = s.toF32(step);
  Value clampedStep = s.min(stepF, s.c(warmupSteps));
  Value progress = s.div(clampedStep, s.c(warmupSteps));
  return s.mul(s.c(f(a.getLearningRate())), progress);
}

Value buildLearningRate(PerStepAttr a, OpBuilder &b, Location loc, Value step) {
  return extractClamped(b, loc, a.getValues().asArrayRef(), step);
}

Value buildLearningRate(PiecewiseConstantAttr a, OpBuilder &b, Location loc,
                        Value step) {
  // index = number of milestones <= step.
  Value index = arith::ConstantOp::create(b, loc, b.getI64IntegerAttr(0));
  Value one = arith::ConstantOp::create(b, loc, b.getI64IntegerAttr(1));
  Value zero = index;
  for (int64_t milestone : a.getMilestones()) {
    Value bound =
        arith::ConstantOp::create(b, loc, b.getI64IntegerAttr(milestone));
    Value reached =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge, step, bound);
    index = arith::AddIOp::create(
        b, loc, index, arith::SelectOp::create(b, loc, reached, one, zero));
  }
  return extractClamped(b, loc, a.getValues().asArrayRef(), index);
}
/// The model of every learning-rate attribute: its buildLearningRate above.
template <typename AttrT>
struct Model
    : LearningRateBuilderAttrInterface::ExternalModel<Model<AttrT>, AttrT> {
  Value buildLearningRate(Attribute attr, OpBuilder &b, Location loc,
                          Value step) const {
    return ::buildLearningRate(cast<AttrT>(attr), b, loc, step);
  }
};
} // namespace

void mlir::optim::registerLearningRateLoweringModels(
    DialectRegistry &registry) {
  registry.addExtension(+[](MLIRContext *context, OptimDialect *) {
    ExponentialDecayAttr::attachInterface<Model<ExponentialDecayAttr>>(
        *context);
    NaturalExpDecayAttr::attachInterface<Model<NaturalExpDecayAttr>>(*context);
    InverseDecayAttr::attachInterface<Model<InverseDecayAttr>>(*context);
    CosineDecayAttr::attachInterface<Model<CosineDecayAttr>>(*context);
    PolynomialDecayAttr::attachInterface<Model<PolynomialDecayAttr>>(*context);
    WarmUpAttr::attachInterface<Model<WarmUpAttr>>(*context);
    PerStepAttr::attachInterface<Model<PerStepAttr>>(*context);
    PiecewiseConstantAttr::attachInterface<Model<PiecewiseConstantAttr>>(
        *context);
  });
}
