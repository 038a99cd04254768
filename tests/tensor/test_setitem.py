"""Tensor.__setitem__ and index_put_/index_put against PyTorch: scalars and broadcast tensors through basic
and advanced indices, masks, duplicates and accumulation, casting and overflow, the version counter, errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import ember
from tests.oracle import ALL_DTYPES, DTYPES, FLOAT_DTYPES, INT_DTYPES, assert_close, pair, torch


def both(shape=(2, 3, 4), dtype=ember.float32, noncontiguous=False):
    """Separate ember and torch tensors with the same values (writes to one never show in the other)."""
    e, t = pair(shape, dtype, seed=3, noncontiguous=noncontiguous)
    return e, t.clone()


def value_pair(data, dtype=None):
    return ember.tensor(data, dtype=dtype), torch.tensor(data, dtype=DTYPES[dtype] if dtype else None)


def key_pair(key):
    """Lists and slices stay as they are; numpy arrays become tensors in each library."""
    if isinstance(key, np.ndarray):
        return ember.from_numpy(key.copy()), torch.from_numpy(key.copy())
    if isinstance(key, tuple):
        pairs = [key_pair(k) for k in key]
        return tuple(p[0] for p in pairs), tuple(p[1] for p in pairs)
    return key, key


MASK = np.array([[True, False, True], [False, True, True]])

SETITEM_CASES = [
    (0, 1.5),
    ((slice(None), 1), -2),
    ((Ellipsis, slice(1, None, 2)), [7.0, 8.0]),
    ((0, slice(None), None, 1), [[1.0], [2.0], [3.0]]),
    (0, [[[1.0, 2.0, 3.0, 4.0]]]),
    (None, 3.0),
    (Ellipsis, [[[9.0]]]),
    ((slice(None), None, 1), [[[1.0, 1.0, 1.0, 1.0]], [[2.0, 2.0, 2.0, 2.0]]]),
    ([0, 1], 5.0),
    ([1], [1.0, 2.0, 3.0, 4.0]),
    ((slice(None), [0, 2], slice(1, 3)), [7.0, 8.0]),
    (([1, 0], 0), [[5.0]]),
    (MASK, 3.0),
    (MASK, [1.0, 2.0, 3.0, 4.0]),
    ((Ellipsis, np.array([True, False, True, True])), 9.0),
    ((0, 0, [0, 3]), [1.0, 2.0]),
    (True, 7.0),
    ((slice(None), [0, 1], slice(None)), np.zeros((2, 1, 4)).tolist()),
    (np.array([[0, 1]]), np.zeros((3, 4)).tolist()),
    ((np.array([0, 1]), np.array([2, 0])), [[1.0, 2.0, 3.0, 4.0]]),
    ((slice(None), []), 1.0),
]


@pytest.mark.parametrize("noncontiguous", [False, True])
@pytest.mark.parametrize("key,value", SETITEM_CASES, ids=repr)
def test_setitem_matches_torch(key, value, noncontiguous):
    e, t = both(noncontiguous=noncontiguous)
    ek, tk = key_pair(key)
    ev, tv = value_pair(value) if isinstance(value, list) else (value, value)
    version = e._version
    e[ek] = ev
    t[tk] = tv
    assert_close(e, t)
    assert e._version == version + 1


@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_setitem_every_dtype(dtype):
    e, t = both((3, 4), dtype)
    for key, value in [((1, slice(1, 3)), 1), ([2, 0], True), ((slice(None), 3), 0.0)]:
        e[key] = value
        t[key] = value
    src_e, src_t = pair((4,), dtype, seed=8)
    e[0] = src_e
    t[0] = src_t
    e[[1, 2]] = src_e
    t[[1, 2]] = src_t
    assert_close(e, t)


@pytest.mark.parametrize("dtype", [ember.int64, ember.uint8, ember.bool, ember.float16])
def test_basic_setitem_casts_a_tensor_value(dtype):
    e, t = both((2, 3), dtype)
    e[0] = ember.tensor([1.7, -0.0, 2.2])
    t[0] = torch.tensor([1.7, -0.0, 2.2])
    assert_close(e, t)


def test_setitem_writes_through_views_and_into_the_base():
    base = ember.from_numpy(np.zeros((3, 4), dtype=np.float32))
    view = base[1:, ::2]
    view[0] = 5.0
    view[[1], [1]] = 7.0
    expected = np.zeros((3, 4), dtype=np.float32)
    expected[1, ::2] = 5.0
    expected[2, 2] = 7.0
    np.testing.assert_array_equal(base.numpy(), expected)
    assert base._version == 2


def test_setitem_false_is_a_no_op():
    e, _ = both()
    version = e._version
    e[False] = 1.0
    assert e._version == version
    e[ember.tensor(False)] = 1.0
    assert e._version == version + 1


def test_setitem_on_zero_dim_and_empty_tensors():
    e, t = both(())
    e[...] = 4.0
    t[...] = 4.0
    e[None] = ember.tensor([2.0])
    t[None] = torch.tensor([2.0])
    assert_close(e, t)
    e, t = both((0, 3))
    e[:, 1] = 2.0
    e[[]] = 1.0
    assert_close(e, t)


def test_overlapping_source_is_read_before_it_is_written():
    e, t = both((5,))
    e[1:] = e[:-1].clone()
    t[1:] = t[:-1].clone()
    e[[1, 2, 3]] = e[[0, 1, 2]]
    t[[1, 2, 3]] = t[[0, 1, 2]]
    assert_close(e, t)


@pytest.mark.parametrize("dtype,value", [
    (ember.uint8, 300), (ember.uint8, -256), (ember.int8, 128), (ember.int8, -129), (ember.int16, 2**40),
    (ember.int32, 2**31), (ember.int64, 1e19), (ember.int64, float("nan")), (ember.uint8, float("inf")),
    (ember.float32, 1e39), (ember.int32, 1e39),
])
def test_setitem_refuses_overflowing_scalars(dtype, value):
    e, t = both((3,), dtype)
    for key in (0, [0]):
        with pytest.raises(RuntimeError, match="value cannot be converted to type .* without overflow"):
            e[key] = value
        with pytest.raises(RuntimeError, match="value cannot be converted to type .* without overflow"):
            t[key] = value


@pytest.mark.parametrize("dtype,value", [
    (ember.uint8, -1), (ember.uint8, -255), (ember.uint8, 255), (ember.int8, -128), (ember.int32, 65504.9),
    (ember.int64, -3.7), (ember.float16, 70000.0), (ember.bfloat16, 1e39), (ember.bool, 300), (ember.bool, 0.0),
    (ember.float64, 1e300),
])
def test_setitem_accepts_scalars_torch_accepts(dtype, value):
    e, t = both((3,), dtype)
    e[0] = value
    t[0] = value
    e[[2]] = value
    t[[2]] = value
    assert_close(e, t)


def test_setitem_errors():
    e, _ = both()
    with pytest.raises(RuntimeError, match=r"The expanded size of the tensor \(4\) must match the existing size \(2\) "
                       r"at non-singleton dimension 1\.  Target sizes: \[3, 4\]\.  Tensor sizes: \[2\]"):
        e[0] = ember.tensor([1.0, 2.0])
    with pytest.raises(RuntimeError, match=r"expand\(ember\.FloatTensor\{\[2, 3, 4\]\}, size=\[3, 4\]\): the number "
                       r"of sizes provided \(2\) must be greater or equal to the number of dimensions in the tensor "
                       r"\(3\)"):
        e[0] = ember.zeros(2, 3, 4)
    with pytest.raises(RuntimeError, match=r"shape mismatch: value tensor of shape \[3\] cannot be broadcast to "
                       r"indexing result of shape \[2, 3, 4\]"):
        e[[0, 1]] = ember.tensor([1.0, 2.0, 3.0])
    with pytest.raises(RuntimeError, match="Index put requires the source and destination dtypes match, got Float for "
                       "the destination and Long for the source."):
        e[[0]] = ember.tensor(5)
    with pytest.raises(TypeError, match="can't assign a list to a ember.FloatTensor"):
        e[0] = [1, 2]
    with pytest.raises(TypeError, match="can't assign a str to a ember.FloatTensor"):
        e[0] = "a"
    with pytest.raises(IndexError, match="index 5 is out of bounds for dimension 0 with size 2"):
        e[[5]] = 1.0
    with pytest.raises(IndexError, match="index 5 is out of bounds for dimension 0 with size 2"):
        e[5] = 1.0
    with pytest.raises(ValueError, match="step must be greater than zero"):
        e[::-1] = 1.0


def test_writes_through_expanded_tensors():
    e = ember.from_numpy(np.zeros((1, 3), dtype=np.float32))
    expanded = ember.Tensor._make(e._storage, (4, 3), (0, 1), 0, e.dtype)
    with pytest.raises(RuntimeError, match="more than one element of the written-to tensor refers to a single memory"):
        expanded[:, 0] = 1.0
    expanded[0, 1] = 2.0
    with pytest.warns(UserWarning, match="Use of index_put_ on expanded tensors is deprecated"):
        expanded[[0]] = 3.0
    np.testing.assert_array_equal(e.numpy(), [[3.0, 3.0, 3.0]])


# ----- index_put_ / index_put --------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [ember.float32, ember.float64, ember.float16, ember.bfloat16, *INT_DTYPES])
def test_index_put_accumulates_duplicates(dtype):
    e, t = both((4, 3), dtype)
    idx = [0, 2, 0, 0, 3]
    ve, vt = pair((5, 3), dtype, seed=5, low=0, high=3)
    e.index_put_((ember.tensor(idx),), ve, accumulate=True)
    t.index_put_((torch.tensor(idx),), vt, accumulate=True)
    assert_close(e, t)


def test_index_put_several_indices_masks_and_broadcast_values():
    e, t = both((2, 3, 4))
    rows, cols = [0, 1, 1], [2, 0, 2]
    e.index_put_((ember.tensor(rows), ember.tensor(cols)), ember.tensor([1.0, 2.0, 3.0, 4.0]), accumulate=True)
    t.index_put_((torch.tensor(rows), torch.tensor(cols)), torch.tensor([1.0, 2.0, 3.0, 4.0]), accumulate=True)
    e.index_put_([ember.from_numpy(MASK)], ember.tensor(-1.0))
    t.index_put_([torch.from_numpy(MASK)], torch.tensor(-1.0))
    e.index_put_((ember.tensor([True, False]), ember.tensor([0, 2])), ember.tensor(9.0))
    t.index_put_((torch.tensor([True, False]), torch.tensor([0, 2])), torch.tensor(9.0))
    assert_close(e, t)


def test_index_put_with_duplicates_and_equal_values_is_deterministic():
    e, t = both((4,))
    e.index_put_((ember.tensor([1, 1, 3]),), ember.tensor([5.0, 5.0, 6.0]))
    t.index_put_((torch.tensor([1, 1, 3]),), torch.tensor([5.0, 5.0, 6.0]))
    assert_close(e, t)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_index_put_out_of_place_leaves_input(dtype):
    e, t = both((3, 2), dtype)
    before = e.numpy().copy()
    got = ember.index_put(e, (ember.tensor([2, 2]),), ember.tensor([1.0, 1.0], dtype=dtype), accumulate=True)
    expected = torch.index_put(t, (torch.tensor([2, 2]),), torch.tensor([1.0, 1.0], dtype=DTYPES[dtype]),
                               accumulate=True)
    assert_close(got, expected)
    np.testing.assert_array_equal(e.numpy(), before)
    assert ember.index_put is ember.Tensor.index_put


def test_index_put_errors():
    e, _ = both((2, 3, 4))
    idx = ember.tensor([0])
    with pytest.raises(TypeError, match="expected Tensor as element 1 in argument 0, but got NoneType"):
        e.index_put_((idx, None), ember.tensor(1.0))
    with pytest.raises(TypeError, match="expected Tensor as element 0 in argument 0, but got int"):
        e.index_put_((0,), ember.tensor(1.0))
    with pytest.raises(TypeError, match=r"index_put_\(\): argument 'values' \(position 2\) must be Tensor, not float"):
        e.index_put_((idx,), 1.0)
    with pytest.raises(TypeError, match="must be tuple of Tensors"):
        e.index_put_(idx, ember.tensor(1.0))
    with pytest.raises(IndexError, match="tensors used as indices must be long, int, byte or bool tensors"):
        e.index_put_((ember.tensor([0.0]),), ember.tensor(1.0))
    with pytest.raises(RuntimeError, match="got Float for the destination and Double for the source"):
        e.index_put_((idx,), ember.tensor(1.0, dtype=ember.float64))
    with pytest.raises(IndexError, match=r"too many indices for tensor of dimension 3 \(got 4\)"):
        e.index_put_([idx] * 4, ember.tensor(1.0))
    with pytest.raises(RuntimeError, match=r"value tensor of shape \[1, 1, 1, 4\] cannot be broadcast to indexing "
                       r"result of shape \[1, 3, 4\]"):
        e.index_put_((idx,), ember.ones(1, 1, 1, 4))
    with pytest.raises(IndexError, match="index 9 is out of bounds for dimension 1 with size 3"):
        e.index_put_((idx, ember.tensor([9])), ember.tensor(1.0), accumulate=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        e.index_put_((idx, ember.tensor([-3])), ember.tensor(1.0))
