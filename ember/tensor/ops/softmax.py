"""Numerically stable exponential reductions: logsumexp, softmax and log_softmax.

Each subtracts the slice maximum before exponentiating, so 1e4 does not overflow. The special cases
follow PyTorch: logsumexp of an all ``-inf`` slice is ``-inf`` and of a slice holding ``+inf`` is
``+inf`` (the maximum is replaced by 0 when infinite); softmax of a slice that is all ``-inf`` or holds
``+inf`` or NaN is NaN throughout.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .. import dtypes
from ..dispatch import dispatch
from ..registry import Meta, defop, derivative
from ..shape_rules import wrap_dim
from ..tensor import Tensor, register_methods
from .reduction import check_dtype_arg, check_tensor, opmath, reduced_shape, reduction_dims, restore_reduced


def _logsumexp_meta(a: Tensor, *, dim: tuple, keepdim: bool, dtype: dtypes.dtype) -> Meta:
    return Meta(reduced_shape(a._shape, dim, keepdim), dtype)


def _logsumexp_kernel(a: np.ndarray, *, dim: tuple, keepdim: bool, dtype: dtypes.dtype) -> np.ndarray:
    x = opmath(a, dtype)
    # initial=-inf gives empty slices a maximum, so they come out as log(0) = -inf.
    top = np.max(x, axis=dim, keepdims=True, initial=-np.inf)
    top = np.where(np.isinf(top), 0, top).astype(x.dtype)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        total = np.sum(np.exp(x - top), axis=dim, keepdims=keepdim)
        return np.log(total) + (top if keepdim else np.squeeze(top, axis=dim))


def _softmax_meta(kernel_name: str):
    def infer(a: Tensor, *, dim: int, dtype: dtypes.dtype) -> Meta:
        # PyTorch returns an empty input before its kernel's dtype check, so empty integer tensors pass.
        if not dtype.is_floating_point and a.numel():
            last = "_lastdim" if dim >= a.dim() - 1 else ""
            raise NotImplementedError(f'"{kernel_name}{last}_kernel_impl" not implemented for '
                                      f"'{dtype.scalar_name}'")
        return Meta(a._shape, dtype)

    return infer


def _shifted(a: np.ndarray, dim: int, dtype: dtypes.dtype) -> tuple[np.ndarray, int | None]:
    """``x - max(x)`` along the softmax axis, in opmath precision, and that axis (None for a 0-d tensor)."""
    x = opmath(a, dtype)
    axis = dim if x.ndim else None
    return x - np.max(x, axis=axis, keepdims=True, initial=-np.inf), axis


def _softmax_kernel(a: np.ndarray, *, dim: int, dtype: dtypes.dtype) -> np.ndarray:
    if a.size == 0:
        return np.empty(a.shape, dtype.np_dtype)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        shifted, axis = _shifted(a, dim, dtype)
        if type(shifted) is not np.ndarray or shifted.ndim == 0:
            e = np.exp(shifted)
            return e / e
        # ``shifted`` is a fresh array: exponentiate and normalise it in place, two passes fewer over memory.
        np.exp(shifted, out=shifted)
        shifted /= np.add.reduce(shifted, axis=axis, keepdims=True)
        return shifted


def _log_softmax_kernel(a: np.ndarray, *, dim: int, dtype: dtypes.dtype) -> np.ndarray:
    if a.size == 0:
        return np.empty(a.shape, dtype.np_dtype)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        shifted, axis = _shifted(a, dim, dtype)
        log_total = np.log(np.add.reduce(np.exp(shifted), axis=axis, keepdims=True))
        if type(shifted) is not np.ndarray or shifted.ndim == 0:
            return shifted - log_total
        shifted -= log_total
        return shifted


LOGSUMEXP = defop("logsumexp", _logsumexp_meta, cpu=_logsumexp_kernel,
                  doc="log(sum(exp(x))) over dims, computed stably around the slice maximum.")
SOFTMAX = defop("softmax", _softmax_meta("softmax"), cpu=_softmax_kernel,
                doc="exp(x) / sum(exp(x)) along one dim, computed stably around the slice maximum.")
LOG_SOFTMAX = defop("log_softmax", _softmax_meta("log_softmax"), cpu=_log_softmax_kernel,
                    doc="x - logsumexp(x) along one dim, computed stably around the slice maximum.")


# ----- derivatives: in terms of the saved output, so they stay stable where exp(x) would overflow --------
@derivative(LOGSUMEXP, saves=(0, "out"))
def _logsumexp_backward(ctx, grad: Tensor) -> Tensor:
    x, dims, keepdim = ctx.input(0), ctx.attrs["dim"], ctx.attrs["keepdim"]
    # d logsumexp / dx = exp(x - logsumexp): the softmax over the reduced dims.
    weights = (x - restore_reduced(ctx.out, x._shape, dims, keepdim)).exp()
    return restore_reduced(grad, x._shape, dims, keepdim) * weights


@derivative(SOFTMAX, saves=("out",))
def _softmax_backward(ctx, grad: Tensor) -> Tensor:
    out = ctx.out
    return out * (grad - (grad * out).sum(ctx.attrs["dim"], keepdim=True))


@derivative(LOG_SOFTMAX, saves=("out",))
def _log_softmax_backward(ctx, grad: Tensor) -> Tensor:
    return grad - ctx.out.exp() * grad.sum(ctx.attrs["dim"], keepdim=True)


def logsumexp(input: Tensor, dim: int | Sequence[int], keepdim: bool = False) -> Tensor:
    """``log(sum(exp(input)))`` over ``dim``, without overflow for large inputs.

    Integer and bool tensors give the default floating dtype. ``dim=()`` reduces every dim.

    Example::

        >>> ember.tensor([1e4, 1e4]).logsumexp(0)
        tensor(10000.6934)
    """
    check_tensor("logsumexp", input)
    # Integer and bool inputs give the default floating dtype, as in PyTorch.
    out_dtype = input._dtype if input._dtype.is_floating_point else dtypes.get_default_dtype()
    return dispatch(LOGSUMEXP, input, dim=reduction_dims(dim, input.dim()), keepdim=bool(keepdim), dtype=out_dtype)


def _softmax_like(op, fn: str, input: Tensor, dim: int, dtype: dtypes.dtype | None) -> Tensor:
    check_tensor(fn, input)
    check_dtype_arg(fn, dtype)
    if dim is None or isinstance(dim, bool | float):
        raise TypeError(f"{fn}(): argument 'dim' (position 1) must be int, not {type(dim).__name__}")
    out_dtype = input._dtype if dtype is None else dtype
    return dispatch(op, input, dim=wrap_dim(dim, input.dim()), dtype=out_dtype)


def softmax(input: Tensor, dim: int, dtype: dtypes.dtype | None = None) -> Tensor:
    """``exp(input) / sum(exp(input))`` along ``dim``, stable for large values.

    Args:
        input: a floating tensor (or any tensor with a floating ``dtype``).
        dim: the dim the results sum to 1 along.
        dtype: cast ``input`` to this dtype first; the result has it.

    Example::

        >>> ember.tensor([1e4, 1e4, -1e4]).softmax(0)
        tensor([0.5000, 0.5000, 0.0000])
    """
    return _softmax_like(SOFTMAX, "softmax", input, dim, dtype)


def log_softmax(input: Tensor, dim: int, dtype: dtypes.dtype | None = None) -> Tensor:
    """``input - logsumexp(input, dim, keepdim=True)``, stable for large values; arguments as :func:`softmax`."""
    return _softmax_like(LOG_SOFTMAX, "log_softmax", input, dim, dtype)


__all__ = ["logsumexp", "softmax", "log_softmax"]

register_methods(logsumexp=logsumexp, softmax=softmax, log_softmax=log_softmax)
