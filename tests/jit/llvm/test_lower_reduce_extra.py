"""The extra reductions (argmax/argmin, max/min along a dim, all/any/count_nonzero, prod, nansum, nanmean, norm,
logsumexp) and ``equal`` against the reference interpreter: random inputs with NaN, ties and zeros, odd sizes,
views, several batches and each supported dtype. Indices are small integers, so the comparison is exact."""

from __future__ import annotations

import math

import numpy as np
import pytest

import ember
from ember.tensor.dispatch import dispatch
from ember.tensor.ops.comparison import EQUAL

from .helpers import assert_matches_interpreter, compile_function, randint, randn

BATCHES = (6, 1, 13)  # traced at 6


def _with_specials(batch: int, dtype=ember.float32) -> ember.Tensor:
    """Random (batch, 5, 7) values with ties, a zero, NaNs (one row all NaN) and infinities."""
    x = np.round(randn(batch, 5, 7, seed=batch, dtype=ember.float64).numpy() * 2) / 2  # ties and zeros
    x[0, 1, 2] = x[0, 3, 4] = np.nan
    x[-1, 2, :] = np.nan
    x[-1, 0, 0] = np.inf
    x[0, 4, 6] = -np.inf
    return ember.tensor(x, dtype=dtype)


def _index_reductions(x):
    t = x.transpose(1, 2)
    values, indices = x.max(1)
    low, where = t[:, 1:].min(2, keepdim=True)
    return (x.argmax(), x.argmin(keepdim=True), t.argmin(), x.argmax(1), x.argmin(-1, keepdim=True), t.argmax(2),
            values, indices, low, where, x.max(0).indices, x[0, 0, 0].argmax())


@pytest.mark.parametrize("dtype", [ember.float32, ember.float64])
def test_index_reductions_on_floats_take_the_first_extreme_or_nan(dtype):
    traced, compiled = compile_function(_index_reductions, [_with_specials(6, dtype)], dynamic_dims={0: [0]})
    for batch in BATCHES:
        assert_matches_interpreter(traced, compiled, [_with_specials(batch, dtype)])


def test_index_reductions_on_integers_and_bool():
    def f(a, c):
        values, indices = (c > 1).max(1)
        return (a.argmax(1), a.argmin(), a.max(-1), a.transpose(0, 1).min(1, keepdim=True), c.argmax(0), values,
                indices, (c > 2).min(0))

    traced, compiled = compile_function(f, [randint(-4, 4, 6, 9, dtype=ember.int32),
                                            randint(0, 4, 6, 3, dtype=ember.uint8)], dynamic_dims={0: [0], 1: [0]})
    for batch in BATCHES:
        assert_matches_interpreter(traced, compiled, [randint(-4, 4, batch, 9, seed=batch, dtype=ember.int32),
                                                      randint(0, 4, batch, 3, seed=batch, dtype=ember.uint8)])
    traced, compiled = compile_function(lambda a: (a.argmax(0), a.min(1)), [randint(-3, 3, 5, 4, dtype=ember.int64)])
    assert_matches_interpreter(traced, compiled, [randint(-3, 3, 5, 4, seed=2, dtype=ember.int64)])


def _truth_reductions(x, a):
    return (x.all(1), x.any((0, 2), keepdim=True), x.all(), (x > 0).any(-1), (x > 0).all(dim=()),
            x.transpose(0, 2).count_nonzero(0), x.count_nonzero(), a.all(0), a.any(1), a.count_nonzero((0, 1)),
            (a > 2).all(), ember.count_nonzero(x > 0.5, 1))


def test_all_any_count_nonzero():
    """NaN counts as true (non-zero); uint8 inputs give uint8 results, the others bool."""
    traced, compiled = compile_function(_truth_reductions, [_with_specials(6), randint(0, 3, 6, 4, dtype=ember.uint8)],
                                        dynamic_dims={0: [0], 1: [0]})
    for batch in BATCHES:
        assert_matches_interpreter(traced, compiled, [_with_specials(batch),
                                                      randint(0, 3, batch, 4, seed=batch, dtype=ember.uint8)])
    traced, compiled = compile_function(lambda a: (a.all(1), a.any(0), a.count_nonzero(1)),
                                        [randint(-1, 2, 4, 3, dtype=ember.int64)])
    assert_matches_interpreter(traced, compiled, [randint(-1, 2, 4, 3, seed=5, dtype=ember.int64)])


def _sums(x, a):
    t = x.transpose(1, 2)
    return (x.prod(1), t.prod(2, keepdim=True), x.prod(dtype=ember.float64), ember.nansum(x, 2), ember.nansum(t),
            ember.nansum(x, (0, 1), keepdim=True), ember.nanmean(x, -1), ember.nanmean(t, (0, 1)),
            ember.nanmean(x, 2, dtype=ember.float64), a.prod(0), a.prod(1, dtype=ember.int32), ember.nansum(a, 1),
            (a > 0).prod(0), a.prod())


def test_prod_nansum_nanmean():
    def inputs(batch):
        x = uniform_like(batch)
        x[0, 1, 3] = x[-1, 2, :] = np.nan  # a row of NaNs: nansum 0, nanmean NaN
        return [ember.tensor(x), randint(-3, 4, batch, 5, seed=batch, dtype=ember.int32)]

    traced, compiled = compile_function(_sums, inputs(6), dynamic_dims={0: [0], 1: [0]})
    for batch in BATCHES:
        assert_matches_interpreter(traced, compiled, inputs(batch))


def uniform_like(batch: int) -> np.ndarray:
    """(batch, 5, 7) float32 values of either sign around 1, so long products stay finite."""
    rng = np.random.default_rng(batch)
    return (rng.uniform(0.6, 1.5, (batch, 5, 7)) * rng.choice([-1, 1], (batch, 5, 7))).astype(np.float32)


@pytest.mark.parametrize("dtype", [ember.float32, ember.float64])
def test_norms(dtype):
    def f(x):
        t = x.transpose(1, 2)
        return tuple(x.norm(p, dim=1) for p in (2, 1, math.inf, -math.inf, 0, 3, 0.5)) + (
            t.norm(dim=(0, 1), keepdim=True), x.norm(), ember.norm(t[:, 2:], math.inf, dim=2))

    def inputs(batch):
        x = randn(batch, 5, 7, seed=batch, dtype=dtype).numpy()
        x[0, 2, 3] = 0
        x[-1, 1, 1] = np.nan
        return [ember.tensor(x)]

    traced, compiled = compile_function(f, inputs(6), dynamic_dims={0: [0]})
    for batch in BATCHES:
        assert_matches_interpreter(traced, compiled, inputs(batch))


def test_logsumexp_is_stable_and_follows_the_infinite_cases():
    def f(x, a):
        return x.logsumexp(1), x.transpose(1, 2).logsumexp((0, 1), keepdim=True), x.logsumexp(-1), \
            x.double().logsumexp(2), a.logsumexp(1)

    def inputs(batch):
        x = randn(batch, 5, 7, seed=batch).numpy() * 30
        x[0, 1, :] = 1e4  # no overflow
        x[0, 2, :] = -np.inf  # -inf
        x[-1, 3, 4] = np.inf  # inf
        x[-1, 4, 5] = np.nan
        return [ember.tensor(x), randint(-5, 5, batch, 3, seed=batch, dtype=ember.int64)]

    traced, compiled = compile_function(f, inputs(6), dynamic_dims={0: [0], 1: [0]})
    for batch in BATCHES:
        assert_matches_interpreter(traced, compiled, inputs(batch))


def test_equal_compares_shapes_at_run_time_and_values_after_promotion():
    def f(x, y, a):
        return (dispatch(EQUAL, x, y), dispatch(EQUAL, x, x.transpose(0, 1).transpose(0, 1)), dispatch(EQUAL, x, x[1:]),
                dispatch(EQUAL, x, x.unsqueeze(0)), dispatch(EQUAL, a, a.double()), dispatch(EQUAL, a, a + 1),
                dispatch(EQUAL, x, x))

    x = randn(4, 3)
    traced, compiled = compile_function(f, [x, x, randint(0, 9, 5, dtype=ember.int32)],
                                        dynamic_dims={0: {0: "N"}, 1: {0: "M"}})
    nan = x.numpy().copy()
    nan[1, 1] = np.nan
    other = x.numpy().copy()
    other[3, 2] += 1
    a = randint(0, 9, 5, seed=3, dtype=ember.int32)
    for first, second in ((x, x), (x, ember.tensor(other)), (x, randn(5, 3)), (ember.tensor(nan), ember.tensor(nan)),
                          (randn(1, 3), randn(1, 3))):
        assert_matches_interpreter(traced, compiled, [first, second, a])


def _rows_and_columns(x):
    values, indices = x.max(-1)
    low, where = x.min(0)
    return (x.argmax(-1), x.argmin(-1, keepdim=True), values, indices, low, where, x.argmax(0), x.argmax(),
            x.prod(-1), ember.nansum(x, -1), ember.nanmean(x, 0), x.logsumexp(-1), x.logsumexp(0), x.norm(dim=-1),
            x.norm(3, dim=0), x.norm(-math.inf, dim=-1), (x > 0).all(-1), (x > -2).all(0), x.count_nonzero(-1),
            x.count_nonzero(0), (x > 1).any(-1))


def test_vector_lanes_along_rows_and_across_columns():
    """Contiguous rows fold in vector lanes merged at the end (ties and NaNs across lanes keep the first index),
    outer dims fold for neighbouring outputs at once; lengths around and off the vector widths."""
    traced, compiled = compile_function(_rows_and_columns, [randn(3, 17)], dynamic_dims={0: [0, 1]})
    for rows, length in ((3, 17), (1, 1), (2, 2), (4, 15), (1, 16), (3, 33), (2, 64), (5, 100), (2, 1001)):
        x = np.round(randn(rows, length, seed=length).numpy() * 2) / 2
        x[rows // 2, length // 3] = np.nan
        x[-1, length - 1] = np.nan
        x[0, :] = 1.0  # all tied
        x[0, length // 2] = 2
        assert_matches_interpreter(traced, compiled, [ember.tensor(x * 0.9)])
