"""Rules defined by a record alone: Lion and Adan (OptimRules.td, formula
written in arith and math ops) against NumPy references written from their
papers (``reference.lion``, ``reference.adan``, ``reference.radam``),
through every way in: the
C API (ctypes on libOptimRuntime), the compiled optimizer of the Python
extension in float64, ``optim_mlir.nn`` and ``optim_mlir.torch`` (where
the record asks for that front end's class: MindSpore's PowerSign,
ProximalGradientDescent and AdagradDA have no torch class).

Tolerances: float32 steps against the float64 reference, ``rtol=2e-4,
atol=2e-5`` after each of 20 steps (float32 rounding accumulated); float64
steps ``rtol=1e-10, atol=1e-12`` against a reference given the same
hyper-parameters (the runtime's table is float64). Lion's update is
``lr * sign(c)``: where
``c`` is within rounding of 0 the float32 and float64 signs could differ;
the fixed seeds here draw no such element (nor for PowerSign's ``sign(m)``
and ``sign(g)``).
"""

import ctypes
import os

import numpy as np
import pytest
import torch

import optim_mlir
from optim_mlir import _optim, ir, nn
import optim_mlir.torch as otorch
import reference as R

RTOL, ATOL = 2e-4, 2e-5
STEPS = 20
HYPER = {"lion": dict(beta1=0.9, beta2=0.99),
         "adan": dict(beta1=0.98, beta2=0.92, beta3=0.99, eps=1e-8),
         "radam": dict(beta1=0.9, beta2=0.999, eps=1e-8),
         "torch_adamax": dict(beta1=0.9, beta2=0.999, eps=1e-8),
         "torch_adadelta": dict(rho=0.9, eps=1e-6),
         # MindSpore's kernels without an nn optimizer (nn classes only);
         # test_ms_op_rules.py has their grouped and kernel cases. l1 large
         # enough that the soft thresholds zero some elements.
         "power_sign": dict(logbase=0.5, sign_decay=0.9, beta=0.9),
         "proximal_gradient_descent": dict(l1=2.0, l2=0.1),
         "adagrad_da": dict(l1=0.01, l2=0.1)}
# The rules whose front-end classes come from their records, but for
# torch's Adagrad, RMSprop, ASGD, Rprop and NAdam (options, tuple arguments,
# computed hyper-parameters, states started from a hyper-parameter), which
# test_torch_rules.py checks.
RULES = sorted(HYPER)
SPECS = _optim.rule_specs()
TORCH_RULES = {"torch_adagrad", "torch_rmsprop", "torch_asgd", "torch_rprop",
               "torch_nadam"}
assert RULES == sorted(r for r, s in SPECS.items()
                       if s["gen_python_classes"] and r not in TORCH_RULES)


def _uses_step(rule):
    return SPECS[rule]["uses_step"]


def _torch_hyper(hyper):
    """`hyper` as torch's arguments: beta1, beta2, ... gathered into
    `betas`."""
    kw = {k: v for k, v in hyper.items() if not k.startswith("beta")}
    betas = tuple(v for k, v in hyper.items() if k.startswith("beta"))
    if betas:
        kw["betas"] = betas
    return kw
SHAPES = [("fc.weight", (33, 16)), ("fc.bias", (37,)), ("norm.gamma", (5,))]


def _f32(x):
    return float(np.float32(x))


def _reference_step(rule, params, states, grads, lr, wds, t):
    """One reference step."""
    for i, (p, g) in enumerate(zip(params, grads)):
        kw = dict(HYPER[rule], learning_rate=lr, weight_decay=wds[i])
        if _uses_step(rule):
            kw["t"] = t
        params[i], states[i] = getattr(R, rule)(p, g, states[i], **kw)


def _grads(rng, shapes, dtype=np.float32):
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


@pytest.mark.parametrize("rule", RULES)
def test_float64_through_the_extension(rule):
    """The formula retyped to f64: float64 parameters match the reference to
    float64 rounding."""
    rng = np.random.default_rng(3)
    params = [(n, s, "float64") for n, s in SHAPES]
    text = ir.optimizer_ir(rule, HYPER[rule], params=params,
                           learning_rate=0.01, weight_decay=0.05)
    compiled = optim_mlir.CompiledOptimizer(text)
    names = [p["name"] for p in compiled.params]
    shapes = dict(SHAPES)
    data = [rng.standard_normal(shapes[n]) for n in names]
    states = [np.zeros_like(p) for p in data for _ in compiled.state_names]
    compiled.init_states(states)
    ref = [p.copy() for p in data]
    ref_states = [R.init_states(rule, p) for p in ref]
    # The ungrouped decay filter: no decay on 'gamma'.
    wds = [0.0 if "gamma" in n else 0.05 for n in names]
    k = len(compiled.state_names)
    for t in range(1, STEPS + 1):
        grads = _grads(rng, [p.shape for p in data], np.float64)
        compiled.step(data, grads, states)
        _reference_step(rule, ref, ref_states, grads, 0.01, wds, t)
        for i, name in enumerate(names):
            np.testing.assert_allclose(data[i], ref[i], rtol=1e-10,
                                       atol=1e-12, err_msg=name)
            for s, state in enumerate(compiled.state_names):
                np.testing.assert_allclose(states[i * k + s],
                                           ref_states[i][state], rtol=1e-10,
                                           atol=1e-12)


def _runtime_library():
    build = os.environ.get("OPTIM_BUILD_DIR")
    path = os.path.join(build, "lib", "libOptimRuntime.so")
    lib = ctypes.CDLL(path)
    lib.optimCompile.restype = ctypes.c_void_p
    lib.optimCompile.argtypes = [ctypes.c_char_p, ctypes.c_size_t,
                                 ctypes.c_char_p,
                                 ctypes.POINTER(ctypes.c_char_p)]
    for name in ("optimNumParams", "optimNumStates"):
        getattr(lib, name).restype = ctypes.c_int64
        getattr(lib, name).argtypes = [ctypes.c_void_p]
    lib.optimParamName.restype = ctypes.c_char_p
    lib.optimParamName.argtypes = [ctypes.c_void_p, ctypes.c_int64]
    lib.optimInitStates.argtypes = [ctypes.c_void_p, ctypes.c_void_p,
                                    ctypes.POINTER(ctypes.c_char_p)]
    lib.optimStep.argtypes = [ctypes.c_void_p] + [ctypes.c_void_p] * 3 + [
        ctypes.POINTER(ctypes.c_char_p)]
    lib.optimDestroy.argtypes = [ctypes.c_void_p]
    return lib


def _pointers(arrays):
    return (ctypes.c_void_p * len(arrays))(*[a.ctypes.data for a in arrays])


def _compile_c_api(lib, rule, hyper, shapes, learning_rate, weight_decay):
    """optimCompile of `rule` over float32 parameters of `shapes`: the
    handle (the caller destroys it) and the parameters' names in step
    order."""
    text = ir.optimizer_ir(rule, hyper,
                           params=[(n, s, "float32") for n, s in shapes],
                           learning_rate=learning_rate,
                           weight_decay=weight_decay).encode()
    error = ctypes.c_char_p()
    opt = lib.optimCompile(text, len(text), None, ctypes.byref(error))
    assert opt, error.value
    names = [lib.optimParamName(opt, i).decode()
             for i in range(lib.optimNumParams(opt))]
    return opt, names


@pytest.mark.parametrize("rule", RULES)
def test_c_api(rule):
    """optimCompile / optimInitStates / optimStep, float32, 20 steps."""
    lib = _runtime_library()
    opt, names = _compile_c_api(lib, rule, HYPER[rule], SHAPES, 0.003, 0.1)
    error = ctypes.c_char_p()
    try:
        n, k = len(names), lib.optimNumStates(opt)
        shapes = dict(SHAPES)
        rng = np.random.default_rng(5)
        data = [rng.standard_normal(shapes[m]).astype(np.float32)
                for m in names]
        states = [np.full(p.shape, 7.0, np.float32) for p in data
                  for _ in range(k)]
        assert lib.optimInitStates(opt, _pointers(states),
                                   ctypes.byref(error)) == 0, error.value
        inits = [s["init"] for s in SPECS[rule]["states"]]
        assert all(np.all(states[i * k + j] == inits[j])
                   for i in range(n) for j in range(k))
        ref = [p.astype(np.float64) for p in data]
        ref_states = [R.init_states(rule, p) for p in ref]
        wds = [0.0 if "gamma" in m else 0.1 for m in names]
        for t in range(1, STEPS + 1):
            grads = _grads(rng, [p.shape for p in data])
            assert lib.optimStep(opt, _pointers(data), _pointers(grads),
                                 _pointers(states), ctypes.byref(error)) == 0
            _reference_step(rule, ref, ref_states,
                            [g.astype(np.float64) for g in grads], 0.003, wds,
                            t)
            for i in range(n):
                np.testing.assert_allclose(data[i], ref[i], rtol=RTOL,
                                           atol=ATOL, err_msg=names[i])
    finally:
        lib.optimDestroy(opt)


@pytest.mark.parametrize("rule", [r for r in RULES
                                  if SPECS[r]["gen_nn_class"]])
def test_nn(rule):
    """optim_mlir.nn: the ungrouped decay filter, a cosine schedule and a
    loss scale, against the reference."""
    rng = np.random.default_rng(7)
    params = [nn.Parameter(rng.standard_normal(s).astype(np.float32), name=n)
              for n, s in SHAPES]
    lr = nn.CosineDecayLR(min_lr=0.001, max_lr=0.01, decay_steps=15)
    cls = getattr(nn, SPECS[rule]["class_name"])
    opt = cls(params, learning_rate=lr, weight_decay=0.05, loss_scale=4.0,
              **HYPER[rule])
    ref = [p.asnumpy().astype(np.float64) for p in params]
    ref_states = [R.init_states(rule, p) for p in ref]
    wds = [0.0 if "gamma" in p.name else 0.05 for p in params]
    for t in range(1, STEPS + 1):
        grads = _grads(rng, [p.shape for p in params])
        opt(tuple(4.0 * g for g in grads))
        step_lr = R.cosine_decay(t - 1, min_lr=0.001, max_lr=0.01,
                                 decay_steps=15)
        _reference_step(rule, ref, ref_states,
                        [g.astype(np.float64) for g in grads], step_lr, wds, t)
        for p, expected in zip(params, ref):
            np.testing.assert_allclose(p.asnumpy(), expected, rtol=RTOL,
                                       atol=ATOL, err_msg=p.name)
    # The first hyper-parameter with a bounded range, just outside it.
    h = next(h for h in SPECS[rule]["hyper_params"]
             if h["range"][:2] != (None, None))
    lower, upper, lower_closed, upper_closed = h["range"]
    bad = (lower if not lower_closed else lower - 1.0) \
        if lower is not None else (upper if not upper_closed else upper + 1.0)
    with pytest.raises(ValueError, match=h["name"]):
        cls(params, **{h["name"]: bad})


@pytest.mark.parametrize("rule", [r for r in RULES
                                  if SPECS[r]["gen_torch_class"]])
def test_torch(rule, float32_default_dtype):
    """optim_mlir.torch: two groups with their own lr and weight decay, and
    a learning rate changed between steps (no recompilation)."""
    rng = np.random.default_rng(11)
    tensors = [torch.tensor(rng.standard_normal(s), dtype=torch.float32,
                            requires_grad=True) for _, s in SHAPES]
    cls = getattr(otorch, SPECS[rule]["class_name"])
    kw = _torch_hyper(HYPER[rule])
    opt = cls([{"params": tensors[:2], "lr": 0.002, "weight_decay": 0.1},
               {"params": tensors[2:], "lr": 0.004}], **kw)
    ref = [t.detach().numpy().astype(np.float64) for t in tensors]
    ref_states = [R.init_states(rule, p) for p in ref]
    before = otorch.compile_count
    for t in range(1, STEPS + 1):
        if t == 10:
            for group in opt.param_groups:
                group["lr"] *= 0.5
        grads = _grads(rng, [x.shape for x in tensors])
        for x, g in zip(tensors, grads):
            x.grad = torch.from_numpy(g)
        opt.step()
        lrs = [opt.param_groups[0]["lr"]] * 2 + [opt.param_groups[1]["lr"]]
        wds = [0.1, 0.1, 0.0]
        for i, g in enumerate(grads):
            kw = dict(HYPER[rule], learning_rate=lrs[i], weight_decay=wds[i])
            if _uses_step(rule):
                kw["t"] = t
            ref[i], ref_states[i] = getattr(R, rule)(
                ref[i], g.astype(np.float64), ref_states[i], **kw)
        for x, expected in zip(tensors, ref):
            np.testing.assert_allclose(x.detach().numpy(), expected,
                                       rtol=RTOL, atol=ATOL)
    assert otorch.compile_count - before <= 1
    state = opt.state[tensors[0]]
    assert float(state["step"]) == STEPS
    assert set(state) == {"step"} | {s["name"] for s in
                                     _optim.rule_specs()[rule]["states"]}


@pytest.mark.parametrize("rule", [r for r in RULES
                                  if hasattr(torch.optim,
                                             SPECS[r]["class_name"])])
def test_matches_torch(rule, float32_default_dtype):
    """Rules that are torch's own optimizers too (RAdam, torch's Adamax and
    Adadelta):
    the optim_mlir.torch class and torch.optim's step the same tensors
    (float32, L2 weight decay, 20 steps; RAdam's rectification switches on
    at step 6) to float32 rounding of two evaluation orders (torch updates
    the moments in place with ``mul_``/``add_``; the formula fuses them),
    ``rtol=5e-5, atol=1e-6`` for the parameters, ``atol=1e-7`` for the
    states."""
    rng = np.random.default_rng(13)
    data = [rng.standard_normal(s).astype(np.float32) for _, s in SHAPES]
    ours = [torch.tensor(d, requires_grad=True) for d in data]
    theirs = [torch.tensor(d, requires_grad=True) for d in data]
    name = SPECS[rule]["class_name"]
    kw = dict(_torch_hyper(HYPER[rule]), lr=0.01, weight_decay=0.05)
    opt = getattr(otorch, name)(ours, **kw)
    reference = getattr(torch.optim, name)(theirs, **kw)
    keys = [s["name"] for s in SPECS[rule]["states"]]
    for _ in range(STEPS):
        for a, b in zip(ours, theirs):
            g = torch.tensor(rng.standard_normal(tuple(a.shape)),
                             dtype=torch.float32)
            a.grad, b.grad = g.clone(), g.clone()
        opt.step()
        reference.step()
        for a, b in zip(ours, theirs):
            np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(),
                                       rtol=5e-5, atol=1e-6)
        for a, b in zip(ours, theirs):
            for key in keys:
                np.testing.assert_allclose(
                    opt.state[a][key].numpy(), reference.state[b][key].numpy(),
                    rtol=5e-5, atol=1e-7)
