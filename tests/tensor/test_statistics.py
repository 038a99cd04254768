"""var, std, var_mean, std_mean and norm against PyTorch: corrections (incl. dof <= 0), every p of
``torch.norm``, dims, keepdim, dtypes, empty and strided inputs, and the error messages."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import ember
from tests.oracle import ALL_DTYPES, DTYPES, FLOAT_DTYPES, assert_close, compare, to_torch, torch
from tests.tensor.reduction_cases import SHAPES, dims_for, make_pair

# Both libraries warn when the correction leaves no degrees of freedom; those cases are checked on purpose.
pytestmark = pytest.mark.filterwarnings("ignore:.*degrees of freedom is <= 0")

CORRECTIONS = [{}, {"correction": 0}, {"correction": 2.5}, {"unbiased": False}, {"unbiased": True}]
NORM_ORDERS = ["fro", 2, 1, math.inf, -math.inf, 0, 3, 0.5, -1, -2.5, None]


@pytest.mark.parametrize("noncontiguous", [False, True], ids=["contiguous", "strided"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
@pytest.mark.parametrize("name", ["var", "std", "var_mean", "std_mean"])
def test_var_std_match_torch(name, dtype, shape, noncontiguous):
    e, t = make_pair(shape, dtype, seed=1, noncontiguous=noncontiguous)
    for dim in dims_for(shape):
        for keepdim in (False, True):
            for kw in CORRECTIONS if name in ("var", "std") else CORRECTIONS[:2]:
                compare(lambda dim=dim, keepdim=keepdim, kw=kw: getattr(ember, name)(e, dim, keepdim=keepdim, **kw),
                        lambda dim=dim, keepdim=keepdim, kw=kw: getattr(torch, name)(t, dim, keepdim=keepdim, **kw))


def test_legacy_positional_unbiased_and_methods():
    e, t = make_pair((3, 4), ember.float64, seed=2)
    assert_close(ember.var(e, False), torch.var(t, False))
    assert_close(ember.std(e, 1, False, True), torch.std(t, 1, False, True))
    assert_close(e.var(), t.var())
    assert_close(e.std(dim=(0, 1), correction=0), t.std(dim=(0, 1), correction=0))
    assert_close(ember.var_mean(e, 0, keepdim=True), torch.var_mean(t, 0, keepdim=True))


def test_no_degrees_of_freedom_gives_nan_or_inf_with_a_warning():
    e, t = make_pair((2, 3), ember.float32, seed=3)
    for correction in (3, 5, 10):
        with pytest.warns(UserWarning, match=r"var\(\): degrees of freedom is <= 0"):
            result = e.var(1, correction=correction)
        assert_close(result, t.var(1, correction=correction))
        assert np.isinf(result.numpy()).all()
    with pytest.warns(UserWarning, match=r"std\(\): degrees of freedom"):
        assert math.isnan(ember.tensor(2.0).std().item())
    const, const_t = ember.ones(2, 3), torch.ones(2, 3)
    assert_close(const.var(1, correction=3), const_t.var(1, correction=3))  # 0 / 0
    assert_close(ember.zeros(0).var(), torch.zeros(0).var())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        e.var(1)


def test_float32_variance_is_accurate():
    # A large offset breaks a naive one-pass E[x^2] - E[x]^2 formula in float32.
    data = (np.random.default_rng(4).standard_normal(10**5) + 1e4).astype(np.float32)
    assert_close(ember.from_numpy(data).var(), torch.from_numpy(data).var(), rtol=1e-4)


def test_var_errors():
    ints = ember.tensor([[1, 2], [3, 4]])
    with pytest.raises(RuntimeError, match="std and var only support floating point and complex dtypes"):
        ints.var()
    with pytest.raises(RuntimeError, match="std and var only support floating point and complex dtypes"):
        ints.std(0)
    with pytest.raises(RuntimeError, match="var_mean only support floating point and complex dtypes"):
        ember.var_mean(ints)
    with pytest.raises(TypeError, match="correction"):
        ember.var(ember.ones(3), 0, unbiased=False, correction=1)
    with pytest.raises(IndexError, match=r"range of \[-2, 1\], but got 2"):
        ember.ones(2, 2).std(2)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
@pytest.mark.parametrize("p", NORM_ORDERS, ids=str)
def test_vector_norms_match_torch(p, dtype, shape):
    # Strided inputs: the kernels see views either way, and this keeps the grid small.
    e, t = make_pair(shape, dtype, seed=5, noncontiguous=True)
    if shape:
        e.numpy()[..., :1] = 0  # a zero in every row: p = 0 and negative p treat zeros specially
        t = to_torch(e)
    for dim in dims_for(shape):
        for keepdim in (False, True):
            compare(lambda dim=dim, keepdim=keepdim: ember.norm(e, p, dim, keepdim),
                    lambda dim=dim, keepdim=keepdim: torch.norm(t, p, dim, keepdim))


@pytest.mark.parametrize("p", ["fro", "nuc"])
@pytest.mark.parametrize("dtype", [ember.float32, ember.float64])
def test_matrix_norms_match_torch(dtype, p):
    e, t = make_pair((2, 3, 4), dtype, seed=6)
    rtol = 1e-4 if dtype is ember.float32 else None  # different SVD routines
    for dim in ((0, 1), (2, 1), (-1, 0)):
        for keepdim in (False, True):
            assert_close(e.norm(p, dim, keepdim), t.norm(p, dim, keepdim), rtol=rtol)
    m, mt = make_pair((3, 5), dtype, seed=7)
    assert_close(m.norm(p), mt.norm(p), rtol=rtol)
    assert_close(ember.zeros(0, 3, dtype=dtype).norm(p), torch.zeros(0, 3, dtype=DTYPES[dtype]).norm(p))


def test_norm_dtype_argument_and_half_accumulation():
    e, t = make_pair((4, 5), ember.float32, seed=8)
    assert_close(e.norm(dtype=ember.float64), t.norm(dtype=torch.float64))
    assert_close(e.norm(1, 1, dtype=ember.float64), t.norm(1, 1, dtype=torch.float64))
    assert_close(e.norm("nuc", dtype=ember.float64), t.norm("nuc", dtype=torch.float64))
    h, ht = ember.full((1000,), 300.0, dtype=ember.float16), torch.full((1000,), 300.0, dtype=torch.float16)
    assert_close(h.norm(), ht.norm(), rtol=0, atol=0)  # the squares overflow float16, not float32
    assert_close(h.norm(dtype=ember.float32), ht.norm(dtype=torch.float32))
    assert_close(e.norm(ember.tensor(3.0)), t.norm(torch.tensor(3.0)))


def test_norm_special_values():
    nan, inf = math.nan, math.inf
    data = np.array([[nan, 1.0, 2.0], [inf, -1.0, 0.0], [1e30, 1e30, 0.0]], dtype=np.float32)
    e, t = ember.from_numpy(data), torch.from_numpy(data)
    for p in (2, 1, inf, -inf, 0, 3, -1):
        assert_close(e.norm(p, 1), t.norm(p, 1))


def test_norm_errors():
    with pytest.raises(RuntimeError, match="linalg.vector_norm: Expected a floating point or complex tensor as "
                       "input. Got Long"):
        ember.tensor([1, 2]).norm()
    with pytest.raises(RuntimeError, match="Got Bool"):
        ember.tensor([True]).norm(1)
    with pytest.raises(RuntimeError, match=r"the dtype of the input \(Float\) should be convertible without narrowing "
                       r"to the specified dtype \(Half\)"):
        ember.ones(3).norm(dtype=ember.float16)
    with pytest.raises(RuntimeError, match="cannot compute the inf norm on an empty tensor because the operation does "
                       "not have an identity"):
        ember.zeros(0, 3).norm(math.inf)
    with pytest.raises(RuntimeError, match="cannot compute the -1 norm on an empty tensor"):
        ember.zeros(0).norm(-1)
    with pytest.raises(RuntimeError, match="cannot compute the -inf norm on the dimension 1"):
        ember.zeros(2, 0, 3).norm(-math.inf, (0, 1))
    with pytest.raises(RuntimeError, match=r"linalg.matrix_norm: dim must be a 2-tuple. Got 0 1 2"):
        ember.ones(2, 2, 2).norm("fro", (0, 1, 2))
    with pytest.raises(RuntimeError, match=r"linalg.matrix_norm: dim must be a 2-tuple. Got 1"):
        ember.ones(3, 3).norm("nuc", 1)
    with pytest.raises(RuntimeError, match=r"linalg.matrix_norm: dims must be different. Got \(1, 1\)"):
        ember.ones(3, 3).norm("nuc", (1, -1))
    with pytest.raises(RuntimeError, match="The input tensor A must have at least 2 dimensions"):
        ember.ones(3).norm("nuc")
    with pytest.raises(RuntimeError, match="linalg.matrix_norm: Order foo not supported"):
        ember.ones(3, 3).norm("foo")
    with pytest.raises(RuntimeError, match="Low precision dtypes not supported. Got Half"):
        ember.ones(3, 3, dtype=ember.float16).norm("nuc")
    with pytest.raises(RuntimeError, match="linalg.matrix_norm: Expected a floating point .* Got Long"):
        ember.tensor([[1, 2], [3, 4]]).norm("nuc")


def test_results_never_share_memory_with_input():
    e = ember.from_numpy(np.array(2.0, dtype=np.float32))
    for out in (e.var(0, correction=0), e.std(()), e.norm(dim=0), e.norm(math.inf, 0)):
        assert not np.shares_memory(out.numpy(), e.numpy())


def test_exports():
    for name in ("var", "std", "norm"):
        assert getattr(ember, name) is getattr(ember.Tensor, name)
    assert callable(ember.var_mean) and callable(ember.std_mean)
