"""``convolution``: N-d cross-correlation of ``(N, C, *spatial)`` with ``(O, C / groups, *kernel)``, bias optional.

float32 with known channel and spatial sizes (the batch may be symbolic) runs as im2col + the packed GEMM of
:mod:`~ember.jit.llvm.gemm`: per image, the columns ``cols[(c, tap), position]`` are copied into the kernel's
arena scratch, then for each group ``out[n, group rows] = W_g @ cols_g``. A bias is one more weight column,
against a row of ones in the columns (the eager kernel's order of summation: the bias last). Which column
entries fall in the padding depends only on the tap and the position, not on the image or the channel, so the
scratch is zeroed once per call and each image overwrites only the entries inside the input: per (channel,
tap) the copy is a nest over the output positions whose input index is in range (constant bounds), short
unit-stride rows moved as (masked) vectors.

Every other case (float64, integers, symbolic spatial sizes, a strided weight) is a direct loop nest
``out[n, o, p] = bias[o] + sum_{c, tap} w[o, c, tap] * x[n, g * C_g + c, p * stride + tap * dilation - pad]``
with the padding read as zero, correct for any operand strides.
"""

from __future__ import annotations

import itertools
import math
from contextlib import ExitStack
from dataclasses import dataclass

import llvmlite.ir as ir

from ...tensor import dtypes
from ..ir import Node
from .codegen import I64, PTR, SCRATCH, KernelContext, Operand, count_loop, llvm_type, lowering, unsupported
from .gemm import GemmEpilogue, emit_sgemm, gemm_config
from .gemm_microkernel import Intrinsics
from .layout import contiguous_strides
from .memory import align
from .reduce import nested_loops
from .scalar_ops import cast_value, constant

__all__ = ["lower_convolution"]

F32 = ir.FloatType()
# Unit-stride rows up to this many vectors are copied by unrolled vector moves (longer ones by a vectorised loop).
_VECTOR_ROW_LIMIT = 8


def _geometry(node: Node) -> tuple[tuple, tuple, tuple, tuple, int]:
    attrs = node.attrs
    return (tuple(attrs["stride"]), tuple(lo for lo, _ in attrs["padding"]), tuple(attrs["dilation"]),
            tuple(node.operands[1].shape[2:]), attrs["groups"])


@dataclass(frozen=True)
class _GemmPlan:
    """The sizes of the im2col + GEMM path and its scratch: the columns (``groups`` blocks of ``kb`` rows by
    ``positions``), the weights with the bias as an extra column (when there is a bias), ``pack_a``, ``pack_b``."""

    groups: int
    in_group: int
    taps: int
    positions: int
    out_rows: int
    bias: bool
    pack_a_bytes: int
    pack_b_bytes: int

    @property
    def k(self) -> int:
        return self.in_group * self.taps

    @property
    def kb(self) -> int:
        """The GEMM's k: the weight columns, and one for the bias (a row of ones in the columns)."""
        return self.k + int(self.bias)

    def offsets(self) -> tuple[int, int, int, int, int]:
        """Byte offsets of the columns, the weights with bias, ``pack_a`` and ``pack_b`` in the scratch, and its
        size (as the fifth element)."""
        cols = self.groups * self.kb * self.positions * 4
        weights = self.groups * self.out_rows * self.kb * 4 if self.bias else 0
        pack_a = align(cols) + align(weights)
        pack_b = pack_a + align(self.pack_a_bytes)
        return 0, align(cols), pack_a, pack_b, pack_b + self.pack_b_bytes


def _plan(node: Node, vector_bits: int) -> _GemmPlan | None:
    """The plan of the im2col + GEMM path, or None when it does not apply (see the module docstring)."""
    x, w = node.operands[0], node.operands[1]
    sizes = (*x.shape[1:], *w.shape, *node.output.shape[1:])
    if (vector_bits < 256 or x.dtype is not dtypes.float32 or w.dtype is not dtypes.float32
            or not all(isinstance(s, int) for s in sizes)):
        return None
    groups, config = node.attrs["groups"], gemm_config(vector_bits)
    taps, positions = math.prod(w.shape[2:]), math.prod(node.output.shape[2:])
    bias = node.operands[2] is not None
    kb = w.shape[1] * taps + int(bias)
    return _GemmPlan(groups, w.shape[1], taps, positions, w.shape[0] // groups, bias,
                     config.pack_a_floats(w.shape[0] // groups, kb) * 4, config.pack_b_floats(positions, kb) * 4)


def _conv_scratch(node: Node, vector_bits: int):
    plan = _plan(node, vector_bits)
    return None if plan is None else plan.offsets()[-1]


SCRATCH["convolution"] = _conv_scratch


@lowering("convolution")
def lower_convolution(ctx: KernelContext) -> None:
    node = ctx.node
    x, w = ctx.tensor(node.operands[0]), ctx.tensor(node.operands[1])
    bias = None if node.operands[2] is None else ctx.tensor(node.operands[2])
    if len(x.shape) < 3:
        raise unsupported(node.op, "an input without batch and channel dims")
    llvm_type(x.dtype, node.op)
    if x.dtype is dtypes.bool:
        raise unsupported(node.op, "bool operands")
    w_contiguous = tuple(w.strides) == contiguous_strides(tuple(w.shape))
    if ctx.scratch is not None and w_contiguous:
        _emit_im2col_gemm(ctx, x, w, bias)
    else:
        _emit_direct(ctx, x, w, bias)


def _f32_at(b: ir.IRBuilder, base: ir.Value, index) -> ir.Value:
    index = index if isinstance(index, ir.Value) else ir.Constant(I64, index)
    return b.gep(base, [index], inbounds=True, source_etype=F32)


def _emit_im2col_gemm(ctx: KernelContext, x: Operand, w: Operand, bias: Operand | None) -> None:
    node, b = ctx.node, ctx.builder
    stride, pad, dilation, kernel, groups = _geometry(node)
    plan = _plan(node, ctx.host_vector_bits)
    cols, weights, pack_a, pack_b = (b.gep(ctx.scratch, [ir.Constant(I64, offset)], inbounds=True,
                                           source_etype=ir.IntType(8)) for offset in plan.offsets()[:4])
    out = ctx.outputs[0]
    positions, k, kb, out_rows = plan.positions, plan.k, plan.kb, plan.out_rows
    in_sizes, out_sizes = x.shape[2:], out.shape[2:]
    config = gemm_config(ctx.host_vector_bits)
    name = f"ember_sgemm_nn_{config.vector_bits}_{config.mr}x{config.nr}"
    gemm = ctx.module.globals.get(name) or emit_sgemm(ctx.module, name, trans_b=False, vector_bits=config.vector_bits,
                                                      epilogue=GemmEpilogue(), config=config)
    # Entries in the padding stay zero for every image and channel (see the module docstring).
    with count_loop(b, ir.Constant(I64, groups * kb * positions), "zero") as i:
        b.store(ir.Constant(F32, 0.0), _f32_at(b, cols, i))
    if bias is not None:
        # The bias rides along as the last weight column, against a row of ones, as in the eager kernel.
        with count_loop(b, ir.Constant(I64, groups), "ones_g") as g, \
                count_loop(b, ir.Constant(I64, positions), "ones_p") as p:
            row = b.add(b.mul(g, ir.Constant(I64, kb * positions)), ir.Constant(I64, k * positions))
            b.store(ir.Constant(F32, 1.0), _f32_at(b, cols, b.add(row, p)))
        with count_loop(b, ir.Constant(I64, groups * out_rows), "weights_o") as o:
            row = b.mul(o, ir.Constant(I64, kb))
            with count_loop(b, ir.Constant(I64, k), "weights_k") as kk:
                value = w.load(b, b.add(b.mul(o, ir.Constant(I64, k)), kk))
                b.store(value, _f32_at(b, weights, b.add(row, kk)))
            b.store(bias.load(b, ctx.offset(bias, [o])), _f32_at(b, weights, b.add(row, ir.Constant(I64, k))))
    else:
        weights = w.ptr
    out_plane = contiguous_strides(tuple(out_sizes))
    taps = list(itertools.product(*map(range, kernel)))  # row-major, as the weight
    const = lambda value: ir.Constant(I64, value)  # noqa: E731
    null = ir.Constant(PTR, None)
    with count_loop(b, ctx.sym(x.shape[0]), "n") as n:
        image = b.mul(n, ctx.sym(x.strides[0]))
        with count_loop(b, const(groups), "cg") as g, count_loop(b, const(plan.in_group), "c") as c:
            channel = b.add(image, b.mul(b.add(b.mul(g, const(plan.in_group)), c), ctx.sym(x.strides[1])))
            row0 = b.add(b.mul(g, const(kb * positions)), b.mul(c, const(len(taps) * positions)))
            for t, tap in enumerate(taps):
                _copy_tap(ctx, x, cols, channel, b.add(row0, const(t * positions)), tap, stride, pad, dilation,
                          in_sizes, out_sizes, out_plane)
        out_image = b.mul(n, const(groups * out_rows * positions))
        with count_loop(b, const(groups), "g") as g:
            a = _f32_at(b, weights, b.mul(g, const(out_rows * kb)))
            cols_g = _f32_at(b, cols, b.mul(g, const(kb * positions)))
            c_g = _f32_at(b, out.ptr, b.add(out_image, b.mul(g, const(out_rows * positions))))
            b.call(gemm, [const(0), const(out_rows), const(positions), const(kb), a, const(kb), cols_g,
                          const(positions), c_g, const(positions), null, null, const(0), pack_a, pack_b])


def _valid_range(out_size: int, stride: int, offset: int, in_size: int) -> tuple[int, int]:
    """The output indices ``j`` with ``0 <= j * stride + offset < in_size``, as ``[lo, hi)``."""
    lo = min(out_size, max(0, -(offset // stride)))
    hi = min(out_size, max(lo, -((offset - in_size) // stride)))
    return lo, hi


def _copy_tap(ctx: KernelContext, x: Operand, cols: ir.Value, channel: ir.Value, row: ir.Value, tap: tuple,
              stride: tuple, pad: tuple, dilation: tuple, in_sizes: tuple, out_sizes: tuple,
              out_plane: tuple) -> None:
    """``cols[row, p] = x[channel, p * stride + tap * dilation - pad]`` over the positions inside the input."""
    b = ctx.builder
    offsets = [t * d - p for t, d, p in zip(tap, dilation, pad, strict=True)]
    ranges = [_valid_range(o, s, off, n) for o, s, off, n in zip(out_sizes, stride, offsets, in_sizes, strict=True)]
    if any(lo >= hi for lo, hi in ranges):
        return
    width = ctx.host_vector_bits // 32
    run = ranges[-1][1] - ranges[-1][0]
    # A unit-stride row of a few vectors is copied by (masked) vector moves: the loop vectoriser leaves such
    # short rows (often a vector minus one, with padding) to scalar code.
    vector_rows = stride[-1] == 1 and x.strides[-1] == 1 and width >= 8 and run <= _VECTOR_ROW_LIMIT * width
    with ExitStack() as stack:
        source, target = channel, row
        for d, (lo, hi) in enumerate(ranges):
            if d == len(ranges) - 1 and vector_rows:
                source = b.add(source, ir.Constant(I64, lo + offsets[d]))
                target = b.add(target, ir.Constant(I64, lo))
                _copy_run(b, Intrinsics(ctx.module, width), x.ptr, source, cols, target, run)
                return
            j = b.add(stack.enter_context(count_loop(b, ir.Constant(I64, hi - lo), f"tap{d}")), ir.Constant(I64, lo))
            index = b.add(b.mul(j, ir.Constant(I64, stride[d])), ir.Constant(I64, offsets[d]))
            step = x.strides[d + 2]
            source = b.add(source, index if step == 1 else b.mul(index, ctx.sym(step)))
            target = b.add(target, j if out_plane[d] == 1 else b.mul(j, ir.Constant(I64, out_plane[d])))
        b.store(x.load(b, source), _f32_at(b, cols, target))


def _copy_run(b: ir.IRBuilder, vec: Intrinsics, src: ir.Value, source: ir.Value, dst: ir.Value, target: ir.Value,
              count: int) -> None:
    """``dst[target:target + count] = src[source:source + count]`` as vector moves, the last one masked."""
    for first in range(0, count, vec.width):
        lanes = min(vec.width, count - first)
        mask = ir.Constant(vec.mask, [1] * lanes + [0] * (vec.width - lanes))
        value = vec.load(b, _f32_at(b, src, b.add(source, ir.Constant(I64, first))), mask)
        vec.store(b, value, _f32_at(b, dst, b.add(target, ir.Constant(I64, first))), mask)


def _emit_direct(ctx: KernelContext, x: Operand, w: Operand, bias: Operand | None) -> None:
    node, b = ctx.node, ctx.builder
    stride, pad, dilation, kernel, groups = _geometry(node)
    out, dt = ctx.outputs[0], ctx.outputs[0].dtype
    floating = dt.is_floating_point
    nd = len(kernel)
    in_group = w.shape[1]
    out_group = b.sdiv(ctx.sym(w.shape[0]), ir.Constant(I64, groups))
    with nested_loops(ctx, list(out.shape), "o") as index:
        n, o, positions = index[0], index[1], index[2:]
        where = ctx.offset(out, index)
        start = constant(dt, 0) if bias is None else cast_value(b, bias.load(b, ctx.offset(bias, [o])), bias.dtype, dt)
        out.store(b, where, start)
        first_channel = b.mul(b.sdiv(o, out_group), ctx.sym(in_group))
        with count_loop(b, ctx.sym(in_group), "c") as c, nested_loops(ctx, list(kernel), "t") as tap:
            inside = ir.Constant(ir.IntType(1), 1)
            spatial = []
            for d in range(nd):
                i = b.add(b.mul(positions[d], ir.Constant(I64, stride[d])),
                          b.sub(b.mul(tap[d], ir.Constant(I64, dilation[d])), ir.Constant(I64, pad[d])))
                inside = b.and_(inside, b.and_(b.icmp_signed(">=", i, ir.Constant(I64, 0)),
                                               b.icmp_signed("<", i, ctx.sym(x.shape[d + 2]))))
                spatial.append(i)
            x_at = ctx.offset(x, [n, b.add(first_channel, c), *spatial])
            value = x.load(b, b.select(inside, x_at, ir.Constant(I64, 0)))
            value = b.select(inside, value, constant(dt, 0))
            weight = w.load(b, ctx.offset(w, [o, c, *tap]))
            product = b.fmul(weight, value) if floating else b.mul(weight, value)
            current = out.load(b, where)
            out.store(b, where, b.fadd(current, product) if floating else b.add(current, product))
