r"""Pooling layers, as ``torch.nn``'s: max, average, power-average, adaptive and max-unpooling. Arguments are
stored as given (or tupled where PyTorch tuples them) so reprs match; the computation is
:mod:`ember.nn.functional`'s."""

from __future__ import annotations

from typing import Any

from ember.tensor.tensor import Tensor

from .. import functional as F
from .module import Module

__all__ = ["MaxPool1d", "MaxPool2d", "MaxPool3d", "MaxUnpool1d", "MaxUnpool2d", "AvgPool1d", "AvgPool2d",
           "AvgPool3d", "LPPool1d", "LPPool2d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveAvgPool1d",
           "AdaptiveAvgPool2d", "AdaptiveAvgPool3d"]


def _ntuple(value: Any, n: int) -> tuple:
    return tuple(value) if isinstance(value, tuple | list) else (value,) * n


class _MaxPoolNd(Module):
    _functional: str

    def __init__(self, kernel_size: Any, stride: Any | None = None, padding: Any = 0, dilation: Any = 1,
                 return_indices: bool = False, ceil_mode: bool = False) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def forward(self, input: Tensor) -> Any:
        return getattr(F, self._functional)(input, self.kernel_size, self.stride, self.padding, self.dilation,
                                            ceil_mode=self.ceil_mode, return_indices=self.return_indices)

    def extra_repr(self) -> str:
        return ("kernel_size={kernel_size}, stride={stride}, padding={padding}, dilation={dilation}, "
                "ceil_mode={ceil_mode}".format(**self.__dict__))


class MaxPool1d(_MaxPoolNd):
    r"""Applies 1-D max pooling over an input of several planes.

    Args:
        kernel_size: the size of the window to take a max over.
        stride: the stride of the window. Default: ``kernel_size``.
        padding: implicit negative-infinity padding on both sides (at most half the kernel).
        dilation: the stride between elements within a window.
        return_indices: if ``True``, also return the position of each maximum (for :class:`MaxUnpool1d`).
        ceil_mode: if ``True``, use ceil instead of floor to compute the output length.

    Shape:
        - Input: :math:`(N, C, L_{in})` or :math:`(C, L_{in})`.
        - Output: :math:`(N, C, L_{out})` or :math:`(C, L_{out})`, with
          :math:`L_{out} = \lfloor (L_{in} + 2 p - d (k - 1) - 1) / s + 1 \rfloor`.
    """

    _functional = "max_pool1d"


class MaxPool2d(_MaxPoolNd):
    r"""Applies 2-D max pooling over an input of several planes; arguments as :class:`MaxPool1d`, each an int or
    a pair ``(height, width)``.

    Shape:
        - Input: :math:`(N, C, H_{in}, W_{in})` or :math:`(C, H_{in}, W_{in})`.
        - Output: :math:`(N, C, H_{out}, W_{out})` or :math:`(C, H_{out}, W_{out})`.

    Example::

        >>> nn.MaxPool2d(3, stride=2)(ember.randn(20, 16, 50, 32)).size()
        ember.Size([20, 16, 24, 15])
    """

    _functional = "max_pool2d"


class MaxPool3d(_MaxPoolNd):
    r"""Applies 3-D max pooling over an input of several planes; arguments as :class:`MaxPool1d`, each an int or
    a triple ``(depth, height, width)``."""

    _functional = "max_pool3d"


class _MaxUnpoolNd(Module):
    _nd: int
    _functional: str

    def __init__(self, kernel_size: Any, stride: Any | None = None, padding: Any = 0) -> None:
        super().__init__()
        self.kernel_size = _ntuple(kernel_size, self._nd)
        self.stride = _ntuple(stride if stride is not None else kernel_size, self._nd)
        self.padding = _ntuple(padding, self._nd)

    def forward(self, input: Tensor, indices: Tensor, output_size: list[int] | None = None) -> Tensor:
        return getattr(F, self._functional)(input, indices, self.kernel_size, self.stride, self.padding, output_size)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool1d(_MaxUnpoolNd):
    r"""A partial inverse of :class:`MaxPool1d`: each value goes to the position its index names, zeros
    elsewhere; ``forward(input, indices, output_size=None)``."""

    _nd = 1
    _functional = "max_unpool1d"


class MaxUnpool2d(_MaxUnpoolNd):
    r"""A partial inverse of :class:`MaxPool2d`: each value goes to the position its index names, zeros
    elsewhere; ``forward(input, indices, output_size=None)``."""

    _nd = 2
    _functional = "max_unpool2d"


class _AvgPoolNd(Module):
    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool1d(_AvgPoolNd):
    r"""Applies 1-D average pooling over an input of several planes.

    Args:
        kernel_size: the size of the window.
        stride: the stride of the window. Default: ``kernel_size``.
        padding: implicit zero padding on both sides.
        ceil_mode: if ``True``, use ceil instead of floor to compute the output length.
        count_include_pad: if ``True``, the zero padding counts in the averages.

    Shape:
        - Input: :math:`(N, C, L_{in})` or :math:`(C, L_{in})`.
        - Output: :math:`(N, C, L_{out})` or :math:`(C, L_{out})`, with
          :math:`L_{out} = \lfloor (L_{in} + 2 p - k) / s + 1 \rfloor`.
    """

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
                 count_include_pad: bool = True) -> None:
        super().__init__()
        self.kernel_size = _ntuple(kernel_size, 1)
        self.stride = _ntuple(stride if stride is not None else kernel_size, 1)
        self.padding = _ntuple(padding, 1)
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad

    def forward(self, input: Tensor) -> Tensor:
        return F.avg_pool1d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad)


class _AvgPoolWithDivisor(_AvgPoolNd):
    _functional: str

    def __init__(self, kernel_size: Any, stride: Any | None = None, padding: Any = 0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override: int | None = None) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input: Tensor) -> Tensor:
        return getattr(F, self._functional)(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                                            self.count_include_pad, self.divisor_override)


class AvgPool2d(_AvgPoolWithDivisor):
    r"""Applies 2-D average pooling over an input of several planes; arguments as :class:`AvgPool1d`, each an int
    or a pair, plus ``divisor_override``: when given, the divisor of every window's sum.

    Shape:
        - Input: :math:`(N, C, H_{in}, W_{in})` or :math:`(C, H_{in}, W_{in})`.
        - Output: :math:`(N, C, H_{out}, W_{out})` or :math:`(C, H_{out}, W_{out})`.
    """

    _functional = "avg_pool2d"


class AvgPool3d(_AvgPoolWithDivisor):
    r"""Applies 3-D average pooling over an input of several planes; arguments as :class:`AvgPool2d`, each an int
    or a triple."""

    _functional = "avg_pool3d"


class _LPPoolNd(Module):
    _functional: str

    def __init__(self, norm_type: float, kernel_size: Any, stride: Any | None = None, ceil_mode: bool = False) -> None:
        super().__init__()
        self.norm_type = norm_type
        self.kernel_size = kernel_size
        self.stride = stride
        self.ceil_mode = ceil_mode

    def forward(self, input: Tensor) -> Tensor:
        return getattr(F, self._functional)(input, float(self.norm_type), self.kernel_size, self.stride,
                                            self.ceil_mode)

    def extra_repr(self) -> str:
        return "norm_type={norm_type}, kernel_size={kernel_size}, stride={stride}, ceil_mode={ceil_mode}".format(
            **self.__dict__)


class LPPool1d(_LPPoolNd):
    r"""Applies 1-D power-average pooling :math:`(\sum x^p)^{1/p}` over windows of the last dim.

    Args:
        norm_type: the power :math:`p` (infinity gives max pooling, 1 sum pooling).
        kernel_size: the size of the window.
        stride: the stride of the window. Default: ``kernel_size``.
        ceil_mode: if ``True``, use ceil instead of floor to compute the output length.
    """

    _functional = "lp_pool1d"


class LPPool2d(_LPPoolNd):
    r"""Applies 2-D power-average pooling :math:`(\sum x^p)^{1/p}`; arguments as :class:`LPPool1d`."""

    _functional = "lp_pool2d"


class _AdaptiveMaxPoolNd(Module):
    _functional: str

    def __init__(self, output_size: Any, return_indices: bool = False) -> None:
        super().__init__()
        self.output_size = output_size
        self.return_indices = return_indices

    def forward(self, input: Tensor) -> Any:
        return getattr(F, self._functional)(input, self.output_size, self.return_indices)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveMaxPool1d(_AdaptiveMaxPoolNd):
    r"""Applies 1-D adaptive max pooling: the last dim is split into ``output_size`` nearly equal windows.

    Args:
        output_size: the target output length.
        return_indices: if ``True``, also return the position of each maximum.

    Shape:
        - Input: :math:`(N, C, L_{in})` or :math:`(C, L_{in})`.
        - Output: :math:`(N, C, L_{out})` or :math:`(C, L_{out})`, :math:`L_{out} = output\_size`.
    """

    _functional = "adaptive_max_pool1d"


class AdaptiveMaxPool2d(_AdaptiveMaxPoolNd):
    r"""Applies 2-D adaptive max pooling to an ``output_size`` grid (an int, or a pair whose ``None`` entries
    keep the input's size); ``return_indices`` as :class:`AdaptiveMaxPool1d`."""

    _functional = "adaptive_max_pool2d"


class _AdaptiveAvgPoolNd(Module):
    _functional: str

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, input: Tensor) -> Tensor:
        return getattr(F, self._functional)(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveAvgPool1d(_AdaptiveAvgPoolNd):
    r"""Applies 1-D adaptive average pooling: the last dim is split into ``output_size`` nearly equal windows.

    Shape:
        - Input: :math:`(N, C, L_{in})` or :math:`(C, L_{in})`.
        - Output: :math:`(N, C, L_{out})` or :math:`(C, L_{out})`, :math:`L_{out} = output\_size`.
    """

    _functional = "adaptive_avg_pool1d"


class AdaptiveAvgPool2d(_AdaptiveAvgPoolNd):
    r"""Applies 2-D adaptive average pooling to an ``output_size`` grid (an int, or a pair whose ``None`` entries
    keep the input's size).

    Example::

        >>> nn.AdaptiveAvgPool2d((5, None))(ember.randn(1, 64, 8, 9)).size()
        ember.Size([1, 64, 5, 9])
    """

    _functional = "adaptive_avg_pool2d"


class AdaptiveAvgPool3d(_AdaptiveAvgPoolNd):
    r"""Applies 3-D adaptive average pooling to an ``output_size`` grid (an int or a triple, ``None`` keeping a
    size)."""

    _functional = "adaptive_avg_pool3d"
