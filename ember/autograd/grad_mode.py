"""Grad modes: whether ops record the graph. Context managers that also work as decorators, as in PyTorch."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["no_grad", "enable_grad", "set_grad_enabled", "inference_mode", "is_grad_enabled",
           "is_inference_mode_enabled"]


class _State(threading.local):
    def __init__(self) -> None:
        self.grad_enabled = True
        self.inference = False


STATE = _State()


def is_grad_enabled() -> bool:
    """True when ops on tensors that require grad record the graph (the default)."""
    return STATE.grad_enabled


def is_inference_mode_enabled() -> bool:
    return STATE.inference


class _GradModeContext:
    """Base of the grad-mode managers: ``with`` sets the mode, a decorated function runs under it."""

    def _enter_state(self) -> tuple:
        raise NotImplementedError

    def __enter__(self) -> None:
        self._saved = (STATE.grad_enabled, STATE.inference)
        STATE.grad_enabled, STATE.inference = self._enter_state()

    def __exit__(self, *exc: Any) -> None:
        STATE.grad_enabled, STATE.inference = self._saved

    def __call__(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self.__class__(*self._init_args()):
                return fn(*args, **kwargs)

        return wrapper

    def _init_args(self) -> tuple:
        return ()


class no_grad(_GradModeContext):  # noqa: N801 - PyTorch's public name
    """Disable graph recording: results of ops do not require grad.

    Example::

        >>> with ember.no_grad():
        ...     y = x * 2          # y.requires_grad is False
    """

    def _enter_state(self) -> tuple:
        return False, STATE.inference


class enable_grad(_GradModeContext):  # noqa: N801
    """Enable graph recording inside a ``no_grad`` region."""

    def _enter_state(self) -> tuple:
        return True, STATE.inference


class set_grad_enabled(_GradModeContext):  # noqa: N801
    """Set grad mode to ``mode``; takes effect at once (like PyTorch) and as a context manager restores it."""

    def __init__(self, mode: bool) -> None:
        self.mode = bool(mode)
        self._saved = (STATE.grad_enabled, STATE.inference)
        STATE.grad_enabled = self.mode

    def __enter__(self) -> None:
        STATE.grad_enabled = self.mode

    def _init_args(self) -> tuple:
        return (self.mode,)


class inference_mode(_GradModeContext):  # noqa: N801
    """Like ``no_grad`` for inference code (``mode=False`` leaves the current mode as it is)."""

    def __init__(self, mode: bool = True) -> None:
        self.mode = bool(mode)

    def _enter_state(self) -> tuple:
        if not self.mode:
            return STATE.grad_enabled, STATE.inference
        return False, True

    def _init_args(self) -> tuple:
        return (self.mode,)
