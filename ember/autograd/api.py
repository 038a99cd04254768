"""``ember.autograd.backward`` / ``grad`` and the autograd methods of Tensor (``backward``, ``requires_grad``...)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..tensor.creation import ones_like, zeros_like
from ..tensor.tensor import Tensor, register_methods
from .engine import run_backward
from .graph import alias, meta_of


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _root_grads(outputs: list, grad_outputs: list) -> list:
    grads = []
    for i, out in enumerate(outputs):
        g = grad_outputs[i] if i < len(grad_outputs) else None
        if g is None:
            if out.numel() != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            if not out.dtype.is_floating_point:
                raise RuntimeError(f"grad can be implicitly created only for real scalar outputs but got {out.dtype}")
            g = ones_like(out)
        elif g._shape != out._shape:
            raise RuntimeError(f"Mismatch in shape: grad_output[{i}] has a shape of {list(g._shape)} and output[{i}] "
                               f"has a shape of {list(out._shape)}.")
        grads.append(g)
    return grads


def backward(tensors: Tensor | Sequence[Tensor], grad_tensors: Any = None, retain_graph: bool | None = None,
             create_graph: bool = False, inputs: Any = None) -> None:
    """Accumulate into the ``.grad`` of the graph's leaves the gradient of ``tensors`` (weighted by
    ``grad_tensors``). The graph is freed unless ``retain_graph`` (which defaults to ``create_graph``)."""
    outputs = _as_list(tensors)
    grads = _root_grads(outputs, _as_list(grad_tensors))
    run_backward(outputs, grads, retain_graph=create_graph if retain_graph is None else retain_graph,
                 create_graph=create_graph, inputs=_as_list(inputs) or None, accumulate=True, allow_unused=True)


def grad(outputs: Tensor | Sequence[Tensor], inputs: Tensor | Sequence[Tensor], grad_outputs: Any = None,
         retain_graph: bool | None = None, create_graph: bool = False, allow_unused: bool | None = None,
         materialize_grads: bool = False) -> tuple:
    """The gradients of ``outputs`` with respect to ``inputs``, returned rather than accumulated.

    Example::

        >>> x = ember.tensor([1.0, 2.0], requires_grad=True)
        >>> ember.autograd.grad((x ** 2).sum(), x)
        (tensor([2., 4.]),)
    """
    outs = _as_list(outputs)
    ins = _as_list(inputs)
    grads = _root_grads(outs, _as_list(grad_outputs))
    found = run_backward(outs, grads, retain_graph=create_graph if retain_graph is None else retain_graph,
                         create_graph=create_graph, inputs=ins, accumulate=False,
                         allow_unused=bool(allow_unused) or materialize_grads)
    if materialize_grads:
        found = [g if g is not None else zeros_like(x) for g, x in zip(found, ins, strict=True)]
    return tuple(found)


# ----- Tensor methods -------------------------------------------------------------------------------------
def _tensor_backward(self: Tensor, gradient: Tensor | None = None, retain_graph: bool | None = None,
                     create_graph: bool = False, inputs: Any = None) -> None:
    """Compute the gradient of this tensor with respect to the graph leaves (see :func:`ember.autograd.backward`)."""
    backward(self, gradient, retain_graph, create_graph, inputs)


def _get_requires_grad(self: Tensor) -> bool:
    m = self._autograd
    return m is not None and m.requires_grad


def _set_requires_grad(self: Tensor, value: bool) -> None:
    m = self._autograd
    if m is not None and m.grad_fn is not None:
        if not value:
            raise RuntimeError("you can only change requires_grad flags of leaf variables. If you want to use a "
                               "computed variable in a subgraph that doesn't require differentiation use "
                               "var_no_grad = var.detach().")
        return
    if value and not self._dtype.is_floating_point:
        raise RuntimeError("only Tensors of floating point dtype can require gradients")
    meta_of(self).requires_grad = bool(value)


def requires_grad_(self: Tensor, requires_grad: bool = True) -> Tensor:
    """Set ``requires_grad`` in place; returns self."""
    _set_requires_grad(self, requires_grad)
    return self


def _get_grad(self: Tensor) -> Tensor | None:
    m = self._autograd
    return None if m is None else m.grad


def _set_grad(self: Tensor, value: Tensor | None) -> None:
    if value is not None:
        if not isinstance(value, Tensor):
            raise TypeError(f"assigned grad expected to be a Tensor or None but got grad of {type(value).__name__}")
        if value._shape != self._shape:
            raise RuntimeError("assigned grad has data of a different size")
        if value._dtype is not self._dtype:
            raise RuntimeError("assigned grad has data of a different type")
    meta_of(self).grad = value


def _get_grad_fn(self: Tensor) -> Any:
    m = self._autograd
    return None if m is None else m.grad_fn


def _is_leaf(self: Tensor) -> bool:
    m = self._autograd
    return m is None or m.grad_fn is None


def retain_grad(self: Tensor) -> None:
    """Keep the ``.grad`` of this non-leaf tensor after backward."""
    import weakref

    m = self._autograd
    if m is None or not m.requires_grad:
        raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
    if m.grad_fn is None:
        return
    node = m.grad_fn
    if node.retained is None:
        node.retained = {}
    node.retained[m.output_nr] = weakref.ref(self)
    m.retains_grad = True


def _retains_grad(self: Tensor) -> bool:
    m = self._autograd
    return m is not None and m.retains_grad


def register_hook(self: Tensor, hook: Callable[[Tensor], Tensor | None]) -> Any:
    """Call ``hook(grad)`` when this tensor's gradient is computed; a returned tensor replaces the gradient."""
    m = self._autograd
    if m is None or not m.requires_grad:
        raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
    if m.grad_fn is None:
        if m.hooks is None:
            m.hooks = []
        hooks = m.hooks
    else:
        node = m.grad_fn
        if node.tensor_hooks is None:
            node.tensor_hooks = {}
        hooks = node.tensor_hooks.setdefault(m.output_nr, [])
    hooks.append(hook)
    return _HookHandle(hooks, hook)


class _HookHandle:
    def __init__(self, hooks: list, hook: Callable):
        self._hooks, self._hook = hooks, hook

    def remove(self) -> None:
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


def detach(self: Tensor) -> Tensor:
    """A tensor sharing this one's storage, cut from the graph (never requires grad)."""
    return alias(self)


def detach_(self: Tensor) -> Tensor:
    """Cut this tensor from the graph in place; it becomes a leaf that does not require grad."""
    if self._base is not None and self._autograd is not None and self._autograd.grad_fn is not None:
        raise RuntimeError("Can't detach views in-place. Use detach() instead.")
    self._autograd = None
    return self


def _get_data(self: Tensor) -> Tensor:
    return alias(self)


def _set_data(self: Tensor, value: Tensor) -> None:
    if not isinstance(value, Tensor):
        raise TypeError(f"data must be a Tensor, got {type(value).__name__}")
    self._storage, self._shape, self._stride, self._offset = value._storage, value._shape, value._stride, value._offset
    self._dtype, self._np, self._base = value._dtype, value._np, value._base


def _is_view(self: Tensor) -> bool:
    return self._base is not None


register_methods(
    backward=_tensor_backward,
    requires_grad=property(_get_requires_grad, _set_requires_grad),
    requires_grad_=requires_grad_,
    grad=property(_get_grad, _set_grad),
    grad_fn=property(_get_grad_fn),
    is_leaf=property(_is_leaf),
    retain_grad=retain_grad,
    retains_grad=property(_retains_grad),
    register_hook=register_hook,
    detach=detach,
    detach_=detach_,
    data=property(_get_data, _set_data),
    _is_view=_is_view,
)

__all__ = ["backward", "grad"]
