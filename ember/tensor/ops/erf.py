"""Vectorised erf and erfc for the eager kernels (NumPy has neither; ember has no SciPy dependency).

W. J. Cody's rational Chebyshev approximations (Math. Comp. 23 (1969) 631-637; the SPECFUN routine CALERF),
accurate to about 1e-16 relative in float64: erf itself below 0.46875, erfc on [0.46875, 4] and beyond, with
exp(-x*x) split as exp(-s*s) * exp(-(x-s)(x+s)) for s = x rounded down to 1/16, so the large exponent loses
no bits. Float32 inputs are evaluated in float32 (error about 1e-7), float64 in float64.

Each element is evaluated on its own interval only: elements are gathered by index (``take``) and scattered
back, which NumPy does several times faster than boolean-mask indexing; the polynomials run in place, block
by block.
"""

from __future__ import annotations

import numpy as np

_A = (3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02, 3.20937758913846947e03,
      1.85777706184603153e-1)
_B = (2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03, 2.84423683343917062e03)
_C = (5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01, 2.98635138197400131e02,
      8.81952221241769090e02, 1.71204761263407058e03, 2.05107837782607147e03, 1.23033935479799725e03,
      2.15311535474403846e-8)
_D = (1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02, 1.62138957456669019e03,
      3.29079923573345963e03, 4.36261909014324716e03, 3.43936767414372164e03, 1.23033935480374942e03)
_P = (3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1, 1.60837851487422766e-2,
      6.58749161529837803e-4, 1.63153871373020978e-2)
_Q = (2.56852019228982242e00, 1.87295284992346047e00, 5.27905102951428412e-1, 6.05183413124413191e-2,
      2.33520497626869185e-3)
_INV_SQRT_PI = 5.6418958354775628695e-1
_SMALL = 0.46875
# erfc underflows to zero beyond ~27.3 (~9.2 in float32); clipping keeps inf out of the exponent split.
_CLIP = 30.0


def _ratio(z: np.ndarray, num: tuple, den: tuple) -> np.ndarray:
    """Cody's rational function: num[-1] leads the numerator, den's leading coefficient is 1 (in place)."""
    top = num[-1] * z
    bottom = z.copy()
    for n, d in zip(num[:len(den) - 1], den[:-1], strict=True):
        top += n
        top *= z
        bottom += d
        bottom *= z
    top += num[len(den) - 1]
    bottom += den[-1]
    top /= bottom
    return top


def _times_gaussian(y: np.ndarray, r: np.ndarray) -> np.ndarray:
    """``exp(-y*y) * r`` without the rounding error of forming y*y."""
    s = np.trunc(y * 16.0)
    s /= 16.0
    tail = y - s
    tail *= y + s
    s *= -s
    r *= np.exp(s, out=s)
    np.negative(tail, out=tail)
    r *= np.exp(tail, out=tail)
    return r


def _erfc_large(y: np.ndarray) -> np.ndarray:
    """erfc(y) for a flat array with y >= 0.46875 (NaN passes through)."""
    out = np.empty_like(y)
    mid = y <= 4.0
    near, far = np.flatnonzero(mid), np.flatnonzero(~mid)
    ym = y.take(near)
    out[near] = _times_gaussian(ym, _ratio(ym, _C, _D))
    yf = np.minimum(y.take(far), _CLIP)
    z = 1.0 / (yf * yf)
    r = _ratio(z, _P, _Q)
    r *= z
    np.subtract(_INV_SQRT_PI, r, out=r)
    r /= yf
    out[far] = _times_gaussian(yf, r)
    return out


def _split(flat: np.ndarray) -> tuple:
    """|x| and the indices of a flat block below and from 0.46875 (NaN counts as large)."""
    y = np.abs(flat)
    small = y < _SMALL
    return y, np.flatnonzero(small), np.flatnonzero(~small)


def _erf_small(x: np.ndarray) -> np.ndarray:
    """erf(x) for |x| < 0.46875."""
    r = _ratio(x * x, _A, _B)
    r *= x
    return r


def _erf_block(flat: np.ndarray, out: np.ndarray) -> None:
    y, small, large = _split(flat)
    out[small] = _erf_small(flat.take(small))
    # (0.5 - erfc) + 0.5 as Cody writes it: exact for erfc near 0.5.
    value = 0.5 - _erfc_large(y.take(large))
    value += 0.5
    out[large] = np.copysign(value, flat.take(large))


def _erfc_block(flat: np.ndarray, out: np.ndarray) -> None:
    y, small, large = _split(flat)
    out[small] = 1.0 - _erf_small(flat.take(small))
    tail = _erfc_large(y.take(large))
    out[large] = np.where(flat.take(large) < 0, 2.0 - tail, tail)


# Blocks of 64K elements keep each pass of the ~60 NumPy operations in cache: 2-3x faster on 1e6 elements.
_BLOCK = 1 << 16


def _blockwise(block_fn, x: np.ndarray) -> np.ndarray:
    flat = x.ravel()
    out = np.empty_like(flat)
    for start in range(0, flat.size, _BLOCK):
        block_fn(flat[start:start + _BLOCK], out[start:start + _BLOCK])
    return out.reshape(x.shape)


def erf(x: np.ndarray) -> np.ndarray:
    """The error function of a float32 or float64 array, as a fresh array of its dtype and shape."""
    return _blockwise(_erf_block, x)


def erfc(x: np.ndarray) -> np.ndarray:
    """The complementary error function 1 - erf(x), accurate in the far tail (a fresh array)."""
    return _blockwise(_erfc_block, x)
