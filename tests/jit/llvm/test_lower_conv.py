"""The ``convolution`` lowering against the reference interpreter: the float32 im2col + GEMM path and the direct
loop nest, over strides, asymmetric padding, dilation, groups, with and without bias, 1-d to 3-d, at the traced
batch and others."""

from __future__ import annotations

import pytest

import ember
import ember.nn.functional as F
from ember.jit.llvm.conv import _plan, _pointwise
from ember.jit.llvm.lower import lower_graph
from ember_runtime.cpu import host_target

from .helpers import assert_matches_interpreter, compile_function, randint, randn

CASES_2D = [
    # (N, C, H, W), (O, C/groups, kh, kw), stride, padding, dilation, groups, bias
    ((2, 3, 9, 11), (5, 3, 3, 3), 1, 1, 1, 1, True),
    ((2, 4, 10, 7), (6, 2, 3, 2), (2, 1), (1, 0), 1, 2, False),
    ((3, 3, 13, 12), (4, 3, 3, 3), 2, 2, 2, 1, True),
    ((2, 6, 8, 9), (6, 1, 5, 3), (1, 3), (2, 1), (1, 2), 6, True),
    ((2, 5, 7, 7), (3, 5, 4, 4), 1, "same", 1, 1, True),
    ((2, 2, 5, 6), (3, 2, 7, 7), 1, 3, 1, 1, False),
]


def _conv(dims: int, stride, padding, dilation, groups):
    fn = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[dims]
    return lambda x, w, *b: fn(x, w, b[0] if b else None, stride=stride, padding=padding, dilation=dilation,
                               groups=groups)


def _check(fn, x_shape, w_shape, bias: bool, dtype=ember.float32, batches=(1, 4)) -> str:
    w = randn(*w_shape, seed=1, dtype=dtype)
    extra = [randn(w_shape[0], seed=2, dtype=dtype)] if bias else []
    traced, compiled = compile_function(lambda x: fn(x, w, *extra), [randn(*x_shape, dtype=dtype)])
    assert_matches_interpreter(traced, compiled, [randn(*x_shape, seed=3, dtype=dtype)])
    for batch in batches:
        assert_matches_interpreter(traced, compiled, [randn(batch, *x_shape[1:], seed=batch, dtype=dtype)])
    return lower_graph(traced.graph).ir_text


@pytest.mark.parametrize("x_shape, w_shape, stride, padding, dilation, groups, bias", CASES_2D)
def test_conv2d_float32_uses_the_gemm(x_shape, w_shape, stride, padding, dilation, groups, bias):
    text = _check(_conv(2, stride, padding, dilation, groups), x_shape, w_shape, bias)
    assert "ember_rt_sgemm" in text


@pytest.mark.parametrize("x_shape, w_shape, stride, padding, dilation, groups, bias", CASES_2D[:4])
def test_conv2d_float64_loop_nest(x_shape, w_shape, stride, padding, dilation, groups, bias):
    text = _check(_conv(2, stride, padding, dilation, groups), x_shape, w_shape, bias, dtype=ember.float64)
    assert "ember_rt_sgemm" not in text


def test_conv1d_and_conv3d():
    _check(_conv(1, 2, 3, 2, 1), (2, 3, 17), (4, 3, 5), True)
    _check(_conv(1, 1, "same", 2, 3), (3, 6, 9), (3, 2, 3), False, dtype=ember.float64)
    _check(_conv(3, (1, 2, 1), 1, 1, 1), (2, 2, 5, 6, 4), (3, 2, 3, 3, 2), True)


def test_conv_on_a_non_contiguous_input():
    w, bias = randn(4, 3, 3, 3, seed=1), randn(4, seed=2)

    def fn(x):
        return F.conv2d(x.permute(0, 3, 1, 2), w, bias, padding=1)

    traced, compiled = compile_function(fn, [randn(2, 7, 8, 3)])
    for batch in (1, 3):
        assert_matches_interpreter(traced, compiled, [randn(batch, 7, 8, 3, seed=batch)])


def test_integer_convolution_loop_nest():
    w = randint(-3, 4, 4, 2, 3, 3, seed=1, dtype=ember.int64)
    traced, compiled = compile_function(lambda x: F.conv2d(x, w, padding=1, stride=(1, 2)),
                                        [randint(-5, 6, 2, 2, 6, 7, dtype=ember.int64)])
    assert_matches_interpreter(traced, compiled, [randint(-5, 6, 3, 2, 6, 7, seed=4, dtype=ember.int64)])


def test_conv_module_in_a_traced_model_compiles_whole():
    ember.manual_seed(0)
    model = ember.nn.Sequential(ember.nn.Conv2d(3, 8, 3, stride=2, padding=1), ember.nn.ReLU(),
                                ember.nn.Conv2d(8, 4, 1)).eval()
    traced = ember.jit.trace(model, randn(2, 3, 11, 11), backend="llvm")
    assert traced.backend == "llvm"
    for batch in (1, 5):
        x = randn(batch, 3, 11, 11, seed=batch)
        assert_close = model(x).detach().numpy()
        got = traced(x).numpy()
        assert got.shape == assert_close.shape
        assert abs(got - assert_close).max() <= 1e-5 * max(1.0, abs(assert_close).max())


def test_float32_conv_with_a_strided_weight_uses_the_loop_nest():
    def fn(x, w, bias):
        return F.conv2d(x, w.transpose(2, 3), bias, stride=(2, 1), padding=(1, 2), groups=2)

    examples = [randn(2, 4, 9, 8), randn(6, 2, 2, 3, seed=1), randn(6, seed=2)]
    traced, compiled = compile_function(fn, examples, dynamic_dims={0: {0: "N"}})
    assert "ember_rt_sgemm" not in lower_graph(traced.graph).ir_text
    for batch in (1, 3):
        assert_matches_interpreter(traced, compiled, [randn(batch, 4, 9, 8, seed=batch), *examples[1:]])


@pytest.mark.parametrize("x_shape, w_shape, stride, padding, packed", [
    ((2, 3, 32, 32), (16, 3, 3, 3), 1, 1, True),       # an output row is one (AVX-512) or two (AVX2) panels
    ((2, 16, 8, 8), (32, 16, 3, 3), 1, 1, True),       # several rows share a panel
    ((2, 3, 5, 16), (4, 3, 3, 3), 1, 1, True),         # 80 positions: the last panel has padding columns
    ((2, 2, 6, 64), (3, 2, 3, 3), 1, (1, 1), True),    # rows of two panels, edge runs cut at the panel edge
    ((2, 2, 7, 63), (3, 2, 3, 3), (2, 2), 1, True),    # strided along the row: copied into zeroed panels
    ((2, 3, 9, 11), (5, 3, 3, 3), 1, 1, False),        # rows straddle panels: the columns are packed by the GEMM
    ((2, 64, 5, 4), (3, 64, 3, 3), 1, 1, False),       # k = 576 > kc: several k blocks, packed by the GEMM
])
def test_im2col_writes_the_packed_layout_when_rows_fit_panels(x_shape, w_shape, stride, padding, packed):
    fn = _conv(2, stride, padding, 1, 1)
    _check(fn, x_shape, w_shape, True, batches=(3,))
    w = randn(*w_shape, seed=1)
    (node,) = ember.jit.trace(lambda x: fn(x, w), (randn(*x_shape),)).graph.nodes
    assert _plan(node, host_target().vector_bits).packed == packed


def test_filters_that_are_graph_inputs_are_packed_per_call():
    def fn(x, w, bias):
        return F.relu(F.conv2d(x, w, bias, padding=1))

    examples = [randn(2, 4, 8, 16), randn(6, 4, 3, 3, seed=1), randn(6, seed=2)]
    traced, compiled = compile_function(fn, examples, dynamic_dims={0: {0: "N"}})
    assert "ember_rt_sgemm" in lower_graph(traced.graph).ir_text
    for batch in (1, 3):
        assert_matches_interpreter(traced, compiled, [randn(batch, 4, 8, 16, seed=batch), *examples[1:]])


def test_pointwise_convolution_reads_the_image_as_the_gemm_operand():
    w, w_grouped, bias = randn(6, 4, 1, 1, seed=1), randn(6, 2, 1, 1, seed=2), randn(6, seed=3)

    def fn(x):
        channels_last = x.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2)   # not contiguous per image
        return (F.relu(F.conv2d(x, w, bias)), F.conv2d(x, w_grouped, groups=2), F.conv2d(channels_last, w),
                F.conv2d(x, w, bias, stride=2))

    traced, compiled = compile_function(fn, [randn(2, 4, 7, 9)])
    for batch in (1, 3):
        assert_matches_interpreter(traced, compiled, [randn(batch, 4, 7, 9, seed=batch)])
    convolutions = [n for n in traced.graph.nodes if n.op == "convolution"]
    assert [_pointwise(n) for n in convolutions] == [True, True, True, False]
