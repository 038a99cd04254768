"""Spread and size: var, std, var_mean, std_mean and norm (PyTorch's ``torch.norm``).

Variance is two-pass (mean, then squared deviations) in float64, so float32 results are correctly
rounded. With ``correction`` at or above the slice size the divisor is clamped to zero, giving inf (or
nan for a zero numerator) and a warning, as PyTorch does.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from .. import dtypes
from ..dispatch import dispatch
from ..registry import Meta, defop, derivative
from ..shape_rules import wrap_dim
from ..tensor import Tensor, register_methods
from .reduction import (
    MEAN,
    DimArg,
    check_dtype_arg,
    check_tensor,
    opmath,
    reduced_shape,
    reduction_count,
    reduction_dims,
    restore_reduced,
)


# ----- primitives ---------------------------------------------------------------------------------------
def _var_meta(a: Tensor, *, dim: tuple, correction: float, keepdim: bool) -> Meta:
    if not a._dtype.is_floating_point:
        raise RuntimeError("std and var only support floating point and complex dtypes")
    return Meta(reduced_shape(a._shape, dim, keepdim), a._dtype)


def _var_kernel(a: np.ndarray, *, dim: tuple, correction: float, keepdim: bool) -> np.ndarray:
    x = a.astype(np.float64)
    count = reduction_count(a.shape, dim)
    with np.errstate(invalid="ignore", divide="ignore"):
        deviations = x - np.sum(x, axis=dim, keepdims=True) / count
        squares = np.sum(deviations * deviations, axis=dim, keepdims=keepdim)
        return squares / np.float64(count - correction if count > correction else 0)


def _std_kernel(a: np.ndarray, *, dim: tuple, correction: float, keepdim: bool) -> np.ndarray:
    return np.sqrt(_var_kernel(a, dim=dim, correction=correction, keepdim=keepdim))


def _norm_meta(a: Tensor, *, p: float, dim: tuple, keepdim: bool, dtype: dtypes.dtype) -> Meta:
    if not a._dtype.is_floating_point:
        got = a._dtype.scalar_name
        raise RuntimeError(f"linalg.vector_norm: Expected a floating point or complex tensor as input. Got {got}")
    if dtypes.promote_types(a._dtype, dtype) is not dtype:
        raise RuntimeError(
            f"linalg.vector_norm: the dtype of the input ({a._dtype.scalar_name}) should be convertible "
            f"without narrowing to the specified dtype ({dtype.scalar_name})"
        )
    if p < 0 or p == math.inf:
        for d in dim:
            if a._shape[d] == 0:
                raise RuntimeError(
                    f"linalg.vector_norm cannot compute the {p:g} norm on the dimension {d} because this dimension "
                    "is empty and the operation does not have an identity"
                )
    return Meta(reduced_shape(a._shape, dim, keepdim), dtype)


def _norm_kernel(a: np.ndarray, *, p: float, dim: tuple, keepdim: bool, dtype: dtypes.dtype) -> np.ndarray:
    x = np.abs(opmath(a, dtype))
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        if p == 2:
            return np.sqrt(np.sum(x * x, axis=dim, keepdims=keepdim))
        if p == 1:
            return np.sum(x, axis=dim, keepdims=keepdim)
        if p == math.inf:
            return np.max(x, axis=dim, keepdims=keepdim, initial=0)
        if p == -math.inf:
            return np.min(x, axis=dim, keepdims=keepdim, initial=math.inf)
        if p == 0:
            return np.sum(x != 0, axis=dim, keepdims=keepdim, dtype=x.dtype)
        return np.sum(x**p, axis=dim, keepdims=keepdim) ** (1 / p)


def _nuclear_norm_meta(a: Tensor, *, dim: tuple, keepdim: bool, dtype: dtypes.dtype) -> Meta:
    return Meta(reduced_shape(a._shape, tuple(sorted(dim)), keepdim), dtype)


def _nuclear_norm_kernel(a: np.ndarray, *, dim: tuple, keepdim: bool, dtype: dtypes.dtype) -> np.ndarray:
    matrices = np.moveaxis(a.astype(dtype.np_dtype), dim, (-2, -1))
    if matrices.shape[-1] == 0 or matrices.shape[-2] == 0:
        result = np.zeros(matrices.shape[:-2], dtype=dtype.np_dtype)
    else:
        result = np.linalg.svd(matrices, compute_uv=False).sum(axis=-1)
    return np.expand_dims(result, tuple(sorted(dim))) if keepdim else result


def _nuclear_norm_backward_kernel(a: np.ndarray, *, dim: tuple) -> np.ndarray:
    """``U @ Vh`` of each matrix's reduced SVD: the gradient of the sum of its singular values."""
    matrices = np.moveaxis(a, dim, (-2, -1))
    if matrices.size == 0 or not np.isfinite(matrices).all():
        result = np.full(matrices.shape, 0 if matrices.size == 0 else np.nan, dtype=a.dtype)
    else:
        u, _, vh = np.linalg.svd(matrices, full_matrices=False)
        result = u @ vh
    return np.ascontiguousarray(np.moveaxis(result, (-2, -1), dim))


VAR = defop("var", _var_meta, cpu=_var_kernel, doc="Variance over dims with Bessel-style correction.")
STD = defop("std", _var_meta, cpu=_std_kernel, doc="Standard deviation over dims with correction.")
NORM = defop("norm", _norm_meta, cpu=_norm_kernel, doc="Vector p-norm over dims (p = inf, -inf, 0 included).")
NUCLEAR_NORM = defop("nuclear_norm", _nuclear_norm_meta, cpu=_nuclear_norm_kernel,
                     doc="Sum of singular values of the matrices spanned by two dims.")
NUCLEAR_NORM_BACKWARD = defop("nuclear_norm_backward", lambda a, *, dim: Meta(a._shape, a._dtype),
                              cpu=_nuclear_norm_backward_kernel,
                              doc="U @ Vh of the matrices spanned by two dims (the nuclear norm's gradient).")


# ----- derivatives --------------------------------------------------------------------------------------
def _var_input_grad(x: Tensor, grad: Tensor, dims: tuple, correction: float) -> Tensor:
    """d var / d x for a ``grad`` already shaped to broadcast against ``x``: ``2 (x - mean) / (N - correction)``.

    With no degrees of freedom left the forward divides by zero, and the factor is infinite likewise.
    """
    count = reduction_count(x._shape, dims)
    factor = 2 / (count - correction) if count > correction else math.inf
    return (grad * factor) * (x - x.mean(dims, keepdim=True))


@derivative(VAR, saves=(0,))
def _var_backward(ctx, grad: Tensor) -> Tensor:
    x, a = ctx.input(0), ctx.attrs
    return _var_input_grad(x, restore_reduced(grad, x._shape, a["dim"], a["keepdim"]), a["dim"], a["correction"])


@derivative(STD, saves=(0, "out"))
def _std_backward(ctx, grad: Tensor) -> Tensor:
    x, a = ctx.input(0), ctx.attrs
    out = restore_reduced(ctx.out, x._shape, a["dim"], a["keepdim"])
    # d std = d var / (2 std); a zero std (a constant slice) gets PyTorch's zero gradient rather than 0/0.
    grad = (restore_reduced(grad, x._shape, a["dim"], a["keepdim"]) / (2 * out)).where(out != 0, 0.0)
    return _var_input_grad(x, grad, a["dim"], a["correction"])


@derivative(NORM, saves=(0, "out"))
def _norm_backward(ctx, grad: Tensor) -> Tensor | None:
    """PyTorch's ``norm_backward``, subgradients included: 0 at a zero vector for p >= 1 (``x / 0`` is masked),
    the sign of x for p = 1, the gradient split evenly among ties of the largest (smallest) |x| for p = inf
    (-inf), and none at all for p = 0 (the count of non-zeros is piecewise constant)."""
    p, dims, keepdim = ctx.attrs["p"], ctx.attrs["dim"], ctx.attrs["keepdim"]
    if p == 0:
        return None
    x = ctx.input(0)
    grad = restore_reduced(grad, x._shape, dims, keepdim)
    if p == 1:
        return x.sgn() * grad
    norm = restore_reduced(ctx.out, x._shape, dims, keepdim)
    if p == 2:
        return grad * (x / norm).where(norm != 0, 0.0)
    if math.isinf(p):
        size = x.abs()
        ties = (size == norm).logical_or(size.isnan())
        return x.sgn() * (grad / ties.sum(dims, keepdim=True) * ties)
    if p < 1:
        return x.sgn() * x.abs().pow(p - 1).where(x != 0, 0.0) * grad * norm.pow(1 - p)
    scale = (grad / norm.pow(p - 1)).where(norm != 0, 0.0)
    if p < 2:
        return x.sgn() * x.abs().pow(p - 1) * scale
    return x * x.abs().pow(p - 2) * scale


@derivative(NUCLEAR_NORM, saves=(0,))
def _nuclear_norm_backward(ctx, grad: Tensor) -> Tensor:
    # Only first order: NUCLEAR_NORM_BACKWARD has no formula of its own (that needs the SVD's derivative).
    x, dims = ctx.input(0), ctx.attrs["dim"]
    grad = restore_reduced(grad, x._shape, dims, ctx.attrs["keepdim"])
    return dispatch(NUCLEAR_NORM_BACKWARD, x, dim=dims) * grad


# ----- public functions ---------------------------------------------------------------------------------
def _correction(fn: str, input: Tensor, dim: DimArg, unbiased: bool | None, correction: float | None):
    """Resolve PyTorch's overloads ``var(input, unbiased)``, ``var(input, dim, unbiased)`` and ``correction=``."""
    check_tensor(fn, input)
    if isinstance(dim, bool):
        if unbiased is not None:
            raise TypeError(f"{fn}(): got 'unbiased' twice (the second positional argument was a bool)")
        dim, unbiased = None, dim
    if unbiased is not None and correction is not None:
        raise TypeError(f"{fn}(): pass either 'unbiased' or 'correction', not both")
    if correction is None:
        correction = 0 if unbiased is False else 1
    elif isinstance(correction, Tensor):
        correction = correction.item()
    dims = reduction_dims(dim, input.dim())
    # int(): only a warning hangs on this, so a trace need not assume anything about a symbolic count.
    if int(reduction_count(input._shape, dims)) - correction <= 0:
        warnings.warn(
            f"{fn}(): degrees of freedom is <= 0. Correction should be strictly less than the reduction factor "
            "(input numel divided by output numel).",
            UserWarning,
            stacklevel=3,
        )
    return dims, correction


def var(input: Tensor, dim: DimArg = None, unbiased: bool | None = None, keepdim: bool = False, *,
        correction: float | None = None) -> Tensor:
    """The variance of ``input`` over ``dim``: ``sum((x - mean)**2) / max(0, N - correction)``.

    Args:
        input: a floating tensor.
        dim: a dim or a tuple of dims; None reduces all of them.
        unbiased: legacy spelling: True is ``correction=1``, False is ``correction=0``.
        keepdim: keep the reduced dims, with size 1.
        correction: subtracted from the slice size N; 1 (Bessel's correction) by default.

    Example::

        >>> ember.tensor([1., 2., 3., 4.]).var(correction=0)
        tensor(1.2500)
    """
    dims, correction = _correction("var", input, dim, unbiased, correction)
    return dispatch(VAR, input, dim=dims, correction=correction, keepdim=bool(keepdim))


def std(input: Tensor, dim: DimArg = None, unbiased: bool | None = None, keepdim: bool = False, *,
        correction: float | None = None) -> Tensor:
    """The standard deviation of ``input`` over ``dim``: the square root of :func:`var` (same arguments)."""
    dims, correction = _correction("std", input, dim, unbiased, correction)
    return dispatch(STD, input, dim=dims, correction=correction, keepdim=bool(keepdim))


def _moment_and_mean(fn: str, op, input, dim, unbiased, keepdim, correction) -> tuple[Tensor, Tensor]:
    dims, correction = _correction(fn, input, dim, unbiased, correction)
    if not input._dtype.is_floating_point:
        raise RuntimeError(f"{fn} only support floating point and complex dtypes")
    keepdim = bool(keepdim)
    return (dispatch(op, input, dim=dims, correction=correction, keepdim=keepdim),
            dispatch(MEAN, input, dim=dims, keepdim=keepdim, dtype=input._dtype))


def var_mean(input: Tensor, dim: DimArg = None, unbiased: bool | None = None, keepdim: bool = False, *,
             correction: float | None = None) -> tuple[Tensor, Tensor]:
    """``(var, mean)`` of ``input`` over ``dim``; the arguments are those of :func:`var`."""
    return _moment_and_mean("var_mean", VAR, input, dim, unbiased, keepdim, correction)


def std_mean(input: Tensor, dim: DimArg = None, unbiased: bool | None = None, keepdim: bool = False, *,
             correction: float | None = None) -> tuple[Tensor, Tensor]:
    """``(std, mean)`` of ``input`` over ``dim``; the arguments are those of :func:`var`."""
    return _moment_and_mean("std_mean", STD, input, dim, unbiased, keepdim, correction)


def _matrix_norm(input: Tensor, ord: str, dim: list | None, keepdim: bool, dtype: dtypes.dtype | None) -> Tensor:
    """``torch.norm`` hands string orders it cannot treat as vector norms to ``linalg.matrix_norm``."""
    got = input._dtype.scalar_name
    if input.dim() < 2:
        raise RuntimeError("linalg.matrix_norm: The input tensor A must have at least 2 dimensions.")
    if not input._dtype.is_floating_point:
        raise RuntimeError(f"linalg.matrix_norm: Expected a floating point or complex tensor as input. Got {got}")
    dim = list(range(input.dim())) if dim is None else dim
    if len(dim) != 2:
        raise RuntimeError(f"linalg.matrix_norm: dim must be a 2-tuple. Got {' '.join(str(d) for d in dim)}")
    dims = tuple(wrap_dim(d, input.dim()) for d in dim)
    if dims[0] == dims[1]:
        raise RuntimeError(f"linalg.matrix_norm: dims must be different. Got {dims}")
    if ord != "nuc":
        raise RuntimeError(f"linalg.matrix_norm: Order {ord} not supported.")
    if input._dtype in (dtypes.float16, dtypes.bfloat16):
        raise RuntimeError(f"linalg.matrix_norm: Low precision dtypes not supported. Got {got}")
    out_dtype = input._dtype if dtype is None else dtype
    return dispatch(NUCLEAR_NORM, input, dim=dims, keepdim=bool(keepdim), dtype=out_dtype)


def norm(input: Tensor, p: float | str | None = "fro", dim: DimArg = None, keepdim: bool = False,
         dtype: dtypes.dtype | None = None) -> Tensor:
    """The norm of ``input``, as ``torch.norm``.

    A number ``p`` (default ``'fro'``, meaning 2) gives the vector p-norm over ``dim`` (all dims when
    None): ``sum(|x|**p) ** (1/p)``, with ``inf``/``-inf`` the largest/smallest ``|x|`` and ``0`` the
    number of non-zeros. ``'fro'`` over more than two dims and ``'nuc'`` (the nuclear norm, sum of
    singular values) are matrix norms over two dims.

    Args:
        input: a floating tensor.
        p: the order of the norm: a number, ``'fro'`` or ``'nuc'``.
        dim: a dim or a tuple of dims; None reduces all of them.
        keepdim: keep the reduced dims, with size 1.
        dtype: compute in and return this dtype (not narrower than the input's).

    Example::

        >>> ember.tensor([[3., -4.], [0., 0.]]).norm(dim=1)
        tensor([5., 0.])
    """
    check_tensor("norm", input)
    check_dtype_arg("norm", dtype)
    if isinstance(p, Tensor):
        p = p.item()
    dims_list = None if dim is None else [dim] if not isinstance(dim, list | tuple) else list(dim)
    if isinstance(p, str):
        if p != "fro" or (dims_list is not None and len(dims_list) > 2):
            return _matrix_norm(input, p, dims_list, keepdim, dtype)
        p = 2.0
    p = 2.0 if p is None else float(p)
    dims = reduction_dims(dim, input.dim())
    if (p < 0 or p == math.inf) and input.numel() == 0 and (dim is None or dims_list == []):
        raise RuntimeError(
            f"linalg.vector_norm cannot compute the {p:g} norm on an empty tensor because the operation does not "
            "have an identity"
        )
    out_dtype = input._dtype if dtype is None else dtype
    return dispatch(NORM, input, p=p, dim=dims, keepdim=bool(keepdim), dtype=out_dtype)


__all__ = ["var", "std", "var_mean", "std_mean", "norm"]

register_methods(var=var, std=std, norm=norm)
