"""sort and topk along one dim: a stable bottom-up merge sort of each slice, O(n log n).

Each slice along the dim is copied with its positions into the kernel's scratch (a values buffer and an int64
positions buffer, twice: the merge passes go back and forth between the two), merged in runs of 1, 2, 4...
elements, and the first ``n`` (sort) or ``k`` (topk) results are written out. The order is the eager op's
(``ember/tensor/ops/sorting.py``): NaN is larger than every number (last ascending, first descending), and
equal elements (NaNs among them) keep their input order in both directions. A merge takes the right run's
element only when it strictly comes first, which is what makes it stable. The merge step is branch-free
(selects), so its cost does not depend on how the data compares.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import llvmlite.ir as ir

from ember_runtime.cpu.gemm_microkernel import smin

from ...tensor import dtypes
from ..ir import Node
from ..symbolic import as_expr
from .codegen import I64, SCRATCH, KernelContext, Operand, count_loop, lowering, unsupported
from .reduce import nested_loops, sum_products

__all__ = ["lower_sort"]

_INDEX_BYTES = 8


def _sort_dim(node: Node) -> int | None:
    rank = len(node.operands[0].shape)
    return node.attrs["dim"] % rank if rank else None


def _scratch_bytes(node: Node, vector_bits: int):
    """Two values buffers and two int64 positions buffers, one slice long each (none for a 0-d input)."""
    dim = _sort_dim(node)
    if dim is None:
        return None
    length = as_expr(node.operands[0].shape[dim])
    return length * (2 * (_INDEX_BYTES + node.operands[0].dtype.itemsize))


SCRATCH["sort"] = SCRATCH["topk"] = _scratch_bytes


@contextmanager
def _doubling_loop(b: ir.IRBuilder, stop: ir.Value, name: str) -> Iterator[ir.Value]:
    """``for (width = 1; width < stop; width *= 2)``: yields ``width`` with the builder in the body."""
    before = b.block
    head, body, done = (b.append_basic_block(f"{name}.{part}") for part in ("head", "body", "done"))
    b.branch(head)
    b.position_at_end(head)
    width = b.phi(I64, name)
    width.add_incoming(ir.Constant(I64, 1), before)
    b.cbranch(b.icmp_signed("<", width, stop), body, done)
    b.position_at_end(body)
    yield width
    width.add_incoming(b.shl(width, ir.Constant(I64, 1)), b.block)
    b.branch(head)
    b.position_at_end(done)


def _comes_first(b: ir.IRBuilder, dt: dtypes.dtype, descending: bool, x: ir.Value, y: ir.Value) -> ir.Value:
    """Whether ``x`` strictly precedes ``y`` in the order (NaN the largest value; NaNs tie)."""
    if dt.is_floating_point:
        x_nan, y_nan = b.fcmp_unordered("uno", x, x), b.fcmp_unordered("uno", y, y)
        if descending:
            return b.or_(b.fcmp_ordered(">", x, y), b.and_(x_nan, b.not_(y_nan)))
        return b.or_(b.fcmp_ordered("<", x, y), b.and_(b.not_(x_nan), y_nan))
    compare = b.icmp_signed if dt.is_signed else b.icmp_unsigned
    return compare(">" if descending else "<", x, y)


@lowering("sort", "topk")
def lower_sort(ctx: KernelContext) -> None:
    node, b = ctx.node, ctx.builder
    source = ctx.tensor(node.operands[0])
    values_out, indices_out = ctx.outputs
    dt = source.dtype
    if dt in (dtypes.float16, dtypes.bfloat16):
        raise unsupported(node.op, "float16/bfloat16")
    descending = bool(node.attrs["descending"] if node.op == "sort" else node.attrs["largest"])
    dim = _sort_dim(node)
    zero = ir.Constant(I64, 0)
    if dim is None:  # a 0-d input: itself, at position 0
        values_out.store(b, zero, source.load(b, zero))
        indices_out.store(b, zero, zero)
        return
    length_expr = source.shape[dim]
    n = ctx.sym(length_expr)
    kept = ctx.sym(node.attrs["k"]) if node.op == "topk" else n
    one = ir.Constant(I64, 1)

    # Scratch: positions A, positions B, values A, values B (8-byte buffers first keep every buffer aligned).
    value_bytes = dt.itemsize
    starts = (0, _INDEX_BYTES, 2 * _INDEX_BYTES, 2 * _INDEX_BYTES + value_bytes)
    buffers = [b.gep(ctx.scratch, [b.mul(n, ir.Constant(I64, start))], inbounds=True, source_etype=ir.IntType(8))
               for start in starts]
    positions = [Operand(p, dtypes.int64, (length_expr,), (1,)) for p in buffers[:2]]
    values = [Operand(p, dt, (length_expr,), (1,)) for p in buffers[2:]]
    # Which of the two buffer pairs holds the current runs (0 or 1), and the merge cursors.
    current = ctx.sym.builder.alloca(ir.IntType(1))
    left_at, right_at = ctx.sym.builder.alloca(I64), ctx.sym.builder.alloca(I64)

    def pick(pair: list[Operand], second: ir.Value) -> Operand:
        return Operand(b.select(second, pair[1].ptr, pair[0].ptr), pair[0].dtype, pair[0].shape, (1,))

    def merge(src: tuple[Operand, Operand], dst: tuple[Operand, Operand], low: ir.Value, middle: ir.Value,
              high: ir.Value) -> None:
        """The sorted runs ``[low, middle)`` and ``[middle, high)`` of ``src`` (values, positions) merged into
        ``dst`` at ``low``: the right run's element goes first only when it strictly comes first (stability)."""
        last = b.sub(n, one)
        b.store(low, left_at)
        b.store(middle, right_at)
        with count_loop(b, b.sub(high, low), "merge") as k:
            # A cursor past its run reads a clamped (in-bounds) element that the select then ignores.
            left, right = b.load(left_at), b.load(right_at)
            left_value, right_value = src[0].load(b, smin(b, left, last)), src[0].load(b, smin(b, right, last))
            left_done, right_remains = b.icmp_signed(">=", left, middle), b.icmp_signed("<", right, high)
            first = _comes_first(b, dt, descending, right_value, left_value)
            take_right = b.and_(right_remains, b.or_(left_done, first))
            at = b.add(low, k)
            dst[0].store(b, at, b.select(take_right, right_value, left_value))
            dst[1].store(b, at, b.select(take_right, src[1].load(b, smin(b, right, last)),
                                         src[1].load(b, smin(b, left, last))))
            b.store(b.add(right, b.zext(take_right, I64)), right_at)
            b.store(b.add(left, b.zext(b.not_(take_right), I64)), left_at)

    others = [d for d in range(len(source.shape)) if d != dim]
    src_stride, out_stride = ctx.sym(source.strides[dim]), ctx.sym(values_out.strides[dim])
    with nested_loops(ctx, [source.shape[d] for d in others], "row") as outer:
        src_row = sum_products(b, ctx, outer, [source.strides[d] for d in others])
        out_row = sum_products(b, ctx, outer, [values_out.strides[d] for d in others])
        with count_loop(b, n, "load") as i:
            values[0].store(b, i, source.load(b, b.add(src_row, b.mul(i, src_stride))))
            positions[0].store(b, i, i)
        b.store(ir.Constant(ir.IntType(1), 0), current)
        with _doubling_loop(b, n, "width") as width:
            flag = b.load(current)
            span = b.shl(width, one)
            with count_loop(b, b.udiv(b.add(n, b.sub(span, one)), span), "run") as run:
                low = b.mul(run, span)
                merge((pick(values, flag), pick(positions, flag)),
                      (pick(values, b.not_(flag)), pick(positions, b.not_(flag))),
                      low, smin(b, b.add(low, width), n), smin(b, b.add(low, span), n))
            b.store(b.not_(flag), current)
        flag = b.load(current)
        sorted_values, sorted_positions = pick(values, flag), pick(positions, flag)
        with count_loop(b, kept, "store") as i:
            at = b.add(out_row, b.mul(i, out_stride))
            values_out.store(b, at, sorted_values.load(b, i))
            indices_out.store(b, at, sorted_positions.load(b, i))
