//===- ScheduleStep.cpp - phases and chunk tables of a step ---------------===//
//
// Replaces the optim.multi_tensor_update ops of a step function by the code
// that runs them: in the per-buffer form, each parameter's update on its
// static types (a sparse parameter's in a function shared by its class);
// with buffer tables, a multi-tensor step (shared update functions over
// chunks of any size, one constant chunk table, a reduction phase and an
// update phase).
//
//===----------------------------------------------------------------------===//

#include "optim/Dialect/Optim/IR/Optim.h"
#include "optim/Dialect/Optim/Transforms/Passes.h"

#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/DenseMap.h"

#include <limits>

namespace mlir::optim {
#define GEN_PASS_DEF_OPTIMSCHEDULESTEP
#include "optim/Dialect/Optim/Transforms/Passes.h.inc"
} // namespace mlir::optim

using namespace mlir;
using namespace mlir::optim;

namespace {

/// How much of a parameter's update one emitted piece of code does (see
/// buildParamUpdate).
enum class Phase { Whole, Reduce, Apply };

/// The type sums (row sums, squared norms) over `element` are computed in.
Type getComputeType(Type element) {
  return element.isF64() ? element : Float32Type::get(element.getContext());
}

/// Emits the update of one parameter (or one chunk of it) of `update`'s
/// class on memrefs: to_tensor, decay -> centralize -> scale_grad ->
/// [unique] -> the rule's update, written back in place. `scalars` as
/// MultiTensorUpdateOp::getScalars orders them.
///
/// In `Phase::Reduce` it computes only what later chunks need from whole
/// rows or tensors and writes it out: the row sums of the (decayed)
/// gradient into `rowSums` (centralization), the rule's squared norms into
/// `normSums` (Lamb, LARS). In `Phase::Apply` it reads them back (`rowSums`
/// as a memref, `normSums` as a 1-D tensor of the tensor's summed norms)
/// and is elementwise, so that it may run on any chunk.
///
/// `workspace`: a whole-tensor rule's sums (row sums, column sums, row-state
/// sums), scratch buffers the update overwrites.
///
/// Mixed precision (docs/Mixed-precision.md): with `masterMemRef`, the rule
/// updates the f32 master in place of the parameter (with the gradient
/// widened to f32 and the states of their own type), and the parameter is
/// rewritten from the new master (`optim.round_to`); without, the states'
/// element type may still differ from the parameter's.
void buildParamUpdate(OpBuilder &b, Location loc, MultiTensorUpdateOp update,
                      Phase phase, Value paramMemRef, Value indicesMemRef,
                      Value gradMemRef, ValueRange stateMemRefs,
                      ValueRange scalars, Value rowSums = {},
                      Value normSums = {}, ValueRange workspace = {},
                      Value masterMemRef = {}) {
  MLIRContext *ctx = b.getContext();
  RuleAttr rule = update.getRule();
  const RuleSpec &spec = rule.getSpec();
  bool reduceOnly = phase == Phase::Reduce;
  bool sparse = update.getSparse();
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
  Value masterTensor =
      masterMemRef ? toTensor(masterMemRef, !reduceOnly) : Value();

  // Mixed precision: with a master or f32 states, the gradient is widened
  // to f32 first (an elementwise conversion that fuses into its users), so
  // that decay, centralization and unscaling round nothing and a scaled
  // float16 gradient cannot underflow when unscaled; the decay reads the
  // master when there is one.
  Value decayParam = paramTensor;
  auto paramElement =
      cast<RankedTensorType>(paramTensor.getType()).getElementType();
  Type wideElement = masterTensor
                         ? getElementTypeOrSelf(masterTensor.getType())
                         : update.getStateElementType();
  if ((paramElement.isF16() || paramElement.isBF16()) &&
      wideElement.isF32()) {
    auto widen = [&](Value tensor) -> Value {
      auto type = cast<RankedTensorType>(tensor.getType());
      SmallVector<Value> dynamicSizes;
      for (int64_t d = 0, e = type.getRank(); d < e; ++d)
        if (type.isDynamicDim(d))
          dynamicSizes.push_back(tensor::DimOp::create(b, loc, tensor, d));
      auto wide = type.clone(wideElement);
      Value empty = tensor::EmptyOp::create(b, loc, wide.getShape(),
                                            wideElement, dynamicSizes);
      return RoundToOp::create(b, loc, wide, tensor, empty);
    };
    grad = widen(grad);
    if (update.getDecayWeight())
      decayParam = masterTensor ? masterTensor : widen(paramTensor);
  }

  unsigned next = 0;
  Value lossScale = scalars[next++];
  // MindSpore's order: decay_weight -> centralize -> scale_grad.
  if (update.getDecayWeight())
    grad = DecayWeightOp::create(b, loc, grad.getType(), grad, decayParam,
                                 scalars[next++]);
  if (update.getCentralize()) {
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

  if (sparse && update.getUnique()) {
    auto indicesType = cast<RankedTensorType>(indices.getType());
    auto rowsType = cast<RankedTensorType>(grad.getType());
    auto unique =
        UniqueOp::create(b, loc, indicesType, rowsType, indices, grad);
    indices = unique.getUniqueIndices();
    grad = unique.getMergedValues();
  }

  auto addOptions = [&](OperationState &state) {
    for (const OptionSpec &option : spec.options)
      if (rule.getOption(option.name))
        state.addAttribute(option.name, UnitAttr::get(ctx));
  };
  if (reduceOnly) {
    if (!spec.perTensorNorms)
      return;
    OperationState state(loc, spec.normsOpName);
    state.addOperands({masterTensor ? masterTensor : paramTensor, grad});
    state.addOperands(stateTensors);
    state.addOperands(scalars.drop_front(next));
    auto paramType = cast<RankedTensorType>(paramTensor.getType());
    state.addTypes(RankedTensorType::get(
        {static_cast<int64_t>(spec.numNorms)},
        getComputeType(paramType.getElementType())));
    addOptions(state);
    writeBack(b.create(state)->getResult(0), normSums);
    return;
  }

  Value ruleParam = masterTensor ? masterTensor : paramTensor;
  SmallVector<Value> ruleStates(stateTensors);

  // A dense gradient of a sparse rule (LazyAdam) takes the dense form of
  // the rule (Adam), as MindSpore does; the scalars are the same.
  StringRef opName = spec.opName;
  if (spec.sparseGrad && !sparse)
    opName = getRuleSpec(RuleKind::Adam).opName;
  OperationState state(loc, opName);
  state.addOperands(ruleParam);
  if (sparse)
    state.addOperands(indices);
  state.addOperands(grad);
  state.addOperands(ruleStates);
  state.addOperands(scalars.drop_front(next));
  if (spec.perTensorNorms || spec.wholeTensor) {
    // Lamb and LARS: states and `norms` are variadic operand groups;
    // Adafactor: states and `workspace`.
    int32_t numScalars = scalars.size() - next;
    SmallVector<int32_t> segments = {1, 1,
                                     static_cast<int32_t>(stateTensors.size())};
    segments.append(numScalars, 1);
    if (spec.perTensorNorms) {
      if (normSums)
        state.addOperands(normSums);
      segments.push_back(normSums ? 1 : 0);
    }
    if (spec.wholeTensor) {
      for (Value buffer : workspace)
        state.addOperands(toTensor(buffer, /*writable=*/true));
      segments.push_back(workspace.size());
    }
    state.addAttribute("operandSegmentSizes",
                       DenseI32ArrayAttr::get(ctx, segments));
  }
  state.addTypes(ruleParam.getType());
  for (Value tensor : ruleStates)
    state.addTypes(tensor.getType());
  addOptions(state);
  Operation *ruleOp = b.create(state);

  if (masterTensor) {
    // The new master, and the parameter rounded from it: both in the
    // rule's loop once fused (optim-fuse-elementwise).
    Value rounded = RoundToOp::create(b, loc, paramTensor.getType(),
                                      ruleOp->getResult(0), paramTensor);
    writeBack(ruleOp->getResult(0), masterMemRef);
    writeBack(rounded, paramMemRef);
  } else {
    writeBack(ruleOp->getResult(0), paramMemRef);
  }
  for (auto [result, memref] :
       llvm::zip(ruleOp->getResults().drop_front(), stateMemRefs))
    writeBack(result, memref);
}

/// The per-buffer form's sparse update functions of one step function:
/// `@<prefix>_sparse_update_<k>`, one per class of sparse members, created
/// on first use after the step function. A function takes its member's
/// buffers (param, indices, rows, states) with a run-time row count, then
/// the member's scalars, and runs the member's whole update; the step calls
/// it once per member. Members whose code is the same (the update's
/// options, the scalars' types, the buffers' types but for the row count)
/// share one function, so that the step's code grows with the number of
/// classes, not with the number of sparse parameters.
class SparseUpdateFunctions {
public:
  explicit SparseUpdateFunctions(func::FuncOp step) : step(step) {
    StringRef name = step.getSymName();
    prefix = name.ends_with("_step") ? name.drop_back(5).str() : name.str();
  }

  /// Replaces the sparse per-buffer `update` (one member) by a call of its
  /// class's function.
  void expand(OpBuilder &b, MultiTensorUpdateOp update) {
    b.setInsertionPoint(update);
    Location loc = update.getLoc();
    SmallVector<Value> args;
    for (Value buffer : update.getBuffers()) {
      auto type = getRowGenericType(cast<MemRefType>(buffer.getType()));
      args.push_back(type == buffer.getType()
                         ? buffer
                         : memref::CastOp::create(b, loc, type, buffer)
                               .getResult());
    }
    llvm::append_range(args, update.getScalars());
    func::CallOp::create(b, loc, getOrCreate(b, update, ValueRange(args)),
                         args);
    update.erase();
  }

private:
  /// What decides the code of a function: members with the same key share
  /// it.
  struct Key {
    SmallVector<Type> argTypes;
    bool decay;
    bool centralize;
    bool unique;
    Type stateType;
    bool operator==(const Key &other) const {
      return argTypes == other.argTypes && decay == other.decay &&
             centralize == other.centralize && unique == other.unique &&
             stateType == other.stateType;
    }
  };

  /// `type` with a run-time first dimension (the row count): tables of
  /// any number of rows share a function; the row length stays static.
  static MemRefType getRowGenericType(MemRefType type) {
    if (type.getRank() == 0 || type.isDynamicDim(0))
      return type;
    SmallVector<int64_t> shape(type.getShape());
    shape[0] = ShapedType::kDynamic;
    return MemRefType::get(shape, type.getElementType());
  }

  func::FuncOp getOrCreate(OpBuilder &b, MultiTensorUpdateOp update,
                           ValueRange args) {
    Key key{llvm::to_vector(args.getTypes()),
            static_cast<bool>(update.getDecayWeight()),
            update.getCentralize(), update.getUnique(),
            update.getStateElementType()};
    for (auto &[existing, fn] : functions)
      if (existing == key)
        return fn;
    MLIRContext *ctx = b.getContext();
    Location loc = update.getLoc();
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointAfter(functions.empty()
                                 ? step.getOperation()
                                 : functions.back().second.getOperation());
    auto fn = func::FuncOp::create(
        b, loc, (prefix + "_sparse_update_" + Twine(functions.size())).str(),
        FunctionType::get(ctx, key.argTypes, {}));
    fn.setPrivate();
    // Compiled once and called per member: keep LLVM from inlining it back
    // into every call site.
    fn->setAttr("passthrough",
                ArrayAttr::get(ctx, {StringAttr::get(ctx, "noinline")}));
    Block *entry = fn.addEntryBlock();
    b.setInsertionPointToStart(entry);
    ValueRange buffers =
        entry->getArguments().take_front(update.getBuffers().size());
    unsigned numStates = buffers.size() - 3;
    buildParamUpdate(b, loc, update, Phase::Whole, buffers[0], buffers[1],
                     buffers[2], buffers.slice(3, numStates),
                     entry->getArguments().drop_front(buffers.size()));
    func::ReturnOp::create(b, loc);
    functions.push_back({std::move(key), fn});
    return fn;
  }

  func::FuncOp step;
  std::string prefix;
  SmallVector<std::pair<Key, func::FuncOp>> functions;
};

/// The per-buffer form: each member's whole update, on its static types;
/// a sparse member's in its class's function (SparseUpdateFunctions).
void expandPerBuffer(OpBuilder &b, MultiTensorUpdateOp update,
                     SparseUpdateFunctions &sparseFunctions) {
  if (update.getSparse() && update.getParamTypes().size() == 1)
    return sparseFunctions.expand(b, update);
  b.setInsertionPoint(update);
  unsigned perParam = update.getNumBuffersPerParam();
  unsigned numStates = perParam - (update.getSparse() ? 3 : 2);
  SmallVector<Value> scalars = update.getScalars();
  for (unsigned i = 0, e = update.getParamTypes().size(); i < e; ++i) {
    ValueRange buffers = update.getBuffers().slice(i * perParam, perParam);
    unsigned next = 0;
    Value param = buffers[next++];
    Value indices = update.getSparse() ? buffers[next++] : Value();
    Value grad = buffers[next++];
    buildParamUpdate(b, update.getLoc(), update, Phase::Whole, param, indices,
                     grad, buffers.slice(next, numStates), scalars);
  }
  update.erase();
}

/// The multi-tensor step of one function's buffer-table updates.
class TableStepScheduler {
public:
  TableStepScheduler(func::FuncOp step, ArrayRef<MultiTensorUpdateOp> classes,
                     GradientControlOp control, int64_t chunkSize)
      : step(step), classes(classes.begin(), classes.end()), control(control),
        chunkSize(std::max<int64_t>(1, chunkSize)),
        rule(MultiTensorUpdateOp(classes.front()).getRule()), spec(rule.getSpec()) {
    StringRef name = step.getSymName();
    prefix = name.ends_with("_step") ? name.drop_back(5).str() : name.str();
    activeStates = spec.getActiveStates(
        [&](StringRef option) { return rule.getOption(option); });
  }

  LogicalResult run();

private:
  /// What decides the code of a class's functions: classes with the same
  /// key share them.
  struct UpdateKey {
    Type bufferType; // the functions' memref type
    bool decay;      // decay_weight before unscaling
    bool centralize;
    Type stateType;  // the states' element type
    Type masterType; // the master's (null without one)
    bool operator==(const UpdateKey &other) const {
      return bufferType == other.bufferType && decay == other.decay &&
             centralize == other.centralize &&
             stateType == other.stateType && masterType == other.masterType;
    }
  };

  /// The memref type a shared update function takes for a class: a chunk
  /// of a flat buffer (any offset, any length), or for centralization a
  /// chunk of whole rows viewed as (rows, cols), cols being the product of
  /// the other dimensions. Never a static size: one function serves every
  /// shape.
  static MemRefType getSharedBufferType(MultiTensorUpdateOp update) {
    MLIRContext *ctx = update.getContext();
    Type element = update.getParamTensorTypes().front().getElementType();
    if (update.getCentralize())
      return MemRefType::get(
          {ShapedType::kDynamic, ShapedType::kDynamic}, element,
          StridedLayoutAttr::get(ctx, ShapedType::kDynamic,
                                 {ShapedType::kDynamic, 1}));
    return MemRefType::get(
        {ShapedType::kDynamic}, element,
        StridedLayoutAttr::get(ctx, ShapedType::kDynamic, {1}));
  }

  /// The memref types of the shared functions' buffers: param, grad,
  /// states. A whole-tensor rule takes the parameter as (B, R, C) and each
  /// state as its shape kind gives ((B, R), (B, C) or (B, R, C)).
  ///
  /// Mixed precision: the states of their element type, then the master.
  SmallVector<MemRefType> getSharedBufferTypes(MultiTensorUpdateOp update) {
    MemRefType type = getSharedBufferType(update);
    if (!spec.wholeTensor) {
      SmallVector<MemRefType> types(2, type);
      auto stateType =
          cast<MemRefType>(type.clone(update.getStateElementType()));
      types.append(activeStates.size(), stateType);
      if (std::optional<Type> master = update.getMasterType())
        types.push_back(cast<MemRefType>(type.clone(*master)));
      return types;
    }
    MLIRContext *ctx = update.getContext();
    int64_t dyn = ShapedType::kDynamic;
    auto view = [&](unsigned rank) {
      SmallVector<int64_t> strides(rank, dyn);
      strides.back() = 1;
      return MemRefType::get(SmallVector<int64_t>(rank, dyn),
                             type.getElementType(),
                             StridedLayoutAttr::get(ctx, dyn, strides));
    };
    SmallVector<MemRefType> types(2, view(3));
    for (const StateSpec *state : activeStates)
      types.push_back(view(state->shape == StateShape::Param ? 3 : 2));
    return types;
  }

  static UpdateKey getKey(MultiTensorUpdateOp update) {
    return {getSharedBufferType(update),
            static_cast<bool>(update.getDecayWeight()),
            update.getCentralize(), update.getStateElementType(),
            update.getMasterType() ? *update.getMasterType() : Type()};
  }

  bool needsReduction(MultiTensorUpdateOp update) const {
    return update.getCentralize() || spec.perTensorNorms;
  }

  static Type getClassComputeType(MultiTensorUpdateOp update) {
    return getComputeType(
        update.getParamTensorTypes().front().getElementType());
  }

  /// A whole-tensor rule's workspace in the scratch table: its row sums
  /// (B, R), column sums (B, C) and row-state sums (B).
  static SmallVector<Type> getWorkspaceTypes(Type computeType) {
    MLIRContext *ctx = computeType.getContext();
    int64_t dyn = ShapedType::kDynamic;
    auto matrix = MemRefType::get({dyn, dyn}, computeType,
                                  StridedLayoutAttr::get(ctx, dyn, {dyn, 1}));
    return {matrix, matrix, getScratchSliceType(computeType, dyn)};
  }

  /// A 1-D slice of the scratch table.
  static MemRefType getScratchSliceType(Type computeType, int64_t size) {
    MLIRContext *ctx = computeType.getContext();
    return MemRefType::get({size}, computeType,
                           StridedLayoutAttr::get(ctx, ShapedType::kDynamic,
                                                  {1}));
  }

  func::FuncOp getOrCreateFunction(OpBuilder &b, MultiTensorUpdateOp update,
                                   Phase phase);

  /// The squared norm of a chunk of gradients of element type `element`,
  /// written to a one-element slice of the f64 scratch table.
  func::FuncOp getOrCreateGradNormFunction(OpBuilder &b, Type element);
  /// The functions GradientControlOp runs once per step, on one thread.
  func::FuncOp createCombineFunction(OpBuilder &b, int64_t firstPartial,
                                     int64_t numPartials);
  func::FuncOp createScaleUpdateFunction(OpBuilder &b);
  /// A private, noinline function named `name` after the step, with its
  /// entry block as the insertion point of `b`.
  func::FuncOp createHelperFunction(OpBuilder &b, StringRef name,
                                    TypeRange argTypes, bool singleThread);

  func::FuncOp step;
  SmallVector<MultiTensorUpdateOp> classes;
  GradientControlOp control;
  llvm::SmallDenseMap<Type, func::FuncOp> gradNormFns;
  int64_t chunkSize;
  RuleAttr rule;
  const RuleSpec &spec;
  SmallVector<const StateSpec *> activeStates;
  std::string prefix;
  unsigned numStates = 0;
  int64_t scratchF64Size = 0;
  /// The functions go after the step function, before this op (null: at
  /// the end of the module).
  Operation *afterStep = nullptr;
  SmallVector<std::tuple<UpdateKey, Phase, func::FuncOp>> functions;
};

/// The shared function of `update`'s class for `phase`, created on first
/// use: `@<prefix>_update_<k>` (Phase::Apply) or `@<prefix>_reduce_<k>`
/// (Phase::Reduce). Arguments: param, grad, states (getSharedBufferType),
/// the scalars, then for reduction classes the row sums (a scratch slice,
/// written by Reduce, read by Apply) and the norms (Reduce: a scratch slice
/// of this chunk's partial sums; Apply: the tensor's sums as scalars).
func::FuncOp TableStepScheduler::getOrCreateFunction(OpBuilder &b,
                                                     MultiTensorUpdateOp update,
                                                     Phase phase) {
  UpdateKey key = getKey(update);
  for (auto &[existing, existingPhase, fn] : functions)
    if (existing == key && existingPhase == phase)
      return fn;
  MLIRContext *ctx = b.getContext();
  Location loc = update.getLoc();
  Type computeType = getClassComputeType(update);
  SmallVector<Value> scalars = update.getScalars();
  SmallVector<Type> argTypes;
  for (MemRefType type : getSharedBufferTypes(update))
    argTypes.push_back(type);
  for (Value scalar : scalars)
    argTypes.push_back(scalar.getType());
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
  if (spec.wholeTensor)
    llvm::append_range(argTypes, getWorkspaceTypes(computeType));
  OpBuilder::InsertionGuard guard(b);
  if (afterStep)
    b.setInsertionPoint(afterStep);
  else
    b.setInsertionPointToEnd(step->getBlock());
  unsigned index = llvm::count_if(functions, [&](const auto &entry) {
    return std::get<1>(entry) == phase;
  });
  std::string name =
      (prefix + (phase == Phase::Reduce ? "_reduce_" : "_update_") +
       Twine(index))
          .str();
  auto fn =
      func::FuncOp::create(b, loc, name, FunctionType::get(ctx, argTypes, {}));
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
  bool hasMaster = static_cast<bool>(update.getMasterType());
  unsigned numBuffers = 2 + numStates + hasMaster;
  unsigned extra = numBuffers + scalars.size();
  Value rowSums = hasRowSums ? args[extra++] : Value();
  Value normSums;
  if (hasNorms && phase == Phase::Reduce) {
    normSums = args[extra];
  } else if (hasNorms) {
    auto type = RankedTensorType::get({static_cast<int64_t>(spec.numNorms)},
                                      computeType);
    normSums =
        tensor::FromElementsOp::create(b, loc, type, args.drop_front(extra));
  }
  buildParamUpdate(b, loc, update, phase, args[0], Value(), args[1],
                   args.slice(2, numStates),
                   args.slice(numBuffers, scalars.size()), rowSums,
                   normSums,
                   spec.wholeTensor ? args.take_back(3) : ValueRange(),
                   hasMaster ? args[2 + numStates] : Value());
  func::ReturnOp::create(b, loc);
  functions.push_back({key, phase, fn});
  return fn;
}

func::FuncOp TableStepScheduler::createHelperFunction(OpBuilder &b,
                                                      StringRef name,
                                                      TypeRange argTypes,
                                                      bool singleThread) {
  MLIRContext *ctx = b.getContext();
  if (afterStep)
    b.setInsertionPoint(afterStep);
  else
    b.setInsertionPointToEnd(step->getBlock());
  auto fn = func::FuncOp::create(b, step.getLoc(), (prefix + "_" + name).str(),
                                 FunctionType::get(ctx, argTypes, {}));
  fn.setPrivate();
  fn->setAttr("passthrough",
              ArrayAttr::get(ctx, {StringAttr::get(ctx, "noinline")}));
  fn->setAttr(OptimDialect::SequentialAttrHelper::getNameStr(),
              UnitAttr::get(ctx));
  if (singleThread)
    fn->setAttr(OptimDialect::SingleThreadAttrHelper::getNameStr(),
                UnitAttr::get(ctx));
  b.setInsertionPointToStart(fn.addEntryBlock());
  return fn;
}

func::FuncOp TableStepScheduler::getOrCreateGradNormFunction(OpBuilder &b,
                                                             Type element) {
  func::FuncOp &fn = gradNormFns[element];
  if (fn)
    return fn;
  MLIRContext *ctx = b.getContext();
  Location loc = step.getLoc();
  OpBuilder::InsertionGuard guard(b);
  int64_t dyn = ShapedType::kDynamic;
  auto gradType = MemRefType::get({dyn}, element,
                                  StridedLayoutAttr::get(ctx, dyn, {1}));
  auto outType = MemRefType::get({1}, b.getF64Type(),
                                 StridedLayoutAttr::get(ctx, dyn, {1}));
  fn = createHelperFunction(
      b, ("grad_norm_" + Twine(gradNormFns.size() - 1)).str(),
      {gradType, outType}, /*singleThread=*/false);
  Value grad = bufferization::ToTensorOp::create(
      b, loc, RankedTensorType::get({dyn}, element), fn.getArgument(0),
      /*restrict=*/true, /*writable=*/false);
  Value sum = SquaredNormOp::create(
      b, loc, RankedTensorType::get({1}, b.getF64Type()), grad);
  bufferization::MaterializeInDestinationOp::create(
      b, loc, TypeRange{}, sum, fn.getArgument(1), /*restrict=*/true,
      /*writable=*/true);
  func::ReturnOp::create(b, loc);
  return fn;
}

/// @<prefix>_combine(%status, %loss_scale[, %max_grad_norm]): adds up the
/// chunks' squared norms in chunk order (deterministic) and writes the
/// found-inf flag, the norm of the unscaled gradients and the clip factor
/// `max(1, (norm + 1e-6) / max_grad_norm)` (torch's clip_grad_norm_: the
/// gradients are multiplied by its inverse).
func::FuncOp TableStepScheduler::createCombineFunction(OpBuilder &b,
                                                       int64_t firstPartial,
                                                       int64_t numPartials) {
  OpBuilder::InsertionGuard guard(b);
  Location loc = step.getLoc();
  Type f64 = b.getF64Type();
  SmallVector<Type> argTypes = {control.getStatus().getType(), f64};
  if (control.getMaxGradNorm())
    argTypes.push_back(f64);
  func::FuncOp fn =
      createHelperFunction(b, "combine", argTypes, /*singleThread=*/true);
  Value status = fn.getArgument(0), lossScale = fn.getArgument(1);
  auto scratchType = MemRefType::get({scratchF64Size}, f64);
  Value scratch = memref::GetGlobalOp::create(
      b, loc, scratchType,
      FlatSymbolRefAttr::get(b.getContext(), prefix + "_scratch_f64"));
  auto index = [&](int64_t i) {
    return arith::ConstantIndexOp::create(b, loc, i);
  };
  auto constant = [&](double x) {
    return arith::ConstantOp::create(b, loc, b.getF64FloatAttr(x));
  };
  auto loop = scf::ForOp::create(
      b, loc, index(firstPartial), index(firstPartial + numPartials),
      index(1), ValueRange{constant(0.0)},
      [&](OpBuilder &inner, Location, Value i, ValueRange sum) {
        Value partial =
            memref::LoadOp::create(inner, loc, scratch, ValueRange{i});
        scf::YieldOp::create(
            inner, loc,
            ValueRange{arith::AddFOp::create(inner, loc, sum[0], partial)});
      });
  Value sum = loop.getResult(0);
  Value finite = arith::CmpFOp::create(
      b, loc, arith::CmpFPredicate::OLT, math::AbsFOp::create(b, loc, sum),
      constant(std::numeric_limits<double>::infinity()));
  Value found =
      arith::SelectOp::create(b, loc, finite, constant(0.0), constant(1.0));
  Value norm = arith::DivFOp::create(
      b, loc, math::SqrtOp::create(b, loc, sum), lossScale);
  Value factor = constant(1.0);
  if (control.getMaxGradNorm())
    factor = arith::MaximumFOp::create(
        b, loc, factor,
        arith::DivFOp::create(
            b, loc, arith::AddFOp::create(b, loc, norm, constant(1e-6)),
            fn.getArgument(2)));
  memref::StoreOp::create(b, loc, found, status,
                          ValueRange{index(GradientControlOp::kStatusFoundInf)});
  memref::StoreOp::create(b, loc, norm, status,
                          ValueRange{index(GradientControlOp::kStatusGradNorm)});
  memref::StoreOp::create(
      b, loc, factor, status,
      ValueRange{index(GradientControlOp::kStatusClipFactor)});
  func::ReturnOp::create(b, loc);
  return fn;
}

/// @<prefix>_update_loss_scale(%status, %growth, %backoff, %interval,
/// %min): torch's GradScaler update (and MindSpore's update cell): on an
/// inf, `scale = max(scale * backoff, min)` and no clean steps; else one
/// more clean step, and after `interval` of them `scale *= growth` (kept
/// when the product would not be finite) and the count restarts.
func::FuncOp TableStepScheduler::createScaleUpdateFunction(OpBuilder &b) {
  OpBuilder::InsertionGuard guard(b);
  Location loc = step.getLoc();
  Type f64 = b.getF64Type();
  func::FuncOp fn = createHelperFunction(
      b, "update_loss_scale",
      {control.getStatus().getType(), f64, f64, f64, f64},
      /*singleThread=*/true);
  Value status = fn.getArgument(0);
  auto index = [&](int64_t i) {
    return arith::ConstantIndexOp::create(b, loc, i);
  };
  auto constant = [&](double x) {
    return arith::ConstantOp::create(b, loc, b.getF64FloatAttr(x));
  };
  auto load = [&](int64_t slot) {
    return memref::LoadOp::create(b, loc, status, ValueRange{index(slot)});
  };
  Value scale = load(GradientControlOp::kStatusLossScale);
  Value good = load(GradientControlOp::kStatusGoodSteps);
  Value found = arith::CmpFOp::create(
      b, loc, arith::CmpFPredicate::UNE,
      load(GradientControlOp::kStatusFoundInf), constant(0.0));
  Value backedOff = arith::MaximumFOp::create(
      b, loc, arith::MulFOp::create(b, loc, scale, fn.getArgument(2)),
      fn.getArgument(4));
  Value clean = arith::AddFOp::create(b, loc, good, constant(1.0));
  Value grow = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGE, clean,
                                     fn.getArgument(3));
  Value grown = arith::MulFOp::create(b, loc, scale, fn.getArgument(1));
  Value grownFinite = arith::CmpFOp::create(
      b, loc, arith::CmpFPredicate::OLT, math::AbsFOp::create(b, loc, grown),
      constant(std::numeric_limits<double>::infinity()));
  Value afterClean = arith::SelectOp::create(
      b, loc, grow,
      arith::SelectOp::create(b, loc, grownFinite, grown, scale), scale);
  Value newScale =
      arith::SelectOp::create(b, loc, found, backedOff, afterClean);
  Value newGood = arith::SelectOp::create(
      b, loc, found, constant(0.0),
      arith::SelectOp::create(b, loc, grow, constant(0.0), clean));
  memref::StoreOp::create(
      b, loc, newScale, status,
      ValueRange{index(GradientControlOp::kStatusLossScale)});
  memref::StoreOp::create(
      b, loc, newGood, status,
      ValueRange{index(GradientControlOp::kStatusGoodSteps)});
  func::ReturnOp::create(b, loc);
  return fn;
}

/// Columns of a row of the chunk table.
enum ChunkColumn : int64_t {
  kClass,        // index of the class (its shared functions)
  kPosition,     // the parameter's first entry in its buffer table
  kAuxPosition,  // its first entry in the auxiliary (f32) table, else 0
  kOffset,       // first element of the chunk in the flat buffer
  kSize,         // elements in the chunk
  kCols,         // row length (centralized classes; else 1)
  kRowSlot,      // scratch index of the chunk's first row sum
  kPartialSlot,  // scratch index of the chunk's partial norm sums
  kFirstPartial, // scratch index of the tensor's first chunk's sums
  kNumPartials,  // chunks of the tensor (partial sums to add up)
  kSliceRows,    // whole-tensor rules: R of the (B, R, C) view; else 0
  kSliceCols,    // whole-tensor rules: C of the (B, R, C) view; else 0
  kNumColumns
};

/// Every parameter is cut into chunks of at most `chunk-size` elements
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
LogicalResult TableStepScheduler::run() {
  MLIRContext *ctx = step.getContext();
  MultiTensorUpdateOp firstClass = classes.front();
  Location loc = firstClass.getLoc();
  numStates = firstClass.getNumBuffersPerParam() - 2;
  afterStep = step->getNextNode();
  OpBuilder b(ctx);
  // After the scalars of every class.
  b.setInsertionPoint(classes.back());

  // Functions of each class.
  SmallVector<func::FuncOp> updateFns, reduceFns;
  for (MultiTensorUpdateOp update : classes) {
    updateFns.push_back(getOrCreateFunction(b, update, Phase::Apply));
    reduceFns.push_back(needsReduction(update)
                            ? getOrCreateFunction(b, update, Phase::Reduce)
                            : func::FuncOp());
  }

  // The chunk table and the scratch layout (one scratch table per compute
  // type: row sums first, then partial norm sums).
  SmallVector<int64_t> chunks;
  llvm::SmallDenseMap<Type, int64_t> scratchSize;
  int64_t numReductionChunks = 0;
  int64_t numChunkRows = 0;
  auto addChunks = [&](unsigned c, bool reduction) -> LogicalResult {
    MultiTensorUpdateOp update = classes[c];
    SmallVector<int64_t> auxPositions(update.getParamTypes().size(), 0);
    if (std::optional<ArrayRef<int64_t>> aux = update.getAuxPositions())
      auxPositions.assign(aux->begin(), aux->end());
    for (auto [type, position, auxPosition] :
         llvm::zip(update.getParamTensorTypes(), *update.getPositions(),
                   auxPositions)) {
      std::optional<int64_t> numElements =
          getCheckedNumElements(type.getShape());
      if (!numElements || *numElements > kMaxParamElements)
        return update.emitOpError("parameter of type ")
               << type << " has no static element count of at most 2^48";
      int64_t size = *numElements;
      if (size == 0)
        continue; // nothing to update, nothing to reduce
      int64_t &scratch = scratchSize[getComputeType(type.getElementType())];
      int64_t cols = 1, partSize = chunkSize;
      std::optional<int64_t> rowBase;
      if (update.getCentralize())
        cols = size / type.getDimSize(0);
      if (reduction && update.getCentralize()) {
        partSize = std::max<int64_t>(1, chunkSize / cols) * cols;
        rowBase = scratch;
        scratch += type.getDimSize(0);
      }
      // A whole-tensor rule: one chunk, its (B, R, C) view, and its
      // workspace (B * R + B * C + B sums) at the row slot.
      int64_t sliceRows = 0, sliceCols = 0;
      if (spec.wholeTensor) {
        partSize = size;
        int64_t rank = type.getRank();
        sliceRows = rank >= 2 ? type.getDimSize(rank - 2) : 1;
        sliceCols = rank >= 1 ? type.getDimSize(rank - 1) : 1;
        int64_t slices = size / (sliceRows * sliceCols);
        rowBase = scratch;
        scratch += slices * (sliceRows + sliceCols + 1);
      }
      int64_t numParts = llvm::divideCeil(size, partSize);
      // The chunk table is materialized as a constant: bound its rows
      // before building any.
      numChunkRows += numParts;
      if (numChunkRows > kMaxChunks)
        return update.emitOpError("cuts its step into more than 2^20 (")
               << kMaxChunks << ") chunks of at most " << chunkSize
               << " elements; raise 'chunk-size' or split the optimizer";
      int64_t firstPartial = 0, numPartials = 0;
      if (reduction && spec.perTensorNorms) {
        firstPartial = scratch;
        numPartials = numParts;
        scratch += numParts * spec.numNorms;
      }
      for (int64_t part = 0; part < numParts; ++part) {
        int64_t offset = part * partSize;
        chunks.append({static_cast<int64_t>(c), position, auxPosition, offset,
                       std::min<int64_t>(partSize, size - offset), cols,
                       rowBase ? *rowBase + offset / cols : 0,
                       numPartials ? firstPartial + part * spec.numNorms : 0,
                       firstPartial, numPartials, sliceRows, sliceCols});
        numReductionChunks += reduction;
      }
    }
    return success();
  };
  for (unsigned c = 0, e = classes.size(); c < e; ++c)
    if (needsReduction(classes[c]) &&
        failed(addChunks(c, /*reduction=*/true)))
      return failure();
  for (unsigned c = 0, e = classes.size(); c < e; ++c)
    if (!needsReduction(classes[c]) &&
        failed(addChunks(c, /*reduction=*/false)))
      return failure();
  if (chunks.empty()) {
    for (MultiTensorUpdateOp update : classes)
      update.erase();
    if (control)
      control.erase();
    return success();
  }
  int64_t numChunks = chunks.size() / kNumColumns;
  // GradientControlOp: one squared gradient norm per chunk, in f64.
  int64_t gradPartialBase = 0;
  if (control) {
    int64_t &scratch = scratchSize[b.getF64Type()];
    gradPartialBase = scratch;
    scratch += numChunks;
  }
  scratchF64Size = scratchSize.lookup(b.getF64Type());

  auto createGlobal = [&](StringRef suffix, MemRefType type,
                          Attribute initialValue, bool constant) -> Value {
    std::string name = (prefix + "_" + suffix).str();
    {
      OpBuilder::InsertionGuard globalGuard(b);
      if (afterStep)
        b.setInsertionPoint(afterStep);
      else
        b.setInsertionPointToEnd(step->getBlock());
      memref::GlobalOp::create(b, loc, name, b.getStringAttr("private"), type,
                               initialValue, constant,
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
    std::string suffix = computeType.isF64() ? "scratch_f64" : "scratch_f32";
    scratchTables[computeType] =
        createGlobal(suffix, MemRefType::get({size}, computeType),
                     UnitAttr::get(ctx), /*constant=*/false);
  }

  // Loads the entries of a parameter from its first entry `position` of
  // `update`'s buffer table (param, grad, the states of the parameter's
  // type) and `auxPosition` of its auxiliary table (f32 states, master),
  // each viewed as `types[j]` over its chunk.
  // (A whole-tensor rule's buffers are whole tensors viewed as (B, R, C),
  // (B, R) or (B, C), B = size / (R * C).)
  using FieldFn = function_ref<Value(int64_t)>;
  auto loadBuffers = [&](OpBuilder &nested, MultiTensorUpdateOp update,
                         Value position, Value auxPosition,
                         ArrayRef<MemRefType> types, Value offset, Value size,
                         Value cols, FieldFn field) {
    Type element = update.getParamTensorTypes().front().getElementType();
    bool auxStates = update.getStateElementType() != element;
    OpFoldResult one = nested.getIndexAttr(1);
    SmallVector<OpFoldResult> sizes = {size}, strides = {one};
    if (types.front().getRank() == 2 && !spec.wholeTensor) {
      sizes = {arith::DivUIOp::create(nested, loc, size, cols).getResult(),
               cols};
      strides = {cols, one};
    }
    Value sliceRows, sliceCols;
    if (spec.wholeTensor) {
      sliceRows = field(kSliceRows);
      sliceCols = field(kSliceCols);
      Value sliceSize = arith::MulIOp::create(nested, loc, sliceRows, sliceCols);
      Value slices = arith::DivUIOp::create(nested, loc, size, sliceSize);
      sizes = {slices, sliceRows, sliceCols};
      strides = {sliceSize, sliceCols, one};
    }
    SmallVector<Value> buffers;
    unsigned nextMain = 0, nextAux = 0;
    for (unsigned j = 0, e = types.size(); j < e; ++j) {
      bool isState = j >= 2 && j < 2 + numStates;
      bool inAux = j >= 2 && (!isState || auxStates);
      Value table = inAux ? update.getAuxTable() : update.getBuffers().front();
      Value index = arith::AddIOp::create(
          nested, loc, inAux ? auxPosition : position,
          arith::ConstantIndexOp::create(nested, loc,
                                         inAux ? nextAux++ : nextMain++));
      Value buffer =
          memref::LoadOp::create(nested, loc, table, ValueRange{index});
      SmallVector<OpFoldResult> entrySizes = sizes, entryStrides = strides;
      StateShape shape =
          isState ? activeStates[j - 2]->shape : StateShape::Param;
      if (shape == StateShape::FactoredRows) {
        entrySizes = {sizes[0], sliceRows};
        entryStrides = {sliceRows, one};
      } else if (shape == StateShape::FactoredCols) {
        entrySizes = {sizes[0], sliceCols};
        entryStrides = {sliceCols, one};
      }
      buffers.push_back(memref::ReinterpretCastOp::create(
          nested, loc, types[j], buffer, OpFoldResult(offset), entrySizes,
          entryStrides));
    }
    return buffers;
  };

  // One parallel loop over chunks [0, count), dispatching on the class to
  // `emit(builder, class, fields)` for the classes in `cases`.
  Value currentChunk; // the chunk index inside emitPhase's loop
  auto emitPhase = [&](int64_t count, ArrayRef<unsigned> cases,
                       function_ref<void(OpBuilder &, unsigned, FieldFn)>
                           emit) {
    Value zero = arith::ConstantIndexOp::create(b, loc, 0);
    Value one = arith::ConstantIndexOp::create(b, loc, 1);
    Value upper = arith::ConstantIndexOp::create(b, loc, count);
    scf::ParallelOp::create(
        b, loc, ValueRange{zero}, ValueRange{upper}, ValueRange{one},
        [&](OpBuilder &nested, Location, ValueRange ivs) {
          currentChunk = ivs.front();
          auto field = [&](int64_t column) -> Value {
            Value col = arith::ConstantIndexOp::create(nested, loc, column);
            return memref::LoadOp::create(nested, loc, chunkTable,
                                          ValueRange{ivs.front(), col});
          };
          if (cases.size() == 1) {
            emit(nested, cases.front(), field);
            return;
          }
          SmallVector<int64_t> values(cases.begin(), cases.end());
          auto dispatch = scf::IndexSwitchOp::create(
              nested, loc, TypeRange{}, field(kClass), values, values.size());
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
    MultiTensorUpdateOp update = classes[c];
    return loadBuffers(nested, update, field(kPosition), field(kAuxPosition),
                       getSharedBufferTypes(update), field(kOffset),
                       field(kSize), field(kCols), field);
  };
  auto scratchSlice = [&](OpBuilder &nested, unsigned c, Value offset,
                          OpFoldResult size) -> Value {
    Type computeType = getClassComputeType(classes[c]);
    MemRefType type = getScratchSliceType(
        computeType, isa<Attribute>(size) ? *getConstantIntValue(size)
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

  // A whole-tensor rule's workspace: (B, R), (B, C) and (B) views of the
  // scratch table from the chunk's row slot.
  auto workspace = [&](OpBuilder &nested, unsigned c, FieldFn field) {
    Type computeType = getClassComputeType(classes[c]);
    Value scratch = scratchTables.lookup(computeType);
    SmallVector<Type> types = getWorkspaceTypes(computeType);
    Value rows = field(kSliceRows), cols = field(kSliceCols);
    Value sliceSize = arith::MulIOp::create(nested, loc, rows, cols);
    Value slices = arith::DivUIOp::create(nested, loc, field(kSize), sliceSize);
    Value rowSumsBase = field(kRowSlot);
    Value numRowSums = arith::MulIOp::create(nested, loc, slices, rows);
    Value colSumsBase = arith::AddIOp::create(nested, loc, rowSumsBase, numRowSums);
    Value numColSums = arith::MulIOp::create(nested, loc, slices, cols);
    Value sliceSumsBase =
        arith::AddIOp::create(nested, loc, colSumsBase, numColSums);
    OpFoldResult one = nested.getIndexAttr(1);
    auto view = [&](Type type, Value offset, ArrayRef<OpFoldResult> sizes,
                    ArrayRef<OpFoldResult> strides) -> Value {
      return memref::ReinterpretCastOp::create(
          nested, loc, cast<MemRefType>(type), scratch, offset, sizes,
          strides);
    };
    return SmallVector<Value>{
        view(types[0], rowSumsBase, {slices, rows}, {rows, one}),
        view(types[1], colSumsBase, {slices, cols}, {cols, one}),
        view(types[2], sliceSumsBase, {slices}, {one})};
  };

  // In the update phase, the squared norms of a chunk's tensor: the sum of
  // the partial sums of all its chunks, in chunk order (every chunk of the
  // tensor adds the same numbers in the same order, so all see the same
  // norms).
  auto tensorNormSums = [&](OpBuilder &nested, unsigned c, FieldFn field) {
    Type computeType = getClassComputeType(classes[c]);
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
                inner, loc, base, arith::ConstantIndexOp::create(inner, loc, k));
            Value partial =
                memref::LoadOp::create(inner, loc, scratch, ValueRange{index});
            next.push_back(arith::AddFOp::create(inner, loc, sums[k], partial));
          }
          scf::YieldOp::create(inner, loc, next);
        });
    return llvm::to_vector_of<Value>(loop.getResults());
  };

  SmallVector<unsigned> reductionClasses, allClasses;
  for (unsigned c = 0, e = classes.size(); c < e; ++c) {
    allClasses.push_back(c);
    if (needsReduction(classes[c]))
      reductionClasses.push_back(c);
  }

  // GradientControlOp, first: every chunk's squared gradient norm, then
  // their combine on one thread.
  auto statusSlot = [&](OpBuilder &nested, int64_t slot) -> Value {
    return memref::LoadOp::create(
        nested, loc, control.getStatus(),
        ValueRange{arith::ConstantIndexOp::create(nested, loc, slot)});
  };
  if (control) {
    emitPhase(numChunks, allClasses,
              [&](OpBuilder &nested, unsigned c, FieldFn field) {
                MultiTensorUpdateOp update = classes[c];
                Type element =
                    update.getParamTensorTypes().front().getElementType();
                func::FuncOp fn = getOrCreateGradNormFunction(b, element);
                Value gradIndex = arith::AddIOp::create(
                    nested, loc, field(kPosition),
                    arith::ConstantIndexOp::create(nested, loc, 1));
                Value buffer = memref::LoadOp::create(
                    nested, loc, update.getBuffers().front(),
                    ValueRange{gradIndex});
                OpFoldResult one = nested.getIndexAttr(1);
                Value grad = memref::ReinterpretCastOp::create(
                    nested, loc,
                    cast<MemRefType>(fn.getArgumentTypes().front()), buffer,
                    OpFoldResult(field(kOffset)),
                    ArrayRef<OpFoldResult>{field(kSize)},
                    ArrayRef<OpFoldResult>{one});
                Value slot = arith::AddIOp::create(
                    nested, loc, currentChunk,
                    arith::ConstantIndexOp::create(nested, loc,
                                                   gradPartialBase));
                Value out = memref::ReinterpretCastOp::create(
                    nested, loc, cast<MemRefType>(fn.getArgumentTypes()[1]),
                    scratchTables.lookup(b.getF64Type()), OpFoldResult(slot),
                    ArrayRef<OpFoldResult>{one}, ArrayRef<OpFoldResult>{one});
                func::CallOp::create(nested, loc, fn, ValueRange{grad, out});
              });
    SmallVector<Value> args = {control.getStatus(), control.getLossScale()};
    if (Value maxNorm = control.getMaxGradNorm())
      args.push_back(maxNorm);
    func::CallOp::create(b, loc,
                         createCombineFunction(b, gradPartialBase, numChunks),
                         args);
  }
  // The classes' scalars in a phase after the combine: clipping divides the
  // gradients by the clip factor, which is multiplying the loss scale (and
  // the decay coefficient, already multiplied by it) by the factor.
  auto phaseScalars = [&](OpBuilder &nested, unsigned c) {
    SmallVector<Value> scalars = classes[c].getScalars();
    if (!control || !control.getMaxGradNorm())
      return scalars;
    Value factor =
        statusSlot(nested, GradientControlOp::kStatusClipFactor);
    scalars[0] = arith::MulFOp::create(nested, loc, scalars[0], factor);
    if (classes[c].getDecayWeight())
      scalars[1] = arith::MulFOp::create(nested, loc, scalars[1], factor);
    return scalars;
  };
  // With dynamic loss scaling, a chunk does nothing when an inf was found.
  auto unlessFound = [&](OpBuilder &nested,
                         function_ref<void(OpBuilder &)> body) {
    if (!control || control.getDynamic().empty())
      return body(nested);
    Value clean = arith::CmpFOp::create(
        nested, loc, arith::CmpFPredicate::OEQ,
        statusSlot(nested, GradientControlOp::kStatusFoundInf),
        arith::ConstantOp::create(nested, loc, nested.getF64FloatAttr(0.0)));
    scf::IfOp::create(nested, loc, clean, [&](OpBuilder &then, Location) {
      body(then);
      scf::YieldOp::create(then, loc);
    });
  };

  // Phase 1: reductions.
  if (numReductionChunks > 0)
    emitPhase(numReductionChunks, reductionClasses,
              [&](OpBuilder &outer, unsigned c, FieldFn field) {
               unlessFound(outer, [&](OpBuilder &nested) {
                SmallVector<Value> args = chunkBuffers(nested, c, field);
                args.append(phaseScalars(nested, c));
                if (classes[c].getCentralize())
                  args.push_back(rowSumsSlice(nested, c, field));
                if (spec.perTensorNorms)
                  args.push_back(scratchSlice(nested, c, field(kPartialSlot),
                                              nested.getIndexAttr(
                                                  spec.numNorms)));
                func::CallOp::create(nested, loc, reduceFns[c], args);
               });
              });

  // Phase 2: updates.
  emitPhase(numChunks, allClasses,
            [&](OpBuilder &outer, unsigned c, FieldFn field) {
             unlessFound(outer, [&](OpBuilder &nested) {
              SmallVector<Value> args = chunkBuffers(nested, c, field);
              args.append(phaseScalars(nested, c));
              if (needsReduction(classes[c])) {
                if (classes[c].getCentralize())
                  args.push_back(rowSumsSlice(nested, c, field));
                if (spec.perTensorNorms)
                  llvm::append_range(args, tensorNormSums(nested, c, field));
              }
              if (spec.wholeTensor)
                llvm::append_range(args, workspace(nested, c, field));
              func::CallOp::create(nested, loc, updateFns[c], args);
             });
            });

  // Last, the loss scale for the next step.
  if (control && !control.getDynamic().empty()) {
    SmallVector<Value> args = {control.getStatus()};
    llvm::append_range(args, control.getDynamic());
    func::CallOp::create(b, loc, createScaleUpdateFunction(b), args);
  }
  for (MultiTensorUpdateOp update : classes)
    update.erase();
  if (control)
    control.erase();
  return success();
}

struct ScheduleStepPass
    : public optim::impl::OptimScheduleStepBase<ScheduleStepPass> {
  using Base::Base;

  void runOnOperation() override {
    if (chunkSize < 1 || chunkSize > kMaxChunkSize) {
      emitError(getOperation().getLoc())
          << "'chunk-size' must be in [1, 2^30], got "
          << static_cast<int64_t>(chunkSize);
      return signalPassFailure();
    }
    SmallVector<func::FuncOp> functions(getOperation().getOps<func::FuncOp>());
    for (func::FuncOp fn : functions) {
      SmallVector<MultiTensorUpdateOp> updates;
      fn.walk([&](MultiTensorUpdateOp op) { updates.push_back(op); });
      SmallVector<GradientControlOp> controls;
      fn.walk([&](GradientControlOp op) { controls.push_back(op); });
      if (controls.size() > 1) {
        controls[1].emitOpError("is the second of its step function: a step "
                                "has at most one");
        return signalPassFailure();
      }
      GradientControlOp control = controls.empty() ? nullptr : controls[0];
      if (control && control->getParentOp() != fn) {
        control.emitOpError("must be at the top level of its step function");
        return signalPassFailure();
      }
      if (updates.empty()) {
        if (control)
          control.erase();
        continue;
      }
      if (control && llvm::any_of(updates, [](MultiTensorUpdateOp update) {
            return !update.hasBufferTable();
          })) {
        control.emitOpError("needs the multi-tensor step (buffer tables): "
                            "clipping and dynamic loss scaling of sparse "
                            "gradients, or with share-update-functions=0, "
                            "are not supported yet");
        return signalPassFailure();
      }
      SmallVector<MultiTensorUpdateOp> tableUpdates;
      for (MultiTensorUpdateOp update : updates) {
        if (update->getParentOp() != fn) {
          update.emitOpError("must be at the top level of its step function");
          return signalPassFailure();
        }
        if (update.getRule() != updates.front().getRule()) {
          update.emitOpError("has another rule than the first update of its "
                             "step function: a step has one rule");
          return signalPassFailure();
        }
        if (update.hasBufferTable())
          tableUpdates.push_back(update);
      }
      OpBuilder b(fn.getContext());
      SparseUpdateFunctions sparseFunctions(fn);
      for (MultiTensorUpdateOp update : updates)
        if (!update.hasBufferTable())
          expandPerBuffer(b, update, sparseFunctions);
      if (!tableUpdates.empty() &&
          failed(TableStepScheduler(fn, tableUpdates, control, chunkSize)
                     .run()))
        return signalPassFailure();
    }
  }
};

} // namespace
