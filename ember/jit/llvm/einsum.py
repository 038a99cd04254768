"""``einsum``: one loop nest over every label of the equation, for any equation the op accepts.

The equation is resolved as the eager op resolves it (``ember/tensor/ops/einsum.py``'s ``einsum_plan``: ellipses
expanded, implicit outputs, labels compacted). The kernel loops over the output's labels outside and the
summed labels inside; each operand is read through its strides, a label repeated in one operand (a diagonal)
reading that operand at the same index in both dims, and a size-1 dim broadcast against a longer label
reading index 0 (stride 0). Products accumulate in the eager kernel's compute dtype (float64 when an operand
is float64, integers and bools in int64, wrapping into the result dtype at the end), except float32, which
accumulates in float64 and rounds once, within float32 rounding of NumPy's float32 sum whatever its order.
Output elements are independent, so their rows run in parallel when the output is large. Labels whose
sizes are different expressions in the graph (equal when traced) loop to the least of them, and a difference at
run time is reported, so reads stay in bounds. This is a plain loop nest: no blocking or GEMM call, so big
contractions are better written as matmul.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import llvmlite.ir as ir

from ...tensor import dtypes
from ...tensor.ops.einsum import einsum_plan
from ..symbolic import as_expr
from .codegen import KernelContext, Operand, count_loop, llvm_type, lowering
from .movement import for_each_element
from .parallel import rebind
from .scalar_ops import cast_value, constant

__all__: list[str] = []


def _is_one(size) -> bool:
    size = as_expr(size)
    return size.is_const and size.const_value == 1


def _label_sizes(operands: list[Operand], op_labels: tuple, out_labels: tuple, out_shape: tuple) -> dict:
    """Each label's distinct sizes (expressions) among the dims it names, size-1 dims left out where the label
    has a longer size (they broadcast); the output's dims count too."""
    sizes: dict[int, list] = {}
    named = [*zip(operands, op_labels, strict=True)]
    for shape, labels in [*((o.shape, labels) for o, labels in named), (out_shape, out_labels)]:
        for label, size in zip(labels, shape, strict=True):
            found = sizes.setdefault(label, [])
            if as_expr(size) not in found:
                found.append(as_expr(size))
    return {label: [s for s in found if not _is_one(s)] or [as_expr(1)] for label, found in sizes.items()}


def _extents(ctx: KernelContext, sizes: dict) -> tuple[dict[int, ir.Value], ir.Value]:
    """Each label's loop extent: its size, or the least of its sizes when it has several expressions (equal
    whenever the graph is called as the trace was made); and an i1 that holds where they differ at run time,
    which the kernel reports: the loops stay inside every operand and the call raises rather than answer wrongly."""
    b = ctx.builder
    extents, mismatch = {}, ir.Constant(ir.IntType(1), 0)
    for label, found in sizes.items():
        values = [ctx.sym(size) for size in found]
        least = values[0]
        for value in values[1:]:
            least = b.select(b.icmp_signed("<", value, least), value, least)
        for value in values[1:]:
            mismatch = b.or_(mismatch, b.icmp_signed("!=", value, least))
        extents[label] = least
    return extents, mismatch


@contextmanager
def _loops(b: ir.IRBuilder, extents: list[ir.Value], name: str) -> Iterator[list[ir.Value]]:
    with ExitStack() as stack:
        yield [stack.enter_context(count_loop(b, extent, f"{name}{d}")) for d, extent in enumerate(extents)]


def _accumulator_dtype(operands: list[Operand]) -> dtypes.dtype:
    found = {o.dtype for o in operands}
    if dtypes.float64 in found or dtypes.float32 in found:
        return dtypes.float64
    return dtypes.int64


@lowering("einsum")
def lower_einsum(ctx: KernelContext) -> None:
    node, out = ctx.node, ctx.outputs[0]
    operands = [ctx.tensor(v) for v in node.operands[0]]
    # The labels depend on the equation and the ranks only (the eager op checked the sizes when tracing).
    plan = einsum_plan(node.attrs["equation"], tuple((2,) * len(o.shape) for o in operands))
    sizes = _label_sizes(operands, plan.op_labels, plan.out_labels, tuple(out.shape))
    ctx.report(_extents(ctx, sizes)[1], 1)
    summed = [label for label in sorted(sizes) if label not in plan.out_labels]
    acc_dt = _accumulator_dtype(operands)

    def element(task: KernelContext, out_at: list[ir.Value]) -> None:
        b = task.builder
        extents = _extents(task, sizes)[0]
        inside = ir.Constant(ir.IntType(1), 1)
        for label, i in zip(plan.out_labels, out_at, strict=True):
            inside = b.and_(inside, b.icmp_signed("<", i, extents[label]))
        total = task.sym.builder.alloca(llvm_type(acc_dt), name="total")  # in the entry block: a register
        with b.if_then(inside):  # outside only when the sizes differ, which is reported
            b.store(constant(acc_dt, 0), total)
            with _loops(b, [extents[label] for label in summed], "s") as summed_at:
                index = dict(zip(plan.out_labels, out_at, strict=True)) | dict(zip(summed, summed_at, strict=True))
                product = None
                for operand, labels in zip(operands, plan.op_labels, strict=True):
                    # A size-1 dim against a longer label is broadcast: it reads index 0.
                    strides = tuple(0 if _is_one(size) and not _is_one(sizes[label][0]) else stride
                                    for label, size, stride in zip(labels, operand.shape, operand.strides,
                                                                   strict=True))
                    reading = Operand(rebind(task, operand).ptr, operand.dtype, operand.shape, strides)
                    value = reading.load(b, task.offset(reading, [index[label] for label in labels]))
                    value = cast_value(b, value, operand.dtype, acc_dt)
                    product = value if product is None else _multiply(b, acc_dt, product, value)
                accumulated = b.load(total, typ=llvm_type(acc_dt))
                b.store(b.fadd(accumulated, product) if acc_dt.is_floating_point else b.add(accumulated, product),
                        total)
            writing = rebind(task, out)
            writing.store(b, task.offset(writing, out_at),
                          cast_value(b, b.load(total, typ=llvm_type(acc_dt)), acc_dt, out.dtype))

    for_each_element(ctx, out.shape, element)


def _multiply(b: ir.IRBuilder, dt: dtypes.dtype, x: ir.Value, y: ir.Value) -> ir.Value:
    return b.fmul(x, y) if dt.is_floating_point else b.mul(x, y)
