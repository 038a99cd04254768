"""The convolution primitives (conv_kernels): forward, input and weight gradients against torch, and their
derivatives (gradcheck, gradgradcheck), across strides, padding, dilation, groups and 1-3 spatial dims."""

from __future__ import annotations

import pytest

import ember
import ember.nn.functional as F
from ember.autograd import gradcheck, gradgradcheck
from ember.nn.functional.conv_kernels import convolution, convolution_input_grad, convolution_weight_grad
from tests.nn.functional_check import FLOATS, TF, check
from tests.oracle import assert_close, pair, torch

CONV2D = [
    {},
    {"padding": 1},
    {"stride": 2, "padding": 1},
    {"stride": (2, 1), "padding": (0, 2)},
    {"dilation": 2, "padding": 2},
    {"dilation": (1, 3), "stride": (1, 2)},
    {"groups": 2, "padding": 1},
    {"groups": 4, "stride": 2},
    {"padding": "same", "dilation": (2, 1)},
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("kwargs", CONV2D, ids=[str(k) for k in CONV2D])
def test_conv2d_forward_and_gradients_match_torch(kwargs, dtype):
    groups = kwargs.get("groups", 1)
    x = pair((3, 4, 9, 8), dtype)
    w, b = pair((8, 4 // groups, 3, 3), dtype, seed=1), pair((8,), dtype, seed=2)
    tol = 1e-4 if dtype is ember.float32 else None
    check(F.conv2d, TF.conv2d, x, w, b, tol=tol, **kwargs)
    check(F.conv2d, TF.conv2d, x, w, tol=tol, **kwargs)


@pytest.mark.parametrize("kwargs", [{"stride": 2, "padding": 3, "dilation": 2}, {"groups": 3, "padding": 1}])
def test_conv1d_and_conv3d_match_torch(kwargs):
    groups = kwargs.get("groups", 1)
    check(F.conv1d, TF.conv1d, pair((2, 6, 17), ember.float64), pair((3, 6 // groups, 4), ember.float64, seed=1),
          pair((3,), ember.float64, seed=2), **kwargs)
    check(F.conv3d, TF.conv3d, pair((2, 3, 5, 6, 4), ember.float64),
          pair((6, 3 // groups, 2, 3, 2), ember.float64, seed=1), pair((6,), ember.float64, seed=2), **kwargs)


def test_wide_layout_edges_match_torch():
    # Output rows of 32 and more (exact windows in the forward and weight gradient, wide ones for the input
    # gradient), a 1-pixel-wide image, a kernel as large as the input, and spatial dims that are not contiguous.
    check(F.conv2d, TF.conv2d, pair((2, 3, 5, 40), ember.float64), pair((4, 3, 3, 3), ember.float64, seed=1),
          pair((4,), ember.float64, seed=2), padding=1)
    check(F.conv2d, TF.conv2d, pair((2, 3, 5, 1), ember.float64), pair((4, 3, 3, 1), ember.float64, seed=1),
          padding=(1, 0))
    check(F.conv2d, TF.conv2d, pair((2, 3, 4, 4), ember.float64), pair((2, 3, 4, 4), ember.float64, seed=1))
    x = pair((2, 5, 6, 3), ember.float64)
    transposed = (x[0].transpose(1, 3), x[1].transpose(1, 3))
    check(F.conv2d, TF.conv2d, transposed, pair((4, 3, 2, 2), ember.float64, seed=1), padding=1)


@pytest.mark.parametrize("kwargs", [{"stride": 2, "padding": 1, "output_padding": 1},
                                    {"groups": 2, "stride": (2, 3), "dilation": 2},
                                    {"stride": 1, "padding": 2, "dilation": 2, "output_padding": 1}])
def test_conv_transpose2d_matches_torch(kwargs):
    x, w, b = pair((2, 4, 5, 6), ember.float64), pair((4, 3, 3, 2), ember.float64, seed=1), pair(
        (3 * kwargs.get("groups", 1),), ember.float64, seed=2)
    check(F.conv_transpose2d, TF.conv_transpose2d, x, w, b, **kwargs)


def _geometry(nd: int, stride=1, padding=1, dilation=1, groups=1) -> dict:
    return {"stride": (stride,) * nd, "padding": ((padding, padding),) * nd, "dilation": (dilation,) * nd,
            "groups": groups}


@pytest.mark.parametrize("geometry", [_geometry(2), _geometry(2, stride=2, dilation=2, groups=2),
                                      _geometry(1, padding=2, dilation=3)], ids=["plain", "strided", "1d"])
def test_primitives_gradcheck_and_gradgradcheck(geometry):
    nd = len(geometry["stride"])
    ember.manual_seed(0)
    x = ember.randn(2, 4, *(5,) * nd, dtype=ember.float64, requires_grad=True)
    w = ember.randn(2, 4 // geometry["groups"], *(3,) * nd, dtype=ember.float64, requires_grad=True)
    b = ember.randn(2, dtype=ember.float64, requires_grad=True)
    assert gradcheck(lambda *a: convolution(*a, **geometry), (x, w, b))
    assert gradgradcheck(lambda *a: convolution(*a, **geometry), (x, w, b))
    y = convolution(x, w, None, **geometry).detach().requires_grad_()
    assert gradgradcheck(lambda g, k: convolution_input_grad(g, k, x.shape, **geometry), (y, w))
    assert gradgradcheck(lambda a, g: convolution_weight_grad(a, g, w.shape, **geometry), (x, y))


def test_input_and_weight_gradients_match_torch_grad_functions():
    x, w = pair((2, 6, 7, 8), ember.float64), pair((4, 3, 3, 2), ember.float64, seed=1)
    g = pair((2, 4, 4, 4), ember.float64, seed=2)
    geometry = {"stride": (2, 2), "padding": ((1, 1), (1, 1)), "dilation": (1, 2), "groups": 2}
    assert_close(convolution_input_grad(g[0], w[0], x[0].shape, **geometry),
                 torch.nn.grad.conv2d_input(x[1].shape, w[1], g[1], stride=2, padding=1, dilation=(1, 2), groups=2))
    assert_close(convolution_weight_grad(x[0], g[0], w[0].shape, **geometry),
                 torch.nn.grad.conv2d_weight(x[1], w[1].shape, g[1], stride=2, padding=1, dilation=(1, 2),
                                             groups=2))


def test_dtypes_and_errors():
    x, w = pair((1, 2, 5, 5), ember.float16), pair((3, 2, 3, 3), ember.float16, seed=1)
    assert_close(F.conv2d(x[0], w[0], padding=1), TF.conv2d(x[1].float(), w[1].float(), padding=1).half(),
                 rtol=1e-2, atol=1e-2)
    ints = (ember.arange(50).reshape(1, 2, 5, 5), torch.arange(50).reshape(1, 2, 5, 5))
    assert_close(F.conv2d(ints[0], ember.ones(1, 2, 2, 2, dtype=ember.int64), stride=2),
                 TF.conv2d(ints[1], torch.ones(1, 2, 2, 2, dtype=torch.int64), stride=2))
    e = ember.randn(1, 2, 4, 4)
    with pytest.raises(RuntimeError, match="expected scalar type Float but found Double"):
        F.conv2d(e, ember.randn(1, 2, 2, 2, dtype=ember.float64))
    with pytest.raises(RuntimeError, match=r"Input type \(float\) and bias type \(double\) should be the same"):
        F.conv2d(e, ember.randn(1, 2, 2, 2), ember.randn(1, dtype=ember.float64))
    with pytest.raises(NotImplementedError, match="not implemented for 'Bool'"):
        F.conv2d(e > 0, ember.ones(1, 2, 2, 2, dtype=ember.bool))
    with pytest.raises(RuntimeError, match=r"expected bias to be 1-dimensional with 1 elements, but got bias of "
                                           r"size \[2\] instead"):
        F.conv2d(e, ember.randn(1, 2, 2, 2), ember.randn(2))
    for kwargs, message in [({"stride": 0}, "non-positive stride is not supported"),
                            ({"padding": -1}, "negative padding is not supported"),
                            ({"dilation": 0}, r"dilation should be greater than zero, but got \[0, 0\]")]:
        with pytest.raises(RuntimeError, match=message):
            F.conv2d(e, ember.randn(1, 2, 2, 2), **kwargs)
    with pytest.raises(RuntimeError, match="Output size is too small"):
        F.conv_transpose2d(ember.randn(1, 2, 2, 2), ember.randn(2, 1, 3, 3), padding=3)


def test_conv_transpose_with_output_padding_below_dilation_differentiates_twice():
    ember.manual_seed(1)
    x = ember.randn(1, 2, 4, 3, dtype=ember.float64, requires_grad=True)
    w = ember.randn(2, 3, 2, 3, dtype=ember.float64, requires_grad=True)
    assert gradgradcheck(lambda a, k: F.conv_transpose2d(a, k, padding=1, dilation=2, output_padding=1), (x, w))
