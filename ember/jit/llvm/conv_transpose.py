"""The adjoints of ``convolution``: ``convolution_input_grad`` (transposed convolution) and the weight gradient.

``ConvTranspose1d/2d/3d`` record this op (plus a separate bias add) in a forward graph: for an output gradient
``g`` of shape ``(N, O, *out)`` and a weight ``(O, C / groups, *kernel)`` it produces the input-shaped
``(N, C, *in)`` tensor ``x[n, c, i] = sum over o in c's group, taps t with i = p * stride + t * dilation - pad
of g[n, o, p] * w[o, c mod C_g, t]``. ``output_padding`` is already folded into the node's ``input_shape``: the
extra trailing positions receive no term and come out zero.

The kernel is the "gather" form of that sum: for each output element it walks the kernel taps, keeps those whose
position ``p = (i + pad - t * dilation) / stride`` is a whole number inside the gradient, and for each adds the
channel dot product over the group's ``O / groups`` gradient channels in a register accumulator. Each output
element is written once (no scatter, no zero pass), any operand strides work (transposed or sliced views), and
float32, float64 and the integer dtypes share the code (integers wrap, as NumPy's integer matmul does).

``convolution_weight_grad(x, g)`` is the adjoint in the weight, ``w[o, c, t] = sum over n and output positions p
of g[n, o, p] * x[n, group(o) * C_g + c, p * stride + t * dilation - pad]`` (padding read as zero): a loop nest
over the weight with the batch and positions folded in a register. The tracer runs under ``no_grad``, so only a
graph that dispatches it directly records it.
"""

from __future__ import annotations

import llvmlite.ir as ir

from ...tensor import dtypes
from .codegen import I1, I64, KernelContext, count_loop, llvm_type, lowering, unsupported
from .reduce import nested_loops
from .scalar_ops import constant

__all__ = ["lower_convolution_input_grad", "lower_convolution_weight_grad"]


def _const(value: int) -> ir.Constant:
    return ir.Constant(I64, value)


def _checked(ctx: KernelContext, kernel: tuple) -> tuple[tuple, tuple, tuple, int]:
    """``(stride, low padding, dilation, groups)`` of the node, after refusing what the kernels do not handle."""
    node, out = ctx.node, ctx.outputs[0]
    llvm_type(out.dtype, node.op)
    if out.dtype is dtypes.bool:
        raise unsupported(node.op, "bool operands")
    if any(ctx.tensor(v).dtype is not out.dtype for v in node.operands[:2]):
        raise unsupported(node.op, "mixed operand dtypes")
    if len(out.shape) < 3:
        raise unsupported(node.op, "operands without batch and channel dims")
    if not all(isinstance(k, int) for k in kernel):
        raise unsupported(node.op, "a symbolic kernel size")
    attrs = node.attrs
    return (tuple(attrs["stride"]), tuple(lo for lo, _ in attrs["padding"]), tuple(attrs["dilation"]),
            attrs["groups"])


def _multiply_add(b: ir.IRBuilder, accumulator: ir.Value, x: ir.Value, y: ir.Value, floating: bool) -> None:
    total = b.load(accumulator, typ=accumulator.allocated_type)
    b.store(b.fadd(total, b.fmul(x, y)) if floating else b.add(total, b.mul(x, y)), accumulator)


@lowering("convolution_input_grad")
def lower_convolution_input_grad(ctx: KernelContext) -> None:
    node, b = ctx.node, ctx.builder
    grad, weight = ctx.tensor(node.operands[0]), ctx.tensor(node.operands[1])
    out = ctx.outputs[0]
    dt = out.dtype
    kernel = tuple(node.operands[1].shape[2:])
    stride, pad, dilation, groups = _checked(ctx, kernel)
    nd = len(kernel)
    floating = dt.is_floating_point
    # The accumulator lives in the entry block so mem2reg keeps it in a register.
    accumulator = ctx.sym.builder.alloca(llvm_type(dt), name="acc")
    per_in = weight.shape[1]
    per_out = b.sdiv(ctx.sym(weight.shape[0]), _const(groups))
    grad_sizes = [ctx.sym(size) for size in grad.shape[2:]]

    with nested_loops(ctx, list(out.shape), "x") as index:
        n, channel, positions = index[0], index[1], index[2:]
        group = b.sdiv(channel, ctx.sym(per_in))
        in_group = b.srem(channel, ctx.sym(per_in))
        first_out = b.mul(group, per_out)
        b.store(constant(dt, 0), accumulator)
        with nested_loops(ctx, list(kernel), "t") as tap:
            # The gradient position this tap reads, per dim, and whether it exists.
            inside = ir.Constant(I1, 1)
            source = []
            for d in range(nd):
                shifted = b.sub(b.add(positions[d], _const(pad[d])), b.mul(tap[d], _const(dilation[d])))
                if stride[d] == 1:
                    p, whole = shifted, ir.Constant(I1, 1)
                else:
                    # Only read when shifted >= 0, so the unsigned division is the floor division there.
                    p = b.udiv(shifted, _const(stride[d]))
                    whole = b.icmp_unsigned("==", b.urem(shifted, _const(stride[d])), _const(0))
                inside = b.and_(inside, b.and_(whole, b.and_(b.icmp_signed(">=", shifted, _const(0)),
                                                             b.icmp_signed("<", p, grad_sizes[d]))))
                source.append(p)
            with b.if_then(inside):
                grad_base = ctx.offset(grad, [n, first_out, *source])
                weight_base = ctx.offset(weight, [first_out, in_group, *tap])
                grad_step, weight_step = ctx.sym(grad.strides[1]), ctx.sym(weight.strides[0])
                with count_loop(b, per_out, "o") as o:
                    g = grad.load(b, b.add(grad_base, b.mul(o, grad_step)))
                    w = weight.load(b, b.add(weight_base, b.mul(o, weight_step)))
                    _multiply_add(b, accumulator, g, w, floating)
        out.store(b, ctx.offset(out, index), b.load(accumulator, typ=accumulator.allocated_type))


@lowering("convolution_weight_grad")
def lower_convolution_weight_grad(ctx: KernelContext) -> None:
    node, b = ctx.node, ctx.builder
    x, grad = ctx.tensor(node.operands[0]), ctx.tensor(node.operands[1])
    out = ctx.outputs[0]
    dt = out.dtype
    kernel = tuple(out.shape[2:])
    stride, pad, dilation, groups = _checked(ctx, kernel)
    floating = dt.is_floating_point
    accumulator = ctx.sym.builder.alloca(llvm_type(dt), name="acc")
    per_in = out.shape[1]
    per_out = b.sdiv(ctx.sym(out.shape[0]), _const(groups))
    in_sizes = [ctx.sym(size) for size in x.shape[2:]]

    with nested_loops(ctx, list(out.shape), "w") as index:
        o, c, tap = index[0], index[1], index[2:]
        channel = b.add(b.mul(b.sdiv(o, per_out), ctx.sym(per_in)), c)
        b.store(constant(dt, 0), accumulator)
        with nested_loops(ctx, [grad.shape[0], *grad.shape[2:]], "p") as where:
            n, positions = where[0], where[1:]
            inside = ir.Constant(I1, 1)
            source = []
            for d, p in enumerate(positions):
                i = b.sub(b.add(b.mul(p, _const(stride[d])), b.mul(tap[d], _const(dilation[d]))), _const(pad[d]))
                inside = b.and_(inside, b.and_(b.icmp_signed(">=", i, _const(0)), b.icmp_signed("<", i, in_sizes[d])))
                source.append(i)
            with b.if_then(inside):
                g = grad.load(b, ctx.offset(grad, [n, o, *positions]))
                _multiply_add(b, accumulator, g, x.load(b, ctx.offset(x, [n, channel, *source])), floating)
        out.store(b, ctx.offset(out, index), b.load(accumulator, typ=accumulator.allocated_type))
