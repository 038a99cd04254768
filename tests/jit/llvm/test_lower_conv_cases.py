"""Cases of the ``convolution`` lowering that test_lower_conv.py leaves out: a dynamic batch on both code paths,
dynamic spatial sizes, depthwise convolutions with a channel multiplier, sliced (offset, strided) inputs and
biases, strides larger than the kernel, 'valid' padding, grouped and dilated 3-d, int32, and Conv modules with
the padding modes that record a pad op before the convolution."""

from __future__ import annotations

import numpy as np
import pytest

import ember
import ember.nn.functional as F

from .helpers import assert_matches_interpreter, compile_function, randint, randn


def _run(fn, examples: list, dynamic_dims: dict, calls: list[list]) -> None:
    traced, compiled = compile_function(fn, examples, dynamic_dims=dynamic_dims)
    for inputs in calls:
        assert_matches_interpreter(traced, compiled, inputs, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", [ember.float32, ember.float64])
def test_depthwise_with_a_channel_multiplier_and_sliced_operands_at_a_dynamic_batch(dtype):
    # groups == C with two filters per channel; the input is a channel slice with every other column, the bias a
    # strided view: the float32 (im2col + GEMM) and float64 (loop nest) paths both read through the strides.
    w, bias = randn(8, 1, 3, 2, seed=1, dtype=dtype), randn(16, seed=2, dtype=dtype)

    def fn(x):
        return F.conv2d(x[:, 1:5, :, ::2], w, bias[::2], stride=(2, 1), padding=(1, 0), groups=4)

    _run(fn, [randn(2, 6, 9, 14, dtype=dtype)], {0: {0: "N"}},
         [[randn(n, 6, 9, 14, seed=n, dtype=dtype)] for n in (2, 1, 5)])


def test_stride_beyond_the_kernel_valid_padding_and_conv1d_groups():
    w1, w2 = randn(6, 2, 2, 3, seed=1), randn(4, 3, 3, seed=2)

    def fn(x, y):
        # Stride 3 with a 2-tall kernel skips input rows; 'valid' is no padding.
        return F.conv2d(x, w1, None, stride=3, padding="valid", groups=2), F.conv1d(y, w2, None, dilation=2,
                                                                                 groups=2)

    examples = [randn(2, 4, 11, 10), randn(2, 6, 13)]
    _run(fn, examples, {0: {0: "N"}, 1: {0: "N"}},
         [[randn(n, 4, 11, 10, seed=n), randn(n, 6, 13, seed=n + 1)] for n in (1, 3)])


def test_dynamic_spatial_sizes():
    w, bias = randn(5, 3, 3, 3, seed=1), randn(5, seed=2)

    def fn(x):
        return F.conv2d(x, w, bias, stride=2, padding=1, dilation=(1, 2))

    _run(fn, [randn(2, 3, 9, 12)], {0: {0: "N", 2: "H", 3: "W"}},
         [[randn(n, 3, h, width, seed=h)] for n, h, width in ((2, 9, 12), (1, 5, 8), (3, 14, 7))])


def test_grouped_dilated_conv3d_in_float32_and_float64():
    for dtype in (ember.float32, ember.float64):
        w, bias = randn(4, 1, 2, 3, 2, seed=1, dtype=dtype), randn(4, seed=2, dtype=dtype)

        def fn(x, w=w, bias=bias):
            return F.conv3d(x, w, bias, stride=(1, 2, 1), padding=(1, 1, 0), dilation=(2, 1, 2), groups=2)

        _run(fn, [randn(2, 2, 5, 7, 6, dtype=dtype)], {0: {0: "N"}},
             [[randn(n, 2, 5, 7, 6, seed=n, dtype=dtype)] for n in (1, 2)])


def test_int32_convolution_with_bias():
    w, bias = randint(-3, 4, 3, 2, 2, 2, seed=1), randint(-5, 5, 3, seed=2)
    _run(lambda x: F.conv2d(x, w, bias, padding=(0, 1)), [randint(-4, 5, 2, 2, 5, 4)], {0: {0: "N"}},
         [[randint(-4, 5, n, 2, 5, 4, seed=n)] for n in (1, 3)])


@pytest.mark.parametrize("padding_mode", ["reflect", "circular", "replicate"])
def test_conv_modules_with_padding_modes_compile_whole(padding_mode):
    ember.manual_seed(0)
    model = ember.nn.Conv2d(3, 4, 3, padding=1, padding_mode=padding_mode).eval()
    traced = ember.jit.trace(model, randn(2, 3, 6, 7), dynamic_dims={0: {0: "N"}}, backend="llvm")
    assert traced.backend == "llvm"
    for batch in (1, 3):
        x = randn(batch, 3, 6, 7, seed=batch)
        np.testing.assert_allclose(traced(x).numpy(), model(x).detach().numpy(), rtol=1e-5, atol=1e-5)
