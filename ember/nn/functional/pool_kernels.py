"""Max and average pooling as primitives with NumPy kernels, each with a backward primitive.

The kernels pool the trailing ``len(kernel)`` dims of an array of any leading shape. They walk the window's taps
in row-major order, one strided view of the (padded) input per tap, which is the order torch's CPU loops visit
them: max pooling keeps the first maximum (a strict ``>``), lets a NaN win over anything and a later NaN over
an earlier one, and reports each maximum's flat position in the unpadded input plane; average pooling sums
the taps in that same order before dividing, so float32 results round as torch's do.

``max_pool_backward`` routes each output gradient to its recorded position (an assignment when windows cannot
overlap, a bincount when they can), and its own derivative is a ``gather``; ``avg_pool_backward`` spreads each
gradient over its window and is the adjoint of ``avg_pool``, so each is the other's derivative.
"""

from __future__ import annotations

import math

import numpy as np

from ember.tensor.dispatch import dispatch
from ember.tensor.dtypes import int64
from ember.tensor.registry import Meta, cached_meta, defop, derivative
from ember.tensor.tensor import Tensor

__all__ = ["avg_pool", "max_pool"]


def _check_dtype(op: str, x: Tensor, nd: int) -> None:
    if x._dtype.name == "bool" or x._dtype.is_complex:
        raise NotImplementedError(f"\"{op}{nd}d\" not implemented for '{x._dtype.scalar_name}'")


def _padded_shape(shape: tuple, kernel: tuple, stride: tuple, padding: tuple, dilation: tuple,
                  out_sizes: tuple) -> tuple:
    """``shape`` padded by ``padding`` on the low side of each pooled dim, and on the high side as far as the last
    window reaches (ceil_mode windows may pass the symmetric padding)."""
    nd = len(kernel)
    return shape[:-nd] + tuple(max(n + p, (o - 1) * s + d * (k - 1) + 1)
                               for o, s, d, k, n, p in zip(out_sizes, stride, dilation, kernel, shape[-nd:], padding,
                                                           strict=True))


def _inner(padding: tuple, sizes: tuple) -> tuple:
    """The index of the unpadded input inside a padded array."""
    return (..., *(slice(p, p + n) for p, n in zip(padding, sizes, strict=True)))


def _padded(x: np.ndarray, kernel: tuple, stride: tuple, padding: tuple, dilation: tuple, out_sizes: tuple,
            fill: float | int) -> np.ndarray:
    """``x`` itself when no window leaves it, else a copy padded with ``fill`` (see :func:`_padded_shape`)."""
    shape = _padded_shape(x.shape, kernel, stride, padding, dilation, out_sizes)
    if shape == x.shape:
        return x
    out = np.full(shape, fill, dtype=x.dtype)
    out[_inner(padding, x.shape[-len(kernel):])] = x
    return out


def _taps(xp: np.ndarray, kernel: tuple, stride: tuple, dilation: tuple, out_sizes: tuple):
    """Each tap's strided view of the padded input over all output positions, in row-major tap order."""
    for tap in np.ndindex(*kernel):
        yield xp[(..., *(slice(t * d, t * d + s * (o - 1) + 1, s)
                         for t, d, s, o in zip(tap, dilation, stride, out_sizes, strict=True)))]


def _along(values: list, nd: int, dim: int) -> np.ndarray:
    """A 1-D array laid along pooled dim ``dim`` of an ``nd``-dim output grid, for broadcasting."""
    return np.asarray(values).reshape((-1,) + (1,) * (nd - 1 - dim))


def _tap_positions(spatial: tuple, kernel: tuple, stride: tuple, padding: tuple, dilation: tuple,
                   out_sizes: tuple, dtype: type) -> tuple[list, np.ndarray]:
    """The flat input position each tap reads at each output position (a small array over the output grid per
    tap; meaningless where the tap is in the padding), and the position of each window's first tap inside the
    input."""
    nd = len(kernel)
    plane = [math.prod(spatial[i + 1:]) for i in range(nd)]
    starts = sum(_along([(j * s - p) * st for j in range(o)], nd, i)
                 for i, (s, p, o, st) in enumerate(zip(stride, padding, out_sizes, plane, strict=True)))
    starts = np.broadcast_to(np.asarray(starts, dtype=dtype), tuple(out_sizes))
    taps = [starts + dtype(sum(t * d * st for t, d, st in zip(tap, dilation, plane, strict=True)))
            for tap in np.ndindex(*kernel)]
    first = sum(_along([min(max(0, -(-(p - j * s) // d)), k - 1) * d * st for j in range(o)], nd, i)
                for i, (k, s, p, d, o, st) in enumerate(zip(kernel, stride, padding, dilation, out_sizes, plane,
                                                            strict=True)))
    return taps, starts + np.asarray(first, dtype=dtype)


def _max_pool_kernel(x: np.ndarray, *, kernel: tuple, stride: tuple, padding: tuple, dilation: tuple,
                     out_sizes: tuple) -> tuple[np.ndarray, np.ndarray]:
    nd = len(kernel)
    floating = x.dtype.kind not in "iub"
    lowest = -np.inf if floating else np.iinfo(x.dtype).min
    out_shape = x.shape[:-nd] + tuple(out_sizes)
    # Padding holds the lowest value, which a strict ">" never prefers; each position starts at its window's first
    # tap inside the input, which a window of lowest values (all -inf, say) reports, as torch does.
    xp = _padded(x, kernel, stride, padding, dilation, out_sizes, lowest)
    index = np.int32 if math.prod(x.shape[-nd:]) < 2**31 else np.int64
    positions, first = _tap_positions(x.shape[-nd:], kernel, stride, padding, dilation, out_sizes, index)

    def scan(track_nan: bool) -> tuple[np.ndarray, np.ndarray]:
        taps = zip(_taps(xp, kernel, stride, dilation, out_sizes), positions, strict=True)
        if any(padding):
            best, chosen = np.full(out_shape, lowest, dtype=x.dtype), np.broadcast_to(first, out_shape).copy()
        else:
            # Without low padding the first tap is inside every window: it starts the scan.
            view, position = next(taps)
            best, chosen = view.copy(), np.broadcast_to(position, out_shape).copy()
        better = np.empty(out_shape, dtype=bool)
        for view, position in taps:
            np.greater(view, best, out=better)
            if track_nan:
                better |= np.isnan(view)
            np.maximum(best, view, out=best)
            # In row-major tap order the positions inside a window increase, so the winner's position is the
            # largest marked one: arithmetic instead of a masked write, which NumPy runs several times slower on a
            # random mask. (Unmarked taps, padding among them, contribute 0.)
            np.maximum(chosen, np.multiply(better, position, dtype=index), out=chosen)
        return best, chosen

    best, chosen = scan(False)
    if floating and np.isnan(best).any():
        # A NaN is the maximum, and a later NaN replaces an earlier one as torch's loop does: a slower second scan.
        best, chosen = scan(True)
    return best, chosen.astype(np.int64, copy=False)


def _max_pool_meta(x: Tensor, *, kernel: tuple, out_sizes: tuple, **geometry: object) -> tuple:
    _check_dtype("max_pool", x, len(kernel))
    shape = x._shape[:-len(kernel)] + tuple(out_sizes)
    return cached_meta(shape, x._dtype), cached_meta(shape, int64)


def _max_pool_backward_kernel(grad: np.ndarray, indices: np.ndarray, *, input_sizes: tuple,
                              overlapping: bool) -> np.ndarray:
    nd = len(input_sizes)
    lead = grad.shape[:-nd]
    rows, plane = math.prod(lead), math.prod(input_sizes)
    row_starts = np.arange(rows, dtype=np.int64) * plane
    flat = indices.reshape(rows, math.prod(indices.shape[len(lead):])) + row_starts[:, None]
    if overlapping:
        # Windows share inputs: several outputs may pick one position, and their gradients add up.
        total = np.bincount(flat.reshape(-1), weights=grad.reshape(-1), minlength=rows * plane)
        return total.astype(grad.dtype).reshape(lead + tuple(input_sizes))
    out = np.zeros(rows * plane, dtype=grad.dtype)
    out[flat.reshape(-1)] = grad.reshape(-1)
    return out.reshape(lead + tuple(input_sizes))


def _max_pool_backward_meta(grad: Tensor, indices: Tensor, *, input_sizes: tuple, overlapping: bool) -> Meta:
    return cached_meta(grad._shape[:-len(input_sizes)] + tuple(input_sizes), grad._dtype)


MAX_POOL = defop("max_pool", _max_pool_meta, cpu=_max_pool_kernel,
                 doc="Max over N-d sliding windows, with each maximum's flat position in the input plane.")
MAX_POOL_BACKWARD = defop("max_pool_backward", _max_pool_backward_meta, cpu=_max_pool_backward_kernel,
                          doc="Scatter of max-pooling gradients to the recorded input positions.")


@derivative(MAX_POOL, saves=("out",))
def _max_pool_backward(ctx, grad: Tensor, _grad_indices: Tensor | None) -> Tensor:
    attrs = ctx.attrs
    kernel, stride, dilation = attrs["kernel"], attrs["stride"], attrs["dilation"]
    overlapping = any(s < d * (k - 1) + 1 for k, s, d in zip(kernel, stride, dilation, strict=True))
    return dispatch(MAX_POOL_BACKWARD, grad, ctx.output(1), input_sizes=tuple(ctx.shape(0)[-len(kernel):]),
                    overlapping=overlapping)


@derivative(MAX_POOL_BACKWARD, saves=(1,))
def _max_pool_double_backward(ctx, grad: Tensor) -> tuple:
    indices = ctx.input(1)
    nd = len(ctx.attrs["input_sizes"])
    picked = grad.flatten(grad.dim() - nd).gather(-1, indices.flatten(indices.dim() - nd))
    return picked.reshape(indices.shape), None


def max_pool(input: Tensor, *, kernel: tuple, stride: tuple, padding: tuple, dilation: tuple,
             out_sizes: tuple) -> tuple[Tensor, Tensor]:
    """Values and flat input positions of the maxima over the trailing ``len(kernel)`` dims; ``padding`` is the low
    side's, ``out_sizes`` fixes the windows (ceil_mode). Arguments are validated by the ``max_pool*d``
    functionals."""
    return dispatch(MAX_POOL, input, kernel=kernel, stride=stride, padding=padding, dilation=dilation,
                    out_sizes=out_sizes)


def _divisor(spatial: tuple, kernel: tuple, stride: tuple, padding: tuple, out_sizes: tuple,
             count_include_pad: bool, divisor_override: int | None) -> np.ndarray | int:
    """Each window's divisor: torch's rule (the window clipped to the padded input, or to the input itself)."""
    if divisor_override:
        return divisor_override
    nd = len(kernel)
    total = 1
    for i, (n, k, s, p, o) in enumerate(zip(spatial, kernel, stride, padding, out_sizes, strict=True)):
        starts = np.arange(o) * s - p
        ends = np.minimum(starts + k, n + p)
        counts = ends - starts if count_include_pad else np.minimum(ends, n) - np.maximum(starts, 0)
        total = total * _along(counts, nd, i)
    return total


def _avg_pool_kernel(x: np.ndarray, *, kernel: tuple, stride: tuple, padding: tuple, out_sizes: tuple,
                     count_include_pad: bool, divisor_override: int | None) -> np.ndarray:
    nd = len(kernel)
    ones = (1,) * nd
    integer = x.dtype.kind in "iub"
    # Sums accumulate in torch's opmath type: int64 for integers, float32 for half precision.
    acc = np.int64 if integer else np.promote_types(x.dtype, np.float32)
    xp = _padded(x, kernel, stride, padding, ones, out_sizes, 0)
    taps = _taps(xp, kernel, stride, ones, out_sizes)
    total = next(taps).astype(acc, copy=True)
    for view in taps:
        total += view
    divisor = _divisor(x.shape[-nd:], kernel, stride, padding, out_sizes, count_include_pad, divisor_override)
    if integer:
        # Integer pooling divides with truncation toward zero, as torch's integer kernels do.
        return (np.sign(total) * (np.abs(total) // divisor)).astype(x.dtype)
    total /= np.asarray(divisor, dtype=acc)
    return total.astype(x.dtype, copy=False)


def _avg_pool_backward_kernel(grad: np.ndarray, *, input_sizes: tuple, kernel: tuple, stride: tuple,
                              padding: tuple, out_sizes: tuple, count_include_pad: bool,
                              divisor_override: int | None) -> np.ndarray:
    nd = len(kernel)
    ones = (1,) * nd
    acc = np.promote_types(grad.dtype, np.float32)
    share = grad / np.asarray(_divisor(input_sizes, kernel, stride, padding, out_sizes, count_include_pad,
                                       divisor_override), dtype=acc)
    shape = grad.shape[:-nd] + tuple(input_sizes)
    padded = np.zeros(_padded_shape(shape, kernel, stride, padding, ones, out_sizes), dtype=acc)
    for view in _taps(padded, kernel, stride, ones, out_sizes):
        view += share
    return np.ascontiguousarray(padded[_inner(padding, input_sizes)], dtype=grad.dtype)


def _avg_pool_meta(x: Tensor, *, kernel: tuple, out_sizes: tuple, **geometry: object) -> Meta:
    _check_dtype("avg_pool", x, len(kernel))
    return cached_meta(x._shape[:-len(kernel)] + tuple(out_sizes), x._dtype)


def _avg_pool_backward_meta(grad: Tensor, *, input_sizes: tuple, kernel: tuple, **geometry: object) -> Meta:
    return cached_meta(grad._shape[:-len(kernel)] + tuple(input_sizes), grad._dtype)


AVG_POOL = defop("avg_pool", _avg_pool_meta, cpu=_avg_pool_kernel,
                 doc="Mean over N-d sliding windows with torch's divisor rules.")
AVG_POOL_BACKWARD = defop("avg_pool_backward", _avg_pool_backward_meta, cpu=_avg_pool_backward_kernel,
                          doc="Each average-pooling gradient spread evenly over its window: avg_pool's adjoint.")


def _avg_geometry(attrs: dict) -> dict:
    return {k: attrs[k] for k in ("kernel", "stride", "padding", "out_sizes", "count_include_pad",
                                  "divisor_override")}


@derivative(AVG_POOL)
def _avg_pool_backward(ctx, grad: Tensor) -> Tensor:
    nd = len(ctx.attrs["kernel"])
    return dispatch(AVG_POOL_BACKWARD, grad, input_sizes=tuple(ctx.shape(0)[-nd:]), **_avg_geometry(ctx.attrs))


@derivative(AVG_POOL_BACKWARD)
def _avg_pool_double_backward(ctx, grad: Tensor) -> Tensor:
    return dispatch(AVG_POOL, grad, **_avg_geometry(ctx.attrs))


def avg_pool(input: Tensor, *, kernel: tuple, stride: tuple, padding: tuple, out_sizes: tuple,
             count_include_pad: bool, divisor_override: int | None) -> Tensor:
    """Window means over the trailing ``len(kernel)`` dims (arguments as :func:`max_pool`, validated by the
    ``avg_pool*d`` functionals)."""
    return dispatch(AVG_POOL, input, kernel=kernel, stride=stride, padding=padding, out_sizes=out_sizes,
                    count_include_pad=count_include_pad, divisor_override=divisor_override)
