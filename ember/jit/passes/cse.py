"""Common-subexpression elimination: a node that repeats an earlier one (same op, same operands, equal
attributes) reads the earlier one's outputs instead."""

from __future__ import annotations

from typing import Any

from ...tensor.registry import INPLACE, OPS
from ..ir import Graph, Node, Value
from .dead_code import eliminate_dead_code
from .rewrite import NONDETERMINISTIC_OPS, Forwarding

__all__ = ["eliminate_common_subexpressions"]


class _Unhashable(Exception):
    """An operand or attribute this pass cannot compare by value; the node is left alone."""


def _key(x: Any) -> Any:
    """A hashable key equal for two operands exactly when they are the same operand.

    Python's ``1 == 1.0 == True`` would merge ``add(x, 1)`` with ``add(x, 1.0)``, whose dtypes differ, and
    ``0.0 == -0.0`` would merge divisions by zeros of opposite signs: numbers are keyed by type and ``repr``.
    Values are keyed by identity.
    """
    if isinstance(x, Value) or x is None:
        return x
    if isinstance(x, bool | int | float | complex | str):
        return (type(x), repr(x))
    if isinstance(x, list | tuple):
        return (type(x), tuple(_key(v) for v in x))
    try:
        hash(x)
    except TypeError:
        raise _Unhashable from None
    return (type(x), x)


def _node_key(node: Node) -> tuple | None:
    try:
        return (node.op, _key(node.operands), tuple((k, _key(v)) for k, v in sorted(node.attrs.items())))
    except _Unhashable:
        return None


def _mergeable(node: Node) -> bool:
    # Nodes made by passes (fusion groups) carry sub-graphs; in-place nodes stay where the trace put them.
    op = OPS.get(node.op)
    return op is not None and op.kind != INPLACE and node.op not in NONDETERMINISTIC_OPS


def eliminate_common_subexpressions(graph: Graph) -> Graph:
    """Merge nodes of deterministic registry ops whose op, operands and attributes are equal; the later node's
    readers read the earlier node's outputs. Never merges nodes of in-place or non-deterministic ops (``empty``),
    nor two nodes that are both graph outputs (the caller would get one tensor twice).

    Rewrites ``graph`` in place and returns it.
    """
    forwarding = Forwarding(graph)
    seen: dict[tuple, Node] = {}
    for node in graph.nodes:
        forwarding.apply(node)
        if not _mergeable(node):
            continue
        key = _node_key(node)
        if key is None:
            continue
        earlier = seen.setdefault(key, node)
        if earlier is node:
            continue
        pairs = list(zip(node.outputs, earlier.outputs, strict=True))
        if all(forwarding.can_forward(old, new) for old, new in pairs):
            for old, new in pairs:
                forwarding.forward(old, new)
    forwarding.finish()
    return eliminate_dead_code(graph)
