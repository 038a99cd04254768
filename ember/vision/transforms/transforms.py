"""Image transforms, as ``torchvision.transforms``: same names, arguments, defaults and reprs.

Random transforms draw from ember's global generator the values ``ember.rand(1)`` and ``ember.randint``
would, in torchvision's order, so ``ember.manual_seed`` makes a pipeline reproducible; DataLoader workers
reseed it per worker.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import Any

from ...nn.modules.module import Module
from ...tensor.dtypes import get_default_dtype
from ...tensor.random import integers, unit_uniform
from ...tensor.tensor import Tensor
from . import functional as F


class Compose:
    """Chains transforms: ``Compose([ToTensor(), Normalize(mean, std)])(img)``.

    Args:
        transforms: the transforms, applied in order.
    """

    def __init__(self, transforms: Sequence[Callable]) -> None:
        self.transforms = transforms

    def __call__(self, img: Any) -> Any:
        for transform in self.transforms:
            img = transform(img)
        return img

    def __repr__(self) -> str:
        lines = "".join(f"\n    {transform}" for transform in self.transforms)
        return f"{self.__class__.__name__}({lines}\n)"


class ToTensor:
    """Converts an ``(H, W)`` or ``(H, W, C)`` NumPy image to a ``(C, H, W)`` tensor.

    ``uint8`` images become floats of the default dtype in [0, 1] (divided by 255); other arrays keep their
    dtype and values, as in torchvision. An ember tensor passes through unchanged.
    """

    def __call__(self, pic: Any) -> Tensor:
        return F.to_tensor(pic)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}()"


class Lambda:
    """Wraps a user function as a transform.

    Args:
        lambd: the function, called with the image.
    """

    def __init__(self, lambd: Callable) -> None:
        if not callable(lambd):
            raise TypeError(f"Argument lambd should be callable, got {type(lambd).__name__!r}")
        self.lambd = lambd

    def __call__(self, img: Any) -> Any:
        return self.lambd(img)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}()"


class Normalize(Module):
    """Normalises a float tensor image per channel: ``output[c] = (input[c] - mean[c]) / std[c]``.

    Args:
        mean: one mean per channel.
        std: one standard deviation per channel.
        inplace: write into the input instead of a copy.

    Shape:
        Input and output: ``(..., C, H, W)``.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float], inplace: bool = False) -> None:
        super().__init__()
        self.mean = mean
        self.std = std
        self.inplace = inplace

    def forward(self, tensor: Tensor) -> Tensor:
        return F.normalize(tensor, self.mean, self.std, self.inplace)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(mean={self.mean}, std={self.std})"


def _setup_size(size: int | Sequence[int], error_msg: str) -> tuple[int, int]:
    if isinstance(size, numbers.Number):
        return int(size), int(size)
    if isinstance(size, Sequence) and len(size) == 1:
        return size[0], size[0]
    if len(size) != 2:
        raise ValueError(error_msg)
    return size[0], size[1]


class Pad(Module):
    """Pads the image on every side.

    Args:
        padding: an int for all sides, ``(left/right, top/bottom)`` or ``(left, top, right, bottom)``.
        fill: the value of 'constant' padding (one per channel allowed for ``(H, W, C)`` arrays).
        padding_mode: 'constant', 'edge', 'reflect' or 'symmetric'.
    """

    def __init__(self, padding: int | Sequence[int], fill: float | Sequence[float] = 0,
                 padding_mode: str = "constant") -> None:
        super().__init__()
        F.check_pad_args(padding, fill, padding_mode)
        self.padding = padding
        self.fill = fill
        self.padding_mode = padding_mode

    def forward(self, img: F.Image) -> F.Image:
        return F.pad(img, self.padding, self.fill, self.padding_mode)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(padding={self.padding}, fill={self.fill}, padding_mode={self.padding_mode})"


class RandomCrop(Module):
    """Crops a random ``size`` region, after optional padding.

    Args:
        size: ``(height, width)`` of the crop, or an int for a square.
        padding: padding applied first (see :class:`Pad`); None for none.
        pad_if_needed: pad a side shorter than the crop by the difference on both ends (as torchvision).
        fill: the value of 'constant' padding.
        padding_mode: 'constant', 'edge', 'reflect' or 'symmetric'.

    The offsets are drawn as torchvision draws them: ``randint(0, H - h + 1)`` then ``randint(0, W - w + 1)``
    from ember's global generator, nothing drawn when the image already has the crop's size.
    """

    def __init__(self, size: int | Sequence[int], padding: int | Sequence[int] | None = None,
                 pad_if_needed: bool = False, fill: float | Sequence[float] = 0,
                 padding_mode: str = "constant") -> None:
        super().__init__()
        self.size = tuple(_setup_size(size, error_msg="Please provide only two dimensions (h, w) for size."))
        F.check_pad_args(0 if padding is None else padding, fill, padding_mode)
        self.padding = padding
        self.pad_if_needed = pad_if_needed
        self.fill = fill
        self.padding_mode = padding_mode

    @staticmethod
    def get_params(img: F.Image, output_size: tuple[int, int]) -> tuple[int, int, int, int]:
        """``(top, left, height, width)`` of a random crop of ``output_size``."""
        _, height, width = F.get_dimensions(img)
        crop_height, crop_width = output_size
        if height < crop_height or width < crop_width:
            raise ValueError(f"Required crop size {(crop_height, crop_width)} is larger than input image size "
                             f"{(height, width)}")
        if width == crop_width and height == crop_height:
            return 0, 0, height, width
        # ember.randint's draws without building a tensor per number (samples are transformed one by one).
        top = int(integers(None, 0, height - crop_height + 1, (1,))[0])
        left = int(integers(None, 0, width - crop_width + 1, (1,))[0])
        return top, left, crop_height, crop_width

    def forward(self, img: F.Image) -> F.Image:
        if self.padding is not None:
            img = F.pad(img, self.padding, self.fill, self.padding_mode)
        _, height, width = F.get_dimensions(img)
        if self.pad_if_needed and width < self.size[1]:
            img = F.pad(img, [self.size[1] - width, 0], self.fill, self.padding_mode)
        if self.pad_if_needed and height < self.size[0]:
            img = F.pad(img, [0, self.size[0] - height], self.fill, self.padding_mode)
        top, left, crop_height, crop_width = self.get_params(img, self.size)
        return F.crop(img, top, left, crop_height, crop_width)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(size={self.size}, padding={self.padding})"


class RandomHorizontalFlip(Module):
    """Mirrors the image left to right with probability ``p`` (one ``ember.rand(1)`` draw per call).

    Args:
        p: the probability of flipping.
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        self.p = p

    def forward(self, img: F.Image) -> F.Image:
        if unit_uniform(None, (1,), get_default_dtype())[0] < self.p:  # ember.rand(1)'s draw
            return F.hflip(img)
        return img

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(p={self.p})"
