"""Shared pytest setup: GPU tests skip cleanly without a device; the default dtype is restored after each test."""

from __future__ import annotations

import pytest

import ember


def pytest_collection_modifyitems(config, items):
    if ember.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device (ember.cuda.is_available() is False)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)


@pytest.fixture(autouse=True)
def _restore_default_dtype():
    saved = ember.get_default_dtype()
    yield
    ember.set_default_dtype(saved)
