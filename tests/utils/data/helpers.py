"""Structural comparison of ember batches with torch's: same containers, same tensors, same plain values."""

from __future__ import annotations

import collections.abc

import ember
from tests.oracle import assert_close, torch


def assert_same_batch(actual, expected) -> None:
    """Containers must have the same type (namedtuples by name), tensors must match in shape, dtype and values."""
    if isinstance(expected, torch.Tensor):
        assert isinstance(actual, ember.Tensor), f"expected a tensor, got {type(actual).__name__}"
        assert_close(actual, expected)
    elif isinstance(expected, collections.abc.Mapping):
        assert type(actual).__name__ == type(expected).__name__
        assert list(actual) == list(expected)
        for key in expected:
            assert_same_batch(actual[key], expected[key])
    elif isinstance(expected, list | tuple):
        assert type(actual).__name__ == type(expected).__name__, f"{type(actual)} != {type(expected)}"
        assert len(actual) == len(expected)
        for a, e in zip(actual, expected, strict=True):
            assert_same_batch(a, e)
    else:
        assert type(actual) is type(expected) and actual == expected, f"{actual!r} != {expected!r}"
