"""Robustness of the Python binding and of both front ends:

* the binding takes each element type in exactly one representation
  (bfloat16: its bits as uint16), never another of the same size or byte
  order;
* a step that fails (a bad gradient, a bad hyper-parameter, a step count
  about to overflow, a compiled call that fails after another ran) leaves
  every parameter, state, step count and loss-scale state as it was, bit
  for bit;
* steps of one optimizer from several threads run one after the other, and
  another thread replacing or dropping the arrays of a running step neither
  crashes it nor changes its result;
* checkpoints refuse duplicate parameter names and step counts that are
  negative or would overflow at the next step;
* optimizers of default-named parameters share one compiled step.
"""

import math
import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest
import torch

import optim_mlir
from optim_mlir import ir, nn
from optim_mlir import torch as otorch
from optim_mlir._optim import cache_info

HERE = os.path.dirname(os.path.abspath(__file__))


# ---------------------------------------------------------------------------
# 1. Element types: exactly one representation each
# ---------------------------------------------------------------------------

# The NumPy form of each IR dtype.
_NUMPY = {"float32": np.float32, "float64": np.float64,
          "float16": np.float16, "bfloat16": np.uint16}
# Other dtypes of every size, both byte orders.
_OTHERS = [np.dtype(t) for t in ("float32", "float64", "float16", "int16",
                                 "uint16", "int32", "uint32", "int64",
                                 "int8", ">f4", ">f8", ">f2", ">u2")]


def _sgd(dtype, shape=(8,), sparse=False, rule="sgd", hyper=None):
    source = ir.optimizer_ir(rule, hyper or {}, params=[
        ("w", shape, dtype, sparse)], learning_rate=0.5)
    return optim_mlir.CompiledOptimizer(source)


def _arrays(opt, dtype, shape=(8,)):
    params = [np.ones(shape, _NUMPY[dtype])]
    grads = [np.ones(shape, _NUMPY[dtype])]
    states = [np.zeros(info["state_shapes"][s],
                       _NUMPY[info["state_dtypes"][s]])
              for info in opt.params for s in range(len(opt.state_names))]
    return params, grads, states


def _wrong_dtypes(dtype):
    want = np.dtype(_NUMPY[dtype])
    return [d for d in _OTHERS if d != want or not d.isnative]


@pytest.mark.parametrize("dtype", sorted(_NUMPY))
@pytest.mark.parametrize("slot", ["param", "grad", "state"])
def test_every_other_dtype_is_refused(dtype, slot):
    """Each slot of a step takes its dtype's one NumPy form: float16, int16
    and big-endian arrays for a bfloat16 (uint16) parameter, big-endian
    float32 for a float32 one, ... all raise a TypeError naming the
    expected dtype, and nothing is written."""
    opt = _sgd(dtype, rule="momentum", hyper={"momentum": 0.9})
    for wrong in _wrong_dtypes(dtype):
        params, grads, states = _arrays(opt, dtype)
        target = {"param": params, "grad": grads, "state": states}[slot]
        target[0] = np.zeros(target[0].shape, wrong)
        before = [a.copy() for a in params + states]
        with pytest.raises(TypeError, match="must have dtype %s" % dtype):
            opt.step(params, grads, states)
        for a, b in zip(params + states, before):
            assert a.tobytes() == b.tobytes()
    assert opt.global_step == 0
    # The expected form steps.
    params, grads, states = _arrays(opt, dtype)
    opt.step(params, grads, states)
    assert opt.global_step == 1


def test_bfloat16_takes_uint16_bits():
    """A bfloat16 step reads uint16 bit patterns: 1.0 - 0.5 * 1.0 = 0.5
    (0x3f00)."""
    opt = _sgd("bfloat16")
    params, grads, states = _arrays(opt, "bfloat16")
    params[0][:] = 0x3f80  # 1.0
    grads[0][:] = 0x3f80
    opt.step(params, grads, states)
    assert (params[0] == 0x3f00).all()


def test_sparse_values_and_indices_dtypes():
    opt = _sgd("float32", shape=(6, 2), sparse=True, rule="lazy_adam",
               hyper={"beta1": 0.9, "beta2": 0.999, "eps": 1e-8})
    params = [np.ones((6, 2), np.float32)]
    states = [np.zeros((6, 2), np.float32) for _ in opt.state_names]
    for idx, vals, match in [
            (np.array([1], ">i4"), np.ones((1, 2), np.float32),
             "must have dtype int32"),
            (np.array([1], np.int32), np.ones((1, 2), ">f4"),
             "must have dtype float32"),
            (np.array([1], np.int32), np.ones((1, 2), np.float16),
             "must have dtype float32")]:
        before = params[0].copy()
        with pytest.raises(TypeError, match=match):
            opt.step(params, [(idx, vals)], states)
        assert params[0].tobytes() == before.tobytes()


def test_misaligned_array_is_refused():
    opt = _sgd("float32")
    params, grads, states = _arrays(opt, "float32")
    raw = np.zeros(8 * 4 + 1, np.uint8)
    grads[0] = raw[1:].view(np.float32)
    assert not grads[0].flags.aligned
    with pytest.raises(ValueError, match="aligned"):
        opt.step(params, grads, states)


def test_bound_step_falls_back_for_foreign_byte_order():
    """The bound (fast) path of optim_mlir.nn refuses a big-endian gradient
    (the checked path then converts or raises): the result is that of the
    native gradient."""
    ps = [nn.Parameter(np.ones(8, np.float32), "w")]
    qs = [nn.Parameter(np.ones(8, np.float32), "w")]
    a, b = nn.SGD(ps, learning_rate=0.5), nn.SGD(qs, learning_rate=0.5)
    g = np.linspace(0, 1, 8).astype(np.float32)
    a((g,))
    b((g,))
    try:
        a((g.astype(">f4"),))
    except TypeError:
        pass  # refused: nothing may have changed
    else:
        b((g,))
    assert ps[0].data.tobytes() == qs[0].data.tobytes()


# ---------------------------------------------------------------------------
# 2. A failing step changes nothing
# ---------------------------------------------------------------------------

def _torch_snapshot(opt):
    """Every bit a step may change: parameters, every state entry (tensors
    as bytes), the state keys, the gradient control."""
    params = [p.detach().clone() for g in opt.param_groups
              for p in g["params"]]
    state = {}
    for p, s in opt.state.items():
        state[id(p)] = {k: (v.detach().clone() if torch.is_tensor(v) else v)
                        for k, v in s.items()}
    control = dict(opt._control().__dict__)
    control.pop("holder", None)
    return params, state, control


def _same(a, b):
    if torch.is_tensor(a):
        return torch.is_tensor(b) and a.dtype == b.dtype and \
            a.shape == b.shape and \
            a.view(-1).view(torch.uint8).tolist() == \
            b.reshape(-1).contiguous().view(torch.uint8).tolist()
    if isinstance(a, float) and isinstance(b, float) and \
            math.isnan(a) and math.isnan(b):
        return True
    return a == b


def _assert_unchanged(before, after):
    (p0, s0, c0), (p1, s1, c1) = before, after
    assert len(p0) == len(p1)
    for a, b in zip(p0, p1):
        assert _same(a, b)
    assert s0.keys() == s1.keys()
    for key in s0:
        assert list(s0[key]) == list(s1[key])
        for k in s0[key]:
            assert _same(s0[key][k], s1[key][k]), k
    assert c0.keys() == c1.keys()
    for k in c0:
        assert _same(c0[k], c1[k]), k


def _torch_model(cls, groups=2, **kwargs):
    torch.manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(5, 3)) for _ in range(2 * groups)]
    if groups == 1:
        return params, cls(params, lr=0.01, **kwargs)
    param_groups = [{"params": params[2 * i:2 * i + 2]} for i in range(groups)]
    # The second group differs in a rule option: its own compiled call.
    option = {otorch.Adam: {"amsgrad": True}, otorch.AdamW: {"amsgrad": True},
              otorch.SGD: {"nesterov": True, "momentum": 0.9,
                           "dampening": 0.0}}.get(cls, {})
    param_groups[-1].update(option)
    return params, cls(param_groups, lr=0.01, **kwargs)


def _grads(params, scale=1.0):
    for i, p in enumerate(params):
        p.grad = torch.full_like(p, 0.1 * (i + 1) * scale)


TORCH_CLASSES = [otorch.Adam, otorch.AdamW, otorch.SGD]


def _torch_failures():
    # (torch's grad setter refuses these; .data takes them.)
    def bad_dtype(params, opt):
        params[-1].grad.data = params[-1].grad.data.double()

    def bad_shape(params, opt):
        params[-1].grad.data = torch.zeros(2)

    def sparse(params, opt):
        params[-1].grad = params[-1].grad.to_sparse()
        if isinstance(opt, otorch.SGD):
            # SGD steps sparse gradients, but not with weight decay.
            opt.param_groups[-1]["weight_decay"] = 0.01

    def nan_lr(params, opt):
        opt.param_groups[-1]["lr"] = float("nan")

    def negative_step(params, opt):
        last = params[-1]
        if last in opt.state and "step" in opt.state[last]:
            opt.state[last]["step"] = torch.tensor(-1.0)
        else:
            opt.param_groups[-1]["lr"] = float("inf")

    def overflowing_step(params, opt):
        last = params[-1]
        if last in opt.state and "step" in opt.state[last]:
            opt.state[last]["step"] = torch.tensor(float(2 ** 63))
        else:
            opt.param_groups[-1]["lr"] = float("inf")

    return [bad_dtype, bad_shape, sparse, nan_lr, negative_step,
            overflowing_step]


@pytest.mark.parametrize("cls", TORCH_CLASSES, ids=lambda c: c.__name__)
@pytest.mark.parametrize("failure", _torch_failures(),
                         ids=lambda f: f.__name__)
@pytest.mark.parametrize("stepped", [0, 1, 3])
def test_torch_failing_step_changes_nothing(cls, failure, stepped):
    """Groups of their own compiled calls; the last parameter's gradient,
    group or step count is bad: the step raises and every parameter,
    state, state key and the gradient control keep their bits (after 0,
    1 or 3 good steps: checked path, first and later fast steps)."""
    params, opt = _torch_model(cls)
    for _ in range(stepped):
        _grads(params)
        opt.step()
    _grads(params, 2.0)
    failure(params, opt)
    before = _torch_snapshot(opt)
    with pytest.raises((ValueError, TypeError, RuntimeError)):
        opt.step()
    _assert_unchanged(before, _torch_snapshot(opt))


@pytest.mark.parametrize("cls", TORCH_CLASSES, ids=lambda c: c.__name__)
@pytest.mark.parametrize("control", ["none", "dynamic"])
@pytest.mark.parametrize("first_step", [False, True])
def test_torch_later_call_failing_changes_nothing(cls, control, first_step,
                                                  monkeypatch):
    """A compiled call that fails after another one ran (here the second
    call of the step): the first call's writes, the step counts, new state
    entries and the dynamic loss scale are put back, and the optimizer
    then steps as one that never failed."""
    kwargs = {}
    if control == "dynamic":
        kwargs = dict(loss_scale=otorch.DynamicLossScale(
            init_scale=4.0, growth_interval=1), max_grad_norm=10.0)
    params, opt = _torch_model(cls, **kwargs)
    twin_params, twin = _torch_model(cls, **kwargs)
    if not first_step:
        for ps, o in ((params, opt), (twin_params, twin)):
            _grads(ps)
            o.step()
    _grads(params, 3.0)
    before = _torch_snapshot(opt)
    real = type(opt)._run_signed
    calls = []

    def failing(self, targets, run):
        calls.append(targets)
        if len(calls) == 2:
            raise RuntimeError("injected failure")
        return real(self, targets, run)
    monkeypatch.setattr(type(opt), "_run_signed", failing)
    opt.__dict__["_plan"] = None  # the checked path: one call per group
    with pytest.raises(RuntimeError, match="injected failure"):
        opt.step()
    monkeypatch.setattr(type(opt), "_run_signed", real)
    assert len(calls) == 2
    _assert_unchanged(before, _torch_snapshot(opt))
    _grads(twin_params, 3.0)
    twin.step()
    opt.step()
    for a, b in zip(params, twin_params):
        assert _same(a.detach(), b.detach())
        sa, sb = opt.state[a], twin.state[b]
        assert list(sa) == list(sb)
        for k in sa:
            assert _same(sa[k], sb[k]), k
    assert opt._control().scale == twin._control().scale


def _nn_snapshot(opt):
    sd = opt.state_dict()

    def freeze(value):
        if isinstance(value, np.ndarray):
            return (value.dtype.str, value.shape, value.tobytes())
        if isinstance(value, dict):
            return {k: freeze(v) for k, v in value.items()}
        return value
    return freeze(sd)


def _nn_model(cls, sparse=False, **kwargs):
    rng = np.random.default_rng(0)
    params = [nn.Parameter(rng.standard_normal((6, 4)).astype(np.float32),
                           "p%d" % i) for i in range(3)]
    return params, cls(params, learning_rate=0.01, **kwargs)


def _nn_grads(params, scale=1.0):
    return tuple(np.full(p.shape, 0.1 * (i + 1) * scale, np.float32)
                 for i, p in enumerate(params))


NN_CLASSES = [(nn.Adam, {}), (nn.Momentum, {"momentum": 0.9}),
              (nn.LazyAdam, {})]


@pytest.mark.parametrize("cls,kwargs", NN_CLASSES,
                         ids=[c.__name__ for c, _ in NN_CLASSES])
@pytest.mark.parametrize("kind", ["dtype", "shape", "bad_rows", "count",
                                  "not_array"])
@pytest.mark.parametrize("stepped", [0, 2])
def test_nn_failing_step_changes_nothing(cls, kwargs, kind, stepped):
    """The last gradient is bad: the step raises and the checkpoint of the
    optimizer (parameters, states, global step) keeps its bits."""
    params, opt = _nn_model(cls, **kwargs)
    for _ in range(stepped):
        opt(_nn_grads(params))
    grads = list(_nn_grads(params, 2.0))
    if kind == "dtype":
        grads[-1] = grads[-1].astype(np.float64)
    elif kind == "shape":
        grads[-1] = grads[-1][:3]
    elif kind == "bad_rows":
        grads[-1] = (np.array([0, 7], np.int32), np.ones((2, 4), np.float32))
    elif kind == "count":
        grads = grads[:-1]
    else:
        grads[-1] = "gradient"
    before = _nn_snapshot(opt)
    with pytest.raises((ValueError, TypeError, IndexError,
                        NotImplementedError)):
        opt(tuple(grads))
    assert _nn_snapshot(opt) == before


class _FailingStep:
    """A compiled step whose step() fails (after the calls before it ran);
    everything else is the real one's."""

    def __init__(self, real):
        self.__dict__["_real"] = real

    def __getattr__(self, name):
        return getattr(self._real, name)

    def __setattr__(self, name, value):
        setattr(self._real, name, value)

    def step(self, *args):
        raise RuntimeError("injected failure")


def test_nn_later_part_failing_changes_nothing():
    """LazyAdam with a sparse and a dense gradient steps two compiled
    parts: when the second fails, the first part's writes are undone."""
    rng = np.random.default_rng(1)
    params = [nn.Parameter(rng.standard_normal((30, 8)).astype(np.float32),
                           "embedding"),
              nn.Parameter(rng.standard_normal((5, 4)).astype(np.float32),
                           "w")]
    opt = nn.LazyAdam(params, learning_rate=0.01)

    def grads():
        return ((np.array([1, 4], np.int32), np.ones((2, 8), np.float32)),
                np.ones((5, 4), np.float32))
    assert opt(grads()) is True
    assert len(opt._parts) == 2
    before = _nn_snapshot(opt)
    last = opt._parts[-1]
    real = last.compiled
    last.compiled = _FailingStep(real)
    with pytest.raises(RuntimeError, match="injected failure"):
        opt(grads())
    last.compiled = real
    assert _nn_snapshot(opt) == before
    assert opt(grads()) is True and opt.global_step == 2


def test_nn_step_at_int32_limit_is_refused_before_anything():
    params, opt = _nn_model(nn.Adam)
    opt(_nn_grads(params))
    opt.global_step = 2 ** 31 - 1
    before = _nn_snapshot(opt)
    with pytest.raises(ValueError, match="overflow"):
        opt(_nn_grads(params))
    assert _nn_snapshot(opt) == before


# ---------------------------------------------------------------------------
# 3, 4. Threads
# ---------------------------------------------------------------------------

N_THREADS, K_STEPS = 4, 25


def _adam(n):
    return optim_mlir.CompiledOptimizer(ir.optimizer_ir(
        "adam", {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8},
        params=[("w", (n,), "float32"), ("b", (n // 2,), "float32")],
        learning_rate=0.01))


def _adam_arrays(opt, n):
    rng = np.random.default_rng(5)
    params = [rng.standard_normal(n).astype(np.float32),
              rng.standard_normal(n // 2).astype(np.float32)]
    grads = [rng.standard_normal(n).astype(np.float32),
             rng.standard_normal(n // 2).astype(np.float32)]
    states = [np.zeros(info["state_shapes"][s], np.float32)
              for info in opt.params for s in range(len(opt.state_names))]
    return params, grads, states


@pytest.mark.parametrize("api", ["step", "bound"])
def test_threads_stepping_one_optimizer_equal_sequential_steps(api):
    """N threads x K steps of one CompiledOptimizer give exactly the bits
    of N*K sequential steps (the steps run one at a time)."""
    n = 1 << 17
    seq = _adam(n)
    sp, sg, ss = _adam_arrays(seq, n)
    for _ in range(N_THREADS * K_STEPS):
        seq.step(sp, sg, ss)

    opt = _adam(n)
    params, grads, states = _adam_arrays(opt, n)
    bound = opt.bind_numpy(params, states, [0, 1], 2)
    errors = []
    barrier = threading.Barrier(N_THREADS)

    def worker():
        try:
            barrier.wait()
            for _ in range(K_STEPS):
                if api == "step":
                    opt.step(params, grads, states)
                else:
                    assert bound.step(list(grads))
        except BaseException as e:  # reported below
            errors.append(e)
    threads = [threading.Thread(target=worker) for _ in range(N_THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert opt.global_step == N_THREADS * K_STEPS
    for a, b in zip(params + states, sp + ss):
        assert a.tobytes() == b.tobytes()


def test_threads_stepping_one_torch_optimizer_equal_sequential_steps():
    torch.manual_seed(3)
    init = [torch.randn(300, 200), torch.randn(77)]
    grads = [torch.randn_like(t) for t in init]

    def make():
        params = [torch.nn.Parameter(t.clone()) for t in init]
        for p, g in zip(params, grads):
            p.grad = g.clone()
        return params, otorch.Adam(params, lr=0.01)
    sp, seq = make()
    for _ in range(N_THREADS * K_STEPS):
        seq.step()
    params, opt = make()
    errors = []

    def worker():
        try:
            for _ in range(K_STEPS):
                opt.step()
        except BaseException as e:
            errors.append(e)
    threads = [threading.Thread(target=worker) for _ in range(N_THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for a, b in zip(params, sp):
        assert _same(a.detach(), b.detach())
    assert float(opt.state[params[0]]["step"]) == N_THREADS * K_STEPS


_HAMMER = textwrap.dedent("""
    import sys, threading
    import numpy as np
    sys.path[:0] = [{build!r}]
    import optim_mlir
    from optim_mlir import ir
    n = 1 << 20  # 4 MB arrays: freed memory is unmapped at once
    src = ir.optimizer_ir("sgd", {{}}, params=[("w", (n,), "float32")],
                          learning_rate=0.5)
    def run(hammer):
        opt = optim_mlir.CompiledOptimizer(src)
        params = [np.ones(n, np.float32)]
        grads = [np.full(n, 0.25, np.float32)]
        states = [np.zeros(s, np.float32) for s in
                  opt.params[0]["state_shapes"]]
        stop = False
        def replace():
            while not stop:
                grads[0] = np.full(n, 0.25, np.float32)
        t = threading.Thread(target=replace)
        if hammer:
            t.start()
        for _ in range(60):
            opt.step(params, grads, states)
        stop = True
        if hammer:
            t.join()
        return params[0]
    a, b = run(True), run(False)
    assert a.tobytes() == b.tobytes(), "results differ"
    print("ok")
""")


def test_replacing_arrays_during_a_step_neither_crashes_nor_corrupts():
    """One thread steps while another keeps replacing the gradient in the
    list the step was given (dropping the old array): the step owns the
    arrays it runs on. In a subprocess: a crash fails the test."""
    build = os.path.dirname(os.path.dirname(optim_mlir.__file__))
    result = subprocess.run(
        [sys.executable, "-c", _HAMMER.format(build=build)],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ok"


def test_bound_step_owns_its_gradients():
    """bind_grads keeps the gradients it bound alive until the next bind:
    dropping every other reference before run() is safe."""
    n = 1 << 20
    opt = optim_mlir.CompiledOptimizer(ir.optimizer_ir(
        "sgd", {}, params=[("w", (n,), "float32")], learning_rate=0.5))
    params = [np.ones(n, np.float32)]
    states = [np.zeros(n, np.float32)]  # sgd's accumulator (unused)
    bound = opt.bind_numpy(params, states, [0], 1)
    grads = [np.full(n, 0.5, np.float32)]
    assert bound.bind_grads(grads)
    del grads
    bound.run()
    assert (params[0] == 0.75).all()


# ---------------------------------------------------------------------------
# 5. Duplicate names
# ---------------------------------------------------------------------------

def test_renamed_duplicate_is_refused_at_save_and_load():
    params, opt = _nn_model(nn.Adam)
    opt(_nn_grads(params))
    sd = opt.state_dict()
    params[1].name = "p0"
    with pytest.raises(ValueError, match=r"\['p0'\].*more than once"):
        opt.state_dict()
    before = [p.asnumpy() for p in params]
    with pytest.raises(ValueError, match="more than once"):
        opt.load_state_dict(sd)
    for p, b in zip(params, before):
        assert p.data.tobytes() == b.tobytes()
    params[1].name = "p1"
    opt.load_state_dict(sd)


def test_renamed_duplicate_is_refused_at_compilation():
    params, opt = _nn_model(nn.Adam)
    params[2].name = "p1"
    with pytest.raises(ValueError, match="more than once"):
        opt(_nn_grads(params))
    assert opt.global_step == 0


# ---------------------------------------------------------------------------
# 6. Default names share one compiled step
# ---------------------------------------------------------------------------

def test_default_named_optimizers_share_one_compiled_step():
    def make():
        params = [nn.Parameter(np.ones((3, 2), np.float32)),
                  nn.Parameter(np.ones(5, np.float32))]
        opt = nn.Adam(params, learning_rate=0.01)
        opt((np.ones((3, 2), np.float32), np.ones(5, np.float32)))
        return opt
    texts = {make().compiled_ir()[0]}
    before = cache_info()
    for _ in range(500):
        texts.add(make().compiled_ir()[0])
    after = cache_info()
    assert len(texts) == 1
    new = (after["compilations"] - before["compilations"]) + \
        (after["disk_hits"] - before["disk_hits"])
    assert new == 0
    # The user-facing names stay the parameters' own.
    opt = make()
    assert [p.name for p in opt.parameters][0].startswith("Parameter_")
    assert set(opt.state_dict()["parameters"]) == \
        {p.name for p in opt.parameters}


def test_named_and_default_parameters_keep_the_decay_filter():
    """A default-named parameter decays (its IR name has no beta/gamma);
    a user's 'gamma' does not."""
    a = nn.Parameter(np.ones(4, np.float32))
    g = nn.Parameter(np.ones(4, np.float32), "ln.gamma")
    opt = nn.AdamWeightDecay([a, g], learning_rate=0.1, weight_decay=0.5)
    opt((np.zeros(4, np.float32), np.zeros(4, np.float32)))
    assert (a.data < 1.0).all() and (g.data == 1.0).all()
    assert '"ln.gamma"' in opt.compiled_ir()[0]


# ---------------------------------------------------------------------------
# 7. Step counts restored from checkpoints
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("step", [-1, 2 ** 31 - 1, 2 ** 40])
def test_nn_checkpoint_global_step_is_checked(step):
    params, opt = _nn_model(nn.Adam)
    opt(_nn_grads(params))
    sd = opt.state_dict()
    sd["global_step"] = step
    sd["parameters"] = {k: v + 1 for k, v in sd["parameters"].items()}
    before = _nn_snapshot(opt)
    with pytest.raises(ValueError, match="global_step"):
        opt.load_state_dict(sd)
    assert _nn_snapshot(opt) == before


@pytest.mark.parametrize("cls", [otorch.Adam, otorch.Adagrad],
                         ids=lambda c: c.__name__)
@pytest.mark.parametrize("step", [-1.0, float(2 ** 63), float("nan"),
                                  float("inf"), 2 ** 63 - 1, -3])
def test_torch_checkpoint_step_is_checked(cls, step):
    params, opt = _torch_model(cls, groups=1)
    _grads(params)
    opt.step()
    sd = opt.state_dict()
    saved = sd["state"][1]["step"]
    if isinstance(step, float):
        sd["state"][1]["step"] = torch.tensor(step) \
            if torch.is_tensor(saved) else step
    else:
        sd["state"][1]["step"] = step
    for s in sd["state"].values():
        for k, v in s.items():
            if torch.is_tensor(v) and k != "step":
                s[k] = v + 1
    before = _torch_snapshot(opt)
    with pytest.raises(ValueError, match="step count"):
        opt.load_state_dict(sd)
    _assert_unchanged(before, _torch_snapshot(opt))
    # A good count loads.
    sd["state"][1]["step"] = saved
    opt.load_state_dict(sd)
