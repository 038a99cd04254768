"""The backward engine: runs the recorded graph in topological order, without recursion.

Dependencies are counted in one iterative pass from the roots; a node runs once every gradient for its
outputs has arrived (summed in a buffer). Gradients are fitted to each input's shape (broadcast dims summed)
and dtype, as PyTorch's ``validate_outputs`` does, so formulas may return the broadcast gradient. Saved
tensors are freed node by node unless ``retain_graph``.
"""

from __future__ import annotations

import sys
import threading

import numpy as np

from ..tensor.creation import zeros
from ..tensor.tensor import Tensor
from .grad_mode import set_grad_enabled
from .graph import _FREED, AccumulateGrad, BackwardContext, Node, edge_of, flatten_grads


class _AnomalyState(threading.local):
    def __init__(self) -> None:
        self.enabled = False


ANOMALY = _AnomalyState()


def _apply(node: Node, grads: list) -> list:
    ctx = node.ctx
    if node.backward is None:
        raise RuntimeError(f"the derivative for '{node.name}' is not implemented.")
    if ctx is not None and getattr(ctx, "released", False) and ctx.has_saved_tensors():
        raise RuntimeError(_FREED)
    if isinstance(ctx, BackwardContext):
        return flatten_grads(node.backward(ctx, *grads), ctx)
    return list(node.backward(ctx, *grads))


def sum_to(grad: Tensor, shape: tuple) -> Tensor:
    """Sum ``grad`` over the dims broadcasting added to ``shape`` (the gradient of an expand)."""
    if grad._shape == shape:
        return grad
    lead = grad.dim() - len(shape)
    if lead < 0:
        return grad.reshape(shape)
    dims = list(range(lead)) + [lead + i for i, s in enumerate(shape) if s == 1 and grad._shape[lead + i] != 1]
    out = grad.sum(dim=dims, keepdim=True) if dims else grad
    return out.reshape(shape) if lead or out._shape != shape else out


def _fit(node: Node, index: int, grad: Tensor, target: tuple) -> Tensor:
    shape, dtype = target
    if not isinstance(grad, Tensor):
        raise TypeError(f"function {node.name_()} returned a {type(grad).__name__} gradient at index {index}")
    if grad._shape != shape:
        try:
            grad = sum_to(grad, shape)
        except RuntimeError:
            grad = None
        if grad is None or grad._shape != shape:
            raise RuntimeError(
                f"Function {node.name_()} returned an invalid gradient at index {index} - got "
                f"{list(grad._shape) if grad is not None else '?'} but expected shape compatible with {list(shape)}"
            ) from None
    if grad._dtype is not dtype:
        grad = grad.to(dtype)
    return grad


def _run_tensor_hooks(node: Node, grads: list) -> list:
    if node.tensor_hooks:
        for nr, hooks in node.tensor_hooks.items():
            for hook in hooks:
                if grads[nr] is not None:
                    replaced = hook(grads[nr])
                    if replaced is not None:
                        grads[nr] = replaced
    if node.retained:
        for nr, ref in node.retained.items():
            t = ref()
            if t is not None and grads[nr] is not None and t._autograd.grad_fn is node:
                m = t._autograd
                m.grad = grads[nr].detach().clone() if m.grad is None else m.grad + grads[nr].detach()
    return grads


def _unshared(grad: Tensor) -> bool:
    """Whether ``grad`` is a whole, contiguous CPU tensor outside any graph that only the engine holds, so a leaf
    may keep it as its ``.grad`` without a copy, as PyTorch's AccumulateGrad does. The reference counts allowed
    are the engine's own: its gradient list and the locals of ``_accumulate`` and of this function (tensor); the
    tensor's attribute (storage); the storage's and the tensor's cached view (array); plus getrefcount's
    argument each time."""
    data = grad._storage.data
    return (grad._autograd is None and grad._base is None and grad._offset == 0 and type(data) is np.ndarray
            and data.size == grad.numel() and grad.is_contiguous() and sys.getrefcount(grad) <= 4
            and sys.getrefcount(grad._storage) <= 2 and sys.getrefcount(data) <= (4 if grad._np is data else 3))


def _accumulate(leaf: Tensor, grad: Tensor, create_graph: bool) -> None:
    m = leaf._autograd
    for hook in m.hooks or ():
        replaced = hook(grad)
        if replaced is not None:
            grad = replaced
    if m.grad is None:
        # A fresh copy unless nothing else holds the gradient: formulas may hand the same tensor to several inputs
        # (add), which must not share a .grad.
        m.grad = grad if create_graph and grad._autograd is not None or _unshared(grad) else grad.detach().clone()
    elif create_graph:
        m.grad = m.grad + grad
    else:
        with set_grad_enabled(False):
            m.grad.add_(grad)


def _check_anomaly(node: Node, grads: list) -> None:
    for i, g in enumerate(grads):
        if isinstance(g, Tensor) and g._dtype.is_floating_point and bool(g.isnan().any()):
            raise RuntimeError(f"Function '{node.name_()}' returned nan values in its {i}th output.")


def run_backward(roots: list, grad_roots: list, *, retain_graph: bool, create_graph: bool,
                 inputs: list | None = None, accumulate: bool = True, allow_unused: bool = False) -> list | None:
    """Backpropagate ``grad_roots`` from ``roots``; accumulate into leaves' ``.grad`` or return input grads."""
    root_edges = []
    for i, t in enumerate(roots):
        e = edge_of(t)
        if e is None:
            raise RuntimeError(f"element {i} of tensors does not require grad and does not have a grad_fn")
        root_edges.append(e)
    capture: dict = {}
    for i, t in enumerate(inputs or ()):
        e = edge_of(t)
        if e is None:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
        capture[e] = i
    deps: dict = {}
    stack = list({e[0] for e in root_edges})
    seen = set(stack)
    while stack:
        for e in stack.pop().next_edges:
            if e is not None:
                child = e[0]
                deps[child] = deps.get(child, 0) + 1
                if child not in seen:
                    seen.add(child)
                    stack.append(child)
    buffers: dict = {}

    def add(node: Node, nr: int, grad: Tensor) -> None:
        buf = buffers.get(node)
        if buf is None:
            buf = buffers[node] = [None] * len(node.out_meta)
        buf[nr] = grad if buf[nr] is None else buf[nr] + grad

    for e, g in zip(root_edges, grad_roots, strict=True):
        add(e[0], e[1], _fit(e[0], 0, g, e[0].out_meta[e[1]]))
    results: list = [None] * len(inputs) if inputs is not None else []
    ready = [n for n in dict.fromkeys(e[0] for e in root_edges) if deps.get(n, 0) == 0]
    with set_grad_enabled(create_graph):
        while ready:
            node = ready.pop()
            grads = buffers.pop(node, None) or [None] * len(node.out_meta)
            if capture:
                for nr, g in enumerate(grads):
                    idx = capture.get((node, nr))
                    if idx is not None and g is not None:
                        results[idx] = g
            if type(node) is AccumulateGrad:
                if accumulate and grads[0] is not None and (inputs is None or (node, 0) in capture):
                    _accumulate(node.variable, grads[0], create_graph)
                continue
            if node.tensor_hooks or node.retained:
                grads = _run_tensor_hooks(node, grads)
            if len(grads) == 1:
                run = grads[0] is not None
            else:
                missing = [g is None for g in grads]
                run = not all(missing)
                if run and any(missing):
                    grads = [g if g is not None or not dt.is_floating_point else zeros(shape, dtype=dt)
                             for g, (shape, dt) in zip(grads, node.out_meta, strict=True)]
            if run:
                out = _apply(node, grads)
                if ANOMALY.enabled:
                    _check_anomaly(node, out)
                for i, (e, g) in enumerate(zip(node.next_edges, out, strict=False)):
                    if e is not None and g is not None:
                        child, nr = e
                        target = child.out_meta[nr]
                        if not isinstance(g, Tensor) or g._shape != target[0] or g._dtype is not target[1]:
                            g = _fit(node, i, g, target)
                        buf = buffers.get(child)
                        if buf is None:
                            buf = buffers[child] = [None] * len(child.out_meta)
                        buf[nr] = g if buf[nr] is None else buf[nr] + g
                # The buffers now hold the gradients alone, which lets a leaf keep a fresh one (_unshared).
                out = g = None
            if not retain_graph:
                node.release()
            for e in node.next_edges:
                if e is not None:
                    deps[e[0]] -= 1
                    if deps[e[0]] == 0:
                        ready.append(e[0])
    if inputs is not None and not allow_unused:
        for g in results:
            if g is None:
                raise RuntimeError(
                    "One of the differentiated Tensors appears to not have been used in the graph. "
                    "Set allow_unused=True if this is the desired behavior."
                )
    return results if inputs is not None else None
