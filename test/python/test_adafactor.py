"""Rule ``adafactor`` (MindSpore's ``FusedAdaFactor`` kernel: factored
second moments of states shaped by the record's shape kinds) against the
NumPy reference written from the paper (``reference.adafactor``), through
every way in: the C API (ctypes on libOptimRuntime), the compiled optimizer
of the Python extension in float64, ``optim_mlir.nn.AdaFactor`` and
``optim_mlir.torch.Adafactor``; and the synthetic run of optim-run that
test/Integration/formula-rules.test checks.

Shapes cover rank 0, 1, 2 and 4 (``B`` slices of ``R x C`` matrices).

Tolerances: float32 steps against the float64 reference, ``rtol=2e-4,
atol=2e-5`` after each of 20 steps (float32 rounding accumulated through the
row and column means and the two RMS); float64 steps ``rtol=1e-10,
atol=1e-12`` against a reference given the same hyper-parameters, learning
rate and weight decay (the runtime's table is float64), but ``rtol=1e-6,
atol=1e-7`` with a learning-rate schedule (the step computes it in float32,
as MindSpore's schedules do).
"""

import ctypes
import math
import os
import re

import numpy as np
import pytest
import torch

import optim_mlir
from optim_mlir import _optim, ir, nn
import optim_mlir.torch as otorch
import reference as R
from test_formula_rules import _compile_c_api, _pointers
from test_formula_rules import _runtime_library as _formula_rules_library

RTOL, ATOL = 2e-4, 2e-5
STEPS = 20
HYPER = dict(eps1=1e-30, eps2=1e-3, clip_threshold=1.0, decay_rate=0.8,
             beta1=0.9)
# Ungrouped, the decay filter leaves 'norm.gamma' undecayed.
SHAPES = [("norm.gamma", ()), ("fc.bias", (37,)), ("fc.weight", (33, 16)),
          ("conv.weight", (4, 3, 5, 6))]
# Rule options (structure) with a learning rate and hyper-parameters that
# go with them.
OPTIONS = {
    "default": dict(),
    "manual_lr": dict(relative_step=False, learning_rate=0.01,
                      first_moment=False),
    "unscaled": dict(relative_step=False, learning_rate=0.003,
                     scale_parameter=False, beta1=0.5, clip_threshold=0.5),
    "warmup": dict(warmup_init=True, first_moment=False, beta1=0.0,
                   decay_rate=0.6, eps2=1e-2),
}
STATES = ("exp_avg", "exp_avg_sq_row", "exp_avg_sq_col")


def _f32(x):
    return float(np.float32(x))


def _rule_args(case):
    """(hyper-parameters, options, learning rate) of an OPTIONS case."""
    case = dict(OPTIONS[case])
    lr = case.pop("learning_rate", 0.0)
    options = {k: case.pop(k) for k in ("first_moment", "scale_parameter",
                                        "relative_step", "warmup_init")
               if k in case}
    hyper = dict(HYPER, **case)
    full = dict(first_moment=True, scale_parameter=True, relative_step=True,
                warmup_init=False)
    full.update(options)
    return hyper, full, lr


def _reference_step(params, states, grads, t, lr, wds, hyper, options):
    """One reference step of every parameter (float64)."""
    for i, (p, g) in enumerate(zip(params, grads)):
        kw = dict(hyper, learning_rate=lr, weight_decay=wds[i])
        params[i], states[i] = R.adafactor(p, np.asarray(g, np.float64),
                                           states[i], t=t, **options, **kw)


def _state_shapes(shape):
    _, rows, cols = R.factored_shape(shape)
    return {"exp_avg": tuple(shape), "exp_avg_sq_row": rows,
            "exp_avg_sq_col": cols}


def _grads(rng, shapes, dtype=np.float32):
    return [np.asarray(rng.standard_normal(s)).astype(dtype) for s in shapes]


# ---------------------------------------------------------------------------
# The rule table
# ---------------------------------------------------------------------------

def test_rule_table_gives_the_state_shapes():
    spec = _optim.rule_specs()["adafactor"]
    assert spec["class_name"] == "AdaFactor"
    assert [h["name"] for h in spec["hyper_params"]] == list(HYPER)
    assert {h["name"]: h["default"] for h in spec["hyper_params"]} == HYPER
    assert spec["options"] == [("first_moment", True),
                               ("scale_parameter", True),
                               ("relative_step", True),
                               ("warmup_init", False)]
    assert [(s["name"], s["shape"], s["requires"]) for s in spec["states"]] \
        == [("exp_avg", "param", "first_moment"),
            ("exp_avg_sq_row", "factored_rows", ""),
            ("exp_avg_sq_col", "factored_cols", "")]
    assert spec["uses_step"] and spec["decay_in_rule"]
    for _, shape in SHAPES + [("", (1, 9)), ("", (2, 1, 7))]:
        _, rows, cols = R.factored_shape(shape)
        assert _optim.state_shape("factored_rows", shape) == rows
        assert _optim.state_shape("factored_cols", shape) == cols
        assert _optim.state_shape("param", shape) == shape
    with pytest.raises(ValueError, match="unknown state shape"):
        _optim.state_shape("rows", (3, 4))


# ---------------------------------------------------------------------------
# The compiled optimizer of the extension, float64
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("case", sorted(OPTIONS))
def test_float64_through_the_extension(case):
    """Every option, float64 parameters of every rank: the reference to
    float64 rounding, parameters and states."""
    hyper, options, lr = _rule_args(case)
    rng = np.random.default_rng(3)
    text = ir.optimizer_ir(
        "adafactor", dict(hyper, **options),
        params=[(n, s, "float64") for n, s in SHAPES],
        learning_rate=lr, weight_decay=0.05)
    compiled = optim_mlir.CompiledOptimizer(text)
    names = [p["name"] for p in compiled.params]
    assert list(compiled.state_names) == [
        s for s in STATES if s != "exp_avg" or options["first_moment"]]
    shapes = dict(SHAPES)
    data = [rng.standard_normal(shapes[n]) for n in names]
    states = [np.full(_state_shapes(shapes[n])[s], 7.0)
              for n in names for s in compiled.state_names]
    compiled.init_states(states)
    assert all(np.all(s == 0.0) for s in states)
    ref = [p.copy() for p in data]
    ref_states = [R.init_states("adafactor", p, **options) for p in ref]
    wds = [0.0 if "gamma" in n else 0.05 for n in names]
    k = len(compiled.state_names)
    for t in range(1, STEPS + 1):
        grads = _grads(rng, [p.shape for p in data], np.float64)
        compiled.step(data, grads, states)
        _reference_step(ref, ref_states, grads, t, lr, wds, hyper, options)
        for i, name in enumerate(names):
            np.testing.assert_allclose(data[i], ref[i], rtol=1e-10,
                                       atol=1e-12,
                                       err_msg="%s step %d" % (name, t))
            for s, state in enumerate(compiled.state_names):
                np.testing.assert_allclose(
                    states[i * k + s], ref_states[i][state], rtol=1e-10,
                    atol=1e-12, err_msg="%s %s step %d" % (name, state, t))


def test_state_of_the_wrong_shape_is_rejected():
    text = ir.optimizer_ir("adafactor", HYPER,
                           params=[("w", (6, 4), "float32")],
                           learning_rate=0.0)
    compiled = optim_mlir.CompiledOptimizer(text)
    p = np.ones((6, 4), np.float32)
    g = np.ones((6, 4), np.float32)
    good = [np.zeros((6, 4), np.float32), np.zeros(6, np.float32),
            np.zeros(4, np.float32)]
    for wrong in ([good[0], np.zeros((6, 4), np.float32), good[2]],
                  [good[0], good[1], np.zeros(6, np.float32)],
                  [good[0], good[1], np.zeros((1, 4), np.float32)]):
        with pytest.raises((ValueError, TypeError), match="shape"):
            compiled.step([p], [g], wrong)
        with pytest.raises((ValueError, TypeError), match="shape"):
            compiled.init_states(wrong)
    assert np.all(p == 1.0)
    compiled.step([p], [g], good)
    assert not np.all(p == 1.0)


# ---------------------------------------------------------------------------
# The C API
# ---------------------------------------------------------------------------

def _runtime_library():
    """libOptimRuntime through ctypes (test_formula_rules's), with the state
    queries."""
    lib = _formula_rules_library()
    lib.optimStateName.restype = ctypes.c_char_p
    lib.optimStateName.argtypes = [ctypes.c_void_p, ctypes.c_int64]
    lib.optimStateNumElements.restype = ctypes.c_int64
    lib.optimStateNumElements.argtypes = [ctypes.c_void_p, ctypes.c_int64,
                                          ctypes.c_int64]
    return lib


def test_c_api():
    """optimCompile / optimStateNumElements / optimInitStates / optimStep,
    float32, 20 steps, relative step and first moment (the defaults)."""
    lib = _runtime_library()
    opt, names = _compile_c_api(lib, "adafactor", HYPER, SHAPES, 0.0, 0.1)
    error = ctypes.c_char_p()
    try:
        n, k = len(names), lib.optimNumStates(opt)
        state_names = [lib.optimStateName(opt, s).decode()
                       for s in range(k)]
        assert state_names == list(STATES)
        shapes = dict(SHAPES)
        rng = np.random.default_rng(5)
        data = [np.asarray(rng.standard_normal(shapes[m])).astype(np.float32)
                for m in names]
        states = []
        for i, m in enumerate(names):
            expected = _state_shapes(shapes[m])
            for s, state in enumerate(state_names):
                assert lib.optimStateNumElements(opt, i, s) == \
                    math.prod(expected[state]), (m, state)
                states.append(np.full(expected[state], 7.0, np.float32))
        assert lib.optimInitStates(opt, _pointers(states),
                                   ctypes.byref(error)) == 0, error.value
        assert all(np.all(s == 0.0) for s in states)
        ref = [p.astype(np.float64) for p in data]
        options = _rule_args("default")[1]
        ref_states = [R.init_states("adafactor", p) for p in ref]
        wds = [0.0 if "gamma" in m else 0.1 for m in names]
        for t in range(1, STEPS + 1):
            grads = _grads(rng, [p.shape for p in data])
            assert lib.optimStep(opt, _pointers(data), _pointers(grads),
                                 _pointers(states), ctypes.byref(error)) == 0
            _reference_step(ref, ref_states, grads, t, 0.0, wds, HYPER,
                            options)
            for i in range(n):
                np.testing.assert_allclose(data[i], ref[i], rtol=RTOL,
                                           atol=ATOL,
                                           err_msg="%s step %d"
                                           % (names[i], t))
                for s, state in enumerate(state_names):
                    np.testing.assert_allclose(states[i * k + s],
                                               ref_states[i][state],
                                               rtol=RTOL, atol=ATOL)
    finally:
        lib.optimDestroy(opt)


# ---------------------------------------------------------------------------
# optim_mlir.nn
# ---------------------------------------------------------------------------

def _nn_params(rng, shapes=SHAPES, dtype=np.float32):
    return [nn.Parameter(np.asarray(rng.standard_normal(s)).astype(dtype),
                         name=n) for n, s in shapes]


@pytest.mark.parametrize("case", sorted(OPTIONS))
def test_nn(case):
    """optim_mlir.nn.AdaFactor, ungrouped (the decay filter), a loss scale,
    every option; states of their shapes."""
    hyper, options, lr = _rule_args(case)
    rng = np.random.default_rng(7)
    params = _nn_params(rng)
    kw = dict(eps=(hyper["eps1"], hyper["eps2"]),
              clip_threshold=hyper["clip_threshold"],
              decay_rate=hyper["decay_rate"],
              beta1=hyper["beta1"] if options["first_moment"] else None,
              weight_decay=0.05, scale_parameter=options["scale_parameter"],
              relative_step=options["relative_step"],
              warmup_init=options["warmup_init"], loss_scale=3.0)
    if not options["relative_step"]:
        kw["learning_rate"] = lr
    opt = nn.AdaFactor(params, **kw)
    assert opt.use_first_moment == options["first_moment"]
    if not options["first_moment"]:
        hyper["beta1"] = 0.0
    for p in params:
        for state in STATES:
            if state == "exp_avg" and not options["first_moment"]:
                assert not hasattr(opt, "exp_avg")
                continue
            (value,) = [s for s in getattr(opt, state)
                        if s.name == "%s.%s" % (state, p.name)]
            assert value.shape == _state_shapes(p.shape)[state]
            assert value.dtype == np.float32
    ref = [p.asnumpy().astype(np.float64) for p in params]
    ref_states = [R.init_states("adafactor", p, **options) for p in ref]
    wds = [0.0 if "gamma" in p.name else 0.05 for p in params]
    for t in range(1, STEPS + 1):
        grads = _grads(rng, [p.shape for p in params])
        opt(tuple(np.asarray(np.float32(3.0) * g) for g in grads))
        _reference_step(ref, ref_states, grads, t, lr, wds, hyper, options)
        for p, expected in zip(params, ref):
            np.testing.assert_allclose(p.asnumpy(), expected, rtol=RTOL,
                                       atol=ATOL,
                                       err_msg="%s step %d" % (p.name, t))
    assert opt.global_step == STEPS
    for i, p in enumerate(params):
        np.testing.assert_allclose(opt.exp_avg_sq_col[i].asnumpy(),
                                   ref_states[i]["exp_avg_sq_col"],
                                   rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(opt.exp_avg_sq_row[i].asnumpy(),
                                   ref_states[i]["exp_avg_sq_row"],
                                   rtol=RTOL, atol=ATOL)


def test_nn_groups_and_schedule():
    """Two groups with their own learning rate (a cosine schedule: MindSpore
    then turns scale_parameter off) and weight decay, float64 parameters."""
    rng = np.random.default_rng(9)
    params = _nn_params(rng, dtype=np.float64)
    schedule = nn.CosineDecayLR(min_lr=0.001, max_lr=0.01, decay_steps=15)
    groups = [{"params": params[:2], "lr": 0.004},
              {"params": params[2:], "weight_decay": 0.02}]
    opt = nn.AdaFactor(groups, learning_rate=schedule, relative_step=False,
                       beta1=0.8)
    assert opt.scale_lr is False and opt.scale_parameter is False
    options = dict(first_moment=True, scale_parameter=False,
                   relative_step=False, warmup_init=False)
    hyper = dict(HYPER, beta1=0.8)
    ref = [p.asnumpy() for p in params]
    ref_states = [R.init_states("adafactor", p) for p in ref]
    wds = [0.0, 0.0, 0.02, 0.02]
    for t in range(1, STEPS + 1):
        grads = _grads(rng, [p.shape for p in params], np.float64)
        opt(tuple(grads))
        step_lr = R.cosine_decay(t - 1, min_lr=0.001, max_lr=0.01,
                                 decay_steps=15)
        for i in range(4):
            lr = step_lr if i >= 2 else 0.004
            kw = dict(hyper, learning_rate=lr, weight_decay=wds[i])
            ref[i], ref_states[i] = R.adafactor(ref[i], grads[i],
                                                ref_states[i], t=t,
                                                **options, **kw)
        for p, expected in zip(params, ref):
            # The schedule is computed in float32 by the step.
            np.testing.assert_allclose(p.asnumpy(), expected, rtol=1e-6,
                                       atol=1e-7,
                                       err_msg="%s step %d" % (p.name, t))


def test_nn_checkpoint_round_trip(tmp_path):
    rng = np.random.default_rng(13)
    params = _nn_params(rng)
    opt = nn.AdaFactor(params, weight_decay=0.01)
    for _ in range(3):
        opt(tuple(_grads(rng, [p.shape for p in params])))
    path = str(tmp_path / "adafactor.npz")
    nn.save_checkpoint(opt, path)
    saved = opt.state_dict()
    assert set(saved["states"]) == set(STATES)
    for state in STATES:
        for n, s in SHAPES:
            assert saved["states"][state][n].shape == _state_shapes(s)[state]
    twin_params = [nn.Parameter(np.zeros(s, np.float32), name=n)
                   for n, s in SHAPES]
    twin = nn.AdaFactor(twin_params, weight_decay=0.01)
    nn.load_checkpoint(path, twin)
    assert twin.global_step == 3
    grads = _grads(rng, [p.shape for p in params])
    opt(tuple(grads))
    twin(tuple(g.copy() for g in grads))
    for a, b in zip(params, twin_params):
        np.testing.assert_array_equal(a.asnumpy(), b.asnumpy())
    for state in STATES:
        for a, b in zip(getattr(opt, state), getattr(twin, state)):
            np.testing.assert_array_equal(a.asnumpy(), b.asnumpy())
    # A state of the wrong shape is refused, and nothing is written.
    bad = opt.state_dict()
    bad["states"]["exp_avg_sq_row"]["fc.weight"] = np.zeros((33, 16),
                                                           np.float32)
    before = twin.state_dict()
    with pytest.raises(ValueError, match="shape"):
        twin.load_state_dict(bad)
    np.testing.assert_array_equal(twin.state_dict()["parameters"]["fc.bias"],
                                  before["parameters"]["fc.bias"])


NN_ERRORS = [
    (ValueError, "relative_step", dict(learning_rate=0.1)),
    (ValueError, "warmup_init", dict(learning_rate=0.1, relative_step=False,
                                     warmup_init=True)),
    (ValueError, "learning_rate", dict(relative_step=False)),
    (TypeError, "compression", dict(compression=1)),
    (TypeError, "eps", dict(eps=1e-30)),
    (ValueError, "eps", dict(eps=(1e-30, 1e-3, 1.0))),
    (ValueError, "eps2", dict(eps=(1e-30, -1e-3))),
    (ValueError, "clip_threshold", dict(clip_threshold=0.0)),
    (TypeError, "clip_threshold", dict(clip_threshold=1)),
    (ValueError, "decay_rate", dict(decay_rate=1.0)),
    (ValueError, "beta1", dict(beta1=1.0)),
    (ValueError, "weight_decay", dict(weight_decay=1.0)),
    (TypeError, "relative_step", dict(relative_step=1)),
]


def test_nn_compression_rounds_exp_avg_to_float16():
    """``compression=True``: MindSpore's exp_avg is a float16 Parameter, so
    every step stores it rounded. The same optimizer without compression,
    its exp_avg rounded to float16 after each step, gives the same bits."""
    rng = np.random.default_rng(11)
    shapes = [(6, 5), (7,)]
    init = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    make = lambda: [nn.Parameter(x.copy(), name="p%d" % i)
                    for i, x in enumerate(init)]
    a, b = make(), make()
    kw = dict(weight_decay=0.1, warmup_init=True)
    compressed = nn.AdaFactor(a, compression=True, **kw)
    plain = nn.AdaFactor(b, **kw)
    for _ in range(12):
        grads = tuple(rng.standard_normal(s).astype(np.float32)
                      for s in shapes)
        compressed(grads)
        plain(grads)
        for state in plain.exp_avg:
            state.data[...] = state.data.astype(np.float16)
        for x, y in zip(compressed.exp_avg, plain.exp_avg):
            np.testing.assert_array_equal(x.asnumpy(), y.asnumpy())
            assert np.array_equal(x.asnumpy(),
                                  x.asnumpy().astype(np.float16))
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x.asnumpy(), y.asnumpy())


@pytest.mark.parametrize("error,match,kwargs", NN_ERRORS)
def test_nn_argument_errors(error, match, kwargs):
    p = [nn.Parameter(np.ones((3, 4), np.float32), name="w")]
    with pytest.raises(error, match=match):
        nn.AdaFactor(p, **kwargs)


def test_nn_first_moment_and_hyper_params():
    p = [nn.Parameter(np.ones((3, 4), np.float32), name="w")]
    # beta1 None or 0: no first moment, and beta1 stays 0.
    for beta1 in (None, 0, 0.0):
        opt = nn.AdaFactor(p, beta1=beta1)
        assert not opt.use_first_moment and opt.beta1 == 0.0
        assert not opt.first_moment
    with pytest.raises(ValueError, match="beta1"):
        opt.set_hyper_param("beta1", 0.5)
    opt = nn.AdaFactor(p)
    assert opt.eps == (1e-30, 1e-3) and opt.scale_parameter
    assert opt.first_moment and opt.relative_step and not opt.warmup_init
    opt.set_hyper_param("beta1", 0.0)
    opt.set_hyper_param("decay_rate", 0.5)
    with pytest.raises(ValueError, match="decay_rate"):
        opt.set_hyper_param("decay_rate", 0.0)


# ---------------------------------------------------------------------------
# optim_mlir.torch
# ---------------------------------------------------------------------------

def _torch_tensors(rng, dtype=torch.float32):
    return [torch.tensor(rng.standard_normal(s), dtype=dtype,
                         requires_grad=True) for _, s in SHAPES]


def test_torch(float32_default_dtype):
    """Two groups with their own options (relative step with the first
    moment and weight decay; a manual learning rate, halved between steps,
    without the first moment), every rank."""
    rng = np.random.default_rng(11)
    tensors = _torch_tensors(rng)
    opt = otorch.Adafactor(
        [{"params": tensors[:2], "beta1": 0.9, "weight_decay": 0.1},
         {"params": tensors[2:], "lr": 0.004, "relative_step": False,
          "scale_parameter": False, "decay_rate": -0.7,
          "clip_threshold": 0.5}])
    ref = [t.detach().numpy().astype(np.float64) for t in tensors]
    first = dict(first_moment=True, scale_parameter=True, relative_step=True,
                 warmup_init=False)
    second = dict(first_moment=False, scale_parameter=False,
                  relative_step=False, warmup_init=False)
    ref_states = [R.init_states("adafactor", p, **first) for p in ref[:2]] + \
        [R.init_states("adafactor", p, **second) for p in ref[2:]]
    before = otorch.compile_count
    for t in range(1, STEPS + 1):
        if t == 10:
            opt.param_groups[1]["lr"] *= 0.5
        grads = _grads(rng, [x.shape for x in tensors])
        for x, g in zip(tensors, grads):
            x.grad = torch.from_numpy(g)
        opt.step()
        for i, g in enumerate(grads):
            if i < 2:
                kw = dict(HYPER, learning_rate=0.0, weight_decay=0.1, **first)
            else:
                kw = dict(HYPER, learning_rate=opt.param_groups[1]["lr"],
                          weight_decay=0.0, decay_rate=0.7,
                          clip_threshold=0.5, beta1=0.0, **second)
            ref[i], ref_states[i] = R.adafactor(
                ref[i], g.astype(np.float64), ref_states[i], t=t, **kw)
        for x, expected in zip(tensors, ref):
            np.testing.assert_allclose(x.detach().numpy(), expected,
                                       rtol=RTOL, atol=ATOL,
                                       err_msg="step %d" % t)
    # One compiled structure per group (their options differ).
    assert otorch.compile_count - before <= 2
    for i, x in enumerate(tensors):
        state = opt.state[x]
        assert float(state["step"]) == STEPS
        keys = set(STATES) if i < 2 else set(STATES) - {"exp_avg"}
        assert set(state) == {"step"} | keys
        for key in keys:
            assert tuple(state[key].shape) == _state_shapes(x.shape)[key]
            np.testing.assert_allclose(state[key].numpy(),
                                       ref_states[i][key], rtol=RTOL,
                                       atol=ATOL)


def test_torch_float64_and_state_dict(float32_default_dtype):
    """float64 tensors; a state dict saved and loaded into a new optimizer
    continues exactly."""
    rng = np.random.default_rng(17)
    tensors = _torch_tensors(rng, torch.float64)
    opt = otorch.Adafactor(tensors, beta1=0.9, warmup_init=True)
    ref = [t.detach().numpy().copy() for t in tensors]
    ref_states = [R.init_states("adafactor", p) for p in ref]
    options = dict(first_moment=True, scale_parameter=True,
                   relative_step=True, warmup_init=True)
    for t in range(1, 6):
        grads = _grads(rng, [x.shape for x in tensors], np.float64)
        for x, g in zip(tensors, grads):
            x.grad = torch.from_numpy(g)
        opt.step()
        for i, g in enumerate(grads):
            kw = dict(HYPER, learning_rate=0.0, weight_decay=0.0)
            ref[i], ref_states[i] = R.adafactor(ref[i], g, ref_states[i], t=t,
                                                **options, **kw)
        for x, expected in zip(tensors, ref):
            np.testing.assert_allclose(x.detach().numpy(), expected,
                                       rtol=1e-10, atol=1e-12)
    twins = [x.detach().clone().requires_grad_() for x in tensors]
    twin = otorch.Adafactor(twins, beta1=0.9, warmup_init=True)
    twin.load_state_dict(opt.state_dict())
    grads = _grads(rng, [x.shape for x in tensors], np.float64)
    for x, y, g in zip(tensors, twins, grads):
        x.grad = torch.from_numpy(g)
        y.grad = torch.from_numpy(g.copy())
    opt.step()
    twin.step()
    for x, y in zip(tensors, twins):
        torch.testing.assert_close(x, y, rtol=0, atol=0)
        for key in STATES:
            torch.testing.assert_close(opt.state[x][key], twin.state[y][key],
                                       rtol=0, atol=0)


TORCH_ERRORS = [
    ("relative_step", dict(lr=0.1)),
    ("warmup_init", dict(lr=0.1, relative_step=False, warmup_init=True)),
    ("lr", dict(relative_step=False)),
    ("decay_rate", dict(decay_rate=0.8)),
    ("beta1", dict(beta1=1.0)),
    ("clip_threshold", dict(clip_threshold=0.0)),
    ("eps", dict(eps=(1e-30,))),
    ("weight_decay", dict(weight_decay=-0.1)),
]


@pytest.mark.parametrize("match,kwargs", TORCH_ERRORS)
def test_torch_argument_errors(match, kwargs):
    x = torch.ones(3, 4, requires_grad=True)
    with pytest.raises(ValueError, match=match):
        otorch.Adafactor([x], **kwargs)


def test_torch_states_and_groups_checked_at_the_step(float32_default_dtype):
    x = torch.ones(3, 4, requires_grad=True)
    # A state of the wrong shape is refused before anything changes.
    opt = otorch.Adafactor([x])
    x.grad = torch.ones(3, 4)
    opt.step()
    after_one = x.detach().clone()
    opt.state[x]["exp_avg_sq_row"] = torch.zeros(3, 4)
    with pytest.raises(ValueError, match="exp_avg_sq_row"):
        opt.step()
    torch.testing.assert_close(x.detach(), after_one, rtol=0, atol=0)
    # With the relative step a group's lr is not used (transformers'
    # AdafactorSchedule writes 0.0 there).
    opt.state[x]["exp_avg_sq_row"] = torch.zeros(3)
    opt.param_groups[0]["lr"] = 0.0
    opt.step()
    assert float(opt.state[x]["step"]) == 2
    # A group's bad value is refused at the step.
    opt.param_groups[0]["decay_rate"] = -1.5
    with pytest.raises(ValueError, match="decay_rate"):
        opt.step()
    opt.param_groups[0].update(decay_rate=-0.8, relative_step=False, lr=None)
    with pytest.raises(ValueError, match="lr"):
        opt.step()


# ---------------------------------------------------------------------------
# optim-run's synthetic run (test/Integration/formula-rules.test)
# ---------------------------------------------------------------------------

class _StdNormal:
    """std::normal_distribution<float> on std::mt19937, as libstdc++
    computes it (what optim-run draws): Marsaglia's polar method on
    float uniforms ``u32 / 2^32``, the second value of a pair kept for the
    next call."""

    def __init__(self, seed):
        self.mt = [0] * 624
        self.mt[0] = seed
        for i in range(1, 624):
            prev = self.mt[i - 1]
            self.mt[i] = (1812433253 * (prev ^ (prev >> 30)) + i) & 0xFFFFFFFF
        self.index = 624
        self.saved = None
        libm = ctypes.CDLL("libm.so.6")
        self.logf = libm.logf
        self.logf.restype = ctypes.c_float
        self.logf.argtypes = [ctypes.c_float]

    def _u32(self):
        if self.index >= 624:
            mt = self.mt
            for i in range(624):
                y = (mt[i] & 0x80000000) | (mt[(i + 1) % 624] & 0x7FFFFFFF)
                mt[i] = mt[(i + 397) % 624] ^ (y >> 1) ^ \
                    (0x9908B0DF if y & 1 else 0)
            self.index = 0
        y = self.mt[self.index]
        self.index += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9D2C5680
        y ^= (y << 15) & 0xEFC60000
        return y ^ (y >> 18)

    def _uniform(self):
        u = np.float32(self._u32()) / np.float32(2.0 ** 32)
        return u if u < 1 else np.nextafter(np.float32(1), np.float32(0))

    def __call__(self):
        if self.saved is not None:
            value, self.saved = self.saved, None
            return value
        f32 = np.float32
        while True:
            # float(2) * uniform - 1.0: the product in float, the
            # difference in double, stored as float.
            x = f32(float(f32(2) * self._uniform()) - 1.0)
            y = f32(float(f32(2) * self._uniform()) - 1.0)
            r2 = f32(x * x) + f32(y * y)
            if not (r2 > 1.0 or r2 == 0.0):
                break
        mult = np.sqrt(f32(f32(-2) * f32(self.logf(float(r2)))) / r2)
        self.saved = f32(x * mult)
        return f32(y * mult)


def _optim_run_checksums(text, steps, seed=0):
    """The checksums optim-run prints for `text` (one ungrouped optimizer or
    groups setting their own learning rate and weight decay, float32
    parameters), computed with the reference from optim-run's synthetic
    data."""
    head = re.search(r"#optim\.rule<adafactor, ([^>]*)> learning_rate (\S+) "
                     r"weight_decay (\S+) ", text)
    values = dict(item.split(" = ") for item in head.group(1).split(", "))
    options = {k: values.pop(k) == "true"
               for k in ("first_moment", "scale_parameter", "relative_step",
                         "warmup_init")}
    hyper = {k: _f32(v) for k, v in values.items()}
    groups = []
    for attrs in re.findall(r"optim\.group([^{]*)\{", text):
        lr = re.search(r"learning_rate (\S+)", attrs)
        wd = re.search(r"weight_decay (\S+)", attrs)
        groups.append((_f32((lr or head).group(2 if lr is None else 1)),
                       _f32((wd or head).group(3 if wd is None else 1))))
    if not groups:
        groups = [(_f32(head.group(2)), _f32(head.group(3)))]
    compiled = optim_mlir.CompiledOptimizer(text)
    normal = _StdNormal(seed)
    params, lrs, wds = [], [], []
    for info in compiled.params:
        data = np.array([normal() for _ in range(math.prod(info["shape"]))],
                        np.float32).reshape(info["shape"])
        params.append(data.astype(np.float64))
        lr, wd = groups[info["group"]]
        lrs.append(lr)
        # Ungrouped, the decay filter applies.
        wds.append(wd if len(groups) > 1 or R.decay_filter(info["name"])
                   else 0.0)
    states = [R.init_states("adafactor", p, **options) for p in params]
    sums = []
    for t in range(1, steps + 1):
        grads = [np.array([normal() for _ in range(p.size)],
                          np.float32).reshape(p.shape).astype(np.float64)
                 for p in params]
        for i, g in enumerate(grads):
            params[i], states[i] = R.adafactor(
                params[i], g, states[i], t=t, learning_rate=lrs[i],
                weight_decay=wds[i], **hyper, **options)
        sums.append(sum(float(np.sum(p.astype(np.float32), dtype=np.float64))
                        for p in params))
    return sums


def test_optim_run_checksums_come_from_the_reference():
    """formula-rules.test checks optim-run's checksums on
    Inputs/adafactor.mlir as a prefix of the printed value and a choice of
    its next digit: the reference's value lies inside that window, at least
    3e-5 from its ends (float32 steps differ from it by about 1e-5)."""
    here = os.path.dirname(os.path.abspath(__file__))
    integration = os.path.join(here, "..", "Integration")
    with open(os.path.join(integration, "Inputs", "adafactor.mlir")) as f:
        text = f.read()
    with open(os.path.join(integration, "formula-rules.test")) as f:
        lit = f.read()
    checked = re.findall(r"ADAFACTOR: step (\d+) lr .* checksum "
                         r"(-?[0-9.]+)\{\{\[([0-9]+)\]\}\}", lit)
    assert [int(step) for step, _, _ in checked] == [0, 1, 2]
    sums = _optim_run_checksums(text, steps=len(checked))
    for (step, prefix, digits), value in zip(checked, sums):
        for v in (value - 3e-5, value, value + 3e-5):
            printed = "%.6f" % v
            assert printed.startswith(prefix) and \
                printed[len(prefix)] in digits, (step, value, prefix, digits)
