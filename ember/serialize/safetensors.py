"""The safetensors format, read and written without the ``safetensors`` package (same names as
``safetensors.torch``: :func:`save_file`, :func:`load_file`, :func:`save`, :func:`load`).

A file is an 8-byte little-endian header length N, N bytes of UTF-8 JSON (padded with spaces), then the
tensor bytes. The header maps each name to ``{"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}``
(offsets into the byte buffer after the header) and may hold ``"__metadata__"``, a str -> str dict. The
buffer must be covered exactly: no gaps, no overlaps, nothing past the end; every rule is checked on load.
"""

from __future__ import annotations

import json
import os
import struct
import sys
from typing import Any

import numpy as np

from ..backends.cpu import contiguous_strides
from ..tensor import dtypes
from ..tensor.devices import device as _device
from ..tensor.tensor import Tensor
from .atomic import atomic_write
from .locations import make_restore
from .tensors import build_tensor, typed_host_array

__all__ = ["SafetensorError", "save", "save_file", "load", "load_file"]

_CODES = {dtypes.bool: "BOOL", dtypes.uint8: "U8", dtypes.int8: "I8", dtypes.int16: "I16", dtypes.int32: "I32",
          dtypes.int64: "I64", dtypes.float16: "F16", dtypes.bfloat16: "BF16", dtypes.float32: "F32",
          dtypes.float64: "F64"}
_BY_CODE = {code: dt for dt, code in _CODES.items()}
_MAX_HEADER = 100_000_000  # the safetensors crate's limit


class SafetensorError(ValueError):
    """A safetensors header or buffer that breaks the format's rules (the message names the tensor)."""


# ----- writing ---------------------------------------------------------------------------------------------
def _byte_range(t: Tensor) -> tuple[int, int]:
    """[first, last + 1) byte address the tensor touches (empty for an empty tensor)."""
    start = t.data_ptr()
    if t.numel() == 0:
        return start, start
    return start, start + (1 + sum((n - 1) * s for n, s in zip(t._shape, t._stride, strict=True))) * t.itemsize


def _check_for_save(tensors: Any) -> None:
    if not isinstance(tensors, dict):
        raise ValueError(f"Expected a dict of [str, ember.Tensor] but received {type(tensors)}")
    areas = []
    for name, t in tensors.items():
        if not isinstance(name, str):
            raise ValueError(f"Key `{name!r}` is invalid, expected a str name")
        if not isinstance(t, Tensor):
            raise ValueError(f"Key `{name}` is invalid, expected ember.Tensor but received {type(t)}")
        areas.append((str(t.device), *_byte_range(t), name))
    # Sweep the address ranges in order: a tensor starting before the furthest end so far overlaps the group.
    areas.sort()
    groups: list[set[str]] = []
    reach = (None, 0)  # (device, furthest end) of the current group
    for dev, begin, end, name in areas:
        if begin == end:
            continue  # an empty tensor touches no memory
        if groups and reach[0] == dev and begin < reach[1]:
            groups[-1].add(name)
            reach = (dev, max(reach[1], end))
        else:
            groups.append({name})
            reach = (dev, end)
    failing = sorted(sorted(g) for g in groups if len(g) > 1)
    if failing:
        raise RuntimeError(
            f"Some tensors share memory, this will lead to duplicate memory on disk and potential differences when "
            f"loading them again: {failing}. Save one tensor of each group (or .clone() the others) instead."
        )
    for name, t in tensors.items():
        if not t.is_contiguous():
            raise ValueError(
                f"You are trying to save a non contiguous tensor: `{name}` which is not allowed. It either means you "
                "are trying to save tensors which are reference of each other in which case it's recommended to save "
                "only the full tensors, and reslice at load time, or simply call `.contiguous()` on your tensor to "
                "pack it before saving."
            )


def _serialize(tensors: dict[str, Tensor], metadata: dict[str, str] | None) -> list[bytes | memoryview]:
    """The file as a list of byte pieces: length, header, then each tensor's bytes."""
    _check_for_save(tensors)
    if metadata is not None and not (isinstance(metadata, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())):
        raise ValueError(f"metadata must be a dict of str to str, got {metadata!r}")
    # Widest elements first, then by name (the safetensors crate's order): every tensor starts aligned.
    order = sorted(tensors, key=lambda name: (-tensors[name].dtype.itemsize, name))
    header: dict[str, Any] = {"__metadata__": metadata} if metadata else {}
    blobs = []
    offset = 0
    for name in order:
        t = tensors[name]
        data = np.ascontiguousarray(t.detach().cpu().numpy()).reshape(-1)
        if sys.byteorder == "big" and data.itemsize > 1:
            data = data.byteswap()
        blob = memoryview(data.view(np.uint8))
        header[name] = {"dtype": _CODES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return [struct.pack("<Q", len(text)), text, *blobs]


def save(tensors: dict[str, Tensor], metadata: dict[str, str] | None = None) -> bytes:
    """The safetensors bytes of ``tensors`` (a dict of contiguous tensors that share no memory).

    Args:
        tensors: name -> tensor.
        metadata: optional free-form str -> str pairs stored under ``"__metadata__"``.

    Raises:
        ValueError: a non-tensor value, a non-contiguous tensor, or bad metadata.
        RuntimeError: tensors whose memory overlaps (save one of them, or clone).
    """
    return b"".join(_serialize(tensors, metadata))


def save_file(tensors: dict[str, Tensor], filename: str | os.PathLike, metadata: dict[str, str] | None = None) -> None:
    """Write ``tensors`` to ``filename`` in the safetensors format, atomically (see :func:`save`)."""
    pieces = _serialize(tensors, metadata)
    with atomic_write(filename) as f:
        for piece in pieces:
            f.write(piece)


# ----- reading ---------------------------------------------------------------------------------------------
def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = {}
    for key, value in pairs:
        if key in result:
            raise SafetensorError(f"the header names {key!r} twice")
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise SafetensorError(f"the header holds the non-JSON constant {name}")


def _parse_header(buffer: np.ndarray, what: str) -> tuple[list[tuple[str, dtypes.dtype, list, int, int]], int]:
    """(name, dtype, shape, begin, end) per tensor in buffer order, and where the buffer starts."""
    total = buffer.size
    if total < 8:
        raise SafetensorError(f"{what}: header too small ({total} bytes; the length alone takes 8)")
    (n,) = struct.unpack("<Q", buffer[:8].tobytes())
    if n > _MAX_HEADER:
        raise SafetensorError(f"{what}: header too large ({n} bytes, the limit is {_MAX_HEADER})")
    if 8 + n > total:
        raise SafetensorError(f"{what}: the header claims {n} bytes but the file has {total - 8} after its length")
    try:
        text = buffer[8:8 + n].tobytes().decode("utf-8")
        if not text.startswith("{"):
            raise SafetensorError("the header must be a JSON object")
        header = json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise SafetensorError(f"{what}: invalid header: {exc}") from None
    metadata = header.pop("__metadata__", None)
    if metadata is not None and not (type(metadata) is dict and all(type(v) is str for v in metadata.values())):
        raise SafetensorError(f"{what}: __metadata__ must map str to str, got {metadata!r}")
    entries = []
    for name, info in header.items():
        entries.append((name, *_tensor_info(name, info, what)))
    entries.sort(key=lambda e: (e[3], e[4]))
    position, size = 0, total - 8 - n
    for name, dt, shape, begin, end in entries:
        if begin != position or end < begin:
            raise SafetensorError(f"{what}: tensor {name!r} has data_offsets [{begin}, {end}], but the previous tensor "
                                  f"ends at {position} (offsets must tile the buffer without gaps or overlaps)")
        expected = dt.itemsize * int(np.prod(shape, dtype=object))
        if end - begin != expected:
            raise SafetensorError(f"{what}: tensor {name!r} of dtype {_CODES[dt]} and shape {shape} needs {expected} "
                                  f"bytes, but its data_offsets span {end - begin}")
        position = end
    if position != size:
        raise SafetensorError(f"{what}: the tensors cover {position} bytes of the {size}-byte buffer "
                              "(incomplete metadata or truncated file)")
    return entries, 8 + n


def _tensor_info(name: str, info: Any, what: str) -> tuple[dtypes.dtype, list, int, int]:
    if type(info) is not dict:
        raise SafetensorError(f"{what}: tensor {name!r} must be described by an object, got {info!r}")
    code, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
    if code not in _BY_CODE:
        raise SafetensorError(f"{what}: tensor {name!r} has dtype {code!r}, which ember does not support "
                              f"(it reads {', '.join(_BY_CODE)})")
    if type(shape) is not list or not all(type(s) is int and s >= 0 for s in shape):
        raise SafetensorError(f"{what}: tensor {name!r} has a bad shape {shape!r}")
    if type(offsets) is not list or len(offsets) != 2 or not all(type(o) is int and o >= 0 for o in offsets):
        raise SafetensorError(f"{what}: tensor {name!r} has bad data_offsets {offsets!r}")
    return _BY_CODE[code], shape, offsets[0], offsets[1]


def _tensors(buffer: np.ndarray, what: str, target: str | _device | int) -> dict[str, Tensor]:
    """The tensors of a whole safetensors file held in the uint8 array ``buffer`` (views where aligned)."""
    entries, start = _parse_header(buffer, what)
    restore = make_restore(f"cuda:{target}" if type(target) is int else target)
    result = {}
    for name, dt, shape, begin, end in entries:
        raw = buffer[start + begin:start + end]
        if (start + begin) % dt.itemsize:
            raw = raw.copy()  # a foreign writer's unaligned tensor: NumPy views need element alignment
        host = typed_host_array(raw, dt, big_endian=False, what=f"{what}: tensor {name!r}")
        shape = tuple(shape)
        result[name] = build_tensor(restore(host, "cpu"), dt, shape, contiguous_strides(shape), 0, False, False,
                                    f"{what}: tensor {name!r}")
    return result


def load(data: bytes) -> dict[str, Tensor]:
    """The tensors stored in safetensors ``data`` (copies: the result does not keep ``data`` alive).

    Raises:
        SafetensorError: a malformed header, an unsupported dtype, or offsets that do not tile the buffer.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"load() expects bytes, got {type(data).__name__}")
    return _tensors(np.frombuffer(data, np.uint8).copy(), "safetensors data", "cpu")


def load_file(filename: str | os.PathLike, device: str | _device | int = "cpu") -> dict[str, Tensor]:
    """The tensors of a safetensors file, placed on ``device``.

    Raises:
        SafetensorError: a malformed or truncated file (the message names the tensor at fault).
        FileNotFoundError: no such file.
    """
    path = os.fspath(filename)
    return _tensors(np.fromfile(path, dtype=np.uint8), f"safetensors file {path!r}", device)
