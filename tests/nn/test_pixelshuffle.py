"""ember.nn.PixelShuffle and PixelUnshuffle against torch.nn: reprs, outputs and gradients, the round trip, and
the shape errors."""

from __future__ import annotations

import pytest

import ember
import ember.nn as nn
from tests.nn.functional_check import FLOATS
from tests.nn.layer_check import check_layer
from tests.oracle import pair, torch


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape,factor", [((2, 8, 3, 4), 2), ((9, 2, 2), 3), ((2, 1, 4, 3, 2), 1)])
def test_shuffle_and_unshuffle_match_torch(shape, factor, dtype):
    check_layer(nn.PixelShuffle(factor), torch.nn.PixelShuffle(factor), pair(shape, dtype))
    *batch, c, h, w = shape
    check_layer(nn.PixelUnshuffle(factor), torch.nn.PixelUnshuffle(factor),
                pair((*batch, c, h * factor, w * factor), dtype))


def test_round_trip_reprs_and_errors():
    x = ember.randn(2, 12, 3, 5)
    assert nn.PixelUnshuffle(2)(nn.PixelShuffle(2)(x)).tolist() == x.tolist()
    assert repr(nn.PixelShuffle(3)) == repr(torch.nn.PixelShuffle(3)) == "PixelShuffle(upscale_factor=3)"
    assert repr(nn.PixelUnshuffle(2)) == repr(torch.nn.PixelUnshuffle(2)) == "PixelUnshuffle(downscale_factor=2)"
    with pytest.raises(RuntimeError, match="not divisible by 4"):
        nn.PixelShuffle(2)(ember.ones(1, 6, 2, 2))
    with pytest.raises(RuntimeError, match="divisible by downscale_factor"):
        nn.PixelUnshuffle(2)(ember.ones(1, 1, 3, 2))
