"""dtypes and type promotion against torch.promote_types / torch.result_type."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import ember
from tests.oracle import ALL_DTYPES, DTYPES, TORCH_TO_EMBER, torch


@pytest.mark.parametrize("a,b", list(itertools.product(ALL_DTYPES, ALL_DTYPES)))
def test_promote_types_matches_torch(a, b):
    assert DTYPES[ember.promote_types(a, b)] == torch.promote_types(DTYPES[a], DTYPES[b])


SCALARS = [True, 3, -2, 2.5, 300]


def _operand_pairs():
    for dt in ALL_DTYPES:
        for scalar in SCALARS:
            yield ("tensor", dt), ("scalar", scalar)
        for other in ALL_DTYPES:
            yield ("tensor", dt), ("zero_dim", other)
            yield ("zero_dim", dt), ("zero_dim", other)


def _make(kind, value):
    if kind == "scalar":
        return value, value
    shape = (2,) if kind == "tensor" else ()
    e = ember.zeros(shape, dtype=value)
    return e, torch.zeros(shape, dtype=DTYPES[value])


@pytest.mark.parametrize("left,right", list(_operand_pairs()))
def test_result_type_matches_torch(left, right):
    e_left, t_left = _make(*left)
    e_right, t_right = _make(*right)
    expected = torch.result_type(t_left, t_right)
    assert DTYPES[ember.result_type(e_left, e_right)] == expected
    assert DTYPES[ember.result_type(e_right, e_left)] == expected


def test_result_type_uses_default_dtype_for_float_scalars():
    ember.set_default_dtype(ember.float64)
    assert ember.result_type(ember.zeros(2, dtype=ember.int32), 1.5) is ember.float64
    assert ember.result_type(ember.zeros(2, dtype=ember.float16), 1.5) is ember.float16


def test_default_dtype_round_trip_and_refusal():
    assert ember.get_default_dtype() is ember.float32
    ember.set_default_dtype(ember.float64)
    assert ember.zeros(1).dtype is ember.float64
    assert ember.tensor([1.5]).dtype is ember.float64
    with pytest.raises(TypeError, match="only floating-point types"):
        ember.set_default_dtype(ember.int64)


def test_dtype_attributes_and_aliases():
    assert ember.float is ember.float32 and ember.double is ember.float64 and ember.half is ember.float16
    assert ember.long is ember.int64 and ember.int is ember.int32 and ember.short is ember.int16
    for dt in ALL_DTYPES:
        tdt = DTYPES[dt]
        assert dt.is_floating_point == tdt.is_floating_point
        assert dt.is_signed == tdt.is_signed
        assert dt.itemsize == tdt.itemsize
        assert repr(dt) == repr(tdt).replace("torch.", "ember.")
        assert TORCH_TO_EMBER[tdt] is dt
    assert ember.bfloat16.np_dtype.itemsize == 2


def test_can_cast_matches_torch():
    for a, b in itertools.product(ALL_DTYPES, ALL_DTYPES):
        assert ember.can_cast(a, b) == torch.can_cast(DTYPES[a], DTYPES[b])


def test_dtypes_pickle_to_the_same_object():
    import pickle

    for dt in ALL_DTYPES:
        assert pickle.loads(pickle.dumps(dt)) is dt


def test_unsupported_numpy_dtype_is_a_type_error():
    with pytest.raises(TypeError, match="can't convert np.ndarray of type complex128"):
        ember.from_numpy(np.zeros(2, dtype=np.complex128))
    with pytest.raises(TypeError, match="uint32"):
        ember.tensor(np.zeros(2, dtype=np.uint32))
