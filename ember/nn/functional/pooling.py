"""Max, average and adaptive pooling, and interpolation, over the trailing spatial dims of ``(N, C, *spatial)``.

Max and average pooling validate their arguments here and run the primitives of ``pool_kernels`` (the gradient
of a max goes to one element, as in PyTorch); adaptive average pooling and interpolation apply small (output,
input) matrices one dim at a time, which is exact and differentiable through ``matmul``.
"""

from __future__ import annotations

import math

import numpy as np

import ember
from ember.tensor.tensor import Tensor

from .activation import _floating_only
from .conv import _tuple
from .pool_kernels import avg_pool, max_pool


def _pool_geometry(nd: int, input: Tensor, kernel_size, stride, padding, dilation, ceil_mode: bool):
    """Normalised pooling arguments and the output sizes."""
    kernel = _tuple(kernel_size, nd, "kernel_size")
    stride = kernel if stride is None or (not isinstance(stride, int) and len(stride) == 0) \
        else _tuple(stride, nd, "stride")
    padding, dilation = _tuple(padding, nd, "padding"), _tuple(dilation, nd, "dilation")
    outs = []
    for size, k, s, p, d in zip(input.shape[-nd:], kernel, stride, padding, dilation, strict=True):
        # PyTorch bounds the padding by half the kernel size itself, whatever the dilation.
        if p > k // 2:
            raise RuntimeError(f"pad should be at most half of kernel size, but got pad={p}, kernel_size={k} and "
                               f"dilation={d}")
        span = size + 2 * p - d * (k - 1) - 1
        out = (-(-span // s) if ceil_mode else span // s) + 1
        # A last window that would start in the right padding is dropped (PyTorch's ceil_mode rule).
        if ceil_mode and (out - 1) * s >= size + p:
            out -= 1
        if out < 1:
            raise RuntimeError(f"Given input size: ({'x'.join(map(str, input.shape[-nd - 1:]))}). Calculated "
                               f"output size is too small")
        outs.append(out)
    return kernel, stride, padding, dilation, outs


def _batched(nd: int, input: Tensor, name: str) -> tuple[Tensor, bool]:
    if input.dim() == nd + 2:
        return input, True
    if input.dim() == nd + 1:
        return input.unsqueeze(0), False
    raise RuntimeError(f"{name}: Expected {nd + 1}D or {nd + 2}D input, but got input of size {list(input.shape)}")


def _max_pool(nd: int, input: Tensor, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    x, batched = _batched(nd, input, f"max_pool{nd}d")
    kernel, stride, padding, dilation, outs = _pool_geometry(nd, x, kernel_size, stride, padding, dilation, ceil_mode)
    out, index = max_pool(x, kernel=kernel, stride=stride, padding=padding, dilation=dilation, out_sizes=tuple(outs))
    if not batched:
        out, index = out.squeeze(0), index.squeeze(0)
    return (out, index) if return_indices else out


def max_pool1d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False):
    """Maximum over sliding windows of the last dim; ``return_indices`` also gives each maximum's position."""
    return _max_pool(1, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool2d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False):
    """Maximum over sliding windows of the last two dims; ``return_indices`` also gives each maximum's
    flat position in its ``H * W`` plane."""
    return _max_pool(2, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool3d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False):
    """Maximum over sliding windows of the last three dims; ``return_indices`` also gives each maximum's
    flat position in its ``D * H * W`` volume."""
    return _max_pool(3, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def _avg_pool(nd: int, input: Tensor, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    x, batched = _batched(nd, input, f"avg_pool{nd}d")
    kernel, stride, padding, _, outs = _pool_geometry(nd, x, kernel_size, stride, padding, 1, ceil_mode)
    out = avg_pool(x, kernel=kernel, stride=stride, padding=padding, out_sizes=tuple(outs),
                   count_include_pad=bool(count_include_pad), divisor_override=divisor_override or None)
    return out if batched else out.squeeze(0)


def avg_pool1d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """Mean over sliding windows of the last dim."""
    return _avg_pool(1, input, kernel_size, stride, padding, ceil_mode, count_include_pad, None)


def avg_pool2d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """Mean over sliding windows of the last two dims (sum / ``divisor_override`` when given)."""
    return _avg_pool(2, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)


def avg_pool3d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """Mean over sliding windows of the last three dims (sum / ``divisor_override`` when given)."""
    return _avg_pool(3, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)


def _max_unpool(nd: int, input: Tensor, indices: Tensor, kernel_size, stride, padding, output_size) -> Tensor:
    kernel = _tuple(kernel_size, nd, "kernel_size")
    stride = kernel if stride is None else _tuple(stride, nd, "stride")
    padding = _tuple(padding, nd, "padding")
    batched = input.dim() == nd + 2
    x, idx = (input, indices) if batched else (input.unsqueeze(0), indices.unsqueeze(0))
    if output_size is None:
        sizes = [(n - 1) * s - 2 * p + k for n, s, p, k in zip(x.shape[2:], stride, padding, kernel, strict=True)]
    else:
        sizes = list(output_size)[-nd:]
    n, c = x.shape[:2]
    total = math.prod(sizes)
    if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= total):
        raise RuntimeError(f"Found an invalid max index: {int(idx.max())} (output volumes are of size "
                           f"{'x'.join(map(str, sizes))}")
    count = math.prod(x.shape[2:])
    flat = ember.zeros(n, c, total, dtype=x.dtype).scatter(2, idx.reshape(n, c, count), x.reshape(n, c, count))
    out = flat.reshape(n, c, *sizes)
    return out if batched else out.squeeze(0)


def max_unpool1d(input: Tensor, indices: Tensor, kernel_size, stride=None, padding=0, output_size=None) -> Tensor:
    """Partial inverse of ``max_pool1d``: each value goes to its recorded index, zeros elsewhere."""
    return _max_unpool(1, input, indices, kernel_size, stride, padding, output_size)


def max_unpool2d(input: Tensor, indices: Tensor, kernel_size, stride=None, padding=0, output_size=None) -> Tensor:
    """Partial inverse of ``max_pool2d``: each value goes to its recorded index, zeros elsewhere."""
    return _max_unpool(2, input, indices, kernel_size, stride, padding, output_size)


def lp_pool1d(input: Tensor, norm_type: float, kernel_size: int, stride=None, ceil_mode: bool = False) -> Tensor:
    """Power-average pooling ``(sum x**p)**(1/p)`` over sliding windows of the last dim."""
    out = avg_pool1d(input.pow(norm_type), kernel_size, stride, 0, ceil_mode)
    return (out.sign() * ember.relu(out.abs())).mul(kernel_size).pow(1.0 / norm_type)


def lp_pool2d(input: Tensor, norm_type: float, kernel_size, stride=None, ceil_mode: bool = False) -> Tensor:
    """Power-average pooling ``(sum x**p)**(1/p)`` over sliding windows of the last two dims."""
    kh, kw = _tuple(kernel_size, 2, "kernel_size")
    out = avg_pool2d(input.pow(norm_type), kernel_size, stride, 0, ceil_mode)
    return (out.sign() * ember.relu(out.abs())).mul(kh * kw).pow(1.0 / norm_type)


def _apply_along(x: Tensor, dim: int, matrix: np.ndarray) -> Tensor:
    """``x`` with dim ``dim`` (size n) mapped through ``matrix`` (m, n) to size m."""
    m = ember.from_numpy(np.ascontiguousarray(matrix)).to(x.dtype)
    return x.movedim(dim, -1).matmul(m.t()).movedim(-1, dim)


def _adaptive_sizes(nd: int, input: Tensor, output_size, name: str) -> list[tuple[int, int]]:
    """(input length, output length) for each of the last ``nd`` dims; None in ``output_size`` keeps a size."""
    if input.dim() not in (nd + 1, nd + 2):
        raise RuntimeError(f"{name}(): Expected {nd + 1}D or {nd + 2}D tensor, but got {list(input.shape)}")
    sizes = (output_size,) * nd if isinstance(output_size, int) or output_size is None else tuple(output_size)
    if len(sizes) != nd:
        raise ValueError(f"{name}: output_size must be {nd}")
    lengths = input.shape[input.dim() - nd:]
    return [(n, n if s is None else int(s)) for n, s in zip(lengths, sizes, strict=True)]


def _adaptive_bounds(length: int, target: int) -> list[tuple[int, int]]:
    """PyTorch's adaptive windows: ``[floor(j * n / m), ceil((j + 1) * n / m))``."""
    return [((j * length) // target, -(-((j + 1) * length) // target)) for j in range(target)]


def _adaptive_avg(nd: int, input: Tensor, output_size) -> Tensor:
    _floating_only(input, f"adaptive_avg_pool{max(nd, 2)}d")
    out = input
    for i, (length, target) in enumerate(_adaptive_sizes(nd, input, output_size, f"adaptive_avg_pool{nd}d")):
        matrix = np.zeros((target, length))
        for j, (start, end) in enumerate(_adaptive_bounds(length, target)):
            matrix[j, start:end] = 1.0 / (end - start)
        out = _apply_along(out, input.dim() - nd + i, matrix)
    return out


def _adaptive_max(nd: int, input: Tensor, output_size, return_indices: bool):
    sizes = _adaptive_sizes(nd, input, output_size, f"adaptive_max_pool{nd}d")
    _floating_only(input, f"adaptive_max_pool{max(nd, 2)}d")
    first = input.dim() - nd
    # Per dim, an (out, widest window) table of input positions, short windows padded by repeating their
    # last position (a repeat never changes a maximum, nor which position comes first).
    tables = []
    x = input
    for i, (length, target) in enumerate(sizes):
        bounds = _adaptive_bounds(length, target)
        width = max(end - start for start, end in bounds)
        table = np.array([[min(start + k, end - 1) for k in range(width)] for start, end in bounds], dtype=np.int64)
        tables.append(table)
        x = x.index_select(first + 2 * i, ember.from_numpy(table.reshape(-1)))
        x = x.reshape(*x.shape[:first + 2 * i], target, width, *x.shape[first + 2 * i + 1:])
    # (..., o1, k1, o2, k2, ...) -> (..., o1, o2, ..., k1 * k2 * ...)
    order = [first + 2 * i for i in range(nd)] + [first + 2 * i + 1 for i in range(nd)]
    x = x.permute(*range(first), *order)
    cols = x.reshape(*x.shape[:first + nd], math.prod(t.shape[1] for t in tables))
    choice = cols.argmax(-1, keepdim=True)
    out = cols.gather(-1, choice).squeeze(-1)
    if not return_indices:
        return out
    widths = tuple(t.shape[1] for t in tables)
    offsets = np.unravel_index(np.arange(math.prod(widths)), widths)
    index = ember.zeros(out.shape, dtype=ember.int64)
    choice = choice.squeeze(-1)
    for i, table in enumerate(tables):
        # position[o_i, offset_i] for each output cell, broadcast over the other output dims.
        rows = ember.arange(table.shape[0]).reshape((-1,) + (1,) * (nd - 1 - i))
        cols_i = ember.from_numpy(np.ascontiguousarray(offsets[i], dtype=np.int64))[choice]
        coord = ember.from_numpy(table)[rows, cols_i]
        index = index * sizes[i][0] + coord
    return out, index


def adaptive_max_pool1d(input: Tensor, output_size, return_indices: bool = False):
    """Max pooling of the last dim into ``output_size`` nearly equal windows."""
    return _adaptive_max(1, input, output_size, return_indices)


def adaptive_max_pool2d(input: Tensor, output_size, return_indices: bool = False):
    """Max pooling of the last two dims into an ``output_size`` grid of nearly equal windows."""
    return _adaptive_max(2, input, output_size, return_indices)


def adaptive_avg_pool1d(input: Tensor, output_size) -> Tensor:
    """Mean pooling of the last dim into ``output_size`` nearly equal windows."""
    return _adaptive_avg(1, input, output_size)


def adaptive_avg_pool2d(input: Tensor, output_size) -> Tensor:
    """Mean pooling of the last two dims into an ``output_size`` grid of nearly equal windows."""
    return _adaptive_avg(2, input, output_size)


def adaptive_avg_pool3d(input: Tensor, output_size) -> Tensor:
    """Mean pooling of the last three dims into an ``output_size`` grid of nearly equal windows."""
    return _adaptive_avg(3, input, output_size)


def _linear_matrix(length: int, target: int, scale: float | None, align_corners: bool) -> np.ndarray:
    """(target, length) linear-interpolation weights with PyTorch's source-coordinate rule."""
    dst = np.arange(target, dtype=np.float64)
    if align_corners:
        src = dst * ((length - 1) / (target - 1)) if target > 1 else np.zeros(target)
    else:
        ratio = length / target if scale is None else 1.0 / scale
        src = np.maximum((dst + 0.5) * ratio - 0.5, 0.0)
    low = np.minimum(np.floor(src).astype(np.int64), length - 1)
    high = np.minimum(low + 1, length - 1)
    frac = src - low
    matrix = np.zeros((target, length))
    np.add.at(matrix, (np.arange(target), low), 1.0 - frac)
    np.add.at(matrix, (np.arange(target), high), frac)
    return matrix


def _cubic_matrix(length: int, target: int, scale: float | None, align_corners: bool) -> np.ndarray:
    """(target, length) bicubic weights (Keys kernel, A = -0.75), edge samples repeated, as PyTorch."""
    dst = np.arange(target, dtype=np.float64)
    if align_corners:
        src = dst * ((length - 1) / (target - 1)) if target > 1 else np.zeros(target)
    else:
        src = (dst + 0.5) * (length / target if scale is None else 1.0 / scale) - 0.5
    base = np.floor(src)
    t = src - base
    a = -0.75

    def near(x: np.ndarray) -> np.ndarray:
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x: np.ndarray) -> np.ndarray:
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    matrix = np.zeros((target, length))
    for k, weight in enumerate((far(t + 1), near(t), near(1 - t), far(2 - t))):
        np.add.at(matrix, (np.arange(target), np.clip(base.astype(np.int64) - 1 + k, 0, length - 1)), weight)
    return matrix


def interpolate(input: Tensor, size=None, scale_factor=None, mode: str = "nearest", align_corners: bool | None = None,
                recompute_scale_factor: bool | None = None, antialias: bool = False) -> Tensor:
    """Resizes the spatial dims of ``(N, C, *spatial)`` to ``size`` or by ``scale_factor``; modes 'nearest',
    'nearest-exact', 'linear', 'bilinear', 'bicubic', 'trilinear' (with ``align_corners``) and 'area'."""
    nd = input.dim() - 2
    if nd not in (1, 2, 3):
        raise NotImplementedError(f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {input.dim()}D) for "
                                  f"the modes: nearest | linear | bilinear | bicubic | trilinear | area | "
                                  f"nearest-exact (got {mode})")
    _floating_only(input, f"upsample_{mode}{nd}d")
    linear_modes = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}
    if mode not in ("nearest", "nearest-exact", "area", *linear_modes):
        raise NotImplementedError(f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {input.dim()}D) "
                                  f"for the modes: nearest | linear | bilinear | bicubic | trilinear | area | "
                                  f"nearest-exact (got {mode})")
    if mode in linear_modes and linear_modes[mode] != nd:
        raise NotImplementedError(f"Got {input.dim()}D input, but {mode} mode needs {linear_modes[mode] + 2}D input")
    if align_corners is not None and mode not in linear_modes:
        raise ValueError("align_corners option can only be set with the interpolating modes: "
                         "linear | bilinear | bicubic | trilinear")
    if antialias:
        raise NotImplementedError("interpolate: antialias=True is not supported by ember")
    if (size is None) == (scale_factor is None):
        raise ValueError("only one of size or scale_factor should be defined" if size is not None
                         else "either size or scale_factor should be defined")
    lengths = input.shape[2:]
    if size is not None:
        sizes = (size,) * nd if isinstance(size, int) else tuple(size)
        scales = (None,) * nd
    else:
        scales = (float(scale_factor),) * nd if isinstance(scale_factor, (int, float)) else tuple(scale_factor)
        sizes = tuple(int(math.floor(n * s)) for n, s in zip(lengths, scales, strict=True))
        if recompute_scale_factor:
            scales = (None,) * nd
    if mode == "area":
        return _adaptive_avg(nd, input, sizes)
    out = input
    for i, (length, target, scale) in enumerate(zip(lengths, sizes, scales, strict=True)):
        if mode in linear_modes:
            weights = _cubic_matrix if mode == "bicubic" else _linear_matrix
            out = _apply_along(out, 2 + i, weights(length, target, scale, bool(align_corners)))
            continue
        ratio = length / target if scale is None else 1.0 / scale
        shift = 0.5 if mode == "nearest-exact" else 0.0
        src = np.minimum(np.floor((np.arange(target) + shift) * ratio), length - 1).astype(np.int64)
        out = out.index_select(2 + i, ember.from_numpy(src))
    return out


__all__ = ["max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d", "adaptive_avg_pool1d",
           "adaptive_avg_pool2d", "adaptive_avg_pool3d", "adaptive_max_pool1d", "adaptive_max_pool2d", "max_unpool1d",
           "max_unpool2d", "lp_pool1d", "lp_pool2d", "interpolate"]
