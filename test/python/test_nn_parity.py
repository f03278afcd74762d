"""``optim_mlir.nn`` optimizers against the NumPy reference and torch 1.13.

Every optimizer class runs 20 steps on random float32 data, ungrouped and
grouped, and is compared after every step with
``reference.ReferenceOptimizer(mode="uniform")`` in float64 (the semantics of
docs/Python-nn.md, "Optimizers").  Tolerance: ``rtol=2e-4, atol=2e-5`` on parameters and
states (float32 rounding accumulated over 20 steps), ``rtol=1e-6`` on
``get_lr()``.

The torch tests compare with ``torch.optim`` where the update rule is the
same: SGD and Momentum (``torch.optim.SGD``), Adadelta, Adagrad (torch's
``eps=0``), Rprop, ASGD: ``rtol=1e-5, atol=1e-6`` after 20 float32 steps.
Adam is compared with a looser tolerance because MindSpore adds ``eps`` to the
uncorrected ``sqrt(v)`` (torch to the corrected one).

The compiled steps use ``chunk-size=256`` so that the parallel, chunked code
runs on these small tensors.
"""

import numpy as np
import pytest

from optim_mlir import nn
import reference as R

RTOL, ATOL = 2e-4, 2e-5
STEPS = 20
# Small chunks so that the multi-threaded path and the peeled vector
# remainder run on these sizes (as in test_cpu_numerics).
OPTIONS = "chunk-size=256"

UNGROUPED = [("dense.weight", (33, 16)), ("conv.weight", (4, 16, 3, 3)),
             ("proj.weight", (7, 5)), ("dense.bias", (37,)),
             ("norm.gamma", (1,)), ("norm.beta", (3,)), ("empty", (0,))]

GROUPS = [
    {"params": [("dense.weight", (33, 16)), ("conv.weight", (4, 16, 3, 3))],
     "lr": "list", "weight_decay": 0.02, "grad_centralization": True},
    {"params": [("proj.weight", (7, 5)), ("norm.gamma", (1,)), ("rank1", (16,))],
     "weight_decay": 0.0, "grad_centralization": True},
    {"params": [("dense.bias", (37,))], "lr": "schedule"},
]
ORDER = ["dense.bias", "conv.weight", "norm.gamma", "dense.weight",
         "proj.weight", "rank1"]

GLOBAL_LIST = [0.01, 0.008, 0.006, 0.004]
GROUP_LIST = [0.02, 0.015, 0.01, 0.005]


def _lars(params, **kw):
    return nn.LARS(nn.Momentum(params, momentum=0.9, **kw), coefficient=0.01,
                   lars_filter=lambda p: True)


def _lars_nesterov(params, **kw):
    return nn.LARS(nn.Momentum(params, momentum=0.9, use_nesterov=True, **kw),
                   epsilon=1e-5, coefficient=0.001, lars_filter=lambda p: True)


# (id, factory(params, **common) -> optimizer, takes loss_scale, reference
# rule, reference hyper-parameters, {nn state attribute: reference state}).
CASES = [
    ("SGD-momentum", lambda ps, **kw: nn.SGD(ps, momentum=0.9, dampening=0.1, **kw),
     True, "sgd", dict(momentum=0.9, dampening=0.1), {"accum": "accum"}),
    ("SGD-nesterov", lambda ps, **kw: nn.SGD(ps, momentum=0.9, nesterov=True, **kw),
     True, "sgd", dict(momentum=0.9, nesterov=True), {"accum": "accum"}),
    ("SGD-plain", lambda ps, **kw: nn.SGD(ps, **kw),
     True, "sgd", dict(), {"accum": "accum"}),
    ("Momentum", lambda ps, **kw: nn.Momentum(ps, momentum=0.9, **kw),
     True, "momentum", dict(momentum=0.9), {"moments": "moments"}),
    ("Momentum-nesterov",
     lambda ps, **kw: nn.Momentum(ps, momentum=0.8, use_nesterov=True, **kw),
     True, "momentum", dict(momentum=0.8, use_nesterov=True),
     {"moments": "moments"}),
    ("Adam", lambda ps, **kw: nn.Adam(ps, beta1=0.8, beta2=0.95, eps=1e-6, **kw),
     True, "adam", dict(beta1=0.8, beta2=0.95, eps=1e-6),
     {"moment1": "moment1", "moment2": "moment2"}),
    ("Adam-nesterov", lambda ps, **kw: nn.Adam(ps, use_nesterov=True, **kw),
     True, "adam", dict(use_nesterov=True),
     {"moment1": "moment1", "moment2": "moment2"}),
    ("Adam-amsgrad", lambda ps, **kw: nn.Adam(ps, use_amsgrad=True, eps=1e-6, **kw),
     True, "adam", dict(use_amsgrad=True, eps=1e-6),
     {"moment1": "moment1", "moment2": "moment2", "vhat": "vhat"}),
    ("AdamWeightDecay",
     lambda ps, **kw: nn.AdamWeightDecay(ps, beta1=0.85, beta2=0.99, **kw),
     False, "adam_weight_decay", dict(beta1=0.85, beta2=0.99),
     {"moments1": "moment1", "moments2": "moment2"}),
    ("Lamb", lambda ps, **kw: nn.Lamb(ps, beta1=0.9, beta2=0.99, **kw),
     False, "lamb", dict(beta1=0.9, beta2=0.99, variant="mindspore"),
     {"moments1": "moment1", "moments2": "moment2"}),
    ("LARS", _lars, True, "lars",
     dict(momentum=0.9, coefficient=0.01, lars_filter=lambda n: True),
     {"moments": "moments"}),
    ("LARS-nesterov", _lars_nesterov, True, "lars",
     dict(momentum=0.9, use_nesterov=True, lars_filter=lambda n: True),
     {"moments": "moments"}),
    ("Adagrad", lambda ps, **kw: nn.Adagrad(ps, accum=0.1, **kw),
     True, "adagrad", dict(accum=0.1), {"accum": "accum"}),
    ("RMSProp", lambda ps, **kw: nn.RMSProp(ps, decay=0.9, momentum=0.5,
                                            epsilon=1e-6, **kw),
     True, "rmsprop", dict(decay=0.9, momentum=0.5, epsilon=1e-6),
     {"mean_square": "mean_square", "moment": "moment"}),
    ("RMSProp-centered",
     lambda ps, **kw: nn.RMSProp(ps, decay=0.8, epsilon=1e-6, centered=True, **kw),
     True, "rmsprop", dict(decay=0.8, momentum=0.0, epsilon=1e-6, centered=True),
     {"mean_square": "mean_square", "moment": "moment", "mean_grad": "mean_grad"}),
    ("FTRL", lambda ps, **kw: nn.FTRL(ps, initial_accum=0.1, l1=0.001, l2=0.01, **kw),
     True, "ftrl", dict(initial_accum=0.1, lr_power=-0.5, l1=0.001, l2=0.01),
     {"moments": "accum", "linear": "linear"}),
    ("ProximalAdagrad",
     lambda ps, **kw: nn.ProximalAdagrad(ps, accum=0.1, l1=0.001, l2=0.01, **kw),
     True, "proximal_adagrad", dict(accum=0.1, l1=0.001, l2=0.01),
     {"accum": "accum"}),
    ("AdaMax", lambda ps, **kw: nn.AdaMax(ps, beta1=0.9, beta2=0.99, eps=1e-6, **kw),
     True, "adamax", dict(beta1=0.9, beta2=0.99, eps=1e-6),
     {"moment1": "moment1", "moment2": "moment2"}),
    ("Adadelta", lambda ps, **kw: nn.Adadelta(ps, rho=0.9, epsilon=1e-6, **kw),
     True, "adadelta", dict(rho=0.9, epsilon=1e-6),
     {"accum": "accum", "accum_update": "accum_update"}),
    ("ASGD", lambda ps, **kw: nn.ASGD(ps, lambd=1e-3, alpha=0.75, t0=5.0, **kw),
     False, "asgd", dict(lambd=1e-3, alpha=0.75, t0=5.0), {"ax": "ax"}),
    ("Rprop", lambda ps, **kw: nn.Rprop(ps, etas=(0.5, 1.2),
                                        step_sizes=(1e-6, 0.5), **kw),
     False, "rprop", dict(etaminus=0.5, etaplus=1.2, min_step=1e-6, max_step=0.5),
     {"prev": "prev", "step_size": "step_size"}),
    ("LazyAdam", lambda ps, **kw: nn.LazyAdam(ps, **kw),
     True, "lazy_adam", dict(), {"moment1": "moment1", "moment2": "moment2"}),
    ("LazyAdam-nesterov", lambda ps, **kw: nn.LazyAdam(ps, use_nesterov=True, **kw),
     True, "lazy_adam", dict(use_nesterov=True),
     {"moment1": "moment1", "moment2": "moment2"}),
]

CASE_IDS = [c[0] for c in CASES]


def _params(specs, rng, dtype=np.float32):
    return [nn.Parameter(rng.standard_normal(shape).astype(dtype), name)
            for name, shape in specs]


def _ref_pairs(params):
    return [(p.name, p.asnumpy().astype(np.float64)) for p in params]


def check_step(opt, ref, state_map, when, rtol=RTOL, atol=ATOL):
    names = [p.name for p in opt.parameters]
    assert names == ref.names
    for i, p in enumerate(opt.parameters):
        np.testing.assert_allclose(p.data, ref.params[i], rtol=rtol, atol=atol,
                                   err_msg="param %s (%s)" % (p.name, when))
        for attr, ref_name in state_map.items():
            np.testing.assert_allclose(
                getattr(opt, attr)[i].data, ref.states[i][ref_name],
                rtol=rtol, atol=atol,
                err_msg="state %s of %s (%s)" % (attr, p.name, when))


def run(opt, ref, state_map, rng, steps=STEPS, rtol=RTOL, atol=ATOL):
    assert not opt.is_compiled
    opt.compile_options = OPTIONS
    check_step(opt, ref, state_map, "initial", rtol, atol)
    for step in range(steps):
        lr, ref_lr = opt.get_lr(), ref.get_lr()
        np.testing.assert_allclose(lr, ref_lr, rtol=1e-6, atol=1e-9,
                                   err_msg="lr at step %d" % step)
        grads = tuple(rng.standard_normal(p.shape).astype(p.dtype)
                      for p in opt.parameters)
        assert opt(grads) is True
        ref.step([g.astype(np.float64) for g in grads])
        assert opt.global_step == step + 1
        check_step(opt, ref, state_map, "step %d" % step, rtol, atol)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_ungrouped_matches_reference(case):
    """Ungrouped: default decay filter (beta/gamma not decayed), weight decay
    0.01, loss scale 4 where the class takes one, a WarmUpLR schedule (FTRL:
    a constant rate, it takes no dynamic one), zero-sized parameter."""
    name, factory, takes_ls, rule, hyper, state_map = case
    rng = np.random.default_rng(0)
    params = _params(UNGROUPED, rng)
    ls = 4.0 if takes_ls else 1.0
    kw = dict(weight_decay=0.01)
    if takes_ls:
        kw["loss_scale"] = ls
    if rule == "ftrl":
        lr, ref_lr = 0.01, 0.01
    else:
        lr = nn.WarmUpLR(0.01, 5)
        ref_lr = R.make_schedule("warmup", learning_rate=0.01, warmup_steps=5)
    ref = R.ReferenceOptimizer(rule, _ref_pairs(params), learning_rate=ref_lr,
                               weight_decay=0.01, loss_scale=ls, mode="uniform",
                               **hyper)
    opt = factory(params, learning_rate=lr, **kw)
    run(opt, ref, state_map, rng)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_grouped_matches_reference(case):
    """Groups: a per-step lr list (run past its end), an ExponentialDecayLR
    group, an inherited lr; weight decays (a decaying group holding a
    'gamma'); centralization; order_params.  FTRL: no group lr."""
    name, factory, takes_ls, rule, hyper, state_map = case
    rng = np.random.default_rng(1)
    ftrl = rule == "ftrl"
    nn_groups, ref_groups, by_name = [], [], {}
    for g in GROUPS:
        ps = _params(g["params"], rng)
        by_name.update({p.name: p for p in ps})
        ng = {"params": ps}
        rg = {"params": _ref_pairs(ps)}
        for key in ("weight_decay", "grad_centralization"):
            if key in g:
                ng[key] = rg[key] = g[key]
        if g.get("lr") == "list" and not ftrl:
            ng["lr"] = np.array(GROUP_LIST)
            rg["lr"] = list(np.float32(GROUP_LIST))
        elif g.get("lr") == "schedule" and not ftrl:
            ng["lr"] = nn.ExponentialDecayLR(0.02, 0.9, 3)
            rg["lr"] = R.make_schedule("exponential_decay", learning_rate=0.02,
                                       decay_rate=0.9, decay_steps=3)
        nn_groups.append(ng)
        ref_groups.append(rg)
    nn_groups.append({"order_params": [by_name[n] for n in ORDER]})
    ref_groups.append({"order_params": ORDER})
    ls = 2.0 if takes_ls else 1.0
    kw = dict(weight_decay=0.01)
    if takes_ls:
        kw["loss_scale"] = ls
    lr = 0.01 if ftrl else GLOBAL_LIST
    ref_lr = 0.01 if ftrl else list(np.float32(GLOBAL_LIST))
    ref = R.ReferenceOptimizer(rule, ref_groups, learning_rate=ref_lr,
                               weight_decay=0.01, loss_scale=ls, mode="uniform",
                               **hyper)
    opt = factory(nn_groups, learning_rate=lr, **kw)
    assert [p.name for p in opt.parameters] == ORDER
    run(opt, ref, state_map, rng)


def test_float64_parameters_match_reference():
    """float64 parameters: the compiled step runs in float64 (tolerance
    rtol=1e-9)."""
    rng = np.random.default_rng(2)
    params = _params(UNGROUPED, rng, np.float64)
    ref = R.ReferenceOptimizer("adam", _ref_pairs(params), learning_rate=0.01,
                               weight_decay=0.01, loss_scale=2.0, mode="uniform")
    opt = nn.Adam(params, learning_rate=0.01, weight_decay=0.01, loss_scale=2.0)
    # MindSpore's hyper-parameters are float32 Tensors, whatever the
    # parameters' dtype: compare with a reference that uses the
    # float32-rounded values.
    ref.hyper.update(beta1=float(np.float32(0.9)), beta2=float(np.float32(0.999)),
                     eps=float(np.float32(1e-8)))
    ref.lrs = [float(np.float32(0.01))] * len(ref.lrs)
    ref.wds = [float(np.float32(0.01))] * len(ref.wds)
    run(opt, ref, {"moment1": "moment1", "moment2": "moment2"}, rng,
        rtol=1e-9, atol=1e-12)


def test_mixed_dtypes_match_reference():
    rng = np.random.default_rng(3)
    params = [nn.Parameter(rng.standard_normal((5, 16)).astype(np.float32), "a"),
              nn.Parameter(rng.standard_normal((9,)), "b"),
              nn.Parameter(rng.standard_normal((3, 4)).astype(np.float32), "c")]
    assert params[1].dtype == np.float64
    ref = R.ReferenceOptimizer("momentum", _ref_pairs(params), learning_rate=0.05,
                               momentum=0.9, weight_decay=0.001, mode="uniform")
    opt = nn.Momentum(params, 0.05, 0.9, weight_decay=0.001)
    run(opt, ref, {"moments": "moments"}, rng)


def test_lars_default_filter_matches_reference_parts():
    """MindSpore's default lars_filter skips 'bias' / 'LayerNorm' parameters:
    those get plain Momentum without weight decay; the others the LARS rule."""
    rng = np.random.default_rng(4)
    specs = [("dense.weight", (8, 16)), ("dense.bias", (8,)),
             ("LayerNorm.weight", (16,)), ("out.weight", (3, 8))]
    params = _params(specs, rng)
    lars_names = ["dense.weight", "out.weight"]
    by_name = {p.name: p for p in params}
    ref_lars = R.ReferenceOptimizer(
        "lars", _ref_pairs([by_name[n] for n in lars_names]), learning_rate=0.1,
        weight_decay=0.01, loss_scale=2.0, mode="uniform", momentum=0.9,
        coefficient=0.02, lars_filter=lambda n: True)
    plain = [p for p in params if p.name not in lars_names]
    ref_plain = R.ReferenceOptimizer("momentum", _ref_pairs(plain),
                                     learning_rate=0.1, weight_decay=0.0,
                                     loss_scale=2.0, mode="uniform", momentum=0.9)
    opt = nn.LARS(nn.Momentum(params, 0.1, 0.9, weight_decay=0.01,
                              loss_scale=2.0), coefficient=0.02)
    assert opt.lars_flag == (True, False, False, True)
    assert len(opt.compiled_ir()) == 2
    for step in range(STEPS):
        grads = tuple(rng.standard_normal(p.shape).astype(np.float32)
                      for p in params)
        opt(grads)
        g = dict(zip([p.name for p in params], grads))
        ref_lars.step([g[n].astype(np.float64) for n in ref_lars.names])
        ref_plain.step([g[n].astype(np.float64) for n in ref_plain.names])
        for ref in (ref_lars, ref_plain):
            for i, n in enumerate(ref.names):
                k = [p.name for p in params].index(n)
                np.testing.assert_allclose(by_name[n].data, ref.params[i],
                                           rtol=RTOL, atol=ATOL, err_msg=n)
                np.testing.assert_allclose(opt.moments[k].data,
                                           ref.states[i]["moments"],
                                           rtol=RTOL, atol=ATOL, err_msg=n)
    assert opt.global_step == STEPS and opt.opt.global_step == STEPS


@pytest.mark.parametrize("schedule,ref_name,ref_kw", [
    (nn.NaturalExpDecayLR(0.1, 0.2, 3, False), "natural_exp_decay",
     dict(learning_rate=0.1, decay_rate=0.2, decay_steps=3, is_stair=False)),
    (nn.NaturalExpDecayLR(0.1, 0.2, 3, True), "natural_exp_decay",
     dict(learning_rate=0.1, decay_rate=0.2, decay_steps=3, is_stair=True)),
    (nn.InverseDecayLR(0.1, 0.5, 2, True), "inverse_decay",
     dict(learning_rate=0.1, decay_rate=0.5, decay_steps=2, is_stair=True)),
    (nn.CosineDecayLR(0.001, 0.1, 10), "cosine_decay",
     dict(min_lr=0.001, max_lr=0.1, decay_steps=10)),
    (nn.PolynomialDecayLR(0.1, 0.01, 4, 2.0, True), "polynomial_decay",
     dict(learning_rate=0.1, end_learning_rate=0.01, decay_steps=4, power=2.0,
          update_decay_steps=True)),
], ids=["natural", "natural-stair", "inverse-stair", "cosine", "poly-update"])
def test_schedules_in_a_training_run_match_reference(schedule, ref_name, ref_kw):
    rng = np.random.default_rng(5)
    params = _params(UNGROUPED[:4], rng)
    ref = R.ReferenceOptimizer("sgd", _ref_pairs(params),
                               learning_rate=R.make_schedule(ref_name, **ref_kw),
                               momentum=0.9, mode="uniform")
    opt = nn.SGD(params, learning_rate=schedule, momentum=0.9)
    run(opt, ref, {"accum": "accum"}, rng)


# ---------------------------------------------------------------------------
# torch 1.13
# ---------------------------------------------------------------------------

torch = pytest.importorskip("torch")

TORCH_RTOL, TORCH_ATOL = 1e-5, 1e-6
TORCH_SPECS = [("w1", (6, 16)), ("w2", (5,)), ("w3", (2, 3, 4))]


def _torch_run(nn_factory, torch_factory, rtol=TORCH_RTOL, atol=TORCH_ATOL,
               seed=0, state_pairs=()):
    rng = np.random.default_rng(seed)
    params = _params(TORCH_SPECS, rng)
    tparams = [torch.nn.Parameter(torch.tensor(p.asnumpy())) for p in params]
    opt = nn_factory(params)
    topt = torch_factory(tparams)
    for step in range(STEPS):
        grads = tuple(rng.standard_normal(p.shape).astype(np.float32)
                      for p in params)
        opt(grads)
        for tp, g in zip(tparams, grads):
            tp.grad = torch.tensor(g)
        topt.step()
        for p, tp in zip(params, tparams):
            np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=rtol,
                                       atol=atol, err_msg="%s step %d"
                                       % (p.name, step))
        for attr, key in state_pairs:
            for i, tp in enumerate(tparams):
                np.testing.assert_allclose(
                    getattr(opt, attr)[i].data, topt.state[tp][key].numpy(),
                    rtol=rtol, atol=atol, err_msg="%s step %d" % (attr, step))


def test_sgd_matches_torch():
    _torch_run(lambda ps: nn.SGD(ps, 0.05, momentum=0.9, dampening=0.2,
                                 weight_decay=0.01),
               lambda ts: torch.optim.SGD(ts, lr=0.05, momentum=0.9,
                                          dampening=0.2, weight_decay=0.01),
               state_pairs=[("accum", "momentum_buffer")])


def test_sgd_nesterov_matches_torch():
    _torch_run(lambda ps: nn.SGD(ps, 0.05, momentum=0.9, nesterov=True),
               lambda ts: torch.optim.SGD(ts, lr=0.05, momentum=0.9,
                                          nesterov=True),
               state_pairs=[("accum", "momentum_buffer")])


def test_momentum_matches_torch_sgd():
    """MindSpore's Momentum is torch SGD with dampening 0 (v starts at 0, so
    v1 = g as torch's first buffer)."""
    _torch_run(lambda ps: nn.Momentum(ps, 0.05, 0.9, weight_decay=0.01),
               lambda ts: torch.optim.SGD(ts, lr=0.05, momentum=0.9,
                                          weight_decay=0.01),
               state_pairs=[("moments", "momentum_buffer")])


def test_momentum_nesterov_matches_torch_sgd():
    _torch_run(lambda ps: nn.Momentum(ps, 0.05, 0.9, use_nesterov=True),
               lambda ts: torch.optim.SGD(ts, lr=0.05, momentum=0.9,
                                          nesterov=True))


def test_adadelta_matches_torch():
    _torch_run(lambda ps: nn.Adadelta(ps, learning_rate=1.0, rho=0.9,
                                      epsilon=1e-6, weight_decay=0.01),
               lambda ts: torch.optim.Adadelta(ts, lr=1.0, rho=0.9, eps=1e-6,
                                               weight_decay=0.01),
               state_pairs=[("accum", "square_avg"),
                            ("accum_update", "acc_delta")])


def test_adagrad_matches_torch():
    _torch_run(lambda ps: nn.Adagrad(ps, accum=0.1, learning_rate=0.05),
               lambda ts: torch.optim.Adagrad(ts, lr=0.05,
                                              initial_accumulator_value=0.1,
                                              eps=0.0),
               state_pairs=[("accum", "sum")])


def test_rprop_matches_torch():
    _torch_run(lambda ps: nn.Rprop(ps, learning_rate=0.01, etas=(0.4, 1.3),
                                   step_sizes=(1e-5, 0.2)),
               lambda ts: torch.optim.Rprop(ts, lr=0.01, etas=(0.4, 1.3),
                                            step_sizes=(1e-5, 0.2)),
               state_pairs=[("prev", "prev"), ("step_size", "step_size")])


def test_asgd_matches_torch():
    _torch_run(lambda ps: nn.ASGD(ps, learning_rate=0.05, lambd=1e-3,
                                  alpha=0.75, t0=5.0),
               lambda ts: torch.optim.ASGD(ts, lr=0.05, lambd=1e-3, alpha=0.75,
                                           t0=5.0),
               state_pairs=[("ax", "ax")])


def test_adam_close_to_torch():
    """Same rule up to where eps enters (MindSpore: uncorrected sqrt(v));
    rtol=1e-4."""
    _torch_run(lambda ps: nn.Adam(ps, learning_rate=0.01, weight_decay=0.01),
               lambda ts: torch.optim.Adam(ts, lr=0.01, weight_decay=0.01),
               rtol=1e-4, atol=1e-5,
               state_pairs=[("moment1", "exp_avg"), ("moment2", "exp_avg_sq")])
