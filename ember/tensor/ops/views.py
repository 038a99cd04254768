"""Zero-copy views: results share their base's storage through a new (shape, stride, offset) window.

Each primitive here is a VIEW op: its rule computes the window in elements and no kernel runs. The rules
follow ATen's (``computeStride``, ``inferExpandGeometry``, ``inferUnsqueezeGeometry``...) so that
``stride()``, ``is_contiguous()`` and which reshapes can stay views all agree with PyTorch. Views that are
rearrangements of these (transpose, movedim, flatten, split, unbind...) are written in the primitives in
``view_composites.py``.
"""

from __future__ import annotations

import operator
from functools import lru_cache
from typing import Any

from ...backends.cpu import contiguous_strides
from ..dispatch import dispatch
from ..registry import VIEW, defop, derivative
from ..shape_rules import numel, wrap_dim, wrap_dims
from ..tensor import Tensor, register_methods
from .copy import clone

_VIEW_INCOMPATIBLE = (
    "view size is not compatible with input tensor's size and stride (at least one dimension spans across two "
    "contiguous subspaces). Use .reshape(...) instead."
)


# ----- argument parsing shared by the family ---------------------------------------------------------
def int_tuple(args: Any, fn: str, name: str) -> tuple:
    """The ints of ``f(2, 3)``, ``f((2, 3))`` or ``f([2, 3])`` as a tuple; each op checks their values."""
    if len(args) == 1 and isinstance(args[0], list | tuple):
        args = args[0]
    if all(type(a) is int for a in args):
        return tuple(args)
    return tuple(as_int(a, fn, f"{name}[{pos}]") for pos, a in enumerate(args))


def int_varargs(args: tuple, fn: str, name: str) -> tuple:
    """:func:`int_tuple` for ``f(*sizes)`` arguments, which PyTorch requires to be given."""
    if not args:
        raise TypeError(f'{fn}() missing 1 required positional arguments: "{name}"')
    return int_tuple(args, fn, name)


def as_int(value: Any, fn: str, name: str) -> int:
    """``value`` as an int (Python/NumPy ints and one-element integer tensors), or PyTorch's TypeError."""
    # int subclasses (the tracer's symbolic sizes) pass through unchanged, so they keep their meaning.
    if type(value) is int or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{fn}(): argument '{name}' must be int, not {type(value).__name__}") from None


# ----- view / reshape ----------------------------------------------------------------------------------
def infer_size(size: tuple, total: int) -> tuple:
    """``size`` with its one -1 resolved so that it holds ``total`` elements (ATen's ``infer_size``)."""
    infer_at = None
    known = 1
    for i, s in enumerate(size):
        if s == -1:
            if infer_at is not None:
                raise RuntimeError("only one dimension can be inferred")
            infer_at = i
        elif s >= 0:
            known *= s
        else:
            raise RuntimeError(f"invalid shape dimension {s} at index {i} of shape {list(size)}")
    if total == known or (infer_at is not None and known > 0 and total % known == 0):
        if infer_at is None:
            return size
        if known == 0:
            raise RuntimeError(
                f"cannot reshape tensor of 0 elements into shape {list(size)} because the unspecified dimension "
                "size -1 can be any value and is ambiguous"
            )
        return size[:infer_at] + (total // known,) + size[infer_at + 1 :]
    raise RuntimeError(f"shape '{list(size)}' is invalid for input of size {total}")


def _view_strides(shape: tuple, stride: tuple, size: tuple, total: int) -> tuple | None:
    """Strides that show ``shape``/``stride`` as ``size`` without copying, or None (ATen's ``computeStride``)."""
    if total == 0 and shape:
        return stride if shape == size else contiguous_strides(size)
    return chunk_strides(shape, stride, size)


def chunk_strides(shape: tuple, stride: tuple, size: tuple) -> tuple | None:
    """The strides of ``size`` over memory laid out as ``shape``/``stride`` (no zero-size dims), or None.

    The base's dims are grouped into chunks that are contiguous with one another; a view is possible when
    every new dim lies inside one chunk. Only ``*``, ``==`` and ``!=`` are used, so the JIT's symbolic sizes
    work too: there, products must be equal as polynomials, which holds for every value of the symbols.
    """
    if not shape:
        return (1,) * len(size)
    new = [0] * len(size)
    view_d = len(size) - 1
    chunk_base = stride[-1]
    tensor_numel = view_numel = 1
    for d in range(len(shape) - 1, -1, -1):
        tensor_numel = tensor_numel * shape[d]
        if d == 0 or (shape[d - 1] != 1 and stride[d - 1] != tensor_numel * chunk_base):
            # Products only grow, so running past the chunk's count ends in the mismatch below.
            while view_d >= 0 and (view_numel != tensor_numel or size[view_d] == 1):
                new[view_d] = view_numel * chunk_base
                view_numel = view_numel * size[view_d]
                view_d -= 1
            if view_numel != tensor_numel:
                return None
            if d > 0:
                chunk_base = stride[d - 1]
                tensor_numel = view_numel = 1
    return tuple(new) if view_d == -1 else None


@lru_cache(maxsize=4096)
def view_geometry(shape: tuple, stride: tuple, size: tuple) -> tuple[tuple, tuple | None]:
    """``size`` with -1 resolved, and the strides of that view of ``shape``/``stride`` (None: needs a copy)."""
    total = numel(shape)
    size = infer_size(size, total)
    return size, _view_strides(shape, stride, size, total)


def _view_rule(base: Tensor, size: tuple) -> tuple:
    size, stride = view_geometry(base._shape, base._stride, size)
    if stride is None:
        raise RuntimeError(_VIEW_INCOMPATIBLE)
    return size, stride, base._offset


VIEW_OP = defop("view", None, kind=VIEW, view=_view_rule, doc="The same elements in another shape (-1 inferred).")


@derivative(VIEW_OP)
def _view_backward(ctx: Any, grad: Tensor) -> Tensor:
    # reshape, not view: the incoming gradient may be a non-contiguous tensor (the gradient of a permute).
    return reshape(grad, ctx.shape(0))


def view(input: Tensor, *shape: Any) -> Tensor:
    """A view of ``input`` with shape ``shape``, sharing its storage.

    Args:
        shape: the new sizes, as ints or one sequence; one of them may be -1, inferred from the others.

    Raises RuntimeError when the strides of ``input`` make such a view impossible (a dim of the new shape
    would span two non-adjacent blocks of memory); :func:`reshape` copies then.

    Example::

        >>> ember.arange(6).view(2, -1).shape
        ember.Size([2, 3])
    """
    return dispatch(VIEW_OP, input, size=int_varargs(shape, "view", "size"))


def reshape(input: Tensor, *sizes: Any, shape: Any = None) -> Tensor:
    """``input`` with the same elements in shape ``shape``: a view when the strides allow it (as
    :func:`view`), else a contiguous copy.

    Args:
        shape: the new sizes (``reshape(x, (2, 3))`` or ``x.reshape(2, 3)``); one may be -1.
    """
    size = int_varargs(sizes if shape is None else (shape,), "reshape", "shape")
    if view_geometry(input._shape, input._stride, size)[1] is None:
        input = clone(input)
    return dispatch(VIEW_OP, input, size=size)


def view_as(input: Tensor, other: Tensor) -> Tensor:
    """``input.view(other.shape)``."""
    return dispatch(VIEW_OP, input, size=other._shape)


def reshape_as(input: Tensor, other: Tensor) -> Tensor:
    """``input.reshape(other.shape)``."""
    return reshape(input, other._shape)


# ----- permute ---------------------------------------------------------------------------------------
def _permute_rule(base: Tensor, dims: tuple) -> tuple:
    n = len(base._shape)
    if len(dims) != n:
        raise RuntimeError(
            "permute(): number of dimensions in the tensor input does not match the length of the desired "
            f"ordering of dimensions i.e. input.dim() = {n} is not equal to len(dims) = {len(dims)}"
        )
    order = [d if 0 <= d < n else wrap_dim(d, n) for d in dims]
    if len(set(order)) != n:
        raise RuntimeError("permute(): duplicate dims are not allowed.")
    shape, stride = base._shape, base._stride
    return tuple([shape[d] for d in order]), tuple([stride[d] for d in order]), base._offset


PERMUTE = defop("permute", None, kind=VIEW, view=_permute_rule, doc="Reorder the dims.")


@derivative(PERMUTE)
def _permute_backward(ctx: Any, grad: Tensor) -> Tensor:
    n = len(ctx.shape(0))
    inverse = [0] * n
    for i, d in enumerate(ctx.attrs["dims"]):
        inverse[d % n] = i
    return dispatch(PERMUTE, grad, dims=tuple(inverse))


def _transpose_rule(base: Tensor, dim0: int, dim1: int) -> tuple:
    shape, stride = base._shape, base._stride
    n = len(shape)
    lo, hi = sorted((wrap_dim(dim0, n), wrap_dim(dim1, n)))
    if lo == hi:
        return shape, stride, base._offset
    return (
        shape[:lo] + (shape[hi],) + shape[lo + 1 : hi] + (shape[lo],) + shape[hi + 1 :],
        stride[:lo] + (stride[hi],) + stride[lo + 1 : hi] + (stride[lo],) + stride[hi + 1 :],
        base._offset,
    )


# The commonest reordering (t, mT, x.transpose(-2, -1)) gets its own rule: cheaper than a general permute.
TRANSPOSE = defop("transpose", None, kind=VIEW, view=_transpose_rule, doc="Swap two dims.")


@derivative(TRANSPOSE)
def _transpose_backward(ctx: Any, grad: Tensor) -> Tensor:
    return dispatch(TRANSPOSE, grad, **ctx.attrs)


def transpose(input: Tensor, dim0: int, dim1: int) -> Tensor:
    """A view of ``input`` with dims ``dim0`` and ``dim1`` swapped."""
    return dispatch(TRANSPOSE, input, dim0=as_int(dim0, "transpose", "dim0"), dim1=as_int(dim1, "transpose", "dim1"))


def permute(input: Tensor, *order: Any, dims: Any = None) -> Tensor:
    """A view of ``input`` with its dims reordered: result dim ``i`` is input dim ``dims[i]``
    (``permute(x, (1, 0))`` or ``x.permute(1, 0)``)."""
    return dispatch(PERMUTE, input, dims=int_varargs(order if dims is None else (dims,), "permute", "dims"))


# ----- squeeze / unsqueeze ---------------------------------------------------------------------------
def _squeeze_rule(base: Tensor, dims: tuple | None) -> tuple:
    shape, stride = base._shape, base._stride
    if dims is None:
        keep = [i for i, s in enumerate(shape) if s != 1]
    else:
        drop = wrap_dims(dims, len(shape))
        keep = [i for i, s in enumerate(shape) if s != 1 or i not in drop]
    return tuple(shape[i] for i in keep), tuple(stride[i] for i in keep), base._offset


SQUEEZE = defop("squeeze", None, kind=VIEW, view=_squeeze_rule, doc="Drop size-1 dims (all, or those in dims).")


@derivative(SQUEEZE)
def _squeeze_backward(ctx: Any, grad: Tensor) -> Tensor:
    # Only size-1 dims come and go, which a view of any strides can do.
    return dispatch(VIEW_OP, grad, size=ctx.shape(0))


def squeeze(input: Tensor, dim: int | tuple | list | None = None) -> Tensor:
    """A view of ``input`` without its size-1 dims, or without those of ``dim`` that have size 1.

    Naming a dim whose size is not 1 is allowed and leaves it in place, as in PyTorch 2.
    """
    if dim is not None:
        dim = int_tuple((dim,), "squeeze", "dim")
    return dispatch(SQUEEZE, input, dims=dim)


def _unsqueeze_rule(base: Tensor, dim: int) -> tuple:
    shape, stride = base._shape, base._stride
    d = wrap_dim(dim, len(shape) + 1)
    new_stride = 1 if d >= len(shape) else shape[d] * stride[d]
    return shape[:d] + (1,) + shape[d:], stride[:d] + (new_stride,) + stride[d:], base._offset


UNSQUEEZE = defop("unsqueeze", None, kind=VIEW, view=_unsqueeze_rule, doc="Insert a size-1 dim.")

derivative(UNSQUEEZE)(_squeeze_backward)


def unsqueeze(input: Tensor, dim: int) -> Tensor:
    """A view of ``input`` with a new size-1 dim at position ``dim`` (``-1`` appends)."""
    return dispatch(UNSQUEEZE, input, dim=as_int(dim, "unsqueeze", "dim"))


# ----- expand ----------------------------------------------------------------------------------------
def _expand_rule(base: Tensor, size: tuple) -> tuple:
    shape, stride = base._shape, base._stride
    n, m = len(size), len(shape)
    if n < m:
        raise RuntimeError(
            f"expand({base.type()}{{{list(shape)}}}, size={list(size)}): the number of sizes provided ({n}) must be "
            f"greater or equal to the number of dimensions in the tensor ({m})"
        )
    out_shape = [0] * n
    out_stride = [0] * n
    for i in range(n - 1, -1, -1):
        d = i - n + m
        target = size[i]
        if d >= 0:
            cur, st = shape[d], stride[d]
        else:
            # A new leading dim of size 1 gets the stride it would have if contiguous with the next one.
            cur, st = 1, (out_shape[i + 1] * out_stride[i + 1] if i + 1 < n else 0)
            if target == -1:
                raise RuntimeError(
                    f"The expanded size of the tensor (-1) isn't allowed in a leading, non-existing dimension {i}"
                )
        if target == -1:
            target = cur
        if cur != target:
            if cur != 1:
                raise RuntimeError(
                    f"The expanded size of the tensor ({target}) must match the existing size ({cur}) at "
                    f"non-singleton dimension {i}.  Target sizes: {list(size)}.  Tensor sizes: {list(shape)}"
                )
            if target < 0:
                raise RuntimeError(f"Trying to create tensor with negative dimension {target}: {list(size)}")
            cur, st = target, 0
        out_shape[i] = cur
        out_stride[i] = st
    return tuple(out_shape), tuple(out_stride), base._offset


EXPAND = defop("expand", None, kind=VIEW, view=_expand_rule, doc="Broadcast size-1 dims (stride 0) and prepend dims.")


@derivative(EXPAND)
def _expand_backward(ctx: Any, grad: Tensor) -> Tensor:
    # Every copy of an element read through a stride-0 dim sends its gradient back to that one element.
    shape = ctx.shape(0)
    lead = len(grad._shape) - len(shape)
    dims = [*range(lead), *(lead + i for i, s in enumerate(shape) if s == 1 and grad._shape[lead + i] != 1)]
    if dims:
        grad = grad.sum(dim=dims, keepdim=True)
    return dispatch(VIEW_OP, grad, size=shape) if lead else grad


def expand(input: Tensor, *sizes: Any) -> Tensor:
    """A view of ``input`` broadcast to ``sizes``: size-1 dims repeat with stride 0, no memory is copied.

    Args:
        sizes: the target sizes; -1 keeps a dim's size, extra leading sizes add new dims.

    Writing to the result in place is refused, since several of its elements share one memory location.

    Example::

        >>> ember.tensor([[1], [2]]).expand(2, 3)
        tensor([[1, 1, 1],
                [2, 2, 2]])
    """
    return dispatch(EXPAND, input, size=int_varargs(sizes, "expand", "size"))


def expand_as(input: Tensor, other: Tensor) -> Tensor:
    """``input.expand(other.shape)``."""
    return dispatch(EXPAND, input, size=other._shape)


def broadcast_to(input: Tensor, size: Any) -> Tensor:
    """``input`` broadcast to ``size`` as a view (see :func:`expand`)."""
    return dispatch(EXPAND, input, size=int_tuple((size,), "broadcast_to", "size"))


# ----- narrow / select / diagonal / unfold -----------------------------------------------------------
def _narrow_rule(base: Tensor, dim: int, start: int, length: int) -> tuple:
    shape, stride = base._shape, base._stride
    if not shape:
        raise RuntimeError("narrow() cannot be applied to a 0-dim tensor.")
    if length < 0:
        raise RuntimeError("narrow(): length must be non-negative.")
    d = wrap_dim(dim, len(shape))
    size = shape[d]
    if not -size <= start <= size:
        raise IndexError(f"start out of range (expected to be in range of [{-size}, {size}], but got {start})")
    if start < 0:
        start += size
    if start + length > size:
        raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({size}).")
    return shape[:d] + (length,) + shape[d + 1 :], stride, base._offset + start * stride[d]


NARROW = defop("narrow", None, kind=VIEW, view=_narrow_rule, doc="The slice [start, start + length) of one dim.")


def _scatter_into_zeros(op: Any, ctx: Any, grad: Tensor) -> Tensor:
    """The gradient of view ``op`` when its elements are distinct elements of its input: zeros of the input's
    shape with ``grad`` written through the same view of them (PyTorch's ``slice_backward`` and kin)."""
    out = grad.new_zeros(ctx.shape(0))
    dispatch(op, out, **ctx.attrs).copy_(grad)
    return out


@derivative(NARROW)
def _narrow_backward(ctx: Any, grad: Tensor) -> Tensor:
    return _scatter_into_zeros(NARROW, ctx, grad)


def narrow(input: Tensor, dim: int, start: int, length: int) -> Tensor:
    """A view of ``input`` keeping elements ``start`` to ``start + length - 1`` of dim ``dim``.

    Args:
        dim: the dim to narrow.
        start: the first kept index (may be negative, or a one-element integer tensor).
        length: how many elements to keep.
    """
    return dispatch(NARROW, input, dim=as_int(dim, "narrow", "dim"), start=as_int(start, "narrow", "start"),
                    length=as_int(length, "narrow", "length"))


def _select_rule(base: Tensor, dim: int, index: int) -> tuple:
    shape, stride = base._shape, base._stride
    if not shape:
        raise IndexError("select() cannot be applied to a 0-dim tensor.")
    d = wrap_dim(dim, len(shape))
    size = shape[d]
    if not -size <= index < size:
        raise IndexError(f"select(): index {index} out of range for tensor of size {list(shape)} at dimension {d}")
    if index < 0:
        index += size
    return shape[:d] + shape[d + 1 :], stride[:d] + stride[d + 1 :], base._offset + index * stride[d]


SELECT = defop("select", None, kind=VIEW, view=_select_rule, doc="One index of one dim, which is removed.")



@derivative(SELECT)
def _select_backward(ctx: Any, grad: Tensor) -> Tensor:
    return _scatter_into_zeros(SELECT, ctx, grad)


def select(input: Tensor, dim: int, index: int) -> Tensor:
    """The view ``input[..., index, ...]`` taken along ``dim``, which disappears from the shape."""
    return dispatch(SELECT, input, dim=as_int(dim, "select", "dim"), index=as_int(index, "select", "index"))


def _diagonal_rule(base: Tensor, offset: int, dim1: int, dim2: int) -> tuple:
    shape, stride = base._shape, base._stride
    n = len(shape)
    d1, d2 = wrap_dim(dim1, n), wrap_dim(dim2, n)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    if offset >= 0:
        length = max(min(shape[d1], shape[d2] - offset), 0)
        start = offset * stride[d2]
    else:
        length = max(min(shape[d1] + offset, shape[d2]), 0)
        start = -offset * stride[d1]
    rest = [i for i in range(n) if i not in (d1, d2)]
    return (
        tuple(shape[i] for i in rest) + (length,),
        tuple(stride[i] for i in rest) + (stride[d1] + stride[d2],),
        base._offset + (start if length else 0),
    )


DIAGONAL = defop("diagonal", None, kind=VIEW, view=_diagonal_rule, doc="A diagonal of two dims, as a last dim.")



@derivative(DIAGONAL)
def _diagonal_backward(ctx: Any, grad: Tensor) -> Tensor:
    return _scatter_into_zeros(DIAGONAL, ctx, grad)


def diagonal(input: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """The view of a diagonal of dims ``dim1`` and ``dim2``; those dims are removed and the diagonal
    becomes the last dim.

    Args:
        offset: 0 for the main diagonal, > 0 for one above it, < 0 for one below it.
        dim1: the first dim of the matrices.
        dim2: the second dim of the matrices.
    """
    return dispatch(DIAGONAL, input, offset=as_int(offset, "diagonal", "offset"),
                    dim1=as_int(dim1, "diagonal", "dim1"), dim2=as_int(dim2, "diagonal", "dim2"))


def _unfold_rule(base: Tensor, dimension: int, size: int, step: int) -> tuple:
    shape, stride = base._shape, base._stride
    d = wrap_dim(dimension, len(shape))
    max_size = shape[d] if shape else 1
    if size > max_size:
        raise RuntimeError(f"maximum size for tensor at dimension {d} is {max_size} but size is {size}")
    if step <= 0:
        raise RuntimeError(f"step is {step} but must be > 0")
    if size < 0:
        raise RuntimeError(f"size is {size} but must be >= 0")
    if not shape:
        return (size,), (1,), base._offset
    windows = (shape[d] - size) // step + 1
    return (
        shape[:d] + (windows,) + shape[d + 1 :] + (size,),
        stride[:d] + (stride[d] * step,) + stride[d + 1 :] + (stride[d],),
        base._offset,
    )


UNFOLD = defop("unfold", None, kind=VIEW, view=_unfold_rule, doc="Sliding windows of one dim, as a last dim.")


@derivative(UNFOLD)
def _unfold_backward(ctx: Any, grad: Tensor) -> Tensor:
    if ctx.attrs["step"] >= ctx.attrs["size"]:
        return _scatter_into_zeros(UNFOLD, ctx, grad)
    # Overlapping windows share elements, whose gradients add up: unfold the flat positions of the input's
    # elements the same way to learn where each window element came from, then index_add the gradient there.
    from ..creation import zeros
    from .gather_scatter import index_add
    from .ranges import arange

    shape = ctx.shape(0)
    total = numel(shape)
    positions = dispatch(UNFOLD, dispatch(VIEW_OP, arange(total), size=shape), **ctx.attrs)
    flat = index_add(zeros(total, dtype=grad.dtype), 0, reshape(positions, (-1,)), reshape(grad, (-1,)))
    return dispatch(VIEW_OP, flat, size=shape)


def unfold(input: Tensor, dimension: int, size: int, step: int) -> Tensor:
    """A view of every window of dim ``dimension``: that dim now counts windows, and a new last dim holds
    each window's elements.

    Args:
        dimension: the dim to slide along.
        size: the number of elements in a window.
        step: the distance between the starts of consecutive windows.
    """
    return dispatch(UNFOLD, input, dimension=as_int(dimension, "unfold", "dimension"),
                    size=as_int(size, "unfold", "size"), step=as_int(step, "unfold", "step"))


# ----- as_strided ------------------------------------------------------------------------------------
def _as_strided_rule(base: Tensor, size: tuple, stride: tuple, storage_offset: int) -> tuple:
    if len(size) != len(stride):
        raise RuntimeError("mismatch in length of strides and shape")
    if any(s < 0 for s in stride):
        raise RuntimeError(f"as_strided: Negative strides are not supported at the moment, got strides: {list(stride)}")
    for s in size:
        if s < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {s}: {list(size)}")
    if storage_offset < 0:
        raise RuntimeError(f"Tensor: invalid storage offset {storage_offset}")
    itemsize = base._dtype.itemsize
    if 0 not in size:
        needed = storage_offset + 1 + sum((n - 1) * st for n, st in zip(size, stride, strict=True))
        available = len(base._storage)
        if needed > available:
            raise RuntimeError(
                f"setStorage: sizes {list(size)}, strides {list(stride)}, storage offset {storage_offset}, and "
                f"itemsize {itemsize} requiring a storage size of {needed * itemsize} are out of bounds for storage "
                f"of size {available * itemsize}"
            )
    return size, stride, storage_offset


AS_STRIDED = defop("as_strided", None, kind=VIEW, view=_as_strided_rule, doc="Any window of the storage.")



def _maybe_overlapping(size: tuple, stride: tuple) -> bool:
    """Whether two elements of a window may share a memory location (ATen's ``_maybe_overlapping_memory``;
    size-1 dims are skipped, as they add no element)."""
    reach = 0
    for st, n in sorted((st, n) for n, st in zip(size, stride, strict=True) if n > 1):
        if st <= reach:
            return True
        reach += st * (n - 1)
    return False


def _min_storage_size(size: tuple, stride: tuple, offset: int) -> int:
    if 0 in size:
        return offset
    return offset + 1 + sum((n - 1) * st for n, st in zip(size, stride, strict=True))


@derivative(AS_STRIDED)
def _as_strided_backward(ctx: Any, grad: Tensor) -> Tensor:
    """ATen's ``as_strided_backward``: scatter the gradient into a zero buffer laid out like the shared storage
    through the output's window (summing where that window overlaps itself), then read the input's window of
    it (dividing by how often the input's window reads each location)."""
    from ..creation import ones, zeros
    from .gather_scatter import index_add
    from .ranges import arange

    in_size, in_stride, in_offset = ctx.geometry(0)
    size, stride, offset = ctx.attrs["size"], ctx.attrs["stride"], ctx.attrs["storage_offset"]
    shared = min(in_offset, offset)
    in_offset, offset = in_offset - shared, offset - shared
    total = max(_min_storage_size(in_size, in_stride, in_offset), _min_storage_size(size, stride, offset))
    buffer = zeros(total, dtype=grad.dtype)
    if _maybe_overlapping(size, stride):
        positions = dispatch(AS_STRIDED, arange(total), size=size, stride=stride, storage_offset=offset)
        buffer = index_add(buffer, 0, reshape(positions, (-1,)), reshape(grad, (-1,)))
    else:
        dispatch(AS_STRIDED, buffer, size=size, stride=stride, storage_offset=offset).copy_(grad)
    if _maybe_overlapping(in_size, in_stride):
        positions = dispatch(AS_STRIDED, arange(total), size=in_size, stride=in_stride, storage_offset=in_offset)
        counts = index_add(zeros(total, dtype=grad.dtype), 0, reshape(positions, (-1,)),
                           ones(1, dtype=grad.dtype).expand(numel(in_size)))
        # Locations the input never reads count 0 and become NaN, but the input's window below skips them.
        buffer = buffer / counts
    return dispatch(AS_STRIDED, buffer, size=in_size, stride=in_stride, storage_offset=in_offset)


def as_strided(input: Tensor, size: Any, stride: Any, storage_offset: int | None = None) -> Tensor:
    """Any window of ``input``'s storage, which must lie inside it.

    Args:
        size: the shape of the view.
        stride: its strides, in elements (non-negative).
        storage_offset: the storage index of its first element; defaults to ``input``'s.
    """
    return dispatch(AS_STRIDED, input, size=int_tuple((size,), "as_strided", "size"),
                    stride=int_tuple((stride,), "as_strided", "stride"),
                    storage_offset=input._offset if storage_offset is None
                    else as_int(storage_offset, "as_strided", "storage_offset"))


__all__ = ["reshape", "permute", "transpose", "squeeze", "unsqueeze", "broadcast_to", "narrow", "select", "diagonal",
           "as_strided"]

register_methods(view=view, reshape=reshape, view_as=view_as, reshape_as=reshape_as, permute=permute,
                 transpose=transpose, squeeze=squeeze, unsqueeze=unsqueeze, expand=expand, expand_as=expand_as,
                 broadcast_to=broadcast_to, narrow=narrow, select=select, diagonal=diagonal, unfold=unfold,
                 as_strided=as_strided)
