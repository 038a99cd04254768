"""``ember.save`` and ``ember.load``: PyTorch's signatures over ember's own format, reading PyTorch files too.

``save`` writes the weights-only JSON tree when every value in the object fits it (tensors, containers,
plain values) and falls back to pickle, tensors still as raw storages, when it does not. ``load`` tells
the formats apart by their first bytes: ember's magic, a zip archive (PyTorch), PyTorch's legacy magic.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
from collections.abc import Iterator
from typing import IO, Any, BinaryIO

from .atomic import atomic_write
from .ember_format import MAGIC, ContainerReader, write_container
from .locations import make_restore
from .tensors import TensorTable
from .torch_format import LEGACY_MAGIC_PREFIX, load_torch_legacy, load_torch_zip
from .tree import NotExpressible, decode_tree, encode_tree

__all__ = ["save", "load"]

FileLike = str | os.PathLike | IO[bytes]
_PERSISTENT_PREFIX = "tensor:"


def _is_path(f: Any) -> bool:
    return isinstance(f, str | os.PathLike)


def _pickle_bytes(obj: Any, table: TensorTable, pickle_module: Any, protocol: int) -> bytes:
    """Pickle ``obj`` with every ember tensor replaced by a persistent id into ``table``."""
    from ..nn.parameter import Parameter
    from ..tensor.tensor import Tensor

    class TensorPickler(pickle_module.Pickler):
        def persistent_id(self, value: Any) -> str | None:
            if type(value) is Tensor or type(value) is Parameter:
                return f"{_PERSISTENT_PREFIX}{table.add(value)}"
            return None

    buffer = io.BytesIO()
    TensorPickler(buffer, protocol=protocol).dump(obj)
    return buffer.getvalue()


def save(obj: object, f: FileLike, pickle_module: Any = None, pickle_protocol: int = 2,
         _use_new_zipfile_serialization: bool = True) -> None:
    """Saves an object to a disk file or a binary file-like object.

    Tensors (views keep sharing one storage), Parameters, dicts, OrderedDicts, lists, tuples, None, bool, int,
    float, str, ``ember.dtype``, ``ember.device`` and ``ember.Size`` are written as a JSON tree that
    :func:`load` reads without pickle. Any other object (a whole ``nn.Module``) is pickled, with its tensors
    still written as raw storages; loading such a file needs ``weights_only=False``. A path is written
    atomically: a failed save leaves any previous file untouched. See ``docs/serialization.md``.

    Args:
        obj: the object to save.
        f: a path (str or os.PathLike) or a binary file-like object with ``write``.
        pickle_module: the module whose ``Pickler`` serializes objects outside the JSON tree (default pickle).
        pickle_protocol: the pickle protocol for those objects.
        _use_new_zipfile_serialization: accepted for PyTorch compatibility; ember always writes its format.

    Example::

        >>> ember.save(model.state_dict(), "model.pt")
    """
    table = TensorTable()
    pickle_bytes = None
    try:
        body: dict[str, Any] = {"root": encode_tree(obj, table)}
    except NotExpressible as reason:
        table = TensorTable()
        pickle_bytes = _pickle_bytes(obj, table, pickle_module or pickle, pickle_protocol)
        body = {"pickle": {"protocol": pickle_protocol, "reason": str(reason)}}
    if _is_path(f):
        with atomic_write(f) as out:
            write_container(out, table, body, pickle_bytes)
    elif hasattr(f, "write"):
        write_container(f, table, body, pickle_bytes)
    else:
        raise AttributeError(
            f"expected 'f' to be string, path, or a file-like object with a 'write' attribute, got {type(f).__name__}"
        )


@contextlib.contextmanager
def _open_for_reading(f: FileLike) -> Iterator[tuple[BinaryIO, str | None, str]]:
    """(seekable binary file, its path or None, how errors name it)."""
    if _is_path(f):
        path = os.fspath(f)
        with open(path, "rb") as stream:
            yield stream, path, f"ember.load: file {path!r}"
        return
    if not hasattr(f, "read"):
        raise AttributeError(
            f"expected 'f' to be string, path, or a file-like object with a 'read' attribute, got {type(f).__name__}"
        )
    seekable = getattr(f, "seekable", None)
    yield (f if seekable is not None and seekable() else io.BytesIO(f.read())), None, \
        f"ember.load: the {type(f).__name__} object"


def _peek(stream: BinaryIO, n: int) -> bytes:
    start = stream.tell()
    head = stream.read(n)
    stream.seek(start)
    return head


def _unknown_format(head: bytes, what: str) -> RuntimeError:
    if not head:
        return RuntimeError(f"{what} is empty: there is nothing to load")
    if MAGIC.startswith(head):
        return RuntimeError(f"{what} is not a valid ember checkpoint: truncated after {len(head)} bytes")
    if len(head) >= 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < 100_000_000:
        return RuntimeError(f"{what} is a safetensors file: read it with ember.serialize.safetensors.load_file")
    return RuntimeError(
        f"{what} is not a checkpoint ember can read: it starts with {head[:8]!r}, not the ember magic "
        f"{MAGIC!r}, a zip archive (PyTorch's format) or PyTorch's legacy magic number"
    )


def _load_ember(stream: BinaryIO, path: str | None, what: str, restore: Any, weights_only: bool, mmap: bool,
                pickle_module: Any, pickle_load_args: dict) -> Any:
    reader = ContainerReader(stream, what, path)
    if reader.pickle_info is not None and weights_only:
        reason = reader.pickle_info.get("reason")
        raise pickle.UnpicklingError(
            f"{what}: weights_only=True refuses this file: it holds arbitrary Python objects"
            + (f" ({reason})" if isinstance(reason, str) and reason else "")
            + ", which ember.save wrote with pickle, and unpickling them can run any code the file contains. "
            "Pass weights_only=False only if you trust the source of the file."
        )
    tensors = reader.load_tensors(restore, use_mmap=mmap)
    if reader.pickle_info is None:
        return decode_tree(reader.header["root"], tensors, what)

    def persistent_load(pid: Any) -> Any:
        digits = pid[len(_PERSISTENT_PREFIX):] if isinstance(pid, str) and pid.startswith(_PERSISTENT_PREFIX) else ""
        if not digits.isdigit() or int(digits) >= len(tensors):
            raise pickle.UnpicklingError(f"{what}: persistent id {pid!r} names no tensor of the file")
        return tensors[int(digits)]

    unpickler = (pickle_module or pickle).Unpickler(io.BytesIO(reader.read_pickle()), **pickle_load_args)
    unpickler.persistent_load = persistent_load
    return unpickler.load()


def load(f: FileLike, map_location: Any = None, pickle_module: Any = None, *, weights_only: bool | None = True,
         mmap: bool | None = None, **pickle_load_args: Any) -> Any:
    """Loads an object saved with :func:`save`, or with ``torch.save`` (without importing torch).

    With ``weights_only=True`` (the default; None means the default) nothing from the file is executed:
    ember files holding pickled objects are refused, and PyTorch files are unpickled by an allow-list that
    rebuilds only tensors, parameters, storages, dtypes and plain containers. ``weights_only=False`` unpickles
    ember files normally, which runs whatever code the file names: use it only for files you trust.
    PyTorch files are read through the allow-list either way.

    Args:
        f: a path (str or os.PathLike) or a binary file-like object with ``read``.
        map_location: where storages go: None (where they were saved), a device string, an ``ember.device``,
            a dict mapping saved locations to new ones, or a callable ``(storage, location) -> storage``.
        pickle_module: the module whose ``Unpickler`` reads pickled objects (only with weights_only=False).
        weights_only: refuse anything but tensors, containers and plain values.
        mmap: map storages from the file (copy-on-write) instead of reading them; needs a path.
        **pickle_load_args: passed to the Unpickler (``encoding`` for Python 2 strings).

    Raises:
        pickle.UnpicklingError: the file needs code the allow-list refuses, or pickled objects under
            ``weights_only=True``.
        RuntimeError: a corrupt, truncated or foreign file (with what is wrong), or a ``map_location`` that
            names a device that cannot be used.

    Example::

        >>> model.load_state_dict(ember.load("model.pt", map_location="cpu"))
    """
    if weights_only is None:
        weights_only = True
    if weights_only and pickle_module is not None:
        raise RuntimeError("Can not safely load weights when explicit pickle_module is specified")
    if mmap and not _is_path(f):
        raise ValueError("f must be a file path in order to use the mmap argument")
    pickle_load_args.setdefault("encoding", "utf-8")
    unexpected = sorted(set(pickle_load_args) - {"encoding"})
    if weights_only and unexpected:
        raise TypeError(f"load() got unexpected keyword arguments {unexpected} (weights_only=True takes 'encoding')")
    restore = make_restore(map_location)
    with _open_for_reading(f) as (stream, path, what):
        head = _peek(stream, 16)
        if head.startswith(MAGIC):
            return _load_ember(stream, path, what, restore, weights_only, bool(mmap), pickle_module, pickle_load_args)
        encoding = pickle_load_args["encoding"]
        if head.startswith(b"PK\x03\x04"):
            return load_torch_zip(stream, what, restore, weights_only=weights_only, encoding=encoding,
                                  mmap_path=path if mmap else None)
        if head.startswith(LEGACY_MAGIC_PREFIX):
            if mmap:
                raise RuntimeError("mmap can only be used with files saved with "
                                   "`torch.save(_use_new_zipfile_serialization=True)`")
            return load_torch_legacy(stream, what, restore, weights_only=weights_only, encoding=encoding)
        raise _unknown_format(head, what)
