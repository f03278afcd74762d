//===- BuildStepBoundary.cpp - the memref boundary of a step --------------===//
//
// Turns a resolved optimizer into its step function on the caller's buffers
// (the arguments StepABI describes) and its learning-rate query. The step's
// body reads every scalar once and holds one optim.multi_tensor_update per
// class of parameters; optim-schedule-step decides how they run.
//
//===----------------------------------------------------------------------===//

#include "optim/Dialect/Optim/IR/Optim.h"
#include "optim/Dialect/Optim/Transforms/Passes.h"
#include "optim/Dialect/Optim/Transforms/StepABI.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/DenseMap.h"

namespace mlir::optim {
#define GEN_PASS_DEF_OPTIMBUILDSTEPBOUNDARY
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
                   ArrayRef<double> initialValues, bool asConstants)
      : b(builder), loc(loc), table(table), initialValues(initialValues),
        asConstants(asConstants) {}

  Value slot(unsigned index) {
    Value &value = cache[index];
    if (value)
      return value;
    if (asConstants) {
      value = arith::ConstantOp::create(
          b, loc, b.getF64FloatAttr(initialValues[index]));
    } else {
      Value idx = arith::ConstantIndexOp::create(b, loc, index);
      value = memref::LoadOp::create(b, loc, table, ValueRange{idx});
    }
    return value;
  }

  Value constant(double x) {
    return arith::ConstantOp::create(b, loc, b.getF64FloatAttr(x));
  }

private:
  OpBuilder &b;
  Location loc;
  Value table;
  ArrayRef<double> initialValues;
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
  return LearningRateOp::create(b, loc, b.getF64Type(), schedule, step);
}

class StepBoundaryBuilder {
public:
  StepBoundaryBuilder(OptimizerOp optimizer, bool constantHyperParams,
                      bool shareUpdateFunctions)
      : optimizer(optimizer), abi(StepABI::get(optimizer)),
        table(abi.getInitialTable()),
        constantHyperParams(constantHyperParams),
        useBufferTables(shareUpdateFunctions && !abi.hasSparseParams()) {}

  LogicalResult run() {
    for (const ParamABI &param : abi.getParams())
      if (param.centralize && abi.getSpec().wholeTensor)
        return optimizer.emitOpError("gradient centralization of \"")
               << param.name << "\" with " << abi.getSpec().className
               << ", whose update reads whole tensors, is not supported yet";
    if (abi.hasMixedPrecision()) {
      // docs/Mixed-precision.md: the multi-tensor step only.
      if (!useBufferTables)
        return optimizer.emitOpError(
                   "mixed precision ('master', 'states') needs the "
                   "multi-tensor step: share-update-functions=0 is not "
                   "supported with it");
      if (abi.getSpec().wholeTensor)
        return optimizer.emitOpError("mixed precision ('master', 'states') "
                                     "with ")
               << abi.getSpec().className
               << ", whose update reads whole tensors, is not supported yet";
    }
    for (const ParamABI &param : abi.getParams())
      if (param.sparse && decaysByOp(param))
        return optimizer.emitOpError("weight decay on the sparse gradient "
                                     "of \"")
               << param.name << "\" is not supported yet";
    OpBuilder b(optimizer);
    buildStep(b);
    buildLearningRateQuery(b);
    optimizer.erase();
    return success();
  }

private:
  MemRefType getTableType() {
    return MemRefType::get({static_cast<int64_t>(abi.getTableSize())},
                           Float64Type::get(optimizer.getContext()));
  }

  bool decaysByOp(const ParamABI &param) const {
    return param.decay && !abi.getSpec().decayInRule;
  }

  /// @<name>_lr(%hyper, %step, %out): the learning rate of every group.
  void buildLearningRateQuery(OpBuilder &b) {
    MLIRContext *ctx = b.getContext();
    Location loc = optimizer.getLoc();
    auto outType = MemRefType::get(
        {static_cast<int64_t>(abi.getGroups().size())}, Float64Type::get(ctx));
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

  /// The buffer arguments of the step (StepABI.h).
  SmallVector<Type> getBufferArgTypes(MLIRContext *ctx) {
    SmallVector<Type> argTypes;
    if (useBufferTables) {
      for (Type elementType : abi.getTableElementTypes())
        argTypes.push_back(MemRefType::get(
            {ShapedType::kDynamic},
            MemRefType::get({ShapedType::kDynamic}, elementType)));
      return argTypes;
    }
    for (const ParamABI &param : abi.getParams()) {
      auto type = MemRefType::get(param.type.getShape(),
                                  param.type.getElementType());
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
      for (const StateSpec *state : abi.getStates())
        argTypes.push_back(MemRefType::get(
            getStateShape(state->shape, param.type.getShape()),
            param.type.getElementType()));
    }
    return argTypes;
  }

  /// The parameters that share an optim.multi_tensor_update: one per class
  /// (update code: element, master and state types; group, decay) with
  /// buffer tables, one per parameter otherwise.
  struct Member {
    Type elementType;
    Type master;
    Type stateElementType;
    bool centralize;
    unsigned group;
    bool decay;
    SmallVector<unsigned> params;
  };
  SmallVector<Member> getClasses() {
    SmallVector<Member> classes;
    for (unsigned i = 0, e = abi.getParams().size(); i < e; ++i) {
      const ParamABI &param = abi.getParams()[i];
      Member key{param.type.getElementType(),
                 param.master,
                 abi.getStates().empty() ? param.type.getElementType()
                                         : param.stateElementType,
                 param.centralize,
                 param.group,
                 param.decay,
                 {}};
      auto it = classes.end();
      if (useBufferTables)
        it = llvm::find_if(classes, [&](const Member &m) {
          return m.elementType == key.elementType && m.master == key.master &&
                 m.stateElementType == key.stateElementType &&
                 m.centralize == key.centralize && m.group == key.group &&
                 m.decay == key.decay;
        });
      if (it == classes.end()) {
        classes.push_back(key);
        it = std::prev(classes.end());
      }
      it->params.push_back(i);
    }
    return classes;
  }

  void buildStep(OpBuilder &b) {
    MLIRContext *ctx = b.getContext();
    Location loc = optimizer.getLoc();
    const RuleSpec &spec = abi.getSpec();
    SmallVector<Type> argTypes = getBufferArgTypes(ctx);
    unsigned numBufferArgs = argTypes.size();
    argTypes.push_back(getTableType());
    if (abi.hasStatus())
      argTypes.push_back(MemRefType::get({GradientControlOp::kStatusSize},
                                         Float64Type::get(ctx)));
    argTypes.push_back(IntegerType::get(ctx, 64));
    auto fn = func::FuncOp::create(b, loc,
                                   (optimizer.getSymName() + "_step").str(),
                                   FunctionType::get(ctx, argTypes, {}));
    fn->setAttr("llvm.emit_c_interface", UnitAttr::get(ctx));
    OpBuilder::InsertionGuard guard(b);
    Block *entry = fn.addEntryBlock();
    b.setInsertionPointToStart(entry);
    Value step = entry->getArguments().back();
    HyperParamReader reader(b, loc, entry->getArgument(numBufferArgs), table,
                            constantHyperParams);
    Value lossScale = reader.slot(StepABI::kLossScaleSlot);
    if (abi.hasStatus()) {
      // Clipping and dynamic scaling: the step's own state, and the op
      // optim-schedule-step turns into phases around the classes'.
      Value status = entry->getArgument(numBufferArgs + 1);
      if (abi.hasDynamicLossScale())
        lossScale = memref::LoadOp::create(
            b, loc, status,
            ValueRange{arith::ConstantIndexOp::create(
                b, loc, GradientControlOp::kStatusLossScale)});
      auto global = [&](StringRef name) {
        return reader.slot(abi.getSlot(0, name));
      };
      Value maxNorm = abi.hasClipping() ? global("max_grad_norm") : Value();
      SmallVector<Value> dynamic;
      if (abi.hasDynamicLossScale())
        for (StringRef name : {"growth_factor", "backoff_factor",
                               "growth_interval", "min_loss_scale"})
          dynamic.push_back(global(name));
      GradientControlOp::create(b, loc, status, lossScale, maxNorm, dynamic);
      if (abi.hasDynamicLossScale())
        fn->setAttr(OptimDialect::SkipsNonfiniteAttrHelper::getNameStr(),
                    b.getI64IntegerAttr(numBufferArgs + 1));
    }
    Value one = arith::ConstantOp::create(b, loc, b.getI64IntegerAttr(1));
    Value updateCount = arith::AddIOp::create(b, loc, step, one);

    // The first argument of each parameter in the per-buffer form.
    SmallVector<unsigned> firstArg;
    for (unsigned i = 0, next = 0, e = abi.getParams().size(); i < e; ++i) {
      firstArg.push_back(next);
      next += abi.getNumArgsOfParam(abi.getParams()[i]);
    }

    llvm::DenseMap<unsigned, Value> groupLr;
    for (const Member &member : getClasses()) {
      const ParamABI &first = abi.getParams()[member.params.front()];
      const GroupABI &group = abi.getGroups()[member.group];
      Value &lr = groupLr[member.group];
      if (!lr)
        lr = buildGroupLearningRate(b, loc, abi, member.group, reader, step);
      Value weightDecay =
          reader.slot(group.tableOffset + StepABI::kWeightDecayOffset);
      // Decay runs before unscaling: its coefficient is wd * scale.
      Value decayWeight;
      if (decaysByOp(first))
        decayWeight = arith::MulFOp::create(b, loc, weightDecay, lossScale);
      SmallVector<Value> hypers;
      for (const HyperParamSpec *hyper : spec.getOperandHyperParams())
        hypers.push_back(reader.slot(abi.getSlot(member.group, hyper->name)));
      Value ruleDecay;
      if (spec.decayInRule)
        ruleDecay = member.decay ? weightDecay : reader.constant(0.0);

      SmallVector<Value> buffers;
      SmallVector<Attribute> types;
      SmallVector<int64_t> positions, auxPositions;
      for (unsigned i : member.params) {
        const ParamABI &param = abi.getParams()[i];
        types.push_back(TypeAttr::get(param.type));
        if (useBufferTables) {
          positions.push_back(abi.getTablePosition(i).second);
          if (auto aux = abi.getAuxTablePosition(i))
            auxPositions.push_back(aux->second);
          continue;
        }
        llvm::append_range(buffers, entry->getArguments().slice(
                                        firstArg[i],
                                        abi.getNumArgsOfParam(param)));
      }
      if (useBufferTables) {
        unsigned front = member.params.front();
        buffers.push_back(
            entry->getArgument(abi.getTablePosition(front).first));
        if (auto aux = abi.getAuxTablePosition(front))
          buffers.push_back(entry->getArgument(aux->first));
      }
      // Mixed precision: the types that are not the parameters'.
      TypeAttr masterType =
          member.master ? TypeAttr::get(member.master) : TypeAttr();
      TypeAttr stateType = member.stateElementType != member.elementType &&
                                   !abi.getStates().empty()
                               ? TypeAttr::get(member.stateElementType)
                               : TypeAttr();
      MultiTensorUpdateOp::create(
          b, loc, abi.getRule(), buffers, lossScale, decayWeight, lr, hypers,
          ruleDecay, spec.usesStep ? updateCount : Value(),
          b.getArrayAttr(types),
          useBufferTables ? b.getDenseI64ArrayAttr(positions)
                          : DenseI64ArrayAttr(),
          auxPositions.empty() ? DenseI64ArrayAttr()
                               : b.getDenseI64ArrayAttr(auxPositions),
          masterType, stateType, first.centralize, first.sparse,
          first.sparse && optimizer.getUnique());
    }
    func::ReturnOp::create(b, loc);
  }

  OptimizerOp optimizer;
  StepABI abi;
  SmallVector<double> table;
  bool constantHyperParams;
  bool useBufferTables;
};

struct BuildStepBoundaryPass
    : public optim::impl::OptimBuildStepBoundaryBase<BuildStepBoundaryPass> {
  using Base::Base;

  void runOnOperation() override {
    SmallVector<OptimizerOp> optimizers(
        getOperation().getOps<OptimizerOp>());
    for (OptimizerOp optimizer : optimizers) {
      if (!optimizer.isResolved()) {
        optimizer.emitOpError("is not resolved: run optim-resolve-groups "
                              "first");
        return signalPassFailure();
      }
      if (failed(StepBoundaryBuilder(optimizer, constantHyperParams,
                                     shareUpdateFunctions)
                     .run()))
        return signalPassFailure();
    }
  }
};

} // namespace
