"""sum, nansum, mean, nanmean, prod, all, any and count_nonzero against PyTorch.

Every op runs over every dtype, shapes from 0-d to 3-d including empty ones, contiguous and strided
inputs, and each spelling of ``dim`` (None, int, negative, tuple, list, ``()``) with and without
``keepdim``. Where PyTorch refuses a case, ember must refuse it with the same exception type.
"""

from __future__ import annotations

import numpy as np
import pytest

import ember
from tests.oracle import ALL_DTYPES, DTYPES, FLOAT_DTYPES, assert_close, compare, to_torch, torch
from tests.tensor.reduction_cases import SHAPES, dims_for, make_pair


@pytest.mark.parametrize("noncontiguous", [False, True], ids=["contiguous", "strided"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
@pytest.mark.parametrize("name", ["sum", "nansum", "mean", "nanmean", "all", "any"])
def test_dim_reductions_match_torch(name, dtype, shape, noncontiguous):
    e, t = make_pair(shape, dtype, seed=len(shape), noncontiguous=noncontiguous)
    for dim in dims_for(shape):
        for keepdim in (False, True):
            compare(lambda dim=dim, keepdim=keepdim: getattr(ember, name)(e, dim=dim, keepdim=keepdim),
                    lambda dim=dim, keepdim=keepdim: getattr(torch, name)(t, dim=dim, keepdim=keepdim))


@pytest.mark.parametrize("noncontiguous", [False, True], ids=["contiguous", "strided"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
def test_prod_and_count_nonzero_match_torch(dtype, shape, noncontiguous):
    e, t = make_pair(shape, dtype, seed=3, noncontiguous=noncontiguous)
    assert_close(ember.prod(e), torch.prod(t))
    assert_close(ember.count_nonzero(e), torch.count_nonzero(t))
    for dim in dims_for(shape, tuples=False)[1:]:
        for keepdim in (False, True):
            assert_close(ember.prod(e, dim, keepdim), torch.prod(t, dim, keepdim))
    for dim in dims_for(shape):
        compare(lambda dim=dim: ember.count_nonzero(e, dim), lambda dim=dim: torch.count_nonzero(t, dim))


@pytest.mark.parametrize("out", [ember.float32, ember.float64, ember.int32, ember.int64, ember.float16, ember.bool])
@pytest.mark.parametrize("dtype", [ember.bool, ember.int8, ember.uint8, ember.float32, ember.float16])
@pytest.mark.parametrize("name", ["sum", "nansum", "prod", "mean"])
def test_dtype_argument_casts_first(name, dtype, out):
    e, t = make_pair((3, 4), dtype, seed=7)
    compare(lambda: getattr(ember, name)(e, dtype=out), lambda: getattr(torch, name)(t, dtype=DTYPES[out]))
    compare(lambda: getattr(e, name)(1, dtype=out), lambda: getattr(t, name)(1, dtype=DTYPES[out]))


def test_integer_and_bool_sums_are_int64_and_wrap_like_torch():
    e, t = make_pair((4, 50), ember.uint8, seed=1, low=0, high=255)
    assert_close(e.sum(), t.sum())
    assert e.sum().dtype is ember.int64 and ember.tensor([True, True]).sum().item() == 2
    assert_close(e.sum(dtype=ember.uint8), t.sum(dtype=torch.uint8))
    big = ember.tensor([2**40, 2**40, 3])
    assert_close(big.prod(), torch.tensor([2**40, 2**40, 3]).prod())


def test_float32_sum_precision_matches_torch():
    rng = np.random.default_rng(0)
    data = rng.standard_normal(10**6).astype(np.float32) + np.float32(1e3)
    e, t = ember.from_numpy(data), torch.from_numpy(data)
    assert_close(e.sum(), t.sum(), rtol=1e-6)
    assert_close(e.mean(), t.mean(), rtol=1e-6)
    wide = data.reshape(1000, 1000)
    assert_close(ember.from_numpy(wide).sum(0), torch.from_numpy(wide).sum(0), rtol=1e-5)


@pytest.mark.parametrize("dtype", [ember.float16, ember.bfloat16])
def test_half_types_accumulate_in_float32(dtype):
    # Accumulating 1.1 ten thousand times in float16 itself would stall near 2048.
    e = ember.full((10000,), 1.1, dtype=dtype)
    t = torch.full((10000,), 1.1, dtype=DTYPES[dtype])
    assert_close(e.sum(), t.sum(), rtol=0, atol=0)
    assert_close(e.mean(), t.mean(), rtol=0, atol=0)
    assert_close(e.nansum(), t.nansum(), rtol=0, atol=0)


def test_empty_reductions_give_identities():
    e = ember.zeros(0, 3)
    assert e.sum().item() == 0 and e.prod().item() == 1 and np.isnan(e.mean().item())
    assert e.all().item() is True and e.any().item() is False
    assert ember.count_nonzero(e).item() == 0
    assert e.sum(0).tolist() == [0.0, 0.0, 0.0] and tuple(e.mean(1).shape) == (0,)


def test_all_any_empty_tuple_reduces_nothing_and_keep_uint8():
    e, t = make_pair((2, 3), ember.uint8, seed=2)
    assert_close(e.all(()), t.all(()))
    assert_close(e.any(dim=()), t.any(dim=()))
    assert e.all().dtype is ember.uint8 and e.any(0).dtype is ember.uint8
    assert ember.tensor([0.5, float("nan")]).all().item() is True


def test_nan_handling():
    data = np.array([[1.0, np.nan, 2.0], [np.nan, np.nan, np.nan]], dtype=np.float32)
    e, t = ember.from_numpy(data), torch.from_numpy(data)
    for name in ("sum", "mean", "nansum", "nanmean", "prod"):
        assert_close(getattr(e, name)(1), getattr(t, name)(1))
    assert_close(ember.count_nonzero(e, 1), torch.count_nonzero(t, 1))


def test_transposed_input():
    data = np.random.default_rng(5).standard_normal((4, 6)).astype(np.float32)
    e, t = ember.from_numpy(data.T), torch.from_numpy(data.T.copy())
    assert not e.is_contiguous()
    for dim in (None, 0, 1, (0, 1)):
        assert_close(e.sum(dim), t.sum(dim))
        assert_close(e.mean(dim), t.mean(dim))


@pytest.mark.parametrize("make", [
    lambda x: x.sum(dim=()), lambda x: x.mean(0), lambda x: x.all(()), lambda x: x.any(-1),
    lambda x: x.prod(0), lambda x: x.nansum(()), lambda x: x.count_nonzero(0),
], ids=["sum", "mean", "all", "any", "prod", "nansum", "count_nonzero"])
@pytest.mark.parametrize("shape", [(), (1,), (3,)], ids=str)
def test_results_never_share_memory_with_input(make, shape):
    e, _ = make_pair(shape, ember.float32, seed=4)
    out = make(e)
    assert not np.shares_memory(out.numpy(), e.numpy())
    mask = ember.from_numpy(np.asarray(e.numpy() > 0))
    assert not np.shares_memory(mask.all(()).numpy(), mask.numpy())


def test_methods_and_top_level_exports():
    e, t = make_pair((2, 3), ember.float32, seed=9)
    assert_close(e.sum(1, True), t.sum(1, True))
    assert_close(e.mean((0, 1)), t.mean((0, 1)))
    assert_close(e.prod(-1), t.prod(-1))
    assert_close(e.count_nonzero(dim=1), t.count_nonzero(dim=1))
    assert_close(e.nanmean(), t.nanmean())
    for name in ("sum", "nansum", "mean", "nanmean", "prod", "all", "any", "count_nonzero"):
        assert getattr(ember, name) is getattr(ember.Tensor, name)


def test_error_messages():
    ints = ember.tensor([[1, 2], [3, 4]])
    with pytest.raises(RuntimeError, match=r"mean\(\): could not infer output dtype\. Input dtype must be either a "
                       r"floating point or complex dtype\. Got: Long"):
        ints.mean()
    with pytest.raises(RuntimeError, match="Input dtype must be .* Got: Bool"):
        ember.tensor([True]).mean()
    with pytest.raises(RuntimeError, match="Optional dtype must be .* Got: Int"):
        ember.ones(3).mean(dtype=ember.int32)
    with pytest.raises(RuntimeError, match=r"nanmean\(\): expected input to have floating point .* got Long"):
        ints.nanmean()
    with pytest.raises(IndexError, match=r"Dimension out of range \(expected to be in range of \[-2, 1\], but got 2\)"):
        ints.sum(2)
    with pytest.raises(IndexError, match=r"range of \[-1, 0\], but got 1"):
        ember.tensor(1.0).sum(1)
    with pytest.raises(RuntimeError, match="dim 1 appears multiple times in the list of dims"):
        ints.sum((1, -1))
    with pytest.raises(RuntimeError, match="dim 0 appears multiple times"):
        ember.tensor(1.0).any((0, -1))
    with pytest.raises(TypeError, match="dim"):
        ints.sum(1.0)
    with pytest.raises(TypeError, match="dim"):
        ints.prod((0, 1))
    with pytest.raises(TypeError, match="keepdim"):
        ints.prod(keepdim=True)
    with pytest.raises(TypeError, match="dtype"):
        ints.sum(dtype="float32")
    with pytest.raises(TypeError, match="must be Tensor, not list"):
        ember.sum([1, 2])


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
def test_keepdim_with_dim_none_keeps_every_dim(dtype):
    e, t = make_pair((2, 3), dtype, seed=11)
    assert_close(ember.sum(e, None, True), torch.sum(t, None, True))
    assert_close(ember.mean(e, None, True), torch.mean(t, None, True))
    assert_close(ember.all(e, None, True), torch.all(to_torch(e), None, True))
