"""Clipping and loss scaling of ``optim_mlir.torch`` optimizers
(``max_grad_norm``, ``loss_scale``, ``DynamicLossScale``, the ``found_inf``,
``loss_scale`` and ``grad_norm`` attributes, their ``state_dict`` entry).

Reference: torch GradScaler's algorithm, written out here for CPU tensors
(torch 1.13's GradScaler takes CUDA tensors only): unscale the gradients by
``1 / scale``; if any is inf or NaN, skip ``optimizer.step()``, multiply the
scale by ``backoff_factor`` and restart the count; else
``torch.nn.utils.clip_grad_norm_`` then the ``torch.optim`` class's
``step()``, and after ``growth_interval`` clean steps in a row multiply the
scale by ``growth_factor``. Random gradients over 60 steps with infs and
NaNs injected. Tolerances: torch's ``assertEqual`` defaults for float32
(``rtol=1.3e-6, atol=1e-5``), as test_torch_port_optim.py; the norm to
``1e-6`` relative (torch sums float32 norms, the step float64 squares); the
scale, the count and ``found_inf`` exactly.
"""

import copy
import inspect
import math
import pickle

import pytest
import torch

import optim_mlir.torch as ot

pytestmark = pytest.mark.usefixtures("float32_default_dtype")

RTOL, ATOL = 1.3e-6, 1e-5
SHAPES = [(13, 7), (40,), (3, 4, 5), (1,)]
BAD_STEPS = {0, 5, 6, 17, 30, 31, 44}


class _Scaler:
    """GradScaler's algorithm on CPU tensors (see the module docstring)."""

    def __init__(self, scale, dynamic):
        self.scale, self.dynamic, self.tracker = scale, dynamic, 0

    def step(self, ref, params, max_norm):
        """Unscale, check, clip and step `ref`; returns (found_inf, the
        norm of the unscaled gradients in float64)."""
        grads = [p.grad for p in params if p.grad is not None]
        inv = 1.0 / self.scale
        for g in grads:
            g.mul_(inv)
        found = not all(bool(torch.isfinite(g).all()) for g in grads)
        norm = math.sqrt(sum(float(g.double().square().sum()) for g in grads))
        if self.dynamic is not None and found:
            self.scale *= self.dynamic.backoff_factor
            self.tracker = 0
            return found, norm
        if max_norm is not None:
            torch.nn.utils.clip_grad_norm_(params, max_norm)
        ref.step()
        if self.dynamic is not None:
            self.tracker += 1
            if self.tracker == self.dynamic.growth_interval:
                self.scale *= self.dynamic.growth_factor
                self.tracker = 0
        return found, norm


def _params(seed, shapes=SHAPES, requires_grad=True):
    gen = torch.Generator().manual_seed(seed)
    values = [torch.randn(s, generator=gen) for s in shapes]
    return ([v.clone().requires_grad_(requires_grad) for v in values],
            [v.clone().requires_grad_(requires_grad) for v in values])


def _grads(gen, shapes, scale, step, inject):
    """Gradients of a step: of varying magnitude (about half the steps
    clip at max_grad_norm 1), times the loss scale; with an inf or a NaN
    when `inject`."""
    size = 0.05 if step % 2 else 0.5
    grads = [torch.randn(s, generator=gen) * size * scale for s in shapes]
    if inject:
        k = step % len(shapes)
        grads[k].view(-1)[step % grads[k].numel()] = \
            math.inf if step % 3 else math.nan
    return grads


MODES = {
    "dynamic+clip": (1.0, ot.DynamicLossScale(init_scale=2.0 ** 12,
                                              growth_interval=5)),
    "dynamic": (None, ot.DynamicLossScale(init_scale=2.0 ** 10,
                                          growth_interval=3)),
    "static+clip": (1.0, 512.0),
    "clip": (1.0, None),
}

CASES = {
    "SGD": dict(lr=0.05, momentum=0.9, weight_decay=1e-3),
    "Adam": dict(lr=1e-2, weight_decay=1e-2),
    "AdamW": dict(lr=1e-2, amsgrad=True),
    "RMSprop": dict(lr=1e-2, momentum=0.5, centered=True),
    "NAdam": dict(lr=1e-2),
    "Adamax": dict(lr=1e-2, weight_decay=1e-2),
}
# The classes whose steps take the fast path (torch's float `step`
# tensors and no scalar states of the front end's).
FAST = ("SGD", "Adam", "AdamW", "Adamax")


def _compare(ours, ref, what):
    for p, q in zip(ours, ref):
        torch.testing.assert_close(p.detach(), q.detach(), rtol=RTOL,
                                   atol=ATOL, msg=what)


def _run(name, kwargs, max_norm, loss_scale, steps=60, seed=0,
         groups=None, drop=None, check_step=True):
    """Runs ``optim_mlir.torch.<name>`` with the options and the reference
    side by side; `drop(step)`: the indices of parameters without a
    gradient at that step. Returns the optimizer and its parameters."""
    # torch's differentiable steps update tensors outside autograd's
    # leaves in place.
    ours, theirs = _params(seed, requires_grad=not kwargs.get(
        "differentiable", False))
    static = loss_scale if not isinstance(loss_scale, ot.DynamicLossScale) \
        else None
    dynamic = loss_scale if static is None and loss_scale is not None \
        else None
    if groups is None:
        opt = getattr(ot, name)(ours, max_grad_norm=max_norm,
                                loss_scale=loss_scale, **kwargs)
        ref = getattr(torch.optim, name)(theirs, **kwargs)
    else:
        opt = getattr(ot, name)(groups(ours), max_grad_norm=max_norm,
                                loss_scale=loss_scale, **kwargs)
        ref = getattr(torch.optim, name)(groups(theirs), **kwargs)
    scaler = _Scaler(dynamic.init_scale if dynamic else (static or 1.0),
                     dynamic)
    gen = torch.Generator().manual_seed(seed + 1)
    taken = found_steps = 0
    for step in range(steps):
        assert opt.loss_scale == scaler.scale
        inject = dynamic is not None and step in BAD_STEPS
        grads = _grads(gen, SHAPES, scaler.scale, step, inject)
        dropped = drop(step) if drop else ()
        for i, (p, q, g) in enumerate(zip(ours, theirs, grads)):
            p.grad = None if i in dropped else g.clone()
            q.grad = None if i in dropped else g.clone()
        before = [t.clone() for t in ours]
        opt.step()
        found, norm = scaler.step(ref, theirs, max_norm)
        what = "%s %s step %d" % (name, kwargs, step)
        assert opt.found_inf == found, what
        assert opt.loss_scale == scaler.scale, what
        if max_norm is None and dynamic is None:
            assert opt.grad_norm is None
        elif found:
            assert not math.isfinite(opt.grad_norm), what
        else:
            assert opt.grad_norm == pytest.approx(norm, rel=1e-6), what
        if found:
            found_steps += 1
            for p, b in zip(ours, before):
                assert torch.equal(p.detach(), b), what
        else:
            taken += 1
        _compare(ours, theirs, what)
        if check_step:
            for p, q in zip(ours, theirs):
                if q in ref.state and "step" in ref.state[q]:
                    assert float(opt.state[p]["step"]) == \
                        float(ref.state[q]["step"]), what
        # The user's (scaled) gradients are left as they were.
        for i, (p, g) in enumerate(zip(ours, grads)):
            if i not in dropped:
                assert p.grad.numpy().tobytes() == g.numpy().tobytes(), what
    if dynamic is not None:
        # (A dropped gradient may take an injected inf with it.)
        assert len(BAD_STEPS) - 2 <= found_steps <= len(BAD_STEPS)
        assert taken == steps - found_steps
    return opt, ours


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_gradscaler_and_clip_grad_norm(name, mode):
    """One bucket (the clipping and the scaling inside the compiled step;
    the fast path from the second step for `FAST`, the checked path for
    RMSprop's int steps and NAdam's scalar states) against the reference,
    60 steps."""
    max_norm, loss_scale = MODES[mode]
    opt, _ = _run(name, CASES[name], max_norm, loss_scale)
    plan = opt.__dict__.get("_plan")
    if name in FAST:
        assert plan is not None and plan.fast_steps > 40


def test_multiple_buckets_share_one_global_norm():
    """Two groups with different structures (``amsgrad``) and parameters
    that miss a gradient now and then (different step counts): several
    compiled calls per step, whose norm, check and skip are the front
    end's, over every parameter."""
    def groups(params):
        return [{"params": params[:2], "amsgrad": True},
                {"params": params[2:], "lr": 5e-3}]
    opt, _ = _run("Adam", dict(lr=1e-2), 1.0,
                  ot.DynamicLossScale(init_scale=2.0 ** 8,
                                      growth_interval=4),
                  groups=groups,
                  drop=lambda step: (1,) if step % 7 == 3 else ())
    assert opt.num_compiled >= 2
    assert opt.__dict__.get("_plan") is None  # no fast path over buckets


def test_one_group_with_missing_gradients():
    """One group whose parameters reach different step counts: buckets of
    their own, one global norm."""
    _run("AdamW", dict(lr=1e-2), 0.7,
         ot.DynamicLossScale(init_scale=2.0 ** 8, growth_interval=4),
         drop=lambda step: (0, 3) if step in (2, 9, 10) else ())


def test_eager_differentiable_step():
    """``differentiable=True`` runs torch's own step: the front end unscales,
    checks, clips and skips first, and puts the user's gradients back."""
    _run("SGD", dict(lr=0.05, momentum=0.9, differentiable=True), 1.0,
         ot.DynamicLossScale(init_scale=2.0 ** 6, growth_interval=4))
    _run("Adam", dict(lr=1e-2, differentiable=True), 0.5, 64.0)


def test_sparse_adam_and_sparse_adagrad():
    """Sparse gradients (the entries they hold, stepped by gathered
    compiled calls) with dynamic scaling and clipping, against torch's
    SparseAdam and Adagrad on the unscaled, clipped sparse gradients."""
    for name, kwargs in (("SparseAdam", dict(lr=1e-2)),
                         ("Adagrad", dict(lr=1e-2))):
        gen = torch.Generator().manual_seed(3)
        init = torch.randn(30, 4, generator=gen)
        p = init.clone().requires_grad_()
        q = init.clone().requires_grad_()
        dynamic = ot.DynamicLossScale(init_scale=2.0 ** 5, growth_interval=3)
        opt = getattr(ot, name)([p], max_grad_norm=0.5, loss_scale=dynamic,
                                **kwargs)
        ref = getattr(torch.optim, name)([q], **kwargs)
        scaler = _Scaler(dynamic.init_scale, dynamic)
        for step in range(50):
            rows = torch.randint(0, 30, (6,), generator=gen)
            values = torch.randn(6, 4, generator=gen) * scaler.scale * (
                0.05 if step % 2 else 0.5)
            if step in BAD_STEPS:
                values[step % 6, 1] = math.inf
            g = torch.sparse_coo_tensor(rows[None], values, (30, 4))
            p.grad, q.grad = g.clone(), g.clone()
            before = p.detach().clone()
            opt.step()
            # The reference: unscale, check, clip (coalesced) and step.
            grad = q.grad.coalesce() * (1.0 / scaler.scale)
            found = not bool(torch.isfinite(grad._values()).all())
            assert opt.found_inf == found
            if found:
                scaler.scale *= dynamic.backoff_factor
                scaler.tracker = 0
                assert torch.equal(p.detach(), before)
            else:
                norm = float(grad._values().double().norm())
                assert opt.grad_norm == pytest.approx(norm, rel=1e-6)
                coef = min(1.0, 0.5 / (norm + 1e-6))
                q.grad = grad * coef
                ref.step()
                scaler.tracker += 1
                if scaler.tracker == dynamic.growth_interval:
                    scaler.scale *= dynamic.growth_factor
                    scaler.tracker = 0
            assert opt.loss_scale == scaler.scale
            torch.testing.assert_close(p.detach(), q.detach(), rtol=RTOL,
                                       atol=ATOL, msg="%s step %d"
                                       % (name, step))


def test_skipped_steps_change_nothing():
    """A step with an inf leaves every parameter and state bit-identical
    (a first step creates no state; later ones keep the step counters), on
    the checked path and on the fast path."""
    p = torch.randn(20, 3, requires_grad=True)
    opt = ot.Adam([p], lr=0.1, max_grad_norm=1.0,
                  loss_scale=ot.DynamicLossScale(init_scale=8.0))
    p.grad = torch.full_like(p, math.nan)
    before = p.detach().clone()
    opt.step()
    assert opt.found_inf and opt.loss_scale == 4.0
    assert torch.equal(p.detach(), before) and p not in opt.state
    for step in range(6):
        bad = step in (3, 4)
        p.grad = torch.randn_like(p) * opt.loss_scale
        if bad:
            p.grad[1, 2] = -math.inf
        before = [p.detach().clone()] + [
            v.clone() for v in opt.state[p].values()] if p in opt.state \
            else None
        opt.step()
        assert opt.found_inf == bad
        after = [p.detach().clone()] + [v.clone()
                                        for v in opt.state[p].values()]
        if bad:
            assert all(torch.equal(a, b) for a, b in zip(after, before))
            assert [a.numpy().tobytes() for a in after] == \
                [b.numpy().tobytes() for b in before]
    assert float(opt.state[p]["step"]) == 4.0
    assert opt.__dict__["_plan"] is not None  # the fast path ran


def _continue(opt, params, seed, steps):
    gen = torch.Generator().manual_seed(seed)
    for step in range(steps):
        for i, p in enumerate(params):
            p.grad = torch.randn(p.shape, generator=gen) * opt.loss_scale
            if step == 4 and i == 1:
                p.grad.view(-1)[0] = math.inf
        opt.step()
    return [p.detach().clone() for p in params]


@pytest.mark.parametrize("name,kwargs", [("Adam", dict(lr=1e-2)),
                                         ("SGD", dict(lr=0.1, momentum=0.9)),
                                         ("RMSprop", dict(lr=1e-2))])
def test_state_dict_round_trip(name, kwargs):
    """20 steps, a state_dict (deep-copied), a new optimizer on copies of
    the parameters loads it; 20 more steps on both are bit-identical, and
    the loss scale, its count and the settings travel."""
    ours, _ = _params(5)
    dynamic = ot.DynamicLossScale(init_scale=2.0 ** 9, growth_interval=3)
    opt = getattr(ot, name)(ours, max_grad_norm=0.8, loss_scale=dynamic,
                            **kwargs)
    _continue(opt, ours, 1, 20)
    saved = copy.deepcopy(opt.state_dict())
    entry = saved["gradient_control"]
    assert entry == {"max_grad_norm": 0.8, "loss_scale": None,
                     "dynamic": dict(init_scale=512.0, growth_factor=2.0,
                                     backoff_factor=0.5, growth_interval=3),
                     "scale": opt.loss_scale,
                     "good_steps": entry["good_steps"]}
    assert entry["scale"] != 512.0 and 0 <= entry["good_steps"] < 3
    twins = [p.detach().clone().requires_grad_() for p in ours]
    other = getattr(ot, name)(twins, max_grad_norm=2.0,
                              loss_scale=ot.DynamicLossScale(), **kwargs)
    other.load_state_dict(saved)
    assert other.max_grad_norm == 0.8 and other.loss_scale == opt.loss_scale
    a = _continue(opt, ours, 2, 20)
    b = _continue(other, twins, 2, 20)
    for x, y in zip(a, b):
        assert torch.equal(x, y)
    assert opt.loss_scale == other.loss_scale
    assert opt.state_dict()["gradient_control"] == \
        other.state_dict()["gradient_control"]
    # pickle keeps the control too.
    again = pickle.loads(pickle.dumps(opt))
    assert again.loss_scale == opt.loss_scale
    assert again.max_grad_norm == 0.8


def test_state_dict_kinds_must_match():
    """A state_dict of an optimizer without clipping and loss scaling does
    not load into one with them, nor the other way, nor with another kind
    (static against dynamic): ValueError, and nothing changes."""
    def make(**kw):
        p = torch.randn(4, requires_grad=True)
        opt = ot.Adam([p], lr=0.1, **kw)
        p.grad = torch.ones(4)
        opt.step()
        return opt
    plain = make()
    dynamic = make(loss_scale=ot.DynamicLossScale(init_scale=4.0))
    static = make(loss_scale=4.0)
    clip = make(max_grad_norm=1.0)
    assert "gradient_control" not in plain.state_dict()
    assert static.state_dict()["gradient_control"]["loss_scale"] == 4.0
    for target, source in [(dynamic, plain), (plain, dynamic),
                           (static, dynamic), (dynamic, static),
                           (clip, plain), (clip, static)]:
        before = copy.deepcopy(target.state_dict())
        with pytest.raises(ValueError, match="state_dict was saved with"):
            target.load_state_dict(source.state_dict())
        after = target.state_dict()
        assert after.get("gradient_control") == \
            before.get("gradient_control")
        assert torch.equal(after["state"][0]["exp_avg"],
                           before["state"][0]["exp_avg"])
    bad = dynamic.state_dict()
    bad["gradient_control"] = dict(bad["gradient_control"], scale=-1.0)
    with pytest.raises(ValueError, match="loss scale must be positive"):
        dynamic.load_state_dict(bad)
    # torch's own state_dict loads into an optimizer without the options.
    ref = torch.optim.Adam([torch.randn(4, requires_grad=True)], lr=0.1)
    plain.load_state_dict(ref.state_dict())


def test_bad_arguments():
    p = [torch.randn(3, requires_grad=True)]
    for bad in (-1.0, 0.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="max_grad_norm"):
            ot.Adam(p, max_grad_norm=bad)
    for bad in ("1.0", True, [1.0]):
        with pytest.raises(TypeError, match="max_grad_norm"):
            ot.SGD(p, lr=0.1, max_grad_norm=bad)
    for bad in (-2.0, 0, math.inf):
        with pytest.raises(ValueError, match="loss_scale"):
            ot.RMSprop(p, loss_scale=bad)
    for bad in ("dynamic", True, {"init_scale": 2.0}):
        with pytest.raises(TypeError, match="loss_scale"):
            ot.AdamW(p, loss_scale=bad)
    for kwargs, exc, match in [
            (dict(init_scale=0.0), ValueError, "init_scale"),
            (dict(init_scale=-1.0), ValueError, "init_scale"),
            (dict(init_scale=math.inf), ValueError, "init_scale"),
            (dict(init_scale="big"), TypeError, "init_scale"),
            (dict(growth_factor=1.0), ValueError, "growth_factor"),
            (dict(backoff_factor=1.0), ValueError, "backoff_factor"),
            (dict(backoff_factor=0.0), ValueError, "backoff_factor"),
            (dict(growth_interval=0), ValueError, "growth_interval"),
            (dict(growth_interval=2.5), TypeError, "growth_interval"),
            (dict(growth_interval=True), TypeError, "growth_interval")]:
        with pytest.raises(exc, match=match):
            ot.DynamicLossScale(**kwargs)
    opt = ot.Adam(p, max_grad_norm=1.0)
    with pytest.raises(ValueError, match="max_grad_norm"):
        opt.max_grad_norm = -0.5
    assert opt.max_grad_norm == 1.0
    with pytest.raises(AttributeError):
        opt.loss_scale = 2.0
    # The constructor's signature stays torch's.
    assert list(inspect.signature(ot.Adam).parameters) == \
        list(inspect.signature(torch.optim.Adam).parameters)


def test_dynamic_loss_scale_value_object():
    d = ot.DynamicLossScale()
    assert (d.init_scale, d.growth_factor, d.backoff_factor,
            d.growth_interval) == (65536.0, 2.0, 0.5, 2000)
    assert repr(d) == ("DynamicLossScale(init_scale=65536.0, "
                       "growth_factor=2.0, backoff_factor=0.5, "
                       "growth_interval=2000)")
    assert d == ot.DynamicLossScale(65536, 2, 0.5, 2000)
    assert d != ot.DynamicLossScale(growth_interval=10)
    with pytest.raises(AttributeError):
        d.init_scale = 2.0


def test_attributes_without_options():
    p = torch.randn(5, requires_grad=True)
    opt = ot.Adam([p], lr=0.1)
    p.grad = torch.full_like(p, math.inf)
    opt.step()
    assert (opt.loss_scale, opt.found_inf, opt.grad_norm) == \
        (1.0, False, None)
    assert opt.max_grad_norm is None


def test_changing_max_grad_norm_does_not_recompile():
    """``opt.max_grad_norm = v`` is run-time data: no new compiled step,
    and the next step clips at `v` (against clip_grad_norm_); switching
    clipping off and on compiles once more at most."""
    ours, theirs = _params(7)
    opt = ot.SGD(ours, lr=0.1, momentum=0.9, max_grad_norm=1.0)
    ref = torch.optim.SGD(theirs, lr=0.1, momentum=0.9)
    gen = torch.Generator().manual_seed(8)
    compiled = None
    for step, max_norm in enumerate([1.0, 1.0, 0.3, 0.3, 2.5, 0.1, 0.7]):
        opt.max_grad_norm = max_norm
        if step == 2:
            compiled = ot.compile_count
        grads = [torch.randn(s, generator=gen) for s in SHAPES]
        for p, q, g in zip(ours, theirs, grads):
            p.grad, q.grad = g.clone(), g.clone()
        opt.step()
        norm = torch.nn.utils.clip_grad_norm_(theirs, max_norm)
        ref.step()
        assert opt.grad_norm == pytest.approx(float(norm), rel=1e-6)
        _compare(ours, theirs, "step %d" % step)
    assert ot.compile_count == compiled
    assert opt.num_compiled == 1
    opt.max_grad_norm = None
    opt.step()
    assert opt.grad_norm is None
    opt.max_grad_norm = 0.5
    opt.step()
    assert ot.compile_count <= compiled + 1


def test_negative_lr_is_refused_with_the_options():
    p = torch.randn(3, requires_grad=True)
    opt = ot.Adam([p], lr=0.1, loss_scale=8.0)
    opt.param_groups[0]["lr"] = -0.1
    p.grad = torch.ones(3)
    before = p.detach().clone()
    with pytest.raises(ValueError, match="negative lr or weight decay"):
        opt.step()
    assert torch.equal(p.detach(), before)
