"""ember.nn dropout layers: reprs and argument checks as torch's, identity in eval mode, and in training the
statistics (dropped fraction, survivor scale, whole channels, alpha dropout's values) of the masks."""

from __future__ import annotations

import numpy as np
import pytest

import ember
import ember.nn as nn
from tests.oracle import as_float64, assert_close, pair, torch

ALL = ["Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout"]
# An input rank each layer takes without warnings.
RANK = {"Dropout": 2, "Dropout1d": 3, "Dropout2d": 4, "Dropout3d": 5, "AlphaDropout": 2, "FeatureAlphaDropout": 4}


@pytest.mark.parametrize("name", ALL)
def test_repr_state_and_p_check(name):
    for args in [(), (0.2,), (0.3, True)]:
        e_mod, t_mod = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
        assert repr(e_mod) == repr(t_mod)
        assert e_mod.p == t_mod.p and e_mod.inplace == t_mod.inplace
    assert getattr(nn, name)().state_dict() == {}
    for p in (-0.1, 1.5):
        with pytest.raises(ValueError, match=f"dropout probability has to be between 0 and 1, but got {p}"):
            getattr(nn, name)(p)


@pytest.mark.parametrize("name", ALL)
def test_eval_is_identity(name):
    e, t = pair((2, 3, 4, 5, 2)[:RANK[name]], ember.float64)
    e_mod, t_mod = getattr(nn, name)(0.7).eval(), getattr(torch.nn, name)(0.7).eval()
    assert not e_mod.training
    leaf = e.requires_grad_()
    out = e_mod(leaf)
    assert_close(out, t_mod(t))
    out.sum().backward()
    assert leaf.grad.tolist() == ember.ones_like(e).tolist()


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_dropout_statistics_and_gradient(p):
    x = ember.ones(200, 500, dtype=ember.float64, requires_grad=True)
    out = nn.Dropout(p)(x)
    values = as_float64(out)
    dropped = values == 0
    assert abs(dropped.mean() - p) < 0.01
    np.testing.assert_allclose(values[~dropped], 1 / (1 - p))
    out.backward(ember.ones_like(out))
    # The gradient goes through the same mask and scale.
    np.testing.assert_allclose(as_float64(x.grad), values)


@pytest.mark.parametrize("name,shape", [("Dropout1d", (64, 64, 3)), ("Dropout1d", (64, 3)),
                                        ("Dropout2d", (32, 64, 3, 2)), ("Dropout3d", (32, 64, 2, 2, 2)),
                                        ("Dropout3d", (64, 2, 2, 2))])
def test_channel_dropout_zeroes_whole_channels(name, shape):
    ember.manual_seed(0)  # the zero fraction is checked to 0.06: a fixed draw keeps the test independent of test order
    p = 0.4
    out = as_float64(getattr(nn, name)(p)(ember.ones(shape)))
    lead = len(shape) - {"Dropout1d": 1, "Dropout2d": 2, "Dropout3d": 3}[name]
    channels = out.reshape(int(np.prod(shape[:lead])), -1)
    # Every channel is all zeros or all 1 / (1 - p).
    assert np.all(channels == channels[:, :1])
    assert set(np.unique(channels).round(6)) <= {0.0, round(1 / (1 - p), 6)}
    assert abs((channels[:, 0] == 0).mean() - p) < 0.06


def test_dropout2d_three_dims_warns_like_torch():
    with pytest.warns(UserWarning, match="Received a 3D input to dropout2d"):
        out = nn.Dropout2d(0.5)(ember.ones(8, 16, 4))
    assert out.shape == (8, 16, 4)


def test_p_edges_inplace_and_seed():
    x = ember.ones(10, 10)
    assert as_float64(nn.Dropout(1.0)(x)).max() == 0.0
    assert_close(nn.Dropout(0.0)(x), torch.ones(10, 10))
    base = ember.ones(10, 10, requires_grad=True)
    y = base * 2
    assert nn.Dropout(0.5, inplace=True)(y) is y
    assert set(np.unique(as_float64(y))) <= {0.0, 4.0}
    ember.manual_seed(7)
    first = nn.Dropout()(ember.ones(50))
    ember.manual_seed(7)
    assert first.tolist() == nn.Dropout()(ember.ones(50)).tolist()


def test_train_eval_toggle_in_a_model():
    model = nn.Sequential(nn.Dropout(0.5), nn.Sequential(nn.Dropout2d(0.5)))
    x = ember.ones(4, 8, 3, 3)
    model.eval()
    assert as_float64(model(x)).min() == 1.0
    model.train()
    assert as_float64(model(x)).min() == 0.0


@pytest.mark.parametrize("name", ["AlphaDropout", "FeatureAlphaDropout"])
def test_alpha_dropout_values_match_torch(name):
    """On a zero input the output takes exactly two values: the kept (affine shift) and the dropped one; both
    must be torch's. On a standard-normal input, the mean and variance are kept."""
    p = 0.3
    shape = (20, 30, 4, 4)
    e_vals = np.unique(as_float64(getattr(nn, name)(p)(ember.zeros(shape, dtype=ember.float64))))
    t_vals = np.unique(getattr(torch.nn, name)(p)(torch.zeros(shape, dtype=torch.float64)).numpy())
    np.testing.assert_allclose(e_vals, t_vals, rtol=1e-12)
    ember.manual_seed(0)
    out = as_float64(getattr(nn, name)(p)(ember.randn(100, 50, 4, 4)))
    assert abs(out.mean()) < 0.05 and abs(out.std() - 1) < 0.05


def test_alpha_dropout_scales_kept_inputs():
    p = 0.3
    a = 1 / ((1.7580993408473766 ** 2 * p + 1) * (1 - p)) ** 0.5
    x = ember.randn(1000, dtype=ember.float64)
    out = as_float64(nn.AlphaDropout(p)(x))
    dropped_value = np.unique(as_float64(nn.AlphaDropout(p)(ember.zeros(1000, dtype=ember.float64))))
    kept = ~np.isclose(out, dropped_value.min())
    shift = dropped_value.max()
    np.testing.assert_allclose(out[kept], as_float64(x)[kept] * a + shift, rtol=1e-12)


def test_integer_input_refused():
    with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired output type Long"):
        nn.Dropout()(ember.ones(3, dtype=ember.int64))
