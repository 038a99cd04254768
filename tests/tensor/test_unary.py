"""Unary element-wise math and activations against PyTorch: every dtype, 0-d, empty and strided inputs, the
dtype each op gives integers and bools, PyTorch's dtype refusals, special values, and erf to 1e-12 in float64.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import ember
from tests.oracle import ALL_DTYPES, FLOAT_DTYPES, INT_DTYPES, assert_close, compare, pair, torch
from tests.tensor.elementwise_cases import SHAPES, values_pair

F = torch.nn.functional

# name -> torch's function; ember.<name> must match it on every dtype (refusing what torch refuses).
UNARY = {
    "neg": torch.neg, "abs": torch.abs, "sign": torch.sign, "exp": torch.exp, "exp2": torch.exp2,
    "expm1": torch.expm1, "log": torch.log, "log2": torch.log2, "log10": torch.log10, "log1p": torch.log1p,
    "sqrt": torch.sqrt, "rsqrt": torch.rsqrt, "sin": torch.sin, "cos": torch.cos, "tan": torch.tan,
    "asin": torch.asin, "acos": torch.acos, "atan": torch.atan, "sinh": torch.sinh, "cosh": torch.cosh,
    "tanh": torch.tanh, "asinh": torch.asinh, "acosh": torch.acosh, "atanh": torch.atanh,
    "sigmoid": torch.sigmoid, "relu": torch.relu, "erf": torch.erf, "erfc": torch.erfc,
    "reciprocal": torch.reciprocal, "floor": torch.floor, "ceil": torch.ceil, "round": torch.round,
    "trunc": torch.trunc, "frac": torch.frac, "square": torch.square, "positive": torch.positive,
}
ALIASES = {"negative": "neg", "absolute": "abs", "sgn": "sign", "fix": "trunc", "arcsin": "asin",
           "arccos": "acos", "arctan": "atan", "arcsinh": "asinh", "arccosh": "acosh", "arctanh": "atanh"}
ACTIVATIONS = {"gelu": F.gelu, "silu": F.silu, "softplus": F.softplus}


def _activation(name):
    from ember.tensor.ops import unary

    return getattr(unary, name)


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_matches_torch_on_every_dtype_and_shape(name, dtype):
    for shape in SHAPES:
        for noncontiguous in (False, True) if shape else (False,):
            e, t = pair(shape, dtype, seed=len(shape), noncontiguous=noncontiguous)
            compare(lambda e=e: getattr(ember, name)(e), lambda t=t: UNARY[name](t))
    e, t = pair((3, 4), dtype, seed=9)
    compare(lambda: getattr(e, name)(), lambda: getattr(t, name)())


@pytest.mark.parametrize("alias", sorted(ALIASES))
def test_aliases_are_the_same_functions(alias):
    assert getattr(ember, alias) is getattr(ember, ALIASES[alias])
    e, t = pair((5,), ember.float32, seed=1, low=-0.9, high=0.9)
    assert_close(getattr(e, alias)(), getattr(torch, alias)(t))


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activations_match_torch_and_refuse_integers(name, dtype):
    fn = _activation(name)
    for shape in SHAPES:
        e, t = pair(shape, dtype, seed=2, noncontiguous=bool(shape))
        compare(lambda e=e: fn(e), lambda t=t: ACTIVATIONS[name](t))
    assert not hasattr(ember, name), f"torch has no top-level {name}; ember should not export one"


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
def test_activation_arguments(dtype):
    e, t = pair((4, 5), dtype, seed=3, low=-30, high=30)
    assert_close(_activation("gelu")(e, approximate="tanh"), F.gelu(t, approximate="tanh"))
    for beta, threshold in [(2.0, 1.0), (0.5, 20.0), (-1.0, 20.0), (1, 5)]:
        assert_close(_activation("softplus")(e, beta=beta, threshold=threshold),
                     F.softplus(t, beta=beta, threshold=threshold))
    with pytest.raises(RuntimeError, match="approximate argument must be either none or tanh"):
        _activation("gelu")(e, approximate="exact")


@pytest.mark.parametrize("decimals", [0, 1, 2, 3, -1, -2])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
def test_round_decimals_half_to_even(dtype, decimals):
    e, t = values_pair([0.5, 1.5, 2.5, -0.5, -2.5, 0.125, 0.375, 1.2345, -7.65, 1234.5, 15.0, 25.0], dtype)
    assert_close(ember.round(e, decimals=decimals), torch.round(t, decimals=decimals))
    assert_close(e.round(decimals=decimals), t.round(decimals=decimals))


def test_round_refusals():
    with pytest.raises(NotImplementedError, match="\"round_cpu\" not implemented for 'Long'"):
        ember.round(ember.tensor([1, 2]), decimals=1)
    with pytest.raises(TypeError, match="decimals"):
        ember.round(ember.tensor([1.5]), decimals=1.0)
    assert_close(ember.round(ember.tensor([1, 2])), torch.round(torch.tensor([1, 2])))


@pytest.mark.parametrize("dtype", INT_DTYPES, ids=str)
def test_integer_results_follow_torch(dtype):
    """Float functions give the default dtype; rounding returns a copy; relu, abs, neg keep the dtype."""
    e, t = values_pair([0, 1, 2, 100] + ([] if dtype is ember.uint8 else [-1, -100]), dtype)
    for name in ["exp", "sqrt", "sigmoid", "erf", "reciprocal", "floor", "round", "relu", "abs", "neg", "square"]:
        assert_close(getattr(ember, name)(e), UNARY[name](t))
    floored = ember.floor(e)
    assert floored.data_ptr() != e.data_ptr()
    ember.set_default_dtype(ember.float64)
    assert ember.exp(e).dtype is ember.float64
    ember.set_default_dtype(ember.float16)
    assert ember.sin(e).dtype is ember.float16


def test_wrapping_and_sign_edge_cases():
    int8 = ember.tensor([-128, -1, 0, 127], dtype=ember.int8)
    assert ember.abs(int8).tolist() == [-128, 1, 0, 127]
    assert ember.neg(int8).tolist() == [-128, 1, 0, -127]
    assert ember.neg(ember.tensor([1, 0], dtype=ember.uint8)).tolist() == [255, 0]
    e, t = values_pair([math.nan, -0.0, 0.0, -math.inf, 3.5], ember.float32)
    assert_close(ember.sign(e), torch.sign(t))
    assert ember.sign(ember.tensor([True, False])).dtype is ember.bool


def test_dtype_refusals_name_the_kernel_and_dtype():
    b, i = ember.tensor([True, False]), ember.tensor([1, 2])
    cases = [(lambda: ember.abs(b), NotImplementedError, "\"abs_cpu\" not implemented for 'Bool'"),
             (lambda: ember.floor(b), NotImplementedError, "\"floor_vml_cpu\" not implemented for 'Bool'"),
             (lambda: ember.frac(i), NotImplementedError, "\"frac_cpu\" not implemented for 'Long'"),
             (lambda: _activation("gelu")(i), NotImplementedError, "\"GeluKernelImpl\" not implemented for 'Long'"),
             (lambda: _activation("silu")(b), NotImplementedError, "\"silu_cpu\" not implemented for 'Bool'"),
             (lambda: _activation("softplus")(i), NotImplementedError, "\"softplus_cpu\" not implemented"),
             (lambda: ember.relu(b), RuntimeError, "Boolean inputs not supported for relu"),
             (lambda: ember.neg(b), RuntimeError, "Negation, the `-` operator, on a bool tensor is not supported"),
             (lambda: -b, RuntimeError, "Negation, the `-` operator"),
             (lambda: +b, RuntimeError, "The `\\+` operator, on a bool tensor is not supported"),
             (lambda: ember.exp(2.0), TypeError, "argument 'input' \\(position 1\\) must be Tensor, not float")]
    for call, error, message in cases:
        with pytest.raises(error, match=message):
            call()


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
def test_special_values_match_torch(dtype):
    values = [0.0, -0.0, 1.0, -1.0, 1000.0, -1000.0, 100.0, -100.0, 30.0, -30.0, math.inf, -math.inf, math.nan]
    e, t = values_pair(values, dtype)
    for name in ["exp", "expm1", "log", "log1p", "sqrt", "rsqrt", "sigmoid", "tanh", "erf", "erfc", "reciprocal",
                 "frac", "round", "relu", "sinh", "atan"]:
        assert_close(getattr(ember, name)(e), UNARY[name](t))
    for name in ("silu", "softplus"):
        assert_close(_activation(name)(e), ACTIVATIONS[name](t))
    assert_close(_activation("gelu")(e, approximate="tanh"), F.gelu(t, approximate="tanh"))
    # PyTorch's vectorised float32 erf gives gelu(+inf) = nan; ember gives the limit, +inf (as torch's float64).
    finite = ~torch.isposinf(t)
    assert_close(_activation("gelu")(e)[ember.from_numpy(finite.numpy())], F.gelu(t)[finite])
    assert _activation("gelu")(ember.tensor([math.inf], dtype=dtype)).item() == math.inf


def test_erf_float64_to_1e_12_relative():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-6, 6, 20000), rng.normal(0, 0.4, 5000), rng.uniform(-27, 27, 5000),
                        [0.46875, -0.46875, 4.0, -4.0, 1e-300, 26.5, -26.5]])
    e, t = ember.from_numpy(x), torch.from_numpy(x)
    for name in ["erf", "erfc"]:
        got, want = getattr(ember, name)(e).numpy(), getattr(torch, name)(t).numpy()
        normal = np.abs(want) > 1e-300
        np.testing.assert_allclose(got[normal], want[normal], rtol=1e-12, atol=0)
        np.testing.assert_allclose(got[~normal], want[~normal], rtol=0, atol=1e-300)


@pytest.mark.parametrize("name", ["exp", "sqrt", "sigmoid", "tanh", "relu", "floor", "ceil", "round", "trunc", "neg",
                                  "abs", "reciprocal", "log", "sin", "erf", "frac", "sign", "square", "expm1"])
def test_inplace_variants(name):
    e, t = pair((3, 4), ember.float32, seed=5, low=0.1, high=3)
    version, data = e._version, e.data_ptr()
    out = getattr(e, name + "_")()
    assert out is e and e.data_ptr() == data and e._version == version + 1
    assert_close(e, getattr(t, name + "_")())
    compare(lambda: getattr(ember.tensor([1, -2]), name + "_")(), lambda: getattr(torch.tensor([1, -2]), name + "_")())


def test_inplace_float_result_into_integer_tensor_is_refused():
    with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired output type Long"):
        ember.tensor([1, 2]).exp_()
    ints = ember.tensor([1, -2], dtype=ember.int16)
    assert ints.abs_() is ints and ints.tolist() == [1, 2]
