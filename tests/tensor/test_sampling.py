"""bernoulli, multinomial and the in-place random fills: distributions checked statistically, shapes,
dtypes, in-place semantics and errors against PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

import ember
from tests.oracle import ALL_DTYPES, DTYPES, FLOAT_DTYPES, INT_DTYPES, as_float64, torch
from tests.tensor.error_oracle import assert_same_error

N = 100_000


pytestmark = pytest.mark.usefixtures("seeded_default_generator")


def both(make):
    """``make(lib)`` in ember and in torch."""
    return make(ember), make(torch)


# ----- bernoulli ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
def test_bernoulli_rate_follows_each_probability(dtype):
    p = ember.tensor(np.repeat([0.0, 0.2, 0.5, 0.9, 1.0], N // 5)).to(dtype)
    out = ember.bernoulli(p)
    assert out.dtype is dtype and tuple(out.shape) == (N,)
    rates = as_float64(out).reshape(5, -1).mean(axis=1)
    assert set(np.unique(as_float64(out))) <= {0.0, 1.0}
    assert rates[0] == 0 and rates[-1] == 1 and np.allclose(rates, [0, 0.2, 0.5, 0.9, 1], atol=0.01)


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
def test_bernoulli_with_scalar_p_keeps_dtype(dtype):
    base = ember.zeros(N, dtype=dtype)
    out = ember.bernoulli(base, 0.25)
    assert out.dtype is dtype and abs(as_float64(out).mean() - 0.25) < 0.01
    assert as_float64(base.bernoulli(p=1.0)).min() == 1
    assert torch.bernoulli(torch.zeros(3, dtype=DTYPES[dtype]), 0.25).dtype == DTYPES[dtype]


@pytest.mark.parametrize("shape", [(), (0,), (2, 3), (2, 0, 4)], ids=str)
def test_bernoulli_shapes(shape):
    e, t = both(lambda lib: lib.bernoulli(lib.rand(shape)))
    assert tuple(e.shape) == tuple(t.shape)


BERNOULLI_ERRORS = {
    "p above 1": lambda lib: lib.bernoulli(lib.tensor([0.5, 1.5])),
    "p below 0": lambda lib: lib.bernoulli(lib.tensor([0.5, -0.5])),
    "nan p": lambda lib: lib.bernoulli(lib.tensor([0.5, float("nan")])),
    "integer probabilities": lambda lib: lib.bernoulli(lib.tensor([0, 1])),
    "bool probabilities": lambda lib: lib.bernoulli(lib.tensor([True, False])),
    "scalar p above 1": lambda lib: lib.bernoulli(lib.tensor([0.2, 0.7]), 1.5),
    "in-place scalar p": lambda lib: lib.zeros(3).bernoulli_(2.0),
    "in-place nan p": lambda lib: lib.zeros(3).bernoulli_(float("nan")),
    "in-place tensor p": lambda lib: lib.zeros(3).bernoulli_(lib.tensor([0.0, 2.0, 1.0])),
}


@pytest.mark.parametrize("call", BERNOULLI_ERRORS.values(), ids=BERNOULLI_ERRORS.keys())
def test_bernoulli_errors(call):
    assert_same_error(lambda: call(ember), lambda: call(torch))


def test_bernoulli_in_place():
    t = ember.zeros(2, N // 2)
    version = t._version
    assert t.bernoulli_(ember.tensor([[0.0], [1.0]])) is t
    assert t._version > version
    assert as_float64(t)[0].max() == 0 and as_float64(t)[1].min() == 1
    ints = ember.zeros(N, dtype=ember.int64).bernoulli_(0.3)
    assert ints.dtype is ember.int64 and abs(as_float64(ints).mean() - 0.3) < 0.01
    with pytest.raises(RuntimeError, match="cannot be broadcast"):
        ember.zeros(3).bernoulli_(ember.full((2, 3), 0.5))


# ----- multinomial ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
def test_multinomial_frequencies_with_replacement(dtype):
    weights = ember.tensor([1.0, 0.0, 3.0, 6.0]).to(dtype)
    out = ember.multinomial(weights, N, replacement=True)
    assert out.dtype is ember.int64 and tuple(out.shape) == (N,)
    freq = np.bincount(out.numpy(), minlength=4) / N
    assert freq[1] == 0 and np.allclose(freq, [0.1, 0, 0.3, 0.6], atol=0.01)


def test_multinomial_without_replacement():
    weights = ember.tensor([[1.0, 0.0, 3.0, 6.0, 2.0]] * 4000)
    out = ember.multinomial(weights, 4)
    assert tuple(out.shape) == (4000, 4)
    rows = out.numpy()
    assert all(len(set(r)) == 4 for r in rows) and not (rows == 1).any()
    # The first draw follows the weights; later draws are from what is left.
    first = np.bincount(rows[:, 0], minlength=5) / 4000
    assert np.allclose(first, [1 / 12, 0, 3 / 12, 6 / 12, 2 / 12], atol=0.025)
    # Zero-weight categories come only once the others are used up, as in PyTorch.
    assert ember.multinomial(ember.tensor([0.0, 0.8]), 2).tolist() == [1, 0]


def test_multinomial_rows_are_independent_distributions():
    weights = ember.tensor([[0.0, 1.0], [1.0, 0.0], [5.0, 5.0]])
    out = ember.multinomial(weights, 1000, replacement=True).numpy()
    assert (out[0] == 1).all() and (out[1] == 0).all() and abs(out[2].mean() - 0.5) < 0.06


@pytest.mark.parametrize("make", [lambda lib: lib.multinomial(lib.ones(2, 3), 2),
                                  lambda lib: lib.multinomial(lib.ones(3), 3),
                                  lambda lib: lib.multinomial(lib.ones(0, 3), 1),
                                  lambda lib: lib.multinomial(lib.ones(2, dtype=lib.float16), 2, True),
                                  lambda lib: lib.ones(4).multinomial(2)], ids=str)
def test_multinomial_shapes(make):
    e, t = both(make)
    assert tuple(e.shape) == tuple(t.shape) and DTYPES[e.dtype] == t.dtype


MULTINOMIAL_ERRORS = {
    "too many without replacement": lambda lib: lib.multinomial(lib.tensor([0.2, 0.8]), 3),
    "zero sum": lambda lib: lib.multinomial(lib.tensor([0.0, 0.0]), 1),
    "zero sum with replacement": lambda lib: lib.multinomial(lib.tensor([0.0, 0.0]), 1, True),
    "zero row": lambda lib: lib.multinomial(lib.tensor([[1.0, 1.0], [0.0, 0.0]]), 1),
    "negative": lambda lib: lib.multinomial(lib.tensor([-1.0, 2.0]), 1),
    "nan": lambda lib: lib.multinomial(lib.tensor([float("nan"), 2.0]), 1),
    "inf": lambda lib: lib.multinomial(lib.tensor([float("inf"), 2.0]), 1),
    "integer input": lambda lib: lib.multinomial(lib.tensor([1, 2]), 1),
    "0-d": lambda lib: lib.multinomial(lib.tensor(1.0), 1),
    "3-d": lambda lib: lib.multinomial(lib.ones(2, 2, 2), 1),
    "no samples": lambda lib: lib.multinomial(lib.ones(2), 0),
    "negative samples": lambda lib: lib.multinomial(lib.ones(2), -1),
    "empty distribution": lambda lib: lib.multinomial(lib.ones(0), 1),
    "no categories": lambda lib: lib.multinomial(lib.ones(3, 0), 1),
    "float count": lambda lib: lib.multinomial(lib.ones(2), 2.0),
}


@pytest.mark.parametrize("call", MULTINOMIAL_ERRORS.values(), ids=MULTINOMIAL_ERRORS.keys())
def test_multinomial_errors(call):
    assert_same_error(lambda: call(ember), lambda: call(torch))


# ----- in-place fills -------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
def test_uniform_(dtype):
    t = ember.empty(N, dtype=dtype)
    version = t._version
    assert t.uniform_(-2, 3) is t and t._version > version
    v = as_float64(t)
    assert v.min() >= -2 and v.max() <= 3 and abs(v.mean() - 0.5) < 0.03 and abs(v.var() - 25 / 12) < 0.05


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
def test_normal_(dtype):
    v = as_float64(ember.empty(N, dtype=dtype).normal_(3.0, 2.0))
    assert abs(v.mean() - 3.0) < 0.03 and abs(v.std() - 2.0) < 0.03
    assert as_float64(ember.empty(4, dtype=dtype).normal_(1.5, 0.0)).tolist() == [1.5] * 4


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
def test_exponential_(dtype):
    v = as_float64(ember.empty(N, dtype=dtype).exponential_(4.0))
    assert v.min() >= 0 and abs(v.mean() - 0.25) < 0.005 and abs(v.std() - 0.25) < 0.01


RANDOM_BOUNDS = [((7,), {}, 0, 7), ((-3, 4), {}, -3, 4), ((), {"from_": 2, "to": 5}, 2, 5)]


@pytest.mark.parametrize("dtype, args, kwargs, low, high",
                         [(d, *form) for d in INT_DTYPES + FLOAT_DTYPES for form in RANDOM_BOUNDS
                          if d is not ember.uint8 or form[2] >= 0], ids=str)
def test_random_bounds_are_half_open(dtype, args, kwargs, low, high):
    t = ember.zeros(20_000, dtype=dtype)
    assert t.random_(*args, **kwargs) is t
    assert set(np.unique(as_float64(t))) == set(range(low, high))


# The largest value random_ draws when no upper bound is given: floats stop at 2**mantissa so that every
# integer drawn is exact.
TOPS = {ember.bool: 1, ember.uint8: 255, ember.int8: 127, ember.int16: 2**15 - 1, ember.int32: 2**31 - 1,
        ember.int64: 2**63 - 1, ember.float16: 2**11, ember.bfloat16: 2**8, ember.float32: 2**24, ember.float64: 2**53}


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
def test_random_without_upper_bound(dtype):
    top = TOPS[dtype]
    v = as_float64(ember.zeros(20_000, dtype=dtype).random_())
    assert 0 <= v.min() <= 0.01 * top and 0.99 * top <= v.max() <= top
    if dtype is not ember.bool:
        v = as_float64(ember.zeros(20_000, dtype=dtype).random_(5, None))
        assert 5 <= v.min() <= 5 + 0.01 * top and 0.99 * top <= v.max() <= top


@pytest.mark.parametrize("dtype", [ember.bool, *INT_DTYPES], ids=str)
@pytest.mark.parametrize("fill", ["uniform_", "normal_", "exponential_"])
def test_continuous_fills_need_floats(fill, dtype):
    assert_same_error(lambda: getattr(ember.zeros(2, dtype=dtype), fill)(),
                      lambda: getattr(torch.zeros(2, dtype=DTYPES[dtype]), fill)())


FILL_ERRORS = {
    "uniform_ reversed": lambda t: t.uniform_(3, 1),
    "uniform_ nan": lambda t: t.uniform_(float("nan"), 1),
    "uniform_ inf": lambda t: t.uniform_(0, float("inf")),
    "uniform_ span": lambda t: t.uniform_(-3e38, 3e38),
    "uniform_ half bound": lambda t: t.half().uniform_(0, 1e6),
    "normal_ negative std": lambda t: t.normal_(0, -1),
    "normal_ nan std": lambda t: t.normal_(0, float("nan")),
    "exponential_ zero": lambda t: t.exponential_(0),
    "exponential_ negative": lambda t: t.exponential_(-1),
    "random_ reversed": lambda t: t.random_(5, 3),
    "random_ negative to": lambda t: t.random_(-5),
    "random_ uint8 to": lambda t: t.byte().random_(0, 257),
    "random_ uint8 from": lambda t: t.byte().random_(-1, 3),
    "random_ int16": lambda t: t.short().random_(0, 2**20),
    "random_ int32 from": lambda t: t.int().random_(-(2**40), 3),
    "random_ half": lambda t: t.half().random_(0, 70000),
    "random_ overflow": lambda t: t.long().random_(0, 2**63),
    "random_ bool": lambda t: t.bool().random_(0, 3),
}


@pytest.mark.parametrize("call", FILL_ERRORS.values(), ids=FILL_ERRORS.keys())
def test_fill_errors(call):
    assert_same_error(lambda: call(ember.zeros(3)), lambda: call(torch.zeros(3)))


@pytest.mark.parametrize("fill", [lambda t: t.uniform_(), lambda t: t.normal_(), lambda t: t.bernoulli_(),
                                  lambda t: t.random_(), lambda t: t.exponential_()])
def test_fills_write_through_views(fill):
    base = np.zeros((4, 6), dtype=np.float32)
    strided = ember.from_numpy(base[:, ::2])
    assert not strided.is_contiguous()
    assert fill(strided) is strided and strided._version == 1
    assert (base[:, 1::2] == 0).all() and (base[:, ::2] != 0).any()
    expanded = ember.from_numpy(np.zeros(3, dtype=np.float32)[None].repeat(1, 0))
    expanded = ember.Tensor._make(expanded._storage, (2, 3), (0, 1), 0, expanded.dtype)
    with pytest.raises(RuntimeError, match="more than one element of the written-to tensor"):
        fill(expanded)


def test_fills_of_empty_and_0d_tensors():
    assert ember.empty(0).uniform_().numel() == 0
    t = ember.zeros(())
    t.normal_(5.0, 0.0)
    assert t.item() == 5.0


@pytest.mark.parametrize("call", [lambda lib: lib.zeros(3).random_(1.5, 3), lambda lib: lib.zeros(3).random_(0, 2.5),
                                  lambda lib: lib.bernoulli(lib.zeros(3), lib.tensor([0.0, 1.0, 1.0])),
                                  lambda lib: lib.zeros(3).bernoulli(lib.tensor([0.0, 1.0, 1.0]))])
def test_argument_types(call):
    # PyTorch's parser lists its overloads; ember names the argument at fault. Both refuse with TypeError.
    with pytest.raises(TypeError):
        call(torch)
    with pytest.raises(TypeError, match="must be (int|float), not (float|Tensor)"):
        call(ember)
