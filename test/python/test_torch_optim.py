"""optim_mlir.torch: torch.optim front end on the compiled CPU step.

SGD, Adam and AdamW run side by side with torch.optim's own classes (same
initial tensors, same gradients) for >= 20 steps and are compared after every
step, parameters and states. Tolerances: float32 ``rtol=1e-4, atol=1e-5``;
float64 ``rtol=1e-5, atol=1e-6`` (the compiled step reads hyper-parameters from
a float32 table, so float64 runs differ from torch at float32 precision of
lr/eps/betas, not of the arithmetic). Lamb (not in torch) is compared with the
NumPy reference (``reference.ReferenceOptimizer("lamb", ..., mode="uniform")``
with ``variant="mindspore"``: MindSpore's kernel, which the compiled
``optim.lamb_update`` implements per OptimOps.td: eps inside the square root
of the trust-ratio norm, ratio 1 when ``|param|`` or ``|grad|`` is 0, clipped
to [0, 10]) with test_cpu_numerics' tolerances ``rtol=2e-4, atol=2e-5``.
Checkpoint round trips are bit-identical.

Every test runs with torch's default dtype set to float32 (another test module
sets it to float64 at import).
"""

import copy
import io
import math

import numpy as np
import pytest
import torch

import optim_mlir.torch as ot
import reference as R

STEPS = 20
TOL = {torch.float32: dict(rtol=1e-4, atol=1e-5),
       torch.float64: dict(rtol=1e-5, atol=1e-6)}

# Shapes: a matrix, a vector, a rank-3 tensor, one element, a scalar and an
# empty tensor.
SHAPES = [(8, 5), (5,), (3, 4, 2), (1,), (), (0,)]


pytestmark = pytest.mark.usefixtures("float32_default_dtype")


@pytest.fixture
def compiles(monkeypatch):
    """Counts the CompiledOptimizer objects optim_mlir.torch creates (through
    the front ends' shared compiler)."""
    from optim_mlir import _compiled
    sources = []
    real = _compiled.CompiledOptimizer

    def counting(source, options=""):
        sources.append(source)
        return real(source, options)

    monkeypatch.setattr(_compiled, "CompiledOptimizer", counting)
    return sources


def make_init(shapes=SHAPES, dtype=torch.float32, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(s, generator=gen, dtype=dtype) for s in shapes]


def make_params(init):
    return [torch.nn.Parameter(t.clone()) for t in init]


def grouped(params, spec):
    """``spec``: None (one plain list) or group dicts whose ``idx`` names
    parameter indices."""
    if spec is None:
        return list(params)
    groups = []
    for g in spec:
        group = {k: v for k, v in g.items() if k != "idx"}
        group["params"] = [params[i] for i in g["idx"]]
        groups.append(group)
    return groups


def set_grads(param_lists, gen, mask=None, scale=1.0):
    """Same random gradient on the i-th parameter of every list (None where
    ``mask[i]`` is False)."""
    for i, p in enumerate(param_lists[0]):
        if mask is not None and not mask[i]:
            for ps in param_lists:
                ps[i].grad = None
            continue
        g = scale * torch.randn(p.shape, generator=gen, dtype=p.dtype)
        for ps in param_lists:
            ps[i].grad = g.clone()


def assert_same_state(ours, ref, ours_params, ref_params, tol, when=""):
    for i, (a, b) in enumerate(zip(ours_params, ref_params)):
        torch.testing.assert_close(a.detach(), b.detach(), **tol,
                                   msg=lambda m: "param %d %s: %s" % (i, when, m))
        sa, sb = ours.state.get(a), ref.state.get(b)
        if sb is None or len(sb) == 0:
            assert sa is None or len(sa) == 0, "param %d %s" % (i, when)
            continue
        assert set(sa) == set(sb), (i, set(sa), set(sb))
        for key in sb:
            va, vb = sa[key], sb[key]
            if vb is None:
                assert va is None, (i, key)
            elif key == "step":
                assert float(va) == float(vb), (i, key, va, vb)
            else:
                torch.testing.assert_close(
                    va, vb, **tol,
                    msg=lambda m: "state %s of %d %s: %s" % (key, i, when, m))


def run_against_torch(ours_cls, torch_cls, kwargs, spec=None,
                      dtype=torch.float32, steps=STEPS, masks=None,
                      schedule=None, seed=0):
    """Steps both optimizers on the same gradients, comparing every step.
    Returns (ours optimizer, its params)."""
    init = make_init(dtype=dtype, seed=seed)
    pa, pb = make_params(init), make_params(init)
    oa = ours_cls(grouped(pa, spec), **kwargs)
    ob = torch_cls(grouped(pb, spec), **kwargs)
    sa = schedule(oa) if schedule else None
    sb = schedule(ob) if schedule else None
    gen = torch.Generator().manual_seed(seed + 100)
    for step in range(steps):
        set_grads([pa, pb], gen, masks[step % len(masks)] if masks else None)
        oa.step()
        ob.step()
        if schedule:
            sa.step()
            sb.step()
            for ga, gb in zip(oa.param_groups, ob.param_groups):
                assert ga["lr"] == gb["lr"]
        assert_same_state(oa, ob, pa, pb, TOL[dtype], "step %d" % step)
    return oa, pa


# ---------------------------------------------------------------- SGD

SGD_CASES = [
    dict(lr=0.1),
    dict(lr=0.1, weight_decay=0.05),
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.05, momentum=0.9, dampening=0.3),
    dict(lr=0.05, momentum=0.8, dampening=0.1, weight_decay=0.02),
    dict(lr=0.05, momentum=0.9, nesterov=True),
    dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
    dict(lr=0.05, momentum=0.9, maximize=True, weight_decay=0.01),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64],
                         ids=["f32", "f64"])
@pytest.mark.parametrize("kwargs", SGD_CASES, ids=lambda k: "-".join(
    "%s=%s" % kv for kv in k.items()))
def test_sgd_matches_torch(kwargs, dtype, compiles):
    run_against_torch(ot.SGD, torch.optim.SGD, kwargs, dtype=dtype)
    assert len(compiles) == 1


def test_sgd_groups_match_torch(compiles):
    """Groups with their own lr / weight decay / momentum / nesterov (rule
    options differ between groups: one compiled structure per option set)."""
    spec = [dict(idx=[0, 3], lr=0.2, weight_decay=0.0),
            dict(idx=[1, 5], momentum=0.5, dampening=0.2, weight_decay=0.1),
            dict(idx=[2, 4], momentum=0.9, nesterov=True, lr=0.01)]
    run_against_torch(ot.SGD, torch.optim.SGD,
                      dict(lr=0.05, momentum=0.9, weight_decay=0.01), spec=spec)
    assert len(compiles) == 2  # nesterov and not


# ---------------------------------------------------------------- Adam

ADAM_CASES = [
    dict(),
    dict(lr=0.01, betas=(0.8, 0.95), eps=1e-6),
    dict(lr=0.01, weight_decay=0.1),
    dict(lr=0.01, amsgrad=True),
    dict(lr=0.02, amsgrad=True, weight_decay=0.05, betas=(0.5, 0.9)),
    dict(lr=0.01, maximize=True),
    dict(lr=0.01, betas=(0.0, 0.99)),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64],
                         ids=["f32", "f64"])
@pytest.mark.parametrize("kwargs", ADAM_CASES, ids=lambda k: "-".join(
    "%s=%s" % kv for kv in k.items()) or "default")
def test_adam_matches_torch(kwargs, dtype, compiles):
    run_against_torch(ot.Adam, torch.optim.Adam, kwargs, dtype=dtype)
    assert len(compiles) == 1


def test_adam_long_run_matches_torch():
    """100 steps: the eps rescaling follows t (bias corrections near 1)."""
    run_against_torch(ot.Adam, torch.optim.Adam, dict(lr=0.01, eps=1e-3),
                      steps=100)


def test_adam_groups_match_torch(compiles):
    spec = [dict(idx=[0, 1], lr=0.02, weight_decay=0.1),
            dict(idx=[2, 5], betas=(0.5, 0.9), eps=1e-4),
            dict(idx=[3, 4], amsgrad=True, lr=0.005)]
    run_against_torch(ot.Adam, torch.optim.Adam, dict(lr=0.01), spec=spec)
    assert len(compiles) == 2  # amsgrad and not


# ---------------------------------------------------------------- AdamW

ADAMW_CASES = [
    dict(),
    dict(lr=0.01, weight_decay=0.5),
    dict(lr=0.01, weight_decay=0.0),
    dict(lr=0.02, betas=(0.7, 0.9), eps=1e-5, weight_decay=0.1),
    dict(lr=0.01, maximize=True),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64],
                         ids=["f32", "f64"])
@pytest.mark.parametrize("kwargs", ADAMW_CASES, ids=lambda k: "-".join(
    "%s=%s" % kv for kv in k.items()) or "default")
def test_adamw_matches_torch(kwargs, dtype, compiles):
    run_against_torch(ot.AdamW, torch.optim.AdamW, kwargs, dtype=dtype)
    assert len(compiles) == 1


def test_adamw_groups_match_torch(compiles):
    spec = [dict(idx=[0, 1, 2], lr=0.02, weight_decay=0.2),
            dict(idx=[3, 4, 5], weight_decay=0.0, betas=(0.8, 0.99))]
    run_against_torch(ot.AdamW, torch.optim.AdamW, dict(lr=0.01), spec=spec)
    assert len(compiles) == 1


def test_adamw_rescaling_algebra():
    """The AdamW -> adam_weight_decay mapping, checked in float64 NumPy for
    several t: compiled(lr', eps', wd') == torch's decoupled AdamW."""
    rng = np.random.default_rng(0)
    lr, eps, wd, b1, b2 = 0.01, 1e-8, 0.3, 0.9, 0.999
    for t in (1, 2, 7, 100):
        p = rng.standard_normal(10)
        m = rng.standard_normal(10)
        v = rng.random(10)
        bc1, bc2 = 1 - b1 ** t, 1 - b2 ** t
        torch_p = p * (1 - lr * wd)
        torch_p = torch_p - lr / bc1 * m / (np.sqrt(v) / math.sqrt(bc2) + eps)
        lr_, eps_ = lr * math.sqrt(bc2) / bc1, eps * math.sqrt(bc2)
        wd_ = wd * bc1 / math.sqrt(bc2)
        ours = p - lr_ * (m / (np.sqrt(v) + eps_) + wd_ * p)
        np.testing.assert_allclose(ours, torch_p, rtol=1e-13, atol=1e-15)


# ---------------------------------------------------------------- Lamb

LAMB_TOL = dict(rtol=2e-4, atol=2e-5)


def _lamb_reference(init, variant, groups, lr, **hyper):
    names = ["p%d" % i for i in range(len(init))]
    arrays = [(n, t.double().numpy()) for n, t in zip(names, init)]
    return R.ReferenceOptimizer(
        "lamb", [{"params": [arrays[i] for i in g["idx"]], "lr": g["lr"],
                  "weight_decay": g["weight_decay"]} for g in groups],
        learning_rate=lr, mode="uniform", variant=variant, **hyper)


@pytest.mark.parametrize("kwargs", [
    dict(lr=0.01),
    dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05),
], ids=["plain", "decay"])
def test_lamb_matches_reference(kwargs, compiles):
    """MindSpore's Lamb kernel, in the cases where its trust ratio differs
    from the plain |p| / |u|: tiny gradients (eps inside the square root
    matters), a large parameter (ratio clipped to 10), a zero parameter and a
    parameter whose gradient is all zeros every 4th step (ratio 1)."""
    shapes = [(8, 5), (5,), (3, 4, 2), (1,), (6,), (4, 3)]
    grad_scale = [1.0, 1.0, 1e-4, 1.0, 1.0, 1.0]
    init = make_init(shapes, seed=3)
    init[1].mul_(100.0)  # |p| / |u| ~ 100: clipped
    init[4].zero_()      # |p| == 0: ratio 1
    params = make_params(init)
    opt = ot.Lamb(params, **kwargs)
    betas = kwargs.get("betas", (0.9, 0.999))
    hyper = dict(beta1=betas[0], beta2=betas[1], eps=kwargs.get("eps", 1e-6))
    groups = [dict(idx=list(range(len(shapes))), lr=kwargs["lr"],
                   weight_decay=kwargs.get("weight_decay", 0.0))]
    ref = _lamb_reference(init, "mindspore", groups, kwargs["lr"], **hyper)
    other = _lamb_reference(init, "documented", groups, kwargs["lr"], **hyper)
    gen = torch.Generator().manual_seed(7)
    for step in range(STEPS):
        for i, p in enumerate(params):
            p.grad = grad_scale[i] * torch.randn(p.shape, generator=gen)
        if step % 4 == 1:
            params[5].grad.zero_()
        opt.step()
        grads = [p.grad.double().numpy() for p in params]
        ref.step(grads)
        other.step(grads)
        for i, p in enumerate(params):
            np.testing.assert_allclose(p.detach().numpy(), ref.params[i],
                                       **LAMB_TOL, err_msg="param %d" % i)
            st = opt.state[p]
            assert int(st["step"]) == step + 1
            np.testing.assert_allclose(st["exp_avg"].numpy(),
                                       ref.states[i]["moment1"], **LAMB_TOL)
            np.testing.assert_allclose(st["exp_avg_sq"].numpy(),
                                       ref.states[i]["moment2"], **LAMB_TOL)
    # The cases above do tell the two readings of Lamb apart.
    differs = [not np.allclose(p.detach().numpy(), other.params[i],
                               **LAMB_TOL) for i, p in enumerate(params)]
    assert differs[1] and differs[2] and differs[5], differs
    assert len(compiles) == 1


def test_lamb_groups_and_schedule_match_reference(compiles):
    """Two groups (different lr / weight decay); an LR scheduler halving the
    lr every 5 steps (the reference gets the same per-step lr list)."""
    shapes = [(8, 5), (5,), (3, 4, 2), (4,)]
    init = make_init(shapes, seed=5)
    params = make_params(init)
    opt = ot.Lamb([{"params": params[:2], "lr": 0.02, "weight_decay": 0.1},
                   {"params": params[2:], "lr": 0.01}], weight_decay=0.0)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=5, gamma=0.5)
    lrs = lambda base: [base * 0.5 ** (s // 5) for s in range(STEPS)]
    ref = _lamb_reference(
        init, "mindspore",
        [dict(idx=[0, 1], lr=np.array(lrs(0.02)), weight_decay=0.1),
         dict(idx=[2, 3], lr=np.array(lrs(0.01)), weight_decay=0.0)],
        np.array(lrs(0.01)))
    gen = torch.Generator().manual_seed(9)
    for step in range(STEPS):
        set_grads([params], gen)
        opt.step()
        sched.step()
        ref.step([p.grad.double().numpy() for p in params])
        for i, p in enumerate(params):
            np.testing.assert_allclose(p.detach().numpy(), ref.params[i],
                                       **LAMB_TOL, err_msg="param %d" % i)
    assert len(compiles) == 1


# ---------------------------------------------------- grads None / zero_grad

MASKS = [
    [True, False, True, True, True, False],
    [True, True, False, True, True, False],
    [False, True, True, True, False, False],
    [True, True, True, False, True, True],
]


@pytest.mark.parametrize("ours_cls,torch_cls,kwargs", [
    (ot.SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9, dampening=0.3)),
    (ot.SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True)),
    (ot.SGD, torch.optim.SGD, dict(lr=0.05)),
    (ot.Adam, torch.optim.Adam, dict(lr=0.01, amsgrad=True)),
    (ot.Adam, torch.optim.Adam, dict(lr=0.01, weight_decay=0.1)),
    (ot.AdamW, torch.optim.AdamW, dict(lr=0.01)),
], ids=["sgd-dampening", "sgd-nesterov", "sgd-plain", "adam-amsgrad",
        "adam-decay", "adamw"])
def test_none_grads_are_skipped(ours_cls, torch_cls, kwargs):
    """Parameters with grad None are skipped, as torch does: no state is
    created for them, and their own step counts (Adam) / first momentum
    update (SGD) stay exact when others step without them (parameter 5
    first gets a gradient at step 3)."""
    ours, params = run_against_torch(ours_cls, torch_cls, kwargs, masks=MASKS,
                                     steps=24)
    if ours_cls is not ot.SGD:
        steps = [int(ours.state[p]["step"]) for p in params]
        assert steps == [18, 18, 18, 18, 18, 6]


def test_skipped_parameter_keeps_values_and_no_state(compiles):
    params = make_params(make_init())
    before = [p.detach().clone() for p in params]
    opt = ot.Adam(params, lr=0.1)
    gen = torch.Generator().manual_seed(0)
    for _ in range(STEPS):
        set_grads([params], gen, mask=[True, True, False, True, True, True])
        opt.step()
    assert torch.equal(params[2].detach(), before[2])
    assert params[2] not in opt.state
    assert 2 not in opt.state_dict()["state"]
    assert not torch.equal(params[0].detach(), before[0])
    assert len(compiles) == 1  # the same set of parameters every step


def test_no_grads_at_all_is_a_noop(compiles):
    params = make_params(make_init())
    before = [p.detach().clone() for p in params]
    opt = ot.SGD(params, lr=0.1, momentum=0.9)
    opt.step()
    assert all(torch.equal(a.detach(), b) for a, b in zip(params, before))
    assert len(opt.state) == 0 and len(compiles) == 0


def test_zero_grad():
    params = make_params(make_init())
    opt = ot.SGD(params, lr=0.1)
    gen = torch.Generator().manual_seed(0)
    set_grads([params], gen)
    opt.zero_grad()  # torch 1.13: set_to_none=False by default
    assert all(p.grad is not None and not p.grad.any() for p in params)
    before = [p.detach().clone() for p in params]
    opt.step()  # zero gradients: a step with g = 0 (plain SGD: no change)
    assert all(torch.equal(a.detach(), b) for a, b in zip(params, before))
    opt.zero_grad(set_to_none=True)
    assert all(p.grad is None for p in params)
    # With momentum, a zero gradient still moves the parameters (as torch),
    # while grad None does not.
    opt2 = ot.SGD(params, lr=0.1, momentum=0.9)
    set_grads([params], gen)
    opt2.step()
    opt2.zero_grad()
    mid = [p.detach().clone() for p in params]
    opt2.step()
    moved = [not torch.equal(a.detach(), b) for a, b in zip(params, mid)]
    assert moved[0]
    opt2.zero_grad(set_to_none=True)
    mid = [p.detach().clone() for p in params]
    opt2.step()
    assert all(torch.equal(a.detach(), b) for a, b in zip(params, mid))


def test_non_contiguous_gradient_is_read():
    """Gradients are only read: a non-contiguous one goes through a copy."""
    init = make_init([(4, 3)])
    pa, pb = make_params(init), make_params(init)
    oa, ob = ot.Adam(pa, lr=0.01), torch.optim.Adam(pb, lr=0.01)
    gen = torch.Generator().manual_seed(0)
    for _ in range(STEPS):
        g = torch.randn(3, 4, generator=gen).t()
        assert not g.is_contiguous()
        pa[0].grad, pb[0].grad = g.clone().t().contiguous().t(), g.clone()
        oa.step()
        ob.step()
    torch.testing.assert_close(pa[0].detach(), pb[0].detach(),
                               **TOL[torch.float32])


# ------------------------------------------------- hyper-parameters / schedulers

SCHEDULERS = {
    "StepLR": lambda o: torch.optim.lr_scheduler.StepLR(o, 7, gamma=0.5),
    "CosineAnnealingLR":
        lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=20),
    "LambdaLR": lambda o: torch.optim.lr_scheduler.LambdaLR(
        o, lambda epoch: 1.0 / (1.0 + 0.3 * epoch)),
    "ExponentialLR":
        lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.93),
}


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
@pytest.mark.parametrize("ours_cls,torch_cls,kwargs", [
    (ot.SGD, torch.optim.SGD, dict(lr=0.1, momentum=0.9, weight_decay=0.01)),
    (ot.Adam, torch.optim.Adam, dict(lr=0.02, weight_decay=0.01)),
    (ot.AdamW, torch.optim.AdamW, dict(lr=0.02)),
], ids=["sgd", "adam", "adamw"])
def test_scheduler_never_recompiles(name, ours_cls, torch_cls, kwargs,
                                    compiles):
    """A torch LR scheduler edits param_groups[i]['lr'] every step: 50 steps,
    one compilation, and the same trajectory as torch.optim."""
    spec = [dict(idx=[0, 1, 2]), dict(idx=[3, 4, 5], lr=kwargs["lr"] / 2)]
    before = ot.compile_count
    ours, _ = run_against_torch(ours_cls, torch_cls, kwargs, spec=spec,
                                steps=50, schedule=SCHEDULERS[name])
    assert len(compiles) == 1
    assert ot.compile_count - before == 1
    assert ours.num_compiled == 1


def test_one_cycle_lr_edits_betas_without_recompiling(compiles):
    """OneCycleLR also cycles Adam's beta1 (group['betas']): runtime data."""
    sched = lambda o: torch.optim.lr_scheduler.OneCycleLR(
        o, max_lr=0.05, total_steps=60)
    run_against_torch(ot.Adam, torch.optim.Adam, dict(lr=0.01), steps=50,
                      schedule=sched)
    assert len(compiles) == 1


def test_editing_any_hyper_parameter_never_recompiles(compiles):
    """Changing weight decay, momentum, dampening, betas and eps between steps
    (including weight decay from 0 to non-zero) matches torch, no
    recompilation."""
    for ours_cls, torch_cls, kwargs, edits in [
        (ot.SGD, torch.optim.SGD, dict(lr=0.1, momentum=0.5),
         [("weight_decay", 0.1), ("momentum", 0.9), ("dampening", 0.2),
          ("lr", 0.01)]),
        (ot.Adam, torch.optim.Adam, dict(lr=0.01),
         [("weight_decay", 0.1), ("betas", (0.8, 0.99)), ("eps", 1e-3),
          ("lr", 0.03)]),
        (ot.AdamW, torch.optim.AdamW, dict(lr=0.01, weight_decay=0.0),
         [("weight_decay", 0.3), ("betas", (0.5, 0.9)), ("eps", 1e-4)]),
    ]:
        del compiles[:]

        def schedule(opt, edits=edits):
            class Editor:
                n = 0

                def step(self):
                    self.n += 1
                    if self.n % 5 == 0 and self.n // 5 <= len(edits):
                        key, value = edits[self.n // 5 - 1]
                        for g in opt.param_groups:
                            g[key] = value
            return Editor()
        run_against_torch(ours_cls, torch_cls, kwargs, steps=30,
                          schedule=schedule)
        assert len(compiles) == 1, ours_cls


def test_sgd_momentum_from_zero_starts_a_buffer():
    """momentum 0 keeps momentum_buffer None (torch); turning momentum on
    later starts the buffer from the gradient, as torch does."""
    def schedule(opt):
        class Editor:
            n = 0

            def step(self):
                self.n += 1
                if self.n == 6:
                    for g in opt.param_groups:
                        g["momentum"], g["dampening"] = 0.9, 0.5
        return Editor()
    ours, params = run_against_torch(ot.SGD, torch.optim.SGD, dict(lr=0.1),
                                     steps=20, schedule=schedule)
    assert ours.state[params[0]]["momentum_buffer"] is not None


# ------------------------------------------------- state_dict / checkpoints

def _train(opt, params, gen, steps, masks=None):
    for s in range(steps):
        set_grads([params], gen, masks[s % len(masks)] if masks else None)
        opt.step()


CHECKPOINT_CASES = [
    (ot.SGD, dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    (ot.SGD, dict(lr=0.05)),
    (ot.Adam, dict(lr=0.01, amsgrad=True, weight_decay=0.01)),
    (ot.AdamW, dict(lr=0.01)),
    (ot.Lamb, dict(lr=0.01, weight_decay=0.01)),
]


@pytest.mark.parametrize("cls,kwargs", CHECKPOINT_CASES,
                         ids=lambda x: getattr(x, "__name__", ""))
def test_checkpoint_resume_is_bit_identical(cls, kwargs):
    """Continue training from a (serialized) checkpoint == uninterrupted
    training, bit for bit, including grads-None steps before the checkpoint."""
    init = make_init(seed=11)
    params = make_params(init)
    opt = cls(params, **kwargs)
    gen = torch.Generator().manual_seed(1)
    _train(opt, params, gen, 10, masks=MASKS)
    buffer = io.BytesIO()
    torch.save({"params": [p.detach().clone() for p in params],
                "opt": opt.state_dict()}, buffer)
    gen_state = gen.get_state()
    _train(opt, params, gen, 10)

    buffer.seek(0)
    ckpt = torch.load(buffer)
    params2 = make_params(ckpt["params"])
    opt2 = cls(params2, **kwargs)
    opt2.load_state_dict(ckpt["opt"])
    gen2 = torch.Generator()
    gen2.set_state(gen_state)
    _train(opt2, params2, gen2, 10)

    for a, b in zip(params, params2):
        assert torch.equal(a.detach(), b.detach())
    sd, sd2 = opt.state_dict(), opt2.state_dict()
    assert sd["param_groups"] == sd2["param_groups"]
    assert sd["state"].keys() == sd2["state"].keys()
    for k in sd["state"]:
        for key, value in sd["state"][k].items():
            other = sd2["state"][k][key]
            if value is None:
                assert other is None
            else:
                assert torch.equal(value, other), (k, key)


def test_state_dict_uses_torch_names():
    params = make_params(make_init())
    gen = torch.Generator().manual_seed(0)
    for ours_cls, torch_cls, kwargs in [
        (ot.SGD, torch.optim.SGD, dict(lr=0.1, momentum=0.9)),
        (ot.SGD, torch.optim.SGD, dict(lr=0.1)),
        (ot.Adam, torch.optim.Adam, dict(amsgrad=True)),
        (ot.Adam, torch.optim.Adam, dict()),
        (ot.AdamW, torch.optim.AdamW, dict()),
    ]:
        pa, pb = make_params(params), make_params(params)
        oa, ob = ours_cls(pa, **kwargs), torch_cls(pb, **kwargs)
        set_grads([pa, pb], gen)
        oa.step()
        ob.step()
        sa, sb = oa.state_dict(), ob.state_dict()
        assert sa["state"].keys() == sb["state"].keys()
        for k in sb["state"]:
            assert list(sa["state"][k]) == list(sb["state"][k])
            for key, v in sb["state"][k].items():
                if torch.is_tensor(v):
                    assert sa["state"][k][key].dtype == v.dtype
                    assert sa["state"][k][key].shape == v.shape
        assert list(sa["param_groups"][0]) == list(sb["param_groups"][0])
    lamb = ot.Lamb(make_params(params))
    set_grads([lamb.param_groups[0]["params"]], gen)
    lamb.step()
    assert set(lamb.state_dict()["state"][0]) == {"step", "exp_avg",
                                                  "exp_avg_sq"}


@pytest.mark.parametrize("ours_cls,torch_cls,kwargs", [
    (ot.Adam, torch.optim.Adam, dict(lr=0.01, weight_decay=0.05)),
    (ot.Adam, torch.optim.Adam, dict(lr=0.01, amsgrad=True)),
    (ot.AdamW, torch.optim.AdamW, dict(lr=0.01)),
    (ot.SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9, dampening=0.2)),
], ids=["adam", "adam-amsgrad", "adamw", "sgd"])
def test_torch_checkpoint_loads_and_continues(ours_cls, torch_cls, kwargs):
    """A state_dict saved by torch.optim.X (some parameters skipped at the
    start) loads into optim_mlir.torch.X and continues like torch; and the
    other way round."""
    init = make_init(seed=2)
    pt = make_params(init)
    ot_ = torch_cls(grouped(pt, [dict(idx=[0, 1, 2]),
                                 dict(idx=[3, 4, 5], lr=0.02)]), **kwargs)
    gen = torch.Generator().manual_seed(3)
    _train(ot_, pt, gen, 8, masks=MASKS)
    sd = copy.deepcopy(ot_.state_dict())

    # torch -> ours
    pa = make_params([p.detach() for p in pt])
    oa = ours_cls(grouped(pa, [dict(idx=[0, 1, 2]), dict(idx=[3, 4, 5])]),
                  **kwargs)
    oa.load_state_dict(sd)
    assert oa.param_groups[1]["lr"] == 0.02
    # ours -> torch (from ours' own state_dict after the load)
    pb = make_params([p.detach() for p in pt])
    ob = torch_cls(grouped(pb, [dict(idx=[0, 1, 2]), dict(idx=[3, 4, 5])]),
                   **kwargs)
    ob.load_state_dict(copy.deepcopy(oa.state_dict()))

    for step in range(15):
        set_grads([pt, pa, pb], gen)
        ot_.step()
        oa.step()
        ob.step()
        assert_same_state(oa, ot_, pa, pt, TOL[torch.float32], "step %d" % step)
        assert_same_state(ob, ot_, pb, pt, TOL[torch.float32], "step %d" % step)


# ---------------------------------------------------------------- errors

def test_constructor_errors():
    p = torch.nn.Parameter(torch.randn(3))
    with pytest.raises(ValueError, match="required optimization parameter"):
        ot.SGD([p])
    with pytest.raises(ValueError, match="Invalid learning rate"):
        ot.SGD([p], lr=-1.0)
    with pytest.raises(ValueError, match="Nesterov"):
        ot.SGD([p], lr=0.1, momentum=0.9, dampening=0.1, nesterov=True)
    with pytest.raises(ValueError, match="Invalid beta"):
        ot.Adam([p], betas=(1.0, 0.999))
    with pytest.raises(ValueError, match="Invalid epsilon"):
        ot.AdamW([p], eps=-1.0)
    with pytest.raises(ValueError, match="Invalid weight_decay"):
        ot.Lamb([p], weight_decay=-0.1)
    with pytest.raises(ValueError, match="empty parameter list"):
        ot.Adam([])
    with pytest.raises(RuntimeError, match="`fused` cannot be"):
        ot.Adam([p], fused=True, differentiable=True)
    with pytest.raises(NotImplementedError, match="capturable"):
        ot.Adam([p], capturable=True)
    # SparseAdam: torch's strict lr > 0 and eps > 0.
    with pytest.raises(ValueError, match="Invalid learning rate: 0.0"):
        ot.SparseAdam([p], lr=0.0)
    with pytest.raises(ValueError, match="Invalid epsilon value: 0.0"):
        ot.SparseAdam([p], eps=0.0)
    # Rprop: torch's eta check before the record's ranges.
    with pytest.raises(ValueError, match="Invalid eta values: 1.0, 0.5"):
        ot.Rprop([p], etas=(1.0, 0.5))
    # AdamW(amsgrad=True) steps (rule adam_weight_decay's use_amsgrad), in
    # the constructor and in add_param_group, as torch's does.
    opt = ot.AdamW([p], amsgrad=True)
    opt.add_param_group({"params": [torch.nn.Parameter(torch.randn(2))],
                         "amsgrad": True})
    assert [g["amsgrad"] for g in opt.param_groups] == [True, True]
    # differentiable only where torch's class takes it (TypeError).
    with pytest.raises(TypeError, match="differentiable"):
        ot.AdamW([p], differentiable=True)


def test_tensor_errors():
    with pytest.raises(TypeError, match="float32"):
        ot.Adam([torch.arange(3)])
    with pytest.raises(ValueError, match="CPU"):
        ot.Adam([torch.nn.Parameter(torch.empty(3, device="meta"))])
    if torch.cuda.is_available():
        with pytest.raises(ValueError, match="CPU"):
            ot.Adam([torch.nn.Parameter(torch.randn(3, device="cuda"))])
    # The same tensor twice (torch warns, and would step it twice).
    p = torch.nn.Parameter(torch.randn(3))
    with pytest.warns(UserWarning, match="duplicate"):
        opt = ot.SGD([p, p], lr=0.1)
    p.grad = torch.randn(3)
    with pytest.raises(ValueError, match="twice"):
        opt.step()
    # Sparse gradients.
    emb = torch.nn.Embedding(10, 3, sparse=True)
    opt = ot.Adam(emb.parameters())
    emb(torch.tensor([1, 2])).sum().backward()
    with pytest.raises(RuntimeError, match="sparse"):
        opt.step()


def test_bad_hyper_parameter_at_step_leaves_everything_unchanged():
    params = make_params(make_init())
    opt = ot.Adam([{"params": params[:3]}, {"params": params[3:]}], lr=0.1)
    gen = torch.Generator().manual_seed(0)
    set_grads([params], gen)
    opt.param_groups[1]["lr"] = float("nan")
    before = [p.detach().clone() for p in params]
    with pytest.raises(ValueError, match="lr must be finite"):
        opt.step()
    assert all(torch.equal(a.detach(), b) for a, b in zip(params, before))
    assert len(opt.state) == 0
    opt.param_groups[1]["capturable"] = True
    opt.param_groups[1]["lr"] = 0.1
    with pytest.raises(NotImplementedError, match="capturable"):
        opt.step()
    assert all(torch.equal(a.detach(), b) for a, b in zip(params, before))
    opt.param_groups[1]["capturable"] = False
    opt.step()
    assert all(int(opt.state[p]["step"]) == 1 for p in params)


# ---------------------------------------------------------------- end to end

class MLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(8, 32)
        self.fc2 = torch.nn.Linear(32, 1)

    def forward(self, x):
        return self.fc2(torch.tanh(self.fc1(x)))


def _regression_data():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(256, 8, generator=gen)
    w = torch.randn(8, 1, generator=gen)
    y = torch.sin(x @ w) + 0.1 * x[:, :1] ** 2
    return x, y


@pytest.mark.parametrize("make_opt", [
    lambda ps: ot.Adam(ps, lr=1e-2, weight_decay=1e-4),
    lambda ps: ot.AdamW(ps, lr=1e-2),
    lambda ps: ot.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
    lambda ps: ot.Lamb(ps, lr=2e-2, weight_decay=1e-4),
], ids=["adam", "adamw", "sgd", "lamb"])
def test_end_to_end_mlp_training(make_opt, compiles):
    """A 2-layer MLP on a synthetic regression task: loss.backward(), the
    compiled step, a cosine scheduler; the loss goes down."""
    torch.manual_seed(0)
    model = MLP()
    x, y = _regression_data()
    opt = make_opt(model.parameters())
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=300)
    losses = []
    for _ in range(300):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0], (losses[0], losses[-1])
    assert len(compiles) == 1


def test_end_to_end_matches_torch_adam():
    """The same MLP trained by torch.optim.Adam and optim_mlir.torch.Adam
    (closure form of step) follows the same loss curve."""
    x, y = _regression_data()
    curves = []
    for cls in (torch.optim.Adam, ot.Adam):
        torch.manual_seed(0)
        model = MLP()
        opt = cls(model.parameters(), lr=1e-2)

        def closure():
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x), y)
            loss.backward()
            return loss
        curves.append([opt.step(closure).item() for _ in range(100)])
    np.testing.assert_allclose(curves[1], curves[0], rtol=1e-3, atol=1e-5)
    assert curves[1][-1] < 0.2 * curves[1][0]
