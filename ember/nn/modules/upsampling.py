"""Upsampling layers, as ``torch.nn.Upsample`` and its fixed-mode subclasses, through
:func:`ember.nn.functional.interpolate`."""

from __future__ import annotations

from ...tensor.tensor import Tensor
from .. import functional as F
from .module import Module

__all__ = ["Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d"]


class Upsample(Module):
    """Resizes the spatial dims of ``(N, C, *spatial)`` input (1-D, 2-D or 3-D) to ``size`` or by
    ``scale_factor``.

    Args:
        size: the output spatial size (int, or one int per spatial dim).
        scale_factor: multiplier of the spatial size (float, or one per spatial dim).
        mode: ``'nearest'`` (default), ``'nearest-exact'``, ``'linear'``, ``'bilinear'``, ``'bicubic'`` or
            ``'trilinear'``.
        align_corners: for the linear modes, whether the corner pixels of input and output are aligned.
        recompute_scale_factor: recompute the scale from the computed output size instead of using
            ``scale_factor`` in the interpolation.

    Shape:
        - Input: :math:`(N, C, W_{in})`, :math:`(N, C, H_{in}, W_{in})` or :math:`(N, C, D_{in}, H_{in}, W_{in})`.
        - Output: the same with the resized spatial dims.
    """

    def __init__(self, size: int | tuple[int, ...] | None = None, scale_factor: float | tuple[float, ...] | None = None,
                 mode: str = "nearest", align_corners: bool | None = None,
                 recompute_scale_factor: bool | None = None) -> None:
        super().__init__()
        self.name = type(self).__name__
        self.size = size
        if isinstance(scale_factor, tuple):
            self.scale_factor = tuple(float(factor) for factor in scale_factor)
        else:
            self.scale_factor = float(scale_factor) if scale_factor else None
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, input: Tensor) -> Tensor:
        return F.interpolate(input, self.size, self.scale_factor, self.mode, self.align_corners,
                             recompute_scale_factor=self.recompute_scale_factor)

    def extra_repr(self) -> str:
        info = f"scale_factor={self.scale_factor!r}" if self.scale_factor is not None else f"size={self.size!r}"
        return info + f", mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    """Nearest-neighbour upsampling of ``(N, C, H, W)`` input; ``Upsample(..., mode='nearest')``.

    Args:
        size: the output size ``(H_out, W_out)`` or one int for both.
        scale_factor: multiplier of the height and width.
    """

    def __init__(self, size: int | tuple[int, int] | None = None,
                 scale_factor: float | tuple[float, float] | None = None) -> None:
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """Bilinear upsampling of ``(N, C, H, W)`` input with aligned corners; ``Upsample(..., mode='bilinear',
    align_corners=True)``.

    Args:
        size: the output size ``(H_out, W_out)`` or one int for both.
        scale_factor: multiplier of the height and width.
    """

    def __init__(self, size: int | tuple[int, int] | None = None,
                 scale_factor: float | tuple[float, float] | None = None) -> None:
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)
