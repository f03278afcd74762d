"""``optim_mlir.torch``: drop-in ``torch.optim`` optimizers whose step is
compiled (on CPU tensors, or as CUDA kernels on CUDA tensors). The user
manual (supported optimizers and arguments, tensors, threads, what is not
supported) is ``docs/Python-torch.md``.
"""

import functools
import inspect
import math
import sys

import numpy as np
import torch
from torch.optim.optimizer import Optimizer, required

from . import _compiled, _record_classes, ir
from ._optim import TorchPlan, cuda_driver_available, rule_specs
from ._state_arena import OwnedTensors

# The classes of the rules defined by their records alone (Lion, Adan, ...)
# are built from the rule table at the end of this module and added here.
# (`__all__` lists the optimizer classes and the counters; the value class
# `DynamicLossScale` and the wrapper `ZeroRedundancyOptimizer`, imported on
# first use, are used by their qualified names.)
__all__ = ["SGD", "Adam", "AdamW", "SparseAdam", "Lamb", "Adafactor",
           "compile_count", "gpu_compile_count"]

# What this module compiled: ``compile_count`` (CompiledOptimizer objects;
# tests use it to check that hyper-parameter changes never recompile) and
# ``gpu_compile_count`` (GPUOptimizer objects, for CUDA parameters).
_COMPILER = _compiled.Compiler()


def __getattr__(name):
    if name == "compile_count":
        return _COMPILER.cpu_count
    if name == "gpu_compile_count":
        return _COMPILER.gpu_count
    if name == "ZeroRedundancyOptimizer":
        from ._zero import ZeroRedundancyOptimizer
        return ZeroRedundancyOptimizer
    raise AttributeError("module %r has no attribute %r" % (__name__, name))

# Pipeline options of the compiled steps (empty: the runtime's defaults).
COMPILE_OPTIONS = ""
# Options of the GPU pipeline (optim-lower-to-gpu, e.g. "block-size=128").
GPU_COMPILE_OPTIONS = ""

# The element types of the compiled steps' buffers, by torch dtype: float32
# and float64, and float16 and bfloat16 (loaded and stored in their type,
# computed in float32).
_DTYPES = {getattr(torch, name): name for name in
           _compiled.FLOAT_DTYPE_NAMES + ("float16", "bfloat16")}

# Complex parameters step as their torch.view_as_real twins (as torch 1.13's
# Adam, AdamW, Adamax and Adadelta step them; SGD's complex arithmetic is
# the same update): the element type of that twin, by complex dtype.
_COMPLEX_DTYPES = {torch.complex64: torch.float32,
                   torch.complex128: torch.float64}


def _real(t):
    """`t` itself, or its torch.view_as_real twin (shape ``(..., 2)``) when
    it is complex."""
    return torch.view_as_real(t) if t.is_complex() else t


def _step_shape_dtype(p):
    """The IR shape and element type name the compiled step sees for `p`
    (the view_as_real twin's for a complex `p`)."""
    if p.is_complex():
        return (_ir_shape(tuple(p.shape) + (2,)),
                _DTYPES[_COMPLEX_DTYPES[p.dtype]])
    return _ir_shape(p.shape), _DTYPES[p.dtype]


def _compile(source):
    # The step's threads follow torch's intra-op setting (never more than
    # the cores this process may run on; small steps use the calling thread).
    return _COMPILER.cpu(source, COMPILE_OPTIONS,
                         num_threads=torch.get_num_threads())


_DEVICE_TYPES = ("cpu", "cuda")


def _check_tensor(t, what):
    """Checks that `t` can be updated in place by a compiled step (on the
    CPU or on its CUDA device)."""
    if t.layout != torch.strided:
        raise ValueError("optim_mlir.torch: %s must be a dense (strided) "
                         "tensor, got layout %s" % (what, t.layout))
    if t.device.type not in _DEVICE_TYPES:
        raise ValueError("optim_mlir.torch: %s is on device '%s'; the "
                         "compiled steps run on CPU tensors (host code) and "
                         "CUDA tensors (CUDA kernels) only" % (what, t.device))
    if t.dtype not in _DTYPES and t.dtype not in _COMPLEX_DTYPES:
        raise TypeError("optim_mlir.torch: %s has dtype %s; the supported "
                        "dtypes are torch.float32, torch.float64, "
                        "torch.float16, torch.bfloat16, torch.complex64 and "
                        "torch.complex128" % (what, t.dtype))
    # CPU parameters of any strides are stepped (`_checked_step`); the
    # CUDA kernels take C-contiguous ones only.
    if t.device.type != "cpu" and not t.is_contiguous():
        raise ValueError("optim_mlir.torch: %s on %s is not contiguous "
                         "(strides %s for shape %s); the CUDA step updates "
                         "storage in place and needs C-contiguous tensors "
                         "(use tensor.contiguous() / memory_format="
                         "torch.contiguous_format)"
                         % (what, t.device, tuple(t.stride()),
                            tuple(t.shape)))


def _dense_strides(t):
    """`t`'s strides when its elements fill a span of `t.numel()` storage
    elements once each (dense and non-overlapping, in any order of the
    dimensions: C-contiguous, channels_last, a transpose), with 0 for the
    dimensions of size 1 (whose strides address nothing); None otherwise
    (overlapping or with gaps, e.g. ``w[:, ::2]``). Two tensors of one
    shape with equal dense strides hold each element at the same offset of
    their spans."""
    strides = tuple(s if n > 1 else 0 for n, s in zip(t.shape, t.stride()))
    if t.numel() == 0:
        return strides
    expected = 1
    for stride, size in sorted((s, n) for n, s in zip(t.shape, strides)
                               if n > 1):
        if stride != expected:
            return None
        expected *= size
    return strides


_ANY_ORDER = {}


def _updates_in_any_order(rule):
    """Whether the update of `rule` gives the same result on the elements of
    its tensors in any order, provided the parameter, gradient and states
    share it: each element's update reads that element and at most
    per-tensor norms (Lamb's, LARS's: sums over every element, whatever
    their order), and every state has the parameter's shape. Adafactor's
    row and column means (``whole_tensor``) need the logical layout. (The
    groups of these classes never centralize gradients, whose rows are the
    first dimension.)"""
    result = _ANY_ORDER.get(rule)
    if result is None:
        spec = rule_specs()[rule]
        result = _ANY_ORDER[rule] = (
            not spec["whole_tensor"] and not spec["sparse_grad"] and
            all(s["shape"] == "param" for s in spec["states"]))
    return result


def _in_layout(t, layout):
    """Whether `t` is C-contiguous (`layout` None) or dense with the dense
    strides `layout`."""
    if layout is None:
        return t.is_contiguous()
    return _dense_strides(t) == layout


def _check_aligned(t, what):
    """The CUDA kernels load and store 16-byte vectors: a parameter they
    update in place must start on a 16-byte boundary."""
    if t.data_ptr() % 16:
        raise ValueError("optim_mlir.torch: %s on %s starts at address %#x, "
                         "which is not 16-byte aligned: the CUDA step loads "
                         "and stores 16-byte vectors in place (allocate the "
                         "parameter on its own, or as a view at an offset "
                         "that is a multiple of 16 bytes)"
                         % (what, t.device, t.data_ptr()))


def _device_copy(t):
    """`t` itself when the CUDA kernels can read it (contiguous, 16-byte
    aligned), else a contiguous copy (torch's allocator aligns it)."""
    if t.is_contiguous() and t.data_ptr() % 16 == 0:
        return t
    return t.clone(memory_format=torch.contiguous_format)


class _GPURuntime:
    """Where the CUDA steps of one device run: its index, its chip and
    torch's current stream there."""

    def __init__(self, device, chip):
        self.device, self.chip = device, chip

    def stream(self):
        """The stream this step is enqueued on (torch's current stream)."""
        return torch.cuda.current_stream(self.device)

    @staticmethod
    def handle(stream):
        """The CUstream address of `stream`."""
        return stream.cuda_stream

    def follow(self, stream, previous):
        """Orders the work enqueued next on `stream` after what was enqueued
        on `previous` (None: the legacy default stream): a compiled
        optimizer enqueues its hyper-parameter and step-counter copies on
        the stream of its latest step."""
        if previous is None:
            previous = torch.cuda.default_stream(self.device)
        if previous.cuda_stream != stream.cuda_stream:
            stream.wait_stream(previous)


# Device -> _GPURuntime, once the driver was found usable for it.
_GPU_RUNTIMES = {}


def _gpu_runtime(device):
    """The runtime of CUDA device `device` (a torch.device of type cuda): the
    driver is checked first (RuntimeError with its message), then the
    device's chip is read from torch."""
    runtime = _GPU_RUNTIMES.get(device)
    if runtime is not None:
        return runtime
    available, message = cuda_driver_available()
    if not available:
        raise RuntimeError("optim_mlir.torch: the parameters are on %s, "
                           "where the step runs as CUDA kernels, but the "
                           "CUDA driver is not usable: %s" % (device, message))
    index = device.index
    if index is None:
        index = torch.cuda.current_device()
    major, minor = torch.cuda.get_device_capability(index)
    runtime = _GPURuntime(index, _compiled.chip_name((major, minor)))
    _GPU_RUNTIMES[device] = runtime
    return runtime


def _compile_gpu(source, chip):
    return _COMPILER.gpu(source, chip, GPU_COMPILE_OPTIONS)


class _GPUEntry:
    """A GPUOptimizer of one structure, loaded on one device, and what this
    front end last left on that device."""

    def __init__(self, gpu, order, state_keys):
        self.gpu, self.order, self.state_keys = gpu, order, state_keys
        # (group, name) -> the value in the device table.
        self.last = {}
        # The device's step counter: 0 once loaded, then incremented by
        # every step's kernels.
        self.device_step = 0
        # The stream of the latest step (None: none yet, the legacy default
        # stream).
        self.stream = None

    def push(self, hypers):
        """Copies the hyper-parameters that changed to the device table."""
        for j, hyper in enumerate(hypers):
            for name, value in hyper.items():
                key = (j, name)
                if self.last.get(key) != value:
                    self.gpu.set_hyper_param(j, name, value)
                    self.last[key] = value


def _view(t):
    """A NumPy array sharing `t`'s storage (a 0-d tensor as shape (1,)).
    A complex `t` is seen as its view_as_real twin, a bfloat16 one as int16
    (NumPy has no bfloat16; the runtime takes any 2-byte array for a
    bfloat16 buffer). A `t` that is not C-contiguous must be dense
    (`_checked_step` sees to it): its storage span in memory order, shaped
    as its IR shape (the compiled step sees C-contiguous buffers: an
    elementwise update of tensors with the same strides is the same on
    their spans)."""
    t = _real(t)
    bf16 = t.dtype == torch.bfloat16
    if bf16:
        t = t.view(torch.int16)
    if not t.is_contiguous():
        flat = t.detach().as_strided((t.numel(),), (1,))
        array = flat.numpy().reshape(_ir_shape(t.shape))
    else:
        array = t.detach().numpy()
        if array.ndim == 0:
            array = array.reshape(1)  # a view: same storage
    # The runtime takes bfloat16 bits as uint16 (torch has no uint16).
    return array.view(np.uint16) if bf16 else array


def _ir_shape(shape):
    """The shape a parameter has in the IR: 0-d tensors are passed as one
    element of shape (1,) (same data; rank-0 memrefs are avoided)."""
    shape = tuple(int(d) for d in shape)
    return shape if shape else (1,)


def _bucket_structure(members):
    """The groups of a bucket's (group index, parameter) members in order of
    appearance, and its structure: per group, the (shape, dtype) of each
    member (the key of its compiled optimizer)."""
    gis, shapes = [], {}
    for gi, p in members:
        if gi not in shapes:
            gis.append(gi)
            shapes[gi] = []
        shapes[gi].append(_step_shape_dtype(p))
    return gis, tuple(tuple(shapes[gi]) for gi in gis)


def _finite(name, value):
    value = float(value)
    if not math.isfinite(value):
        raise ValueError("optim_mlir.torch: hyper-parameter %s must be "
                         "finite, got %r" % (name, value))
    return value


def _real_number(name, value):
    """`value` as a float: TypeError for what is not a real number (bool
    included), ValueError when it is not finite."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) and \
            not (torch.is_tensor(value) and value.numel() == 1 and
                 not value.is_complex()):
        raise TypeError("optim_mlir.torch: %s must be a real number, got %s"
                        % (name, type(value).__name__))
    value = float(value)
    if not math.isfinite(value):
        raise ValueError("optim_mlir.torch: %s must be finite, got %r"
                         % (name, value))
    return value


class DynamicLossScale:
    """The settings of a dynamic loss scale, with torch GradScaler's names
    and defaults: the scale starts at ``init_scale``; a step whose gradients
    hold an inf or NaN is skipped and multiplies it by ``backoff_factor``;
    ``growth_interval`` clean steps in a row multiply it by
    ``growth_factor``. Pass it as ``loss_scale=`` of an ``optim_mlir.torch``
    optimizer (docs/Python-torch.md, "Clipping and loss scaling").

    ``init_scale`` must be positive and finite, ``growth_factor`` finite
    and greater than 1, ``backoff_factor`` in (0, 1) (GradScaler's ranges)
    and ``growth_interval`` a positive int: ValueError otherwise, TypeError
    for a value that is not a number (an int for ``growth_interval``)."""

    __slots__ = ("_init_scale", "_growth_factor", "_backoff_factor",
                 "_growth_interval")

    def __init__(self, init_scale=2.0 ** 16, growth_factor=2.0,
                 backoff_factor=0.5, growth_interval=2000):
        init_scale = _real_number("init_scale", init_scale)
        growth_factor = _real_number("growth_factor", growth_factor)
        backoff_factor = _real_number("backoff_factor", backoff_factor)
        if isinstance(growth_interval, bool) or \
                not isinstance(growth_interval, int):
            raise TypeError("optim_mlir.torch: growth_interval must be an "
                            "int, got %s" % type(growth_interval).__name__)
        if not init_scale > 0.0:
            raise ValueError("optim_mlir.torch: init_scale must be positive, "
                             "got %r" % init_scale)
        if not growth_factor > 1.0:
            raise ValueError("optim_mlir.torch: growth_factor must be "
                             "greater than 1, got %r" % growth_factor)
        if not 0.0 < backoff_factor < 1.0:
            raise ValueError("optim_mlir.torch: backoff_factor must be in "
                             "(0, 1), got %r" % backoff_factor)
        if not 1 <= growth_interval <= 9 * 10 ** 15:
            raise ValueError("optim_mlir.torch: growth_interval must be a "
                             "positive int, got %r" % growth_interval)
        self._init_scale = init_scale
        self._growth_factor = growth_factor
        self._backoff_factor = backoff_factor
        self._growth_interval = growth_interval

    init_scale = property(lambda self: self._init_scale)
    growth_factor = property(lambda self: self._growth_factor)
    backoff_factor = property(lambda self: self._backoff_factor)
    growth_interval = property(lambda self: self._growth_interval)

    def _astuple(self):
        return (self._init_scale, self._growth_factor, self._backoff_factor,
                self._growth_interval)

    def _asdict(self):
        return dict(zip(("init_scale", "growth_factor", "backoff_factor",
                         "growth_interval"), self._astuple()))

    def __eq__(self, other):
        if not isinstance(other, DynamicLossScale):
            return NotImplemented
        return self._astuple() == other._astuple()

    def __hash__(self):
        return hash(self._astuple())

    def __repr__(self):
        return ("DynamicLossScale(init_scale=%r, growth_factor=%r, "
                "backoff_factor=%r, growth_interval=%r)" % self._astuple())


def _check_max_grad_norm(value):
    """None, or `value` as a positive finite float (TypeError, ValueError)."""
    if value is None:
        return None
    value = _real_number("max_grad_norm", value)
    if not value > 0.0:
        raise ValueError("optim_mlir.torch: max_grad_norm must be positive, "
                         "got %r" % value)
    return value


def _check_loss_scale(value):
    """(static scale or None, DynamicLossScale or None) of a ``loss_scale``
    argument: None, a positive finite number, or a DynamicLossScale."""
    if value is None:
        return None, None
    if isinstance(value, DynamicLossScale):
        return None, value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError("optim_mlir.torch: loss_scale must be None, a "
                        "number (a static scale) or an optim_mlir.torch."
                        "DynamicLossScale, got %s" % type(value).__name__)
    value = _real_number("loss_scale", value)
    if not value > 0.0:
        raise ValueError("optim_mlir.torch: loss_scale must be positive, "
                         "got %r" % value)
    return value, None


# The key of the gradient control in a state_dict (next to torch's "state"
# and "param_groups").
_CONTROL_KEY = "gradient_control"

# The state key of a parameter's float32 master copy with
# ``master_weights=True`` (docs/Python-torch.md, "Master weights").
MASTER_KEY = "master_weight"
_HALF_DTYPES = (torch.float16, torch.bfloat16)


class _GradientControl:
    """An optimizer's clipping and loss scaling: its settings, the dynamic
    scale and its count of clean steps, and what the last step found.

    A step runs the control either inside one compiled call (``in_step``:
    the call's step status then holds the newest values, read when asked)
    or in the front end with torch ops (``front``: several compiled calls,
    sparse entries, CUDA parameters, torch's eager step), which then runs
    the calls at a static scale (the loss scale times the clip factor) or
    not at all."""

    def __init__(self, max_grad_norm=None, loss_scale=None):
        self.max_grad_norm = _check_max_grad_norm(max_grad_norm)
        self.static, self.dynamic = _check_loss_scale(loss_scale)
        self.scale = self.dynamic.init_scale if self.dynamic else \
            (self.static or 1.0)
        self.good_steps = 0
        self.found_inf = False
        self.grad_norm = None
        # The compiled optimizer whose step status holds `scale` and
        # `good_steps`, and whether its last step's results are not yet
        # read back.
        self.holder = None
        self.pending = False

    @property
    def checks(self):
        """Whether a step computes the global norm (clipping or dynamic
        scaling)."""
        return self.max_grad_norm is not None or self.dynamic is not None

    @property
    def configured(self):
        """Whether there is anything to keep: clipping, or a static or
        dynamic loss scale (the state_dict entry, `_step_at_scale`'s
        refusal)."""
        return self.checks or self.static is not None

    def structure(self):
        """What of the control the compiled structure holds."""
        return (self.max_grad_norm is not None, self.dynamic is not None)

    def sync(self):
        """Reads back the results of the last in-step control."""
        if self.pending:
            status = self.holder.step_status()
            if self.dynamic is not None:
                self.scale = float(status["loss_scale"])
                self.good_steps = int(status["good_steps"])
            self.found_inf = bool(status["found_inf"])
            self.grad_norm = float(status["grad_norm"])
            self.pending = False

    def slots(self):
        """The control's slots of the hyper-parameter table (group 0)."""
        slots = {}
        if self.max_grad_norm is not None:
            slots["max_grad_norm"] = self.max_grad_norm
        if self.dynamic is not None:
            d = self.dynamic
            slots.update(growth_factor=d.growth_factor,
                         backoff_factor=d.backoff_factor,
                         growth_interval=float(d.growth_interval),
                         min_loss_scale=0.0)
        return slots

    def unscale(self):
        """The scale the compiled calls divide the gradients by when the
        control runs in the step (or there is none to run)."""
        return 1.0 if self.dynamic is not None else (self.static or 1.0)

    def before_in_step(self, compiled):
        """Before a compiled call that runs the control itself: the newest
        dynamic scale and count into its status."""
        self.sync()
        if self.dynamic is not None and self.holder is not compiled:
            compiled.set_loss_scale_state(self.scale, self.good_steps)
        self.holder = compiled

    def after_in_step(self):
        self.pending = True

    def unchecked(self):
        """A step without clipping and dynamic scaling: nothing found."""
        self.sync()
        self.found_inf, self.grad_norm = False, None

    def front(self, grads):
        """The control in the front end over `grads` (every gradient of the
        step: dense tensors, or the values of coalesced sparse ones; read
        only). Returns the scale the compiled calls divide the gradients by
        (the loss scale times the clip factor), or None when the step is
        skipped (dynamic scaling found an inf or NaN; the scale backs
        off)."""
        self.sync()
        self.holder = None
        scale = self.scale
        if not self.checks:
            self.found_inf, self.grad_norm = False, None
            return scale
        # Sums of squares in float64 (as the compiled step: finite exactly
        # when every element is), one read back.
        total = None
        for g in grads:
            part = _real(g).detach().to(torch.float64).square().sum()
            total = part if total is None else total + part
        squares = 0.0 if total is None else float(total)
        norm = math.sqrt(squares) / scale if squares == squares else \
            float("nan")
        self.grad_norm = norm
        self.found_inf = not math.isfinite(squares)
        if self.dynamic is not None:
            d = self.dynamic
            if self.found_inf:
                self.scale = scale * d.backoff_factor
                self.good_steps = 0
                return None
            self.good_steps += 1
            if self.good_steps >= d.growth_interval:
                grown = scale * d.growth_factor
                if math.isfinite(grown):
                    self.scale = grown
                self.good_steps = 0
        if self.max_grad_norm is not None:
            factor = (norm + 1e-6) / self.max_grad_norm
            if factor != factor:
                # A NaN norm: every gradient becomes NaN or 0, as with an
                # inf one (the table takes no NaN).
                factor = math.inf
            scale *= max(1.0, factor)
        return scale

    def entry(self):
        """The state_dict entry."""
        self.sync()
        return {"max_grad_norm": self.max_grad_norm,
                "loss_scale": self.static,
                "dynamic": None if self.dynamic is None else
                self.dynamic._asdict(),
                "scale": self.scale if self.dynamic is not None else None,
                "good_steps": self.good_steps
                if self.dynamic is not None else None}

    def check_loaded(self, loaded, owner):
        """Raises ValueError unless `loaded` (a control from a state_dict,
        or None) has this control's kinds (`owner`: the class named in the
        message)."""
        mine = _GradientControl.kinds(
            self.entry() if self.configured else None)
        theirs = _GradientControl.kinds(None if loaded is None
                                        else loaded.entry())
        if mine != theirs:
            def describe(kinds):
                return "max_grad_norm %s, loss scaling: %s" % (
                    "set" if kinds[0] else "None", kinds[1])
            raise ValueError(
                "optim_mlir.torch.%s: the state_dict was saved with %s, this "
                "optimizer has %s; construct it with the same kinds of "
                "max_grad_norm and loss_scale (the values are loaded) or "
                "edit the state_dict's %r entry"
                % (owner, describe(theirs), describe(mine), _CONTROL_KEY))

    @staticmethod
    def kinds(entry):
        """(clipping, "none" | "static" | "dynamic") of an entry."""
        if entry is None:
            return (False, "none")
        return (entry["max_grad_norm"] is not None,
                "dynamic" if entry["dynamic"] is not None else
                "static" if entry["loss_scale"] is not None else "none")

    @classmethod
    def from_entry(cls, entry):
        """The control an entry describes (checked)."""
        if not isinstance(entry, dict) or not {
                "max_grad_norm", "loss_scale", "dynamic", "scale",
                "good_steps"} <= set(entry):
            raise ValueError("optim_mlir.torch: the state_dict's %r entry "
                             "must be a dict with max_grad_norm, loss_scale, "
                             "dynamic, scale and good_steps, got %r"
                             % (_CONTROL_KEY, entry))
        dynamic = entry["dynamic"]
        if dynamic is not None:
            if not isinstance(dynamic, dict):
                raise ValueError("optim_mlir.torch: the state_dict's "
                                 "dynamic loss scale must be a dict, got %r"
                                 % (dynamic,))
            dynamic = DynamicLossScale(**dynamic)
        control = cls(entry["max_grad_norm"],
                      dynamic if dynamic is not None else entry["loss_scale"])
        if dynamic is not None:
            scale = _real_number("the loss scale", entry["scale"])
            good = entry["good_steps"]
            if not scale > 0.0:
                raise ValueError("optim_mlir.torch: the state_dict's loss "
                                 "scale must be positive, got %r" % scale)
            if isinstance(good, bool) or not isinstance(good, int) or \
                    good < 0:
                raise ValueError("optim_mlir.torch: the state_dict's count "
                                 "of clean steps must be a non-negative "
                                 "int, got %r" % (good,))
            control.scale, control.good_steps = scale, good
        return control


class _CompiledTorchOptimizer(Optimizer):
    """Common machinery: buckets of parameters stepped by one compiled call.

    Subclasses define ``_RULE`` (the IR rule name), ``_STATE_KEYS`` (compiled
    state name -> torch state key) and the hooks below.
    """

    _RULE = None
    _STATE_KEYS = {}
    # Declared values in the IR: placeholders that pass the verifier (every
    # value is set at run time before each step).
    _PLACEHOLDERS = {}
    # (group key, supported values, exception type, reason) per option.
    _UNSUPPORTED = ()
    # How torch's counterpart applies the weight decay, for the classes that
    # step like it with a negative lr or weight decay set in param_groups
    # after construction (the runtime's table takes neither): "l2" (added
    # to the gradient) or "decoupled" (``p *= 1 - lr * wd`` before the
    # update). None: no torch counterpart, and such a value raises at
    # step().
    _TORCH_DECAY = None

    # ---- hooks
    def _options(self, group, t0):
        """Rule options (structure) for a group: a tuple of (name, bool)."""
        return ()

    def _prepare(self, p, state, group):
        """(t0, {torch_key: tensor or None}) for parameter `p` without
        changing `state`; t0 is the 0-based global step of its compiled
        call; None marks a state to create (zeros, runtime-owned)."""
        raise NotImplementedError

    # How much a bucket's step count grows per step (torch's `step`).
    _STEP_INCREMENT = 1
    # Whether the rule keeps torch's per-parameter `state['step']`.
    _HAS_STEP = True

    def _plan_signature(self, group):
        """What of a group the fast path's plan depends on (structure)."""
        return (self._options(group, 0),
                bool(group.get("maximize", False)))

    def _commit(self, p, state, group, tensors, t0):
        """Records the step in `state` after the compiled call."""
        raise NotImplementedError

    def _hyper(self, group, t):
        """Runtime hyper-parameters of a group at 1-based step `t` (and, for
        a class with front-end values, the bucket's `values`)."""
        raise NotImplementedError

    def _bucket_values(self, p, state, group, t0):
        """The hyper-parameters the front end computes for `p` at 0-based
        step `t0` from its per-parameter scalar states, as (name, value)
        pairs: parameters share a compiled call only where these agree."""
        return ()

    # Whether a plan may step this class's parameters without the checked
    # path (off where the front end updates states of its own each step).
    _FAST_PATH = True

    # ---- clipping and loss scaling (docs/Python-torch.md, "Clipping and
    # loss scaling"): keyword arguments of every class's constructor, taken
    # before its own (whose signature stays torch's)
    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is None or getattr(init, "_takes_control", False):
            return

        @functools.wraps(init)
        def __init__(self, *args, max_grad_norm=None, loss_scale=None,
                     master_weights=False, **kwargs):
            control = _GradientControl(max_grad_norm, loss_scale)
            if not isinstance(master_weights, bool):
                raise TypeError("optim_mlir.torch.%s: master_weights must "
                                "be a bool, got %r"
                                % (type(self).__name__, master_weights))
            if master_weights and not self._MASTER_WEIGHTS:
                raise ValueError(
                    "optim_mlir.torch.%s does not support "
                    "master_weights=True (rule %s: %s)"
                    % (type(self).__name__, self._RULE,
                       self._NO_MASTER_REASON))
            self.__dict__["_master_weights"] = master_weights
            init(self, *args, **kwargs)
            self.__dict__["_gradient_control"] = control
        __init__._takes_control = True
        cls.__init__ = __init__

    def _control(self):
        control = self.__dict__.get("_gradient_control")
        if control is None:
            control = self.__dict__["_gradient_control"] = \
                _GradientControl()
        return control

    @property
    def max_grad_norm(self):
        """The global norm the gradients are clipped to (None: no
        clipping). Setting a new value takes effect at the next step
        without recompiling; switching clipping on or off compiles the
        steps once more."""
        return self._control().max_grad_norm

    @max_grad_norm.setter
    def max_grad_norm(self, value):
        control = self._control()
        control.max_grad_norm = _check_max_grad_norm(value)

    @property
    def loss_scale(self):
        """The scale to multiply the next loss by: the dynamic scale, the
        static one, or 1.0 without loss scaling."""
        control = self._control()
        control.sync()
        return control.scale

    @property
    def found_inf(self):
        """Whether the last step's gradients held an inf or NaN (always
        False without clipping and dynamic scaling, which check them); with
        dynamic scaling that step changed nothing."""
        control = self._control()
        control.sync()
        return control.found_inf

    @property
    def grad_norm(self):
        """The global L2 norm of the last step's unscaled gradients (before
        clipping), or None without clipping and dynamic scaling (or before
        the first step)."""
        control = self._control()
        control.sync()
        return control.grad_norm

    def _step_at_scale(self, scale, closure=None):
        """One step whose compiled calls divide the gradients by `scale`
        (positive; inf where a NaN norm is clipped), the value
        `_GradientControl.front` returns, as the front-end path steps: for
        a wrapper that runs the control itself over gradients this
        optimizer holds only part of (``ZeroRedundancyOptimizer``). This
        optimizer must have no clipping or loss scaling of its own; it
        keeps none after the step."""
        control = self._control()
        if control.configured:
            raise RuntimeError("optim_mlir.torch.%s: _step_at_scale needs "
                               "an optimizer without max_grad_norm and "
                               "loss_scale" % type(self).__name__)
        try:
            # A static scale: every path runs its calls at it (`unscale`;
            # `front` returns it when nothing is checked).
            control.static = control.scale = float(scale)
            return self.step(closure)
        finally:
            control.static, control.scale = None, 1.0

    # ---- master weights (docs/Python-torch.md, "Master weights")
    # Whether the class takes master_weights=True, and why not.
    _MASTER_WEIGHTS = True
    _NO_MASTER_REASON = ""

    @property
    def master_weights(self):
        """Whether float16 and bfloat16 parameters are stepped through a
        float32 master copy (``state[p]["master_weight"]``) with float32
        states."""
        return bool(self.__dict__.get("_master_weights", False))

    def _has_master(self, p):
        return p.dtype in _HALF_DTYPES and self.master_weights

    def _state_dtype(self, p):
        """The dtype of `p`'s states: float32 for a 16-bit parameter with
        master weights, else `p`'s own."""
        return torch.float32 if self._has_master(p) else p.dtype

    def _prepare_states(self, p, state, group):
        """`_prepare`, and for a parameter with master weights its states
        in float32 and its master (None: created from the parameter)."""
        t0, tensors = self._prepare(p, state, group)
        if self._has_master(p):
            for key, tensor in tensors.items():
                if tensor is not None and tensor.dtype != torch.float32:
                    tensors[key] = tensor.to(torch.float32)
            tensors[MASTER_KEY] = self._state_tensor(
                p, state[MASTER_KEY], MASTER_KEY) \
                if MASTER_KEY in state else None
        return t0, tensors

    def _refuse_master(self, p, what, why):
        if self._has_master(p):
            raise ValueError(
                "optim_mlir.torch.%s: %s is %s with master_weights=True, "
                "and %s; master weights are stepped by the compiled CPU "
                "step only" % (type(self).__name__, what,
                               str(p.dtype).replace("torch.", ""), why))

    # ---- common
    def _compiled_cache(self):
        cache = self.__dict__.get("_compiled")
        if cache is None:
            cache = self.__dict__["_compiled"] = {}
        return cache

    @property
    def num_compiled(self):
        """How many compiled optimizers (structures) this one holds."""
        return len(self._compiled_cache())

    def _check_group(self, group):
        for key, ok, exc, why in self._UNSUPPORTED:
            value = group.get(key, ok[0])
            if value not in ok:
                raise exc("optim_mlir.torch.%s does not support %s=%r%s"
                          % (type(self).__name__, key, value, why))

    def add_param_group(self, param_group):
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        try:
            self._check_group(group)
            self._params_device()
            for i, p in enumerate(group["params"]):
                self._check_param(p, "parameter %d of group %d"
                                  % (i, len(self.param_groups) - 1))
        except Exception:
            self.param_groups.pop()
            raise

    def _check_param(self, p, what):
        """`_check_tensor`, and a complex `p` only where the rule updates
        each element on its own (its view_as_real twin then steps as the
        complex parameter: states of the parameter's shape, norms of whole
        tensors that equal the complex ones); Adafactor's row and column
        statistics of the twin would mix real and imaginary parts."""
        _check_tensor(p, what)
        if p.is_complex() and not _updates_in_any_order(self._RULE):
            raise TypeError("optim_mlir.torch.%s: %s is complex (%s); rule "
                            "%s keeps statistics of rows and columns, which "
                            "are not defined for complex parameters"
                            % (type(self).__name__, what, p.dtype,
                               self._RULE))

    def _sparse_gradient(self, group, p, grad, what):
        """The dense gradient the compiled step reads for the sparse COO
        `grad` of `p` (already negated for `maximize`), or the exception
        torch raises: RuntimeError here, as torch's classes other than SGD
        raise it."""
        raise RuntimeError("optim_mlir.torch.%s does not support sparse "
                           "gradients (%s)" % (type(self).__name__, what))

    # Whether a sparse gradient steps only the entries it holds, as torch's
    # Adagrad and SparseAdam step them (`_touched_step`): the rule runs on
    # those entries of the parameter and its states, gathered, and the
    # others are left exactly as they are.
    _SPARSE_TOUCHED = False

    def _check_touched(self, group, p, what):
        """torch's errors for a sparse gradient of a `_SPARSE_TOUCHED`
        class: weight decay (torch's Adagrad raises RuntimeError); and
        NotImplementedError for a parameter on a CUDA device (the entries
        are gathered on the CPU) and for a complex one."""
        if float(group.get("weight_decay", 0.0)) != 0.0:
            raise RuntimeError(
                "optim_mlir.torch.%s: the gradient of %s is sparse and "
                "weight_decay=%r: weight_decay option is not compatible with "
                "sparse gradients (torch.optim.%s raises this too)"
                % (type(self).__name__, what, group["weight_decay"],
                   type(self).__name__))
        if p.device.type != "cpu":
            raise NotImplementedError(
                "optim_mlir.torch.%s: the gradient of %s is sparse and the "
                "parameter is on %s; sparse gradients are stepped on CPU "
                "parameters only" % (type(self).__name__, what, p.device))
        if p.is_complex():
            # torch 1.13's sparse steps square and divide the complex values
            # (complex g * g and sqrt), unlike its dense steps on the
            # view_as_real twin, which the compiled rule runs.
            raise NotImplementedError(
                "optim_mlir.torch.%s: the gradient of %s is sparse and the "
                "parameter is complex (%s); torch.optim.%s's sparse step "
                "runs complex arithmetic (g * g, complex sqrt), which the "
                "compiled rule (real and imaginary parts apart) does not: "
                "use a dense gradient" % (type(self).__name__, what,
                                          p.dtype, type(self).__name__))

    def _params_device(self):
        """The one device of every parameter (CPU when there are none);
        ValueError for parameters on two devices or on a device that no
        compiled step runs on."""
        device = where = None
        for gi, group in enumerate(self.param_groups):
            for pi, p in enumerate(group["params"]):
                if device is None:
                    device, where = p.device, (pi, gi)
                elif p.device != device:
                    raise ValueError(
                        "optim_mlir.torch: all parameters of an optimizer "
                        "must be on one device: parameter %d of group %d is "
                        "on %s, parameter %d of group %d on %s (use one "
                        "optimizer per device)"
                        % (where + (device, pi, gi, p.device)))
        if device is None:
            return torch.device("cpu")
        if device.type not in _DEVICE_TYPES:
            raise ValueError("optim_mlir.torch: the parameters are on device "
                             "'%s'; the compiled steps run on CPU tensors "
                             "(host code) and CUDA tensors (CUDA kernels) "
                             "only" % device)
        return device

    def _state_shape(self, p, key):
        """The shape of state `key` (a torch key) of `p`: that of its rule's
        state (`p`'s own for most)."""
        if key == MASTER_KEY:
            return tuple(p.shape)
        (name,) = [n for n, k in self._STATE_KEYS.items() if k == key]
        return _compiled.state_shape(self._RULE, name, p.shape)

    def _state_layout(self, p):
        """The dense strides (`_dense_strides`) of a CPU parameter that is
        stepped over its storage as it lies: dense but not C-contiguous
        (channels_last, a transpose), with a rule whose result does not
        depend on the order of the elements (`_updates_in_any_order`).
        Its states are kept in its strides, its gradient read in them.
        None: the parameter is C-contiguous, or is stepped through a
        C-contiguous copy (`_checked_step`), and its states are
        C-contiguous."""
        if p.is_contiguous() or p.device.type != "cpu" or \
                not _updates_in_any_order(self._RULE):
            return None
        return _dense_strides(p)

    def _state_tensors(self, p, state, keys):
        """{key: `state[key]` made ready for the step (`_state_tensor`), or
        None for a state to create (zeros, runtime-owned)} for `keys`."""
        return {key: self._state_tensor(p, state[key], key) if key in state
                else None for key in keys}

    def _state_tensor(self, p, tensor, key):
        """`tensor` as a tensor of `p`'s device and dtype and of the state's
        shape, C-contiguous or in `p`'s strides (`_state_layout`; 16-byte
        aligned on a CUDA device; the same object when it already is
        one)."""
        if not isinstance(tensor, torch.Tensor):
            raise TypeError("optim_mlir.torch: state '%s' must be a tensor, "
                            "got %s" % (key, type(tensor).__name__))
        shape = self._state_shape(p, key)
        if tuple(tensor.shape) != shape:
            raise ValueError("optim_mlir.torch: state '%s' has shape %s, "
                             "expected %s for its parameter of shape %s"
                             % (key, tuple(tensor.shape), shape,
                                tuple(p.shape)))
        dtype = self._state_dtype(p)
        if p.device.type != "cpu":
            # The CUDA step: on the parameter's device, contiguous and
            # 16-byte aligned.
            if tensor.layout == torch.strided and tensor.device == p.device \
                    and tensor.dtype == dtype and \
                    not tensor.requires_grad and tensor.is_contiguous() and \
                    tensor.data_ptr() % 16 == 0:
                return tensor
            if tensor.layout != torch.strided:
                tensor = tensor.to_dense()
            tensor = tensor.detach().to(device=p.device, dtype=dtype)
            return _device_copy(tensor)
        layout = self._state_layout(p) if shape == tuple(p.shape) else None
        if tensor.layout == torch.strided and tensor.device.type == "cpu" \
                and tensor.dtype == dtype and not tensor.requires_grad \
                and _in_layout(tensor, layout):
            return tensor
        if tensor.layout != torch.strided:
            tensor = tensor.to_dense()
        tensor = tensor.detach().to(device="cpu", dtype=dtype)
        if layout is not None:
            if not _in_layout(tensor, layout):
                tensor = torch.empty_like(p, dtype=dtype).copy_(tensor)
        elif not tensor.is_contiguous():
            tensor = tensor.contiguous()
        return tensor

    def _structure_source(self, options, groups, control=(False, False),
                          master=False):
        """IR text of a structure: placeholder values, all set at run time.
        `control`: whether the step clips and scales the loss dynamically
        (`_GradientControl.structure`); `master`: whether its 16-bit
        parameters have float32 master weights and states."""
        ir_groups = []
        k = 0
        for shapes in groups:
            params = []
            for shape, dtype in shapes:
                precision = {"master": "float32", "states": "float32"} \
                    if master and dtype in ("float16", "bfloat16") else None
                params.append(("p%d" % k, shape, dtype, False, precision))
                k += 1
            ir_groups.append({"params": params, "lr": 0.001,
                              "weight_decay": 0.0})
        hyper = dict(self._PLACEHOLDERS)
        hyper.update(options)
        clip, dynamic = control
        return ir.optimizer_ir(
            self._RULE, hyper, groups=ir_groups, learning_rate=0.001,
            weight_decay=0.0, loss_scale=1.0, symbol="opt",
            max_grad_norm=1.0 if clip else None,
            dynamic_loss_scale={"growth_factor": 2.0, "backoff_factor": 0.5,
                                "growth_interval": 2000, "min_scale": 0.0}
            if dynamic else None)

    def _get_compiled(self, options, groups, control=(False, False),
                      master=False):
        key = (options, groups) + ((control,) if any(control) else ()) + \
            (("master",) if master else ())
        cache = self._compiled_cache()
        entry = cache.get(key)
        if entry is None:
            compiled = _compile(self._structure_source(options, groups,
                                                       control, master))
            order, state_keys = self._step_layout(compiled, groups)
            entry = cache[key] = (compiled, order, state_keys)
        return entry

    def _step_layout(self, compiled, groups):
        """The order of a compiled step's parameters (step position -> our
        index) and the torch keys of its states, checked against the
        structure it was compiled from."""
        names = [info["name"] for info in compiled.params]
        order = [int(n[1:]) for n in names]
        state_keys = []
        for name in compiled.state_names:
            if name == "master":
                state_keys.append(MASTER_KEY)
                continue
            if name not in self._STATE_KEYS:
                raise RuntimeError("optim_mlir.torch: unexpected state "
                                   "'%s' of rule %s" % (name, self._RULE))
            state_keys.append(self._STATE_KEYS[name])
        group_of = [j for j, shapes in enumerate(groups) for _ in shapes]
        if sorted(order) != list(range(len(group_of))) or any(
                info["group"] != group_of[k]
                for info, k in zip(compiled.params, order)):
            raise RuntimeError("optim_mlir.torch: the compiled optimizer "
                               "does not hold the parameters it was given")
        return order, state_keys

    def _get_gpu_compiled(self, runtime, options, groups):
        """The _GPUEntry of a structure on `runtime`'s device: compiled for
        its chip and loaded there once."""
        cache = self.__dict__.get("_gpu_compiled")
        if cache is None:
            cache = self.__dict__["_gpu_compiled"] = {}
        key = (runtime.device, options, groups)
        entry = cache.get(key)
        if entry is None:
            gpu = _compile_gpu(self._structure_source(options, groups),
                               runtime.chip)
            order, state_keys = self._step_layout(gpu, groups)
            gpu.load(runtime.device)
            entry = cache[key] = _GPUEntry(gpu, order, state_keys)
        return entry

    def _device_step_matches(self, device_step, t0):
        """Whether a step whose device counter reads `device_step` runs as
        one at 0-based step `t0` (the rule sees t = step + 1)."""
        return device_step == t0

    def _owned(self):
        owned = self.__dict__.get("_owned_tensors")
        if owned is None:
            owned = self.__dict__["_owned_tensors"] = OwnedTensors()
        return owned

    def _signed(self, group):
        """Whether `group` has a negative lr or weight decay that this class
        steps as torch does: the compiled call then runs at ``|lr|`` without
        weight decay, on the parameter negated when ``lr < 0`` (the update
        ``p - lr * u`` is ``-(-p - |lr| * u)`` when ``u`` does not depend on
        ``p``), and the decay is applied outside it as torch applies it
        (`_signed_gradient`, `_signed_before`)."""
        return self._TORCH_DECAY is not None and (
            _finite("lr", group["lr"]) < 0.0 or
            _finite("weight_decay", group["weight_decay"]) < 0.0)

    def _signed_gradient(self, group, p, grad):
        """`grad` with torch's L2 term ``wd * p`` added where the compiled
        call of a signed group runs without weight decay."""
        if self._TORCH_DECAY != "l2":
            return grad
        wd = float(group["weight_decay"])
        if wd != 0.0 and self._signed(group):
            grad = grad.add(p, alpha=wd)
        return grad

    def _signed_before(self, group, p):
        """What a signed group's parameter needs before its compiled call:
        torch's decoupled decay, then the negation for ``lr < 0``."""
        lr, wd = float(group["lr"]), float(group["weight_decay"])
        if self._TORCH_DECAY == "decoupled" and lr * wd != 0.0:
            p.mul_(1.0 - lr * wd)
        if lr < 0.0:
            p.neg_()

    @staticmethod
    def _signed_after(group, p):
        """Undoes the negation of `_signed_before`."""
        if float(group["lr"]) < 0.0:
            p.neg_()

    def _run_signed(self, targets, run):
        """Runs `run()` (one compiled call updating the (group index,
        tensor) pairs `targets`) between `_signed_before` and
        `_signed_after` of the tensors of signed groups."""
        signed = [(self.param_groups[gi], t) for gi, t in targets
                  if self._signed(self.param_groups[gi])]
        for group, p in signed:
            self._signed_before(group, p)
        try:
            run()
        finally:
            for group, p in signed:
                self._signed_after(group, p)

    def _group_hyper(self, gi, t, values=()):
        """Runtime hyper-parameters of group `gi` at 1-based step `t`,
        checked (raises before anything is written; the messages show the
        group's own values). `values`: the (name, value) pairs of the
        bucket's front-end hyper-parameters (`_bucket_values`)."""
        group = self.param_groups[gi]
        if self._signed(group):
            for pi, p in enumerate(group["params"]):
                self._refuse_master(
                    p, "parameter %d of group %d" % (pi, gi),
                    "the group has a negative lr or weight decay (stepped "
                    "on the parameter outside the compiled call)")

        def hyper_of(group):
            # Only the classes with front-end values take them.
            return self._hyper(group, t, values) if values else \
                self._hyper(group, t)
        if self._signed(group):
            control = self._control()
            if control.configured:
                raise ValueError(
                    "optim_mlir.torch.%s: group %d has lr=%r and "
                    "weight_decay=%r; a negative lr or weight decay is not "
                    "supported together with max_grad_norm or loss_scale "
                    "(its decay is applied outside the compiled call, to "
                    "gradients that are not unscaled there)"
                    % (type(self).__name__, gi, group["lr"],
                       group["weight_decay"]))
            group = dict(group, lr=abs(float(group["lr"])), weight_decay=0.0)
            return hyper_of(group)
        hyper = hyper_of(group)
        for name, key in (("learning_rate", "lr"),
                          ("weight_decay", "weight_decay")):
            if hyper[name] < 0.0:
                raise ValueError(
                    "optim_mlir.torch: %s of group %d must be non-negative, "
                    "got %r" % (key, gi, group[key]))
        return hyper

    # torch's class whose own step runs the steps of groups with
    # ``differentiable=True`` (an autograd graph through the update, which
    # a compiled in-place step cannot record), for the classes whose torch
    # 1.13 counterpart takes that argument.
    _TORCH_EAGER = None

    def step(self, closure=None):
        """One optimization step (see the module documentation). With
        ``differentiable=True`` in a group of a class that takes it (SGD,
        Adam, RMSprop), the step is torch's own (eager, recording the
        autograd graph as torch's does) on this optimizer's groups and
        state."""
        with self._step_lock():
            return self._step(closure)

    def _step_lock(self):
        return _compiled.step_lock(self)

    def _step(self, closure):
        eager = self._TORCH_EAGER
        if eager is not None and any(group.get("differentiable", False)
                                     for group in self.param_groups):
            self.__dict__["_plan"] = None
            for gi, group in enumerate(self.param_groups):
                for pi, p in enumerate(group["params"]):
                    self._refuse_master(
                        p, "parameter %d of group %d" % (pi, gi),
                        "a group has differentiable=True (torch's own "
                        "eager step)")
            control = self._control()
            if not control.checks and control.static is None:
                return eager.step(self, closure)
            return self._eager_step(eager, closure)
        return self._compiled_step(closure)

    def _eager_step(self, eager, closure):
        """torch's own step with clipping and loss scaling in the front end:
        the step is skipped (dynamic scaling found an inf or NaN), or runs
        on the gradients divided by the loss scale and the clip factor,
        and the gradients the user left are put back afterwards."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        params = [p for group in self.param_groups for p in group["params"]
                  if p.grad is not None]
        grads = [p.grad for p in params]
        with torch.no_grad():
            scale = self._control().front(
                [g.coalesce()._values() if g.is_sparse else g
                 for g in grads])
        if scale is None:
            return loss
        differentiable = any(group.get("differentiable", False)
                             for group in self.param_groups)
        try:
            with torch.set_grad_enabled(differentiable):
                for p, g in zip(params, grads):
                    p.grad = g / scale
            eager.step(self)
        finally:
            for p, g in zip(params, grads):
                p.grad = g
        return loss

    @torch.no_grad()
    def _compiled_step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self._follow_torch_threads()
        # A failing step leaves the loss-scale state as it was (the step's
        # checks may run after the front end's control).
        control = self._control()
        saved_control = dict(control.__dict__)
        try:
            self._compiled_step_parts()
        except BaseException:
            control.__dict__.clear()
            control.__dict__.update(saved_control)
            raise
        return loss

    def _compiled_step_parts(self):
        if not self._fast_step():
            device = self._params_device()
            if device.type == "cuda":
                self.__dict__["_plan"] = None
                for group in self.param_groups:
                    for p in group["params"]:
                        self._refuse_master(
                            p, "a parameter on %s" % device,
                            "the GPU runtime does not support mixed "
                            "precision yet")
                self._gpu_step(_gpu_runtime(device))
            else:
                self._checked_step()
                self._build_plan()

    def _follow_torch_threads(self):
        """Applies a changed torch.set_num_threads() to the compiled steps."""
        threads = torch.get_num_threads()
        if self.__dict__.get("_num_threads") == threads:
            return
        for compiled, _, _ in self._compiled_cache().values():
            compiled.set_num_threads(threads)
        self.__dict__["_num_threads"] = threads

    # ---- fast path: the plan the last checked step left, revalidated in C++
    def _fast_step(self):
        plan = self.__dict__.get("_plan")
        if plan is None:
            return False
        groups = self.param_groups
        if self.state is not plan.state or len(groups) != len(plan.groups):
            return False
        for gi, group in enumerate(groups):
            if group is not plan.groups[gi]:
                return False
            self._check_group(group)
            if self._plan_signature(group) != plan.signatures[gi] or \
                    self._signed(group):
                return False
        native = plan.native
        try:
            ok = native.check()
        except RuntimeError:
            # A gradient without storage (sparse) has no data pointer: the
            # checked path steps it (check() wrote nothing).
            ok = False
        if not ok:
            return False
        control = self._control()
        if control.structure() != plan.control:
            return False
        # Hyper-parameters per group (not per tensor), all computed and
        # checked before the first write.
        calls = [(compiled, [self._group_hyper(gi, native.bucket_step(b) + 1)
                             for gi in gis])
                 for b, (compiled, gis) in enumerate(plan.buckets)]
        in_step = control.checks
        if not in_step:
            control.unchecked()
        for compiled, hypers in calls:
            self._control_hypers(hypers, control.unscale(), in_step)
        if len(calls) > 1:
            # Every table value checked (the runtime refuses values out of
            # range) before the first call runs.
            for compiled, hypers in calls:
                _set_hypers(compiled, hypers)
            for b in range(len(calls)):
                _check_next_count(native.bucket_step(b),
                                  self._STEP_INCREMENT)
        for b, (compiled, hypers) in enumerate(calls):
            _set_hypers(compiled, hypers)
            if in_step:
                control.before_in_step(compiled)
            native.run_bucket(b)
            if in_step:
                control.after_in_step()
        plan.fast_steps += 1
        return True

    def _control_hypers(self, hypers, scale, in_step):
        """Sets the loss scale the compiled call divides the gradients by in
        the hyper-parameters of each group of a call, and the slots of the
        control when the call runs it (`in_step`)."""
        for hyper in hypers:
            hyper["loss_scale"] = scale
        if in_step and hypers:
            hypers[0].update(self._control().slots())

    def _build_plan(self):
        """Binds the buckets of the next step (the parameters that had a
        gradient now, at their next step counts) for the fast path."""
        self.__dict__["_plan"] = None
        groups = self.param_groups
        if not self._FAST_PATH:
            return
        if any(group.get("maximize", False) for group in groups):
            return  # the checked path negates gradients
        owned = self._owned()
        buckets = {}
        entries = []
        for gi, group in enumerate(groups):
            for p in group["params"]:
                if p.grad is None:
                    entries.append((gi, p, None, None, None))
                    continue
                # The plan binds parameters as C-contiguous spans and dense
                # gradients: others take the checked path (`_checked_step`).
                if p not in self.state or not p.is_contiguous() or \
                        p.grad.is_sparse:
                    return
                state = self.state[p]
                t0, tensors = self._prepare_states(p, state, group)
                if any(t is None for t in tensors.values()):
                    return
                key = (t0, self._options(group, t0), self._has_master(p))
                item = (gi, p, state, tensors)
                buckets.setdefault(key, []).append(item)
                entries.append((gi, p, key, state, tensors))
        control = self._control()
        structure = control.structure()
        if control.checks and len(buckets) > 1:
            # The global norm spans every bucket: the checked path computes
            # it in the front end (`_GradientControl.front`).
            return
        owned.blocks = [b for b in owned.blocks if sys.getrefcount(b) > 2]
        native = TorchPlan(torch, self.state, groups, list(owned.blocks))
        where = {}
        plan_buckets = []
        for (t0, options, master), items in buckets.items():
            gis, shapes = _bucket_structure(item[:2] for item in items)
            compiled, order, state_keys = self._get_compiled(
                options, shapes, structure, master)
            b = native.add_bucket(compiled, t0, self._STEP_INCREMENT,
                                  skip_on_inf=control.dynamic is not None)
            for position, k in enumerate(order):
                where[id(items[k][1])] = (b, position)
            plan_buckets.append((compiled, gis, state_keys))
        for gi, p, key, state, tensors in entries:
            if key is None:
                native.add_param(gi, p, None, -1, 0, None, [], [], None)
                continue
            b, position = where[id(p)]
            watched = self._plan_watched(state, groups[gi], tensors)
            if watched is None:
                return
            step = None
            if self._HAS_STEP:
                step = state.get("step")
                if step is None or not owned.owns(step) or \
                        step.dtype != torch.float32 or \
                        float(step) != native.bucket_step(b):
                    return
                watched.append(("step", step))
            native.add_param(gi, p, p.grad, b, position, state, watched,
                             [tensors[k] for k in plan_buckets[b][2]], step)
        self.__dict__["_plan"] = _Plan(
            native, self.state, groups,
            [self._plan_signature(g) for g in groups],
            [(compiled, gis) for compiled, gis, _ in plan_buckets],
            structure)

    def _plan_watched(self, state, group, tensors):
        """The (key, object) pairs of `state` a plan checks by identity
        before each fast step, or None when `tensors` (the step's buffers)
        are not `state`'s runtime-owned tensors."""
        owned = self._owned()
        watched = []
        for k, t in tensors.items():
            current = state.get(k)
            if current is not None and (current is not t or
                                        not owned.owns(t)):
                return None
            watched.append((k, current))
        return watched

    def _checked_gradients(self, check_param=None):
        """(group index, group, parameter, gradient) for every parameter
        with a gradient, each checked (groups, the parameter, `check_param`
        if given, the gradient's layout, device, dtype and shape; no
        parameter twice); the gradient detached, negated for `maximize`."""
        seen = set()
        for gi, group in enumerate(self.param_groups):
            self._check_group(group)
            maximize = bool(group.get("maximize", False))
            for pi, p in enumerate(group["params"]):
                if p.grad is None:
                    continue
                what = "parameter %d of group %d" % (pi, gi)
                if id(p) in seen:
                    # One compiled call cannot update a tensor twice.
                    raise ValueError("optim_mlir.torch: %s appears twice in "
                                     "the parameter groups" % what)
                seen.add(id(p))
                self._check_param(p, what)
                if check_param is not None:
                    check_param(p, what)
                grad = p.grad
                if grad.layout not in (torch.strided, torch.sparse_coo):
                    raise ValueError("optim_mlir.torch: the gradient of %s "
                                     "has layout %s; dense (strided) and "
                                     "sparse COO gradients are supported"
                                     % (what, grad.layout))
                if grad.device != p.device or grad.dtype != p.dtype or \
                        grad.shape != p.shape:
                    raise ValueError("optim_mlir.torch: the gradient of %s "
                                     "must match it (%s %s %s), got %s %s %s"
                                     % (what, p.device, p.dtype,
                                        tuple(p.shape), grad.device,
                                        grad.dtype, tuple(grad.shape)))
                grad = grad.detach()
                if maximize:
                    grad = torch.neg(grad)
                if grad.is_sparse:
                    if self._SPARSE_TOUCHED:
                        self._check_touched(group, p, what)
                        self._refuse_master(
                            p, what, "its gradient is sparse (its touched "
                            "entries are stepped in the parameter's dtype)")
                        # Coalesced: each entry once (torch's update is
                        # not linear in the gradient either).
                        yield gi, group, p, grad.coalesce()
                        continue
                    grad = self._sparse_gradient(group, p, grad, what)
                yield gi, group, p, self._signed_gradient(group, p, grad)

    # ---- checked path: every check in Python, states adopted into
    # runtime-owned buffers
    def _checked_step(self):
        # 1. Collect parameters with gradients into buckets of one compiled
        #    call each: same step count and same rule options.
        #    Each item holds the tensor the call updates: the parameter
        #    itself when it is C-contiguous, or dense with a rule that may
        #    run over its storage in memory order (`_state_layout`; its
        #    gradient and states then in its strides), else a C-contiguous
        #    copy written back after the call (gradients are only read).
        buckets = {}
        touched = []
        for gi, group, p, grad in self._checked_gradients():
            if grad.is_sparse:
                touched.append(self._touched_call(gi, group, p, grad))
                continue
            layout = self._state_layout(p)
            work = p
            if layout is None and not p.is_contiguous():
                if torch._debug_has_internal_overlap(p) == 1:
                    # torch's in-place update raises the same way.
                    raise RuntimeError(
                        "optim_mlir.torch: parameter of shape %s and strides "
                        "%s has elements that share a memory location "
                        "(e.g. an expand()); it cannot be updated in place"
                        % (tuple(p.shape), tuple(p.stride())))
                work = p.clone(memory_format=torch.contiguous_format)
            if not _in_layout(grad, layout):
                grad = grad.contiguous() if layout is None else \
                    torch.empty_like(p).copy_(grad)
            # Not self.state[p]: a failing step must not leave an empty
            # state behind (the defaultdict would create one).
            state = self.state[p] if p in self.state else {}
            t0, tensors = self._prepare_states(p, state, group)
            key = (t0, self._options(group, t0),
                   self._bucket_values(p, state, group, t0),
                   self._has_master(p))
            buckets.setdefault(key, []).append(
                (gi, p, grad, state, tensors, work))

        # 2. Clipping and loss scaling run inside the compiled call when
        #    there is one (`in_step`), else in the front end (3.).
        control = self._control()
        in_step = control.checks and len(buckets) == 1 and not touched
        structure = control.structure() if in_step else (False, False)

        # 3. Compile (or reuse) and compute every value before touching any
        #    buffer, so that an error leaves parameters and states unchanged.
        calls = []
        for (t0, options, values, master), items in buckets.items():
            gis, shapes = _bucket_structure(item[:2] for item in items)
            compiled, order, state_keys = self._get_compiled(
                options, shapes, structure, master)
            hypers = [self._group_hyper(gi, t0 + 1, values) for gi in gis]
            calls.append((compiled, t0, hypers, order, state_keys, items))
        scale = control.unscale()
        if not control.checks:
            control.unchecked()
        elif not in_step and (buckets or touched):
            # The global norm over every gradient of every call (read
            # only); the step may be skipped.
            scale = control.front(
                [item[2] for items in buckets.values() for item in items] +
                [call[2]._values() for call in touched])
            if scale is None:
                return
        for call in calls:
            self._control_hypers(call[2], scale, in_step)
        for call in touched:
            self._control_hypers([call[7]], scale, False)
        several = len(calls) + len(touched) > 1
        if several:
            # Several compiled calls: every table value checked (the
            # runtime refuses values out of range) before the first runs.
            for compiled, _, hypers, _, _, _ in calls:
                _set_hypers(compiled, hypers)
            for call in touched:
                if call[6] is not None:
                    _set_hypers(call[6], [call[7]])
        # What the step changes, put back if a call fails: the state dicts
        # (`_adopt` moves states into runtime-owned tensors), and with
        # several calls, the parameters and states (a later call may fail
        # after an earlier one wrote them; one call writes nothing when it
        # fails).
        undo = _Undo(self.state, several)
        for _, _, _, _, _, items in calls:
            for _, p, _, state, _, _ in items:
                undo.save(p, state)
        for call in touched:
            undo.save(call[1], call[3])
        try:
            self._run_calls(calls, touched, control, in_step)
        except BaseException:
            undo.restore()
            raise

    def _run_calls(self, calls, touched, control, in_step):
        """Steps 4 and 5 of `_checked_step`."""

        # 4. States into runtime-owned buffers: new ones (zeros) and any a
        #    user or load_state_dict put there (copied; the old tensors are
        #    left as they are, as torch leaves replaced states).
        self._adopt(calls)

        # 5. Run. A call that runs the control and skips its step (dynamic
        #    scaling found an inf or NaN) wrote nothing: nothing is
        #    committed.
        for compiled, t0, hypers, order, state_keys, items in calls:
            params, grads, states = [], [], []
            for k in order:
                _, _, grad, _, tensors, work = items[k]
                params.append(_view(work))
                grads.append(_view(grad))
                for sk in state_keys:
                    states.append(_view(tensors[sk]))
            _set_hypers(compiled, hypers)
            compiled.global_step = t0
            if in_step:
                control.before_in_step(compiled)
            self._run_signed([(item[0], item[5]) for item in items],
                             lambda: compiled.step(params, grads, states))
            if in_step:
                control.after_in_step()
                if control.dynamic is not None:
                    control.sync()
                    if control.found_inf:
                        return
            for gi, p, _, state, tensors, work in items:
                if work is not p:
                    p.copy_(work)
                self._commit(p, state, self.param_groups[gi], tensors, t0)
                if MASTER_KEY in tensors:
                    state[MASTER_KEY] = tensors[MASTER_KEY]
                self.state[p] = state
        for call in touched:
            self._touched_step(*call)

    # The smallest gathered buffer (elements) of `_touched_step`: the
    # buffers are sized in powers of two from it, so that a count of
    # touched entries compiles nothing new once a larger one has run.
    _GATHER_MIN = 64

    def _touched_call(self, gi, group, p, grad):
        """Everything `_touched_step` needs for parameter `p` and its
        coalesced sparse gradient `grad`, computed and compiled before any
        write: (group index, parameter, gradient, state, t0, state tensors,
        the compiled step or None, its hyper-parameters, its state keys,
        the element count)."""
        state = self.state[p] if p in self.state else {}
        t0, tensors = self._prepare(p, state, group)
        options = self._options(group, t0)
        values = self._bucket_values(p, state, group, t0)
        hyper = self._group_hyper(gi, t0 + 1, values)
        n = _real(grad._values()).numel()
        compiled, state_keys = None, ()
        if n:
            capacity = max(self._GATHER_MIN, 1 << (n - 1).bit_length())
            dtype = _real(p).dtype
            compiled, _, state_keys = self._get_compiled(
                options, ((((capacity,), _DTYPES[dtype]),),))
        return (gi, p, grad, state, t0, tensors, compiled, hyper,
                state_keys, n)

    def _touched_step(self, gi, p, grad, state, t0, tensors, compiled,
                      hyper, state_keys, n):
        """One step of `p` with the sparse gradient `grad` on the entries
        it holds only, as torch's sparse Adagrad and SparseAdam step: those
        entries of the parameter and of its states are gathered into flat
        buffers of the compiled step's size (the rest zero), stepped by
        the rule, and scattered back; every other entry keeps its value,
        bit for bit. A state to create starts at zero."""
        group = self.param_groups[gi]
        for key, tensor in tensors.items():
            if tensor is None:
                tensors[key] = torch.zeros_like(
                    p, memory_format=torch.preserve_format)
        if compiled is not None:
            index = tuple(grad._indices())
            targets = [_real(p.detach())] + [_real(tensors[k])
                                             for k in state_keys]
            gathered = [t[index] for t in targets]
            shape = gathered[0].shape
            dtype = gathered[0].dtype
            size = max(self._GATHER_MIN, 1 << (n - 1).bit_length())
            buffers = []
            for values in [gathered[0], _real(grad._values())] + \
                    gathered[1:]:
                buf = torch.zeros(size, dtype=dtype)
                buf[:n] = values.reshape(-1)
                buffers.append(buf)
            for name, value in hyper.items():
                compiled.set_hyper_param(0, name, value)
            compiled.global_step = t0
            views = [_view(b) for b in buffers]
            self._run_signed(
                [(gi, buffers[0])],
                lambda: compiled.step(views[:1], views[1:2], views[2:]))
            for target, buf in zip(targets, buffers[:1] + buffers[2:]):
                target[index] = buf[:n].view(shape)
        self._commit(p, state, group, tensors, t0)
        self.state[p] = state

    def _adopt(self, calls):
        owned = self._owned()
        wanted, targets, steps = [], [], []
        for _, t0, _, _, _, items in calls:
            for _, p, _, state, tensors, _ in items:
                layout = self._state_layout(p)
                for key, tensor in tensors.items():
                    if tensor is None or not owned.owns(tensor):
                        shape = self._state_shape(p, key)
                        # In the parameter's strides (`_state_layout`), as
                        # torch.zeros_like(p) would be.
                        strides = None if layout is None or \
                            shape != tuple(p.shape) else p.stride()
                        wanted.append((shape, self._state_dtype(p), strides))
                        # A new master starts as the parameter's value.
                        targets.append((tensors, key, p if tensor is None
                                        and key == MASTER_KEY else tensor))
                if self._HAS_STEP:
                    step = state.get("step")
                    if step is None or not owned.owns(step):
                        steps.append((state, t0))
        for (tensors, key, old), new in zip(targets, owned.allocate(wanted)):
            if old is not None:
                new.copy_(old)
            tensors[key] = new
        for (state, _), new in zip(steps, owned.allocate_steps(
                [t0 for _, t0 in steps])):
            state["step"] = new

    # ---- CUDA: the same buckets as the checked path, run as kernels on
    # the parameters' device
    def _gpu_step(self, runtime):
        """One step of CUDA parameters on `runtime`'s device. Everything is
        checked, compiled and loaded before the first launch."""
        # 1. Buckets, as in _checked_step. Zero-element parameters take no
        #    kernel (torch still counts their steps).
        buckets = {}
        empty = []
        for gi, group, p, grad in self._checked_gradients(_check_aligned):
            # Read only: a copy where the kernels cannot read it in place
            # (freed after the launch; torch's allocator orders its reuse
            # on this stream after the kernels).
            grad = _device_copy(grad)
            state = self.state[p] if p in self.state else {}
            t0, tensors = self._prepare(p, state, group)
            item = (gi, p, grad, state, tensors)
            if p.numel() == 0:
                empty.append((t0, item))
                continue
            key = (t0, self._options(group, t0),
                   self._bucket_values(p, state, group, t0))
            buckets.setdefault(key, []).append(item)

        # 2. Compile and load (or reuse), compute every value.
        calls = []
        for (t0, options, values), items in buckets.items():
            gis, structure = _bucket_structure(item[:2] for item in items)
            entry = self._get_gpu_compiled(runtime, options, structure)
            hypers = [self._group_hyper(gi, t0 + 1, values) for gi in gis]
            calls.append((entry, t0, hypers, items))
        # Clipping and loss scaling in the front end (torch ops on the
        # device, one read back of the norm): the step may be skipped.
        control = self._control()
        scale = control.unscale()
        if not control.checks:
            control.unchecked()
        elif calls or empty:
            scale = control.front([item[2] for _, _, _, items in calls
                                   for item in items])
            if scale is None:
                return
        for _, _, hypers, _ in calls:
            self._control_hypers(hypers, scale, False)

        # 3. New states: zeros on the parameter's device (torch's allocator,
        #    filled on the current stream, so before the kernels).
        new = [(p, tensors) for _, _, _, items in calls
               for _, p, _, _, tensors in items]
        new += [(p, tensors) for _, (_, p, _, _, tensors) in empty]
        for p, tensors in new:
            for key, tensor in tensors.items():
                if tensor is None:
                    tensors[key] = torch.zeros(self._state_shape(p, key),
                                               dtype=p.dtype, device=p.device)

        # 4. Enqueue on torch's current stream.
        stream = runtime.stream()
        handle = runtime.handle(stream)
        for entry, t0, hypers, items in calls:
            params, grads, states = [], [], []
            for k in entry.order:
                _, p, grad, _, tensors = items[k]
                params.append(p.data_ptr())
                grads.append(grad.data_ptr())
                for sk in entry.state_keys:
                    states.append(tensors[sk].data_ptr())
            entry.push(hypers)
            if not self._device_step_matches(entry.device_step, t0):
                entry.gpu.set_global_step(t0)
                entry.device_step = t0
            # The copies above were enqueued on the stream of the entry's
            # latest step.
            runtime.follow(stream, entry.stream)
            self._run_signed(
                [item[:2] for item in items],
                lambda: entry.gpu.step(params, grads, states, handle))
            entry.stream = stream
            entry.device_step += 1
            for gi, p, _, state, tensors in items:
                self._commit(p, state, self.param_groups[gi], tensors, t0)
                self.state[p] = state
        for t0, (gi, p, _, state, tensors) in empty:
            self._commit(p, state, self.param_groups[gi], tensors, t0)
            self.state[p] = state

    def _new_buffer(self, p):
        """A zero-filled buffer like `p`: runtime-owned memory on the CPU
        (in `p`'s strides where its states take them, `_state_layout`), a
        torch allocation on a CUDA device."""
        if p.device.type == "cpu":
            strides = None if self._state_layout(p) is None else p.stride()
            (buf,) = self._owned().allocate([(tuple(p.shape),
                                              self._state_dtype(p),
                                              strides)])
            return buf
        return torch.zeros_like(p, memory_format=torch.contiguous_format)

    def state_dict(self):
        """torch's ``state_dict``, and with clipping or loss scaling an entry
        ``"gradient_control"``: ``max_grad_norm``, ``loss_scale`` (the static
        scale or None), ``dynamic`` (the DynamicLossScale's settings as a
        dict, or None), ``scale`` and ``good_steps`` (the dynamic scale and
        its count of clean steps, None without dynamic scaling)."""
        state_dict = super().state_dict()
        control = self._control()
        if control.configured:
            state_dict[_CONTROL_KEY] = control.entry()
        return state_dict

    def load_state_dict(self, state_dict):
        """torch's ``load_state_dict``; the loaded states are copied into
        runtime-owned buffers at the next step (the fast path rebinds).
        The ``"gradient_control"`` entry restores the settings' values and
        the dynamic scale; its kinds (clipping or not; no, static or dynamic
        loss scaling) must be this optimizer's, and a state_dict without
        the entry loads only into an optimizer without clipping and loss
        scaling: ValueError otherwise, before anything changes."""
        entry = state_dict.get(_CONTROL_KEY) \
            if isinstance(state_dict, dict) else None
        loaded = None if entry is None else \
            _GradientControl.from_entry(entry)
        saved_states = state_dict.get("state") \
            if isinstance(state_dict, dict) else None
        if isinstance(saved_states, dict):
            # Every step count checked before anything is loaded.
            for key, saved_state in saved_states.items():
                if isinstance(saved_state, dict) and "step" in saved_state:
                    _step_count(saved_state, "the state_dict's state of "
                                "parameter %r: " % (key,))
        self._control().check_loaded(loaded, type(self).__name__)
        saved = None
        if self.master_weights:
            # torch casts floating-point states to their parameter's dtype:
            # the float32 states and master of a 16-bit parameter are put
            # back as saved (bit for bit).
            saved = [(p, state_dict["state"].get(i))
                     for g, group in zip(state_dict["param_groups"],
                                         self.param_groups)
                     for i, p in zip(g["params"], group["params"])
                     if self._has_master(p)]
        super().load_state_dict(state_dict)
        for p, entry in saved or ():
            if entry is None or p not in self.state:
                continue
            for key, value in entry.items():
                if key != "step" and torch.is_tensor(value) and \
                        value.is_floating_point():
                    self.state[p][key] = value.detach().to(
                        device=p.device, dtype=torch.float32, copy=True)
        if loaded is not None:
            self.__dict__["_gradient_control"] = loaded
        self.__dict__["_plan"] = None

    def __getstate__(self):
        state = super().__getstate__()
        control = self._control()
        if control.configured:
            state[_CONTROL_KEY] = control.entry()
        return state

    # Group keys an older state_dict may lack, filled with these values as
    # torch's __setstate__ fills them.
    _GROUP_DEFAULTS = {}

    def __setstate__(self, state):
        if _CONTROL_KEY in state:
            state = dict(state)
            self.__dict__["_gradient_control"] = \
                _GradientControl.from_entry(state.pop(_CONTROL_KEY))
        super().__setstate__(state)
        for group in self.param_groups:
            for key, value in self._GROUP_DEFAULTS.items():
                group.setdefault(key, value)
        for s in self.state.values():
            # torch 1.13 keeps float tensors (but RMSprop's and Rprop's
            # ints, `_HAS_STEP` off).
            if self._HAS_STEP and "step" in s and \
                    not torch.is_tensor(s["step"]):
                s["step"] = torch.tensor(float(s["step"]))
        self.__dict__["_plan"] = None


def _set_hypers(compiled, hypers):
    """Writes the hyper-parameters of each group of a compiled call (the
    runtime checks each value)."""
    for j, hyper in enumerate(hypers):
        for name, value in hyper.items():
            compiled.set_hyper_param(j, name, value)


def _check_next_count(t0, increment):
    """ValueError when a step at count `t0` would take it past the int64
    step counter."""
    if t0 > _STEP_MAX - max(1, increment):
        raise ValueError("optim_mlir.torch: step count %d: one more step "
                         "would overflow the int64 step counter" % t0)


class _Undo:
    """What a step changes (state dicts, entries of the optimizer's
    `state`, and with `values` the parameters and state tensors), saved
    before it writes anything, to put back when it fails."""

    def __init__(self, optimizer_state, values):
        self.optimizer_state = optimizer_state
        self.values = values
        self.tensors = {}
        self.dicts = []
        self.new = []

    def save(self, p, state):
        if p not in self.optimizer_state:
            self.new.append(p)
        self.dicts.append((state, dict(state)))
        if not self.values:
            return
        for t in [p] + list(state.values()):
            if torch.is_tensor(t) and id(t) not in self.tensors:
                self.tensors[id(t)] = (t, t.detach().clone())

    @torch.no_grad()
    def restore(self):
        for t, saved in self.tensors.values():
            t.copy_(saved)
        for state, saved in self.dicts:
            state.clear()
            state.update(saved)
        for p in self.new:
            self.optimizer_state.pop(p, None)


class _Plan:
    """A TorchPlan and what the Python side checks before using it."""

    def __init__(self, native, state, groups, signatures, buckets, control):
        self.native, self.state = native, state
        self.groups = list(groups)
        self.signatures = signatures
        self.buckets = buckets  # (CompiledOptimizer, group indices)
        # The structure of the gradient control it was built for.
        self.control = control
        self.fast_steps = 0


def _commit_step_and_states(state, tensors, t0):
    """Records a step at 0-based count `t0` in `state`: `step` incremented
    in place (torch 1.13 keeps it as a float scalar tensor; a new one when
    there is none) and the state tensors the step wrote."""
    step = state.get("step")
    if isinstance(step, torch.Tensor) and step.numel() == 1 and \
            step.is_floating_point():
        step += 1  # in place, as torch does
    else:
        state["step"] = torch.tensor(float(t0 + 1))
    for key, tensor in tensors.items():
        if state.get(key) is not tensor:
            state[key] = tensor


# The largest step count: the compiled step's counter is an int64, and a
# step runs at the count plus one.
_STEP_MAX = 2 ** 63 - 1


def _step_count(state, where=""):
    """`state`'s step count as an int (0 without one): ValueError when it
    is not a finite, non-negative number below 2**63 - 1 (one more step
    would overflow the int64 counter)."""
    step = state.get("step", 0)
    if isinstance(step, torch.Tensor):
        if step.numel() != 1 or step.is_complex():
            raise ValueError("optim_mlir.torch: %sthe step count must be a "
                             "real scalar, got a tensor of shape %s and "
                             "dtype %s" % (where, tuple(step.shape),
                                           step.dtype))
        step = step.item()
    if isinstance(step, bool) or not isinstance(step, (int, float)):
        raise ValueError("optim_mlir.torch: %sthe step count must be a "
                         "number, got %r" % (where, step))
    if isinstance(step, float) and not math.isfinite(step):
        raise ValueError("optim_mlir.torch: %sthe step count must be "
                         "finite, got %r" % (where, step))
    step = int(step)
    if step < 0:
        raise ValueError("optim_mlir.torch: %snegative step count %d"
                         % (where, step))
    if step >= _STEP_MAX:
        raise ValueError("optim_mlir.torch: %sstep count %d: one more step "
                         "would overflow the int64 step counter (at most "
                         "%d)" % (where, step, _STEP_MAX - 1))
    return step


class _AdamFamily(_CompiledTorchOptimizer):
    """Adam, AdamW and Lamb: states step, exp_avg, exp_avg_sq
    (+ max_exp_avg_sq with amsgrad)."""

    _STATE_KEYS = {"moment1": "exp_avg", "moment2": "exp_avg_sq",
                   "vhat": "max_exp_avg_sq"}

    def _keys(self, group):
        if group.get("amsgrad", False):
            return ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
        return ("exp_avg", "exp_avg_sq")

    def _prepare(self, p, state, group):
        return _step_count(state), self._state_tensors(p, state,
                                                       self._keys(group))

    def _commit(self, p, state, group, tensors, t0):
        _commit_step_and_states(state, tensors, t0)


def _check_adam_args(lr, betas, eps, weight_decay):
    """torch's constructor checks of Adam/AdamW, in torch's order and with
    its messages."""
    if not 0.0 <= lr:
        raise ValueError("Invalid learning rate: {}".format(lr))
    if not 0.0 <= eps:
        raise ValueError("Invalid epsilon value: {}".format(eps))
    if not 0.0 <= betas[0] < 1.0:
        raise ValueError("Invalid beta parameter at index 0: {}".format(betas[0]))
    if not 0.0 <= betas[1] < 1.0:
        raise ValueError("Invalid beta parameter at index 1: {}".format(betas[1]))
    if not 0.0 <= weight_decay:
        raise ValueError("Invalid weight_decay value: {}".format(weight_decay))


# torch's `foreach` and `fused` choose among torch's kernels: every compiled
# step is one fused multi-tensor call, so any value is taken (and kept in
# the group, as torch keeps it).
_NO_CAPTURABLE = ("capturable", (False,), NotImplementedError,
                  ": the compiled step runs on the CPU (no CUDA graphs)")


class SGD(_CompiledTorchOptimizer):
    """``torch.optim.SGD`` (torch 1.13) with a compiled step (rule ``sgd``).

    ``state[p]['momentum_buffer']`` is torch's buffer: ``None`` until a
    step with ``momentum != 0``, then kept (unchanged) through steps with
    ``momentum == 0`` and resumed from after them, as in torch. Sparse
    gradients step as in torch (`_sparse_gradient`; the buffer is dense);
    ``differentiable=True`` runs torch's own step.
    """

    _RULE = "sgd"
    _STATE_KEYS = {"accum": "momentum_buffer"}
    _PLACEHOLDERS = {"momentum": 0.9, "dampening": 0.0}
    _TORCH_DECAY = "l2"
    _TORCH_EAGER = torch.optim.SGD

    def __init__(self, params, lr=required, momentum=0, dampening=0,
                 weight_decay=0, nesterov=False, *, maximize=False,
                 foreach=None, differentiable=False):
        if lr is not required and lr < 0.0:
            raise ValueError("Invalid learning rate: {}".format(lr))
        if momentum < 0.0:
            raise ValueError("Invalid momentum value: {}".format(momentum))
        if weight_decay < 0.0:
            raise ValueError("Invalid weight_decay value: {}".format(weight_decay))
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov,
                        maximize=maximize, foreach=foreach,
                        differentiable=differentiable)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, defaults)

    _GROUP_DEFAULTS = dict(nesterov=False, maximize=False, foreach=None,
                           differentiable=False)

    def _sparse_gradient(self, group, p, grad, what):
        """torch 1.13's SGD on a sparse gradient: ``p -= lr * grad`` and
        momentum (torch's buffer holds the sparse sum, which equals the
        dense one: the gradient is coalesced and densified here, the buffer
        kept dense) step; weight decay raises RuntimeError (``grad.add(p)``
        of a sparse gradient). With ``foreach=True`` torch's multi-tensor
        step has no sparse kernels: NotImplementedError with maximize,
        weight decay, nesterov, or momentum once every parameter of the
        group stepping now has a buffer (``_foreach_mul_`` /
        ``_foreach_add_`` of the buffers)."""
        momentum = group["momentum"]
        if group.get("foreach"):
            lacking = None
            if group["maximize"]:
                lacking = "maximize=True (_foreach_neg)"
            elif float(group["weight_decay"]) != 0.0:
                lacking = "weight_decay (_foreach_add)"
            elif momentum != 0 and group["nesterov"]:
                lacking = "nesterov=True (_foreach_add_)"
            elif momentum != 0 and all(
                    self.state.get(q, {}).get("momentum_buffer") is not None
                    for q in group["params"] if q.grad is not None):
                lacking = "momentum buffers (_foreach_mul_, _foreach_add_)"
            if lacking is not None:
                raise NotImplementedError(
                    "optim_mlir.torch.SGD: the gradient of %s is sparse and "
                    "foreach=True with %s: torch.optim.SGD's foreach step "
                    "has no sparse kernel there and raises; use foreach="
                    "None or False" % (what, lacking))
        if float(group["weight_decay"]) != 0.0:
            raise RuntimeError(
                "optim_mlir.torch.SGD: the gradient of %s is sparse and "
                "weight_decay=%r: add(sparse, dense) is not supported. Use "
                "add(dense, sparse) instead. (torch.optim.SGD raises this "
                "too)" % (what, group["weight_decay"]))
        return grad.coalesce().to_dense()

    _STEP_INCREMENT = 0
    _HAS_STEP = False

    def _options(self, group, t0):
        nesterov = bool(group["nesterov"]) and group["momentum"] != 0
        return (("nesterov", nesterov),)

    def _plan_signature(self, group):
        return super()._plan_signature(group) + (group["momentum"] == 0,)

    def _prepare(self, p, state, group):
        if group["momentum"] == 0:
            # torch: p -= lr * d_p, buffer stays None. The compiled rule at
            # t == 1 does exactly that on a scratch accumulator.
            scratch = self.__dict__.setdefault("_scratch", {})
            buf = scratch.get(id(p))
            if buf is None or buf.shape != p.shape or \
                    buf.dtype != self._state_dtype(p) or \
                    buf.device != p.device or \
                    not _in_layout(buf, self._state_layout(p)):
                buf = self._new_buffer(p)
                scratch[id(p)] = buf
            return 0, {"momentum_buffer": buf}
        buf = state.get("momentum_buffer")
        if buf is None:
            # First update: the compiled t == 1 sets accum = d_p (torch's
            # clone of d_p) in a new buffer (allocated by _adopt).
            return 0, {"momentum_buffer": None}
        return 1, {"momentum_buffer": self._state_tensor(
            p, buf, "momentum_buffer")}

    def _device_step_matches(self, device_step, t0):
        # The rule tells only its first update (t == 1, accum = grad) from
        # the others: every later count runs the same update.
        return device_step == t0 or (t0 >= 1 and device_step >= 1)

    def _commit(self, p, state, group, tensors, t0):
        if group["momentum"] == 0:
            # torch leaves the buffer as it is (None when there is none).
            state.setdefault("momentum_buffer", None)
        else:
            state["momentum_buffer"] = tensors["momentum_buffer"]

    def _plan_watched(self, state, group, tensors):
        if group["momentum"] == 0:
            # The step runs on the scratch buffer; the state's buffer (None
            # or the one kept from earlier momentum) must stay the same.
            return [("momentum_buffer", state.get("momentum_buffer"))]
        return super()._plan_watched(state, group, tensors)

    def _hyper(self, group, t):
        return {"learning_rate": _finite("lr", group["lr"]),
                "weight_decay": _finite("weight_decay", group["weight_decay"]),
                "momentum": _finite("momentum", group["momentum"]),
                "dampening": _finite("dampening", group["dampening"]),
                "loss_scale": 1.0}


class Adam(_AdamFamily):
    """``torch.optim.Adam`` (torch 1.13) with a compiled step (rule ``adam``;
    ``amsgrad`` -> ``use_amsgrad``); L2 weight decay on the gradient.
    ``differentiable=True`` runs torch's own step."""

    _RULE = "adam"
    _UNSUPPORTED = (_NO_CAPTURABLE,)
    _TORCH_DECAY = "l2"
    _TORCH_EAGER = torch.optim.Adam

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                 weight_decay=0, amsgrad=False, *, foreach=None,
                 maximize=False, capturable=False, differentiable=False,
                 fused=False):
        _check_adam_args(lr, betas, eps, weight_decay)
        defaults = dict(lr=lr, betas=betas, eps=eps,
                        weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize, foreach=foreach,
                        capturable=capturable, differentiable=differentiable,
                        fused=fused)
        super().__init__(params, defaults)
        if fused and differentiable:
            raise RuntimeError("`fused` cannot be `differentiable`")

    _GROUP_DEFAULTS = dict(amsgrad=False, maximize=False, foreach=None,
                           capturable=False, differentiable=False,
                           fused=False)

    def _options(self, group, t0):
        return (("use_amsgrad", bool(group["amsgrad"])),)

    def _hyper(self, group, t):
        beta1, beta2 = (_finite("beta", b) for b in group["betas"])
        eps = _finite("eps", group["eps"])
        bc2 = 1.0 - beta2 ** t
        return {"learning_rate": _finite("lr", group["lr"]),
                "weight_decay": _finite("weight_decay", group["weight_decay"]),
                "beta1": beta1, "beta2": beta2,
                # torch: sqrt(v) / sqrt(bc2) + eps; compiled: sqrt(v) + eps'.
                "eps": eps * math.sqrt(bc2),
                "loss_scale": 1.0}


class AdamW(_AdamFamily):
    """``torch.optim.AdamW`` (torch 1.13) with a compiled step (rule
    ``adam_weight_decay`` with rescaled lr, eps and weight decay;
    ``amsgrad`` -> ``use_amsgrad``)."""

    _RULE = "adam_weight_decay"
    _UNSUPPORTED = (_NO_CAPTURABLE,)
    _TORCH_DECAY = "decoupled"

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                 weight_decay=1e-2, amsgrad=False, *, maximize=False,
                 foreach=None, capturable=False):
        _check_adam_args(lr, betas, eps, weight_decay)
        defaults = dict(lr=lr, betas=betas, eps=eps,
                        weight_decay=weight_decay, amsgrad=amsgrad,
                        foreach=foreach, maximize=maximize,
                        capturable=capturable)
        super().__init__(params, defaults)

    def _options(self, group, t0):
        return (("use_amsgrad", bool(group["amsgrad"])),)

    _GROUP_DEFAULTS = dict(amsgrad=False, maximize=False, foreach=None,
                           capturable=False)

    def _hyper(self, group, t):
        beta1, beta2 = (_finite("beta", b) for b in group["betas"])
        eps = _finite("eps", group["eps"])
        lr = _finite("lr", group["lr"])
        wd = _finite("weight_decay", group["weight_decay"])
        bc1 = 1.0 - beta1 ** t
        sqrt_bc2 = math.sqrt(1.0 - beta2 ** t)
        return {"learning_rate": lr * sqrt_bc2 / bc1,
                "weight_decay": wd * bc1 / sqrt_bc2,
                "beta1": beta1, "beta2": beta2,
                "eps": eps * sqrt_bc2,
                "loss_scale": 1.0}


class SparseAdam(_CompiledTorchOptimizer):
    """``torch.optim.SparseAdam`` (torch 1.13): Adam on the entries of
    sparse gradients only (rule ``adam`` on those entries, gathered;
    `_touched_step`).

    ``SparseAdam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
    maximize=False)``. At each step with a gradient the entries the
    (coalesced) sparse gradient holds get ``m = beta1 * m + (1 - beta1) *
    g``, ``v = beta2 * v + (1 - beta2) * g^2`` and ``p -= lr * sqrt(1 -
    beta2^t) / (1 - beta1^t) * m / (sqrt(v) + eps)`` (torch's update:
    ``eps`` added to the uncorrected ``sqrt(v)``, as rule ``adam`` does),
    where ``t`` is the parameter's ``state['step']`` (a Python int, as
    torch's); every other entry of ``p``, ``exp_avg`` and ``exp_avg_sq``
    keeps its value. A dense gradient raises torch's RuntimeError, a
    sparse parameter torch's ValueError. States: ``step``, ``exp_avg``,
    ``exp_avg_sq`` (the parameter's shape, torch's keys).
    """

    _RULE = "adam"
    _MASTER_WEIGHTS = False
    _NO_MASTER_REASON = "its sparse gradients step the touched entries " \
        "in the parameter's dtype"
    _STATE_KEYS = {"moment1": "exp_avg", "moment2": "exp_avg_sq"}
    _SPARSE_TOUCHED = True
    # torch's step is a Python int; every step gathers (no plan).
    _HAS_STEP = False
    _FAST_PATH = False
    # torch's SparseAdam fills no group keys in __setstate__ (its step
    # reads `maximize` with a default).
    _GROUP_DEFAULTS = {}

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                 maximize=False):
        # torch's checks, in its order and with its messages.
        if not 0.0 < lr:
            raise ValueError("Invalid learning rate: {}".format(lr))
        if not 0.0 < eps:
            raise ValueError("Invalid epsilon value: {}".format(eps))
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError("Invalid beta parameter at index 0: {}"
                             .format(betas[0]))
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError("Invalid beta parameter at index 1: {}"
                             .format(betas[1]))
        params = list(params)
        sparse = []
        for index, param in enumerate(params):
            if isinstance(param, dict):
                sparse += [[index, j] for j, q in
                           enumerate(param.get("params", [])) if q.is_sparse]
            elif param.is_sparse:
                sparse.append(index)
        if sparse:
            raise ValueError("Sparse params at indices %s: SparseAdam "
                             "requires dense parameter tensors" % sparse)
        defaults = dict(lr=lr, betas=betas, eps=eps, maximize=maximize)
        super().__init__(params, defaults)

    def step(self, closure=None):
        """One step (see the class documentation)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None and not p.grad.is_sparse:
                    raise RuntimeError("SparseAdam does not support dense "
                                       "gradients, please consider Adam "
                                       "instead")
        with self._step_lock():
            self._compiled_step()
        return loss

    def _prepare(self, p, state, group):
        return _step_count(state), self._state_tensors(
            p, state, ("exp_avg", "exp_avg_sq"))

    def _commit(self, p, state, group, tensors, t0):
        state["step"] = t0 + 1
        for key in ("exp_avg", "exp_avg_sq"):
            if state.get(key) is not tensors[key]:
                state[key] = tensors[key]

    def _options(self, group, t0):
        return (("use_amsgrad", False),)

    def _hyper(self, group, t):
        beta1, beta2 = (_finite("beta", b) for b in group["betas"])
        return {"learning_rate": _finite("lr", group["lr"]),
                "weight_decay": 0.0, "beta1": beta1, "beta2": beta2,
                "eps": _finite("eps", group["eps"]), "loss_scale": 1.0}


class Lamb(_AdamFamily):
    """MindSpore's ``nn.Lamb`` as a torch optimizer (rule ``lamb``).

    ``Lamb(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-6, weight_decay=0)``:
    with ``m_hat = m / (1 - beta1^t)``, ``v_hat = v / (1 - beta2^t)``,
    ``u = m_hat / (sqrt(v_hat) + eps) + weight_decay * p`` and the trust
    ratio ``r = |p| / |m_hat / sqrt(v_hat + eps) + weight_decay * p|`` (1 when
    ``|p|`` or ``|grad|`` is 0), clipped to ``[0, 10]``:
    ``p -= lr * r * u`` (MindSpore's kernel; the compiled ``optim.lamb_update``
    defines it). Every parameter of a group decays (no name filter).
    States: ``step``, ``exp_avg``, ``exp_avg_sq``.
    """

    _RULE = "lamb"
    _UNSUPPORTED = ()

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-6,
                 weight_decay=0):
        _check_adam_args(lr, betas, eps, weight_decay)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
        super().__init__(params, defaults)

    def _keys(self, group):
        return ("exp_avg", "exp_avg_sq")

    def _hyper(self, group, t):
        beta1, beta2 = (_finite("beta", b) for b in group["betas"])
        return {"learning_rate": _finite("lr", group["lr"]),
                "weight_decay": _finite("weight_decay", group["weight_decay"]),
                "beta1": beta1, "beta2": beta2,
                "eps": _finite("eps", group["eps"]),
                "loss_scale": 1.0}


# Rule adafactor's hyper-parameters (names, ranges), from the rule table.
_ADAFACTOR_HYPERS = rule_specs()["adafactor"]["hyper_params"]


def _check_adafactor_args(lr, relative_step, warmup_init):
    """The constructor checks of the widely used PyTorch Adafactor."""
    if lr is not None and relative_step:
        raise ValueError("Cannot combine manual `lr` and `relative_step=True` "
                         "options")
    if warmup_init and not relative_step:
        raise ValueError("`warmup_init=True` requires `relative_step=True`")
    if lr is None and not relative_step:
        raise ValueError("`relative_step=False` requires a manual `lr`")


def _adafactor_hyper(group):
    """Rule adafactor's hyper-parameters for a group (Adafactor's values),
    checked: torch's non-negative lr and weight decay, then the rule's
    ranges. With `relative_step` the group's lr is not used (it may be
    None, or what a scheduler wrote)."""
    lr = group["lr"]
    if group["relative_step"]:
        lr = 0.0
    elif lr is None:
        raise ValueError("`relative_step=False` requires a manual `lr`")
    eps = tuple(group["eps"])
    if len(eps) != 2:
        raise ValueError("Invalid eps: expected (eps1, eps2), got {}"
                         .format(eps))
    beta1 = group["beta1"]
    hyper = {"learning_rate": _finite("lr", lr),
             "weight_decay": _finite("weight_decay", group["weight_decay"]),
             "eps1": _finite("eps", eps[0]), "eps2": _finite("eps", eps[1]),
             "clip_threshold": _finite("clip_threshold",
                                       group["clip_threshold"]),
             # The rule's decay_rate is the exponent's negation.
             "decay_rate": -_finite("decay_rate", group["decay_rate"]),
             "beta1": 0.0 if beta1 is None else _finite("beta1", beta1)}
    if hyper["learning_rate"] < 0.0:
        raise ValueError("Invalid learning rate: {}".format(lr))
    if hyper["weight_decay"] < 0.0:
        raise ValueError("Invalid weight_decay value: {}"
                         .format(group["weight_decay"]))
    for h in _ADAFACTOR_HYPERS:
        name = h["name"]
        if _in_record_range(hyper[name], h):
            continue
        if name == "decay_rate":
            raise ValueError("Invalid decay_rate value: {} (must be in "
                             "(-1, 0))".format(group["decay_rate"]))
        raise ValueError("Invalid {} value: {} (rule adafactor needs {})"
                         .format(name, hyper[name], h["range_text"]))
    hyper["loss_scale"] = 1.0
    return hyper


class Adafactor(_CompiledTorchOptimizer):
    """Adafactor with the signature of the widely used PyTorch class
    (``transformers.optimization.Adafactor``) and a compiled step (rule
    ``adafactor``, docs/Adafactor.md).

    ``Adafactor(params, lr=None, eps=(1e-30, 1e-3), clip_threshold=1.0,
    decay_rate=-0.8, beta1=None, weight_decay=0.0, scale_parameter=True,
    relative_step=True, warmup_init=False)``: ``lr`` and ``relative_step``
    exclude each other, ``warmup_init`` needs ``relative_step``
    (ValueError); ``decay_rate`` is the exponent of ``beta2t = 1 -
    t ** decay_rate`` (in ``(-1, 0)``; the rule's ``decay_rate`` is its
    negation); ``beta1=None`` runs without the first moment.  Each group
    may set every one of these (with ``relative_step`` its ``lr`` is not
    used, so schedulers may write one).  ``state[p]`` holds ``step`` and
    ``exp_avg`` (with ``beta1``; the parameter's shape), ``exp_avg_sq_row``
    (``shape[:-1]``) and ``exp_avg_sq_col`` (``shape[:-2] +
    shape[-1:]``).

    Where it differs from transformers' class: the update is MindSpore's
    kernel's, which clamps at ``1e-30`` the new column state, the mean of
    the row state and the factored denominator (transformers has no clamps:
    a zero gradient with ``eps1 = 0`` gives NaN there, a finite step here);
    a vector or scalar keeps its second moment in ``exp_avg_sq_col`` (the
    parameter's shape) with a one-element ``exp_avg_sq_row`` holding its
    mean, instead of transformers' ``exp_avg_sq``; there is no ``RMS``
    entry; ``step`` is a float tensor; ``relative_step=False`` without
    ``lr`` raises ValueError here (a TypeError at the first step there);
    float16 and bfloat16 parameters keep their states in their own dtype
    (transformers' class keeps float32 states for them); complex
    parameters raise TypeError.
    """

    _RULE = "adafactor"
    _MASTER_WEIGHTS = False
    _NO_MASTER_REASON = "its factored statistics take whole tensors, " \
        "which the compiled step keeps in the parameter's dtype"
    _STATE_KEYS = {"exp_avg": "exp_avg", "exp_avg_sq_row": "exp_avg_sq_row",
                   "exp_avg_sq_col": "exp_avg_sq_col"}
    _PLACEHOLDERS = {"eps1": 1e-30, "eps2": 1e-3, "clip_threshold": 1.0,
                     "decay_rate": 0.8, "beta1": 0.9}

    def __init__(self, params, lr=None, eps=(1e-30, 1e-3), clip_threshold=1.0,
                 decay_rate=-0.8, beta1=None, weight_decay=0.0,
                 scale_parameter=True, relative_step=True, warmup_init=False):
        _check_adafactor_args(lr, relative_step, warmup_init)
        defaults = dict(lr=lr, eps=eps, clip_threshold=clip_threshold,
                        decay_rate=decay_rate, beta1=beta1,
                        weight_decay=weight_decay,
                        scale_parameter=scale_parameter,
                        relative_step=relative_step, warmup_init=warmup_init)
        _adafactor_hyper(defaults)
        super().__init__(params, defaults)

    def _options(self, group, t0):
        return (("first_moment", group["beta1"] is not None),
                ("scale_parameter", bool(group["scale_parameter"])),
                ("relative_step", bool(group["relative_step"])),
                ("warmup_init", bool(group["warmup_init"])))

    def _prepare(self, p, state, group):
        keys = ("exp_avg_sq_row", "exp_avg_sq_col")
        if group["beta1"] is not None:
            keys = ("exp_avg",) + keys
        return _step_count(state), self._state_tensors(p, state, keys)

    def _commit(self, p, state, group, tensors, t0):
        _commit_step_and_states(state, tensors, t0)

    def _hyper(self, group, t):
        return _adafactor_hyper(group)


def _tuple_args(spec):
    """The tuple arguments of a rule's torch class: argument name -> the
    names of the hyper-parameters it holds, in the record's order (each
    hyper-parameter's ``tuple_arg``, and ``betas`` for ``beta1``, ``beta2``,
    ... outside any other)."""
    tuples = {}
    for h in spec["hyper_params"]:
        name = h["tuple_arg"] or ("betas" if h["name"].startswith("beta")
                                  else "")
        if name:
            tuples.setdefault(name, []).append(h["name"])
    return {name: tuple(names) for name, names in tuples.items()}


class _ASGDScalars:
    """``torch.optim.ASGD``'s per-parameter scalar tensors: ``eta`` (the
    step size, created as ``torch.tensor(lr)``) and ``mu`` (the averaging
    rate, ``torch.tensor(1.)``), which a step reads and then sets from the
    step count for the next one, in the tensors' own dtype, as torch does.
    Their values are hyper-parameters ``eta`` and ``mu`` of rule
    ``torch_asgd``."""

    computes = ("eta", "mu")

    @staticmethod
    def _current(state, group):
        eta, mu = state.get("eta"), state.get("mu")
        if eta is None:
            eta = torch.tensor(group["lr"])
        if mu is None:
            mu = torch.tensor(1.0)
        return eta, mu

    def values(self, state, group, t):
        """The hyper-parameters of the step at 1-based count `t`."""
        eta, mu = self._current(state, group)
        return (("eta", _finite("eta", eta.item())),
                ("mu", _finite("mu", mu.item())))

    def commit(self, state, group, t):
        """After the step at count `t`: torch's values for the next one."""
        eta, mu = self._current(state, group)
        lr, lambd = group["lr"], group["lambd"]
        eta.copy_(torch.tensor(lr / math.pow(1 + lambd * lr * t,
                                             group["alpha"])))
        mu.copy_(torch.tensor(1 / max(1, t - group["t0"])))
        state["eta"], state["mu"] = eta, mu


class _NAdamScalars:
    """``torch.optim.NAdam``'s (1.13) momentum schedule: ``mu_t = beta1 *
    (1 - 0.5 * 0.96^(t * momentum_decay))`` and the per-parameter scalar
    tensor ``mu_product`` (``torch.tensor(1.)``, multiplied by ``mu_t`` at
    every step); the momentum term divides by ``1 - mu_product * mu_t *
    mu_(t+1)`` as torch 1.13 computes it. Their values are the computed
    hyper-parameters of rule ``torch_nadam``."""

    computes = ("mu", "mu_next", "mu_product", "mu_product_next")

    @staticmethod
    def _schedule(group, t):
        beta1 = tuple(group["betas"])[0]
        decay = group["momentum_decay"]
        return (beta1 * (1.0 - 0.5 * (0.96 ** (t * decay))),
                beta1 * (1.0 - 0.5 * (0.96 ** ((t + 1) * decay))))

    def values(self, state, group, t):
        mu, mu_next = self._schedule(group, t)
        product = state.get("mu_product")
        if product is None:
            product = torch.tensor(1.0)
        # torch's tensor arithmetic (in the tensor's dtype), out of place.
        product = product * mu
        product_next = product * mu * mu_next
        return (("mu", _finite("mu", mu)), ("mu_next", _finite("mu", mu_next)),
                ("mu_product", _finite("mu_product", product.item())),
                ("mu_product_next", _finite("mu_product",
                                            product_next.item())))

    def commit(self, state, group, t):
        mu, _ = self._schedule(group, t)
        product = state.get("mu_product")
        if product is None:
            product = torch.tensor(1.0)
        product *= mu
        state["mu_product"] = product


# The per-parameter scalar states the torch front end keeps for a rule with
# computed hyper-parameters, by rule.
_SCALAR_STATES = {"torch_asgd": _ASGDScalars(),
                  "torch_nadam": _NAdamScalars()}


class _RecordRule(_CompiledTorchOptimizer):
    """A rule defined by its record alone (OptimRules.td), with torch's
    conventions taken from the rule table: hyper-parameters in a tuple
    argument (``betas`` for ``beta1``, ``beta2``, ...; a record's
    ``tuple_arg``) are read from it, the others are group keys of their own
    names; options are group keys too, or on while a hyper-parameter is
    positive; computed hyper-parameters come from the front end's scalar
    states (`_SCALAR_STATES`). ``state[p]`` holds torch's ``step`` and one
    tensor per state of the record its options keep, under the state's
    name, starting at the state's ``init`` or at its ``init_from``
    hyper-parameter's value, and the scalar states."""

    # torch keeps `step` as a Python int (RMSprop, Rprop) rather than a
    # float tensor.
    _INT_STEP = False
    # The order of torch's state keys (its class's, empty without one).
    _KEY_ORDER = ()
    # The scalar states of a rule with computed hyper-parameters.
    _SCALARS = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        spec = rule_specs()[cls._RULE]
        cls._STATE_KEYS = {s["name"]: s["name"] for s in spec["states"]}
        cls._STATE_SPECS = tuple(spec["states"])
        cls._STATE_INITS = {s["name"]: s["init"] for s in spec["states"]}
        cls._TUPLES = _tuple_args(spec)
        cls._OPERANDS = tuple(h for h in spec["hyper_params"]
                              if not h["init_only"])
        cls._RULE_OPTIONS = tuple(spec["options"])
        cls._POSITIVE = dict(spec["option_positive"])
        # The plan steps tensors only; torch's int steps and scalar states
        # are kept by the checked path (an int step is no runtime-owned
        # tensor).
        cls._FAST_PATH = not cls._INT_STEP and cls._SCALARS is None
        cls._HAS_STEP = not cls._INT_STEP

    def _group_value(self, group, name):
        """Hyper-parameter `name` of `group`: its own key or its place in a
        tuple argument."""
        for arg, names in self._TUPLES.items():
            if name in names:
                values = tuple(group[arg])
                if len(values) != len(names):
                    raise ValueError("optim_mlir.torch: %s must hold %d "
                                     "values, got %r"
                                     % (arg, len(names), values))
                return values[names.index(name)]
        return group[name]

    def _options(self, group, t0):
        return tuple(
            (name, _finite(self._POSITIVE[name],
                           group[self._POSITIVE[name]]) > 0.0)
            if name in self._POSITIVE else (name, bool(group.get(name,
                                                                 default)))
            for name, default in self._RULE_OPTIONS)

    def _active_states(self, group):
        options = dict(self._options(group, 0))
        return [s for s in self._STATE_SPECS
                if not s["requires"] or options[s["requires"]]]

    def _initial_value(self, spec, group):
        source = spec["init_from"]
        if not source:
            return self._STATE_INITS[spec["name"]]
        if source == "learning_rate":
            return _finite("lr", group["lr"])
        return _finite(source, self._group_value(group, source))

    def _prepare(self, p, state, group):
        active = self._active_states(group)
        tensors = self._state_tensors(p, state, [s["name"] for s in active])
        for s in active:
            if tensors[s["name"]] is None:
                init = self._initial_value(s, group)
                if init != 0.0:
                    # A complex parameter's twin starts at `init` in its
                    # real and imaginary parts (torch's Adagrad starts a
                    # complex sum at complex(init, init)).
                    tensors[s["name"]] = torch.full_like(
                        p, complex(init, init) if p.is_complex() else init,
                        dtype=self._state_dtype(p),
                        memory_format=torch.contiguous_format)
        return _step_count(state), tensors

    def _init_states(self):
        """Every parameter's state, as the torch classes that create them in
        their constructor (Adagrad) do."""
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                state["step"] = 0 if self._INT_STEP else torch.tensor(0.0)
                for s in self._active_states(group):
                    init = self._initial_value(s, group)
                    state[s["name"]] = torch.full_like(
                        p, complex(init, init) if p.is_complex() else init,
                        dtype=self._state_dtype(p),
                        memory_format=torch.preserve_format)

    def _bucket_values(self, p, state, group, t0):
        if self._SCALARS is None:
            return ()
        return self._SCALARS.values(state, group, t0 + 1)

    def _commit(self, p, state, group, tensors, t0):
        if self._INT_STEP:
            state["step"] = t0 + 1
        else:
            _commit_step_and_states(state, {}, t0)
        if self._SCALARS is not None:
            self._SCALARS.commit(state, group, t0 + 1)
        for key, tensor in tensors.items():
            if state.get(key) is not tensor:
                state[key] = tensor
        if self._KEY_ORDER:
            # The keys in torch's order (a new state's are not yet).
            rank = {key: i for i, key in enumerate(self._KEY_ORDER)}
            items = sorted(state.items(),
                           key=lambda item: rank.get(item[0], len(rank)))
            if [k for k, _ in items] != list(state):
                state.clear()
                state.update(items)

    def _hyper(self, group, t, values=()):
        computed = dict(values)
        hyper = {"learning_rate": _finite("lr", group["lr"]),
                 "weight_decay": _finite("weight_decay",
                                         group.get("weight_decay", 0.0))}
        for h in self._OPERANDS:
            name = h["name"]
            if h["computed"]:
                hyper[name] = computed[name]
            else:
                hyper[name] = _finite("beta" if name.startswith("beta")
                                      else name,
                                      self._group_value(group, name))
        hyper["loss_scale"] = 1.0
        return hyper


def _in_record_range(value, hyper):
    """Whether `value` lies in the range of hyper-parameter `hyper` (an
    entry of the rule table)."""
    lower, upper, lower_closed, upper_closed = hyper["range"]
    return ((lower is None or value > lower or
             (lower_closed and value == lower)) and
            (upper is None or value < upper or
             (upper_closed and value == upper)))


# torch's arguments that choose among its kernels or modes rather than
# define the update: the record classes take them as torch's class does.
_TORCH_FLAGS = ("foreach", "maximize", "differentiable", "capturable",
                "fused")


def _torch_counterpart(spec):
    """What a record class takes from torch.optim's class of the same name,
    if torch has one: its constructor's parameters, the order of its group
    keys (its ``defaults``), whether it creates the states in its
    constructor (``eager``), whether its ``step`` is an int and the order of
    its state keys (from one step of a probe), and how the rule decays
    (``"l2"``: the gradient takes ``weight_decay * param``, as
    ``optim.decay_weight`` does; ``"decoupled"``: the rule's own decay;
    None: torch's class has no weight decay, or the front end computes
    hyper-parameters from the learning rate, and a negative lr or weight
    decay in param_groups raises)."""
    counterpart = getattr(torch.optim, spec["class_name"], None)
    if counterpart is None:
        return None
    parameters = list(inspect.signature(counterpart.__init__)
                      .parameters.values())[1:]
    probe_param = torch.zeros(2, requires_grad=True)
    probe = counterpart([probe_param])
    eager = bool(probe.state)
    probe_param.grad = torch.ones(2)
    probe.step()
    state = probe.state[probe_param]
    names = [p.name for p in parameters]
    decay = "decoupled" if spec["decay_in_rule"] else "l2"
    if "weight_decay" not in names or \
            any(h["computed"] for h in spec["hyper_params"]):
        decay = None
    return dict(parameters=tuple(parameters), decay=decay,
                order=tuple(probe.defaults), eager=eager,
                int_step=not torch.is_tensor(state.get("step")),
                key_order=tuple(state))


def _at_least(name, low=0.0):
    return lambda a: low <= a[name]


_LR_CHECK = (_at_least("lr"), "Invalid learning rate: {lr}")
_EPS_CHECK = (_at_least("eps"), "Invalid epsilon value: {eps}")
_WD_CHECK = (_at_least("weight_decay"),
             "Invalid weight_decay value: {weight_decay}")
_BETAS_CHECKS = ((lambda a: 0.0 <= a["betas"][0] < 1.0,
                  "Invalid beta parameter at index 0: {betas[0]}"),
                 (lambda a: 0.0 <= a["betas"][1] < 1.0,
                  "Invalid beta parameter at index 1: {betas[1]}"))

# The constructor checks of torch.optim's (1.13) classes that record classes
# share a name with, in torch's order, as (test of the arguments, message
# of torch's ValueError): they run before the records' own ranges, so the
# arguments torch refuses raise torch's message
# (torch/optim/{adagrad,rmsprop,asgd,rprop,nadam,adadelta,adamax,
# radam}.py).
_TORCH_ARG_CHECKS = {
    "Adagrad": (_LR_CHECK,
                (_at_least("lr_decay"), "Invalid lr_decay value: {lr_decay}"),
                _WD_CHECK,
                (_at_least("initial_accumulator_value"),
                 "Invalid initial_accumulator_value value: "
                 "{initial_accumulator_value}"),
                _EPS_CHECK),
    "RMSprop": (_LR_CHECK, _EPS_CHECK,
                (_at_least("momentum"), "Invalid momentum value: {momentum}"),
                _WD_CHECK,
                (_at_least("alpha"), "Invalid alpha value: {alpha}")),
    "ASGD": (_LR_CHECK, _WD_CHECK),
    "Rprop": (_LR_CHECK,
              (lambda a: 0.0 < a["etas"][0] < 1.0 < a["etas"][1],
               "Invalid eta values: {etas[0]}, {etas[1]}")),
    "NAdam": (_LR_CHECK, _EPS_CHECK) + _BETAS_CHECKS + (
        _WD_CHECK, (_at_least("momentum_decay"),
                    "Invalid momentum_decay value: {momentum_decay}")),
    "Adadelta": (_LR_CHECK,
                 (lambda a: 0.0 <= a["rho"] <= 1.0,
                  "Invalid rho value: {rho}"),
                 _EPS_CHECK, _WD_CHECK),
    "Adamax": (_LR_CHECK, _EPS_CHECK) + _BETAS_CHECKS + (_WD_CHECK,),
    "RAdam": (_LR_CHECK, _EPS_CHECK) + _BETAS_CHECKS + (_WD_CHECK,),
}


def _check_torch_args(name, arg):
    """torch.optim.`name`'s constructor checks on the arguments `arg`."""
    for test, message in _TORCH_ARG_CHECKS.get(name, ()):
        if not test(arg):
            raise ValueError(message.format(**arg))


def _check_record_args(rule, spec, arg, tuples):
    """torch's checks (a non-negative lr and weight decay, each beta in
    [0, 1)) and the record's ranges, on the constructor's arguments `arg`
    (its tuple arguments made tuples)."""
    hypers = spec["hyper_params"]
    if not 0.0 <= arg["lr"]:
        raise ValueError("Invalid learning rate: {}".format(arg["lr"]))
    values = {h["name"]: arg[h["name"]] for h in hypers
              if h["name"] in arg}
    for name, names in tuples.items():
        arg[name] = tuple(arg[name])
        if len(arg[name]) != len(names):
            raise ValueError("Invalid {}: expected {} values, got {}"
                             .format(name, len(names), len(arg[name])))
        if name == "betas":
            for i, beta in enumerate(arg[name]):
                if not 0.0 <= beta < 1.0:
                    raise ValueError("Invalid beta parameter at index {}: {}"
                                     .format(i, beta))
        values.update(zip(names, arg[name]))
    for h in hypers:
        if h["name"] in values and \
                not _in_record_range(values[h["name"]], h):
            raise ValueError("Invalid {} value: {} (rule {} needs {})"
                             .format(h["name"], values[h["name"]], rule,
                                     h["range_text"]))
    if "weight_decay" in arg and not 0.0 <= arg["weight_decay"]:
        raise ValueError("Invalid weight_decay value: {}"
                         .format(arg["weight_decay"]))


def _counterpart_parameters(rule, spec, counterpart, tuples):
    """A record class's parameters for a class torch.optim has: torch's
    names, kinds and order, with the record's defaults (the learning rate,
    each hyper-parameter, each tuple of them, each option that is an
    argument) and torch's own for the weight decay and `_TORCH_FLAGS`.
    RuntimeError at import where torch's class and the record disagree on
    the arguments."""
    P = inspect.Parameter
    hypers = {h["name"]: h for h in spec["hyper_params"]}
    in_tuples = {n for names in tuples.values() for n in names}
    own = {name for name, h in hypers.items()
           if not h["computed"] and name not in in_tuples}
    options = {name: default for name, default in spec["options"]
               if name not in spec["option_positive"]}
    parameters = []
    for p in counterpart["parameters"]:
        name = p.name
        if name == "params":
            default = P.empty
        elif name == "lr":
            default = spec["default_learning_rate"]
        elif name in tuples:
            default = tuple(hypers[n]["default"] for n in tuples[name])
        elif name in own:
            default = hypers[name]["default"]
        elif name in options:
            default = options[name]
        elif name == "weight_decay" or name in _TORCH_FLAGS:
            default = p.default
        else:
            raise RuntimeError("optim_mlir.torch: torch.optim.%s takes %r, "
                               "which rule %s does not define"
                               % (spec["class_name"], name, rule))
        parameters.append(P(name, p.kind, default=default))
    missing = (set(tuples) | own | set(options)) - \
        {p.name for p in parameters}
    if missing:
        raise RuntimeError("optim_mlir.torch: rule %s defines %s, which "
                           "torch.optim.%s does not take"
                           % (rule, sorted(missing), spec["class_name"]))
    return parameters


# The record classes whose torch counterpart steps a sparse gradient's
# entries only (`_CompiledTorchOptimizer._touched_step`).
_TOUCHED_CLASSES = ("Adagrad",)


def _record_class(rule, spec):
    """The ``optim_mlir.torch`` class of a rule whose record asks for one,
    with torch's conventions. A class torch.optim (1.13) has too takes
    torch's own arguments (`_counterpart_parameters`: names, order and
    kinds, with the record's defaults), keeps torch's group key order, its
    ``step`` type, its state keys in its order and, where torch creates
    them in its constructor, the states from the start. Another class is
    ``Name(params, lr=<default>, betas=(<beta1>, ...), <other
    hyper-parameter>=<default>, ..., weight_decay=0.0, *, maximize=False)``
    (``betas`` where ``beta1`` is in the record). The learning rate and
    the weight decay must be >= 0, each beta in [0, 1) (torch's checks), and
    every hyper-parameter in its record's range."""
    P = inspect.Parameter
    counterpart = _torch_counterpart(spec)
    hypers = spec["hyper_params"]
    tuples = _tuple_args(spec)
    scalars = _SCALAR_STATES.get(rule)
    computed = tuple(h["name"] for h in hypers if h["computed"])
    if computed != (scalars.computes if scalars else ()):
        raise RuntimeError("optim_mlir.torch: rule %s computes %s, the front "
                           "end %s" % (rule, computed,
                                       scalars.computes if scalars else ()))
    namespace = {"_RULE": rule, "_SCALARS": scalars}
    if counterpart is None:
        parameters = [P("params", P.POSITIONAL_OR_KEYWORD),
                      P("lr", P.POSITIONAL_OR_KEYWORD,
                        default=spec["default_learning_rate"])]
        added = set()
        for h in hypers:
            if h["computed"]:
                continue
            name = next((t for t, names in tuples.items()
                         if h["name"] in names), h["name"])
            if name in added:
                continue
            added.add(name)
            parameters.append(P(name, P.POSITIONAL_OR_KEYWORD, default=(
                tuple(b["default"] for b in hypers if b["name"] in
                      tuples[name]) if name in tuples else h["default"])))
        parameters += [P(name, P.POSITIONAL_OR_KEYWORD, default=default)
                       for name, default in spec["options"]
                       if name not in spec["option_positive"]]
        parameters += [P("weight_decay", P.POSITIONAL_OR_KEYWORD,
                         default=0.0),
                       P("maximize", P.KEYWORD_ONLY, default=False)]
        namespace["_GROUP_DEFAULTS"] = {"maximize": False}
    else:
        parameters = _counterpart_parameters(rule, spec, counterpart, tuples)
        names = [p.name for p in parameters]
        namespace.update(
            _TORCH_DECAY=counterpart["decay"],
            _GROUP_DEFAULTS={p.name: p.default for p in parameters
                             if p.name in _TORCH_FLAGS or
                             p.name in dict(spec["options"])},
            _UNSUPPORTED=tuple(u for u in (_NO_CAPTURABLE,)
                               if u[0] in names),
            # differentiable=True: torch's own (eager) step, on the same
            # groups and state (torch's state keys).
            _TORCH_EAGER=(getattr(torch.optim, spec["class_name"])
                          if "differentiable" in names else None),
            _INT_STEP=counterpart["int_step"],
            # torch's Adagrad steps the entries of a sparse gradient only.
            _SPARSE_TOUCHED=spec["class_name"] in _TOUCHED_CLASSES,
            _KEY_ORDER=counterpart["key_order"])

    def construct(self, arg):
        params = arg.pop("params")
        if counterpart is not None:
            _check_torch_args(spec["class_name"], arg)
        _check_record_args(rule, spec, arg, tuples)
        if counterpart is not None:
            order = counterpart["order"]
            arg = dict(sorted(arg.items(), key=lambda item: (
                order.index(item[0]) if item[0] in order else len(order))))
        _RecordRule.__init__(self, params, arg)
        if counterpart is not None and counterpart["eager"]:
            self._init_states()

    state_names = ["``%s``" % s["name"] + (" (with ``%s``)" % s["requires"]
                                           if s["requires"] else "")
                   for s in spec["states"]]
    if scalars is not None:
        state_names += ["``%s`` (a scalar tensor, as torch's)" % key
                        for key in counterpart["key_order"]
                        if key != "step" and
                        key not in {s["name"] for s in spec["states"]}]
    return _record_classes.make_class(
        rule, spec, __name__, _RecordRule, parameters, construct,
        "States ``step`` (torch's), " + ", ".join(state_names), namespace)


# The classes of the rules defined by their records alone, by class name.
_RECORD_CLASSES = {spec["class_name"]: _record_class(rule, spec)
                   for rule, spec in _record_classes.record_rules()
                   if spec["gen_torch_class"]}
globals().update(_RECORD_CLASSES)
__all__ += list(_RECORD_CLASSES)
