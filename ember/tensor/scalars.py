"""Python numbers checked and converted for a tensor's dtype, as c10's ``checked_convert`` does.

PyTorch reads a number it writes into, or computes with, a typed tensor through ``Scalar::to<T>``, which
refuses values ``T`` cannot hold: "value cannot be converted to type int8_t without overflow". Ranges
(arange, linspace, logspace, randperm), clamp and where, and the scalar writes of setitem, scatter,
masked_fill and index_add all apply that one rule here; where an op departs from it, the departure is a
keyword of :func:`checked_scalar`.
"""

from __future__ import annotations

import math
from typing import Any

import ml_dtypes
import numpy as np

from . import dtypes

Number = bool | int | float

# Largest finite value of each floating dtype (np.finfo does not know bfloat16; ml_dtypes.finfo knows all four).
FLOAT_MAX = {d: float(ml_dtypes.finfo(d.np_dtype).max) for d in dtypes.ALL_DTYPES if d.is_floating_point}
_INT_RANGE = {d: (int(np.iinfo(d.np_dtype).min), int(np.iinfo(d.np_dtype).max))
              for d in dtypes.ALL_DTYPES if d.category == dtypes.INTEGRAL}


def overflow_error(dt: dtypes.dtype) -> RuntimeError:
    """c10's error for a number ``dt`` cannot hold."""
    return RuntimeError(f"value cannot be converted to type {dt.checked_name} without overflow")


def checked_scalar(value: Any, dt: dtypes.dtype, *, check_reduced: bool = True,
                   bfloat16_max: float = FLOAT_MAX[dtypes.bfloat16], wrap_negative_floats: bool = False,
                   round_floats: bool = False) -> Number:
    """``value`` (a Python or NumPy number) converted for a ``dt`` tensor; RuntimeError when it overflows ``dt``.

    The rule is c10's: nothing overflows bool; a floating dtype takes infinities and NaN but no finite value
    beyond its largest; an integer dtype refuses NaN, infinities and values outside its range, except that
    integers down to ``-max`` wrap into unsigned types (two's complement: ``-1`` is 255 in uint8). Floats
    truncate towards zero into integer types; for a floating ``dt`` the result is a Python float, rounded to
    ``dt`` only with ``round_floats`` (as ``Scalar::to`` gives it to a kernel; a value that is stored into a
    ``dt`` tensor is rounded there).

    Where ops depart from that rule:
        check_reduced: False lets float16/bfloat16 take any value (it saturates to inf when stored), as
            PyTorch's setitem does.
        bfloat16_max: the bound for bfloat16; clamp has always checked against float32's largest instead.
        wrap_negative_floats: True lets negative floats wrap into unsigned types as integers do
            (-1.5 -> 255 in uint8), as ember's scalar writes have always done.
    """
    if isinstance(value, np.generic):
        value = value.item()
    if dt is dtypes.bool:
        return bool(value)
    if dt.is_floating_point:
        try:
            out = float(value)
        except OverflowError:  # an int beyond double's range
            raise overflow_error(dt) from None
        if dt.itemsize != 2 or check_reduced:
            limit = bfloat16_max if dt is dtypes.bfloat16 else FLOAT_MAX[dt]
            if math.isfinite(out) and abs(out) > limit:
                raise overflow_error(dt)
        # NumPy reads a Python int through a double too, so rounding ``out`` rounds the value itself.
        return float(np.asarray(out, dtype=dt.np_dtype).astype(np.float64)) if round_floats else out
    low, high = _INT_RANGE[dt]
    unsigned = low == 0
    if isinstance(value, float):
        if not math.isfinite(value):
            raise overflow_error(dt)
        if unsigned and wrap_negative_floats:
            low = -high
    elif unsigned:
        low = -high
    if not low <= value <= high:
        raise overflow_error(dt)
    value = int(value)
    return value + high + 1 if unsigned and value < 0 else value
