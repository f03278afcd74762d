"""Contiguous parameters: ``optim_mlir.nn.flatten_weights`` and optimizers
over flattened parameters (MindSpore's ``Cell.flatten_weights``,
``Optimizer._use_flattened_params`` and ``flatten_gradients``).

Layout cases are ported from MindSpore's tests/ut/python/common/
test_flatten_tensors.py (test_flatten_tensors_basic, _order, _float16,
_dtypes, _with_fusion_size_1, _with_fusion_size_2,
test_cell_flatten_weights_with_fusion_size) and the optimizer cases from
tests/ut/python/nn/optim/test_optimizer.py (test_not_flattened_params,
test_with_flattened_params, test_adam_with_flattened_params_fusion_size).

A flattened optimizer steps each buffer as one tensor; for elementwise
rules that is the same arithmetic as stepping the parameters one by one,
so flattened and unflattened runs must agree bit for bit (np.array_equal)
on parameters and states after every step.
"""

import warnings

import numpy as np
import pytest

from optim_mlir import nn

STEPS = 10
SHAPES = [("conv.weight", (4, 3, 2)), ("fc.weight", (5, 7)),
          ("fc.bias", (7,)), ("scale", ())]


def make(dtype, seed=0, shapes=SHAPES):
    rng = np.random.default_rng(seed)
    return [nn.Parameter(rng.standard_normal(s).astype(dtype), n)
            for n, s in shapes]


def copies(params):
    return [nn.Parameter(p.asnumpy(), p.name) for p in params]


# ------------------------------------------------------------------ layout
def test_flatten_basic_values_and_views():
    ps = [nn.Parameter(np.ones(s, np.float32), n)
          for n, s in (("t1", (2,)), ("t2", (2, 2)), ("t3", (2, 2, 2)))]
    chunks = nn.flatten_weights(ps)
    assert len(chunks) == 1
    assert chunks[0].dtype == np.float32 and chunks[0].shape == (14,)
    assert np.array_equal(chunks[0], np.ones(14, np.float32))
    for p in ps:
        assert np.shares_memory(p.data, chunks[0])
        assert p.data.flags.c_contiguous
    # Writes through data, set_data and in-place operations land in the
    # buffer; asnumpy reads it.
    ps[0].data[0] = 6
    ps[1].set_data(np.full((2, 2), 7, np.float32))
    ps[2].data *= 2
    assert np.array_equal(chunks[0], [6, 1] + [7] * 4 + [2] * 8)
    chunks[0][1] = 9
    assert np.array_equal(ps[0].asnumpy(), [6, 9])


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_flatten_order(dtype):
    ps = [nn.Parameter(np.array([v], dtype), "t%d" % v) for v in (1, 2, 3)]
    assert np.array_equal(nn.flatten_weights(ps)[0], [1, 2, 3])
    chunks = nn.flatten_weights([ps[2], ps[0], ps[1]])
    assert len(chunks) == 1 and chunks[0].dtype == dtype
    assert np.array_equal(chunks[0], [3, 1, 2])
    assert np.array_equal(ps[0].asnumpy(), [1])


def test_flatten_scalars():
    ps = [nn.Parameter(np.array(v, np.float32), "s%d" % v) for v in (1, 2, 3)]
    chunks = nn.flatten_weights(ps)
    assert np.array_equal(chunks[0], [1, 2, 3])
    assert all(p.shape == () for p in ps)


def test_flatten_groups_by_dtype_in_dtype_order():
    f32 = [nn.Parameter(np.ones(s, np.float32), "a%d" % i)
           for i, s in enumerate([(2,), (2, 2), (2, 2, 2)])]
    f64 = [nn.Parameter(np.ones(s, np.float64), "b%d" % i)
           for i, s in enumerate([(3, 3), (3, 3, 3)])]
    chunks = nn.flatten_weights([f64[0], f32[0], f32[1], f64[1], f32[2]])
    assert [c.dtype for c in chunks] == [np.float32, np.float64]
    assert [c.shape for c in chunks] == [(14,), (36,)]


def test_flatten_fusion_size_float32():
    ps = [nn.Parameter(np.ones(n, np.float32), "t%d" % n) for n in (1, 2, 3, 4)]
    chunks = nn.flatten_weights(ps, 4 * 4)
    assert [c.shape for c in chunks] == [(3,), (3,), (4,)]


def test_flatten_fusion_size_mixed_dtypes():
    ps = [nn.Parameter(np.ones(n, np.float32), "f%d" % n) for n in (1, 2, 3, 4)]
    ps += [nn.Parameter(np.ones(n, np.float16), "h%d" % n) for n in (1, 2, 3, 4)]
    chunks = nn.flatten_weights(ps, 20)
    assert [c.dtype for c in chunks] == [np.float16] + [np.float32] * 3
    assert [c.shape for c in chunks] == [(10,), (3,), (3,), (4,)]


def test_flatten_fusion_size_values():
    ps = [nn.Parameter(np.array(v, np.float32), "p%d" % i) for i, v in
          enumerate([[1, 2], [3, 4, 5], [6], [7], [8]])]
    chunks = nn.flatten_weights(ps, fusion_size=12)
    assert [list(c) for c in chunks] == [[1, 2], [3, 4, 5], [6, 7, 8]]


FLATTEN_ERRORS = [
    ("fusion-negative", ValueError, "Negative 'fusion_size' -1",
     lambda ps: nn.flatten_weights(ps, -1)),
    ("fusion-float", TypeError, "'fusion_size' must be int",
     lambda ps: nn.flatten_weights(ps, 1.5)),
    ("one-parameter", TypeError, "got one Parameter",
     lambda ps: nn.flatten_weights(ps[0])),
    ("not-a-parameter", TypeError, "must be a Parameter, but got ndarray",
     lambda ps: nn.flatten_weights([ps[0], np.ones(2)])),
    ("twice", ValueError, "given more than once",
     lambda ps: nn.flatten_weights([ps[0], ps[0]])),
    ("not-iterable", TypeError, "iterable of Parameter",
     lambda ps: nn.flatten_weights(3)),
]


@pytest.mark.parametrize("case", FLATTEN_ERRORS, ids=[c[0] for c in FLATTEN_ERRORS])
def test_flatten_errors_change_nothing(case):
    _, exc, match, fn = case
    ps = make(np.float32)
    before = [p.data for p in ps]
    with pytest.raises(exc, match=match):
        fn(ps)
    assert all(p.data is b for p, b in zip(ps, before))


# --------------------------------------------------------- optimizer setup
def test_optimizer_not_flattened():
    ps = make(np.float32)
    opt = nn.Momentum(ps, 0.1, 0.9)
    assert opt._use_flattened_params is False
    assert len(opt.parameters) == 4 and opt.parameters is opt._parameters
    assert opt.flatten_gradients(tuple(p.data for p in ps))[0] is ps[0].data


def test_optimizer_with_flattened_params():
    ps = [nn.Parameter(np.array([v], np.float32), "p%d" % v) for v in (1, 2, 3)]
    nn.flatten_weights(ps)
    opt = nn.Adam(ps)
    assert opt._use_flattened_params is True
    assert len(opt.parameters) == 3 and list(opt.parameters) == ps
    assert len(opt._parameters) == 1 and opt.param_length == 1
    flat = opt._parameters[0]
    assert flat.name == "_chunk_param0_Float32"
    assert flat.dtype == np.float32 and flat.shape == (3,)
    assert np.array_equal(flat.data, [1, 2, 3])
    for p in ps:
        p.data[0] = 6
    assert np.array_equal(flat.data, [6, 6, 6])
    # States per buffer, as MindSpore clones them from _parameters.
    assert len(opt.moment1) == 1 and opt.moment1[0].shape == (3,)
    assert opt.trainable_params() == ps
    assert opt.get_lr_parameter(ps[1]) is opt.learning_rate


def test_optimizer_fusion_size_buffers():
    ps = [nn.Parameter(np.array([v], np.float32), "p%d" % v)
          for v in (1, 2, 3, 4, 5)]
    nn.flatten_weights(ps, fusion_size=12)
    opt = nn.Adam(ps)
    assert opt._use_flattened_params
    assert len(opt.parameters) == 5 and len(opt._parameters) == 2
    opt(tuple(np.array([0.1 * v], np.float32) for v in range(1, 6)))
    assert len(opt._parts[0].compiled.params) == 2
    assert all(p.data[0] != v for p, v in zip(ps, range(1, 6)))


# ----------------------------------------------------------- bit for bit
CASES = {
    "SGD": (nn.SGD, dict(learning_rate=0.05, momentum=0.9, dampening=0.1,
                         weight_decay=0.01, loss_scale=2.0),
            ["accum"]),
    "SGD-nesterov": (nn.SGD, dict(learning_rate=0.05, momentum=0.9,
                                  nesterov=True), ["accum"]),
    "Momentum": (nn.Momentum, dict(learning_rate=0.05, momentum=0.9,
                                   weight_decay=0.01, loss_scale=4.0),
                 ["moments"]),
    "Momentum-nesterov": (nn.Momentum, dict(learning_rate=0.05, momentum=0.9,
                                            use_nesterov=True), ["moments"]),
    "Adam": (nn.Adam, dict(learning_rate=0.01, beta1=0.8, beta2=0.95,
                           eps=1e-6, weight_decay=0.01, loss_scale=2.0),
             ["moment1", "moment2"]),
    "Adam-nesterov": (nn.Adam, dict(learning_rate=0.01, use_nesterov=True),
                      ["moment1", "moment2"]),
    "AdamWeightDecay": (nn.AdamWeightDecay,
                        dict(learning_rate=0.01, beta1=0.8, beta2=0.95,
                             eps=1e-6, weight_decay=0.05),
                        ["moments1", "moments2"]),
}


def _states_concat(opt, attr, params):
    """The per-parameter states of an unflattened optimizer, concatenated
    per dtype in buffer order (float16 first)."""
    states = getattr(opt, attr)
    out = []
    for dtype in (np.float16, np.float32, np.float64):
        parts = [s.data.reshape(-1) for s, p in zip(states, params)
                 if p.dtype == dtype]
        if parts:
            out.append(np.concatenate(parts))
    return out


@pytest.mark.parametrize("dtypes", ["float32", "float16", "float16+float32"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_flattened_step_bit_for_bit(case, dtypes):
    cls, kwargs, states = CASES[case]
    kinds = [np.dtype(d) for d in dtypes.split("+")]
    rng = np.random.default_rng(sorted(CASES).index(case))
    plain = []
    for i, (n, s) in enumerate(SHAPES):
        dt = kinds[i % len(kinds)]
        plain.append(nn.Parameter(rng.standard_normal(s).astype(dt), n))
    init = [p.asnumpy() for p in plain]
    flat = copies(plain)
    nn.flatten_weights(flat)
    a, b = cls(plain, **kwargs), cls(flat, **kwargs)
    assert not a._use_flattened_params and b._use_flattened_params
    for t in range(STEPS):
        grads = [rng.standard_normal(p.shape).astype(p.dtype) for p in plain]
        assert a(tuple(grads)) is True and b(tuple(grads)) is True
        for p, q in zip(plain, flat):
            assert p.dtype == q.dtype
            assert np.array_equal(p.data, q.data), "%s step %d" % (p.name, t)
        for attr in states:
            want = _states_concat(a, attr, plain)
            got = [s.data for s in getattr(b, attr)]
            assert len(got) == len(kinds)
            for w, g in zip(want, got):
                assert np.array_equal(w, g), "%s step %d" % (attr, t)
    # One compiled parameter per dtype (buffer); the step moved the values.
    assert len(b._parts) == 1
    assert len(b._parts[0].compiled.params) == len(kinds)
    assert len(a._parts[0].compiled.params) == len(SHAPES)
    assert b.compiled_ir()[0].count("_chunk_param") >= len(kinds)
    assert b.global_step == STEPS
    assert any(not np.array_equal(p.data, i) for p, i in zip(flat, init))


def test_flattened_fast_path_and_checked_path_agree():
    # Non-contiguous gradients take the checked path; the result is the same.
    ps, qs = make(np.float32, 3), make(np.float32, 3)
    nn.flatten_weights(ps)
    nn.flatten_weights(qs)
    a, b = nn.Adam(ps, learning_rate=0.01), nn.Adam(qs, learning_rate=0.01)
    rng = np.random.default_rng(4)
    for _ in range(3):
        g = [rng.standard_normal(p.shape).astype(np.float32) for p in ps]
        a(tuple(g))
        b(tuple(np.stack([x, x], -1)[..., 0] for x in g))  # strided views
    assert all(np.array_equal(p.data, q.data) for p, q in zip(ps, qs))


# ------------------------------------------------- what runs per buffer
def test_decay_filter_applies_to_the_buffer_name():
    # MindSpore computes decay_flags over _parameters, the buffers (named
    # '_chunk_param<i>_<dtype>'): every flattened parameter is decayed, the
    # 'beta' / 'gamma' ones too.
    names = [("bn.beta", (6,)), ("w", (3, 4))]
    flat = make(np.float32, 1, names)
    nn.flatten_weights(flat)
    renamed = [nn.Parameter(p.asnumpy(), n) for p, n in zip(flat, ("bn.b", "w"))]
    filtered = copies(flat)
    a = nn.Momentum(flat, 0.1, 0.9, weight_decay=0.1)
    b = nn.Momentum(renamed, 0.1, 0.9, weight_decay=0.1)
    c = nn.Momentum(filtered, 0.1, 0.9, weight_decay=0.1)
    assert a.decay_flags == (True,)
    assert c.decay_flags == (False, True)
    rng = np.random.default_rng(2)
    for _ in range(3):
        g = tuple(rng.standard_normal(p.shape).astype(np.float32) for p in flat)
        a(g), b(g), c(g)
    assert all(np.array_equal(p.data, q.data) for p, q in zip(flat, renamed))
    assert not np.array_equal(flat[0].data, filtered[0].data)


def test_lamb_trust_ratio_over_the_buffer():
    # MindSpore's Lamb steps _parameters (the buffers): its norms are the
    # norms of the whole buffer, so a flattened Lamb equals a Lamb over one
    # parameter holding the concatenation.
    ps = make(np.float32, 6)
    whole = nn.Parameter(np.concatenate([p.data.reshape(-1) for p in ps]), "all")
    nn.flatten_weights(ps)
    a = nn.Lamb(ps, 0.01, weight_decay=0.01)
    b = nn.Lamb([whole], 0.01, weight_decay=0.01)
    per_param = nn.Lamb(copies(ps), 0.01, weight_decay=0.01)
    rng = np.random.default_rng(6)
    for _ in range(STEPS):
        g = [rng.standard_normal(p.shape).astype(np.float32) for p in ps]
        a(tuple(g))
        b((np.concatenate([x.reshape(-1) for x in g]),))
        per_param(tuple(g))
    assert np.array_equal(a._parameters[0].data, whole.data)
    assert not np.allclose(a._parameters[0].data, np.concatenate(
        [p.data.reshape(-1) for p in per_param.parameters]))


# ------------------------------------------------------------- fallbacks
def test_grouped_parameters_are_not_flattened():
    # MindSpore's _get_flattened_params: grouped parameters step one by one.
    ps, qs = make(np.float32, 8), make(np.float32, 8)
    nn.flatten_weights(ps)

    def groups(x):
        return [{"params": x[:2], "lr": 0.05, "grad_centralization": True},
                {"params": x[2:], "weight_decay": 0.1}]

    a = nn.Adam(groups(ps), learning_rate=0.01)
    b = nn.Adam(groups(qs), learning_rate=0.01)
    assert not a._use_flattened_params and len(a._parameters) == 4
    rng = np.random.default_rng(8)
    for _ in range(3):
        g = tuple(rng.standard_normal(p.shape).astype(np.float32) for p in ps)
        a(g), b(g)
    assert all(np.array_equal(p.data, q.data) for p, q in zip(ps, qs))
    assert len(a._parts[0].compiled.params) == 4


def test_partly_flattened_parameters_fall_back_with_a_warning():
    ps = make(np.float32, 9)
    nn.flatten_weights(ps)
    with pytest.warns(RuntimeWarning, match="not properly flattened"):
        opt = nn.SGD(ps[:3])  # a buffer holds a parameter not given
    assert not opt._use_flattened_params and len(opt._parameters) == 3
    qs = make(np.float32, 9)
    nn.flatten_weights(qs[:2])
    with pytest.warns(RuntimeWarning, match="not properly flattened"):
        opt = nn.SGD(qs)  # some given parameters are not flattened
    assert not opt._use_flattened_params
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert nn.SGD(make(np.float32))._use_flattened_params is False


def test_reflattened_subset_still_detected():
    ps = make(np.float32, 10)
    nn.flatten_weights(ps)
    nn.flatten_weights(ps[1:])  # ps[0]'s buffer is no longer whole
    assert nn.SGD(ps[1:])._use_flattened_params
    with pytest.warns(RuntimeWarning):
        assert not nn.SGD(ps)._use_flattened_params


def test_lars_over_flattened_momentum_steps_per_parameter():
    # MindSpore's LARS turns the wrapped optimizer's flattening off: the
    # trust ratios are per parameter.  Its moments are views into the
    # Momentum's buffer.
    names = [("conv.weight", (4, 6)), ("fc.weight", (5, 3)), ("fc.bias", (5,))]
    ps = make(np.float32, 11, names)
    qs = copies(ps)
    nn.flatten_weights(ps)
    mom = nn.Momentum(ps, 0.1, 0.9, weight_decay=0.01)
    a = nn.LARS(mom, coefficient=0.01)
    b = nn.LARS(nn.Momentum(qs, 0.1, 0.9, weight_decay=0.01), coefficient=0.01)
    assert list(a.parameters) == ps and len(a.moments) == 3
    assert np.shares_memory(a.moments[0].data, mom.moments[0].data)
    rng = np.random.default_rng(12)
    for _ in range(5):
        g = tuple(rng.standard_normal(p.shape).astype(np.float32) for p in ps)
        a(g), b(g)
    assert all(np.array_equal(p.data, q.data) for p, q in zip(ps, qs))
    assert all(np.array_equal(m.data, n.data)
               for m, n in zip(a.moments, b.moments))


# ------------------------------------------------------ gradients, errors
def test_flatten_gradients_packs_like_the_parameters():
    ps = make(np.float32, 13) + make(np.float16, 14, [("h", (3, 2))])
    nn.flatten_weights(ps)
    opt = nn.SGD(ps)
    g = [np.full(p.shape, i + 1, p.dtype) for i, p in enumerate(ps)]
    packed = opt.flatten_gradients(g)
    assert [x.dtype for x in packed] == [np.float16, np.float32]
    assert np.array_equal(packed[0], np.full(6, 5, np.float16))
    assert np.array_equal(packed[1], np.concatenate(
        [np.full(p.size, i + 1, np.float32) for i, p in enumerate(ps[:4])]))


def test_user_defined_optimizer_over_flattened_parameters():
    # A custom construct gets one gradient per parameter given and packs
    # them with flatten_gradients, as MindSpore's optimizers do.
    class FlatSGD(nn.Optimizer):
        def __init__(self, params, learning_rate):
            super().__init__(learning_rate, params)
            self.seen = None

        def construct(self, gradients):
            gradients = self.flatten_gradients(gradients)
            self.seen = len(gradients)
            lr = self.get_lr()
            for p, g in zip(self._parameters, gradients):
                p.data -= np.asarray(lr, p.dtype) * g
            return True

    ps, qs = make(np.float32, 15), make(np.float32, 15)
    nn.flatten_weights(ps)
    opt, ref = FlatSGD(ps, 0.1), nn.SGD(qs, 0.1)
    g = tuple(np.ones(p.shape, np.float32) for p in ps)
    assert opt(g) is True and opt.seen == 1
    ref(g)
    assert all(np.allclose(p.data, q.data, rtol=0, atol=1e-7)
               for p, q in zip(ps, qs))
    assert opt.global_step == 1


GRAD_ERRORS = [
    ("count", ValueError, "expected 4 gradients", lambda g: g[:3]),
    ("dtype", TypeError, "must have dtype float32",
     lambda g: g[:3] + [g[3].astype(np.float64)]),
    ("shape", ValueError, "must have shape \\(7,\\)",
     lambda g: g[:2] + [np.ones(8, np.float32)] + g[3:]),
    ("sparse", TypeError, "parameters are flattened",
     lambda g: [(np.array([0]), np.ones((1, 3, 2), np.float32))] + g[1:]),
]


@pytest.mark.parametrize("case", GRAD_ERRORS, ids=[c[0] for c in GRAD_ERRORS])
def test_flattened_gradient_errors_change_nothing(case):
    _, exc, match, fn = case
    ps = make(np.float32, 16)
    nn.flatten_weights(ps)
    opt = nn.LazyAdam(ps, learning_rate=0.1)
    g = [np.ones(p.shape, np.float32) for p in ps]
    opt(tuple(g))
    before = [p.asnumpy() for p in ps] + [s.asnumpy() for s in opt.moment1]
    with pytest.raises(exc, match=match):
        opt(tuple(fn(g)))
    after = [p.asnumpy() for p in ps] + [s.asnumpy() for s in opt.moment1]
    assert all(np.array_equal(x, y) for x, y in zip(before, after))
    assert opt.global_step == 1


def test_flattened_checkpoint_round_trip():
    ps = make(np.float32, 17)
    nn.flatten_weights(ps)
    opt = nn.Adam(ps, learning_rate=0.01)
    rng = np.random.default_rng(17)
    grads = [tuple(rng.standard_normal(p.shape).astype(np.float32) for p in ps)
             for _ in range(6)]
    for g in grads[:3]:
        opt(g)
    sd = opt.state_dict()
    assert list(sd["parameters"]) == ["_chunk_param0_Float32"]
    for g in grads[3:]:
        opt(g)
    end = [p.asnumpy() for p in ps]
    opt.load_state_dict(sd)
    for g in grads[3:]:
        opt(g)
    assert all(np.array_equal(p.data, e) for p, e in zip(ps, end))


def test_flattening_parameters_of_a_compiled_optimizer_rebinds_them():
    # flatten_weights after an optimizer compiled: the optimizer (built
    # unflattened, so stepping per parameter) steps the new storage.
    ps, qs = make(np.float32, 18), make(np.float32, 18)
    a, b = nn.Momentum(ps, 0.1, 0.9), nn.Momentum(qs, 0.1, 0.9)
    rng = np.random.default_rng(18)
    g = tuple(rng.standard_normal(p.shape).astype(np.float32) for p in ps)
    a(g), b(g)
    (chunk,) = nn.flatten_weights(ps)
    for _ in range(3):
        g = tuple(rng.standard_normal(p.shape).astype(np.float32) for p in ps)
        a(g), b(g)
    assert not a._use_flattened_params
    assert all(np.array_equal(p.data, q.data) for p, q in zip(ps, qs))
    assert np.shares_memory(ps[0].data, chunk)
    assert np.array_equal(chunk, np.concatenate([q.data.reshape(-1) for q in qs]))
