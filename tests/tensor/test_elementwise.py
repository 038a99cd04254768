"""What all element-wise ops share, against PyTorch: the type-promotion table over dimensioned tensors, 0-d
tensors and Python scalars; broadcasting (a hypothesis property); the in-place rules (castable result dtype,
broadcast shape equal to self's, version counter, expanded views, views writing through); silent inf/nan;
and kernels that never hand back their inputs' memory.
"""

from __future__ import annotations

import math
import operator
import warnings
from functools import partial

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes

import ember
from tests.oracle import ALL_DTYPES, DTYPES, assert_close, compare, pair, torch
from tests.tensor.elementwise_cases import values_pair

PROMOTING_OPS = ["add", "mul", "div", "eq", "maximum", "atan2", "bitwise_xor", "floor_divide", "pow", "where"]


def _kinds(dtype):
    """A dimensioned tensor and a 0-d tensor of ``dtype`` (ember, torch), both holding small positive values."""
    e, t = pair((2,), dtype, seed=1, low=1, high=2)
    z, w = pair((), dtype, seed=2, low=1, high=2)
    return [(e, t), (z, w)]


def _call(name, module, a, b):
    if name == "where":
        return module.where(module.tensor([True, False]), a, b)
    return getattr(module, name)(a, b)


@pytest.mark.parametrize("name", PROMOTING_OPS)
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
def test_promotion_table_matches_torch(dtype, name):
    """Result dtypes (or refusals) for every tensor/0-d/scalar combination, with torch.result_type's rules."""
    scalars = [(s, s) for s in (True, 2, 2.5)]
    for a, ta in _kinds(dtype):
        for other in ALL_DTYPES:
            for b, tb in _kinds(other) + scalars:
                for (x, tx), (y, ty) in [((a, ta), (b, tb)), ((b, tb), (a, ta))]:
                    if name in ("maximum", "atan2") and not (isinstance(x, ember.Tensor) and
                                                             isinstance(y, ember.Tensor)):
                        continue
                    compare(partial(_call, name, ember, x, y), partial(_call, name, torch, tx, ty))
                if name == "add" and isinstance(b, ember.Tensor):
                    assert ember.result_type(a, b) is _from_torch(torch.result_type(ta, tb))


def _from_torch(dtype):
    return next(e for e, t in DTYPES.items() if t == dtype)


def test_default_dtype_drives_integer_to_float_results():
    i = ember.tensor([1, 2])
    ember.set_default_dtype(ember.float64)
    assert (i / i).dtype is ember.float64 and (i + 1.5).dtype is ember.float64 and ember.exp(i).dtype is ember.float64
    assert (ember.tensor([1.0], dtype=ember.float32) + 1.5).dtype is ember.float32
    ember.set_default_dtype(ember.float32)
    assert (i / i).dtype is ember.float32


@settings(max_examples=60, deadline=None)
@given(mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=4, max_side=3))
def test_broadcast_shape_matches_torch(shapes):
    a, b, c = (ember.zeros(s) for s in shapes.input_shapes)
    expected = tuple(torch.broadcast_shapes(*shapes.input_shapes))
    assert tuple((a + b).shape) == tuple(torch.broadcast_shapes(a.shape, b.shape))
    assert tuple(ember.where(a > 0, b, c).shape) == expected
    assert tuple(ember.clamp(a, b, c).shape) == expected
    assert tuple(ember.lerp(a, b, c).shape) == expected


@settings(max_examples=60, deadline=None)
@given(array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3),
       array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3))
def test_incompatible_shapes_name_both(shape, other):
    try:
        expected = tuple(torch.broadcast_shapes(shape, other))
    except RuntimeError:
        with pytest.raises(RuntimeError, match=re_shapes(shape, other)):
            ember.zeros(shape) * ember.zeros(other)
        return
    assert tuple((ember.zeros(shape) * ember.zeros(other)).shape) == expected


def re_shapes(shape, other):
    return rf"\[{', '.join(map(str, shape))}\].*\[{', '.join(map(str, other))}\]"


@pytest.mark.parametrize("name", ["add_", "sub_", "mul_", "div_", "pow_", "remainder_", "eq_", "bitwise_or_"])
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
def test_inplace_castability_matches_torch(dtype, name):
    for other in ALL_DTYPES:
        e, t = pair((2, 3), dtype, seed=3, low=1, high=3)
        f, u = pair((3,), other, seed=4, low=1, high=3)
        compare(partial(getattr(e, name), f), partial(getattr(t, name), u))
        compare(partial(getattr(e, name), 2.5), partial(getattr(t, name), 2.5))


def test_inplace_rules():
    x = ember.zeros(3)
    with pytest.raises(RuntimeError, match=r"output with shape \[3\] doesn't match the broadcast shape \[2, 3\]"):
        x.add_(ember.ones(2, 3))
    with pytest.raises(RuntimeError, match=r"output with shape \[\] doesn't match the broadcast shape \[2\]"):
        ember.tensor(2.0).add_(ember.tensor([1.0, 2.0]))
    with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired output type Long"):
        ember.tensor([1, 2]).mul_(1.5)
    with pytest.raises(RuntimeError, match="result type Long can't be cast to the desired output type Bool"):
        ember.tensor([True]).add_(1)
    with pytest.raises(RuntimeError, match="more than one element of the written-to tensor refers to a single memory"):
        ember.zeros(1).expand(3).add_(1)
    y = ember.zeros(2, 3)
    y.add_(ember.tensor([1.0, 2.0, 3.0]))
    assert y.tolist() == [[1.0, 2.0, 3.0]] * 2


def test_inplace_writes_through_views_and_bumps_versions():
    base = ember.zeros(2, 3)
    view = base.t()
    other = ember.ones(3, 2)
    before, other_before = base._version, other._version
    view.add_(other).mul_(2)
    assert base.tolist() == [[2.0] * 3] * 2
    assert base._version == before + 2 and view._version == before + 2 and other._version == other_before
    x = ember.tensor([1, 2])
    same = x
    x += 1
    x *= ember.tensor([2, 3])
    x -= 1
    x //= 2
    x %= 3
    x **= 2
    assert x is same and x.tolist() == [1, 1] and x._version == 6
    f = ember.tensor([1.0, 2.0])
    f /= 4
    assert f.tolist() == [0.25, 0.5]
    with pytest.raises(RuntimeError, match="result type Float can't be cast"):
        x += 1.5
    with pytest.raises(TypeError):
        x += "a"


def test_inf_and_nan_results_are_silent():
    h = ember.tensor([1.0, 2.0], dtype=ember.float16)
    f, z = ember.tensor([1.0, -1.0, 0.0]), ember.zeros(3)
    calls = [lambda: ember.exp(ember.tensor([1000.0])), lambda: f / z, lambda: ember.log(f), lambda: h * 1e5,
             lambda: h + 1e6, lambda: ember.sqrt(f), lambda: f - math.inf + math.inf, lambda: z * math.inf,
             lambda: ember.tensor([1e300], dtype=ember.float64).float() + 1, lambda: ember.sigmoid(f * 1e5),
             lambda: ember.tensor([100000]) == h, lambda: ember.lerp(h, h * 1e4, 7.0), lambda: f ** 1e10,
             lambda: ember.fmod(f, z), lambda: f // z, lambda: f % z, lambda: ember.tensor([1.0]) + ember.tensor(
                 1e300, dtype=ember.float64), lambda: ember.isclose(f, f * math.inf), lambda: ember.tan(f * 1e300)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for call in calls:
            call()


def test_results_never_share_memory_with_inputs():
    i, b, f = ember.tensor([1, -2]), ember.tensor([True, False]), ember.tensor([1.5, -2.0])
    calls = [(ember.floor, i), (ember.round, i), (ember.trunc, i), (ember.ceil, i), (ember.sign, b),
             (ember.relu, i), (ember.abs, ember.tensor([1, 2], dtype=ember.uint8)), (partial(operator.pow, b), b),
             (lambda x: x ** True, b), (lambda x: x ** 1, f), (lambda x: ember.clamp(x, -5, 5), f),
             (lambda x: ember.where(b, x, x), f), (lambda x: x + 0, f), (lambda x: ember.lerp(x, x, 0.0), f),
             (lambda x: ember.maximum(x, x), f)]
    for fn, x in calls:
        try:
            out = fn(x)
        except NotImplementedError:
            continue
        assert not np.shares_memory(out.numpy(), x.numpy()), fn


@pytest.mark.parametrize("dtype", [ember.float16, ember.bfloat16], ids=str)
def test_reduced_precision_computes_in_float32(dtype):
    """float16/bfloat16 compute each op in float32 and round once (PyTorch's CPU opmath)."""
    e, t = pair((500,), dtype, seed=5, low=-4, high=4)
    f, u = pair((500,), dtype, seed=6, low=0.5, high=4)
    for op, top in [(operator.add, operator.add), (operator.mul, operator.mul), (operator.truediv, operator.truediv),
                    (ember.atan2, torch.atan2)]:
        assert_close(op(e, f), top(t, u), rtol=0, atol=0)
    for name in ["exp", "sigmoid", "tanh", "erf", "log1p"]:
        assert_close(getattr(ember, name)(e), getattr(torch, name)(t), rtol=4e-3, atol=1e-3)
    # Integers convert to the reduced dtype first: 2049 is not a float16.
    ints, tints = values_pair([2049, -3000, 7], ember.int16)
    assert_close(ints * ember.ones(1, dtype=dtype), tints * torch.ones(1, dtype=DTYPES[dtype]), rtol=0, atol=0)
