"""Master weights in the front ends (docs/Mixed-precision.md):
``optim_mlir.torch``'s and ``optim_mlir.nn``'s ``master_weights=True``.

References and tolerances:

* torch: ``torch.optim.AdamW`` run in float32 on a float32 copy of the
  bfloat16 parameters, fed the same (bfloat16) gradients widened, 200
  steps. The compiled float32 update differs from torch's float32 update
  by the order of its operations only: the master stays within 5e-5 of the
  reference (parameters ~1; seen: 2e-5), 1/150 of a bfloat16 ulp at 1
  (2^-7). So the bfloat16 parameter, which is exactly the master rounded
  to nearest even, is within 1 bfloat16 ulp of the reference rounded (a
  difference only where the reference lies within 5e-5 of a rounding
  boundary); without master weights the bfloat16 run drifts by many ulps.
* float16 AdamW with gradients ~1e-4: ``(1 - beta2) * g^2 ~ 1e-11`` is 0
  in float16. With master weights the second moment is positive and the
  parameter within 1 float16 ulp of torch's float32 run rounded; without,
  the second moment underflows and the parameter is off by more than 0.05
  after 10 steps (seen: 0.099), 50 times the error with master weights.
* nn: ``AdamWeightDecay`` on float16 parameters against the float64 NumPy
  formula (``reference.adam_weight_decay``) over 200 steps: the master
  within rtol 1e-5 (atol 1e-6), the parameter exactly the master rounded.
* Checkpoints (``state_dict``/``load_state_dict``) continue bit for bit.
"""
import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import optim_mlir.torch as ot  # noqa: E402
from optim_mlir import nn  # noqa: E402
from reference import adam_weight_decay  # noqa: E402


def _ulps_bf16(a, b):
    """Distance in bfloat16 ulps between two bfloat16 tensors."""
    return (a.view(torch.int16).to(torch.int64) -
            b.view(torch.int16).to(torch.int64)).abs()


# --- torch -----------------------------------------------------------------------

SHAPES = [(37, 19), (300,)]


def _bf16_run(master_weights, steps=200, seed=0):
    g = torch.Generator().manual_seed(seed)
    start = [(torch.rand(s, generator=g) + 0.5) for s in SHAPES]
    params = [torch.nn.Parameter(x.to(torch.bfloat16)) for x in start]
    refs = [torch.nn.Parameter(p.detach().float()) for p in params]
    opt = ot.AdamW(params, lr=1e-3, weight_decay=0.01,
                   master_weights=master_weights)
    ref = torch.optim.AdamW(refs, lr=1e-3, weight_decay=0.01)
    for _ in range(steps):
        for p, r in zip(params, refs):
            grad = (torch.randn(p.shape, generator=g) * 0.1).to(
                torch.bfloat16)
            p.grad, r.grad = grad, grad.float()
        opt.step()
        ref.step()
    return opt, params, ref, refs


def test_torch_bf16_adamw_master_tracks_float32_adamw():
    opt, params, ref, refs = _bf16_run(True)
    assert opt.master_weights
    for p, r in zip(params, refs):
        state = opt.state[p]
        master = state[ot.MASTER_KEY]
        assert master.dtype == torch.float32 and master.shape == p.shape
        assert state["exp_avg"].dtype == torch.float32
        assert state["exp_avg_sq"].dtype == torch.float32
        torch.testing.assert_close(master, r.detach(), rtol=0, atol=5e-5)
        torch.testing.assert_close(state["exp_avg"],
                                   ref.state[r]["exp_avg"],
                                   rtol=1e-4, atol=1e-7)
        torch.testing.assert_close(state["exp_avg_sq"],
                                   ref.state[r]["exp_avg_sq"],
                                   rtol=1e-4, atol=1e-9)
        assert torch.equal(p.detach(), master.to(torch.bfloat16))
        expected = r.detach().to(torch.bfloat16)
        assert int(_ulps_bf16(p.detach(), expected).max()) <= 1
    # The later steps ran through the bound plan (the fast path).
    assert opt.__dict__["_plan"].fast_steps > 0


def test_torch_bf16_without_master_drifts():
    """The same run without master weights: the parameter in bfloat16
    loses most updates (lr = 1e-3 is below half an ulp of values in
    [0.5, 1.5)) and ends many ulps away from the float32 run."""
    opt, params, _, refs = _bf16_run(False)
    assert ot.MASTER_KEY not in opt.state[params[0]]
    assert opt.state[params[0]]["exp_avg"].dtype == torch.bfloat16
    worst = max(int(_ulps_bf16(p.detach(),
                               r.detach().to(torch.bfloat16)).max())
                for p, r in zip(params, refs))
    assert worst >= 5


def _f16_run(master_weights, steps=10):
    g = torch.Generator().manual_seed(1)
    start = torch.rand(256, generator=g) * 2 - 1
    p = torch.nn.Parameter(start.to(torch.float16))
    r = torch.nn.Parameter(p.detach().float())
    opt = ot.AdamW([p], lr=1e-3, eps=1e-6, master_weights=master_weights)
    ref = torch.optim.AdamW([r], lr=1e-3, eps=1e-6)
    for _ in range(steps):
        grad = (torch.randn(256, generator=g) * 1e-4).to(torch.float16)
        p.grad, r.grad = grad, grad.float()
        opt.step()
        ref.step()
    return opt, p, r


def test_torch_f16_adamw_master_does_not_underflow():
    opt, p, r = _f16_run(True)
    state = opt.state[p]
    assert (state["exp_avg_sq"] > 0).all()
    expected = r.detach().to(torch.float16).float()
    ulp = torch.from_numpy(np.spacing(np.abs(expected.numpy()).astype(
        np.float16)).astype(np.float32))
    assert ((p.detach().float() - expected).abs() <= ulp).all()
    err_master = float((p.detach().float() - r.detach()).abs().max())

    plain, q, r2 = _f16_run(False)
    assert (plain.state[q]["exp_avg_sq"] == 0).float().mean() > 0.5
    err_plain = float((q.detach().float() - r2.detach()).abs().max())
    assert err_plain > 0.05 and err_plain > 50 * err_master


def test_torch_state_dict_round_trip_continues_bit_for_bit():
    g = torch.Generator().manual_seed(2)
    params = [torch.nn.Parameter(torch.randn(s, generator=g).to(
        torch.bfloat16)) for s in SHAPES]
    params.append(torch.nn.Parameter(torch.randn(7, generator=g)))
    grads = [[(torch.randn(p.shape, generator=g) * 0.1).to(p.dtype)
              for p in params] for _ in range(20)]
    opt = ot.AdamW(params, lr=1e-2, weight_decay=0.01, master_weights=True)

    def run(opt, params, steps):
        for step_grads in steps:
            for p, grad in zip(params, step_grads):
                p.grad = grad.clone()
            opt.step()

    run(opt, params, grads[:10])
    saved = copy.deepcopy(opt.state_dict())
    saved_params = [p.detach().clone() for p in params]
    assert saved["state"][0][ot.MASTER_KEY].dtype == torch.float32
    assert saved["state"][0]["exp_avg"].dtype == torch.float32
    assert ot.MASTER_KEY not in saved["state"][2]  # float32: no master
    run(opt, params, grads[10:])

    params2 = [torch.nn.Parameter(x.clone()) for x in saved_params]
    opt2 = ot.AdamW(params2, lr=1e-2, weight_decay=0.01, master_weights=True)
    opt2.load_state_dict(saved)
    # torch's load_state_dict casts states to the parameter's dtype; the
    # master and the float32 states come back as saved.
    state = opt2.state[params2[0]]
    assert state[ot.MASTER_KEY].dtype == torch.float32
    assert torch.equal(state[ot.MASTER_KEY], saved["state"][0][ot.MASTER_KEY])
    run(opt2, params2, grads[10:])
    for p, q in zip(params, params2):
        assert torch.equal(p.detach(), q.detach())
        for key, value in opt.state[p].items():
            assert torch.equal(value, opt2.state[q][key]), key


def test_torch_float32_parameters_are_unchanged_by_master_weights():
    g = torch.Generator().manual_seed(3)
    a = torch.nn.Parameter(torch.randn(64, generator=g))
    b = torch.nn.Parameter(a.detach().clone())
    opt_a = ot.Adam([a], lr=1e-2, master_weights=True)
    opt_b = ot.Adam([b], lr=1e-2)
    for _ in range(5):
        grad = torch.randn(64, generator=g)
        a.grad, b.grad = grad.clone(), grad.clone()
        opt_a.step()
        opt_b.step()
    assert torch.equal(a, b)
    assert set(opt_a.state[a]) == set(opt_b.state[b])


def test_torch_master_weights_refusals():
    p = torch.nn.Parameter(torch.zeros(8, dtype=torch.bfloat16))
    with pytest.raises(TypeError, match="master_weights must be a bool"):
        ot.AdamW([p], master_weights=1)
    with pytest.raises(ValueError, match="does not support master_weights"):
        ot.Adafactor([p], master_weights=True)
    with pytest.raises(ValueError, match="does not support master_weights"):
        ot.SparseAdam([p], master_weights=True)
    # A group with a negative lr steps the parameter outside the compiled
    # call: refused before anything is written.
    opt = ot.SGD([p], lr=0.1, master_weights=True)
    opt.param_groups[0]["lr"] = -0.1
    p.grad = torch.ones(8, dtype=torch.bfloat16)
    with pytest.raises(ValueError, match="negative lr"):
        opt.step()
    assert not p.detach().float().any() and not opt.state
    # differentiable=True runs torch's eager step: refused.
    opt = ot.Adam([p], lr=0.1, differentiable=True, master_weights=True)
    with pytest.raises(ValueError, match="differentiable=True"):
        opt.step()
    assert not p.detach().float().any()


def test_torch_sgd_momentum_master():
    """SGD with momentum (a state torch creates at the first step): the
    bfloat16 parameter with a master follows float32 SGD exactly (the
    same operations in float32)."""
    g = torch.Generator().manual_seed(4)
    p = torch.nn.Parameter(torch.randn(100, generator=g).to(torch.bfloat16))
    r = torch.nn.Parameter(p.detach().float())
    opt = ot.SGD([p], lr=0.01, momentum=0.9, master_weights=True)
    ref = ot.SGD([r], lr=0.01, momentum=0.9)
    for _ in range(30):
        grad = torch.randn(100, generator=g).to(torch.bfloat16)
        p.grad, r.grad = grad, grad.float()
        opt.step()
        ref.step()
    assert opt.state[p]["momentum_buffer"].dtype == torch.float32
    assert torch.equal(opt.state[p][ot.MASTER_KEY], r.detach())
    assert torch.equal(p.detach(), r.detach().to(torch.bfloat16))


def test_torch_adagrad_master_starts_states_in_float32():
    """Adagrad creates its `sum` at construction (initial value 0.1): with
    master weights it is float32 from the start, so the bfloat16 run is
    the float32 run exactly (0.1 rounded to bfloat16 would differ)."""
    g = torch.Generator().manual_seed(6)
    p = torch.nn.Parameter(torch.randn(50, generator=g).to(torch.bfloat16))
    r = torch.nn.Parameter(p.detach().float())
    opt = ot.Adagrad([p], lr=0.1, initial_accumulator_value=0.1,
                     master_weights=True)
    ref = ot.Adagrad([r], lr=0.1, initial_accumulator_value=0.1)
    assert opt.state[p]["sum"].dtype == torch.float32
    for _ in range(10):
        grad = torch.randn(50, generator=g).to(torch.bfloat16)
        p.grad, r.grad = grad, grad.float()
        opt.step()
        ref.step()
    assert torch.equal(opt.state[p]["sum"], ref.state[r]["sum"])
    assert torch.equal(opt.state[p][ot.MASTER_KEY], r.detach())


# --- optim_mlir.nn --------------------------------------------------------------

LR, WD = 1e-3, 0.01


def _nn_run(master_weights, steps, seed=5, checkpoint_at=None):
    rng = np.random.default_rng(seed)
    w = nn.Parameter(rng.uniform(-1, 1, (37, 19)).astype(np.float16), name="w")
    b = nn.Parameter(rng.uniform(-1, 1, (23,)).astype(np.float32), name="b")
    opt = nn.AdamWeightDecay([w, b], learning_rate=LR, weight_decay=WD,
                             master_weights=master_weights)
    grads = [(rng.normal(0, 1e-4, w.shape).astype(np.float16),
              rng.normal(0, 0.1, b.shape).astype(np.float32))
             for _ in range(steps)]
    return opt, w, b, grads


def test_nn_f16_adamw_master_matches_float64_reference():
    opt, w, b, grads = _nn_run(True, 200)
    assert opt.master_weights
    assert opt.masters[0].data.dtype == np.float32
    assert opt.masters[1].data.shape == (0,)  # float32: no master
    assert opt.moments1[0].data.dtype == np.float32
    assert opt.moments1[1].data.dtype == np.float32
    ref = dict(param=w.data.astype(np.float64), moment1=np.zeros(w.shape),
               moment2=np.zeros(w.shape))
    for gw, gb in grads:
        opt((gw, gb))
        ref["param"], new = adam_weight_decay(
            ref["param"], gw.astype(np.float64),
            {"moment1": ref["moment1"], "moment2": ref["moment2"]},
            learning_rate=LR, weight_decay=WD)
        ref.update(new)
    master = opt.masters[0].data
    np.testing.assert_allclose(master, ref["param"], rtol=1e-5, atol=1e-6)
    # The float32 moving average of ~1e-8 squares over 200 steps (seen:
    # 1.25e-5 relative).
    np.testing.assert_allclose(opt.moments2[0].data, ref["moment2"],
                               rtol=5e-5, atol=1e-16)
    assert (opt.moments2[0].data > 0).all()
    assert np.array_equal(w.data, master.astype(np.float16))

    # Without master weights the float16 second moment underflows and the
    # parameter moves by m / eps.
    plain, w2, _, _ = _nn_run(False, 200)
    for gw, gb in grads[:10]:
        plain((gw, gb))
    assert (plain.moments2[0].data == 0).mean() > 0.5
    assert not hasattr(plain, "masters")


def test_nn_checkpoint_round_trip_continues_bit_for_bit():
    opt, w, b, grads = _nn_run(True, 20)
    for g in grads[:10]:
        opt(g)
    saved = copy.deepcopy(opt.state_dict())
    assert saved["states"]["masters"]["w"].dtype == np.float32
    for g in grads[10:]:
        opt(g)
    opt2, w2, b2, _ = _nn_run(True, 0)
    opt2.load_state_dict(saved)
    assert np.array_equal(opt2.masters[0].data, saved["states"]["masters"]["w"])
    for g in grads[10:]:
        opt2(g)
    assert np.array_equal(w.data, w2.data) and np.array_equal(b.data, b2.data)
    for attr in ("moments1", "moments2", "masters"):
        for s, s2 in zip(getattr(opt, attr), getattr(opt2, attr)):
            assert np.array_equal(s.data, s2.data), attr


def test_nn_master_weights_refusals():
    w = nn.Parameter(np.zeros((4, 4), np.float16), name="w")
    with pytest.raises(TypeError, match="master_weights"):
        nn.Adam([w], master_weights="yes")
    with pytest.raises(ValueError, match="master_weights=True is not "
                                         "supported"):
        nn.AdaFactor([w], master_weights=True)


# --- optim_mlir.ir ----------------------------------------------------------------

def test_optimizer_ir_writes_precision():
    from optim_mlir import ir
    import optim_mlir
    text = ir.optimizer_ir("adam", {}, params=[
        ("w", (4, 2), "bfloat16", False, {"master": "float32"}),
        ("h", (3,), "float16", False, {"states": "float32"}),
        ("b", (2,), "float32", False, None)])
    assert 'optim.param "w" : tensor<4x2xbf16> master f32\n' in text
    assert 'optim.param "h" : tensor<3xf16> states f32\n' in text
    compiled = optim_mlir.CompiledOptimizer(text, "")
    assert [info["state_dtypes"] for info in compiled.params] == [
        ["float32"] * 3, ["float32", "float32", "float32"],
        ["float32"] * 3]
    assert [info["master"] for info in compiled.params] == [
        True, False, False]
    with pytest.raises(ValueError, match="only to float16 and bfloat16"):
        ir.optimizer_ir("adam", {}, params=[
            ("b", (2,), "float32", False, {"master": "float32"})])
    with pytest.raises(ValueError, match="unknown precision keys"):
        ir.optimizer_ir("adam", {}, params=[
            ("w", (2,), "bfloat16", False, {"masters": "float32"})])
    with pytest.raises(ValueError, match="sparse parameter"):
        ir.optimizer_ir("lazy_adam", {}, params=[
            ("w", (2, 2), "bfloat16", True, {"master": "float32"})])
