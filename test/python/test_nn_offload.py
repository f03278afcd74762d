"""``optim_mlir.nn.AdamOffload`` and ``nn.Adam(use_offload=True)``.

MindSpore's offloaded Adam (mindspore/python/mindspore/nn/optim/adam.py,
class AdamOffload and Adam's use_offload path) runs
``decay_weight -> scale_grad`` (no gradient centralization), then on the
CPU the kernel ``AdamNoUpdateParam``
(mindspore/ccsrc/plugin/device/cpu/kernel/adam_delta_cpu_kernel.cc, the
arithmetic of nnacl's AdamDeltaFp32), whose delta is added to the parameter
(``F.assign_add``).  The reference below follows that arithmetic in float32:
``beta1_power`` / ``beta2_power`` are float32 Parameters multiplied by
beta1 / beta2 each step, ``lr_t = lr * sqrt(1 - beta2_power) / (1 -
beta1_power)``, ``m = m * beta1 + (1 - beta1) * g``, ``v = v * beta2 +
(1 - beta2) * g * g``, ``delta = -lr_t * m / (sqrt(v) + eps)`` (nesterov:
``m * beta1 + (1 - beta1) * g`` in place of ``m``), ``param += delta``.
No weight decay inside the kernel.

Tolerance: ``rtol=1e-6, atol=1e-6`` on parameters and moments after every
one of 20 steps (the compiled step computes beta^t directly rather than as
a running float32 product, and may order float32 operations differently:
a few float32 units in the last place).
"""

import numpy as np
import pytest

from optim_mlir import nn

STEPS = 20
RTOL, ATOL = 1e-6, 1e-6
F = np.float32


def offload_reference(params, grads_per_step, *, lr, beta1, beta2, eps,
                      weight_decay=0.0, loss_scale=1.0, use_nesterov=False,
                      decay=None, lr_of=None):
    """MindSpore's AdamOffload step in float32.  ``params``: name -> array;
    ``lr``: a number or one number per step; ``decay``: name -> whether
    decay_weight applies (default: MindSpore's filter, no 'beta' / 'gamma'
    in the name); ``lr_of``: name -> the learning rate of its group.
    Yields (params, m, v) after each step."""
    p = {k: np.array(v, F) for k, v in params.items()}
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v2 = {k: np.zeros_like(v) for k, v in p.items()}
    b1p, b2p = F(1), F(1)
    b1, b2 = F(beta1), F(beta2)
    for step, grads in enumerate(grads_per_step):
        b1p, b2p = F(b1p * b1), F(b2p * b2)
        step_lr = lr[step] if isinstance(lr, list) else lr
        for k in p:
            g = np.array(grads[k], F)
            flag = decay[k] if decay is not None else \
                ("beta" not in k and "gamma" not in k)
            if weight_decay > 0 and flag:
                g = p[k] * F(weight_decay * loss_scale) + g
            if loss_scale != 1.0:
                g = g * F(1.0 / loss_scale)
            rate = F(lr_of[k] if lr_of else step_lr)
            lr_t = F(rate * np.sqrt(F(1) - b2p) / (F(1) - b1p))
            m[k] = m[k] * b1 + (F(1) - b1) * g
            v2[k] = v2[k] * b2 + (F(1) - b2) * g * g
            num = m[k] * b1 + (F(1) - b1) * g if use_nesterov else m[k]
            delta = -lr_t * num / (np.sqrt(v2[k]) + F(eps))
            p[k] = p[k] + delta
        yield p, m, v2


SHAPES = {"dense.weight": (6, 16), "dense.bias": (16,), "ln.beta": (5,)}


def _setup(seed):
    rng = np.random.default_rng(seed)
    init = {k: rng.standard_normal(s).astype(F) for k, s in SHAPES.items()}
    grads = [{k: rng.standard_normal(s).astype(F) for k, s in SHAPES.items()}
             for _ in range(STEPS)]
    return init, grads


def _check(opt, params, ref_iter, grads):
    for t, (grad, (rp, rm, rv)) in enumerate(zip(grads, ref_iter)):
        assert opt(tuple(grad[p.name] for p in params)) is True
        for i, p in enumerate(params):
            msg = "%s step %d" % (p.name, t + 1)
            np.testing.assert_allclose(p.data, rp[p.name], rtol=RTOL,
                                       atol=ATOL, err_msg=msg)
            np.testing.assert_allclose(opt.moment1[i].data, rm[p.name],
                                       rtol=RTOL, atol=ATOL, err_msg=msg)
            np.testing.assert_allclose(opt.moment2[i].data, rv[p.name],
                                       rtol=RTOL, atol=ATOL, err_msg=msg)


@pytest.mark.parametrize("use_nesterov", [False, True])
@pytest.mark.parametrize("make", ["AdamOffload", "Adam-use_offload"])
def test_offload_matches_adam_no_update_param_reference(make, use_nesterov):
    init, grads = _setup(7 + use_nesterov)
    params = [nn.Parameter(v.copy(), k) for k, v in init.items()]
    kw = dict(learning_rate=0.02, beta1=0.8, beta2=0.95, eps=1e-6,
              use_nesterov=use_nesterov, weight_decay=0.05, loss_scale=4.0)
    opt = nn.AdamOffload(params, **kw) if make == "AdamOffload" else \
        nn.Adam(params, use_offload=True, **kw)
    if make != "AdamOffload":
        assert opt.use_offload is True
    ref = offload_reference(init, grads, lr=0.02, beta1=0.8, beta2=0.95,
                            eps=1e-6, weight_decay=0.05, loss_scale=4.0,
                            use_nesterov=use_nesterov)
    _check(opt, params, ref, grads)
    assert opt.global_step == STEPS
    assert max(float(np.max(np.abs(p.data - init[p.name]))) for p in params) > 0.1


def test_offload_decays_only_filtered_names():
    # 'ln.beta' is not decayed (MindSpore's filter): with a decay filter that
    # decayed it, the reference would differ from the optimizer.
    init, grads = _setup(3)
    params = [nn.Parameter(v.copy(), k) for k, v in init.items()]
    opt = nn.AdamOffload(params, learning_rate=0.02, weight_decay=0.5)
    everything = {k: True for k in init}
    wrong = list(offload_reference(init, grads[:3], lr=0.02, beta1=0.9,
                                   beta2=0.999, eps=1e-8, weight_decay=0.5,
                                   decay=everything))[-1][0]
    right = list(offload_reference(init, grads[:3], lr=0.02, beta1=0.9,
                                   beta2=0.999, eps=1e-8,
                                   weight_decay=0.5))[-1][0]
    for g in grads[:3]:
        opt(tuple(g[p.name] for p in params))
    beta = params[2]
    assert beta.name == "ln.beta"
    np.testing.assert_allclose(beta.data, right["ln.beta"], rtol=RTOL, atol=ATOL)
    assert not np.allclose(beta.data, wrong["ln.beta"], rtol=1e-4, atol=1e-5)


def test_offload_groups_without_centralization():
    # Groups with their own lr and grad_centralization: the offloaded step
    # skips centralization (MindSpore's AdamOffload never calls it), while
    # plain Adam centralizes the (6, 16) gradient.
    init, grads = _setup(5)

    def groups():
        ps = {k: nn.Parameter(v.copy(), k) for k, v in init.items()}
        return ps, [{"params": [ps["dense.weight"]], "lr": 0.05,
                     "grad_centralization": True},
                    {"params": [ps["dense.bias"], ps["ln.beta"]]}]

    ps, g = groups()
    opt = nn.AdamOffload(g, learning_rate=0.01)
    assert opt.group_grad_centralization[0] is True
    params = list(opt.parameters)
    ref = offload_reference(init, grads, lr=0.01, beta1=0.9, beta2=0.999,
                            eps=1e-8, lr_of={"dense.weight": 0.05,
                                             "dense.bias": 0.01,
                                             "ln.beta": 0.01})
    _check(opt, params, ref, grads)
    ps2, g2 = groups()
    plain = nn.Adam(g2, learning_rate=0.01)
    for grad in grads:
        plain(tuple(grad[p.name] for p in plain.parameters))
    assert not np.allclose(ps2["dense.weight"].data, ps["dense.weight"].data,
                           rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ps2["dense.bias"].data, ps["dense.bias"].data,
                               rtol=RTOL, atol=ATOL)


def test_offload_with_per_step_learning_rates():
    init, grads = _setup(9)
    params = [nn.Parameter(v.copy(), k) for k, v in init.items()]
    lrs = [0.02 * (0.9 ** i) for i in range(STEPS)]
    opt = nn.AdamOffload(params, learning_rate=lrs)
    ref = offload_reference(init, grads, lr=[float(F(r)) for r in lrs],
                            beta1=0.9, beta2=0.999, eps=1e-8)
    _check(opt, params, ref, grads)


OFFLOAD_ERRORS = [
    ("float64", TypeError, "float32 parameters only",
     lambda ps: nn.AdamOffload([nn.Parameter(np.ones(3), "w")])),
    ("float16", TypeError, "float32 parameters only",
     lambda ps: nn.AdamOffload([nn.Parameter(np.ones(3, np.float16), "w")])),
    ("beta1-one", ValueError, "'beta1' must be in \\(0.0, 1.0\\)",
     lambda ps: nn.AdamOffload(ps, beta1=1.0)),
    ("beta2-int", TypeError, "'beta2' must be float",
     lambda ps: nn.AdamOffload(ps, beta2=1)),
    ("eps-zero", ValueError, "'eps' must be in",
     lambda ps: nn.AdamOffload(ps, eps=0.0)),
    ("use_locking-not-bool", TypeError, "'use_locking' must be bool",
     lambda ps: nn.AdamOffload(ps, use_locking=1)),
    ("use_nesterov-not-bool", TypeError, "'use_nesterov' must be bool",
     lambda ps: nn.AdamOffload(ps, use_nesterov="yes")),
    ("weight_decay-negative", ValueError, "'weight_decay' must be >= 0",
     lambda ps: nn.AdamOffload(ps, weight_decay=-0.1)),
    ("loss_scale-zero", ValueError, "loss_scale",
     lambda ps: nn.AdamOffload(ps, loss_scale=0.0)),
    ("Adam-lazy-and-offload", ValueError, "can not both be True",
     lambda ps: nn.Adam(ps, use_lazy=True, use_offload=True)),
    ("Adam-amsgrad-and-offload", ValueError, "no parameter named 'use_amsgrad'",
     lambda ps: nn.Adam(ps, use_amsgrad=True, use_offload=True)),
    ("Adam-offload-not-bool", TypeError, "'use_offload' must be bool",
     lambda ps: nn.Adam(ps, use_offload=1)),
]


@pytest.mark.parametrize("case", OFFLOAD_ERRORS, ids=[c[0] for c in OFFLOAD_ERRORS])
def test_offload_argument_errors(case):
    _, exc, match, fn = case
    with pytest.raises(exc, match=match):
        fn([nn.Parameter(np.ones((2, 3), F), "w")])


def test_offload_sparse_gradient_not_implemented():
    p = nn.Parameter(np.ones((4, 3), F), "emb")
    opt = nn.AdamOffload([p])
    with pytest.raises(NotImplementedError, match="sparse"):
        opt((nn.RowTensor(np.array([1]), np.ones((1, 3), F), (4, 3)),))
    assert np.all(p.data == 1) and opt.global_step == 0
