"""Gradients of the ternary element-wise ops (where, clamp and its aliases, lerp) and their in-place variants:
against PyTorch, against finite differences, and second order."""

from __future__ import annotations

import numpy as np
import pytest

import ember
from ember.autograd import gradcheck, gradgradcheck
from tests.autograd.test_arithmetic_grad import FLOATS, backward_both, check, check_inplace_call, leaves, same
from tests.oracle import pair, torch


def condition(shape: tuple, seed: int = 7) -> tuple:
    return pair(shape, ember.bool, seed=seed)


# ----- where -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("cond_shape, specs", [
    ((3, 4), ((3, 4), (3, 4))), ((3, 4), ((4,), (3, 1))), ((4,), ((3, 4), ())), ((2, 1, 4), ((3, 4), (3, 4))),
    ((3, 4), ((3, 4), 2.5)), ((3, 4), (-1, (4,))), ((), ((3,), (3,))),
])
def test_where_matches_torch(cond_shape, specs, dtype):
    c_e, c_t = condition(cond_shape)
    check(lambda a, b: ember.where(c_e, a, b), lambda a, b: torch.where(c_t, a, b), specs, dtype,
          noncontiguous=True)


def test_where_method_and_mixed_dtypes():
    c_e, c_t = condition((3,))
    a_e, a_t = pair((3,), ember.float32)
    b_e, b_t = pair((3,), ember.float64, seed=1)
    backward_both(lambda a, b: a.where(c_e, b), lambda a, b: a.where(c_t, b), [a_e.requires_grad_(),
                  b_e.requires_grad_()], [a_t.requires_grad_(), b_t.requires_grad_()])


def test_where_condition_gets_no_gradient():
    c = ember.tensor([True, False])
    a = ember.tensor([1.0, 2.0], requires_grad=True)
    ember.where(c, a, 0.0).backward(ember.tensor([3.0, 4.0]))
    assert a.grad.tolist() == [3.0, 0.0] and c.grad is None


# ----- clamp -------------------------------------------------------------------------------------------------
SCALAR_BOUNDS = [(-1.0, 1.5), (-1, None), (None, 0.5), (2.0, -1.0), (0, 0)]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("lo, hi", SCALAR_BOUNDS)
@pytest.mark.parametrize("name", ["clamp", "clip"])
def test_clamp_scalar_bounds(name, lo, hi, dtype):
    check(lambda x: getattr(ember, name)(x, lo, hi), lambda x: getattr(torch, name)(x, lo, hi), ((3, 4),), dtype,
          noncontiguous=True)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("specs", [((3, 4), (3, 4), (3, 4)), ((3, 4), (4,), ()), ((4,), (3, 1), (3, 4)),
                                   ((3, 4), (3, 4), None), ((3, 4), None, (4,))])
def test_clamp_tensor_bounds(specs, dtype):
    # Bounds drawn from the same range as the input, so min > max happens too.
    check(ember.clamp, torch.clamp, specs, dtype)


@pytest.mark.parametrize("dtype", FLOATS)
def test_clamp_min_max_methods(dtype):
    check(*same(lambda x, b: x.clamp_min(b) + x.clamp_max(b) + x.clamp_min(0.5) + x.clamp_max(-0.5)),
          ((3, 4), (4,)), dtype)
    check(*same(lambda x, lo, hi: x.clamp(min=lo, max=hi) + x.clip(lo, hi)), ((3, 4), (4,), (3, 1)), dtype)


def test_clamp_at_the_bounds_and_nan():
    # Elements equal to a bound keep their gradient; a tensor bound gets it where it was chosen; NaN gets none.
    nan = float("nan")
    x = [-2.0, -1.0, 0.0, 1.0, 2.0, nan, 0.0, 0.0]
    lo = [-1.0, -1.0, -1.0, -1.0, -1.0, -1.0, nan, 1.0]
    hi = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, -1.0]

    def tensors(lib):
        return [lib.tensor(v, dtype=lib.float64, requires_grad=True) for v in (x, lo, hi)]

    es, ts = tensors(ember), tensors(torch)
    backward_both(ember.clamp, torch.clamp, es, ts)
    es = tensors(ember)
    ember.clamp(*es).backward(ember.ones(8, dtype=ember.float64))
    assert es[0].grad.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]
    assert es[1].grad.tolist() == [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    assert es[2].grad.tolist() == [0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0]
    for lo_s, hi_s in [(-1.0, 1.0), (-1.0, None), (None, 1.0)]:
        backward_both(lambda a, lo_s=lo_s, hi_s=hi_s: a.clamp(lo_s, hi_s),
                      lambda a, lo_s=lo_s, hi_s=hi_s: a.clamp(lo_s, hi_s), tensors(ember)[:1], tensors(torch)[:1])


# ----- lerp --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("specs", [((3, 4), (3, 4), 0.3), ((3, 4), (4,), -1.5), ((), (3,), 2), ((3, 4), (3, 4), (3, 4)),
                                   ((3, 1), (4,), (3, 4)), ((3, 4), (4,), ())])
def test_lerp_matches_torch(specs, dtype):
    check(ember.lerp, torch.lerp, specs, dtype, noncontiguous=True)


def test_lerp_with_a_0d_weight_of_another_dtype():
    es, ts = leaves(((3,), (3,)), ember.float32)
    w_e, w_t = pair((), ember.float64, seed=5)
    backward_both(ember.lerp, torch.lerp, [*es, w_e.requires_grad_()], [*ts, w_t.requires_grad_()])


# ----- in-place variants -------------------------------------------------------------------------------------
INPLACE = [
    lambda y, b: y.clamp_(-0.5, 0.5), lambda y, b: y.clamp_(min=b), lambda y, b: y.clamp_(max=b),
    lambda y, b: y.clamp_(b, b + 1), lambda y, b: y.clip_(-1, None), lambda y, b: y.clamp_min_(b),
    lambda y, b: y.clamp_max_(0.5), lambda y, b: y.lerp_(b, 0.25), lambda y, b: y.lerp_(b, b),
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("index", range(len(INPLACE)))
def test_inplace_methods(index, dtype):
    check_inplace_call(INPLACE[index], dtype)


def test_inplace_on_a_leaf_that_requires_grad_raises():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    for method in (lambda: x.clamp_(0, 1), lambda: x.lerp_(x, 0.5)):
        with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place"):
            method()


# ----- finite differences and second order -------------------------------------------------------------------
def _f64(*shapes, seed=0):
    rng = np.random.default_rng(seed)
    return tuple(ember.tensor(rng.uniform(-2, 2, size=s), dtype=ember.float64, requires_grad=True) for s in shapes)


MASK = ember.tensor([[True, False, True], [False, False, True]])
GRADCHECKS = {
    "where": lambda a, b, c: ember.where(MASK, a, b) * c,
    "clamp_scalar": lambda a, b, c: a.clamp(-1.0, 1.0) + b.clamp(min=0.5) + c.clamp(max=0.0),
    "clamp_tensor": lambda a, b, c: ember.clamp(a, b, b + c.abs() + 0.1),
    "lerp": lambda a, b, c: ember.lerp(a, b, c) + ember.lerp(b, a, 0.3),
}


@pytest.mark.parametrize("name", GRADCHECKS)
def test_gradcheck(name):
    assert gradcheck(GRADCHECKS[name], _f64((2, 3), (3,), (2, 3)))


@pytest.mark.parametrize("name", ["where", "clamp_tensor", "lerp"])
def test_gradgradcheck(name):
    assert gradgradcheck(GRADCHECKS[name], _f64((2, 3), (2, 3), (2, 3), seed=1))
