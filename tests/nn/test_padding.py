"""ember.nn padding layers against torch.nn: reprs, stored padding, outputs and gradients for every mode and
rank, negative (cropping) constant padding, and the input-rank errors."""

from __future__ import annotations

import pytest

import ember
import ember.nn as nn
from tests.nn.functional_check import FLOATS
from tests.nn.layer_check import check_layer
from tests.oracle import pair, torch

# (class name, constructor args, input shape): each mode in 1, 2 and 3 dims, batched and not.
LAYERS = [
    ("ZeroPad1d", (2,), (2, 3, 5)), ("ZeroPad1d", ((1, 3),), (3, 5)), ("ZeroPad2d", ((1, 0, 2, 1),), (2, 3, 4, 5)),
    ("ZeroPad2d", (1,), (3, 4, 5)), ("ZeroPad3d", (1,), (1, 2, 3, 3, 3)), ("ZeroPad2d", ((-1, 2, 0, -2),), (2, 4, 5)),
    ("ConstantPad1d", (2, 3.5), (2, 3, 5)), ("ConstantPad2d", ((1, 2, 0, 1), -1.0), (2, 2, 4, 5)),
    ("ConstantPad3d", ((1, 0, 0, 1, 2, 0), 0.5), (2, 3, 2, 3)),
    ("ReflectionPad1d", (2,), (2, 3, 5)), ("ReflectionPad1d", ((3, 1),), (3, 5)),
    ("ReflectionPad2d", ((1, 2, 3, 0),), (2, 3, 4, 5)), ("ReflectionPad2d", (2,), (3, 4, 5)),
    ("ReflectionPad3d", (1,), (1, 2, 3, 3, 3)),
    ("ReplicationPad1d", ((0, 4),), (2, 3, 5)), ("ReplicationPad2d", (2,), (2, 3, 4, 5)),
    ("ReplicationPad3d", ((1, 0, 2, 0, 0, 1),), (2, 2, 3, 3)),
    ("CircularPad1d", (2,), (2, 3, 5)), ("CircularPad2d", ((1, 2, 0, 3),), (3, 4, 5)),
    ("CircularPad3d", (1,), (1, 2, 3, 3, 3)),
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name,args,shape", LAYERS)
def test_padding_matches_torch(name, args, shape, dtype):
    e_mod, t_mod = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
    assert e_mod.padding == t_mod.padding
    check_layer(e_mod, t_mod, pair(shape, dtype, noncontiguous=True))


def test_reprs():
    assert repr(nn.ZeroPad2d(2)) == repr(torch.nn.ZeroPad2d(2)) == "ZeroPad2d((2, 2, 2, 2))"
    assert repr(nn.ConstantPad1d((1, 2), 3)) == repr(torch.nn.ConstantPad1d((1, 2), 3))
    assert repr(nn.ReflectionPad3d(1)) == repr(torch.nn.ReflectionPad3d(1))
    assert repr(nn.ReplicationPad1d([1, 2])) == repr(torch.nn.ReplicationPad1d([1, 2]))
    assert isinstance(nn.ZeroPad1d(1), nn.ConstantPad1d) and nn.ZeroPad1d(1).value == 0.0


def test_errors():
    with pytest.raises(ValueError, match=r"expected 3D or 4D input \(got 2D input\)"):
        nn.CircularPad2d(1)(ember.ones(3, 3))
    with pytest.raises(RuntimeError, match="Padding size should be less than the corresponding input dimension"):
        nn.ReflectionPad1d(3)(ember.ones(1, 2, 3))
