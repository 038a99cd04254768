"""gather, scatter/scatter_add/scatter_reduce, index_select, index_add, take, masked_fill, masked_select,
nonzero/argwhere against PyTorch: every dtype, 0-d/empty/non-contiguous inputs, in-place variants, errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import ember
from tests.oracle import ALL_DTYPES, DTYPES, FLOAT_DTYPES, INT_DTYPES, assert_close, pair, torch


def ints(data, dtype=np.int64):
    """The same integer tensor in both libraries."""
    arr = np.asarray(data, dtype=dtype)
    return ember.from_numpy(arr.copy()), torch.from_numpy(arr.copy())


def bools(shape, seed=0):
    arr = np.asarray(np.random.default_rng(seed).random(shape) < 0.5)
    return ember.from_numpy(arr.copy()), torch.from_numpy(arr.copy())


def scalar_pair(dtype, value=2):
    """A 0-d tensor in both libraries (``pair`` needs an array, which a 0-d bool draw is not)."""
    return ember.tensor(value, dtype=dtype), torch.tensor(value, dtype=DTYPES[dtype])


def random_index(shape, high, seed=0):
    return ints(np.random.default_rng(seed).integers(0, high, size=shape))


NUMERIC = [d for d in ALL_DTYPES if d is not ember.bool]


# ----- gather --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ALL_DTYPES)
@pytest.mark.parametrize("noncontiguous", [False, True])
def test_gather_every_dtype(dtype, noncontiguous):
    e, t = pair((3, 4, 5), dtype, seed=1, noncontiguous=noncontiguous)
    for dim, idx_shape, high in [(0, (2, 4, 3), 3), (1, (3, 6, 5), 4), (-1, (1, 2, 7), 5)]:
        ie, it = random_index(idx_shape, high, seed=dim + 5)
        assert_close(ember.gather(e, dim, ie), torch.gather(t, dim, it))
        assert_close(e.gather(dim, ie.int()), t.gather(dim, it.int()))


@pytest.mark.parametrize("shape,dim,index", [((), 0, 0), ((), 0, [0]), ((3,), 0, 2), ((0, 3), 1, np.zeros((0, 2))),
                                             ((2, 3), 1, np.zeros((2, 0))), ((2, 3), 0, np.zeros((0, 0)))], ids=str)
def test_gather_zero_dim_and_empty(shape, dim, index):
    e, t = pair(shape, seed=2)
    ie, it = ints(index)
    assert_close(ember.gather(e, dim, ie), torch.gather(t, dim, it))


def test_gather_reads_through_a_strided_index():
    e, t = pair((3, 4), seed=3)
    ie, it = ints(np.array([[3, 0, 1, 2, 2, 1]] * 3)[:, ::2])
    assert_close(ember.gather(e, 1, ie), torch.gather(t, 1, it))


def test_gather_errors():
    e, _ = pair((3, 4))
    with pytest.raises(RuntimeError, match=r"gather\(\): Expected dtype int32/int64 for index"):
        ember.gather(e, 1, ember.tensor([[0.0]]))
    with pytest.raises(RuntimeError, match="Index tensor must have the same number of dimensions as input tensor"):
        ember.gather(e, 1, ember.tensor([0]))
    with pytest.raises(RuntimeError, match=r"Size does not match at dimension 0 expected index \[4, 1\] to be no "
                       r"larger than self \[3, 4\] apart from dimension 1"):
        ember.gather(e, 1, ember.zeros(4, 1, dtype=ember.int64))
    with pytest.raises(RuntimeError, match="index 5 is out of bounds for dimension 1 with size 4"):
        ember.gather(e, 1, ember.tensor([[5]]))
    with pytest.raises(RuntimeError, match="index -1 is out of bounds for dimension 0 with size 3"):
        ember.gather(e, 0, ember.tensor([[-1]]))
    with pytest.raises(IndexError, match=r"Dimension out of range \(expected to be in range of \[-2, 1\], but got 2\)"):
        ember.gather(e, 2, ember.tensor([[0]]))


# ----- scatter family ------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_scatter_src_and_value_every_dtype(dtype):
    e, t = pair((4, 5), dtype, seed=4)
    se, st = pair((3, 3), dtype, seed=5)
    # A permutation per row: no two writes to one place, so the result does not depend on write order.
    perm = np.stack([np.random.default_rng(r).permutation(4)[:3] for r in range(3)], axis=1)
    ie, it = ints(perm)
    assert_close(ember.scatter(e, 0, ie, se), torch.scatter(t, 0, it, st))
    assert_close(e.scatter(0, ie, 1), t.scatter(0, it, 1))
    assert_close(ember.scatter(e, 0, ie, value=0), torch.scatter(t, 0, it, value=0))


@pytest.mark.parametrize("dtype", [*INT_DTYPES, *FLOAT_DTYPES])
def test_scatter_add_and_legacy_reduce_accumulate_duplicates(dtype):
    e, t = pair((3, 4), dtype, seed=6, low=0, high=3)
    se, st = pair((3, 6), dtype, seed=7, low=0, high=2)
    ie, it = random_index((3, 6), 4, seed=8)
    assert_close(ember.scatter_add(e, 1, ie, se), torch.scatter_add(t, 1, it, st))
    with pytest.warns(UserWarning, match="reduce argument of ember.scatter with Tensor src is deprecated"):
        got = e.scatter(1, ie, se, reduce="add")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert_close(got, t.scatter(1, it, st, reduce="add"))
    assert_close(e.scatter(1, ie, 2, reduce="multiply"), t.scatter(1, it, 2, reduce="multiply"))


@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("dtype", [ember.float32, ember.float64, ember.bfloat16, ember.int64, ember.int32])
def test_scatter_reduce(reduce, include_self, dtype):
    e, t = pair((3, 5), dtype, seed=9, low=-3, high=3)
    se, st = pair((3, 4), dtype, seed=10, low=-3, high=3)
    ie, it = random_index((3, 4), 5, seed=11)
    assert_close(ember.scatter_reduce(e, 1, ie, se, reduce, include_self=include_self),
                 torch.scatter_reduce(t, 1, it, st, reduce, include_self=include_self))


def test_scatter_in_place_variants_bump_the_version():
    e, t = pair((3, 4), seed=12)
    se, st = pair((2, 4), seed=13)
    ie, it = ints([[0, 1, 2, 0], [2, 2, 1, 1]])
    version = e._version
    assert e.scatter_(0, ie, se) is e
    t.scatter_(0, it, st)
    e.scatter_add_(0, ie, se)
    t.scatter_add_(0, it, st)
    e.scatter_reduce_(0, ie, se, "amax")
    t.scatter_reduce_(0, it, st, "amax")
    e.scatter_(0, ie, 2.0, reduce="multiply")
    t.scatter_(0, it, 2.0, reduce="multiply")
    assert_close(e, t)
    assert e._version == version + 4


@pytest.mark.parametrize("shape,index,src_shape", [((), 0, ()), ((3,), [0], (1,)), ((2, 3), np.zeros((2, 0)), (1, 1)),
                                                   ((0, 3), np.zeros((0, 3)), (0, 3))], ids=str)
def test_scatter_zero_dim_and_empty(shape, index, src_shape):
    e, t = pair(shape, seed=14)
    se, st = pair(src_shape, seed=15)
    ie, it = ints(index)
    dim = 0 if len(shape) < 2 else 1
    assert_close(ember.scatter(e, dim, ie, se), torch.scatter(t, dim, it, st))


def test_scatter_value_is_cast_and_checked():
    e, t = pair((2, 3), ember.int64, seed=16)
    ie, it = ints([[0, 2]])
    assert_close(e.scatter(1, ie, 1.5), t.scatter(1, it, 1.5))
    with pytest.raises(RuntimeError, match="value cannot be converted to type uint8_t without overflow"):
        ember.zeros(2, dtype=ember.uint8).scatter(0, ember.tensor([0]), 300)


def test_scatter_errors():
    e, _ = pair((3, 4))
    idx = ember.tensor([[0, 1], [2, 0]])
    with pytest.raises(RuntimeError, match=r"scatter\(\): Expected dtype int32/int64 for index"):
        ember.scatter(e, 1, ember.tensor([[0.0]]), 1.0)
    with pytest.raises(RuntimeError, match=r"scatter\(\): Expected dtype int32/int64 for index"):
        ember.scatter_add(e, 1, idx.to(ember.int16), ember.ones(2, 2))
    with pytest.raises(RuntimeError, match=r"scatter\(\): Expected self\.dtype to be equal to src\.dtype"):
        ember.scatter(e, 1, idx, ember.ones(2, 2, dtype=ember.float64))
    with pytest.raises(RuntimeError, match="Index tensor must have the same number of dimensions as self tensor"):
        ember.scatter(e, 1, ember.tensor([0]), 1.0)
    with pytest.raises(RuntimeError, match="Index tensor must have the same number of dimensions as src tensor"):
        ember.scatter(e, 1, idx, ember.tensor(2.0))
    with pytest.raises(IndexError, match="Dimension out of range"):
        ember.scatter(e, 1, idx, ember.ones(2))
    with pytest.raises(RuntimeError, match=r"Expected index \[2, 2\] to be no larger than self \[3, 4\] apart from "
                       r"dimension 1 and to be no larger size than src \[1, 1\]"):
        ember.scatter(e, 1, idx, ember.ones(1, 1))
    with pytest.raises(RuntimeError, match=r"Expected index \[4, 1\] to be no larger than self \[3, 4\] apart from "
                       r"dimension 1$"):
        ember.scatter(e, 1, ember.zeros(4, 1, dtype=ember.int64), 1.0)
    with pytest.raises(RuntimeError, match="index 9 is out of bounds for dimension 1 with size 4"):
        ember.scatter(e, 1, ember.tensor([[9]]), 1.0)
    with pytest.raises(RuntimeError, match="index -1 is out of bounds for dimension 1 with size 4"):
        ember.scatter_add(e, 1, ember.tensor([[-1]]), ember.ones(1, 1))
    with pytest.raises(RuntimeError, match="reduce argument must be either add or multiply."):
        ember.scatter(e, 1, idx, 2.0, reduce="mean")
    with pytest.raises(RuntimeError, match="reduce argument must be either sum, prod, mean, amax or amin, got add"):
        ember.scatter_reduce(e, 1, idx, ember.ones(2, 2), "add")
    with pytest.raises(TypeError, match=r"scatter_add\(\): argument 'src' \(position 4\) must be Tensor, not float"):
        ember.scatter_add(e, 1, idx, 2.0)
    with pytest.raises(TypeError, match="scatter"):
        ember.scatter(e, 1, idx, "a")


# ----- index_select / index_add / take -------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ALL_DTYPES)
@pytest.mark.parametrize("noncontiguous", [False, True])
def test_index_select_every_dtype(dtype, noncontiguous):
    e, t = pair((3, 4), dtype, seed=17, noncontiguous=noncontiguous)
    for dim, index in [(0, [2, 0, 2]), (1, [3]), (-1, []), (0, 1)]:
        ie, it = ints(index)
        assert_close(ember.index_select(e, dim, ie), torch.index_select(t, dim, it))
        assert_close(e.index_select(dim, ie.int()), t.index_select(dim, it.int()))


def test_index_select_zero_dim_and_errors():
    e, t = pair((), seed=18)
    assert_close(ember.index_select(e, 0, ember.tensor([0])), torch.index_select(t, 0, torch.tensor([0])))
    x, _ = pair((3, 4))
    with pytest.raises(RuntimeError, match=r"index_select\(\): Expected dtype int32 or int64 for index"):
        ember.index_select(x, 0, ember.tensor([0.0]))
    with pytest.raises(IndexError, match=r"index_select\(\): Index is supposed to be a vector"):
        ember.index_select(x, 0, ember.tensor([[0]]))
    with pytest.raises(IndexError, match="index out of range in self"):
        ember.index_select(x, 0, ember.tensor([3]))
    with pytest.raises(IndexError, match="index out of range in self"):
        ember.index_select(x, 1, ember.tensor([-1]))
    with pytest.raises(RuntimeError, match=r"Index to scalar can have only 1 value, got 2 value\(s\)"):
        ember.index_select(e, 0, ember.tensor([0, 0]))
    with pytest.raises(RuntimeError, match="self indexing axis dim should be positive"):
        ember.index_select(ember.zeros(0, 3), 0, ember.tensor([0]))


@pytest.mark.parametrize("dtype", NUMERIC)
def test_index_add_accumulates(dtype):
    e, t = pair((4, 3), dtype, seed=19, low=0, high=3)
    se, st = pair((5, 3), dtype, seed=20, low=0, high=3)
    ie, it = ints([0, 3, 0, 1, 0])
    assert_close(ember.index_add(e, 0, ie, se), torch.index_add(t, 0, it, st))
    assert_close(e.index_add(0, ie, se, alpha=2), t.index_add(0, it, st, alpha=2))
    version = e._version
    assert e.index_add_(0, ie.int(), se) is e
    t.index_add_(0, it.int(), st)
    assert_close(e, t)
    assert e._version == version + 1


def test_index_add_along_a_later_dim_and_zero_dim():
    e, t = pair((2, 4), seed=21)
    se, st = pair((2, 3), seed=22)
    ie, it = ints([3, 3, 0])
    assert_close(ember.index_add(e, -1, ie, se, alpha=0.5), torch.index_add(t, -1, it, st, alpha=0.5))
    e0, t0 = pair((), seed=23)
    assert_close(ember.index_add(e0, 0, ember.tensor(0), ember.tensor(2.0)),
                 torch.index_add(t0, 0, torch.tensor(0), torch.tensor(2.0)))


def test_index_add_errors():
    x, _ = pair((3, 4))
    with pytest.raises(RuntimeError, match=r"source tensor shape must match self tensor shape, excluding the specified "
                       r"dimension\. Got self\.shape = \[3, 4\] source\.shape = \[2, 3\]"):
        ember.index_add(x, 0, ember.tensor([0, 0]), ember.ones(2, 3))
    with pytest.raises(RuntimeError, match="index 5 is out of bounds for dimension 0 with size 3"):
        ember.index_add(x, 0, ember.tensor([5]), ember.ones(1, 4))
    with pytest.raises(RuntimeError, match=r"index_add_\(\): self \(Float\) and source \(Double\) must have the same "
                       "scalar type"):
        ember.index_add(x, 0, ember.tensor([0]), ember.ones(1, 4, dtype=ember.float64))
    with pytest.raises(RuntimeError, match=r"Expected dtype int32/int64 for index but got: Float"):
        ember.index_add(x, 0, ember.tensor([0.0]), ember.ones(1, 4))
    with pytest.raises(IndexError, match=r"Index is supposed to be a vector, but got dim: 2 with type: Long and size: "
                       r"\[1, 1\]"):
        ember.index_add(x, 0, ember.tensor([[0]]), ember.ones(1, 4))
    with pytest.raises(RuntimeError, match=r"Number of indices \(2\) should be equal to source\.size\(dim\): \(1\), "
                       "for dim: 0"):
        ember.index_add(x, 0, ember.tensor([0, 1]), ember.ones(1, 4))


@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_take(dtype):
    e, t = pair((3, 4), dtype, seed=24, noncontiguous=True)
    for index in ([[0, 11], [-12, 5]], 3, []):
        ie, it = ints(index)
        assert_close(ember.take(e, ie), torch.take(t, it))
    e0, t0 = scalar_pair(dtype)
    assert_close(e0.take(ember.tensor(0)), t0.take(torch.tensor(0)))


def test_take_errors():
    x, _ = pair((3, 4))
    with pytest.raises(IndexError, match=r"out of range: tried to access index 12 on a tensor of 12 elements\."):
        ember.take(x, ember.tensor([12]))
    with pytest.raises(IndexError, match="tried to access index -13"):
        ember.take(x, ember.tensor([-13]))
    with pytest.raises(RuntimeError, match=r"take\(\): Expected a long tensor for index, but got Int"):
        ember.take(x, ember.tensor([0], dtype=ember.int32))
    with pytest.raises(IndexError, match=r"take\(\): tried to take from an empty tensor"):
        ember.take(ember.zeros(0), ember.tensor([0]))


# ----- masks ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ALL_DTYPES)
@pytest.mark.parametrize("noncontiguous", [False, True])
def test_masked_fill_every_dtype(dtype, noncontiguous):
    e, t = pair((3, 4), dtype, seed=25, noncontiguous=noncontiguous)
    me, mt = bools((3, 4), seed=26)
    for value in (1, 0.0, True):
        assert_close(ember.masked_fill(e, me, value), torch.masked_fill(t, mt, value))
    assert_close(e.masked_fill(me[0], ember.tensor(2)), t.masked_fill(mt[0], torch.tensor(2)))


def test_masked_fill_broadcasts_out_of_place_and_in_place():
    e, t = pair((3, 4), seed=27)
    me, mt = bools((2, 3, 1), seed=28)
    assert_close(e.masked_fill(me, -1.0), t.masked_fill(mt, -1.0))
    assert_close(ember.masked_fill(e, ember.tensor(True), 5.0), torch.masked_fill(t, torch.tensor(True), 5.0))
    row_e, row_t = bools((4,), seed=29)
    version = e._version
    assert e.masked_fill_(row_e, 7.0) is e
    t.masked_fill_(row_t, 7.0)
    assert_close(e, t)
    assert e._version == version + 1
    z, zt = pair((0, 4), seed=30)
    assert_close(z.masked_fill(row_e, 1.0), zt.masked_fill(row_t, 1.0))


def test_masked_fill_casts_and_checks_the_value():
    e, t = pair((4,), ember.int64, seed=31)
    me, mt = bools((4,), seed=32)
    assert_close(e.masked_fill(me, 1.7), t.masked_fill(mt, 1.7))
    assert_close(e.masked_fill(me, ember.tensor(2.9)), t.masked_fill(mt, torch.tensor(2.9)))
    with pytest.raises(RuntimeError, match="value cannot be converted to type uint8_t without overflow"):
        ember.zeros(2, dtype=ember.uint8).masked_fill(ember.tensor([True, False]), 300)


@pytest.mark.parametrize("mask_dtype,name", [(ember.float32, "float"), (ember.float64, "double"),
                                             (ember.uint8, "unsigned char"), (ember.int64, "long int"),
                                             (ember.float16, "c10::Half")])
def test_masked_fill_needs_a_bool_mask(mask_dtype, name):
    with pytest.raises(RuntimeError, match=f"only supports boolean masks, but got mask with dtype {name}$"):
        ember.zeros(2).masked_fill(ember.zeros(2, dtype=mask_dtype), 1.0)


def test_masked_fill_errors():
    x, _ = pair((3, 4))
    mask = ember.tensor([True, False, True, False])
    with pytest.raises(RuntimeError, match=r"only supports a 0-dimensional value tensor, but got tensor with 1 "
                       r"dimension\(s\)\."):
        x.masked_fill(mask, ember.tensor([1.0]))
    with pytest.raises(RuntimeError, match=r"output with shape \[3, 4\] doesn't match the broadcast shape \[2, 3, 4\]"):
        x.masked_fill_(ember.ones(2, 3, 4, dtype=ember.bool), 1.0)
    with pytest.raises(RuntimeError, match="must match the size"):
        x.masked_fill(ember.ones(3, dtype=ember.bool), 1.0)
    with pytest.raises(TypeError, match="masked_fill"):
        x.masked_fill(mask, "a")


@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_masked_select(dtype):
    e, t = pair((3, 4), dtype, seed=33, noncontiguous=True)
    for shape in ((3, 4), (4,), (2, 1, 4), ()):
        me, mt = bools(shape, seed=34)
        assert_close(ember.masked_select(e, me), torch.masked_select(t, mt))
    e0, t0 = scalar_pair(dtype)
    me, mt = bools((2, 2), seed=35)
    assert_close(e0.masked_select(me), t0.masked_select(mt))


def test_masked_select_errors_and_empty():
    assert_close(ember.masked_select(ember.zeros(0, 3), ember.ones(3, dtype=ember.bool)),
                 torch.masked_select(torch.zeros(0, 3), torch.ones(3, dtype=torch.bool)))
    with pytest.raises(RuntimeError, match="masked_select: expected BoolTensor for mask"):
        ember.masked_select(ember.zeros(3), ember.ones(3))
    with pytest.raises(RuntimeError, match="must match the size"):
        ember.masked_select(ember.zeros(3, 4), ember.ones(3, dtype=ember.bool))


@pytest.mark.parametrize("dtype", ALL_DTYPES)
@pytest.mark.parametrize("shape", [(), (5,), (3, 4), (2, 0, 3), (2, 3, 2)], ids=str)
def test_nonzero_and_argwhere(dtype, shape):
    e, t = pair(shape, dtype, seed=36, low=-1, high=1, noncontiguous=True) if shape else scalar_pair(dtype, 1)
    assert_close(ember.nonzero(e), torch.nonzero(t))
    assert_close(e.nonzero(as_tuple=True), t.nonzero(as_tuple=True))
    assert_close(ember.argwhere(e), torch.argwhere(t))


def test_nonzero_counts_nan_and_all_zero():
    e = ember.tensor([float("nan"), 0.0, -0.0, 2.0])
    assert_close(e.nonzero(), torch.tensor([float("nan"), 0.0, -0.0, 2.0]).nonzero())
    assert_close(ember.nonzero(ember.tensor(0.0)), torch.nonzero(torch.tensor(0.0)))
    assert_close(ember.nonzero(ember.tensor(0.0), as_tuple=True), torch.nonzero(torch.tensor(0.0), as_tuple=True))


def test_methods_and_top_level_exports():
    for name in ("gather", "scatter", "scatter_add", "scatter_reduce", "index_select", "index_add", "take",
                 "masked_fill", "masked_select", "nonzero", "argwhere"):
        assert getattr(ember, name) is getattr(ember.Tensor, name)
    for name in ("scatter_", "scatter_add_", "scatter_reduce_", "index_add_", "masked_fill_"):
        assert callable(getattr(ember.Tensor, name)) and not hasattr(ember, name)
    assert DTYPES[ember.gather(ember.zeros(2), 0, ember.tensor([0])).dtype] is torch.float32
