"""Parameter helpers shared by the layer families: optional parameters and torch's default linear-style init."""

from __future__ import annotations

import math

from ...tensor.creation import empty
from .. import init
from ..parameter import Parameter
from .module import Module


def register_optional(module: Module, name: str, shape, enabled: bool, device=None, dtype=None) -> None:
    """Register an uninitialised Parameter of ``shape`` as ``name``, or ``None`` when not ``enabled`` (so that the
    attribute exists and state_dict keys match torch's either way)."""
    param = Parameter(empty(shape, device=device, dtype=dtype)) if enabled else None
    module.register_parameter(name, param)


def reset_fan_in_uniform(weight: Parameter, bias: Parameter | None) -> None:
    """torch's default for Linear and conv layers: kaiming_uniform_(a=sqrt(5)) weight, U(-1/sqrt(fan_in), ...) bias."""
    init.kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = init._calculate_fan_in_and_fan_out(weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        init.uniform_(bias, -bound, bound)
