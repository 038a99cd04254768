"""ember.nn activation layers against torch.nn: reprs, outputs and gradients (float32/float64), in-place variants,
PReLU's parameter, the softmax family's dim=None behaviour, and argument errors."""

from __future__ import annotations

import warnings

import pytest

import ember
import ember.nn as nn
from tests.nn.functional_check import FLOATS, check
from tests.nn.layer_check import check_layer, randomize, torch_dtype
from tests.oracle import assert_close, pair, torch

# (class name, positional args, keyword args): each built identically in both libraries.
ACTIVATIONS = [
    ("ReLU", (), {}), ("ReLU6", (), {}), ("LeakyReLU", (), {}), ("LeakyReLU", (0.2,), {}), ("ELU", (), {}),
    ("ELU", (), {"alpha": 0.5}), ("CELU", (), {"alpha": 0.7}), ("SELU", (), {}), ("GELU", (), {}),
    ("GELU", (), {"approximate": "tanh"}), ("SiLU", (), {}), ("Mish", (), {}), ("Sigmoid", (), {}), ("Tanh", (), {}),
    ("Hardtanh", (), {}), ("Hardtanh", (-2.0, 0.5), {}), ("Hardsigmoid", (), {}), ("Hardswish", (), {}),
    ("Softplus", (), {}), ("Softplus", (), {"beta": 2.0, "threshold": 3.0}), ("Softsign", (), {}),
    ("Softshrink", (), {}), ("Softshrink", (1.0,), {}), ("Hardshrink", (0.3,), {}), ("Tanhshrink", (), {}),
    ("Threshold", (0.5, -2.0), {}), ("LogSigmoid", (), {}), ("GLU", (), {}), ("GLU", (0,), {}),
    ("Softmax", (), {"dim": 1}), ("Softmax", (0,), {}), ("LogSoftmax", (), {"dim": -1}), ("Softmin", (1,), {}),
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name,args,kwargs", ACTIVATIONS)
def test_activation_matches_torch(name, args, kwargs, dtype):
    x = pair((4, 6), dtype, low=-8, high=8, noncontiguous=True)
    # torch's float64 gradients of hardsigmoid (1/6) and celu (1/alpha) use float32 constants.
    tol = {"Hardsigmoid": 1e-7, "CELU": 1e-6}.get(name)
    check_layer(getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs), x, tol=tol)


@pytest.mark.parametrize("name,args", [
    ("ReLU", ()), ("ReLU6", ()), ("LeakyReLU", (0.1,)), ("Hardtanh", ()), ("Hardsigmoid", ()),
    ("Threshold", (0.1, 20.0)), ("ELU", (0.5,)), ("CELU", (0.5,)), ("SELU", ()), ("SiLU", ()), ("Mish", ()),
    ("Hardswish", ()),
])
def test_inplace_activation(name, args):
    e_mod, t_mod = getattr(nn, name)(*args, inplace=True), getattr(torch.nn, name)(*args, inplace=True)
    assert repr(e_mod) == repr(t_mod)
    e, t = pair((3, 5), ember.float64, seed=2, low=-5, high=5)
    assert e_mod(e) is e
    t_mod(t)
    assert_close(e, t)
    # Through a non-leaf, the in-place result must still carry the right gradient.
    check(lambda x: e_mod(x * 1), lambda x: t_mod(x * 1), pair((3, 5), ember.float64, seed=3, low=-5, high=5),
          tol={"Hardsigmoid": 1e-7, "CELU": 1e-6}.get(name))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("num_parameters", [1, 6])
def test_prelu(num_parameters, dtype):
    e_mod = nn.PReLU(num_parameters, dtype=dtype)
    assert e_mod.weight.dtype is dtype and tuple(e_mod.weight.shape) == (num_parameters,)
    assert e_mod.weight.tolist() == [0.25] * num_parameters
    t_mod = torch.nn.PReLU(num_parameters, dtype=torch_dtype(dtype))
    randomize(t_mod)
    check_layer(e_mod, t_mod, pair((4, 6, 3), dtype, noncontiguous=True))
    assert nn.PReLU(init=0.1).weight.tolist() == pytest.approx([0.1])
    assert repr(nn.PReLU(3, init=-1.0)) == repr(torch.nn.PReLU(3, init=-1.0)) == "PReLU(num_parameters=3)"
    assert list(dict(nn.PReLU().named_parameters())) == ["weight"]


def test_prelu_channel_mismatch():
    with pytest.raises(RuntimeError, match="Found parameter numbers = 4 and channel size = 6"):
        nn.PReLU(4)(ember.ones(2, 6))


@pytest.mark.parametrize("name", ["Softmax", "LogSoftmax", "Softmin"])
@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 4), (2, 3, 4, 2)])
def test_softmax_dim_none(name, shape):
    e, t = pair(shape, ember.float64)
    e_mod, t_mod = getattr(nn, name)(), getattr(torch.nn, name)()
    assert repr(e_mod) == repr(t_mod) == f"{name}(dim=None)"
    functional = {"Softmax": "softmax", "LogSoftmax": "log_softmax", "Softmin": "softmin"}[name]
    with pytest.warns(UserWarning, match=f"Implicit dimension choice for {functional} has been deprecated") as rec:
        out = e_mod(e)
    # The warning names the line that called the layer.
    assert rec[0].filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = t_mod(t)
    assert_close(out, expected)


@pytest.mark.parametrize("dtype", FLOATS)
def test_softmax2d(dtype):
    check_layer(nn.Softmax2d(), torch.nn.Softmax2d(), pair((2, 3, 4, 5), dtype))
    check_layer(nn.Softmax2d(), torch.nn.Softmax2d(), pair((3, 4, 5), dtype))
    with pytest.raises(ValueError, match="Softmax2d: expected input to be 3D or 4D, got 2D instead"):
        nn.Softmax2d()(ember.ones(3, 4))


def test_reprs_match_torch():
    cases = [("ReLU", (), {"inplace": True}), ("ReLU6", (True,), {}), ("LeakyReLU", (0.2, True), {}),
             ("ELU", (), {"inplace": True}), ("Hardtanh", (-3.0, 3.0, True), {}), ("Hardsigmoid", (True,), {}),
             ("Hardswish", (True,), {}), ("SELU", (True,), {}), ("SiLU", (True,), {}), ("Mish", (True,), {}),
             ("Threshold", (0.1, 20.0, True), {}), ("CELU", (2.0, True), {}), ("Softshrink", (0.25,), {}),
             ("GELU", ("tanh",), {}), ("Softplus", (3, 10), {}), ("GLU", (2,), {})]
    for name, args, kwargs in cases:
        assert repr(getattr(nn, name)(*args, **kwargs)) == repr(getattr(torch.nn, name)(*args, **kwargs)), name
    seq = nn.Sequential(nn.ReLU(), nn.GELU(), nn.Softmax(dim=-1))
    assert repr(seq) == repr(torch.nn.Sequential(torch.nn.ReLU(), torch.nn.GELU(), torch.nn.Softmax(dim=-1)))
    assert nn.ReLU().state_dict() == {} and list(nn.Tanh().parameters()) == []


def test_classes_relate_as_in_torch():
    assert isinstance(nn.ReLU6(), nn.Hardtanh)
    assert not isinstance(nn.CELU(), nn.ELU) and not isinstance(nn.Softshrink(), nn.Hardshrink)
    assert nn.ReLU6().min_val == 0.0 and nn.ReLU6().max_val == 6.0


def test_argument_errors():
    with pytest.raises(AssertionError, match=r"max_val \(1.0\) must be greater than min_val \(2.0\)"):
        nn.Hardtanh(2.0, 1.0)
    with pytest.warns(FutureWarning, match="`min_value` is deprecated and renamed to `min_val`"):
        layer = nn.Hardtanh(min_value=-0.5)
    assert layer.min_val == -0.5
    with pytest.raises(RuntimeError, match="Halving dimension must be even, but dimension 1 is size 5"):
        nn.GLU()(ember.ones(2, 5))
    with pytest.raises(RuntimeError, match="lambda must be greater or equal to 0"):
        nn.Softshrink(-1.0)(ember.ones(2))
