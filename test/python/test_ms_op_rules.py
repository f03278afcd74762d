"""MindSpore's optimizer kernels that have no ``mindspore.nn`` optimizer, as
``optim_mlir.nn`` classes built from their rule records: ``PowerSign``
(``ApplyPowerSign``), ``ProximalGradientDescent``
(``ApplyProximalGradientDescent``, ``alpha`` the learning rate) and
``AdagradDA`` (``ApplyAdagradDA``, ``global_step`` the 1-based update
count).

Each class steps 20 times on random data in two parameter groups (their own
learning rate and weight decay) against the NumPy reference
(``reference.power_sign``, ``reference.proximal_gradient_descent``,
``reference.adagrad_da``), in float32 and in float64.  Tolerances: float32
parameters against the float64 reference ``rtol=2e-4, atol=2e-5`` after
each step (float32 rounding accumulated over 20 steps); float64 parameters
``rtol=1e-10, atol=1e-12`` against the reference given the learning rates,
weight decays and hyper-parameters rounded to float32 (the compiled step's
hyper-parameter table is float32).  PowerSign's factor depends on
``sign(grad) * sign(m)``: an element within rounding of 0 could take the
other sign in float32; the fixed seeds here draw none.

The reference itself is checked against MindSpore's expected numbers for
these kernels (``tests/st/ops/cpu/test_apply_power_sign.py``,
``test_apply_proximal_gradient_descent_op.py``,
``test_apply_adagrad_dad_op.py``); the classes' runs of those cases are in
test_ms_port_kernels.py.
"""

import numpy as np
import pytest

from optim_mlir import _optim, nn
import optim_mlir.torch as otorch
import reference as R

STEPS = 20
RULES = {
    # rule: (class name, hyper-parameters)
    "power_sign": ("PowerSign", dict(logbase=0.7, sign_decay=0.8, beta=0.9)),
    "proximal_gradient_descent": ("ProximalGradientDescent",
                                  dict(l1=1.5, l2=0.2)),
    "adagrad_da": ("AdagradDA", dict(l1=0.02, l2=0.3)),
}
SHAPES = [("fc1.weight", (13, 7)), ("fc1.bias", (7,)), ("fc2.weight", (5, 3))]
# Two groups: their own learning rate and weight decay.
GROUPS = [dict(lr=0.02, weight_decay=0.05), dict(lr=0.005, weight_decay=0.0)]
MEMBER = [0, 0, 1]


def _f32(x):
    return float(np.float32(x))


def _run(rule, dtype, hyper, seed):
    """Steps the class and the reference together; returns nothing, asserts
    after every step."""
    name, _ = RULES[rule]
    rng = np.random.default_rng(seed)
    params = [nn.Parameter(rng.standard_normal(s).astype(dtype), name=n)
              for n, s in SHAPES]
    groups = [dict(params=[p for p, g in zip(params, MEMBER) if g == i],
                   **GROUPS[i]) for i in range(len(GROUPS))]
    opt = getattr(nn, name)(groups, **hyper)
    rounded = dtype == np.float64
    ref = [p.asnumpy().astype(np.float64) for p in params]
    ref_states = [R.init_states(rule, p) for p in ref]
    specs = _optim.rule_specs()[rule]
    tol = dict(rtol=1e-10, atol=1e-12) if rounded else dict(rtol=2e-4,
                                                            atol=2e-5)
    for t in range(1, STEPS + 1):
        grads = [rng.standard_normal(p.shape).astype(dtype) for p in params]
        assert opt(tuple(grads))
        for i, g in enumerate(grads):
            group = GROUPS[MEMBER[i]]
            kw = dict(hyper, learning_rate=group["lr"],
                      weight_decay=group["weight_decay"])
            if rounded:
                kw = {k: _f32(v) for k, v in kw.items()}
            if specs["uses_step"]:
                kw["t"] = t
            ref[i], ref_states[i] = getattr(R, rule)(
                ref[i], g.astype(np.float64), ref_states[i], **kw)
        for i, p in enumerate(params):
            assert p.asnumpy().dtype == dtype
            np.testing.assert_allclose(p.asnumpy(), ref[i], err_msg=p.name,
                                       **tol)
            for state in specs["states"]:
                np.testing.assert_allclose(
                    getattr(opt, state["name"])[i].asnumpy(),
                    ref_states[i][state["name"]],
                    err_msg="%s %s" % (p.name, state["name"]), **tol)
    assert int(opt.global_step) == STEPS


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rule", sorted(RULES))
def test_groups_and_weight_decay_against_the_reference(rule, dtype):
    _run(rule, dtype, RULES[rule][1], seed=17)


@pytest.mark.parametrize("rule,hyper", [
    # A negative logbase favours steps where the gradient and m disagree.
    ("power_sign", dict(logbase=-0.5, sign_decay=1.0, beta=0.0)),
    # l1 = 0: the kernel's plain branch v / (1 + lr * l2).
    ("proximal_gradient_descent", dict(l1=0.0, l2=0.5)),
    # l1 = 0: the numerator is -lr * acc.
    ("adagrad_da", dict(l1=0.0, l2=0.0)),
])
def test_other_branches_against_the_reference(rule, hyper):
    _run(rule, np.float32, hyper, seed=23)


def test_nn_only_classes():
    """The records turn the torch class off: torch has no such optimizers.
    The nn classes take MindSpore's arguments with the records' defaults and
    ranges."""
    for rule, (name, _) in RULES.items():
        assert name in nn.__all__
        assert not hasattr(otorch, name)
        assert name not in otorch.__all__
    p = nn.Parameter(np.ones(3, np.float32), name="w")
    with pytest.raises(ValueError, match="beta"):
        nn.PowerSign([p], beta=1.5)
    for cls in (nn.ProximalGradientDescent, nn.AdagradDA):
        for arg in ("l1", "l2"):
            with pytest.raises(ValueError, match=arg):
                cls([p], **{arg: -0.1})
    with pytest.raises(TypeError):
        nn.PowerSign([p], logbase="e")
    opt = nn.AdagradDA([p])
    assert np.all(opt.gradient_accumulator[0].asnumpy() == 0.0)
    assert np.all(opt.gradient_squared_accumulator[0].asnumpy() == 0.1)


def test_adagrad_da_step_is_one_based():
    """``global_step`` in the formula is the 1-based update count: the first
    step thresholds by ``l1 * 1`` and the tenth by ``l1 * 10`` (one
    element, hand-computed)."""
    p = nn.Parameter(np.zeros(1, np.float32), name="w")
    opt = nn.AdagradDA([p], learning_rate=0.5, l1=0.1, l2=0.2)
    opt.gradient_squared_accumulator[0].set_data(np.zeros(1, np.float32))
    assert opt((np.array([2.0], np.float32),))
    # acc 2, sq 4: -0.5 * (2 - 0.1) / (0.2 * 1 * 0.5 + 2)
    np.testing.assert_allclose(p.asnumpy(), [-0.95 / 2.1], rtol=1e-6)
    opt.global_step = 9
    assert opt((np.array([1.0], np.float32),))
    # acc 3, sq 5, t 10: -0.5 * (3 - 1) / (0.2 * 10 * 0.5 + sqrt(5))
    np.testing.assert_allclose(p.asnumpy(), [-1.0 / (1.0 + np.sqrt(5.0))],
                               rtol=1e-6)


def test_adagrad_da_negative_accumulator():
    """A negative accumulator shrinks towards 0 like a positive one
    (``sign(acc) * max(|acc| - l1*t, 0)``, the op's documented formula and
    its GPU kernel; MindSpore's CPU kernel thresholds ``|acc - l1*t|``,
    which differs here: it would give ``-0.5 * -(1.5 + 0.5) / ...``)."""
    p = nn.Parameter(np.zeros(2, np.float32), name="w")
    opt = nn.AdagradDA([p], learning_rate=0.5, l1=0.5, l2=0.0)
    opt.gradient_squared_accumulator[0].set_data(np.zeros(2, np.float32))
    assert opt((np.array([-1.5, -0.25], np.float32),))
    # acc -1.5: -0.5 * -(1.5 - 0.5) / sqrt(2.25); acc -0.25: below l1 -> 0.
    np.testing.assert_allclose(p.asnumpy(), [0.5 / 1.5, 0.0], atol=1e-7)


def test_power_sign_disagreeing_signs():
    """Where the gradient and the new ``m`` disagree, the step is the
    gradient times ``exp(-logbase * sign_decay)`` (hand-computed)."""
    p = nn.Parameter(np.array([1.0, 1.0, 1.0], np.float32), name="w")
    opt = nn.PowerSign([p], learning_rate=0.1, logbase=2.0, sign_decay=0.5,
                       beta=0.9)
    opt.m[0].set_data(np.array([1.0, -1.0, 0.0], np.float32))
    assert opt((np.array([-0.5, -0.5, 0.0], np.float32),))
    # m = 0.1 * g + 0.9 * m = [0.85, -0.95, 0]; sign(g) * sign(m) = [-1, 1, 0]
    np.testing.assert_allclose(opt.m[0].asnumpy(), [0.85, -0.95, 0.0],
                               rtol=1e-6)
    np.testing.assert_allclose(
        p.asnumpy(), [1.0 + 0.1 * np.exp(-1.0) * 0.5,
                      1.0 + 0.1 * np.exp(1.0) * 0.5, 1.0], rtol=1e-6)


def test_proximal_gradient_descent_soft_threshold():
    """``sign(v) * max(|v| - lr*l1, 0) / (1 + lr*l2)`` with ``v = param -
    lr*grad`` (hand-computed): the middle element lands inside the
    threshold and becomes 0."""
    p = nn.Parameter(np.array([1.0, 0.05, -1.0], np.float32), name="w")
    opt = nn.ProximalGradientDescent([p], learning_rate=0.1, l1=1.0, l2=2.0)
    assert opt((np.array([1.0, 0.0, 1.0], np.float32),))
    # v = [0.9, 0.05, -1.1]; threshold 0.1; divisor 1.2
    np.testing.assert_allclose(p.asnumpy(), [0.8 / 1.2, 0.0, -1.0 / 1.2],
                               rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------------------
# The reference against MindSpore's expected kernel outputs
# (mindspore-ai/mindspore tests/st/ops/cpu/).
# ---------------------------------------------------------------------------

def test_reference_power_sign_matches_mindspore():
    # test_apply_power_sign.py::test_apply_power_assign (atol=rtol=1e-4)
    var = np.array([[0.6, 0.4], [0.1, 0.5]])
    m = np.array([[0.6, 0.5], [0.2, 0.6]])
    grad = np.array([[0.3, 0.7], [0.1, 0.8]])
    got, states = R.power_sign(var, grad, {"m": m}, learning_rate=0.001,
                               logbase=np.e, sign_decay=0.99, beta=0.9)
    np.testing.assert_allclose(got, [[5.95575690e-01, 3.89676481e-01],
                                     [9.85252112e-02, 4.88201708e-01]],
                               rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(states["m"], [[5.70000052e-01, 5.19999981e-01],
                                             [1.89999998e-01, 6.20000064e-01]],
                               rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("var,alpha,l1,l2,delta,expect,tol", [
    # test_apply_proximal_gradient_descent_op.py::
    # test_apply_proximal_gradient_descent_float32 (decimal=3)
    ([[0.1632949, 0.6505809, 0.41898054], [0.6073093, 0.809577, 0.5305462]],
     0.01, 0.0, 0.0,
     [[0.58472073, 0.5078854, 0.03992645], [0.58894235, 0.3060052, 0.6934281]],
     [[0.1574477, 0.64550203, 0.41858128], [0.60141987, 0.80651695, 0.5236119]],
     1.5e-3),
    # ::test_apply_proximal_gradient_descent_float16 (decimal=3; float16
    # inputs and outputs)
    ([[0.6636, 0.902, 0.574], [0.6167, 0.4993, 0.6987]], 0.01, 0.2, 0.0,
     [[0.68, 0.749, 0.145], [0.3599, 0.4841, 0.1714]],
     [[0.655, 0.8926, 0.571], [0.6113, 0.4924, 0.695]], 1.5e-3),
    # ::test_apply_proximal_gradient_descent_op_vmap2, first block (rtol=1e-3)
    ([[0.6, 0.4], [0.1, 0.5]], 0.2, 0.1, 0.0, [[0.3, 0.7], [0.1, 0.8]],
     [[0.52000004, 0.24], [0.05999999, 0.31999996]], 1e-3),
])
def test_reference_proximal_gradient_descent_matches_mindspore(
        var, alpha, l1, l2, delta, expect, tol):
    got, states = R.proximal_gradient_descent(
        np.array(var), np.array(delta), {}, learning_rate=alpha, l1=l1, l2=l2)
    assert states == {}
    np.testing.assert_allclose(got, expect, rtol=tol, atol=tol)


def test_reference_adagrad_da_matches_mindspore():
    # test_apply_adagrad_dad_op.py::test_apply_adagrad_da: global_step 2
    # (eps 1e-6)
    acc = np.array([[0.1, 0.3], [0.1, 0.5]])
    sq = np.array([[0.2, 0.1], [0.1, 0.2]])
    grad = np.array([[0.3, 0.4], [0.1, 0.2]])
    got, states = R.adagrad_da(
        np.array([[0.6, 0.4], [0.1, 0.5]]), grad,
        {"gradient_accumulator": acc, "gradient_squared_accumulator": sq},
        learning_rate=0.001, l1=0.001, l2=0.001, t=2)
    new_acc, new_sq = acc + grad, sq + grad * grad
    tmp = np.sign(new_acc) * np.maximum(np.abs(new_acc) - 0.001 * 2, 0)
    want = (-1 * 0.001 * tmp) / (0.001 * 2 * 0.001 + np.sqrt(new_sq))
    assert np.all(np.abs(got - want) < 1e-6)
    assert np.all(np.abs(states["gradient_accumulator"] - new_acc) < 1e-6)
    assert np.all(np.abs(states["gradient_squared_accumulator"] - new_sq)
                  < 1e-6)
