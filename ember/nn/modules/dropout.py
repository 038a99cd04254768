"""Dropout layers, as ``torch.nn`` dropout: random zeroing while training (masks from ember's default
generator, so ``ember.manual_seed`` makes them reproducible), the identity in eval mode."""

from __future__ import annotations

from ...tensor.tensor import Tensor
from .. import functional as F
from .module import Module

__all__ = ["Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout"]


class _DropoutNd(Module):
    """The shared constructor: a checked probability ``p`` and the ``inplace`` flag."""

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if p < 0 or p > 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        self.inplace = inplace

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """While training, zeroes each element with probability ``p`` and scales the survivors by ``1 / (1 - p)``;
    in eval mode, the identity.

    Args:
        p: probability of an element to be zeroed. Default: 0.5
        inplace: If set to ``True``, will do this operation in-place. Default: ``False``

    Shape:
        - Input: :math:`(*)`; Output: :math:`(*)`, same shape as the input.
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout(input, self.p, self.training, self.inplace)


class Dropout1d(_DropoutNd):
    """While training, zeroes whole channels (1-D feature maps ``input[i, j]``) with probability ``p`` and scales
    the rest by ``1 / (1 - p)``.

    Args:
        p: probability of a channel to be zeroed. Default: 0.5
        inplace: If set to ``True``, will do this operation in-place. Default: ``False``

    Shape:
        - Input: :math:`(N, C, L)` or :math:`(C, L)`; Output: same shape as the input.
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout1d(input, self.p, self.training, self.inplace)


class Dropout2d(_DropoutNd):
    """While training, zeroes whole channels (2-D feature maps ``input[i, j]``) with probability ``p`` and scales
    the rest by ``1 / (1 - p)``. A 3-D input is taken as ``(N, C, L)``, with PyTorch's warning.

    Args:
        p: probability of a channel to be zeroed. Default: 0.5
        inplace: If set to ``True``, will do this operation in-place. Default: ``False``

    Shape:
        - Input: :math:`(N, C, H, W)` or :math:`(N, C, L)`; Output: same shape as the input.
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout2d(input, self.p, self.training, self.inplace)


class Dropout3d(_DropoutNd):
    """While training, zeroes whole channels (3-D feature maps ``input[i, j]``) with probability ``p`` and scales
    the rest by ``1 / (1 - p)``.

    Args:
        p: probability of a channel to be zeroed. Default: 0.5
        inplace: If set to ``True``, will do this operation in-place. Default: ``False``

    Shape:
        - Input: :math:`(N, C, D, H, W)` or :math:`(C, D, H, W)`; Output: same shape as the input.
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout3d(input, self.p, self.training, self.inplace)


class AlphaDropout(_DropoutNd):
    """Dropout for SELU networks: while training, dropped elements take SELU's negative saturation value and an
    affine map keeps the input's mean and variance.

    Args:
        p: probability of an element to be dropped. Default: 0.5
        inplace: If set to ``True``, will do this operation in-place. Default: ``False``

    Shape:
        - Input: :math:`(*)`; Output: :math:`(*)`, same shape as the input.
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.alpha_dropout(input, self.p, self.training)


class FeatureAlphaDropout(_DropoutNd):
    """:class:`AlphaDropout` of whole channels: one draw per sample and channel.

    Args:
        p: probability of a channel to be dropped. Default: 0.5
        inplace: If set to ``True``, will do this operation in-place. Default: ``False``

    Shape:
        - Input: :math:`(N, C, D, H, W)` or :math:`(C, D, H, W)`; Output: same shape as the input.
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.feature_alpha_dropout(input, self.p, self.training)
