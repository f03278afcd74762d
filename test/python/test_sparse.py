"""Sparse (row) gradients through the compiled runtime.

A LazyAdam optimizer with a sparse embedding (``optim.param ... sparse``) and
dense parameters runs >= 20 steps of random row gradients, duplicate indices
included, through the JIT (`optim-lower-to-cpu`) in float32 and is compared
with the NumPy reference (``reference.ReferenceOptimizer`` in ``uniform``
mode, float64, which merges duplicate rows with ``unique_rows``).
Tolerance: ``rtol=2e-4, atol=2e-5`` on parameters and states after every
step (float32 rounding over the steps). Rows no gradient ever named stay
bit-identical, in the parameter and in its states.
"""

import numpy as np
import pytest

import optim_mlir
import reference as R

RTOL, ATOL = 2e-4, 2e-5
STEPS = 24
HYPER = dict(beta1=0.8, beta2=0.95, eps=1e-6)


def _source(params, learning_rate=0.01, loss_scale=1.0, extra=""):
    lines = ["optim.optimizer @sp rule #optim.rule<lazy_adam> "
             "learning_rate %r loss_scale %r %s{" % (learning_rate, loss_scale,
                                                    extra)]
    for name, shape, sparse in params:
        lines.append("  optim.param \"%s\" : tensor<%sxf32>%s" % (
            name, "x".join(str(d) for d in shape), " sparse" if sparse else ""))
    lines.append("}")
    return "\n".join(lines)


PARAMS = [("emb", (50, 8), True), ("w", (7, 5), False),
          ("table", (20, 2, 3), True), ("b", (3,), False)]


def _compile(params=PARAMS, options="", **kw):
    opt = optim_mlir.CompiledOptimizer(_source(params, **kw), options)
    for name, value in HYPER.items():
        opt.set_hyper_param(0, name, value)
    return opt


def _buffers(opt, rng):
    arrays = [rng.standard_normal(p["shape"]).astype(np.float32)
              for p in opt.params]
    states = [np.empty(p["shape"], np.float32)
              for p in opt.params for _ in opt.state_names]
    opt.init_states(states)
    return arrays, states


def _sparse_grad(rng, shape, n):
    """n random row indices, with at least one duplicate when n >= 2; rows
    r with r % 5 == 4 are never named (they must stay untouched)."""
    rows = np.array([r for r in range(shape[0]) if r % 5 != 4], np.int32)
    idx = rng.choice(rows, size=n).astype(np.int32)
    if n >= 2:
        idx[-1] = idx[0]
    vals = rng.standard_normal((n,) + tuple(shape[1:])).astype(np.float32)
    return idx, vals


def _grads(opt, rng, n=12):
    grads = []
    for p in opt.params:
        if p["sparse"]:
            grads.append(_sparse_grad(rng, p["shape"], n))
        else:
            grads.append(rng.standard_normal(p["shape"]).astype(np.float32))
    return grads


def _snapshot(arrays, states, opt):
    return ([a.copy() for a in arrays], [s.copy() for s in states],
            opt.global_step)


def _assert_unchanged(before, arrays, states, opt):
    for a, b in zip(arrays, before[0]):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(states, before[1]):
        np.testing.assert_array_equal(a, b)
    assert opt.global_step == before[2]


def test_params_report_sparse():
    opt = _compile()
    assert [p["sparse"] for p in opt.params] == [True, False, True, False]


@pytest.mark.parametrize("options", ["", "chunk-size=16 num-threads=2"])
@pytest.mark.parametrize("loss_scale", [1.0, 4.0])
def test_lazy_adam_matches_reference(options, loss_scale):
    rng = np.random.default_rng(7)
    opt = _compile(options=options, loss_scale=loss_scale)
    arrays, states = _buffers(opt, rng)
    initial = [a.copy() for a in arrays]
    initial_states = [s.copy() for s in states]
    ref = R.ReferenceOptimizer(
        "lazy_adam", [(p["name"], a) for p, a in zip(opt.params, arrays)],
        learning_rate=0.01, loss_scale=loss_scale, mode="uniform", **HYPER)
    names = opt.state_names
    touched = {i: set() for i, p in enumerate(opt.params) if p["sparse"]}
    saw_duplicate = False
    for step in range(STEPS):
        grads = _grads(opt, rng, n=1 + step % 13)
        for i in touched:
            idx = grads[i][0]
            touched[i].update(idx.tolist())
            saw_duplicate |= len(set(idx.tolist())) < len(idx)
        opt.step(arrays, grads, states)
        ref.step(grads)
        for i, p in enumerate(opt.params):
            np.testing.assert_allclose(arrays[i], ref.params[i], rtol=RTOL,
                                       atol=ATOL, err_msg="%s step %d" % (
                                           p["name"], step))
            for j, s in enumerate(names):
                np.testing.assert_allclose(
                    states[i * len(names) + j], ref.states[i][s], rtol=RTOL,
                    atol=ATOL, err_msg="%s.%s step %d" % (p["name"], s, step))
    assert saw_duplicate
    assert opt.global_step == STEPS
    for i, rows in touched.items():
        untouched = sorted(set(range(opt.params[i]["shape"][0])) - rows)
        assert untouched, "the test should leave some rows untouched"
        np.testing.assert_array_equal(arrays[i][untouched],
                                      initial[i][untouched])
        for j in range(len(names)):
            k = i * len(names) + j
            np.testing.assert_array_equal(states[k][untouched],
                                          initial_states[k][untouched])


def test_duplicates_are_summed():
    """Rows (i, a), (i, b) give the same step as the one row (i, a + b)."""
    rng = np.random.default_rng(3)
    params = [("emb", (10, 4), True)]
    one, two = _compile(params), _compile(params)
    a1, s1 = _buffers(one, rng)
    a2 = [a.copy() for a in a1]
    s2 = [s.copy() for s in s1]
    vals = np.array([[1, 2, 3, 4], [0.5, 0.25, 2, 8], [1, 1, 1, 1]],
                    np.float32)
    one.step(a1, [(np.array([3, 3, 6], np.int32), vals)], s1)
    merged = np.stack([vals[0] + vals[1], vals[2]])
    two.step(a2, [(np.array([3, 6], np.int32), merged)], s2)
    for x, y in zip(a1 + s1, a2 + s2):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("bad", [50, -1, 2**31 - 1])
def test_out_of_range_index_raises_and_changes_nothing(bad):
    rng = np.random.default_rng(1)
    opt = _compile()
    arrays, states = _buffers(opt, rng)
    opt.step(arrays, _grads(opt, rng), states)
    before = _snapshot(arrays, states, opt)
    grads = _grads(opt, rng)
    grads[0][0][5] = bad
    with pytest.raises(RuntimeError, match="out of range"):
        opt.step(arrays, grads, states)
    _assert_unchanged(before, arrays, states, opt)


def test_bad_sparse_gradients_raise_and_change_nothing():
    rng = np.random.default_rng(2)
    opt = _compile()
    arrays, states = _buffers(opt, rng)
    before = _snapshot(arrays, states, opt)
    idx, vals = _sparse_grad(rng, (50, 8), 6)
    cases = [
        (TypeError, vals),                                  # not a tuple
        (TypeError, (idx, vals, vals)),                     # wrong length
        (TypeError, (idx.astype(np.int64), vals)),          # indices dtype
        (TypeError, (idx, vals.astype(np.float64))),        # values dtype
        (ValueError, (idx.reshape(2, 3), vals)),            # indices 2-d
        (ValueError, (idx, vals[:5])),                      # row count
        (ValueError, (idx, np.zeros((6, 7), np.float32))),  # row shape
        (ValueError, (idx[::2], vals[::2])),                # not contiguous
        (ValueError, (idx, np.asfortranarray(vals))),
        (TypeError, (list(idx), vals)),                     # not arrays
    ]
    for error, g in cases:
        grads = _grads(opt, rng)
        grads[0] = g
        with pytest.raises(error):
            opt.step(arrays, grads, states)
        _assert_unchanged(before, arrays, states, opt)
    # A sparse gradient for a dense parameter is rejected too.
    grads = _grads(opt, rng)
    grads[1] = (idx, vals)
    with pytest.raises(TypeError):
        opt.step(arrays, grads, states)
    _assert_unchanged(before, arrays, states, opt)


def test_zero_rows():
    rng = np.random.default_rng(4)
    opt = _compile()
    arrays, states = _buffers(opt, rng)
    ref = R.ReferenceOptimizer(
        "lazy_adam", [(p["name"], a) for p, a in zip(opt.params, arrays)],
        learning_rate=0.01, mode="uniform", **HYPER)
    for step in range(4):
        grads = _grads(opt, rng)
        if step % 2 == 0:
            grads[0] = (np.zeros(0, np.int32), np.zeros((0, 8), np.float32))
            grads[2] = (np.zeros(0, np.int32), np.zeros((0, 2, 3), np.float32))
        before = [a.copy() for a in arrays]
        before_states = [s.copy() for s in states]
        opt.step(arrays, grads, states)
        ref.step(grads)
        if step % 2 == 0:
            for i in (0, 2):
                np.testing.assert_array_equal(arrays[i], before[i])
                for j in range(2):
                    np.testing.assert_array_equal(states[2 * i + j],
                                                  before_states[2 * i + j])
        for i in range(len(arrays)):
            np.testing.assert_allclose(arrays[i], ref.params[i], rtol=RTOL,
                                       atol=ATOL)
    assert opt.global_step == 4


def test_loss_scale_applies_to_rows():
    """loss_scale s with rows s * g steps like loss_scale 1 with rows g (s a
    power of two: exact), set in the IR or at run time; without the scale,
    rows s * g step differently (a large eps makes Adam scale-sensitive)."""
    rng = np.random.default_rng(5)
    params = [("emb", (30, 8), True), ("w", (4, 4), False)]
    plain, scaled, runtime, unscaled = (
        _compile(params), _compile(params, loss_scale=8.0), _compile(params),
        _compile(params))
    runtime.set_hyper_param(0, "loss_scale", 8.0)
    for opt in (plain, scaled, runtime, unscaled):
        opt.set_hyper_param(0, "eps", 0.5)
    a0, s0 = _buffers(plain, rng)
    copies = [([a.copy() for a in a0], [s.copy() for s in s0])
              for _ in range(3)]
    for _ in range(5):
        grads = _grads(plain, rng)
        big = [(g[0], g[1] * 8) if isinstance(g, tuple) else g * 8
               for g in grads]
        plain.step(a0, grads, s0)
        for opt, (arrays, states) in zip((scaled, runtime, unscaled), copies):
            opt.step(arrays, big, states)
        for arrays, states in copies[:2]:
            for x, y in zip(a0 + s0, arrays + states):
                np.testing.assert_array_equal(x, y)
    assert not np.allclose(copies[2][0][0], a0[0], rtol=1e-3, atol=1e-3)


def test_unique_false_with_unique_indices():
    rng = np.random.default_rng(6)
    opt = _compile([("emb", (40, 8), True)], extra="unique false ")
    arrays, states = _buffers(opt, rng)
    ref = R.ReferenceOptimizer("lazy_adam", [("emb", arrays[0])],
                               learning_rate=0.01, mode="uniform", **HYPER)
    for _ in range(20):
        idx = rng.permutation(40)[:10].astype(np.int32)
        vals = rng.standard_normal((10, 8)).astype(np.float32)
        opt.step(arrays, [(idx, vals)], states)
        ref.step([(idx, vals)])
        np.testing.assert_allclose(arrays[0], ref.params[0], rtol=RTOL,
                                   atol=ATOL)
