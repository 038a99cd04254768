"""Dead-code elimination: nodes none of whose outputs is read, and parameters and constants nothing reads."""

from __future__ import annotations

from ..ir import Graph, Value

__all__ = ["eliminate_dead_code"]


def eliminate_dead_code(graph: Graph) -> Graph:
    """Drop the nodes whose outputs reach no graph output, then the parameters and constants no node or output
    reads. Graph inputs stay: they are the signature. Nodes of in-place ops are functional in the IR (see
    :mod:`ember.jit.ir`), so an unread one is dead like any other.

    Rewrites ``graph`` in place and returns it.
    """
    live: set[Value] = set(graph.outputs)
    kept = []
    for node in reversed(graph.nodes):
        if any(v in live for v in node.outputs):
            kept.append(node)
            live.update(node.input_values())
    kept.reverse()
    graph.nodes = kept
    graph.params = [v for v in graph.params if v in live]
    graph.constants = [v for v in graph.constants if v in live]
    return graph
