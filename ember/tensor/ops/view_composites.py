"""Views written in the primitive views of ``views.py``: t, T, mT and movedim, flatten and
unflatten (view/reshape), split/chunk/unbind/tensor_split (narrow/select), atleast_Nd, and the in-place
metadata ops ``t_``, ``transpose_``, ``squeeze_``, ``unsqueeze_``.
"""

from __future__ import annotations

from typing import Any

from ..dispatch import dispatch
from ..shape_rules import numel, wrap_dim
from ..tensor import Tensor, escape_hooks, notify_escape, register_methods
from .copy import contiguous
from .views import (
    NARROW,
    PERMUTE,
    SELECT,
    SQUEEZE,
    TRANSPOSE,
    UNSQUEEZE,
    VIEW_OP,
    as_int,
    int_tuple,
    reshape,
    transpose,
)


# ----- transposes ------------------------------------------------------------------------------------
def t(input: Tensor) -> Tensor:
    """The transpose of a matrix; 0-d and 1-d tensors are returned as views of themselves."""
    n = len(input._shape)
    if n > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {n}D")
    return dispatch(TRANSPOSE, input, dim0=0, dim1=n - 1 if n else 0)


def _reversed_dims(input: Tensor) -> Tensor:
    """``x.T``: the view with all dims in reverse order."""
    return dispatch(PERMUTE, input, dims=tuple(range(len(input._shape) - 1, -1, -1)))


def _matrix_transpose(input: Tensor) -> Tensor:
    """``x.mT``: the view with the last two dims swapped (a batch of transposed matrices)."""
    n = len(input._shape)
    if n == 0:
        return dispatch(PERMUTE, input, dims=())
    if n < 2:
        raise RuntimeError(f"tensor.mT is only supported on matrices or batches of matrices. Got {n}-D tensor.")
    return dispatch(TRANSPOSE, input, dim0=-2, dim1=-1)


def movedim(input: Tensor, source: int | tuple | list, destination: int | tuple | list) -> Tensor:
    """A view of ``input`` with some dims moved; the other dims keep their order.

    Args:
        source: the dim or dims to move.
        destination: the positions they take in the result, one per source dim.
    """
    src = int_tuple((source,), "movedim", "source")
    dst = int_tuple((destination,), "movedim", "destination")
    if len(src) != len(dst):
        raise RuntimeError(
            f"movedim: Invalid source or destination dims: source ({list(src)} dims) should contain the same number "
            f"of dims as destination ({list(dst)} dims)"
        )
    n = len(input._shape)
    wsrc = [wrap_dim(d, n) for d in src]
    wdst = [wrap_dim(d, n) for d in dst]
    if len(set(wsrc)) != len(wsrc):
        raise RuntimeError(f"movedim: repeated dim in `source` ({list(src)})")
    if len(set(wdst)) != len(wdst):
        raise RuntimeError(f"movedim: repeated dim in `destination` ({list(dst)})")
    if n == 0:
        return dispatch(PERMUTE, input, dims=())
    order = [-1] * n
    for s, d in zip(wsrc, wdst, strict=True):
        order[d] = s
    rest = iter(i for i in range(n) if i not in wsrc)
    return dispatch(PERMUTE, input, dims=tuple(o if o >= 0 else next(rest) for o in order))


# ----- flatten / unflatten ---------------------------------------------------------------------------
def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """``input`` with dims ``start_dim`` to ``end_dim`` (both included) merged into one: a view when the
    strides allow it, else a copy (as :func:`reshape`). A 0-d tensor becomes shape ``(1,)``.

    Example::

        >>> ember.zeros(2, 3, 4).flatten(1).shape
        ember.Size([2, 12])
    """
    n = len(input._shape)
    start, end = wrap_dim(start_dim, n), wrap_dim(end_dim, n)
    if n == 0:
        return reshape(input, (1,))
    if start > end:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    if start == end:
        return input
    shape = input._shape
    return reshape(input, shape[:start] + (numel(shape[start : end + 1]),) + shape[end + 1 :])


def ravel(input: Tensor) -> Tensor:
    """``input`` as a contiguous 1-d tensor: a view when ``input`` is contiguous, else a copy."""
    return dispatch(VIEW_OP, contiguous(input), size=(-1,))


def unflatten(input: Tensor, dim: int, sizes: tuple | list) -> Tensor:
    """A view of ``input`` with dim ``dim`` split into several.

    Args:
        dim: the dim to split.
        sizes: the new dims' sizes, whose product is that dim's size; one may be -1.
    """
    shape = input._shape
    d = wrap_dim(dim, len(shape))
    sizes = int_tuple((sizes,), "unflatten", "sizes")
    if not sizes:
        raise RuntimeError("unflatten: sizes must be non-empty")
    for i, s in enumerate(sizes):
        if s < -1:
            raise RuntimeError(f"unflatten: invalid shape dimension {s} at index {i} of shape {list(sizes)}")
    if sizes.count(-1) > 1:
        raise RuntimeError("unflatten: only one dimension can be inferred")
    known = numel(tuple(s for s in sizes if s != -1))
    if (known == 0 or shape[d] % known) if -1 in sizes else known != shape[d]:
        raise RuntimeError(
            f"unflatten: Provided sizes {list(sizes)} don't multiply up to the size of dim {d} ({shape[d]}) in the "
            "input tensor"
        )
    if -1 in sizes:
        i = sizes.index(-1)
        sizes = sizes[:i] + (shape[d] // known,) + sizes[i + 1 :]
    return dispatch(VIEW_OP, input, size=shape[:d] + sizes + shape[d + 1 :])


# ----- split / chunk / unbind ------------------------------------------------------------------------
def _dim_size_for(input: Tensor, dim: int, fn: str) -> tuple[int, int]:
    if not input._shape:
        raise RuntimeError(f"{fn} expects at least a 1-dimensional tensor")
    d = wrap_dim(dim, len(input._shape))
    return d, input._shape[d]


def _split_sizes(input: Tensor, d: int, sizes: tuple) -> tuple:
    pieces = []
    start = 0
    for length in sizes:
        pieces.append(dispatch(NARROW, input, dim=d, start=start, length=length))
        start += length
    return tuple(pieces)


def split(tensor: Tensor, split_size_or_sections: int | list | tuple, dim: int = 0) -> tuple:
    """``tensor`` cut along ``dim`` into a tuple of views.

    Args:
        split_size_or_sections: an int gives pieces of that size (the last may be smaller); a list gives
            pieces of those sizes, which must add up to the dim's size.
        dim: the dim to cut.

    Example::

        >>> [p.shape[0] for p in ember.zeros(5).split(2)]
        [2, 2, 1]
    """
    if isinstance(split_size_or_sections, list | tuple):
        sizes = int_tuple((split_size_or_sections,), "split_with_sizes", "split_sizes")
        d, dim_size = _dim_size_for(tensor, dim, "split_with_sizes")
        if any(s < 0 for s in sizes):
            raise RuntimeError(
                "split_with_sizes expects split_sizes have only non-negative entries, but got "
                f"split_sizes={list(sizes)}"
            )
        if sum(sizes) != dim_size:
            raise RuntimeError(
                f"split_with_sizes expects split_sizes to sum exactly to {dim_size} (input tensor's size at dimension "
                f"{d}), but got split_sizes={list(sizes)}"
            )
        return _split_sizes(tensor, d, sizes)
    size = as_int(split_size_or_sections, "split", "split_size")
    d, dim_size = _dim_size_for(tensor, dim, "split")
    if size < 0:
        raise RuntimeError(f"split expects split_size be non-negative, but got split_size={size}")
    if size == 0 and dim_size != 0:
        raise RuntimeError(f"split_size can only be 0 if dimension size is 0, but got dimension size of {dim_size}")
    if escape_hooks and type(dim_size) is not int and type(size) is int:
        # A fixed piece size along a dynamic dim makes the number of pieces follow the size: no graph can say that.
        notify_escape(tensor, "split() along a dynamic dim into pieces of a fixed size")
    count = max(-(-dim_size // size), 1) if size else 1
    return _split_sizes(tensor, d, (size,) * (count - 1) + (dim_size - size * (count - 1),))


def chunk(input: Tensor, chunks: int, dim: int = 0) -> tuple:
    """``input`` split along ``dim`` into at most ``chunks`` views of ``ceil(size / chunks)`` elements
    (the last may be smaller; fewer pieces come back when the size runs out first)."""
    chunks = as_int(chunks, "chunk", "chunks")
    d, dim_size = _dim_size_for(input, dim, "chunk")
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    if dim_size == 0:
        return _split_sizes(input, d, (0,) * chunks)
    return split(input, -(-dim_size // chunks), d)


def tensor_split(input: Tensor, indices_or_sections: Any, dim: int = 0) -> tuple:
    """``input`` cut along ``dim`` into a tuple of views.

    Args:
        indices_or_sections: an int ``n`` (or 0-d int64 tensor) gives ``n`` nearly equal sections, the first
            ``size % n`` one element larger; a list (or 1-d int64 tensor) of indices gives the pieces between
            them, clamped like slice bounds.
        dim: the dim to cut.
    """
    if not input._shape:
        raise RuntimeError(
            f"tensor_split expected at least a 1-dimensional tensor, but got a tensor with {input.dim()} dims"
        )
    if isinstance(indices_or_sections, Tensor):
        from .. import dtypes

        if indices_or_sections._dtype is not dtypes.int64:
            raise RuntimeError(
                "tensor_split expected tensor_indices_or_sections to have dtype of long, but got "
                f"{indices_or_sections.type().split('.')[-1].removesuffix('Tensor')}"
            )
        if indices_or_sections.dim() > 1:
            raise RuntimeError(
                "tensor_split expected tensor_indices_or_sections to be a zero-dimensional or one-dimensional "
                f"tensor, but got a tensor with {indices_or_sections.dim()} dims"
            )
        indices_or_sections = indices_or_sections.tolist()
    d = wrap_dim(dim, len(input._shape))
    dim_size = input._shape[d]
    if isinstance(indices_or_sections, list | tuple):
        bounds = [0]
        for index in int_tuple((indices_or_sections,), "tensor_split", "indices"):
            bounds.append(min(max(index + dim_size if index < 0 else index, 0), dim_size))
        bounds.append(dim_size)
        return tuple(dispatch(NARROW, input, dim=d, start=a, length=max(b - a, 0))
                     for a, b in zip(bounds, bounds[1:], strict=False))
    sections = as_int(indices_or_sections, "tensor_split", "sections")
    if sections <= 0:
        raise RuntimeError(f"number of sections must be larger than 0, got {sections}")
    if escape_hooks and type(dim_size) is not int:
        # Which sections get an extra element follows the size: no graph can say that.
        notify_escape(input, "tensor_split() along a dynamic dim into sections")
    base, extra = divmod(dim_size, sections)
    return _split_sizes(input, d, tuple(base + 1 if i < extra else base for i in range(sections)))


def unbind(input: Tensor, dim: int = 0) -> tuple:
    """The views ``input.select(dim, i)`` for every index ``i`` of dim ``dim``, as a tuple."""
    if not input._shape:
        raise IndexError("Dimension specified as 0 but tensor has no dimensions")
    d = wrap_dim(dim, len(input._shape))
    if escape_hooks and type(input._shape[d]) is not int:
        notify_escape(input, "unbind() or iteration")  # as many results as a dynamic size: no graph can say that
    return tuple(dispatch(SELECT, input, dim=d, index=i) for i in range(input._shape[d]))


# ----- atleast_Nd ------------------------------------------------------------------------------------
def _atleast(tensors: tuple, make) -> Tensor | tuple:
    if len(tensors) == 1 and isinstance(tensors[0], list | tuple):
        return tuple(make(t) for t in tensors[0])
    if len(tensors) == 1:
        return make(tensors[0])
    return tuple(make(t) for t in tensors)


def atleast_1d(*tensors: Tensor) -> Tensor | tuple:
    """Each tensor as a view with at least one dim (0-d becomes shape ``(1,)``)."""
    return _atleast(tensors, lambda x: x if x._shape else dispatch(VIEW_OP, x, size=(1,)))


def atleast_2d(*tensors: Tensor) -> Tensor | tuple:
    """Each tensor as a view with at least two dims (new dims lead)."""
    def make(x: Tensor) -> Tensor:
        n = len(x._shape)
        return x if n >= 2 else dispatch(VIEW_OP, x, size=(1,) * (2 - n) + x._shape)

    return _atleast(tensors, make)


def atleast_3d(*tensors: Tensor) -> Tensor | tuple:
    """Each tensor as a view with at least three dims: ``(n,)`` becomes ``(1, n, 1)``, ``(m, n)`` becomes
    ``(m, n, 1)``."""
    def make(x: Tensor) -> Tensor:
        n = len(x._shape)
        if n >= 3:
            return x
        if n == 0:
            return dispatch(VIEW_OP, x, size=(1, 1, 1))
        return dispatch(UNSQUEEZE, dispatch(UNSQUEEZE, x, dim=0) if n == 1 else x, dim=-1)

    return _atleast(tensors, make)


# ----- in-place metadata ops -------------------------------------------------------------------------
def _become(input: Tensor, view: Tensor) -> Tensor:
    """Give ``input`` the window of ``view`` (same storage); its cached array is now stale."""
    input._shape, input._stride, input._offset = view._shape, view._stride, view._offset
    input._np = None
    return input


def t_(input: Tensor) -> Tensor:
    """In-place :func:`t`: ``input`` itself becomes its transpose."""
    return _become(input, t(input))


def transpose_(input: Tensor, dim0: int, dim1: int) -> Tensor:
    """In-place :func:`transpose`."""
    return _become(input, transpose(input, dim0, dim1))


def squeeze_(input: Tensor, dim: int | tuple | list | None = None) -> Tensor:
    """In-place :func:`squeeze`."""
    return _become(input, dispatch(SQUEEZE, input, dims=None if dim is None else int_tuple((dim,), "squeeze_", "dim")))


def unsqueeze_(input: Tensor, dim: int) -> Tensor:
    """In-place :func:`unsqueeze`."""
    return _become(input, dispatch(UNSQUEEZE, input, dim=as_int(dim, "unsqueeze_", "dim")))


swapaxes = swapdims = transpose
moveaxis = movedim

__all__ = ["swapaxes", "swapdims", "t", "movedim", "moveaxis", "flatten", "ravel", "unflatten", "split",
           "chunk", "tensor_split", "unbind", "atleast_1d", "atleast_2d", "atleast_3d"]

register_methods(swapaxes=swapaxes, swapdims=swapdims, t=t, movedim=movedim, moveaxis=moveaxis,
                 flatten=flatten, ravel=ravel, unflatten=unflatten, split=split, chunk=chunk, tensor_split=tensor_split,
                 unbind=unbind, t_=t_, transpose_=transpose_, squeeze_=squeeze_, unsqueeze_=unsqueeze_,
                 T=property(_reversed_dims), mT=property(_matrix_transpose))
