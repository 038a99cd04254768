"""Storage: a flat device buffer shared by a tensor and all of its views."""

from __future__ import annotations

from typing import Any

from ..backends import Backend, get_backend
from .devices import device


class Storage:
    """A flat buffer of one dtype on one device, with the version counter its views share.

    Every in-place write to any view bumps ``version``; autograd compares it with the version it saved.
    """

    __slots__ = ("data", "device", "backend", "version", "writable")

    def __init__(self, data: Any, dev: device, backend: Backend | None = None, writable: bool = True):
        self.data = data
        self.device = dev
        self.backend = backend if backend is not None else get_backend(dev.type)
        self.version = 0
        # False for memory borrowed read-only (from_numpy of a non-writeable array): in-place ops refuse it.
        self.writable = writable

    def __len__(self) -> int:
        """Elements in the buffer (the CPU buffer is a C-contiguous array of any shape)."""
        return self.data.size

    def data_ptr(self) -> int:
        return self.data.__array_interface__["data"][0] if self.device.type == "cpu" else int(self.data.ptr)
