//===- OptimOps.td - optim operations ----------------------*- tablegen -*-===//

#ifndef OPTIM_DIALECT_OPTIM_IR_OPTIMOPS_TD
#define OPTIM_DIALECT_OPTIM_IR_OPTIMOPS_TD

include "optim/Dialect/Optim/IR/OptimDialect.td"
include "optim/Dialect/Optim/IR/OptimAttrs.td"
include "mlir/IR/OpBase.td"
include "mlir/IR/SymbolInterfaces.td"
include "mlir/IR/RegionKindInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def Optim_FloatTensor : RankedTensorOf<[AnyFloat]>;
// Sums computed in a reduction phase: 1-D, in the compute type.
def Optim_ReductionTensor : 1DTensorOf<[F32, F64]>;
def Optim_LearningRateAttr : Attr<Or<[
    CPred<"::llvm::isa<::mlir::FloatAttr>($_self)">,
    CPred<"::llvm::isa<::mlir::DenseFPElementsAttr>($_self)">,
    CPred<"::llvm::isa<::mlir::optim::LearningRateAttrInterface>($_self)">]>,
    "learning rate (float, dense float tensor, list or schedule)"> {
  let storageType = "::mlir::Attribute";
  let returnType = "::mlir::Attribute";
  let convertFromStorage = "$_self";
}

//===----------------------------------------------------------------------===//
// Declarative level
//===----------------------------------------------------------------------===//

def Optim_OptimizerOp : Optim_Op<"optimizer", [
    Symbol, NoTerminator, SingleBlock, IsolatedFromAbove,
    DeclareOpInterfaceMethods<RegionKindInterface>]> {
  let summary = "an optimizer as MindSpore's constructor sees it";
  let description = [{
    Declares an optimizer: its update rule with hyper-parameters, the global
    learning rate (a float, a rank-0 or rank-1 dense tensor, a per-step list
    or a schedule), the default `weight_decay`, `loss_scale`, the sparse
    `target` and `unique` settings, and a body holding either parameters
    directly (ungrouped) or `optim.group`s, optionally followed by one
    `optim.order_params`.

    ```mlir
    optim.optimizer @adamw rule #optim.rule<adam_weight_decay> learning_rate 1.0e-03 : f64
        attributes {weight_decay = 1.0e-02 : f64} {
      optim.param "dense.weight" : tensor<64x32xf32>
      optim.param "layernorm.gamma" : tensor<32xf32>
    }
    ```

    The verifier rejects what MindSpore's constructor rejects: no
    parameters, a negative weight decay, `loss_scale <= 0`, a negative or
    rank > 1 learning rate, a parameter in two groups, per-step learning-rate
    lists of different lengths, and an `order_params` that names unknown
    parameters or misses some.
  }];
  let arguments = (ins SymbolNameAttr:$sym_name,
                       Optim_RuleAttr:$rule,
                       Optim_LearningRateAttr:$learning_rate,
                       DefaultValuedAttr<F64Attr, "0.0">:$weight_decay,
                       DefaultValuedAttr<F64Attr, "1.0">:$loss_scale,
                       DefaultValuedStrAttr<StrAttr, "CPU">:$target,
                       DefaultValuedAttr<BoolAttr, "true">:$unique);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = [{
    $sym_name `rule` $rule `learning_rate` $learning_rate
    (`weight_decay` $weight_decay^)? (`loss_scale` $loss_scale^)?
    (`target` $target^)? (`unique` $unique^)? attr-dict-with-keyword $body
  }];
  let hasRegionVerifier = 1;
  let extraClassDeclaration = [{
    /// True if the body holds groups rather than parameters.
    bool isGrouped();
  }];
}

def Optim_GroupOp : Optim_Op<"group", [
    NoTerminator, SingleBlock, HasParent<"OptimizerOp">]> {
  let summary = "a parameter group";
  let description = [{
    A group of parameters with its own learning rate, weight decay and
    gradient-centralization flag. Omitted values take the optimizer's
    learning rate and weight decay, and no centralization.

    ```mlir
    optim.group learning_rate 1.0e-02 : f64 weight_decay 0.0 grad_centralization {
      optim.param "conv.weight" : tensor<32x16x3x3xf32>
    }
    ```
  }];
  let arguments = (ins OptionalAttr<Optim_LearningRateAttr>:$learning_rate,
                       OptionalAttr<F64Attr>:$weight_decay,
                       UnitAttr:$grad_centralization);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = [{
    (`learning_rate` $learning_rate^)? (`weight_decay` $weight_decay^)?
    (`grad_centralization` $grad_centralization^)? attr-dict-with-keyword $body
  }];
  let hasVerifier = 1;
}

def Optim_ParamOp : Optim_Op<"param", [
    ParentOneOf<["OptimizerOp", "GroupOp"]>]> {
  let summary = "a trainable parameter";
  let description = [{
    A parameter with its MindSpore name, shape and element type. `sparse`
    marks a parameter whose gradient arrives as rows (indices, values).

    ```mlir
    optim.param "embedding.table" : tensor<1000x64xf32> sparse
    ```
  }];
  let arguments = (ins StrAttr:$name, TypeAttrOf<Optim_FloatTensor>:$type,
                       UnitAttr:$sparse);
  let assemblyFormat = "$name `:` $type (`sparse` $sparse^)? attr-dict";
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    ::mlir::RankedTensorType getTensorType() {
      return ::llvm::cast<::mlir::RankedTensorType>(getType());
    }
  }];
}

def Optim_OrderParamsOp : Optim_Op<"order_params", [HasParent<"OptimizerOp">]> {
  let summary = "the order of the optimizer's parameters";
  let description = [{
    MindSpore's `order_params` group: the names of all grouped parameters in
    the order the step (and `parameters`) uses.

    ```mlir
    optim.order_params ["b", "a"]
    ```
  }];
  let arguments = (ins StrArrayAttr:$names);
  let assemblyFormat = "$names attr-dict";
}

//===----------------------------------------------------------------------===//
// Compute level: base-class features
//===----------------------------------------------------------------------===//

def Optim_LearningRateOp : Optim_Op<"learning_rate", [Pure]> {
  let summary = "the learning rate of a schedule or list at a global step";
  let description = [{
    Evaluates a schedule or per-step list at the 0-based global step.

    ```mlir
    %lr = optim.learning_rate #optim.warmup<learning_rate = 1.0e-01, warmup_steps = 10> at %step
    ```
  }];
  let arguments = (ins AnyAttrOf<[
      Attr<CPred<"::llvm::isa<::mlir::optim::LearningRateAttrInterface>($_self)">,
           "learning-rate schedule">]>:$schedule, I64:$step);
  let results = (outs F32:$result);
  let assemblyFormat = "$schedule `at` $step attr-dict";
  let extraClassDeclaration = [{
    ::mlir::optim::LearningRateAttrInterface getScheduleInterface() {
      return ::llvm::cast<::mlir::optim::LearningRateAttrInterface>(getSchedule());
    }
  }];
}

def Optim_ScaleGradOp : Optim_Op<"scale_grad", [Pure,
    AllTypesMatch<["grad", "result"]>]> {
  let summary = "gradient unscaling: `grad * (1 / loss_scale)`";
  let description = [{
    Divides a gradient by the loss scale. Folds away when the loss scale is
    the constant 1.

    ```mlir
    %0 = optim.scale_grad %g by %loss_scale : tensor<16xf32>
    ```
  }];
  let arguments = (ins Optim_FloatTensor:$grad, F32:$loss_scale);
  let results = (outs Optim_FloatTensor:$result);
  let assemblyFormat = "$grad `by` $loss_scale attr-dict `:` type($grad)";
  let hasFolder = 1;
  let hasVerifier = 1;
}

def Optim_DecayWeightOp : Optim_Op<"decay_weight", [Pure,
    AllTypesMatch<["grad", "param", "result"]>]> {
  let summary = "weight decay: `grad + weight_decay * param`";
  let description = [{
    Adds the decay term to a gradient. Folds away when the weight decay is
    the constant 0.

    ```mlir
    %0 = optim.decay_weight %g, %p by %wd : tensor<64x3xf32>
    ```
  }];
  let arguments = (ins Optim_FloatTensor:$grad, Optim_FloatTensor:$param,
                       F32:$weight_decay);
  let results = (outs Optim_FloatTensor:$result);
  let assemblyFormat = "$grad `,` $param `by` $weight_decay attr-dict `:` type($grad)";
  let hasFolder = 1;
  let hasVerifier = 1;
}

def Optim_CentralizeOp : Optim_Op<"centralize", [Pure,
    AllTypesMatch<["grad", "result"]>]> {
  let summary = "gradient centralization";
  let description = [{
    For a tensor of rank >= 2 whose second dimension is a multiple of 16,
    subtracts from each slice along the first axis its mean over all the
    other axes; any other tensor passes unchanged (and the op folds away
    when the static shape says so).

    With `row_sums` (the sums of each slice along the first axis, from
    `optim.row_sum`, computed in an earlier phase of the step), the op
    always applies and only subtracts `row_sums[i] / (elements of a
    slice)`: the multi-tensor step computes the sums of a chunk of rows in
    its reduction phase and applies them in its update phase, on a view of
    the parameter as (rows, cols).

    ```mlir
    %0 = optim.centralize %g : tensor<8x16x3x3xf32>
    %1 = optim.centralize %h row_sums %s : tensor<?x?xf32>, tensor<?xf32>
    ```
  }];
  let arguments = (ins Optim_FloatTensor:$grad,
                       Optional<Optim_ReductionTensor>:$row_sums);
  let results = (outs Optim_FloatTensor:$result);
  let assemblyFormat = [{
    $grad (`row_sums` $row_sums^)? attr-dict `:` type($grad)
    (`,` type($row_sums)^)?
  }];
  let hasFolder = 1;
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// True if centralization changes a tensor of this type (known
    /// statically; a dynamic second dimension counts as "may apply").
    static bool appliesTo(::mlir::RankedTensorType type);
  }];
}

def Optim_RowSumOp : Optim_Op<"row_sum", [Pure]> {
  let summary = "sums of each slice along the first axis";
  let description = [{
    `result[i]` is the sum of `input[i, ...]` over all the other axes, in
    the compute type (f32 for 16-bit inputs). The reduction half of
    gradient centralization, as a phase of its own.

    ```mlir
    %s = optim.row_sum %g : tensor<?x?xf32> -> tensor<?xf32>
    ```
  }];
  let arguments = (ins Optim_FloatTensor:$input);
  let results = (outs Optim_ReductionTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def Optim_GlobalNormOp : Optim_Op<"global_norm", [Pure]> {
  let summary = "the L2 norm over all elements of all operands";
  let description = [{
    ```mlir
    %n = optim.global_norm %g0, %g1 : tensor<4x4xf32>, tensor<4xf32>
    ```
  }];
  let arguments = (ins Variadic<Optim_FloatTensor>:$tensors);
  let results = (outs F32:$result);
  let assemblyFormat = "$tensors attr-dict `:` type($tensors)";
  let hasVerifier = 1;
}

def Optim_AllFiniteOp : Optim_Op<"all_finite", [Pure]> {
  let summary = "true if no element of any operand is inf or nan";
  let description = [{
    The overflow check of dynamic loss scaling: when it is false the step
    skips the update.

    ```mlir
    %ok = optim.all_finite %g0, %g1 : tensor<4x4xf32>, tensor<4xf32>
    ```
  }];
  let arguments = (ins Variadic<Optim_FloatTensor>:$tensors);
  let results = (outs I1:$result);
  let assemblyFormat = "$tensors attr-dict `:` type($tensors)";
  let hasVerifier = 1;
}

def Optim_BroadcastParamsOp : Optim_Op<"broadcast_params", [Pure]> {
  let summary = "broadcast of sharded parameters after the update";
  let description = [{
    With parameters sharded over `num_ranks` ranks (parameter `i` updated by
    rank `i mod num_ranks`), every rank receives every parameter, rank by
    rank in order. With one rank it is the identity and folds away.

    ```mlir
    %a, %b = optim.broadcast_params %p0, %p1 num_ranks 2 : tensor<4xf32>, tensor<8xf32>
    ```
  }];
  let arguments = (ins Variadic<Optim_FloatTensor>:$params,
                       ConfinedAttr<I64Attr, [IntMinValue<1>]>:$num_ranks);
  let results = (outs Variadic<Optim_FloatTensor>:$results);
  let assemblyFormat = [{
    $params `num_ranks` $num_ranks attr-dict `:`
    custom<SameTypes>(type($params), type($results))
  }];
  let hasFolder = 1;
  let hasVerifier = 1;
}

def Optim_UniqueOp : Optim_Op<"unique", [Pure]> {
  let summary = "merge duplicate row indices of a sparse gradient";
  let description = [{
    Returns the distinct indices (in order of first appearance) and, for
    each, the sum of the rows that named it. The number of distinct rows is
    only known at run time, so the results have a dynamic first dimension.

    ```mlir
    %i, %v = optim.unique %idx, %rows : tensor<6xi32>, tensor<6x8xf32> -> tensor<?xi32>, tensor<?x8xf32>
    ```
  }];
  let arguments = (ins RankedTensorOf<[I32, I64]>:$indices,
                       Optim_FloatTensor:$values);
  let results = (outs RankedTensorOf<[I32, I64]>:$unique_indices,
                      Optim_FloatTensor:$merged_values);
  let assemblyFormat = [{
    $indices `,` $values attr-dict `:` type($indices) `,` type($values) `->`
    type($unique_indices) `,` type($merged_values)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Compute level: update rules
//===----------------------------------------------------------------------===//

// An update op: `param`, `grad`, the rule's state tensors in brackets, then
// its scalar hyper-parameters (f32) and, where the rule needs it, the 1-based
// update count `step` (i64). Results: the new parameter and the new states,
// all of the parameter's type. The operand order of scalars is the order of
// the rule's entry in Rules.cpp.
class Optim_UpdateOp<string mnemonic, string rule, dag scalars,
                     string scalarFormat, dag options = (ins),
                     dag norms = (ins), string normsFormat = "",
                     string normsTypeFormat = "", list<Trait> traits = []>
    : Optim_Op<mnemonic, !listconcat([Pure], traits)> {
  let summary = "the " # rule # " update rule";
  let arguments = !con((ins Optim_FloatTensor:$param, Optim_FloatTensor:$grad,
                            Variadic<Optim_FloatTensor>:$states),
                       scalars, norms, options);
  let results = (outs Optim_FloatTensor:$new_param,
                      Variadic<Optim_FloatTensor>:$new_states);
  let assemblyFormat = "$param `,` $grad `,` `[` $states `]` " # scalarFormat #
    normsFormat # [{ attr-dict `:`
       custom<UpdateTypes>(type($param), ref($states), type($grad),
                           type($states), type($new_param), type($new_states))
    }] # normsTypeFormat;
  let hasVerifier = 1;
}

// The per-tensor sums of squares a rule's trust ratio needs (Lamb, LARS),
// over one chunk of a parameter: the reduction phase of the multi-tensor
// step. Same operands as the rule's update op; the sums of every chunk of a
// tensor add up to the tensor's, which the update op takes as `norms`.
class Optim_NormsOp<string mnemonic, string rule, dag scalars,
                    string scalarFormat, dag options = (ins)>
    : Optim_Op<mnemonic, [Pure]> {
  let summary = "the squared norms of the " # rule # " trust ratio";
  let arguments = !con((ins Optim_FloatTensor:$param, Optim_FloatTensor:$grad,
                            Variadic<Optim_FloatTensor>:$states),
                       scalars, options);
  let results = (outs Optim_ReductionTensor:$sums);
  let assemblyFormat = "$param `,` $grad `,` `[` $states `]` " # scalarFormat #
    [{ attr-dict `:`
       custom<NormsTypes>(type($param), ref($states), type($grad),
                          type($states)) `->` type($sums)
    }];
  let hasVerifier = 1;
}

def Optim_SGDUpdateOp : Optim_UpdateOp<"sgd_update", "SGD",
    (ins F32:$lr, F32:$momentum, F32:$dampening, I64:$step),
    "`lr` $lr `momentum` $momentum `dampening` $dampening `step` $step",
    (ins UnitAttr:$nesterov)> {
  let description = [{
    State `[accum]`. With `momentum > 0`: on the first update (`step == 1`)
    `accum = grad`, then `accum = momentum * accum + (1 - dampening) * grad`;
    `param -= lr * (grad + momentum * accum)` with `nesterov`, else
    `param -= lr * accum`. With `momentum == 0` this is plain SGD,
    `param -= lr * grad`, and `accum` is left unchanged (MindSpore's kernel).

    ```mlir
    %p1, %a1 = optim.sgd_update %p, %g, [%a] lr %lr momentum %mu dampening %d step %t : tensor<16xf32>
    ```
  }];
}

def Optim_MomentumUpdateOp : Optim_UpdateOp<"momentum_update", "Momentum",
    (ins F32:$lr, F32:$momentum),
    "`lr` $lr `momentum` $momentum", (ins UnitAttr:$use_nesterov)> {
  let description = [{
    State `[moments]`: `moments = momentum * moments + grad`;
    `param -= lr * (grad + momentum * moments)` with `use_nesterov`, else
    `param -= lr * moments` (MindSpore's definition: no dampening).

    ```mlir
    %p1, %v1 = optim.momentum_update %p, %g, [%v] lr %lr momentum %mu : tensor<16xf32>
    ```
  }];
}

def Optim_AdamUpdateOp : Optim_UpdateOp<"adam_update", "Adam",
    (ins F32:$lr, F32:$beta1, F32:$beta2, F32:$eps, I64:$step),
    "`lr` $lr `beta1` $beta1 `beta2` $beta2 `eps` $eps `step` $step",
    (ins UnitAttr:$use_nesterov, UnitAttr:$use_amsgrad)> {
  let description = [{
    States `[moment1, moment2]` (plus `vhat` with `use_amsgrad`).
    `m = beta1 * m + (1 - beta1) * g`, `v = beta2 * v + (1 - beta2) * g^2`,
    `lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t)`;
    `param -= lr_t * m / (sqrt(v) + eps)`, or with `use_nesterov`
    `param -= lr_t * (beta1 * m + (1 - beta1) * g) / (sqrt(v) + eps)`.
    With `use_amsgrad`, `vhat = max(vhat, v)` replaces `v` in the
    denominator and `use_nesterov` is ignored (MindSpore's
    `ApplyAdamWithAmsgrad`).
    The bias correction is folded into the step size, with `eps` added to
    the uncorrected `sqrt(v)` (MindSpore's definition; torch adds eps to the
    corrected value).

    ```mlir
    %p1, %m1, %v1 = optim.adam_update %p, %g, [%m, %v] lr %lr beta1 %b1 beta2 %b2 eps %e step %t : tensor<16xf32>
    ```
  }];
}

def Optim_AdamWeightDecayUpdateOp : Optim_UpdateOp<"adam_weight_decay_update",
    "AdamWeightDecay",
    (ins F32:$lr, F32:$beta1, F32:$beta2, F32:$eps, F32:$weight_decay),
    "`lr` $lr `beta1` $beta1 `beta2` $beta2 `eps` $eps `weight_decay` $weight_decay"> {
  let description = [{
    States `[moment1, moment2]`. Adam moments without bias correction;
    `param -= lr * (m / (sqrt(v) + eps) + weight_decay * param)`.

    ```mlir
    %p1, %m1, %v1 = optim.adam_weight_decay_update %p, %g, [%m, %v] lr %lr beta1 %b1 beta2 %b2 eps %e weight_decay %wd : tensor<16xf32>
    ```
  }];
}

defvar LambScalars = (ins F32:$lr, F32:$beta1, F32:$beta2, F32:$eps,
                          F32:$weight_decay, I64:$step);
defvar LambScalarFormat = "`lr` $lr `beta1` $beta1 `beta2` $beta2 `eps` $eps "
                          "`weight_decay` $weight_decay `step` $step";

def Optim_LambUpdateOp : Optim_UpdateOp<"lamb_update", "Lamb", LambScalars,
    LambScalarFormat, (ins),
    (ins Optional<Optim_ReductionTensor>:$norms), " (`norms` $norms^)?",
    " (`,` type($norms)^)?", [AttrSizedOperandSegments]> {
  let description = [{
    States `[moment1, moment2]`. With bias-corrected `m_hat = m / (1 - beta1^t)`
    and `v_hat = v / (1 - beta2^t)`, `u = m_hat / (sqrt(v_hat) + eps) + weight_decay * param`;
    the trust ratio is `|param| / |m_hat / sqrt(v_hat + eps) + weight_decay * param|`
    (1 when `|param|` or `|grad|` is 0), clipped to `[0, 10]`, and
    `param -= lr * ratio * u` (MindSpore's kernel).

    Without `norms` the op reduces the whole `param` itself. With `norms`
    (the squared norms `[|param|^2, |grad|^2, |m_hat / sqrt(v_hat + eps) +
    weight_decay * param|^2]` of the whole tensor, summed from
    `optim.lamb_norms` over its chunks) it is elementwise and may run on any
    chunk of the tensor.

    ```mlir
    %p1, %m1, %v1 = optim.lamb_update %p, %g, [%m, %v] lr %lr beta1 %b1 beta2 %b2 eps %e weight_decay %wd step %t : tensor<16xf32>
    %p2, %m2, %v2 = optim.lamb_update %p, %g, [%m, %v] lr %lr beta1 %b1 beta2 %b2 eps %e weight_decay %wd step %t norms %n : tensor<?xf32>, tensor<3xf32>
    ```
  }];
}

def Optim_LambNormsOp : Optim_NormsOp<"lamb_norms", "Lamb", LambScalars,
    LambScalarFormat> {
  let description = [{
    The three sums of squares `optim.lamb_update` needs as `norms`, over
    the elements of its operands (a chunk of a tensor).

    ```mlir
    %n = optim.lamb_norms %p, %g, [%m, %v] lr %lr beta1 %b1 beta2 %b2 eps %e weight_decay %wd step %t : tensor<?xf32> -> tensor<3xf32>
    ```
  }];
}

defvar LARSScalars = (ins F32:$lr, F32:$momentum, F32:$epsilon,
                          F32:$coefficient, F32:$weight_decay);
defvar LARSScalarFormat = "`lr` $lr `momentum` $momentum `epsilon` $epsilon "
                          "`coefficient` $coefficient `weight_decay` $weight_decay";

def Optim_LARSUpdateOp : Optim_UpdateOp<"lars_update", "LARS", LARSScalars,
    LARSScalarFormat, (ins UnitAttr:$use_nesterov),
    (ins Optional<Optim_ReductionTensor>:$norms), " (`norms` $norms^)?",
    " (`,` type($norms)^)?", [AttrSizedOperandSegments]> {
  let description = [{
    State `[moments]`. LARS around Momentum: with `w = |param|` and
    `n = |grad|`, `ratio = coefficient * w / (n + weight_decay * w + epsilon)`
    when both norms are positive, else 1;
    `grad' = ratio * (grad + weight_decay * param)`, then the Momentum update
    with `grad'`.

    With `norms` (`[w^2, n^2]` of the whole tensor, summed from
    `optim.lars_norms` over its chunks) the op is elementwise.

    ```mlir
    %p1, %v1 = optim.lars_update %p, %g, [%v] lr %lr momentum %mu epsilon %e coefficient %c weight_decay %wd : tensor<16xf32>
    ```
  }];
}

def Optim_LARSNormsOp : Optim_NormsOp<"lars_norms", "LARS", LARSScalars,
    LARSScalarFormat, (ins UnitAttr:$use_nesterov)> {
  let description = [{
    The two sums of squares `optim.lars_update` needs as `norms`.

    ```mlir
    %n = optim.lars_norms %p, %g, [%v] lr %lr momentum %mu epsilon %e coefficient %c weight_decay %wd : tensor<?xf32> -> tensor<2xf32>
    ```
  }];
}

def Optim_AdagradUpdateOp : Optim_UpdateOp<"adagrad_update", "Adagrad",
    (ins F32:$lr), "`lr` $lr", (ins UnitAttr:$update_slots)> {
  let description = [{
    State `[accum]`: `accum += grad^2` (when `update_slots`);
    `param -= lr * grad / sqrt(accum)`.

    ```mlir
    %p1, %a1 = optim.adagrad_update %p, %g, [%a] lr %lr {update_slots} : tensor<16xf32>
    ```
  }];
}

def Optim_RMSPropUpdateOp : Optim_UpdateOp<"rmsprop_update", "RMSProp",
    (ins F32:$lr, F32:$decay, F32:$momentum, F32:$epsilon),
    "`lr` $lr `decay` $decay `momentum` $momentum `epsilon` $epsilon",
    (ins UnitAttr:$centered)> {
  let description = [{
    States `[mean_square, moment]`, plus `mean_grad` first with `centered`.
    `ms = decay * ms + (1 - decay) * g^2`;
    `mom = momentum * mom + lr * g / sqrt(ms + epsilon)` (centered:
    `mg = decay * mg + (1 - decay) * g` and `sqrt(ms - mg^2 + epsilon)`,
    and an element whose `ms - mg^2 + epsilon <= 0` keeps its moment and
    parameter); `param -= mom`.

    ```mlir
    %p1, %s1, %m1 = optim.rmsprop_update %p, %g, [%s, %m] lr %lr decay %d momentum %mu epsilon %e : tensor<16xf32>
    ```
  }];
}

def Optim_FTRLUpdateOp : Optim_UpdateOp<"ftrl_update", "FTRL",
    (ins F32:$lr, F32:$lr_power, F32:$l1, F32:$l2),
    "`lr` $lr `lr_power` $lr_power `l1` $l1 `l2` $l2"> {
  let description = [{
    States `[accum, linear]`: `a' = accum + g^2`;
    `linear += g - (a'^(-lr_power) - accum^(-lr_power)) / lr * param`;
    `param = |linear| > l1 ? (sign(linear) * l1 - linear) / (a'^(-lr_power) / lr + 2 * l2) : 0`.

    ```mlir
    %p1, %a1, %l1 = optim.ftrl_update %p, %g, [%a, %l] lr %lr lr_power %pw l1 %x l2 %y : tensor<16xf32>
    ```
  }];
}

def Optim_ProximalAdagradUpdateOp : Optim_UpdateOp<"proximal_adagrad_update",
    "ProximalAdagrad", (ins F32:$lr, F32:$l1, F32:$l2),
    "`lr` $lr `l1` $l1 `l2` $l2"> {
  let description = [{
    State `[accum]`: `accum += g^2`; `v = param - lr * g / sqrt(accum)`;
    `param = sign(v) * max(|v| - lr * l1, 0) / (1 + lr * l2)`.

    ```mlir
    %p1, %a1 = optim.proximal_adagrad_update %p, %g, [%a] lr %lr l1 %x l2 %y : tensor<16xf32>
    ```
  }];
}

def Optim_AdaMaxUpdateOp : Optim_UpdateOp<"adamax_update", "AdaMax",
    (ins F32:$lr, F32:$beta1, F32:$beta2, F32:$eps, I64:$step),
    "`lr` $lr `beta1` $beta1 `beta2` $beta2 `eps` $eps `step` $step"> {
  let description = [{
    States `[moment1, moment2]`: `m = beta1 * m + (1 - beta1) * g`,
    `v = max(beta2 * v, |g|)`, `param -= lr / (1 - beta1^t) * m / (v + eps)`.

    ```mlir
    %p1, %m1, %v1 = optim.adamax_update %p, %g, [%m, %v] lr %lr beta1 %b1 beta2 %b2 eps %e step %t : tensor<16xf32>
    ```
  }];
}

def Optim_AdadeltaUpdateOp : Optim_UpdateOp<"adadelta_update", "Adadelta",
    (ins F32:$lr, F32:$rho, F32:$epsilon),
    "`lr` $lr `rho` $rho `epsilon` $epsilon"> {
  let description = [{
    States `[accum, accum_update]`: `accum = rho * accum + (1 - rho) * g^2`;
    `u = sqrt(accum_update + epsilon) / sqrt(accum + epsilon) * g`;
    `accum_update = rho * accum_update + (1 - rho) * u^2`; `param -= lr * u`.

    ```mlir
    %p1, %a1, %u1 = optim.adadelta_update %p, %g, [%a, %u] lr %lr rho %r epsilon %e : tensor<16xf32>
    ```
  }];
}

def Optim_ASGDUpdateOp : Optim_UpdateOp<"asgd_update", "ASGD",
    (ins F32:$lr, F32:$lambd, F32:$alpha, F32:$t0, I64:$step),
    "`lr` $lr `lambd` $lambd `alpha` $alpha `t0` $t0 `step` $step"> {
  let description = [{
    State `[ax]`. With `eta = lr` at `t == 1`, else
    `lr / (1 + lambd * lr * (t - 1))^alpha`, and `mu = 1 / max(1, t - 1 - t0)`:
    `param = param * (1 - lambd * eta) - eta * g`;
    `ax = mu == 1 ? param : ax + mu * (param - ax)`.

    ```mlir
    %p1, %x1 = optim.asgd_update %p, %g, [%x] lr %lr lambd %l alpha %a t0 %t0 step %t : tensor<16xf32>
    ```
  }];
}

def Optim_RpropUpdateOp : Optim_UpdateOp<"rprop_update", "Rprop",
    (ins F32:$lr, F32:$etaminus, F32:$etaplus, F32:$min_step, F32:$max_step,
         I64:$step),
    "`lr` $lr `etaminus` $etaminus `etaplus` $etaplus `min_step` $min_step `max_step` $max_step `step` $step"> {
  let description = [{
    States `[prev, step_size]`; at the first update (`step == 1`) the step
    size is set to `lr`. With `s = g * prev`, the step size is multiplied by
    `etaplus` where `s > 0`, by `etaminus` where `s < 0` (and `g = 0`
    there), and every element's step size is clipped to
    `[min_step, max_step]`; `param -= sign(g) * step_size`; `prev = g`.

    ```mlir
    %p1, %q1, %s1 = optim.rprop_update %p, %g, [%q, %s] lr %lr etaminus %a etaplus %b min_step %c max_step %d step %t : tensor<16xf32>
    ```
  }];
}

def Optim_LazyAdamUpdateOp : Optim_Op<"lazy_adam_update", [Pure]> {
  let summary = "the LazyAdam update rule on sparse rows";
  let description = [{
    States `[moment1, moment2]`. The Adam update (MindSpore's form, with
    `use_nesterov`) applied only to the rows named by `indices` (which must
    be unique: see `optim.unique`); other rows of the parameter and states
    are untouched.

    ```mlir
    %p1, %m1, %v1 = optim.lazy_adam_update %p, %idx, %rows, [%m, %v] lr %lr beta1 %b1 beta2 %b2 eps %e step %t : tensor<100x8xf32>, tensor<?xi32>, tensor<?x8xf32>
    ```
  }];
  let arguments = (ins Optim_FloatTensor:$param,
                       RankedTensorOf<[I32, I64]>:$indices,
                       Optim_FloatTensor:$values,
                       Variadic<Optim_FloatTensor>:$states,
                       F32:$lr, F32:$beta1, F32:$beta2, F32:$eps, I64:$step,
                       UnitAttr:$use_nesterov);
  let results = (outs Optim_FloatTensor:$new_param,
                      Variadic<Optim_FloatTensor>:$new_states);
  let assemblyFormat = [{
    $param `,` $indices `,` $values `,` `[` $states `]`
    `lr` $lr `beta1` $beta1 `beta2` $beta2 `eps` $eps `step` $step attr-dict
    `:` custom<UpdateTypes>(type($param), ref($states), type($states),
                            type($new_param), type($new_states))
    `,` type($indices) `,` type($values)
  }];
  let hasVerifier = 1;
}

#endif // OPTIM_DIALECT_OPTIM_IR_OPTIMOPS_TD
