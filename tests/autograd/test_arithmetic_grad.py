"""Gradients of the binary arithmetic ops (add, sub, mul, div, remainder, fmod, pow, maximum, minimum, atan2), their
operators and in-place variants: against PyTorch, against finite differences, and second order."""

from __future__ import annotations

import numpy as np
import pytest

import ember
from ember.autograd import gradcheck, gradgradcheck
from tests.oracle import assert_close, pair, torch

FLOATS = [ember.float32, ember.float64]


def leaves(specs: tuple, dtype: ember.dtype, *, noncontiguous: bool = False, low: float = -3,
           high: float = 3) -> tuple[list, list]:
    """Ember and torch operands for ``specs``: a shape gives a leaf requiring grad (random values in
    [low, high], the same in both); anything else (a Python scalar) is passed as is."""
    es, ts = [], []
    for i, spec in enumerate(specs):
        if isinstance(spec, tuple):
            e, t = pair(spec, dtype, seed=i, noncontiguous=noncontiguous, low=low, high=high)
            es.append(e.requires_grad_())
            ts.append(t.requires_grad_())
        else:
            es.append(spec)
            ts.append(spec)
    return es, ts


def backward_both(fn_e, fn_t, es: list, ts: list) -> None:
    """Run both functions, check the forward results agree, backpropagate one random upstream gradient through
    both and compare every operand's ``.grad`` (None where torch's is None)."""
    out_e, out_t = fn_e(*es), fn_t(*ts)
    assert_close(out_e, out_t)
    g_e, g_t = pair(tuple(out_t.shape), out_e.dtype, seed=99)
    out_e.backward(g_e)
    out_t.backward(g_t)
    for e, t in zip(es, ts, strict=True):
        if isinstance(t, torch.Tensor):
            if t.grad is None:
                assert e.grad is None
            else:
                assert_close(e.grad, t.grad)


def check(fn_e, fn_t, specs: tuple, dtype: ember.dtype, **kw) -> None:
    backward_both(fn_e, fn_t, *leaves(specs, dtype, **kw))


def same(fn):
    """The same call in both libraries (methods, operators)."""
    return fn, fn


BROADCASTS = [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 3), (4, 1)), ((), (3,)), ((2, 3), ()), ((3, 4), 2.5),
              (1.5, (3, 4)), ((3, 4), 2)]


# ----- add, sub ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("specs", BROADCASTS)
@pytest.mark.parametrize("op", ["add", "sub", "mul"])
def test_add_sub_mul_match_torch(op, specs, dtype):
    check(getattr(ember, op), getattr(torch, op), specs, dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("alpha", [2, -0.5])
@pytest.mark.parametrize("op", ["add", "sub", "rsub"])
def test_alpha(op, alpha, dtype):
    check(lambda a, b: getattr(ember, op)(a, b, alpha=alpha), lambda a, b: getattr(torch, op)(a, b, alpha=alpha),
          ((3, 4), (4,)), dtype, noncontiguous=True)


@pytest.mark.parametrize("dtype", FLOATS)
def test_noncontiguous_operands(dtype):
    for op in ("add", "sub", "mul", "atan2", "maximum"):
        check(getattr(ember, op), getattr(torch, op), ((3, 4), (3, 4)), dtype, noncontiguous=True)


def test_mul_by_itself_and_mixed_dtypes():
    check(*same(lambda a: a * a), ((3,),), ember.float64)
    # A float32 leaf times a float64 one: the product is float64, each gradient comes back in its leaf's dtype.
    a_e, a_t = pair((3,), ember.float32)
    b_e, b_t = pair((3,), ember.float64, seed=1)
    backward_both(*same(lambda a, b: a * b), [a_e.requires_grad_(), b_e.requires_grad_()],
                  [a_t.requires_grad_(), b_t.requires_grad_()])
    # Integer and bool tensors take part without gradients.
    n_e, n_t = pair((3,), ember.int64, seed=2)
    m_e, m_t = pair((3,), ember.bool, seed=3)
    backward_both(*same(lambda a, n, m: a * n * m), [a_e.detach().requires_grad_(), n_e, m_e],
                  [a_t.detach().requires_grad_(), n_t, m_t])


def test_only_the_operand_that_requires_grad_gets_one():
    a = ember.tensor([1.0, 2.0], requires_grad=True)
    b = ember.tensor([3.0, 4.0])
    (a * b).backward(ember.ones(2))
    assert a.grad.tolist() == [3.0, 4.0] and b.grad is None


# ----- div, floor_divide, remainder, fmod ---------------------------------------------------------------------
DIVISORS = [((3, 4), (3, 4)), ((3, 4), (4,)), ((), (3,)), ((3, 4), 2.5), (1.5, (3, 4)), ((3, 4), -3)]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("specs", DIVISORS)
def test_div_matches_torch(specs, dtype):
    # Divisors away from zero (the sign does not matter to the formula).
    check(ember.div, torch.div, specs, dtype, low=0.5, high=2)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("mode", ["trunc", "floor"])
def test_rounded_div_has_zero_gradients(mode, dtype):
    check(lambda a, b: ember.div(a, b, rounding_mode=mode), lambda a, b: torch.div(a, b, rounding_mode=mode),
          ((3, 4), (4,)), dtype, low=0.5, high=5)


def test_floor_divide_has_zero_gradients():
    # PyTorch refuses floor_divide's backward ("not implemented"); ember's is div(rounding_mode='floor'), whose
    # gradient PyTorch defines as zero.
    es, ts = leaves(((3, 4), (4,)), ember.float32, low=0.5, high=5)
    backward_both(lambda a, b: a // b, lambda a, b: torch.div(a, b, rounding_mode="floor"), es, ts)
    assert es[0].grad.abs().sum().item() == 0 and es[1].grad.abs().sum().item() == 0


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("specs", [((3, 4), (3, 4)), ((3, 4), (4,)), ((), (3,)), ((3, 4), 1.5), ((3, 4), -0.7)])
@pytest.mark.parametrize("op", ["remainder", "fmod"])
def test_remainder_fmod_match_torch(op, specs, dtype):
    check(getattr(ember, op), getattr(torch, op), specs, dtype, low=-5, high=5)


def test_scalar_remainder_tensor_gradient():
    # PyTorch has no derivative for remainder(Scalar, Tensor); ember's is -floor(a / b), checked numerically.
    b = ember.tensor([1.5, -2.25, 3.5, 0.7], dtype=ember.float64, requires_grad=True)
    (5.0 % b).backward(ember.ones(4, dtype=ember.float64))
    assert b.grad.tolist() == [-3.0, 3.0, -1.0, -7.0]
    assert gradcheck(lambda b: 5.0 % b, (b,))


# ----- pow ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("specs", [((3, 4), (3, 4)), ((3, 4), (4,)), ((), (3,)), ((2, 3), ())])
def test_pow_tensor_tensor(specs, dtype):
    check(ember.pow, torch.pow, specs, dtype, low=0.5, high=2)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("exponent", [2, 3, 0.5, -1, -1.5, 0, 1, 0.0, True])
def test_pow_tensor_scalar(exponent, dtype):
    check(ember.pow, torch.pow, ((3, 4), exponent), dtype, low=0.5, high=2)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("base", [2, 0.5, 1.0, 0.0, -2.0, 0])
def test_pow_scalar_tensor(base, dtype):
    check(ember.pow, torch.pow, (base, (3, 4)), dtype)


# -0.0 is left out: PyTorch computes x ** -0.5 as rsqrt, so its (-0.0) ** -0.5 is -inf, C pow gives inf.
SPECIAL = [0.0, 1.0, -1.0, -2.0, 0.5, 3.0]
SPECIAL_EXPONENTS = [0.0, 1.0, 2.0, 2.5, -1.0, 0.5, -2.0, 3.0]


@pytest.mark.parametrize("dtype", FLOATS)
def test_pow_at_zero_and_negative_bases(dtype):
    # Every base against every exponent: 0 ** b, negative bases to fractional powers (NaN), x ** 0 and x ** 1.
    base = [b for b in SPECIAL for _ in SPECIAL_EXPONENTS]
    exponent = SPECIAL_EXPONENTS * len(SPECIAL)

    def tensors(lib):
        return (lib.tensor(base, dtype=getattr(lib, dtype.name)).requires_grad_(),
                lib.tensor(exponent, dtype=getattr(lib, dtype.name)).requires_grad_())

    backward_both(ember.pow, torch.pow, list(tensors(ember)), list(tensors(torch)))
    for e in SPECIAL_EXPONENTS:
        backward_both(*same(lambda x, e=e: x ** e), [tensors(ember)[0]], [tensors(torch)[0]])
    for b in SPECIAL:
        backward_both(*same(lambda y, b=b: b ** y), [tensors(ember)[1]], [tensors(torch)[1]])


def test_square_at_zero():
    x = ember.tensor([0.0, -1.5, 2.0], requires_grad=True)
    x.square().backward(ember.ones(3))
    assert x.grad.tolist() == [0.0, -3.0, 4.0]
    check(*same(lambda a: a.square()), ((3, 4),), ember.float64, noncontiguous=True)


def test_pow_with_a_bool_exponent_tensor_raises_like_torch():
    # PyTorch's formula subtracts 1 from the exponent, which bool tensors refuse: both raise the same error.
    for lib in (ember, torch):
        x = lib.tensor([1.5, 2.0], requires_grad=True)
        y = x.pow(lib.tensor([True, False]))
        with pytest.raises(RuntimeError, match="Subtraction, the `-` operator, with a bool tensor"):
            y.backward(lib.ones(2))


# ----- maximum, minimum, atan2 -------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("specs", [((3, 4), (3, 4)), ((3, 4), (4,)), ((), (2, 3)), ((2, 1, 3), (4, 1))])
@pytest.mark.parametrize("op", ["maximum", "minimum", "atan2"])
def test_maximum_minimum_atan2_match_torch(op, specs, dtype):
    check(getattr(ember, op), getattr(torch, op), specs, dtype)


@pytest.mark.parametrize("op", ["maximum", "minimum"])
def test_ties_split_and_nan_goes_to_both(op):
    nan = float("nan")
    a = [1.0, 2.0, 3.0, nan, 5.0, nan]
    b = [1.0, 3.0, 2.0, 4.0, nan, nan]

    def tensors(lib):
        return [lib.tensor(a, requires_grad=True), lib.tensor(b, requires_grad=True)]

    es, ts = tensors(ember), tensors(torch)
    backward_both(getattr(ember, op), getattr(torch, op), es, ts)
    assert es[0].grad[0].item() == es[1].grad[0].item() != 0


# ----- operators ---------------------------------------------------------------------------------------------
OPERATORS = [
    lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b, lambda a, b: a / b, lambda a, b: a ** b,
    lambda a, b: a % b, lambda a, b: -a + 2 * b,
    lambda a, b: 2 + a - b, lambda a, b: 2 - a + 3.5 * b, lambda a, b: 0.5 / a + b / 4,
    lambda a, b: 2.0 ** a + b ** 2, lambda a, b: a ** 0.5 * b ** -1, lambda a, b: 1 - a % 1.5 + b,
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("index", range(len(OPERATORS)))
def test_operators(index, dtype):
    check(*same(OPERATORS[index]), ((3, 4), (4,)), dtype, low=0.5, high=2)


# ----- in-place variants -------------------------------------------------------------------------------------
INPLACE = [
    lambda y, b: y.add_(b), lambda y, b: y.add_(b, alpha=-2), lambda y, b: y.sub_(b), lambda y, b: y.mul_(b),
    lambda y, b: y.div_(b), lambda y, b: y.pow_(b), lambda y, b: y.atan2_(b), lambda y, b: y.remainder_(b),
    lambda y, b: y.fmod_(b), lambda y, b: y.mul_(3).add_(b).pow_(2).div_(b),
    lambda y, b: y.__iadd__(b), lambda y, b: y.__imul__(b), lambda y, b: y.__itruediv__(b),
    lambda y, b: y.__ipow__(b), lambda y, b: y.__isub__(2), lambda y, b: y.__imul__(2.5), lambda y, b: y.square_(),
]


def check_inplace_call(call, dtype, **value_range) -> None:
    """``call(y, b)`` on a non-leaf ``y = x * 1`` gives torch's gradients for x and b."""

    def fn(x, b):
        y = x * 1
        call(y, b)
        return y

    check(*same(fn), ((3, 4), (4,)), dtype, **value_range)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("index", range(len(INPLACE)))
def test_inplace_methods(index, dtype):
    check_inplace_call(INPLACE[index], dtype, low=0.5, high=2)


def test_inplace_into_a_tensor_that_does_not_require_grad():
    def fn(lib, b):
        y = lib.ones(2, 3, dtype=b.dtype)
        y.mul_(b)
        y.pow_(b)
        return y

    backward_both(lambda b: fn(ember, b), lambda b: fn(torch, b), *leaves(((3,),), ember.float64, low=0.5, high=2))


def test_inplace_on_a_view():
    def fn(x, b):
        y = x * 1
        y[1].mul_(b)
        y[:, 0].add_(b[:2])
        return y

    check(*same(fn), ((2, 3), (3,)), ember.float64)


def test_inplace_on_a_leaf_that_requires_grad_raises():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    for method in (lambda: x.add_(1), lambda: x.mul_(x), lambda: x.__iadd__(1), lambda: x[0].sub_(1)):
        with pytest.raises(RuntimeError, match="a (view of a )?leaf Variable that requires grad is being used in an "
                                               "in-place operation"):
            method()
    with ember.no_grad():
        x.add_(1)
    assert x.tolist() == [2.0, 3.0] and x.is_leaf


def test_modified_saved_operand_raises():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    y = h * x
    h.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward(ember.ones(2))
    # Not saved by add: the same change before an add is fine, as in PyTorch.
    h = x * 2
    y = h + x
    h.add_(1)
    y.backward(ember.ones(2))
    assert x.grad.tolist() == [3.0, 3.0]


# ----- finite differences and second order -------------------------------------------------------------------
def _f64(*shapes, low=-2.0, high=2.0, seed=0):
    rng = np.random.default_rng(seed)
    return tuple(ember.tensor(rng.uniform(low, high, size=s), dtype=ember.float64, requires_grad=True)
                 for s in shapes)


GRADCHECKS = {
    "add": (lambda a, b: ember.add(a, b, alpha=-1.5), {}),
    "sub": (lambda a, b: ember.sub(a, b, alpha=2), {}),
    "mul": (ember.mul, {}),
    "div": (ember.div, {"low": 0.5}),
    "remainder": (ember.remainder, {"low": 0.3}),
    "fmod": (ember.fmod, {"low": 0.3}),
    "pow": (ember.pow, {"low": 0.5}),
    "pow_scalar": (lambda a, b: a ** 2.5 + 1.5 ** b + a ** -2, {"low": 0.5}),
    "maximum": (ember.maximum, {}),
    "minimum": (ember.minimum, {}),
    "atan2": (ember.atan2, {}),
}


@pytest.mark.parametrize("name", GRADCHECKS)
def test_gradcheck(name):
    fn, kw = GRADCHECKS[name]
    assert gradcheck(fn, _f64((2, 3), (3,), **kw))


@pytest.mark.parametrize("name", ["mul", "div", "pow", "pow_scalar", "atan2", "maximum", "remainder"])
def test_gradgradcheck(name):
    fn, kw = GRADCHECKS[name]
    assert gradgradcheck(fn, _f64((2, 3), (2, 3), seed=1, **kw))


def test_double_backward_of_pow_matches_torch():
    def second(lib, x, e):
        y = (x ** e).sum() + (x ** 3).sum()
        (g,) = lib.autograd.grad(y, x, create_graph=True)
        return g

    es, ts = leaves(((4,), (4,)), ember.float64, low=0.5, high=2)
    backward_both(lambda x, e: second(ember, x, e), lambda x, e: second(torch, x, e), es, ts)
