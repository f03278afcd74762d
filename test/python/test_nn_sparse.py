"""``optim_mlir.nn.LazyAdam`` with sparse (row) gradients.

A LazyAdam over a sparse embedding and a dense weight runs >= 20 steps of
random rows (duplicate indices included) and is compared after every step
with the NumPy reference (``reference.ReferenceOptimizer("lazy_adam", ...,
mode="uniform")``, float64, which merges duplicates with ``unique_rows``).
Tolerance: ``rtol=2e-4, atol=2e-5`` on parameters and states (float32
rounding over the steps).  Rows no gradient named stay bit-identical.
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
    text = opt.compiled_ir()[0]
    assert '"embedding" : tensor<30x8xf32> sparse' in text
    assert '"w" : tensor<5x4xf32>\n' in text and "unique false" not in text


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


def test_weight_decay_on_sparse_parameter_not_implemented():
    rng = np.random.default_rng(19)
    opt = nn.LazyAdam(_params(rng), weight_decay=0.01)
    snap = _snapshot(opt)
    grads = ((np.array([1], np.int32), np.ones((1, 8), np.float32)),
             np.ones((5, 4), np.float32))
    with pytest.raises(NotImplementedError, match="weight decay"):
        opt(grads)
    _unchanged(opt, snap)
    assert not opt.is_compiled
    # The default filter exempts 'beta' / 'gamma' names: no decay, no error.
    params = _params(rng)
    params[0].name = "gamma_table"
    opt = nn.LazyAdam(params, weight_decay=0.01)
    assert opt(grads) and opt.global_step == 1
    # Grouped parameters always decay (a runtime value) in the compiled step.
    opt = nn.LazyAdam([{"params": _params(rng)}])
    with pytest.raises(NotImplementedError, match="grouped"):
        opt(grads)
    assert opt.global_step == 0


@pytest.mark.parametrize("cls", [nn.FTRL, nn.ProximalAdagrad, nn.Adam])
def test_other_optimizers_still_reject_sparse(cls):
    rng = np.random.default_rng(20)
    params = _params(rng)
    opt = cls(params)
    before = [p.asnumpy() for p in params]
    with pytest.raises(NotImplementedError, match="only for LazyAdam"):
        opt((nn.RowTensor([1, 1], np.ones((2, 8), np.float32), (30, 8)),
             np.ones((5, 4), np.float32)))
    assert opt.global_step == 0 and not opt.is_compiled
    for p, b in zip(params, before):
        np.testing.assert_array_equal(p.data, b)
