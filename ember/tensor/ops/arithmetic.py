"""Binary arithmetic: add, sub, mul, div (true, trunc, floor), remainder, fmod, pow (and square), maximum,
minimum, atan2, with broadcasting, PyTorch's type promotion and Python scalars on either side; their operators
(``+ - * / // % **``, reflected and in-place) and in-place methods.

Integer arithmetic wraps like C; integer division or remainder by zero raises as in PyTorch.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import dtypes
from ..creation import zeros_like
from ..dispatch import dispatch
from ..registry import Meta, defop, derivative
from ..tensor import Tensor, register_methods
from .elementwise import (
    as_operand,
    as_tensor_arg,
    binary_function,
    binary_meta,
    binary_op,
    inplace_operator,
    operand,
    operator,
    register_inplace,
)
from .promotion import (
    Promotion,
    cast,
    exact_rule,
    float_rule,
    narrow,
    no_bool,
    not_implemented,
    promote2,
    quiet,
    same_rule,
)
from .unary import reciprocal

Number = bool | int | float


# ----- add and sub -------------------------------------------------------------------------------------------
def _check_alpha(p: Promotion, alpha: Any = 1) -> None:
    if isinstance(alpha, bool):
        if p.out is not dtypes.bool:
            raise RuntimeError("Boolean alpha only supported for Boolean results.")
    elif isinstance(alpha, float):
        if not p.out.is_floating_point:
            raise RuntimeError("For integral input tensors, argument alpha must not be a floating point number.")
    elif not isinstance(alpha, int):
        raise TypeError(f"add(): argument 'alpha' must be Number, not {type(alpha).__name__}")


def _is_bool(x: Any) -> bool:
    return x._dtype is dtypes.bool if isinstance(x, Tensor) else isinstance(x, bool)


def _check_sub(input: Any, other: Any, p: Promotion) -> None:
    if _is_bool(input) and _is_bool(other):
        raise RuntimeError("Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` or "
                           "`logical_xor()` operator instead.")
    if _is_bool(input) or _is_bool(other):
        raise RuntimeError("Subtraction, the `-` operator, with a bool tensor is not supported. If you are trying to "
                           "invert a mask, use the `~` or `logical_not()` operator instead.")


def _scaled(y: Any, alpha: Any, p: Promotion) -> Any:
    """``alpha * y`` computed in the op's compute dtype, as PyTorch fuses it into add/sub."""
    if p.out is dtypes.bool:
        return np.logical_and(y, bool(alpha))
    return np.multiply(np.asarray(y, dtype=p.compute), cast(alpha, p, opmath_scalar=True))


def _add(x: Any, y: Any, p: Promotion, *, alpha: Number = 1) -> np.ndarray:
    return np.add(x, _scaled(y, alpha, p))


def _sub(x: Any, y: Any, p: Promotion, *, alpha: Number = 1) -> np.ndarray:
    return np.subtract(x, _scaled(y, alpha, p))


ADD = binary_op("add", same_rule, _add, "input + alpha * other.", ufunc=np.add, check_attrs=_check_alpha)
SUB = binary_op("sub", same_rule, _sub, "input - alpha * other.", ufunc=np.subtract, check=_check_sub,
                check_attrs=_check_alpha)


@derivative(ADD)
def _add_backward(ctx: Any, grad: Tensor) -> tuple:
    alpha = ctx.attrs.get("alpha", 1)
    return grad, (grad if alpha == 1 else grad * alpha) if ctx.needs_input_grad[1] else None


@derivative(SUB)
def _sub_backward(ctx: Any, grad: Tensor) -> tuple:
    alpha = ctx.attrs.get("alpha", 1)
    return grad, (-grad if alpha == 1 else grad * -alpha) if ctx.needs_input_grad[1] else None


def add(input: Tensor, other: Tensor | Number, *, alpha: Number = 1) -> Tensor:
    """``input + alpha * other``, broadcasting, with PyTorch's type promotion (``other`` may be a number).

    Example::

        >>> ember.add(ember.tensor([1, 2]), 1.5)
        tensor([2.5000, 3.5000])
    """
    input, other = as_operand("add", "input", 1, input), as_operand("add", "other", 2, other)
    if type(alpha) is int and alpha == 1:
        return dispatch(ADD, input, other)
    return dispatch(ADD, input, other, alpha=alpha)


def sub(input: Tensor, other: Tensor | Number, *, alpha: Number = 1) -> Tensor:
    """``input - alpha * other``, broadcasting and promoting like :func:`add`; refused for bool operands."""
    input, other = as_operand("sub", "input", 1, input), as_operand("sub", "other", 2, other)
    if type(alpha) is int and alpha == 1:
        return dispatch(SUB, input, other)
    return dispatch(SUB, input, other, alpha=alpha)


def rsub(input: Tensor, other: Tensor | Number, *, alpha: Number = 1) -> Tensor:
    """``other - alpha * input``."""
    return sub(other, as_tensor_arg("rsub", "input", 1, input), alpha=alpha)


# ----- mul and div -------------------------------------------------------------------------------------------
MUL = binary_op("mul", same_rule, np.multiply, "input * other.", opmath_scalar=True)


@derivative(MUL, saves=((0, 1), (1, 0)))
def _mul_backward(ctx: Any, grad: Tensor) -> tuple:
    needs = ctx.needs_input_grad
    return grad * ctx.input(1) if needs[0] else None, grad * ctx.input(0) if needs[1] else None


mul = binary_function("mul", MUL, "``input * other``, broadcasting, with PyTorch's type promotion.",
                      input_scalar=True)


def _check_divisor(y: Any, p: Promotion) -> None:
    if p.compute.kind in "iu" and not np.all(y):
        raise RuntimeError("ZeroDivisionError")


_DIV_RULES = {None: float_rule, "trunc": no_bool("div_trunc_cpu"), "floor": no_bool("div_floor_cpu")}


def _div_meta(input: Any, other: Any, *, rounding_mode: str | None = None) -> Meta:
    rule = _DIV_RULES.get(rounding_mode)
    if rule is None:
        raise RuntimeError("div expected rounding_mode to be one of None, 'trunc', or 'floor' but found "
                           f"'{rounding_mode}'")
    p, shape = binary_meta("div", rule, input, other)
    return Meta(shape, p.out)


def _divide(x: Any, y: Any, p: Promotion, rounding_mode: str | None) -> np.ndarray:
    if rounding_mode is None:
        return np.true_divide(x, y)
    if p.compute.kind == "f":
        return np.floor_divide(x, y) if rounding_mode == "floor" else np.trunc(np.true_divide(x, y))
    _check_divisor(y, p)
    quotient = np.floor_divide(x, y)
    if rounding_mode == "floor":
        return quotient
    # Floor and truncation differ by one where the quotient is negative and inexact.
    return quotient + ((np.remainder(x, y) != 0) & (np.less(x, 0) != np.less(y, 0)))


def _div_kernel(input: Any, other: Any, *, rounding_mode: str | None = None) -> np.ndarray:
    p = promote2(_DIV_RULES[rounding_mode], input, other)
    # PyTorch's div reads a scalar divisor at compute precision (see cast).
    result = _divide(cast(input, p), cast(other, p, opmath_scalar=True), p, rounding_mode)
    return result if p.plain is not None else narrow(result, p)


DIV = defop("div", _div_meta, cpu=quiet(_div_kernel), doc="input / other, optionally rounded ('trunc', 'floor').")


@derivative(DIV, saves=((0, 1), (1, 0), (1, 1)))
def _div_backward(ctx: Any, grad: Tensor) -> tuple:
    needs = ctx.needs_input_grad
    if ctx.attrs.get("rounding_mode") is not None:
        # Rounded division is piecewise constant: PyTorch gives zero gradients (not None) to both operands.
        zero = zeros_like(grad)
        return zero if needs[0] else None, zero if needs[1] else None
    other = ctx.input(1)
    return grad / other if needs[0] else None, -grad * ((ctx.input(0) / other) / other) if needs[1] else None


def div(input: Tensor, other: Tensor | Number, *, rounding_mode: str | None = None) -> Tensor:
    """``input / other`` broadcast; integer inputs give floats unless ``rounding_mode`` is given.

    Args:
        rounding_mode: None (true division), ``'trunc'`` (round toward zero) or ``'floor'`` (round down, Python's
            ``//``). Integer division by zero raises.
    """
    input, other = as_operand("div", "input", 1, input), as_operand("div", "other", 2, other)
    if rounding_mode is None:
        return dispatch(DIV, input, other)
    return dispatch(DIV, input, other, rounding_mode=rounding_mode)


def true_divide(input: Tensor, other: Tensor | Number) -> Tensor:
    """``div(input, other)`` without rounding."""
    return div(input, other)


def floor_divide(input: Tensor, other: Tensor | Number) -> Tensor:
    """``input // other``: division rounded down, ``div(input, other, rounding_mode='floor')``."""
    return div(input, other, rounding_mode="floor")


# ----- remainder and fmod ------------------------------------------------------------------------------------
def _remainder(x: Any, y: Any, p: Promotion) -> np.ndarray:
    if p.compute.kind != "f":
        _check_divisor(y, p)
        return np.remainder(x, y)
    # PyTorch's formula (NumPy differs in the sign of zero results): fmod, then shift into the divisor's sign.
    mod = np.fmod(x, y)
    return np.where((mod != 0) & (np.less(y, 0) != (mod < 0)), mod + y, mod)


def _fmod(x: Any, y: Any, p: Promotion) -> np.ndarray:
    if p.compute.kind != "f":
        _check_divisor(y, p)
    return np.fmod(x, y)


REMAINDER = binary_op("remainder", no_bool("remainder_cpu"), _remainder, "Python's modulus: sign of the divisor.")
FMOD = binary_op("fmod", no_bool("fmod_cpu"), _fmod, "C's fmod: remainder with the sign of the dividend.")


def _modulus_backward(rounding_mode: str) -> Any:
    """``input - q * other`` with ``q`` the rounded quotient (constant almost everywhere), as PyTorch."""

    def backward(ctx: Any, grad: Tensor) -> tuple:
        needs = ctx.needs_input_grad
        quotient = div(ctx.input(0), ctx.input(1), rounding_mode=rounding_mode) if needs[1] else None
        return grad if needs[0] else None, -grad * quotient if needs[1] else None

    return backward


derivative(REMAINDER, saves=(0, 1))(_modulus_backward("floor"))
derivative(FMOD, saves=(0, 1))(_modulus_backward("trunc"))
remainder = binary_function("remainder", REMAINDER, "``input % other`` with the sign of ``other`` (Python's %).",
                            input_scalar=True)
fmod = binary_function("fmod", FMOD, "Remainder of ``input / other`` with the sign of ``input`` (C's fmod).")


# ----- pow ---------------------------------------------------------------------------------------------------
def _check_pow(base: Any, exponent: Any, p: Promotion) -> None:
    if isinstance(exponent, Tensor) or isinstance(base, Tensor) and base._dtype.is_floating_point:
        if p.out is dtypes.bool:
            raise not_implemented("pow", dtypes.bool)
        return
    if isinstance(exponent, int) and exponent < 0 and isinstance(base, Tensor):
        raise RuntimeError("Integers to negative integer powers are not allowed.")
    # PyTorch answers x ** 0 and x ** 1 before choosing a kernel, so bool tensors get those two and no others.
    if p.out is dtypes.bool and exponent not in (0, 1):
        raise not_implemented("pow", dtypes.bool)


def _pow(x: Any, y: Any, p: Promotion) -> np.ndarray:
    if p.compute.kind == "b":
        return np.ones_like(x) if y == 0 else x.copy()
    if p.compute.kind == "i" and type(y) is np.ndarray and (y < 0).any():
        # A negative tensor exponent of an integer: 1 for base 1, +-1 for base -1, else 0 (C's truncation).
        result = np.power(x, np.maximum(y, 0))
        odd = (y & 1).astype(bool)
        reciprocal = np.where(np.equal(x, 1), 1, np.where(np.equal(x, -1), np.where(odd, -1, 1), 0))
        return np.where(y < 0, reciprocal, result).astype(p.compute)
    return np.power(x, y)


POW = binary_op("pow", same_rule, _pow, "input ** exponent.", check=_check_pow)


def _scalar_log(x: Number) -> float:
    """The log of a nonzero Python base: NaN for negative ones, as PyTorch's real Scalar log."""
    return math.log(x) if x > 0 else math.nan


# PyTorch's formulas (they keep x ** 2 at 0 and 0 ** b for b >= 0 finite). The result is recomputed rather than
# saved, so that an in-place change of the output (``y = x ** 2; y += 1``) does not invalidate the graph.
@derivative(POW, saves=(0, 1))
def _pow_backward(ctx: Any, grad: Tensor) -> tuple:
    from .ternary import where

    base, exponent = ctx.input(0), ctx.input(1)
    grad_base = grad_exponent = None
    if ctx.needs_input_grad[0]:
        if isinstance(exponent, Tensor):
            grad_base = where(exponent == 0.0, 0.0, grad * (exponent * base.pow(exponent - 1)))
        elif exponent == 0:
            grad_base = zeros_like(grad)
        else:
            grad_base = grad * (float(exponent) * base.pow(float(exponent) - 1))
    if ctx.needs_input_grad[1]:
        result = pow(base, exponent)
        if isinstance(base, Tensor):
            log_base = (base if base.dtype is grad.dtype else base.to(grad.dtype)).log()
            grad_exponent = grad * where((base == 0).logical_and(exponent >= 0), 0.0, result * log_base)
        elif base == 0:
            grad_exponent = grad * where(exponent >= 0, 0.0, result * -math.inf)
        else:
            grad_exponent = grad * (result * _scalar_log(base))
    return grad_base, grad_exponent


def pow(input: Tensor | Number, exponent: Tensor | Number) -> Tensor:  # noqa: A001 - PyTorch's name
    """``input ** exponent`` element-wise; either may be a number. An integer tensor to a negative integer
    scalar power raises, as in PyTorch.
    """
    return dispatch(POW, as_operand("pow", "input", 1, input), as_operand("pow", "exponent", 2, exponent))


def square(input: Tensor) -> Tensor:
    """Element-wise ``input * input``, as ``pow(input, 2)`` (so bool gives int64)."""
    return dispatch(POW, as_tensor_arg("square", "input", 1, input), 2)


# ----- maximum, minimum, atan2 -------------------------------------------------------------------------------
MAXIMUM = binary_op("maximum", exact_rule, np.maximum, "Element-wise max; NaN propagates.")
MINIMUM = binary_op("minimum", exact_rule, np.minimum, "Element-wise min; NaN propagates.")
ATAN2 = binary_op("atan2", float_rule, np.arctan2, "Angle of the point (other, input).")


def _extremum_backward(ctx: Any, grad: Tensor, input_loses: Tensor, other_loses: Tensor) -> tuple:
    from .ternary import where

    # Ties split the gradient evenly; NaN (neither side loses) sends it to both, as in PyTorch.
    shared = where(ctx.input(0) == ctx.input(1), grad / 2, grad)
    needs = ctx.needs_input_grad
    return (where(input_loses, 0.0, shared) if needs[0] else None,
            where(other_loses, 0.0, shared) if needs[1] else None)


@derivative(MAXIMUM, saves=(0, 1))
def _maximum_backward(ctx: Any, grad: Tensor) -> tuple:
    input, other = ctx.input(0), ctx.input(1)
    return _extremum_backward(ctx, grad, input < other, input > other)


@derivative(MINIMUM, saves=(0, 1))
def _minimum_backward(ctx: Any, grad: Tensor) -> tuple:
    input, other = ctx.input(0), ctx.input(1)
    return _extremum_backward(ctx, grad, input > other, input < other)


@derivative(ATAN2, saves=(0, 1))
def _atan2_backward(ctx: Any, grad: Tensor) -> tuple:
    input, other = ctx.input(0), ctx.input(1)
    scale = (input * input + other * other).reciprocal()
    needs = ctx.needs_input_grad
    return grad * other * scale if needs[0] else None, grad * -input * scale if needs[1] else None


maximum = binary_function("maximum", MAXIMUM, "Element-wise maximum of two tensors; NaN propagates.",
                          other_scalar=False)
minimum = binary_function("minimum", MINIMUM, "Element-wise minimum of two tensors; NaN propagates.",
                          other_scalar=False)
atan2 = binary_function("atan2", ATAN2, "Element-wise arctangent of ``input / other`` in the correct quadrant.",
                        other_scalar=False)


# ----- operators ---------------------------------------------------------------------------------------------
def _rtruediv(self: Tensor, other: Any) -> Any:
    # PyTorch computes ``other / self`` as ``self.reciprocal() * other``, and so do we, rounding included.
    other = operand(other)
    return NotImplemented if other is None else dispatch(MUL, reciprocal(self), other)


subtract, multiply, divide, arctan2 = sub, mul, div, atan2

__all__ = ["add", "sub", "subtract", "rsub", "mul", "multiply", "div", "divide", "true_divide", "floor_divide",
           "remainder", "fmod", "pow", "square", "maximum", "minimum", "atan2", "arctan2"]

# NumPy scalars and arrays on the left defer to the Tensor's reflected operators (np.float64(2) * t is a
# Tensor), as PyTorch arranges with the same attribute.
register_methods(__array_priority__=1000)
register_methods(
    add=add, sub=sub, subtract=sub, mul=mul, multiply=mul, div=div, divide=div, true_divide=true_divide,
    floor_divide=floor_divide, remainder=remainder, fmod=fmod, pow=pow, square=square, maximum=maximum, minimum=minimum,
    atan2=atan2, arctan2=atan2,
    __add__=operator(ADD), __radd__=operator(ADD, reflected=True), __sub__=operator(SUB),
    __rsub__=operator(SUB, reflected=True), __mul__=operator(MUL), __rmul__=operator(MUL, reflected=True),
    __truediv__=operator(DIV), __rtruediv__=_rtruediv, __floordiv__=operator(DIV, rounding_mode="floor"),
    __rfloordiv__=operator(DIV, reflected=True, rounding_mode="floor"), __mod__=operator(REMAINDER),
    __rmod__=operator(REMAINDER, reflected=True), __pow__=operator(POW), __rpow__=operator(POW, reflected=True),
)
register_inplace("add", "sub", "subtract", "mul", "multiply", "div", "divide", "true_divide", "floor_divide",
                 "remainder", "fmod", "pow", "square", "atan2", "arctan2")
register_methods(__iadd__=inplace_operator("add_"), __isub__=inplace_operator("sub_"),
                 __imul__=inplace_operator("mul_"), __itruediv__=inplace_operator("div_"),
                 __ifloordiv__=inplace_operator("floor_divide_"), __imod__=inplace_operator("remainder_"),
                 __ipow__=inplace_operator("pow_"))
