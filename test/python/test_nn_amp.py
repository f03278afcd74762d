"""Dynamic loss scaling and global-norm clipping in ``optim_mlir.nn``:
``DynamicLossScaleUpdateCell`` as an optimizer's ``loss_scale`` and the
``max_grad_norm`` keyword (docs/Python-nn.md, "Loss scaling and clipping").

References, all NumPy:

* the update: ``reference.ReferenceOptimizer`` (MindSpore's formulas, mode
  "mindspore", float64) with ``loss_scale=1`` on the unscaled gradients, as
  MindSpore's ``TrainOneStepWithLossScaleCell`` hands them to its optimizer
  (it divides by the scale before the optimizer);
* the scale: MindSpore's ``DynamicLossScaleUpdateCell.construct`` written
  out below (``cur_iter``, ``last_overflow_iter``, float32 arithmetic as
  its Tensors hold it);
* clipping: ``g * min(1, max_norm / (norm + 1e-6))`` of the unscaled
  gradients (torch's ``clip_grad_norm_``; MindSpore's ``clip_by_global_norm``
  has no ``1e-6``, checked separately).

Tolerances: float32 parameters against the float64 reference over 60 steps
``rtol=1e-4, atol=1e-5`` (parameters of magnitude ~1); float16 parameters
(reference rounded to float16 after each step) ``rtol=4e-3, atol=4e-3``; the
global norm to ``1e-9`` relative (both sum squares in float64); a skipped
step changes nothing, bit for bit.
"""

import math

import numpy as np
import pytest
import torch

from optim_mlir import nn
from reference import ReferenceOptimizer

SHAPES = {"w1": (16, 32), "bias": (33,), "w3": (4, 3, 5)}
# Steps whose scaled gradients get an inf or a NaN (runs of two and three
# overflows, and clean stretches longer than the scale window).
INJECT = {5: np.inf, 6: np.nan, 17: -np.inf, 30: np.nan, 31: np.inf,
          32: np.inf, 44: np.nan, 52: np.inf}
STEPS = 60
RTOL, ATOL = 1e-4, 1e-5


class MindSporeUpdateCell:
    """MindSpore's ``DynamicLossScaleUpdateCell.construct`` as its graph
    computes it (float32 scale, int32 counters)."""

    def __init__(self, loss_scale_value, scale_factor, scale_window):
        self.scale = np.float32(loss_scale_value)
        self.factor = np.float32(scale_factor)
        self.window = scale_window
        self.cur_iter, self.last_overflow_iter = 1, 0

    def __call__(self, overflow):
        on_overflow = max(self.scale * (np.float32(1) / self.factor),
                          np.float32(1)) if overflow else self.scale
        should_inc = self.window <= self.cur_iter - self.last_overflow_iter
        if overflow or should_inc:
            self.last_overflow_iter = self.cur_iter
        self.scale = np.float32(on_overflow * self.factor) \
            if should_inc and not overflow else np.float32(on_overflow)
        self.cur_iter += 1
        return overflow


def _params(dtype=np.float32, seed=0, shapes=SHAPES):
    rng = np.random.default_rng(seed)
    return [nn.Parameter(rng.standard_normal(s).astype(dtype), n)
            for n, s in shapes.items()]


def _pairs(params):
    return [(p.name, p.asnumpy().astype(np.float64)) for p in params]


def _snapshot(opt):
    sd = opt.state_dict()
    arrays = [a.copy() for a in sd["parameters"].values()]
    for entries in sd["states"].values():
        arrays += [a.copy() for a in entries.values()]
    return arrays


def _unscaled_gradients(rng, params, step, dtype=np.float32):
    # Alternating magnitudes: the global norm crosses max_grad_norm.
    sigma = 0.02 if step % 3 else 0.3
    return [(rng.standard_normal(p.shape) * sigma).astype(dtype)
            for p in params]


def _clip(grads64, max_norm):
    norm = math.sqrt(sum(float((g * g).sum()) for g in grads64))
    if max_norm is None:
        return grads64, norm
    factor = min(1.0, max_norm / (norm + 1e-6))
    return [g * factor for g in grads64], norm


def _drive(opt, cell, ref, params, max_norm, steps=STEPS, seed=1,
           dtype=np.float32, rtol=RTOL, atol=ATOL, round_ref=None,
           inject=INJECT, ms_cell=None):
    """Steps ``opt`` (scaled gradients) and the reference (unscaled,
    clipped, skipped on overflow); checks every step."""
    rng = np.random.default_rng(seed)
    skipped = 0
    for step in range(steps):
        scale = opt.loss_scale
        if ms_cell is not None:
            assert scale == float(ms_cell.scale)
        unscaled = _unscaled_gradients(rng, params, step, dtype)
        scaled = [(u.astype(np.float64) * scale).astype(dtype)
                  for u in unscaled]
        if step in inject:
            k = step % len(scaled)
            flat = scaled[k].reshape(-1)
            flat[(step * 7) % flat.size] = inject[step]
        overflow = not all(np.isfinite(g).all() for g in scaled)
        before = _snapshot(opt)
        global_step = int(opt.global_step)
        result = opt(scaled)
        assert opt.overflow == overflow
        assert result is (not overflow)
        if ms_cell is not None:
            ms_cell(overflow)
        if overflow:
            skipped += 1
            assert not math.isfinite(opt.grad_norm)
            for a, b in zip(before, _snapshot(opt)):
                assert a.tobytes() == b.tobytes()
            assert int(opt.global_step) == global_step
            continue
        grads64 = [g.astype(np.float64) / scale for g in scaled]
        clipped, norm = _clip(grads64, max_norm)
        assert opt.grad_norm == pytest.approx(norm, rel=1e-9)
        ref.step(clipped)
        if round_ref is not None:
            round_ref(ref)
        assert int(opt.global_step) == global_step + 1 == ref.global_step
        for p, r in zip(params, ref.params):
            np.testing.assert_allclose(p.asnumpy().astype(np.float64), r,
                                       rtol=rtol, atol=atol,
                                       err_msg="step %d %s" % (step, p.name))
    assert skipped == len([s for s in inject if s < steps])
    if cell is not None:
        assert cell.get_loss_scale() == opt.loss_scale
        assert cell.cur_iter == steps + 1


RULES = [
    ("Momentum", "momentum", dict(learning_rate=0.05, momentum=0.9,
                                  weight_decay=1e-3), {}),
    ("Adam", "adam", dict(learning_rate=1e-3, weight_decay=1e-2), {}),
    ("AdamWeightDecay", "adam_weight_decay",
     dict(learning_rate=1e-3, weight_decay=1e-2), {}),
    ("Lamb", "lamb", dict(learning_rate=1e-3, weight_decay=1e-2), {}),
]


@pytest.mark.parametrize("cls_name,rule,kwargs,hyper", RULES,
                         ids=[r[0] for r in RULES])
@pytest.mark.parametrize("max_norm", [None, 1.0])
def test_dynamic_scale_and_clipping_match_mindspore(cls_name, rule, kwargs,
                                                    hyper, max_norm):
    """60 steps with eight injected infs/NaNs: skipped steps change nothing,
    the scale follows MindSpore's update cell (factor 2, window 4), the
    update follows MindSpore's formulas on the unscaled (clipped)
    gradients."""
    params = _params()
    cell = nn.DynamicLossScaleUpdateCell(2.0 ** 12, 2, 4)
    opt = getattr(nn, cls_name)(params, loss_scale=cell,
                                max_grad_norm=max_norm, **kwargs)
    ref = ReferenceOptimizer(rule, _pairs(params), **kwargs, **hyper)
    ms_cell = MindSporeUpdateCell(2.0 ** 12, 2, 4)
    _drive(opt, cell, ref, params, max_norm, ms_cell=ms_cell)
    assert cell.last_overflow_iter == ms_cell.last_overflow_iter
    text = opt.compiled_ir()[0]
    assert "dynamic<growth_factor = 2.0, backoff_factor = 0.5, " \
        "growth_interval = 4, min_scale = 1.0>" in text
    assert ("max_grad_norm" in text) == (max_norm is not None)


def test_clipping_happens_on_some_steps():
    """The gradients of _drive cross the norm: some steps clip, some not."""
    rng = np.random.default_rng(1)
    params = _params()
    norms = []
    for step in range(30):
        u = _unscaled_gradients(rng, params, step)
        norms.append(math.sqrt(sum(float((g.astype(np.float64) ** 2).sum())
                                   for g in u)))
    assert min(norms) < 1.0 < max(norms)


def test_groups_with_centralization_and_own_rates():
    """Grouped Adam (own lr, own weight decay, grad_centralization) with a
    dynamic scale and clipping, against the grouped reference."""
    params = _params()
    groups = [{"params": params[:1], "lr": 2e-3, "weight_decay": 1e-2,
               "grad_centralization": True},
              {"params": params[1:], "weight_decay": 0.0}]
    cell = nn.DynamicLossScaleUpdateCell(2.0 ** 10, 2, 3)
    opt = nn.Adam(groups, learning_rate=1e-3, loss_scale=cell,
                  max_grad_norm=0.5)
    pairs = _pairs(params)
    ref = ReferenceOptimizer(
        "adam", [{"params": pairs[:1], "lr": 2e-3, "weight_decay": 1e-2,
                  "grad_centralization": True},
                 {"params": pairs[1:], "weight_decay": 0.0}],
        learning_rate=1e-3)
    _drive(opt, cell, ref, params, 0.5,
           ms_cell=MindSporeUpdateCell(2.0 ** 10, 2, 3))


def test_float16_parameters_overflow_by_themselves():
    """float16 Momentum with a large scale: the scaled float16 gradients
    overflow by themselves until the scale has come down (plus the injected
    infs); the reference is rounded to float16 after each step."""
    params = _params(np.float16)
    cell = nn.DynamicLossScaleUpdateCell(2.0 ** 16, 2, 5)
    opt = nn.Momentum(params, 0.01, 0.9, loss_scale=cell, max_grad_norm=2.0)
    ref = ReferenceOptimizer("momentum", _pairs(params), learning_rate=0.01,
                             momentum=0.9)

    def round_ref(r):
        r.params = [p.astype(np.float16).astype(np.float64) for p in r.params]
        for st in r.states:
            for k in st:
                st[k] = st[k].astype(np.float16).astype(np.float64)

    rng = np.random.default_rng(4)
    ms_cell = MindSporeUpdateCell(2.0 ** 16, 2, 5)
    natural, scales = 0, []
    for step in range(STEPS):
        scale = opt.loss_scale
        assert scale == float(ms_cell.scale)
        scales.append(scale)
        unscaled = _unscaled_gradients(rng, params, step, np.float16)
        with np.errstate(over="ignore"):
            scaled = [(u.astype(np.float64) * scale).astype(np.float16)
                      for u in unscaled]
        if step in (40, 41):
            scaled[0][0, 0] = np.nan
        overflow = not all(np.isfinite(g).all() for g in scaled)
        natural += overflow and step not in (40, 41)
        before = _snapshot(opt)
        opt(scaled)
        ms_cell(overflow)
        assert opt.overflow == overflow
        if overflow:
            for a, b in zip(before, _snapshot(opt)):
                assert a.tobytes() == b.tobytes()
            continue
        clipped, _ = _clip([g.astype(np.float64) / scale for g in scaled], 2.0)
        ref.step(clipped)
        round_ref(ref)
        for p, r in zip(params, ref.params):
            np.testing.assert_allclose(p.asnumpy().astype(np.float64), r,
                                       rtol=4e-3, atol=4e-3)
    assert natural >= 2
    assert min(scales) <= 2.0 ** 14


def test_non_power_of_two_factor_rounds_as_documented():
    """scale_factor 3: the compiled step multiplies by 1/3 rounded to
    float64 (MindSpore divides in float32); the scales agree to float32
    precision and equal the float64 sequence exactly."""
    params = _params()
    cell = nn.DynamicLossScaleUpdateCell(1000.0, 3, 2)
    opt = nn.Momentum(params, 0.01, 0.9, loss_scale=cell)
    ms_cell = MindSporeUpdateCell(1000.0, 3, 2)
    expected, good = 1000.0, 0
    rng = np.random.default_rng(2)
    for step in range(40):
        grads = [rng.standard_normal(p.shape).astype(np.float32)
                 for p in params]
        overflow = step % 5 in (0, 1)
        if overflow:
            grads[1][0] = np.inf
        opt(grads)
        ms_cell(overflow)
        if overflow:
            expected, good = max(expected * (1.0 / 3.0), 1.0), 0
        else:
            good += 1
            if good == 2:
                expected, good = expected * 3.0, 0
        assert opt.loss_scale == expected
        assert cell.good_steps == good
        assert opt.loss_scale == pytest.approx(float(ms_cell.scale),
                                               rel=1e-6)


def test_scale_never_falls_below_one():
    params = _params()
    cell = nn.DynamicLossScaleUpdateCell(4.0, 2, 100)
    opt = nn.Momentum(params, 0.01, 0.9, loss_scale=cell)
    for _ in range(5):
        opt([np.full(p.shape, np.nan, np.float32) for p in params])
    assert opt.loss_scale == cell.get_loss_scale() == 1.0
    assert int(opt.global_step) == 0


def test_clipping_is_torch_clip_grad_norm_not_ms_clip_by_global_norm():
    """Static scale 8 and max_grad_norm 1e-5, float64 SGD from zero with
    lr 1: the step is ``-g * max / (norm + 1e-6)`` (torch's
    clip_grad_norm_, checked against torch itself), about 1% from
    MindSpore's ``clip_by_global_norm`` (``g * max / max(norm, max)``)
    at a norm of 1e-4."""
    rng = np.random.default_rng(3)
    shapes = {"a": (20, 5), "b": (7,)}
    params = [nn.Parameter(np.zeros(s), n) for n, s in shapes.items()]
    opt = nn.SGD(params, learning_rate=1.0, loss_scale=8.0,
                 max_grad_norm=1e-5)
    unscaled = [rng.standard_normal(s) for s in shapes.values()]
    norm = math.sqrt(sum(float((u * u).sum()) for u in unscaled))
    unscaled = [u * (1e-4 / norm) for u in unscaled]
    assert opt([u * 8.0 for u in unscaled]) is True
    assert opt.grad_norm == pytest.approx(1e-4, rel=1e-12)
    assert opt.loss_scale == 8.0 and not opt.overflow
    twins = [torch.zeros(s, dtype=torch.float64, requires_grad=True)
             for s in shapes.values()]
    for t, u in zip(twins, unscaled):
        t.grad = torch.tensor(u)
    torch.nn.utils.clip_grad_norm_(twins, 1e-5)
    for p, t, u in zip(params, twins, unscaled):
        torch_step = -t.grad.numpy()
        np.testing.assert_allclose(p.asnumpy(), torch_step, rtol=1e-12)
        np.testing.assert_allclose(p.asnumpy(), -u * 1e-5 / (1e-4 + 1e-6),
                                   rtol=1e-12)
        ms_step = -u * 1e-5 / max(1e-4, 1e-5)
        assert np.abs(p.asnumpy() / ms_step - 1.0).max() == \
            pytest.approx(0.01 / 1.01, rel=1e-6)


def test_clipping_without_dynamic_scale_does_not_skip():
    """max_grad_norm and a static scale: an inf is not skipped (the norm is
    inf, NaN where the inf was), as clip_grad_norm_ then step does."""
    params = _params()
    opt = nn.SGD(params, learning_rate=0.1, max_grad_norm=1.0)
    grads = [np.full(p.shape, 0.01, np.float32) for p in params]
    grads[2][0, 0, 0] = np.inf
    assert opt(grads) is True
    assert opt.overflow and opt.grad_norm == math.inf
    assert int(opt.global_step) == 1
    assert np.isnan(params[2].asnumpy()[0, 0, 0])


def test_static_scale_attributes():
    params = _params()
    opt = nn.Momentum(params, 0.1, 0.9, loss_scale=128)
    assert opt.loss_scale == 128.0 and opt.loss_scale_cell is None
    assert opt.grad_norm is None and opt.overflow is False
    opt([np.ones(p.shape, np.float32) for p in params])
    assert opt.grad_norm is None and opt.overflow is False
    assert opt.max_grad_norm is None
    assert "dynamic" not in opt.compiled_ir()[0]


def _lazy_adam_pair(max_norm, cell_args, dense_second=False):
    params = _params(shapes={"emb": (30, 16), "table": (12, 4)})
    cell = nn.DynamicLossScaleUpdateCell(*cell_args)
    opt = nn.LazyAdam(params, learning_rate=1e-2, weight_decay=1e-3,
                      loss_scale=cell, max_grad_norm=max_norm)
    ref = ReferenceOptimizer("lazy_adam", _pairs(params), learning_rate=1e-2,
                             weight_decay=1e-3)
    return params, cell, opt, ref


@pytest.mark.parametrize("dense_second", [False, True])
def test_sparse_rows_checked_before_the_step(dense_second):
    """LazyAdam with sparse (indices, values) gradients (with duplicate
    rows), and with one sparse and one dense gradient (two compiled parts):
    the checks run in NumPy before the step with the same semantics."""
    params, cell, opt, ref = _lazy_adam_pair(0.5, (2.0 ** 8, 2, 3))
    ms_cell = MindSporeUpdateCell(2.0 ** 8, 2, 3)
    rng = np.random.default_rng(5)
    for step in range(50):
        scale = opt.loss_scale
        assert scale == float(ms_cell.scale)
        grads, unscaled = [], []
        for k, p in enumerate(params):
            sigma = 0.05 if step % 2 else 0.4
            if dense_second and k == 1:
                u = (rng.standard_normal(p.shape) * sigma).astype(np.float32)
                g = (u.astype(np.float64) * scale).astype(np.float32)
                grads.append(g)
                unscaled.append(g.astype(np.float64) / scale)
                continue
            idx = rng.integers(0, p.shape[0], 6).astype(np.int32)
            idx[-1] = idx[0]  # a duplicate row
            u = (rng.standard_normal((6,) + p.shape[1:]) * sigma)
            vals = (u * scale).astype(np.float32)
            grads.append((idx, vals))
            unscaled.append((idx, vals.astype(np.float64) / scale))
        if step in (7, 8, 20, 33):
            target = grads[step % 2]
            (target[1] if isinstance(target, tuple) else target)[0, 0] = \
                np.nan if step % 2 else np.inf
        overflow = not all(np.isfinite(g[1] if isinstance(g, tuple) else g)
                           .all() for g in grads)
        before = _snapshot(opt)
        assert opt(grads) is (not overflow)
        ms_cell(overflow)
        assert opt.overflow == overflow
        if overflow:
            for a, b in zip(before, _snapshot(opt)):
                assert a.tobytes() == b.tobytes()
            continue
        # The norm of the gradients as dense tensors (duplicates summed).
        dense = []
        for p, g in zip(params, unscaled):
            if isinstance(g, tuple):
                d = np.zeros(p.shape)
                np.add.at(d, g[0], g[1])
                dense.append(d)
            else:
                dense.append(g)
        norm = math.sqrt(sum(float((d * d).sum()) for d in dense))
        factor = min(1.0, 0.5 / (norm + 1e-6))
        assert opt.grad_norm == pytest.approx(norm, rel=1e-9)
        ref.step([(g[0], g[1] * factor) if isinstance(g, tuple)
                  else g * factor for g in unscaled])
        for p, r in zip(params, ref.params):
            np.testing.assert_allclose(p.asnumpy(), r, rtol=RTOL, atol=ATOL)
    assert int(opt.global_step) == 46
    assert cell.get_loss_scale() == float(ms_cell.scale)


def test_sparse_rows_clipping_without_dynamic_scale_does_not_skip():
    """Clipping alone, sparse rows checked in NumPy: an inf is not skipped;
    the row that held it becomes NaN, the rows without a gradient keep
    their values."""
    params = _params(shapes={"emb": (30, 16)})
    opt = nn.LazyAdam(params, learning_rate=1e-2, max_grad_norm=1.0)
    before = params[0].asnumpy().copy()
    vals = np.full((3, 16), 0.1, np.float32)
    vals[1, 2] = np.inf
    assert opt([(np.array([2, 5, 7], np.int32), vals)]) is True
    assert opt.overflow and opt.grad_norm == math.inf
    assert int(opt.global_step) == 1
    after = params[0].asnumpy()
    assert np.isnan(after[5, 2])
    untouched = [r for r in range(30) if r not in (2, 5, 7)]
    assert after[untouched].tobytes() == before[untouched].tobytes()


def test_user_defined_construct_gets_the_same_control():
    """A user-defined optimizer: the overflowed step is skipped (construct
    is not called), the clip divides the gradients before construct, and
    scale_grad uses the current scale."""

    class PlainSGD(nn.Optimizer):
        calls = 0

        def construct(self, gradients):
            PlainSGD.calls += 1
            lr = self.get_lr()
            for p, g in zip(self.parameters,
                            self.scale_grad(self.decay_weight(gradients))):
                p.set_data(p.asnumpy() - np.float32(lr) * g)
            return True

    params = _params()
    cell = nn.DynamicLossScaleUpdateCell(64.0, 2, 2)
    opt = PlainSGD(0.1, params, 0.0, cell, max_grad_norm=0.1)
    start = [p.asnumpy().copy() for p in params]
    grads = [np.full(p.shape, 64.0 * 0.01, np.float32) for p in params]
    norm = 0.01 * math.sqrt(sum(p.size for p in params))
    assert opt(grads) is True
    factor = 0.1 / (norm + 1e-6)
    for p, s in zip(params, start):
        np.testing.assert_allclose(p.asnumpy(), s - 0.1 * 0.01 * factor,
                                   rtol=1e-5, atol=1e-7)
    grads[0][0, 0] = np.nan
    after = [p.asnumpy().copy() for p in params]
    assert opt(grads) is False and PlainSGD.calls == 1
    assert opt.loss_scale == 32.0 and int(opt.global_step) == 1
    for p, a in zip(params, after):
        assert p.asnumpy().tobytes() == a.tobytes()


# ------------------------------------------------------------ checkpoints
def _dynamic_adam(params, max_norm=1.0):
    cell = nn.DynamicLossScaleUpdateCell(2.0 ** 12, 2, 4)
    return cell, nn.Adam(params, 1e-3, weight_decay=1e-2, loss_scale=cell,
                         max_grad_norm=max_norm)


def _feed(opt, rng, steps, start):
    for step in range(start, start + steps):
        scale = opt.loss_scale
        grads = [(rng.standard_normal(p.shape) * 0.1 * scale)
                 .astype(np.float32) for p in opt.parameters]
        if step in INJECT:
            grads[step % 3].reshape(-1)[0] = INJECT[step]
        opt(grads)


def test_checkpoint_round_trip_continues_bit_identically(tmp_path):
    params_a = _params()
    cell_a, a = _dynamic_adam(params_a)
    rng = np.random.default_rng(6)
    _feed(a, rng, 35, 0)
    assert a.loss_scale != 2.0 ** 12 or cell_a.good_steps != 0
    path = str(tmp_path / "amp.npz")
    nn.save_checkpoint(a, path)
    params_b = _params(seed=9)
    cell_b, b = _dynamic_adam(params_b)
    b([np.ones(p.shape, np.float32) for p in params_b])  # compiled, stepped
    nn.load_checkpoint(path, b)
    assert b.loss_scale == a.loss_scale
    assert (cell_b.good_steps, cell_b.cur_iter, cell_b.last_overflow_iter) == \
        (cell_a.good_steps, cell_a.cur_iter, cell_a.last_overflow_iter)
    state = rng.bit_generator.state
    _feed(a, rng, 25, 35)
    rng.bit_generator.state = state
    _feed(b, rng, 25, 35)
    for x, y in zip(_snapshot(a), _snapshot(b)):
        assert x.tobytes() == y.tobytes()
    assert (a.loss_scale, int(a.global_step), cell_a.good_steps) == \
        (b.loss_scale, int(b.global_step), cell_b.good_steps)
    assert a.state_dict()["loss_scale"] == b.state_dict()["loss_scale"]


def test_wrong_checkpoints_are_refused_and_change_nothing(tmp_path):
    params = _params()
    cell, opt = _dynamic_adam(params)
    _feed(opt, np.random.default_rng(7), 10, 0)
    before = _snapshot(opt)
    scale, good, cur = cell.get_loss_scale(), cell.good_steps, cell.cur_iter

    def unchanged():
        for x, y in zip(before, _snapshot(opt)):
            assert x.tobytes() == y.tobytes()
        assert (cell.get_loss_scale(), cell.good_steps, cell.cur_iter) == \
            (scale, good, cur)

    static = nn.Adam(_params(), 1e-3, weight_decay=1e-2)
    with pytest.raises(ValueError, match="no dynamic loss scale"):
        opt.load_state_dict(static.state_dict())
    unchanged()
    with pytest.raises(ValueError, match="has a dynamic loss scale"):
        static.load_state_dict(opt.state_dict())
    other_shape = nn.Adam(_params(shapes={"w1": (16, 32), "bias": (34,),
                                          "w3": (4, 3, 5)}), 1e-3,
                          weight_decay=1e-2,
                          loss_scale=nn.DynamicLossScaleUpdateCell(2.0, 2, 4))
    other_shape.loss_scale_cell._scale = 7.0
    with pytest.raises(ValueError, match="shape"):
        opt.load_state_dict(other_shape.state_dict())
    unchanged()
    momentum = nn.Momentum(_params(), 0.1, 0.9,
                           loss_scale=nn.DynamicLossScaleUpdateCell(2.0, 2, 4))
    with pytest.raises(ValueError, match="saved from a 'Momentum'"):
        opt.load_state_dict(momentum.state_dict())
    unchanged()
    sd = opt.state_dict()
    for bad, err in [(dict(sd["loss_scale"], loss_scale=math.inf), ValueError),
                     (dict(sd["loss_scale"], loss_scale=0.0), ValueError),
                     (dict(sd["loss_scale"], good_steps=4), ValueError),
                     (dict(sd["loss_scale"], good_steps=1.0), TypeError),
                     (dict(sd["loss_scale"], cur_iter=0), ValueError),
                     ({"loss_scale": 2.0}, KeyError)]:
        wrong = dict(sd, loss_scale=bad)
        wrong["parameters"] = {k: v + 1 for k, v in sd["parameters"].items()}
        with pytest.raises(err):
            opt.load_state_dict(wrong)
        unchanged()
    path = str(tmp_path / "static.npz")
    nn.save_checkpoint(static, path)
    with pytest.raises(ValueError):
        nn.load_checkpoint(path, opt)
    unchanged()


# ---------------------------------------------------------- bad arguments
@pytest.mark.parametrize("args,err", [
    (("1024", 2, 10), TypeError),
    ((True, 2, 10), TypeError),
    ((0.0, 2, 10), ValueError),
    ((-4.0, 2, 10), ValueError),
    ((math.nan, 2, 10), ValueError),
    ((math.inf, 2, 10), ValueError),
    ((1024.0, 1, 10), ValueError),
    ((1024.0, 0.5, 10), ValueError),
    ((1024.0, "2", 10), TypeError),
    ((1024.0, math.inf, 10), ValueError),
    ((1024.0, 2, 0), ValueError),
    ((1024.0, 2, -3), ValueError),
    ((1024.0, 2, 1.5), TypeError),
    ((1024.0, 2, True), TypeError),
    ((1024.0, 2, 2 ** 31), ValueError),
])
def test_update_cell_arguments(args, err):
    with pytest.raises(err):
        nn.DynamicLossScaleUpdateCell(*args)


def test_update_cell_accepts_mindspore_examples():
    cell = nn.DynamicLossScaleUpdateCell(loss_scale_value=2 ** 12,
                                         scale_factor=2, scale_window=1000)
    assert cell.get_loss_scale() == 4096.0 and cell.loss_scale_value == 4096
    assert (cell.cur_iter, cell.last_overflow_iter) == (1, 0)


@pytest.mark.parametrize("value,err", [(0.0, ValueError), (-1.0, ValueError),
                                       (math.inf, ValueError),
                                       (math.nan, ValueError),
                                       ("1", TypeError), (True, TypeError)])
def test_max_grad_norm_arguments(value, err):
    with pytest.raises(err):
        nn.Momentum(_params(), 0.1, 0.9, max_grad_norm=value)


def test_loss_scale_of_other_types_is_refused():
    with pytest.raises(TypeError):
        nn.Momentum(_params(), 0.1, 0.9, loss_scale="dynamic")
    # MindSpore's AdamWeightDecay, Lamb, ASGD and Rprop take no static
    # loss_scale: only an update cell, as a keyword.
    for cls in (nn.AdamWeightDecay, nn.Lamb):
        with pytest.raises(TypeError, match="DynamicLossScaleUpdateCell"):
            cls(_params(), 1e-3, loss_scale=2.0)
    nn.Lamb(_params(), 1e-3,
            loss_scale=nn.DynamicLossScaleUpdateCell(8.0, 2, 4))


def test_one_cell_drives_one_optimizer():
    cell = nn.DynamicLossScaleUpdateCell(8.0, 2, 4)
    p1, p2 = _params(), _params(seed=1)
    a = nn.Momentum(p1, 0.1, 0.9, loss_scale=cell)
    b = nn.Momentum(p2, 0.1, 0.9, loss_scale=cell)
    a([np.ones(p.shape, np.float32) for p in p1])
    before = [p.asnumpy().copy() for p in p2]
    with pytest.raises(ValueError, match="another optimizer"):
        b([np.ones(p.shape, np.float32) for p in p2])
    for p, x in zip(p2, before):
        assert p.asnumpy().tobytes() == x.tobytes()


def test_max_grad_norm_set_as_attribute_and_changed_at_runtime():
    """``opt.max_grad_norm = x`` before the first step is the keyword; a new
    value later takes effect at the next step without recompiling; turning
    compiled clipping off is refused."""
    pa, pb = _params(), _params()
    a = nn.Adam(pa, 1e-2, max_grad_norm=0.5)
    b = nn.Adam(pb, 1e-2)
    b.max_grad_norm = 0.5
    rng = np.random.default_rng(8)
    for step in range(20):
        if step == 10:
            count = nn._COMPILE_COUNT
            a.max_grad_norm = b.max_grad_norm = 0.05
        grads = _unscaled_gradients(rng, pa, step)
        a(grads)
        b([g.copy() for g in grads])
        assert a.grad_norm == b.grad_norm
        for x, y in zip(_snapshot(a), _snapshot(b)):
            assert x.tobytes() == y.tobytes()
    assert nn._COMPILE_COUNT == count
    # The same steps with the norm changed from step 10 on, in NumPy.
    ref = ReferenceOptimizer("adam", _pairs(_params()), learning_rate=1e-2)
    rng = np.random.default_rng(8)
    for step in range(20):
        grads = [g.astype(np.float64)
                 for g in _unscaled_gradients(rng, pa, step)]
        ref.step(_clip(grads, 0.5 if step < 10 else 0.05)[0])
    for p, r in zip(pa, ref.params):
        np.testing.assert_allclose(p.asnumpy(), r, rtol=RTOL, atol=ATOL)
    with pytest.raises(RuntimeError, match="before the first step"):
        a.max_grad_norm = None
    with pytest.raises(ValueError):
        a.max_grad_norm = -1.0
    assert a.max_grad_norm == 0.05


def test_record_class_clips_through_the_attribute():
    """The classes generated from rule records keep the record's signature;
    clipping is set as an attribute."""
    params = _params()
    opt = nn.Lion(params, loss_scale=nn.DynamicLossScaleUpdateCell(4.0, 2, 2))
    opt.max_grad_norm = 0.1
    grads = [np.full(p.shape, 4.0, np.float32) for p in params]
    opt(grads)
    n = sum(p.size for p in params)
    assert opt.grad_norm == pytest.approx(math.sqrt(n), rel=1e-12)
    assert "max_grad_norm 0.1" in opt.compiled_ir()[0]
    grads[0][0, 0] = np.inf
    assert opt(grads) is False and opt.loss_scale == 2.0
    assert int(opt.global_step) == 1


def test_lars_refuses_dynamic_scale_and_clipping():
    cell = nn.DynamicLossScaleUpdateCell(8.0, 2, 4)
    with pytest.raises(NotImplementedError):
        nn.LARS(nn.Momentum(_params(), 0.1, 0.9, loss_scale=cell))
    with pytest.raises(NotImplementedError):
        nn.LARS(nn.Momentum(_params(), 0.1, 0.9, max_grad_norm=1.0))
    lars = nn.LARS(nn.Momentum(_params(), 0.1, 0.9))
    with pytest.raises(NotImplementedError):
        lars.max_grad_norm = 1.0
