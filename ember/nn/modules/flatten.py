"""Reshaping layers, as ``torch.nn.Flatten`` and ``torch.nn.Unflatten``."""

from __future__ import annotations

from typing import Any

from ember.tensor.tensor import Tensor

from .module import Module

__all__ = ["Flatten", "Unflatten"]


class Flatten(Module):
    r"""Flattens the contiguous range of dims ``start_dim`` to ``end_dim`` into one.

    Args:
        start_dim: first dim to flatten (default: 1, keeping the batch dim).
        end_dim: last dim to flatten (default: -1).

    Shape:
        - Input: :math:`(*, S_{start}, ..., S_{end}, *)`.
        - Output: :math:`(*, \prod_{i=start}^{end} S_i, *)`.

    Example::

        >>> nn.Flatten()(ember.randn(32, 1, 5, 5)).size()
        ember.Size([32, 25])
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input: Tensor) -> Tensor:
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    r"""Unflattens dim ``dim`` of the input into the shape ``unflattened_size`` (one entry may be -1).

    Args:
        dim: the dim to unflatten.
        unflattened_size: a tuple or list of ints, the new shape of that dim.

    Shape:
        - Input: :math:`(*, S_{dim}, *)`.
        - Output: :math:`(*, U_1, ..., U_n, *)` with :math:`\prod U_i = S_{dim}`.

    Example::

        >>> nn.Unflatten(1, (2, 5, 5))(ember.randn(2, 50)).size()
        ember.Size([2, 2, 5, 5])
    """

    def __init__(self, dim: int, unflattened_size: Any) -> None:
        super().__init__()
        self._require_tuple_int(unflattened_size)
        self.dim = dim
        self.unflattened_size = unflattened_size

    def _require_tuple_int(self, input: Any) -> None:
        if isinstance(input, tuple | list):
            for idx, elem in enumerate(input):
                if not isinstance(elem, int):
                    raise TypeError("unflattened_size must be tuple of ints, "
                                    f"but found element of type {type(elem).__name__} at pos {idx}")
            return
        raise TypeError(f"unflattened_size must be a tuple of ints, but found type {type(input).__name__}")

    def forward(self, input: Tensor) -> Tensor:
        return input.unflatten(self.dim, self.unflattened_size)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
