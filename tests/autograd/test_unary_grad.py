"""Gradients of the unary element-wise ops (ember/tensor/ops/unary.py): against PyTorch in float32 and float64,
at the special points where PyTorch defines a value, against finite differences, and second order."""

from __future__ import annotations

import numpy as np
import pytest

import ember
from ember.tensor.ops import unary
from tests.oracle import assert_close, pair, torch


def _f(name: str, **kwargs):
    """``name(x, **kwargs)`` in ember and in torch; gelu, silu and softplus are only in nn.functional for torch
    and in ember's unary module (ember.nn.functional comes later)."""

    def call(module, x):
        if name in _FUNCTIONAL:
            fn = getattr(torch.nn.functional if module is torch else unary, name)
        else:
            fn = getattr(module, name)
        return fn(x, **kwargs)

    return call


_FUNCTIONAL = ("gelu", "silu", "softplus")

# name -> (call, low, high): the input range keeps each op on its domain and away from its poles.
CASES = {
    "neg": (_f("neg"), -3, 3),
    "abs": (_f("abs"), -3, 3),
    "sign": (_f("sign"), -3, 3),
    "exp": (_f("exp"), -3, 3),
    "exp2": (_f("exp2"), -3, 3),
    "expm1": (_f("expm1"), -3, 3),
    "log": (_f("log"), 0.1, 3),
    "log2": (_f("log2"), 0.1, 3),
    "log10": (_f("log10"), 0.1, 3),
    "log1p": (_f("log1p"), -0.9, 3),
    "sqrt": (_f("sqrt"), 0.1, 3),
    "rsqrt": (_f("rsqrt"), 0.1, 3),
    "reciprocal": (_f("reciprocal"), 0.2, 3),
    "sin": (_f("sin"), -3, 3),
    "cos": (_f("cos"), -3, 3),
    "tan": (_f("tan"), -1.4, 1.4),
    "asin": (_f("asin"), -0.95, 0.95),
    "acos": (_f("acos"), -0.95, 0.95),
    "atan": (_f("atan"), -3, 3),
    "sinh": (_f("sinh"), -3, 3),
    "cosh": (_f("cosh"), -3, 3),
    "tanh": (_f("tanh"), -3, 3),
    "asinh": (_f("asinh"), -3, 3),
    "acosh": (_f("acosh"), 1.1, 3),
    "atanh": (_f("atanh"), -0.95, 0.95),
    "sigmoid": (_f("sigmoid"), -6, 6),
    "relu": (_f("relu"), -3, 3),
    "silu": (_f("silu"), -6, 6),
    "erf": (_f("erf"), -3, 3),
    "erfc": (_f("erfc"), -3, 3),
    "floor": (_f("floor"), -3, 3),
    "ceil": (_f("ceil"), -3, 3),
    "trunc": (_f("trunc"), -3, 3),
    "round": (_f("round"), -3, 3),
    "round_decimals": (_f("round", decimals=2), -3, 3),
    "frac": (_f("frac"), -3, 3),
    "square": (_f("square"), -3, 3),
    "positive": (_f("positive"), -3, 3),
    "gelu": (_f("gelu"), -4, 4),
    "gelu_tanh": (_f("gelu", approximate="tanh"), -4, 4),
    "softplus": (_f("softplus"), -4, 4),
    # beta * x crosses the threshold inside the range: both branches of the formula are taken.
    "softplus_beta": (_f("softplus", beta=2.0, threshold=3.0), -4, 4),
    "softplus_small_beta": (_f("softplus", beta=0.5, threshold=1), -4, 4),
}
# Zero or constant derivative: second order is trivially zero and gradgradcheck has no graph to follow.
PIECEWISE_CONSTANT = ("sign", "floor", "ceil", "trunc", "round", "round_decimals", "frac", "neg", "positive")
GEOMETRIES = [((3, 4), False), ((), False), ((4, 5), True), ((0, 3), False)]


def _run(name, shape, dtype, noncontiguous, seed=0):
    call, low, high = CASES[name]
    x, tx = pair(shape, dtype, seed=seed, noncontiguous=noncontiguous, low=low, high=high)
    g, tg = pair(shape, dtype, seed=seed + 100)
    x.requires_grad_()
    tx.requires_grad_()
    y, ty = call(ember, x), call(torch, tx)
    assert y.requires_grad and y.grad_fn is not None or name == "positive"
    y.backward(g)
    ty.backward(tg)
    return x, tx


@pytest.mark.parametrize("dtype", [ember.float32, ember.float64])
@pytest.mark.parametrize("shape,noncontiguous", GEOMETRIES)
@pytest.mark.parametrize("name", list(CASES))
def test_grad_matches_torch(name, shape, noncontiguous, dtype):
    x, tx = _run(name, shape, dtype, noncontiguous)
    assert x.grad is not None, f"{name}: no gradient reached the input"
    assert_close(x.grad, tx.grad)


@pytest.mark.parametrize("name", ["exp", "tanh", "relu", "abs", "floor"])
def test_method_and_functional_spellings_share_the_formula(name):
    x = ember.tensor([-1.5, 0.5, 2.0], dtype=ember.float64, requires_grad=True)
    getattr(x, name)().backward(ember.ones(3, dtype=ember.float64))
    method_grad = x.grad
    x.grad = None
    getattr(ember, name)(x).backward(ember.ones(3, dtype=ember.float64))
    assert method_grad.tolist() == x.grad.tolist()


SPECIAL_POINTS = {
    "relu": [0.0, -0.0, float("nan"), float("inf"), -float("inf")],
    "abs": [0.0, -0.0, float("inf"), -float("inf")],
    "sqrt": [0.0, -1.0, float("inf")],
    "rsqrt": [0.0, float("inf")],
    "log": [0.0, -1.0, float("inf")],
    "log2": [0.0],
    "log10": [0.0],
    "log1p": [-1.0, -2.0],
    "reciprocal": [0.0, -0.0, float("inf")],
    "asin": [1.0, -1.0, 2.0],
    "acos": [1.0, -1.0],
    "acosh": [1.0, 0.5],
    "atanh": [1.0, -1.0],
    "sign": [0.0, float("nan"), float("inf")],
    "floor": [1.0, float("inf")],
    "round": [0.5, 1.5],
    "frac": [2.0, -2.0],
    "exp": [-float("inf"), 100.0],
    "sigmoid": [50.0, -50.0, float("inf"), -float("inf")],
    "tanh": [20.0, -20.0, float("inf")],
    "silu": [0.0, 50.0, -50.0],
    "gelu": [0.0, 10.0, -10.0],
    "gelu_tanh": [0.0, 10.0, -10.0],
    "softplus": [20.0, 20.5, -50.0, 0.0],
    "softplus_beta": [1.5, 1.4999, 100.0],
    "erf": [0.0, 10.0],
    "erfc": [0.0, -10.0],
}


@pytest.mark.parametrize("dtype", [ember.float32, ember.float64])
@pytest.mark.parametrize("name", list(SPECIAL_POINTS))
def test_grad_at_special_points_matches_torch(name, dtype):
    call = CASES[name][0]
    values = np.array(SPECIAL_POINTS[name], dtype=dtype.np_dtype)
    x = ember.tensor(values, requires_grad=True)
    tx = torch.tensor(values, requires_grad=True)
    with np.errstate(all="ignore"):
        call(ember, x).backward(ember.ones(len(values), dtype=dtype))
    call(torch, tx).backward(torch.ones(len(values), dtype=tx.dtype))
    assert_close(x.grad, tx.grad)


def test_no_graph_for_integer_and_bool_results_or_under_no_grad():
    with pytest.raises(RuntimeError, match="only Tensors of floating point dtype"):
        ember.tensor([1, -2]).requires_grad_()
    x = ember.tensor([1.0, -2.0], requires_grad=True)
    assert not (x.sign() > 0).requires_grad
    with ember.no_grad():
        assert not x.exp().requires_grad


def _gradcheck_input(name, seed=1):
    call, low, high = CASES[name]
    rng = np.random.default_rng(seed)
    values = rng.uniform(low, high, size=(2, 3))
    if name in ("relu", "abs", "sign", "floor", "ceil", "trunc", "round", "frac"):
        # Away from the kinks and jumps (0 and the integers), where finite differences are meaningless.
        values = np.floor(values) + rng.uniform(0.2, 0.4, size=values.shape)
    elif name == "round_decimals":
        values = np.floor(values * 100) / 100 + 0.003
    elif name.startswith("softplus"):
        values[0, 0] = 0.1  # beta * x stays clear of the threshold, where softplus has its (tiny) jump
    return ember.tensor(values, dtype=ember.float64, requires_grad=True), call


@pytest.mark.parametrize("name", list(CASES))
def test_gradcheck(name):
    x, call = _gradcheck_input(name)
    assert ember.autograd.gradcheck(lambda t: call(ember, t), (x,))


class _WrongExp(ember.autograd.Function):
    """exp with the identity as its gradient: gradcheck must reject it, or passing it proves nothing."""

    @staticmethod
    def forward(ctx, x):
        return x.exp()

    @staticmethod
    def backward(ctx, grad):
        return grad


def test_gradcheck_notices_a_wrong_formula():
    x = ember.tensor([0.3, 1.2], dtype=ember.float64, requires_grad=True)
    with pytest.raises(RuntimeError, match="Jacobian mismatch"):
        ember.autograd.gradcheck(_WrongExp.apply, (x,))


@pytest.mark.parametrize("name", [n for n in CASES if n not in PIECEWISE_CONSTANT])
def test_gradgradcheck(name):
    x, call = _gradcheck_input(name, seed=2)
    assert ember.autograd.gradgradcheck(lambda t: call(ember, t), (x,))


SECOND_ORDER = ["tanh", "sigmoid", "exp", "log", "sqrt", "rsqrt", "reciprocal", "sin", "asin", "acosh", "atanh",
                "relu", "abs", "gelu", "gelu_tanh", "silu", "softplus_beta", "erf", "erfc", "tan"]


@pytest.mark.parametrize("dtype", [ember.float32, ember.float64])
@pytest.mark.parametrize("name", SECOND_ORDER)
def test_second_order_matches_torch(name, dtype):
    call, low, high = CASES[name]
    x, tx = pair((3, 4), dtype, seed=3, low=low, high=high)
    v, tv = pair((3, 4), dtype, seed=4)
    w, tw = pair((3, 4), dtype, seed=5)
    for t in (x, tx, v, tv):
        t.requires_grad_()
    (gx,) = ember.autograd.grad(call(ember, x), x, v, create_graph=True)
    (tgx,) = torch.autograd.grad(call(torch, tx), tx, tv, create_graph=True)
    assert_close(gx, tgx)
    gx.backward(w)
    tgx.backward(tw)
    assert_close(v.grad, tv.grad)
    if name in ("relu", "abs"):
        # Piecewise linear: the second derivative is zero. Torch materialises it (a ZeroTensor for abs); relu's
        # formula reads x only through a comparison, so ember, like torch for x * 2, leaves no gradient at all.
        assert tx.grad._is_zerotensor() or not tx.grad.any()
        assert x.grad is None or not x.grad.numpy().any()
    else:
        assert_close(x.grad, tx.grad, rtol=1e-4 if dtype is ember.float32 else None)


@pytest.mark.parametrize("name", ["exp", "sqrt", "tanh", "sigmoid", "relu", "sin", "abs", "floor", "reciprocal"])
def test_inplace_variant_grad_matches_torch(name):
    x, tx = pair((3, 4), ember.float64, seed=6, low=0.2, high=3)
    g, tg = pair((3, 4), ember.float64, seed=7)
    x.requires_grad_()
    tx.requires_grad_()
    y, ty = x * 1, tx * 1
    getattr(y, f"{name}_")()
    getattr(ty, f"{name}_")()
    y.backward(g)
    ty.backward(tg)
    assert_close(x.grad, tx.grad)


@pytest.mark.parametrize("name,saved", [("sin", "input"), ("log", "input"), ("exp", "output"), ("tanh", "output")])
def test_modifying_a_saved_tensor_in_place_is_an_error(name, saved):
    x = ember.tensor([0.5, 1.5], dtype=ember.float64, requires_grad=True)
    base = x * 1
    y = getattr(base, name)()
    (base if saved == "input" else y).add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward(ember.ones(2, dtype=ember.float64))


def test_ops_saving_nothing_ignore_in_place_changes_of_their_input():
    # neg, frac and the rounding ops read nothing: as in PyTorch, changing their input afterwards is fine.
    x = ember.tensor([0.5, 1.5], dtype=ember.float64, requires_grad=True)
    base = x * 1
    y = 3 * base.neg() + base.frac() + base.floor()
    base.add_(1)
    y.backward(ember.ones(2, dtype=ember.float64))
    assert x.grad.tolist() == [-2.0, -2.0]
