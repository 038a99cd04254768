"""ember.serialize.safetensors against the ``safetensors`` package, in both directions, and its validation."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

import ember
from ember.serialize import safetensors as est
from tests.oracle import ALL_DTYPES, DTYPES, TORCH_TO_EMBER, random_array, torch

st_numpy = pytest.importorskip("safetensors.numpy")
st_torch = pytest.importorskip("safetensors.torch")


def sample(dtype: ember.dtype, shape=(3, 4), seed=0) -> ember.Tensor:
    return ember.from_numpy(np.asarray(random_array(shape, dtype, np.random.default_rng(seed))).astype(dtype.np_dtype))


def all_dtypes() -> dict[str, ember.Tensor]:
    tensors = {f"t_{d.name}": sample(d, seed=i) for i, d in enumerate(ALL_DTYPES)}
    tensors.update(scalar=ember.tensor(1.5, dtype=ember.float64), empty=ember.zeros(0, 3, dtype=ember.int32),
                   odd=ember.tensor([1, 2, 3], dtype=ember.uint8))
    return tensors


def raw(t) -> bytes:
    if isinstance(t, torch.Tensor):
        return (t.view(torch.int16) if t.dtype is torch.bfloat16 else t).numpy().tobytes()
    return np.asarray(t.numpy() if isinstance(t, ember.Tensor) else t).tobytes()


def test_ember_files_load_in_safetensors_torch(tmp_path):
    tensors = all_dtypes()
    est.save_file(tensors, tmp_path / "e.safetensors", metadata={"format": "pt", "step": "3"})
    loaded = st_torch.load_file(tmp_path / "e.safetensors")
    assert set(loaded) == set(tensors)
    for name, t in tensors.items():
        assert loaded[name].dtype == DTYPES[t.dtype] and tuple(loaded[name].shape) == tuple(t.shape)
        assert raw(loaded[name]) == raw(t)
    with st_numpy.safe_open(tmp_path / "e.safetensors", framework="np") as f:
        assert f.metadata() == {"format": "pt", "step": "3"}


def test_ember_files_load_in_safetensors_numpy(tmp_path):
    tensors = {k: v for k, v in all_dtypes().items() if v.dtype is not ember.bfloat16}  # NumPy has no bfloat16
    data = est.save(tensors)
    loaded = st_numpy.load(data)
    for name, t in tensors.items():
        assert loaded[name].dtype == t.dtype.np_dtype and raw(loaded[name]) == raw(t)


def test_safetensors_files_load_in_ember(tmp_path):
    tensors = {name: torch.from_numpy(np.array(t.numpy())) if t.dtype is not ember.bfloat16 else
               torch.from_numpy(t.float().numpy()).to(torch.bfloat16) for name, t in all_dtypes().items()}
    st_torch.save_file(tensors, tmp_path / "t.safetensors", metadata={"a": "b"})
    for loaded in (est.load_file(tmp_path / "t.safetensors"), est.load((tmp_path / "t.safetensors").read_bytes())):
        assert set(loaded) == set(tensors)
        for name, t in tensors.items():
            assert loaded[name].dtype is TORCH_TO_EMBER[t.dtype] and tuple(loaded[name].shape) == tuple(t.shape)
            assert raw(loaded[name]) == raw(t)
    numpy_file = tmp_path / "n.safetensors"
    st_numpy.save_file({"x": np.arange(5, dtype=np.int16), "b": np.array([True, False])}, numpy_file)
    loaded = est.load_file(numpy_file)
    assert loaded["x"].tolist() == [0, 1, 2, 3, 4] and loaded["b"].tolist() == [True, False]


def test_round_trip_and_loaded_tensors_are_writable_and_independent(tmp_path):
    tensors = all_dtypes()
    loaded = est.load(est.save(tensors))
    for name, t in tensors.items():
        assert raw(loaded[name]) == raw(t) and loaded[name].is_contiguous()
    loaded["t_float32"][0, 0] = 99.0
    assert loaded["t_float32"][0, 0].item() == 99.0 and loaded["t_float64"][0, 0].item() != 99.0
    est.save_file(tensors, tmp_path / "x.safetensors")
    from_file = est.load_file(tmp_path / "x.safetensors")
    from_file["t_int64"].add_(1)
    assert raw(from_file["t_int32"]) == raw(tensors["t_int32"])
    assert est.load(est.save({})) == {}


def test_save_refuses_shared_memory_but_accepts_disjoint_views():
    base = ember.arange(10.0)
    with pytest.raises(RuntimeError, match=r"Some tensors share memory.*\[\['a', 'b'\]\]"):
        est.save({"a": base, "b": base[2:5]})
    array = np.arange(6, dtype=np.int32)
    with pytest.raises(RuntimeError, match=r"\[\['x', 'y'\], \['z', 'z2'\]\]"):
        est.save({"x": ember.from_numpy(array), "y": ember.from_numpy(array[4:]), "z": base[1:3], "z2": base[2:4]})
    halves = est.load(est.save({"low": base[:5], "high": base[5:], "nothing": base[3:3]}))
    assert halves["high"].tolist() == [5.0, 6.0, 7.0, 8.0, 9.0] and halves["nothing"].shape == (0,)


def test_save_argument_errors(tmp_path):
    with pytest.raises(ValueError, match="non contiguous tensor: `t`"):
        est.save({"t": ember.ones(3, 4).t()})
    with pytest.raises(ValueError, match="Key `x` is invalid, expected ember.Tensor"):
        est.save({"x": [1, 2]})
    with pytest.raises(ValueError, match="Expected a dict"):
        est.save([ember.ones(1)])
    with pytest.raises(ValueError, match="metadata must be a dict of str to str"):
        est.save({"x": ember.ones(1)}, metadata={"n": 1})


def test_save_file_is_atomic(tmp_path):
    path = tmp_path / "w.safetensors"
    est.save_file({"w": ember.ones(2)}, path)
    old = path.read_bytes()
    with pytest.raises(ValueError):
        est.save_file({"w": ember.ones(2, 2).t()}, path)
    assert path.read_bytes() == old and sorted(p.name for p in tmp_path.iterdir()) == ["w.safetensors"]


def file_with_header(header: dict, data: bytes = b"") -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


GOOD = {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "I8", "shape": [2],
                                                                          "data_offsets": [8, 10]}}
DUPLICATE = b'"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}'
CASES = {
    "too-small": (b"\x01\x02", r"header too small"),
    "too-large": (struct.pack("<Q", 10**9) + b"{}", r"header too large"),
    "claims-past-end": (struct.pack("<Q", 50) + b"{}", r"the header claims 50 bytes"),
    "not-json": (struct.pack("<Q", 3) + b"{x}", r"invalid header"),
    "not-object": (struct.pack("<Q", 2) + b"[]", r"must be a JSON object"),
    "bad-dtype": (file_with_header({"w": {"dtype": "C64", "shape": [1], "data_offsets": [0, 8]}}, b"\0" * 8),
                  r"tensor 'w' has dtype 'C64', which ember does not support"),
    "overlap": (file_with_header({**GOOD, "b": {"dtype": "I8", "shape": [2], "data_offsets": [6, 8]}}, b"\0" * 10),
                r"tensor 'b' has data_offsets \[6, 8\], but the previous tensor ends at 8"),
    "gap": (file_with_header({**GOOD, "b": {"dtype": "I8", "shape": [2], "data_offsets": [9, 11]}}, b"\0" * 11),
            r"tensor 'b' has data_offsets \[9, 11\]"),
    "wrong-size": (file_with_header({**GOOD, "a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}},
                                    b"\0" * 10), r"tensor 'a' of dtype F32 and shape \[3\] needs 12 bytes"),
    "out-of-range": (file_with_header({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 8),
                     r"the tensors cover 16 bytes of the 8-byte buffer"),
    "truncated": (file_with_header(GOOD, b"\0" * 9), r"cover 10 bytes of the 9-byte buffer"),
    "trailing": (file_with_header(GOOD, b"\0" * 12), r"cover 10 bytes of the 12-byte buffer"),
    "bad-shape": (file_with_header({"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 0]}}), r"bad shape"),
    "bad-offsets": (file_with_header({"a": {"dtype": "F32", "shape": [0], "data_offsets": [0]}}), r"bad data_offsets"),
    "duplicate": (struct.pack("<Q", 2 * len(DUPLICATE) + 3) + b"{" + DUPLICATE + b"," + DUPLICATE + b"}",
                  r"names 'a' twice"),
    "bad-metadata": (file_with_header({"__metadata__": {"k": 1}}), r"__metadata__ must map str to str"),
    "bad-bool": (file_with_header({"b": {"dtype": "BOOL", "shape": [2], "data_offsets": [0, 2]}}, b"\x01\x05"),
                 r"tensor 'b'.*bool storage holds bytes other than 0 and 1"),
}


@pytest.mark.parametrize("name", CASES)
def test_malformed_files_give_clear_errors(tmp_path, name):
    data, message = CASES[name]
    with pytest.raises((est.SafetensorError, RuntimeError), match=message):
        est.load(data)
    (tmp_path / "bad.safetensors").write_bytes(data)
    with pytest.raises((est.SafetensorError, RuntimeError), match=message):
        est.load_file(tmp_path / "bad.safetensors")


# ember is stricter than the reference here: complex data (no ember dtype), repeated names, non-0/1 bools.
STRICTER = {"bad-dtype", "duplicate", "bad-bool"}


@pytest.mark.parametrize("name", sorted(set(CASES) - STRICTER))
def test_the_reference_implementation_rejects_the_same_files(name):
    with pytest.raises(Exception, match="Error while deserializing"):
        st_numpy.load(CASES[name][0])


def test_errors_are_value_errors():
    assert issubclass(est.SafetensorError, ValueError)
    with pytest.raises(ValueError):
        est.load(CASES["overlap"][0])


def test_unaligned_foreign_layout_loads():
    header = json.dumps({"b": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]},
                         "f": {"dtype": "F32", "shape": [2], "data_offsets": [1, 9]}}).encode()
    data = struct.pack("<Q", len(header)) + header + b"\x07" + np.array([1.5, -2.0], np.float32).tobytes()
    loaded = est.load(data)
    assert loaded["b"].tolist() == [7] and loaded["f"].tolist() == [1.5, -2.0]
    assert st_numpy.load(data)["f"].tolist() == [1.5, -2.0]
