"""Compiled CPU steps against the independent NumPy reference.

Every rule and option runs >= 20 steps on random data through the JIT
(`optim-lower-to-cpu`), in float32, and is compared with the reference in
float64 (``reference.ReferenceOptimizer`` in ``uniform`` mode: the order of
docs/Python-nn.md, "Optimizers" for every rule). Tolerance: ``rtol=2e-4, atol=2e-5`` on
parameters and states after every step unless a test states otherwise
(float32 rounding accumulated over the steps).
"""

import numpy as np
import pytest

import optim_mlir
from optim_mlir import ir
import reference as R

RTOL, ATOL = 2e-4, 2e-5
STEPS = 20
# Small chunks so that the multi-threaded (scf.forall -> OpenMP) path and the
# peeled vector remainder both run on these sizes.
OPTIONS = "chunk-size=256"

# Shapes: centralizable (dim 1 multiple of 16), not, odd length (peeled
# remainder), a single element, and a zero-sized tensor.
UNGROUPED = [("dense.weight", (33, 16)), ("conv.weight", (4, 16, 3, 3)),
             ("proj.weight", (7, 5)), ("dense.bias", (37,)),
             ("norm.gamma", (1,)), ("norm.beta", (3,)), ("empty", (0,))]

RULE_CASES = [
    ("sgd", dict(momentum=0.9, dampening=0.1)),
    ("sgd", dict(momentum=0.9, nesterov=True)),
    ("sgd", dict(momentum=0.0)),
    ("momentum", dict(momentum=0.9)),
    ("momentum", dict(momentum=0.8, use_nesterov=True)),
    ("adam", dict(beta1=0.8, beta2=0.95, eps=1e-6)),
    ("adam", dict(use_nesterov=True)),
    ("adam", dict(use_amsgrad=True, eps=1e-6)),
    ("adam_weight_decay", dict(beta1=0.85, beta2=0.99, eps=1e-6)),
    ("lamb", dict(beta1=0.9, beta2=0.99, eps=1e-6)),
    ("lars", dict(momentum=0.9, epsilon=1e-5, coefficient=0.01)),
    ("lars", dict(momentum=0.9, use_nesterov=True)),
    ("adagrad", dict(accum=0.1)),
    ("rmsprop", dict(decay=0.9, momentum=0.5, epsilon=1e-6)),
    ("rmsprop", dict(decay=0.8, momentum=0.0, epsilon=1e-6, centered=True)),
    ("ftrl", dict(initial_accum=0.1, lr_power=-0.5, l1=0.001, l2=0.01)),
    ("proximal_adagrad", dict(accum=0.1, l1=0.001, l2=0.01)),
    ("adamax", dict(beta1=0.9, beta2=0.99, eps=1e-6)),
    ("adadelta", dict(rho=0.9, epsilon=1e-6)),
    ("asgd", dict(lambd=1e-3, alpha=0.75, t0=5.0)),
    ("rprop", dict(etaminus=0.5, etaplus=1.2, min_step=1e-6, max_step=0.5)),
    ("lazy_adam", dict(beta1=0.9, beta2=0.999, eps=1e-8)),
    # Rules whose formula is written in the dialect (OptimRules.td).
    ("lion", dict(beta1=0.9, beta2=0.99)),
    ("adan", dict(beta1=0.98, beta2=0.92, beta3=0.99, eps=1e-8)),
    ("power_sign", dict(logbase=0.7, sign_decay=0.9, beta=0.9)),
    ("proximal_gradient_descent", dict(l1=1.0, l2=0.1)),
    ("adagrad_da", dict(l1=0.01, l2=0.1)),
]


def _case_id(case):
    rule, hyper = case
    opts = [k for k, v in hyper.items() if v is True]
    return "-".join([rule] + opts)


def _ref_hyper(rule, hyper):
    h = dict(hyper)
    if rule == "lars":
        h["lars_filter"] = lambda name: True
    return h


class Harness:
    """One compiled optimizer and its NumPy twin, stepped together."""

    def __init__(self, rule, hyper, params=None, groups=None, order=None,
                 learning_rate=0.01, weight_decay=0.0, loss_scale=1.0,
                 seed=0, options=OPTIONS):
        self.rng = np.random.default_rng(seed)
        arrays = {}
        specs = params if groups is None else [
            p for g in groups for p in g["params"]]
        for name, shape in specs:
            arrays[name] = self.rng.standard_normal(shape).astype(np.float32)

        def ir_params(ps):
            return [(n, s, "float32") for n, s in ps]

        ir_groups = None
        ref_params = None
        if groups is None:
            ref_params = [(n, arrays[n].astype(np.float64)) for n, _ in params]
        else:
            ir_groups = []
            ref_params = []
            for g in groups:
                ir_g = dict(g)
                ir_g["params"] = ir_params(g["params"])
                ir_groups.append(ir_g)
                ref_g = {k: v for k, v in g.items() if k != "params"}
                ref_g["params"] = [(n, arrays[n].astype(np.float64))
                                   for n, _ in g["params"]]
                if "lr" in ref_g:
                    ref_g["lr"] = _ref_lr(ref_g["lr"])
                ref_params.append(ref_g)
            if order is not None:
                ref_params.append({"order_params": list(order)})
        text = ir.optimizer_ir(rule, hyper,
                               params=ir_params(params) if params else None,
                               groups=ir_groups, learning_rate=learning_rate,
                               weight_decay=weight_decay, loss_scale=loss_scale,
                               order_params=order)
        self.text = text
        self.compiled = optim_mlir.CompiledOptimizer(text, options)
        self.ref = R.ReferenceOptimizer(
            rule, ref_params, learning_rate=_ref_lr(learning_rate),
            weight_decay=weight_decay, loss_scale=loss_scale,
            mode="uniform", **_ref_hyper(rule, hyper))
        self.names = [p["name"] for p in self.compiled.params]
        assert self.names == self.ref.names
        self.params = [arrays[n].copy() for n in self.names]
        self.states = [np.zeros_like(p) for p in self.params
                       for _ in self.compiled.state_names]
        self.compiled.init_states(self.states)
        self.check("initial")

    def step(self, scale=1.0):
        grads = [(scale * self.rng.standard_normal(p.shape)).astype(np.float32)
                 for p in self.params]
        ref_lr = self.ref.get_lr()
        lrs = self.compiled.learning_rates()
        ref_lrs = ref_lr if isinstance(ref_lr, tuple) else (ref_lr,) * len(self.names)
        for name, ref_value in zip(self.names, ref_lrs):
            group = self.compiled.params[self.names.index(name)]["group"]
            np.testing.assert_allclose(lrs[group], ref_value, rtol=1e-6,
                                       atol=1e-9, err_msg="lr of " + name)
        sent = [g.copy() for g in grads]
        self.compiled.step(self.params, grads, self.states)
        # A step reads the gradients and never writes them.
        for g, before in zip(grads, sent):
            np.testing.assert_array_equal(g, before)
        self.ref.step([g.astype(np.float64) for g in grads])

    def check(self, when, rtol=RTOL, atol=ATOL):
        num_states = len(self.compiled.state_names)
        for i, name in enumerate(self.names):
            assert np.all(np.isfinite(self.ref.params[i])), \
                "reference diverged: %s (%s)" % (name, when)
            np.testing.assert_allclose(
                self.params[i], self.ref.params[i], rtol=rtol, atol=atol,
                err_msg="param %s (%s)" % (name, when))
            for s, state in enumerate(self.compiled.state_names):
                np.testing.assert_allclose(
                    self.states[i * num_states + s], self.ref.states[i][state],
                    rtol=rtol, atol=atol,
                    err_msg="state %s of %s (%s)" % (state, name, when))


def _ref_lr(lr):
    if isinstance(lr, tuple):
        name, params = lr
        return R.make_schedule(name, **params)
    return lr


@pytest.mark.parametrize("case", RULE_CASES, ids=_case_id)
def test_rule_ungrouped(case):
    """Every rule, ungrouped: default decay filter (no decay on beta/gamma),
    loss scale, a cosine schedule; 20 steps."""
    rule, hyper = case
    h = Harness(rule, hyper, params=UNGROUPED,
                learning_rate=("cosine_decay", dict(min_lr=0.001, max_lr=0.01,
                                                    decay_steps=15)),
                weight_decay=0.01, loss_scale=4.0)
    for step in range(STEPS):
        h.step()
        h.check("step %d" % step)
    assert h.compiled.global_step == STEPS


GROUPS = [
    {"params": [("dense.weight", (33, 16)), ("conv.weight", (4, 16, 3, 3))],
     "lr": [0.02, 0.015, 0.01, 0.005], "weight_decay": 0.02,
     "grad_centralization": True},
    {"params": [("proj.weight", (7, 5)), ("norm.gamma", (1,)),
                ("rank1", (16,))],
     "weight_decay": 0.0, "grad_centralization": True},
    {"params": [("dense.bias", (37,))],
     "lr": [0.01, 0.01, 0.02, 0.03]},
]
ORDER = ["dense.bias", "conv.weight", "norm.gamma", "dense.weight",
         "proj.weight", "rank1"]


@pytest.mark.parametrize("case", RULE_CASES, ids=_case_id)
def test_rule_grouped(case):
    """Every rule with groups: per-group lr lists (run past their end), weight
    decay (including a decaying group holding a 'gamma', which groups do not
    filter), inherited values, centralization (applied to rank >= 2 with
    dim 1 % 16 == 0; rank-1 and (7, 5) untouched), order_params."""
    rule, hyper = case
    h = Harness(rule, hyper, groups=GROUPS, order=ORDER,
                learning_rate=[0.01, 0.008, 0.006, 0.004],
                weight_decay=0.01, loss_scale=2.0, seed=1)
    assert h.names == ORDER
    for step in range(STEPS):
        h.step()
        h.check("step %d" % step)


SCHEDULE_CASES = [
    ("exponential_decay", dict(learning_rate=0.1, decay_rate=0.9,
                               decay_steps=4, is_stair=False)),
    ("exponential_decay", dict(learning_rate=0.1, decay_rate=0.9,
                               decay_steps=4, is_stair=True)),
    ("natural_exp_decay", dict(learning_rate=0.1, decay_rate=0.05,
                               decay_steps=4, is_stair=False)),
    ("natural_exp_decay", dict(learning_rate=0.1, decay_rate=0.05,
                               decay_steps=4, is_stair=True)),
    ("inverse_decay", dict(learning_rate=0.1, decay_rate=0.5, decay_steps=3,
                           is_stair=False)),
    ("inverse_decay", dict(learning_rate=0.1, decay_rate=0.5, decay_steps=3,
                           is_stair=True)),
    ("cosine_decay", dict(min_lr=0.001, max_lr=0.1, decay_steps=10)),
    ("polynomial_decay", dict(learning_rate=0.1, end_learning_rate=0.01,
                              decay_steps=6, power=2.0,
                              update_decay_steps=False)),
    ("polynomial_decay", dict(learning_rate=0.1, end_learning_rate=0.01,
                              decay_steps=6, power=0.5,
                              update_decay_steps=True)),
    ("warmup", dict(learning_rate=0.1, warmup_steps=7)),
    ("piecewise", dict(milestones=[3, 8, 12], values=[0.1, 0.05, 0.01])),
]


@pytest.mark.parametrize("case", SCHEDULE_CASES,
                         ids=lambda c: c[0] + ("-stair" if c[1].get("is_stair")
                                               or c[1].get("update_decay_steps")
                                               else ""))
def test_schedule(case):
    """Every learning-rate schedule, evaluated in the compiled code, against
    the reference at steps 0..29 (past the ends of the schedules)."""
    text = ir.optimizer_ir("sgd", {}, params=[("w", (4,), "float32")],
                           learning_rate=case)
    compiled = optim_mlir.CompiledOptimizer(text, OPTIONS)
    schedule = _ref_lr(case)
    for step in range(30):
        compiled.global_step = step
        np.testing.assert_allclose(compiled.learning_rates()[0],
                                   schedule(step), rtol=2e-6, atol=1e-9,
                                   err_msg="step %d" % step)


def test_per_step_list_past_its_end():
    """A per-step list is indexed by the global step; past its end the last
    value is used."""
    values = [0.5, 0.25, 0.125]
    h = Harness("momentum", dict(momentum=0.9), params=[("w", (9,))],
                learning_rate=values)
    seen = []
    for step in range(6):
        seen.append(h.compiled.learning_rates()[0])
        h.step()
        h.check("step %d" % step)
    np.testing.assert_allclose(seen, [0.5, 0.25, 0.125, 0.125, 0.125, 0.125])


def test_hyper_params_are_runtime_data():
    """Changing the learning rate, betas, weight decay and loss scale between
    steps takes effect at the next step without recompiling (the compiled
    object is shared by source text, so a recompilation would also be a new
    object; here the same object keeps running)."""
    groups = [{"params": [("a", (40, 16))], "lr": 0.01, "weight_decay": 0.01},
              {"params": [("b", (33,))], "lr": 0.02, "weight_decay": 0.0}]
    h = Harness("adam", dict(beta1=0.9, beta2=0.999, eps=1e-6), groups=groups,
                learning_rate=0.01, weight_decay=0.0, loss_scale=1.0, seed=3)
    for step in range(25):
        if step == 5:
            h.compiled.set_hyper_param(0, "learning_rate", 0.003)
            h.ref.lrs[h.ref.names.index("a")] = 0.003
        if step == 10:
            for g in range(2):
                h.compiled.set_hyper_param(g, "beta1", 0.8)
            h.ref.hyper["beta1"] = 0.8
        if step == 15:
            h.compiled.set_hyper_param(1, "weight_decay", 0.05)
            h.ref.wds[h.ref.names.index("b")] = 0.05
            h.ref.decay_flags[h.ref.names.index("b")] = True
        if step == 20:
            h.compiled.set_hyper_param(0, "loss_scale", 8.0)
            h.ref.loss_scale = 8.0
        h.step(scale=8.0 if step >= 20 else 1.0)
        h.check("step %d" % step)
    assert h.compiled.get_hyper_param(0, "learning_rate") == pytest.approx(0.003)


@pytest.mark.parametrize("rule,hyper", [
    ("adam", dict(eps=1e-6)), ("rmsprop", dict(momentum=0.5, epsilon=1e-6)),
    ("lamb", {})])
def test_float64(rule, hyper):
    """float64 parameters compute in float64, with the hyper-parameters as
    given (the table holds float64): agreement to ~1e-11."""
    text = ir.optimizer_ir(rule, hyper, params=[("w", (24, 16), "float64"),
                                                ("b", (7,), "float64")],
                           learning_rate=0.01, weight_decay=0.01)
    compiled = optim_mlir.CompiledOptimizer(text, OPTIONS)
    rng = np.random.default_rng(5)
    ps = [rng.standard_normal((24, 16)), rng.standard_normal(7)]
    full = dict(R.DEFAULTS[rule])
    full.pop("learning_rate", None)
    full.update(hyper)
    ref = R.ReferenceOptimizer(rule, [("w", ps[0].copy()), ("b", ps[1].copy())],
                               learning_rate=0.01, weight_decay=0.01,
                               mode="uniform", **full)
    ss = [np.zeros_like(p) for p in ps for _ in compiled.state_names]
    compiled.init_states(ss)
    for _ in range(STEPS):
        gs = [rng.standard_normal(p.shape) for p in ps]
        compiled.step(ps, gs, ss)
        ref.step(gs)
    for p, q in zip(ps, ref.params):
        np.testing.assert_allclose(p, q, rtol=1e-11, atol=1e-13)


def test_float16_parameters():
    """float16 parameters and states: computed in float32, stored in
    float16 (tolerance of float16 storage, 2e-3 relative)."""
    text = ir.optimizer_ir("momentum", dict(momentum=0.9),
                           params=[("w", (8, 32), "float16")],
                           learning_rate=0.01)
    compiled = optim_mlir.CompiledOptimizer(text, OPTIONS)
    rng = np.random.default_rng(6)
    p = rng.standard_normal((8, 32)).astype(np.float16)
    m = np.zeros_like(p)
    ref_p, ref_m = p.astype(np.float64), np.zeros((8, 32))
    for _ in range(10):
        g = rng.standard_normal((8, 32)).astype(np.float16)
        compiled.step([p], [g], [m])
        ref_p, st = R.momentum(ref_p, g.astype(np.float64), {"moments": ref_m},
                               learning_rate=0.01, momentum=0.9)
        ref_m = st["moments"]
        ref_p = ref_p.astype(np.float16).astype(np.float64)
        ref_m = ref_m.astype(np.float16).astype(np.float64)
    np.testing.assert_allclose(p, ref_p, rtol=2e-3, atol=2e-3)


def test_failed_step_leaves_buffers_untouched():
    """Bad buffers are rejected before anything is written."""
    h = Harness("adam", {}, params=[("w", (4, 16)), ("b", (5,))])
    before = [p.copy() for p in h.params] + [s.copy() for s in h.states]
    grads = [np.ones((4, 16), np.float32), np.ones(5, np.float64)]
    with pytest.raises(TypeError, match="dtype float32"):
        h.compiled.step(h.params, grads, h.states)
    with pytest.raises(ValueError, match="shape"):
        h.compiled.step(h.params, [np.ones((4, 16), np.float32),
                                   np.ones(6, np.float32)], h.states)
    with pytest.raises(ValueError, match="expected 2 parameters"):
        h.compiled.step(h.params[:1], grads[:1], h.states)
    with pytest.raises(ValueError, match="C-contiguous"):
        h.compiled.step([np.ones((16, 4), np.float32).T, h.params[1]],
                        [np.ones((4, 16), np.float32),
                         np.ones(5, np.float32)], h.states)
    readonly = h.params[0].copy()
    readonly.setflags(write=False)
    with pytest.raises(ValueError, match="writeable"):
        h.compiled.step([readonly, h.params[1]],
                        [np.ones((4, 16), np.float32), np.ones(5, np.float32)],
                        h.states)
    after = [p for p in h.params] + [s for s in h.states]
    for x, y in zip(before, after):
        np.testing.assert_array_equal(x, y)
    assert h.compiled.global_step == 0


def test_bad_hyper_param_and_source():
    h = Harness("adam", {}, params=[("w", (4,))])
    with pytest.raises(ValueError, match="unknown hyper-parameter 'momentum'"):
        h.compiled.set_hyper_param(0, "momentum", 0.9)
    with pytest.raises(ValueError, match="group 3 out of range"):
        h.compiled.set_hyper_param(3, "beta1", 0.9)
    with pytest.raises(ValueError, match="'loss_scale' must be positive"):
        h.compiled.set_hyper_param(0, "loss_scale", 0.0)
    with pytest.raises(RuntimeError, match="invalid optimizer IR"):
        optim_mlir.CompiledOptimizer("optim.optimizer @x {", OPTIONS)
    with pytest.raises(RuntimeError, match="'beta1' of Adam must be in"):
        optim_mlir.CompiledOptimizer(
            ir.optimizer_ir("adam", dict(beta1=1.0), params=[("w", (4,), "float32")]))
    with pytest.raises(RuntimeError, match="invalid pipeline options"):
        optim_mlir.CompiledOptimizer(h.text, "vector-bytes=x")


def test_bad_pipeline_options_are_the_error(capfd):
    """What the option parser says about an unknown option is the
    exception's message, and nothing goes to stderr. (A value that does not
    parse, `vector-bytes=x`, is still reported by LLVM's option library on
    stderr as well.)"""
    h = Harness("momentum", dict(momentum=0.9), params=[("w", (4,))])
    capfd.readouterr()
    with pytest.raises(RuntimeError) as error:
        optim_mlir.CompiledOptimizer(h.text, "bogus=1")
    assert str(error.value).startswith(
        "invalid pipeline options 'bogus=1': "), str(error.value)
    assert "no such option bogus" in str(error.value)
    assert capfd.readouterr().err == ""
    with pytest.raises(RuntimeError,
                       match="invalid pipeline options 'vector-bytes=x'"):
        optim_mlir.CompiledOptimizer(h.text, "vector-bytes=x")