"""The graph verifier: structural invariants every pass must keep (run after tracing and after each pass)."""

from __future__ import annotations

from ..tensor.registry import OPS
from .interpreter import NODE_RUNNERS
from .ir import CONST, INPUT, NODE, PARAM, Graph, Node, Value
from .symbolic import SymExpr

__all__ = ["GraphError", "verify"]


class GraphError(RuntimeError):
    """A graph breaks an IR invariant (a bug in the tracer or in a pass); the message names the node."""


def verify(graph: Graph) -> None:
    """Check SSA form and types: every value is defined once before use, every op exists, every shape is made
    of non-negative ints and expressions over the graph's symbols, inputs and parameters have unique names.

    Raises:
        GraphError: naming the first offending node or value.
    """
    defined: set[Value] = set()
    names: set[str] = set()
    for kind, values in ((INPUT, graph.inputs), (PARAM, graph.params), (CONST, graph.constants)):
        for value in values:
            if value.kind != kind:
                raise GraphError(f"{value!r} is listed among the graph's {kind}s")
            if kind != CONST:
                if not value.name or value.name in names:
                    raise GraphError(f"graph {kind} names must be unique and non-empty, got {value.name!r}")
                names.add(value.name)
            elif value.data is None:
                raise GraphError(f"constant {value!r} has no data")
            _check_value(graph, value, "graph " + kind)
            defined.add(value)
    for index, node in enumerate(graph.nodes):
        where = f"node {index} ({node.op})"
        if node.op not in OPS and node.op not in NODE_RUNNERS:
            raise GraphError(f"{where}: no primitive op or node runner named '{node.op}'")
        for value in node.input_values():
            if value not in defined:
                raise GraphError(f"{where}: reads {value!r} before it is defined")
        if not node.outputs:
            raise GraphError(f"{where}: has no outputs")
        for value in node.outputs:
            if value in defined:
                raise GraphError(f"{where}: redefines {value!r}")
            if value.kind != NODE or value.node is not node:
                raise GraphError(f"{where}: output {value!r} does not name this node as its producer")
            _check_value(graph, value, where)
            defined.add(value)
        for body in (v for v in node.attrs.values() if isinstance(v, Graph)):
            _check_body(node, body, where)
    if not graph.outputs:
        raise GraphError("the graph has no outputs")
    for value in graph.outputs:
        if value not in defined:
            raise GraphError(f"the graph returns {value!r}, which no input, constant or node defines")


def _check_body(node: Node, body: Graph, where: str) -> None:
    """A sub-graph run as the node (a ``fused`` node's body): valid itself, no parameters, its inputs are the
    node's operands and its outputs the node's outputs, with the same dtypes and shapes."""
    try:
        verify(body)
    except GraphError as error:
        raise GraphError(f"{where}: its body graph is invalid: {error}") from None
    if body.params:
        raise GraphError(f"{where}: its body graph has parameters; a body reads only the node's operands")
    if len(body.inputs) != len(node.operands) or not all(isinstance(x, Value) for x in node.operands):
        raise GraphError(f"{where}: its {len(node.operands)} operands must be values, one per body input "
                         f"({len(body.inputs)})")
    for kind, outer, inner in (("operand", node.operands, body.inputs), ("output", node.outputs, body.outputs)):
        if len(outer) != len(inner):
            raise GraphError(f"{where}: has {len(outer)} {kind}s but its body has {len(inner)}")
        for i, (a, b) in enumerate(zip(outer, inner, strict=True)):
            if a.dtype is not b.dtype or tuple(a.shape) != tuple(b.shape):
                raise GraphError(f"{where}: {kind} {i} is {a.type_str} but its body's is {b.type_str}")


def _check_value(graph: Graph, value: Value, where: str) -> None:
    for d in value.shape:
        if isinstance(d, SymExpr):
            unknown = d.symbols() - set(graph.symbols)
            if unknown:
                raise GraphError(f"{where}: {value!r} uses undeclared symbols {sorted(unknown)}")
        elif not isinstance(d, int) or isinstance(d, bool) or d < 0:
            raise GraphError(f"{where}: {value!r} has an invalid size {d!r}")
