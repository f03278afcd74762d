"""Compiled CPU steps against the independent NumPy reference.

Every rule and option runs >= 20 steps on random data through the JIT
(`optim-lower-to-cpu`), in float32, and is compared with the reference in
float64 (``reference.ReferenceOptimizer`` in ``uniform`` mode: the order of
design.md section 5 for every rule). Tolerance: ``rtol=2e-4, atol=2e-5`` on
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
                 seed=0):
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
        self.compiled = optim_mlir.CompiledOptimizer(text, OPTIONS)
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
        self.compiled.step(self.params, grads, self.states)
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
