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
/// update's operands (grad, param, states, lr, hyper-parameters, weight
/// decay, step), returning the new parameter and states.
static std::string
getFormulaFunction(const RuleSpec &spec,
                   ArrayRef<const StateSpec *> states) {
  std::string text = "func.func @formula(%grad: f32, %param: f32";
  for (const StateSpec *state : states)
    text += ", %" + state->name.str() + ": f32";
  text += ", %lr: f32";
  for (const HyperParamSpec *hyper : spec.getOperandHyperParams())
    text += ", %" + hyper->name.str() + ": f32";
  if (spec.decayInRule)
    text += ", %weight_decay: f32";
  if (spec.usesStep)
    text += ", %step: i64";
  text += ") -> (f32";
  for (size_t i = 0; i < states.size(); ++i)
    text += ", f32";
  return text + ") {\n" + spec.formula.str() + "\n}\n";
}

namespace {
/// An elementwise rule (buildUpdateGeneric) from a parsed formula.
class FormulaRule {
public:
  FormulaRule(func::FuncOp formula, const FloatMath &outside,
              ValueRange scalars)
      : formula(formula) {
    for (Value scalar : scalars)
      this->scalars.push_back(isa<FloatType>(scalar.getType())
                                  ? outside.cast(scalar)
                                  : scalar);
  }

  UpdatedElement apply(const FloatMath &math, Value grad, Value param,
                       ArrayRef<Value> states) const {
    Block &body = func::FuncOp(formula).getBody().front();
    IRMapping mapping;
    SmallVector<Value> arguments = {grad, param};
    llvm::append_range(arguments, states);
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
    UpdatedElement updated;
    for (Value result : body.getTerminator()->getOperands())
      updated.push_back(mapping.lookup(result));
    return updated;
  }

private:
  func::FuncOp formula;
  SmallVector<Value> scalars;
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
    auto active = spec.getActiveStates(
        [&](StringRef option) { return op->hasAttr(option); });
    std::string text = getFormulaFunction(spec, active);
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
    FormulaRule rule(formula, outside, scalars);
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
