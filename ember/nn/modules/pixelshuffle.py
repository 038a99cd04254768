"""Pixel shuffle layers, as ``torch.nn.PixelShuffle`` and ``PixelUnshuffle``: channel blocks rearranged into
spatial blocks and back (sub-pixel convolution), through :mod:`ember.nn.functional`."""

from __future__ import annotations

from ...tensor.tensor import Tensor
from .. import functional as F
from .module import Module

__all__ = ["PixelShuffle", "PixelUnshuffle"]


class PixelShuffle(Module):
    """Rearranges ``(*, C * r**2, H, W)`` into ``(*, C, H * r, W * r)`` for ``r = upscale_factor``.

    Args:
        upscale_factor: factor to increase the spatial resolution by.

    Shape:
        - Input: :math:`(*, C_{in}, H_{in}, W_{in})`; Output: :math:`(*, C_{in} / r^2, H_{in} r, W_{in} r)`.
    """

    def __init__(self, upscale_factor: int) -> None:
        super().__init__()
        self.upscale_factor = upscale_factor

    def forward(self, input: Tensor) -> Tensor:
        return F.pixel_shuffle(input, self.upscale_factor)

    def extra_repr(self) -> str:
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    """Rearranges ``(*, C, H * r, W * r)`` into ``(*, C * r**2, H, W)`` for ``r = downscale_factor``; the inverse
    of :class:`PixelShuffle`.

    Args:
        downscale_factor: factor to decrease the spatial resolution by.

    Shape:
        - Input: :math:`(*, C_{in}, H_{in}, W_{in})`; Output: :math:`(*, C_{in} r^2, H_{in} / r, W_{in} / r)`.
    """

    def __init__(self, downscale_factor: int) -> None:
        super().__init__()
        self.downscale_factor = downscale_factor

    def forward(self, input: Tensor) -> Tensor:
        return F.pixel_unshuffle(input, self.downscale_factor)

    def extra_repr(self) -> str:
        return f"downscale_factor={self.downscale_factor}"
