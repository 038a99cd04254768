"""``index_select``: the slices of a tensor along one dim at the positions a 1-D integer index names.

One loop nest over the (contiguous) output; the index is read at its dim's loop, so the inner dims copy a whole
slice (a vectorised copy when the source is contiguous there). The eager op raises on an index outside
``[0, size)``; the kernel clamps such an index into range (so it never reads outside the source) and reports it,
so that the graph call raises the eager op's IndexError.
"""

from __future__ import annotations

import llvmlite.ir as ir

from ...tensor import dtypes
from ...tensor.shape_rules import wrap_dim
from .codegen import I64, KernelContext, lowering, unsupported
from .reduce import nested_loops

__all__ = ["lower_index_select"]


@lowering("index_select")
def lower_index_select(ctx: KernelContext) -> None:
    node, b = ctx.node, ctx.builder
    source, index = ctx.tensor(node.operands[0]), ctx.tensor(node.operands[1])
    out = ctx.outputs[0]
    if not source.shape:
        raise unsupported(node.op, "a 0-d source")
    if index.dtype.is_floating_point or index.dtype is dtypes.bool:
        raise unsupported(node.op, f"an index of dtype {index.dtype}")
    dim = wrap_dim(node.attrs["dim"], len(source.shape))
    last = b.sub(ctx.sym(source.shape[dim]), ir.Constant(I64, 1))
    zero = ir.Constant(I64, 0)
    with nested_loops(ctx, list(out.shape), "o") as at:
        where = index.load(b, ctx.offset(index, at[dim:dim + 1]) if len(index.shape) == 1 else zero)
        width = where.type.width
        if width < 64:
            where = b.sext(where, I64) if index.dtype.is_signed else b.zext(where, I64)
        below, above = b.icmp_signed("<", where, zero), b.icmp_signed(">", where, last)
        ctx.report(b.or_(below, above), 1)
        where = b.select(below, zero, where)
        where = b.select(above, last, where)
        picked = [*at[:dim], where, *at[dim + 1:]]
        out.store(b, ctx.offset(out, at), source.load(b, ctx.offset(source, picked)))
