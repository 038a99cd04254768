"""The IR's printed form: types on every value, deterministic numbering, operands and attributes as written."""

from __future__ import annotations

import ember
from ember.jit.ir import CONST, INPUT, NODE, PARAM, Graph, Value, format_dtype, format_shape
from ember.jit.symbolic import sym

N = sym("N")


def _small_graph() -> Graph:
    graph = Graph()
    graph.symbols["N"] = {"hint": 4, "min": 1, "max": None}
    x = graph.add_input("x", ember.float32, (N, 3))
    w = graph.add_param("fc.weight", ember.float32, (2, 3))
    c = graph.add_constant(ember.ones(3))
    scaled = graph.add_node("mul", [x, c], {}, [(ember.float32, (N, 3))]).output
    out = graph.add_node("linear", [scaled, w, None], {}, [(ember.float32, (N, 2))]).output
    values, indices = graph.add_node("max_dim", [out], {"dim": 1, "keepdim": False},
                                     [(ember.float32, (N,)), (ember.int64, (N,))]).outputs
    flat = graph.add_node("view", [scaled], {"size": (N * 3,)}, [(ember.float32, (3 * N,))]).output
    graph.add_node("cat", [[values, flat]], {"dim": 0}, [(ember.float32, (4 * N,))])
    graph.outputs = [values, indices, graph.nodes[-1].output]
    return graph


def test_printed_graph():
    assert str(_small_graph()) == """\
graph(%x: f32[N,3], %fc.weight: f32[2,3]):
  %c0 = constant() : f32[3]
  %0 = mul(%x, %c0) : f32[N,3]
  %1 = linear(%0, %fc.weight, None) : f32[N,2]
  %2, %3 = max_dim(%1, dim=1, keepdim=False) : f32[N], i64[N]
  %4 = view(%0, size=(3*N,)) : f32[3*N]
  %5 = cat([%2, %4], dim=0) : f32[4*N]
  return %2, %3, %5"""


def test_numbering_follows_the_node_order_after_an_insertion():
    graph = _small_graph()
    x = graph.inputs[0]
    graph.add_node("neg", [x], {}, [(ember.float32, (N, 3))], index=0)
    lines = str(graph).splitlines()
    assert lines[2] == "  %0 = neg(%x) : f32[N,3]" and lines[3] == "  %1 = mul(%x, %c0) : f32[N,3]"
    assert lines[-1] == "  return %3, %4, %6" and str(graph) == "\n".join(lines)


def test_attribute_formats():
    graph = Graph()
    x = graph.add_input("x", ember.float16, (2,))
    graph.add_node("cast", [x], {"dtype": ember.bfloat16, "scale": 0.1, "pair": ((1, 1), (0, 2)), "one": (3,),
                                 "sizes": [1, 2], "flag": True, "text": "mean"}, [(ember.bfloat16, (2,))])
    graph.outputs = [graph.nodes[0].output]
    assert str(graph).splitlines()[1] == ("  %0 = cast(%x, dtype=bf16, scale=0.1, pair=((1, 1), (0, 2)), one=(3,), "
                                          "sizes=[1, 2], flag=True, text=mean) : bf16[2]")


def test_values_and_formatting_helpers():
    graph = _small_graph()
    x, w = graph.inputs[0], graph.params[0]
    assert (x.kind, w.kind, graph.constants[0].kind, graph.nodes[0].output.kind) == (INPUT, PARAM, CONST, NODE)
    assert repr(x) == "Value(input, x: f32[N,3])" and repr(graph.nodes[0].output) == "Value(node, ?: f32[N,3])"
    assert not x.is_static and w.is_static and x.type_str == "f32[N,3]"
    assert format_shape((N, 3 * N + 1, 2)) == "[N,3*N+1,2]" and format_shape(()) == "[]"
    assert [format_dtype(d) for d in (ember.bool, ember.uint8, ember.int32, ember.float64)] == ["bool", "u8", "i32",
                                                                                                 "f64"]
    assert graph.names()[graph.nodes[2].outputs[1]] == "%3"
    assert list(graph.values())[:3] == [x, w, graph.constants[0]]
    assert isinstance(graph.nodes[0].output, Value) and graph.nodes[0].output.node is graph.nodes[0]


def test_traced_graph_prints_identically_each_time():
    model = ember.nn.Sequential(ember.nn.Linear(4, 3), ember.nn.ReLU()).eval()
    first = str(ember.jit.trace(model, ember.randn(5, 4), optimize=False).graph)
    assert first == str(ember.jit.trace(model, ember.randn(7, 4), optimize=False).graph)
    assert first == """\
graph(%input: f32[N,4], %0.weight: f32[3,4], %0.bias: f32[3]):
  %0 = linear(%input, %0.weight, %0.bias) : f32[N,3]
  %1 = relu(%0) : f32[N,3]
  return %1"""
