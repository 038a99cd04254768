"""``fuse_gemm_epilogues``: linear/convolution + relu / residual add become one GEMM node with an epilogue. The
rewritten graph compiles to fewer kernels and computes what the interpreter computes on the original graph."""

from __future__ import annotations

import numpy as np

import ember
import ember.nn.functional as F
from ember.jit.interpreter import run_graph
from ember.jit.llvm.compiled import compile_graph
from ember.jit.llvm.epilogues import fuse_gemm_epilogues
from ember.jit.llvm.lower import _ModuleBuilder, lower_graph
from tests.jit import models

from .helpers import randn


def _fused(fn, examples, optimize=True, dynamic_dims=None):
    traced = ember.jit.trace(fn, tuple(examples), optimize=optimize, dynamic_dims=dynamic_dims)
    before = str(traced.graph)
    fused = fuse_gemm_epilogues(traced.graph)
    assert str(traced.graph) == before, "the rewrite must leave the traced graph as it is"
    return traced, fused


def _check(traced, fused, inputs, rtol=1e-5, atol=1e-5):
    compiled = compile_graph(fused, traced.params)
    got = compiled(list(inputs))
    want = run_graph(traced.graph, list(inputs), traced.params)
    for g, w in zip(got, want, strict=True):
        assert g.dtype is w.dtype and tuple(g.shape) == tuple(w.shape)
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=rtol, atol=atol)


def _epilogue_nodes(graph):
    return [(n.op, n.attrs["activation"], n.attrs["residual"]) for n in graph.nodes if "activation" in n.attrs]


def test_models_fuse_and_match_the_interpreter():
    ember.manual_seed(0)
    for name, shape, expected in (("cnn", (4, 3, 32, 32), 5), ("residual", (4, 3, 16, 16), 3), ("mlp", (4, 784), 1)):
        model = getattr(models, name)(ember).eval()
        traced, fused = _fused(model, [randn(*shape)])
        assert len(fused.nodes) == len(traced.graph.nodes) - expected
        # lower_graph fuses by itself; the module builder alone lowers the graph as it is.
        kernels = lower_graph(traced.graph).ir_text.count("define internal void @\"k")
        assert kernels < _ModuleBuilder(traced.graph).build().count("define internal void @\"k")
        for batch in (1, 5):
            _check(traced, fused, [randn(batch, *shape[1:], seed=batch)])
    residual = _epilogue_nodes(fuse_gemm_epilogues(ember.jit.trace(models.residual(ember).eval(),
                                                                   (randn(2, 3, 16, 16),)).graph))
    assert ("convolution", "relu", True) in residual


def test_unoptimised_relu_and_add_nodes_fuse_into_linear():
    w, b, w2 = randn(7, 5, seed=1), randn(7, seed=2), randn(7, 7, seed=3)

    def fn(x, r):
        h = F.relu(F.linear(x, w, b) + r)        # add node then relu node: residual "before" + relu
        return F.linear(h, w2) + h.transpose(0, 1).transpose(0, 1)  # residual only, no bias

    traced, fused = _fused(fn, [randn(3, 5), randn(3, 7, seed=4)], optimize=False)
    assert _epilogue_nodes(fused) == [("linear", "relu", True), ("linear", None, True)]
    for batch in (1, 4):
        _check(traced, fused, [randn(batch, 5, seed=batch), randn(batch, 7, seed=batch + 9)])


def test_linear_on_3d_rows_with_a_residual_and_a_non_contiguous_input():
    w, b = randn(6, 6, seed=1), randn(6, seed=2)

    def fn(x):
        y = x.transpose(1, 2)                      # strided rows: the loop-nest product + epilogue loop
        return F.linear(x, w, b) + x, F.relu(F.linear(y, w, b))

    traced, fused = _fused(fn, [randn(2, 6, 6)])
    assert len(_epilogue_nodes(fused)) == 2
    for batch in (1, 3):
        _check(traced, fused, [randn(batch, 6, 6, seed=batch)])


def test_float64_and_conv_loop_nest_apply_the_epilogue_after_the_product():
    w, b = randn(4, 4, 3, 3, seed=1, dtype=ember.float64), randn(4, seed=2, dtype=ember.float64)
    wl = randn(3, 4, seed=3, dtype=ember.float64)

    def fn(x):
        y = F.relu(F.conv2d(x, w, b, padding=1) + x)
        return F.relu(F.linear(y.flatten(1)[:, :4], wl))

    traced, fused = _fused(fn, [randn(2, 4, 5, 5, dtype=ember.float64)])
    assert _epilogue_nodes(fused) == [("convolution", "relu", True), ("linear", "relu", False)]
    for batch in (1, 3):
        _check(traced, fused, [randn(batch, 4, 5, 5, seed=batch, dtype=ember.float64)], rtol=1e-12, atol=1e-12)


def test_conv_residual_through_a_strided_view_uses_the_epilogue_loop():
    w, b = randn(4, 4, 3, 3, seed=1), randn(4, seed=2)

    def fn(x, r):
        return F.relu(F.conv2d(x, w, b, padding=1) + r.permute(0, 3, 1, 2))

    traced, fused = _fused(fn, [randn(2, 4, 8, 8), randn(2, 8, 8, 4, seed=5)])
    assert _epilogue_nodes(fused) == [("convolution", "relu", True)]
    for batch in (1, 3):
        _check(traced, fused, [randn(batch, 4, 8, 8, seed=batch), randn(batch, 8, 8, 4, seed=batch + 7)])


def test_nothing_fuses_when_the_product_has_other_readers_or_is_returned_or_broadcasts():
    w, b = randn(5, 5, seed=1), randn(5, seed=2)

    def fn(x, row):
        y = F.linear(x, w, b)
        z = F.linear(x * 2.0, w, b)
        return F.relu(y), y.sum(), z, F.linear(x - 1.0, w) + row  # a broadcast add is not a residual

    traced = ember.jit.trace(fn, (randn(3, 5), randn(5, seed=3)), optimize=False)
    assert fuse_gemm_epilogues(traced.graph) is traced.graph


def test_max_pool_after_a_convolution_runs_in_its_kernel():
    ember.manual_seed(0)
    conv, conv2 = ember.nn.Conv2d(3, 8, 3, padding=1), ember.nn.Conv2d(8, 5, 3, bias=False)

    def fn(x):
        y = F.max_pool2d(F.relu(conv(x)), 3, stride=2)     # overlapping windows that leave the last column out
        return F.max_pool2d(conv2(y), (2, 1))

    example = randn(2, 3, 13, 16)
    traced, fused = _fused(fn, [example])
    pooled = [n.attrs["pool_kernel"] for n in fused.nodes if "pool_kernel" in n.attrs]
    assert pooled == [(3, 3), (2, 1)] and not any(n.op == "max_pool" for n in fused.nodes)
    nan = example.numpy().copy()
    nan[1, 0, 4, 5] = np.nan  # a NaN wins its windows, as in max_pool
    for x in (randn(1, 3, 13, 16, seed=3), randn(3, 3, 13, 16, seed=4), ember.tensor(nan)):
        _check(traced, fused, [x])


def test_max_pool_stays_apart_when_its_indices_are_read_or_windows_leave_the_image():
    w = randn(4, 3, 3, 3, seed=1)

    def fn(x, w_input):
        values, indices = F.max_pool2d(F.conv2d(x, w, padding=1), 2, return_indices=True)
        partial = F.max_pool2d(F.conv2d(x, w), 2, ceil_mode=True)      # 7 -> 4 windows: the last one partial
        weights_in = F.max_pool2d(F.conv2d(x, w_input), 2)             # filters that are not a parameter
        return values, indices, partial, weights_in

    traced, fused = _fused(fn, [randn(2, 3, 9, 9), randn(4, 3, 3, 3, seed=2)])
    assert sum(n.op == "max_pool" for n in fused.nodes) == 3
