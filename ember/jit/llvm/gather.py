"""Reads at data-dependent positions: ``index_select``, ``gather``, ``take`` and advanced indexing (``index``).

Each kernel is one loop nest over the (contiguous) output, its rows in parallel when large; the index values
are read in the loop and turned into source positions. The eager ops raise on an index out of range (``take``
and ``index`` first wrap negatives, as Python does); a kernel cannot raise, so it checks every index, reads
only in-range positions (an out-of-range one is clamped, or its element skipped), and reports the bad index
with ``ctx.report``, so that the graph call raises IndexError instead of returning a wrong answer (gather's
eager error is a RuntimeError: the status table has one index code only).
"""

from __future__ import annotations

import llvmlite.ir as ir

from ember_runtime.cpu.status import GATHER_INDEX_OUT_OF_BOUNDS, INDEX_OUT_OF_BOUNDS, INDEX_OUT_OF_RANGE

from ...tensor import dtypes
from ...tensor.shape_rules import wrap_dim
from ..symbolic import as_expr
from .codegen import I64, KernelContext, Operand, lowering, unsupported
from .elementwise import broadcast_strides
from .movement import copy_element, for_each_element, unravel
from .parallel import rebind

__all__ = ["at_least_1d", "broadcast_index_shape", "checked_index", "index_positions", "load_index",
           "lower_index_select"]

_ZERO = ir.Constant(I64, 0)


def load_index(ctx: KernelContext, index: Operand, at: list[ir.Value]) -> ir.Value:
    """The integer ``index[at]`` as an i64 (signed or unsigned extension, as its dtype says); ``ctx`` may be a
    task's (see :func:`~.movement.for_each_element`)."""
    if index.dtype.is_floating_point or index.dtype is dtypes.bool:
        raise unsupported(ctx.node.op, f"an index of dtype {index.dtype}")
    b = ctx.builder
    index = rebind(ctx, index)
    value = index.load(b, ctx.offset(index, at))
    if value.type.width < 64:
        value = b.sext(value, I64) if index.dtype.is_signed else b.zext(value, I64)
    return value


def checked_index(ctx: KernelContext, where: ir.Value, size: ir.Value, wrap_negative: bool = False,
                  code: int = INDEX_OUT_OF_RANGE) -> tuple[ir.Value, ir.Value]:
    """``where`` checked against ``[0, size)`` (``[-size, size)``, wrapped, when ``wrap_negative``), a bad index
    reported with status ``code`` (the exception the eager op raises). Returns the index clamped into range and an
    i1 that holds when it was in range: callers read only then, which also covers ``size == 0``, where no position
    is readable."""
    b = ctx.builder
    if wrap_negative:
        where = b.select(b.icmp_signed("<", where, _ZERO), b.add(where, size), where)
    last = b.sub(size, ir.Constant(I64, 1))
    below, above = b.icmp_signed("<", where, _ZERO), b.icmp_signed(">", where, last)
    bad = b.or_(below, above)
    ctx.report(bad, code)
    where = b.select(above, last, where)
    return b.select(b.icmp_signed("<", where, _ZERO), _ZERO, where), b.not_(bad)


def at_least_1d(operand: Operand) -> Operand:
    """A 0-d operand as 1-d of size 1 (the along-dim ops treat it so, as PyTorch does)."""
    return operand if operand.shape else Operand(operand.ptr, operand.dtype, (1,), (1,))


@lowering("index_select")
def lower_index_select(ctx: KernelContext) -> None:
    node = ctx.node
    source, index = ctx.tensor(node.operands[0]), ctx.tensor(node.operands[1])
    out = ctx.outputs[0]
    if not source.shape:
        raise unsupported(node.op, "a 0-d source")
    dim = wrap_dim(node.attrs["dim"], len(source.shape))

    def body(task: KernelContext, at: list[ir.Value]) -> None:
        raw = load_index(task, index, at[dim:dim + 1] if index.shape else [])
        where, ok = checked_index(task, raw, task.sym(source.shape[dim]))
        with task.builder.if_then(ok):
            copy_element(task, source, [*at[:dim], where, *at[dim + 1:]], out, at)

    for_each_element(ctx, out.shape, body)


@lowering("gather")
def lower_gather(ctx: KernelContext) -> None:
    node = ctx.node
    source, index = at_least_1d(ctx.tensor(node.operands[0])), at_least_1d(ctx.tensor(node.operands[1]))
    out = at_least_1d(ctx.outputs[0])
    dim = wrap_dim(node.attrs["dim"], len(source.shape))

    def body(task: KernelContext, at: list[ir.Value]) -> None:
        # out[i][j] = source[i][index[i][j]] for dim 1; the other dims of index are no larger than source's.
        where, ok = checked_index(task, load_index(task, index, at), task.sym(source.shape[dim]),
                                  code=GATHER_INDEX_OUT_OF_BOUNDS)
        with task.builder.if_then(ok):
            copy_element(task, source, [*at[:dim], where, *at[dim + 1:]], out, at)

    for_each_element(ctx, out.shape, body)


@lowering("take")
def lower_take(ctx: KernelContext) -> None:
    node = ctx.node
    source, index, out = ctx.tensor(node.operands[0]), ctx.tensor(node.operands[1]), ctx.outputs[0]
    count = as_expr(1)
    for size in source.shape:
        count = count * size

    def body(task: KernelContext, at: list[ir.Value]) -> None:
        # Positions count through the source as if flattened (row-major), whatever its strides.
        flat, ok = checked_index(task, load_index(task, index, at), task.sym(count), wrap_negative=True,
                                 code=INDEX_OUT_OF_BOUNDS)
        with task.builder.if_then(ok):
            copy_element(task, source, unravel(task, flat, tuple(source.shape)), out, at)

    for_each_element(ctx, out.shape, body)


def index_positions(ctx: KernelContext, source: Operand, indices: list[Operand], dims: tuple,
                    out_at: list[ir.Value]) -> tuple[list[ir.Value], ir.Value]:
    """The source position that output position ``out_at`` of ``source[indices at dims]`` reads, and an i1 that
    holds when every index is in range (``index`` and ``index_put_`` share it).

    The index tensors broadcast together to ``B``; the output has ``B`` where the indexed dims were when they
    are adjacent, else in front, and the other source dims in order.
    """
    b = ctx.builder
    ndim = len(source.shape)
    out_rank = len(out_at)
    broadcast_rank = out_rank - (ndim - len(dims))
    adjacent = dims == tuple(range(dims[0], dims[0] + len(dims)))
    lead = dims[0] if adjacent else 0
    broadcast_at = out_at[lead:lead + broadcast_rank]
    rest = iter(out_at[:lead] + out_at[lead + broadcast_rank:])
    where: dict[int, ir.Value] = {}
    ok = ir.Constant(ir.IntType(1), 1)
    shape = broadcast_index_shape(indices)
    for index, dim in zip(indices, dims, strict=True):
        # Each index reads the broadcast position through its own strides (0 along its broadcast dims).
        reading = Operand(rebind(ctx, index).ptr, index.dtype, shape, broadcast_strides(index, shape))
        where[dim], in_range = checked_index(ctx, load_index(ctx, reading, broadcast_at), ctx.sym(source.shape[dim]),
                                             wrap_negative=True, code=INDEX_OUT_OF_BOUNDS)
        ok = b.and_(ok, in_range)
    positions = [where[d] if d in where else next(rest) for d in range(ndim)]
    return positions, ok


def broadcast_index_shape(indices: list[Operand]) -> tuple:
    """The index tensors' broadcast shape (a size-1 dim takes the other's size)."""
    rank = max(len(i.shape) for i in indices)
    shape = [1] * rank
    for index in indices:
        for d, size in enumerate(index.shape, start=rank - len(index.shape)):
            if not (as_expr(size).is_const and as_expr(size).const_value == 1):
                shape[d] = size
    return tuple(shape)


@lowering("index")
def lower_index(ctx: KernelContext) -> None:
    node = ctx.node
    source, out = ctx.tensor(node.operands[0]), ctx.outputs[0]
    indices = [ctx.tensor(v) for v in node.operands[1]]
    dims = tuple(node.attrs["dims"])
    if not dims:
        raise unsupported(node.op, "no index tensors (the tracer records a plain copy instead)")

    def body(task: KernelContext, at: list[ir.Value]) -> None:
        positions, ok = index_positions(task, source, indices, dims, at)
        with task.builder.if_then(ok):  # an out-of-range index is reported and its element never read
            copy_element(task, source, positions, out, at)

    for_each_element(ctx, out.shape, body)
