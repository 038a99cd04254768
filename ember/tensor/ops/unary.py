"""Unary element-wise math: exp/log/trig, roots, rounding, sign and abs, and the activations (sigmoid, relu,
gelu, silu, softplus).

Floating functions give integer and bool inputs the default float dtype, as PyTorch does; float16 and
bfloat16 compute in float32. Rounding functions return a copy of integer inputs; relu, abs and neg keep the
dtype. Each op is one primitive (``square``, being ``pow(x, 2)``, lives with pow in ``arithmetic.py``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .. import dtypes
from ..dispatch import dispatch
from ..tensor import Tensor, register_methods
from . import erf as _erf
from .elementwise import register_inplace, unary_function, unary_op
from .promotion import Rule, exact_rule, float_rule, floating_only, no_bool, not_implemented, same_rule


def _function(name: str, rule: Rule, compute: Callable[[np.ndarray], np.ndarray], doc: str) -> Callable:
    """A primitive and its public function ``name(input)``."""
    return unary_function(name, unary_op(name, rule, compute, doc), doc)


def _copy_if_integral(np_fn: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    """Rounding functions are the identity on integers, but must still return a fresh array."""
    return lambda x: np_fn(x) if x.dtype.kind == "f" else x.copy()


def _rounding_rule(kernel: str) -> Rule:
    def rule(dt: dtypes.dtype) -> tuple:
        if dt is dtypes.bool:
            raise not_implemented(kernel, dt)
        return same_rule(dt) if dt.is_floating_point else exact_rule(dt)

    return rule


def _sign(x: np.ndarray) -> np.ndarray:
    # (x > 0) - (x < 0): sign(nan) is 0 in PyTorch, where np.sign gives nan.
    return x.copy() if x.dtype == np.bool_ else np.subtract(x > 0, x < 0, dtype=x.dtype)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _relu(x: np.ndarray) -> np.ndarray:
    # np.maximum propagates NaN, as PyTorch's relu (clamp_min(x, 0)) does.
    return np.maximum(x, 0)


def _relu_rule(dt: dtypes.dtype) -> tuple:
    if dt is dtypes.bool:
        raise RuntimeError("Boolean inputs not supported for relu")
    return exact_rule(dt)


def _neg_rule(dt: dtypes.dtype) -> tuple:
    if dt is dtypes.bool:
        raise RuntimeError("Negation, the `-` operator, on a bool tensor is not supported. If you are trying to "
                           "invert a mask, use the `~` or `logical_not()` operator instead.")
    return same_rule(dt)


neg = _function("neg", _neg_rule, np.negative, "Element-wise ``-input``; integers wrap, bool is refused.")
abs = _function("abs", no_bool("abs_cpu"), np.abs, "Element-wise absolute value; keeps the dtype.")  # noqa: A001
sign = _function("sign", exact_rule, _sign, "Element-wise sign: -1, 0 or 1 (0 for NaN); keeps the dtype.")
exp = _function("exp", float_rule, np.exp, "Element-wise :math:`e^x`.")
exp2 = _function("exp2", float_rule, np.exp2, "Element-wise :math:`2^x`.")
expm1 = _function("expm1", float_rule, np.expm1, "Element-wise :math:`e^x - 1`, accurate near 0.")
log = _function("log", float_rule, np.log, "Element-wise natural logarithm (-inf at 0, NaN below).")
log2 = _function("log2", float_rule, np.log2, "Element-wise base-2 logarithm.")
log10 = _function("log10", float_rule, np.log10, "Element-wise base-10 logarithm.")
log1p = _function("log1p", float_rule, np.log1p, "Element-wise :math:`\\log(1 + x)`, accurate near 0.")
sqrt = _function("sqrt", float_rule, np.sqrt, "Element-wise square root (NaN for negative inputs).")
rsqrt = _function("rsqrt", float_rule, lambda x: 1.0 / np.sqrt(x), "Element-wise :math:`1/\\sqrt{x}`.")
sin = _function("sin", float_rule, np.sin, "Element-wise sine (radians).")
cos = _function("cos", float_rule, np.cos, "Element-wise cosine (radians).")
tan = _function("tan", float_rule, np.tan, "Element-wise tangent (radians).")
asin = _function("asin", float_rule, np.arcsin, "Element-wise inverse sine.")
acos = _function("acos", float_rule, np.arccos, "Element-wise inverse cosine.")
atan = _function("atan", float_rule, np.arctan, "Element-wise inverse tangent.")
sinh = _function("sinh", float_rule, np.sinh, "Element-wise hyperbolic sine.")
cosh = _function("cosh", float_rule, np.cosh, "Element-wise hyperbolic cosine.")
tanh = _function("tanh", float_rule, np.tanh, "Element-wise hyperbolic tangent.")
asinh = _function("asinh", float_rule, np.arcsinh, "Element-wise inverse hyperbolic sine.")
acosh = _function("acosh", float_rule, np.arccosh, "Element-wise inverse hyperbolic cosine.")
atanh = _function("atanh", float_rule, np.arctanh, "Element-wise inverse hyperbolic tangent.")
sigmoid = _function("sigmoid", float_rule, _sigmoid, "Element-wise logistic function :math:`1 / (1 + e^{-x})`.")
relu = _function("relu", _relu_rule, _relu, "Element-wise ``max(x, 0)``; keeps integer dtypes, refuses bool.")
silu = _function("silu", floating_only("silu_cpu"), lambda x: x / (1.0 + np.exp(-x)),
                 "Element-wise SiLU (swish) :math:`x \\cdot \\sigma(x)`; floating inputs only.")
erf = _function("erf", float_rule, _erf.erf, "Element-wise error function.")
erfc = _function("erfc", float_rule, _erf.erfc, "Element-wise complementary error function 1 - erf(x).")
reciprocal = _function("reciprocal", float_rule, lambda x: 1.0 / x, "Element-wise ``1 / input``.")
floor = _function("floor", _rounding_rule("floor_vml_cpu"), _copy_if_integral(np.floor),
                  "Element-wise floor; integers are returned unchanged (as a copy).")
ceil = _function("ceil", _rounding_rule("ceil_vml_cpu"), _copy_if_integral(np.ceil),
                 "Element-wise ceiling; integers are returned unchanged (as a copy).")
trunc = _function("trunc", _rounding_rule("trunc_vml_cpu"), _copy_if_integral(np.trunc),
                  "Element-wise rounding toward zero; integers are returned unchanged (as a copy).")
frac = _function("frac", floating_only("frac_cpu"), lambda x: x - np.trunc(x),
                 "Element-wise fractional part ``x - trunc(x)``, with the sign of x; floating inputs only.")


def _round(x: np.ndarray, *, decimals: int = 0) -> np.ndarray:
    if x.dtype.kind != "f":
        return x.copy()
    if decimals == 0:
        return np.rint(x)
    # PyTorch scales by 10**|decimals| in compute precision and rounds half to even.
    scale = x.dtype.type(10.0 ** (decimals if decimals > 0 else -decimals))
    return np.rint(x * scale) / scale if decimals > 0 else np.rint(x / scale) * scale


ROUND = unary_op("round", _rounding_rule("round_vml_cpu"), _round, "Round half to even, optionally to decimals.")


def round(input: Tensor, *, decimals: int = 0) -> Tensor:  # noqa: A001 - PyTorch's name
    """Round to the nearest integer, ties to even; ``decimals`` rounds to that many decimal places (negative:
    to tens, hundreds...). Integer inputs are returned unchanged when ``decimals`` is 0.
    """
    if not isinstance(decimals, int) or isinstance(decimals, bool):
        raise TypeError(f"round(): argument 'decimals' must be int, not {type(decimals).__name__}")
    if decimals != 0 and isinstance(input, Tensor) and not input.dtype.is_floating_point:
        raise not_implemented("round_cpu", input.dtype)
    return dispatch(ROUND, input, decimals=decimals) if decimals else dispatch(ROUND, input)


_GELU_APPROXIMATIONS = ("none", "tanh")


def _gelu(x: np.ndarray, *, approximate: str = "none") -> np.ndarray:
    if approximate == "tanh":
        inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * (x * x * x))
        return 0.5 * x * (1.0 + np.tanh(inner))
    return x * 0.5 * (1.0 + _erf.erf(x * math.sqrt(0.5)))


GELU = unary_op("gelu", floating_only("GeluKernelImpl"), _gelu, "Gaussian error linear unit, exact or tanh.")


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """Gaussian error linear unit :math:`x \\Phi(x)`; ``approximate='tanh'`` uses the tanh formula.

    Args:
        input: a floating tensor.
        approximate: ``'none'`` (exact, through erf) or ``'tanh'``.
    """
    if approximate not in _GELU_APPROXIMATIONS:
        raise RuntimeError("approximate argument must be either none or tanh.")
    return dispatch(GELU, input, approximate=approximate) if approximate != "none" else dispatch(GELU, input)


def _softplus(x: np.ndarray, *, beta: float = 1.0, threshold: float = 20.0) -> np.ndarray:
    scaled = x * x.dtype.type(beta)
    # PyTorch's formula: the identity where beta * x exceeds the threshold (equal to float precision there).
    return np.where(scaled > threshold, x, np.log1p(np.exp(scaled)) / x.dtype.type(beta))


SOFTPLUS = unary_op("softplus", floating_only("softplus_cpu"), _softplus,
                    "Smooth relu log(1 + exp(beta x)) / beta, linear above threshold.")


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """:math:`\\frac{1}{\\beta}\\log(1 + e^{\\beta x})`, and ``x`` itself where ``beta * x > threshold``."""
    return dispatch(SOFTPLUS, input, beta=float(beta), threshold=float(threshold))


def positive(input: Tensor) -> Tensor:
    """``input`` itself (``+input``); refused for bool as in PyTorch."""
    if not isinstance(input, Tensor):
        raise TypeError(f"positive(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}")
    if input.dtype is dtypes.bool:
        raise RuntimeError("The `+` operator, on a bool tensor is not supported.")
    return input


negative, absolute, sgn, fix = neg, abs, sign, trunc
arcsin, arccos, arctan, arcsinh, arccosh, arctanh = asin, acos, atan, asinh, acosh, atanh

_METHODS = dict(
    neg=neg, negative=neg, abs=abs, absolute=abs, sign=sign, sgn=sign, exp=exp, exp2=exp2, expm1=expm1, log=log,
    log2=log2, log10=log10, log1p=log1p, sqrt=sqrt, rsqrt=rsqrt, sin=sin, cos=cos, tan=tan, asin=asin, acos=acos,
    atan=atan, arcsin=asin, arccos=acos, arctan=atan, sinh=sinh, cosh=cosh, tanh=tanh, asinh=asinh, acosh=acosh,
    atanh=atanh, arcsinh=asinh, arccosh=acosh, arctanh=atanh, sigmoid=sigmoid, relu=relu, erf=erf, erfc=erfc,
    reciprocal=reciprocal, floor=floor, ceil=ceil, trunc=trunc, fix=trunc, frac=frac, round=round,
    positive=positive,
)

# gelu, silu and softplus are torch.nn.functional's, not torch's: they stay out of the top-level namespace.
__all__ = list(_METHODS)

register_methods(**_METHODS, __neg__=neg, __abs__=abs, __pos__=positive)
register_inplace(*[name for name in _METHODS if name != "positive"])
