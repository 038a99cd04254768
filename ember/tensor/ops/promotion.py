"""Type promotion and operand conversion for the element-wise kernels, and their quiet floating point.

An element-wise op follows PyTorch's TensorIterator: promote the operands to a common dtype
(``dtypes.result_type``: Python scalars and 0-d tensors rank below dimensioned tensors), convert every operand
to it, compute -- float16 and bfloat16 in float32, PyTorch's CPU "opmath" -- and round the result to the
output dtype. A :class:`Promotion` records those dtypes for one combination of operand kinds; it is cached,
since the shape rule and the kernel of every call ask for it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from .. import dtypes
from ..tensor import Tensor

_FROM_NUMPY = {d.np_dtype: d for d in dtypes.ALL_DTYPES}
_REDUCED = (dtypes.float16, dtypes.bfloat16)


def not_implemented(kernel: str, dt: dtypes.dtype) -> NotImplementedError:
    """PyTorch's error for a dtype an op has no kernel for, e.g. ``"bitwise_and_cpu" not implemented for 'Float'``."""
    return NotImplementedError(f"\"{kernel}\" not implemented for '{dt.scalar_name}'")


# ----- type promotion ----------------------------------------------------------------------------------------
class Promotion(NamedTuple):
    """How an element-wise op treats one combination of operand kinds.

    ``out`` is the result dtype; every operand is converted to ``common`` (PyTorch's common dtype) and then to
    ``compute``, the NumPy dtype the kernel computes in; ``plain`` is that dtype when the two are one (arrays
    already of it need no conversion), else None. Scalars are wrapped into ``int_bounds`` for integer
    computations and rounded to ``common`` when ``round_scalars`` (float16/bfloat16 operands).
    """

    out: dtypes.dtype
    common: np.dtype
    compute: np.dtype
    plain: np.dtype | None
    int_bounds: tuple | None
    round_scalars: bool


# A rule maps the promoted dtype to (operand dtype, result dtype, compute dtype), or raises for unsupported dtypes.
Rule = Callable[[dtypes.dtype], tuple]


def opmath(dt: dtypes.dtype) -> dtypes.dtype:
    """The dtype PyTorch's CPU kernels compute ``dt`` in: float32 for float16 and bfloat16."""
    return dtypes.float32 if dt in _REDUCED else dt


def same_rule(dt: dtypes.dtype) -> tuple:
    """Arithmetic that keeps the promoted dtype."""
    return dt, dt, opmath(dt)


def exact_rule(dt: dtypes.dtype) -> tuple:
    """Ops that only select or compare values: no widening needed for float16/bfloat16."""
    return dt, dt, dt


def float_rule(dt: dtypes.dtype) -> tuple:
    """Floating-point functions: integer and bool inputs become the default float dtype first."""
    if not dt.is_floating_point:
        dt = dtypes.get_default_dtype()
    return dt, dt, opmath(dt)


def compare_rule(dt: dtypes.dtype) -> tuple:
    """Comparisons: operands in the promoted dtype (exact, so no widening), a bool result."""
    return dt, dtypes.bool, dt


def floating_only(kernel: str) -> Rule:
    """A rule for ops PyTorch implements for floating dtypes only (frac, gelu, silu...)."""

    def rule(dt: dtypes.dtype) -> tuple:
        if not dt.is_floating_point:
            raise not_implemented(kernel, dt)
        return dt, dt, opmath(dt)

    return rule


def integral_only(kernel: str, *, allow_bool: bool = True) -> Rule:
    """A rule for bitwise ops: integers (and bools) only."""

    def rule(dt: dtypes.dtype) -> tuple:
        if dt.is_floating_point or (dt is dtypes.bool and not allow_bool):
            raise not_implemented(kernel, dt)
        return dt, dt, dt

    return rule


def no_bool(kernel: str, base: Rule = same_rule) -> Rule:
    """``base`` with bool refused the way PyTorch refuses it (abs, floor, remainder...)."""

    def rule(dt: dtypes.dtype) -> tuple:
        if dt is dtypes.bool:
            raise not_implemented(kernel, dt)
        return base(dt)

    return rule


class _StandIn:
    """A dtype and rank in place of a tensor, for ``dtypes.result_type`` on a promotion-cache miss."""

    __slots__ = ("dtype", "_dim")

    def __init__(self, dt: dtypes.dtype, dim: int):
        self.dtype, self._dim = dt, dim

    def dim(self) -> int:
        return self._dim


# Kinds: a dimensioned operand is its dtype (ember's for tensors, NumPy's for kernel arrays), a 0-d one is
# ("0-d", dtype), a Python scalar its type. Cache keys are (rule, kinds..., default dtype).
_ZERO_DIM = {d: ("0-d", d) for d in (*dtypes.ALL_DTYPES, *_FROM_NUMPY)}
_PROMOTIONS: dict = {}
_default_dtype = dtypes.get_default_dtype


def _kind(x: Any) -> Any:
    t = type(x)
    if t is np.ndarray:
        return x.dtype if x.ndim else _ZERO_DIM[x.dtype]
    if t is bool or t is int or t is float:
        return t
    if isinstance(x, int):  # an int subclass: the tracer's symbolic sizes promote as Python ints
        return int
    return x._dtype if x._shape else _ZERO_DIM[x._dtype]


def promote1(rule: Rule, x: Any) -> Promotion:
    """The cached :class:`Promotion` of ``rule`` for one operand (a tensor in shape rules, an array in kernels)."""
    key = (rule, _kind(x), _default_dtype())
    return _PROMOTIONS.get(key) or _remember(key)


def promote2(rule: Rule, x: Any, y: Any) -> Promotion:
    """:func:`promote1` for two operands (tensors or Python scalars; arrays or scalars)."""
    t = type(x)
    # Operands of one dtype promote to it whatever their ranks: the key of a single operand serves (hot path).
    if t is type(y) and (t is Tensor and x._dtype is y._dtype or t is np.ndarray and x.dtype is y.dtype):
        key = (rule, x._dtype if t is Tensor else x.dtype, _default_dtype())
    else:
        key = (rule, _kind(x), _kind(y), _default_dtype())
    return _PROMOTIONS.get(key) or _remember(key)


def promote(rule: Rule, *operands: Any) -> Promotion:
    """:func:`promote1` for any number of operands."""
    key = (rule, *[_kind(x) for x in operands], _default_dtype())
    return _PROMOTIONS.get(key) or _remember(key)


def _remember(key: tuple) -> Promotion:
    stand_ins = []
    for k in key[1:-1]:
        if isinstance(k, type):
            stand_ins.append(k())
        elif isinstance(k, tuple):
            stand_ins.append(_StandIn(_FROM_NUMPY.get(k[1], k[1]), 0))
        else:
            stand_ins.append(_StandIn(_FROM_NUMPY.get(k, k), 1))
    common, out, compute = key[0](dtypes.result_type(*stand_ins))
    bounds = None
    if not common.is_floating_point and common is not dtypes.bool:
        info = np.iinfo(common.np_dtype)
        bounds = (int(info.min), int(info.max))
    found = _PROMOTIONS[key] = Promotion(out, common.np_dtype, compute.np_dtype,
                                         compute.np_dtype if compute is common else None, bounds,
                                         common in _REDUCED and compute is not common)
    return found


def _wrap_int(value: int, np_dtype: np.dtype) -> int:
    """A Python int reduced modulo the integer type's width, as C's conversion (and PyTorch) does."""
    bits = np_dtype.itemsize * 8
    value &= (1 << bits) - 1
    if np_dtype.kind == "i" and value >= 1 << (bits - 1):
        value -= 1 << bits
    return value


def cast(x: Any, p: Promotion, *, opmath_scalar: bool = False) -> Any:
    """Operand ``x`` (array or Python scalar) converted for computing under promotion ``p``.

    Arrays go to the common dtype, then to the compute dtype; scalars stay Python numbers (NumPy treats them
    as weakly typed) after the conversion PyTorch applies. ``opmath_scalar``: PyTorch's mul and div read a
    scalar second operand (a Python number or a 0-d tensor) at compute precision instead of rounding it to a
    float16/bfloat16 common dtype first.
    """
    if type(x) is np.ndarray:
        if x.dtype is p.plain:
            return x
        if x.dtype is not p.common and not (opmath_scalar and x.ndim == 0):
            x = x.astype(p.common)
        return x if x.dtype is p.compute else x.astype(p.compute)
    if p.int_bounds is not None:
        if type(x) is int and not p.int_bounds[0] <= x <= p.int_bounds[1]:
            return _wrap_int(x, p.common)
    elif p.round_scalars and not opmath_scalar:
        return float(np.asarray(x, dtype=p.common))
    return x


# ----- NumPy floating-point errors ---------------------------------------------------------------------------
# PyTorch returns inf/nan silently where NumPy warns; kernels run between quiet_on() and quiet_off(token).
try:  # NumPy >= 2 keeps the error policy in a contextvar: setting a prebuilt one costs 0.1 us, np.errstate 1 us.
    from numpy._core._ufunc_config import _extobj_contextvar, _make_extobj

    quiet_on = functools.partial(_extobj_contextvar.set, _make_extobj(all="ignore"))
    quiet_off = _extobj_contextvar.reset
except (ImportError, AttributeError, TypeError):  # NumPy 1.x, or a NumPy whose private API moved

    def quiet_on() -> Any:
        state = np.errstate(all="ignore")
        state.__enter__()
        return state

    def quiet_off(state: Any) -> None:
        state.__exit__(None, None, None)


def narrow(result: np.ndarray, p: Promotion) -> np.ndarray:
    """Round a result computed in float32 to float16/bfloat16 here, where overflow to inf is quiet."""
    return result.astype(p.out.np_dtype, copy=False)


def quiet(kernel: Callable) -> Callable:
    """``kernel`` run with NumPy's floating-point warnings off."""

    @functools.wraps(kernel)
    def run(*args: Any, **kwargs: Any) -> Any:
        token = quiet_on()
        try:
            return kernel(*args, **kwargs)
        finally:
            quiet_off(token)

    return run
