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

  /// Emits the update of one parameter on memrefs: to_tensor, decay ->
  /// centralize -> scale_grad -> [unique] -> the rule's update, written back
  /// in place. `scalars` as in ParamScalars.
  LogicalResult buildParamUpdate(OpBuilder &b, Location loc,
                                 const ParamABI &param, Value paramMemRef,
                                 Value indicesMemRef, Value gradMemRef,
                                 ValueRange stateMemRefs, ValueRange scalars) {
    MLIRContext *ctx = b.getContext();
    const RuleSpec &spec = abi.getSpec();
    auto toTensor = [&](Value memref, bool writable) -> Value {
      auto memrefType = cast<MemRefType>(memref.getType());
      auto tensorType = RankedTensorType::get(memrefType.getShape(),
                                              memrefType.getElementType());
      return bufferization::ToTensorOp::create(b, loc, tensorType, memref,
                                               /*restrict=*/true, writable);
    };
    Value paramTensor = toTensor(paramMemRef, /*writable=*/true);
    Value indices = indicesMemRef ? toTensor(indicesMemRef, false) : Value();
    Value grad = toTensor(gradMemRef, false);
    SmallVector<Value> stateTensors;
    for (Value state : stateMemRefs)
      stateTensors.push_back(toTensor(state, true));

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
    if (param.centralize)
      grad = CentralizeOp::create(b, loc, grad.getType(), grad);
    grad = ScaleGradOp::create(b, loc, grad.getType(), grad, lossScale);

    if (param.sparse && optimizer.getUnique()) {
      auto indicesType = cast<RankedTensorType>(indices.getType());
      auto rowsType = cast<RankedTensorType>(grad.getType());
      auto unique =
          UniqueOp::create(b, loc, indicesType, rowsType, indices, grad);
      indices = unique.getUniqueIndices();
      grad = unique.getMergedValues();
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
    state.addTypes(
        SmallVector<Type>(1 + stateTensors.size(), paramTensor.getType()));
    for (const OptionSpec &option : spec.options)
      if (abi.getRule().getOption(option.name))
        state.addAttribute(option.name, UnitAttr::get(ctx));
    Operation *update = b.create(state);

    auto writeBack = [&](Value tensor, Value memref) {
      bufferization::MaterializeInDestinationOp::create(
          b, loc, TypeRange{}, tensor, memref, /*restrict=*/true,
          /*writable=*/true);
    };
    writeBack(update->getResult(0), paramMemRef);
    for (auto [result, memref] :
         llvm::zip(update->getResults().drop_front(), stateMemRefs))
      writeBack(result, memref);
    return success();
  }

  /// The memref type a shared update function takes for `param`: one
  /// dynamic dimension (any size, contiguous), unless centralization needs
  /// the parameter's shape.
  MemRefType getSharedBufferType(const ParamABI &param) {
    if (param.centralize)
      return toMemRef(param.type);
    // A chunk of a flat buffer: any offset, any length.
    MLIRContext *ctx = param.type.getContext();
    return MemRefType::get(
        {ShapedType::kDynamic}, param.type.getElementType(),
        StridedLayoutAttr::get(ctx, ShapedType::kDynamic, {1}));
  }

  /// The shared update function of `key`, created on first use.
  FailureOr<func::FuncOp> getOrCreateUpdateFunction(OpBuilder &b,
                                                    const ParamABI &param,
                                                    const UpdateClass &key,
                                                    TypeRange scalarTypes) {
    for (auto &[existing, fn] : updateFunctions)
      if (existing == key)
        return fn;
    MLIRContext *ctx = b.getContext();
    Location loc = optimizer.getLoc();
    SmallVector<Type> argTypes(2 + abi.getStates().size(), key.bufferType);
    argTypes.append(scalarTypes.begin(), scalarTypes.end());
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(optimizer);
    std::string name = (optimizer.getSymName() + "_update_" +
                        llvm::Twine(updateFunctions.size()))
                           .str();
    auto fn = func::FuncOp::create(b, loc, name,
                                   FunctionType::get(ctx, argTypes, {}));
    fn.setPrivate();
    // Compiled once and called per parameter: keep LLVM from inlining it
    // back into every call site.
    fn->setAttr("passthrough",
                ArrayAttr::get(ctx, {StringAttr::get(ctx, "noinline")}));
    Block *entry = fn.addEntryBlock();
    b.setInsertionPointToStart(entry);
    unsigned numStates = abi.getStates().size();
    if (failed(buildParamUpdate(
            b, loc, param, entry->getArgument(0), Value(),
            entry->getArgument(1),
            entry->getArguments().slice(2, numStates),
            entry->getArguments().drop_front(2 + numStates))))
      return failure();
    func::ReturnOp::create(b, loc);
    updateFunctions.push_back({key, fn});
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

  /// The step over buffer tables (see StepABI.h): per class of parameters
  /// (update code, group, decay), one loop over its members' table
  /// positions calling the class's shared update function, so that the
  /// step's code and argument list do not grow with the parameter count.
  LogicalResult buildTableStep(OpBuilder &b) {
    MLIRContext *ctx = b.getContext();
    Location loc = optimizer.getLoc();
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

    unsigned numStates = abi.getStates().size();
    unsigned entriesPerParam = 2 + numStates;
    llvm::DenseMap<unsigned, Value> groupLr;
    SmallVector<SmallVector<Value>> classScalars;
    SmallVector<func::FuncOp> callees;
    for (const Member &member : classes) {
      const ParamABI &first = abi.getParams()[member.params.front()];
      Value &lr = groupLr[member.group];
      if (!lr)
        lr = buildGroupLearningRate(b, loc, abi, member.group, reader, step);
      classScalars.push_back(
          buildScalars(b, loc, first, reader, lossScale, lr, updateCount));
      FailureOr<func::FuncOp> callee = getOrCreateUpdateFunction(
          b, first, member.code, ValueRange(classScalars.back()).getTypes());
      if (failed(callee))
        return failure();
      callees.push_back(*callee);
    }

    // Loads the entries of the parameter at `position` of `bufferTable`,
    // viewed as `type` (from `offset`, `size` elements, for flat chunks).
    auto loadBuffers = [&](OpBuilder &nested, Value bufferTable,
                           Value position, MemRefType type, Value offset,
                           Value size) {
      Value base = arith::MulIOp::create(
          nested, loc, position,
          arith::ConstantIndexOp::create(nested, loc, entriesPerParam));
      SmallVector<Value> buffers;
      for (unsigned j = 0; j < entriesPerParam; ++j) {
        Value index = arith::AddIOp::create(
            nested, loc, base, arith::ConstantIndexOp::create(nested, loc, j));
        Value buffer = memref::LoadOp::create(nested, loc, bufferTable,
                                              ValueRange{index});
        if (offset) {
          buffer = memref::ReinterpretCastOp::create(
              nested, loc, type, buffer, OpFoldResult(offset),
              ArrayRef<OpFoldResult>{size},
              ArrayRef<OpFoldResult>{nested.getIndexAttr(1)});
        } else {
          // Centralization needs the parameter's shape back.
          SmallVector<int64_t> strides(type.getRank(), 1);
          for (int64_t d = type.getRank() - 2; d >= 0; --d)
            strides[d] = strides[d + 1] * type.getDimSize(d + 1);
          buffer = memref::ReinterpretCastOp::create(
              nested, loc, type, buffer, /*offset=*/0, type.getShape(),
              strides);
        }
        buffers.push_back(buffer);
      }
      return buffers;
    };
    auto createIndexGlobal = [&](StringRef suffix, ArrayRef<int64_t> shape,
                                 ArrayRef<int64_t> values) -> Value {
      auto type = MemRefType::get(shape, b.getIndexType());
      std::string name = (optimizer.getSymName() + "_" + suffix).str();
      {
        OpBuilder::InsertionGuard globalGuard(b);
        b.setInsertionPoint(optimizer);
        auto attr = DenseElementsAttr::get(
            RankedTensorType::get(shape, b.getIndexType()),
            llvm::to_vector(llvm::map_range(values, [&](int64_t v) {
              return static_cast<Attribute>(b.getIndexAttr(v));
            })));
        memref::GlobalOp::create(b, loc, name, b.getStringAttr("private"),
                                 type, attr, /*constant=*/true,
                                 /*alignment=*/nullptr);
      }
      return memref::GetGlobalOp::create(b, loc, type,
                                         FlatSymbolRefAttr::get(ctx, name));
    };

    // Parameters that need a reduction over the whole tensor first
    // (centralization, Lamb/LARS trust ratios): one call each, threaded
    // inside the update when the parameter is large.
    bool perTensorNorms = abi.getSpec().perTensorNorms;
    auto isWholeTensor = [&](const Member &member) {
      return member.code.centralize || perTensorNorms;
    };
    for (unsigned c = 0, e = classes.size(); c < e; ++c) {
      if (!isWholeTensor(classes[c]))
        continue;
      auto type = cast<MemRefType>(classes[c].code.bufferType);
      for (unsigned i : classes[c].params) {
        auto [tableIndex, position] = abi.getTablePosition(i);
        Value offset, size;
        if (!classes[c].code.centralize) {
          offset = arith::ConstantIndexOp::create(b, loc, 0);
          size = arith::ConstantIndexOp::create(
              b, loc, abi.getParams()[i].type.getNumElements());
        }
        SmallVector<Value> args = loadBuffers(
            b, entry->getArgument(tableIndex),
            arith::ConstantIndexOp::create(b, loc, position), type, offset,
            size);
        args.append(classScalars[c]);
        func::CallOp::create(b, loc, callees[c], args);
      }
    }

    // Every other parameter: one parallel loop over chunks of at most
    // `chunk-size` elements of all of them (the compiler's multi-tensor
    // apply), described by a constant table of (class, position, offset,
    // size) rows: one parallel region per step, balanced across threads.
    SmallVector<int64_t> chunks;
    SmallVector<unsigned> flatClasses;
    for (unsigned c = 0, e = classes.size(); c < e; ++c) {
      if (isWholeTensor(classes[c]))
        continue;
      flatClasses.push_back(c);
      // Called on chunks from the step's parallel loop: no threads inside.
      callees[c]->setAttr("optim.sequential", UnitAttr::get(ctx));
      for (unsigned i : classes[c].params) {
        int64_t size = abi.getParams()[i].type.getNumElements();
        int64_t position = abi.getTablePosition(i).second;
        for (int64_t offset = 0; offset < size; offset += chunkSize)
          chunks.append({static_cast<int64_t>(c), position, offset,
                         std::min<int64_t>(chunkSize, size - offset)});
      }
    }
    if (chunks.empty()) {
      func::ReturnOp::create(b, loc);
      return success();
    }
    int64_t numChunks = chunks.size() / 4;
    Value chunkTable = createIndexGlobal("chunks", {numChunks, 4}, chunks);
    Value zero = arith::ConstantIndexOp::create(b, loc, 0);
    Value oneIndex = arith::ConstantIndexOp::create(b, loc, 1);
    Value count = arith::ConstantIndexOp::create(b, loc, numChunks);
    scf::ParallelOp::create(
        b, loc, ValueRange{zero}, ValueRange{count}, ValueRange{oneIndex},
        [&](OpBuilder &nested, Location, ValueRange ivs) {
          auto field = [&](int64_t column) -> Value {
            Value col = arith::ConstantIndexOp::create(nested, loc, column);
            return memref::LoadOp::create(nested, loc, chunkTable,
                                          ValueRange{ivs.front(), col});
          };
          Value cls = field(0), position = field(1), offset = field(2),
                size = field(3);
          auto emitCall = [&](OpBuilder &inner, unsigned c) {
            auto type = cast<MemRefType>(classes[c].code.bufferType);
            unsigned tableIndex =
                abi.getTablePosition(classes[c].params.front()).first;
            SmallVector<Value> args =
                loadBuffers(inner, entry->getArgument(tableIndex), position,
                            type, offset, size);
            args.append(classScalars[c]);
            func::CallOp::create(inner, loc, callees[c], args);
          };
          if (flatClasses.size() == 1) {
            emitCall(nested, flatClasses.front());
            return;
          }
          SmallVector<int64_t> cases(flatClasses.begin(), flatClasses.end());
          auto dispatch = scf::IndexSwitchOp::create(
              nested, loc, TypeRange{}, cls, cases, cases.size());
          OpBuilder::InsertionGuard switchGuard(nested);
          nested.createBlock(&dispatch.getDefaultRegion());
          scf::YieldOp::create(nested, loc);
          for (auto [region, c] :
               llvm::zip(dispatch.getCaseRegions(), flatClasses)) {
            nested.createBlock(&region);
            emitCall(nested, c);
            scf::YieldOp::create(nested, loc);
          }
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
      if (failed(buildParamUpdate(b, loc, param, paramMemRef, indicesMemRef,
                                  gradMemRef, stateMemRefs, scalars)))
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
  SmallVector<std::pair<UpdateClass, func::FuncOp>> updateFunctions;
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
