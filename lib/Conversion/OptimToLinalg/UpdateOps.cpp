//===- UpdateOps.cpp - lower the dense update rules -----------------------===//
//
// Every dense update op becomes one elementwise linalg.generic with
// ins(grad) and outs(param, states...): the body reads the current parameter
// and states from the output block arguments, so one-shot bufferization
// updates the caller's buffers in place. Lamb and LARS first reduce the
// norms they need in one reduction generic; their trust ratio is scalar code
// between the two generics. The math itself lives in UpdateRules.cpp.
//
//===----------------------------------------------------------------------===//

#include "Patterns.h"
#include "UpdateRules.h"

#include "mlir/Transforms/DialectConversion.h"

using namespace mlir;
using namespace mlir::optim;

namespace {
template <typename Rule>
struct DenseUpdateLowering : OpConversionPattern<typename Rule::Op> {
  using Op = typename Rule::Op;
  using OpConversionPattern<Op>::OpConversionPattern;
  using OpAdaptor = typename OpConversionPattern<Op>::OpAdaptor;

  LogicalResult
  matchAndRewrite(Op op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value grad = adaptor.getGrad(), param = adaptor.getParam();
    ValueRange states = adaptor.getStates();
    FloatType computeType = getElementComputeType(param);
    FloatMath outside(
        rewriter, loc,
        getScalarType(op.getScalarOperands()));
    Rule rule(outside, op, adaptor);
    if constexpr (Rule::kNumNorms > 0) {
      if (Value sums = adaptor.getNorms()) {
        // Summed over the tensor's chunks in the reduction phase.
        SmallVector<Value> norms;
        for (unsigned k = 0; k < Rule::kNumNorms; ++k) {
          Value index = arith::ConstantIndexOp::create(rewriter, loc, k);
          norms.push_back(outside.sqrt(outside.cast(tensor::ExtractOp::create(
              rewriter, loc, sums, ValueRange{index}))));
        }
        rule.setNorms(outside, norms);
      } else {
        rule.setNorms(outside, buildNorms(rewriter, loc, computeType, rule,
                                          grad, param, states));
      }
    }
    rewriter.replaceOp(op, buildUpdateGeneric(rewriter, loc, computeType, rule,
                                              grad, param, states));
    return success();
  }
};
/// The reduction phase of a rule with norms: the sums of squares over the
/// op's operands (a chunk), as a 1-D tensor.
template <typename Rule>
struct NormsLowering : OpConversionPattern<typename Rule::NormsOp> {
  using Op = typename Rule::NormsOp;
  using OpConversionPattern<Op>::OpConversionPattern;
  using OpAdaptor = typename OpConversionPattern<Op>::OpAdaptor;

  LogicalResult
  matchAndRewrite(Op op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value param = adaptor.getParam();
    FloatType computeType = getElementComputeType(param);
    FloatMath outside(
        rewriter, loc,
        getScalarType(op.getScalarOperands()));
    Rule rule(outside, op, adaptor);
    SmallVector<Value> sums =
        buildNormSums(rewriter, loc, computeType, rule, adaptor.getGrad(),
                      param, adaptor.getStates());
    rewriter.replaceOpWithNewOp<tensor::FromElementsOp>(
        op, op.getSums().getType(), sums);
    return success();
  }
};
} // namespace

void mlir::optim::populateUpdateOpLoweringPatterns(
    RewritePatternSet &patterns) {
  patterns.add<
      DenseUpdateLowering<SGDRule>, DenseUpdateLowering<MomentumRule>,
      DenseUpdateLowering<AdamRule>, DenseUpdateLowering<AdamWeightDecayRule>,
      DenseUpdateLowering<LambRule>, DenseUpdateLowering<LARSRule>,
      DenseUpdateLowering<AdagradRule>, DenseUpdateLowering<RMSPropRule>,
      DenseUpdateLowering<FTRLRule>, DenseUpdateLowering<ProximalAdagradRule>,
      DenseUpdateLowering<AdaMaxRule>, DenseUpdateLowering<AdadeltaRule>,
      DenseUpdateLowering<ASGDRule>, DenseUpdateLowering<RpropRule>,
      NormsLowering<LambRule>, NormsLowering<LARSRule>>(patterns.getContext());
}
