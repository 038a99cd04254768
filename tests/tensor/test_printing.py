"""``repr``/``str`` of tensors against PyTorch's text, character for character, and ``set_printoptions``."""

from __future__ import annotations

import math

import numpy as np
import pytest

import ember
from tests.oracle import ALL_DTYPES, DTYPES, pair, to_torch, torch

INF, NAN = math.inf, math.nan
RNG = np.random.default_rng(1234)


@pytest.fixture(autouse=True)
def _default_print_options():
    yield
    ember.set_printoptions(profile="default")
    torch.set_printoptions(profile="default")


def assert_same_text(e: ember.Tensor, t) -> None:
    assert repr(e).replace("ember.", "torch.") == repr(t)
    assert str(e).replace("ember.", "torch.") == str(t)


def check(data, dtype: ember.dtype | None = None) -> None:
    """Print ``data`` (anything np.array takes) in both libraries, optionally cast to ``dtype`` first."""
    e = ember.from_numpy(np.array(data))
    if dtype is not None:
        e = e.to(dtype)
    assert_same_text(e, to_torch(e))


VALUE_CASES = {
    "integer-valued floats": [1.0, 2.0, -3.0],
    "fixed point": [1.5, 2.25, -0.125],
    "rounding to precision": [0.123456789, 9.99996, 1 / 3],
    "small ratio stays fixed": [1e-3, 0.9],
    "ratio over 1000 goes scientific": [1e-3, 1.5],
    "integers with ratio over 1000": [1.0, 1001.0],
    "large integers stay fixed": [100.0, 1e7],
    "1e8 is not above the limit": [1e8, 2.0],
    "above 1e8 goes scientific": [123456789.0],
    "below 1e-4 goes scientific": [1e-5, 2e-5],
    "huge and tiny": [1e100, 1e-100, -1e50],
    "inf and nan with floats": [INF, NAN, 1.5, -INF],
    "inf and nan with integers": [INF, -INF, NAN, 3.0],
    "only non-finite": [INF, -INF, NAN],
    "negative zero": [-0.0, 1.0],
    "negative zero alone": [-0.0, 0.0],
    "all zeros": [0.0, 0.0, 0.0],
    "scientific with zeros and nan": [0.0, NAN, 1e-7, 5e3],
    "negative scientific": [-1e-6, 1.0],
    "ints": [1, -200, 3],
    "int64 extremes": [2**63 - 1, -(2**63)],
    "bools": [True, False, True],
}


@pytest.mark.parametrize("values", VALUE_CASES.values(), ids=VALUE_CASES.keys())
def test_number_formatting(values):
    check(values)


@pytest.mark.parametrize("value", [3.5, 3.0, -0.0, 0.0, NAN, -INF, 1e-9, 123456789.0, 7, -7, True, False],
                         ids=str)
def test_zero_dim(value):
    check(np.array(value))


@pytest.mark.parametrize("shape", [(0,), (0, 3), (2, 0), (2, 0, 3), (0, 0)], ids=str)
@pytest.mark.parametrize("dtype", [ember.float32, ember.float64, ember.int64, ember.int32, ember.bool, ember.float16])
def test_empty(shape, dtype):
    check(np.zeros(shape), dtype)


LAYOUT_CASES = {
    "long row wraps at linewidth": RNG.standard_normal(50),
    "long int row": np.arange(-40, 60),
    "matrix": RNG.standard_normal((4, 5)),
    "wide matrix wraps rows": RNG.standard_normal((3, 17)),
    "3-d": RNG.standard_normal((2, 3, 4)),
    "4-d": RNG.standard_normal((2, 2, 2, 2)),
    "scientific matrix": RNG.standard_normal((3, 4)) * 1e6,
    "mixed magnitudes 3-d": RNG.standard_normal((2, 2, 3)) * np.array([1e-6, 1.0, 1e4]),
    "exactly the threshold": np.arange(1000.0),
    "summarised vector": RNG.standard_normal(2000),
    "summarised int vector": np.arange(5000),
    "summarised matrix": RNG.standard_normal((40, 50)),
    "summarised only on one dim": RNG.standard_normal((500, 3)),
    "summarised 3-d": RNG.standard_normal((3, 20, 30)),
    "summarised 3-d with big values": RNG.standard_normal((10, 10, 11)) * 1e5,
    "summary edges decide the width": np.concatenate([np.ones(3), np.full(1000, 123456.5), np.ones(3)]),
}


@pytest.mark.parametrize("data", LAYOUT_CASES.values(), ids=LAYOUT_CASES.keys())
def test_layout(data):
    check(data)


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
@pytest.mark.parametrize("shape", [(7,), (3, 4), (2, 2, 3), (1500,)], ids=str)
def test_every_dtype(dtype, shape):
    e, t = pair(shape, dtype, seed=len(shape), low=-60, high=60)
    assert_same_text(e, t)


@pytest.mark.parametrize("dtype", [ember.float16, ember.bfloat16])
def test_half_precision_values(dtype):
    check([0.1, 1 / 3, 65504.0, 6e-8, 1e-3], dtype)


@pytest.mark.parametrize("shape", [(5, 6), (3, 4, 5), (2000,)], ids=str)
def test_noncontiguous_views(shape):
    e, t = pair(shape, ember.float32, noncontiguous=True, seed=7)
    assert not e.is_contiguous()
    assert_same_text(e, t)


def test_transposed_and_offset_view():
    base = RNG.standard_normal((6, 5))
    view = base.T[1:, ::2]
    assert_same_text(ember.from_numpy(view), torch.from_numpy(np.ascontiguousarray(view)))


@pytest.mark.parametrize("default", [ember.float64, ember.float16])
def test_dtype_suffix_follows_default_dtype(default):
    saved = torch.get_default_dtype()
    ember.set_default_dtype(default)
    torch.set_default_dtype(DTYPES[default])
    try:
        for data in ([1.5, 2.0], np.zeros((0, 2))):
            for dt in (ember.float32, ember.float64, ember.float16):
                check(data, dt)
    finally:
        torch.set_default_dtype(saved)


OPTION_CASES = {
    "precision 2": dict(precision=2),
    "precision 8": dict(precision=8),
    "precision 0": dict(precision=0),
    "threshold 5": dict(threshold=5),
    "edgeitems 1 with threshold": dict(threshold=10, edgeitems=1),
    "edgeitems 0": dict(threshold=10, edgeitems=0),
    "linewidth 40": dict(linewidth=40),
    "linewidth 200": dict(linewidth=200),
    "sci forced": dict(sci_mode=True),
    "sci forbidden": dict(sci_mode=False),
    "short profile": dict(profile="short"),
    "full profile": dict(profile="full"),
    "profile then override": dict(profile="short", precision=6),
}
OPTION_DATA = [RNG.standard_normal(30), RNG.standard_normal((12, 13)) * 1e-5, np.arange(40.0),
               np.arange(2000).reshape(20, 100), RNG.standard_normal((3, 4, 5)), np.array(2.5), [1.0, NAN, INF]]


@pytest.mark.parametrize("options", OPTION_CASES.values(), ids=OPTION_CASES.keys())
def test_set_printoptions(options):
    ember.set_printoptions(**options)
    torch.set_printoptions(**options)
    for data in OPTION_DATA:
        check(data)
        check(data, ember.int32)


def test_sci_mode_resets_unless_given():
    ember.set_printoptions(sci_mode=True)
    ember.set_printoptions(precision=4)
    assert repr(ember.tensor([1.5, 2.5])) == "tensor([1.5000, 2.5000])"


def test_suffix_wraps_onto_new_line():
    check(RNG.standard_normal((2, 8)), ember.float64)
    check(np.arange(20.0) / 7, ember.float16)


def test_format_and_str():
    e = ember.tensor([[1, 2], [3, 4]])
    assert f"{e}" == str(e) == repr(e) == "tensor([[1, 2],\n        [3, 4]])"
    assert format(ember.tensor(2.5), ".2f") == "2.50"
