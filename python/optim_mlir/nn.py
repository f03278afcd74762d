"""``optim_mlir.nn``: MindSpore's ``nn.Optimizer`` API on compiled steps.

The names, argument names, defaults and argument order follow
``mindspore.nn``; tensors are NumPy arrays. The user manual (parameters,
optimizers, groups, learning rates, checkpoints, targets, the differences
to MindSpore) is ``docs/Python-nn.md``.
"""

import itertools
import math
from collections.abc import Iterable

import numpy as np

from . import ir as _ir
from . import _compiled, _state_arena
from . import _mindspore_validator as _v
from ._optim import default_decay_filter as _default_decay_filter
from ._optim import rule_specs as _rule_specs
from ._mindspore_lr import (
    LearningRateSchedule, ExponentialDecayLR, NaturalExpDecayLR,
    InverseDecayLR, CosineDecayLR, PolynomialDecayLR, WarmUpLR,
    piecewise_constant_lr, exponential_decay_lr, natural_exp_decay_lr,
    inverse_decay_lr, cosine_decay_lr, polynomial_decay_lr, warmup_lr)

__all__ = [
    "Parameter", "ParameterTuple", "RowTensor",
    "Optimizer", "SGD", "Momentum", "Adam", "AdamWeightDecay", "Lamb", "LARS",
    "Adagrad", "RMSProp", "FTRL", "ProximalAdagrad", "AdaMax", "Adadelta",
    "ASGD", "Rprop", "LazyAdam", "Lion", "Adan",
    "LearningRateSchedule", "ExponentialDecayLR", "NaturalExpDecayLR",
    "InverseDecayLR", "CosineDecayLR", "PolynomialDecayLR", "WarmUpLR",
    "piecewise_constant_lr", "exponential_decay_lr", "natural_exp_decay_lr",
    "inverse_decay_lr", "cosine_decay_lr", "polynomial_decay_lr", "warmup_lr",
    "save_checkpoint", "load_checkpoint",
]

# Pipeline options handed to CompiledOptimizer (e.g. "chunk-size=256"); an
# optimizer copies this at construction into ``compile_options``.
DEFAULT_COMPILE_OPTIONS = ""

# What this module compiled: _COMPILE_COUNT (CompiledOptimizer objects, one
# per optimizer part; tests use it to check that runtime changes never
# recompile) and _GPU_COMPILE_COUNT (GPUOptimizer objects) read it.
_COMPILER = _compiled.Compiler()


def __getattr__(name):
    if name == "_COMPILE_COUNT":
        return _COMPILER.cpu_count
    if name == "_GPU_COMPILE_COUNT":
        return _COMPILER.gpu_count
    raise AttributeError("module %r has no attribute %r" % (__name__, name))


_FLOAT_DTYPES = tuple(np.dtype(n) for n in _compiled.FLOAT_DTYPE_NAMES)
_NAME_COUNTER = itertools.count()
_FORMAT = "optim_mlir.nn/1"


def _compile(source, options):
    return _COMPILER.cpu(source, options)


# target='GPU': the CUDA device the steps run on, the options of the GPU
# pipeline (optim-lower-to-gpu, e.g. "block-size=128") and the number of
# GPUOptimizer objects this module created.
GPU_DEVICE = 0
GPU_COMPILE_OPTIONS = ""

_TARGETS = ("CPU", "Ascend", "GPU")
# Device copies of the arrays start on 256-byte boundaries (the kernels need
# 16).
_DEVICE_ALIGNMENT = 256


def _compile_gpu(source):
    """A GPUOptimizer for the chip of device GPU_DEVICE (e.g. sm_90 for
    compute capability 9.0)."""
    from ._optim import cuda_device_capability
    return _COMPILER.gpu(source,
                         _compiled.chip_name(cuda_device_capability(GPU_DEVICE)),
                         GPU_COMPILE_OPTIONS)


def _device_layout(sizes):
    """Offsets of buffers of ``sizes`` bytes in one block of device memory,
    each aligned (and at least one alignment unit long), and the total."""
    offsets, total = [], 0
    for size in sizes:
        offsets.append(total)
        units = max(1, -(-int(size) // _DEVICE_ALIGNMENT))
        total += units * _DEVICE_ALIGNMENT
    return offsets, total


def _check_target(target, prim_name):
    """The ``target`` argument of an optimizer: 'CPU' or 'GPU'."""
    if not isinstance(target, str):
        raise TypeError("For '%s', the argument 'target' must be string, but "
                        "got %s" % (prim_name, type(target)))
    if target not in _TARGETS:
        raise ValueError("For '%s', the argument 'target' must be one of "
                         "['CPU', 'Ascend' ,'GPU'], but got %s"
                         % (prim_name, target))
    if target == "Ascend":
        raise NotImplementedError(
            "For '%s', target='Ascend' is not supported: optim_mlir.nn runs "
            "its compiled steps on the host CPU ('CPU') or as CUDA kernels "
            "on an NVIDIA GPU ('GPU')." % prim_name)
    return target


def _require_cuda_driver(prim_name):
    from ._optim import cuda_driver_available
    available, message = cuda_driver_available()
    if not available:
        raise RuntimeError("For '%s', target='GPU' runs the step as CUDA "
                           "kernels, but the CUDA driver is not usable: %s"
                           % (prim_name, message))


def _check_name(name, what="name"):
    if not isinstance(name, str):
        raise TypeError("The %s of a Parameter must be a str, but got %s."
                        % (what, type(name).__name__))
    if not name or any(c in name for c in '"\\\n'):
        raise ValueError("The %s of a Parameter must be non-empty and hold no "
                         "quotes, backslashes or newlines, but got %r."
                         % (what, name))
    return name


def _as_float_array(data, what):
    if isinstance(data, Parameter):
        data = data.data
    try:
        arr = np.array(data, copy=True, order="C")
    except (TypeError, ValueError) as e:
        raise TypeError("%s must be array-like numbers: %s" % (what, e))
    if arr.dtype in _FLOAT_DTYPES:
        return arr
    if arr.dtype.kind in "iub":
        return arr.astype(np.float32)
    raise TypeError("%s must hold float32 or float64 values (integers become "
                    "float32), but got dtype %s." % (what, arr.dtype))


# ===========================================================================
# Parameters
# ===========================================================================

class Parameter:
    """A named, trainable array (``mindspore.Parameter``).

    ``default_input``: array-like of float32 or float64 (copied; integers
    become float32).  ``data`` is the C-contiguous storage the optimizer
    updates in place.
    """

    def __init__(self, default_input, name=None, requires_grad=True):
        self._data = _as_float_array(default_input, "Parameter data")
        if name is None:
            name = "Parameter_%d" % next(_NAME_COUNTER)
        self._name = _check_name(name)
        _v.check_bool("requires_grad", requires_grad, "Parameter")
        self.requires_grad = requires_grad
        # MindSpore: True when the forward network already made this
        # parameter's (sparse) gradient unique.
        self.unique = False

    @classmethod
    def _wrap(cls, array, name, requires_grad=True):
        """A Parameter whose storage is ``array`` itself (no copy): state
        arrays in runtime-owned memory."""
        self = cls.__new__(cls)
        self._data = array
        self._name = _check_name(name)
        self.requires_grad = requires_grad
        self.unique = False
        return self

    @property
    def name(self):
        return self._name

    @name.setter
    def name(self, value):
        self._name = _check_name(value)

    @property
    def data(self):
        """The storage itself (a NumPy array the optimizer updates in place).
        Assigning to ``data`` copies into this storage (``set_data``); an
        in-place operation such as ``p.data -= x`` keeps it."""
        return self._data

    @data.setter
    def data(self, value):
        if value is not self._data:
            self.set_data(value)

    @property
    def shape(self):
        return self._data.shape

    @property
    def dtype(self):
        return self._data.dtype

    @property
    def ndim(self):
        return self._data.ndim

    @property
    def size(self):
        return self._data.size

    def asnumpy(self):
        """A copy of the value."""
        return self._data.copy()

    def set_data(self, data):
        """Copies ``data`` (same shape; cast to this dtype) into the storage
        and returns self."""
        value = np.asarray(data.data if isinstance(data, Parameter) else data)
        if value.shape != self._data.shape:
            raise ValueError("Parameter '%s' has shape %s, set_data got shape "
                             "%s." % (self._name, self._data.shape, value.shape))
        if not self._data.flags.writeable:
            raise ValueError("Parameter '%s' is read-only." % self._name)
        np.copyto(self._data, value, casting="unsafe")
        return self

    def clone(self, init="same", prefix=None):
        """A new Parameter of the same shape and dtype: a copy (``init=
        "same"``), ``"zeros"``, ``"ones"`` or filled with a number; named
        ``prefix + "." + name`` when ``prefix`` is given."""
        name = self._name if prefix is None else "%s.%s" % (prefix, self._name)
        if isinstance(init, str) and init == "same":
            data = self._data
        elif isinstance(init, str) and init in ("zeros", "ones"):
            data = (np.zeros if init == "zeros" else np.ones)(
                self._data.shape, self._data.dtype)
        elif isinstance(init, (int, float)) and not isinstance(init, bool):
            data = np.full(self._data.shape, init, self._data.dtype)
        else:
            raise ValueError("init must be 'same', 'zeros', 'ones' or a "
                             "number, got %r" % (init,))
        return Parameter(data, name, self.requires_grad)

    def __array__(self, dtype=None):
        return self._data if dtype is None else self._data.astype(dtype)

    def __repr__(self):
        return "Parameter (name=%s, shape=%s, dtype=%s, requires_grad=%s)" % (
            self._name, self._data.shape, self._data.dtype, self.requires_grad)


class ParameterTuple(tuple):
    """A tuple of Parameters (``mindspore.ParameterTuple``)."""

    def __new__(cls, iterable=()):
        items = tuple(iterable)
        for item in items:
            if not isinstance(item, Parameter):
                raise TypeError("ParameterTuple holds Parameters, got %s."
                                % type(item).__name__)
        return super().__new__(cls, items)

    def clone(self, prefix, init="same"):
        return ParameterTuple(p.clone(init, prefix) for p in self)


class RowTensor:
    """A sparse row gradient (``mindspore.RowTensor``): ``values[k]`` is the
    gradient of row ``indices[k]`` of a parameter of shape ``dense_shape``.

    ``LazyAdam`` steps on it (only the named rows change; see the module
    docstring: a parameter keeps the kind of gradient of its first step).
    The other optimizers raise ``NotImplementedError`` when given one: their
    sparse kernels are not compiled yet.
    """

    def __init__(self, indices, values, dense_shape):
        self.indices = np.asarray(indices)
        self.values = np.asarray(values)
        self.dense_shape = tuple(int(d) for d in dense_shape)

    def __repr__(self):
        return "RowTensor(indices=%s, values shape=%s, dense_shape=%s)" % (
            self.indices.shape, self.values.shape, self.dense_shape)


def _is_sparse_gradient(grad):
    if isinstance(grad, RowTensor):
        return True
    return isinstance(grad, tuple) and len(grad) == 2 and all(
        isinstance(x, np.ndarray) for x in grad)


# ===========================================================================
# Learning rates and weight decays as the optimizer holds them
# ===========================================================================

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


# Ranges of the rules' runtime hyper-parameters, from the rule table the
# extension carries (generated from the rule records, OptimRules.td): rule ->
# name -> (lower, upper, lower_closed, upper_closed), the validator's form.
_RULE_RANGES = {
    rule: {h["name"]: h["range"] for h in spec["hyper_params"]
           if not h["init_only"]}
    for rule, spec in _rule_specs().items()}

_SPARSE_REASON = (
    "sparse gradients (RowTensor or (indices, values)) are not supported for "
    "this optimizer yet: the compiled runtime steps on sparse rows only for "
    "LazyAdam (the 'lazy_adam' rule is the only one with a compiled sparse "
    "form); pass the dense gradient instead")


# ===========================================================================
# The base class
# ===========================================================================

class Optimizer:
    """Base class of the optimizers (``mindspore.nn.Optimizer``).

    ``Optimizer(learning_rate, parameters, weight_decay=0.0, loss_scale=1.0)``
    checks its arguments as MindSpore does.  A subclass that does not compile
    (a user-defined optimizer) overrides ``construct(gradients)`` and may use
    ``get_lr``, ``decay_weight``, ``gradients_centralization`` and
    ``scale_grad``, which run eagerly in NumPy; calling it checks the
    gradients, runs ``construct`` and advances the global step.
    """

    # Subclasses set these through _setup_rule / _init_states.
    _parts = None
    # Whether the compiled rule takes sparse row gradients (LazyAdam).
    _sparse_supported = False
    # Per parameter: whether its gradient is compiled as sparse (set when the
    # step compiles; None before); whether a compiled step has run.
    _sparse_flags = None
    _stepped = False

    def __init__(self, learning_rate, parameters, weight_decay=0.0,
                 loss_scale=1.0, *, target="CPU"):
        name = self.cls_name
        parameters = self._parameters_base_check(parameters, "parameters")
        if not all(isinstance(x, Parameter) for x in parameters) and \
                not all(isinstance(x, dict) for x in parameters):
            raise TypeError("For 'Optimizer', all elements of the argument "
                            "'parameters' must be 'Parameter' or 'dict', "
                            "please check the 'parameters'.")
        if isinstance(loss_scale, int) and not isinstance(loss_scale, bool):
            loss_scale = float(loss_scale)
        self.loss_scale = _v.check_float("loss_scale", loss_scale, name,
                                         _v.POSITIVE)
        self.dynamic_lr = False
        self.dynamic_weight_decay = False
        self.is_group = isinstance(parameters[0], dict)
        self.is_group_lr = False
        self.is_group_params_ordered = False
        self._counter = _Counter()
        self._hyper = {}
        self._options = {}
        self._state_params = {}
        self._state_attrs = []   # (compiled state name, MindSpore attribute)
        self._target = _check_target(target, name)
        self.compile_options = DEFAULT_COMPILE_OPTIONS

        self._global_lr = self._preprocess_single_lr(learning_rate,
                                                     "learning_rate")
        if self.is_group:
            groups, params = self._init_group_params(parameters, weight_decay)
        else:
            self._global_wd = self._preprocess_weight_decay(weight_decay)
            params = list(parameters)
            seen = set()
            for p in params:
                if p.name in seen:
                    raise ValueError(
                        "For '%s', the parameter name '%s' is used more than "
                        "once; parameter names must be unique." % (name, p.name))
                seen.add(p.name)
            groups = [_Group(0, self._global_lr, self._global_wd, False,
                             False, False, params)]
        self._groups = groups
        self._parameters = ParameterTuple(params)
        index = {id(p): i for i, p in enumerate(params)}
        self._param_group = [None] * len(params)
        for g in groups:
            g.indices = [index[id(p)] for p in g.params]
            for i in g.indices:
                self._param_group[i] = g
        if self.is_group:
            self.decay_flags = tuple(
                self._param_group[i].wd.is_dynamic or
                self._param_group[i].wd.value > 0.0 for i in range(len(params)))
            self.grad_centralization_flags = tuple(
                self._param_group[i].gc for i in range(len(params)))
            self.exec_weight_decay = any(self.decay_flags)
        else:
            self.decay_flags = tuple(_default_decay_filter(p.name)
                                     for p in params)
            self.exec_weight_decay = self._global_wd.is_dynamic or \
                self._global_wd.value > 0.0
        self._unique = not any(p.unique for p in params)
        self.param_length = len(params)
        if self._target == "GPU":
            _require_cuda_driver(name)

    # ----------------------------------------------------------------- checks
    @property
    def cls_name(self):
        return type(self).__name__

    @staticmethod
    def _parameters_base_check(parameters, param_info):
        if parameters is None:
            raise ValueError("For 'Optimizer', the argument %s can not be None."
                             % param_info)
        if not isinstance(parameters, Iterable) or isinstance(parameters, dict):
            raise TypeError("For 'Optimizer', the argument %s must be Iterable "
                            "type, but got %s." % (param_info, type(parameters)))
        parameters = list(parameters)
        if not parameters:
            raise ValueError("For 'Optimizer', the argument %s must not be empty."
                             % param_info)
        return parameters

    def _preprocess_single_lr(self, learning_rate, lr_name):
        name = self.cls_name
        if isinstance(learning_rate, (bool, np.bool_)):
            raise TypeError("For '%s', the argument 'learning_rate' must be int, "
                            "float, numpy.ndarray, Iterable or "
                            "LearningRateSchedule, but got bool." % name)
        if isinstance(learning_rate, (int, float, np.integer, np.floating)):
            value = float(learning_rate)
            if math.isnan(value) or math.isinf(value):
                raise ValueError("For '%s', the 'learning rate' must be finite, "
                                 "but got %r." % (name, learning_rate))
            if value < 0.0:
                raise ValueError("For '%s', the 'learning rate' must be >= 0, "
                                 "but got %r." % (name, learning_rate))
            return _Lr("const", Parameter(np.array(value, np.float32), lr_name))
        if isinstance(learning_rate, LearningRateSchedule):
            self.dynamic_lr = True
            if learning_rate._ir_schedule() is not None:
                return _Lr("schedule", schedule=learning_rate)
            return _Lr("python", schedule=learning_rate)
        if isinstance(learning_rate, np.ndarray):
            values = learning_rate
            if values.ndim > 1:
                raise ValueError("For 'Optimizer', if 'learning_rate' is a "
                                 "tensor, then the dimension of it should be 0 "
                                 "or 1, but got %d." % values.ndim)
        elif isinstance(learning_rate, Iterable) and \
                not isinstance(learning_rate, (str, bytes, dict)):
            values = list(learning_rate)
        else:
            raise TypeError("For '%s', the argument 'learning_rate' must be "
                            "int, float, numpy.ndarray, Iterable or "
                            "LearningRateSchedule, but got %s."
                            % (name, type(learning_rate)))
        try:
            arr = np.array(values, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError("For '%s', the values of 'learning_rate' must be "
                            "numbers." % name)
        if arr.ndim > 1:
            raise ValueError("For 'Optimizer', a dynamic 'learning_rate' must "
                             "be one-dimensional, but got %d dimensions."
                             % arr.ndim)
        if not np.all(np.isfinite(arr)):
            raise ValueError("For '%s', the 'learning rate' values must be "
                             "finite." % name)
        if np.any(arr < 0):
            raise ValueError("For '%s', the 'learning rate' values must be >= 0."
                             % name)
        if arr.ndim == 0:
            return _Lr("const", Parameter(arr.astype(np.float32), lr_name))
        if arr.size == 0:
            raise ValueError("For '%s', a dynamic 'learning_rate' must not be "
                             "empty." % name)
        self.dynamic_lr = True
        param = Parameter(arr.astype(np.float32), lr_name)
        param.data.flags.writeable = False  # compiled into the step
        return _Lr("list", param)

    def _preprocess_weight_decay(self, weight_decay):
        name = self.cls_name
        if isinstance(weight_decay, LearningRateSchedule):
            self.dynamic_weight_decay = True
            return _Wd(schedule=weight_decay)
        if isinstance(weight_decay, (float, int)) and \
                not isinstance(weight_decay, bool):
            value = float(weight_decay)
            if math.isnan(value) or math.isinf(value):
                raise ValueError("For '%s', the 'weight_decay' must be finite, "
                                 "but got %r." % (name, weight_decay))
            if value < 0.0:
                raise ValueError("For '%s', the 'weight_decay' must be >= 0, "
                                 "but got %r." % (name, weight_decay))
            return _Wd(value)
        raise TypeError("For 'Optimizer', the argument 'Weight_decay' must be "
                        "int, float or LearningRateSchedule, but got %s."
                        % type(weight_decay))

    @staticmethod
    def _preprocess_grad_centralization(grad_centralization):
        if not isinstance(grad_centralization, bool):
            raise TypeError("For 'Optimizer', the 'gradients_centralization' "
                            "must be bool type, but got %s."
                            % type(grad_centralization))
        return grad_centralization

    def _check_group_params(self, parameters):
        keys = ["params", "lr", "weight_decay", "order_params",
                "grad_centralization"]
        for group in parameters:
            invalid = [k for k in group if k not in keys]
            if invalid:
                raise KeyError("For 'Optimizer', the key in group params must "
                               "be one of in %s, but got %s." % (keys, invalid))
            if "order_params" in group:
                if len(group) > 1:
                    raise ValueError("For 'Optimizer', the order params dict in "
                                     "group parameters should only include the "
                                     "'order_params' key, but got %s."
                                     % list(group.keys()))
                if not isinstance(group["order_params"], Iterable):
                    raise TypeError("For 'Optimizer', the value of "
                                    "'order_params' in group parameters should "
                                    "be Iterable type, but got %s."
                                    % type(group["order_params"]))
                continue
            if "params" not in group:
                raise KeyError("For 'Optimizer', a group dict must hold the key "
                               "'params', but got %s." % list(group.keys()))
            params = self._parameters_base_check(group["params"],
                                                 "group `params`")
            for i, p in enumerate(params):
                if not isinstance(p, Parameter):
                    raise TypeError("For 'Optimizer', the element in group "
                                    "parameters must be Parameter type, but "
                                    "got %s at index %d." % (type(p), i))

    def _init_group_params(self, parameters, weight_decay):
        self._check_group_params(parameters)
        list_len = self._global_lr.param.size \
            if self._global_lr.kind == "list" else 0
        # lr checks first, as MindSpore's _parse_group_params does.
        group_lrs = {}
        for num, group in enumerate(parameters):
            if "order_params" in group:
                self.is_group_params_ordered = True
                continue
            if "lr" in group:
                self.is_group_lr = True
                lr = self._preprocess_single_lr(group["lr"],
                                                "learning_rate_group_%d" % num)
                if lr.kind == "list":
                    if list_len == 0:
                        list_len = lr.param.size
                    elif lr.param.size != list_len:
                        raise ValueError(
                            "For 'Optimizer', the Tensor type dynamic learning "
                            "rate in group must be the same size as the "
                            "argument 'learning_rate'.")
                group_lrs[num] = lr
        self._global_wd = self._preprocess_weight_decay(weight_decay)
        groups, params, seen = [], [], set()
        ordered = None
        for num, group in enumerate(parameters):
            if "order_params" in group:
                ordered = list(group["order_params"])
                continue
            gparams = list(group["params"])
            own_wd = "weight_decay" in group
            wd = self._preprocess_weight_decay(group["weight_decay"]) \
                if own_wd else self._global_wd
            gc = self._preprocess_grad_centralization(
                group["grad_centralization"]) \
                if "grad_centralization" in group else False
            for p in gparams:
                if p.name in seen:
                    raise RuntimeError(
                        "For 'Optimizer', the %s parameter already exists, it "
                        "does not support repeated setting. Please check "
                        "whether the optimizer parameter has been set multiple "
                        "times." % p.name)
                seen.add(p.name)
            own_lr = num in group_lrs
            groups.append(_Group(len(groups), group_lrs.get(num, self._global_lr),
                                 wd, gc, own_lr, own_wd, gparams))
            params += gparams
        if ordered is not None:
            if len(ordered) != len(params):
                raise ValueError(
                    "For 'Optimizer', the length of order parameters must be "
                    "the same as the length of group parameters, but got order "
                    "parameters' length %d, group parameters' length %d."
                    % (len(ordered), len(params)))
            for i, p in enumerate(ordered):
                if not isinstance(p, Parameter):
                    raise TypeError("For 'Optimizer', the element of "
                                    "'order_params' must be Parameter type, "
                                    "but got %s at index %d." % (type(p), i))
            by_name = {p.name: p for p in params}
            names = [p.name for p in ordered]
            if len(set(names)) != len(names) or set(names) != set(by_name):
                missing = sorted(set(by_name) - set(names))
                raise ValueError(
                    "For 'Optimizer', 'order_params' must name every grouped "
                    "parameter once; missing %s, names given %s."
                    % (missing, names))
            params = [by_name[n] for n in names]
        return groups, params

    # ------------------------------------------------------ rule and states
    def _setup_rule(self, rule, floats, options=None, init_only=None):
        """Declares the compiled rule: ``floats`` (runtime hyper-parameters),
        ``options`` (structural booleans), ``init_only`` (state initial
        values, structural)."""
        options = dict(options or {})
        init_only = dict(init_only or {})
        self._rule = rule
        self._hyper = dict(floats)
        self._options = options
        ir_hyper = dict(init_only)
        ir_hyper.update(floats)
        ir_hyper.update(options)
        self._parts = [_Part(rule, ir_hyper, list(floats),
                             range(len(self._parameters)))]

    def _init_states(self, specs):
        """``specs``: ``(compiled name, MindSpore attribute, name prefix,
        initial value)``; the initial value is a number or a function of the
        parameter's index."""
        # Every state array of the optimizer lives in one runtime-owned
        # block (64-byte-aligned buffers) that the compiled step binds once.
        arrays = iter(_state_arena.allocate_numpy(
            [(p.shape, p.dtype) for _ in specs for p in self._parameters]))
        for compiled_name, attr, prefix, init in specs:
            states = []
            for i, p in enumerate(self._parameters):
                value = init(i) if callable(init) else init
                array = next(arrays)
                array[...] = value
                states.append(Parameter._wrap(array, "%s.%s" % (prefix, p.name),
                                              requires_grad=False))
            states = ParameterTuple(states)
            self._state_params[compiled_name] = states
            self._state_attrs.append((compiled_name, attr))
            setattr(self, attr, states)

    def _initial_lr(self, i):
        """Learning rate of parameter ``i`` at step 0, float32 (Rprop's
        initial step size)."""
        return float(np.float32(self._param_group[i].lr.value_at(0)))

    def _check_hyper(self, name, value):
        """Checks a runtime hyper-parameter value; returns it as a float."""
        rng = _RULE_RANGES[self._rule].get(name)
        if rng is None:
            raise KeyError("For '%s', '%s' is not a runtime hyper-parameter; "
                           "the runtime ones are %s." % (self.cls_name, name,
                                                         sorted(self._hyper)))
        return _v.check_float(name, value, self.cls_name, rng, allow_int=True)

    def _check_hyper_consistency(self, hyper):
        """Constraints between hyper-parameters (subclasses)."""

    # ------------------------------------------------------------ properties
    @property
    def parameters(self):
        return self._parameters

    @property
    def global_step(self):
        """The 0-based global step: the number of steps taken."""
        return self._counter.value

    @global_step.setter
    def global_step(self, value):
        if isinstance(value, (bool, np.bool_)) or \
                not isinstance(value, (int, np.integer)):
            raise TypeError("For '%s', the 'global_step' must be int, but got "
                            "%s." % (self.cls_name, type(value).__name__))
        if value < 0:
            raise ValueError("For '%s', the 'global_step' must be >= 0, but got "
                             "%d." % (self.cls_name, value))
        self._counter.value = int(value)

    @property
    def unique(self):
        """Whether duplicate row indices of sparse gradients are merged."""
        return self._unique

    @unique.setter
    def unique(self, value):
        if not isinstance(value, bool):
            raise TypeError("For 'Optimizer', the property 'unique' must be "
                            "bool, but got %s" % type(value))
        if value != self._unique and self.is_compiled and \
                any(self._sparse_flags or ()):
            raise RuntimeError(
                "For '%s', 'unique' is compiled into the step of the sparse "
                "parameters; set it before the first step." % self.cls_name)
        self._unique = value

    @property
    def target(self):
        """Where the update runs: "CPU" (compiled host code) or "GPU" (CUDA
        kernels on device copies of the arrays); see the module docstring."""
        return self._target

    @target.setter
    def target(self, value):
        # MindSpore's Optimizer._set_base_target: the environment is the
        # target the optimizer has (here: that it was built with).
        if not isinstance(value, str):
            raise TypeError("For 'Optimizer', the property 'target' must be "
                            "string, but got %s" % type(value))
        if value not in _TARGETS:
            raise ValueError("For 'Optimizer', the property 'target' must be "
                             "one of ['CPU', 'Ascend' ,'GPU'], but got %s"
                             % value)
        if self._target == "CPU" and value in ("Ascend", "GPU"):
            raise ValueError("For 'Optimizer', the property 'target' cannot be "
                             "set to 'GPU' or 'Ascend' in the 'CPU' "
                             "environment.")
        if self._target == "GPU" and value == "Ascend":
            raise ValueError("For 'Optimizer', the property 'target' cannot be "
                             "set to 'Ascend' in the 'GPU' environment.")
        if self._target == "GPU" and value == "CPU":
            # The arrays hold every value after each GPU step: the host step
            # continues from them.
            self._release_gpu()
            self._target = value
            self._bind_parts()
            return
        self._target = value

    @property
    def learning_rate(self):
        """MindSpore's ``learning_rate``: the float32 Parameter of a constant
        rate, the schedule, the Parameter holding a per-step list, or (groups
        with their own lr) a tuple of those, one per parameter."""
        if self.is_group_lr:
            return tuple(self._param_group[i].lr.user_object()
                         for i in range(len(self._parameters)))
        return self._global_lr.user_object()

    @learning_rate.setter
    def learning_rate(self, value):
        lr = self._global_lr
        if lr.kind != "const":
            raise RuntimeError(
                "For '%s', the learning rate is dynamic (%s) and compiled into "
                "the step; only a constant learning rate can be assigned."
                % (self.cls_name, lr.kind))
        if isinstance(value, Parameter):
            value = value.data
        if isinstance(value, (bool, np.bool_)) or not isinstance(
                value, (int, float, np.integer, np.floating, np.ndarray)) or \
                np.ndim(value) != 0:
            raise TypeError("For '%s', a learning rate must be a number, but "
                            "got %s." % (self.cls_name, type(value).__name__))
        value = _runtime_scalar(value, "learning rate", self.cls_name)
        lr.param.set_data(np.float32(value))

    @property
    def weight_decay(self):
        """MindSpore's ``weight_decay``: see ``get_weight_decay``."""
        return self.get_weight_decay()

    def __getattr__(self, name):
        # Rule hyper-parameters and options read as attributes (opt.beta1).
        d = self.__dict__
        if name in d.get("_hyper", {}):
            return d["_hyper"][name]
        if name in d.get("_options", {}):
            return d["_options"][name]
        raise AttributeError("'%s' object has no attribute '%s'"
                             % (type(self).__name__, name))

    # ------------------------------------------------------ runtime values
    def get_hyper_param(self, name):
        """The current value of a runtime hyper-parameter (``beta1``, ...)."""
        if name not in self._hyper:
            raise KeyError("For '%s', unknown hyper-parameter %r; the runtime "
                           "ones are %s." % (self.cls_name, name,
                                             sorted(self._hyper)))
        return self._hyper[name]

    def set_hyper_param(self, name, value):
        """Changes a runtime hyper-parameter for every group; the next step
        uses it (no recompilation)."""
        if name not in self._hyper:
            raise KeyError("For '%s', unknown hyper-parameter %r; the runtime "
                           "ones are %s." % (self.cls_name, name,
                                             sorted(self._hyper)))
        value = self._check_hyper(name, value)
        hyper = dict(self._hyper)
        hyper[name] = value
        self._check_hyper_consistency(hyper)
        self._hyper[name] = value

    def set_weight_decay(self, weight_decay, group=None):
        """Changes a weight decay (user-level value, as given to the
        constructor; a number or a LearningRateSchedule).  ``group=None``: the
        optimizer's own weight decay (every group that does not set its own);
        ``group=i``: the i-th parameter group."""
        name = self.cls_name
        if group is None:
            targets = [g for g in self._groups if not g.own_wd]
        else:
            if not self.is_group:
                raise ValueError("For '%s', the parameters are not grouped; "
                                 "use group=None." % name)
            if isinstance(group, bool) or not isinstance(group, int) or \
                    not 0 <= group < len(self._groups):
                raise ValueError("For '%s', 'group' must be an index in [0, "
                                 "%d), but got %r." % (name, len(self._groups),
                                                       group))
            targets = [self._groups[group]]
        had_dynamic = self.dynamic_weight_decay
        try:
            wd = self._preprocess_weight_decay(weight_decay)
        finally:
            self.dynamic_weight_decay = had_dynamic
        if not self.is_group and not self.exec_weight_decay and (
                wd.is_dynamic or wd.value > 0.0):
            raise RuntimeError(
                "For '%s', the optimizer was built with weight_decay=0, so its "
                "step has no weight decay (as in MindSpore, an ungrouped "
                "optimizer decays only when built with weight_decay > 0); "
                "build it with a positive weight decay or a schedule to change "
                "the value later." % name)
        if self._extra_wd_check is not None:
            self._extra_wd_check(wd)
        self.dynamic_weight_decay = had_dynamic or wd.is_dynamic
        if group is None:
            self._global_wd = wd
        for g in targets:
            g.wd = wd
            if group is not None:
                g.own_wd = True
        if self.is_group:
            self.decay_flags = tuple(
                self._param_group[i].wd.is_dynamic or
                self._param_group[i].wd.value > 0.0
                for i in range(len(self._parameters)))
            self.exec_weight_decay = any(self.decay_flags)

    _extra_wd_check = None

    # --------------------------------------------------------- compilation
    def _spec(self, i):
        p = self._parameters[i]
        sparse = bool(self._sparse_flags[i]) if self._sparse_flags else False
        return (p.name, p.shape, str(p.dtype), sparse)

    def _part_ir(self, part):
        step = self._counter.value
        name = self.cls_name
        # 'unique' only matters (and is only emitted) with sparse parameters.
        unique = True
        if self._sparse_flags and any(self._sparse_flags[i]
                                      for i in part.indices):
            unique = self._unique
        if not self.is_group:
            g = self._groups[0]
            part.groups = [g]
            return _ir.optimizer_ir(
                part.rule, part.ir_hyper,
                params=[self._spec(i) for i in part.indices],
                learning_rate=self._global_lr.ir_attr(step, name),
                weight_decay=0.0 if part.zero_decay
                else self._global_wd.ir_value(step, name),
                loss_scale=self.loss_scale, unique=unique)
        members = set(part.indices)
        groups, ir_groups = [], []
        for g in self._groups:
            indices = [i for i in g.indices if i in members]
            if not indices:
                continue
            d = {"params": [self._spec(i) for i in indices],
                 "grad_centralization": g.gc}
            if g.own_lr:
                d["lr"] = g.lr.ir_attr(step, name)
            if part.zero_decay:
                d["weight_decay"] = 0.0
            elif g.own_wd:
                d["weight_decay"] = g.wd.ir_value(step, name)
            ir_groups.append(d)
            groups.append(g)
        part.groups = groups
        return _ir.optimizer_ir(
            part.rule, part.ir_hyper, groups=ir_groups,
            learning_rate=self._global_lr.ir_attr(step, name),
            weight_decay=0.0 if part.zero_decay
            else self._global_wd.ir_value(step, name),
            loss_scale=self.loss_scale,
            order_params=[self._parameters[i].name for i in part.indices],
            unique=unique)

    @property
    def is_compiled(self):
        return self._parts is not None and self._parts[0].compiled is not None

    def _ensure_compiled(self):
        if self.is_compiled:
            return
        texts = [self._part_ir(part) for part in self._parts]
        compiled = [_compile(text, self.compile_options) for text in texts]
        for part, c in zip(self._parts, compiled):
            _compiled.check_layout(
                c, [self._parameters[i].name for i in part.indices],
                self._state_params, self.cls_name)
        self._param_loc = [None] * len(self._parameters)
        for part, text, c in zip(self._parts, texts, compiled):
            part.text = text
            part.compiled = c
            part.last = {}
            part.param_arrays = [self._parameters[i].data for i in part.indices]
            part.state_arrays = [self._state_params[s][i].data
                                 for i in part.indices for s in c.state_names]
            part.bound = None
            group_pos = {id(g): k for k, g in enumerate(part.groups)}
            for i in part.indices:
                self._param_loc[i] = (part, group_pos[id(self._param_group[i])])
        self._bind_parts()

    def _bind_parts(self):
        """Binds the host step of each compiled part with dense gradients to
        the arrays (the fast path); none for target 'GPU'."""
        for part in self._parts or ():
            part.bound = None
            if self._target == "GPU" or part.compiled is None:
                continue
            if not (self._sparse_flags and any(self._sparse_flags[i]
                                               for i in part.indices)):
                part.bound = part.compiled.bind_numpy(
                    part.param_arrays, part.state_arrays, part.indices,
                    len(self._parameters))

    def _runtime_updates(self):
        """Every runtime value for the compiled tables, checked; nothing is
        written yet."""
        step = self._counter.value
        name = self.cls_name
        updates = []
        for part in self._parts:
            for k, g in enumerate(part.groups):
                if g.lr.kind in ("const", "python"):
                    value = g.lr.runtime_value(step, name)
                    self._check_runtime_lr(value)
                    updates.append((part, k, "learning_rate", value))
                if not part.zero_decay:
                    updates.append((part, k, "weight_decay",
                                    g.wd.value_at(step, name)))
                for h in part.runtime_hyper:
                    updates.append((part, k, h, self._hyper[h]))
        return updates

    def _check_runtime_lr(self, value):
        """Subclass hook: constraints on a constant learning rate."""

    def _sync(self):
        updates = self._runtime_updates()
        for part, k, h, value in updates:
            key = (k, h)
            if part.last.get(key) != value:
                part.compiled.set_hyper_param(k, h, value)
                part.last[key] = value
        for part in self._parts:
            part.compiled.global_step = self._counter.value

    def compiled_ir(self):
        """The optim-dialect text of each compiled part (compiles if needed)."""
        self._ensure_compiled()
        return [part.text for part in self._parts]

    # --------------------------------------------------------------- steps
    def _check_gradients(self, gradients):
        name = self.cls_name
        if not isinstance(gradients, (tuple, list)):
            raise TypeError("For '%s', the 'gradients' must be a tuple or list "
                            "of numpy.ndarray, but got %s."
                            % (name, type(gradients).__name__))
        if len(gradients) != len(self._parameters):
            raise ValueError("For '%s', expected %d gradients (one per "
                             "parameter), but got %d."
                             % (name, len(self._parameters), len(gradients)))
        checked = []
        for g, p in zip(gradients, self._parameters):
            if _is_sparse_gradient(g):
                if not self._sparse_supported:
                    raise NotImplementedError(
                        "For '%s', the gradient of '%s' is sparse: %s."
                        % (name, p.name, self._sparse_reason()))
                checked.append(self._check_sparse_gradient(g, p))
                continue
            if isinstance(g, Parameter):
                g = g.data
            if not isinstance(g, np.ndarray):
                raise TypeError("For '%s', the gradient of '%s' must be a "
                                "numpy.ndarray, but got %s."
                                % (name, p.name, type(g).__name__))
            if g.dtype != p.dtype:
                raise TypeError("For '%s', the gradient of '%s' must have dtype "
                                "%s, but got %s." % (name, p.name, p.dtype,
                                                     g.dtype))
            if g.shape != p.shape:
                raise ValueError("For '%s', the gradient of '%s' must have "
                                 "shape %s, but got %s."
                                 % (name, p.name, p.shape, g.shape))
            if not g.flags.c_contiguous or np.may_share_memory(g, p.data):
                g = np.ascontiguousarray(g).copy()
            checked.append(g)
        return checked

    def _sparse_reason(self):
        return _SPARSE_REASON

    def _check_sparse_gradient(self, g, p):
        """A checked ``(int32 indices, values)`` pair for parameter ``p``
        (copies where the runtime needs contiguous, unaliased buffers)."""
        name = self.cls_name
        if isinstance(g, RowTensor):
            if g.dense_shape != p.shape:
                raise ValueError("For '%s', the RowTensor gradient of '%s' must "
                                 "have dense_shape %s, but got %s."
                                 % (name, p.name, p.shape, g.dense_shape))
            idx, vals = g.indices, g.values
        else:
            idx, vals = g
        if p.ndim < 1:
            raise ValueError("For '%s', '%s' is a scalar: a sparse (row) "
                             "gradient needs a parameter of rank >= 1."
                             % (name, p.name))
        if idx.dtype.kind not in "iu":
            raise TypeError("For '%s', the indices of the sparse gradient of "
                            "'%s' must be integers, but got dtype %s."
                            % (name, p.name, idx.dtype))
        if idx.ndim != 1:
            raise ValueError("For '%s', the indices of the sparse gradient of "
                             "'%s' must be 1-d, but got shape %s."
                             % (name, p.name, idx.shape))
        if vals.dtype != p.dtype:
            raise TypeError("For '%s', the values of the sparse gradient of "
                            "'%s' must have dtype %s, but got %s."
                            % (name, p.name, p.dtype, vals.dtype))
        want = (idx.shape[0],) + tuple(p.shape[1:])
        if vals.shape != want:
            raise ValueError("For '%s', the values of the sparse gradient of "
                             "'%s' must have shape %s (one row per index), but "
                             "got %s." % (name, p.name, want, vals.shape))
        if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= p.shape[0]):
            raise ValueError("For '%s', the indices of the sparse gradient of "
                             "'%s' must be in [0, %d), but got values in "
                             "[%d, %d]." % (name, p.name, p.shape[0],
                                            int(idx.min()), int(idx.max())))
        if not self._unique and np.unique(idx).size != idx.size:
            raise ValueError("For '%s', 'unique' is False, so the indices of "
                             "the sparse gradient of '%s' must be unique (set "
                             "opt.unique = True before the first step to "
                             "merge duplicate rows)." % (name, p.name))
        idx = np.array(idx, dtype=np.int32, order="C", copy=True)
        if not vals.flags.c_contiguous or np.may_share_memory(vals, p.data):
            vals = np.ascontiguousarray(vals).copy()
        return (idx, vals)

    def _check_sparse_layout(self, flags):
        """Checks which gradients are sparse (``flags``) against the compiled
        step (fixed by the first step) or, before it, against what the
        compiler supports.  Raises before anything changes."""
        name = self.cls_name
        if self._stepped and self._sparse_flags is not None:
            for p, got, want in zip(self._parameters, flags,
                                    self._sparse_flags):
                if got != want:
                    kind = lambda s: "sparse" if s else "dense"
                    raise TypeError(
                        "For '%s', the gradient of '%s' is %s, but the "
                        "optimizer was compiled on its first step with a %s "
                        "gradient for it: a parameter keeps the kind of "
                        "gradient (sparse RowTensor / (indices, values), or "
                        "dense array) of its first step."
                        % (name, p.name, kind(got), kind(want)))
            return
        for i, sparse in enumerate(flags):
            if not sparse:
                continue
            p = self._parameters[i]
            if self.is_group:
                raise NotImplementedError(
                    "For '%s', the gradient of '%s' is sparse, but the "
                    "parameters are grouped: the compiled step applies a "
                    "group's weight decay (a runtime value) to every grouped "
                    "parameter, and the compiler does not support weight "
                    "decay on a sparse gradient yet; use an ungrouped "
                    "optimizer for sparse parameters or pass the dense "
                    "gradient." % (name, p.name))
            if self.exec_weight_decay and self.decay_flags[i]:
                raise NotImplementedError(
                    "For '%s', the gradient of '%s' is sparse, but weight "
                    "decay applies to it (an ungrouped optimizer built with "
                    "weight_decay > 0 decays every parameter whose name holds "
                    "neither 'beta' nor 'gamma'): the compiler does not "
                    "support weight decay on a sparse gradient yet; build the "
                    "optimizer with weight_decay=0 or pass the dense gradient."
                    % (name, p.name))

    def _compiled_step(self, gradients):
        # Fast path: every gradient a C-contiguous array of its parameter's
        # dtype and shape, checked and bound in C++ (no per-tensor Python);
        # anything else takes the checked path below, which raises or
        # copies.
        parts = self._parts
        if parts[0].compiled is not None and \
                all(part.bound is not None and part.bound.bind_grads(gradients)
                    for part in parts):
            self._sync()
            for part in parts:
                part.bound.run()
            self._stepped = True
            self._counter.value += 1
            return True
        grads = self._check_gradients(gradients)
        flags = tuple(isinstance(g, tuple) for g in grads)
        if self._target == "GPU":
            return self._gpu_step(grads, flags)
        self._check_sparse_layout(flags)
        dense = (False,) * len(flags)
        if not self.is_compiled or (
                not self._stepped and flags != (self._sparse_flags or dense)):
            # First compilation, or compiled (get_lr / compiled_ir) before the
            # first step for other gradients: compile for this step's layout.
            old_flags = self._sparse_flags
            saved = [(part, part.compiled) for part in self._parts]
            self._sparse_flags = flags
            for part in self._parts:
                part.compiled = None
            try:
                self._ensure_compiled()
            except Exception:
                self._sparse_flags = old_flags
                for part, c in saved:
                    part.compiled = c
                raise
        self._sync()
        for part in self._parts:
            part.compiled.step(part.param_arrays,
                               [grads[i] for i in part.indices],
                               part.state_arrays)
        self._stepped = True
        self._counter.value += 1
        return True

    # ---------------------------------------------------------- target GPU
    def _ensure_gpu(self):
        """Compiles each part for the GPU (the chip of device GPU_DEVICE),
        loads it there and allocates its device memory, once."""
        self._ensure_compiled()
        from ._optim import DeviceBuffer
        name = self.cls_name
        for part in self._parts:
            if part.gpu is not None:
                continue
            gpu = _compile_gpu(part.text)
            names = [info["name"] for info in gpu.params]
            expected = [self._parameters[i].name for i in part.indices]
            if names != expected or \
                    list(gpu.state_names) != list(part.compiled.state_names):
                raise RuntimeError(
                    "internal error: the GPU step of '%s' orders the "
                    "parameters %s and states %s, the host step %s and %s"
                    % (name, names, list(gpu.state_names), expected,
                       list(part.compiled.state_names)))
            gpu.load(GPU_DEVICE)
            arrays = part.param_arrays * 2 + part.state_arrays
            offsets, total = _device_layout([a.nbytes for a in arrays])
            part.gpu_memory = DeviceBuffer(total, GPU_DEVICE)
            part.gpu_offsets = offsets
            part.gpu_last = {}
            part.gpu_step = 0
            part.gpu_states_current = False
            part.gpu = gpu

    def _release_gpu(self):
        for part in self._parts or ():
            part.gpu = part.gpu_memory = part.gpu_offsets = None
            part.gpu_last = {}
            part.gpu_step = 0
            part.gpu_states_current = False

    def _gpu_step(self, grads, flags):
        """One step as CUDA kernels (target 'GPU'): the gradients, the
        parameters and (when the host wrote them) the states go to the
        device, the kernels run, the parameters and states come back into
        the arrays; returns once the device finished."""
        from ._optim import cuda_synchronize
        name = self.cls_name
        for p, sparse in zip(self._parameters, flags):
            if sparse:
                raise NotImplementedError(
                    "For '%s', the gradient of '%s' is sparse, but "
                    "target='GPU' takes dense gradients only: the GPU "
                    "runtime has no sparse (row) step; pass the dense "
                    "gradient or use target='CPU'." % (name, p.name))
        self._ensure_gpu()
        # Every runtime value, checked before anything is written.
        updates = self._runtime_updates()
        for part, k, h, value in updates:
            if part.gpu_last.get((k, h)) != value:
                part.gpu.set_hyper_param(k, h, value)
                part.gpu_last[(k, h)] = value
        step = self._counter.value
        stream = 0  # the legacy default stream
        for part in self._parts:
            memory, offsets = part.gpu_memory, part.gpu_offsets
            base = memory.ptr
            n = len(part.indices)
            part_grads = [grads[i] for i in part.indices]
            uploads = list(zip(part.param_arrays, offsets[:n]))
            uploads += zip(part_grads, offsets[n:2 * n])
            if not part.gpu_states_current:
                uploads += zip(part.state_arrays, offsets[2 * n:])
            for array, offset in uploads:
                if array.nbytes:
                    memory.copy_from_host(array, stream, offset)
            if part.gpu_step != step:
                part.gpu.set_global_step(step)
            part.gpu_step = None  # unknown until the step is enqueued
            addresses = [base + offset for offset in offsets]
            part.gpu.step(addresses[:n], addresses[n:2 * n],
                          addresses[2 * n:], stream)
            part.gpu_step = step + 1
            part.gpu_states_current = True
            downloads = list(zip(part.param_arrays, offsets[:n]))
            downloads += zip(part.state_arrays, offsets[2 * n:])
            for array, offset in downloads:
                if array.nbytes:
                    memory.copy_to_host(array, stream, offset)
        # The arrays of the copies above stay referenced until here.
        cuda_synchronize(stream, GPU_DEVICE)
        self._stepped = True
        self._counter.value += 1
        return True

    def construct(self, gradients):
        """One update (compiled subclasses); user-defined optimizers override
        it."""
        if self._parts is None:
            raise NotImplementedError(
                "'%s' has no update rule: subclass Optimizer and override "
                "construct(gradients), or use one of the optimizers of "
                "optim_mlir.nn." % self.cls_name)
        return self._compiled_step(gradients)

    def __call__(self, gradients):
        if self._parts is not None and \
                type(self).construct is Optimizer.construct:
            return self._compiled_step(gradients)
        grads = self._check_gradients(gradients)
        result = self.construct(tuple(grads))
        self._counter.value += 1
        return result

    # ------------------------------------------------- MindSpore interface
    def get_lr(self):
        """The learning rate of the next step: a float, or a tuple with one
        value per parameter when groups set their own lr."""
        step = self._counter.value
        n = len(self._parameters)
        if self._parts is None:
            values = [float(np.float32(self._param_group[i].lr.value_at(step)))
                      for i in range(n)]
        else:
            self._ensure_compiled()
            self._sync()
            rates = {id(part): part.compiled.learning_rates()
                     for part in self._parts}
            values = []
            for i in range(n):
                part, k = self._param_loc[i]
                values.append(float(rates[id(part)][k]))
        return tuple(values) if self.is_group_lr else values[0]

    def get_lr_parameter(self, param):
        """The learning rate a parameter uses: its float32 Parameter
        (constant), the Parameter holding its per-step list, or its schedule;
        a list for a list argument."""
        if isinstance(param, Parameter):
            param_list = [param]
        elif isinstance(param, list):
            param_list = param
        else:
            raise TypeError("For 'get_lr_parameter', the 'param' must be "
                            "'Parameter' or 'list' type, but got %s."
                            % type(param))
        ids = [id(p) for p in self._parameters]
        lr = []
        for p in param_list:
            _v.check_value_type("parameter", p, [Parameter], self.cls_name)
            if id(p) not in ids:
                raise ValueError("For 'get_lr_parameter', the parameter %s is "
                                 "not in optimizer, please check whether the "
                                 "argument 'param' is correct." % p.name)
            lr.append(self._param_group[ids.index(id(p))].lr.user_object())
        return lr if isinstance(param, list) else lr[0]

    def get_weight_decay(self):
        """The weight decay of the current step as ``decay_weight`` applies it
        (``weight_decay * loss_scale``, MindSpore's stored value): a float, or
        a tuple with one value per parameter when grouped."""
        step = self._counter.value
        name = self.cls_name
        if self.is_group:
            return tuple(self._param_group[i].wd.value_at(step, name) *
                         self.loss_scale for i in range(len(self._parameters)))
        return self._global_wd.value_at(step, name) * self.loss_scale

    def decay_weight(self, gradients):
        """``g + weight_decay * loss_scale * p`` where the decay flag is set
        (NumPy, eager; returns a new tuple)."""
        gradients = tuple(gradients)
        if not self.exec_weight_decay:
            return gradients
        wd = self.get_weight_decay()
        out = []
        for i, (g, p, flag) in enumerate(zip(gradients, self._parameters,
                                             self.decay_flags)):
            if flag:
                w = wd[i] if self.is_group else wd
                g = p.data * np.asarray(w, p.dtype) + g
            out.append(g)
        return tuple(out)

    def gradients_centralization(self, gradients):
        """Grouped optimizers: for a group with grad_centralization and a
        gradient of rank >= 2 whose second dimension is a multiple of 16,
        subtract from each slice along axis 0 its mean over the other axes."""
        gradients = tuple(gradients)
        if not self.is_group:
            return gradients
        out = []
        for g, flag in zip(gradients, self.grad_centralization_flags):
            g = np.asarray(g)
            if flag and g.ndim >= 2 and g.shape[1] % 16 == 0:
                axes = tuple(range(1, g.ndim))
                g = g - g.mean(axis=axes, keepdims=True, dtype=g.dtype)
            out.append(g)
        return tuple(out)

    def scale_grad(self, gradients):
        """``g * (1 / loss_scale)``; unchanged when ``loss_scale == 1``."""
        gradients = tuple(gradients)
        if self.loss_scale == 1.0:
            return gradients
        return tuple(np.asarray(g) * np.asarray(1.0 / self.loss_scale,
                                                np.asarray(g).dtype)
                     for g in gradients)

    def flatten_gradients(self, gradients):
        """The gradients as the update consumes them.  Parameters of this
        front end are never flattened into chunks by the caller (the compiled
        step does its own per-dtype flattening), so they pass unchanged."""
        return tuple(gradients)

    def broadcast_params(self, optim_result):
        """Broadcasts sharded parameters after the update, rank by rank.  This
        runtime runs one process (every parameter belongs to rank 0), so there
        is nothing to send; returns the status flag ``optim_result``."""
        return optim_result

    # ---------------------------------------------------------- checkpoints
    def _lr_params(self):
        seen, out = set(), []
        for g in self._groups:
            if g.lr.kind == "const" and id(g.lr) not in seen:
                seen.add(id(g.lr))
                out.append(g.lr.param)
        if self._global_lr.kind == "const" and id(self._global_lr) not in seen:
            out.append(self._global_lr.param)
        return out

    def _wd_entries(self):
        out = {}
        if not self._global_wd.is_dynamic:
            out["weight_decay"] = self._global_wd
        for g in self._groups:
            if g.own_wd and not g.wd.is_dynamic:
                out["weight_decay_group_%d" % g.index] = g.wd
        return out

    def state_dict(self):
        """A checkpoint (copies): parameters, states by MindSpore name and
        parameter name, global step, and the runtime values."""
        return {
            "format": _FORMAT,
            "optimizer": self.cls_name,
            "global_step": self._counter.value,
            "parameters": {p.name: p.asnumpy() for p in self._parameters},
            "states": {attr: {p.name: s.asnumpy() for p, s in
                              zip(self._parameters, self._state_params[c])}
                       for c, attr in self._state_attrs},
            "learning_rate": {p.name: float(p.data) for p in self._lr_params()},
            "weight_decay": {k: wd.value for k, wd in self._wd_entries().items()},
            "hyper_params": dict(self._hyper),
        }

    def load_state_dict(self, state_dict):
        """Restores a ``state_dict``; everything is checked before anything
        is written."""
        name = self.cls_name
        if not isinstance(state_dict, dict):
            raise TypeError("For '%s', a state dict must be a dict, but got %s."
                            % (name, type(state_dict).__name__))
        required = ("format", "optimizer", "global_step", "parameters", "states")
        missing = [k for k in required if k not in state_dict]
        if missing:
            raise KeyError("For '%s', the state dict lacks %s." % (name, missing))
        if state_dict["format"] != _FORMAT:
            raise ValueError("For '%s', unknown checkpoint format %r."
                             % (name, state_dict["format"]))
        if state_dict["optimizer"] != name:
            raise ValueError("For '%s', the checkpoint was saved from a '%s'."
                             % (name, state_dict["optimizer"]))
        step = state_dict["global_step"]
        if isinstance(step, (bool, np.bool_)) or \
                not isinstance(step, (int, np.integer)) or step < 0:
            raise ValueError("For '%s', the checkpoint's global_step must be a "
                             "non-negative int, got %r." % (name, step))
        writes = []

        def check_arrays(what, saved, targets):
            if not isinstance(saved, dict):
                raise TypeError("For '%s', the checkpoint's %s must be a dict."
                                % (name, what))
            if set(saved) != set(targets):
                raise KeyError("For '%s', the checkpoint's %s hold %s, the "
                               "optimizer %s." % (name, what, sorted(saved),
                                                  sorted(targets)))
            for key, target in targets.items():
                value = saved[key]
                if not isinstance(value, np.ndarray):
                    raise TypeError("For '%s', checkpoint %s '%s' must be a "
                                    "numpy.ndarray." % (name, what, key))
                if value.shape != target.shape:
                    raise ValueError("For '%s', checkpoint %s '%s' has shape "
                                     "%s, expected %s." % (name, what, key,
                                                           value.shape,
                                                           target.shape))
                if value.dtype != target.dtype:
                    raise TypeError("For '%s', checkpoint %s '%s' has dtype "
                                    "%s, expected %s." % (name, what, key,
                                                          value.dtype,
                                                          target.dtype))
                writes.append((target, value))

        check_arrays("parameters", state_dict["parameters"],
                     {p.name: p for p in self._parameters})
        states = state_dict["states"]
        attrs = {attr: c for c, attr in self._state_attrs}
        if not isinstance(states, dict) or set(states) != set(attrs):
            raise KeyError("For '%s', the checkpoint's states are %s, the "
                           "optimizer's %s." % (name, sorted(states)
                                                if isinstance(states, dict)
                                                else states, sorted(attrs)))
        for attr, c in attrs.items():
            check_arrays("state '%s'" % attr, states[attr],
                         {p.name: s for p, s in
                          zip(self._parameters, self._state_params[c])})
        lr_params = {p.name: p for p in self._lr_params()}
        lrs = state_dict.get("learning_rate", {})
        unknown = set(lrs) - set(lr_params)
        if unknown:
            raise KeyError("For '%s', the checkpoint's learning rates %s are "
                           "not constant learning rates of this optimizer."
                           % (name, sorted(unknown)))
        lr_values = {k: _runtime_scalar(v, "learning rate", name)
                     for k, v in lrs.items()}
        wd_targets = self._wd_entries()
        wds = state_dict.get("weight_decay", {})
        unknown = set(wds) - set(wd_targets)
        if unknown:
            raise KeyError("For '%s', the checkpoint's weight decays %s are "
                           "not constant weight decays of this optimizer."
                           % (name, sorted(unknown)))
        wd_values = {k: _runtime_scalar(v, "weight decay", name)
                     for k, v in wds.items()}
        if not self.is_group and not self.exec_weight_decay and \
                wd_values.get("weight_decay", 0.0) > 0.0:
            raise ValueError("For '%s', the checkpoint has a positive weight "
                             "decay but this optimizer has none compiled in."
                             % name)
        hypers = state_dict.get("hyper_params", {})
        unknown = set(hypers) - set(self._hyper)
        if unknown:
            raise KeyError("For '%s', the checkpoint's hyper-parameters %s are "
                           "unknown." % (name, sorted(unknown)))
        hyper = dict(self._hyper)
        for k, v in hypers.items():
            hyper[k] = self._check_hyper(k, v)
        self._check_hyper_consistency(hyper)
        # Everything checked: write.
        for target, value in writes:
            np.copyto(target.data, value)
        for part in self._parts or ():
            part.gpu_states_current = False  # sent again at the next step
        for k, v in lr_values.items():
            lr_params[k].set_data(np.float32(v))
        for k, v in wd_values.items():
            wd_targets[k].value = v
        self._hyper.update(hyper)
        self._counter.value = int(step)

    def __repr__(self):
        return "%s(%d parameters%s, global_step=%d)" % (
            self.cls_name, len(self._parameters),
            ", grouped" if self.is_group else "", self._counter.value)


# ===========================================================================
# The optimizers
# ===========================================================================

def _check_betas(beta1, beta2, eps, prim_name):
    beta1 = _v.check_float("beta1", beta1, prim_name, _v.OPEN_UNIT)
    beta2 = _v.check_float("beta2", beta2, prim_name, _v.OPEN_UNIT)
    eps = _v.check_float("eps", eps, prim_name, _v.POSITIVE)
    return beta1, beta2, eps


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum (``nn.SGD``).

    State ``accum``.  Raises ValueError for nesterov without momentum > 0 and
    dampening == 0, TypeError for a dynamic weight decay (as MindSpore).
    """

    def __init__(self, params, learning_rate=0.1, momentum=0.0, dampening=0.0,
                 weight_decay=0.0, nesterov=False, loss_scale=1.0,
                 *, target="CPU"):
        super().__init__(learning_rate, params, weight_decay, loss_scale,
                         target=target)
        name = self.cls_name
        momentum = _v.check_float("momentum", momentum, name, _v.NON_NEGATIVE,
                                  allow_int=True)
        dampening = _v.check_float("dampening", dampening, name,
                                   _v.NON_NEGATIVE, allow_int=True)
        _v.check_bool("nesterov", nesterov, name)
        self._check_nesterov(nesterov, momentum, dampening)
        if self.dynamic_weight_decay:
            raise TypeError("For 'SGD', dynamic weight decay is currently not "
                            "supported, the argument 'weight_decay' or "
                            "'weight_decay' set in grouped 'params' must be "
                            "float or int type.")
        self._setup_rule("sgd", {"momentum": momentum, "dampening": dampening},
                         {"nesterov": nesterov})
        self._init_states([("accum", "accum", "accum", 0.0)])

    @staticmethod
    def _check_nesterov(nesterov, momentum, dampening):
        if nesterov and (momentum <= 0.0 or dampening != 0.0):
            raise ValueError("For 'SGD', if 'nesterov' is true, 'momentum' must "
                             "be > 0.0 and 'dampening' must equal to 0.0, but "
                             "got 'momentum' %r, 'dampening' %r"
                             % (momentum, dampening))

    def _check_hyper_consistency(self, hyper):
        self._check_nesterov(self._options["nesterov"], hyper["momentum"],
                             hyper["dampening"])

    def _extra_wd_check(self, wd):
        if wd.is_dynamic:
            raise TypeError("For 'SGD', dynamic weight decay is currently not "
                            "supported.")


class Momentum(Optimizer):
    """Momentum (``nn.Momentum``): ``v = momentum * v + g``, ``p -= lr * v``
    (nesterov: ``p -= lr * (g + momentum * v)``).  State ``moments``."""

    def __init__(self, params, learning_rate, momentum, weight_decay=0.0,
                 loss_scale=1.0, use_nesterov=False, *, target="CPU"):
        super().__init__(learning_rate, params, weight_decay, loss_scale,
                         target=target)
        name = self.cls_name
        momentum = _v.check_float("momentum", momentum, name, _v.NON_NEGATIVE)
        _v.check_bool("use_nesterov", use_nesterov, name)
        self._setup_rule("momentum", {"momentum": momentum},
                         {"use_nesterov": use_nesterov})
        self._init_states([("moments", "moments", "moments", 0.0)])


class Adam(Optimizer):
    """Adam (``nn.Adam``), MindSpore's form: bias correction folded into the
    step size, ``eps`` added to the uncorrected ``sqrt(v)``.  States
    ``moment1``, ``moment2`` (and ``vhat`` with ``use_amsgrad``).

    ``use_lazy=True`` (a keyword argument, as in MindSpore) is the same update
    for dense gradients; ``use_offload=True`` raises NotImplementedError.
    """

    def __init__(self, params, learning_rate=1e-3, beta1=0.9, beta2=0.999,
                 eps=1e-8, use_locking=False, use_nesterov=False,
                 weight_decay=0.0, loss_scale=1.0, use_amsgrad=False, *,
                 target="CPU", **kwargs):
        super().__init__(learning_rate, params, weight_decay, loss_scale,
                         target=target)
        name = self.cls_name
        unknown = sorted(set(kwargs) - {"use_lazy", "use_offload"})
        if unknown:
            raise TypeError("For 'Adam', unexpected keyword arguments %s."
                            % unknown)
        use_lazy = kwargs.get("use_lazy", False)
        use_offload = kwargs.get("use_offload", False)
        beta1, beta2, eps = _check_betas(beta1, beta2, eps, name)
        for arg, value in (("use_locking", use_locking),
                           ("use_nesterov", use_nesterov),
                           ("use_amsgrad", use_amsgrad),
                           ("use_lazy", use_lazy),
                           ("use_offload", use_offload)):
            _v.check_bool(arg, value, name)
        if use_lazy and use_offload:
            raise ValueError("For 'Adam', 'use_lazy' and 'use_offload' can not "
                             "both be True.")
        if use_amsgrad and (use_lazy or use_offload):
            raise ValueError("For lazy Adam and Adam with offload, there is no "
                             "parameter named 'use_amsgrad'.")
        if use_offload:
            raise NotImplementedError(
                "For 'Adam', use_offload=True (the host-offloaded Adam) is not "
                "supported: the compiled step already runs on the host CPU; "
                "use the default.")
        self.use_locking = use_locking
        self.use_lazy = use_lazy
        self._setup_rule("adam", {"beta1": beta1, "beta2": beta2, "eps": eps},
                         {"use_nesterov": use_nesterov,
                          "use_amsgrad": use_amsgrad})
        states = [("moment1", "moment1", "moment1", 0.0),
                  ("moment2", "moment2", "moment2", 0.0)]
        if use_amsgrad:
            states.append(("vhat", "vhat", "vhat", 0.0))
        self._init_states(states)

    @property
    def beta1_power(self):
        """``beta1 ** global_step`` (MindSpore keeps it as a Parameter)."""
        return self._hyper["beta1"] ** self.global_step

    @property
    def beta2_power(self):
        return self._hyper["beta2"] ** self.global_step


class _MomentAliases:
    """``moment1`` / ``moment2`` as aliases of MindSpore's ``moments1`` /
    ``moments2`` state names (AdamWeightDecay, Lamb)."""

    @property
    def moment1(self):
        """Alias of ``moments1`` (the Adam family's first moments)."""
        return self.moments1

    @property
    def moment2(self):
        """Alias of ``moments2``."""
        return self.moments2


class AdamWeightDecay(_MomentAliases, Optimizer):
    """Adam with decoupled weight decay (``nn.AdamWeightDecay``): no bias
    correction, ``p -= lr * (m / (sqrt(v) + eps) + weight_decay * p)``.
    States ``moments1``, ``moments2``."""

    def __init__(self, params, learning_rate=1e-3, beta1=0.9, beta2=0.999,
                 eps=1e-6, weight_decay=0.0, *, target="CPU"):
        super().__init__(learning_rate, params, weight_decay, target=target)
        beta1, beta2, eps = _check_betas(beta1, beta2, eps, self.cls_name)
        self._setup_rule("adam_weight_decay",
                         {"beta1": beta1, "beta2": beta2, "eps": eps})
        self._init_states([("moment1", "moments1", "adam_m", 0.0),
                           ("moment2", "moments2", "adam_v", 0.0)])


class Lamb(_MomentAliases, Optimizer):
    """LAMB (``nn.Lamb``): bias-corrected Adam direction plus weight decay,
    scaled by the trust ratio ``|p| / |u|``.  States ``moments1``,
    ``moments2``."""

    def __init__(self, params, learning_rate, beta1=0.9, beta2=0.999, eps=1e-6,
                 weight_decay=0.0, *, target="CPU"):
        super().__init__(learning_rate, params, weight_decay, target=target)
        beta1, beta2, eps = _check_betas(beta1, beta2, eps, self.cls_name)
        self._setup_rule("lamb", {"beta1": beta1, "beta2": beta2, "eps": eps})
        self._init_states([("moment1", "moments1", "lamb_m", 0.0),
                           ("moment2", "moments2", "lamb_v", 0.0)])


def _default_lars_filter(x):
    return "LayerNorm" not in x.name and "bias" not in x.name


class LARS(Optimizer):
    """LARS around a ``Momentum`` optimizer (``nn.LARS``), compiled as the
    ``lars`` rule.

    ``LARS(optimizer, epsilon=1e-05, coefficient=0.001, use_clip=False,
    lars_filter=lambda x: 'LayerNorm' not in x.name and 'bias' not in
    x.name)``.  It takes over the wrapped optimizer's parameters, groups,
    learning rates, weight decays, loss scale, global step and ``moments``
    states.  Parameters the filter rejects get plain Momentum without weight
    decay (as in MindSpore), compiled as a second part.  Wrapping another
    optimizer, or ``use_clip=True``, raises NotImplementedError.
    """

    def __init__(self, optimizer, epsilon=1e-05, coefficient=0.001,
                 use_clip=False, lars_filter=_default_lars_filter):
        name = self.cls_name
        _v.check_value_type("optimizer", optimizer, [Optimizer], name)
        epsilon = _v.check_float("epsilon", epsilon, name, _v.NON_NEGATIVE)
        coefficient = _v.check_float("coefficient", coefficient, name,
                                     _v.POSITIVE)
        _v.check_bool("use_clip", use_clip, name)
        if not callable(lars_filter):
            raise TypeError("For 'LARS', the 'lars_filter' must be callable, "
                            "but got %s." % type(lars_filter))
        if not isinstance(optimizer, Momentum) or isinstance(optimizer, LARS):
            raise NotImplementedError(
                "For 'LARS', only a wrapped 'Momentum' optimizer can be "
                "compiled (the 'lars' rule is LARS around Momentum); got '%s'."
                % optimizer.cls_name)
        if use_clip:
            raise NotImplementedError(
                "For 'LARS', use_clip=True is not supported: the compiled "
                "'lars' rule has no clipped trust ratio.")
        # Take over the wrapped optimizer's configuration (shared objects:
        # parameters, learning rates, states and the step counter).
        for attr in ("loss_scale", "dynamic_lr", "dynamic_weight_decay",
                     "is_group", "is_group_lr", "is_group_params_ordered",
                     "_counter", "_target", "compile_options", "_global_lr",
                     "_global_wd", "_groups", "_parameters", "_param_group",
                     "decay_flags", "exec_weight_decay", "_unique",
                     "param_length"):
            setattr(self, attr, getattr(optimizer, attr))
        if self.is_group:
            self.grad_centralization_flags = optimizer.grad_centralization_flags
        self.opt = optimizer
        self.epsilon = epsilon
        self.coefficient = coefficient
        self.use_clip = use_clip
        self.lars_flag = tuple(bool(lars_filter(p)) for p in self._parameters)
        self._state_params = {"moments": optimizer.moments}
        self._state_attrs = [("moments", "moments")]
        self.moments = optimizer.moments
        momentum = optimizer.get_hyper_param("momentum")
        use_nesterov = optimizer._options["use_nesterov"]
        self._rule = "lars"
        self._hyper = {"momentum": momentum, "epsilon": epsilon,
                       "coefficient": coefficient}
        self._options = {"use_nesterov": use_nesterov}
        lars_idx = [i for i, f in enumerate(self.lars_flag) if f]
        plain_idx = [i for i, f in enumerate(self.lars_flag) if not f]
        parts = []
        if lars_idx:
            parts.append(_Part("lars", dict(self._hyper, **self._options),
                               ["momentum", "epsilon", "coefficient"],
                               lars_idx))
        if plain_idx:
            parts.append(_Part("momentum", {"momentum": momentum,
                                            "use_nesterov": use_nesterov},
                               ["momentum"], plain_idx, zero_decay=True))
        self._parts = parts


class Adagrad(Optimizer):
    """Adagrad (``nn.Adagrad``): ``accum += g^2``, ``p -= lr * g /
    sqrt(accum)``.  State ``accum`` (starts at ``accum``)."""

    def __init__(self, params, accum=0.1, learning_rate=0.001,
                 update_slots=True, loss_scale=1.0, weight_decay=0.0,
                 *, target="CPU"):
        super().__init__(learning_rate, params, weight_decay, loss_scale,
                         target=target)
        name = self.cls_name
        accum = _v.check_float("accum", accum, name, _v.NON_NEGATIVE)
        _v.check_bool("update_slots", update_slots, name)
        self._setup_rule("adagrad", {}, {"update_slots": update_slots},
                         {"accum": accum})
        self._init_states([("accum", "accum", "accum", accum)])


class RMSProp(Optimizer):
    """RMSProp (``nn.RMSProp``); ``mean_square`` starts at one.  States
    ``mean_square``, ``moment`` and, with ``centered``, ``mean_grad``."""

    def __init__(self, params, learning_rate=0.1, decay=0.9, momentum=0.0,
                 epsilon=1e-10, use_locking=False, centered=False,
                 loss_scale=1.0, weight_decay=0.0, *, target="CPU"):
        super().__init__(learning_rate, params, weight_decay, loss_scale,
                         target=target)
        name = self.cls_name
        decay = _v.check_float("decay", decay, name, _v.NON_NEGATIVE)
        momentum = _v.check_float("momentum", momentum, name, _v.NON_NEGATIVE)
        epsilon = _v.check_float("epsilon", epsilon, name, _v.POSITIVE)
        _v.check_bool("use_locking", use_locking, name)
        _v.check_bool("centered", centered, name)
        self.use_locking = use_locking
        self._setup_rule("rmsprop", {"decay": decay, "momentum": momentum,
                                     "epsilon": epsilon},
                         {"centered": centered})
        states = []
        if centered:
            states.append(("mean_grad", "mean_grad", "mean_grad", 0.0))
        states += [("mean_square", "mean_square", "mean_square", 1.0),
                   ("moment", "moment", "moment", 0.0)]
        self._init_states(states)


class _SparseCapable:
    """Optimizers whose MindSpore form has a sparse-gradient kernel that is
    not compiled yet (LazyAdam's is: it sets ``_sparse_supported``)."""

    _sparse_kernel = None

    def _sparse_reason(self):
        return "%s (MindSpore runs %s here; that sparse kernel is not " \
            "compiled yet)" % (_SPARSE_REASON, self._sparse_kernel)


class FTRL(_SparseCapable, Optimizer):
    """FTRL-proximal (``nn.FTRL``).  States ``moments`` (the accumulator,
    starts at ``initial_accum``) and ``linear``.  The learning rate must be a
    positive constant float (ValueError for a dynamic or group lr)."""

    _sparse_kernel = "SparseApplyFtrl"

    def __init__(self, params, initial_accum=0.1, learning_rate=0.001,
                 lr_power=-0.5, l1=0.0, l2=0.0, use_locking=False,
                 loss_scale=1.0, weight_decay=0.0, *, target="CPU"):
        super().__init__(learning_rate, params, weight_decay, loss_scale,
                         target=target)
        name = self.cls_name
        if self.dynamic_lr or self.is_group_lr:
            raise ValueError("For 'FTRL', dynamic learning rate and group "
                             "learning rate are currently not supported in "
                             "FTRL, they should all be false, but got dynamic "
                             "learning rate %s and group learning rate %s."
                             % (self.dynamic_lr, self.is_group_lr))
        initial_accum = _v.check_float("initial_accum", initial_accum, name,
                                       _v.NON_NEGATIVE)
        _v.check_float("learning_rate", learning_rate, name, _v.POSITIVE)
        lr_power = _v.check_float("lr_power", lr_power, name, _v.NON_POSITIVE)
        l1 = _v.check_float("l1", l1, name, _v.NON_NEGATIVE)
        l2 = _v.check_float("l2", l2, name, _v.NON_NEGATIVE)
        _v.check_bool("use_locking", use_locking, name)
        self.use_locking = use_locking
        self._setup_rule("ftrl", {"lr_power": lr_power, "l1": l1, "l2": l2},
                         init_only={"initial_accum": initial_accum})
        self._init_states([("accum", "moments", "moments", initial_accum),
                           ("linear", "linear", "linear", 0.0)])

    def _check_runtime_lr(self, value):
        if not value > 0.0:
            raise ValueError("For 'FTRL', the learning rate must be > 0, but "
                             "got %r." % value)


class ProximalAdagrad(_SparseCapable, Optimizer):
    """Proximal Adagrad (``nn.ProximalAdagrad``).  State ``accum`` (starts
    at ``accum``)."""

    _sparse_kernel = "SparseApplyProximalAdagrad"

    def __init__(self, params, accum=0.1, learning_rate=0.001, l1=0.0, l2=0.0,
                 use_locking=False, loss_scale=1.0, weight_decay=0.0,
                 *, target="CPU"):
        super().__init__(learning_rate, params, weight_decay, loss_scale,
                         target=target)
        name = self.cls_name
        accum = _v.check_float("accum", accum, name, _v.NON_NEGATIVE)
        l1 = _v.check_float("l1", l1, name, _v.NON_NEGATIVE)
        l2 = _v.check_float("l2", l2, name, _v.NON_NEGATIVE)
        _v.check_bool("use_locking", use_locking, name)
        self.use_locking = use_locking
        self._setup_rule("proximal_adagrad", {"l1": l1, "l2": l2},
                         init_only={"accum": accum})
        self._init_states([("accum", "accum", "accum", accum)])


class AdaMax(Optimizer):
    """AdaMax (``nn.AdaMax``).  States ``moment1``, ``moment2``."""

    def __init__(self, params, learning_rate=0.001, beta1=0.9, beta2=0.999,
                 eps=1e-08, weight_decay=0.0, loss_scale=1.0, *, target="CPU"):
        super().__init__(learning_rate, params, weight_decay, loss_scale,
                         target=target)
        beta1, beta2, eps = _check_betas(beta1, beta2, eps, self.cls_name)
        self._setup_rule("adamax", {"beta1": beta1, "beta2": beta2, "eps": eps})
        self._init_states([("moment1", "moment1", "moment1", 0.0),
                           ("moment2", "moment2", "moment2", 0.0)])

    @property
    def beta1_power(self):
        return self._hyper["beta1"] ** self.global_step


class Adadelta(Optimizer):
    """Adadelta (``nn.Adadelta``).  States ``accum``, ``accum_update``."""

    def __init__(self, params, learning_rate=1.0, rho=0.9, epsilon=1e-6,
                 loss_scale=1.0, weight_decay=0.0, *, target="CPU"):
        super().__init__(learning_rate, params, weight_decay, loss_scale,
                         target=target)
        name = self.cls_name
        rho = _v.check_float("rho", rho, name, _v.CLOSED_UNIT)
        epsilon = _v.check_float("epsilon", epsilon, name, _v.POSITIVE)
        self._setup_rule("adadelta", {"rho": rho, "epsilon": epsilon})
        self._init_states([("accum", "accum", "accum", 0.0),
                           ("accum_update", "accum_update", "accum_update",
                            0.0)])


class ASGD(Optimizer):
    """Averaged SGD (``nn.ASGD``).  State ``ax``."""

    def __init__(self, params, learning_rate=0.1, lambd=1e-4, alpha=0.75,
                 t0=1e6, weight_decay=0.0, *, target="CPU"):
        super().__init__(learning_rate, params, weight_decay, target=target)
        name = self.cls_name
        lambd = _v.check_float("lambd", lambd, name, _v.NON_NEGATIVE)
        alpha = _v.check_float("alpha", alpha, name)
        t0 = _v.check_float("t0", t0, name)
        self._setup_rule("asgd", {"lambd": lambd, "alpha": alpha, "t0": t0})
        self._init_states([("ax", "ax", "ax_", 0.0)])


class Rprop(Optimizer):
    """Rprop (``nn.Rprop``).  States ``prev`` and ``step_size`` (starts at
    the parameter's learning rate at step 0; MindSpore fills it at step 1)."""

    def __init__(self, params, learning_rate=0.1, etas=(0.5, 1.2),
                 step_sizes=(1e-6, 50.), weight_decay=0., *, target="CPU"):
        super().__init__(learning_rate, params, weight_decay, target=target)
        name = self.cls_name
        if not isinstance(etas, tuple):
            raise TypeError("For Rprop, etas must be a tuple, but got %s."
                            % type(etas))
        if len(etas) != 2:
            raise ValueError("For Rprop, etas must be a tuple with the size of "
                             "2, but got %d." % len(etas))
        if not isinstance(step_sizes, tuple):
            raise TypeError("For Rprop, step_sizes must be a tuple, but got %s."
                            % type(step_sizes))
        if len(step_sizes) != 2:
            raise ValueError("For Rprop, step_sizes must be a tuple with the "
                             "size of 2, but got %d." % len(step_sizes))
        etaminus = _v.check_float("etaminus", etas[0], name, _v.OPEN_UNIT)
        etaplus = _v.check_float("etaplus", etas[1], name, _v.GREATER_THAN_ONE)
        min_step = _v.check_float("min_step_sizes", step_sizes[0], name,
                                  _v.NON_NEGATIVE)
        max_step = _v.check_float("max_step_sizes", step_sizes[1], name,
                                  _v.POSITIVE)
        if min_step > max_step:
            raise ValueError("For Rprop, maximal step size should not be less "
                             "than minimal step size, but got %r > %r."
                             % (min_step, max_step))
        self.etas = etas
        self.step_sizes = step_sizes
        self._setup_rule("rprop", {"etaminus": etaminus, "etaplus": etaplus,
                                   "min_step": min_step, "max_step": max_step})
        self._init_states([("prev", "prev", "prev", 0.0),
                           ("step_size", "step_size", "step_size",
                            self._initial_lr)])

    def _check_hyper_consistency(self, hyper):
        if hyper["min_step"] > hyper["max_step"]:
            raise ValueError("For Rprop, maximal step size should not be less "
                             "than minimal step size, but got %r > %r."
                             % (hyper["min_step"], hyper["max_step"]))


class LazyAdam(Optimizer):
    """LazyAdam (``nn.LazyAdam``): with dense gradients, Adam (MindSpore's
    form); with sparse gradients (``RowTensor`` or ``(indices, values)``),
    MindSpore's ``SparseApplyLazyAdam``: only the named rows of the parameter
    and its states change, duplicate indices summed when ``unique`` is True.
    Whether a parameter is sparse is fixed by its gradient on the first step
    (see the module docstring).  States ``moment1``, ``moment2``."""

    _sparse_supported = True

    def __init__(self, params, learning_rate=1e-3, beta1=0.9, beta2=0.999,
                 eps=1e-8, use_locking=False, use_nesterov=False,
                 weight_decay=0.0, loss_scale=1.0, *, target="CPU"):
        super().__init__(learning_rate, params, weight_decay, loss_scale,
                         target=target)
        name = self.cls_name
        beta1, beta2, eps = _check_betas(beta1, beta2, eps, name)
        _v.check_bool("use_locking", use_locking, name)
        _v.check_bool("use_nesterov", use_nesterov, name)
        self.use_locking = use_locking
        self._setup_rule("lazy_adam", {"beta1": beta1, "beta2": beta2,
                                       "eps": eps},
                         {"use_nesterov": use_nesterov})
        self._init_states([("moment1", "moment1", "moment1", 0.0),
                           ("moment2", "moment2", "moment2", 0.0)])

    @property
    def beta1_power(self):
        return self._hyper["beta1"] ** self.global_step

    @property
    def beta2_power(self):
        return self._hyper["beta2"] ** self.global_step


# ===========================================================================
# Checkpoint files
# ===========================================================================

def save_checkpoint(optimizer, ckpt_file_name):
    """Writes ``optimizer.state_dict()`` to a NumPy ``.npz`` file."""
    if not isinstance(optimizer, Optimizer):
        raise TypeError("save_checkpoint expects an Optimizer, got %s."
                        % type(optimizer).__name__)
    sd = optimizer.state_dict()
    flat = {"meta/format": np.array(sd["format"]),
            "meta/optimizer": np.array(sd["optimizer"]),
            "meta/global_step": np.array(sd["global_step"], np.int64)}
    for k, v in sd["parameters"].items():
        flat["param/" + k] = v
    for state, entries in sd["states"].items():
        for k, v in entries.items():
            flat["state/%s/%s" % (state, k)] = v
    for k, v in sd["learning_rate"].items():
        flat["lr/" + k] = np.array(v, np.float64)
    for k, v in sd["weight_decay"].items():
        flat["wd/" + k] = np.array(v, np.float64)
    for k, v in sd["hyper_params"].items():
        flat["hyper/" + k] = np.array(v, np.float64)
    with open(ckpt_file_name, "wb") as f:
        np.savez(f, **flat)


def load_checkpoint(ckpt_file_name, optimizer=None):
    """Reads a file written by ``save_checkpoint`` and returns its state dict;
    with ``optimizer``, also loads it (``optimizer.load_state_dict``)."""
    sd = {"parameters": {}, "states": {}, "learning_rate": {},
          "weight_decay": {}, "hyper_params": {}}
    with np.load(ckpt_file_name, allow_pickle=False) as data:
        for key in data.files:
            kind, _, rest = key.partition("/")
            value = data[key]
            if kind == "meta":
                if rest == "global_step":
                    sd["global_step"] = int(value)
                else:
                    sd[rest] = str(value)
            elif kind == "param":
                sd["parameters"][rest] = value
            elif kind == "state":
                state, _, pname = rest.partition("/")
                sd["states"].setdefault(state, {})[pname] = value
            elif kind == "lr":
                sd["learning_rate"][rest] = float(value)
            elif kind == "wd":
                sd["weight_decay"][rest] = float(value)
            elif kind == "hyper":
                sd["hyper_params"][rest] = float(value)
            else:
                raise ValueError("%s is not an optim_mlir.nn checkpoint "
                                 "(unknown key %r)" % (ckpt_file_name, key))
    if optimizer is not None:
        optimizer.load_state_dict(sd)
    return sd


def _check_rule_hypers(rule, values, cls_name):
    """Checks hyper-parameter values against the ranges of the rule's record
    (OptimRules.td); returns them as floats."""
    return {name: _v.check_float(name, value, cls_name,
                                 _RULE_RANGES[rule][name], allow_int=True)
            for name, value in values.items()}


class Lion(Optimizer):
    """Lion (Chen et al. 2023).  State ``exp_avg``; weight decay is
    decoupled (``param *= 1 - lr * weight_decay``).  Not a MindSpore
    optimizer: the rule is defined by its record alone (OptimRules.td)."""

    def __init__(self, params, learning_rate=1e-4, beta1=0.9, beta2=0.99,
                 weight_decay=0.0, loss_scale=1.0, *, target="CPU"):
        super().__init__(learning_rate, params, weight_decay, loss_scale,
                         target=target)
        self._setup_rule("lion", _check_rule_hypers(
            "lion", {"beta1": beta1, "beta2": beta2}, self.cls_name))
        self._init_states([("exp_avg", "exp_avg", "exp_avg", 0.0)])


class Adan(Optimizer):
    """Adan (Xie et al. 2022), as its authors' implementation computes it.
    States ``exp_avg``, ``exp_avg_diff``, ``exp_avg_sq``, ``pre_grad``;
    weight decay is the proximal step (``param /= 1 + lr * weight_decay``).
    Not a MindSpore optimizer: the rule is defined by its record alone
    (OptimRules.td)."""

    def __init__(self, params, learning_rate=1e-3, beta1=0.98, beta2=0.92,
                 beta3=0.99, eps=1e-8, weight_decay=0.0, loss_scale=1.0, *,
                 target="CPU"):
        super().__init__(learning_rate, params, weight_decay, loss_scale,
                         target=target)
        self._setup_rule("adan", _check_rule_hypers(
            "adan", {"beta1": beta1, "beta2": beta2, "beta3": beta3,
                     "eps": eps}, self.cls_name))
        self._init_states([(name, name, name, 0.0) for name in
                           ("exp_avg", "exp_avg_diff", "exp_avg_sq",
                            "pre_grad")])
