"""Recording a forward pass into a :class:`~ember.jit.ir.Graph` through the dispatcher.

The model runs eagerly on the example inputs, so every value is computed exactly as in eager mode. A dispatch
hook records each primitive op as a node. Dynamic dims are ``SymInt`` sizes on the traced tensors, and every
shape rule keeps them symbolic. An escape hook refuses what would silently bake a traced value into the graph:
a traced tensor turned into a Python number, list or NumPy array, a count that depends on a dynamic size
(``len``, iteration), and random draws. Writes that a functional graph cannot replay (through views, into the
caller's inputs or the module's parameters) are refused too.
"""

from __future__ import annotations

import linecache
import os
import sys
from types import FrameType
from typing import Any

from ..tensor.dispatch import add_dispatch_hook
from ..tensor.registry import INPLACE, VIEW, Meta, OpDef
from ..tensor.tensor import Tensor, escape_hooks
from .ir import INPUT, PARAM, Graph, Value
from .symbolic import SymExpr, SymInt, free_symbols, guard_hooks

__all__ = ["TracingError", "Tracer", "is_ember_code", "symbolic_tensor", "to_ir", "user_location"]

_EMBER_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


# Escapes (see ember.tensor.tensor.escape_hooks) where the number of results, not a value, follows a dynamic size.
_COUNTS = ("len()", "unbind() or iteration", "split() along a dynamic dim into pieces of a fixed size",
           "tensor_split() along a dynamic dim into sections")


class TracingError(RuntimeError):
    """Tracing met something a static graph cannot represent faithfully; the message says what and where."""


def is_ember_code(frame: FrameType) -> bool:
    """Whether ``frame`` runs ember's own code (or the import machinery) rather than the user's."""
    filename = frame.f_code.co_filename
    return os.path.abspath(filename).startswith(_EMBER_DIR) or "importlib" in filename


def user_location() -> str:
    """``file:line (source)`` of the innermost caller outside the ember package."""
    frame = sys._getframe(1)
    while frame is not None and is_ember_code(frame):
        frame = frame.f_back
    if frame is None:
        return "<unknown location>"
    text = linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip()
    return f"{frame.f_code.co_filename}:{frame.f_lineno}" + (f" ({text})" if text else "")


def to_ir(value: Any) -> Any:
    """An operand or attribute as the graph stores it: ``SymInt`` sizes become their expressions."""
    if isinstance(value, SymInt):
        return value.expr
    if isinstance(value, tuple):
        return tuple(to_ir(v) for v in value)
    if isinstance(value, list):
        return [to_ir(v) for v in value]
    return value


def _dynamic_dims(shape: tuple) -> list[str]:
    return [str(d.expr) for d in shape if isinstance(d, SymInt)]


class Tracer:
    """Maps live tensors to graph values while a trace runs, and records dispatched ops as nodes."""

    _active: Tracer | None = None

    def __init__(self, graph: Graph):
        self.graph = graph
        # id(tensor) -> (tensor, value); the tensor is kept alive so that its id is not reused.
        self._values: dict[int, tuple[Tensor, Value]] = {}
        # ids of traced tensors whose memory an in-place op has since written through another tensor.
        self._stale: set[int] = set()
        self._constants: dict[int, tuple[Tensor, Value]] = {}
        # Values that depend on the inputs, the parameters or a dynamic size; the others are constants, which may
        # be turned into Python values freely.
        self._variable: set[Value] = set()
        self._handles: list = []
        self._paused = False

    # -- binding --------------------------------------------------------------------------------------
    def bind(self, tensor: Tensor, value: Value, variable: bool = True) -> None:
        self._values[id(tensor)] = (tensor, value)
        self._stale.discard(id(tensor))
        if variable:
            self._variable.add(value)

    def lookup(self, tensor: Tensor) -> Value | None:
        entry = self._values.get(id(tensor))
        if entry is not None and entry[0] is tensor:
            return entry[1]
        return None

    def value_of(self, tensor: Tensor) -> Value:
        """The graph value of ``tensor``: a traced value, or a new constant for a tensor made outside the trace."""
        value = self.lookup(tensor)
        if value is None:
            entry = self._constants.get(id(tensor))
            if entry is not None and entry[0] is tensor:
                return entry[1]
            value = self._alias_of(tensor)
        if value is not None:
            if id(tensor) in self._stale:
                raise TracingError(
                    f"a tensor used at {user_location()} shares memory with a tensor written in place earlier in "
                    "the trace; the graph cannot follow writes through views or aliases. Use the out-of-place op "
                    "(e.g. x = x.relu() instead of x.relu_()) or clone() before writing")
            return value
        if _dynamic_dims(tensor._shape):
            raise TracingError(
                f"a tensor of shape {list(tensor.shape)} with the dynamic sizes {_dynamic_dims(tensor._shape)} was "
                f"made outside ember's ops (used at {user_location()}); the graph cannot say how to build it. "
                "Make it with ember ops (torch.zeros(x.shape[0], ...), x.new_ones(...)) in the traced code")
        # Frozen now (the graph must not change if the tensor is modified after tracing), and not recorded.
        self._paused = True
        try:
            frozen = tensor.detach().clone()
        finally:
            self._paused = False
        value = self.graph.add_constant(frozen)
        self._constants[id(tensor)] = (tensor, value)
        return value

    def _alias_of(self, tensor: Tensor) -> Value | None:
        """The value of a traced tensor viewing exactly the same memory (``detach()``, ``.data``, a Parameter
        wrapping a traced tensor make such aliases without an op), bound to ``tensor`` from now on."""
        shape = to_ir(tensor._shape)
        for other, value in self._values.values():
            if (other._storage is tensor._storage and other._offset == tensor._offset and other._dtype is tensor._dtype
                    and other._stride == tensor._stride and to_ir(other._shape) == shape):
                self._values[id(tensor)] = (tensor, value)
                if id(other) in self._stale:
                    self._stale.add(id(tensor))
                return value
        return None

    def _operand(self, x: Any) -> Any:
        if isinstance(x, Tensor):
            return self.value_of(x)
        if type(x) in (list, tuple) and x and isinstance(x[0], Tensor):
            return [self.value_of(t) for t in x]
        return to_ir(x)

    # -- the hooks ------------------------------------------------------------------------------------
    def on_dispatch(self, op: OpDef, operands: tuple, attrs: dict, out: Any) -> None:
        if self._paused:
            return
        ir_operands = [self._operand(x) for x in operands]
        ir_attrs = {k: to_ir(v) for k, v in attrs.items()}
        outs = out if isinstance(out, tuple) else (out,)
        if op.kind != VIEW:
            # The eager result has the example's concrete shape; the rule, run again on the symbolic operands,
            # gives the sizes in terms of the symbols.
            meta = op.infer(*operands, **attrs)
            metas = (meta,) if type(meta) is Meta else meta
            for t, m in zip(outs, metas, strict=True):
                if m.shape is None:
                    raise TracingError(f"'{op.name}' at {user_location()} has an output shape that depends on the "
                                       "data (like nonzero, masked_select or indexing with a boolean mask); a "
                                       "static graph cannot represent it. Keep the shape fixed, e.g. "
                                       "torch.where(mask, x, 0) instead of x[mask]")
                t._shape = tuple(m.shape)
        if op.kind == INPLACE:
            if op.writes != (0,):
                # A graph node has one result per output; an op that also updates state beside its first operand
                # (an optimizer step's moments) has no SSA form, and replaying it would read stale state.
                raise TracingError(f"'{op.name}' at {user_location()} updates several tensors in place (operands "
                                   f"{list(op.writes)}); a traced graph cannot express that. Trace the model's "
                                   "forward, not the optimizer step")
            self._write_in_place(op, operands[0])
        node = self.graph.add_node(op.name, ir_operands, ir_attrs, [(t.dtype, to_ir(tuple(t._shape))) for t in outs])
        # A result is variable when an operand is, or when a size it is made with is dynamic (zeros(x.shape[0])).
        variable = (any(v in self._variable for v in node.input_values())
                    or bool(free_symbols([node.operands, list(node.attrs.values())])))
        for t, v in zip(outs, node.outputs, strict=True):
            self.bind(t, v, variable)

    def _write_in_place(self, op: OpDef, target: Tensor) -> None:
        value = self.lookup(target)
        if value is None:
            return
        if value.kind in (INPUT, PARAM):
            what = "input" if value.kind == INPUT else "parameter or buffer"
            raise TracingError(
                f"'{op.name}' at {user_location()} writes in place into the {what} '{value.name}'; a traced graph is "
                "a function of its inputs and never writes to them (a BatchNorm in training mode updates its "
                "running statistics so: use eval()). Use the out-of-place op (x = x + 1 instead of x += 1)")
        if target._base is not None and self.lookup(target._base) is not None:
            raise TracingError(f"'{op.name}' at {user_location()} writes in place through a view of a traced "
                               "tensor (like x[:, 0] = 1); the graph cannot follow it. Build the result with "
                               "out-of-place ops (torch.cat, torch.where, masked_fill) instead")
        storage = target._storage
        for other, _ in self._values.values():
            if other is not target and other._storage is storage:
                self._stale.add(id(other))

    def on_escape(self, tensor: Tensor | None, what: str) -> None:
        if tensor is None and what == "random numbers":
            raise TracingError(
                f"random numbers were drawn at {user_location()} while tracing; the graph would replay this "
                "example's numbers on every call. Put the model in eval() mode (dropout) or pass random tensors "
                "as inputs")
        if tensor is None:
            raise TracingError(f"{what} at {user_location()} would bake this example's size into the graph; make "
                               "the tensor with ember ops (ember.full((), n), ember.stack([...]))")
        value = self.lookup(tensor) or self._alias_of(tensor)
        if value not in self._variable:
            return
        if what in _COUNTS:
            raise TracingError(
                f"{what} at {user_location()}, on a traced tensor of shape {list(tensor.shape)}, depends on a dynamic "
                "size, which Python turns into this example's number; the graph would bake it in. Use x.shape[d] "
                "for sizes, tensor ops over the whole dim (x.sum(0)) instead of a loop, and explicit split sizes "
                "(x.split([n, x.shape[0] - n]))")
        raise TracingError(
            f"a traced tensor was converted by {what} at {user_location()}; the graph would bake in this "
            "example's value. Keep the computation in tensor ops (torch.where instead of if, x.shape[0] instead "
            "of int(x.sum()), tensor arithmetic instead of item())")

    # -- activation -----------------------------------------------------------------------------------
    def __enter__(self) -> Tracer:
        if Tracer._active is not None:
            raise TracingError(f"ember.jit.trace was called at {user_location()} while another trace runs; traces "
                               "cannot be nested (call a TracedModule inside the traced code instead)")
        Tracer._active = self
        self._handles.append(add_dispatch_hook(self.on_dispatch))
        escape_hooks.append(self.on_escape)
        guard_hooks.append(self.graph.assume)
        return self

    def __exit__(self, *exc: Any) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        escape_hooks.remove(self.on_escape)
        guard_hooks.remove(self.graph.assume)
        Tracer._active = None


def symbolic_tensor(tensor: Tensor, shape: tuple) -> Tensor:
    """A tensor sharing ``tensor``'s memory whose shape holds ``SymInt`` sizes where ``shape`` has expressions."""
    sizes = tuple(SymInt(int(n), d) if isinstance(d, SymExpr) else int(n)
                  for n, d in zip(tensor._shape, shape, strict=True))
    return Tensor._make(tensor._storage, sizes, tensor._stride, tensor._offset, tensor._dtype)
