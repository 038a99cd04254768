"""Index ops along a dim and masks: gather, scatter (with reductions), index_select, index_add, take,
masked_fill, masked_select, nonzero/argwhere.

Each is one out-of-place primitive; the in-place variants (``scatter_``, ``masked_fill_``...) write the result
back with ``copy_``, so autograd and the tracer see pure ops. Index values are bounds-checked in the kernels
with PyTorch's messages: a bad index raises, it never reads or writes a wrong element.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .. import dtypes
from ..dispatch import dispatch
from ..registry import Meta, defop
from ..shape_rules import broadcast_shapes, wrap_dim
from ..tensor import Tensor, register_methods
from .copy import check_writable_without_overlap, copy_
from .indexing import BASIC_INDEX, FULL_SLICE, HALF_NP_DTYPES, write_scalar

_INDEX_DTYPES = (dtypes.int64, dtypes.int32)
_SCATTER_REDUCES = ("sum", "prod", "mean", "amax", "amin")
_REDUCE_UFUNCS = {"sum": np.add, "prod": np.multiply, "mean": np.add, "amax": np.maximum, "amin": np.minimum}


def _ndim1(t: Any) -> int:
    """0-d tensors act as 1-d of size 1 in the along-dim ops, as in PyTorch."""
    return max(len(t.shape), 1)


def _work_copy(a: np.ndarray) -> np.ndarray:
    """A fresh, at-least-1-d copy to accumulate into; float16/bfloat16 widen to float32 (PyTorch's opmath)."""
    return np.array(a, dtype=np.float32 if a.dtype in HALF_NP_DTYPES else a.dtype, ndmin=1, copy=True)


def _check_range(idx: np.ndarray, size: int, dim: int) -> None:
    if idx.size and (idx.min() < 0 or idx.max() >= size):
        bad = idx.flat[np.argmax((idx < 0) | (idx >= size))]
        raise RuntimeError(f"index {bad} is out of bounds for dimension {dim} with size {size}")


def _along_dim_key(idx: np.ndarray, dim: int) -> tuple:
    """The NumPy index that pairs every element of ``idx`` with its own coordinates, ``idx`` replacing ``dim``."""
    key = list(np.indices(idx.shape, sparse=True))
    key[dim] = idx
    return tuple(key)


def _index_dtype_check(index: Tensor, name: str) -> None:
    if index._dtype not in _INDEX_DTYPES:
        raise RuntimeError(f"{name}(): Expected dtype int32/int64 for index")


# ----- gather ----------------------------------------------------------------------------------------------
def _gather_meta(input: Tensor, index: Tensor, dim: int) -> Meta:
    _index_dtype_check(index, "gather")
    if _ndim1(index) != _ndim1(input):
        raise RuntimeError("Index tensor must have the same number of dimensions as input tensor")
    for d, size in enumerate(index._shape):
        if d != dim and size > input._shape[d]:
            raise RuntimeError(f"Size does not match at dimension {d} expected index {list(index._shape)} to be no "
                               f"larger than self {list(input._shape)} apart from dimension {dim}")
    return Meta(index._shape, input._dtype)


def _gather_kernel(a: np.ndarray, idx: np.ndarray, dim: int) -> np.ndarray:
    a1, idx1 = a.reshape(a.shape or (1,)), idx.reshape(idx.shape or (1,))
    _check_range(idx1, a1.shape[dim], dim)
    return a1[_along_dim_key(idx1, dim)].reshape(idx.shape)


GATHER = defop("gather", _gather_meta, cpu=_gather_kernel, doc="out[i][j] = input[i][index[i][j]] (for dim=1).")


def gather(input: Tensor, dim: int, index: Tensor, *, sparse_grad: bool = False) -> Tensor:
    """Values of ``input`` picked along ``dim`` by ``index`` (int64/int32, same number of dims as ``input``).

    Shape: the result has ``index``'s shape; ``index.size(d) <= input.size(d)`` for ``d != dim``.

    Example::

        >>> ember.gather(ember.tensor([[1, 2], [3, 4]]), 1, ember.tensor([[0, 0], [1, 0]]))
        tensor([[1, 1],
                [4, 3]])
    """
    return dispatch(GATHER, input, index, dim=wrap_dim(dim, input.ndim))


# ----- scatter family ----------------------------------------------------------------------------------
def _scatter_meta(input: Tensor, index: Tensor, src: Tensor | None = None, *, dim: int, reduce: str | None,
                  include_self: bool = True, value: Any = None) -> Meta:
    _index_dtype_check(index, "scatter")
    if src is not None:
        if src.ndim:
            wrap_dim(dim, src.ndim)
        if src._dtype is not input._dtype:
            raise RuntimeError("scatter(): Expected self.dtype to be equal to src.dtype")
    if _ndim1(index) != _ndim1(input):
        raise RuntimeError("Index tensor must have the same number of dimensions as self tensor")
    if src is not None and _ndim1(index) != _ndim1(src):
        raise RuntimeError("Index tensor must have the same number of dimensions as src tensor")
    if index.numel():
        too_big_self = any(d != dim and s > input._shape[d] for d, s in enumerate(index._shape))
        too_big_src = src is not None and any(s > src._shape[d] for d, s in enumerate(index._shape))
        if too_big_self or too_big_src:
            message = (f"Expected index {list(index._shape)} to be no larger than self {list(input._shape)} apart "
                       f"from dimension {dim}")
            if src is not None:
                message += f" and to be no larger size than src {list(src._shape)}"
            raise RuntimeError(message)
    return Meta(input._shape, input._dtype)


def _scatter_kernel(a: np.ndarray, idx: np.ndarray, src: np.ndarray | None = None, *, dim: int,
                    reduce: str | None, include_self: bool = True, value: Any = None) -> np.ndarray:
    out = _work_copy(a)
    idx = idx.reshape(idx.shape or (1,))
    if idx.size == 0:
        return out.reshape(a.shape)
    _check_range(idx, out.shape[dim], dim)
    key = _along_dim_key(idx, dim)
    if src is None:
        values = np.asarray(value, dtype=out.dtype)
    else:
        values = src.reshape(src.shape or (1,))[tuple(slice(0, n) for n in idx.shape)].astype(out.dtype)
    if reduce is None:
        out[key] = values
        return out.reshape(a.shape)
    if not include_self:
        out[key] = _reduce_identity(reduce, out.dtype)
    _REDUCE_UFUNCS[reduce].at(out, key, values)
    if reduce == "mean":
        counts = np.full(out.shape, 1 if include_self else 0, dtype=np.int64)
        np.add.at(counts, key, 1)
        counts = np.maximum(counts, 1)
        out = out / counts if out.dtype.kind == "f" else out // counts
    return out.reshape(a.shape)


def _reduce_identity(reduce: str, dt: np.dtype) -> Any:
    if reduce in ("sum", "mean"):
        return 0
    if reduce == "prod":
        return 1
    if dt.kind == "f":
        return -np.inf if reduce == "amax" else np.inf
    info = np.iinfo(dt) if dt.kind in "iu" else None
    if info is None:
        return reduce == "amin"
    return info.min if reduce == "amax" else info.max


SCATTER = defop("scatter", _scatter_meta, cpu=_scatter_kernel,
                doc="A copy of input with src (or a scalar value) written or reduced at index along dim.")


def _scatter(input: Tensor, dim: int, index: Tensor, src: Any, reduce: str | None, include_self: bool = True):
    dim = wrap_dim(dim, input.ndim)
    if isinstance(src, Tensor):
        return dispatch(SCATTER, input, index, src, dim=dim, reduce=reduce, include_self=include_self)
    if not isinstance(src, bool | int | float | np.bool_ | np.integer | np.floating):
        raise TypeError(f"scatter(): argument 'src' must be Tensor or Number, not {type(src).__name__}")
    return dispatch(SCATTER, input, index, dim=dim, reduce=reduce, include_self=include_self,
                    value=write_scalar(src, input._dtype))


_LEGACY_REDUCES = {None: None, "add": "sum", "multiply": "prod"}


def scatter(input: Tensor, dim: int, index: Tensor, src: Tensor | float | None = None, *,
            value: float | None = None, reduce: str | None = None) -> Tensor:
    """A copy of ``input`` with ``src`` (a tensor, or a number given as ``src`` or ``value``) written at
    ``index`` along ``dim``: ``out[i][index[i][j]] = src[i][j]`` for ``dim=1``. ``reduce`` is ``'add'`` or
    ``'multiply'`` to combine instead of overwrite. Which of several writes to one place wins is unspecified.

    Example::

        >>> ember.scatter(ember.zeros(2, 3), 1, ember.tensor([[2], [0]]), 1.0)
        tensor([[0., 0., 1.],
                [1., 0., 0.]])
    """
    if src is None:
        if value is None:
            raise TypeError("scatter() missing required argument 'src' or 'value'")
        src = value
    if reduce not in _LEGACY_REDUCES:
        raise RuntimeError("reduce argument must be either add or multiply.")
    if reduce is not None and isinstance(src, Tensor):
        warnings.warn("The reduce argument of ember.scatter with Tensor src is deprecated and will be removed in a "
                      "future release. Use ember.scatter_reduce instead for more reduction options.",
                      UserWarning, stacklevel=2)
    return _scatter(input, dim, index, src, _LEGACY_REDUCES[reduce])


def scatter_(input: Tensor, dim: int, index: Tensor, src: Tensor | float | None = None, *,
             value: float | None = None, reduce: str | None = None) -> Tensor:
    """In-place :func:`scatter`."""
    return copy_(input, scatter(input, dim, index, src, value=value, reduce=reduce))


def scatter_add(input: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    """A copy of ``input`` with ``src`` added at ``index`` along ``dim``; repeated indices accumulate."""
    if not isinstance(src, Tensor):
        raise TypeError(f"scatter_add(): argument 'src' (position 4) must be Tensor, not {type(src).__name__}")
    return _scatter(input, dim, index, src, "sum")


def scatter_add_(input: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    """In-place :func:`scatter_add`."""
    return copy_(input, scatter_add(input, dim, index, src))


def scatter_reduce(input: Tensor, dim: int, index: Tensor, src: Tensor, reduce: str, *,
                   include_self: bool = True) -> Tensor:
    """A copy of ``input`` where ``src`` is reduced (``'sum'``, ``'prod'``, ``'mean'``, ``'amax'``, ``'amin'``)
    into the places ``index`` names along ``dim``; ``include_self=False`` leaves the old values out of it."""
    if reduce not in _SCATTER_REDUCES:
        raise RuntimeError(f"reduce argument must be either sum, prod, mean, amax or amin, got {reduce}")
    if not isinstance(src, Tensor):
        raise TypeError(f"scatter_reduce(): argument 'src' (position 4) must be Tensor, not {type(src).__name__}")
    return _scatter(input, dim, index, src, reduce, bool(include_self))


def scatter_reduce_(input: Tensor, dim: int, index: Tensor, src: Tensor, reduce: str, *,
                    include_self: bool = True) -> Tensor:
    """In-place :func:`scatter_reduce`."""
    return copy_(input, scatter_reduce(input, dim, index, src, reduce, include_self=include_self))


# ----- index_select and index_add ----------------------------------------------------------------------
def _index_select_meta(input: Tensor, index: Tensor, dim: int) -> Meta:
    if index._dtype not in _INDEX_DTYPES:
        raise RuntimeError("index_select(): Expected dtype int32 or int64 for index")
    if index.ndim > 1:
        raise IndexError("index_select(): Index is supposed to be a vector")
    n = index.numel()
    if not input._shape:
        if n != 1:
            raise RuntimeError(f"index_select(): Index to scalar can have only 1 value, got {n} value(s)")
        return Meta((), input._dtype)
    if n and input._shape[dim] == 0:
        raise RuntimeError("index_select(): self indexing axis dim should be positive")
    return Meta(input._shape[:dim] + (n,) + input._shape[dim + 1 :], input._dtype)


def _index_select_kernel(a: np.ndarray, idx: np.ndarray, dim: int) -> np.ndarray:
    idx = idx.reshape(-1)
    size = a.shape[dim] if a.ndim else 1
    if idx.size and (idx.min() < 0 or idx.max() >= size):
        raise IndexError("index out of range in self")
    return np.take(a, idx, axis=dim) if a.ndim else a.copy()


INDEX_SELECT = defop("index_select", _index_select_meta, cpu=_index_select_kernel,
                     doc="The slices of input along dim named by a 1-D index.")


def index_select(input: Tensor, dim: int, index: Tensor) -> Tensor:
    """The entries of ``input`` along ``dim`` at the positions in the 1-D ``index`` (int64/int32), in order.

    Example::

        >>> ember.index_select(ember.tensor([[1, 2], [3, 4], [5, 6]]), 0, ember.tensor([2, 0]))
        tensor([[5, 6],
                [1, 2]])
    """
    return dispatch(INDEX_SELECT, input, index, dim=wrap_dim(dim, input.ndim))


def _index_add_meta(input: Tensor, index: Tensor, source: Tensor, dim: int, alpha: Any) -> Meta:
    if index._dtype not in _INDEX_DTYPES:
        raise RuntimeError(f"index_add_(): Expected dtype int32/int64 for index but got: "
                           f"{index._dtype.scalar_name}")
    if index.ndim > 1:
        raise IndexError(f"index_add_(): Index is supposed to be a vector, but got dim: {index.ndim} with type: "
                         f"{index._dtype.scalar_name} and size: {list(index._shape)}")
    if source._dtype is not input._dtype:
        raise RuntimeError(f"index_add_(): self ({input._dtype.scalar_name}) and source "
                           f"({source._dtype.scalar_name}) must have the same scalar type")
    n = index.numel()
    source_len = source._shape[dim] if source._shape else 1
    if n != source_len:
        raise RuntimeError(f"index_add_(): Number of indices ({n}) should be equal to source.size(dim): "
                           f"({source_len}), for dim: {dim}")
    rest = input._shape[:dim] + input._shape[dim + 1 :]
    if _ndim1(source) != _ndim1(input) or source._shape[:dim] + source._shape[dim + 1 :] != rest:
        raise RuntimeError("source tensor shape must match self tensor shape, excluding the specified dimension. "
                           f"Got self.shape = {list(input._shape)} source.shape = {list(source._shape)}")
    return Meta(input._shape, input._dtype)


def _index_add_kernel(a: np.ndarray, idx: np.ndarray, source: np.ndarray, dim: int, alpha: Any) -> np.ndarray:
    out = _work_copy(a)
    idx = idx.reshape(-1)
    _check_range(idx, out.shape[dim], dim)
    values = source.reshape(source.shape or (1,)).astype(out.dtype)
    if alpha != 1:
        values = values * np.asarray(alpha, dtype=out.dtype)
    np.add.at(out, (slice(None),) * dim + (idx,), values)
    return out.reshape(a.shape)


INDEX_ADD = defop("index_add", _index_add_meta, cpu=_index_add_kernel,
                  doc="A copy of input with alpha * source added at the positions index names along dim.")


def index_add(input: Tensor, dim: int, index: Tensor, source: Tensor, *, alpha: float = 1) -> Tensor:
    """A copy of ``input`` with ``alpha * source`` added along ``dim`` at the positions in the 1-D ``index``;
    repeated positions accumulate.

    Example::

        >>> ember.index_add(ember.zeros(3), 0, ember.tensor([0, 0, 2]), ember.tensor([1., 2., 3.]))
        tensor([3., 0., 3.])
    """
    return dispatch(INDEX_ADD, input, index, source, dim=wrap_dim(dim, input.ndim),
                    alpha=write_scalar(alpha, input._dtype))


def index_add_(input: Tensor, dim: int, index: Tensor, source: Tensor, *, alpha: float = 1) -> Tensor:
    """In-place :func:`index_add`."""
    return copy_(input, index_add(input, dim, index, source, alpha=alpha))


# ----- take ----------------------------------------------------------------------------------------------
def _take_meta(input: Tensor, index: Tensor) -> Meta:
    if index._dtype is not dtypes.int64:
        raise RuntimeError(f"take(): Expected a long tensor for index, but got {index._dtype.scalar_name}")
    return Meta(index._shape, input._dtype)


def _take_kernel(a: np.ndarray, idx: np.ndarray) -> np.ndarray:
    n = a.size
    if idx.size and n == 0:
        raise IndexError("take(): tried to take from an empty tensor")
    if idx.size and (idx.min() < -n or idx.max() >= n):
        bad = idx.flat[np.argmax((idx < -n) | (idx >= n))]
        raise IndexError(f"out of range: tried to access index {bad} on a tensor of {n} elements.")
    return np.take(a.reshape(-1), idx)


TAKE = defop("take", _take_meta, cpu=_take_kernel, doc="Elements of input, read as 1-D, at index (negatives wrap).")


def take(input: Tensor, index: Tensor) -> Tensor:
    """The elements of ``input`` (read as if flattened) at the int64 ``index``; the result has ``index``'s shape."""
    return dispatch(TAKE, input, index)


# ----- masks -------------------------------------------------------------------------------------------
def _masked_fill_meta(input: Tensor, mask: Tensor, value: Any) -> Meta:
    if mask._dtype is not dtypes.bool:
        raise RuntimeError(
            f"masked_fill_ only supports boolean masks, but got mask with dtype {mask._dtype.cpp_name}")
    return Meta(broadcast_shapes(input._shape, mask._shape), input._dtype)


def _masked_fill_kernel(a: np.ndarray, mask: np.ndarray, value: Any) -> np.ndarray:
    return np.where(mask, np.asarray(value, dtype=a.dtype), a)


MASKED_FILL = defop("masked_fill", _masked_fill_meta, cpu=_masked_fill_kernel,
                    doc="input with value where mask is True (input and mask broadcast together).")


def _fill_value(value: Any, dt: dtypes.dtype) -> bool | int | float:
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise RuntimeError("masked_fill_ only supports a 0-dimensional value tensor, but got tensor with "
                               f"{value.ndim} dimension(s).")
        value = value.item()
    if not isinstance(value, bool | int | float | np.bool_ | np.integer | np.floating):
        raise TypeError(f"masked_fill(): argument 'value' must be Number or Tensor, not {type(value).__name__}")
    return write_scalar(value, dt)


def masked_fill(input: Tensor, mask: Tensor, value: Any) -> Tensor:
    """A copy of ``input`` with ``value`` (a number or a 0-d tensor) where the bool ``mask`` is True; ``mask``
    and ``input`` broadcast together.

    Example::

        >>> x = ember.tensor([1., 2., 3.])
        >>> x.masked_fill(x > 1, 0.)
        tensor([1., 0., 0.])
    """
    return dispatch(MASKED_FILL, input, mask, value=_fill_value(value, input._dtype))


def masked_fill_(input: Tensor, mask: Tensor, value: Any) -> Tensor:
    """In-place :func:`masked_fill`; ``mask`` must broadcast to ``input``'s shape."""
    result = masked_fill(input, mask, value)
    if result._shape != input._shape:
        raise RuntimeError(f"output with shape {list(input._shape)} doesn't match the broadcast shape "
                           f"{list(result._shape)}")
    check_writable_without_overlap(input, "masked_fill_")
    return copy_(input, result)


def _masked_select_meta(input: Tensor, mask: Tensor) -> Meta:
    if mask._dtype is not dtypes.bool:
        raise RuntimeError("masked_select: expected BoolTensor for mask")
    broadcast_shapes(input._shape, mask._shape)
    return Meta(None, input._dtype)


def _masked_select_kernel(a: np.ndarray, mask: np.ndarray) -> np.ndarray:
    shape = np.broadcast_shapes(a.shape, mask.shape)
    return np.broadcast_to(a, shape)[np.broadcast_to(mask, shape)]


MASKED_SELECT = defop("masked_select", _masked_select_meta, cpu=_masked_select_kernel,
                      doc="The 1-D tensor of input's elements where mask (broadcast) is True.")


def masked_select(input: Tensor, mask: Tensor) -> Tensor:
    """A new 1-D tensor of the elements of ``input`` where the bool ``mask`` is True (both broadcast)."""
    return dispatch(MASKED_SELECT, input, mask)


def _nonzero_meta(input: Tensor) -> Meta:
    return Meta(None, dtypes.int64)


def _nonzero_kernel(a: np.ndarray) -> np.ndarray:
    return np.argwhere(a != 0).astype(np.int64, copy=False)


NONZERO = defop("nonzero", _nonzero_meta, cpu=_nonzero_kernel,
                doc="The [n, ndim] int64 coordinates of the nonzero elements, in row-major order.")


def nonzero(input: Tensor, *, as_tuple: bool = False) -> Tensor | tuple[Tensor, ...]:
    """Coordinates of the nonzero elements of ``input``: an ``[n, input.ndim]`` int64 tensor, or with
    ``as_tuple=True`` one 1-D tensor per dim (a 0-d input counts as 1-d).

    Example::

        >>> ember.nonzero(ember.tensor([[0, 1], [2, 0]]))
        tensor([[0, 1],
                [1, 0]])
    """
    if not as_tuple:
        return dispatch(NONZERO, input)
    if not input._shape:
        input = dispatch(BASIC_INDEX, input, spec=(None,))
    coords = dispatch(NONZERO, input)
    return tuple(dispatch(BASIC_INDEX, coords, spec=(FULL_SLICE, j)) for j in range(input.ndim))


def argwhere(input: Tensor) -> Tensor:
    """The ``[n, input.ndim]`` int64 coordinates of the nonzero elements of ``input`` (``nonzero``)."""
    return dispatch(NONZERO, input)


__all__ = ["gather", "scatter", "scatter_add", "scatter_reduce", "index_select", "index_add", "take", "masked_fill",
           "masked_select", "nonzero", "argwhere"]

register_methods(
    gather=gather, scatter=scatter, scatter_=scatter_, scatter_add=scatter_add, scatter_add_=scatter_add_,
    scatter_reduce=scatter_reduce, scatter_reduce_=scatter_reduce_, index_select=index_select, index_add=index_add,
    index_add_=index_add_, take=take, masked_fill=masked_fill, masked_fill_=masked_fill_,
    masked_select=masked_select, nonzero=nonzero, argwhere=argwhere,
)
