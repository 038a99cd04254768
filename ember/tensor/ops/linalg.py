"""Linear algebra: ``matmul`` (every rank case of ``torch.matmul``) and the products built on it.

One primitive, ``matmul``, covers 1-D @ 1-D (dot), matrix @ vector, vector @ matrix, matrix @ matrix
and batched products with broadcast batch dims, exactly as ``torch.matmul`` defines them; ``mm``,
``bmm``, ``dot`` and ``vdot`` validate their stricter contracts and dispatch it. ``outer`` dispatches
``einsum`` (its own primitive, in ``einsum.py``), which promotes dtypes as PyTorch's ``outer`` does.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from .. import dtypes
from ..dispatch import dispatch
from ..registry import Meta, defop, derivative
from ..shape_rules import numel
from ..tensor import Tensor, register_methods
from .einsum import EINSUM, einsum, require_tensor

# PyTorch routes each rank case to a different kernel (dot, addmv, addmm, bmm) and its errors name that kernel.
_DOT, _MV, _MM, _BMM = "dot", "mv", "mm", "bmm"
_KERNEL_NAMES = {_DOT: "dot", _MV: "addmv_impl_cpu", _MM: "addmm_impl_cpu_", _BMM: "bmm"}


def _batch_broadcast(a: tuple, b: tuple) -> tuple:
    """Broadcast two batch shapes with the message torch.matmul gives (dims counted from the left)."""
    n = max(len(a), len(b))
    a = (1,) * (n - len(a)) + a
    b = (1,) * (n - len(b)) + b
    out = []
    for i, (da, db) in enumerate(zip(a, b, strict=True)):
        if da != db and da != 1 and db != 1:
            raise RuntimeError(
                f"The size of tensor a ({da}) must match the size of tensor b ({db}) at non-singleton dimension {i}"
            )
        out.append(db if da == 1 else da)
    return tuple(out)


@lru_cache(maxsize=4096)
def _matmul_shape(sa: tuple, sb: tuple) -> tuple[str, tuple]:
    """The kernel case and output shape of ``torch.matmul`` for operand shapes ``sa`` and ``sb``."""
    da, db = len(sa), len(sb)
    if da == 0 or db == 0:
        raise RuntimeError(f"both arguments to matmul need to be at least 1D, but they are {da}D and {db}D")
    if da == 1 and db == 1:
        if sa[0] != sb[0]:
            raise RuntimeError(
                f"inconsistent tensor size, expected tensor [{sa[0]}] and src [{sb[0]}] to have the same number of "
                f"elements, but got {sa[0]} and {sb[0]} elements respectively"
            )
        return _DOT, ()
    if db == 1:
        # torch folds the batch dims of an N-D matrix into its rows, and its message shows the folded sizes.
        rows = numel(sa[:-1])
        if sa[-1] != sb[0]:
            raise RuntimeError(f"size mismatch, got input ({rows}), mat ({rows}x{sa[-1]}), vec ({sb[0]})")
        return _MV, sa[:-1]
    if db == 2:
        rows = numel(sa[:-1])
        if sa[-1] != sb[0]:
            raise RuntimeError(
                f"mat1 and mat2 shapes cannot be multiplied ({rows}x{sa[-1]} and {sb[0]}x{sb[1]})"
            )
        return _MM, sa[:-1] + sb[1:]
    batch = _batch_broadcast(sa[:-2], sb[:-2])
    if sa[-1] != sb[-2]:
        rows = numel(batch)
        raise RuntimeError(
            f"Expected size for first two dimensions of batch2 tensor to be: [{rows}, {sa[-1]}] "
            f"but got: [{rows}, {sb[-2]}]."
        )
    return _BMM, batch + sa[-2:-1] + sb[-1:]


def _check_matmul_dtypes(case: str, a: dtypes.dtype, b: dtypes.dtype) -> None:
    if a is not b:
        if case == _DOT:
            msg = f"dot : expected both vectors to have same dtype, but found {a.scalar_name} and {b.scalar_name}"
        elif case == _MV:
            msg = (f"addmv input tensors must have the same dtype, but got {b.scalar_name}, {a.scalar_name}, "
                   f"and {b.scalar_name}")
        elif case == _MM:
            msg = f"expected m1 and m2 to have the same dtype, but got: {a.cpp_name} != {b.cpp_name}"
        else:
            msg = f"expected scalar type {a.scalar_name} but found {b.scalar_name}"
        raise RuntimeError(msg)
    if a is dtypes.bool:
        raise NotImplementedError(f"\"{_KERNEL_NAMES[case]}\" not implemented for 'Bool'")


def _matmul_meta(a: Tensor, b: Tensor) -> Meta:
    dt = a._dtype
    if dt is b._dtype and dt is not dtypes.bool:
        return Meta(_matmul_shape(a._shape, b._shape)[1], dt)
    if len(a._shape) == 1 and len(b._shape) == 1:
        # The one case where torch checks dtypes before shapes.
        _check_matmul_dtypes(_DOT, dt, b._dtype)
    case, shape = _matmul_shape(a._shape, b._shape)
    _check_matmul_dtypes(case, dt, b._dtype)
    return Meta(shape, dt)


def _blas_ready(x: np.ndarray) -> np.ndarray:
    """NumPy only calls BLAS when a matrix has a unit stride in one of its last two dims; copy the others."""
    if x.flags.c_contiguous:
        return x
    if x.ndim >= 2 and x.itemsize in (abs(x.strides[-1]), abs(x.strides[-2])):
        return x
    return np.ascontiguousarray(x)


def _matmul_kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    code = a.dtype.char
    if code in _BLAS_CODES:
        a, b = _blas_ready(a), _blas_ready(b)
    elif code in _HALF_CODES:
        # PyTorch's CPU opmath: half and bfloat16 products accumulate in float32.
        a, b = a.astype(np.float32), b.astype(np.float32)
    # np.matmul always allocates its result (a NumPy scalar for 1-D @ 1-D); integer products wrap as torch's do.
    return np.matmul(a, b)


# NumPy type codes: float32/float64 go to BLAS; float16 ('e') and ml_dtypes' bfloat16 ('E') are widened first.
_BLAS_CODES = ("f", "d")
_HALF_CODES = ("e", "E")


MATMUL = defop(
    "matmul", _matmul_meta, cpu=_matmul_kernel,
    doc="torch.matmul: dot, matrix-vector, vector-matrix, matrix-matrix and broadcast batched products.",
)


@derivative(MATMUL, saves=((0, 1), (1, 0)))
def _matmul_backward(ctx: Any, grad: Tensor) -> tuple:
    """Each rank case's gradients as products of ``grad`` with the other operand (so each operand is saved only
    when the other needs a gradient). Broadcast batch dims (and a vector's implicit batch of rows) come back
    unreduced; the engine sums them to the operand's shape."""
    sa, sb = ctx.shape(0), ctx.shape(1)
    need_a, need_b = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
    a = ctx.input(0) if need_b else None
    b = ctx.input(1) if need_a else None
    ga = gb = None
    if len(sb) == 1:
        if len(sa) == 1:  # dot: grad is 0-d
            return (grad * b if need_a else None), (grad * a if need_b else None)
        # (*, n, k) @ (k,) -> (*, n): an outer product back to a, and a's rows folded into one vector product.
        if need_a:
            ga = grad.unsqueeze(-1) * b
        if need_b:
            rows = numel(sa[:-1])
            gb = dispatch(MATMUL, grad.reshape(rows), a.reshape(rows, sa[-1]))
        return ga, gb
    if len(sa) == 1:
        # (k,) @ (*, k, m) -> (*, m): b times grad per batch (the engine sums the batch), an outer product to b.
        if need_a:
            ga = dispatch(MATMUL, b, grad.unsqueeze(-1)).squeeze(-1)
        if need_b:
            gb = a.unsqueeze(-1) * grad.unsqueeze(-2)
        return ga, gb
    if need_a:
        ga = dispatch(MATMUL, grad, b.mT)
    if need_b:
        if len(sb) == 2:
            # (*, n, k) @ (k, m): fold a's batch into its rows so one 2-D product sums it.
            rows = numel(sa[:-1])
            gb = dispatch(MATMUL, a.reshape(rows, sa[-1]).mT, grad.reshape(rows, sb[-1]))
        else:
            gb = dispatch(MATMUL, a.mT, grad)
    return ga, gb


def matmul(input: Tensor, other: Tensor) -> Tensor:
    """Matrix product of two tensors, with ``torch.matmul``'s rules for each rank.

    * 1-D @ 1-D: the dot product, a 0-d tensor.
    * 2-D @ 2-D: the matrix product.
    * 1-D @ N-D: a 1 is prepended to the vector's shape for the product and removed after.
    * N-D @ 1-D: the matrix-vector product over the last dim.
    * batched (either operand >= 3-D): the batch dims (all but the last two) broadcast.

    Args:
        input (Tensor): the first operand, at least 1-D.
        other (Tensor): the second operand, at least 1-D, of the same dtype.

    Shape:
        ``(*B1, n, k) @ (*B2, k, m) -> (*broadcast(B1, B2), n, m)``.

    Example::

        >>> ember.matmul(ember.ones(2, 1, 3, 4), ember.ones(5, 4, 6)).shape
        ember.Size([2, 5, 3, 6])
    """
    require_tensor("matmul", "input", 1, input)
    require_tensor("matmul", "other", 2, other)
    return dispatch(MATMUL, input, other)


def mm(input: Tensor, mat2: Tensor) -> Tensor:
    """Matrix product of two 2-D tensors (no broadcasting): ``(n, k) @ (k, m) -> (n, m)``.

    Example::

        >>> ember.mm(ember.ones(2, 3), ember.ones(3, 4)).shape
        ember.Size([2, 4])
    """
    require_tensor("mm", "input", 1, input)
    require_tensor("mm", "mat2", 2, mat2)
    if input.dim() != 2:
        raise RuntimeError("self must be a matrix")
    if mat2.dim() != 2:
        raise RuntimeError("mat2 must be a matrix")
    return dispatch(MATMUL, input, mat2)


def bmm(input: Tensor, mat2: Tensor) -> Tensor:
    """Batched matrix product of two 3-D tensors with equal batch sizes: ``(b, n, k) @ (b, k, m) -> (b, n, m)``.

    Example::

        >>> ember.bmm(ember.ones(5, 2, 3), ember.ones(5, 3, 4)).shape
        ember.Size([5, 2, 4])
    """
    require_tensor("bmm", "input", 1, input)
    require_tensor("bmm", "mat2", 2, mat2)
    if input.dim() != 3:
        raise RuntimeError("batch1 must be a 3D tensor")
    if mat2.dim() != 3:
        raise RuntimeError("batch2 must be a 3D tensor")
    sa, sb = input._shape, mat2._shape
    if sb[0] != sa[0] or sb[1] != sa[2]:
        raise RuntimeError(
            f"Expected size for first two dimensions of batch2 tensor to be: [{sa[0]}, {sa[2]}] "
            f"but got: [{sb[0]}, {sb[1]}]."
        )
    return dispatch(MATMUL, input, mat2)


def _check_vectors(input: Tensor, other: Tensor) -> None:
    if input.dim() != 1 or other.dim() != 1:
        raise RuntimeError(f"1D tensors expected, but got {input.dim()}D and {other.dim()}D tensors")


def dot(input: Tensor, tensor: Tensor) -> Tensor:
    """Dot product of two 1-D tensors of the same size and dtype, as a 0-d tensor.

    Example::

        >>> ember.dot(ember.tensor([2., 3.]), ember.tensor([2., 1.]))
        tensor(7.)
    """
    require_tensor("dot", "input", 1, input)
    require_tensor("dot", "tensor", 2, tensor)
    _check_vectors(input, tensor)
    return dispatch(MATMUL, input, tensor)


def vdot(input: Tensor, other: Tensor) -> Tensor:
    """Dot product conjugating the first vector; ember has no complex dtypes, so it equals :func:`dot`."""
    require_tensor("vdot", "input", 1, input)
    require_tensor("vdot", "other", 2, other)
    _check_vectors(input, other)
    return dispatch(MATMUL, input, other)


def outer(input: Tensor, vec2: Tensor) -> Tensor:
    """Outer product of two 1-D tensors: ``out[i, j] = input[i] * vec2[j]``, dtypes promoted as in ``mul``.

    Example::

        >>> ember.outer(ember.arange(1., 3.), ember.arange(1., 4.))
        tensor([[1., 2., 3.],
                [2., 4., 6.]])
    """
    require_tensor("outer", "input", 1, input)
    require_tensor("outer", "vec2", 2, vec2)
    for name, t in (("self", input), ("vec2", vec2)):
        if t.dim() != 1:
            raise RuntimeError(f"outer: Expected 1-D argument {name}, but got {t.dim()}-D")
    return dispatch(EINSUM, [input, vec2], equation="i,j->ij")


def ger(input: Tensor, vec2: Tensor) -> Tensor:
    """Alias of :func:`outer` (PyTorch's older name)."""
    return outer(input, vec2)


def _scaled_sum(input: Tensor, product: Tensor, beta: Any, alpha: Any) -> Tensor:
    """``beta * input + alpha * product``, input broadcast to the product; ``beta == 0`` ignores input (NaN too)."""
    from .arithmetic import add, mul
    from .views import expand

    if not product.dtype.is_floating_point:
        # PyTorch truncates the scalars for integer products instead of promoting them.
        beta, alpha = int(beta), int(alpha)
    input = expand(input, product.shape)
    scaled = product if alpha == 1 else mul(product, alpha)
    if beta == 0:
        if input.requires_grad:
            # PyTorch gives input a zero gradient, not none; where() still ignores its values (NaN included).
            from ..creation import tensor
            from .ternary import where

            return where(tensor(False), input, scaled)
        return scaled
    return add(input if beta == 1 else mul(input, beta), scaled)


def addmm(input: Tensor, mat1: Tensor, mat2: Tensor, *, beta: float = 1, alpha: float = 1) -> Tensor:
    """``beta * input + alpha * (mat1 @ mat2)`` for 2-D ``mat1`` and ``mat2``; ``input`` broadcasts to the product.

    With ``beta=0`` the values of ``input`` are ignored (NaN and inf do not propagate), as in PyTorch.

    Example::

        >>> ember.addmm(ember.zeros(3), ember.ones(2, 4), ember.ones(4, 3), alpha=0.5)
        tensor([[2., 2., 2.],
                [2., 2., 2.]])
    """
    for position, (name, value) in enumerate((("input", input), ("mat1", mat1), ("mat2", mat2)), start=1):
        require_tensor("addmm", name, position, value)
    for name, t in (("mat1", mat1), ("mat2", mat2)):
        if t.dim() != 2:
            raise RuntimeError(f"{name} must be a matrix, got {t.dim()}-D tensor")
    _matmul_shape(mat1._shape, mat2._shape)
    for first, name in ((input, "self"), (mat1, "mat1")):
        if first.dtype is not mat2.dtype:
            raise RuntimeError(f"{name} and mat2 must have the same dtype, but got {first.dtype.scalar_name} and "
                               f"{mat2.dtype.scalar_name}")
    return _scaled_sum(input, dispatch(MATMUL, mat1, mat2), beta, alpha)


def baddbmm(input: Tensor, batch1: Tensor, batch2: Tensor, *, beta: float = 1, alpha: float = 1) -> Tensor:
    """``beta * input + alpha * bmm(batch1, batch2)``; ``input`` broadcasts to the product's shape.

    Example::

        >>> ember.baddbmm(ember.ones(3), ember.ones(5, 2, 4), ember.ones(5, 4, 3), beta=2).shape
        ember.Size([5, 2, 3])
    """
    require_tensor("baddbmm", "input", 1, input)
    if input.dtype is not batch1.dtype and batch1.dtype is batch2.dtype:
        raise RuntimeError(f"Input dtypes must be the same, got: input {input.dtype.cpp_name}, batch1: "
                           f"{batch1.dtype.cpp_name}, batch2: {batch2.dtype.cpp_name}")
    if batch1.dtype is dtypes.bool and batch2.dtype is dtypes.bool:
        raise NotImplementedError("\"baddbmm\" not implemented for 'Bool'")
    return _scaled_sum(input, bmm(batch1, batch2), beta, alpha)


def _tensor_matmul(self: Tensor, other: Any) -> Tensor:
    if not isinstance(other, Tensor):
        return NotImplemented
    return dispatch(MATMUL, self, other)


def _tensor_rmatmul(self: Tensor, other: Any) -> Tensor:
    if not isinstance(other, Tensor):
        return NotImplemented
    return dispatch(MATMUL, other, self)


__all__ = ["addmm", "baddbmm", "bmm", "dot", "einsum", "ger", "matmul", "mm", "outer", "vdot"]

register_methods(
    matmul=matmul, mm=mm, bmm=bmm, dot=dot, vdot=vdot, outer=outer, ger=ger, addmm=addmm, baddbmm=baddbmm,
    __matmul__=_tensor_matmul, __rmatmul__=_tensor_rmatmul,
)
