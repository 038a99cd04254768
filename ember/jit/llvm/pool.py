"""``max_pool`` (values and int64 flat indices) and ``avg_pool`` over the trailing ``len(kernel)`` dims.

Both loop over the leading dims (the planes, split over the worker pool when there is enough work) and the
output grid, and walk each window's taps in row-major order, unrolled (kernels are small), as the eager
kernels of ``ember/nn/functional/pool_kernels.py`` do. A tap outside the input (the low padding, or past the high
edge under ceil_mode) is skipped; its bounds checks are emitted only when some output position can put it
outside.

max_pool starts each window at the lowest value of the dtype and the position of the window's first tap inside
the input, and takes a tap when it is greater (strict ``>``: the first maximum wins) or NaN (a NaN wins, and a
later NaN replaces an earlier one); the index is the flat position in the unpadded input plane. avg_pool sums
the taps in order in torch's accumulator type (the dtype for floats, int64 for integers) and divides by torch's
divisor: ``divisor_override``, else the window's extent clipped to the padded input (``count_include_pad``) or
to the input itself; integers divide truncating toward zero.
"""

from __future__ import annotations

import itertools
import math

import llvmlite.ir as ir

from ember_runtime.cpu.gemm_microkernel import smin

from ...tensor import dtypes
from .codegen import I64, KernelContext, llvm_type, lowering, unsupported
from .layout import contiguous_strides
from .parallel import parallel_rows
from .reduce import nested_loops
from .scalar_ops import cast_value, constant

__all__ = ["lower_avg_pool", "lower_max_pool"]


def _const(value: int) -> ir.Constant:
    return ir.Constant(I64, value)


def _smax(b: ir.IRBuilder, x: ir.Value, y: ir.Value) -> ir.Value:
    return b.select(b.icmp_signed(">", x, y), x, y)


class _Window:
    """One output position's window: where each tap reads, and whether it is inside the input."""

    def __init__(self, ctx: KernelContext, kernel: tuple, stride: tuple, padding: tuple, dilation: tuple):
        self.ctx = ctx
        self.kernel, self.stride, self.padding, self.dilation = kernel, stride, padding, dilation
        source = ctx.tensor(ctx.node.operands[0])
        self.source = source
        self.nd = len(kernel)
        self.lead = len(source.shape) - self.nd
        self.in_sizes = tuple(source.shape[self.lead:])
        self.out_sizes = tuple(ctx.node.attrs["out_sizes"])
        # Row-major strides of the unpadded input plane: the max_pool indices count in it.
        self.plane = contiguous_strides(self.in_sizes)

    def starts(self, grid: list[ir.Value]) -> list[ir.Value]:
        """Each dim's input index of the window's tap 0 (``j * stride - padding``)."""
        b = self.ctx.builder
        return [b.sub(b.mul(j, _const(s)), _const(p)) for j, s, p in zip(grid, self.stride, self.padding, strict=True)]

    def _may_leave(self, d: int, t: int) -> tuple[bool, bool]:
        """Whether tap index ``t`` of dim ``d`` can fall below 0 / at or past the input's end."""
        offset = t * self.dilation[d] - self.padding[d]
        size, out = self.in_sizes[d], self.out_sizes[d]
        high = not isinstance(size, int) or (out - 1) * self.stride[d] + offset >= size
        return offset < 0, high

    def tap(self, starts: list[ir.Value], tap: tuple) -> tuple[list[ir.Value], ir.Value | None]:
        """The input index of ``tap`` in each dim, and an i1 "inside the input" (None: always inside)."""
        b = self.ctx.builder
        inside = None
        indices = []
        for d, (start, t) in enumerate(zip(starts, tap, strict=True)):
            index = b.add(start, _const(t * self.dilation[d]))
            indices.append(index)
            low, high = self._may_leave(d, t)
            checks = ([b.icmp_signed(">=", index, _const(0))] if low else []) + \
                ([b.icmp_signed("<", index, self.ctx.sym(self.in_sizes[d]))] if high else [])
            for check in checks:
                inside = check if inside is None else b.and_(inside, check)
        return indices, inside

    def load(self, outer: list[ir.Value], indices: list[ir.Value], inside: ir.Value | None) -> ir.Value:
        """The input element at ``outer`` + ``indices`` (element 0 where not ``inside``: any in-bounds one)."""
        b = self.ctx.builder
        offset = self.ctx.offset(self.source, [*outer, *indices])
        if inside is not None:
            offset = b.select(inside, offset, _const(0))
        return self.source.load(b, offset)

    def flat(self, indices: list[ir.Value]) -> ir.Value:
        """The flat position of ``indices`` in the unpadded input plane."""
        b = self.ctx.builder
        total = _const(0)
        for index, step in zip(indices, self.plane, strict=True):
            total = b.add(total, index if step == 1 else b.mul(index, self.ctx.sym(step)))
        return total


def _attrs(ctx: KernelContext) -> tuple:
    attrs = ctx.node.attrs
    kernel = tuple(attrs["kernel"])
    dilation = tuple(attrs.get("dilation") or (1,) * len(kernel))
    return kernel, tuple(attrs["stride"]), tuple(attrs["padding"]), dilation


def _lowest(dt: dtypes.dtype) -> ir.Constant:
    if dt.is_floating_point:
        return constant(dt, -math.inf)
    bits = llvm_type(dt).width
    return ir.Constant(llvm_type(dt), -(1 << (bits - 1)) if dt.is_signed else 0)


def _plane_work(window_sizes: tuple, out_sizes: tuple) -> object:
    """The work of one (leading-index) plane: its output positions times the window's taps."""
    work = math.prod(window_sizes)
    for size in out_sizes:
        work = size * work
    return work


def _over_planes(ctx: KernelContext, emit) -> None:
    """``emit(task_ctx, outer)`` for every index of the leading dims (the N*C planes), in parallel when large."""
    kernel = _attrs(ctx)[0]
    out = ctx.outputs[0]
    lead = len(out.shape) - len(kernel)
    parallel_rows(ctx, list(out.shape[:lead]), _plane_work(kernel, tuple(out.shape[lead:])), emit, "plane")


@lowering("max_pool")
def lower_max_pool(ctx: KernelContext) -> None:
    if ctx.outputs[0].dtype is dtypes.bool:
        raise unsupported(ctx.node.op, "bool input")
    _over_planes(ctx, _max_pool_plane)


def _max_pool_plane(ctx: KernelContext, outer: list[ir.Value]) -> None:
    b, dt = ctx.builder, ctx.outputs[0].dtype
    kernel, stride, padding, dilation = _attrs(ctx)
    window = _Window(ctx, kernel, stride, padding, dilation)
    values, indices = ctx.outputs
    with nested_loops(ctx, list(values.shape[window.lead:]), "o") as grid:
        index = [*outer, *grid]
        starts = window.starts(grid)
        # The window's first tap inside the input: min(max(0, ceil((padding - j * stride) / dilation)), k - 1).
        first = []
        for d, start in enumerate(starts):
            before = b.sub(_const(0), start)
            steps = b.sdiv(b.add(before, _const(dilation[d] - 1)), _const(dilation[d]))
            steps = b.select(b.icmp_signed(">", before, _const(0)), smin(b, steps, _const(kernel[d] - 1)), _const(0))
            first.append(b.add(start, b.mul(steps, _const(dilation[d]))))
        best, chosen = _lowest(dt), window.flat(first)
        for tap in itertools.product(*map(range, kernel)):
            tap_indices, inside = window.tap(starts, tap)
            value = window.load(outer, tap_indices, inside)
            if dt.is_floating_point:
                better = b.or_(b.fcmp_ordered(">", value, best), b.fcmp_unordered("uno", value, value))
            else:
                better = (b.icmp_signed if dt.is_signed else b.icmp_unsigned)(">", value, best)
            if inside is not None:
                better = b.and_(better, inside)
            best = b.select(better, value, best)
            chosen = b.select(better, window.flat(tap_indices), chosen)
        out_at = ctx.offset(values, index)
        values.store(b, out_at, best)
        indices.store(b, out_at, chosen)


def _divisor(ctx: KernelContext, window: _Window, starts: list[ir.Value], include_pad: bool) -> ir.Value:
    b = ctx.builder
    total = _const(1)
    for d, start in enumerate(starts):
        size = ctx.sym(window.in_sizes[d])
        end = smin(b, b.add(start, _const(window.kernel[d])), b.add(size, _const(window.padding[d])))
        clipped = (start, end) if include_pad else (_smax(b, start, _const(0)), smin(b, end, size))
        count = b.sub(clipped[1], clipped[0])
        total = b.mul(total, count)
    return total


@lowering("avg_pool")
def lower_avg_pool(ctx: KernelContext) -> None:
    if ctx.outputs[0].dtype is dtypes.bool:
        raise unsupported(ctx.node.op, "bool input")
    _over_planes(ctx, _avg_pool_plane)


def _avg_pool_plane(ctx: KernelContext, outer: list[ir.Value]) -> None:
    b, dt = ctx.builder, ctx.outputs[0].dtype
    kernel, stride, padding, dilation = _attrs(ctx)
    attrs = ctx.node.attrs
    window = _Window(ctx, kernel, stride, padding, dilation)
    out = ctx.outputs[0]
    acc_dt = dt if dt.is_floating_point else dtypes.int64
    with nested_loops(ctx, list(out.shape[window.lead:]), "o") as grid:
        index = [*outer, *grid]
        starts = window.starts(grid)
        total = constant(acc_dt, 0)
        for tap in itertools.product(*map(range, kernel)):
            tap_indices, inside = window.tap(starts, tap)
            value = cast_value(b, window.load(outer, tap_indices, inside), dt, acc_dt)
            if inside is not None:
                value = b.select(inside, value, constant(acc_dt, 0))
            total = b.fadd(total, value) if acc_dt.is_floating_point else b.add(total, value)
        if attrs["divisor_override"]:
            divisor = _const(int(attrs["divisor_override"]))
        else:
            divisor = _divisor(ctx, window, starts, attrs["count_include_pad"])
        if acc_dt.is_floating_point:
            mean = b.fdiv(total, b.sitofp(divisor, llvm_type(acc_dt)))
        else:
            mean = cast_value(b, b.sdiv(total, divisor), acc_dt, dt)
        out.store(b, ctx.offset(out, index), mean)

