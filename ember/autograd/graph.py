"""The recorded graph: per-tensor autograd metadata, nodes, saved tensors, and the recorder the dispatcher calls.

A tensor that takes part in autograd carries an :class:`AutogradMeta` (``Tensor._autograd``; None for plain
tensors, which keeps the eager path free of autograd costs). An op on a tensor that requires grad gets a
:class:`Node` holding its op's backward formula (``OpDef.backward``, written in the op's own module), a
:class:`BackwardContext` with what the formula saved, and one edge per tensor operand to the operand's own
node (or to the :class:`AccumulateGrad` of a leaf). Outputs are saved without their grad_fn and re-attached
through a weak reference, so the graph holds no reference cycles and is freed by reference counting.
"""

from __future__ import annotations

import weakref
from typing import Any

from ..tensor import dtypes
from ..tensor.registry import INPLACE, VIEW, OpDef
from ..tensor.tensor import Tensor
from .grad_mode import STATE

_FREED = (
    "Trying to backward through the graph a second time (or directly access saved tensors after they have "
    "already been freed). Saved intermediate values of the graph are freed when you call .backward() or "
    "autograd.grad(). Specify retain_graph=True if you need to backward through the graph a second time or "
    "if you need to access saved tensors after calling backward."
)


class AutogradMeta:
    """Autograd state of one tensor: ``requires_grad``, ``grad``, ``grad_fn`` and ``output_nr`` (which output of
    grad_fn it is), tensor hooks, ``retains_grad``, and a weak reference to a leaf's accumulator."""

    __slots__ = ("requires_grad", "grad", "grad_fn", "output_nr", "retains_grad", "hooks", "accumulator")

    def __init__(self, requires_grad: bool = False, grad_fn: Node | None = None, output_nr: int = 0):
        self.requires_grad = requires_grad
        self.grad = None
        self.grad_fn = grad_fn
        self.output_nr = output_nr
        self.retains_grad = False
        self.hooks: list | None = None
        self.accumulator: weakref.ref | None = None


def meta_of(t: Tensor) -> AutogradMeta:
    """The tensor's AutogradMeta, created on first use."""
    m = t._autograd
    if m is None:
        m = t._autograd = AutogradMeta()
    return m


def requires_grad(t: Any) -> bool:
    return isinstance(t, Tensor) and t._autograd is not None and t._autograd.requires_grad


def node_name(op_name: str) -> str:
    """PyTorch's node name for an op: ``log_softmax`` records as ``LogSoftmaxBackward0``."""
    return "".join(part[:1].upper() + part[1:] for part in op_name.strip("_").split("_")) + "Backward0"


class Node:
    """One recorded op: its backward function and an edge ``(node, output_nr)`` (or None) per tensor input.

    ``out_meta`` gives (shape, dtype) per output, so undefined output grads can be materialised as zeros.
    """

    __slots__ = ("name", "backward", "ctx", "next_edges", "out_meta", "tensor_hooks", "retained", "__weakref__")

    def __init__(self, name: str, backward: Any, ctx: Any, next_edges: list, out_meta: list):
        self.name = name
        self.backward = backward
        self.ctx = ctx
        self.next_edges = next_edges
        self.out_meta = out_meta
        self.tensor_hooks: dict | None = None
        self.retained: dict | None = None

    def __repr__(self) -> str:
        return f"<{self.name_()}>"

    def name_(self) -> str:
        return node_name(self.name)

    @property
    def next_functions(self) -> tuple:
        return tuple((e[0], e[1]) if e is not None else (None, 0) for e in self.next_edges)

    def release(self) -> None:
        if self.ctx is not None:
            self.ctx.release()


class AccumulateGrad(Node):
    """The node of a leaf: it runs the leaf's hooks and adds the incoming gradient into ``leaf.grad``."""

    __slots__ = ("variable",)

    def __init__(self, variable: Tensor):
        super().__init__("AccumulateGrad", None, None, [], [(variable._shape, variable._dtype)])
        self.variable = variable

    def __repr__(self) -> str:
        return "<AccumulateGrad>"


def leaf_edge(t: Tensor) -> tuple:
    m = meta_of(t)
    acc = m.accumulator() if m.accumulator is not None else None
    if acc is None:
        acc = AccumulateGrad(t)
        m.accumulator = weakref.ref(acc)
    return (acc, 0)


def edge_of(t: Any) -> tuple | None:
    """The graph edge a gradient for tensor ``t`` flows along, or None when ``t`` does not require grad."""
    if not isinstance(t, Tensor):
        return None
    m = t._autograd
    if m is None or not m.requires_grad:
        return None
    if m.grad_fn is not None:
        return (m.grad_fn, m.output_nr)
    return leaf_edge(t)


class SavedTensor:
    """A tensor saved for backward with its version; unpacking after an in-place change raises PyTorch's error.

    Outputs are saved as detached aliases plus a weak reference to their grad_fn (no cycle); unpacking
    re-attaches it, so formulas that use their output stay differentiable for double backward.
    """

    __slots__ = ("data", "version", "grad_fn", "output_nr", "requires_grad", "op_name")

    def __init__(self, t: Tensor, op_name: str, is_output: bool):
        self.version = t._storage.version
        self.op_name = op_name
        m = t._autograd
        self.requires_grad = m is not None and m.requires_grad
        if is_output:
            self.data = alias(t)
            self.grad_fn = weakref.ref(m.grad_fn) if m is not None and m.grad_fn is not None else None
            self.output_nr = m.output_nr if m is not None else 0
        else:
            self.data, self.grad_fn, self.output_nr = t, None, 0

    def unpack(self) -> Tensor:
        t = self.data
        if t is None:
            raise RuntimeError(_FREED)
        if t._storage.version != self.version:
            raise RuntimeError(
                "one of the variables needed for gradient computation has been modified by an inplace operation: "
                f"[ember.{_TYPE_NAMES[t._dtype]} {list(t._shape)}], which is used by {node_name(self.op_name)}, "
                f"is at version {t._storage.version}; expected version {self.version} instead. Hint: the "
                "backtrace further above can show the operation that failed to compute its gradient."
            )
        if self.grad_fn is not None:
            node = self.grad_fn()
            if node is not None:
                out = alias(t)
                out._autograd = AutogradMeta(self.requires_grad, node, self.output_nr)
                return out
        return t

    def release(self) -> None:
        self.data = None


_TYPE_NAMES = {dtypes.float32: "FloatTensor", dtypes.float64: "DoubleTensor", dtypes.float16: "HalfTensor",
               dtypes.bfloat16: "BFloat16Tensor", dtypes.int64: "LongTensor", dtypes.int32: "IntTensor",
               dtypes.int16: "ShortTensor", dtypes.int8: "CharTensor", dtypes.uint8: "ByteTensor",
               dtypes.bool: "BoolTensor"}


def alias(t: Tensor) -> Tensor:
    """A new tensor object on the same window and storage, without autograd state (``detach``)."""
    out = Tensor._make(t._storage, t._shape, t._stride, t._offset, t._dtype)
    out._np = t._np
    out._base = t._base
    return out


class BackwardContext:
    """What a backward formula sees: ``attrs``, the saved operands (``input(i)``), the outputs (``out``/``outs``),
    the shapes and dtypes of every tensor operand (``shape(i)``, ``dtype(i)``) and ``needs_input_grad``."""

    __slots__ = ("attrs", "_saved", "_outputs", "_metas", "needs_input_grad", "released", "op_name")

    def __init__(self, op: OpDef, operands: tuple, attrs: dict, outs: tuple):
        self.op_name = op.name
        self.attrs = attrs
        self.released = False
        always, pairs, save_out = _save_plan(op)
        metas: list = []
        needs: list = []
        for value in operands:
            if isinstance(value, Tensor):
                metas.append((value._shape, value._dtype, value._stride, value._offset))
                m = value._autograd
                needs.append(m is not None and m.requires_grad)
            else:
                metas.append(_operand_meta(value))
                needs.append(_any_requires_grad(value))
        self._metas = metas
        self.needs_input_grad = tuple(needs)
        # A pair (i, j) saves operand i only when operand j needs a gradient, so `h / 3.0` does not keep h (and a
        # later in-place change of h does not break backward, as in PyTorch).
        saves = always if not pairs else always | {i for i, j in pairs if needs[j]}
        saved: list = []
        for i, value in enumerate(operands):
            if i in saves:
                saved.append(_save(value, op.name))
            else:
                saved.append(None if metas[i] is not None else value)
        self._saved = saved
        self._outputs = [SavedTensor(o, op.name, True) for o in outs] if save_out else None

    def input(self, i: int) -> Any:
        value = self._saved[i]
        if isinstance(value, SavedTensor):
            return value.unpack()
        if isinstance(value, list) and value and isinstance(value[0], SavedTensor):
            return [v.unpack() for v in value]
        if value is None and self._metas[i] is not None:
            raise RuntimeError(f"internal error: {self.op_name}'s backward reads operand {i}, which it did not save")
        return value

    def shape(self, i: int) -> Any:
        meta = self._metas[i]
        return [m[0] for m in meta] if isinstance(meta, list) else meta[0]

    def dtype(self, i: int) -> Any:
        meta = self._metas[i]
        return [m[1] for m in meta] if isinstance(meta, list) else meta[1]

    def geometry(self, i: int) -> tuple:
        """(shape, stride, storage offset) of tensor operand ``i``: as_strided's gradient depends on where the
        input lay in its storage (PyTorch saves its ``TensorGeometry``), not on its values."""
        meta = self._metas[i]
        return meta[0], meta[2], meta[3]

    @property
    def out(self) -> Tensor:
        return self.outs[0]

    @property
    def outs(self) -> list:
        if self._outputs is None:
            raise RuntimeError(f"internal error: {self.op_name}'s backward reads its output, which it did not save")
        return [o.unpack() for o in self._outputs]

    def output(self, k: int) -> Tensor:
        """Output ``k`` alone: a formula reading one output (sort's indices) must not fail when another one (the
        values) was changed in place, which PyTorch allows."""
        if self._outputs is None:
            raise RuntimeError(f"internal error: {self.op_name}'s backward reads its output, which it did not save")
        return self._outputs[k].unpack()

    def release(self) -> None:
        self.released = True
        for value in self._saved:
            if isinstance(value, SavedTensor):
                value.release()
            elif isinstance(value, list):
                for v in value:
                    if isinstance(v, SavedTensor):
                        v.release()
        for o in self._outputs or ():
            o.release()

    def has_saved_tensors(self) -> bool:
        return self._outputs is not None or any(
            isinstance(v, SavedTensor) or isinstance(v, list) and v and isinstance(v[0], SavedTensor)
            for v in self._saved
        )


def flatten_grads(result: Any, ctx: BackwardContext) -> list:
    """An op formula's per-operand result as one gradient per tensor edge (lists of tensors flattened)."""
    if not isinstance(result, tuple | list) or (result and isinstance(result, list) and len(ctx._metas) == 1
                                                 and isinstance(ctx._metas[0], list)):
        result = (result,)
    flat: list = []
    for i, meta in enumerate(ctx._metas):
        if meta is None:
            continue
        g = result[i] if i < len(result) else None
        if isinstance(meta, list):
            flat.extend(g if g is not None else [None] * len(meta))
        else:
            flat.append(g)
    return flat


_SAVE_PLANS: dict = {}


def _save_plan(op: OpDef) -> tuple:
    """``op.saves`` split once per op into (operands always saved, conditional pairs, whether outputs are)."""
    plan = _SAVE_PLANS.get(op)
    if plan is None:
        always = frozenset(s for s in op.saves if type(s) is int)
        pairs = tuple(s for s in op.saves if type(s) is tuple)
        plan = _SAVE_PLANS[op] = (always, pairs, "out" in op.saves)
    return plan


def _operand_meta(value: Any) -> Any:
    if isinstance(value, Tensor):
        return (value._shape, value._dtype, value._stride, value._offset)
    if isinstance(value, list | tuple) and value and isinstance(value[0], Tensor):
        return [(v._shape, v._dtype) for v in value]
    return None


def _any_requires_grad(value: Any) -> bool:
    if isinstance(value, list | tuple):
        return any(requires_grad(v) for v in value)
    return requires_grad(value)


def _save(value: Any, op_name: str) -> Any:
    if isinstance(value, Tensor):
        return SavedTensor(value, op_name, False)
    if isinstance(value, list | tuple) and value and isinstance(value[0], Tensor):
        return [SavedTensor(v, op_name, False) for v in value]
    return value


def collect_edges(operands: tuple) -> list:
    """One edge per tensor in ``operands`` (lists of tensors flattened), in order."""
    edges = []
    for value in operands:
        if isinstance(value, Tensor):
            edges.append(edge_of(value))
        elif isinstance(value, list | tuple) and value and isinstance(value[0], Tensor):
            edges.extend(edge_of(v) for v in value)
    return edges


def check_inplace(op: OpDef, operands: tuple) -> None:
    """PyTorch refuses in-place writes into a leaf that requires grad (and views of one) while grad mode is on."""
    if not STATE.grad_enabled:
        return
    target = operands[0]
    root = target._base if target._base is not None else target
    if requires_grad(root) and root._autograd.grad_fn is None:
        kind = "a view of a leaf Variable" if root is not target else "a leaf Variable"
        raise RuntimeError(f"{kind} that requires grad is being used in an in-place operation.")


def record(op: OpDef, operands: tuple, attrs: dict, out: Any) -> None:
    """Attach the graph for one dispatched op whose operands include a tensor that requires grad."""
    if not STATE.grad_enabled:
        return
    if op.kind == INPLACE:
        record_inplace(op, operands, attrs, out)
        return
    outs = out if isinstance(out, tuple) else (out,)
    differentiable = [o.dtype.is_floating_point for o in outs]
    if not any(differentiable):
        return
    edges = collect_edges(operands)
    if all(e is None for e in edges):
        return
    node = Node(op.name, op.backward, None, edges, [(o._shape, o._dtype) for o in outs])
    for k, o in enumerate(outs):
        if differentiable[k]:
            o._autograd = AutogradMeta(True, node, k)
    node.ctx = BackwardContext(op, operands, attrs, outs) if op.backward is not None else None
    if op.kind == VIEW and op.backward is None:
        raise RuntimeError(f"internal error: view op '{op.name}' has no backward formula")


# Imported last: inplace.py builds on the classes above.
from .inplace import record_inplace  # noqa: E402
