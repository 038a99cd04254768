"""The ``.ember`` container: layout, determinism, read-only mapped tensors, and every container-level error."""

from __future__ import annotations

import hashlib
import json
import struct

import numpy as np
import pytest

from ember_runtime import errors
from ember_runtime.format import (
    ALIGNMENT,
    HEADER_SIZE,
    MAGIC,
    Section,
    encode_artifact,
    pack_tensors,
    read_artifact,
    write_artifact,
)

WEIGHTS = [("w", np.arange(12, dtype=np.float32).reshape(3, 4) * 0.5 - 1), ("b", np.array([1, -2, 3], np.int64)),
           ("flag", np.array(True)), ("empty", np.zeros((2, 0), np.float64)), ("h", np.ones(5, np.float16))]


def _contents(weights=WEIGHTS, extra: dict | None = None) -> tuple[dict, list[Section]]:
    data, table = pack_tensors(weights)
    manifest = {"producer": {"name": "test", "version": "0"}, "tensors": table, **(extra or {})}
    return manifest, [Section("weights", "weights", data), Section("cpu.llvm_ir", "code", b"; no code\n"),
                      Section("cuda.cubin", "cubin.sm_90", b"\x7fELF fake", {"arch": "sm_90"})]


def _write(tmp_path, data: bytes, name: str = "a.ember"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _reseal(data: bytearray) -> bytes:
    """``data`` with its manifest and whole-file checksums recomputed (a consistent but crafted file)."""
    manifest_offset, manifest_length = struct.unpack_from("<QQ", data, 24)
    data[40:72] = hashlib.sha256(data[manifest_offset:manifest_offset + manifest_length]).digest()
    data[-32:] = hashlib.sha256(data[:-32]).digest()
    return bytes(data)


def _with_manifest(data: bytes, manifest_bytes: bytes) -> bytes:
    """``data`` with its manifest replaced by ``manifest_bytes`` (header, padding and checksums updated)."""
    manifest_offset, _ = struct.unpack_from("<QQ", data, 24)
    body = bytearray(data[:manifest_offset]) + manifest_bytes + bytes(-len(manifest_bytes) % ALIGNMENT) + bytes(32)
    struct.pack_into("<QQQ", body, 16, len(body), manifest_offset, len(manifest_bytes))
    return _reseal(body)


def _manifest_of(data: bytes) -> dict:
    manifest_offset, manifest_length = struct.unpack_from("<QQ", data, 24)
    return json.loads(data[manifest_offset:manifest_offset + manifest_length])


def test_round_trip_layout_and_read_only_views(tmp_path):
    manifest, sections = _contents()
    path = tmp_path / "a.ember"
    write_artifact(path, manifest, sections)
    data = path.read_bytes()
    assert data[:8] == MAGIC and struct.unpack_from("<HHIQ", data, 8) == (1, 0, HEADER_SIZE, len(data))
    assert data[-32:] == hashlib.sha256(data[:-32]).digest()
    artifact = read_artifact(path)
    assert artifact.version == (1, 0)
    assert list(artifact.tensors) == [name for name, _ in WEIGHTS]
    for name, expected in WEIGHTS:
        got = artifact.tensors[name]
        assert got.dtype == expected.dtype and got.shape == expected.shape
        np.testing.assert_array_equal(got, expected)
        assert not got.flags.writeable
        if got.size:
            assert got.ctypes.data % ALIGNMENT == 0  # a view into the page-aligned mapping
    for entry in artifact.manifest["sections"]:
        assert entry["offset"] % ALIGNMENT == 0
    assert bytes(artifact.sections["code"]) == b"; no code\n"
    assert artifact.section_entry("cubin.sm_90")["arch"] == "sm_90"
    assert artifact.manifest["producer"] == {"name": "test", "version": "0"}


def test_bytes_are_deterministic_and_survive_a_round_trip(tmp_path):
    manifest, sections = _contents()
    first = encode_artifact(manifest, sections)
    assert encode_artifact(dict(reversed(list(manifest.items()))), sections) == first  # key order is irrelevant
    path = _write(tmp_path, first)
    read_artifact(path).save(tmp_path / "again.ember")
    assert (tmp_path / "again.ember").read_bytes() == first
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left behind


def test_newer_minor_version_loads_and_ignores_unknown_keys(tmp_path):
    manifest, sections = _contents(extra={"future_key": {"anything": [1, 2]}})
    data = bytearray(encode_artifact(manifest, sections))
    struct.pack_into("<H", data, 10, 7)
    body = _manifest_of(bytes(data))
    body["format"]["version"] = [1, 7]
    data = _with_manifest(bytes(data), json.dumps(body).encode())
    artifact = read_artifact(_write(tmp_path, data))
    assert artifact.version == (1, 7)
    np.testing.assert_array_equal(artifact.tensors["w"], WEIGHTS[0][1])


def _expect(tmp_path, data: bytes, error: type, *fragments: str) -> errors.ArtifactError:
    path = _write(tmp_path, data, "bad.ember")
    with pytest.raises(error) as info:
        read_artifact(path)
    assert isinstance(info.value, errors.ArtifactError)
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, message
    return info.value


@pytest.fixture
def good() -> bytes:
    return encode_artifact(*_contents())


def test_bad_magic(tmp_path, good):
    _expect(tmp_path, b"NOTEMBER" + good[8:], errors.BadMagic, "header", "expected b'EMBERART'", "found b'NOTEMBER'")
    _expect(tmp_path, b"PK\x03", errors.BadMagic, "not an ember artifact")
    _expect(tmp_path, b"", errors.Truncated, "header")
    _expect(tmp_path, good[:40], errors.Truncated, "ends inside the header")


def test_unknown_major_version(tmp_path, good):
    data = bytearray(good)
    struct.pack_into("<H", data, 8, 2)
    error = _expect(tmp_path, bytes(data), errors.UnsupportedVersion, "major", "expected 1.x", "found 2.0")
    assert error.offset == 8


def test_corrupted_weight_byte_names_the_tensor(tmp_path, good):
    artifact_offset = _manifest_of(good)["sections"][0]["offset"]
    data = bytearray(good)
    data[artifact_offset + 5] ^= 0x40  # inside tensor "w" (offset 0 of the weights section)
    error = _expect(tmp_path, bytes(data), errors.ChecksumMismatch, "tensor 'w'")
    assert error.offset == artifact_offset
    data = bytearray(good)
    data[-1] ^= 1  # the trailer itself
    _expect(tmp_path, bytes(data), errors.ChecksumMismatch, "whole file")


def test_resealed_corruption_is_caught_by_the_section_and_tensor_checksums(tmp_path, good):
    manifest = _manifest_of(good)
    code = next(s for s in manifest["sections"] if s["name"] == "code")
    data = bytearray(good)
    data[code["offset"]] ^= 1
    _expect(tmp_path, _reseal(data), errors.ChecksumMismatch, "section 'code'", f"byte offset {code['offset']}")
    # a tensor entry whose checksum disagrees while its section's agrees
    manifest["tensors"][1]["sha256"] = "0" * 64
    _expect(tmp_path, _with_manifest(good, json.dumps(manifest).encode()), errors.ChecksumMismatch, "tensor 'b'")


def test_truncated_and_extended_files(tmp_path, good):
    _expect(tmp_path, good[:-100], errors.Truncated, "shorter", f"expected {len(good)} bytes")
    _expect(tmp_path, good + b"\0", errors.Truncated, "longer")


def test_offsets_outside_the_file(tmp_path, good):
    data = bytearray(good)
    struct.pack_into("<Q", data, 24, len(good) + 4096)  # manifest offset past the end
    _expect(tmp_path, bytes(data), errors.OffsetOutOfRange, "manifest", "outside")
    manifest = _manifest_of(good)
    manifest["sections"][1]["offset"] = len(good) + 64
    _expect(tmp_path, _with_manifest(good, json.dumps(manifest).encode()), errors.OffsetOutOfRange,
            "section 'code'")
    manifest = _manifest_of(good)
    manifest["tensors"][0]["offset"] = manifest["sections"][0]["length"]
    _expect(tmp_path, _with_manifest(good, json.dumps(manifest).encode()), errors.OffsetOutOfRange, "tensor 'w'")
    manifest = _manifest_of(good)
    manifest["tensors"][0]["offset"] = 8  # misaligned
    _expect(tmp_path, _with_manifest(good, json.dumps(manifest).encode()), errors.OffsetOutOfRange, "misaligned")


@pytest.mark.parametrize("mutate, fragment", [
    (lambda m: b"{not json", "not valid UTF-8 JSON"),
    (lambda m: b"\xff\xfe", "not valid UTF-8 JSON"),
    (lambda m: b'{"a":1,"a":2}', "duplicate keys"),
    (lambda m: b"[1, 2]", "must be a JSON object"),
    (lambda m: b"[" * 100000 + b"]" * 100000, "not valid UTF-8 JSON"),
    (lambda m: json.dumps({k: v for k, v in m.items() if k != "tensors"}).encode(), "'tensors'"),
    (lambda m: json.dumps({**m, "format": {"name": "ember-artifact", "version": [1, 3]}}).encode(), "disagrees"),
    (lambda m: json.dumps({**m, "sections": [{"kind": "weights"}]}).encode(), "sections[0]"),
    (lambda m: json.dumps({**m, "tensors": [{**m["tensors"][0], "dtype": "object"}]}).encode(), "tensors[0]"),
    (lambda m: json.dumps({**m, "tensors": [{**m["tensors"][0], "shape": [3, 5]}]}).encode(), "byte count"),
    (lambda m: json.dumps({**m, "tensors": [{**m["tensors"][0], "offset": -64}]}).encode(), "tensors[0]"),
])
def test_malformed_manifest(tmp_path, good, mutate, fragment):
    _expect(tmp_path, _with_manifest(good, mutate(_manifest_of(good))), errors.MalformedManifest, "manifest",
            fragment)


def test_writer_refuses_what_the_format_cannot_hold(tmp_path):
    with pytest.raises(ValueError, match="dtype object"):
        pack_tensors([("o", np.array([object()]))])
    with pytest.raises(ValueError, match="named 'x'"):
        pack_tensors([("x", np.zeros(1)), ("x", np.zeros(1))])
    with pytest.raises(ValueError, match="unique"):
        write_artifact(tmp_path / "x.ember", {"tensors": []}, [Section("a", "s", b""), Section("b", "s", b"")])
    assert not list(tmp_path.iterdir())
