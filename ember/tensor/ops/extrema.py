"""Extreme values and where they are: amax, amin, max, min, argmax, argmin, aminmax.

PyTorch's rules kept here: NaN propagates (it counts as the extreme value, and its index is the first
NaN's); ties resolve to the first occurrence; reductions without an identity refuse empty slices;
``max(input, dim)`` returns a named tuple ``(values, indices)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from .. import dtypes
from ..dispatch import dispatch
from ..registry import Meta, defop, derivative
from ..shape_rules import wrap_dim
from ..tensor import Tensor, register_methods
from .reduction import check_nonempty, check_tensor, opmath, reduced_shape, reduction_dims, restore_reduced


class MaxResult(NamedTuple):
    """What ``max(input, dim)`` returns, like ``torch.return_types.max``."""

    values: Tensor
    indices: Tensor


class MinResult(NamedTuple):
    """What ``min(input, dim)`` returns, like ``torch.return_types.min``."""

    values: Tensor
    indices: Tensor


class AminmaxResult(NamedTuple):
    """What ``aminmax`` returns, like ``torch.return_types.aminmax``."""

    min: Tensor
    max: Tensor


# ----- primitives ---------------------------------------------------------------------------------------
def _amax_meta(a: Tensor, *, dim: tuple, keepdim: bool) -> Meta:
    check_nonempty("amax", a, dim, full=False)
    return Meta(reduced_shape(a._shape, dim, keepdim), a._dtype)


def _amin_meta(a: Tensor, *, dim: tuple, keepdim: bool) -> Meta:
    check_nonempty("amin", a, dim, full=False)
    return Meta(reduced_shape(a._shape, dim, keepdim), a._dtype)


def _amax_kernel(a: np.ndarray, *, dim: tuple, keepdim: bool) -> np.ndarray:
    return np.maximum.reduce(opmath(a), axis=dim, keepdims=keepdim)


def _amin_kernel(a: np.ndarray, *, dim: tuple, keepdim: bool) -> np.ndarray:
    return np.minimum.reduce(opmath(a), axis=dim, keepdims=keepdim)


def _with_index_meta(fn: str):
    def infer(a: Tensor, *, dim: int, keepdim: bool) -> tuple[Meta, Meta]:
        dims = (dim,) if a.dim() else ()
        check_nonempty(fn, a, dims, full=False)
        shape = reduced_shape(a._shape, dims, keepdim)
        return Meta(shape, a._dtype), Meta(shape, dtypes.int64)

    return infer


def _with_index_kernel(find):
    def kernel(a: np.ndarray, *, dim: int, keepdim: bool) -> tuple[np.ndarray, np.ndarray]:
        if a.ndim == 0:
            return a.copy(), np.zeros((), np.int64)
        # numpy's argmax/argmin return the first extreme, and the first NaN when there is one: PyTorch's rule.
        indices = find(opmath(a), axis=dim, keepdims=True)
        values = np.take_along_axis(a, indices, axis=dim)
        if not keepdim:
            values, indices = values.squeeze(dim), indices.squeeze(dim)
        return values, indices

    return kernel


def _arg_meta(fn: str):
    def infer(a: Tensor, *, dim: int | None, keepdim: bool) -> Meta:
        if a._dtype is dtypes.bool:
            raise RuntimeError(f"{fn}(): does not support bool input")
        if dim is None:
            if a.numel() == 0:
                raise IndexError(f"{fn}(): Expected reduction dim to be specified for input.numel() == 0.")
            return Meta((1,) * a.dim() if keepdim else (), dtypes.int64)
        dims = (dim,) if a.dim() else ()
        check_nonempty(fn, a, dims, full=False)
        return Meta(reduced_shape(a._shape, dims, keepdim), dtypes.int64)

    return infer


def _arg_kernel(find):
    def kernel(a: np.ndarray, *, dim: int | None, keepdim: bool) -> np.ndarray:
        if dim is None or a.ndim == 0:
            # The index into the row-major flattening, as PyTorch gives it.
            return np.full((1,) * a.ndim if keepdim else (), find(opmath(a)), dtype=np.int64)
        return find(opmath(a), axis=dim, keepdims=keepdim)

    return kernel


AMAX = defop("amax", _amax_meta, cpu=_amax_kernel, doc="Maximum over dims; NaN propagates.")
AMIN = defop("amin", _amin_meta, cpu=_amin_kernel, doc="Minimum over dims; NaN propagates.")
MAX_DIM = defop("max_dim", _with_index_meta("max"), cpu=_with_index_kernel(np.argmax),
                doc="(values, indices) of the maximum along one dim; first occurrence, NaN propagates.")
MIN_DIM = defop("min_dim", _with_index_meta("min"), cpu=_with_index_kernel(np.argmin),
                doc="(values, indices) of the minimum along one dim; first occurrence, NaN propagates.")
ARGMAX = defop("argmax", _arg_meta("argmax"), cpu=_arg_kernel(np.argmax),
               doc="Index of the maximum along a dim, or into the flattened tensor when dim is None.")
ARGMIN = defop("argmin", _arg_meta("argmin"), cpu=_arg_kernel(np.argmin),
               doc="Index of the minimum along a dim, or into the flattened tensor when dim is None.")


# ----- derivatives --------------------------------------------------------------------------------------
def _extreme_backward(ctx, grad: Tensor) -> Tensor:
    """The gradient goes to the elements equal to the extreme value, split evenly among ties (PyTorch's rule).

    A NaN extreme counts the slice's NaNs as its ties, as PyTorch's full ``max()``/``min()`` do (its ``amax``
    gives NaN to the whole slice instead; both primitives are one op here).
    """
    x, dims, keepdim = ctx.input(0), ctx.attrs["dim"], ctx.attrs["keepdim"]
    value = restore_reduced(ctx.out, x._shape, dims, keepdim)
    ties = (x == value).logical_or(x.isnan().logical_and(value.isnan()))
    share = restore_reduced(grad, x._shape, dims, keepdim) / ties.sum(dims, keepdim=True)
    return share * ties


def _selected_backward(ctx, grad: Tensor, _indices_grad: None) -> Tensor:
    """The values of ``max(input, dim)``/``min(input, dim)`` send their gradient to the selected index only."""
    shape = ctx.shape(0)
    if not shape:
        return grad
    d, indices = ctx.attrs["dim"], ctx.output(1)
    if not ctx.attrs["keepdim"]:
        grad, indices = grad.unsqueeze(d), indices.unsqueeze(d)
    return grad.new_zeros(shape).scatter(d, indices, grad)


derivative(AMAX, saves=(0, "out"))(_extreme_backward)
derivative(AMIN, saves=(0, "out"))(_extreme_backward)
derivative(MAX_DIM, saves=("out",))(_selected_backward)
derivative(MIN_DIM, saves=("out",))(_selected_backward)


# ----- public functions ---------------------------------------------------------------------------------
def _all_dims(dim: object) -> bool:
    """Whether ``dim`` asks for a full reduction (PyTorch words the empty-input error differently then)."""
    return dim is None or isinstance(dim, list | tuple) and len(dim) == 0


def amax(input: Tensor, dim: int | Sequence[int] = (), keepdim: bool = False) -> Tensor:
    """The maximum of ``input`` over ``dim`` (all dims when ``()`` or None); NaN if the slice holds one.

    Example::

        >>> ember.tensor([[1., 5.], [7., 2.]]).amax(dim=1)
        tensor([5., 7.])
    """
    check_tensor("amax", input)
    dims = reduction_dims(dim, input.dim())
    check_nonempty("amax", input, dims, full=_all_dims(dim))
    return dispatch(AMAX, input, dim=dims, keepdim=bool(keepdim))


def amin(input: Tensor, dim: int | Sequence[int] = (), keepdim: bool = False) -> Tensor:
    """The minimum of ``input`` over ``dim`` (all dims when ``()`` or None); NaN if the slice holds one."""
    check_tensor("amin", input)
    dims = reduction_dims(dim, input.dim())
    check_nonempty("amin", input, dims, full=_all_dims(dim))
    return dispatch(AMIN, input, dim=dims, keepdim=bool(keepdim))


def _extreme(fn: str, full_op, dim_op, result_type, pairwise, input, dim, keepdim, other):
    """The three overloads of max/min: full reduction, (values, indices) along a dim, element-wise."""
    check_tensor(fn, input)
    if isinstance(dim, Tensor):
        dim, other = None, dim
    if other is not None:
        if dim is not None or keepdim:
            raise TypeError(f"{fn}(): takes either a tensor 'other' or an int 'dim' with 'keepdim', not both")
        return pairwise(input, other)
    if dim is None:
        if keepdim:
            raise TypeError(f"{fn}(): keepdim=True needs an int 'dim' argument")
        check_nonempty(fn, input, (), full=True)
        return dispatch(full_op, input, dim=tuple(range(input.dim())), keepdim=False)
    if isinstance(dim, list | tuple):
        raise TypeError(f"{fn}(): argument 'dim' must be int, not {type(dim).__name__}")
    return result_type(*dispatch(dim_op, input, dim=wrap_dim(dim, input.dim()), keepdim=bool(keepdim)))


def _maximum(input: Tensor, other: Tensor) -> Tensor:
    from .arithmetic import maximum

    return maximum(input, other)


def _minimum(input: Tensor, other: Tensor) -> Tensor:
    from .arithmetic import minimum

    return minimum(input, other)


def max(
    input: Tensor, dim: int | Tensor | None = None, keepdim: bool = False, *, other: Tensor | None = None
) -> Tensor | MaxResult:
    """The largest element, the largest along a dim with its index, or the element-wise maximum.

    * ``max(input)``: a 0-d tensor; NaN if ``input`` holds one.
    * ``max(input, dim, keepdim=False)``: ``(values, indices)`` along ``dim``; the index of the first
      maximum (or of the first NaN).
    * ``max(input, other)``: :func:`maximum` of the two tensors.

    Example::

        >>> ember.tensor([[1., 5.], [7., 2.]]).max(dim=1)
        MaxResult(values=tensor([5., 7.]), indices=tensor([1, 0]))
    """
    return _extreme("max", AMAX, MAX_DIM, MaxResult, _maximum, input, dim, keepdim, other)


def min(
    input: Tensor, dim: int | Tensor | None = None, keepdim: bool = False, *, other: Tensor | None = None
) -> Tensor | MinResult:
    """The smallest element, the smallest along a dim with its index, or the element-wise minimum.

    The overloads mirror :func:`max`: ``min(input)``, ``min(input, dim, keepdim=False)`` returning
    ``(values, indices)``, and ``min(input, other)``.
    """
    return _extreme("min", AMIN, MIN_DIM, MinResult, _minimum, input, dim, keepdim, other)


def _arg(fn: str, op, input: Tensor, dim: int | None, keepdim: bool) -> Tensor:
    check_tensor(fn, input)
    if dim is not None:
        if isinstance(dim, bool | float) or not hasattr(dim, "__index__"):
            raise TypeError(f"{fn}(): argument 'dim' (position 1) must be int, not {type(dim).__name__}")
        dim = wrap_dim(dim, input.dim())
    return dispatch(op, input, dim=dim, keepdim=bool(keepdim))


def argmax(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """The index of the largest element along ``dim``, or into the flattened tensor when ``dim`` is None.

    Ties give the first occurrence; a NaN counts as the largest.

    Example::

        >>> ember.tensor([[1., 5.], [7., 2.]]).argmax()
        tensor(2)
    """
    return _arg("argmax", ARGMAX, input, dim, keepdim)


def argmin(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """The index of the smallest element along ``dim``, or into the flattened tensor when ``dim`` is None."""
    return _arg("argmin", ARGMIN, input, dim, keepdim)


def aminmax(input: Tensor, *, dim: int | None = None, keepdim: bool = False) -> AminmaxResult:
    """``(min, max)`` of ``input``, over all elements or along ``dim``."""
    check_tensor("aminmax", input)
    if dim is None:
        if input.numel() == 0:
            raise RuntimeError(
                "aminmax(): cannot compute aminmax over an empty dimension as the operation has no identity."
            )
        dims = tuple(range(input.dim()))
    else:
        d = wrap_dim(dim, input.dim())
        dims = (d,) if input.dim() else ()
        if dims and input._shape[dims[0]] == 0:
            raise IndexError(f"aminmax: Expected reduction dim {dims[0]} to have non-zero size.")
    keepdim = bool(keepdim)
    return AminmaxResult(dispatch(AMIN, input, dim=dims, keepdim=keepdim),
                         dispatch(AMAX, input, dim=dims, keepdim=keepdim))


__all__ = ["amax", "amin", "max", "min", "argmax", "argmin", "aminmax"]

register_methods(amax=amax, amin=amin, max=max, min=min, argmax=argmax, argmin=argmin, aminmax=aminmax)
