"""where, clamp/clip and lerp against PyTorch: promotion with scalars and 0-d tensors, broadcasting of all
three operands, NaN handling, PyTorch's overflow checks for scalars, dtype refusals and in-place variants.
"""

from __future__ import annotations

import math
from functools import partial

import pytest

import ember
from tests.oracle import ALL_DTYPES, FLOAT_DTYPES, assert_close, compare, pair, torch
from tests.tensor.elementwise_cases import BROADCAST_SHAPES, SCALARS, values_pair


def _condition(shape, seed=0):
    e, _ = pair(shape, ember.bool, seed=seed)
    return e, torch.from_numpy(e.numpy().copy())


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
def test_where_promotes_and_broadcasts(dtype):
    for other_dtype in ALL_DTYPES:
        c, d = _condition((3, 1), seed=1)
        e, t = pair((4,), dtype, seed=2)
        f, u = pair((3, 4), other_dtype, seed=3)
        compare(partial(ember.where, c, e, f), partial(torch.where, d, t, u))
        z, w = pair((), other_dtype, seed=4)
        compare(partial(ember.where, c, e, z), partial(torch.where, d, t, w))
    for shape, other_shape in BROADCAST_SHAPES:
        c, d = _condition(shape, seed=5)
        e, t = pair(other_shape, dtype, seed=6, noncontiguous=bool(other_shape))
        compare(partial(ember.where, c, e, e), partial(torch.where, d, t, t))
        compare(partial(e.where, c, e), partial(t.where, d, t))
    c, d = _condition((2, 3), seed=7)
    e, t = pair((2, 3), dtype, seed=8)
    for scalar in [*SCALARS, -1, 255]:
        compare(partial(ember.where, c, e, scalar), partial(torch.where, d, t, scalar))
        compare(partial(ember.where, c, scalar, e), partial(torch.where, d, scalar, t))
        compare(partial(ember.where, c, scalar, 0), partial(torch.where, d, scalar, 0))


def test_where_errors_and_single_argument_form():
    b = ember.tensor([True, False])
    with pytest.raises(RuntimeError, match="where expected condition to be a boolean tensor, but got a tensor with "
                                           "dtype Float"):
        ember.where(b.float(), 1, 0)
    with pytest.raises(RuntimeError, match="value cannot be converted to type int8_t without overflow"):
        ember.where(b, ember.tensor([1, 2], dtype=ember.int8), 300)
    with pytest.raises(RuntimeError, match="value cannot be converted to type uint8_t without overflow"):
        ember.where(b, ember.tensor([1, 2], dtype=ember.uint8), -256)
    with pytest.raises(RuntimeError, match=r"must match the size of tensor b \[3\]"):
        ember.where(b, ember.tensor([1, 2]), ember.tensor([1, 2, 3]))
    with pytest.raises(TypeError, match="where\\(\\): argument 'other' \\(position 3\\) must be Tensor or Number"):
        ember.where(b, 1, "x")
    assert_close(ember.where(b, ember.tensor([1, 2], dtype=ember.uint8), -1),
                 torch.where(torch.tensor([True, False]), torch.tensor([1, 2], dtype=torch.uint8), -1))
    assert_close(ember.where(ember.tensor([[True, False], [False, True]])),
                 torch.where(torch.tensor([[True, False], [False, True]])))


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
def test_clamp_with_scalars_tensors_and_none(dtype):
    e, t = pair((3, 4), dtype, seed=9)
    for low, high in [(-1, 1), (0.5, 2.5), (None, 1), (-1.5, None), (2, -2), (True, None), (0, 255)]:
        compare(partial(ember.clamp, e, low, high), partial(torch.clamp, t, low, high))
        compare(partial(e.clip, min=low, max=high), partial(t.clip, min=low, max=high))
    lo, tlo = pair((4,), dtype, seed=10)
    hi, thi = pair((3, 1), dtype, seed=11)
    compare(partial(ember.clamp, e, lo, hi), partial(torch.clamp, t, tlo, thi))
    compare(partial(ember.clamp, e, min=lo), partial(torch.clamp, t, min=tlo))
    compare(partial(ember.clamp_max, e, hi), partial(torch.clamp_max, t, thi))
    compare(partial(ember.clamp_min, e, 1), partial(torch.clamp_min, t, 1))
    z, w = pair((), dtype, seed=12)
    compare(partial(ember.clamp, z, -1, 1), partial(torch.clamp, w, -1, 1))
    compare(partial(ember.clamp, ember.zeros(0, dtype=dtype), 0, 1), partial(torch.clamp, torch.zeros(0).to(w.dtype),
                                                                          0, 1))


def test_clamp_nan_and_errors():
    e, t = values_pair([math.nan, -3.0, 0.5, 3.0], ember.float32)
    assert_close(ember.clamp(e, -1, 1), torch.clamp(t, -1, 1))
    assert_close(ember.clamp(e, math.nan, 1), torch.clamp(t, math.nan, 1))
    assert_close(ember.clamp(e, ember.tensor([math.nan, 0, 0, 0])), torch.clamp(t, torch.tensor([math.nan, 0, 0, 0])))
    with pytest.raises(RuntimeError, match="torch.clamp: At least one of 'min' or 'max' must not be None"):
        ember.clamp(e)
    with pytest.raises(TypeError, match="clamp"):
        ember.clamp(e, ember.tensor([0.0]), 1.5)
    with pytest.raises(RuntimeError, match="value cannot be converted to type uint8_t without overflow"):
        ember.clamp(ember.tensor([1, 2], dtype=ember.uint8), -256)
    with pytest.raises(RuntimeError, match="value cannot be converted to type c10::Half without overflow"):
        ember.clamp(e.half(), 1e6)
    with pytest.raises(NotImplementedError, match="\"clamp_min_scalar_cpu\" not implemented for 'Bool'"):
        ember.clamp(ember.tensor([True]), min=True)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
def test_lerp(dtype):
    e, t = pair((3, 4), dtype, seed=13)
    f, u = pair((4,), dtype, seed=14)
    for weight in [0.0, 0.25, 0.5, 0.75, 1.0, -1.5, 2, True]:
        assert_close(ember.lerp(e, f, weight), torch.lerp(t, u, weight))
        assert_close(e.lerp(f, weight), t.lerp(u, weight))
    w, v = pair((3, 1), dtype, seed=15, low=-1, high=2)
    assert_close(ember.lerp(e, f, w), torch.lerp(t, u, v))
    z, y = pair((), ember.float64, seed=16)
    assert_close(ember.lerp(e, f, z), torch.lerp(t, u, y))
    s, r = pair((), dtype, seed=17)
    assert_close(ember.lerp(s, s * 2, 0.5), torch.lerp(r, r * 2, 0.5))
    big, tbig = values_pair([1e30, -1e30], dtype)
    assert_close(ember.lerp(big, -big, 0.75), torch.lerp(tbig, -tbig, 0.75))


def test_lerp_errors():
    x = ember.tensor([1.0, 2.0])
    for call, error, message in [
        (lambda: ember.lerp(x, x.double(), 0.5), RuntimeError, "expected dtype float for `end` but got dtype double"),
        (lambda: ember.lerp(x, x, ember.tensor([0.5, 1.0]).double()), RuntimeError,
         "expected dtype float for `weight` but got dtype double"),
        (lambda: ember.lerp(ember.tensor([1]), ember.tensor([2]), 0.5), NotImplementedError,
         "\"lerp_kernel_scalar\" not implemented for 'Long'"),
        (lambda: ember.lerp(x, x, 2**70), OverflowError, "int too big to convert"),
        (lambda: ember.lerp(x, 1.0, 0.5), TypeError, "must be Tensor, not float"),
    ]:
        with pytest.raises(error, match=message):
            call()


def test_inplace_clamp_and_lerp():
    e, t = pair((3, 4), ember.float32, seed=18)
    version = e._version
    assert e.clamp_(-1, 1) is e and e._version == version + 1
    assert_close(e, t.clamp_(-1, 1))
    e.clip_(max=0.5)
    e.clamp_min_(-0.5)
    e.clamp_max_(0.25)
    e.lerp_(ember.ones(4), 0.5)
    assert_close(e, t.clip_(max=0.5).clamp_min_(-0.5).clamp_max_(0.25).lerp_(torch.ones(4), 0.5))
    with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired output type Long"):
        ember.tensor([1, 2]).clamp_(0.5)
    with pytest.raises(RuntimeError, match=r"output with shape \[4\] doesn't match the broadcast shape \[2, 4\]"):
        ember.zeros(4).clamp_(min=ember.zeros(2, 1))
