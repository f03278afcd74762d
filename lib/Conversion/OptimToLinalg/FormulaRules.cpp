//===- FormulaRules.cpp - rules whose formula is written in the dialect ---===//
//
// A rule whose record holds a `formula` (OptimRules.td) needs no C++: its
// update op becomes the same elementwise generic as every rule's, whose
// body is the formula. The formula is the body of a scalar function in
// arith and math ops on f32; this lowering wraps it in a signature built
// from the rule's operands, parses and verifies it, and clones it: the ops
// that depend only on scalars once before the loop, in f64 (the step's
// scalar type), the others into the generic, converting f32 to the compute
// type (f64 for f64 parameters).
//
//===----------------------------------------------------------------------===//

#include "Patterns.h"
#include "UpdateRules.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "llvm/ADT/DenseSet.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Transforms/DialectConversion.h"

using namespace mlir;
using namespace mlir::optim;

/// The formula of `spec` as a function: its arguments named after the
/// update's operands (grad, param, every state, lr, hyper-parameters,
/// weight decay, step) and options (i1), returning the new parameter and
/// every state. A state its options leave out is 0 there and its result is
/// dropped (`FormulaRule`), so one text serves every option combination.
static std::string getFormulaFunction(const RuleSpec &spec) {
  std::string text = "func.func @formula(%grad: f32, %param: f32";
  for (const StateSpec &state : spec.states)
    text += ", %" + state.name.str() + ": f32";
  text += ", %lr: f32";
  for (const HyperParamSpec *hyper : spec.getOperandHyperParams())
    text += ", %" + hyper->name.str() + ": f32";
  if (spec.decayInRule)
    text += ", %weight_decay: f32";
  if (spec.usesStep)
    text += ", %step: i64";
  for (const OptionSpec &option : spec.options)
    text += ", %" + option.name.str() + ": i1";
  text += ") -> (f32";
  for (size_t i = 0; i < spec.states.size(); ++i)
    text += ", f32";
  return text + ") {\n" + spec.formula.str() + "\n}\n";
}

/// Clones `op` with `mapping`, its f32 results and f32 float attributes in
/// `type` instead.
static Operation *cloneInType(OpBuilder &b, Operation &op, IRMapping &mapping,
                              Type type) {
  Type f32 = b.getF32Type();
  if (type == f32)
    return b.clone(op, mapping);
  OperationState state(op.getLoc(), op.getName());
  for (Value operand : op.getOperands())
    state.addOperands(mapping.lookup(operand));
  for (Type resultType : op.getResultTypes())
    state.addTypes(resultType == f32 ? type : resultType);
  for (NamedAttribute attr : op.getAttrs()) {
    auto value = dyn_cast<FloatAttr>(attr.getValue());
    state.addAttribute(attr.getName(),
                       value && value.getType() == f32
                           ? FloatAttr::get(type, value.getValueAsDouble())
                           : attr.getValue());
  }
  Operation *converted = b.create(state);
  mapping.map(op.getResults(), converted->getResults());
  return converted;
}

namespace {
/// An elementwise rule (buildUpdateGeneric) from a parsed formula. The ops
/// that depend only on scalars (`1 - beta2`, `beta1^t`, bias corrections)
/// run once, before the loop, in the scalar type (getScalarType), as the
/// frameworks compute them on the host; the others run per element in the
/// compute type, reading the scalar results converted once.
class FormulaRule {
public:
  /// `active[i]`: whether state i of the rule is an operand; `options`:
  /// the i1 values of the rule's options, appended to `scalars`.
  FormulaRule(func::FuncOp formula, const FloatMath &outside,
              FloatType computeType, ValueRange scalars,
              ArrayRef<bool> active, ArrayRef<Value> options)
      : formula(formula), active(active) {
    Block &body = formula.getBody().front();
    SmallVector<Value> scalarValues(scalars.begin(), scalars.end());
    llvm::append_range(scalarValues, options);
    unsigned numScalars = scalarValues.size();
    auto scalarArgs = body.getArguments().take_back(numScalars);
    OpBuilder &b = outside.getBuilder();
    // Element values: the arguments before the scalars, and what uses them.
    llvm::DenseSet<Value> elementwise;
    for (Value arg : body.getArguments().drop_back(numScalars))
      elementwise.insert(arg);
    IRMapping scalarMapping;
    for (auto [arg, scalar] : llvm::zip(scalarArgs, scalarValues))
      scalarMapping.map(arg, isa<FloatType>(scalar.getType())
                                 ? outside.cast(scalar)
                                 : scalar);
    for (Operation &op : body.without_terminator()) {
      bool isElementwise = llvm::any_of(op.getOperands(), [&](Value v) {
        return elementwise.contains(v);
      });
      if (isElementwise) {
        for (Value result : op.getResults())
          elementwise.insert(result);
        continue;
      }
      cloneInType(b, op, scalarMapping, outside.getType());
    }
    // The scalar values the element ops read, in the compute type.
    FloatMath compute(b, outside.getLoc(), computeType);
    auto addUniform = [&](Value formulaValue) {
      if (elementwise.contains(formulaValue) ||
          uniformValues.contains(formulaValue))
        return;
      Value value = scalarMapping.lookup(formulaValue);
      uniformValues.map(formulaValue, isa<FloatType>(value.getType())
                                          ? compute.cast(value)
                                          : value);
    };
    for (Operation &op : body.without_terminator())
      if (llvm::any_of(op.getOperands(),
                       [&](Value v) { return elementwise.contains(v); }))
        llvm::for_each(op.getOperands(), addUniform);
    llvm::for_each(body.getTerminator()->getOperands(), addUniform);
    for (Value value : elementwise)
      if (auto result = dyn_cast<OpResult>(value))
        elementOps.insert(result.getOwner());
  }

  UpdatedElement apply(const FloatMath &math, Value grad, Value param,
                       ArrayRef<Value> states) const {
    Block &body = func::FuncOp(formula).getBody().front();
    IRMapping mapping = uniformValues;
    SmallVector<Value> arguments = {grad, param};
    // The states the options leave out read as 0.
    Value zero;
    for (size_t i = 0, next = 0; i < active.size(); ++i) {
      if (active[i]) {
        arguments.push_back(states[next++]);
        continue;
      }
      if (!zero)
        zero = math.constant(0.0);
      arguments.push_back(zero);
    }
    mapping.map(body.getArguments().take_front(arguments.size()), arguments);
    OpBuilder &b = math.getBuilder();
    for (Operation &op : body.without_terminator())
      if (elementOps.contains(&op))
        cloneInType(b, op, mapping, math.getType());
    // The new parameter and the states that are operands.
    UpdatedElement updated;
    auto results = body.getTerminator()->getOperands();
    updated.push_back(mapping.lookup(results[0]));
    for (size_t i = 0; i < active.size(); ++i)
      if (active[i])
        updated.push_back(mapping.lookup(results[1 + i]));
    return updated;
  }

private:
  func::FuncOp formula;
  /// Formula values computed before the loop, in the compute type.
  IRMapping uniformValues;
  /// The formula's ops that run per element.
  llvm::SmallPtrSet<Operation *, 32> elementOps;
  SmallVector<bool> active;
};

struct FormulaUpdateLowering
    : OpInterfaceConversionPattern<UpdateOpInterface> {
  using OpInterfaceConversionPattern::OpInterfaceConversionPattern;

  LogicalResult
  matchAndRewrite(UpdateOpInterface update, ArrayRef<Value> operands,
                  ConversionPatternRewriter &rewriter) const override {
    const RuleSpec &spec = getRuleSpec(update.getRuleKind());
    Operation *op = update.getOperation();
    if (spec.formula.empty() || !update.isUpdate() || !update.getDenseGrad())
      return rewriter.notifyMatchFailure(op, "no formula");

    // Parse and verify the formula, reporting its diagnostics on the op.
    auto hasOption = [&](StringRef option) { return op->hasAttr(option); };
    std::string text = getFormulaFunction(spec);
    std::string diagnostics;
    OwningOpRef<ModuleOp> module;
    {
      ScopedDiagnosticHandler handler(op->getContext(), [&](Diagnostic &d) {
        diagnostics += (diagnostics.empty() ? "" : "; ") + d.str();
        return success();
      });
      module = parseSourceString<ModuleOp>(text, op->getContext());
      if (module && failed(verify(*module)))
        module = {};
    }
    if (!module)
      return op->emitOpError("the formula of rule '")
             << stringifyRuleKind(spec.kind) << "' is invalid: "
             << diagnostics;
    auto formula = *module->getOps<func::FuncOp>().begin();

    Location loc = op->getLoc();
    size_t numStates = update.getStateOperands().size();
    Value grad = operands[1], param = operands[0];
    ValueRange states = ValueRange(operands).slice(2, numStates);
    ValueRange scalars = ValueRange(operands).slice(
        2 + numStates, update.getScalarOperands().size());
    FloatType computeType = getElementComputeType(param);
    FloatMath outside(rewriter, loc, getScalarType(scalars));
    SmallVector<bool> active;
    for (const StateSpec &state : spec.states)
      active.push_back(state.requiresOption.empty() ||
                       hasOption(state.requiresOption));
    SmallVector<Value> options;
    for (const OptionSpec &option : spec.options)
      options.push_back(arith::ConstantOp::create(
          rewriter, loc, rewriter.getBoolAttr(hasOption(option.name))));
    FormulaRule rule(formula, outside, computeType, scalars, active, options);
    rewriter.replaceOp(op, buildUpdateGeneric(rewriter, loc, computeType, rule,
                                              grad, param, states));
    return success();
  }
};
} // namespace

void mlir::optim::populateFormulaRuleLoweringPatterns(
    RewritePatternSet &patterns) {
  patterns.add<FormulaUpdateLowering>(patterns.getContext());
}
