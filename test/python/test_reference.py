"""Checks of the NumPy reference (reference.py) against torch 1.13 and hand values.

Run: /usr/bin/python3 -m pytest test/python/test_reference.py -q

Tolerances: float64 on both sides; where the definitions agree exactly the
comparison is rtol=1e-10, atol=1e-12 over STEPS (>= 20) steps.
"""

import math
import os
import sys

import numpy as np
import pytest
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference as R  # noqa: E402

STEPS = 25
SHAPES = [(7,), (4, 5), (3, 16, 2)]
RTOL, ATOL = 1e-10, 1e-12


@pytest.fixture(autouse=True)
def _float64_default_dtype():
    """torch keeps some scalar state (ASGD's eta and mu) in default-dtype
    tensors: float64 for these comparisons, restored afterwards so other
    test modules are not affected."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def make_data(seed, shapes=SHAPES, steps=STEPS, gscale=1.0):
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(s) for s in shapes]
    grads = [[rng.standard_normal(s) * gscale for s in shapes] for _ in range(steps)]
    return params, grads


def named(params, prefix="layer%d.weight"):
    return [(prefix % i, p) for i, p in enumerate(params)]


def run_torch(opt_cls, params, grads, state_init=None, lr_per_step=None, groups=None, **kw):
    tparams = [torch.tensor(p, dtype=torch.float64, requires_grad=True) for p in params]
    if groups is not None:
        opt = opt_cls([{"params": [tparams[i] for i in idx], **g} for idx, g in groups], **kw)
    else:
        opt = opt_cls(tparams, **kw)
    if state_init is not None:
        for tp in tparams:
            opt.state[tp].update(state_init(tp))
    hist = []
    for k, gs in enumerate(grads):
        if lr_per_step is not None:
            for gi, group in enumerate(opt.param_groups):
                group["lr"] = lr_per_step[gi](k)
        for tp, g in zip(tparams, gs):
            tp.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
        hist.append([tp.detach().numpy().copy() for tp in tparams])
    return hist, opt, tparams


def run_ref(rule, params, grads, names=None, grad_scale=1.0, **kw):
    ps = list(zip(names, params)) if names else named(params)
    opt = R.ReferenceOptimizer(rule, ps, **kw)
    hist = []
    for gs in grads:
        opt.step([g * grad_scale for g in gs])
        hist.append([p.copy() for p in opt.params])
    return hist, opt


def assert_hist_close(a, b, rtol=RTOL, atol=ATOL):
    assert len(a) == len(b) >= 20
    for step, (xa, xb) in enumerate(zip(a, b)):
        for i, (u, v) in enumerate(zip(xa, xb)):
            np.testing.assert_allclose(u, v, rtol=rtol, atol=atol,
                                       err_msg="step %d param %d" % (step, i))


def max_rel_diff(a, b):
    return max(float(np.max(np.abs(u - v) / (np.abs(v) + 1e-30)))
               for xa, xb in zip(a, b) for u, v in zip(xa, xb))


# ---------------------------------------------------------------------------
# SGD / Momentum
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("mom,damp,nest,wd", [
    (0.0, 0.0, False, 0.0), (0.9, 0.0, False, 0.0), (0.9, 0.5, False, 0.0),
    (0.9, 0.0, True, 0.0), (0.8, 0.2, False, 0.01), (0.9, 0.0, True, 0.05)])
def test_sgd_matches_torch(mom, damp, nest, wd):
    params, grads = make_data(1)
    ref, _ = run_ref("sgd", params, grads, learning_rate=0.05, momentum=mom, dampening=damp,
                     nesterov=nest, weight_decay=wd)
    tor, _, _ = run_torch(torch.optim.SGD, params, grads, lr=0.05, momentum=mom, dampening=damp,
                          nesterov=nest, weight_decay=wd)
    assert_hist_close(ref, tor)


def test_sgd_zero_momentum_ignores_dampening():
    # MindSpore's kernel skips the momentum branch when momentum == 0, so
    # dampening has no effect (the .td text would give lr*(1-dampening)*g).
    params, grads = make_data(2)
    ref, opt = run_ref("sgd", params, grads, learning_rate=0.05, momentum=0.0, dampening=0.5)
    tor, _, _ = run_torch(torch.optim.SGD, params, grads, lr=0.05)
    assert_hist_close(ref, tor)
    assert all(np.all(s["accum"] == 0) for s in opt.states)


def test_sgd_decays_beta_gamma_in_mindspore_mode():
    # nn.SGD has no decay_weight call: P.SGD decays every parameter.
    params, grads = make_data(3)
    names = ["bn.gamma", "bn.beta", "conv.weight"]
    ref, _ = run_ref("sgd", params, grads, names=names, learning_rate=0.05, momentum=0.9,
                     weight_decay=0.1)
    tor, _, _ = run_torch(torch.optim.SGD, params, grads, lr=0.05, momentum=0.9, weight_decay=0.1)
    assert_hist_close(ref, tor)
    uni, _ = run_ref("sgd", params, grads, names=names, learning_rate=0.05, momentum=0.9,
                     weight_decay=0.1, mode="uniform")
    assert max_rel_diff([h[:1] for h in uni], [h[:1] for h in tor]) > 1e-3  # gamma not decayed
    assert_hist_close([h[2:] for h in uni], [h[2:] for h in tor])


@pytest.mark.parametrize("nest", [False, True])
@pytest.mark.parametrize("wd,ls", [(0.0, 1.0), (0.01, 1.0), (0.01, 1024.0)])
def test_momentum_matches_torch_sgd(nest, wd, ls):
    # MindSpore Momentum == torch SGD with dampening 0 (v starts at 0, so v_1 = g).
    params, grads = make_data(4)
    ref, _ = run_ref("momentum", params, grads, grad_scale=ls, learning_rate=0.03, momentum=0.9,
                     use_nesterov=nest, weight_decay=wd, loss_scale=ls)
    tor, _, _ = run_torch(torch.optim.SGD, params, grads, lr=0.03, momentum=0.9, nesterov=nest,
                          weight_decay=wd)
    assert_hist_close(ref, tor, rtol=1e-9)


def test_groups_dynamic_lr_and_group_decay_match_torch():
    params, grads = make_data(5)
    lr_a = [0.1 * 0.9 ** k for k in range(10)]                     # list, runs past its end
    lr_b = R.make_schedule("cosine_decay", min_lr=0.001, max_lr=0.05, decay_steps=15)
    groups = [{"params": [("a", params[0]), ("b.gamma", params[1])], "lr": lr_a,
               "weight_decay": 0.02},
              {"params": [("c", params[2])], "lr": lr_b}]
    opt = R.ReferenceOptimizer("momentum", groups, learning_rate=0.1, momentum=0.9,
                               weight_decay=0.0)
    ref = []
    for gs in grads:
        opt.step(gs)
        ref.append([p.copy() for p in opt.params])
    tor, _, _ = run_torch(torch.optim.SGD, params, grads, lr=0.1, momentum=0.9,
                          groups=[([0, 1], {"weight_decay": 0.02}), ([2], {"weight_decay": 0.0})],
                          lr_per_step=[lambda k: lr_a[min(k, len(lr_a) - 1)], lr_b])
    assert_hist_close(ref, tor)


# ---------------------------------------------------------------------------
# Adam family
# ---------------------------------------------------------------------------

def torch_mindspore_adam(params, grads, lr, b1, b2, eps, nesterov=False, amsgrad=False):
    """MindSpore's Adam written directly with torch tensors."""
    ps = [torch.tensor(p) for p in params]
    ms = [torch.zeros_like(p) for p in ps]
    vs = [torch.zeros_like(p) for p in ps]
    vh = [torch.zeros_like(p) for p in ps]
    hist = []
    for t, gs in enumerate(grads, start=1):
        lr_now = lr(t - 1) if callable(lr) else lr
        lr_t = lr_now * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        for i, g in enumerate(gs):
            g = torch.tensor(g)
            ms[i] = b1 * ms[i] + (1 - b1) * g
            vs[i] = b2 * vs[i] + (1 - b2) * g * g
            if amsgrad:
                vh[i] = torch.maximum(vh[i], vs[i])
                ps[i] = ps[i] - lr_t * ms[i] / (vh[i].sqrt() + eps)
            elif nesterov:
                ps[i] = ps[i] - lr_t * (b1 * ms[i] + (1 - b1) * g) / (vs[i].sqrt() + eps)
            else:
                ps[i] = ps[i] - lr_t * ms[i] / (vs[i].sqrt() + eps)
        hist.append([p.numpy().copy() for p in ps])
    return hist


@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam_with_eps_zero_matches_torch(amsgrad):
    # With eps = 0 the folded bias correction and torch's corrected form agree.
    params, grads = make_data(6)
    ref, _ = run_ref("adam", params, grads, learning_rate=0.01, eps=0.0, use_amsgrad=amsgrad)
    tor, _, _ = run_torch(torch.optim.Adam, params, grads, lr=0.01, eps=0.0, amsgrad=amsgrad)
    assert_hist_close(ref, tor, rtol=1e-9)


def test_adam_eps_placement_differs_from_torch_unless_rescaled():
    # MindSpore: lr*sqrt(1-b2^t)/(1-b1^t) * m/(sqrt(v)+eps); torch: lr/(1-b1^t) * m/(sqrt(v)/sqrt(1-b2^t)+eps).
    # They agree when MindSpore's eps at step t is eps_torch*sqrt(1-b2^t).
    params, grads = make_data(7, gscale=1e-3)
    eps, b1, b2, lr = 1e-3, 0.9, 0.999, 0.01
    tor, _, _ = run_torch(torch.optim.Adam, params, grads, lr=lr, eps=eps, betas=(b1, b2))
    ref_const, _ = run_ref("adam", params, grads, learning_rate=lr, eps=eps)
    assert max_rel_diff(ref_const, tor) > 1e-3
    ps = [p.copy() for p in params]
    sts = [R.init_states("adam", p) for p in ps]
    resc = []
    for t, gs in enumerate(grads, start=1):
        for i, g in enumerate(gs):
            ps[i], sts[i] = R.adam(ps[i], g, sts[i], learning_rate=lr, beta1=b1, beta2=b2,
                                   eps=eps * math.sqrt(1 - b2 ** t), t=t)
        resc.append([p.copy() for p in ps])
    assert_hist_close(resc, tor, rtol=1e-9)


@pytest.mark.parametrize("nest,ams", [(False, False), (True, False), (False, True)])
def test_adam_matches_torch_tensor_mindspore_formula(nest, ams):
    params, grads = make_data(8)
    lr = R.make_schedule("warmup", learning_rate=0.02, warmup_steps=5)
    ref, _ = run_ref("adam", params, grads, learning_rate=lr, eps=1e-8, use_nesterov=nest,
                     use_amsgrad=ams)
    tor = torch_mindspore_adam(params, grads, lr, 0.9, 0.999, 1e-8, nesterov=nest, amsgrad=ams)
    assert_hist_close(ref, tor)


def test_adam_amsgrad_ignores_nesterov():
    params, grads = make_data(9)
    a, _ = run_ref("adam", params, grads, learning_rate=0.01, use_amsgrad=True, use_nesterov=True)
    b, _ = run_ref("adam", params, grads, learning_rate=0.01, use_amsgrad=True)
    assert_hist_close(a, b, rtol=0, atol=0)


def test_adam_weight_decay_matches_torch_loop_and_filter():
    params, grads = make_data(10)
    names = ["dense.weight", "ln.gamma", "ln.beta"]
    lr, b1, b2, eps, wd = 0.01, 0.9, 0.999, 1e-6, 0.05
    ref, _ = run_ref("adam_weight_decay", params, grads, names=names, learning_rate=lr,
                     weight_decay=wd)
    ps = [torch.tensor(p) for p in params]
    ms = [torch.zeros_like(p) for p in ps]
    vs = [torch.zeros_like(p) for p in ps]
    tor = []
    for gs in grads:
        for i, g in enumerate(gs):
            g = torch.tensor(g)
            ms[i] = b1 * ms[i] + (1 - b1) * g
            vs[i] = b2 * vs[i] + (1 - b2) * g * g
            upd = ms[i] / (vs[i].sqrt() + eps)
            if names[i] == "dense.weight":            # beta/gamma: no decay when ungrouped
                upd = upd + wd * ps[i]
            ps[i] = ps[i] - lr * upd
        tor.append([p.numpy().copy() for p in ps])
    assert_hist_close(ref, tor)
    # AdamW in torch (decoupled, bias corrected) is a different rule.
    tw, _, _ = run_torch(torch.optim.AdamW, params, grads, lr=lr, eps=eps, weight_decay=wd)
    assert max_rel_diff(ref, tw) > 1e-4


# ---------------------------------------------------------------------------
# Adagrad / RMSProp / Adadelta / Adamax / ASGD / Rprop
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("wd", [0.0, 0.01])
def test_adagrad_matches_torch_with_accum_01_and_eps_0(wd):
    # torch: initial_accumulator_value=0.1 (MindSpore's accum) and eps=0: MindSpore's
    # documented ApplyAdagrad has no eps (its CPU kernel adds 1e-6 inside the sqrt).
    params, grads = make_data(11)
    ref, _ = run_ref("adagrad", params, grads, learning_rate=0.1, weight_decay=wd)
    tor, _, _ = run_torch(torch.optim.Adagrad, params, grads, lr=0.1, initial_accumulator_value=0.1,
                          eps=0.0, weight_decay=wd)
    assert_hist_close(ref, tor)
    cpu, _ = run_ref("adagrad", params, grads, learning_rate=0.1, weight_decay=wd, eps=1e-6)
    assert 1e-9 < max_rel_diff(cpu, tor) < 1e-3


def test_adagrad_update_slots_false_keeps_accum():
    p = np.ones(5)
    st = R.init_states("adagrad", p, accum=0.25)
    new_p, new_st = R.adagrad(p, np.full(5, 2.0), st, learning_rate=0.1, update_slots=False)
    np.testing.assert_array_equal(new_st["accum"], np.full(5, 0.25))
    np.testing.assert_allclose(new_p, 1.0 - 0.1 * 2.0 / 0.5)


def rms_init(momentum, centered):
    def init(tp):
        s = {"step": 0, "square_avg": torch.ones_like(tp)}
        if momentum > 0:
            s["momentum_buffer"] = torch.zeros_like(tp)
        if centered:
            s["grad_avg"] = torch.zeros_like(tp)
        return s
    return init


@pytest.mark.parametrize("mom", [0.0, 0.9])
@pytest.mark.parametrize("centered", [False, True])
def test_rmsprop_matches_torch_with_mean_square_one_and_eps_0(mom, centered):
    # MindSpore: mean_square starts at 1 and eps is inside the sqrt; torch starts at 0
    # with eps outside. Test with torch's square_avg preset to ones and eps=0 on both.
    params, grads = make_data(12)
    ref, _ = run_ref("rmsprop", params, grads, learning_rate=0.01, decay=0.9, momentum=mom,
                     epsilon=0.0, centered=centered)
    tor, _, _ = run_torch(torch.optim.RMSprop, params, grads, state_init=rms_init(mom, centered),
                          lr=0.01, alpha=0.9, eps=0.0, momentum=mom, centered=centered)
    assert_hist_close(ref, tor)
    plain, _, _ = run_torch(torch.optim.RMSprop, params, grads, lr=0.01, alpha=0.9, eps=0.0,
                            momentum=mom, centered=centered)
    assert max_rel_diff(ref, plain) > 1e-3  # the mean_square init matters


@pytest.mark.parametrize("wd", [0.0, 0.01])
def test_adadelta_matches_torch(wd):
    params, grads = make_data(13)
    ref, _ = run_ref("adadelta", params, grads, learning_rate=1.0, rho=0.9, epsilon=1e-6,
                     weight_decay=wd)
    tor, _, _ = run_torch(torch.optim.Adadelta, params, grads, lr=1.0, rho=0.9, eps=1e-6,
                          weight_decay=wd)
    assert_hist_close(ref, tor)


def test_adamax_matches_torch_with_eps_0_and_mindspore_form_otherwise():
    # torch: v = max(b2*v, |g| + eps), no eps in the division; MindSpore: v = max(b2*v, |g|), m/(v+eps).
    params, grads = make_data(14)
    ref, _ = run_ref("adamax", params, grads, learning_rate=0.01, eps=0.0)
    tor, _, _ = run_torch(torch.optim.Adamax, params, grads, lr=0.01, eps=0.0)
    assert_hist_close(ref, tor)
    eps = 1e-2
    ref2, _ = run_ref("adamax", params, grads, learning_rate=0.01, eps=eps)
    tor2, _, _ = run_torch(torch.optim.Adamax, params, grads, lr=0.01, eps=eps)
    assert max_rel_diff(ref2, tor2) > 1e-6
    ps = [torch.tensor(p) for p in params]
    ms = [torch.zeros_like(p) for p in ps]
    vs = [torch.zeros_like(p) for p in ps]
    hand = []
    for t, gs in enumerate(grads, start=1):
        for i, g in enumerate(gs):
            g = torch.tensor(g)
            ms[i] = 0.9 * ms[i] + 0.1 * g
            vs[i] = torch.maximum(0.999 * vs[i], g.abs())
            ps[i] = ps[i] - 0.01 / (1 - 0.9 ** t) * ms[i] / (vs[i] + eps)
        hand.append([p.numpy().copy() for p in ps])
    assert_hist_close(ref2, hand)


@pytest.mark.parametrize("t0,wd", [(1e6, 0.0), (5.0, 0.0), (3.0, 0.01)])
def test_asgd_matches_torch(t0, wd):
    params, grads = make_data(15)
    ref, opt = run_ref("asgd", params, grads, learning_rate=0.05, lambd=1e-2, alpha=0.75, t0=t0,
                       weight_decay=wd)
    tor, topt, tps = run_torch(torch.optim.ASGD, params, grads, lr=0.05, lambd=1e-2, alpha=0.75,
                               t0=t0, weight_decay=wd)
    assert_hist_close(ref, tor)
    for st, tp in zip(opt.states, tps):
        np.testing.assert_allclose(st["ax"], topt.state[tp]["ax"].numpy(), rtol=RTOL, atol=ATOL)
    if t0 < STEPS:  # averaging started: ax differs from the parameter
        assert not np.allclose(opt.states[0]["ax"], opt.params[0])


@pytest.mark.parametrize("step_sizes", [(1e-6, 50.0), (1e-3, 0.02)])
def test_rprop_matches_torch(step_sizes):
    params, grads = make_data(16)
    ref, opt = run_ref("rprop", params, grads, learning_rate=0.01, etaminus=0.5, etaplus=1.2,
                       min_step=step_sizes[0], max_step=step_sizes[1])
    tor, topt, tps = run_torch(torch.optim.Rprop, params, grads, lr=0.01, etas=(0.5, 1.2),
                               step_sizes=step_sizes)
    assert_hist_close(ref, tor)
    for st, tp in zip(opt.states, tps):
        np.testing.assert_allclose(st["step_size"], topt.state[tp]["step_size"].numpy(), rtol=RTOL)
        np.testing.assert_allclose(st["prev"], topt.state[tp]["prev"].numpy(), rtol=RTOL, atol=ATOL)


# ---------------------------------------------------------------------------
# Rules without a torch counterpart: cross-checks and hand values
# ---------------------------------------------------------------------------

def test_lamb_matches_torch_tensor_mindspore_kernel():
    params, grads = make_data(17)
    names = ["w", "ln.gamma", "v"]
    lr, b1, b2, eps, wd = 0.01, 0.9, 0.999, 1e-6, 0.01
    ref, _ = run_ref("lamb", params, grads, names=names, learning_rate=lr, weight_decay=wd)
    ps = [torch.tensor(p) for p in params]
    ms = [torch.zeros_like(p) for p in ps]
    vs = [torch.zeros_like(p) for p in ps]
    hand = []
    for t, gs in enumerate(grads, start=1):
        for i, g in enumerate(gs):
            g = torch.tensor(g)
            d = 0.0 if "gamma" in names[i] else wd
            ms[i] = b1 * ms[i] + (1 - b1) * g
            vs[i] = b2 * vs[i] + (1 - b2) * g * g
            mm, vv = ms[i] / (1 - b1 ** t), vs[i] / (1 - b2 ** t)
            w_n, g_n = ps[i].norm(), g.norm()
            gh_n = (mm / (vv + eps).sqrt() + d * ps[i]).norm()
            r = (w_n / gh_n) if (w_n > 0 and g_n > 0) else torch.tensor(1.0, dtype=torch.float64)
            r = r.clamp(0.0, 10.0)
            ps[i] = ps[i] - lr * r * (mm / (vv.sqrt() + eps) + d * ps[i])
        hand.append([p.numpy().copy() for p in ps])
    assert_hist_close(ref, hand)
    doc, _ = run_ref("lamb", params, grads, names=names, learning_rate=lr, weight_decay=wd,
                     variant="documented")
    assert 0 < max_rel_diff(doc, ref)


def test_lamb_trust_ratio_clip_and_zero_param():
    st = R.init_states("lamb", np.zeros(4))
    big = np.full(4, 1e4)
    g = np.full(4, 1.0)
    # m_hat/(sqrt(v_hat)+eps) ~ 1 per element: ratio ~ 1e4 -> clipped to 10
    p, _ = R.lamb(big, g, st, learning_rate=0.1, t=1)
    u = 1.0 / (1.0 + 1e-6)
    np.testing.assert_allclose(p, big - 0.1 * 10.0 * u, rtol=1e-12)
    pd, _ = R.lamb(big, g, st, learning_rate=0.1, t=1, variant="documented")
    # documented: ratio = |p| / |u| = 1e4 / u, so the step is lr * 1e4
    np.testing.assert_allclose(pd, big - 0.1 * 1e4, rtol=1e-12)
    # zero parameter: ratio 1
    pz, _ = R.lamb(np.zeros(4), g, st, learning_rate=0.1, t=1)
    np.testing.assert_allclose(pz, -0.1 * u, rtol=1e-12)


def test_lars_gradient_hand_values():
    p = np.array([3.0, 4.0])
    g = np.array([0.0, 2.0])
    out = R.lars_gradient(p, g, epsilon=1e-5, coefficient=0.001, weight_decay=0.1)
    ratio = 0.001 * 5.0 / (2.0 + 0.1 * 5.0 + 1e-5)
    np.testing.assert_allclose(out, ratio * (g + 0.1 * p), rtol=1e-14)
    zero = R.lars_gradient(p, np.zeros(2), weight_decay=0.1)
    np.testing.assert_allclose(zero, 0.1 * p, rtol=1e-14)
    clip = R.lars_gradient(p, g, coefficient=10.0, weight_decay=0.0, use_clip=True, learning_rate=0.1)
    np.testing.assert_allclose(clip, g, rtol=1e-14)  # min(ratio/lr, 1) = 1


def test_lars_filter_in_mindspore_mode():
    rng = np.random.default_rng(18)
    w, b = rng.standard_normal((4, 3)), rng.standard_normal(3)
    gw, gb = rng.standard_normal((4, 3)), rng.standard_normal(3)
    opt = R.ReferenceOptimizer("lars", [("fc.weight", w), ("fc.bias", b)], learning_rate=0.1,
                               momentum=0.9, weight_decay=0.01)
    opt.step([gw, gb])
    np.testing.assert_allclose(opt.param("fc.bias"), b - 0.1 * gb, rtol=1e-14)  # no LARS, no decay
    gl = R.lars_gradient(w, gw, weight_decay=0.01)
    np.testing.assert_allclose(opt.param("fc.weight"), w - 0.1 * gl, rtol=1e-14)


def test_proximal_adagrad_without_regularisation_is_adagrad():
    params, grads = make_data(19)
    a, _ = run_ref("proximal_adagrad", params, grads, learning_rate=0.1)
    b, _ = run_ref("adagrad", params, grads, learning_rate=0.1)
    assert_hist_close(a, b)
    c, _ = run_ref("proximal_adagrad", params, grads, learning_rate=0.1, l1=1e3)
    assert all(np.all(x == 0) for x in c[-1])
    d, _ = run_ref("proximal_adagrad", params, grads, learning_rate=0.1, l2=0.5)
    assert max_rel_diff(d, a) > 1e-3


def test_ftrl_constant_lr_is_dual_averaging_and_matches_formula():
    params, grads = make_data(20)
    # lr_power = 0, l1 = l2 = 0: sigma = 0, so param_t = -lr * sum of gradients.
    ref, _ = run_ref("ftrl", params, grads, learning_rate=0.1, lr_power=0.0)
    for k in range(STEPS):
        for i in range(len(params)):
            s = sum(grads[j][i] for j in range(k + 1))
            np.testing.assert_allclose(ref[k][i], -0.1 * s, rtol=1e-12, atol=1e-12)
    # general case against a torch-tensor transcription of ApplyFtrl
    lr, lp, l1, l2 = 0.05, -0.5, 0.01, 0.02
    ref2, _ = run_ref("ftrl", params, grads, learning_rate=lr, lr_power=lp, l1=l1, l2=l2)
    ps = [torch.tensor(p) for p in params]
    acc = [torch.full_like(p, 0.1) for p in ps]
    lin = [torch.zeros_like(p) for p in ps]
    hand = []
    for gs in grads:
        for i, g in enumerate(gs):
            g = torch.tensor(g)
            na = acc[i] + g * g
            lin[i] = lin[i] + g - (na ** (-lp) - acc[i] ** (-lp)) / lr * ps[i]
            quad = na ** (-lp) / lr + 2 * l2
            ps[i] = torch.where(lin[i].abs() > l1, (torch.sign(lin[i]) * l1 - lin[i]) / quad,
                                torch.zeros_like(ps[i]))
            acc[i] = na
        hand.append([p.numpy().copy() for p in ps])
    assert_hist_close(ref2, hand)


def test_lazy_adam_rows():
    rng = np.random.default_rng(21)
    p = rng.standard_normal((10, 4))
    opt = R.ReferenceOptimizer("lazy_adam", [("emb", p)], learning_rate=0.01)
    idx = np.array([1, 3, 1, 7], dtype=np.int32)
    vals = rng.standard_normal((4, 4))
    opt.step([(idx, vals)])
    new = opt.param("emb")
    untouched = [r for r in range(10) if r not in (1, 3, 7)]
    np.testing.assert_array_equal(new[untouched], p[untouched])
    merged = np.stack([vals[0] + vals[2], vals[1], vals[3]])
    rows = np.array([1, 3, 7])
    dense_p, _ = R.adam(p[rows], merged, R.init_states("adam", p[rows]), learning_rate=0.01, t=1)
    np.testing.assert_allclose(new[rows], dense_p, rtol=1e-14)
    np.testing.assert_array_equal(opt.state("emb")["moment1"][untouched], 0.0)
    # every row once, twice: equals dense Adam
    full = R.ReferenceOptimizer("lazy_adam", [("emb", p)], learning_rate=0.01)
    dense = R.ReferenceOptimizer("adam", [("emb", p)], learning_rate=0.01)
    for _ in range(2):
        g = rng.standard_normal((10, 4))
        full.step([(np.arange(10)[::-1], g[::-1])])
        dense.step([g])
    np.testing.assert_allclose(full.param("emb"), dense.param("emb"), rtol=1e-13)
    with pytest.raises(ValueError):
        R.lazy_adam(p, np.array([1, 1]), np.ones((2, 4)), R.init_states("lazy_adam", p),
                    learning_rate=0.01, t=1)


def test_unique_rows():
    i, v = R.unique_rows(np.array([5, 2, 5, 0, 2]), np.arange(10.0).reshape(5, 2))
    np.testing.assert_array_equal(i, [5, 2, 0])
    np.testing.assert_array_equal(v, [[0 + 4, 1 + 5], [2 + 8, 3 + 9], [6, 7]])


def test_init_states():
    p = np.ones((2, 3), dtype=np.float32)
    assert R.init_states("adagrad", p)["accum"][0, 0] == np.float32(0.1)
    assert R.init_states("ftrl", p)["accum"][1, 2] == np.float32(0.1)
    assert R.init_states("proximal_adagrad", p, accum=0.3)["accum"][0, 1] == np.float32(0.3)
    rs = R.init_states("rmsprop", p, centered=True)
    assert np.all(rs["mean_square"] == 1) and np.all(rs["mean_grad"] == 0) and np.all(rs["moment"] == 0)
    assert np.all(R.init_states("rprop", p, learning_rate=0.25)["step_size"] == 0.25)
    assert set(R.init_states("adam", p, use_amsgrad=True)) == {"moment1", "moment2", "vhat"}
    assert R.init_states("sgd", p)["accum"].dtype == np.float32


# ---------------------------------------------------------------------------
# Adafactor
# ---------------------------------------------------------------------------

def _adafactor_torch(param, grads, *, lr, eps=(1e-30, 1e-3), clip_threshold=1.0,
                     decay_rate=-0.8, beta1=None, weight_decay=0.0,
                     scale_parameter=True, relative_step=True,
                     warmup_init=False):
    """The paper's algorithm as the widely used PyTorch Adafactor writes it
    (a matrix's factored row and column means, a vector's full second
    moment ``exp_avg_sq``, no clamps), in float64 torch; the states after
    each step."""
    p = torch.tensor(param, dtype=torch.float64)
    factored = p.dim() >= 2
    state = {}
    if beta1 is not None:
        state["exp_avg"] = torch.zeros_like(p)
    if factored:
        state["exp_avg_sq_row"] = torch.zeros(p.shape[:-1], dtype=p.dtype)
        state["exp_avg_sq_col"] = torch.zeros(p.shape[:-2] + p.shape[-1:],
                                              dtype=p.dtype)
    else:
        state["exp_avg_sq"] = torch.zeros_like(p)
    rms = lambda x: x.norm(2) / (x.numel() ** 0.5)
    history = []
    for step, g in enumerate(grads, start=1):
        grad = torch.tensor(g, dtype=torch.float64)
        rho = lr
        if relative_step:
            rho = min(1e-6 * step if warmup_init else 1e-2,
                      1.0 / math.sqrt(step))
        alpha = rho * (max(eps[1], float(rms(p))) if scale_parameter else 1.0)
        beta2t = 1.0 - math.pow(step, decay_rate)
        update = grad ** 2 + eps[0]
        if factored:
            row, col = state["exp_avg_sq_row"], state["exp_avg_sq_col"]
            row.mul_(beta2t).add_(update.mean(dim=-1), alpha=1.0 - beta2t)
            col.mul_(beta2t).add_(update.mean(dim=-2), alpha=1.0 - beta2t)
            r_factor = (row / row.mean(dim=-1, keepdim=True)).rsqrt_()
            c_factor = col.unsqueeze(-2).rsqrt()
            update = r_factor.unsqueeze(-1) * c_factor * grad
        else:
            v = state["exp_avg_sq"]
            v.mul_(beta2t).add_(update, alpha=1.0 - beta2t)
            update = v.rsqrt() * grad
        update.div_((rms(update) / clip_threshold).clamp_(min=1.0))
        update.mul_(alpha)
        if beta1 is not None:
            state["exp_avg"].mul_(beta1).add_(update, alpha=1.0 - beta1)
            update = state["exp_avg"]
        if weight_decay != 0.0:
            p.add_(p, alpha=-weight_decay * alpha)
        p.add_(-update)
        history.append((p.numpy().copy(),
                        {k: v.numpy().copy() for k, v in state.items()}))
    return history


@pytest.mark.parametrize("shape", [(), (7,), (1, 9), (4, 5), (3, 16, 2),
                                   (2, 3, 4, 5)])
@pytest.mark.parametrize("options", [
    dict(),
    dict(beta1=0.9, weight_decay=0.01),
    dict(beta1=0.5, relative_step=False, lr=0.02, scale_parameter=False),
    dict(relative_step=True, warmup_init=True, clip_threshold=0.5,
         decay_rate=-0.6, eps=(1e-20, 1e-2)),
])
def test_adafactor_matches_the_unclamped_torch_form(shape, options):
    """On gradients whose squared means stay far above 1e-30 MindSpore's
    clamps change nothing: the reference is the paper's algorithm (torch
    form: vectors unfactored, matrices and batches of matrices factored)."""
    rng = np.random.default_rng(31)
    param = rng.standard_normal(shape)
    grads = [rng.standard_normal(shape) for _ in range(STEPS)]
    options = dict(options)
    lr = options.pop("lr", None)
    expected = _adafactor_torch(param, grads, lr=lr, **options)
    beta1 = options.get("beta1")
    eps1, eps2 = options.get("eps", (1e-30, 1e-3))
    kw = dict(learning_rate=lr or 0.0, eps1=eps1, eps2=eps2,
              clip_threshold=options.get("clip_threshold", 1.0),
              decay_rate=-options.get("decay_rate", -0.8),
              beta1=beta1 or 0.0, first_moment=beta1 is not None,
              weight_decay=options.get("weight_decay", 0.0),
              scale_parameter=options.get("scale_parameter", True),
              relative_step=options.get("relative_step", True),
              warmup_init=options.get("warmup_init", False))
    p = param.copy()
    states = R.init_states("adafactor", p, first_moment=beta1 is not None)
    factored = len(shape) >= 2
    for t, (g, (want_p, want_states)) in enumerate(zip(grads, expected), 1):
        p, states = R.adafactor(p, g, states, t=t, **kw)
        np.testing.assert_allclose(p, want_p, rtol=RTOL, atol=ATOL,
                                   err_msg="step %d" % t)
        if beta1 is not None:
            np.testing.assert_allclose(states["exp_avg"],
                                       want_states["exp_avg"], rtol=RTOL,
                                       atol=ATOL)
        if factored:
            for k in ("exp_avg_sq_row", "exp_avg_sq_col"):
                np.testing.assert_allclose(states[k], want_states[k],
                                           rtol=RTOL, atol=ATOL)
        else:
            # A vector's second moment is the column state; its one-element
            # row state is that moment's mean.
            v = want_states["exp_avg_sq"]
            np.testing.assert_allclose(states["exp_avg_sq_col"], v,
                                       rtol=RTOL, atol=ATOL)
            np.testing.assert_allclose(states["exp_avg_sq_row"],
                                       [np.mean(v)], rtol=RTOL, atol=ATOL)


def test_adafactor_state_shapes():
    for shape, rows, cols in [((), (1,), ()), ((37,), (1,), (37,)),
                              ((33, 16), (33,), (16,)),
                              ((4, 3, 5, 6), (4, 3, 5), (4, 3, 6))]:
        states = R.init_states("adafactor", np.zeros(shape, np.float32))
        assert states["exp_avg"].shape == shape
        assert states["exp_avg_sq_row"].shape == rows
        assert states["exp_avg_sq_col"].shape == cols
        assert all(v.dtype == np.float32 for v in states.values())
    assert set(R.init_states("adafactor", np.zeros(3), first_moment=False)) \
        == {"exp_avg_sq_row", "exp_avg_sq_col"}


def test_adafactor_clamps_keep_a_zero_gradient_finite():
    """With eps1 = 0 a zero gradient makes every mean 0: the unclamped form
    divides 0 by 0, MindSpore's clamps leave the parameter where weight
    decay puts it."""
    for shape in [(6,), (3, 4), (2, 3, 4)]:
        p = np.random.default_rng(2).standard_normal(shape)
        states = R.init_states("adafactor", p)
        new_p, new_states = R.adafactor(p, np.zeros(shape), states, t=1,
                                        learning_rate=0.0, eps1=0.0,
                                        weight_decay=0.1)
        alpha = 1e-2 * math.sqrt(np.mean(p * p))
        np.testing.assert_allclose(new_p, p * (1.0 - 0.1 * alpha),
                                   rtol=1e-14)
        assert np.all(new_states["exp_avg_sq_col"] == 1e-30)
        assert np.all(new_states["exp_avg_sq_row"] == 0.0)
        assert np.all(new_states["exp_avg"] == 0.0)


def test_adafactor_mindspore_mode_decays_every_parameter():
    """MindSpore's AdaFactor: no scale_grad, the optimizer's weight decay on
    every parameter; the uniform mode (the compiled step) unscales the
    gradient and leaves 'gamma' undecayed."""
    rng = np.random.default_rng(8)
    params = [("fc.weight", rng.standard_normal((4, 5))),
              ("bn.gamma", rng.standard_normal(5))]
    grads = [[rng.standard_normal(p.shape) for _, p in params]
             for _ in range(3)]
    kw = dict(weight_decay=0.1, loss_scale=4.0)
    ms = R.ReferenceOptimizer("adafactor", params, **kw)
    uniform = R.ReferenceOptimizer("adafactor", params, mode="uniform", **kw)
    plain = R.ReferenceOptimizer("adafactor", params, weight_decay=0.1,
                                 mode="uniform")
    for gs in grads:
        ms.step([4.0 * g for g in gs])
        uniform.step([4.0 * g for g in gs])
        plain.step(gs)
    # The update is invariant to the gradient's scale but for eps1: not
    # unscaling changes nothing measurable.
    np.testing.assert_allclose(uniform.param("fc.weight"),
                               ms.param("fc.weight"), rtol=1e-12)
    np.testing.assert_allclose(uniform.param("bn.gamma"),
                               plain.param("bn.gamma"), rtol=1e-12)
    assert not np.allclose(ms.param("bn.gamma"), uniform.param("bn.gamma"),
                           rtol=1e-9, atol=0)


# ---------------------------------------------------------------------------
# Learning rates
# ---------------------------------------------------------------------------

def test_schedule_hand_values():
    close = lambda a, b: math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15)
    # exponential: 0.1 * 0.9 ** (2/4)
    assert close(R.exponential_decay(2, 0.1, 0.9, 4), 0.1 * math.sqrt(0.9))
    assert close(R.exponential_decay(2, 0.1, 0.9, 4, True), 0.1)
    assert close(R.exponential_decay(9, 0.1, 0.9, 4, True), 0.1 * 0.81)
    # natural exp: MindSpore's code uses p = step (stair: floor(step/ds)*ds)
    assert close(R.natural_exp_decay(2, 0.1, 0.9, 4), 0.1 * math.exp(-1.8))
    assert close(R.natural_exp_decay(2, 0.1, 0.9, 4, True), 0.1)
    assert close(R.natural_exp_decay(5, 0.1, 0.9, 4, True), 0.1 * math.exp(-3.6))
    assert close(R.natural_exp_decay(2, 0.1, 0.9, 4, variant="documented"), 0.1 * math.exp(-0.45))
    assert close(R.natural_exp_decay(5, 0.1, 0.9, 4, True, variant="documented"), 0.1 * math.exp(-0.9))
    # inverse: 0.1 / (1 + 0.9 * 0.5)
    assert close(R.inverse_decay(2, 0.1, 0.9, 4), 0.1 / 1.45)
    assert close(R.inverse_decay(2, 0.1, 0.9, 4, True), 0.1)
    assert close(R.inverse_decay(8, 0.1, 0.9, 4, True), 0.1 / 2.8)
    # cosine, step clamped to decay_steps
    assert close(R.cosine_decay(0, 0.01, 0.1, 4), 0.1)
    assert close(R.cosine_decay(2, 0.01, 0.1, 4), 0.055)
    assert close(R.cosine_decay(4, 0.01, 0.1, 4), 0.01)
    assert close(R.cosine_decay(10, 0.01, 0.1, 4), 0.01)
    # polynomial: 0.09 * (1 - 2/4) ** 0.5 + 0.01
    assert close(R.polynomial_decay(2, 0.1, 0.01, 4, 0.5), 0.09 * math.sqrt(0.5) + 0.01)
    assert close(R.polynomial_decay(10, 0.1, 0.01, 4, 0.5), 0.01)
    assert close(R.polynomial_decay(0, 0.1, 0.01, 4, 2.0, True), 0.1)
    assert close(R.polynomial_decay(6, 0.1, 0.01, 4, 0.5, True), 0.09 * 0.5 + 0.01)  # d = 8
    assert close(R.polynomial_decay(8, 0.1, 0.01, 4, 0.5, True), 0.01)
    # warmup
    assert [R.warmup(s, 0.1, 2) for s in (0, 1, 2, 5)] == [0.0, 0.05, 0.1, 0.1]
    # piecewise
    got = [R.piecewise(s, [2, 5, 10], [0.1, 0.05, 0.01]) for s in (0, 1, 2, 4, 5, 9, 10, 100)]
    assert got == [0.1, 0.1, 0.05, 0.05, 0.01, 0.01, 0.01, 0.01]
    f = R.make_schedule("inverse_decay", learning_rate=0.1, decay_rate=0.9, decay_steps=4)
    assert close(f(2), 0.1 / 1.45)


def test_list_helpers_hand_values():
    def close(a, b):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert math.isclose(x, y, rel_tol=1e-12, abs_tol=1e-15), (a, b)

    close(R.piecewise_constant_lr([2, 5, 10], [0.1, 0.05, 0.01]),
          [0.1, 0.1, 0.05, 0.05, 0.05, 0.01, 0.01, 0.01, 0.01, 0.01])
    close(R.exponential_decay_lr(0.1, 0.9, 6, 2, 1), [0.1, 0.1, 0.09, 0.09, 0.081, 0.081])
    close(R.exponential_decay_lr(0.1, 0.9, 6, 1, 2, True), [0.1, 0.1, 0.09, 0.09, 0.081, 0.081])
    e = 0.1 * math.exp(-0.9 * 2)
    close(R.natural_exp_decay_lr(0.1, 0.9, 6, 2, 2, True), [0.1, 0.1, 0.1, 0.1, e, e])
    close(R.natural_exp_decay_lr(0.1, 0.9, 4, 1, 3), [0.1 * math.exp(-0.9 * k) for k in range(4)])
    close(R.inverse_decay_lr(0.1, 0.5, 6, 1, 1, True), [0.1 / (1 + 0.5 * k) for k in range(6)])
    close(R.inverse_decay_lr(0.1, 0.5, 4, 1, 2), [0.1 / (1 + 0.25 * k) for k in range(4)])
    close(R.cosine_decay_lr(0.01, 0.1, 6, 2, 2), [0.1, 0.1, 0.055, 0.055, 0.01, 0.01])
    q = 0.09 * math.sqrt(0.5) + 0.01
    close(R.polynomial_decay_lr(0.1, 0.01, 6, 2, 2, 0.5), [0.1, 0.1, q, q, 0.01, 0.01])
    # update_decay_epoch: epoch 3 -> d = 2*ceil(3/2) = 4 -> 0.09*(1-3/4)**0.5 + 0.01
    close(R.polynomial_decay_lr(0.1, 0.01, 4, 1, 2, 0.5, True),
          [0.1, 0.09 * math.sqrt(0.5) + 0.01, 0.01, 0.09 * 0.5 + 0.01])
    close(R.warmup_lr(0.1, 6, 2, 2), [0.0, 0.0, 0.05, 0.05, 0.1, 0.1])


def test_per_step_list_past_its_end_uses_last_value():
    assert [R.lr_at([0.1, 0.05, 0.025], s) for s in range(6)] == [0.1, 0.05, 0.025, 0.025, 0.025, 0.025]
    assert R.lr_at(np.array(0.3), 7) == 0.3
    opt = R.ReferenceOptimizer("sgd", [("w", np.zeros(3))], learning_rate=[0.1, 0.05, 0.025])
    seen = []
    for _ in range(5):
        seen.append(opt.get_lr())
        opt.step([np.ones(3)])
    assert seen == [0.1, 0.05, 0.025, 0.025, 0.025]
    np.testing.assert_allclose(opt.param("w"), -(0.1 + 0.05 + 3 * 0.025), rtol=1e-14)
    assert opt.global_step == 5


# ---------------------------------------------------------------------------
# Base-class features
# ---------------------------------------------------------------------------

def test_centralization():
    rng = np.random.default_rng(22)
    g1 = rng.standard_normal(16)
    assert R.centralize(g1) is g1 or np.array_equal(R.centralize(g1), g1)
    g2 = rng.standard_normal((8, 16))
    c2 = R.centralize(g2)
    assert not np.allclose(c2, g2)
    np.testing.assert_allclose(c2, g2 - g2.mean(axis=1, keepdims=True), rtol=1e-14)
    np.testing.assert_allclose(c2.mean(axis=1), 0.0, atol=1e-15)
    g3 = rng.standard_normal((8, 8))
    np.testing.assert_array_equal(R.centralize(g3), g3)
    g4 = rng.standard_normal((4, 32, 3, 3))
    c4 = R.centralize(g4)
    np.testing.assert_allclose(c4.mean(axis=(1, 2, 3)), 0.0, atol=1e-15)
    np.testing.assert_allclose(c4 - g4, np.broadcast_to(-g4.mean(axis=(1, 2, 3))[:, None, None, None],
                                                        g4.shape), rtol=1e-12)
    g5 = rng.standard_normal((16, 8, 3, 3))   # shape[1] = 8: untouched
    np.testing.assert_array_equal(R.centralize(g5), g5)
    assert R.centralization_applies((1, 16)) and not R.centralization_applies((16,))


def test_centralization_only_for_flagged_groups():
    rng = np.random.default_rng(23)
    a, b = rng.standard_normal((8, 16)), rng.standard_normal((8, 16))
    ga, gb = rng.standard_normal((8, 16)), rng.standard_normal((8, 16))
    opt = R.ReferenceOptimizer("momentum", [{"params": [("a", a)], "grad_centralization": True},
                                            {"params": [("b", b)]}],
                               learning_rate=0.1, momentum=0.0)
    opt.step([ga, gb])
    np.testing.assert_allclose(opt.param("a"), a - 0.1 * R.centralize(ga), rtol=1e-14)
    np.testing.assert_allclose(opt.param("b"), b - 0.1 * gb, rtol=1e-14)
    un = R.ReferenceOptimizer("momentum", [("a", a)], learning_rate=0.1, momentum=0.0)
    un.step([ga])
    np.testing.assert_allclose(un.param("a"), a - 0.1 * ga, rtol=1e-14)


def test_decay_filter_and_loss_scale():
    assert R.decay_filter("conv.weight")
    assert not R.decay_filter("bn.beta") and not R.decay_filter("ln.gamma")
    rng = np.random.default_rng(24)
    names = ["conv.weight", "bn.beta", "bn.gamma"]
    ps = [rng.standard_normal(4) for _ in names]
    gs = [rng.standard_normal(4) for _ in names]
    lr, wd, ls = 0.1, 0.2, 8.0
    opt = R.ReferenceOptimizer("momentum", list(zip(names, ps)), learning_rate=lr, momentum=0.0,
                               weight_decay=wd, loss_scale=ls)
    opt.step([g * ls for g in gs])     # decay wd*ls before unscaling: net g + wd*p
    np.testing.assert_allclose(opt.param("conv.weight"), ps[0] - lr * (gs[0] + wd * ps[0]), rtol=1e-13)
    np.testing.assert_allclose(opt.param("bn.beta"), ps[1] - lr * gs[1], rtol=1e-13)
    np.testing.assert_allclose(opt.param("bn.gamma"), ps[2] - lr * gs[2], rtol=1e-13)
    # grouped: a group with wd > 0 decays every member, whatever its name
    grp = R.ReferenceOptimizer("momentum", [{"params": list(zip(names, ps)), "weight_decay": wd},
                                            ], learning_rate=lr, momentum=0.0)
    grp.step(gs)
    for n, p, g in zip(names, ps, gs):
        np.testing.assert_allclose(grp.param(n), p - lr * (g + wd * p), rtol=1e-13)
    zero = R.ReferenceOptimizer("momentum", [{"params": list(zip(names, ps)), "weight_decay": 0.0}],
                                learning_rate=lr, momentum=0.0, weight_decay=wd)
    zero.step(gs)
    np.testing.assert_allclose(zero.param("conv.weight"), ps[0] - lr * gs[0], rtol=1e-13)
    # FTRL (MindSpore): ungrouped parameters all decay
    f = R.ReferenceOptimizer("ftrl", list(zip(names, ps)), weight_decay=wd)
    f0 = R.ReferenceOptimizer("ftrl", list(zip(names, ps)))
    f.step(gs)
    f0.step([g + wd * p for g, p in zip(gs, ps)])
    np.testing.assert_allclose(f.param("bn.gamma"), f0.param("bn.gamma"), rtol=1e-13)


def test_order_params_and_group_lr():
    a, b, c = np.zeros(2), np.zeros(3), np.zeros(4)
    opt = R.ReferenceOptimizer("momentum", [{"params": [("a", a), ("b", b)]},
                                            {"params": [("c", c)], "lr": 0.5},
                                            {"order_params": ["c", "a", "b"]}],
                               learning_rate=0.1, momentum=0.9)
    assert opt.names == ["c", "a", "b"]
    assert opt.get_lr() == (0.5, 0.1, 0.1)
    opt.step([np.ones(4), np.ones(2), np.ones(3)])
    np.testing.assert_allclose(opt.param("c"), -0.5)
    np.testing.assert_allclose(opt.param("a"), -0.1)


def test_constructor_checks():
    p = [("w", np.zeros(2))]
    with pytest.raises(KeyError):
        R.ReferenceOptimizer("sgd", [{"params": p, "momentum": 0.1}])
    with pytest.raises(RuntimeError):
        R.ReferenceOptimizer("sgd", [{"params": p}, {"params": p}])
    with pytest.raises(ValueError):
        R.ReferenceOptimizer("sgd", [{"params": p}, {"order_params": ["w", "x"]}])
    with pytest.raises(ValueError):
        R.ReferenceOptimizer("sgd", [{"params": p}, {"order_params": ["w"], "lr": 0.1}])
    with pytest.raises(ValueError):
        R.ReferenceOptimizer("sgd", p, weight_decay=-1.0)
    with pytest.raises(ValueError):
        R.ReferenceOptimizer("sgd", p, loss_scale=0.0)
    with pytest.raises(ValueError):
        R.ReferenceOptimizer("sgd", p, learning_rate=-0.1)
    with pytest.raises(ValueError):
        R.ReferenceOptimizer("sgd", [{"params": p, "lr": [0.1, 0.2]},
                                     {"params": [("v", np.zeros(1))], "lr": [0.1]}])
    with pytest.raises(ValueError):
        R.ReferenceOptimizer("sgd", p, nesterov=True, momentum=0.0)
    with pytest.raises(ValueError):
        R.ReferenceOptimizer("sgd", [])
    with pytest.raises(ValueError):
        R.ReferenceOptimizer("adam_weight_decay", p, loss_scale=2.0)
    with pytest.raises(TypeError):
        R.ReferenceOptimizer("momentum", p, learning_rate=0.1)  # momentum has no default


def test_float32_mode():
    params, grads = make_data(25)
    p32 = [p.astype(np.float32) for p in params]
    g32 = [[g.astype(np.float32) for g in gs] for gs in grads]
    r32, opt = run_ref("adam", p32, g32, learning_rate=0.01, dtype=np.float32)
    r64, _ = run_ref("adam", params, grads, learning_rate=0.01)
    assert all(p.dtype == np.float32 for p in opt.params)
    assert all(v.dtype == np.float32 for s in opt.states for v in s.values())
    assert_hist_close(r32, r64, rtol=2e-4, atol=2e-5)
    assert max_rel_diff(r32, r64) > 0   # really computed in float32


def test_uniform_and_mindspore_modes_agree_for_momentum():
    params, grads = make_data(26)
    a, _ = run_ref("momentum", params, grads, learning_rate=0.05, momentum=0.9, weight_decay=0.01,
                   loss_scale=4.0, grad_scale=4.0)
    b, _ = run_ref("momentum", params, grads, learning_rate=0.05, momentum=0.9, weight_decay=0.01,
                   loss_scale=4.0, grad_scale=4.0, mode="uniform")
    assert_hist_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("mode", ["mindspore", "uniform"])
@pytest.mark.parametrize("rule", sorted(R.RULES))
def test_every_rule_runs_in_both_modes(rule, mode):
    params, grads = make_data(27, shapes=[(6,), (4, 16)], steps=20)
    kw = {"momentum": 0.9} if rule in ("momentum", "lars") else {}
    lr = 0.01 if rule != "lamb" else 0.1
    hist, opt = run_ref(rule, params, grads, learning_rate=lr, weight_decay=0.01, **kw)
    assert opt.global_step == 20
    for p0, p in zip(params, opt.params):
        assert np.all(np.isfinite(p)) and not np.allclose(p, p0)
