//===- SparseOps.cpp - lower unique and the sparse-row updates ------------===//
//
// Row loops on tensors (scf.for with the tensors as iter_args, rows moved
// with tensor.extract_slice / tensor.insert_slice), which one-shot
// bufferization turns into in-place updates of the caller's buffers.
//
//===----------------------------------------------------------------------===//

#include "Patterns.h"
#include "UpdateRules.h"

#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Transforms/DialectConversion.h"

using namespace mlir;
using namespace mlir::optim;

/// Element `position` of the rank-1 index tensor `indices`, as an index.
static Value extractIndex(OpBuilder &b, Location loc, Value indices,
                          Value position) {
  Value index = tensor::ExtractOp::create(b, loc, indices, position);
  return arith::IndexCastOp::create(b, loc, b.getIndexType(), index);
}

namespace {
/// LazyAdam: for each index, the Adam update of that row of the parameter
/// and moments. Indices outside [0, rows) are skipped rather than written
/// out of bounds. A row named twice is updated twice (the op requires unique
/// indices; see optim.unique).
struct LazyAdamLowering : OpConversionPattern<LazyAdamUpdateOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(LazyAdamUpdateOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value param = adaptor.getParam(), indices = adaptor.getIndices();
    Value values = adaptor.getValues();
    FloatType computeType = getElementComputeType(param);
    FloatMath outside(rewriter, loc, getScalarType(op.getScalarOperands()));
    AdamRule rule(outside, adaptor.getLr(), adaptor.getBeta1(),
                  adaptor.getBeta2(), adaptor.getEps(), adaptor.getStep(),
                  op.getUseNesterov(), /*amsgrad=*/false);

    Value zero = arith::ConstantIndexOp::create(rewriter, loc, 0);
    Value one = arith::ConstantIndexOp::create(rewriter, loc, 1);
    Value numIndices = tensor::DimOp::create(rewriter, loc, indices, 0);
    Value numRows = tensor::DimOp::create(rewriter, loc, param, 0);
    SmallVector<Value> tensors = {param};
    llvm::append_range(tensors, adaptor.getStates());

    auto loop = scf::ForOp::create(
        rewriter, loc, zero, numIndices, one, tensors,
        [&](OpBuilder &b, Location bodyLoc, Value position,
            ValueRange current) {
          Value row = extractIndex(b, bodyLoc, indices, position);
          Value nonNegative = arith::CmpIOp::create(
              b, bodyLoc, arith::CmpIPredicate::sge, row, zero);
          Value belowNumRows = arith::CmpIOp::create(
              b, bodyLoc, arith::CmpIPredicate::slt, row, numRows);
          Value inRange =
              arith::AndIOp::create(b, bodyLoc, nonNegative, belowNumRows);
          auto ifOp = scf::IfOp::create(
              b, bodyLoc, inRange,
              [&](OpBuilder &thenB, Location thenLoc) {
                Value gradRow = extractRow(thenB, thenLoc, values, position);
                SmallVector<Value> rows;
                for (Value tensor : current)
                  rows.push_back(extractRow(thenB, thenLoc, tensor, row));
                SmallVector<Value> updated = buildUpdateGeneric(
                    thenB, thenLoc, computeType, rule, gradRow, rows.front(),
                    ArrayRef<Value>(rows).drop_front());
                SmallVector<Value> results;
                for (auto [rowTensor, tensor] : llvm::zip(updated, current))
                  results.push_back(
                      insertRow(thenB, thenLoc, rowTensor, tensor, row));
                scf::YieldOp::create(thenB, thenLoc, results);
              },
              [&](OpBuilder &elseB, Location elseLoc) {
                scf::YieldOp::create(elseB, elseLoc, current);
              });
          scf::YieldOp::create(b, bodyLoc, ifOp.getResults());
        });
    rewriter.replaceOp(op, loop.getResults());
    return success();
  }
};

/// unique: one pass over the indices; each index is looked up by a linear
/// search among the distinct indices found so far (O(n * u) for n indices
/// with u distinct ones: fine for the rows of one batch, to be replaced by a
/// sort- or hash-based version when that shows up in profiles). The buffers
/// have room for n rows; the results are their first `count` rows.
struct UniqueLowering : OpConversionPattern<UniqueOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(UniqueOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value indices = adaptor.getIndices(), values = adaptor.getValues();
    Type elementType =
        cast<RankedTensorType>(values.getType()).getElementType();
    FloatType computeType = getComputeType(elementType);

    Value zero = arith::ConstantIndexOp::create(rewriter, loc, 0);
    Value one = arith::ConstantIndexOp::create(rewriter, loc, 1);
    Value numIndices = tensor::DimOp::create(rewriter, loc, indices, 0);
    Value distinctInit = buildEmptyLike(rewriter, loc, indices);
    Value mergedInit = buildFilledTensor(
        rewriter, loc, tensor::getMixedSizes(rewriter, loc, values),
        rewriter.getFloatAttr(elementType, 0.0));

    auto loop = scf::ForOp::create(
        rewriter, loc, zero, numIndices, one,
        ValueRange{distinctInit, mergedInit, zero},
        [&](OpBuilder &b, Location bodyLoc, Value position,
            ValueRange current) {
          Value distinct = current[0], merged = current[1], count = current[2];
          Value index =
              tensor::ExtractOp::create(b, bodyLoc, indices, position);
          // Slot of `index` among the first `count` distinct indices, or
          // `count` when it is new.
          auto search = scf::ForOp::create(
              b, bodyLoc, zero, count, one, ValueRange{count},
              [&](OpBuilder &sb, Location searchLoc, Value slot,
                  ValueRange found) {
                Value seen =
                    tensor::ExtractOp::create(sb, searchLoc, distinct, slot);
                // The slots hold distinct indices: at most one matches.
                Value matches = arith::CmpIOp::create(
                    sb, searchLoc, arith::CmpIPredicate::eq, seen, index);
                scf::YieldOp::create(
                    sb, searchLoc,
                    ValueRange{arith::SelectOp::create(sb, searchLoc, matches,
                                                       slot, found[0])});
              });
          Value slot = search.getResult(0);
          Value isNew = arith::CmpIOp::create(
              b, bodyLoc, arith::CmpIPredicate::eq, slot, count);
          Value newCount = arith::SelectOp::create(
              b, bodyLoc, isNew, arith::AddIOp::create(b, bodyLoc, count, one),
              count);
          // Writing the index to its slot is a no-op when it was seen before.
          Value newDistinct =
              tensor::InsertOp::create(b, bodyLoc, index, distinct, slot);
          Value valueRow = extractRow(b, bodyLoc, values, position);
          Value mergedRow = extractRow(b, bodyLoc, merged, slot);
          Value sum = buildElementwise(
                          b, bodyLoc, computeType, valueRow, mergedRow,
                          [](const FloatMath &math, ArrayRef<Value> row,
                             ArrayRef<Value> partial) -> SmallVector<Value> {
                            return {math.add(partial[0], row[0])};
                          })
                          .front();
          Value newMerged = insertRow(b, bodyLoc, sum, merged, slot);
          scf::YieldOp::create(b, bodyLoc,
                               ValueRange{newDistinct, newMerged, newCount});
        });

    Value count = loop.getResult(2);
    auto leadingRows = [&](Value tensor, Type resultType) -> Value {
      SmallVector<OpFoldResult> sizes =
          getMixedSizesWithLeading(rewriter, loc, tensor, count);
      SmallVector<OpFoldResult> offsets(sizes.size(), rewriter.getIndexAttr(0));
      SmallVector<OpFoldResult> strides(sizes.size(), rewriter.getIndexAttr(1));
      return tensor::ExtractSliceOp::create(rewriter, loc,
                                            cast<RankedTensorType>(resultType),
                                            tensor, offsets, sizes, strides);
    };
    rewriter.replaceOp(
        op, {leadingRows(loop.getResult(0), op.getUniqueIndices().getType()),
             leadingRows(loop.getResult(1), op.getMergedValues().getType())});
    return success();
  }
};
} // namespace

void mlir::optim::populateSparseOpLoweringPatterns(
    RewritePatternSet &patterns) {
  patterns.add<LazyAdamLowering, UniqueLowering>(patterns.getContext());
}
