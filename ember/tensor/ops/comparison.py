"""Comparisons (eq, ne, lt, le, gt, ge and their aliases), logical and bitwise ops with shifts, float
classification (isnan, isinf, isfinite...), and whole-tensor comparisons equal, isclose and allclose; with the
operators ``== != < <= > >= & | ^ ~ << >>`` (reflected and in-place).

Comparisons promote their operands like arithmetic and give bool; bitwise ops take integers and bools only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import dtypes
from ..dispatch import dispatch
from ..registry import Meta, defop
from ..tensor import Tensor, register_methods
from .elementwise import (
    as_tensor_arg,
    binary_function,
    binary_op,
    broadcast,
    inplace_operator,
    operator,
    register_inplace,
    unary_function,
    unary_op,
)
from .promotion import Promotion, compare_rule, integral_only, opmath, promote2, quiet


# ----- comparisons -------------------------------------------------------------------------------------------
def _comparison(name: str, np_fn: Any, symbol: str) -> tuple:
    op = binary_op(name, compare_rule, np_fn, f"Element-wise input {symbol} other, as bool.")
    return op, binary_function(name, op, f"Element-wise ``input {symbol} other`` as a bool tensor, broadcasting "
                                         "and promoting like arithmetic; ``other`` may be a number.")


EQ, eq = _comparison("eq", np.equal, "==")
NE, ne = _comparison("ne", np.not_equal, "!=")
LT, lt = _comparison("lt", np.less, "<")
LE, le = _comparison("le", np.less_equal, "<=")
GT, gt = _comparison("gt", np.greater, ">")
GE, ge = _comparison("ge", np.greater_equal, ">=")
not_equal, less, less_equal, greater, greater_equal = ne, lt, le, gt, ge


# ----- logical -----------------------------------------------------------------------------------------------
def _logical(name: str, np_fn: Any) -> tuple:
    op = binary_op(name, compare_rule, lambda x, y, p: np_fn(x != 0, y != 0), f"Element-wise {name}, as bool.")
    return op, binary_function(name, op, f"Element-wise {name.replace('_', ' ')} of the truth values (nonzero is "
                                         "True) of two tensors, as bool.", other_scalar=False)


LOGICAL_AND, logical_and = _logical("logical_and", np.logical_and)
LOGICAL_OR, logical_or = _logical("logical_or", np.logical_or)
LOGICAL_XOR, logical_xor = _logical("logical_xor", np.logical_xor)


def _predicate_rule(dt: dtypes.dtype) -> tuple:
    """Tests of each value's class: bool result, computed on the value itself (float16 widened)."""
    return dt, dtypes.bool, opmath(dt)


def _predicate(name: str, np_fn: Any, doc: str) -> Any:
    return unary_function(name, unary_op(name, _predicate_rule, np_fn, doc), doc)


logical_not = _predicate("logical_not", lambda x: x == 0, "Element-wise logical NOT (zero is False), as bool.")
isnan = _predicate("isnan", np.isnan, "True where ``input`` is NaN.")
isinf = _predicate("isinf", np.isinf, "True where ``input`` is +inf or -inf.")
isposinf = _predicate("isposinf", np.isposinf, "True where ``input`` is +inf.")
isneginf = _predicate("isneginf", np.isneginf, "True where ``input`` is -inf.")
isfinite = _predicate("isfinite", np.isfinite, "True where ``input`` is neither infinite nor NaN.")


# ----- bitwise -----------------------------------------------------------------------------------------------
def _bitwise(name: str, np_fn: Any, kernel: str) -> tuple:
    op = binary_op(name, integral_only(kernel), np_fn, f"Element-wise {name}.")
    return op, binary_function(name, op, f"Element-wise {name.replace('_', ' ')} of integer or bool tensors "
                                         "(either side may be a number).", input_scalar=True)


BITWISE_AND, bitwise_and = _bitwise("bitwise_and", np.bitwise_and, "bitwise_and_cpu")
BITWISE_OR, bitwise_or = _bitwise("bitwise_or", np.bitwise_or, "bitwise_or_cpu")
BITWISE_XOR, bitwise_xor = _bitwise("bitwise_xor", np.bitwise_xor, "bitwise_xor_cpu")
BITWISE_NOT = unary_op("bitwise_not", integral_only("bitwise_not_cpu"), np.invert, "Element-wise bitwise NOT.")
bitwise_not = unary_function("bitwise_not", BITWISE_NOT, "Element-wise bitwise NOT (``~``) of an integer tensor; "
                             "logical NOT of a bool tensor.")


def _shift(left: bool) -> Any:
    def compute(x: Any, y: Any, p: Promotion) -> np.ndarray:
        bits = p.compute.itemsize * 8
        # C leaves shifts outside [0, bits) undefined; PyTorch gives 0 for << and the sign fill for >>.
        outside = np.logical_or(np.less(y, 0), np.greater_equal(y, bits))
        if left:
            return np.where(outside, 0, np.left_shift(x, np.where(outside, 0, y))).astype(p.compute, copy=False)
        return np.right_shift(x, np.where(outside, bits - 1, y).astype(p.compute, copy=False))

    return compute


SHIFT_LEFT = binary_op("bitwise_left_shift", integral_only("lshift_cpu", allow_bool=False), _shift(True),
                       "input << other.")
SHIFT_RIGHT = binary_op("bitwise_right_shift", integral_only("rshift_cpu", allow_bool=False), _shift(False),
                        "input >> other (arithmetic for signed types).")
bitwise_left_shift = binary_function("bitwise_left_shift", SHIFT_LEFT, "``input << other``; shifts of the type's "
                                     "width or more, or negative, give 0.", input_scalar=True)
bitwise_right_shift = binary_function("bitwise_right_shift", SHIFT_RIGHT, "``input >> other``, arithmetic (sign "
                                      "filling) for signed types.", input_scalar=True)


def _invert(self: Tensor) -> Tensor:
    if self._dtype.is_floating_point:
        raise TypeError("~ (operator.invert) is only implemented on integer and Boolean-type tensors")
    return dispatch(BITWISE_NOT, self)


# ----- whole-tensor comparisons ------------------------------------------------------------------------------
def _equal_meta(input: Tensor, other: Tensor) -> Meta:
    return Meta((), dtypes.bool)


def _equal_kernel(input: np.ndarray, other: np.ndarray) -> np.ndarray:
    if input.shape != other.shape:
        return np.array(False)
    common = promote2(compare_rule, input, other).common
    return np.array(np.array_equal(input.astype(common, copy=False), other.astype(common, copy=False)))


EQUAL = defop("equal", _equal_meta, cpu=quiet(_equal_kernel), doc="True when both have the same shape and values.")


def equal(input: Tensor, other: Tensor) -> bool:
    """True when ``input`` and ``other`` have the same shape and equal values (compared after promotion; NaN is
    never equal). No broadcasting.
    """
    return dispatch(EQUAL, as_tensor_arg("equal", "input", 1, input), as_tensor_arg("equal", "other", 2, other)).item()


def _isclose_meta(input: Tensor, other: Tensor, *, rtol: float, atol: float, equal_nan: bool) -> Meta:
    if input._dtype is not other._dtype:
        raise RuntimeError(f"{input._dtype.scalar_name} did not match {other._dtype.scalar_name}")
    for name, value in (("rtol", rtol), ("atol", atol)):
        if value < 0:
            raise RuntimeError(f"{name} must be greater than or equal to zero, but got {value:g}")
    return Meta(broadcast(input, other), dtypes.bool)


def _isclose_kernel(input: np.ndarray, other: np.ndarray, *, rtol: float, atol: float,
                    equal_nan: bool) -> np.ndarray:
    close = np.equal(input, other)
    floating = input.dtype.kind == "f" or input.dtype == dtypes.bfloat16.np_dtype
    if equal_nan and floating:
        close |= np.isnan(input) & np.isnan(other)
    if rtol == 0 and atol == 0:
        return close
    if not floating:
        # PyTorch measures integer differences in the default float dtype (no unsigned wraparound).
        ft = dtypes.get_default_dtype().np_dtype
        input, other = input.astype(ft), other.astype(ft)
    # Each step rounds to the input's dtype, as PyTorch's tensor arithmetic does for float16/bfloat16.
    allowed = atol + np.abs(rtol * other)
    actual = np.abs(input - other)
    return close | (np.isfinite(actual) & (actual <= allowed))


ISCLOSE = defop("isclose", _isclose_meta, cpu=quiet(_isclose_kernel),
                doc="|input - other| <= atol + rtol * |other|, element-wise.")


def isclose(input: Tensor, other: Tensor, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> Tensor:
    """Element-wise ``|input - other| <= atol + rtol * |other|`` (or equal), as bool; both tensors of one dtype.

    Args:
        rtol, atol: relative and absolute tolerances (non-negative).
        equal_nan: count two NaNs as close.
    """
    input, other = as_tensor_arg("isclose", "input", 1, input), as_tensor_arg("isclose", "other", 2, other)
    return dispatch(ISCLOSE, input, other, rtol=float(rtol), atol=float(atol), equal_nan=bool(equal_nan))


def allclose(input: Tensor, other: Tensor, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> bool:
    """True when :func:`isclose` holds for every element (broadcasting)."""
    from .reduction import all as all_of

    return all_of(isclose(input, other, rtol=rtol, atol=atol, equal_nan=equal_nan)).item()


__all__ = ["eq", "ne", "lt", "le", "gt", "ge", "not_equal", "less", "less_equal", "greater", "greater_equal",
           "logical_and", "logical_or", "logical_xor", "logical_not", "isnan", "isinf", "isposinf", "isneginf",
           "isfinite", "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not", "bitwise_left_shift",
           "bitwise_right_shift", "equal", "isclose", "allclose"]

register_methods(**{name: globals()[name] for name in __all__})
register_methods(
    __eq__=operator(EQ), __ne__=operator(NE), __lt__=operator(LT), __le__=operator(LE), __gt__=operator(GT),
    __ge__=operator(GE), __and__=operator(BITWISE_AND), __rand__=operator(BITWISE_AND, reflected=True),
    __or__=operator(BITWISE_OR), __ror__=operator(BITWISE_OR, reflected=True), __xor__=operator(BITWISE_XOR),
    __rxor__=operator(BITWISE_XOR, reflected=True), __lshift__=operator(SHIFT_LEFT),
    __rlshift__=operator(SHIFT_LEFT, reflected=True), __rshift__=operator(SHIFT_RIGHT),
    __rrshift__=operator(SHIFT_RIGHT, reflected=True), __invert__=_invert,
)
register_inplace("eq", "ne", "lt", "le", "gt", "ge", "not_equal", "less", "less_equal", "greater", "greater_equal",
                 "logical_and", "logical_or", "logical_xor", "logical_not", "bitwise_and", "bitwise_or",
                 "bitwise_xor", "bitwise_not", "bitwise_left_shift", "bitwise_right_shift")
register_methods(__iand__=inplace_operator("bitwise_and_"), __ior__=inplace_operator("bitwise_or_"),
                 __ixor__=inplace_operator("bitwise_xor_"), __ilshift__=inplace_operator("bitwise_left_shift_"),
                 __irshift__=inplace_operator("bitwise_right_shift_"))
