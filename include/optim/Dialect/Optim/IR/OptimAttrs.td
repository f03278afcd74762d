//===- OptimAttrs.td - optim attributes --------------------*- tablegen -*-===//
//
// Update-rule and learning-rate attributes of the optim dialect.
//
//===----------------------------------------------------------------------===//

#ifndef OPTIM_DIALECT_OPTIM_IR_OPTIMATTRS_TD
#define OPTIM_DIALECT_OPTIM_IR_OPTIMATTRS_TD

include "optim/Dialect/Optim/IR/OptimDialect.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"
include "optim/Dialect/Optim/IR/OptimRules.td"

//===----------------------------------------------------------------------===//
// Rule kinds
//===----------------------------------------------------------------------===//

// One case per rule record (OptimRules.td).
def Optim_RuleKind : I32EnumAttr<"RuleKind", "update rule of an optimizer",
    !foreach(rule, !instances<Optim_Rule>(),
             I32EnumAttrCase<rule.cppName, rule.index, rule.mnemonic>)> {
  let cppNamespace = "::mlir::optim";
  let genSpecializedAttr = 0;
}

// MindSpore's `target` of an optimizer: where its sparse updates run.
def Optim_Target : I32EnumAttr<"Target", "where an optimizer's sparse updates run", [
    I32EnumAttrCase<"CPU", 0>,
    I32EnumAttrCase<"GPU", 1>
  ]> {
  let cppNamespace = "::mlir::optim";
  let genSpecializedAttr = 0;
}

//===----------------------------------------------------------------------===//
// Parameters
//===----------------------------------------------------------------------===//

class Optim_F64Parameter<string desc> : APFloatParameter<desc> {
  let parser = "::mlir::optim::detail::parseAPFloat($_parser)";
  let printer = "::mlir::optim::detail::printF64($_printer, $_self.convertToDouble())";
}

class Optim_BoolParameter<string desc> : AttrOrTypeParameter<"bool", desc> {
  let parser = "::mlir::optim::detail::parseBool($_parser)";
  let printer = "$_printer << ($_self ? \"true\" : \"false\")";
}

class Optim_F64ArrayParameter<string desc>
    : AttrOrTypeParameter<"::mlir::DenseF64ArrayAttr", desc> {
  let parser = "::mlir::optim::detail::parseF64Array($_parser)";
  let printer = "::mlir::optim::detail::printF64Array($_printer, $_self.asArrayRef())";
}

class Optim_I64ArrayParameter<string desc> : ArrayRefParameter<"int64_t", desc> {
  let parser = "::mlir::optim::detail::parseI64Array($_parser)";
  let printer = "$_printer << '[' << $_self << ']'";
}

//===----------------------------------------------------------------------===//
// Learning-rate interface
//===----------------------------------------------------------------------===//

def Optim_LearningRateAttrInterface
    : AttrInterface<"LearningRateAttrInterface"> {
  let cppNamespace = "::mlir::optim";
  let description = [{
    A learning rate that depends on the global step: a schedule evaluated from
    the step counter, or a list with one value per step. What the dialect
    knows of it: whether it is a list, and how long. The code computing it
    belongs to the lowering (LearningRateBuilderAttrInterface).
  }];
  let methods = [
    InterfaceMethod<[{Number of values of a per-step list; std::nullopt for a
      schedule defined for every step.}],
      "std::optional<int64_t>", "getListLength", (ins), [{}],
      [{ return std::nullopt; }]>
  ];
}

def Optim_LearningRateBuilderAttrInterface
    : AttrInterface<"LearningRateBuilderAttrInterface"> {
  let cppNamespace = "::mlir::optim";
  let description = [{
    Builds the code of a learning-rate attribute: the scalar `f32` learning
    rate at a 0-based `i64` global step. No attribute implements it in the
    dialect: the lowering library attaches it to every schedule and list
    (`registerLearningRateLoweringModels`, optim/Conversion/Passes.h).
  }];
  let methods = [
    InterfaceMethod<"Builds the f32 learning rate at the i64 global step `step`.",
      "::mlir::Value", "buildLearningRate",
      (ins "::mlir::OpBuilder &":$builder, "::mlir::Location":$loc,
           "::mlir::Value":$step)>
  ];
}

class Optim_Attr<string name, string attrMnemonic, list<Trait> traits = []>
    : AttrDef<Optim_Dialect, name, traits> {
  let mnemonic = attrMnemonic;
}

def Optim_TargetAttr : EnumAttr<Optim_Dialect, Optim_Target, "target"> {
  let assemblyFormat = "`<` $value `>`";
}

def Optim_Sharding : I32EnumAttr<"Sharding",
    "how the update of an optimizer is divided among the ranks of a job", [
    I32EnumAttrCase<"broadcast_params", 0>,
    I32EnumAttrCase<"zero", 1>
  ]> {
  let cppNamespace = "::mlir::optim";
  let genSpecializedAttr = 0;
}

def Optim_ShardingAttr : EnumAttr<Optim_Dialect, Optim_Sharding, "sharding"> {
  let summary = "division of an optimizer's update among ranks";
  let description = [{
    `broadcast_params`: MindSpore's parallel optimizer; parameter `i` (in
    step order) is updated by rank `i mod N`, which then broadcasts it, rank
    by rank in order. `zero`: ZeRO-1; every rank updates and keeps the
    states of `1/N` of each class's elements (whole parameters where the
    rule needs a whole tensor), then the parameters are allgathered. Only a
    distributed runtime reads it (docs/Distributed.md); a single process
    ignores it.
  }];
  let assemblyFormat = "`<` $value `>`";
}

class Optim_ScheduleAttr<string name, string attrMnemonic>
    : Optim_Attr<name, attrMnemonic, [Optim_LearningRateAttrInterface]> {
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

//===----------------------------------------------------------------------===//
// Schedules (MindSpore's LearningRateSchedule classes)
//===----------------------------------------------------------------------===//

class Optim_DecayScheduleAttr<string name, string attrMnemonic, string formula>
    : Optim_ScheduleAttr<name, attrMnemonic> {
  let summary = "learning rate `" # formula # "`";
  let description = [{
    With `p = step / decay_steps` (rounded down when `is_stair`), the learning
    rate at global step `step` is `}] # formula # [{`.

    ```mlir
    #optim.}] # attrMnemonic # [{<learning_rate = 1.0e-01, decay_rate = 9.0e-01, decay_steps = 4, is_stair = false>
    ```
  }];
  let parameters = (ins Optim_F64Parameter<"initial learning rate">:$learning_rate,
                        Optim_F64Parameter<"decay rate">:$decay_rate,
                        "int64_t":$decay_steps,
                        Optim_BoolParameter<"round p down">:$is_stair);
}

def Optim_ExponentialDecayAttr
    : Optim_DecayScheduleAttr<"ExponentialDecay", "exponential_decay",
                              "learning_rate * decay_rate ^ p">;
def Optim_NaturalExpDecayAttr
    : Optim_DecayScheduleAttr<"NaturalExpDecay", "natural_exp_decay",
                              "learning_rate * exp(-decay_rate * p)"> {
  let description = [{
    `learning_rate * exp(-decay_rate * p)` with `p = step`, or with
    `is_stair` `p = floor(step / decay_steps) * decay_steps`. This is what
    MindSpore's `NaturalExpDecayLR` computes (its docstring says
    `p = step / decay_steps`; the code, which users get, does not divide).

    ```mlir
    #optim.natural_exp_decay<learning_rate = 0.1, decay_rate = 0.9, decay_steps = 4, is_stair = false>
    ```
  }];
}
def Optim_InverseDecayAttr
    : Optim_DecayScheduleAttr<"InverseDecay", "inverse_decay",
                              "learning_rate / (1 + decay_rate * p)">;

def Optim_CosineDecayAttr : Optim_ScheduleAttr<"CosineDecay", "cosine_decay"> {
  let summary = "cosine decay from `max_lr` to `min_lr` over `decay_steps`";
  let description = [{
    `min_lr + 0.5 * (max_lr - min_lr) * (1 + cos(pi * min(step, decay_steps) / decay_steps))`.

    ```mlir
    #optim.cosine_decay<min_lr = 1.0e-05, max_lr = 1.0e-03, decay_steps = 100>
    ```
  }];
  let parameters = (ins Optim_F64Parameter<"final learning rate">:$min_lr,
                        Optim_F64Parameter<"initial learning rate">:$max_lr,
                        "int64_t":$decay_steps);
}

def Optim_PolynomialDecayAttr
    : Optim_ScheduleAttr<"PolynomialDecay", "polynomial_decay"> {
  let summary = "polynomial decay to `end_learning_rate`";
  let description = [{
    `(learning_rate - end_learning_rate) * (1 - s / d) ^ power + end_learning_rate`
    where `s = min(step, decay_steps)` and `d = decay_steps`; with
    `update_decay_steps`, `s = step` and `d = decay_steps * max(1, ceil(step / decay_steps))`.

    ```mlir
    #optim.polynomial_decay<learning_rate = 1.0e-01, end_learning_rate = 1.0e-02, decay_steps = 10, power = 2.0, update_decay_steps = false>
    ```
  }];
  let parameters = (ins Optim_F64Parameter<"initial learning rate">:$learning_rate,
                        Optim_F64Parameter<"final learning rate">:$end_learning_rate,
                        "int64_t":$decay_steps,
                        Optim_F64Parameter<"exponent">:$power,
                        Optim_BoolParameter<"restart the decay every decay_steps">:$update_decay_steps);
}

def Optim_WarmUpAttr : Optim_ScheduleAttr<"WarmUp", "warmup"> {
  let summary = "linear warm-up to `learning_rate` over `warmup_steps`";
  let description = [{
    `learning_rate * min(step, warmup_steps) / warmup_steps`.

    ```mlir
    #optim.warmup<learning_rate = 1.0e-01, warmup_steps = 10>
    ```
  }];
  let parameters = (ins Optim_F64Parameter<"target learning rate">:$learning_rate,
                        "int64_t":$warmup_steps);
}

def Optim_DynamicLossScaleAttr : Optim_Attr<"DynamicLossScale",
                                            "dynamic_loss_scale"> {
  let summary = "dynamic loss scaling: how the scale grows and backs off";
  let description = [{
    The loss scale of an optimizer that scales dynamically (the optimizer's
    `loss_scale` is its initial value). A step whose gradients hold an inf
    or a NaN changes no parameter and no state, does not advance the global
    step, and multiplies the scale by `backoff_factor` (never below
    `min_scale`); after `growth_interval` clean steps in a row the scale is
    multiplied by `growth_factor`. torch's `GradScaler`: `growth_factor =
    2.0, backoff_factor = 0.5, growth_interval = 2000, min_scale = 0.0`;
    MindSpore's `DynamicLossScaleUpdateCell(scale_factor, scale_window)`:
    `growth_factor = scale_factor, backoff_factor = 1 / scale_factor,
    growth_interval = scale_window, min_scale = 1.0`. The values are the
    initial values of run-time hyper-parameters (`growth_factor`,
    `backoff_factor`, `growth_interval`, `min_loss_scale`).

    ```mlir
    #optim.dynamic_loss_scale<growth_factor = 2.0, backoff_factor = 0.5, growth_interval = 2000, min_scale = 0.0>
    ```
  }];
  let parameters = (ins Optim_F64Parameter<"growth factor">:$growth_factor,
                        Optim_F64Parameter<"backoff factor">:$backoff_factor,
                        "int64_t":$growth_interval,
                        Optim_F64Parameter<"smallest scale">:$min_scale);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

def Optim_PerStepAttr : Optim_Attr<"PerStep", "per_step", [
    DeclareAttrInterfaceMethods<Optim_LearningRateAttrInterface,
                                ["getListLength"]>]> {
  let summary = "one learning rate per step (a dynamic learning-rate list)";
  let description = [{
    Step `i` uses `values[i]`. Past the end of the list, the last value is
    used (MindSpore's gather would index out of range; a step counter that
    outruns the list keeps training at the final rate instead).

    ```mlir
    #optim.per_step<[1.0e-01, 5.0e-02, 2.5e-02]>
    ```
  }];
  let parameters = (ins Optim_F64ArrayParameter<"the values">:$values);
  let assemblyFormat = "`<` $values `>`";
  let genVerifyDecl = 1;
}

def Optim_PiecewiseConstantAttr : Optim_Attr<"PiecewiseConstant", "piecewise", [
    Optim_LearningRateAttrInterface]> {
  let summary = "piecewise-constant learning rate";
  let description = [{
    `values[i]` for `milestones[i-1] <= step < milestones[i]` (MindSpore's
    `piecewise_constant_lr`, without materialising the list). Past the last
    milestone the last value is used.

    ```mlir
    #optim.piecewise<milestones = [2, 5, 10], values = [1.0e-01, 5.0e-02, 1.0e-02]>
    ```
  }];
  let parameters = (ins Optim_I64ArrayParameter<"strictly increasing ends">:$milestones,
                        Optim_F64ArrayParameter<"the values">:$values);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

//===----------------------------------------------------------------------===//
// Update rule
//===----------------------------------------------------------------------===//

def Optim_RuleAttr : Optim_Attr<"Rule", "rule"> {
  let summary = "an update rule and its hyper-parameters";
  let description = [{
    The rule of a concrete optimizer with the values of its hyper-parameters
    and options, named as MindSpore's constructor arguments. Omitted values
    take MindSpore's defaults; the printed form lists all of them.

    ```mlir
    #optim.rule<adam, beta1 = 0.9, beta2 = 0.999, eps = 1.0e-08, use_nesterov = false, use_amsgrad = false>
    ```
  }];
  let parameters = (ins "::mlir::optim::RuleKind":$kind,
                        "::mlir::DictionaryAttr":$values);
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// The static description of this rule.
    const ::mlir::optim::RuleSpec &getSpec() const;
    /// Value of a hyper-parameter (the default where absent).
    double getHyperParam(::llvm::StringRef name) const;
    /// Value of a boolean option (the default where absent).
    bool getOption(::llvm::StringRef name) const;
  }];
}

#endif // OPTIM_DIALECT_OPTIM_IR_OPTIMATTRS_TD
