"""cumsum/cumprod and sort/topk against the reference interpreter: odd and dynamic lengths (the merge sort's
partial runs), views, NaN and ties (stability in both directions), and each supported dtype. Positions are small
integers, so the comparison is exact."""

from __future__ import annotations

import numpy as np
import pytest

import ember

from .helpers import assert_matches_interpreter, compile_function, randint, randn

BATCHES = (6, 1, 13)  # traced at 6


def _scans(x, a):
    t = x.transpose(1, 2)
    return (x.cumsum(1), x.cumsum(-1), t.cumprod(1), x.cumprod(0), x.cumsum(2, dtype=ember.float64),
            x.double().cumprod(2), x[:, 1:, ::2].cumsum(2), a.cumsum(1), a.cumprod(0), a.cumsum(0, dtype=ember.int32),
            (a > 0).cumsum(1), a.to(ember.uint8).cumsum(1), x[0, 0, 0].cumsum(0))


def test_scans():
    def inputs(batch):
        x = randn(batch, 5, 7, seed=batch).numpy()
        x[-1, 2, 3] = np.nan
        return [ember.tensor(x), randint(-3, 4, batch, 9, seed=batch, dtype=ember.int64)]

    traced, compiled = compile_function(_scans, inputs(6), dynamic_dims={0: [0], 1: [0]})
    for batch in BATCHES:
        assert_matches_interpreter(traced, compiled, inputs(batch))


def _sorts(x):
    t = x.transpose(0, 1)
    values, indices = x.sort(-1)
    down, down_indices = x.sort(-1, descending=True)
    columns, column_indices = t.sort(1, descending=True)
    return (values, indices, down, down_indices, columns, column_indices, x.sort(0).indices, x.argsort(-1),
            *x.topk(3), *x.topk(1, largest=False), *t.topk(2, dim=1), *x[:, ::2].topk(2, dim=0, largest=False),
            *x[0, 0].sort())


def _with_ties_and_nans(rows: int, length: int, seed: int) -> ember.Tensor:
    x = np.round(randn(rows, length, seed=seed, dtype=ember.float64).numpy() * 2) / 2  # many ties
    x[0, length // 2] = np.nan
    x[-1, 0] = x[-1, -1] = np.nan
    x[rows // 2, length - 1] = np.inf
    x[rows // 2, 0] = -np.inf
    return ember.tensor(x, dtype=ember.float32)


def test_sort_and_topk_are_stable_with_nan_largest_on_odd_dynamic_lengths():
    """The sort dim is dynamic: lengths 1 to 130, around and off the merge passes' powers of two."""
    traced, compiled = compile_function(_sorts, [_with_ties_and_nans(4, 9, 0)], dynamic_dims={0: [1]})
    for length in (9, 3, 4, 5, 16, 17, 33, 130):
        assert_matches_interpreter(traced, compiled, [_with_ties_and_nans(4, length, length)])


@pytest.mark.parametrize("dtype", [ember.float64, ember.int32, ember.int64, ember.uint8])
def test_sort_and_topk_of_each_dtype(dtype):
    def f(x):
        values, indices = x.sort(1, descending=True)
        return values, indices, *x.sort(0), *x.transpose(0, 1).topk(2, dim=1, largest=False), *x.topk(4)

    high = 6 if dtype is not ember.float64 else 1
    make = (lambda n, s: randint(0, high, n, 11, seed=s, dtype=dtype)) if high > 1 else \
        (lambda n, s: randn(n, 11, seed=s, dtype=dtype))
    traced, compiled = compile_function(f, [make(6, 0)], dynamic_dims={0: [0]})
    for batch in (6, 2, 13):  # topk(2) along the batch dim needs two rows
        assert_matches_interpreter(traced, compiled, [make(batch, batch)])


def test_sort_of_bool():
    traced, compiled = compile_function(lambda x: (x > 0).sort(-1, descending=True), [randn(3, 8)])
    assert_matches_interpreter(traced, compiled, [randn(3, 8, seed=4)])


def test_scans_of_columns_run_in_vector_lanes_with_a_masked_last_group():
    traced, compiled = compile_function(lambda x: (x.cumsum(0), x.cumprod(0), x.int().cumsum(0)), [randn(4, 9)],
                                        dynamic_dims={0: [0, 1]})
    for rows, width in ((4, 9), (1, 1), (3, 2), (5, 16), (2, 17), (3, 35)):
        assert_matches_interpreter(traced, compiled, [randn(rows, width, seed=width) * 3])
