"""The reference interpreter: runs hand-built graphs with the eager kernels, binds symbols from the inputs, and
names the input, symbol or node when something disagrees."""

from __future__ import annotations

import numpy as np
import pytest

import ember
from ember.jit.interpreter import NODE_RUNNERS, bind_symbols, evaluate_attr, run_graph
from ember.jit.ir import Graph
from ember.jit.symbolic import sym

N, T = sym("N"), sym("T")


def _graph(**symbols) -> tuple[Graph, dict]:
    """``out = (x * scale).view(N*T) + c`` with x: f32[N,T], a parameter and a constant."""
    graph = Graph()
    graph.symbols.update({"N": {"hint": 2, "min": 1, "max": None}, "T": {"hint": 3, "min": 1, "max": None}})
    for name, bounds in symbols.items():
        graph.symbols[name].update(bounds)
    x = graph.add_input("x", ember.float32, (N, T))
    scale = graph.add_param("scale", ember.float32, ())
    c = graph.add_constant(ember.tensor(10.0))
    y = graph.add_node("mul", [x, scale], {}, [(ember.float32, (N, T))]).output
    flat = graph.add_node("view", [y], {"size": (N * T,)}, [(ember.float32, (N * T,))]).output
    graph.outputs = [graph.add_node("add", [flat, c], {}, [(ember.float32, (N * T,))]).output]
    return graph, {"scale": ember.tensor(2.0)}


def test_runs_a_graph_at_any_bound_size():
    graph, params = _graph()
    for shape in [(2, 3), (5, 1), (1, 7)]:
        x = ember.randn(*shape)
        (out,) = run_graph(graph, [x], params)
        np.testing.assert_allclose(out.numpy(), x.numpy().reshape(-1) * 2 + 10, rtol=1e-6)
    assert bind_symbols(graph, [ember.randn(4, 6)]) == {"N": 4, "T": 6}


def test_symbols_bind_from_inputs_and_errors_name_them():
    graph, params = _graph(N={"min": 2, "max": 8})
    graph.add_input("y", ember.float32, (T, 4))
    with pytest.raises(RuntimeError, match=r"input 'y' dim 0 is the symbolic size T, already bound to 3 by an "
                                           "earlier input, but got 5"):
        bind_symbols(graph, [ember.randn(2, 3), ember.randn(5, 4)])
    with pytest.raises(RuntimeError, match=r"input 'x' dim 0 \(N\) must lie in \[2, 8\], got 9"):
        bind_symbols(graph, [ember.randn(9, 3), ember.randn(3, 4)])
    with pytest.raises(RuntimeError, match=r"input 'y' must have 2 dims \[T,4\], got 1 dims \[3\]"):
        bind_symbols(graph, [ember.randn(2, 3), ember.randn(3)])
    with pytest.raises(RuntimeError, match=r"input 'y' must have shape \[T,4\], got \[3, 5\] \(dim 1 is static: 4\)$"):
        bind_symbols(graph, [ember.randn(2, 3), ember.randn(3, 5)])
    assert bind_symbols(graph, [ember.randn(2, 3), ember.randn(3, 4)], names=["a", "b"]) == {"N": 2, "T": 3}


def test_attributes_are_evaluated_under_the_bindings():
    assert evaluate_attr((N * T, [N + 1, 2], "x", None), {"N": 2, "T": 5}) == (10, [3, 2], "x", None)


def test_missing_parameter():
    graph, _ = _graph()
    with pytest.raises(KeyError, match="no tensor bound to the graph parameter 'scale'"):
        run_graph(graph, [ember.randn(2, 3)], {})


def test_in_place_nodes_write_a_private_copy():
    graph = Graph()
    x = graph.add_input("x", ember.float32, (3,))
    written = graph.add_node("fill_", [x, 1.0], {}, [(ember.float32, (3,))]).output
    graph.outputs = [graph.add_node("add", [written, x], {}, [(ember.float32, (3,))]).output]
    x = ember.zeros(3)
    (out,) = run_graph(graph, [x], {})
    np.testing.assert_array_equal(out.numpy(), [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(x.numpy(), [0.0, 0.0, 0.0])


def test_a_failing_node_is_named_with_the_kernel_message():
    graph = Graph()
    table = graph.add_input("table", ember.float32, (4, 2))
    ids = graph.add_input("ids", ember.int64, (3,))
    graph.outputs = [graph.add_node("index_select", [table, ids], {"dim": 0}, [(ember.float32, (3, 2))]).output]
    with pytest.raises(IndexError, match=r"index out of range in self\n  in graph node: %0 = index_select\(%table, "
                                         r"%ids, dim=0\) : f32\[3,2\]"):
        run_graph(graph, [ember.randn(4, 2), ember.tensor([0, 7, 1])], {})


def test_a_result_that_disagrees_with_the_graph_is_reported():
    graph = Graph()
    graph.symbols["N"] = {"hint": 4, "min": 1, "max": None}
    x = graph.add_input("x", ember.float32, (N,))
    # The declared shape is wrong on purpose: the first 4 elements, whatever N is.
    graph.outputs = [graph.add_node("narrow", [x], {"dim": 0, "start": 0, "length": 4}, [(ember.float32, (N,))]).output]
    assert run_graph(graph, [ember.randn(4)], {})[0].shape == (4,)
    with pytest.raises(RuntimeError, match=r"graph node %0 = narrow\(%x, dim=0, start=0, length=4\) : f32\[N\] "
                                           r"produced ember.float32\[4\] but the graph declares f32\[N\] = \[6\]"):
        run_graph(graph, [ember.randn(6)], {})


def test_node_runners_run_ops_outside_the_registry():
    graph = Graph()
    x = graph.add_input("x", ember.float32, (3,))
    graph.outputs = [graph.add_node("test_double_plus", [x], {"plus": 1.0}, [(ember.float32, (3,))]).output]
    NODE_RUNNERS["test_double_plus"] = lambda node, operands, attrs, bindings: (operands[0] * 2 + attrs["plus"],)
    try:
        (out,) = run_graph(graph, [ember.ones(3)], {})
    finally:
        del NODE_RUNNERS["test_double_plus"]
    np.testing.assert_array_equal(out.numpy(), [3.0, 3.0, 3.0])
