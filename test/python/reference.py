"""Independent NumPy reference of MindSpore ``nn.Optimizer`` semantics.

Written from MindSpore's documented formulas and the arithmetic of its
optimizer kernels (``mindspore/python/mindspore/nn/optim/*.py``,
``nn/learning_rate_schedule.py``, ``nn/dynamic_lr.py`` and the CPU/GPU
kernels behind ``P.SGD``, ``P.ApplyMomentum``, ``P.Adam``, ...).  Nothing in
here imports the project: it is meant to check the compiled code.

Layout
------
* update rules, one function each: ``rule(param, grad, states, *, <MindSpore
  hyper-parameter names>, <options>, t=<1-based update count>)`` returning
  ``(new_param, new_states)``; the inputs are never modified;
* ``init_states(rule, param, **hyper)``: the initial states of a rule;
* base-class features: ``decay_weight``, ``decay_filter``, ``centralize``,
  ``scale_grad``, ``unique_rows``;
* learning rates: ``lr_at`` (constant, per-step list, callable schedule),
  schedule functions of the 0-based global step, ``make_schedule``, and
  MindSpore's list helpers (``piecewise_constant_lr``, ...);
* ``ReferenceOptimizer``: whole steps over named parameters with groups,
  ``order_params`` and ``loss_scale``.

All arithmetic runs in the dtype of the arrays given (``float64`` by default
in ``ReferenceOptimizer``; ``float32`` works too).  Scalars are Python floats.
"""

import math

import numpy as np

__all__ = [
    # rules
    "sgd", "momentum", "adam", "adam_weight_decay", "lamb", "lars_gradient",
    "lars", "adagrad", "rmsprop", "ftrl", "proximal_adagrad", "adamax",
    "adadelta", "asgd", "rprop", "lazy_adam", "adafactor", "factored_shape",
    "RULES", "DEFAULTS", "init_states",
    # base-class features
    "decay_weight", "decay_weight_sparse", "decay_filter", "centralize",
    "centralization_applies", "scale_grad", "unique_rows",
    # learning rates
    "lr_at", "exponential_decay", "natural_exp_decay", "inverse_decay",
    "cosine_decay", "polynomial_decay", "warmup", "piecewise",
    "make_schedule", "piecewise_constant_lr", "exponential_decay_lr",
    "natural_exp_decay_lr", "inverse_decay_lr", "cosine_decay_lr",
    "polynomial_decay_lr", "warmup_lr",
    # whole steps
    "ReferenceOptimizer",
]


def _arr(x, like):
    return np.asarray(x, dtype=np.asarray(like).dtype)


def _norm(x):
    # L2 norm accumulated in float64, returned as a Python float.
    return float(np.sqrt(np.sum(np.square(np.asarray(x, dtype=np.float64)))))


# ===========================================================================
# Update rules
# ===========================================================================

def sgd(param, grad, states, *, learning_rate, momentum=0.0, dampening=0.0,
        nesterov=False, weight_decay=0.0, t):
    """MindSpore ``nn.SGD`` (kernel ``P.SGD``). State ``accum``.

    ``g = grad + weight_decay * param`` (the kernel's own decay, only when
    ``weight_decay > 0``).  Only when ``momentum > 0``: on the first update
    (``t == 1``) ``accum = g``, afterwards ``accum = momentum * accum +
    (1 - dampening) * g``; then ``g = g + momentum * accum`` (nesterov) or
    ``g = accum``.  ``param -= learning_rate * g``.  With ``momentum == 0``
    ``accum`` is left as it is and dampening has no effect.
    """
    g = _arr(grad, param)
    accum = states["accum"]
    if weight_decay > 0.0:
        g = g + param * weight_decay
    if momentum > 0.0:
        if t == 1:
            accum = g.copy()
        else:
            accum = accum * momentum + (1.0 - dampening) * g
        g = g + accum * momentum if nesterov else accum
    new_param = param - learning_rate * g
    return new_param, {"accum": np.array(accum, copy=True)}


def momentum(param, grad, states, *, learning_rate, momentum=0.9,
             use_nesterov=False):
    """MindSpore ``nn.Momentum`` (``P.ApplyMomentum``). State ``moments``.

    ``moments = momentum * moments + grad``; ``param -= lr * moments`` or,
    with ``use_nesterov``, ``param -= lr * (grad + momentum * moments)``.
    No dampening.
    """
    g = _arr(grad, param)
    v = states["moments"] * momentum + g
    if use_nesterov:
        new_param = param - (g * learning_rate + v * momentum * learning_rate)
    else:
        new_param = param - v * learning_rate
    return new_param, {"moments": v}


def adam(param, grad, states, *, learning_rate, beta1=0.9, beta2=0.999,
         eps=1e-8, use_nesterov=False, use_amsgrad=False, t):
    """MindSpore ``nn.Adam`` (``P.Adam`` / ``P.ApplyAdamWithAmsgrad``).

    States ``moment1``, ``moment2`` (and ``vhat`` with ``use_amsgrad``).
    ``m = b1*m + (1-b1)*g``; ``v = b2*v + (1-b2)*g^2``;
    ``lr_t = lr * sqrt(1 - b2^t) / (1 - b1^t)`` (bias correction folded into
    the step size, ``eps`` added to the *uncorrected* ``sqrt(v)``);
    ``param -= lr_t * m / (sqrt(v) + eps)``; nesterov:
    ``param -= lr_t * (b1*m + (1-b1)*g) / (sqrt(v) + eps)``.
    amsgrad: ``vhat = max(vhat, v)`` and ``sqrt(vhat)`` replaces ``sqrt(v)``;
    MindSpore's amsgrad kernel has no nesterov form, so ``use_nesterov`` is
    ignored there.
    """
    g = _arr(grad, param)
    m = beta1 * states["moment1"] + (1.0 - beta1) * g
    v = beta2 * states["moment2"] + (1.0 - beta2) * (g * g)
    lr_t = learning_rate * math.sqrt(1.0 - beta2 ** t) / (1.0 - beta1 ** t)
    new_states = {"moment1": m, "moment2": v}
    if use_amsgrad:
        vhat = np.maximum(states["vhat"], v)
        new_states["vhat"] = vhat
        new_param = param - lr_t * m / (np.sqrt(vhat) + eps)
    elif use_nesterov:
        new_param = param - lr_t * (beta1 * m + (1.0 - beta1) * g) / (np.sqrt(v) + eps)
    else:
        new_param = param - lr_t * m / (np.sqrt(v) + eps)
    return new_param, new_states


def adam_weight_decay(param, grad, states, *, learning_rate, beta1=0.9,
                      beta2=0.999, eps=1e-6, weight_decay=0.0):
    """MindSpore ``nn.AdamWeightDecay``. States ``moment1``, ``moment2``.

    No bias correction; ``update = m / (sqrt(v) + eps) + weight_decay *
    param`` (the decay term only for parameters whose decay flag is set:
    pass ``weight_decay=0`` otherwise); ``param -= lr * update``.
    """
    g = _arr(grad, param)
    m = beta1 * states["moment1"] + (1.0 - beta1) * g
    v = beta2 * states["moment2"] + (1.0 - beta2) * (g * g)
    update = m / (eps + np.sqrt(v))
    if weight_decay != 0.0:
        update = weight_decay * param + update
    return param - learning_rate * update, {"moment1": m, "moment2": v}


def lamb(param, grad, states, *, learning_rate, beta1=0.9, beta2=0.999,
         eps=1e-6, weight_decay=0.0, t, variant="mindspore"):
    """MindSpore ``nn.Lamb``. States ``moment1``, ``moment2``.

    ``m_hat = m / (1 - b1^t)``, ``v_hat = v / (1 - b2^t)``,
    ``u = m_hat / (sqrt(v_hat) + eps) + wd * param``.

    ``variant="mindspore"`` (MindSpore's kernel): the trust ratio is
    ``|param| / |m_hat / sqrt(v_hat + eps) + wd * param|`` (eps *inside* the
    square root here), taken only when ``|param| > 0`` and ``|grad| > 0``
    (else 1), then clipped to ``[0, 10]``.
    ``variant="documented"`` (an earlier reading of the op): ``|param| / |u|``,
    1 when either norm is 0, no clipping.  In both, ``param -= lr * ratio * u``.
    """
    g = _arr(grad, param)
    m = beta1 * states["moment1"] + (1.0 - beta1) * g
    v = beta2 * states["moment2"] + (1.0 - beta2) * (g * g)
    m_hat = m / (1.0 - beta1 ** t)
    v_hat = v / (1.0 - beta2 ** t)
    update = m_hat / (np.sqrt(v_hat) + eps) + weight_decay * param
    w_norm = _norm(param)
    if variant == "mindspore":
        g_norm = _norm(g)
        g_hat_norm = _norm(m_hat / np.sqrt(v_hat + eps) + weight_decay * param)
        ratio = w_norm / g_hat_norm if (w_norm > 0.0 and g_norm > 0.0) else 1.0
        ratio = min(max(ratio, 0.0), 10.0)
    elif variant == "documented":
        u_norm = _norm(update)
        ratio = w_norm / u_norm if (w_norm > 0.0 and u_norm > 0.0) else 1.0
    else:
        raise ValueError("variant must be 'mindspore' or 'documented'")
    return param - learning_rate * ratio * update, {"moment1": m, "moment2": v}


def lars_gradient(param, grad, *, epsilon=1e-5, coefficient=0.001,
                  weight_decay=0.0, use_clip=False, learning_rate=None):
    """MindSpore ``P.LARSUpdate``: the gradient LARS hands to the wrapped rule.

    ``w = |param|``, ``n = |grad|``; ``ratio = coefficient * w / (n +
    weight_decay * w + epsilon)`` when ``w > 0`` and ``n > 0``, else 1;
    with ``use_clip``, ``ratio = min(ratio / learning_rate, 1)``;
    returns ``ratio * (grad + weight_decay * param)``.
    """
    g = _arr(grad, param)
    w = _norm(param)
    n = _norm(g)
    if w > 0.0 and n > 0.0:
        ratio = coefficient * w / (n + weight_decay * w + epsilon)
        if use_clip:
            ratio = min(ratio / learning_rate, 1.0)
    else:
        ratio = 1.0
    return ratio * (g + weight_decay * param)


def lars(param, grad, states, *, learning_rate, momentum=0.9, epsilon=1e-5,
         coefficient=0.001, weight_decay=0.0, use_nesterov=False,
         use_clip=False):
    """LARS around Momentum: ``lars_gradient`` then ``momentum``. State ``moments``."""
    g = lars_gradient(param, grad, epsilon=epsilon, coefficient=coefficient,
                      weight_decay=weight_decay, use_clip=use_clip,
                      learning_rate=learning_rate)
    return globals()["momentum"](param, g, states, learning_rate=learning_rate,
                                 momentum=momentum, use_nesterov=use_nesterov)


def adagrad(param, grad, states, *, learning_rate, update_slots=True, eps=0.0):
    """MindSpore ``nn.Adagrad`` (``P.ApplyAdagrad``). State ``accum`` (starts at 0.1).

    ``accum += g^2`` (when ``update_slots``); ``param -= lr * g / sqrt(accum + eps)``.
    The documented op and the GPU kernel use ``eps = 0``; MindSpore's CPU kernel
    adds ``1e-6`` inside the square root (pass ``eps=1e-6`` to model it).
    """
    g = _arr(grad, param)
    accum = states["accum"] + g * g if update_slots else np.array(states["accum"], copy=True)
    return param - learning_rate * g / np.sqrt(accum + eps), {"accum": accum}


def rmsprop(param, grad, states, *, learning_rate, decay=0.9, momentum=0.0,
            epsilon=1e-10, centered=False):
    """MindSpore ``nn.RMSProp`` (``P.ApplyRMSProp`` / ``P.ApplyCenteredRMSProp``).

    States ``mean_square`` (starts at ONE), ``moment`` and, with ``centered``,
    ``mean_grad``.  ``ms = decay*ms + (1-decay)*g^2``;
    ``moment = momentum*moment + lr*g / sqrt(ms + epsilon)``; ``param -= moment``.
    centered: ``mg = decay*mg + (1-decay)*g`` and ``sqrt(ms - mg^2 + epsilon)``;
    the kernel skips the update of an element whose ``ms - mg^2 + epsilon <= 0``.
    """
    g = _arr(grad, param)
    ms = states["mean_square"] + (g * g - states["mean_square"]) * (1.0 - decay)
    new_states = {"mean_square": ms}
    if centered:
        mg = states["mean_grad"] + (g - states["mean_grad"]) * (1.0 - decay)
        new_states["mean_grad"] = mg
        denom = ms - mg * mg + epsilon
        ok = denom > 0
        safe = np.where(ok, denom, 1.0).astype(param.dtype)
        mom = np.where(ok, states["moment"] * momentum + g * learning_rate / np.sqrt(safe),
                       states["moment"])
        new_param = np.where(ok, param - mom, param)
    else:
        mom = states["moment"] * momentum + g * learning_rate / np.sqrt(ms + epsilon)
        new_param = param - mom
    new_states["moment"] = mom.astype(param.dtype, copy=False)
    return new_param.astype(param.dtype, copy=False), new_states


def ftrl(param, grad, states, *, learning_rate=0.001, lr_power=-0.5, l1=0.0,
         l2=0.0):
    """MindSpore ``nn.FTRL`` (``P.ApplyFtrl``). States ``accum`` (starts at 0.1), ``linear``.

    ``a' = accum + g^2``; ``linear += g - (a'^(-p) - accum^(-p)) / lr * param``;
    ``param = (sign(linear)*l1 - linear) / (a'^(-p)/lr + 2*l2)`` where
    ``|linear| > l1``, else 0; ``accum = a'``.
    """
    g = _arr(grad, param)
    accum = states["accum"]
    new_accum = accum + g * g
    pw = -lr_power
    accum_pow = np.power(accum, pw)
    new_pow = np.power(new_accum, pw)
    linear = states["linear"] + g - (new_pow - accum_pow) / learning_rate * param
    quadratic = new_pow / learning_rate + 2.0 * l2
    new_param = np.where(np.abs(linear) > l1, (np.sign(linear) * l1 - linear) / quadratic, 0.0)
    return new_param.astype(param.dtype, copy=False), {"accum": new_accum, "linear": linear}


def proximal_adagrad(param, grad, states, *, learning_rate, l1=0.0, l2=0.0):
    """MindSpore ``nn.ProximalAdagrad`` (``P.ApplyProximalAdagrad``). State ``accum`` (0.1).

    ``accum += g^2``; ``lr_t = lr / sqrt(accum)``; ``v = param - lr_t * g``;
    ``param = sign(v) * max(|v| - lr_t*l1, 0) / (1 + lr_t*l2)``.

    As MindSpore's kernels compute it (nnacl ``apply_proximal_adagrad_fp32.c``
    and the GPU kernel): the shrink and the divisor use ``lr_t``, where the
    op's docstring writes ``lr``.
    """
    g = _arr(grad, param)
    accum = states["accum"] + g * g
    lr_t = learning_rate / np.sqrt(accum)
    prox = param - lr_t * g
    new_param = np.sign(prox) * np.maximum(np.abs(prox) - lr_t * l1, 0.0) / (1.0 + lr_t * l2)
    return new_param.astype(param.dtype, copy=False), {"accum": accum}


def adamax(param, grad, states, *, learning_rate, beta1=0.9, beta2=0.999,
           eps=1e-8, t):
    """MindSpore ``nn.AdaMax`` (``P.ApplyAdaMax``). States ``moment1``, ``moment2``.

    ``m = b1*m + (1-b1)*g``; ``v = max(b2*v, |g|)``;
    ``param -= lr / (1 - b1^t) * m / (v + eps)``.
    """
    g = _arr(grad, param)
    m = beta1 * states["moment1"] + (1.0 - beta1) * g
    v = np.maximum(beta2 * states["moment2"], np.abs(g))
    new_param = param - learning_rate / (1.0 - beta1 ** t) * m / (v + eps)
    return new_param, {"moment1": m, "moment2": v}


def adadelta(param, grad, states, *, learning_rate=1.0, rho=0.9, epsilon=1e-6):
    """MindSpore ``nn.Adadelta`` (``P.ApplyAdadelta``). States ``accum``, ``accum_update``.

    ``accum = rho*accum + (1-rho)*g^2``;
    ``u = sqrt(accum_update + eps) / sqrt(accum + eps) * g``;
    ``accum_update = rho*accum_update + (1-rho)*u^2``; ``param -= lr * u``.
    """
    g = _arr(grad, param)
    accum = rho * states["accum"] + (1.0 - rho) * (g * g)
    u = np.sqrt(states["accum_update"] + epsilon) / np.sqrt(accum + epsilon) * g
    accum_update = rho * states["accum_update"] + (1.0 - rho) * (u * u)
    return param - learning_rate * u, {"accum": accum, "accum_update": accum_update}


def asgd(param, grad, states, *, learning_rate, lambd=1e-4, alpha=0.75,
         t0=1e6, t, prev_learning_rate=None):
    """MindSpore ``nn.ASGD``. State ``ax``.

    ``eta = lr`` at ``t == 1``, else ``lr' / (1 + lambd * lr' * (t-1))^alpha``
    and ``mu = 1 / max(1, t - 1 - t0)``;
    ``param = param * (1 - lambd*eta) - eta * g``;
    ``ax = param`` if ``mu == 1`` else ``ax + mu * (param - ax)``.
    MindSpore stores eta at the end of the previous step, so ``lr'`` is the
    previous step's learning rate (pass ``prev_learning_rate``); without it
    ``lr' = learning_rate`` (identical for a constant learning rate).
    """
    g = _arr(grad, param)
    if t == 1:
        eta = learning_rate
    else:
        lr_prev = learning_rate if prev_learning_rate is None else prev_learning_rate
        eta = lr_prev / math.pow(1.0 + lambd * lr_prev * (t - 1), alpha)
    mu = 1.0 / max(1.0, (t - 1) - t0)
    new_param = param * (1.0 - lambd * eta) - eta * g
    if mu != 1.0:
        ax = states["ax"] + (new_param - states["ax"]) * mu
    else:
        ax = np.array(new_param, copy=True)
    return new_param, {"ax": ax}


def rprop(param, grad, states, *, learning_rate, etaminus=0.5, etaplus=1.2,
          min_step=1e-6, max_step=50.0, t=None, etas=None, step_sizes=None):
    """MindSpore ``nn.Rprop``. States ``prev``, ``step_size`` (starts at lr).

    ``s = sign(g * prev)``; factor ``etaplus`` where ``s > 0``, ``etaminus``
    where ``s < 0``, 1 where ``s == 0``; ``step_size = clip(step_size * factor,
    min_step, max_step)`` (every element is clipped); where ``s < 0`` the
    gradient is set to 0; ``param -= sign(g) * step_size``; ``prev = g``.
    At ``t == 1`` MindSpore sets ``step_size`` to the current learning rate.
    ``etas=(etaminus, etaplus)`` and ``step_sizes=(min_step, max_step)`` are
    MindSpore's constructor spelling and override the single values.
    """
    if etas is not None:
        etaminus, etaplus = etas
    if step_sizes is not None:
        min_step, max_step = step_sizes
    g = _arr(grad, param)
    step_size = states["step_size"]
    if t == 1:
        step_size = np.full_like(param, learning_rate)
    s = np.sign(g * states["prev"])
    factor = np.where(s > 0, etaplus, np.where(s < 0, etaminus, 1.0))
    step_size = np.clip(step_size * factor, min_step, max_step).astype(param.dtype, copy=False)
    g = np.where(s < 0, 0.0, g).astype(param.dtype, copy=False)
    new_param = param - np.sign(g) * step_size
    return new_param, {"prev": g, "step_size": step_size}


def lazy_adam(param, indices, values, states, *, learning_rate, beta1=0.9,
              beta2=0.999, eps=1e-8, use_nesterov=False, t):
    """MindSpore ``nn.LazyAdam`` with a sparse gradient: Adam (MindSpore's form)
    on the rows named by ``indices`` only; other rows of ``param``, ``moment1``,
    ``moment2`` are untouched.  ``indices`` must be unique (see ``unique_rows``).
    """
    idx = np.asarray(indices).astype(np.int64)
    if len(np.unique(idx)) != len(idx):
        raise ValueError("lazy_adam: indices must be unique; merge them with unique_rows")
    vals = _arr(values, param)
    m_rows = states["moment1"][idx]
    v_rows = states["moment2"][idx]
    next_m = m_rows * beta1 + vals * (1.0 - beta1)
    next_v = v_rows * beta2 + vals * vals * (1.0 - beta2)
    lr_t = learning_rate * math.sqrt(1.0 - beta2 ** t) / (1.0 - beta1 ** t)
    if use_nesterov:
        upd = (beta1 * next_m + vals * (1.0 - beta1)) / (np.sqrt(next_v) + eps)
    else:
        upd = next_m / (np.sqrt(next_v) + eps)
    new_param = np.array(param, copy=True)
    m = np.array(states["moment1"], copy=True)
    v = np.array(states["moment2"], copy=True)
    new_param[idx] = param[idx] - lr_t * upd
    m[idx] = next_m
    v[idx] = next_v
    return new_param, {"moment1": m, "moment2": v}


def lion(param, grad, states, *, learning_rate, beta1=0.9, beta2=0.99,
         weight_decay=0.0):
    """Lion (Chen et al. 2023, "Symbolic Discovery of Optimization
    Algorithms", Algorithm 2). State ``exp_avg``.

    ``c = b1*m + (1-b1)*g``; ``param = param*(1 - lr*wd) - lr*sign(c)``
    (decoupled weight decay; ``sign(0) = 0``); ``m = b2*m + (1-b2)*g``.
    """
    g = _arr(grad, param)
    m = states["exp_avg"]
    c = beta1 * m + (1.0 - beta1) * g
    new_param = param * (1.0 - learning_rate * weight_decay) \
        - learning_rate * np.sign(c)
    return new_param, {"exp_avg": beta2 * m + (1.0 - beta2) * g}


def adan(param, grad, states, *, learning_rate, beta1=0.98, beta2=0.92,
         beta3=0.99, eps=1e-8, weight_decay=0.0, t):
    """Adan (Xie et al. 2022, "Adan: Adaptive Nesterov Momentum Algorithm
    for Faster Optimizing Deep Models", Algorithm 1), as the authors'
    implementation writes it: betas weigh the old value, the moments are
    bias-corrected, weight decay is the proximal step. States ``exp_avg``,
    ``exp_avg_diff``, ``exp_avg_sq``, ``pre_grad``.

    ``d = g - pre_grad`` (0 at ``t == 1``, the previous gradient being the
    first one); ``u = g + b2*d``; ``m = b1*m + (1-b1)*g``;
    ``v = b2*v + (1-b2)*d``; ``n = b3*n + (1-b3)*u^2``;
    ``update = (m/(1-b1^t) + b2*v/(1-b2^t)) / (sqrt(n)/sqrt(1-b3^t) + eps)``;
    ``param = (param - lr*update) / (1 + lr*wd)``; ``pre_grad = g``.
    """
    g = _arr(grad, param)
    d = np.zeros_like(g) if t == 1 else g - states["pre_grad"]
    u = g + beta2 * d
    m = beta1 * states["exp_avg"] + (1.0 - beta1) * g
    v = beta2 * states["exp_avg_diff"] + (1.0 - beta2) * d
    n = beta3 * states["exp_avg_sq"] + (1.0 - beta3) * u * u
    denom = np.sqrt(n) / math.sqrt(1.0 - beta3 ** t) + eps
    update = (m / (1.0 - beta1 ** t) + beta2 * v / (1.0 - beta2 ** t)) / denom
    new_param = (param - learning_rate * update) / \
        (1.0 + learning_rate * weight_decay)
    return new_param, {"exp_avg": m, "exp_avg_diff": v, "exp_avg_sq": n,
                       "pre_grad": g.copy()}


def radam(param, grad, states, *, learning_rate, beta1=0.9, beta2=0.999,
          eps=1e-8, weight_decay=0.0, t):
    """RAdam (Liu et al. 2020, "On the Variance of the Adaptive Learning
    Rate and Beyond", Algorithm 2), in the form of ``torch.optim.RAdam``:
    L2 weight decay (``g + wd*param``), Adam's moments, and with
    ``rho_inf = 2/(1-b2) - 1``, ``rho_t = rho_inf - 2 t b2^t / (1-b2^t)``:
    where ``rho_t > 5`` the step ``lr * m_hat * r_t * sqrt(1-b2^t) /
    (sqrt(v) + eps)`` with the rectification
    ``r_t = sqrt((rho_t-4)(rho_t-2) rho_inf / ((rho_inf-4)(rho_inf-2) rho_t))``,
    else ``lr * m_hat``. States ``exp_avg``, ``exp_avg_sq``.
    """
    g = _arr(grad, param) + weight_decay * param
    m = beta1 * states["exp_avg"] + (1.0 - beta1) * g
    v = beta2 * states["exp_avg_sq"] + (1.0 - beta2) * g * g
    m_hat = m / (1.0 - beta1 ** t)
    rho_inf = 2.0 / (1.0 - beta2) - 1.0
    rho_t = rho_inf - 2.0 * t * beta2 ** t / (1.0 - beta2 ** t)
    if rho_t > 5.0:
        rect = math.sqrt((rho_t - 4.0) * (rho_t - 2.0) * rho_inf /
                         ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t))
        adaptive = math.sqrt(1.0 - beta2 ** t) / (np.sqrt(v) + eps)
        new_param = param - learning_rate * m_hat * rect * adaptive
    else:
        new_param = param - learning_rate * m_hat
    return new_param, {"exp_avg": m, "exp_avg_sq": v}


def torch_adamax(param, grad, states, *, learning_rate, beta1=0.9,
                 beta2=0.999, eps=1e-8, weight_decay=0.0, t):
    """Adamax (Kingma and Ba 2015, "Adam: A Method for Stochastic
    Optimization", Algorithm 2) as ``torch.optim.Adamax`` writes it: L2
    weight decay (``g + wd*param``), ``m = b1*m + (1-b1)*g``,
    ``u = max(b2*u, |g| + eps)``, ``param -= lr/(1-b1^t) * m/u``. States
    ``exp_avg``, ``exp_inf``."""
    g = _arr(grad, param) + weight_decay * param
    m = beta1 * states["exp_avg"] + (1.0 - beta1) * g
    u = np.maximum(beta2 * states["exp_inf"], np.abs(g) + eps)
    new_param = param - learning_rate / (1.0 - beta1 ** t) * (m / u)
    return new_param, {"exp_avg": m, "exp_inf": u}


def torch_adadelta(param, grad, states, *, learning_rate, rho=0.9, eps=1e-6,
                   weight_decay=0.0):
    """Adadelta (Zeiler 2012, "ADADELTA: An Adaptive Learning Rate Method",
    Algorithm 1) as ``torch.optim.Adadelta`` writes it: L2 weight decay
    (``g + wd*param``), ``E[g^2] = rho*E[g^2] + (1-rho)*g^2``,
    ``delta = sqrt(E[dx^2] + eps) / sqrt(E[g^2] + eps) * g``,
    ``E[dx^2] = rho*E[dx^2] + (1-rho)*delta^2``, ``param -= lr*delta``.
    States ``square_avg``, ``acc_delta``."""
    g = _arr(grad, param) + weight_decay * param
    square = rho * states["square_avg"] + (1.0 - rho) * g * g
    delta = np.sqrt(states["acc_delta"] + eps) / np.sqrt(square + eps) * g
    acc = rho * states["acc_delta"] + (1.0 - rho) * delta * delta
    return param - learning_rate * delta, {"square_avg": square,
                                           "acc_delta": acc}


def torch_adagrad(param, grad, states, *, learning_rate, t, lr_decay=0.0,
                  eps=1e-10, weight_decay=0.0):
    """Adagrad (Duchi et al. 2011, "Adaptive Subgradient Methods for Online
    Learning and Stochastic Optimization") as ``torch.optim.Adagrad``
    writes it: L2 weight decay (``g + wd*param``), the decayed rate
    ``clr = lr / (1 + (t-1)*lr_decay)``, ``sum += g^2``,
    ``param -= clr * g / (sqrt(sum) + eps)``. State ``sum`` (it starts at
    ``initial_accumulator_value``)."""
    g = _arr(grad, param) + weight_decay * param
    clr = learning_rate / (1.0 + (t - 1) * lr_decay)
    total = states["sum"] + g * g
    return param - clr * g / (np.sqrt(total) + eps), {"sum": total}


def torch_rmsprop(param, grad, states, *, learning_rate, alpha=0.99,
                  eps=1e-8, momentum=0.0, centered=False, weight_decay=0.0):
    """RMSprop (Hinton, "Neural Networks for Machine Learning", lecture 6e)
    as ``torch.optim.RMSprop`` writes it: L2 weight decay,
    ``v = alpha*v + (1-alpha)*g^2``; centered: ``m = alpha*m +
    (1-alpha)*g`` and ``avg = sqrt(v - m^2) + eps``, else ``sqrt(v) + eps``;
    with ``momentum > 0``: ``buf = momentum*buf + g/avg``,
    ``param -= lr*buf``, else ``param -= lr*g/avg``. States
    ``square_avg``, ``momentum_buffer`` (momentum > 0 only), ``grad_avg``
    (centered only)."""
    g = _arr(grad, param) + weight_decay * param
    square = alpha * states["square_avg"] + (1.0 - alpha) * g * g
    new = {"square_avg": square}
    if centered:
        mean = alpha * states["grad_avg"] + (1.0 - alpha) * g
        new["grad_avg"] = mean
        avg = np.sqrt(square - mean * mean) + eps
    else:
        avg = np.sqrt(square) + eps
    if momentum > 0:
        buf = momentum * states["momentum_buffer"] + g / avg
        new["momentum_buffer"] = buf
        return param - learning_rate * buf, new
    return param - learning_rate * g / avg, new


def torch_asgd(param, grad, states, *, learning_rate, t, lambd=1e-4,
               alpha=0.75, t0=1e6, weight_decay=0.0, scalar_dtype=np.float32):
    """Averaged SGD (Polyak and Juditsky 1992) as ``torch.optim.ASGD``
    writes it: L2 weight decay, then with this parameter's step size
    ``eta`` and averaging rate ``mu`` (scalars set by the previous step;
    ``eta`` starts at the learning rate, ``mu`` at 1):
    ``param = param*(1 - lambd*eta) - eta*g``, ``ax = param`` if ``mu == 1``
    else ``ax + mu*(param - ax)``; then ``eta = lr / (1 +
    lambd*lr*t)^alpha`` and ``mu = 1 / max(1, t - t0)`` for the next step,
    rounded to ``scalar_dtype`` (torch keeps them as tensors of its default
    dtype). States ``eta``, ``mu`` (floats) and ``ax``."""
    g = _arr(grad, param) + weight_decay * param
    eta, mu = states["eta"], states["mu"]
    new_param = param * (1.0 - lambd * eta) - eta * g
    ax = new_param.copy() if mu == 1 else \
        states["ax"] + mu * (new_param - states["ax"])
    eta = float(scalar_dtype(learning_rate /
                             (1.0 + lambd * learning_rate * t) ** alpha))
    mu = float(scalar_dtype(1.0 / max(1.0, t - t0)))
    return new_param, {"eta": eta, "mu": mu, "ax": ax}


def torch_rprop(param, grad, states, *, learning_rate, etaminus=0.5,
                etaplus=1.2, step_size_min=1e-6, step_size_max=50.0):
    """Rprop (Riedmiller and Braun 1993) as ``torch.optim.Rprop`` writes
    it: with ``s = g*prev``, the step size is multiplied by ``etaplus``
    where ``s > 0``, by ``etaminus`` where ``s < 0`` (``g`` then counts as
    0), clamped to ``[step_size_min, step_size_max]``;
    ``param -= sign(g)*step_size``; ``prev = g``. No weight decay. States
    ``prev``, ``step_size`` (it starts at the learning rate)."""
    g = _arr(grad, param).copy()
    s = g * states["prev"]
    factor = np.where(s > 0, etaplus, np.where(s < 0, etaminus, 1.0))
    size = np.minimum(np.maximum(states["step_size"] * factor,
                                 step_size_min), step_size_max)
    g[s < 0] = 0.0
    return param - np.sign(g) * size, {"prev": g, "step_size": size}


def torch_nadam(param, grad, states, *, learning_rate, t, beta1=0.9,
                beta2=0.999, eps=1e-8, momentum_decay=4e-3, weight_decay=0.0,
                scalar_dtype=np.float32):
    """NAdam (Dozat 2016, "Incorporating Nesterov Momentum into Adam") as
    ``torch.optim.NAdam`` 1.13 writes it: L2 weight decay,
    ``mu_t = beta1*(1 - 0.5*0.96^(t*momentum_decay))``, the running product
    ``mu_product *= mu_t`` (a scalar of ``scalar_dtype``, torch's default
    dtype, multiplied in it), Adam's moments, ``denom = sqrt(v / (1 -
    beta2^t)) + eps``, ``param -= lr*(1 - mu_t)/(1 - mu_product) * g/denom
    + lr*mu_(t+1)/(1 - mu_product*mu_t*mu_(t+1)) * m/denom`` (torch 1.13
    multiplies ``mu_t`` in twice there). States ``mu_product`` (float),
    ``exp_avg``, ``exp_avg_sq``."""
    g = _arr(grad, param) + weight_decay * param
    mu = beta1 * (1.0 - 0.5 * 0.96 ** (t * momentum_decay))
    mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * momentum_decay))
    f = scalar_dtype
    product = f(f(states["mu_product"]) * f(mu))
    product_next = f(f(product * f(mu)) * f(mu_next))
    m = beta1 * states["exp_avg"] + (1.0 - beta1) * g
    v = beta2 * states["exp_avg_sq"] + (1.0 - beta2) * g * g
    denom = np.sqrt(v / (1.0 - beta2 ** t)) + eps
    new_param = param - learning_rate * (1.0 - mu) / (1.0 - float(product)) \
        * g / denom - learning_rate * mu_next / \
        (1.0 - float(product_next)) * m / denom
    return new_param, {"mu_product": float(product), "exp_avg": m,
                       "exp_avg_sq": v}


def power_sign(param, grad, states, *, learning_rate, logbase=1.0,
               sign_decay=1.0, beta=0.9, weight_decay=0.0):
    """PowerSign (Bello et al. 2017, "Neural Optimizer Search with
    Reinforcement Learning", section 5), as MindSpore's
    ``ApplyPowerSign`` computes it: L2 weight decay (``g + wd*param``),
    ``m = beta*m + (1-beta)*g``, ``param -= lr * exp(logbase * sign_decay *
    sign(g) * sign(m)) * g`` with the new ``m``. State ``m``."""
    g = _arr(grad, param) + weight_decay * param
    m = beta * states["m"] + (1.0 - beta) * g
    scale = np.exp(logbase * sign_decay * np.sign(g) * np.sign(m))
    return param - learning_rate * scale * g, {"m": m}


def proximal_gradient_descent(param, grad, states, *, learning_rate, l1=0.0,
                              l2=0.0, weight_decay=0.0):
    """Proximal gradient descent (FOBOS, Duchi and Singer 2009) as
    MindSpore's ``ApplyProximalGradientDescent`` computes it, ``alpha`` being
    the learning rate: L2 weight decay (``g + wd*param``),
    ``v = param - lr*g``, then ``sign(v) * max(|v| - lr*l1, 0) /
    (1 + lr*l2)`` where ``l1 > 0`` and ``v / (1 + lr*l2)`` otherwise. No
    states."""
    g = _arr(grad, param) + weight_decay * param
    v = param - learning_rate * g
    if l1 > 0.0:
        v = np.sign(v) * np.maximum(np.abs(v) - learning_rate * l1, 0.0)
    return v / (1.0 + learning_rate * l2), {}


def adagrad_da(param, grad, states, *, learning_rate, l1=0.0, l2=0.0,
               weight_decay=0.0, t):
    """Adagrad dual averaging (Duchi et al. 2011, section 3) as MindSpore's
    ``ApplyAdagradDA`` documents it, ``global_step`` being the 1-based
    update count ``t``: L2 weight decay (``g + wd*param``), ``acc += g``,
    ``sq += g^2``, and ``param = -lr * s / (l2*t*lr + sqrt(sq))`` with
    ``s = sign(acc) * max(|acc| - l1*t, 0)`` where ``l1 > 0`` and
    ``s = acc`` otherwise. States ``gradient_accumulator``,
    ``gradient_squared_accumulator`` (starting at 0.1)."""
    g = _arr(grad, param) + weight_decay * param
    acc = states["gradient_accumulator"] + g
    sq = states["gradient_squared_accumulator"] + g * g
    s = np.sign(acc) * np.maximum(np.abs(acc) - l1 * t, 0.0) if l1 > 0.0 \
        else acc
    new_param = -learning_rate * s / (l2 * t * learning_rate + np.sqrt(sq))
    return new_param, {"gradient_accumulator": acc,
                       "gradient_squared_accumulator": sq}

def factored_shape(shape):
    """Adafactor's view of a parameter of ``shape``: ``(B, R, C) =
    (prod(shape[:-2]), shape[-2], shape[-1])`` for rank >= 2, ``(1, 1, n)``
    for a vector, ``(1, 1, 1)`` for a scalar; its row state has shape
    ``shape[:-1]`` (rank >= 2, else ``(1,)``), its column state
    ``shape[:-2] + shape[-1:]`` (rank >= 2, else ``shape``)."""
    shape = tuple(int(d) for d in shape)
    if len(shape) >= 2:
        return ((math.prod(shape[:-2]), shape[-2], shape[-1]), shape[:-1],
                shape[:-2] + shape[-1:])
    return (1, 1, math.prod(shape)), (1,), shape


def _rms(x):
    return math.sqrt(float(np.mean(np.square(x)))) if np.size(x) else 0.0


def adafactor(param, grad, states, *, learning_rate, t, eps1=1e-30,
              eps2=1e-3, clip_threshold=1.0, decay_rate=0.8, beta1=0.9,
              weight_decay=0.0, first_moment=True, scale_parameter=True,
              relative_step=True, warmup_init=False):
    """Adafactor (Shazeer and Stern 2018, "Adafactor: Adaptive Learning
    Rates with Sublinear Memory Cost"), as MindSpore's ``AdaFactor`` runs
    it on the CPU (kernel ``FusedAdaFactor``).  States ``exp_avg`` (only
    with ``first_moment``), ``exp_avg_sq_row``, ``exp_avg_sq_col`` (shapes:
    ``factored_shape``).

    The parameter is viewed as ``(B, R, C)`` (``factored_shape``), each of
    its ``B`` matrices factored as in Algorithm 4 (matrices) of the paper,
    with the row and column *means* of the squared gradient kept instead of
    the sums (the estimate ``V = R C / 1^T R`` is the same).  A vector is
    one row (``R = 1``): its row factor is 1 and its column state the full
    second moment of Algorithm 5 (vectors).  With ``rho`` the paper's
    relative step size (``min(1e-6 * t if warmup_init else 1e-2,
    1 / sqrt(t))`` with ``relative_step``, else ``learning_rate``),
    ``alpha = rho * max(eps2, RMS(param))`` with ``scale_parameter`` (else
    ``rho``) and its increasing decay ``beta2t = 1 - t ** (-decay_rate)``:

    * ``row = beta2t * row + (1 - beta2t) * mean_C(grad**2 + eps1)``,
      ``col = beta2t * col + (1 - beta2t) * mean_R(grad**2 + eps1)``;
    * ``u = grad / sqrt(row / mean_R(row) * col)``;
    * ``u = u / max(1, RMS(u) / clip_threshold)`` (update clipping),
      scaled by ``alpha``;
    * with ``first_moment``, ``exp_avg = beta1 * exp_avg + (1 - beta1) *
      u`` and ``u = exp_avg`` (momentum on the clipped, scaled update);
    * ``param = param - u - weight_decay * alpha * param``.

    MindSpore's kernel adds three clamps at ``1e-30`` where the paper has
    none: the new column state (stored clamped: ``col = max(col,
    1e-30)``; a vector's second moment is this state), the mean of the
    row state over ``R`` before dividing by it, and the factored
    denominator (``grad / max(sqrt(row / mean_R(row)) * sqrt(col),
    1e-30)``).  They change nothing unless a mean of squared gradients
    falls below about ``1e-30`` (a zero gradient with ``eps1 = 0``).
    """
    p = np.asarray(param)
    g = _arr(grad, p)
    (b, r, c), _, _ = factored_shape(p.shape)
    if relative_step:
        rho = min(1e-6 * t if warmup_init else 1e-2, 1.0 / math.sqrt(t))
    else:
        rho = learning_rate
    alpha = rho * max(eps2, _rms(p)) if scale_parameter else rho
    beta2t = 1.0 - float(t) ** (-decay_rate)
    g3 = g.reshape(b, r, c)
    g2 = g3 * g3 + eps1
    row = beta2t * states["exp_avg_sq_row"].reshape(b, r) + \
        (1.0 - beta2t) * g2.mean(axis=2)
    col = beta2t * states["exp_avg_sq_col"].reshape(b, c) + \
        (1.0 - beta2t) * g2.mean(axis=1)
    col = np.maximum(col, 1e-30)
    row_mean = np.maximum(row.mean(axis=1, keepdims=True), 1e-30)
    r_factor = np.sqrt(row / row_mean)
    c_factor = np.sqrt(col)
    u = g3 / np.maximum(r_factor[:, :, None] * c_factor[:, None, :], 1e-30)
    u = u.reshape(p.shape)
    u = u * (alpha / max(_rms(u) / clip_threshold, 1.0))
    new_states = {}
    if first_moment:
        u = beta1 * states["exp_avg"] + (1.0 - beta1) * u
        new_states["exp_avg"] = u
    new_states["exp_avg_sq_row"] = row.reshape(
        states["exp_avg_sq_row"].shape)
    new_states["exp_avg_sq_col"] = col.reshape(
        states["exp_avg_sq_col"].shape)
    new_param = np.asarray(p - u - p * (weight_decay * alpha))
    return new_param, new_states


RULES = {
    "lion": lion, "adan": adan, "adafactor": adafactor,
    "sgd": sgd, "momentum": momentum, "adam": adam,
    "adam_weight_decay": adam_weight_decay, "lamb": lamb, "lars": lars,
    "adagrad": adagrad, "rmsprop": rmsprop, "ftrl": ftrl,
    "proximal_adagrad": proximal_adagrad, "adamax": adamax,
    "adadelta": adadelta, "asgd": asgd, "rprop": rprop, "lazy_adam": lazy_adam,
    "power_sign": power_sign,
    "proximal_gradient_descent": proximal_gradient_descent,
    "adagrad_da": adagrad_da,
}

# Hyper-parameter and option defaults as in the MindSpore constructors (and
# Rules.cpp).  "learning_rate" is MindSpore's default (None: required there).
DEFAULTS = {
    "sgd": dict(learning_rate=0.1, momentum=0.0, dampening=0.0, nesterov=False),
    "momentum": dict(learning_rate=None, momentum=None, use_nesterov=False),
    "adam": dict(learning_rate=1e-3, beta1=0.9, beta2=0.999, eps=1e-8,
                 use_nesterov=False, use_amsgrad=False),
    "adam_weight_decay": dict(learning_rate=1e-3, beta1=0.9, beta2=0.999, eps=1e-6),
    "lamb": dict(learning_rate=None, beta1=0.9, beta2=0.999, eps=1e-6),
    "lars": dict(learning_rate=None, momentum=None, epsilon=1e-5, coefficient=0.001,
                 use_nesterov=False, use_clip=False),
    "adagrad": dict(learning_rate=0.001, accum=0.1, update_slots=True),
    "rmsprop": dict(learning_rate=0.1, decay=0.9, momentum=0.0, epsilon=1e-10,
                    centered=False),
    "ftrl": dict(learning_rate=0.001, initial_accum=0.1, lr_power=-0.5, l1=0.0, l2=0.0),
    "proximal_adagrad": dict(learning_rate=0.001, accum=0.1, l1=0.0, l2=0.0),
    "adamax": dict(learning_rate=0.001, beta1=0.9, beta2=0.999, eps=1e-8),
    "adadelta": dict(learning_rate=1.0, rho=0.9, epsilon=1e-6),
    "asgd": dict(learning_rate=0.1, lambd=1e-4, alpha=0.75, t0=1e6),
    "rprop": dict(learning_rate=0.1, etaminus=0.5, etaplus=1.2, min_step=1e-6,
                  max_step=50.0),
    "lazy_adam": dict(learning_rate=1e-3, beta1=0.9, beta2=0.999, eps=1e-8,
                      use_nesterov=False),
    # Not MindSpore's: the papers' defaults.
    "lion": dict(learning_rate=1e-4, beta1=0.9, beta2=0.99),
    "adan": dict(learning_rate=1e-3, beta1=0.98, beta2=0.92, beta3=0.99,
                 eps=1e-8),
    # MindSpore's learning_rate=None is 0.0: the relative step replaces it.
    "adafactor": dict(learning_rate=0.0, eps1=1e-30, eps2=1e-3,
                      clip_threshold=1.0, decay_rate=0.8, beta1=0.9,
                      first_moment=True, scale_parameter=True,
                      relative_step=True, warmup_init=False),
    # MindSpore's kernels without an nn optimizer (the records' defaults;
    # logbase 1.0 is base e).
    "power_sign": dict(learning_rate=1e-3, logbase=1.0, sign_decay=1.0,
                       beta=0.9),
    "proximal_gradient_descent": dict(learning_rate=1e-3, l1=0.0, l2=0.0),
    "adagrad_da": dict(learning_rate=1e-3, l1=0.0, l2=0.0),
}

# Rules that need the 1-based update count.
_USES_T = {"sgd", "adam", "lamb", "adamax", "asgd", "rprop", "lazy_adam",
           "adan", "adafactor", "adagrad_da"}
# Rules whose weight decay is applied inside the rule, not by decay_weight.
_DECAY_IN_RULE = {"adam_weight_decay", "lamb", "lars", "lion", "adan",
                  "adafactor"}
# Init-only hyper-parameters (they set a state's initial value).
_INIT_ONLY = {"adagrad": ("accum",), "proximal_adagrad": ("accum",),
              "ftrl": ("initial_accum",)}


def init_states(rule, param, **hyper):
    """Initial states of ``rule`` for ``param`` (same dtype and shape).

    zeros everywhere, except: Adagrad / ProximalAdagrad ``accum`` = ``accum``
    (0.1), FTRL ``accum`` = ``initial_accum`` (0.1), RMSProp ``mean_square`` =
    1, Rprop ``step_size`` = ``learning_rate``; Adam adds ``vhat`` with
    ``use_amsgrad`` and RMSProp ``mean_grad`` with ``centered``.  Adafactor's
    ``exp_avg_sq_row`` and ``exp_avg_sq_col`` have the shapes of
    ``factored_shape``; its ``exp_avg`` exists only with ``first_moment``.
    torch's rules: Adagrad's ``sum`` = ``initial_accumulator_value``,
    RMSprop's ``momentum_buffer`` only with ``momentum > 0`` and
    ``grad_avg`` only with ``centered``, ASGD's ``eta`` = the learning rate
    (as a float32) and ``mu`` = 1, Rprop's ``step_size`` =
    ``learning_rate``, NAdam's ``mu_product`` = 1.
    """
    p = np.asarray(param)
    z = lambda: np.zeros_like(p)
    full = lambda x: np.full_like(p, x)
    if rule == "sgd":
        return {"accum": z()}
    if rule in ("momentum", "lars"):
        return {"moments": z()}
    if rule == "adam":
        s = {"moment1": z(), "moment2": z()}
        if hyper.get("use_amsgrad", False):
            s["vhat"] = z()
        return s
    if rule in ("adam_weight_decay", "lamb", "adamax", "lazy_adam"):
        return {"moment1": z(), "moment2": z()}
    if rule in ("adagrad", "proximal_adagrad"):
        return {"accum": full(hyper.get("accum", 0.1))}
    if rule == "rmsprop":
        s = {"mean_square": full(1.0), "moment": z()}
        if hyper.get("centered", False):
            s["mean_grad"] = z()
        return s
    if rule == "ftrl":
        return {"accum": full(hyper.get("initial_accum", 0.1)), "linear": z()}
    if rule == "adadelta":
        return {"accum": z(), "accum_update": z()}
    if rule == "asgd":
        return {"ax": z()}
    if rule == "lion":
        return {"exp_avg": z()}
    if rule == "adan":
        return {"exp_avg": z(), "exp_avg_diff": z(), "exp_avg_sq": z(),
                "pre_grad": z()}
    if rule == "radam":
        return {"exp_avg": z(), "exp_avg_sq": z()}
    if rule == "torch_adamax":
        return {"exp_avg": z(), "exp_inf": z()}
    if rule == "torch_adadelta":
        return {"square_avg": z(), "acc_delta": z()}
    if rule == "torch_adagrad":
        return {"sum": np.full_like(p, hyper.get("initial_accumulator_value",
                                                 0.0))}
    if rule == "torch_rmsprop":
        s = {"square_avg": z()}
        if hyper.get("momentum", 0.0) > 0:
            s["momentum_buffer"] = z()
        if hyper.get("centered", False):
            s["grad_avg"] = z()
        return s
    if rule == "torch_asgd":
        return {"eta": float(np.float32(hyper["learning_rate"])), "mu": 1.0,
                "ax": z()}
    if rule == "torch_rprop":
        return {"prev": z(), "step_size": np.full_like(
            p, hyper["learning_rate"])}
    if rule == "torch_nadam":
        return {"mu_product": 1.0, "exp_avg": z(), "exp_avg_sq": z()}
    if rule == "power_sign":
        return {"m": z()}
    if rule == "proximal_gradient_descent":
        return {}
    if rule == "adagrad_da":
        return {"gradient_accumulator": z(),
                "gradient_squared_accumulator": full(0.1)}
    if rule == "adafactor":
        _, rows, cols = factored_shape(p.shape)
        s = {"exp_avg_sq_row": np.zeros(rows, p.dtype),
             "exp_avg_sq_col": np.zeros(cols, p.dtype)}
        if hyper.get("first_moment", True):
            s["exp_avg"] = z()
        return s
    if rule == "rprop":
        lr = hyper.get("learning_rate", DEFAULTS["rprop"]["learning_rate"])
        lr = lr_at(lr, 0) if lr is not None else 0.0
        return {"prev": z(), "step_size": full(lr)}
    raise KeyError("unknown rule %r" % (rule,))


# ===========================================================================
# Base-class features
# ===========================================================================

def decay_weight(grad, param, weight_decay):
    """``grad + weight_decay * param``."""
    return grad + param * weight_decay


def decay_weight_sparse(indices, values, param, weight_decay):
    """Decay of a row gradient: ``values + weight_decay * param[indices]``
    (before duplicate rows are merged, as MindSpore does)."""
    return values + np.asarray(param)[np.asarray(indices).astype(np.int64)] * weight_decay


def decay_filter(name):
    """MindSpore's default filter for ungrouped parameters: decay unless the
    name holds ``beta`` or ``gamma``."""
    return "beta" not in name and "gamma" not in name


def centralization_applies(shape):
    """Rank >= 2 and ``shape[1] % 16 == 0``."""
    return len(shape) >= 2 and shape[1] % 16 == 0


def centralize(grad):
    """Gradient centralization: for rank >= 2 with ``shape[1] % 16 == 0``,
    subtract from each slice along axis 0 its mean over all other axes;
    anything else is returned unchanged."""
    g = np.asarray(grad)
    if not centralization_applies(g.shape):
        return g
    axes = tuple(range(1, g.ndim))
    return g - g.mean(axis=axes, keepdims=True)


def scale_grad(grad, loss_scale):
    """``grad * (1 / loss_scale)``; unchanged when ``loss_scale == 1``."""
    if loss_scale == 1.0:
        return grad
    return grad * (1.0 / loss_scale)


def unique_rows(indices, values):
    """Merge duplicate row indices (first-appearance order), summing rows."""
    idx = np.asarray(indices).astype(np.int64)
    vals = np.asarray(values)
    order = []
    pos = {}
    for i in idx.tolist():
        if i not in pos:
            pos[i] = len(order)
            order.append(i)
    out = np.zeros((len(order),) + vals.shape[1:], dtype=vals.dtype)
    for k, i in enumerate(idx.tolist()):
        out[pos[i]] += vals[k]
    return np.asarray(order, dtype=np.asarray(indices).dtype), out


# ===========================================================================
# Learning rates
# ===========================================================================

def lr_at(lr, step):
    """The learning rate at 0-based global ``step``: a number is constant; a
    0-d array is constant; a 1-d sequence is one value per step and, past its
    end, its LAST value is used; a callable is called with the step."""
    if callable(lr):
        return float(lr(step))
    if isinstance(lr, (int, float, np.floating, np.integer)):
        return float(lr)
    a = np.asarray(lr, dtype=np.float64)
    if a.ndim == 0:
        return float(a)
    if a.ndim != 1 or a.size == 0:
        raise ValueError("a per-step learning rate must be a non-empty 1-d sequence")
    return float(a[min(int(step), a.size - 1)])


def exponential_decay(step, learning_rate, decay_rate, decay_steps, is_stair=False):
    """``learning_rate * decay_rate ** p``, ``p = step / decay_steps`` (floored if is_stair)."""
    p = step / decay_steps
    if is_stair:
        p = math.floor(p)
    return learning_rate * decay_rate ** p


def natural_exp_decay(step, learning_rate, decay_rate, decay_steps, is_stair=False,
                      variant="mindspore"):
    """``learning_rate * exp(-decay_rate * p)``.

    ``variant="mindspore"`` is what ``NaturalExpDecayLR.construct`` computes:
    ``p = step`` (decay_steps unused), with is_stair ``p = floor(step /
    decay_steps) * decay_steps``.  ``variant="documented"`` is its docstring
    (and OptimAttrs.td): ``p = step / decay_steps`` (floored if is_stair).
    """
    if variant == "mindspore":
        p = math.floor(step / decay_steps) * decay_steps if is_stair else float(step)
    elif variant == "documented":
        p = step / decay_steps
        if is_stair:
            p = math.floor(p)
    else:
        raise ValueError("variant must be 'mindspore' or 'documented'")
    return learning_rate * math.exp(-decay_rate * p)


def inverse_decay(step, learning_rate, decay_rate, decay_steps, is_stair=False):
    """``learning_rate / (1 + decay_rate * p)``, ``p = step / decay_steps`` (floored if is_stair)."""
    p = step / decay_steps
    if is_stair:
        p = math.floor(p)
    return learning_rate / (1.0 + decay_rate * p)


def cosine_decay(step, min_lr, max_lr, decay_steps):
    """``min_lr + 0.5*(max_lr - min_lr)*(1 + cos(pi * min(step, decay_steps) / decay_steps))``."""
    p = min(step, decay_steps)
    return min_lr + 0.5 * (max_lr - min_lr) * (1.0 + math.cos(math.pi * p / decay_steps))


def polynomial_decay(step, learning_rate, end_learning_rate, decay_steps, power,
                     update_decay_steps=False):
    """``(lr - end_lr) * (1 - s/d) ** power + end_lr``; ``s = min(step, decay_steps)``,
    ``d = decay_steps``; with ``update_decay_steps``: ``s = step``,
    ``d = decay_steps * max(1, ceil(step / decay_steps))``."""
    if update_decay_steps:
        s = float(step)
        d = decay_steps * max(math.ceil(step / decay_steps), 1)
    else:
        s = float(min(step, decay_steps))
        d = decay_steps
    return (learning_rate - end_learning_rate) * (1.0 - s / d) ** power + end_learning_rate


def warmup(step, learning_rate, warmup_steps):
    """``learning_rate * min(step, warmup_steps) / warmup_steps``."""
    return learning_rate * min(step, warmup_steps) / warmup_steps


def piecewise(step, milestones, values):
    """``values[i]`` for ``milestones[i-1] <= step < milestones[i]``; past the
    last milestone, the last value."""
    for m, v in zip(milestones, values):
        if step < m:
            return v
    return values[-1]


_SCHEDULES = {
    "exponential_decay": exponential_decay, "natural_exp_decay": natural_exp_decay,
    "inverse_decay": inverse_decay, "cosine_decay": cosine_decay,
    "polynomial_decay": polynomial_decay, "warmup": warmup, "piecewise": piecewise,
}


def make_schedule(name, **kwargs):
    """A callable ``f(step)`` for the named schedule with MindSpore's argument
    names, e.g. ``make_schedule("warmup", learning_rate=0.1, warmup_steps=10)``."""
    fn = _SCHEDULES[name]

    def schedule(step):
        return fn(step, **kwargs)

    schedule.__name__ = name
    return schedule


def piecewise_constant_lr(milestone, learning_rates):
    """MindSpore ``nn.piecewise_constant_lr``: ``learning_rates[i]`` repeated
    over ``[milestone[i-1], milestone[i])``; length ``milestone[-1]``."""
    if len(milestone) != len(learning_rates):
        raise ValueError("milestone and learning_rates must have the same length")
    out, last = [], 0
    for m, v in zip(milestone, learning_rates):
        if m < last:
            raise ValueError("milestone must be increasing")
        out += [v] * (m - last)
        last = m
    return out


def exponential_decay_lr(learning_rate, decay_rate, total_step, step_per_epoch,
                         decay_epoch, is_stair=False):
    """``lr * decay_rate ** (epoch / decay_epoch)``, ``epoch = floor(i / step_per_epoch)``
    (exponent floored when is_stair)."""
    out = []
    for i in range(total_step):
        epoch = math.floor(i / step_per_epoch)
        p = epoch / decay_epoch
        if is_stair:
            p = math.floor(p)
        out.append(learning_rate * decay_rate ** p)
    return out


def natural_exp_decay_lr(learning_rate, decay_rate, total_step, step_per_epoch,
                         decay_epoch, is_stair=False):
    """``lr * e ** (-decay_rate * x)``, ``x = epoch`` (decay_epoch unused), or with
    is_stair ``x = floor(epoch / decay_epoch) * decay_epoch``."""
    out = []
    for i in range(total_step):
        epoch = math.floor(i / step_per_epoch)
        x = math.floor(epoch / decay_epoch) * decay_epoch if is_stair else epoch
        out.append(learning_rate * math.e ** (-decay_rate * x))
    return out


def inverse_decay_lr(learning_rate, decay_rate, total_step, step_per_epoch,
                     decay_epoch, is_stair=False):
    """``lr / (1 + decay_rate * epoch / decay_epoch)`` (the ratio floored when is_stair)."""
    out = []
    for i in range(total_step):
        epoch = math.floor(i / step_per_epoch)
        p = math.floor(epoch / decay_epoch) if is_stair else epoch / decay_epoch
        out.append(learning_rate / (1.0 + decay_rate * p))
    return out


def cosine_decay_lr(min_lr, max_lr, total_step, step_per_epoch, decay_epoch):
    """``min_lr + 0.5*(max_lr-min_lr)*(1 + cos(pi * min(epoch, decay_epoch) / decay_epoch))``."""
    out = []
    for i in range(total_step):
        e = min(math.floor(i / step_per_epoch), decay_epoch)
        out.append(min_lr + 0.5 * (max_lr - min_lr) * (1.0 + math.cos(math.pi * e / decay_epoch)))
    return out


def polynomial_decay_lr(learning_rate, end_learning_rate, total_step, step_per_epoch,
                        decay_epoch, power, update_decay_epoch=False):
    """``(lr - end) * (1 - e/d) ** power + end`` with ``e = min(epoch, decay_epoch)``,
    ``d = decay_epoch``; with update_decay_epoch ``e = epoch`` and
    ``d = decay_epoch * max(1, ceil(epoch / decay_epoch))``."""
    out = []
    for i in range(total_step):
        epoch = math.floor(i / step_per_epoch)
        if update_decay_epoch:
            d = decay_epoch * max(math.ceil(epoch / decay_epoch), 1)
            e = epoch
        else:
            d = decay_epoch
            e = min(epoch, decay_epoch)
        out.append((learning_rate - end_learning_rate) * (1.0 - e / d) ** power + end_learning_rate)
    return out


def warmup_lr(learning_rate, total_step, step_per_epoch, warmup_epoch):
    """``lr * min(epoch, warmup_epoch) / warmup_epoch``."""
    return [learning_rate * min(math.floor(i / step_per_epoch), warmup_epoch) / warmup_epoch
            for i in range(total_step)]


# ===========================================================================
# Whole steps
# ===========================================================================

_GROUP_KEYS = ("params", "lr", "weight_decay", "grad_centralization", "order_params")
# MindSpore constructors without a loss_scale argument.
_NO_LOSS_SCALE = {"adam_weight_decay", "lamb", "asgd", "rprop"}


def _check_lr(lr):
    if isinstance(lr, bool):
        raise TypeError("learning rate must be a number, a sequence or a schedule")
    if callable(lr):
        return lr
    if isinstance(lr, (int, float, np.floating, np.integer)):
        if lr < 0:
            raise ValueError("learning rate must be >= 0")
        return float(lr)
    a = np.asarray(lr, dtype=np.float64)
    if a.ndim > 1:
        raise ValueError("a learning-rate tensor must have rank 0 or 1")
    return float(a) if a.ndim == 0 else a


def _list_len(lr):
    return lr.size if isinstance(lr, np.ndarray) else None


class ReferenceOptimizer:
    """Whole optimizer steps with MindSpore's ``nn.Optimizer`` semantics.

    ``ReferenceOptimizer(rule, params, learning_rate=None, weight_decay=0.0,
    loss_scale=1.0, dtype=np.float64, mode="mindspore", **hyper)``

    * ``params``: a list of ``(name, array)`` pairs (ungrouped), or a list of
      group dicts ``{"params": [(name, array), ...], "lr": ...,
      "weight_decay": ..., "grad_centralization": bool}`` optionally with one
      ``{"order_params": [name, ...]}``.
    * ``learning_rate`` (and a group's ``lr``): a number, a 1-d sequence (one
      value per step, the last value past its end) or a callable of the
      0-based global step (``make_schedule``).  Defaults to MindSpore's default
      for the rule.
    * ``hyper``: the rule's hyper-parameters and options by MindSpore name
      (``momentum=0.9``, ``use_nesterov=True``, ``accum=0.1``, ...).  LARS also
      takes ``lars_filter`` (default: names without ``LayerNorm`` / ``bias``).
    * ``mode="mindspore"`` reproduces the concrete MindSpore classes, quirks
      included (see ``step``); ``mode="uniform"`` is the uniform pipeline of
      the design (decay_weight -> centralization -> scale_grad -> lr -> step+1
      -> update for every rule, decay inside the rule for AdamWeightDecay, Lamb
      and LARS).

    ``step(grads)`` takes gradients in ``names`` order (a list) or by name (a
    dict); a LazyAdam gradient may be a sparse ``(indices, values)`` pair.
    After a step, ``params`` / ``states`` hold the new values (lists in
    ``names`` order; ``param(name)`` / ``state(name)`` by name).
    """

    def __init__(self, rule, params, learning_rate=None, weight_decay=0.0,
                 loss_scale=1.0, dtype=np.float64, mode="mindspore", **hyper):
        if rule not in RULES:
            raise KeyError("unknown rule %r" % (rule,))
        if mode not in ("mindspore", "uniform"):
            raise ValueError("mode must be 'mindspore' or 'uniform'")
        self.rule, self.mode, self.dtype = rule, mode, np.dtype(dtype)
        defaults = dict(DEFAULTS[rule])
        if learning_rate is None:
            learning_rate = defaults.get("learning_rate")
            if learning_rate is None:
                raise TypeError("%s needs a learning_rate" % rule)
        defaults.pop("learning_rate", None)
        self.lars_filter = hyper.pop("lars_filter",
                                     lambda n: "LayerNorm" not in n and "bias" not in n)
        merged = dict(defaults)
        merged.update(hyper)
        for k, v in merged.items():
            if v is None:
                raise TypeError("%s needs %s" % (rule, k))
        self.hyper = merged

        # ---- constructor checks (the base class's)
        if isinstance(loss_scale, bool) or not isinstance(loss_scale, (int, float)):
            raise TypeError("loss_scale must be a float")
        loss_scale = float(loss_scale)
        if loss_scale <= 0:
            raise ValueError("loss_scale must be > 0")
        if isinstance(weight_decay, bool) or not isinstance(weight_decay, (int, float)):
            raise TypeError("weight_decay must be int or float")
        weight_decay = float(weight_decay)
        if weight_decay < 0:
            raise ValueError("weight_decay must be >= 0")
        if mode == "mindspore" and rule in _NO_LOSS_SCALE and loss_scale != 1.0:
            raise ValueError("MindSpore's %s takes no loss_scale" % rule)
        if mode == "mindspore" and rule == "sgd" and merged.get("nesterov") and (
                merged["momentum"] <= 0.0 or merged["dampening"] != 0.0):
            raise ValueError("SGD nesterov needs momentum > 0 and dampening == 0")
        self.loss_scale = loss_scale
        self.weight_decay = weight_decay
        learning_rate = _check_lr(learning_rate)
        if params is None:
            raise ValueError("parameters can not be None")
        params = list(params)
        if not params:
            raise ValueError("empty parameters")

        self.grouped = isinstance(params[0], dict)
        if self.grouped != all(isinstance(x, dict) for x in params):
            raise TypeError("parameters must be all (name, array) pairs or all dicts")
        names, arrays, lrs, wds, gcs, flags = [], [], [], [], [], []
        self.group_lr = False
        if not self.grouped:
            for item in params:
                name, arr = item
                names.append(name)
                arrays.append(arr)
                lrs.append(learning_rate)
                wds.append(weight_decay)
                gcs.append(False)
                flags.append(decay_filter(name))
        else:
            order = None
            list_len = _list_len(learning_rate)
            for group in params:
                bad = [k for k in group if k not in _GROUP_KEYS]
                if bad:
                    raise KeyError("unknown group keys %r" % (bad,))
                if "order_params" in group:
                    if len(group) > 1:
                        raise ValueError("an order_params dict holds only order_params")
                    order = list(group["order_params"])
                    continue
                gparams = group.get("params")
                if gparams is None or not list(gparams):
                    raise ValueError("a group needs non-empty params")
                glr = learning_rate
                if "lr" in group:
                    self.group_lr = True
                    glr = _check_lr(group["lr"])
                    n = _list_len(glr)
                    if n is not None:
                        if list_len is not None and n != list_len:
                            raise ValueError("per-step lr lists differ in length")
                        list_len = n
                gwd = weight_decay
                if "weight_decay" in group:
                    gwd = float(group["weight_decay"])
                    if gwd < 0:
                        raise ValueError("weight_decay must be >= 0")
                ggc = group.get("grad_centralization", False)
                if not isinstance(ggc, bool):
                    raise TypeError("grad_centralization must be bool")
                for name, arr in gparams:
                    if name in names:
                        raise RuntimeError("parameter %s in two groups" % name)
                    names.append(name)
                    arrays.append(arr)
                    lrs.append(glr)
                    wds.append(gwd)
                    gcs.append(ggc)
                    flags.append(gwd > 0.0)
            if order is not None:
                if len(order) != len(names):
                    raise ValueError("order_params must name every grouped parameter")
                perm = [names.index(n) for n in order]
                names, arrays, lrs, wds, gcs, flags = (
                    [x[i] for i in perm] for x in (names, arrays, lrs, wds, gcs, flags))
        if mode == "mindspore" and rule == "ftrl" and not self.grouped:
            flags = [True] * len(names)  # FTRL: every ungrouped parameter decays
        self.names = names
        self.params = [np.array(a, dtype=self.dtype, copy=True) for a in arrays]
        self.lrs, self.wds, self.gcs, self.decay_flags = lrs, wds, gcs, flags
        init_hyper = dict(merged)
        self.states = []
        for name, p, lr in zip(names, self.params, lrs):
            init_hyper["learning_rate"] = lr
            self.states.append(init_states(rule, p, **init_hyper))
        self.global_step = 0
        self._prev_lr = [None] * len(names)

    # ---- accessors
    def param(self, name):
        return self.params[self.names.index(name)]

    def state(self, name):
        return self.states[self.names.index(name)]

    def get_lr(self):
        """The learning rate of the current (next) step: a float, or a tuple
        (one per parameter) when a group sets its own lr."""
        vals = tuple(lr_at(lr, self.global_step) for lr in self.lrs)
        return vals if self.group_lr else vals[0]

    # ---- one step
    def _rule_kwargs(self):
        h = {k: v for k, v in self.hyper.items() if k not in _INIT_ONLY.get(self.rule, ())}
        return h

    def step(self, grads):
        """One optimizer step.

        mindspore mode, per MindSpore class:
          * default (Momentum, Adam, Adagrad, RMSProp, FTRL, ProximalAdagrad,
            AdaMax, Adadelta, ASGD, Rprop, LazyAdam): g + (wd*loss_scale)*p
            where the decay flag is set -> centralization (grouped, per
            flag) -> g * (1/loss_scale) -> (sparse: merge duplicate rows) ->
            lr at global_step -> global_step += 1 -> update with t =
            global_step;
          * SGD: no decay_weight; the kernel adds wd*p (the optimizer-level
            wd, every parameter, no name filter) after scale_grad;
          * FTRL ungrouped: every parameter decays (no name filter);
          * AdamWeightDecay: no centralization, no scale_grad; decay in the
            rule where the flag is set;
          * Lamb: centralization, no scale_grad; decay in the rule;
          * AdaFactor: no centralization, no scale_grad; the optimizer-level
            wd in the rule for every parameter (no name filter, no group
            wd);
          * LARS (around Momentum): scale_grad -> LARS gradient (wd where the
            flag is set, only for lars_filter parameters; others pass
            unchanged, without decay) -> centralization -> lr -> Momentum.
        uniform mode: decay_weight -> centralization -> scale_grad -> lr ->
        global_step += 1 -> update for every rule; AdamWeightDecay, Lamb and
        LARS get wd (where flagged) inside the rule and LARS applies to all
        (Lion and Adan get it there in both modes, AdaFactor in this one).
        """
        if isinstance(grads, dict):
            grads = [grads[n] for n in self.names]
        grads = list(grads)
        if len(grads) != len(self.names):
            raise ValueError("expected %d gradients" % len(self.names))
        rule, mode, ls = self.rule, self.mode, self.loss_scale
        ms = mode == "mindspore"
        step_lrs = [lr_at(lr, self.global_step) for lr in self.lrs]
        self.global_step += 1
        t = self.global_step
        fn = adam if rule == "lazy_adam" else RULES[rule]  # dense LazyAdam = Adam
        base = self._rule_kwargs()
        if rule == "lamb" and "variant" not in base:
            base["variant"] = "mindspore"  # the compiled op follows MindSpore
        for i, (name, p, st, g) in enumerate(zip(self.names, self.params, self.states, grads)):
            lr = step_lrs[i]
            wd, flag, gc = self.wds[i], self.decay_flags[i], self.gcs[i]
            kw = dict(base)
            kw["learning_rate"] = lr
            if isinstance(g, tuple):
                if rule != "lazy_adam":
                    raise ValueError("sparse gradients are only supported for lazy_adam")
                idx, vals = g
                vals = np.asarray(vals, dtype=self.dtype)
                if flag and wd > 0.0:
                    vals = decay_weight_sparse(idx, vals, p, wd * ls)
                if gc and centralization_applies(p.shape):
                    vals = centralize(vals)
                vals = scale_grad(vals, ls)
                idx, vals = unique_rows(idx, vals)
                new_p, new_st = lazy_adam(p, idx, vals, st, t=t, **kw)
                self.params[i], self.states[i] = new_p, new_st
                continue
            g = np.asarray(g, dtype=self.dtype)
            decay_in_rule = rule in _DECAY_IN_RULE
            if ms and rule == "sgd":
                g = centralize(g) if gc else g
                g = scale_grad(g, ls)
                kw["weight_decay"] = self.weight_decay
            elif ms and rule == "adam_weight_decay":
                kw["weight_decay"] = wd if flag else 0.0
            elif ms and rule == "lamb":
                g = centralize(g) if gc else g
                kw["weight_decay"] = wd if flag else 0.0
            elif ms and rule == "adafactor":
                kw["weight_decay"] = self.weight_decay
            elif ms and rule == "lars":
                g = scale_grad(g, ls)
                if self.lars_filter(name):
                    g = lars_gradient(p, g, epsilon=kw["epsilon"], coefficient=kw["coefficient"],
                                      weight_decay=wd if flag else 0.0,
                                      use_clip=kw.get("use_clip", False), learning_rate=lr)
                g = centralize(g) if gc else g
                new_p, new_st = momentum(p, g, st, learning_rate=lr, momentum=kw["momentum"],
                                         use_nesterov=kw.get("use_nesterov", False))
                self.params[i], self.states[i] = new_p, new_st
                continue
            else:
                if not decay_in_rule and flag and wd > 0.0:
                    g = decay_weight(g, p, wd * ls)
                g = centralize(g) if gc else g
                g = scale_grad(g, ls)
                if decay_in_rule:
                    kw["weight_decay"] = wd if flag else 0.0
            if rule in _USES_T:
                kw["t"] = t
            if rule == "asgd" and ms:
                kw["prev_learning_rate"] = self._prev_lr[i]
            if rule == "lars":  # uniform mode
                kw.pop("lars_filter", None)
            new_p, new_st = fn(p, g, st, **kw)
            self.params[i] = np.asarray(new_p, dtype=self.dtype)
            self.states[i] = {k: np.asarray(v, dtype=self.dtype) for k, v in new_st.items()}
            self._prev_lr[i] = lr
        return True
