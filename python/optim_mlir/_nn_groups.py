"""``optim_mlir.nn``'s groups: learning rates and weight decays as the
runtime sees them, groups and the parts of an optimizer that compile
together (docs/Python-nn.md)."""

import math


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
                 zero_decay=False):
        self.rule, self.ir_hyper = rule, ir_hyper
        self.runtime_hyper = runtime_hyper  # names written from opt._hyper
        self.indices, self.zero_decay = list(indices), zero_decay
        self.compiled = None
        self.text = None
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


class _Counter:
    def __init__(self):
        self.value = 0
