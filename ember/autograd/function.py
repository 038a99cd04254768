"""``ember.autograd.Function``: custom ops with a hand-written forward and backward."""

from __future__ import annotations

from typing import Any

from ..tensor.tensor import Tensor
from .grad_mode import STATE, no_grad
from .graph import AutogradMeta, Node, SavedTensor, edge_of, requires_grad


class FunctionCtx:
    """The ``ctx`` of a custom Function: ``save_for_backward``, ``saved_tensors``, ``needs_input_grad``,
    ``mark_non_differentiable``, ``set_materialize_grads``; any other attribute may be set freely."""

    def __init__(self) -> None:
        self._saved: list | None = None
        self._non_differentiable: set = set()
        self.needs_input_grad: tuple = ()
        self.materialize_grads = True
        self.released = False

    def save_for_backward(self, *tensors: Tensor | None) -> None:
        self._saved = [SavedTensor(t, "Function", False) if isinstance(t, Tensor) else t for t in tensors]

    @property
    def saved_tensors(self) -> tuple:
        if self._saved is None:
            return ()
        return tuple(t.unpack() if isinstance(t, SavedTensor) else t for t in self._saved)

    def mark_non_differentiable(self, *tensors: Tensor) -> None:
        self._non_differentiable.update(id(t) for t in tensors)

    def mark_dirty(self, *tensors: Tensor) -> None:
        """Accepted for compatibility: in-place changes bump version counters on their own."""

    def set_materialize_grads(self, value: bool) -> None:
        """Accepted for compatibility: the engine always passes zeros for outputs that got no gradient."""
        self.materialize_grads = bool(value)

    def release(self) -> None:
        self.released = True
        for t in self._saved or ():
            if isinstance(t, SavedTensor):
                t.release()

    def has_saved_tensors(self) -> bool:
        return bool(self._saved) and any(isinstance(t, SavedTensor) for t in self._saved)


class Function:
    """Base class for custom differentiable ops.

    Subclasses define ``forward(ctx, *args)`` and ``backward(ctx, *grad_outputs)`` as static methods and are
    called through ``apply``; ``backward`` returns one gradient per ``forward`` argument (None where there is
    none).

    Example::

        >>> class Square(ember.autograd.Function):
        ...     @staticmethod
        ...     def forward(ctx, x):
        ...         ctx.save_for_backward(x)
        ...         return x * x
        ...     @staticmethod
        ...     def backward(ctx, grad):
        ...         (x,) = ctx.saved_tensors
        ...         return 2 * x * grad
    """

    @staticmethod
    def forward(ctx: FunctionCtx, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("You must implement the forward function for custom autograd.Function.")

    @staticmethod
    def backward(ctx: FunctionCtx, *grad_outputs: Any) -> Any:
        raise NotImplementedError("You must implement either the backward or vjp method for your custom "
                                  "autograd.Function to use it with backward mode AD.")

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        ctx = FunctionCtx()
        ctx.needs_input_grad = tuple(requires_grad(a) for a in args)
        with no_grad():
            result = cls.forward(ctx, *args, **kwargs)
        outs = result if isinstance(result, tuple) else (result,)
        if not (STATE.grad_enabled and any(ctx.needs_input_grad)):
            return result
        tensor_positions = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        edges = [edge_of(args[i]) for i in tensor_positions]
        out_meta = [(o._shape, o._dtype) if isinstance(o, Tensor) else ((), None) for o in outs]

        def run_backward(fctx: FunctionCtx, *grads: Any) -> list:
            found = cls.backward(fctx, *grads)
            found = found if isinstance(found, tuple) else (found,)
            if len(found) != len(args):
                raise RuntimeError(f"function {cls.__name__}Backward returned an incorrect number of gradients "
                                   f"(expected {len(args)}, got {len(found)})")
            return [found[i] for i in tensor_positions]

        node = Node(cls.__name__, run_backward, ctx, edges, out_meta)
        wrapped = []
        for k, o in enumerate(outs):
            if isinstance(o, Tensor) and o._dtype.is_floating_point and id(o) not in ctx._non_differentiable:
                if any(o is a for a in args):
                    o = o.view_as(o)
                o._autograd = AutogradMeta(True, node, k)
            wrapped.append(o)
        return tuple(wrapped) if isinstance(result, tuple) else wrapped[0]
