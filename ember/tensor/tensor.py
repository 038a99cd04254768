"""``ember.Tensor``: a strided window (shape, stride, offset) onto a shared :class:`Storage`.

This module holds the metadata, conversions and Python protocols. Ops are defined by family in
``ember/tensor/ops`` and attached as methods with :func:`register_methods`, so each op's Python
function is written once and serves both ``ember.add(a, b)`` and ``a.add(b)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import dtypes
from .devices import device
from .storage import Storage

# Called as hook(tensor, what) when a tensor's data leaves for Python or NumPy (item, bool, tolist, numpy...) or a
# count follows one of its sizes (len, unbind, split), and as hook(None, what) when random numbers are drawn or
# ember.tensor() is given a symbolic size. The tracer refuses these inside a trace; eager code pays one list test.
escape_hooks: list = []
# Called as hook(condition) with each ``condition >= 0`` a comparison of symbolic sizes (the tracer's SymInt)
# assumed; dispatch silences them while a kernel runs, whose own size tests decide nothing about the graph.
guard_hooks: list = []


def notify_escape(tensor: Tensor | None, what: str) -> None:
    for hook in tuple(escape_hooks):
        hook(tensor, what)


class Tensor:
    """A multi-dimensional array on a device, with PyTorch's names and semantics.

    Views (``view``, ``transpose``, slicing, ``expand``...) share storage with their base; in-place ops
    bump the storage's version counter. Create tensors with :func:`ember.tensor`, :func:`ember.zeros`
    and friends; ``ember.Tensor(data)`` and ``ember.Tensor(*sizes)`` behave as PyTorch's legacy constructor.
    """

    # _autograd: None, or the autograd state (ember.autograd.graph.AutogradMeta); _base: the root tensor
    # whose storage a view looks into (None for a non-view), which in-place autograd needs.
    __slots__ = ("_storage", "_shape", "_stride", "_offset", "_dtype", "_np", "_autograd", "_base", "__weakref__")

    def __new__(cls, *args: Any, **kwargs: Any) -> Tensor:
        from .creation import empty, tensor

        if kwargs:
            raise TypeError(f"Tensor() got unexpected keyword arguments {sorted(kwargs)}")
        if len(args) == 1 and not isinstance(args[0], int):
            return tensor(args[0], dtype=dtypes.get_default_dtype())
        return empty(*(args or (0,)), dtype=dtypes.get_default_dtype())

    @classmethod
    def _make(cls, storage: Storage, shape: tuple, stride: tuple, offset: int, dt: dtypes.dtype) -> Tensor:
        t = object.__new__(cls)
        t._storage = storage
        t._shape = shape
        t._stride = stride
        t._offset = offset
        t._dtype = dt
        t._np = None
        t._autograd = None
        t._base = None
        return t

    def _array(self) -> Any:
        """The kernel-side array (a NumPy view on the CPU) for this tensor's window, cached."""
        arr = self._np
        if arr is None:
            s = self._storage
            arr = self._np = s.backend.view(s.data, self._shape, self._stride, self._offset)
        return arr

    # ----- metadata -----------------------------------------------------------------------------------
    @property
    def shape(self) -> Size:
        return Size(self._shape)

    @property
    def dtype(self) -> dtypes.dtype:
        return self._dtype

    @property
    def device(self) -> device:
        return self._storage.device

    @property
    def ndim(self) -> int:
        return len(self._shape)

    @property
    def is_cuda(self) -> bool:
        return self._storage.device.type == "cuda"

    @property
    def is_cpu(self) -> bool:
        return self._storage.device.type == "cpu"

    @property
    def itemsize(self) -> int:
        return self._dtype.itemsize

    @property
    def nbytes(self) -> int:
        return self.numel() * self._dtype.itemsize

    @property
    def _version(self) -> int:
        return self._storage.version

    def dim(self) -> int:
        return len(self._shape)

    def ndimension(self) -> int:
        return len(self._shape)

    def size(self, dim: int | None = None) -> Size | int:
        if dim is None:
            return Size(self._shape)
        return self._shape[self._wrap_dim(dim)]

    def stride(self, dim: int | None = None) -> tuple | int:
        if dim is None:
            return self._stride
        return self._stride[self._wrap_dim(dim)]

    def storage_offset(self) -> int:
        return self._offset

    def numel(self) -> int:
        n = 1
        for s in self._shape:
            n *= s
        return n

    nelement = numel

    def element_size(self) -> int:
        return self._dtype.itemsize

    def data_ptr(self) -> int:
        return self._storage.data_ptr() + self._offset * self._dtype.itemsize

    def is_floating_point(self) -> bool:
        return self._dtype.is_floating_point

    def is_contiguous(self) -> bool:
        if 0 in self._shape:
            return True
        expected = 1
        for size, st in zip(reversed(self._shape), reversed(self._stride), strict=True):
            if size != 1 and st != expected:
                return False
            expected *= size
        return True

    def _wrap_dim(self, dim: int) -> int:
        from .shape_rules import wrap_dim

        return wrap_dim(dim, len(self._shape))

    # ----- conversions to Python and NumPy ------------------------------------------------------------
    def numpy(self, *, force: bool = False) -> np.ndarray:
        """A NumPy array sharing this tensor's memory (CPU only)."""
        if self._storage.device.type != "cpu":
            raise TypeError(
                f"can't convert {self.device} device type tensor to numpy. Use Tensor.cpu() to copy the tensor "
                "to host memory first."
            )
        if escape_hooks:
            notify_escape(self, "numpy()")
        return self._array()

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        arr = self.cpu().numpy()
        if dtype is not None and np.dtype(dtype) != arr.dtype:
            return arr.astype(dtype)
        return arr.copy() if copy else arr

    def item(self) -> bool | int | float:
        """The value of a one-element tensor as a Python number."""
        n = self.numel()
        if n != 1:
            raise RuntimeError(f"a Tensor with {n} elements cannot be converted to Scalar")
        return self._python_scalar("item()")

    def _python_scalar(self, what: str) -> bool | int | float:
        if escape_hooks:
            notify_escape(self, what)
        value = self.cpu()._array().reshape(-1)[0]
        if self._dtype is dtypes.bool:
            return bool(value)
        if self._dtype.is_floating_point:
            return float(value)
        return int(value)

    def tolist(self) -> Any:
        """The tensor as (nested) Python lists of numbers; a 0-d tensor gives a number."""
        if escape_hooks:
            notify_escape(self, "tolist()")
        arr = self.cpu()._array()
        if self._dtype is dtypes.bfloat16:
            arr = arr.astype(np.float32)
        return arr.tolist()

    def __len__(self) -> int:
        if not self._shape:
            raise TypeError("len() of a 0-d tensor")
        if escape_hooks and type(self._shape[0]) is not int:
            notify_escape(self, "len()")  # Python makes the result a plain int: a dynamic size would be lost
        return self._shape[0]

    def __iter__(self):
        if not self._shape:
            raise TypeError("iteration over a 0-d tensor")
        return iter(self.unbind(0))

    def __bool__(self) -> bool:
        n = self.numel()
        if n != 1:
            qualifier = "more than one value" if n > 1 else "no values"
            raise RuntimeError(f"Boolean value of Tensor with {qualifier} is ambiguous")
        return bool(self._python_scalar("bool() (an if, while, and, or, not on a tensor)"))

    def __int__(self) -> int:
        return int(self._scalar_for("int"))

    def __float__(self) -> float:
        return float(self._scalar_for("float"))

    def __index__(self) -> int:
        if self._dtype.is_floating_point or self.numel() != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self._python_scalar("an index"))

    def _scalar_for(self, kind: str) -> bool | int | float:
        if self.numel() != 1:
            raise ValueError(
                f"only one element tensors can be converted to Python scalars (got {self.numel()} elements for {kind})"
            )
        return self._python_scalar(f"{kind}()")

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        from .printing import tensor_repr

        return tensor_repr(self)

    def __format__(self, spec: str) -> str:
        if self.dim() == 0 and spec:
            return format(self._python_scalar("a formatted number"), spec)
        return repr(self)

    def __reduce_ex__(self, protocol):
        # Plain pickling (multiprocessing, copy) goes through a host copy; ember.save has its own format.
        return (_rebuild_tensor, (np.array(self.cpu()._array()), self._dtype.name, str(self.device)))

    def __deepcopy__(self, memo: dict) -> Tensor:
        return self.clone()

    # ----- dtype and device moves ---------------------------------------------------------------------
    def to(self, *args: Any, **kwargs: Any) -> Tensor:
        """``to(dtype)``, ``to(device, dtype=None)``, ``to(other)``, each with ``copy=False``; returns self when
        nothing changes and ``copy`` is False."""
        from .ops.copy import to_impl

        return to_impl(self, *args, **kwargs)

    def cpu(self) -> Tensor:
        return self if self._storage.device.type == "cpu" else self.to("cpu")

    def cuda(self, device: int | str | None = None) -> Tensor:
        return self.to(device if isinstance(device, str) else f"cuda:{device or 0}")

    def type(self, dtype: dtypes.dtype | None = None) -> str | Tensor:
        if dtype is None:
            return f"ember.{self._dtype.scalar_name}Tensor"
        return self.to(dtype)

    def float(self) -> Tensor:
        return self.to(dtypes.float32)

    def double(self) -> Tensor:
        return self.to(dtypes.float64)

    def half(self) -> Tensor:
        return self.to(dtypes.float16)

    def bfloat16(self) -> Tensor:
        return self.to(dtypes.bfloat16)

    def int(self) -> Tensor:
        return self.to(dtypes.int32)

    def long(self) -> Tensor:
        return self.to(dtypes.int64)

    def short(self) -> Tensor:
        return self.to(dtypes.int16)

    def char(self) -> Tensor:
        return self.to(dtypes.int8)

    def byte(self) -> Tensor:
        return self.to(dtypes.uint8)

    def bool(self) -> Tensor:
        return self.to(dtypes.bool)


def _rebuild_tensor(array: np.ndarray, dtype_name: str, device_name: str) -> Tensor:
    from .creation import tensor

    return tensor(array, dtype=getattr(dtypes, dtype_name), device=device_name)


class Size(tuple):
    """A tensor's shape: a tuple of ints that prints as ``ember.Size([2, 3])``."""

    def __repr__(self) -> str:
        return f"ember.Size({list(self)})"

    def numel(self) -> int:
        n = 1
        for s in self:
            n *= s
        return n

    def __getitem__(self, key):
        result = tuple.__getitem__(self, key)
        return Size(result) if isinstance(key, slice) else result


def register_methods(**methods: Any) -> None:
    """Attach op functions as Tensor methods; the op's first parameter becomes ``self``."""
    for name, fn in methods.items():
        setattr(Tensor, name, fn)
