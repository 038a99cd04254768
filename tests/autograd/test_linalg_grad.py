"""Gradients of matmul (every rank case, broadcast batches), the products built on it and einsum
(ember/tensor/ops/linalg.py, einsum.py): against PyTorch in float32 and float64, against finite differences,
and second order."""

from __future__ import annotations

import numpy as np
import pytest

import ember
from tests.oracle import assert_close, pair, torch

FLOATS = [ember.float32, ember.float64]
# Summation order differs from torch's BLAS calls: float32 sums of a few products of values in [-3, 3].
TOL = {ember.float32: {"rtol": 1e-5, "atol": 1e-5}, ember.float64: {}}


def check_grads(ember_fn, torch_fn, shapes, dtype=ember.float64, *, noncontiguous=False, requires=None, **kwargs):
    """Run both functions on the same inputs, backpropagate the same random upstream gradient, compare every
    input's ``.grad`` (None where torch has none) and the outputs."""
    requires = requires if requires is not None else [True] * len(shapes)
    pairs = [pair(s, dtype, seed=i, noncontiguous=noncontiguous) for i, s in enumerate(shapes)]
    es = [e.requires_grad_() if r else e for (e, _), r in zip(pairs, requires, strict=True)]
    ts = [t.requires_grad_() if r else t for (_, t), r in zip(pairs, requires, strict=True)]
    out_e, out_t = ember_fn(*es, **kwargs), torch_fn(*ts, **kwargs)
    tol = TOL[dtype]
    assert_close(out_e, out_t, **tol)
    up_e, up_t = pair(tuple(out_t.shape), out_e.dtype, seed=99)
    out_e.backward(up_e)
    out_t.backward(up_t)
    for e, t in zip(es, ts, strict=True):
        if t.grad is None:
            assert e.grad is None
        else:
            assert e.grad is not None
            assert_close(e.grad, t.grad, **tol)


MATMUL_SHAPES = [
    ((3,), (3,)),  # dot
    ((2, 3), (3,)),  # matrix @ vector
    ((3,), (3, 4)),  # vector @ matrix
    ((2, 3), (3, 4)),  # matrix @ matrix
    ((4, 2, 3), (3,)),  # batched matrix @ vector
    ((3, 4, 2, 3), (3,)),
    ((3,), (4, 3, 5)),  # vector @ batched matrix
    ((3,), (2, 4, 3, 5)),
    ((4, 2, 3), (3, 5)),  # batched @ matrix: the batch folds into the rows
    ((2, 3), (4, 3, 5)),  # matrix @ batched: the engine sums the batch back
    ((4, 2, 3), (4, 3, 5)),
    ((1, 2, 3), (4, 3, 5)),  # size-1 batch broadcast
    ((2, 1, 2, 3), (5, 3, 4)),  # batch dims broadcast both ways
    ((3, 1, 2, 3), (1, 4, 3, 2)),
    ((0, 3), (3, 4)),  # empty
    ((2, 0), (0, 3)),
    ((0,), (0,)),
    ((2, 3), (3, 0)),
    ((0, 2, 3), (3,)),
]


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize(("sa", "sb"), MATMUL_SHAPES, ids=str)
def test_matmul_every_rank_case(sa, sb, dtype):
    check_grads(ember.matmul, torch.matmul, [sa, sb], dtype)


@pytest.mark.parametrize(("sa", "sb"), [((2, 3), (3, 4)), ((3,), (3,)), ((4, 2, 3), (3,)), ((3,), (4, 3, 5)),
                                        ((4, 2, 3), (3, 5)), ((2, 1, 2, 3), (5, 3, 4))], ids=str)
def test_matmul_noncontiguous_inputs(sa, sb):
    check_grads(ember.matmul, torch.matmul, [sa, sb], ember.float32, noncontiguous=True)


@pytest.mark.parametrize(("sa", "sb"), [((2, 3), (3, 4)), ((3,), (3,)), ((4, 2, 3), (3,)), ((3,), (4, 3, 5)),
                                        ((4, 2, 3), (3, 5)), ((2, 3), (4, 3, 5))], ids=str)
@pytest.mark.parametrize("requires", [(True, False), (False, True)], ids=["only_a", "only_b"])
def test_matmul_one_operand_requires_grad(sa, sb, requires):
    check_grads(ember.matmul, torch.matmul, [sa, sb], requires=list(requires))


def test_matmul_operator_and_reflected_operator():
    check_grads(lambda a, b: a @ b, lambda a, b: a @ b, [(4, 2, 3), (3, 5)])
    check_grads(lambda a, b: a.__rmatmul__(b), lambda a, b: a.__rmatmul__(b), [(3, 5), (4, 2, 3)])


def test_matmul_reuses_an_operand():
    # x @ x: both gradients flow into the same leaf and are summed.
    check_grads(lambda x: x @ x, lambda x: x @ x, [(3, 3)])


def test_matmul_saves_only_what_the_other_gradient_needs():
    # As in PyTorch: w's gradient needs x, not w, so changing w in place before backward is allowed; changing x
    # is not.
    x, w = ember.ones(2, 3), ember.ones(3, 4, requires_grad=True)
    out = x @ w
    with ember.no_grad():
        w.mul_(2)
    out.backward(ember.ones(2, 4))
    assert w.grad.tolist() == [[2.0] * 4] * 3
    out = x @ w
    x.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.backward(ember.ones(2, 4))


def test_matmul_grad_fn_and_integer_products():
    a = ember.ones(2, 3, requires_grad=True)
    assert (a @ ember.ones(3, 2)).grad_fn is not None
    assert not (ember.ones(2, 3, dtype=ember.int64) @ ember.ones(3, 2, dtype=ember.int64)).requires_grad


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize(("name", "shapes"), [
    ("mm", [(2, 3), (3, 4)]),
    ("bmm", [(5, 2, 3), (5, 3, 4)]),
    ("dot", [(4,), (4,)]),
    ("vdot", [(4,), (4,)]),
    ("outer", [(3,), (4,)]),
    ("ger", [(3,), (4,)]),
])
def test_products_built_on_matmul(name, shapes, dtype):
    check_grads(getattr(ember, name), getattr(torch, name), shapes, dtype)
    check_grads(getattr(ember.Tensor, name), getattr(torch.Tensor, name), shapes, dtype)


def test_outer_with_mixed_dtypes_and_an_integer_operand():
    a_e, a_t = pair((3,), ember.float32)
    b_e, b_t = pair((4,), ember.float64, seed=1)
    for x in (a_e, a_t, b_e, b_t):
        x.requires_grad_()
    ember.outer(a_e, b_e).backward(ember.ones(3, 4, dtype=ember.float64))
    torch.outer(a_t, b_t).backward(torch.ones(3, 4, dtype=torch.float64))
    assert_close(a_e.grad, a_t.grad)
    assert_close(b_e.grad, b_t.grad)
    c = ember.tensor([1, 2, 3, 4])
    a_e.grad = None
    ember.outer(a_e, c).backward(ember.ones(3, 4))
    assert a_e.grad.tolist() == [10.0] * 3


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize(("input_shape", "beta", "alpha"), [
    ((2, 4), 1, 1), ((4,), 0.5, 2), ((1, 4), 2, 1), ((), 1, -1), ((2, 1), 0, 1), ((2, 4), 1, 0),
])
def test_addmm(input_shape, beta, alpha, dtype):
    check_grads(ember.addmm, torch.addmm, [input_shape, (2, 3), (3, 4)], dtype, beta=beta, alpha=alpha)


def test_addmm_with_beta_zero_gives_input_a_zero_gradient_and_ignores_nan():
    x = ember.full((2, 4), float("nan"), requires_grad=True)
    m1, m2 = ember.ones(2, 3, requires_grad=True), ember.ones(3, 4)
    out = ember.addmm(x, m1, m2, beta=0)
    assert out.tolist() == [[3.0] * 4] * 2
    out.backward(ember.ones(2, 4))
    assert x.grad.tolist() == [[0.0] * 4] * 2
    assert m1.grad.tolist() == [[4.0] * 3] * 2


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize(("input_shape", "beta", "alpha"), [
    ((5, 2, 4), 1, 1), ((4,), 2, 0.5), ((5, 1, 4), 1, 1), ((2, 4), 0, 3),
])
def test_baddbmm(input_shape, beta, alpha, dtype):
    check_grads(ember.baddbmm, torch.baddbmm, [input_shape, (5, 2, 3), (5, 3, 4)], dtype, beta=beta, alpha=alpha)


EINSUM_CASES = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("bij,bjk->bik", [(2, 2, 3), (2, 3, 4)]),
    ("i,i->", [(4,), (4,)]),
    ("i,j->ij", [(3,), (4,)]),
    ("ij->ji", [(2, 3)]),
    ("ij->", [(2, 3)]),  # every label summed by its only operand: the gradient is expanded
    ("ij->j", [(2, 3)]),
    ("ii->i", [(3, 3)]),  # diagonal
    ("ii->", [(3, 3)]),  # trace
    ("ii", [(3, 3)]),  # implicit trace
    ("iii->i", [(2, 2, 2)]),
    ("iij,jk->ki", [(3, 3, 2), (2, 4)]),
    ("bii,bj->bij", [(2, 3, 3), (2, 4)]),
    ("ij,ij->", [(1, 3), (2, 3)]),  # a size-1 dim broadcast against the same label
    ("ij,ij->ij", [(1, 3), (2, 1)]),
    ("ii,i->i", [(1, 1), (3,)]),  # a broadcast diagonal
    ("...ij,...jk->...ik", [(2, 1, 3, 4), (5, 4, 2)]),  # ellipsis, with broadcasting
    ("a...,a...->...", [(2, 3), (2, 1)]),
    ("...,...->...", [(), (3,)]),
    ("ijk,ikj->", [(2, 3, 3), (2, 3, 3)]),
    ("i,i,i->", [(3,), (3,), (3,)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]),
    ("ij,jk", [(2, 3), (3, 4)]),  # implicit output
    ("ij,jk->ik", [(2, 0), (0, 3)]),  # empty contraction
    ("i->", [(0,)]),
]


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize(("equation", "shapes"), EINSUM_CASES, ids=[c[0] for c in EINSUM_CASES])
def test_einsum(equation, shapes, dtype):
    check_grads(lambda *xs: ember.einsum(equation, *xs), lambda *xs: torch.einsum(equation, *xs), shapes, dtype)


def test_einsum_noncontiguous_and_partial_requires_grad():
    eq = "bij,bjk->bik"
    check_grads(lambda *xs: ember.einsum(eq, *xs), lambda *xs: torch.einsum(eq, *xs), [(2, 2, 3), (2, 3, 4)],
                ember.float32, noncontiguous=True)
    check_grads(lambda *xs: ember.einsum(eq, *xs), lambda *xs: torch.einsum(eq, *xs), [(2, 2, 3), (2, 3, 4)],
                requires=[False, True])


def test_einsum_sublist_form_and_operand_list():
    check_grads(lambda a, b: ember.einsum(a, [0, 1], b, [1, 2], [0, 2]),
                lambda a, b: torch.einsum(a, [0, 1], b, [1, 2], [0, 2]), [(2, 3), (3, 4)])
    check_grads(lambda a, b: ember.einsum("ij,jk->ik", [a, b]), lambda a, b: torch.einsum("ij,jk->ik", [a, b]),
                [(2, 3), (3, 4)])


def test_einsum_diagonal_gradient_is_zero_off_the_diagonal():
    x = ember.tensor(np.arange(9.0).reshape(3, 3), requires_grad=True)
    ember.einsum("ii->i", x).backward(ember.tensor([1.0, 2.0, 3.0]))
    assert x.grad.tolist() == [[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 3.0]]


def _leaves(*shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [ember.tensor(rng.standard_normal(s), dtype=ember.float64, requires_grad=True) for s in shapes]


@pytest.mark.parametrize(("sa", "sb"), [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 2)), ((2, 3), (3, 2)),
                                        ((2, 2, 3), (3,)), ((3,), (2, 3, 2)), ((2, 2, 3), (3, 2)),
                                        ((2, 3), (2, 3, 2)), ((2, 1, 2, 3), (2, 3, 2))], ids=str)
def test_matmul_gradcheck(sa, sb):
    assert ember.autograd.gradcheck(ember.matmul, _leaves(sa, sb))


@pytest.mark.parametrize(("equation", "shapes"), [
    ("ij,jk->ik", [(2, 3), (3, 2)]), ("ii->i", [(3, 3)]), ("ii->", [(3, 3)]), ("ij->", [(2, 3)]),
    ("bii,bj->bij", [(2, 2, 2), (2, 3)]), ("...ij,...jk->...ik", [(2, 1, 2, 3), (2, 3, 2)]),
    ("ij,ij->", [(1, 3), (2, 3)]), ("i,j,k->ijk", [(2,), (3,), (2,)]),
], ids=lambda v: v if isinstance(v, str) else "")
def test_einsum_gradcheck(equation, shapes):
    assert ember.autograd.gradcheck(lambda *xs: ember.einsum(equation, *xs), _leaves(*shapes))


def test_products_gradcheck():
    assert ember.autograd.gradcheck(ember.outer, _leaves((3,), (2,)))
    assert ember.autograd.gradcheck(lambda i, a, b: ember.addmm(i, a, b, beta=0.5, alpha=2),
                                    _leaves((2,), (3, 2), (2, 2)))
    assert ember.autograd.gradcheck(lambda i, a, b: ember.baddbmm(i, a, b, beta=2, alpha=-1),
                                    _leaves((2, 1), (2, 2, 3), (2, 3, 1)))


def test_gradcheck_catches_a_wrong_matmul_gradient():
    # The check above can fail: a formula returning twice the gradient is caught.
    from ember.tensor.ops import linalg

    original = linalg.MATMUL.backward
    linalg.MATMUL.backward = lambda ctx, grad: tuple(None if g is None else g * 2 for g in original(ctx, grad))
    try:
        with pytest.raises(ember.autograd.GradcheckError):
            ember.autograd.gradcheck(ember.matmul, _leaves((2, 3), (3, 2)))
    finally:
        linalg.MATMUL.backward = original


@pytest.mark.parametrize(("sa", "sb"), [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 2)), ((2, 3), (3, 2)),
                                        ((2, 2, 3), (3, 2)), ((2, 3), (2, 3, 2)), ((2, 1, 2, 3), (2, 3, 2))],
                         ids=str)
def test_matmul_gradgradcheck(sa, sb):
    assert ember.autograd.gradgradcheck(ember.matmul, _leaves(sa, sb))


@pytest.mark.parametrize(("equation", "shapes"), [
    ("ij,jk->ik", [(2, 3), (3, 2)]), ("ii->i", [(3, 3)]), ("bii,bj->bij", [(2, 2, 2), (2, 3)]),
    ("ij->", [(2, 3)]), ("i,i->", [(3,), (3,)]),
], ids=lambda v: v if isinstance(v, str) else "")
def test_einsum_gradgradcheck(equation, shapes):
    assert ember.autograd.gradgradcheck(lambda *xs: ember.einsum(equation, *xs), _leaves(*shapes))


def test_matmul_second_derivative_against_torch():
    # grad_a = g @ b.T is linear in b: differentiating sum(grad_a * w) by b gives w.T @ g through the graph.
    (a_e, b_e, g_e), (a_t, b_t, g_t) = zip(*[pair(s, ember.float64, seed=i) for i, s in
                                             enumerate([(2, 3), (3, 4), (2, 4)])], strict=True)
    w_e, w_t = pair((2, 3), ember.float64, seed=7)
    for x in (a_e, b_e, a_t, b_t):
        x.requires_grad_()
    (ga_e,) = ember.autograd.grad(ember.matmul(a_e, b_e), [a_e], g_e, create_graph=True)
    (ga_t,) = torch.autograd.grad(torch.matmul(a_t, b_t), [a_t], g_t, create_graph=True)
    assert_close(ga_e, ga_t)
    (gb_e,) = ember.autograd.grad((ga_e * w_e).sum(), [b_e])
    (gb_t,) = torch.autograd.grad((ga_t * w_t).sum(), [b_t])
    assert_close(gb_e, gb_t)


@pytest.mark.parametrize("dtype", [ember.float16, ember.bfloat16], ids=str)
def test_half_precision_gradients(dtype):
    # Products accumulate in float32 in both libraries; the gradients keep the operands' dtype.
    tol = {"rtol": 2e-2, "atol": 5e-2}
    pairs = [pair(s, dtype, seed=i, low=-1, high=1) for i, s in enumerate([(4, 2, 3), (3, 5), (2, 3), (3,)])]
    es = [e.requires_grad_() for e, _ in pairs]
    ts = [t.requires_grad_() for _, t in pairs]
    for lib, (a, b, c, d) in ((ember, es), (torch, ts)):
        (lib.matmul(a, b).sum() + lib.einsum("ij,j->i", c, d).sum()).backward()
    for e, t in zip(es, ts, strict=True):
        assert_close(e.grad, t.grad, **tol)
