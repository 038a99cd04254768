"""Algebraic simplification: neutral elements, chains of views and reorderings, double negation.

* ``x * 1``, ``1 * x``, ``x + 0``, ``0 + x``, ``x - 0``, ``x / 1`` become ``x`` when the result has ``x``'s
  dtype and shape (``int_tensor * 1.0`` is a float tensor and stays). The neutral operand is a Python number
  (not a bool) or a constant tensor whose every element is it. As in every compiler that does this, ``x + 0``
  is taken as ``x`` although IEEE gives ``-0.0 + 0 = +0.0``; the values compare equal.
* ``view(view(x, a), b)`` becomes ``view(x, b)``: a view of a view reads the same memory in the same order.
* ``transpose``/``permute`` of a ``transpose``/``permute`` becomes one ``permute`` of the innermost operand, or
  that operand itself when the reorderings cancel.
* ``neg(neg(x))`` becomes ``x``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..ir import CONST, NODE, Graph, Node, Value
from .dead_code import eliminate_dead_code
from .rewrite import Forwarding, permutation

__all__ = ["simplify_algebra"]


def _is_number(x: Any, target: int) -> bool:
    """Whether ``x`` is the Python number ``target`` or a constant tensor filled with it."""
    if isinstance(x, int | float) and not isinstance(x, bool):
        return x == target
    if isinstance(x, Value) and x.kind == CONST:
        data = x.data.numpy()
        return data.dtype != np.bool_ and bool(np.all(data == target))
    return False


def _neutral_operand(node: Node) -> Value | None:
    """The operand that ``node`` returns unchanged when its other operand is neutral, else None."""
    if len(node.operands) != 2:
        return None
    a, b = node.operands
    if node.op == "mul":
        candidates = [(a, b), (b, a)]
    elif node.op == "add":
        # 0 + alpha * x is x only for alpha 1.
        candidates = [(a, b)] + ([(b, a)] if node.attrs.get("alpha", 1) == 1 else [])
    elif node.op == "sub" or node.op == "div" and node.attrs.get("rounding_mode") is None:
        candidates = [(a, b)]
    else:
        return None
    neutral = 1 if node.op in ("mul", "div") else 0
    for x, other in candidates:
        if isinstance(x, Value) and _is_number(other, neutral):
            return x
    return None


def _producer(x: Any, *ops: str) -> Node | None:
    """The node of op in ``ops`` that produced value ``x``, if any."""
    if isinstance(x, Value) and x.kind == NODE and x.node.op in ops:
        return x.node
    return None


def _simplify(node: Node, forwarding: Forwarding) -> None:
    out = node.output
    if node.op in ("mul", "add", "sub", "div"):
        x = _neutral_operand(node)
        if x is not None and x.dtype is out.dtype and x.shape == out.shape:
            forwarding.forward(out, x)
    elif node.op == "view":
        inner = _producer(node.operands[0], "view")
        if inner is not None:
            node.operands[0] = inner.operands[0]
    elif node.op in ("transpose", "permute"):
        inner = _producer(node.operands[0], "transpose", "permute")
        if inner is not None:
            first, second = permutation(inner), permutation(node)
            order = [first[d] for d in second]
            x = inner.operands[0]
            if order == sorted(order):
                forwarding.forward(out, x)
            else:
                node.op, node.operands, node.attrs = "permute", [x], {"dims": tuple(order)}
    elif node.op == "neg":
        inner = _producer(node.operands[0], "neg")
        if inner is not None:
            forwarding.forward(out, inner.operands[0])


def simplify_algebra(graph: Graph) -> Graph:
    """Apply the rewrites of the module docstring in one walk (chains of any length collapse, since each node
    sees its operands already simplified).

    Rewrites ``graph`` in place and returns it.
    """
    forwarding = Forwarding(graph)
    for node in graph.nodes:
        forwarding.apply(node)
        if len(node.outputs) == 1 and node.operands:
            _simplify(node, forwarding)
    forwarding.finish()
    return eliminate_dead_code(graph)
