"""The fused cross-entropy primitive against torch: reductions, class weights, ignore_index, unbatched input,
out-of-range targets, the composite path's cases, and its double backward."""

from __future__ import annotations

import pytest

import ember
import ember.nn.functional as F
from ember.autograd import gradgradcheck
from ember.tensor.dispatch import add_dispatch_hook
from tests.nn.functional_check import FLOATS, TF, Fixed, check
from tests.oracle import pair, torch


def _targets(values: list) -> Fixed:
    return Fixed((ember.tensor(values), torch.tensor(values)))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_matches_torch(reduction, dtype):
    x, t = pair((6, 4), dtype), _targets([0, 3, 1, 1, 2, 3])
    tol = 1e-5 if dtype is ember.float32 else None
    check(F.cross_entropy, TF.cross_entropy, x, t, reduction=reduction, tol=tol)
    weight = Fixed(pair((4,), dtype, seed=3))
    check(F.cross_entropy, TF.cross_entropy, x, t, weight=weight, reduction=reduction, tol=tol)
    ignored = _targets([0, 2, 1, 5, 5, 3])
    check(F.cross_entropy, TF.cross_entropy, x, ignored, weight=weight, ignore_index=5, reduction=reduction,
          tol=tol)


def test_unbatched_and_one_primitive_each_way():
    check(F.cross_entropy, TF.cross_entropy, pair((5,), ember.float64), _targets(2))
    x = ember.randn(3, 4, requires_grad=True)
    names = []
    handle = add_dispatch_hook(lambda op, operands, attrs, out: names.append(op.name))
    try:
        F.cross_entropy(x, ember.tensor([0, 1, 2])).backward()
    finally:
        handle.remove()
    # The gradient is fresh and unshared, so x keeps it as its .grad without a copy.
    assert names == ["cross_entropy", "full", "cross_entropy_backward"]


def test_composite_cases_and_errors():
    check(F.cross_entropy, TF.cross_entropy, pair((2, 4, 3), ember.float64), _targets([[0, 1, 3], [2, 2, 0]]))
    check(F.cross_entropy, TF.cross_entropy, pair((4, 3), ember.float64), _targets([0, 1, 2, 1]),
          label_smoothing=0.2)
    with pytest.raises(IndexError, match="Target 4 is out of bounds."):
        F.cross_entropy(ember.randn(3, 4), ember.tensor([0, 4, 1]))
    with pytest.raises(IndexError, match="Target -3 is out of bounds."):
        F.cross_entropy(ember.randn(3, 4), ember.tensor([0, -3, 1]))
    with pytest.raises(ValueError, match="sum2 is not a valid value for reduction"):
        F.cross_entropy(ember.randn(3, 4), ember.tensor([0, 1, 1]), reduction="sum2")
    assert bool(F.cross_entropy(ember.randn(2, 3), ember.tensor([-100, -100])).isnan())


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_differentiates_twice(reduction):
    ember.manual_seed(0)
    x = ember.randn(5, 4, dtype=ember.float64, requires_grad=True)
    target, weight = ember.tensor([0, 3, -100, 1, 3]), ember.rand(4, dtype=ember.float64) + 0.5
    assert gradgradcheck(lambda a: F.cross_entropy(a, target, weight, reduction=reduction), (x,))
