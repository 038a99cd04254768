"""ember.nn convolution layers against torch.nn: reprs, state_dict keys, outputs and gradients (input, weight,
bias) with torch's weights for strides, paddings ('same', 'valid', tuples), dilations, groups, padding modes and
output paddings, float32/float64, batched and unbatched; default-initialisation statistics; argument errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import ember
import ember.nn as nn
from tests.nn.functional_check import FLOATS
from tests.nn.layer_check import check_layer, load_torch_state, randomize, torch_dtype
from tests.oracle import as_float64, assert_close, pair, torch

# (class name, positional args, keyword args, input shape): built identically in both libraries.
CONVS = [
    ("Conv1d", (4, 6, 3), {}, (2, 4, 9)),
    ("Conv1d", (4, 6, 3), {"stride": 2, "padding": 2, "dilation": 2, "groups": 2, "bias": False}, (2, 4, 11)),
    ("Conv1d", (2, 3, 4), {"padding": "same"}, (3, 2, 7)),
    ("Conv1d", (2, 3, 4), {"padding": "same", "dilation": 3, "padding_mode": "reflect"}, (2, 2, 12)),
    ("Conv1d", (2, 4, 3), {"padding": 1, "padding_mode": "circular"}, (2, 2, 6)),
    ("Conv1d", (3, 3, 3), {"groups": 3, "padding": "valid"}, (3, 8)),
    ("Conv2d", (3, 4, 3), {}, (2, 3, 7, 6)),
    ("Conv2d", (3, 4, (3, 2)), {"stride": (2, 1), "padding": (1, 2), "dilation": (1, 2)}, (2, 3, 8, 7)),
    ("Conv2d", (4, 6, 3), {"groups": 2, "padding": "same", "bias": False}, (2, 4, 5, 6)),
    ("Conv2d", (2, 3, (2, 3)), {"padding": "same", "padding_mode": "replicate"}, (2, 2, 5, 5)),
    ("Conv2d", (2, 3, 3), {"padding": (1, 2), "padding_mode": "reflect", "stride": 2}, (2, 2, 6, 7)),
    ("Conv2d", (2, 2, 3), {"padding": 1, "padding_mode": "circular", "dilation": 2}, (2, 2, 6, 6)),
    ("Conv2d", (2, 4, 3), {"stride": [1, 2], "padding": [0, 1]}, (2, 6, 7)),
    ("Conv3d", (2, 3, 2), {"stride": (1, 2, 1), "padding": 1}, (2, 2, 4, 5, 4)),
    ("Conv3d", (2, 4, 3), {"groups": 2, "padding": "same", "padding_mode": "circular"}, (1, 2, 3, 4, 3)),
]

TRANSPOSED = [
    ("ConvTranspose1d", (4, 6, 3), {}, (2, 4, 5)),
    ("ConvTranspose1d", (4, 6, 3), {"stride": 2, "padding": 1, "output_padding": 1, "groups": 2}, (2, 4, 5)),
    ("ConvTranspose1d", (3, 2, 2), {"dilation": 2, "bias": False}, (3, 6)),
    ("ConvTranspose2d", (3, 4, 3), {}, (2, 3, 4, 5)),
    ("ConvTranspose2d", (4, 2, (3, 2)), {"stride": (2, 3), "padding": (1, 0), "output_padding": (1, 2)},
     (2, 4, 3, 3)),
    ("ConvTranspose2d", (4, 6, 3), {"groups": 2, "dilation": 2, "stride": 2, "bias": False}, (1, 4, 3, 4)),
    ("ConvTranspose2d", (2, 3, 2), {"stride": 2}, (2, 3, 3)),
    ("ConvTranspose3d", (2, 3, 2), {"stride": 2, "padding": 1, "output_padding": 1}, (1, 2, 2, 3, 2)),
]


def _pair_of(name, args, kwargs, dtype):
    e_mod = getattr(nn, name)(*args, **kwargs, dtype=dtype)
    t_mod = getattr(torch.nn, name)(*args, **kwargs, dtype=torch_dtype(dtype))
    randomize(t_mod)
    return e_mod, t_mod


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name,args,kwargs,shape", CONVS + TRANSPOSED)
def test_conv_matches_torch(name, args, kwargs, shape, dtype):
    e_mod, t_mod = _pair_of(name, args, kwargs, dtype)
    check_layer(e_mod, t_mod, pair(shape, dtype, seed=1), tol=1e-4 if dtype is ember.float32 else None)


@pytest.mark.parametrize("output_size", [[7, 10], [8, 12], [2, 4, 8, 11]])
def test_conv_transpose_output_size(output_size):
    e_mod, t_mod = _pair_of("ConvTranspose2d", (4, 2, 3), {"stride": (2, 3), "padding": 1}, ember.float64)
    load_torch_state(e_mod, t_mod)
    e, t = pair((2, 4, 4, 4), ember.float64)
    out = e_mod(e, output_size=output_size)
    assert_close(out, t_mod(t, output_size=output_size))
    assert list(out.shape[2:]) == output_size[-2:]


def test_conv_transpose_output_size_errors():
    e_mod, t_mod = nn.ConvTranspose2d(4, 2, 3, stride=2), torch.nn.ConvTranspose2d(4, 2, 3, stride=2)
    e, t = pair((2, 4, 4, 4), ember.float32)
    with pytest.raises(ValueError, match=r"requested an output size of \[12, 9\], but valid sizes range from "
                                         r"\[9, 9\] to \[10, 10\] \(for an input of ember.Size\(\[4, 4\]\)\)"):
        e_mod(e, output_size=[12, 9])
    with pytest.raises(ValueError, match="valid sizes range from"):
        t_mod(t, output_size=[12, 9])
    message = r"ConvTranspose2D: for 4D input, output_size must have 2 or 4 elements \(got 3\)"
    for mod, x in ((e_mod, e), (t_mod, t)):
        with pytest.raises(ValueError, match=message):
            mod(x, output_size=[1, 9, 9])


@pytest.mark.parametrize("name,args,kwargs", [
    ("Conv2d", (3, 4, 3), {}), ("Conv2d", (4, 8, (3, 5)), {"stride": 2, "padding": (1, 2), "groups": 2}),
    ("Conv2d", (2, 2, 3), {"padding": "same", "dilation": 2, "bias": False, "padding_mode": "reflect"}),
    ("Conv2d", (2, 2, 3), {"padding": "valid"}), ("Conv1d", (2, 2, 3), {"padding_mode": "circular"}),
    ("Conv3d", (2, 2, 1), {"dilation": (1, 2, 3)}), ("ConvTranspose1d", (2, 4, 3), {"output_padding": 1, "stride": 2}),
    ("ConvTranspose2d", (4, 2, 3), {"groups": 2, "bias": False}), ("ConvTranspose3d", (2, 2, 2), {}),
])
def test_repr_and_attributes_match_torch(name, args, kwargs):
    e_mod, t_mod = getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    assert repr(e_mod) == repr(t_mod)
    for attr in ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "transposed",
                 "output_padding", "groups", "padding_mode", "_reversed_padding_repeated_twice"):
        assert getattr(e_mod, attr) == getattr(t_mod, attr), attr
    assert list(e_mod.state_dict()) == list(t_mod.state_dict())
    assert {k: tuple(v.shape) for k, v in e_mod.state_dict().items()} == \
        {k: tuple(v.shape) for k, v in t_mod.state_dict().items()}


@pytest.mark.parametrize("name,args,kwargs,fan_in", [
    ("Conv2d", (16, 48, 5), {}, 16 * 25), ("Conv1d", (12, 60, 7), {"groups": 3}, 4 * 7),
    ("ConvTranspose2d", (40, 30, 4), {"groups": 2}, 15 * 16),
])
def test_default_init_is_torchs_recipe(name, args, kwargs, fan_in):
    # kaiming_uniform_(a=sqrt(5)) on the weight and U(-1/sqrt(fan_in), 1/sqrt(fan_in)) on the bias, where fan_in
    # is weight.size(1) * the kernel's size: in_channels/groups for a convolution, out_channels/groups transposed.
    ember.manual_seed(0)
    mod = getattr(nn, name)(*args, **kwargs)
    bound = 1 / math.sqrt(fan_in)
    w, b = as_float64(mod.weight), as_float64(mod.bias)
    assert np.all(np.abs(w) <= bound) and np.abs(w).max() > 0.98 * bound
    assert w.std() == pytest.approx(bound / math.sqrt(3), rel=0.05) and abs(w.mean()) < 0.05 * bound
    assert np.all(np.abs(b) <= bound) and b.std() > 0.3 * bound


@pytest.mark.parametrize("name", ["Conv2d", "ConvTranspose2d"])
def test_unbatched_matches_batched(name):
    mod = getattr(nn, name)(2, 3, 3, padding=1)
    x = ember.randn(2, 5, 5)
    np.testing.assert_allclose(as_float64(mod(x)), as_float64(mod(x.unsqueeze(0)).squeeze(0)), rtol=1e-6)


@pytest.mark.parametrize("kwargs,error,message", [
    ({"groups": 0}, ValueError, "groups must be a positive integer"),
    ({"groups": -1}, ValueError, "groups must be a positive integer"),
    ({"groups": 4}, ValueError, "in_channels must be divisible by groups"),
    ({"groups": 3, "in_channels": 3}, ValueError, "out_channels must be divisible by groups"),
    ({"padding": "full"}, ValueError, "Invalid padding string 'full', should be one of"),
    ({"padding": "same", "stride": 2}, ValueError, "padding='same' is not supported for strided convolutions"),
    ({"padding_mode": "mirror"}, ValueError, "padding_mode must be one of .*, but got padding_mode='mirror'"),
])
def test_constructor_errors_match_torch(kwargs, error, message):
    full = {"in_channels": 6, "out_channels": 4, "kernel_size": 3, **kwargs}
    for lib in (torch, ember):
        with pytest.raises(error, match=message):
            lib.nn.Conv2d(**full)


def test_transposed_padding_mode_errors():
    for lib in (torch, ember):
        with pytest.raises(ValueError, match='Only "zeros" padding mode is supported for ConvTranspose2d'):
            lib.nn.ConvTranspose2d(2, 2, 3, padding_mode="reflect")
    mod = nn.ConvTranspose1d(2, 2, 3)
    mod.padding_mode = "circular"
    with pytest.raises(ValueError, match="Only `zeros` padding mode is supported for ConvTranspose1d"):
        mod(ember.randn(1, 2, 4))


@pytest.mark.parametrize("shape", [(2, 3, 5), (1, 2, 3, 5, 5), (2, 5, 5, 5)])
def test_forward_input_errors_match_torch(shape):
    e_mod, t_mod = nn.Conv2d(3, 4, 3), torch.nn.Conv2d(3, 4, 3)
    e, t = pair(shape, ember.float32)
    with pytest.raises(RuntimeError) as t_err:
        t_mod(t)
    with pytest.raises(type(t_err.value)):
        e_mod(e)


def test_training_step_moves_weights_like_torch():
    e_mod, t_mod = _pair_of("Conv2d", (2, 3, 3), {"padding": 1}, ember.float64)
    load_torch_state(e_mod, t_mod)
    e_opt = ember.optim.SGD(e_mod.parameters(), lr=0.1)
    t_opt = torch.optim.SGD(t_mod.parameters(), lr=0.1)
    for seed in range(3):
        e, t = pair((2, 2, 4, 4), ember.float64, seed=seed)
        for mod, opt, x in ((e_mod, e_opt, e), (t_mod, t_opt, t)):
            opt.zero_grad()
            (mod(x) ** 2).mean().backward()
            opt.step()
    for name, value in t_mod.state_dict().items():
        assert_close(e_mod.state_dict()[name], value)
