//===- OptimOps.cpp - optim operations ------------------------------------===//

#include "optim/Dialect/Optim/IR/Optim.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/TypeUtilities.h"
#include "llvm/ADT/SmallSet.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/MathExtras.h"

#include <cmath>

using namespace mlir;
using namespace mlir::optim;

//===----------------------------------------------------------------------===//
// Custom directives
//===----------------------------------------------------------------------===//

/// Mixed precision: the gradient and the states may have another element
/// type than the parameter (same shapes); `grad <type>` and `states <type>`
/// then follow the parameter's type.
static Type withElementType(Type shaped, Type element) {
  return cast<RankedTensorType>(shaped).clone(element);
}

/// Parses the optional `grad <element type>` after the parameter's type.
static ParseResult parseOptionalGradElement(OpAsmParser &parser,
                                            Type paramType, Type &gradType) {
  gradType = paramType;
  if (failed(parser.parseOptionalKeyword("grad")))
    return success();
  Type element;
  if (parser.parseType(element))
    return failure();
  gradType = withElementType(paramType, element);
  return success();
}

/// Parses the optional `states <element type>` after the parameter's type:
/// `count` param-shaped states.
static ParseResult parseOptionalStatesElement(OpAsmParser &parser,
                                              Type paramType, size_t count,
                                              SmallVectorImpl<Type> &types) {
  Type stateType = paramType;
  if (succeeded(parser.parseOptionalKeyword("states"))) {
    Type element;
    if (parser.parseType(element))
      return failure();
    stateType = withElementType(paramType, element);
  }
  types.assign(count, stateType);
  return success();
}

static void printMixedElements(OpAsmPrinter &printer, Type paramType,
                               Type gradType, TypeRange stateTypes) {
  Type element = getElementTypeOrSelf(paramType);
  if (gradType && getElementTypeOrSelf(gradType) != element)
    printer << " grad " << getElementTypeOrSelf(gradType);
  if (!stateTypes.empty() &&
      getElementTypeOrSelf(stateTypes.front()) != element)
    printer << " states " << getElementTypeOrSelf(stateTypes.front());
}

/// Every state and result of an update op has the parameter's shape (and,
/// but with mixed precision, its type), so only the parameter's type is
/// printed.
static ParseResult
parseUpdateTypes(OpAsmParser &parser, Type &paramType,
                 ArrayRef<OpAsmParser::UnresolvedOperand> states,
                 SmallVectorImpl<Type> &stateTypes, Type &newParamType,
                 SmallVectorImpl<Type> &newStateTypes) {
  if (parser.parseType(paramType) ||
      parseOptionalStatesElement(parser, paramType, states.size(),
                                 stateTypes))
    return failure();
  newParamType = paramType;
  newStateTypes.assign(stateTypes.begin(), stateTypes.end());
  return success();
}

static ParseResult
parseUpdateTypes(OpAsmParser &parser, Type &paramType,
                 ArrayRef<OpAsmParser::UnresolvedOperand> states,
                 Type &gradType, SmallVectorImpl<Type> &stateTypes,
                 Type &newParamType, SmallVectorImpl<Type> &newStateTypes) {
  if (parser.parseType(paramType) ||
      parseOptionalGradElement(parser, paramType, gradType) ||
      parseOptionalStatesElement(parser, paramType, states.size(),
                                 stateTypes))
    return failure();
  newParamType = paramType;
  newStateTypes.assign(stateTypes.begin(), stateTypes.end());
  return success();
}

static void printUpdateTypes(OpAsmPrinter &printer, Operation *,
                             Type paramType, OperandRange,
                             TypeRange stateTypes, Type, TypeRange) {
  printer << paramType;
  printMixedElements(printer, paramType, Type(), stateTypes);
}
static void printUpdateTypes(OpAsmPrinter &printer, Operation *,
                             Type paramType, OperandRange, Type gradType,
                             TypeRange stateTypes, Type, TypeRange) {
  printer << paramType;
  printMixedElements(printer, paramType, gradType, stateTypes);
}

/// Rules with states of other shapes: `param type, [state types]`; the
/// gradient (but for `grad <element type>`) and the new parameter have the
/// parameter's type, each new state its state's.
static ParseResult parseShapedUpdateTypes(OpAsmParser &parser,
                                          Type &paramType,
                                          SmallVectorImpl<Type> &stateTypes,
                                          Type &gradType, Type &newParamType,
                                          SmallVectorImpl<Type> &newStateTypes) {
  if (parser.parseType(paramType) ||
      parseOptionalGradElement(parser, paramType, gradType) ||
      parser.parseComma() || parser.parseLSquare())
    return failure();
  if (failed(parser.parseOptionalRSquare())) {
    if (parser.parseTypeList(stateTypes) || parser.parseRSquare())
      return failure();
  }
  newParamType = paramType;
  newStateTypes.assign(stateTypes.begin(), stateTypes.end());
  return success();
}
static void printShapedUpdateTypes(OpAsmPrinter &printer, Operation *,
                                   Type paramType, TypeRange stateTypes,
                                   Type gradType, Type, TypeRange) {
  printer << paramType;
  printMixedElements(printer, paramType, gradType, {});
  printer << ", [";
  llvm::interleaveComma(stateTypes, printer);
  printer << "]";
}

/// Norms ops: the gradient and the states have the parameter's type (but
/// for `grad <element type>` and `states <element type>`).
static ParseResult
parseNormsTypes(OpAsmParser &parser, Type &paramType,
                ArrayRef<OpAsmParser::UnresolvedOperand> states,
                Type &gradType, SmallVectorImpl<Type> &stateTypes) {
  if (parser.parseType(paramType) ||
      parseOptionalGradElement(parser, paramType, gradType) ||
      parseOptionalStatesElement(parser, paramType, states.size(),
                                 stateTypes))
    return failure();
  return success();
}
static void printNormsTypes(OpAsmPrinter &printer, Operation *,
                            Type paramType, OperandRange, Type gradType,
                            TypeRange stateTypes) {
  printer << paramType;
  printMixedElements(printer, paramType, gradType, stateTypes);
}

/// The last scalar operand of a compute op, then the type its float scalars
/// share: nothing for f32, `scalars(<type>)` for any other.
template <typename... Types>
static ParseResult parseScalarType(OpAsmParser &parser,
                                   OpAsmParser::UnresolvedOperand &last,
                                   Types &...types) {
  Type type = parser.getBuilder().getF32Type();
  if (parser.parseOperand(last))
    return failure();
  if (succeeded(parser.parseOptionalKeyword("scalars")) &&
      (parser.parseLParen() || parser.parseType(type) ||
       parser.parseRParen()))
    return failure();
  ((types = type), ...);
  return success();
}
template <typename... Types>
static void printScalarType(OpAsmPrinter &printer, Operation *, Value last,
                            Type first, Types...) {
  printer << last;
  if (!first.isF32())
    printer << " scalars(" << first << ")";
}

/// A learning rate: a number (`0.001`, `1e-3`, `1.0e-03 : f64`; f64 unless
/// a type follows) or an attribute (a schedule, a per-step list).
static ParseResult parseLearningRate(OpAsmParser &parser, Attribute &attr) {
  if (!optim::detail::startsWithNumber(parser)) {
    SMLoc loc = parser.getCurrentLocation();
    OptionalParseResult parsed = parser.parseOptionalAttribute(attr);
    if (!parsed.has_value())
      return parser.emitError(loc, "expected a learning rate: a number "
                                   "(such as 0.001, 1e-3 or 1), a "
                                   "per-step list or a schedule");
    return *parsed;
  }
  FailureOr<double> value = optim::detail::parseF64(parser);
  if (failed(value))
    return failure();
  Type type = parser.getBuilder().getF64Type();
  SMLoc typeLoc = parser.getCurrentLocation();
  if (succeeded(parser.parseOptionalColon())) {
    typeLoc = parser.getCurrentLocation();
    if (parser.parseType(type))
      return failure();
  }
  if (!isa<FloatType>(type))
    return parser.emitError(typeLoc, "a learning rate has a float type, got ")
           << type;
  attr = FloatAttr::get(type, *value);
  return success();
}

/// An f64 value written as a number (`0.01`, `1e-2`, `0`).
static ParseResult parseF64Attr(OpAsmParser &parser, FloatAttr &attr) {
  FailureOr<double> value = optim::detail::parseF64(parser);
  if (failed(value))
    return failure();
  attr = parser.getBuilder().getF64FloatAttr(*value);
  return success();
}

/// `learning_rate <lr> (weight_decay <wd>)? (loss_scale <ls>
/// (dynamic<...>)?)? (max_grad_norm <n>)?`, the numbers as users of the
/// frameworks write them; `dynamic<...>` is a DynamicLossScaleAttr.
static ParseResult parseOptimizerScalars(OpAsmParser &parser,
                                         Attribute &learningRate,
                                         FloatAttr &weightDecay,
                                         FloatAttr &lossScale,
                                         optim::DynamicLossScaleAttr &dynamic,
                                         FloatAttr &maxGradNorm) {
  if (parser.parseKeyword("learning_rate") ||
      parseLearningRate(parser, learningRate))
    return failure();
  if (succeeded(parser.parseOptionalKeyword("weight_decay")) &&
      parseF64Attr(parser, weightDecay))
    return failure();
  if (succeeded(parser.parseOptionalKeyword("loss_scale"))) {
    if (parseF64Attr(parser, lossScale))
      return failure();
    if (succeeded(parser.parseOptionalKeyword("dynamic"))) {
      Attribute attr = optim::DynamicLossScaleAttr::parse(parser, Type());
      if (!attr)
        return failure();
      dynamic = cast<optim::DynamicLossScaleAttr>(attr);
    }
  }
  if (succeeded(parser.parseOptionalKeyword("max_grad_norm")) &&
      parseF64Attr(parser, maxGradNorm))
    return failure();
  return success();
}
static void printOptimizerScalars(OpAsmPrinter &printer, Operation *,
                                  Attribute learningRate,
                                  FloatAttr weightDecay, FloatAttr lossScale,
                                  optim::DynamicLossScaleAttr dynamic,
                                  FloatAttr maxGradNorm) {
  printer << "learning_rate ";
  printer.printAttribute(learningRate);
  if (weightDecay && weightDecay.getValueAsDouble() != 0.0) {
    printer << " weight_decay ";
    printer.printAttributeWithoutType(weightDecay);
  }
  if ((lossScale && lossScale.getValueAsDouble() != 1.0) || dynamic) {
    printer << " loss_scale ";
    if (lossScale)
      printer.printAttributeWithoutType(lossScale);
    else
      printer << "1.0";
    if (dynamic) {
      printer << " dynamic";
      dynamic.print(printer);
    }
  }
  if (maxGradNorm) {
    printer << " max_grad_norm ";
    printer.printAttributeWithoutType(maxGradNorm);
  }
}

/// `(learning_rate <lr>)? (weight_decay <wd>)?`.
static ParseResult parseGroupScalars(OpAsmParser &parser,
                                     Attribute &learningRate,
                                     FloatAttr &weightDecay) {
  if (succeeded(parser.parseOptionalKeyword("learning_rate")) &&
      parseLearningRate(parser, learningRate))
    return failure();
  if (succeeded(parser.parseOptionalKeyword("weight_decay")) &&
      parseF64Attr(parser, weightDecay))
    return failure();
  return success();
}
static void printGroupScalars(OpAsmPrinter &printer, Operation *,
                              Attribute learningRate, FloatAttr weightDecay) {
  StringRef separator = "";
  if (learningRate) {
    printer << "learning_rate ";
    printer.printAttribute(learningRate);
    separator = " ";
  }
  if (weightDecay) {
    printer << separator << "weight_decay ";
    printer.printAttributeWithoutType(weightDecay);
  }
}

/// Results of `optim.broadcast_params` have the parameters' types.
static ParseResult parseSameTypes(OpAsmParser &parser,
                                  SmallVectorImpl<Type> &operandTypes,
                                  SmallVectorImpl<Type> &resultTypes) {
  if (parser.parseTypeList(operandTypes))
    return failure();
  resultTypes.assign(operandTypes.begin(), operandTypes.end());
  return success();
}
static void printSameTypes(OpAsmPrinter &printer, Operation *,
                           TypeRange operandTypes, TypeRange) {
  llvm::interleaveComma(operandTypes, printer);
}

//===----------------------------------------------------------------------===//
// OptimizerOp
//===----------------------------------------------------------------------===//

RegionKind OptimizerOp::getRegionKind(unsigned) { return RegionKind::Graph; }

bool OptimizerOp::isGrouped() {
  return !getBody().front().getOps<GroupOp>().empty();
}

bool OptimizerOp::isResolved() {
  Block &body = getBody().front();
  if (!body.getOps<ParamOp>().empty())
    return false;
  for (GroupOp group : body.getOps<GroupOp>())
    if (!group.getLearningRateAttr() || !group.getWeightDecayAttr())
      return false;
  return !getBody()
              .walk([](ParamOp param) {
                return param.getDecayAttr() ? WalkResult::advance()
                                            : WalkResult::interrupt();
              })
              .wasInterrupted();
}

SmallVector<ParamOp> mlir::optim::getOrderedParams(OptimizerOp optimizer) {
  SmallVector<ParamOp> params;
  optimizer.getBody().walk([&](ParamOp param) { params.push_back(param); });
  auto orders = optimizer.getBody().front().getOps<OrderParamsOp>();
  if (orders.empty())
    return params;
  llvm::StringMap<ParamOp> byName;
  for (ParamOp param : params)
    byName[param.getName()] = param;
  SmallVector<ParamOp> ordered;
  for (StringRef name :
       (*orders.begin()).getNames().getAsValueRange<StringAttr>())
    ordered.push_back(byName.lookup(name));
  return ordered;
}

static LogicalResult verifyWeightDecay(Operation *op, FloatAttr weightDecay) {
  if (weightDecay && !(weightDecay.getValueAsDouble() >= 0.0))
    return op->emitOpError("'weight_decay' must be non-negative, got ")
           << weightDecay.getValueAsDouble();
  return success();
}

LogicalResult OptimizerOp::verifyRegions() {
  Block &body = getBody().front();
  if (failed(verifyWeightDecay(*this, getWeightDecayAttr())))
    return failure();
  if (!(getLossScale().convertToDouble() > 0.0))
    return emitOpError("'loss_scale' must be positive, got ")
           << getLossScale().convertToDouble();
  if (failed(verifyLearningRate([&] { return emitOpError(); },
                                getLearningRate())))
    return failure();
  if (FloatAttr maxNorm = getMaxGradNormAttr())
    if (!(maxNorm.getValueAsDouble() > 0.0) ||
        std::isinf(maxNorm.getValueAsDouble()))
      return emitOpError("'max_grad_norm' must be positive and finite, got ")
             << maxNorm.getValueAsDouble();

  unsigned numParams = 0, numGroups = 0, numOrders = 0;
  for (Operation &op : body) {
    if (isa<ParamOp>(op))
      ++numParams;
    else if (isa<GroupOp>(op))
      ++numGroups;
    else if (isa<OrderParamsOp>(op))
      ++numOrders;
    else
      return op.emitOpError("is not allowed in an 'optim.optimizer' body");
  }
  if (numParams == 0 && numGroups == 0)
    return emitOpError("expects at least one parameter");
  if (numParams != 0 && numGroups != 0)
    return emitOpError("mixes parameters and groups: the body holds either "
                       "parameters or groups");
  if (numOrders > 1)
    return emitOpError("expects at most one 'optim.order_params'");
  if (numOrders == 1 && numGroups == 0)
    return emitOpError("'optim.order_params' requires parameter groups");

  // Unique names, sparse gradients only where the rule has a sparse form.
  const RuleSpec &spec = getRule().getSpec();
  llvm::StringMap<Operation *> seen;
  SmallVector<ParamOp> params;
  getBody().walk([&](ParamOp param) { params.push_back(param); });
  for (ParamOp param : params) {
    auto [it, inserted] = seen.try_emplace(param.getName(), param);
    if (!inserted) {
      bool sameGroup = it->second->getParentOp() == param->getParentOp();
      return (param.emitOpError("parameter \"")
              << param.getName()
              << (sameGroup ? "\" is declared twice"
                            : "\" is in more than one group"))
                 .attachNote(it->second->getLoc())
             << "first declared here";
    }
    if (param.getSparse() && !spec.sparseGrad)
      return param.emitOpError("has a sparse gradient, which ")
             << spec.className << " does not support";
  }

  // The elements of all parameters together (each is bounded by its own
  // verifier, which runs first).
  int64_t totalElements = 0;
  for (ParamOp param : params) {
    std::optional<int64_t> count =
        getCheckedNumElements(param.getTensorType().getShape());
    if (!count || llvm::AddOverflow(totalElements, *count, totalElements) ||
        totalElements > kMaxTotalElements)
      return emitOpError("declares too many elements: the parameters have "
                         "at most 2^48 (")
             << kMaxTotalElements << ") elements together";
  }

  // Per-step learning-rate lists must agree in length across groups. As in
  // MindSpore's `_parse_group_params`, the optimizer's own list takes part
  // even when every group has its own learning rate.
  std::optional<int64_t> listLength;
  auto checkList = [&](Attribute lr) -> LogicalResult {
    std::optional<int64_t> length = getLearningRateListLength(lr);
    if (!length)
      return success();
    if (listLength && *listLength != *length)
      return emitOpError("per-step learning-rate lists have different "
                         "lengths: ")
             << *listLength << " and " << *length;
    listLength = length;
    return success();
  };
  if (failed(checkList(getLearningRate())))
    return failure();
  for (GroupOp group : body.getOps<GroupOp>())
    if (Attribute lr = group.getLearningRateAttr())
      if (failed(checkList(lr)))
        return failure();

  // order_params names every grouped parameter exactly once.
  for (OrderParamsOp order : body.getOps<OrderParamsOp>()) {
    llvm::SmallSet<StringRef, 16> named;
    for (StringRef name : order.getNames().getAsValueRange<StringAttr>()) {
      if (!seen.count(name))
        return order.emitOpError("names unknown parameter \"") << name << "\"";
      if (!named.insert(name).second)
        return order.emitOpError("names parameter \"") << name << "\" twice";
    }
    if (named.size() != params.size()) {
      for (ParamOp param : params)
        if (!named.count(param.getName()))
          return order.emitOpError("names ")
                 << named.size() << " of " << params.size()
                 << " parameters; missing \"" << param.getName() << "\"";
    }
  }
  return success();
}

//===----------------------------------------------------------------------===//
// GroupOp, ParamOp
//===----------------------------------------------------------------------===//

LogicalResult GroupOp::verify() {
  for (NamedAttribute attr : (*this)->getDiscardableAttrs())
    return emitOpError("unknown group key '")
           << attr.getName().strref()
           << "'; expected 'learning_rate', 'weight_decay' or "
              "'grad_centralization'";
  if (failed(verifyWeightDecay(*this, getWeightDecayAttr())))
    return failure();
  if (Attribute lr = getLearningRateAttr())
    if (failed(verifyLearningRate([&] { return emitOpError(); }, lr)))
      return failure();
  Block &body = getBody().front();
  if (body.empty())
    return emitOpError("expects at least one parameter");
  for (Operation &op : body)
    if (!isa<ParamOp>(op))
      return op.emitOpError("is not allowed in an 'optim.group' body");
  return success();
}

Type ParamOp::getStateElementType() {
  if (std::optional<Type> states = getStates())
    return *states;
  if (getMaster())
    return Float32Type::get(getContext());
  return getTensorType().getElementType();
}

std::optional<int64_t>
mlir::optim::getCheckedNumElements(ArrayRef<int64_t> shape) {
  int64_t count = 1;
  for (int64_t size : shape)
    if (ShapedType::isDynamic(size) || size < 0 ||
        llvm::MulOverflow(count, size, count))
      return std::nullopt;
  return count;
}

/// A parameter's shape as the step's calling convention takes it: static,
/// at most kMaxParamElements elements.
static LogicalResult verifyParamShape(function_ref<InFlightDiagnostic()> emitError,
                                      RankedTensorType type) {
  if (!type.hasStaticShape())
    return emitError() << "has dynamic dimensions (" << type
                       << "): the step's buffers have the declared shape, "
                          "which must be static";
  std::optional<int64_t> count = getCheckedNumElements(type.getShape());
  if (!count || *count > kMaxParamElements)
    return emitError() << "has too many elements (" << type
                       << "): a parameter has at most 2^48 ("
                       << kMaxParamElements << ") elements";
  return success();
}

LogicalResult ParamOp::verify() {
  if (getName().empty())
    return emitOpError("expects a non-empty name");
  if (failed(verifyParamShape([&] { return emitOpError(); },
                              getTensorType())))
    return failure();
  if (getSparse() && getTensorType().getRank() < 1)
    return emitOpError("with a sparse gradient must have rank >= 1");
  Type element = getTensorType().getElementType();
  bool sixteenBit = element.isF16() || element.isBF16();
  if (std::optional<Type> master = getMaster()) {
    if (!sixteenBit)
      return emitOpError("has a master copy, which only float16 and "
                         "bfloat16 parameters take, not ")
             << element;
    if (!master->isF32())
      return emitOpError("master copy must be f32, got ") << *master;
  }
  if (std::optional<Type> states = getStates()) {
    if (!states->isF32() && !states->isF16() && !states->isBF16())
      return emitOpError("states must be f32, f16 or bf16, got ") << *states;
    if (!states->isF32() && *states != element)
      return emitOpError("states of ")
             << *states << " on a parameter of " << element
             << ": states are f32 or the parameter's type";
  }
  if ((getMaster() || getStateElementType() != element) && getSparse())
    return emitOpError("with a sparse gradient does not support mixed "
                       "precision ('master', 'states')");
  return success();
}

//===----------------------------------------------------------------------===//
// MultiTensorUpdateOp
//===----------------------------------------------------------------------===//

bool MultiTensorUpdateOp::hasBufferTable() {
  if (getBuffers().empty() || getBuffers().size() > 2)
    return false;
  return llvm::all_of(getBuffers(), [](Value buffer) {
    auto table = cast<MemRefType>(buffer.getType());
    return isa<MemRefType>(table.getElementType());
  });
}

Type MultiTensorUpdateOp::getStateElementType() {
  if (std::optional<Type> states = getStateType())
    return *states;
  return getParamTensorTypes().front().getElementType();
}

Value MultiTensorUpdateOp::getAuxTable() {
  if (!hasBufferTable() || getBuffers().size() < 2)
    return Value();
  return getBuffers()[1];
}

SmallVector<RankedTensorType> MultiTensorUpdateOp::getParamTensorTypes() {
  return llvm::to_vector(llvm::map_range(
      getParamTypes().getAsValueRange<TypeAttr>(),
      [](Type type) { return cast<RankedTensorType>(type); }));
}

unsigned MultiTensorUpdateOp::getNumBuffersPerParam() {
  RuleAttr rule = getRule();
  unsigned numStates = rule.getSpec()
                           .getActiveStates([&](StringRef option) {
                             return rule.getOption(option);
                           })
                           .size();
  return (getSparse() ? 3 : 2) + numStates;
}

SmallVector<Value> MultiTensorUpdateOp::getScalars() {
  SmallVector<Value> scalars{getLossScale()};
  if (getDecayWeight())
    scalars.push_back(getDecayWeight());
  scalars.push_back(getLearningRate());
  llvm::append_range(scalars, getHyperParams());
  if (getWeightDecay())
    scalars.push_back(getWeightDecay());
  if (getCount())
    scalars.push_back(getCount());
  return scalars;
}

LogicalResult MultiTensorUpdateOp::verify() {
  const RuleSpec &spec = getRule().getSpec();
  if (getParamTypes().empty())
    return emitOpError("expects at least one parameter");
  SmallVector<RankedTensorType> types;
  for (Attribute attr : getParamTypes()) {
    auto typeAttr = dyn_cast<TypeAttr>(attr);
    auto type = typeAttr ? dyn_cast<RankedTensorType>(typeAttr.getValue())
                         : RankedTensorType();
    if (!type || !isa<FloatType>(type.getElementType()))
      return emitOpError("expects ranked float tensor types as 'params'");
    if (failed(verifyParamShape(
            [&] { return emitOpError("parameter ") << types.size() << " "; },
            type)))
      return failure();
    if (getCentralize() && !CentralizeOp::appliesTo(type))
      return emitOpError("centralizes ") << type
             << ", which gradient centralization does not apply to";
    types.push_back(type);
  }
  size_t numHypers = spec.getOperandHyperParams().size();
  if (getHyperParams().size() != numHypers)
    return emitOpError("expects ") << numHypers << " hyper-parameters for "
                                   << spec.className << ", got "
                                   << getHyperParams().size();
  if (static_cast<bool>(getWeightDecay()) != spec.decayInRule)
    return emitOpError(spec.decayInRule
                           ? "expects a 'weight_decay' operand: the rule "
                             "decays in its update"
                           : "takes no 'weight_decay' operand: the rule "
                             "decays through 'decay_weight'");
  if (getDecayWeight() && spec.decayInRule)
    return emitOpError("takes no 'decay_weight': the rule decays in its "
                       "update");
  if (static_cast<bool>(getCount()) != spec.usesStep)
    return emitOpError(spec.usesStep ? "expects the update 'count'"
                                     : "takes no 'count': the rule does not "
                                       "use the step");

  // Mixed precision: one element type for every member, a master only on
  // 16-bit parameters, states of f32 or the parameters' type.
  Type element = types.front().getElementType();
  for (RankedTensorType type : types)
    if (type.getElementType() != element)
      return emitOpError("has parameters of ")
             << element << " and " << type.getElementType()
             << ": a class has one element type";
  Type stateElement = getStateElementType();
  if (std::optional<Type> master = getMasterType()) {
    if (!element.isF16() && !element.isBF16())
      return emitOpError("has a master copy, which only float16 and "
                         "bfloat16 parameters take, not ")
             << element;
    if (!master->isF32())
      return emitOpError("master copy must be f32, got ") << *master;
  }
  if (stateElement != element && !stateElement.isF32())
    return emitOpError("states of ")
           << stateElement << " on parameters of " << element
           << ": states are f32 or the parameters' type";
  bool mixed = getMasterType() || stateElement != element;
  if (mixed && (getSparse() || !hasBufferTable()))
    return emitOpError("with mixed precision takes buffer tables (dense "
                       "gradients)");
  // Buffers in the f32 auxiliary table: f32 states of a 16-bit parameter,
  // the master.
  bool needsAux = getMasterType() || (stateElement != element);
  if (hasBufferTable()) {
    if (getSparse())
      return emitOpError("with sparse gradients takes each buffer, not a "
                         "buffer table");
    if (!getPositions() || getPositions()->size() != types.size())
      return emitOpError("with a buffer table expects one position per "
                         "parameter");
    auto table = cast<MemRefType>(getBuffers().front().getType());
    Type tableElement =
        cast<MemRefType>(table.getElementType()).getElementType();
    if (element != tableElement)
      return emitOpError("has a parameter of type ")
             << types.front() << " in a buffer table of " << tableElement;
    if (llvm::any_of(*getPositions(), [](int64_t p) { return p < 0; }))
      return emitOpError("expects non-negative positions");
    if (needsAux != static_cast<bool>(getAuxTable()))
      return emitOpError(needsAux ? "expects an auxiliary f32 buffer table "
                                    "for the master and the f32 states"
                                  : "takes an auxiliary buffer table only "
                                    "with a master or f32 states of 16-bit "
                                    "parameters");
    if (Value aux = getAuxTable()) {
      auto auxType = cast<MemRefType>(aux.getType());
      Type auxElement =
          cast<MemRefType>(auxType.getElementType()).getElementType();
      if (!auxElement.isF32())
        return emitOpError("auxiliary buffer table must hold f32 buffers, "
                           "got ")
               << auxElement;
      if (!getAuxPositions() || getAuxPositions()->size() != types.size())
        return emitOpError("with an auxiliary buffer table expects one "
                           "'aux_positions' entry per parameter");
      if (llvm::any_of(*getAuxPositions(), [](int64_t p) { return p < 0; }))
        return emitOpError("expects non-negative 'aux_positions'");
    } else if (getAuxPositions()) {
      return emitOpError("takes 'aux_positions' only with an auxiliary "
                         "buffer table");
    }
    return success();
  }
  if (getPositions() || getAuxPositions())
    return emitOpError("takes 'positions' only with a buffer table");
  unsigned perParam = getNumBuffersPerParam();
  if (getBuffers().size() != perParam * types.size())
    return emitOpError("expects ")
           << perParam * types.size() << " buffers (" << perParam
           << " per parameter), got " << getBuffers().size();
  RuleAttr rule = getRule();
  auto active = spec.getActiveStates(
      [&](StringRef option) { return rule.getOption(option); });
  unsigned firstState = getSparse() ? 3 : 2;
  for (auto [i, type] : llvm::enumerate(types)) {
    ValueRange buffers = getBuffers().slice(i * perParam, perParam);
    for (auto [j, buffer] : llvm::enumerate(buffers)) {
      auto memref = cast<MemRefType>(buffer.getType());
      bool isIndices = getSparse() && j == 1;
      bool isRows = getSparse() && j == 2;
      if (j >= firstState) {
        SmallVector<int64_t> shape = getStateShape(
            active[j - firstState]->shape, type.getShape());
        if (memref.getShape() != ArrayRef<int64_t>(shape) ||
            memref.getElementType() != type.getElementType())
          return emitOpError("buffer ")
                 << j << " of parameter " << i << " has type " << memref
                 << ", expected the shape of state '"
                 << active[j - firstState]->name << "' of " << type;
        continue;
      }
      Type expected = isIndices ? IntegerType::get(getContext(), 32)
                                : type.getElementType();
      if (memref.getElementType() != expected)
        return emitOpError("buffer ") << j << " of parameter " << i
                                      << " has element type "
                                      << memref.getElementType()
                                      << ", expected " << expected;
      if (!isIndices && !isRows && memref.getShape() != type.getShape())
        return emitOpError("buffer ") << j << " of parameter " << i
                                      << " has type " << memref
                                      << ", expected the shape of " << type;
    }
  }
  return success();
}

//===----------------------------------------------------------------------===//
// Base-class compute ops
//===----------------------------------------------------------------------===//

static std::optional<double> getConstantF32(Value value) {
  APFloat constant(0.0f);
  if (matchPattern(value, m_ConstantFloat(&constant)))
    return constant.convertToDouble();
  return std::nullopt;
}

OpFoldResult ScaleGradOp::fold(FoldAdaptor) {
  if (getConstantF32(getLossScale()) == 1.0)
    return getGrad();
  return {};
}

LogicalResult ScaleGradOp::verify() {
  if (std::optional<double> scale = getConstantF32(getLossScale()))
    if (!(*scale > 0.0))
      return emitOpError("'loss_scale' must be positive, got ") << *scale;
  return success();
}

OpFoldResult DecayWeightOp::fold(FoldAdaptor) {
  if (getConstantF32(getWeightDecay()) == 0.0)
    return getGrad();
  return {};
}

LogicalResult RoundToOp::verify() {
  if (getInput().getType().getShape() != getDest().getType().getShape())
    return emitOpError("input ")
           << getInput().getType() << " and destination "
           << getDest().getType() << " differ in shape";
  return success();
}

LogicalResult DecayWeightOp::verify() {
  if (std::optional<double> wd = getConstantF32(getWeightDecay()))
    if (!(*wd >= 0.0))
      return emitOpError("'weight_decay' must be non-negative, got ") << *wd;
  return success();
}

bool CentralizeOp::appliesTo(RankedTensorType type) {
  if (type.getRank() < 2)
    return false;
  int64_t dim1 = type.getDimSize(1);
  return ShapedType::isDynamic(dim1) || dim1 % 16 == 0;
}

/// The element type sums over `type` are computed in.
static Type getSumType(RankedTensorType type) {
  Type element = type.getElementType();
  return element.isF64() ? element : Float32Type::get(type.getContext());
}

/// `sums` holds one sum per slice of `input` along its first axis.
static LogicalResult verifyRowSums(Operation *op, RankedTensorType input,
                                   RankedTensorType sums) {
  if (input.getRank() < 2)
    return op->emitOpError("row sums need a tensor of rank >= 2, got ")
           << input;
  int64_t rows = input.getDimSize(0), count = sums.getDimSize(0);
  if (!ShapedType::isDynamic(rows) && !ShapedType::isDynamic(count) &&
      rows != count)
    return op->emitOpError("expects ")
           << rows << " row sums (the first dimension), got " << count;
  if (sums.getElementType() != getSumType(input))
    return op->emitOpError("row sums must be ")
           << getSumType(input) << " for " << input;
  return success();
}

LogicalResult RowSumOp::verify() {
  return verifyRowSums(*this, getInput().getType(), getResult().getType());
}

LogicalResult CentralizeOp::verify() {
  if (Value sums = getRowSums())
    return verifyRowSums(*this, getGrad().getType(),
                         cast<RankedTensorType>(sums.getType()));
  return success();
}

OpFoldResult CentralizeOp::fold(FoldAdaptor) {
  // Given row sums, the caller already decided that the op applies.
  if (!getRowSums() && !appliesTo(getGrad().getType()))
    return getGrad();
  return {};
}

LogicalResult GlobalNormOp::verify() {
  if (getTensors().empty())
    return emitOpError("expects at least one tensor");
  return success();
}

LogicalResult AllFiniteOp::verify() {
  if (getTensors().empty())
    return emitOpError("expects at least one tensor");
  return success();
}

LogicalResult
BroadcastParamsOp::fold(FoldAdaptor, SmallVectorImpl<OpFoldResult> &results) {
  if (getNumRanks() != 1)
    return failure();
  results.append(getParams().begin(), getParams().end());
  return success();
}

LogicalResult BroadcastParamsOp::verify() {
  if (getParams().empty())
    return emitOpError("expects at least one parameter");
  if (getParams().getTypes() != getResults().getTypes())
    return emitOpError("result types must match the parameter types");
  return success();
}

LogicalResult UniqueOp::verify() {
  auto indices = getIndices().getType();
  auto values = getValues().getType();
  auto uniqueIndices = getUniqueIndices().getType();
  auto merged = getMergedValues().getType();
  if (indices.getRank() != 1 || uniqueIndices.getRank() != 1)
    return emitOpError("indices must have rank 1");
  if (values.getRank() < 1)
    return emitOpError("values must have rank >= 1");
  if (merged.getRank() != values.getRank())
    return emitOpError("merged values must have the values' rank ")
           << values.getRank() << ", got " << merged.getRank();
  if (!ShapedType::isDynamic(indices.getDimSize(0)) &&
      !ShapedType::isDynamic(values.getDimSize(0)) &&
      indices.getDimSize(0) != values.getDimSize(0))
    return emitOpError("has ") << indices.getDimSize(0) << " indices but "
                               << values.getDimSize(0) << " rows";
  if (uniqueIndices.getElementType() != indices.getElementType())
    return emitOpError("unique indices must have the indices' element type");
  if (merged.getElementType() != values.getElementType() ||
      merged.getShape().drop_front() != values.getShape().drop_front())
    return emitOpError("merged values must have the values' element type "
                       "and row shape");
  if (!ShapedType::isDynamic(merged.getDimSize(0)) ||
      !ShapedType::isDynamic(uniqueIndices.getDimSize(0)))
    return emitOpError("results must have a dynamic first dimension");
  return success();
}

//===----------------------------------------------------------------------===//
// Update ops
//===----------------------------------------------------------------------===//

/// Checks what every update op shares: the number and types of the states
/// for the rule's options, the result types, and the ranges of constant
/// hyper-parameters. `scalars` are the operands after the states.
static LogicalResult verifyRuleOperands(Operation *op, const RuleSpec *spec,
                                        Value param, ValueRange states,
                                        ValueRange scalars, bool isUpdate) {
  auto active = spec->getActiveStates(
      [&](StringRef option) { return op->hasAttr(option); });
  if (states.size() != active.size()) {
    auto diag = op->emitOpError("expects ")
                << active.size() << " state operand"
                << (active.size() == 1 ? "" : "s") << " (";
    llvm::interleaveComma(active, diag,
                          [&](const StateSpec *s) { diag << s->name; });
    return diag << "), got " << states.size();
  }
  // The generic form can spell any number of results; the new parameter
  // and one new value per state are expected.
  if (isUpdate && op->getNumResults() != 1 + states.size())
    return op->emitOpError("expects ")
           << 1 + states.size()
           << " results (the new parameter and one per state), got "
           << op->getNumResults();
  // The float scalars share one type (the custom<ScalarType> directive
  // prints one).
  Type scalarType;
  for (Value scalar : scalars) {
    if (!isa<FloatType>(scalar.getType()))
      continue;
    if (!scalarType)
      scalarType = scalar.getType();
    else if (scalar.getType() != scalarType)
      return op->emitOpError("float scalars must share one type, got ")
             << scalarType << " and " << scalar.getType();
  }
  auto paramType = cast<RankedTensorType>(param.getType());
  // Mixed precision: the states share one float element type, which may
  // differ from the parameter's.
  Type stateElement = states.empty()
                          ? paramType.getElementType()
                          : getElementTypeOrSelf(states.front().getType());
  for (auto [state, stateSpec] : llvm::zip(states, active)) {
    auto expected = RankedTensorType::get(
        getStateShape(stateSpec->shape, paramType.getShape()),
        stateElement);
    if (state.getType() == expected)
      continue;
    if (stateSpec->shape == StateShape::Param &&
        stateElement == paramType.getElementType())
      return op->emitOpError("state '")
             << stateSpec->name << "' has type " << state.getType()
             << ", expected the parameter type " << paramType;
    if (stateSpec->shape == StateShape::Param)
      return op->emitOpError("state '")
             << stateSpec->name << "' has type " << state.getType()
             << ", expected " << expected
             << " (the parameter's shape, the states' element type)";
    return op->emitOpError("state '")
           << stateSpec->name << "' has type " << state.getType()
           << ", expected " << expected << " ("
           << stringifyStateShape(stateSpec->shape) << " of " << paramType
           << ")";
  }
  if (isUpdate) {
    // The new parameter, then each new state, of its operand's type.
    if (op->getResult(0).getType() != paramType)
      return op->emitOpError("result type ")
             << op->getResult(0).getType()
             << " differs from the parameter type " << paramType;
    for (auto [result, state] : llvm::zip(op->getResults().drop_front(), states))
      if (result.getType() != state.getType())
        return op->emitOpError("result type ")
               << result.getType() << " differs from its state's type "
               << state.getType();
  }

  // Scalars: lr, operand hyper-parameters, then weight_decay/step.
  if (std::optional<double> lr = getConstantF32(scalars.front()))
    if (!(*lr >= 0.0))
      return op->emitOpError("'lr' must be non-negative, got ") << *lr;
  SmallVector<const HyperParamSpec *> hypers = spec->getOperandHyperParams();
  for (auto [hyper, value] : llvm::zip(hypers, scalars.drop_front()))
    if (std::optional<double> constant = getConstantF32(value))
      if (!isInRange(hyper->range, *constant))
        return op->emitOpError("'")
               << hyper->name << "' must be " << describeRange(hyper->range)
               << ", got " << *constant;
  // The group's weight decay follows the hyper-parameters where the rule
  // applies it itself.
  if (spec->decayInRule)
    if (std::optional<double> wd = getConstantF32(scalars[1 + hypers.size()]))
      if (!(*wd >= 0.0))
        return op->emitOpError("'weight_decay' must be non-negative, got ")
               << *wd;
  return success();
}

/// `sums`: one sum of squares per norm the rule needs, in the parameter's
/// compute type.
static LogicalResult verifyNormSums(Operation *op, const RuleSpec &spec,
                                    Value param, Value sums) {
  auto type = cast<RankedTensorType>(sums.getType());
  if (type.getDimSize(0) != static_cast<int64_t>(spec.numNorms))
    return op->emitOpError("expects ")
           << spec.numNorms << " sums of squares, got " << type;
  Type element = cast<RankedTensorType>(param.getType()).getElementType();
  Type compute = element.isF64() ? element : Float32Type::get(op->getContext());
  if (type.getElementType() != compute)
    return op->emitOpError("sums of squares must be ")
           << compute << " for a parameter of " << element;
  return success();
}

LogicalResult mlir::optim::detail::verifyUpdateOp(Operation *op) {
  auto update = cast<UpdateOpInterface>(op);
  const RuleSpec &spec = getRuleSpec(update.getRuleKind());
  Value param = update.getParamOperand();
  // Mixed precision: a gradient of another float element type, of the
  // parameter's shape.
  if (Value grad = update.getDenseGrad())
    if (cast<RankedTensorType>(grad.getType()).getShape() !=
        cast<RankedTensorType>(param.getType()).getShape())
      return op->emitOpError("gradient type ")
             << grad.getType() << " differs from the parameter type "
             << param.getType();
  if (failed(verifyRuleOperands(op, &spec, param, update.getStateOperands(),
                                update.getScalarOperands(),
                                update.isUpdate())))
    return failure();
  if (Value sums = update.getNormSums())
    return verifyNormSums(op, spec, param, sums);
  return success();
}

LogicalResult LazyAdamUpdateOp::verify() {
  RankedTensorType paramType = getParam().getType();
  RankedTensorType values = getValues().getType();
  RankedTensorType indices = getIndices().getType();
  if (paramType.getRank() < 1)
    return emitOpError("parameter must have rank >= 1");
  if (indices.getRank() != 1)
    return emitOpError("indices must have rank 1");
  if (values.getRank() != paramType.getRank() ||
      values.getShape().drop_front() != paramType.getShape().drop_front() ||
      values.getElementType() != paramType.getElementType())
    return emitOpError("rows ")
           << values << " do not match the parameter's row type "
           << paramType;
  if (!ShapedType::isDynamic(indices.getDimSize(0)) &&
      !ShapedType::isDynamic(values.getDimSize(0)) &&
      indices.getDimSize(0) != values.getDimSize(0))
    return emitOpError("has ") << indices.getDimSize(0) << " indices but "
                               << values.getDimSize(0) << " rows";
  // The rule's operands: UpdateOpInterface.
  return success();
}

#include "optim/Dialect/Optim/IR/OptimInterfaces.cpp.inc"

#define GET_OP_CLASSES
#include "optim/Dialect/Optim/IR/OptimOps.cpp.inc"

//===----------------------------------------------------------------------===//
// SquaredNormOp, GradientControlOp
//===----------------------------------------------------------------------===//

LogicalResult SquaredNormOp::verify() {
  if (getResult().getType().getDimSize(0) != 1)
    return emitOpError("result must be tensor<1xf64>, got ")
           << getResult().getType();
  return success();
}

LogicalResult GradientControlOp::verify() {
  if (getStatus().getType().getDimSize(0) != kStatusSize)
    return emitOpError("status must be memref<") << kStatusSize
           << "xf64>, got " << getStatus().getType();
  if (!getDynamic().empty() && getDynamic().size() != 4)
    return emitOpError("'dynamic' takes four scalars (growth factor, backoff "
                       "factor, growth interval, smallest scale), got ")
           << getDynamic().size();
  if (!getMaxGradNorm() && getDynamic().empty())
    return emitOpError("controls nothing: expected 'max_grad_norm', "
                       "'dynamic' or both");
  return success();
}
