"""The pooling primitives (pool_kernels) against torch: values, indices, gradients and double backward, with
torch's tie, NaN and -inf rules, integer inputs, ceil_mode, overlapping windows and 1-3 pooled dims."""

from __future__ import annotations

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember.autograd import gradcheck, gradgradcheck
from tests.nn.functional_check import FLOATS, TF, check
from tests.oracle import assert_close, pair, torch


def _both(array: np.ndarray) -> tuple:
    return ember.tensor(array), torch.tensor(array)


def _same_max_pool(x: tuple, **kwargs) -> None:
    e_out, e_idx = F.max_pool2d(x[0], return_indices=True, **kwargs)
    t_out, t_idx = TF.max_pool2d(x[1], return_indices=True, **kwargs)
    np.testing.assert_array_equal(e_out.numpy(), t_out.numpy())
    np.testing.assert_array_equal(e_idx.numpy(), t_idx.numpy())


@pytest.mark.parametrize("kwargs", [
    {"kernel_size": 2}, {"kernel_size": 3, "stride": 1, "padding": 1}, {"kernel_size": 3, "stride": 2, "dilation": 2},
    {"kernel_size": (2, 3), "stride": (2, 1), "padding": (1, 1), "ceil_mode": True},
])
def test_max_pool_ties_nan_and_inf_follow_torch(kwargs):
    rng = np.random.default_rng(0)
    ties = np.round(rng.standard_normal((2, 3, 7, 9)))
    with_nan = rng.standard_normal((2, 3, 7, 9))
    with_nan[rng.random(with_nan.shape) < 0.2] = np.nan
    with_inf = rng.standard_normal((2, 3, 7, 9))
    with_inf[rng.random(with_inf.shape) < 0.6] = -np.inf
    for array in (ties, with_nan, with_inf, np.full((1, 1, 7, 9), -np.inf)):
        _same_max_pool(_both(array), **kwargs)


@pytest.mark.parametrize("dtype", FLOATS)
def test_overlapping_windows_sum_their_gradients(dtype):
    x = pair((2, 3, 8, 7), dtype)
    check(F.max_pool2d, TF.max_pool2d, x, kernel_size=3, stride=1, padding=1)
    check(F.max_pool2d, TF.max_pool2d, (ember.ones(1, 2, 5, 5, dtype=dtype), torch.ones(1, 2, 5, 5, dtype=x[1].dtype)),
          kernel_size=3, stride=2)


def test_integer_and_half_inputs():
    ints = _both(np.arange(-60, 60).reshape(2, 3, 4, 5))
    _same_max_pool(ints, kernel_size=2, padding=1)
    assert_close(F.avg_pool2d(ints[0], 3, 2, 1, ceil_mode=True), TF.avg_pool2d(ints[1], 3, 2, 1, ceil_mode=True))
    x = pair((2, 3, 6, 6), ember.float16)
    check(F.max_pool2d, TF.max_pool2d, x, kernel_size=2, tol=1e-3)
    check(F.avg_pool2d, TF.avg_pool2d, x, kernel_size=3, stride=2, padding=1, tol=1e-3)
    for fn, name in ((F.max_pool2d, "max_pool2d"), (F.avg_pool2d, "avg_pool2d")):
        with pytest.raises(NotImplementedError, match=f"\"{name}\" not implemented for 'Bool'"):
            fn(ember.ones(1, 1, 4, 4, dtype=ember.bool), 2)


@pytest.mark.parametrize("kwargs", [{"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False},
                                    {"kernel_size": (2, 3), "ceil_mode": True, "padding": 1},
                                    {"kernel_size": 2, "divisor_override": 3}])
def test_avg_pool_matches_torch(kwargs):
    check(F.avg_pool2d, TF.avg_pool2d, pair((2, 3, 7, 8), ember.float32), tol=1e-5, **kwargs)
    scalar = {k: v[0] if isinstance(v, tuple) else v for k, v in kwargs.items()}
    check(F.avg_pool3d, TF.avg_pool3d, pair((1, 2, 5, 6, 7), ember.float64), **scalar)
    scalar.pop("divisor_override", None)
    check(F.avg_pool1d, TF.avg_pool1d, pair((2, 3, 9), ember.float64), **scalar)


def test_max_pool_1d_and_3d_indices():
    x = pair((2, 3, 11), ember.float64)
    check(F.max_pool1d, TF.max_pool1d, x, 3, 2, 1, 1, True)
    assert_close(F.max_pool1d(x[0], 4, 3, 2, 1, True, return_indices=True)[1],
                 TF.max_pool1d(x[1], 4, 3, 2, 1, True, return_indices=True)[1])
    x3 = pair((1, 2, 5, 6, 7), ember.float64)
    check(F.max_pool3d, TF.max_pool3d, x3, (2, 3, 2), (1, 2, 2), (1, 1, 0))
    assert_close(F.max_pool3d(x3[0], 2, return_indices=True)[1], TF.max_pool3d(x3[1], 2, return_indices=True)[1])


@pytest.mark.parametrize("kwargs", [{"kernel_size": 2}, {"kernel_size": 3, "stride": 1, "padding": 1}])
def test_pooling_differentiates_twice(kwargs):
    ember.manual_seed(0)
    # Distinct values, so the maxima do not move under gradcheck's finite differences.
    x = (ember.randperm(2 * 3 * 6 * 5).to(ember.float64) / 7).reshape(2, 3, 6, 5).requires_grad_()
    assert gradcheck(lambda a: F.max_pool2d(a, **kwargs), (x,))
    assert gradgradcheck(lambda a: F.max_pool2d(a, **kwargs), (x,))
    assert gradgradcheck(lambda a: F.avg_pool2d(a, ceil_mode=True, count_include_pad=False, **kwargs), (x,))


@pytest.mark.parametrize("fn", ["max_pool1d", "max_pool2d"])
def test_padding_is_bounded_by_half_the_kernel_not_the_dilated_window(fn):
    # torch refuses padding 2 for kernel 2 even with dilation 3 (whose window spans 4).
    shape = (1, 2, 6) if fn == "max_pool1d" else (1, 2, 6, 6)
    with pytest.raises(RuntimeError, match="half of kernel size"):
        getattr(ember.nn.functional, fn)(ember.zeros(*shape), 2, 1, 2, 3)
    with pytest.raises(RuntimeError):
        getattr(torch.nn.functional, fn)(torch.zeros(*shape), 2, 1, 2, 3)
