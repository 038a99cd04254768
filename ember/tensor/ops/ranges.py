"""Ranges: arange, linspace, logspace and eye, as creation ops of the registry (no tensor operands).

The element counts and values follow ATen's CPU kernels (RangeFactories.cpp), because users compare them
with PyTorch's exactly: ``arange`` counts ``ceil((end - start) / step)`` in double precision (in exact
integer arithmetic when the result is int64, after truncating the bounds); ``linspace`` computes the first
half forward from ``start`` and the second half backward from ``end`` so that both ends are exact;
``logspace`` raises ``base`` to those exponents in double precision.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import dtypes
from ..creation import accepts_requires_grad
from ..devices import device
from ..dispatch import dispatch
from ..registry import Meta, defop
from ..scalars import Number, checked_scalar
from ..tensor import Tensor

__all__ = ["arange", "linspace", "logspace", "eye"]

DeviceLike = device | str | int | None


# ----- argument helpers -----------------------------------------------------------------------------------
def _number(value: Any, fn: str, name: str, position: int, bound_tensors: bool = False) -> Number:
    """A Python number from a number or a 0-d tensor; PyTorch's parser errors otherwise (``bound_tensors``:
    linspace/logspace bounds, whose tensors fail with a RuntimeError of their own)."""
    if isinstance(value, Tensor):
        if value.dim() == 0:
            return value.item()
        if bound_tensors:
            raise RuntimeError(f"{fn} only supports 0-dimensional start and end tensors, but got {name} with "
                               f"{value.dim()} dimension(s).")
    if isinstance(value, np.generic):
        value = value.item()
    if not isinstance(value, bool | int | float):
        raise TypeError(f"{fn}(): argument '{name}' (position {position}) must be Number, not {type(value).__name__}")
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        raise OverflowError("int too big to convert")
    return value


def _int_arg(value: Any, fn: str, name: str, position: int) -> int:
    if isinstance(value, bool) or not (isinstance(value, int) or hasattr(value, "__index__")):
        raise TypeError(f"{fn}(): argument '{name}' (position {position}) must be int, not {type(value).__name__}")
    # int subclasses pass unchanged: the tracer's symbolic sizes (eye(x.shape[1])) keep their expression.
    return value if isinstance(value, int) else value.__index__()


def _check_dtype(dtype: Any, fn: str, supports_bool: bool = False) -> None:
    if not isinstance(dtype, dtypes.dtype):
        raise TypeError(f"{fn}(): argument 'dtype' must be ember.dtype, not {type(dtype).__name__}")
    if dtype is dtypes.bool and not supports_bool:
        raise NotImplementedError(f"\"{fn}_cpu\" not implemented for 'Bool'")


def _fma(a: Any, b: Any, c: Any) -> np.ndarray:
    """``a * b + c`` rounded once, as the fused multiply-add the C++ compiler emits for ATen's range kernels.

    Dekker's exact product plus a compensated sum: the exact-integer points of an integer ``linspace`` then
    truncate as PyTorch's do. Non-finite intermediates fall back to the plain expression.
    """
    a, b, c = (np.asarray(x, dtype=np.float64) for x in (a, b, c))
    with np.errstate(all="ignore"):
        p = a * b
        split_a, split_b = a * 134217729.0, b * 134217729.0
        ah = split_a - (split_a - a)
        bh = split_b - (split_b - b)
        al, bl = a - ah, b - bh
        product_error = ((ah * bh - p) + ah * bl + al * bh) + al * bl
        s = p + c
        back = s - p
        sum_error = (p - (s - back)) + (c - back)
        fused = s + (product_error + sum_error)
        return np.where(np.isfinite(fused), fused, p + c)


def _cast(values: np.ndarray, dtype: dtypes.dtype) -> np.ndarray:
    """``values`` in ``dtype`` as a C cast: floats truncate into integers, overflow gives inf or wraps."""
    with np.errstate(over="ignore", invalid="ignore"):
        if not dtype.is_floating_point and values.dtype.kind == "f":
            values = np.trunc(values)
        elif dtype.itemsize == 2 and values.dtype == np.float64:
            # c10::Half and c10::BFloat16 are built from float, so a double rounds twice on its way in.
            values = values.astype(np.float32)
        return values.astype(dtype.np_dtype)


def _symmetric(start: Any, end: Any, step: Any, steps: int, dt: Any = np.float64) -> np.ndarray:
    """ATen's two-ended ramp: ``start + step*i`` for the first half, ``end - step*(steps-1-i)`` for the rest."""
    idx = np.arange(steps)
    forward, backward = idx < steps // 2, (steps - 1 - idx)
    if dt == np.float64:
        return np.where(forward, _fma(step, idx, start), _fma(-step, backward, end))
    # float16/bfloat16 arithmetic rounds after every operation, with the index first converted to the type.
    start, end, step = dt(start), dt(end), dt(step)
    with np.errstate(over="ignore", invalid="ignore"):
        return np.where(forward, start + step * idx.astype(dt), end - step * backward.astype(dt))


# ----- arange ---------------------------------------------------------------------------------------------
def _arange_plan(start: Number, end: Number, step: Number, dtype: dtypes.dtype) -> tuple[int, Number, Number]:
    """(number of elements, start, step) of ATen's arange, validating in its order and with its messages."""
    x_start, x_end, x_step = float(start), float(end), float(step)
    if not (x_step > 0 or x_step < 0):
        raise RuntimeError("step must be nonzero")
    if not (math.isfinite(x_start) and math.isfinite(x_end)):
        raise RuntimeError(f"unsupported range: {_cpp_str(x_start)} -> {_cpp_str(x_end)}")
    if not ((x_step > 0 and x_end >= x_start) or (x_step < 0 and x_end <= x_start)):
        raise RuntimeError("upper bound and lower bound inconsistent with step sign")
    if dtype is dtypes.int64:
        # int64 ranges are counted in exact integer arithmetic on the truncated bounds.
        start, end, step = (checked_scalar(v, dtypes.int64) for v in (start, end, step))
        if step == 0:
            raise ValueError("step must be nonzero")
        # The numerator wraps around like C++'s int64 (huge ranges then fail the size check) and the
        # quotient truncates towards zero.
        numerator = (end - start + step - (1 if step > 0 else -1) + 2**63) % 2**64 - 2**63
        size = abs(numerator) // abs(step) * (1 if (numerator >= 0) == (step > 0) else -1)
    else:
        size = (x_end - x_start) / x_step
        if not size <= 2.0**63:
            raise RuntimeError("invalid size, possible overflow?")
        size = math.ceil(size)
        # The kernel reads start and step in its accumulation type: int64 for integers, float for
        # float16/bfloat16, double otherwise.
        if not dtype.is_floating_point:
            start, step = checked_scalar(start, dtypes.int64), checked_scalar(step, dtypes.int64)
        elif dtype.itemsize == 2:
            start = checked_scalar(start, dtypes.float32, round_floats=True)
            step = checked_scalar(step, dtypes.float32, round_floats=True)
        else:
            start, step = x_start, x_step
    if not 0 <= size <= 2**63 - 1:
        raise RuntimeError("invalid size, possible overflow?")
    return size, start, step


def _cpp_str(value: float) -> str:
    """A double as C++'s ostream prints it in ATen's messages: 6 significant digits."""
    return f"{value:g}"


def _arange_meta(*, start: Number, end: Number, step: Number, dtype: dtypes.dtype) -> Meta:
    size = _arange_plan(start, end, step, dtype)[0]
    bounds = (start, end, step)
    if all(isinstance(v, int) for v in bounds) and any(type(v) not in (int, bool) for v in bounds):
        # A bound that is the tracer's symbolic size (an int subclass) gives a symbolic count: the same ceiling
        # division, done in integers so that the size keeps its expression.
        size = (end - start + step - (1 if step > 0 else -1)) // step
    return Meta((size,), dtype)


def _arange_kernel(*, start: Number, end: Number, step: Number, dtype: dtypes.dtype) -> np.ndarray:
    size, start, step = _arange_plan(start, end, step, dtype)
    idx = np.arange(size, dtype=np.int64)
    if not dtype.is_floating_point:
        # Integer ranges run in int64 and wrap into narrower types, as ATen's int64 accumulator does.
        return _cast(np.int64(start) + np.int64(step) * idx, dtype)
    # ATen accumulates float16/bfloat16 ranges in float32 and float32/float64 ranges in double.
    acc = np.float32 if dtype.itemsize == 2 else np.float64
    return _cast(acc(start) + acc(step) * idx.astype(acc), dtype)


ARANGE = defop("arange", _arange_meta, cpu=_arange_kernel, doc="Values from start to end (exclusive) by step.")


@accepts_requires_grad
def arange(start: Number = 0, end: Number | None = None, step: Number = 1, *, dtype: dtypes.dtype | None = None,
           device: DeviceLike = None) -> Tensor:
    """A 1-D tensor of ``ceil((end - start) / step)`` values from ``start`` (inclusive) to ``end`` (exclusive).

    ``arange(end)`` starts at 0. Without ``dtype``, the result is int64 when every argument is an integer and
    the default float dtype otherwise.

    Args:
        start: the first value (default 0).
        end: the bound the values stop before.
        step: the gap between neighbours, non-zero and of the sign of ``end - start`` (default 1).
        dtype: the result's dtype.
        device: where to create the result.

    Example::

        >>> ember.arange(1, 2.5, 0.5)
        tensor([1.0000, 1.5000, 2.0000])
    """
    if end is None:
        start, end = 0, _number(start, "arange", "end", 1)
    else:
        start, end = _number(start, "arange", "start", 1), _number(end, "arange", "end", 2)
    step = _number(step, "arange", "step", 3)
    if dtype is None:
        floating = any(isinstance(v, float) for v in (start, end, step))
        dtype = dtypes.get_default_dtype() if floating else dtypes.int64
    _check_dtype(dtype, "arange")
    return dispatch(ARANGE, start=start, end=end, step=step, dtype=dtype, device=device)


# ----- linspace and logspace ------------------------------------------------------------------------------
def _check_fill(value: Number, dtype: dtypes.dtype) -> None:
    """A one-value range is ATen's ``fill_``, which range-checks the value unless the dtype is 16-bit float."""
    if not (dtype.is_floating_point and dtype.itemsize == 2):
        checked_scalar(value, dtype)


def _check_bounds(start: Number, end: Number, steps: int, dtype: dtypes.dtype) -> None:
    if int(steps) > 1:  # int(): a check only, so a traced symbolic count need not assume steps > 1
        checked_scalar(start, dtype)
        checked_scalar(end, dtype)


def _linspace_meta(*, start: Number, end: Number, steps: int, dtype: dtypes.dtype) -> Meta:
    if steps == 1:
        _check_fill(start, dtype)
    _check_bounds(start, end, steps, dtype)
    return Meta((steps,), dtype)


def _linspace_kernel(*, start: Number, end: Number, steps: int, dtype: dtypes.dtype) -> np.ndarray:
    if steps <= 1:
        return _cast(np.full(steps, start), dtype)
    start, end = checked_scalar(start, dtype, round_floats=True), checked_scalar(end, dtype, round_floats=True)
    if dtype.is_floating_point and dtype.itemsize == 2:
        dt = dtype.np_dtype.type
        return _symmetric(start, end, (dt(end) - dt(start)) / dt(steps - 1), steps, dt)
    if dtype is dtypes.float32:
        # The step is a float32 quotient of the float32 span.
        step = float(np.float32(np.float32(end) - np.float32(start)) / np.float32(steps - 1))
    else:
        # Integer ranges step in double between the converted bounds; the values truncate towards zero.
        step = (float(end) - float(start)) / (steps - 1)
    return _cast(_symmetric(start, end, step, steps), dtype)


def _powers(base: float, exponents: np.ndarray) -> np.ndarray:
    """The C library's pow, which ATen calls (NumPy's vectorised power differs in the last bit, which shows
    once integer results truncate), with C's results where Python's math.pow raises instead."""

    def c_pow(x: float) -> float:
        try:
            return math.pow(base, x)
        except OverflowError:
            return math.inf if base > 0 or x % 2 != 1 else -math.inf
        except ValueError:
            # A zero base with a negative exponent is a pole; a negative base with a fractional one has no value.
            return math.inf if base == 0 else math.nan

    return np.array([c_pow(x) for x in exponents.tolist()], dtype=np.float64)


def _logspace_meta(*, start: Number, end: Number, steps: int, base: float, dtype: dtypes.dtype) -> Meta:
    if steps == 1:
        _check_fill(float(_powers(base, np.array([float(start)]))[0]), dtype)
    _check_bounds(start, end, steps, dtype)
    return Meta((steps,), dtype)


def _logspace_kernel(*, start: Number, end: Number, steps: int, base: float, dtype: dtypes.dtype) -> np.ndarray:
    if steps <= 1:
        return _cast(_powers(base, np.full(steps, float(start))), dtype)
    start, end = checked_scalar(start, dtype, round_floats=True), checked_scalar(end, dtype, round_floats=True)
    # The span is taken in the result dtype (C++ promotes small integers to int) before the division in double.
    span = end - start if not dtype.is_floating_point else dtype.np_dtype.type(end) - dtype.np_dtype.type(start)
    step = float(span) / (steps - 1)
    # Unlike linspace's, these exponents are not fused multiply-adds in ATen's build.
    idx = np.arange(steps)
    with np.errstate(over="ignore", invalid="ignore"):
        exponents = np.where(idx < steps // 2, start + step * idx, end - step * (steps - 1 - idx))
    return _cast(_powers(base, exponents), dtype)


LINSPACE = defop("linspace", _linspace_meta, cpu=_linspace_kernel, doc="steps evenly spaced values from start to end.")
LOGSPACE = defop("logspace", _logspace_meta, cpu=_logspace_kernel, doc="base raised to linspace(start, end, steps).")


def _steps_args(fn: str, start: Any, end: Any, steps: Any, dtype: Any) -> tuple[Number, Number, int, dtypes.dtype]:
    start = _number(start, fn, "start", 1, bound_tensors=True)
    end = _number(end, fn, "end", 2, bound_tensors=True)
    steps = _int_arg(steps, fn, "steps", 3)
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    dtype = dtypes.get_default_dtype() if dtype is None else dtype
    _check_dtype(dtype, fn)
    return start, end, steps, dtype


@accepts_requires_grad
def linspace(start: Number | Tensor, end: Number | Tensor, steps: int, *, dtype: dtypes.dtype | None = None,
             device: DeviceLike = None) -> Tensor:
    """A 1-D tensor of ``steps`` evenly spaced values from ``start`` to ``end``, both included.

    Args:
        start, end: the first and last values (numbers or 0-d tensors).
        steps: the number of values, >= 0.
        dtype: the result's dtype (default: the default float dtype, even for integer bounds).
        device: where to create the result.

    Example::

        >>> ember.linspace(-1, 1, 5)
        tensor([-1.0000, -0.5000,  0.0000,  0.5000,  1.0000])
    """
    start, end, steps, dtype = _steps_args("linspace", start, end, steps, dtype)
    return dispatch(LINSPACE, start=start, end=end, steps=steps, dtype=dtype, device=device)


@accepts_requires_grad
def logspace(start: Number | Tensor, end: Number | Tensor, steps: int, base: float = 10.0, *,
             dtype: dtypes.dtype | None = None, device: DeviceLike = None) -> Tensor:
    """A 1-D tensor of ``steps`` values ``base ** x`` for ``x`` evenly spaced from ``start`` to ``end``.

    Args:
        start, end: the first and last exponents (numbers or 0-d tensors).
        steps: the number of values, >= 0.
        base: the base of the powers (default 10).
        dtype: the result's dtype (default: the default float dtype).
        device: where to create the result.

    Example::

        >>> ember.logspace(0, 3, 4, base=2)
        tensor([1., 2., 4., 8.])
    """
    start, end, steps, dtype = _steps_args("logspace", start, end, steps, dtype)
    base = float(_number(base, "logspace", "base", 4))
    return dispatch(LOGSPACE, start=start, end=end, steps=steps, base=base, dtype=dtype, device=device)


# ----- eye ------------------------------------------------------------------------------------------------
def _eye_meta(*, n: int, m: int, dtype: dtypes.dtype) -> Meta:
    for name, value in (("n", n), ("m", m)):
        if value < 0:
            raise RuntimeError(f"{name} must be greater or equal to 0, got {value}")
    return Meta((n, m), dtype)


def _eye_kernel(*, n: int, m: int, dtype: dtypes.dtype) -> np.ndarray:
    return np.eye(n, m, dtype=dtype.np_dtype)


EYE = defop("eye", _eye_meta, cpu=_eye_kernel, doc="A 2-D tensor with ones on the diagonal.")


@accepts_requires_grad
def eye(n: int, m: int | None = None, *, dtype: dtypes.dtype | None = None, device: DeviceLike = None) -> Tensor:
    """A 2-D ``n x m`` tensor (``m`` defaults to ``n``) with ones on the diagonal and zeros elsewhere.

    Example::

        >>> ember.eye(2, 3)
        tensor([[1., 0., 0.],
                [0., 1., 0.]])
    """
    n = _int_arg(n, "eye", "n", 1)
    m = n if m is None else _int_arg(m, "eye", "m", 2)
    dtype = dtypes.get_default_dtype() if dtype is None else dtype
    _check_dtype(dtype, "eye", supports_bool=True)
    return dispatch(EYE, n=n, m=m, dtype=dtype, device=device)
