"""optim_mlir.torch against torch 1.13's torch.optim on what users set
besides the hyper-parameters: the constructors' signatures and group keys,
``foreach`` and ``fused`` (taken: every compiled step is one fused
multi-tensor call), a negative ``lr`` or ``weight_decay`` written into
``param_groups`` after construction (torch steps with it), and SGD's
``momentum_buffer`` through steps with ``momentum == 0`` (torch keeps it).

Every numeric test steps optim_mlir.torch.X and torch.optim.X side by side
on the same tensors and gradients (test_torch_optim's shapes, from a matrix
to an empty tensor) for 30 or more steps and compares parameters and states
after every step with ``torch.testing.assert_close``'s float32 tolerances
(``rtol=1.3e-6, atol=1e-5``).
"""

import inspect

import pytest
import torch

import optim_mlir.torch as ot
import test_gpu_frontends as gpu
from test_gpu_frontends import stub_driver  # noqa: F401 (a fixture)
from test_torch_optim import grouped, make_init, make_params, set_grads

pytestmark = pytest.mark.usefixtures("float32_default_dtype")

STEPS = 30
# torch.testing.assert_close's defaults for float32.
TOL = dict(rtol=1.3e-6, atol=1e-5)

# The classes torch.optim (1.13) has too.
COUNTERPARTS = [name for name in ot.__all__
                if isinstance(getattr(ot, name), type) and
                hasattr(torch.optim, name)]


def assert_same(ours, ref, pa, pb, when):
    for i, (a, b) in enumerate(zip(pa, pb)):
        torch.testing.assert_close(
            a.detach(), b.detach(), **TOL,
            msg=lambda m: "param %d %s: %s" % (i, when, m))
        sa, sb = ours.state.get(a, {}), ref.state.get(b, {})
        assert set(sa) == set(sb), (i, when, set(sa), set(sb))
        for key, vb in sb.items():
            va = sa[key]
            if vb is None:
                assert va is None, (i, key, when)
            else:
                torch.testing.assert_close(
                    va, vb, **TOL,
                    msg=lambda m: "state %s of %d %s: %s" % (key, i, when, m))


def run_pair(ours_cls, torch_cls, kwargs, torch_kwargs=None, spec=None,
             steps=STEPS, edit=None, scheduler=None):
    """Steps ours_cls(**kwargs) and torch_cls(**torch_kwargs or kwargs) on
    the same gradients and compares after every step. `edit(step, groups)`
    changes the groups of both before a step; `scheduler(optimizer)` makes
    an LR scheduler stepped after each step. Returns (ours, its params)."""
    init = make_init(seed=5)
    pa, pb = make_params(init), make_params(init)
    oa = ours_cls(grouped(pa, spec), **kwargs)
    ob = torch_cls(grouped(pb, spec), **(torch_kwargs or kwargs))
    sa = scheduler(oa) if scheduler else None
    sb = scheduler(ob) if scheduler else None
    gen = torch.Generator().manual_seed(6)
    for step in range(steps):
        if edit is not None:
            edit(step, oa.param_groups)
            edit(step, ob.param_groups)
        set_grads([pa, pb], gen)
        oa.step()
        ob.step()
        if scheduler:
            sa.step()
            sb.step()
        assert_same(oa, ob, pa, pb, "step %d" % step)
    return oa, pa


def groups_without_params(opt):
    return [{k: v for k, v in g.items() if k != "params"}
            for g in opt.param_groups]


# ------------------------------------------------- signatures and groups

def test_every_torch_counterpart_is_checked():
    assert set(COUNTERPARTS) >= {"SGD", "Adam", "AdamW", "RAdam"}
    for name in ("Lamb", "Adafactor", "Lion", "Adan"):
        assert name not in COUNTERPARTS


@pytest.mark.parametrize("name", COUNTERPARTS)
def test_signature_is_torch(name):
    """Same parameters (names, kinds, defaults) as torch 1.13's class: no
    argument torch lacks (AdamW has no ``differentiable``, RAdam no
    ``maximize``), none missing (``foreach``, ``fused``)."""
    def parameters(cls):
        return [(p.name, p.kind, p.default)
                for p in inspect.signature(cls).parameters.values()]
    assert parameters(getattr(ot, name)) == \
        parameters(getattr(torch.optim, name))
    with pytest.raises(TypeError):
        getattr(ot, name)([torch.nn.Parameter(torch.randn(2))], lr=0.1,
                          no_such_argument=1)


def _calls(name):
    """Constructor keyword sets to compare torch's groups with."""
    base = dict(lr=0.1) if name == "SGD" else {}
    calls = [base]
    # (torch 1.13's SparseAdam takes no `foreach`.)
    if "foreach" in inspect.signature(getattr(torch.optim, name)).parameters:
        calls += [dict(base, foreach=True), dict(base, foreach=False),
                  dict(base, foreach=None)]
    if name == "SGD":
        calls.append(dict(base, momentum=0.9, nesterov=True, foreach=True,
                          maximize=True))
    if name in ("Adam", "AdamW"):
        calls.append(dict(amsgrad=name == "Adam", maximize=True,
                          foreach=True, weight_decay=0.1))
    return calls


@pytest.mark.parametrize("name", COUNTERPARTS)
def test_group_keys_are_torch(name):
    """param_groups hold torch's keys in torch's order with torch's values,
    for the constructor's groups and for add_param_group, with foreach
    True, False or None."""
    for kwargs in _calls(name):
        ours = getattr(ot, name)([torch.nn.Parameter(torch.randn(3))],
                                 **kwargs)
        ref = getattr(torch.optim, name)([torch.nn.Parameter(torch.randn(3))],
                                         **kwargs)
        for opt in (ours, ref):
            opt.add_param_group({"params": [torch.nn.Parameter(
                torch.randn(2))], "lr": 0.5})
        ga, gb = groups_without_params(ours), groups_without_params(ref)
        assert [list(g) for g in ga] == [list(g) for g in gb], kwargs
        assert ga == gb, kwargs
        assert list(ours.state_dict()["param_groups"][0]) == \
            list(ref.state_dict()["param_groups"][0])
        # A checkpoint of torch's loads with its groups, and one without
        # the keys torch's __setstate__ fills gets torch's defaults.
        ours.load_state_dict(ref.state_dict())
        assert groups_without_params(ours) == gb
        old = ref.state_dict()
        for g in old["param_groups"]:
            g.pop("foreach", None)
        ours.load_state_dict(old)
        ref.load_state_dict(old)
        assert groups_without_params(ours) == groups_without_params(ref)


def test_adam_fused_is_taken():
    """torch 1.13 runs fused=True on CUDA parameters only; the compiled
    step is fused on every device, so CPU parameters take it too, with
    torch's groups otherwise."""
    p = torch.nn.Parameter(torch.randn(3))
    ours = ot.Adam([p], fused=True)
    ref = torch.optim.Adam([torch.nn.Parameter(torch.randn(3))])
    assert groups_without_params(ours) == [
        dict(g, fused=True) for g in groups_without_params(ref)]


# ------------------------------------------------- foreach and fused step

@pytest.mark.parametrize("name,kwargs,torch_kwargs", [
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, foreach=True), None),
    ("SGD", dict(lr=0.05, momentum=0.5, dampening=0.3, weight_decay=0.01,
                 foreach=False), None),
    ("Adam", dict(lr=0.01, weight_decay=0.05, foreach=True), None),
    ("Adam", dict(lr=0.01, amsgrad=True, foreach=False), None),
    ("Adam", dict(lr=0.01, fused=True), dict(lr=0.01)),
    ("Adam", dict(lr=0.01, fused=True, foreach=True),
     dict(lr=0.01, foreach=True)),
    ("AdamW", dict(lr=0.01, foreach=True), None),
    ("AdamW", dict(lr=0.01, maximize=True, foreach=False), None),
    ("RAdam", dict(lr=0.01, weight_decay=0.05, foreach=True), None),
], ids=["sgd-nesterov-foreach", "sgd-foreach-false", "adam-foreach",
        "adam-amsgrad-foreach-false", "adam-fused", "adam-fused-foreach",
        "adamw-foreach", "adamw-maximize-foreach-false", "radam-foreach"])
def test_foreach_and_fused_step_like_torch(name, kwargs, torch_kwargs):
    """foreach and fused are taken and change nothing: the steps are
    torch's (its foreach kernels where it has them); groups with different
    foreach values step in one optimizer."""
    spec = [dict(idx=[0, 1, 2]), dict(idx=[3, 4, 5], foreach=None)]
    run_pair(getattr(ot, name), getattr(torch.optim, name), kwargs,
             torch_kwargs, spec=spec)


# ------------------------------------------- negative lr and weight decay

def _negative_edits(step, groups):
    """Negative lr in group 0 from step 3, negative weight decay in group 1
    from step 8, both in both groups from step 14, then positive again
    from step 22 (torch checks neither after construction)."""
    if step == 3:
        groups[0]["lr"] = -groups[0]["lr"]
    elif step == 8:
        groups[1]["weight_decay"] = -0.05
    elif step == 14:
        for g in groups:
            g["lr"], g["weight_decay"] = -abs(g["lr"]), -0.03
    elif step == 22:
        for g in groups:
            g["lr"], g["weight_decay"] = abs(g["lr"]), 0.02


@pytest.mark.parametrize("name,kwargs", [
    ("SGD", dict(lr=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.2)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, maximize=True)),
    ("Adam", dict(lr=0.01, weight_decay=0.01)),
    ("Adam", dict(lr=0.01, amsgrad=True, maximize=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, weight_decay=0.0, maximize=True)),
    ("RAdam", dict(lr=0.01)),
], ids=["sgd", "sgd-momentum", "sgd-nesterov-maximize", "adam",
        "adam-amsgrad-maximize", "adamw", "adamw-maximize", "radam"])
def test_negative_lr_and_weight_decay_step_like_torch(name, kwargs):
    spec = [dict(idx=[0, 1, 2]), dict(idx=[3, 4, 5], lr=kwargs["lr"] / 2)]
    ours, params = run_pair(getattr(ot, name), getattr(torch.optim, name),
                            kwargs, spec=spec, steps=STEPS,
                            edit=_negative_edits)
    if not kwargs.get("maximize", False):
        # Positive again: the fast path runs (maximize takes the checked
        # path at every step).
        for _ in range(3):
            for p in params:
                p.grad = torch.ones_like(p)
            ours.step()
        assert ours.__dict__["_plan"].fast_steps >= 1


def test_negative_lr_message_shows_the_group_value():
    """A class with no torch counterpart still rejects a negative lr or
    weight decay at step(), naming the value the group holds (not the
    rescaled one the compiled step would take), with nothing written."""
    p = torch.nn.Parameter(torch.randn(3))
    for cls, key, value in ((ot.Lamb, "lr", -0.25),
                            (ot.Lion, "weight_decay", -0.125)):
        opt = cls([p])
        p.grad = torch.randn(3)
        opt.param_groups[0][key] = value
        before = p.detach().clone()
        with pytest.raises(ValueError, match="%s of group 0 must be "
                           "non-negative, got %r$" % (key, value)):
            opt.step()
        assert torch.equal(p.detach(), before) and len(opt.state) == 0


# ------------------------------------------- SGD momentum buffer kept

def test_sgd_keeps_momentum_buffer_through_zero_momentum():
    """Momentum 0.9 for 4 steps, 0 for 4, 0.9 again: torch leaves the buffer
    unchanged while momentum is 0 and resumes from it."""
    def edit(step, groups):
        for g in groups:
            g["momentum"] = 0.0 if 4 <= step < 8 or 16 <= step < 20 else 0.9
    ours, params = run_pair(ot.SGD, torch.optim.SGD,
                            dict(lr=0.05, momentum=0.9), edit=edit)
    assert all(ours.state[p]["momentum_buffer"] is not None for p in params)


def test_sgd_cyclic_momentum_down_to_zero():
    """CyclicLR(base_momentum=0.0, cycle_momentum=True) sets momentum 0 at
    every peak of the learning rate; each step matches torch's."""
    def scheduler(opt):
        return torch.optim.lr_scheduler.CyclicLR(
            opt, base_lr=0.01, max_lr=0.1, step_size_up=3,
            base_momentum=0.0, max_momentum=0.9, cycle_momentum=True)
    run_pair(ot.SGD, torch.optim.SGD, dict(lr=0.1, momentum=0.9),
             steps=40, scheduler=scheduler)


def test_sgd_zero_momentum_keeps_the_fast_path():
    """Steps with momentum 0 after a buffer exists run on the fast path and
    leave the buffer (same tensor, same values)."""
    p = torch.nn.Parameter(torch.randn(5))
    opt = ot.SGD([p], lr=0.1, momentum=0.9)
    p.grad = torch.randn(5)
    opt.step()
    opt.param_groups[0]["momentum"] = 0.0
    buf = opt.state[p]["momentum_buffer"]
    kept = buf.clone()
    for _ in range(4):
        p.grad = torch.randn(5)
        opt.step()
    assert opt.state[p]["momentum_buffer"] is buf
    assert torch.equal(buf, kept)
    assert opt.__dict__["_plan"].fast_steps >= 2


# ------------------------------------------- the CUDA path (fake driver)

def test_cuda_path_signed_step_and_kept_buffer(stub_driver, tmp_path):
    """The CUDA path against test_gpu_frontends' fake driver (kernels are
    recorded, not run): a negative lr reaches the device table as |lr|
    (rescaled by AdamW) with weight decay 0, the parameters get torch's
    decoupled decay and two negations around the launch, and SGD's buffer
    survives a step with momentum 0."""
    result, _ = gpu.run(gpu.TORCH_RUNTIME + '''
torch.manual_seed(3)
ps = [torch.randn(8, 16, requires_grad=True),
      torch.randn(5, requires_grad=True)]
opt = ot.AdamW(ps, lr=0.01, weight_decay=0.1)
for p in ps:
    p.grad = torch.randn_like(p)
before = [p.detach().clone() for p in ps]
opt.param_groups[0]["lr"] = -0.01
launched = lib.optimStubLaunches()
with torch.no_grad():  # as step() runs it
    opt._gpu_step(runtime)
launched = lib.optimStubLaunches() - launched
entry = entry_of(opt)
decayed = all(torch.equal(p.detach(), b * (1.0 + 0.01 * 0.1))
              for p, b in zip(ps, before))
q = torch.randn(16, requires_grad=True)
sgd = ot.SGD([q], lr=0.1, momentum=0.9)
q.grad = torch.randn_like(q)
sgd._gpu_step(runtime)
buf = sgd.state[q]["momentum_buffer"]
sgd.param_groups[0]["momentum"] = 0.0
sgd._gpu_step(runtime)
finish(dict(
    lr=entry.gpu.get_hyper_param(0, "learning_rate"),
    wd=entry.gpu.get_hyper_param(0, "weight_decay"),
    launched=launched, decayed=decayed,
    steps=[float(opt.state[p]["step"]) for p in ps],
    kept=sgd.state[q]["momentum_buffer"] is buf))
''', stub_driver, tmp_path)
    # AdamW's lr' = |lr| * sqrt(1 - beta2) / (1 - beta1) at t = 1.
    assert abs(result["lr"] - 0.01 * 0.001 ** 0.5 / 0.1) < 1e-8
    assert result["wd"] == 0.0
    assert result["launched"] > 0 and result["decayed"]
    assert result["steps"] == [1.0, 1.0]
    assert result["kept"]
