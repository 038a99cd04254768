"""Gradients of the reduction family (sum, mean, prod, extrema, var/std, norm, logsumexp, softmax, scans).

Each case is one lambda ``(m, x) -> output`` run with ``m`` = ember and ``m`` = torch on the same input;
backward with the same random upstream gradient must give the same ``x.grad``. Inputs come with special
values (NaN, zeros, ties) where a formula has a special case.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import ember
from ember.autograd import gradcheck, gradgradcheck
from tests.oracle import assert_close, torch


def _values(shape: tuple, rng: np.random.Generator, special: str | None) -> np.ndarray:
    """float64 values for ``shape`` with the ``special`` pattern the case needs."""
    if special == "ties":
        return rng.integers(0, 3, size=shape).astype(np.float64)
    if special == "big":
        return rng.uniform(-1e4, 1e4, size=shape)
    x = rng.uniform(-2, 2, size=shape)
    flat = x.reshape(-1)
    if special == "nan":
        flat[::3] = np.nan
    elif special == "zero":
        flat[flat.size // 2] = 0.0
    elif special == "zeros":
        flat[::4] = 0.0
        flat[1::6] = 0.0
    elif special == "zero_rows":
        x[..., 0, :] = 0.0
    elif special == "away_from_zero":
        x = np.where(np.abs(x) < 0.3, 0.5, x)
    return x


def inputs(shape: tuple, dtype: ember.dtype, *, special: str | None = None, noncontiguous: bool = False,
           seed: int = 0) -> tuple[ember.Tensor, torch.Tensor]:
    """The same leaf requiring grad in ember and torch; ``noncontiguous`` gives every other column of a wider one."""
    rng = np.random.default_rng(seed)
    if noncontiguous:
        wide = _values(tuple(shape[:-1]) + (shape[-1] * 2,), rng, special).astype(dtype.np_dtype)
        e, t = ember.from_numpy(wide)[..., ::2], torch.from_numpy(wide.copy())[..., ::2]
        assert not e.is_contiguous()
    else:
        arr = np.asarray(_values(tuple(shape), rng, special)).astype(dtype.np_dtype)
        e, t = ember.from_numpy(arr), torch.from_numpy(arr.copy())
    return e.requires_grad_(), t.requires_grad_()


def _float_outputs(out) -> list:
    outs = list(out) if isinstance(out, tuple | list) else [out]
    return [o for o in outs if o.dtype.is_floating_point]


# (id, fn(m, x), shape, special). ``m`` is the module: ember or torch.
CASES = [
    ("sum_all", lambda m, x: x.sum(), (3, 4), None),
    ("sum_dim", lambda m, x: m.sum(x, 1), (3, 4), None),
    ("sum_neg_keepdim", lambda m, x: x.sum(-1, keepdim=True), (2, 3, 4), None),
    ("sum_tuple", lambda m, x: x.sum((0, 2)), (2, 3, 4), None),
    ("sum_tuple_keepdim", lambda m, x: m.sum(x, (0, -1), keepdim=True), (2, 3, 4), None),
    ("sum_0d", lambda m, x: x.sum(), (), None),
    ("sum_0d_dim", lambda m, x: x.sum(0, keepdim=True), (), None),
    ("sum_empty", lambda m, x: x.sum(0), (0, 3), None),
    ("sum_empty_other_dim", lambda m, x: x.sum(1), (0, 3), None),
    ("sum_dtype", lambda m, x: x.sum(1, dtype=m.float64), (3, 4), None),
    ("nansum_all", lambda m, x: m.nansum(x), (3, 4), "nan"),
    ("nansum_dim_keepdim", lambda m, x: x.nansum(-1, keepdim=True), (3, 4), "nan"),
    ("mean_all", lambda m, x: x.mean(), (3, 4), None),
    ("mean_tuple_keepdim", lambda m, x: x.mean((0, 2), keepdim=True), (2, 3, 4), None),
    ("mean_neg", lambda m, x: m.mean(x, -2), (2, 3, 4), None),
    ("mean_0d", lambda m, x: x.mean(), (), None),
    ("mean_empty_slices", lambda m, x: x.mean(0), (0, 3), None),
    ("nanmean_dim", lambda m, x: x.nanmean(1), (4, 3), "nan"),
    ("nanmean_all_nan_slice", lambda m, x: x.nanmean(0), (3, 4), "nan"),
    ("nanmean_all_keepdim", lambda m, x: m.nanmean(x, (0, 1), keepdim=True), (3, 4), "nan"),
    ("prod_all", lambda m, x: x.prod(), (3, 4), None),
    ("prod_dim", lambda m, x: m.prod(x, 1), (3, 4), None),
    ("prod_neg_keepdim", lambda m, x: x.prod(-2, keepdim=True), (2, 3, 4), None),
    ("prod_0d", lambda m, x: x.prod(), (), None),
    ("prod_empty", lambda m, x: x.prod(0), (0, 3), None),
    ("prod_dtype", lambda m, x: x.prod(0, dtype=m.float64), (3, 4), None),
    ("prod_all_one_zero", lambda m, x: x.prod(), (3, 4), "zero"),
    ("prod_all_zeros", lambda m, x: x.prod(), (3, 4), "zeros"),
    ("prod_dim_one_zero", lambda m, x: x.prod(1), (3, 4), "zero"),
    ("prod_dim_zeros", lambda m, x: x.prod(0), (6, 5), "zeros"),
    ("amax_all", lambda m, x: x.amax(), (3, 4), None),
    ("amax_tuple_ties", lambda m, x: x.amax((0, 2)), (2, 3, 4), "ties"),
    ("amax_keepdim_ties", lambda m, x: m.amax(x, -1, keepdim=True), (3, 5), "ties"),
    ("amin_ties", lambda m, x: x.amin(1), (3, 5), "ties"),
    ("amin_0d", lambda m, x: x.amin(), (), None),
    ("max_full_ties", lambda m, x: x.max(), (3, 4), "ties"),
    ("min_full_ties", lambda m, x: m.min(x), (3, 4), "ties"),
    ("max_full_nan", lambda m, x: x.max(), (3, 4), "nan"),
    ("aminmax", lambda m, x: m.aminmax(x, dim=1), (3, 5), None),
    ("max_dim", lambda m, x: x.max(1), (3, 4), None),
    ("max_dim_neg_keepdim", lambda m, x: m.max(x, -1, keepdim=True), (2, 3, 4), None),
    ("min_dim", lambda m, x: x.min(0), (3, 4), None),
    ("min_dim_keepdim", lambda m, x: x.min(1, keepdim=True), (3, 4), None),
    ("max_dim_0d", lambda m, x: x.max(0), (), None),
    ("var_all", lambda m, x: x.var(), (3, 4), None),
    ("var_dim", lambda m, x: m.var(x, 1), (3, 4), None),
    ("var_tuple_keepdim", lambda m, x: x.var((0, 2), keepdim=True), (2, 3, 4), None),
    ("var_correction0", lambda m, x: x.var(-1, correction=0), (3, 4), None),
    ("var_correction2", lambda m, x: m.var(x, 0, correction=2), (5, 3), None),
    ("var_unbiased_false", lambda m, x: x.var(False), (3, 4), None),
    ("var_single_element", lambda m, x: x.var(), (1,), None),
    ("std_all", lambda m, x: x.std(), (3, 4), None),
    ("std_tuple_keepdim", lambda m, x: m.std(x, (0, -1), keepdim=True), (2, 3, 4), None),
    ("std_correction0", lambda m, x: x.std(1, correction=0), (3, 4), None),
    ("std_constant_slice", lambda m, x: x.std(-1), (3, 4), "zero_rows"),
    ("var_mean", lambda m, x: m.var_mean(x, 1), (3, 4), None),
    ("std_mean", lambda m, x: m.std_mean(x, (0, 1), keepdim=True), (3, 4), None),
    ("norm_default", lambda m, x: x.norm(), (3, 4), None),
    ("norm_fro_dims", lambda m, x: m.norm(x, "fro", dim=(0, 1)), (3, 4), None),
    ("norm_2_dim_zero_vector", lambda m, x: x.norm(2, dim=-1), (3, 4), "zero_rows"),
    ("norm_1", lambda m, x: x.norm(1, dim=1), (3, 4), None),
    ("norm_inf_ties", lambda m, x: x.norm(math.inf, dim=1, keepdim=True), (3, 5), "ties"),
    ("norm_neg_inf", lambda m, x: x.norm(-math.inf, dim=0), (3, 4), None),
    ("norm_0", lambda m, x: x.norm(0), (3, 4), "zero"),
    ("norm_0_5", lambda m, x: x.norm(0.5, dim=(0, 1)), (3, 4), "zero"),
    ("norm_1_5_zero_vector", lambda m, x: x.norm(1.5, dim=-1), (3, 4), "zero_rows"),
    ("norm_3_zero_vector", lambda m, x: x.norm(3, dim=-1, keepdim=True), (3, 4), "zero_rows"),
    ("norm_neg_1", lambda m, x: x.norm(-1, dim=1), (3, 4), None),
    ("norm_dtype", lambda m, x: m.norm(x, 2, dim=1, dtype=m.float64), (3, 4), None),
    ("norm_0d", lambda m, x: x.norm(), (), None),
    ("norm_empty", lambda m, x: x.norm(dim=0), (0, 3), None),
    ("nuclear_norm", lambda m, x: m.norm(x, "nuc"), (3, 4), None),
    ("nuclear_norm_batched_keepdim", lambda m, x: m.norm(x, "nuc", dim=(2, 0), keepdim=True), (3, 2, 4), None),
    ("logsumexp_dim", lambda m, x: x.logsumexp(1), (3, 4), None),
    ("logsumexp_tuple_keepdim", lambda m, x: m.logsumexp(x, (0, 2), keepdim=True), (2, 3, 4), None),
    ("logsumexp_big", lambda m, x: x.logsumexp(-1), (3, 4), "big"),
    ("logsumexp_0d", lambda m, x: x.logsumexp(0), (), None),
    ("logsumexp_empty", lambda m, x: x.logsumexp(1), (0, 3), None),
    ("softmax_dim", lambda m, x: x.softmax(1), (3, 4), None),
    ("softmax_neg", lambda m, x: m.softmax(x, -2), (2, 3, 4), None),
    ("softmax_big", lambda m, x: x.softmax(-1), (3, 4), "big"),
    ("softmax_dtype", lambda m, x: m.softmax(x, 0, dtype=m.float64), (3, 4), None),
    ("softmax_0d", lambda m, x: x.softmax(0), (), None),
    ("log_softmax_dim", lambda m, x: x.log_softmax(0), (3, 4), None),
    ("log_softmax_neg", lambda m, x: m.log_softmax(x, -1), (2, 3, 4), None),
    ("log_softmax_big", lambda m, x: x.log_softmax(1), (3, 4), "big"),
    ("log_softmax_0d", lambda m, x: x.log_softmax(-1), (), None),
    ("cumsum_dim", lambda m, x: x.cumsum(1), (3, 4), None),
    ("cumsum_neg", lambda m, x: m.cumsum(x, -3), (2, 3, 4), None),
    ("cumsum_dtype", lambda m, x: x.cumsum(0, dtype=m.float64), (3, 4), None),
    ("cumsum_0d", lambda m, x: x.cumsum(0), (), None),
    ("cumsum_empty", lambda m, x: x.cumsum(0), (0, 3), None),
    ("cumprod_dim", lambda m, x: x.cumprod(1), (3, 5), None),
    ("cumprod_neg", lambda m, x: m.cumprod(x, -2), (2, 4, 3), None),
    ("cumprod_one_zero", lambda m, x: x.cumprod(1), (3, 5), "zero"),
    ("cumprod_zeros", lambda m, x: x.cumprod(0), (6, 5), "zeros"),
    ("cumprod_size_one_dim", lambda m, x: x.cumprod(0), (1, 4), None),
    ("cumprod_0d", lambda m, x: x.cumprod(0), (), None),
    ("cumprod_empty", lambda m, x: x.cumprod(1), (0, 3), None),
]


def _run(case, dtype: ember.dtype, noncontiguous: bool) -> None:
    _, fn, shape, special = case
    e, t = inputs(shape, dtype, special=special, noncontiguous=noncontiguous)
    e_outs, t_outs = _float_outputs(fn(ember, e)), _float_outputs(fn(torch, t))
    rng = np.random.default_rng(1)
    seeds = [rng.uniform(-1, 1, size=tuple(o.shape)).astype(o.dtype.np_dtype) for o in e_outs]
    torch.autograd.backward(t_outs, [torch.from_numpy(s.copy()) for s in seeds])
    ember.autograd.backward(e_outs, [ember.from_numpy(s) for s in seeds])
    if t.grad is None:
        assert e.grad is None
    else:
        assert e.grad is not None
        assert_close(e.grad, t.grad, rtol=1e-4 if dtype is ember.float32 else None)


@pytest.mark.filterwarnings("ignore:.*degrees of freedom is <= 0")
@pytest.mark.parametrize("dtype", [ember.float32, ember.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_grad_matches_torch(case, dtype):
    _run(case, dtype, noncontiguous=False)


@pytest.mark.parametrize("case", [c for c in CASES if len(c[2]) > 1 and 0 not in c[2]], ids=lambda c: c[0])
def test_grad_matches_torch_noncontiguous(case):
    _run(case, ember.float32, noncontiguous=True)


def test_max_dim_indices_have_no_grad_and_values_route_to_them():
    x = ember.tensor([[1.0, 5.0, 5.0], [7.0, 2.0, 7.0]], requires_grad=True)
    values, indices = x.max(1)
    assert values.requires_grad and not indices.requires_grad
    values.backward(ember.tensor([2.0, 3.0]))
    # The first maximum is the selected one, and it alone gets the gradient.
    assert x.grad.tolist() == [[0.0, 2.0, 0.0], [3.0, 0.0, 0.0]]


def test_max_dim_values_may_change_in_place_before_backward():
    # The formula reads only the indices, so (as in PyTorch) editing the values in place is allowed...
    x = ember.tensor([[1.0, 5.0], [7.0, 2.0]], requires_grad=True)
    values, indices = x.min(1)
    values.mul_(2)
    values.sum().backward()
    assert x.grad.tolist() == [[2.0, 0.0], [0.0, 2.0]]
    # ...while editing the indices is caught.
    values, indices = x.max(0)
    indices.zero_()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        values.sum().backward()


def test_prod_with_zeros_exact_values():
    x = ember.tensor([[2.0, 0.0, 3.0], [0.0, 4.0, 0.0], [1.0, 2.0, 3.0]], requires_grad=True)
    x.prod(1).sum().backward()
    assert x.grad.tolist() == [[0.0, 6.0, 0.0], [0.0, 0.0, 0.0], [6.0, 3.0, 2.0]]


def test_cumprod_with_zeros_builds_a_differentiable_graph():
    # Under create_graph the exact O(n^2) formula runs; its values match the O(n) one used otherwise.
    values = [[2.0, 0.0, 3.0, 0.5], [1.5, -2.0, 0.0, 4.0]]
    x = ember.tensor(values, dtype=ember.float64, requires_grad=True)
    upstream = ember.tensor([[1.0, -1.0, 2.0, 0.5], [0.25, 1.0, -3.0, 2.0]], dtype=ember.float64)
    (first,) = ember.autograd.grad(x.cumprod(1), [x], upstream, create_graph=True)
    (plain,) = ember.autograd.grad(x.cumprod(1), [x], upstream)
    t = torch.tensor(values, dtype=torch.float64, requires_grad=True)
    (expected,) = torch.autograd.grad(t.cumprod(1), [t], torch.from_numpy(upstream.numpy().copy()),
                                      create_graph=True)
    assert first.requires_grad and not plain.requires_grad
    assert_close(first, expected)
    assert_close(plain, expected)
    (second,) = ember.autograd.grad(first.sum(), [x])
    (expected_second,) = torch.autograd.grad(expected.sum(), [t])
    assert_close(second, expected_second)


def _leaf(shape, special=None, seed=0):
    return inputs(shape, ember.float64, special=special, seed=seed)[0]


# gradcheck away from the non-differentiable points: no ties for extrema, no zeros for |x|-based norms.
GRADCHECK = [
    ("sum", lambda x: x.sum((0, 2)), (2, 3, 2), None),
    ("nansum", lambda x: x.nansum(1), (3, 4), "nan"),
    ("mean", lambda x: x.mean(-1, keepdim=True), (3, 4), None),
    ("nanmean", lambda x: x.nanmean(), (3, 4), "nan"),
    ("prod", lambda x: x.prod(1), (3, 4), None),
    ("prod_one_zero", lambda x: x.prod(), (2, 3), "zero"),
    ("prod_zeros", lambda x: x.prod(0), (4, 3), "zeros"),
    ("amax", lambda x: x.amax((0, 1)), (3, 4), None),
    ("amin", lambda x: x.amin(1, keepdim=True), (3, 4), None),
    ("max_dim", lambda x: x.max(1)[0], (3, 4), None),
    ("min_dim", lambda x: x.min(-1, keepdim=True)[0], (3, 4), None),
    ("var", lambda x: x.var((0, 2)), (2, 3, 2), None),
    ("std", lambda x: x.std(1, correction=0), (3, 4), None),
    ("norm_2", lambda x: x.norm(dim=1), (3, 4), None),
    ("norm_1", lambda x: x.norm(1), (3, 4), "away_from_zero"),
    ("norm_inf", lambda x: x.norm(math.inf, dim=0), (3, 4), None),
    ("norm_0_5", lambda x: x.norm(0.5, dim=1), (3, 4), "away_from_zero"),
    ("norm_1_5", lambda x: x.norm(1.5), (3, 4), "away_from_zero"),
    ("norm_3", lambda x: x.norm(3, dim=1, keepdim=True), (3, 4), None),
    ("nuclear_norm", lambda x: x.norm("nuc"), (3, 4), None),
    ("logsumexp", lambda x: x.logsumexp((0, 1)), (3, 4), None),
    ("softmax", lambda x: x.softmax(1), (3, 4), None),
    ("log_softmax", lambda x: x.log_softmax(0), (3, 4), None),
    ("cumsum", lambda x: x.cumsum(1), (3, 4), None),
    ("cumprod", lambda x: x.cumprod(1), (3, 4), None),
    ("cumprod_zeros", lambda x: x.cumprod(0), (5, 3), "zeros"),
]


@pytest.mark.parametrize("case", GRADCHECK, ids=[c[0] for c in GRADCHECK])
def test_gradcheck(case):
    _, fn, shape, special = case
    assert gradcheck(fn, (_leaf(shape, special),))


GRADGRADCHECK = [
    ("sum", lambda x: x.sum(1), (3, 4), None),
    ("mean", lambda x: x.mean((0, 1), keepdim=True), (3, 4), None),
    ("nanmean", lambda x: x.nanmean(1), (3, 4), "nan"),
    ("prod", lambda x: x.prod(1), (3, 4), None),
    ("prod_zeros", lambda x: x.prod(0), (4, 3), "zeros"),
    ("amax", lambda x: x.amax(1), (3, 4), None),
    ("max_dim", lambda x: x.max(0)[0], (3, 4), None),
    ("var", lambda x: x.var(1), (3, 4), None),
    ("var_all", lambda x: x.var(correction=0), (3, 4), None),
    ("std", lambda x: x.std((0, 1)), (3, 4), None),
    ("norm_2", lambda x: x.norm(dim=1), (3, 4), None),
    ("norm_1_5", lambda x: x.norm(1.5, dim=0), (3, 4), "away_from_zero"),
    ("norm_3", lambda x: x.norm(3), (3, 4), None),
    ("norm_inf", lambda x: x.norm(math.inf, dim=1), (3, 4), None),
    ("logsumexp", lambda x: x.logsumexp(1), (3, 4), None),
    ("softmax", lambda x: x.softmax(1), (3, 4), None),
    ("log_softmax", lambda x: x.log_softmax(-1), (3, 4), None),
    ("cumsum", lambda x: x.cumsum(0), (3, 4), None),
    ("cumprod", lambda x: x.cumprod(1), (3, 4), None),
    ("cumprod_zeros", lambda x: x.cumprod(0), (5, 3), "zeros"),
]


@pytest.mark.parametrize("case", GRADGRADCHECK, ids=[c[0] for c in GRADGRADCHECK])
def test_gradgradcheck(case):
    _, fn, shape, special = case
    assert gradgradcheck(fn, (_leaf(shape, special),))


def test_nuclear_norm_has_no_second_derivative():
    x = _leaf((3, 3))
    (g,) = ember.autograd.grad(x.norm("nuc"), [x], create_graph=True)
    with pytest.raises(RuntimeError, match="the derivative for 'nuclear_norm_backward' is not implemented"):
        g.sum().backward()
