"""amax, amin, max, min, argmax, argmin and aminmax against PyTorch: every dtype and shape, NaN
propagation, first-occurrence ties, the named-tuple results and the empty-input errors."""

from __future__ import annotations

import numpy as np
import pytest

import ember
from ember.tensor.ops.extrema import AminmaxResult, MaxResult, MinResult
from tests.oracle import ALL_DTYPES, FLOAT_DTYPES, assert_close, compare, to_torch, torch
from tests.tensor.reduction_cases import SHAPES, dims_for, make_pair


def both(data, dtype: ember.dtype = ember.float32):
    e = ember.from_numpy(np.asarray(data, dtype=np.float32 if dtype is ember.bfloat16 else dtype.np_dtype))
    e = e.to(dtype)
    return e, to_torch(e)


@pytest.mark.parametrize("noncontiguous", [False, True], ids=["contiguous", "strided"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
@pytest.mark.parametrize("name", ["amax", "amin"])
def test_amax_amin_match_torch(name, dtype, shape, noncontiguous):
    e, t = make_pair(shape, dtype, seed=1, noncontiguous=noncontiguous)
    compare(lambda: getattr(ember, name)(e), lambda: getattr(torch, name)(t))
    for dim in dims_for(shape):
        for keepdim in (False, True):
            compare(lambda dim=dim, keepdim=keepdim: getattr(ember, name)(e, dim, keepdim),
                    lambda dim=dim, keepdim=keepdim: getattr(torch, name)(t, dim if dim is not None else (), keepdim))


@pytest.mark.parametrize("noncontiguous", [False, True], ids=["contiguous", "strided"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_match_torch(name, dtype, shape, noncontiguous):
    # Integer draws from a small range, so ties are common and the first-occurrence rule is exercised.
    e, t = make_pair(shape, dtype, seed=2, noncontiguous=noncontiguous)
    compare(lambda: getattr(ember, name)(e), lambda: getattr(torch, name)(t))
    for dim in dims_for(shape, tuples=False)[1:]:
        for keepdim in (False, True):
            compare(lambda dim=dim, keepdim=keepdim: tuple(getattr(e, name)(dim, keepdim)),
                    lambda dim=dim, keepdim=keepdim: tuple(getattr(t, name)(dim, keepdim)))


@pytest.mark.parametrize("noncontiguous", [False, True], ids=["contiguous", "strided"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_argmax_argmin_match_torch(name, dtype, shape, noncontiguous):
    e, t = make_pair(shape, dtype, seed=3, noncontiguous=noncontiguous)
    for dim in dims_for(shape, tuples=False):
        for keepdim in (False, True):
            compare(lambda dim=dim, keepdim=keepdim: getattr(ember, name)(e, dim, keepdim),
                    lambda dim=dim, keepdim=keepdim: getattr(torch, name)(t, dim, keepdim))


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
def test_aminmax_matches_torch(dtype, shape):
    e, t = make_pair(shape, dtype, seed=4)
    compare(lambda: tuple(ember.aminmax(e)), lambda: tuple(torch.aminmax(t)))
    for dim in dims_for(shape, tuples=False)[1:]:
        for keepdim in (False, True):
            compare(lambda dim=dim, keepdim=keepdim: tuple(e.aminmax(dim=dim, keepdim=keepdim)),
                    lambda dim=dim, keepdim=keepdim: tuple(t.aminmax(dim=dim, keepdim=keepdim)))


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
def test_nan_propagates_and_its_index_is_the_first(dtype):
    nan = np.nan
    e, t = both([[1.0, nan, 3.0, nan], [2.0, 5.0, 5.0, 1.0], [nan, 1.0, nan, 0.0]], dtype)
    for name in ("max", "min"):
        assert_close(getattr(e, name)(), getattr(t, name)())
        assert_close(tuple(getattr(e, name)(1)), tuple(getattr(t, name)(1)))
        assert_close(tuple(getattr(e, name)(0, keepdim=True)), tuple(getattr(t, name)(0, keepdim=True)))
    for name in ("amax", "amin", "argmax", "argmin"):
        assert_close(getattr(e, name)(), getattr(t, name)())
        assert_close(getattr(e, name)(1), getattr(t, name)(1))
        assert_close(getattr(e, name)(0), getattr(t, name)(0))
    assert_close(tuple(ember.aminmax(e, dim=1)), tuple(torch.aminmax(t, dim=1)))


@pytest.mark.parametrize("dtype", [ember.int32, ember.uint8, ember.float32])
def test_ties_give_the_first_occurrence(dtype):
    e, t = both([[5, 1, 5, 1], [2, 2, 2, 2], [0, 3, 3, 0]], dtype)
    for name in ("argmax", "argmin"):
        assert_close(getattr(e, name)(1), getattr(t, name)(1))
        assert_close(getattr(e, name)(), getattr(t, name)())
    assert e.argmax(1).tolist() == [0, 0, 1]
    assert e.min(1).indices.tolist() == [1, 0, 0]
    assert_close(tuple(e.max(0)), tuple(t.max(0)))


def test_named_tuple_results():
    e, t = both([[1.0, 7.0], [4.0, 2.0]])
    result = ember.max(e, 1)
    assert isinstance(result, MaxResult) and isinstance(result, tuple)
    assert result.values.tolist() == [7.0, 4.0] and result.indices.tolist() == [1, 0]
    values, indices = e.min(dim=0, keepdim=True)
    assert isinstance(e.min(0), MinResult) and values.tolist() == [[1.0, 2.0]] and indices.tolist() == [[0, 1]]
    pair = ember.aminmax(e)
    assert isinstance(pair, AminmaxResult) and pair.min.item() == 1.0 and pair.max.item() == 7.0
    assert_close(tuple(ember.max(e, dim=-1, keepdim=True)), tuple(torch.max(t, dim=-1, keepdim=True)))


def test_zero_dim_reductions():
    e, t = both(3.5)
    for name in ("max", "min"):
        assert_close(tuple(getattr(e, name)(0)), tuple(getattr(t, name)(0)))
        assert_close(tuple(getattr(e, name)(-1, True)), tuple(getattr(t, name)(-1, True)))
    for name in ("argmax", "argmin", "amax", "amin"):
        assert_close(getattr(e, name)(0), getattr(t, name)(0))
        assert_close(getattr(e, name)(-1, keepdim=True), getattr(t, name)(-1, keepdim=True))
    with pytest.raises(IndexError, match=r"range of \[-1, 0\], but got 1"):
        e.max(1)


def test_transposed_input():
    data = np.random.default_rng(5).standard_normal((4, 6)).astype(np.float32)
    e, t = ember.from_numpy(data.T), torch.from_numpy(data.T.copy())
    assert_close(e.argmax(), t.argmax())
    assert_close(tuple(e.max(1)), tuple(t.max(1)))
    assert_close(e.amin((0, 1), keepdim=True), t.amin((0, 1), keepdim=True))


def test_max_with_other_is_elementwise_maximum():
    e, t = both([[1.0, np.nan, 3.0], [2.0, 5.0, -5.0]])
    o, ot = both([0.0, 4.0, 4.0])
    assert_close(ember.max(e, o), torch.max(t, ot))
    assert_close(e.min(o), t.min(ot))
    assert_close(ember.max(e, other=o), torch.max(t, other=ot))
    i, it = both([[1, 7, 2]], ember.int64)
    assert_close(e.max(i), t.max(it))  # broadcasting and type promotion are maximum's
    with pytest.raises(RuntimeError, match="size"):
        ember.max(e, ember.ones(4))
    with pytest.raises(TypeError):
        ember.max(e, o, True)


def test_empty_input_errors():
    e = ember.zeros(2, 0, 3)
    full = r"\(\): Expected reduction dim to be specified for input.numel\(\) == 0\. Specify the reduction dim"
    for name in ("max", "min", "amax", "amin"):
        with pytest.raises(RuntimeError, match=name + full):
            getattr(e, name)()
    with pytest.raises(RuntimeError, match="amax" + full):
        e.amax(())
    with pytest.raises(IndexError, match=r"amax\(\): Expected reduction dim 1 to have non-zero size\."):
        e.amax((2, 1))
    with pytest.raises(IndexError, match=r"max\(\): Expected reduction dim 1 to have non-zero size\."):
        e.max(-2)
    with pytest.raises(IndexError, match=r"argmin\(\): Expected reduction dim to be specified for input.numel"):
        e.argmin()
    with pytest.raises(IndexError, match=r"argmax\(\): Expected reduction dim 1 to have non-zero size"):
        e.argmax(1)
    with pytest.raises(RuntimeError, match=r"aminmax\(\): cannot compute aminmax over an empty dimension"):
        ember.aminmax(e)
    with pytest.raises(IndexError, match="aminmax: Expected reduction dim 1 to have non-zero size"):
        ember.aminmax(e, dim=1)
    assert tuple(e.amax(0).shape) == (0, 3) and tuple(e.max(2).indices.shape) == (2, 0)


def test_argument_errors():
    e = ember.ones(2, 3)
    with pytest.raises(RuntimeError, match=r"argmax\(\): does not support bool input"):
        ember.tensor([True, False]).argmax()
    with pytest.raises(RuntimeError, match=r"argmin\(\): does not support bool input"):
        ember.tensor([True, False]).argmin(0)
    with pytest.raises(TypeError, match=r"argmax\(\): argument 'dim' \(position 1\) must be int, not float"):
        e.argmax(1.5)
    with pytest.raises(TypeError, match="must be int, not tuple"):
        e.max((0, 1))
    with pytest.raises(TypeError, match="keepdim"):
        e.max(keepdim=True)
    with pytest.raises(IndexError, match=r"range of \[-2, 1\], but got 3"):
        e.max(3)
    with pytest.raises(IndexError, match=r"range of \[-2, 1\], but got -3"):
        e.argmin(-3)
    with pytest.raises(RuntimeError, match="appears multiple times"):
        e.amax((0, -2))


def test_methods_and_top_level_exports():
    for name in ("amax", "amin", "max", "min", "argmax", "argmin", "aminmax"):
        assert getattr(ember, name) is getattr(ember.Tensor, name)
