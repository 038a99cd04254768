"""Shape ops that copy: cat and stack, flip and roll, tril/triu, repeat/tile and repeat_interleave.

Each primitive has a NumPy kernel returning a fresh array; ``stack``, ``tile`` and the ``*stack`` helpers
are written in the primitives and the views of ``views.py``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import dtypes
from ..dispatch import dispatch
from ..registry import Meta, defop, derivative
from ..shape_rules import wrap_dim, wrap_dims
from ..tensor import Tensor, register_methods
from .promotion import not_implemented
from .view_composites import atleast_1d, atleast_2d, atleast_3d
from .views import NARROW, SELECT, as_int, int_tuple, int_varargs


def _is_skipped_in_cat(shape: tuple) -> bool:
    # PyTorch still accepts the legacy empty tensor of shape (0,) next to tensors of any rank in cat.
    return shape == (0,)


# ----- cat / stack -----------------------------------------------------------------------------------
def _promoted(dts: list) -> dtypes.dtype:
    result = dts[0]
    for dt in dts:
        if dt is not result:
            result = dtypes.promote_types(result, dt)
    return result


def _cat_meta(tensors: list, dim: int) -> Meta:
    if not tensors:
        raise ValueError("cat(): expected a non-empty list of Tensors")
    ref = None
    total = 0
    for i, t in enumerate(tensors):
        shape = t._shape
        if not shape:
            raise RuntimeError(f"zero-dimensional tensor (at position {i}) cannot be concatenated")
        if _is_skipped_in_cat(shape):
            continue
        if ref is None:
            ref = shape
            d = wrap_dim(dim, len(ref))
        elif len(shape) != len(ref):
            raise RuntimeError(f"Tensors must have same number of dimensions: got {len(ref)} and {len(shape)}")
        elif shape != ref:
            for k, (want, got) in enumerate(zip(ref, shape, strict=True)):
                if k != d and want != got:
                    raise RuntimeError(
                        f"Sizes of tensors must match except in dimension {d}. Expected size {want} but got size {got} "
                        f"for tensor number {i} in the list."
                    )
        total += shape[d]
    dtype = _promoted([t._dtype for t in tensors])
    if ref is None:
        return Meta((0,), dtype)
    return Meta(ref[:d] + (total,) + ref[d + 1 :], dtype)


def _common_dtype(arrays: list) -> tuple[list, np.dtype]:
    """The arrays cast to their promoted dtype (PyTorch's promotion, not NumPy's), and that dtype."""
    np_dtype = arrays[0].dtype
    for a in arrays:
        if a.dtype != np_dtype:
            np_dtype = _promoted([dtypes.from_numpy_dtype(a.dtype) for a in arrays]).np_dtype
            return [a.astype(np_dtype, copy=False) for a in arrays], np_dtype
    return arrays, np_dtype


def _cat_kernel(arrays: list, dim: int) -> np.ndarray:
    arrays, np_dtype = _common_dtype(arrays)
    kept = [a for a in arrays if not _is_skipped_in_cat(a.shape)]
    if not kept:
        return np.empty((0,), dtype=np_dtype)
    return np.concatenate(kept, axis=dim)


CAT = defop("cat", _cat_meta, cpu=_cat_kernel, doc="Join tensors along an existing dim, promoting dtypes.")


@derivative(CAT)
def _cat_backward(ctx: Any, grad: Tensor) -> list:
    # Each input gets its own slice of the gradient; skipped legacy (0,) inputs get an empty gradient.
    grads = []
    start = 0
    for shape in ctx.shape(0):
        if _is_skipped_in_cat(shape):
            grads.append(grad.new_zeros(shape))
            continue
        d = wrap_dim(ctx.attrs["dim"], len(shape))
        grads.append(dispatch(NARROW, grad, dim=d, start=start, length=shape[d]))
        start += shape[d]
    return grads


def _tensor_list(tensors: Any, fn: str) -> list:
    if isinstance(tensors, Tensor) or not isinstance(tensors, list | tuple):
        raise TypeError(
            f"{fn}(): argument 'tensors' (position 1) must be tuple of Tensors, not {type(tensors).__name__}"
        )
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"expected Tensor as element {i} in argument 0, but got {type(t).__name__}")
    return list(tensors)


def cat(tensors: list | tuple, dim: int = 0) -> Tensor:
    """The tensors joined along ``dim``; their other sizes must match. The result dtype is their promoted
    dtype, and 1-d empty tensors are skipped, as in PyTorch.

    Example::

        >>> ember.cat([ember.zeros(1, 2), ember.ones(2, 2)]).shape
        ember.Size([3, 2])
    """
    return dispatch(CAT, _tensor_list(tensors, "cat"), dim=as_int(dim, "cat", "dim"))


def _stack_meta(tensors: list, dim: int) -> Meta:
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    first = tensors[0]._shape
    for i, t in enumerate(tensors[1:], start=1):
        if t._shape != first:
            raise RuntimeError(
                f"stack expects each tensor to be equal size, but got {list(first)} at entry 0 and {list(t._shape)} "
                f"at entry {i}"
            )
    d = wrap_dim(dim, len(first) + 1)
    return Meta(first[:d] + (len(tensors),) + first[d:], _promoted([t._dtype for t in tensors]))


def _stack_kernel(arrays: list, dim: int) -> np.ndarray:
    arrays = _common_dtype(arrays)[0]
    d = dim if dim >= 0 else dim + arrays[0].ndim + 1
    # Concatenating views with a new axis is np.stack without its per-call Python overhead.
    new_axis = (slice(None),) * d + (None,)
    return np.concatenate([a[new_axis] for a in arrays], axis=d)


# A primitive rather than unsqueeze + cat: one kernel call instead of a view per input.
STACK = defop("stack", _stack_meta, cpu=_stack_kernel, doc="Join equally shaped tensors along a new dim.")


@derivative(STACK)
def _stack_backward(ctx: Any, grad: Tensor) -> list:
    d = ctx.attrs["dim"]
    return [dispatch(SELECT, grad, dim=d, index=i) for i in range(len(ctx.shape(0)))]


def stack(tensors: list | tuple, dim: int = 0) -> Tensor:
    """The equally shaped tensors joined along a new dim; the dtype is their promoted dtype.

    Args:
        tensors: a non-empty sequence of tensors of one shape.
        dim: the position of the new dim, in ``[-ndim - 1, ndim]``.

    Example::

        >>> ember.stack([ember.zeros(2), ember.ones(2)], dim=1)
        tensor([[0., 1.],
                [0., 1.]])
    """
    return dispatch(STACK, _tensor_list(tensors, "stack"), dim=as_int(dim, "stack", "dim"))


def _stack_along(tensors: Any, fn: str, make, dim_for) -> Tensor:
    tensors = _tensor_list(tensors, fn)
    if not tensors:
        raise RuntimeError(f"{fn} expects a non-empty TensorList")
    parts = [make(t) for t in tensors]
    return dispatch(CAT, parts, dim=dim_for(parts[0]))


def hstack(tensors: list | tuple) -> Tensor:
    """The tensors joined column-wise: along dim 1, or dim 0 for 1-d tensors (0-d ones become 1-d)."""
    return _stack_along(tensors, "hstack", atleast_1d, lambda first: 0 if first.dim() == 1 else 1)


def vstack(tensors: list | tuple) -> Tensor:
    """The tensors joined row-wise, along dim 0, after making each at least 2-d."""
    return _stack_along(tensors, "vstack", atleast_2d, lambda first: 0)


def dstack(tensors: list | tuple) -> Tensor:
    """The tensors joined depth-wise, along dim 2, after making each at least 3-d."""
    return _stack_along(tensors, "dstack", atleast_3d, lambda first: 2)


# ----- flip / roll -----------------------------------------------------------------------------------
def _same_meta(a: Tensor, **_: Any) -> Meta:
    return Meta(a._shape, a._dtype)


def _flip_kernel(a: np.ndarray, dims: tuple) -> np.ndarray:
    return np.flip(a, dims).copy()


FLIP = defop("flip", _same_meta, cpu=_flip_kernel, doc="Reverse the order of elements along dims.")


@derivative(FLIP)
def _flip_backward(ctx: Any, grad: Tensor) -> Tensor:
    return dispatch(FLIP, grad, **ctx.attrs)


def flip(input: Tensor, *axes: Any, dims: Any = None) -> Tensor:
    """A copy of ``input`` with the order of elements reversed along each of ``dims`` (``flip(x, (0, 1))``
    or ``x.flip(0, 1)``)."""
    wrapped = wrap_dims(int_varargs(axes if dims is None else (dims,), "flip", "dims"), len(input._shape))
    return dispatch(FLIP, input, dims=wrapped if input._shape else ())


def fliplr(input: Tensor) -> Tensor:
    """``input`` flipped left-right (along dim 1); needs at least 2 dims."""
    if input.dim() < 2:
        raise RuntimeError("Input must be >= 2-d.")
    return dispatch(FLIP, input, dims=(1,))


def flipud(input: Tensor) -> Tensor:
    """``input`` flipped up-down (along dim 0); needs at least 1 dim."""
    if input.dim() < 1:
        raise RuntimeError("Input must be >= 1-d.")
    return dispatch(FLIP, input, dims=(0,))


def _roll_kernel(a: np.ndarray, shifts: tuple, dims: tuple) -> np.ndarray:
    # No dims: the tensor is rolled as if flattened, then given its shape back.
    return np.roll(a, shifts, axis=dims) if dims else np.roll(a, shifts[0])


ROLL = defop("roll", _same_meta, cpu=_roll_kernel, doc="Rotate elements along dims (or the flattened tensor).")


@derivative(ROLL)
def _roll_backward(ctx: Any, grad: Tensor) -> Tensor:
    return dispatch(ROLL, grad, shifts=tuple(-s for s in ctx.attrs["shifts"]), dims=ctx.attrs["dims"])


def roll(input: Tensor, shifts: int | tuple | list, dims: int | tuple | list | None = None) -> Tensor:
    """A copy of ``input`` whose elements move along dims, those pushed past the end coming back in front.

    Args:
        shifts: the number of places to move, one per dim of ``dims`` (negative moves backwards).
        dims: the dims to roll; None rolls the tensor as if flattened, then restores its shape.
    """
    shifts = int_tuple((shifts,), "roll", "shifts")
    dims = () if dims is None else int_tuple((dims,), "roll", "dims")
    if not shifts:
        raise RuntimeError("`shifts` required")
    if len(shifts) != len(dims) and not (not dims and len(shifts) == 1):
        raise RuntimeError(f"shifts and dimensions must align. shifts: {len(shifts)}, dims:{len(dims)}")
    if dims and not input._shape:
        raise IndexError("Dimension specified as 0 but tensor has no dimensions")
    return dispatch(ROLL, input, shifts=shifts, dims=tuple(wrap_dim(d, len(input._shape)) for d in dims))


# ----- tril / triu -----------------------------------------------------------------------------------
def _triangle_meta(name: str):
    def infer(a: Tensor, diagonal: int) -> Meta:
        if len(a._shape) < 2:
            raise RuntimeError(f"{name}: input tensor must have at least 2 dimensions")
        return Meta(a._shape, a._dtype)

    return infer


def _tril_kernel(a: np.ndarray, diagonal: int) -> np.ndarray:
    return np.tril(a, diagonal)


def _triu_kernel(a: np.ndarray, diagonal: int) -> np.ndarray:
    return np.triu(a, diagonal)


TRIL = defop("tril", _triangle_meta("tril"), cpu=_tril_kernel, doc="Zero the elements above a diagonal.")
TRIU = defop("triu", _triangle_meta("triu"), cpu=_triu_kernel, doc="Zero the elements below a diagonal.")



@derivative(TRIL)
def _tril_backward(ctx: Any, grad: Tensor) -> Tensor:
    return dispatch(TRIL, grad, **ctx.attrs)


@derivative(TRIU)
def _triu_backward(ctx: Any, grad: Tensor) -> Tensor:
    return dispatch(TRIU, grad, **ctx.attrs)


def tril(input: Tensor, diagonal: int = 0) -> Tensor:
    """A copy of ``input`` keeping the lower triangle of its last two dims (on and below diagonal
    ``diagonal``), zeros elsewhere; leading dims are a batch."""
    return dispatch(TRIL, input, diagonal=as_int(diagonal, "tril", "diagonal"))


def triu(input: Tensor, diagonal: int = 0) -> Tensor:
    """A copy of ``input`` keeping the upper triangle of its last two dims (on and above diagonal
    ``diagonal``), zeros elsewhere; leading dims are a batch."""
    return dispatch(TRIU, input, diagonal=as_int(diagonal, "triu", "diagonal"))


# ----- repeat / tile / repeat_interleave -------------------------------------------------------------
def _repeat_meta(a: Tensor, repeats: tuple) -> Meta:
    if len(repeats) < len(a._shape):
        raise RuntimeError(
            "Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor"
        )
    padded = (1,) * (len(repeats) - len(a._shape)) + a._shape
    shape = tuple(s * r for s, r in zip(padded, repeats, strict=True))
    for s in shape:
        if s < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {s}: {list(shape)}")
    return Meta(shape, a._dtype)


def _repeat_kernel(a: np.ndarray, repeats: tuple) -> np.ndarray:
    # np.tile is PyTorch's repeat once the tensor has as many dims as there are repeats.
    return np.tile(a.reshape((1,) * (len(repeats) - a.ndim) + a.shape), repeats)


REPEAT = defop("repeat", _repeat_meta, cpu=_repeat_kernel, doc="Tile the whole tensor along each dim.")


@derivative(REPEAT)
def _repeat_backward(ctx: Any, grad: Tensor) -> Tensor:
    # Output dim i is (tile, element) pairs flattened; splitting it in two and summing the tile dims adds up
    # every copy of each element.
    repeats = ctx.attrs["repeats"]
    shape = ctx.shape(0)
    padded = (1,) * (len(repeats) - len(shape)) + shape
    split = tuple(n for pair in zip(repeats, padded, strict=True) for n in pair)
    tiles = [2 * i for i, r in enumerate(repeats) if r != 1]
    grad = grad.reshape(split)
    if tiles:
        grad = grad.sum(dim=tiles)
    return grad.reshape(shape)


def repeat(input: Tensor, *repeats: Any) -> Tensor:
    """``input`` tiled ``repeats[i]`` times along dim ``i``; extra leading repeats add dims (PyTorch's
    ``Tensor.repeat``, which is NumPy's ``tile``, not NumPy's ``repeat``)."""
    return dispatch(REPEAT, input, repeats=int_varargs(repeats, "repeat", "repeats"))


def tile(input: Tensor, *reps: Any, dims: Any = None) -> Tensor:
    """``input`` repeated ``dims[i]`` times along dim ``i`` (``tile(x, (2, 3))`` or ``x.tile(2, 3)``); fewer
    ``dims`` than the tensor has are padded with 1s in front."""
    reps = int_varargs(reps if dims is None else (dims,), "tile", "dims")
    return dispatch(REPEAT, input, repeats=(1,) * (len(input._shape) - len(reps)) + reps)


def _repeat_interleave_meta(a: Tensor, repeats: Any, dim: int, output_size: int | None) -> Meta:
    if isinstance(repeats, int):
        return Meta(a._shape[:dim] + (a._shape[dim] * repeats,) + a._shape[dim + 1 :], a._dtype)
    if repeats._dtype.is_floating_point or repeats._dtype is dtypes.bool:
        raise not_implemented("repeat_interleave_cpu", repeats._dtype)
    if repeats.dim() > 1:
        raise RuntimeError("repeats must be 0-dim or 1-dim tensor")
    if repeats.numel() != 1 and repeats.numel() != a._shape[dim]:
        raise RuntimeError(
            "repeats must have the same size as input along dim, but got repeats.size(0) = "
            f"{repeats.numel()} and input.size({dim}) = {a._shape[dim]}"
        )
    if output_size is None:
        return Meta(None, a._dtype)
    return Meta(a._shape[:dim] + (output_size,) + a._shape[dim + 1 :], a._dtype)


def _repeat_interleave_kernel(a: np.ndarray, repeats: Any, dim: int, output_size: int | None) -> np.ndarray:
    if not isinstance(repeats, int) and (np.asarray(repeats) < 0).any():
        raise RuntimeError("repeats can not be negative")
    out = np.repeat(a, np.asarray(repeats).reshape(-1) if not isinstance(repeats, int) else repeats, axis=dim)
    if output_size is not None and out.shape[dim] != output_size:
        raise RuntimeError("allocated size does not match required size")
    return out


REPEAT_INTERLEAVE = defop("repeat_interleave", _repeat_interleave_meta, cpu=_repeat_interleave_kernel,
                          doc="Repeat each element along a dim (repeats an int or a per-element tensor).")


@derivative(REPEAT_INTERLEAVE, saves=(1,))
def _repeat_interleave_backward(ctx: Any, grad: Tensor) -> tuple:
    shape = ctx.shape(0)
    d = ctx.attrs["dim"]
    repeats = ctx.input(1)
    if isinstance(repeats, Tensor) and repeats.numel() == 1:
        repeats = int(repeats.item())
    if isinstance(repeats, int):
        # The copies of element j are the slots j * repeats ... (j + 1) * repeats - 1: a new dim to sum over.
        split = grad.reshape(shape[:d] + (shape[d], repeats) + shape[d + 1 :])
        return split.sum(dim=d + 1), None
    from .gather_scatter import index_add
    from .ranges import arange

    # Per-element counts: output slot k came from element owner[k], whose gradients add up.
    owner = dispatch(REPEAT_INTERLEAVE, arange(shape[d]), repeats, dim=0, output_size=grad._shape[d])
    return index_add(grad.new_zeros(shape), d, owner, grad), None


def repeat_interleave(input: Tensor, repeats: int | Tensor | None = None, dim: int | None = None, *,
                      output_size: int | None = None) -> Tensor:
    """Each element of ``input`` repeated along ``dim``, the copies side by side.

    Args:
        repeats: an int for every element, or an integer tensor with one count per index of ``dim`` (or a
            single count).
        dim: the dim to repeat along; None repeats the elements of the flattened tensor.
        output_size: the size of the result along ``dim``, if known (checked).

    ``repeat_interleave(counts)`` alone gives ``repeat_interleave(arange(len(counts)), counts)``.
    """
    if repeats is None:
        from ..creation import tensor

        if input.dim() > 1:
            raise RuntimeError("repeats must be 0-dim or 1-dim tensor")
        input, repeats, dim = tensor(np.arange(input.numel())), input, 0
    if dim is None or not input._shape:
        input, dim = input.reshape(-1), 0
    dim = wrap_dim(dim, len(input._shape))
    if not isinstance(repeats, Tensor):
        repeats = as_int(repeats, "repeat_interleave", "repeats")
        if repeats < 0:
            raise RuntimeError("Repeats must be non-negative")
    if output_size is not None:
        output_size = as_int(output_size, "repeat_interleave", "output_size")
    return dispatch(REPEAT_INTERLEAVE, input, repeats, dim=dim, output_size=output_size)


concat = concatenate = cat

__all__ = ["cat", "concat", "concatenate", "stack", "hstack", "vstack", "dstack", "flip", "fliplr", "flipud", "roll",
           "tril", "triu", "tile", "repeat_interleave"]

register_methods(flip=flip, fliplr=fliplr, flipud=flipud, roll=roll, tril=tril, triu=triu, repeat=repeat, tile=tile,
                 repeat_interleave=repeat_interleave)
