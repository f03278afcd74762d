"""``optim_mlir.nn``: the MindSpore-style API (classes, properties, learning
rates, runtime changes without recompilation, checkpoints, sparse gradients
(LazyAdam; errors for the others), an end-to-end training run).

Numerical tolerances are stated per test; parity of every optimizer with the
NumPy reference and torch is in test_nn_parity.py, the error contract in
test_nn_errors.py.
"""

import math
import os

import numpy as np
import pytest

import optim_mlir
from optim_mlir import nn
import reference as R


def make(specs, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return [nn.Parameter(rng.standard_normal(shape).astype(dtype), name)
            for name, shape in specs]


def grads_for(params, rng, scale=1.0):
    return tuple((scale * rng.standard_normal(p.shape)).astype(p.dtype)
                 for p in params)


SPECS = [("dense.weight", (4, 16)), ("dense.bias", (4,)), ("norm.gamma", (3,))]


# ---------------------------------------------------------------------------
# Parameter
# ---------------------------------------------------------------------------

def test_parameter_basics():
    p = nn.Parameter([[1, 2], [3, 4]], "w")
    assert p.name == "w" and p.dtype == np.float32 and p.shape == (2, 2)
    assert p.requires_grad is True and p.ndim == 2 and p.size == 4
    assert p.data.flags.c_contiguous
    copy = p.asnumpy()
    copy[0, 0] = 42.0
    assert p.data[0, 0] == 1.0, "asnumpy must return a copy"
    p.set_data(np.full((2, 2), 7.0))
    assert np.all(p.data == 7.0) and p.dtype == np.float32
    assert np.asarray(p) is p.data
    assert "name=w" in repr(p)


def test_parameter_keeps_float64_and_copies_input():
    src = np.arange(6, dtype=np.float64).reshape(2, 3)
    p = nn.Parameter(src, "x", requires_grad=False)
    assert p.dtype == np.float64 and p.requires_grad is False
    src[0, 0] = 100.0
    assert p.data[0, 0] == 0.0
    # Non-contiguous input becomes C-contiguous storage.
    q = nn.Parameter(np.ones((4, 4), np.float32)[:, ::2], "y")
    assert q.data.flags.c_contiguous and q.shape == (4, 2)


def test_parameter_default_names_are_unique():
    a, b = nn.Parameter(np.zeros(2)), nn.Parameter(np.zeros(2))
    assert a.name != b.name and a.name.startswith("Parameter")


def test_parameter_clone_and_tuple_clone():
    p = nn.Parameter(np.ones(3, np.float32), "w")
    z = p.clone("zeros", prefix="m")
    assert z.name == "m.w" and np.all(z.data == 0) and z.dtype == np.float32
    assert np.all(p.clone().data == 1) and p.clone().data is not p.data
    t = nn.ParameterTuple([p]).clone("v", init=0.5)
    assert t[0].name == "v.w" and np.all(t[0].data == 0.5)


def test_step_updates_parameter_storage_in_place():
    params = make(SPECS)
    storage = [p.data for p in params]
    before = [p.asnumpy() for p in params]
    opt = nn.SGD(params, 0.1)
    rng = np.random.default_rng(1)
    g = grads_for(params, rng)
    assert opt(g) is True
    for p, s, b, gi in zip(params, storage, before, g):
        assert p.data is s
        np.testing.assert_allclose(p.data, b - np.float32(0.1) * gi, rtol=1e-6)


# ---------------------------------------------------------------------------
# Construction, properties
# ---------------------------------------------------------------------------

def test_properties():
    params = make(SPECS)
    opt = nn.Momentum(params, 0.1, 0.9, weight_decay=0.01, loss_scale=2)
    assert opt.parameters == tuple(params)
    assert isinstance(opt.parameters, nn.ParameterTuple)
    assert opt.target == "CPU"
    opt.target = "CPU"
    assert opt.unique is True
    opt.unique = False
    assert opt.unique is False
    assert opt.global_step == 0
    assert opt.loss_scale == 2.0 and isinstance(opt.loss_scale, float)
    assert opt.decay_flags == (True, True, False)  # 'gamma' is not decayed
    assert opt.momentum == 0.9 and opt.use_nesterov is False
    assert [m.name for m in opt.moments] == ["moments.dense.weight",
                                             "moments.dense.bias",
                                             "moments.norm.gamma"]
    assert opt.is_group is False and opt.dynamic_lr is False


def test_unique_false_when_a_parameter_is_unique():
    params = make(SPECS)
    params[1].unique = True
    assert nn.Adam(params).unique is False


def test_global_step_setter():
    opt = nn.Adam(make(SPECS))
    opt.global_step = 5
    assert opt.global_step == 5
    assert opt.beta1_power == pytest.approx(0.9 ** 5)


@pytest.mark.parametrize("cls,kwargs,states", [
    (nn.SGD, {}, {"accum": 0.0}),
    (nn.Momentum, {"learning_rate": 0.1, "momentum": 0.9}, {"moments": 0.0}),
    (nn.Adam, {}, {"moment1": 0.0, "moment2": 0.0}),
    (nn.Adam, {"use_amsgrad": True}, {"moment1": 0.0, "moment2": 0.0, "vhat": 0.0}),
    (nn.AdamWeightDecay, {}, {"moments1": 0.0, "moments2": 0.0,
                              "moment1": 0.0, "moment2": 0.0}),
    (nn.Lamb, {"learning_rate": 0.1}, {"moments1": 0.0, "moments2": 0.0}),
    (nn.Adagrad, {"accum": 0.3}, {"accum": 0.3}),
    (nn.RMSProp, {}, {"mean_square": 1.0, "moment": 0.0}),
    (nn.RMSProp, {"centered": True},
     {"mean_square": 1.0, "moment": 0.0, "mean_grad": 0.0}),
    (nn.FTRL, {"initial_accum": 0.2}, {"moments": 0.2, "linear": 0.0}),
    (nn.ProximalAdagrad, {"accum": 0.25}, {"accum": 0.25}),
    (nn.AdaMax, {}, {"moment1": 0.0, "moment2": 0.0}),
    (nn.Adadelta, {}, {"accum": 0.0, "accum_update": 0.0}),
    (nn.ASGD, {}, {"ax": 0.0}),
    (nn.Rprop, {"learning_rate": 0.05}, {"prev": 0.0, "step_size": 0.05}),
    (nn.LazyAdam, {}, {"moment1": 0.0, "moment2": 0.0}),
])
def test_state_names_and_initial_values(cls, kwargs, states):
    """States under MindSpore's attribute names, initialised as the compiled
    runtime initialises them (CompiledOptimizer.state_init_value)."""
    params = make(SPECS)
    opt = cls(params, **kwargs)
    for attr, init in states.items():
        tup = getattr(opt, attr)
        assert len(tup) == len(params)
        for p, s in zip(params, tup):
            assert s.shape == p.shape and s.dtype == p.dtype
            np.testing.assert_array_equal(s.data, np.float32(init))
    # The compiled runtime agrees on the initial values.
    opt._ensure_compiled()
    compiled = opt._parts[0].compiled
    by_compiled = {c: a for c, a in opt._state_attrs}
    for j, name in enumerate(compiled.state_names):
        for i in range(len(params)):
            assert compiled.state_init_value(i, j) == pytest.approx(
                float(getattr(opt, by_compiled[name])[i].data.flat[0]), rel=1e-6)


def test_adam_kwargs():
    params = make(SPECS)
    assert nn.Adam(params, use_lazy=True).use_lazy is True


# ---------------------------------------------------------------------------
# Learning rates
# ---------------------------------------------------------------------------

def test_constant_lr_int_and_0d_array():
    opt = nn.SGD(make(SPECS), learning_rate=1)
    assert opt.get_lr() == 1.0
    assert isinstance(opt.learning_rate, nn.Parameter)
    assert opt.learning_rate.name == "learning_rate"
    opt2 = nn.SGD(make(SPECS), learning_rate=np.array(0.25))
    assert opt2.get_lr() == 0.25 and opt2.dynamic_lr is False


@pytest.mark.parametrize("lr", [
    [0.1, 0.05, 0.025], (0.1, 0.05, 0.025), np.array([0.1, 0.05, 0.025]),
    iter([0.1, 0.05, 0.025]), (x for x in [0.1, 0.05, 0.025])],
    ids=["list", "tuple", "array", "iterator", "generator"])
def test_per_step_lr_any_iterable_and_past_the_end(lr):
    """A per-step list: step i uses values[i]; past the end, the last value
    (documented behaviour of the per_step attribute)."""
    params = make(SPECS)
    opt = nn.SGD(params, learning_rate=lr)
    assert opt.dynamic_lr is True
    rng = np.random.default_rng(0)
    seen = []
    for _ in range(5):
        seen.append(opt.get_lr())
        opt(grads_for(params, rng))
    np.testing.assert_allclose(seen, np.float32([0.1, 0.05, 0.025, 0.025, 0.025]))
    lr_param = opt.get_lr_parameter(params[0])
    assert isinstance(lr_param, nn.Parameter)
    np.testing.assert_allclose(lr_param.data, np.float32([0.1, 0.05, 0.025]))


def test_long_piecewise_list_is_compiled_as_piecewise():
    lr = nn.piecewise_constant_lr([3, 7, 12], [0.1, 0.05, 0.01])
    params = make(SPECS)
    opt = nn.SGD(params, learning_rate=lr)
    assert "#optim.piecewise<milestones = [3, 7, 12]" in opt.compiled_ir()[0]
    rng = np.random.default_rng(0)
    for step in range(15):
        assert opt.get_lr() == pytest.approx(lr[min(step, 11)], rel=1e-6)
        opt(grads_for(params, rng))


@pytest.mark.parametrize("sched", [
    nn.ExponentialDecayLR(0.1, 0.9, 4), nn.ExponentialDecayLR(0.1, 0.9, 4, True),
    nn.NaturalExpDecayLR(0.1, 0.9, 4), nn.NaturalExpDecayLR(0.1, 0.3, 4, True),
    nn.InverseDecayLR(0.1, 0.9, 4), nn.InverseDecayLR(0.1, 0.9, 4, True),
    nn.CosineDecayLR(0.01, 0.1, 8), nn.PolynomialDecayLR(0.1, 0.01, 8, 0.5),
    nn.PolynomialDecayLR(0.1, 0.01, 4, 2.0, True), nn.WarmUpLR(0.1, 5)],
    ids=lambda s: repr(s))
def test_schedule_compiled_equals_python(sched):
    """The compiled schedule attribute (float32) equals the schedule called in
    Python (float64) at every step: rtol=1e-6."""
    params = make(SPECS)
    opt = nn.Adam(params, learning_rate=sched)
    assert opt.learning_rate is sched and opt.dynamic_lr is True
    rng = np.random.default_rng(0)
    for step in range(14):
        assert opt.get_lr() == pytest.approx(sched(step), rel=1e-6, abs=1e-9)
        opt(grads_for(params, rng))


@pytest.mark.parametrize("sched,step,expected", [
    (nn.ExponentialDecayLR(0.1, 0.9, 4), 2, 0.09486833),
    (nn.NaturalExpDecayLR(0.1, 0.9, 4, True), 2, 0.1),
    (nn.InverseDecayLR(0.1, 0.9, 4, True), 2, 0.1),
    (nn.CosineDecayLR(0.01, 0.1, 4), 2, 0.055),
    (nn.PolynomialDecayLR(0.1, 0.01, 4, 0.5), 2, 0.07363961),
    (nn.WarmUpLR(0.1, 2), 2, 0.1),
], ids=["exponential", "natural_exp", "inverse", "cosine", "polynomial",
        "warmup"])
def test_schedule_values_from_mindspore_docs(sched, step, expected):
    """The examples of MindSpore's LearningRateSchedule docstrings."""
    assert sched(step) == pytest.approx(expected, rel=1e-6)
    assert sched(np.array(step, np.int32)) == pytest.approx(expected, rel=1e-6)


# The examples of mindspore/nn/dynamic_lr.py (printed outputs of its
# docstrings).
DOC_LISTS = [
    (lambda: nn.piecewise_constant_lr([2, 5, 10], [0.1, 0.05, 0.01]),
     [0.1, 0.1, 0.05, 0.05, 0.05, 0.01, 0.01, 0.01, 0.01, 0.01]),
    (lambda: nn.exponential_decay_lr(0.1, 0.9, 6, 2, 1),
     [0.1, 0.1, 0.09000000000000001, 0.09000000000000001, 0.08100000000000002,
      0.08100000000000002]),
    (lambda: nn.natural_exp_decay_lr(0.1, 0.9, 6, 2, 2, True),
     [0.1, 0.1, 0.1, 0.1, 0.016529888822158657, 0.016529888822158657]),
    (lambda: nn.inverse_decay_lr(0.1, 0.5, 6, 1, 1, True),
     [0.1, 0.06666666666666667, 0.05, 0.04, 0.03333333333333333,
      0.028571428571428574]),
    (lambda: nn.cosine_decay_lr(0.01, 0.1, 6, 2, 2),
     [0.1, 0.1, 0.05500000000000001, 0.05500000000000001, 0.01, 0.01]),
    (lambda: nn.polynomial_decay_lr(0.1, 0.01, 6, 2, 2, 0.5),
     [0.1, 0.1, 0.07363961030678928, 0.07363961030678928, 0.01, 0.01]),
    (lambda: nn.warmup_lr(0.1, 6, 2, 2), [0.0, 0.0, 0.05, 0.05, 0.1, 0.1]),
]


@pytest.mark.parametrize("case", DOC_LISTS, ids=[
    "piecewise_constant_lr", "exponential_decay_lr", "natural_exp_decay_lr",
    "inverse_decay_lr", "cosine_decay_lr", "polynomial_decay_lr", "warmup_lr"])
def test_lr_list_helpers_match_mindspore_docs(case):
    """Exactly the documented lists (same double-precision arithmetic)."""
    fn, expected = case
    got = fn()
    assert isinstance(got, list)
    assert got == expected


@pytest.mark.parametrize("name,args", [
    ("exponential_decay_lr", (0.2, 0.8, 13, 3, 2, False)),
    ("exponential_decay_lr", (0.2, 0.8, 13, 3, 2, True)),
    ("natural_exp_decay_lr", (0.2, 0.3, 13, 2, 3, False)),
    ("inverse_decay_lr", (0.2, 0.3, 13, 2, 3, False)),
    ("cosine_decay_lr", (0.001, 0.2, 13, 2, 4)),
    ("polynomial_decay_lr", (0.2, 0.001, 13, 2, 2, 2.0, True)),
    ("polynomial_decay_lr", (0.2, 0.001, 13, 2, 4, 0.7, False)),
    ("warmup_lr", (0.2, 13, 2, 3)),
])
def test_lr_list_helpers_match_reference(name, args):
    """Other arguments (stair, update_decay_epoch) against the independent
    reference implementation: rel 1e-12."""
    got = getattr(nn, name)(*args)
    want = getattr(R, name)(*args)
    assert isinstance(got, list) and len(got) == 13
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)


def test_lr_list_helper_output_trains_with_its_values():
    """A helper's list as the learning rate: step i uses value i."""
    lr = nn.cosine_decay_lr(0.01, 0.1, 6, 2, 2)
    params = make(SPECS)
    opt = nn.Momentum(params, lr, 0.9)
    rng = np.random.default_rng(0)
    for step in range(6):
        assert opt.get_lr() == pytest.approx(lr[step], rel=1e-6)
        opt(grads_for(params, rng))


def test_natural_exp_decay_follows_mindspore_code():
    """MindSpore's NaturalExpDecayLR.construct does not divide by
    decay_steps (p = step); checked against the reference's 'mindspore'
    variant, which test_nn_parity runs through training too."""
    s = nn.NaturalExpDecayLR(0.1, 0.2, 3)
    for step in range(10):
        assert s(step) == pytest.approx(R.natural_exp_decay(
            step, 0.1, 0.2, 3, False, variant="mindspore"), rel=1e-12)
        assert s(step) == pytest.approx(0.1 * math.exp(-0.2 * step), rel=1e-12)


def test_user_defined_schedule_evaluated_in_python():
    class Halving(nn.LearningRateSchedule):
        def construct(self, global_step):
            return 0.2 * 0.5 ** (global_step // 2)

    params = make(SPECS)
    sched = Halving()
    opt = nn.SGD(params, learning_rate=sched)
    assert opt.dynamic_lr is True
    rng = np.random.default_rng(0)
    compiled = None
    for step in range(6):
        assert opt.get_lr() == pytest.approx(sched(step), rel=1e-6)
        before = params[0].asnumpy()
        g = grads_for(params, rng)
        opt(g)
        np.testing.assert_allclose(params[0].data,
                                   before - np.float32(sched(step)) * g[0],
                                   rtol=1e-5, atol=1e-7)
        if compiled is None:
            compiled = opt._parts[0].compiled
        assert opt._parts[0].compiled is compiled


def test_group_lr_get_lr_is_a_tuple_per_parameter():
    params = make(SPECS)
    groups = [{"params": params[:2], "lr": [0.3, 0.2, 0.1]},
              {"params": params[2:]}]
    opt = nn.SGD(groups, learning_rate=[0.03, 0.02, 0.01])
    assert opt.is_group_lr is True
    rng = np.random.default_rng(0)
    expected = [(0.3, 0.3, 0.03), (0.2, 0.2, 0.02), (0.1, 0.1, 0.01),
                (0.1, 0.1, 0.01)]
    for want in expected:
        got = opt.get_lr()
        assert isinstance(got, tuple) and len(got) == 3
        np.testing.assert_allclose(got, np.float32(want))
        opt(grads_for(params, rng))
    lrs = opt.learning_rate
    assert isinstance(lrs, tuple) and len(lrs) == 3
    assert lrs[0].name == "learning_rate_group_0"
    assert lrs[2].name == "learning_rate"


def test_grouped_without_group_lr_get_lr_is_a_float():
    params = make(SPECS)
    opt = nn.SGD([{"params": params[:1], "weight_decay": 0.1},
                  {"params": params[1:]}], learning_rate=0.05)
    assert opt.is_group and not opt.is_group_lr
    assert opt.get_lr() == pytest.approx(0.05)


def test_get_lr_parameter():
    params = make(SPECS)
    sched = nn.CosineDecayLR(0.0, 0.1, 10)
    opt = nn.Momentum([{"params": params[:1], "lr": 0.05},
                       {"params": params[1:2], "lr": sched},
                       {"params": params[2:]}], learning_rate=0.1, momentum=0.9)
    lr0 = opt.get_lr_parameter(params[0])
    assert isinstance(lr0, nn.Parameter) and float(lr0.data) == np.float32(0.05)
    assert opt.get_lr_parameter(params[1]) is sched
    assert float(opt.get_lr_parameter(params[2]).data) == np.float32(0.1)
    both = opt.get_lr_parameter([params[0], params[2]])
    assert isinstance(both, list) and len(both) == 2
    assert both[1].name == "learning_rate"


def test_get_lr_has_no_side_effect():
    opt = nn.SGD(make(SPECS), learning_rate=[0.1, 0.2, 0.3])
    assert opt.get_lr() == opt.get_lr()
    assert opt.global_step == 0


# ---------------------------------------------------------------------------
# Weight decay, centralization, scaling: the eager base-class methods
# ---------------------------------------------------------------------------

def test_get_weight_decay_includes_loss_scale():
    params = make(SPECS)
    assert nn.Adam(params, weight_decay=0.01, loss_scale=8.0) \
        .get_weight_decay() == pytest.approx(0.08)
    opt = nn.Adam([{"params": params[:1], "weight_decay": 0.5},
                   {"params": params[1:]}], weight_decay=0.01, loss_scale=2.0)
    assert opt.get_weight_decay() == pytest.approx((1.0, 0.02, 0.02))
    assert opt.decay_flags == (True, True, True)
    assert opt.weight_decay == opt.get_weight_decay()


def test_decay_weight_centralization_scale_grad_match_reference():
    rng = np.random.default_rng(3)
    params = make([("a.weight", (4, 16)), ("b.gamma", (2, 32)), ("c", (5, 7))])
    ls = 4.0
    ungrouped = nn.Momentum(params, 0.1, 0.9, weight_decay=0.01, loss_scale=ls)
    g = grads_for(params, rng)
    out = ungrouped.decay_weight(g)
    for p, gi, oi in zip(params, g, out):
        want = R.decay_weight(gi, p.data, 0.01 * ls) if R.decay_filter(p.name) \
            else gi
        np.testing.assert_allclose(oi, want, rtol=1e-6)
    assert ungrouped.gradients_centralization(g) == g  # ungrouped: unchanged
    scaled = ungrouped.scale_grad(g)
    for gi, si in zip(g, scaled):
        assert si.dtype == gi.dtype
        np.testing.assert_allclose(si, R.scale_grad(gi, ls), rtol=1e-6)
    assert nn.SGD(params).scale_grad(g) == g  # loss_scale 1: unchanged
    grouped = nn.Momentum([{"params": params[:2], "grad_centralization": True},
                           {"params": params[2:], "grad_centralization": True}],
                          0.1, 0.9)
    cent = grouped.gradients_centralization(g)
    for gi, ci in zip(g, cent):
        np.testing.assert_allclose(ci, R.centralize(gi), rtol=1e-5, atol=1e-6)
    assert np.array_equal(cent[2], g[2])  # (5, 7): 7 % 16 != 0
    assert not np.allclose(cent[0], g[0])


def test_flatten_gradients_and_broadcast_params():
    opt = nn.SGD(make(SPECS))
    g = grads_for(opt.parameters, np.random.default_rng(0))
    flat = opt.flatten_gradients(list(g))
    assert isinstance(flat, tuple) and all(a is b for a, b in zip(flat, g))
    assert opt.broadcast_params(True) is True
    assert opt.broadcast_params(False) is False


def test_user_defined_optimizer_uses_eager_helpers():
    """A MindSpore-style custom optimizer: construct() with the base-class
    helpers; calling it advances the global step."""

    class PlainSGD(nn.Optimizer):
        def __init__(self, params, learning_rate, weight_decay=0.0,
                     loss_scale=1.0):
            super().__init__(learning_rate, params, weight_decay, loss_scale)

        def construct(self, gradients):
            g = self.flatten_gradients(gradients)
            g = self.decay_weight(g)
            g = self.gradients_centralization(g)
            g = self.scale_grad(g)
            lr = self.get_lr()
            for p, gi in zip(self.parameters, g):
                p.data -= np.asarray(lr, p.dtype) * gi
            return True

    params = make(SPECS)
    ref = R.ReferenceOptimizer("sgd", [(p.name, p.asnumpy().astype(np.float64))
                                       for p in params],
                               learning_rate=[0.1, 0.05], weight_decay=0.01,
                               loss_scale=2.0, mode="uniform")
    opt = PlainSGD(params, [0.1, 0.05], weight_decay=0.01, loss_scale=2.0)
    rng = np.random.default_rng(0)
    for step in range(4):
        g = grads_for(params, rng)
        assert opt(g) is True
        ref.step([x.astype(np.float64) for x in g])
        assert opt.global_step == step + 1
        for p, rp in zip(params, ref.params):
            np.testing.assert_allclose(p.data, rp, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------
# Runtime changes never recompile
# ---------------------------------------------------------------------------

def test_runtime_changes_use_set_hyper_param_without_recompiling():
    params = make(SPECS)
    ref = R.ReferenceOptimizer("adam", [(p.name, p.asnumpy().astype(np.float64))
                                        for p in params],
                               learning_rate=0.01, weight_decay=0.01,
                               mode="uniform")
    opt = nn.Adam(params, learning_rate=0.01, weight_decay=0.01)
    rng = np.random.default_rng(0)

    def step():
        g = grads_for(params, rng)
        opt(g)
        ref.step([x.astype(np.float64) for x in g])
        for p, rp in zip(params, ref.params):
            np.testing.assert_allclose(p.data, rp, rtol=2e-4, atol=2e-5)

    for _ in range(3):
        step()
    compiled = opt._parts[0].compiled
    count = nn._COMPILE_COUNT
    # MindSpore's way: assign to the learning-rate Parameter.
    opt.learning_rate.set_data(0.02)
    ref.lrs = [0.02] * 3
    step()
    # The property setter, weight decay and a hyper-parameter.
    opt.learning_rate = 0.005
    opt.set_weight_decay(0.1)
    opt.set_hyper_param("beta1", 0.8)
    opt.set_hyper_param("eps", 1e-6)
    ref.lrs = [0.005] * 3
    ref.wds = [0.1] * 3
    ref.hyper.update(beta1=0.8, eps=1e-6)
    for _ in range(3):
        step()
    assert opt._parts[0].compiled is compiled
    assert nn._COMPILE_COUNT == count
    assert compiled.get_hyper_param(0, "beta1") == pytest.approx(0.8, rel=1e-7)
    assert compiled.get_hyper_param(0, "weight_decay") == pytest.approx(0.1)
    assert compiled.get_hyper_param(0, "learning_rate") == pytest.approx(0.005)
    assert opt.get_lr() == pytest.approx(0.005)
    assert opt.beta1 == 0.8 and opt.get_hyper_param("eps") == 1e-6


def test_group_weight_decay_change_without_recompiling():
    params = make(SPECS)
    groups = [{"params": params[:1], "weight_decay": 0.0},
              {"params": params[1:], "lr": 0.02}]
    opt = nn.SGD(groups, learning_rate=0.1)
    rng = np.random.default_rng(0)
    opt(grads_for(params, rng))
    compiled = opt._parts[0].compiled
    opt.set_weight_decay(0.5, group=0)
    assert opt.decay_flags == (True, False, False)
    before = params[0].asnumpy()
    g = grads_for(params, rng)
    opt(g)
    np.testing.assert_allclose(params[0].data,
                               before - np.float32(0.1) * (g[0] + 0.5 * before),
                               rtol=1e-5, atol=1e-6)
    # Group 1's own lr Parameter changes too.
    opt.get_lr_parameter(params[1]).set_data(0.04)
    assert opt.get_lr() == pytest.approx((0.1, 0.04, 0.04))
    assert opt._parts[0].compiled is compiled


def test_dynamic_weight_decay_schedule():
    """A weight decay given as a schedule (newer MindSpore): evaluated before
    every step, written as runtime data."""
    params = make(SPECS)
    wd = nn.WarmUpLR(0.1, 4)
    opt = nn.Momentum(params, 0.05, 0.9, weight_decay=wd, loss_scale=2.0)
    assert opt.dynamic_weight_decay and opt.exec_weight_decay
    ref = R.ReferenceOptimizer("momentum",
                               [(p.name, p.asnumpy().astype(np.float64))
                                for p in params], learning_rate=0.05,
                               momentum=0.9, weight_decay=0.0, loss_scale=2.0,
                               mode="uniform")
    ref.decay_flags = [R.decay_filter(n) for n in ref.names]
    rng = np.random.default_rng(0)
    for step in range(8):
        assert opt.get_weight_decay() == pytest.approx(wd(step) * 2.0)
        ref.wds = [wd(step)] * 3
        g = grads_for(params, rng)
        opt(g)
        ref.step([x.astype(np.float64) for x in g])
        for p, rp in zip(params, ref.params):
            np.testing.assert_allclose(p.data, rp, rtol=2e-4, atol=2e-5)
    assert nn._COMPILE_COUNT > 0 and len(opt._parts) == 1


# ---------------------------------------------------------------------------
# Failed steps change nothing
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("bad", ["shape", "dtype", "count", "type"])
def test_failed_step_leaves_everything_untouched(bad):
    params = make(SPECS)
    opt = nn.Adam(params, learning_rate=0.01)
    rng = np.random.default_rng(0)
    opt(grads_for(params, rng))
    before = [p.asnumpy() for p in params]
    states = [s.asnumpy() for s in opt.moment1 + opt.moment2]
    g = list(grads_for(params, rng))
    if bad == "shape":
        g[-1] = np.zeros((4,), np.float32)
        err = ValueError
    elif bad == "dtype":
        g[-1] = g[-1].astype(np.float64)
        err = TypeError
    elif bad == "count":
        g = g[:-1]
        err = ValueError
    else:
        g[-1] = g[-1].tolist()
        err = TypeError
    with pytest.raises(err):
        opt(tuple(g))
    assert opt.global_step == 1
    for p, b in zip(params, before):
        np.testing.assert_array_equal(p.data, b)
    for s, b in zip(opt.moment1 + opt.moment2, states):
        np.testing.assert_array_equal(s.data, b)


def test_gradient_aliasing_a_parameter_is_copied():
    params = make(SPECS)
    opt = nn.SGD(params, 0.5)
    before = [p.asnumpy() for p in params]
    opt(tuple(params))  # the parameters themselves as gradients
    for p, b in zip(params, before):
        np.testing.assert_allclose(p.data, b * np.float32(0.5), rtol=1e-6)


def test_non_contiguous_gradients_are_accepted():
    params = make([("w", (4, 8))])
    opt = nn.SGD(params, 1.0)
    g = np.ones((8, 4), np.float32).T  # Fortran-ordered view
    before = params[0].asnumpy()
    opt((g,))
    np.testing.assert_allclose(params[0].data, before - 1.0)


# ---------------------------------------------------------------------------
# Sparse gradients (each kernel's semantics: test_nn_sparse.py)
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("form", ["RowTensor", "tuple"])
def test_lazy_adam_accepts_sparse_gradients(form):
    params = make([("embedding", (10, 4)), ("w", (3,))])
    opt = nn.LazyAdam(params)
    before = [p.asnumpy() for p in params]
    idx = np.array([1, 3, 3], np.int32)
    vals = np.ones((3, 4), np.float32)
    sparse = nn.RowTensor(idx, vals, (10, 4)) if form == "RowTensor" \
        else (idx, vals)
    assert opt((sparse, np.ones(3, np.float32)))
    assert opt.global_step == 1
    changed = [r for r in range(10)
               if not np.array_equal(params[0].data[r], before[0][r])]
    assert changed == [1, 3]
    assert "sparse" in opt.compiled_ir()[0]


# ---------------------------------------------------------------------------
# LARS
# ---------------------------------------------------------------------------

def test_lars_takes_over_the_momentum_optimizer():
    params = make([("dense.weight", (4, 16)), ("dense.bias", (4,))])
    inner = nn.Momentum(params, 0.1, 0.9, weight_decay=0.01)
    lars = nn.LARS(inner)
    assert lars.opt is inner and lars.moments is inner.moments
    assert lars.parameters == inner.parameters
    assert lars.lars_flag == (True, False)
    assert lars.epsilon == 1e-5 and lars.coefficient == 0.001
    lars(grads_for(params, np.random.default_rng(0)))
    assert lars.global_step == 1 and inner.global_step == 1
    assert not np.all(inner.moments[0].data == 0)


# LARS(use_clip=True): MindSpore's LARSUpdate with use_clip clips the trust
# ratio by the learning rate, min(ratio / lr, 1) (mindspore/python/mindspore/
# nn/optim/lars.py: use_clip passes the optimizer's current learning rate to
# P.LARSUpdate; the formula of nn.LARS's docstring).  Reference:
# reference.ReferenceOptimizer("lars", use_clip=True), float64; tolerance
# rtol=1e-5, atol=2e-6 (float32 parameters over 15 steps).
@pytest.mark.parametrize("coefficient, lr", [(0.5, 0.1), (0.002, 0.1),
                                             (0.01, [0.2, 0.1, 0.05])],
                         ids=["clipped-at-1", "ratio-over-lr", "per-step-lr"])
@pytest.mark.parametrize("use_nesterov", [False, True])
def test_lars_use_clip_matches_reference(coefficient, lr, use_nesterov):
    specs = [("conv.weight", (4, 6)), ("fc.weight", (5, 3)), ("fc.bias", (5,))]
    params = make(specs, seed=3)
    ref = R.ReferenceOptimizer(
        "lars", [(p.name, p.asnumpy().astype(np.float64)) for p in params],
        learning_rate=lr, weight_decay=0.01, loss_scale=2.0, momentum=0.9,
        coefficient=coefficient, use_clip=True, use_nesterov=use_nesterov)
    opt = nn.LARS(nn.Momentum(params, lr, 0.9, weight_decay=0.01,
                              loss_scale=2.0, use_nesterov=use_nesterov),
                  coefficient=coefficient, use_clip=True)
    assert opt.use_clip is True
    unclipped = nn.LARS(nn.Momentum(make(specs, seed=3), lr, 0.9,
                                    weight_decay=0.01, loss_scale=2.0,
                                    use_nesterov=use_nesterov),
                        coefficient=coefficient)
    rng = np.random.default_rng(4)
    for step in range(15):
        g = grads_for(params, rng)
        assert opt(g) is True
        unclipped(g)
        ref.step([x.astype(np.float64) for x in g])
        for i, p in enumerate(params):
            np.testing.assert_allclose(p.data, ref.params[i], rtol=1e-5,
                                       atol=2e-6, err_msg="%s step %d"
                                       % (p.name, step))
            np.testing.assert_allclose(opt.moments[i].data,
                                       ref.states[i]["moments"], rtol=1e-5,
                                       atol=2e-6)
    # The clip changes the LARS parameter's step; the bias (not LARS) is the
    # same plain Momentum either way.
    assert not np.allclose(params[0].data, unclipped.parameters[0].data,
                           rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(params[2].data, unclipped.parameters[2].data)
    assert opt.global_step == 15


def test_lars_use_clip_hyper_parameters_change_at_runtime():
    specs = [("w", (6, 4))]
    params = make(specs, seed=5)
    opt = nn.LARS(nn.Momentum(params, 0.1, 0.9), coefficient=0.001,
                  use_clip=True)
    rng = np.random.default_rng(5)
    opt(grads_for(params, rng))
    count = nn._COMPILE_COUNT
    opt.set_hyper_param("coefficient", 0.5)  # ratio / lr > 1: clipped to 1
    before = params[0].asnumpy()
    moments = opt.moments[0].asnumpy()
    g = grads_for(params, rng)
    opt(g)
    expect_v = 0.9 * moments + g[0]
    np.testing.assert_allclose(opt.moments[0].data, expect_v, rtol=1e-6,
                               atol=1e-7)
    np.testing.assert_allclose(params[0].data, before - np.float32(0.1) * expect_v,
                               rtol=1e-6, atol=1e-7)
    assert nn._COMPILE_COUNT == count


# ---------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------

def _train(opt, params, rng, steps):
    history = []
    for _ in range(steps):
        opt(grads_for(params, rng))
        history.append([p.asnumpy() for p in params])
    return history


CKPT_CASES = [
    ("Adam", lambda ps: nn.Adam(ps, learning_rate=nn.CosineDecayLR(0.001, 0.01, 7),
                                weight_decay=0.01, loss_scale=4.0)),
    ("Lamb", lambda ps: nn.Lamb(ps, learning_rate=0.01, weight_decay=0.01)),
    ("ASGD", lambda ps: nn.ASGD(ps, learning_rate=[0.1, 0.05, 0.02], t0=2.0)),
    ("Rprop", lambda ps: nn.Rprop(ps, learning_rate=0.01)),
    ("RMSProp-centered", lambda ps: nn.RMSProp(
        [{"params": ps[:1], "lr": 0.02, "grad_centralization": True},
         {"params": ps[1:], "weight_decay": 0.1}], centered=True)),
    ("LARS", lambda ps: nn.LARS(nn.Momentum(ps, 0.1, 0.9, weight_decay=0.01))),
]


@pytest.mark.parametrize("case", CKPT_CASES, ids=[c[0] for c in CKPT_CASES])
def test_checkpoint_round_trip_is_bit_identical(case, tmp_path):
    """Train 5 steps, checkpoint, train 6 more; a fresh optimizer loaded from
    the checkpoint (in memory and from a file) continues bit for bit."""
    name, factory = case
    params = make(SPECS, seed=1)
    opt = factory(params)
    opt.compile_options = "chunk-size=16"  # several threads per tensor
    rng = np.random.default_rng(7)
    _train(opt, params, rng, 5)
    sd = opt.state_dict()
    path = os.path.join(str(tmp_path), "opt.npz")
    nn.save_checkpoint(opt, path)
    rng_state = rng.bit_generator.state
    expected = _train(opt, params, rng, 6)
    expected_states = {k: [s.copy() for s in v.values()]
                       for k, v in opt.state_dict()["states"].items()}

    for source in ("dict", "file"):
        fresh = make(SPECS, seed=99)  # different initial values
        opt2 = factory(fresh)
        opt2.compile_options = "chunk-size=16"
        if source == "dict":
            opt2.load_state_dict(sd)
        else:
            loaded = nn.load_checkpoint(path, opt2)
            assert loaded["global_step"] == 5
        assert opt2.global_step == 5
        rng2 = np.random.default_rng()
        rng2.bit_generator.state = rng_state
        got = _train(opt2, fresh, rng2, 6)
        for a, b in zip(expected, got):
            for x, y in zip(a, b):
                np.testing.assert_array_equal(x, y)
        for k, v in opt2.state_dict()["states"].items():
            for x, y in zip(expected_states[k], v.values()):
                np.testing.assert_array_equal(x, y)


def test_state_dict_content():
    params = make(SPECS)
    opt = nn.Adam([{"params": params[:1], "lr": 0.02, "weight_decay": 0.1},
                   {"params": params[1:]}], learning_rate=0.01, weight_decay=0.01)
    opt(grads_for(params, np.random.default_rng(0)))
    opt.set_hyper_param("beta2", 0.99)
    sd = opt.state_dict()
    assert sd["optimizer"] == "Adam" and sd["global_step"] == 1
    assert list(sd["parameters"]) == [p.name for p in params]
    assert set(sd["states"]) == {"moment1", "moment2"}
    assert list(sd["states"]["moment1"]) == [p.name for p in params]
    assert sd["learning_rate"] == {"learning_rate_group_0": pytest.approx(0.02),
                                   "learning_rate": pytest.approx(0.01)}
    assert sd["weight_decay"] == {"weight_decay": 0.01,
                                  "weight_decay_group_0": 0.1}
    assert sd["hyper_params"] == {"beta1": 0.9, "beta2": 0.99, "eps": 1e-8}
    # Copies, not views.
    sd["parameters"][params[0].name][...] = 0
    assert not np.all(params[0].data == 0)
    # Runtime values come back with the checkpoint.
    opt2 = nn.Adam([{"params": make(SPECS)[:1], "lr": 0.5, "weight_decay": 0.3},
                    {"params": make(SPECS)[1:]}], learning_rate=0.01,
                   weight_decay=0.01)
    opt2.load_state_dict(opt.state_dict())
    assert opt2.beta2 == 0.99
    assert opt2.get_lr() == pytest.approx((0.02, 0.01, 0.01))
    assert opt2.get_weight_decay() == pytest.approx((0.1, 0.01, 0.01))


# ---------------------------------------------------------------------------
# End to end
# ---------------------------------------------------------------------------

def _logistic_data(seed=0, n=256, d=8):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    w_true = rng.standard_normal(d).astype(np.float32)
    y = (x @ w_true + 0.1 * rng.standard_normal(n) > 0).astype(np.float32)
    return x, y


def _logistic_loss_grad(w, b, x, y):
    z = np.clip(x @ w + b, -30.0, 30.0)
    p = 1.0 / (1.0 + np.exp(-z))
    eps = 1e-7
    loss = -np.mean(y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps))
    dz = (p - y) / len(y)
    return float(loss), (x.T @ dz).astype(np.float32), \
        np.array([dz.sum()], np.float32)


@pytest.mark.parametrize("factory", [
    lambda ps: nn.Adam(ps, learning_rate=0.05),
    lambda ps: nn.Momentum(ps, 0.5, 0.9),
    lambda ps: nn.SGD(ps, learning_rate=nn.PolynomialDecayLR(1.0, 0.1, 100, 1.0)),
    lambda ps: nn.LARS(nn.Momentum(ps, 5.0, 0.9), coefficient=0.02),
], ids=["Adam", "Momentum", "SGD-polynomial", "LARS"])
def test_logistic_regression_trains(factory):
    """A small NumPy logistic regression (hand-written gradient): the loss
    falls below half its initial value in 100 steps and accuracy exceeds
    90%."""
    x, y = _logistic_data()
    w = nn.Parameter(np.zeros(x.shape[1], np.float32), "fc.weight")
    b = nn.Parameter(np.zeros(1, np.float32), "fc.bias")
    opt = factory([w, b])
    loss0, _, _ = _logistic_loss_grad(w.data, b.data, x, y)
    for _ in range(100):
        loss, gw, gb = _logistic_loss_grad(w.data, b.data, x, y)
        opt((gw, gb))
    loss, _, _ = _logistic_loss_grad(w.data, b.data, x, y)
    assert loss < 0.5 * loss0, (loss0, loss)
    accuracy = np.mean(((x @ w.data + b.data) > 0) == (y > 0.5))
    assert accuracy > 0.9
    assert opt.global_step == 100


def test_linear_regression_with_groups_and_loss_scale():
    """Linear regression, gradients multiplied by the loss scale as a
    mixed-precision loop would; groups with their own lr and centralization."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((128, 16)).astype(np.float32)
    w_true = rng.standard_normal((16, 32)).astype(np.float32)
    y = x @ w_true
    w = nn.Parameter(np.zeros((16, 32), np.float32), "w")
    b = nn.Parameter(np.zeros(32, np.float32), "b")
    ls = 128.0
    opt = nn.Adam([{"params": [w], "lr": 0.05},
                   {"params": [b], "lr": 0.01}], loss_scale=ls)

    def loss_grad():
        r = x @ w.data + b.data - y
        return float(np.mean(r ** 2)), (2 * x.T @ r / r.size).astype(np.float32), \
            (2 * r.sum(0) / r.size).astype(np.float32)

    loss0 = loss_grad()[0]
    for _ in range(200):
        _, gw, gb = loss_grad()
        opt((gw * np.float32(ls), gb * np.float32(ls)))
    assert loss_grad()[0] < 0.05 * loss0


def test_package_exports():
    assert hasattr(optim_mlir, "CompiledOptimizer")
    for name in nn.__all__:
        assert hasattr(nn, name), name
