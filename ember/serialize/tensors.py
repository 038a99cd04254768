"""Tensors to and from (storage, shape, stride, offset) records, shared by every format ember reads or writes.

Saving walks tensors into a :class:`TensorTable` (one entry per storage, so views stay views of one buffer);
loading checks each record against its storage before building the tensor, so a corrupt or hostile file
can never make a view that reaches outside its buffer.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..nn.parameter import Parameter
from ..tensor import dtypes
from ..tensor.storage import Storage
from ..tensor.tensor import Tensor

__all__ = ["TensorTable", "build_tensor", "host_bytes", "read_array", "typed_host_array", "DTYPES_BY_NAME"]

DTYPES_BY_NAME = {d.name: d for d in dtypes.ALL_DTYPES}
_CHUNK = 1 << 24


def read_array(f: Any, nbytes: int, what: str) -> np.ndarray:
    """Exactly ``nbytes`` from the binary file ``f`` into a fresh uint8 array.

    Raises:
        RuntimeError: the file ends first, or ``nbytes`` (from a corrupt header) cannot be allocated.
    """
    try:
        raw = np.empty(nbytes, np.uint8)
    except (MemoryError, ValueError):
        raise RuntimeError(f"{what} claims {nbytes} bytes, more than can be allocated; the file is corrupt") from None
    view = memoryview(raw)
    readinto = getattr(f, "readinto", None)
    filled = 0
    while filled < nbytes:
        n = min(nbytes - filled, _CHUNK)
        if readinto is not None:
            got = readinto(view[filled:filled + n])
        else:
            chunk = f.read(n)
            got = len(chunk)
            view[filled:filled + got] = chunk
        if not got:
            raise RuntimeError(f"{what} is truncated: it needs {nbytes} bytes, the file ends after {filled}")
        filled += got
    return raw


def host_bytes(storage: Storage) -> np.ndarray:
    """The storage's contents as a flat little-endian uint8 array (no copy for a CPU storage on a LE host)."""
    flat = np.ascontiguousarray(storage.backend.allocator.to_host(storage.data)).reshape(-1)
    if sys.byteorder == "big" and flat.itemsize > 1:
        flat = flat.byteswap()
    return flat.view(np.uint8)


def typed_host_array(raw: np.ndarray, dt: dtypes.dtype, *, big_endian: bool, what: str) -> np.ndarray:
    """View raw uint8 bytes as ``dt`` (swapping bytes when the file's order is not the host's).

    Raises:
        RuntimeError: the byte count is not a multiple of the element size, or a bool byte is not 0 or 1.
    """
    if raw.size % dt.itemsize:
        raise RuntimeError(f"{what}: {raw.size} bytes is not a whole number of {dt.name} elements")
    if dt is dtypes.bool and raw.size and raw.max() > 1:
        raise RuntimeError(f"{what}: bool storage holds bytes other than 0 and 1; the data is corrupt")
    typed = raw.view(dt.np_dtype)
    if big_endian != (sys.byteorder == "big") and dt.itemsize > 1:
        typed = typed.byteswap()
    return typed


@dataclass
class TensorTable:
    """Tensors met while saving, deduplicated by object, and their storages, deduplicated by storage object."""

    storages: list[Storage] = field(default_factory=list)
    storage_dtypes: list[dtypes.dtype] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    _storage_index: dict[int, int] = field(default_factory=dict)
    _tensor_index: dict[int, int] = field(default_factory=dict)
    # Holding every tensor keeps its id() from being reused by a temporary during the same save.
    _alive: list[Tensor] = field(default_factory=list)

    def add(self, t: Tensor) -> int:
        """The record index of ``t``, adding it (and its storage) on first sight."""
        found = self._tensor_index.get(id(t))
        if found is not None:
            return found
        storage = t._storage
        s_index = self._storage_index.get(id(storage))
        if s_index is None:
            s_index = self._storage_index[id(storage)] = len(self.storages)
            self.storages.append(storage)
            self.storage_dtypes.append(t.dtype)
        record = {"storage": s_index, "shape": list(t._shape), "stride": list(t._stride), "offset": t._offset,
                  "requires_grad": bool(t.requires_grad), "parameter": isinstance(t, Parameter)}
        index = self._tensor_index[id(t)] = len(self.records)
        self.records.append(record)
        self._alive.append(t)
        return index


def _check_int_list(value: Any, what: str, name: str) -> tuple:
    if not isinstance(value, list | tuple) or not all(type(v) is int and v >= 0 for v in value):
        raise RuntimeError(f"{what}: {name} must be a list of non-negative integers, got {value!r}")
    return tuple(value)


def build_tensor(storage: Storage, dt: dtypes.dtype, shape: Any, stride: Any, offset: Any, requires_grad: Any,
                 parameter: bool, what: str) -> Tensor:
    """A tensor viewing ``storage``, after checking that the window lies inside it.

    Raises:
        RuntimeError: malformed shape/stride/offset, a window past the storage's end, or requires_grad on a
            non-floating dtype; the message starts with ``what`` (the file and the tensor).
    """
    shape = _check_int_list(shape, what, "shape")
    stride = _check_int_list(stride, what, "stride")
    if len(stride) != len(shape):
        raise RuntimeError(f"{what}: shape {list(shape)} and stride {list(stride)} differ in length")
    if type(offset) is not int or offset < 0:
        raise RuntimeError(f"{what}: storage offset must be a non-negative integer, got {offset!r}")
    if type(requires_grad) is not bool:
        raise RuntimeError(f"{what}: requires_grad must be a bool, got {requires_grad!r}")
    numel = len(storage)
    if 0 not in shape:
        last = offset + sum((n - 1) * s for n, s in zip(shape, stride, strict=True))
        if last >= numel:
            raise RuntimeError(
                f"{what}: size {list(shape)}, stride {list(stride)} and offset {offset} reach element {last}, "
                f"past the end of its storage of {numel} elements"
            )
    if requires_grad and not dt.is_floating_point:
        raise RuntimeError(f"{what}: only tensors of floating point dtype can require gradients, got {dt}")
    t = Tensor._make(storage, shape, stride, offset, dt)
    if parameter:
        return Parameter(t, requires_grad)
    return t.requires_grad_(True) if requires_grad else t
