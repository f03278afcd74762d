"""``optim_mlir.nn``'s parameters and tensors: ``Parameter``,
``ParameterTuple``, ``RowTensor`` and ``flatten_weights`` (contiguous
parameters; docs/Python-nn.md)."""

import itertools
import warnings

import numpy as np

from . import _compiled
from . import _mindspore_validator as _v
from . import _state_arena

# The element types of optim_mlir.nn's parameters: the runtime's (float32,
# float64) and float16, which the compiled steps load and store as f16 and
# compute in f32 (as MindSpore's float16 kernels do).
_FLOAT_DTYPES = tuple(np.dtype(n) for n in _compiled.FLOAT_DTYPE_NAMES) + \
    (np.dtype("float16"),)
# The order of the chunks of flatten_weights: MindSpore's type ids (Float16
# < Float32 < Float64).
_CHUNK_DTYPE_ORDER = {np.dtype("float16"): 0, np.dtype("float32"): 1,
                      np.dtype("float64"): 2}
_NAME_COUNTER = itertools.count()
# Advanced by every flatten_weights (which gives parameters new storage):
# optimizers compare it to the value of their compilation and rebind their
# parameters' arrays when it changed.
STORAGE_EPOCH = [0]


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
    raise TypeError("%s must hold float16, float32 or float64 values "
                    "(integers become float32), but got dtype %s."
                    % (what, arr.dtype))


class Parameter:
    """A named, trainable array (``mindspore.Parameter``).

    ``default_input``: array-like of float16, float32 or float64 (copied;
    integers become float32).  ``data`` is the C-contiguous storage the
    optimizer updates in place (after ``flatten_weights``, a view into the
    buffer of its dtype).
    """

    # After flatten_weights: the _Chunk holding this parameter and its
    # element offset there.
    _chunk = None
    _chunk_offset = 0
    # Whether the name is the default one (Parameter_<n>).
    _default_name = False

    def __init__(self, default_input, name=None, requires_grad=True):
        self._data = _as_float_array(default_input, "Parameter data")
        # A default name is unique in the process; optimizers name such a
        # parameter by its position in their IR instead, so that optimizers
        # of the same structure share one compiled step.
        self._default_name = name is None
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
        self._default_name = False

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
    The other compiled optimizers raise ``NotImplementedError`` when given
    one: their sparse kernels are not compiled yet.  A user-defined
    ``Optimizer`` subclass receives sparse gradients in its ``construct`` as
    RowTensors (checked against their parameters).
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


class _Chunk:
    """One contiguous buffer of ``flatten_weights``: a 1-d array of one
    dtype and the parameters viewing it, in buffer order."""

    def __init__(self, array, members):
        self.array = array
        self.members = members  # [(Parameter, element offset)]

    def is_current(self):
        """Whether every member still views this buffer (flattening a member
        again moves it to a new buffer)."""
        return all(p._chunk is self for p, _ in self.members)


def _check_fusion_size(fusion_size):
    if isinstance(fusion_size, bool) or \
            not isinstance(fusion_size, (int, np.integer)):
        raise TypeError("For 'flatten_weights', the 'fusion_size' must be int, "
                        "but got %s." % type(fusion_size).__name__)
    if fusion_size < 0:
        raise ValueError("Negative 'fusion_size' %d is invalid." % fusion_size)
    return int(fusion_size)


def flatten_weights(params, fusion_size=0):
    """Places ``params`` in contiguous buffers, one per dtype (MindSpore's
    ``Cell.flatten_weights`` / ``Tensor._flatten_tensors``).

    Buffers come in dtype order (float16, float32, float64); a dtype's
    parameters follow one another in the order given.  With ``fusion_size``
    > 0 (bytes) a buffer is closed before a parameter that would make it
    larger (a parameter larger than ``fusion_size`` gets one of its own).
    Each parameter keeps its value, shape and dtype and its ``data`` becomes
    a view into its buffer, so ``data``, ``asnumpy`` and ``set_data`` read
    and write the buffer.  An optimizer built over exactly the parameters of
    some buffers steps each buffer as one tensor (``_use_flattened_params``;
    docs/Python-nn.md).  Returns the buffers, a tuple of 1-d arrays.
    """
    fusion_size = _check_fusion_size(fusion_size)
    if isinstance(params, Parameter):
        raise TypeError("For 'flatten_weights', 'params' must be an iterable "
                        "of Parameter, but got one Parameter.")
    try:
        params = list(params)
    except TypeError:
        raise TypeError("For 'flatten_weights', 'params' must be an iterable "
                        "of Parameter, but got %s." % type(params).__name__)
    seen = set()
    for i, p in enumerate(params):
        if not isinstance(p, Parameter):
            raise TypeError("For 'flatten_weights', every element must be a "
                            "Parameter, but got %s at index %d."
                            % (type(p).__name__, i))
        if p.dtype not in _CHUNK_DTYPE_ORDER:
            raise TypeError("For 'flatten_weights', Parameter '%s' has dtype "
                            "%s; only float16, float32 and float64 parameters "
                            "can be flattened." % (p.name, p.dtype))
        if not p.data.flags.writeable:
            raise ValueError("For 'flatten_weights', Parameter '%s' is "
                             "read-only." % p.name)
        if id(p) in seen:
            raise ValueError("For 'flatten_weights', Parameter '%s' is given "
                             "more than once." % p.name)
        seen.add(id(p))
    if not params:
        return ()
    # Group by dtype, then split by fusion_size.
    layout = []  # [(dtype, [params])]
    for dtype in sorted({p.dtype for p in params},
                        key=_CHUNK_DTYPE_ORDER.__getitem__):
        current, current_bytes = [], 0
        for p in params:
            if p.dtype != dtype:
                continue
            nbytes = p.size * dtype.itemsize
            if fusion_size and current and \
                    current_bytes + nbytes > fusion_size:
                layout.append((dtype, current))
                current, current_bytes = [], 0
            current.append(p)
            current_bytes += nbytes
        layout.append((dtype, current))
    STORAGE_EPOCH[0] += 1
    arrays = _state_arena.allocate_numpy(
        [((sum(p.size for p in members),), dtype)
         for dtype, members in layout])
    chunks = []
    for (dtype, members), array in zip(layout, arrays):
        offset, placed = 0, []
        for p in members:
            array[offset:offset + p.size] = p.data.reshape(-1)
            placed.append((p, offset))
            offset += p.size
        chunk = _Chunk(array, placed)
        for p, off in placed:
            p._data = array[off:off + p.size].reshape(p.shape)
            p._chunk = chunk
            p._chunk_offset = off
        chunks.append(chunk)
    return tuple(c.array for c in chunks)


def _flattened_chunks(params, prim_name):
    """The buffers of ``flatten_weights`` that hold exactly ``params`` (each
    buffer's members all among them, each parameter in one buffer), in
    buffer-creation order; None when the parameters are not flattened (a
    warning when only partly: MindSpore then falls back too)."""
    flags = [p._chunk is not None for p in params]
    if not any(flags):
        return None
    chunks, ids = [], {id(p) for p in params}
    for p in params:
        c = p._chunk
        if c is not None and all(c is not x for x in chunks):
            chunks.append(c)
    ok = all(flags) and all(c.is_current() for c in chunks) and \
        all(id(p) in ids for c in chunks for p, _ in c.members) and \
        sum(len(c.members) for c in chunks) == len(params)
    if not ok:
        warnings.warn("For '%s', the parameters are not properly flattened "
                      "(flatten_weights over exactly these parameters): "
                      "falling back to per-parameter steps." % prim_name,
                      RuntimeWarning, stacklevel=3)
        return None
    order = {id(c): i for i, c in enumerate(chunks)}
    # The buffers in the order flatten_weights made them: dtype order, then
    # position (fusion_size splits).
    chunks.sort(key=lambda c: (_CHUNK_DTYPE_ORDER[c.array.dtype],
                               order[id(c)]))
    return chunks
