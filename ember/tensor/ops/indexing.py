"""Indexing: ``Tensor.__getitem__``/``__setitem__`` and ``index_put_``, on three primitives.

An index is split as PyTorch splits it (``applySlicing`` in ATen): ints, slices, None and Ellipsis
make ONE view, ``basic_index``, whose normalised spec (a tuple of ints, ``(start, stop, step)`` triples
and None markers) is a plain attribute; integer tensors, lists, boolean masks and Python bools are then
applied to that view by the compute op ``index`` (reading) or the in-place op ``index_put_`` (writing),
whose index tensors are operands. Boolean masks become integer indices through ``nonzero`` first, so
``index`` always has a static shape rule. Ints are applied by the view even beside advanced indices,
which is where PyTorch and NumPy differ: ``x[0, :, [0, 1]]`` has shape ``[3, 2]`` for a ``[2, 3, 4]`` x.
"""

from __future__ import annotations

import operator
import warnings
from typing import Any

import numpy as np

from .. import dtypes
from ..dispatch import dispatch
from ..registry import INPLACE, VIEW, Meta, defop, derivative
from ..scalars import checked_scalar
from ..shape_rules import broadcast_shapes
from ..tensor import Tensor, register_methods
from .copy import clone, copy_, fill_

FULL_SLICE = (None, None, 1)

_INDEX_DTYPES = (dtypes.int64, dtypes.int32)
HALF_NP_DTYPES = (dtypes.float16.np_dtype, dtypes.bfloat16.np_dtype)
_MASK_DTYPES = (dtypes.bool, dtypes.uint8)


def write_scalar(value: Any, dt: dtypes.dtype) -> bool | int | float:
    """``value`` converted for a write into a ``dt`` tensor (setitem, scatter, masked_fill, index_add's alpha),
    refusing overflow as c10's ``checked_convert`` does.

    Unlike ``Scalar::to``, float16/bfloat16 saturate to inf as in PyTorch's setitem, and negative floats, like
    negative integers, wrap into uint8 down to -255.
    """
    return checked_scalar(value, dt, check_reduced=False, wrap_negative_floats=True)


# ----- basic_index: one view for ints, slices, None and Ellipsis ------------------------------------------
def _basic_index_view(base: Tensor, spec: tuple) -> tuple[tuple, tuple, int]:
    """Shape, stride and offset of ``base[spec]`` in one pass, replaying ATen's select/slice/unsqueeze order
    so that strides of size-1 dims match PyTorch's exactly."""
    shape, stride = base._shape, base._stride
    ndim = len(shape)
    out_shape: list = []
    out_stride: list = []
    offset = base._offset
    dim = 0
    for item in spec:
        if item is None:
            # unsqueeze: the new dim's stride is that of the dim it is inserted before (1 at the end).
            out_shape.append(1)
            out_stride.append(shape[dim] * stride[dim] if dim < ndim else 1)
            continue
        if dim >= ndim:
            raise IndexError(f"too many indices for tensor of dimension {ndim}")
        size = shape[dim]
        if isinstance(item, int):  # an int or the tracer's symbolic size (bools never reach a spec)
            if not -size <= item < size:
                raise IndexError(f"index {item} is out of bounds for dimension {dim} with size {size}")
            offset += (item + size if item < 0 else item) * stride[dim]
        elif item is FULL_SLICE:
            out_shape.append(size)
            out_stride.append(stride[dim])
        else:
            start, stop, step = item
            start = _clamp_bound(start, size, 0)
            stop = _clamp_bound(stop, size, size)
            # (>= rather than >: the same length, and a traced size assumes only stop >= start, not stop > start)
            length = (stop - start + step - 1) // step if stop >= start else 0
            out_shape.append(length)
            out_stride.append(stride[dim] * step)
            offset += start * stride[dim]
        dim += 1
    return tuple(out_shape) + shape[dim:], tuple(out_stride) + stride[dim:], offset


def _clamp_bound(bound: int | None, size: int, default: int) -> int:
    """A slice bound as Python clamps it: None is the default, negatives count from the end."""
    if bound is None:
        return default
    if bound < 0:
        bound += size
        # (>= rather than >: the same value, and a traced size then only assumes what the result needs, size >= -bound)
        return bound if bound >= 0 else 0
    # A bound equal to the size is kept rather than the size: the same int, but a symbolic bound (x[:, :n]) then
    # keeps its own expression in a trace.
    return bound if bound <= size else size


BASIC_INDEX = defop(
    "basic_index", None, kind=VIEW, view=_basic_index_view,
    doc="A view selected by ints, (start, stop, step) slices and None (new axis) markers, applied in order.",
)


@derivative(BASIC_INDEX)
def _basic_index_backward(ctx: Any, grad: Tensor) -> Tensor:
    # grad written into the same window of zeros; the write is a copy_, so double backward reads it back out.
    out = _zeros_for(grad, ctx.shape(0))
    copy_(dispatch(BASIC_INDEX, out, spec=ctx.attrs["spec"]), grad)
    return out


def _zeros_for(grad: Tensor, shape: tuple) -> Tensor:
    from ..creation import zeros

    return zeros(shape, dtype=grad._dtype, device=grad.device)


# ----- index and index_put_: integer index tensors applied to given dims ----------------------------------
def _index_result_shape(shape: tuple, indices: list, dims: tuple) -> tuple:
    """The shape of ``self[indices at dims]``: PyTorch/NumPy put the broadcast index shape where the indexed
    dims were when those are adjacent, else in front."""
    if len(dims) > len(shape):
        raise IndexError(f"too many indices for tensor of dimension {len(shape)} (got {len(dims)})")
    for idx in indices:
        if idx._dtype not in _INDEX_DTYPES:
            raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
    try:
        bshape = broadcast_shapes(*(idx._shape for idx in indices)) if indices else ()
    except RuntimeError:
        listed = ", ".join(str(list(idx._shape)) for idx in indices)
        raise IndexError(
            f"shape mismatch: indexing tensors could not be broadcast together with shapes {listed}") from None
    if not dims:
        return shape
    if dims == tuple(range(dims[0], dims[0] + len(dims))):
        return shape[: dims[0]] + bshape + shape[dims[-1] + 1 :]
    return bshape + tuple(s for d, s in enumerate(shape) if d not in dims)


def _index_meta(input: Tensor, indices: list, dims: tuple) -> Meta:
    return Meta(_index_result_shape(input._shape, indices, dims), input._dtype)


def _numpy_key(arr: np.ndarray, indices: list, dims: tuple) -> tuple:
    """The NumPy index for ``indices`` at ``dims``, after PyTorch's bounds check (never a wrong element)."""
    key: list = [slice(None)] * (dims[-1] + 1 if dims else 0)
    for n, (idx, dim) in enumerate(zip(indices, dims, strict=True)):
        size = arr.shape[dim]
        if idx.size and (idx.min() < -size or idx.max() >= size):
            if size == 0:
                raise IndexError("index is out of bounds for dimension with size 0")
            bad = idx.flat[np.argmax((idx < -size) | (idx >= size))]
            # PyTorch numbers the dimension by the index tensor's position among the indices.
            raise IndexError(f"index {bad} is out of bounds for dimension {n} with size {size}")
        key[dim] = idx
    return tuple(key)


def _index_kernel(arr: np.ndarray, indices: list, dims: tuple) -> np.ndarray:
    out = arr[_numpy_key(arr, indices, dims)]
    # All-0-d indices are basic indexing for NumPy, which returns a view.
    return out.copy() if np.may_share_memory(out, arr) else out


INDEX = defop("index", _index_meta, cpu=_index_kernel,
              doc="Advanced indexing: integer index tensors (broadcast together) applied at the given dims.")


@derivative(INDEX, saves=(1,))
def _index_backward(ctx: Any, grad: Tensor) -> tuple:
    # Repeated indices read one element several times: their gradients add up (accumulate=True).
    out = _zeros_for(grad, ctx.shape(0))
    dispatch(INDEX_PUT_, out, ctx.input(1), grad, dims=ctx.attrs["dims"], accumulate=True)
    return out, None


def _index_put_meta(input: Tensor, indices: list, values: Tensor, dims: tuple, accumulate: bool) -> Meta:
    result = _index_result_shape(input._shape, indices, dims)
    if values._dtype is not input._dtype:
        raise RuntimeError(
            "Index put requires the source and destination dtypes match, got "
            f"{input._dtype.scalar_name} for the destination and "
            f"{values._dtype.scalar_name} for the source."
        )
    try:
        fits = broadcast_shapes(result, values._shape) == result
    except RuntimeError:
        fits = False
    if not fits:
        raise RuntimeError(
            f"shape mismatch: value tensor of shape {list(values._shape)} cannot be broadcast to indexing result "
            f"of shape {list(result)}"
        )
    return Meta(input._shape, input._dtype)


def _index_put_kernel(arr: np.ndarray, indices: list, values: np.ndarray, dims: tuple, accumulate: bool) -> None:
    key = _numpy_key(arr, indices, dims)
    if np.may_share_memory(values, arr):
        values = values.copy()
    if not accumulate:
        arr[key] = values
    elif arr.dtype in HALF_NP_DTYPES:
        # float16/bfloat16 accumulate in float32 (PyTorch's CPU opmath) and round once.
        wide = arr.astype(np.float32)
        np.add.at(wide, key, values.astype(np.float32))
        arr[...] = wide
    else:
        np.add.at(arr, key, values)


INDEX_PUT_ = defop("index_put_", _index_put_meta, cpu=_index_put_kernel, kind=INPLACE,
                   doc="Write (or with accumulate, add) values at integer index tensors applied at the given dims.")


@derivative(INDEX_PUT_, saves=(1,))
def _index_put_backward(ctx: Any, grad: Tensor) -> tuple:
    """``grad`` is the gradient of the written tensor. Its old values survive where nothing was written (or
    everywhere, with accumulate); each value gets the gradient of the place it went to (the engine sums the
    places a broadcast value went to)."""
    indices, dims = ctx.input(1), ctx.attrs["dims"]
    grad_self = grad_values = None
    if ctx.needs_input_grad[0]:
        if ctx.attrs["accumulate"]:
            grad_self = grad
        else:
            grad_self = dispatch(INDEX_PUT_, clone(grad), indices, _zeros_for(grad, ()), dims=dims, accumulate=False)
    if ctx.needs_input_grad[2]:
        grad_values = dispatch(INDEX, grad, indices, dims=dims)
    return grad_self, None, grad_values


# ----- parsing a Python index -------------------------------------------------------------------------
def _slice_bound(value: Any) -> int | None:
    if value is None or type(value) is int or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError("slice indices must be integers or None or have an __index__ method") from None


def _slice_spec(s: slice) -> tuple:
    if s.start is None and s.stop is None and s.step is None:
        return FULL_SLICE
    step = 1 if s.step is None else _slice_bound(s.step)
    if step == 0:
        raise ValueError("slice step cannot be zero")
    if step < 0:
        raise ValueError("step must be greater than zero")
    return (_slice_bound(s.start), _slice_bound(s.stop), step)


def _as_tuple(key: Any) -> tuple:
    """PyTorch's ``treatSequenceAsTuple``: a short list holding slices, None, Ellipsis, tensors or sequences
    means a tuple of indices (deprecated); any other list is one integer or mask index."""
    if isinstance(key, tuple):
        return key
    if isinstance(key, list) and len(key) < 32:
        for item in key:
            if item is None or item is Ellipsis or isinstance(item, slice | Tensor | list | tuple | np.ndarray):
                warnings.warn(
                    "Using a non-tuple sequence for multidimensional indexing is deprecated; use x[tuple(seq)] "
                    "instead of x[seq]", UserWarning, stacklevel=4)
                return tuple(key)
    return (key,)


def _classify(item: Any, owner: Tensor) -> tuple[str, Any]:
    """An index item other than int, slice, None and Ellipsis as (kind, payload): ``int`` (0-d integer tensors,
    NumPy integers, ``__index__`` objects), ``bool`` (Python bools, 0-d bool/uint8 tensors), or ``tensor``
    (integer tensors and masks; lists and arrays become tensors, PyTorch's ``sequenceToVariable``)."""
    if type(item) is bool:
        return "bool", item
    if isinstance(item, int):  # an int subclass: the tracer's symbolic sizes keep their expression
        return "int", item
    if isinstance(item, list | tuple | range | np.ndarray):
        from ..creation import tensor

        item = tensor(item, device=owner.device)
        if item._dtype not in _MASK_DTYPES:
            # PyTorch turns any non-mask index data into int64, truncating floats.
            item = item.to(dtypes.int64)
    if isinstance(item, Tensor):
        if item.ndim == 0 and not item._dtype.is_floating_point:
            if item._dtype in _MASK_DTYPES:
                return "bool", bool(item.item())
            return "int", int(item.item())
        return "tensor", item
    if isinstance(item, str):
        raise TypeError("a str cannot be used as an index")
    try:
        return "int", operator.index(item)
    except TypeError:
        kind = type(item)
        name = kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__name__}"
        raise IndexError("only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables are valid "
                         f"indices (got {name})") from None


def _mask_dims(index: Tensor) -> int:
    """How many dims of the indexed tensor an index tensor covers: all of a mask's, one for integers."""
    return index.ndim if index._dtype in _MASK_DTYPES else 1


def _split_index(self: Tensor, key: Any) -> tuple[Tensor, list]:
    """``self[key]`` as (view for the basic part, [(dim of that view, advanced index)]), in one pass."""
    ndim = len(self._shape)
    spec: list = []
    advanced: list = []
    view_dim = consumed = 0
    ellipsis = None
    for item in _as_tuple(key):
        kind = type(item)
        if kind is int:
            spec.append(item)
            consumed += 1
            continue
        if kind is slice:
            spec.append(_slice_spec(item))
            consumed += 1
            view_dim += 1
            continue
        if item is None:
            spec.append(None)
            view_dim += 1
            continue
        if item is Ellipsis:
            if ellipsis is not None:
                raise IndexError("an index can only have a single ellipsis ('...')")
            # Where the Ellipsis's full slices go once the number of dims it spans is known.
            ellipsis = (len(spec), len(advanced))
            continue
        kind, payload = _classify(item, self)
        if kind == "int":
            spec.append(payload)
            consumed += 1
        elif kind == "bool":
            # A bool adds a size-1 dim indexed by [0] (True) or by nothing (False).
            spec.append(None)
            advanced.append((view_dim, payload))
            view_dim += 1
        else:
            n = _mask_dims(payload)
            spec.extend([FULL_SLICE] * n)
            advanced.append((view_dim, payload))
            view_dim += n
            consumed += n
    if consumed > ndim:
        raise IndexError(f"too many indices for tensor of dimension {ndim}")
    if ellipsis is not None and consumed < ndim:
        at, first_after = ellipsis
        spanned = ndim - consumed
        spec[at:at] = [FULL_SLICE] * spanned
        advanced[first_after:] = [(dim + spanned, index) for dim, index in advanced[first_after:]]
    while spec and spec[-1] == FULL_SLICE:
        spec.pop()
    if advanced and not spec:
        return self, advanced
    return dispatch(BASIC_INDEX, self, spec=tuple(spec)), advanced


def _integer_indices(view: Tensor, advanced: list) -> tuple[list, tuple]:
    """Integer index tensors and their dims in ``view``; masks become one ``nonzero`` column per dim they cover."""
    indices: list = []
    dims: list = []
    for dim, index in advanced:
        if index is True or index is False:
            from ..creation import tensor

            indices.append(tensor([0] if index else [], dtype=dtypes.int64, device=view.device))
            dims.append(dim)
            continue
        if index.device != view.device:
            index = index.to(view.device)
        if index._dtype not in _MASK_DTYPES:
            indices.append(index)
            dims.append(dim)
            continue
        if index._dtype is dtypes.uint8:
            warnings.warn("indexing with dtype ember.uint8 is now deprecated, please use a dtype ember.bool instead.",
                          UserWarning, stacklevel=3)
            index = index.to(dtypes.bool)
        for j, size in enumerate(index._shape):
            if view._shape[dim + j] != size:
                raise IndexError(
                    f"The shape of the mask {list(index._shape)} at index {j} does not match the shape of the "
                    f"indexed tensor {list(view._shape)} at index {dim + j}"
                )
        from .gather_scatter import nonzero

        coords = nonzero(index)
        for j in range(index.ndim):
            indices.append(dispatch(BASIC_INDEX, coords, spec=(FULL_SLICE, j)))
            dims.append(dim + j)
    return indices, tuple(dims)


def getitem(self: Tensor, key: Any) -> Tensor:
    """``self[key]``: ints, slices (positive steps), None, Ellipsis give a view sharing storage; integer
    tensors, lists, boolean masks and bools (advanced indexing) give a copy, with PyTorch's placement rules."""
    kind = type(key)
    if kind is int or kind is slice:
        # The common single-index cases, with PyTorch's messages for 0-d tensors.
        if not self._shape:
            if kind is slice:
                raise IndexError("slice() cannot be applied to a 0-dim tensor.")
            if key == 0:
                raise IndexError("invalid index of a 0-dim tensor. Use `tensor.item()` in Python or "
                                 "`tensor.item<T>()` in C++ to convert a 0-dim tensor to a number")
            raise IndexError(f"index {key} is out of bounds for dimension 0 with size 0")
        return dispatch(BASIC_INDEX, self, spec=(key if kind is int else _slice_spec(key),))
    view, advanced = _split_index(self, key)
    if not advanced:
        return view
    indices, dims = _integer_indices(view, advanced)
    return dispatch(INDEX, view, indices, dims=dims)


def _strip_leading_ones(value: Tensor) -> Tensor:
    """PyTorch drops a value's leading size-1 dims before writing it through an index."""
    n = 0
    while n < value.ndim and value._shape[n] == 1:
        n += 1
    return dispatch(BASIC_INDEX, value, spec=(0,) * n) if n else value


def _check_expandable(value: Tensor, target: tuple) -> None:
    shape = value._shape
    if len(shape) > len(target):
        raise RuntimeError(
            f"expand({value.type()}{{{list(shape)}}}, size={list(target)}): the number of sizes provided "
            f"({len(target)}) must be greater or equal to the number of dimensions in the tensor ({len(shape)})"
        )
    lead = len(target) - len(shape)
    for i, size in enumerate(shape):
        if size != 1 and size != target[lead + i]:
            raise RuntimeError(
                f"The expanded size of the tensor ({target[lead + i]}) must match the existing size ({size}) at "
                f"non-singleton dimension {lead + i}.  Target sizes: {list(target)}.  Tensor sizes: {list(shape)}"
            )


def _warn_if_expanded(t: Tensor) -> None:
    if t.numel() and any(size > 1 and stride == 0 for size, stride in zip(t._shape, t._stride, strict=True)):
        warnings.warn(
            "Use of index_put_ on expanded tensors is deprecated. Please clone() the tensor before performing this "
            "operation. This also applies to advanced indexing e.g. tensor[indices] = tensor",
            UserWarning, stacklevel=3)


def setitem(self: Tensor, key: Any, value: Any) -> None:
    """``self[key] = value``: a number or a tensor (broadcast) written in place.

    As in PyTorch, a tensor value is cast to ``self.dtype`` for basic indices, while advanced indices
    (``index_put_``) require the dtypes to match.
    """
    if key is False:
        return  # PyTorch: nothing is selected, nothing is checked
    if isinstance(value, Tensor):
        value = _strip_leading_ones(value)
    elif isinstance(value, bool | int | float | np.bool_ | np.integer | np.floating):
        value = write_scalar(value, self._dtype)
    else:
        raise TypeError(f"can't assign a {type(value).__name__} to a {self.type()}")
    view, advanced = _split_index(self, key)
    if not advanced:
        if isinstance(value, Tensor):
            _check_expandable(value, view._shape)
            copy_(view, value)
        else:
            fill_(view, value)
        return
    indices, dims = _integer_indices(view, advanced)
    if not isinstance(value, Tensor):
        from ..creation import tensor

        # Through NumPy in the target dtype: float16/bfloat16 saturate to inf as PyTorch's do.
        with np.errstate(over="ignore"):
            value = tensor(np.asarray(value, dtype=self._dtype.np_dtype), device=self.device)
    _warn_if_expanded(view)
    dispatch(INDEX_PUT_, view, indices, value, dims=dims, accumulate=False)


def index_put_(input: Tensor, indices: tuple | list, values: Tensor, accumulate: bool = False) -> Tensor:
    """Write ``values`` into ``input`` at ``indices`` (a tuple of integer or boolean tensors, one per leading
    dim) in place, as ``input[indices] = values``; with ``accumulate=True`` repeated indices add up.

    Example::

        >>> x = ember.zeros(3)
        >>> x.index_put_((ember.tensor([0, 0, 2]),), ember.tensor(1.), accumulate=True)
        tensor([2., 0., 1.])
    """
    if not isinstance(indices, tuple | list):
        raise TypeError(f"index_put_(): argument 'indices' must be tuple of Tensors, not {type(indices).__name__}")
    for i, index in enumerate(indices):
        if not isinstance(index, Tensor):
            raise TypeError(f"expected Tensor as element {i} in argument 0, but got {type(index).__name__}")
    if not isinstance(values, Tensor):
        raise TypeError(f"index_put_(): argument 'values' (position 2) must be Tensor, not {type(values).__name__}")
    specified = sum(_mask_dims(index) for index in indices)
    if specified > input.ndim:
        raise IndexError(f"too many indices for tensor of dimension {input.ndim} (got {specified})")
    advanced = []
    dim = 0
    for index in indices:
        advanced.append((dim, index))
        dim += _mask_dims(index)
    int_indices, dims = _integer_indices(input, advanced)
    _warn_if_expanded(input)
    return dispatch(INDEX_PUT_, input, int_indices, values, dims=dims, accumulate=bool(accumulate))


def index_put(input: Tensor, indices: tuple | list, values: Tensor, accumulate: bool = False) -> Tensor:
    """Out-of-place :func:`index_put_`: a copy of ``input`` with ``values`` written at ``indices``."""
    return index_put_(clone(input), indices, values, accumulate)


__all__ = ["index_put"]

register_methods(__getitem__=getitem, __setitem__=setitem, index_put_=index_put_, index_put=index_put)
