"""The interface every eager backend fills: an allocator and a way to see storage as kernel arrays.

A backend owns memory for one device type. Kernels themselves live in each op's definition
(``OpDef.kernels[device_type]``), so adding a device means adding an :class:`Backend` here and one
kernel per op there, with no call site touched.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np


class Allocator(ABC):
    """Allocates flat buffers of one device and moves them to and from host NumPy arrays."""

    @abstractmethod
    def empty(self, numel: int, np_dtype: np.dtype) -> Any:
        """A flat, uninitialised buffer of ``numel`` elements."""

    @abstractmethod
    def from_host(self, array: np.ndarray) -> Any:
        """A flat buffer holding a copy of the C-contiguous ``array``."""

    @abstractmethod
    def to_host(self, buffer: Any) -> np.ndarray:
        """A flat host NumPy array with the buffer's contents (may share memory on the CPU)."""


class Backend(ABC):
    """One device type's eager execution: memory plus the array objects kernels receive and return."""

    device_type: str
    allocator: Allocator

    @abstractmethod
    def view(self, buffer: Any, shape: tuple, stride: tuple, offset: int) -> Any:
        """The kernel-side array for a strided window (strides and offset in elements) of ``buffer``."""

    @abstractmethod
    def adopt(self, array: Any, np_dtype: np.dtype) -> tuple[Any, tuple, tuple, Any]:
        """Take a kernel's fresh output as ``np_dtype``: returns (storage buffer, shape, element strides, the
        kernel-side array for that contiguous window)."""


_BACKENDS: dict[str, Backend] = {}


def register_backend(backend: Backend) -> None:
    """Make ``backend`` serve tensors whose device type is ``backend.device_type``."""
    _BACKENDS[backend.device_type] = backend


def get_backend(device_type: str) -> Backend:
    """The backend for a device type, or a RuntimeError saying why that device cannot be used."""
    backend = _BACKENDS.get(device_type)
    if backend is None:
        raise RuntimeError(
            f"device '{device_type}' is not supported by this build of ember: it has no {device_type} backend yet "
            f"(ember.cuda.is_available() reports whether a GPU could be used); use device='cpu'"
        )
    return backend
