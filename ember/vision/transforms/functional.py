"""Functional image transforms, as ``torchvision.transforms.functional``.

An image is either an ember tensor of shape ``(..., H, W)`` or a NumPy array of shape ``(H, W)`` or
``(H, W, C)``: the arrays stand where torchvision has PIL images, and are handled as torchvision handles
those (padding modes follow ``np.pad``, which torchvision uses for PIL images too).
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from ...nn import functional as F
from ...tensor.creation import as_tensor, from_numpy
from ...tensor.devices import device as Device
from ...tensor.dtypes import dtype as DType
from ...tensor.dtypes import get_default_dtype, uint8
from ...tensor.tensor import Tensor

Image = Tensor | np.ndarray
_PADDING_MODES = ("constant", "edge", "reflect", "symmetric")


def _check_image(img: Any) -> None:
    if isinstance(img, Tensor):
        if img.dim() < 2:
            raise ValueError(f"Tensor image should have at least 2 dimensions (..., H, W), got {img.dim()}")
        return
    if not isinstance(img, np.ndarray):
        raise TypeError(f"img should be an ember Tensor or a NumPy ndarray. Got {type(img)}")
    if img.ndim not in (2, 3):
        raise ValueError(f"ndarray image should be H x W or H x W x C, got {img.ndim} dimensions")


def get_dimensions(img: Image) -> list[int]:
    """``[channels, height, width]`` of a tensor ``(..., H, W)`` or an array ``(H, W)`` / ``(H, W, C)``."""
    _check_image(img)
    if isinstance(img, Tensor):
        channels = img.shape[-3] if img.dim() > 2 else 1
        return [channels, img.shape[-2], img.shape[-1]]
    return [img.shape[2] if img.ndim == 3 else 1, img.shape[0], img.shape[1]]


def to_tensor(pic: Any) -> Tensor:
    """Converts an ``(H, W)`` or ``(H, W, C)`` array to a ``(C, H, W)`` tensor.

    ``uint8`` arrays are scaled to floats in [0, 1] of the default dtype; other arrays keep their dtype
    and values, as torchvision does. An ember tensor is returned unchanged.
    """
    if isinstance(pic, Tensor):
        return pic
    if not isinstance(pic, np.ndarray):
        raise TypeError(f"pic should be an ndarray or an ember Tensor. Got {type(pic)}")
    if pic.ndim not in (2, 3):
        raise ValueError(f"pic should be 2/3 dimensional. Got {pic.ndim} dimensions.")
    if pic.ndim == 2:
        pic = pic[:, :, None]
    chw = np.ascontiguousarray(pic.transpose(2, 0, 1), dtype=pic.dtype.newbyteorder("="))
    if chw.dtype != uint8.np_dtype:
        return from_numpy(chw)
    # Converting then dividing in NumPy rounds exactly as ``to(dtype).div(255)`` does, in one tensor creation.
    float_type = get_default_dtype().np_dtype
    return from_numpy(chw.astype(float_type) / float_type.type(255))


def normalize(tensor: Tensor, mean: Sequence[float], std: Sequence[float], inplace: bool = False) -> Tensor:
    """``(tensor - mean) / std`` per channel of a float tensor ``(..., C, H, W)``."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"img should be Tensor Image. Got {type(tensor)}")
    if not tensor.is_floating_point():
        raise TypeError(f"Input tensor should be a float tensor. Got {tensor.dtype}.")
    if tensor.dim() < 3:
        raise ValueError(f"Expected tensor to be a tensor image of size (..., C, H, W). Got tensor.size() = "
                         f"{tensor.size()}")
    mean_t, _ = _channel_values(mean, tensor.dtype, tensor.device)
    std_t, std_has_zero = _channel_values(std, tensor.dtype, tensor.device)
    if std_has_zero:
        raise ValueError(f"std evaluated to zero after conversion to {tensor.dtype}, leading to division by zero.")
    if inplace:
        return tensor.sub_(mean_t).div_(std_t)
    return tensor.sub(mean_t).div(std_t)


def _channel_values(values: Any, dtype: DType, device: Device) -> tuple[Tensor, bool]:
    """``values`` as a tensor broadcasting over ``(C, H, W)``, and whether one of them is zero."""
    if isinstance(values, numbers.Number):
        values = (values,)
    if isinstance(values, Sequence) and all(isinstance(v, numbers.Number) for v in values):
        return _cached_channel_values(tuple(float(v) for v in values), dtype, device)
    return _make_channel_values(values, dtype, device)


def _make_channel_values(values: Any, dtype: DType, device: Device) -> tuple[Tensor, bool]:
    result = as_tensor(values, dtype=dtype, device=device)
    if result.dim() == 1:
        result = result.view(-1, 1, 1)
    return result, bool((result == 0).any())


# A pipeline normalises every sample with the same statistics: building them once saves three tensor ops a sample.
# The cached tensors are only ever read.
_cached_channel_values = functools.lru_cache(maxsize=64)(_make_channel_values)


def parse_padding(padding: int | Sequence[int]) -> tuple[int, int, int, int]:
    """``(left, top, right, bottom)`` from an int, or a sequence of 1, 2 (left/right, top/bottom) or 4."""
    if not isinstance(padding, numbers.Number | tuple | list):
        raise TypeError("Got inappropriate padding arg")
    if isinstance(padding, Sequence) and len(padding) not in (1, 2, 4):
        raise ValueError(f"Padding must be an int or a 1, 2, or 4 element tuple, not a {len(padding)} element tuple")
    values = [int(p) for p in padding] if isinstance(padding, Sequence) else [int(padding)]
    if any(p < 0 for p in values):
        raise ValueError(f"padding values must be non-negative, got {padding}")
    if len(values) == 1:
        values *= 4
    elif len(values) == 2:
        values *= 2
    left, top, right, bottom = values
    return left, top, right, bottom


def check_pad_args(padding: Any, fill: Any, padding_mode: Any) -> None:
    """Validates ``pad``'s arguments up front, with torchvision's errors."""
    parse_padding(padding)
    if not isinstance(fill, numbers.Number | tuple | list):
        raise TypeError("Got inappropriate fill arg")
    if not isinstance(padding_mode, str):
        raise TypeError("Got inappropriate padding_mode arg")
    if padding_mode not in _PADDING_MODES:
        raise ValueError("Padding mode should be either constant, edge, reflect or symmetric")


def pad(img: Image, padding: int | Sequence[int], fill: float | Sequence[float] = 0,
        padding_mode: str = "constant") -> Image:
    """Pads the last two dims of a tensor, or the first two of an array.

    Args:
        padding: an int for all sides, ``(left/right, top/bottom)`` or ``(left, top, right, bottom)``.
        fill: the value of 'constant' padding; for an ``(H, W, C)`` array, a sequence of C values too.
        padding_mode: 'constant', 'edge' (repeat the border), 'reflect' (mirror without the border) or
            'symmetric' (mirror with the border).
    """
    _check_image(img)
    check_pad_args(padding, fill, padding_mode)
    left, top, right, bottom = parse_padding(padding)
    if isinstance(img, Tensor):
        return _pad_tensor(img, (left, top, right, bottom), fill, padding_mode)
    if padding_mode != "constant":
        widths = [(top, bottom), (left, right)] + [(0, 0)] * (img.ndim - 2)
        return np.pad(img, widths, mode=padding_mode)
    fill_values = np.asarray(fill, dtype=img.dtype)
    if fill_values.ndim and (img.ndim != 3 or fill_values.shape != (img.shape[2],)):
        raise ValueError(f"fill {fill} must be a number or one value per channel of an image of shape {img.shape}")
    height, width = img.shape[:2]
    out = np.empty((height + top + bottom, width + left + right) + img.shape[2:], dtype=img.dtype)
    out[...] = fill_values
    out[top:top + height, left:left + width] = img
    return out


def _pad_tensor(img: Tensor, sides: tuple[int, int, int, int], fill: Any, padding_mode: str) -> Tensor:
    left, top, right, bottom = sides
    if padding_mode == "constant":
        if not isinstance(fill, numbers.Number):
            raise TypeError(f"fill of a tensor image must be a number, got {fill}")
        return F.pad(img, [left, right, top, bottom], mode="constant", value=float(fill))
    # The source row/column of every output position, taken from np.pad on the positions themselves, so
    # tensors and arrays share one definition of each mode.
    rows = np.pad(np.arange(img.shape[-2]), (top, bottom), mode=padding_mode)
    cols = np.pad(np.arange(img.shape[-1]), (left, right), mode=padding_mode)
    return img.index_select(-2, from_numpy(rows)).index_select(-1, from_numpy(cols))


def crop(img: Image, top: int, left: int, height: int, width: int) -> Image:
    """The ``height x width`` region at ``(top, left)``; parts outside the image are zero, as torchvision."""
    _, full_height, full_width = get_dimensions(img)
    outside = (max(-left, 0), max(-top, 0), max(left + width - full_width, 0), max(top + height - full_height, 0))
    if any(outside):
        img = pad(img, list(outside))
        top, left = top + outside[1], left + outside[0]
    if isinstance(img, Tensor):
        return img[..., top:top + height, left:left + width]
    return img[top:top + height, left:left + width].copy()


def hflip(img: Image) -> Image:
    """Mirrors the image left to right."""
    _check_image(img)
    if isinstance(img, Tensor):
        return img.flip(-1)
    return np.ascontiguousarray(img[:, ::-1])
