"""Reductions, softmax/log_softmax and the products (linear through the GEMM and the loop nest, matmul in every
rank case) against the reference interpreter on random inputs, odd sizes, views and several batches."""

from __future__ import annotations

import re

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember_runtime.cpu import host_target

from .helpers import assert_matches_interpreter, compile_function, randint, randn, uniform

BATCHES = (6, 1, 13)  # traced at 6


def _reductions(x):
    t = x.transpose(1, 2)
    return (x.sum(1), x.sum((0, 2), keepdim=True), x.sum(), x.mean(-1), x.mean((1, 2), keepdim=True),
            x.amax(1), x.amin((0, 1)), x.amax(-1, keepdim=True), t.sum(2), t.amin(1), x.double().sum(0),
            x.sum(2, dtype=ember.float64), (x > 0).sum(1), x.max(), x.min(), x.var(1), x.std((0, 2), keepdim=True),
            ember.var(x, -1, correction=0), t.std(1, correction=2))


@pytest.mark.parametrize("optimize", [False, True])
def test_reductions(optimize):
    traced, compiled = compile_function(_reductions, [randn(6, 5, 7)], optimize=optimize)
    for batch in BATCHES:
        assert_matches_interpreter(traced, compiled, [randn(batch, 5, 7, seed=batch)])


def test_integer_reductions():
    def f(a):
        return a.sum(1), a.amax(0), a.amin(1, keepdim=True), a.sum()

    for dtype in (ember.int32, ember.int64, ember.uint8):
        traced, compiled = compile_function(f, [randint(0, 100, 6, 9, dtype=dtype)])
        for batch in BATCHES:
            assert_matches_interpreter(traced, compiled, [randint(0, 100, batch, 9, seed=batch, dtype=dtype)])


def _row_reductions(x):
    return (x.sum(-1), x.mean(-1, keepdim=True), x.amax(-1), x.amin(-1, keepdim=True), x.var(-1), x.std(-1),
            x.sum((1, 2)), x.amax((1, 2), keepdim=True), x.sum(), x.amin(), x.mean((0, 2)), x.var((0, 1, 2)),
            x.sum(2, dtype=ember.float64), x.double().sum(-1), x.double().amax((1, 2)), (x > 0).sum(-1),
            (x > 0).amax(-1), (x > 0.5).amin(-1), x[:, :, 1:].sum(-1), x.transpose(1, 2).sum((1, 2)))


def test_vector_reductions_on_odd_row_lengths():
    """Contiguous rows run in vector chunks and a masked last chunk: lengths around and off the chunk sizes (the
    absolute tolerance covers the interpreter's float32 sums where values cancel)."""
    traced, compiled = compile_function(_row_reductions, [randn(2, 3, 17)], dynamic_dims={0: [0, 2]})
    for batch, length in ((2, 17), (3, 1), (1, 2), (2, 15), (1, 16), (3, 31), (2, 32), (1, 33), (2, 63), (1, 64),
                          (2, 65), (1, 131), (2, 1001)):
        assert_matches_interpreter(traced, compiled, [randn(batch, 3, length, seed=length)], rtol=2e-6, atol=1e-5)


def _column_reductions(x, a):
    return (x.sum(0), x.mean(0, keepdim=True), x.amax(0), x.amin(0, keepdim=True), x.var(0), x.std(0, correction=0),
            x[1:].sum(0), x.double().amax(0), (x > 0).sum(0), (x > 0).amax(0), (x > 0.5).amin(0),
            x.unsqueeze(1).expand(-1, 2, -1).sum((0, 1)), a.amax(0), a.sum(0), a.amin(0, keepdim=True))


def test_vector_column_reductions():
    """Reducing outer dims with a contiguous kept innermost dim: vectors of neighbouring outputs, the last
    group masked, on odd widths and NaN/inf entries."""
    traced, compiled = compile_function(_column_reductions, [randn(9, 17), randint(-50, 50, 9, 17, dtype=ember.int8)],
                                        dynamic_dims={0: [0, 1], 1: [0, 1]})
    for rows, width in ((9, 17), (2, 1), (5, 3), (13, 64), (4, 65), (31, 130)):
        x = randn(rows, width, seed=width).numpy()
        x[rows // 2, width // 2] = np.nan
        x[0, 0] = np.inf
        a = randint(-50, 50, rows, width, seed=rows, dtype=ember.int8)
        assert_matches_interpreter(traced, compiled, [ember.tensor(x), a], rtol=2e-6, atol=1e-5)


@pytest.mark.parametrize("dtype", [ember.int32, ember.int64, ember.uint8, ember.int8])
def test_vector_integer_reductions(dtype):
    def f(a):
        return a.sum(-1), a.amax(-1), a.amin((1, 2), keepdim=True), a.sum(), a.amax()

    traced, compiled = compile_function(f, [randint(0, 100, 3, 4, 77, dtype=dtype)], dynamic_dims={0: [2]})
    for length in (77, 3, 130):
        assert_matches_interpreter(traced, compiled, [randint(0, 100, 3, 4, length, seed=length, dtype=dtype)])


def test_vector_reductions_propagate_nan_and_infinity():
    data = randn(4, 203).numpy()
    data[0, 5], data[1, 200], data[2, 77] = np.nan, np.inf, -np.inf
    data[3, :] = -np.inf
    x = ember.tensor(data)

    def f(x):
        return x.amax(-1), x.amin(-1), x.sum(-1), x.mean(-1), F.softmax(x, -1), F.log_softmax(x, -1)

    traced, compiled = compile_function(f, [x])
    assert_matches_interpreter(traced, compiled, [x])


def test_long_float32_sum_is_accurate_and_deterministic():
    """Float64 partial sums: a 1e6-element float32 sum within float32 rounding of the exact one, the same bits
    on every call."""
    x = uniform(0, 1, 1_000_003)
    traced, compiled = compile_function(lambda x: (x.sum(), x.mean()), [x])
    first = compiled([x])
    exact = np.sum(x.numpy().astype(np.float64))
    assert abs(float(first[0].numpy()) - exact) <= np.spacing(np.float32(exact))
    for again in (compiled([x]), compiled([x])):
        assert [a.numpy().tobytes() for a in again] == [a.numpy().tobytes() for a in first]


@pytest.mark.skipif("avx512f" not in host_target().feature_set, reason="the host has no AVX-512")
@pytest.mark.parametrize("fn", [lambda x: x.sum(-1), lambda x: x.amax(-1), lambda x: F.softmax(x, -1)])
def test_row_kernels_use_zmm(fn):
    traced, compiled = compile_function(fn, [randn(6, 1000)])
    assembly = compiled.module.assembly()
    assert "zmm" in assembly
    assert not re.search(r"call\w*\s+\S*exp", assembly)


def _long_softmaxes(x):
    return F.softmax(x, -1), F.log_softmax(x * 20, -1), F.softmax(x[:, 1:], -1), F.log_softmax(x.double(), -1)


def test_vector_softmax_rows():
    traced, compiled = compile_function(_long_softmaxes, [randn(5, 17)], dynamic_dims={0: [0, 1]})
    for rows, n in ((5, 17), (2, 1000), (7, 3), (3, 1), (2, 16), (1, 33)):
        assert_matches_interpreter(traced, compiled, [randn(rows, n, seed=n)])
    # A static row length: the lane count fits it.
    traced, compiled = compile_function(_long_softmaxes, [randn(3, 203)])
    assert_matches_interpreter(traced, compiled, [randn(3, 203, seed=1)])


def _softmaxes(x):
    return (F.softmax(x, -1), F.softmax(x, 1), F.log_softmax(x, -1), F.log_softmax(x.transpose(0, 2), 0),
            F.softmax(x * 30, 0), F.softmax(x, -1, dtype=ember.float64))


def test_softmax_rows():
    traced, compiled = compile_function(_softmaxes, [randn(6, 5, 11)])
    for batch in BATCHES:
        assert_matches_interpreter(traced, compiled, [randn(batch, 5, 11, seed=batch)])


@pytest.mark.parametrize("sizes", [(20, 33), (1, 1), (97, 5), (300, 130)])
def test_linear(sizes):
    """Contiguous float32 linear runs the packed GEMM; odd sizes cross its tile edges."""
    k, n = sizes
    layer = ember.nn.Linear(k, n)

    def f(x):
        return layer(x), F.linear(x, layer.weight), layer(x.unsqueeze(1)).squeeze(1)

    traced, compiled = compile_function(f, [randn(6, k)])
    assert "sgemm" in compiled.lowered.ir_text
    for batch in BATCHES:
        assert_matches_interpreter(traced, compiled, [randn(batch, k, seed=batch)], rtol=1e-5, atol=1e-5)


def test_linear_loop_nest():
    """A strided input, a transposed weight and float64 take the loop nest."""
    w32, w64 = randn(9, 14, seed=1), randn(9, 14, seed=2, dtype=ember.float64)

    def f(x, x64):
        return F.linear(x.transpose(0, 1), w32.t().contiguous().t()), F.linear(x64, w64, w64[:, 0]), \
            F.linear(x.transpose(0, 1)[:, 1::2], randn(7, 9, seed=3).t())

    traced, compiled = compile_function(f, [randn(14, 6), randn(6, 14, dtype=ember.float64)],
                                        dynamic_dims={0: {1: "N"}, 1: {0: "N"}})
    assert "sgemm" not in compiled.lowered.ir_text
    for batch in BATCHES:
        assert_matches_interpreter(traced, compiled, [randn(14, batch, seed=batch),
                                                      randn(batch, 14, seed=batch, dtype=ember.float64)])


def _products(a, b, v, m):
    return (a @ b, a @ v, v @ m, ember.matmul(v, v), a @ m, a.transpose(1, 2) @ a, b[0] @ b[0].transpose(0, 1),
            ember.matmul(a[:, :1], b))


def test_matmul_rank_cases():
    """Batched with broadcasting, matrix-vector, vector-matrix, dot, N-D @ 2-D, transposed operands."""
    traced, compiled = compile_function(_products, [randn(6, 5, 7), randn(6, 7, 5, seed=1), randn(7, seed=2),
                                                    randn(7, 3, seed=3)], dynamic_dims={0: [0], 1: [0]})
    for batch in BATCHES:
        assert_matches_interpreter(traced, compiled, [randn(batch, 5, 7, seed=batch), randn(batch, 7, 5, seed=batch),
                                                      randn(7, seed=2), randn(7, 3, seed=3)])


def test_mlp_with_gelu_traced_optimised_compiled():
    """A real model: trace, optimise (fusion), compile; equal to the interpreter within 1e-5 relative."""
    ember.manual_seed(0)
    model = ember.nn.Sequential(ember.nn.Linear(31, 64), ember.nn.GELU(), ember.nn.Linear(64, 64),
                                ember.nn.Tanh(), ember.nn.Linear(64, 10), ember.nn.LogSoftmax(-1)).eval()
    traced = ember.jit.trace(model, randn(8, 31))
    from ember.jit.llvm.compiled import compile_graph

    compiled = compile_graph(traced.graph, traced.params)
    for batch in (8, 1, 3, 64):
        assert_matches_interpreter(traced, compiled, [randn(batch, 31, seed=batch)], rtol=1e-5, atol=1e-5)
