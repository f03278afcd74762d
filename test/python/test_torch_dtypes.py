"""optim_mlir.torch on what torch 1.13 steps on the CPU besides dense
float32/float64 parameters: complex parameters, sparse gradients in SGD,
float16 and bfloat16 parameters, and ``differentiable=True``.

* Complex parameters step as their ``torch.view_as_real`` twins (torch
  1.13's Adam, AdamW, Adamax, Adadelta; SGD's complex arithmetic is the
  same update) with complex state tensors: checked against the twin
  stepped by optim_mlir.torch (bit for bit: the same compiled step on the
  same numbers), against torch.optim on the complex parameter
  (torch.testing.assert_close's float32 defaults, ``rtol=1.3e-6,
  atol=1e-5``) and through state_dicts moved between the two.
* Sparse gradients in SGD: torch's ``p -= lr * grad`` and momentum on the
  coalesced, densified gradient, against torch.optim.SGD on the same
  uncoalesced sparse gradients (same float32 tolerances: torch adds the
  duplicate entries one by one, the compiled step their coalesced sum);
  weight decay and ``foreach=True`` with momentum raise what torch raises.
* float16 / bfloat16: states in the parameter's dtype, element math in
  float32 rounded on store. Tolerances are in units of the dtype's machine
  epsilon times the largest magnitude of the reference (``k ulps``), after
  20 steps: within 2 of torch.optim on float32 copies with the rounding to
  the dtype applied after each step (the compiled step's arithmetic; 1.01
  seen), within 6 of torch.optim on the same dtype (bfloat16; float16 SGD;
  torch rounds after every operation: 4.04 seen for bfloat16 AdamW, 2.03
  for SGD with nesterov, 1 or less for Adam and RAdam) and within 6 of
  torch.optim on float32 copies (3.5 seen). Every class is also checked
  against its own float32 step (within 6; 3.4 seen). torch 1.13 raises
  RuntimeError for float16 Adam, AdamW, RAdam on the CPU (``addcmul_cpu_out``
  has no Half kernel), so those are compared with the float32 references
  only.
* ``differentiable=True`` (SGD, Adam, RMSprop: the classes whose torch
  1.13 counterpart takes it) runs torch's own step: gradcheck
  (torch's TestDifferentiableOptimizer cases) and equality with
  torch.optim's differentiable step.
"""

import copy

import pytest
import torch
from torch.testing import assert_close

import optim_mlir.torch as ot

pytestmark = pytest.mark.usefixtures("float32_default_dtype")

STEPS = 20


def _states(opt, p):
    return {k: v for k, v in opt.state[p].items() if torch.is_tensor(v)}


# --- complex parameters ------------------------------------------------------

COMPLEX_CONFIGS = [
    ("SGD", dict(lr=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.5, maximize=True)),
    ("Adam", dict(lr=1e-2)),
    ("Adam", dict(lr=1e-2, weight_decay=0.1, maximize=True)),
    ("AdamW", dict(lr=1e-2, weight_decay=0.1)),
    ("Adamax", dict(lr=1e-2, weight_decay=0.1)),
    ("Adadelta", dict(rho=0.95, weight_decay=0.1)),
]
COMPLEX_IDS = ["%s-%s" % (n, "-".join("%s=%s" % kv for kv in kw.items()))
               for n, kw in COMPLEX_CONFIGS]


@pytest.mark.parametrize("dtype", [torch.complex64, torch.complex128])
@pytest.mark.parametrize("name,kwargs", COMPLEX_CONFIGS, ids=COMPLEX_IDS)
def test_complex_against_torch(name, kwargs, dtype):
    """A complex parameter steps as torch.optim steps it; the states are
    complex tensors of the parameter's dtype, as torch's."""
    torch.manual_seed(1)
    p0 = torch.randn(6, 5, dtype=dtype)
    ours = p0.clone().requires_grad_()
    ref = p0.clone().requires_grad_()
    opt = getattr(ot, name)([ours], **kwargs)
    ref_opt = getattr(torch.optim, name)([ref], **kwargs)
    for _ in range(STEPS):
        g = torch.randn(6, 5, dtype=dtype)
        ours.grad, ref.grad = g.clone(), g.clone()
        opt.step()
        ref_opt.step()
        assert_close(ours, ref, rtol=1.3e-6, atol=1e-5)
    # (torch 1.13's Adadelta and Adamax count steps in Python ints.)
    theirs = {k: v for k, v in _states(ref_opt, ref).items() if k != "step"}
    mine = {k: v for k, v in _states(opt, ours).items() if k != "step"}
    assert sorted(mine) == sorted(theirs)
    for key, tensor in theirs.items():
        assert mine[key].dtype == tensor.dtype, key
        assert_close(mine[key], tensor, rtol=1.3e-6, atol=1e-5, msg=key)


# Classes whose twin steps every element on its own (or with norms of whole
# tensors, Lamb), so the complex parameter must match its real twin exactly.
TWIN_CONFIGS = COMPLEX_CONFIGS + [
    ("Adam", dict(lr=1e-2, amsgrad=True)),
    ("RAdam", dict(lr=1e-2, weight_decay=0.1)),
    ("Lamb", dict(lr=1e-2, weight_decay=0.1)),
    ("Lion", dict(lr=1e-3)),
    ("Adan", dict(lr=1e-2)),
]


@pytest.mark.parametrize("name,kwargs", TWIN_CONFIGS, ids=[
    "%s-%s" % (n, "-".join("%s=%s" % kv for kv in kw.items()))
    for n, kw in TWIN_CONFIGS])
def test_complex_matches_real_twin(name, kwargs):
    """torch: TestOptim._test_complex_optimizer (with every class here and
    20 steps): a complex parameter and its view_as_real twin step the same
    (bit for bit: the compiled step sees the same float32 numbers), the
    complex states viewing the twin's. Adam(amsgrad=True) on a complex
    parameter raises in torch 1.13 (its max_exp_avg_sq stays complex);
    here it steps as the twin."""
    torch.manual_seed(2)
    cplx = torch.randn(4, 7, dtype=torch.complex64, requires_grad=True)
    twin = torch.view_as_real(cplx).detach().clone().requires_grad_()
    opt = getattr(ot, name)([cplx], **kwargs)
    twin_opt = getattr(ot, name)([twin], **kwargs)
    for _ in range(STEPS):
        cplx.grad = torch.randn_like(cplx)
        twin.grad = torch.view_as_real(cplx.grad).clone()
        opt.step()
        twin_opt.step()
        assert torch.equal(torch.view_as_real(cplx.detach()), twin.detach())
    # The steps after the first took the fast path (the plan binds the
    # complex tensors' storage; maximize negates gradients on the checked
    # path). Adadelta keeps torch 1.13's int `step`, which the plan does
    # not count: every step of it takes the checked path.
    if not kwargs.get("maximize") and type(opt)._FAST_PATH:
        assert opt.__dict__["_plan"].fast_steps == STEPS - 1
    elif not type(opt)._FAST_PATH:
        assert opt.__dict__["_plan"] is None
    for key, tensor in _states(twin_opt, twin).items():
        mine = opt.state[cplx][key]
        if key == "step":
            assert torch.equal(mine, tensor)
        else:
            assert mine.dtype == torch.complex64, key
            assert torch.equal(torch.view_as_real(mine), tensor), key


@pytest.mark.parametrize("name,kwargs", [
    ("Adam", dict(lr=1e-2, weight_decay=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("Adadelta", dict()),
])
def test_complex_state_dict_moves_between_torch_and_ours(name, kwargs):
    """10 steps in one, the state_dict loaded into the other, 10 more steps
    side by side: torch -> ours and ours -> torch."""
    torch.manual_seed(3)
    for first, second in ((torch.optim, ot), (ot, torch.optim)):
        a = torch.randn(3, 4, dtype=torch.complex64, requires_grad=True)
        opt_a = getattr(first, name)([a], **kwargs)
        for _ in range(10):
            a.grad = torch.randn_like(a)
            opt_a.step()
        b = a.detach().clone().requires_grad_()
        opt_b = getattr(second, name)([b], **kwargs)
        opt_b.load_state_dict(copy.deepcopy(opt_a.state_dict()))
        for _ in range(10):
            g = torch.randn_like(a)
            a.grad, b.grad = g.clone(), g.clone()
            opt_a.step()
            opt_b.step()
            assert_close(b, a, rtol=1.3e-6, atol=1e-5)
        for key, tensor in _states(opt_a, a).items():
            assert opt_b.state[b][key].dtype == tensor.dtype


def test_complex_transposed_parameter():
    """A complex parameter in another dimension order (a transpose) steps
    over its storage as it lies, like the contiguous one."""
    torch.manual_seed(4)
    base = torch.randn(5, 3, dtype=torch.complex64)
    strided = base.clone().t().requires_grad_()   # shape (3, 5), transposed
    dense = base.clone().t().contiguous().requires_grad_()
    assert not strided.is_contiguous()
    opts = [ot.Adam([strided], lr=1e-2), ot.Adam([dense], lr=1e-2)]
    for _ in range(STEPS):
        g = torch.randn(3, 5, dtype=torch.complex64)
        strided.grad, dense.grad = g.clone(), g.clone()
        for o in opts:
            o.step()
        assert torch.equal(strided.detach(), dense.detach())
    assert opts[0].state[strided]["exp_avg"].stride() == strided.stride()


def test_complex_refused_by_adafactor():
    """Adafactor's row and column statistics are not defined for complex
    parameters (transformers' class has no complex handling either)."""
    p = torch.zeros(4, 4, dtype=torch.complex64, requires_grad=True)
    with pytest.raises(TypeError, match="complex"):
        ot.Adafactor([p])


@pytest.mark.filterwarnings("ignore:ComplexHalf support is experimental")
def test_complex32_refused():
    p = torch.zeros(4, dtype=torch.complex32, requires_grad=True)
    with pytest.raises(TypeError, match="supported dtypes"):
        ot.SGD([p], lr=0.1)


# --- sparse gradients in SGD -------------------------------------------------

def _sparse_rows(shape, generator):
    """An uncoalesced sparse gradient of a (rows, cols) parameter: random
    rows, some listed twice (as an embedding's gradient is)."""
    rows = torch.randint(0, shape[0], (7,), generator=generator)
    values = torch.randn(7, shape[1], generator=generator)
    return torch.sparse_coo_tensor(rows[None], values, shape)


SPARSE_CONFIGS = [
    dict(lr=0.1),
    dict(lr=0.1, maximize=True),
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.05, momentum=0.9, nesterov=True),
    dict(lr=0.05, momentum=0.8, dampening=0.3, foreach=False),
    dict(lr=0.1, foreach=True),
]


@pytest.mark.parametrize("kwargs", SPARSE_CONFIGS, ids=[
    "-".join("%s=%s" % kv for kv in kw.items()) for kw in SPARSE_CONFIGS])
def test_sgd_sparse_against_torch(kwargs):
    """40 steps of uncoalesced sparse row gradients, against torch.optim.SGD
    on the same gradients."""
    gen = torch.Generator().manual_seed(5)
    p0 = torch.randn(10, 3, generator=gen)
    ours = p0.clone().requires_grad_()
    ref = p0.clone().requires_grad_()
    opt, ref_opt = ot.SGD([ours], **kwargs), torch.optim.SGD([ref], **kwargs)
    for _ in range(40):
        g = _sparse_rows((10, 3), gen)
        ours.grad, ref.grad = g.clone(), g.clone()
        opt.step()
        ref_opt.step()
        assert_close(ours, ref, rtol=1.3e-6, atol=1e-5)
    buf = ref_opt.state[ref]["momentum_buffer"]
    if buf is None:
        assert opt.state[ours]["momentum_buffer"] is None
    else:
        # torch keeps the sparse sum; ours holds it dense.
        assert_close(opt.state[ours]["momentum_buffer"], buf.to_dense(),
                     rtol=1.3e-6, atol=1e-5)


def test_sgd_sparse_after_dense_steps():
    """Dense steps (the fast path binds them), then sparse ones, then dense
    again, with momentum: as torch.optim.SGD."""
    gen = torch.Generator().manual_seed(6)
    p0 = torch.randn(8, 4, generator=gen)
    ours = p0.clone().requires_grad_()
    ref = p0.clone().requires_grad_()
    kwargs = dict(lr=0.05, momentum=0.9)
    opt, ref_opt = ot.SGD([ours], **kwargs), torch.optim.SGD([ref], **kwargs)
    for i in range(30):
        g = _sparse_rows((8, 4), gen)
        if not 10 <= i < 20:
            g = g.to_dense()
        ours.grad, ref.grad = g.clone(), g.clone()
        opt.step()
        ref_opt.step()
        assert_close(ours, ref, rtol=1.3e-6, atol=1e-5)
        if i == 9:
            assert opt.__dict__["_plan"].fast_steps > 0


def test_sgd_sparse_loads_torch_state():
    """torch's sparse momentum buffer (from a state_dict) is read as the
    dense buffer it stands for."""
    gen = torch.Generator().manual_seed(7)
    ref = torch.randn(6, 2, generator=gen).requires_grad_()
    ref_opt = torch.optim.SGD([ref], lr=0.05, momentum=0.9)
    for _ in range(5):
        ref.grad = _sparse_rows((6, 2), gen)
        ref_opt.step()
    assert ref_opt.state[ref]["momentum_buffer"].is_sparse
    ours = ref.detach().clone().requires_grad_()
    opt = ot.SGD([ours], lr=0.05, momentum=0.9)
    opt.load_state_dict(copy.deepcopy(ref_opt.state_dict()))
    for _ in range(10):
        g = _sparse_rows((6, 2), gen)
        ours.grad, ref.grad = g.clone(), g.clone()
        opt.step()
        ref_opt.step()
        assert_close(ours, ref, rtol=1.3e-6, atol=1e-5)


SPARSE_ERRORS = [
    (dict(lr=0.1, weight_decay=0.1), 0, RuntimeError,
     r"add\(sparse, dense\) is not supported"),
    (dict(lr=0.1, weight_decay=0.1, momentum=0.9), 0, RuntimeError,
     r"add\(sparse, dense\) is not supported"),
    # torch's foreach step lacks sparse kernels: on the first step with
    # maximize, weight decay or nesterov; with momentum once the buffer
    # exists (the second step).
    (dict(lr=0.1, foreach=True, maximize=True), 0, NotImplementedError,
     "maximize"),
    (dict(lr=0.1, foreach=True, weight_decay=0.1), 0, NotImplementedError,
     "weight_decay"),
    (dict(lr=0.1, foreach=True, momentum=0.9, nesterov=True), 0,
     NotImplementedError, "nesterov"),
    (dict(lr=0.1, foreach=True, momentum=0.9), 1, NotImplementedError,
     "momentum buffers"),
]


@pytest.mark.parametrize("kwargs,fail_at,exc,match", SPARSE_ERRORS, ids=[
    "-".join("%s=%s" % kv for kv in c[0].items()) for c in SPARSE_ERRORS])
def test_sgd_sparse_errors_as_torch(kwargs, fail_at, exc, match):
    """torch.optim.SGD raises on these sparse steps (at step `fail_at`): so
    does ours, at the same step and before writing anything."""
    gen = torch.Generator().manual_seed(8)
    grads = [_sparse_rows((5, 2), gen) for _ in range(fail_at + 1)]
    p0 = torch.randn(5, 2, generator=gen)
    for module in (torch.optim, ot):
        p = p0.clone().requires_grad_()
        opt = module.SGD([p], **kwargs)
        for g in grads[:fail_at]:
            p.grad = g.clone()
            opt.step()
        before = p.detach().clone()
        p.grad = grads[fail_at].clone()
        with pytest.raises(exc, match=match if module is ot else None):
            opt.step()
        if module is ot:
            assert torch.equal(p.detach(), before)
            assert bool(opt.state) == (fail_at > 0)


@pytest.mark.parametrize("name", ["Adam", "AdamW", "RAdam", "Adamax",
                                  "Adadelta", "Lion", "RMSprop", "ASGD",
                                  "Rprop", "NAdam"])
def test_sparse_gradient_refused_elsewhere(name):
    """torch's classes other than SGD (and SparseAdam, Adagrad) raise
    RuntimeError on a sparse gradient."""
    p = torch.zeros(5, 2, requires_grad=True)
    p.grad = _sparse_rows((5, 2), torch.Generator().manual_seed(9))
    with pytest.raises(RuntimeError, match="sparse gradients"):
        getattr(ot, name)([p]).step()
    assert torch.equal(p.detach(), torch.zeros(5, 2))


# --- sparse gradients in Adagrad and SparseAdam ------------------------------

def _untouched(grad):
    """The rows of a (rows, cols) parameter that the sparse `grad` does
    not hold."""
    held = set(grad.coalesce().indices()[0].tolist())
    return [r for r in range(grad.shape[0]) if r not in held]


ADAGRAD_SPARSE_CONFIGS = [
    dict(lr=0.1),
    dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1),
    dict(lr=0.05, maximize=True, eps=1e-6),
    # No eps and no initial sum: an untouched entry with a zero sum would
    # be 0 / 0 in a dense step; torch's sparse step leaves it alone.
    dict(lr=0.1, eps=0.0),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("kwargs", ADAGRAD_SPARSE_CONFIGS, ids=[
    "-".join("%s=%s" % kv for kv in kw.items())
    for kw in ADAGRAD_SPARSE_CONFIGS])
def test_adagrad_sparse_against_torch(kwargs, dtype):
    """torch: TestOptim.test_adagrad_sparse (torch's _make_sparse step): 40
    steps of uncoalesced sparse row gradients, then dense ones, against
    torch.optim.Adagrad on the same gradients (float32: rtol=1.3e-6,
    atol=1e-5; float64: rtol=1e-12, atol=1e-14). The rows a sparse
    gradient does not hold keep the values they had, in the parameter
    and in `sum`, bit for bit."""
    tol = dict(rtol=1.3e-6, atol=1e-5) if dtype == torch.float32 else \
        dict(rtol=1e-12, atol=1e-14)
    gen = torch.Generator().manual_seed(16)
    p0 = torch.randn(12, 3, generator=gen, dtype=dtype)
    ours = p0.clone().requires_grad_()
    ref = p0.clone().requires_grad_()
    opt = ot.Adagrad([ours], **kwargs)
    ref_opt = torch.optim.Adagrad([ref], **kwargs)
    for i in range(50):
        g = _sparse_rows((12, 3), gen).to(dtype)
        if i >= 40:
            g = g.to_dense()
        ours.grad, ref.grad = g.clone(), g.clone()
        before = ours.detach().clone()
        sum_before = opt.state[ours]["sum"].clone()
        opt.step()
        ref_opt.step()
        assert_close(ours, ref, **tol)
        assert_close(opt.state[ours]["sum"], ref_opt.state[ref]["sum"],
                     **tol)
        assert torch.equal(opt.state[ours]["step"],
                           ref_opt.state[ref]["step"])
        if g.is_sparse:
            rows = _untouched(g)
            assert torch.equal(ours.detach()[rows], before[rows])
            assert torch.equal(opt.state[ours]["sum"][rows],
                               sum_before[rows])
    assert torch.isfinite(ours.detach()).all()
    assert list(opt.state[ours]) == list(ref_opt.state[ref])


def test_adagrad_sparse_weight_decay_raises():
    """torch.optim.Adagrad raises RuntimeError for weight decay with a
    sparse gradient; so does ours, before writing anything."""
    g = _sparse_rows((5, 2), torch.Generator().manual_seed(17))
    for module in (torch.optim, ot):
        p = torch.ones(5, 2, requires_grad=True)
        opt = module.Adagrad([p], weight_decay=0.1)
        p.grad = g.clone()
        with pytest.raises(RuntimeError, match="weight_decay option is not "
                           "compatible with sparse gradients"):
            opt.step()
        assert torch.equal(p.detach(), torch.ones(5, 2))
        assert float(opt.state[p]["step"]) == (
            0.0 if module is ot else 1.0)  # torch counted it first


@pytest.mark.parametrize("name", ["Adagrad", "SparseAdam"])
def test_sparse_complex_refused(name):
    """torch 1.13's sparse Adagrad and SparseAdam steps run complex
    arithmetic (complex g * g and sqrt; its dense steps use the
    view_as_real twin): a complex parameter with a sparse gradient raises
    NotImplementedError here, before any write."""
    p0 = torch.randn(5, 2, dtype=torch.complex64)
    p = p0.clone().requires_grad_()
    p.grad = torch.sparse_coo_tensor(torch.tensor([[1, 3]]),
                                     torch.randn(2, 2, dtype=torch.complex64),
                                     (5, 2))
    with pytest.raises(NotImplementedError, match="complex arithmetic"):
        getattr(ot, name)([p]).step()
    assert torch.equal(p.detach(), p0)


SPARSE_ADAM_CONFIGS = [
    dict(),
    dict(lr=0.01, betas=(0.8, 0.9), eps=1e-6),
    dict(lr=0.02, maximize=True),
    dict(lr=0.01, betas=(0.0, 0.5)),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("kwargs", SPARSE_ADAM_CONFIGS, ids=[
    "-".join("%s=%s" % kv for kv in kw.items()) or "defaults"
    for kw in SPARSE_ADAM_CONFIGS])
def test_sparse_adam_against_torch(kwargs, dtype):
    """torch: TestOptim.test_sparse_adam. 40 steps of uncoalesced sparse
    row gradients on two parameters (one a transposed view's base layout:
    a non-contiguous parameter), against torch.optim.SparseAdam (float32:
    rtol=1.3e-6, atol=1e-5; float64: rtol=1e-12, atol=1e-14); untouched
    rows of the parameter and of both moments keep their values bit for
    bit; `step` is torch's int; the compiled steps are reused across the
    changing counts of touched entries (a power-of-two buffer per count
    range: at most 2 compiles per dtype here)."""
    tol = dict(rtol=1.3e-6, atol=1e-5) if dtype == torch.float32 else \
        dict(rtol=1e-12, atol=1e-14)
    gen = torch.Generator().manual_seed(18)
    a0 = torch.randn(12, 3, generator=gen, dtype=dtype)
    b0 = torch.randn(4, 9, generator=gen, dtype=dtype).t()  # (9, 4)
    ours = [a0.clone().requires_grad_(),
            b0.clone().t().contiguous().t().requires_grad_()]
    ref = [a0.clone().requires_grad_(), b0.clone().requires_grad_()]
    assert not ours[1].is_contiguous()
    opt = ot.SparseAdam(ours, **kwargs)
    ref_opt = torch.optim.SparseAdam(ref, **kwargs)
    count = ot.compile_count
    for _ in range(40):
        grads = [_sparse_rows(tuple(p.shape), gen).to(dtype) for p in ours]
        befores = [(p.detach().clone(),
                    {k: opt.state[p][k].clone() for k in
                     ("exp_avg", "exp_avg_sq")} if p in opt.state else None)
                   for p in ours]
        for p, q, g in zip(ours, ref, grads):
            p.grad, q.grad = g.clone(), g.clone()
        opt.step()
        ref_opt.step()
        for p, q, g, (before, states) in zip(ours, ref, grads, befores):
            assert_close(p, q, **tol)
            s, t = opt.state[p], ref_opt.state[q]
            assert list(s) == list(t) == ["step", "exp_avg", "exp_avg_sq"]
            assert s["step"] == t["step"] and isinstance(s["step"], int)
            for key in ("exp_avg", "exp_avg_sq"):
                assert_close(s[key], t[key], **tol)
            rows = _untouched(g)
            assert torch.equal(p.detach()[rows], before[rows])
            if states is not None:
                for key, old in states.items():
                    assert torch.equal(s[key][rows], old[rows])
    assert ot.compile_count - count <= 2


def test_sparse_adam_errors_as_torch():
    """A dense gradient raises torch's RuntimeError (before any write);
    a sparse parameter torch's ValueError."""
    for module in (torch.optim, ot):
        p = torch.ones(4, requires_grad=True)
        opt = module.SparseAdam([p])
        p.grad = torch.ones(4)
        with pytest.raises(RuntimeError, match="SparseAdam does not support "
                           "dense gradients, please consider Adam instead"):
            opt.step()
        assert torch.equal(p.detach(), torch.ones(4))
        with pytest.raises(ValueError, match=r"Sparse params at indices "
                           r"\[0\]: SparseAdam requires dense parameter"):
            module.SparseAdam([torch.zeros(3).to_sparse()])


def test_sparse_adam_state_dict_both_ways():
    """A state_dict of ours loads into torch.optim.SparseAdam and back, and
    both carry on as one."""
    gen = torch.Generator().manual_seed(19)
    p0 = torch.randn(8, 2, generator=gen)
    ours = p0.clone().requires_grad_()
    ref = p0.clone().requires_grad_()
    opt, ref_opt = ot.SparseAdam([ours], lr=0.05), \
        torch.optim.SparseAdam([ref], lr=0.05)
    for i in range(20):
        g = _sparse_rows((8, 2), gen)
        ours.grad, ref.grad = g.clone(), g.clone()
        opt.step()
        ref_opt.step()
        if i == 9:
            theirs = copy.deepcopy(ref_opt.state_dict())
            ref_opt.load_state_dict(copy.deepcopy(opt.state_dict()))
            opt.load_state_dict(theirs)
        assert_close(ours, ref, rtol=1.3e-6, atol=1e-5)
    assert opt.state[ours]["step"] == 20


# --- float16 and bfloat16 ----------------------------------------------------

HALF_CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-2)),
    ("SGD", dict(lr=0.05, momentum=0.8, dampening=0.1)),
    ("Adam", dict(lr=1e-2)),
    ("Adam", dict(lr=1e-2, weight_decay=0.1, amsgrad=True)),
    ("AdamW", dict(lr=1e-2, weight_decay=0.1)),
    ("RAdam", dict(lr=1e-2)),
    ("RAdam", dict(lr=1e-2, weight_decay=0.1)),
]
HALF_IDS = ["%s-%s" % (n, "-".join("%s=%s" % kv for kv in kw.items()))
            for n, kw in HALF_CONFIGS]

# The (class, dtype) pairs whose torch 1.13 CPU step raises (no Half kernel
# of addcmul / addcdiv).
_TORCH_CPU_LACKS = {("Adam", torch.float16), ("AdamW", torch.float16),
                    ("RAdam", torch.float16)}


def _ulps(actual, expected, dtype):
    """max |actual - expected| in units of `dtype`'s epsilon times the
    largest magnitude of `expected`."""
    scale = torch.finfo(dtype).eps * expected.float().abs().max()
    return float((actual.float() - expected.float()).abs().max() / scale)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16],
                         ids=["float16", "bfloat16"])
@pytest.mark.parametrize("name,kwargs", HALF_CONFIGS, ids=HALF_IDS)
def test_half_against_torch(name, kwargs, dtype):
    torch.manual_seed(10)
    p0 = torch.randn(33, 17).to(dtype)
    grads = [torch.randn(33, 17).to(dtype) for _ in range(STEPS)]
    ours = p0.clone().requires_grad_()
    opt = getattr(ot, name)([ours], **kwargs)
    cls = getattr(torch.optim, name)
    # torch on float32 copies, rounded to `dtype` after each step (the
    # compiled step's arithmetic), and torch on float32 copies as they are.
    rounded = p0.float().requires_grad_()
    rounded_opt = cls([rounded], **kwargs)
    f32 = p0.float().requires_grad_()
    f32_opt = cls([f32], **kwargs)
    same = None
    if (name, dtype) not in _TORCH_CPU_LACKS:
        same = p0.clone().requires_grad_()
        same_opt = cls([same], **kwargs)
    for g in grads:
        ours.grad = g.clone()
        opt.step()
        rounded.grad = g.float()
        rounded_opt.step()
        with torch.no_grad():
            rounded.copy_(rounded.to(dtype).float())
            for key, t in _states(rounded_opt, rounded).items():
                if key != "step":
                    t.copy_(t.to(dtype).float())
        f32.grad = g.float()
        f32_opt.step()
        if same is not None:
            same.grad = g.clone()
            same_opt.step()
    assert ours.dtype == dtype
    assert opt.__dict__["_plan"].fast_steps == STEPS - 1
    for key, t in _states(opt, ours).items():
        assert t.dtype == (torch.float32 if key == "step" else dtype), key
    assert _ulps(ours, rounded, dtype) <= 2
    assert _ulps(ours, f32, dtype) <= 6
    if same is not None:
        assert _ulps(ours, same, dtype) <= 6
        for key, t in _states(same_opt, same).items():
            assert _states(opt, ours)[key].dtype == t.dtype, key


def test_torch_lacks_cpu_half_adam():
    """The reason float16 Adam is not compared with torch on float16: torch
    1.13 raises there (if a later torch steps it, compare it too)."""
    p = torch.zeros(3, dtype=torch.float16, requires_grad=True)
    p.grad = torch.ones(3, dtype=torch.float16)
    with pytest.raises(RuntimeError, match="Half"):
        torch.optim.Adam([p]).step()


def _all_classes():
    names = ["SGD", "Adam", "AdamW", "Lamb", "Adafactor"]
    names += sorted(n for n in ot.__all__ if n not in names and
                    isinstance(getattr(ot, n), type))
    return names


_CLASS_ARGS = {"SGD": dict(lr=0.1),
               "Adafactor": dict(lr=1e-2, relative_step=False)}


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16],
                         ids=["float16", "bfloat16"])
@pytest.mark.parametrize("name", _all_classes())
def test_half_accepted_by_every_class(name, dtype):
    """Every class steps float16 and bfloat16 parameters (states in the
    parameter's dtype), close to its own float32 step: within 6 ulps of
    the dtype at the largest magnitude after 20 steps."""
    torch.manual_seed(11)
    p0 = torch.randn(12, 9).to(dtype)
    half = p0.clone().requires_grad_()
    full = p0.float().requires_grad_()
    kwargs = _CLASS_ARGS.get(name, {})
    opts = [getattr(ot, name)([half], **kwargs),
            getattr(ot, name)([full], **kwargs)]
    for _ in range(STEPS):
        g = torch.randn(12, 9).to(dtype)
        half.grad, full.grad = g.clone(), g.float()
        if name == "SparseAdam":
            # It takes sparse gradients only (here holding every entry).
            half.grad, full.grad = half.grad.to_sparse(), \
                full.grad.to_sparse()
        for o in opts:
            o.step()
    assert torch.isfinite(half.float()).all()
    assert not torch.equal(half.detach(), p0)
    for key, t in _states(opts[0], half).items():
        # torch 1.13 keeps `step` and the per-parameter scalar tensors
        # (ASGD's eta and mu, NAdam's mu_product, created by torch.tensor)
        # in float32 whatever the parameter's dtype (torch.optim.ASGD and
        # NAdam on a float16 or bfloat16 CPU parameter do).
        scalar = key in ("step", "eta", "mu", "mu_product")
        assert t.dtype == (torch.float32 if scalar else dtype), key
    assert _ulps(half, full, dtype) <= 6


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16],
                         ids=["float16", "bfloat16"])
def test_half_transposed_and_sliced(dtype):
    """A transposed (stepped over its storage) and a sliced (stepped through
    a copy) half-precision parameter step as the contiguous one."""
    torch.manual_seed(12)
    base = torch.randn(7, 5).to(dtype)
    dense = base.clone().t().contiguous().requires_grad_()
    transposed = base.clone().t().requires_grad_()
    sliced = torch.zeros(5, 14, dtype=dtype)
    sliced[:, ::2] = dense.detach()
    sliced = sliced[:, ::2].detach().requires_grad_()
    params = [dense, transposed, sliced]
    opts = [ot.Adam([p], lr=1e-2) for p in params]
    for _ in range(STEPS):
        g = torch.randn(5, 7).to(dtype)
        for p, o in zip(params, opts):
            p.grad = g.clone()
            o.step()
        assert torch.equal(transposed.detach(), dense.detach())
        assert torch.equal(sliced.detach(), dense.detach())


def test_bfloat16_state_dict_moves_to_torch():
    """A bfloat16 Adam checkpoint of ours loads into torch.optim.Adam (and
    back), states in bfloat16."""
    torch.manual_seed(13)
    ours = torch.randn(4, 6).to(torch.bfloat16).requires_grad_()
    opt = ot.Adam([ours], lr=1e-2)
    for _ in range(5):
        ours.grad = torch.randn(4, 6).to(torch.bfloat16)
        opt.step()
    ref = ours.detach().clone().requires_grad_()
    ref_opt = torch.optim.Adam([ref], lr=1e-2)
    ref_opt.load_state_dict(copy.deepcopy(opt.state_dict()))
    assert ref_opt.state[ref]["exp_avg"].dtype == torch.bfloat16
    back = ot.Adam([ours.detach().clone().requires_grad_()], lr=1e-2)
    back.load_state_dict(copy.deepcopy(ref_opt.state_dict()))
    for key, t in _states(opt, ours).items():
        assert torch.equal(next(iter(back.state.values()))[key], t)


# --- differentiable=True -----------------------------------------------------

def _diff_step(p, grad, state, opt_class, kwargs, *tracked):
    # torch: test/test_optim.py _diff_fn (TestDifferentiableOptimizer).
    p = p.clone()
    p.grad = grad
    state = {k: v.clone() if torch.is_tensor(v) else v
             for k, v in state.items()}
    opt = opt_class([p], **kwargs)
    opt.state[p].update(state)
    opt.step()
    return (p,) + tuple(v for v in state.values()
                        if torch.is_tensor(v) and v.requires_grad)


def _r64(*shape):
    return torch.rand(*shape, dtype=torch.float64, requires_grad=True)


DIFF_CASES = [
    # torch: TestDifferentiableOptimizer.test_sgd
    ("SGD", lambda: {"momentum_buffer": _r64(10)},
     dict(lr=0.9, differentiable=True)),
    ("SGD", lambda: {"momentum_buffer": _r64(10)},
     dict(lr=0.9, momentum=0.9, nesterov=True, weight_decay=0.1,
          differentiable=True)),
    # (torch detaches a new momentum buffer: a case without one would not
    # pass gradcheck with torch.optim.SGD either.)
    ("SGD", lambda: {"momentum_buffer": _r64(10)},
     dict(lr=0.9, momentum=0.5, dampening=0.2, maximize=True,
          differentiable=True)),
    # torch: TestDifferentiableOptimizer.test_adam
    ("Adam", lambda: {"step": torch.tensor(10.0, dtype=torch.float64),
                      "exp_avg": _r64(10), "exp_avg_sq": _r64(10),
                      "max_exp_avg_sq": _r64(10)},
     dict(lr=0.9, differentiable=True, amsgrad=True)),
    ("Adam", lambda: {"step": torch.tensor(3.0, dtype=torch.float64),
                      "exp_avg": _r64(10), "exp_avg_sq": _r64(10)},
     dict(lr=0.9, weight_decay=0.1, maximize=True, differentiable=True)),
    # torch: TestDifferentiableOptimizer.test_rmsprop
    ("RMSprop", lambda: {"step": 0, "square_avg": _r64(10),
                         "momentum_buffer": _r64(10),
                         "grad_avg": 1e-2 * _r64(10)},
     dict(lr=0.9, maximize=True, momentum=0.9, differentiable=True,
          centered=True, weight_decay=0.1)),
    ("RMSprop", lambda: {"step": 4, "square_avg": _r64(10)},
     dict(lr=0.5, alpha=0.9, differentiable=True)),
]


@pytest.mark.parametrize("name,state,kwargs", DIFF_CASES,
                         ids=["%s-%d" % (c[0], i)
                              for i, c in enumerate(DIFF_CASES)])
def test_differentiable(name, state, kwargs):
    """gradcheck through one step, and the step equals torch.optim's."""
    torch.manual_seed(14)
    p, grad, state = _r64(10), _r64(10), state()
    cls = getattr(ot, name)
    assert torch.autograd.gradcheck(
        _diff_step, (p, grad, state, cls, kwargs, *state.values()))
    ours = _diff_step(p, grad, state, cls, kwargs, *state.values())
    ref = _diff_step(p, grad, state, getattr(torch.optim, name), kwargs,
                     *state.values())
    for a, b in zip(ours, ref):
        assert a.requires_grad
        assert torch.equal(a, b)


def test_differentiable_off_resumes_compiled_steps():
    """Steps with differentiable=True keep torch's state; turned off, the
    compiled step carries on from it, as torch.optim.Adam does."""
    torch.manual_seed(15)
    # (Parameters that do not require grad: torch's differentiable step
    # records the graph and refuses in-place updates of leaves that do.)
    ours = torch.randn(9)
    ref = ours.clone()
    opt = ot.Adam([ours], lr=1e-2, differentiable=True)
    ref_opt = torch.optim.Adam([ref], lr=1e-2, differentiable=True)
    count = ot.compile_count
    for i in range(10):
        if i == 5:
            for o in (opt, ref_opt):
                o.param_groups[0]["differentiable"] = False
        g = torch.randn(9)
        ours.grad, ref.grad = g.clone(), g.clone()
        opt.step()
        ref_opt.step()
        assert_close(ours, ref, rtol=1.3e-6, atol=1e-5)
        if i < 5:
            assert ot.compile_count == count  # eager: nothing compiled
    assert ot.compile_count > count
    assert float(opt.state[ours]["step"]) == 10.0


def test_adam_fused_differentiable_refused():
    p = torch.zeros(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="`fused` cannot be "
                                           "`differentiable`"):
        ot.Adam([p], fused=True, differentiable=True)
