"""Running reductions along one dim: cumsum and cumprod.

Like PyTorch's CPU kernels, float32 scans accumulate in float64 and float16/bfloat16 in float32, so a
long running sum does not drift; bool and integer inputs scan in int64.
"""

from __future__ import annotations

import numpy as np

from .. import dtypes
from ..creation import ones
from ..dispatch import dispatch, grad_mode_enabled
from ..registry import Meta, defop, derivative
from ..shape_rules import wrap_dim
from ..tensor import Tensor, register_methods
from .reduction import check_dtype_arg, check_tensor, long_if_integral

_ACCUMULATOR = {
    np.dtype(np.float16): np.float32,
    dtypes.bfloat16.np_dtype: np.float32,
    np.dtype(np.float32): np.float64,
    np.dtype(np.float64): np.float64,
}


def _scan_meta(fn: str):
    def infer(a: Tensor, *, dim: int, dtype: dtypes.dtype) -> Meta:
        # As in PyTorch, an empty input returns before the kernel's dtype check.
        if dtype is dtypes.bool and a.numel():
            raise NotImplementedError(f"\"{fn}_out_cpu\" not implemented for '{dtype.scalar_name}'")
        return Meta(a._shape, dtype)

    return infer


def _scan_kernel(scan):
    def kernel(a: np.ndarray, *, dim: int, dtype: dtypes.dtype) -> np.ndarray:
        with np.errstate(invalid="ignore", over="ignore"):
            x = a.astype(dtype.np_dtype, copy=False)
            result = scan(x, axis=dim if x.ndim else None, dtype=_ACCUMULATOR.get(x.dtype, np.int64))
        # A 0-d input scans as one element; numpy hands that back as shape (1,).
        return result.reshape(a.shape)

    return kernel


CUMSUM = defop("cumsum", _scan_meta("cumsum"), cpu=_scan_kernel(np.cumsum), doc="Running sum along a dim.")
CUMPROD = defop("cumprod", _scan_meta("cumprod"), cpu=_scan_kernel(np.cumprod), doc="Running product along a dim.")


# ----- derivatives --------------------------------------------------------------------------------------
def _reversed_cumsum(t: Tensor, dim: int) -> Tensor:
    """``out[k] = sum(t[j] for j >= k)`` along ``dim``: how a running sum's gradient flows back."""
    return t.flip(dim).cumsum(dim).flip(dim)


@derivative(CUMSUM)
def _cumsum_backward(ctx, grad: Tensor) -> Tensor:
    if not ctx.shape(0):
        return grad
    return _reversed_cumsum(grad, ctx.attrs["dim"])


@derivative(CUMPROD, saves=(0, "out"))
def _cumprod_backward(ctx, grad: Tensor) -> Tensor:
    """d out[j] / d x[k] = prod(x[i] for i <= j, i != k) for j >= k; summed against the gradient of out[j].

    Without zeros that is ``reversed_cumsum(grad * out) / x``. With zeros, the division fails at them, and
    PyTorch's split is kept: an O(n) form when no graph is built, an O(n^2) one that is exact to differentiate.
    """
    x, d = ctx.input(0), ctx.attrs["dim"]
    if x.numel() <= 1 or x._shape[d] == 1:
        return grad
    is_zero = x == 0
    if not bool(is_zero.any()):
        return _reversed_cumsum(grad * ctx.out, d) / x
    # Grad mode is on inside a backward pass only under create_graph: then the formula must be differentiable.
    if grad_mode_enabled():
        return _cumprod_backward_quadratic(x, grad, d)
    return _cumprod_backward_with_zeros(x, grad, ctx.out, is_zero, d)


def _cumprod_backward_with_zeros(x: Tensor, grad: Tensor, out: Tensor, is_zero: Tensor, d: int) -> Tensor:
    """O(n) per slice. Before the slice's first zero z the division is safe and the terms j >= z vanish; at z,
    the gradient is the reversed cumsum of ``grad * P`` with P the running product with x[z] taken as 1;
    after z every product still holds x[z] = 0."""
    zeros_so_far = is_zero.cumsum(d)
    before_zero = zeros_so_far == 0
    first_zero = is_zero.logical_and(zeros_so_far == 1)
    before = _reversed_cumsum(grad * out, d) / x.where(before_zero, 1.0)
    at_zero = _reversed_cumsum(grad * x.where(first_zero.logical_not(), 1.0).cumprod(d), d)
    return before.where(before_zero, at_zero.where(first_zero, 0.0))


def _cumprod_backward_quadratic(x: Tensor, grad: Tensor, d: int) -> Tensor:
    """O(n^2) per slice, a polynomial in x (so differentiable again, zeros included): row k of an n x n matrix
    holds the slice with x[k] replaced by 1; its running product at j >= k is d out[j] / d x[k]."""
    from .ranges import eye

    n = x._shape[d]
    rows = x.movedim(d, -1).unsqueeze(-2).where(eye(n, dtype=dtypes.bool, device=x.device).logical_not(), 1.0)
    upper = ones(n, n, dtype=dtypes.bool, device=x.device).triu()
    partials = (rows.cumprod(-1) * grad.movedim(d, -1).unsqueeze(-2)).where(upper, 0.0)
    return partials.sum(-1).movedim(-1, d)


def _scan(op, fn: str, input: Tensor, dim: int, dtype: dtypes.dtype | None) -> Tensor:
    check_tensor(fn, input)
    check_dtype_arg(fn, dtype)
    out_dtype = dtype if dtype is not None else long_if_integral(input._dtype)
    return dispatch(op, input, dim=wrap_dim(dim, input.dim()), dtype=out_dtype)


def cumsum(input: Tensor, dim: int, *, dtype: dtypes.dtype | None = None) -> Tensor:
    """The running sum of ``input`` along ``dim``; bool and integer tensors give int64 unless ``dtype`` is given.

    Example::

        >>> ember.tensor([1, 2, 3]).cumsum(0)
        tensor([1, 3, 6])
    """
    return _scan(CUMSUM, "cumsum", input, dim, dtype)


def cumprod(input: Tensor, dim: int, *, dtype: dtypes.dtype | None = None) -> Tensor:
    """The running product of ``input`` along ``dim``; bool and integer tensors give int64 unless ``dtype`` is given.

    Example::

        >>> ember.tensor([1., 2., 3.]).cumprod(0)
        tensor([1., 2., 6.])
    """
    return _scan(CUMPROD, "cumprod", input, dim, dtype)


__all__ = ["cumsum", "cumprod"]

register_methods(cumsum=cumsum, cumprod=cumprod)
