"""ember.nn upsampling layers against torch.nn: reprs and stored arguments, outputs and gradients for the nearest
and (bi/tri)linear modes by size and by scale factor, and the fixed-mode 2-D subclasses."""

from __future__ import annotations

import pytest

import ember
import ember.nn as nn
from tests.nn.functional_check import FLOATS
from tests.nn.layer_check import check_layer
from tests.oracle import pair, torch

# (constructor kwargs, input shape)
LAYERS = [
    ({"scale_factor": 2}, (2, 3, 4, 5)), ({"size": (7, 3)}, (2, 3, 4, 5)), ({"size": 6}, (1, 2, 4)),
    ({"scale_factor": (2, 3), "mode": "nearest"}, (1, 2, 3, 3)),
    ({"scale_factor": 2, "mode": "bilinear"}, (2, 3, 4, 5)),
    ({"size": (5, 9), "mode": "bilinear", "align_corners": True}, (2, 3, 4, 5)),
    ({"scale_factor": 1.5, "mode": "linear"}, (2, 3, 4)), ({"size": 3, "mode": "nearest-exact"}, (1, 2, 7)),
    ({"scale_factor": 2, "mode": "trilinear", "align_corners": False}, (1, 2, 2, 3, 2)),
    ({"scale_factor": 2.5, "mode": "bilinear", "recompute_scale_factor": True}, (1, 2, 3, 4)),
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("kwargs,shape", LAYERS)
def test_upsample_matches_torch(kwargs, shape, dtype):
    e_mod, t_mod = nn.Upsample(**kwargs), torch.nn.Upsample(**kwargs)
    for attr in ("name", "size", "scale_factor", "mode", "align_corners", "recompute_scale_factor"):
        assert getattr(e_mod, attr) == getattr(t_mod, attr), attr
    check_layer(e_mod, t_mod, pair(shape, dtype))


@pytest.mark.parametrize("name", ["UpsamplingNearest2d", "UpsamplingBilinear2d"])
@pytest.mark.parametrize("kwargs", [{"scale_factor": 2}, {"size": (5, 7)}])
def test_fixed_mode_subclasses(name, kwargs):
    e_mod, t_mod = getattr(nn, name)(**kwargs), getattr(torch.nn, name)(**kwargs)
    assert isinstance(e_mod, nn.Upsample) and e_mod.align_corners == t_mod.align_corners
    check_layer(e_mod, t_mod, pair((2, 3, 3, 4), ember.float64))


def test_reprs_and_errors():
    assert repr(nn.Upsample(scale_factor=2)) == repr(torch.nn.Upsample(scale_factor=2))
    assert repr(nn.Upsample(size=(3, 4), mode="bilinear")) == repr(torch.nn.Upsample(size=(3, 4), mode="bilinear"))
    assert repr(nn.Upsample(scale_factor=(2, 3))) == "Upsample(scale_factor=(2.0, 3.0), mode='nearest')"
    with pytest.raises(ValueError, match="either size or scale_factor should be defined"):
        nn.Upsample()(ember.ones(1, 1, 2, 2))
    with pytest.raises(NotImplementedError, match="Got 3D input, but bilinear mode needs 4D input"):
        nn.Upsample(scale_factor=2, mode="bilinear")(ember.ones(1, 1, 2))
