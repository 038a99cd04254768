"""Eager backends: one per device type, plugged in through :mod:`ember.backends.base`."""

from .base import Allocator, Backend, get_backend, register_backend
from .cpu import CPU_BACKEND, CPUAllocator, CPUBackend

__all__ = ["Allocator", "Backend", "CPUAllocator", "CPUBackend", "CPU_BACKEND", "get_backend", "register_backend"]
