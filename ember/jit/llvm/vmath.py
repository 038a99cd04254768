"""Branch-free math functions in IR, so that loops calling them vectorise.

A loop that calls the C library's ``expf`` (or ``llvm.exp.f32``, which becomes that call) stays scalar: LLVM
has no vector version of it to call. These functions are built from ``fma``, ``roundeven``, integer bit
operations and ``select`` only, on a scalar or a vector of float/double, so the same code serves the element-wise
kernels (whose loops LLVM vectorises) and the explicitly vectorised reduction rows.

The methods (the usual ones; the coefficients are Taylor series or fitted here, see each function):

- ``exp``: ``x = n ln2 + r`` (Cody-Waite: ``ln2`` split in two, ``|r| <= ln2/2``), ``e^r - 1`` by its Taylor
  polynomial, and ``2^n`` applied as two powers of two so that results near overflow and in the denormal range
  round once. Inputs are clamped where the result is certainly ``inf`` or ``0``.
- ``expm1``: the same reduction, recombined as ``2^n (q + 1 - 2^-n)`` (``n > 0``) or ``2^n q + (2^n - 1)`` so
  that no digits cancel.
- ``log``: ``x = 2^e m`` with ``m`` in ``[sqrt(1/2), sqrt(2))`` (denormals scaled first), then
  ``log(1 + f) = f - (f^2/2 - s (f^2/2 + R(s^2)))`` with ``s = f / (2 + f)`` and ``R`` the atanh series.
- ``log1p``: ``log(u) * y / (u - 1)`` with ``u = 1 + y`` (exact where ``u`` is).
- ``tanh``: float32: ``x + x^3 T(x^2)`` below 0.625 (``T`` fitted here), ``1 - 2 / (e^2|x| + 1)`` above;
  float64: ``expm1(2|x|) / (expm1(2|x|) + 2)``; the sign copied back.
- ``erf`` (float32 only): ``x + x P(x^2)`` below 1, ``1 - exp(-R(x))`` on ``[1, 4]`` (1 beyond), with ``P`` and
  ``R`` weighted least-squares fits on Chebyshev nodes made for this module (``R`` fits ``-log(erfc(x))``,
  smooth and nearly quadratic, whose error reaches erf scaled down by erfc).

Accuracy, float32 against float64 NumPy over the whole range (tests/jit/llvm/test_vmath.py): exp and log
within 1 ulp, expm1, tanh and erf within 1.5, log1p within 2.5; float64 within 1 ulp of NumPy's own (exp, log)
to 3 (tanh). NaN comes back as NaN, and the IEEE edge values (``exp(+-inf)``, ``log(0) = -inf``,
``log(x < 0) = nan``, ``-0.0``, denormals) are those of the C library.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from decimal import Context, Decimal

import llvmlite.ir as ir

__all__ = ["HAS_FLOAT64", "erf", "exp", "expm1", "log", "log1p", "splat", "tanh"]

# The functions that have a float64 version here; the others are float32 only (float64 keeps the C library).
HAS_FLOAT64 = frozenset({"exp", "expm1", "log", "log1p", "tanh"})

_LN2 = Decimal("0.6931471805599453094172321214581765680755")


def _ln2_minus(hi: float) -> float:
    """``ln2 - hi`` to double precision (computed in 40 digits, without touching the global decimal context)."""
    return float(Context(prec=40).subtract(_LN2, Decimal(hi)))


def _split(hi: float, rounding) -> tuple[float, float]:
    """``(hi, ln2 - hi)``, each rounded to the format by ``rounding``."""
    hi = rounding(hi)
    return hi, rounding(_ln2_minus(hi))


def _round32(v: float) -> float:
    return struct.unpack("f", struct.pack("f", v))[0]


@dataclass(frozen=True)
class _Format:
    """What the algorithms need to know about float or double."""

    bits: int  # of the same-sized integer
    mantissa: int  # stored mantissa bits
    bias: int
    exp_low: float  # exp(x) rounds to 0 below this
    exp_high: float  # and to inf above this
    expm1_low: float  # expm1(x) rounds to -1 below this
    tanh_cap: float  # tanh(x) rounds to 1 above this
    ln2: tuple[float, float]  # ln2 split for exp's reduction
    ln2_log: tuple[float, float]  # ln2 split for log (the high part has trailing zeros)
    exp_terms: int  # degree of the e^r - 1 Taylor polynomial
    log_terms: int  # terms of the atanh series in R
    min_normal: float


_F32 = _Format(32, 23, 127, -104.0, 89.0, -18.0, 10.0, _split(math.log(2), _round32),
               _split(0.693359375, _round32), 8, 5, 2.0 ** -126)
_F64 = _Format(64, 52, 1023, -746.0, 710.0, -40.0, 20.0, _split(math.log(2), float),
               _split(6.93147180369123816490e-01, float), 13, 11, 2.0 ** -1022)

# float32 tanh on [0, 0.625): x + x^3 T(x^2), fitted as erf's P below (relative error weighting).
_TANH_SMALL = (-0.3333333134651184, 0.13333211839199066, -0.05394745245575905, 0.02170400135219097,
               -0.008184662088751793, 0.002148984232917428)
# erf on [0, 1): x + x P(x^2) (the leading term kept apart, exact); on [1, 4]: 1 - exp(-R(x)) with R fitting
# -log(erfc(x)), weighted by erfc (the factor by which an error in R reaches erf). Fitted for float32.
_ERF_SMALL = (0.12837916612625122, -0.3761262893676758, 0.11283612251281738, -0.026854809373617172,
              0.00519005348905921, -0.0008024353883229196, 7.898209878476337e-05)
_ERFC_LOG = (-0.00021116554853506386, 1.1296968460083008, 0.6329593658447266, 0.10874038189649582,
             -0.025452157482504845, 0.004320641979575157, -0.0004751997475977987, 2.722088720474858e-05,
             -3.8777065469730587e-07)


class _Math:
    """Builds IR on values of one type ``ty`` (float, double, or a vector of either)."""

    def __init__(self, b: ir.IRBuilder, ty: ir.Type):
        self.b, self.ty = b, ty
        scalar = ty.element if isinstance(ty, ir.VectorType) else ty
        if not isinstance(scalar, ir.FloatType | ir.DoubleType):
            raise TypeError(f"vmath works on float and double values, not {ty}")
        self.fmt = _F32 if isinstance(scalar, ir.FloatType) else _F64
        int_scalar = ir.IntType(self.fmt.bits)
        self.ity = ir.VectorType(int_scalar, ty.count) if isinstance(ty, ir.VectorType) else int_scalar

    def c(self, v: float) -> ir.Constant:
        return _constant(self.ty, float(v))

    def i(self, v: int) -> ir.Constant:
        return _constant(self.ity, int(v))

    def call(self, name: str, *args: ir.Value) -> ir.Value:
        ty = args[0].type
        suffix = f"v{ty.count}{ty.element.intrinsic_name}" if isinstance(ty, ir.VectorType) else ty.intrinsic_name
        module = self.b.module
        full = f"llvm.{name}.{suffix}"
        fn = module.globals.get(full) or ir.Function(module, ir.FunctionType(ty, [ty] * len(args)), full)
        return self.b.call(fn, list(args))

    def fma(self, x: ir.Value, y: ir.Value, z: ir.Value) -> ir.Value:
        return self.call("fma", x, y, z)

    def poly(self, x: ir.Value, coefficients) -> ir.Value:
        """``sum(c_k x^k)`` by Horner's rule with fused multiply-adds."""
        acc = self.c(coefficients[-1])
        for coefficient in coefficients[-2::-1]:
            acc = self.fma(acc, x, self.c(coefficient))
        return acc

    def lt(self, x: ir.Value, v) -> ir.Value:
        return self.b.fcmp_ordered("<", x, v if isinstance(v, ir.Value) else self.c(v))

    def gt(self, x: ir.Value, v) -> ir.Value:
        return self.b.fcmp_ordered(">", x, v if isinstance(v, ir.Value) else self.c(v))

    def clamp(self, x: ir.Value, low: float, high: float) -> ir.Value:
        """``x`` limited to ``[low, high]``; NaN stays NaN (ordered compares are false for it)."""
        b = self.b
        x = b.select(self.gt(x, high), self.c(high), x)
        return b.select(self.lt(x, low), self.c(low), x)

    def keep_nan(self, x: ir.Value, result: ir.Value) -> ir.Value:
        return self.b.select(self.b.fcmp_unordered("uno", x, x), x, result)

    def pow2(self, n: ir.Value) -> ir.Value:
        """``2^n`` for integers ``n`` of the integer type in the normal exponent range."""
        b = self.b
        return b.bitcast(b.shl(b.add(n, self.i(self.fmt.bias)), self.i(self.fmt.mantissa)), self.ty)

    def reduce(self, x: ir.Value) -> tuple[ir.Value, ir.Value]:
        """``(n, q)`` with ``x = n ln2 + r``, ``q = e^r - 1`` and ``n`` an integer (``x`` in the clamp range)."""
        b = self.b
        n = self.call("roundeven", b.fmul(x, self.c(1 / math.log(2))))
        hi, lo = self.fmt.ln2
        r = self.fma(b.fneg(n), self.c(hi), x)
        r = self.fma(b.fneg(n), self.c(lo), r)
        taylor = [1 / math.factorial(k) for k in range(2, self.fmt.exp_terms + 1)]
        q = self.fma(b.fmul(r, r), self.poly(r, taylor), r)
        return b.fptosi(n, self.ity), q

    def scale(self, x: ir.Value, n: ir.Value) -> ir.Value:
        """``x * 2^n`` for ``n`` up to twice the exponent range: two exact-or-once-rounded products."""
        b = self.b
        half = b.ashr(n, self.i(1))
        return b.fmul(b.fmul(x, self.pow2(half)), self.pow2(b.sub(n, half)))


def _constant(ty: ir.Type, v) -> ir.Constant:
    if isinstance(ty, ir.VectorType):
        return ir.Constant(ty, [v] * ty.count)
    return ir.Constant(ty, v)


def splat(b: ir.IRBuilder, value: ir.Value, ty: ir.Type) -> ir.Value:
    """``value`` (a scalar) in every lane of the vector type ``ty``; ``value`` itself when ``ty`` is scalar."""
    if not isinstance(ty, ir.VectorType):
        return value
    lane = b.insert_element(ir.Constant(ty, ir.Undefined), value, ir.Constant(ir.IntType(32), 0))
    return b.shuffle_vector(lane, ir.Constant(ty, ir.Undefined), ir.Constant(ir.VectorType(ir.IntType(32), ty.count),
                                                                                [0] * ty.count))


def exp(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """``e^x``: overflow gives inf, underflow denormals then 0, NaN stays NaN."""
    m = _Math(b, x.type)
    n, q = m.reduce(m.clamp(x, m.fmt.exp_low, m.fmt.exp_high))
    return m.keep_nan(x, m.scale(b.fadd(q, m.c(1.0)), n))


def expm1(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """``e^x - 1``, accurate near 0 (relative), -1 far below 0, inf on overflow."""
    m = _Math(b, x.type)
    fmt = m.fmt
    n, q = m.reduce(m.clamp(x, fmt.expm1_low, fmt.exp_high))
    positive = b.icmp_signed(">", n, m.i(0))
    # n <= 0: 2^n q + (2^n - 1), both exact, one rounding. n > 0: 2^n (q + (1 - 2^-n)), where 1 - 2^-n is exact
    # up to n = mantissa + 1 and 1 to working precision beyond (so n is capped there for the power).
    low_n = b.select(positive, m.i(0), n)
    low_power = m.pow2(low_n)
    below = b.fadd(b.fmul(low_power, q), b.fsub(low_power, m.c(1.0)))
    capped = b.select(b.icmp_signed(">", n, m.i(fmt.mantissa + 2)), m.i(fmt.mantissa + 2), n)
    above = m.scale(b.fadd(q, b.fsub(m.c(1.0), m.pow2(b.neg(capped)))), n)
    result = b.select(b.fcmp_ordered("==", x, m.c(0.0)), x, b.select(positive, above, below))  # keeps -0.0
    return m.keep_nan(x, result)


def log(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """Natural logarithm: ``log(0) = -inf``, ``log(x < 0) = nan``, ``log(inf) = inf``."""
    m = _Math(b, x.type)
    fmt = m.fmt
    # Denormals: scaled into the normal range first, the exponent corrected after.
    small = m.lt(x, fmt.min_normal)
    shift = fmt.mantissa + 2
    scaled = b.select(small, b.fmul(x, m.c(2.0 ** shift)), x)
    bits = b.bitcast(scaled, m.ity)
    exponent = b.sub(b.and_(b.lshr(bits, m.i(fmt.mantissa)), m.i(2 * fmt.bias + 1)),
                     b.select(small, m.i(fmt.bias + shift), m.i(fmt.bias)))
    one_bits = fmt.bias << fmt.mantissa
    mantissa = b.bitcast(b.or_(b.and_(bits, m.i((1 << fmt.mantissa) - 1)), m.i(one_bits)), m.ty)  # [1, 2)
    big = m.gt(mantissa, math.sqrt(2.0))
    mantissa = b.select(big, b.fmul(mantissa, m.c(0.5)), mantissa)
    exponent = b.add(exponent, b.zext(big, m.ity))
    f = b.fsub(mantissa, m.c(1.0))  # exact: mantissa is within a factor 2 of 1
    s = b.fdiv(f, b.fadd(f, m.c(2.0)))
    z = b.fmul(s, s)
    r = b.fmul(z, m.poly(z, [2.0 / (2 * k + 3) for k in range(fmt.log_terms)]))
    half_square = b.fmul(b.fmul(f, f), m.c(0.5))
    log1p_f = b.fsub(f, b.fsub(half_square, b.fmul(s, b.fadd(half_square, r))))
    e = b.sitofp(exponent, m.ty)
    hi, lo = fmt.ln2_log
    result = m.fma(e, m.c(hi), m.fma(e, m.c(lo), log1p_f))
    result = b.select(b.fcmp_ordered("==", x, m.c(math.inf)), x, result)
    result = b.select(b.fcmp_ordered("==", x, m.c(0.0)), m.c(-math.inf), result)
    return b.select(b.fcmp_unordered("<", x, m.c(0.0)), m.c(math.nan), result)


def log1p(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """``log(1 + x)``, accurate near 0 (relative)."""
    m = _Math(b, x.type)
    u = b.fadd(x, m.c(1.0))
    # log(u) is exact for the rounded u; x / (u - 1) corrects it for the rounding of 1 + x.
    corrected = b.fmul(log(b, u), b.fdiv(x, b.fsub(u, m.c(1.0))))
    exact = b.or_(b.fcmp_ordered("==", u, m.c(1.0)), b.fcmp_ordered("==", u, m.c(math.inf)))
    return b.select(exact, b.select(b.fcmp_ordered("==", u, m.c(1.0)), x, u), corrected)


def tanh(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """Hyperbolic tangent, odd (``tanh(-0.0) = -0.0``), accurate near 0 and saturating to +-1."""
    m = _Math(b, x.type)
    magnitude = m.call("fabs", x)
    capped = b.select(m.gt(magnitude, m.fmt.tanh_cap), m.c(m.fmt.tanh_cap), magnitude)
    if m.fmt is _F32:
        # Below 0.625 a fitted odd polynomial; above, 1 - 2 / (e^2x + 1) loses no digits (tanh > 0.55).
        square = b.fmul(magnitude, magnitude)
        small = m.fma(magnitude, b.fmul(square, m.poly(square, _TANH_SMALL)), magnitude)
        large = b.fsub(m.c(1.0), b.fdiv(m.c(2.0), b.fadd(exp(b, b.fadd(capped, capped)), m.c(1.0))))
        result = b.select(m.lt(magnitude, 0.625), small, large)
    else:
        e = expm1(b, b.fadd(capped, capped))
        result = b.fdiv(e, b.fadd(e, m.c(2.0)))
    return m.keep_nan(x, m.call("copysign", result, x))


def erf(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """The error function (float32 only: the polynomials are fitted to float32 precision)."""
    m = _Math(b, x.type)
    if m.fmt is not _F32:
        raise TypeError("vmath.erf is float32 only")
    magnitude = m.call("fabs", x)
    small = m.fma(magnitude, m.poly(b.fmul(magnitude, magnitude), _ERF_SMALL), magnitude)
    # Beyond 4, erf is 1 in float32 (and R is fitted up to 4 only).
    a = b.select(m.gt(magnitude, 4.0), m.c(4.0), magnitude)
    large = b.fsub(m.c(1.0), exp(b, b.fneg(m.poly(a, _ERFC_LOG))))
    result = b.select(m.lt(magnitude, 1.0), small, large)
    return m.keep_nan(x, m.call("copysign", result, x))
