"""``optim_mlir.nn``'s optimizer base class: arguments, groups, the
compiled step on the CPU or a GPU, hyper-parameters, state and checkpoints
of state (docs/Python-nn.md)."""

import functools
import math
from collections.abc import Iterable

import numpy as np

from . import ir as _ir
from . import _compiled, _state_arena
from . import _mindspore_validator as _v
from . import _nn_parallel
from ._optim import default_decay_filter as _default_decay_filter
from ._optim import rule_specs as _rule_specs
from ._mindspore_lr import LearningRateSchedule
from ._nn_tensors import (Parameter, ParameterTuple, RowTensor,
                          _is_sparse_gradient, _flattened_chunks,
                          STORAGE_EPOCH as _STORAGE_EPOCH)
from ._nn_groups import (_runtime_scalar, _Lr, _Wd, _Group, _Part,
                         _GlobalStep, _check_step, _INT32_MAX)


def _settings():
    """The public settings of ``optim_mlir.nn`` (DEFAULT_COMPILE_OPTIONS,
    GPU_DEVICE, GPU_COMPILE_OPTIONS), read when used."""
    from . import nn
    return nn


# What optim_mlir.nn compiled (its _COMPILE_COUNT, _GPU_COMPILE_COUNT).
_COMPILER = _compiled.Compiler()
_FORMAT = "optim_mlir.nn/1"


def _compile(source, options):
    return _COMPILER.cpu(source, options)


def _compile_sharded(source, plan, options):
    """The step of a parallel optimizer: the same source, sharded over the
    plan's ranks (counted with the CPU compilations)."""
    compiled = _nn_parallel.compile_sharded(source, plan, options)
    _COMPILER.cpu_count += 1
    return compiled


class _Absent:
    """A state another rank keeps (parallel optimizer): its full shape and
    dtype, for the checks of a checkpoint."""

    def __init__(self, shape, dtype, key=None):
        self.shape, self.dtype = tuple(shape), np.dtype(dtype)
        # (compiled state name, parameter) of a state this rank keeps a
        # piece of (optimizer weight sharding), else None.
        self.key = key



_TARGETS = ("CPU", "Ascend", "GPU")
# Device copies of the arrays start on 256-byte boundaries (the kernels need
# 16).
_DEVICE_ALIGNMENT = 256


def _compile_gpu(source):
    """A GPUOptimizer for the chip of device GPU_DEVICE (e.g. sm_90 for
    compute capability 9.0)."""
    from ._optim import cuda_device_capability
    return _COMPILER.gpu(source,
                         _compiled.chip_name(cuda_device_capability(
                             _settings().GPU_DEVICE)),
                         _settings().GPU_COMPILE_OPTIONS)


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


# Ranges of the rules' runtime hyper-parameters, from the rule table the
# extension carries (generated from the rule records, OptimRules.td): rule ->
# name -> (lower, upper, lower_closed, upper_closed), the validator's form.
_RULE_RANGES = {
    rule: {h["name"]: h["range"] for h in spec["hyper_params"]
           if not h["init_only"]}
    for rule, spec in _rule_specs().items()}

_SPARSE_REASON = (
    "sparse gradients (RowTensor or (indices, values)) are not supported for "
    "this optimizer: MindSpore has sparse kernels only for LazyAdam, Adam, "
    "FTRL and ProximalAdagrad; pass the dense gradient instead")


# MindSpore's names of the dtypes (the names of flattened buffers).
_MS_DTYPE_NAMES = {"float16": "Float16", "float32": "Float32",
                   "float64": "Float64"}


class _ScaledWeightDecay(LearningRateSchedule):
    """A weight-decay schedule times the loss scale, as MindSpore stores a
    dynamic weight decay (``_WrappedWeightDecay``)."""

    def __init__(self, schedule, loss_scale):
        super().__init__()
        self.weight_decay, self.loss_scale = schedule, loss_scale

    def construct(self, global_step):
        return self.weight_decay(global_step) * self.loss_scale


class DynamicLossScaleUpdateCell:
    """MindSpore's ``nn.DynamicLossScaleUpdateCell(loss_scale_value,
    scale_factor, scale_window)``, passed as an optimizer's ``loss_scale``.

    The optimizer then takes the scaled gradients and owns the loss scale:
    each step divides them by the current scale; a step whose gradients hold
    an inf or NaN changes no parameter and no state and does not advance
    ``global_step``, and the scale becomes ``max(scale / scale_factor, 1)``;
    after ``scale_window`` clean steps in a row it is multiplied by
    ``scale_factor``.  That is MindSpore's update cell as
    ``TrainOneStepWithLossScaleCell`` drives it (``cur_iter`` counts every
    step from 1, ``last_overflow_iter`` is the step of the last overflow or
    growth); on overflow the scale is multiplied by ``1 / scale_factor``
    rounded to float64 (MindSpore: by float32 ``Reciprocal(scale_factor)``),
    the same for a power of two (docs/Python-nn.md).

    ``get_loss_scale()`` is the current scale (MindSpore's cell returns its
    ``loss_scale_value``, the initial one, and keeps the current scale in
    the training cell).  The arguments are checked as MindSpore's
    ``DynamicLossScaleManager`` checks them; ``loss_scale_value`` must be
    positive and ``scale_factor`` greater than 1.
    """

    def __init__(self, loss_scale_value, scale_factor, scale_window):
        name = "DynamicLossScaleUpdateCell"
        self.loss_scale_value = _v.check_float(
            "loss_scale_value", loss_scale_value, name, _v.POSITIVE,
            allow_int=True)
        self.scale_factor = _v.check_float("scale_factor", scale_factor, name,
                                           _v.GREATER_THAN_ONE,
                                           allow_int=True)
        _v.check_positive_int("scale_window", scale_window, name)
        if scale_window > _INT32_MAX:
            raise ValueError("For '%s', the 'scale_window' must be <= %d "
                             "(int32), but got %d." % (name, _INT32_MAX,
                                                       scale_window))
        self.scale_window = scale_window
        self._scale = self.loss_scale_value
        self._good_steps = 0
        self._cur_iter = 1
        self._owner = None

    def get_loss_scale(self):
        """The loss scale the next step divides the gradients by (float)."""
        return self._scale

    @property
    def cur_iter(self):
        """MindSpore's ``cur_iter``: 1 + the number of steps taken."""
        return self._cur_iter

    @property
    def last_overflow_iter(self):
        """MindSpore's ``last_overflow_iter``: the step (``cur_iter``) of
        the last overflow or scale growth, 0 before any."""
        return self._cur_iter - 1 - self._good_steps

    @property
    def good_steps(self):
        """Clean steps since the scale last changed."""
        return self._good_steps

    def _record(self, scale, good_steps):
        """The state after one step: the scale and count the step left."""
        self._scale = float(scale)
        self._good_steps = int(good_steps)
        self._cur_iter += 1

    def _update(self, overflow):
        """MindSpore's update for one step (the steps that do not compile
        it): on overflow ``max(scale / scale_factor, 1)`` (as the compiled
        step: times ``1 / scale_factor``); after ``scale_window`` clean
        steps, times ``scale_factor`` (kept if not finite)."""
        if overflow:
            scale = max(self._scale * (1.0 / self.scale_factor), 1.0)
            self._record(scale, 0)
            return
        good = self._good_steps + 1
        scale = self._scale
        if good >= self.scale_window:
            grown = scale * self.scale_factor
            if math.isfinite(grown):
                scale = grown
            good = 0
        self._record(scale, good)

    def _control(self):
        """The ``dynamic_loss_scale`` of ``ir.optimizer_ir``."""
        return {"growth_factor": self.scale_factor,
                "backoff_factor": 1.0 / self.scale_factor,
                "growth_interval": self.scale_window, "min_scale": 1.0}

    def __repr__(self):
        return ("DynamicLossScaleUpdateCell(loss_scale_value=%r, "
                "scale_factor=%r, scale_window=%d, loss_scale=%r)"
                % (self.loss_scale_value, self.scale_factor,
                   self.scale_window, self._scale))


class Optimizer:
    """Base class of the optimizers (``mindspore.nn.Optimizer``).

    ``Optimizer(learning_rate, parameters, weight_decay=0.0, loss_scale=1.0,
    *, target="CPU", max_grad_norm=None)`` checks its arguments as
    MindSpore does; ``loss_scale`` may be a DynamicLossScaleUpdateCell, and
    ``max_grad_norm`` clips the unscaled gradients by their global norm
    (docs/Python-nn.md, "Loss scaling and clipping").  A subclass that does
    not compile (a user-defined optimizer) overrides ``construct(gradients)``
    and may use ``get_lr``, ``decay_weight``, ``gradients_centralization``
    and ``scale_grad``, which run eagerly in NumPy; calling it checks the
    gradients, runs ``construct`` and advances the global step.
    """

    # Subclasses set these through _setup_rule / _init_states.
    _parts = None
    # The rule, IR hyper-parameters and runtime hyper-parameter names of the
    # optimizer's one part (_setup_rule): the parts are rebuilt from them
    # when sparse gradients split the parameters (_make_parts).
    _rule_part = None
    # How sparse row gradients step (MindSpore's sparse kernels): None (not
    # supported), "compiled" (the rule has a compiled sparse form: LazyAdam's
    # SparseApplyLazyAdam), "rows" (only the given rows change: the dense
    # rule runs on row buffers, _rows_step_arrays) or "dense" (every row
    # steps, the merged rows scattered into a zero gradient: FusedSparseAdam).
    _sparse_mode = None
    # Per parameter: whether its gradient is compiled as sparse (set when the
    # step compiles; None before); whether a compiled step has run.
    _sparse_flags = None
    _stepped = False
    # Contiguous parameters (flatten_weights): whether the optimizer steps
    # the buffers (MindSpore's _use_flattened_params); then _parameters holds
    # one Parameter per buffer, _user_params the parameters given and
    # _flat_chunks the buffers (_nn_tensors._Chunk).
    _use_flattened_params = False
    _user_params = None
    _flat_chunks = None
    # Whether groups' grad_centralization is compiled into the step (Adam
    # with use_offload and AdamOffload skip it, as in MindSpore).
    _centralize = True
    # Loss scaling and clipping: the static scale, or the update cell that
    # owns a dynamic one; the global norm the unscaled gradients are clipped
    # to (None: no clipping); what the last step found (``overflow``,
    # ``grad_norm``; None before a step that checks); the clip factor the
    # steps that do not compile the control (sparse rows, several parts,
    # user-defined ``construct``) divide by during their step.
    _static_loss_scale = 1.0
    _scale_cell = None
    _max_grad_norm = None
    _last_status = None
    _clip_now = 1.0
    # Master weights (docs/Python-nn.md, "Master weights"): whether float16
    # parameters step through float32 masters with float32 states.
    _master_weights = False
    _NO_MASTER_REASON = None

    @property
    def master_weights(self):
        """Whether float16 parameters step through float32 master copies
        (the state ``masters``) with float32 states."""
        return self._master_weights

    def _has_master(self, p):
        return self._master_weights and p.dtype == np.float16

    # ------------------------------------------------- parallel optimizer
    # The plan of MindSpore's parallel optimizer (_nn_parallel.Plan), None
    # when it is off.
    _plan = None

    @property
    def _dist(self):
        """The parallel plan; LARS follows the optimizer it wraps."""
        plan = self.__dict__.get("_plan")
        if plan is None:
            inner = self.__dict__.get("opt")
            if isinstance(inner, Optimizer):
                plan = inner.__dict__.get("_plan")
        return plan

    @property
    def _sharded(self):
        """Whether the step is divided among several ranks."""
        plan = self._dist
        return plan is not None and plan.sharded

    def _owns(self, i):
        """Whether this rank keeps the states of parameter ``i`` (step
        order) whole and updates it."""
        plan = self._dist
        if plan is None or not plan.sharded:
            return True
        if plan.zero:
            layout = self._zero_layout
            return layout is not None and i in layout and layout[i][2]
        return plan.owns(i)

    @property
    def _dp_plan(self):
        """The plan of data_parallel's parallel optimizer (None when it is
        off or the states are sharded in pieces)."""
        plan = self._dist
        return None if plan is None or plan.zero else plan

    @property
    def _zero(self):
        """Whether the optimizer states are sharded in pieces over several
        ranks (semi_auto_parallel / auto_parallel, ZeRO-1)."""
        plan = self._dist
        return plan is not None and plan.sharded and plan.zero

    # ZeRO: this rank's pieces {parameter: (offset, count, whole)} once the
    # sharded step is compiled (None before: the states are pending, every
    # rank knows them whole: _zero_pending).
    _zero_layout = None
    _zero_pending = None

    @property
    def state_pieces(self):
        """Optimizer weight sharding (semi_auto_parallel / auto_parallel):
        the pieces of the states this rank keeps, ``{parameter name:
        (offset, count, whole)}`` (elements of the flattened parameter),
        known once the step is compiled (the first step, ``get_lr()``);
        None before, and without the sharding."""
        if not self._zero or self._zero_layout is None:
            return None
        return {self._parameters[i].name: piece
                for i, piece in sorted(self._zero_layout.items())}

    @property
    def use_parallel(self):
        """Whether the optimizer is MindSpore's parallel optimizer of
        data-parallel training: built with ``set_auto_parallel_context(
        parallel_mode="data_parallel", enable_parallel_optimizer=True)``
        after ``communication.init()`` (False in semi_auto_parallel and
        auto_parallel, as in MindSpore, where the states are sharded)."""
        return self._dp_plan is not None

    @property
    def dev_num(self):
        """The parallel optimizer's number of ranks
        (``communication.get_group_size()``)."""
        plan = self._dp_plan
        if plan is None:
            raise AttributeError("'%s' object has no attribute 'dev_num' (the "
                                 "parallel optimizer is off)" % self.cls_name)
        return plan.size

    @property
    def param_rank(self):
        """The parallel optimizer's rank of each parameter (step order):
        ``i % dev_num``; None when it is off."""
        plan = self._dp_plan
        return None if plan is None else plan.param_rank

    @property
    def optim_filter(self):
        """Whether this rank updates each parameter (step order): all True
        without the parallel optimizer."""
        plan = self._dp_plan
        if plan is None:
            return (True,) * len(self._parameters)
        return tuple(r == plan.rank for r in plan.param_rank)

    @property
    def param_names(self):
        """The parallel optimizer's parameter names (step order)."""
        if self._dp_plan is None:
            raise AttributeError("'%s' object has no attribute 'param_names' "
                                 "(the parallel optimizer is off)"
                                 % self.cls_name)
        return [p.name for p in self._parameters]

    def _full_state_spec(self, compiled_name, i):
        """The shape and dtype of state ``compiled_name`` of parameter
        ``i`` (where another rank keeps it, the array here is empty)."""
        p = self._parameters[i]
        if compiled_name == "master":
            return (p.shape if self._has_master(p) else (0,)), np.float32
        dtype = np.float32 if self._has_master(p) else p.dtype
        return _compiled.state_shape(self._rule, compiled_name, p.shape), \
            np.dtype(dtype)

    def __init__(self, learning_rate, parameters, weight_decay=0.0,
                 loss_scale=1.0, *, target="CPU", max_grad_norm=None,
                 master_weights=False):
        name = self.cls_name
        if not isinstance(master_weights, bool):
            raise TypeError("For '%s', the 'master_weights' must be bool, but "
                            "got %s." % (name, type(master_weights).__name__))
        if master_weights and target == "GPU":
            raise ValueError("For '%s', master_weights=True is not supported "
                             "with target 'GPU' (the GPU runtime does not "
                             "support mixed precision yet)." % name)
        self._master_weights = master_weights
        parameters = self._parameters_base_check(parameters, "parameters")
        if not all(isinstance(x, Parameter) for x in parameters) and \
                not all(isinstance(x, dict) for x in parameters):
            raise TypeError("For 'Optimizer', all elements of the argument "
                            "'parameters' must be 'Parameter' or 'dict', "
                            "please check the 'parameters'.")
        if isinstance(loss_scale, DynamicLossScaleUpdateCell):
            self._scale_cell = loss_scale
        else:
            if isinstance(loss_scale, int) and \
                    not isinstance(loss_scale, bool):
                loss_scale = float(loss_scale)
            self._static_loss_scale = _v.check_float(
                "loss_scale", loss_scale, name, _v.POSITIVE)
        if max_grad_norm is not None:
            max_grad_norm = _v.check_float("max_grad_norm", max_grad_norm,
                                           name, _v.POSITIVE, allow_int=True)
        self._max_grad_norm = max_grad_norm
        self.dynamic_lr = False
        self.dynamic_weight_decay = False
        self.is_group = isinstance(parameters[0], dict)
        self.is_group_lr = False
        self.is_group_params_ordered = False
        self._counter = _GlobalStep()
        self._hyper = {}
        self._options = {}
        self._state_params = {}
        self._state_attrs = []   # (compiled state name, MindSpore attribute)
        self._target = _check_target(target, name)
        self.compile_options = _settings().DEFAULT_COMPILE_OPTIONS

        self._global_lr = self._preprocess_single_lr(learning_rate,
                                                     "learning_rate")
        self.init_learning_rate = self._global_lr.user_object()
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
            chunks = _flattened_chunks(params, name)
            if chunks is not None:
                # MindSpore's _get_flattened_params: the optimizer steps one
                # Parameter per buffer, named as MindSpore names them.
                self._use_flattened_params = True
                self._flat_chunks = chunks
                self._user_params = ParameterTuple(params)
                params = [Parameter._wrap(c.array, "_chunk_param%d_%s" % (
                    i, _MS_DTYPE_NAMES[c.array.dtype.name]))
                    for i, c in enumerate(chunks)]
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
        # MindSpore's parallel optimizer (set_auto_parallel_context(
        # parallel_mode="data_parallel", enable_parallel_optimizer=True)).
        self._plan = _nn_parallel.plan_for(self)

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
        self._rule_part = (rule, ir_hyper, list(floats))
        self._parts = [_Part(rule, ir_hyper, list(floats),
                             range(len(self._parameters)))]

    def _init_states(self, specs):
        """``specs``: ``(compiled name, MindSpore attribute, name prefix,
        initial value)``; the initial value is a number or a function of the
        parameter's index.  Each state array has the shape its record gives
        it for its parameter (``_compiled.state_shape``)."""
        # Every state array of the optimizer lives in one runtime-owned
        # block (64-byte-aligned buffers) that the compiled step binds once.
        if self._master_weights and self._NO_MASTER_REASON:
            raise ValueError("For '%s', master_weights=True is not supported: "
                             "%s." % (self.cls_name, self._NO_MASTER_REASON))
        masters = self._master_weights and any(
            self._has_master(p) for p in self._parameters)
        # float32 states for a float16 parameter with master weights, then
        # the masters (0 elements for a parameter without one).
        # Under the parallel optimizer, the states of the parameters other
        # ranks update are empty arrays here.
        master_specs = [(p.shape if self._has_master(p) and self._owns(i)
                         else (0,), np.float32)
                        for i, p in enumerate(self._parameters)] \
            if masters else []
        arrays = iter(_state_arena.allocate_numpy(
            [(_compiled.state_shape(self._rule, spec[0], p.shape)
              if self._owns(i) else (0,),
              np.float32 if self._has_master(p) else p.dtype)
             for spec in specs for i, p in enumerate(self._parameters)] +
            master_specs))
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
        if masters:
            states = []
            for i, p in enumerate(self._parameters):
                array = next(arrays)
                if self._has_master(p) and self._owns(i):
                    array[...] = p.data
                states.append(Parameter._wrap(array, "master.%s" % p.name,
                                              requires_grad=False))
            self.masters = ParameterTuple(states)
            self._state_params["master"] = self.masters
            self._state_attrs.append(("master", "masters"))
        if self._zero:
            # Optimizer weight sharding: the pieces are known once the step
            # is compiled; until then the states are their initial values
            # (the masters: float32 copies of the parameters now).
            self._zero_pending = {}
            for compiled_name, _, _, init in specs:
                for i in range(len(self._parameters)):
                    self._zero_pending[(compiled_name, i)] = \
                        ("init", init(i) if callable(init) else init)
            if masters:
                for i, p in enumerate(self._parameters):
                    self._zero_pending[("master", i)] = (
                        "array", p.data.astype(np.float32)
                        if self._has_master(p) else np.zeros(0, np.float32))

    def _initial_lr(self, i):
        """Learning rate of parameter ``i`` at step 0, float32 (Rprop's
        initial step size)."""
        return float(np.float32(self._param_group[i].lr.value_at(0)))

    @property
    def _sparse_supported(self):
        """Whether sparse row gradients step (``_sparse_mode``)."""
        return self._sparse_mode is not None

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
        """The parameters the optimizer updates (a ParameterTuple), in step
        order: the groups' order, or ``order_params`` when given.  Over
        flattened parameters, the parameters as given (the step runs over
        their buffers, ``_parameters``)."""
        if self._user_params is not None:
            return self._user_params
        return self._parameters

    def trainable_params(self, recurse=True):
        """The parameters the optimizer updates whose ``requires_grad`` is
        True, as a list (``Cell.trainable_params``; ``recurse`` is there
        for its signature).  The optimizer's own Parameters (states,
        learning rates, ``global_step``) are not trained."""
        return [p for p in self.parameters if p.requires_grad]

    @property
    def global_step(self):
        """MindSpore's ``global_step`` Parameter (int32, shape (1,)): the
        0-based number of steps taken, advanced in place by every step.  It
        compares as an int (``opt.global_step == 3``), converts with
        ``int()`` and is what a LearningRateSchedule takes.  Assign an int
        (or a one-element integer array) to set it."""
        return self._counter

    @global_step.setter
    def global_step(self, value):
        if value is self._counter:
            return
        self._counter.value = _check_step(value, self.cls_name)

    # MindSpore's grouped attributes: one entry per parameter, in step order.
    # Optimizers without groups have none (as in MindSpore).
    def _require_group(self, attr):
        if not self.is_group:
            raise AttributeError("'%s' object has no attribute '%s' (the "
                                 "parameters are not grouped)"
                                 % (self.cls_name, attr))

    @property
    def group_params(self):
        """Grouped optimizers: the parameters of every group, in step order
        (a list)."""
        self._require_group("group_params")
        return list(self._parameters)

    @property
    def group_lr(self):
        """Grouped optimizers: each parameter's learning rate, shared by the
        parameters of one group: the float32 Parameter of a constant rate or
        of a per-step list, or the LearningRateSchedule."""
        self._require_group("group_lr")
        return [self._group_lr_object(g.lr) for g in self._param_group]

    @property
    def group_weight_decay(self):
        """Grouped optimizers: each parameter's weight decay as MindSpore
        stores it, ``weight_decay * loss_scale``: a float, or for a
        LearningRateSchedule a schedule of that product."""
        self._require_group("group_weight_decay")
        return [self._stored_weight_decay(g.wd) for g in self._param_group]

    @property
    def group_grad_centralization(self):
        """Grouped optimizers: whether each parameter's gradient is
        centralized (a list of bools)."""
        self._require_group("group_grad_centralization")
        return [g.gc for g in self._param_group]

    @property
    def dynamic_decay_flags(self):
        """Whether the weight decay is a LearningRateSchedule: a bool, or
        grouped a tuple with one bool per parameter."""
        if self.is_group:
            return tuple(g.wd.is_dynamic for g in self._param_group)
        return self._global_wd.is_dynamic

    @property
    def reciprocal_scale(self):
        """``1 / loss_scale`` as a float32 0-d array (the factor
        ``scale_grad`` applies)."""
        return np.array(1.0 / self.loss_scale, np.float32)

    @property
    def need_scale(self):
        """Whether ``scale_grad`` scales: ``loss_scale != 1``."""
        return self.loss_scale != 1.0

    @property
    def loss_scale(self):
        """The loss scale the next step divides the gradients by (float): the
        static ``loss_scale``, or the current scale of the
        DynamicLossScaleUpdateCell passed as ``loss_scale``."""
        if self._scale_cell is not None:
            return self._scale_cell.get_loss_scale()
        return self._static_loss_scale

    @loss_scale.setter
    def loss_scale(self, value):
        # LARS takes over the static scale of the optimizer it wraps.
        if self._scale_cell is not None:
            raise RuntimeError("For '%s', the loss scale is dynamic (a "
                               "DynamicLossScaleUpdateCell owns it)."
                               % self.cls_name)
        self._static_loss_scale = value

    @property
    def loss_scale_cell(self):
        """The DynamicLossScaleUpdateCell given as ``loss_scale``, or None."""
        return self._scale_cell

    @property
    def max_grad_norm(self):
        """The global norm the unscaled gradients are clipped to, or None.
        Assigning a new value takes effect at the next step without
        recompiling; turning clipping on or off once the step is compiled
        (first step, ``get_lr``, ``compiled_ir``) raises RuntimeError."""
        return self._max_grad_norm

    @max_grad_norm.setter
    def max_grad_norm(self, value):
        name = self.cls_name
        if value is not None:
            value = _v.check_float("max_grad_norm", value, name, _v.POSITIVE,
                                   allow_int=True)
        if (value is None) != (self._max_grad_norm is None) and \
                self.is_compiled:
            raise RuntimeError(
                "For '%s', the step is compiled with clipping on or off; "
                "turn it on or off before the first step, or change only its "
                "value." % name)
        if self._rule_part is None and self._parts is not None and \
                value is not None:
            # LARS: its parts are built from the wrapped optimizer.
            raise NotImplementedError(
                "For '%s', clipping is not supported; clip the gradients "
                "before the step." % name)
        self._max_grad_norm = value

    @property
    def overflow(self):
        """Whether the last step found an inf or NaN in a gradient (with a
        DynamicLossScaleUpdateCell: the step was skipped), as the update
        cell returns it; False before the first step and without loss-scale
        update cell or clipping."""
        return bool(self._last_status and self._last_status["found_inf"])

    @property
    def grad_norm(self):
        """The global L2 norm of the last step's unscaled gradients (float;
        inf or NaN after an overflow); None before the first step and
        without loss-scale update cell or clipping."""
        if not self._last_status:
            return None
        return self._last_status["grad_norm"]

    @property
    def _has_control(self):
        """Whether the step checks the gradients (dynamic scale, clipping)."""
        return self._scale_cell is not None or \
            self._max_grad_norm is not None

    def _claim_cell(self):
        """A DynamicLossScaleUpdateCell drives one optimizer: the first to
        step with it."""
        cell = self._scale_cell
        owner = cell._owner() if cell._owner is not None else None
        if owner is None:
            import weakref
            cell._owner = weakref.ref(self)
        elif owner is not self:
            raise ValueError("For '%s', the DynamicLossScaleUpdateCell "
                             "already drives the loss scale of another "
                             "optimizer ('%s'); give each optimizer its own."
                             % (self.cls_name, owner.cls_name))

    def _stored_weight_decay(self, wd):
        if wd.is_dynamic:
            return _ScaledWeightDecay(wd.schedule, self.loss_scale)
        return wd.value * self.loss_scale

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
                self._sparse_mode == "compiled" and \
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
            return tuple(self._group_lr_object(self._param_group[i].lr)
                         for i in range(len(self._parameters)))
        return self._global_lr.user_object()

    def _group_lr_object(self, lr):
        """A grouped learning rate as MindSpore holds it: with dynamic rates
        (``dynamic_lr``) a constant or per-step list is a cell whose
        ``learning_rate`` is its Parameter (``_ConvertToCell``,
        ``_IteratorLearningRate``); otherwise the Parameter or schedule."""
        if self.is_group_lr and self.dynamic_lr:
            return lr.cell()
        return lr.user_object()

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
    def _check_unique_names(self, what):
        """ValueError when two parameters share a name (a parameter renamed
        after the optimizer was built): checkpoints and the compiled step
        key the parameters by name, and would keep only one of the two."""
        seen, duplicates = set(), []
        for p in self._parameters:
            if p.name in seen and p.name not in duplicates:
                duplicates.append(p.name)
            seen.add(p.name)
        if duplicates:
            raise ValueError(
                "For '%s', %s: the parameter names %s are used more than "
                "once (a parameter was renamed); parameter names must be "
                "unique." % (self.cls_name, what, duplicates))

    def _make_ir_names(self):
        """The name of each parameter in the IR: its own, but the position
        (``#<i>``) for a default-named one (``Parameter_<n>``, new in every
        process and model), so that optimizers of the same structure
        compile the same text and share one compiled step (the runtime's
        cache is keyed by the text). Both lack ``beta`` and ``gamma``: the
        decay filter sees no difference."""
        self._check_unique_names("the step cannot be compiled")
        names = [p.name for p in self._parameters]
        canonical = ["#%d" % i if getattr(p, "_default_name", False) else
                     p.name for i, p in enumerate(self._parameters)]
        if len(set(canonical)) != len(canonical):
            canonical = names  # a user name spelled like a position
        self._ir_names = canonical

    _ir_names = None

    def _spec(self, i):
        p = self._parameters[i]
        # Only a compiled sparse form takes the rows; the other sparse modes
        # step the dense rule (_sparse_step_arrays).
        sparse = bool(self._sparse_flags[i]) if self._sparse_flags and \
            self._sparse_mode == "compiled" else False
        name = self._ir_names[i]
        if self._has_master(p):
            return (name, p.shape, str(p.dtype), sparse,
                    {"master": "float32", "states": "float32"})
        return (name, p.shape, str(p.dtype), sparse)

    def _make_parts(self, flags):
        """The parts for gradients whose sparsity is ``flags``: the dense
        parameters as one part, the sparse ones as another compiled without
        weight decay, centralization and loss scale (the front end applies
        them to the rows as MindSpore does: _sparse_rows)."""
        if self._rule_part is None or not any(flags):
            return self._parts if self._rule_part is None else \
                [_Part(*self._rule_part, range(len(self._parameters)))]
        dense = [i for i, f in enumerate(flags) if not f]
        sparse = [i for i, f in enumerate(flags) if f]
        parts = [_Part(*self._rule_part, sparse, zero_decay=True,
                       unscaled=True, sparse=True)]
        if dense:
            parts.append(_Part(*self._rule_part, dense))
        return parts

    def _part_ir(self, part):
        """The IR text of ``part``; sets its groups (the IR's, in order).
        The parallel optimizer compiles the same text (the sharded runtime
        deals the parameters out in the step's order)."""
        step = self._counter.value
        name = self.cls_name
        # 'unique' only matters (and is only emitted) with compiled sparse
        # parameters.
        unique = True
        if part.sparse and self._sparse_mode == "compiled":
            unique = self._unique
        control = {}
        if part.control:
            # Dynamic loss scaling and clipping compiled into the step
            # (docs/Loss-scaling-and-clipping.md).
            if self._scale_cell is not None:
                control["dynamic_loss_scale"] = self._scale_cell._control()
            control["max_grad_norm"] = self._max_grad_norm
        if not self.is_group:
            g = self._groups[0]
            part.groups = [g]
            return _ir.optimizer_ir(
                part.rule, part.ir_hyper,
                params=[self._spec(i) for i in part.indices],
                learning_rate=self._global_lr.ir_attr(step, name),
                weight_decay=0.0 if part.zero_decay
                else self._global_wd.ir_value(step, name),
                loss_scale=1.0 if part.unscaled else self.loss_scale,
                unique=unique, **control)
        members = set(part.indices)
        groups, ir_groups = [], []
        for g in self._groups:
            indices = [i for i in g.indices if i in members]
            if not indices:
                continue
            d = {"params": [self._spec(i) for i in indices],
                 "grad_centralization": g.gc and self._centralize and
                 not part.sparse}
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
            loss_scale=1.0 if part.unscaled else self.loss_scale,
            order_params=[self._ir_names[i] for i in part.indices],
            unique=unique, **control)

    @property
    def is_compiled(self):
        return self._parts is not None and self._parts[0].compiled is not None

    def _ensure_compiled(self):
        if self.is_compiled:
            return
        # One part with dense gradients compiles the checks of the gradients
        # (inf/NaN, global norm); sparse rows and several parts are checked
        # here before the step (_front_control).
        compile_control = self._has_control and len(self._parts) == 1 and \
            not self._parts[0].sparse and not self._parts[0].unscaled
        for part in self._parts:
            part.control = compile_control
            part.control_known = part.gpu_control_known = None
        self._make_ir_names()
        plan = self._dist
        sharded = plan is not None and plan.sharded
        if sharded:
            self._check_sharded_step()
        texts = [self._part_ir(part) for part in self._parts]
        if sharded:
            compiled = [_compile_sharded(text, plan, self.compile_options)
                        for text in texts]
        else:
            compiled = [_compile(text, self.compile_options)
                        for text in texts]
        for part, c in zip(self._parts, compiled):
            _compiled.check_layout(
                c, [self._ir_names[i] for i in part.indices],
                self._state_params, self.cls_name)
        self._param_loc = [None] * len(self._parameters)
        self._storage_epoch = _STORAGE_EPOCH[0]
        for part, text, c in zip(self._parts, texts, compiled):
            part.text = text
            part.compiled = c
            part.last = {}
            part.param_arrays = [self._parameters[i].data for i in part.indices]
            if sharded and plan.zero:
                part.state_arrays = self._zero_state_arrays(part, c, plan)
            elif sharded:
                part.state_arrays = self._local_state_arrays(part, c, plan)
            else:
                part.state_arrays = [self._state_params[s][i].data
                                     for i in part.indices
                                     for s in c.state_names]
            part.bound = None
            group_pos = {id(g): k for k, g in enumerate(part.groups)}
            for i in part.indices:
                self._param_loc[i] = (part, group_pos[id(self._param_group[i])])
        self._bind_parts()

    _storage_epoch = None

    def _check_sharded_step(self):
        """What the sharded step (ShardedOptimizer) does not run, refused
        before it compiles."""
        name = self.cls_name
        if len(self._parts) != 1 or self._gradient_transform is not None:
            raise NotImplementedError(
                "For '%s', the parallel optimizer runs one compiled step over "
                "every parameter; this optimizer needs %s (LARS with "
                "parameters its lars_filter rejects or with use_clip, or "
                "sparse and dense gradients together)."
                % (name, "a transform of the gradients in Python"
                   if self._gradient_transform is not None
                   else "%d compiled parts" % len(self._parts)))
        if self._dist.zero and self._sparse_mode == "rows" and \
                any(part.sparse for part in self._parts):
            raise NotImplementedError(
                "For '%s', optimizer weight sharding (semi_auto_parallel, "
                "auto_parallel) does not take sparse gradients for this "
                "optimizer: its rows step through buffers of whole states, "
                "and the states are cut into pieces; use "
                "parallel_mode='data_parallel' or dense gradients." % name)

    def _local_state_arrays(self, part, compiled, plan):
        """The states the sharded step of ``part`` takes: those of this
        rank's pieces (whole parameters, ``i % N == rank``), piece-major."""
        arrays = []
        owned = set()
        for index, offset, count, whole in compiled.pieces():
            i = part.indices[index]
            if not whole or not plan.owns(i):
                raise RuntimeError(
                    "internal error: the sharded step of '%s' gives rank %d "
                    "piece %r, the parallel optimizer parameter %d whole "
                    "to rank %d" % (self.cls_name, plan.rank,
                                    (index, offset, count, whole), i,
                                    plan.param_rank[i]))
            owned.add(i)
            arrays += [self._state_params[s][i].data
                       for s in compiled.state_names]
        expected = {i for i in part.indices if plan.owns(i)}
        if owned != expected:
            raise RuntimeError("internal error: the sharded step of '%s' gives "
                               "rank %d the parameters %s, expected %s"
                               % (self.cls_name, plan.rank, sorted(owned),
                                  sorted(expected)))
        return arrays

    def _zero_adopt(self):
        """LARS shares the states of the optimizer it wraps: it takes over
        that optimizer's pending states or pieces."""
        inner = self.__dict__.get("opt")
        if self._zero_layout is None and self._zero_pending is None and \
                isinstance(inner, Optimizer):
            self._zero_layout = inner._zero_layout
            self._zero_pending = inner._zero_pending

    def _zero_full_state(self, c, i):
        """State ``c`` of parameter ``i`` whole while the states are pending
        (ZeRO, before the first compilation): a new array."""
        shape, dtype = self._full_state_spec(c, i)
        kind, value = self._zero_pending[(c, i)]
        if kind == "init":
            return np.full(shape, value, dtype)
        return np.array(value, dtype).reshape(shape)

    def _zero_state_arrays(self, part, compiled, plan):
        """Optimizer weight sharding: the states the sharded step of
        ``part`` takes, one array per state of each of this rank's pieces
        (piece-major, in the order of its local states), allocated here;
        each state Parameter of a parameter this rank holds a piece of views
        its piece (a 1-D slice of the flattened state, or the whole state),
        the others an empty array.  The values come from the pending states
        (initial or loaded) or, when an earlier compilation laid the states
        out differently, from every rank's pieces (gathered: the
        compilation is a collective too)."""
        self._zero_adopt()
        pieces = compiled.pieces()
        infos = compiled.local_params
        names = list(compiled.state_names)
        layout = {}
        for index, offset, count, whole in pieces:
            i = part.indices[index]
            if i in layout:
                raise RuntimeError("internal error: the sharded step of '%s' "
                                   "gives rank %d two pieces of parameter %d"
                                   % (self.cls_name, plan.rank, i))
            layout[i] = (int(offset), int(count), bool(whole))
        if layout == self._zero_layout:
            return [self._state_params[s][part.indices[index]].data
                    for index, _, _, _ in pieces for s in names]
        if self._zero_layout is not None:
            full = self._zero_gathered()
            source = lambda c, i: full[(c, i)]
        else:
            source = self._zero_full_state
        specs = []
        for (index, offset, count, whole), info in zip(pieces, infos):
            i = part.indices[index]
            for j, s in enumerate(names):
                specs.append((tuple(info["state_shapes"][j]),
                              self._full_state_spec(s, i)[1]))
        arrays = _state_arena.allocate_numpy(specs) if specs else []
        k = 0
        for index, offset, count, whole in pieces:
            i = part.indices[index]
            for s in names:
                array = arrays[k]
                k += 1
                if array.size:
                    flat = source(s, i).reshape(-1)
                    array.reshape(-1)[...] = \
                        flat if whole else flat[offset:offset + count]
        empty = {}
        for c, states in self._state_params.items():
            for i, state in enumerate(states):
                if i not in layout:
                    dtype = self._full_state_spec(c, i)[1]
                    if dtype not in empty:
                        empty[dtype] = np.zeros(0, dtype)
                    state._data = empty[dtype]
        k = 0
        for index, _, _, _ in pieces:
            for s in names:
                self._state_params[s][part.indices[index]]._data = arrays[k]
                k += 1
        self._zero_layout = layout
        self._zero_pending = None
        return arrays

    def _zero_gathered(self):
        """Every state of every parameter whole, from every rank's pieces
        (ZeRO; a collective call: every rank calls it): {(compiled state
        name, parameter): array of the full shape}."""
        self._zero_adopt()
        if self._zero_layout is None:
            return {(c, i): self._zero_full_state(c, i)
                    for c, _ in self._state_attrs
                    for i in range(len(self._parameters))}
        local = {}
        for c, _ in self._state_attrs:
            for i, (offset, _, _) in self._zero_layout.items():
                local[(c, i, offset)] = \
                    self._state_params[c][i].data.reshape(-1)
        by_state = {}
        for (c, i, offset), v in _nn_parallel.gather_pieces(
                self._dist, local).items():
            by_state.setdefault((c, i), []).append((offset, v))
        full = {}
        for c, _ in self._state_attrs:
            for i in range(len(self._parameters)):
                shape, dtype = self._full_state_spec(c, i)
                out = np.zeros(shape, dtype)
                flat = out.reshape(-1)
                covered = 0
                for offset, v in by_state.get((c, i), ()):
                    flat[offset:offset + v.size] = v
                    covered += v.size
                if covered != flat.size:
                    raise RuntimeError(
                        "internal error: the ranks hold %d of the %d "
                        "elements of state '%s' of '%s'"
                        % (covered, flat.size, c, self._parameters[i].name))
                full[(c, i)] = out
        return full

    def _rebind_storage(self):
        """flatten_weights gave parameters new storage since the step was
        bound: bind the parameters' current arrays (the compiled step takes
        any arrays of the compiled shapes and dtypes)."""
        self._storage_epoch = _STORAGE_EPOCH[0]
        changed = False
        for part in self._parts:
            arrays = [self._parameters[i].data for i in part.indices]
            if any(a is not b for a, b in zip(arrays, part.param_arrays)):
                part.param_arrays = arrays
                changed = True
        if changed:
            self._bind_parts()

    def _bind_parts(self):
        """Binds the host step of each compiled part with dense gradients to
        the arrays (the fast path); none for target 'GPU'."""
        sharded = self._sharded
        for part in self._parts or ():
            part.bound = None
            if self._target == "GPU" or part.compiled is None or sharded:
                # The sharded step takes the plain step call.
                continue
            if not part.sparse:
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
        updates = [(part, k, h, self._framework_value(part, value))
                   for part, k, h, value in updates]
        if self._max_grad_norm is not None:
            for part in self._parts:
                if part.control:
                    updates.append((part, 0, "max_grad_norm",
                                    self._max_grad_norm))
        if self._has_control:
            # Parts that do not compile the control: the current scale times
            # the clip factor (dividing by it divides the gradient, and the
            # decay the step adds, which it multiplies by the scale, is not
            # clipped).
            for part in self._parts:
                if not part.control and not part.unscaled:
                    updates.append((part, 0, "loss_scale",
                                    self.loss_scale * self._clip_now))
        return updates

    def _framework_value(self, part, value):
        """`value` as MindSpore's kernels receive it: its learning rates,
        weight decays and hyper-parameters are float32 Tensors and
        Parameters (cast to the parameters' dtype), so every part gets the
        float32 value (the compiled table holds float64: `1 - beta2` is then
        what MindSpore's kernels compute from their float32 beta2,
        exactly)."""
        with np.errstate(over="ignore"):
            return float(np.float32(value))

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
            self._push_scale_state(part, part.compiled, "control_known")

    def _push_scale_state(self, part, engine, known_attr):
        """Writes the cell's scale and clean-step count into a step that
        compiles the dynamic scale, when it holds others (a checkpoint was
        loaded, the other target stepped)."""
        cell = self._scale_cell
        if cell is None or not part.control:
            return
        state = (cell.get_loss_scale(), cell.good_steps)
        if getattr(part, known_attr) != state:
            engine.set_loss_scale_state(*state)
            setattr(part, known_attr, state)

    def _read_status(self, part, engine, known_attr):
        """After a step that compiles the control: records what it found;
        returns whether it skipped the update (an inf or NaN with a dynamic
        scale)."""
        status = engine.step_status()
        found = bool(status["found_inf"])
        self._last_status = {"found_inf": found,
                             "grad_norm": float(status["grad_norm"]),
                             "clip_factor": float(status["clip_factor"])}
        cell = self._scale_cell
        if cell is None:
            return False
        state = (float(status["loss_scale"]), int(status["good_steps"]))
        cell._record(*state)
        setattr(part, known_attr, state)
        return found

    def _front_control(self, grads):
        """The checks of the steps that do not compile them, in NumPy on the
        gradients as given (dense arrays, ``(indices, values)`` pairs or
        RowTensors; duplicate rows summed): the float64 sum of the squares,
        not finite exactly when an element is inf or NaN (the compiled
        step's test); the global norm of the unscaled gradients and the clip
        factor ``max(1, (norm + 1e-6) / max_grad_norm)``.  Records them;
        returns ``(overflow, clip factor)``."""
        total = 0.0
        with np.errstate(over="ignore", invalid="ignore"):
            for g in grads:
                if isinstance(g, RowTensor):
                    idx, vals = np.asarray(g.indices), g.values
                elif isinstance(g, tuple):
                    idx, vals = g
                else:
                    idx, vals = None, g
                v = np.asarray(vals, np.float64)
                if idx is not None and np.unique(idx).size != idx.size:
                    rows, inverse = np.unique(idx, return_inverse=True)
                    merged = np.zeros((rows.size,) + v.shape[1:])
                    np.add.at(merged, inverse.reshape(-1), v)
                    v = merged
                v = v.reshape(-1)
                total += float(np.dot(v, v))
        overflow = not math.isfinite(total)
        norm = math.sqrt(total) / self.loss_scale if not math.isnan(total) \
            else total
        clip = 1.0
        if self._max_grad_norm is not None:
            clip = max(1.0, (norm + 1e-6) / self._max_grad_norm) \
                if not overflow else math.inf
        self._last_status = {"found_inf": overflow, "grad_norm": norm,
                             "clip_factor": clip}
        return overflow, clip

    @staticmethod
    def _times_zero(grads):
        """Clipping by an infinite norm without a dynamic scale (nothing is
        skipped): the gradients times 0, NaN where an inf or NaN was, as
        dividing by the compiled step's infinite clip factor gives."""
        out = []
        with np.errstate(invalid="ignore"):
            for g in grads:
                if isinstance(g, RowTensor):
                    out.append(RowTensor(g.indices, g.values * 0,
                                         g.dense_shape))
                elif isinstance(g, tuple):
                    out.append((g[0], g[1] * 0))
                else:
                    out.append(g * 0)
        return out

    def compiled_ir(self):
        """The optim-dialect text of each compiled part (compiles if needed)."""
        self._ensure_compiled()
        return [part.text for part in self._parts]

    # --------------------------------------------------------------- steps
    def _check_gradients(self, gradients, params=None, user_construct=False):
        """Checks one gradient per parameter of ``params`` (default: the
        parameters as given, ``self.parameters``); returns arrays (copies
        where the runtime needs contiguous, unaliased buffers) and, for
        sparse gradients, ``(int32 indices, values)`` pairs or, for a
        user-defined ``construct`` (``user_construct``), RowTensors."""
        name = self.cls_name
        if params is None:
            params = self.parameters
        if isinstance(gradients, (np.ndarray, Parameter)):
            # MindSpore raises RuntimeError when a network passes one tensor
            # where the tuple of gradients belongs.
            raise RuntimeError("For '%s', the 'gradients' must be a tuple or "
                               "list with one gradient per parameter, but got "
                               "one %s." % (name, type(gradients).__name__))
        if not isinstance(gradients, (tuple, list)):
            raise TypeError("For '%s', the 'gradients' must be a tuple or list "
                            "of numpy.ndarray, but got %s."
                            % (name, type(gradients).__name__))
        if len(gradients) != len(params):
            raise ValueError("For '%s', expected %d gradients (one per "
                             "parameter), but got %d."
                             % (name, len(params), len(gradients)))
        checked = []
        for g, p in zip(gradients, params):
            if _is_sparse_gradient(g):
                if user_construct:
                    # A user-defined construct gets MindSpore's RowTensor.
                    idx, vals = self._check_sparse_gradient(g, p)
                    checked.append(RowTensor(idx, vals, p.shape))
                    continue
                if self._use_flattened_params:
                    raise TypeError(
                        "For '%s', the gradient of '%s' is sparse, but the "
                        "parameters are flattened (flatten_weights): the "
                        "step runs over whole buffers and packs dense "
                        "gradients only (MindSpore's FlattenConcat); pass "
                        "the dense gradient." % (name, p.name))
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
        if self._sparse_mode == "compiled" and not self._unique and \
                np.unique(idx).size != idx.size:
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

    def _step_lock(self):
        return _compiled.step_lock(self)

    def _check_next_step(self):
        """ValueError, before anything changes, when the step would take
        ``global_step`` past the largest int32."""
        if self._counter.value >= _INT32_MAX:
            raise ValueError(
                "For '%s', global_step is %d, the largest int32: one more "
                "step would overflow it." % (self.cls_name,
                                             self._counter.value))

    @staticmethod
    def _all_or_nothing(runs, arrays):
        """Runs ``runs`` (one compiled call each) in order; when one fails
        after another ran, the arrays ``arrays()`` returns (every array the
        calls write) are put back as they were, so a failed step changes
        nothing."""
        if len(runs) == 1:
            runs[0]()
            return
        unique = list({id(a): a for a in arrays()}.values())
        saved = [(a, a.copy()) for a in unique]
        try:
            for run in runs:
                run()
        except BaseException:
            for a, copy in saved:
                np.copyto(a, copy)
            raise

    def _compiled_step(self, gradients):
        with self._step_lock():
            self._check_next_step()
            return self._compiled_step_locked(gradients)

    def _compiled_step_locked(self, gradients):
        # Fast path: every gradient a C-contiguous array of its parameter's
        # dtype and shape, checked and bound in C++ (no per-tensor Python);
        # anything else takes the checked path below, which raises or
        # copies.
        if self._storage_epoch != _STORAGE_EPOCH[0] and self.is_compiled:
            self._rebind_storage()
        if self._scale_cell is not None:
            self._claim_cell()
        if self._use_flattened_params:
            # One gradient per parameter given, packed into one array per
            # buffer (flatten_gradients) after the checks.
            gradients = self._pack_gradients(self._check_gradients(gradients))
        transform = self._gradient_transform
        if transform is not None:
            grads = self._check_gradients(gradients, self._parameters)
            gradients = transform(grads)
        parts = self._parts
        if parts[0].compiled is not None and \
                all(part.bound is not None and part.bound.bind_grads(gradients)
                    for part in parts):
            self._sync()
            self._all_or_nothing(
                [part.bound.run for part in parts],
                lambda: [a for part in parts
                         for a in part.param_arrays + part.state_arrays])
            self._stepped = True
            if parts[0].control and self._read_status(
                    parts[0], parts[0].compiled, "control_known"):
                return False  # skipped: an inf or NaN
            self._counter.value += 1
            return True
        grads = self._check_gradients(gradients, self._parameters)
        flags = tuple(isinstance(g, tuple) for g in grads)
        for p, f in zip(self._parameters, flags):
            if f and self._has_master(p):
                raise ValueError(
                    "For '%s', the gradient of '%s' is sparse; a float16 "
                    "parameter with master_weights=True takes dense "
                    "gradients only." % (self.cls_name, p.name))
        if self._target == "GPU":
            return self._gpu_step(grads, flags)
        self._check_sparse_layout(flags)
        if self._sharded and len(set(flags)) > 1:
            raise NotImplementedError(
                "For '%s', the parallel optimizer takes sparse gradients for "
                "every parameter or for none (the single-process step "
                "compiles the two kinds as two parts)." % self.cls_name)
        dense = (False,) * len(flags)
        if not self.is_compiled or (
                not self._stepped and flags != (self._sparse_flags or dense)):
            # First compilation, or compiled (get_lr / compiled_ir) before the
            # first step for other gradients: compile for this step's layout.
            old_flags, old_parts = self._sparse_flags, self._parts
            saved = [(part, part.compiled) for part in self._parts]
            self._sparse_flags = flags
            self._parts = self._make_parts(flags)
            for part in self._parts:
                part.compiled = None
            try:
                self._ensure_compiled()
            except Exception:
                self._sparse_flags, self._parts = old_flags, old_parts
                for part, c in saved:
                    part.compiled = c
                raise
            self._row_buffers = {}
        front = self._has_control and not self._parts[0].control
        if front:
            overflow, clip = self._front_control(grads)
            if self._sharded:
                _nn_parallel.agree_on_control(self._dist, self._last_status,
                                              self.cls_name)
            if overflow and self._scale_cell is not None:
                self._scale_cell._update(True)
                return False
            if overflow:
                grads = self._times_zero(grads)
                clip = 1.0
            self._clip_now = clip
        try:
            return self._step_parts(grads, front)
        finally:
            self._clip_now = 1.0

    def _step_parts(self, grads, front):
        """The checked step of the compiled parts (host); ``front``: the
        gradients were checked by _front_control."""
        # Everything the sparse parameters need (their rows through decay,
        # centralization and loss scale, merged, in row buffers) is prepared
        # before anything steps, so a failure changes nothing.
        calls, write_back = [], []
        for part in self._parts:
            if part.sparse:
                calls.append((part,) + self._sparse_step_arrays(
                    part, grads, write_back))
            else:
                calls.append((part, part.param_arrays,
                              [grads[i] for i in part.indices],
                              part.state_arrays))
        self._sync()
        self._all_or_nothing(
            [functools.partial(part.compiled.step, params, part_grads, states)
             for part, params, part_grads, states in calls],
            lambda: [a for _, params, _, states in calls
                     for a in params + states])
        for target, rows, source in write_back:
            target[rows] = source
        self._stepped = True
        if front and self._scale_cell is not None:
            self._scale_cell._update(False)
        part = self._parts[0]
        if part.control and self._read_status(part, part.compiled,
                                              "control_known"):
            return False  # skipped: an inf or NaN
        self._counter.value += 1
        return True

    # ------------------------------------------------------ sparse gradients
    _row_buffers = None

    def _sparse_rows(self, i, idx, vals):
        """The rows of parameter ``i``'s sparse gradient as MindSpore's
        optimizer hands them to its sparse kernel: ``decay_weight`` adds
        ``weight_decay * loss_scale * param[indices]`` to each row (a
        duplicate index decays once per occurrence), groups with
        grad_centralization centralize each row, ``scale_grad`` multiplies
        by ``1 / loss_scale``; all in the parameter's dtype."""
        p = self._parameters[i]
        group = self._param_group[i]
        if self._clip_now != 1.0:
            # Clipping divides the gradient as given, not the decay.
            vals = vals * np.asarray(1.0 / self._clip_now, vals.dtype)
        if self.exec_weight_decay and self.decay_flags[i]:
            wd = group.wd.value_at(self._counter.value, self.cls_name) * \
                self.loss_scale
            vals = p.data[idx] * np.asarray(wd, p.dtype) + vals
        if self.is_group and group.gc and self._centralize and \
                p.ndim >= 2 and p.shape[1] % 16 == 0:
            axes = tuple(range(1, vals.ndim))
            vals = vals - vals.mean(axis=axes, keepdims=True, dtype=vals.dtype)
        if self.loss_scale != 1.0:
            vals = vals * np.asarray(1.0 / self.loss_scale, vals.dtype)
        return vals

    @staticmethod
    def _merge_rows(idx, vals):
        """Duplicate indices merged as MindSpore's CPU kernels merge them
        (BucketReduceSparseGradient: the rows of one index summed in order of
        occurrence): the sorted unique indices and their summed rows."""
        rows, inverse = np.unique(idx, return_inverse=True)
        if rows.size == idx.size:
            return rows, vals[np.argsort(idx, kind="stable")]
        merged = np.zeros((rows.size,) + vals.shape[1:], vals.dtype)
        np.add.at(merged, inverse.reshape(-1), vals)
        return rows, merged

    def _sparse_step_arrays(self, part, grads, write_back):
        """The parameters, gradients and states the compiled step of a
        sparse part takes, by ``_sparse_mode``; appends to ``write_back``
        the ``(array, rows, values)`` copies that complete the step."""
        mode = self._sparse_mode
        names = part.compiled.state_names
        params, part_grads, states = [], [], []
        for i in part.indices:
            idx, vals = grads[i]
            vals = self._sparse_rows(i, idx, vals)
            p = self._parameters[i]
            # Parallel optimizer: the states of this rank's parameters only
            # (optimizer weight sharding: its pieces).
            held = i in self._zero_layout if self._zero else self._owns(i)
            state_arrays = [self._state_params[s][i].data for s in names] \
                if held else []
            if mode == "compiled":
                # The compiled sparse form steps the rows (SparseApplyLazyAdam).
                params.append(p.data)
                part_grads.append((idx, np.ascontiguousarray(vals)))
                states += state_arrays
                continue
            rows, merged = self._merge_rows(idx, vals)
            if mode == "dense":
                # FusedSparseAdam: every row steps, the rows without a
                # gradient with a zero one.
                full = np.zeros(p.shape, p.dtype)
                full[rows] = merged
                params.append(p.data)
                part_grads.append(full)
                states += state_arrays
                continue
            # "rows": only the given rows change.  The dense rule runs on
            # row buffers of the parameter's shape (one compiled step for any
            # number of rows): the first k rows hold the given rows of the
            # parameter, its states and the merged gradient; the rest keep
            # earlier values and a zero gradient and are never copied back.
            if self._row_buffers is None:
                self._row_buffers = {}
            buf = self._row_buffers.get(i)
            if buf is None:
                buf = {"param": p.data.copy(),
                       "grad": np.zeros(p.shape, p.dtype),
                       "states": [a.copy() for a in state_arrays], "k": 0}
                self._row_buffers[i] = buf
            k = rows.size
            buf["param"][:k] = p.data[rows]
            for b, a in zip(buf["states"], state_arrays):
                b[:k] = a[rows]
            buf["grad"][:k] = merged
            if buf["k"] > k:
                buf["grad"][k:buf["k"]] = 0
            buf["k"] = k
            params.append(buf["param"])
            part_grads.append(buf["grad"])
            states += buf["states"]
            write_back.append((p.data, rows, buf["param"][:k]))
            write_back += [(a, rows, b[:k])
                           for a, b in zip(state_arrays, buf["states"])]
        return params, part_grads, states

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
            expected = [self._ir_names[i] for i in part.indices]
            if names != expected or \
                    list(gpu.state_names) != list(part.compiled.state_names):
                raise RuntimeError(
                    "internal error: the GPU step of '%s' orders the "
                    "parameters %s and states %s, the host step %s and %s"
                    % (name, names, list(gpu.state_names), expected,
                       list(part.compiled.state_names)))
            gpu.load(_settings().GPU_DEVICE)
            arrays = part.param_arrays * 2 + part.state_arrays
            offsets, total = _device_layout([a.nbytes for a in arrays])
            part.gpu_memory = DeviceBuffer(total, _settings().GPU_DEVICE)
            part.gpu_offsets = offsets
            part.gpu_last = {}
            part.gpu_step = 0
            part.gpu_states_current = False
            part.gpu_control_known = None
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
        for part in self._parts:
            self._push_scale_state(part, part.gpu, "gpu_control_known")
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
        cuda_synchronize(stream, _settings().GPU_DEVICE)
        self._stepped = True
        part = self._parts[0]
        if part.control and self._read_status(part, part.gpu,
                                              "gpu_control_known"):
            part.gpu_step = step  # the device counter did not advance
            return False  # skipped: an inf or NaN
        self._counter.value += 1
        return True

    def construct(self, *hyper_params):
        """One update of the compiled subclasses, ``construct(gradients)``.
        Optimizer itself has no update rule and raises NotImplementedError,
        as MindSpore's does; user-defined optimizers override it."""
        if self._parts is None or not hyper_params:
            raise NotImplementedError(
                "'%s' has no update rule: subclass Optimizer and override "
                "construct(gradients), or use one of the optimizers of "
                "optim_mlir.nn." % self.cls_name)
        if len(hyper_params) != 1:
            raise TypeError("For '%s', construct takes the gradients only, but "
                            "got %d arguments." % (self.cls_name,
                                                   len(hyper_params)))
        return self._compiled_step(hyper_params[0])

    def __call__(self, gradients):
        if self._parts is not None and \
                type(self).construct is Optimizer.construct:
            return self._compiled_step(gradients)
        with self._step_lock():
            self._check_next_step()
            return self._user_step(gradients)

    def _user_step(self, gradients):
        """A step of a user-defined ``construct``."""
        if any(self._has_master(p) for p in self._parameters):
            raise ValueError(
                "For '%s', a user-defined construct steps the parameters "
                "themselves: master_weights=True takes the compiled step only."
                % self.cls_name)
        grads = self._check_gradients(gradients, user_construct=True)
        cell = self._scale_cell
        if self._has_control:
            # A user-defined construct: the checks in NumPy; the clip divides
            # the gradients before construct (its decay_weight and
            # scale_grad then see the clipped gradients and the current
            # scale).
            if cell is not None:
                self._claim_cell()
            overflow, clip = self._front_control(grads)
            if overflow and cell is not None:
                cell._update(True)
                return False
            if overflow:
                grads = self._times_zero(grads)
            elif clip != 1.0:
                grads = [self._divide(g, clip) for g in grads]
        result = self.construct(tuple(grads))
        if cell is not None:
            cell._update(False)
        self._counter.value += 1
        return result

    @staticmethod
    def _divide(g, factor):
        """A gradient (array or RowTensor) divided by the clip factor."""
        if isinstance(g, RowTensor):
            v = np.asarray(g.values)
            return RowTensor(g.indices, v * np.asarray(1.0 / factor, v.dtype),
                             g.dense_shape)
        return g * np.asarray(1.0 / factor, g.dtype)

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
                value = float(rates[id(part)][k])
                if math.isnan(value) and self._sharded:
                    value = self._sharded_rate(part, k)
                values.append(value)
        return tuple(values) if self.is_group_lr else values[0]

    def _sharded_rate(self, part, k):
        """The rate of group ``k`` of ``part`` when the parallel optimizer's
        step has none (no parameter of the group on this rank, and a rate
        that changes with the step): the single-process step's value."""
        lr = part.groups[k].lr
        step = self._counter.value
        if lr.kind == "list":
            # The stored float32 value of the step (the compiled step's).
            return float(lr.value_at(step))
        # A compiled schedule: its compiled evaluation (the one-process
        # step of the same text, compiled once, for its rates only).
        text, probe = getattr(part, "lr_probe", (None, None))
        if text != part.text:
            probe = _compile(part.text, self.compile_options)
            part.lr_probe = (part.text, probe)
        probe.global_step = step
        return float(probe.learning_rates()[k])

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
        user_ids = [id(p) for p in self.parameters]
        lr = []
        for p in param_list:
            _v.check_value_type("parameter", p, [Parameter], self.cls_name)
            if id(p) in ids:
                group = self._param_group[ids.index(id(p))]
            elif id(p) in user_ids:  # a flattened parameter (ungrouped)
                group = self._groups[0]
            else:
                raise ValueError("For 'get_lr_parameter', the parameter %s is "
                                 "not in optimizer, please check whether the "
                                 "argument 'param' is correct." % p.name)
            lr.append(group.lr.user_object())
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
                w = np.asarray(wd[i] if self.is_group else wd, p.dtype)
                if isinstance(g, RowTensor):
                    # MindSpore: the named rows of the parameter, decayed.
                    g = RowTensor(g.indices, p.data[g.indices] * w + g.values,
                                  g.dense_shape)
                else:
                    g = p.data * w + g
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
            if isinstance(g, RowTensor):
                # MindSpore centralizes each row of the values.
                v = np.asarray(g.values)
                if flag and len(g.dense_shape) >= 2 and \
                        g.dense_shape[1] % 16 == 0:
                    axes = tuple(range(1, v.ndim))
                    v = v - v.mean(axis=axes, keepdims=True, dtype=v.dtype)
                    g = RowTensor(g.indices, v, g.dense_shape)
                out.append(g)
                continue
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
        out = []
        for g in gradients:
            if isinstance(g, RowTensor):
                v = np.asarray(g.values)
                out.append(RowTensor(g.indices, v * np.asarray(
                    1.0 / self.loss_scale, v.dtype), g.dense_shape))
            else:
                g = np.asarray(g)
                out.append(g * np.asarray(1.0 / self.loss_scale, g.dtype))
        return tuple(out)

    def flatten_gradients(self, gradients):
        """MindSpore's ``flatten_gradients``: over flattened parameters
        (``flatten_weights``), the gradients (one per parameter given, in the
        order of ``parameters``) packed like the parameters, one array per
        buffer in the order of ``_parameters``; otherwise unchanged."""
        gradients = tuple(gradients)
        if not self._use_flattened_params:
            return gradients
        return tuple(self._pack_gradients(self._check_gradients(gradients)))

    def _pack_gradients(self, grads):
        """Checked dense gradients of ``self.parameters`` as one new array
        per buffer."""
        index = {id(p): i for i, p in enumerate(self.parameters)}
        out = []
        for chunk in self._flat_chunks:
            buf = np.empty(chunk.array.shape, chunk.array.dtype)
            for p, off in chunk.members:
                buf[off:off + p.size] = grads[index[id(p)]].reshape(-1)
            out.append(buf)
        return out

    # Subclass hook (LARS with use_clip): a function of the checked
    # gradients of the step parameters returning the gradients the compiled
    # parts take.
    _gradient_transform = None

    def broadcast_params(self, optim_result):
        """MindSpore's hook that broadcasts the parameters after the update
        of the parallel optimizer, rank by rank (parameter ``i`` from rank
        ``param_rank[i]``).  Here the sharded step has done it already
        (each step returns once every rank holds every updated parameter),
        and one process has nothing to send: returns the status flag
        ``optim_result``."""
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
        parameter name, global step, and the runtime values; with a
        DynamicLossScaleUpdateCell, ``loss_scale``: the scale, its clean-step
        count and the cell's ``cur_iter``. ValueError when two parameters
        share a name.

        Under the parallel optimizer every rank must call it (it gathers
        the states from the ranks that keep them, whole or in pieces); each
        gets the whole checkpoint, the same as the single-process
        optimizer's."""
        self._check_unique_names("state_dict")
        if self._zero:
            full = self._zero_gathered()
            states = {attr: {p.name: full[(c, i)]
                             for i, p in enumerate(self._parameters)}
                      for c, attr in self._state_attrs}
        elif self._sharded:
            local = {(attr, i): s.asnumpy()
                     for c, attr in self._state_attrs
                     for i, s in enumerate(self._state_params[c])
                     if self._owns(i)}
            gathered = _nn_parallel.gather_states(self._dist, local)
            states = {attr: {p.name: gathered[(attr, i)]
                             for i, p in enumerate(self._parameters)}
                      for c, attr in self._state_attrs}
        else:
            states = {attr: {p.name: s.asnumpy() for p, s in
                             zip(self._parameters, self._state_params[c])}
                      for c, attr in self._state_attrs}
        sd = {
            "format": _FORMAT,
            "optimizer": self.cls_name,
            "global_step": self._counter.value,
            "parameters": {p.name: p.asnumpy() for p in self._parameters},
            "states": states,
            "learning_rate": {p.name: float(p.data) for p in self._lr_params()},
            "weight_decay": {k: wd.value for k, wd in self._wd_entries().items()},
            "hyper_params": dict(self._hyper),
        }
        cell = self._scale_cell
        if cell is not None:
            sd["loss_scale"] = {"loss_scale": cell.get_loss_scale(),
                                "good_steps": cell.good_steps,
                                "cur_iter": cell.cur_iter}
        return sd

    def _checked_scale_state(self, state_dict):
        """The checkpoint's dynamic loss-scale state, checked against this
        optimizer (None for a static scale)."""
        name = self.cls_name
        saved = state_dict.get("loss_scale")
        cell = self._scale_cell
        if cell is None:
            if saved is not None:
                raise ValueError("For '%s', the checkpoint has a dynamic loss "
                                 "scale (DynamicLossScaleUpdateCell), this "
                                 "optimizer a static one." % name)
            return None
        if saved is None:
            raise ValueError("For '%s', the checkpoint has no dynamic loss "
                             "scale, but this optimizer's loss scale is a "
                             "DynamicLossScaleUpdateCell." % name)
        keys = {"loss_scale", "good_steps", "cur_iter"}
        if not isinstance(saved, dict) or set(saved) != keys:
            raise KeyError("For '%s', the checkpoint's loss_scale must hold "
                           "%s, but got %r." % (name, sorted(keys), saved))
        scale = saved["loss_scale"]
        if isinstance(scale, (bool, np.bool_)) or not isinstance(
                scale, (int, float, np.integer, np.floating)) or \
                not math.isfinite(float(scale)) or float(scale) <= 0.0:
            raise ValueError("For '%s', the checkpoint's loss scale must be a "
                             "finite number > 0, but got %r." % (name, scale))
        counts = []
        for key in ("good_steps", "cur_iter"):
            value = saved[key]
            if isinstance(value, (bool, np.bool_)) or \
                    not isinstance(value, (int, np.integer)):
                raise TypeError("For '%s', the checkpoint's %s must be an "
                                "int, but got %r." % (name, key, value))
            counts.append(int(value))
        good, cur = counts
        if not 0 <= good < cell.scale_window:
            raise ValueError("For '%s', the checkpoint's good_steps must be in "
                             "[0, scale_window = %d), but got %d."
                             % (name, cell.scale_window, good))
        if not good < cur <= _INT32_MAX:
            raise ValueError("For '%s', the checkpoint's cur_iter must be in "
                             "(good_steps, %d], but got %d."
                             % (name, _INT32_MAX, cur))
        return float(scale), good, cur

    def load_state_dict(self, state_dict):
        """Restores a ``state_dict``; everything is checked before anything
        is written.  Under the parallel optimizer (any number of ranks) it
        takes a whole checkpoint and keeps the states of this rank's
        parameters, or its pieces of them (no communication)."""
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
        self._check_unique_names("load_state_dict")
        step = state_dict["global_step"]
        if isinstance(step, (bool, np.bool_)) or \
                not isinstance(step, (int, np.integer)) or step < 0 or \
                step >= _INT32_MAX:
            raise ValueError("For '%s', the checkpoint's global_step must be a "
                             "non-negative int32 below %d (the next step "
                             "increments it), got %r."
                             % (name, _INT32_MAX, step))
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
        zero = self._zero
        for attr, c in attrs.items():
            # Another rank's state (parallel optimizer): checked, not kept;
            # under optimizer weight sharding every state is checked whole
            # and this rank's pieces kept.
            check_arrays("state '%s'" % attr, states[attr],
                         {p.name: _Absent(*self._full_state_spec(c, i),
                                          key=(c, i)) if zero else
                          s if self._owns(i) else
                          _Absent(*self._full_state_spec(c, i))
                          for i, (p, s) in enumerate(
                              zip(self._parameters, self._state_params[c]))})
        def constant_values(key, targets, what):
            """The checkpoint's `key` entries, each one of `targets`, as
            runtime scalars."""
            values = state_dict.get(key, {})
            unknown = set(values) - set(targets)
            if unknown:
                raise KeyError("For '%s', the checkpoint's %ss %s are not "
                               "constant %ss of this optimizer."
                               % (name, what, sorted(unknown), what))
            return {k: _runtime_scalar(v, what, name)
                    for k, v in values.items()}

        lr_params = {p.name: p for p in self._lr_params()}
        lr_values = constant_values("learning_rate", lr_params,
                                    "learning rate")
        wd_targets = self._wd_entries()
        wd_values = constant_values("weight_decay", wd_targets,
                                    "weight decay")
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
        scale_state = self._checked_scale_state(state_dict)
        # Everything checked: write.
        if zero:
            self._zero_adopt()
        layout = self._zero_layout
        for target, value in writes:
            if not isinstance(target, _Absent):
                np.copyto(target.data, value)
            elif target.key is not None and layout is None:
                # Pending (before the first compilation): kept whole.
                self._zero_pending[target.key] = ("array", value.copy())
            elif target.key is not None and target.key[1] in layout:
                c, i = target.key
                offset, count, _ = layout[i]
                piece = self._state_params[c][i].data
                piece.reshape(-1)[...] = \
                    value.reshape(-1)[offset:offset + piece.size]
        for part in self._parts or ():
            part.gpu_states_current = False  # sent again at the next step
        for k, v in lr_values.items():
            lr_params[k].set_data(np.float32(v))
        for k, v in wd_values.items():
            wd_targets[k].value = v
        self._hyper.update(hyper)
        self._counter.value = int(step)
        if scale_state is not None:
            # The compiled steps get it at the next step (_push_scale_state).
            cell = self._scale_cell
            cell._scale, cell._good_steps, cell._cur_iter = scale_state

    def __repr__(self):
        return "%s(%d parameters%s, global_step=%d)" % (
            self.cls_name, len(self.parameters),
            ", grouped" if self.is_group else "", self._counter.value)
