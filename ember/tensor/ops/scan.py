"""Running reductions along one dim: cumsum and cumprod.

Like PyTorch's CPU kernels, float32 scans accumulate in float64 and float16/bfloat16 in float32, so a
long running sum does not drift; bool and integer inputs scan in int64.
"""

from __future__ import annotations

import numpy as np

from .. import dtypes
from ..dispatch import dispatch
from ..registry import Meta, defop
from ..shape_rules import wrap_dim
from ..tensor import Tensor, register_methods
from .reduction import check_dtype_arg, check_tensor, long_if_integral

_ACCUMULATOR = {
    np.dtype(np.float16): np.float32,
    dtypes.bfloat16.np_dtype: np.float32,
    np.dtype(np.float32): np.float64,
    np.dtype(np.float64): np.float64,
}


def _scan_meta(fn: str):
    def infer(a: Tensor, *, dim: int, dtype: dtypes.dtype) -> Meta:
        # As in PyTorch, an empty input returns before the kernel's dtype check.
        if dtype is dtypes.bool and a.numel():
            raise NotImplementedError(f"\"{fn}_out_cpu\" not implemented for '{dtype.scalar_name}'")
        return Meta(a._shape, dtype)

    return infer


def _scan_kernel(scan):
    def kernel(a: np.ndarray, *, dim: int, dtype: dtypes.dtype) -> np.ndarray:
        with np.errstate(invalid="ignore", over="ignore"):
            x = a.astype(dtype.np_dtype, copy=False)
            result = scan(x, axis=dim if x.ndim else None, dtype=_ACCUMULATOR.get(x.dtype, np.int64))
        # A 0-d input scans as one element; numpy hands that back as shape (1,).
        return result.reshape(a.shape)

    return kernel


CUMSUM = defop("cumsum", _scan_meta("cumsum"), cpu=_scan_kernel(np.cumsum), doc="Running sum along a dim.")
CUMPROD = defop("cumprod", _scan_meta("cumprod"), cpu=_scan_kernel(np.cumprod), doc="Running product along a dim.")


def _scan(op, fn: str, input: Tensor, dim: int, dtype: dtypes.dtype | None) -> Tensor:
    check_tensor(fn, input)
    check_dtype_arg(fn, dtype)
    out_dtype = dtype if dtype is not None else long_if_integral(input._dtype)
    return dispatch(op, input, dim=wrap_dim(dim, input.dim()), dtype=out_dtype)


def cumsum(input: Tensor, dim: int, *, dtype: dtypes.dtype | None = None) -> Tensor:
    """The running sum of ``input`` along ``dim``; bool and integer tensors give int64 unless ``dtype`` is given.

    Example::

        >>> ember.tensor([1, 2, 3]).cumsum(0)
        tensor([1, 3, 6])
    """
    return _scan(CUMSUM, "cumsum", input, dim, dtype)


def cumprod(input: Tensor, dim: int, *, dtype: dtypes.dtype | None = None) -> Tensor:
    """The running product of ``input`` along ``dim``; bool and integer tensors give int64 unless ``dtype`` is given.

    Example::

        >>> ember.tensor([1., 2., 3.]).cumprod(0)
        tensor([1., 2., 6.])
    """
    return _scan(CUMPROD, "cumprod", input, dim, dtype)


__all__ = ["cumsum", "cumprod"]

register_methods(cumsum=cumsum, cumprod=cumprod)
