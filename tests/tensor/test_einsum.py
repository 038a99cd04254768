"""einsum against PyTorch: equation forms, ellipses, broadcasting, dtypes and error messages."""

from __future__ import annotations

import numpy as np
import pytest

import ember
from tests.oracle import ALL_DTYPES, FLOAT_DTYPES, assert_close, pair, to_torch, torch

# (equation, operand shapes): transposes, traces, diagonals, products, ellipses, implicit mode, empties.
CASES = [
    ("ij->ji", [(2, 3)]),
    ("ii->", [(3, 3)]),
    ("ii->i", [(3, 3)]),
    ("ii", [(4, 4)]),
    ("iij->j", [(2, 2, 3)]),
    ("iji->ij", [(2, 3, 2)]),
    ("ij->", [(2, 3)]),
    ("ij->j", [(2, 3)]),
    ("i->i", [(4,)]),
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("ij,jk", [(2, 3), (3, 4)]),
    ("bij,bjk->bik", [(2, 2, 3), (2, 3, 4)]),
    ("i,j->ij", [(3,), (4,)]),
    ("i,i->", [(5,), (5,)]),
    ("i,i", [(5,), (5,)]),
    ("ij,ij->ij", [(2, 3), (2, 3)]),
    ("ij,ij->i", [(2, 3), (2, 3)]),
    ("ij,j->i", [(2, 3), (3,)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]),
    ("i,j,k->ijk", [(2,), (3,), (4,)]),
    ("ii,i->i", [(3, 3), (3,)]),
    ("ij,jk->", [(2, 3), (3, 4)]),
    ("ij,k->jk", [(2, 3), (4,)]),
    ("...ij,...jk->...ik", [(2, 3, 4), (2, 4, 5)]),
    ("...ij,...jk->...ik", [(1, 3, 4), (5, 4, 6)]),
    ("...ij,...jk", [(7, 1, 3, 4), (5, 4, 6)]),
    ("...ij->ij", [(2, 3, 4, 5)]),
    ("...ij->i...j", [(2, 3, 4, 5)]),
    ("ij->ij...", [(4, 5)]),
    ("i...", [(2, 2, 3)]),
    ("...i", [(2, 2, 3)]),
    ("...->", [(2, 3)]),
    ("...,...->...", [(2, 3), (3,)]),
    ("i...,i...->i...", [(2, 3, 1), (2, 1, 4)]),
    ("Ab", [(2, 3)]),
    ("bA", [(2, 3)]),
    ("ba", [(2, 3)]),
    (" i j -> j i ", [(2, 3)]),
    ("ij,jk->ik", [(2, 1), (4, 5)]),
    ("ii,i->i", [(1, 1), (3,)]),
    ("i,i->", [(1,), (3,)]),
    ("", [()]),
    ("->", [()]),
    (",->", [(), ()]),
    ("i,->i", [(3,), ()]),
    ("ij,jk->ik", [(2, 0), (0, 4)]),
    ("ij->", [(0, 4)]),
    ("ij,jk->ik", [(0, 3), (3, 4)]),
    ("ij,jk->ik", [(20, 30), (30, 40)]),
    ("bij,bkj->bik", [(4, 30, 40), (4, 20, 40)]),
]


@pytest.mark.parametrize("equation, shapes", CASES)
def test_einsum_cases(equation, shapes):
    pairs = [pair(s, seed=i) for i, s in enumerate(shapes)]
    expected = torch.einsum(equation, *[t for _, t in pairs])
    assert_close(ember.einsum(equation, *[e for e, _ in pairs]), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("equation, shapes", [c for c in CASES if all(len(s) > 0 and 0 not in s for s in c[1])])
def test_einsum_noncontiguous(equation, shapes):
    pairs = [pair(s, seed=i, noncontiguous=True) for i, s in enumerate(shapes)]
    expected = torch.einsum(equation, *[t for _, t in pairs])
    assert_close(ember.einsum(equation, *[e for e, _ in pairs]), expected, rtol=1e-4, atol=1e-5)


def test_einsum_transposed_operand():
    base, _ = pair((4, 3), seed=1)
    a = ember.from_numpy(base.numpy().T)
    b, tb = pair((4, 5), seed=2)
    assert not a.is_contiguous()
    assert_close(ember.einsum("ij,jk->ik", a, b), torch.einsum("ij,jk->ik", to_torch(a), tb))


def test_einsum_operand_list_and_sublist_forms():
    a, ta = pair((2, 3), seed=1)
    b, tb = pair((3, 4), seed=2)
    expected = torch.einsum("ij,jk->ik", ta, tb)
    assert_close(ember.einsum("ij,jk->ik", [a, b]), expected)
    assert_close(ember.einsum("ij,jk->ik", (a, b)), expected)
    assert_close(ember.einsum(a, [0, 1], b, [1, 2], [0, 2]), torch.einsum(ta, [0, 1], tb, [1, 2], [0, 2]))
    assert_close(ember.einsum(a, [26, 0]), torch.einsum(ta, [26, 0]))
    assert_close(ember.einsum(a, [..., 1], b, [1, 2]), torch.einsum(ta, [..., 1], tb, [1, 2]))


@pytest.mark.parametrize("dtype", ALL_DTYPES)
@pytest.mark.parametrize("equation, shapes", [
    ("ij->ji", [(2, 3)]), ("ii->i", [(3, 3)]), ("ij->", [(2, 3)]), ("ij->j", [(3, 3)]), ("ii->", [(3, 3)]),
    ("i,j->ij", [(3,), (2,)]), ("ij,ij->ij", [(2, 3), (2, 3)]), ("ij,j->j", [(2, 3), (3,)]),
    ("ij,jk->", [(2, 3), (3, 4)]), ("ij,k->jk", [(2, 3), (4,)]), ("i,j,k->ijk", [(2,), (3,), (4,)]),
    ("ii,i->i", [(3, 3), (3,)]),
])
def test_einsum_dtypes_without_contraction(dtype, equation, shapes):
    # Integer and bool operands whose private labels are summed widen to int64, as torch's sum does.
    pairs = [pair(s, dtype, seed=i) for i, s in enumerate(shapes)]
    expected = torch.einsum(equation, *[t for _, t in pairs])
    assert_close(ember.einsum(equation, *[e for e, _ in pairs]), expected)


@pytest.mark.parametrize("dtype", [d for d in ALL_DTYPES if d is not ember.bool])
@pytest.mark.parametrize("equation, shapes", [
    ("ij,jk->ik", [(2, 3), (3, 4)]), ("i,i->", [(5,), (5,)]), ("bij,bjk->bik", [(2, 2, 3), (2, 3, 4)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]), ("ij,ij->i", [(2, 3), (2, 3)]),
])
def test_einsum_dtypes_with_contraction(dtype, equation, shapes):
    pairs = [pair(s, dtype, seed=i) for i, s in enumerate(shapes)]
    expected = torch.einsum(equation, *[t for _, t in pairs])
    assert_close(ember.einsum(equation, *[e for e, _ in pairs]), expected)


def test_einsum_integer_contraction_wraps_like_torch():
    a, ta = pair((3, 40), ember.int8, seed=1, low=0, high=100)
    b, tb = pair((40, 2), ember.int8, seed=2, low=0, high=100)
    assert_close(ember.einsum("ij,jk->ik", a, b), torch.einsum("ij,jk->ik", ta, tb))


@pytest.mark.parametrize("a_dtype, b_dtype", [(ember.float32, ember.float64), (ember.int64, ember.float32),
                                              (ember.bool, ember.int16)])
def test_einsum_mixed_dtypes_promote_without_contraction(a_dtype, b_dtype):
    a, ta = pair((2, 3), a_dtype, seed=1)
    b, tb = pair((2, 3), b_dtype, seed=2)
    assert_close(ember.einsum("ij,ij->ij", a, b), torch.einsum("ij,ij->ij", ta, tb))


@pytest.mark.parametrize("equation, shapes, dtypes, error, message", [
    ("ij,jk->ik", [(2, 3), (3, 4)], [ember.float32, ember.float64], RuntimeError,
     "expected scalar type Float but found Double"),
    ("ij,j->", [(2, 3), (3,)], [ember.int8, ember.int8], RuntimeError, "expected scalar type Long but found Char"),
    ("i,i->", [(3,), (3,)], [ember.bool, ember.bool], NotImplementedError, "\"bmm\" not implemented for 'Bool'"),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)], [ember.bool] * 3, NotImplementedError, "\"bmm\" not implemented"),
])
def test_einsum_dtype_errors(equation, shapes, dtypes, error, message):
    pairs = [pair(s, d, seed=i) for i, (s, d) in enumerate(zip(shapes, dtypes, strict=True))]
    with pytest.raises(error, match=message):
        ember.einsum(equation, *[e for e, _ in pairs])
    with pytest.raises(error, match=message):
        torch.einsum(equation, *[t for _, t in pairs])


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_einsum_result_is_fresh_memory(dtype):
    a, _ = pair((3, 3), dtype)
    for equation in ("ij->ji", "ii->i", "ij->ij", "ij"):
        out = ember.einsum(equation, a)
        assert not np.shares_memory(out.numpy(), a.numpy())
        assert out.is_contiguous()


@pytest.mark.parametrize("args, error, message", [
    (("ij,jk->ik", (2, 3)), RuntimeError, r"einsum\(\): fewer operands were provided than specified in the equation"),
    (("ij->ji", (2, 3), (3,)), RuntimeError, r"more operands were provided than specified in the equation"),
    (("ijk->ji", (2, 3)), RuntimeError, r"the number of subscripts in the equation \(3\) does not match the number of "
                                        r"dimensions \(2\) for operand 0 and no ellipsis was given"),
    (("ij,->ij", (2, 3), (1,)), RuntimeError, r"subscripts in the equation \(0\) does not match the number of "
                                              r"dimensions \(1\) for operand 1"),
    (("i...->...", ()), RuntimeError, r"the number of subscripts in the equation \(1\) is more than the number of "
                                      r"dimensions \(0\) for operand 0"),
    (("i1->i", (2, 3)), RuntimeError, r"invalid subscript given at index 1 in the equation string, subscripts must "
                                      r"be in \[a-zA-Z\]"),
    (("ij->j->i", (2, 3)), RuntimeError, "invalid subscript given at index 5"),
    (("ij-ji", (2, 3)), RuntimeError, "invalid subscript given at index 2"),
    (("ij->k", (2, 3)), RuntimeError, "output subscript k does not appear in the equation for any input operand"),
    (("ij->Ij", (2, 3)), RuntimeError, "output subscript I does not appear in the equation"),
    (("ij->ii", (2, 3)), RuntimeError, "output subscript i appears more than once in the output"),
    (("ij,jk->ik", (2, 3), (4, 5)), RuntimeError, "subscript j has size 4 for operand 1 which does not broadcast with "
                                                  "previously seen size 3"),
    (("ii->i", (2, 3)), RuntimeError, "subscript i is repeated for operand 0 but the sizes don't match, 3 != 2"),
    (("...ij,...jk->...ik", (2, 3, 4), (5, 4, 6)), RuntimeError, "dimension 0 covered by ellipsis in operand 1 ?has "
                                                                  "size 5 which does not broadcast with previously "
                                                                  "seen ellipsis with size 2"),
    (("i.j->i", (2, 3)), RuntimeError, "found '.' for operand 0 that is not part of any ellipsis"),
    (("i...j...->i", (2, 3)), RuntimeError, "found '.' for operand 0 for which an ellipsis was already found"),
    (("ij->i......", (4, 5)), RuntimeError, r"found '.' for output but an ellipsis \(...\) was already found"),
    (("ij->i..", (4, 5)), RuntimeError, r"found '.' for output that is not part of any ellipsis \(...\)"),
    (("ij->ji",), ValueError, "must specify the equation string and at least one operand"),
    (("ij,jk->ik", (2, 3), 5), TypeError, "expected Tensor as element 1 in argument 1, but got int"),
    ((5, (2, 3)), TypeError, r"einsum\(\): argument 'equation' \(position 1\) must be str, not int"),
])
def test_einsum_errors(args, error, message):
    def build(lib):
        return [lib.ones(a) if isinstance(a, tuple) else a for a in args]

    with pytest.raises(error, match=message):
        ember.einsum(*build(ember))
    with pytest.raises(error, match=message):
        torch.einsum(*build(torch))


def test_einsum_sublist_errors():
    a = ember.ones(2, 3)
    with pytest.raises(ValueError, match=r"subscript in subscript list is not within the valid range \[0, 52\)"):
        ember.einsum(a, [0, 60])
    with pytest.raises(TypeError, match="subscripts in a subscript list must be ints or Ellipsis"):
        ember.einsum(a, [0, "a"])
    with pytest.raises(RuntimeError, match=r"output subscript B appears more than once"):
        ember.einsum(a, [1, 0], ember.ones(3, 2), [0, 1], [1, 1])
