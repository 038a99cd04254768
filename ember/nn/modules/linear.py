"""Linear layers, as ``torch.nn.Linear``, ``Bilinear`` and ``Identity``: the same parameters, default
initialisation, state_dict keys and repr."""

from __future__ import annotations

import math
from typing import Any

import ember
from ember.tensor.tensor import Tensor

from .. import functional as F
from .. import init
from ..parameter import Parameter
from ._parameters import register_optional, reset_fan_in_uniform
from .module import Module

__all__ = ["Identity", "Linear", "Bilinear"]


class Identity(Module):
    """A placeholder that returns its input unchanged; any constructor arguments are ignored.

    Shape:
        - Input: :math:`(*)`, any number of dimensions.
        - Output: :math:`(*)`, the same shape as the input.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, input: Tensor) -> Tensor:
        return input


class Linear(Module):
    r"""Applies an affine transformation ``y = x A^T + b``.

    Args:
        in_features: size of each input sample.
        out_features: size of each output sample.
        bias: if ``False``, the layer learns no additive bias. Default: ``True``.

    Shape:
        - Input: :math:`(*, H_{in})` with :math:`H_{in} = \text{in\_features}`.
        - Output: :math:`(*, H_{out})` with :math:`H_{out} = \text{out\_features}`.

    Attributes:
        weight: ``(out_features, in_features)``, initialised from U(-1/sqrt(in_features), 1/sqrt(in_features)).
        bias: ``(out_features)``, initialised from the same distribution.

    Example::

        >>> m = nn.Linear(20, 30)
        >>> m(ember.randn(128, 20)).size()
        ember.Size([128, 30])
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None, dtype=None) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = Parameter(ember.empty((out_features, in_features), device=device, dtype=dtype))
        register_optional(self, "bias", out_features, bias, device, dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-draw the weight (kaiming_uniform_ with a = sqrt(5)) and the bias (U(-1/sqrt(fan_in), ...))."""
        reset_fan_in_uniform(self.weight, self.bias)

    def forward(self, input: Tensor) -> Tensor:
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Bilinear(Module):
    """Applies a bilinear transformation ``y = x_1^T A x_2 + b``.

    Args:
        in1_features: size of each first input sample.
        in2_features: size of each second input sample.
        out_features: size of each output sample.
        bias: if ``False``, the layer learns no additive bias. Default: ``True``.

    Shape:
        - Input1: :math:`(*, H_{in1})`; Input2: :math:`(*, H_{in2})`, the same leading dims.
        - Output: :math:`(*, H_{out})`.

    Attributes:
        weight: ``(out_features, in1_features, in2_features)``, initialised from
            U(-1/sqrt(in1_features), 1/sqrt(in1_features)).
        bias: ``(out_features)``, initialised from the same distribution.
    """

    def __init__(self, in1_features: int, in2_features: int, out_features: int, bias: bool = True, device=None,
                 dtype=None) -> None:
        super().__init__()
        self.in1_features = in1_features
        self.in2_features = in2_features
        self.out_features = out_features
        self.weight = Parameter(ember.empty((out_features, in1_features, in2_features), device=device, dtype=dtype))
        register_optional(self, "bias", out_features, bias, device, dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-draw the weight and bias from U(-1/sqrt(in1_features), 1/sqrt(in1_features))."""
        if self.in1_features <= 0:
            raise ValueError(f"in1_features must be > 0, but got (in1_features={self.in1_features})")
        bound = 1 / math.sqrt(self.weight.size(1))
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1: Tensor, input2: Tensor) -> Tensor:
        return F.bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")
