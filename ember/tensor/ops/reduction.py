"""Sum-like reductions: sum, nansum, mean, nanmean, prod, all, any, count_nonzero.

Also the helpers the other reduction modules (extrema, statistics, softmax, scan) share: turning PyTorch's
``dim`` argument into explicit axes, the reduced shape, and PyTorch's CPU "opmath" (float16/bfloat16
computed in float32). Every primitive here takes ``dim`` as a sorted tuple of wrapped axes, so a traced
reduction never depends on how the user spelled it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .. import dtypes
from ..creation import ones_like
from ..dispatch import dispatch
from ..registry import Meta, cached_meta, defop, derivative
from ..shape_rules import wrap_dim, wrap_dims
from ..tensor import Tensor, register_methods

DimArg = int | Sequence[int] | None

_LOW_PRECISION = (dtypes.float16.np_dtype, dtypes.bfloat16.np_dtype)


def check_tensor(fn: str, input: object) -> None:
    if not isinstance(input, Tensor):
        raise TypeError(f"{fn}(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}")


def check_dtype_arg(fn: str, dtype: object) -> None:
    if dtype is not None and not isinstance(dtype, dtypes.dtype):
        raise TypeError(f"{fn}(): argument 'dtype' must be ember.dtype, not {type(dtype).__name__}")


_ALL_DIMS = tuple(tuple(range(n)) for n in range(16))


def reduction_dims(dim: DimArg, ndim: int, *, empty_means_all: bool = True) -> tuple:
    """The sorted axes a reduction over ``dim`` covers on a tensor with ``ndim`` dims.

    None reduces every dim; so does ``()`` unless ``empty_means_all`` is False (``all``/``any`` treat it
    as "no dims"). A 0-d tensor accepts dim 0 or -1 and has no axes to reduce, so it always gives ``()``.
    """
    if dim is None:
        return _ALL_DIMS[ndim] if ndim < len(_ALL_DIMS) else tuple(range(ndim))
    if isinstance(dim, list | tuple):
        dims = wrap_dims(dim, ndim)
        if not dims and empty_means_all:
            return tuple(range(ndim))
    else:
        dims = (wrap_dim(dim, ndim),)
    return tuple(sorted(dims)) if ndim else ()


def reduced_shape(shape: tuple, dims: tuple, keepdim: bool) -> tuple:
    if not keepdim and len(dims) == len(shape):
        return ()
    if keepdim:
        return tuple(1 if i in dims else s for i, s in enumerate(shape))
    return tuple(s for i, s in enumerate(shape) if i not in dims)


def reduction_count(shape: tuple, dims: tuple) -> int:
    """How many input elements fold into each output element."""
    return math.prod(shape[d] for d in dims)


def restore_reduced(grad: Tensor, shape: tuple, dims: tuple, keepdim: bool) -> Tensor:
    """A reduction's output (or its gradient) with the reduced ``dims`` put back as size 1, so that it broadcasts
    against the input of ``shape``: the first step of every reduction's backward formula."""
    if keepdim or not dims:
        return grad
    return grad.reshape(reduced_shape(shape, dims, True))


def expand_reduced(grad: Tensor, shape: tuple, dims: tuple, keepdim: bool) -> Tensor:
    """The gradient of a reduction's output spread back over the input's ``shape`` (a broadcast view)."""
    return restore_reduced(grad, shape, dims, keepdim).expand(shape)


def check_nonempty(fn: str, input: Tensor, dims: tuple, *, full: bool) -> None:
    """Reductions without an identity (max, amin, argmax...) refuse empty slices, as PyTorch does."""
    if full and input.numel() == 0:
        raise RuntimeError(
            f"{fn}(): Expected reduction dim to be specified for input.numel() == 0. "
            "Specify the reduction dim with the 'dim' argument."
        )
    for d in dims:
        if input._shape[d] == 0:
            raise IndexError(f"{fn}(): Expected reduction dim {d} to have non-zero size.")


def opmath(a: np.ndarray, dtype: dtypes.dtype | None = None) -> np.ndarray:
    """``a`` converted to ``dtype`` when given, then widened to float32 if half precision (PyTorch's CPU opmath)."""
    if dtype is not None and a.dtype is not dtype.np_dtype and a.dtype != dtype.np_dtype:
        with np.errstate(invalid="ignore", over="ignore"):
            a = a.astype(dtype.np_dtype)
    if a.dtype in _LOW_PRECISION:
        return a.astype(np.float32)
    return a


def long_if_integral(dt: dtypes.dtype) -> dtypes.dtype:
    """Sums and products of bool and integer tensors are int64 in PyTorch."""
    return dt if dt.is_floating_point else dtypes.int64


def truth(a: np.ndarray) -> np.ndarray:
    return a if a.dtype == np.bool_ else a != 0


# ----- primitives ---------------------------------------------------------------------------------------
def _reduce_meta(a: Tensor, *, dim: tuple, keepdim: bool, dtype: dtypes.dtype) -> Meta:
    return cached_meta(reduced_shape(a._shape, dim, keepdim), dtype)


# The kernels call ufunc.reduce rather than np.sum and friends: same loops, a third of the per-call cost on
# small tensors. An explicit dtype keeps numpy from widening small integers (and bool) on its own.
def _sum_kernel(a: np.ndarray, *, dim: tuple, keepdim: bool, dtype: dtypes.dtype) -> np.ndarray:
    x = opmath(a, dtype)
    return np.add.reduce(x, axis=dim, dtype=x.dtype, keepdims=keepdim)


def _nansum_kernel(a: np.ndarray, *, dim: tuple, keepdim: bool, dtype: dtypes.dtype) -> np.ndarray:
    x = opmath(a, dtype)
    if x.dtype.kind == "f":
        return np.nansum(x, axis=dim, keepdims=keepdim)
    return np.add.reduce(x, axis=dim, dtype=x.dtype, keepdims=keepdim)


def _prod_kernel(a: np.ndarray, *, dim: tuple, keepdim: bool, dtype: dtypes.dtype) -> np.ndarray:
    x = opmath(a, dtype)
    return np.multiply.reduce(x, axis=dim, dtype=x.dtype, keepdims=keepdim)


def _mean_meta(a: Tensor, *, dim: tuple, keepdim: bool, dtype: dtypes.dtype) -> Meta:
    if not dtype.is_floating_point:
        which = "Input" if dtype is a._dtype else "Optional"
        raise RuntimeError(
            f"mean(): could not infer output dtype. {which} dtype must be either a floating point or complex dtype. "
            f"Got: {dtype.scalar_name}"
        )
    return _reduce_meta(a, dim=dim, keepdim=keepdim, dtype=dtype)


def _mean_kernel(a: np.ndarray, *, dim: tuple, keepdim: bool, dtype: dtypes.dtype) -> np.ndarray:
    count = reduction_count(a.shape, dim)
    # An empty slice gives 0 / 0 = nan, as in PyTorch.
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.add.reduce(opmath(a, dtype), axis=dim, keepdims=keepdim) / count


def _nanmean_meta(a: Tensor, *, dim: tuple, keepdim: bool, dtype: dtypes.dtype) -> Meta:
    if not a._dtype.is_floating_point:
        raise RuntimeError(
            "nanmean(): expected input to have floating point or complex dtype but got "
            f"{a._dtype.scalar_name}"
        )
    return _mean_meta(a, dim=dim, keepdim=keepdim, dtype=dtype)


def _nanmean_kernel(a: np.ndarray, *, dim: tuple, keepdim: bool, dtype: dtypes.dtype) -> np.ndarray:
    x = opmath(a, dtype)
    present = np.sum(~np.isnan(x), axis=dim, keepdims=keepdim)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (np.nansum(x, axis=dim, keepdims=keepdim) / present).astype(x.dtype)


def _logical_meta(a: Tensor, *, dim: tuple, keepdim: bool) -> Meta:
    # PyTorch keeps uint8 for all/any of uint8 tensors (a legacy of byte masks); everything else gives bool.
    out = dtypes.uint8 if a._dtype is dtypes.uint8 else dtypes.bool
    return Meta(reduced_shape(a._shape, dim, keepdim), out)


def _all_kernel(a: np.ndarray, *, dim: tuple, keepdim: bool) -> np.ndarray:
    return np.logical_and.reduce(truth(a), axis=dim, keepdims=keepdim)


def _any_kernel(a: np.ndarray, *, dim: tuple, keepdim: bool) -> np.ndarray:
    return np.logical_or.reduce(truth(a), axis=dim, keepdims=keepdim)


def _count_nonzero_meta(a: Tensor, *, dim: tuple) -> Meta:
    return Meta(reduced_shape(a._shape, dim, False), dtypes.int64)


def _count_nonzero_kernel(a: np.ndarray, *, dim: tuple) -> np.ndarray:
    return np.add.reduce(truth(a), axis=dim, dtype=np.int64)


SUM = defop("sum", _reduce_meta, cpu=_sum_kernel, doc="Sum over dims; half types accumulate in float32.")
NANSUM = defop("nansum", _reduce_meta, cpu=_nansum_kernel, doc="Sum over dims treating NaN as zero.")
PROD = defop("prod", _reduce_meta, cpu=_prod_kernel, doc="Product over dims.")
MEAN = defop("mean", _mean_meta, cpu=_mean_kernel, doc="Arithmetic mean over dims (floating dtypes only).")
NANMEAN = defop("nanmean", _nanmean_meta, cpu=_nanmean_kernel, doc="Mean over dims ignoring NaN.")
ALL = defop("all", _logical_meta, cpu=_all_kernel, doc="True where every element over dims is non-zero.")
ANY = defop("any", _logical_meta, cpu=_any_kernel, doc="True where some element over dims is non-zero.")
COUNT_NONZERO = defop("count_nonzero", _count_nonzero_meta, cpu=_count_nonzero_kernel,
                      doc="Number of non-zero elements over dims, as int64.")


# ----- derivatives --------------------------------------------------------------------------------------
@derivative(SUM)
def _sum_backward(ctx, grad: Tensor) -> Tensor:
    return expand_reduced(grad, ctx.shape(0), ctx.attrs["dim"], ctx.attrs["keepdim"])


@derivative(NANSUM, saves=(0,))
def _nansum_backward(ctx, grad: Tensor) -> Tensor:
    # A product with the mask (not a select) as in PyTorch: an infinite gradient gives NaN at the NaNs.
    x = ctx.input(0)
    return restore_reduced(grad, x._shape, ctx.attrs["dim"], ctx.attrs["keepdim"]) * x.isnan().logical_not()


@derivative(MEAN)
def _mean_backward(ctx, grad: Tensor) -> Tensor:
    shape, dims = ctx.shape(0), ctx.attrs["dim"]
    # An empty slice has no element to hand a gradient to; dividing by 1 instead of 0 changes nothing visible.
    count = reduction_count(shape, dims) or 1
    return expand_reduced(grad / count, shape, dims, ctx.attrs["keepdim"])


@derivative(NANMEAN, saves=(0,))
def _nanmean_backward(ctx, grad: Tensor) -> Tensor:
    x, dims = ctx.input(0), ctx.attrs["dim"]
    present = x.isnan().logical_not()
    # As PyTorch's nansum / count: an all-NaN slice (count 0) gets NaN, the NaNs of other slices 0.
    return restore_reduced(grad, x._shape, dims, ctx.attrs["keepdim"]) / present.sum(dims, keepdim=True) * present


def _products_of_others(x: Tensor, d: int) -> Tensor:
    """For each element, the product of the other elements of its slice along ``d``, without dividing by it
    (so zeros are exact): the exclusive running product from the left times the one from the right."""
    from .shape import cat

    n = x._shape[d]
    ones = ones_like(x.narrow(d, 0, 1))
    before = cat([ones, x.narrow(d, 0, n - 1)], d).cumprod(d)
    after = cat([ones, x.narrow(d, 1, n - 1).flip(d)], d).cumprod(d).flip(d)
    return before * after


@derivative(PROD, saves=(0, "out"))
def _prod_backward(ctx, grad: Tensor) -> Tensor:
    x = ctx.input(0)
    if x.dim() == 0:
        return grad
    dims, keepdim = ctx.attrs["dim"], ctx.attrs["keepdim"]
    grad = restore_reduced(grad, x._shape, dims, keepdim)
    if not bool((x == 0).any()):
        return grad * (restore_reduced(ctx.out, x._shape, dims, keepdim) / x)
    # With zeros, out / x is 0 / 0 at a lone zero: use products of the other elements, as PyTorch does.
    if len(dims) == 1:
        return grad * _products_of_others(x, dims[0])
    return grad * _products_of_others(x.reshape(-1), 0).reshape(x._shape)


# ----- public functions ---------------------------------------------------------------------------------
def _sum_like(op, fn: str, input: Tensor, dim: DimArg, keepdim: bool, dtype: dtypes.dtype | None) -> Tensor:
    check_tensor(fn, input)
    check_dtype_arg(fn, dtype)
    out_dtype = dtype if dtype is not None else long_if_integral(input._dtype)
    return dispatch(op, input, dim=reduction_dims(dim, input.dim()), keepdim=bool(keepdim), dtype=out_dtype)


def sum(input: Tensor, dim: DimArg = None, keepdim: bool = False, *, dtype: dtypes.dtype | None = None) -> Tensor:
    """The sum of the elements of ``input`` over ``dim``.

    Bool and integer tensors sum in int64 unless ``dtype`` is given; float16/bfloat16 accumulate in float32.

    Args:
        input: the tensor to reduce.
        dim: a dim or a tuple of dims to reduce; None (or ``()``) reduces all of them.
        keepdim: keep the reduced dims, with size 1.
        dtype: cast ``input`` to this dtype first; the result has it.

    Example::

        >>> ember.sum(ember.tensor([[1, 2], [3, 4]]), dim=0)
        tensor([4, 6])
    """
    return _sum_like(SUM, "sum", input, dim, keepdim, dtype)


def nansum(input: Tensor, dim: DimArg = None, keepdim: bool = False, *, dtype: dtypes.dtype | None = None) -> Tensor:
    """Like :func:`sum`, with NaN counted as zero."""
    return _sum_like(NANSUM, "nansum", input, dim, keepdim, dtype)


def prod(input: Tensor, dim: int | None = None, keepdim: bool = False, *, dtype: dtypes.dtype | None = None) -> Tensor:
    """The product of the elements of ``input``, or over the single dim ``dim``.

    Bool and integer tensors multiply in int64 unless ``dtype`` is given.

    Example::

        >>> ember.tensor([[1., 2.], [3., 4.]]).prod(1)
        tensor([ 2., 12.])
    """
    if dim is None and keepdim:
        raise TypeError("prod(): keepdim=True needs an int 'dim' argument")
    if dim is not None:
        check_tensor("prod", input)
        dim = wrap_dim(dim, input.dim())
    return _sum_like(PROD, "prod", input, dim, keepdim, dtype)


def mean(input: Tensor, dim: DimArg = None, keepdim: bool = False, *, dtype: dtypes.dtype | None = None) -> Tensor:
    """The arithmetic mean of ``input`` over ``dim``; NaN for an empty slice.

    Only floating tensors have a mean, unless ``dtype`` (a floating dtype) says what to cast them to.

    Example::

        >>> ember.tensor([[1., 2.], [3., 4.]]).mean(dim=1, keepdim=True)
        tensor([[1.5000],
                [3.5000]])
    """
    check_tensor("mean", input)
    check_dtype_arg("mean", dtype)
    out_dtype = input._dtype if dtype is None else dtype
    return dispatch(MEAN, input, dim=reduction_dims(dim, input.dim()), keepdim=bool(keepdim), dtype=out_dtype)


def nanmean(input: Tensor, dim: DimArg = None, keepdim: bool = False, *, dtype: dtypes.dtype | None = None) -> Tensor:
    """The mean of the non-NaN elements of ``input`` over ``dim``; NaN where all of them are NaN."""
    check_tensor("nanmean", input)
    check_dtype_arg("nanmean", dtype)
    out_dtype = input._dtype if dtype is None else dtype
    return dispatch(NANMEAN, input, dim=reduction_dims(dim, input.dim()), keepdim=bool(keepdim), dtype=out_dtype)


def all(input: Tensor, dim: DimArg = None, keepdim: bool = False) -> Tensor:
    """Whether every element of ``input`` over ``dim`` is non-zero (True for an empty slice).

    The result is bool, or uint8 for a uint8 input as in PyTorch. ``dim=()`` reduces nothing.
    """
    check_tensor("all", input)
    dims = reduction_dims(dim, input.dim(), empty_means_all=False)
    return dispatch(ALL, input, dim=dims, keepdim=bool(keepdim))


def any(input: Tensor, dim: DimArg = None, keepdim: bool = False) -> Tensor:
    """Whether some element of ``input`` over ``dim`` is non-zero (False for an empty slice).

    The result is bool, or uint8 for a uint8 input as in PyTorch. ``dim=()`` reduces nothing.
    """
    check_tensor("any", input)
    dims = reduction_dims(dim, input.dim(), empty_means_all=False)
    return dispatch(ANY, input, dim=dims, keepdim=bool(keepdim))


def count_nonzero(input: Tensor, dim: DimArg = None) -> Tensor:
    """The number of non-zero elements of ``input`` over ``dim`` (all dims when None), as int64."""
    check_tensor("count_nonzero", input)
    return dispatch(COUNT_NONZERO, input, dim=reduction_dims(dim, input.dim()))


__all__ = ["sum", "nansum", "prod", "mean", "nanmean", "all", "any", "count_nonzero"]

register_methods(sum=sum, nansum=nansum, prod=prod, mean=mean, nanmean=nanmean, all=all, any=any,
                 count_nonzero=count_nonzero)
