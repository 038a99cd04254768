"""Binary arithmetic against PyTorch: every dtype pair, broadcasting, 0-d/empty/strided operands, Python scalars
on either side, alpha and rounding modes, integer wraparound and division by zero, float16/bfloat16 opmath,
and the operators ``+ - * / // % **`` with their reflected and in-place forms.
"""

from __future__ import annotations

import math
import operator
from functools import partial

import numpy as np
import pytest

import ember
from tests.oracle import ALL_DTYPES, FLOAT_DTYPES, INT_DTYPES, assert_close, compare, pair, torch
from tests.tensor.elementwise_cases import BROADCAST_SHAPES, SCALARS, nonzero_pair, values_pair

BINARY = {
    "add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div, "true_divide": torch.true_divide,
    "floor_divide": torch.floor_divide, "remainder": torch.remainder, "fmod": torch.fmod, "pow": torch.pow,
    "maximum": torch.maximum, "minimum": torch.minimum, "atan2": torch.atan2,
}
SCALAR_OPS = ["add", "sub", "mul", "div", "floor_divide", "remainder", "fmod", "pow"]


def _operands(dtype, other_dtype, shape=(3, 4), other_shape=(4,), noncontiguous=False):
    x = pair(shape, dtype, seed=1, noncontiguous=noncontiguous)
    # Exponents and divisors: small and nonzero, so integer pow and division stay meaningful.
    y = nonzero_pair(other_shape, other_dtype, seed=2, noncontiguous=noncontiguous, low=-3, high=3)
    return x, y


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_matches_torch_for_every_dtype_pair(name, dtype):
    for other_dtype in ALL_DTYPES:
        (e, t), (f, u) = _operands(dtype, other_dtype)
        compare(lambda e=e, f=f: getattr(ember, name)(e, f), lambda t=t, u=u: BINARY[name](t, u))


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_broadcasting_0d_empty_and_strided(name, dtype):
    for shape, other_shape in BROADCAST_SHAPES:
        for noncontiguous in (False, True):
            if noncontiguous and not (shape and other_shape):
                continue
            (e, t), (f, u) = _operands(dtype, dtype, shape, other_shape, noncontiguous)
            compare(lambda e=e, f=f: getattr(ember, name)(e, f), lambda t=t, u=u: BINARY[name](t, u))
            compare(lambda e=e, f=f: getattr(e, name)(f), lambda t=t, u=u: getattr(t, name)(u))


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
@pytest.mark.parametrize("name", SCALAR_OPS)
def test_python_scalars_on_either_side(name, dtype):
    e, t = pair((2, 3), dtype, seed=4)
    z, w = pair((), dtype, seed=5)
    for scalar in SCALARS:
        compare(lambda s=scalar: getattr(ember, name)(e, s), lambda s=scalar: BINARY[name](t, s))
        compare(lambda s=scalar: getattr(ember, name)(z, s), lambda s=scalar: BINARY[name](w, s))
    for scalar in (2, 2.5, True):
        compare(lambda s=scalar: ember.pow(s, e), lambda s=scalar: torch.pow(s, t))


OPERATORS = [operator.add, operator.sub, operator.mul, operator.truediv, operator.floordiv, operator.mod,
             operator.pow]


@pytest.mark.parametrize("dtype", [ember.int32, ember.float32, ember.bool, ember.uint8, ember.float16], ids=str)
def test_operators_and_reflected_operators(dtype):
    (e, t), (f, u) = _operands(dtype, dtype, (2, 3), (3,))
    for op in OPERATORS:
        for other_e, other_t in [(f, u), (2, 2), (1.5, 1.5), (True, True)]:
            compare(partial(op, e, other_e), partial(op, t, other_t))
            compare(partial(op, other_e, f), partial(op, other_t, u))
    compare(partial(operator.neg, e), partial(operator.neg, t))
    compare(partial(abs, e), partial(abs, t))
    for bad in (None, "a", [1]):
        with pytest.raises(TypeError):
            e + bad
        with pytest.raises(TypeError):
            bad - e


def test_numpy_scalars_act_as_python_numbers():
    (e, t), (f, u) = _operands(ember.int32, ember.float32)
    for scalar in [np.float64(2.5), np.float32(0.1), np.int64(3), np.bool_(True), np.uint8(200)]:
        assert isinstance(scalar + e, ember.Tensor), "NumPy must defer to the tensor's reflected operator"
        for op in OPERATORS[:3]:
            compare(partial(op, scalar, e), partial(op, scalar.item(), t))
            compare(partial(op, f, scalar), partial(op, u, scalar.item()))
        compare(partial(ember.add, e, scalar), partial(torch.add, t, scalar.item()))


@pytest.mark.parametrize("dtype", [ember.bool, ember.uint8, ember.int32, ember.float16, ember.float32], ids=str)
def test_alpha(dtype):
    (e, t), (f, u) = _operands(dtype, dtype)
    for alpha in [2, -1, 0, 0.5, True]:
        compare(lambda a=alpha: ember.add(e, f, alpha=a), lambda a=alpha: torch.add(t, u, alpha=a))
        compare(lambda a=alpha: ember.sub(e, 3, alpha=a), lambda a=alpha: torch.sub(t, 3, alpha=a))
        compare(lambda a=alpha: e.add(2.5, alpha=a), lambda a=alpha: t.add(2.5, alpha=a))
    compare(lambda: ember.rsub(e, f, alpha=2), lambda: torch.rsub(t, u, alpha=2))


def test_alpha_and_bool_subtraction_errors():
    i, b, x = ember.tensor([1, 2]), ember.tensor([True, False]), ember.tensor([1.0])
    with pytest.raises(RuntimeError, match="For integral input tensors, argument alpha must not be a floating point"):
        ember.add(i, i, alpha=2.5)
    with pytest.raises(RuntimeError, match="Boolean alpha only supported for Boolean results"):
        ember.add(x, x, alpha=True)
    with pytest.raises(RuntimeError, match="with two bool tensors is not supported"):
        b - b
    with pytest.raises(RuntimeError, match="with two bool tensors is not supported"):
        True - b
    with pytest.raises(RuntimeError, match="with a bool tensor is not supported"):
        x - True


@pytest.mark.parametrize("dtype", [*INT_DTYPES, *FLOAT_DTYPES], ids=str)
def test_rounding_modes_and_signs(dtype):
    signed = dtype is not ember.uint8
    e, t = values_pair([-7, 7, -8, 8, 0, 5] if signed else [7, 8, 0, 5, 250], dtype)
    f, u = values_pair([2, -2, 3, -3, 4, 1] if signed else [2, 3, 4, 1, 7], dtype)
    for mode in [None, "trunc", "floor"]:
        assert_close(ember.div(e, f, rounding_mode=mode), torch.div(t, u, rounding_mode=mode))
        assert_close(ember.div(e, 3, rounding_mode=mode), torch.div(t, 3, rounding_mode=mode))
        assert_close(e.div(f, rounding_mode=mode), t.div(u, rounding_mode=mode))
    for name in ["remainder", "fmod", "floor_divide"]:
        assert_close(getattr(ember, name)(e, f), BINARY[name](t, u))
        assert_close(getattr(ember, name)(e, -3 if signed else 3), BINARY[name](t, -3 if signed else 3))
    with pytest.raises(RuntimeError, match="div expected rounding_mode to be one of None, 'trunc', or 'floor'"):
        ember.div(e, f, rounding_mode="round")


def test_integer_division_by_zero_raises_float_division_does_not():
    i = ember.tensor([5, -7])
    for call in [lambda: i // ember.tensor([0, 1]), lambda: i % 0, lambda: ember.fmod(i, ember.tensor([1, 0])),
                 lambda: ember.div(i, 0, rounding_mode="trunc"), lambda: ember.tensor([3]).floor_divide_(0)]:
        with pytest.raises(RuntimeError, match="ZeroDivisionError"):
            call()
    e, t = values_pair([1.5, -2.5, 0.0, math.inf, math.nan], ember.float32)
    for name in ["div", "floor_divide", "remainder", "fmod"]:
        assert_close(getattr(ember, name)(e, 0.0), BINARY[name](t, 0.0))
    assert_close(ember.tensor([1, 2]) / ember.tensor([0, 0]), torch.tensor([1, 2]) / torch.tensor([0, 0]))
    e, t = values_pair([-0.0, 5.0, -5.0, 5.0, -7.5, 7.5], ember.float64)
    f, u = values_pair([2.0, -math.inf, math.inf, math.inf, -2.0, 2.0], ember.float64)
    assert_close(ember.remainder(e, f), torch.remainder(t, u))
    assert_close(ember.fmod(e, f), torch.fmod(t, u))


def test_integer_pow_rules():
    i = ember.tensor([0, 1, -1, 2, -2, 3])
    t = torch.tensor([0, 1, -1, 2, -2, 3])
    for exponent in [-1, -2, -3]:
        assert_close(i ** ember.tensor(exponent), t ** torch.tensor(exponent))
        assert_close(2 ** ember.tensor([exponent, 2]), 2 ** torch.tensor([exponent, 2]))
        with pytest.raises(RuntimeError, match="Integers to negative integer powers are not allowed."):
            i ** exponent
    assert_close(ember.tensor([3]) ** 50, torch.tensor([3]) ** 50)
    assert_close(ember.tensor([2], dtype=ember.int8) ** 9, torch.tensor([2], dtype=torch.int8) ** 9)
    assert_close(i ** -1.0, t ** -1.0)
    with pytest.raises(NotImplementedError, match="\"pow\" not implemented for 'Bool'"):
        ember.tensor([True]) ** ember.tensor([True])
    assert_close(ember.square(ember.tensor([True, False])), torch.square(torch.tensor([True, False])))


def test_integer_wraparound_and_scalar_conversion():
    u8 = ember.tensor([1, 250], dtype=ember.uint8)
    t8 = torch.tensor([1, 250], dtype=torch.uint8)
    for scalar in [300, -1, 2**63, -(2**63), 1000]:
        for op in [lambda a, s: a + s, lambda a, s: a * s, lambda a, s: a - s, lambda a, s: a // s,
                   lambda a, s: a % s, lambda a, s: s - a]:
            compare(lambda op=op, s=scalar: op(u8, s), lambda op=op, s=scalar: op(t8, s))
    assert_close(ember.tensor([1]) + 2**63, torch.tensor([1]) + 2**63)
    with pytest.raises(OverflowError, match="int too big to convert"):
        ember.tensor([1.0]) + 2**64
    assert_close(ember.tensor([2049], dtype=ember.int16) + ember.tensor([0.0], dtype=ember.float16),
                 torch.tensor([2049], dtype=torch.int16) + torch.tensor([0.0], dtype=torch.float16))


@pytest.mark.parametrize("dtype", [ember.float16, ember.bfloat16], ids=str)
def test_reduced_float_scalars_round_like_torch(dtype):
    """mul and div read a scalar at float32 precision; add, pow, remainder... round it to the dtype first."""
    e, t = pair((2000,), dtype, seed=8, low=-9, high=9)
    for scalar in [0.1, 1.7, -0.7, 3.3, 7.3]:
        for name in ["add", "sub", "mul", "div", "floor_divide", "remainder", "pow"]:
            exact = {"rtol": 0, "atol": 0} if name != "pow" else {}
            base_e, base_t = (ember.abs(e), torch.abs(t)) if name == "pow" else (e, t)
            assert_close(getattr(ember, name)(base_e, scalar), BINARY[name](base_t, scalar), **exact)
        assert_close(scalar / e, scalar / t, rtol=0, atol=0)
        assert_close(e * ember.tensor(scalar), t * torch.tensor(scalar), rtol=0, atol=0)


def test_maximum_minimum_atan2_need_tensors_and_propagate_nan():
    e, t = values_pair([math.nan, 1.0, -0.0, math.inf], ember.float32)
    f, u = values_pair([1.0, math.nan, 0.0, 2.0], ember.float32)
    for name in ["maximum", "minimum", "atan2"]:
        assert_close(getattr(ember, name)(e, f), BINARY[name](t, u))
        with pytest.raises(TypeError, match=f"{name}\\(\\): argument 'other' \\(position 2\\) must be Tensor, not int"):
            getattr(ember, name)(e, 2)
