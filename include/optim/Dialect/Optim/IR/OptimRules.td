//===- OptimRules.td - the update rules, one record each ---*- tablegen -*-===//
//
// Every update rule is one `Optim_Rule` record: its hyper-parameters with
// defaults (MindSpore's constructors) and valid ranges, its options, its
// states with their initial values, how it takes the step and the weight
// decay, and its formula's description. From these records come:
//
//   - the `RuleKind` enum (OptimAttrs.td);
//   - the update op of every dense rule and the norms op of every rule with
//     per-tensor norms (OptimOps.td), with their operands, syntax and docs;
//   - the rule table the verifier, the resolve pass, the runtime's ABI and
//     the Python layer read (`optim-tblgen -gen-rule-defs`, Rules.cpp),
//     and through it the Python classes of the rules that ask for them
//     (`genPythonClasses`);
//   - the reference page of the rules (`-gen-rule-docs`, docs/Rules.md).
//
// The formula itself is the rule's lowering (UpdateRules.cpp).
//
//===----------------------------------------------------------------------===//

#ifndef OPTIM_DIALECT_OPTIM_IR_OPTIMRULES_TD
#define OPTIM_DIALECT_OPTIM_IR_OPTIMRULES_TD

include "optim/Dialect/Optim/IR/OptimRuleBase.td"

//===----------------------------------------------------------------------===//
// The rules
//===----------------------------------------------------------------------===//

def Optim_SGDRule : Optim_Rule<0, "SGD", "sgd", "SGD"> {
  let hyperParams = [
    Optim_Hyper<"momentum", "0.0", Optim_NonNegative>,
    Optim_Hyper<"dampening", "0.0", Optim_NonNegative>
  ];
  let options = [Optim_Option<"nesterov">];
  let states = [
    Optim_State<"accum">
  ];
  let usesStep = 1;
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

def Optim_MomentumRule : Optim_Rule<1, "Momentum", "momentum", "Momentum"> {
  let hyperParams = [
    Optim_Hyper<"momentum", "0.9", Optim_NonNegative>
  ];
  let options = [Optim_Option<"use_nesterov">];
  let states = [
    Optim_State<"moments">
  ];
  let description = [{
    State `[moments]`: `moments = momentum * moments + grad`;
    `param -= lr * (grad + momentum * moments)` with `use_nesterov`, else
    `param -= lr * moments` (MindSpore's definition: no dampening).

    ```mlir
    %p1, %v1 = optim.momentum_update %p, %g, [%v] lr %lr momentum %mu : tensor<16xf32>
    ```
  }];
}

def Optim_AdamRule : Optim_Rule<2, "Adam", "adam", "Adam"> {
  let hyperParams = [
    Optim_Hyper<"beta1", "0.9", Optim_OpenUnit>,
    Optim_Hyper<"beta2", "0.999", Optim_OpenUnit>,
    Optim_Hyper<"eps", "1e-8", Optim_Positive>
  ];
  let options = [Optim_Option<"use_nesterov">, Optim_Option<"use_amsgrad">];
  let states = [
    Optim_State<"moment1">,
    Optim_State<"moment2">,
    Optim_State<"vhat", "0.0", "", "use_amsgrad">
  ];
  let usesStep = 1;
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

def Optim_AdamWeightDecayRule : Optim_Rule<3, "AdamWeightDecay", "adam_weight_decay", "AdamWeightDecay"> {
  let hyperParams = [
    Optim_Hyper<"beta1", "0.9", Optim_OpenUnit>,
    Optim_Hyper<"beta2", "0.999", Optim_OpenUnit>,
    Optim_Hyper<"eps", "1e-6", Optim_Positive>
  ];
  let options = [Optim_Option<"use_amsgrad">];
  let states = [
    Optim_State<"moment1">,
    Optim_State<"moment2">,
    Optim_State<"vhat", "0.0", "", "use_amsgrad">
  ];
  let decayInRule = 1;
  let description = [{
    States `[moment1, moment2]` (plus `vhat` with `use_amsgrad`). Adam
    moments without bias correction;
    `param -= lr * (m / (sqrt(v) + eps) + weight_decay * param)`. With
    `use_amsgrad` (torch's `AdamW(amsgrad=True)`; MindSpore's
    AdamWeightDecay has no such option), `vhat = max(vhat, v)` replaces `v`
    in the denominator.

    ```mlir
    %p1, %m1, %v1 = optim.adam_weight_decay_update %p, %g, [%m, %v] lr %lr beta1 %b1 beta2 %b2 eps %e weight_decay %wd : tensor<16xf32>
    ```
  }];
}

def Optim_LambRule : Optim_Rule<4, "Lamb", "lamb", "Lamb"> {
  let hyperParams = [
    Optim_Hyper<"beta1", "0.9", Optim_OpenUnit>,
    Optim_Hyper<"beta2", "0.999", Optim_OpenUnit>,
    Optim_Hyper<"eps", "1e-6", Optim_Positive>
  ];
  let states = [
    Optim_State<"moment1">,
    Optim_State<"moment2">
  ];
  let usesStep = 1;
  let decayInRule = 1;
  let numNorms = 3;
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
  let normsDescription = [{
    The three sums of squares `optim.lamb_update` needs as `norms`, over
    the elements of its operands (a chunk of a tensor).

    ```mlir
    %n = optim.lamb_norms %p, %g, [%m, %v] lr %lr beta1 %b1 beta2 %b2 eps %e weight_decay %wd step %t : tensor<?xf32> -> tensor<3xf32>
    ```
  }];
}

def Optim_LARSRule : Optim_Rule<5, "LARS", "lars", "LARS"> {
  let hyperParams = [
    Optim_Hyper<"momentum", "0.9", Optim_NonNegative>,
    Optim_Hyper<"epsilon", "1e-5", Optim_NonNegative>,
    Optim_Hyper<"coefficient", "0.001", Optim_Positive>
  ];
  let options = [Optim_Option<"use_nesterov">];
  let states = [
    Optim_State<"moments">
  ];
  let decayInRule = 1;
  let numNorms = 2;
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
  let normsDescription = [{
    The two sums of squares `optim.lars_update` needs as `norms`.

    ```mlir
    %n = optim.lars_norms %p, %g, [%v] lr %lr momentum %mu epsilon %e coefficient %c weight_decay %wd : tensor<?xf32> -> tensor<2xf32>
    ```
  }];
}

def Optim_AdagradRule : Optim_Rule<6, "Adagrad", "adagrad", "Adagrad"> {
  let hyperParams = [
    Optim_Hyper<"accum", "0.1", Optim_NonNegative, /*initOnly=*/1>
  ];
  let options = [Optim_Option<"update_slots", 1>];
  let states = [
    Optim_State<"accum", "0.0", "accum">
  ];
  let description = [{
    State `[accum]`: `accum += grad^2` (when `update_slots`);
    `param -= lr * grad / sqrt(accum)`. This is MindSpore's GPU kernel and
    its docstring; its CPU kernel (`ApplyAdagradCpuKernelMod`) divides by
    `sqrt(accum + 1e-6)` instead, about 5e-6 relative at the default
    `accum = 0.1`, and finite where `accum` is 0.

    ```mlir
    %p1, %a1 = optim.adagrad_update %p, %g, [%a] lr %lr {update_slots} : tensor<16xf32>
    ```
  }];
}

def Optim_RMSPropRule : Optim_Rule<7, "RMSProp", "rmsprop", "RMSProp"> {
  let hyperParams = [
    Optim_Hyper<"decay", "0.9", Optim_NonNegative>,
    Optim_Hyper<"momentum", "0.0", Optim_NonNegative>,
    Optim_Hyper<"epsilon", "1e-10", Optim_Positive>
  ];
  let options = [Optim_Option<"centered">];
  // MindSpore starts mean_square at one (torch at zero).
  let states = [
    Optim_State<"mean_grad", "0.0", "", "centered">,
    Optim_State<"mean_square", "1.0">,
    Optim_State<"moment">
  ];
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

def Optim_FTRLRule : Optim_Rule<8, "FTRL", "ftrl", "FTRL"> {
  let hyperParams = [
    Optim_Hyper<"initial_accum", "0.1", Optim_NonNegative, /*initOnly=*/1>,
    Optim_Hyper<"lr_power", "-0.5", Optim_NonPositive>,
    Optim_Hyper<"l1", "0.0", Optim_NonNegative>,
    Optim_Hyper<"l2", "0.0", Optim_NonNegative>
  ];
  let states = [
    Optim_State<"accum", "0.0", "initial_accum">,
    Optim_State<"linear">
  ];
  let description = [{
    States `[accum, linear]`: `a' = accum + g^2`;
    `linear += g - (a'^(-lr_power) - accum^(-lr_power)) / lr * param`;
    `param = |linear| > l1 ? (sign(linear) * l1 - linear) / (a'^(-lr_power) / lr + 2 * l2) : 0`.

    ```mlir
    %p1, %a1, %l1 = optim.ftrl_update %p, %g, [%a, %l] lr %lr lr_power %pw l1 %x l2 %y : tensor<16xf32>
    ```
  }];
}

def Optim_ProximalAdagradRule : Optim_Rule<9, "ProximalAdagrad", "proximal_adagrad", "ProximalAdagrad"> {
  let hyperParams = [
    Optim_Hyper<"accum", "0.1", Optim_NonNegative, /*initOnly=*/1>,
    Optim_Hyper<"l1", "0.0", Optim_NonNegative>,
    Optim_Hyper<"l2", "0.0", Optim_NonNegative>
  ];
  let states = [
    Optim_State<"accum", "0.0", "accum">
  ];
  let description = [{
    State `[accum]`: `accum += g^2`; `lr_t = lr / sqrt(accum)`;
    `v = param - lr_t * g`;
    `param = sign(v) * max(|v| - lr_t * l1, 0) / (1 + lr_t * l2)`.

    This is what MindSpore's `ApplyProximalAdagrad` kernels (CPU and GPU)
    compute. The op's docstring writes `lr` instead of `lr_t` in the shrink
    and the divisor; with `l1 = l2 = 0` the two agree.

    ```mlir
    %p1, %a1 = optim.proximal_adagrad_update %p, %g, [%a] lr %lr l1 %x l2 %y : tensor<16xf32>
    ```
  }];
}

def Optim_AdaMaxRule : Optim_Rule<10, "AdaMax", "adamax", "AdaMax"> {
  let hyperParams = [
    Optim_Hyper<"beta1", "0.9", Optim_OpenUnit>,
    Optim_Hyper<"beta2", "0.999", Optim_OpenUnit>,
    Optim_Hyper<"eps", "1e-8", Optim_Positive>
  ];
  let states = [
    Optim_State<"moment1">,
    Optim_State<"moment2">
  ];
  let usesStep = 1;
  let description = [{
    States `[moment1, moment2]`: `m = beta1 * m + (1 - beta1) * g`,
    `v = max(beta2 * v, |g|)`, `param -= lr / (1 - beta1^t) * m / (v + eps)`.

    ```mlir
    %p1, %m1, %v1 = optim.adamax_update %p, %g, [%m, %v] lr %lr beta1 %b1 beta2 %b2 eps %e step %t : tensor<16xf32>
    ```
  }];
}

def Optim_AdadeltaRule : Optim_Rule<11, "Adadelta", "adadelta", "Adadelta"> {
  let hyperParams = [
    Optim_Hyper<"rho", "0.9", Optim_ClosedUnit>,
    Optim_Hyper<"epsilon", "1e-6", Optim_Positive>
  ];
  let states = [
    Optim_State<"accum">,
    Optim_State<"accum_update">
  ];
  let description = [{
    States `[accum, accum_update]`: `accum = rho * accum + (1 - rho) * g^2`;
    `u = sqrt(accum_update + epsilon) / sqrt(accum + epsilon) * g`;
    `accum_update = rho * accum_update + (1 - rho) * u^2`; `param -= lr * u`.

    ```mlir
    %p1, %a1, %u1 = optim.adadelta_update %p, %g, [%a, %u] lr %lr rho %r epsilon %e : tensor<16xf32>
    ```
  }];
}

def Optim_ASGDRule : Optim_Rule<12, "ASGD", "asgd", "ASGD"> {
  let hyperParams = [
    Optim_Hyper<"lambd", "1e-4", Optim_NonNegative>,
    Optim_Hyper<"alpha", "0.75", Optim_Any>,
    Optim_Hyper<"t0", "1e6", Optim_Any>
  ];
  let states = [
    Optim_State<"ax">
  ];
  let usesStep = 1;
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

def Optim_RpropRule : Optim_Rule<13, "Rprop", "rprop", "Rprop"> {
  let hyperParams = [
    Optim_Hyper<"etaminus", "0.5", Optim_OpenUnit>,
    Optim_Hyper<"etaplus", "1.2", Optim_GreaterThanOne>,
    Optim_Hyper<"min_step", "1e-6", Optim_NonNegative>,
    Optim_Hyper<"max_step", "50.0", Optim_Positive>
  ];
  let states = [
    Optim_State<"prev">,
    Optim_State<"step_size", "0.0", "learning_rate">
  ];
  let usesStep = 1;
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

def Optim_LazyAdamRule : Optim_Rule<14, "LazyAdam", "lazy_adam", "LazyAdam"> {
  let hyperParams = [
    Optim_Hyper<"beta1", "0.9", Optim_OpenUnit>,
    Optim_Hyper<"beta2", "0.999", Optim_OpenUnit>,
    Optim_Hyper<"eps", "1e-8", Optim_Positive>
  ];
  let options = [Optim_Option<"use_nesterov">];
  let states = [
    Optim_State<"moment1">,
    Optim_State<"moment2">
  ];
  let usesStep = 1;
  let sparseGrad = 1;
  let description = [{
    States `[moment1, moment2]`. The Adam update (MindSpore's form, with
    `use_nesterov`) applied only to the rows named by `indices` (which must
    be unique: see `optim.unique`); other rows of the parameter and states
    are untouched.

    ```mlir
    %p1, %m1, %v1 = optim.lazy_adam_update %p, %idx, %rows, [%m, %v] lr %lr beta1 %b1 beta2 %b2 eps %e step %t : tensor<100x8xf32>, tensor<?xi32>, tensor<?x8xf32>
    ```
  }];
}

def Optim_LionRule : Optim_Rule<15, "Lion", "lion", "Lion"> {
  let hyperParams = [
    Optim_Hyper<"beta1", "0.9", Optim_HalfOpenUnit>,
    Optim_Hyper<"beta2", "0.99", Optim_HalfOpenUnit>
  ];
  let states = [Optim_State<"exp_avg">];
  let decayInRule = 1;
  let genPythonClasses = 1;
  let defaultLearningRate = "1e-4";
  let classDescription = [{
    Lion (Chen et al. 2023, "Symbolic Discovery of Optimization
    Algorithms"): each element moves by the learning rate times the sign of
    an interpolation (`beta1`) between its gradient and the gradient's
    moving average `exp_avg` (`beta2`). Weight decay is decoupled: the
    parameter is first multiplied by `1 - lr * weight_decay`. Lion's
    updates are larger than Adam's; its learning rate is usually 3 to 10
    times smaller.
  }];
  let description = [{
    Lion (Chen et al., "Symbolic Discovery of Optimization Algorithms",
    2023). State `[exp_avg]`: `c = beta1 * exp_avg + (1 - beta1) * grad`;
    `param = param * (1 - lr * weight_decay) - lr * sign(c)` (`sign(0) =
    0`); `exp_avg = beta2 * exp_avg + (1 - beta2) * grad`.

    ```mlir
    %p1, %m1 = optim.lion_update %p, %g, [%m] lr %lr beta1 %b1 beta2 %b2 weight_decay %wd : tensor<16xf32>
    ```
  }];
  let formula = [{
    %one = arith.constant 1.0 : f32
    %zero = arith.constant 0.0 : f32
    %minus_one = arith.constant -1.0 : f32
    %one_minus_beta1 = arith.subf %one, %beta1 : f32
    %kept = arith.mulf %beta1, %exp_avg : f32
    %added = arith.mulf %one_minus_beta1, %grad : f32
    %c = arith.addf %kept, %added : f32
    %positive = arith.cmpf ogt, %c, %zero : f32
    %negative = arith.cmpf olt, %c, %zero : f32
    %sign_neg = arith.select %negative, %minus_one, %zero : f32
    %sign = arith.select %positive, %one, %sign_neg : f32
    %lr_wd = arith.mulf %lr, %weight_decay : f32
    %keep = arith.subf %one, %lr_wd : f32
    %decayed = arith.mulf %param, %keep : f32
    %delta = arith.mulf %lr, %sign : f32
    %new_param = arith.subf %decayed, %delta : f32
    %one_minus_beta2 = arith.subf %one, %beta2 : f32
    %kept2 = arith.mulf %beta2, %exp_avg : f32
    %added2 = arith.mulf %one_minus_beta2, %grad : f32
    %new_exp_avg = arith.addf %kept2, %added2 : f32
    return %new_param, %new_exp_avg : f32, f32
  }];
}

def Optim_AdanRule : Optim_Rule<16, "Adan", "adan", "Adan"> {
  let hyperParams = [
    Optim_Hyper<"beta1", "0.98", Optim_HalfOpenUnit>,
    Optim_Hyper<"beta2", "0.92", Optim_HalfOpenUnit>,
    Optim_Hyper<"beta3", "0.99", Optim_HalfOpenUnit>,
    Optim_Hyper<"eps", "1e-8", Optim_Positive>
  ];
  let states = [Optim_State<"exp_avg">, Optim_State<"exp_avg_diff">,
                Optim_State<"exp_avg_sq">, Optim_State<"pre_grad">];
  let usesStep = 1;
  let decayInRule = 1;
  let genPythonClasses = 1;
  let defaultLearningRate = "1e-3";
  let classDescription = [{
    Adan (Xie et al. 2022, "Adan: Adaptive Nesterov Momentum Algorithm for
    Faster Optimizing Deep Models"), as its authors' implementation
    computes it: bias-corrected moving averages of the gradient (`beta1`),
    of its difference to the previous gradient (`beta2`) and of the square
    of the Nesterov-corrected gradient (`beta3`), with the betas weighing
    the old value. Weight decay is the proximal step: the parameter is
    divided by `1 + lr * weight_decay` after the update.
  }];
  let description = [{
    Adan (Xie et al., "Adan: Adaptive Nesterov Momentum Algorithm for
    Faster Optimizing Deep Models", 2022), in the form of the authors'
    implementation (betas weigh the old value; bias-corrected; proximal
    weight decay). States `[exp_avg, exp_avg_diff, exp_avg_sq, pre_grad]`.
    With `d = grad - pre_grad` (0 at the first update, `t == 1`) and
    `u = grad + beta2 * d`:
    `exp_avg = beta1 * exp_avg + (1 - beta1) * grad`,
    `exp_avg_diff = beta2 * exp_avg_diff + (1 - beta2) * d`,
    `exp_avg_sq = beta3 * exp_avg_sq + (1 - beta3) * u^2`;
    `update = (exp_avg / (1 - beta1^t) + beta2 * exp_avg_diff / (1 - beta2^t))
    / (sqrt(exp_avg_sq) / sqrt(1 - beta3^t) + eps)`;
    `param = (param - lr * update) / (1 + lr * weight_decay)`;
    `pre_grad = grad`.

    ```mlir
    %p1, %m1, %d1, %n1, %g1 = optim.adan_update %p, %g, [%m, %d, %n, %pg] lr %lr beta1 %b1 beta2 %b2 beta3 %b3 eps %e weight_decay %wd step %t : tensor<16xf32>
    ```
  }];
  let formula = [{
    %one = arith.constant 1.0 : f32
    %zero = arith.constant 0.0 : f32
    %first_step = arith.constant 1 : i64
    %is_first = arith.cmpi eq, %step, %first_step : i64
    %t = arith.sitofp %step : i64 to f32
    %raw_diff = arith.subf %grad, %pre_grad : f32
    %diff = arith.select %is_first, %zero, %raw_diff : f32
    %beta2_diff = arith.mulf %beta2, %diff : f32
    %u = arith.addf %grad, %beta2_diff : f32
    %one_minus_beta1 = arith.subf %one, %beta1 : f32
    %m_kept = arith.mulf %beta1, %exp_avg : f32
    %m_added = arith.mulf %one_minus_beta1, %grad : f32
    %m = arith.addf %m_kept, %m_added : f32
    %one_minus_beta2 = arith.subf %one, %beta2 : f32
    %v_kept = arith.mulf %beta2, %exp_avg_diff : f32
    %v_added = arith.mulf %one_minus_beta2, %diff : f32
    %v = arith.addf %v_kept, %v_added : f32
    %one_minus_beta3 = arith.subf %one, %beta3 : f32
    %n_kept = arith.mulf %beta3, %exp_avg_sq : f32
    %u_squared = arith.mulf %u, %u : f32
    %n_added = arith.mulf %one_minus_beta3, %u_squared : f32
    %n = arith.addf %n_kept, %n_added : f32
    %beta1_t = math.powf %beta1, %t : f32
    %correction1 = arith.subf %one, %beta1_t : f32
    %beta2_t = math.powf %beta2, %t : f32
    %correction2 = arith.subf %one, %beta2_t : f32
    %beta3_t = math.powf %beta3, %t : f32
    %correction3 = arith.subf %one, %beta3_t : f32
    %sqrt_n = math.sqrt %n : f32
    %sqrt_correction3 = math.sqrt %correction3 : f32
    %scaled = arith.divf %sqrt_n, %sqrt_correction3 : f32
    %denominator = arith.addf %scaled, %eps : f32
    %m_hat = arith.divf %m, %correction1 : f32
    %beta2_v = arith.mulf %beta2, %v : f32
    %v_hat = arith.divf %beta2_v, %correction2 : f32
    %numerator = arith.addf %m_hat, %v_hat : f32
    %update = arith.divf %numerator, %denominator : f32
    %lr_update = arith.mulf %lr, %update : f32
    %moved = arith.subf %param, %lr_update : f32
    %lr_wd = arith.mulf %lr, %weight_decay : f32
    %shrink = arith.addf %one, %lr_wd : f32
    %new_param = arith.divf %moved, %shrink : f32
    return %new_param, %m, %v, %n, %grad : f32, f32, f32, f32, f32
  }];
}

def Optim_AdaFactorRule : Optim_Rule<17, "AdaFactor", "adafactor",
                                     "AdaFactor"> {
  let hyperParams = [
    Optim_Hyper<"eps1", "1e-30", Optim_NonNegative>,
    Optim_Hyper<"eps2", "1e-3", Optim_NonNegative>,
    Optim_Hyper<"clip_threshold", "1.0", Optim_Positive>,
    Optim_Hyper<"decay_rate", "0.8", Optim_OpenUnit>,
    Optim_Hyper<"beta1", "0.9", Optim_HalfOpenUnit>
  ];
  let options = [
    Optim_Option<"first_moment", 1>,
    Optim_Option<"scale_parameter", 1>,
    Optim_Option<"relative_step", 1>,
    Optim_Option<"warmup_init">
  ];
  let states = [
    Optim_State<"exp_avg", "0.0", "", "first_moment">,
    Optim_State<"exp_avg_sq_row", "0.0", "", "", Optim_FactoredRowShape>,
    Optim_State<"exp_avg_sq_col", "0.0", "", "", Optim_FactoredColShape>
  ];
  let usesStep = 1;
  let decayInRule = 1;
  let wholeTensor = 1;
  let description = [{
    Adafactor (Shazeer and Stern, "Adafactor: Adaptive Learning Rates with
    Sublinear Memory Cost", 2018) as MindSpore's `FusedAdaFactor` kernel
    computes it. The parameter is viewed as `(B, R, C)` (its last two
    dimensions, batched over the others; a vector is `(1, 1, n)`), the row
    state `exp_avg_sq_row` as `(B, R)`, the column state `exp_avg_sq_col` as
    `(B, C)`. With `t` the update count:
    `lr_t = min(warmup_init ? 1e-6 * t : 1e-2, 1 / sqrt(t))` with
    `relative_step`, else `lr`; `lr_s = lr_t * max(eps2, rms(param))` with
    `scale_parameter`, else `lr_t`; `beta2t = 1 - t^(-decay_rate)`;
    `g2 = grad^2 + eps1`;
    `row = beta2t * row + (1 - beta2t) * mean_C(g2)`;
    `col = max(beta2t * col + (1 - beta2t) * mean_R(g2), 1e-30)`;
    `u = grad / max(sqrt(row / max(mean_R(row), 1e-30)) * sqrt(col), 1e-30)`;
    `u *= lr_s / max(rms(u) / clip_threshold, 1)`; with `first_moment`,
    `exp_avg = beta1 * exp_avg + (1 - beta1) * u` and `u = exp_avg`;
    `param = param - u - param * weight_decay * lr_s`. A vector's
    one-element row state makes this MindSpore's unfactored update.

    ```mlir
    %p1, %m1, %r1, %c1 = optim.adafactor_update %p, %g, [%m, %r, %c] lr %lr eps1 %e1 eps2 %e2 clip_threshold %d decay_rate %k beta1 %b1 weight_decay %wd step %t {first_moment, scale_parameter} : tensor<8x6xf32>, [tensor<8x6xf32>, tensor<8xf32>, tensor<6xf32>]
    ```
  }];
}

def Optim_RAdamRule : Optim_Rule<18, "RAdam", "radam", "RAdam"> {
  let hyperParams = [
    Optim_Hyper<"beta1", "0.9", Optim_HalfOpenUnit>,
    Optim_Hyper<"beta2", "0.999", Optim_HalfOpenUnit>,
    Optim_Hyper<"eps", "1e-8", Optim_Positive>
  ];
  let states = [Optim_State<"exp_avg">, Optim_State<"exp_avg_sq">];
  let usesStep = 1;
  let genPythonClasses = 1;
  let defaultLearningRate = "1e-3";
  let classDescription = [{
    RAdam (Liu et al. 2020, "On the Variance of the Adaptive Learning Rate
    and Beyond"), as `torch.optim.RAdam` computes it: Adam's moments, with
    the adaptive step rectified by the variance of its length while that is
    tractable (`rho_t > 5`) and plain bias-corrected momentum before.
    Weight decay is L2: `weight_decay * param` is added to the gradient.
  }];
  let description = [{
    RAdam (Liu et al., "On the Variance of the Adaptive Learning Rate and
    Beyond", 2020), as `torch.optim.RAdam` computes it. States
    `[exp_avg, exp_avg_sq]`, Adam's moments; with `t` the update count,
    `m_hat = exp_avg / (1 - beta1^t)`, `rho_inf = 2 / (1 - beta2) - 1` and
    `rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t)`: where `rho_t > 5`,
    `param -= lr * m_hat * r_t * sqrt(1 - beta2^t) / (sqrt(exp_avg_sq) + eps)`
    with `r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))`,
    else `param -= lr * m_hat`.

    ```mlir
    %p1, %m1, %v1 = optim.radam_update %p, %g, [%m, %v] lr %lr beta1 %b1 beta2 %b2 eps %e step %t : tensor<16xf32>
    ```
  }];
  let formula = [{
    %one = arith.constant 1.0 : f32
    %two = arith.constant 2.0 : f32
    %four = arith.constant 4.0 : f32
    %five = arith.constant 5.0 : f32
    %t = arith.sitofp %step : i64 to f32
    %one_minus_beta1 = arith.subf %one, %beta1 : f32
    %m_kept = arith.mulf %beta1, %exp_avg : f32
    %m_added = arith.mulf %one_minus_beta1, %grad : f32
    %m = arith.addf %m_kept, %m_added : f32
    %one_minus_beta2 = arith.subf %one, %beta2 : f32
    %v_kept = arith.mulf %beta2, %exp_avg_sq : f32
    %grad_squared = arith.mulf %grad, %grad : f32
    %v_added = arith.mulf %one_minus_beta2, %grad_squared : f32
    %v = arith.addf %v_kept, %v_added : f32
    %beta1_t = math.powf %beta1, %t : f32
    %correction1 = arith.subf %one, %beta1_t : f32
    %beta2_t = math.powf %beta2, %t : f32
    %correction2 = arith.subf %one, %beta2_t : f32
    %m_hat = arith.divf %m, %correction1 : f32
    %two_over = arith.divf %two, %one_minus_beta2 : f32
    %rho_inf = arith.subf %two_over, %one : f32
    %two_t = arith.mulf %two, %t : f32
    %two_t_beta2_t = arith.mulf %two_t, %beta2_t : f32
    %rho_drop = arith.divf %two_t_beta2_t, %correction2 : f32
    %rho_t = arith.subf %rho_inf, %rho_drop : f32
    %rho_t_4 = arith.subf %rho_t, %four : f32
    %rho_t_2 = arith.subf %rho_t, %two : f32
    %rect_num_1 = arith.mulf %rho_t_4, %rho_t_2 : f32
    %rect_num = arith.mulf %rect_num_1, %rho_inf : f32
    %rho_inf_4 = arith.subf %rho_inf, %four : f32
    %rho_inf_2 = arith.subf %rho_inf, %two : f32
    %rect_den_1 = arith.mulf %rho_inf_4, %rho_inf_2 : f32
    %rect_den = arith.mulf %rect_den_1, %rho_t : f32
    %rect_sq = arith.divf %rect_num, %rect_den : f32
    %rect = math.sqrt %rect_sq : f32
    %sqrt_v = math.sqrt %v : f32
    %denominator = arith.addf %sqrt_v, %eps : f32
    %sqrt_correction2 = math.sqrt %correction2 : f32
    %adaptive_lr = arith.divf %sqrt_correction2, %denominator : f32
    %m_lr = arith.mulf %m_hat, %lr : f32
    %m_lr_adaptive = arith.mulf %m_lr, %adaptive_lr : f32
    %rectified = arith.mulf %m_lr_adaptive, %rect : f32
    %tractable = arith.cmpf ogt, %rho_t, %five : f32
    %step_size = arith.select %tractable, %rectified, %m_lr : f32
    %new_param = arith.subf %param, %step_size : f32
    return %new_param, %m, %v : f32, f32, f32
  }];
}

def Optim_TorchAdamaxRule : Optim_Rule<19, "TorchAdamax", "torch_adamax",
                                       "Adamax"> {
  let hyperParams = [
    Optim_Hyper<"beta1", "0.9", Optim_HalfOpenUnit>,
    Optim_Hyper<"beta2", "0.999", Optim_HalfOpenUnit>,
    Optim_Hyper<"eps", "1e-8", Optim_Positive>
  ];
  let states = [Optim_State<"exp_avg">, Optim_State<"exp_inf">];
  let usesStep = 1;
  let genPythonClasses = 1;
  let defaultLearningRate = "2e-3";
  let classDescription = [{
    Adamax (Kingma and Ba 2015, "Adam: A Method for Stochastic
    Optimization", section 7.1) as `torch.optim.Adamax` computes it: the
    infinity norm of past gradients in place of Adam's second moment, `eps`
    added to `|grad|` inside the maximum (MindSpore's `AdaMax`, rule
    `adamax`, adds it to the norm instead). Weight decay is L2:
    `weight_decay * param` is added to the gradient.
  }];
  let description = [{
    Adamax as `torch.optim.Adamax` computes it. States `[exp_avg, exp_inf]`:
    `exp_avg = beta1 * exp_avg + (1 - beta1) * grad`,
    `exp_inf = max(beta2 * exp_inf, |grad| + eps)`,
    `param -= lr / (1 - beta1^t) * exp_avg / exp_inf`.

    ```mlir
    %p1, %m1, %u1 = optim.torch_adamax_update %p, %g, [%m, %u] lr %lr beta1 %b1 beta2 %b2 eps %e step %t : tensor<16xf32>
    ```
  }];
  let formula = [{
    %one = arith.constant 1.0 : f32
    %t = arith.sitofp %step : i64 to f32
    %one_minus_beta1 = arith.subf %one, %beta1 : f32
    %m_kept = arith.mulf %beta1, %exp_avg : f32
    %m_added = arith.mulf %one_minus_beta1, %grad : f32
    %m = arith.addf %m_kept, %m_added : f32
    %abs_grad = math.absf %grad : f32
    %abs_grad_eps = arith.addf %abs_grad, %eps : f32
    %inf_kept = arith.mulf %beta2, %exp_inf : f32
    %u = arith.maximumf %inf_kept, %abs_grad_eps : f32
    %beta1_t = math.powf %beta1, %t : f32
    %correction = arith.subf %one, %beta1_t : f32
    %clr = arith.divf %lr, %correction : f32
    %ratio = arith.divf %m, %u : f32
    %delta = arith.mulf %clr, %ratio : f32
    %new_param = arith.subf %param, %delta : f32
    return %new_param, %m, %u : f32, f32, f32
  }];
}

def Optim_TorchAdadeltaRule : Optim_Rule<20, "TorchAdadelta",
                                         "torch_adadelta", "Adadelta"> {
  let hyperParams = [
    Optim_Hyper<"rho", "0.9", Optim_ClosedUnit>,
    Optim_Hyper<"eps", "1e-6", Optim_NonNegative>
  ];
  let states = [Optim_State<"square_avg">, Optim_State<"acc_delta">];
  let genPythonClasses = 1;
  let genNNClass = 0;
  let defaultLearningRate = "1.0";
  let classDescription = [{
    Adadelta (Zeiler 2012, "ADADELTA: An Adaptive Learning Rate Method") as
    `torch.optim.Adadelta` computes it: `eps` inside both square roots and
    the learning rate scaling the step (MindSpore's `Adadelta`, rule
    `adadelta`, keeps its own definition in `optim_mlir.nn`). Weight decay
    is L2: `weight_decay * param` is added to the gradient.
  }];
  let description = [{
    Adadelta as `torch.optim.Adadelta` computes it. States
    `[square_avg, acc_delta]`:
    `square_avg = rho * square_avg + (1 - rho) * grad^2`,
    `delta = sqrt(acc_delta + eps) / sqrt(square_avg + eps) * grad`,
    `acc_delta = rho * acc_delta + (1 - rho) * delta^2`,
    `param -= lr * delta`.

    ```mlir
    %p1, %s1, %a1 = optim.torch_adadelta_update %p, %g, [%s, %a] lr %lr rho %rho eps %e : tensor<16xf32>
    ```
  }];
  let formula = [{
    %one = arith.constant 1.0 : f32
    %one_minus_rho = arith.subf %one, %rho : f32
    %grad_squared = arith.mulf %grad, %grad : f32
    %square_kept = arith.mulf %rho, %square_avg : f32
    %square_added = arith.mulf %one_minus_rho, %grad_squared : f32
    %square = arith.addf %square_kept, %square_added : f32
    %square_eps = arith.addf %square, %eps : f32
    %std = math.sqrt %square_eps : f32
    %acc_eps = arith.addf %acc_delta, %eps : f32
    %acc_sqrt = math.sqrt %acc_eps : f32
    %ratio = arith.divf %acc_sqrt, %std : f32
    %delta = arith.mulf %ratio, %grad : f32
    %delta_squared = arith.mulf %delta, %delta : f32
    %acc_kept = arith.mulf %rho, %acc_delta : f32
    %acc_added = arith.mulf %one_minus_rho, %delta_squared : f32
    %acc = arith.addf %acc_kept, %acc_added : f32
    %step = arith.mulf %lr, %delta : f32
    %new_param = arith.subf %param, %step : f32
    return %new_param, %square, %acc : f32, f32, f32
  }];
}

def Optim_TorchAdagradRule : Optim_Rule<21, "TorchAdagrad", "torch_adagrad",
                                        "Adagrad"> {
  let hyperParams = [
    Optim_Hyper<"lr_decay", "0.0", Optim_NonNegative>,
    Optim_Hyper<"initial_accumulator_value", "0.0", Optim_NonNegative,
                /*initOnly=*/1>,
    Optim_Hyper<"eps", "1e-10", Optim_NonNegative>
  ];
  let states = [Optim_State<"sum", "0.0", "initial_accumulator_value">];
  let usesStep = 1;
  let genPythonClasses = 1;
  let genNNClass = 0;
  let defaultLearningRate = "1e-2";
  let classDescription = [{
    Adagrad (Duchi et al. 2011, "Adaptive Subgradient Methods for Online
    Learning and Stochastic Optimization") as `torch.optim.Adagrad`
    computes it: the sum of squared gradients starts at
    `initial_accumulator_value`, `eps` is added to its square root, and the
    learning rate decays as `lr / (1 + (step - 1) * lr_decay)`. MindSpore's
    `Adagrad` (rule `adagrad`, in `optim_mlir.nn`) has neither `eps` nor
    the decay and starts its accumulator at 0.1. Weight decay is L2:
    `weight_decay * param` is added to the gradient.
  }];
  let description = [{
    Adagrad as `torch.optim.Adagrad` computes it. State `[sum]`, starting
    at `initial_accumulator_value`:
    `clr = lr / (1 + (step - 1) * lr_decay)`, `sum += grad^2`,
    `param -= clr * grad / (sqrt(sum) + eps)`.

    ```mlir
    %p1, %s1 = optim.torch_adagrad_update %p, %g, [%s] lr %lr lr_decay %d eps %e step %t : tensor<16xf32>
    ```
  }];
  let formula = [{
    %one = arith.constant 1.0 : f32
    %t = arith.sitofp %step : i64 to f32
    %t_minus_one = arith.subf %t, %one : f32
    %decay = arith.mulf %t_minus_one, %lr_decay : f32
    %denominator = arith.addf %one, %decay : f32
    %clr = arith.divf %lr, %denominator : f32
    %grad_squared = arith.mulf %grad, %grad : f32
    %new_sum = arith.addf %sum, %grad_squared : f32
    %root = math.sqrt %new_sum : f32
    %std = arith.addf %root, %eps : f32
    %ratio = arith.divf %grad, %std : f32
    %delta = arith.mulf %clr, %ratio : f32
    %new_param = arith.subf %param, %delta : f32
    return %new_param, %new_sum : f32, f32
  }];
}

def Optim_TorchRMSpropRule : Optim_Rule<22, "TorchRMSprop", "torch_rmsprop",
                                        "RMSprop"> {
  let hyperParams = [
    Optim_Hyper<"alpha", "0.99", Optim_NonNegative>,
    Optim_Hyper<"eps", "1e-8", Optim_NonNegative>,
    Optim_Hyper<"momentum", "0.0", Optim_NonNegative>
  ];
  let options = [Optim_Option<"centered">,
                 Optim_Option<"use_momentum", 0, "momentum">];
  let states = [
    Optim_State<"square_avg">,
    Optim_State<"momentum_buffer", "0.0", "", "use_momentum">,
    Optim_State<"grad_avg", "0.0", "", "centered">
  ];
  let genPythonClasses = 1;
  // MindSpore's class is `RMSProp` (rule rmsprop): an `optim_mlir.nn`
  // class differing from it only in one letter's case would confuse.
  let genNNClass = 0;
  let defaultLearningRate = "1e-2";
  let classDescription = [{
    RMSprop (Hinton, "Neural Networks for Machine Learning", lecture 6e) as
    `torch.optim.RMSprop` computes it: the mean square starts at 0, `eps`
    is added to its square root, the momentum buffer exists only while
    `momentum > 0` and the mean gradient only with `centered`. MindSpore's
    `RMSProp` (rule `rmsprop`, in `optim_mlir.nn`) starts its mean square at
    1, adds `epsilon` inside the square root, always keeps a momentum and
    folds the learning rate into it. Weight decay is L2: `weight_decay *
    param` is added to the gradient.
  }];
  let description = [{
    RMSprop as `torch.optim.RMSprop` computes it. States `[square_avg]`,
    plus `momentum_buffer` with `use_momentum` and `grad_avg` with
    `centered`:
    `square_avg = alpha * square_avg + (1 - alpha) * grad^2`;
    centered: `grad_avg = alpha * grad_avg + (1 - alpha) * grad` and
    `avg = sqrt(square_avg - grad_avg^2) + eps`, else
    `avg = sqrt(square_avg) + eps`; with `use_momentum`
    `momentum_buffer = momentum * momentum_buffer + grad / avg` and
    `param -= lr * momentum_buffer`, else `param -= lr * grad / avg`.

    ```mlir
    %p1, %s1, %b1 = optim.torch_rmsprop_update %p, %g, [%s, %b] lr %lr alpha %a eps %e momentum %m {use_momentum} : tensor<16xf32>
    ```
  }];
  let formula = [{
    %one = arith.constant 1.0 : f32
    %one_minus_alpha = arith.subf %one, %alpha : f32
    %grad_squared = arith.mulf %grad, %grad : f32
    %square_kept = arith.mulf %square_avg, %alpha : f32
    %square_added = arith.mulf %one_minus_alpha, %grad_squared : f32
    %square = arith.addf %square_kept, %square_added : f32
    %grad_kept = arith.mulf %grad_avg, %alpha : f32
    %grad_added = arith.mulf %one_minus_alpha, %grad : f32
    %new_grad_avg = arith.addf %grad_kept, %grad_added : f32
    %mean_squared = arith.mulf %new_grad_avg, %new_grad_avg : f32
    %centered_square = arith.subf %square, %mean_squared : f32
    %variance = arith.select %centered, %centered_square, %square : f32
    %root = math.sqrt %variance : f32
    %avg = arith.addf %root, %eps : f32
    %ratio = arith.divf %grad, %avg : f32
    %buffer_kept = arith.mulf %momentum_buffer, %momentum : f32
    %new_buffer = arith.addf %buffer_kept, %ratio : f32
    %direction = arith.select %use_momentum, %new_buffer, %ratio : f32
    %delta = arith.mulf %lr, %direction : f32
    %new_param = arith.subf %param, %delta : f32
    return %new_param, %square, %new_buffer, %new_grad_avg : f32, f32, f32, f32
  }];
}

def Optim_TorchASGDRule : Optim_Rule<23, "TorchASGD", "torch_asgd", "ASGD"> {
  let hyperParams = [
    Optim_Hyper<"lambd", "1e-4", Optim_Any>,
    // Read by the torch front end only, to compute `eta` and `mu`.
    Optim_Hyper<"alpha", "0.75", Optim_Any>,
    Optim_Hyper<"t0", "1e6", Optim_Any>,
    Optim_ComputedHyper<"eta", "0.01", Optim_Any>,
    Optim_ComputedHyper<"mu", "1.0", Optim_Any>
  ];
  let states = [Optim_State<"ax">];
  let genPythonClasses = 1;
  let genNNClass = 0;
  let defaultLearningRate = "1e-2";
  let classDescription = [{
    Averaged SGD (Polyak and Juditsky 1992, "Acceleration of Stochastic
    Approximation by Averaging") as `torch.optim.ASGD` computes it: each
    parameter keeps torch's scalar tensors `eta` (the step size, starting
    at the learning rate) and `mu` (the averaging rate, starting at 1),
    which the step after it reads: `eta = lr / (1 + lambd * lr * step)^alpha`
    and `mu = 1 / max(1, step - t0)`, both in the dtype torch keeps them in.
    MindSpore's `ASGD` (rule `asgd`, in `optim_mlir.nn`) computes both from
    the current learning rate and step instead. Weight decay is L2:
    `weight_decay * param` is added to the gradient.
  }];
  let description = [{
    ASGD as `torch.optim.ASGD` computes it, with the step size `eta` and
    the averaging rate `mu` computed by the front end (torch's per-parameter
    scalars; all parameters of a call share them). State `[ax]`:
    `param = param * (1 - lambd * eta) - eta * grad`;
    `ax = param` when `mu == 1`, else `ax += mu * (param - ax)`. `alpha` and
    `t0` are operands the formula does not read (the front end computes
    `eta` and `mu` from them).

    ```mlir
    %p1, %x1 = optim.torch_asgd_update %p, %g, [%x] lr %lr lambd %l alpha %a t0 %t0 eta %eta mu %mu : tensor<16xf32>
    ```
  }];
  let formula = [{
    %one = arith.constant 1.0 : f32
    %lambd_eta = arith.mulf %lambd, %eta : f32
    %shrink = arith.subf %one, %lambd_eta : f32
    %shrunk = arith.mulf %param, %shrink : f32
    %descent = arith.mulf %eta, %grad : f32
    %new_param = arith.subf %shrunk, %descent : f32
    %gap = arith.subf %new_param, %ax : f32
    %moved = arith.mulf %gap, %mu : f32
    %averaged = arith.addf %ax, %moved : f32
    %mu_is_one = arith.cmpf oeq, %mu, %one : f32
    %new_ax = arith.select %mu_is_one, %new_param, %averaged : f32
    return %new_param, %new_ax : f32, f32
  }];
}

def Optim_TorchRpropRule : Optim_Rule<24, "TorchRprop", "torch_rprop",
                                      "Rprop"> {
  let hyperParams = [
    Optim_TupleHyper<"etaminus", "0.5", Optim_OpenUnit, "etas">,
    Optim_TupleHyper<"etaplus", "1.2", Optim_GreaterThanOne, "etas">,
    Optim_TupleHyper<"step_size_min", "1e-6", Optim_Any, "step_sizes">,
    Optim_TupleHyper<"step_size_max", "50.0", Optim_Any, "step_sizes">
  ];
  let states = [Optim_State<"prev">,
                Optim_State<"step_size", "0.0", "learning_rate">];
  let genPythonClasses = 1;
  let genNNClass = 0;
  let defaultLearningRate = "1e-2";
  let classDescription = [{
    Rprop (Riedmiller and Braun 1993, "A Direct Adaptive Method for Faster
    Backpropagation Learning: The RPROP Algorithm") as `torch.optim.Rprop`
    computes it: each element's step size starts at the learning rate of
    the parameter's first step, grows by `etas[1]` while the gradient keeps
    its sign and shrinks by `etas[0]` when it flips (that step then moves
    nothing), clamped to `step_sizes`. There is no weight decay, as in
    torch. MindSpore's `Rprop` (rule `rprop`, in `optim_mlir.nn`) has
    MindSpore's arguments and weight decay.
  }];
  let description = [{
    Rprop as `torch.optim.Rprop` computes it. States `[prev, step_size]`,
    `step_size` starting at the learning rate. With `s = grad * prev`, the
    step size is multiplied by `etaplus` where `s > 0` and by `etaminus`
    where `s < 0` (the gradient then counts as 0), then clamped to
    `[step_size_min, step_size_max]`; `param -= sign(grad) * step_size`;
    `prev = grad`.

    ```mlir
    %p1, %q1, %s1 = optim.torch_rprop_update %p, %g, [%q, %s] lr %lr etaminus %a etaplus %b step_size_min %c step_size_max %d : tensor<16xf32>
    ```
  }];
  let formula = [{
    %zero = arith.constant 0.0 : f32
    %one = arith.constant 1.0 : f32
    %minus_one = arith.constant -1.0 : f32
    %agreement = arith.mulf %grad, %prev : f32
    %same_sign = arith.cmpf ogt, %agreement, %zero : f32
    %flipped = arith.cmpf olt, %agreement, %zero : f32
    %shrink = arith.select %flipped, %etaminus, %one : f32
    %factor = arith.select %same_sign, %etaplus, %shrink : f32
    %scaled = arith.mulf %step_size, %factor : f32
    %at_least = arith.maximumf %scaled, %step_size_min : f32
    %new_step_size = arith.minimumf %at_least, %step_size_max : f32
    %kept_grad = arith.select %flipped, %zero, %grad : f32
    %grad_positive = arith.cmpf ogt, %kept_grad, %zero : f32
    %grad_negative = arith.cmpf olt, %kept_grad, %zero : f32
    %sign_negative = arith.select %grad_negative, %minus_one, %zero : f32
    %sign = arith.select %grad_positive, %one, %sign_negative : f32
    %delta = arith.mulf %sign, %new_step_size : f32
    %new_param = arith.subf %param, %delta : f32
    return %new_param, %kept_grad, %new_step_size : f32, f32, f32
  }];
}

def Optim_TorchNAdamRule : Optim_Rule<25, "TorchNAdam", "torch_nadam",
                                      "NAdam"> {
  let hyperParams = [
    Optim_Hyper<"beta1", "0.9", Optim_HalfOpenUnit>,
    Optim_Hyper<"beta2", "0.999", Optim_HalfOpenUnit>,
    Optim_Hyper<"eps", "1e-8", Optim_NonNegative>,
    // Read by the torch front end only, to compute the momentum schedule.
    Optim_Hyper<"momentum_decay", "4e-3", Optim_NonNegative>,
    Optim_ComputedHyper<"mu", "0.9", Optim_Any>,
    Optim_ComputedHyper<"mu_next", "0.9", Optim_Any>,
    Optim_ComputedHyper<"mu_product", "0.9", Optim_Any>,
    Optim_ComputedHyper<"mu_product_next", "0.81", Optim_Any>
  ];
  let states = [Optim_State<"exp_avg">, Optim_State<"exp_avg_sq">];
  let usesStep = 1;
  let genPythonClasses = 1;
  let genNNClass = 0;
  let defaultLearningRate = "2e-3";
  let classDescription = [{
    NAdam (Dozat 2016, "Incorporating Nesterov Momentum into Adam") as
    `torch.optim.NAdam` 1.13 computes it: the momentum schedule
    `mu_t = beta1 * (1 - 0.5 * 0.96^(t * momentum_decay))` and its running
    product `mu_product`, a per-parameter scalar tensor as in torch. As in
    torch 1.13, the product the momentum term divides by is
    `mu_product * mu_t * mu_(t+1)` (`mu_t` counted twice; later torch
    releases count it once). Weight decay is L2: `weight_decay * param` is
    added to the gradient.
  }];
  let description = [{
    NAdam as `torch.optim.NAdam` 1.13 computes it, with the momentum
    schedule computed by the front end: `mu`, `mu_next`, the running
    product `mu_product` (this step's `mu` included) and the
    `mu_product_next` the momentum term divides by. States
    `[exp_avg, exp_avg_sq]`: `m = beta1 * m + (1 - beta1) * grad`,
    `v = beta2 * v + (1 - beta2) * grad^2`,
    `denom = sqrt(v / (1 - beta2^step)) + eps`,
    `param -= lr * (1 - mu) / (1 - mu_product) * grad / denom
    + lr * mu_next / (1 - mu_product_next) * m / denom`.
    `momentum_decay` is an operand the formula does not read.

    ```mlir
    %p1, %m1, %v1 = optim.torch_nadam_update %p, %g, [%m, %v] lr %lr beta1 %b1 beta2 %b2 eps %e momentum_decay %d mu %mu mu_next %mn mu_product %mp mu_product_next %mpn step %t : tensor<16xf32>
    ```
  }];
  let formula = [{
    %one = arith.constant 1.0 : f32
    %t = arith.sitofp %step : i64 to f32
    %beta2_t = math.powf %beta2, %t : f32
    %bias_correction2 = arith.subf %one, %beta2_t : f32
    %one_minus_beta1 = arith.subf %one, %beta1 : f32
    %one_minus_beta2 = arith.subf %one, %beta2 : f32
    %m_kept = arith.mulf %exp_avg, %beta1 : f32
    %m_added = arith.mulf %one_minus_beta1, %grad : f32
    %m = arith.addf %m_kept, %m_added : f32
    %grad_squared = arith.mulf %grad, %grad : f32
    %v_kept = arith.mulf %exp_avg_sq, %beta2 : f32
    %v_added = arith.mulf %one_minus_beta2, %grad_squared : f32
    %v = arith.addf %v_kept, %v_added : f32
    %v_corrected = arith.divf %v, %bias_correction2 : f32
    %root = math.sqrt %v_corrected : f32
    %denom = arith.addf %root, %eps : f32
    %one_minus_mu = arith.subf %one, %mu : f32
    %grad_lr = arith.mulf %lr, %one_minus_mu : f32
    %grad_left = arith.subf %one, %mu_product : f32
    %grad_coefficient = arith.divf %grad_lr, %grad_left : f32
    %momentum_lr = arith.mulf %lr, %mu_next : f32
    %momentum_left = arith.subf %one, %mu_product_next : f32
    %momentum_coefficient = arith.divf %momentum_lr, %momentum_left : f32
    %grad_ratio = arith.divf %grad, %denom : f32
    %grad_step = arith.mulf %grad_coefficient, %grad_ratio : f32
    %after_grad = arith.subf %param, %grad_step : f32
    %momentum_ratio = arith.divf %m, %denom : f32
    %momentum_step = arith.mulf %momentum_coefficient, %momentum_ratio : f32
    %new_param = arith.subf %after_grad, %momentum_step : f32
    return %new_param, %m, %v : f32, f32, f32
  }];
}

// MindSpore's optimizer kernels without a mindspore.nn optimizer
// (mindspore.ops.ApplyPowerSign, ApplyProximalGradientDescent,
// ApplyAdagradDA): optim_mlir.nn classes under the op's name; torch has no
// such optimizers, so optim_mlir.torch gets none.

def Optim_PowerSignRule : Optim_Rule<26, "PowerSign", "power_sign",
                                     "PowerSign"> {
  let hyperParams = [
    Optim_Hyper<"logbase", "1.0", Optim_Any>,
    Optim_Hyper<"sign_decay", "1.0", Optim_Any>,
    Optim_Hyper<"beta", "0.9", Optim_ClosedUnit>
  ];
  let states = [Optim_State<"m">];
  let genPythonClasses = 1;
  let genTorchClass = 0;
  let defaultLearningRate = "1e-3";
  let classDescription = [{
    PowerSign (Bello et al. 2017, "Neural Optimizer Search with
    Reinforcement Learning"), as MindSpore's `ApplyPowerSign` kernel
    computes it: the gradient's moving average `m` (`beta`), and a step of
    the gradient scaled by `exp(logbase * sign_decay)` where the gradient
    and `m` agree in sign and by `exp(-logbase * sign_decay)` where they
    disagree (`logbase` is the natural logarithm of the paper's base:
    1.0 for base `e`). Weight decay is L2: `weight_decay * param` is added
    to the gradient.
  }];
  let description = [{
    PowerSign, as MindSpore's `ApplyPowerSign` CPU kernel computes it.
    State `[m]`: `m = (1 - beta) * grad + beta * m`;
    `param -= lr * exp(logbase * sign_decay * sign(grad) * sign(m)) * grad`
    (`sign(0) = 0`, with the new `m`).

    ```mlir
    %p1, %m1 = optim.power_sign_update %p, %g, [%m] lr %lr logbase %lb sign_decay %sd beta %b : tensor<16xf32>
    ```
  }];
  let formula = [{
    %one = arith.constant 1.0 : f32
    %zero = arith.constant 0.0 : f32
    %minus_one = arith.constant -1.0 : f32
    %one_minus_beta = arith.subf %one, %beta : f32
    %m_added = arith.mulf %grad, %one_minus_beta : f32
    %m_kept = arith.mulf %m, %beta : f32
    %new_m = arith.addf %m_added, %m_kept : f32
    %grad_positive = arith.cmpf ogt, %grad, %zero : f32
    %grad_negative = arith.cmpf olt, %grad, %zero : f32
    %grad_sign_neg = arith.select %grad_negative, %minus_one, %zero : f32
    %grad_sign = arith.select %grad_positive, %one, %grad_sign_neg : f32
    %m_positive = arith.cmpf ogt, %new_m, %zero : f32
    %m_negative = arith.cmpf olt, %new_m, %zero : f32
    %m_sign_neg = arith.select %m_negative, %minus_one, %zero : f32
    %m_sign = arith.select %m_positive, %one, %m_sign_neg : f32
    %agreement = arith.mulf %grad_sign, %m_sign : f32
    %log_scale = arith.mulf %logbase, %sign_decay : f32
    %exponent = arith.mulf %log_scale, %agreement : f32
    %scale = math.exp %exponent : f32
    %update = arith.mulf %scale, %grad : f32
    %delta = arith.mulf %lr, %update : f32
    %new_param = arith.subf %param, %delta : f32
    return %new_param, %new_m : f32, f32
  }];
}

def Optim_ProximalGradientDescentRule
    : Optim_Rule<27, "ProximalGradientDescent", "proximal_gradient_descent",
                 "ProximalGradientDescent"> {
  let hyperParams = [
    Optim_Hyper<"l1", "0.0", Optim_NonNegative>,
    Optim_Hyper<"l2", "0.0", Optim_NonNegative>
  ];
  let genPythonClasses = 1;
  let genTorchClass = 0;
  let defaultLearningRate = "1e-3";
  let classDescription = [{
    Proximal gradient descent with L1 and L2 regularization (Duchi and
    Singer 2009, "Efficient Online and Batch Learning Using Forward
    Backward Splitting"), as MindSpore's `ApplyProximalGradientDescent`
    kernel computes it with the learning rate as its `alpha`: a gradient
    step, then a soft threshold of `lr * l1` and a division by
    `1 + lr * l2`. Weight decay is L2: `weight_decay * param` is added to
    the gradient.
  }];
  let description = [{
    Proximal gradient descent, as MindSpore's `ApplyProximalGradientDescent`
    CPU kernel computes it (`alpha` is the learning rate). No states:
    `v = param - lr * grad`;
    `param = sign(v) * max(|v| - lr * l1, 0) / (1 + lr * l2)`. The kernel
    takes `v / (1 + lr * l2)` when `l1 = 0`, which is the same value:
    `sign(v) * |v| = v`.

    ```mlir
    %p1 = optim.proximal_gradient_descent_update %p, %g, [] lr %lr l1 %a l2 %b : tensor<16xf32>
    ```
  }];
  let formula = [{
    %one = arith.constant 1.0 : f32
    %zero = arith.constant 0.0 : f32
    %minus_one = arith.constant -1.0 : f32
    %step_size = arith.mulf %lr, %grad : f32
    %v = arith.subf %param, %step_size : f32
    %positive = arith.cmpf ogt, %v, %zero : f32
    %negative = arith.cmpf olt, %v, %zero : f32
    %sign_neg = arith.select %negative, %minus_one, %zero : f32
    %sign = arith.select %positive, %one, %sign_neg : f32
    %abs_v = math.absf %v : f32
    %threshold = arith.mulf %lr, %l1 : f32
    %shrunk = arith.subf %abs_v, %threshold : f32
    %kept = arith.maximumf %shrunk, %zero : f32
    %signed = arith.mulf %sign, %kept : f32
    %lr_l2 = arith.mulf %lr, %l2 : f32
    %divisor = arith.addf %one, %lr_l2 : f32
    %new_param = arith.divf %signed, %divisor : f32
    return %new_param : f32
  }];
}

def Optim_AdagradDARule : Optim_Rule<28, "AdagradDA", "adagrad_da",
                                     "AdagradDA"> {
  let hyperParams = [
    Optim_Hyper<"l1", "0.0", Optim_NonNegative>,
    Optim_Hyper<"l2", "0.0", Optim_NonNegative>
  ];
  let states = [Optim_State<"gradient_accumulator">,
                Optim_State<"gradient_squared_accumulator", "0.1">];
  let usesStep = 1;
  let genPythonClasses = 1;
  let genTorchClass = 0;
  let defaultLearningRate = "1e-3";
  let classDescription = [{
    Adagrad dual averaging (Duchi et al. 2011, "Adaptive Subgradient
    Methods for Online Learning and Stochastic Optimization"), as
    MindSpore's `ApplyAdagradDA` op computes it: the parameter is set from
    the sums of the gradients (`gradient_accumulator`) and of their squares
    (`gradient_squared_accumulator`, starting at 0.1 as TensorFlow's
    AdagradDA does), the first soft-thresholded by `l1` times the update
    count, the denominator growing with `l2` times the update count; the
    parameter's previous value enters only through the weight decay. Weight
    decay is L2: `weight_decay * param` is added to the gradient.
  }];
  let description = [{
    Adagrad dual averaging, as MindSpore's `ApplyAdagradDA` op documents it
    (and its GPU kernel computes it), with `global_step` the 1-based update
    count `t`. States `[gradient_accumulator, gradient_squared_accumulator]`:
    `acc += grad`; `sq += grad^2`;
    `param = -lr * sign(acc) * max(|acc| - l1 * t, 0) / (l2 * t * lr + sqrt(sq))`
    (with `l1 = 0` the numerator is `-lr * acc`, as in the op's other
    branch). MindSpore's CPU kernel thresholds `|acc - l1 * t|` instead of
    `|acc| - l1 * t`; the two agree where `acc >= l1 * t`.

    ```mlir
    %p1, %a1, %s1 = optim.adagrad_da_update %p, %g, [%a, %s] lr %lr l1 %x l2 %y step %t : tensor<16xf32>
    ```
  }];
  let formula = [{
    %zero = arith.constant 0.0 : f32
    %one = arith.constant 1.0 : f32
    %minus_one = arith.constant -1.0 : f32
    %t = arith.sitofp %step : i64 to f32
    %acc = arith.addf %gradient_accumulator, %grad : f32
    %grad_squared = arith.mulf %grad, %grad : f32
    %sq = arith.addf %gradient_squared_accumulator, %grad_squared : f32
    %positive = arith.cmpf ogt, %acc, %zero : f32
    %negative = arith.cmpf olt, %acc, %zero : f32
    %sign_neg = arith.select %negative, %minus_one, %zero : f32
    %sign = arith.select %positive, %one, %sign_neg : f32
    %abs_acc = math.absf %acc : f32
    %threshold = arith.mulf %l1, %t : f32
    %shrunk = arith.subf %abs_acc, %threshold : f32
    %kept = arith.maximumf %shrunk, %zero : f32
    %signed = arith.mulf %sign, %kept : f32
    %lr_signed = arith.mulf %lr, %signed : f32
    %numerator = arith.negf %lr_signed : f32
    %l2_t = arith.mulf %l2, %t : f32
    %l2_t_lr = arith.mulf %l2_t, %lr : f32
    %sqrt_sq = math.sqrt %sq : f32
    %denominator = arith.addf %l2_t_lr, %sqrt_sq : f32
    %new_param = arith.divf %numerator, %denominator : f32
    return %new_param, %acc, %sq : f32, f32, f32
  }];
}

#endif // OPTIM_DIALECT_OPTIM_IR_OPTIMRULES_TD
