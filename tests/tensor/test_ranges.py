"""arange, linspace, logspace and eye against PyTorch: counts, values, dtypes and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import ember
from ember.tensor.dispatch import add_dispatch_hook
from tests.oracle import ALL_DTYPES, DTYPES, FLOAT_DTYPES, INT_DTYPES, assert_close, torch
from tests.tensor.error_oracle import assert_same_error

INF, NAN = math.inf, math.nan


def kw_pair(kwargs: dict) -> tuple[dict, dict]:
    """The same keyword arguments for ember and for torch (dtypes translated)."""
    t_kwargs = {k: DTYPES[v] if isinstance(v, ember.dtype) else v for k, v in kwargs.items()}
    return kwargs, t_kwargs


def assert_exact(e: ember.Tensor, t) -> None:
    assert_close(e, t, rtol=0, atol=0)


def assert_same_outcome(e_call, t_call) -> None:
    """The same values when torch succeeds, the same error type and message when it raises."""
    try:
        expected = t_call()
    except (RuntimeError, TypeError, ValueError, NotImplementedError, OverflowError):
        assert_same_error(e_call, t_call)
        return
    assert_exact(e_call(), expected)


# ----- arange ---------------------------------------------------------------------------------------------
I64, I32, I16, U8 = ({"dtype": d} for d in (ember.int64, ember.int32, ember.int16, ember.uint8))
F16, F32 = {"dtype": ember.float16}, {"dtype": ember.float32}
ARANGE_CASES = [
    ((5,), {}), ((0,), {}), ((2, 9), {}), ((2, 9, 3), {}), ((10, 0, -3), {}), ((-4, 4, 2), {}),
    ((0, 1, 0.1), {}), ((1, 0, -0.3), {}), ((0.5, 5.7), {}), ((-1.0, -0.5, 0.1), {}), ((0, 10, 2.5), {}),
    ((3.0,), {}), ((1, 2.5, 0.5), {}), ((-3.3, 5.2, 0.7), {}), ((0, 1e6, 1e4), {}), ((0, 0), {}), ((0.0, 0, -1), {}),
    ((True, 5), {}), ((0, 2**62, 2**61), {}), ((2**62, 2**63 - 1, 2**61), {}), ((1, 2**53 + 5, 2**52), {}),
    ((), {"end": 4}), ((), {"start": 1, "end": 4}), ((1, 10), {"step": 3}),
    ((0, 10, 2.5), I64), ((0.5, 5.7, 1), I64), ((0.5, 5.7, 1), I32), ((-3.5, 3), I64), ((-3.5, 3, 1.5), I64),
    ((5, 0.7, -1.5), I64), ((5, 0.7, -1.5), I32), ((0, 1, 0.3), I16), ((0.5, 0.7), I64), ((0.5, 0.7), I32),
    ((0, 300), U8), ((-3, 3), U8), ((0, 2**40, 2**39), I32), ((2.0,), I32), ((0, 70000, 10000), F16),
    ((0, 1e6, 1e5), F16), ((0, 1e39, 1e38), F32),
]


@pytest.mark.parametrize("args, kwargs", ARANGE_CASES, ids=lambda v: str(v))
def test_arange(args, kwargs):
    e_kwargs, t_kwargs = kw_pair(kwargs)
    assert_close(ember.arange(*args, **e_kwargs), torch.arange(*args, **t_kwargs))


@pytest.mark.parametrize("dtype", [d for d in ALL_DTYPES if d is not ember.bool], ids=str)
@pytest.mark.parametrize("args", [(7,), (1, 20, 3), (2.5, 9.1, 1.35), (30, 2, -4), (-8.0, 8.0, 1.5)], ids=str)
def test_arange_dtypes(dtype, args):
    assert_close(ember.arange(*args, dtype=dtype), torch.arange(*args, dtype=DTYPES[dtype]))


@pytest.mark.parametrize("start, end, step", [(0.0, 1.0, 0.1), (0.0, 0.3, 0.1), (1.0, 2.0, 1 / 3), (-1.0, 1.0, 0.2),
                                              (0.0, 1.0, 1e-7), (10.0, 9.0, -0.1), (0.1, 0.7, 0.2)])
def test_arange_count_uses_double_rounding(start, end, step):
    assert ember.arange(start, end, step).shape == torch.arange(start, end, step).shape
    assert ember.arange(start, end, step, dtype=ember.float64).numel() == math.ceil((end - start) / step)


def test_arange_default_dtype_and_tensor_bounds():
    ember.set_default_dtype(ember.float64)
    assert ember.arange(0.0, 2).dtype is ember.float64
    assert ember.arange(3).dtype is ember.int64
    assert_close(ember.arange(ember.tensor(3.5)), torch.arange(torch.tensor(3.5), dtype=torch.float64))
    assert_close(ember.arange(ember.tensor(3)), torch.arange(torch.tensor(3)))
    assert_close(ember.arange(np.int64(2), np.float32(4.5)), torch.arange(2, 4.5, dtype=torch.float64))


ARANGE_ERRORS = [
    ((5, 0), {}), ((0, 5, 0), {}), ((0, 5, 0.0), {}), ((0, INF), {}), ((0, NAN), {}), ((-INF, 0), {}),
    ((0, 1, NAN), {}), ((0, 1e20, 1), {}), ((0, 1e20, 1), I64), ((-5,), I64), ((0, 1, 0.3), I64),
    ((0, 1.5, 0.3), I64), ((5,), {"dtype": ember.bool}), ((0, 2, INF), I32), ((0, 1e20, 1e19), U8),
    ((1e39, 1e40, 1e39), F16), ((4611686018427387904, -1, 4611686018427387904), I64),
    (("a",), {}), ((0, 2**64), {}),
]


@pytest.mark.parametrize("args, kwargs", ARANGE_ERRORS, ids=lambda v: str(v))
def test_arange_errors(args, kwargs):
    e_kwargs, t_kwargs = kw_pair(kwargs)
    assert_same_error(lambda: ember.arange(*args, **e_kwargs), lambda: torch.arange(*args, **t_kwargs))


@pytest.mark.parametrize("args, name", [((0, "b"), "'end' \\(position 2\\) must be Number, not str"),
                                        ((0, 1, [2]), "'step' \\(position 3\\) must be Number, not list"),
                                        ((0, ember.tensor([3, 4])),
                                         "'end' \\(position 2\\) must be Number, not Tensor")], ids=str)
def test_arange_argument_types(args, name):
    # With several arguments PyTorch's parser lists every overload; ember names the argument at fault.
    with pytest.raises(TypeError, match=f"arange\\(\\): argument {name}"):
        ember.arange(*args)
    with pytest.raises(TypeError):
        torch.arange(*(torch.tensor(a.tolist()) if isinstance(a, ember.Tensor) else a for a in args))
    assert_same_error(lambda: ember.arange(ember.tensor([3])), lambda: torch.arange(torch.tensor([3])))


# ----- linspace and logspace ------------------------------------------------------------------------------
SPACE_CASES = [(0, 1, 5), (-1, 1, 5), (0, 10, 4), (3, 10, 1), (0, 10, 0), (5, 5, 3), (1, 0, 11), (-3.3, 5.2, 7),
               (0.1, 0.7, 100), (-571, 185, 241), (2, -17.5, 2), (0.7, 5.9, 5), (-0.7, 5.9, 5), (0, 1, 1000),
               (1e-3, 1e3, 33), (0, INF, 3), (0, NAN, 3), (-0.0, 0.0, 4)]


@pytest.mark.parametrize("dtype", [None, *[d for d in ALL_DTYPES if d is not ember.bool]], ids=str)
@pytest.mark.parametrize("start, end, steps", SPACE_CASES, ids=str)
def test_linspace(start, end, steps, dtype):
    e_kwargs, t_kwargs = kw_pair({} if dtype is None else {"dtype": dtype})
    call = (start, end, steps)
    assert_same_outcome(lambda: ember.linspace(*call, **e_kwargs), lambda: torch.linspace(*call, **t_kwargs))


@pytest.mark.parametrize("dtype", [None, *[d for d in ALL_DTYPES if d is not ember.bool]], ids=str)
@pytest.mark.parametrize("start, end, steps, base", [(0, 3, 4, 10.0), (0, 3, 4, 2.0), (-1, 2, 4, 10.0), (0, 2, 3, 10.0),
                                                     (0.5, 2.5, 3, 10.0), (0, 3, 4, -2.0), (0, 3, 4, 0.5),
                                                     (-2.3, 1.9, 57, 2.5), (0, 3, 1, 2.0), (0.5, 3, 1, 2.0),
                                                     (0, 3, 0, 2.0), (0, 10, 3, 10.0), (0, 400, 3, 10.0),
                                                     (-3.5, 5, 1, 10.0), (3, 5, 1, 10.0), (40, 5, 1, 10.0)], ids=str)
def test_logspace(start, end, steps, base, dtype):
    e_kwargs, t_kwargs = kw_pair({} if dtype is None else {"dtype": dtype})
    call = (start, end, steps, base)
    if dtype in (ember.int16, ember.int32, ember.int64) and (start, end) == (0, 400):
        # Overflowing float-to-int conversions are undefined in C: only the in-range first value is compared.
        assert ember.logspace(*call, **e_kwargs).tolist()[0] == torch.logspace(*call, **t_kwargs).tolist()[0] == 1
        return
    assert_same_outcome(lambda: ember.logspace(*call, **e_kwargs), lambda: torch.logspace(*call, **t_kwargs))


def test_space_bounds_from_tensors_and_keywords():
    assert_exact(ember.linspace(ember.tensor(0.0), ember.tensor(1.0), 3), torch.linspace(0.0, 1.0, 3))
    assert_exact(ember.linspace(start=ember.tensor(1), end=5, steps=3), torch.linspace(1, 5, 3))
    assert_exact(ember.logspace(0, 3, 4, base=ember.tensor(2.0)), torch.logspace(0, 3, 4, base=2.0))
    assert_exact(ember.logspace(0, 3, steps=ember.tensor(4)), torch.logspace(0, 3, 4))
    ember.set_default_dtype(ember.float64)
    assert ember.linspace(0, 1, 3).dtype is ember.float64 and ember.logspace(0, 1, 3).dtype is ember.float64


@pytest.mark.parametrize("fn", ["linspace", "logspace"])
@pytest.mark.parametrize("args, kwargs", [((0, 10, -1), {}), ((0, 10, 5), {"dtype": ember.bool}),
                                          ((0, 300, 3), {"dtype": ember.int8}), ((-0.7, 5, 5), U8), ((-256, 5, 3), U8),
                                          ((-255, 5, 3), U8), ((0, 1e6, 3), F16), ((0, 1e300, 3), F32),
                                          ((0, NAN, 3), I32), ((0, INF, 3), I64), ((-3.5, 5, 1), U8),
                                          ((1e39, 5, 1), {}), ((70000, 5, 1), F16), ((1e6, 5, 0), F16)], ids=str)
def test_space_range_checks(fn, args, kwargs):
    e_kwargs, t_kwargs = kw_pair(kwargs)
    assert_same_outcome(lambda: getattr(ember, fn)(*args, **e_kwargs), lambda: getattr(torch, fn)(*args, **t_kwargs))


@pytest.mark.parametrize("fn", ["linspace", "logspace"])
def test_space_argument_types(fn):
    assert_same_error(lambda: getattr(ember, fn)(ember.tensor([1.0]), 5, 3),
                      lambda: getattr(torch, fn)(torch.tensor([1.0]), 5, 3))
    assert_same_error(lambda: getattr(ember, fn)(0, ember.tensor([1, 2]), 3),
                      lambda: getattr(torch, fn)(0, torch.tensor([1, 2]), 3))
    for steps in (2.5, True):
        with pytest.raises(TypeError, match="argument 'steps' \\(position 3\\) must be int"):
            getattr(ember, fn)(0, 10, steps)
    with pytest.raises(TypeError, match="argument 'end' \\(position 2\\) must be Number, not str"):
        getattr(ember, fn)(0, "x", 3)
    with pytest.raises(OverflowError, match="int too big to convert"):
        getattr(ember, fn)(2**70, 5, 3)


def test_int_linspace_truncates_exact_points_like_torch():
    # A fused multiply-add decides whether these land just below or exactly on an integer.
    for start, end, steps in [(-571, 185, 241), (-817, 977, 149), (0, 1, 5), (-1000, 999, 299)]:
        assert_exact(ember.linspace(start, end, steps, dtype=ember.int64),
                     torch.linspace(start, end, steps, dtype=torch.int64))


# ----- eye ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [None, *ALL_DTYPES], ids=str)
@pytest.mark.parametrize("args", [(3,), (3, 2), (2, 5), (0,), (0, 3), (1, 1)], ids=str)
def test_eye(args, dtype):
    e_kwargs, t_kwargs = kw_pair({} if dtype is None else {"dtype": dtype})
    assert_exact(ember.eye(*args, **e_kwargs), torch.eye(*args, **t_kwargs))


def test_eye_arguments():
    assert_exact(ember.eye(2, m=3), torch.eye(2, m=3))
    assert_exact(ember.eye(n=2), torch.eye(n=2))
    assert_exact(ember.eye(ember.tensor(2)), torch.eye(torch.tensor(2)))
    assert_same_error(lambda: ember.eye(-1), lambda: torch.eye(-1))
    assert_same_error(lambda: ember.eye(2, -1), lambda: torch.eye(2, -1))
    assert_same_error(lambda: ember.eye(2.0), lambda: torch.eye(2.0))
    assert_same_error(lambda: ember.eye(True), lambda: torch.eye(True))


# ----- registry and devices -------------------------------------------------------------------------------
@pytest.mark.parametrize("make, name", [(lambda **kw: ember.arange(3, **kw), "arange"),
                                        (lambda **kw: ember.linspace(0, 1, 3, **kw), "linspace"),
                                        (lambda **kw: ember.logspace(0, 1, 3, **kw), "logspace"),
                                        (lambda **kw: ember.eye(3, **kw), "eye")])
def test_ranges_are_registry_creation_ops(make, name):
    seen = []
    handle = add_dispatch_hook(lambda op, operands, attrs, out: seen.append((op.name, operands, attrs)))
    try:
        out = make(device="cpu")
    finally:
        handle.remove()
    assert seen and seen[0][0] == name and seen[0][1] == ()
    assert all(isinstance(v, bool | int | float | ember.dtype) for v in seen[0][2].values())
    assert out.device == ember.device("cpu") and out.is_contiguous()
    with pytest.raises(RuntimeError, match="cuda"):
        make(device="cuda")


@pytest.mark.parametrize("dtype", FLOAT_DTYPES + INT_DTYPES, ids=str)
def test_results_own_fresh_storage(dtype):
    a, b = ember.arange(4, dtype=dtype), ember.arange(4, dtype=dtype)
    assert a.data_ptr() != b.data_ptr()
    a.numpy()[0] = 3
    assert b.tolist()[0] == 0
