"""Creation ops (no tensor operands): ``full``, ``empty``, ``eye``, ``arange``, ``linspace`` and ``logspace``.

Their sizes may be expressions of the graph's symbols (``arange(x.shape[0])``), so each kernel computes its
values from the element index at run time, in the arithmetic of the eager kernels (``ember/tensor/creation.py``,
``ember/tensor/ops/ranges.py``), which follow ATen's: ``arange`` is ``start + step * i`` in int64 (integer
dtypes, wrapping into narrower ones) or double; ``linspace`` is ATen's two-ended ramp, ``start + step * i``
for the first half and ``end - step * (steps - 1 - i)`` for the rest, each a fused multiply-add in double
(``llvm.fma`` rounds once, as the eager ``_fma`` emulates); ``logspace`` raises ``base`` to such exponents with
the C library's ``pow`` (not fused, as in ATen's build). Floats truncate towards zero into integer dtypes.
The bounds are numbers known when compiling; only the counts may be symbolic, so a ``steps`` of 1 (a fill of
``start``) is decided at run time.
"""

from __future__ import annotations

import math

import llvmlite.ir as ir
import numpy as np

from ...tensor import dtypes
from ...tensor.scalars import checked_scalar
from ..symbolic import SymExpr
from .codegen import I64, KernelContext, lowering, unsupported
from .elementwise import emit_pointwise
from .movement import for_each_element
from .parallel import rebind
from .reduce import nested_loops
from .scalar_ops import call_math, cast_value, constant, intrinsic

__all__: list[str] = []

_DOUBLE = ir.DoubleType()


def _fill(ctx: KernelContext, value) -> None:
    """Every output element set to the number ``value``, converted as ``np.full`` does."""
    out = ctx.outputs[0]
    if not out.dtype.is_floating_point and out.dtype is not dtypes.bool and isinstance(value, float) and not (
            math.isfinite(value)):
        raise unsupported(ctx.node.op, "a non-finite value in an integer tensor")
    fill = constant(out.dtype, value)
    emit_pointwise(ctx, out, [], lambda b, loaded: fill)


@lowering("full")
def lower_full(ctx: KernelContext) -> None:
    value = ctx.node.operands[1]
    if isinstance(value, SymExpr) or not isinstance(value, bool | int | float):
        raise unsupported(ctx.node.op, f"a fill value of type {type(value).__name__}")
    _fill(ctx, value)


@lowering("empty")
def lower_empty(ctx: KernelContext) -> None:
    # Uninitialised contents, as the eager op gives: nothing to compute.
    return


@lowering("eye")
def lower_eye(ctx: KernelContext) -> None:
    out = ctx.outputs[0]
    one, zero = constant(out.dtype, 1), constant(out.dtype, 0)

    def body(task: KernelContext, at: list[ir.Value]) -> None:
        b, writing = task.builder, rebind(task, out)
        row, column = at
        writing.store(b, task.offset(writing, at), b.select(b.icmp_unsigned("==", row, column), one, zero))

    for_each_element(ctx, out.shape, body)


def _as_double(ctx: KernelContext, number) -> ir.Value:
    """A bound (a number, or a size expression for an integer bound) as a double in IR."""
    if isinstance(number, SymExpr):
        return ctx.builder.sitofp(ctx.sym(number), _DOUBLE)
    return ir.Constant(_DOUBLE, float(number))


@lowering("arange")
def lower_arange(ctx: KernelContext) -> None:
    node, b, out = ctx.node, ctx.builder, ctx.outputs[0]
    start, step = node.attrs["start"], node.attrs["step"]
    with nested_loops(ctx, list(out.shape), "i") as (i,):
        if not out.dtype.is_floating_point:
            # Integer ranges run in int64 (bounds truncated towards zero) and wrap into narrower dtypes.
            first = ctx.sym(start) if isinstance(start, SymExpr) else ir.Constant(I64, int(start))
            stride = ctx.sym(step) if isinstance(step, SymExpr) else ir.Constant(I64, int(step))
            value = cast_value(b, b.add(first, b.mul(stride, i)), dtypes.int64, out.dtype)
        else:
            # float32 and float64 ranges accumulate in double: start + step * i, rounded after each operation.
            wide = b.fadd(_as_double(ctx, start), b.fmul(_as_double(ctx, step), b.sitofp(i, _DOUBLE)))
            value = cast_value(b, wide, dtypes.float64, out.dtype)
        out.store(b, ctx.offset(out, [i]), value)


def _bounds(ctx: KernelContext) -> tuple:
    """(start, end) as the eager kernels read them for more than one step: converted to the dtype (floats
    rounded to float32 for float32)."""
    node, dt = ctx.node, ctx.outputs[0].dtype
    start, end = node.attrs["start"], node.attrs["end"]
    if isinstance(start, SymExpr) or isinstance(end, SymExpr):
        raise unsupported(node.op, "symbolic bounds")
    return checked_scalar(start, dt, round_floats=True), checked_scalar(end, dt, round_floats=True)


def _ramp(ctx: KernelContext, i: ir.Value, steps: ir.Value, start: ir.Value, end: ir.Value, step: ir.Value,
          fused: bool) -> ir.Value:
    """ATen's two-ended ramp in double at index ``i``: forward from ``start`` for the first ``steps // 2`` values,
    backward from ``end`` for the rest, each a fused multiply-add when ``fused``."""
    b = ctx.builder
    forward = b.icmp_signed("<", i, b.sdiv(steps, ir.Constant(I64, 2)))
    count = b.sitofp(b.select(forward, i, b.sub(b.sub(steps, ir.Constant(I64, 1)), i)), _DOUBLE)
    scale = b.select(forward, step, b.fneg(step))
    base = b.select(forward, start, end)
    return intrinsic(b, "fma", scale, count, base) if fused else b.fadd(b.fmul(scale, count), base)


@lowering("linspace")
def lower_linspace(ctx: KernelContext) -> None:
    node, b, out = ctx.node, ctx.builder, ctx.outputs[0]
    dt = out.dtype
    steps = ctx.sym(node.attrs["steps"])
    start, end = _bounds(ctx)
    gaps = b.sub(steps, ir.Constant(I64, 1))
    if dt is dtypes.float32:
        # The step is a float32 quotient of the float32 span.
        span = constant(dt, _float32(_float32(end) - _float32(start)))
        step = b.fpext(b.fdiv(span, b.sitofp(gaps, ir.FloatType())), _DOUBLE)
    else:
        step = b.fdiv(ir.Constant(_DOUBLE, float(end) - float(start)), b.sitofp(gaps, _DOUBLE))
    # A single step is a fill of start (the raw bound, converted as np.full then a C cast would).
    single = cast_value(b, _as_double(ctx, node.attrs["start"]), dtypes.float64, dt) if isinstance(
        node.attrs["start"], float) else constant(dt, node.attrs["start"])
    with nested_loops(ctx, [node.attrs["steps"]], "i") as (i,):
        ramp = _ramp(ctx, i, steps, ir.Constant(_DOUBLE, float(start)), ir.Constant(_DOUBLE, float(end)), step, True)
        value = b.select(b.icmp_signed("==", steps, ir.Constant(I64, 1)), single, _to_dtype(b, ramp, dt))
        out.store(b, ctx.offset(out, [i]), value)


def _to_dtype(b: ir.IRBuilder, value: ir.Value, dt: dtypes.dtype) -> ir.Value:
    """A double converted as the eager ``_cast``: a C cast (floats truncate into integers)."""
    if not dt.is_floating_point and dt is not dtypes.bool:
        value = intrinsic(b, "trunc", value)
    return cast_value(b, value, dtypes.float64, dt)


def _float32(number) -> float:
    """``number`` rounded to float32 (as a Python float)."""
    return float(np.float32(number))


@lowering("logspace")
def lower_logspace(ctx: KernelContext) -> None:
    node, b, out = ctx.node, ctx.builder, ctx.outputs[0]
    dt = out.dtype
    steps = ctx.sym(node.attrs["steps"])
    start, end = _bounds(ctx)
    base = ir.Constant(_DOUBLE, float(node.attrs["base"]))
    # The span is taken in the dtype (exact for integers, float32 arithmetic for float32), divided in double.
    span = end - start if not dt.is_floating_point else (
        _float32(end) - _float32(start) if dt is dtypes.float32 else float(end) - float(start))
    if dt is dtypes.float32:
        span = _float32(span)
    step = b.fdiv(ir.Constant(_DOUBLE, float(span)), b.sitofp(b.sub(steps, ir.Constant(I64, 1)), _DOUBLE))
    # A single step is base ** start (the raw bound).
    single_power = call_math(b, "pow", _DOUBLE, base, ir.Constant(_DOUBLE, float(node.attrs["start"])))
    with nested_loops(ctx, [node.attrs["steps"]], "i") as (i,):
        exponent = _ramp(ctx, i, steps, ir.Constant(_DOUBLE, float(start)), ir.Constant(_DOUBLE, float(end)), step,
                         False)
        power = call_math(b, "pow", _DOUBLE, base, exponent)
        power = b.select(b.icmp_signed("==", steps, ir.Constant(I64, 1)), single_power, power)
        out.store(b, ctx.offset(out, [i]), _to_dtype(b, power, dt))

