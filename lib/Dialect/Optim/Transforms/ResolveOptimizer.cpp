//===- ResolveOptimizer.cpp - declarative optimizer to step function ------===//
//
// Resolves what MindSpore's Optimizer constructor resolves (group defaults,
// the weight-decay filter, order_params, per-group learning rates) and emits
// the compute-level step function on the caller's buffers. The argument
// order and the hyper-parameter table are those of StepABI.
//
//===----------------------------------------------------------------------===//

#include "optim/Dialect/Optim/IR/Optim.h"
#include "optim/Dialect/Optim/Transforms/Passes.h"
#include "optim/Dialect/Optim/Transforms/StepABI.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/DenseMap.h"

namespace mlir::optim {
#define GEN_PASS_DEF_OPTIMRESOLVEOPTIMIZER
#include "optim/Dialect/Optim/Transforms/Passes.h.inc"
} // namespace mlir::optim

using namespace mlir;
using namespace mlir::optim;

namespace {

/// Emits the scalars of one function: table entries (loads or constants),
/// cached so that each is read once.
class HyperParamReader {
public:
  HyperParamReader(OpBuilder &builder, Location loc, Value table,
                   ArrayRef<float> initialValues, bool asConstants)
      : b(builder), loc(loc), table(table), initialValues(initialValues),
        asConstants(asConstants) {}

  Value slot(unsigned index) {
    Value &value = cache[index];
    if (value)
      return value;
    if (asConstants) {
      value = arith::ConstantOp::create(
          b, loc, b.getF32FloatAttr(initialValues[index]));
    } else {
      Value idx = arith::ConstantIndexOp::create(b, loc, index);
      value = memref::LoadOp::create(b, loc, table, ValueRange{idx});
    }
    return value;
  }

  Value constant(float x) {
    return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(x));
  }

private:
  OpBuilder &b;
  Location loc;
  Value table;
  ArrayRef<float> initialValues;
  bool asConstants;
  llvm::DenseMap<unsigned, Value> cache;
};

/// The learning rate of `group` at the i64 global step `step`.
Value buildGroupLearningRate(OpBuilder &b, Location loc, const StepABI &abi,
                             unsigned group, HyperParamReader &reader,
                             Value step) {
  const GroupABI &g = abi.getGroups()[group];
  if (g.hasConstantLearningRate())
    return reader.slot(g.tableOffset + StepABI::kLearningRateOffset);
  Attribute schedule = g.learningRate;
  if (auto dense = dyn_cast<DenseFPElementsAttr>(schedule)) {
    SmallVector<double> values;
    for (const APFloat &value : dense.getValues<APFloat>())
      values.push_back(value.convertToDouble());
    schedule = PerStepAttr::get(b.getContext(),
                                DenseF64ArrayAttr::get(b.getContext(), values));
  }
  return LearningRateOp::create(b, loc, b.getF32Type(), schedule, step);
}

/// How much of a parameter's update one emitted function does (see
/// buildParamUpdate).
enum class Phase { Whole, Reduce, Apply };

/// The type sums (row sums, squared norms) over `element` are computed in.
Type getComputeType(Type element) {
  return element.isF64() ? element : Float32Type::get(element.getContext());
}

MemRefType toMemRef(RankedTensorType type) {
  return MemRefType::get(type.getShape(), type.getElementType());
}

class OptimizerResolver {
public:
  OptimizerResolver(OptimizerOp optimizer, bool constantHyperParams,
                    bool shareUpdateFunctions, int64_t chunkSize)
      : optimizer(optimizer), abi(StepABI::get(optimizer)),
        table(abi.getInitialTable()),
        constantHyperParams(constantHyperParams),
        shareUpdateFunctions(shareUpdateFunctions),
        chunkSize(std::max<int64_t>(1, chunkSize)) {}

  LogicalResult run() {
    OpBuilder b(optimizer);
    if (failed(buildStep(b)))
      return failure();
    buildLearningRateQuery(b);
    optimizer.erase();
    return success();
  }

private:
  MemRefType getTableType() {
    return MemRefType::get({static_cast<int64_t>(abi.getTableSize())},
                           Float32Type::get(optimizer.getContext()));
  }

  /// @<name>_lr(%hyper, %step, %out): the learning rate of every group.
  void buildLearningRateQuery(OpBuilder &b) {
    MLIRContext *ctx = b.getContext();
    Location loc = optimizer.getLoc();
    auto outType = MemRefType::get(
        {static_cast<int64_t>(abi.getGroups().size())}, Float32Type::get(ctx));
    auto fnType = FunctionType::get(
        ctx, {getTableType(), IntegerType::get(ctx, 64), outType}, {});
    auto fn = func::FuncOp::create(
        b, loc, (optimizer.getSymName() + "_lr").str(), fnType);
    fn->setAttr("llvm.emit_c_interface", UnitAttr::get(ctx));
    OpBuilder::InsertionGuard guard(b);
    Block *entry = fn.addEntryBlock();
    b.setInsertionPointToStart(entry);
    HyperParamReader reader(b, loc, entry->getArgument(0), table,
                            constantHyperParams);
    for (unsigned g = 0, e = abi.getGroups().size(); g < e; ++g) {
      Value lr = buildGroupLearningRate(b, loc, abi, g, reader,
                                        entry->getArgument(1));
      Value idx = arith::ConstantIndexOp::create(b, loc, g);
      memref::StoreOp::create(b, loc, lr, entry->getArgument(2),
                              ValueRange{idx});
    }
    func::ReturnOp::create(b, loc);
  }

  /// The scalar operands of one parameter's update, in the order the update
  /// body reads them: loss scale, [scaled decay], lr, the rule's
  /// hyper-parameters, [weight decay in the rule], [update count].
  struct ParamScalars {
    SmallVector<Value> values;
  };

  /// What decides the code of a parameter's update besides its scalar
  /// values: parameters with the same key share one update function.
  struct UpdateClass {
    Type bufferType; // the update function's memref type
    bool decay;      // decay_weight before unscaling
    bool centralize;
    bool operator==(const UpdateClass &other) const {
      return bufferType == other.bufferType && decay == other.decay &&
             centralize == other.centralize;
    }
  };

  bool decaysByOp(const ParamABI &param) const {
    return param.decay && !abi.getSpec().decayInRule;
  }

  /// Emits the update of one parameter (or one chunk of it) on memrefs:
  /// to_tensor, decay -> centralize -> scale_grad -> [unique] -> the rule's
  /// update, written back in place. `scalars` as in ParamScalars.
  ///
  /// In `Phase::Reduce` it computes only what later chunks need from whole
  /// rows or tensors and writes it out: the row sums of the (decayed)
  /// gradient into `rowSums` (centralization), the rule's squared norms
  /// into `normSums` (Lamb, LARS). In `Phase::Apply` it reads them back
  /// (`rowSums` as a memref, `normSums` as a 1-D tensor of the tensor's
  /// summed norms) and is elementwise, so that it may run on any chunk.
  LogicalResult buildParamUpdate(OpBuilder &b, Location loc,
                                 const ParamABI &param, Phase phase,
                                 Value paramMemRef, Value indicesMemRef,
                                 Value gradMemRef, ValueRange stateMemRefs,
                                 ValueRange scalars, Value rowSums = {},
                                 Value normSums = {}) {
    MLIRContext *ctx = b.getContext();
    const RuleSpec &spec = abi.getSpec();
    bool reduceOnly = phase == Phase::Reduce;
    auto toTensor = [&](Value memref, bool writable) -> Value {
      auto memrefType = cast<MemRefType>(memref.getType());
      auto tensorType = RankedTensorType::get(memrefType.getShape(),
                                              memrefType.getElementType());
      return bufferization::ToTensorOp::create(b, loc, tensorType, memref,
                                               /*restrict=*/true, writable);
    };
    auto writeBack = [&](Value tensor, Value memref) {
      bufferization::MaterializeInDestinationOp::create(
          b, loc, TypeRange{}, tensor, memref, /*restrict=*/true,
          /*writable=*/true);
    };
    Value paramTensor = toTensor(paramMemRef, /*writable=*/!reduceOnly);
    Value indices = indicesMemRef ? toTensor(indicesMemRef, false) : Value();
    Value grad = toTensor(gradMemRef, false);
    SmallVector<Value> stateTensors;
    for (Value state : stateMemRefs)
      stateTensors.push_back(toTensor(state, !reduceOnly));

    unsigned next = 0;
    Value lossScale = scalars[next++];
    // MindSpore's order: decay_weight -> centralize -> scale_grad.
    if (decaysByOp(param)) {
      if (param.sparse)
        return optimizer.emitOpError("weight decay on the sparse gradient of "
                                     "\"")
               << param.name << "\" is not supported yet";
      grad = DecayWeightOp::create(b, loc, grad.getType(), grad, paramTensor,
                                   scalars[next++]);
    }
    if (param.centralize) {
      Value sums;
      if (phase == Phase::Reduce) {
        auto gradType = cast<RankedTensorType>(grad.getType());
        auto sumsType = RankedTensorType::get(
            {gradType.getDimSize(0)}, getComputeType(gradType.getElementType()));
        sums = RowSumOp::create(b, loc, sumsType, grad);
        writeBack(sums, rowSums);
      } else if (phase == Phase::Apply) {
        sums = toTensor(rowSums, /*writable=*/false);
      }
      grad = CentralizeOp::create(b, loc, grad.getType(), grad, sums);
    }
    grad = ScaleGradOp::create(b, loc, grad.getType(), grad, lossScale);

    if (param.sparse && optimizer.getUnique()) {
      auto indicesType = cast<RankedTensorType>(indices.getType());
      auto rowsType = cast<RankedTensorType>(grad.getType());
      auto unique =
          UniqueOp::create(b, loc, indicesType, rowsType, indices, grad);
      indices = unique.getUniqueIndices();
      grad = unique.getMergedValues();
    }

    auto addOptions = [&](OperationState &state) {
      for (const OptionSpec &option : spec.options)
        if (abi.getRule().getOption(option.name))
          state.addAttribute(option.name, UnitAttr::get(ctx));
    };
    if (reduceOnly) {
      if (!spec.perTensorNorms)
        return success();
      OperationState state(loc, spec.normsOpName);
      state.addOperands({paramTensor, grad});
      state.addOperands(stateTensors);
      state.addOperands(scalars.drop_front(next));
      auto paramType = cast<RankedTensorType>(paramTensor.getType());
      state.addTypes(RankedTensorType::get(
          {static_cast<int64_t>(spec.numNorms)},
          getComputeType(paramType.getElementType())));
      addOptions(state);
      writeBack(b.create(state)->getResult(0), normSums);
      return success();
    }

    // A dense gradient of a sparse rule (LazyAdam) takes the dense form of
    // the rule (Adam), as MindSpore does; the scalars are the same.
    StringRef opName = spec.opName;
    if (spec.sparseGrad && !param.sparse)
      opName = getRuleSpec(RuleKind::Adam).opName;
    OperationState state(loc, opName);
    state.addOperands(paramTensor);
    if (param.sparse)
      state.addOperands(indices);
    state.addOperands(grad);
    state.addOperands(stateTensors);
    state.addOperands(scalars.drop_front(next));
    if (spec.perTensorNorms) {
      // Lamb and LARS: states and `norms` are variadic operand groups.
      int32_t numScalars = scalars.size() - next;
      if (normSums)
        state.addOperands(normSums);
      SmallVector<int32_t> segments = {1, 1,
                                       static_cast<int32_t>(stateTensors.size())};
      segments.append(numScalars, 1);
      segments.push_back(normSums ? 1 : 0);
      state.addAttribute("operandSegmentSizes",
                         DenseI32ArrayAttr::get(ctx, segments));
    }
    state.addTypes(
        SmallVector<Type>(1 + stateTensors.size(), paramTensor.getType()));
    addOptions(state);
    Operation *update = b.create(state);

    writeBack(update->getResult(0), paramMemRef);
    for (auto [result, memref] :
         llvm::zip(update->getResults().drop_front(), stateMemRefs))
      writeBack(result, memref);
    return success();
  }

  /// The memref type a shared update function takes for `param`: a chunk
  /// of a flat buffer (any offset, any length), or for centralization a
  /// chunk of whole rows viewed as (rows, cols), cols being the product of
  /// the other dimensions. Never a static size: one function serves every
  /// shape.
  MemRefType getSharedBufferType(const ParamABI &param) {
    MLIRContext *ctx = param.type.getContext();
    Type element = param.type.getElementType();
    if (param.centralize)
      return MemRefType::get(
          {ShapedType::kDynamic, ShapedType::kDynamic}, element,
          StridedLayoutAttr::get(ctx, ShapedType::kDynamic,
                                 {ShapedType::kDynamic, 1}));
    return MemRefType::get(
        {ShapedType::kDynamic}, element,
        StridedLayoutAttr::get(ctx, ShapedType::kDynamic, {1}));
  }

  /// A 1-D slice of the scratch table.
  MemRefType getScratchSliceType(Type computeType, int64_t size) {
    MLIRContext *ctx = computeType.getContext();
    return MemRefType::get({size}, computeType,
                           StridedLayoutAttr::get(ctx, ShapedType::kDynamic,
                                                  {1}));
  }

  /// The shared function of `key` for `phase`, created on first use:
  /// `@<name>_update_<k>` (Phase::Apply) or `@<name>_reduce_<k>`
  /// (Phase::Reduce). Arguments: param, grad, states (getSharedBufferType),
  /// the scalars, then for reduction classes the row sums (a scratch slice,
  /// written by Reduce, read by Apply) and the norms (Reduce: a scratch
  /// slice of this chunk's partial sums; Apply: the tensor's sums as
  /// scalars).
  FailureOr<func::FuncOp>
  getOrCreateUpdateFunction(OpBuilder &b, const ParamABI &param,
                            const UpdateClass &key, TypeRange scalarTypes,
                            Phase phase) {
    for (auto &[existing, existingPhase, fn] : updateFunctions)
      if (existing == key && existingPhase == phase)
        return fn;
    MLIRContext *ctx = b.getContext();
    Location loc = optimizer.getLoc();
    const RuleSpec &spec = abi.getSpec();
    Type computeType = getComputeType(param.type.getElementType());
    unsigned numStates = abi.getStates().size();
    SmallVector<Type> argTypes(2 + numStates, key.bufferType);
    argTypes.append(scalarTypes.begin(), scalarTypes.end());
    bool hasRowSums = key.centralize;
    bool hasNorms = spec.perTensorNorms;
    if (hasRowSums)
      argTypes.push_back(getScratchSliceType(computeType, ShapedType::kDynamic));
    if (hasNorms) {
      if (phase == Phase::Reduce)
        argTypes.push_back(getScratchSliceType(computeType, spec.numNorms));
      else
        argTypes.append(spec.numNorms, computeType);
    }
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(optimizer);
    unsigned index = llvm::count_if(updateFunctions, [&](const auto &entry) {
      return std::get<1>(entry) == phase;
    });
    std::string name =
        (optimizer.getSymName() +
         (phase == Phase::Reduce ? "_reduce_" : "_update_") + Twine(index))
            .str();
    auto fn = func::FuncOp::create(b, loc, name,
                                   FunctionType::get(ctx, argTypes, {}));
    fn.setPrivate();
    // Compiled once and called per chunk: keep LLVM from inlining it back
    // into every call site. Its callers run it inside the step's parallel
    // loops: no threads inside.
    fn->setAttr("passthrough",
                ArrayAttr::get(ctx, {StringAttr::get(ctx, "noinline")}));
    fn->setAttr(OptimDialect::SequentialAttrHelper::getNameStr(),
                UnitAttr::get(ctx));
    Block *entry = fn.addEntryBlock();
    b.setInsertionPointToStart(entry);
    ValueRange args = entry->getArguments();
    unsigned extra = 2 + numStates + scalarTypes.size();
    Value rowSums = hasRowSums ? args[extra++] : Value();
    Value normSums;
    if (hasNorms && phase == Phase::Reduce) {
      normSums = args[extra];
    } else if (hasNorms) {
      auto type = RankedTensorType::get({static_cast<int64_t>(spec.numNorms)},
                                        computeType);
      normSums = tensor::FromElementsOp::create(b, loc, type,
                                                args.drop_front(extra));
    }
    if (failed(buildParamUpdate(b, loc, param, phase, args[0], Value(), args[1],
                                args.slice(2, numStates),
                                args.slice(2 + numStates, scalarTypes.size()),
                                rowSums, normSums)))
      return failure();
    func::ReturnOp::create(b, loc);
    updateFunctions.push_back({key, phase, fn});
    return fn;
  }

  /// Scalars of `param`'s update, in buildParamUpdate's order (see
  /// Rules.cpp for the rule's own).
  SmallVector<Value> buildScalars(OpBuilder &b, Location loc,
                                  const ParamABI &param,
                                  HyperParamReader &reader, Value lossScale,
                                  Value lr, Value updateCount) {
    const RuleSpec &spec = abi.getSpec();
    const GroupABI &group = abi.getGroups()[param.group];
    Value weightDecay =
        reader.slot(group.tableOffset + StepABI::kWeightDecayOffset);
    SmallVector<Value> scalars{lossScale};
    if (decaysByOp(param))
      // Decay runs before unscaling, so its coefficient is wd * scale.
      scalars.push_back(arith::MulFOp::create(b, loc, weightDecay, lossScale));
    scalars.push_back(lr);
    for (const HyperParamSpec *hyper : spec.getOperandHyperParams())
      scalars.push_back(reader.slot(abi.getSlot(param.group, hyper->name)));
    if (spec.decayInRule)
      scalars.push_back(param.decay ? weightDecay : reader.constant(0.0f));
    if (spec.usesStep)
      scalars.push_back(updateCount);
    return scalars;
  }

  /// The step function's entry and the values every step form starts with.
  struct StepFunction {
    Block *entry;
    Value step, lossScale, updateCount;
    std::unique_ptr<HyperParamReader> reader;
  };

  /// Creates `@<name>_step(bufferArgTypes..., %hyper, %step)` and sets the
  /// insertion point into it (the caller holds an InsertionGuard).
  StepFunction createStepFunction(OpBuilder &b,
                                  ArrayRef<Type> bufferArgTypes) {
    MLIRContext *ctx = b.getContext();
    Location loc = optimizer.getLoc();
    SmallVector<Type> argTypes(bufferArgTypes);
    argTypes.push_back(getTableType());
    argTypes.push_back(IntegerType::get(ctx, 64));
    auto fn = func::FuncOp::create(b, loc,
                                   (optimizer.getSymName() + "_step").str(),
                                   FunctionType::get(ctx, argTypes, {}));
    fn->setAttr("llvm.emit_c_interface", UnitAttr::get(ctx));
    StepFunction result;
    result.entry = fn.addEntryBlock();
    b.setInsertionPointToStart(result.entry);
    result.step = result.entry->getArgument(argTypes.size() - 1);
    result.reader = std::make_unique<HyperParamReader>(
        b, loc, result.entry->getArgument(argTypes.size() - 2), table,
        constantHyperParams);
    result.lossScale = result.reader->slot(StepABI::kLossScaleSlot);
    Value one = arith::ConstantOp::create(b, loc, b.getI64IntegerAttr(1));
    result.updateCount = arith::AddIOp::create(b, loc, result.step, one);
    return result;
  }

  /// Columns of a row of the chunk table (see buildTableStep).
  enum ChunkColumn : int64_t {
    kClass,        // index of the class (its shared functions)
    kPosition,     // the parameter's index among its buffer table's
    kOffset,       // first element of the chunk in the flat buffer
    kSize,         // elements in the chunk
    kCols,         // row length (centralized classes; else 1)
    kRowSlot,      // scratch index of the chunk's first row sum
    kPartialSlot,  // scratch index of the chunk's partial norm sums
    kFirstPartial, // scratch index of the tensor's first chunk's sums
    kNumPartials,  // chunks of the tensor (partial sums to add up)
    kNumColumns
  };

  /// The step over buffer tables (see StepABI.h), as multi-tensor phases.
  ///
  /// Parameters fall into classes (update code, group, decay); each class
  /// has one shared function per phase over chunks of dynamic size. Every
  /// parameter is cut into chunks of at most `chunk-size` elements
  /// (centralized ones into chunks of whole rows), listed in one constant
  /// chunk table (ChunkColumn), chunks of classes that need a reduction
  /// first. The step then runs
  ///   1. the reduction phase (only when some class needs one): one parallel
  ///      loop over the reduction classes' chunks, each writing its row sums
  ///      and partial squared norms into a scratch table (a module global:
  ///      nothing is allocated per step);
  ///   2. the update phase: one parallel loop over every chunk; a chunk of a
  ///      reduction class first adds up its tensor's partial sums (a few
  ///      scalars per chunk of the tensor) and reads its rows' sums.
  /// Code size and compile time depend on the number of classes only; the
  /// chunk table is data.
  LogicalResult buildTableStep(OpBuilder &b) {
    MLIRContext *ctx = b.getContext();
    Location loc = optimizer.getLoc();
    const RuleSpec &spec = abi.getSpec();
    ArrayRef<Type> tableElementTypes = abi.getTableElementTypes();
    SmallVector<Type> argTypes;
    for (Type elementType : tableElementTypes)
      argTypes.push_back(MemRefType::get(
          {ShapedType::kDynamic},
          MemRefType::get({ShapedType::kDynamic}, elementType)));
    OpBuilder::InsertionGuard guard(b);
    StepFunction stepFn = createStepFunction(b, argTypes);
    Block *entry = stepFn.entry;
    Value step = stepFn.step, lossScale = stepFn.lossScale;
    Value updateCount = stepFn.updateCount;
    HyperParamReader &reader = *stepFn.reader;

    // Members of each class, in step order.
    struct Member {
      UpdateClass code;
      unsigned group;
      bool decay;
      SmallVector<unsigned> params;
    };
    SmallVector<Member> classes;
    for (unsigned i = 0, e = abi.getParams().size(); i < e; ++i) {
      const ParamABI &param = abi.getParams()[i];
      UpdateClass code{getSharedBufferType(param), decaysByOp(param),
                       param.centralize};
      auto it = llvm::find_if(classes, [&](const Member &m) {
        return m.code == code && m.group == param.group &&
               m.decay == param.decay;
      });
      if (it == classes.end()) {
        classes.push_back({code, param.group, param.decay, {}});
        it = std::prev(classes.end());
      }
      it->params.push_back(i);
    }
    auto needsReduction = [&](const Member &member) {
      return member.code.centralize || spec.perTensorNorms;
    };

    // Scalars and functions of each class.
    llvm::DenseMap<unsigned, Value> groupLr;
    SmallVector<SmallVector<Value>> classScalars;
    SmallVector<func::FuncOp> updateFns, reduceFns;
    for (const Member &member : classes) {
      const ParamABI &first = abi.getParams()[member.params.front()];
      Value &lr = groupLr[member.group];
      if (!lr)
        lr = buildGroupLearningRate(b, loc, abi, member.group, reader, step);
      classScalars.push_back(
          buildScalars(b, loc, first, reader, lossScale, lr, updateCount));
      TypeRange scalarTypes = ValueRange(classScalars.back()).getTypes();
      FailureOr<func::FuncOp> update = getOrCreateUpdateFunction(
          b, first, member.code, scalarTypes, Phase::Apply);
      if (failed(update))
        return failure();
      updateFns.push_back(*update);
      func::FuncOp reduce;
      if (needsReduction(member)) {
        FailureOr<func::FuncOp> created = getOrCreateUpdateFunction(
            b, first, member.code, scalarTypes, Phase::Reduce);
        if (failed(created))
          return failure();
        reduce = *created;
      }
      reduceFns.push_back(reduce);
    }

    // The chunk table and the scratch layout (one scratch table per compute
    // type: row sums first, then partial norm sums).
    SmallVector<int64_t> chunks;
    llvm::SmallDenseMap<Type, int64_t> scratchSize;
    int64_t numReductionChunks = 0;
    auto addChunks = [&](unsigned c, bool reduction) {
      for (unsigned i : classes[c].params) {
        const ParamABI &param = abi.getParams()[i];
        int64_t position = abi.getTablePosition(i).second;
        int64_t size = param.type.getNumElements();
        if (size == 0)
          continue; // nothing to update, nothing to reduce
        int64_t &scratch =
            scratchSize[getComputeType(param.type.getElementType())];
        int64_t cols = 1, partSize = chunkSize;
        std::optional<int64_t> rowBase;
        if (reduction && classes[c].code.centralize) {
          cols = size / param.type.getDimSize(0);
          partSize = std::max<int64_t>(1, chunkSize / cols) * cols;
          rowBase = scratch;
          scratch += param.type.getDimSize(0);
        }
        int64_t numParts = llvm::divideCeil(size, partSize);
        int64_t firstPartial = 0, numPartials = 0;
        if (reduction && spec.perTensorNorms) {
          firstPartial = scratch;
          numPartials = numParts;
          scratch += numParts * spec.numNorms;
        }
        for (int64_t part = 0; part < numParts; ++part) {
          int64_t offset = part * partSize;
          chunks.append({static_cast<int64_t>(c), position, offset,
                         std::min<int64_t>(partSize, size - offset), cols,
                         rowBase ? *rowBase + offset / cols : 0,
                         numPartials ? firstPartial + part * spec.numNorms
                                     : 0,
                         firstPartial, numPartials});
          numReductionChunks += reduction;
        }
      }
    };
    for (unsigned c = 0, e = classes.size(); c < e; ++c)
      if (needsReduction(classes[c]))
        addChunks(c, /*reduction=*/true);
    for (unsigned c = 0, e = classes.size(); c < e; ++c)
      if (!needsReduction(classes[c]))
        addChunks(c, /*reduction=*/false);
    if (chunks.empty()) {
      func::ReturnOp::create(b, loc);
      return success();
    }
    int64_t numChunks = chunks.size() / kNumColumns;

    auto createGlobal = [&](StringRef suffix, MemRefType type,
                            Attribute initialValue, bool constant) -> Value {
      std::string name = (optimizer.getSymName() + "_" + suffix).str();
      {
        OpBuilder::InsertionGuard globalGuard(b);
        b.setInsertionPoint(optimizer);
        memref::GlobalOp::create(b, loc, name, b.getStringAttr("private"),
                                 type, initialValue, constant,
                                 /*alignment=*/b.getI64IntegerAttr(64));
      }
      return memref::GetGlobalOp::create(b, loc, type,
                                         FlatSymbolRefAttr::get(ctx, name));
    };
    auto chunkType = MemRefType::get({numChunks, kNumColumns}, b.getIndexType());
    Value chunkTable = createGlobal(
        "chunks", chunkType,
        DenseElementsAttr::get(
            RankedTensorType::get(chunkType.getShape(), b.getIndexType()),
            llvm::to_vector(llvm::map_range(chunks, [&](int64_t v) {
              return static_cast<Attribute>(b.getIndexAttr(v));
            }))),
        /*constant=*/true);
    llvm::SmallDenseMap<Type, Value> scratchTables;
    for (Type computeType : {Type(b.getF32Type()), Type(b.getF64Type())}) {
      int64_t size = scratchSize.lookup(computeType);
      if (size == 0)
        continue;
      std::string suffix =
          computeType.isF64() ? "scratch_f64" : "scratch_f32";
      scratchTables[computeType] =
          createGlobal(suffix, MemRefType::get({size}, computeType),
                       UnitAttr::get(ctx), /*constant=*/false);
    }

    // Loads the entries of the parameter at `position` of `bufferTable`,
    // viewed as `type` over its chunk.
    unsigned numStates = abi.getStates().size();
    unsigned entriesPerParam = 2 + numStates;
    auto loadBuffers = [&](OpBuilder &nested, Value bufferTable,
                           Value position, MemRefType type, Value offset,
                           Value size, Value cols) {
      Value base = arith::MulIOp::create(
          nested, loc, position,
          arith::ConstantIndexOp::create(nested, loc, entriesPerParam));
      OpFoldResult one = nested.getIndexAttr(1);
      SmallVector<OpFoldResult> sizes = {size}, strides = {one};
      if (type.getRank() == 2) {
        sizes = {arith::DivUIOp::create(nested, loc, size, cols).getResult(),
                 cols};
        strides = {cols, one};
      }
      SmallVector<Value> buffers;
      for (unsigned j = 0; j < entriesPerParam; ++j) {
        Value index = arith::AddIOp::create(
            nested, loc, base, arith::ConstantIndexOp::create(nested, loc, j));
        Value buffer = memref::LoadOp::create(nested, loc, bufferTable,
                                              ValueRange{index});
        buffers.push_back(memref::ReinterpretCastOp::create(
            nested, loc, type, buffer, OpFoldResult(offset), sizes, strides));
      }
      return buffers;
    };

    // One parallel loop over chunks [0, count), dispatching on the class to
    // `emit(builder, class, fields)` for the classes in `cases`.
    using FieldFn = function_ref<Value(int64_t)>;
    auto emitPhase =
        [&](int64_t count, ArrayRef<unsigned> cases,
            function_ref<void(OpBuilder &, unsigned, FieldFn)> emit) {
          Value zero = arith::ConstantIndexOp::create(b, loc, 0);
          Value one = arith::ConstantIndexOp::create(b, loc, 1);
          Value upper = arith::ConstantIndexOp::create(b, loc, count);
          scf::ParallelOp::create(
              b, loc, ValueRange{zero}, ValueRange{upper}, ValueRange{one},
              [&](OpBuilder &nested, Location, ValueRange ivs) {
                auto field = [&](int64_t column) -> Value {
                  Value col =
                      arith::ConstantIndexOp::create(nested, loc, column);
                  return memref::LoadOp::create(nested, loc, chunkTable,
                                                ValueRange{ivs.front(), col});
                };
                if (cases.size() == 1) {
                  emit(nested, cases.front(), field);
                  return;
                }
                SmallVector<int64_t> values(cases.begin(), cases.end());
                auto dispatch = scf::IndexSwitchOp::create(
                    nested, loc, TypeRange{}, field(kClass), values,
                    values.size());
                OpBuilder::InsertionGuard switchGuard(nested);
                nested.createBlock(&dispatch.getDefaultRegion());
                scf::YieldOp::create(nested, loc);
                for (auto [region, c] :
                     llvm::zip(dispatch.getCaseRegions(), cases)) {
                  nested.createBlock(&region);
                  emit(nested, c, field);
                  scf::YieldOp::create(nested, loc);
                }
              });
        };
    auto chunkBuffers = [&](OpBuilder &nested, unsigned c, FieldFn field) {
      auto type = cast<MemRefType>(classes[c].code.bufferType);
      unsigned tableIndex =
          abi.getTablePosition(classes[c].params.front()).first;
      return loadBuffers(nested, entry->getArgument(tableIndex),
                         field(kPosition), type, field(kOffset), field(kSize),
                         field(kCols));
    };
    auto scratchSlice = [&](OpBuilder &nested, unsigned c, Value offset,
                            OpFoldResult size) -> Value {
      const ParamABI &first = abi.getParams()[classes[c].params.front()];
      Type computeType = getComputeType(first.type.getElementType());
      MemRefType type = getScratchSliceType(
          computeType, isa<Attribute>(size)
                           ? *getConstantIntValue(size)
                           : ShapedType::kDynamic);
      return memref::ReinterpretCastOp::create(
          nested, loc, type, scratchTables.lookup(computeType), offset,
          ArrayRef<OpFoldResult>{size},
          ArrayRef<OpFoldResult>{nested.getIndexAttr(1)});
    };
    auto rowSumsSlice = [&](OpBuilder &nested, unsigned c, FieldFn field) {
      Value rows =
          arith::DivUIOp::create(nested, loc, field(kSize), field(kCols));
      return scratchSlice(nested, c, field(kRowSlot), rows);
    };

    // In the update phase, the squared norms of a chunk's tensor: the sum
    // of the partial sums of all its chunks, in chunk order (every chunk of
    // the tensor adds the same numbers in the same order, so all see the
    // same norms).
    auto tensorNormSums = [&](OpBuilder &nested, unsigned c, FieldFn field) {
      const ParamABI &first = abi.getParams()[classes[c].params.front()];
      Type computeType = getComputeType(first.type.getElementType());
      Value scratch = scratchTables.lookup(computeType);
      Value firstPartial = field(kFirstPartial), count = field(kNumPartials);
      Value zero = arith::ConstantIndexOp::create(nested, loc, 0);
      Value one = arith::ConstantIndexOp::create(nested, loc, 1);
      Value stride = arith::ConstantIndexOp::create(nested, loc, spec.numNorms);
      SmallVector<Value> inits(
          spec.numNorms, arith::ConstantOp::create(
                             nested, loc, nested.getFloatAttr(computeType, 0.0)));
      auto loop = scf::ForOp::create(
          nested, loc, zero, count, one, inits,
          [&](OpBuilder &inner, Location, Value part, ValueRange sums) {
            Value base = arith::AddIOp::create(
                inner, loc, firstPartial,
                arith::MulIOp::create(inner, loc, part, stride));
            SmallVector<Value> next;
            for (unsigned k = 0; k < spec.numNorms; ++k) {
              Value index = arith::AddIOp::create(
                  inner, loc, base,
                  arith::ConstantIndexOp::create(inner, loc, k));
              Value partial = memref::LoadOp::create(inner, loc, scratch,
                                                     ValueRange{index});
              next.push_back(
                  arith::AddFOp::create(inner, loc, sums[k], partial));
            }
            scf::YieldOp::create(inner, loc, next);
          });
      return llvm::to_vector_of<Value>(loop.getResults());
    };

    // Phase 1: reductions.
    SmallVector<unsigned> reductionClasses, allClasses;
    for (unsigned c = 0, e = classes.size(); c < e; ++c) {
      allClasses.push_back(c);
      if (needsReduction(classes[c]))
        reductionClasses.push_back(c);
    }
    if (numReductionChunks > 0)
      emitPhase(numReductionChunks, reductionClasses,
                [&](OpBuilder &nested, unsigned c, FieldFn field) {
                  SmallVector<Value> args = chunkBuffers(nested, c, field);
                  args.append(classScalars[c]);
                  if (classes[c].code.centralize)
                    args.push_back(rowSumsSlice(nested, c, field));
                  if (spec.perTensorNorms)
                    args.push_back(
                        scratchSlice(nested, c, field(kPartialSlot),
                                     nested.getIndexAttr(spec.numNorms)));
                  func::CallOp::create(nested, loc, reduceFns[c], args);
                });

    // Phase 2: updates.
    emitPhase(numChunks, allClasses,
              [&](OpBuilder &nested, unsigned c, FieldFn field) {
                SmallVector<Value> args = chunkBuffers(nested, c, field);
                args.append(classScalars[c]);
                if (!needsReduction(classes[c])) {
                  func::CallOp::create(nested, loc, updateFns[c], args);
                  return;
                }
                if (classes[c].code.centralize)
                  args.push_back(rowSumsSlice(nested, c, field));
                if (spec.perTensorNorms)
                  llvm::append_range(args, tensorNormSums(nested, c, field));
                func::CallOp::create(nested, loc, updateFns[c], args);
              });
    func::ReturnOp::create(b, loc);
    return success();
  }

  LogicalResult buildStep(OpBuilder &b) {
    if (shareUpdateFunctions && !abi.hasSparseParams())
      return buildTableStep(b);
    MLIRContext *ctx = b.getContext();
    Location loc = optimizer.getLoc();

    SmallVector<Type> argTypes;
    for (const ParamABI &param : abi.getParams()) {
      MemRefType type = toMemRef(param.type);
      argTypes.push_back(type);
      if (param.sparse) {
        SmallVector<int64_t> rowShape(param.type.getShape());
        rowShape[0] = ShapedType::kDynamic;
        argTypes.push_back(
            MemRefType::get({ShapedType::kDynamic}, IntegerType::get(ctx, 32)));
        argTypes.push_back(
            MemRefType::get(rowShape, param.type.getElementType()));
      } else {
        argTypes.push_back(type);
      }
      argTypes.append(abi.getStates().size(), type);
    }
    OpBuilder::InsertionGuard guard(b);
    StepFunction stepFn = createStepFunction(b, argTypes);
    Block *entry = stepFn.entry;
    Value step = stepFn.step, lossScale = stepFn.lossScale;
    Value updateCount = stepFn.updateCount;
    HyperParamReader &reader = *stepFn.reader;

    llvm::DenseMap<unsigned, Value> groupLr;
    auto getLr = [&](unsigned group) {
      Value &lr = groupLr[group];
      if (!lr)
        lr = buildGroupLearningRate(b, loc, abi, group, reader, step);
      return lr;
    };

    unsigned argIndex = 0;
    unsigned numStates = abi.getStates().size();
    for (const ParamABI &param : abi.getParams()) {
      Value paramMemRef = entry->getArgument(argIndex++);
      Value indicesMemRef;
      if (param.sparse)
        indicesMemRef = entry->getArgument(argIndex++);
      Value gradMemRef = entry->getArgument(argIndex++);
      ValueRange stateMemRefs = entry->getArguments().slice(argIndex, numStates);
      argIndex += numStates;

      // (Evaluated first, not as an argument: the IR's order must not
      // depend on the C++ compiler's argument evaluation order.)
      Value lr = getLr(param.group);
      SmallVector<Value> scalars =
          buildScalars(b, loc, param, reader, lossScale, lr, updateCount);
      if (failed(buildParamUpdate(b, loc, param, Phase::Whole, paramMemRef,
                                  indicesMemRef, gradMemRef, stateMemRefs,
                                  scalars)))
        return failure();
    }
    func::ReturnOp::create(b, loc);
    return success();
  }

  OptimizerOp optimizer;
  StepABI abi;
  SmallVector<float> table;
  bool constantHyperParams;
  bool shareUpdateFunctions;
  int64_t chunkSize;
  SmallVector<std::tuple<UpdateClass, Phase, func::FuncOp>> updateFunctions;
};

struct ResolveOptimizerPass
    : public optim::impl::OptimResolveOptimizerBase<ResolveOptimizerPass> {
  using Base::Base;

  void runOnOperation() override {
    SmallVector<OptimizerOp> optimizers(
        getOperation().getOps<OptimizerOp>());
    for (OptimizerOp optimizer : optimizers)
      if (failed(OptimizerResolver(optimizer, constantHyperParams,
                                   shareUpdateFunctions, chunkSize)
                     .run()))
        return signalPassFailure();
  }
};

} // namespace
