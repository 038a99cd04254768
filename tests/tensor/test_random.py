"""Random numbers: generators and seeding, reproducibility across processes, distributions checked
statistically, shapes, dtypes and errors against PyTorch (values themselves differ from PyTorch's)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import ember
from tests.oracle import DTYPES, FLOAT_DTYPES, INT_DTYPES, as_float64, torch
from tests.tensor.error_oracle import assert_same_error

N = 100_000


pytestmark = pytest.mark.usefixtures("seeded_default_generator")


# ----- generators and seeding -----------------------------------------------------------------------------
DRAWS = {
    "rand": lambda g: ember.rand(5, generator=g),
    "randn": lambda g: ember.randn(2, 3, generator=g),
    "randint": lambda g: ember.randint(0, 1000, (6,), generator=g),
    "randperm": lambda g: ember.randperm(20, generator=g),
    "normal": lambda g: ember.normal(ember.zeros(4), 2.0, generator=g),
    "bernoulli": lambda g: ember.bernoulli(ember.full((30,), 0.5), generator=g),
    "multinomial": lambda g: ember.multinomial(ember.ones(10), 5, generator=g),
    "uniform_": lambda g: ember.zeros(5).uniform_(-1, 1, generator=g),
    "normal_": lambda g: ember.zeros(5).normal_(generator=g),
    "random_": lambda g: ember.zeros(5, dtype=ember.int32).random_(generator=g),
    "exponential_": lambda g: ember.zeros(5).exponential_(generator=g),
}


@pytest.mark.parametrize("draw", DRAWS.values(), ids=DRAWS.keys())
def test_same_seed_same_values_different_seed_different_values(draw):
    first = draw(ember.Generator().manual_seed(7)).tolist()
    assert draw(ember.Generator().manual_seed(7)).tolist() == first
    assert draw(ember.Generator().manual_seed(8)).tolist() != first
    ember.manual_seed(7)
    assert draw(None).tolist() == first


def test_generator_api_matches_torch():
    g = ember.Generator()
    assert g.initial_seed() == torch.Generator().initial_seed() == 67280421310721
    assert g.device == ember.device("cpu") and ember.Generator("cpu").device == ember.device("cpu")
    assert g.manual_seed(5) is g and g.initial_seed() == 5
    for seed in (-1, -(2**63), 2**64 - 1, 0):
        assert g.manual_seed(seed).initial_seed() == torch.Generator().manual_seed(seed).initial_seed()
    assert_same_error(lambda: g.manual_seed(2**64), lambda: torch.Generator().manual_seed(2**64))
    assert_same_error(lambda: g.manual_seed(-(2**63) - 1), lambda: torch.Generator().manual_seed(-(2**63) - 1))
    with pytest.raises(RuntimeError, match="manual_seed expected a long, but got float"):
        g.manual_seed(1.0)
    with pytest.raises(RuntimeError, match="cuda"):
        ember.Generator(device="cuda")


def test_default_generator_functions():
    assert ember.manual_seed(3) is ember.default_generator
    assert ember.initial_seed() == 3
    assert ember.manual_seed(2.7).initial_seed() == torch.manual_seed(2.7).initial_seed() == 2
    chosen = ember.seed()
    assert isinstance(chosen, int) and 0 <= chosen < 2**64 and ember.initial_seed() == chosen
    assert ember.seed() != chosen


def test_state_round_trip():
    g = ember.Generator().manual_seed(11)
    ember.rand(3, generator=g)
    state = g.get_state()
    assert state.dtype is ember.uint8 and state.dim() == 1
    ahead = ember.randn(7, generator=g).tolist()
    g.manual_seed(99)
    assert g.set_state(state) is g
    assert ember.randn(7, generator=g).tolist() == ahead
    assert g.initial_seed() == 11
    # A state restored into another generator continues the same stream.
    assert ember.Generator().set_state(state).initial_seed() == 11
    assert ember.randn(7, generator=ember.Generator().set_state(state)).tolist() == ahead


def test_rng_state_of_default_generator():
    state = ember.get_rng_state()
    ahead = ember.rand(4).tolist()
    ember.rand(10)
    ember.set_rng_state(state)
    assert ember.rand(4).tolist() == ahead


def test_state_errors():
    g = ember.Generator()
    with pytest.raises(TypeError, match="RNG state must be a ember.ByteTensor"):
        g.set_state(ember.zeros(3))
    with pytest.raises(TypeError, match="expected a ember.ByteTensor, but got list"):
        g.set_state([1, 2])
    with pytest.raises(RuntimeError, match="found the input RNG state size to be 3"):
        g.set_state(ember.zeros(3, dtype=ember.uint8))
    with pytest.raises(TypeError, match="generator must be an ember.Generator"):
        ember.rand(2, generator=torch.Generator())


def test_generators_are_independent():
    ember.manual_seed(5)
    expected = ember.rand(4).tolist()
    ember.manual_seed(5)
    ember.rand(100, generator=ember.Generator())
    assert ember.rand(4).tolist() == expected


def test_reproducible_across_processes():
    script = ("import ember; ember.manual_seed(2024); "
              "print(ember.rand(4).tolist(), ember.randint(0, 100, (4,)).tolist(), ember.randperm(6).tolist())")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    runs = [subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True).stdout
            for _ in range(2)]
    ember.manual_seed(2024)
    here = str(ember.rand(4).tolist()) + " " + str(ember.randint(0, 100, (4,)).tolist()) + " "
    here += str(ember.randperm(6).tolist())
    assert runs[0] == runs[1] == here + "\n"


# ----- rand, randn ----------------------------------------------------------------------------------------
SIZES = [(2, 3), ((2, 3),), ([4],), ((),), (0,), (3, 0, 2)]


@pytest.mark.parametrize("fn", ["rand", "randn"])
@pytest.mark.parametrize("size", SIZES, ids=str)
def test_shapes(fn, size):
    t = getattr(ember, fn)(*size)
    assert tuple(t.shape) == tuple(getattr(torch, fn)(*size).shape)
    assert t.dtype is ember.get_default_dtype() and t.is_contiguous()
    assert tuple(getattr(ember, fn)(t.shape).shape) == tuple(t.shape)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
def test_rand_distribution(dtype):
    v = as_float64(ember.rand(N, dtype=dtype))
    assert ember.rand(3, dtype=dtype).dtype is dtype
    assert v.min() >= 0.0 and v.max() < 1.0
    assert abs(v.mean() - 0.5) < 0.01 and abs(v.var() - 1 / 12) < 0.005


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
def test_randn_distribution(dtype):
    v = as_float64(ember.randn(N, dtype=dtype))
    assert abs(v.mean()) < 0.015 and abs(v.std() - 1.0) < 0.015
    assert abs(np.mean(np.abs(v) < 1.0) - 0.6827) < 0.01


@pytest.mark.parametrize("dtype", [ember.bool, *INT_DTYPES], ids=str)
@pytest.mark.parametrize("fn", ["rand", "randn", "rand_like", "randn_like"])
def test_float_only(fn, dtype):
    if fn.endswith("_like"):
        assert_same_error(lambda: getattr(ember, fn)(ember.zeros(2, dtype=dtype)),
                          lambda: getattr(torch, fn)(torch.zeros(2, dtype=DTYPES[dtype])))
    else:
        assert_same_error(lambda: getattr(ember, fn)(2, dtype=dtype),
                          lambda: getattr(torch, fn)(2, dtype=DTYPES[dtype]))


def test_size_errors():
    with pytest.raises(TypeError):
        torch.rand()
    with pytest.raises(TypeError, match="size"):
        ember.rand()
    assert_same_error(lambda: ember.rand(-1), lambda: torch.rand(-1))
    assert_same_error(lambda: ember.randn(2, -3), lambda: torch.randn(2, -3))


def test_like_functions():
    base = ember.zeros(2, 3, dtype=ember.float64)
    for fn in (ember.rand_like, ember.randn_like):
        assert tuple(fn(base).shape) == (2, 3) and fn(base).dtype is ember.float64
        assert fn(base, dtype=ember.float16).dtype is ember.float16
    assert ember.randint_like(base, 5).dtype is ember.float64
    v = as_float64(ember.randint_like(ember.zeros(N, dtype=ember.int32), 3, 6))
    assert ember.randint_like(ember.zeros(2, dtype=ember.int32), 3, 6).dtype is ember.int32
    assert set(np.unique(v)) == {3, 4, 5}
    assert set(np.unique(as_float64(ember.randint_like(base, high=2)))) <= {0, 1}


# ----- randint, randperm ----------------------------------------------------------------------------------
def test_randint_bounds_are_half_open():
    v = as_float64(ember.randint(-3, 4, (N,)))
    assert set(np.unique(v)) == set(range(-3, 4))
    counts = np.bincount((v + 3).astype(int))
    assert np.all(np.abs(counts / N - 1 / 7) < 0.01)
    assert set(np.unique(as_float64(ember.randint(5, (N,))))) == set(range(5))


@pytest.mark.parametrize("call", [lambda f: f(10, (3,)), lambda f: f(2, 10, (3, 2)), lambda f: f(10, size=(2,)),
                                  lambda f: f(low=2, high=10, size=(2,)), lambda f: f(high=10, size=[2, 2]),
                                  lambda f: f(3, 10, ()), lambda f: f(3, 10, (0, 4))])
def test_randint_forms(call):
    e, t = call(ember.randint), call(torch.randint)
    assert tuple(e.shape) == tuple(t.shape) and e.dtype is ember.int64


@pytest.mark.parametrize("dtype", [*INT_DTYPES, *FLOAT_DTYPES, ember.bool], ids=str)
def test_randint_dtypes(dtype):
    high = 2 if dtype is ember.bool else 100
    t = ember.randint(0, high, (1000,), dtype=dtype)
    assert t.dtype is dtype and as_float64(t).min() >= 0 and as_float64(t).max() < high
    assert torch.randint(0, high, (3,), dtype=DTYPES[dtype]).dtype == DTYPES[dtype]


def test_randint_extreme_bounds():
    v = ember.randint(-(2**63), 2**63 - 1, (1000,)).numpy()
    assert v.min() < -(2**61) and v.max() > 2**61
    assert ember.randint(2**63 - 2, 2**63 - 1, (3,)).tolist() == [2**63 - 2] * 3


U8, I8 = {"dtype": ember.uint8}, {"dtype": ember.int8}
RANDINT_ERRORS = [((3, 3, (2,)), {}), ((5, 3, (2,)), {}), ((0, 300, (2,)), U8), ((-1, 3, (2,)), U8),
                  ((0, 300, (2,)), I8), ((-200, 3, (2,)), I8), ((0, 70000, (2,)), {"dtype": ember.int16}),
                  ((0, 2**40, (2,)), {"dtype": ember.int32}), ((0, 2**40, (2,)), {"dtype": ember.float16}),
                  ((0, 3, (2,)), {"dtype": ember.bool}), ((0, 2**64, (2,)), {}), ((300, 200, (2,)), U8), ((10, 2), {})]


@pytest.mark.parametrize("args, kwargs", RANDINT_ERRORS, ids=str)
def test_randint_errors(args, kwargs):
    t_kwargs = {k: DTYPES[v] for k, v in kwargs.items()}
    assert_same_error(lambda: ember.randint(*args, **kwargs), lambda: torch.randint(*args, **t_kwargs))


def test_randint_argument_types():
    for args in ((0.5, 3, (2,)), (0, 3.5, (2,)), (10,)):
        with pytest.raises(TypeError):
            torch.randint(*args)
        with pytest.raises(TypeError):
            ember.randint(*args)


@pytest.mark.parametrize("n", [0, 1, 2, 7, 1000])
@pytest.mark.parametrize("dtype", [ember.int64, ember.int32, ember.float32, ember.float16, ember.uint8], ids=str)
def test_randperm_is_a_permutation(n, dtype):
    if dtype is ember.uint8 and n > 256:
        return
    t = ember.randperm(n, dtype=dtype)
    assert t.dtype is dtype and tuple(t.shape) == (n,)
    assert sorted(as_float64(t).tolist()) == list(range(n))


def test_randperm_is_uniform():
    firsts = np.array([ember.randperm(4).tolist() for _ in range(4000)])
    assert np.all(np.abs(np.bincount(firsts[:, 0], minlength=4) / 4000 - 0.25) < 0.04)
    assert len({tuple(p) for p in firsts}) == 24


@pytest.mark.parametrize("args, kwargs", [((-1,), {}), ((300,), {"dtype": ember.uint8}), ((5,), {"dtype": ember.bool}),
                                          ((2,), {"dtype": ember.bool}), ((129,), {"dtype": ember.int8}), ((3.0,), {})],
                         ids=str)
def test_randperm_errors(args, kwargs):
    t_kwargs = {k: DTYPES[v] for k, v in kwargs.items()}
    assert_same_error(lambda: ember.randperm(*args, **kwargs), lambda: torch.randperm(*args, **t_kwargs))


# ----- normal ---------------------------------------------------------------------------------------------
NORMAL_FORMS = {
    "tensor, tensor": lambda m, lib: m.normal(lib.zeros(2, 3), lib.ones(3)),
    "tensor, float": lambda m, lib: m.normal(lib.zeros(4, dtype=lib.float64), 2.0),
    "float, tensor": lambda m, lib: m.normal(1.0, lib.ones(2, 2, dtype=lib.float16)),
    "float, float, size": lambda m, lib: m.normal(2, 3, (2, 5)),
    "keywords": lambda m, lib: m.normal(mean=lib.zeros(2), std=2.0),
    "0-d mean broadcast": lambda m, lib: m.normal(lib.zeros(()), lib.ones(2)),
    "mixed float dtypes": lambda m, lib: m.normal(lib.zeros(3), lib.ones(3, dtype=lib.float64)),
    "size with dtype": lambda m, lib: m.normal(0.0, 1.0, size=(3,), dtype=lib.float64),
    "empty": lambda m, lib: m.normal(lib.zeros(0, 2), 1.0),
}


@pytest.mark.parametrize("form", NORMAL_FORMS.values(), ids=NORMAL_FORMS.keys())
def test_normal_forms(form):
    e, t = form(ember, ember), form(torch, torch)
    assert tuple(e.shape) == tuple(t.shape) and DTYPES[e.dtype] == t.dtype


def test_normal_statistics_per_element():
    mean = ember.tensor([[0.0], [10.0]])
    std = ember.tensor([1.0, 3.0, 0.0])
    draws = np.stack([as_float64(ember.normal(mean, std)) for _ in range(4000)])
    assert np.allclose(draws.mean(axis=0), [[0, 0, 0], [10, 10, 10]], atol=0.2)
    assert np.allclose(draws.std(axis=0), [[1, 3, 0], [1, 3, 0]], atol=0.1)
    v = as_float64(ember.normal(-2.0, 0.5, (N,)))
    assert abs(v.mean() + 2.0) < 0.01 and abs(v.std() - 0.5) < 0.01


NORMAL_ERRORS = {
    "negative std": lambda m, lib: m.normal(lib.zeros(3), -1.0),
    "negative std tensor": lambda m, lib: m.normal(lib.zeros(3), lib.full((3,), -1.0)),
    "negative std tensor, float mean": lambda m, lib: m.normal(0.0, lib.full((3,), -1.0)),
    "negative std with size": lambda m, lib: m.normal(0.0, -1.0, (3,)),
    "integer mean": lambda m, lib: m.normal(lib.zeros(3, dtype=lib.int64), lib.ones(3)),
    "integer std": lambda m, lib: m.normal(0.0, lib.ones(3, dtype=lib.int64)),
    "integer dtype": lambda m, lib: m.normal(0.0, 1.0, (3,), dtype=lib.int64),
    "nan std": lambda m, lib: m.normal(lib.zeros(3), float("nan")),
}


@pytest.mark.parametrize("form", NORMAL_ERRORS.values(), ids=NORMAL_ERRORS.keys())
def test_normal_errors(form):
    assert_same_error(lambda: form(ember, ember), lambda: form(torch, torch))


def test_normal_argument_errors():
    for form in (lambda m: m.normal(0.0, 1.0), lambda m: m.normal(m.zeros(2), 1.0, (3,))):
        with pytest.raises(TypeError):
            form(torch)
        with pytest.raises(TypeError):
            form(ember)
    with pytest.raises(RuntimeError, match="must match"):
        ember.normal(ember.zeros(2, 3), ember.ones(4))
