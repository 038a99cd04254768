"""Identity removal: nodes that return their operand unchanged at the graph's shapes and dtypes.

Only what is provably the identity for every binding of the symbols goes:

* ``view``/``expand`` whose sizes are the operand's own shape (``-1`` allowed), ``squeeze`` of dims of a static
  size other than 1, ``transpose``/``permute`` that only move size-1 dims (their strides never address memory);
* ``clone`` and ``cast`` to the operand's dtype, when every reader computes with values only (no view, whose
  strides would differ, and no in-place op, which may own its operand 0's copy).

Dropout never reaches a graph in eval mode: ``F.dropout`` returns its input untouched when not training or
when ``p == 0`` (no op is dispatched, so nothing is recorded), and in training mode its random draw is refused
by the tracer. There is therefore no dropout node to remove.
"""

from __future__ import annotations

from ...tensor.registry import COMPUTE
from ..ir import Graph, Node, Value
from .dead_code import eliminate_dead_code
from .rewrite import Forwarding, op_kind, permutation

__all__ = ["remove_identities"]


def _sizes_match(sizes: tuple, shape: tuple) -> bool:
    return len(sizes) == len(shape) and sum(s == -1 for s in sizes) <= 1 and all(
        s == -1 or s == d for s, d in zip(sizes, shape, strict=True))


def _only_size_one_moves(order: list[int], shape: tuple) -> bool:
    """Whether the permutation ``order`` keeps the dims of size other than 1 (symbolic sizes included) in order."""
    kept = [d for d in order if not (isinstance(shape[d], int) and shape[d] == 1)]
    return kept == sorted(kept)


def _is_identity_view(node: Node, x: Value) -> bool:
    shape, attrs = x.shape, node.attrs
    if node.op in ("view", "expand"):
        sizes = attrs.get("size")
        return isinstance(sizes, tuple | list) and _sizes_match(tuple(sizes), shape)
    if node.op == "squeeze":
        dims = attrs.get("dims")
        rank = len(shape)
        dims = tuple(range(rank)) if dims is None else (dims,) if isinstance(dims, int) else dims
        return all(isinstance(shape[d % rank], int) and shape[d % rank] != 1 for d in dims)
    if node.op in ("transpose", "permute"):
        return _only_size_one_moves(permutation(node), shape)
    return False


def _copies_freely(node: Node, x: Value, readers: list[Node]) -> bool:
    """``clone``/same-dtype ``cast`` whose readers only compute on the values."""
    if node.op == "cast" and node.attrs.get("dtype") is not x.dtype:
        return False
    return all(op_kind(reader) in (COMPUTE, None) for reader in readers)


def remove_identities(graph: Graph) -> Graph:
    """Forward the result of every identity node (see the module docstring) to its operand.

    Rewrites ``graph`` in place and returns it.
    """
    readers = graph.users()
    forwarding = Forwarding(graph)
    for node in graph.nodes:
        forwarding.apply(node)
        if not node.operands or not isinstance(node.operands[0], Value) or len(node.outputs) != 1:
            continue
        x, out = node.operands[0], node.output
        if out.dtype is not x.dtype or out.shape != x.shape:
            continue
        if node.op in ("clone", "cast"):
            identity = _copies_freely(node, x, readers.get(out, []))
        else:
            identity = _is_identity_view(node, x)
        if identity:
            forwarding.forward(out, x)
    forwarding.finish()
    return eliminate_dead_code(graph)
