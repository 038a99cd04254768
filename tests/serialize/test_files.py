"""Files and streams: atomic replacement, paths and file objects, and clear errors for corrupt, truncated or
foreign files."""

from __future__ import annotations

import io
import os
import stat
import struct
import zipfile

import pytest

import ember
from ember.serialize import atomic, ember_format
from tests.serialize.header_edit import edit_header


class Unpicklable:
    def __reduce__(self):
        raise RuntimeError("cannot serialize this object")


def leftovers(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def write_old(tmp_path):
    path = tmp_path / "ckpt.pt"
    ember.save({"old": ember.ones(3)}, path)
    return path, path.read_bytes()


def test_save_to_path_and_file_object(tmp_path):
    path = tmp_path / "a.pt"
    ember.save({"x": ember.arange(3)}, str(path))
    with open(path, "rb") as f:
        assert ember.load(f)["x"].tolist() == [0, 1, 2]
    with open(tmp_path / "b.pt", "wb") as f:
        ember.save([ember.ones(1)], f)
    assert ember.load(tmp_path / "b.pt")[0].tolist() == [1.0]
    assert leftovers(tmp_path) == ["a.pt", "b.pt"]


def test_several_objects_in_one_stream():
    buffer = io.BytesIO()
    ember.save({"first": ember.ones(2)}, buffer)
    ember.save([ember.zeros(3)], buffer)
    buffer.seek(0)
    assert ember.load(buffer)["first"].tolist() == [1.0, 1.0]
    assert ember.load(buffer)[0].tolist() == [0.0, 0.0, 0.0]


def test_unseekable_stream_is_read():
    data = io.BytesIO()
    ember.save({"w": ember.arange(5.0)}, data)

    class Pipe(io.RawIOBase):
        def __init__(self, payload):
            self.payload = io.BytesIO(payload)

        def readable(self):
            return True

        def readinto(self, b):
            return self.payload.readinto(b)

    assert ember.load(io.BufferedReader(Pipe(data.getvalue())))["w"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_failed_serialization_leaves_old_file_and_no_temporary(tmp_path):
    path, old = write_old(tmp_path)
    with pytest.raises(RuntimeError, match="cannot serialize this object"):
        ember.save({"new": ember.zeros(3), "bad": Unpicklable()}, path)
    assert path.read_bytes() == old and leftovers(tmp_path) == ["ckpt.pt"]


def test_failure_in_the_middle_of_writing_leaves_old_file(tmp_path, monkeypatch):
    path, old = write_old(tmp_path)
    real_write = ember_format.write_container

    def half_then_fail(f, *args, **kwargs):
        scratch = io.BytesIO()
        real_write(scratch, *args, **kwargs)
        f.write(scratch.getvalue()[:40])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("ember.serialize.api.write_container", half_then_fail)
    with pytest.raises(OSError, match="No space left"):
        ember.save({"new": ember.zeros(1000)}, path)
    assert path.read_bytes() == old and leftovers(tmp_path) == ["ckpt.pt"]


def test_fsync_failure_leaves_old_file(tmp_path, monkeypatch):
    path, old = write_old(tmp_path)

    def broken_fsync(fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(atomic.os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="Input/output error"):
        ember.save({"new": ember.zeros(3)}, path)
    assert path.read_bytes() == old and leftovers(tmp_path) == ["ckpt.pt"]


def test_overwrite_keeps_mode_and_writes_through_symlink(tmp_path):
    path, _ = write_old(tmp_path)
    os.chmod(path, 0o640)
    link = tmp_path / "latest.pt"
    link.symlink_to(path.name)
    ember.save({"new": ember.zeros(2)}, link)
    assert link.is_symlink() and stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert ember.load(path)["new"].tolist() == [0.0, 0.0]


def test_bad_destinations(tmp_path):
    with pytest.raises(RuntimeError, match="Parent directory .*missing does not exist"):
        ember.save([1], tmp_path / "missing" / "x.pt")
    with pytest.raises(IsADirectoryError):
        ember.save([1], tmp_path)
    assert leftovers(tmp_path) == []
    with pytest.raises(FileNotFoundError):
        ember.load(tmp_path / "nothing.pt")


def saved_bytes(obj=None) -> bytes:
    buffer = io.BytesIO()
    ember.save(obj if obj is not None else {"w": ember.arange(10.0), "n": 3}, buffer)
    return buffer.getvalue()


def load_bytes(data: bytes, tmp_path=None):
    if tmp_path is None:
        return ember.load(io.BytesIO(data))
    path = tmp_path / "file.pt"
    path.write_bytes(data)
    return ember.load(path)


@pytest.mark.parametrize("cut", [5, 31, 40, -1, -20])
def test_truncated_files(tmp_path, cut):
    data = saved_bytes()
    for target in (None, tmp_path):
        with pytest.raises(RuntimeError, match="not a valid ember checkpoint: .*(truncated|bytes long)"):
            load_bytes(data[:cut], target)


def test_corrupt_storage_bytes_fail_the_crc():
    data = bytearray(saved_bytes())
    data[-3] ^= 0xFF
    with pytest.raises(RuntimeError, match="storage 0 fails its CRC-32 check"):
        load_bytes(bytes(data))


def test_corrupt_header_fails_the_crc():
    data = bytearray(saved_bytes())
    data[40] ^= 0x01
    with pytest.raises(RuntimeError, match="header fails its CRC-32 check"):
        load_bytes(bytes(data))


def test_newer_major_version_is_refused():
    data = bytearray(saved_bytes())
    data[8:10] = struct.pack("<H", 2)
    with pytest.raises(RuntimeError, match="ember format version 2.0, but this ember reads version 1.x"):
        load_bytes(bytes(data))


def test_newer_minor_version_with_extra_header_members_loads():
    data = edit_header(saved_bytes(), lambda h: h.update(future_member={"x": 1}))
    data = data[:10] + struct.pack("<H", 7) + data[12:]
    assert load_bytes(data)["w"].tolist() == list(map(float, range(10)))


@pytest.mark.parametrize("edit, message", [
    (lambda h: h["tensors"][0].update(shape=[11]), r"reach element 10, past the end of its storage of 10 elements"),
    (lambda h: h["tensors"][0].update(offset=-1), r"storage offset must be a non-negative integer"),
    (lambda h: h["tensors"][0].update(stride=[1, 1]), r"differ in length"),
    (lambda h: h["tensors"][0].update(storage=4), r"names storage 4, but the file has 1"),
    (lambda h: h["storages"][0].update(dtype="complex64"), r"known dtype"),
    (lambda h: h["storages"][0].update(nbytes=10**15), r"overlaps another section or lies outside"),
    (lambda h: h["storages"][0].update(numel=3), r"numel 3 does not match 40 bytes of float32"),
    (lambda h: h["storages"][0].update(offset=8), r"starts at offset 8, not a multiple of 64"),
    (lambda h: h["root"].update(kind="function"), r"unknown node kind 'function'"),
    (lambda h: h["root"]["items"][0].__setitem__(1, {"kind": "tensor", "index": 9}), r"tensor index 9 out of range"),
    (lambda h: h.update(pickle={}), r"exactly one of 'root' and 'pickle'"),
])
def test_malformed_headers_give_clear_errors(edit, message):
    with pytest.raises(RuntimeError, match=message):
        load_bytes(edit_header(saved_bytes(), edit))


def test_bool_storage_with_bad_bytes_is_refused():
    data = bytearray(saved_bytes({"b": ember.tensor([True, False, True])}))
    data[-2] = 7
    data = edit_header(bytes(data), lambda h: h["storages"][0].update(crc32=ember_format._crc32(bytes(data[-3:]))))
    with pytest.raises(RuntimeError, match="bool storage holds bytes other than 0 and 1"):
        load_bytes(data)


@pytest.mark.parametrize("payload, message", [
    (b"", "is empty"),
    (b"hello, I am a text file\n", "not a checkpoint ember can read: it starts with b'hello, I'"),
    (struct.pack("<Q", 2) + b"{}", "is a safetensors file: read it with ember.serialize.safetensors.load_file"),
])
def test_foreign_files(tmp_path, payload, message):
    with pytest.raises(RuntimeError, match=message):
        load_bytes(payload, tmp_path)


def test_zip_that_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "notes.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("notes.txt", "hello")
    with pytest.raises(RuntimeError, match="zip archive but not a PyTorch checkpoint"):
        ember.load(path)
    path.write_bytes(path.read_bytes()[:30])
    with pytest.raises(RuntimeError, match="not a readable PyTorch checkpoint"):
        ember.load(path)
