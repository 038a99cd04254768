"""Reductions (sum, mean, amax, amin, var, std over any dims, keepdim or not) and the softmax/log_softmax row kernels.

A reduction loops over the kept dims outside and the reduced dims inside, into one scalar accumulator per
output element (float32 sums accumulate in float64, which keeps long sums within float32 rounding of the exact
value; NumPy's pairwise sums are as close). amax/amin propagate NaN, as ``np.maximum.reduce`` does.

softmax and log_softmax run per row (every index of the other dims): the row maximum, then the sum of
``exp(x - max)`` (softmax stores the exponentials on the way), then the normalised row, in three passes.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import llvmlite.ir as ir

from ...tensor import dtypes
from .codegen import I64, KernelContext, count_loop, llvm_type, lowering, unsupported
from .scalar_ops import cast_value, constant, intrinsic

__all__ = ["nested_loops"]


@contextmanager
def nested_loops(ctx: KernelContext, sizes: list, name: str) -> Iterator[list[ir.Value]]:
    """Loops over ``sizes`` (expressions), outermost first; yields the indices."""
    with ExitStack() as stack:
        yield [stack.enter_context(count_loop(ctx.builder, ctx.sym(s), f"{name}{d}")) for d, s in enumerate(sizes)]


def _accumulator_type(op: str, dt: dtypes.dtype) -> dtypes.dtype:
    return dtypes.float64 if dt is dtypes.float32 and op in ("sum", "mean") else dt


def _initial(op: str, dt: dtypes.dtype) -> ir.Constant:
    if op in ("sum", "mean"):
        return constant(dt, 0)
    largest = op == "amax"
    if dt.is_floating_point:
        return constant(dt, -math.inf if largest else math.inf)
    if dt is dtypes.bool:
        return constant(dt, not largest)
    bits = llvm_type(dt).width
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if dt.is_signed else (0, (1 << bits) - 1)
    return ir.Constant(llvm_type(dt), low if largest else high)


def _combine(b: ir.IRBuilder, op: str, dt: dtypes.dtype, acc: ir.Value, x: ir.Value) -> ir.Value:
    if op in ("sum", "mean"):
        if dt is dtypes.bool:
            return b.or_(acc, x)
        return b.fadd(acc, x) if dt.is_floating_point else b.add(acc, x)
    largest = op == "amax"
    if dt.is_floating_point:
        return intrinsic(b, "maximum" if largest else "minimum", acc, x)
    compare = b.icmp_signed if dt.is_signed else b.icmp_unsigned
    return b.select(compare(">" if largest else "<", x, acc), x, acc)


@lowering("sum", "mean", "amax", "amin", "var", "std")
def lower_reduction(ctx: KernelContext) -> None:
    node, b = ctx.node, ctx.builder
    source = ctx.tensor(node.operands[0])
    out = ctx.outputs[0]
    dims = tuple(node.attrs["dim"])
    compute = node.attrs.get("dtype", source.dtype)
    if compute in (dtypes.float16, dtypes.bfloat16):
        raise unsupported(node.op, "float16/bfloat16 reductions")
    statistic = node.op in ("var", "std")
    # var/std compute in float64, as their eager kernel does (two passes: the mean, then squared deviations).
    acc_dt = dtypes.float64 if statistic else _accumulator_type(node.op, compute)
    kept = [d for d in range(len(source.shape)) if d not in dims]
    acc = _entry_alloca(ctx, llvm_type(acc_dt))
    # The output is contiguous in the reduced shape: keepdim leaves size-1 dims where the reduced ones were.
    out_strides = [out.strides[d] for d in kept] if node.attrs["keepdim"] else list(out.strides)
    count = ir.Constant(I64, 1)
    for d in dims:
        count = b.mul(count, ctx.sym(source.shape[d]))
    with nested_loops(ctx, [source.shape[d] for d in kept], "o") as outer:

        def accumulate(op: str, transform=None) -> ir.Value:
            b.store(_initial(op, acc_dt), acc)
            with nested_loops(ctx, [source.shape[d] for d in dims], "r") as inner:
                index = [None] * len(source.shape)
                for d, i in [*zip(kept, outer, strict=True), *zip(dims, inner, strict=True)]:
                    index[d] = i
                x = cast_value(b, source.load(b, ctx.offset(source, index)), source.dtype, acc_dt)
                b.store(_combine(b, op, acc_dt, b.load(acc), x if transform is None else transform(x)), acc)
            return b.load(acc)

        if statistic:
            mean = b.fdiv(accumulate("sum"), b.sitofp(count, llvm_type(acc_dt)))
            squares = accumulate("sum", lambda x: b.fmul(b.fsub(x, mean), b.fsub(x, mean)))
            divisor = b.fsub(b.sitofp(count, squares.type), constant(acc_dt, node.attrs["correction"]))
            divisor = b.select(b.fcmp_ordered(">", divisor, constant(acc_dt, 0)), divisor, constant(acc_dt, 0))
            result = b.fdiv(squares, divisor)
            if node.op == "std":
                result = intrinsic(b, "sqrt", result)
        else:
            result = accumulate(node.op)
            if node.op == "mean":
                result = b.fdiv(result, b.sitofp(count, result.type))
        out_index = _sum_products(b, ctx, outer, out_strides)
        out.store(b, out_index, cast_value(b, result, acc_dt, out.dtype))


def _sum_products(b: ir.IRBuilder, ctx: KernelContext, indices: list, strides: list) -> ir.Value:
    total = ir.Constant(I64, 0)
    for index, stride in zip(indices, strides, strict=True):
        total = b.add(total, index if stride == 1 else b.mul(index, ctx.sym(stride)))
    return total


def _entry_alloca(ctx: KernelContext, ty: ir.Type) -> ir.Value:
    """A stack slot allocated in the kernel's entry block (so LLVM promotes it to a register)."""
    return ctx.sym.builder.alloca(ty)


@lowering("softmax", "log_softmax")
def lower_softmax(ctx: KernelContext) -> None:
    node, b = ctx.node, ctx.builder
    source, out = ctx.tensor(node.operands[0]), ctx.outputs[0]
    dt = node.attrs["dtype"]
    if dt not in (dtypes.float32, dtypes.float64):
        raise unsupported(node.op, f"dtype {dt}")
    rank = len(source.shape)
    if rank == 0:
        raise unsupported(node.op, "a 0-d input")
    dim = node.attrs["dim"] % rank
    others = [d for d in range(rank) if d != dim]
    top, total = _entry_alloca(ctx, llvm_type(dt)), _entry_alloca(ctx, llvm_type(dt))
    length = ctx.sym(source.shape[dim])

    def offsets(outer: list, i: ir.Value) -> tuple[ir.Value, ir.Value]:
        index = [None] * rank
        for d, j in zip(others, outer, strict=True):
            index[d] = j
        index[dim] = i
        return ctx.offset(source, index), ctx.offset(out, index)

    def element(outer: list, i: ir.Value) -> ir.Value:
        return cast_value(b, source.load(b, offsets(outer, i)[0]), source.dtype, dt)

    with nested_loops(ctx, [source.shape[d] for d in others], "row") as outer:
        b.store(_initial("amax", dt), top)
        b.store(constant(dt, 0), total)
        with count_loop(b, length, "max") as i:
            b.store(_combine(b, "amax", dt, b.load(top), element(outer, i)), top)
        with count_loop(b, length, "exp") as i:
            e = intrinsic(b, "exp", b.fsub(element(outer, i), b.load(top)))
            if node.op == "softmax":
                out.store(b, offsets(outer, i)[1], e)
            b.store(b.fadd(b.load(total), e), total)
        with count_loop(b, length, "norm") as i:
            if node.op == "softmax":
                at = offsets(outer, i)[1]
                out.store(b, at, b.fdiv(out.load(b, at), b.load(total)))
            else:
                shift = b.fadd(b.load(top), intrinsic(b, "log", b.load(total)))
                out.store(b, offsets(outer, i)[1], b.fsub(element(outer, i), shift))
