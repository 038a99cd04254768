"""tensor / as_tensor / from_numpy / full / zeros / ones / empty / _like / new_* against torch."""

from __future__ import annotations

import numpy as np
import pytest

import ember
from tests.oracle import ALL_DTYPES, DTYPES, assert_close, torch

DATA = [
    3,
    2.5,
    True,
    [],
    [1, 2, 3],
    [1, 2.5],
    [True, False],
    [True, 2],
    [[1, 2], [3, 4]],
    [[[1.0], [2.0]], [[3.0], [4.0]]],
    [[], []],
    (1, 2),
    [np.int64(3), 4],
]


@pytest.mark.parametrize("data", DATA, ids=repr)
def test_tensor_infers_dtype_and_shape_like_torch(data):
    assert_close(ember.tensor(data), torch.tensor(data))


@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_tensor_with_explicit_dtype(dtype):
    data = [[0, 1, 2], [3, 1, 0]]
    assert_close(ember.tensor(data, dtype=dtype), torch.tensor(data, dtype=DTYPES[dtype]))


@pytest.mark.parametrize("np_dtype", [np.float64, np.float32, np.float16, np.int64, np.int32, np.int16, np.int8,
                                      np.uint8, np.bool_])
def test_tensor_from_numpy_keeps_its_dtype_and_copies(np_dtype):
    arr = np.arange(6).reshape(2, 3).astype(np_dtype)
    t = ember.tensor(arr)
    assert_close(t, torch.tensor(arr))
    arr[0, 0] = 1
    assert t.numpy()[0, 0] == 0


def test_tensor_of_tensors_and_zero_dim_tensors():
    assert_close(ember.tensor([ember.tensor(1.5), ember.tensor(2.0)]), torch.tensor([1.5, 2.0]))
    src = ember.tensor([[1, 2], [3, 4]])
    copy = ember.tensor(src)
    copy.fill_(0)
    assert src.numpy().tolist() == [[1, 2], [3, 4]]


def test_ragged_data_is_a_value_error():
    with pytest.raises(ValueError, match="expected sequence of length 2 at dim 1 \\(got 3\\)"):
        ember.tensor([[1, 2], [3, 4, 5]])


def test_uninferable_data_is_a_type_error():
    with pytest.raises(TypeError, match="Could not infer dtype of str"):
        ember.tensor("abc")
    with pytest.raises(TypeError, match="dtype must be an ember.dtype"):
        ember.tensor([1], dtype="float32")


def test_from_numpy_shares_memory_both_ways():
    arr = np.zeros((2, 3), dtype=np.float32)
    t = ember.from_numpy(arr)
    arr[1, 2] = 7
    assert t.numpy()[1, 2] == 7
    t.fill_(3)
    assert (arr == 3).all()
    assert t.numpy() is arr or np.shares_memory(t.numpy(), arr)


def test_from_numpy_strided_view_keeps_strides():
    base = np.arange(24, dtype=np.int64).reshape(4, 6)
    view = base[1:, ::2]
    t = ember.from_numpy(view)
    expected = torch.from_numpy(view)
    assert t.stride() == expected.stride() and tuple(t.shape) == tuple(expected.shape)
    assert t.numpy().tolist() == view.tolist()
    t.zero_()
    assert (base[1:, ::2] == 0).all() and base[0, 0] == 0 and base[1, 1] == 7


def test_from_numpy_refusals():
    with pytest.raises(ValueError, match="negative"):
        ember.from_numpy(np.arange(4.0)[::-1])
    with pytest.raises(TypeError, match="expected np.ndarray"):
        ember.from_numpy([1, 2])


def test_from_numpy_zero_size_and_zero_dim():
    assert ember.from_numpy(np.zeros((0, 3), np.float32)).shape == (0, 3)
    t = ember.from_numpy(np.array(5, dtype=np.int32))
    assert t.shape == () and t.item() == 5 and t.dtype is ember.int32


def test_as_tensor_shares_when_it_can():
    arr = np.ones(3, dtype=np.float32)
    shared = ember.as_tensor(arr)
    arr[0] = 5
    assert shared.numpy()[0] == 5
    converted = ember.as_tensor(arr, dtype=ember.float64)
    arr[1] = 9
    assert converted.numpy()[1] == 1 and converted.dtype is ember.float64
    t = ember.zeros(2)
    assert ember.as_tensor(t) is t
    assert_close(ember.as_tensor([1, 2]), torch.as_tensor([1, 2]))


@pytest.mark.parametrize("name", ["zeros", "ones", "empty"])
@pytest.mark.parametrize("size", [(0,), (3,), (2, 3), (2, 0, 4)])
def test_sized_factories(name, size):
    e = getattr(ember, name)(*size)
    t = getattr(torch, name)(*size)
    assert tuple(e.shape) == tuple(t.shape) and DTYPES[e.dtype] == t.dtype
    e2 = getattr(ember, name)(size, dtype=ember.int16)
    assert tuple(e2.shape) == size and e2.dtype is ember.int16
    if name != "empty":
        assert_close(e, t)


@pytest.mark.parametrize("value", [1.5, 3, True, -2])
def test_full_infers_dtype_from_value(value):
    assert_close(ember.full((2, 2), value), torch.full((2, 2), value))
    assert_close(ember.full((2,), value, dtype=ember.float64), torch.full((2,), value, dtype=torch.float64))


def test_like_and_new_factories():
    base = ember.zeros(2, 3, dtype=ember.int32)
    assert ember.zeros_like(base).dtype is ember.int32
    assert_close(ember.ones_like(base, dtype=ember.float64), torch.ones(2, 3, dtype=torch.float64))
    assert_close(ember.full_like(base, 7), torch.full((2, 3), 7, dtype=torch.int32))
    assert ember.empty_like(base).shape == (2, 3)
    assert_close(base.new_zeros(4), torch.zeros(4, dtype=torch.int32))
    assert_close(base.new_ones((1, 2)), torch.ones(1, 2, dtype=torch.int32))
    assert_close(base.new_full((2,), 3.7), torch.full((2,), 3, dtype=torch.int32))
    assert_close(base.new_tensor([1.9, 2.1]), torch.tensor([1, 2], dtype=torch.int32))
    assert base.new_empty(3).dtype is ember.int32


def test_size_errors():
    with pytest.raises(TypeError, match="missing 1 required positional argument"):
        ember.zeros()
    assert ember.zeros(()).shape == ()
    with pytest.raises(RuntimeError, match="negative dimension -1"):
        ember.zeros(2, -1)
    with pytest.raises(TypeError, match="tuple of ints"):
        ember.ones(2.5)


def test_legacy_tensor_constructor():
    assert_close(ember.Tensor([1, 2]), torch.Tensor([1, 2]))
    assert ember.Tensor(2, 3).shape == (2, 3) and ember.Tensor(2, 3).dtype is ember.float32


def test_explicit_float64_keeps_values_float32_cannot_hold():
    assert ember.tensor(1e300, dtype=ember.float64).item() == 1e300
    assert ember.tensor([1e-320, 2**60], dtype=ember.float64).tolist() == [1e-320, float(2**60)]
    assert ember.tensor(2**62).item() == 2**62
    with pytest.raises(RuntimeError, match="Overflow"):
        ember.tensor(2**70)


def test_full_with_empty_size_is_zero_dim():
    assert_close(ember.full((), 2.5), torch.full((), 2.5))
    assert ember.zeros(()).shape == ()


def test_read_only_numpy_memory_refuses_in_place_writes():
    arr = np.arange(3.0)
    arr.flags.writeable = False
    t = ember.from_numpy(arr)
    assert t.tolist() == [0, 1, 2]
    with pytest.raises(RuntimeError, match="read-only NumPy array"):
        t.fill_(1)
    with pytest.raises(RuntimeError, match="read-only NumPy array"):
        t.copy_(ember.ones(3, dtype=ember.float64))
    assert (t.clone().fill_(1)).tolist() == [1, 1, 1]
