"""optim_mlir.torch on parameters that are not C-contiguous.

Dense parameters in another dimension order (channels_last, a transpose)
are stepped over their storage as it lies, with their gradient read in
their strides and their states kept in them; other parameters (slices with
gaps) are stepped through a C-contiguous copy written back in place. Each
case runs beside the torch.optim class of the same name on the same data
and is compared after every step with ``torch.testing.assert_close``'s
default tolerances.
"""

import copy

import pytest
import torch
from torch.testing import assert_close

import optim_mlir.torch as ot

STEPS = 25

pytestmark = pytest.mark.usefixtures("float32_default_dtype")

CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-2)),
    ("SGD", dict(lr=0.05, momentum=0.8, dampening=0.1, weight_decay=1e-3)),
    ("Adam", dict(lr=1e-2)),
    ("Adam", dict(lr=1e-2, weight_decay=1e-2, amsgrad=True)),
    ("AdamW", dict(lr=1e-2, weight_decay=0.1)),
]
CONFIG_IDS = ["%s-%s" % (name, "-".join("%s=%s" % kv for kv in kw.items()))
              for name, kw in CONFIGS]


def channels_last(t):
    return t.contiguous(memory_format=torch.channels_last)


def transposed(t):
    """`t` (2-D) as the transpose of a C-contiguous tensor."""
    return t.t().contiguous().t()


def make_pair(name, kwargs, init, layout):
    """torch.optim.<name> and optim_mlir.torch.<name> on parameters with the
    values `init` in layout `layout` (a function of a tensor)."""
    pa = [torch.nn.Parameter(layout(t.clone())) for t in init]
    pb = [torch.nn.Parameter(layout(t.clone())) for t in init]
    return (getattr(torch.optim, name)(pa, **kwargs), pa,
            getattr(ot, name)(pb, **kwargs), pb)


def assert_match(ta, pa, tb, pb):
    for x, y in zip(pa, pb):
        assert_close(y, x)
        for key, value in ta.state[x].items():
            if torch.is_tensor(value) and value.dim() > 0:
                assert_close(tb.state[y][key], value)


def run(ta, pa, tb, pb, grad_layout, seed=0, steps=STEPS):
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        for x, y in zip(pa, pb):
            g = torch.randn(x.shape, generator=gen)
            x.grad, y.grad = grad_layout(g.clone()), grad_layout(g.clone())
        ta.step()
        tb.step()
        assert_match(ta, pa, tb, pb)


@pytest.mark.parametrize("name,kwargs", CONFIGS, ids=CONFIG_IDS)
def test_channels_last(name, kwargs):
    gen = torch.Generator().manual_seed(1)
    init = [torch.randn(s, generator=gen) for s in
            [(4, 3, 3, 3), (6, 4, 1, 1), (2, 5, 4, 4)]]
    ta, pa, tb, pb = make_pair(name, kwargs, init, channels_last)
    run(ta, pa, tb, pb, channels_last)
    for p in pb:
        assert p.is_contiguous(memory_format=torch.channels_last)
        # States created for the parameter take its strides.
        for value in tb.state[p].values():
            if torch.is_tensor(value) and value.dim() > 0:
                assert value.stride() == p.stride()


@pytest.mark.parametrize("name,kwargs", CONFIGS, ids=CONFIG_IDS)
def test_transposed(name, kwargs):
    gen = torch.Generator().manual_seed(2)
    init = [torch.randn(s, generator=gen) for s in [(8, 5), (3, 7)]]
    ta, pa, tb, pb = make_pair(name, kwargs, init, transposed)
    assert not pb[0].is_contiguous()
    run(ta, pa, tb, pb, transposed)
    for p in pb:
        assert p.stride() == (1, p.shape[0])


@pytest.mark.parametrize("name,kwargs", CONFIGS, ids=CONFIG_IDS)
def test_gradient_with_other_strides(name, kwargs):
    """Gradients whose strides differ from their parameters' (both ways)."""
    gen = torch.Generator().manual_seed(3)
    init = [torch.randn(s, generator=gen) for s in
            [(4, 3, 3, 3), (2, 5, 4, 4)]]
    ta, pa, tb, pb = make_pair(name, kwargs, init, channels_last)
    run(ta, pa, tb, pb, lambda t: t.contiguous(), seed=4)
    ta, pa, tb, pb = make_pair(name, kwargs, init, lambda t: t.contiguous())
    run(ta, pa, tb, pb, channels_last, seed=5)
    ta, pa, tb, pb = make_pair(name, kwargs, [init[0][0, 0]], transposed)
    run(ta, pa, tb, pb, lambda t: t.contiguous(), seed=6)


@pytest.mark.parametrize("name,kwargs", CONFIGS, ids=CONFIG_IDS)
def test_slice_view_updates_its_base_in_place(name, kwargs):
    """A parameter viewing every second column of a bigger tensor (not
    dense): its elements are updated in the base tensor, the others are left
    untouched."""
    gen = torch.Generator().manual_seed(7)
    base = torch.randn(6, 10, generator=gen)
    other = base[:, 1::2].clone()
    pb = torch.nn.Parameter(base[:, ::2])
    assert pb.data_ptr() == base.data_ptr() and pb.stride() == (10, 2)
    pa = torch.nn.Parameter(base[:, ::2].clone())
    ta = getattr(torch.optim, name)([pa], **kwargs)
    tb = getattr(ot, name)([pb], **kwargs)
    run(ta, [pa], tb, [pb], lambda t: t)
    assert_close(base[:, ::2], pa.detach())
    assert torch.equal(base[:, 1::2], other)
    assert pb.stride() == (10, 2)


@pytest.mark.parametrize("layout", [channels_last, lambda t: t[:, :, ::2]],
                         ids=["channels_last", "slice"])
def test_maximize_and_signed_groups(layout):
    """``maximize``, and a negative lr or weight decay written into a group
    after construction (stepped around the compiled call on the tensor it
    updates: the parameter, or its C-contiguous copy)."""
    gen = torch.Generator().manual_seed(12)
    init = [torch.randn(4, 3, 6, 5, generator=gen)]
    for name, kwargs, group in (
            ("Adam", dict(lr=1e-2, maximize=True), {}),
            ("SGD", dict(lr=0.05, momentum=0.9), dict(lr=-0.05)),
            ("AdamW", dict(lr=1e-2), dict(weight_decay=-0.1, lr=-1e-2))):
        pb = [torch.nn.Parameter(layout(t.clone())) for t in init]
        pa = [torch.nn.Parameter(p.detach().clone()) for p in pb]
        ta = getattr(torch.optim, name)(pa, **kwargs)
        tb = getattr(ot, name)(pb, **kwargs)
        ta.param_groups[0].update(group)
        tb.param_groups[0].update(group)
        run(ta, pa, tb, pb, lambda t: t, seed=13, steps=8)


def test_channels_last_state_in_other_strides():
    """A C-contiguous state of a channels_last parameter (as loaded from a
    checkpoint) is taken in the parameter's strides and stepped on."""
    gen = torch.Generator().manual_seed(8)
    init = [torch.randn(4, 3, 3, 3, generator=gen)]
    ta, pa, tb, pb = make_pair("Adam", dict(lr=1e-2), init, channels_last)
    run(ta, pa, tb, pb, channels_last, steps=3)
    for key in ("exp_avg", "exp_avg_sq"):
        tb.state[pb[0]][key] = tb.state[pb[0]][key].contiguous()
    run(ta, pa, tb, pb, channels_last, seed=9, steps=5)
    assert tb.state[pb[0]]["exp_avg"].stride() == pb[0].stride()
    # A torch checkpoint of channels_last states loads and steps on.
    tc_params = [torch.nn.Parameter(p.detach().clone()) for p in pb]
    tc = ot.Adam(tc_params, lr=1e-2)
    tc.load_state_dict(ta.state_dict())
    run(ta, pa, tc, tc_params, channels_last, seed=10, steps=5)


def test_layout_dependent_rules_step_the_logical_layout():
    """Adafactor (row and column means) steps a channels_last parameter as
    its C-contiguous copy; Lamb's norms do not depend on the order."""
    gen = torch.Generator().manual_seed(11)
    init = torch.randn(4, 3, 5, 6, generator=gen)
    for cls, kwargs in ((ot.Adafactor, dict(lr=1e-2, beta1=0.9,
                                            relative_step=False)),
                        (ot.Lamb, dict(lr=1e-2, weight_decay=0.01))):
        a = torch.nn.Parameter(init.clone())
        b = torch.nn.Parameter(channels_last(init.clone()))
        oa, ob = cls([a], **kwargs), cls([b], **kwargs)
        for _ in range(5):
            g = torch.randn(init.shape, generator=gen)
            a.grad, b.grad = g.clone(), channels_last(g.clone())
            oa.step()
            ob.step()
            assert_close(b, a)
            assert b.is_contiguous(memory_format=torch.channels_last)
            for key, value in oa.state[a].items():
                if torch.is_tensor(value) and value.dim() > 0:
                    assert_close(ob.state[b][key], value)


def test_contiguous_parameters_keep_the_fast_path():
    p = torch.nn.Parameter(torch.randn(4, 3))
    q = torch.nn.Parameter(channels_last(torch.randn(2, 3, 2, 2)))
    opt = ot.SGD([p], lr=0.1, momentum=0.9)
    for _ in range(3):
        p.grad = torch.randn(4, 3)
        opt.step()
    assert opt._plan is not None and opt._plan.fast_steps >= 1
    # A parameter in another layout takes the checked path.
    opt.add_param_group({"params": [q]})
    for _ in range(3):
        p.grad, q.grad = torch.randn(4, 3), torch.randn(q.shape)
        opt.step()
        assert opt._plan is None


class _Block(torch.nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(channels, channels, 3, padding=1,
                                     bias=False)
        self.bn1 = torch.nn.BatchNorm2d(channels)
        self.conv2 = torch.nn.Conv2d(channels, channels, 3, padding=1,
                                     bias=False)
        self.bn2 = torch.nn.BatchNorm2d(channels)

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(x + self.bn2(self.conv2(y)))


def _resnet():
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1, bias=False),
        torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
        _Block(8), _Block(8),
        torch.nn.Conv2d(8, 16, 1, stride=2), _Block(16),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
        torch.nn.Linear(16, 10))


def test_channels_last_resnet_trains_as_with_torch():
    torch.manual_seed(0)
    ours = _resnet().to(memory_format=torch.channels_last)
    theirs = copy.deepcopy(ours)
    assert any(p.dim() == 4 and not p.is_contiguous()
               for p in ours.parameters())
    kwargs = dict(lr=0.05, momentum=0.9, weight_decay=1e-4)
    opt_ours = ot.SGD(ours.parameters(), **kwargs)
    opt_theirs = torch.optim.SGD(theirs.parameters(), **kwargs)
    gen = torch.Generator().manual_seed(1)
    for _ in range(8):
        x = channels_last(torch.randn(8, 3, 12, 12, generator=gen))
        y = torch.randint(0, 10, (8,), generator=gen)
        for model, opt in ((ours, opt_ours), (theirs, opt_theirs)):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
    for (name, p), q in zip(ours.named_parameters(), theirs.parameters()):
        assert_close(p, q, msg=name)
        assert p.stride() == q.stride()
        assert_close(opt_ours.state[p]["momentum_buffer"],
                     opt_theirs.state[q]["momentum_buffer"])
    for a, b in zip(ours.buffers(), theirs.buffers()):
        assert_close(a, b)


def test_overlapping_parameter_raises_before_any_write():
    """A parameter whose elements share memory (an expand()) cannot be
    updated in place: RuntimeError, as from torch, and nothing written."""
    q = torch.nn.Parameter(torch.randn(3))
    p = torch.nn.Parameter(torch.randn(3, 1).expand(3, 4))
    opt = ot.SGD([q, p], lr=0.1, momentum=0.9)
    q.grad, p.grad = torch.ones(3), torch.ones(3, 4)
    before = q.detach().clone()
    with pytest.raises(RuntimeError, match="share a memory location"):
        opt.step()
    assert torch.equal(q.detach(), before) and not opt.state
