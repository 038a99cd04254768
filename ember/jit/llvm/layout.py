"""Where each value's elements lie: a storage, an element offset and strides, all as size expressions.

View ops produce no code: their result is a new window (offset, shape, strides) on their base's storage,
computed here from the same rules as eager views (``ember/tensor/ops/views.py``), but over expressions of the
graph's symbols. Kernels then read through the strides (a broadcast dim has stride 0).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ...tensor.ops.indexing import FULL_SLICE
from ...tensor.ops.views import chunk_strides
from ...tensor.registry import OPS, VIEW
from ...tensor.shape_rules import wrap_dim, wrap_dims
from ..ir import Node
from ..symbolic import SymExpr
from .codegen import unsupported

__all__ = ["Layout", "VIEW_OPS", "contiguous_strides", "is_contiguous", "view_layout"]


@dataclass(frozen=True)
class Layout:
    """A value's window on a storage: ``storage`` names the buffer (see ``lower.py``), ``offset`` and
    ``strides`` count elements."""

    storage: tuple
    offset: object
    shape: tuple
    strides: tuple


def contiguous_strides(shape: tuple) -> tuple:
    """Row-major strides of ``shape`` (ints or expressions)."""
    strides = []
    running = 1
    for size in reversed(shape):
        strides.append(running)
        running = running * size
    return tuple(reversed(strides))


def is_contiguous(layout: Layout) -> bool:
    """Whether the layout is row-major with no gaps (dims of size 1 may have any stride)."""
    expected = contiguous_strides(layout.shape)
    return all(size == 1 or stride == want for size, stride, want in zip(layout.shape, layout.strides, expected,
                                                                          strict=True))


def _view(base: Layout, node: Node, shape: tuple, _hints: Mapping[str, int]) -> tuple:
    if is_contiguous(base):
        return contiguous_strides(shape), base.offset
    strides = chunk_strides(tuple(base.shape), tuple(base.strides), tuple(shape))
    if strides is None:
        raise unsupported(node.op, "a view of a non-contiguous tensor whose strides are not provably a view for "
                                   "every value of the symbols")
    return strides, base.offset




def _permute(base: Layout, node: Node, shape: tuple, _hints: Mapping[str, int]) -> tuple:
    n = len(base.shape)
    order = [wrap_dim(d, n) for d in node.attrs["dims"]]
    return tuple(base.strides[d] for d in order), base.offset


def _transpose(base: Layout, node: Node, shape: tuple, _hints: Mapping[str, int]) -> tuple:
    n = len(base.shape)
    a, b = wrap_dim(node.attrs["dim0"], n), wrap_dim(node.attrs["dim1"], n)
    strides = list(base.strides)
    strides[a], strides[b] = strides[b], strides[a]
    return tuple(strides), base.offset


def _squeeze(base: Layout, node: Node, shape: tuple, _hints: Mapping[str, int]) -> tuple:
    dims = node.attrs["dims"]
    drop = set(range(len(base.shape))) if dims is None else set(wrap_dims(dims, len(base.shape)))
    keep = [i for i, s in enumerate(base.shape) if not (s == 1 and i in drop)]
    return tuple(base.strides[i] for i in keep), base.offset


def _unsqueeze(base: Layout, node: Node, shape: tuple, _hints: Mapping[str, int]) -> tuple:
    d = wrap_dim(node.attrs["dim"], len(base.shape) + 1)
    new_stride = 1 if d >= len(base.shape) else base.shape[d] * base.strides[d]
    return base.strides[:d] + (new_stride,) + base.strides[d:], base.offset


def _expand(base: Layout, node: Node, shape: tuple, _hints: Mapping[str, int]) -> tuple:
    lead = len(shape) - len(base.shape)
    strides = [0] * lead
    for size, base_size, stride in zip(shape[lead:], base.shape, base.strides, strict=True):
        strides.append(stride if size == base_size else 0)
    return tuple(strides), base.offset


def _position(index, size, hints: Mapping[str, int]):
    """An index into a dim of ``size`` counted from the start: a negative one counts from the end. A symbolic
    index has the sign it had when traced (``hints``: the symbols' traced values); the trace's guards keep it so
    at every call, since the view rule compared it with 0."""
    value = index.evaluate(hints) if isinstance(index, SymExpr) else index
    return index + size if value < 0 else index


def _narrow(base: Layout, node: Node, shape: tuple, hints: Mapping[str, int]) -> tuple:
    d = wrap_dim(node.attrs["dim"], len(base.shape))
    return base.strides, base.offset + _position(node.attrs["start"], base.shape[d], hints) * base.strides[d]


def _select(base: Layout, node: Node, shape: tuple, hints: Mapping[str, int]) -> tuple:
    d = wrap_dim(node.attrs["dim"], len(base.shape))
    index = _position(node.attrs["index"], base.shape[d], hints)
    return base.strides[:d] + base.strides[d + 1:], base.offset + index * base.strides[d]


def _basic_index(base: Layout, node: Node, shape: tuple, hints: Mapping[str, int]) -> tuple:
    # Sizes come from the graph (the output shape); here only where each kept dim starts and how it steps.
    strides, offset, dim = [], base.offset, 0
    for item in node.attrs["spec"]:
        if item is None:
            strides.append(base.shape[dim] * base.strides[dim] if dim < len(base.shape) else 1)
            continue
        size, stride = base.shape[dim], base.strides[dim]
        if isinstance(item, int | SymExpr):  # an index (a symbolic one is a SymExpr)
            offset = offset + _position(item, size, hints) * stride
        elif item is FULL_SLICE:
            strides.append(stride)
        else:
            start, _, step = item
            start = 0 if start is None else _position(start, size, hints)
            strides.append(stride * step)
            offset = offset + start * stride
        dim += 1
    return tuple(strides) + tuple(base.strides[dim:]), offset


# view op -> rule(base layout, node, output shape, symbol hints) -> (strides, offset)
VIEW_OPS = {"view": _view, "permute": _permute, "transpose": _transpose, "squeeze": _squeeze,
            "unsqueeze": _unsqueeze, "expand": _expand, "narrow": _narrow, "select": _select,
            "basic_index": _basic_index}


def view_layout(node: Node, base: Layout, hints: Mapping[str, int] | None = None) -> Layout:
    """The layout of the view ``node`` makes of a value laid out as ``base`` (``hints``: the symbols' traced
    values, which give a symbolic index its sign)."""
    rule = VIEW_OPS.get(node.op)
    if rule is None:
        kind = "a view op" if node.op in OPS and OPS[node.op].kind == VIEW else "an op"
        raise unsupported(node.op, f"{kind} with no layout rule in the LLVM backend")
    shape = node.output.shape
    strides, offset = rule(base, node, shape, hints or {})
    return Layout(base.storage, offset, tuple(shape), tuple(strides))
