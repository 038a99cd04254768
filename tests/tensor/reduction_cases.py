"""Shared inputs and comparison for the reduction test modules (sums, extrema, statistics, softmax, scans)."""

from __future__ import annotations

import numpy as np

import ember
from tests.oracle import pair, to_torch

SHAPES = [(), (0,), (2, 0, 3), (5,), (3, 4), (2, 3, 4)]


def make_pair(shape: tuple, dtype: ember.dtype, *, seed: int = 0, noncontiguous: bool = False, **kw):
    """``oracle.pair`` for every shape: 0-d inputs come from a one-element draw (pair needs an array there)."""
    if shape == ():
        one, _ = pair((1,), dtype, seed=seed, **kw)
        e = ember.from_numpy(np.array(one.numpy()[0]))
        return e, to_torch(e)
    return pair(shape, dtype, seed=seed, noncontiguous=noncontiguous, **kw)


def dims_for(shape: tuple, tuples: bool = True) -> list:
    """Each way of naming reduction dims that is valid for ``shape`` (0-d tensors accept 0 and -1)."""
    dims = [None, 0, -1] + ([1] if len(shape) >= 2 else [])
    if tuples:
        dims += [(), [0], (-1,)]
        dims += [(0, -1)] if len(shape) >= 2 else []
        dims += [(2, 0)] if len(shape) >= 3 else []
    return dims

