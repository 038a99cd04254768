"""PyTorch as the test oracle: conversions both ways and comparisons of results.

Tests import torch through ``torch = oracle.torch``; it is in the ``dev`` extra, so the suite always has it
in CI. Nothing in ``ember`` imports torch.
"""

from __future__ import annotations

import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")
# The oracle's answers do not depend on its thread count, but its speed does: on CI's 2 cores, torch's thread
# pool competes with pytest and the ember kernels, and single-threaded torch runs the suite faster.
torch.set_num_threads(1)

DTYPES = {
    ember.bool: torch.bool,
    ember.uint8: torch.uint8,
    ember.int8: torch.int8,
    ember.int16: torch.int16,
    ember.int32: torch.int32,
    ember.int64: torch.int64,
    ember.float16: torch.float16,
    ember.bfloat16: torch.bfloat16,
    ember.float32: torch.float32,
    ember.float64: torch.float64,
}
TORCH_TO_EMBER = {v: k for k, v in DTYPES.items()}

FLOAT_DTYPES = [ember.float16, ember.bfloat16, ember.float32, ember.float64]
INT_DTYPES = [ember.uint8, ember.int8, ember.int16, ember.int32, ember.int64]
ALL_DTYPES = [ember.bool, *INT_DTYPES, *FLOAT_DTYPES]

# Relative/absolute tolerances per dtype for values computed by different libraries.
TOLERANCES = {
    ember.float16: (1e-2, 1e-3),
    ember.bfloat16: (2e-2, 1e-2),
    ember.float32: (1e-5, 1e-6),
    ember.float64: (1e-10, 1e-12),
}


def to_torch(t: ember.Tensor) -> torch.Tensor:
    """A torch tensor with the same values, dtype and shape (a copy)."""
    arr = np.array(t.numpy())
    if t.dtype is ember.bfloat16:
        return torch.from_numpy(arr.astype(np.float32)).to(torch.bfloat16)
    return torch.from_numpy(arr)


def from_torch(t: torch.Tensor) -> ember.Tensor:
    """An ember tensor with the same values, dtype and shape (a copy)."""
    if t.dtype is torch.bfloat16:
        return ember.tensor(t.float().numpy()).to(ember.bfloat16)
    return ember.tensor(t.detach().numpy().copy())


def random_array(shape: tuple, dtype: ember.dtype, rng: np.random.Generator, low: float = -3, high: float = 3):
    """Random values for ``dtype``: uniform floats, integers in range, coin-flip bools."""
    if dtype is ember.bool:
        return rng.random(shape) < 0.5
    if dtype.is_floating_point:
        return rng.uniform(low, high, size=shape).astype(np.float32 if dtype is ember.bfloat16 else dtype.np_dtype)
    lo = 0 if dtype is ember.uint8 else max(int(low), -100)
    return rng.integers(lo, max(int(high), lo + 1) + 1, size=shape).astype(dtype.np_dtype)


def pair(shape: tuple, dtype: ember.dtype = ember.float32, *, seed: int = 0, noncontiguous: bool = False,
         low: float = -3, high: float = 3) -> tuple[ember.Tensor, torch.Tensor]:
    """The same random tensor in ember and in torch; ``noncontiguous`` gives a strided view of a bigger one."""
    rng = np.random.default_rng(seed)
    if noncontiguous and len(shape) > 0:
        # Every other element of a twice-as-wide array: a real strided view sharing the wide array's memory.
        wide = random_array(tuple(shape[:-1]) + (shape[-1] * 2,), dtype, rng, low, high).astype(dtype.np_dtype)
        e = ember.from_numpy(wide[..., ::2])
        assert not e.is_contiguous() or shape[-1] <= 1 or 0 in shape
    else:
        # np.asarray: random draws of shape () come back as NumPy scalars, not 0-d arrays.
        e = ember.from_numpy(np.asarray(random_array(tuple(shape), dtype, rng, low, high)).astype(dtype.np_dtype))
    return e, to_torch(e)


def assert_close(actual, expected, *, rtol: float | None = None, atol: float | None = None,
                 check_dtype: bool = True, equal_nan: bool = True) -> None:
    """Compare an ember result (tensor, tuple/list of them, or number) with torch's."""
    if isinstance(expected, tuple | list):
        assert isinstance(actual, tuple | list), f"expected a sequence, got {type(actual).__name__}"
        assert len(actual) == len(expected), f"{len(actual)} results != {len(expected)}"
        for a, e in zip(actual, expected, strict=True):
            assert_close(a, e, rtol=rtol, atol=atol, check_dtype=check_dtype, equal_nan=equal_nan)
        return
    if not isinstance(expected, torch.Tensor):
        if isinstance(actual, ember.Tensor):
            actual = actual.item()
        np.testing.assert_allclose(actual, expected, rtol=rtol or 1e-6, atol=atol or 0)
        return
    assert isinstance(actual, ember.Tensor), f"expected an ember.Tensor, got {type(actual).__name__}"
    assert tuple(actual.shape) == tuple(expected.shape), f"shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    if check_dtype:
        assert DTYPES[actual.dtype] == expected.dtype, f"dtype {actual.dtype} != {expected.dtype}"
    a = np.asarray(actual.numpy(), dtype=np.float64 if actual.dtype.is_floating_point else None)
    e = expected.detach().to(torch.float64).numpy() if expected.dtype.is_floating_point else expected.numpy()
    if not actual.dtype.is_floating_point and not expected.dtype.is_floating_point:
        np.testing.assert_array_equal(a, e)
        return
    default_rtol, default_atol = TOLERANCES.get(actual.dtype, (1e-5, 1e-6))
    np.testing.assert_allclose(a, e, rtol=rtol if rtol is not None else default_rtol,
                               atol=atol if atol is not None else default_atol, equal_nan=equal_nan)


def compare(ember_call, torch_call, **close) -> None:
    """Run both; when torch raises, ember must raise the same exception type, else the results must match."""
    try:
        expected = torch_call()
    except Exception as exc:  # noqa: BLE001 - any torch refusal must be mirrored
        with pytest.raises(type(exc)):
            ember_call()
        return
    assert_close(ember_call(), expected, **close)


def as_float64(t: ember.Tensor) -> np.ndarray:
    """A tensor's values as a float64 NumPy array, for statistics."""
    return np.asarray(t.numpy(), dtype=np.float64)
