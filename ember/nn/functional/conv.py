"""Padding and convolution over the trailing spatial dims of ``(N, C, *spatial)`` tensors.

Convolution and transposed convolution validate their arguments here, as torch does, and run the primitives of
``conv_kernels`` (im2col + matmul NumPy kernels with their own backward ops); ``unfold`` and ``fold`` are built
from ``unfold`` views and ``index_add``.
"""

from __future__ import annotations

import numpy as np

import ember
from ember.tensor.tensor import Tensor

from .conv_kernels import convolution, convolution_input_grad


def _tuple(value, n: int, name: str) -> tuple:
    if isinstance(value, int):
        return (value,) * n
    value = tuple(int(v) for v in value)
    if len(value) == 1:
        return value * n
    if len(value) != n:
        raise RuntimeError(f"expected {name} to be a single integer value or a list of {n} values to match the "
                           f"convolution dimensions, but got {name}={list(value)}")
    return value


def pad(input: Tensor, pad: list[int], mode: str = "constant", value: float | None = None) -> Tensor:
    """Pads the last ``len(pad) // 2`` dims, ``pad = (last_left, last_right, prev_left, ...)``; 'constant'
    fills with ``value`` (negative pads crop), 'reflect', 'replicate' and 'circular' take the values from
    the input's edges."""
    pad = tuple(p if isinstance(p, int) else int(p) for p in pad)  # int subclasses (traced sizes) stay symbolic
    if len(pad) % 2:
        raise RuntimeError("Padding length must be divisible by 2")
    if len(pad) // 2 > input.dim():
        raise RuntimeError(f"Padding length should be less than or equal to two times the input dimension but got "
                           f"padding length {len(pad)} and input of dimension {input.dim()}")
    if mode != "constant" and value:
        raise RuntimeError(f'Padding mode "{mode}" doesn\'t take in value argument')
    if mode not in ("constant", "reflect", "replicate", "circular"):
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    if mode != "constant" and not (len(pad) in (2, 4, 6) and len(pad) // 2 + 1 <= input.dim() <= len(pad) // 2 + 2):
        raise NotImplementedError(
            f"Padding size {len(pad)} is not supported for {input.dim()}D input tensor.\n"
            "Supported combinations for non-constant padding:\n"
            "  - 2D or 3D input: padding size = 2 (pads last dimension)\n"
            "  - 3D or 4D input: padding size = 4 (pads last 2 dimensions)\n"
            "  - 4D or 5D input: padding size = 6 (pads last 3 dimensions)")
    out = input
    for i in range(len(pad) // 2):
        dim, left, right = input.dim() - 1 - i, pad[2 * i], pad[2 * i + 1]
        size = out.shape[dim]
        if mode == "constant":
            out = _pad_constant(out, dim, left, right, 0.0 if value is None else value)
            continue
        if mode == "reflect" and (left >= size or right >= size):
            raise RuntimeError(f"Argument #4: Padding size should be less than the corresponding input dimension, "
                               f"but got: padding ({left}, {right}) at dimension {dim} of input {list(input.shape)}")
        positions = np.arange(-left, size + right)
        if mode == "reflect":
            period = 2 * (size - 1)
            positions = np.abs(positions) % period if period else np.zeros_like(positions)
            positions = np.where(positions >= size, period - positions, positions)
        elif mode == "replicate":
            positions = np.clip(positions, 0, size - 1)
        else:
            if left > size or right > size:
                raise RuntimeError("Padding value causes wrapping around more than once.")
            positions = positions % size
        out = out.index_select(dim, ember.from_numpy(positions.astype(np.int64)))
    return out


def _pad_constant(x: Tensor, dim: int, left: int, right: int, value: float) -> Tensor:
    if left < 0:
        x, left = x.narrow(dim, -left, x.shape[dim] + left), 0
    if right < 0:
        x, right = x.narrow(dim, 0, x.shape[dim] + right), 0
    def filler(amount: int) -> list[Tensor]:
        shape = list(x.shape)
        shape[dim] = amount
        return [ember.full(shape, value, dtype=x.dtype)] if amount else []

    parts = [*filler(left), x, *filler(right)]
    return ember.cat(parts, dim) if len(parts) > 1 else x


def _windows(x: Tensor, kernel: tuple, stride: tuple, dilation: tuple) -> Tensor:
    """``(N, C, *out, *kernel)``: every (dilated) window of the spatial dims of ``x``, as a view."""
    nd = len(kernel)
    for i in range(nd):
        x = x.unfold(2 + i, dilation[i] * (kernel[i] - 1) + 1, stride[i])
    if any(d > 1 for d in dilation):
        x = x[(Ellipsis, *(slice(None, None, d) for d in dilation))]
    return x


def _check_geometry(stride: tuple, padding, dilation: tuple) -> None:
    if any(s <= 0 for s in stride):
        raise RuntimeError("non-positive stride is not supported")
    if any(p < 0 for p in padding):
        raise RuntimeError("negative padding is not supported")
    if any(d <= 0 for d in dilation):
        raise RuntimeError(f"dilation should be greater than zero, but got {list(dilation)}")


def _as_batched(nd: int, input: Tensor, name: str) -> tuple[Tensor, bool]:
    """``input`` with a batch dim (added to an unbatched one), and whether it had one."""
    if input.dim() == nd + 2:
        return input, True
    if input.dim() != nd + 1:
        raise RuntimeError(f"Expected {nd + 1}D (unbatched) or {nd + 2}D (batched) input to {name}, but got "
                           f"input of size: {list(input.shape)}")
    return input.unsqueeze(0), False


def _conv(nd: int, input: Tensor, weight: Tensor, bias: Tensor | None, stride, padding, dilation,
          groups: int) -> Tensor:
    input, batched = _as_batched(nd, input, f"conv{nd}d")
    stride, dilation = _tuple(stride, nd, "stride"), _tuple(dilation, nd, "dilation")
    kernel = tuple(weight.shape[2:])
    if isinstance(padding, str):
        if padding not in ("same", "valid"):
            raise ValueError(f"Invalid padding string '{padding}', should be one of {{'valid', 'same'}}")
        if padding == "same" and any(s != 1 for s in stride):
            raise ValueError("padding='same' is not supported for strided convolutions")
        totals = [0 if padding == "valid" else d * (k - 1) for d, k in zip(dilation, kernel, strict=True)]
        # PyTorch puts the odd element of 'same' padding on the right.
        pairs = [(t // 2, t - t // 2) for t in totals]
    else:
        pairs = [(p, p) for p in _tuple(padding, nd, "padding")]
    _check_geometry(stride, [p for pair in pairs for p in pair], dilation)
    out_channels, in_per_group = weight.shape[0], weight.shape[1]
    if weight.dim() != nd + 2:
        raise RuntimeError(f"Expected {nd + 2}-dimensional weight for conv{nd}d, but got weight of size "
                           f"{list(weight.shape)}")
    if input.shape[1] != in_per_group * groups or out_channels % groups:
        raise RuntimeError(f"Given groups={groups}, weight of size {list(weight.shape)}, expected input"
                           f"{list(input.shape)} to have {in_per_group * groups} channels, but got "
                           f"{input.shape[1]} channels instead")
    if bias is not None and tuple(bias.shape) != (out_channels,):
        raise RuntimeError(f"Given weight of size {list(weight.shape)}, expected bias to be 1-dimensional with "
                           f"{out_channels} elements, but got bias of size {list(bias.shape)} instead")
    padded = [n + lo + hi for n, (lo, hi) in zip(input.shape[2:], pairs, strict=True)]
    for i in range(nd):
        if padded[i] < dilation[i] * (kernel[i] - 1) + 1:
            raise RuntimeError(f"Calculated padded input size per channel: ({' x '.join(map(str, padded))}). "
                               f"Kernel size: ({' x '.join(map(str, kernel))}). "
                               "Kernel size can't be greater than actual input size")
    out = convolution(input, weight, bias, stride=stride, padding=tuple(pairs), dilation=dilation, groups=groups)
    return out if batched else out.squeeze(0)


def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1,
           groups: int = 1) -> Tensor:
    """1-D cross-correlation of ``(N, C_in, L)`` with ``weight`` ``(C_out, C_in / groups, k)``; ``padding``
    may be an int, a tuple, 'valid' or 'same'."""
    return _conv(1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1,
           groups: int = 1) -> Tensor:
    """2-D cross-correlation of ``(N, C_in, H, W)`` with ``weight`` ``(C_out, C_in / groups, kH, kW)``;
    ``padding`` may be an int, a tuple, 'valid' or 'same'."""
    return _conv(2, input, weight, bias, stride, padding, dilation, groups)


def conv3d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1,
           groups: int = 1) -> Tensor:
    """3-D cross-correlation of ``(N, C_in, D, H, W)`` with ``weight`` ``(C_out, C_in / groups, kD, kH, kW)``."""
    return _conv(3, input, weight, bias, stride, padding, dilation, groups)


def _conv_transpose(nd: int, input: Tensor, weight: Tensor, bias: Tensor | None, stride, padding,
                    output_padding, groups: int, dilation) -> Tensor:
    input, batched = _as_batched(nd, input, f"conv_transpose{nd}d")
    stride, padding = _tuple(stride, nd, "stride"), _tuple(padding, nd, "padding")
    output_padding, dilation = _tuple(output_padding, nd, "output_padding"), _tuple(dilation, nd, "dilation")
    for op, s, d in zip(output_padding, stride, dilation, strict=True):
        if op >= max(s, d):
            raise RuntimeError("output padding must be smaller than either stride or dilation, but got "
                               f"output_padding: {list(output_padding)}, stride: {list(stride)}, "
                               f"dilation: {list(dilation)}")
    in_channels, out_per_group = weight.shape[0], weight.shape[1]
    if input.shape[1] != in_channels or in_channels % groups:
        raise RuntimeError(f"Given transposed=1, weight of size {list(weight.shape)}, expected input"
                           f"{list(input.shape)} to have {in_channels} channels, but got {input.shape[1]} "
                           "channels instead")
    kernel = weight.shape[2:]
    _check_geometry(stride, padding, dilation)
    sizes = [(n - 1) * s - 2 * p + d * (k - 1) + extra + 1
             for n, s, p, d, k, extra in zip(input.shape[2:], stride, padding, dilation, kernel, output_padding,
                                             strict=True)]
    if any(size < 1 for size in sizes):
        raise RuntimeError(f"Given input size per channel: ({' x '.join(map(str, input.shape[2:]))}). Calculated "
                           f"output size per channel: ({' x '.join(map(str, sizes))}). Output size is too small")
    out_channels = out_per_group * groups
    if bias is not None and tuple(bias.shape) != (out_channels,):
        raise RuntimeError(f"Given transposed=1, weight of size {list(weight.shape)}, expected bias to be "
                           f"1-dimensional with {out_channels} elements, but got bias of size {list(bias.shape)} "
                           "instead")
    # The transposed convolution is the adjoint of a forward one whose input has the output's shape.
    out = convolution_input_grad(input, weight, (input.shape[0], out_channels, *sizes), stride=stride,
                                 padding=tuple((p, p) for p in padding), dilation=dilation, groups=groups)
    if bias is not None:
        out = out + bias.reshape((1, -1) + (1,) * nd)
    return out if batched else out.squeeze(0)


def conv_transpose1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
                     output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """1-D transposed convolution ("deconvolution") with ``weight`` ``(C_in, C_out / groups, k)``."""
    return _conv_transpose(1, input, weight, bias, stride, padding, output_padding, groups, dilation)


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
                     output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """2-D transposed convolution ("deconvolution") with ``weight`` ``(C_in, C_out / groups, kH, kW)``."""
    return _conv_transpose(2, input, weight, bias, stride, padding, output_padding, groups, dilation)


def conv_transpose3d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
                     output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """3-D transposed convolution ("deconvolution") with ``weight`` ``(C_in, C_out / groups, kD, kH, kW)``."""
    return _conv_transpose(3, input, weight, bias, stride, padding, output_padding, groups, dilation)


def unfold(input: Tensor, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """im2col: every sliding block of the ``(N, C, H, W)`` input as a column, ``(N, C * kH * kW, L)``."""
    if input.dim() not in (3, 4):
        raise RuntimeError(f"Input Error: Only 3D or 4D input Tensors are supported (got {input.dim()}D)")
    batched = input.dim() == 4
    x = input if batched else input.unsqueeze(0)
    kernel, dilation = _tuple(kernel_size, 2, "kernel_size"), _tuple(dilation, 2, "dilation")
    padding, stride = _tuple(padding, 2, "padding"), _tuple(stride, 2, "stride")
    x = pad(x, [padding[1], padding[1], padding[0], padding[0]])
    cols = _windows(x, kernel, stride, dilation)
    n, c, oh, ow = cols.shape[:4]
    cols = cols.permute(0, 1, 4, 5, 2, 3).reshape(n, c * kernel[0] * kernel[1], oh * ow)
    return cols if batched else cols.squeeze(0)


def fold(input: Tensor, output_size, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """col2im, the adjoint of ``unfold``: sums the ``(N, C * kH * kW, L)`` columns back into ``(N, C, H, W)``,
    overlapping entries adding up."""
    if input.dim() not in (2, 3):
        raise RuntimeError(f"Input Error: Only unbatched (2D) or batched (3D) input Tensors are supported "
                           f"(got {input.dim()}D)")
    batched = input.dim() == 3
    x = input if batched else input.unsqueeze(0)
    size, kernel = _tuple(output_size, 2, "output_size"), _tuple(kernel_size, 2, "kernel_size")
    dilation, padding = _tuple(dilation, 2, "dilation"), _tuple(padding, 2, "padding")
    stride = _tuple(stride, 2, "stride")
    padded = [size[i] + 2 * padding[i] for i in range(2)]
    blocks = [(padded[i] - dilation[i] * (kernel[i] - 1) - 1) // stride[i] + 1 for i in range(2)]
    n, rows, length = x.shape
    if rows % (kernel[0] * kernel[1]):
        raise RuntimeError(f"Expected size of input's dimension 1 to be divisible by the product of kernel_size, "
                           f"but got input.size(1)={rows} and kernel_size={kernel}")
    if length != blocks[0] * blocks[1]:
        raise RuntimeError(f"Given output_size={size}, kernel_size={kernel}, dilation={dilation}, padding={padding}, "
                           f"stride={stride}, expected size of input's dimension 2 to match the calculated number "
                           f"of sliding blocks {blocks[0]} * {blocks[1]} = {blocks[0] * blocks[1]}, but got "
                           f"input.size(2)={length}.")
    # Unfold the flat positions of the padded image the same way to learn where each column entry belongs.
    positions = ember.arange(padded[0] * padded[1]).reshape(1, 1, *padded)
    where = _windows(positions, kernel, stride, dilation).permute(0, 1, 4, 5, 2, 3).reshape(-1)
    c = rows // (kernel[0] * kernel[1])
    columns = x.reshape(n, c, kernel[0] * kernel[1] * length)
    flat = ember.zeros(n, c, padded[0] * padded[1], dtype=x.dtype).index_add(2, where, columns)
    out = flat.reshape(n, c, *padded).narrow(2, padding[0], size[0]).narrow(3, padding[1], size[1])
    return out if batched else out.squeeze(0)


__all__ = ["pad", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "unfold",
           "fold"]
