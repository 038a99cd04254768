"""Errors against PyTorch's: the same exception type with the same message."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest


def assert_same_error(ember_call: Callable[[], Any], torch_call: Callable[[], Any]) -> None:
    """``torch_call`` must raise; ``ember_call`` must raise the same type with the same message."""
    with pytest.raises(Exception) as expected:
        torch_call()
    with pytest.raises(type(expected.value), match=f"^{re.escape(str(expected.value))}$"):
        ember_call()
