//===- TileAndVectorize.cpp - chunk, tile, peel, vectorize ----------------===//

#include "optim/Transforms/Passes.h"
#include "optim/Dialect/Optim/IR/Optim.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/Transforms/TileUsingInterface.h"
#include "mlir/Dialect/SCF/Transforms/Transforms.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/Transforms/LoweringPatterns.h"
#include "mlir/Dialect/Vector/Transforms/VectorRewritePatterns.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "mlir/Transforms/LoopInvariantCodeMotionUtils.h"

namespace mlir::optim {
#define GEN_PASS_DEF_OPTIMTILEANDVECTORIZE
#include "optim/Transforms/Passes.h.inc"
} // namespace mlir::optim

using namespace mlir;
using namespace mlir::optim;

static constexpr StringLiteral kVectorizeMarker =
    optim::OptimDialect::VectorizeAttrHelper::getNameStr();
/// On a function: its callers run it inside a parallel loop already.
static constexpr StringLiteral kSequentialAttr =
    optim::OptimDialect::SequentialAttrHelper::getNameStr();
/// On loops: the main loop over whole vector tiles, and the peeled loop
/// over the last partial tile (see OptimDistributeToThreads).
static constexpr StringLiteral kVectorLoopAttr =
    optim::OptimDialect::VectorLoopAttrHelper::getNameStr();
static constexpr StringLiteral kRemainderLoopAttr =
    optim::OptimDialect::RemainderLoopAttrHelper::getNameStr();

/// True if every operand is indexed by the identity: the op can run over its
/// operands as one flat range.
static bool isContiguous(linalg::GenericOp op) {
  return llvm::all_of(op.getIndexingMapsArray(),
                      [](AffineMap map) { return map.isIdentity(); });
}

/// True if every operand reads elements of the iteration space in order,
/// possibly broadcast along some dimensions (a row's sum read by every
/// element of the row), and every output is written in iteration order: no
/// transposed (gathering) reads.
static bool isBroadcastElementwise(linalg::GenericOp op) {
  for (OpOperand &operand : op->getOpOperands()) {
    AffineMap map = op.getMatchingIndexingMap(&operand);
    if (op.isDpsInit(&operand)) {
      if (!map.isIdentity())
        return false;
      continue;
    }
    if (!map.isProjectedPermutation())
      return false;
    int64_t previous = -1;
    for (AffineExpr result : map.getResults()) {
      int64_t position = cast<AffineDimExpr>(result).getPosition();
      if (position <= previous)
        return false;
      previous = position;
    }
  }
  return true;
}

/// An elementwise generic that this pass handles: static shapes, or
/// dynamic shapes read in order or with broadcasts (the shared update
/// functions over chunks).
static bool isCandidate(linalg::GenericOp op) {
  return op.hasPureTensorSemantics() && op.getNumLoops() >= 1 &&
         op.getNumParallelLoops() == op.getNumLoops() &&
         (!op.hasDynamicShape() || isContiguous(op) ||
          isBroadcastElementwise(op)) &&
         !op->hasAttr(kVectorizeMarker);
}

/// A reduction this pass vectorizes: one reduction dimension, innermost,
/// over operands read in iteration order, into outputs indexed by the outer
/// (parallel) dimensions: per-row sums and per-chunk norms.
static bool isReductionCandidate(linalg::GenericOp op) {
  unsigned numLoops = op.getNumLoops();
  if (!op.hasPureTensorSemantics() || numLoops < 1 ||
      op.getNumReductionLoops() != 1 ||
      op.getIteratorTypesArray().back() != utils::IteratorType::reduction ||
      op->hasAttr(kVectorizeMarker))
    return false;
  for (OpOperand *input : op.getDpsInputOperands())
    if (!op.getMatchingIndexingMap(input).isIdentity())
      return false;
  for (OpOperand &init : op.getDpsInitsMutable()) {
    AffineMap map = op.getMatchingIndexingMap(&init);
    if (map.getResults() != AffineMap::getMultiDimIdentityMap(
                                numLoops, op.getContext())
                                .getResults()
                                .drop_back())
      return false;
  }
  return true;
}


namespace {
struct TileAndVectorizePass
    : public optim::impl::OptimTileAndVectorizeBase<TileAndVectorizePass> {
  using Base::Base;

  void runOnOperation() override {
    func::FuncOp func = getOperation();
    auto checkRange = [&](StringRef name, int64_t value, int64_t max) {
      if (value >= 1 && value <= max)
        return true;
      emitError(func.getLoc()) << "'" << name << "' must be in [1, " << max
                               << "], got " << value;
      return false;
    };
    if (!checkRange("chunk-size", chunkSize, kMaxChunkSize) ||
        !checkRange("vector-bytes", vectorBytes, kMaxVectorBytes) ||
        !checkRange("unroll", unroll, kMaxUnroll))
      return signalPassFailure();
    // An input that is also an output with the same map (weight decay reads
    // the parameter the update writes) is read through the output instead
    // (upstream's erase-unnecessary-inputs patterns). Otherwise, once tiled,
    // the input read looks like a read of the old tensor after the loop
    // wrote the new one, and bufferization would copy the parameter to keep
    // the old value alive.
    {
      RewritePatternSet patterns(func.getContext());
      linalg::populateEraseUnnecessaryInputsPatterns(patterns);
      if (failed(applyPatternsGreedily(func, std::move(patterns))))
        return signalPassFailure();
    }
    SmallVector<linalg::GenericOp> candidates, reductions;
    func.walk([&](linalg::GenericOp op) {
      if (isCandidate(op))
        candidates.push_back(op);
      else if (isReductionCandidate(op))
        reductions.push_back(op);
    });
    IRRewriter rewriter(func.getContext());
    for (linalg::GenericOp op : reductions)
      if (failed(tileReduction(rewriter, op)))
        return signalPassFailure();
    for (linalg::GenericOp op : candidates)
      if (failed(tileAndPeel(rewriter, op)))
        return signalPassFailure();

    // Peeling leaves affine.min bounds that canonicalization turns into
    // static slice sizes, which the vectorizer needs.
    if (failed(canonicalize(func)))
      return signalPassFailure();

    SmallVector<linalg::LinalgOp> marked;
    func.walk([&](linalg::LinalgOp op) {
      if (op->hasAttr(kVectorizeMarker))
        marked.push_back(op);
    });
    for (linalg::LinalgOp op : marked) {
      op->removeAttr(kVectorizeMarker);
      if (op.hasDynamicShape())
        continue; // the peeled remainder stays scalar
      rewriter.setInsertionPoint(op);
      FailureOr<linalg::VectorizationResult> result =
          linalg::vectorize(rewriter, op);
      if (failed(result))
        continue; // unsupported body: stays a scalar loop
      rewriter.replaceOp(op, result->replacements);
    }
    RewritePatternSet cleanup(func.getContext());
    vector::populateVectorTransferPermutationMapLoweringPatterns(cleanup);
    tensor::populateFoldTensorSubsetIntoVectorTransferPatterns(cleanup);
    // Row-at-a-time reductions give 1xN vectors: drop the unit dimension,
    // and turn the final merge into 1-D horizontal reductions.
    vector::populateCastAwayVectorLeadingOneDimPatterns(cleanup);
    vector::populateVectorMultiReductionLoweringPatterns(
        cleanup, vector::VectorMultiReductionLowering::InnerReduction);
    if (failed(applyPatternsGreedily(func, std::move(cleanup))))
      return signalPassFailure();

    // The partial accumulators of vectorized reductions are read and
    // written back whole on every iteration: carry them as vectors through
    // the loop instead (upstream's subset hoisting), so that after
    // forwarding nothing of them is left in memory.
    SmallVector<scf::ForOp> loops;
    func.walk([&](scf::ForOp loop) { loops.push_back(loop); });
    for (scf::ForOp loop : loops)
      (void)hoistLoopInvariantSubsets(rewriter, loop);
    if (failed(canonicalize(func)))
      return signalPassFailure();
  }

  /// Upstream's canonicalizer, run on `func` as a nested pipeline.
  LogicalResult canonicalize(func::FuncOp func) {
    OpPassManager pipeline(func::FuncOp::getOperationName());
    pipeline.addPass(createCanonicalizerPass());
    return runPipeline(pipeline, func);
  }

  LogicalResult tileAndPeel(RewriterBase &rewriter, linalg::GenericOp op) {
    rewriter.setInsertionPoint(op);
    linalg::LinalgOp current = op;
    // Flattened to one loop when contiguous; not with two or more dynamic
    // sizes, whose expand_shape back upstream's expand-strided-metadata
    // cannot lower (MLIR 22): the inner loop is tiled instead.
    int64_t numDynamic = llvm::count_if(
        op.getStaticLoopRanges(), [](int64_t size) {
          return ShapedType::isDynamic(size);
        });
    if (op.getNumLoops() > 1 && isContiguous(op) && numDynamic <= 1) {
      ReassociationIndices all =
          llvm::to_vector(llvm::seq<int64_t>(0, op.getNumLoops()));
      FailureOr<linalg::CollapseResult> collapsed =
          linalg::collapseOpIterationDims(op, {all}, rewriter);
      if (succeeded(collapsed)) {
        rewriter.replaceOp(op, collapsed->results);
        current = collapsed->collapsedOp;
      }
    }
    if (current.hasDynamicShape()) {
      // A function the caller already runs on chunks in parallel needs no
      // threads of its own; nor does a chunk of rows (broadcast row values).
      auto func = current->getParentOfType<func::FuncOp>();
      if ((func && func->hasAttr(kSequentialAttr)) ||
          current.getNumLoops() > 1) {
        Value alignment;
        if (alignToVector && current.getNumLoops() == 1)
          alignment = getWrittenBuffer(current);
        return tileInnerAndPeel(
            rewriter, cast<TilingInterface>(current.getOperation()),
            alignment);
      }
      return splitByRuntimeSize(rewriter, current);
    }

    SmallVector<int64_t> ranges = current.getStaticLoopRanges();
    int64_t elements = 1;
    for (int64_t size : ranges)
      elements *= size;
    int64_t lanes = getLanes(current);
    auto tilingInterface = cast<TilingInterface>(current.getOperation());
    if (elements > chunkSize) {
      // Replaces (erases) `current`.
      FailureOr<TilingInterface> chunk =
          splitIntoChunks(rewriter, tilingInterface);
      if (failed(chunk))
        return failure();
      tilingInterface = *chunk;
    }
    if (ranges.back() < lanes) {
      tilingInterface->setAttr(kVectorizeMarker, rewriter.getUnitAttr());
      return success();
    }
    return tileInnerAndPeel(rewriter, tilingInterface);
  }

  /// A reduction over the innermost dimension: one row at a time (outer
  /// dimensions tiled by 1), then the reduction split into `lanes` partial
  /// accumulators (upstream's partial-reduction tiling) carried through a
  /// loop whose main part is peeled off and vectorized; the partials are
  /// merged by one vector reduction at the end. The accumulators have a
  /// static size (stack memory, then registers), and the sums are
  /// vectorized without reassociating the loop in LLVM.
  LogicalResult tileReduction(RewriterBase &rewriter, linalg::GenericOp op) {
    unsigned numLoops = op.getNumLoops();
    int64_t lanes = getLanes(op);
    TilingInterface current = cast<TilingInterface>(op.getOperation());
    if (numLoops > 1) {
      SmallVector<OpFoldResult> sizes(numLoops, rewriter.getIndexAttr(1));
      sizes.back() = rewriter.getIndexAttr(0);
      scf::SCFTilingOptions options;
      options.setTileSizes(sizes);
      rewriter.setInsertionPoint(current);
      FailureOr<scf::SCFTilingResult> rows =
          scf::tileUsingSCF(rewriter, current, options);
      if (failed(rows))
        return op->emitError("could not tile a reduction by rows");
      rewriter.replaceOp(current, rows->replacements);
      current = cast<TilingInterface>(rows->tiledOps.front());
    }
    SmallVector<OpFoldResult> sizes(numLoops, rewriter.getIndexAttr(0));
    sizes.back() = rewriter.getIndexAttr(lanes);
    rewriter.setInsertionPoint(current);
    FailureOr<scf::SCFTilingResult> split = scf::tileReductionUsingScf(
        rewriter, cast<PartialReductionOpInterface>(current.getOperation()),
        sizes);
    if (failed(split))
      return current->emitError("could not split a reduction into lanes");
    rewriter.replaceOp(current, split->replacements);
    for (Operation *tiled : split->tiledOps)
      tiled->setAttr(kVectorizeMarker, rewriter.getUnitAttr());
    for (Operation *merge : split->mergeOps)
      if (isa<linalg::LinalgOp>(merge))
        merge->setAttr(kVectorizeMarker, rewriter.getUnitAttr());
    if (!split->loops.empty())
      if (auto loop = dyn_cast<scf::ForOp>(split->loops.back().getOperation()))
        peelAndMark(rewriter, loop);
    return success();
  }

  /// Elements per vector-loop iteration for `op`'s element type.
  int64_t getLanes(linalg::LinalgOp op) {
    unsigned elementBytes = 4;
    if (auto shaped = dyn_cast<ShapedType>(op->getResult(0).getType()))
      elementBytes =
          std::max<unsigned>(1, shaped.getElementTypeBitWidth() / 8);
    return std::max<int64_t>(1, vectorBytes / elementBytes) *
           std::max<int64_t>(1, unroll);
  }

  /// A flat range of run-time length: `scf.if (n > chunk-size)` selects the
  /// threaded version; small ranges run without a parallel region.
  LogicalResult splitByRuntimeSize(RewriterBase &rewriter,
                                   linalg::LinalgOp op) {
    Location loc = op.getLoc();
    rewriter.setInsertionPoint(op);
    Value init = op.getDpsInits().front();
    Value size = tensor::DimOp::create(rewriter, loc, init, 0);
    Value threshold = arith::ConstantIndexOp::create(rewriter, loc, chunkSize);
    Value large = arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::sgt,
                                        size, threshold);
    auto ifOp = scf::IfOp::create(rewriter, loc, op->getResultTypes(), large,
                                  /*withElseRegion=*/true);
    auto cloneInto = [&](Block *block) {
      rewriter.setInsertionPointToStart(block);
      Operation *clone = rewriter.clone(*op.getOperation());
      scf::YieldOp::create(rewriter, loc, clone->getResults());
      return cast<TilingInterface>(clone);
    };
    TilingInterface threaded = cloneInto(ifOp.thenBlock());
    TilingInterface sequential = cloneInto(ifOp.elseBlock());
    rewriter.replaceOp(op, ifOp.getResults());
    FailureOr<TilingInterface> chunk = splitIntoChunks(rewriter, threaded);
    if (failed(chunk) || failed(tileInnerAndPeel(rewriter, *chunk)))
      return failure();
    return tileInnerAndPeel(rewriter, sequential);
  }

  /// Level 1: chunks of about `chunk-size` elements of the outermost
  /// dimension, one `scf.forall` iteration each (threads).
  FailureOr<TilingInterface> splitIntoChunks(RewriterBase &rewriter,
                                             TilingInterface op) {
    auto linalgOp = cast<linalg::LinalgOp>(op.getOperation());
    SmallVector<int64_t> ranges = linalgOp.getStaticLoopRanges();
    unsigned numLoops = ranges.size();
    int64_t outerTile = chunkSize;
    if (numLoops > 1) {
      int64_t rowElements = 1;
      for (int64_t size : ArrayRef(ranges).drop_front())
        rowElements *= ShapedType::isDynamic(size) ? 1 : size;
      outerTile = std::max<int64_t>(1, chunkSize / rowElements);
    } else {
      outerTile = llvm::alignTo(outerTile, getLanes(linalgOp));
    }
    SmallVector<OpFoldResult> sizes(numLoops, rewriter.getIndexAttr(0));
    sizes[0] = rewriter.getIndexAttr(outerTile);
    scf::SCFTilingOptions options;
    options.setTileSizes(sizes);
    options.setLoopType(scf::SCFTilingOptions::LoopType::ForallOp);
    rewriter.setInsertionPoint(op);
    FailureOr<scf::SCFTilingResult> tiled =
        scf::tileUsingSCF(rewriter, op, options);
    if (failed(tiled))
      return op->emitError("could not split into parallel chunks");
    rewriter.replaceOp(op, tiled->replacements);
    return cast<TilingInterface>(tiled->tiledOps.front());
  }

  /// Level 2: vector-sized tiles of the innermost dimension, the remainder
  /// peeled into its own loop; the main loop's op is marked for
  /// vectorization.
  /// The buffer a flat range writes (its first output, a
  /// `bufferization.to_tensor` of a 1-D memref), if known.
  static Value getWrittenBuffer(linalg::LinalgOp op) {
    auto source =
        op.getDpsInits().front().getDefiningOp<bufferization::ToTensorOp>();
    if (!source)
      return Value();
    auto type = dyn_cast<MemRefType>(source.getBuffer().getType());
    return type && type.getRank() == 1 ? source.getBuffer() : Value();
  }

  /// Shifts the vector loop of a flat range so that its tiles start on a
  /// `vector-bytes` boundary of `buffer`: the elements before the first
  /// boundary get a scalar loop of their own (a clone of the remainder
  /// loop), the vector loop covers whole tiles from there, the remainder
  /// loop the rest. NumPy's large buffers start 16 bytes into a cache line:
  /// without this, every 64-byte vector access would split across two.
  void alignVectorLoop(RewriterBase &rewriter, scf::ForOp main,
                       scf::ForOp remainder, Value buffer) {
    auto type = cast<MemRefType>(buffer.getType());
    unsigned elementBytes =
        std::max<unsigned>(1, type.getElementTypeBitWidth() / 8);
    if (vectorBytes % elementBytes != 0 ||
        vectorBytes <= static_cast<int64_t>(elementBytes))
      return;
    Location loc = main.getLoc();
    rewriter.setInsertionPoint(main);
    Value base =
        memref::ExtractAlignedPointerAsIndexOp::create(rewriter, loc, buffer);
    auto metadata =
        memref::ExtractStridedMetadataOp::create(rewriter, loc, buffer);
    Value bytes = arith::ConstantIndexOp::create(rewriter, loc, elementBytes);
    Value lanes = arith::ConstantIndexOp::create(rewriter, loc,
                                                 vectorBytes / elementBytes);
    Value first = arith::AddIOp::create(
        rewriter, loc, arith::DivUIOp::create(rewriter, loc, base, bytes),
        metadata.getOffset());
    Value misaligned = arith::RemUIOp::create(rewriter, loc, first, lanes);
    Value toBoundary = arith::RemUIOp::create(
        rewriter, loc, arith::SubIOp::create(rewriter, loc, lanes, misaligned),
        lanes);
    Value size = remainder.getUpperBound();
    Value head = arith::MinUIOp::create(rewriter, loc, toBoundary, size);
    Value step = main.getStep();
    Value rest = arith::SubIOp::create(rewriter, loc, size, head);
    Value wholeTiles = arith::MulIOp::create(
        rewriter, loc, arith::DivUIOp::create(rewriter, loc, rest, step),
        step);
    Value mainEnd = arith::AddIOp::create(rewriter, loc, head, wholeTiles);

    // [0, head): a clone of the remainder loop whose size is `head`.
    auto headLoop = cast<scf::ForOp>(rewriter.clone(*remainder));
    headLoop->moveBefore(main);
    headLoop.setLowerBound(
        arith::ConstantIndexOp::create(rewriter, loc, 0).getResult());
    headLoop.setUpperBound(head);
    headLoop.getInitArgsMutable().assign(main.getInitArgs());
    rewriter.replaceUsesWithIf(size, head, [&](OpOperand &use) {
      return headLoop->isProperAncestor(use.getOwner());
    });
    main.getInitArgsMutable().assign(headLoop.getResults());
    main.setLowerBound(head);
    main.setUpperBound(mainEnd);
    remainder.setLowerBound(mainEnd);
  }

  LogicalResult tileInnerAndPeel(RewriterBase &rewriter, TilingInterface op,
                                 Value alignment = Value()) {
    auto linalgOp = cast<linalg::LinalgOp>(op.getOperation());
    unsigned numLoops = linalgOp.getNumLoops();
    SmallVector<OpFoldResult> sizes(numLoops, rewriter.getIndexAttr(1));
    sizes.back() = rewriter.getIndexAttr(getLanes(linalgOp));
    scf::SCFTilingOptions options;
    options.setTileSizes(sizes);
    rewriter.setInsertionPoint(op);
    FailureOr<scf::SCFTilingResult> tiled =
        scf::tileUsingSCF(rewriter, op, options);
    if (failed(tiled))
      return op->emitError("could not tile for vectors");
    rewriter.replaceOp(op, tiled->replacements);
    tiled->tiledOps.front()->setAttr(kVectorizeMarker, rewriter.getUnitAttr());
    if (auto inner = dyn_cast<scf::ForOp>(tiled->loops.back().getOperation())) {
      scf::ForOp remainder = peelAndMark(rewriter, inner);
      if (alignment && remainder)
        alignVectorLoop(rewriter, inner, remainder, alignment);
    }
    return success();
  }

  /// Peels the last partial tile of `loop` into its own loop and marks
  /// both (kVectorLoopAttr, kRemainderLoopAttr), so that a later pass can
  /// distribute the vector tiles among GPU threads. Peeling fails
  /// (harmlessly) when the tile size divides a static extent: then every
  /// iteration is a vector tile.
  static scf::ForOp peelAndMark(RewriterBase &rewriter, scf::ForOp loop) {
    scf::ForOp remainder;
    if (failed(scf::peelForLoopAndSimplifyBounds(rewriter, loop, remainder)))
      remainder = scf::ForOp();
    if (remainder)
      remainder->setAttr(kRemainderLoopAttr, rewriter.getUnitAttr());
    loop->setAttr(kVectorLoopAttr, rewriter.getUnitAttr());
    return remainder;
  }
};
} // namespace
