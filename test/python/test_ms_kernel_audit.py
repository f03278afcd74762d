"""``optim_mlir.nn`` against float64 transcriptions of MindSpore's CPU kernels.

What a MindSpore user gets from ``nn.<Optimizer>`` on the CPU is what the
kernel that class runs computes, whatever the op's docstring says.  Each
function below named after a kernel file transcribes one of those kernels
(mindspore-ai/mindspore ``mindspore/ccsrc/plugin/device/cpu/kernel/*.cc``,
``nnacl/fp32/*.c``) or, where the class composes ops in Python
(``nn/optim/lamb.py``, ``lars.py``, ``asgd.py``, ``rprop.py``), that
composition: same order of operations, same place for ``eps``, same special
cases, evaluated in float64 on the float32 values MindSpore holds
(parameters, states, and every hyper-parameter rounded to float32 as its
Tensors and Parameters hold them; ``beta1_power`` / ``beta2_power`` as the
float32 products MindSpore's Parameters accumulate).

Tolerances (float32 has a unit roundoff of 6e-8): one step agrees within
``rtol = 2e-6`` plus ``atol = 2e-7 * max|expected|`` (a handful of float32
roundings of each operand); several steps within ``rtol = 2e-5``, ``atol =
2e-6 * max|expected|`` (rounding that accumulates through the states).  A
difference in the formula (a missing term, eps in another place) is orders
of magnitude above these.

Tests named ``*_kernel_difference`` pin the places where ``optim_mlir.nn``
computes something else, on purpose (docs/Python-nn.md, "Where MindSpore's
CPU kernels differ"): the CPU kernel contradicts MindSpore's own docstring
and its GPU kernel (Momentum's nesterov, FTRL's sign of l1, RMSProp's AVX
block, Adagrad's 1e-6), or the difference needs state the compiled step
does not keep (Lamb's undecayed trust ratio, ASGD's lagging learning
rate). Each asserts that the kernel's result is NOT reached, beyond the
tolerances, so that the test fails, and the docs get updated, the day the
behaviour changes. Their comments name the kernel lines and the size of the
difference.  (Transcriptions are named after the kernel file and function;
``*_py_composition`` after the Python file.)
"""

import math

import numpy as np
import pytest

from optim_mlir import nn


ONE_STEP = dict(rtol=2e-6, atol_scale=2e-7)
MANY_STEPS = dict(rtol=2e-5, atol_scale=2e-6)


def f32(x):
    """A hyper-parameter as MindSpore's float32 Tensor holds it."""
    return float(np.float32(x))


def _close(got, want, rtol, atol_scale, what=""):
    got = np.asarray(got, np.float64)
    want = np.asarray(want, np.float64)
    assert np.all(np.isfinite(got) == np.isfinite(want)), (
        "%s: finite in one and not the other:\n got %r\nwant %r" % (what, got, want))
    fin = np.isfinite(want)
    if not fin.any():
        return
    scale = float(np.max(np.abs(want[fin]))) if fin.any() else 0.0
    np.testing.assert_allclose(got[fin], want[fin], rtol=rtol,
                               atol=atol_scale * max(scale, 1e-30),
                               err_msg=what)


def _rand(rng, shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def _param(x, name="w"):
    return nn.Parameter(np.array(x, np.float32), name)


def _f32_powers(beta, steps):
    """``beta^t`` as MindSpore's float32 ``beta_power`` Parameter holds it:
    ``beta_power = beta_power * beta`` in float32 every step."""
    out, p = [], np.float32(1.0)
    b = np.float32(beta)
    for _ in range(steps):
        p = np.float32(p * b)
        out.append(float(p))
    return out


# ===========================================================================
# Kernel transcriptions (float64 arithmetic, kernel order)
# ===========================================================================

def sgd_cpu_kernel(param, grad, accum, stat, lr, momentum, dampening, nesterov):
    """``sgd_cpu_kernel.cc`` ``SGDCpuKernelMod::LaunchKernel`` (weight decay
    attribute 0, as ``nn.SGD`` decays in ``decay_weight``): only when
    ``momentum > 0``: ``stat > 0`` (first step; ``stat`` starts at 1) ->
    ``accum = g``, ``stat = 0``; else ``accum = accum * momentum + (1 -
    dampening) * g``; ``g += accum * momentum`` (nesterov) or ``g = accum``;
    ``param -= lr * g``."""
    g = grad.copy()
    if momentum > 0:
        accum = np.where(stat > 0, g, accum * momentum + (1.0 - dampening) * g)
        stat = np.zeros_like(stat)
        g = g + accum * momentum if nesterov else accum
    return param - lr * g, accum, stat


def apply_momentum_cpu_kernel(var, accum, lr, grad, momentum):
    """``apply_momentum_cpu_kernel.cc`` ``LaunchApplyMomentum``:
    ``accum = accum * moment + grad; weight -= accum * lr``.  The kernel
    never reads ``use_nesterov``: ``P.ApplyMomentum(use_nesterov=True)``
    steps as plain momentum on the CPU (MindSpore Lite's training kernel
    has the nesterov branch; the ccsrc CPU kernel does not)."""
    accum = accum * momentum + grad
    return var - accum * lr, accum


def adam_fp32(var, m, v, lr, beta1, beta2, eps, grad, beta1_power,
              beta2_power, use_nesterov):
    """``adam_cpu_kernel.cc`` ``LaunchAdamNnacl`` + ``nnacl/fp32/adam_fp32.c``
    ``AdamFp32``: ``new_lr = lr * sqrt(1 - beta2_power) / (1 -
    beta1_power)`` (float32 scalars); ``m += (g - m) * (1 - beta1)``; ``v +=
    (g * g - v) * (1 - beta2)``; ``var -= new_lr * m / (sqrt(v) + eps)``, or
    with nesterov ``var -= new_lr * (m * beta1 + (1 - beta1) * g) / (sqrt(v)
    + eps)``.  eps outside the square root of the UNcorrected ``v``."""
    new_lr = lr * math.sqrt(1.0 - beta2_power) / (1.0 - beta1_power)
    m = m + (grad - m) * (1.0 - beta1)
    v = v + (grad * grad - v) * (1.0 - beta2)
    num = m * beta1 + (1.0 - beta1) * grad if use_nesterov else m
    return var - new_lr * num / (np.sqrt(v) + eps), m, v


def apply_adam_with_amsgrad_cpu_kernel(var, m, v, vhat, lr, beta1, beta2, eps,
                                       grad, beta1_power, beta2_power):
    """``apply_adam_with_amsgrad_cpu_kernel.cc``
    ``LaunchApplyAdamWithAmsgrad``: Adam's moments, ``vhat = max(vhat,
    v)``, ``var -= new_lr * m / (sqrt(vhat) + eps)``; no nesterov."""
    new_lr = lr * math.sqrt(1.0 - beta2_power) / (1.0 - beta1_power)
    m = m + (grad - m) * (1.0 - beta1)
    v = v + (grad * grad - v) * (1.0 - beta2)
    vhat = np.maximum(vhat, v)
    return var - new_lr * m / (np.sqrt(vhat) + eps), m, v, vhat


def adam_weight_decay_fp32(var, m, v, lr, beta1, beta2, eps, decay, grad):
    """``adam_weight_decay_cpu_kernel.cc`` + ``adam_fp32.c``
    ``AdamWeightDecayFp32``: no bias correction; ``m += (g - m) * (1 -
    beta1)``, ``v += (g * g - v) * (1 - beta2)``, ``var -= lr * (m /
    (sqrt(v) + eps) + decay * var)``.  ``nn.AdamWeightDecay`` passes
    ``decay = 0`` for parameters its filter does not decay."""
    m = m + (grad - m) * (1.0 - beta1)
    v = v + (grad * grad - v) * (1.0 - beta2)
    return var - lr * (m / (np.sqrt(v) + eps) + decay * var), m, v


def lamb_py_composition(param, m, v, grad, lr, beta1, beta2, eps, weight_decay,
                        decay_flag, t):
    """``nn/optim/lamb.py`` ``_update_run_op`` (the CPU path, composed of
    ops): bias-corrected ``mm = m / (1 - beta1^t)``, ``vv = v / (1 -
    beta2^t)``; ``w_norm = |param|``, ``g_norm = |grad|``; ``g_norm_hat =
    |mm * rsqrt(vv + eps) + weight_decay * param|`` (eps INSIDE the root
    here, and ``weight_decay`` the optimizer's value whatever
    ``decay_flag``); ``ratio = g_norm_hat``-based trust ratio when
    ``w_norm > 0`` and ``g_norm > 0``, else 1, clipped to ``[0, 10]``;
    ``update = mm / (sqrt(vv) + eps)`` (+ ``weight_decay * param`` only
    with ``decay_flag``); ``param -= ratio * lr * update``."""
    m = beta1 * m + (1.0 - beta1) * grad
    v = beta2 * v + (1.0 - beta2) * grad * grad
    mm = m / (1.0 - beta1 ** t)
    vv = v / (1.0 - beta2 ** t)
    w_norm = math.sqrt(float(np.sum(param * param)))
    g_norm = math.sqrt(float(np.sum(grad * grad)))
    hat = mm / np.sqrt(vv + eps) + weight_decay * param
    g_norm_hat = math.sqrt(float(np.sum(hat * hat)))
    ratio = w_norm / g_norm_hat if (w_norm > 0 and g_norm > 0) else 1.0
    ratio = min(max(ratio, 0.0), 10.0)
    update = mm / (np.sqrt(vv) + eps)
    if decay_flag:
        update = update + weight_decay * param
    return param - ratio * lr * update, m, v


def lars_py_composition(weight, grad, weight_decay, epsilon, coefficient):
    """``nn/optim/lars.py`` ``_tensor_run_opt``: ``SquareSumAll`` of weight
    and gradient, then ``P.LARSUpdate`` (no ccsrc CPU kernel file was found
    for it; the op's definition): ``w_norm = sqrt(sum w^2)``, ``g_norm =
    sqrt(sum g^2)``; ``coeff = coefficient * w_norm / (g_norm + weight_decay
    * w_norm + epsilon)`` when both norms are positive, else 1; returns
    ``coeff * (g + weight_decay * w)``, which goes to ``ApplyMomentum``."""
    w_norm = math.sqrt(float(np.sum(weight * weight)))
    g_norm = math.sqrt(float(np.sum(grad * grad)))
    coeff = 1.0
    if w_norm > 0 and g_norm > 0:
        coeff = coefficient * w_norm / (g_norm + weight_decay * w_norm + epsilon)
    return coeff * (grad + weight_decay * weight)


def apply_adagrad_cpu_kernel(var, accum, lr, grad, update_slots):
    """``apply_adagrad_cpu_kernel.cc`` ``LaunchApplyAdagrad``: ``accum +=
    g * g`` (with ``update_slots``); ``var -= lr * g * (1 / sqrt(accum +
    1e-6))`` -- a fixed ``eps = 1e-6`` inside the root, which neither the
    docstring nor the GPU kernel has."""
    if update_slots:
        accum = accum + grad * grad
    eps = float(np.float32(1e-6))
    return var - lr * grad * (1.0 / np.sqrt(accum + eps)), accum


def rmsprop_fp32_unuse_center(var, ms, mom, grad, momentum, lr, decay, eps):
    """``nnacl/fp32/rmsprop_fp32.c`` ``RMSPropUnuseCenterFp32``, scalar
    loop: ``ms += (g * g - ms) * (1 - decay)``; ``mom = mom * momentum + g
    * lr / sqrt(ms + eps)``; ``var -= mom``."""
    ms = ms + (grad * grad - ms) * (1.0 - decay)
    mom = mom * momentum + (grad * lr) / np.sqrt(ms + eps)
    return var - mom, ms, mom


def rmsprop_fp32_unuse_center_avx(var, ms, mom, grad, momentum, lr, decay, eps):
    """The same function's AVX loop (blocks of 8 elements from the start of
    each thread's range, on builds with ``ENABLE_AVX``): the denominator is
    ``sqrt(ms) + eps`` (``_mm256_add_ps(_mm256_sqrt_ps(ms), eps)``), not
    ``sqrt(ms + eps)``."""
    ms = ms + (grad * grad - ms) * (1.0 - decay)
    mom = mom * momentum + (grad * lr) / (np.sqrt(ms) + eps)
    return var - mom, ms, mom


def rmsprop_cpu_kernel_use_center(var, mg, ms, mom, grad, lr, decay, momentum,
                                  eps):
    """``rmsprop_cpu_kernel.cc`` ``LaunchRMSPropUseCenter``: ``ms += (g * g
    - ms) * (1 - decay)``; ``mg += (g - mg) * (1 - decay)``; ``denom = (ms -
    mg * mg) + eps``; only where ``denom > 0``: ``mom = mom * momentum + g *
    lr / sqrt(denom)``, ``var -= mom`` (elsewhere both stay)."""
    ms = ms + (grad * grad - ms) * (1.0 - decay)
    mg = mg + (grad - mg) * (1.0 - decay)
    denom = (ms - mg * mg) + eps
    ok = denom > 0
    safe = np.where(ok, denom, 1.0)
    new_mom = mom * momentum + (grad * lr) / np.sqrt(safe)
    mom = np.where(ok, new_mom, mom)
    var = np.where(ok, var - mom, var)
    return var, mg, ms, mom


def apply_ftrl_cpu_kernel(var, accum, linear, grad, lr, l1, l2, lr_power):
    """``apply_ftrl_cpu_kernel.cc`` ``LaunchApplyFtrl``: ``cur = accum + g *
    g``; ``linear += g - (cur^-lr_power - accum^-lr_power) / lr * var``;
    where ``|linear| > l1``: ``var = (s - linear) / (cur^-lr_power / lr + 2
    * l2)`` with ``s = linear ? l1 : -l1`` -- a TRUTH test of ``linear``,
    not its sign, so ``s = +l1`` for every element there (``|linear| > l1
    >= 0`` makes ``linear`` non-zero); elsewhere ``var = 0``; ``accum =
    cur``."""
    p = -lr_power
    cur = accum + grad * grad
    linear = linear + grad - (cur ** p - accum ** p) / lr * var
    s = np.where(linear != 0, l1, -l1)
    var = np.where(np.abs(linear) > l1,
                   (s - linear) / (cur ** p / lr + 2.0 * l2), 0.0)
    return var, cur, linear


def apply_proximal_adagrad_fp32(var, accum, lr, l1, l2, grad):
    """``nnacl/fp32_grad/apply_proximal_adagrad_fp32.c``
    ``ApplyProximalAdagradOpt``: ``accum += g * g``; ``lr_t = lr /
    sqrt(accum)``; ``v = var - g * lr_t``; ``l1 > 0``: ``var = sign(v) *
    max(|v| - lr_t * l1, 0) / (1 + l2 * lr_t)``, else ``var = v / (1 + l2 *
    lr_t)``.  (The op's docstring has ``lr`` where the kernel has
    ``lr_t``.)"""
    accum = accum + grad * grad
    lr_t = lr / np.sqrt(accum)
    v = var - grad * lr_t
    if l1 > 0:
        var = np.sign(v) * np.maximum(np.abs(v) - lr_t * l1, 0.0) / (1.0 + l2 * lr_t)
    else:
        var = v / (1.0 + l2 * lr_t)
    return var, accum


def apply_ada_max_cpu_kernel(var, m, v, beta1_power, lr, beta1, beta2, eps,
                             grad):
    """``apply_ada_max_cpu_kernel.cc`` ``LaunchKernel``: ``m = beta1 * m +
    (1 - beta1) * g``; ``v = max(beta2 * v, |g|)``; ``var -= (lr / (1 -
    beta1_power)) * (m / (v + eps))``."""
    m = beta1 * m + (1.0 - beta1) * grad
    v = np.maximum(beta2 * v, np.abs(grad))
    return var - (lr / (1.0 - beta1_power)) * (m / (v + eps)), m, v


def apply_adadelta_cpu_kernel(var, accum, accum_update, lr, rho, eps, grad):
    """``apply_adadelta_cpu_kernel.cc`` ``Launch``: ``accum = rho * accum +
    (1 - rho) * g * g``; ``u = sqrt(accum_update + eps) * (g / sqrt(accum +
    eps))``; ``accum_update = rho * accum_update + (1 - rho) * u * u``;
    ``var -= lr * u``."""
    accum = rho * accum + (1.0 - rho) * (grad * grad)
    u = np.sqrt(accum_update + eps) * (grad / np.sqrt(accum + eps))
    accum_update = rho * accum_update + (1.0 - rho) * (u * u)
    return var - lr * u, accum, accum_update


class AsgdPyComposition:
    """``nn/optim/asgd.py`` ``construct``: per parameter float32 ``eta``
    (starts 0) and ``mu`` (starts 1).  At step ``t`` (the incremented
    global step) with the step's ``lr``: ``t == 1`` -> ``eta = lr``;
    ``param = param * (1 - lambd * eta) - eta * g``; ``mu != 1`` -> ``ax +=
    (param - ax) * mu``, else ``ax = param``; THEN ``eta = lr / (1 + lambd *
    lr * t)^alpha`` and ``mu = 1 / max(1, t - t0)`` for the next step.  So
    step ``t > 1`` uses ``eta`` computed from step ``t - 1``'s learning
    rate."""

    def __init__(self, lambd, alpha, t0):
        self.lambd, self.alpha, self.t0 = f32(lambd), f32(alpha), f32(t0)
        self.eta, self.mu = 0.0, 1.0

    def step(self, param, ax, grad, lr, t):
        if t == 1:
            self.eta = lr
        param = param * (1.0 - self.lambd * self.eta) - self.eta * grad
        ax = ax + (param - ax) * self.mu if self.mu != 1 else param.copy()
        self.eta = f32(lr / (1.0 + self.lambd * lr * t) ** self.alpha)
        self.mu = f32(1.0 / max(1.0, t - self.t0))
        return param, ax


def rprop_py_composition(param, prev, step_size, grad, lr, etaminus, etaplus,
                         min_step, max_step, t):
    """``nn/optim/rprop.py`` ``construct``: ``t == 1`` -> ``step_size =
    lr``; ``s = sign(g * prev)``; factor ``etaplus`` where ``s > 0``,
    ``etaminus`` where ``s < 0``, 1 where ``s == 0``; ``step_size =
    clip(step_size * factor, min, max)``; ``g' = 0`` where the factor is
    ``etaminus``, else ``g``; ``param -= sign(g') * step_size``; ``prev =
    g'``."""
    if t == 1:
        step_size = np.full_like(param, lr)
    s = np.sign(grad * prev)
    factor = np.where(s > 0, etaplus, np.where(s < 0, etaminus, 1.0))
    step_size = np.clip(step_size * factor, min_step, max_step)
    g2 = np.where(factor == etaminus, 0.0, grad)
    return param - np.sign(g2) * step_size, g2, step_size


def sparse_apply_lazy_adam_cpu_kernel(var, m, v, indices, values, lr, beta1,
                                      beta2, eps, beta1_power, beta2_power,
                                      use_nesterov):
    """``sparse_apply_lazy_adam_cpu_kernel.cc`` (``FusedSparseLazyAdam``):
    duplicate indices summed (``BucketReduceSparseGradient``); ``lr = lr *
    sqrt(1 - beta2_power) / (1 - beta1_power)``; for each named row: ``m =
    beta1 * m + (1 - beta1) * g``, ``v = beta2 * v + (1 - beta2) * g * g``,
    ``var -= lr * m / (sqrt(v) + eps)`` (nesterov: ``m * beta1 + (1 -
    beta1) * g`` in the numerator); other rows untouched."""
    var, m, v = var.copy(), m.copy(), v.copy()
    rows = {}
    for i, r in enumerate(indices):
        rows[int(r)] = rows.get(int(r), 0.0) + values[i]
    new_lr = lr * math.sqrt(1.0 - beta2_power) / (1.0 - beta1_power)
    for r, g in rows.items():
        m[r] = beta1 * m[r] + (1.0 - beta1) * g
        v[r] = beta2 * v[r] + (1.0 - beta2) * g * g
        num = m[r] * beta1 + (1.0 - beta1) * g if use_nesterov else m[r]
        var[r] = var[r] - new_lr * num / (np.sqrt(v[r]) + eps)
    return var, m, v


# ===========================================================================
# Helpers
# ===========================================================================

def _f64(x):
    return np.asarray(x, np.float64)


def _data(seed, shape=(4, 9), scale=1.0):
    rng = np.random.default_rng(seed)
    return rng, _rand(rng, shape, scale)


# ===========================================================================
# SGD
# ===========================================================================

@pytest.mark.parametrize("momentum,dampening,nesterov", [
    (0.0, 0.0, False), (0.9, 0.0, False), (0.9, 0.1, False), (0.8, 0.0, True)])
def test_sgd(momentum, dampening, nesterov):
    rng, w0 = _data(1)
    lr = 0.05
    p = _param(w0)
    opt = nn.SGD([p], learning_rate=lr, momentum=momentum, dampening=dampening,
                 nesterov=nesterov)
    var, accum, stat = _f64(w0), np.zeros(w0.shape), np.ones(w0.shape)
    for step in range(8):
        g = _rand(rng, w0.shape)
        opt((g,))
        var, accum, stat = sgd_cpu_kernel(var, _f64(g), accum, stat, f32(lr),
                                          f32(momentum), f32(dampening), nesterov)
        tol = ONE_STEP if step == 0 else MANY_STEPS
        _close(p.asnumpy(), var, what="param step %d" % step, **tol)
        _close(opt.accum[0].asnumpy(), accum, what="accum", **tol)


def test_sgd_zero_gradient_and_zero_param():
    # Zero parameters and gradients: nothing moves; a zero gradient after
    # momentum keeps stepping by the decayed accum.
    p = _param(np.zeros((3, 5)))
    opt = nn.SGD([p], learning_rate=0.1, momentum=0.9)
    var, accum, stat = np.zeros((3, 5)), np.zeros((3, 5)), np.ones((3, 5))
    grads = [np.zeros((3, 5), np.float32), np.full((3, 5), 2.0, np.float32),
             np.zeros((3, 5), np.float32)]
    for g in grads:
        opt((g,))
        var, accum, stat = sgd_cpu_kernel(var, _f64(g), accum, stat, f32(0.1),
                                          f32(0.9), 0.0, False)
        _close(p.asnumpy(), var, **ONE_STEP)


# ===========================================================================
# Momentum
# ===========================================================================

def test_momentum():
    rng, w0 = _data(2)
    p = _param(w0)
    opt = nn.Momentum([p], learning_rate=0.01, momentum=0.9)
    var, acc = _f64(w0), np.zeros(w0.shape)
    for step in range(10):
        g = _rand(rng, w0.shape)
        opt((g,))
        var, acc = apply_momentum_cpu_kernel(var, acc, f32(0.01), _f64(g), f32(0.9))
        tol = ONE_STEP if step == 0 else MANY_STEPS
        _close(p.asnumpy(), var, what="param", **tol)
        _close(opt.moments[0].asnumpy(), acc, what="moments", **tol)


def test_momentum_nesterov_kernel_difference():
    # apply_momentum_cpu_kernel.cc: LaunchApplyMomentum has no nesterov
    # branch (the attribute is never read), so MindSpore's CPU
    # nn.Momentum(use_nesterov=True) steps as plain momentum.
    # optim_mlir.nn follows the op's docstring:
    # param -= lr * (grad + momentum * moments).
    rng, w0 = _data(3)
    p = _param(w0)
    opt = nn.Momentum([p], learning_rate=0.01, momentum=0.9, use_nesterov=True)
    var, acc = _f64(w0), np.zeros(w0.shape)
    for _ in range(3):
        g = _rand(rng, w0.shape)
        opt((g,))
        var, acc = apply_momentum_cpu_kernel(var, acc, f32(0.01), _f64(g), f32(0.9))
    with pytest.raises(AssertionError):
        _close(opt.moments[0].asnumpy(), acc, what="moments", **MANY_STEPS)
        _close(p.asnumpy(), var, what="param", **MANY_STEPS)


# ===========================================================================
# Adam (P.Adam, P.ApplyAdamWithAmsgrad)
# ===========================================================================

@pytest.mark.parametrize("use_nesterov", [False, True])


def test_adam(use_nesterov):
    rng, w0 = _data(4, (5, 13))
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    p = _param(w0)
    opt = nn.Adam([p], learning_rate=lr, beta1=b1, beta2=b2, eps=eps,
                  use_nesterov=use_nesterov)
    steps = 12
    p1, p2 = _f32_powers(b1, steps), _f32_powers(b2, steps)
    var, m, v = _f64(w0), np.zeros(w0.shape), np.zeros(w0.shape)
    for t in range(steps):
        g = _rand(rng, w0.shape)
        opt((g,))
        var, m, v = adam_fp32(var, m, v, f32(lr), f32(b1), f32(b2), f32(eps),
                              _f64(g), p1[t], p2[t], use_nesterov)
        tol = ONE_STEP if t == 0 else MANY_STEPS
        _close(p.asnumpy(), var, what="param t=%d" % (t + 1), **tol)
        _close(opt.moment1[0].asnumpy(), m, what="m", **tol)
        _close(opt.moment2[0].asnumpy(), v, what="v", **tol)


def test_adam_amsgrad():
    rng, w0 = _data(5, (3, 17))
    lr, b1, b2, eps = 0.01, 0.8, 0.99, 1e-6
    p = _param(w0)
    opt = nn.Adam([p], learning_rate=lr, beta1=b1, beta2=b2, eps=eps,
                  use_amsgrad=True)
    steps = 10
    p1, p2 = _f32_powers(b1, steps), _f32_powers(b2, steps)
    var, m, v, vh = (_f64(w0), np.zeros(w0.shape), np.zeros(w0.shape),
                     np.zeros(w0.shape))
    for t in range(steps):
        # Large then small gradients, so that vhat > v somewhere.
        g = _rand(rng, w0.shape, 3.0 if t < 3 else 0.1)
        opt((g,))
        var, m, v, vh = apply_adam_with_amsgrad_cpu_kernel(
            var, m, v, vh, f32(lr), f32(b1), f32(b2), f32(eps), _f64(g),
            p1[t], p2[t])
        tol = ONE_STEP if t == 0 else MANY_STEPS
        _close(p.asnumpy(), var, what="param", **tol)
        _close(opt.vhat[0].asnumpy(), vh, what="vhat", **tol)
    assert np.any(vh > v)


def test_adam_edge_values():
    # Zero gradient on zero moments (0 / (0 + eps) = 0), zero parameters,
    # and gradients of 1e18 (g * g = 1e36, still finite in float32).
    w0 = np.zeros((2, 8), np.float32)
    w0[1] = 3.0
    g = np.zeros((2, 8), np.float32)
    g[1, :4] = 1e18
    g[1, 4:] = -1e-20
    p = _param(w0)
    opt = nn.Adam([p], learning_rate=0.001)
    p1, p2 = _f32_powers(0.9, 3), _f32_powers(0.999, 3)
    var, m, v = _f64(w0), np.zeros(w0.shape), np.zeros(w0.shape)
    for t in range(3):
        opt((g,))
        var, m, v = adam_fp32(var, m, v, f32(0.001), f32(0.9), f32(0.999),
                              f32(1e-8), _f64(g), p1[t], p2[t], False)
        _close(p.asnumpy(), var, what="param", **MANY_STEPS)
        _close(opt.moment2[0].asnumpy(), v, what="v", **MANY_STEPS)
    assert np.all(p.asnumpy()[0] == 0.0)


def test_adam_eps_placement():
    # Gradients of the size of eps, parameters at zero: where eps goes
    # (outside the root of the uncorrected v, with the correction folded
    # into new_lr) changes the result by O(1) relative here, unlike with
    # gradients of order 1.
    rng = np.random.default_rng(27)
    eps = 1e-7
    p = _param(np.zeros((3, 8)))
    opt = nn.Adam([p], learning_rate=0.01, eps=eps)
    p1, p2 = _f32_powers(0.9, 5), _f32_powers(0.999, 5)
    var, m, v = np.zeros((3, 8)), np.zeros((3, 8)), np.zeros((3, 8))
    for t in range(5):
        g = _rand(rng, (3, 8), 1e-7)
        opt((g,))
        var, m, v = adam_fp32(var, m, v, f32(0.01), f32(0.9), f32(0.999),
                              f32(eps), _f64(g), p1[t], p2[t], False)
        _close(p.asnumpy(), var, what="param t=%d" % (t + 1), **MANY_STEPS)


# ===========================================================================
# AdamWeightDecay
# ===========================================================================

def test_adam_weight_decay():
    rng, w0 = _data(6, (4, 11))
    _, b0 = _data(7, (11,))
    lr, wd = 0.01, 0.05
    w, b = _param(w0, "dense.weight"), _param(b0, "ln.beta")
    opt = nn.AdamWeightDecay([w, b], learning_rate=lr, weight_decay=wd)
    st = {"w": [_f64(w0), np.zeros(w0.shape), np.zeros(w0.shape)],
          "b": [_f64(b0), np.zeros(b0.shape), np.zeros(b0.shape)]}
    for step in range(10):
        gw, gb = _rand(rng, w0.shape), _rand(rng, b0.shape)
        opt((gw, gb))
        st["w"] = list(adam_weight_decay_fp32(*st["w"], f32(lr), f32(0.9),
                                              f32(0.999), f32(1e-6), f32(wd),
                                              _f64(gw)))
        # 'beta' in the name: nn.AdamWeightDecay passes decay 0.0.
        st["b"] = list(adam_weight_decay_fp32(*st["b"], f32(lr), f32(0.9),
                                              f32(0.999), f32(1e-6), 0.0,
                                              _f64(gb)))
        tol = ONE_STEP if step == 0 else MANY_STEPS
        _close(w.asnumpy(), st["w"][0], what="weight", **tol)
        _close(b.asnumpy(), st["b"][0], what="beta", **tol)
        _close(opt.moments2[0].asnumpy(), st["w"][2], what="v", **tol)


# ===========================================================================
# Lamb (lamb.py composition)
# ===========================================================================

def test_lamb():
    # nn.Lamb's docstring writes the trust ratio as |w| / |w + lambda w|;
    # the CPU composition (and optim_mlir.nn) takes |w| / |m_hat *
    # rsqrt(v_hat + eps) + weight_decay * w|, clipped to [0, 10].
    rng, w0 = _data(8, (6, 10))
    lr, wd = 0.02, 0.01
    p = _param(w0, "dense.weight")
    opt = nn.Lamb([p], learning_rate=lr, weight_decay=wd)
    var, m, v = _f64(w0), np.zeros(w0.shape), np.zeros(w0.shape)
    for t in range(1, 9):
        g = _rand(rng, w0.shape)
        opt((g,))
        var, m, v = lamb_py_composition(var, m, v, _f64(g), f32(lr), f32(0.9),
                                        f32(0.999), f32(1e-6), f32(wd), True, t)
        tol = ONE_STEP if t == 1 else MANY_STEPS
        _close(p.asnumpy(), var, what="param t=%d" % t, **tol)
        _close(opt.moments1[0].asnumpy(), m, what="m", **tol)


def test_lamb_zero_param_and_zero_grad():
    # w_norm == 0 or g_norm == 0: trust ratio 1.
    w0 = np.zeros((3, 4), np.float32)
    p = _param(w0, "w")
    q = _param(np.full((3, 4), 0.5, np.float32), "v")
    opt = nn.Lamb([p, q], learning_rate=0.1)
    g = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
    opt((g, np.zeros((3, 4), np.float32)))
    var, _, _ = lamb_py_composition(_f64(w0), np.zeros(w0.shape),
                                    np.zeros(w0.shape), _f64(g), f32(0.1),
                                    f32(0.9), f32(0.999), f32(1e-6), 0.0, False, 1)
    _close(p.asnumpy(), var, **ONE_STEP)
    np.testing.assert_array_equal(q.asnumpy(), np.full((3, 4), 0.5, np.float32))


def test_lamb_undecayed_param_trust_ratio_kernel_difference():
    # lamb.py _update_run_op: g_norm_hat = |mm * rsqrt(vv + eps) +
    # weight_decay * param| takes the optimizer's weight_decay for EVERY
    # parameter; decay_flag only gates the '+ weight_decay * param' of the
    # update.  A 'beta'/'gamma' parameter (not decayed) of an ungrouped
    # Lamb with weight_decay > 0 therefore has a smaller trust ratio in
    # MindSpore than with weight decay 0.
    rng, b0 = _data(9, (16,))
    b0 = b0 + 3.0
    wd = 0.5
    p = _param(b0, "ln.gamma")
    opt = nn.Lamb([p], learning_rate=0.05, weight_decay=wd)
    var, m, v = _f64(b0), np.zeros(b0.shape), np.zeros(b0.shape)
    for t in range(1, 4):
        g = _rand(rng, b0.shape)
        opt((g,))
        var, m, v = lamb_py_composition(var, m, v, _f64(g), f32(0.05), f32(0.9),
                                        f32(0.999), f32(1e-6), f32(wd), False, t)
    with pytest.raises(AssertionError):
        _close(p.asnumpy(), var, **MANY_STEPS)


# ===========================================================================
# LARS (lars.py composition around ApplyMomentum)
# ===========================================================================


def test_lars():
    rng, w0 = _data(10, (5, 8))
    _, b0 = _data(11, (8,))
    lr, mom, wd, eps, coef = 0.1, 0.9, 0.01, 1e-5, 0.02
    w, b = _param(w0, "conv.weight"), _param(b0, "conv.bias")
    base = nn.Momentum([w, b], learning_rate=lr, momentum=mom, weight_decay=wd)
    opt = nn.LARS(base, epsilon=eps, coefficient=coef)
    vw, aw = _f64(w0), np.zeros(w0.shape)
    vb, ab = _f64(b0), np.zeros(b0.shape)
    for step in range(6):
        gw = _rand(rng, w0.shape)
        gb = _rand(rng, b0.shape)
        if step == 2:
            gw[:] = 0.0  # g_norm == 0: coefficient 1, g' = wd * w
        opt((gw, gb))
        gw2 = lars_py_composition(vw, _f64(gw), f32(wd), f32(eps), f32(coef))
        vw, aw = apply_momentum_cpu_kernel(vw, aw, f32(lr), gw2, f32(mom))
        # 'bias': lars_filter False, and LARS set the Momentum's weight
        # decay to 0: plain momentum on the raw gradient.
        vb, ab = apply_momentum_cpu_kernel(vb, ab, f32(lr), _f64(gb), f32(mom))
        tol = ONE_STEP if step == 0 else MANY_STEPS
        _close(w.asnumpy(), vw, what="weight step %d" % step, **tol)
        _close(b.asnumpy(), vb, what="bias", **tol)


# ===========================================================================
# Adagrad
# ===========================================================================

def test_adagrad():
    # At the default accum = 0.1 the kernel's 1e-6 inside the root changes
    # the step by a relative 0.5e-6 / accum: below float32 resolution of
    # the parameters here.
    rng, w0 = _data(12)
    p = _param(w0)
    opt = nn.Adagrad([p], accum=0.1, learning_rate=0.01)
    var, acc = _f64(w0), np.full(w0.shape, f32(0.1))
    for step in range(10):
        g = _rand(rng, w0.shape)
        opt((g,))
        var, acc = apply_adagrad_cpu_kernel(var, acc, f32(0.01), _f64(g), True)
        tol = ONE_STEP if step == 0 else MANY_STEPS
        _close(p.asnumpy(), var, what="param", **tol)
        _close(opt.accum[0].asnumpy(), acc, what="accum", **tol)


def test_adagrad_small_accum_kernel_difference():
    # apply_adagrad_cpu_kernel.cc LaunchApplyAdagrad:
    #   var[i] -= lr[0] * gradient[i] * (one / sqrt(accum[i] + eps)), eps = 1e-6.
    # optim_mlir.nn divides by sqrt(accum) (the op's docstring, the GPU
    # kernel).  With accum = 0 and small gradients the two differ by a
    # factor sqrt(1 + 1e-6 / g^2); a zero gradient on a zero accum gives 0
    # in the kernel and 0 / 0 = NaN without the eps.
    w0 = np.ones((2, 4), np.float32)
    g = np.array([[1e-3, -1e-3, 1e-4, 0.0], [2e-3, 0.5, -1e-2, 0.0]], np.float32)
    p = _param(w0)
    opt = nn.Adagrad([p], accum=0.0, learning_rate=0.01)
    opt((g,))
    var, _ = apply_adagrad_cpu_kernel(_f64(w0), np.zeros(w0.shape), f32(0.01),
                                      _f64(g), True)
    with pytest.raises(AssertionError):
        _close(p.asnumpy(), var, **ONE_STEP)


# ===========================================================================
# RMSProp
# ===========================================================================

@pytest.mark.parametrize("momentum", [0.0, 0.5])


def test_rmsprop(momentum):
    # Shape (3, 7): 21 elements. The comparison is with the kernel's scalar
    # loop (and the op's docstring); see the AVX test below.
    rng, w0 = _data(13, (3, 7))
    lr, decay, eps = 0.01, 0.9, 1e-10
    p = _param(w0)
    opt = nn.RMSProp([p], learning_rate=lr, decay=decay, momentum=momentum,
                     epsilon=eps)
    var, ms, mom = _f64(w0), np.ones(w0.shape), np.zeros(w0.shape)
    for step in range(10):
        g = _rand(rng, w0.shape)
        opt((g,))
        var, ms, mom = rmsprop_fp32_unuse_center(var, ms, mom, _f64(g),
                                                 f32(momentum), f32(lr),
                                                 f32(decay), f32(eps))
        tol = ONE_STEP if step == 0 else MANY_STEPS
        _close(p.asnumpy(), var, what="param", **tol)
        _close(opt.mean_square[0].asnumpy(), ms, what="mean_square", **tol)
        _close(opt.moment[0].asnumpy(), mom, what="moment", **tol)


def test_rmsprop_avx_block_kernel_difference():
    # nnacl/fp32/rmsprop_fp32.c RMSPropUnuseCenterFp32: on ENABLE_AVX
    # builds each block of 8 elements takes
    #   avx_r1 = _mm256_add_ps(_mm256_sqrt_ps(mean_square_r), epsi_r)
    # i.e. g * lr / (sqrt(ms) + eps), while the scalar tail (and
    # optim_mlir.nn, and the docstring) take g * lr / sqrt(ms + eps).
    # Visible only where eps is not negligible next to ms: eps = 0.1 here.
    # A single-threaded 8-element tensor is all AVX blocks.
    rng, w0 = _data(14, (8,))
    lr, decay, eps = 0.01, 0.9, 0.1
    p = _param(w0)
    opt = nn.RMSProp([p], learning_rate=lr, decay=decay, epsilon=eps)
    var, ms, mom = _f64(w0), np.ones(w0.shape), np.zeros(w0.shape)
    for _ in range(3):
        g = _rand(rng, w0.shape)
        opt((g,))
        var, ms, mom = rmsprop_fp32_unuse_center_avx(var, ms, mom, _f64(g), 0.0,
                                                     f32(lr), f32(decay), f32(eps))
    with pytest.raises(AssertionError):
        _close(opt.moment[0].asnumpy(), mom, what="moment", **MANY_STEPS)


def test_rmsprop_centered():
    rng, w0 = _data(15, (4, 6))
    lr, decay, mom_c, eps = 0.01, 0.9, 0.3, 1e-6
    p = _param(w0)
    opt = nn.RMSProp([p], learning_rate=lr, decay=decay, momentum=mom_c,
                     epsilon=eps, centered=True)
    var, mg, ms, mom = (_f64(w0), np.zeros(w0.shape), np.ones(w0.shape),
                        np.zeros(w0.shape))
    for step in range(10):
        g = _rand(rng, w0.shape)
        opt((g,))
        var, mg, ms, mom = rmsprop_cpu_kernel_use_center(
            var, mg, ms, mom, _f64(g), f32(lr), f32(decay), f32(mom_c), f32(eps))
        tol = ONE_STEP if step == 0 else MANY_STEPS
        _close(p.asnumpy(), var, what="param", **tol)
        _close(opt.mean_grad[0].asnumpy(), mg, what="mean_grad", **tol)
        _close(opt.moment[0].asnumpy(), mom, what="moment", **tol)


def test_rmsprop_centered_nonpositive_denominator():
    # A special case of the kernel, not of the op's docstring;
    # optim_mlir.nn follows the kernel.
    # denom = ms - mg^2 + eps <= 0 where mean_grad was set large: the
    # kernel keeps moment and parameter there.
    w0 = np.linspace(-1, 1, 8, dtype=np.float32)
    p = _param(w0)
    opt = nn.RMSProp([p], learning_rate=0.1, momentum=0.5, centered=True,
                     epsilon=1e-6)
    mg0 = np.where(np.arange(8) % 2 == 0, 2.0, 0.1).astype(np.float32)
    mom0 = np.full(8, 0.25, np.float32)
    opt.mean_grad[0].set_data(mg0)
    opt.moment[0].set_data(mom0)
    g = np.zeros(8, np.float32)
    opt((g,))
    var, mg, ms, mom = rmsprop_cpu_kernel_use_center(
        _f64(w0), _f64(mg0), np.ones(8), _f64(mom0), _f64(g), f32(0.1),
        f32(0.9), f32(0.5), f32(1e-6))
    _close(p.asnumpy(), var, **ONE_STEP)
    _close(opt.moment[0].asnumpy(), mom, **ONE_STEP)
    assert np.all(p.asnumpy()[::2] == w0[::2])


# ===========================================================================
# FTRL
# ===========================================================================

def _ftrl_run(l1, l2, lr_power, seed, steps):
    rng, w0 = _data(seed, (4, 10), 0.5)
    lr = 0.05
    p = _param(w0)
    opt = nn.FTRL([p], initial_accum=0.1, learning_rate=lr, lr_power=lr_power,
                  l1=l1, l2=l2)
    var, acc, lin = _f64(w0), np.full(w0.shape, f32(0.1)), np.zeros(w0.shape)
    for _ in range(steps):
        g = _rand(rng, w0.shape)
        opt((g,))
        var, acc, lin = apply_ftrl_cpu_kernel(var, acc, lin, _f64(g), f32(lr),
                                              f32(l1), f32(l2), f32(lr_power))
    return p, opt, var, acc, lin


@pytest.mark.parametrize("l2,lr_power", [(0.0, -0.5), (0.1, -0.5), (0.0, -0.3)])
def test_ftrl_without_l1(l2, lr_power):
    # l1 = 0 (nn.FTRL's default): the kernel's sign slip cannot show.
    for steps in (1, 8):
        p, opt, var, acc, lin = _ftrl_run(0.0, l2, lr_power, 16, steps)
        tol = ONE_STEP if steps == 1 else MANY_STEPS
        _close(p.asnumpy(), var, what="param", **tol)
        _close(opt.moments[0].asnumpy(), acc, what="accum", **tol)
        _close(opt.linear[0].asnumpy(), lin, what="linear", **tol)


def test_ftrl_l1_kernel_difference():
    # apply_ftrl_cpu_kernel.cc LaunchApplyFtrl:
    #   auto sign_linear_mul_l1 = linear[i] ? l1[0] : -l1[0];
    # tests linear for non-zero, not for its sign: wherever |linear| > l1
    # the kernel uses +l1, so for linear < -l1 it computes
    # var = (l1 - linear) / d instead of (-l1 - linear) / d, a difference
    # of 2 * l1 / d (d = accum_new^-lr_power / lr + 2 * l2).
    # optim_mlir.nn uses sign(linear) * l1 (the op's docstring).
    p, opt, var, acc, lin = _ftrl_run(0.01, 0.0, -0.5, 17, 1)
    assert np.any(lin < -0.01) and np.any(lin > 0.01)
    with pytest.raises(AssertionError):
        _close(opt.linear[0].asnumpy(), lin, what="linear", **ONE_STEP)
        _close(p.asnumpy(), var, what="param", **ONE_STEP)


def test_ftrl_l1_positive_linear_agrees():
    # Where linear > l1 the kernel's +l1 is the sign's: those elements agree.
    p, opt, var, acc, lin = _ftrl_run(0.01, 0.05, -0.5, 18, 1)
    pos = lin > 0.01
    assert pos.any()
    _close(p.asnumpy()[pos], var[pos], **ONE_STEP)
    zero = np.abs(lin) <= 0.01
    assert np.all(p.asnumpy()[zero] == 0.0)


# ===========================================================================
# ProximalAdagrad
# ===========================================================================

@pytest.mark.parametrize("l1,l2", [(0.0, 0.0), (0.0, 0.2), (0.5, 0.0), (0.5, 0.1)])
def test_proximal_adagrad(l1, l2):
    # The kernel shrinks by lr_t * l1 and divides by 1 + l2 * lr_t with
    # lr_t = lr / sqrt(accum); the op's docstring writes lr there.
    # optim_mlir.nn follows the kernel.
    rng, w0 = _data(19, (5, 7), 0.3)
    lr = 0.1
    p = _param(w0)
    opt = nn.ProximalAdagrad([p], accum=0.1, learning_rate=lr, l1=l1, l2=l2)
    var, acc = _f64(w0), np.full(w0.shape, f32(0.1))
    for step in range(8):
        g = _rand(rng, w0.shape)
        opt((g,))
        var, acc = apply_proximal_adagrad_fp32(var, acc, f32(lr), f32(l1),
                                               f32(l2), _f64(g))
        tol = ONE_STEP if step == 0 else MANY_STEPS
        _close(p.asnumpy(), var, what="param", **tol)
        _close(opt.accum[0].asnumpy(), acc, what="accum", **tol)
    if l1 > 0:
        assert np.any(p.asnumpy() == 0.0)  # the shrink reached zero somewhere


def test_proximal_adagrad_zero_grad():
    # A zero gradient still shrinks (l1, l2) by lr / sqrt(accum).
    w0 = np.array([0.5, -0.5, 0.01, -0.01, 0.0], np.float32)
    p = _param(w0)
    opt = nn.ProximalAdagrad([p], accum=0.1, learning_rate=0.1, l1=0.1, l2=0.1)
    opt((np.zeros(5, np.float32),))
    var, _ = apply_proximal_adagrad_fp32(_f64(w0), np.full(5, f32(0.1)),
                                         f32(0.1), f32(0.1), f32(0.1), np.zeros(5))
    _close(p.asnumpy(), var, **ONE_STEP)


# ===========================================================================
# AdaMax
# ===========================================================================

def test_adamax():
    rng, w0 = _data(20, (6, 5))
    lr, b1, b2, eps = 0.002, 0.9, 0.999, 1e-8
    p = _param(w0)
    opt = nn.AdaMax([p], learning_rate=lr, beta1=b1, beta2=b2, eps=eps)
    steps = 10
    pw = _f32_powers(b1, steps)
    var, m, v = _f64(w0), np.zeros(w0.shape), np.zeros(w0.shape)
    for t in range(steps):
        g = _rand(rng, w0.shape)
        if t == 4:
            g[0] = 0.0  # v decays by beta2; m / (v + eps) stays finite
        opt((g,))
        var, m, v = apply_ada_max_cpu_kernel(var, m, v, pw[t], f32(lr), f32(b1),
                                             f32(b2), f32(eps), _f64(g))
        tol = ONE_STEP if t == 0 else MANY_STEPS
        _close(p.asnumpy(), var, what="param", **tol)
        _close(opt.moment2[0].asnumpy(), v, what="v", **tol)


def test_adamax_zero_gradient_first_step():
    # m = v = 0 after a zero gradient: m / (v + eps) = 0, nothing moves.
    w0 = np.array([1.0, -2.0, 0.0], np.float32)
    p = _param(w0)
    opt = nn.AdaMax([p], learning_rate=0.1)
    opt((np.zeros(3, np.float32),))
    np.testing.assert_array_equal(p.asnumpy(), w0)


# ===========================================================================
# Adadelta
# ===========================================================================

def test_adadelta():
    rng, w0 = _data(21, (3, 9))
    lr, rho, eps = 1.0, 0.9, 1e-6
    p = _param(w0)
    opt = nn.Adadelta([p], learning_rate=lr, rho=rho, epsilon=eps)
    var, acc, upd = _f64(w0), np.zeros(w0.shape), np.zeros(w0.shape)
    for step in range(10):
        g = _rand(rng, w0.shape)
        if step == 3:
            g[1] = 0.0
        opt((g,))
        var, acc, upd = apply_adadelta_cpu_kernel(var, acc, upd, f32(lr),
                                                  f32(rho), f32(eps), _f64(g))
        tol = ONE_STEP if step == 0 else MANY_STEPS
        _close(p.asnumpy(), var, what="param", **tol)
        _close(opt.accum[0].asnumpy(), acc, what="accum", **tol)
        _close(opt.accum_update[0].asnumpy(), upd, what="accum_update", **tol)


# ===========================================================================
# ASGD (asgd.py composition)
# ===========================================================================

def test_asgd_constant_lr():
    # t0 = 3: mu = 1 / (t - 1 - t0) < 1 from step 6 on.
    rng, w0 = _data(22, (4, 5))
    lr = 0.05
    p = _param(w0)
    opt = nn.ASGD([p], learning_rate=lr, lambd=0.01, alpha=0.75, t0=3.0)
    k = AsgdPyComposition(0.01, 0.75, 3.0)
    var, ax = _f64(w0), np.zeros(w0.shape)
    for t in range(1, 11):
        g = _rand(rng, w0.shape)
        opt((g,))
        var, ax = k.step(var, ax, _f64(g), f32(lr), t)
        tol = ONE_STEP if t == 1 else MANY_STEPS
        _close(p.asnumpy(), var, what="param t=%d" % t, **tol)
        _close(opt.ax[0].asnumpy(), ax, what="ax t=%d" % t, **tol)


def test_asgd_dynamic_lr_kernel_difference():
    # asgd.py construct assigns eta = lr / (1 + lambd * lr * t)^alpha AFTER
    # the update of step t, so step t + 1 steps with step t's learning
    # rate.  optim_mlir.nn's rule computes eta from the CURRENT step's lr
    # (lr_t / (1 + lambd * lr_t * (t - 1))^alpha).  Equal for a constant
    # rate; with a per-step list the step size of step t is eta built from
    # lr_{t-1}.
    rng, w0 = _data(23, (4, 5))
    lrs = [0.1, 0.05, 0.02, 0.01, 0.005]
    p = _param(w0)
    opt = nn.ASGD([p], learning_rate=lrs, lambd=0.01, alpha=0.75)
    k = AsgdPyComposition(0.01, 0.75, 1e6)
    var, ax = _f64(w0), np.zeros(w0.shape)
    for t in range(1, 6):
        g = _rand(rng, w0.shape)
        opt((g,))
        var, ax = k.step(var, ax, _f64(g), f32(lrs[t - 1]), t)
    with pytest.raises(AssertionError):
        _close(p.asnumpy(), var, what="param", **MANY_STEPS)


# ===========================================================================
# Rprop (rprop.py composition)
# ===========================================================================


def test_rprop():
    rng, w0 = _data(24, (5, 6))
    lr, em, ep, smin, smax = 0.01, 0.5, 1.2, 1e-4, 0.05
    p = _param(w0)
    opt = nn.Rprop([p], learning_rate=lr, etas=(em, ep), step_sizes=(smin, smax))
    var, prev, ss = _f64(w0), np.zeros(w0.shape), np.zeros(w0.shape)
    for t in range(1, 16):
        # Mostly one sign, so step sizes grow to the maximum, with flips.
        g = (np.abs(_rand(rng, w0.shape)) *
             np.where(rng.random(w0.shape) < 0.8, 1.0, -1.0)).astype(np.float32)
        if t == 5:
            g[0] = 0.0
        opt((g,))
        var, prev, ss = rprop_py_composition(var, prev, ss, _f64(g), f32(lr),
                                             f32(em), f32(ep), f32(smin),
                                             f32(smax), t)
        tol = ONE_STEP if t == 1 else MANY_STEPS
        _close(p.asnumpy(), var, what="param t=%d" % t, **tol)
        _close(opt.step_size[0].asnumpy(), ss, what="step_size t=%d" % t, **tol)
        _close(opt.prev[0].asnumpy(), prev, what="prev t=%d" % t, **tol)
    assert np.any(ss == f32(smax)) and np.any(ss < f32(smax))


# ===========================================================================
# LazyAdam (dense: P.Adam; sparse: FusedSparseLazyAdam)
# ===========================================================================

@pytest.mark.parametrize("use_nesterov", [False, True])
def test_lazy_adam_dense(use_nesterov):
    rng, w0 = _data(25, (4, 6))
    p = _param(w0)
    opt = nn.LazyAdam([p], learning_rate=0.01, use_nesterov=use_nesterov)
    steps = 8
    p1, p2 = _f32_powers(0.9, steps), _f32_powers(0.999, steps)
    var, m, v = _f64(w0), np.zeros(w0.shape), np.zeros(w0.shape)
    for t in range(steps):
        g = _rand(rng, w0.shape)
        opt((g,))
        var, m, v = adam_fp32(var, m, v, f32(0.01), f32(0.9), f32(0.999),
                              f32(1e-8), _f64(g), p1[t], p2[t], use_nesterov)
        tol = ONE_STEP if t == 0 else MANY_STEPS
        _close(p.asnumpy(), var, what="param", **tol)


@pytest.mark.parametrize("use_nesterov", [False, True])
def test_lazy_adam_sparse(use_nesterov):
    rng, w0 = _data(26, (10, 4))
    p = _param(w0)
    opt = nn.LazyAdam([p], learning_rate=0.01, use_nesterov=use_nesterov)
    steps = 6
    p1, p2 = _f32_powers(0.9, steps), _f32_powers(0.999, steps)
    var, m, v = _f64(w0), np.zeros(w0.shape), np.zeros(w0.shape)
    for t in range(steps):
        idx = np.array([1, 7, 3, 7][: 2 + t % 3], np.int32)  # with a duplicate
        vals = _rand(rng, (len(idx), 4))
        opt(((idx, vals),))
        var, m, v = sparse_apply_lazy_adam_cpu_kernel(
            var, m, v, idx, _f64(vals), f32(0.01), f32(0.9), f32(0.999),
            f32(1e-8), p1[t], p2[t], use_nesterov)
        tol = ONE_STEP if t == 0 else MANY_STEPS
        _close(p.asnumpy(), var, what="param t=%d" % t, **tol)
        _close(opt.moment1[0].asnumpy(), m, what="m", **tol)
    untouched = [0, 2, 4, 5, 6, 8, 9]
    np.testing.assert_array_equal(p.asnumpy()[untouched], w0[untouched])
