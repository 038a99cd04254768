"""Reading PyTorch ``.pt``/``.pth`` checkpoints without torch: the zip format (torch >= 1.6) and the legacy
stream format (``_use_new_zipfile_serialization=False``).

The pickle inside is run by :class:`RestrictedUnpickler` with an allow-list of the names ``torch.save``
writes for tensors, parameters, storages, dtypes, ``Size``, ``device`` and plain containers; each resolves to
ember's own code, so torch is never imported. Storages become ember storages (one per saved storage, so
views and tied weights stay shared), placed by ``map_location``.
"""

from __future__ import annotations

import io
import struct
import zipfile
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import numpy as np

from ..nn.parameter import Parameter
from ..tensor import dtypes
from ..tensor.devices import device
from ..tensor.storage import Storage
from ..tensor.tensor import Size, Tensor
from .locations import Restore
from .restricted_pickle import Allowed, RestrictedUnpickler, UnpicklingError, latin1_encode
from .tensors import DTYPES_BY_NAME, build_tensor, read_array, typed_host_array

__all__ = ["LEGACY_MAGIC_PREFIX", "load_torch_zip", "load_torch_legacy"]

_STORAGE_DTYPES = {"DoubleStorage": "float64", "FloatStorage": "float32", "HalfStorage": "float16",
                   "BFloat16Storage": "bfloat16", "LongStorage": "int64", "IntStorage": "int32",
                   "ShortStorage": "int16", "CharStorage": "int8", "ByteStorage": "uint8", "BoolStorage": "bool"}
_UNSUPPORTED = ("complex32", "complex64", "complex128", "cfloat", "cdouble", "uint16", "uint32", "uint64",
                "float8_e5m2", "float8_e4m3fn", "float8_e5m2fnuz", "float8_e4m3fnuz", "float8_e8m0fnu",
                "float4_e2m1fn_x2", "qint8", "quint8", "qint32", "quint4x2", "quint2x4", "ComplexDoubleStorage",
                "ComplexFloatStorage", "QInt8Storage", "QUInt8Storage", "QInt32Storage", "QUInt4x2Storage",
                "QUInt2x4Storage")
# torch.save(..., _use_new_zipfile_serialization=False) starts with this int pickled at protocol 2.
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_MAGIC_PREFIX = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"
_LEGACY_PROTOCOL = 1001
_TORCH_ONLY = ("ember reads PyTorch files only through this allow-list, even with weights_only=False, since it never "
               "imports torch: save a state_dict (tensors and plain values) in PyTorch instead of whole objects.")


@dataclass(frozen=True)
class _StorageType:
    """What ``torch.FloatStorage`` & co. unpickle to: the element dtype (None for ``UntypedStorage``: bytes)."""

    name: str
    dtype: dtypes.dtype | None


@dataclass(frozen=True)
class _TensorType:
    """What ``torch.Tensor`` and ``torch.nn.Parameter`` unpickle to (the ``new_type`` of a rebuild)."""

    name: str


_TENSOR, _PARAMETER = _TensorType("torch.Tensor"), _TensorType("torch.nn.Parameter")


@dataclass
class _Entry:
    """One saved storage (archive key): its raw bytes and the ember storage made for each dtype viewing it."""

    key: str
    location: str
    numel: int
    nbytes: int
    raw: np.ndarray | None = None
    typed: dict[dtypes.dtype, Storage] = field(default_factory=dict)


@dataclass(frozen=True)
class _StorageRef:
    """A persistent id resolved: an entry, the dtype it was saved as, and (legacy views) an element offset."""

    entry: _Entry
    dtype: dtypes.dtype | None
    offset: int = 0


def _empty_state(state: Any) -> bool:
    return state is None or state == {} or (type(state) is tuple and all(s is None or s == {} for s in state))


class _TorchReader:
    """The allow-list and persistent ids of one torch checkpoint, and the tensors they rebuild."""

    def __init__(self, what: str, restore: Restore, big_endian: bool,
                 read_record: Callable[[str, int], np.ndarray] | None = None):
        self.what, self.restore, self.big_endian, self.read_record = what, restore, big_endian, read_record
        self.entries: dict[str, _Entry] = {}
        self.collect_only = False  # legacy files: a first pass only learns the storages

    def unpickler(self, f: BinaryIO, refusal: str, encoding: str) -> RestrictedUnpickler:
        return RestrictedUnpickler(f, self.allowed(), self.persistent_load, what=self.what, refusal=refusal,
                                   encoding=encoding)

    def allowed(self) -> dict[tuple[str, str], Allowed]:
        rebuild = {"_rebuild_tensor_v2": self.rebuild_tensor_v2, "_rebuild_tensor_v3": self.rebuild_tensor_v3,
                   "_rebuild_parameter": self.rebuild_parameter,
                   "_rebuild_parameter_with_state": self.rebuild_parameter_with_state}
        allowed = {("torch._utils", name): Allowed(fn, fn) for name, fn in rebuild.items()}
        for module in ("torch._tensor", "torch.tensor"):
            allowed[(module, "_rebuild_from_type_v2")] = Allowed(self.rebuild_from_type_v2, self.rebuild_from_type_v2)
        for cls in (OrderedDict, Counter):
            allowed[("collections", cls.__name__)] = Allowed(cls, cls)
        for cls in (set, frozenset, bytearray, complex):
            allowed[("builtins", cls.__name__)] = Allowed(cls, cls)
        allowed[("_codecs", "encode")] = Allowed(latin1_encode, latin1_encode)
        allowed[("torch", "Size")] = Allowed(Size, Size)
        allowed[("torch", "device")] = Allowed(device, device)
        allowed[("torch", "Tensor")] = allowed[("torch._tensor", "Tensor")] = Allowed(_TENSOR)
        allowed[("torch.nn.parameter", "Parameter")] = Allowed(_PARAMETER, Parameter)
        for name, dt in DTYPES_BY_NAME.items():
            allowed[("torch", name)] = Allowed(dt)
        for name, dt_name in _STORAGE_DTYPES.items():
            allowed[("torch", name)] = Allowed(_StorageType(name, DTYPES_BY_NAME[dt_name]))
        for module in ("torch", "torch.storage"):
            allowed[(module, "UntypedStorage")] = Allowed(_StorageType("UntypedStorage", None))
        for name in _UNSUPPORTED:
            allowed[("torch", name)] = Allowed(refuse=f"the checkpoint holds torch.{name} data, which has no ember "
                                                      f"dtype (ember has {', '.join(DTYPES_BY_NAME)})")
        return allowed

    # ----- persistent ids: ('storage', storage_type, key, location, numel[, view_metadata]) ---------------
    def persistent_load(self, pid: Any) -> _StorageRef:
        if type(pid) is not tuple or len(pid) not in (5, 6) or pid[0] not in ("storage", b"storage"):
            raise UnpicklingError(f"only storages may be persistent ids, got {pid!r}")
        storage_type, key, location, numel = pid[1:5]
        location = location.decode("ascii") if type(location) is bytes else location
        key = str(key)
        if type(storage_type) is not _StorageType or type(location) is not str or type(numel) is not int or numel < 0:
            raise UnpicklingError(f"malformed storage id {pid!r}")
        itemsize = storage_type.dtype.itemsize if storage_type.dtype is not None else 1
        entry = self.entries.get(key)
        if entry is None:
            entry = self.entries[key] = _Entry(key, location, numel, numel * itemsize)
        view = pid[5] if len(pid) == 6 else None
        if view is None:
            return _StorageRef(entry, storage_type.dtype)
        if type(view) is not tuple or len(view) != 3 or type(view[1]) is not int or view[1] < 0:
            raise UnpicklingError(f"malformed storage view {view!r}")
        return _StorageRef(entry, storage_type.dtype, view[1])

    def _storage(self, entry: _Entry, dt: dtypes.dtype) -> Storage:
        found = entry.typed.get(dt)
        if found is None:
            if entry.raw is None:
                entry.raw = self.read_record(entry.key, entry.nbytes)
            what = f"{self.what}: storage '{entry.key}'"
            host = typed_host_array(entry.raw, dt, big_endian=self.big_endian, what=what)
            found = entry.typed[dt] = self.restore(host, entry.location)
        return found

    # ----- the rebuild functions torch.save names -------------------------------------------------------------
    def _tensor(self, ref: Any, offset: Any, size: Any, stride: Any, requires_grad: Any, hooks: Any,
                dt: dtypes.dtype | None, metadata: Any) -> Tensor | None:
        if type(ref) is not _StorageRef:
            raise UnpicklingError(f"a tensor must be rebuilt from a storage, got {type(ref).__name__}")
        if hooks is not None and hooks != {}:
            raise UnpicklingError("tensors with backward hooks cannot be loaded")
        if metadata:
            raise UnpicklingError(f"tensor metadata {metadata!r} is not supported by ember")
        if ref.dtype is not None and dt is not None and ref.dtype is not dt:
            raise UnpicklingError(f"a {ref.dtype.name} storage rebuilt as a {dt.name} tensor")
        dt = dt or ref.dtype
        if type(dt) is not dtypes.dtype:
            raise UnpicklingError(f"a tensor over untyped storage needs a dtype, got {dt!r}")
        if self.collect_only:
            return None
        if type(offset) is not int:
            raise UnpicklingError(f"storage offset must be an integer, got {offset!r}")
        return build_tensor(self._storage(ref.entry, dt), dt, size, stride, ref.offset + offset, requires_grad,
                            False, f"{self.what}: tensor on storage '{ref.entry.key}'")

    def rebuild_tensor_v2(self, storage, storage_offset, size, stride, requires_grad, backward_hooks, metadata=None):
        return self._tensor(storage, storage_offset, size, stride, requires_grad, backward_hooks, None, metadata)

    def rebuild_tensor_v3(self, storage, storage_offset, size, stride, requires_grad, backward_hooks, dtype,
                          metadata=None):
        return self._tensor(storage, storage_offset, size, stride, requires_grad, backward_hooks, dtype, metadata)

    def rebuild_parameter(self, data, requires_grad, backward_hooks):
        return self.rebuild_parameter_with_state(data, requires_grad, backward_hooks, None)

    def rebuild_parameter_with_state(self, data, requires_grad, backward_hooks, state):
        if self.collect_only:
            return None
        if not isinstance(data, Tensor) or type(requires_grad) is not bool:
            raise UnpicklingError(f"malformed Parameter ({type(data).__name__}, {requires_grad!r})")
        if backward_hooks is not None and backward_hooks != {}:
            raise UnpicklingError("parameters with backward hooks cannot be loaded")
        if type(state) is tuple:
            # (dict state, slots state), as object.__getstate__ gives for classes with __slots__.
            if len(state) != 2 or not _empty_state(state[1]):
                raise UnpicklingError(f"unsupported Parameter state {state!r}")
            state = state[0]
        if state is not None and type(state) is not dict:
            raise UnpicklingError(f"unsupported Parameter state {state!r}")
        param = Parameter(data, requires_grad)
        for name, value in (state or {}).items():
            if type(name) is not str or not name.isidentifier() or hasattr(Parameter, name):
                raise UnpicklingError(f"refused Parameter attribute {name!r}")
            vars(param)[name] = value
        return param

    def rebuild_from_type_v2(self, func, new_type, args, state):
        if func not in (self.rebuild_tensor_v2, self.rebuild_tensor_v3, self.rebuild_parameter,
                        self.rebuild_parameter_with_state) or type(args) is not tuple:
            raise UnpicklingError(f"_rebuild_from_type_v2 of {func!r} refused")
        if new_type not in (_TENSOR, _PARAMETER):
            raise UnpicklingError(f"tensor subclass {new_type!r} refused: {_TORCH_ONLY}")
        if not _empty_state(state):
            raise UnpicklingError(f"tensors with Python attributes ({state!r}) are not supported")
        result = func(*args)
        if new_type is _PARAMETER and result is not None and not isinstance(result, Parameter):
            result = Parameter(result, result.requires_grad)
        return result


def _refusal(weights_only: bool) -> str:
    if weights_only:
        return ("weights_only=True loads only tensors, containers and plain values; the file asks for another "
                "Python object. " + _TORCH_ONLY)
    return _TORCH_ONLY


def _find_prefix(names: list[str], what: str) -> str:
    if any(n.endswith("/constants.pkl") for n in names):
        raise RuntimeError(f"{what} is a TorchScript archive (torch.jit.save); ember.load reads torch.save checkpoints")
    pickles = [n[: -len("/data.pkl")] for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
    if len(pickles) == 1:
        return pickles[0]
    raise RuntimeError(f"{what} is a zip archive but not a PyTorch checkpoint: it has no single '<name>/data.pkl'")


def _stored_offset(mapped: np.ndarray, info: zipfile.ZipInfo) -> int | None:
    """Where an uncompressed member's bytes start in the file (past its local header), for memory mapping."""
    header = mapped[info.header_offset:info.header_offset + 30].tobytes()
    if info.compress_type != zipfile.ZIP_STORED or len(header) != 30 or header[:4] != b"PK\x03\x04":
        return None
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    return info.header_offset + 30 + name_len + extra_len


def load_torch_zip(f: BinaryIO, what: str, restore: Restore, *, weights_only: bool, encoding: str,
                   mmap_path: str | None = None) -> Any:
    """The object saved by ``torch.save`` in the zip format, tensors as ember tensors."""
    try:
        archive = zipfile.ZipFile(f)
        prefix = _find_prefix(archive.namelist(), what)
        byteorder = archive.read(f"{prefix}/byteorder") if f"{prefix}/byteorder" in archive.namelist() else b"little"
        data_pkl = archive.read(f"{prefix}/data.pkl")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
        raise RuntimeError(f"{what} is not a readable PyTorch checkpoint: {exc}") from None
    if byteorder not in (b"little", b"big"):
        raise RuntimeError(f"{what}: unknown byteorder record {byteorder[:20]!r}")
    mapped = np.memmap(mmap_path, dtype=np.uint8, mode="c").view(np.ndarray) if mmap_path else None

    def read_record(key: str, nbytes: int) -> np.ndarray:
        name = f"{prefix}/data/{key}"
        try:
            info = archive.getinfo(name)
        except KeyError:
            raise RuntimeError(f"{what}: storage '{key}' is missing from the archive ({name})") from None
        if info.file_size != nbytes:
            raise RuntimeError(f"{what}: storage '{key}' should hold {nbytes} bytes, the archive has {info.file_size}")
        start = _stored_offset(mapped, info) if mapped is not None else None
        if start is not None and start + nbytes <= mapped.size:
            return mapped[start:start + nbytes]
        try:
            with archive.open(info) as member:
                raw = read_array(member, nbytes, f"{what}: storage '{key}'")
                member.read(1)  # reaching EOF is what makes zipfile verify the CRC
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            raise RuntimeError(f"{what}: storage '{key}' is corrupt: {exc}") from None
        return raw

    reader = _TorchReader(what, restore, byteorder == b"big", read_record)
    return reader.unpickler(io.BytesIO(data_pkl), _refusal(weights_only), encoding).load()


def load_torch_legacy(f: BinaryIO, what: str, restore: Restore, *, weights_only: bool, encoding: str) -> Any:
    """The object saved by ``torch.save(..., _use_new_zipfile_serialization=False)``: header pickles, the main
    pickle, the storage keys, then each storage as an int64 element count and its bytes."""
    plain = {}

    def header(name: str) -> Any:
        return RestrictedUnpickler(f, plain, what=what, refusal=f"the {name} of a legacy torch file is a plain value",
                                   encoding=encoding).load()

    if header("magic number") != _LEGACY_MAGIC:
        raise RuntimeError(f"{what}: invalid magic number; corrupt file?")
    protocol = header("protocol version")
    if protocol != _LEGACY_PROTOCOL:
        raise RuntimeError(f"{what}: invalid protocol version: {protocol}")
    sys_info = header("system info")
    big_endian = type(sys_info) is dict and sys_info.get("little_endian") is False
    reader = _TorchReader(what, restore, big_endian)
    start = f.tell()
    # The storages follow the main pickle, and their sizes come from its persistent ids: one pass to learn
    # them, then the real pass once every storage's bytes are in memory.
    reader.collect_only = True
    reader.unpickler(f, _refusal(weights_only), encoding).load()
    keys = header("storage key list")
    if type(keys) is not list:
        raise RuntimeError(f"{what}: corrupt legacy checkpoint: the storage keys are not a list")
    for key in keys:
        entry = reader.entries.get(str(key))
        if entry is None:
            raise RuntimeError(f"{what}: corrupt legacy checkpoint: storage key {key!r} is never used")
        count = f.read(8)
        if len(count) != 8 or struct.unpack(">q" if big_endian else "<q", count)[0] != entry.numel:
            raise RuntimeError(f"{what}: corrupt or truncated legacy checkpoint at storage '{entry.key}'")
        raw = read_array(f, entry.nbytes, f"{what}: storage '{entry.key}'")
        entry.raw = raw
    end = f.tell()
    f.seek(start)
    reader.collect_only = False
    result = reader.unpickler(f, _refusal(weights_only), encoding).load()
    f.seek(end)
    return result
