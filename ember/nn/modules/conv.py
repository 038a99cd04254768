r"""Convolution layers, as ``torch.nn.Conv1d/2d/3d`` and ``ConvTranspose1d/2d/3d``: the same arguments, checks,
default initialisation, state_dict keys and repr; the computation is :mod:`ember.nn.functional`'s."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import ember
from ember.tensor.tensor import Tensor

from .. import functional as F
from ..parameter import Parameter
from ._parameters import register_optional, reset_fan_in_uniform
from .module import Module

__all__ = ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"]

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _ntuple(value: Any, n: int) -> tuple:
    """``value`` repeated ``n`` times, or as a tuple when it is already a sequence (torch's ``_ntuple``)."""
    if isinstance(value, Iterable) and not isinstance(value, str):
        return tuple(value)
    return (value,) * n


class _ConvNd(Module):
    """The parameters, checks, initialisation and repr shared by every convolution layer."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: tuple, stride: tuple, padding: str | tuple,
                 dilation: tuple, transposed: bool, output_padding: tuple, groups: int, bias: bool,
                 padding_mode: str, device=None, dtype=None) -> None:
        super().__init__()
        if groups <= 0:
            raise ValueError("groups must be a positive integer")
        if in_channels % groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups != 0:
            raise ValueError("out_channels must be divisible by groups")
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"Invalid padding string {padding!r}, should be one of {{'valid', 'same'}}")
            if padding == "same" and any(s != 1 for s in stride):
                raise ValueError("padding='same' is not supported for strided convolutions")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {{'zeros', 'reflect', 'replicate', 'circular'}}, but got "
                             f"padding_mode='{padding_mode}'")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.transposed = transposed
        self.output_padding = output_padding
        self.groups = groups
        self.padding_mode = padding_mode
        # The padding as F.pad wants it (last dim first, left and right), for the non-'zeros' padding modes,
        # which pad explicitly and then convolve without padding.
        if isinstance(padding, str):
            self._reversed_padding_repeated_twice = [0, 0] * len(kernel_size)
            if padding == "same":
                for d, k, i in zip(dilation, kernel_size, range(len(kernel_size) - 1, -1, -1), strict=True):
                    total = d * (k - 1)
                    self._reversed_padding_repeated_twice[2 * i] = total // 2
                    self._reversed_padding_repeated_twice[2 * i + 1] = total - total // 2
        else:
            self._reversed_padding_repeated_twice = tuple(p for p in reversed(padding) for _ in range(2))
        shape = (in_channels, out_channels // groups) if transposed else (out_channels, in_channels // groups)
        self.weight = Parameter(ember.empty((*shape, *kernel_size), device=device, dtype=dtype))
        register_optional(self, "bias", out_channels, bias, device, dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-draw the weight (kaiming_uniform_ with a = sqrt(5)) and the bias (U(-1/sqrt(fan_in), ...))."""
        reset_fan_in_uniform(self.weight, self.bias)

    def extra_repr(self) -> str:
        s = "{in_channels}, {out_channels}, kernel_size={kernel_size}, stride={stride}"
        if self.padding != (0,) * len(self.padding):
            s += ", padding={padding}"
        if self.dilation != (1,) * len(self.dilation):
            s += ", dilation={dilation}"
        if self.output_padding != (0,) * len(self.output_padding):
            s += ", output_padding={output_padding}"
        if self.groups != 1:
            s += ", groups={groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += ", padding_mode={padding_mode}"
        return s.format(**self.__dict__)


class _ConvForward(_ConvNd):
    """A forward convolution over ``_nd`` spatial dims with the functional ``F._functional``."""

    _nd: int
    _functional: str

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: str | Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", device=None, dtype=None) -> None:
        n = self._nd
        super().__init__(in_channels, out_channels, _ntuple(kernel_size, n), _ntuple(stride, n),
                         padding if isinstance(padding, str) else _ntuple(padding, n), _ntuple(dilation, n),
                         False, _ntuple(0, n), groups, bias, padding_mode, device=device, dtype=dtype)

    def _conv_forward(self, input: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        conv = getattr(F, self._functional)
        if self.padding_mode != "zeros":
            padded = F.pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            return conv(padded, weight, bias, self.stride, _ntuple(0, self._nd), self.dilation, self.groups)
        return conv(input, weight, bias, self.stride, self.padding, self.dilation, self.groups)

    def forward(self, input: Tensor) -> Tensor:
        return self._conv_forward(input, self.weight, self.bias)


class Conv1d(_ConvForward):
    r"""Applies a 1-D convolution (cross-correlation) over an input of several planes.

    Args:
        in_channels: channels of the input.
        out_channels: channels produced by the convolution.
        kernel_size: size of the convolving kernel.
        stride: stride of the convolution. Default: 1.
        padding: zero padding added to both sides, or ``'valid'`` (none) or ``'same'`` (output as long as the
            input; only with stride 1). Default: 0.
        dilation: spacing between kernel elements. Default: 1.
        groups: number of blocked connections from input to output channels. Default: 1.
        bias: if ``True``, adds a learnable bias. Default: ``True``.
        padding_mode: ``'zeros'``, ``'reflect'``, ``'replicate'`` or ``'circular'``. Default: ``'zeros'``.

    Shape:
        - Input: :math:`(N, C_{in}, L_{in})` or :math:`(C_{in}, L_{in})`.
        - Output: :math:`(N, C_{out}, L_{out})` or :math:`(C_{out}, L_{out})`, with
          :math:`L_{out} = \lfloor (L_{in} + 2 p - d (k - 1) - 1) / s + 1 \rfloor`.

    Attributes:
        weight: ``(out_channels, in_channels / groups, kernel_size)``, U(-sqrt(k), sqrt(k)) with
            :math:`k = groups / (C_{in} \cdot kernel\_size)`.
        bias: ``(out_channels)``, from the same distribution.
    """

    _nd = 1
    _functional = "conv1d"


class Conv2d(_ConvForward):
    r"""Applies a 2-D convolution (cross-correlation) over an input of several planes.

    Args are those of :class:`Conv1d`, each size an int or a pair ``(height, width)``.

    Shape:
        - Input: :math:`(N, C_{in}, H_{in}, W_{in})` or :math:`(C_{in}, H_{in}, W_{in})`.
        - Output: :math:`(N, C_{out}, H_{out}, W_{out})` or :math:`(C_{out}, H_{out}, W_{out})`, each spatial size
          :math:`\lfloor (S_{in} + 2 p - d (k - 1) - 1) / s + 1 \rfloor`.

    Example::

        >>> m = nn.Conv2d(16, 33, (3, 5), stride=(2, 1), padding=(4, 2), dilation=(3, 1))
        >>> m(ember.randn(20, 16, 50, 100)).size()
        ember.Size([20, 33, 26, 100])
    """

    _nd = 2
    _functional = "conv2d"


class Conv3d(_ConvForward):
    r"""Applies a 3-D convolution (cross-correlation) over an input of several planes.

    Args are those of :class:`Conv1d`, each size an int or a triple ``(depth, height, width)``.

    Shape:
        - Input: :math:`(N, C_{in}, D_{in}, H_{in}, W_{in})` or :math:`(C_{in}, D_{in}, H_{in}, W_{in})`.
        - Output: :math:`(N, C_{out}, D_{out}, H_{out}, W_{out})` or without the batch dim.
    """

    _nd = 3
    _functional = "conv3d"


class _ConvTransposeNd(_ConvNd):
    """A transposed convolution over ``_nd`` spatial dims with the functional ``F._functional``."""

    _nd: int
    _functional: str

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                 output_padding: Any = 0, groups: int = 1, bias: bool = True, dilation: Any = 1,
                 padding_mode: str = "zeros", device=None, dtype=None) -> None:
        if padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for {type(self).__name__}')
        n = self._nd
        super().__init__(in_channels, out_channels, _ntuple(kernel_size, n), _ntuple(stride, n),
                         _ntuple(padding, n), _ntuple(dilation, n), True, _ntuple(output_padding, n), groups, bias,
                         padding_mode, device=device, dtype=dtype)

    def _output_padding(self, input: Tensor, output_size: list[int] | None, stride: tuple, padding: tuple,
                        kernel_size: tuple, num_spatial_dims: int, dilation: tuple | None = None) -> list[int]:
        """The output padding that yields ``output_size`` (``self.output_padding`` when it is None)."""
        if output_size is None:
            return list(self.output_padding)
        non_spatial = 2 if input.dim() == num_spatial_dims + 2 else 1
        output_size = list(output_size)
        if len(output_size) == non_spatial + num_spatial_dims:
            output_size = output_size[non_spatial:]
        if len(output_size) != num_spatial_dims:
            raise ValueError(f"ConvTranspose{num_spatial_dims}D: for {input.dim()}D input, output_size must have "
                             f"{num_spatial_dims} or {non_spatial + num_spatial_dims} elements (got "
                             f"{len(output_size)})")
        min_sizes = [(input.size(d + non_spatial) - 1) * stride[d] - 2 * padding[d]
                     + (dilation[d] if dilation is not None else 1) * (kernel_size[d] - 1) + 1
                     for d in range(num_spatial_dims)]
        max_sizes = [m + s - 1 for m, s in zip(min_sizes, stride, strict=True)]
        for size, low, high in zip(output_size, min_sizes, max_sizes, strict=True):
            if size < low or size > high:
                raise ValueError(f"requested an output size of {output_size}, but valid sizes range from "
                                 f"{min_sizes} to {max_sizes} (for an input of {input.size()[2:]})")
        return [size - low for size, low in zip(output_size, min_sizes, strict=True)]

    def forward(self, input: Tensor, output_size: list[int] | None = None) -> Tensor:
        if self.padding_mode != "zeros":
            raise ValueError(f"Only `zeros` padding mode is supported for {type(self).__name__}")
        output_padding = self._output_padding(input, output_size, self.stride, self.padding, self.kernel_size,
                                              self._nd, self.dilation)
        conv_transpose = getattr(F, self._functional)
        return conv_transpose(input, self.weight, self.bias, self.stride, self.padding, output_padding, self.groups,
                              self.dilation)


class ConvTranspose1d(_ConvTransposeNd):
    r"""Applies a 1-D transposed convolution (the gradient of :class:`Conv1d` with respect to its input).

    Args:
        in_channels: channels of the input.
        out_channels: channels produced by the convolution.
        kernel_size: size of the convolving kernel.
        stride: stride of the convolution. Default: 1.
        padding: ``dilation * (kernel_size - 1) - padding`` zeros are added to both sides of the input.
            Default: 0.
        output_padding: extra size added to one side of the output. Default: 0.
        groups: number of blocked connections from input to output channels. Default: 1.
        bias: if ``True``, adds a learnable bias. Default: ``True``.
        dilation: spacing between kernel elements. Default: 1.
        padding_mode: only ``'zeros'``.

    Shape:
        - Input: :math:`(N, C_{in}, L_{in})` or :math:`(C_{in}, L_{in})`.
        - Output: :math:`L_{out} = (L_{in} - 1) s - 2 p + d (k - 1) + output\_padding + 1`.

    ``forward(input, output_size=None)``: ``output_size`` picks the output padding that gives that size.

    Attributes:
        weight: ``(in_channels, out_channels / groups, kernel_size)``.
        bias: ``(out_channels)``.
    """

    _nd = 1
    _functional = "conv_transpose1d"


class ConvTranspose2d(_ConvTransposeNd):
    r"""Applies a 2-D transposed convolution (the gradient of :class:`Conv2d` with respect to its input).

    Args are those of :class:`ConvTranspose1d`, each size an int or a pair ``(height, width)``.

    Example::

        >>> up = nn.ConvTranspose2d(16, 16, 3, stride=2, padding=1)
        >>> up(ember.randn(1, 16, 6, 6), output_size=[1, 16, 12, 12]).size()
        ember.Size([1, 16, 12, 12])
    """

    _nd = 2
    _functional = "conv_transpose2d"


class ConvTranspose3d(_ConvTransposeNd):
    r"""Applies a 3-D transposed convolution (the gradient of :class:`Conv3d` with respect to its input).

    Args are those of :class:`ConvTranspose1d`, each size an int or a triple ``(depth, height, width)``.
    """

    _nd = 3
    _functional = "conv_transpose3d"
