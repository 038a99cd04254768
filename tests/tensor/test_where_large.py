"""``where`` on arrays large enough for its bitwise select (4096 elements and up): bit-exact against NumPy's
``where`` for every dtype, with NaN payloads, signed zeros, broadcasting and the zero-filling fast path."""

from __future__ import annotations

import numpy as np
import pytest

import ember
from tests.oracle import ALL_DTYPES, DTYPES, TORCH_TO_EMBER, torch


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
def test_large_where_is_bit_exact(dtype):
    rng = np.random.default_rng(0)
    condition = rng.random((64, 100)) < 0.5
    a = torch.tensor(rng.standard_normal((64, 100)) * 50).to(DTYPES[dtype])
    b = torch.tensor(rng.standard_normal((1, 100)) * 50).to(DTYPES[dtype])
    if dtype.is_floating_point:
        a[0, :4] = torch.tensor([float("nan"), -0.0, float("inf"), -float("inf")])
    mine = ember.where(ember.tensor(condition), ember.tensor(a.numpy()) if dtype is not ember.bfloat16 else
                       ember.tensor(a.float().numpy()).to(dtype), 0)
    ref = torch.where(torch.tensor(condition), a, 0)
    assert mine.dtype is TORCH_TO_EMBER[ref.dtype]
    np.testing.assert_array_equal(np.asarray(mine.to(ember.float64).numpy()).view(np.uint64),
                                  ref.double().numpy().view(np.uint64))
    if dtype is ember.float32:
        e_a, e_b = ember.tensor(a.numpy()), ember.tensor(b.numpy())
        for x, y in ((e_a, e_b), (0.0, e_b), (-0.0, e_a), (e_a, 1.5), (1.5, 0.0), (0.0, 2.5)):
            got = ember.where(ember.tensor(condition), x, y).numpy()
            want = np.where(condition, x.numpy() if isinstance(x, ember.Tensor) else np.float32(x),
                            y.numpy() if isinstance(y, ember.Tensor) else np.float32(y))
            np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))
