"""MindSpore's learning-rate schedules and dynamic-lr list helpers.

Re-exported by ``optim_mlir.nn``; see its docstring.  Each built-in schedule
is callable (``sched(global_step)`` returns the rate as a Python float,
computed in double precision) and maps to an optim-dialect schedule attribute
(``_ir_schedule()``) that the compiled step evaluates from its step counter,
in float32.  A user-defined ``LearningRateSchedule`` subclass (``construct``
overridden) has no attribute: the optimizer evaluates it in Python before each
step and writes the value into the compiled step's hyper-parameter table.
"""

import math

import numpy as np

from . import _mindspore_validator as _v

__all__ = [
    "LearningRateSchedule", "ExponentialDecayLR", "NaturalExpDecayLR",
    "InverseDecayLR", "CosineDecayLR", "PolynomialDecayLR", "WarmUpLR",
    "piecewise_constant_lr", "exponential_decay_lr", "natural_exp_decay_lr",
    "inverse_decay_lr", "cosine_decay_lr", "polynomial_decay_lr", "warmup_lr",
]


def _to_step(global_step):
    """A 0-based step from an int, a NumPy integer, a one-element integer
    array or an optimizer's ``global_step``."""
    if hasattr(global_step, "asnumpy"):
        global_step = global_step.asnumpy()
    if isinstance(global_step, (bool, np.bool_)):
        raise TypeError("global_step must be an integer, got bool")
    if isinstance(global_step, np.ndarray):
        if global_step.size != 1 or global_step.dtype.kind not in "iu":
            raise TypeError("global_step must be an integer or a one-element "
                            "integer array, got an array of shape %s and "
                            "dtype %s" % (global_step.shape, global_step.dtype))
        global_step = global_step.reshape(()).item()
    if not isinstance(global_step, (int, np.integer)):
        raise TypeError("global_step must be an integer, got %s"
                        % type(global_step).__name__)
    step = int(global_step)
    if step < 0:
        raise ValueError("global_step must be >= 0, got %d" % step)
    return step


class LearningRateSchedule:
    """Base class of learning-rate schedules (``mindspore.nn.LearningRateSchedule``).

    Subclasses override ``construct(global_step)`` (an ``int``) and return
    the rate.  Calling the schedule checks the step and returns a float.
    """

    def __init__(self):
        pass

    @property
    def cls_name(self):
        return type(self).__name__

    def construct(self, global_step):
        raise NotImplementedError(
            "%s must override construct(global_step)" % self.cls_name)

    def __call__(self, global_step):
        return float(self.construct(_to_step(global_step)))

    def _ir_schedule(self):
        """``(attribute name, parameters)`` for ``ir.learning_rate_attr``, or
        None when the schedule has no optim-dialect attribute."""
        return None

    def __repr__(self):
        fields = ", ".join("%s=%r" % (k, v) for k, v in vars(self).items()
                           if not k.startswith("_"))
        return "%s(%s)" % (self.cls_name, fields)


def _check_decay_inputs(learning_rate, decay_rate, decay_steps, is_stair,
                        cls_name):
    _v.check_positive_int("decay_steps", decay_steps, cls_name)
    _v.check_float("learning_rate", learning_rate, cls_name, _v.POSITIVE)
    _v.check_float("decay_rate", decay_rate, cls_name, _v.POSITIVE)
    _v.check_bool("is_stair", is_stair, cls_name)


class ExponentialDecayLR(LearningRateSchedule):
    """``learning_rate * decay_rate ** p``, ``p = step / decay_steps``
    (floored when ``is_stair``)."""

    def __init__(self, learning_rate, decay_rate, decay_steps, is_stair=False):
        super().__init__()
        _check_decay_inputs(learning_rate, decay_rate, decay_steps, is_stair,
                            self.cls_name)
        self.learning_rate = learning_rate
        self.decay_rate = decay_rate
        self.decay_steps = decay_steps
        self.is_stair = is_stair

    def construct(self, global_step):
        p = global_step / self.decay_steps
        if self.is_stair:
            p = math.floor(p)
        return self.learning_rate * self.decay_rate ** p

    def _ir_schedule(self):
        return ("exponential_decay", dict(
            learning_rate=self.learning_rate, decay_rate=self.decay_rate,
            decay_steps=self.decay_steps, is_stair=self.is_stair))


class NaturalExpDecayLR(LearningRateSchedule):
    """``learning_rate * exp(-decay_rate * p)`` as MindSpore's
    ``NaturalExpDecayLR.construct`` computes it: ``p = step`` (``decay_steps``
    unused), with ``is_stair`` ``p = floor(step / decay_steps) * decay_steps``.

    (MindSpore's docstring says ``p = step / decay_steps``; its code, the
    optim-dialect attribute ``natural_exp_decay`` and this class do not
    divide.)
    """

    def __init__(self, learning_rate, decay_rate, decay_steps, is_stair=False):
        super().__init__()
        _check_decay_inputs(learning_rate, decay_rate, decay_steps, is_stair,
                            self.cls_name)
        self.learning_rate = learning_rate
        self.decay_rate = decay_rate
        self.decay_steps = decay_steps
        self.is_stair = is_stair

    def construct(self, global_step):
        p = float(global_step)
        if self.is_stair:
            p = math.floor(global_step / self.decay_steps) * self.decay_steps
        return self.learning_rate * math.exp(-self.decay_rate * p)

    def _ir_schedule(self):
        return ("natural_exp_decay", dict(
            learning_rate=self.learning_rate, decay_rate=self.decay_rate,
            decay_steps=self.decay_steps, is_stair=self.is_stair))


class InverseDecayLR(LearningRateSchedule):
    """``learning_rate / (1 + decay_rate * p)``, ``p = step / decay_steps``
    (floored when ``is_stair``)."""

    def __init__(self, learning_rate, decay_rate, decay_steps, is_stair=False):
        super().__init__()
        _check_decay_inputs(learning_rate, decay_rate, decay_steps, is_stair,
                            self.cls_name)
        self.learning_rate = learning_rate
        self.decay_rate = decay_rate
        self.decay_steps = decay_steps
        self.is_stair = is_stair

    def construct(self, global_step):
        p = global_step / self.decay_steps
        if self.is_stair:
            p = math.floor(p)
        return self.learning_rate / (1.0 + self.decay_rate * p)

    def _ir_schedule(self):
        return ("inverse_decay", dict(
            learning_rate=self.learning_rate, decay_rate=self.decay_rate,
            decay_steps=self.decay_steps, is_stair=self.is_stair))


class CosineDecayLR(LearningRateSchedule):
    """``min_lr + 0.5 * (max_lr - min_lr) * (1 + cos(pi * min(step,
    decay_steps) / decay_steps))``."""

    def __init__(self, min_lr, max_lr, decay_steps):
        super().__init__()
        name = self.cls_name
        _v.check_float("min_lr", min_lr, name, _v.NON_NEGATIVE)
        _v.check_float("max_lr", max_lr, name, _v.POSITIVE)
        _v.check_positive_int("decay_steps", decay_steps, name)
        if min_lr >= max_lr:
            raise ValueError("For '%s', the 'max_lr' must be greater than the "
                             "'min_lr', but got 'max_lr' value: %r, 'min_lr' "
                             "value: %r." % (name, max_lr, min_lr))
        self.min_lr = min_lr
        self.max_lr = max_lr
        self.decay_steps = decay_steps

    def construct(self, global_step):
        p = min(global_step, self.decay_steps)
        return self.min_lr + 0.5 * (self.max_lr - self.min_lr) * (
            1.0 + math.cos(math.pi * p / self.decay_steps))

    def _ir_schedule(self):
        return ("cosine_decay", dict(min_lr=self.min_lr, max_lr=self.max_lr,
                                     decay_steps=self.decay_steps))


class PolynomialDecayLR(LearningRateSchedule):
    """``(learning_rate - end_learning_rate) * (1 - s / d) ** power +
    end_learning_rate`` with ``s = min(step, decay_steps)``, ``d =
    decay_steps``; with ``update_decay_steps``, ``s = step`` and ``d =
    decay_steps * max(1, ceil(step / decay_steps))``."""

    def __init__(self, learning_rate, end_learning_rate, decay_steps, power,
                 update_decay_steps=False):
        super().__init__()
        name = self.cls_name
        _v.check_float("learning_rate", learning_rate, name, _v.POSITIVE)
        _v.check_float("end_learning_rate", end_learning_rate, name,
                       _v.NON_NEGATIVE)
        _v.check_positive_int("decay_steps", decay_steps, name)
        _v.check_bool("update_decay_steps", update_decay_steps, name)
        _v.check_float("power", power, name, _v.POSITIVE)
        self.learning_rate = learning_rate
        self.end_learning_rate = end_learning_rate
        self.decay_steps = decay_steps
        self.power = power
        self.update_decay_steps = update_decay_steps

    def construct(self, global_step):
        if self.update_decay_steps:
            s = float(global_step)
            d = self.decay_steps * max(math.ceil(global_step / self.decay_steps), 1)
        else:
            s = float(min(global_step, self.decay_steps))
            d = self.decay_steps
        return (self.learning_rate - self.end_learning_rate) * \
            (1.0 - s / d) ** self.power + self.end_learning_rate

    def _ir_schedule(self):
        return ("polynomial_decay", dict(
            learning_rate=self.learning_rate,
            end_learning_rate=self.end_learning_rate,
            decay_steps=self.decay_steps, power=self.power,
            update_decay_steps=self.update_decay_steps))


class WarmUpLR(LearningRateSchedule):
    """``learning_rate * min(step, warmup_steps) / warmup_steps``."""

    def __init__(self, learning_rate, warmup_steps):
        super().__init__()
        name = self.cls_name
        _v.check_float("learning_rate", learning_rate, name, _v.NON_NEGATIVE)
        _v.check_positive_int("warmup_steps", warmup_steps, name)
        self.learning_rate = learning_rate
        self.warmup_steps = warmup_steps

    def construct(self, global_step):
        return self.learning_rate * min(global_step, self.warmup_steps) / \
            self.warmup_steps

    def _ir_schedule(self):
        return ("warmup", dict(learning_rate=self.learning_rate,
                               warmup_steps=self.warmup_steps))


# ---------------------------------------------------------------------------
# Dynamic learning-rate lists (mindspore.nn.dynamic_lr): Python lists, one
# value per step, computed in double precision exactly as MindSpore does.
# ---------------------------------------------------------------------------

def piecewise_constant_lr(milestone, learning_rates):
    """``learning_rates[t]`` for steps in ``[milestone[t-1], milestone[t])``;
    a list of ``milestone[-1]`` values."""
    name = "piecewise_constant_lr"
    _v.check_value_type("milestone", milestone, (tuple, list), name)
    _v.check_value_type("learning_rates", learning_rates, (tuple, list), name)
    if len(milestone) != len(learning_rates):
        raise ValueError(
            "For 'piecewise_constant_lr', the size of 'milestone' must be "
            "same with the size of 'learning_rates', but got 'milestone' "
            "size: %d, 'learning_rates' size: %d."
            % (len(milestone), len(learning_rates)))
    lr = []
    last_item = 0
    for i, item in enumerate(milestone):
        _v.check_positive_int("milestone[%d]" % i, item, name)
        _v.check_is_float("learning_rates[%d]" % i, learning_rates[i], name)
        if item < last_item:
            raise ValueError(
                "For 'piecewise_constant_lr', the value of milestone[%d] must "
                "be greater than milestone[%d], but got milestone[%d]: %d, "
                "milestone[%d]: %d." % (i, i - 1, i, item, i - 1, last_item))
        lr += [learning_rates[i]] * (item - last_item)
        last_item = item
    return lr


def _check_list_inputs(name, learning_rate, decay_rate, total_step,
                       step_per_epoch, decay_epoch, is_stair):
    _v.check_positive_int("total_step", total_step, name)
    _v.check_positive_int("step_per_epoch", step_per_epoch, name)
    _v.check_positive_int("decay_epoch", decay_epoch, name)
    _v.check_float("learning_rate", learning_rate, name, _v.POSITIVE)
    _v.check_float("decay_rate", decay_rate, name, _v.POSITIVE)
    _v.check_bool("is_stair", is_stair, name)


def exponential_decay_lr(learning_rate, decay_rate, total_step, step_per_epoch,
                         decay_epoch, is_stair=False):
    """``learning_rate * decay_rate ** (current_epoch / decay_epoch)``,
    ``current_epoch = floor(i / step_per_epoch)`` (the exponent floored when
    ``is_stair``)."""
    _check_list_inputs("exponential_decay_lr", learning_rate, decay_rate,
                       total_step, step_per_epoch, decay_epoch, is_stair)
    lr = []
    for i in range(total_step):
        if is_stair:
            lr.append(learning_rate * decay_rate ** math.floor(
                math.floor(i / step_per_epoch) / decay_epoch))
        else:
            lr.append(learning_rate * decay_rate ** (
                math.floor(i / step_per_epoch) / decay_epoch))
    return lr


def natural_exp_decay_lr(learning_rate, decay_rate, total_step, step_per_epoch,
                         decay_epoch, is_stair=False):
    """``learning_rate * e ** (-decay_rate * current_epoch)``; with
    ``is_stair`` the epoch is rounded down to a multiple of ``decay_epoch``."""
    _check_list_inputs("natural_exp_decay_lr", learning_rate, decay_rate,
                       total_step, step_per_epoch, decay_epoch, is_stair)
    function = lambda x, y: x
    if is_stair:
        function = lambda x, y: math.floor(x / y) * y
    return [learning_rate * math.e ** (-decay_rate * function(
        math.floor(i / step_per_epoch), decay_epoch)) for i in range(total_step)]


def inverse_decay_lr(learning_rate, decay_rate, total_step, step_per_epoch,
                     decay_epoch, is_stair=False):
    """``learning_rate / (1 + decay_rate * current_epoch / decay_epoch)`` (the
    ratio floored when ``is_stair``)."""
    _check_list_inputs("inverse_decay_lr", learning_rate, decay_rate,
                       total_step, step_per_epoch, decay_epoch, is_stair)
    lr = []
    for i in range(total_step):
        if is_stair:
            lr.append(learning_rate / (1 + decay_rate * math.floor(
                math.floor(i / step_per_epoch) / decay_epoch)))
        else:
            lr.append(learning_rate / (1 + decay_rate * math.floor(
                i / step_per_epoch) / decay_epoch))
    return lr


def cosine_decay_lr(min_lr, max_lr, total_step, step_per_epoch, decay_epoch):
    """``min_lr + 0.5 * (max_lr - min_lr) * (1 + cos(pi * min(current_epoch,
    decay_epoch) / decay_epoch))``."""
    name = "cosine_decay_lr"
    _v.check_float("min_lr", min_lr, name, _v.NON_NEGATIVE)
    _v.check_float("max_lr", max_lr, name, _v.POSITIVE)
    _v.check_positive_int("total_step", total_step, name)
    _v.check_positive_int("step_per_epoch", step_per_epoch, name)
    _v.check_positive_int("decay_epoch", decay_epoch, name)
    if min_lr >= max_lr:
        raise ValueError("For 'cosine_decay_lr', the 'max_lr' must be greater "
                         "than the 'min_lr', but got 'max_lr' value: %r, "
                         "'min_lr' value: %r." % (max_lr, min_lr))
    delta = 0.5 * (max_lr - min_lr)
    lr = []
    for i in range(total_step):
        tmp_epoch = min(math.floor(i / step_per_epoch), decay_epoch)
        lr.append(min_lr + delta * (1 + math.cos(math.pi * tmp_epoch / decay_epoch)))
    return lr


def polynomial_decay_lr(learning_rate, end_learning_rate, total_step,
                        step_per_epoch, decay_epoch, power,
                        update_decay_epoch=False):
    """``(learning_rate - end_learning_rate) * (1 - tmp_epoch /
    tmp_decay_epoch) ** power + end_learning_rate``; ``tmp_epoch =
    min(current_epoch, decay_epoch)``, or with ``update_decay_epoch``
    ``tmp_epoch = current_epoch`` and ``tmp_decay_epoch = decay_epoch *
    max(1, ceil(current_epoch / decay_epoch))``."""
    name = "polynomial_decay_lr"
    _v.check_float("learning_rate", learning_rate, name, _v.POSITIVE)
    _v.check_float("end_learning_rate", end_learning_rate, name,
                   _v.NON_NEGATIVE)
    _v.check_float("power", power, name, _v.POSITIVE)
    _v.check_positive_int("total_step", total_step, name)
    _v.check_positive_int("step_per_epoch", step_per_epoch, name)
    _v.check_positive_int("decay_epoch", decay_epoch, name)
    _v.check_bool("update_decay_epoch", update_decay_epoch, name)
    origin_decay_epoch = decay_epoch
    function = lambda x, y: (x, min(x, y))
    if update_decay_epoch:
        function = lambda x, y: (origin_decay_epoch * max(
            math.ceil(y / origin_decay_epoch), 1), y)
    lr = []
    delta = learning_rate - end_learning_rate
    for i in range(total_step):
        current_epoch = math.floor(i / step_per_epoch)
        decay_epoch, tmp_epoch = function(decay_epoch, current_epoch)
        lr.append(delta * (1 - tmp_epoch / decay_epoch) ** power + end_learning_rate)
    return lr


def warmup_lr(learning_rate, total_step, step_per_epoch, warmup_epoch):
    """``learning_rate * min(current_epoch, warmup_epoch) / warmup_epoch``."""
    name = "warmup_lr"
    _v.check_float("learning_rate", learning_rate, name, _v.NON_NEGATIVE)
    _v.check_positive_int("warmup_epoch", warmup_epoch, name)
    _v.check_positive_int("total_step", total_step, name)
    _v.check_positive_int("step_per_epoch", step_per_epoch, name)
    lr = []
    for i in range(total_step):
        current_epoch = math.floor(i / step_per_epoch)
        lr.append(learning_rate * min(warmup_epoch, current_epoch) / warmup_epoch)
    return lr
