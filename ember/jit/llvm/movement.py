"""Shape ops that copy: cat, stack, flip, roll, repeat, repeat_interleave, tril and triu.

Each kernel loops over the elements it writes, reading through the operand's strides (so transposed or sliced
sources need no copy first) and writing the contiguous output; the rows of a large output run in parallel
(:func:`for_each_element`), and cat/stack copy each source into its window of the output with the vectorised
element-wise copy. Every output element is computed the same way on any thread count. The reference is each
op's NumPy kernel in ``ember/tensor/ops/shape.py``: cat and stack convert every input to the promoted dtype,
roll rotates by ``shift mod size`` (the flattened tensor when no dims are given), repeat is NumPy's ``tile``
on the tensor padded with leading 1s, and repeat_interleave copies element ``j`` ``repeats[j]`` times. Sizes
are expressions of the graph's symbols, so every kernel runs at any batch size. Views (split, permute,
narrow...) produce no kernel here: later kernels read them through their strides (``layout.py``).
"""

from __future__ import annotations

from collections.abc import Callable

import llvmlite.ir as ir

from ember_runtime.cpu.status import NEGATIVE_REPEATS, REPEATS_MISMATCH

from ...tensor import dtypes
from ...tensor.shape_rules import wrap_dim
from ..ir import Value
from ..symbolic import as_expr
from .codegen import I64, KernelContext, Operand, count_loop, lowering, memory_type, unsupported
from .elementwise import emit_pointwise
from .parallel import parallel_rows, rebind
from .reduce import nested_loops
from .scalar_ops import cast_value, constant

__all__ = ["copy_element", "for_each_element", "positive_mod", "unravel"]

_ZERO = ir.Constant(I64, 0)
_ONE = ir.Constant(I64, 1)


def for_each_element(ctx: KernelContext, shape: tuple | list, body: Callable[[KernelContext, list[ir.Value]], None],
                     name: str = "o") -> None:
    """``body(task, indices)`` for every index of ``shape``, row-major; the rows (all dims but the last) run in
    parallel when the whole is large (:func:`~.parallel.parallel_rows`). ``body`` must emit with ``task`` (its
    builder, ``sym``, ``report``) and read operands through :func:`~.parallel.rebind` (as :func:`copy_element`
    does): inside a task function the kernel's own IR values are out of reach."""
    shape = list(shape)
    if not shape:
        body(ctx, [])
        return

    def row(task: KernelContext, outer: list[ir.Value]) -> None:
        with count_loop(task.builder, task.sym(shape[-1]), f"{name}_last") as last:
            body(task, [*outer, last])

    parallel_rows(ctx, shape[:-1], shape[-1], row, name)


def copy_element(ctx: KernelContext, source: Operand, source_at: list[ir.Value], out: Operand,
                 out_at: list[ir.Value]) -> None:
    """``out[out_at] = source[source_at]``, converted to the output's dtype (operands rebound to ``ctx``)."""
    b = ctx.builder
    source, out = rebind(ctx, source), rebind(ctx, out)
    value = source.load(b, ctx.offset(source, source_at))
    out.store(b, ctx.offset(out, out_at), cast_value(b, value, source.dtype, out.dtype))


def positive_mod(b: ir.IRBuilder, value: ir.Value, size: ir.Value) -> ir.Value:
    """``value mod size`` in ``[0, size)`` (Python's ``%`` for a positive ``size``)."""
    rest = b.srem(value, size)
    return b.select(b.icmp_signed("<", rest, _ZERO), b.add(rest, size), rest)


def unravel(ctx: KernelContext, flat: ir.Value, shape: tuple) -> list[ir.Value]:
    """The row-major indices of the linear position ``flat`` in ``shape`` (sizes as expressions)."""
    b = ctx.builder
    indices = []
    for size in reversed(shape[1:]):
        extent = ctx.sym(size)
        indices.append(b.urem(flat, extent))
        flat = b.udiv(flat, extent)
    indices.append(flat)
    return indices[::-1] if shape else []


@lowering("cat", "stack")
def lower_cat(ctx: KernelContext) -> None:
    node, b = ctx.node, ctx.builder
    out = ctx.outputs[0]
    sources = [ctx.tensor(v) for v in node.operands[0]]
    stacking = node.op == "stack"
    dim = wrap_dim(node.attrs["dim"], len(out.shape))
    start = as_expr(0)
    for position, source in enumerate(sources):
        if not stacking and tuple(source.shape) == (0,) and len(out.shape) != 1:
            continue  # the legacy empty tensor cat skips, whatever the rank of the others
        # Each source is copied into its window of the output: an element-wise copy, vectorised where both
        # walk their inner dims contiguously.
        first = position if stacking else start
        strides = out.strides[:dim] + out.strides[dim + 1:] if stacking else out.strides
        origin = b.gep(out.ptr, [ctx.sym(as_expr(first) * out.strides[dim])], inbounds=True,
                       source_etype=memory_type(out.dtype))
        window = Operand(origin, out.dtype, tuple(source.shape), tuple(strides))
        emit_pointwise(ctx, window, [source], lambda b, loaded, dt=source.dtype: cast_value(b, loaded[0], dt,
                                                                                            out.dtype))
        if not stacking:
            start = start + source.shape[dim]


@lowering("flip")
def lower_flip(ctx: KernelContext) -> None:
    node = ctx.node
    source, out = ctx.tensor(node.operands[0]), ctx.outputs[0]
    flipped = {wrap_dim(d, len(out.shape)) for d in node.attrs["dims"]} if out.shape else set()

    def body(task: KernelContext, at: list[ir.Value]) -> None:
        b = task.builder
        source_at = [b.sub(b.sub(task.sym(out.shape[d]), _ONE), i) if d in flipped else i for d, i in enumerate(at)]
        copy_element(task, source, source_at, out, at)

    for_each_element(ctx, out.shape, body)


@lowering("roll")
def lower_roll(ctx: KernelContext) -> None:
    node, b = ctx.node, ctx.builder
    source, out = ctx.tensor(node.operands[0]), ctx.outputs[0]
    shifts, dims = node.attrs["shifts"], node.attrs["dims"]
    if not dims:
        # The flattened tensor rotates: output position j holds source position (j - shift) mod numel.
        count = as_expr(1)
        for size in out.shape:
            count = count * size
        total = ctx.sym(count)
        with count_loop(b, total, "j") as flat:
            moved = positive_mod(b, b.sub(flat, ctx.sym(shifts[0])), total)
            copy_element(ctx, source, unravel(ctx, moved, tuple(source.shape)), out, unravel(ctx, flat, out.shape))
        return
    # Shifts along one dim add up (np.roll does the same with a repeated axis).
    by_dim: dict[int, object] = {}
    for shift, d in zip(shifts, dims, strict=True):
        d = wrap_dim(d, len(out.shape))
        by_dim[d] = as_expr(by_dim.get(d, 0)) + shift

    def body(task: KernelContext, at: list[ir.Value]) -> None:
        source_at = list(at)
        for d, shift in by_dim.items():
            source_at[d] = positive_mod(task.builder, task.builder.sub(at[d], task.sym(shift)),
                                        task.sym(out.shape[d]))
        copy_element(task, source, source_at, out, at)

    for_each_element(ctx, out.shape, body)


@lowering("repeat")
def lower_repeat(ctx: KernelContext) -> None:
    source, out = ctx.tensor(ctx.node.operands[0]), ctx.outputs[0]
    lead = len(out.shape) - len(source.shape)

    def body(task: KernelContext, at: list[ir.Value]) -> None:
        # Output index i along a tiled dim reads source index i mod size; the padded leading dims read index 0.
        source_at = [task.builder.urem(i, task.sym(size)) for i, size in zip(at[lead:], source.shape, strict=True)]
        copy_element(task, source, source_at, out, at)

    for_each_element(ctx, out.shape, body)


@lowering("repeat_interleave")
def lower_repeat_interleave(ctx: KernelContext) -> None:
    node = ctx.node
    source, repeats = ctx.tensor(node.operands[0]), node.operands[1]
    out = ctx.outputs[0]
    dim = node.attrs["dim"]
    if not isinstance(repeats, Value):
        # One count for every element: output index i along dim reads source index i // repeats (a count of 0
        # gives an empty output, whose loop never divides).
        def body(task: KernelContext, at: list[ir.Value]) -> None:
            source_at = [*at[:dim], task.builder.udiv(at[dim], task.sym(repeats)), *at[dim + 1:]]
            copy_element(task, source, source_at, out, at)

        for_each_element(ctx, out.shape, body)
        return
    _interleave_by_counts(ctx, source, ctx.tensor(repeats), out, dim)


def _interleave_by_counts(ctx: KernelContext, source: Operand, counts: Operand, out: Operand, dim: int) -> None:
    """Per-element counts: element ``j`` fills the next ``counts[j]`` output slots along ``dim``.

    The eager op raises when a count is negative or the counts do not add up to the output size (its
    ``output_size``); the kernel writes only slots inside the output, reports such counts, and the call raises.
    """
    b = ctx.builder
    if counts.dtype.is_floating_point or counts.dtype is dtypes.bool:
        raise unsupported(ctx.node.op, f"repeats of dtype {counts.dtype}")
    length, size = ctx.sym(source.shape[dim]), ctx.sym(out.shape[dim])
    single = len(counts.shape) == 0 or as_expr(counts.shape[0]) == 1
    position = ctx.sym.builder.alloca(I64, name="position")  # in the entry block: promoted to a register
    b.store(_ZERO, position)
    with count_loop(b, length, "j") as j:
        raw = counts.load(b, _ZERO if single else ctx.offset(counts, [j]))
        raw = b.sext(raw, I64) if raw.type.width < 64 and counts.dtype.is_signed else (
            b.zext(raw, I64) if raw.type.width < 64 else raw)
        ctx.report(b.icmp_signed("<", raw, _ZERO), NEGATIVE_REPEATS)
        start = b.load(position, typ=I64)
        stop = b.add(start, b.select(b.icmp_signed("<", raw, _ZERO), _ZERO, raw))
        b.store(stop, position)
        # Only slots below the output size are written; a total that differs from it is reported below.
        end = b.select(b.icmp_signed(">", stop, size), size, stop)
        with count_loop(b, b.select(b.icmp_signed(">", end, start), b.sub(end, start), _ZERO), "r") as r:
            slot = b.add(start, r)
            outer, inner = list(out.shape[:dim]), list(out.shape[dim + 1:])
            with nested_loops(ctx, [*outer, *inner], "k") as at:
                source_at = [*at[:dim], j, *at[dim:]]
                copy_element(ctx, source, source_at, out, [*at[:dim], slot, *at[dim:]])
    ctx.report(b.icmp_signed("!=", b.load(position, typ=I64), size), REPEATS_MISMATCH)


@lowering("tril", "triu")
def lower_triangle(ctx: KernelContext) -> None:
    node = ctx.node
    source, out = ctx.tensor(node.operands[0]), ctx.outputs[0]
    lower = node.op == "tril"
    zero = constant(out.dtype, 0)

    def body(task: KernelContext, at: list[ir.Value]) -> None:
        b = task.builder
        reading, writing = rebind(task, source), rebind(task, out)
        # tril keeps column - row <= diagonal, triu keeps column - row >= diagonal.
        keep = b.icmp_signed("<=" if lower else ">=", b.sub(at[-1], at[-2]), task.sym(node.attrs["diagonal"]))
        value = reading.load(b, task.offset(reading, at))
        writing.store(b, task.offset(writing, at), b.select(keep, value, zero))

    for_each_element(ctx, out.shape, body)
