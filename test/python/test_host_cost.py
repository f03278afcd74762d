"""Flat host cost: steps on pointer tables bound once and revalidated in C++.

Functional tests only (no timing): the fast paths of optim_mlir.torch and
optim_mlir.nn are taken, revalidation catches changed gradients before any
write, replaced tensors are picked up, state tensors alias the runtime-owned
buffers, and the numbers match torch (or the checked path) over many steps.
The C API's bound steps are exercised through ctypes.
"""

import ctypes
import os

import numpy as np
import pytest
import torch

import optim_mlir.nn as onn
import optim_mlir.torch as ot
from optim_mlir import ir

STEPS = 30
TOL = dict(rtol=1e-4, atol=1e-5)
SHAPES = [(8, 5), (5,), (3, 4, 2), (1,), (), (0,), (7,)]


pytestmark = pytest.mark.usefixtures("float32_default_dtype")


def make_pair(cls, ours_cls, shapes=SHAPES, seed=0, **kwargs):
    gen = torch.Generator().manual_seed(seed)
    ref = [torch.randn(s, generator=gen) for s in shapes]
    a = [t.clone().requires_grad_() for t in ref]
    b = [t.clone().requires_grad_() for t in ref]
    return cls(a, **kwargs), a, ours_cls(b, **kwargs), b


def set_grads(pa, pb, seed):
    gen = torch.Generator().manual_seed(1000 + seed)
    for x, y in zip(pa, pb):
        g = torch.randn(x.shape, generator=gen)
        if x.grad is None:
            x.grad, y.grad = g.clone(), g.clone()
        else:  # in place, as backward() accumulates into zeroed grads
            x.grad.copy_(g)
            y.grad.copy_(g)


def assert_match(opt_a, pa, opt_b, pb, tol=TOL):
    for x, y in zip(pa, pb):
        np.testing.assert_allclose(y.detach().numpy(), x.detach().numpy(),
                                   **tol)
        sa, sb = opt_a.state.get(x, {}), opt_b.state.get(y, {})
        assert set(sa) == set(sb)
        for key in sa:
            if sa[key] is None:
                assert sb[key] is None
                continue
            np.testing.assert_allclose(np.asarray(sb[key]),
                                       np.asarray(sa[key]), **tol)


def snapshot(opt, params):
    return ([p.detach().clone() for p in params],
            [{k: (v.clone() if torch.is_tensor(v) else v)
              for k, v in opt.state.get(p, {}).items()} for p in params])


def assert_unchanged(before, opt, params):
    values, states = before
    for p, v, s in zip(params, values, states):
        assert torch.equal(p.detach(), v)
        now = opt.state.get(p, {})
        assert set(now) == set(s)
        for k in s:
            if torch.is_tensor(s[k]):
                assert torch.equal(now[k], s[k])


# ---------------------------------------------------------------- torch


@pytest.mark.parametrize("cls,ours,kwargs", [
    (torch.optim.AdamW, ot.AdamW, dict(lr=0.01, weight_decay=0.1)),
    (torch.optim.Adam, ot.Adam, dict(lr=0.01, weight_decay=0.1)),
    (torch.optim.Adam, ot.Adam, dict(lr=0.01, amsgrad=True)),
    (torch.optim.SGD, ot.SGD, dict(lr=0.05, momentum=0.9, nesterov=True)),
    (torch.optim.SGD, ot.SGD, dict(lr=0.05)),
], ids=["AdamW", "Adam", "Adam-amsgrad", "SGD-nesterov", "SGD-plain"])
def test_torch_fast_path_matches_torch(cls, ours, kwargs):
    ta, pa, tb, pb = make_pair(cls, ours, **kwargs)
    for step in range(STEPS):
        set_grads(pa, pb, step)
        ta.step()
        tb.step()
        assert_match(ta, pa, tb, pb)
    # Every step after the first ran on the bound tables.
    assert tb._plan is not None and tb._plan.fast_steps == STEPS - 1


def test_torch_step_counts_and_buckets():
    """A parameter skipped on one step keeps its own torch step count; the
    plan then has two buckets and still matches torch, step tensors
    included (they are updated in place in runtime-owned memory)."""
    ta, pa, tb, pb = make_pair(torch.optim.AdamW, ot.AdamW, lr=0.01)
    for step in range(STEPS):
        set_grads(pa, pb, step)
        if step == 3:
            pa[0].grad, pb[0].grad = None, None
        if step == 4:
            g = torch.randn(pa[0].shape)
            pa[0].grad, pb[0].grad = g.clone(), g.clone()
        ta.step()
        tb.step()
        assert_match(ta, pa, tb, pb)
    assert tb._plan.native.num_buckets == 2
    assert float(tb.state[pb[0]]["step"]) == STEPS - 1
    assert float(tb.state[pb[1]]["step"]) == STEPS
    assert tb.state[pb[1]]["step"].dtype == torch.float32


@pytest.mark.parametrize("bad", ["shape", "dtype", "sparse"])
def test_torch_changed_grad_is_an_error_and_no_change(bad):
    """torch refuses `p.grad = x` of another shape or dtype; `.data` on the
    grad object (same object, new storage) or a sparse grad get through to
    the step, which must raise before anything changes."""
    _, _, opt, params = make_pair(torch.optim.AdamW, ot.AdamW)
    for step in range(3):
        for p in params:
            p.grad = torch.ones_like(p)
        opt.step()
    assert opt._plan is not None
    before = snapshot(opt, params)
    p = params[0]
    if bad == "shape":
        p.grad.data = torch.ones(9, 5)
        err = ValueError
    elif bad == "dtype":
        p.grad.data = torch.ones(p.shape, dtype=torch.float64)
        err = ValueError
    else:
        p.grad = torch.ones(p.shape).to_sparse()
        err = RuntimeError
    with pytest.raises(err):
        opt.step()
    assert_unchanged(before, opt, params)


def test_torch_replaced_grads_and_data_and_noncontiguous():
    """New grad objects (zero_grad(set_to_none=True)), a parameter given new
    storage through .data, and a non-contiguous gradient all match torch."""
    ta, pa, tb, pb = make_pair(torch.optim.AdamW, ot.AdamW, lr=0.02,
                               weight_decay=0.05)
    for step in range(12):
        if step % 3 == 0:
            ta.zero_grad(set_to_none=True)
            tb.zero_grad(set_to_none=True)
        set_grads(pa, pb, step)
        if step == 5:
            for x, y in zip(pa, pb):
                new = torch.randn(x.shape)
                x.data = new.clone()
                y.data = new.clone()
        if step == 7:  # stays non-contiguous: later steps copy_ into it
            g = torch.randn(5, 8)
            pa[0].grad, pb[0].grad = g.t().clone(), g.t()
            assert not pb[0].grad.is_contiguous()
        if step == 10:  # the same grad object given new storage
            g = torch.randn(8, 5)
            pa[0].grad.data, pb[0].grad.data = g.clone(), g.clone()
        ta.step()
        tb.step()
        assert_match(ta, pa, tb, pb)
    assert tb._plan is not None and tb._plan.fast_steps >= 1


def test_torch_param_given_other_strides_takes_the_checked_path():
    """A parameter given transposed storage after fast steps is stepped as
    torch steps it, by the checked path (its states taken in its strides);
    given C-contiguous storage again, it returns to the fast path."""
    ta, pa, tb, pb = make_pair(torch.optim.AdamW, ot.AdamW, lr=0.02,
                               weight_decay=0.05)
    for step in range(10):
        set_grads(pa, pb, step)
        if step == 3:
            new = torch.randn(5, 8)
            pa[0].data, pb[0].data = new.clone().t(), new.clone().t()
        if step == 6:
            pa[0].data = pa[0].data.contiguous()
            pb[0].data = pb[0].data.contiguous()
        ta.step()
        tb.step()
        assert_match(ta, pa, tb, pb)
        if 3 <= step < 6:
            assert tb._plan is None
            assert tb.state[pb[0]]["exp_avg"].stride() == pb[0].stride()
    assert tb._plan is not None and tb._plan.fast_steps >= 3


def test_torch_states_alias_runtime_buffers():
    ta, pa, tb, pb = make_pair(torch.optim.AdamW, ot.AdamW, lr=0.01)
    for step in range(4):
        set_grads(pa, pb, step)
        ta.step()
        tb.step()
    for p in pb:
        for key in ("exp_avg", "exp_avg_sq"):
            t = tb.state[p][key]
            assert t.data_ptr() % 64 == 0 or t.numel() == 0
    # In-place edits of a state tensor reach the next compiled step.
    with torch.no_grad():
        ta.state[pa[0]]["exp_avg"].mul_(-3.0)
        tb.state[pb[0]]["exp_avg"].mul_(-3.0)
        ta.state[pa[1]]["step"].fill_(10.0)
        tb.state[pb[1]]["step"].fill_(10.0)
    set_grads(pa, pb, 50)
    ta.step()
    tb.step()
    assert_match(ta, pa, tb, pb)
    # load_state_dict copies into runtime buffers and changes the next step
    # exactly as in torch.
    sd = ta.state_dict()
    sd["state"][0]["exp_avg_sq"] = sd["state"][0]["exp_avg_sq"] * 4.0
    sd["state"][2]["step"] = torch.tensor(40.0)
    ta.load_state_dict(sd)
    tb.load_state_dict(sd)
    for step in range(5):
        set_grads(pa, pb, 60 + step)
        ta.step()
        tb.step()
        assert_match(ta, pa, tb, pb)
    assert float(tb.state[pb[2]]["step"]) == 45.0
    assert tb._plan.fast_steps >= 3
    # A replaced state tensor is taken over (copied) at the next step.
    t = tb.state[pb[0]]["exp_avg"].clone()
    tb.state[pb[0]]["exp_avg"] = t
    ta.state[pa[0]]["exp_avg"] = ta.state[pa[0]]["exp_avg"].clone()
    set_grads(pa, pb, 99)
    ta.step()
    tb.step()
    assert_match(ta, pa, tb, pb)


def test_torch_lr_scheduler_never_recompiles():
    _, _, opt, params = make_pair(torch.optim.AdamW, ot.AdamW, lr=0.1)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    for p in params:
        p.grad = torch.ones_like(p)
    opt.step()
    sched.step()
    before = ot.compile_count
    for _ in range(5):
        opt.step()
        sched.step()
    assert ot.compile_count == before
    assert opt._plan.fast_steps == 5


# ---------------------------------------------------------------- nn


def nn_pair(cls=onn.Adam, **kwargs):
    rng = np.random.RandomState(0)
    values = [rng.randn(*s).astype(np.float32) for s in [(4, 3), (5,), (1,)]]
    a = [onn.Parameter(v, "w%d" % i) for i, v in enumerate(values)]
    b = [onn.Parameter(v, "w%d" % i) for i, v in enumerate(values)]
    return cls(a, **kwargs), a, cls(b, **kwargs), b


def test_nn_fast_path_matches_checked_path():
    """Contiguous arrays take the bound path; Parameters as gradients take
    the checked one: the results are bit-identical."""
    fast, pa, slow, pb = nn_pair(onn.AdamWeightDecay, learning_rate=0.01,
                                 weight_decay=0.1)
    rng = np.random.RandomState(1)
    for _ in range(STEPS):
        grads = [rng.randn(*p.shape).astype(np.float32) for p in pa]
        assert fast(tuple(grads))
        assert slow(tuple(onn.Parameter(g, "g%d" % i)
                          for i, g in enumerate(grads)))
    for x, y in zip(pa, pb):
        assert np.array_equal(x.data, y.data)
    for x, y in zip(fast.moments1 + fast.moments2,
                    slow.moments1 + slow.moments2):
        assert np.array_equal(x.data, y.data)
    assert fast.global_step == slow.global_step == STEPS


def test_nn_states_are_runtime_owned_and_aligned():
    opt, params, _, _ = nn_pair()
    for state in opt.moment1 + opt.moment2:
        assert state.data.ctypes.data % 64 == 0
        base = state.data
        while isinstance(base, np.ndarray) and base.base is not None:
            base = base.base
        assert type(base).__name__ == "StateArena"


def test_nn_bad_gradient_is_an_error_and_no_change():
    opt, params, _, _ = nn_pair()
    grads = tuple(np.ones(p.shape, np.float32) for p in params)
    opt(grads)
    values = [p.asnumpy() for p in params]
    states = [s.asnumpy() for s in opt.moment1 + opt.moment2]
    bad = (np.ones((3, 4), np.float32),) + grads[1:]
    with pytest.raises(ValueError, match="shape"):
        opt(bad)
    with pytest.raises(TypeError, match="dtype"):
        opt((grads[0].astype(np.float64),) + grads[1:])
    with pytest.raises(ValueError, match="expected 3 gradients"):
        opt(grads + (grads[0],))
    for p, v in zip(params, values):
        assert np.array_equal(p.data, v)
    for s, v in zip(opt.moment1 + opt.moment2, states):
        assert np.array_equal(s.data, v)
    assert opt.global_step == 1
    # Non-contiguous and aliasing gradients go through copies.
    opt((np.ones((3, 4), np.float32).T,) + grads[1:])
    opt((params[0].data,) + grads[1:])
    assert opt.global_step == 3


# ---------------------------------------------------------------- C API


def load_runtime():
    build = os.environ.get("OPTIM_BUILD_DIR", os.path.join(
        os.path.dirname(__file__), "..", "..", "build"))
    lib = ctypes.CDLL(os.path.join(build, "lib", "libOptimRuntime.so"))
    vp, pp = ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p)
    err = ctypes.POINTER(ctypes.c_char_p)
    lib.optimCompile.restype = vp
    lib.optimCompile.argtypes = [ctypes.c_char_p, ctypes.c_size_t,
                                 ctypes.c_char_p, err]
    lib.optimDestroy.argtypes = [vp]
    lib.optimStep.argtypes = [vp, pp, pp, pp, err]
    lib.optimInitStates.argtypes = [vp, pp, err]
    lib.optimBoundStepCreate.restype = vp
    lib.optimBoundStepCreate.argtypes = [vp, err]
    lib.optimBoundStepDestroy.argtypes = [vp]
    lib.optimBoundStepAllocateStates.argtypes = [vp, err]
    for name in ("Params", "Grads", "States"):
        f = getattr(lib, "optimBoundStep" + name)
        f.restype, f.argtypes = pp, [vp]
    lib.optimBoundStepRun.argtypes = [vp, err]
    lib.optimBoundStepRunCompiledOnly.argtypes = [vp, err]
    lib.optimFreeError.argtypes = [ctypes.c_char_p]
    return lib


def test_c_api_bound_step_matches_optim_step():
    lib = load_runtime()
    shapes = [(4, 3), (17,), (1,)]
    params = [("p%d" % i, s, "float32") for i, s in enumerate(shapes)]
    source = ir.optimizer_ir("adam", {"beta1": 0.9, "beta2": 0.999,
                                      "eps": 1e-8}, params=params).encode()
    a = lib.optimCompile(source, len(source), None, None)
    b = lib.optimCompile(source, len(source), None, None)
    assert a and b
    rng = np.random.RandomState(0)
    pa = [rng.randn(*s).astype(np.float32) for s in shapes]
    pb = [x.copy() for x in pa]
    grads = [rng.randn(*s).astype(np.float32) for s in shapes]
    sa = [np.zeros(s, np.float32) for s in shapes for _ in range(2)]

    def ptrs(arrays):
        return (ctypes.c_void_p * len(arrays))(
            *[x.ctypes.data for x in arrays])

    assert lib.optimInitStates(a, ptrs(sa), None) == 0
    bound = lib.optimBoundStepCreate(b, None)
    error = ctypes.c_char_p()
    # The compiled call alone needs a run first.
    assert lib.optimBoundStepRunCompiledOnly(bound, ctypes.byref(error)) != 0
    assert b"must follow" in error.value
    assert lib.optimBoundStepAllocateStates(bound, None) == 0
    table_p = lib.optimBoundStepParams(bound)
    table_g = lib.optimBoundStepGrads(bound)
    table_s = lib.optimBoundStepStates(bound)
    for i in range(len(shapes)):
        table_p[i] = pb[i].ctypes.data
        table_g[i] = grads[i].ctypes.data
    for i in range(2 * len(shapes)):
        assert table_s[i] % 64 == 0
    for _ in range(5):
        assert lib.optimStep(a, ptrs(pa), ptrs(grads), ptrs(sa), None) == 0
        assert lib.optimBoundStepRun(bound, None) == 0
    for x, y in zip(pa, pb):
        assert np.array_equal(x, y)
    for i, s in enumerate(sa):
        n = s.size
        got = np.ctypeslib.as_array(
            ctypes.cast(table_s[i], ctypes.POINTER(ctypes.c_float)), (n,))
        assert np.array_equal(got, s.ravel())
    # A null pointer is caught before any write.
    table_g[1] = None
    before = [x.copy() for x in pb]
    assert lib.optimBoundStepRun(bound, ctypes.byref(error)) != 0
    assert b"null" in error.value
    for x, y in zip(before, pb):
        assert np.array_equal(x, y)
    lib.optimBoundStepDestroy(bound)
    lib.optimDestroy(a)
    lib.optimDestroy(b)
