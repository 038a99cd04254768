"""Spatial transformer sampling: ``affine_grid`` builds sampling grids, ``grid_sample`` reads an image at them.

Both are compositions of ember ops, so gradients reach the image (through ``gather``) and the grid (through
the interpolation weights), as in PyTorch.
"""

from __future__ import annotations

import warnings

import numpy as np

import ember
from ember.tensor.tensor import Tensor


def _align_corners_default(align_corners: bool | None) -> bool:
    if align_corners is None:
        warnings.warn("Default grid_sample and affine_grid behavior has changed to align_corners=False since 1.3.0. "
                      "Please specify align_corners=True if the old behavior is desired. See the documentation of "
                      "grid_sample for details.", stacklevel=3)
        return False
    return align_corners


def _base_coordinates(n: int, align_corners: bool) -> np.ndarray:
    """The normalised centre coordinates of ``n`` pixels in ``[-1, 1]``."""
    if n <= 1:
        return np.zeros(max(n, 0))
    line = np.linspace(-1.0, 1.0, n)
    return line if align_corners else line * (n - 1) / n


def affine_grid(theta: Tensor, size: list[int], align_corners: bool | None = None) -> Tensor:
    """The ``(N, H, W, 2)`` (or ``(N, D, H, W, 3)``) grid of normalised source coordinates that the affine maps
    ``theta`` (``N x 2 x 3`` or ``N x 3 x 4``) send the output pixels of ``size`` to."""
    align_corners = _align_corners_default(align_corners)
    if not theta.is_floating_point():
        raise ValueError(f"Expected theta to have floating point type, but got {theta.dtype}")
    size = list(size)
    if len(size) not in (4, 5):
        raise NotImplementedError(f"affine_grid only supports 4D and 5D sizes, for 2D and 3D affine transforms, "
                                  f"respectively. Got size {size}.")
    nd = len(size) - 2
    if theta.dim() != 3 or tuple(theta.shape[1:]) != (nd, nd + 1):
        kind = "2D affine matrices of shape Nx2x3" if nd == 2 else "3D affine matrices of shape Nx3x4"
        raise ValueError(f"Expected a batch of {kind} for size {size}. Got {theta.shape}.")
    if align_corners and min(size[2:]) == 1:
        warnings.warn("Since version 1.3.0, affine_grid behavior has changed for unit-size grids when "
                      "align_corners=True. This is not an intended use case of affine_grid. See the documentation "
                      "of affine_grid for details.", stacklevel=2)
    elif min(size) <= 0:
        raise ValueError(f"Expected non-zero, positive output size. Got {size}")
    spatial = size[2:]
    # Coordinates are listed x first (the last dim), then y (and z), then the homogeneous 1.
    axes = np.meshgrid(*[_base_coordinates(n, align_corners) for n in spatial], indexing="ij")
    base = np.stack([*reversed(axes), np.ones(spatial)], axis=-1).reshape(1, -1, nd + 1)
    grid = ember.from_numpy(np.ascontiguousarray(base)).to(theta.dtype).matmul(theta.transpose(1, 2))
    return grid.reshape(size[0], *spatial, nd)


def _reflect(coord: Tensor, twice_low: int, twice_high: int) -> Tensor:
    """Reflects coordinates into ``[twice_low / 2, twice_high / 2]`` (PyTorch's reflect_coordinates)."""
    if twice_low == twice_high:
        return coord * 0
    low, span = twice_low / 2, (twice_high - twice_low) / 2
    distance = (coord - low).abs()
    extra = distance.fmod(span)
    flips = (distance / span).floor()
    return ember.where(flips.remainder(2) == 0, extra + low, span - extra + low)


def _source_index(coord: Tensor, size: int, padding_mode: str, align_corners: bool) -> Tensor:
    """Pixel coordinates from normalised ones, with the padding mode's border rule applied."""
    coord = (coord + 1) / 2 * (size - 1) if align_corners else ((coord + 1) * size - 1) / 2
    if padding_mode == "border":
        coord = coord.clamp(0, size - 1)
    elif padding_mode == "reflection":
        coord = _reflect(coord, 0, 2 * (size - 1)) if align_corners else _reflect(coord, -1, 2 * size - 1)
        coord = coord.clamp(0, size - 1)
    return coord


def grid_sample(input: Tensor, grid: Tensor, mode: str = "bilinear", padding_mode: str = "zeros",
                align_corners: bool | None = None) -> Tensor:
    """Samples the ``(N, C, H, W)`` input at the ``(N, H_out, W_out, 2)`` grid of normalised ``(x, y)``
    coordinates (-1 and 1 are the edges), bilinearly or at the nearest pixel; outside the image the
    ``padding_mode`` ('zeros', 'border' or 'reflection') decides."""
    if mode not in ("bilinear", "nearest", "bicubic"):
        raise ValueError(f"nn.functional.grid_sample(): expected mode to be 'bilinear', 'nearest' or 'bicubic', "
                         f"but got: '{mode}'")
    if padding_mode not in ("zeros", "border", "reflection"):
        raise ValueError(f"nn.functional.grid_sample(): expected padding_mode to be 'zeros', 'border', or "
                         f"'reflection', but got: '{padding_mode}'")
    align_corners = _align_corners_default(align_corners)
    if mode == "bicubic" or input.dim() != 4:
        raise NotImplementedError("grid_sample: ember supports 4-D input with mode 'bilinear' or 'nearest'")
    if grid.dim() != 4 or grid.shape[0] != input.shape[0] or grid.shape[-1] != 2:
        raise RuntimeError(f"grid_sampler(): expected grid of shape [{input.shape[0]}, H, W, 2] for input of shape "
                           f"{list(input.shape)}, but got grid with sizes {list(grid.shape)}")
    n, c, height, width = input.shape
    out_h, out_w = grid.shape[1], grid.shape[2]
    x = _source_index(grid[..., 0], width, padding_mode, align_corners)
    y = _source_index(grid[..., 1], height, padding_mode, align_corners)
    flat = input.reshape(n, c, height * width)

    def read(ix: Tensor, iy: Tensor) -> Tensor:
        """Pixels at integer coordinates ``(ix, iy)`` (float tensors), 0 outside the image."""
        inside = (ix >= 0) & (ix <= width - 1) & (iy >= 0) & (iy <= height - 1)
        index = (iy.clamp(0, height - 1) * width + ix.clamp(0, width - 1)).long().reshape(n, 1, -1)
        values = flat.gather(2, index.expand(n, c, out_h * out_w)).reshape(n, c, out_h, out_w)
        return values * inside.unsqueeze(1).to(input.dtype)

    if mode == "nearest":
        # Half-way points round to even, as C's nearbyint does in PyTorch.
        return read(x.detach().round(), y.detach().round())
    x0, y0 = x.detach().floor(), y.detach().floor()
    wx, wy = (x - x0).unsqueeze(1), (y - y0).unsqueeze(1)
    return (read(x0, y0) * (1 - wx) * (1 - wy) + read(x0 + 1, y0) * wx * (1 - wy)
            + read(x0, y0 + 1) * (1 - wx) * wy + read(x0 + 1, y0 + 1) * wx * wy)


__all__ = ["affine_grid", "grid_sample"]
