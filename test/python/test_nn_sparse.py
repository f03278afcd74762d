"""``optim_mlir.nn``'s optimizers with sparse (row) gradients.

A LazyAdam over a sparse embedding and a dense weight runs >= 20 steps of
random rows (duplicate indices included) and is compared after every step
with the NumPy reference (``reference.ReferenceOptimizer("lazy_adam", ...,
mode="uniform")``, float64, which merges duplicates with ``unique_rows``).
Tolerance: ``rtol=2e-4, atol=2e-5`` on parameters and states (float32
rounding over the steps).  Rows no gradient named stay bit-identical.

The sparse kernels of the other optimizers (MindSpore's SparseApplyFtrl /
FusedSparseFtrl, SparseApplyProximalAdagrad, FusedSparseLazyAdam,
FusedSparseAdam, and LazyAdam's SparseApplyLazyAdam with weight decay and
groups) are compared over 12 steps of random rows with duplicates against
a float64 NumPy model written here from the kernels' definition (MindSpore's
optimizer.py pipeline on the RowTensor, duplicates summed, then the dense
formula of ``reference.py`` on the named rows, or on every row for
FusedSparseAdam), with the same tolerance.
"""

import numpy as np
import pytest

from optim_mlir import nn
import reference as R

RTOL, ATOL = 2e-4, 2e-5
STEPS = 24
HYPER = dict(beta1=0.8, beta2=0.95, eps=1e-6)


def _params(rng):
    return [nn.Parameter(rng.standard_normal((30, 8)).astype(np.float32),
                         "embedding"),
            nn.Parameter(rng.standard_normal((5, 4)).astype(np.float32), "w")]


def _rows(rng, n, rows=30):
    """n random indices (a duplicate when n >= 2); rows r % 5 == 4 never
    appear."""
    allowed = np.array([r for r in range(rows) if r % 5 != 4], np.int32)
    idx = rng.choice(allowed, size=n).astype(np.int32)
    if n >= 2:
        idx[-1] = idx[0]
    return idx, rng.standard_normal((n, 8)).astype(np.float32)


def _ref(params, **kw):
    return R.ReferenceOptimizer(
        "lazy_adam", [(p.name, p.asnumpy().astype(np.float64)) for p in params],
        learning_rate=0.01, mode="uniform", **dict(HYPER, **kw))


def _compare(opt, ref, step):
    for i, p in enumerate(opt.parameters):
        np.testing.assert_allclose(p.data, ref.params[i], rtol=RTOL, atol=ATOL,
                                   err_msg="%s step %d" % (p.name, step))
        for attr, state in (("moment1", "moment1"), ("moment2", "moment2")):
            np.testing.assert_allclose(
                getattr(opt, attr)[i].data, ref.states[i][state], rtol=RTOL,
                atol=ATOL, err_msg="%s.%s step %d" % (p.name, attr, step))


@pytest.mark.parametrize("form", ["tuple", "RowTensor"])
@pytest.mark.parametrize("loss_scale", [1.0, 4.0])
def test_lazy_adam_sparse_matches_reference(form, loss_scale):
    rng = np.random.default_rng(11)
    params = _params(rng)
    initial = params[0].asnumpy()
    opt = nn.LazyAdam(params, learning_rate=0.01, loss_scale=loss_scale,
                      **HYPER)
    assert opt.unique is True
    ref = _ref(params, loss_scale=loss_scale)
    touched, saw_duplicate = set(), False
    for step in range(STEPS):
        idx, vals = _rows(rng, 1 + step % 11)
        touched.update(idx.tolist())
        saw_duplicate |= len(set(idx.tolist())) < len(idx)
        dense = rng.standard_normal((5, 4)).astype(np.float32)
        sparse = (idx, vals) if form == "tuple" else \
            nn.RowTensor(idx, vals, (30, 8))
        assert opt((sparse, dense)) is True
        ref.step([(idx, vals), dense])
        _compare(opt, ref, step)
    assert saw_duplicate and opt.global_step == STEPS
    untouched = sorted(set(range(30)) - touched)
    assert untouched
    np.testing.assert_array_equal(params[0].data[untouched], initial[untouched])
    for state in (opt.moment1[0], opt.moment2[0]):
        np.testing.assert_array_equal(state.data[untouched], 0.0)
    # The sparse parameter compiles as its own part (without weight decay,
    # centralization and loss scale, which the rows get before it).
    sparse_ir, dense_ir = opt.compiled_ir()
    assert '"embedding" : tensor<30x8xf32> sparse' in sparse_ir
    assert "loss_scale 1.0" in sparse_ir and "unique false" not in sparse_ir
    assert '"w" : tensor<5x4xf32>\n' in dense_ir


def test_int64_indices_and_non_contiguous_values():
    rng = np.random.default_rng(12)
    a, b = _params(rng), _params(np.random.default_rng(12))
    o1, o2 = nn.LazyAdam(a, **HYPER), nn.LazyAdam(b, **HYPER)
    idx = np.array([3, 1, 3], np.int64)
    vals = np.asfortranarray(rng.standard_normal((3, 8)).astype(np.float32))
    dense = np.ones((5, 4), np.float32)
    o1(((idx, vals), dense))
    o2(((idx.astype(np.int32), np.ascontiguousarray(vals)), dense))
    for p, q in zip(a, b):
        np.testing.assert_array_equal(p.data, q.data)


def test_unique_false_with_unique_indices():
    rng = np.random.default_rng(13)
    params = _params(rng)
    opt = nn.LazyAdam(params, learning_rate=0.01, **HYPER)
    opt.unique = False
    ref = _ref(params)
    for step in range(20):
        idx = rng.permutation(30)[:9].astype(np.int32)
        vals = rng.standard_normal((9, 8)).astype(np.float32)
        dense = rng.standard_normal((5, 4)).astype(np.float32)
        opt(((idx, vals), dense))
        ref.step([(idx, vals), dense])
        _compare(opt, ref, step)
    assert "unique false" in opt.compiled_ir()[0]
    # Duplicates are refused (before anything changes) when unique is False.
    before = [p.asnumpy() for p in params]
    with pytest.raises(ValueError, match="must be unique"):
        opt(((np.array([2, 2], np.int32), np.ones((2, 8), np.float32)),
             np.ones((5, 4), np.float32)))
    for p, b in zip(params, before):
        np.testing.assert_array_equal(p.data, b)
    # unique is compiled into the sparse step.
    with pytest.raises(RuntimeError, match="'unique' is compiled"):
        opt.unique = True
    assert opt.unique is False


def test_parameter_unique_flag_turns_merging_off():
    rng = np.random.default_rng(14)
    params = _params(rng)
    params[0].unique = True
    opt = nn.LazyAdam(params)
    assert opt.unique is False
    opt(((np.array([1, 2], np.int32), np.ones((2, 8), np.float32)),
         np.ones((5, 4), np.float32)))
    assert "unique false" in opt.compiled_ir()[0]


def _snapshot(opt):
    return ([p.asnumpy() for p in opt.parameters],
            [s.asnumpy() for s in opt.moment1 + opt.moment2],
            int(opt.global_step))


def _unchanged(opt, snap):
    for p, b in zip(opt.parameters, snap[0]):
        np.testing.assert_array_equal(p.data, b)
    for s, b in zip(opt.moment1 + opt.moment2, snap[1]):
        np.testing.assert_array_equal(s.data, b)
    assert opt.global_step == snap[2]


def test_switching_gradient_kind_raises_and_changes_nothing():
    rng = np.random.default_rng(15)
    opt = nn.LazyAdam(_params(rng))
    idx, vals = _rows(rng, 4)
    dense = np.ones((5, 4), np.float32)
    opt(((idx, vals), dense))
    snap = _snapshot(opt)
    with pytest.raises(TypeError, match="'embedding' is dense.*first step"):
        opt((np.ones((30, 8), np.float32), dense))
    _unchanged(opt, snap)
    with pytest.raises(TypeError, match="'w' is sparse.*first step"):
        opt(((idx, vals), (np.array([0], np.int32),
                           np.ones((1, 4), np.float32))))
    _unchanged(opt, snap)
    opt(((idx, vals), dense))  # the compiled kind still works
    assert opt.global_step == 2


def test_dense_first_step_fixes_dense():
    rng = np.random.default_rng(16)
    opt = nn.LazyAdam(_params(rng))
    opt((np.ones((30, 8), np.float32), np.ones((5, 4), np.float32)))
    snap = _snapshot(opt)
    with pytest.raises(TypeError, match="'embedding' is sparse"):
        opt((nn.RowTensor([1], np.ones((1, 8), np.float32), (30, 8)),
             np.ones((5, 4), np.float32)))
    _unchanged(opt, snap)


def test_compiled_before_first_step_recompiles_for_sparse():
    rng = np.random.default_rng(17)
    params = _params(rng)
    opt = nn.LazyAdam(params, learning_rate=0.01, **HYPER)
    assert opt.get_lr() == pytest.approx(0.01)  # compiles, all dense
    assert "sparse" not in opt.compiled_ir()[0]
    ref = _ref(params)
    idx, vals = _rows(rng, 5)
    dense = np.ones((5, 4), np.float32)
    opt(((idx, vals), dense))
    ref.step([(idx, vals), dense])
    assert "sparse" in opt.compiled_ir()[0]
    _compare(opt, ref, 0)


BAD = [
    (TypeError, "must be integers",
     lambda: (np.array([1.0]), np.ones((1, 8), np.float32))),
    (ValueError, "must be 1-d",
     lambda: (np.array([[1]], np.int32), np.ones((1, 8), np.float32))),
    (TypeError, "dtype float32",
     lambda: (np.array([1], np.int32), np.ones((1, 8), np.float64))),
    (ValueError, "one row per index",
     lambda: (np.array([1, 2], np.int32), np.ones((1, 8), np.float32))),
    (ValueError, "one row per index",
     lambda: (np.array([1], np.int32), np.ones((1, 7), np.float32))),
    (ValueError, "must be in \\[0, 30\\)",
     lambda: (np.array([30], np.int32), np.ones((1, 8), np.float32))),
    (ValueError, "must be in \\[0, 30\\)",
     lambda: (np.array([-1], np.int32), np.ones((1, 8), np.float32))),
    (ValueError, "dense_shape",
     lambda: nn.RowTensor([1], np.ones((1, 8), np.float32), (31, 8))),
]


@pytest.mark.parametrize("case", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_sparse_gradient_raises_and_changes_nothing(case):
    exc, match, make = case
    rng = np.random.default_rng(18)
    opt = nn.LazyAdam(_params(rng))
    idx, vals = _rows(rng, 3)
    opt(((idx, vals), np.ones((5, 4), np.float32)))
    snap = _snapshot(opt)
    with pytest.raises(exc, match=match):
        opt((make(), np.ones((5, 4), np.float32)))
    _unchanged(opt, snap)


def test_weight_decay_filter_on_sparse_parameter():
    # The default filter exempts 'beta' / 'gamma' names from the decay of
    # the rows as it does for dense gradients.
    a, b, c = (_params(np.random.default_rng(19)) for _ in range(3))
    a[0].name = b[0].name = "gamma_table"
    opts = [nn.LazyAdam(a, weight_decay=0.5), nn.LazyAdam(b),
            nn.LazyAdam(c, weight_decay=0.5)]
    rng = np.random.default_rng(190)
    for _ in range(3):
        grads = (_rows(rng, 4), rng.standard_normal((5, 4)).astype(np.float32))
        for opt in opts:
            assert opt(grads)
    np.testing.assert_array_equal(a[0].data, b[0].data)
    assert not np.array_equal(c[0].data, b[0].data)  # 'embedding' decays


@pytest.mark.parametrize("make", [
    lambda p: nn.Adam(p, use_amsgrad=True),
    lambda p: nn.Adam(p, use_offload=True),
    lambda p: nn.AdamOffload(p),
    lambda p: nn.SGD(p),
    lambda p: nn.Adagrad(p),
], ids=["amsgrad", "offload", "AdamOffload", "SGD", "Adagrad"])
def test_optimizers_without_a_sparse_kernel_reject_sparse(make):
    # MindSpore has no sparse kernel for these (Adam with use_amsgrad raises
    # there as well).
    rng = np.random.default_rng(20)
    params = _params(rng)
    opt = make(params)
    before = [p.asnumpy() for p in params]
    with pytest.raises(NotImplementedError, match="sparse gradients"):
        opt((nn.RowTensor([1, 1], np.ones((2, 8), np.float32), (30, 8)),
             np.ones((5, 4), np.float32)))
    assert opt.global_step == 0 and not opt.is_compiled
    for p, b in zip(params, before):
        np.testing.assert_array_equal(p.data, b)


# ---------------------------------------------------------------------------
# A user-defined Optimizer subclass receives sparse gradients as RowTensors
# (MindSpore: tests/ut/python/ir/test_row_tensor.py, AdamWeightDecaySparse
# and test_row_tensor_env_get: a subclass whose construct takes RowTensor
# gradients).  The base-class helpers keep them sparse as MindSpore's do
# (optimizer.py: _apply_decay, _apply_grad_centralization and _grad_scale
# registered for RowTensor).
# ---------------------------------------------------------------------------

class _RowSGD(nn.Optimizer):
    """SGD that updates only the named rows of a RowTensor gradient."""

    def __init__(self, params, learning_rate=0.1, weight_decay=0.0,
                 loss_scale=1.0):
        super().__init__(learning_rate, params, weight_decay, loss_scale)
        self.kinds = []

    def construct(self, gradients):
        gradients = self.flatten_gradients(gradients)
        gradients = self.decay_weight(gradients)
        gradients = self.gradients_centralization(gradients)
        gradients = self.scale_grad(gradients)
        lr = np.float32(self.get_lr())
        self.kinds.append(tuple(type(g).__name__ for g in gradients))
        for p, g in zip(self.parameters, gradients):
            if isinstance(g, nn.RowTensor):
                np.subtract.at(p.data, g.indices, lr * g.values)
            else:
                p.data -= lr * g
        return True


@pytest.mark.parametrize("form", ["tuple", "RowTensor"])
def test_user_defined_optimizer_receives_row_tensors(form):
    rng = np.random.default_rng(21)
    params = _params(rng)
    start = [p.asnumpy().astype(np.float64) for p in params]
    opt = _RowSGD(params, learning_rate=0.05, weight_decay=0.1, loss_scale=2.0)
    ref = [s.copy() for s in start]
    for step in range(STEPS):
        idx, vals = _rows(rng, 4)
        dense = rng.standard_normal((5, 4)).astype(np.float32)
        sparse = (idx, vals) if form == "tuple" else \
            nn.RowTensor(idx, vals, (30, 8))
        assert opt((sparse, dense)) is True
        # Reference (float64): decay (weight_decay * loss_scale) on the named
        # rows, then 1 / loss_scale, then row-wise (duplicates accumulate).
        rows = (vals + 0.2 * ref[0][idx]) * 0.5
        np.subtract.at(ref[0], idx, 0.05 * rows)
        ref[1] -= 0.05 * (dense + 0.2 * ref[1]) * 0.5
        for p, r in zip(params, ref):
            np.testing.assert_allclose(p.data, r, rtol=RTOL, atol=ATOL,
                                       err_msg="%s step %d" % (p.name, step))
    assert opt.kinds == [("RowTensor", "ndarray")] * STEPS
    assert opt.global_step == STEPS
    # Rows never named stay bit-identical.
    untouched = [r for r in range(30) if r % 5 == 4]
    assert np.array_equal(params[0].data[untouched],
                          start[0][untouched].astype(np.float32))


def test_user_defined_optimizer_sparse_gradient_checked():
    rng = np.random.default_rng(22)
    params = _params(rng)
    opt = _RowSGD(params)
    before = [p.asnumpy() for p in params]
    bad = [
        (ValueError, "must be in \\[0, 30\\)",
         (np.array([30]), np.ones((1, 8), np.float32))),
        (ValueError, "dense_shape \\(30, 8\\)",
         nn.RowTensor([0], np.ones((1, 8), np.float32), (31, 8))),
        (TypeError, "must have dtype float32",
         (np.array([0]), np.ones((1, 8), np.float64))),
        (ValueError, "one row per index",
         (np.array([0, 1]), np.ones((1, 8), np.float32))),
    ]
    for exc, match, g in bad:
        with pytest.raises(exc, match=match):
            opt((g, np.ones((5, 4), np.float32)))
    assert opt.global_step == 0 and opt.kinds == []
    for p, b in zip(params, before):
        np.testing.assert_array_equal(p.data, b)


def test_row_tensor_centralization_in_groups():
    # MindSpore centralizes each row of a RowTensor's values when the dense
    # shape's second dimension is a multiple of 16.
    p = nn.Parameter(np.zeros((6, 16), np.float32), "emb")
    opt = _RowSGD([{"params": [p], "grad_centralization": True}])
    vals = np.arange(32, dtype=np.float32).reshape(2, 16)
    (g,) = opt.gradients_centralization(
        (nn.RowTensor(np.array([1, 3]), vals, (6, 16)),))
    assert isinstance(g, nn.RowTensor)
    np.testing.assert_allclose(g.values, vals - vals.mean(axis=1, keepdims=True))
    assert np.array_equal(g.indices, [1, 3])


# ---------------------------------------------------------------------------
# The sparse kernels of FTRL, ProximalAdagrad, Adam (use_lazy or not) and
# LazyAdam with weight decay, loss scale and groups, against a float64 NumPy
# model of MindSpore: optimizer.py turns the RowTensor into decay_weight ->
# gradients_centralization -> scale_grad rows (each row of a duplicate index
# decayed once), the CPU kernel sums the rows of duplicate indices
# (BucketReduceSparseGradient) and steps
# * the named rows only: SparseApplyFtrl / FusedSparseFtrl
#   (sparse_apply_ftrl_cpu_kernel.cc), SparseApplyProximalAdagrad
#   (sparse_apply_proximal_adagrad_cpu_kernel.cc), FusedSparseLazyAdam and
#   LazyAdam's SparseApplyLazyAdam;
# * every row, the rows without a gradient with a zero one: FusedSparseAdam
#   (sparse_apply_adam_cpu_kernel.cc: m *= beta1, v *= beta2 everywhere, the
#   named rows add their gradient, then every row of var steps).
# ---------------------------------------------------------------------------

KSTEPS = 12
ROWS = {"embedding": 40, "table": 12}
FTRL_HYPER = dict(lr_power=-0.5, l1=0.001, l2=0.002)
PROX_HYPER = dict(l1=0.001, l2=0.002)
ADAM_HYPER = dict(beta1=0.8, beta2=0.95, eps=1e-6)

# name: (constructor, reference rule, {attribute: reference state},
#        initial states, reference hyper-parameters, whether the steps take
#        the step number t, "rows" | "all" (rows a step changes), group lr)
KERNELS = {
    "FTRL": (lambda p, **kw: nn.FTRL(p, initial_accum=0.1, learning_rate=0.05,
                                     **FTRL_HYPER, **kw),
             R.ftrl, {"moments": "accum", "linear": "linear"},
             {"accum": 0.1, "linear": 0.0}, dict(FTRL_HYPER), False, "rows",
             False),
    "ProximalAdagrad": (
        lambda p, **kw: nn.ProximalAdagrad(p, accum=0.1, learning_rate=0.05,
                                           **PROX_HYPER, **kw),
        R.proximal_adagrad, {"accum": "accum"}, {"accum": 0.1},
        dict(PROX_HYPER), False, "rows", True),
    "Adam-use_lazy": (
        lambda p, **kw: nn.Adam(p, learning_rate=0.05, use_lazy=True,
                                **ADAM_HYPER, **kw),
        R.adam, {"moment1": "moment1", "moment2": "moment2"},
        {"moment1": 0.0, "moment2": 0.0}, dict(ADAM_HYPER), True, "rows",
        True),
    "Adam": (
        lambda p, **kw: nn.Adam(p, learning_rate=0.05, **ADAM_HYPER, **kw),
        R.adam, {"moment1": "moment1", "moment2": "moment2"},
        {"moment1": 0.0, "moment2": 0.0}, dict(ADAM_HYPER), True, "all",
        True),
    "LazyAdam": (
        lambda p, **kw: nn.LazyAdam(p, learning_rate=0.05, **ADAM_HYPER,
                                    **kw),
        R.adam, {"moment1": "moment1", "moment2": "moment2"},
        {"moment1": 0.0, "moment2": 0.0}, dict(ADAM_HYPER), True, "rows",
        True),
}


def _kernel_params(rng):
    return [nn.Parameter(rng.standard_normal((40, 16)).astype(np.float32),
                         "embedding"),
            nn.Parameter(rng.standard_normal((12, 3)).astype(np.float32),
                         "table"),
            nn.Parameter(rng.standard_normal((5, 4)).astype(np.float32), "w")]


def _kernel_rows(rng, name, n):
    """n random rows of parameter ``name`` with a duplicate; rows r % 5 == 4
    never appear."""
    allowed = np.array([r for r in range(ROWS[name]) if r % 5 != 4])
    idx = rng.choice(allowed, size=n).astype(np.int32)
    idx[-1] = idx[0]
    width = 16 if name == "embedding" else 3
    return idx, rng.standard_normal((n, width)).astype(np.float32)


class _SparseModel:
    """float64 model of the MindSpore optimizer with sparse kernels:
    per parameter a learning rate, a weight decay (user-level), a
    centralization flag; one loss scale."""

    def __init__(self, kernel, params, lrs, wds, gcs, loss_scale):
        _, self.rule, self.state_map, init, self.hyper, self.uses_t, \
            self.rows_only, _ = KERNELS[kernel]
        self.params = [p.asnumpy().astype(np.float64) for p in params]
        self.states = [{k: np.full(p.shape, v) for k, v in init.items()}
                       for p in params]
        self.lrs, self.wds, self.gcs, self.ls = lrs, wds, gcs, loss_scale
        self.t = 0

    def _rule(self, i, param, grad, states):
        kw = dict(self.hyper, learning_rate=self.lrs[i])
        if self.uses_t:
            kw["t"] = self.t
        return self.rule(param, grad, states, **kw)

    def step(self, grads):
        self.t += 1
        for i, g in enumerate(grads):
            p, wd = self.params[i], self.wds[i] * self.ls
            if isinstance(g, tuple):
                idx, vals = g[0].astype(np.int64), g[1].astype(np.float64)
                vals = R.decay_weight_sparse(idx, vals, p, wd)
                if self.gcs[i]:
                    vals = R.centralize(vals)
                vals = R.scale_grad(vals, self.ls)
                rows, merged = R.unique_rows(idx, vals)
                rows = rows.astype(np.int64)
                if self.rows_only == "rows":
                    sub = {k: v[rows] for k, v in self.states[i].items()}
                    new, new_states = self._rule(i, p[rows], merged, sub)
                    p[rows] = new
                    for k, v in new_states.items():
                        self.states[i][k][rows] = v
                    continue
                g = np.zeros(p.shape)
                g[rows] = merged
            else:
                g = R.decay_weight(g.astype(np.float64), p, wd)
                if self.gcs[i]:
                    g = R.centralize(g)
                g = R.scale_grad(g, self.ls)
            new, self.states[i] = self._rule(i, p, g, self.states[i])
            self.params[i] = new


def _kernel_setup(kernel, grouped, rng):
    make, *_, group_lr = KERNELS[kernel]
    params = _kernel_params(rng)
    if grouped:
        first = {"params": [params[0]], "weight_decay": 0.02,
                 "grad_centralization": True}
        if group_lr:
            first["lr"] = 0.02
        opt = make([first, {"params": params[1:]}], weight_decay=0.01,
                   loss_scale=2.0)
        lrs = [0.02 if group_lr else 0.05, 0.05, 0.05]
        model = _SparseModel(kernel, params, lrs, [0.02, 0.01, 0.01],
                             [True, False, False], 2.0)
    else:
        opt = make(params, weight_decay=0.05, loss_scale=4.0)
        model = _SparseModel(kernel, params, [0.05] * 3, [0.05] * 3,
                             [False] * 3, 4.0)
    return params, opt, model


def _kernel_states(opt, kernel):
    state_map = KERNELS[kernel][2]
    return {attr: [s.asnumpy() for s in getattr(opt, attr)]
            for attr in state_map}


@pytest.mark.parametrize("grouped", [False, True], ids=["ungrouped", "groups"])
@pytest.mark.parametrize("kernel", list(KERNELS))
def test_sparse_kernel_matches_numpy_model(kernel, grouped):
    rng = np.random.default_rng(31)
    params, opt, model = _kernel_setup(kernel, grouped, rng)
    initial = [p.asnumpy() for p in params]
    initial_states = _kernel_states(opt, kernel)
    compiles = None
    moved_outside = 0
    for step in range(KSTEPS):
        grads = (_kernel_rows(rng, "embedding", 2 + step % 9),
                 _kernel_rows(rng, "table", 2 + step % 4),
                 rng.standard_normal((5, 4)).astype(np.float32))
        before = [p.asnumpy() for p in params[:2]]
        before_states = _kernel_states(opt, kernel)
        assert opt(grads) is True
        model.step(grads)
        for i in range(2):
            others = sorted(set(range(params[i].shape[0])) -
                            set(grads[i][0].tolist()))
            if KERNELS[kernel][6] == "rows":
                # Rows without a gradient this step: bit-identical.
                np.testing.assert_array_equal(params[i].data[others],
                                              before[i][others])
                for attr, arrays in before_states.items():
                    np.testing.assert_array_equal(
                        getattr(opt, attr)[i].data[others],
                        arrays[i][others])
            else:
                # FusedSparseAdam: rows without a gradient but with a
                # moment step too.
                live = [r for r in others
                        if np.any(before_states["moment1"][i][r] != 0)]
                moved_outside += sum(
                    not np.array_equal(params[i].data[r], before[i][r])
                    for r in live)
        if compiles is None:
            compiles = nn._COMPILE_COUNT
        for i, p in enumerate(params):
            np.testing.assert_allclose(
                p.data, model.params[i], rtol=RTOL, atol=ATOL,
                err_msg="%s %s step %d" % (kernel, p.name, step))
            for attr, name in KERNELS[kernel][2].items():
                np.testing.assert_allclose(
                    getattr(opt, attr)[i].data, model.states[i][name],
                    rtol=RTOL, atol=ATOL,
                    err_msg="%s %s.%s step %d" % (kernel, p.name, attr, step))
    # Any number of rows runs the step compiled on the first call.
    assert nn._COMPILE_COUNT == compiles
    assert opt.global_step == KSTEPS
    for i, name in enumerate(("embedding", "table")):
        untouched = [r for r in range(ROWS[name]) if r % 5 == 4]
        moved = not np.array_equal(params[i].data[untouched],
                                   initial[i][untouched])
        # Rows never named: bit-identical (FusedSparseAdam's moments of
        # them stay zero, so its step leaves them as well).
        assert not moved
        for attr in KERNELS[kernel][2]:
            np.testing.assert_array_equal(
                getattr(opt, attr)[i].data[untouched],
                initial_states[attr][i][untouched])
    if KERNELS[kernel][6] == "all":
        assert moved_outside > 0


@pytest.mark.parametrize("kernel", list(KERNELS))
def test_sparse_kernel_failed_step_changes_nothing(kernel):
    rng = np.random.default_rng(32)
    params, opt, _ = _kernel_setup(kernel, True, rng)
    dense = np.ones((5, 4), np.float32)
    good = (_kernel_rows(rng, "embedding", 5), _kernel_rows(rng, "table", 3),
            dense)
    opt(good)
    snap = ([p.asnumpy() for p in params], _kernel_states(opt, kernel))
    bad = [
        # The second sparse gradient is bad: the first must not step.
        (ValueError, "must be in \\[0, 12\\)",
         (good[0], (np.array([3, 12], np.int32), np.ones((2, 3), np.float32)),
          dense)),
        (ValueError, "one row per index",
         (good[0], (np.array([3], np.int32), np.ones((2, 3), np.float32)),
          dense)),
        (TypeError, "must be integers",
         (good[0], (np.array([3.0]), np.ones((1, 3), np.float32)), dense)),
        (TypeError, "dtype float32",
         (good[0], (np.array([3], np.int32), np.ones((1, 3), np.float64)),
          dense)),
        (TypeError, "'w' is sparse",
         (good[0], good[1], (np.array([1], np.int32),
                             np.ones((1, 4), np.float32)))),
        (ValueError, "expected 3 gradients", good[:2]),
    ]
    for exc, match, grads in bad:
        with pytest.raises(exc, match=match):
            opt(grads)
        assert opt.global_step == 1
        for p, b in zip(params, snap[0]):
            np.testing.assert_array_equal(p.data, b)
        for attr, arrays in _kernel_states(opt, kernel).items():
            for a, b in zip(arrays, snap[1][attr]):
                np.testing.assert_array_equal(a, b)
    assert opt(good) and opt.global_step == 2


def test_fused_sparse_adam_nesterov_untouched_rows_use_zero_gradient():
    # Adam(use_nesterov=True) with a sparse gradient: every row steps with
    # the merged rows scattered into a zero gradient.  (MindSpore's
    # FusedSparseAdam reads the nesterov moment of rows without a gradient
    # from an uninitialised workspace; the zero gradient is the defined
    # form of that step.)
    rng = np.random.default_rng(33)
    p = nn.Parameter(rng.standard_normal((6, 4)).astype(np.float32), "e")
    q = nn.Parameter(p.asnumpy(), "e")
    sparse = nn.Adam([p], learning_rate=0.1, use_nesterov=True)
    dense = nn.Adam([q], learning_rate=0.1, use_nesterov=True)
    for _ in range(4):
        idx = np.array([1, 4, 1], np.int32)
        vals = rng.standard_normal((3, 4)).astype(np.float32)
        g = np.zeros((6, 4), np.float32)
        np.add.at(g, idx, vals)
        sparse(((idx, vals),))
        dense((g,))
        np.testing.assert_allclose(p.data, q.data, rtol=1e-6, atol=1e-7)
