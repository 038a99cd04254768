"""ember.nn Flatten and Unflatten against torch.nn: reprs, shapes, values, gradients and argument errors."""

from __future__ import annotations

import pytest

import ember
import ember.nn as nn
from tests.nn.functional_check import FLOATS
from tests.nn.layer_check import check_layer
from tests.oracle import pair, torch


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("args", [(), (0,), (1, 2), (-3, -2), (0, -1)])
def test_flatten_matches_torch(args, dtype):
    check_layer(nn.Flatten(*args), torch.nn.Flatten(*args), pair((2, 3, 4, 5), dtype, noncontiguous=True))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("dim,sizes", [(1, (3, 4)), (-1, [5, 1]), (1, (-1, 2)), (0, (2, 1))])
def test_unflatten_matches_torch(dim, sizes, dtype):
    x = pair((2, 12, 5), dtype) if dim != -1 else pair((2, 3, 5), dtype)
    check_layer(nn.Unflatten(dim, sizes), torch.nn.Unflatten(dim, sizes), x)


def test_flatten_shapes():
    assert nn.Flatten()(ember.zeros(32, 1, 5, 5)).shape == (32, 25)
    assert nn.Flatten(0, 2)(ember.zeros(2, 3, 4, 5)).shape == (24, 5)
    assert nn.Unflatten(1, (2, 5, 5))(ember.zeros(2, 50)).shape == (2, 2, 5, 5)


def test_unflatten_argument_errors():
    with pytest.raises(TypeError, match="unflattened_size must be tuple of ints, but found element of type float at "
                                        "pos 1"):
        nn.Unflatten(1, (2, 2.5))
    with pytest.raises(TypeError, match="unflattened_size must be a tuple of ints, but found type int"):
        nn.Unflatten(1, 4)


def test_flatten_bad_dims_raise_like_torch():
    e, t = pair((2, 3), ember.float32)
    with pytest.raises(IndexError) as t_err:
        torch.nn.Flatten(3)(t)
    with pytest.raises(type(t_err.value)):
        nn.Flatten(3)(e)
    with pytest.raises(RuntimeError):
        torch.nn.Unflatten(1, (2, 2))(t)
    with pytest.raises(RuntimeError):
        nn.Unflatten(1, (2, 2))(e)
