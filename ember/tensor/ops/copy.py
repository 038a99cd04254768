"""Copies and casts: clone, the dtype cast behind ``to``/``float()``..., ``copy_`` and ``fill_``."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import dtypes
from ..devices import as_device, device
from ..dispatch import dispatch
from ..registry import INPLACE, Meta, defop, derivative
from ..shape_rules import broadcast_shapes
from ..tensor import Tensor, register_methods


def _same_meta(a: np.ndarray, *_: Any, **__: Any) -> Meta:
    return Meta(a._shape, a._dtype)


def _clone_kernel(a: np.ndarray) -> np.ndarray:
    return np.array(a, copy=True, order="C")


CLONE = defop("clone", _same_meta, cpu=_clone_kernel, doc="A copy with its own storage.")


@derivative(CLONE)
def _clone_backward(ctx: Any, grad: Tensor) -> Tensor:
    return grad


def _cast_meta(a: Tensor, dtype: dtypes.dtype) -> Meta:
    return Meta(a._shape, dtype)


def _cast_kernel(a: np.ndarray, dtype: dtypes.dtype) -> np.ndarray:
    # NaN/inf to integer is undefined in C and in PyTorch; NumPy only warns, and the warning is noise here.
    with np.errstate(invalid="ignore", over="ignore"):
        return a.astype(dtype.np_dtype)


CAST = defop("cast", _cast_meta, cpu=_cast_kernel, doc="Element-wise conversion to another dtype.")


@derivative(CAST)
def _cast_backward(ctx: Any, grad: Tensor) -> Tensor:
    # The engine casts the gradient back to the input's dtype.
    return grad


def check_writable_without_overlap(dst: Tensor, op_name: str) -> None:
    """PyTorch refuses writes through expanded views, where several elements share one memory location."""
    for size, stride in zip(dst._shape, dst._stride, strict=True):
        if size > 1 and stride == 0:
            raise RuntimeError(
                f"{op_name}: unsupported operation: more than one element of the written-to tensor refers to a "
                "single memory location. Please clone() the tensor before performing the operation."
            )


def _copy_meta(dst: Tensor, src: Tensor) -> Meta:
    if not isinstance(src, Tensor):
        raise TypeError(f"copy_(): argument 'src' must be Tensor, not {type(src).__name__}")
    check_writable_without_overlap(dst, "copy_")
    if broadcast_shapes(dst._shape, src._shape, names=("self", "src")) != dst._shape:
        raise RuntimeError(f"copy_(): the source of shape {list(src._shape)} can't be broadcast to {list(dst._shape)}")
    return Meta(dst._shape, dst._dtype)


def _copy_kernel(dst: np.ndarray, src: np.ndarray) -> None:
    with np.errstate(invalid="ignore", over="ignore"):
        np.copyto(dst, src, casting="unsafe")


COPY_ = defop("copy_", _copy_meta, cpu=_copy_kernel, kind=INPLACE, doc="Write src (broadcast, cast) into dst.")


def _overwritten_grad(ctx: Any, grad: Tensor) -> Tensor | None:
    """The gradient of a tensor's old value after an in-place op replaced all of it: zeros, as PyTorch gives (so
    the old history's leaves get a zero ``.grad``, not None)."""
    from ..creation import zeros_like

    return zeros_like(grad) if ctx.needs_input_grad[0] else None


@derivative(COPY_)
def _copy_backward(ctx: Any, grad: Tensor) -> tuple:
    # The engine sums src's broadcast dims and casts to its dtype.
    return _overwritten_grad(ctx, grad), grad


def _fill_meta(dst: Tensor, value: Any) -> Meta:
    check_writable_without_overlap(dst, "fill_")
    return Meta(dst._shape, dst._dtype)


def _fill_kernel(dst: np.ndarray, value: Any) -> None:
    with np.errstate(invalid="ignore", over="ignore"):
        dst[...] = value


FILL_ = defop("fill_", _fill_meta, cpu=_fill_kernel, kind=INPLACE, doc="Set every element to a scalar.")
derivative(FILL_)(_overwritten_grad)


def clone(input: Tensor, *, memory_format: Any = None) -> Tensor:
    """A copy of ``input`` with its own contiguous storage."""
    return dispatch(CLONE, input)


def contiguous(input: Tensor, memory_format: Any = None) -> Tensor:
    """``input`` itself when already contiguous, else a contiguous copy."""
    return input if input.is_contiguous() else dispatch(CLONE, input)


def copy_(input: Tensor, src: Tensor, non_blocking: bool = False) -> Tensor:
    """Copy ``src`` into ``input`` in place, broadcasting and casting; returns ``input``."""
    if not isinstance(src, Tensor):
        from ..creation import tensor

        src = tensor(src, dtype=input._dtype)
    if src._storage.device != input._storage.device:
        src = src.to(input.device)
    return dispatch(COPY_, input, src)


def fill_(input: Tensor, value: Any) -> Tensor:
    """Set every element of ``input`` to ``value`` (a number or a one-element tensor)."""
    if isinstance(value, Tensor):
        if value.dim() != 0:
            raise RuntimeError(
                f"fill_ only supports 0-dimension value tensor but got tensor with {value.dim()} dimensions."
            )
        value = value.item()
    return dispatch(FILL_, input, value)


def zero_(input: Tensor) -> Tensor:
    """Set every element of ``input`` to zero in place."""
    return dispatch(FILL_, input, 0)


def to_impl(self: Tensor, *args: Any, **kwargs: Any) -> Tensor:
    """Parse PyTorch's ``Tensor.to`` overloads and convert; returns ``self`` when nothing changes."""
    target_device: device | None = None
    target_dtype: dtypes.dtype | None = None
    copy = kwargs.pop("copy", False)
    kwargs.pop("non_blocking", None)
    kwargs.pop("memory_format", None)
    positional = list(args)
    if positional and isinstance(positional[0], Tensor):
        other = positional.pop(0)
        target_device, target_dtype = other.device, other.dtype
    for value in positional + [kwargs.pop("device", None), kwargs.pop("dtype", None)]:
        if value is None or isinstance(value, bool):
            continue
        if isinstance(value, dtypes.dtype):
            target_dtype = value
        elif isinstance(value, str | device | int):
            target_device = as_device(value)
        else:
            raise TypeError(f"to() received an invalid combination of arguments: got {type(value).__name__}")
    if kwargs:
        raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
    result = self
    if target_device is not None and target_device != self.device:
        result = _transfer(result, target_device)
        copy = False
    if target_dtype is not None and target_dtype is not result._dtype:
        result = dispatch(CAST, result, dtype=target_dtype)
    elif copy:
        result = dispatch(CLONE, result)
    return result


def _transfer(t: Tensor, dev: device) -> Tensor:
    """Copy ``t`` to another device through host memory (the target backend refuses if it is unavailable)."""
    from ...backends import get_backend
    from ...backends.cpu import contiguous_strides
    from ..storage import Storage

    backend = get_backend(dev.type)
    src = contiguous(t)
    flat = src._storage.backend.allocator.to_host(src._storage.data)[src._offset : src._offset + src.numel()]
    buffer = backend.allocator.from_host(flat)
    return Tensor._make(Storage(buffer, dev, backend), t._shape, contiguous_strides(t._shape), 0, t._dtype)


__all__ = ["clone"]

register_methods(clone=clone, contiguous=contiguous, copy_=copy_, fill_=fill_, zero_=zero_)
