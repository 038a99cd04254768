"""Unary element-wise math: exp/log/trig, roots, rounding, sign and abs, and the activations (sigmoid, relu,
gelu, silu, softplus).

Floating functions give integer and bool inputs the default float dtype, as PyTorch does; float16 and
bfloat16 compute in float32. Rounding functions return a copy of integer inputs; relu, abs and neg keep the
dtype. Each op is one primitive (``square``, being ``pow(x, 2)``, lives with pow in ``arithmetic.py``).

The backward formulas (end of the module) are PyTorch's ``derivatives.yaml`` ones, written in ember ops so
they differentiate again; at special points they give what PyTorch gives (relu'(0) = abs'(0) = 0, inf for
sqrt and log at 0), and rounding and sign have zero gradient.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import dtypes
from ..creation import zeros_like
from ..dispatch import dispatch
from ..registry import derivative, get_op
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


# ----- derivatives -------------------------------------------------------------------------------------------
# Formulas read the output ("out") where it is cheaper than recomputing from the input, as PyTorch does.
_LN2, _LN10 = math.log(2.0), math.log(10.0)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_SQRT_HALF = math.sqrt(0.5)
_SQRT_TWO_OVER_PI = math.sqrt(2.0 / math.pi)
_GELU_KAPPA = 0.044715


def _formula(name: str, *saves: int | str) -> Callable:
    """``derivative`` for the primitive ``name`` (the builders above keep their OpDefs to themselves)."""
    return derivative(get_op(name), saves=saves)


@_formula("sign")
@_formula("floor")
@_formula("ceil")
@_formula("trunc")
@_formula("round")
def _zero_backward(ctx: Any, grad: Tensor) -> Tensor:
    # Piecewise constant: PyTorch gives zeros (not None), so the input's .grad is a zero tensor.
    return zeros_like(grad)


@_formula("neg")
def _neg_backward(ctx: Any, grad: Tensor) -> Tensor:
    return -grad


@_formula("frac")
def _frac_backward(ctx: Any, grad: Tensor) -> Tensor:
    return grad


@_formula("abs", 0)
def _abs_backward(ctx: Any, grad: Tensor) -> Tensor:
    return grad * sign(ctx.input(0))  # sign(0) = 0: abs'(0) = 0 as in PyTorch


@_formula("exp", "out")
def _exp_backward(ctx: Any, grad: Tensor) -> Tensor:
    return grad * ctx.out


@_formula("exp2", "out")
def _exp2_backward(ctx: Any, grad: Tensor) -> Tensor:
    return grad * ctx.out * _LN2


@_formula("expm1", "out")
def _expm1_backward(ctx: Any, grad: Tensor) -> Tensor:
    return grad * (ctx.out + 1)


@_formula("log", 0)
def _log_backward(ctx: Any, grad: Tensor) -> Tensor:
    return grad / ctx.input(0)


@_formula("log2", 0)
def _log2_backward(ctx: Any, grad: Tensor) -> Tensor:
    return grad / (ctx.input(0) * _LN2)


@_formula("log10", 0)
def _log10_backward(ctx: Any, grad: Tensor) -> Tensor:
    return grad / (ctx.input(0) * _LN10)


@_formula("log1p", 0)
def _log1p_backward(ctx: Any, grad: Tensor) -> Tensor:
    return grad / (ctx.input(0) + 1)


@_formula("sqrt", "out")
def _sqrt_backward(ctx: Any, grad: Tensor) -> Tensor:
    return grad / (2 * ctx.out)


@_formula("rsqrt", "out")
def _rsqrt_backward(ctx: Any, grad: Tensor) -> Tensor:
    out = ctx.out
    return -0.5 * grad * (out * out * out)


@_formula("reciprocal", "out")
def _reciprocal_backward(ctx: Any, grad: Tensor) -> Tensor:
    out = ctx.out
    return -grad * (out * out)


@_formula("sin", 0)
def _sin_backward(ctx: Any, grad: Tensor) -> Tensor:
    return grad * cos(ctx.input(0))


@_formula("cos", 0)
def _cos_backward(ctx: Any, grad: Tensor) -> Tensor:
    return grad * -sin(ctx.input(0))


@_formula("tan", "out")
def _tan_backward(ctx: Any, grad: Tensor) -> Tensor:
    out = ctx.out
    return grad * (1 + out * out)


@_formula("asin", 0)
def _asin_backward(ctx: Any, grad: Tensor) -> Tensor:
    x = ctx.input(0)
    return grad * rsqrt(1 - x * x)


@_formula("acos", 0)
def _acos_backward(ctx: Any, grad: Tensor) -> Tensor:
    x = ctx.input(0)
    return grad * -rsqrt(1 - x * x)


@_formula("atan", 0)
def _atan_backward(ctx: Any, grad: Tensor) -> Tensor:
    x = ctx.input(0)
    return grad / (x * x + 1)


@_formula("sinh", 0)
def _sinh_backward(ctx: Any, grad: Tensor) -> Tensor:
    return grad * cosh(ctx.input(0))


@_formula("cosh", 0)
def _cosh_backward(ctx: Any, grad: Tensor) -> Tensor:
    return grad * sinh(ctx.input(0))


@_formula("tanh", "out")
def _tanh_backward(ctx: Any, grad: Tensor) -> Tensor:
    out = ctx.out
    return grad * (1 - out * out)


@_formula("asinh", 0)
def _asinh_backward(ctx: Any, grad: Tensor) -> Tensor:
    x = ctx.input(0)
    return grad * rsqrt(x * x + 1)


@_formula("acosh", 0)
def _acosh_backward(ctx: Any, grad: Tensor) -> Tensor:
    x = ctx.input(0)
    return grad * rsqrt(x * x - 1)


@_formula("atanh", 0)
def _atanh_backward(ctx: Any, grad: Tensor) -> Tensor:
    x = ctx.input(0)
    return grad / (1 - x * x)


@_formula("sigmoid", "out")
def _sigmoid_backward(ctx: Any, grad: Tensor) -> Tensor:
    out = ctx.out
    return grad * ((1 - out) * out)


@_formula("relu", "out")
def _relu_backward(ctx: Any, grad: Tensor) -> Tensor:
    from .ternary import where

    # PyTorch's threshold_backward: zero where out <= 0 (so relu'(0) = 0); NaN inputs pass the gradient.
    return where(ctx.out <= 0, 0.0, grad)


@_formula("silu", 0)
def _silu_backward(ctx: Any, grad: Tensor) -> Tensor:
    x = ctx.input(0)
    s = sigmoid(x)
    return grad * (s * (1 + x * (1 - s)))


@_formula("erf", 0)
def _erf_backward(ctx: Any, grad: Tensor) -> Tensor:
    x = ctx.input(0)
    return grad * (_TWO_OVER_SQRT_PI * exp(-(x * x)))


@_formula("erfc", 0)
def _erfc_backward(ctx: Any, grad: Tensor) -> Tensor:
    x = ctx.input(0)
    return grad * (-_TWO_OVER_SQRT_PI * exp(-(x * x)))


@derivative(GELU, saves=(0,))
def _gelu_backward(ctx: Any, grad: Tensor) -> Tensor:
    x = ctx.input(0)
    if ctx.attrs.get("approximate", "none") == "tanh":
        # d/dx 0.5 x (1 + tanh(u)) with s = sigmoid(2u): 1 + tanh(u) = 2s and 1 - tanh(u)^2 = 4s(1 - s), which
        # avoids the cancellation in 1 + tanh(u) for negative x.
        s = sigmoid((2 * _SQRT_TWO_OVER_PI) * (x + _GELU_KAPPA * (x * x * x)))
        d_inner = _SQRT_TWO_OVER_PI * (1 + (3 * _GELU_KAPPA) * (x * x))
        return grad * (s * (1 + 2 * x * (1 - s) * d_inner))
    cdf = 0.5 * erfc(x * -_SQRT_HALF)  # = 0.5 (1 + erf(x / sqrt 2)), without its cancellation for negative x
    pdf = exp(-0.5 * (x * x)) * (_TWO_OVER_SQRT_PI * _SQRT_HALF * 0.5)
    return grad * (cdf + x * pdf)


@derivative(SOFTPLUS, saves=(0,))
def _softplus_backward(ctx: Any, grad: Tensor) -> Tensor:
    from .ternary import where

    beta, threshold = ctx.attrs.get("beta", 1.0), ctx.attrs.get("threshold", 20.0)
    scaled = ctx.input(0) * beta
    # e^z / (e^z + 1) is sigmoid(z), which does not overflow to inf / inf for large thresholds.
    return where(scaled > threshold, grad, grad * sigmoid(scaled))


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
