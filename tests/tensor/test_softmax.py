"""logsumexp, softmax and log_softmax against PyTorch, with the numerically hard rows (1e4, all -inf,
+inf, NaN), dtypes (including ``dtype=``), dims, 0-d, empty and strided inputs, and the errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import ember
from tests.oracle import ALL_DTYPES, DTYPES, FLOAT_DTYPES, assert_close, compare, torch
from tests.tensor.reduction_cases import SHAPES, dims_for, make_pair

INF, NAN = math.inf, math.nan
HARD_ROWS = np.array([
    [1e4, 1e4, -1e4, 0.0],
    [-INF, -INF, -INF, -INF],
    [INF, 1.0, 2.0, 3.0],
    [INF, INF, 1.0, 0.0],
    [NAN, 1.0, 2.0, 3.0],
    [-INF, 0.0, -INF, 5.0],
    [INF, -INF, 0.0, 1.0],
    [-1e4, -1e4 - 1, -1e4 - 2, -INF],
], dtype=np.float64)


def hard(dtype: ember.dtype):
    e = ember.from_numpy(HARD_ROWS.copy()).to(dtype)
    return e, torch.from_numpy(HARD_ROWS.copy()).to(DTYPES[dtype])


@pytest.mark.parametrize("noncontiguous", [False, True], ids=["contiguous", "strided"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
def test_logsumexp_matches_torch(dtype, shape, noncontiguous):
    e, t = make_pair(shape, dtype, seed=1, noncontiguous=noncontiguous)
    for dim in dims_for(shape)[1:]:
        # PyTorch's logsumexp fails internally for dim=() without keepdim; ember reduces every dim, as sum does.
        torch_dim = tuple(range(len(shape))) if dim == () else dim
        for keepdim in (False, True):
            compare(lambda dim=dim, keepdim=keepdim: ember.logsumexp(e, dim, keepdim),
                    lambda dim=torch_dim, keepdim=keepdim: torch.logsumexp(t, dim, keepdim))


@pytest.mark.parametrize("noncontiguous", [False, True], ids=["contiguous", "strided"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_matches_torch(name, dtype, shape, noncontiguous):
    e, t = make_pair(shape, dtype, seed=2, noncontiguous=noncontiguous)
    for dim in dims_for(shape, tuples=False)[1:]:
        compare(lambda dim=dim: getattr(ember, name)(e, dim), lambda dim=dim: getattr(torch, name)(t, dim))
        compare(lambda dim=dim: getattr(e, name)(dim, dtype=ember.float64),
                lambda dim=dim: getattr(t, name)(dim, dtype=torch.float64))


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
def test_hard_rows_match_torch(dtype):
    e, t = hard(dtype)
    assert_close(e.logsumexp(1), t.logsumexp(1))
    assert_close(e.logsumexp(1, keepdim=True), t.logsumexp(1, keepdim=True))
    assert_close(e.softmax(1), t.softmax(1))
    assert_close(e.log_softmax(-1), t.log_softmax(-1))
    assert_close(e.softmax(0), t.softmax(0))
    assert_close(e.log_softmax(0), t.log_softmax(0))
    assert_close(e.logsumexp(0), t.logsumexp(0))


def test_large_values_do_not_overflow():
    e = ember.tensor([[1e4, 1e4, -1e4]])
    assert e.softmax(1).tolist() == [[0.5, 0.5, 0.0]]
    assert math.isclose(e.logsumexp(1).item(), 1e4 + math.log(2), rel_tol=1e-7)
    assert math.isclose(e.log_softmax(1).tolist()[0][2], -2e4 - math.log(2), rel_tol=1e-7)


def test_integer_logsumexp_uses_the_default_dtype():
    e, t = make_pair((3, 4), ember.int64, seed=3)
    assert_close(e.logsumexp(1), t.logsumexp(1))
    ember.set_default_dtype(ember.float64)
    torch.set_default_dtype(torch.float64)
    try:
        assert_close(e.logsumexp(1), t.logsumexp(1))
    finally:
        torch.set_default_dtype(torch.float32)


def test_empty_slices():
    e = ember.zeros(2, 0, 3)
    assert e.logsumexp(1).tolist() == [[-INF] * 3] * 2
    assert tuple(e.logsumexp(0).shape) == (0, 3)
    assert tuple(e.softmax(1).shape) == (2, 0, 3) and tuple(e.log_softmax(0).shape) == (2, 0, 3)


def test_errors():
    ints = ember.tensor([[1, 2], [3, 4]])
    with pytest.raises(NotImplementedError, match="\"softmax_lastdim_kernel_impl\" not implemented for 'Long'"):
        ints.softmax(1)
    with pytest.raises(NotImplementedError, match="\"softmax_kernel_impl\" not implemented for 'Long'"):
        ints.softmax(0)
    with pytest.raises(NotImplementedError, match="\"log_softmax_lastdim_kernel_impl\" not implemented for 'Bool'"):
        ember.tensor([True]).log_softmax(0)
    with pytest.raises(NotImplementedError, match="\"softmax_lastdim_kernel_impl\" not implemented for 'Long'"):
        ember.ones(3).softmax(0, dtype=ember.int64)
    with pytest.raises(TypeError, match=r"softmax\(\): argument 'dim' \(position 1\) must be int, not NoneType"):
        ember.ones(3).softmax(None)
    with pytest.raises(TypeError):
        ember.softmax(ember.ones(3))
    with pytest.raises(IndexError, match=r"range of \[-2, 1\], but got 2"):
        ember.ones(2, 2).log_softmax(2)
    with pytest.raises(IndexError, match=r"range of \[-1, 0\], but got 1"):
        ember.tensor(1.0).logsumexp(1)
    with pytest.raises(RuntimeError, match="appears multiple times"):
        ember.ones(2, 2).logsumexp((0, -2))


def test_results_never_share_memory_with_input():
    e = ember.from_numpy(np.array(2.0, dtype=np.float32))
    for out in (e.softmax(0), e.log_softmax(-1), e.logsumexp(0), e.logsumexp(())):
        assert not np.shares_memory(out.numpy(), e.numpy())


def test_exports():
    for name in ("logsumexp", "softmax", "log_softmax"):
        assert getattr(ember, name) is getattr(ember.Tensor, name)
