"""map_location in all of torch.load's forms, for ember files and for PyTorch files."""

from __future__ import annotations

import io

import pytest

import ember
from ember.tensor.storage import Storage
from tests.serialize.header_edit import edit_header


def ember_file(location: str = "cpu") -> bytes:
    """A saved tensor pair sharing one storage, its storage tagged with ``location``."""
    buffer = io.BytesIO()
    base = ember.arange(6.0)
    ember.save({"a": base, "b": base[3:]}, buffer)
    return edit_header(buffer.getvalue(), lambda header: header["storages"][0].update(location=location))


def load(data: bytes, map_location):
    return ember.load(io.BytesIO(data), map_location=map_location)


@pytest.mark.parametrize("map_location", [None, "cpu", ember.device("cpu"), {"cpu": "cpu"}, {"cuda:0": "cpu"}])
def test_cpu_targets(map_location):
    loaded = load(ember_file(), map_location)
    assert loaded["a"].device == ember.device("cpu") and loaded["b"].tolist() == [3.0, 4.0, 5.0]
    assert loaded["a"]._storage is loaded["b"]._storage


def test_dict_remaps_a_saved_cuda_location_to_cpu():
    loaded = load(ember_file("cuda:0"), {"cuda:0": "cpu"})
    assert loaded["a"].device.type == "cpu" and loaded["a"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


def test_callable_sees_each_storage_once_with_its_location():
    seen = []

    def keep_on_cpu(storage, location):
        seen.append((type(storage), location, len(storage)))
        return storage

    loaded = load(ember_file("cuda:1"), keep_on_cpu)
    assert seen == [(Storage, "cuda:1", 6)]
    assert loaded["b"][0].item() == 3.0


def test_callable_returning_none_uses_the_default():
    loaded = load(ember_file(), lambda storage, location: None)
    assert loaded["a"].device.type == "cpu"
    with pytest.raises(TypeError, match="must return an ember storage or None, got str"):
        load(ember_file(), lambda storage, location: "cpu")


@pytest.mark.skipif(ember.cuda.is_available(), reason="checks the message for machines without CUDA")
@pytest.mark.parametrize("map_location", ["cuda", "cuda:0", ember.device("cuda", 0), None])
def test_cuda_without_a_gpu_raises_torchs_message(map_location):
    data = ember_file("cuda:0" if map_location is None else "cpu")
    with pytest.raises(RuntimeError, match=r"Attempting to deserialize object on a CUDA device but "
                                           r"ember.cuda.is_available\(\) is False.*map_location=ember.device\('cpu'\)"):
        load(data, map_location)


def test_unknown_locations_and_bad_map_location_types():
    with pytest.raises(RuntimeError, match=r"don't know how to restore data location of Storage \(tagged with tpu\)"):
        load(ember_file("tpu"), None)
    with pytest.raises(TypeError, match="map_location should be None, a string, an ember.device, a dict or a callable"):
        load(ember_file(), 3)


def test_torch_file_honours_map_location(tmp_path):
    from tests.oracle import torch

    path = tmp_path / "t.pt"
    torch.save({"w": torch.arange(4.0)}, path)
    seen = []
    loaded = ember.load(path, map_location=lambda storage, location: seen.append(location) or storage)
    assert seen == ["cpu"] and loaded["w"].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert ember.load(path, map_location={"cpu": "cpu"})["w"].device.type == "cpu"
