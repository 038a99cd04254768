"""Comparisons, logical and bitwise ops, shifts, float classification, equal/isclose/allclose and their
operators against PyTorch, for every dtype pair, broadcasting, 0-d/empty/strided inputs and scalars.
"""

from __future__ import annotations

import math
import operator
from functools import partial

import pytest

import ember
from tests.oracle import ALL_DTYPES, FLOAT_DTYPES, assert_close, compare, pair, torch
from tests.tensor.elementwise_cases import BROADCAST_SHAPES, SCALARS, SHAPES, values_pair

COMPARISONS = ["eq", "ne", "lt", "le", "gt", "ge", "greater", "greater_equal", "less", "less_equal", "not_equal"]
LOGICAL = ["logical_and", "logical_or", "logical_xor"]
BITWISE = ["bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_left_shift", "bitwise_right_shift"]
PREDICATES = ["isnan", "isinf", "isposinf", "isneginf", "isfinite", "logical_not", "bitwise_not"]


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
@pytest.mark.parametrize("name", COMPARISONS + LOGICAL + BITWISE)
def test_binary_matches_torch_for_every_dtype_pair(name, dtype):
    for other_dtype in ALL_DTYPES:
        e, t = pair((3, 4), dtype, seed=1, low=-2, high=2)
        f, u = pair((4,), other_dtype, seed=2, low=-2, high=2)
        compare(partial(getattr(ember, name), e, f), partial(getattr(torch, name), t, u))


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
@pytest.mark.parametrize("name", COMPARISONS[:6] + LOGICAL + BITWISE)
def test_broadcasting_0d_empty_strided_and_scalars(name, dtype):
    for shape, other_shape in BROADCAST_SHAPES:
        for noncontiguous in (False, True) if shape and other_shape else (False,):
            e, t = pair(shape, dtype, seed=3, noncontiguous=noncontiguous, low=-2, high=2)
            f, u = pair(other_shape, dtype, seed=4, noncontiguous=noncontiguous, low=-2, high=2)
            compare(partial(getattr(ember, name), e, f), partial(getattr(torch, name), t, u))
            compare(partial(getattr(e, name), f), partial(getattr(t, name), u))
    e, t = pair((2, 3), dtype, seed=5)
    for scalar in [*SCALARS, 300, -1]:
        compare(partial(getattr(ember, name), e, scalar), partial(getattr(torch, name), t, scalar))


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
@pytest.mark.parametrize("name", PREDICATES)
def test_predicates(name, dtype):
    for shape in SHAPES:
        e, t = pair(shape, dtype, seed=6, noncontiguous=bool(shape))
        compare(partial(getattr(ember, name), e), partial(getattr(torch, name), t))
    if dtype.is_floating_point:
        e, t = values_pair([math.nan, math.inf, -math.inf, 0.0, -1.5], dtype)
        compare(partial(getattr(ember, name), e), partial(getattr(torch, name), t))


def test_operators():
    for dtype in [ember.bool, ember.uint8, ember.int64, ember.float32, ember.bfloat16]:
        e, t = pair((2, 3), dtype, seed=7, low=-2, high=2)
        f, u = pair((3,), dtype, seed=8, low=-2, high=2)
        for op in [operator.eq, operator.ne, operator.lt, operator.le, operator.gt, operator.ge, operator.and_,
                   operator.or_, operator.xor, operator.lshift, operator.rshift]:
            for other_e, other_t in [(f, u), (1, 1), (True, True), (1.5, 1.5)]:
                compare(partial(op, e, other_e), partial(op, t, other_t))
                compare(partial(op, other_e, f), partial(op, other_t, u))
        compare(partial(operator.invert, e), partial(operator.invert, t))
    x = ember.tensor([1.0, 2.0])
    assert (x == None) is False and (x != "a") is True  # noqa: E711 - the operator itself is under test
    assert {x: 1}[x] == 1, "tensors stay hashable by identity although == is element-wise"
    with pytest.raises(TypeError):
        operator.lt(x, None)
    with pytest.raises(TypeError, match="~ \\(operator.invert\\) is only implemented on integer and Boolean"):
        operator.invert(x)


def test_scalar_conversion_wraps_like_torch():
    u8, t8 = values_pair([1, 44, 250], ember.uint8)
    for scalar in [300, -1, -255, 44]:
        for op in [operator.lt, operator.eq, operator.gt]:
            assert_close(op(u8, scalar), op(t8, scalar))
    i8, t = values_pair([1, 2], ember.int8)
    assert_close(i8 == 257, t == 257)


def test_bitwise_refusals_and_shift_edges():
    f = ember.tensor([1.0])
    for call, message in [(lambda: f & f, "\"bitwise_and_cpu\" not implemented for 'Float'"),
                          (lambda: ember.tensor([1]) | 1.5, "\"bitwise_or_cpu\" not implemented for 'Float'"),
                          (lambda: ember.bitwise_not(f), "\"bitwise_not_cpu\" not implemented for 'Float'"),
                          (lambda: ember.tensor([True]) << ember.tensor([True]), "\"lshift_cpu\" not implemented "
                                                                                 "for 'Bool'"),
                          (lambda: f >> 1, "\"rshift_cpu\" not implemented for 'Float'")]:
        with pytest.raises(NotImplementedError, match=message):
            call()
    for dtype in [ember.int8, ember.uint8, ember.int64]:
        values = [1, 5, 127] if dtype is ember.uint8 else [1, -1, 5, -128]
        shifts = [0, 7, 8, 9, 63, 64, 70] + ([] if dtype is ember.uint8 else [-1, -3])
        for shift in shifts:
            e, t = values_pair(values, dtype)
            s, u = values_pair([shift] * len(values), dtype) if -128 <= shift < 128 else (shift, shift)
            compare(partial(operator.lshift, e, s), partial(operator.lshift, t, u))
            compare(partial(operator.rshift, e, s), partial(operator.rshift, t, u))


def test_logical_ops_need_tensors_and_treat_nan_as_true():
    e, t = values_pair([math.nan, 0.0, -0.0, 2.0], ember.float32)
    assert_close(ember.logical_not(e), torch.logical_not(t))
    assert_close(ember.logical_and(e, ember.tensor([1, 1, 1, 0])), torch.logical_and(t, torch.tensor([1, 1, 1, 0])))
    with pytest.raises(TypeError, match="logical_and\\(\\): argument 'other' \\(position 2\\) must be Tensor, not int"):
        ember.logical_and(e, 1)


def test_equal_is_whole_tensor_and_promotes():
    cases = [(ember.tensor([1, 2]), ember.tensor([1.0, 2.0])), (ember.tensor([1, 2]), ember.tensor([1, 3])),
             (ember.tensor([math.nan]), ember.tensor([math.nan])), (ember.tensor(1), ember.tensor([1])),
             (ember.tensor([1]), ember.tensor([True])), (ember.zeros(0), ember.zeros(0, dtype=ember.int8)),
             (ember.tensor([[1, 2], [3, 4]]).t(), ember.tensor([[1, 3], [2, 4]]))]
    for a, b in cases:
        result = ember.equal(a, b)
        assert type(result) is bool
        assert result == torch.equal(torch.from_numpy(a.numpy().copy()), torch.from_numpy(b.numpy().copy()))
        assert a.equal(b) == result
    with pytest.raises(TypeError, match="equal\\(\\): argument 'other' \\(position 2\\) must be Tensor, not int"):
        ember.equal(ember.tensor([1]), 1)


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
def test_isclose_and_allclose(dtype):
    e, t = pair((3, 4), dtype, seed=9)
    f, u = pair((4,), dtype, seed=10)
    g, v = e + 0.001 if dtype.is_floating_point else e, t + 0.001 if dtype.is_floating_point else t
    for kwargs in [{}, {"rtol": 0.1}, {"atol": 1.0}, {"rtol": 0, "atol": 0}, {"rtol": 0.5, "atol": 0.5,
                                                                              "equal_nan": True}]:
        assert_close(ember.isclose(e, f, **kwargs), torch.isclose(t, u, **kwargs))
        assert_close(ember.isclose(g, e, **kwargs), torch.isclose(v, t, **kwargs))
        assert ember.allclose(e, f, **kwargs) == torch.allclose(t, u, **kwargs)
        assert e.allclose(g, **kwargs) == t.allclose(v, **kwargs)


def test_isclose_special_values_and_errors():
    e, t = values_pair([1.0, math.nan, math.inf, -math.inf, 1e-9, 1e10], ember.float32)
    f, u = values_pair([1.0 + 1e-6, math.nan, math.inf, math.inf, 0.0, 1.00001e10], ember.float32)
    for equal_nan in (False, True):
        assert_close(ember.isclose(e, f, equal_nan=equal_nan), torch.isclose(t, u, equal_nan=equal_nan))
    a, b = values_pair([3, 5], ember.uint8), values_pair([5, 3], ember.uint8)
    assert_close(ember.isclose(a[0], b[0], rtol=0, atol=2), torch.isclose(a[1], b[1], rtol=0, atol=2))
    with pytest.raises(RuntimeError, match="Float did not match Double"):
        ember.isclose(e, e.double())
    with pytest.raises(RuntimeError, match="rtol must be greater than or equal to zero, but got -1"):
        ember.isclose(e, e, rtol=-1)
    with pytest.raises(TypeError, match="must be Tensor, not float"):
        ember.isclose(e, 1.5)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
def test_nan_comparisons(dtype):
    e, t = values_pair([math.nan, 1.0, math.inf], dtype)
    f, u = values_pair([math.nan, math.nan, math.inf], dtype)
    for name in COMPARISONS[:6]:
        assert_close(getattr(ember, name)(e, f), getattr(torch, name)(t, u))


@pytest.mark.parametrize("name", ["eq", "lt", "ge", "logical_and", "logical_xor", "bitwise_and", "bitwise_or",
                                  "bitwise_left_shift", "logical_not", "bitwise_not"])
def test_inplace_variants(name):
    e, t = pair((3, 4), ember.int32, seed=11, low=0, high=3)
    f, u = pair((4,), ember.int32, seed=12, low=0, high=3)
    args = () if name in ("logical_not", "bitwise_not") else (f,)
    targs = () if args == () else (u,)
    version = e._version
    assert getattr(e, name + "_")(*args) is e and e._version == version + 1
    assert_close(e, getattr(t, name + "_")(*targs))
    x = ember.tensor([1, 2])
    x &= 3
    x |= ember.tensor([4, 0])
    x ^= 1
    x <<= 1
    x >>= ember.tensor([1, 0])
    assert x.tolist() == [4, 6]
