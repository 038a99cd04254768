"""Running reductions along one dim: cumsum and cumprod.

As the eager kernel (``ember/tensor/ops/scan.py``): the input is converted to the result dtype first, then
float32 scans accumulate in float64 (a long running sum does not drift), float64 in float64 and integers in
int64 (wrapping into a narrower result dtype as NumPy's conversion does). Each slice along the dim is one loop in
order, so each output is the exact sequence of operations the eager kernel makes, only wider; slices along an
outer dim of a tensor contiguous in its innermost dim run side by side in vector lanes.
"""

from __future__ import annotations

import llvmlite.ir as ir

from ...tensor import dtypes
from .codegen import I64, KernelContext, count_loop, llvm_type, lowering, unsupported
from .reduce import fit_lanes, lanes_for, load_lanes, nested_loops, row_pass, store_lanes, sum_products
from .scalar_ops import cast_value, constant

__all__ = ["lower_scan"]


def _accumulator(dt: dtypes.dtype) -> dtypes.dtype:
    return dt if dt is dtypes.float64 else dtypes.float64 if dt.is_floating_point else dtypes.int64


@lowering("cumsum", "cumprod")
def lower_scan(ctx: KernelContext) -> None:
    node, b = ctx.node, ctx.builder
    source, out = ctx.tensor(node.operands[0]), ctx.outputs[0]
    result = node.attrs["dtype"]
    if result in (dtypes.float16, dtypes.bfloat16) or source.dtype in (dtypes.float16, dtypes.bfloat16):
        raise unsupported(node.op, "float16/bfloat16 scans")
    if result is dtypes.bool:
        raise unsupported(node.op, "a bool result (the eager op refuses it for a non-empty input)")
    acc_dt = _accumulator(result)
    rank = len(source.shape)
    dim = node.attrs["dim"] % rank if rank else None
    others = [d for d in range(rank) if d != dim]
    length = ctx.sym(source.shape[dim]) if rank else ir.Constant(I64, 1)
    src_stride = ctx.sym(source.strides[dim]) if rank else ir.Constant(I64, 0)
    out_stride = ctx.sym(out.strides[dim]) if rank else ir.Constant(I64, 0)
    # Scanning an outer dim while the innermost is contiguous: neighbouring slices scan at once in vector lanes
    # (each in its own exact order), reading and writing whole rows instead of striding through memory.
    lanes = 1
    if others and others[-1] == rank - 1 and source.strides[-1] == 1:
        lanes = fit_lanes(lanes_for(acc_dt, ctx.host_vector_bits, 2), source.shape[-1], 2)
    slot_type = ir.VectorType(llvm_type(acc_dt), lanes) if lanes > 1 else llvm_type(acc_dt)
    running = ctx.sym.builder.alloca(slot_type)
    start = constant(acc_dt, 0 if node.op == "cumsum" else 1)

    def scan_slices(src_base: ir.Value, out_base: ir.Value, width: int, mask: ir.Value | None) -> None:
        """The running results of the slice at ``src_base`` (``width`` neighbouring ones, ``mask`` the valid)."""
        b.store(ir.Constant(slot_type, [start.constant] * lanes) if lanes > 1 else start, running)
        with count_loop(b, length, "i") as i:
            x = load_lanes(b, source, b.add(src_base, b.mul(i, src_stride)), width, mask)
            x = cast_value(b, cast_value(b, x, source.dtype, result), result, acc_dt)
            acc = b.load(running)
            if node.op == "cumsum":
                acc = b.fadd(acc, x) if acc_dt.is_floating_point else b.add(acc, x)
            else:
                acc = b.fmul(acc, x) if acc_dt.is_floating_point else b.mul(acc, x)
            b.store(acc, running)
            store_lanes(b, out, b.add(out_base, b.mul(i, out_stride)), cast_value(b, acc, acc_dt, result), mask)

    if lanes == 1:
        with nested_loops(ctx, [source.shape[d] for d in others], "o") as outer:
            scan_slices(sum_products(b, ctx, outer, [source.strides[d] for d in others]),
                        sum_products(b, ctx, outer, [out.strides[d] for d in others]), 1, None)
        return
    with nested_loops(ctx, [source.shape[d] for d in others[:-1]], "o") as outer:
        src_row = sum_products(b, ctx, outer, [source.strides[d] for d in others[:-1]])
        out_row = sum_products(b, ctx, outer, [out.strides[d] for d in others[:-1]])
        row_pass(ctx, ctx.sym(source.shape[-1]), lanes,
                  lambda j, width, mask: scan_slices(b.add(src_row, j), b.add(out_row, j), width, mask))
