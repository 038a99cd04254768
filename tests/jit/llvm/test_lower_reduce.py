"""Reductions, softmax/log_softmax and the products (linear through the GEMM and the loop nest, matmul in every
rank case) against the reference interpreter on random inputs, odd sizes, views and several batches."""

from __future__ import annotations

import pytest

import ember
import ember.nn.functional as F

from .helpers import assert_matches_interpreter, compile_function, randint, randn

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
