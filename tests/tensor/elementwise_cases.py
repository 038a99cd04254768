"""Shared inputs and comparisons for the element-wise op tests (unary, arithmetic, comparison, ternary)."""

from __future__ import annotations

import ember
from tests.oracle import pair, to_torch

# (shape of input, shape of other): equal, broadcast both ways, 0-d with and without dims, and empty.
BROADCAST_SHAPES = [((3, 4), (3, 4)), ((3, 1), (1, 4)), ((2, 3, 4), (4,)), ((), (3,)), ((2, 3), ()), ((), ()),
                    ((0,), (0,)), ((2, 0), (1,)), ((0, 3), (3,))]
SHAPES = [(), (0,), (7,), (3, 4), (2, 0, 3)]
SCALARS = [3, -2, 2.5, -0.75, True]


def nonzero_pair(shape: tuple, dtype: ember.dtype, *, seed: int = 0, noncontiguous: bool = False,
                 low: float = -4, high: float = 4) -> tuple:
    """A :func:`pair` without zeros, to divide by (integer division by zero raises)."""
    e, _ = pair(shape, dtype, seed=seed, noncontiguous=noncontiguous, low=low, high=high)
    arr = e.numpy()
    arr[arr == 0] = 1
    return e, to_torch(e)


def values_pair(values: list, dtype: ember.dtype) -> tuple:
    """Given values as an ember and a torch tensor of ``dtype`` (special values: inf, nan, extremes)."""
    e = ember.tensor(values, dtype=ember.float64 if dtype.is_floating_point else ember.int64).to(dtype)
    return e, to_torch(e)
