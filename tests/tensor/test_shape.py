"""Copying shape ops against PyTorch: cat/stack (and h/v/dstack), flip, roll, tril/triu, repeat, tile and
repeat_interleave, with every dtype, 0-d, empty and non-contiguous inputs, and PyTorch's errors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import ember
from tests.oracle import ALL_DTYPES, DTYPES, assert_close, pair, torch


def fresh(result: ember.Tensor, *inputs: ember.Tensor) -> bool:
    """The result owns new memory: writing to it can never change an input."""
    return all(result._storage is not x._storage for x in inputs)


# ----- cat / stack -----------------------------------------------------------------------------------
@pytest.mark.parametrize("shapes,dim", [
    ([(2, 3), (4, 3)], 0), ([(2, 3), (2, 1), (2, 0)], 1), ([(2, 3), (2, 5)], -1), ([(1, 2, 3)] * 3, 2),
    ([(3,)], 0), ([(0, 3), (2, 3)], 0), ([(2, 3, 4), (2, 1, 4)], -2), ([(0,), (2, 3)], 1), ([(0,), (0,)], 0),
])
@pytest.mark.parametrize("noncontiguous", [False, True])
def test_cat(shapes, dim, noncontiguous):
    pairs = [pair(s, seed=i, noncontiguous=noncontiguous) for i, s in enumerate(shapes)]
    es, ts = [p[0] for p in pairs], [p[1] for p in pairs]
    result = ember.cat(es, dim)
    assert_close(result, torch.cat(ts, dim))
    assert fresh(result, *es)
    assert_close(ember.cat(tuple(es), dim=dim), torch.cat(tuple(ts), dim=dim))
    assert_close(ember.concat(es, dim), torch.concat(ts, dim))
    assert_close(ember.concatenate(es, dim), torch.concatenate(ts, dim))


@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_cat_and_stack_every_dtype(dtype):
    (a, ta), (b, tb) = pair((2, 3), dtype, seed=1), pair((2, 3), dtype, seed=2, noncontiguous=True)
    assert_close(ember.cat([a, b], 1), torch.cat([ta, tb], 1))
    assert_close(ember.stack([a, b], 1), torch.stack([ta, tb], 1))


@pytest.mark.parametrize("d1,d2", list(itertools.combinations(ALL_DTYPES, 2))[::3])
def test_cat_and_stack_promote_like_torch(d1, d2):
    (a, ta), (b, tb) = pair((2, 3), d1, seed=1), pair((1, 3), d2, seed=2)
    assert_close(ember.cat([a, b]), torch.cat([ta, tb]))
    (c, tc) = pair((2, 3), d2, seed=3)
    assert_close(ember.stack([a, c]), torch.stack([ta, tc]))


def test_cat_promotion_counts_the_skipped_legacy_empty_tensor():
    a, ta = pair((2, 3), ember.int32)
    result = ember.cat([ember.zeros(0, dtype=ember.float64), a])
    assert_close(result, torch.cat([torch.zeros(0, dtype=torch.float64), ta]))


@pytest.mark.parametrize("tensors,dim,error,message", [
    ([], 0, ValueError, r"cat\(\): expected a non-empty list of Tensors"),
    ([()], 0, RuntimeError, r"zero-dimensional tensor \(at position 0\) cannot be concatenated"),
    ([(2, 3), (2, 3, 1)], 0, RuntimeError, "Tensors must have same number of dimensions: got 2 and 3"),
    ([(2, 3), (2, 4)], 0, RuntimeError, r"Sizes of tensors must match except in dimension 0. Expected size 3 but got "
                                        r"size 4 for tensor number 1 in the list."),
    ([(2, 3), (2, 3), (3, 4)], 1, RuntimeError, r"Sizes of tensors must match except in dimension 1. Expected size 2 "
                                                r"but got size 3 for tensor number 2 in the list."),
    ([(0, 2), (2, 3)], 0, RuntimeError, "Expected size 2 but got size 3 for tensor number 1"),
    ([(2, 3), (2, 3)], 2, IndexError, r"Dimension out of range \(expected to be in range of \[-2, 1\], but got 2\)"),
])
def test_cat_errors(tensors, dim, error, message):
    with pytest.raises(error, match=message):
        ember.cat([ember.zeros(s) for s in tensors], dim)


def test_cat_argument_type_errors():
    x = ember.zeros(2, 3)
    with pytest.raises(TypeError, match=r"cat\(\): argument 'tensors' \(position 1\) must be tuple of Tensors, not "
                                        "Tensor"):
        ember.cat(x)
    with pytest.raises(TypeError, match="expected Tensor as element 1 in argument 0, but got int"):
        ember.cat([x, 1])


@pytest.mark.parametrize("shape,dim", [((2, 3), 0), ((2, 3), 1), ((2, 3), 2), ((2, 3), -1), ((2, 3), -3), ((), 0),
                                       ((0, 2), 1)])
@pytest.mark.parametrize("noncontiguous", [False, True])
def test_stack(shape, dim, noncontiguous):
    pairs = [pair(shape, seed=i, noncontiguous=noncontiguous) for i in range(3)]
    es, ts = [p[0] for p in pairs], [p[1] for p in pairs]
    result = ember.stack(es, dim)
    assert_close(result, torch.stack(ts, dim))
    assert fresh(result, *es)
    assert_close(ember.stack(tuple(es), dim=dim), torch.stack(tuple(ts), dim=dim))


def test_stack_errors():
    with pytest.raises(RuntimeError, match="stack expects a non-empty TensorList"):
        ember.stack([])
    with pytest.raises(RuntimeError, match=r"stack expects each tensor to be equal size, but got \[2, 3\] at entry 0 "
                                           r"and \[2, 4\] at entry 1"):
        ember.stack([ember.zeros(2, 3), ember.zeros(2, 4)])
    with pytest.raises(IndexError, match=r"expected to be in range of \[-3, 2\], but got 3"):
        ember.stack([ember.zeros(2, 3)], 3)


@pytest.mark.parametrize("fn", ["hstack", "vstack", "dstack"])
@pytest.mark.parametrize("shape", [(), (3,), (2, 3), (2, 3, 2)])
def test_hstack_vstack_dstack(fn, shape):
    (a, ta), (b, tb) = pair(shape, seed=1), pair(shape, seed=2, noncontiguous=True)
    assert_close(getattr(ember, fn)([a, b]), getattr(torch, fn)([ta, tb]))
    assert_close(getattr(ember, fn)((a,)), getattr(torch, fn)((ta,)))
    with pytest.raises(RuntimeError, match=f"{fn} expects a non-empty TensorList"):
        getattr(ember, fn)([])


# ----- flip / roll -----------------------------------------------------------------------------------
@pytest.mark.parametrize("shape,dims", [((2, 3, 4), (0,)), ((2, 3, 4), (0, 2)), ((2, 3, 4), (-1,)), ((2, 3, 4), ()),
                                        ((2, 3, 4), (2, 0, 1)), ((), (0,)), ((0, 3), (0, 1)), ((5,), (0,))])
@pytest.mark.parametrize("noncontiguous", [False, True])
def test_flip(shape, dims, noncontiguous):
    e, t = pair(shape, noncontiguous=noncontiguous)
    result = ember.flip(e, dims)
    assert_close(result, torch.flip(t, dims))
    assert fresh(result, e)
    assert_close(e.flip(*dims) if dims else e.flip(dims), t.flip(*dims) if dims else t.flip(dims))
    assert_close(ember.flip(e, dims=list(dims)), torch.flip(t, dims=list(dims)))


@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_flip_roll_tril_repeat_every_dtype(dtype):
    e, t = pair((3, 4), dtype, noncontiguous=True)
    assert_close(e.flip(0, 1), t.flip(0, 1))
    assert_close(e.roll(2, 1), t.roll(2, 1))
    assert_close(e.tril(), t.tril())
    assert_close(e.triu(1), t.triu(1))
    assert_close(e.repeat(2, 1, 2), t.repeat(2, 1, 2))
    assert_close(e.repeat_interleave(2, 0), t.repeat_interleave(2, 0))


def test_flip_errors():
    with pytest.raises(RuntimeError, match="dim 0 appears multiple times in the list of dims"):
        ember.zeros(2, 3).flip(0, -2)
    with pytest.raises(IndexError, match="Dimension out of range"):
        ember.zeros(2, 3).flip(2)
    with pytest.raises(TypeError, match=r'flip\(\) missing 1 required positional arguments: "dims"'):
        ember.zeros(2, 3).flip()


@pytest.mark.parametrize("fn", ["fliplr", "flipud"])
@pytest.mark.parametrize("shape", [(2, 3), (2, 3, 4), (0, 2)])
def test_fliplr_flipud(fn, shape):
    e, t = pair(shape, noncontiguous=True)
    assert_close(getattr(ember, fn)(e), getattr(torch, fn)(t))
    assert_close(getattr(e, fn)(), getattr(t, fn)())


def test_fliplr_flipud_errors():
    with pytest.raises(RuntimeError, match="Input must be >= 2-d."):
        ember.fliplr(ember.zeros(3))
    with pytest.raises(RuntimeError, match="Input must be >= 1-d."):
        ember.flipud(ember.zeros(()))


@pytest.mark.parametrize("shape,shifts,dims", [
    ((2, 3), 1, None), ((2, 3), -7, None), ((2, 3), 1, 0), ((2, 3), 4, -1), ((2, 3, 4), (1, -2), (0, 2)),
    ((2, 3, 4), (1, 1), (1, 1)), ((), 3, None), ((0, 3), 1, 0), ((0, 3), 2, None), ((4,), [5], [0]), ((2, 3), 0, 1),
])
@pytest.mark.parametrize("noncontiguous", [False, True])
def test_roll(shape, shifts, dims, noncontiguous):
    e, t = pair(shape, noncontiguous=noncontiguous)
    result = ember.roll(e, shifts, dims)
    assert_close(result, torch.roll(t, shifts, dims))
    assert fresh(result, e)
    assert_close(e.roll(shifts=shifts, dims=dims), t.roll(shifts=shifts, dims=dims))


@pytest.mark.parametrize("shifts,dims,error,message", [
    ((1, 2), (0,), RuntimeError, "shifts and dimensions must align. shifts: 2, dims:1"),
    ((1,), (0, 1), RuntimeError, "shifts and dimensions must align. shifts: 1, dims:2"),
    ((1, 1), None, RuntimeError, "shifts and dimensions must align. shifts: 2, dims:0"),
    ((), (), RuntimeError, "`shifts` required"),
    (1, 2, IndexError, "Dimension out of range"),
])
def test_roll_errors(shifts, dims, error, message):
    with pytest.raises(error, match=message):
        ember.zeros(2, 3).roll(shifts, dims)
    with pytest.raises(IndexError, match="Dimension specified as 0 but tensor has no dimensions"):
        ember.zeros(()).roll(1, 0)


# ----- tril / triu -----------------------------------------------------------------------------------
@pytest.mark.parametrize("fn", ["tril", "triu"])
@pytest.mark.parametrize("shape", [(3, 3), (2, 4), (4, 2), (2, 3, 4), (0, 3), (2, 0, 2)])
@pytest.mark.parametrize("diagonal", [-5, -1, 0, 1, 3])
def test_tril_triu(fn, shape, diagonal):
    e, t = pair(shape, noncontiguous=True)
    result = getattr(ember, fn)(e, diagonal)
    assert_close(result, getattr(torch, fn)(t, diagonal))
    assert fresh(result, e)
    assert_close(getattr(e, fn)(diagonal=diagonal), getattr(t, fn)(diagonal=diagonal))


@pytest.mark.parametrize("fn", ["tril", "triu"])
def test_tril_triu_need_two_dims(fn):
    with pytest.raises(RuntimeError, match=f"{fn}: input tensor must have at least 2 dimensions"):
        getattr(ember, fn)(ember.zeros(3))


# ----- repeat / tile / repeat_interleave -------------------------------------------------------------
@pytest.mark.parametrize("shape,repeats", [((2, 3), (2, 2)), ((2, 3), (1, 1)), ((2, 3), (3, 1, 2)), ((), (2, 3)),
                                           ((), ()), ((3,), (0,)), ((0, 2), (2, 3)), ((2, 1), (1, 4)),
                                           ((3,), (2, 1, 1))])
@pytest.mark.parametrize("noncontiguous", [False, True])
def test_repeat(shape, repeats, noncontiguous):
    e, t = pair(shape, noncontiguous=noncontiguous)
    if repeats:
        result = e.repeat(*repeats)
        assert_close(result, t.repeat(*repeats))
        assert fresh(result, e)
    assert_close(e.repeat(repeats), t.repeat(repeats))


def test_repeat_errors():
    with pytest.raises(RuntimeError, match="Number of dimensions of repeat dims can not be smaller than number of "
                                           "dimensions of tensor"):
        ember.zeros(2, 3).repeat(2)
    with pytest.raises(RuntimeError, match=r"Trying to create tensor with negative dimension -2: \[-2, 6\]"):
        ember.zeros(2, 3).repeat(-1, 2)
    with pytest.raises(TypeError, match=r'repeat\(\) missing 1 required positional arguments: "repeats"'):
        ember.zeros(2, 3).repeat()


@pytest.mark.parametrize("shape,dims", [((2, 3), (2,)), ((2, 3), ()), ((2, 3), (2, 1, 1)), ((), (3,)), ((3,), (2, 2)),
                                        ((2, 3), (0, 1))])
def test_tile(shape, dims):
    e, t = pair(shape, noncontiguous=True)
    assert_close(ember.tile(e, dims), torch.tile(t, dims))
    assert_close(ember.tile(e, dims=dims), torch.tile(t, dims=dims))
    if dims:
        assert_close(e.tile(*dims), t.tile(*dims))
    with pytest.raises(RuntimeError, match="Trying to create tensor with negative dimension"):
        ember.zeros(2, 3).tile(-1, 1)


@pytest.mark.parametrize("shape,repeats,dim", [((2, 3), 2, None), ((2, 3), 2, 0), ((2, 3), 3, -1), ((2, 3), 0, 1),
                                               ((), 3, None), ((0, 3), 2, 0), ((2, 3), [1, 2], 0),
                                               ((2, 3), [0, 2, 1], 1), ((2, 3), [2], 1), ((2, 3), 2, "tensor0d"),
                                               ((2, 2), [1, 0, 2, 1], None)])
@pytest.mark.parametrize("noncontiguous", [False, True])
def test_repeat_interleave(shape, repeats, dim, noncontiguous):
    e, t = pair(shape, noncontiguous=noncontiguous)
    e_rep, t_rep = repeats, repeats
    if dim == "tensor0d":
        e_rep, t_rep, dim = ember.tensor(repeats), torch.tensor(repeats), 1
    elif isinstance(repeats, list):
        e_rep, t_rep = ember.tensor(repeats), torch.tensor(repeats)
    result = ember.repeat_interleave(e, e_rep, dim)
    assert_close(result, torch.repeat_interleave(t, t_rep, dim))
    assert fresh(result, e)
    assert_close(e.repeat_interleave(e_rep, dim=dim), t.repeat_interleave(t_rep, dim=dim))


def test_repeat_interleave_of_counts_alone_and_output_size():
    counts = ember.tensor([1, 0, 3, 2])
    assert_close(ember.repeat_interleave(counts), torch.repeat_interleave(torch.tensor([1, 0, 3, 2])))
    e, t = pair((2, 3))
    assert_close(e.repeat_interleave(ember.tensor([1, 2]), dim=0, output_size=3),
                 t.repeat_interleave(torch.tensor([1, 2]), dim=0, output_size=3))
    with pytest.raises(RuntimeError, match="allocated size does not match required size"):
        e.repeat_interleave(ember.tensor([1, 2]), dim=0, output_size=4)


@pytest.mark.parametrize("repeats,dim,error,message", [
    (-1, 0, RuntimeError, "Repeats must be non-negative"),
    ([1, 2], 1, RuntimeError, r"repeats must have the same size as input along dim, but got repeats.size\(0\) = 2 and "
                              r"input.size\(1\) = 3"),
    ([1, -2], 0, RuntimeError, "repeats can not be negative"),
    ([[1, 2]], 0, RuntimeError, "repeats must be 0-dim or 1-dim tensor"),
    ([1.0, 2.0], 0, NotImplementedError, "\"repeat_interleave_cpu\" not implemented for 'Float'"),
    (2, 2, IndexError, "Dimension out of range"),
])
def test_repeat_interleave_errors(repeats, dim, error, message):
    e = ember.zeros(2, 3)
    with pytest.raises(error, match=message):
        e.repeat_interleave(ember.tensor(repeats) if isinstance(repeats, list) else repeats, dim)


def test_results_never_share_memory_with_numpy_inputs():
    arr = np.arange(12, dtype=np.float32).reshape(3, 4)
    e = ember.from_numpy(arr)
    for result in (ember.cat([e]), ember.stack([e]), e.flip([]), e.roll(0), e.tril(5), e.repeat(1, 1),
                   e.repeat_interleave(1, 0)):
        assert not np.shares_memory(result.numpy(), arr)
    assert DTYPES[ember.cat([e]).dtype] == torch.float32
