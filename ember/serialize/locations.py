"""``map_location``: where each loaded storage goes, with ``torch.load``'s rules and error messages.

Every reader (ember's format, PyTorch's zip and legacy files) hands a flat host array plus the location tag
saved with it ('cpu', 'cuda:0') to the function :func:`make_restore` builds, and gets an ember Storage back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .. import cuda
from ..backends import get_backend
from ..tensor.devices import as_device, device
from ..tensor.storage import Storage

__all__ = ["make_restore", "Restore"]

Restore = Callable[[np.ndarray, str], Storage]


def _parse_location(location: str, storage: Storage) -> device:
    try:
        return as_device(location)
    except (RuntimeError, TypeError, ValueError):
        raise RuntimeError(
            f"don't know how to restore data location of {type(storage).__name__} (tagged with {location})"
        ) from None


def _validate_cuda_device(dev: device) -> None:
    if not cuda.is_available():
        raise RuntimeError(
            "Attempting to deserialize object on a CUDA device but ember.cuda.is_available() is False. If you are "
            "running on a CPU-only machine, please use ember.load with map_location=ember.device('cpu') to map "
            "your storages to the CPU."
        )
    index = dev.index or 0
    count = cuda.device_count()
    if index >= count:
        raise RuntimeError(
            f"Attempting to deserialize object on CUDA device {index} but ember.cuda.device_count() is {count}. "
            "Please use ember.load with map_location to map your storages to an existing device."
        )


def default_restore_location(storage: Storage, location: str) -> Storage:
    """Move a freshly read CPU storage to the device its tag names (torch's ``default_restore_location``)."""
    dev = _parse_location(str(location), storage)
    if dev.type == "cpu":
        return storage
    _validate_cuda_device(dev)
    backend = get_backend(dev.type)
    return Storage(backend.allocator.from_host(storage.data), dev, backend)


def make_restore(map_location: Any) -> Restore:
    """The storage-placing function for a ``map_location`` argument: None, a string, an ember.device, a dict
    from saved tags to new ones, or a callable ``(storage, location) -> storage or None``.

    Raises:
        TypeError: ``map_location`` is none of those.
    """
    if map_location is None:
        def place(storage: Storage, location: str) -> Storage:
            return default_restore_location(storage, location)
    elif isinstance(map_location, str | device):
        target = str(map_location)

        def place(storage: Storage, location: str) -> Storage:
            return default_restore_location(storage, target)
    elif isinstance(map_location, dict):
        mapping = {str(k): str(v) for k, v in map_location.items()}

        def place(storage: Storage, location: str) -> Storage:
            return default_restore_location(storage, mapping.get(location, location))
    elif callable(map_location):
        def place(storage: Storage, location: str) -> Storage:
            result = map_location(storage, location)
            if result is None:
                return default_restore_location(storage, location)
            if not isinstance(result, Storage):
                raise TypeError(
                    f"map_location callable must return an ember storage or None, got {type(result).__name__}"
                )
            return result
    else:
        raise TypeError(
            "map_location should be None, a string, an ember.device, a dict or a callable, "
            f"got {type(map_location).__name__}"
        )

    def restore(host: np.ndarray, location: str) -> Storage:
        return place(Storage(host, as_device("cpu")), location)

    return restore
