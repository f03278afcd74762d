"""The runtime refuses values and buffers that would silently corrupt a step:
hyper-parameters outside the rule's ranges or that are not float32 values
where the step computes in float32, changes under constant-hyper-params,
buffers that alias what the step writes, duplicate sparse indices without
`unique`, and a global step that is negative or would overflow. A refused
call changes nothing."""

import numpy as np
import pytest

import optim_mlir

INT64_MAX = 2**63 - 1
# What the binding raises for a refused step (its classification of the
# runtime's errors).
STEP_ERRORS = (ValueError, RuntimeError)

ADAM = """optim.optimizer @a rule #optim.rule<adam> learning_rate 0.1 {
  optim.param "w" : tensor<4xf32>
  optim.param "v" : tensor<3xf32>
}
"""

AMP = """optim.optimizer @amp rule #optim.rule<sgd> learning_rate 0.5 \
loss_scale 4 dynamic<growth_factor = 2.0, backoff_factor = 0.5, \
growth_interval = 2, min_scale = 1.0> max_grad_norm 1 {
  optim.param "w" : tensor<4xf32>
}
"""


def _buffers(opt, dtype=np.float32):
    params = [np.ones(p["shape"], dtype) for p in opt.params]
    grads = [np.full(p["shape"], 0.5, dtype) for p in opt.params]
    states = [np.zeros(shape, dtype) for p in opt.params
              for shape in p["state_shapes"]]
    opt.init_states(states)
    return params, grads, states


def _snapshot(arrays):
    return [a.copy() for a in arrays]


def _assert_unchanged(before, after):
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name,value,message", [
    ("beta1", 1.0, r"'beta1' must be in \[0, 1\), got 1 \(the rule's "
                   r"range, in \(0, 1\), with its lower end included\)"),
    ("beta2", -0.5, r"'beta2' must be in \[0, 1\)"),
    ("beta2", 1.5, r"'beta2' must be in \[0, 1\)"),
    ("eps", -1.0, r"'eps' must be in \[0, inf\), got -1"),
    ("loss_scale", 1e-300, r"'loss_scale' = 1e-300 is not a float32 value "
                           r".*would see 0, which 'loss_scale' may not be"),
    ("loss_scale", 1e38, r"1 / loss_scale would flush to 0"),
    ("learning_rate", 1e300, r"would see inf"),
    ("eps", float("nan"), r"must not be NaN"),
])
def test_bad_hyper_parameter_is_refused(name, value, message):
    opt = optim_mlir.CompiledOptimizer(ADAM)
    old = opt.get_hyper_param(0, name)
    with pytest.raises(ValueError, match=message):
        opt.set_hyper_param(0, name, value)
    assert opt.get_hyper_param(0, name) == old
    params, grads, states = _buffers(opt)
    opt.step(params, grads, states)
    assert all(np.isfinite(p).all() for p in params)


def test_lower_ends_of_rule_ranges_are_accepted():
    """torch's Adam takes betas[0] = 0 and eps = 0, which MindSpore's ranges
    (the rule records') exclude; the front ends set them at run time."""
    opt = optim_mlir.CompiledOptimizer(ADAM)
    opt.set_hyper_param(0, "beta1", 0.0)
    opt.set_hyper_param(0, "eps", 0.0)
    assert opt.get_hyper_param(0, "beta1") == 0.0


def test_values_that_flush_to_a_valid_zero_are_accepted():
    """A tiny value where 0 is valid (weight decay, eps, NAdam's decaying
    mu_product) reads as 0 in float32, which the step handles."""
    opt = optim_mlir.CompiledOptimizer(ADAM)
    opt.set_hyper_param(0, "weight_decay", 1e-45)
    opt.set_hyper_param(0, "eps", 1e-300)
    params, grads, states = _buffers(opt)
    opt.step(params, grads, states)
    assert all(np.isfinite(p).all() for p in params)


def test_global_slots_use_their_ranges():
    opt = optim_mlir.CompiledOptimizer(AMP)
    for name, value in [("max_grad_norm", 0.0), ("growth_factor", 0.5),
                        ("backoff_factor", 1.5), ("growth_interval", 2.5),
                        ("min_loss_scale", -1.0), ("max_grad_norm", 1e300),
                        ("max_grad_norm", 1e-300)]:
        old = opt.get_hyper_param(0, name)
        with pytest.raises(ValueError, match="'%s'" % name):
            opt.set_hyper_param(0, name, value)
        assert opt.get_hyper_param(0, name) == old
    opt.set_hyper_param(0, "max_grad_norm", 2.0)
    with pytest.raises(ValueError, match="out of range for a step that "
                                         "computes in float32"):
        opt.set_loss_scale_state(1e-300, 0)
    assert opt.step_status()["loss_scale"] == 4.0


def test_float64_steps_take_float64_values():
    source = ADAM.replace("xf32", "xf64")
    opt = optim_mlir.CompiledOptimizer(source)
    opt.set_hyper_param(0, "learning_rate", 1e-300)
    opt.set_hyper_param(0, "loss_scale", 1e-300)
    assert opt.get_hyper_param(0, "learning_rate") == 1e-300
    # The rule's ranges hold whatever the type.
    with pytest.raises(ValueError, match="'beta1' must be in"):
        opt.set_hyper_param(0, "beta1", 1.0)


def test_float32_check_is_per_group():
    source = """optim.optimizer @g rule #optim.rule<sgd> learning_rate 0.1 {
  optim.group weight_decay 0.0 {
    optim.param "a" : tensor<2xf64>
  }
  optim.group weight_decay 0.0 {
    optim.param "b" : tensor<2xf32>
  }
}
"""
    opt = optim_mlir.CompiledOptimizer(source)
    opt.set_hyper_param(0, "learning_rate", 1e300)
    with pytest.raises(ValueError, match="not a float32 value"):
        opt.set_hyper_param(1, "learning_rate", 1e300)
    # Global slots serve every group: a float32 parameter anywhere counts.
    with pytest.raises(ValueError, match="not a float32 value"):
        opt.set_hyper_param(0, "loss_scale", 1e-300)


def test_constant_hyper_params_refuse_changes():
    opt = optim_mlir.CompiledOptimizer(ADAM, "constant-hyper-params=1")
    with pytest.raises(ValueError, match="constant-hyper-params: 'beta1' is "
                                         "the constant 0.9"):
        opt.set_hyper_param(0, "beta1", 0.5)
    opt.set_hyper_param(0, "beta1", 0.9)   # the compiled value: accepted
    assert opt.get_hyper_param(0, "beta1") == pytest.approx(0.9)


@pytest.mark.parametrize("layout", ["same", "overlap", "state", "grad"])
def test_aliased_buffers_are_refused(layout):
    opt = optim_mlir.CompiledOptimizer(ADAM)
    params, grads, states = _buffers(opt)
    block = np.ones(8, np.float32)
    if layout == "same":
        params = [block[:4], block[:3]]
    elif layout == "overlap":
        params = [block[:4], block[3:6]]
    elif layout == "state":
        states[3] = params[0][:3]
    else:
        grads[1] = states[0][:3]
    before = _snapshot(params + grads + states + [block])
    with pytest.raises(STEP_ERRORS, match="overlap in memory"):
        opt.step(params, grads, states)
    _assert_unchanged(before, params + grads + states + [block])
    assert opt.global_step == 0


def test_adjacent_buffers_and_shared_gradients_are_accepted():
    opt = optim_mlir.CompiledOptimizer(ADAM)
    params, grads, states = _buffers(opt)
    block = np.ones(7, np.float32)
    params = [block[:4], block[4:]]
    shared = np.full(4, 0.5, np.float32)
    grads = [shared, shared[:3]]
    opt.step(params, grads, states)
    assert opt.global_step == 1
    assert (block < 1).all()


def test_sparse_duplicates_without_unique_are_refused():
    source = """optim.optimizer @sp rule #optim.rule<lazy_adam> \
learning_rate 0.1 unique false {
  optim.param "emb" : tensor<4x2xf32> sparse
}
"""
    opt = optim_mlir.CompiledOptimizer(source)
    emb = np.ones((4, 2), np.float32)
    states = [np.zeros((4, 2), np.float32) for _ in opt.state_names]
    opt.init_states(states)
    rows = np.ones((3, 2), np.float32)
    with pytest.raises(STEP_ERRORS, match="index 2 appears more than once"):
        opt.step([emb], [(np.array([2, 0, 2], np.int32), rows)], states)
    assert (emb == 1).all() and opt.global_step == 0
    opt.step([emb], [(np.array([2, 0, 3], np.int32), rows)], states)
    assert (emb[1] == 1).all() and (emb[2] < 1).all()


def test_global_step_range():
    opt = optim_mlir.CompiledOptimizer(ADAM)
    params, grads, states = _buffers(opt)
    with pytest.raises(ValueError):
        opt.global_step = -1
    opt.global_step = INT64_MAX
    before = _snapshot(params + states)
    with pytest.raises(STEP_ERRORS, match="would overflow"):
        opt.step(params, grads, states)
    _assert_unchanged(before, params + states)
    assert opt.global_step == INT64_MAX
    opt.global_step = INT64_MAX - 1
    opt.step(params, grads, states)
    assert opt.global_step == INT64_MAX
