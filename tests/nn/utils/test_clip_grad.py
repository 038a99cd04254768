"""ember.nn.utils gradient clipping against torch.nn.utils on the same gradients: the returned total norm and the
clipped gradients for p-norms 2, 1, inf and others, maximum norms above and below the total, a single tensor,
parameters without gradients, non-finite norms, clip_grad_value_, get_total_norm and clip_grads_with_norm_."""

from __future__ import annotations

import warnings

import pytest

import ember
import ember.nn as nn
from tests.oracle import assert_close, pair, torch

SHAPES = [(4, 3), (5,), (2, 3, 2), ()]


def _params(dtype=ember.float32, with_grad=(True, True, True, True), scale=1.0):
    """The same parameters with the same gradients in both libraries (None where ``with_grad`` is False)."""
    e_params, t_params = [], []
    for i, (shape, has_grad) in enumerate(zip(SHAPES, with_grad, strict=True)):
        e, t = pair(shape, dtype, seed=i)
        e_p, t_p = nn.Parameter(e), torch.nn.Parameter(t)
        if has_grad:
            g_e, g_t = pair(shape, dtype, seed=10 + i, low=-scale, high=scale)
            e_p.grad, t_p.grad = g_e, g_t
        e_params.append(e_p)
        t_params.append(t_p)
    return e_params, t_params


def _assert_same_grads(e_params, t_params):
    for e_p, t_p in zip(e_params, t_params, strict=True):
        if t_p.grad is None:
            assert e_p.grad is None
        else:
            assert_close(e_p.grad, t_p.grad)


@pytest.mark.parametrize("dtype", [ember.float32, ember.float64])
@pytest.mark.parametrize("norm_type", [2, 2.0, 1, float("inf"), "inf", 0.5, 3])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_matches_torch(max_norm, norm_type, dtype):
    e_params, t_params = _params(dtype, scale=2.0)
    e_norm = nn.utils.clip_grad_norm_(e_params, max_norm, norm_type)
    t_norm = torch.nn.utils.clip_grad_norm_(t_params, max_norm, norm_type)
    assert_close(e_norm, t_norm)
    _assert_same_grads(e_params, t_params)
    clipped = nn.utils.get_total_norm([p.grad for p in e_params], norm_type)
    assert float(clipped) <= max_norm + 1e-4 or max_norm > float(e_norm)


def test_clip_grad_norm_with_a_generator_a_tensor_and_missing_grads():
    e_params, t_params = _params(with_grad=(True, False, True, False))
    module = nn.Linear(2, 2)
    e_norm = nn.utils.clip_grad_norm_((p for p in e_params), 0.1, foreach=True)
    assert_close(e_norm, torch.nn.utils.clip_grad_norm_((p for p in t_params), 0.1, foreach=True))
    _assert_same_grads(e_params, t_params)
    e_single, t_single = _params()
    assert_close(nn.utils.clip_grad_norm_(e_single[0], 0.2, norm_type=1),
                 torch.nn.utils.clip_grad_norm_(t_single[0], 0.2, norm_type=1))
    _assert_same_grads(e_single, t_single)
    assert_close(nn.utils.clip_grad_norm_(module.parameters(), 1.0), torch.tensor(0.0))


def test_no_gradients_give_a_zero_norm():
    e_params, t_params = _params(with_grad=(False,) * 4)
    assert_close(nn.utils.clip_grad_norm_(e_params, 1.0), torch.nn.utils.clip_grad_norm_(t_params, 1.0))
    assert_close(nn.utils.clip_grad_norm_([], 1.0), torch.nn.utils.clip_grad_norm_([], 1.0))
    with pytest.warns(UserWarning, match="`parameters` is an empty generator, no gradient clipping will occur."):
        nn.utils.clip_grad_norm_((p for p in []), 1.0)


@pytest.mark.parametrize("bad", [float("inf"), float("nan")])
@pytest.mark.parametrize("norm_type", [2.0, 1.0, float("inf")])
def test_non_finite_norm(bad, norm_type):
    e_params, t_params = _params()
    e_params[1].grad[2] = bad
    t_params[1].grad[2] = bad
    message = (f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so it cannot be "
               "clipped. To disable this error and scale the gradients by the non-finite norm anyway, set "
               "`error_if_nonfinite=False`")
    for lib, params in ((torch, t_params), (ember, e_params)):
        with pytest.raises(RuntimeError, match=message.replace("(", r"\(").replace(")", r"\)")):
            lib.nn.utils.clip_grad_norm_(params, 1.0, norm_type, error_if_nonfinite=True)
    # Nothing was clipped by the refused call; without the check, the gradients are scaled as torch scales them.
    _assert_same_grads(e_params, t_params)
    assert_close(nn.utils.clip_grad_norm_(e_params, 1.0, norm_type),
                 torch.nn.utils.clip_grad_norm_(t_params, 1.0, norm_type))
    _assert_same_grads(e_params, t_params)


@pytest.mark.parametrize("clip_value", [0.3, 1, 10.0])
def test_clip_grad_value_matches_torch(clip_value):
    e_params, t_params = _params(with_grad=(True, True, False, True), scale=2.0)
    assert nn.utils.clip_grad_value_(e_params, clip_value) is None
    torch.nn.utils.clip_grad_value_(t_params, clip_value)
    _assert_same_grads(e_params, t_params)
    e_single, t_single = _params(scale=2.0)
    nn.utils.clip_grad_value_(e_single[0], clip_value, foreach=False)
    torch.nn.utils.clip_grad_value_(t_single[0], clip_value, foreach=False)
    _assert_same_grads(e_single, t_single)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, float("inf")])
def test_get_total_norm_and_clip_grads_with_norm_match_torch(norm_type):
    e_params, t_params = _params(dtype=ember.float64, scale=3.0)
    e_norm = nn.utils.get_total_norm([p.grad for p in e_params], norm_type)
    t_norm = torch.nn.utils.get_total_norm([p.grad for p in t_params], norm_type)
    assert_close(e_norm, t_norm)
    assert_close(nn.utils.get_total_norm(e_params[0].grad, norm_type),
                 torch.nn.utils.get_total_norm(t_params[0].grad, norm_type))
    nn.utils.clip_grads_with_norm_(e_params, 0.7, e_norm)
    torch.nn.utils.clip_grads_with_norm_(t_params, 0.7, t_norm)
    _assert_same_grads(e_params, t_params)
    assert_close(nn.utils.get_total_norm([]), torch.nn.utils.get_total_norm([]))


def test_clipping_records_no_history_and_keeps_grads_in_place():
    lin = nn.Linear(3, 2)
    lin(ember.randn(4, 3)).sum().mul(100).backward()
    grads = [p.grad for p in lin.parameters()]
    with ember.enable_grad():
        norm = nn.utils.clip_grad_norm_(lin.parameters(), 0.01)
    assert norm.grad_fn is None and not norm.requires_grad
    assert all(p.grad is g and g.grad_fn is None for p, g in zip(lin.parameters(), grads, strict=True))
    assert float(nn.utils.get_total_norm(grads)) == pytest.approx(0.01, rel=1e-4)


def test_deprecated_clip_grad_norm_warns():
    e_params, t_params = _params()
    with pytest.warns(FutureWarning, match="`torch.nn.utils.clip_grad_norm` is now deprecated in favor of"):
        e_norm = nn.utils.clip_grad_norm(e_params, 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        assert_close(e_norm, torch.nn.utils.clip_grad_norm(t_params, 0.5))
    _assert_same_grads(e_params, t_params)
