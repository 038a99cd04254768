"""The CPU backend: storage is a C-contiguous NumPy array; kernels are NumPy calls on strided views of it."""

from __future__ import annotations

import numpy as np

from .base import Allocator, Backend, register_backend
from .cpu_memory import keep_freed_memory

_STRIDES_CACHE: dict[tuple, tuple] = {}


def contiguous_strides(shape: tuple) -> tuple:
    """Row-major element strides for ``shape`` (PyTorch gives size-1 dims the stride they would have)."""
    found = _STRIDES_CACHE.get(shape)
    if found is not None:
        return found
    strides = []
    acc = 1
    for size in reversed(shape):
        strides.append(acc)
        acc *= max(size, 1)
    found = tuple(reversed(strides))
    if len(_STRIDES_CACHE) < 4096:
        _STRIDES_CACHE[shape] = found
    return found


class CPUAllocator(Allocator):
    def empty(self, numel: int, np_dtype: np.dtype) -> np.ndarray:
        return np.empty(numel, dtype=np_dtype)

    def from_host(self, array: np.ndarray) -> np.ndarray:
        return np.array(array, copy=True, order="C").reshape(-1)

    def to_host(self, buffer: np.ndarray) -> np.ndarray:
        return buffer


class CPUBackend(Backend):
    device_type = "cpu"

    def __init__(self):
        self.allocator = CPUAllocator()

    def view(self, buffer: np.ndarray, shape: tuple, stride: tuple, offset: int) -> np.ndarray:
        itemsize = buffer.itemsize
        if 0 in shape:
            # An empty window reads nothing; its offset may lie past the buffer's end (``x[5:]`` of a strided view).
            offset = 0
        return np.ndarray(
            shape, dtype=buffer.dtype, buffer=buffer, offset=offset * itemsize, strides=[s * itemsize for s in stride]
        )

    def adopt(self, array: np.ndarray, np_dtype: np.dtype) -> tuple[np.ndarray, tuple, tuple, np.ndarray]:
        # Ufuncs return NumPy scalars for 0-d inputs; kernels may compute in a wider type than the rule says.
        if type(array) is not np.ndarray or array.dtype is not np_dtype or not array.flags.c_contiguous:
            # asarray, not ascontiguousarray: the latter turns 0-d results into shape (1,).
            array = np.asarray(array, dtype=np_dtype, order="C")
        shape = array.shape
        # The C-contiguous array itself is the storage buffer (any shape serves as a buffer); no flattening.
        return array, shape, contiguous_strides(shape), array


CPU_BACKEND = CPUBackend()
register_backend(CPU_BACKEND)
keep_freed_memory()
