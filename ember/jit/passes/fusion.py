"""Elementwise fusion grouping: maximal groups of element-wise nodes become one ``fused`` node for codegen.

A ``fused`` node's ``attrs['body']`` is a :class:`~ember.jit.ir.Graph` whose inputs are the group's external
operands (the fused node's operands, in order, named ``in0``, ``in1``...) and whose single output is the
group's result. The reference interpreter runs the body node by node (``NODE_RUNNERS['fused']``), so a fused
graph computes exactly what the unfused one does; a code generator turns each body into one loop nest.

Which ops are element-wise is :data:`ELEMENTWISE_OPS`: every output element depends only on the elements at
the same (broadcast) index of the operands. They are the ops of the unary, arithmetic, comparison and ternary
families (built by ``ember/tensor/ops/elementwise.py``), ``div``, ``isclose`` and ``cast``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..interpreter import NODE_RUNNERS, run_graph
from ..ir import NODE, Graph, Node, Value
from .rewrite import Forwarding

__all__ = ["ELEMENTWISE_OPS", "FUSED", "group_elementwise"]

FUSED = "fused"

ELEMENTWISE_OPS = frozenset({
    # unary.py
    "neg", "abs", "sign", "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt", "rsqrt", "sin", "cos",
    "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "sigmoid", "relu", "silu",
    "erf", "erfc", "reciprocal", "floor", "ceil", "trunc", "frac", "round", "gelu", "softplus",
    # arithmetic.py
    "add", "sub", "mul", "div", "remainder", "fmod", "pow", "maximum", "minimum", "atan2",
    # comparison.py
    "eq", "ne", "lt", "le", "gt", "ge", "isclose", "logical_and", "logical_or", "logical_xor", "logical_not",
    "isnan", "isinf", "isposinf", "isneginf", "isfinite", "bitwise_and", "bitwise_or", "bitwise_xor",
    "bitwise_not", "bitwise_left_shift", "bitwise_right_shift",
    # ternary.py and copy.py
    "where", "clamp", "lerp", "cast",
})


def _run_fused(node: Node, operands: list, attrs: dict, bindings: Mapping[str, int]) -> tuple:
    return tuple(run_graph(attrs["body"], operands, {}, bindings))


NODE_RUNNERS[FUSED] = _run_fused


def _is_elementwise(node: Node) -> bool:
    return (node.op in ELEMENTWISE_OPS and len(node.outputs) == 1
            and not any(isinstance(x, list | tuple) for x in node.operands))


def _make_body(graph: Graph, group: Sequence[Node]) -> tuple[Graph, list[Value]]:
    """The group as a graph of its own, and the outer values it reads (its inputs, in order)."""
    body = Graph()
    body.symbols = {name: dict(info) for name, info in graph.symbols.items()}
    inner: dict[Value, Value] = {}
    external: list[Value] = []
    for node in group:
        for value in node.input_values():
            if value not in inner:
                inner[value] = body.add_input(f"in{len(external)}", value.dtype, value.shape)
                external.append(value)

        operands = [inner[x] if isinstance(x, Value) else x for x in node.operands]
        copy = body.add_node(node.op, operands, node.attrs, [(v.dtype, v.shape) for v in node.outputs])
        inner.update(zip(node.outputs, copy.outputs, strict=True))
    body.outputs = [inner[group[-1].output]]
    return body, external


def group_elementwise(graph: Graph) -> Graph:
    """Replace each maximal group of two or more element-wise nodes connected through single-use intermediates by
    one ``fused`` node (see the module docstring).

    An intermediate joins its reader's group only when that reader is its only reader and it is not a graph
    output, so every group is a tree whose root, its last node, is the only one read from outside: the fused
    node takes the root's place and its one output.

    Rewrites ``graph`` in place and returns it.
    """
    readers = graph.users()
    outputs = set(graph.outputs)
    position = {node: i for i, node in enumerate(graph.nodes)}
    group_of: dict[Node, list[Node]] = {}
    for node in graph.nodes:
        if not _is_elementwise(node):
            continue
        group = [node]
        for value in dict.fromkeys(node.input_values()):
            producer = value.node if value.kind == NODE else None
            if (producer in group_of and value not in outputs
                    and all(reader is node for reader in readers[value])):
                group.extend(group_of.pop(producer))
        group.sort(key=position.__getitem__)
        group_of[node] = group
    # Each root gives its place to its fused node; the other members go.
    replaced: dict[Node, Node | None] = {}
    forwarding = Forwarding(graph)
    for root, group in group_of.items():
        if len(group) < 2:
            continue
        body, external = _make_body(graph, group)
        fused = Node(FUSED, external, {"body": body})
        fused.outputs = [Value(NODE, root.output.dtype, root.output.shape, node=fused)]
        forwarding.forward(root.output, fused.output)
        replaced[root] = fused
        replaced.update((member, None) for member in group[:-1])
    nodes = []
    for node in graph.nodes:
        node = replaced.get(node, node)
        if node is not None:
            forwarding.apply(node)
            nodes.append(node)
    graph.nodes = nodes
    forwarding.finish()
    return graph

