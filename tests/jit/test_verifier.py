"""The verifier accepts traced graphs and names the first broken invariant of a bad one."""

from __future__ import annotations

import pytest

import ember
from ember.jit.ir import CONST, Graph, Value
from ember.jit.symbolic import sym
from ember.jit.verifier import GraphError, verify

from .models import MODELS

N = sym("N")


def _graph() -> Graph:
    graph = Graph()
    graph.symbols["N"] = {"hint": 4, "min": 1, "max": None}
    x = graph.add_input("x", ember.float32, (N, 3))
    graph.add_node("relu", [x], {}, [(ember.float32, (N, 3))])
    graph.outputs = [graph.nodes[0].output]
    return graph


def test_traced_graphs_verify():
    for case in MODELS:
        ember.manual_seed(0)
        model = case.build(ember).eval()
        traced = ember.jit.trace(model, case.make(ember, 4, 6), dynamic_dims=case.dynamic_dims, optimize=False)
        verify(traced.graph)


def _broken(mutate) -> str:
    graph = _graph()
    mutate(graph)
    with pytest.raises(GraphError) as info:
        verify(graph)
    return str(info.value)


def test_use_before_definition_and_redefinition():
    def early(graph):
        relu = graph.nodes[0]
        graph.add_node("neg", [relu.output], {}, [(ember.float32, (N, 3))], index=0)

    assert "node 0 (neg): reads Value(node, ?: f32[N,3]) before it is defined" in _broken(early)

    def twice(graph):
        graph.nodes.append(graph.nodes[0])

    assert "node 1 (relu): redefines" in _broken(twice)


def test_ops_outputs_and_producers():
    assert "no primitive op or node runner named 'frobnicate'" in _broken(
        lambda g: g.add_node("frobnicate", [g.inputs[0]], {}, [(ember.float32, (N, 3))]))
    assert "node 1 (neg): has no outputs" in _broken(lambda g: g.add_node("neg", [g.inputs[0]], {}, []))

    def foreign(graph):
        graph.nodes[0].outputs[0].node = None

    assert "does not name this node as its producer" in _broken(foreign)
    assert "the graph has no outputs" in _broken(lambda g: setattr(g, "outputs", []))
    stray = Value("node", ember.float32, (3,))
    assert "the graph returns Value(node, ?: f32[3]), which no input, constant or node defines" in _broken(
        lambda g: g.outputs.append(stray))


def test_names_kinds_and_constants():
    assert "graph param names must be unique and non-empty, got 'x'" in _broken(
        lambda g: g.add_param("x", ember.float32, (3,)))
    assert "graph input names must be unique and non-empty, got None" in _broken(
        lambda g: g.add_input(None, ember.float32, (3,)))
    assert "is listed among the graph's params" in _broken(lambda g: g.params.append(g.inputs[0]))
    assert "has no data" in _broken(lambda g: g.constants.append(Value(CONST, ember.float32, (3,))))


def test_shapes_use_declared_symbols_and_valid_sizes():
    assert "uses undeclared symbols ['T']" in _broken(lambda g: g.add_input("t", ember.float32, (sym("T"),)))
    assert "has an invalid size -1" in _broken(lambda g: g.add_input("t", ember.float32, (-1,)))
    assert "has an invalid size True" in _broken(lambda g: g.add_input("t", ember.float32, (True,)))
    assert "has an invalid size 2.0" in _broken(
        lambda g: g.add_node("neg", [g.inputs[0]], {}, [(ember.float32, (2.0,))]))
