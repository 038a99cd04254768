"""``nuclear_norm`` (the sum of the singular values of the matrices two dims span) and its gradient.

Both need an SVD, which the kernel computes itself: a one-sided Jacobi (Hestenes) SVD in float64 on a copy of
each matrix in the kernel's arena scratch. The copy ``W`` is laid out column-major with ``K = min(m, n)``
columns of length ``L = max(m, n)`` (the matrix or its transpose, chosen at run time so the sizes may be
symbolic); sweeps of plane rotations make every pair of columns orthogonal, until a sweep rotates nothing (or
after :data:`_MAX_SWEEPS`). Then ``W = U diag(s)``, the singular values are the column norms, and the product of
the rotations is ``V``. The algorithm is simple, backward stable and accurate to the relative precision of
float64, and needs no library; it costs ``O(sweeps * K^2 * L)`` per matrix, which suits the small matrices the
op sees in models (regularisers on weight matrices). The float32 result is the float64 one rounded, where the
eager kernel's LAPACK runs in float32: they agree to float32 precision.

The gradient is ``U @ V^T`` (the eager kernel's ``u @ vh``), with ``U = W / s`` column by column; it is unique
only for matrices of full rank, as in eager mode. It is lowered for graphs that dispatch it directly: the tracer
runs under ``no_grad`` and autograd never records it.
"""

from __future__ import annotations

import llvmlite.ir as ir

from ...tensor import dtypes
from ..ir import Node
from ..symbolic import as_expr
from .codegen import I1, I64, SCRATCH, KernelContext, Operand, count_loop, lowering, unsupported
from .reduce import nested_loops
from .scalar_ops import cast_value, intrinsic

__all__ = ["lower_nuclear_norm", "lower_nuclear_norm_backward"]

F64 = ir.DoubleType()
# A sweep rotates a pair of columns when their cosine exceeds this; float64's epsilon, as LAPACK's Jacobi SVD.
_TOLERANCE = 2.220446049250313e-16
# Convergence is quadratic: a few sweeps suffice for the matrices here; the cap bounds a NaN input's work.
_MAX_SWEEPS = 60


def _matrix_dims(node: Node) -> tuple[int, int]:
    rank = len(node.operands[0].shape)
    first, second = (d % rank for d in node.attrs["dim"])
    return first, second


def _scratch(node: Node, vector_bits: int):
    first, second = _matrix_dims(node)
    shape = node.operands[0].shape
    # W (m * n doubles), and V (at most m * n doubles) for the gradient.
    matrices = 2 if node.op == "nuclear_norm_backward" else 1
    return as_expr(shape[first]) * shape[second] * (8 * matrices)


SCRATCH["nuclear_norm"] = _scratch
SCRATCH["nuclear_norm_backward"] = _scratch


def _f64(value: float) -> ir.Constant:
    return ir.Constant(F64, value)


def _i64(value: int) -> ir.Constant:
    return ir.Constant(I64, value)


class _Jacobi:
    """One-sided Jacobi SVD of the matrices of ``source`` (see the module docstring), in ``ctx.scratch``."""

    def __init__(self, ctx: KernelContext, source: Operand, with_v: bool):
        b = ctx.builder
        self.ctx, self.b, self.source = ctx, b, source
        self.rows_dim, self.cols_dim = _matrix_dims(ctx.node)
        m, n = ctx.sym(source.shape[self.rows_dim]), ctx.sym(source.shape[self.cols_dim])
        # Transposed when the matrix is wide, so the columns are the shorter side.
        self.transposed = b.icmp_signed(">", n, m)
        self.length = b.select(self.transposed, n, m)
        self.columns = b.select(self.transposed, m, n)
        self.w = ctx.scratch
        self.v = None
        if with_v:
            self.v = b.gep(ctx.scratch, [b.mul(m, n)], inbounds=True, source_etype=F64)
        prologue = ctx.sym.builder
        self.done = prologue.alloca(I1, name="converged")
        self.sums = [prologue.alloca(F64, name=name) for name in ("alpha", "beta", "gamma")]

    def element(self, base: ir.Value, column: ir.Value, row: ir.Value, length: ir.Value) -> ir.Value:
        """The address of ``base[row, column]`` in a column-major matrix with columns of ``length``."""
        return self.b.gep(base, [self.b.add(self.b.mul(column, length), row)], inbounds=True, source_etype=F64)

    def offset(self, tensor: Operand, batch: dict, row: ir.Value, column: ir.Value) -> ir.Value:
        """The offset in ``tensor`` (the source or a tensor shaped like it) of element ``(row, column)`` of the
        matrix at ``batch`` in the oriented frame of ``W``."""
        b = self.b
        matrix_row = b.select(self.transposed, column, row)
        matrix_col = b.select(self.transposed, row, column)
        indices = [batch.get(d) for d in range(len(tensor.shape))]
        indices[self.rows_dim], indices[self.cols_dim] = matrix_row, matrix_col
        return self.ctx.offset(tensor, indices)

    def decompose(self, batch: dict) -> None:
        """Load the matrix at ``batch`` (dim -> index) into ``W`` and orthogonalise its columns."""
        b, source = self.b, self.source
        with count_loop(b, self.columns, "copy_col") as k, count_loop(b, self.length, "copy_row") as i:
            value = cast_value(b, source.load(b, self.offset(source, batch, i, k)), source.dtype, dtypes.float64)
            b.store(value, self.element(self.w, k, i, self.length))
        if self.v is not None:
            with count_loop(b, self.columns, "eye_col") as k, count_loop(b, self.columns, "eye_row") as i:
                one = b.uitofp(b.icmp_signed("==", i, k), F64)
                b.store(one, self.element(self.v, k, i, self.columns))
        b.store(ir.Constant(I1, 0), self.done)
        with count_loop(b, _i64(_MAX_SWEEPS), "sweep"), b.if_then(b.not_(b.load(self.done, typ=I1))):
            b.store(ir.Constant(I1, 1), self.done)
            with count_loop(b, self.columns, "p") as p:
                first = b.add(p, _i64(1))
                with count_loop(b, b.sub(self.columns, first), "q") as q:
                    self._rotate(p, b.add(first, q))

    def _rotate(self, p: ir.Value, q: ir.Value) -> None:
        """Make columns ``p`` and ``q`` of ``W`` orthogonal (and apply the same rotation to ``V``)."""
        b = self.b
        alpha, beta, gamma = self.sums
        for slot in self.sums:
            b.store(_f64(0.0), slot)
        with count_loop(b, self.length, "dot") as i:
            wp = b.load(self.element(self.w, p, i, self.length), typ=F64)
            wq = b.load(self.element(self.w, q, i, self.length), typ=F64)
            for slot, x, y in ((alpha, wp, wp), (beta, wq, wq), (gamma, wp, wq)):
                b.store(b.fadd(b.load(slot, typ=F64), b.fmul(x, y)), slot)
        a, c, g = (b.load(slot, typ=F64) for slot in self.sums)
        # Rotate only when the columns' cosine is above the tolerance (false for NaN: no work on NaN data).
        threshold = b.fmul(_f64(_TOLERANCE), intrinsic(b, "sqrt", b.fmul(a, c)))
        with b.if_then(b.fcmp_ordered(">", intrinsic(b, "fabs", g), threshold)):
            b.store(ir.Constant(I1, 0), self.done)
            # tan of the rotation angle, the smaller root (Rutishauser's formula).
            zeta = b.fdiv(b.fsub(c, a), b.fmul(_f64(2.0), g))
            root = intrinsic(b, "sqrt", b.fadd(_f64(1.0), b.fmul(zeta, zeta)))
            tangent = b.fdiv(intrinsic(b, "copysign", _f64(1.0), zeta), b.fadd(intrinsic(b, "fabs", zeta), root))
            cosine = b.fdiv(_f64(1.0), intrinsic(b, "sqrt", b.fadd(_f64(1.0), b.fmul(tangent, tangent))))
            sine = b.fmul(cosine, tangent)
            self._apply(self.w, self.length, p, q, cosine, sine)
            if self.v is not None:
                self._apply(self.v, self.columns, p, q, cosine, sine)

    def _apply(self, base: ir.Value, length: ir.Value, p: ir.Value, q: ir.Value, cosine: ir.Value,
               sine: ir.Value) -> None:
        b = self.b
        with count_loop(b, length, "rot") as i:
            at_p, at_q = self.element(base, p, i, length), self.element(base, q, i, length)
            wp, wq = b.load(at_p, typ=F64), b.load(at_q, typ=F64)
            b.store(b.fsub(b.fmul(cosine, wp), b.fmul(sine, wq)), at_p)
            b.store(b.fadd(b.fmul(sine, wp), b.fmul(cosine, wq)), at_q)

    def column_norm(self, k: ir.Value) -> ir.Value:
        """The singular value of column ``k`` of ``W`` (its norm)."""
        b = self.b
        slot = self.sums[0]
        b.store(_f64(0.0), slot)
        with count_loop(b, self.length, "norm") as i:
            x = b.load(self.element(self.w, k, i, self.length), typ=F64)
            b.store(b.fadd(b.load(slot, typ=F64), b.fmul(x, x)), slot)
        return intrinsic(b, "sqrt", b.load(slot, typ=F64))


def _check(ctx: KernelContext, source: Operand, out_dtype: dtypes.dtype) -> None:
    node = ctx.node
    if ctx.scratch is None:
        raise unsupported(node.op, "no scratch memory was planned for the SVD")
    if out_dtype not in (dtypes.float32, dtypes.float64):
        raise unsupported(node.op, f"dtype {out_dtype} (float32 and float64 are lowered)")
    if source.dtype not in (dtypes.float32, dtypes.float64):
        raise unsupported(node.op, f"input dtype {source.dtype}")
    if len(source.shape) < 2:
        raise unsupported(node.op, "an input with fewer than 2 dims")


def _batch_dims(ctx: KernelContext, source: Operand) -> list[int]:
    rows_dim, cols_dim = _matrix_dims(ctx.node)
    return [d for d in range(len(source.shape)) if d not in (rows_dim, cols_dim)]


@lowering("nuclear_norm")
def lower_nuclear_norm(ctx: KernelContext) -> None:
    b, node = ctx.builder, ctx.node
    source, out = ctx.tensor(node.operands[0]), ctx.outputs[0]
    _check(ctx, source, out.dtype)
    batch_dims = _batch_dims(ctx, source)
    jacobi = _Jacobi(ctx, source, with_v=False)
    total = ctx.sym.builder.alloca(F64, name="nuclear")
    keepdim = node.attrs["keepdim"]
    with nested_loops(ctx, [source.shape[d] for d in batch_dims], "batch") as batch:
        at = dict(zip(batch_dims, batch, strict=True))
        jacobi.decompose(at)
        b.store(_f64(0.0), total)
        with count_loop(b, jacobi.columns, "singular") as k:
            b.store(b.fadd(b.load(total, typ=F64), jacobi.column_norm(k)), total)
        indices = [at.get(d, _i64(0)) for d in range(len(source.shape))] if keepdim else batch
        result = cast_value(b, b.load(total, typ=F64), dtypes.float64, out.dtype)
        out.store(b, ctx.offset(out, indices), result)


@lowering("nuclear_norm_backward")
def lower_nuclear_norm_backward(ctx: KernelContext) -> None:
    b, node = ctx.builder, ctx.node
    source, out = ctx.tensor(node.operands[0]), ctx.outputs[0]
    _check(ctx, source, out.dtype)
    batch_dims = _batch_dims(ctx, source)
    jacobi = _Jacobi(ctx, source, with_v=True)
    total = ctx.sym.builder.alloca(F64, name="product")
    with nested_loops(ctx, [source.shape[d] for d in batch_dims], "batch") as batch:
        at = dict(zip(batch_dims, batch, strict=True))
        jacobi.decompose(at)
        # W becomes U in place: each column over its norm.
        with count_loop(b, jacobi.columns, "unit") as k:
            scale = b.fdiv(_f64(1.0), jacobi.column_norm(k))
            with count_loop(b, jacobi.length, "unit_row") as i:
                where = jacobi.element(jacobi.w, k, i, jacobi.length)
                b.store(b.fmul(b.load(where, typ=F64), scale), where)
        # (U V^T)[i, j] = sum_k U[i, k] V[j, k], written at the source's (row, column) of the oriented (i, j).
        with count_loop(b, jacobi.length, "i") as i, count_loop(b, jacobi.columns, "j") as j:
            b.store(_f64(0.0), total)
            with count_loop(b, jacobi.columns, "k") as k:
                u = b.load(jacobi.element(jacobi.w, k, i, jacobi.length), typ=F64)
                v = b.load(jacobi.element(jacobi.v, k, j, jacobi.columns), typ=F64)
                b.store(b.fadd(b.load(total, typ=F64), b.fmul(u, v)), total)
            result = cast_value(b, b.load(total, typ=F64), dtypes.float64, out.dtype)
            out.store(b, jacobi.offset(out, at, i, j), result)
