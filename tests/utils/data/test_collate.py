"""default_collate and default_convert against torch.utils.data's, structure and dtypes included."""

from __future__ import annotations

from collections import namedtuple

import numpy as np
import pytest

import ember
from ember.utils.data import default_collate, default_convert
from tests.oracle import torch
from tests.utils.data.helpers import assert_same_batch

Point = namedtuple("Point", ["x", "y"])


def _samples(kind: str, library):
    """The same list of samples for ember (library=ember) and torch (library=torch)."""
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((2, 3)).astype(np.float32) for _ in range(3)]
    if kind == "tensors":
        return [library.from_numpy(a.copy()) for a in arrays]
    if kind == "int_tensors_0d":
        return [library.tensor(i) for i in range(4)]
    if kind == "floats":
        return [0.5, 1.5, -2.0]
    if kind == "ints":
        return [1, 2, 3]
    if kind == "bools":
        return [True, False, True]
    if kind == "strings":
        return ["a", "bc", "d"]
    if kind == "numpy_arrays":
        return [a.copy() for a in arrays]
    if kind == "numpy_int_arrays":
        return [np.arange(4, dtype=np.int32) + i for i in range(3)]
    if kind == "numpy_scalars":
        return [np.float32(1.5), np.float32(2.5)]
    if kind == "numpy_int64_scalars":
        return [np.int64(3), np.int64(4)]
    if kind == "tuples":
        return [(library.from_numpy(a.copy()), i, float(i), "s") for i, a in enumerate(arrays)]
    if kind == "lists":
        return [[i, 2.0 * i] for i in range(3)]
    if kind == "dicts":
        return [{"img": library.from_numpy(a.copy()), "label": i, "name": f"n{i}"} for i, a in enumerate(arrays)]
    if kind == "nested":
        return [{"pair": (i, [float(i), np.float64(i)]), "meta": {"id": i}} for i in range(3)]
    if kind == "namedtuples":
        return [Point(i, float(i)) for i in range(3)]
    raise AssertionError(kind)


KINDS = ["tensors", "int_tensors_0d", "floats", "ints", "bools", "strings", "numpy_arrays", "numpy_int_arrays",
         "numpy_scalars", "numpy_int64_scalars", "tuples", "lists", "dicts", "nested", "namedtuples"]


@pytest.mark.parametrize("kind", KINDS)
def test_default_collate_matches_torch(kind):
    expected = torch.utils.data.default_collate(_samples(kind, torch))
    assert_same_batch(default_collate(_samples(kind, ember)), expected)


@pytest.mark.parametrize("kind", ["tensors", "floats", "strings", "numpy_arrays", "numpy_scalars", "tuples",
                                  "lists", "dicts", "nested", "namedtuples"])
def test_default_convert_matches_torch(kind):
    for e_sample, t_sample in zip(_samples(kind, ember), _samples(kind, torch), strict=True):
        assert_same_batch(default_convert(e_sample), torch.utils.data.default_convert(t_sample))


def test_collate_keeps_dict_subclass():
    class Record(dict):
        pass

    out = default_collate([Record(a=1), Record(a=2)])
    assert type(out) is Record and out["a"].tolist() == [1, 2]


def test_collate_errors_match_torch():
    with pytest.raises(RuntimeError, match="each element in list of batch should be of equal size"):
        default_collate([[1, 2], [1]])
    with pytest.raises(TypeError, match="default_collate: batch must contain tensors"):
        default_collate([object(), object()])
    with pytest.raises(TypeError, match="default_collate: batch must contain tensors"):
        default_collate([np.array(["a"]), np.array(["b"])])
    with pytest.raises(RuntimeError, match="stack expects each tensor to be equal size"):
        default_collate([ember.zeros(2), ember.zeros(3)])
