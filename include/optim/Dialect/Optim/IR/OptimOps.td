//===- OptimOps.td - optim operations ----------------------*- tablegen -*-===//

#ifndef OPTIM_DIALECT_OPTIM_IR_OPTIMOPS_TD
#define OPTIM_DIALECT_OPTIM_IR_OPTIMOPS_TD

include "optim/Dialect/Optim/IR/OptimDialect.td"
include "optim/Dialect/Optim/IR/OptimAttrs.td"
include "optim/Dialect/Optim/IR/OptimInterfaces.td"
include "mlir/IR/OpBase.td"
include "mlir/IR/SymbolInterfaces.td"
include "mlir/IR/RegionKindInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def Optim_FloatTensor : RankedTensorOf<[AnyFloat]>;
// Sums computed in a reduction phase: 1-D, in the compute type.
def Optim_ReductionTensor : 1DTensorOf<[F32, F64]>;
// A float scalar of a compute op (learning rate, hyper-parameter, loss
// scale, weight decay): f32, or f64 as the step's boundary passes them
// (docs/Step-structure.md). The float scalars of one op share one type,
// which prints as `scalars(f64)` when it is not f32.
def Optim_Scalar : AnyTypeOf<[F32, F64], "f32 or f64 scalar">;
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

    `loss_scale` may be followed by `dynamic<...>` (the parameters of a
    `#optim.dynamic_loss_scale`): the scale then changes from step to step,
    and a step whose gradients are not all finite changes nothing. `max_grad_norm` clips the gradients by their
    global norm (torch's `clip_grad_norm_`, after unscaling):

    ```mlir
    optim.optimizer @amp rule #optim.rule<adam> learning_rate 1e-3
        loss_scale 65536 dynamic<growth_factor = 2.0, backoff_factor = 0.5, growth_interval = 2000, min_scale = 0.0>
        max_grad_norm 1 {
      optim.param "w" : tensor<64x32xf32>
    }
    ```

    `sharding <broadcast_params>` or `sharding <zero>` says how a distributed
    runtime divides the update among ranks (`#optim.sharding`); a single
    process ignores it.

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
                       DefaultValuedAttr<Optim_TargetAttr,
                                         "::mlir::optim::Target::CPU">:$target,
                       DefaultValuedAttr<BoolAttr, "true">:$unique,
                       OptionalAttr<Optim_DynamicLossScaleAttr>:$dynamic_loss_scale,
                       OptionalAttr<F64Attr>:$max_grad_norm,
                       OptionalAttr<Optim_ShardingAttr>:$sharding);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = [{
    $sym_name `rule` $rule
    custom<OptimizerScalars>($learning_rate, $weight_decay, $loss_scale,
                             $dynamic_loss_scale, $max_grad_norm)
    (`target` $target^)? (`unique` $unique^)? (`sharding` $sharding^)?
    attr-dict-with-keyword $body
  }];
  let hasRegionVerifier = 1;
  let extraClassDeclaration = [{
    /// True if the body holds groups rather than parameters.
    bool isGrouped();
    /// True if the optimizer is in the form `optim-resolve-groups` gives:
    /// groups only, each with its learning rate and weight decay, and every
    /// parameter with its `decay`.
    bool isResolved();
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
    custom<GroupScalars>($learning_rate, $weight_decay)
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
    `decay` says whether weight decay applies to it; without it, the group's
    rule decides (`optim-resolve-groups` writes the decision).

    Mixed precision (docs/Mixed-precision.md): `master f32` gives a float16
    or bfloat16 parameter a float32 master copy that the rule updates, the
    parameter being rewritten rounded from it after each update; `states T`
    (f32, or the parameter's own type) is the element type of the rule's
    states (default: the parameter's type, f32 with a master).

    ```mlir
    optim.param "embedding.table" : tensor<1000x64xf32> sparse
    optim.param "layernorm.gamma" : tensor<64xf32> decay false
    optim.param "w" : tensor<64x32xbf16> master f32 states f32
    ```
  }];
  let arguments = (ins StrAttr:$name, TypeAttrOf<Optim_FloatTensor>:$type,
                       UnitAttr:$sparse, OptionalAttr<TypeAttr>:$master,
                       OptionalAttr<TypeAttr>:$states,
                       OptionalAttr<BoolAttr>:$decay);
  let assemblyFormat = [{
    $name `:` $type (`sparse` $sparse^)? (`master` $master^)?
    (`states` $states^)? (`decay` $decay^)? attr-dict
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    ::mlir::RankedTensorType getTensorType() {
      return ::llvm::cast<::mlir::RankedTensorType>(getType());
    }
    /// The element type of the rule's states: `states`, else f32 with a
    /// master, else the parameter's.
    ::mlir::Type getStateElementType();
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
// Step level: between the resolved optimizer and the scheduled step
//===----------------------------------------------------------------------===//

def Optim_MultiTensorUpdateOp : Optim_Op<"multi_tensor_update", [
    AttrSizedOperandSegments]> {
  let summary = "one class of parameters updated in place by one rule";
  let description = [{
    The update of a class of parameters: parameters that share their code
    (element type, centralization, weight decay before unscaling) and their
    scalars (group, decay). `optim-build-step-boundary` emits one per class
    in a step function; `optim-schedule-step` turns them into the step's
    phases. The parameters' buffers are updated in place.

    `buffers` is either one buffer table (`memref<? x memref<? x T>>`; the
    parameter at `positions[i]` of the table owns entries
    `positions[i] * (2 + #states) + {0: param, 1: grad, 2...: states}`,
    flat buffers of `param_types[i]`'s element count), or every member's
    buffers in turn: param, grad (sparse: indices `memref<?xi32>` and rows),
    states, each of its type.

    Mixed precision: `master` (f32) and `states` (the states' element
    type) when they are not the parameter's. Each buffer then lives in the
    table of its element type: `buffers` holds the parameters' table and
    an auxiliary table (f32) after it, `positions[i]` is the first entry
    of member i in the first (param, grad, then the states of the
    parameter's type) and `aux_positions[i]` its first entry in the second
    (the f32 states, then the master).

    Scalars, all f32 but the i64 update count: `loss_scale`, `decay_weight`
    (the coefficient of `optim.decay_weight`, already multiplied by the loss
    scale; present when weight decay runs before unscaling), `lr`, the
    rule's operand hyper-parameters, `weight_decay` (rules that decay in
    their update) and `count` (the 1-based update count, rules that use the
    step).

    ```mlir
    optim.multi_tensor_update #optim.rule<momentum>(%table : memref<?xmemref<?xf32>>)
        params [tensor<64x32xf32>, tensor<32xf32>] positions [0, 1]
        loss_scale %ls decay_weight %wd lr %lr hyper_params(%momentum)
    ```
  }];
  let arguments = (ins Optim_RuleAttr:$rule,
                       Variadic<AnyMemRef>:$buffers,
                       F64:$loss_scale,
                       Optional<F64>:$decay_weight,
                       F64:$learning_rate,
                       Variadic<F64>:$hyper_params,
                       Optional<F64>:$weight_decay,
                       Optional<I64>:$count,
                       TypeArrayAttr:$param_types,
                       OptionalAttr<DenseI64ArrayAttr>:$positions,
                       OptionalAttr<DenseI64ArrayAttr>:$aux_positions,
                       OptionalAttr<TypeAttr>:$master_type,
                       OptionalAttr<TypeAttr>:$state_type,
                       UnitAttr:$centralize,
                       UnitAttr:$sparse,
                       UnitAttr:$unique);
  let assemblyFormat = [{
    $rule `(` $buffers `:` type($buffers) `)`
    `params` $param_types (`positions` $positions^)?
    (`aux_positions` $aux_positions^)? (`master` $master_type^)?
    (`states` $state_type^)?
    `loss_scale` $loss_scale (`decay_weight` $decay_weight^)?
    `lr` $learning_rate (`hyper_params` `(` $hyper_params^ `)`)?
    (`weight_decay` $weight_decay^)? (`count` $count^)?
    (`centralize` $centralize^)? (`sparse` $sparse^)? (`unique` $unique^)?
    attr-dict
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// True if `buffers` is one buffer table.
    bool hasBufferTable();
    /// The parameters' tensor types.
    ::llvm::SmallVector<::mlir::RankedTensorType> getParamTensorTypes();
    /// Buffers of each member in the per-buffer form.
    unsigned getNumBuffersPerParam();
    /// The scalars in the order the update reads them (see above).
    ::llvm::SmallVector<::mlir::Value> getScalars();
    /// The states' element type (`states`, else the parameters').
    ::mlir::Type getStateElementType();
    /// The auxiliary buffer table (null without one).
    ::mlir::Value getAuxTable();
  }];
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
  let results = (outs Optim_Scalar:$result);
  let assemblyFormat =
      "$schedule `at` custom<ScalarType>($step, type($result)) attr-dict";
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
  let arguments = (ins Optim_FloatTensor:$grad, Optim_Scalar:$loss_scale);
  let results = (outs Optim_FloatTensor:$result);
  let assemblyFormat = "$grad `by` custom<ScalarType>($loss_scale, "
      "type($loss_scale)) attr-dict `:` type($grad)";
  let hasFolder = 1;
  let hasVerifier = 1;
}

def Optim_RoundToOp : Optim_Op<"round_to", [Pure,
    AllTypesMatch<["dest", "result"]>]> {
  let summary = "elementwise conversion to another float type";
  let description = [{
    Rounds every element of `input` to the element type of `dest` (to
    nearest even), `dest` giving the result's type and the buffer it is
    written to: the 16-bit parameter rewritten from its float32 master
    (docs/Mixed-precision.md). Shapes must match.

    ```mlir
    %p = optim.round_to %master into %param : tensor<16xf32> into tensor<16xbf16>
    ```
  }];
  let arguments = (ins Optim_FloatTensor:$input, Optim_FloatTensor:$dest);
  let results = (outs Optim_FloatTensor:$result);
  let assemblyFormat = "$input `into` $dest attr-dict `:` type($input) "
      "`into` type($dest)";
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
                       Optim_Scalar:$weight_decay);
  let results = (outs Optim_FloatTensor:$result);
  let assemblyFormat = "$grad `,` $param `by` custom<ScalarType>("
      "$weight_decay, type($weight_decay)) attr-dict `:` type($grad)";
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

def Optim_SquaredNormOp : Optim_Op<"squared_norm", [Pure]> {
  let summary = "the sum of the squares of all elements, in f64";
  let description = [{
    One partial sum of a step's global gradient norm. The sum runs in f64,
    whatever the input's type: the squares of finite f32, f16 and bf16
    values never overflow there, so the sum is finite exactly when every
    element is (the all-finite check of dynamic loss scaling comes free).

    ```mlir
    %s = optim.squared_norm %g : tensor<?xf32> -> tensor<1xf64>
    ```
  }];
  let arguments = (ins Optim_FloatTensor:$input);
  let results = (outs 1DTensorOf<[F64]>:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def Optim_GradientControlOp : Optim_Op<"gradient_control", [
    AttrSizedOperandSegments]> {
  let summary = "global-norm clipping and dynamic loss scaling of a step";
  let description = [{
    Emitted by `optim-build-step-boundary` before the classes of a step
    whose optimizer clips gradients or scales the loss dynamically;
    `optim-schedule-step` turns it into phases around the classes' phases:
    the squared norm of every chunk's gradient, a combine (global norm,
    found-inf flag, clip factor), the classes' phases (each chunk skipped
    when the flag is set, its gradients scaled by the clip factor), and, with
    dynamic scaling, the update of the scale.

    `status` is the step's own state, `memref<5xf64>`: `[0]` the loss scale
    (dynamic scaling), `[1]` clean steps since the scale last changed, `[2]`
    1 if the last step found an inf or NaN, `[3]` the global norm of the
    unscaled gradients of the last step, `[4]` the clip factor the last step
    divided the gradients by (>= 1).

    ```mlir
    optim.gradient_control(%status : memref<5xf64>) loss_scale %ls max_grad_norm %max
        dynamic(%growth, %backoff, %interval, %min)
    ```
  }];
  let arguments = (ins MemRefRankOf<[F64], [1]>:$status,
                       F64:$loss_scale,
                       Optional<F64>:$max_grad_norm,
                       Variadic<F64>:$dynamic);
  let assemblyFormat = [{
    `(` $status `:` type($status) `)` `loss_scale` $loss_scale
    (`max_grad_norm` $max_grad_norm^)? (`dynamic` `(` $dynamic^ `)`)? attr-dict
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// Slots of `status`.
    static constexpr int64_t kStatusLossScale = 0;
    static constexpr int64_t kStatusGoodSteps = 1;
    static constexpr int64_t kStatusFoundInf = 2;
    static constexpr int64_t kStatusGradNorm = 3;
    static constexpr int64_t kStatusClipFactor = 4;
    static constexpr int64_t kStatusSize = 5;
  }];
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

// The scalar operands of a rule's ops, from its record: `lr` and the
// operand hyper-parameters, then `weight_decay` where the rule applies it
// (all Optim_Scalar, of one type), then the 1-based update count `step`
// (i64) where it uses it.
class Optim_RuleScalars<Optim_Rule rule> {
  list<string> floatNames = !listconcat(["lr"],
      !foreach(h, !filter(h, rule.hyperParams, !not(h.initOnly)), h.name),
      !if(rule.decayInRule, ["weight_decay"], []<string>));
  list<string> names = !listconcat(floatNames,
      !if(rule.usesStep, ["step"], []<string>));
  dag arguments = !con(!dag(ins, !foreach(n, floatNames, Optim_Scalar),
                            floatNames),
                       !if(rule.usesStep, (ins I64:$step), (ins)));
  // The last scalar prints with the scalars' type (custom<ScalarType>).
  string last = !foldl("", names, previous, n, n);
  string format = !interleave(!foreach(n, !listremove(names, [last]),
                                       "`" # n # "` $" # n # " "), "")
    # "`" # last # "` custom<ScalarType>($" # last # ", "
    # !interleave(!foreach(n, floatNames, "type($" # n # ")"), ", ") # ")";
  // The rule's options, unit attributes.
  dag options = !dag(ins, !foreach(o, rule.options, UnitAttr),
                     !foreach(o, rule.options, o.name));
}

// Whether every state of a rule has its parameter's shape.
class Optim_RuleStateShapes<Optim_Rule rule> {
  bit allParamShaped = !foldl(1, rule.states, all, state,
      !and(all, !eq(state.shape.cppName, "Param")));
}

// What an update or norms op tells the UpdateOpInterface.
class Optim_RuleInterfaceMethods<Optim_Rule rule, string normSums,
                                 string isUpdate> {
  string body = [{
    static ::mlir::optim::RuleKind getRuleKind() {
      return ::mlir::optim::RuleKind::}] # rule.cppName # [{;
    }
    ::mlir::Value getParamOperand() { return getParam(); }
    ::mlir::Value getDenseGrad() { return getGrad(); }
    ::mlir::OperandRange getStateOperands() { return getStates(); }
    ::mlir::OperandRange getScalarOperands() {
      return getOperation()->getOperands().slice(2 + getStates().size(), }]
      # !size(Optim_RuleScalars<rule>.names) # [{);
    }
    ::mlir::Value getNormSums() { return }] # normSums # [{; }
    bool isUpdate() { return }] # isUpdate # [{; }
  }];
}

// The update op of a dense rule: `param`, `grad`, the rule's state tensors
// in brackets, then its scalars (Optim_RuleScalars) and, for a rule with
// per-tensor norms, the optional `norms` the reduction phase computed.
// Results: the new parameter and the new states, of the parameter's
// element type and of the shapes the record gives them.
class Optim_RuleUpdateOp<Optim_Rule rule>
    : Optim_Op<rule.mnemonic # "_update",
               !listconcat([Pure, Optim_UpdateOpInterface],
                           !if(!or(rule.numNorms, rule.wholeTensor),
                               [AttrSizedOperandSegments], []<Trait>))> {
  let summary = "the " # rule.className # " update rule";
  let description = rule.description;
  let arguments = !con((ins Optim_FloatTensor:$param, Optim_FloatTensor:$grad,
                            Variadic<Optim_FloatTensor>:$states),
                       Optim_RuleScalars<rule>.arguments,
                       !if(rule.numNorms,
                           (ins Optional<Optim_ReductionTensor>:$norms),
                           (ins)),
                       // A whole-tensor rule's sums: buffers the step
                       // provides (its scratch table), else temporaries.
                       !if(rule.wholeTensor,
                           (ins Variadic<RankedTensorOf<[F32, F64]>>:$workspace),
                           (ins)),
                       Optim_RuleScalars<rule>.options);
  let results = (outs Optim_FloatTensor:$new_param,
                      Variadic<Optim_FloatTensor>:$new_states);
  // States of the parameter's type print only the parameter's type; other
  // states' types follow in brackets.
  let assemblyFormat = "$param `,` $grad `,` `[` $states `]` "
    # Optim_RuleScalars<rule>.format
    # !if(rule.numNorms, " (`norms` $norms^)?", "")
    # !if(rule.wholeTensor,
          " (`workspace` `(` $workspace^ `:` type($workspace) `)`)?", "")
    # " attr-dict `:` "
    # !if(Optim_RuleStateShapes<rule>.allParamShaped, [{
       custom<UpdateTypes>(type($param), ref($states), type($grad),
                           type($states), type($new_param), type($new_states))
    }], [{
       custom<ShapedUpdateTypes>(type($param), type($states), type($grad),
                                 type($new_param), type($new_states))
    }]) # !if(rule.numNorms, " (`,` type($norms)^)?", "");
  let extraClassDeclaration = Optim_RuleInterfaceMethods<rule,
      !if(rule.numNorms, "getNorms()", "::mlir::Value()"), "true">.body;
}

// The per-tensor sums of squares a rule's trust ratio needs (Lamb, LARS),
// over one chunk of a parameter: the reduction phase of the multi-tensor
// step. Same operands as the rule's update op; the sums of every chunk of a
// tensor add up to the tensor's, which the update op takes as `norms`.
class Optim_RuleNormsOp<Optim_Rule rule>
    : Optim_Op<rule.mnemonic # "_norms", [Pure, Optim_UpdateOpInterface]> {
  let summary = "the squared norms of the " # rule.className # " trust ratio";
  let description = rule.normsDescription;
  let arguments = !con((ins Optim_FloatTensor:$param, Optim_FloatTensor:$grad,
                            Variadic<Optim_FloatTensor>:$states),
                       Optim_RuleScalars<rule>.arguments,
                       Optim_RuleScalars<rule>.options);
  let results = (outs Optim_ReductionTensor:$sums);
  let assemblyFormat = "$param `,` $grad `,` `[` $states `]` "
    # Optim_RuleScalars<rule>.format # [{ attr-dict `:`
       custom<NormsTypes>(type($param), ref($states), type($grad),
                          type($states)) `->` type($sums)
    }];
  let extraClassDeclaration =
      Optim_RuleInterfaceMethods<rule, "getSums()", "false">.body;
}

// Every dense rule's update op, and the norms op of each rule with
// per-tensor norms: `<cppName>UpdateOp`, `<cppName>NormsOp`.
foreach rule = !filter(r, !instances<Optim_Rule>(), !not(r.sparseGrad)) in
  def "Optim_" # rule.cppName # "UpdateOp" : Optim_RuleUpdateOp<rule>;
foreach rule = !filter(r, !instances<Optim_Rule>(), !gt(r.numNorms, 0)) in
  def "Optim_" # rule.cppName # "NormsOp" : Optim_RuleNormsOp<rule>;

def Optim_LazyAdamUpdateOp
    : Optim_Op<"lazy_adam_update", [Pure, Optim_UpdateOpInterface]> {
  let summary = "the LazyAdam update rule on sparse rows";
  let description = Optim_LazyAdamRule.description;
  let arguments = !con((ins Optim_FloatTensor:$param,
                            RankedTensorOf<[I32, I64]>:$indices,
                            Optim_FloatTensor:$values,
                            Variadic<Optim_FloatTensor>:$states),
                       Optim_RuleScalars<Optim_LazyAdamRule>.arguments,
                       Optim_RuleScalars<Optim_LazyAdamRule>.options);
  let results = (outs Optim_FloatTensor:$new_param,
                      Variadic<Optim_FloatTensor>:$new_states);
  let assemblyFormat = "$param `,` $indices `,` $values `,` `[` $states `]` "
    # Optim_RuleScalars<Optim_LazyAdamRule>.format # [{ attr-dict
    `:` custom<UpdateTypes>(type($param), ref($states), type($states),
                            type($new_param), type($new_states))
    `,` type($indices) `,` type($values)
  }];
  let extraClassDeclaration = [{
    static ::mlir::optim::RuleKind getRuleKind() {
      return ::mlir::optim::RuleKind::LazyAdam;
    }
    ::mlir::Value getParamOperand() { return getParam(); }
    ::mlir::Value getDenseGrad() { return {}; }
    ::mlir::OperandRange getStateOperands() { return getStates(); }
    ::mlir::OperandRange getScalarOperands() {
      return getOperation()->getOperands().drop_front(3 + getStates().size());
    }
    ::mlir::Value getNormSums() { return {}; }
    bool isUpdate() { return true; }
  }];
  let hasVerifier = 1;
}

#endif // OPTIM_DIALECT_OPTIM_IR_OPTIMOPS_TD
