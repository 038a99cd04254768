r"""Normalisation layers, as ``torch.nn.LayerNorm``, ``GroupNorm``, ``RMSNorm`` and ``LocalResponseNorm``: the
same parameters, default initialisation, state_dict keys and repr; the computation is
:mod:`ember.nn.functional`'s."""

from __future__ import annotations

import numbers

import ember
from ember.tensor.tensor import Tensor

from .. import functional as F
from .. import init
from ..parameter import Parameter
from ._parameters import register_optional
from .module import Module

__all__ = ["LocalResponseNorm", "LayerNorm", "GroupNorm", "RMSNorm"]


def _shape_tuple(normalized_shape: int | list[int] | tuple[int, ...]) -> tuple[int, ...]:
    if isinstance(normalized_shape, numbers.Integral):
        return (normalized_shape,)
    return tuple(normalized_shape)


class LocalResponseNorm(Module):
    r"""Applies local response normalisation across channels:
    :math:`b_c = a_c (k + \frac{\alpha}{n} \sum_{c'} a_{c'}^2)^{-\beta}`, the sum over ``size`` neighbouring
    channels.

    Args:
        size: the number of neighbouring channels.
        alpha: multiplicative factor. Default: 1e-4.
        beta: exponent. Default: 0.75.
        k: additive factor. Default: 1.

    Shape:
        - Input: :math:`(N, C, *)`; Output: the same shape.
    """

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> None:
        super().__init__()
        self.size = size
        self.alpha = alpha
        self.beta = beta
        self.k = k

    def forward(self, input: Tensor) -> Tensor:
        return F.local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return "{size}, alpha={alpha}, beta={beta}, k={k}".format(**self.__dict__)


class LayerNorm(Module):
    r"""Applies layer normalisation over the last ``len(normalized_shape)`` dims:
    :math:`y = \frac{x - E[x]}{\sqrt{Var[x] + \epsilon}} \gamma + \beta` (biased variance).

    Args:
        normalized_shape: the trailing shape to normalise over (an int for the last dim alone).
        eps: added to the variance for numerical stability. Default: 1e-5.
        elementwise_affine: if ``True``, learnable ``weight`` (ones) and ``bias`` (zeros) of shape
            ``normalized_shape``. Default: ``True``.
        bias: if ``False`` (with ``elementwise_affine``), no learnable bias. Default: ``True``.

    Shape:
        - Input: :math:`(N, *)`; Output: the same shape.

    Example::

        >>> nn.LayerNorm(10)(ember.randn(20, 5, 10)).size()
        ember.Size([20, 5, 10])
    """

    def __init__(self, normalized_shape: int | list[int] | tuple[int, ...], eps: float = 1e-5,
                 elementwise_affine: bool = True, bias: bool = True, device=None, dtype=None) -> None:
        super().__init__()
        self.normalized_shape = _shape_tuple(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        register_optional(self, "weight", self.normalized_shape, elementwise_affine, device, dtype)
        register_optional(self, "bias", self.normalized_shape, elementwise_affine and bias, device, dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Reset the weight to ones and the bias to zeros."""
        if self.elementwise_affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, input: Tensor) -> Tensor:
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return ("{normalized_shape}, eps={eps}, elementwise_affine={elementwise_affine}, "
                "bias={use_bias}".format(**self.__dict__, use_bias=self.bias is not None))


class GroupNorm(Module):
    r"""Applies group normalisation: the channels are split into ``num_groups`` groups, each normalised per
    sample, then a per-channel affine is applied.

    Args:
        num_groups: the number of groups (must divide ``num_channels``).
        num_channels: the number of channels :math:`C`.
        eps: added to the variance for numerical stability. Default: 1e-5.
        affine: if ``True``, learnable per-channel ``weight`` (ones) and ``bias`` (zeros). Default: ``True``.
        bias: keyword-only; if ``False`` (with ``affine``), no learnable bias. Default: ``True``.

    Shape:
        - Input: :math:`(N, C, *)`; Output: the same shape.
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True, device=None,
                 dtype=None, *, bias: bool = True) -> None:
        super().__init__()
        if num_channels % num_groups != 0:
            raise ValueError(f"num_channels ({num_channels}) must be divisible by num_groups ({num_groups})")
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        register_optional(self, "weight", num_channels, affine, device, dtype)
        register_optional(self, "bias", num_channels, affine and bias, device, dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Reset the weight to ones and the bias to zeros."""
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, input: Tensor) -> Tensor:
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return "{num_groups}, {num_channels}, eps={eps}, affine={affine}, bias={use_bias}".format(
            **self.__dict__, use_bias=self.bias is not None)


class RMSNorm(Module):
    r"""Applies root-mean-square normalisation over the last ``len(normalized_shape)`` dims:
    :math:`y = \frac{x}{\sqrt{E[x^2] + \epsilon}} \gamma`.

    Args:
        normalized_shape: the trailing shape to normalise over (an int for the last dim alone).
        eps: added inside the root; ``None`` (default) uses the machine epsilon of the input's dtype.
        elementwise_affine: if ``True``, a learnable ``weight`` (ones). Default: ``True``.

    Shape:
        - Input: :math:`(N, *)`; Output: the same shape.
    """

    def __init__(self, normalized_shape: int | list[int] | tuple[int, ...], eps: float | None = None,
                 elementwise_affine: bool = True, device=None, dtype=None) -> None:
        super().__init__()
        self.normalized_shape = _shape_tuple(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(ember.empty(self.normalized_shape, device=device, dtype=dtype))
        else:
            self.register_parameter("weight", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Reset the weight to ones."""
        if self.elementwise_affine:
            init.ones_(self.weight)

    def forward(self, x: Tensor) -> Tensor:
        return F.rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return "{normalized_shape}, eps={eps}, elementwise_affine={elementwise_affine}".format(**self.__dict__)
