"""The ``.ember`` container: write it (atomically, deterministically) and read it back with every check.

The normative description is ``docs/artifact-format.md``; in short::

    header (128 bytes) | section | section | ... | manifest (JSON) | SHA-256 of everything before it (32 bytes)

Sections and the manifest start at 64-byte aligned offsets (zero padding between). The header records the
format version, the file's length, where the manifest lies and its SHA-256; the manifest lists the sections
(kind, name, offset, length, SHA-256) and the tensor table (name, dtype, shape, offset in its section, byte
count, SHA-256). The writer sorts JSON keys and records no timestamp, so the same content gives the same bytes.

The reader maps the file read-only and checks, in this order: magic, major version, length, the manifest's
place, the whole-file checksum (a mismatch is traced to the part whose own checksum fails), the manifest's
checksum and schema, every section's place and checksum, every tensor's place, size and checksum. Weights come
back as read-only NumPy views of the mapping (no copy); nothing in the file is ever unpickled or executed here.
"""

from __future__ import annotations

import hashlib
import json
import math
import mmap
import os
import struct
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import (
    BadMagic,
    ChecksumMismatch,
    MalformedManifest,
    MalformedSection,
    OffsetOutOfRange,
    Truncated,
    UnsupportedVersion,
)

__all__ = ["ALIGNMENT", "DTYPES", "FORMAT_VERSION", "HEADER_SIZE", "MAGIC", "Artifact", "Section",
           "encode_artifact", "pack_tensors", "read_artifact", "write_artifact"]

MAGIC = b"EMBERART"
FORMAT_VERSION = (1, 0)
ALIGNMENT = 64
# magic, major, minor, header size, file length, manifest offset, manifest length, manifest SHA-256, reserved
_HEADER = struct.Struct("<8sHHIQQQ32s56x")
HEADER_SIZE = _HEADER.size
_DIGEST = 32
# The dtypes a tensor may have (NumPy names; stored little-endian).
DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16", "float32",
          "float64", "complex64", "complex128")


def _padding(offset: int) -> int:
    return -offset % ALIGNMENT


def _sha256(data) -> str:
    return hashlib.sha256(data).hexdigest()


def _storage_dtype(name: str) -> np.dtype:
    return np.dtype(name).newbyteorder("<")


def canonical_json(value: object) -> bytes:
    """``value`` as the deterministic JSON the format stores (sorted keys, no spaces, UTF-8, no NaN)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


@dataclass(frozen=True)
class Section:
    """One section to write: its kind (``weights``, ``cpu.llvm_ir``, ``cuda.cubin``...), a unique name, its bytes,
    and kind-specific attributes stored in its manifest entry (``{"arch": "sm_90"}`` for a CUBIN)."""

    kind: str
    name: str
    data: bytes | memoryview
    attributes: Mapping[str, object] = field(default_factory=dict)


def pack_tensors(named: Sequence[tuple[str, np.ndarray]], section: str = "weights") -> tuple[bytes, list[dict]]:
    """The bytes of a weights section holding ``named`` arrays (each 64-byte aligned, C order, little-endian) and
    their tensor-table entries, in order.

    Raises:
        ValueError: a dtype outside :data:`DTYPES`, or a name used twice.
    """
    chunks, table, offset, seen = [], [], 0, set()
    for name, array in named:
        array = np.asarray(array)
        if array.dtype.name not in DTYPES:
            raise ValueError(f"tensor '{name}' has dtype {array.dtype}, which an artifact cannot store "
                             f"(supported: {', '.join(DTYPES)})")
        if name in seen:
            raise ValueError(f"two tensors are named '{name}'")
        seen.add(name)
        data = np.ascontiguousarray(array, dtype=_storage_dtype(array.dtype.name)).tobytes()
        chunks.append(data + bytes(_padding(len(data))))
        table.append({"name": name, "dtype": array.dtype.name, "shape": [int(d) for d in array.shape],
                      "section": section, "offset": offset, "nbytes": len(data), "sha256": _sha256(data)})
        offset += len(chunks[-1])
    return b"".join(chunks), table


def _layout(manifest: Mapping, sections: Sequence[Section]) -> tuple[bytes, list[tuple[int, bytes | memoryview]]]:
    """The manifest bytes (with ``format`` and ``sections`` filled in) and each section's file offset."""
    names = [s.name for s in sections]
    if len(set(names)) != len(names):
        raise ValueError(f"section names must be unique, got {names}")
    body = {k: v for k, v in manifest.items() if k not in ("format", "sections")}
    offset, placed, entries = HEADER_SIZE + _padding(HEADER_SIZE), [], []
    for section in sections:
        entries.append({**dict(section.attributes), "kind": section.kind, "name": section.name, "offset": offset,
                        "length": len(section.data), "sha256": _sha256(section.data)})
        placed.append((offset, section.data))
        offset += len(section.data) + _padding(len(section.data))
    body["format"] = {"name": "ember-artifact", "version": list(FORMAT_VERSION)}
    body["sections"] = entries
    return canonical_json(body), placed


def _chunks(manifest: Mapping, sections: Sequence[Section]) -> Iterator[bytes | memoryview]:
    """The file's bytes, in order, the whole-file checksum last."""
    manifest_bytes, placed = _layout(manifest, sections)
    manifest_offset = (placed[-1][0] + len(placed[-1][1]) if placed else HEADER_SIZE)
    manifest_offset += _padding(manifest_offset)
    file_length = manifest_offset + len(manifest_bytes) + _padding(len(manifest_bytes)) + _DIGEST
    digest = hashlib.sha256()
    header = _HEADER.pack(MAGIC, *FORMAT_VERSION, HEADER_SIZE, file_length, manifest_offset, len(manifest_bytes),
                          hashlib.sha256(manifest_bytes).digest())
    position = 0
    for offset, data in [(0, header), *placed, (manifest_offset, manifest_bytes)]:
        for chunk in (bytes(offset - position), data):
            digest.update(chunk)
            yield chunk
        position = offset + len(data)
    tail = bytes(file_length - _DIGEST - position)
    digest.update(tail)
    yield tail
    yield digest.digest()


def encode_artifact(manifest: Mapping, sections: Sequence[Section]) -> bytes:
    """The whole artifact as bytes (see :func:`write_artifact`)."""
    return b"".join(_chunks(manifest, sections))


def write_artifact(path: str | os.PathLike, manifest: Mapping, sections: Sequence[Section]) -> None:
    """Write an artifact atomically: to a temporary file beside ``path``, then ``os.replace`` (a reader never
    sees half a file). ``manifest`` holds everything but ``format`` and ``sections``, which are filled in here
    (offsets, lengths, checksums); a tensor table refers to its section by name, with offsets inside it."""
    path = Path(path)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in _chunks(manifest, sections):
                out.write(chunk)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


@dataclass
class Artifact:
    """A verified artifact: its manifest, its sections (read-only views of the mapped file, by name) and its
    tensors (read-only NumPy views, in table order, by name)."""

    path: str
    version: tuple[int, int]
    manifest: dict
    sections: dict[str, memoryview]
    tensors: dict[str, np.ndarray]

    def section_entry(self, name: str) -> dict:
        return next(e for e in self.manifest["sections"] if e["name"] == name)

    def text(self, name: str) -> str:
        """Section ``name`` decoded as UTF-8 (``MalformedManifest`` if it is missing or not text)."""
        if name not in self.sections:
            raise MalformedManifest(self.path, "manifest", f"names the section '{name}', which the file lacks",
                                    expected="a section of that name", found=sorted(self.sections))
        try:
            return bytes(self.sections[name]).decode("utf-8")
        except UnicodeDecodeError as error:
            raise MalformedSection(self.path, f"section '{name}'", "is not UTF-8 text",
                                    offset=self.section_entry(name)["offset"] + error.start) from None

    def to_sections(self) -> list[Section]:
        """The sections as :func:`write_artifact` takes them (so a loaded artifact saves to the same bytes)."""
        reserved = ("kind", "name", "offset", "length", "sha256")
        return [Section(e["kind"], e["name"], self.sections[e["name"]],
                        {k: v for k, v in e.items() if k not in reserved}) for e in self.manifest["sections"]]

    def save(self, path: str | os.PathLike) -> None:
        write_artifact(path, self.manifest, self.to_sections())


# -- reading ----------------------------------------------------------------------------------------------------
def read_artifact(path: str | os.PathLike) -> Artifact:
    """Map ``path`` read-only and verify it (module docstring); the weights stay memory-mapped.

    Raises:
        ArtifactError: a subclass naming the failed check, the part of the file and the offset.
        OSError: the file cannot be opened.
    """
    path = str(path)
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size < len(MAGIC):
            data = f.read()
            if MAGIC.startswith(data):
                raise Truncated(path, "header", "the file ends inside the magic", offset=0, expected=HEADER_SIZE,
                                found=f"{size} bytes")
            raise BadMagic(path, "header", "not an ember artifact", offset=0, expected=MAGIC, found=data)
        mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    view = memoryview(mapped)
    version, header_size, manifest_offset, manifest_length, manifest_digest = _check_header(path, view)
    _check_whole_file(path, view, manifest_offset, manifest_length, manifest_digest)
    manifest_bytes = view[manifest_offset:manifest_offset + manifest_length]
    if hashlib.sha256(manifest_bytes).digest() != manifest_digest:
        raise ChecksumMismatch(path, "manifest", "the manifest's SHA-256 differs from the header's",
                               offset=manifest_offset, expected=manifest_digest.hex(),
                               found=_sha256(manifest_bytes))
    manifest = _parse_manifest(path, manifest_bytes, version)
    sections = _check_sections(path, view, manifest, header_size, manifest_offset)
    tensors = _check_tensors(path, manifest, sections, mapped)
    return Artifact(path, version, manifest, {name: view[a:b] for name, (a, b) in sections.items()}, tensors)


def _check_header(path: str, view: memoryview) -> tuple[tuple[int, int], int, int, int, bytes]:
    if bytes(view[:len(MAGIC)]) != MAGIC:
        raise BadMagic(path, "header", "not an ember artifact", offset=0, expected=MAGIC, found=bytes(view[:8]))
    if len(view) < HEADER_SIZE:
        raise Truncated(path, "header", "the file ends inside the header", offset=0,
                        expected=f"at least {HEADER_SIZE} bytes", found=f"{len(view)} bytes")
    _, major, minor, header_size, file_length, manifest_offset, manifest_length, digest = _HEADER.unpack_from(view)
    if major != FORMAT_VERSION[0]:
        raise UnsupportedVersion(path, "header", "unknown major format version (written by a newer or older ember "
                                 "than this runtime reads)", offset=len(MAGIC), expected=f"{FORMAT_VERSION[0]}.x",
                                 found=f"{major}.{minor}")
    if header_size < HEADER_SIZE or header_size % ALIGNMENT:
        raise OffsetOutOfRange(path, "header", "bad header size", offset=12,
                               expected=f"a multiple of {ALIGNMENT}, at least {HEADER_SIZE}", found=header_size)
    if file_length != len(view):
        what = "the file is shorter than its header says" if len(view) < file_length else \
            "the file is longer than its header says"
        raise Truncated(path, "header", what, offset=16, expected=f"{file_length} bytes", found=f"{len(view)} bytes")
    end = manifest_offset + manifest_length
    if manifest_offset < header_size or end > file_length - _DIGEST or manifest_offset % ALIGNMENT:
        raise OffsetOutOfRange(path, "manifest", "the manifest lies outside the file's body", offset=manifest_offset,
                               expected=f"an aligned range inside [{header_size}, {file_length - _DIGEST})",
                               found=f"[{manifest_offset}, {end})")
    return (major, minor), header_size, manifest_offset, manifest_length, digest


def _check_whole_file(path: str, view: memoryview, manifest_offset: int, manifest_length: int,
                      manifest_digest: bytes) -> None:
    """The whole-file checksum; on a mismatch, name the part whose own checksum fails where one does."""
    body = view[:len(view) - _DIGEST]
    recorded = bytes(view[len(view) - _DIGEST:])
    actual = hashlib.sha256(body).digest()
    if actual == recorded:
        return
    manifest_bytes = view[manifest_offset:manifest_offset + manifest_length]
    if hashlib.sha256(manifest_bytes).digest() != manifest_digest:
        raise ChecksumMismatch(path, "manifest", "the manifest's bytes changed", offset=manifest_offset,
                               expected=manifest_digest.hex(), found=_sha256(manifest_bytes))
    try:
        entries = json.loads(bytes(manifest_bytes))
        sections = entries["sections"]
        for entry in [*entries["tensors"], *sections]:  # the most precise part first
            start = entry["offset"]
            if "section" in entry:  # a tensor: its offset counts from its section's start
                start += next(s["offset"] for s in sections if s["name"] == entry["section"])
            size = entry.get("length", entry.get("nbytes"))
            if start + size <= len(body) and _sha256(view[start:start + size]) != entry["sha256"]:
                part = f"tensor '{entry['name']}'" if "section" in entry else f"section '{entry['name']}'"
                raise ChecksumMismatch(path, part, "the bytes changed", offset=start, expected=entry["sha256"],
                                       found=_sha256(view[start:start + size]))
    except (ValueError, KeyError, TypeError, StopIteration, RecursionError):
        pass  # an unreadable manifest cannot localise the damage: report the whole file
    raise ChecksumMismatch(path, "whole file", "the file's SHA-256 differs from its trailer (the header, padding or "
                           "trailer changed)", offset=len(body), expected=recorded.hex(), found=actual.hex())


def _reject_duplicates(pairs: list[tuple[str, object]]) -> dict:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"duplicate keys {sorted({k for k in keys if keys.count(k) > 1})}")
    return dict(pairs)


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _parse_manifest(path: str, data: memoryview, version: tuple[int, int]) -> dict:
    def fail(message: str, expected: object = None, found: object = None) -> MalformedManifest:
        return MalformedManifest(path, "manifest", message, expected=expected, found=found)

    try:
        manifest = json.loads(bytes(data).decode("utf-8"), object_pairs_hook=_reject_duplicates,
                              parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise fail(f"not valid UTF-8 JSON: {error}") from None
    if not isinstance(manifest, dict):
        raise fail("the manifest must be a JSON object", "an object", type(manifest).__name__)
    for key, kind in (("format", dict), ("sections", list), ("tensors", list)):
        if not isinstance(manifest.get(key), kind):
            raise fail(f"the key '{key}' is missing or of the wrong type", kind.__name__,
                       type(manifest.get(key)).__name__)
    recorded = manifest["format"].get("version")
    if recorded != list(version) or manifest["format"].get("name") != "ember-artifact":
        raise fail("format name or version disagrees with the header",
                   f"ember-artifact {list(version)}", f"{manifest['format'].get('name')} {recorded}")
    return manifest


def _is_count(value: object) -> bool:
    return type(value) is int and value >= 0


def _is_digest(value: object) -> bool:
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def _check_sections(path: str, view: memoryview, manifest: dict, header_size: int,
                    manifest_offset: int) -> dict[str, tuple[int, int]]:
    """Each section's [start, end) in the file, after checking its entry, place (aligned, inside the body,
    no overlap) and checksum."""
    ranges: dict[str, tuple[int, int]] = {}
    previous_end = header_size
    for index, entry in enumerate(manifest["sections"]):
        ok = isinstance(entry, dict) and isinstance(entry.get("kind"), str) and isinstance(entry.get("name"), str) \
            and _is_count(entry.get("offset")) and _is_count(entry.get("length")) and _is_digest(entry.get("sha256"))
        if not ok or entry["name"] in ranges:
            raise MalformedManifest(path, "manifest", f"sections[{index}] is malformed or repeats a name",
                                    expected="{kind, name (unique), offset, length, sha256}", found=entry)
        start, end = entry["offset"], entry["offset"] + entry["length"]
        if start % ALIGNMENT or start < previous_end or end > manifest_offset:
            raise OffsetOutOfRange(path, f"section '{entry['name']}'", "the section is misaligned, overlaps another "
                                   "or lies outside the file's body", offset=start,
                                   expected=f"a {ALIGNMENT}-byte aligned range inside [{previous_end}, "
                                   f"{manifest_offset})", found=f"[{start}, {end})")
        found = _sha256(view[start:end])
        if found != entry["sha256"]:
            raise ChecksumMismatch(path, f"section '{entry['name']}'", "the section's bytes changed", offset=start,
                                   expected=entry["sha256"], found=found)
        ranges[entry["name"]] = (start, end)
        previous_end = end
    return ranges


def _check_tensors(path: str, manifest: dict, sections: dict[str, tuple[int, int]],
                   mapped: mmap.mmap) -> dict[str, np.ndarray]:
    tensors: dict[str, np.ndarray] = {}
    for index, entry in enumerate(manifest["tensors"]):
        part = f"tensor {index}"
        ok = isinstance(entry, dict) and isinstance(entry.get("name"), str) and isinstance(entry.get("dtype"), str) \
            and entry["dtype"] in DTYPES \
            and isinstance(entry.get("shape"), list) and all(_is_count(d) for d in entry["shape"]) \
            and isinstance(entry.get("section"), str) and entry["section"] in sections \
            and _is_count(entry.get("offset")) \
            and _is_count(entry.get("nbytes")) and _is_digest(entry.get("sha256"))
        if not ok or entry["name"] in tensors:
            raise MalformedManifest(path, "manifest", f"tensors[{index}] is malformed or repeats a name",
                                    expected="{name (unique), dtype, shape, section (existing), offset, nbytes, "
                                    "sha256}", found=entry)
        part = f"tensor '{entry['name']}'"
        dtype = _storage_dtype(entry["dtype"])
        expected_bytes = math.prod(entry["shape"]) * dtype.itemsize
        if entry["nbytes"] != expected_bytes:
            raise MalformedManifest(path, part, "byte count disagrees with dtype and shape", expected=expected_bytes,
                                    found=entry["nbytes"])
        section_start, section_end = sections[entry["section"]]
        start = section_start + entry["offset"]
        if start % ALIGNMENT or start + entry["nbytes"] > section_end:
            raise OffsetOutOfRange(path, part, f"the tensor is misaligned or lies outside section "
                                   f"'{entry['section']}'", offset=start,
                                   expected=f"a {ALIGNMENT}-byte aligned range inside [{section_start}, "
                                   f"{section_end})", found=f"[{start}, {start + entry['nbytes']})")
        array = np.frombuffer(mapped, dtype=dtype, count=math.prod(entry["shape"]), offset=start)
        found = _sha256(array.view(np.uint8) if array.size else b"")
        if found != entry["sha256"]:
            raise ChecksumMismatch(path, part, "the tensor's bytes changed", offset=start, expected=entry["sha256"],
                                   found=found)
        tensors[entry["name"]] = array.reshape(entry["shape"])
    return tensors

