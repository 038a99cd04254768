"""cumsum and cumprod against PyTorch: every dtype (bool and integers scan in int64), ``dtype=``,
dims incl. 0-d, empty and strided inputs, accumulation precision and the errors."""

from __future__ import annotations

import numpy as np
import pytest

import ember
from tests.oracle import ALL_DTYPES, DTYPES, assert_close, compare, torch
from tests.tensor.reduction_cases import SHAPES, dims_for, make_pair


@pytest.mark.parametrize("noncontiguous", [False, True], ids=["contiguous", "strided"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
@pytest.mark.parametrize("name", ["cumsum", "cumprod"])
def test_scans_match_torch(name, dtype, shape, noncontiguous):
    e, t = make_pair(shape, dtype, seed=1, noncontiguous=noncontiguous)
    for dim in dims_for(shape, tuples=False)[1:]:
        compare(lambda dim=dim: getattr(ember, name)(e, dim), lambda dim=dim: getattr(torch, name)(t, dim))
        compare(lambda dim=dim: getattr(e, name)(dim=dim), lambda dim=dim: getattr(t, name)(dim=dim))


@pytest.mark.parametrize("out", [ember.float32, ember.float64, ember.int8, ember.int64, ember.bfloat16, ember.bool])
@pytest.mark.parametrize("dtype", [ember.bool, ember.uint8, ember.int32, ember.float16, ember.float32])
@pytest.mark.parametrize("name", ["cumsum", "cumprod"])
def test_dtype_argument(name, dtype, out):
    e, t = make_pair((3, 5), dtype, seed=2)
    compare(lambda: getattr(ember, name)(e, 1, dtype=out), lambda: getattr(torch, name)(t, 1, dtype=DTYPES[out]))


def test_float32_running_sum_does_not_drift():
    # PyTorch's CPU scan accumulates float32 in double; a float32 accumulator ends ~1% off here.
    e, t = ember.full((10**6,), 0.1), torch.full((10**6,), 0.1)
    expected = t.cumsum(0)
    result = e.cumsum(0)
    assert_close(result, expected, rtol=1e-6)
    assert result.numpy()[-1] == expected.numpy()[-1]


@pytest.mark.parametrize("dtype", [ember.float16, ember.bfloat16])
def test_half_types_accumulate_in_float32(dtype):
    e, t = ember.full((3000,), 1.0, dtype=dtype), torch.full((3000,), 1.0, dtype=DTYPES[dtype])
    assert_close(e.cumsum(0), t.cumsum(0), rtol=0, atol=0)


def test_integer_scans_are_int64_and_wrap_like_torch():
    e, t = make_pair((2, 40), ember.int8, seed=3, low=-100, high=100)
    assert e.cumsum(1).dtype is ember.int64
    assert_close(e.cumsum(1), t.cumsum(1))
    assert_close(e.cumprod(1), t.cumprod(1))
    assert_close(e.cumsum(1, dtype=ember.int8), t.cumsum(1, dtype=torch.int8))


def test_transposed_input():
    data = np.random.default_rng(5).standard_normal((4, 6)).astype(np.float32)
    e, t = ember.from_numpy(data.T), torch.from_numpy(data.T.copy())
    for dim in (0, 1, -1):
        assert_close(e.cumsum(dim), t.cumsum(dim))
        assert_close(e.cumprod(dim), t.cumprod(dim))


def test_errors():
    with pytest.raises(NotImplementedError, match="\"cumsum_out_cpu\" not implemented for 'Bool'"):
        ember.ones(3).cumsum(0, dtype=ember.bool)
    with pytest.raises(NotImplementedError, match="\"cumprod_out_cpu\" not implemented for 'Bool'"):
        ember.tensor([1, 2]).cumprod(0, dtype=ember.bool)
    with pytest.raises(IndexError, match=r"range of \[-2, 1\], but got 2"):
        ember.ones(2, 2).cumsum(2)
    with pytest.raises(IndexError, match=r"range of \[-1, 0\], but got 1"):
        ember.tensor(1.0).cumprod(1)
    with pytest.raises(TypeError):
        ember.cumsum(ember.ones(3))
    with pytest.raises(TypeError, match="dtype"):
        ember.ones(3).cumsum(0, dtype="float64")


def test_results_never_share_memory_with_input():
    for e in (ember.from_numpy(np.array(2.0, dtype=np.float64)), ember.from_numpy(np.arange(3))):
        for out in (e.cumsum(0), e.cumprod(-1)):
            assert not np.shares_memory(out.numpy(), e.numpy())


def test_exports():
    for name in ("cumsum", "cumprod"):
        assert getattr(ember, name) is getattr(ember.Tensor, name)
