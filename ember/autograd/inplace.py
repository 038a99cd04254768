"""Autograd of in-place ops: rebasing a tensor's history, and ``CopySlices`` for writes through views.

An in-place op (``copy_``, ``fill_``, ``index_put_``; the ``add_``-style methods are ``copy_`` of an
out-of-place result) gives its target a new grad_fn whose edges lead to the target's old history and to the
other operands. When the target is a view, the write changes its base too: as in PyTorch, the base gets a
``CopySlices`` node that routes the gradient of the written window through the op's formula and the rest of
the base's gradient to its old history, and the view's history becomes "a window of the new base".
Windows are (shape, stride, offset) in storage elements, so any view (slices, transposes, diagonals) works.
"""

from __future__ import annotations

from typing import Any

from ..tensor.creation import zeros
from ..tensor.tensor import Tensor
from .graph import AutogradMeta, BackwardContext, Node, collect_edges, edge_of, flatten_grads


class _WindowContext:
    """Geometry shared by CopySlices and the view's new history: both windows into one storage."""

    __slots__ = ("op_node", "base_window", "view_window", "storage_size", "released")

    def __init__(self, op_node: Node | None, base: Tensor, view: Tensor):
        self.op_node = op_node
        self.base_window = (base._shape, base._stride, base._offset)
        self.view_window = (view._shape, view._stride, view._offset)
        self.storage_size = len(base._storage)
        self.released = False

    def release(self) -> None:
        if self.op_node is not None:
            self.op_node.release()
        self.released = True

    def has_saved_tensors(self) -> bool:
        return self.op_node is not None and self.op_node.ctx is not None and self.op_node.ctx.has_saved_tensors()

    def scratch(self, grad: Tensor) -> Tensor:
        return zeros(self.storage_size, dtype=grad.dtype)

    @staticmethod
    def window(full: Tensor, window: tuple) -> Tensor:
        shape, stride, offset = window
        return full.as_strided(shape, stride, offset)


def _copy_slices_backward(ctx: _WindowContext, grad_base: Tensor) -> list:
    full = ctx.scratch(grad_base)
    ctx.window(full, ctx.base_window).copy_(grad_base)
    grad_view = ctx.window(full, ctx.view_window).clone()
    op_node = ctx.op_node
    results = flatten_grads(op_node.backward(op_node.ctx, grad_view), op_node.ctx)
    grad_view_old = results[0]
    view_of_full = ctx.window(full, ctx.view_window)
    if grad_view_old is None:
        view_of_full.zero_()
    else:
        view_of_full.copy_(grad_view_old)
    return [ctx.window(full, ctx.base_window).clone(), *results[1:]]


def _window_backward(ctx: _WindowContext, grad_view: Tensor) -> list:
    full = ctx.scratch(grad_view)
    ctx.window(full, ctx.view_window).copy_(grad_view)
    return [ctx.window(full, ctx.base_window).clone()]


def record_inplace(op: Any, operands: tuple, attrs: dict, target: Tensor) -> None:
    """Give ``target`` (and its base, for a view) the history of in-place ``op``."""
    if not target._dtype.is_floating_point:
        return
    edges = collect_edges(operands)
    base = target._base
    if all(e is None for e in edges) and (base is None or edge_of(base) is None):
        return
    node = Node(op.name, op.backward, None, edges, [(target._shape, target._dtype)])
    if op.backward is not None:
        node.ctx = BackwardContext(op, operands, attrs, (target,))
    if base is None:
        _rebase(target, node)
        return
    window = _WindowContext(node, base, target)
    copy_slices = Node("CopySlices", _copy_slices_backward, window, [edge_of(base), *edges[1:]],
                       [(base._shape, base._dtype)])
    _rebase(base, copy_slices)
    as_window = Node("AsStrided", _window_backward, _WindowContext(None, base, target), [(copy_slices, 0)],
                     [(target._shape, target._dtype)])
    _rebase(target, as_window)


def _rebase(t: Tensor, node: Node) -> None:
    m = t._autograd
    if m is None:
        t._autograd = AutogradMeta(True, node, 0)
        return
    m.requires_grad = True
    m.grad_fn = node
    m.output_nr = 0
    m.accumulator = None

