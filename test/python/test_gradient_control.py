"""Global-norm clipping and dynamic loss scaling as options of the compiled
step (``max_grad_norm``, ``loss_scale ... dynamic<...>``), through the
runtime's Python binding (``CompiledOptimizer``).

References: torch's ``clip_grad_norm_`` followed by torch's optimizer, and
torch GradScaler's scale update (``_amp_update_scale_``: on an inf, scale *=
backoff and the count restarts; after ``growth_interval`` clean steps, scale
*= growth), with the step skipped on an inf. Tolerances: float32 updates
(rtol 1e-5, atol 1e-6 on parameters of magnitude ~1) over 30-50 steps; the
norm to 1e-12 relative (both sum in float64)."""
import numpy as np
import pytest
import torch

import optim_mlir
from optim_mlir import ir

SHAPES = [(37, 19), (300,), (5, 4, 3), (1,)]


def _compile(rule, hyper, lr, shapes, dtype="float32", wd=0.0,
             loss_scale=1.0, dynamic=None, max_norm=None, chunk=64,
             groups=None):
    params = [("p%d" % i, s, dtype) for i, s in enumerate(shapes or [])]
    source = ir.optimizer_ir(rule, hyper, params=None if groups else params,
                             groups=groups, learning_rate=lr,
                             weight_decay=wd, loss_scale=loss_scale,
                             dynamic_loss_scale=dynamic,
                             max_grad_norm=max_norm)
    return optim_mlir.CompiledOptimizer(source, "chunk-size=%d" % chunk)


def _states(opt, params):
    return [np.full(info["state_shapes"][s], opt.state_init_value(i, s),
                    params[i].dtype)
            for i, info in enumerate(opt.params)
            for s in range(len(opt.state_names))]


def test_clipping_matches_clip_grad_norm_then_sgd():
    """torch.nn.utils.clip_grad_norm_ then torch.optim.SGD (momentum,
    weight decay), 40 steps, chunks of 64 elements (the norm adds up many
    chunks' partial sums); about half the steps clip."""
    rng = np.random.default_rng(1)
    opt = _compile("sgd", {"momentum": 0.9, "dampening": 0.0}, 0.05, SHAPES,
                   max_norm=3.0)
    params = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    states = _states(opt, params)
    twins = [torch.tensor(p.copy(), requires_grad=True) for p in params]
    ref = torch.optim.SGD(twins, lr=0.05, momentum=0.9)
    clipped = 0
    for step in range(40):
        scale = 0.05 if step % 2 else 0.2
        grads = [(rng.standard_normal(s) * scale).astype(np.float32)
                 for s in SHAPES]
        for t, g in zip(twins, grads):
            t.grad = torch.tensor(g.copy())
        norm = torch.nn.utils.clip_grad_norm_(twins, 3.0)
        ref.step()
        opt.step(params, grads, states)
        status = opt.step_status()
        exact = np.sqrt(sum((g.astype(np.float64) ** 2).sum() for g in grads))
        assert status["grad_norm"] == pytest.approx(exact, rel=1e-12)
        assert float(norm) == pytest.approx(status["grad_norm"], rel=1e-6)
        assert status["clip_factor"] == pytest.approx(
            max(1.0, (exact + 1e-6) / 3.0), rel=1e-12)
        clipped += status["clip_factor"] > 1.0
        assert not status["found_inf"]
        for p, t in zip(params, twins):
            np.testing.assert_allclose(p, t.detach().numpy(), rtol=1e-5,
                                       atol=1e-6)
    assert 10 < clipped < 30
    assert opt.global_step == 40


def test_clipping_with_loss_scale_and_decay_matches_numpy():
    """MindSpore's AdamWeightDecay (no bias correction, decay added to the
    update) with a static loss scale: the gradients are unscaled before the
    norm and the clip; the decay is not clipped. float64 reference from the
    formulas, 30 steps."""
    rng = np.random.default_rng(2)
    hyper = {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8}
    opt = _compile("adam_weight_decay", hyper, 1e-2, SHAPES, wd=0.1,
                   loss_scale=128.0, max_norm=0.5)
    params = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    states = _states(opt, params)
    ref = [p.astype(np.float64) for p in params]
    m = [np.zeros(s) for s in SHAPES]
    v = [np.zeros(s) for s in SHAPES]
    for step in range(30):
        grads = [(rng.standard_normal(s) * 128.0 * 0.1).astype(np.float32)
                 for s in SHAPES]
        g = [x.astype(np.float64) / 128.0 for x in grads]
        norm = np.sqrt(sum((x ** 2).sum() for x in g))
        c = min(1.0, 0.5 / (norm + 1e-6))
        for i in range(len(SHAPES)):
            gi = g[i] * c
            m[i] = 0.9 * m[i] + 0.1 * gi
            v[i] = 0.999 * v[i] + 0.001 * gi * gi
            ref[i] -= 1e-2 * (m[i] / (np.sqrt(v[i]) + 1e-8) + 0.1 * ref[i])
        opt.step(params, grads, states)
        assert opt.step_status()["clip_factor"] > 1.0
    for p, r in zip(params, ref):
        np.testing.assert_allclose(p, r, rtol=1e-4, atol=1e-5)


def test_clipping_with_centralization_matches_numpy():
    """A centralized weight (a reduction class; MindSpore centralizes
    weights whose second dimension is a multiple of 16) with clipping, in
    chunks of two rows: the row sums see the clipped gradient."""
    rng = np.random.default_rng(3)
    groups = [{"params": [("w", (12, 32), "float32")], "lr": 0.1,
               "grad_centralization": True},
              {"params": [("b", (9,), "float32")], "lr": 0.1}]
    opt = _compile("sgd", {"momentum": 0.0, "dampening": 0.0}, 0.1, None,
                   groups=groups, max_norm=1.0, chunk=64)
    params = [rng.standard_normal((12, 32)).astype(np.float32),
              rng.standard_normal(9).astype(np.float32)]
    states = _states(opt, params)
    ref = [p.astype(np.float64) for p in params]
    for step in range(10):
        grads = [rng.standard_normal(p.shape).astype(np.float32)
                 for p in params]
        g64 = [g.astype(np.float64) for g in grads]
        norm = np.sqrt(sum((g ** 2).sum() for g in g64))
        c = min(1.0, 1.0 / (norm + 1e-6))
        w = g64[0] * c
        w = w - w.mean(axis=1, keepdims=True)
        ref[0] -= 0.1 * w
        ref[1] -= 0.1 * g64[1] * c
        opt.step(params, grads, states)
        for p, r in zip(params, ref):
            np.testing.assert_allclose(p, r, rtol=1e-5, atol=1e-6)


class _GradScalerReference:
    """torch GradScaler's scale update (torch/_refs and
    aten/src/ATen/native/cuda/AmpKernels.cu `_amp_update_scale_`)."""

    def __init__(self, scale, growth, backoff, interval, min_scale=0.0):
        self.scale, self.growth, self.backoff = scale, growth, backoff
        self.interval, self.min_scale, self.tracker = interval, min_scale, 0

    def update(self, found_inf):
        if found_inf:
            self.scale = max(self.scale * self.backoff, self.min_scale)
            self.tracker = 0
        else:
            successful = self.tracker + 1
            if successful == self.interval:
                grown = self.scale * self.growth
                if np.isfinite(grown):
                    self.scale = grown
                self.tracker = 0
            else:
                self.tracker = successful


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_dynamic_loss_scale_skips_and_matches_gradscaler(dtype):
    """Adam with a dynamic scale, 50 steps with an inf or NaN in one
    gradient now and then: those steps leave every parameter and state
    bit-identical and do not count (Adam's bias correction uses the count of
    real steps); the scale
    and the count of clean steps follow GradScaler."""
    rng = np.random.default_rng(4)
    hyper = {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8}
    dynamic = {"growth_factor": 2.0, "backoff_factor": 0.5,
               "growth_interval": 4, "min_scale": 0.0}
    opt = _compile("adam", hyper, 1e-2, SHAPES, dtype=dtype,
                   loss_scale=2.0 ** 10, dynamic=dynamic)
    np_dtype = np.dtype(dtype)
    params = [rng.standard_normal(s).astype(np_dtype) for s in SHAPES]
    states = _states(opt, params)
    # MindSpore's Adam kernel in float64, t = the count of real steps.
    ref = [p.astype(np.float64) for p in params]
    m = [np.zeros(s) for s in SHAPES]
    v = [np.zeros(s) for s in SHAPES]
    scaler = _GradScalerReference(2.0 ** 10, 2.0, 0.5, 4)
    bad_steps = {3, 4, 11, 30, 31, 32}
    taken = 0
    for step in range(50):
        scale = opt.step_status()["loss_scale"]
        assert scale == scaler.scale
        grads = [(rng.standard_normal(s) * 0.1 * scale).astype(np_dtype)
                 for s in SHAPES]
        if step in bad_steps:
            k = step % len(SHAPES)
            grads[k].reshape(-1)[step % grads[k].size] = (
                np.inf if step % 2 else np.nan)
        before = [a.copy() for a in params + states]
        opt.step(params, grads, states)
        status = opt.step_status()
        found = step in bad_steps
        assert status["found_inf"] == found
        scaler.update(found)
        assert status["loss_scale"] == scaler.scale
        assert status["good_steps"] == scaler.tracker
        if found:
            for a, b in zip(before, params + states):
                assert a.tobytes() == b.tobytes(), "a skipped step wrote"
        else:
            taken += 1
            lr_t = 1e-2 * np.sqrt(1 - 0.999 ** taken) / (1 - 0.9 ** taken)
            for i, g in enumerate(grads):
                g = g.astype(np.float64) / scale
                m[i] = 0.9 * m[i] + 0.1 * g
                v[i] = 0.999 * v[i] + 0.001 * g * g
                ref[i] -= lr_t * m[i] / (np.sqrt(v[i]) + 1e-8)
        assert opt.global_step == taken
    for p, r in zip(params, ref):
        if dtype == "float32":
            np.testing.assert_allclose(p, r, rtol=1e-4, atol=1e-5)
        else:
            # float16 states: only that the real steps moved it, finitely
            # (the precision of float16 states is another matter).
            assert np.isfinite(p).all()
            assert np.abs(p.astype(np.float64) - r).max() < 0.1
    assert taken == 50 - len(bad_steps)


def test_mindspore_update_cell_semantics():
    """MindSpore's DynamicLossScaleUpdateCell(scale_factor=2,
    scale_window=3): on overflow scale = max(scale / 2, 1); after 3 clean
    steps scale *= 2. As growth 2, backoff 0.5, interval 3, min_scale 1."""
    dynamic = {"growth_factor": 2.0, "backoff_factor": 0.5,
               "growth_interval": 3, "min_scale": 1.0}
    opt = _compile("sgd", {"momentum": 0.0, "dampening": 0.0}, 0.1, [(4,)],
                   loss_scale=2.0, dynamic=dynamic)
    p = [np.ones(4, np.float32)]
    s = _states(opt, p)
    overflow = [True, True, True, False, False, False, False, True]
    want = []
    scale, window = 2.0, 0
    for bad in overflow:
        if bad:
            scale, window = max(scale / 2, 1.0), 0
        else:
            window += 1
            if window == 3:
                scale, window = scale * 2, 0
        want.append(scale)
    got = []
    for bad in overflow:
        g = [np.full(4, np.inf if bad else 0.5, np.float32)]
        opt.step(p, g, s)
        got.append(opt.step_status()["loss_scale"])
    assert got == want == [1.0, 1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 1.0]


def test_hyper_parameters_of_the_control_are_runtime_data():
    """max_grad_norm and growth_interval are table slots: changing them
    takes effect at the next step, with the same compiled code."""
    dynamic = {"growth_factor": 2.0, "backoff_factor": 0.5,
               "growth_interval": 100, "min_scale": 0.0}
    opt = _compile("sgd", {"momentum": 0.0, "dampening": 0.0}, 1.0, [(4,)],
                   loss_scale=8.0, dynamic=dynamic, max_norm=100.0)
    p = [np.zeros(4, np.float32)]
    s = _states(opt, p)
    opt.set_hyper_param(0, "max_grad_norm", 1.0)
    opt.set_hyper_param(0, "growth_interval", 1)
    opt.step(p, [np.full(4, 8.0 * 3.0, np.float32)], s)
    status = opt.step_status()
    assert status["grad_norm"] == pytest.approx(6.0)
    np.testing.assert_allclose(p[0], -np.full(4, 0.5), rtol=1e-6)
    assert status["loss_scale"] == 16.0
    for name, bad in [("max_grad_norm", 0.0), ("growth_factor", 0.5),
                      ("backoff_factor", 1.5), ("growth_interval", 2.5),
                      ("min_loss_scale", -1.0)]:
        with pytest.raises(ValueError, match=name):
            opt.set_hyper_param(0, name, bad)


def test_loss_scale_state_is_restored_and_checked():
    dynamic = {"growth_factor": 2.0, "backoff_factor": 0.5,
               "growth_interval": 5, "min_scale": 0.0}
    opt = _compile("sgd", {"momentum": 0.0, "dampening": 0.0}, 0.1, [(4,)],
                   loss_scale=4.0, dynamic=dynamic)
    opt.set_loss_scale_state(1024.0, 4)
    status = opt.step_status()
    assert (status["loss_scale"], status["good_steps"]) == (1024.0, 4)
    p = [np.zeros(4, np.float32)]
    opt.step(p, [np.ones(4, np.float32)], _states(opt, p))
    assert opt.step_status()["loss_scale"] == 2048.0
    with pytest.raises(ValueError, match="positive and finite"):
        opt.set_loss_scale_state(float("inf"), 0)
    with pytest.raises(ValueError, match="must not be negative"):
        opt.set_loss_scale_state(2.0, -1)
    assert opt.step_status()["loss_scale"] == 2048.0
    plain = _compile("sgd", {"momentum": 0.0, "dampening": 0.0}, 0.1, [(4,)])
    assert not plain.has_step_status
    with pytest.raises(ValueError, match="no step status"):
        plain.step_status()
    clip_only = _compile("sgd", {"momentum": 0.0, "dampening": 0.0}, 0.1,
                         [(4,)], max_norm=1.0)
    with pytest.raises(ValueError, match="does not scale the loss"):
        clip_only.set_loss_scale_state(2.0, 0)


def test_clipping_without_dynamic_scaling_does_not_skip():
    """Clipping alone follows clip_grad_norm_ on an inf: the clip factor is
    inf, finite gradients become 0, the inf element NaN; the step counts."""
    opt = _compile("sgd", {"momentum": 0.0, "dampening": 0.0}, 0.1, [(4,)],
                   max_norm=1.0)
    p = [np.ones(4, np.float32)]
    g = [np.array([1.0, np.inf, 2.0, 3.0], np.float32)]
    opt.step(p, g, _states(opt, p))
    assert opt.step_status()["found_inf"]
    assert opt.global_step == 1
    t = torch.ones(4, requires_grad=True)
    t.grad = torch.tensor(g[0].copy())
    torch.nn.utils.clip_grad_norm_([t], 1.0)
    with torch.no_grad():
        t -= 0.1 * t.grad
    want = t.detach().numpy()
    np.testing.assert_array_equal(np.isnan(p[0]), np.isnan(want))
    np.testing.assert_allclose(p[0][~np.isnan(p[0])], want[~np.isnan(want)])
