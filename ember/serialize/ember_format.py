"""ember's checkpoint container: a fixed preamble, a JSON header, then 64-byte-aligned raw storages.

Layout (all integers little-endian; ``docs/serialization.md`` is the normative description)::

    0   8  magic b"\\x89EMB\\r\\n\\x1a\\n"
    8   2  major version (1)        10  2  minor version (0)
    12  4  CRC-32 of the header     16  8  header length H     24  8  data section length D
    32  H  header: UTF-8 JSON object (storages, tensors, and either "root" or "pickle")
    ... zero padding to the next multiple of 64: the data section starts there and is D bytes long

Each storage, and the optional pickle section, lies at a 64-byte-aligned offset of the data section, in
header order, with a CRC-32 in the header. The file ends exactly at the end of the data section.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from typing import Any, BinaryIO

import numpy as np

from ..tensor import dtypes
from ..tensor.storage import Storage
from ..tensor.tensor import Tensor
from .locations import Restore
from .tensors import DTYPES_BY_NAME, TensorTable, build_tensor, host_bytes, read_array, typed_host_array

__all__ = ["MAGIC", "FORMAT_VERSION", "write_container", "ContainerReader"]

MAGIC = b"\x89EMB\r\n\x1a\n"
FORMAT_VERSION = (1, 0)
ALIGNMENT = 64
MAX_HEADER_BYTES = 1 << 30
_PREAMBLE = struct.Struct("<8sHHIQQ")
_CHUNK = 1 << 24  # padding is skipped in bounded reads on unseekable streams


def _aligned(n: int) -> int:
    return -(-n // ALIGNMENT) * ALIGNMENT


def _crc32(blob: np.ndarray | bytes) -> int:
    return zlib.crc32(memoryview(blob).cast("B")) & 0xFFFFFFFF


def write_container(f: BinaryIO, table: TensorTable, body: dict[str, Any], pickle_bytes: bytes | None = None) -> None:
    """Write ``table``'s storages and tensors plus ``body`` (``{"root": node}`` or ``{"pickle": {...}}``, whose
    section ``pickle_bytes`` fills) as one ember container to the binary file ``f``."""
    blobs = [host_bytes(s) for s in table.storages]
    payload = blobs + ([np.frombuffer(pickle_bytes, np.uint8)] if pickle_bytes is not None else [])
    sections = []
    end = 0
    for blob in payload:
        offset = _aligned(end)
        sections.append({"offset": offset, "nbytes": int(blob.size), "crc32": _crc32(blob)})
        end = offset + blob.size
    storages = []
    for storage, dt, blob, section in zip(table.storages, table.storage_dtypes, blobs, sections, strict=False):
        storages.append({"dtype": dt.name, "numel": blob.size // dt.itemsize, "location": str(storage.device),
                         **section})
    header = {"storages": storages, "tensors": table.records, **body}
    if pickle_bytes is not None:
        header["pickle"] = {**body["pickle"], **sections[-1]}
    header_bytes = json.dumps(header, allow_nan=False, separators=(",", ":")).encode("ascii")
    f.write(_PREAMBLE.pack(MAGIC, *FORMAT_VERSION, _crc32(header_bytes), len(header_bytes), end))
    f.write(header_bytes)
    position = _PREAMBLE.size + len(header_bytes)
    data_start = _aligned(position)
    for blob, section in zip(payload, sections, strict=True):
        target = data_start + section["offset"]
        f.write(b"\0" * (target - position))
        f.write(memoryview(blob).cast("B"))
        position = target + blob.size


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


class ContainerReader:
    """Reads an ember container: the header on construction, storages and the pickle section on request.

    Args:
        f: a binary file positioned at the magic.
        what: how errors name the source ("ember.load: 'model.pt'").
        path: the file's path when there is one (enables the exact-size check and memory mapping).
    """

    def __init__(self, f: BinaryIO, what: str, path: str | None = None):
        self.f, self.what, self.path = f, what, path
        self.position = 0
        magic, major, minor, header_crc, header_len, data_len = _PREAMBLE.unpack(self._read(_PREAMBLE.size, "preamble"))
        if magic != MAGIC:
            raise self.fail("it does not start with the ember magic")
        if major != FORMAT_VERSION[0]:
            raise RuntimeError(
                f"{what}: the file uses ember format version {major}.{minor}, but this ember reads version "
                f"{FORMAT_VERSION[0]}.x; upgrade ember to load it"
            )
        if header_len > MAX_HEADER_BYTES:
            raise self.fail(f"the header claims {header_len} bytes")
        header_bytes = self._read(header_len, "header")
        if _crc32(header_bytes) != header_crc:
            raise self.fail("the header fails its CRC-32 check")
        try:
            header = json.loads(header_bytes.decode("utf-8"), parse_constant=_reject_constant)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise self.fail(f"the header is not valid JSON ({exc})") from None
        if type(header) is not dict or type(header.get("storages")) is not list or type(
                header.get("tensors")) is not list or (("root" in header) == ("pickle" in header)):
            raise self.fail("the header needs 'storages' and 'tensors' lists and exactly one of 'root' and 'pickle'")
        self.header = header
        self.data_start = _aligned(_PREAMBLE.size + header_len)
        self.data_len = data_len
        if path is not None and os.path.getsize(path) != self.data_start + data_len:
            raise self.fail(f"it is {os.path.getsize(path)} bytes long, but its header describes "
                            f"{self.data_start + data_len} bytes (truncated or appended to)")
        self.pickle_info = header.get("pickle")
        if self.pickle_info is not None and type(self.pickle_info) is not dict:
            raise self.fail("the 'pickle' member must be an object")
        self._section_end = 0

    def fail(self, detail: str) -> RuntimeError:
        return RuntimeError(f"{self.what} is not a valid ember checkpoint: {detail}")

    def _read(self, n: int, what: str) -> bytes:
        data = self.f.read(n)
        if len(data) != n:
            raise self.fail(f"truncated: the {what} needs {n} bytes at offset {self.position}, found {len(data)}")
        self.position += n
        return data

    def _section(self, record: Any, what: str) -> tuple[int, int, int]:
        """(offset, nbytes, crc32) of a data section, checked to follow the previous one inside the data."""
        fields = [record.get(k) if type(record) is dict else None for k in ("offset", "nbytes", "crc32")]
        if not all(type(v) is int and v >= 0 for v in fields):
            raise self.fail(f"{what} needs non-negative integer offset, nbytes and crc32, got {record!r}")
        offset, nbytes, crc = fields
        if offset % ALIGNMENT:
            raise self.fail(f"{what} starts at offset {offset}, not a multiple of {ALIGNMENT}")
        if offset < self._section_end or offset + nbytes > self.data_len:
            raise self.fail(f"{what} at bytes [{offset}, {offset + nbytes}) of the data section overlaps another "
                            f"section or lies outside the {self.data_len}-byte data section")
        self._section_end = offset + nbytes
        return offset, nbytes, crc

    def _read_section(self, offset: int, nbytes: int, crc: int, what: str, mapped: np.ndarray | None) -> np.ndarray:
        start = self.data_start + offset
        if mapped is not None:
            return mapped[start:start + nbytes]
        if self.position < start and self.f.seekable():
            self.f.seek(start - self.position, os.SEEK_CUR)
            self.position = start
        while self.position < start:
            self._read(min(start - self.position, _CHUNK), f"padding before {what}")
        try:
            raw = read_array(self.f, nbytes, what)
        except RuntimeError as exc:
            raise self.fail(str(exc)) from None
        self.position += nbytes
        if _crc32(raw) != crc:
            raise self.fail(f"{what} fails its CRC-32 check (the data is corrupt)")
        return raw

    def load_tensors(self, restore: Restore, use_mmap: bool = False) -> list[Tensor]:
        """Every tensor of the file, its storages placed by ``restore``; with ``use_mmap`` the storages are
        copy-on-write maps of the file (no CRC check, nothing read until used)."""
        mapped = None
        if use_mmap:
            mapped = np.memmap(self.path, dtype=np.uint8, mode="c").view(np.ndarray)
        storages: list[tuple[Storage, dtypes.dtype]] = []
        for i, record in enumerate(self.header["storages"]):
            what = f"storage {i}"
            dt = DTYPES_BY_NAME.get(record.get("dtype")) if type(record) is dict else None
            location = record.get("location") if type(record) is dict else None
            if dt is None or type(location) is not str:
                raise self.fail(f"{what} needs a known dtype and a location, got {record!r}")
            offset, nbytes, crc = self._section(record, what)
            if record.get("numel") != nbytes // dt.itemsize:
                raise self.fail(f"{what}: numel {record.get('numel')!r} does not match {nbytes} bytes of {dt.name}")
            raw = self._read_section(offset, nbytes, crc, what, mapped)
            host = typed_host_array(raw, dt, big_endian=False, what=f"{self.what}: {what}")
            storages.append((restore(host, location), dt))
        return [self._tensor(i, record, storages) for i, record in enumerate(self.header["tensors"])]

    def _tensor(self, i: int, record: Any, storages: list[tuple[Storage, dtypes.dtype]]) -> Tensor:
        index = record.get("storage") if type(record) is dict else None
        if type(index) is not int or not 0 <= index < len(storages):
            raise self.fail(f"tensor {i} names storage {index!r}, but the file has {len(storages)}")
        storage, dt = storages[index]
        return build_tensor(storage, dt, record.get("shape"), record.get("stride"), record.get("offset"),
                            record.get("requires_grad"), record.get("parameter") is True, f"{self.what}: tensor {i}")

    def read_pickle(self) -> bytes:
        """The pickle section's bytes (call after :meth:`load_tensors`: sections are read in file order)."""
        offset, nbytes, crc = self._section(self.pickle_info, "the pickle section")
        return self._read_section(offset, nbytes, crc, "the pickle section", None).tobytes()

