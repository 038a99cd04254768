"""Element-wise fusion grouping: which nodes group, the ``fused`` node's body, its printing, verifying and running."""

from __future__ import annotations

import pytest

import ember
from ember import nn
from ember.jit.interpreter import NODE_RUNNERS
from ember.jit.ir import Graph
from ember.jit.passes import ELEMENTWISE_OPS, FUSED, group_elementwise
from ember.jit.verifier import GraphError, verify
from ember.tensor.registry import OPS

from .graph_builder import GraphBuilder, check_pass, ops


def test_every_elementwise_op_is_a_registry_op_and_every_builder_op_is_listed():
    assert set(OPS) >= ELEMENTWISE_OPS
    built = {name for name, op in OPS.items() if op.infer.__qualname__.split(".")[0] in ("unary_op", "binary_op")}
    assert built and built <= ELEMENTWISE_OPS
    assert not ELEMENTWISE_OPS & {"sum", "matmul", "softmax", "view", "expand", "copy_", "fill_", "empty"}
    assert FUSED in NODE_RUNNERS


def test_a_chain_becomes_one_fused_node():
    b = GraphBuilder()
    x, bias = b.input("x", 2, 3), b.param("bias", ember.randn(3))
    y = b("mul", b("add", b("tanh", b("add", x, bias)), 1), 0.5)
    graph = b.returns(b("sum", y, dim=(1,), keepdim=False, dtype=ember.float32))
    graph, _ = check_pass(graph, b.params, group_elementwise)
    assert ops(graph) == [FUSED, "sum"]
    fused = graph.nodes[0]
    assert fused.operands == [x, graph.params[0]] and ops(fused.attrs["body"]) == ["add", "tanh", "add", "mul"]
    assert str(graph) == """graph(%x: f32[2,3], %bias: f32[3]):
  %0 = fused(%x, %bias) : f32[2,3]
    graph(%in0: f32[2,3], %in1: f32[3]):
      %0 = add(%in0, %in1) : f32[2,3]
      %1 = tanh(%0) : f32[2,3]
      %2 = add(%1, 1) : f32[2,3]
      %3 = mul(%2, 0.5) : f32[2,3]
      return %3
  %1 = sum(%0, dim=(1,), keepdim=False, dtype=f32) : f32[2]
  return %1"""


def test_groups_stop_at_values_read_twice_returned_or_not_elementwise():
    b = GraphBuilder()
    x = b.input("x", 4)
    shared = b("exp", b("neg", x))  # read by two nodes: the root of its own group
    left = b("sigmoid", b("mul", shared, 2.0))
    returned = b("relu", b("abs", x))  # a graph output: not absorbed by its reader
    reduced = b("sum", b("sqrt", returned), dim=(0,), keepdim=True, dtype=ember.float32)
    joined = b("add", b("where", b("gt", left, 0.5), shared, 0.0), reduced)
    lone = b("cos", x)
    graph = b.returns(joined, returned, lone)
    graph, _ = check_pass(graph, {}, group_elementwise)
    assert ops(graph) == [FUSED, FUSED, "sqrt", "sum", FUSED, "cos"]
    bodies = [ops(node.attrs["body"]) for node in graph.nodes if node.op == FUSED]
    assert bodies == [["neg", "exp"], ["abs", "relu"], ["mul", "sigmoid", "gt", "where", "add"]]
    assert graph.nodes[4].operands[:1] == [graph.nodes[0].output]


def test_operands_read_twice_by_one_node_join_its_group():
    b = GraphBuilder()
    x = b.input("x", 3)
    squared = b("mul", b("exp", x), b("exp", x))
    y = b("exp", x)
    graph = b.returns(b("add", squared, b("mul", y, y)))
    graph, _ = check_pass(graph, {}, group_elementwise)
    assert ops(graph) == [FUSED] and len(graph.nodes[0].operands) == 1


def test_fusion_on_a_traced_model_with_dynamic_batch():
    model = nn.Sequential(nn.Linear(6, 8), nn.GELU(approximate="tanh"), nn.Linear(8, 4), nn.Sigmoid()).eval()
    tm = ember.jit.trace(lambda x: (model(x) * 2 - 1).clamp(-0.5, 0.5).exp(), ember.randn(3, 6), optimize=False)
    graph, _ = check_pass(tm.graph, tm.params, group_elementwise, bindings=[None, {"N": 7}])
    assert ops(graph) == ["linear", "gelu", "linear", FUSED]
    assert ops(graph.nodes[-1].attrs["body"]) == ["sigmoid", "mul", "sub", "clamp", "exp"]


def _fused_graph() -> Graph:
    b = GraphBuilder()
    x = b.input("x", 2, 3)
    graph = b.returns(b("exp", b("neg", x)))
    return group_elementwise(graph)


def test_the_verifier_checks_fused_bodies():
    verify(_fused_graph())

    graph = _fused_graph()
    graph.nodes[0].attrs["body"].outputs = []
    with pytest.raises(GraphError, match=r"node 0 \(fused\): its body graph is invalid: the graph has no outputs"):
        verify(graph)

    graph = _fused_graph()
    graph.nodes[0].attrs["body"].inputs[0].shape = (3, 2)
    with pytest.raises(GraphError, match=r"operand 0 is f32\[2,3\] but its body's is f32\[3,2\]"):
        verify(graph)

    graph = _fused_graph()
    graph.nodes[0].outputs[0].shape = (3, 2)
    with pytest.raises(GraphError, match=r"output 0 is f32\[3,2\] but its body's is f32\[2,3\]"):
        verify(graph)

    graph = _fused_graph()
    graph.nodes[0].operands.append(1.0)
    with pytest.raises(GraphError, match="operands must be values, one per body input"):
        verify(graph)

    graph = _fused_graph()
    graph.nodes[0].attrs["body"].add_param("w", ember.float32, (2, 3))
    with pytest.raises(GraphError, match="body graph has parameters"):
        verify(graph)


def test_errors_after_a_fused_node_name_the_failing_node():
    tm = ember.jit.trace(lambda x, i: ((x * 2).exp() + 1).index_select(0, i), (ember.randn(4, 3), ember.tensor([1])),
                         dynamic_dims={0: {0: "N"}, 1: {}}, backend="interpreter")
    assert ops(tm.graph) == [FUSED, "index_select"]
    with pytest.raises(IndexError, match=r"in graph node: %1 = index_select\(%0, %i, dim=0\) : f32\[1,3\]$"):
        tm(ember.randn(2, 3), ember.tensor([2]))


def test_a_size_comparison_the_trace_decided_is_checked_on_every_call():
    tm = ember.jit.trace(lambda x: ((x * 2).exp() + 1)[2], ember.randn(4, 3))  # x[2] needs N >= 3
    assert tm.graph.symbols["N"]["min"] == 3
    assert tm(ember.randn(3, 3)).shape == (3,)
    with pytest.raises(RuntimeError, match=r"input 'x' dim 0 \(N\) must lie in \[3, inf\], got 2"):
        tm(ember.randn(2, 3))
    tm = ember.jit.trace(lambda x: x[: x.shape[0] // 2 + 2], ember.randn(4, 3))  # needs N//2 + 2 <= N
    assert "assume N-(N//2)-2 >= 0" in str(tm.graph)
    assert tm(ember.randn(5, 3)).shape == (4, 3)
    assert tm(ember.randn(3, 3)).shape == (3, 3)
    with pytest.raises(RuntimeError, match=r"traced assuming N-\(N//2\)-2 >= 0"):
        tm(ember.randn(2, 3))
