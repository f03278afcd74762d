"""MindSpore's optimizer tests, run on ``optim_mlir.nn``.

Ported from mindspore-ai/mindspore (the origin of each case is named above
it):

* ``tests/ut/python/nn/optim/*.py``: constructor and argument checks keep
  MindSpore's exception types.  Tests that only compile a ``TrainOneStepCell``
  around an optimizer become: the same optimizer (same arguments) on
  hand-made Parameters of the network's names and shapes, three compiled
  steps (the first with the network's own gradient, the others random),
  compared with the NumPy reference of MindSpore's semantics
  (``reference.ReferenceOptimizer``, mode "mindspore") with ``rtol=1e-5,
  atol=1e-6`` (MindSpore's tests compare no numbers there).
* ``tests/ut/python/optimizer/test_optimizer_with_parameter_groups.py`` and
  ``test_optimizer_with_loss_scale.py`` (the optimizer part).
* ``tests/st/optimizer/*.py`` and the network tests of ``tests/st/ops/cpu``
  (``test_adam_op.py``, ``test_adam_weight_decay_op.py``,
  ``test_momentum_op.py``, ``test_sgd_op.py``): the networks are small
  Dense/ReLU stacks whose forward and backward passes are written here in
  NumPy (float32); the optimizer is the compiled one, and MindSpore's
  expected numbers and tolerances are checked.
* ``tests/ut/python/nn/optim/test_optimizer.py`` is in
  test_nn_mindspore_cases.py.
"""

import math

import numpy as np
import pytest

from optim_mlir import nn
from reference import ReferenceOptimizer

RTOL, ATOL = 1e-5, 1e-6


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------

def net_params():
    """The Parameters of MindSpore's test ``Net`` (MatMul + BiasAdd)."""
    return [nn.Parameter(np.ones([64, 10], np.float32), "weight"),
            nn.Parameter(np.ones([10], np.float32), "bias")]


def net_gradient(params):
    """The Net's gradient for inputs ones([1, 64]) and a zero label under
    SoftmaxCrossEntropyWithLogits: softmax of ten equal logits, 0.1."""
    return [np.full(p.shape, 0.1, np.float32) for p in params]


def _named(params):
    return [(p.name, p.asnumpy().astype(np.float64)) for p in params]


def run_against_reference(opt, params, ref, steps=3, seed=0, first=None,
                          rtol=RTOL, atol=ATOL):
    """Steps ``opt`` and ``ref`` (a ReferenceOptimizer over the same names in
    the same order) with the same gradients and compares the parameters."""
    rng = np.random.default_rng(seed)
    for k in range(steps):
        if k == 0:
            grads = first if first is not None else net_gradient(params)
        else:
            grads = [(0.1 * rng.standard_normal(p.shape)).astype(np.float32)
                     for p in params]
        assert opt(tuple(g.copy() for g in grads))
        ref.step([g.astype(np.float64) for g in grads])
        for p, name in zip(params, ref.names):
            np.testing.assert_allclose(p.asnumpy(), ref.param(name), rtol=rtol, atol=atol,
                                       err_msg="step %d, %s" % (k + 1, name))


def _groups_for_ref(groups):
    out = []
    for g in groups:
        if "order_params" in g:
            out.append({"order_params": [p.name for p in g["order_params"]]})
            continue
        d = {k: v for k, v in g.items() if k != "params"}
        d["params"] = _named(g["params"])
        out.append(d)
    return out


class _MLP:
    """Dense layers (``y = x W^T + b``) with ReLU between them, float32,
    forward and backward in NumPy; ``params`` are nn.Parameters named
    ``<layer>.weight`` / ``<layer>.bias`` in MindSpore's order."""

    def __init__(self, layers):
        self.params = []
        for name, w, b in layers:
            self.params.append(nn.Parameter(np.array(w, np.float32), name + ".weight"))
            self.params.append(nn.Parameter(np.array(b, np.float32), name + ".bias"))

    def forward(self, x):
        acts = [np.asarray(x, np.float32)]
        n = len(self.params) // 2
        for i in range(n):
            w, b = self.params[2 * i].data, self.params[2 * i + 1].data
            z = acts[-1] @ w.T + b
            if i < n - 1:
                z = np.maximum(z, np.float32(0))
            acts.append(z.astype(np.float32))
        return acts

    def loss_and_grads(self, x, label, loss_fn):
        acts = self.forward(x)
        loss, d = loss_fn(acts[-1], label)
        grads = []
        n = len(self.params) // 2
        for i in reversed(range(n)):
            w = self.params[2 * i].data
            grads = [(d.T @ acts[i]).astype(np.float32),
                     d.sum(axis=0).astype(np.float32)] + grads
            if i > 0:
                d = ((d @ w) * (acts[i] > 0)).astype(np.float32)
        return loss, grads


def l1_mean(out, label):
    diff = out - label
    return np.float32(np.mean(np.abs(diff))), (np.sign(diff) / diff.size).astype(np.float32)


def mse_mean(out, label):
    diff = out - label
    return np.float32(np.mean(diff * diff)), (2 * diff / diff.size).astype(np.float32)


def softmax_ce_sparse_mean(out, label):
    """SoftmaxCrossEntropyWithLogits(sparse=True, reduction='mean')."""
    z = out - out.max(axis=1, keepdims=True)
    e = np.exp(z)
    s = e.sum(axis=1, keepdims=True)
    p = e / s
    n = out.shape[0]
    loss = np.mean(np.log(s[:, 0]) - z[np.arange(n), label])
    onehot = np.zeros_like(out)
    onehot[np.arange(n), label] = 1
    return np.float32(loss), ((p - onehot) / n).astype(np.float32)


def train(net, opt, data, label, loss_fn, steps):
    """TrainOneStepCell: each step returns the loss before its update."""
    losses = []
    for k in range(steps):
        x = data[k] if isinstance(data, list) else data
        y = label[k] if isinstance(label, list) else label
        loss, grads = net.loss_and_grads(x, y, loss_fn)
        assert opt(tuple(grads))
        losses.append(loss)
    return np.array(losses, np.float32)


# ---------------------------------------------------------------------------
# tests/ut/python/nn/optim/test_ada_grad.py, test_adadelta.py
# ---------------------------------------------------------------------------

def test_ada_grad():
    params = net_params()
    opt = nn.Adagrad(params, weight_decay=0.9, loss_scale=1024.0)
    ref = ReferenceOptimizer("adagrad", _named(params), weight_decay=0.9, loss_scale=1024.0)
    run_against_reference(opt, params, ref)


def test_adadelta():
    params = net_params()
    opt = nn.Adadelta(params, weight_decay=0.9, loss_scale=1024.0)
    ref = ReferenceOptimizer("adadelta", _named(params), weight_decay=0.9, loss_scale=1024.0)
    run_against_reference(opt, params, ref)


# ---------------------------------------------------------------------------
# tests/ut/python/nn/optim/test_adafactor.py
# ---------------------------------------------------------------------------

def _adafactor_ref(params, learning_rate=None, **kw):
    hyper = dict(kw)
    beta1 = hyper.pop("beta1", 0.9)
    hyper["beta1"] = beta1
    hyper["first_moment"] = beta1 is not None and beta1 > 0
    hyper.pop("compression", None)
    return ReferenceOptimizer("adafactor", params,
                              learning_rate=0.0 if learning_rate is None else learning_rate,
                              **hyper)


ADAFACTOR_COMPILE = {
    "compile1": dict(learning_rate=0.1, weight_decay=0.9, relative_step=False),
    "compile2": dict(learning_rate=None, weight_decay=0.9),
    "compile3": dict(learning_rate=None, weight_decay=0.9, scale_parameter=True,
                     relative_step=True, warmup_init=False, compression=False),
    "compile4": dict(learning_rate=None, weight_decay=0.9, scale_parameter=False,
                     relative_step=True, warmup_init=False, compression=False),
    "compile5": dict(learning_rate=None, weight_decay=0.9, scale_parameter=False,
                     relative_step=True, warmup_init=True, compression=True),
    "compile6": dict(learning_rate=None, weight_decay=0.9, scale_parameter=True,
                     relative_step=True, warmup_init=True, compression=True),
}


@pytest.mark.parametrize("case", sorted(ADAFACTOR_COMPILE))
def test_adafactor_compile(case):
    kw = ADAFACTOR_COMPILE[case]
    params = net_params()
    opt = nn.AdaFactor(params, **kw)
    ref = _adafactor_ref(_named(params), **kw)
    # compression stores exp_avg in float16 in MindSpore: float16 rounding.
    tol = 1e-3 if kw.get("compression") else RTOL
    run_against_reference(opt, params, ref, rtol=tol, atol=tol * 0.1)


def _two_groups(params):
    return [{"params": [params[0]]}, {"params": [params[1]]}]


ADAFACTOR_GROUP = {
    "group1": lambda: dict(learning_rate=nn.polynomial_decay_lr(
        0.01, 0.0001, total_step=10, step_per_epoch=1, decay_epoch=3, power=1.0),
        relative_step=False),
    "group2": lambda: dict(learning_rate=nn.PolynomialDecayLR(0.01, 0.0001, 3, power=1.0),
                           relative_step=False),
    "group3": lambda: dict(learning_rate=None),
    "group4": lambda: dict(learning_rate=None),
    "group5": lambda: dict(learning_rate=None, beta1=0.1),
    "group6": lambda: dict(learning_rate=None, beta1=0.2),
}


@pytest.mark.parametrize("case", sorted(ADAFACTOR_GROUP))
def test_adafactor_group(case):
    kw = ADAFACTOR_GROUP[case]()
    params = net_params()
    opt = nn.AdaFactor(_two_groups(params), **kw)
    ref_kw = dict(kw)
    if isinstance(ref_kw.get("learning_rate"), nn.LearningRateSchedule):
        sched = ref_kw["learning_rate"]
        ref_kw["learning_rate"] = lambda step: sched(step)
    ref = _adafactor_ref([{"params": [n_a]} for n_a in _named(params)], **ref_kw)
    run_against_reference(opt, params, ref)


# ---------------------------------------------------------------------------
# tests/ut/python/nn/optim/test_adam.py
# ---------------------------------------------------------------------------

def test_adamwithoutparam():
    # The 2020 test matched "Optimizer got an empty parameter list"; MindSpore
    # now says "For 'Optimizer', the argument parameters must not be empty" (the
    # text test_asgd.py and test_rprop.py match).
    with pytest.raises(ValueError, match=r"For 'Optimizer', the argument parameters must "
                                         r"not be empty"):
        nn.AdamWeightDecay([], learning_rate=0.1)


def test_adamw_compile():
    params = net_params()
    opt = nn.AdamWeightDecay(params, learning_rate=0.1)
    # No bias correction, so the float32 hyper-parameters show: MindSpore's
    # kernel (nnacl/fp32/adam_fp32.c, AdamWeightDecayFp32: ``const float
    # beta2_minus = 1 - beta2``) and the compiled step form 1 - beta2 from the
    # float32 beta2 (0.00099998713, 1.3e-5 relative off 0.001): the reference
    # gets the float32 values of beta1 and beta2.
    ref = ReferenceOptimizer("adam_weight_decay", _named(params), learning_rate=0.1,
                             beta1=float(np.float32(0.9)), beta2=float(np.float32(0.999)))
    run_against_reference(opt, params, ref)


def test_adam_compile():
    params = net_params()
    opt = nn.Adam(params, learning_rate=0.1, weight_decay=0.9)
    ref = ReferenceOptimizer("adam", _named(params), learning_rate=0.1, weight_decay=0.9)
    run_against_reference(opt, params, ref)


def _sparse_net_params():
    """NetWithSparseGatherV2: weight1 is gathered (sparse gradient)."""
    return [nn.Parameter(np.ones([3, 1, 2], np.float32), "weight1"),
            nn.Parameter(np.ones([2, 1, 2], np.float32), "weight2")]


SPARSE_INDICES = np.array([0, 1], np.int32)


def _sparse_net_gradient():
    # The network's output is its loss (sens ones): weight1 rows 0 and 1 and
    # all of weight2 get ones.
    return (SPARSE_INDICES, np.ones([2, 1, 2], np.float32)), np.ones([2, 1, 2], np.float32)


@pytest.mark.parametrize("target", ["CPU", None], ids=["sparse_adam_compile", "sparse_adam"])
def test_sparse_adam(target):
    # test_sparse_adam_compile (target CPU) and test_sparse_adam.  On the CPU
    # MindSpore's Adam steps a RowTensor gradient with FusedSparseAdam: the
    # decay (wd * loss_scale) is added to the given rows, the rows are scaled
    # by 1 / loss_scale, and then every row of the moments and the parameter
    # takes a dense Adam step with zero gradient outside the given rows.
    params = _sparse_net_params()
    opt = nn.Adam(params, learning_rate=0.1, loss_scale=1024.0, weight_decay=0.9)
    if target:
        opt.target = target
    sparse, dense = _sparse_net_gradient()
    p1, p2 = (p.asnumpy().astype(np.float64) for p in params)
    g1 = np.zeros_like(p1)
    g1[SPARSE_INDICES] = (sparse[1] + 0.9 * 1024.0 * p1[SPARSE_INDICES]) / 1024.0
    g2 = (dense + 0.9 * 1024.0 * p2) / 1024.0
    ref = ReferenceOptimizer("adam", _named(params), learning_rate=0.1)
    ref.step([g1, g2])
    assert opt((sparse, dense))
    for p, name in zip(params, ref.names):
        np.testing.assert_allclose(p.asnumpy(), ref.param(name), rtol=RTOL, atol=ATOL)


def test_adam_group1():
    params = net_params()
    poly_decay_lr = nn.polynomial_decay_lr(0.01, 0.0001, total_step=10, step_per_epoch=1,
                                           decay_epoch=3, power=1.0)
    groups = [{'params': [params[0]], 'lr': poly_decay_lr, 'weight_decay': 0.9},
              {'params': [params[1]]}]
    opt = nn.Adam(groups, learning_rate=0.1)
    ref = ReferenceOptimizer("adam", _groups_for_ref(groups), learning_rate=0.1)
    run_against_reference(opt, params, ref)


def _schedule_groups(params):
    return [{'params': [params[0]], 'lr': 0.02, 'weight_decay': 0.9},
            {'params': [params[1]]}]


def test_adam_group2():
    params = net_params()
    schedule_lr = nn.PolynomialDecayLR(0.01, 0.0001, 3, power=1.0)
    groups = _schedule_groups(params)
    opt = nn.Adam(groups, learning_rate=schedule_lr)
    ref = ReferenceOptimizer("adam", _groups_for_ref(groups), learning_rate=schedule_lr)
    run_against_reference(opt, params, ref)


def test_adamweightdecay_group():
    params = net_params()
    schedule_lr = nn.PolynomialDecayLR(0.01, 0.0001, 3, power=1.0)
    groups = _schedule_groups(params)
    opt = nn.AdamWeightDecay(groups, learning_rate=schedule_lr)
    ref = ReferenceOptimizer("adam_weight_decay", _groups_for_ref(groups),
                             learning_rate=schedule_lr)
    run_against_reference(opt, params, ref)


def test_adamoffload_group():
    # nn.AdamOffload (test_adam.py) and Adam(use_offload=True)
    # (test_adam2.py::test_adam_offload_group): the same Adam update.
    params = net_params()
    schedule_lr = nn.PolynomialDecayLR(0.01, 0.0001, 3, power=1.0)
    groups = _schedule_groups(params)
    opt = nn.AdamOffload(groups, learning_rate=schedule_lr)
    ref = ReferenceOptimizer("adam", _groups_for_ref(groups), learning_rate=schedule_lr)
    run_against_reference(opt, params, ref)


def test_adam_offload_group():
    params = net_params()
    schedule_lr = nn.PolynomialDecayLR(0.01, 0.0001, 3, power=1.0)
    groups = _schedule_groups(params)
    opt = nn.Adam(groups, learning_rate=schedule_lr, use_offload=True)
    ref = ReferenceOptimizer("adam", _groups_for_ref(groups), learning_rate=schedule_lr)
    run_against_reference(opt, params, ref)


def test_AdamWeightDecay_beta1():
    with pytest.raises(ValueError):
        nn.AdamWeightDecay(net_params(), beta1=1.0, learning_rate=0.1)


def test_AdamWeightDecay_beta2():
    with pytest.raises(ValueError):
        nn.AdamWeightDecay(net_params(), beta2=1.0, learning_rate=0.1)


def test_AdamWeightDecay_e():
    with pytest.raises(ValueError):
        nn.AdamWeightDecay(net_params(), eps=-0.1, learning_rate=0.1)


def test_adam_mindspore_with_empty_params():
    # The 2020 test matched "Optimizer got an empty parameter list"; MindSpore
    # now says "For 'Optimizer', the argument parameters must not be empty" (the
    # text test_asgd.py and test_rprop.py match).
    with pytest.raises(ValueError, match=r"For 'Optimizer', the argument parameters must "
                                         r"not be empty"):
        nn.AdamWeightDecay([])


# tests/ut/python/nn/optim/test_adam2.py

def test_adam_with_both_lazy_and_offload():
    with pytest.raises(ValueError, match=r"For 'Adam', 'use_lazy' and 'use_offload' can not "
                                         r"both be True"):
        nn.Adam(net_params(), use_lazy=True, use_offload=True)


def test_lazy_with_amsgrad():
    with pytest.raises(ValueError, match=r"For lazy Adam and Adam with offload, there is no "
                                         r"parameter named 'use_amsgrad'."):
        nn.Adam(net_params(), use_lazy=True, use_amsgrad=True)


def test_offload_with_amsgrad():
    with pytest.raises(ValueError, match=r"For lazy Adam and Adam with offload, there is no "
                                         r"parameter named 'use_amsgrad'."):
        nn.Adam(net_params(), use_offload=True, use_amsgrad=True)


# tests/ut/python/nn/optim/test_apply_adam_with_amsgrad.py (the CPU parts)

def test_apply_adam_with_amsgrad_compile():
    params = net_params()
    opt = nn.Adam(params, learning_rate=0.1, weight_decay=0.9, use_amsgrad=True)
    ref = ReferenceOptimizer("adam", _named(params), learning_rate=0.1, weight_decay=0.9,
                             use_amsgrad=True)
    run_against_reference(opt, params, ref)


def test_apply_adam_with_amsgrad_group1():
    params = net_params()
    poly_decay_lr = nn.polynomial_decay_lr(0.01, 0.0001, total_step=10, step_per_epoch=1,
                                           decay_epoch=3, power=1.0)
    groups = [{'params': [params[0]], 'lr': poly_decay_lr, 'weight_decay': 0.9},
              {'params': [params[1]]}]
    opt = nn.Adam(groups, learning_rate=0.1, use_amsgrad=True)
    ref = ReferenceOptimizer("adam", _groups_for_ref(groups), learning_rate=0.1,
                             use_amsgrad=True)
    run_against_reference(opt, params, ref)


def test_apply_adam_with_amsgrad_group2():
    params = net_params()
    schedule_lr = nn.PolynomialDecayLR(0.01, 0.0001, 3, power=1.0)
    groups = _schedule_groups(params)
    opt = nn.Adam(groups, learning_rate=schedule_lr, use_amsgrad=True)
    ref = ReferenceOptimizer("adam", _groups_for_ref(groups), learning_rate=schedule_lr,
                             use_amsgrad=True)
    run_against_reference(opt, params, ref)


def test_sparse_apply_adam_with_amsgrad():
    # MindSpore raises for a sparse gradient with use_amsgrad.
    params = _sparse_net_params()
    opt = nn.Adam(params, learning_rate=0.1, loss_scale=1024.0, weight_decay=0.9,
                  use_amsgrad=True)
    with pytest.raises(Exception):
        opt(_sparse_net_gradient())
    np.testing.assert_array_equal(params[0].asnumpy(), np.ones([3, 1, 2], np.float32))


# ---------------------------------------------------------------------------
# tests/ut/python/nn/optim/test_asgd.py
# ---------------------------------------------------------------------------

def test_asgdwithoutparam():
    with pytest.raises(ValueError, match=r"For 'Optimizer', the argument parameters must "
                                         r"not be empty"):
        nn.ASGD([], learning_rate=0.1)


def test_asgd_lambd():
    with pytest.raises(TypeError):
        nn.ASGD(net_params(), lambd=1, learning_rate=0.1)


def test_asgd_alpha():
    with pytest.raises(TypeError):
        nn.ASGD(net_params(), alpha=1, learning_rate=0.1)


def test_asgd_t0():
    with pytest.raises(TypeError):
        nn.ASGD(net_params(), t0=1, learning_rate=0.1)


def test_asgd_mindspore_with_empty_params():
    with pytest.raises(ValueError, match=r"For 'Optimizer', the argument parameters must "
                                         r"not be empty"):
        nn.ASGD([])


# ---------------------------------------------------------------------------
# tests/ut/python/nn/optim/test_ftrl.py, test_proximal_ada_grad.py,
# test_lazyadam.py, test_target.py
# ---------------------------------------------------------------------------

def test_ftrl():
    params = net_params()
    opt = nn.FTRL(params, weight_decay=0.9, loss_scale=2.0)
    ref = ReferenceOptimizer("ftrl", _named(params), weight_decay=0.9, loss_scale=2.0)
    run_against_reference(opt, params, ref)


def _sparse_rows_expect(rule_fn, param, rows_grad, states, **hyper):
    """The rows of ``param`` named by SPARSE_INDICES take one dense step of
    ``rule_fn`` on those rows; the other rows and their states keep their
    values (MindSpore's SparseApply* kernels)."""
    p = param.astype(np.float64).copy()
    sub = {k: v[SPARSE_INDICES] for k, v in states.items()}
    new_rows, _ = rule_fn(p[SPARSE_INDICES], rows_grad, sub, **hyper)
    p[SPARSE_INDICES] = new_rows
    return p


def test_spares_ftrl_compile():
    # target CPU: FusedSparseFtrl; FTRL decays every parameter (wd *
    # loss_scale on the given rows), then 1 / loss_scale.
    import reference
    params = _sparse_net_params()
    opt = nn.FTRL(params, weight_decay=0.9, loss_scale=2.0)
    opt.target = 'CPU'
    sparse, dense = _sparse_net_gradient()
    p1 = params[0].asnumpy()
    rows = (sparse[1] + 0.9 * 2.0 * p1[SPARSE_INDICES]) / 2.0
    want1 = _sparse_rows_expect(
        reference.ftrl, p1, rows.astype(np.float64),
        {"accum": np.full(p1.shape, 0.1), "linear": np.zeros(p1.shape)},
        learning_rate=0.001, lr_power=-0.5, l1=0.0, l2=0.0)
    ref2 = ReferenceOptimizer("ftrl", _named(params[1:]), weight_decay=0.9, loss_scale=2.0)
    ref2.step([dense.astype(np.float64)])
    assert opt((sparse, dense))
    np.testing.assert_allclose(params[0].asnumpy(), want1, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(params[1].asnumpy(), ref2.params[0], rtol=RTOL, atol=ATOL)


def test_proximal_ada_grad():
    params = net_params()
    opt = nn.ProximalAdagrad(params, weight_decay=0.9, loss_scale=1024.0)
    ref = ReferenceOptimizer("proximal_adagrad", _named(params), weight_decay=0.9,
                             loss_scale=1024.0)
    run_against_reference(opt, params, ref)


@pytest.mark.parametrize("target", ["CPU", None],
                         ids=["spares_proximal_ada_grad_compile", "spares_proximal_ada_grad"])
def test_spares_proximal_ada_grad(target):
    import reference
    params = _sparse_net_params()
    opt = nn.ProximalAdagrad(params, weight_decay=0.9, loss_scale=1024.0)
    if target:
        opt.target = target
    sparse, dense = _sparse_net_gradient()
    p1 = params[0].asnumpy()
    rows = (sparse[1] + 0.9 * 1024.0 * p1[SPARSE_INDICES]) / 1024.0
    want1 = _sparse_rows_expect(reference.proximal_adagrad, p1, rows.astype(np.float64),
                                {"accum": np.full(p1.shape, 0.1)},
                                learning_rate=0.001, l1=0.0, l2=0.0)
    ref2 = ReferenceOptimizer("proximal_adagrad", _named(params[1:]), weight_decay=0.9,
                              loss_scale=1024.0)
    ref2.step([dense.astype(np.float64)])
    assert opt((sparse, dense))
    np.testing.assert_allclose(params[0].asnumpy(), want1, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(params[1].asnumpy(), ref2.params[0], rtol=RTOL, atol=ATOL)


def test_lazy_adam_compile():
    params = net_params()
    opt = nn.LazyAdam(params, learning_rate=0.1, weight_decay=0.9, loss_scale=2.0)
    ref = ReferenceOptimizer("lazy_adam", _named(params), learning_rate=0.1, weight_decay=0.9,
                             loss_scale=2.0)
    run_against_reference(opt, params, ref)


def test_spares_lazy_adam_compile():
    params = _sparse_net_params()
    opt = nn.LazyAdam(params, learning_rate=0.1, weight_decay=0.9, loss_scale=2.0)
    opt.target = 'CPU'
    ref = ReferenceOptimizer("lazy_adam", _named(params), learning_rate=0.1, weight_decay=0.9,
                             loss_scale=2.0)
    sparse, dense = _sparse_net_gradient()
    assert opt((sparse, dense))
    ref.step([(sparse[0], sparse[1].astype(np.float64)), dense.astype(np.float64)])
    for p, name in zip(params, ref.names):
        np.testing.assert_allclose(p.asnumpy(), ref.param(name), rtol=RTOL, atol=ATOL)


def test_lazy_adam_error():
    with pytest.raises(ValueError):
        nn.LazyAdam(net_params(), learning_rate=-0.1)
    with pytest.raises(TypeError):
        nn.LazyAdam(net_params(), learning_rate=0.1, beta1=2)


@pytest.mark.parametrize("make", [
    lambda p: nn.FTRL(p, weight_decay=0.9, loss_scale=2.0),
    lambda p: nn.LazyAdam(p, learning_rate=0.1, weight_decay=0.9, loss_scale=2.0),
    lambda p: nn.Adam(p, learning_rate=0.1, loss_scale=1024.0, weight_decay=0.9),
    lambda p: nn.ProximalAdagrad(p, weight_decay=0.9, loss_scale=1024.0),
], ids=["ftrl_target", "lazyadam_target", "adam_target", "proximal_target"])
def test_target(make):
    optimizer = make(_sparse_net_params())
    assert optimizer.target in ('CPU', 'Ascend')


# ---------------------------------------------------------------------------
# tests/ut/python/nn/optim/test_lamb.py
# ---------------------------------------------------------------------------

class LambLearningRate(nn.LearningRateSchedule):
    """Warm-up then polynomial decay (a user-defined schedule)."""

    def __init__(self, learning_rate, end_learning_rate, warmup_steps, decay_steps, power):
        super().__init__()
        self.warmup_lr = nn.WarmUpLR(learning_rate, warmup_steps)
        self.decay_lr = nn.PolynomialDecayLR(learning_rate, end_learning_rate, decay_steps,
                                             power)
        self.warmup_steps = warmup_steps

    def construct(self, global_step):
        is_warmup = 1.0 if self.warmup_steps > global_step else 0.0
        return ((1.0 - is_warmup) * self.decay_lr(global_step)
                + is_warmup * self.warmup_lr(global_step))


def test_lamb_compile_dynamic_lr():
    params = net_params()
    warmup_decay_lr = LambLearningRate(0.01, 0.0001, 10, 20, 1.0)
    opt = nn.Lamb(params, warmup_decay_lr)
    ref = ReferenceOptimizer("lamb", _named(params), learning_rate=warmup_decay_lr)
    # Twelve steps: past the warm-up.
    run_against_reference(opt, params, ref, steps=12)


def test_lamb_compile():
    params = net_params()
    opt = nn.Lamb(params, 0.02, 0.9)
    ref = ReferenceOptimizer("lamb", _named(params), learning_rate=0.02, beta1=0.9)
    run_against_reference(opt, params, ref)


def test_lamb_group():
    params = net_params()
    warmup_decay_lr = LambLearningRate(0.01, 0.0001, 10, 20, 1.0)
    groups = [{'params': [params[0]], 'lr': warmup_decay_lr, 'weight_decay': 0.9},
              {'params': [params[1]]}]
    opt = nn.Lamb(groups, 0.02)
    ref = ReferenceOptimizer("lamb", _groups_for_ref(groups), learning_rate=0.02)
    run_against_reference(opt, params, ref, steps=12)


# ---------------------------------------------------------------------------
# tests/ut/python/nn/optim/test_lars.py
# ---------------------------------------------------------------------------

def multisteplr(total_steps, milestone, base_lr=0.9, gamma=0.1):
    lr = []
    for step in range(total_steps):
        base_lr = base_lr * gamma ** milestone.count(step)
        lr.append(base_lr)
    return np.array(lr, np.float32)


def test_lars_multi_step_lr():
    params = net_params()
    lr = multisteplr(10, [2, 6])
    sgd = nn.Momentum(params, lr, 0.9)
    opt = nn.LARS(sgd, epsilon=1e-08, coefficient=0.02, use_clip=True,
                  lars_filter=lambda x: 'bn' not in x.name)
    ref = ReferenceOptimizer("lars", _named(params), learning_rate=lr, momentum=0.9,
                             epsilon=1e-08, coefficient=0.02, use_clip=True,
                             lars_filter=lambda n: 'bn' not in n)
    run_against_reference(opt, params, ref, steps=4)


def test_lars_float_lr():
    params = net_params()
    sgd = nn.Momentum(params, 0.1, 0.9)
    opt = nn.LARS(sgd, epsilon=1e-08, coefficient=0.02,
                  lars_filter=lambda x: 'bn' not in x.name)
    ref = ReferenceOptimizer("lars", _named(params), learning_rate=0.1, momentum=0.9,
                             epsilon=1e-08, coefficient=0.02,
                             lars_filter=lambda n: 'bn' not in n)
    run_against_reference(opt, params, ref)


# ---------------------------------------------------------------------------
# tests/ut/python/nn/optim/test_momentum.py, test_rmsprop.py, test_rprop.py,
# test_sgd.py
# ---------------------------------------------------------------------------

def test_momentum_compile():
    params = net_params()
    opt = nn.Momentum(params, learning_rate=0.1, momentum=0.9)
    ref = ReferenceOptimizer("momentum", _named(params), learning_rate=0.1, momentum=0.9)
    run_against_reference(opt, params, ref)


def test_rmsprop_compile():
    params = net_params()
    opt = nn.RMSProp(params, learning_rate=0.1)
    ref = ReferenceOptimizer("rmsprop", _named(params), learning_rate=0.1)
    run_against_reference(opt, params, ref)


def test_rmsprop_e():
    with pytest.raises(ValueError):
        nn.RMSProp(net_params(), momentum=-0.1, learning_rate=0.1)
    with pytest.raises(TypeError):
        nn.RMSProp(net_params(), momentum=1, learning_rate=0.1)


def test_rpropwithoutparam():
    with pytest.raises(ValueError, match=r"For 'Optimizer', the argument parameters must "
                                         r"not be empty"):
        nn.Rprop([], learning_rate=0.1)


def test_rprop_tuple():
    with pytest.raises(TypeError):
        nn.Rprop(net_params(), etas=[0.5, 1.2], learning_rate=0.1)
    with pytest.raises(TypeError):
        nn.Rprop(net_params(), step_sizes=[1e-6, 50.], learning_rate=0.1)


def test_rprop_size():
    with pytest.raises(ValueError):
        nn.Rprop(net_params(), etas=(0.5, 1.2, 1.3), learning_rate=0.1)
    with pytest.raises(ValueError):
        nn.Rprop(net_params(), step_sizes=(1e-6, 50., 60.), learning_rate=0.1)


def test_rprop_stepsize():
    with pytest.raises(ValueError):
        nn.Rprop(net_params(), step_sizes=(50., 1e-6), learning_rate=0.1)


def test_rprop_etas():
    with pytest.raises(ValueError):
        nn.Rprop(net_params(), etas=(0.5, 0.9), learning_rate=0.1)
    with pytest.raises(ValueError):
        nn.Rprop(net_params(), etas=(1., 1.2), learning_rate=0.1)
    with pytest.raises(ValueError):
        nn.Rprop(net_params(), etas=(-0.1, 1.2), learning_rate=0.1)


def test_rprop_mindspore_with_empty_params():
    with pytest.raises(ValueError, match=r"For 'Optimizer', the argument parameters must "
                                         r"not be empty"):
        nn.Rprop([])


class WeightDecaySchdule(nn.LearningRateSchedule):
    """tests/st/optimizer/weight_decay_utils.py: [0.001, 0.001, 0.1][step]."""

    def construct(self, global_step):
        return [0.001, 0.001, 0.1][global_step]


def test_sgd_dynamic_weightdecay():
    params = net_params()
    group_params = [{'params': [params[0]], 'weight_decay': WeightDecaySchdule()},
                    {'params': [params[1]]}]
    msg = ("For 'SGD', dynamic weight decay is currently not supported, the argument "
           "'weight_decay' or 'weight_decay' set in grouped 'params' must be float or int type.")
    with pytest.raises(TypeError, match=msg):
        nn.SGD(params, learning_rate=0.1, weight_decay=WeightDecaySchdule())
    with pytest.raises(TypeError, match=msg):
        nn.SGD(group_params, learning_rate=0.1)


# ---------------------------------------------------------------------------
# tests/ut/python/optimizer/test_optimizer_with_parameter_groups.py (LeNet5's
# trainable parameters, by name and shape)
# ---------------------------------------------------------------------------

LENET_SHAPES = [("conv1.weight", (6, 1, 5, 5)), ("conv2.weight", (16, 6, 5, 5)),
                ("fc1.weight", (120, 400)), ("fc1.bias", (120,)),
                ("fc2.weight", (84, 120)), ("fc2.bias", (84,)),
                ("fc3.weight", (10, 84)), ("fc3.bias", (10,))]


def lenet_params(seed=0):
    rng = np.random.default_rng(seed)
    return [nn.Parameter((0.1 * rng.standard_normal(s)).astype(np.float32), n)
            for n, s in LENET_SHAPES]


def _split(params, key):
    return ([p for p in params if key in p.name], [p for p in params if key not in p.name])


def test_group_lr():
    params = lenet_params()
    conv, no_conv = _split(params, "conv")
    groups = [{'params': no_conv}, {'params': conv, 'lr': 0.8}, {'order_params': params}]
    opt = nn.Momentum(groups, learning_rate=0.1, momentum=0.9)
    assert opt.is_group is True
    assert opt.is_group_lr is True
    assert opt.dynamic_lr is False
    assert opt.is_group_params_ordered is True
    for lr, param, order_param in zip(opt.learning_rate, opt.parameters, params):
        want = 0.8 if 'conv' in param.name else 0.1
        assert np.all(lr.data == np.float32(want))
        assert param.name == order_param.name
    ref = ReferenceOptimizer("momentum", _groups_for_ref(groups), learning_rate=0.1,
                             momentum=0.9)
    run_against_reference(opt, params, ref, first=[np.full(p.shape, 0.01, np.float32)
                                                   for p in params])


def test_group_dynamic_1():
    params = lenet_params()
    conv, no_conv = _split(params, "conv")
    default_lr = (0.1, 0.2, 0.3)
    groups = [{'params': no_conv}, {'params': conv, 'lr': 0.8}, {'order_params': params}]
    opt = nn.Momentum(groups, learning_rate=default_lr, momentum=0.9)
    assert opt.is_group is True
    assert opt.dynamic_lr is True
    assert opt.is_group_params_ordered is True
    for lr, param, order_param in zip(opt.learning_rate, opt.parameters, params):
        if 'conv' in param.name:
            assert np.all(lr.learning_rate.data == np.array([0.8] * 3, np.float32))
        else:
            assert np.all(lr.learning_rate.data == np.array(default_lr, np.float32))
        assert param.name == order_param.name
    ref = ReferenceOptimizer("momentum", _groups_for_ref(groups), learning_rate=default_lr,
                             momentum=0.9)
    run_against_reference(opt, params, ref, steps=4,
                          first=[np.full(p.shape, 0.01, np.float32) for p in params])


def test_group_dynamic_2():
    params = lenet_params()
    conv, no_conv = _split(params, "conv")
    conv_lr = (0.1, 0.2, 0.3)
    groups = [{'params': conv, 'lr': conv_lr}, {'params': no_conv}]
    opt = nn.RMSProp(groups, learning_rate=0.8)
    assert opt.is_group is True
    assert opt.dynamic_lr is True
    for lr, param in zip(opt.learning_rate, opt.parameters):
        if 'conv' in param.name:
            assert np.all(lr.learning_rate.data == np.array(conv_lr, np.float32))
        else:
            assert np.all(lr.learning_rate.data == np.array([0.8] * 3, np.float32))
    ordered = conv + no_conv
    ref = ReferenceOptimizer("rmsprop", _groups_for_ref(groups), learning_rate=0.8)
    run_against_reference(opt, ordered, ref, steps=4,
                          first=[np.full(p.shape, 0.01, np.float32) for p in ordered])


def test_group_dynamic_no_same_size():
    conv, no_conv = _split(lenet_params(), "conv")
    groups = [{'params': conv, 'lr': (0.1, 0.2, 0.3)}, {'params': no_conv}]
    with pytest.raises(ValueError):
        nn.Momentum(groups, learning_rate=(0.1, 0.2), momentum=0.9)


def test_group_not_float_lr():
    # MindSpore's test passes a NumPy 0-d array, which MindSpore (not taking
    # NumPy arrays as tensors) sends through list() and rejects with
    # TypeError.  optim_mlir.nn takes NumPy arrays as its tensors, and
    # MindSpore's Optimizer._preprocess_single_lr accepts a 0-d Tensor as a
    # constant rate: the group's rate is 1.0.  What MindSpore rejects with
    # TypeError whatever the tensor type (a rate that is neither a number, a
    # tensor, an iterable nor a schedule) still raises.
    conv, no_conv = _split(lenet_params(), "conv")
    groups = [{'params': conv, 'lr': np.array(1)}, {'params': no_conv}]
    opt = nn.Momentum(groups, learning_rate=0.3, momentum=0.9)
    assert opt.is_group_lr is True and opt.dynamic_lr is False
    for lr, param in zip(opt.learning_rate, opt.parameters):
        assert lr.data == np.float32(1.0 if 'conv' in param.name else 0.3)
    groups = [{'params': conv, 'lr': None}, {'params': no_conv}]
    with pytest.raises(TypeError):
        nn.Momentum(groups, learning_rate=0.3, momentum=0.9)


def test_group_not_float_weight_decay():
    conv, no_conv = _split(lenet_params(), "conv")
    groups = [{'params': conv, 'weight_decay': np.array(1)}, {'params': no_conv}]
    with pytest.raises(TypeError):
        nn.Momentum(groups, learning_rate=0.1, momentum=0.9)


def test_weight_decay():
    params = lenet_params()
    conv, no_conv = _split(params, "conv")
    groups = [{'params': no_conv}, {'params': conv, 'weight_decay': 0.8},
              {'order_params': params}]
    opt = nn.SGD(groups, learning_rate=0.1, weight_decay=0.0)
    assert opt.is_group is True
    assert opt.is_group_lr is False
    assert opt.is_group_params_ordered is True
    for weight_decay, decay_flags, param, order_param in zip(
            opt.weight_decay, opt.decay_flags, opt.parameters, params):
        if 'conv' in param.name:
            assert abs(np.asarray(weight_decay) - 0.8) < 1.e-6
            assert decay_flags is True
        else:
            assert abs(np.asarray(weight_decay) - 0.0) < 1.e-6
            assert decay_flags is False
        assert param.name == order_param.name
    # MindSpore's SGD gives each group's weight decay to its kernel
    # (nn/optim/sgd.py: ``P.SGD(dampening, wd, nesterov) for wd in
    # self.group_weight_decay``), which adds wd * param to the gradient: with
    # momentum 0 and loss_scale 1 that is the reference's "uniform" decay.
    ref = ReferenceOptimizer("sgd", _groups_for_ref(groups), learning_rate=0.1,
                             mode="uniform")
    run_against_reference(opt, params, ref,
                          first=[np.full(p.shape, 0.01, np.float32) for p in params])


def test_group_repeat_param():
    conv, no_conv = _split(lenet_params(), "conv")
    groups = [{'params': conv, 'lr': 0.1}, {'params': conv, 'lr': 0.3}, {'params': no_conv}]
    with pytest.raises(RuntimeError):
        nn.Adam(groups, learning_rate=0.3)


def test_get_lr_parameter_with_group():
    conv, no_conv = _split(lenet_params(), "conv")
    opt = nn.SGD([{'params': conv, 'lr': 0.1}, {'params': no_conv, 'lr': 0.3}])
    assert opt.is_group_lr is True
    for param in opt.parameters:
        lr = opt.get_lr_parameter(param)
        want = 'learning_rate_group_0' if 'conv' in param.name else 'learning_rate_group_1'
        assert lr.name == want
    for lr in opt.get_lr_parameter(conv):
        assert lr.name == 'learning_rate_group_0'


def test_get_lr_parameter_with_order_group():
    conv, no_conv = _split(lenet_params(), "conv")
    opt = nn.SGD([{'params': conv, 'lr': 0.1}, {'params': no_conv}])
    assert opt.is_group_lr is True
    for param in opt.parameters:
        lr = opt.get_lr_parameter(param)
        assert lr.name == ('learning_rate_group_0' if 'conv' in param.name
                           else 'learning_rate')


def test_get_lr_parameter_with_no_group():
    conv, no_conv = _split(lenet_params(), "conv")
    opt = nn.SGD([{'params': conv, 'weight_decay': 0.8}, {'params': no_conv}])
    assert opt.is_group_lr is False
    for param in opt.parameters:
        assert opt.get_lr_parameter(param).name == 'learning_rate'
    with pytest.raises(TypeError):
        opt.get_lr_parameter([1, 2, 3])


def test_order_params_1():
    params = lenet_params()
    conv = [p for p in params if 'conv' in p.name]
    bias = [p for p in params if 'bias' in p.name]
    groups = [{'params': conv, 'weight_decay': 0.01}, {'params': bias, 'lr': 0.01},
              {'order_params': bias + conv}]
    opt = nn.SGD(groups, learning_rate=0.1, weight_decay=0.0)
    assert opt.is_group is True
    assert opt.is_group_lr is True
    assert opt.is_group_params_ordered is True
    for weight_decay, decay_flags, lr, param, order_param in zip(
            opt.weight_decay, opt.decay_flags, opt.learning_rate, opt.parameters,
            bias + conv):
        if 'conv' in param.name:
            assert np.all(lr.data == np.float32(0.1))
            assert abs(np.asarray(weight_decay) - 0.01) < 1.e-6
            assert decay_flags is True
        elif 'bias' in param.name:
            assert np.all(lr.data == np.float32(0.01))
            assert abs(np.asarray(weight_decay)) < 1.e-6
            assert decay_flags is False
        assert param.name == order_param.name
        if 'conv' in param.name:
            assert lr.name == 'learning_rate'
        elif 'bias' in param.name:
            assert lr.name == 'learning_rate_group_1'


def test_order_params_2():
    params = lenet_params()
    conv = [p for p in params if 'conv' in p.name]
    fc1 = [p for p in params if 'fc1' in p.name]
    fc1_lr = (0.5, 0.4, 0.3)
    groups = [{'params': fc1, 'lr': fc1_lr}, {'params': conv, 'weight_decay': 0.01},
              {'order_params': fc1 + conv}]
    opt = nn.SGD(groups, learning_rate=0.1, weight_decay=0.0)
    assert opt.is_group is True
    assert opt.is_group_lr is True
    assert opt.is_group_params_ordered is True
    all_lr = opt.get_lr_parameter(fc1 + conv)
    for weight_decay, decay_flags, lr, param, order_param in zip(
            opt.weight_decay, opt.decay_flags, all_lr, opt.parameters, fc1 + conv):
        if 'conv' in param.name:
            assert np.all(lr.data == np.array([0.1] * 3, np.float32))
            assert abs(np.asarray(weight_decay) - 0.01) < 1.e-6
            assert decay_flags is True
        elif 'fc1' in param.name:
            assert np.all(lr.data == np.array(fc1_lr, np.float32))
            assert abs(np.asarray(weight_decay)) < 1.e-6
            assert decay_flags is False
        assert param.name == order_param.name
        if 'conv' in param.name:
            assert lr.name == 'learning_rate'
        elif 'fc1' in param.name:
            assert lr.name == 'learning_rate_group_0'


def test_get_order_params_with_not_same():
    conv, no_conv = _split(lenet_params(), "conv")
    groups = [{'params': conv, 'weight_decay': 0.8}, {'order_params': no_conv}]
    with pytest.raises(ValueError):
        nn.SGD(groups)


# ---------------------------------------------------------------------------
# tests/ut/python/optimizer/test_optimizer_with_loss_scale.py: the optimizer
# part (the loss-scale cells, Model.train and the dataset are not ported).
# ---------------------------------------------------------------------------

def test_momentum_compile_loss_scale_net():
    # Net(1, 1), inputs ones([15, 1]), label zeros, MSE: out = w + b = 2,
    # dL/dw = dL/db = 2 * 2 = 4 (scale_sense 1).
    params = [nn.Parameter(np.ones([1, 1], np.float32), "weight"),
              nn.Parameter(np.ones([1], np.float32), "bias")]
    opt = nn.Momentum(params, learning_rate=0.1, momentum=0.9)
    ref = ReferenceOptimizer("momentum", _named(params), learning_rate=0.1, momentum=0.9)
    run_against_reference(opt, params, ref, first=[np.full([1, 1], 4, np.float32),
                                                   np.full([1], 4, np.float32)])


def test_compile_fp16_lr_overflow():
    # A learning rate Tensor of shape (1,): a one-value per-step list, whose
    # value is used at every step.
    params = [nn.Parameter(np.ones([16, 16], np.float32), "weight"),
              nn.Parameter(np.ones([16], np.float32), "bias")]
    lr = np.ones([1], np.float32) * 0.1
    opt = nn.Momentum(params, learning_rate=lr, momentum=0.9)
    ref = ReferenceOptimizer("momentum", _named(params), learning_rate=lr, momentum=0.9)
    run_against_reference(opt, params, ref, first=[np.full(p.shape, 0.5, np.float32)
                                                   for p in params])


def test_compile_fp16_overflow_lamb():
    params = [nn.Parameter(np.ones([16, 16], np.float32), "weight"),
              nn.Parameter(np.ones([16], np.float32), "bias")]
    opt = nn.Lamb(params, learning_rate=0.01)
    ref = ReferenceOptimizer("lamb", _named(params), learning_rate=0.01)
    run_against_reference(opt, params, ref, first=[np.full(p.shape, 0.5, np.float32)
                                                   for p in params])


@pytest.mark.parametrize("loss_scale", [1.0, 1e-40], ids=["adam_compile", "adam_loss_scale"])
def test_adam_compile_loss_scale(loss_scale):
    # adam_compile(loss_scale): MindSpore accepts loss_scale=1e-40 (its
    # float32 reciprocal overflows to inf) and runs the step.
    params = [nn.Parameter(np.ones([1, 1], np.float32), "weight"),
              nn.Parameter(np.ones([1], np.float32), "bias")]
    opt = nn.Adam(params, learning_rate=1e-3, beta1=0.9, beta2=0.999, eps=1e-8,
                  use_locking=False, use_nesterov=False, weight_decay=0.0,
                  loss_scale=loss_scale)
    assert opt.need_scale is (loss_scale != 1.0)
    with np.errstate(all="ignore"):
        assert opt((np.full([1, 1], 4, np.float32), np.full([1], 4, np.float32)))
    if loss_scale == 1.0:
        # Adam's first step moves each element by lr (m / sqrt(v) = sign(g)).
        np.testing.assert_allclose(params[0].asnumpy(), [[1 - 1e-3]], rtol=1e-5)


# ---------------------------------------------------------------------------
# tests/st/ops/cpu/test_adam_op.py, test_adam_weight_decay_op.py,
# test_momentum_op.py, test_sgd_op.py: Dense(16, 10) (weight 0.01, bias 0),
# SoftmaxCrossEntropyWithLogits(sparse, mean), input arange(16) * 0.01,
# label 0.
# ---------------------------------------------------------------------------

def _dense16():
    return _MLP([("fc1", np.ones([10, 16]) * 0.01, np.zeros(10))])


DATA16 = (np.arange(0, 16).reshape(1, 16).astype(np.float32) * 0.01)
LABEL16 = np.array([0], np.int32)


def _assert_decreasing(losses):
    assert losses[0] > losses[1]
    assert losses[1] > losses[2]


def test_adam():
    net = _dense16()
    opt = nn.Adam(net.params, learning_rate=0.01)
    _assert_decreasing(train(net, opt, DATA16, LABEL16, softmax_ce_sparse_mean, 3))


def test_lazy_adam():
    net = _dense16()
    opt = nn.Adam(net.params, learning_rate=0.01, use_lazy=True)
    _assert_decreasing(train(net, opt, DATA16, LABEL16, softmax_ce_sparse_mean, 3))


def test_lazy2():
    net = _dense16()
    opt = nn.Adam(net.params, learning_rate=0.01, use_lazy=True)
    losses = train(net, opt, DATA16, LABEL16, softmax_ce_sparse_mean, 3)
    assert np.array_equal(losses[-1], np.array(2.2237475, np.float32))


def test_adam_offload():
    net = _dense16()
    opt = nn.Adam(net.params, learning_rate=0.01, use_offload=True)
    _assert_decreasing(train(net, opt, DATA16, LABEL16, softmax_ce_sparse_mean, 3))


def test_adam_offload_acc():
    net = _dense16()
    opt = nn.Adam(net.params, learning_rate=0.01, use_offload=True)
    losses = train(net, opt, DATA16, LABEL16, softmax_ce_sparse_mean, 3)
    assert np.array_equal(losses[-1], np.array(2.2237475, np.float32))


def test_adam_weight_decay():
    # AdamWeightDecayOp (model_zoo gpt) is AdamWeightDecay.
    net = _dense16()
    opt = nn.AdamWeightDecay(net.params, learning_rate=0.01)
    _assert_decreasing(train(net, opt, DATA16, LABEL16, softmax_ce_sparse_mean, 3))


def test_momentum():
    # MindSpore's test prints the 13 losses and asserts nothing; here: they
    # fall.
    net = _dense16()
    opt = nn.Momentum(net.params, 0.1, 0.9)
    losses = train(net, opt, DATA16, LABEL16, softmax_ce_sparse_mean, 13)
    assert losses[-1] < losses[0]


def test_SGD():
    net = _dense16()
    opt = nn.SGD(net.params, 0.1, 0.9, 0.0, 0.0, True, 1.0)
    losses = train(net, opt, DATA16, LABEL16, softmax_ce_sparse_mean, 3)
    last_loss = 100.0
    for loss in losses:
        assert last_loss > loss
        last_loss = loss


# ---------------------------------------------------------------------------
# tests/st/optimizer/optimizer_utils.py build_network: FakeNet (Dense(8, 4),
# ReLU, Dense(4, 1)), L1Loss(mean) unless given, 20 steps on data
# ones((2, 8)) * i, label ones((2, 1)) * (i + 1).
# ---------------------------------------------------------------------------

FC1_W = [[0.72346634, 0.95608497, 0.4084163, 0.18627149, 0.6942514, 0.39767185, 0.24918061,
          0.4548748],
         [0.7203382, 0.19086994, 0.76286614, 0.87920564, 0.3169892, 0.9462494, 0.62827677,
          0.27504718],
         [0.3544535, 0.2524781, 0.5370583, 0.8313121, 0.6670143, 0.0488653, 0.62225235,
          0.7546456],
         [0.17985944, 0.05106374, 0.31064633, 0.4863033, 0.848814, 0.5523157, 0.20295663,
          0.7213356]]
FC1_B = [0.79708564, 0.13728078, 0.66322654, 0.88128525]
FC2_W = [[0.8473515, 0.50923985, 0.42287776, 0.29769543]]
FC2_B = [0.09996348]


def fake_net():
    return _MLP([("fc1", FC1_W, FC1_B), ("fc2", FC2_W, FC2_B)])


def fake_data():
    data = [np.ones((2, 8), np.float32) * i for i in range(20)]
    label = [np.ones((2, 1), np.float32) * (i + 1) for i in range(20)]
    return data, label


def build_network(name, config, net, is_group=False, loss_fn=l1_mean):
    params = net.params
    if is_group:
        fc1 = [p for p in params if 'fc1' in p.name]
        fc2 = [p for p in params if 'fc1' not in p.name]
        if name == 'ASGD':
            params = [{'params': fc1, 'weight_decay': 0.01, 'lr': 0.01},
                      {'params': fc2, 'lr': 0.1}]
        elif name == 'adamax':
            params = [{'params': fc1, 'lr': 0.0018}, {'params': fc2, 'lr': 0.0022}]
        elif name == 'SGD':
            params = [{'params': fc1, 'weight_decay': 0.2}, {'params': fc2}]
        else:
            params = [{'params': fc1, 'lr': 0.01}, {'params': fc2, 'lr': 0.01}]
    if name == 'ASGD':
        opt = nn.ASGD(params, learning_rate=config['lr'], lambd=config['lambd'],
                      alpha=config['alpha'], t0=config['t0'],
                      weight_decay=config['weight_decay'])
    elif name == 'Rprop':
        opt = nn.Rprop(params, learning_rate=config['lr'], etas=config['etas'],
                       step_sizes=config['step_sizes'], weight_decay=0.0)
    elif name == 'adamax':
        opt = nn.AdaMax(params, learning_rate=config['lr'], beta1=config['beta1'],
                        beta2=config['beta2'], eps=config['eps'], weight_decay=0.0)
    else:
        opt = nn.SGD(params, weight_decay=config['weight_decay'], dampening=0.3, momentum=0.1)
    data, label = fake_data()
    losses = train(net, opt, data, label, loss_fn, 20)
    return losses, opt


# tests/st/optimizer/test_asgd.py (the ax states after 20 steps, atol 1e-3)

ASGD_CASES = {
    "default_asgd": (
        dict(lr=0.01, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0.0), False,
        [[[0.460443, 0.693057, 0.145399, -0.076741, 0.431228, 0.134655, -0.013833, 0.191857],
          [0.391073, -0.138385, 0.433600, 0.549937, -0.012268, 0.616980, 0.299013, -0.054209],
          [0.064144, -0.037829, 0.246745, 0.540993, 0.376698, -0.241438, 0.331937, 0.464328],
          [-0.066224, -0.195017, 0.064560, 0.240214, 0.602717, 0.306225, -0.043127, 0.475241]],
         [0.740427, 0.091827, 0.624849, 0.851911],
         [[0.585555, 0.512303, 0.424419, 0.323499]],
         [0.059962]]),
    "no_default_asgd": (
        dict(lr=0.001, lambd=1e-3, alpha=0.8, t0=50., weight_decay=0.001), False,
        [[[0.645291, 0.877900, 0.330253, 0.108117, 0.616077, 0.319509, 0.171024, 0.376710],
          [0.687056, 0.157610, 0.729583, 0.845918, 0.283724, 0.912958, 0.594999, 0.241783],
          [0.328432, 0.226461, 0.511030, 0.805272, 0.640981, 0.022857, 0.596221, 0.728608],
          [0.165102, 0.036311, 0.295884, 0.471533, 0.834030, 0.537543, 0.188198, 0.706556]],
         [0.785650, 0.131580, 0.658614, 0.878328],
         [[0.374859, -0.049370, -0.068307, -0.115195]],
         [0.083960]]),
    "default_asgd_group": (
        dict(lr=0.1, lambd=1e-3, alpha=0.8, t0=50., weight_decay=0.001), True,
        [[[0.197470, 0.429578, -0.116887, -0.338544, 0.168320, -0.127608, -0.275773,
           -0.070531],
          [0.119964, -0.408341, 0.162399, 0.278482, -0.282498, 0.345379, 0.028105, -0.324348],
          [-0.168310, -0.270062, 0.013893, 0.307500, 0.143563, -0.473227, 0.098900, 0.231002],
          [-0.254349, -0.382861, -0.123849, 0.051422, 0.413136, 0.117289, -0.231302,
           0.285938]],
         [0.706595, 0.042866, 0.579553, 0.811499],
         [[-0.076689, -0.092399, -0.072100, -0.054189]],
         [0.698678]]),
}


@pytest.mark.parametrize("case", sorted(ASGD_CASES))
def test_asgd_network(case):
    config, is_group, expect = ASGD_CASES[case]
    _, opt = build_network('ASGD', config, fake_net(), is_group=is_group)
    for i in range(4):
        assert np.allclose(opt.ax[i].asnumpy(), expect[i], atol=1.e-3), i


# tests/st/optimizer/test_rprop.py (the prev states, atol 1e-2)

_RPROP_ZERO_ROWS = [[0.0] * 8] * 3
RPROP_CASES = {
    "default_rprop": (
        dict(lr=0.01, etas=(0.5, 1.2), step_sizes=(1e-6, 50.)), False,
        [[9.10877514] * 8, [2.68465400] * 8, [1.04377401] * 8, [-1.33468997] * 8],
        [0.47940922, 0.14129758, 0.05493547, -0.07024684]),
    "no_default_rprop": (
        dict(lr=0.01, etas=(0.6, 1.9), step_sizes=(1e-3, 20.)), False,
        [[8.41605091] * 8] + _RPROP_ZERO_ROWS, [0.44295004, 0.0, 0.0, 0.0]),
    "default_rprop_group": (
        dict(lr=0.1, etas=(0.6, 1.9), step_sizes=(1e-2, 10.)), True,
        [[8.41605091] * 8] + _RPROP_ZERO_ROWS, [0.44295004, 0.0, 0.0, 0.0]),
}


@pytest.mark.parametrize("case", sorted(RPROP_CASES))
def test_rprop_network(case):
    config, is_group, w, b = RPROP_CASES[case]
    _, opt = build_network('Rprop', config, fake_net(), is_group=is_group)
    assert np.allclose(opt.prev[0].asnumpy(), w, atol=1.e-2)
    assert np.allclose(opt.prev[1].asnumpy(), b, atol=1.e-2)


# tests/st/optimizer/test_sgd.py (group weight decay; the accum states, atol 1e-4)

def test_sgd_group_weight_decay_network():
    _, opt = build_network('SGD', {'weight_decay': 0.1}, fake_net(), is_group=True)
    fc1_w = [[0.00533873, 0.03210080, -0.03090680, -0.05646387, 0.00197765, -0.03214293,
              -0.04922638, -0.02556189],
             [-0.00658702, -0.06750072, -0.00169432, 0.01169018, -0.05299109, 0.01940336,
              -0.01717841, -0.05781638],
             [-0.03723934, -0.04897130, -0.01623122, 0.01762178, -0.00128018, -0.07239634,
              -0.00642990, 0.00880153],
             [-0.04421479, -0.05903235, -0.02916817, -0.00895938, 0.03274637, -0.00136485,
              -0.04155754, 0.01808037]]
    fc2_w = [[-0.01070179, -0.00702989, -0.00210839, 0.00160410]]
    assert np.allclose(opt.accum[0].asnumpy(), fc1_w, atol=1.e-4)
    assert np.allclose(opt.accum[2].asnumpy(), fc2_w, atol=1.e-4)


# tests/st/optimizer/test_adamax.py: its own Net (Dense(8, 4), ReLU,
# Dense(4, 1)), L1Loss(mean); moment1 after 20 steps, atol 1e-3.

AX_W1 = [[0.03909272, 0.08893055, -0.259909, -0.459185, -0.0195536, 0.12977135, -0.62942827,
          -0.53132117],
         [0.1542052, 0.6513571, -0.06453168, 0.44788414, -0.3775454, 0.6520292, 0.444174,
          -0.59306043],
         [0.2712369, 0.20890862, 0.6859066, 0.6629662, 0.4724893, -0.34384444, -0.16007674,
          0.21797538],
         [-0.3865972, 0.26727962, 0.23178828, -0.24629539, -0.68038213, -0.31262863,
          0.10493469, -0.28973007]]
AX_W2 = [[-0.6079024, -1.005364, 0.59004724, 0.7289244]]

_ZERO8 = [0.0] * 8
ADAMAX_CASES = {
    "default_adamax": (
        dict(lr=0.001, beta1=0.9, beta2=0.999, eps=1e-07), False,
        [_ZERO8, [11.18415642] * 8, [-6.70855522] * 8, _ZERO8],
        [0.0, 0.86349380, -0.51633584, 0.0]),
    "no_default_adamax": (
        dict(lr=0.01, beta1=0.9, beta2=0.98, eps=1e-06), False,
        [_ZERO8, [-4.02891350] * 8, [3.10859227] * 8, _ZERO8],
        [0.0, -0.04809491, 0.06205747, 0.0]),
    "default_adamax_group": (
        dict(lr=0.002, beta1=0.9, beta2=0.999, eps=1e-08), True,
        [_ZERO8, [11.07278919] * 8, [-6.81674862] * 8, _ZERO8],
        [0.0, 0.85614461, -0.52348828, 0.0]),
}


@pytest.mark.parametrize("case", sorted(ADAMAX_CASES))
def test_adamax_network(case):
    config, is_group, w, b = ADAMAX_CASES[case]
    net = _MLP([("fc1", AX_W1, np.zeros(4)), ("fc2", AX_W2, np.zeros(1))])
    _, opt = build_network('adamax', config, net, is_group=is_group, loss_fn=l1_mean)
    assert np.allclose(opt.moment1[0].asnumpy(), w, atol=1.e-3)
    assert np.allclose(opt.moment1[1].asnumpy(), b, atol=1.e-3)


# ---------------------------------------------------------------------------
# tests/st/optimizer/test_dynamic_weight_decay_cpu.py (weight_decay_utils.py):
# a constant weight decay against the schedule [0.001, 0.001, 0.1]; three
# Dense layers (16-10-10-10) with ReLU, softmax cross entropy; the losses of
# the two agree within 1e-3 at every step and after the last.
# ---------------------------------------------------------------------------

def _wd_net():
    return _MLP([("fc1", np.ones([10, 16]) * 0.01, np.zeros(10)),
                 ("fc2", np.ones([10, 10]) * 0.02, np.ones(10)),
                 ("fc3", np.ones([10, 10]) * 0.03, np.ones(10))])


def dynamic_weight_decay_cmp(net1, net2, optimizer1, optimizer2):
    for _ in range(3):
        loss1, g1 = net1.loss_and_grads(DATA16, LABEL16, softmax_ce_sparse_mean)
        loss2, g2 = net2.loss_and_grads(DATA16, LABEL16, softmax_ce_sparse_mean)
        assert optimizer1(tuple(g1))
        assert optimizer2(tuple(g2))
        assert abs(loss1 - loss2) < 1.e-3
    loss1, _ = net1.loss_and_grads(DATA16, LABEL16, softmax_ce_sparse_mean)
    loss2, _ = net2.loss_and_grads(DATA16, LABEL16, softmax_ce_sparse_mean)
    assert abs(loss1 - loss2) < 1.e-3


def _wd_groups(net, last_wd):
    fc1 = [p for p in net.params if 'fc1' in p.name]
    rest = [p for p in net.params if 'fc1' not in p.name]
    return [{'params': fc1, 'weight_decay': 0.01, 'lr': 0.01},
            {'params': rest, 'weight_decay': last_wd, 'lr': 0.001}]


def test_momentum_dynamic_weight_decay():
    net1, net2 = _wd_net(), _wd_net()
    opt1 = nn.Momentum(net1.params, momentum=0.001, learning_rate=0.001, weight_decay=0.001)
    opt2 = nn.Momentum(net2.params, momentum=0.001, learning_rate=0.001,
                       weight_decay=WeightDecaySchdule())
    dynamic_weight_decay_cmp(net1, net2, opt1, opt2)


def test_momentum_dynamic_weight_decay_group():
    net1, net2 = _wd_net(), _wd_net()
    opt1 = nn.Momentum(_wd_groups(net1, 0.001), momentum=0.001, learning_rate=0.001,
                       weight_decay=0.001)
    opt2 = nn.Momentum(_wd_groups(net2, WeightDecaySchdule()), momentum=0.001,
                       learning_rate=0.001, weight_decay=0.001)
    dynamic_weight_decay_cmp(net1, net2, opt1, opt2)


def test_adamweightdecay_dynamic_weight_decay():
    net1, net2 = _wd_net(), _wd_net()
    opt1 = nn.AdamWeightDecay(net1.params, learning_rate=0.001, weight_decay=0.001)
    opt2 = nn.AdamWeightDecay(net2.params, learning_rate=0.001,
                              weight_decay=WeightDecaySchdule())
    dynamic_weight_decay_cmp(net1, net2, opt1, opt2)


def test_adamweightdecay_dynamic_weight_decay_group():
    net1, net2 = _wd_net(), _wd_net()
    opt1 = nn.AdamWeightDecay(_wd_groups(net1, 0.001), learning_rate=0.001,
                              weight_decay=0.001)
    opt2 = nn.AdamWeightDecay(_wd_groups(net2, WeightDecaySchdule()), learning_rate=0.001,
                              weight_decay=0.001)
    dynamic_weight_decay_cmp(net1, net2, opt1, opt2)


# ---------------------------------------------------------------------------
# The 2022 versions of the same tests (tests/st/optimizer/test_asgd.py,
# test_rprop_cpu.py, test_adamax.py with optimizer_utils.py at commit
# d4f63c4e): MSELoss(sum) by default, group learning rates 0.001 / 0.1
# (ASGD: fc1 weight decay 0.01, lr 0.001), and the loss of every step.
# ---------------------------------------------------------------------------

def mse_sum(out, label):
    diff = out - label
    return np.float32(np.sum(diff * diff)), (2 * diff).astype(np.float32)


def build_network_2022(name, config, net, is_group=False, loss_fn=mse_sum):
    params = net.params
    if is_group:
        fc1 = [p for p in params if 'fc1' in p.name]
        fc2 = [p for p in params if 'fc1' not in p.name]
        if name == 'ASGD':
            params = [{'params': fc1, 'weight_decay': 0.01, 'lr': 0.001},
                      {'params': fc2, 'lr': 0.1}]
        elif name == 'adamax':
            params = [{'params': fc1, 'lr': 0.0018}, {'params': fc2, 'lr': 0.0022}]
        else:
            params = [{'params': fc1, 'lr': 0.001}, {'params': fc2, 'lr': 0.1}]
    if name == 'ASGD':
        opt = nn.ASGD(params, learning_rate=config['lr'], lambd=config['lambd'],
                      alpha=config['alpha'], t0=config['t0'],
                      weight_decay=config['weight_decay'])
    elif name == 'Rprop':
        opt = nn.Rprop(params, learning_rate=config['lr'], etas=config['etas'],
                       step_sizes=config['step_sizes'], weight_decay=0.0)
    else:
        opt = nn.AdaMax(params, learning_rate=config['lr'], beta1=config['beta1'],
                        beta2=config['beta2'], eps=config['eps'], weight_decay=0.0)
    data, label = fake_data()
    return train(net, opt, data, label, loss_fn, 20), opt


ASGD_2022 = {
    "default_asgd": (
        dict(lr=0.01, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0.0), False, 1e-5,
        [3.01246792e-01, 1.20041794e+02, 1.38681079e+03, 2.01250820e+01, 3.27283554e+01,
         4.76963005e+01, 6.47094269e+01, 8.34786530e+01, 1.03742706e+02, 1.25265739e+02,
         1.47835190e+02, 1.71259613e+02, 1.95367035e+02, 2.20003204e+02, 2.45029831e+02,
         2.70323456e+02, 2.95774048e+02, 3.21283752e+02, 3.46765594e+02, 3.72143097e+02],
        [[[-0.9451941, -0.71258026, -1.2602371, -1.4823773, -0.974408, -1.2709816,
           -1.4194703, -1.2137808],
          [-1.5341775, -2.0636342, -1.4916497, -1.3753126, -1.9375193, -1.308271,
           -1.6262367, -1.9794592],
          [-1.9886293, -2.0906024, -1.8060291, -1.5117803, -1.6760755, -2.2942104,
           -1.7208353, -1.5884445],
          [-2.071215, -2.2000103, -1.9404325, -1.7647781, -1.4022746, -1.6987679,
           -2.0481179, -1.5297506]],
         [-0.17978168, -1.0764512, -0.578816, -0.2928958],
         [[4.097412, 6.2694297, 5.9203916, 5.3845487]],
         [6.904814]]),
    "no_default_asgd": (
        dict(lr=0.001, lambd=1e-3, alpha=0.8, t0=50., weight_decay=0.001), False, 1e-3,
        [3.01246792e-01, 1.26019104e+02, 1.90600449e+02, 9.70605755e+00, 2.98419113e+01,
         3.68430023e+02, 1.06318066e+04, 1.35017746e+02, 1.68673813e+02, 2.05914215e+02,
         2.46694992e+02, 2.90972443e+02, 3.38703430e+02, 3.89845123e+02, 4.44355103e+02,
         5.02191406e+02, 5.63312500e+02, 6.27676941e+02, 6.95244202e+02, 7.65973816e+02],
        [[[-1.3406217, -1.1080127, -1.655658, -1.8777936, -1.3698348, -1.6664025,
           -1.8148884, -1.6092018],
          [-1.1475986, -1.6770473, -1.1050745, -0.98873824, -1.5509329, -0.9216978,
           -1.2396574, -1.5928726],
          [-1.2329121, -1.334883, -1.050313, -0.756071, -0.92036265, -1.5384867,
           -0.96512324, -0.8327349],
          [-1.0685704, -1.1973612, -0.9377885, -0.7621386, -0.39964262, -0.69612867,
           -1.0454736, -0.52711576]],
         [0.41264832, -0.19961096, 0.37743938, 0.65807366],
         [[-5.660916, -5.9415145, -5.1402636, -4.199707]],
         [0.5082278]]),
    "default_asgd_group": (
        dict(lr=0.1, lambd=1e-3, alpha=0.8, t0=50., weight_decay=0.001), True, 1e-3,
        [3.01246792e-01, 7.26708527e+01, 2.84905312e+05, 4.17499258e+04, 1.46797949e+04,
         5.07966602e+03, 1.70935132e+03, 5.47094910e+02, 1.59216995e+02, 3.78818207e+01,
         5.18196869e+00, 2.62275129e-03, 2.09768796e+00, 5.23108435e+00, 7.78943682e+00,
         9.57108879e+00, 1.07310610e+01, 1.14618425e+01, 1.19147835e+01, 1.21936722e+01],
        [[[-32.526627, -32.29401, -32.8416, -33.06367, -32.55584, -32.852345, -33.000767,
           -32.795143],
          [-33.164936, -33.69432, -33.12241, -33.006073, -33.568207, -32.9391, -33.256996,
           -33.61015],
          [-33.118973, -33.220943, -32.936436, -32.642193, -32.806488, -33.424484,
           -32.85125, -32.718857],
          [-30.155754, -30.284513, -30.025005, -29.849358, -29.486917, -29.783375,
           -30.132658, -29.614393]],
         [-15.838092, -16.811989, -16.078112, -14.289094],
         [[1288.7146, 1399.3041, 1292.8445, 1121.4629]],
         [18.513494]]),
}


@pytest.mark.parametrize("case", sorted(ASGD_2022))
def test_asgd_network_2022(case):
    # ax atol 1e-5; losses atol 1e-5 (and rtol 1e-3 for the last two cases).
    config, is_group, loss_rtol, expect_loss, expect_ax = ASGD_2022[case]
    loss, opt = build_network_2022('ASGD', config, fake_net(), is_group=is_group)
    for i in range(4):
        assert np.allclose(opt.ax[i].asnumpy(), expect_ax[i], atol=1.e-5), i
    assert np.allclose(expect_loss, loss, atol=1.e-5, rtol=loss_rtol)


RPROP_2022 = {
    # test_rprop_cpu.py: losses, atol 1e-5
    "default_rprop": (
        dict(lr=0.01, etas=(0.5, 1.2), step_sizes=(1e-6, 50.)), False,
        [3.01246792e-01, 1.19871742e+02, 4.13467163e+02, 8.09146179e+02, 1.22364807e+03,
         1.56787573e+03, 1.75733594e+03, 1.72866272e+03, 1.46183936e+03, 1.00406335e+03,
         4.84076874e+02, 9.49734650e+01, 2.00592804e+01, 1.87920704e+01, 1.53733969e+01,
         1.85836582e+01, 5.21527790e-02, 2.01522671e-02, 7.19913816e+00, 8.52459526e+00]),
    "no_default_rprop": (
        dict(lr=0.001, etas=(0.6, 1.9), step_sizes=(1e-3, 20.)), False,
        [3.0124679e-01, 1.2600269e+02, 4.7351608e+02, 1.0220379e+03, 1.7181555e+03,
         2.4367019e+03, 2.9170872e+03, 2.7243464e+03, 1.4999669e+03, 7.5820435e+01,
         1.0590715e+03, 5.4336096e+02, 7.0162407e+01, 8.2754419e+02, 9.6329260e+02,
         3.4475109e+01, 5.3843134e+02, 6.0064526e+02, 1.1046149e+02, 3.5530117e+03]),
    "default_rprop_group": (
        dict(lr=0.001, etas=(0.6, 1.9), step_sizes=(1e-2, 10.)), True,
        [3.0124679e-01, 7.1360558e+01, 4.8910957e+01, 2.1730331e+02, 3.0747052e+02,
         5.2734237e+00, 5.6865869e+00, 1.7116127e+02, 2.0539343e+02, 2.2993685e+01,
         2.6194101e+02, 2.8772815e+02, 2.4236647e+01, 3.9299741e+02, 3.5600668e+02,
         1.4759110e+01, 7.2244568e+02, 8.1952783e+02, 9.8913864e+01, 1.1141744e+03]),
}


@pytest.mark.parametrize("case", sorted(RPROP_2022))
def test_rprop_network_2022(case):
    config, is_group, expect_loss = RPROP_2022[case]
    loss, _ = build_network_2022('Rprop', config, fake_net(), is_group=is_group)
    assert np.allclose(expect_loss, loss, atol=1.e-5)


ADAMAX_2022 = {
    # test_adamax.py (2022): MSELoss(mean), losses atol 1e-5
    "default_adamax": (
        dict(lr=0.001, beta1=0.9, beta2=0.999, eps=1e-07), False,
        [1.0, 4.542382, 10.5303135, 18.87176, 29.475002, 42.2471, 57.09358, 73.917595,
         92.62038, 113.10096, 135.25633, 158.9815, 184.16951, 210.71207, 238.49873,
         267.41818, 297.35782, 328.20422, 359.84293, 392.15878]),
    "no_default_adamax": (
        dict(lr=0.01, beta1=0.9, beta2=0.98, eps=1e-06), False,
        [1.0, 4.5040994, 9.420462, 14.951918, 20.390736, 25.111732, 28.57695, 30.347034,
         30.098299, 27.647425, 22.994541, 16.402872, 8.979612, 2.7966619, 0.025522191,
         1.9826386, 8.12521, 15.100327, 18.94126, 19.657328]),
    "default_adamax_group": (
        dict(lr=0.002, beta1=0.9, beta2=0.999, eps=1e-08), True,
        [1.0, 4.537268, 10.415594, 18.463926, 28.51337, 40.394474, 53.936195, 68.9657,
         85.307945, 102.78646, 121.22308, 140.4386, 160.25333, 180.48737, 200.96124,
         221.49626, 241.91531, 262.0436, 281.70914, 300.7426]),
}


@pytest.mark.parametrize("case", sorted(ADAMAX_2022))
def test_adamax_network_2022(case):
    config, is_group, expect_loss = ADAMAX_2022[case]
    net = _MLP([("fc1", AX_W1, np.zeros(4)), ("fc2", AX_W2, np.zeros(1))])
    loss, _ = build_network_2022('adamax', config, net, is_group=is_group, loss_fn=mse_mean)
    assert np.allclose(expect_loss, loss, atol=1.e-5)
