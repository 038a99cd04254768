"""Padding layers, as ``torch.nn`` padding: constant (and zero), reflection, replication and circular padding
of the last 1, 2 or 3 dims, through :func:`ember.nn.functional.pad`.

``padding`` is one int (the same on every side) or a tuple ``(left, right[, top, bottom[, front, back]])``,
starting from the last dim, as in :func:`~ember.nn.functional.pad`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ...tensor.tensor import Tensor
from .. import functional as F
from .module import Module

__all__ = ["CircularPad1d", "CircularPad2d", "CircularPad3d", "ConstantPad1d", "ConstantPad2d", "ConstantPad3d",
           "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d", "ReplicationPad1d", "ReplicationPad2d",
           "ReplicationPad3d", "ZeroPad1d", "ZeroPad2d", "ZeroPad3d"]


def _sides(padding: int | Sequence[int], n: int) -> tuple:
    """``padding`` as a tuple: an int repeated for all ``n`` sides, a sequence kept as given (PyTorch's _ntuple)."""
    if isinstance(padding, Iterable):
        return tuple(padding)
    return (padding,) * n


class _PadNd(Module):
    """A padding of the last ``len(padding) // 2`` dims in one ``F.pad`` mode; the repr shows the padding."""

    mode: str

    def __init__(self, padding: int | Sequence[int], sides: int) -> None:
        super().__init__()
        self.padding = _sides(padding, sides)

    def forward(self, input: Tensor) -> Tensor:
        return F.pad(input, self.padding, self.mode)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class _CircularPadNd(_PadNd):
    mode = "circular"
    # The input ranks accepted: unbatched and batched.
    ranks: tuple[int, int]

    def forward(self, input: Tensor) -> Tensor:
        if input.dim() not in self.ranks:
            raise ValueError(f"expected {self.ranks[0]}D or {self.ranks[1]}D input (got {input.dim()}D input)")
        return super().forward(input)


class CircularPad1d(_CircularPadNd):
    """Pads the last dim circularly (wrapping around). Input :math:`(C, W)` or :math:`(N, C, W)`.

    Args:
        padding: int, or ``(left, right)``.
    """

    ranks = (2, 3)

    def __init__(self, padding: int | Sequence[int]) -> None:
        super().__init__(padding, 2)


class CircularPad2d(_CircularPadNd):
    """Pads the last two dims circularly. Input :math:`(C, H, W)` or :math:`(N, C, H, W)`.

    Args:
        padding: int, or ``(left, right, top, bottom)``.
    """

    ranks = (3, 4)

    def __init__(self, padding: int | Sequence[int]) -> None:
        super().__init__(padding, 4)


class CircularPad3d(_CircularPadNd):
    """Pads the last three dims circularly. Input :math:`(C, D, H, W)` or :math:`(N, C, D, H, W)`.

    Args:
        padding: int, or ``(left, right, top, bottom, front, back)``.
    """

    ranks = (4, 5)

    def __init__(self, padding: int | Sequence[int]) -> None:
        super().__init__(padding, 6)


class _ConstantPadNd(_PadNd):
    """Constant padding with ``value`` (negative padding crops)."""

    mode = "constant"

    def __init__(self, padding: int | Sequence[int], value: float, sides: int) -> None:
        super().__init__(padding, sides)
        self.value = value

    def forward(self, input: Tensor) -> Tensor:
        return F.pad(input, self.padding, "constant", self.value)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class ConstantPad1d(_ConstantPadNd):
    """Pads the last dim with a constant ``value``.

    Args:
        padding: int, or ``(left, right)``.
        value: the fill value.
    """

    def __init__(self, padding: int | Sequence[int], value: float) -> None:
        super().__init__(padding, value, 2)


class ConstantPad2d(_ConstantPadNd):
    """Pads the last two dims with a constant ``value``.

    Args:
        padding: int, or ``(left, right, top, bottom)``.
        value: the fill value.
    """

    def __init__(self, padding: int | Sequence[int], value: float) -> None:
        super().__init__(padding, value, 4)


class ConstantPad3d(_ConstantPadNd):
    """Pads the last three dims with a constant ``value``.

    Args:
        padding: int, or ``(left, right, top, bottom, front, back)``.
        value: the fill value.
    """

    def __init__(self, padding: int | Sequence[int], value: float) -> None:
        super().__init__(padding, value, 6)


class ZeroPad1d(ConstantPad1d):
    """Pads the last dim with zeros.

    Args:
        padding: int, or ``(left, right)``.
    """

    def __init__(self, padding: int | Sequence[int]) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ZeroPad2d(ConstantPad2d):
    """Pads the last two dims with zeros.

    Args:
        padding: int, or ``(left, right, top, bottom)``.
    """

    def __init__(self, padding: int | Sequence[int]) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ZeroPad3d(ConstantPad3d):
    """Pads the last three dims with zeros.

    Args:
        padding: int, or ``(left, right, top, bottom, front, back)``.
    """

    def __init__(self, padding: int | Sequence[int]) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class _ReflectionPadNd(_PadNd):
    mode = "reflect"


class ReflectionPad1d(_ReflectionPadNd):
    """Pads the last dim with its reflection about the edge (each pad smaller than the dim).

    Args:
        padding: int, or ``(left, right)``.
    """

    def __init__(self, padding: int | Sequence[int]) -> None:
        super().__init__(padding, 2)


class ReflectionPad2d(_ReflectionPadNd):
    """Pads the last two dims with their reflection about the edges.

    Args:
        padding: int, or ``(left, right, top, bottom)``.
    """

    def __init__(self, padding: int | Sequence[int]) -> None:
        super().__init__(padding, 4)


class ReflectionPad3d(_ReflectionPadNd):
    """Pads the last three dims with their reflection about the edges.

    Args:
        padding: int, or ``(left, right, top, bottom, front, back)``.
    """

    def __init__(self, padding: int | Sequence[int]) -> None:
        super().__init__(padding, 6)


class _ReplicationPadNd(_PadNd):
    mode = "replicate"


class ReplicationPad1d(_ReplicationPadNd):
    """Pads the last dim by repeating its edge values.

    Args:
        padding: int, or ``(left, right)``.
    """

    def __init__(self, padding: int | Sequence[int]) -> None:
        super().__init__(padding, 2)


class ReplicationPad2d(_ReplicationPadNd):
    """Pads the last two dims by repeating their edge values.

    Args:
        padding: int, or ``(left, right, top, bottom)``.
    """

    def __init__(self, padding: int | Sequence[int]) -> None:
        super().__init__(padding, 4)


class ReplicationPad3d(_ReplicationPadNd):
    """Pads the last three dims by repeating their edge values.

    Args:
        padding: int, or ``(left, right, top, bottom, front, back)``.
    """

    def __init__(self, padding: int | Sequence[int]) -> None:
        super().__init__(padding, 6)
