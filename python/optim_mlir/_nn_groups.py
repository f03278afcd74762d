"""``optim_mlir.nn``'s groups: learning rates and weight decays as the
runtime sees them, groups and the parts of an optimizer that compile
together (docs/Python-nn.md)."""

import math

import numpy as np

from ._nn_tensors import Parameter


def _runtime_scalar(value, what, prim_name):
    value = float(value)
    if math.isnan(value) or math.isinf(value):
        raise ValueError("For '%s', the %s must be finite, but got %r."
                         % (prim_name, what, value))
    if value < 0.0:
        raise ValueError("For '%s', the %s must be >= 0, but got %r."
                         % (prim_name, what, value))
    return value


def _piecewise(values):
    """Run-length form ``(milestones, values)`` of a per-step list; the same
    function of the step (both use the last value past the end)."""
    milestones, runs = [], []
    for i, v in enumerate(values):
        if runs and runs[-1] == v:
            milestones[-1] = i + 1
        else:
            runs.append(v)
            milestones.append(i + 1)
    return milestones, runs


class _Lr:
    """One learning rate: 'const' (a float32 0-d Parameter), 'list' (a
    read-only float32 1-d Parameter), 'schedule' (a built-in schedule, compiled
    as an attribute) or 'python' (a user-defined schedule, evaluated here)."""

    def __init__(self, kind, param=None, schedule=None):
        self.kind, self.param, self.schedule = kind, param, schedule
        self._cell = None

    def cell(self):
        """MindSpore's form of a grouped learning rate when the optimizer's
        rates are dynamic: a constant or a per-step list wrapped in a cell
        (``_ConvertToCell`` / ``_IteratorLearningRate``) whose
        ``learning_rate`` is the Parameter; a schedule stays itself.  One
        object per rate, so a group's parameters share it."""
        if self.kind not in ("const", "list"):
            return self.schedule
        if self._cell is None:
            self._cell = _LearningRateCell(self)
        return self._cell

    @property
    def is_dynamic(self):
        return self.kind != "const"

    def user_object(self):
        return self.param if self.kind in ("const", "list") else self.schedule

    def value_at(self, step):
        """The rate at ``step`` evaluated here (float32 for stored values)."""
        if self.kind == "const":
            return float(self.param.data)
        if self.kind == "list":
            values = self.param.data
            return float(values[min(step, values.size - 1)])
        return self.schedule(step)

    def runtime_value(self, step, prim_name):
        """The value written into the table ('const' and 'python')."""
        return _runtime_scalar(self.value_at(step), "learning rate", prim_name)

    def ir_attr(self, step, prim_name):
        if self.kind == "const":
            return self.runtime_value(step, prim_name)
        if self.kind == "python":
            return self.runtime_value(step, prim_name)
        if self.kind == "schedule":
            return self.schedule._ir_schedule()
        values = [float(v) for v in self.param.data]
        milestones, runs = _piecewise(values)
        if len(runs) * 2 <= len(values):
            return ("piecewise", dict(milestones=milestones, values=runs))
        return values


class _LearningRateCell:
    """A learning rate as MindSpore's optimizers hold a group's rate when the
    rates are dynamic (``_ConvertToCell`` for a constant,
    ``_IteratorLearningRate`` for a per-step list): ``learning_rate`` is the
    float32 Parameter (0-d, or one value per step) and calling it with the
    global step returns the rate of that step (float32; past the end of a
    list, its last value)."""

    def __init__(self, lr):
        self._lr = lr

    @property
    def learning_rate(self):
        return self._lr.param

    # The Parameter's name and values read through the cell as well.
    @property
    def name(self):
        return self._lr.param.name

    @property
    def data(self):
        return self._lr.param.data

    def asnumpy(self):
        return self._lr.param.asnumpy()

    def __call__(self, global_step):
        return np.float32(self._lr.value_at(int(global_step)))

    def __repr__(self):
        return "LearningRateCell(%s)" % self._lr.param.name


class _Wd:
    """One weight decay (user-level, before the loss-scale factor): 'const'
    or 'schedule' (a LearningRateSchedule evaluated here)."""

    def __init__(self, value=0.0, schedule=None):
        self.value, self.schedule = value, schedule

    @property
    def is_dynamic(self):
        return self.schedule is not None

    def value_at(self, step, prim_name):
        if self.schedule is None:
            return self.value
        return _runtime_scalar(self.schedule(step), "weight decay", prim_name)

    def ir_value(self, step, prim_name):
        if self.schedule is None:
            return self.value
        value = self.value_at(step, prim_name)
        return value if value > 0.0 else 1.0  # positive: decay compiled in


class _Group:
    def __init__(self, index, lr, wd, gc, own_lr, own_wd, params):
        self.index, self.lr, self.wd, self.gc = index, lr, wd, gc
        self.own_lr, self.own_wd, self.params = own_lr, own_wd, params
        self.indices = []  # step indices of ``params``, in group order


class _Part:
    """One compiled optimizer over a subset of the parameters."""

    def __init__(self, rule, ir_hyper, runtime_hyper, indices,
                 zero_decay=False, unscaled=False, sparse=False):
        self.rule, self.ir_hyper = rule, ir_hyper
        # The parameters whose gradients are sparse (MindSpore's RowTensor
        # path): the front end applies weight decay, centralization and the
        # loss scale to the rows (as MindSpore's optimizer does before its
        # sparse kernels), so the part is compiled without them.
        self.sparse = sparse
        self.runtime_hyper = runtime_hyper  # names written from opt._hyper
        self.indices, self.zero_decay = list(indices), zero_decay
        # Whether the part's gradients come already divided by the loss
        # scale (LARS with use_clip scales them in Python): compiled with
        # loss scale 1.
        self.unscaled = unscaled
        self.compiled = None
        self.text = None
        # Whether the step compiles the checks of the gradients (dynamic
        # loss scale, clipping), and the loss scale and clean-step count its
        # host (control_known) and GPU (gpu_control_known) steps hold.
        self.control = False
        self.control_known = None
        self.gpu_control_known = None
        self.groups = []
        self.last = {}
        self.param_arrays = self.state_arrays = None
        # The compiled step bound to the arrays (dense gradients only).
        self.bound = None
        # target='GPU': the GPUOptimizer of this part, its device memory
        # (parameters, gradients, states at gpu_offsets), the values last
        # written into its device table, the step its device counter holds
        # (None: unknown) and whether its device states are current.
        self.gpu = None
        self.gpu_memory = None
        self.gpu_offsets = None
        self.gpu_last = {}
        self.gpu_step = 0
        self.gpu_states_current = False


_INT32_MAX = 2 ** 31 - 1


def _check_step(value, prim_name):
    """``value`` (an int, or a one-element integer array or Parameter-like
    object) as an int in [0, 2^31 - 1], the range of MindSpore's int32
    ``global_step``."""
    if hasattr(value, "asnumpy"):
        value = value.asnumpy()
    if isinstance(value, np.ndarray) and value.size == 1 and \
            value.dtype.kind in "iu":
        value = value.reshape(()).item()
    if isinstance(value, (bool, np.bool_)) or \
            not isinstance(value, (int, np.integer)):
        raise TypeError("For '%s', the 'global_step' must be int, but got %s."
                        % (prim_name, type(value).__name__))
    if value < 0:
        raise ValueError("For '%s', the 'global_step' must be >= 0, but got "
                         "%d." % (prim_name, value))
    if value > _INT32_MAX:
        raise ValueError("For '%s', the 'global_step' must be <= %d (int32), "
                         "but got %d." % (prim_name, _INT32_MAX, value))
    return int(value)


class _GlobalStep(Parameter):
    """The step counter as MindSpore's ``global_step`` Parameter: an int32
    array of shape (1,) named ``global_step`` that every step advances in
    place, so a reference read once stays current.  A learning-rate schedule
    takes it as its argument; it compares and converts as an int."""

    def __init__(self):
        # The storage is int32, which Parameter's constructor does not take.
        self._data = np.zeros(1, np.int32)
        self._name = "global_step"
        self.requires_grad = False
        self.unique = False

    @property
    def value(self):
        return int(self._data[0])

    @value.setter
    def value(self, step):
        self._data[0] = step

    def set_data(self, data):
        """Sets the step (an int or a one-element integer array); returns
        self."""
        self.value = _check_step(data, "global_step")
        return self

    def __int__(self):
        return self.value

    __index__ = __int__

    def __eq__(self, other):
        return self.value == other

    def __ne__(self, other):
        return self.value != other

    def __lt__(self, other):
        return self.value < other

    def __le__(self, other):
        return self.value <= other

    def __gt__(self, other):
        return self.value > other

    def __ge__(self, other):
        return self.value >= other

    # Mutable, as an array is.
    __hash__ = None

    def __repr__(self):
        return "%s, value=%d)" % (super().__repr__()[:-1], self.value)
