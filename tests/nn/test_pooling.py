"""ember.nn pooling layers against torch.nn: reprs, outputs, indices and input gradients for max, average,
power-average, adaptive pooling and max-unpooling, float32/float64, batched and unbatched; argument errors."""

from __future__ import annotations

import pytest

import ember
import ember.nn as nn
from tests.nn.functional_check import FLOATS, check
from tests.nn.layer_check import check_layer
from tests.oracle import assert_close, pair, torch

# (class name, positional args, keyword args, input shape): built identically in both libraries.
POOLS = [
    ("MaxPool1d", (3,), {}, (2, 3, 10)),
    ("MaxPool1d", (3,), {"stride": 2, "padding": 1, "dilation": 2, "ceil_mode": True}, (2, 3, 10)),
    ("MaxPool1d", (2,), {}, (3, 7)),
    ("MaxPool2d", (2,), {}, (2, 3, 6, 8)),
    ("MaxPool2d", ((3, 2),), {"stride": (2, 1), "padding": (1, 0), "ceil_mode": True}, (2, 2, 7, 5)),
    ("MaxPool2d", (3,), {"stride": 2, "dilation": 2, "padding": 1}, (2, 9, 9)),
    ("MaxPool3d", (2,), {"stride": (1, 2, 2)}, (1, 2, 4, 5, 6)),
    ("AvgPool1d", (3,), {}, (2, 3, 10)),
    ("AvgPool1d", (3,), {"stride": 2, "padding": 1, "ceil_mode": True, "count_include_pad": False}, (2, 3, 10)),
    ("AvgPool2d", (2,), {}, (2, 3, 6, 8)),
    ("AvgPool2d", ((3, 2),), {"stride": (2, 1), "padding": 1, "ceil_mode": True}, (2, 2, 7, 5)),
    ("AvgPool2d", (3,), {"padding": 1, "count_include_pad": False, "stride": 2}, (2, 7, 7)),
    ("AvgPool2d", (2,), {"divisor_override": 3}, (2, 2, 6, 6)),
    ("AvgPool3d", (2,), {"padding": 1, "count_include_pad": False}, (1, 2, 4, 5, 4)),
    ("LPPool1d", (2, 3), {}, (2, 3, 9)),
    ("LPPool2d", (3, 2), {"stride": (2, 1)}, (2, 2, 6, 5)),
    ("AdaptiveAvgPool1d", (4,), {}, (2, 3, 10)),
    ("AdaptiveAvgPool2d", ((3, 4),), {}, (2, 3, 7, 9)),
    ("AdaptiveAvgPool2d", ((None, 2),), {}, (2, 5, 7)),
    ("AdaptiveAvgPool2d", (1,), {}, (2, 3, 5, 5)),
    ("AdaptiveAvgPool3d", ((2, 3, 2),), {}, (1, 2, 5, 6, 4)),
    ("AdaptiveMaxPool1d", (3,), {}, (2, 3, 10)),
    ("AdaptiveMaxPool2d", ((3, 2),), {}, (2, 3, 7, 5)),
    ("AdaptiveMaxPool2d", ((None, 3),), {}, (3, 4, 8)),
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name,args,kwargs,shape", POOLS)
def test_pool_matches_torch(name, args, kwargs, shape, dtype):
    low = 0.1 if name.startswith("LP") else -3
    e_mod, t_mod = getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    check_layer(e_mod, t_mod, pair(shape, dtype, seed=1, low=low))
    assert list(e_mod.state_dict()) == [] and list(e_mod.parameters()) == []


@pytest.mark.parametrize("name,args,kwargs,shape", [
    ("MaxPool1d", (3,), {"stride": 2, "padding": 1}, (2, 3, 10)),
    ("MaxPool2d", (3,), {"stride": 2, "padding": 1, "dilation": (1, 2), "ceil_mode": True}, (2, 3, 9, 9)),
    ("MaxPool2d", (2,), {}, (3, 6, 6)),
    ("MaxPool3d", (2,), {"padding": 1}, (1, 2, 3, 4, 5)),
    ("AdaptiveMaxPool1d", (4,), {}, (2, 3, 9)),
    ("AdaptiveMaxPool2d", ((3, 4),), {}, (2, 3, 7, 9)),
])
def test_return_indices_match_torch(name, args, kwargs, shape):
    e_mod = getattr(nn, name)(*args, **kwargs, return_indices=True)
    t_mod = getattr(torch.nn, name)(*args, **kwargs, return_indices=True)
    assert repr(e_mod) == repr(t_mod)
    e, t = pair(shape, ember.float64, seed=2)
    e_out, e_idx = e_mod(e)
    t_out, t_idx = t_mod(t)
    assert_close(e_out, t_out)
    assert_close(e_idx, t_idx)
    check(lambda x: e_mod(x)[0], lambda x: t_mod(x)[0], (e, t))


@pytest.mark.parametrize("nd", [1, 2])
def test_max_unpool_inverts_max_pool_like_torch(nd):
    kernel, shape = (2, (2, 2, 8)) if nd == 1 else ((2, 3), (2, 2, 6, 9))
    e_pool = getattr(nn, f"MaxPool{nd}d")(kernel, return_indices=True)
    t_pool = getattr(torch.nn, f"MaxPool{nd}d")(kernel, return_indices=True)
    e_unpool, t_unpool = getattr(nn, f"MaxUnpool{nd}d")(kernel), getattr(torch.nn, f"MaxUnpool{nd}d")(kernel)
    assert repr(e_unpool) == repr(t_unpool)
    e, t = pair(shape, ember.float32, seed=3)
    e_out, e_idx = e_pool(e)
    t_out, t_idx = t_pool(t)
    assert_close(e_unpool(e_out, e_idx), t_unpool(t_out, t_idx))
    size = [s + 1 for s in shape]
    assert_close(e_unpool(e_out, e_idx, output_size=size), t_unpool(t_out, t_idx, output_size=size))
    check(lambda x: e_unpool(x, e_idx), lambda x: t_unpool(x, t_idx), (e_out, t_out))


@pytest.mark.parametrize("name,args,kwargs", [
    ("MaxPool1d", (3,), {}), ("MaxPool2d", ((3, 2),), {"stride": 1, "padding": (1, 0), "ceil_mode": True}),
    ("MaxPool3d", (2,), {"dilation": 2}), ("AvgPool1d", (3,), {"stride": 2, "padding": 1}), ("AvgPool2d", (2,), {}),
    ("AvgPool2d", ((2, 3),), {"stride": (1, 2), "divisor_override": 2}), ("AvgPool3d", (2,), {"padding": 1}),
    ("LPPool1d", (2.0, 3), {"stride": 2}), ("LPPool2d", (1, (2, 3)), {"ceil_mode": True}),
    ("AdaptiveAvgPool1d", (5,), {}), ("AdaptiveAvgPool2d", ((None, 7),), {}), ("AdaptiveAvgPool3d", (1,), {}),
    ("AdaptiveMaxPool1d", (3,), {"return_indices": True}), ("AdaptiveMaxPool2d", ((2, 2),), {}),
    ("MaxUnpool1d", (2,), {}), ("MaxUnpool2d", ((2, 3),), {"stride": 1, "padding": (0, 1)}),
])
def test_repr_and_attributes_match_torch(name, args, kwargs):
    e_mod, t_mod = getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    assert repr(e_mod) == repr(t_mod)
    for attr in ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "count_include_pad", "divisor_override",
                 "return_indices", "output_size", "norm_type"):
        assert getattr(e_mod, attr, None) == getattr(t_mod, attr, None), attr


@pytest.mark.parametrize("name,args,shape", [
    ("MaxPool2d", (2,), (2, 3)), ("MaxPool2d", (5,), (1, 2, 3, 3)), ("MaxPool2d", (2, 1, 2), (1, 1, 4, 4)),
    ("AvgPool1d", (2,), (1, 2, 3, 4)), ("AvgPool2d", (4, 1, 3), (1, 1, 8, 8)),
    ("AdaptiveAvgPool2d", (2,), (5,)), ("AdaptiveMaxPool1d", (2,), (1, 2, 3, 4)),
])
def test_bad_inputs_raise_like_torch(name, args, shape):
    e, t = pair(shape, ember.float32)
    with pytest.raises((RuntimeError, ValueError)) as t_err:
        getattr(torch.nn, name)(*args)(t)
    with pytest.raises(type(t_err.value)):
        getattr(nn, name)(*args)(e)


def test_pool_then_flatten_in_a_model():
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.MaxPool2d(2), nn.AdaptiveAvgPool2d((2, 2)), nn.Flatten())
    assert model(ember.randn(3, 1, 8, 8)).shape == (3, 16)
