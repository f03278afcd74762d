"""State buffers in memory the runtime owns, for both front ends.

``allocate_numpy`` / ``allocate_torch`` carve many state buffers out of one
``_optim.StateArena`` (one zero-filled block, every buffer 64-byte aligned)
and return NumPy arrays / torch tensors viewing it.  Each array's ``base``
chain ends at the arena object, so the memory lives as long as any view of
it (the optimizer, a ``state_dict`` or a user's reference).  The compiled
step writes those buffers in place; the front ends bind their pointers once
(see docs/Host-cost.md).
"""

import math
import weakref

import numpy as np

from ._optim import StateArena

__all__ = ["allocate_numpy", "allocate_torch", "OwnedTensors"]


def allocate_numpy(specs):
    """One array per ``(shape, numpy dtype)`` of ``specs``, zero-filled,
    all in one runtime-owned block."""
    specs = [(tuple(int(d) for d in shape), np.dtype(dtype))
             for shape, dtype in specs]
    sizes = [math.prod(shape) * dtype.itemsize for shape, dtype in specs]
    arena = StateArena(sizes)
    block = arena.buffer()
    arrays = []
    for (shape, dtype), offset, size in zip(specs, arena.offsets, sizes):
        arrays.append(block[offset:offset + size].view(dtype).reshape(shape))
    return arrays


def allocate_torch(specs):
    """One CPU tensor per ``(shape, torch dtype)`` of ``specs``, zero-filled,
    all in one runtime-owned block. bfloat16 (which NumPy lacks) is carved
    as int16 and viewed as bfloat16; complex dtypes are NumPy's."""
    np_specs = [(shape, _numpy_dtype(dtype)) for shape, dtype in specs]
    return [_from_numpy(a, dtype)
            for a, (_, dtype) in zip(allocate_numpy(np_specs), specs)]


def _numpy_dtype(dtype):
    """The NumPy dtype holding torch `dtype`'s elements (int16 for
    bfloat16)."""
    import torch
    if dtype == torch.bfloat16:
        return np.dtype("int16")
    return torch.empty((), dtype=dtype).numpy().dtype


def _from_numpy(array, dtype):
    import torch
    tensor = torch.from_numpy(array)
    return tensor.view(dtype) if tensor.dtype != dtype else tensor


class OwnedTensors:
    """The runtime-owned tensors an optimizer handed out, by identity and
    data pointer (a tensor given a new ``.data`` is no longer owned)."""

    def __init__(self):
        self._owned = {}
        # Every block handed out (a plan keeps them alive: its pointers
        # stay valid even if a tensor is given other storage).
        self.blocks = []

    def owns(self, tensor):
        entry = self._owned.get(id(tensor))
        return entry is not None and entry[0]() is tensor and \
            tensor.data_ptr() == entry[1]

    def allocate(self, specs):
        """``allocate_torch`` of the ``(shape, dtype)`` of ``specs``,
        remembered as owned. A spec's optional third item, when not None,
        gives its tensor those strides over the same buffer (a dense layout
        of its shape, such as channels_last: the buffer holds every element
        once)."""
        tensors = allocate_torch([spec[:2] for spec in specs])
        if tensors:
            self.blocks.append(_block_of(tensors[0]))
        tensors = [t if len(spec) < 3 or spec[2] is None
                   else t.as_strided(t.shape, tuple(spec[2]))
                   for t, spec in zip(tensors, specs)]
        self._prune()
        for t in tensors:
            self._owned[id(t)] = (weakref.ref(t), t.data_ptr())
        return tensors

    def allocate_steps(self, values):
        """0-d float32 step tensors viewing one owned float32 array, set to
        ``values``."""
        if not values:
            return []
        (block,) = allocate_torch([((len(values),), _float32())])
        self.blocks.append(_block_of(block))
        block.copy_(_tensor(values))
        steps = [block[i] for i in range(len(values))]
        self._prune()
        for t in steps:
            self._owned[id(t)] = (weakref.ref(t), t.data_ptr())
        return steps

    def _prune(self):
        if len(self._owned) > 64:
            self._owned = {k: v for k, v in self._owned.items()
                           if v[0]() is not None}


def _float32():
    import torch
    return torch.float32


def _tensor(values):
    import torch
    return torch.tensor([float(v) for v in values], dtype=torch.float32)


def _block_of(tensor):
    """The arena behind a tensor from allocate_torch."""
    import torch
    if tensor.dtype == torch.bfloat16:
        tensor = tensor.view(torch.int16)
    base = tensor.numpy()
    while isinstance(base, np.ndarray) and base.base is not None:
        base = base.base
    return base
