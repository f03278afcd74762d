"""The attributes MindSpore's ``nn.Optimizer`` users read, with the meanings
of ``mindspore/python/mindspore/nn/optim/optimizer.py``: ``parameters``,
``trainable_params()``, ``group_params``, ``group_lr``,
``group_weight_decay``, ``group_grad_centralization``,
``dynamic_decay_flags``, ``reciprocal_scale``, ``need_scale``,
``init_learning_rate`` and ``global_step`` (an int32 Parameter of shape
(1,))."""

import numpy as np
import pytest

from optim_mlir import nn


def _params():
    return [nn.Parameter(np.ones((2, 16), np.float32), "conv.weight"),
            nn.Parameter(np.ones(3, np.float32), "dense.bias"),
            nn.Parameter(np.ones(4, np.float32), "norm.gamma")]


def _grads(params):
    return tuple(np.full(p.shape, 0.5, np.float32) for p in params)


class Halving(nn.LearningRateSchedule):
    def construct(self, global_step):
        return 0.1 * 0.5 ** global_step


def test_parameters_and_trainable_params():
    ps = _params()
    ps[2].requires_grad = False
    opt = nn.Momentum(ps, 0.1, 0.9)
    assert isinstance(opt.parameters, nn.ParameterTuple)
    assert list(opt.parameters) == ps
    # The updated parameters that require gradients; not the states.
    assert opt.trainable_params() == ps[:2]
    assert all(not m.requires_grad for m in opt.moments)


def test_parameters_follow_order_params():
    ps = _params()
    opt = nn.Adam([{"params": [ps[2]], "lr": 0.01},
                   {"params": ps[:2]},
                   {"order_params": [ps[1], ps[0], ps[2]]}])
    assert list(opt.parameters) == [ps[1], ps[0], ps[2]]
    assert opt.group_params == [ps[1], ps[0], ps[2]]


def test_grouped_attributes_one_entry_per_parameter():
    ps = _params()
    wd = Halving()
    opt = nn.Momentum([{"params": ps[:1], "lr": 0.05, "weight_decay": 0.01,
                        "grad_centralization": True},
                       {"params": ps[1:2], "weight_decay": wd},
                       {"params": ps[2:]}],
                      learning_rate=0.1, momentum=0.9, weight_decay=0.2,
                      loss_scale=4.0)
    assert opt.is_group and opt.is_group_lr
    assert opt.group_params == ps
    lrs = opt.group_lr
    assert len(lrs) == 3
    assert float(lrs[0].data) == pytest.approx(0.05)
    # Parameters without their own lr share the optimizer's learning rate.
    assert lrs[1] is lrs[2] and float(lrs[1].data) == pytest.approx(0.1)
    assert lrs[0] is opt.get_lr_parameter(ps[0])
    # weight_decay * loss_scale, as MindSpore stores it.
    decays = opt.group_weight_decay
    assert decays[0] == pytest.approx(0.04) and decays[2] == pytest.approx(0.8)
    assert isinstance(decays[1], nn.LearningRateSchedule)
    assert decays[1](0) == pytest.approx(0.4) and decays[1](1) == pytest.approx(0.2)
    assert opt.group_grad_centralization == [True, False, False]
    assert opt.dynamic_decay_flags == (False, True, False)
    assert opt.decay_flags == (True, True, True)


def test_group_weight_decay_follows_set_weight_decay():
    ps = _params()
    opt = nn.Momentum([{"params": ps[:2], "weight_decay": 0.01},
                       {"params": ps[2:]}], 0.1, 0.9)
    opt.set_weight_decay(0.03, group=0)
    assert opt.group_weight_decay[:2] == [pytest.approx(0.03)] * 2


def test_ungrouped_optimizers_have_no_group_attributes():
    opt = nn.Adam(_params())
    for attr in ("group_params", "group_lr", "group_weight_decay",
                 "group_grad_centralization"):
        assert not hasattr(opt, attr)
    assert opt.dynamic_decay_flags is False
    assert nn.Adam(_params(), weight_decay=Halving()).dynamic_decay_flags is True


@pytest.mark.parametrize("loss_scale", [1.0, 1024.0, 3])
def test_reciprocal_scale_and_need_scale(loss_scale):
    opt = nn.Momentum(_params(), 0.1, 0.9, loss_scale=loss_scale)
    assert opt.need_scale is (loss_scale != 1)
    assert opt.reciprocal_scale.dtype == np.float32
    assert opt.reciprocal_scale.shape == ()
    assert float(opt.reciprocal_scale) == pytest.approx(1.0 / loss_scale)
    grads = _grads(opt.parameters)
    for g, s in zip(grads, opt.scale_grad(grads)):
        np.testing.assert_allclose(s, g * opt.reciprocal_scale)


def test_init_learning_rate_is_the_argument_as_given():
    assert float(nn.Adam(_params(), learning_rate=0.02).init_learning_rate.data) \
        == pytest.approx(0.02)
    listed = nn.Adam(_params(), learning_rate=[0.3, 0.2, 0.1])
    np.testing.assert_allclose(listed.init_learning_rate.data, [0.3, 0.2, 0.1])
    sched = Halving()
    assert nn.Adam(_params(), learning_rate=sched).init_learning_rate is sched
    # It stays the initial value when the rate is changed later.
    opt = nn.Adam(_params(), learning_rate=0.02)
    first = float(opt.init_learning_rate.data)
    opt(_grads(opt.parameters))
    assert float(opt.init_learning_rate.data) == first


def test_global_step_is_a_live_int32_parameter():
    opt = nn.Adam(_params())
    step = opt.global_step
    assert isinstance(step, nn.Parameter)
    assert step.name == "global_step" and step.requires_grad is False
    assert step.shape == (1,) and step.dtype == np.int32
    np.testing.assert_array_equal(step.asnumpy(), np.array([0], np.int32))
    opt(_grads(opt.parameters))
    opt(_grads(opt.parameters))
    # The object read before the steps is the counter itself.
    assert step is opt.global_step
    assert step == 2 and int(step) == 2 and step > 1
    np.testing.assert_array_equal(np.asarray(step), [2])
    assert list(range(5))[step] == 2
    # A schedule takes it, as in a MindSpore construct().
    assert Halving()(opt.global_step) == pytest.approx(0.025)
    step.set_data(np.array([7], np.int32))
    assert opt.global_step == 7
    opt.global_step = np.int64(3)
    assert opt.global_step == 3
    opt.global_step = step  # assigning the counter to itself keeps it
    assert opt.global_step == 3


@pytest.mark.parametrize("value,error", [
    (-1, ValueError), (2 ** 31, ValueError), (1.0, TypeError), (True, TypeError),
    (np.array([1, 2]), TypeError)])
def test_global_step_rejects(value, error):
    opt = nn.Adam(_params())
    with pytest.raises(error, match="global_step"):
        opt.global_step = value
    with pytest.raises(error, match="global_step"):
        opt.global_step.set_data(value)
    assert opt.global_step == 0


def test_lars_shares_the_attributes_of_the_wrapped_optimizer():
    ps = _params()
    inner = nn.Momentum([{"params": ps[:2], "weight_decay": 0.01},
                         {"params": ps[2:]}], 0.1, 0.9)
    lars = nn.LARS(inner)
    assert lars.global_step is inner.global_step
    assert lars.group_params == inner.group_params
    assert lars.dynamic_decay_flags == inner.dynamic_decay_flags
