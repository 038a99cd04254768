"""ember.nn.init against torch.nn.init: gains, fan computation and its errors exactly; every random initialiser
statistically (bounds, mean, standard deviation on large tensors), in place, without autograd history, seeded by
ember's generators; the deterministic ones (constant, eye, dirac) value for value."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import ember
from ember.nn import init
from tests.oracle import as_float64, torch


def _leaf(*shape, dtype=ember.float32):
    """A parameter-like leaf that requires grad: initialisers must fill it in place without recording history."""
    return ember.empty(*shape, dtype=dtype).requires_grad_()


def _filled(fn, tensor, *args, **kwargs):
    out = fn(tensor, *args, **kwargs)
    assert out is tensor and tensor.is_leaf and tensor.grad_fn is None and tensor.requires_grad
    return as_float64(tensor)


@pytest.mark.parametrize("nonlinearity,param", [
    ("linear", None), ("conv1d", None), ("conv2d", None), ("conv3d", None), ("conv_transpose1d", None),
    ("conv_transpose2d", None), ("conv_transpose3d", None), ("sigmoid", None), ("tanh", None), ("relu", None),
    ("leaky_relu", None), ("leaky_relu", 0.2), ("leaky_relu", 1), ("leaky_relu", math.sqrt(5)), ("selu", None),
])
def test_calculate_gain_matches_torch(nonlinearity, param):
    assert init.calculate_gain(nonlinearity, param) == torch.nn.init.calculate_gain(nonlinearity, param)


def test_calculate_gain_errors():
    for lib in (torch, ember):
        with pytest.raises(ValueError, match="Unsupported nonlinearity softmax"):
            lib.nn.init.calculate_gain("softmax")
        with pytest.raises(ValueError, match="negative_slope True not a valid number"):
            lib.nn.init.calculate_gain("leaky_relu", True)
        with pytest.raises(ValueError, match="negative_slope 0.1 not a valid number"):
            lib.nn.init.calculate_gain("leaky_relu", "0.1")


@pytest.mark.parametrize("shape", [(3, 4), (6, 2, 3), (5, 4, 3, 2), (2, 3, 1, 2, 2), (7, 0)])
def test_fan_in_and_fan_out_match_torch(shape):
    assert init._calculate_fan_in_and_fan_out(ember.empty(*shape)) == \
        torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(*shape))


@pytest.mark.parametrize("fn", ["xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_"])
@pytest.mark.parametrize("shape", [(), (5,)])
def test_fan_errors_match_torch(fn, shape):
    for lib in (torch, ember):
        with pytest.raises(ValueError, match="Fan in and fan out can not be computed for tensor with fewer than 2 "
                                             "dimensions"):
            getattr(lib.nn.init, fn)(lib.empty(shape))


def test_uniform_and_normal():
    values = _filled(init.uniform_, _leaf(200, 200), -2.0, 3.0)
    assert values.min() >= -2.0 and values.max() < 3.0 and values.mean() == pytest.approx(0.5, abs=0.03)
    values = _filled(init.uniform_, _leaf(100, 100))
    assert values.min() >= 0.0 and values.max() < 1.0
    values = _filled(init.normal_, _leaf(200, 200, dtype=ember.float64), 1.5, 0.5)
    assert values.mean() == pytest.approx(1.5, abs=0.01) and values.std() == pytest.approx(0.5, rel=0.02)


def test_generator_argument_makes_draws_reproducible():
    for fn, args in ((init.uniform_, ()), (init.normal_, ()), (init.xavier_uniform_, ()), (init.xavier_normal_, ()),
                     (init.kaiming_uniform_, ()), (init.kaiming_normal_, ()), (init.trunc_normal_, ()),
                     (init.orthogonal_, ()), (init.sparse_, (0.3,))):
        first = fn(ember.empty(6, 5), *args, generator=ember.Generator().manual_seed(7))
        second = fn(ember.empty(6, 5), *args, generator=ember.Generator().manual_seed(7))
        assert ember.equal(first, second), fn.__name__
        ember.manual_seed(11)
        third = fn(ember.empty(6, 5), *args)
        ember.manual_seed(11)
        assert ember.equal(third, fn(ember.empty(6, 5), *args)), fn.__name__


def test_constant_ones_zeros_match_torch():
    for fn, args in ((init.constant_, (0.25,)), (init.ones_, ()), (init.zeros_, ())):
        values = _filled(fn, _leaf(3, 4), *args)
        expected = getattr(torch.nn.init, fn.__name__)(torch.empty(3, 4), *args)
        np.testing.assert_array_equal(values, expected.numpy())


@pytest.mark.parametrize("shape", [(3, 3), (2, 5), (5, 2)])
def test_eye_matches_torch(shape):
    np.testing.assert_array_equal(_filled(init.eye_, _leaf(*shape)), torch.nn.init.eye_(torch.empty(*shape)).numpy())


@pytest.mark.parametrize("shape,groups", [((4, 4, 3), 1), ((6, 2, 3, 3), 2), ((4, 6, 2, 3, 5), 2), ((3, 5, 4), 3)])
def test_dirac_matches_torch(shape, groups):
    expected = torch.nn.init.dirac_(torch.empty(*shape), groups).numpy()
    np.testing.assert_array_equal(_filled(init.dirac_, _leaf(*shape), groups), expected)


def test_deterministic_initialiser_errors_match_torch():
    cases = [("eye_", (3,), (), "Only tensors with 2 dimensions are supported"),
             ("dirac_", (3, 3), (), "Only tensors with 3, 4, or 5 dimensions are supported"),
             ("dirac_", (3, 3, 3), (2,), "dim 0 must be divisible by groups"),
             ("orthogonal_", (4,), (), "Only tensors with 2 or more dimensions are supported"),
             ("sparse_", (2, 3, 4), (0.1,), "Only tensors with 2 dimensions are supported"),
             ("kaiming_uniform_", (3, 4), (0, "fan_avg"), r"Mode fan_avg not supported, please use one of \['fan_in', "
                                                         r"'fan_out'\]")]
    for fn, shape, args, message in cases:
        for lib in (torch, ember):
            with pytest.raises(ValueError, match=message):
                getattr(lib.nn.init, fn)(lib.empty(*shape), *args)


@pytest.mark.parametrize("gain", [1.0, 2.5])
def test_xavier(gain):
    tensor = _leaf(300, 200)
    std = gain * math.sqrt(2.0 / 500)
    values = _filled(init.xavier_uniform_, tensor, gain)
    assert np.abs(values).max() <= math.sqrt(3) * std and values.std() == pytest.approx(std, rel=0.03)
    values = _filled(init.xavier_normal_, tensor, gain=gain)
    assert abs(values.mean()) < 0.05 * std and values.std() == pytest.approx(std, rel=0.03)


@pytest.mark.parametrize("a,mode,nonlinearity", [(0, "fan_in", "leaky_relu"), (math.sqrt(5), "fan_in", "leaky_relu"),
                                                 (0, "fan_out", "relu"), (0.1, "FAN_OUT", "tanh")])
def test_kaiming(a, mode, nonlinearity):
    tensor = _leaf(64, 40, 3, 3)
    fan = 40 * 9 if mode == "fan_in" else 64 * 9
    std = torch.nn.init.calculate_gain(nonlinearity, a) / math.sqrt(fan)
    values = _filled(init.kaiming_uniform_, tensor, a, mode, nonlinearity)
    assert np.abs(values).max() <= math.sqrt(3) * std and np.abs(values).max() > 0.98 * math.sqrt(3) * std
    assert values.std() == pytest.approx(std, rel=0.03)
    values = _filled(init.kaiming_normal_, tensor, a=a, mode=mode, nonlinearity=nonlinearity)
    assert abs(values.mean()) < 0.05 * std and values.std() == pytest.approx(std, rel=0.03)


@pytest.mark.parametrize("fn", [init.kaiming_uniform_, init.kaiming_normal_])
def test_kaiming_on_empty_tensor_warns_and_returns_it(fn):
    tensor = ember.empty(0, 3)
    with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op"):
        assert fn(tensor) is tensor


def _truncated_normal_moments(mean, std, a, b):
    """The mean and standard deviation of N(mean, std**2) truncated to [a, b]."""
    alpha, beta = (a - mean) / std, (b - mean) / std

    def pdf(x):
        return math.exp(-x * x / 2) / math.sqrt(2 * math.pi)

    def cdf(x):
        return (1 + math.erf(x / math.sqrt(2))) / 2

    z = cdf(beta) - cdf(alpha)
    shift = (pdf(alpha) - pdf(beta)) / z
    variance = 1 + (alpha * pdf(alpha) - beta * pdf(beta)) / z - shift**2
    return mean + std * shift, std * math.sqrt(variance)


@pytest.mark.parametrize("mean,std,a,b", [(0.0, 1.0, -2.0, 2.0), (0.0, 0.02, -0.04, 0.04), (1.0, 1.0, 1.5, 4.0),
                                          (0.0, 1.0, 2.0, 3.0), (0.0, 1.0, -1.0, 0.0)])
def test_trunc_normal_matches_the_truncated_distribution(mean, std, a, b):
    # Both of PyTorch's samplers are exercised: redrawing normals (much mass inside [a, b]) and accepting uniform
    # draws by their density (little mass inside).
    values = _filled(init.trunc_normal_, _leaf(40000, dtype=ember.float64), mean, std, a, b)
    expected_mean, expected_std = _truncated_normal_moments(mean, std, a, b)
    assert values.min() >= a and values.max() <= b
    assert values.mean() == pytest.approx(expected_mean, abs=0.02 * expected_std)
    assert values.std() == pytest.approx(expected_std, rel=0.02)


def test_trunc_normal_warns_when_the_mean_is_far_from_the_interval():
    with pytest.warns(UserWarning, match=r"mean is more than 2 std from \[a, b\] in nn.init.trunc_normal_"):
        values = as_float64(init.trunc_normal_(ember.empty(100), mean=5.0, std=1.0, a=-1.0, b=1.0))
    assert values.min() >= -1.0 and values.max() <= 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        init.trunc_normal_(ember.empty(10))


@pytest.mark.parametrize("shape", [(6, 6), (4, 9), (9, 4), (6, 2, 3, 2)])
@pytest.mark.parametrize("dtype", [ember.float32, ember.float64])
def test_orthogonal(shape, dtype):
    values = _filled(init.orthogonal_, _leaf(*shape, dtype=dtype), 2.0)
    flat = values.reshape(shape[0], -1) / 2.0
    rows, cols = flat.shape
    gram = flat @ flat.T if rows <= cols else flat.T @ flat
    np.testing.assert_allclose(gram, np.eye(min(rows, cols)), atol=1e-5)


def test_orthogonal_is_haar_distributed():
    # Sign-corrected QR gives a uniformly distributed orthogonal matrix: every entry of a random 2x2 rotation or
    # reflection has mean zero (without the correction the diagonal would be biased positive).
    diagonals = np.array([as_float64(init.orthogonal_(ember.empty(2, 2))).diagonal() for _ in range(400)])
    assert abs(diagonals.mean()) < 0.1


@pytest.mark.parametrize("sparsity", [0.1, 0.5, 0.9])
def test_sparse_zeros_each_column(sparsity):
    values = _filled(init.sparse_, _leaf(20, 30), sparsity, std=0.05)
    zeros_per_column = (values == 0).sum(axis=0)
    assert np.all(zeros_per_column == math.ceil(sparsity * 20))
    assert values[values != 0].std() == pytest.approx(0.05, rel=0.2)


@pytest.mark.parametrize("old,new,args", [("uniform", "uniform_", ()), ("normal", "normal_", ()),
                                          ("constant", "constant_", (1.0,)), ("eye", "eye_", ()),
                                          ("xavier_uniform", "xavier_uniform_", ()),
                                          ("kaiming_normal", "kaiming_normal_", ()),
                                          ("orthogonal", "orthogonal_", ()), ("sparse", "sparse_", (0.5,))])
def test_deprecated_aliases_warn(old, new, args):
    tensor = ember.empty(3, 4)
    with pytest.warns(FutureWarning, match=f"`nn.init.{old}` is now deprecated in favor of `nn.init.{new}`."):
        assert getattr(init, old)(tensor, *args) is tensor


def test_public_names_match_torch():
    assert sorted(init.__all__) == sorted(torch.nn.init.__all__)
