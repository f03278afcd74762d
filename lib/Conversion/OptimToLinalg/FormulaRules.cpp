//===- FormulaRules.cpp - rules whose formula is written in the dialect ---===//
//
// A rule whose record holds a `formula` (OptimRules.td) needs no C++: its
// update op becomes the same elementwise generic as every rule's, whose
// body is the formula. The formula is the body of a scalar function in
// arith and math ops on f32; this lowering wraps it in a signature built
// from the rule's operands, parses and verifies it, and clones it into the
// generic, converting f32 to the compute type (f64 for f64 parameters).
//
//===----------------------------------------------------------------------===//

#include "Patterns.h"
#include "UpdateRules.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
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

namespace {
/// An elementwise rule (buildUpdateGeneric) from a parsed formula.
class FormulaRule {
public:
  /// `active[i]`: whether state i of the rule is an operand; `options`:
  /// the i1 values of the rule's options, appended to `scalars`.
  FormulaRule(func::FuncOp formula, const FloatMath &outside,
              ValueRange scalars, ArrayRef<bool> active,
              ArrayRef<Value> options)
      : formula(formula), active(active) {
    for (Value scalar : scalars)
      this->scalars.push_back(isa<FloatType>(scalar.getType())
                                  ? outside.cast(scalar)
                                  : scalar);
    llvm::append_range(this->scalars, options);
  }

  UpdatedElement apply(const FloatMath &math, Value grad, Value param,
                       ArrayRef<Value> states) const {
    Block &body = func::FuncOp(formula).getBody().front();
    IRMapping mapping;
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
    llvm::append_range(arguments, scalars);
    mapping.map(body.getArguments(), arguments);
    OpBuilder &b = math.getBuilder();
    Type f32 = b.getF32Type(), compute = math.getType();
    for (Operation &op : body.without_terminator()) {
      if (compute == f32) {
        b.clone(op, mapping);
        continue;
      }
      // The op with f32 results and float attributes in the compute type.
      OperationState state(op.getLoc(), op.getName());
      for (Value operand : op.getOperands())
        state.addOperands(mapping.lookup(operand));
      for (Type type : op.getResultTypes())
        state.addTypes(type == f32 ? compute : type);
      for (NamedAttribute attr : op.getAttrs()) {
        auto value = dyn_cast<FloatAttr>(attr.getValue());
        state.addAttribute(attr.getName(),
                           value && value.getType() == f32
                               ? FloatAttr::get(compute, value.getValueAsDouble())
                               : attr.getValue());
      }
      Operation *converted = b.create(state);
      mapping.map(op.getResults(), converted->getResults());
    }
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
  SmallVector<Value> scalars;
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
    FloatMath outside(rewriter, loc, computeType);
    SmallVector<bool> active;
    for (const StateSpec &state : spec.states)
      active.push_back(state.requiresOption.empty() ||
                       hasOption(state.requiresOption));
    SmallVector<Value> options;
    for (const OptionSpec &option : spec.options)
      options.push_back(arith::ConstantOp::create(
          rewriter, loc, rewriter.getBoolAttr(hasOption(option.name))));
    FormulaRule rule(formula, outside, scalars, active, options);
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
