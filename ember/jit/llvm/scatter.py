"""Writes at data-dependent positions and whole-tensor writes: ``scatter``, ``scatter_reduce``, ``index_add``,
``index_put_``, ``masked_fill``, ``copy_`` and ``fill_``.

The graph is functional: an op that writes (even the in-place ``index_put_``, ``copy_`` and ``fill_``, which
the tracer records on intermediates) gets a fresh output, first a copy of its input, then the writes. The
writes run in one sequential loop in the row-major order of the index, as the NumPy kernels' ``ufunc.at`` and
fancy assignment do, so repeated indices give the same, deterministic, result: the last write wins, sums
accumulate in order. Index values are checked as in :mod:`.gather`: an out-of-range one is reported (the call
raises) and never written. ``scatter``'s ``mean`` divides by the count of writes per element, kept in the
kernel's scratch memory.
"""

from __future__ import annotations

import llvmlite.ir as ir

from ember_runtime.cpu.status import GATHER_INDEX_OUT_OF_BOUNDS

from ...tensor import dtypes
from ..ir import Node, Value
from ..symbolic import as_expr
from .codegen import I64, SCRATCH, KernelContext, Operand, lowering, unsupported
from .elementwise import broadcast_strides, emit_copy, emit_pointwise
from .gather import at_least_1d, broadcast_index_shape, checked_index, index_positions, load_index
from .reduce import nested_loops
from .scalar_ops import cast_value, constant, select_extreme

__all__ = ["combine"]

_ZERO = ir.Constant(I64, 0)
_ONE = ir.Constant(I64, 1)


def combine(b: ir.IRBuilder, reduce: str, dt: dtypes.dtype, old: ir.Value, new: ir.Value) -> ir.Value:
    """``old`` combined with ``new`` as the NumPy ufunc of ``reduce`` does in ``dt`` (bool: or / and)."""
    if reduce in ("sum", "mean"):
        if dt is dtypes.bool:
            return b.or_(old, new)
        return b.fadd(old, new) if dt.is_floating_point else b.add(old, new)
    if reduce == "prod":
        if dt is dtypes.bool:
            return b.and_(old, new)
        return b.fmul(old, new) if dt.is_floating_point else b.mul(old, new)
    return select_extreme(b, dt, old, new, reduce == "amax")


def _identity(reduce: str, dt: dtypes.dtype) -> ir.Constant:
    """The value ``include_self=False`` starts every written element from (the eager ``_reduce_identity``)."""
    if reduce in ("sum", "mean"):
        return constant(dt, 0)
    if reduce == "prod":
        return constant(dt, 1)
    largest = reduce == "amax"
    if dt.is_floating_point:
        return constant(dt, float("-inf") if largest else float("inf"))
    if dt is dtypes.bool:
        return constant(dt, not largest)
    bits = dt.itemsize * 8
    if dt.is_signed:
        return constant(dt, -(1 << (bits - 1)) if largest else (1 << (bits - 1)) - 1)
    return constant(dt, 0 if largest else (1 << bits) - 1)


def _numel(shape: tuple):
    count = as_expr(1)
    for size in shape:
        count = count * size
    return count


def _scatter_scratch(node: Node, vector_bits: int):
    # mean needs one int64 count per output element.
    return _numel(node.output.shape) * 8 if node.attrs.get("reduce") == "mean" else None


SCRATCH["scatter"] = SCRATCH["scatter_reduce"] = _scatter_scratch


@lowering("scatter", "scatter_reduce")
def lower_scatter(ctx: KernelContext) -> None:
    node, b = ctx.node, ctx.builder
    reduce, include_self = node.attrs["reduce"], node.attrs.get("include_self", True)
    out = at_least_1d(ctx.outputs[0])
    source, index = at_least_1d(ctx.tensor(node.operands[0])), at_least_1d(ctx.tensor(node.operands[1]))
    src = at_least_1d(ctx.tensor(node.operands[2])) if len(node.operands) > 2 and isinstance(
        node.operands[2], Value) else None
    dt = out.dtype
    if reduce == "mean" and dt is dtypes.bool:
        raise unsupported(node.op, "a bool mean")
    if src is None and not isinstance(node.attrs.get("value"), bool | int | float):
        raise unsupported(node.op, f"a value of type {type(node.attrs.get('value')).__name__}")
    dim = node.attrs["dim"] % len(out.shape)
    size = ctx.sym(out.shape[dim])
    emit_copy(ctx, source)
    counts = Operand(ctx.scratch, dtypes.int64, out.shape, out.strides) if reduce == "mean" else None
    if counts is not None:
        with nested_loops(ctx, list(out.shape), "c") as at:
            counts.store(b, ctx.offset(counts, at), ir.Constant(I64, 1 if include_self else 0))

    def each_target(body) -> None:
        with nested_loops(ctx, list(index.shape), "i") as at:
            where, ok = checked_index(ctx, load_index(ctx, index, at), size, code=GATHER_INDEX_OUT_OF_BOUNDS)
            with b.if_then(ok):
                body(at, ctx.offset(out, [*at[:dim], where, *at[dim + 1:]]))

    def value_at(at: list[ir.Value]) -> ir.Value:
        if src is None:
            return constant(dt, node.attrs["value"])
        return cast_value(b, src.load(b, ctx.offset(src, at)), src.dtype, dt)

    if reduce is None:
        each_target(lambda at, target: out.store(b, target, value_at(at)))
        return
    if not include_self:
        # Every written element starts from the reduction's identity instead of its input value.
        each_target(lambda at, target: out.store(b, target, _identity(reduce, dt)))

    def accumulate(at: list[ir.Value], target: ir.Value) -> None:
        out.store(b, target, combine(b, reduce, dt, out.load(b, target), value_at(at)))
        if counts is not None:
            counts.store(b, target, b.add(counts.load(b, target), _ONE))

    each_target(accumulate)
    if counts is not None:
        with nested_loops(ctx, list(out.shape), "m") as at:
            place = ctx.offset(out, at)
            count = counts.load(b, place)
            count = b.select(b.icmp_signed("<", count, _ONE), _ONE, count)
            out.store(b, place, _divide(b, out.load(b, place), count, dt))


def _divide(b: ir.IRBuilder, total: ir.Value, count: ir.Value, dt: dtypes.dtype) -> ir.Value:
    """``total / count`` as the eager mean: true division for floats (NumPy computes it in float64), floor
    division for integers (``count`` is positive)."""
    if dt.is_floating_point:
        wide = cast_value(b, total, dt, dtypes.float64)
        return cast_value(b, b.fdiv(wide, b.sitofp(count, ir.DoubleType())), dtypes.float64, dt)
    wide = cast_value(b, total, dt, dtypes.int64)
    if not dt.is_signed:
        return cast_value(b, b.udiv(wide, count), dtypes.int64, dt)
    quotient, rest = b.sdiv(wide, count), b.srem(wide, count)
    floor = b.select(b.icmp_signed("<", rest, _ZERO), b.sub(quotient, _ONE), quotient)
    return cast_value(b, floor, dtypes.int64, dt)


@lowering("index_add")
def lower_index_add(ctx: KernelContext) -> None:
    node, b = ctx.node, ctx.builder
    out = at_least_1d(ctx.outputs[0])
    index, values = ctx.tensor(node.operands[1]), at_least_1d(ctx.tensor(node.operands[2]))
    dim, alpha, dt = node.attrs["dim"], node.attrs["alpha"], out.dtype
    if alpha != 1 and dt is dtypes.bool:
        raise unsupported(node.op, "a bool index_add with alpha")
    emit_copy(ctx, ctx.tensor(node.operands[0]))
    size = ctx.sym(out.shape[dim])
    with nested_loops(ctx, list(values.shape), "v") as at:
        # Position j along dim of the values adds into position index[j] of the output; j runs in order.
        where, ok = checked_index(ctx, load_index(ctx, index, at[dim:dim + 1] if index.shape else []), size,
                                  code=GATHER_INDEX_OUT_OF_BOUNDS)
        with b.if_then(ok):
            value = cast_value(b, values.load(b, ctx.offset(values, at)), values.dtype, dt)
            if alpha != 1:
                scale = constant(dt, alpha)
                value = b.fmul(value, scale) if dt.is_floating_point else b.mul(value, scale)
            target = ctx.offset(out, [*at[:dim], where, *at[dim + 1:]])
            out.store(b, target, combine(b, "sum", dt, out.load(b, target), value))


@lowering("index_put_")
def lower_index_put(ctx: KernelContext) -> None:
    node, b = ctx.node, ctx.builder
    source, out = ctx.tensor(node.operands[0]), ctx.outputs[0]
    indices = [ctx.tensor(v) for v in node.operands[1]]
    values = ctx.tensor(node.operands[2])
    dims, accumulate = tuple(node.attrs["dims"]), node.attrs["accumulate"]
    if not dims:
        raise unsupported(node.op, "no index tensors")
    emit_copy(ctx, source)
    written = _index_result_shape(source.shape, indices, dims)
    reading = Operand(values.ptr, values.dtype, written, broadcast_strides(values, written))
    with nested_loops(ctx, list(written), "w") as at:
        positions, ok = index_positions(ctx, out, indices, dims, at)
        with b.if_then(ok):
            target = ctx.offset(out, positions)
            value = cast_value(b, reading.load(b, ctx.offset(reading, at)), values.dtype, out.dtype)
            if accumulate:
                value = combine(b, "sum", out.dtype, out.load(b, target), value)
            out.store(b, target, value)


def _index_result_shape(shape: tuple, indices: list[Operand], dims: tuple) -> tuple:
    """The shape ``x[indices at dims]`` has (the index shape where the dims were when adjacent, else in front)."""
    broadcast = broadcast_index_shape(indices)
    if dims == tuple(range(dims[0], dims[0] + len(dims))):
        return tuple(shape[:dims[0]]) + broadcast + tuple(shape[dims[-1] + 1:])
    return broadcast + tuple(s for d, s in enumerate(shape) if d not in dims)


@lowering("masked_fill")
def lower_masked_fill(ctx: KernelContext) -> None:
    node, out = ctx.node, ctx.outputs[0]
    reads = [ctx.tensor(v) for v in node.input_values()]
    source, dt = reads[0], out.dtype
    # The fill value is a 0-d tensor operand (one that requires grad) or the number in the attrs.
    fill_operand = reads[2] if len(reads) > 2 else None
    fill = constant(dt, node.attrs["value"]) if fill_operand is None else None

    def compute(b: ir.IRBuilder, loaded: list[ir.Value]) -> ir.Value:
        value = fill if fill_operand is None else cast_value(b, loaded[2], fill_operand.dtype, dt)
        return b.select(loaded[1], value, cast_value(b, loaded[0], source.dtype, dt))

    emit_pointwise(ctx, out, reads, compute)


@lowering("copy_")
def lower_copy(ctx: KernelContext) -> None:
    # The whole destination is overwritten by the source, broadcast and converted: its old values are not read.
    emit_copy(ctx, ctx.tensor(ctx.node.operands[1]))


@lowering("fill_")
def lower_fill(ctx: KernelContext) -> None:
    node, out = ctx.node, ctx.outputs[0]
    value = node.operands[1] if len(node.operands) > 1 else node.attrs["value"]
    if isinstance(value, Value) or not isinstance(value, bool | int | float):
        raise unsupported(node.op, f"a fill value of type {type(value).__name__}")
    if out.dtype is not dtypes.bool and not out.dtype.is_floating_point and isinstance(value, float) and (
            value != value or value in (float("inf"), float("-inf"))):
        raise unsupported(node.op, "a non-finite value written into an integer tensor")
    fill = constant(out.dtype, value)
    emit_pointwise(ctx, out, [], lambda b, loaded: fill)
