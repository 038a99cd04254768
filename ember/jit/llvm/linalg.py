"""``linear`` and ``matmul``.

A float32 ``linear`` whose input rows and weight are contiguous calls the packed, register-blocked GEMM of the
runtime's kernel library (:mod:`~ember.jit.llvm.gemm`: ``x @ W^T`` with the bias in its epilogue). A weight that
is a parameter or constant is packed once, at compile time (``ctx.prepacked``: the ``ember_prepare`` entry packs
it with ``ember_rt_pack_b``), and every call reads the packed panels; the kernel's arena scratch holds the packed
rows of ``x`` (and the packed panels of a weight that is not a parameter or constant). Every other product
(float64, strided operands, ``matmul`` in all its rank cases: dot, matrix-vector, broadcast batches) is a plain
loop nest ``for m, k: for n: out[m, n] += a[m, k] * b[k, n]``, correct for any strides and vectorised along n
when ``b`` and the output are contiguous there.
"""

from __future__ import annotations

import llvmlite.ir as ir

from ...tensor import dtypes
from ..ir import Node
from ..symbolic import as_expr
from .codegen import I64, SCRATCH, KernelContext, Operand, count_loop, is_weight, lowering, unsupported
from .elementwise import broadcast_strides, merge_dims
from .epilogues import emit_epilogue_loop, epilogue_of
from .gemm import GemmEpilogue, GemmFlags, call_pack, call_sgemm, library_config
from .memory import align
from .reduce import nested_loops
from .scalar_ops import cast_value, constant

__all__ = ["emit_matmul"]


def _gemm_rows(x: Operand) -> tuple | None:
    """``(M, lda)`` when ``x`` (``[..., K]``) is a matrix of rows with a unit stride, else None."""
    if not x.shape or x.strides[-1] != 1 and x.shape[-1] != 1:
        return None
    lead, (strides,) = merge_dims(x.shape[:-1], [x.strides[:-1]])
    if len(lead) > 1:
        return None
    return (lead[0], strides[0]) if lead else (1, x.shape[-1])


def _uses_sgemm(node: Node, vector_bits: int) -> bool:
    x, w = node.operands[0], node.operands[1]
    return (vector_bits >= 256 and x.dtype is dtypes.float32 and w.dtype is dtypes.float32 and len(w.shape) == 2
            and len(x.shape) >= 1 and all(isinstance(d, int) for d in w.shape))


def _packed_weight_bytes(node: Node) -> int:
    n, k = node.operands[1].shape
    return library_config().packed_b_floats(n, k) * 4


def _scratch_layout(node: Node):
    """``(offset of the packed rows of x, scratch bytes)``: the packed weight first (when it is packed per
    call: a constant size), then ``x``'s rows, ``M * K`` floats and one tile of rows more (``M`` may be
    symbolic)."""
    config = library_config()
    k = node.operands[1].shape[1]
    rows = as_expr(1)
    for size in node.operands[0].shape[:-1]:
        rows = rows * size
    weight = 0 if is_weight(node.operands[1]) else as_expr(align(_packed_weight_bytes(node))).const_value
    return weight, as_expr(weight) + (rows + config.mr) * max(k, 1) * 4


def _linear_scratch(node: Node, vector_bits: int):
    return _scratch_layout(node)[1] if _uses_sgemm(node, vector_bits) else None


SCRATCH["linear"] = _linear_scratch


@lowering("linear")
def lower_linear(ctx: KernelContext) -> None:
    node = ctx.node
    x, w = ctx.tensor(node.operands[0]), ctx.tensor(node.operands[1])
    bias = None if node.operands[2] is None else ctx.tensor(node.operands[2])
    # relu / residual add fused by epilogues.fuse_gemm_epilogues: in the GEMM's epilogue, else after the loop nest
    activation, residual_value = epilogue_of(node)
    residual = None if residual_value is None else ctx.tensor(residual_value)
    out = ctx.outputs[0]
    rows = _gemm_rows(x)
    w_rows = tuple(w.strides) == (w.shape[1], 1)
    bias_ok = bias is None or bias.dtype is dtypes.float32 and (bias.strides[0] == 1 or bias.shape[0] == 1)
    residual_rows = None if residual is None else _gemm_rows(residual)
    residual_ok = residual is None or residual_rows is not None
    if ctx.scratch is not None and rows is not None and w_rows and bias_ok and residual_ok:
        _call_sgemm(ctx, x, w, bias, out, rows, activation, residual, residual_rows, _prepacked_weight(ctx))
        return
    transposed = Operand(w.ptr, w.dtype, (w.shape[1], w.shape[0]), (w.strides[1], w.strides[0]))
    emit_matmul(ctx, x, transposed, out, bias)
    emit_epilogue_loop(ctx, out, activation, residual)


def _prepacked_weight(ctx: KernelContext):
    """The pointer to the linear's weight packed at compile time into the GEMM's B panels, or None."""
    n, k = ctx.node.operands[1].shape

    def emit_pack(b: ir.IRBuilder, source: Operand, dest: ir.Value) -> None:
        const = lambda value: ir.Constant(I64, value)  # noqa: E731
        call_pack(b, "b", const(n), const(k), source.ptr, const(k), packed=dest, trans_b=True)

    config = library_config()
    return ctx.prepacked(ctx.node.operands[1], _packed_weight_bytes(ctx.node), emit_pack,
                         tag=f"sgemm_b_t_{config.vector_bits}_{config.nr}x{config.kc}x{config.nc}")


def _call_sgemm(ctx: KernelContext, x: Operand, w: Operand, bias: Operand | None, out: Operand, rows: tuple,
                activation: str | None, residual: Operand | None, residual_rows: tuple | None,
                packed: ir.Value | None) -> None:
    """``out = epilogue(x @ W^T)`` by ``ember_rt_sgemm``, from the packed weight when there is one."""
    epilogue = GemmEpilogue(bias=bias is not None, activation=activation,
                            residual="before" if residual is not None else None)
    flags = epilogue.flags | GemmFlags.TRANS_B | (GemmFlags.PREPACKED_B if packed is not None else 0)
    n, k = w.shape
    m, lda = rows
    b = ctx.builder
    rows_at, _ = _scratch_layout(ctx.node)
    pack_a = b.gep(ctx.scratch, [ir.Constant(I64, rows_at)], inbounds=True, source_etype=ir.IntType(8))
    call_sgemm(b, ctx.sym(m), ctx.sym(n), ctx.sym(k), x.ptr, ctx.sym(lda), w.ptr if packed is None else packed,
               ctx.sym(k), out.ptr, ctx.sym(n), flags=flags, bias=None if bias is None else bias.ptr,
               residual=None if residual is None else residual.ptr,
               ldr=None if residual is None else ctx.sym(residual_rows[1]), pack_a=pack_a,
               pack_b=ctx.scratch if packed is None else None)


@lowering("matmul")
def lower_matmul(ctx: KernelContext) -> None:
    a, b_ = (ctx.tensor(v) for v in ctx.node.operands[:2])
    emit_matmul(ctx, a, b_, ctx.outputs[0], None)


def emit_matmul(ctx: KernelContext, a: Operand, b_: Operand, out: Operand, bias: Operand | None) -> None:
    """``out = a @ b_ (+ bias)`` with torch.matmul's rank rules, as a loop nest (see the module docstring)."""
    if out.dtype not in (dtypes.float32, dtypes.float64) or a.dtype is not out.dtype or b_.dtype is not out.dtype:
        raise unsupported(ctx.node.op, f"operands {a.dtype} and {b_.dtype} (float32 and float64 are lowered)")
    if not a.shape or not b_.shape:
        raise unsupported(ctx.node.op, "0-d operands")
    # 1-D operands become one-row / one-column matrices whose extra dim is absent from the output.
    a_shape, a_strides = (a.shape, a.strides) if len(a.shape) > 1 else ((1, *a.shape), (0, *a.strides))
    b_shape, b_strides = (b_.shape, b_.strides) if len(b_.shape) > 1 else ((*b_.shape, 1), (*b_.strides, 0))
    m, k, n = a_shape[-2], a_shape[-1], b_shape[-1]
    out_strides = list(out.strides)
    if len(b_.shape) == 1:
        out_strides.append(0)
    if len(a.shape) == 1:
        out_strides.insert(len(out_strides) - 1, 0)
    batch = tuple(out.shape[:len(out_strides) - 2])
    a_batch = broadcast_strides(Operand(a.ptr, a.dtype, a_shape[:-2], a_strides[:-2]), batch)
    b_batch = broadcast_strides(Operand(b_.ptr, b_.dtype, b_shape[:-2], b_strides[:-2]), batch)
    b = ctx.builder

    def at(base: list, strides: tuple, indices: list) -> ir.Value:
        total = ir.Constant(I64, 0)
        for index, stride in zip([*base, *indices], strides, strict=True):
            if stride != 0:
                total = b.add(total, index if stride == 1 else b.mul(index, ctx.sym(stride)))
        return total

    with nested_loops(ctx, list(batch), "batch") as bi, count_loop(b, ctx.sym(m), "m") as i:
        a_base, b_base = [*bi], [*bi]
        with count_loop(b, ctx.sym(n), "init") as j:
            start = constant(out.dtype, 0) if bias is None else \
                cast_value(b, bias.load(b, at([], tuple(bias.strides[-1:]), [j])), bias.dtype, out.dtype)
            out.store(b, at(bi, tuple(out_strides), [i, j]), start)
        with count_loop(b, ctx.sym(k), "k") as kk:
            scale = a.load(b, at(a_base, (*a_batch, *a_strides[-2:]), [i, kk]))
            with count_loop(b, ctx.sym(n), "n") as j:
                where = at(bi, tuple(out_strides), [i, j])
                product = b.fmul(scale, b_.load(b, at(b_base, (*b_batch, *b_strides[-2:]), [kk, j])))
                out.store(b, where, b.fadd(out.load(b, where), product))
