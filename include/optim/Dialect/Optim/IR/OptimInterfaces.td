//===- OptimInterfaces.td - optim op interfaces ------------*- tablegen -*-===//

#ifndef OPTIM_DIALECT_OPTIM_IR_OPTIMINTERFACES_TD
#define OPTIM_DIALECT_OPTIM_IR_OPTIMINTERFACES_TD

include "mlir/IR/OpBase.td"

def Optim_UpdateOpInterface : OpInterface<"UpdateOpInterface"> {
  let cppNamespace = "::mlir::optim";
  let description = [{
    An op computing one update rule over a parameter's elements: the rule's
    update op, or the op computing the per-tensor norms of a rule with trust
    ratios. Every such op is generated from the rule's record
    (OptimRules.td), and this interface's verifier checks what the record
    defines: the states present for the op's options and their types, the
    results of an update, the ranges of constant hyper-parameters and the
    number and type of the norms.
  }];
  let methods = [
    StaticInterfaceMethod<"The rule (its record in OptimRules.td).",
      "::mlir::optim::RuleKind", "getRuleKind">,
    InterfaceMethod<"The parameter.", "::mlir::Value", "getParamOperand">,
    InterfaceMethod<"The gradient, of the parameter's type; null where it "
      "arrives as rows.", "::mlir::Value", "getDenseGrad">,
    InterfaceMethod<"The state operands.", "::mlir::OperandRange",
      "getStateOperands">,
    InterfaceMethod<"The scalar operands: `lr`, the rule's operand "
      "hyper-parameters, then `weight_decay` and `step` where the rule "
      "takes them.", "::mlir::OperandRange", "getScalarOperands">,
    InterfaceMethod<"The squared norms: the `norms` operand of an update "
      "(null when absent) or the result of a norms op.", "::mlir::Value",
      "getNormSums">,
    InterfaceMethod<"True for an update, false for a norms op.", "bool",
      "isUpdate">,
  ];
  let verify = [{
    return ::mlir::optim::detail::verifyUpdateOp($_op);
  }];
}

#endif // OPTIM_DIALECT_OPTIM_IR_OPTIMINTERFACES_TD
