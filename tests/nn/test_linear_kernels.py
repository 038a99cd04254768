"""The fused ``linear`` primitive against torch, the calls it leaves to the composite form, and its double
backward."""

from __future__ import annotations

import pytest

import ember
import ember.nn.functional as F
from ember.autograd import gradgradcheck
from ember.tensor.dispatch import add_dispatch_hook
from tests.nn.functional_check import FLOATS, TF, check
from tests.oracle import pair


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(5, 7), (2, 3, 7), (7,)])
def test_linear_matches_torch(shape, dtype):
    w, b = pair((4, 7), dtype, seed=1), pair((4,), dtype, seed=2)
    tol = 1e-5 if dtype is ember.float32 else None
    check(F.linear, TF.linear, pair(shape, dtype), w, b, tol=tol)
    check(F.linear, TF.linear, pair(shape, dtype), w, tol=tol)


def test_weight_gradient_is_contiguous_and_one_primitive_runs():
    x = ember.randn(6, 5)
    w = ember.randn(3, 5, requires_grad=True)
    b = ember.randn(3, requires_grad=True)
    names = []
    handle = add_dispatch_hook(lambda op, operands, attrs, out: names.append(op.name))
    try:
        out = F.linear(x, w, b)
    finally:
        handle.remove()
    assert names == ["linear"]
    out.sum().backward()
    assert w.grad.is_contiguous() and w.grad.shape == (3, 5) and b.grad.shape == (3,)


def test_other_calls_keep_the_composite_path_and_its_errors():
    check(F.linear, TF.linear, pair((3, 4)), pair((4,), seed=1))
    check(F.linear, TF.linear, pair((3, 4)), pair((2, 4), seed=1), pair((1,), seed=2))
    with pytest.raises(RuntimeError, match=r"mat1 and mat2 shapes cannot be multiplied \(3x4 and 5x2\)"):
        F.linear(ember.randn(3, 4), ember.randn(2, 5))
    with pytest.raises(RuntimeError, match="expected m1 and m2 to have the same dtype"):
        F.linear(ember.randn(3, 4), ember.randn(2, 4, dtype=ember.float64))


def test_linear_differentiates_twice():
    ember.manual_seed(0)
    x = ember.randn(2, 3, 4, dtype=ember.float64, requires_grad=True)
    w = ember.randn(5, 4, dtype=ember.float64, requires_grad=True)
    b = ember.randn(5, dtype=ember.float64, requires_grad=True)
    assert gradgradcheck(F.linear, (x, w, b))


def test_short_wide_batches_take_the_transposed_product():
    x, w, b = pair((6, 600)), pair((40, 600), seed=1), pair((40,), seed=2)
    check(F.linear, TF.linear, x, w, b, tol=1e-4)
