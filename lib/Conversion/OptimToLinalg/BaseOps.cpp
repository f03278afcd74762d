//===- BaseOps.cpp - lower the optim base-class compute ops ---------------===//
//
// scale_grad, decay_weight and the apply half of centralize become
// elementwise generics with `tensor.empty` outputs, so that upstream
// elementwise fusion merges them into the update generic that consumes them.
// Reductions (centralization's row means, global_norm, all_finite) are
// reduction generics.
//
//===----------------------------------------------------------------------===//

#include "Patterns.h"
#include "Utils.h"

#include "optim/Dialect/Optim/IR/Optim.h"

#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Transforms/DialectConversion.h"

using namespace mlir;
using namespace mlir::optim;

/// Number of elements in one row (dimension 0) of `tensor`, in `math`'s type.
static Value buildRowSize(OpBuilder &b, Location loc, const FloatMath &math,
                          Value tensor) {
  auto type = cast<RankedTensorType>(tensor.getType());
  int64_t staticSize = 1;
  Value dynamicSize;
  for (int64_t dim = 1; dim < type.getRank(); ++dim) {
    if (!type.isDynamicDim(dim)) {
      staticSize *= type.getDimSize(dim);
      continue;
    }
    Value size = tensor::DimOp::create(b, loc, tensor, dim);
    dynamicSize =
        dynamicSize ? arith::MulIOp::create(b, loc, dynamicSize, size) : size;
  }
  if (!dynamicSize)
    return math.constant(static_cast<double>(staticSize));
  if (staticSize != 1)
    dynamicSize = arith::MulIOp::create(
        b, loc, dynamicSize,
        arith::ConstantIndexOp::create(b, loc, staticSize));
  return math.fromSignedInt(
      arith::IndexCastOp::create(b, loc, b.getI64Type(), dynamicSize));
}

/// Sum of each row (slice along dimension 0) of `tensor`, in the compute
/// type: a reduction generic.
static Value buildRowSums(OpBuilder &b, Location loc, Value tensor) {
  FloatType computeType = getElementComputeType(tensor);
  Value init =
      buildFilledTensor(b, loc, tensor::getMixedSize(b, loc, tensor, 0),
                        b.getFloatAttr(computeType, 0.0));
  return buildReduction(b, loc, tensor, init, /*numKeptDims=*/1,
                        [&](OpBuilder &nested, Location nestedLoc,
                            ValueRange elements,
                            ValueRange sums) -> SmallVector<Value> {
                          FloatMath math(nested, nestedLoc, computeType);
                          return {math.add(sums[0], math.cast(elements[0]))};
                        })
      .front();
}

/// `grad` minus `rowSums / row_size` broadcast along each row: an
/// elementwise generic.
static Value buildCentralizedWith(OpBuilder &b, Location loc, Value grad,
                                  Value rowSums) {
  FloatType computeType = getElementComputeType(grad);
  unsigned rank = cast<RankedTensorType>(grad.getType()).getRank();
  Value rowSize = buildRowSize(b, loc, FloatMath(b, loc, computeType), grad);
  AffineMap rowMap =
      AffineMap::get(rank, /*symbolCount=*/0, b.getAffineDimExpr(0));
  return buildElementwiseMap(
      b, loc, computeType, {grad, rowSums}, grad,
      [&](const FloatMath &math, ArrayRef<Value> elements) {
        Value mean = math.div(elements[1], rowSize);
        return math.sub(elements[0], mean);
      },
      {b.getMultiDimIdentityMap(rank), rowMap});
}

/// `grad` minus the mean of its row over all axes but the first.
static Value buildCentralized(OpBuilder &b, Location loc, Value grad) {
  return buildCentralizedWith(b, loc, grad, buildRowSums(b, loc, grad));
}

namespace {
struct LearningRateLowering : OpConversionPattern<LearningRateOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(LearningRateOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto builder =
        dyn_cast<LearningRateBuilderAttrInterface>(op.getSchedule());
    if (!builder)
      return op.emitOpError("no code is registered for learning rate ")
             << op.getSchedule()
             << " (registerLearningRateLoweringModels)";
    // Schedules compute in f32, as MindSpore's learning-rate cells and
    // lists do; the op's result type may be wider.
    Value learningRate =
        builder.buildLearningRate(rewriter, op.getLoc(), adaptor.getStep());
    rewriter.replaceOp(op, convertFloat(rewriter, op.getLoc(), learningRate,
                                        op.getType()));
    return success();
  }
};

struct ScaleGradLowering : OpConversionPattern<ScaleGradOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(ScaleGradOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value grad = adaptor.getGrad();
    FloatMath outside(rewriter, loc, getScalarType(op.getLossScale()));
    // grad * (1 / loss_scale), the inverse computed in the scalar type and
    // rounded once (as torch's GradScaler does).
    Value one = outside.constant(1.0);
    Value lossScale = outside.cast(adaptor.getLossScale());
    Value inverse = outside.div(one, lossScale);
    rewriter.replaceOp(
        op, buildElementwiseMap(
                rewriter, loc, getElementComputeType(grad), grad, grad,
                [&](const FloatMath &math, ArrayRef<Value> elements) {
                  return math.mul(elements[0], inverse);
                }));
    return success();
  }
};

/// One elementwise generic writing into `dest` (not read), so that the
/// rounded values go to the destination's buffer and the generic fuses
/// into the one producing its input.
struct RoundToLowering : OpConversionPattern<RoundToOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(RoundToOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value dest = adaptor.getDest();
    unsigned rank = op.getType().getRank();
    AffineMap identity = rewriter.getMultiDimIdentityMap(rank);
    SmallVector<utils::IteratorType> iterators(rank,
                                               utils::IteratorType::parallel);
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{dest.getType()}, ValueRange{adaptor.getInput()},
        ValueRange{dest}, ArrayRef<AffineMap>{identity, identity}, iterators,
        [&](OpBuilder &nested, Location nestedLoc, ValueRange args) {
          linalg::YieldOp::create(
              nested, nestedLoc,
              convertFloat(nested, nestedLoc, args[0], args[1].getType()));
        });
    rewriter.replaceOp(op, generic.getResults());
    return success();
  }
};

struct DecayWeightLowering : OpConversionPattern<DecayWeightOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(DecayWeightOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value grad = adaptor.getGrad();
    FloatMath compute(rewriter, loc, getElementComputeType(grad));
    Value weightDecay = compute.cast(adaptor.getWeightDecay());
    // grad + weight_decay * param.
    rewriter.replaceOp(
        op, buildElementwiseMap(
                rewriter, loc, compute.getType(), {grad, adaptor.getParam()},
                grad, [&](const FloatMath &math, ArrayRef<Value> elements) {
                  return math.add(elements[0],
                                  math.mul(weightDecay, elements[1]));
                }));
    return success();
  }
};

struct CentralizeLowering : OpConversionPattern<CentralizeOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(CentralizeOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value grad = adaptor.getGrad();
    RankedTensorType type = op.getGrad().getType();
    if (Value rowSums = adaptor.getRowSums()) {
      rewriter.replaceOp(op, buildCentralizedWith(rewriter, loc, grad, rowSums));
      return success();
    }
    if (!CentralizeOp::appliesTo(type)) {
      rewriter.replaceOp(op, grad);
      return success();
    }
    if (!type.isDynamicDim(1)) {
      rewriter.replaceOp(op, buildCentralized(rewriter, loc, grad));
      return success();
    }
    // A dynamic second dimension: check "a multiple of 16" at run time.
    Value dim1 = tensor::DimOp::create(rewriter, loc, grad, 1);
    Value remainder = arith::RemUIOp::create(
        rewriter, loc, dim1, arith::ConstantIndexOp::create(rewriter, loc, 16));
    Value applies = arith::CmpIOp::create(
        rewriter, loc, arith::CmpIPredicate::eq, remainder,
        arith::ConstantIndexOp::create(rewriter, loc, 0));
    auto ifOp = scf::IfOp::create(
        rewriter, loc, applies,
        [&](OpBuilder &b, Location thenLoc) {
          scf::YieldOp::create(b, thenLoc, buildCentralized(b, thenLoc, grad));
        },
        [&](OpBuilder &b, Location elseLoc) {
          scf::YieldOp::create(b, elseLoc, grad);
        });
    rewriter.replaceOp(op, ifOp.getResults());
    return success();
  }
};

struct RowSumLowering : OpConversionPattern<RowSumOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(RowSumOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    rewriter.replaceOp(op, buildRowSums(rewriter, op.getLoc(),
                                        adaptor.getInput()));
    return success();
  }
};

struct GlobalNormLowering : OpConversionPattern<GlobalNormOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(GlobalNormOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    FloatMath f32(rewriter, loc, rewriter.getF32Type());
    Value total;
    for (Value tensor : adaptor.getTensors()) {
      Value sum = buildSumsOfSquares(
                      rewriter, loc, getElementComputeType(tensor), tensor,
                      /*numTerms=*/1,
                      [](const FloatMath &, ArrayRef<Value> elements) {
                        return SmallVector<Value>{elements[0]};
                      })
                      .front();
      sum = f32.cast(sum);
      total = total ? f32.add(total, sum) : sum;
    }
    rewriter.replaceOp(op, f32.sqrt(total));
    return success();
  }
};

struct SquaredNormLowering : OpConversionPattern<SquaredNormOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(SquaredNormOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value sum = buildSumsOfSquares(
                    rewriter, loc, rewriter.getF64Type(), adaptor.getInput(),
                    /*numTerms=*/1,
                    [](const FloatMath &, ArrayRef<Value> elements) {
                      return SmallVector<Value>{elements[0]};
                    })
                    .front();
    rewriter.replaceOpWithNewOp<tensor::FromElementsOp>(op, op.getType(),
                                                        ValueRange{sum});
    return success();
  }
};

struct AllFiniteLowering : OpConversionPattern<AllFiniteOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(AllFiniteOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value allFinite;
    for (Value tensor : adaptor.getTensors()) {
      FloatType computeType = getElementComputeType(tensor);
      Value init = buildFilledTensor(
          rewriter, loc, {}, rewriter.getIntegerAttr(rewriter.getI1Type(), 1));
      Value reduced =
          buildReduction(
              rewriter, loc, tensor, init, /*numKeptDims=*/0,
              [&](OpBuilder &b, Location bodyLoc, ValueRange elements,
                  ValueRange finite) -> SmallVector<Value> {
                FloatMath math(b, bodyLoc, computeType);
                Value element = math.cast(elements[0]);
                return {math.logicalAnd(finite[0], math.isFinite(element))};
              })
              .front();
      Value finite = tensor::ExtractOp::create(rewriter, loc, reduced);
      allFinite = allFinite
                      ? arith::AndIOp::create(rewriter, loc, allFinite, finite)
                      : finite;
    }
    rewriter.replaceOp(op, allFinite);
    return success();
  }
};

/// The single-rank case; across ranks, the pass reports an error before
/// converting anything (see `checkLowerable` in OptimToLinalg.cpp).
struct BroadcastParamsLowering : OpConversionPattern<BroadcastParamsOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(BroadcastParamsOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    if (op.getNumRanks() != 1)
      return rewriter.notifyMatchFailure(
          op, "a broadcast across ranks needs a distributed runtime");
    rewriter.replaceOp(op, adaptor.getParams());
    return success();
  }
};
} // namespace

void mlir::optim::populateBaseOpLoweringPatterns(RewritePatternSet &patterns) {
  patterns.add<LearningRateLowering, ScaleGradLowering, DecayWeightLowering,
               RoundToLowering,
               CentralizeLowering, RowSumLowering, GlobalNormLowering,
               SquaredNormLowering, AllFiniteLowering,
               BroadcastParamsLowering>(patterns.getContext());
}
