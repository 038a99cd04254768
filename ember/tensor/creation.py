"""Tensor creation from data and from sizes: tensor, as_tensor, from_numpy, zeros/ones/full/empty and ``_like``.

``full`` and ``empty`` are registry ops (they have kernels per device and the tracer records them);
``tensor``/``from_numpy`` bring host data in through the target backend's allocator.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from ..backends import get_backend
from ..backends.cpu import contiguous_strides
from . import dtypes
from .devices import as_device, device
from .dispatch import dispatch
from .registry import Meta, defop
from .shape_rules import parse_size
from .storage import Storage
from .tensor import Tensor, escape_hooks, notify_escape, register_methods

DeviceLike = device | str | int | None


def _full_meta(shape: tuple, fill_value: Any, dtype: dtypes.dtype) -> Meta:
    return Meta(shape, dtype)


def _full_kernel(shape: tuple, fill_value: Any, dtype: dtypes.dtype) -> np.ndarray:
    with np.errstate(invalid="ignore", over="ignore"):
        return np.full(shape, fill_value, dtype=dtype.np_dtype)


def _empty_kernel(shape: tuple, dtype: dtypes.dtype) -> np.ndarray:
    return np.empty(shape, dtype=dtype.np_dtype)


def _empty_meta(shape: tuple, dtype: dtypes.dtype) -> Meta:
    return Meta(shape, dtype)


FULL = defop("full", _full_meta, cpu=_full_kernel, doc="A new tensor of one value.")
EMPTY = defop("empty", _empty_meta, cpu=_empty_kernel, doc="A new tensor with uninitialised contents.")


def set_requires_grad(t: Tensor, requires_grad: bool) -> Tensor:
    """Apply a creation function's ``requires_grad=`` (refused for non-floating dtypes, as in PyTorch)."""
    if requires_grad:
        t.requires_grad_(True)
    return t


def accepts_requires_grad(factory: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """Give a factory PyTorch's ``requires_grad=False`` keyword (for factories defined outside this module)."""

    @functools.wraps(factory)
    def wrapper(*args: Any, requires_grad: bool = False, **kwargs: Any) -> Tensor:
        return set_requires_grad(factory(*args, **kwargs), requires_grad)

    return wrapper


def _check_dtype(dtype: Any) -> None:
    if dtype is not None and not isinstance(dtype, dtypes.dtype):
        raise TypeError(f"dtype must be an ember.dtype, got {dtype!r}")


def full(
    size: Any,
    fill_value: bool | int | float,
    *,
    dtype: dtypes.dtype | None = None,
    device: DeviceLike = None,
    requires_grad: bool = False,
) -> Tensor:
    """A tensor of shape ``size`` filled with ``fill_value``; the dtype is inferred from the value if not given.

    Example::

        >>> ember.full((2, 3), 1.5)
        tensor([[1.5000, 1.5000, 1.5000],
                [1.5000, 1.5000, 1.5000]])
    """
    _check_dtype(dtype)
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    shape = parse_size((size,))
    return set_requires_grad(
        dispatch(FULL, shape, fill_value, dtype=dtype or dtypes.scalar_dtype(fill_value), device=device), requires_grad
    )


def zeros(
    *size: Any, dtype: dtypes.dtype | None = None, device: DeviceLike = None, requires_grad: bool = False
) -> Tensor:
    """A tensor of zeros, ``zeros(2, 3)`` or ``zeros((2, 3))``; default dtype float."""
    _check_dtype(dtype)
    return set_requires_grad(
        dispatch(FULL, parse_size(size), 0, dtype=dtype or dtypes.get_default_dtype(), device=device), requires_grad
    )


def ones(
    *size: Any, dtype: dtypes.dtype | None = None, device: DeviceLike = None, requires_grad: bool = False
) -> Tensor:
    """A tensor of ones, ``ones(2, 3)`` or ``ones((2, 3))``; default dtype float."""
    _check_dtype(dtype)
    return set_requires_grad(
        dispatch(FULL, parse_size(size), 1, dtype=dtype or dtypes.get_default_dtype(), device=device), requires_grad
    )


def empty(
    *size: Any, dtype: dtypes.dtype | None = None, device: DeviceLike = None, requires_grad: bool = False
) -> Tensor:
    """A tensor whose contents are whatever memory held; default dtype float."""
    _check_dtype(dtype)
    return set_requires_grad(
        dispatch(EMPTY, parse_size(size), dtype=dtype or dtypes.get_default_dtype(), device=device), requires_grad
    )


def zeros_like(
    input: Tensor, *, dtype: dtypes.dtype | None = None, device: DeviceLike = None, requires_grad: bool = False
) -> Tensor:
    return set_requires_grad(
        zeros(input._shape, dtype=dtype or input.dtype, device=device or input.device), requires_grad
    )


def ones_like(
    input: Tensor, *, dtype: dtypes.dtype | None = None, device: DeviceLike = None, requires_grad: bool = False
) -> Tensor:
    return set_requires_grad(
        ones(input._shape, dtype=dtype or input.dtype, device=device or input.device), requires_grad
    )


def empty_like(
    input: Tensor, *, dtype: dtypes.dtype | None = None, device: DeviceLike = None, requires_grad: bool = False
) -> Tensor:
    return set_requires_grad(
        empty(input._shape, dtype=dtype or input.dtype, device=device or input.device), requires_grad
    )


def full_like(
    input: Tensor,
    fill_value: Any,
    *,
    dtype: dtypes.dtype | None = None,
    device: DeviceLike = None,
    requires_grad: bool = False,
) -> Tensor:
    return set_requires_grad(
        full(input._shape, fill_value, dtype=dtype or input.dtype, device=device or input.device), requires_grad
    )


def _new_factory(factory):
    def method(self: Tensor, *size: Any, dtype: dtypes.dtype | None = None, device: DeviceLike = None) -> Tensor:
        return factory(*size, dtype=dtype or self.dtype, device=device or self.device)

    method.__name__ = f"new_{factory.__name__}"
    method.__doc__ = f"``ember.{factory.__name__}`` with this tensor's dtype and device as defaults."
    return method


def new_full(
    self: Tensor, size: Any, fill_value: Any, *, dtype: dtypes.dtype | None = None, device: DeviceLike = None
) -> Tensor:
    return full(size, fill_value, dtype=dtype or self.dtype, device=device or self.device)


def new_tensor(self: Tensor, data: Any, *, dtype: dtypes.dtype | None = None, device: DeviceLike = None) -> Tensor:
    return tensor(data, dtype=dtype or self.dtype, device=device or self.device)


# ----- from data ------------------------------------------------------------------------------------------
def _host_array_from_data(data: Any) -> tuple[np.ndarray, dtypes.dtype]:
    """A host array for ``data`` and the dtype PyTorch infers for it (bool, int64, default float).

    Python numbers are held in float64/int64 until the final cast, so an explicit ``dtype=float64`` keeps
    values the default float32 could not hold.
    """
    if isinstance(data, np.ndarray):
        return data, dtypes.from_numpy_dtype(data.dtype)
    if isinstance(data, Tensor):
        if escape_hooks:
            notify_escape(data, "ember.tensor() (copy a tensor with clone())")
        return data.cpu()._array(), data.dtype
    if isinstance(data, bool | int | float | np.generic):
        dt = dtypes.scalar_dtype(data)
        return _wide_array(data, dt), dt
    if isinstance(data, list | tuple):
        flat: list = []
        shape = _nested_shape(data, 0, flat)
        if escape_hooks and any(isinstance(v, int) and type(v) not in (int, bool) for v in flat):
            notify_escape(None, "ember.tensor() of a list holding a dynamic size")
        kinds = {dtypes.scalar_dtype(v) for v in flat}
        if not kinds or any(k.is_floating_point for k in kinds):
            dt = dtypes.get_default_dtype()
        elif dtypes.int64 in kinds:
            dt = dtypes.int64
        else:
            dt = dtypes.bool
        return _wide_array(flat, dt).reshape(shape), dt
    raise TypeError(f"Could not infer dtype of {type(data).__name__}")


def _wide_array(values: Any, dt: dtypes.dtype) -> np.ndarray:
    wide = np.float64 if dt.is_floating_point else np.int64 if dt is not dtypes.bool else np.bool_
    try:
        return np.asarray(values, dtype=wide)
    except OverflowError:
        raise RuntimeError(f"Overflow when unpacking long: {values!r} does not fit in int64") from None


def _nested_shape(seq: Any, depth: int, flat: list) -> tuple:
    """Walk nested sequences collecting leaves; raise PyTorch's error for ragged data."""
    if isinstance(seq, Tensor):
        flat.extend(seq.reshape(-1).tolist() if seq.dim() else [seq.item()])
        return tuple(seq._shape)
    if isinstance(seq, np.ndarray):
        flat.extend(seq.reshape(-1).tolist())
        return seq.shape
    if not isinstance(seq, list | tuple):
        flat.append(seq)
        return ()
    if not seq:
        return (0,)
    sub = _nested_shape(seq[0], depth + 1, flat)
    for item in seq[1:]:
        other = _nested_shape(item, depth + 1, flat)
        if other != sub:
            raise ValueError(
                f"expected sequence of length {sub[0] if sub else 0} at dim {depth + 1} "
                f"(got {other[0] if other else 0})"
            )
    return (len(seq),) + sub


def _from_host(array: np.ndarray, dt: dtypes.dtype, dev: device) -> Tensor:
    backend = get_backend(dev.type)
    with np.errstate(invalid="ignore", over="ignore"):
        host = np.ascontiguousarray(array, dtype=dt.np_dtype) if array.ndim else np.asarray(array, dtype=dt.np_dtype)
    buffer = backend.allocator.from_host(host)
    return Tensor._make(Storage(buffer, dev, backend), host.shape, contiguous_strides(host.shape), 0, dt)


def tensor(
    data: Any, *, dtype: dtypes.dtype | None = None, device: DeviceLike = None, requires_grad: bool = False
) -> Tensor:
    """A new tensor holding a copy of ``data`` (nested lists, NumPy arrays, scalars, tensors).

    The dtype is inferred as PyTorch does: bools give bool, ints give int64, any float gives the default
    float dtype; NumPy arrays keep their dtype.

    Example::

        >>> ember.tensor([[1, 2], [3, 4]])
        tensor([[1, 2],
                [3, 4]])
    """
    _check_dtype(dtype)
    if escape_hooks and isinstance(data, int) and type(data) not in (int, bool):
        # The tracer's symbolic size (an int subclass) is made by an op, so that a trace keeps its expression.
        return set_requires_grad(full((), data, dtype=dtype or dtypes.int64, device=device), requires_grad)
    host, inferred = _host_array_from_data(data)
    dt = dtype or inferred
    return set_requires_grad(
        _from_host(host, dt, as_device(device if device is not None else getattr(data, "device", None))), requires_grad
    )


def from_numpy(ndarray: np.ndarray) -> Tensor:
    """A CPU tensor sharing memory with ``ndarray``: writes to either show in the other."""
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(ndarray).__name__})")
    dt = dtypes.from_numpy_dtype(ndarray.dtype)
    itemsize = ndarray.itemsize
    if any(s < 0 for s in ndarray.strides):
        raise ValueError(
            "At least one stride in the given numpy array is negative, and tensors with negative strides are "
            "not currently supported. (You can probably work around this by making a copy of your array "
            "with array.copy().)"
        )
    if any(s % itemsize for s in ndarray.strides):
        raise ValueError(
            "given numpy array strides not a multiple of the element byte size. Copy the numpy array to "
            "reallocate the memory."
        )
    stride = tuple(s // itemsize for s in ndarray.strides)
    extent = 0 if ndarray.size == 0 else 1 + sum((n - 1) * st for n, st in zip(ndarray.shape, stride, strict=True))
    flat = np.lib.stride_tricks.as_strided(
        ndarray, shape=(extent,), strides=(itemsize,), writeable=ndarray.flags.writeable
    )
    storage = Storage(flat, as_device("cpu"), writable=ndarray.flags.writeable)
    t = Tensor._make(storage, ndarray.shape, stride, 0, dt)
    t._np = ndarray
    return t


def as_tensor(data: Any, dtype: dtypes.dtype | None = None, device: DeviceLike = None) -> Tensor:
    """Like :func:`tensor`, but shares memory with ``data`` when it is already a tensor or a NumPy array
    of the requested dtype on the requested device."""
    _check_dtype(dtype)
    if isinstance(data, Tensor):
        return data.to(device=device if device is not None else data.device, dtype=dtype or data.dtype)
    if isinstance(data, np.ndarray) and as_device(device).type == "cpu":
        base = from_numpy(data) if all(s >= 0 for s in data.strides) else tensor(data)
        return base if dtype is None else base.to(dtype)
    return tensor(data, dtype=dtype, device=device)


__all__ = [
    "tensor",
    "as_tensor",
    "from_numpy",
    "full",
    "zeros",
    "ones",
    "empty",
    "full_like",
    "zeros_like",
    "ones_like",
    "empty_like",
]

register_methods(
    new_zeros=_new_factory(zeros),
    new_ones=_new_factory(ones),
    new_empty=_new_factory(empty),
    new_full=new_full,
    new_tensor=new_tensor,
)
