"""The ternary element-wise ops: ``where(condition, input, other)``, ``clamp(input, min, max)`` and
``lerp(input, end, weight)``, each broadcasting all three operands.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import dtypes
from ..dispatch import dispatch
from ..registry import Meta, defop, derivative
from ..scalars import FLOAT_MAX, checked_scalar
from ..tensor import Tensor, register_methods
from .elementwise import as_operand, as_tensor_arg, broadcast, check_int_scalar, register_inplace
from .promotion import (
    cast,
    exact_rule,
    not_implemented,
    promote,
    promote1,
    promote2,
    quiet,
    same_rule,
)


# ----- where -------------------------------------------------------------------------------------------------
def _where_meta(condition: Tensor, input: Any, other: Any) -> Meta:
    if condition._dtype is not dtypes.bool:
        raise RuntimeError("where expected condition to be a boolean tensor, but got a tensor with dtype "
                           f"{condition._dtype.scalar_name}")
    p = promote2(exact_rule, input, other)
    for value in (input, other):
        check_int_scalar(value)
        # Unlike clamp, where lets float scalars overflow to inf in float16/bfloat16, so only integers are checked.
        if not p.out.is_floating_point and not isinstance(value, Tensor):
            checked_scalar(value, p.out)
    return Meta(broadcast(condition, input, other), p.out)


_UNSIGNED = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


def _where_kernel(condition: np.ndarray, input: Any, other: Any) -> np.ndarray:
    p = promote2(exact_rule, input, other)
    a, b = cast(input, p), cast(other, p)
    unsigned = _UNSIGNED.get(p.compute.itemsize)
    if unsigned is None or max(condition.size, np.size(a), np.size(b)) < 4096:
        return np.where(condition, a, b).astype(p.common, copy=False)
    # np.where branches per element and runs about 6x slower on an unpredictable mask (a ReLU's backward); the
    # bitwise select b ^ ((a ^ b) & mask) is exact for every dtype (NaN payloads and -0.0 included).
    b_bits = np.asarray(b, dtype=p.compute).view(unsigned)
    if type(a) in (int, float) and a == 0 and math.copysign(1.0, a) > 0:
        # Zeros where the condition holds (a ReLU's backward): b & (condition - 1), the mask all ones where False.
        return np.bitwise_and(b_bits, np.subtract(condition, 1, dtype=unsigned)).view(p.compute).astype(
            p.common, copy=False)
    a_bits = np.asarray(a, dtype=p.compute).view(unsigned)
    mask = np.multiply(condition, unsigned(np.iinfo(unsigned).max), dtype=unsigned)
    picked = np.bitwise_and(np.bitwise_xor(a_bits, b_bits), mask)
    picked ^= b_bits
    return picked.view(p.compute).astype(p.common, copy=False)


WHERE = defop("where", _where_meta, cpu=quiet(_where_kernel), doc="Pick input where condition holds, else other.")


@derivative(WHERE, saves=(0,))
def _where_backward(ctx: Any, grad: Tensor) -> tuple:
    condition, needs = ctx.input(0), ctx.needs_input_grad
    return (None, where(condition, grad, 0.0) if needs[1] else None,
            where(condition, 0.0, grad) if needs[2] else None)


def where(condition: Tensor, input: Tensor | bool | int | float | None = None,
          other: Tensor | bool | int | float | None = None) -> Tensor | tuple:
    """Elements of ``input`` where ``condition`` is True, else of ``other``; ``input`` and ``other`` broadcast
    and promote like any binary op and may be Python scalars.

    ``where(condition)`` alone is ``nonzero(condition, as_tuple=True)``.

    Example::

        >>> ember.where(ember.tensor([True, False]), 1.0, 0)
        tensor([1., 0.])
    """
    condition = as_tensor_arg("where", "condition", 1, condition)
    if input is None and other is None:
        from .gather_scatter import nonzero

        return nonzero(condition, as_tuple=True)
    return dispatch(WHERE, condition, as_operand("where", "input", 2, input), as_operand("where", "other", 3, other))


# ----- clamp -------------------------------------------------------------------------------------------------
def _clamp_meta(input: Tensor, min: Any, max: Any) -> Meta:
    bounds = [b for b in (min, max) if b is not None]
    if not bounds:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    p = promote(exact_rule, input, *bounds)
    if p.out is dtypes.bool:
        # PyTorch's bool kernels exist for clamp_min/clamp_max with a tensor bound only.
        if not isinstance(bounds[0], Tensor):
            raise not_implemented("clamp_scalar_cpu" if len(bounds) == 2 else
                                  "clamp_min_scalar_cpu" if min is not None else "clamp_max_scalar_cpu", p.out)
        if len(bounds) == 2:
            raise not_implemented("clamp_cpu", p.out)
    for b in bounds:
        check_int_scalar(b)
        if not isinstance(b, Tensor):
            # ember has always bounded bfloat16 scalars by float32's largest here, not bfloat16's as PyTorch does.
            checked_scalar(b, p.out, bfloat16_max=FLOAT_MAX[dtypes.float32])
    return Meta(broadcast(input, *bounds), p.out)


def _clamp_kernel(input: np.ndarray, min: Any, max: Any) -> np.ndarray:
    bounds = [b for b in (min, max) if b is not None]
    p = promote(exact_rule, input, *bounds)
    out = cast(input, p)
    if min is not None:
        out = np.maximum(out, cast(min, p))
    if max is not None:
        out = np.minimum(out, cast(max, p))
    return np.asarray(out, dtype=p.common)


CLAMP = defop("clamp", _clamp_meta, cpu=quiet(_clamp_kernel),
              doc="Limit to [min, max]; either bound may be None; NaN propagates.")


@derivative(CLAMP, saves=(0, 1, 2))
def _clamp_backward(ctx: Any, grad: Tensor) -> tuple:
    input, min, max = ctx.input(0), ctx.input(1), ctx.input(2)
    needs = ctx.needs_input_grad
    grad_input = grad_min = grad_max = None
    # PyTorch's subgradient: the input keeps its gradient where it equals a bound.
    if needs[0]:
        if min is not None and max is not None:
            kept = (input >= min).logical_and(input <= max)
        else:
            kept = input >= min if min is not None else input <= max
        grad_input = where(kept, grad, 0.0)
    # A tensor bound gets the gradient where it was selected; when min > max the result is max everywhere.
    if needs[1]:
        chosen = input < min
        grad_min = where(chosen if max is None else chosen.logical_and(min < max), grad, 0.0)
    if needs[2]:
        chosen = input > max
        grad_max = where(chosen if min is None else chosen.logical_or(max < min), grad, 0.0)
    return grad_input, grad_min, grad_max


def clamp(input: Tensor, min: Tensor | bool | int | float | None = None,
          max: Tensor | bool | int | float | None = None) -> Tensor:
    """Limit every element of ``input`` to ``[min, max]``: ``minimum(maximum(input, min), max)``.

    Args:
        input: the tensor.
        min, max: lower and upper bounds, both numbers or both tensors (broadcast); either may be None, not
            both. When ``min > max`` every element becomes ``max``; NaN inputs and bounds give NaN.
    """
    input = as_tensor_arg("clamp", "input", 1, input)
    if min is not None:
        min = as_operand("clamp", "min", 2, min)
    if max is not None:
        max = as_operand("clamp", "max", 3, max)
    if min is not None and max is not None and isinstance(min, Tensor) != isinstance(max, Tensor):
        raise TypeError("clamp() received an invalid combination of arguments: min and max must both be Tensors "
                        f"or both be Numbers, got {type(min).__name__} and {type(max).__name__}")
    return dispatch(CLAMP, input, min, max)


def clamp_min(input: Tensor, min: Tensor | bool | int | float) -> Tensor:
    """:func:`clamp` with a lower bound only."""
    return clamp(input, min=min)


def clamp_max(input: Tensor, max: Tensor | bool | int | float) -> Tensor:
    """:func:`clamp` with an upper bound only."""
    return clamp(input, max=max)


clip = clamp


# ----- lerp --------------------------------------------------------------------------------------------------
def _lerp_meta(input: Tensor, end: Tensor, weight: Any) -> Meta:
    dt = input._dtype
    if end._dtype is not dt:
        raise RuntimeError(f"expected dtype {dt.cpp_name} for `end` but got dtype {end._dtype.cpp_name}")
    if isinstance(weight, Tensor):
        if weight._dtype is not dt and weight._shape:
            raise RuntimeError(f"expected dtype {dt.cpp_name} for `weight` but got dtype "
                               f"{weight._dtype.cpp_name}")
        kernel = "lerp_kernel_tensor"
    else:
        check_int_scalar(weight)
        kernel = "lerp_kernel_scalar"
    if not dt.is_floating_point:
        raise not_implemented(kernel, dt)
    return Meta(broadcast(input, end, weight), dt)


def _lerp_kernel(input: np.ndarray, end: np.ndarray, weight: Any) -> np.ndarray:
    compute = promote1(same_rule, input).compute
    start, stop = input.astype(compute, copy=False), end.astype(compute, copy=False)
    weight = np.asarray(weight, dtype=compute)
    diff = stop - start
    # PyTorch's formula: measure from the nearer end, which keeps lerp(a, b, 1) == b exactly.
    result = np.where(np.abs(weight) < 0.5, start + weight * diff, stop - diff * (1 - weight))
    return result.astype(input.dtype, copy=False)


LERP = defop("lerp", _lerp_meta, cpu=quiet(_lerp_kernel), doc="Linear interpolation input + weight * (end - input).")


@derivative(LERP, saves=(0, 1, 2))
def _lerp_backward(ctx: Any, grad: Tensor) -> tuple:
    weight, needs = ctx.input(2), ctx.needs_input_grad
    return (grad * (1 - weight) if needs[0] else None, grad * weight if needs[1] else None,
            grad * (ctx.input(1) - ctx.input(0)) if needs[2] else None)


def lerp(input: Tensor, end: Tensor, weight: Tensor | float) -> Tensor:
    """Linear interpolation ``input + weight * (end - input)``, broadcasting all three.

    Args:
        input, end: floating tensors of the same dtype.
        weight: a number or a tensor of that dtype (a 0-d tensor may have another dtype).
    """
    input = as_tensor_arg("lerp", "input", 1, input)
    end = as_tensor_arg("lerp", "end", 2, end)
    return dispatch(LERP, input, end, as_operand("lerp", "weight", 3, weight))


__all__ = ["where", "clamp", "clip", "clamp_min", "clamp_max", "lerp"]

def _where_method(self: Tensor, condition: Tensor, other: Tensor | bool | int | float) -> Tensor:
    """``self.where(condition, other)`` is ``ember.where(condition, self, other)``."""
    return where(condition, self, other)


register_methods(where=_where_method, clamp=clamp, clip=clamp,
                 clamp_min=clamp_min, clamp_max=clamp_max, lerp=lerp)
register_inplace("clamp", "clip", "clamp_min", "clamp_max", "lerp")
