"""Element-wise kernels: one loop nest over the (contiguous) output for a single op or a whole ``fused`` group.

Each operand is read through its strides, broadcast dims having stride 0. Adjacent dims that every operand
walks contiguously are merged first, so a contiguous ``[N, 256]`` computation is one loop of ``N*256``
iterations whose body LLVM's loop vectoriser turns into full-width vector code (the innermost stride is a
constant 1 or 0 for contiguous and broadcast operands). Large nests split their rows over the worker pool
(:mod:`~ember.jit.llvm.parallel`); each element is computed the same way whichever thread runs it. ``clone``
(a copy into a new contiguous buffer) is the element-wise identity and shares the kernel.
"""

from __future__ import annotations

from collections.abc import Sequence

import llvmlite.ir as ir

from ember_runtime.cpu.gemm_microkernel import counted_loop

from ..ir import Node, Value
from ..passes.fusion import ELEMENTWISE_OPS, FUSED
from ..symbolic import as_expr
from .codegen import I64, KernelContext, Operand, lowering
from .parallel import parallel_rows, rebind
from .scalar_ops import cast_value, emit_elementwise

__all__ = ["broadcast_strides", "emit_copy", "emit_pointwise", "merge_dims"]

# Elements per row when the whole nest merges into one dim: the unit a task's chunk is made of.
_ROW = 4096


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
    """The loop nest ``out[i] = compute(b, [r[i] for r in reads])`` over ``out``'s shape, broadcasting reads.

    The merged dims but the last are the rows, the last one a counted loop that LLVM vectorises; a single merged
    dim is cut into rows of ``_ROW`` elements. Large nests run their rows in parallel (:func:`parallel_rows`)."""
    shape = tuple(out.shape)
    merged, strides = merge_dims(shape, [out.strides, *(broadcast_strides(r, shape) for r in reads)])
    pointers = [out.ptr, *(r.ptr for r in reads)]  # (``out`` may be a window the lowering made of its output)
    if len(merged) <= 1:
        length = as_expr(merged[0] if merged else 1)
        steps = [s[0] if merged else 0 for s in strides]

        def chunk(task: KernelContext, index: list[ir.Value]) -> None:
            b = task.builder
            begin = b.mul(index[0], ir.Constant(I64, _ROW))
            end = b.add(begin, ir.Constant(I64, _ROW))
            stop = task.sym(length)
            end = b.select(b.icmp_signed("<", end, stop), end, stop)
            _row(task, out, reads, compute, begin, end, [ir.Constant(I64, 0)] * len(steps), steps)

        parallel_rows(ctx, [(length + (_ROW - 1)) // _ROW], _ROW, chunk, "chunk", pointers=pointers)
        return

    def row(task: KernelContext, index: list[ir.Value]) -> None:
        b = task.builder
        bases = []
        for s in strides:
            base = ir.Constant(I64, 0)
            for i, stride in zip(index, s[:-1], strict=True):
                if stride != 0:
                    base = b.add(base, i if stride == 1 else b.mul(i, task.sym(stride)))
            bases.append(base)
        _row(task, out, reads, compute, ir.Constant(I64, 0), task.sym(merged[-1]), bases, [s[-1] for s in strides])

    parallel_rows(ctx, list(merged[:-1]), merged[-1], row, "row", pointers=pointers)


def _row(ctx: KernelContext, out: Operand, reads: list[Operand], compute, begin: ir.Value, end: ir.Value,
         bases: list[ir.Value], steps: list) -> None:
    """``out[o + i*so] = compute(r[b + i*sr] ...)`` for ``i`` in ``[begin, end)``, from the row's base offsets
    (output first) and each operand's element step along the row."""
    b = ctx.builder
    out, reads = rebind(ctx, out), [rebind(ctx, r) for r in reads]
    with counted_loop(b, begin, end, 1, "i") as i:
        offsets = []
        for base, step in zip(bases, steps, strict=True):
            offsets.append(base if step == 0 else b.add(base, i if step == 1 else b.mul(i, ctx.sym(step))))
        loaded = [r.load(b, offset) for r, offset in zip(reads, offsets[1:], strict=True)]
        out.store(b, offsets[0], compute(b, loaded))


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
