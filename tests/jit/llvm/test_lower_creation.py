"""Creation ops (full, empty, eye, arange, linspace, logspace) with sizes from a dynamic dim, against the
interpreter: their values must be bit-identical, as the eager kernels follow PyTorch's exactly."""

from __future__ import annotations

import numpy as np

import ember
from ember.jit.interpreter import run_graph

from .helpers import assert_matches_interpreter, compile_function, randn


def _assert_exact(traced, compiled, inputs) -> None:
    got, want = compiled(list(inputs)), run_graph(traced.graph, list(inputs), traced.params)
    for index, (g, w) in enumerate(zip(got, want, strict=True)):
        assert g.dtype is w.dtype and tuple(g.shape) == tuple(w.shape), f"output {index}"
        np.testing.assert_array_equal(g.numpy(), w.numpy(), err_msg=f"output {index}")


def test_ranges_and_fills_with_symbolic_sizes():
    def make(x):
        n = x.shape[0]
        return (ember.arange(n), ember.arange(1, n, 2, dtype=ember.float32), ember.arange(n, dtype=ember.int32) * 3,
                ember.arange(-2, n + 3, 3, dtype=ember.float64), ember.arange(0.5, 4, 0.3, dtype=ember.float64),
                ember.arange(n, 0, -2) + x.shape[1],
                ember.full((n, 3), 2.5), ember.full((2, n), -7, dtype=ember.int64), ember.full((n,), True),
                ember.zeros(n), ember.ones(2, n, dtype=ember.int32), ember.eye(n, 3), ember.eye(3, n, dtype=ember.bool),
                ember.eye(n, dtype=ember.int64),
                ember.linspace(-1.3, 2.7, n), ember.linspace(0, 7, n, dtype=ember.float64),
                ember.linspace(-3, 100, n, dtype=ember.int32), ember.linspace(2.5, -4.25, 9),
                ember.logspace(0, 2, n), ember.logspace(-1.5, 2.5, n, base=2.0, dtype=ember.float64),
                ember.logspace(0, 3, n, dtype=ember.int64), ember.logspace(1, -1, 5, base=3.0))

    traced, compiled = compile_function(make, [randn(5, 2)], dynamic_dims={0: {0: "N"}})
    assert {"arange", "full", "eye", "linspace", "logspace"} <= {n.op for n in traced.graph.nodes}
    for n in (5, 1, 2, 9, 17):  # a single step is a fill of start: decided when called
        _assert_exact(traced, compiled, [randn(n, 2, seed=n)])


def test_empty_has_its_shape_and_dtype():
    def make(x):
        return ember.empty(x.shape[0], 3, dtype=ember.int32), ember.empty(2, x.shape[0])

    traced, compiled = compile_function(make, [randn(4, 2)], dynamic_dims={0: {0: "N"}})
    for n in (4, 7):
        ints, floats = compiled([randn(n, 2)])
        assert ints.dtype is ember.int32 and tuple(ints.shape) == (n, 3)
        assert floats.dtype is ember.float32 and tuple(floats.shape) == (2, n)


def test_creation_ops_combine_with_traced_inputs():
    # A causal mask and positions, as attention code builds them from the sequence length.
    def attention_bits(x):
        t = x.shape[1]
        mask = ember.triu(ember.full((t, t), float("-inf")), 1)
        positions = ember.arange(t).to(ember.float32)
        return x @ x.transpose(1, 2) + mask, x + positions[:, None], ember.eye(t) * x[0, :, :1]

    traced, compiled = compile_function(attention_bits, [randn(2, 6, 6)], dynamic_dims={0: {1: "T", 2: "T"}})
    for t in (6, 1, 11):
        assert_matches_interpreter(traced, compiled, [randn(2, t, t, seed=t)])  # matmul's order may differ
