"""sort, argsort, msort, topk, kthvalue, unique against PyTorch: every dtype, ties (stable order), NaN ordering,
0-d/empty/non-contiguous inputs, named-tuple results, errors."""

from __future__ import annotations

import numpy as np
import pytest

import ember
from tests.oracle import ALL_DTYPES, DTYPES, FLOAT_DTYPES, assert_close, pair, torch

NUMERIC = [d for d in ALL_DTYPES if d is not ember.bool]
NAN_ROWS = [[3.0, float("nan"), 1.0, float("nan"), -float("inf"), 1.0], [0.0, -0.0, 2.0, float("inf"), 2.0, -1.0]]


def ties_pair(shape, dtype, seed=0, noncontiguous=False):
    """Values drawn from a handful, so that ties are common."""
    return pair(shape, dtype, seed=seed, low=0, high=3, noncontiguous=noncontiguous)


def check_picks(values: ember.Tensor, indices: ember.Tensor, source: ember.Tensor, dim: int) -> None:
    """``indices`` point at ``values`` in ``source`` along ``dim`` (for results whose tie order is unspecified)."""
    src = np.asarray(source.numpy(), dtype=np.float64)
    if src.ndim == 0:
        assert indices.item() == 0
        return
    picked = np.take_along_axis(src, indices.numpy(), axis=dim)
    np.testing.assert_array_equal(picked, np.asarray(values.numpy(), dtype=np.float64))


# ----- sort / argsort / msort --------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ALL_DTYPES)
@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("noncontiguous", [False, True])
def test_stable_sort_matches_torch_exactly(dtype, descending, noncontiguous):
    e, t = ties_pair((3, 4, 6), dtype, seed=1, noncontiguous=noncontiguous)
    for dim in (0, 1, -1):
        got = ember.sort(e, dim, descending, stable=True)
        assert_close(got, torch.sort(t, dim=dim, descending=descending, stable=True))
        assert_close(e.argsort(dim, descending, stable=True),
                     t.argsort(dim=dim, descending=descending, stable=True))
        assert_close(e.sort(dim=dim, descending=descending).values, t.sort(dim=dim, descending=descending).values)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("descending", [False, True])
def test_sort_puts_nan_last_ascending_and_first_descending(dtype, descending):
    e = ember.tensor(NAN_ROWS, dtype=dtype)
    t = torch.tensor(NAN_ROWS, dtype=DTYPES[dtype])
    assert_close(ember.sort(e, descending=descending, stable=True),
                 torch.sort(t, descending=descending, stable=True))
    assert_close(ember.argsort(e, 0, descending, stable=True),
                 torch.argsort(t, dim=0, descending=descending, stable=True))


@pytest.mark.parametrize("shape,dim", [((), 0), ((), -1), ((0,), 0), ((2, 0), 1), ((2, 0), 0), ((1,), 0)], ids=str)
def test_sort_zero_dim_and_empty(shape, dim):
    e, t = pair(shape, seed=2)
    assert_close(ember.sort(e, dim), torch.sort(t, dim))
    assert_close(ember.argsort(e, dim), torch.argsort(t, dim))
    assert_close(ember.msort(e), torch.msort(t))


def test_sort_returns_a_named_tuple_and_keywords():
    e, t = ties_pair((2, 5), ember.int64, seed=3)
    result = e.sort(descending=True, dim=0, stable=True)
    values, indices = result
    assert result.values is values and result.indices is indices
    assert_close(values, t.sort(descending=True, dim=0, stable=True).values)
    assert_close(ember.msort(e), torch.msort(t))
    assert_close(e.msort(), t.msort())
    assert isinstance(result, tuple) and "values=" in repr(result)


def test_sort_errors():
    e, _ = pair((2, 3))
    with pytest.raises(IndexError, match=r"Dimension out of range \(expected to be in range of \[-2, 1\], but got 2\)"):
        ember.sort(e, 2)
    with pytest.raises(TypeError, match="dim"):
        ember.sort(e, dim=1.0)
    with pytest.raises(IndexError, match="Dimension out of range"):
        ember.argsort(e, -3)


# ----- topk ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", NUMERIC)
@pytest.mark.parametrize("largest", [True, False])
def test_topk_values_match_and_indices_point_at_them(dtype, largest):
    e, t = ties_pair((3, 4, 6), dtype, seed=4, noncontiguous=True)
    for dim, k in [(-1, 3), (0, 2), (1, 4), (2, 0), (2, 6)]:
        got = ember.topk(e, k, dim, largest)
        expected = torch.topk(t, k, dim, largest)
        assert_close(got.values, expected.values)
        assert got.indices.dtype is ember.int64 and got.indices.shape == expected.indices.shape
        check_picks(got.values, got.indices, e, dim)


def test_topk_with_distinct_values_gives_torch_indices_too():
    e, t = pair((4, 7), ember.float64, seed=5)
    assert_close(e.topk(3), t.topk(3))
    assert_close(e.topk(2, dim=0, largest=False, sorted=False).values, t.topk(2, dim=0, largest=False).values)
    assert_close(ember.topk(e, k=1, dim=1), torch.topk(t, k=1, dim=1))


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_topk_counts_nan_as_largest(dtype):
    e = ember.tensor(NAN_ROWS, dtype=dtype)
    t = torch.tensor(NAN_ROWS, dtype=DTYPES[dtype])
    for largest in (True, False):
        got = ember.topk(e, 3, largest=largest)
        assert_close(got.values, torch.topk(t, 3, largest=largest).values)
        check_picks(got.values, got.indices, e, -1)


def test_topk_zero_dim_and_empty():
    e, t = pair((), seed=6)
    for k in (0, 1):
        assert_close(ember.topk(e, k), torch.topk(t, k))
    z, zt = pair((0, 3), seed=7)
    assert_close(ember.topk(z, 0, dim=0), torch.topk(zt, 0, dim=0))
    assert_close(ember.topk(z, 2), torch.topk(zt, 2))


def test_topk_errors():
    e, _ = pair((2, 4))
    for k in (5, -1):
        with pytest.raises(RuntimeError, match="selected index k out of range"):
            ember.topk(e, k)
    with pytest.raises(RuntimeError, match="selected index k out of range"):
        ember.topk(ember.tensor(3.0), 2)
    with pytest.raises(RuntimeError, match="topk does not support bool dtypes on CPU"):
        ember.topk(ember.tensor([True, False]), 1)
    with pytest.raises(TypeError, match=r"topk\(\): argument 'k' \(position 2\) must be int, not float"):
        ember.topk(e, 1.5)
    with pytest.raises(IndexError, match="Dimension out of range"):
        ember.topk(e, 1, dim=2)


# ----- kthvalue --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", NUMERIC)
@pytest.mark.parametrize("keepdim", [False, True])
def test_kthvalue(dtype, keepdim):
    e, t = ties_pair((3, 5), dtype, seed=8, noncontiguous=True)
    for dim, k in [(-1, 1), (-1, 3), (1, 5), (0, 2)]:
        got = ember.kthvalue(e, k, dim, keepdim)
        expected = torch.kthvalue(t, k, dim, keepdim)
        assert_close(got.values, expected.values)
        assert got.indices.shape == expected.indices.shape and got.values.is_contiguous()
        values, indices = got
        if not keepdim:
            values, indices = values.numpy(), indices.numpy()
            values = ember.from_numpy(np.expand_dims(values, dim))
            indices = ember.from_numpy(np.expand_dims(indices, dim))
        check_picks(values, indices, e, dim)


def test_kthvalue_with_nan_zero_dim_and_keywords():
    e = ember.tensor(NAN_ROWS)
    t = torch.tensor(NAN_ROWS)
    for k in (1, 4, 6):
        assert_close(e.kthvalue(k).values, t.kthvalue(k).values)
    assert_close(ember.kthvalue(ember.tensor(2.0), 1), torch.kthvalue(torch.tensor(2.0), 1))
    d, dt = pair((4, 3), ember.float64, seed=9)
    assert_close(d.kthvalue(2, dim=0, keepdim=True), dt.kthvalue(2, dim=0, keepdim=True))


def test_kthvalue_errors():
    e, _ = pair((2, 4))
    for k in (0, 5):
        with pytest.raises(RuntimeError, match=r"kthvalue\(\): selected number k out of range for dimension 1"):
            ember.kthvalue(e, k)
    with pytest.raises(IndexError, match=r"kthvalue\(\): Expected reduction dim 0 to have non-zero size\."):
        ember.kthvalue(ember.zeros(0), 1)
    with pytest.raises(NotImplementedError, match="not implemented for 'Bool'"):
        ember.kthvalue(ember.tensor([True, False]), 1)
    with pytest.raises(TypeError, match="must be int"):
        ember.kthvalue(e, 1.0)


# ----- unique ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_unique_with_inverse_and_counts(dtype):
    e, t = ties_pair((3, 5), dtype, seed=10, noncontiguous=True)
    assert_close(ember.unique(e), torch.unique(t))
    assert_close(e.unique(return_inverse=True), t.unique(return_inverse=True))
    assert_close(ember.unique(e, return_counts=True), torch.unique(t, return_counts=True))
    assert_close(ember.unique(e, sorted=False, return_inverse=True, return_counts=True),
                 torch.unique(t, sorted=True, return_inverse=True, return_counts=True))


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_unique_along_a_dim(dim):
    arr = np.array([[1, 2, 1, 2], [0, 5, 0, 5], [1, 2, 1, 2]], dtype=np.int64)
    e, t = ember.from_numpy(arr), torch.from_numpy(arr.copy())
    assert_close(ember.unique(e, dim=dim, return_inverse=True, return_counts=True),
                 torch.unique(t, dim=dim, return_inverse=True, return_counts=True))


def test_unique_keeps_nans_apart_and_handles_zero_dim_and_empty():
    values = [float("nan"), 1.0, float("nan"), 1.0]
    assert_close(ember.unique(ember.tensor(values), return_counts=True),
                 torch.unique(torch.tensor(values), return_counts=True))
    assert_close(ember.unique(ember.tensor(2), return_inverse=True), torch.unique(torch.tensor(2), return_inverse=True))
    assert_close(ember.unique(ember.tensor([])), torch.unique(torch.tensor([])))
    assert_close(ember.unique(ember.zeros(2, 0), dim=1), torch.unique(torch.zeros(2, 0), dim=1))
    assert_close(ember.unique(ember.zeros(0, 3), dim=0, return_inverse=True, return_counts=True),
                 torch.unique(torch.zeros(0, 3), dim=0, return_inverse=True, return_counts=True))


def test_unique_errors():
    with pytest.raises(IndexError, match="Dimension specified as 0 but tensor has no dimensions"):
        ember.unique(ember.tensor(2), dim=0)
    with pytest.raises(IndexError, match="Dimension out of range"):
        ember.unique(ember.zeros(2, 2), dim=2)
    with pytest.raises(RuntimeError, match="There are 0 sized dimensions, and they aren't selected"):
        ember.unique(ember.zeros(0, 3), dim=1)


def test_methods_and_top_level_exports():
    for name in ("sort", "argsort", "msort", "topk", "kthvalue", "unique"):
        assert getattr(ember, name) is getattr(ember.Tensor, name)
