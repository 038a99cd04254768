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
from ..registry import Meta, defop, derivative
from ..shape_rules import broadcast_shapes, numel, wrap_dim
from ..tensor import Tensor, register_methods
from .copy import check_writable_without_overlap, clone, copy_
from .indexing import BASIC_INDEX, FULL_SLICE, HALF_NP_DTYPES, INDEX_PUT_, index_put_, write_scalar

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


@derivative(GATHER, saves=(1,))
def _gather_backward(ctx: Any, grad: Tensor) -> tuple:
    return _scatter_op(_zeros(grad, ctx.shape(0)), ctx.input(1), grad, ctx.attrs["dim"], "sum"), None


def _zeros(like: Tensor, shape: tuple) -> Tensor:
    from ..creation import zeros

    return zeros(shape, dtype=like._dtype, device=like.device)


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
                doc="A copy of input with src (or a scalar value) written, added or averaged at index along dim.")
# prod/amax/amin of a src tensor: a separate op because only their gradients read input and the result, and an
# op saves the same operands for every call (scatter_add_'s input is overwritten right after, for instance).
SCATTER_REDUCE = defop("scatter_reduce", _scatter_meta, cpu=_scatter_kernel,
                       doc="A copy of input with src multiplied, maxed or minned into it at index along dim.")
_SELF_READING_REDUCES = ("prod", "amax", "amin")


def _scatter_op(input: Tensor, index: Tensor, src: Tensor, dim: int, reduce: str | None,
                include_self: bool = True) -> Tensor:
    op = SCATTER_REDUCE if reduce in _SELF_READING_REDUCES else SCATTER
    return dispatch(op, input, index, src, dim=dim, reduce=reduce, include_self=include_self)


def _scatter_value(input: Tensor, index: Tensor, dim: int, value: Any, reduce: str | None = None) -> Tensor:
    return dispatch(SCATTER, input, index, dim=dim, reduce=reduce, include_self=True, value=value)


def _leading_block(t: Tensor, shape: tuple) -> Tensor:
    """The ``shape``-sized corner of ``t`` (the part of src that scatter reads, when src is bigger than index)."""
    if t._shape == shape or len(t._shape) != len(shape):
        return t
    return dispatch(BASIC_INDEX, t, spec=tuple((0, n, 1) for n in shape))


def _padded(grad: Tensor, shape: tuple) -> Tensor:
    """``grad`` of src's leading block as a gradient of all of src: zeros where scatter did not read."""
    if grad._shape == shape or len(grad._shape) != len(shape):
        return grad
    out = _zeros(grad, shape)
    copy_(_leading_block(out, grad._shape), grad)
    return out


@derivative(SCATTER, saves=(1,))
def _scatter_backward(ctx: Any, grad: Tensor) -> tuple:
    """Written places lose the old value's gradient (scatter, or scatter_reduce without include_self); sums pass
    it through and means divide it by the number of values averaged. Each src element gets the gradient of the
    place it went to."""
    index, attrs = ctx.input(1), ctx.attrs
    dim, reduce = attrs["dim"], attrs["reduce"]
    has_src = len(ctx.needs_input_grad) > 2
    if not has_src:
        if reduce == "prod":  # out = input * value ** (times written), a constant factor
            from ..creation import ones

            factor = _scatter_value(ones(ctx.shape(0), dtype=grad._dtype), index, dim, attrs["value"], "prod")
            return grad * factor, None
        return (grad if reduce == "sum" else _scatter_value(grad, index, dim, 0)), None
    src_shape = ctx.shape(2)
    if reduce == "mean":
        from ..creation import full, ones

        counts = _scatter_op(full(ctx.shape(0), 1 if attrs["include_self"] else 0, dtype=grad._dtype), index,
                             ones(index._shape, dtype=grad._dtype), dim, "sum")
        counts = counts.masked_fill(counts == 0, 1)
        grad_self = grad / counts
        grad_src = gather(grad, dim, index) / gather(counts, dim, index)
    else:
        grad_self = grad if reduce == "sum" else None
        grad_src = gather(grad, dim, index)
    if grad_self is None or not attrs["include_self"]:
        grad_self = _scatter_value(grad if grad_self is None else grad_self, index, dim, 0)
    return grad_self, None, _padded(grad_src, src_shape)


@derivative(SCATTER_REDUCE, saves=(0, 1, 2, "out"))
def _scatter_reduce_backward(ctx: Any, grad: Tensor) -> tuple:
    """PyTorch's ``scatter_reduce_backward``: amax/amin share the gradient evenly among the values equal to the
    result; prod divides the result by each factor, with zeros handled by recomputing the product without them."""
    from .ternary import where

    input, index, result = ctx.input(0), ctx.input(1), ctx.out
    src_shape = ctx.shape(2)
    src = _leading_block(ctx.input(2), index._shape)
    dim, reduce, include_self = ctx.attrs["dim"], ctx.attrs["reduce"], ctx.attrs["include_self"]
    if reduce == "prod":
        masked_self = input.masked_fill(input == 0, 1)
        grad_self = grad * _scatter_op(masked_self, index, src, dim, "prod", include_self) / masked_self
        src_zero = src == 0
        zeros_per_place = gather(_scatter_op(_zeros(grad, ctx.shape(0)), index, src_zero.to(grad._dtype), dim, "sum"),
                                 dim, index)
        single_zero = src_zero & (zeros_per_place == 1)
        without_zero = _scatter_op(input, index, src.masked_fill(single_zero, 1), dim, "prod", include_self)
        grad_src = where(single_zero, gather(grad * without_zero, dim, index),
                         gather(grad * result, dim, index) / src.masked_fill(src_zero, 1))
    else:
        self_is_result = input == result
        src_is_result = src == gather(result, dim, index)
        shares = _scatter_op(self_is_result.to(grad._dtype), index, src_is_result.to(grad._dtype), dim, "sum")
        grad_shared = grad / shares
        grad_self = grad_shared.masked_fill(self_is_result.logical_not(), 0)
        grad_src = gather(grad_shared, dim, index).masked_fill(src_is_result.logical_not(), 0)
    if not include_self:
        grad_self = _scatter_value(grad_self, index, dim, 0)
    return grad_self, None, _padded(grad_src, src_shape)


def _scatter(input: Tensor, dim: int, index: Tensor, src: Any, reduce: str | None, include_self: bool = True):
    dim = wrap_dim(dim, input.ndim)
    if isinstance(src, Tensor):
        return _scatter_op(input, index, src, dim, reduce, include_self)
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
    source = _self_for_reduce(input, src, _LEGACY_REDUCES.get(reduce))
    return copy_(input, scatter(source, dim, index, src, value=value, reduce=reduce))


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
    source = _self_for_reduce(input, src, reduce)
    return copy_(input, scatter_reduce(source, dim, index, src, reduce, include_self=include_self))


def _self_for_reduce(input: Tensor, src: Any, reduce: str | None) -> Tensor:
    """What the in-place variants reduce into: ``input``, or a copy of it when prod/amax/amin's gradient will read
    it (``copy_`` overwrites ``input`` with the result, as PyTorch's in-place op keeps the original self)."""
    if reduce in _SELF_READING_REDUCES and isinstance(src, Tensor) and (input.requires_grad or src.requires_grad):
        return clone(input)
    return input


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


@derivative(INDEX_SELECT, saves=(1,))
def _index_select_backward(ctx: Any, grad: Tensor) -> tuple:
    return dispatch(INDEX_ADD, _zeros(grad, ctx.shape(0)), ctx.input(1), grad, dim=ctx.attrs["dim"], alpha=1), None


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


@derivative(INDEX_ADD, saves=(1,))
def _index_add_backward(ctx: Any, grad: Tensor) -> tuple:
    grad_source = None
    if ctx.needs_input_grad[2]:
        alpha = ctx.attrs["alpha"]
        grad_source = index_select(grad, ctx.attrs["dim"], ctx.input(1))
        grad_source = grad_source if alpha == 1 else grad_source * alpha
    return grad, None, grad_source


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


@derivative(TAKE, saves=(1,))
def _take_backward(ctx: Any, grad: Tensor) -> tuple:
    # Accumulated into the flattened input: repeated indices add up, and index_put_ wraps negatives as take does.
    shape = ctx.shape(0)
    flat = _zeros(grad, (numel(shape),))
    dispatch(INDEX_PUT_, flat, [ctx.input(1)], grad, dims=(0,), accumulate=True)
    return flat.reshape(shape), None


def take(input: Tensor, index: Tensor) -> Tensor:
    """The elements of ``input`` (read as if flattened) at the int64 ``index``; the result has ``index``'s shape."""
    return dispatch(TAKE, input, index)


# ----- masks -------------------------------------------------------------------------------------------
def _masked_fill_meta(input: Tensor, mask: Tensor, source: Tensor | None = None, *, value: Any = None) -> Meta:
    if mask._dtype is not dtypes.bool:
        raise RuntimeError(
            f"masked_fill_ only supports boolean masks, but got mask with dtype {mask._dtype.cpp_name}")
    return Meta(broadcast_shapes(input._shape, mask._shape), input._dtype)


def _masked_fill_kernel(a: np.ndarray, mask: np.ndarray, source: np.ndarray | None = None, *,
                        value: Any = None) -> np.ndarray:
    fill = np.asarray(value, dtype=a.dtype) if source is None else source.astype(a.dtype)
    return np.where(mask, fill, a)


MASKED_FILL = defop("masked_fill", _masked_fill_meta, cpu=_masked_fill_kernel,
                    doc="input with a scalar value (or a 0-d source tensor) where mask is True (input and mask "
                        "broadcast together).")


@derivative(MASKED_FILL, saves=(1,))
def _masked_fill_backward(ctx: Any, grad: Tensor) -> tuple:
    # A value tensor gets the gradient of every place it filled (the engine sums them to its 0-d shape).
    mask, needs = ctx.input(1), ctx.needs_input_grad
    grad_input = dispatch(MASKED_FILL, grad, mask, value=0) if needs[0] else None
    grad_value = dispatch(MASKED_FILL, grad, mask.logical_not(), value=0) if len(needs) > 2 and needs[2] else None
    return grad_input, None, grad_value


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
    checked = _fill_value(value, input._dtype)
    if isinstance(value, Tensor) and value.requires_grad and input._dtype.is_floating_point:
        # A value that requires grad stays an operand, so that it gets the gradient of the places it filled.
        return dispatch(MASKED_FILL, input, mask, value)
    return dispatch(MASKED_FILL, input, mask, value=checked)


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


@derivative(MASKED_SELECT, saves=(1,))
def _masked_select_backward(ctx: Any, grad: Tensor) -> tuple:
    # Written back at the mask's places of the broadcast shape, flattened so that 0-d inputs need no special case;
    # the engine sums what broadcasting added to the input.
    shape = broadcast_shapes(ctx.shape(0), ctx.shape(1))
    mask = ctx.input(1).expand(shape).reshape(-1)
    return index_put_(_zeros(grad, (numel(shape),)), (mask,), grad).reshape(shape), None


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
