"""Element-wise kernels: one loop nest over the (contiguous) output for a single op or a whole ``fused`` group.

Each operand is read through its strides, broadcast dims having stride 0. Adjacent dims that every operand
walks contiguously are merged first, so a contiguous ``[N, 256]`` computation is one loop of ``N*256``
iterations whose body LLVM's loop vectoriser turns into full-width vector code (the innermost stride is a
constant 1 or 0 for contiguous and broadcast operands). ``clone`` (a copy into a new contiguous buffer) is the
element-wise identity and shares the kernel.
"""

from __future__ import annotations

from collections.abc import Sequence

import llvmlite.ir as ir

from ..ir import Node, Value
from ..passes.fusion import ELEMENTWISE_OPS, FUSED
from .codegen import KernelContext, Operand, count_loop, lowering
from .scalar_ops import cast_value, emit_elementwise

__all__ = ["broadcast_strides", "emit_copy", "emit_pointwise", "merge_dims"]


def broadcast_strides(operand: Operand, shape: tuple) -> tuple:
    """``operand``'s strides when read as ``shape`` (NumPy broadcasting: missing and size-1 dims get 0)."""
    lead = len(shape) - len(operand.shape)
    strides = [0] * lead
    for size, own, stride in zip(shape[lead:], operand.shape, operand.strides, strict=True):
        strides.append(0 if own == 1 and size != 1 else stride)
    return tuple(strides)


def merge_dims(shape: tuple, strides: Sequence[tuple]) -> tuple[tuple, list[tuple]]:
    """``shape`` with size-1 dims dropped and adjacent dims merged wherever every stride set walks them as one
    (``stride[d] == stride[d+1] * shape[d+1]``), and the strides to match."""
    keep = [d for d, size in enumerate(shape) if size != 1]
    dims = [shape[d] for d in keep]
    sets = [[s[d] for d in keep] for s in strides]
    d = len(dims) - 2
    while d >= 0:
        if all(s[d] == s[d + 1] * dims[d + 1] for s in sets):
            dims[d:d + 2] = [dims[d] * dims[d + 1]]
            for s in sets:
                s[d:d + 2] = [s[d + 1]]
        d -= 1
    return tuple(dims), [tuple(s) for s in sets]


def emit_pointwise(ctx: KernelContext, out: Operand, reads: list[Operand], compute) -> None:
    """The loop nest ``out[i] = compute(b, [r[i] for r in reads])`` over ``out``'s shape, broadcasting reads."""
    b = ctx.builder
    shape = tuple(out.shape)
    merged, strides = merge_dims(shape, [out.strides, *(broadcast_strides(r, shape) for r in reads)])
    extents = [ctx.sym(s) for s in merged]

    def nest(depth: int, offsets: list[ir.Value]) -> None:
        if depth == len(merged):
            loaded = [r.load(b, offset) for r, offset in zip(reads, offsets[1:], strict=True)]
            out.store(b, offsets[0], compute(b, loaded))
            return
        with count_loop(b, extents[depth], f"d{depth}") as index:
            moved = []
            for base, s in zip(offsets, strides, strict=True):
                stride = s[depth]
                step = index if stride == 1 else b.mul(index, ctx.sym(stride))
                moved.append(base if stride == 0 else b.add(base, step))
            nest(depth + 1, moved)

    nest(0, [ir.Constant(ir.IntType(64), 0)] * (1 + len(reads)))


def _body_program(node: Node) -> tuple[list[Node], list[Value], Value, list[Value]]:
    """(nodes, body inputs, body output, outer operands) of a fused node or a lone element-wise node."""
    if node.op == FUSED:
        body = node.attrs["body"]
        return body.nodes, body.inputs, body.outputs[0], list(node.input_values())
    operands = list(dict.fromkeys(node.input_values()))
    return [node], operands, node.output, operands


@lowering(FUSED, *ELEMENTWISE_OPS)
def lower_elementwise(ctx: KernelContext) -> None:
    nodes, inputs, result, outer = _body_program(ctx.node)

    def compute(b: ir.IRBuilder, loaded: list[ir.Value]) -> ir.Value:
        values = dict(zip(inputs, loaded, strict=True))
        for node in nodes:
            values[node.output] = emit_elementwise(b, node, values)
        return values[result]

    emit_pointwise(ctx, ctx.outputs[0], [ctx.tensor(v) for v in outer], compute)


def emit_copy(ctx: KernelContext, source: Operand) -> None:
    """Copy ``source`` (any strides) into the kernel's contiguous output, converting the dtype."""
    out = ctx.outputs[0]
    emit_pointwise(ctx, out, [source], lambda b, loaded: cast_value(b, loaded[0], source.dtype, out.dtype))


@lowering("clone")
def lower_clone(ctx: KernelContext) -> None:
    emit_copy(ctx, ctx.tensor(ctx.node.operands[0]))
