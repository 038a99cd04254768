"""The training ops: ``cross_entropy`` and ``cross_entropy_backward`` and the pooling gradients ``avg_pool_backward``
and ``max_pool_backward``.

``F.cross_entropy`` records the fused op for a ``(N, C)`` or ``(C,)`` floating input with int64 class indices, an
optional per-class weight and no label smoothing (every other form records its composite ops). Per row, with
``safe`` the target (0 where it is ``ignore_index``) and ``w`` its weight (``weight[safe]``, or 1; times 0 where
ignored), the loss is ``-(x[safe] - max - log(sum(exp(x - max)))) * w``; ``mean`` divides the sum of the losses
by the sum of ``w`` (NaN for an all-ignored batch, as in eager mode), ``sum`` adds them, ``none`` keeps one per
row. The gradient is ``(softmax(x) - one_hot(safe)) * w * scale``, ``scale`` the incoming gradient (over the
weight total for ``mean``). Computation is in the input's dtype, as the NumPy kernels do. A target outside
``[0, C)`` that is not ``ignore_index`` is reported with its own status code (IndexError "Target is out of
bounds.") and read as class 0, so the kernel stays in bounds; the caller raises.

The tracer runs under ``no_grad``, so autograd never records the backward ops; they are lowered for graphs that
dispatch them directly. (The optimizer updates ``sgd_momentum_step_`` and ``adam_step_`` write their state beside
the parameter, which a graph cannot express: the tracer refuses them, so they need no lowering.)
"""

from __future__ import annotations

import math

import llvmlite.ir as ir

from ember_runtime.cpu.status import TARGET_OUT_OF_BOUNDS

from ...tensor import dtypes
from ..symbolic import as_expr
from .codegen import I64, KernelContext, Operand, count_loop, lowering, unsupported
from .reduce import nested_loops
from .scalar_ops import cast_value, constant, intrinsic, math_function

__all__ = ["lower_avg_pool_backward", "lower_cross_entropy", "lower_cross_entropy_backward", "lower_max_pool_backward"]

_TARGET_OUT_OF_RANGE = TARGET_OUT_OF_BOUNDS


class _Rows:
    """The shared prologue of both kernels: the input as rows of classes, each row's safe target and weight."""

    def __init__(self, ctx: KernelContext, x: Operand, target: Operand, weight: Operand | None):
        node = ctx.node
        if x.dtype not in (dtypes.float32, dtypes.float64):
            raise unsupported(node.op, f"input dtype {x.dtype} (float32 and float64 are lowered)")
        if len(x.shape) not in (1, 2):
            raise unsupported(node.op, f"a {len(x.shape)}-d input")
        if weight is not None and weight.dtype is not x.dtype:
            raise unsupported(node.op, f"a {weight.dtype} weight for a {x.dtype} input")
        self.ctx, self.x, self.target, self.weight = ctx, x, target, weight
        self.dt = x.dtype
        self.classes = ctx.sym(x.shape[-1])
        self.count = ctx.sym(x.shape[0]) if len(x.shape) == 2 else ir.Constant(I64, 1)
        self.ignore_index = ir.Constant(I64, int(node.attrs["ignore_index"]))

    def at(self, row: ir.Value, column: ir.Value) -> ir.Value:
        """The input element at (``row``, class ``column``)."""
        ctx, x = self.ctx, self.x
        indices = [row, column] if len(x.shape) == 2 else [column]
        return x.load(ctx.builder, ctx.offset(x, indices))

    def label(self, row: ir.Value) -> tuple[ir.Value, ir.Value]:
        """``(safe target, weight)`` of ``row``; reports a target out of range (and reads class 0 for it)."""
        ctx, b = self.ctx, self.ctx.builder
        target = self.target
        raw = target.load(b, ctx.offset(target, [row] if target.shape else []))
        raw = cast_value(b, raw, target.dtype, dtypes.int64)
        kept = b.icmp_signed("!=", raw, self.ignore_index)
        safe = b.select(kept, raw, ir.Constant(I64, 0))
        bad = b.or_(b.icmp_signed("<", safe, ir.Constant(I64, 0)), b.icmp_signed(">=", safe, self.classes))
        ctx.report(bad, _TARGET_OUT_OF_RANGE)
        safe = b.select(bad, ir.Constant(I64, 0), safe)
        kept_value = b.uitofp(kept, constant(self.dt, 0).type)
        if self.weight is None:
            return safe, kept_value
        # weight[safe] * kept, as the eager kernel (an infinite weight of an ignored row gives NaN there too).
        return safe, b.fmul(self.weight.load(b, ctx.offset(self.weight, [safe])), kept_value)

    def log_normaliser(self, row: ir.Value) -> tuple[ir.Value, ir.Value]:
        """``(max, log(sum(exp(x - max))))`` of ``row``: ``x - max - log_sum`` is its log-softmax."""
        b = self.ctx.builder
        top = self._fold(row, constant(self.dt, float("-inf")), lambda acc, v: intrinsic(b, "maximum", acc, v))
        total = self._fold(row, constant(self.dt, 0),
                           lambda acc, v: b.fadd(acc, math_function(b, "exp", b.fsub(v, top))))
        return top, math_function(b, "log", total)

    def _fold(self, row: ir.Value, start: ir.Value, combine) -> ir.Value:
        b = self.ctx.builder
        slot = self.ctx.sym.builder.alloca(start.type)
        b.store(start, slot)
        with count_loop(b, self.classes, "class") as c:
            b.store(combine(b.load(slot, typ=start.type), self.at(row, c)), slot)
        return b.load(slot, typ=start.type)


def _operands(ctx: KernelContext, first: int) -> tuple[Operand, Operand, Operand | None]:
    x, target, weight = ctx.node.operands[first:first + 3]
    return ctx.tensor(x), ctx.tensor(target), None if weight is None else ctx.tensor(weight)


def _accumulator(ctx: KernelContext, dt: dtypes.dtype) -> ir.Value:
    slot = ctx.sym.builder.alloca(constant(dt, 0).type)
    ctx.builder.store(constant(dt, 0), slot)
    return slot


def _add_to(b: ir.IRBuilder, slot: ir.Value, value: ir.Value) -> None:
    b.store(b.fadd(b.load(slot, typ=value.type), value), slot)


@lowering("cross_entropy")
def lower_cross_entropy(ctx: KernelContext) -> None:
    b, reduction = ctx.builder, ctx.node.attrs["reduction"]
    rows = _Rows(ctx, *_operands(ctx, 0))
    out, dt = ctx.outputs[0], rows.dt
    if reduction not in ("mean", "sum", "none"):
        raise unsupported(ctx.node.op, f"reduction {reduction!r}")
    losses, weights = _accumulator(ctx, dt), _accumulator(ctx, dt)
    with count_loop(b, rows.count, "row") as row:
        safe, weight = rows.label(row)
        top, log_sum = rows.log_normaliser(row)
        log_probability = b.fsub(b.fsub(rows.at(row, safe), top), log_sum)
        loss = b.fmul(b.fneg(log_probability), weight)
        if reduction == "none":
            out.store(b, row if out.shape else ir.Constant(I64, 0), loss)
        else:
            _add_to(b, losses, loss)
            _add_to(b, weights, weight)
    if reduction != "none":
        total = b.load(losses, typ=losses.allocated_type)
        if reduction == "mean":
            total = b.fdiv(total, b.load(weights, typ=weights.allocated_type))
        out.store(b, ir.Constant(I64, 0), total)


@lowering("cross_entropy_backward")
def lower_cross_entropy_backward(ctx: KernelContext) -> None:
    b, reduction = ctx.builder, ctx.node.attrs["reduction"]
    grad = ctx.tensor(ctx.node.operands[0])
    rows = _Rows(ctx, *_operands(ctx, 1))
    out, dt = ctx.outputs[0], rows.dt
    if grad.dtype is not dt:
        raise unsupported(ctx.node.op, f"a {grad.dtype} gradient for a {dt} input")
    per_row = reduction == "none" and len(grad.shape) == 1
    divisor = None
    if reduction == "mean":
        weights = _accumulator(ctx, dt)
        with count_loop(b, rows.count, "weight_row") as row:
            _add_to(b, weights, rows.label(row)[1])
        divisor = b.load(weights, typ=weights.allocated_type)
    with count_loop(b, rows.count, "row") as row:
        safe, weight = rows.label(row)
        scale = grad.load(b, ctx.offset(grad, [row] if per_row else [ir.Constant(I64, 0)] * len(grad.shape)))
        if divisor is not None:
            scale = b.fdiv(scale, divisor)
        coefficient = b.fmul(weight, scale)
        top, log_sum = rows.log_normaliser(row)
        out_row = b.mul(row, rows.classes)
        with count_loop(b, rows.classes, "class") as c:
            probability = math_function(b, "exp", b.fsub(b.fsub(rows.at(row, c), top), log_sum))
            value = b.fmul(probability, coefficient)
            value = b.select(b.icmp_signed("==", c, safe), b.fsub(value, coefficient), value)
            out.store(b, b.add(out_row, c), value)


def _window_count(b: ir.IRBuilder, p: ir.Value, size: ir.Value, kernel: int, stride: int, pad: int,
                  include_pad: bool) -> ir.Value:
    """How many inputs window ``p`` of one pooled dim covers, by torch's divisor rule (see ``_divisor``)."""
    start = b.sub(b.mul(p, ir.Constant(I64, stride)), ir.Constant(I64, pad))
    end = b.add(start, ir.Constant(I64, kernel))
    limit = b.add(size, ir.Constant(I64, pad))
    end = b.select(b.icmp_signed("<", end, limit), end, limit)
    if include_pad:
        return b.sub(end, start)
    end = b.select(b.icmp_signed("<", end, size), end, size)
    start = b.select(b.icmp_signed(">", start, ir.Constant(I64, 0)), start, ir.Constant(I64, 0))
    return b.sub(end, start)


@lowering("avg_pool_backward")
def lower_avg_pool_backward(ctx: KernelContext) -> None:
    """Each input position gathers ``grad / divisor`` of the windows that cover it, taps in row-major order (the
    eager kernel's order of summation, so float results are the same)."""
    node, b = ctx.node, ctx.builder
    grad, out = ctx.tensor(node.operands[0]), ctx.outputs[0]
    attrs = node.attrs
    kernel, stride, pad = tuple(attrs["kernel"]), tuple(attrs["stride"]), tuple(attrs["padding"])
    nd, dt = len(kernel), out.dtype
    if dt not in (dtypes.float32, dtypes.float64):
        raise unsupported(node.op, f"dtype {dt} (float32 and float64 are lowered)")
    lead = len(out.shape) - nd
    in_sizes = [ctx.sym(size) for size in attrs["input_sizes"]]
    out_sizes = [ctx.sym(size) for size in attrs["out_sizes"]]
    override = attrs["divisor_override"]
    total = ctx.sym.builder.alloca(constant(dt, 0).type, name="acc")

    with nested_loops(ctx, list(out.shape), "x") as index:
        b.store(constant(dt, 0), total)
        with nested_loops(ctx, list(kernel), "t") as tap:
            inside = ir.Constant(ir.IntType(1), 1)
            windows = []
            for d in range(nd):
                shifted = b.sub(b.add(index[lead + d], ir.Constant(I64, pad[d])), tap[d])
                p = b.udiv(shifted, ir.Constant(I64, stride[d]))  # read only where shifted >= 0
                whole = b.icmp_unsigned("==", b.urem(shifted, ir.Constant(I64, stride[d])), ir.Constant(I64, 0))
                inside = b.and_(inside, b.and_(whole, b.and_(b.icmp_signed(">=", shifted, ir.Constant(I64, 0)),
                                                             b.icmp_signed("<", p, out_sizes[d]))))
                windows.append(p)
            with b.if_then(inside):
                divisor = ir.Constant(I64, override or 1)
                if not override:
                    for d, p in enumerate(windows):
                        count = _window_count(b, p, in_sizes[d], kernel[d], stride[d], pad[d],
                                              attrs["count_include_pad"])
                        divisor = b.mul(divisor, count)
                value = grad.load(b, ctx.offset(grad, [*index[:lead], *windows]))
                share = b.fdiv(value, b.sitofp(divisor, value.type))
                b.store(b.fadd(b.load(total, typ=share.type), share), total)
        out.store(b, ctx.offset(out, index), b.load(total, typ=constant(dt, 0).type))


@lowering("max_pool_backward")
def lower_max_pool_backward(ctx: KernelContext) -> None:
    """Zero the input gradient, then route each output gradient to its recorded flat position in its plane (added
    up when windows overlap, assigned otherwise, as the eager kernel). A position outside the plane is reported
    (IndexError) and skipped."""
    node, b = ctx.node, ctx.builder
    grad, indices, out = ctx.tensor(node.operands[0]), ctx.tensor(node.operands[1]), ctx.outputs[0]
    dt = out.dtype
    if dt is dtypes.bool or grad.dtype is not dt:
        raise unsupported(node.op, f"gradient dtype {grad.dtype}")
    nd = len(node.attrs["input_sizes"])
    lead = len(grad.shape) - nd
    plane = ctx.sym(math.prod(as_expr(size) for size in node.attrs["input_sizes"]))
    count = ctx.sym(math.prod(as_expr(size) for size in out.shape))

    with count_loop(b, count, "zero") as i:
        out.store(b, i, constant(dt, 0))
    with nested_loops(ctx, list(grad.shape), "g") as index:
        position = cast_value(b, indices.load(b, ctx.offset(indices, index)), indices.dtype, dtypes.int64)
        bad = b.or_(b.icmp_signed("<", position, ir.Constant(I64, 0)), b.icmp_signed(">=", position, plane))
        ctx.report(bad, _TARGET_OUT_OF_RANGE)
        with b.if_then(b.not_(bad)):
            row = ir.Constant(I64, 0)
            for d in range(lead):
                row = b.add(b.mul(row, ctx.sym(out.shape[d])), index[d])
            where = b.add(b.mul(row, plane), position)
            value = grad.load(b, ctx.offset(grad, index))
            if node.attrs["overlapping"]:
                current = out.load(b, where)
                value = b.fadd(current, value) if dt.is_floating_point else b.add(current, value)
            out.store(b, where, value)
