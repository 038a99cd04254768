"""The ``max_pool`` (values and indices) and ``avg_pool`` lowerings against the reference interpreter: padding,
dilation, ceil_mode, count_include_pad, divisor_override, 1-d to 3-d, ties, NaN and -inf windows, integers."""

from __future__ import annotations

import numpy as np
import pytest

import ember
import ember.nn.functional as F

from .helpers import assert_matches_interpreter, compile_function, randint, randn


def _check(fn, shape: tuple, dtype=ember.float32, make=randn, batches=(1, 3)) -> None:
    traced, compiled = compile_function(fn, [make(*shape, dtype=dtype)])
    assert_matches_interpreter(traced, compiled, [make(*shape, seed=7, dtype=dtype)])
    for batch in batches:
        assert_matches_interpreter(traced, compiled, [make(batch, *shape[1:], seed=batch, dtype=dtype)])


MAX_2D = [
    # kernel, stride, padding, dilation, ceil_mode
    (2, 2, 0, 1, False),
    (3, 2, 1, 1, False),
    ((3, 2), (2, 1), (1, 1), (2, 1), False),
    (3, 2, 1, 1, True),
    ((2, 3), 3, (1, 0), (1, 2), True),
]


@pytest.mark.parametrize("kernel, stride, padding, dilation, ceil_mode", MAX_2D)
def test_max_pool2d_values_and_indices(kernel, stride, padding, dilation, ceil_mode):
    def fn(x):
        return F.max_pool2d(x, kernel, stride, padding, dilation, ceil_mode, return_indices=True)

    _check(fn, (2, 3, 9, 10))
    _check(fn, (2, 2, 8, 7), dtype=ember.float64)


def _few_values(*shape: int, seed: int = 0, dtype=ember.float32) -> ember.Tensor:
    """Values from {-1, 0, 1} (every window has ties), with NaNs and -inf sprinkled in."""
    rng = np.random.default_rng(seed + 11)
    values = rng.integers(-1, 2, shape).astype(np.float64)
    values.flat[rng.choice(values.size, max(1, values.size // 9), replace=False)] = np.nan
    values.flat[rng.choice(values.size, max(1, values.size // 9), replace=False)] = -np.inf
    return ember.tensor(values, dtype=dtype)


def test_max_pool_ties_nan_and_minus_infinity():
    def fn(x):
        return F.max_pool2d(x, 3, 2, 1, return_indices=True)

    _check(fn, (2, 3, 9, 8), make=_few_values)
    # A window of -inf only reports its first tap inside the input.
    x = ember.tensor(np.full((2, 1, 5, 5), -np.inf, dtype=np.float32))
    traced, compiled = compile_function(fn, [x])
    assert_matches_interpreter(traced, compiled, [x])


def test_max_pool_1d_3d_and_integers():
    _check(lambda x: F.max_pool1d(x, 4, 3, 2, 1, True, return_indices=True), (2, 3, 17))
    _check(lambda x: F.max_pool3d(x, (2, 3, 2), (1, 2, 2), (1, 1, 0), return_indices=True), (2, 2, 5, 6, 4))
    _check(lambda x: F.max_pool2d(x, 3, 2, 1, return_indices=True), (2, 2, 7, 7), dtype=ember.int32,
           make=lambda *s, seed=0, dtype: randint(-4, 5, *s, seed=seed, dtype=dtype))


AVG_2D = [
    # kernel, stride, padding, ceil_mode, count_include_pad, divisor_override
    (2, 2, 0, False, True, None),
    (3, 2, 1, False, True, None),
    (3, 2, 1, True, False, None),
    ((3, 2), (2, 1), (1, 1), True, True, None),
    (3, 1, 1, False, True, 5),
]


@pytest.mark.parametrize("kernel, stride, padding, ceil_mode, count_include_pad, divisor", AVG_2D)
def test_avg_pool2d(kernel, stride, padding, ceil_mode, count_include_pad, divisor):
    def fn(x):
        return F.avg_pool2d(x, kernel, stride, padding, ceil_mode, count_include_pad, divisor)

    _check(fn, (2, 3, 9, 10))
    _check(fn, (2, 2, 8, 7), dtype=ember.float64)


def test_avg_pool_1d_3d_and_integers():
    _check(lambda x: F.avg_pool1d(x, 4, 3, 2, True, False), (2, 3, 17))
    _check(lambda x: F.avg_pool3d(x, (2, 3, 2), (1, 2, 2), (1, 1, 0)), (2, 2, 5, 6, 4))
    _check(lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False), (2, 2, 7, 7), dtype=ember.int64,
           make=lambda *s, seed=0, dtype: randint(-9, 10, *s, seed=seed, dtype=dtype))


def test_pool_of_a_non_contiguous_input():
    def fn(x):
        y = x.transpose(2, 3)
        return F.max_pool2d(y, 3, 2, 1), F.avg_pool2d(y, 2, 1, 1)

    _check(fn, (2, 3, 8, 11))
