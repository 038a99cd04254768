"""Define-by-run automatic differentiation.

Every dispatched op on a tensor that requires grad is recorded with its op's backward formula (defined in
the op's own module with ``registry.derivative``); ``Tensor.backward`` and :func:`grad` run the graph
backwards with an iterative engine. See ``graph.py`` (recording), ``engine.py`` (running), ``inplace.py``
(in-place ops and writes through views).
"""

from __future__ import annotations

import contextlib

from ..tensor.dispatch import install_autograd
from . import api
from .api import backward, grad
from .engine import ANOMALY
from .function import Function, FunctionCtx
from .grad_mode import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_grad_enabled,
)
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from .graph import check_inplace, record

install_autograd(record, check_inplace, is_grad_enabled)


@contextlib.contextmanager
def detect_anomaly(check_nan: bool = True):
    """Within this context, a backward formula that produces NaN raises an error naming its op."""
    saved = ANOMALY.enabled
    ANOMALY.enabled = check_nan
    try:
        yield
    finally:
        ANOMALY.enabled = saved


def set_detect_anomaly(mode: bool) -> None:
    ANOMALY.enabled = bool(mode)


def is_anomaly_enabled() -> bool:
    return ANOMALY.enabled


__all__ = ["Function", "FunctionCtx", "GradcheckError", "backward", "detect_anomaly", "enable_grad", "grad",
           "gradcheck", "gradgradcheck", "inference_mode", "is_anomaly_enabled", "is_grad_enabled",
           "is_inference_mode_enabled", "no_grad", "set_detect_anomaly", "set_grad_enabled"]
