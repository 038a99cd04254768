"""Shared pytest setup: GPU tests skip cleanly without a device; the default dtype is restored after each test."""

from __future__ import annotations

import numpy as np
import pytest

import ember
from ember.tensor.dispatch import add_dispatch_hook


def pytest_collection_modifyitems(config, items):
    if ember.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device (ember.cuda.is_available() is False)")
    for item in items:
        if item.get_closest_marker("gpu") is not None:
            item.add_marker(skip_gpu)


@pytest.fixture(autouse=True)
def _restore_default_dtype():
    saved = ember.get_default_dtype()
    yield
    ember.set_default_dtype(saved)


def _check_kernel_outputs_are_fresh(op, operands, attrs, outputs):
    """A compute kernel must return new memory: an output aliasing an input would make later writes leak."""
    if op.kind != "compute":
        return
    results = outputs if isinstance(outputs, tuple) else (outputs,)
    inputs = []
    for value in operands:
        items = value if isinstance(value, list | tuple) else (value,)
        inputs.extend(i for i in items if isinstance(i, ember.Tensor))
    for out in results:
        for inp in inputs:
            if out._storage is inp._storage or np.shares_memory(out._storage.data, inp._storage.data):
                raise AssertionError(f"op '{op.name}' returned memory shared with an input")


@pytest.fixture(autouse=True)
def _fresh_kernel_outputs():
    handle = add_dispatch_hook(_check_kernel_outputs_are_fresh)
    yield
    handle.remove()
