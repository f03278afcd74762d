//===- AdaFactor.cpp - lower optim.adafactor_update -----------------------===//
//
// Adafactor reads whole tensors: the row and column means of the squared
// gradient, the mean of the row state and the RMS of the parameter and of
// the update. The lowering views the parameter as (B, R, C) (its last two
// dimensions, batched over the others; a vector as (1, 1, n)), the row
// state as (B, R) and the column state as (B, C), and emits
//   1. three reductions of the gradient and the parameter (row sums, column
//      sums, the sum of squares of the parameter);
//   2. the new row and column states (elementwise over them) and the sums
//      of each slice's row state;
//   3. the sum of squares of the update;
//   4. the elementwise update of the parameter (and the first moment).
// Scalars between them are scalar code. Shapes may be dynamic: the multi-
// tensor step calls one function with this code for every parameter.
//
//===----------------------------------------------------------------------===//

#include "Patterns.h"
#include "Utils.h"

#include "optim/Dialect/Optim/IR/Optim.h"

#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/DialectConversion.h"

using namespace mlir;
using namespace mlir::optim;

namespace {

/// MindSpore's kernel floors these divisors at 1e-30.
constexpr double kFloor = 1e-30;

/// `value` (rank `rank`) reshaped to `targetRank` (3 for the parameter, 2
/// for the factored states) by grouping its leading dimensions or adding
/// leading unit dimensions; `reassociation` receives the grouping, for the
/// way back.
Value reshapeTo(OpBuilder &b, Location loc, Value value, unsigned targetRank,
                SmallVectorImpl<ReassociationIndices> &reassociation) {
  auto type = cast<RankedTensorType>(value.getType());
  unsigned rank = type.getRank();
  reassociation.clear();
  if (rank == targetRank)
    return value;
  if (rank > targetRank) {
    ReassociationIndices leading;
    for (unsigned d = 0; d <= rank - targetRank; ++d)
      leading.push_back(d);
    reassociation.push_back(leading);
    for (unsigned d = rank - targetRank + 1; d < rank; ++d)
      reassociation.push_back({static_cast<int64_t>(d)});
    return tensor::CollapseShapeOp::create(b, loc, value, reassociation);
  }
  // Leading unit dimensions: the first group takes them with the first
  // dimension (a rank-0 value has no groups).
  unsigned added = targetRank - rank;
  SmallVector<OpFoldResult> sizes(added, b.getIndexAttr(1));
  llvm::append_range(sizes, tensor::getMixedSizes(b, loc, value));
  if (rank > 0) {
    ReassociationIndices first;
    for (unsigned d = 0; d <= added; ++d)
      first.push_back(d);
    reassociation.push_back(first);
    for (unsigned d = added + 1; d < targetRank; ++d)
      reassociation.push_back({static_cast<int64_t>(d)});
  }
  SmallVector<int64_t> shape(added, 1);
  llvm::append_range(shape, type.getShape());
  auto resultType = RankedTensorType::get(shape, type.getElementType());
  return tensor::ExpandShapeOp::create(b, loc, resultType, value,
                                       reassociation, sizes);
}

/// The inverse of reshapeTo: `value` back to the type of `original`.
Value reshapeBack(OpBuilder &b, Location loc, Value value, Value original,
                  ArrayRef<ReassociationIndices> reassociation) {
  auto type = cast<RankedTensorType>(original.getType());
  auto valueType = cast<RankedTensorType>(value.getType());
  if (type.getRank() == valueType.getRank())
    return value;
  if (type.getRank() < valueType.getRank())
    return tensor::CollapseShapeOp::create(b, loc, type, value,
                                           reassociation);
  return tensor::ExpandShapeOp::create(b, loc, type, value, reassociation,
                                       tensor::getMixedSizes(b, loc, original));
}

/// A dimension size as a float of the compute type.
Value dimAsFloat(const FloatMath &math, Value tensor, int64_t dim) {
  OpBuilder &b = math.getBuilder();
  Location loc = math.getLoc();
  Value size = tensor::DimOp::create(b, loc, tensor, dim);
  Value asInt = arith::IndexCastOp::create(b, loc, b.getI64Type(), size);
  return math.fromSignedInt(asInt);
}

/// A generic over the (B, R, C) iteration space: `inputs` read through
/// `inputMaps`, `inits` written through `outputMaps`.
SmallVector<Value>
buildGeneric(OpBuilder &b, Location loc, ValueRange inputs,
             ArrayRef<AffineMap> inputMaps, ValueRange inits,
             ArrayRef<AffineMap> outputMaps,
             ArrayRef<utils::IteratorType> iterators,
             function_ref<SmallVector<Value>(OpBuilder &, Location,
                                             ValueRange, ValueRange)>
                 body) {
  SmallVector<AffineMap> maps(inputMaps);
  llvm::append_range(maps, outputMaps);
  auto generic = linalg::GenericOp::create(
      b, loc, inits.getTypes(), inputs, inits, maps, iterators,
      [&](OpBuilder &nested, Location nestedLoc, ValueRange args) {
        linalg::YieldOp::create(
            nested, nestedLoc,
            body(nested, nestedLoc, args.take_front(inputs.size()),
                 args.drop_front(inputs.size())));
      });
  return llvm::to_vector_of<Value>(generic.getResults());
}

struct AdaFactorUpdateLowering : OpConversionPattern<AdaFactorUpdateOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(AdaFactorUpdateOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    OpBuilder &b = rewriter;
    MLIRContext *ctx = op.getContext();
    bool firstMoment = op.getFirstMoment();
    ValueRange states = adaptor.getStates();
    Value momentState = firstMoment ? states[0] : Value();
    Value rowState = states[firstMoment ? 1 : 0];
    Value colState = states[firstMoment ? 2 : 1];
    FloatType computeType = getElementComputeType(adaptor.getParam());
    FloatMath outside(b, loc, computeType);

    // The (B, R, C) views.
    SmallVector<ReassociationIndices> paramGroups, rowGroups, colGroups,
        unusedGroups;
    Value param = reshapeTo(b, loc, adaptor.getParam(), 3, paramGroups);
    Value grad = reshapeTo(b, loc, adaptor.getGrad(), 3, unusedGroups);
    Value moment = momentState
                       ? reshapeTo(b, loc, momentState, 3, unusedGroups)
                       : Value();
    Value row = reshapeTo(b, loc, rowState, 2, rowGroups);
    Value col = reshapeTo(b, loc, colState, 2, colGroups);

    // Loop-invariant scalars.
    Value t = outside.fromSignedInt(adaptor.getStep());
    Value one = outside.constant(1.0);
    Value lr = outside.cast(adaptor.getLr());
    if (op.getRelativeStep()) {
      // min(warmup_init ? 1e-6 * t : 1e-2, 1 / sqrt(t)).
      Value start = op.getWarmupInit()
                        ? outside.mul(outside.constant(1e-6), t)
                        : outside.constant(1e-2);
      Value sqrtT = outside.sqrt(t);
      Value inverse = outside.div(one, sqrtT);
      lr = outside.min(start, inverse);
    }
    Value eps1 = outside.cast(adaptor.getEps1());
    Value eps2 = outside.cast(adaptor.getEps2());
    Value clip = outside.cast(adaptor.getClipThreshold());
    Value beta1 = outside.cast(adaptor.getBeta1());
    Value weightDecay = outside.cast(adaptor.getWeightDecay());
    // beta2t = 1 - t^(-decay_rate).
    Value negDecay = outside.neg(outside.cast(adaptor.getDecayRate()));
    Value beta2t = outside.oneMinus(outside.pow(t, negDecay));
    Value oneMinusBeta2t = outside.oneMinus(beta2t);
    Value rows = dimAsFloat(outside, param, 1);
    Value cols = dimAsFloat(outside, param, 2);
    Value slices = dimAsFloat(outside, param, 0);
    Value sliceSize = outside.mul(rows, cols);
    Value count = outside.mul(slices, sliceSize);

    auto d = [&](unsigned i) { return b.getAffineDimExpr(i); };
    AffineMap id3 = b.getMultiDimIdentityMap(3);
    AffineMap toRows = AffineMap::get(3, 0, {d(0), d(1)}, ctx);
    AffineMap toCols = AffineMap::get(3, 0, {d(0), d(2)}, ctx);
    AffineMap toSlice = AffineMap::get(3, 0, {d(0)}, ctx);
    AffineMap toScalar = AffineMap::get(3, 0, {}, ctx);
    using utils::IteratorType;
    IteratorType par = IteratorType::parallel, red = IteratorType::reduction;
    // Accumulators: the workspace the step provides (row sums, column
    // sums, sums of each slice's row state), else new tensors.
    ValueRange workspace = adaptor.getWorkspace();
    if (!workspace.empty() && workspace.size() != 3)
      return rewriter.notifyMatchFailure(op, "expects 3 workspace tensors");
    auto zeros = [&](ArrayRef<OpFoldResult> sizes, unsigned slot) -> Value {
      if (workspace.empty())
        return buildFilledTensor(b, loc, sizes,
                                 b.getFloatAttr(computeType, 0.0));
      Value zero = arith::ConstantOp::create(
          b, loc, b.getFloatAttr(computeType, 0.0));
      return linalg::FillOp::create(b, loc, ValueRange{zero},
                                    ValueRange{workspace[slot]})
          .getResult(0);
    };
    OpFoldResult sizeB = tensor::getMixedSize(b, loc, param, 0);
    OpFoldResult sizeR = tensor::getMixedSize(b, loc, param, 1);
    OpFoldResult sizeC = tensor::getMixedSize(b, loc, param, 2);

    // 1. Sums of g^2 + eps1 over each row (B, R) and each column (B, C),
    //    and of param^2.
    // Sums of g^2 + eps1 into `init` through `map`, reducing the loop
    // `iterators` marks.
    auto sumSquaredGrad = [&](Value init, AffineMap map,
                              ArrayRef<IteratorType> iterators) {
      return buildGeneric(b, loc, grad, {id3}, init, {map}, iterators,
                          [&](OpBuilder &nested, Location l, ValueRange in,
                              ValueRange acc) -> SmallVector<Value> {
                            FloatMath math(nested, l, computeType);
                            Value g = math.cast(in[0]);
                            Value g2 = math.square(g);
                            Value term = math.add(g2, eps1);
                            return {math.add(acc[0], term)};
                          })
          .front();
    };
    Value rowSums = sumSquaredGrad(zeros({sizeB, sizeR}, 0), toRows,
                                   {par, par, red});
    Value colSums = sumSquaredGrad(zeros({sizeB, sizeC}, 1), toCols,
                                   {par, red, par});
    Value paramSquares;
    if (op.getScaleParameter())
      paramSquares =
          buildSumsOfSquares(b, loc, computeType, param, 1,
                             [](const FloatMath &, ArrayRef<Value> in) {
                               return SmallVector<Value>{in[0]};
                             })
              .front();

    // 2. The new states: row = beta2t * row + (1 - beta2t) * mean_C;
    //    col = max(beta2t * col + (1 - beta2t) * mean_R, 1e-30).
    auto movingAverage = [&](const FloatMath &math, Value old, Value sum,
                             Value divisor) {
      Value kept = math.mul(beta2t, old);
      Value mean = math.div(sum, divisor);
      Value added = math.mul(oneMinusBeta2t, mean);
      return math.add(kept, added);
    };
    Value newRow =
        buildElementwise(b, loc, computeType, rowSums, row,
                         [&](const FloatMath &math, ArrayRef<Value> in,
                             ArrayRef<Value> out) -> SmallVector<Value> {
                           return {movingAverage(math, out[0], in[0], cols)};
                         })
            .front();
    Value newCol =
        buildElementwise(b, loc, computeType, colSums, col,
                         [&](const FloatMath &math, ArrayRef<Value> in,
                             ArrayRef<Value> out) -> SmallVector<Value> {
                           Value average =
                               movingAverage(math, out[0], in[0], rows);
                           Value floor = math.constant(kFloor);
                           return {math.max(average, floor)};
                         })
            .front();
    // Sums of each slice's new row state.
    Value rowStateSums =
        buildReduction(b, loc, newRow, zeros({sizeB}, 2), /*numKeptDims=*/1,
                       [&](OpBuilder &nested, Location l, ValueRange in,
                           ValueRange acc) -> SmallVector<Value> {
                         FloatMath math(nested, l, computeType);
                         Value value = math.cast(in[0]);
                         return {math.add(acc[0], value)};
                       })
            .front();

    // u = grad / max(sqrt(row / max(mean_R(row), 1e-30)) * sqrt(col), 1e-30).
    SmallVector<Value> factorInputs = {grad, newRow, newCol, rowStateSums};
    SmallVector<AffineMap> factorMaps = {id3, toRows, toCols, toSlice};
    auto scaledGrad = [&](const FloatMath &math, ArrayRef<Value> in) {
      Value g = math.cast(in[0]);
      Value r = math.cast(in[1]);
      Value c = math.cast(in[2]);
      Value rowMean = math.div(math.cast(in[3]), rows);
      Value floor = math.constant(kFloor);
      Value flooredMean = math.max(rowMean, floor);
      Value rFactor = math.sqrt(math.div(r, flooredMean));
      Value cFactor = math.sqrt(c);
      Value norm = math.mul(rFactor, cFactor);
      Value flooredNorm = math.max(norm, floor);
      return math.div(g, flooredNorm);
    };

    // 3. The sum of squares of u.
    Value updateSquares =
        buildGeneric(b, loc, factorInputs, factorMaps,
                     buildFilledTensor(b, loc, {},
                                       b.getFloatAttr(computeType, 0.0)),
                     {toScalar},
                     {red, red, red},
                     [&](OpBuilder &nested, Location l, ValueRange in,
                         ValueRange acc) -> SmallVector<Value> {
                       FloatMath math(nested, l, computeType);
                       SmallVector<Value> elements(in.begin(), in.end());
                       Value u = scaledGrad(math, elements);
                       Value u2 = math.square(u);
                       return {math.add(acc[0], u2)};
                     })
            .front();
    updateSquares = tensor::ExtractOp::create(b, loc, updateSquares,
                                              ValueRange{});

    // lr_s = lr * max(eps2, rms(param)) with scale_parameter;
    // coefficient = lr_s / max(rms(u) / clip_threshold, 1).
    Value scaledLr = lr;
    if (paramSquares) {
      Value meanSquare = outside.div(paramSquares, count);
      Value rms = outside.sqrt(meanSquare);
      Value scale = outside.max(eps2, rms);
      scaledLr = outside.mul(lr, scale);
    }
    Value updateMeanSquare = outside.div(updateSquares, count);
    Value updateRms = outside.sqrt(updateMeanSquare);
    Value threshold = outside.div(updateRms, clip);
    Value clipped = outside.max(threshold, one);
    Value coefficient = outside.div(scaledLr, clipped);
    Value oneMinusBeta1 = outside.oneMinus(beta1);
    Value decayRate = outside.mul(weightDecay, scaledLr);

    // 4. The parameter (and the first moment).
    SmallVector<Value> outputs = {param};
    if (moment)
      outputs.push_back(moment);
    SmallVector<Value> updated = buildElementwise(
        b, loc, computeType, factorInputs, outputs,
        [&](const FloatMath &math, ArrayRef<Value> in,
            ArrayRef<Value> out) -> SmallVector<Value> {
          Value u = scaledGrad(math, in);
          u = math.mul(u, coefficient);
          SmallVector<Value> results;
          Value newMoment;
          if (moment) {
            Value kept = math.mul(beta1, out[1]);
            Value added = math.mul(u, oneMinusBeta1);
            newMoment = math.add(kept, added);
            u = newMoment;
          }
          Value p = out[0];
          Value stepped = math.sub(p, u);
          Value decay = math.mul(p, decayRate);
          results.push_back(math.sub(stepped, decay));
          if (newMoment)
            results.push_back(newMoment);
          return results;
        },
        factorMaps);

    SmallVector<Value> results = {
        reshapeBack(b, loc, updated[0], adaptor.getParam(), paramGroups)};
    if (moment)
      results.push_back(
          reshapeBack(b, loc, updated[1], momentState, paramGroups));
    results.push_back(reshapeBack(b, loc, newRow, rowState, rowGroups));
    results.push_back(reshapeBack(b, loc, newCol, colState, colGroups));
    rewriter.replaceOp(op, results);
    return success();
  }
};

} // namespace

void mlir::optim::populateAdaFactorLoweringPatterns(
    RewritePatternSet &patterns) {
  patterns.add<AdaFactorUpdateLowering>(patterns.getContext());
}
