"""Gradients of copies and casts (clone, contiguous, to(dtype), copy_, fill_, zero_) against PyTorch, finite
differences and second order."""

from __future__ import annotations

import pytest

import ember
from tests.autograd.test_indexing_grad import DTYPES, check_gradients, matches_torch
from tests.oracle import assert_close, pair, torch


def _copy_into(view=None):
    """``y = x.clone(); y[view].copy_(src)`` (all of y when view is None)."""

    def fn(m, x, src):
        y = x.clone()
        (y if view is None else y[view]).copy_(src)
        return y

    return fn


CASES = {  # name -> (fn, input shapes)
    "clone": (lambda m, x: x.clone(), [(3, 4)]),
    "clone_0d": (lambda m, x: m.clone(x), [()]),
    "contiguous": (lambda m, x: x.t().contiguous(), [(3, 4)]),
    "copy_": (_copy_into(), [(3, 4), (3, 4)]),
    "copy_broadcast": (_copy_into(), [(3, 4), (4,)]),
    "copy_0d_src": (_copy_into(), [(3, 4), ()]),
    "copy_into_view": (_copy_into((slice(1, None), slice(None, None, 2))), [(3, 4), (2, 2)]),
    "copy_into_transposed_view": (lambda m, x, s: _t_copy(m, x, s), [(3, 4), (4, 3)]),
    "fill_": (lambda m, x: x.clone().fill_(2.5), [(3, 4)]),
    "fill_view": (lambda m, x: _fill_row(x), [(3, 4)]),
    "zero_view": (lambda m, x: _zero_column(x), [(3, 4)]),
}


def _t_copy(m, x, src):
    y = x.clone()
    y.t().copy_(src)
    return y


def _fill_row(x):
    y = x.clone()
    y[1].fill_(-1.0)
    return y


def _zero_column(x):
    y = x.clone()
    y[:, 2].zero_()
    return y


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(CASES))
def test_copy_ops_match_torch(name, dtype):
    fn, shapes = CASES[name]
    matches_torch(fn, shapes, dtype)
    if all(shapes):
        matches_torch(fn, shapes, dtype, noncontiguous=True, seed=3)


@pytest.mark.parametrize("name", ["clone", "contiguous", "copy_broadcast", "copy_into_view",
                                  "copy_into_transposed_view", "zero_view"])
def test_copy_ops_gradcheck(name):
    fn, shapes = CASES[name]
    check_gradients(fn, shapes, second_order=True)


@pytest.mark.parametrize(("source", "target"), [(ember.float32, ember.float64), (ember.float64, ember.float32),
                                                (ember.float32, ember.float16), (ember.float64, ember.bfloat16)])
def test_cast_gradient_comes_back_in_the_input_dtype(source, target):
    x_e, x_t = pair((3, 4), source)
    x_e.requires_grad_()
    x_t.requires_grad_()
    y_e = x_e.to(target)
    y_t = x_t.to({ember.float16: torch.float16, ember.bfloat16: torch.bfloat16, ember.float32: torch.float32,
                  ember.float64: torch.float64}[target])
    assert y_e.dtype is target and y_e.requires_grad
    g_e, g_t = pair((3, 4), target, seed=9)
    y_e.backward(g_e)
    y_t.backward(g_t)
    assert x_e.grad.dtype is source
    assert_close(x_e.grad, x_t.grad)


def test_cast_methods_and_gradcheck():
    x = ember.tensor([[1.0, -2.0], [0.5, 3.0]], dtype=ember.float64, requires_grad=True)
    (x.float() * ember.tensor([1.0, 2.0])).double().sum().backward()
    assert x.grad.dtype is ember.float64 and x.grad.tolist() == [[1.0, 2.0], [1.0, 2.0]]
    # A float32 round trip: a large eps keeps its rounding small against the difference.
    assert ember.autograd.gradcheck(lambda t: t.to(ember.float32).to(ember.float64) * 2, [x], eps=1e-3, atol=1e-3)
    assert ember.autograd.gradgradcheck(lambda t: (t * t).float().double(), [x], eps=1e-3, atol=1e-3)


def test_cast_to_integer_stops_the_gradient():
    x = ember.ones(3, requires_grad=True)
    assert not x.to(ember.int64).requires_grad and not x.long().requires_grad


def test_overwritten_leaf_history_gets_zero_grad_like_torch():
    grads = []
    for m in (ember, torch):
        a = m.ones(3, requires_grad=True)
        c = m.ones(3, requires_grad=True)
        b = a * 1
        b.copy_(c * 2)
        (b * m.tensor([1.0, 2.0, 3.0])).sum().backward()
        grads.append((a.grad, c.grad))
    assert_close(grads[0], grads[1])
    assert grads[0][0].tolist() == [0.0, 0.0, 0.0]


def test_copy_src_gradient_is_cast_and_summed():
    x = ember.zeros(2, 3, dtype=ember.float64)
    src = ember.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x.copy_(src)
    (x * ember.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dtype=ember.float64)).sum().backward()
    assert src.grad.dtype is ember.float32 and src.grad.tolist() == [5.0, 7.0, 9.0]


def test_fill_of_leaf_that_requires_grad_is_refused():
    x = ember.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place"):
        x.fill_(0.0)
    with pytest.raises(RuntimeError, match="a view of a leaf Variable that requires grad"):
        x[1:].copy_(ember.zeros(2))
