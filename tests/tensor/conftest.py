"""Fixtures for the tensor tests."""

from __future__ import annotations

import pytest

import ember


@pytest.fixture
def seeded_default_generator():
    """Each test starts from one fixed default-generator state and leaves no trace for the next."""
    saved = ember.get_rng_state()
    ember.manual_seed(1234)
    yield
    ember.set_rng_state(saved)
