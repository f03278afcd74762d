"""torch.optim's Adagrad, RMSprop, ASGD, Rprop and NAdam (torch 1.13) as
``optim_mlir.torch`` classes generated from the records ``torch_adagrad``,
``torch_rmsprop``, ``torch_asgd``, ``torch_rprop`` and ``torch_nadam``
(OptimRules.td): against ``torch.optim``'s class itself and against the
NumPy references written from the formulas (``reference.torch_adagrad``,
...), in float32 and float64, with two parameter groups, an LR scheduler
changing the learning rate at every step, weight decay, ``maximize`` and
each option, and state_dicts carried from one to the other both ways.

Tolerances. The runtime's hyper-parameter table is float64 and the
rules' scalar arithmetic runs in float64 (docs/Step-structure.md), so both
sides see the same values in float32 and float64 runs. Against
``torch.optim`` (same dtype, same scalars): float32 ``rtol=1e-5,
atol=1e-5`` (the values are of order 1; RMSprop's momentum buffer sums
terms of both signs up to about 5, whose float32 rounding reaches 1e-5
absolute), float64 ``rtol=1e-12, atol=1e-14`` for parameters and states
after each of 24 steps (the formula fuses what torch computes in separate
in-place ops: the orders differ, hence not bit equality). torch's scalar
states (``step``, ASGD's ``eta`` and ``mu``, NAdam's ``mu_product``) are
equal exactly, being computed by the same torch operations. Against the
float64 NumPy reference: float64 parameters ``rtol=1e-11, atol=1e-13``;
float32 parameters ``rtol=2e-4, atol=2e-5`` (float32 rounding accumulated
over 24 steps).
"""

import copy
import inspect

import numpy as np
import pytest
import torch

from optim_mlir import _optim
import optim_mlir.torch as otorch
import reference as R

STEPS = 24
SPECS = _optim.rule_specs()
# Class -> rule.
RULES = {"Adagrad": "torch_adagrad", "RMSprop": "torch_rmsprop",
         "ASGD": "torch_asgd", "Rprop": "torch_rprop", "NAdam": "torch_nadam"}
SHAPES = [(7, 5), (11,), (3, 2, 2)]
TOL = {torch.float32: dict(rtol=1e-5, atol=1e-5),
       torch.float64: dict(rtol=1e-12, atol=1e-14)}
REF_TOL = {torch.float32: dict(rtol=2e-4, atol=2e-5),
           torch.float64: dict(rtol=1e-11, atol=1e-13)}
LR, FIRST_LR, FIRST_WD = 2.0 ** -6, 2.0 ** -5, 2.0 ** -7
FACTORS = (1.0, 0.75, 0.5, 0.875, 0.625)


def _tol(name, dtype, table=TOL):
    return table[dtype]


def _kw(name, kw, dtype):
    """The constructor's arguments of a run (the same in both dtypes)."""
    return dict(kw)

# Each class's cases (constructor arguments besides lr): the defaults, the
# options one by one and together, weight decay and maximize wherever
# torch's class has them.
CASES = {
    "Adagrad": [dict(),
                dict(lr_decay=0.05, initial_accumulator_value=0.3, eps=1e-6,
                     weight_decay=0.05),
                dict(maximize=True, weight_decay=0.02, lr_decay=0.01)],
    "RMSprop": [dict(),
                dict(momentum=0.9, weight_decay=0.05),
                dict(centered=True, alpha=0.9),
                dict(centered=True, momentum=0.5, eps=1e-6),
                dict(maximize=True, momentum=0.3, weight_decay=0.01)],
    "ASGD": [dict(),
             dict(lambd=0.01, alpha=0.5, t0=6, weight_decay=0.05),
             dict(maximize=True, t0=3, lambd=1e-3)],
    "Rprop": [dict(),
              dict(etas=(0.4, 1.5), step_sizes=(1e-3, 0.03)),
              dict(maximize=True, step_sizes=(1e-4, 1.0))],
    "NAdam": [dict(),
              dict(betas=(0.8, 0.99), eps=1e-6, momentum_decay=0.01,
                   weight_decay=0.05)],
}
CASE_IDS = [(name, i) for name, cases in CASES.items()
            for i in range(len(cases))]
DTYPES = [torch.float32, torch.float64]


def test_the_record_classes_are_these():
    """Every rule whose torch class is generated is checked here or in
    test_formula_rules.py (the rules without options, tuples, computed or
    hyper-parameter-started states)."""
    import test_formula_rules
    generated = {r for r, s in SPECS.items() if s["gen_python_classes"]}
    assert generated == set(RULES.values()) | set(test_formula_rules.HYPER)
    for name, rule in RULES.items():
        assert SPECS[rule]["class_name"] == name
        assert not SPECS[rule]["gen_nn_class"]
        assert name in otorch.__all__


def _data(dtype, seed=0):
    rng = np.random.default_rng(seed)
    return [torch.tensor(rng.standard_normal(s), dtype=dtype)
            for s in SHAPES]


def _leaves(data):
    return [d.clone().requires_grad_(True) for d in data]


def _groups(params, kw, name):
    """Two groups: the first with its own lr (and weight decay where the
    class has one), the second with the constructor's."""
    first = {"params": params[:2], "lr": FIRST_LR}
    if "weight_decay" in inspect.signature(getattr(torch.optim,
                                                   name)).parameters:
        first["weight_decay"] = FIRST_WD
    return [first, {"params": params[2:]}]


def _schedule(opt):
    """An LR scheduler changing every group's lr at every step."""
    return torch.optim.lr_scheduler.LambdaLR(
        opt, lambda epoch: FACTORS[epoch % len(FACTORS)])


def _same(a, b, tol, what):
    """State values: tensors to `tol`, scalar tensors and Python values
    (torch's step, eta, mu, mu_product) exactly, with the same type."""
    assert type(a) is type(b), what
    if torch.is_tensor(a) and a.dim() > 0:
        assert a.dtype == b.dtype and a.shape == b.shape, what
        np.testing.assert_allclose(a.numpy(), b.numpy(), err_msg=what, **tol)
    elif torch.is_tensor(a):
        assert a.dtype == b.dtype, what
        assert a.item() == b.item(), what
    else:
        assert a == b, what


def _compare(ours, theirs, params, other_params, dtype, where, name):
    tol = _tol(name, dtype)
    for i, (a, b) in enumerate(zip(params, other_params)):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(),
                                   err_msg="%s: parameter %d" % (where, i),
                                   **tol)
        sa, sb = ours.state[a], theirs.state[b]
        assert list(sa) == list(sb), where
        for key in sa:
            _same(sa[key], sb[key], tol, "%s: %d %s" % (where, i, key))


def _step_both(opts, params_lists, rng, dtype):
    for params in zip(*params_lists):
        g = torch.tensor(rng.standard_normal(tuple(params[0].shape)),
                         dtype=dtype)
        for p in params:
            p.grad = g.clone()
    for opt in opts:
        opt.step()


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("name,case", CASE_IDS)
def test_matches_torch(name, case, dtype, float32_default_dtype):
    """Two groups, an LR scheduler, the case's options: parameters, states
    (names, order, values) and state_dicts equal to torch.optim's after
    every step."""
    kw = _kw(name, CASES[name][case], dtype)
    data = _data(dtype, seed=case)
    ours_p, theirs_p = _leaves(data), _leaves(data)
    ours = getattr(otorch, name)(_groups(ours_p, kw, name), lr=LR, **kw)
    theirs = getattr(torch.optim, name)(_groups(theirs_p, kw, name), lr=LR,
                                        **kw)
    # torch's Adagrad creates its states in the constructor.
    assert _state_keys(ours) == _state_keys(theirs)
    schedules = [_schedule(ours), _schedule(theirs)]
    rng = np.random.default_rng(100 + case)
    for t in range(1, STEPS + 1):
        _step_both([ours, theirs], [ours_p, theirs_p], rng, dtype)
        for s in schedules:
            s.step()
        _compare(ours, theirs, ours_p, theirs_p, dtype, "step %d" % t, name)
    # Adagrad's steps after the first take the fast path (a plan bound in
    # C++; not with maximize, whose gradients the checked path negates);
    # the others keep torch's int steps or scalar states in Python.
    plan = ours.__dict__.get("_plan")
    if name == "Adagrad" and not kw.get("maximize"):
        assert plan is not None and plan.fast_steps == STEPS - 1
    else:
        assert plan is None
    a, b = ours.state_dict(), theirs.state_dict()
    assert a["param_groups"] == b["param_groups"]
    assert [list(g) for g in a["param_groups"]] == \
        [list(g) for g in b["param_groups"]]
    assert _state_keys(ours) == _state_keys(theirs)


def _state_keys(opt):
    sd = opt.state_dict()
    return {i: list(s) for i, s in sd["state"].items()}


def _reference_args(name, kw):
    """The reference's keyword arguments for constructor arguments `kw`
    (tuples spread), and whether gradients are negated."""
    kw = dict(kw)
    maximize = kw.pop("maximize", False)
    if "etas" in kw:
        kw["etaminus"], kw["etaplus"] = kw.pop("etas")
    if "step_sizes" in kw:
        kw["step_size_min"], kw["step_size_max"] = kw.pop("step_sizes")
    if "betas" in kw:
        kw["beta1"], kw["beta2"] = kw.pop("betas")
    init = {k: kw.pop(k) for k in ("initial_accumulator_value",) if k in kw}
    if name == "RMSprop":
        init.update(momentum=kw.get("momentum", 0.0),
                    centered=kw.get("centered", False))
    return kw, init, maximize


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("name,case", CASE_IDS)
def test_matches_reference(name, case, dtype, float32_default_dtype):
    """The same runs against the float64 NumPy reference written from the
    formulas (reference.torch_<name>)."""
    rule = RULES[name]
    kw = _kw(name, CASES[name][case], dtype)
    ref_kw, init_kw, maximize = _reference_args(name, kw)
    data = _data(dtype, seed=case)
    params = _leaves(data)
    opt = getattr(otorch, name)(_groups(params, kw, name), lr=LR, **kw)
    schedule = _schedule(opt)
    group_of = [0, 0, 1]
    ref = [d.numpy().astype(np.float64) for d in data]
    states = [None] * len(ref)
    rng = np.random.default_rng(200 + case)
    uses_step = "t" in inspect.signature(getattr(R, rule)).parameters
    for t in range(1, STEPS + 1):
        lrs = [g["lr"] for g in opt.param_groups]
        grads = [rng.standard_normal(p.shape) for p in ref]
        for p, g in zip(params, grads):
            p.grad = torch.tensor(g, dtype=dtype)
        opt.step()
        schedule.step()
        for i, g in enumerate(grads):
            g = g.astype(np.float32).astype(np.float64) \
                if dtype == torch.float32 else g
            group = opt.param_groups[group_of[i]]
            if states[i] is None:
                states[i] = R.init_states(rule, ref[i],
                                          learning_rate=lrs[group_of[i]],
                                          **init_kw)
            args = dict(ref_kw, learning_rate=lrs[group_of[i]])
            if "weight_decay" in group:
                args["weight_decay"] = group["weight_decay"]
            if uses_step:
                args["t"] = t
            ref[i], states[i] = getattr(R, rule)(
                ref[i], -g if maximize else g, states[i], **args)
        for i, p in enumerate(params):
            np.testing.assert_allclose(p.detach().numpy(), ref[i],
                                       err_msg="step %d, parameter %d"
                                       % (t, i),
                                       **_tol(name, dtype, REF_TOL))
            for key, value in states[i].items():
                ours = opt.state[p][key]
                if isinstance(value, float):
                    assert ours.item() == pytest.approx(value, rel=1e-7), key
                else:
                    np.testing.assert_allclose(
                        ours.numpy(), value, err_msg="state %s" % key,
                        **_tol(name, dtype, REF_TOL))


# The richest case of each class, for the state_dict round trips.
RICH = {"Adagrad": 1, "RMSprop": 3, "ASGD": 1, "Rprop": 1, "NAdam": 1}


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("direction", ["ours_to_torch", "torch_to_ours"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_state_dict_round_trip(name, direction, dtype,
                               float32_default_dtype):
    """Ours and torch's step the same tensors 7 times (with an LR
    scheduler) and save their state_dicts. ``torch_to_ours``: ours loads
    torch's state_dict and continues (12 more steps, lr still changing)
    as a torch.optim loaded from it does. ``ours_to_torch``: a torch.optim
    loads ours' and continues as one loaded from torch's own does. (Both
    sides of each comparison are loaded: torch's load_state_dict casts
    scalar states such as ASGD's ``eta`` and NAdam's ``mu_product`` to the
    parameters' dtype, which then steps them in that dtype.)"""
    kw = _kw(name, CASES[name][RICH[name]], dtype)
    data = _data(dtype, seed=7)
    ours_p, theirs_p = _leaves(data), _leaves(data)
    ours = getattr(otorch, name)(_groups(ours_p, kw, name), lr=LR, **kw)
    theirs = getattr(torch.optim, name)(_groups(theirs_p, kw, name), lr=LR,
                                        **kw)
    schedules = [_schedule(ours), _schedule(theirs)]
    rng = np.random.default_rng(300)
    for _ in range(7):
        _step_both([ours, theirs], [ours_p, theirs_p], rng, dtype)
        for s in schedules:
            s.step()
    saved_ours = copy.deepcopy(ours.state_dict())
    saved_theirs = copy.deepcopy(theirs.state_dict())
    assert _state_keys(ours) == _state_keys(theirs)
    if direction == "torch_to_ours":
        loading, reference = getattr(otorch, name), getattr(torch.optim, name)
        saved, x_p = saved_theirs, _leaves([p.detach() for p in theirs_p])
    else:
        loading = reference = getattr(torch.optim, name)
        saved, x_p = saved_ours, _leaves([p.detach() for p in ours_p])
    y_p = _leaves([p.detach() for p in theirs_p])
    x = loading(_groups(x_p, kw, name), lr=LR, **kw)
    y = reference(_groups(y_p, kw, name), lr=LR, **kw)
    x.load_state_dict(saved)
    y.load_state_dict(saved_theirs)
    assert x.state_dict()["param_groups"] == saved["param_groups"]
    assert _state_keys(x) == _state_keys(y)
    for t in range(12):
        for opt in (x, y):
            for group in opt.param_groups:
                group["lr"] = LR * FACTORS[t % len(FACTORS)]
        _step_both([x, y], [x_p, y_p], rng, dtype)
        _compare(x, y, x_p, y_p, dtype, "%s step %d" % (direction, t + 8),
                 name)


@pytest.mark.parametrize("name", sorted(CASES))
def test_signature_and_groups_are_torchs(name):
    """torch 1.13's signature (names, kinds, defaults), group keys in its
    order, and torch's checks as ValueError."""
    ours_cls, theirs_cls = getattr(otorch, name), getattr(torch.optim, name)
    ours_sig = inspect.signature(ours_cls).parameters.values()
    theirs_sig = list(inspect.signature(theirs_cls).parameters.values())
    assert [(p.name, p.kind, p.default) for p in ours_sig] == \
        [(p.name, p.kind, p.default) for p in theirs_sig]
    a, b = (cls([torch.zeros(2, requires_grad=True)])
            for cls in (ours_cls, theirs_cls))
    assert list(a.param_groups[0]) == list(b.param_groups[0])
    assert a.defaults == b.defaults
    assert ours_cls.__doc__.startswith(
        SPECS[RULES[name]]["class_description"].split()[0])


BAD = {
    "Adagrad": [dict(lr=-1.0), dict(lr_decay=-0.1),
                dict(initial_accumulator_value=-1.0), dict(eps=-1.0),
                dict(weight_decay=-1.0)],
    "RMSprop": [dict(lr=-1.0), dict(alpha=-0.5), dict(eps=-1.0),
                dict(momentum=-0.1), dict(weight_decay=-1.0)],
    "ASGD": [dict(lr=-1.0), dict(weight_decay=-1.0)],
    "Rprop": [dict(lr=-1.0), dict(etas=(1.2, 1.5)), dict(etas=(0.5, 0.9))],
    "NAdam": [dict(lr=-1.0), dict(betas=(1.0, 0.9)), dict(betas=(0.9, -0.1)),
              dict(eps=-1.0), dict(weight_decay=-1.0),
              dict(momentum_decay=-1.0)],
}


@pytest.mark.parametrize("name,case", [(n, i) for n, cases in BAD.items()
                                       for i in range(len(cases))])
def test_torchs_checks(name, case):
    """What torch 1.13's constructor refuses, ours refuses with torch's
    ValueError and message, torch's checks in torch's order (the origin of
    each case: torch/optim/<name>.py's __init__)."""
    kw = BAD[name][case]
    messages = []
    for cls in (getattr(torch.optim, name), getattr(otorch, name)):
        with pytest.raises(ValueError) as info:
            cls([torch.zeros(2, requires_grad=True)], **kw)
        messages.append(str(info.value))
    assert messages[1] == messages[0]


# Every torch 1.13 class a record class shares a name with, and arguments
# that fail two of torch's checks at once: the first in torch's order
# raises (torch/optim/<name>.py's __init__).
TWO_BAD = {
    "Adagrad": dict(lr=-1.0, eps=-1.0),
    "RMSprop": dict(momentum=-1.0, alpha=-1.0),
    "ASGD": dict(lr=-1.0, weight_decay=-1.0),
    "Rprop": dict(lr=-1.0, etas=(1.0, 0.5)),
    "NAdam": dict(betas=(1.0, 0.0), momentum_decay=-1.0),
    "Adadelta": dict(rho=1.5, eps=-1.0),
    "Adamax": dict(eps=-1.0, betas=(0.0, 1.0)),
    "RAdam": dict(betas=(0.5, 1.0), weight_decay=-1.0),
}


@pytest.mark.parametrize("name", sorted(TWO_BAD))
def test_torchs_check_order(name):
    """torch's first failing check decides the message, here as there."""
    messages = []
    for cls in (getattr(torch.optim, name), getattr(otorch, name)):
        with pytest.raises(ValueError) as info:
            cls(None, **TWO_BAD[name])
        messages.append(str(info.value))
    assert messages[1] == messages[0]


def test_rmsprop_differentiable_runs_torchs_step():
    """RMSprop(differentiable=True) runs torch.optim.RMSprop's own step on
    the same groups and state (the compiled step cannot record an autograd
    graph): equal to torch's, the graph recorded through the states; set
    back to False, the compiled step carries on from torch's state (its
    int step); the eager steps compile nothing. gradcheck of that step:
    test_torch_dtypes.py::test_differentiable."""
    torch.manual_seed(21)
    kw = dict(lr=0.01, momentum=0.5, centered=True, weight_decay=0.1,
              differentiable=True)
    # (Parameters that do not require grad: torch's differentiable step
    # refuses in-place updates of leaves that do.)
    ours = torch.randn(7)
    ref = ours.clone()
    opt = otorch.RMSprop([ours], **kw)
    ref_opt = torch.optim.RMSprop([ref], **kw)
    count = otorch.compile_count
    for i in range(12):
        if i == 6:
            for o in (opt, ref_opt):
                o.param_groups[0]["differentiable"] = False
        g = torch.randn(7)
        ours.grad, ref.grad = g.clone(), g.clone()
        opt.step()
        ref_opt.step()
        if i < 6:
            assert torch.equal(ours, ref)
            assert otorch.compile_count == count
        else:
            np.testing.assert_allclose(ours.numpy(), ref.numpy(), rtol=1e-5,
                                       atol=1e-5)
        assert opt.state[ours]["step"] == ref_opt.state[ref]["step"] == i + 1
    assert list(opt.state[ours]) == list(ref_opt.state[ref])

    # The graph goes through a state that requires grad, as in torch.
    p = torch.rand(5, dtype=torch.float64)
    p.grad = torch.rand(5, dtype=torch.float64)
    square_avg = torch.rand(5, dtype=torch.float64, requires_grad=True)
    opt = otorch.RMSprop([p], lr=0.5, differentiable=True)
    opt.state[p].update(step=0, square_avg=square_avg.clone())
    opt.step()
    assert opt.state[p]["square_avg"].requires_grad
    assert p.requires_grad and p.grad_fn is not None


@pytest.mark.parametrize("name", ["Adagrad", "ASGD", "Rprop", "NAdam"])
def test_differentiable_only_where_torch_takes_it(name):
    """The classes whose torch 1.13 counterpart takes no `differentiable`
    refuse it as torch's do (TypeError: an unexpected keyword)."""
    for cls in (getattr(torch.optim, name), getattr(otorch, name)):
        with pytest.raises(TypeError, match="differentiable"):
            cls([torch.zeros(2, requires_grad=True)], differentiable=True)


def test_rmsprop_states_follow_the_options(float32_default_dtype):
    """RMSprop's momentum_buffer appears once momentum is > 0 and grad_avg
    once centered is on, set in param_groups between steps (torch's class
    would raise KeyError there; these start at zero as torch's would at
    creation), and both steps match the reference."""
    p = torch.tensor([1.0, -2.0, 0.5], requires_grad=True)
    opt = otorch.RMSprop([p], lr=0.1)
    p.grad = torch.tensor([0.3, -0.2, 0.1])
    opt.step()
    assert list(opt.state[p]) == ["step", "square_avg"]
    opt.param_groups[0].update(momentum=0.5, centered=True)
    opt.step()
    assert list(opt.state[p]) == ["step", "square_avg", "momentum_buffer",
                                  "grad_avg"]
    assert opt.state[p]["step"] == 2
    ref = np.array([1.0, -2.0, 0.5])
    g = np.array([0.3, -0.2, 0.1], np.float32).astype(np.float64)
    ref, s = R.torch_rmsprop(ref, g, R.init_states("torch_rmsprop", ref),
                             learning_rate=0.1)
    s.update(momentum_buffer=np.zeros(3), grad_avg=np.zeros(3))
    ref, s = R.torch_rmsprop(ref, g, s, learning_rate=0.1, momentum=0.5,
                             centered=True)
    np.testing.assert_allclose(p.detach().numpy(), ref, rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(opt.state[p]["grad_avg"].numpy(),
                               s["grad_avg"], rtol=1e-5, atol=1e-7)


def test_asgd_keeps_per_parameter_scalars(float32_default_dtype):
    """ASGD's eta and mu are per parameter: a parameter that joins later (its
    first gradient at step 4) starts from the group's lr and steps with its
    own eta and mu, as torch's, while the others continue with theirs."""
    data = _data(torch.float32, seed=3)
    ours_p, theirs_p = _leaves(data), _leaves(data)
    kw = dict(lr=0.05, lambd=0.01, t0=2)
    ours = otorch.ASGD(ours_p, **kw)
    theirs = torch.optim.ASGD(theirs_p, **kw)
    rng = np.random.default_rng(5)
    for t in range(8):
        for a, b in zip(ours_p, theirs_p):
            if t < 3 and a is ours_p[2]:
                a.grad = b.grad = None
                continue
            g = torch.tensor(rng.standard_normal(tuple(a.shape)),
                             dtype=torch.float32)
            a.grad, b.grad = g.clone(), g.clone()
        ours.step()
        theirs.step()
        _compare(ours, theirs, ours_p, theirs_p, torch.float32,
                 "step %d" % t, "ASGD")
    assert ours.state[ours_p[0]]["step"].item() == 8
    assert ours.state[ours_p[2]]["step"].item() == 5
    assert ours.state[ours_p[0]]["eta"].item() != \
        ours.state[ours_p[2]]["eta"].item()
