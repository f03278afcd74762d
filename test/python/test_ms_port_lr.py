"""MindSpore's learning-rate tests, run on ``optim_mlir.nn``.

Ported from mindspore-ai/mindspore:

* ``tests/ut/python/nn/test_learning_rate_schedule.py`` (``TestInit`` and the
  schedule "compile" tests: here each schedule is evaluated at MindSpore's
  ``global_step = Tensor(2, int32)`` and compared with the documented formula
  of ``mindspore.nn.learning_rate_schedule``, tolerance ``np.allclose``'s
  defaults);
* ``tests/ut/python/nn/test_dynamic_lr.py`` (``TestInputs`` and the list
  length tests).

Exception types are MindSpore's.
"""

import math

import numpy as np
import pytest

from optim_mlir import nn

# ---------------------------------------------------------------------------
# tests/ut/python/nn/test_learning_rate_schedule.py
# ---------------------------------------------------------------------------

learning_rate = 0.1
end_learning_rate = 0.01
decay_rate = 0.9
decay_steps = 4
warmup_steps = 2
min_lr = 0.01
max_lr = 0.1
power = 0.5
global_step = np.array(2, np.int32)


class TestScheduleInit:
    """test_learning_rate_schedule.py::TestInit"""

    def test_learning_rate_type(self):
        lr = True
        with pytest.raises(TypeError):
            nn.ExponentialDecayLR(lr, decay_rate, decay_steps)
        with pytest.raises(TypeError):
            nn.PolynomialDecayLR(lr, end_learning_rate, decay_steps, power)

    def test_learning_rate_value(self):
        lr = -1.0
        with pytest.raises(ValueError):
            nn.ExponentialDecayLR(lr, decay_rate, decay_steps)
        with pytest.raises(ValueError):
            nn.PolynomialDecayLR(lr, end_learning_rate, decay_steps, power)

    def test_end_learning_rate_type(self):
        with pytest.raises(TypeError):
            nn.PolynomialDecayLR(learning_rate, True, decay_steps, power)

    def test_end_learning_rate_value(self):
        with pytest.raises(ValueError):
            nn.PolynomialDecayLR(learning_rate, -1.0, decay_steps, power)

    def test_decay_rate_type(self):
        with pytest.raises(TypeError):
            nn.ExponentialDecayLR(learning_rate, 'a', decay_steps)

    def test_decay_rate_value(self):
        with pytest.raises(ValueError):
            nn.ExponentialDecayLR(learning_rate, -1.0, decay_steps)

    def test_decay_steps_type(self):
        decay_steps_e = 'm'
        with pytest.raises(TypeError):
            nn.ExponentialDecayLR(learning_rate, decay_rate, decay_steps_e)
        with pytest.raises(TypeError):
            nn.CosineDecayLR(min_lr, max_lr, decay_steps_e)
        with pytest.raises(TypeError):
            nn.PolynomialDecayLR(learning_rate, end_learning_rate, decay_steps_e, power)

    def test_decay_steps_value(self):
        decay_steps_e = -2
        with pytest.raises(ValueError):
            nn.ExponentialDecayLR(learning_rate, decay_rate, decay_steps_e)
        with pytest.raises(ValueError):
            nn.CosineDecayLR(min_lr, max_lr, decay_steps_e)
        with pytest.raises(ValueError):
            nn.PolynomialDecayLR(learning_rate, end_learning_rate, decay_steps_e, power)

    def test_is_stair(self):
        with pytest.raises(TypeError):
            nn.ExponentialDecayLR(learning_rate, decay_rate, decay_steps, 1)

    def test_min_lr_type(self):
        with pytest.raises(TypeError):
            nn.CosineDecayLR(True, max_lr, decay_steps)

    def test_min_lr_value(self):
        with pytest.raises(ValueError):
            nn.CosineDecayLR(-1.0, max_lr, decay_steps)

    def test_max_lr_type(self):
        with pytest.raises(TypeError):
            nn.CosineDecayLR(min_lr, 'a', decay_steps)

    def test_max_lr_value(self):
        with pytest.raises(ValueError):
            nn.CosineDecayLR(min_lr, -1.0, decay_steps)

    def test_power(self):
        with pytest.raises(TypeError):
            nn.PolynomialDecayLR(learning_rate, end_learning_rate, decay_steps, True)


# The schedules at global step 2 (MindSpore's tests compile each schedule with
# that step; the values are the documented formulas).

def _check(schedule, expect):
    got = schedule(global_step)
    assert np.allclose(got, expect), (got, expect)


def test_exponential_decay():
    # is_stair=True: p = floor(2 / 4) = 0.
    _check(nn.ExponentialDecayLR(learning_rate, decay_rate, decay_steps, True),
           learning_rate * decay_rate ** math.floor(2 / decay_steps))


def test_exponential_decay_not_stair():
    _check(nn.ExponentialDecayLR(learning_rate, decay_rate, decay_steps),
           learning_rate * decay_rate ** (2 / decay_steps))


def test_enatural_exp_decay():
    _check(nn.NaturalExpDecayLR(learning_rate, decay_rate, decay_steps, True),
           learning_rate * math.exp(-decay_rate * math.floor(2 / decay_steps)))


def test_inverse_decay():
    _check(nn.InverseDecayLR(learning_rate, decay_rate, decay_steps, True),
           learning_rate / (1 + decay_rate * math.floor(2 / decay_steps)))


def test_cosine_decay():
    _check(nn.CosineDecayLR(min_lr, max_lr, decay_steps),
           min_lr + 0.5 * (max_lr - min_lr) * (1 + math.cos(math.pi * 2 / decay_steps)))


def test_polynomial_decay():
    _check(nn.PolynomialDecayLR(learning_rate, end_learning_rate, decay_steps, power),
           (learning_rate - end_learning_rate) * (1 - 2 / decay_steps) ** power
           + end_learning_rate)


def test_polynomial_decay2():
    # update_decay_steps=True: decay_steps * ceil(2 / 4) = 4.
    steps = decay_steps * math.ceil(2 / decay_steps)
    _check(nn.PolynomialDecayLR(learning_rate, end_learning_rate, decay_steps, power, True),
           (learning_rate - end_learning_rate) * (1 - 2 / steps) ** power + end_learning_rate)


def test_warmup():
    _check(nn.WarmUpLR(learning_rate, warmup_steps),
           learning_rate * min(2, warmup_steps) / warmup_steps)


# ---------------------------------------------------------------------------
# tests/ut/python/nn/test_dynamic_lr.py
# ---------------------------------------------------------------------------

milestone = [10, 20, 30]
learning_rates = [0.1, 0.05, 0.01]
total_step = 30
step_per_epoch = 3
decay_epoch = 2
warmup_epoch = 2


class TestInputs:
    """test_dynamic_lr.py::TestInputs"""

    def test_milestone1(self):
        with pytest.raises(TypeError):
            nn.piecewise_constant_lr(1, learning_rates)

    def test_milestone2(self):
        with pytest.raises(ValueError):
            nn.piecewise_constant_lr([20, 10, 1], learning_rates)
        with pytest.raises(TypeError):
            nn.piecewise_constant_lr([1.0, 2.0, True], learning_rates)

    def test_learning_rates1(self):
        with pytest.raises(TypeError):
            nn.piecewise_constant_lr(milestone, True)

    def test_learning_rates2(self):
        with pytest.raises(TypeError):
            nn.piecewise_constant_lr(milestone, [1, 2, 1])

    def test_learning_rate_type(self):
        lr = True
        with pytest.raises(TypeError):
            nn.exponential_decay_lr(lr, decay_rate, total_step, step_per_epoch, decay_epoch)
        with pytest.raises(TypeError):
            nn.polynomial_decay_lr(lr, end_learning_rate, total_step, step_per_epoch,
                                   decay_epoch, power)

    def test_learning_rate_value(self):
        lr = -1.0
        with pytest.raises(ValueError):
            nn.exponential_decay_lr(lr, decay_rate, total_step, step_per_epoch, decay_epoch)
        with pytest.raises(ValueError):
            nn.polynomial_decay_lr(lr, end_learning_rate, total_step, step_per_epoch,
                                   decay_epoch, power)

    def test_end_learning_rate_type(self):
        with pytest.raises(TypeError):
            nn.polynomial_decay_lr(learning_rate, True, total_step, step_per_epoch,
                                   decay_epoch, power)

    def test_end_learning_rate_value(self):
        with pytest.raises(ValueError):
            nn.polynomial_decay_lr(learning_rate, -1.0, total_step, step_per_epoch,
                                   decay_epoch, power)

    def test_decay_rate_type(self):
        with pytest.raises(TypeError):
            nn.exponential_decay_lr(learning_rate, 'a', total_step, step_per_epoch, decay_epoch)

    def test_decay_rate_value(self):
        with pytest.raises(ValueError):
            nn.exponential_decay_lr(learning_rate, -1.0, total_step, step_per_epoch, decay_epoch)

    def test_total_step1(self):
        total_step1 = 2.0
        with pytest.raises(TypeError):
            nn.exponential_decay_lr(learning_rate, decay_rate, total_step1, step_per_epoch,
                                    decay_epoch)
        with pytest.raises(TypeError):
            nn.cosine_decay_lr(min_lr, max_lr, total_step1, step_per_epoch, decay_epoch)
        with pytest.raises(TypeError):
            nn.polynomial_decay_lr(learning_rate, end_learning_rate, total_step1,
                                   step_per_epoch, decay_epoch, power)

    def test_total_step2(self):
        total_step1 = -1
        with pytest.raises(ValueError):
            nn.exponential_decay_lr(learning_rate, decay_rate, total_step1, step_per_epoch,
                                    decay_epoch)
        with pytest.raises(ValueError):
            nn.cosine_decay_lr(min_lr, max_lr, total_step1, step_per_epoch, decay_epoch)
        with pytest.raises(ValueError):
            nn.polynomial_decay_lr(learning_rate, end_learning_rate, total_step1,
                                   step_per_epoch, decay_epoch, power)

    def test_step_per_epoch1(self):
        spe = True
        with pytest.raises(TypeError):
            nn.exponential_decay_lr(learning_rate, decay_rate, total_step, spe, decay_epoch)
        with pytest.raises(TypeError):
            nn.cosine_decay_lr(min_lr, max_lr, total_step, spe, decay_epoch)
        with pytest.raises(TypeError):
            nn.polynomial_decay_lr(learning_rate, end_learning_rate, total_step, spe,
                                   decay_epoch, power)

    def test_step_per_epoch2(self):
        spe = -1
        with pytest.raises(ValueError):
            nn.exponential_decay_lr(learning_rate, decay_rate, total_step, spe, decay_epoch)
        with pytest.raises(ValueError):
            nn.cosine_decay_lr(min_lr, max_lr, total_step, spe, decay_epoch)
        with pytest.raises(ValueError):
            nn.polynomial_decay_lr(learning_rate, end_learning_rate, total_step, spe,
                                   decay_epoch, power)

    def test_decay_epoch1(self):
        de = 'm'
        with pytest.raises(TypeError):
            nn.exponential_decay_lr(learning_rate, decay_rate, total_step, step_per_epoch, de)
        with pytest.raises(TypeError):
            nn.cosine_decay_lr(min_lr, max_lr, total_step, step_per_epoch, de)
        with pytest.raises(TypeError):
            nn.polynomial_decay_lr(learning_rate, end_learning_rate, total_step,
                                   step_per_epoch, de, power)

    def test_decay_epoch2(self):
        de = -1
        with pytest.raises(ValueError):
            nn.exponential_decay_lr(learning_rate, decay_rate, total_step, step_per_epoch, de)
        with pytest.raises(ValueError):
            nn.cosine_decay_lr(min_lr, max_lr, total_step, step_per_epoch, de)
        with pytest.raises(ValueError):
            nn.polynomial_decay_lr(learning_rate, end_learning_rate, total_step,
                                   step_per_epoch, de, power)

    def test_is_stair(self):
        with pytest.raises(TypeError):
            nn.exponential_decay_lr(learning_rate, decay_rate, total_step, step_per_epoch,
                                    decay_epoch, 1)

    def test_min_lr_type(self):
        with pytest.raises(TypeError):
            nn.cosine_decay_lr(True, max_lr, total_step, step_per_epoch, decay_epoch)

    def test_min_lr_value(self):
        with pytest.raises(ValueError):
            nn.cosine_decay_lr(-1.0, max_lr, total_step, step_per_epoch, decay_epoch)

    def test_max_lr_type(self):
        with pytest.raises(TypeError):
            nn.cosine_decay_lr(min_lr, 'a', total_step, step_per_epoch, decay_epoch)

    def test_max_lr_value(self):
        with pytest.raises(ValueError):
            nn.cosine_decay_lr(min_lr, -1.0, total_step, step_per_epoch, decay_epoch)

    def test_power(self):
        with pytest.raises(TypeError):
            nn.polynomial_decay_lr(learning_rate, end_learning_rate, total_step,
                                   step_per_epoch, decay_epoch, True)

    def test_update_decay_epoch(self):
        with pytest.raises(TypeError):
            nn.polynomial_decay_lr(learning_rate, end_learning_rate, total_step,
                                   step_per_epoch, decay_epoch, power, 1)


def test_learning_rate():
    lr = nn.piecewise_constant_lr(milestone, learning_rates)
    assert len(lr) == milestone[-1]
    # Beyond the length check: the values of the three pieces.
    assert np.allclose(lr, [0.1] * 10 + [0.05] * 10 + [0.01] * 10)


def test_exponential_decay_lr():
    lr1 = nn.exponential_decay_lr(learning_rate, decay_rate, total_step, step_per_epoch,
                                  decay_epoch)
    assert len(lr1) == total_step
    lr2 = nn.exponential_decay_lr(learning_rate, decay_rate, total_step, step_per_epoch,
                                  decay_epoch, True)
    assert len(lr2) == total_step


def test_enatural_exp_decay_lr():
    lr1 = nn.natural_exp_decay_lr(learning_rate, decay_rate, total_step, step_per_epoch,
                                  decay_epoch)
    assert len(lr1) == total_step
    lr2 = nn.natural_exp_decay_lr(learning_rate, decay_rate, total_step, step_per_epoch,
                                  decay_epoch, True)
    assert len(lr2) == total_step


def test_inverse_decay_lr():
    lr1 = nn.inverse_decay_lr(learning_rate, decay_rate, total_step, step_per_epoch,
                              decay_epoch)
    assert len(lr1) == total_step
    lr2 = nn.inverse_decay_lr(learning_rate, decay_rate, total_step, step_per_epoch,
                              decay_epoch, True)
    assert len(lr2) == total_step


def test_cosine_decay_lr():
    lr = nn.cosine_decay_lr(min_lr, max_lr, total_step, step_per_epoch, decay_epoch)
    assert len(lr) == total_step


def test_polynomial_decay_lr():
    lr1 = nn.polynomial_decay_lr(learning_rate, end_learning_rate, total_step,
                                 step_per_epoch, decay_epoch, power)
    assert len(lr1) == total_step
    lr2 = nn.polynomial_decay_lr(learning_rate, end_learning_rate, total_step,
                                 step_per_epoch, decay_epoch, power, True)
    assert len(lr2) == total_step


def test_warmup_lr():
    lr1 = nn.warmup_lr(learning_rate, total_step, step_per_epoch, warmup_epoch)
    assert len(lr1) == total_step
