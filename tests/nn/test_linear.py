"""ember.nn Identity, Linear and Bilinear against torch.nn: reprs, state_dict keys, outputs and gradients with
torch's weights (float32/float64, with and without bias), default-initialisation statistics and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import ember
import ember.nn as nn
from tests.nn.functional_check import FLOATS
from tests.nn.layer_check import check_layer, randomize, torch_dtype
from tests.oracle import as_float64, pair, torch


def test_identity_returns_its_input_and_ignores_arguments():
    e_mod, t_mod = nn.Identity(54, unused="x"), torch.nn.Identity(54, unused="x")
    assert repr(e_mod) == repr(t_mod) == "Identity()"
    x = ember.randn(3, 4)
    assert e_mod(x) is x
    assert list(e_mod.state_dict()) == [] and list(e_mod.parameters()) == []


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(3, 5), (2, 3, 5), (5,)])
def test_linear_matches_torch(shape, bias, dtype):
    e_mod = nn.Linear(5, 4, bias=bias, dtype=dtype)
    t_mod = torch.nn.Linear(5, 4, bias=bias, dtype=torch_dtype(dtype))
    randomize(t_mod)
    check_layer(e_mod, t_mod, pair(shape, dtype, seed=1))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("bias", [True, False])
def test_bilinear_matches_torch(bias, dtype):
    e_mod = nn.Bilinear(3, 4, 2, bias=bias, dtype=dtype)
    t_mod = torch.nn.Bilinear(3, 4, 2, bias=bias, dtype=torch_dtype(dtype))
    randomize(t_mod)
    check_layer(e_mod, t_mod, pair((5, 3), dtype, seed=1), pair((5, 4), dtype, seed=2))
    check_layer(e_mod, t_mod, pair((2, 5, 3), dtype, seed=3), pair((2, 5, 4), dtype, seed=4))


def test_parameter_shapes_attributes_and_factory_kwargs():
    lin = nn.Linear(7, 3, dtype=ember.float64, device="cpu")
    assert (lin.in_features, lin.out_features) == (7, 3)
    assert tuple(lin.weight.shape) == (3, 7) and tuple(lin.bias.shape) == (3,)
    assert lin.weight.dtype is ember.float64 and lin.bias.dtype is ember.float64
    assert isinstance(lin.weight, nn.Parameter) and lin.weight.requires_grad and lin.weight.is_leaf
    no_bias = nn.Linear(7, 3, bias=False)
    assert no_bias.bias is None and list(no_bias.state_dict()) == ["weight"]
    bil = nn.Bilinear(2, 5, 4)
    assert (bil.in1_features, bil.in2_features, bil.out_features) == (2, 5, 4)
    assert tuple(bil.weight.shape) == (4, 2, 5)


def _check_uniform(values: np.ndarray, bound: float) -> None:
    """Values of U(-bound, bound): inside the bounds, reaching near them, with its mean and standard deviation."""
    assert np.all(np.abs(values) <= bound)
    assert np.abs(values).max() > 0.98 * bound
    assert abs(values.mean()) < 0.05 * bound
    assert values.std() == pytest.approx(bound / math.sqrt(3), rel=0.05)


def test_linear_default_init_is_torchs_recipe():
    # kaiming_uniform_(a=sqrt(5)) gives U(-1/sqrt(fan_in), 1/sqrt(fan_in)); the bias has the same bound.
    ember.manual_seed(0)
    lin = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)
    _check_uniform(as_float64(lin.weight), bound)
    assert np.all(np.abs(as_float64(lin.bias)) <= bound) and as_float64(lin.bias).std() > 0.4 * bound


def test_bilinear_default_init_is_torchs_recipe():
    ember.manual_seed(0)
    bil = nn.Bilinear(25, 30, 40)
    bound = 1 / math.sqrt(25)
    _check_uniform(as_float64(bil.weight), bound)
    assert np.all(np.abs(as_float64(bil.bias)) <= bound)


def test_init_follows_the_global_seed():
    ember.manual_seed(3)
    first = nn.Linear(6, 4)
    ember.manual_seed(3)
    second = nn.Linear(6, 4)
    assert ember.equal(first.weight, second.weight) and ember.equal(first.bias, second.bias)
    assert not ember.equal(first.weight, nn.Linear(6, 4).weight)


def test_reset_parameters_redraws():
    lin = nn.Linear(4, 4)
    before = lin.weight.detach().clone()
    lin.reset_parameters()
    assert not ember.equal(before, lin.weight) and lin.weight.grad_fn is None


def test_zero_input_features():
    # torch allows an empty Linear (fan_in 0 gives a zero bias bound) and refuses an empty Bilinear.
    with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op"):
        lin = nn.Linear(0, 3)
    assert as_float64(lin.bias).tolist() == [0.0, 0.0, 0.0]
    assert lin(ember.zeros(2, 0)).tolist() == [[0.0] * 3] * 2
    with pytest.raises(ValueError, match=r"in1_features must be > 0, but got \(in1_features=0\)"):
        nn.Bilinear(0, 3, 2)


def test_wrong_input_size_raises_like_torch():
    e_mod, t_mod = nn.Linear(5, 4), torch.nn.Linear(5, 4)
    e, t = pair((3, 6), ember.float32)
    with pytest.raises(RuntimeError) as t_err:
        t_mod(t)
    with pytest.raises(type(t_err.value)):
        e_mod(e)
