"""Mixed precision in the compiled step (docs/Mixed-precision.md): float16
and bfloat16 parameters with float32 master weights (``master f32``) and
states of another dtype (``states f32`` / ``states bf16``), through the
runtime's Python binding (``CompiledOptimizer``).

Reference: MindSpore's AdamWeightDecay (docs/Rules.md: no bias correction,
``update = m / (sqrt(v) + eps) + wd * param``), in float64 NumPy from the
formula (``reference.adam_weight_decay``), fed the same 16-bit gradients.
Tolerances, over 200 steps:

* the float32 master: rtol 1e-5, atol 1e-6 against the float64 master
  (parameters of magnitude ~1; float32 rounding of each update);
* the bfloat16 parameter: within 1 bfloat16 ulp of the float64 master
  rounded to bfloat16 (the master's float32 error may flip a rounding), and
  exactly the compiled master rounded to bfloat16 (round to nearest even);
* float16 parameters with float32 states (no master): within 4 float16 ulps
  of a float64 reference that rounds the parameter to float16 after each
  step, where float16 states are off by more than 0.1 after 10 steps.
"""
import numpy as np
import pytest

import optim_mlir
from reference import adam_weight_decay

LR, WD, BETA1, BETA2, EPS = 1e-3, 0.01, 0.9, 0.999, 1e-6
HYPER = dict(learning_rate=LR, beta1=BETA1, beta2=BETA2, eps=EPS)


# --- bfloat16 bits in uint16 arrays (NumPy has no bfloat16) -----------------

def to_bf16(x):
    """float32 values rounded to bfloat16 (nearest even), as uint16 bits."""
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    rounding = ((bits >> 16) & 1) + np.uint32(0x7FFF)
    return ((bits + rounding) >> 16).astype(np.uint16)


def from_bf16(bits):
    """bfloat16 bits (uint16) as float32 values."""
    return (np.asarray(bits, dtype=np.uint16).astype(np.uint32)
            << 16).view(np.float32)


def bf16_ulps(a_bits, b_bits):
    """Distance in bfloat16 ulps between two arrays of same-signed bits."""
    return np.abs(a_bits.astype(np.int64) - b_bits.astype(np.int64))


def test_bf16_helpers_match_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).normal(size=1000).astype(np.float32)
    expected = torch.from_numpy(x).to(torch.bfloat16).view(torch.int16)
    assert np.array_equal(to_bf16(x), expected.numpy().view(np.uint16))
    assert np.array_equal(from_bf16(to_bf16(x)),
                          torch.from_numpy(x).to(torch.bfloat16)
                          .float().numpy())


# --- helpers ------------------------------------------------------------------

def _source(params, rule="adam_weight_decay", lr=LR, wd=WD):
    lines = ['optim.optimizer @mp rule #optim.rule<%s> learning_rate %r '
             'weight_decay %r {' % (rule, lr, wd)]
    for name, shape, dtype, extra in params:
        dims = "x".join(str(d) for d in shape)
        lines.append('  optim.param "%s" : tensor<%sx%s>%s'
                     % (name, dims, dtype, (" " + extra) if extra else ""))
    lines.append("}")
    return "\n".join(lines)


_NUMPY = {"float32": np.float32, "float16": np.float16,
          "bfloat16": np.uint16, "float64": np.float64}


def _alloc_states(opt):
    return [np.zeros(info["state_shapes"][s],
                     _NUMPY[info["state_dtypes"][s]])
            for info in opt.params for s in range(len(opt.state_names))]


def _same_start(mixed, f32, rng, shapes):
    """Random bfloat16 parameters of `shapes` for `mixed` (with their
    masters) and the same values in float32 for `f32`, with initialised
    states: (mixed params, mixed states, f32 params, f32 states)."""
    start = [to_bf16(rng.uniform(-1, 1, s)) for s in shapes]
    pm = [p.copy() for p in start]
    sm = _alloc_states(mixed)
    mixed.init_states(sm, pm)
    pf = [from_bf16(p) for p in start]
    sf = _alloc_states(f32)
    f32.init_states(sf)
    return pm, sm, pf, sf


def _compile(params, **kwargs):
    return optim_mlir.CompiledOptimizer(_source(params, **kwargs),
                                        "chunk-size=256")


# --- bfloat16 with float32 master weights -------------------------------------

SHAPES = {"w": (37, 19), "b": (300,), "ln.gamma": (23,)}


def test_bf16_adamw_master_matches_float64_reference():
    opt = _compile([(n, s, "bf16", "master f32") for n, s in SHAPES.items()])
    assert opt.state_names == ["moment1", "moment2", "master"]
    for info in opt.params:
        assert info["master"]
        assert info["state_dtypes"] == ["float32"] * 3
    rng = np.random.default_rng(1)
    params = [to_bf16(rng.uniform(-1, 1, s)) for s in SHAPES.values()]
    states = _alloc_states(opt)
    opt.init_states(states, params)
    ref = [dict(param=from_bf16(p).astype(np.float64),
                moment1=np.zeros(p.shape), moment2=np.zeros(p.shape))
           for p in params]
    for k in range(3):
        assert np.array_equal(states[3 * k + 2], from_bf16(params[k]))
    decays = [WD, WD, 0.0]  # "gamma" is filtered out of weight decay
    for step in range(200):
        grads = [to_bf16(rng.normal(0, 0.1, s).astype(np.float32))
                 for s in SHAPES.values()]
        opt.step(params, grads, states)
        for k, r in enumerate(ref):
            r["param"], new = adam_weight_decay(
                r["param"], from_bf16(grads[k]).astype(np.float64),
                {"moment1": r["moment1"], "moment2": r["moment2"]},
                weight_decay=decays[k], **HYPER)
            r.update(new)
        if step % 20 != 19:
            continue
        for k, r in enumerate(ref):
            m1, m2, master = states[3 * k:3 * k + 3]
            np.testing.assert_allclose(master, r["param"], rtol=1e-5,
                                       atol=1e-6)
            np.testing.assert_allclose(m1, r["moment1"], rtol=1e-5,
                                       atol=1e-8)
            np.testing.assert_allclose(m2, r["moment2"], rtol=1e-5,
                                       atol=1e-10)
            # The parameter is the master rounded, exactly...
            assert np.array_equal(params[k], to_bf16(master))
            # ...and within 1 ulp of the float64 master rounded.
            expected = to_bf16(r["param"].astype(np.float32))
            assert bf16_ulps(params[k], expected).max() <= 1


def test_bf16_master_beats_bf16_states_and_params():
    """Without a master, the bfloat16 parameter loses most updates (each
    ~lr is below half an ulp); with one it tracks the reference."""
    shape = (512,)
    rng = np.random.default_rng(2)
    start = to_bf16(rng.uniform(0.5, 1.0, shape))
    grads = [to_bf16(rng.normal(0, 0.1, shape).astype(np.float32))
             for _ in range(200)]
    ref = dict(param=from_bf16(start).astype(np.float64),
               moment1=np.zeros(shape), moment2=np.zeros(shape))
    for g in grads:
        ref["param"], new = adam_weight_decay(
            ref["param"], from_bf16(g).astype(np.float64),
            {"moment1": ref["moment1"], "moment2": ref["moment2"]},
            weight_decay=WD, **HYPER)
        ref.update(new)
    errors = {}
    for extra in ("master f32", ""):
        opt = _compile([("w", shape, "bf16", extra)])
        param = start.copy()
        states = _alloc_states(opt)
        opt.init_states(states, [param] if extra else None)
        for g in grads:
            opt.step([param], [g], states)
        errors[extra] = np.abs(from_bf16(param) - ref["param"]).max()
    assert errors["master f32"] <= 2.0 ** -8  # 1 ulp at [0.5, 1)
    assert errors[""] > 4 * errors["master f32"]


def test_states_bf16_with_master():
    """`states bf16`: the master in float32, the moments in bfloat16
    (rounded after each update, as a NumPy reference does)."""
    shape = (1000,)
    opt = _compile([("w", shape, "bf16", "master f32 states bf16")])
    info = opt.params[0]
    assert info["state_dtypes"] == ["bfloat16", "bfloat16", "float32"]
    rng = np.random.default_rng(3)
    param = to_bf16(rng.uniform(-1, 1, shape))
    states = _alloc_states(opt)
    opt.init_states(states, [param])
    master = from_bf16(param).astype(np.float64)
    m1 = np.zeros(shape)
    m2 = np.zeros(shape)
    for _ in range(200):
        g = to_bf16(rng.normal(0, 0.1, shape).astype(np.float32))
        master, new = adam_weight_decay(
            master, from_bf16(g).astype(np.float64),
            {"moment1": m1, "moment2": m2}, weight_decay=WD, **HYPER)
        m1 = from_bf16(to_bf16(new["moment1"].astype(np.float32)))
        m2 = from_bf16(to_bf16(new["moment2"].astype(np.float32)))
        m1, m2 = m1.astype(np.float64), m2.astype(np.float64)
        opt.step([param], [g], states)
    assert states[0].dtype == np.uint16 and states[2].dtype == np.float32
    # The moments differ from the reference's by bfloat16 roundings that
    # float32 and float64 arithmetic take differently, then carried on
    # (seen: 4.9e-4 on moment1 ~3e-2, 7.6e-6 on moment2 ~2.5e-3, 3.6e-4 on
    # the master, less than one update of lr = 1e-3).
    np.testing.assert_allclose(from_bf16(states[0]), m1, rtol=0, atol=2e-3)
    np.testing.assert_allclose(from_bf16(states[1]), m2, rtol=0, atol=3e-5)
    np.testing.assert_allclose(states[2], master, rtol=0, atol=1e-3)
    assert np.array_equal(param, to_bf16(states[2]))


# --- float16 with float32 states ------------------------------------------------

def _f16_run(states_extra, steps, start, grads):
    opt = _compile([("w", start.shape, "f16", states_extra)])
    param = start.copy()
    states = _alloc_states(opt)
    opt.init_states(states)
    for g in grads[:steps]:
        opt.step([param], [g], states)
    return param, states


def test_f16_adamw_with_f32_states_does_not_underflow():
    shape = (256,)
    rng = np.random.default_rng(4)
    start = rng.uniform(-1, 1, shape).astype(np.float16)
    # Gradients ~1e-4: (1 - beta2) * g^2 ~ 1e-11 is 0 in float16.
    grads = [(rng.normal(0, 1e-4, shape)).astype(np.float16)
             for _ in range(10)]
    # The float32 run: the same rule on float32 buffers.
    f32 = _compile([("w", shape, "f32", "")])
    p32 = start.astype(np.float32)
    s32 = _alloc_states(f32)
    f32.init_states(s32)
    for g in grads:
        f32.step([p32], [g.astype(np.float32)], s32)
    # The float64 reference of the mixed run: float16 parameter rounded
    # after each update, states in float64.
    ref = dict(param=start.astype(np.float64), moment1=np.zeros(shape),
               moment2=np.zeros(shape))
    for g in grads:
        new_param, new = adam_weight_decay(
            ref["param"], g.astype(np.float64),
            {"moment1": ref["moment1"], "moment2": ref["moment2"]},
            weight_decay=WD, **HYPER)
        ref.update(new)
        ref["param"] = new_param.astype(np.float16).astype(np.float64)

    mixed, states = _f16_run("states f32", 10, start, grads)
    assert [s.dtype for s in states] == [np.float32, np.float32]
    assert (states[1] > 0).all()  # no underflow of v
    ulp = np.spacing(np.abs(ref["param"]).astype(np.float16)).astype(
        np.float64)
    assert (np.abs(mixed - ref["param"]) <= 4 * ulp).all()
    err_mixed = np.abs(mixed.astype(np.float64) - p32).max()
    assert err_mixed < 2e-3

    # float16 states: v underflows, the update becomes m / eps.
    plain, plain_states = _f16_run("", 10, start, grads)
    assert (plain_states[1] == 0).mean() > 0.5
    err_plain = np.abs(plain.astype(np.float64) - p32).max()
    assert err_plain > 0.1
    assert err_plain > 50 * err_mixed


def test_f16_scaled_gradient_is_unscaled_in_f32():
    """With f32 states, the float16 gradient is widened before unscaling:
    gradients of ~1e-8 (below float16's smallest subnormal, 6e-8) scaled
    by 65536 still move the parameter, as a float64 reference fed the same
    unscaled values does (within 4 float16 ulps); unscaled in float16 they
    would be 0 and, without weight decay, nothing would move."""
    shape = (128,)
    rng = np.random.default_rng(7)
    start = rng.uniform(-1, 1, shape).astype(np.float16)
    scale = 65536.0
    scaled = [(rng.normal(0, 1e-8, shape) * scale).astype(np.float16)
              for _ in range(10)]
    source = _source([("w", shape, "f16", "states f32")], lr=1e-2, wd=0.0,
                     rule="adam_weight_decay, eps = 1.0e-12").replace("weight_decay 0.0",
                                     "weight_decay 0.0 loss_scale 65536.0")
    opt = optim_mlir.CompiledOptimizer(source, "chunk-size=256")
    param = start.copy()
    states = _alloc_states(opt)
    opt.init_states(states)
    ref = dict(param=start.astype(np.float64), moment1=np.zeros(shape),
               moment2=np.zeros(shape))
    for g in scaled:
        opt.step([param], [g], states)
        new_param, new = adam_weight_decay(
            ref["param"], g.astype(np.float64) / scale,
            {"moment1": ref["moment1"], "moment2": ref["moment2"]},
            learning_rate=1e-2, beta1=BETA1, beta2=BETA2, eps=1e-12)
        ref.update(new)
        ref["param"] = new_param.astype(np.float16).astype(np.float64)
    assert np.abs(param.astype(np.float64) - start).max() > 1e-3
    ulp = np.spacing(np.abs(ref["param"]).astype(np.float16)).astype(
        np.float64)
    assert (np.abs(param - ref["param"]) <= 4 * ulp).all()


# --- a least-squares model trained in bfloat16 with master weights ----------------

def _train_least_squares(dtype_extra, steps=200):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(256, 16)).astype(np.float32)
    w_true = rng.normal(size=(16, 1)).astype(np.float32)
    y = x @ w_true + 0.1 + 0.01 * rng.normal(size=(256, 1)).astype(
        np.float32)
    bf16 = dtype_extra is not None
    ty = "bf16" if bf16 else "f32"
    opt = optim_mlir.CompiledOptimizer(
        _source([("w", (16, 1), ty, dtype_extra or ""),
                 ("bias", (1,), ty, dtype_extra or "")], lr=2e-2, wd=1e-4),
        "chunk-size=256")
    w0 = np.zeros((16, 1), np.float32)
    b0 = np.zeros((1,), np.float32)
    params = [to_bf16(w0), to_bf16(b0)] if bf16 else [w0, b0]
    states = _alloc_states(opt)
    opt.init_states(states, params if bf16 else None)
    losses = []
    for _ in range(steps):
        w = from_bf16(params[0]) if bf16 else params[0]
        b = from_bf16(params[1]) if bf16 else params[1]
        residual = x @ w + b - y
        losses.append(float(np.mean(residual ** 2)))
        gw = (2.0 / len(x)) * (x.T @ residual)
        gb = (2.0 / len(x)) * residual.sum(axis=0)
        grads = ([to_bf16(gw), to_bf16(gb)] if bf16
                 else [gw.astype(np.float32), gb.astype(np.float32)])
        opt.step(params, grads, states)
    return np.array(losses)


def test_least_squares_bf16_master_follows_float32():
    """200 AdamW steps on a 16-feature least-squares problem: the bfloat16
    model with float32 master weights has the float32 model's loss curve
    within 5% (plus 2e-3 absolute, near the noise floor) at every step."""
    f32 = _train_least_squares(None)
    mixed = _train_least_squares("master f32")
    assert f32[-1] < 0.05 * f32[0]  # the problem is learned
    assert np.all(np.abs(mixed - f32) <= 0.05 * f32 + 2e-3)


# --- init_states ------------------------------------------------------------------

def test_init_states_needs_params_with_a_master():
    opt = _compile([("w", (8,), "bf16", "master f32"),
                    ("v", (4,), "bf16", "")])
    assert opt.state_names == ["moment1", "moment2", "master"]
    # The parameter without a master has a 0-element master state.
    assert opt.params[1]["state_shapes"][2] == (0,)
    assert not opt.params[1]["master"]
    states = _alloc_states(opt)
    with pytest.raises(ValueError, match="master weights"):
        opt.init_states(states)
    params = [to_bf16(np.linspace(-1, 1, 8)), to_bf16(np.ones(4))]
    with pytest.raises(ValueError, match="expected 2 parameter arrays"):
        opt.init_states(states, params[:1])
    bad = list(states)
    bad[2] = np.zeros(8, np.uint16)  # the master is float32
    with pytest.raises(TypeError, match="float32"):
        opt.init_states(bad, params)
    # Nothing was written by the failed calls.
    assert not states[2].any()
    opt.init_states(states, params)
    assert np.array_equal(states[2], from_bf16(params[0]))
    # The step checks the states' dtypes too.
    grads = [to_bf16(np.ones(8)), to_bf16(np.ones(4))]
    with pytest.raises(TypeError, match="float32"):
        opt.step(params, grads, bad)


def test_init_states_without_master_takes_no_params():
    opt = _compile([("w", (8,), "f16", "states f32")])
    states = _alloc_states(opt)
    opt.init_states(states)
    opt.init_states(states, [np.zeros(8, np.float16)])
    assert opt.params[0]["state_dtypes"] == ["float32", "float32"]


@pytest.mark.parametrize("extra, message", [
    ("master f32", "only float16 and bfloat16"),
    ("master f16", "master copy must be f32"),
    ("states f64", "states must be f32, f16 or bf16"),
])
def test_invalid_mixed_precision_is_refused(extra, message):
    dtype = "f32" if extra == "master f32" else "bf16"
    with pytest.raises(Exception, match=message):
        _compile([("w", (8,), dtype, extra)])


def test_whole_tensor_rule_refuses_mixed_precision():
    with pytest.raises(Exception, match="whole tensors"):
        optim_mlir.CompiledOptimizer(
            _source([("w", (8, 4), "bf16", "master f32")], rule="adafactor"),
            "")


# --- every rule on the master ------------------------------------------------------

@pytest.mark.parametrize("rule", [
    "sgd", "momentum", "adam", "lamb", "lars", "adagrad", "rmsprop", "ftrl",
    "lion", "adan", "radam", "torch_nadam", "power_sign", "adagrad_da"])
def test_master_update_is_the_float32_update(rule):
    """With a master, the rule runs in float32 on the master, the moments
    and the (exactly widened) bfloat16 gradient: bit for bit the float32
    step on the same values, weight decay included (it reads the master;
    the gradient is widened before decay and unscaling; Lamb and LARS
    through their norms phase). The bfloat16 parameter is the master
    rounded."""
    shapes = [(37, 19), (300,)]
    params = [("w%d" % k, s) for k, s in enumerate(shapes)]
    mixed = optim_mlir.CompiledOptimizer(
        _source([(n, s, "bf16", "master f32") for n, s in params],
                rule=rule, lr=0.01, wd=0.01), "chunk-size=128")
    f32 = optim_mlir.CompiledOptimizer(
        _source([(n, s, "f32", "") for n, s in params], rule=rule, lr=0.01,
                wd=0.01), "chunk-size=128")
    rng = np.random.default_rng(6)
    pm, sm, pf, sf = _same_start(mixed, f32, rng, shapes)
    n = len(f32.state_names)
    assert mixed.state_names == f32.state_names + ["master"]
    for _ in range(20):
        g = [to_bf16(rng.normal(0, 0.1, s).astype(np.float32))
             for s in shapes]
        mixed.step(pm, g, sm)
        f32.step(pf, [from_bf16(x) for x in g], sf)
    for k in range(len(shapes)):
        master = sm[k * (n + 1) + n]
        assert np.array_equal(master, pf[k])
        for s in range(n):
            assert np.array_equal(sm[k * (n + 1) + s], sf[k * n + s])
        assert np.array_equal(pm[k], to_bf16(master))


def test_gpu_runtime_compiles_mixed_precision():
    """The GPU runtime compiles the mixed step (no driver needed): the
    master state, each state's dtype, and every buffer in the table of its
    own dtype (f32: g's four buffers and w's moments and master; bf16: w's
    parameter and gradient)."""
    from optim_mlir._optim import GPUOptimizer
    opt = GPUOptimizer.compile(
        _source([("w", (8,), "bf16", "master f32"), ("g", (4,), "f32", "")]),
        chip="sm_90")
    assert list(opt.state_names) == ["moment1", "moment2", "master"]
    assert opt.params[0]["state_dtypes"] == ["float32"] * 3
    assert opt.params[1]["state_dtypes"] == ["float32"] * 3
    assert opt.num_tables == 2
    assert [opt.num_table_entries(t) for t in range(2)] == [7, 2]


def test_master_with_clipping_and_dynamic_loss_scaling():
    """Clipping and dynamic loss scaling read the bfloat16 gradients from
    their table: with a master the step is the float32 step (same norm,
    same clip factor, same scale), and a step whose bfloat16 gradient holds
    an inf writes neither the master, the moments nor the parameter."""
    shapes = [(37, 19), (300,)]
    control = ("loss_scale 1024.0 dynamic<growth_factor = 2.0, "
               "backoff_factor = 0.5, growth_interval = 3, min_scale = 1.0> "
               "max_grad_norm 0.5")

    def compile_(dtype, extra):
        source = _source([("w%d" % k, s, dtype, extra)
                          for k, s in enumerate(shapes)], rule="adam",
                         lr=0.01, wd=0.01)
        source = source.replace("weight_decay 0.01",
                                "weight_decay 0.01 " + control)
        return optim_mlir.CompiledOptimizer(source, "chunk-size=128")

    mixed, f32 = compile_("bf16", "master f32"), compile_("f32", "")
    rng = np.random.default_rng(8)
    pm, sm, pf, sf = _same_start(mixed, f32, rng, shapes)
    n = len(f32.state_names)
    for step in range(12):
        g = [to_bf16(rng.normal(0, 0.5, s).astype(np.float32) * 1024.0)
             for s in shapes]
        if step == 5:
            g[1][7] = 0x7F80  # +inf in bfloat16
        before = [x.copy() for x in pm + sm]
        mixed.step(pm, g, sm)
        f32.step(pf, [from_bf16(x) for x in g], sf)
        status = mixed.step_status()
        assert status == f32.step_status()
        if step == 5:
            assert status["found_inf"]
            assert all(np.array_equal(a, b) for a, b in zip(before, pm + sm))
        else:
            assert status["clip_factor"] > 1.0  # the clipping is active
    assert mixed.global_step == f32.global_step == 11
    for k in range(len(shapes)):
        assert np.array_equal(sm[k * (n + 1) + n], pf[k])
        assert np.array_equal(pm[k], to_bf16(pf[k]))
