"""``optim_mlir.nn``'s parameters and tensors: ``Parameter``,
``ParameterTuple``, ``RowTensor`` (docs/Python-nn.md)."""

import itertools

import numpy as np

from . import _compiled
from . import _mindspore_validator as _v

_FLOAT_DTYPES = tuple(np.dtype(n) for n in _compiled.FLOAT_DTYPE_NAMES)
_NAME_COUNTER = itertools.count()


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
