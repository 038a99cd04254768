"""The fused optimizer update primitives: version counters, reduced precision against torch, state checks.
(Their float32/float64 trajectories are test_optimizers.py's.)"""

from __future__ import annotations

import numpy as np
import pytest

import ember
from ember.optim.update_kernels import adam_step_
from tests.oracle import from_torch, torch

CASES = [("Adam", {"lr": 0.01, "weight_decay": 0.1}), ("AdamW", {"amsgrad": True, "maximize": True}),
         ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}), ("SGD", {"lr": 0.1, "momentum": 0.5,
                                                                          "dampening": 0.3, "weight_decay": 0.1})]


@pytest.mark.parametrize("dtype", [ember.float16, ember.bfloat16])
@pytest.mark.parametrize("case", CASES, ids=[f"{name}-{i}" for i, (name, _) in enumerate(CASES)])
def test_reduced_precision_follows_torch(case, dtype):
    name, kwargs = case
    rng = np.random.default_rng(0)
    start = torch.tensor(rng.uniform(-1, 1, 40), dtype=torch.float16 if dtype is ember.float16 else torch.bfloat16)
    pt = start.clone().requires_grad_()
    pe = from_torch(start).requires_grad_()
    opt_t, opt_e = getattr(torch.optim, name)([pt], **kwargs), getattr(ember.optim, name)([pe], **kwargs)
    for _ in range(10):
        g = torch.tensor(rng.uniform(-1, 1, 40), dtype=start.dtype)
        pt.grad, pe.grad = g, from_torch(g)
        opt_t.step()
        opt_e.step()
    mine, ref = pe.detach().to(ember.float32).numpy(), pt.detach().float().numpy()
    # Ulp-level differences only (torch rounds a few fused products once where NumPy rounds twice), and the
    # same infinities: eps underflows in float16, so torch's update divides by zero where the moments do.
    np.testing.assert_array_equal(np.isfinite(mine), np.isfinite(ref))
    finite = np.isfinite(ref)
    np.testing.assert_allclose(mine[finite], ref[finite], rtol=2e-2, atol=2e-2)
    assert pe.dtype is dtype


def test_every_written_tensor_gets_a_new_version():
    p = ember.zeros(3, requires_grad=True)
    p.grad = ember.ones(3)
    for opt in (ember.optim.Adam([p], amsgrad=True), ember.optim.SGD([p], lr=0.1, momentum=0.9)):
        opt.step()
        state = list(opt.state[p].values())
        versions = [t._version for t in (p, *state)]
        opt.step()
        assert all(t._version > v for t, v in zip((p, *state), versions, strict=True))


def test_state_of_another_shape_is_refused():
    p = ember.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"optimizer state of shape \[2\] does not match the parameter's shape "
                                           r"\[3\]"):
        adam_step_(p, ember.ones(3), ember.zeros(2), ember.zeros(3), None, ember.tensor(0.0), lr=0.1, beta1=0.9,
                   beta2=0.99, eps=1e-8, weight_decay=0.0, decoupled=False, maximize=False)
