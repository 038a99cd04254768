"""The ``convolution_input_grad`` lowering (what ConvTranspose1d/2d/3d record) against the reference interpreter,
and one transposed convolution against PyTorch: strides, padding, output_padding, dilation, groups, with and
without bias, float32/float64/int64, non-contiguous inputs and weights, a dynamic batch including 1, dynamic
spatial sizes; and the ``convolution_weight_grad`` primitive."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
import ember.nn.functional as F
from ember.nn.functional.conv_kernels import convolution_input_grad, convolution_weight_grad

from .helpers import assert_matches_interpreter, compile_function, randint, randn

MODULES = [
    # dims, in, out, kernel, keyword arguments
    (1, 4, 6, 3, dict(stride=3, padding=2, output_padding=2, dilation=2)),
    (2, 4, 6, 3, dict(stride=2, padding=1, output_padding=1, groups=2)),
    (2, 3, 5, (2, 4), dict(stride=(1, 3), padding=(0, 2), dilation=(2, 1), bias=False)),
    (3, 4, 4, (3, 2, 2), dict(stride=(2, 1, 2), padding=(1, 0, 1), output_padding=(1, 0, 0), groups=4)),
]


@pytest.mark.parametrize("dims, c_in, c_out, kernel, kwargs", MODULES)
def test_conv_transpose_modules_at_a_dynamic_batch(dims, c_in, c_out, kernel, kwargs):
    ember.manual_seed(dims)
    module = {1: ember.nn.ConvTranspose1d, 2: ember.nn.ConvTranspose2d, 3: ember.nn.ConvTranspose3d}[dims]
    model = module(c_in, c_out, kernel, **kwargs).eval()
    spatial = (5, 4, 3)[:dims] if dims > 1 else (7,)
    traced, compiled = compile_function(model, [randn(2, c_in, *spatial)], dynamic_dims={0: {0: "N"}})
    assert [node.op for node in traced.graph.nodes][0] == "convolution_input_grad"
    for batch in (2, 1, 3):
        assert_matches_interpreter(traced, compiled, [randn(batch, c_in, *spatial, seed=batch)], atol=1e-5)


def test_conv_transpose2d_matches_torch():
    ember.manual_seed(0)
    model = ember.nn.ConvTranspose2d(6, 4, 3, stride=2, padding=1, output_padding=1, groups=2, dilation=1).eval()
    reference = torch.nn.ConvTranspose2d(6, 4, 3, stride=2, padding=1, output_padding=1, groups=2)
    with torch.no_grad():
        reference.weight.copy_(torch.from_numpy(model.weight.detach().numpy()))
        reference.bias.copy_(torch.from_numpy(model.bias.detach().numpy()))
    traced = ember.jit.trace(model, randn(2, 6, 5, 7), dynamic_dims={0: {0: "N"}}, backend="llvm")
    assert traced.backend == "llvm"
    x = randn(3, 6, 5, 7, seed=5)
    want = reference(torch.from_numpy(x.numpy())).detach().numpy()
    np.testing.assert_allclose(traced(x).numpy(), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", [ember.float64, ember.int64])
def test_transposed_operands_and_other_dtypes(dtype):
    # The input is a permuted view and the weight a transposed graph input: the kernel reads through strides.
    make = (lambda *s, seed=0: randn(*s, seed=seed, dtype=dtype)) if dtype.is_floating_point else \
        (lambda *s, seed=0: randint(-4, 5, *s, seed=seed, dtype=dtype))

    def fn(x, w):
        return F.conv_transpose2d(x.permute(0, 3, 1, 2), w.transpose(2, 3), stride=(2, 3), padding=(1, 0),
                                  output_padding=(1, 2), dilation=(1, 2), groups=3)

    traced, compiled = compile_function(fn, [make(2, 4, 5, 6), make(6, 2, 3, 2, seed=1)],
                                        dynamic_dims={0: {0: "N"}})
    for batch in (1, 4):
        assert_matches_interpreter(traced, compiled, [make(batch, 4, 5, 6, seed=batch), make(6, 2, 3, 2, seed=7)])


def test_dynamic_spatial_sizes():
    ember.manual_seed(0)
    model = ember.nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1).eval()
    traced, compiled = compile_function(model, [randn(2, 3, 5, 6)], dynamic_dims={0: {0: "N", 2: "H", 3: "W"}})
    for shape in ((2, 3, 5, 6), (1, 3, 1, 9), (3, 3, 7, 4)):
        assert_matches_interpreter(traced, compiled, [randn(*shape, seed=shape[2])], atol=1e-5)


def test_asymmetric_padding_of_the_primitive():
    # Only the low padding shifts positions; the high one only shows in the input shape the node was given.
    w = randn(3, 2, 3, 3, seed=1)

    def fn(g):
        shape = (g.shape[0], 2, 9, 8)
        return convolution_input_grad(g, w, shape, stride=(2, 1), padding=((1, 2), (0, 1)), dilation=(1, 2),
                                      groups=1) * 2

    traced, compiled = compile_function(fn, [randn(2, 3, 5, 5)], dynamic_dims={0: {0: "N"}})
    for batch in (1, 3):
        assert_matches_interpreter(traced, compiled, [randn(batch, 3, 5, 5, seed=batch)])


@pytest.mark.parametrize("dtype", [ember.float32, ember.int64])
def test_weight_gradient_primitive(dtype):
    # The tracer runs under no_grad, so only a direct call records convolution_weight_grad.
    make = (lambda *s, seed=0: randn(*s, seed=seed, dtype=dtype)) if dtype.is_floating_point else \
        (lambda *s, seed=0: randint(-3, 4, *s, seed=seed, dtype=dtype))

    def fn(x, g):
        return convolution_weight_grad(x.transpose(2, 3), g, (6, 2, 3, 2), stride=(2, 1), padding=((1, 1), (0, 1)),
                                       dilation=(1, 2), groups=2)

    traced, compiled = compile_function(fn, [make(2, 4, 7, 9), make(2, 6, 5, 6, seed=1)],
                                        dynamic_dims={0: {0: "N"}, 1: {0: "N"}})
    for batch in (2, 1, 3):
        assert_matches_interpreter(traced, compiled, [make(batch, 4, 7, 9, seed=batch),
                                                      make(batch, 6, 5, 6, seed=batch + 5)], atol=1e-5)
