"""Gradients of indexing (getitem/setitem, index_put), the gather/scatter family, masks and sorting: against
PyTorch in float32 and float64, against finite differences, and second order."""

from __future__ import annotations

import numpy as np
import pytest

import ember
from tests.oracle import assert_close, pair, torch

DTYPES = [ember.float32, ember.float64]
MASK_345 = np.random.default_rng(5).random((3, 4, 5)) < 0.5
MASK_45 = np.random.default_rng(6).random((4, 5)) < 0.5


def matches_torch(fn, shapes, dtype, *, noncontiguous=False, seed=0, low=-3, high=3):
    """``fn(module, *inputs)`` in ember and torch on the same inputs (all requiring grad); the outputs and, after
    ``backward`` of the same random upstream gradient, every input's ``.grad`` must agree."""
    es, ts = [], []
    for k, shape in enumerate(shapes):
        e, t = pair(shape, dtype, seed=seed + k, noncontiguous=noncontiguous, low=low, high=high)
        es.append(e.requires_grad_())
        ts.append(t.requires_grad_())
    out_e, out_t = fn(ember, *es), fn(torch, *ts)
    assert_close(out_e, out_t)
    g_e, g_t = pair(tuple(out_t.shape), dtype, seed=seed + 100)
    out_e.backward(g_e)
    out_t.backward(g_t)
    for e, t in zip(es, ts, strict=True):
        if t.grad is None:
            assert e.grad is None
        else:
            assert_close(e.grad, t.grad)


def check_gradients(fn, shapes, *, second_order=False, seed=0, low=-3, high=3):
    """``gradcheck`` (and optionally ``gradgradcheck``) of ``fn(ember, *inputs)`` in float64."""
    inputs = [pair(shape, ember.float64, seed=seed + k, low=low, high=high)[0].requires_grad_()
              for k, shape in enumerate(shapes)]
    assert ember.autograd.gradcheck(lambda *xs: fn(ember, *xs), inputs)
    if second_order:
        assert ember.autograd.gradgradcheck(lambda *xs: fn(ember, *xs), inputs)


def mask(m, array):
    return m.tensor(array)


# ----- getitem ------------------------------------------------------------------------------------------
GETITEM = {
    "int": lambda m, x: x[1],
    "negative_ints": lambda m, x: x[-1, 2],
    "slice": lambda m, x: x[1:3],
    "steps": lambda m, x: x[::2, 1:4:2],
    "none_ellipsis": lambda m, x: x[None, 1, ..., None],
    "ellipsis_int": lambda m, x: x[..., 2],
    "int_tensor_duplicates": lambda m, x: x[m.tensor([0, 2, 2, -1])],
    "int_tensor_2d_inner": lambda m, x: x[:, m.tensor([[0, 1], [3, 3]])],
    "separated_advanced": lambda m, x: x[m.tensor([0, 1, 1]), :, m.tensor([4, 0, 4])],
    "int_beside_list": lambda m, x: x[0, :, [0, 1, 0]],
    "list_and_slice": lambda m, x: x[[1, 0, 1], 2:],
    "bool_mask_full": lambda m, x: x[mask(m, MASK_345)],
    "bool_mask_inner": lambda m, x: x[:, mask(m, MASK_45)],
    "bool_true": lambda m, x: x[True],
    "mixed": lambda m, x: x[1:, [0, 2, 0], None, ::2],
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(GETITEM))
def test_getitem_matches_torch(name, dtype):
    matches_torch(GETITEM[name], [(3, 4, 5)], dtype)
    matches_torch(GETITEM[name], [(3, 4, 5)], dtype, noncontiguous=True, seed=1)


@pytest.mark.parametrize("fn", [lambda m, x: x[None], lambda m, x: x[...], lambda m, x: x[True],
                                lambda m, x: x[False]], ids=["none", "ellipsis", "true", "false"])
def test_getitem_of_0d(fn):
    matches_torch(fn, [()], ember.float64)


def test_duplicate_indices_accumulate():
    x = ember.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x[ember.tensor([0, 0, 2, 0])].backward(ember.tensor([1.0, 2.0, 3.0, 4.0]))
    assert x.grad.tolist() == [7.0, 0.0, 3.0]


@pytest.mark.parametrize("name", ["steps", "none_ellipsis", "int_tensor_duplicates", "separated_advanced",
                                  "bool_mask_full", "mixed"])
def test_getitem_gradcheck(name):
    check_gradients(GETITEM[name], [(3, 4, 5)], second_order=name in ("steps", "int_tensor_duplicates"))


# ----- setitem and index_put ---------------------------------------------------------------------------
def _assign(key, clone=True):
    """``y = x.clone(); y[key(m)] = v`` (or into fresh zeros when ``clone`` is False, so only v requires grad)."""

    def fn(m, x, v):
        y = x.clone() if clone else m.zeros(x.shape, dtype=x.dtype)
        y[key(m)] = v
        return y

    return fn


SETITEM = {  # name -> (key, value shape)
    "int": (lambda m: 1, (4, 5)),
    "int_broadcast": (lambda m: 1, (5,)),
    "leading_ones": (lambda m: 1, (1, 4, 5)),
    "slice": (lambda m: (slice(None), slice(1, 3)), (3, 2, 5)),
    "ellipsis_broadcast": (lambda m: (Ellipsis, 0), (4,)),
    "int_tensor": (lambda m: m.tensor([0, 2]), (2, 4, 5)),
    "int_tensor_broadcast": (lambda m: m.tensor([0, 2]), (5,)),
    "duplicates": (lambda m: m.tensor([0, 0]), (2, 4, 5)),
    "inner_list": (lambda m: (slice(None), [1, 3]), (3, 2, 5)),
    "int_and_list": (lambda m: (0, [1, 3]), (2, 5)),
    "mask": (lambda m: mask(m, MASK_345), (int(MASK_345.sum()),)),
    "inner_mask": (lambda m: (slice(None), mask(m, MASK_45)), (3, int(MASK_45.sum()))),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(SETITEM))
def test_setitem_value_gradients_match_torch(name, dtype):
    key, value_shape = SETITEM[name]
    matches_torch(_assign(key), [(3, 4, 5), value_shape], dtype)
    matches_torch(_assign(key, clone=False), [(3, 4, 5), value_shape], dtype, seed=2)


@pytest.mark.parametrize("key", [lambda m: 1, lambda m: m.tensor([0, 2]), lambda m: mask(m, MASK_345)],
                         ids=["basic", "advanced", "mask"])
def test_setitem_scalar_cuts_the_overwritten_gradient(key):
    def fn(m, x):
        y = x.clone()
        y[key(m)] = 0.5
        return y

    matches_torch(fn, [(3, 4, 5)], ember.float32)


def test_setitem_brief_example():
    a = ember.tensor([1.0, 2.0, 3.0], requires_grad=True)
    v = ember.tensor([5.0, 6.0], requires_grad=True)
    b = a * 1
    b[[0, 2]] = v
    (b * ember.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert a.grad.tolist() == [0.0, 2.0, 0.0]
    assert v.grad.tolist() == [1.0, 3.0]


def test_setitem_casts_the_value_gradient():
    def fn(m, x, v):
        y = x.clone()
        y[1:] = v.to(m.float32)
        return y

    # No broadcast here: PyTorch rounds to float32 before summing a broadcast, ember after.
    matches_torch(fn, [(3, 4), (2, 4)], ember.float64)
    x = ember.zeros(3, 4)
    v = ember.ones(4, dtype=ember.float64, requires_grad=True)
    x[1:] = v
    x.sum().backward()
    assert v.grad.dtype is ember.float64 and v.grad.tolist() == [2.0] * 4


@pytest.mark.parametrize("accumulate", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
def test_index_put_matches_torch(accumulate, dtype):
    def fn(m, x, v):
        return x.index_put((m.tensor([0, 2, 0]), m.tensor([1, 1, 1])), v, accumulate=accumulate)

    matches_torch(fn, [(3, 4, 5), (3, 5)], dtype)
    matches_torch(fn, [(3, 4, 5), (5,)], dtype, noncontiguous=True, seed=3)

    def inplace(m, x, v):
        return x.clone().index_put_((m.tensor([1, 2]),), v, accumulate=accumulate)

    matches_torch(inplace, [(3, 4), (2, 4)], dtype)


@pytest.mark.parametrize("accumulate", [False, True])
def test_index_put_gradcheck(accumulate):
    # Repeated indices only with accumulate: otherwise which write wins is unspecified (and not differentiable).
    index = [0, 2, 0] if accumulate else [0, 2]

    def fn(m, x, v):
        return x.index_put((m.tensor(index),), v, accumulate=accumulate)

    check_gradients(fn, [(3, 4), (4,)], second_order=True)

    def basic(m, x, v):
        y = x.clone()
        y[1:, ::2] = v
        return y

    check_gradients(basic, [(3, 4), (2, 2)], second_order=True)


# ----- gather and the scatter family -------------------------------------------------------------------
IDX = [[0, 2], [3, 3], [1, 0]]  # rows of a (3, 4) input along dim 1, with repeats
PERM = [[2, 0], [3, 1], [0, 3]]  # distinct per row: scatter's result does not depend on which write wins

ALONG_DIM = {  # name -> (fn, input shapes)
    "gather": (lambda m, x: x.gather(1, m.tensor(IDX)), [(3, 4)]),
    "gather_dim0_small_index": (lambda m, x: m.gather(x, 0, m.tensor([[2, 0, 1], [2, 2, 0]])), [(3, 4)]),
    "gather_negative_dim": (lambda m, x: x.gather(-1, m.tensor(IDX)), [(3, 4)]),
    "gather_0d": (lambda m, x: x.gather(0, m.tensor(0)), [()]),
    "scatter": (lambda m, x, s: x.scatter(1, m.tensor(PERM), s), [(3, 4), (3, 2)]),
    "scatter_value": (lambda m, x: x.scatter(1, m.tensor(PERM), 2.5), [(3, 4)]),
    "scatter_add": (lambda m, x, s: x.scatter_add(1, m.tensor(IDX), s), [(3, 4), (3, 2)]),
    "scatter_add_dim0": (lambda m, x, s: m.scatter_add(x, 0, m.tensor([[2, 0, 2, 1]]), s), [(3, 4), (1, 4)]),
    "index_select": (lambda m, x: x.index_select(1, m.tensor([3, 0, 3])), [(3, 4)]),
    "index_select_dim0": (lambda m, x: m.index_select(x, 0, m.tensor([2, 2])), [(3, 4)]),
    "index_select_0d": (lambda m, x: x.index_select(0, m.tensor([0])), [()]),
    "index_add": (lambda m, x, s: x.index_add(1, m.tensor([3, 0, 3]), s), [(3, 4), (3, 3)]),
    "index_add_alpha": (lambda m, x, s: m.index_add(x, 0, m.tensor([1, 1]), s, alpha=-2.0), [(3, 4), (2, 4)]),
    "take": (lambda m, x: x.take(m.tensor([[0, -1], [5, 5]])), [(3, 4)]),
    "take_0d": (lambda m, x: m.take(x, m.tensor([0, 0])), [()]),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(ALONG_DIM))
def test_along_dim_ops_match_torch(name, dtype):
    fn, shapes = ALONG_DIM[name]
    matches_torch(fn, shapes, dtype)
    if all(shapes):
        matches_torch(fn, shapes, dtype, noncontiguous=True, seed=4)


@pytest.mark.parametrize("name", ["gather", "scatter", "scatter_value", "scatter_add", "index_select",
                                  "index_add_alpha", "take"])
def test_along_dim_ops_gradcheck(name):
    fn, shapes = ALONG_DIM[name]
    check_gradients(fn, shapes, second_order=name in ("gather", "scatter", "index_add_alpha", "take"))


@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("reduce", ["sum", "mean", "amax", "amin", "prod"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_scatter_reduce_matches_torch(reduce, include_self, dtype):
    def fn(m, x, s):
        return x.scatter_reduce(1, m.tensor(IDX), s, reduce, include_self=include_self)

    # Positive values away from 0 and 1: no ties for amax/amin, no zeros for prod.
    matches_torch(fn, [(3, 4), (3, 2)], dtype, low=0.5, high=2)


@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("reduce", ["sum", "mean", "amax", "prod"])
def test_scatter_reduce_gradcheck(reduce, include_self):
    def fn(m, x, s):
        return x.scatter_reduce(0, m.tensor([0, 2, 0, 0]), s, reduce, include_self=include_self)

    check_gradients(fn, [(3,), (4,)], second_order=True, low=0.5, high=2)


def test_scatter_reduce_prod_with_zeros_matches_torch():
    def fn(m, x, s):
        return x.scatter_reduce(0, m.tensor([0, 0, 1, 1, 1, 2]), s, "prod")

    x_values, s_values = [2.0, 0.0, 3.0], [0.0, 4.0, 5.0, 6.0, 0.0, 0.0]
    grads = []
    for m in (ember, torch):
        x = m.tensor(x_values, dtype=m.float64, requires_grad=True)
        s = m.tensor(s_values, dtype=m.float64, requires_grad=True)
        fn(m, x, s).backward(m.tensor([1.0, 2.0, 3.0], dtype=m.float64))
        grads.append((x.grad, s.grad))
    assert_close(grads[0], grads[1])


def test_scatter_reduce_amax_shares_ties_like_torch():
    def fn(m, x, s):
        return x.scatter_reduce(0, m.tensor([0, 0, 1, 1]), s, "amax")

    grads = []
    for m in (ember, torch):
        x = m.tensor([1.0, 3.0], dtype=m.float64, requires_grad=True)
        s = m.tensor([1.0, 1.0, 3.0, 2.0], dtype=m.float64, requires_grad=True)
        fn(m, x, s).backward(m.tensor([3.0, 4.0], dtype=m.float64))
        grads.append((x.grad, s.grad))
    assert_close(grads[0], grads[1])
    assert grads[0][1].tolist() == [1.0, 1.0, 2.0, 0.0]


def test_src_larger_than_index_gets_zero_gradient_outside():
    # PyTorch fails here ("returned an invalid gradient"); ember pads the gradient to src's shape.
    def fn(m, x, s):
        return x.scatter_add(1, m.tensor([[0], [2]]), s)

    check_gradients(fn, [(3, 4), (3, 4)])
    x = ember.zeros(3, 4, requires_grad=True)
    s = ember.ones(3, 4, requires_grad=True)
    fn(ember, x, s).backward(ember.arange(12.0).reshape(3, 4))
    assert s.grad.tolist() == [[0.0] * 4, [6.0, 0.0, 0.0, 0.0], [0.0] * 4]


def test_legacy_scatter_value_reduce():
    # PyTorch has no derivative for scatter(..., reduce=...); these are the exact ones.
    x = ember.tensor([[1.0, 2.0, 3.0]], dtype=ember.float64, requires_grad=True)
    index = ember.tensor([[0, 2, 0]])
    x.scatter(1, index, 3.0, reduce="multiply").backward(ember.ones(1, 3, dtype=ember.float64))
    assert x.grad.tolist() == [[9.0, 1.0, 3.0]]
    x.grad = None
    x.scatter(1, index, 3.0, reduce="add").backward(ember.ones(1, 3, dtype=ember.float64))
    assert x.grad.tolist() == [[1.0, 1.0, 1.0]]


INPLACE = {  # the in-place variants write the result back with copy_ into a non-leaf
    "scatter_": lambda m, x, s: x.clone().scatter_(1, m.tensor(PERM), s),
    "scatter_add_": lambda m, x, s: x.clone().scatter_add_(1, m.tensor(IDX), s),
    "scatter_reduce_amax": lambda m, x, s: x.clone().scatter_reduce_(1, m.tensor(IDX), s, "amax"),
    "scatter_reduce_prod": lambda m, x, s: x.clone().scatter_reduce_(1, m.tensor(IDX), s, "prod",
                                                                      include_self=False),
    "index_add_": lambda m, x, s: x.clone().index_add_(1, m.tensor([1, 1]), s, alpha=3.0),
}


@pytest.mark.parametrize("name", sorted(INPLACE))
def test_inplace_variants_match_torch(name):
    matches_torch(INPLACE[name], [(3, 4), (3, 2)], ember.float64, low=0.5, high=2)


# ----- masks ---------------------------------------------------------------------------------------------
MASKED = {  # name -> (fn, input shapes)
    "fill": (lambda m, x: x.masked_fill(mask(m, MASK_45), 1.5), [(4, 5)]),
    "fill_broadcast_mask": (lambda m, x: m.masked_fill(x, mask(m, MASK_45[0]), -1.0), [(4, 5)]),
    "fill_broadcast_input": (lambda m, x: x.masked_fill(mask(m, MASK_45), 0.0), [(5,)]),
    "fill_value_tensor": (lambda m, x, v: x.masked_fill(mask(m, MASK_45), v), [(4, 5), ()]),
    "fill_only_value": (lambda m, v: m.zeros(4, 5, dtype=v.dtype).masked_fill(mask(m, MASK_45), v), [()]),
    "fill_": (lambda m, x: x.clone().masked_fill_(mask(m, MASK_45), 2.0), [(4, 5)]),
    "select": (lambda m, x: x.masked_select(mask(m, MASK_45)), [(4, 5)]),
    "select_broadcast_mask": (lambda m, x: m.masked_select(x, mask(m, MASK_45[1])), [(4, 5)]),
    "select_broadcast_input": (lambda m, x: x.masked_select(mask(m, MASK_45)), [(4, 1)]),
    "select_0d": (lambda m, x: x.masked_select(m.tensor(True)), [()]),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(MASKED))
def test_masked_ops_match_torch(name, dtype):
    fn, shapes = MASKED[name]
    matches_torch(fn, shapes, dtype)


def test_masked_fill_value_gradient_casts():
    x = ember.zeros(4, 5)
    v = ember.tensor(2.0, dtype=ember.float64, requires_grad=True)
    out = x.masked_fill(ember.tensor(MASK_45), v)
    assert out.dtype is ember.float32 and out.requires_grad
    out.sum().backward()
    assert v.grad.dtype is ember.float64 and v.grad.item() == MASK_45.sum()


@pytest.mark.parametrize("name", ["fill", "fill_value_tensor", "select", "select_broadcast_input"])
def test_masked_ops_gradcheck(name):
    fn, shapes = MASKED[name]
    check_gradients(fn, shapes, second_order=True)


# ----- sorting -------------------------------------------------------------------------------------------
SORTING = {
    "sort": lambda m, x: x.sort().values,
    "sort_dim0_descending": lambda m, x: m.sort(x, 0, descending=True).values,
    "msort": lambda m, x: m.msort(x),
    "topk": lambda m, x: x.topk(2).values,
    "topk_smallest_dim0": lambda m, x: m.topk(x, 2, dim=0, largest=False).values,
    "topk_zero": lambda m, x: x.topk(0).values,
    "kthvalue": lambda m, x: x.kthvalue(2).values,
    "kthvalue_keepdim": lambda m, x: m.kthvalue(x, 3, 0, keepdim=True).values,
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(SORTING))
def test_sorting_matches_torch(name, dtype):
    matches_torch(SORTING[name], [(3, 4)], dtype)
    matches_torch(SORTING[name], [(3, 4)], dtype, noncontiguous=True, seed=7)


@pytest.mark.parametrize("fn", [lambda m, x: x.sort().values, lambda m, x: x.topk(1).values,
                                lambda m, x: x.kthvalue(1).values], ids=["sort", "topk", "kthvalue"])
def test_sorting_0d(fn):
    matches_torch(fn, [()], ember.float64)


@pytest.mark.parametrize("name", ["sort", "topk_smallest_dim0", "kthvalue"])
def test_sorting_gradcheck(name):
    check_gradients(SORTING[name], [(3, 4)], second_order=name != "kthvalue")


def test_sort_values_may_change_in_place_before_backward():
    # The backward reads only the indices, as PyTorch's does.
    grads = []
    for m in (ember, torch):
        x = m.tensor([3.0, 1.0, 2.0], requires_grad=True)
        values = x.sort().values
        values[0] = 10.0
        values.backward(m.tensor([1.0, 2.0, 3.0]))
        grads.append(x.grad)
    assert_close(grads[0], grads[1])


def test_integer_outputs_do_not_require_grad():
    x = ember.ones(3, 4, requires_grad=True)
    assert not x.sort().indices.requires_grad and not x.argsort().requires_grad
    assert not x.topk(2).indices.requires_grad
    assert not ember.nonzero(x).requires_grad
    assert repr(x.sort().values.grad_fn) == "<SortBackward0>"


def test_unique_is_not_differentiable():
    # PyTorch has no derivative for unique either, and says so at backward.
    x = ember.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="the derivative for 'unique' is not implemented"):
        ember.unique(x).backward(ember.ones(1))


def test_setitem_into_leaf_that_requires_grad_is_refused():
    x = ember.ones(3, 4, requires_grad=True)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place"):
        x[[0, 2]] = 1.0
    with pytest.raises(RuntimeError, match="a view of a leaf Variable that requires grad"):
        x[1:, [0, 2]] = 1.0
    with ember.no_grad():
        x[0] = 2.0
    assert x.is_leaf and x.grad_fn is None
