"""What the element-wise families share beyond type promotion (``promotion.py``): operands and scalar checks,
broadcasting, builders for unary and binary primitives and their public functions, Python operators, and the
generic in-place variant.

The element-wise families are ``unary.py`` (math functions and activations), ``arithmetic.py``,
``comparison.py`` (comparisons, logical and bitwise ops) and ``ternary.py`` (where, clamp, lerp).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .. import dtypes
from ..dispatch import dispatch, records_graph
from ..registry import Meta, OpDef, cached_meta, defop
from ..shape_rules import broadcast_shapes
from ..tensor import Tensor, register_methods
from .copy import COPY_
from .promotion import Promotion, Rule, cast, narrow, promote1, promote2, quiet_off, quiet_on

_PLAIN_OPERANDS = frozenset((Tensor, bool, int, float))


# ----- operands ----------------------------------------------------------------------------------------------
def operand(value: Any) -> Any:
    """``value`` as an element-wise operand (a Tensor or a Python number), or None when it cannot be one.

    NumPy scalars become Python numbers, so NumPy's own promotion never sees a typed scalar.
    """
    # int subclasses pass as they are: the tracer's symbolic sizes (``x / x.shape[1]``) keep their expression.
    if type(value) in _PLAIN_OPERANDS or isinstance(value, Tensor | int):
        return value
    if isinstance(value, np.bool_ | np.integer | np.floating):
        return value.item()
    return None


def as_operand(fn: str, name: str, position: int, value: Any) -> Any:
    """:func:`operand`, or PyTorch's TypeError naming the argument."""
    found = operand(value)
    if found is None:
        raise TypeError(f"{fn}(): argument '{name}' (position {position}) must be Tensor or Number, "
                        f"not {type(value).__name__}")
    return found


def as_tensor_arg(fn: str, name: str, position: int, value: Any) -> Tensor:
    """``value`` itself when it is a Tensor, else PyTorch's TypeError for ops that take no scalars."""
    if not isinstance(value, Tensor):
        raise TypeError(f"{fn}(): argument '{name}' (position {position}) must be Tensor, not {type(value).__name__}")
    return value


def check_int_scalar(value: Any) -> None:
    """PyTorch reads Python ints as int64 (or uint64): anything wider cannot be converted."""
    if type(value) is int and not -(2**63) <= value < 2**64:
        raise OverflowError("int too big to convert")


def broadcast(*operands: Any) -> tuple:
    """The broadcast shape of the tensor operands (scalars are 0-d), with both shapes named on a mismatch."""
    shapes = [x._shape for x in operands if isinstance(x, Tensor)]
    if len(shapes) == 1 or len(shapes) == 2 and shapes[0] == shapes[1]:
        return shapes[0]
    return broadcast_shapes(*shapes) if shapes else ()

# ----- in-place variants -------------------------------------------------------------------------------------
def inplace(fn: Callable, name: str) -> Callable:
    """The in-place method ``name`` of out-of-place op ``fn``: compute, check, then ``copy_`` into self.

    PyTorch's rules: the result dtype must be castable to self's (no float into an integer tensor) and the
    broadcast shape must be self's shape. ``copy_`` bumps the version counter and refuses expanded views.
    """

    def method(self: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        # The op may save self for backward, which copy_ then overwrites: under autograd it reads a copy, as
        # PyTorch saves the original self of an in-place op.
        source = self.clone() if records_graph(self, *args, *kwargs.values()) else self
        result = fn(source, *args, **kwargs)
        if not dtypes.can_cast(result._dtype, self._dtype):
            raise RuntimeError(f"result type {result._dtype.scalar_name} can't be cast to the desired output type "
                               f"{self._dtype.scalar_name}")
        if result._shape != self._shape:
            raise RuntimeError(f"output with shape {list(self._shape)} doesn't match the broadcast shape "
                               f"{list(result._shape)}")
        return dispatch(COPY_, self, result)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"In-place version of :meth:`Tensor.{fn.__name__}`; returns self."
    return method


def register_inplace(*names: str, **renamed: Callable) -> None:
    """Attach ``name_`` for each method ``name`` already on Tensor, and ``key=fn`` pairs as given."""
    methods = {f"{n}_": inplace(getattr(Tensor, n), f"{n}_") for n in names}
    methods.update({k: inplace(fn, k) for k, fn in renamed.items()})
    register_methods(**methods)


# ----- op builders -------------------------------------------------------------------------------------------
def unary_op(name: str, rule: Rule, compute: Callable[..., np.ndarray], doc: str) -> OpDef:
    """Define primitive ``name``: dtype from ``rule``, kernel ``compute(x, **attrs)`` on the converted input.

    ``compute`` must return a fresh array (``cast`` may hand it the input itself).
    """

    def infer(input: Any, **attrs: Any) -> Meta:
        if not isinstance(input, Tensor):
            raise TypeError(f"{name}(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}")
        return cached_meta(input._shape, promote1(rule, input).out)

    # NumPy dtypes this op computes in directly (rule maps them to themselves): the common case skips promotion.
    plain_dtypes: set = set()

    def kernel(input: np.ndarray, **attrs: Any) -> np.ndarray:
        token = quiet_on()
        try:
            if input.dtype in plain_dtypes:
                return compute(input, **attrs)
            p = promote1(rule, input)
            if input.dtype is p.plain:
                plain_dtypes.add(input.dtype)
                return compute(input, **attrs)
            return narrow(compute(cast(input, p), **attrs), p)
        finally:
            quiet_off(token)

    return defop(name, infer, cpu=kernel, doc=doc)


def unary_function(name: str, op: OpDef, doc: str) -> Callable:
    """The public function ``name(input)`` of unary primitive ``op``."""

    def fn(input: Tensor) -> Tensor:
        return dispatch(op, input)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc
    return fn


def binary_meta(name: str, rule: Rule, input: Any, other: Any) -> tuple[Promotion, tuple]:
    """Validate a binary op's operands; their promotion and broadcast shape."""
    if isinstance(input, Tensor):
        if isinstance(other, Tensor):
            if input._shape == other._shape:
                return promote2(rule, input, other), input._shape
        else:
            check_int_scalar(other)
    elif isinstance(other, Tensor):
        check_int_scalar(input)
    else:
        raise TypeError(f"{name}(): expected at least one Tensor operand, got {type(input).__name__} and "
                        f"{type(other).__name__}")
    return promote2(rule, input, other), broadcast(input, other)


def _learn_fast_path(input: Any, other: Any, p: Promotion, plain_dtypes: set, plain_scalar_pairs: set) -> None:
    """Remember operand kinds whose promotion is the identity, so later calls skip it (see binary_op)."""
    t_input, t_other = type(input), type(other)
    if t_input is np.ndarray and t_other is np.ndarray:
        if input.dtype is other.dtype is p.plain:
            plain_dtypes.add(input.dtype)
    elif p.int_bounds is None and not p.round_scalars:
        if t_input is np.ndarray and t_other in _PLAIN_OPERANDS and input.dtype is p.plain:
            plain_scalar_pairs.add((input.dtype, t_other, False))
        elif t_other is np.ndarray and t_input in _PLAIN_OPERANDS and other.dtype is p.plain:
            plain_scalar_pairs.add((other.dtype, t_input, True))


def binary_op(name: str, rule: Rule, compute: Callable[..., np.ndarray], doc: str, *, ufunc: np.ufunc | None = None,
              check: Callable[..., None] | None = None, check_attrs: Callable[..., None] | None = None,
              opmath_scalar: bool = False) -> OpDef:
    """Define primitive ``name(input, other)`` over broadcast, promoted operands (tensors or Python scalars).

    ``compute`` is a NumPy ufunc called on both converted operands, or ``compute(x, y, p, **attrs)`` with the
    promotion ``p``; ``ufunc`` replaces it in calls without attributes. The shape rule calls ``check(input,
    other, p)`` to validate the operands and ``check_attrs(p, **attrs)`` when attributes are given.
    ``opmath_scalar``: see :func:`cast`.
    """
    if isinstance(compute, np.ufunc):
        ufunc = compute
    scalar = opmath_scalar

    def infer(input: Any, other: Any, **attrs: Any) -> Meta:
        if type(input) is Tensor and type(other) is Tensor and input._shape == other._shape:
            p, shape = promote2(rule, input, other), input._shape
        else:
            p, shape = binary_meta(name, rule, input, other)
        if check is not None:
            check(input, other, p)
        if attrs and check_attrs is not None:
            check_attrs(p, **attrs)
        return cached_meta(shape, p.out)

    # As in unary_op: same-dtype arrays of a dtype the rule keeps go straight to the ufunc.
    plain_dtypes: set = set()

    # (array dtype, Python scalar type, scalar first) combinations that NumPy's weak-scalar ufunc call already
    # computes exactly as PyTorch does: float arrays with any scalar, no half-precision rounding.
    plain_scalar_pairs: set = set()

    def kernel(input: Any, other: Any, **attrs: Any) -> np.ndarray:
        token = quiet_on()
        try:
            t_input, t_other = type(input), type(other)
            if not attrs:
                if t_input is np.ndarray:
                    if t_other is np.ndarray:
                        if input.dtype is other.dtype and input.dtype in plain_dtypes:
                            return ufunc(input, other)
                    elif (input.dtype, t_other, False) in plain_scalar_pairs:
                        return ufunc(input, other)
                elif t_other is np.ndarray and (other.dtype, t_input, True) in plain_scalar_pairs:
                    return ufunc(input, other)
            p = promote2(rule, input, other)
            if ufunc is not None and not attrs:
                _learn_fast_path(input, other, p, plain_dtypes, plain_scalar_pairs)
            # Arrays already in the compute dtype (the common case) skip the conversion call.
            x = input if type(input) is np.ndarray and input.dtype is p.plain else cast(input, p)
            y = other if type(other) is np.ndarray and other.dtype is p.plain else cast(other, p, opmath_scalar=scalar)
            result = ufunc(x, y) if ufunc is not None and not attrs else compute(x, y, p, **attrs)
            return result if p.plain is not None else narrow(result, p)
        finally:
            quiet_off(token)

    return defop(name, infer, cpu=kernel, doc=doc)


def binary_function(name: str, op: OpDef, doc: str, *, input_scalar: bool = False,
                    other_scalar: bool = True) -> Callable:
    """The public function ``name(input, other)`` of binary primitive ``op``; which operands may be Python
    numbers follows PyTorch's signature for that op.
    """
    first = as_operand if input_scalar else as_tensor_arg
    second = as_operand if other_scalar else as_tensor_arg

    def fn(input: Tensor, other: Tensor | bool | int | float) -> Tensor:
        return dispatch(op, first(name, "input", 1, input), second(name, "other", 2, other))

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc
    return fn


def operator(op: OpDef, *, reflected: bool = False, **attrs: Any) -> Callable:
    """A Python operator method (``__add__``, ``__radd__``...) for binary primitive ``op`` with ``attrs``.

    Unsupported operands give NotImplemented, so Python raises its usual TypeError (``==`` falls back to
    identity and gives False, as with PyTorch).
    """
    if reflected:

        def method(self: Tensor, other: Any) -> Any:
            if type(other) not in _PLAIN_OPERANDS:
                other = operand(other)
                if other is None:
                    return NotImplemented
            return dispatch(op, other, self, **attrs)

    else:

        def method(self: Tensor, other: Any) -> Any:
            # Operators are the hottest path of eager code: plain operands skip the conversion call.
            if type(other) not in _PLAIN_OPERANDS:
                other = operand(other)
                if other is None:
                    return NotImplemented
            return dispatch(op, self, other, **attrs)

    return method


def inplace_operator(method_name: str) -> Callable:
    """``__iadd__`` and friends: the in-place method, or NotImplemented for unsupported operands."""

    def method(self: Tensor, other: Any) -> Any:
        other = operand(other)
        return NotImplemented if other is None else getattr(self, method_name)(other)

    return method


# The shared machinery exports nothing; the element-wise families list their public functions.
__all__: list[str] = []
