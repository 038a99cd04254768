"""Sorting and selection: sort, argsort, msort, topk, kthvalue, unique.

Ordering follows PyTorch: NaN counts as larger than every number (last ascending, first descending), and
sorts are stable, so equal elements keep their input order, as ``stable=True`` promises in PyTorch (its
CPU sort is stable either way). float16/bfloat16 are ordered through float32, which holds them exactly.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .. import dtypes
from ..dispatch import dispatch
from ..registry import Meta, defop, derivative
from ..shape_rules import wrap_dim
from ..tensor import Tensor, register_methods
from .indexing import BASIC_INDEX, FULL_SLICE, HALF_NP_DTYPES


class SortResult(NamedTuple):
    """What ``sort`` returns, like ``torch.return_types.sort``."""

    values: Tensor
    indices: Tensor


class TopkResult(NamedTuple):
    """What ``topk`` returns, like ``torch.return_types.topk``."""

    values: Tensor
    indices: Tensor


class KthvalueResult(NamedTuple):
    """What ``kthvalue`` returns, like ``torch.return_types.kthvalue``."""

    values: Tensor
    indices: Tensor


def _orderable(a: np.ndarray) -> np.ndarray:
    return a.astype(np.float32) if a.dtype in HALF_NP_DTYPES else a


def _stable_order(a: np.ndarray, dim: int, descending: bool) -> np.ndarray:
    """Stable argsort along ``dim``; descending keeps equal elements in input order (not reversed)."""
    keys = _orderable(a)
    if not descending:
        return np.argsort(keys, axis=dim, kind="stable")
    # Sorting the reversed input ascending and reversing the result puts the largest first while ties
    # come out in input order.
    reversed_order = np.argsort(np.flip(keys, axis=dim), axis=dim, kind="stable")
    return (a.shape[dim] - 1) - np.flip(reversed_order, axis=dim)


# ----- sort ----------------------------------------------------------------------------------------------
def _sort_meta(input: Tensor, dim: int, descending: bool) -> tuple[Meta, Meta]:
    return Meta(input._shape, input._dtype), Meta(input._shape, dtypes.int64)


def _sort_kernel(a: np.ndarray, dim: int, descending: bool) -> tuple[np.ndarray, np.ndarray]:
    if a.ndim == 0:
        return a.copy(), np.zeros((), dtype=np.int64)
    order = _stable_order(a, dim, descending)
    return np.take_along_axis(a, order, axis=dim), order.astype(np.int64, copy=False)


SORT = defop("sort", _sort_meta, cpu=_sort_kernel,
             doc="Values sorted along dim (stable; NaN largest) and the int64 positions they came from.")


def _selected_backward(ctx: Any, grad: Tensor, _indices_grad: None) -> Tensor:
    """sort and topk: each value's gradient goes back to the position it came from (zeros elsewhere). Only the
    indices output is read, so changing the values in place afterwards is allowed, as in PyTorch."""
    from ..creation import zeros
    from .gather_scatter import scatter

    out = zeros(ctx.shape(0), dtype=grad._dtype, device=grad.device)
    return scatter(out, ctx.attrs["dim"], ctx.output(1), grad)


derivative(SORT, saves=("out",))(_selected_backward)


def sort(input: Tensor, dim: int = -1, descending: bool = False, *, stable: bool | None = False) -> SortResult:
    """Sort ``input`` along ``dim``; returns ``(values, indices)`` with ``input[indices] == values`` along dim.

    Args:
        input: the tensor to sort.
        dim: the dim to sort along (default the last).
        descending: largest first when True.
        stable: keep equal elements in input order. ember's sort is always stable.

    Example::

        >>> ember.sort(ember.tensor([3., 1., 2.]))
        SortResult(values=tensor([1., 2., 3.]), indices=tensor([1, 2, 0]))
    """
    dim = wrap_dim(dim, input.ndim)
    values, indices = dispatch(SORT, input, dim=dim, descending=bool(descending))
    return SortResult(values, indices)


def argsort(input: Tensor, dim: int = -1, descending: bool = False, *, stable: bool = False) -> Tensor:
    """The int64 positions that sort ``input`` along ``dim`` (``sort(...).indices``)."""
    return sort(input, dim, descending, stable=stable).indices


def msort(input: Tensor) -> Tensor:
    """``input`` sorted along its first dim (``sort(input, dim=0).values``)."""
    return sort(input, 0).values


# ----- topk ----------------------------------------------------------------------------------------------
def _topk_meta(input: Tensor, k: int, dim: int, largest: bool) -> tuple[Meta, Meta]:
    if input._dtype is dtypes.bool:
        raise RuntimeError("topk does not support bool dtypes on CPU")
    size = input._shape[dim] if input._shape else 1
    if not 0 <= k <= size:
        raise RuntimeError("selected index k out of range")
    shape = input._shape[:dim] + (k,) + input._shape[dim + 1 :] if input._shape else ()
    return Meta(shape, input._dtype), Meta(shape, dtypes.int64)


def _topk_kernel(a: np.ndarray, k: int, dim: int, largest: bool) -> tuple[np.ndarray, np.ndarray]:
    if a.ndim == 0:
        return a.copy(), np.zeros((), dtype=np.int64)
    order = np.take(_stable_order(a, dim, largest), np.arange(k), axis=dim)
    return np.take_along_axis(a, order, axis=dim), order.astype(np.int64, copy=False)


TOPK = defop("topk", _topk_meta, cpu=_topk_kernel,
             doc="The k largest (or smallest) values along dim, in order, and their int64 positions.")
derivative(TOPK, saves=("out",))(_selected_backward)


def topk(input: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> TopkResult:
    """The ``k`` largest (``largest=False``: smallest) entries of ``input`` along ``dim`` and their positions.

    The values come out ordered (largest first) even with ``sorted=False``. Which of several equal values is
    picked follows input order here; PyTorch leaves it unspecified.

    Example::

        >>> ember.topk(ember.tensor([1., 5., 3.]), 2)
        TopkResult(values=tensor([5., 3.]), indices=tensor([1, 2]))
    """
    if isinstance(k, bool) or not isinstance(k, int):
        raise TypeError(f"topk(): argument 'k' (position 2) must be int, not {type(k).__name__}")
    dim = wrap_dim(dim, input.ndim)
    values, indices = dispatch(TOPK, input, k=k, dim=dim, largest=bool(largest))
    return TopkResult(values, indices)


def kthvalue(input: Tensor, k: int, dim: int = -1, keepdim: bool = False) -> KthvalueResult:
    """The ``k``-th smallest entry (1-based) of ``input`` along ``dim`` and its position.

    Example::

        >>> ember.kthvalue(ember.tensor([4., 1., 3.]), 2)
        KthvalueResult(values=tensor(3.), indices=tensor(2))
    """
    from .copy import clone

    if isinstance(k, bool) or not isinstance(k, int):
        raise TypeError(f"kthvalue(): argument 'k' (position 2) must be int, not {type(k).__name__}")
    dim = wrap_dim(dim, input.ndim)
    if input._dtype is dtypes.bool:
        raise NotImplementedError('"kthvalue_cpu" not implemented for \'Bool\'')
    size = input._shape[dim] if input._shape else 1
    if size == 0:
        raise IndexError(f"kthvalue(): Expected reduction dim {dim} to have non-zero size.")
    if not 1 <= k <= size:
        raise RuntimeError(f"kthvalue(): selected number k out of range for dimension {dim}")
    values, indices = dispatch(SORT, input, dim=dim, descending=False)
    if input._shape:
        pick = (k - 1, k, 1) if keepdim else k - 1
        spec = (FULL_SLICE,) * dim + (pick,)
        values, indices = (dispatch(BASIC_INDEX, t, spec=spec) for t in (values, indices))
    return KthvalueResult(clone(values), clone(indices))


# ----- unique --------------------------------------------------------------------------------------------
def _unique_meta(input: Tensor, return_inverse: bool, return_counts: bool, dim: int | None) -> tuple[Meta, ...]:
    metas = [Meta(None, input._dtype)]
    if return_inverse:
        metas.append(Meta(input._shape if dim is None else (input._shape[dim],), dtypes.int64))
    if return_counts:
        metas.append(Meta(None, dtypes.int64))
    return tuple(metas)


def _unique_kernel(a: np.ndarray, return_inverse: bool, return_counts: bool, dim: int | None) -> tuple:
    keys = _orderable(a)
    if dim is None:
        # NaNs stay distinct, as PyTorch keeps them.
        values, inverse, counts = np.unique(keys.reshape(-1), return_inverse=True, return_counts=True,
                                            equal_nan=False)
        inverse = inverse.reshape(a.shape)
    elif a.shape[dim] == 0:
        values, inverse, counts = np.array(keys), np.zeros(0, np.int64), np.zeros(0, np.int64)
    else:
        values, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True, axis=dim)
        inverse = inverse.reshape(-1)
    outputs = [values]
    if return_inverse:
        outputs.append(inverse.astype(np.int64))
    if return_counts:
        outputs.append(counts.astype(np.int64))
    return tuple(outputs)


UNIQUE = defop("unique", _unique_meta, cpu=_unique_kernel,
               doc="The sorted distinct values (or slices along dim), with optional inverse indices and counts.")


def unique(input: Tensor, sorted: bool = True, return_inverse: bool = False, return_counts: bool = False,
           dim: int | None = None) -> Tensor | tuple[Tensor, ...]:
    """The distinct elements of ``input`` in ascending order (slices along ``dim`` when given).

    Args:
        sorted: accepted for compatibility; the result is always sorted, as PyTorch's CPU ``unique`` is.
        return_inverse: also return, for each input element (slice), the position of its value in the result.
        return_counts: also return how many times each distinct value occurs.

    Example::

        >>> ember.unique(ember.tensor([3, 1, 3]), return_counts=True)
        (tensor([1, 3]), tensor([1, 2]))
    """
    if dim is not None:
        if not input._shape:
            raise IndexError(f"Dimension specified as {dim} but tensor has no dimensions")
        dim = wrap_dim(dim, input.ndim)
        if input._shape[dim] and not input.numel():
            raise RuntimeError("There are 0 sized dimensions, and they aren't selected, so unique cannot be applied")
    outputs = dispatch(UNIQUE, input, return_inverse=bool(return_inverse), return_counts=bool(return_counts),
                       dim=dim)
    return outputs[0] if len(outputs) == 1 else outputs


__all__ = ["sort", "argsort", "msort", "topk", "kthvalue", "unique"]

register_methods(sort=sort, argsort=argsort, msort=msort, topk=topk, kthvalue=kthvalue, unique=unique)
