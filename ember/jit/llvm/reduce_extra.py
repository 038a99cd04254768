"""The reductions beyond sum/mean/amax/amin/var/std: all, any, count_nonzero, prod, nansum, nanmean, norm,
logsumexp, the index reductions (argmax, argmin, max_dim, min_dim) and ``equal``.

Each output element folds its slice (the reduced dims, merged where the source walks them as one, see
:func:`.reduce.reduced_loops`) with a per-op ``step``; :class:`SliceReduction` runs the folds in vector lanes
where the memory layout allows (neighbouring outputs side by side, or lanes of partial results along a
contiguous row merged in a fixed tree), so the order of operations depends only on the shape. As the eager
kernels (``ember/tensor/ops/reduction.py``, ``extrema.py``,
``statistics.py``, ``softmax.py``) compute:

- float32 sums (nansum, nanmean, norm, logsumexp) and products accumulate in float64, which keeps them within
  float32 rounding of the exact value (NumPy's float32 pairwise sums are as close);
- argmax/argmin/max_dim/min_dim keep the first extreme, and the first NaN where there is one (NaN counts as the
  extreme, as in PyTorch); argmax with ``dim=None`` indexes the row-major flattening;
- logsumexp subtracts the slice maximum (0 where it is infinite) before exponentiating;
- ``equal`` is False for different shapes (compared at run time, sizes may be symbolic) and NaN never equals.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import llvmlite.ir as ir

from ...tensor import dtypes
from ..symbolic import as_expr
from .codegen import I64, KernelContext, Operand, lowering, unsupported
from .reduce import (
    fit_lanes,
    lane_indices,
    lanes_for,
    load_lanes,
    nested_loops,
    reduce_step,
    reduced_loops,
    reduction_identity,
    row_pass,
    store_lanes,
    sum_products,
)
from .scalar_ops import cast_value, constant, intrinsic, math_function
from .vmath import splat

__all__ = ["SliceReduction"]

_HALF = (dtypes.float16, dtypes.bfloat16)


def _slot(ctx: KernelContext, ty: ir.Type) -> ir.Value:
    """A stack slot in the kernel's entry block (LLVM keeps it in a register)."""
    return ctx.sym.builder.alloca(ty)


def _in_lanes(value: ir.Constant, lanes: int) -> ir.Constant:
    """The constant ``value`` in every lane of a ``lanes`` vector (itself for 1)."""
    return ir.Constant(ir.VectorType(value.type, lanes), [value.constant] * lanes) if lanes > 1 else value


def _like(value: ir.Constant, like: ir.Value) -> ir.Constant:
    """The constant ``value`` in every lane when ``like`` is a vector (itself otherwise)."""
    return _in_lanes(value, like.type.count if isinstance(like.type, ir.VectorType) else 1)


def _typed(ty: ir.Type, like: ir.Value) -> ir.Type:
    """``ty``, or a vector of it as wide as ``like``."""
    return ir.VectorType(ty, like.type.count) if isinstance(like.type, ir.VectorType) else ty


Step = Callable[[list[ir.Value], ir.Value, ir.Value], list[ir.Value]]
Merge = Callable[[list[ir.Value], list[ir.Value]], list[ir.Value]]


class SliceReduction:
    """The walk of a reduction of ``source`` over ``dims``: a loop over the outputs and, per output, a fold of
    its slice (the reduced dims, merged where the source walks them as one).

    Two layouts vectorise: where the source's innermost dim is kept and contiguous (``x.prod(0)`` of a matrix),
    ``across`` neighbouring outputs fold at once, each lane in the order it would alone (the last group masked);
    where the innermost reduced loop is contiguous (``x.argmax(-1)``), the fold keeps ``along`` lanes of partial
    results over the row (the last chunk masked) and merges them in halves at the end (a fixed tree). Otherwise
    the fold is one scalar loop in row-major order. ``lane_dt`` is the widest dtype a fold carries: the lane
    count fills two vector registers of it.
    """

    def __init__(self, ctx: KernelContext, source: Operand, dims: tuple, keepdim: bool, lane_dt: dtypes.dtype):
        self.ctx, self.b, self.source = ctx, ctx.builder, source
        rank = len(source.shape)
        self.kept = [d for d in range(rank) if d not in dims]
        out = ctx.outputs[0]
        self.out_strides = [out.strides[d] for d in self.kept] if keepdim else list(out.strides)
        self.loops = reduced_loops(source, dims)
        # The position of each reduced loop's index in the slice's row-major order (argmax's flat index).
        self.position_strides = self._position_strides()
        lanes = lanes_for(lane_dt, ctx.host_vector_bits, 2)
        self.along = self.across = 1
        if self.loops and self.loops[-1][1] == 1:
            self.along = fit_lanes(lanes, self.loops[-1][0], 4)
        elif self.loops and self.kept and self.kept[-1] == rank - 1 and source.strides[-1] == 1:
            self.across = fit_lanes(lanes, source.shape[-1], 2)

    def _position_strides(self) -> list:
        """The position step of each of :attr:`loops` in the slice's row-major order (argmax's flat index): the
        product of the sizes of the loops inside it (merging loops and dropping size-1 dims keep that order)."""
        strides, size = [], as_expr(1)
        for loop_size, _ in reversed(self.loops):
            strides.insert(0, size)
            size = size * loop_size
        return strides

    def for_each_output(self, emit: Callable[[ir.Value, ir.Value, int, ir.Value | None], None]) -> None:
        """``emit(source offset, output index, width, mask)`` for each output (``width`` 1) or group of ``width``
        neighbouring outputs (``mask``, when not None, sets the valid ones); the outputs are contiguous in the
        reduced shape (keepdim leaves size-1 dims where the reduced ones were)."""
        ctx, b, source = self.ctx, self.b, self.source
        if self.across == 1:
            with nested_loops(ctx, [source.shape[d] for d in self.kept], "o") as outer:
                emit(sum_products(b, ctx, outer, [source.strides[d] for d in self.kept]),
                     sum_products(b, ctx, outer, self.out_strides), 1, None)
            return
        with nested_loops(ctx, [source.shape[d] for d in self.kept[:-1]], "o") as outer:
            base = sum_products(b, ctx, outer, [source.strides[d] for d in self.kept[:-1]])
            out_base = sum_products(b, ctx, outer, self.out_strides[:-1])
            row_pass(ctx, ctx.sym(source.shape[-1]), self.across,
                      lambda i, width, mask: emit(b.add(base, i), b.add(out_base, i), width, mask))

    def fold(self, base: ir.Value, width: int, mask: ir.Value | None, initials: list[ir.Constant], step: Step,
             merge: Merge) -> list[ir.Value]:
        """Running values, from ``initials``, updated by ``step(values, x, position)`` with each element ``x``
        (compute type of the source) of the slice(s) at ``base`` and its ``position`` in the slice (int64);
        ``width`` neighbouring slices at once as vectors (``mask``: the valid ones). ``merge(values, values)``
        combines two sets of partial values (lanes of a row). Returns the final values."""
        b, ctx, source = self.b, self.ctx, self.source
        lanes = width if width > 1 else self.along
        vector = ir.VectorType(I64, lanes) if lanes > 1 else I64
        starts = [_in_lanes(value, lanes) for value in initials]
        slots = [_slot(ctx, value.type) for value in starts]
        for slot, value in zip(slots, starts, strict=True):
            b.store(value, slot)

        def update(at: ir.Value, position: ir.Value, count: int, valid: ir.Value | None) -> None:
            values = [b.load(slot) for slot in slots]
            new = step(values, load_lanes(b, source, at, count, valid), position)
            for slot, old, value in zip(slots, values, new, strict=True):
                b.store(value if valid is None or width > 1 else b.select(valid, value, old), slot)

        outer = self.loops[:-1] if self.along > 1 else self.loops
        with nested_loops(ctx, [size for size, _ in outer], "r") as inner:
            at = b.add(base, sum_products(b, ctx, inner, [stride for _, stride in outer]))
            position = sum_products(b, ctx, inner, self.position_strides[:len(outer)])
            if self.along == 1:
                update(at, splat(b, position, vector), width, mask)
            else:
                iota = ir.Constant(vector, list(range(lanes)))
                row_pass(ctx, ctx.sym(self.loops[-1][0]), lanes, lambda i, count, valid: update(
                    b.add(at, i), b.add(splat(b, b.add(position, i), vector), iota), count, valid))
        values = [b.load(slot) for slot in slots]
        if self.along == 1 or width > 1:
            return values
        while values[0].type.count > 1:
            half = values[0].type.count // 2
            values = merge([_half(b, v, 0, half) for v in values], [_half(b, v, half, half) for v in values])
        return [b.extract_element(v, ir.Constant(ir.IntType(32), 0)) for v in values]

    def store(self, operand: Operand, at: ir.Value, value: ir.Value, mask: ir.Value | None) -> None:
        store_lanes(self.b, operand, at, value, mask)


def _half(b: ir.IRBuilder, vector: ir.Value, start: int, count: int) -> ir.Value:
    return b.shuffle_vector(vector, ir.Constant(vector.type, ir.Undefined), lane_indices(range(start, start + count)))


def _checked(node_op: str, *dts: dtypes.dtype) -> None:
    if any(dt in _HALF for dt in dts):
        raise unsupported(node_op, "float16/bfloat16 reductions")


def _wide(dt: dtypes.dtype) -> dtypes.dtype:
    """The accumulator of sums and products of ``dt``: float64 for float32."""
    return dtypes.float64 if dt is dtypes.float32 else dt


def _is_nan(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    return b.fcmp_unordered("uno", x, x)


def _count(b: ir.IRBuilder, total: ir.Value, flag: ir.Value) -> ir.Value:
    """``total`` (int64) plus one where ``flag`` holds."""
    return b.add(total, b.zext(flag, _typed(I64, flag)))


def _dims(node_attrs: dict) -> tuple:
    return tuple(node_attrs["dim"])


@lowering("all", "any", "count_nonzero")
def lower_truth_reduction(ctx: KernelContext) -> None:
    node, b = ctx.node, ctx.builder
    source, out = ctx.tensor(node.operands[0]), ctx.outputs[0]
    _checked(node.op, source.dtype)
    counting = node.op == "count_nonzero"
    acc_dt = dtypes.int64 if counting else dtypes.bool
    initial = ir.Constant(I64, 0) if counting else constant(dtypes.bool, node.op == "all")

    def combine(acc: ir.Value, truth: ir.Value) -> ir.Value:
        if counting:
            return b.add(acc, truth) if truth.type == acc.type else _count(b, acc, truth)
        return b.and_(acc, truth) if node.op == "all" else b.or_(acc, truth)

    def step(acc: list[ir.Value], x: ir.Value, position: ir.Value) -> list[ir.Value]:
        return [combine(acc[0], cast_value(b, x, source.dtype, dtypes.bool))]  # NaN is true, as NumPy's x != 0

    walk = SliceReduction(ctx, source, _dims(node.attrs), node.attrs.get("keepdim", False), acc_dt)

    def emit(base: ir.Value, at: ir.Value, width: int, mask: ir.Value | None) -> None:
        result = walk.fold(base, width, mask, [initial], step, lambda x, y: [combine(x[0], y[0])])[0]
        walk.store(out, at, cast_value(b, result, acc_dt, out.dtype), mask)

    walk.for_each_output(emit)


@lowering("prod", "nansum", "nanmean")
def lower_sum_like(ctx: KernelContext) -> None:
    node, b = ctx.node, ctx.builder
    source, out = ctx.tensor(node.operands[0]), ctx.outputs[0]
    compute = node.attrs["dtype"]
    _checked(node.op, source.dtype, compute)
    acc_dt = _wide(compute)
    product = node.op == "prod"
    initials = [constant(acc_dt, 1 if product else 0), ir.Constant(I64, 0)]

    def combine(acc: ir.Value, x: ir.Value) -> ir.Value:
        if product:
            return b.fmul(acc, x) if acc_dt.is_floating_point else b.mul(acc, x)  # bool: i1 mul is and
        return reduce_step(b, "sum", acc_dt, acc, x)

    def step(acc: list[ir.Value], x: ir.Value, position: ir.Value) -> list[ir.Value]:
        x = cast_value(b, x, source.dtype, compute)
        present = _like(ir.Constant(ir.IntType(1), 1), x)
        if compute.is_floating_point and not product:
            present = b.not_(_is_nan(b, x))
            x = b.select(present, x, _like(constant(compute, 0), x))  # NaN counts as zero
        return [combine(acc[0], cast_value(b, x, compute, acc_dt)), _count(b, acc[1], present)]

    walk = SliceReduction(ctx, source, _dims(node.attrs), node.attrs["keepdim"], acc_dt)

    def emit(base: ir.Value, at: ir.Value, width: int, mask: ir.Value | None) -> None:
        total, count = walk.fold(base, width, mask, initials, step,
                                 lambda x, y: [combine(x[0], y[0]), b.add(x[1], y[1])])
        if node.op == "nanmean":
            # The sum over the non-NaN count in float64 then rounded, as NumPy divides float32 by int64; 0/0 is NaN.
            mean = b.fdiv(cast_value(b, total, acc_dt, dtypes.float64), b.sitofp(count, _typed(ir.DoubleType(), count)))
            walk.store(out, at, cast_value(b, mean, dtypes.float64, out.dtype), mask)
        else:
            walk.store(out, at, cast_value(b, total, acc_dt, out.dtype), mask)

    walk.for_each_output(emit)


@lowering("norm")
def lower_norm(ctx: KernelContext) -> None:
    node, b = ctx.node, ctx.builder
    source, out = ctx.tensor(node.operands[0]), ctx.outputs[0]
    compute, p = node.attrs["dtype"], float(node.attrs["p"])
    _checked(node.op, source.dtype, compute)
    if not compute.is_floating_point:
        raise unsupported(node.op, f"dtype {compute}")
    extreme = math.isinf(p)
    acc_dt = compute if extreme else _wide(compute)
    if extreme:
        op = "amax" if p > 0 else "amin"
        # the eager kernel's initial values
        initial = constant(acc_dt, 0) if p > 0 else reduction_identity("amin", acc_dt)
    else:
        op, initial = "sum", constant(acc_dt, 0)

    def step(acc: list[ir.Value], x: ir.Value, position: ir.Value) -> list[ir.Value]:
        size = intrinsic(b, "fabs", cast_value(b, cast_value(b, x, source.dtype, compute), compute, acc_dt))
        if p == 0:  # the count of non-zeros (NaN counts)
            size = b.uitofp(b.fcmp_unordered("!=", size, _like(constant(acc_dt, 0), size)), size.type)
        elif p == 2:
            size = b.fmul(size, size)
        elif not extreme and p != 1:
            size = intrinsic(b, "pow", size, _like(constant(acc_dt, p), size))
        return [reduce_step(b, op, acc_dt, acc[0], size)]  # maximum/minimum propagate NaN, as np.max does

    walk = SliceReduction(ctx, source, _dims(node.attrs), node.attrs["keepdim"], acc_dt)

    def emit(base: ir.Value, at: ir.Value, width: int, mask: ir.Value | None) -> None:
        value = walk.fold(base, width, mask, [initial], step, lambda x, y: [reduce_step(b, op, acc_dt, x[0], y[0])])[0]
        if p == 2:
            value = intrinsic(b, "sqrt", value)
        elif not extreme and p not in (0, 1):
            value = intrinsic(b, "pow", value, _like(constant(acc_dt, 1 / p), value))
        walk.store(out, at, cast_value(b, value, acc_dt, out.dtype), mask)

    walk.for_each_output(emit)


@lowering("logsumexp")
def lower_logsumexp(ctx: KernelContext) -> None:
    node, b = ctx.node, ctx.builder
    source, out = ctx.tensor(node.operands[0]), ctx.outputs[0]
    compute = node.attrs["dtype"]
    _checked(node.op, source.dtype, compute)
    if not compute.is_floating_point:
        raise unsupported(node.op, f"dtype {compute}")
    acc_dt = _wide(compute)
    walk = SliceReduction(ctx, source, _dims(node.attrs), node.attrs["keepdim"], acc_dt)

    def largest(x: list[ir.Value], y: list[ir.Value]) -> list[ir.Value]:
        return [reduce_step(b, "amax", compute, x[0], y[0])]

    def emit(base: ir.Value, at: ir.Value, width: int, mask: ir.Value | None) -> None:
        # The maximum (NaN propagates; an empty slice gives -inf), replaced by 0 where infinite.
        top = walk.fold(base, width, mask, [reduction_identity("amax", compute)],
                        lambda acc, x, _: largest(acc, [cast_value(b, x, source.dtype, compute)]), largest)[0]
        infinite = b.fcmp_ordered("==", intrinsic(b, "fabs", top), _like(constant(compute, math.inf), top))
        top = b.select(infinite, _like(constant(compute, 0), top), top)

        def exponentials(acc: list[ir.Value], x: ir.Value, position: ir.Value) -> list[ir.Value]:
            x = cast_value(b, x, source.dtype, compute)
            # ``top`` is one per lane across outputs, or the row's one value for every lane along it.
            e = math_function(b, "exp", b.fsub(x, top if top.type == x.type else splat(b, top, x.type)))
            return [b.fadd(acc[0], cast_value(b, e, compute, acc_dt))]

        total = walk.fold(base, width, mask, [constant(acc_dt, 0)], exponentials,
                          lambda x, y: [b.fadd(x[0], y[0])])[0]
        value = b.fadd(math_function(b, "log", cast_value(b, total, acc_dt, compute)), top)
        walk.store(out, at, cast_value(b, value, compute, out.dtype), mask)

    walk.for_each_output(emit)


@lowering("argmax", "argmin", "max_dim", "min_dim")
def lower_index_reduction(ctx: KernelContext) -> None:
    node, b = ctx.node, ctx.builder
    source = ctx.tensor(node.operands[0])
    dt = source.dtype
    _checked(node.op, dt)
    rank = len(source.shape)
    dim = node.attrs["dim"]
    dims = tuple(range(rank)) if dim is None else ((dim % rank,) if rank else ())
    largest = node.op in ("argmax", "max_dim")
    values_out, indices_out = (ctx.outputs[0], ctx.outputs[1]) if node.op in ("max_dim", "min_dim") else \
        (None, ctx.outputs[0])
    # The running extreme starts at the type's far end with position 0, so a slice of only that value keeps
    # its first position; a strictly better element, or the first NaN, takes over (a NaN is never replaced).
    initials = [reduction_identity("amax" if largest else "amin", dt), ir.Constant(I64, 0)]

    def better(x: ir.Value, best: ir.Value) -> ir.Value:
        """Whether ``x`` strictly beats ``best``: a NaN beats any number, nothing beats a NaN."""
        if dt.is_floating_point:
            beats = b.fcmp_ordered(">" if largest else "<", x, best)
            return b.and_(b.or_(beats, _is_nan(b, x)), b.not_(_is_nan(b, best)))
        compare = b.icmp_signed if dt.is_signed else b.icmp_unsigned
        return compare(">" if largest else "<", x, best)

    def step(acc: list[ir.Value], x: ir.Value, position: ir.Value) -> list[ir.Value]:
        wins = better(x, acc[0])
        return [b.select(wins, x, acc[0]), b.select(wins, position, acc[1])]

    def merge(x: list[ir.Value], y: list[ir.Value]) -> list[ir.Value]:
        """Two lanes' (extreme, position): the better, or on a tie (two NaNs included) the earlier."""
        tie = b.not_(b.or_(better(x[0], y[0]), better(y[0], x[0])))
        wins = b.or_(better(y[0], x[0]), b.and_(tie, b.icmp_signed("<", y[1], x[1])))
        return [b.select(wins, y[0], x[0]), b.select(wins, y[1], x[1])]

    # Lanes as many as int64 positions fit (the widest value carried).
    walk = SliceReduction(ctx, source, dims, node.attrs["keepdim"], dtypes.int64)

    def emit(base: ir.Value, at: ir.Value, width: int, mask: ir.Value | None) -> None:
        best, position = walk.fold(base, width, mask, initials, step, merge)
        walk.store(indices_out, at, position, mask)
        if values_out is not None:
            walk.store(values_out, at, best, mask)

    walk.for_each_output(emit)


@lowering("equal")
def lower_equal(ctx: KernelContext) -> None:
    node, b = ctx.node, ctx.builder
    first, second = (ctx.tensor(value) for value in node.operands)
    out = ctx.outputs[0]
    _checked(node.op, first.dtype, second.dtype)
    zero = ir.Constant(I64, 0)
    if len(first.shape) != len(second.shape):
        out.store(b, zero, constant(dtypes.bool, False))
        return
    common = dtypes.promote_types(first.dtype, second.dtype)
    same_shape = constant(dtypes.bool, True)
    for a, c in zip(first.shape, second.shape, strict=True):
        same_shape = b.and_(same_shape, b.icmp_signed("==", ctx.sym(a), ctx.sym(c)))
    result = _slot(ctx, ir.IntType(1))
    b.store(same_shape, result)
    # Only with equal shapes does walking ``first``'s shape stay inside ``second``.
    with b.if_then(same_shape), nested_loops(ctx, list(first.shape), "i") as index:
        x = cast_value(b, first.load(b, ctx.offset(first, index)), first.dtype, common)
        y = cast_value(b, second.load(b, ctx.offset(second, index)), second.dtype, common)
        equal = b.fcmp_ordered("==", x, y) if common.is_floating_point else b.icmp_unsigned("==", x, y)
        b.store(b.and_(b.load(result), equal), result)
    out.store(b, zero, b.load(result))
