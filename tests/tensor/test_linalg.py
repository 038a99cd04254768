"""matmul and the products built on it (mm, bmm, dot, vdot, outer/ger, @), checked against PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ember
from tests.oracle import ALL_DTYPES, FLOAT_DTYPES, INT_DTYPES, assert_close, pair, to_torch, torch

NUMERIC_DTYPES = [*INT_DTYPES, *FLOAT_DTYPES]

# (shape of input, shape of other) for every rank case of torch.matmul, broadcasting and empty dims included.
MATMUL_SHAPES = [
    ((3,), (3,)),
    ((2, 3), (3,)),
    ((3,), (3, 4)),
    ((2, 3), (3, 4)),
    ((2, 4, 3), (3,)),
    ((4, 2, 3), (3, 5)),
    ((3,), (4, 3, 5)),
    ((2, 3), (4, 3, 5)),
    ((4, 2, 3), (4, 3, 5)),
    ((2, 1, 3, 4), (5, 4, 6)),
    ((1, 3, 4), (5, 4, 6)),
    ((5, 1, 2, 3), (1, 4, 3, 2)),
    ((1, 1), (1, 1)),
    ((0,), (0,)),
    ((2, 0), (0, 3)),
    ((0, 3), (3, 4)),
    ((2, 0), (0,)),
    ((0,), (0, 3)),
    ((0, 2, 3), (3, 4)),
    ((0, 2, 3), (0, 3, 4)),
    ((2, 1, 0, 2), (3, 2, 0)),
]


def transposed(shape: tuple, dtype: ember.dtype = ember.float32, seed: int = 0):
    """A tensor of ``shape`` whose last two dims are swapped in memory (a column-major view)."""
    e, _ = pair(shape[:-2] + (shape[-1], shape[-2]), dtype, seed=seed)
    view = ember.from_numpy(np.swapaxes(e.numpy(), -1, -2))
    assert not view.is_contiguous() or 1 in shape[-2:]
    return view, to_torch(view)


@pytest.mark.parametrize("sa, sb", MATMUL_SHAPES)
def test_matmul_rank_cases(sa, sb):
    a, ta = pair(sa, seed=1)
    b, tb = pair(sb, seed=2)
    expected = torch.matmul(ta, tb)
    assert_close(ember.matmul(a, b), expected)
    assert_close(a @ b, expected)
    assert_close(a.matmul(b), expected)


@st.composite
def broadcastable_matmul_shapes(draw):
    """Operand shapes of rank 1-4 whose batch dims broadcast: each batch dim is shared or 1 in each operand."""
    n, k, m = draw(st.integers(0, 3)), draw(st.integers(0, 3)), draw(st.integers(0, 3))
    batch = draw(st.lists(st.integers(1, 3), max_size=2))

    def batch_dims(rank):
        own = batch[len(batch) - min(rank - 2, len(batch)):] if rank > 2 else []
        return tuple(d if draw(st.booleans()) else 1 for d in own)

    rank_a, rank_b = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sa = (k,) if rank_a == 1 else batch_dims(rank_a) + (n, k)
    sb = (k,) if rank_b == 1 else batch_dims(rank_b) + (k, m)
    return sa, sb


@settings(max_examples=60, deadline=None)
@given(broadcastable_matmul_shapes(), st.integers(0, 2**16))
def test_matmul_broadcasting_property(shapes, seed):
    sa, sb = shapes
    a, ta = pair(sa, seed=seed)
    b, tb = pair(sb, seed=seed + 1)
    assert_close(ember.matmul(a, b), torch.matmul(ta, tb))


@pytest.mark.parametrize("sa, sb", [s for s in MATMUL_SHAPES if 0 not in s[0] + s[1]])
def test_matmul_noncontiguous(sa, sb):
    a, ta = pair(sa, seed=3, noncontiguous=True)
    b, tb = pair(sb, seed=4, noncontiguous=True)
    assert_close(ember.matmul(a, b), torch.matmul(ta, tb))


@pytest.mark.parametrize("sa, sb", [((2, 3), (3, 4)), ((4, 2, 3), (4, 3, 5)), ((2, 1, 3, 4), (5, 4, 6))])
@pytest.mark.parametrize("dtype", [ember.float32, ember.float64, ember.int64, ember.float16])
def test_matmul_transposed_inputs(sa, sb, dtype):
    a, ta = transposed(sa, dtype, seed=5)
    b, tb = transposed(sb, dtype, seed=6)
    assert_close(ember.matmul(a, b), torch.matmul(ta, tb))


def test_matmul_large_strided_uses_correct_values():
    # Big enough for BLAS, with strides BLAS cannot take directly (every other row and column).
    a, ta = pair((64, 96), ember.float32, seed=7)
    b, tb = pair((96, 80), ember.float32, seed=8)
    a_view = ember.from_numpy(a.numpy()[::2, ::2])
    b_view = ember.from_numpy(b.numpy()[::2, ::2])
    assert_close(ember.matmul(a_view, b_view), torch.matmul(ta[::2, ::2], tb[::2, ::2]), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("dtype", NUMERIC_DTYPES)
@pytest.mark.parametrize("sa, sb", [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 2)), ((2, 3), (3, 4)),
                                    ((2, 2, 3), (2, 3, 4)), ((2, 2, 3), (3,))])
def test_matmul_dtypes(dtype, sa, sb):
    a, ta = pair(sa, dtype, seed=9)
    b, tb = pair(sb, dtype, seed=10)
    assert_close(ember.matmul(a, b), torch.matmul(ta, tb))


@pytest.mark.parametrize("dtype", [ember.uint8, ember.int8, ember.int16])
def test_matmul_integer_overflow_wraps_like_torch(dtype):
    a, ta = pair((3, 40), dtype, seed=11, low=0, high=100)
    b, tb = pair((40, 2), dtype, seed=12, low=0, high=100)
    assert_close(ember.matmul(a, b), torch.matmul(ta, tb))


@pytest.mark.parametrize("sa, sb, kernel", [((3,), (3,), "dot"), ((2, 3), (3,), "addmv_impl_cpu"),
                                            ((2, 3), (3, 4), "addmm_impl_cpu_"), ((2, 2, 3), (2, 3, 4), "bmm")])
def test_matmul_bool_is_not_implemented(sa, sb, kernel):
    with pytest.raises(NotImplementedError, match=f"\"{kernel}\" not implemented for 'Bool'"):
        ember.matmul(ember.ones(sa, dtype=ember.bool), ember.ones(sb, dtype=ember.bool))
    with pytest.raises(NotImplementedError):
        torch.matmul(torch.ones(sa, dtype=torch.bool), torch.ones(sb, dtype=torch.bool))


@pytest.mark.parametrize("sa, sb, message", [
    ((), (2, 2), "both arguments to matmul need to be at least 1D, but they are 0D and 2D"),
    ((2, 2), (), "both arguments to matmul need to be at least 1D, but they are 2D and 0D"),
    ((3,), (4,), r"inconsistent tensor size, expected tensor \[3\] and src \[4\] to have the same number of "
                 r"elements, but got 3 and 4 elements respectively"),
    ((2, 3), (4,), r"size mismatch, got input \(2\), mat \(2x3\), vec \(4\)"),
    ((2, 4, 3), (4,), r"size mismatch, got input \(8\), mat \(8x3\), vec \(4\)"),
    ((3,), (4, 5), r"mat1 and mat2 shapes cannot be multiplied \(1x3 and 4x5\)"),
    ((2, 3), (4, 5), r"mat1 and mat2 shapes cannot be multiplied \(2x3 and 4x5\)"),
    ((2, 2, 3), (4, 5), r"mat1 and mat2 shapes cannot be multiplied \(4x3 and 4x5\)"),
    ((2, 2, 3), (2, 4, 5), r"Expected size for first two dimensions of batch2 tensor to be: \[2, 3\] but got: "
                           r"\[2, 4\]"),
    ((3,), (2, 4, 5), r"Expected size for first two dimensions of batch2 tensor to be: \[2, 3\] but got: \[2, 4\]"),
    ((2, 1, 3, 4), (5, 5, 6), r"to be: \[10, 4\] but got: \[10, 5\]"),
    ((2, 2, 3), (3, 3, 5), r"The size of tensor a \(2\) must match the size of tensor b \(3\) at non-singleton "
                           r"dimension 0"),
    ((2, 2, 3), (3, 4, 5), r"The size of tensor a \(2\) must match the size of tensor b \(3\)"),
])
def test_matmul_shape_errors(sa, sb, message):
    with pytest.raises(RuntimeError, match=message):
        ember.matmul(ember.ones(sa), ember.ones(sb))
    with pytest.raises(RuntimeError, match=message):
        torch.matmul(torch.ones(sa), torch.ones(sb))


@pytest.mark.parametrize("sa, sb, a_dtype, b_dtype, message", [
    ((3,), (3,), ember.float32, ember.float64, "dot : expected both vectors to have same dtype, but found Float and "
                                               "Double"),
    ((3,), (4,), ember.float32, ember.float64, "dot : expected both vectors to have same dtype"),
    ((2, 3), (3,), ember.float32, ember.float64, "addmv input tensors must have the same dtype, but got Double, "
                                                 "Float, and Double"),
    ((3,), (3, 2), ember.float32, ember.float64, "expected m1 and m2 to have the same dtype, but got: float != double"),
    ((2, 3), (3, 4), ember.int64, ember.int32, "expected m1 and m2 to have the same dtype, but got: long int != int"),
    ((2, 3), (3, 4), ember.float16, ember.bfloat16, "but got: c10::Half != c10::BFloat16"),
    ((2, 3), (3, 4), ember.uint8, ember.bool, "but got: unsigned char != bool"),
    ((2, 3), (3, 4), ember.int16, ember.int8, "but got: short int != signed char"),
    ((2, 2, 3), (2, 3, 4), ember.float32, ember.float16, "expected scalar type Float but found Half"),
    ((2, 2, 3), (3, 4), ember.float32, ember.int64, "expected m1 and m2 to have the same dtype, but got: float != "
                                                    "long int"),
    ((2, 3), (4, 5), ember.float32, ember.float64, r"mat1 and mat2 shapes cannot be multiplied"),
])
def test_matmul_dtype_errors(sa, sb, a_dtype, b_dtype, message):
    a, ta = pair(sa, a_dtype)
    b, tb = pair(sb, b_dtype)
    with pytest.raises(RuntimeError, match=message):
        ember.matmul(a, b)
    with pytest.raises(RuntimeError, match=message):
        torch.matmul(ta, tb)


def test_matmul_argument_types():
    x = ember.ones(2, 3)
    with pytest.raises(TypeError, match=r"matmul\(\): argument 'other' \(position 2\) must be Tensor, not int"):
        ember.matmul(x, 3)
    with pytest.raises(TypeError, match=r"matmul\(\): argument 'input' \(position 1\) must be Tensor, not list"):
        ember.matmul([1.0], x)
    with pytest.raises(TypeError, match="unsupported operand type"):
        x @ 3  # noqa: B018
    with pytest.raises(TypeError, match="unsupported operand type"):
        [1.0, 2.0] @ x  # noqa: B018


def test_matmul_keywords_and_rmatmul():
    a, ta = pair((4, 2), seed=13)
    b, tb = pair((2, 3), seed=14)
    assert_close(ember.matmul(input=a, other=b), torch.matmul(ta, tb))
    assert_close(b.__rmatmul__(a), tb.__rmatmul__(ta))
    assert_close(a.matmul(other=b), ta.matmul(other=tb))


@pytest.mark.parametrize("sa, sb", [((2, 3), (3, 4)), ((2, 3), (3,)), ((3,), (3,)), ((2, 2, 3), (2, 3, 4))])
def test_results_are_fresh_memory(sa, sb):
    a, _ = pair(sa, seed=15)
    b, _ = pair(sb, seed=16)
    out = ember.matmul(a, b)
    assert out.is_contiguous()
    assert not np.shares_memory(out.numpy(), a.numpy()) and not np.shares_memory(out.numpy(), b.numpy())


@pytest.mark.parametrize("dtype", NUMERIC_DTYPES)
def test_mm(dtype):
    a, ta = pair((3, 4), dtype, seed=17)
    b, tb = pair((4, 2), dtype, seed=18)
    assert_close(ember.mm(a, b), torch.mm(ta, tb))
    assert_close(a.mm(mat2=b), ta.mm(mat2=tb))
    assert_close(ember.mm(input=a, mat2=b), torch.mm(input=ta, mat2=tb))


@pytest.mark.parametrize("sa, sb, error, message", [
    ((3,), (3, 4), RuntimeError, "self must be a matrix"),
    ((1, 2, 3), (3, 5), RuntimeError, "self must be a matrix"),
    ((2, 3), (3,), RuntimeError, "mat2 must be a matrix"),
    ((2, 3), (4, 5), RuntimeError, r"mat1 and mat2 shapes cannot be multiplied \(2x3 and 4x5\)"),
])
def test_mm_errors(sa, sb, error, message):
    with pytest.raises(error, match=message):
        ember.mm(ember.ones(sa), ember.ones(sb))
    with pytest.raises(error, match=message):
        torch.mm(torch.ones(sa), torch.ones(sb))


def test_mm_dtype_errors():
    with pytest.raises(RuntimeError, match="expected m1 and m2 to have the same dtype, but got: float != double"):
        ember.mm(ember.ones(2, 3), ember.ones(3, 5, dtype=ember.float64))
    with pytest.raises(NotImplementedError, match="\"addmm_impl_cpu_\" not implemented for 'Bool'"):
        ember.mm(ember.ones(2, 3, dtype=ember.bool), ember.ones(3, 5, dtype=ember.bool))


@pytest.mark.parametrize("dtype", NUMERIC_DTYPES)
@pytest.mark.parametrize("sa, sb", [((5, 2, 3), (5, 3, 4)), ((0, 2, 3), (0, 3, 4)), ((2, 3, 0), (2, 0, 4))])
def test_bmm(dtype, sa, sb):
    a, ta = pair(sa, dtype, seed=19)
    b, tb = pair(sb, dtype, seed=20)
    assert_close(ember.bmm(a, b), torch.bmm(ta, tb))
    assert_close(a.bmm(mat2=b), ta.bmm(mat2=tb))


@pytest.mark.parametrize("sa, sb, error, message", [
    ((2, 3), (2, 3, 4), RuntimeError, "batch1 must be a 3D tensor"),
    ((2, 2, 3), (3, 4), RuntimeError, "batch2 must be a 3D tensor"),
    ((2, 2, 3), (3, 3, 4), RuntimeError, r"batch2 tensor to be: \[2, 3\] but got: \[3, 3\]"),
    ((1, 2, 3), (3, 3, 4), RuntimeError, r"batch2 tensor to be: \[1, 3\] but got: \[3, 3\]"),
    ((2, 2, 3), (2, 4, 4), RuntimeError, r"batch2 tensor to be: \[2, 3\] but got: \[2, 4\]"),
])
def test_bmm_errors(sa, sb, error, message):
    with pytest.raises(error, match=message):
        ember.bmm(ember.ones(sa), ember.ones(sb))
    with pytest.raises(error, match=message):
        torch.bmm(torch.ones(sa), torch.ones(sb))


def test_bmm_dtype_errors():
    with pytest.raises(RuntimeError, match="expected scalar type Float but found Double"):
        ember.bmm(ember.ones(2, 2, 3), ember.ones(2, 3, 4, dtype=ember.float64))
    with pytest.raises(NotImplementedError, match="\"bmm\" not implemented for 'Bool'"):
        ember.bmm(ember.ones(2, 2, 3, dtype=ember.bool), ember.ones(2, 3, 4, dtype=ember.bool))


@pytest.mark.parametrize("fn", ["dot", "vdot"])
@pytest.mark.parametrize("dtype", NUMERIC_DTYPES)
@pytest.mark.parametrize("n", [0, 1, 7])
def test_dot_vdot(fn, dtype, n):
    a, ta = pair((n,), dtype, seed=21, noncontiguous=True)
    b, tb = pair((n,), dtype, seed=22)
    assert_close(getattr(ember, fn)(a, b), getattr(torch, fn)(ta, tb))
    assert_close(getattr(a, fn)(b), getattr(ta, fn)(tb))


def test_dot_keywords():
    a, ta = pair((4,), seed=23)
    b, tb = pair((4,), seed=24)
    assert_close(ember.dot(input=a, tensor=b), torch.dot(input=ta, tensor=tb))
    assert_close(ember.vdot(input=a, other=b), torch.vdot(input=ta, other=tb))


@pytest.mark.parametrize("fn", ["dot", "vdot"])
@pytest.mark.parametrize("a, b, error, message", [
    (((3, 1), ember.float32), ((3,), ember.float32), RuntimeError, "1D tensors expected, but got 2D and 1D tensors"),
    (((), ember.float32), ((3,), ember.float32), RuntimeError, "1D tensors expected, but got 0D and 1D tensors"),
    (((3,), ember.float32), ((4,), ember.float32), RuntimeError, r"inconsistent tensor size, expected tensor \[3\]"),
    (((3,), ember.float32), ((3,), ember.float64), RuntimeError, "dot : expected both vectors to have same dtype, "
                                                                 "but found Float and Double"),
    (((3,), ember.bool), ((3,), ember.bool), NotImplementedError, "\"dot\" not implemented for 'Bool'"),
])
def test_dot_errors(fn, a, b, error, message):
    ea, ta = pair(*a)
    eb, tb = pair(*b)
    with pytest.raises(error, match=message):
        getattr(ember, fn)(ea, eb)
    with pytest.raises(error, match=message):
        getattr(torch, fn)(ta, tb)


@pytest.mark.parametrize("fn", ["outer", "ger"])
@pytest.mark.parametrize("a_dtype, b_dtype", [(d, d) for d in ALL_DTYPES] + [
    (ember.float32, ember.float64), (ember.float32, ember.int64), (ember.bool, ember.int8),
    (ember.uint8, ember.int8), (ember.float16, ember.bfloat16)])
def test_outer_dtypes(fn, a_dtype, b_dtype):
    a, ta = pair((3,), a_dtype, seed=25)
    b, tb = pair((4,), b_dtype, seed=26, noncontiguous=True)
    assert_close(getattr(ember, fn)(a, b), getattr(torch, fn)(ta, tb))
    assert_close(getattr(a, fn)(vec2=b), getattr(ta, fn)(vec2=tb))


@pytest.mark.parametrize("sa, sb", [((0,), (3,)), ((2,), (0,)), ((1,), (1,))])
def test_outer_shapes(sa, sb):
    a, ta = pair(sa, seed=27)
    b, tb = pair(sb, seed=28)
    assert_close(ember.outer(input=a, vec2=b), torch.outer(input=ta, vec2=tb))


@pytest.mark.parametrize("sa, sb, message", [
    ((3, 2), (3,), "outer: Expected 1-D argument self, but got 2-D"),
    ((3,), (), "outer: Expected 1-D argument vec2, but got 0-D"),
])
def test_outer_errors(sa, sb, message):
    with pytest.raises(RuntimeError, match=message):
        ember.outer(ember.ones(sa), ember.ones(sb))
    with pytest.raises(RuntimeError, match=message):
        torch.outer(torch.ones(sa), torch.ones(sb))
    with pytest.raises(TypeError, match=r"outer\(\): argument 'vec2' \(position 2\) must be Tensor, not int"):
        ember.outer(ember.ones(3), 2)


@pytest.mark.parametrize("dtype", [ember.float32, ember.float64, ember.float16, ember.int64, ember.int32])
@pytest.mark.parametrize("input_shape", [(2, 4), (4,), (1, 4), ()])
@pytest.mark.parametrize("beta, alpha", [(1, 1), (0.5, 2), (0, -1), (1.5, 2.7)])
def test_addmm(dtype, input_shape, beta, alpha):
    c, tc = pair(input_shape, dtype, seed=29)
    a, ta = pair((2, 3), dtype, seed=30)
    b, tb = pair((3, 4), dtype, seed=31, noncontiguous=True)
    assert_close(ember.addmm(c, a, b, beta=beta, alpha=alpha), torch.addmm(tc, ta, tb, beta=beta, alpha=alpha))
    assert_close(c.addmm(a, b, beta=beta, alpha=alpha), tc.addmm(ta, tb, beta=beta, alpha=alpha))


def test_addmm_beta_zero_ignores_nan():
    c = ember.full((2, 2), float("nan"))
    out = ember.addmm(c, ember.ones(2, 3), ember.ones(3, 2), beta=0)
    assert_close(out, torch.addmm(torch.full((2, 2), float("nan")), torch.ones(2, 3), torch.ones(3, 2), beta=0))


@pytest.mark.parametrize("dtype", [ember.float32, ember.float64, ember.int64])
@pytest.mark.parametrize("input_shape", [(5, 2, 4), (2, 4), (4,)])
@pytest.mark.parametrize("beta, alpha", [(1, 1), (0.5, -1), (0, 3)])
def test_baddbmm(dtype, input_shape, beta, alpha):
    c, tc = pair(input_shape, dtype, seed=32)
    a, ta = pair((5, 2, 3), dtype, seed=33)
    b, tb = pair((5, 3, 4), dtype, seed=34)
    expected = torch.baddbmm(tc, ta, tb, beta=beta, alpha=alpha)
    assert_close(ember.baddbmm(c, a, b, beta=beta, alpha=alpha), expected)
    assert_close(c.baddbmm(a, b, beta=beta, alpha=alpha), expected)


@pytest.mark.parametrize("fn, shapes, dtypes, error, message", [
    ("addmm", [(2, 2), (2,), (2, 2)], [ember.float32] * 3, RuntimeError, "mat1 must be a matrix, got 1-D tensor"),
    ("addmm", [(2, 2), (2, 2), (2, 2, 1)], [ember.float32] * 3, RuntimeError, "mat2 must be a matrix, got 3-D"),
    ("addmm", [(2, 4), (2, 3), (4, 4)], [ember.float32] * 3, RuntimeError, "mat1 and mat2 shapes cannot be multiplied"),
    ("addmm", [(3,), (2, 3), (3, 4)], [ember.float32] * 3, RuntimeError, r"The expanded size of the tensor \(4\) must "
                                                                          r"match the existing size \(3\)"),
    ("addmm", [(2, 2), (2, 2), (2, 2)], [ember.float32, ember.float32, ember.float64], RuntimeError,
     "self and mat2 must have the same dtype, but got Float and Double"),
    ("addmm", [(2, 2), (2, 2), (2, 2)], [ember.float32, ember.float64, ember.float32], RuntimeError,
     "mat1 and mat2 must have the same dtype, but got Double and Float"),
    ("addmm", [(2, 2), (2, 2), (2, 2)], [ember.bool] * 3, NotImplementedError, "\"addmm_impl_cpu_\" not implemented"),
    ("baddbmm", [(2, 2), (2, 2, 2), (2, 2, 2)], [ember.float64, ember.float32, ember.float32], RuntimeError,
     "Input dtypes must be the same, got: input double, batch1: float, batch2: float"),
    ("baddbmm", [(2, 2), (2, 2, 2), (2, 2, 2)], [ember.float32, ember.float32, ember.float64], RuntimeError,
     "expected scalar type Float but found Double"),
    ("baddbmm", [(2, 2, 2)] * 3, [ember.bool] * 3, NotImplementedError, "\"baddbmm\" not implemented for 'Bool'"),
    ("baddbmm", [(3, 4), (5, 2, 3), (5, 3, 4)], [ember.float32] * 3, RuntimeError, r"The expanded size of the tensor "
                                                                                    r"\(2\) must match"),
])
def test_addmm_baddbmm_errors(fn, shapes, dtypes, error, message):
    pairs = [pair(s, d, seed=i) for i, (s, d) in enumerate(zip(shapes, dtypes, strict=True))]
    with pytest.raises(error, match=message):
        getattr(ember, fn)(*[e for e, _ in pairs])
    with pytest.raises(error, match=message):
        getattr(torch, fn)(*[t for _, t in pairs])
