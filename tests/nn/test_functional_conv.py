"""ember.nn.functional convolution, padding, pooling, resampling and grid sampling against torch.nn.functional."""

from __future__ import annotations

import warnings

import pytest

import ember
import ember.nn.functional as F
from tests.nn.functional_check import FLOATS, TF, Fixed, check
from tests.oracle import assert_close, pair, torch


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("kwargs", [
    {}, {"stride": 2}, {"padding": 1}, {"padding": (2, 0), "dilation": (1, 2)}, {"padding": "same"},
    {"padding": "same", "dilation": 2}, {"padding": "valid", "stride": (1, 2)}, {"groups": 2, "padding": 1},
])
def test_conv2d(kwargs, dtype):
    groups = kwargs.get("groups", 1)
    x, w, b = pair((2, 4, 7, 6), dtype), pair((6, 4 // groups, 3, 2), dtype, seed=1), pair((6,), dtype, seed=2)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Using padding='same' with even kernel", UserWarning)
        check(F.conv2d, TF.conv2d, x, w, b, tol=1e-4 if dtype is ember.float32 else None, **kwargs)


@pytest.mark.parametrize("kwargs", [{}, {"stride": 3}, {"padding": 2, "dilation": 2}, {"padding": "same"},
                                    {"groups": 3, "padding": 1}])
def test_conv1d(kwargs):
    groups = kwargs.get("groups", 1)
    x, w = pair((2, 3, 9), ember.float64), pair((6, 3 // groups, 4), ember.float64, seed=1)
    check(F.conv1d, TF.conv1d, x, w, **kwargs)
    check(F.conv1d, TF.conv1d, pair((3, 9), ember.float64), w, **kwargs)


def test_conv_errors():
    x, w = ember.randn(2, 5, 8, 8), ember.randn(4, 3, 3, 3)
    with pytest.raises(RuntimeError, match="expected input\\[2, 5, 8, 8\\] to have 3 channels, but got 5"):
        F.conv2d(x, w)
    with pytest.raises(ValueError, match="padding='same' is not supported for strided"):
        F.conv2d(ember.randn(2, 3, 8, 8), w, padding="same", stride=2)
    with pytest.raises(RuntimeError, match="Kernel size can't be greater"):
        F.conv2d(ember.randn(1, 3, 2, 2), w)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("kwargs", [
    {"kernel_size": 2}, {"kernel_size": 3, "stride": 2, "padding": 1}, {"kernel_size": (2, 3), "dilation": 2},
    {"kernel_size": 3, "stride": 2, "ceil_mode": True}, {"kernel_size": 2, "stride": 1, "padding": 1},
])
def test_pool2d(kwargs, dtype):
    x = pair((2, 3, 7, 8), dtype)
    check(F.max_pool2d, TF.max_pool2d, x, **kwargs)
    e_out, e_idx = F.max_pool2d(x[0], return_indices=True, **kwargs)
    t_out, t_idx = TF.max_pool2d(x[1], return_indices=True, **kwargs)
    assert_close(e_idx, t_idx)
    avg = {k: v for k, v in kwargs.items() if k != "dilation"}
    check(F.avg_pool2d, TF.avg_pool2d, x, **avg)
    check(F.avg_pool2d, TF.avg_pool2d, x, count_include_pad=False, **avg)
    check(F.avg_pool2d, TF.avg_pool2d, x, divisor_override=5, **avg)
    check(F.max_pool2d, TF.max_pool2d, pair((3, 7, 8), dtype), **kwargs)


@pytest.mark.parametrize("kwargs", [{"kernel_size": 2}, {"kernel_size": 3, "stride": 2, "padding": 1},
                                    {"kernel_size": 3, "stride": 2, "ceil_mode": True, "padding": 1}])
def test_pool1d(kwargs):
    x = pair((2, 3, 10), ember.float64)
    check(F.max_pool1d, TF.max_pool1d, x, **kwargs)
    assert_close(F.max_pool1d(x[0], return_indices=True, **kwargs)[1],
                 TF.max_pool1d(x[1], return_indices=True, **kwargs)[1])
    check(F.avg_pool1d, TF.avg_pool1d, x, **kwargs)
    check(F.avg_pool1d, TF.avg_pool1d, x, count_include_pad=False, **kwargs)


def test_max_pool_ties_send_gradient_to_one_element():
    x = (ember.ones(1, 1, 4, 4, dtype=ember.float64), torch.ones(1, 1, 4, 4, dtype=torch.float64))
    check(F.max_pool2d, TF.max_pool2d, x, kernel_size=2)
    with pytest.raises(RuntimeError, match="pad should be at most half"):
        F.max_pool2d(x[0], 2, padding=2)


@pytest.mark.parametrize("size", [1, 3, 4, (2, 5), (None, 3)])
def test_adaptive_avg_pool(size):
    x = pair((2, 3, 7, 9), ember.float64)
    check(F.adaptive_avg_pool2d, TF.adaptive_avg_pool2d, x, size)
    if not isinstance(size, tuple):
        check(F.adaptive_avg_pool1d, TF.adaptive_avg_pool1d, pair((2, 3, 7), ember.float64), size)


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("shape,pads", [((3, 5), (1, 2)), ((2, 3, 5), (4, 2)), ((2, 4, 5), (2, 1, 0, 3)),
                                        ((2, 3, 4, 5), (2, 1, 0, 3)), ((1, 2, 3, 4, 5), (1, 1, 2, 2, 1, 0))])
def test_pad(mode, shape, pads):
    x = pair(shape, ember.float64)
    check(F.pad, TF.pad, x, pads, mode=mode)
    if mode == "constant":
        check(F.pad, TF.pad, x, pads, value=2.5)
        check(F.pad, TF.pad, x, (-1, 2, 1, -2))
    else:
        with pytest.raises(NotImplementedError, match="Padding size 2 is not supported for 4D input"):
            F.pad(ember.zeros(1, 2, 3, 4), (1, 1), mode=mode)
    if mode == "reflect":
        with pytest.raises(RuntimeError, match="Padding size should be less than"):
            F.pad(x[0], (shape[-1], 0) + (0, 0) * (len(pads) // 2 - 1), mode=mode)


@pytest.mark.parametrize("kwargs", [
    {"size": (5, 11)}, {"scale_factor": 2}, {"scale_factor": 0.5}, {"size": 3, "mode": "nearest-exact"},
    {"size": (5, 11), "mode": "bilinear"}, {"size": (5, 11), "mode": "bilinear", "align_corners": True},
    {"scale_factor": 1.5, "mode": "bilinear"}, {"size": (2, 3), "mode": "bilinear", "align_corners": False},
    {"size": (1, 1), "mode": "bilinear", "align_corners": True}, {"size": (3, 2), "mode": "area"},
])
def test_interpolate(kwargs):
    x = pair((2, 3, 4, 6), ember.float64)
    check(F.interpolate, TF.interpolate, x, **kwargs)


def test_interpolate_1d_and_errors():
    x = pair((2, 3, 5), ember.float64)
    check(F.interpolate, TF.interpolate, x, size=8, mode="linear")
    check(F.interpolate, TF.interpolate, x, scale_factor=3)
    with pytest.raises(ValueError, match="only one of size or scale_factor"):
        F.interpolate(x[0], size=4, scale_factor=2)
    with pytest.raises(ValueError, match="align_corners option can only be set"):
        F.interpolate(x[0], size=4, align_corners=True)


@pytest.mark.parametrize("kwargs", [{}, {"stride": 2}, {"stride": 2, "padding": 1, "output_padding": 1},
                                    {"groups": 2, "stride": (2, 3), "dilation": 2}, {"padding": (2, 1)}])
def test_conv_transpose2d(kwargs):
    groups = kwargs.get("groups", 1)
    x, w = pair((2, 4, 5, 6), ember.float64), pair((4, 3, 3, 2), ember.float64, seed=1)
    b = pair((3 * groups,), ember.float64, seed=2)
    check(F.conv_transpose2d, TF.conv_transpose2d, x, w, b, **kwargs)
    check(F.conv_transpose2d, TF.conv_transpose2d, pair((4, 5, 6), ember.float64), w, **kwargs)


def test_conv_transpose1d_3d_and_conv3d():
    x, w = pair((2, 2, 7), ember.float64), pair((2, 3, 3), ember.float64, seed=1)
    check(F.conv_transpose1d, TF.conv_transpose1d, x, w, stride=3, padding=1, output_padding=2)
    x3, w3 = pair((1, 2, 3, 4, 5), ember.float64), pair((2, 2, 2, 2, 3), ember.float64, seed=1)
    check(F.conv_transpose3d, TF.conv_transpose3d, x3, w3, stride=2)
    check(F.conv3d, TF.conv3d, x3, w3, padding=1, stride=(1, 2, 1))
    with pytest.raises(RuntimeError, match="output padding must be smaller than either stride or dilation"):
        F.conv_transpose1d(x[0], w[0], output_padding=1)


@pytest.mark.parametrize("kwargs", [{"kernel_size": 2}, {"kernel_size": (2, 3), "padding": 1, "stride": 2},
                                    {"kernel_size": 3, "dilation": (1, 2), "stride": (2, 1)}])
def test_unfold(kwargs):
    check(F.unfold, TF.unfold, pair((2, 3, 6, 7), ember.float64), **kwargs)
    check(F.unfold, TF.unfold, pair((3, 6, 7), ember.float64), **kwargs)


def test_pool3d():
    x = pair((2, 2, 5, 6, 7), ember.float64)
    check(F.max_pool3d, TF.max_pool3d, x, 2, padding=1)
    assert_close(F.max_pool3d(x[0], 3, 2, return_indices=True)[1], TF.max_pool3d(x[1], 3, 2, return_indices=True)[1])
    check(F.avg_pool3d, TF.avg_pool3d, x, (2, 3, 2), ceil_mode=True)
    check(F.adaptive_avg_pool3d, TF.adaptive_avg_pool3d, x, (2, 3, 4))


@pytest.mark.parametrize("size", [1, 3, 4, (2, 5), (None, 4), (7, 9)])
def test_adaptive_max_pool(size):
    x = pair((2, 3, 7, 9), ember.float64)
    check(F.adaptive_max_pool2d, TF.adaptive_max_pool2d, x, size)
    assert_close(F.adaptive_max_pool2d(x[0], size, return_indices=True)[1],
                 TF.adaptive_max_pool2d(x[1], size, return_indices=True)[1])
    if not isinstance(size, tuple):
        check(F.adaptive_max_pool1d, TF.adaptive_max_pool1d, pair((3, 7), ember.float64), size)
        assert_close(F.adaptive_max_pool1d(x[0][0], size, return_indices=True)[1],
                     TF.adaptive_max_pool1d(x[1][0], size, return_indices=True)[1])


def test_trilinear_interpolate():
    check(F.interpolate, TF.interpolate, pair((1, 2, 3, 4, 5), ember.float64), size=(4, 3, 7), mode="trilinear",
          align_corners=True)


@pytest.mark.parametrize("kwargs", [{"kernel_size": 2}, {"kernel_size": (2, 3), "padding": 1, "stride": 2},
                                    {"kernel_size": 3, "dilation": (1, 2), "stride": (2, 1)}])
def test_fold(kwargs):
    blocks = TF.unfold(torch.zeros(1, 1, 6, 7), **kwargs).shape
    cols = pair((2, 3 * blocks[1], blocks[2]), ember.float64)
    check(F.fold, TF.fold, cols, (6, 7), **kwargs)
    check(F.fold, TF.fold, pair((3 * blocks[1], blocks[2]), ember.float64), (6, 7), **kwargs)
    with pytest.raises(RuntimeError, match="calculated number of sliding blocks"):
        F.fold(cols[0], (4, 7), **kwargs)


def test_max_unpool_and_lp_pool():
    x = pair((2, 3, 6, 8), ember.float64)
    e_out, e_idx = F.max_pool2d(x[0], 2, return_indices=True)
    t_out, t_idx = TF.max_pool2d(x[1], 2, return_indices=True)
    check(F.max_unpool2d, TF.max_unpool2d, (e_out, t_out), Fixed((e_idx, t_idx)), 2)
    check(F.max_unpool2d, TF.max_unpool2d, (e_out, t_out), Fixed((e_idx, t_idx)), 2, output_size=(7, 9))
    e_out, e_idx = F.max_pool1d(x[0][0], 3, 2, return_indices=True)
    t_out, t_idx = TF.max_pool1d(x[1][0], 3, 2, return_indices=True)
    check(F.max_unpool1d, TF.max_unpool1d, (e_out, t_out), Fixed((e_idx, t_idx)), 3, 2)
    positive = pair((2, 3, 6, 8), ember.float64, low=0.1, high=2)
    check(F.lp_pool2d, TF.lp_pool2d, positive, 2, 2)
    check(F.lp_pool2d, TF.lp_pool2d, positive, 3.0, (2, 3), stride=2, ceil_mode=True)
    check(F.lp_pool1d, TF.lp_pool1d, pair((2, 3, 9), ember.float64, low=0.1, high=2), 2, 3)


@pytest.mark.parametrize("kwargs", [{"size": (5, 11)}, {"scale_factor": 2}, {"size": (3, 4), "align_corners": True},
                                    {"scale_factor": 0.7}, {"size": (1, 2), "align_corners": True}])
def test_bicubic(kwargs):
    check(F.interpolate, TF.interpolate, pair((2, 3, 4, 6), ember.float64), mode="bicubic", **kwargs)


@pytest.mark.parametrize("align_corners", [False, True])
def test_affine_grid(align_corners):
    theta = pair((2, 2, 3), ember.float64, low=-1, high=1)
    check(F.affine_grid, TF.affine_grid, theta, [2, 3, 4, 5], align_corners=align_corners)
    theta3 = pair((2, 3, 4), ember.float64, low=-1, high=1)
    check(F.affine_grid, TF.affine_grid, theta3, [2, 1, 3, 2, 4], align_corners=align_corners)
    with pytest.raises(ValueError, match="Expected a batch of 2D affine matrices"):
        F.affine_grid(theta3[0], [2, 3, 4, 5], align_corners=align_corners)


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align_corners", [False, True])
def test_grid_sample(mode, padding_mode, align_corners):
    image = pair((2, 3, 5, 6), ember.float64)
    grid = pair((2, 4, 7, 2), ember.float64, low=-1.6, high=1.6, seed=1)
    grid = grid if mode == "bilinear" else Fixed(grid)
    check(F.grid_sample, TF.grid_sample, image, grid, mode=mode, padding_mode=padding_mode,
          align_corners=align_corners)


def test_grid_sample_warns_and_rejects():
    image, grid = ember.zeros(1, 1, 3, 3), ember.zeros(1, 2, 2, 2)
    with pytest.warns(UserWarning, match="align_corners=False since 1.3.0"):
        F.grid_sample(image, grid)
    with pytest.raises(ValueError, match="expected padding_mode"):
        F.grid_sample(image, grid, padding_mode="wrap", align_corners=False)


def test_empty_batches():
    x = pair((0, 3, 6, 6))
    check(F.conv2d, TF.conv2d, x, pair((2, 3, 3, 3), seed=1), padding=1)
    check(F.max_pool2d, TF.max_pool2d, x, 2)
    check(F.avg_pool2d, TF.avg_pool2d, x, 3)
    check(F.adaptive_max_pool2d, TF.adaptive_max_pool2d, x, 4)
    check(F.linear, TF.linear, pair((0, 3)), pair((2, 3), seed=1))
    check(F.cross_entropy, TF.cross_entropy, pair((0, 3)), (ember.zeros(0, dtype=ember.int64),
                                                           torch.zeros(0, dtype=torch.int64)))


def test_pad_errors():
    x = ember.ones(2, 3)
    with pytest.raises(RuntimeError, match="Padding length must be divisible by 2"):
        F.pad(x, (1,))
    with pytest.raises(RuntimeError, match="Padding length should be less than or equal to two times"):
        F.pad(x, (1, 1, 1, 1, 1, 1))
    with pytest.raises(RuntimeError, match="doesn't take in value argument"):
        F.pad(x, (1, 1), mode="reflect", value=1.0)
    with pytest.raises(NotImplementedError, match="Unrecognised padding mode wrap"):
        F.pad(x, (1, 1), mode="wrap")
    check(F.pad, TF.pad, pair((2, 3)), (1, 1), mode="reflect", value=0.0)


def test_integer_inputs():
    x = (-ember.arange(32).reshape(1, 2, 4, 4), -torch.arange(32).reshape(1, 2, 4, 4))
    assert_close(F.avg_pool2d(x[0], 3, 1, 1), TF.avg_pool2d(x[1], 3, 1, 1))
    assert_close(F.avg_pool2d(x[0], 2, divisor_override=3), TF.avg_pool2d(x[1], 2, divisor_override=3))
    assert_close(F.max_pool2d(x[0], 2, padding=1), TF.max_pool2d(x[1], 2, padding=1))
    assert_close(F.conv2d(x[0], ember.ones(1, 2, 2, 2, dtype=ember.int64)),
                 TF.conv2d(x[1], torch.ones(1, 2, 2, 2, dtype=torch.int64)))
    for name, args in [("adaptive_avg_pool2d", (2,)), ("adaptive_max_pool2d", (2,)), ("interpolate", (3,))]:
        with pytest.raises(NotImplementedError, match="not implemented for 'Long'"):
            getattr(F, name)(x[0], *args)
        with pytest.raises(NotImplementedError, match="not implemented for 'Long'"):
            getattr(TF, name)(x[1], *args)
    with pytest.raises(NotImplementedError, match=r"Only 3D, 4D and 5D input Tensors supported \(got 2D\)"):
        F.interpolate(ember.ones(4, 4), size=3)


def test_gradcheck_sampling_and_transposed_conv():
    ember.manual_seed(0)
    image = ember.randn(1, 2, 4, 5, dtype=ember.float64, requires_grad=True)
    grid = (ember.rand(1, 3, 3, 2, dtype=ember.float64) * 2.4 - 1.2).requires_grad_()
    assert ember.autograd.gradcheck(lambda a, g: F.grid_sample(a, g, padding_mode="reflection", align_corners=False),
                                    (image, grid))
    weight = ember.randn(2, 3, 3, 2, dtype=ember.float64, requires_grad=True)
    assert ember.autograd.gradcheck(lambda a, w: F.conv_transpose2d(a, w, stride=2, padding=1), (image, weight))
    assert ember.autograd.gradcheck(lambda a: F.interpolate(a, size=(7, 3), mode="bicubic", align_corners=False),
                                    (image,))
    assert ember.autograd.gradcheck(lambda a: F.avg_pool2d(a, 3, 2, 1, ceil_mode=True, count_include_pad=False),
                                    (image,))
