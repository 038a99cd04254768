"""Convolution as three primitives with NumPy kernels: the forward, its input gradient and its weight gradient.

For ``y = conv(x, w)`` the three ops are the partial derivatives of one trilinear form ``<conv(x, w), g>``, so
each one's backward is written with the other two and convolution is differentiable to any order:

* ``convolution(x, w, b)``: cross-correlation of ``(N, C, *spatial)`` with ``(O, C / groups, *kernel)``;
* ``convolution_input_grad(g, w)``: the adjoint in ``x`` (``conv_transpose`` is this op plus a bias);
* ``convolution_weight_grad(x, g)``: the adjoint in ``w``.

Every kernel is im2col + one batched matmul per group (the bias rides along as a row of ones). With unit strides
and short output rows the columns are taken "wide": each (channel, kernel offset) row is one contiguous slice of
the flattened padded input, ``prod(kernel)`` long copies instead of a copy per output row; the few columns that
straddle a row end are computed and dropped (their gradients are zero-filled). Strided convolutions, and long
output rows outside the input gradient, copy the exact windows. Padding is ``(low, high)`` per spatial dim, so
'same' padding with an even kernel needs no separate pad op.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ember.tensor.dispatch import dispatch
from ember.tensor.registry import Meta, cached_meta, defop, derivative
from ember.tensor.tensor import Tensor

__all__ = ["convolution", "convolution_input_grad", "convolution_weight_grad"]

# A wide layout computes the columns between output rows too; past this overhead, strided windows are cheaper.
_WIDE_WASTE_LIMIT = 2.0
# Output rows at least this long copy fast enough as exact windows that the forward and the weight gradient skip
# the wide layout's extra work (cropping the output, widening the gradient); the input gradient keeps it.
_EXACT_ROW_MIN = 32


class _Geometry:
    """One convolution's index arithmetic: padded input sizes, output sizes, and how columns are laid out."""

    def __init__(self, in_sizes: tuple, kernel: tuple, stride: tuple, padding: tuple, dilation: tuple,
                 out_sizes: tuple | None = None, exact_long_rows: bool = False):
        self.kernel, self.stride, self.padding, self.dilation = kernel, stride, padding, dilation
        self.in_sizes = in_sizes
        self.padded = tuple(n + lo + hi for n, (lo, hi) in zip(in_sizes, padding, strict=True))
        if out_sizes is None:
            out_sizes = tuple((p - d * (k - 1) - 1) // s + 1
                              for p, k, s, d in zip(self.padded, kernel, stride, dilation, strict=True))
        self.out_sizes = tuple(out_sizes)
        # Element strides of the padded spatial volume (one (n, c) plane, C order), and its size.
        self.plane = tuple(math.prod(self.padded[i + 1:]) for i in range(len(self.padded)))
        self.plane_len = math.prod(self.padded)
        self.positions = math.prod(self.out_sizes)
        self.taps = math.prod(kernel)
        self.wide_len = sum((o - 1) * p for o, p in zip(self.out_sizes, self.plane, strict=True)) + 1
        self.wide = (all(s == 1 for s in stride) and self.positions > 0
                     and self.wide_len <= _WIDE_WASTE_LIMIT * self.positions
                     and not (exact_long_rows and len(self.out_sizes) > 1 and self.out_sizes[-1] >= _EXACT_ROW_MIN))
        self.columns = self.wide_len if self.wide else self.positions

    def offsets(self) -> list[int]:
        """Flat offset of each kernel tap in the padded plane, in C order of the kernel dims."""
        return [sum(k * d * p for k, d, p in zip(tap, self.dilation, self.plane, strict=True))
                for tap in np.ndindex(*self.kernel)]

    def tap_window(self, tap: tuple) -> tuple:
        """The padded-input slices one kernel tap reads over all output positions (strided layout)."""
        return (slice(None), slice(None), *(slice(k * d, k * d + s * (o - 1) + 1, s)
                                            for k, d, s, o in zip(tap, self.dilation, self.stride, self.out_sizes,
                                                                  strict=True)))

    def unpadded(self, padded: np.ndarray) -> np.ndarray:
        """The input's window of a padded ``(N, C, *padded)`` array, as a fresh contiguous array."""
        if not any(lo or hi for lo, hi in self.padding):
            return padded
        crop = (slice(lo, lo + n) for (lo, _), n in zip(self.padding, self.in_sizes, strict=True))
        return np.ascontiguousarray(padded[(slice(None), slice(None), *crop)])

    def pad(self, x: np.ndarray) -> np.ndarray:
        """``x`` zero-padded, with C-contiguous spatial dims (the wide layout indexes them as one flat plane)."""
        if not any(lo or hi for lo, hi in self.padding):
            return np.ascontiguousarray(x)
        out = np.zeros(x.shape[:2] + self.padded, dtype=x.dtype)
        crop = (slice(lo, lo + n) for (lo, _), n in zip(self.padding, self.in_sizes, strict=True))
        out[(slice(None), slice(None), *crop)] = x
        return out

    def columns_of(self, x: np.ndarray, ones_row: bool = False) -> np.ndarray:
        """im2col of the unpadded input ``x``: ``(N, C * taps, columns)``, plus a last row of ones with
        ``ones_row`` (a bias then rides along in the matmul)."""
        xp = self.pad(x)
        n, c = xp.shape[:2]
        item = xp.itemsize
        if self.wide:
            flat = xp.reshape(n, c, self.plane_len)
            taps = [d * p * item for d, p in zip(self.dilation, self.plane, strict=True)]
            view = as_strided(flat, (n, c, *self.kernel, self.wide_len), (*flat.strides[:2], *taps, item))
        else:
            spatial = xp.strides[2:]
            view = as_strided(xp, (n, c, *self.kernel, *self.out_sizes),
                              (*xp.strides[:2], *(d * st for d, st in zip(self.dilation, spatial, strict=True)),
                               *(s * st for s, st in zip(self.stride, spatial, strict=True))))
        rows = c * self.taps
        cols = np.empty((n, rows + ones_row, self.columns), dtype=xp.dtype)
        np.copyto(cols[:, :rows].reshape(view.shape, copy=False), view)
        if ones_row:
            cols[:, rows] = 1
        return cols

    def valid(self, wide: np.ndarray) -> np.ndarray:
        """The ``(N, O, *out)`` window of a wide ``(N, O, length)`` array that holds real output positions."""
        item = wide.itemsize
        return as_strided(wide, wide.shape[:2] + self.out_sizes,
                          (*wide.strides[:2], *(p * item for p in self.plane)))

    def widen(self, g: np.ndarray, whole_planes: bool) -> np.ndarray:
        """An output-shaped ``(N, O, *out)`` gradient as wide rows with zeros between real positions:
        ``(N, O, wide_len)``, or ``(N, O, plane_len)`` with ``whole_planes`` (just flattened in the strided
        layout). Only the gaps are zeroed: a second pass over the whole array would cost as much as the copy."""
        n, o = g.shape[:2]
        if not self.wide:
            return g.reshape(n, o, self.positions)
        rows = self.padded[0] if whole_planes else self.out_sizes[0]
        out = np.empty((n, o, rows, *self.padded[1:]), dtype=g.dtype)
        out[(..., *(slice(0, k) for k in self.out_sizes))] = g
        for i in range(0 if whole_planes else 1, len(self.out_sizes)):
            out[(slice(None), slice(None), *(slice(0, k) for k in self.out_sizes[:i]),
                 slice(self.out_sizes[i], None))] = 0
        flat = out.reshape(n, o, rows * self.plane[0])
        return flat if whole_planes else flat[:, :, :self.wide_len]

    def scatter(self, cols: np.ndarray) -> np.ndarray:
        """col2im: sum ``(N, groups, taps, C / groups, length)`` columns back into an unpadded ``(N, C, *in)``
        input. Wide columns span whole planes (``length`` is ``plane_len``): a tap's block then lands on the
        group's channel planes at one flat offset, and what crosses a plane's end is a zero column."""
        n, groups, _, per_group, length = cols.shape
        channels = groups * per_group
        if self.wide:
            block = per_group * length
            flat = cols[:, :, 0].reshape(n, groups, block).copy()
            for t, offset in enumerate(self.offsets()[1:], 1):
                flat[:, :, offset:] += cols[:, :, t].reshape(n, groups, block)[:, :, :block - offset]
            padded = flat.reshape(n, channels, *self.padded)
        else:
            padded = np.zeros((n, channels, *self.padded), dtype=cols.dtype)
            for t, tap in enumerate(np.ndindex(*self.kernel)):
                padded[self.tap_window(tap)] += cols[:, :, t].reshape(n, channels, *self.out_sizes)
        return self.unpadded(padded)


def _compute_dtype(dtype: np.dtype) -> np.dtype:
    # NumPy has no BLAS for half precision: compute in float32, as torch's CPU kernels accumulate.
    return np.dtype(np.float32) if dtype.kind == "f" and dtype.itemsize < 4 else dtype


def _conv_kernel(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, *, stride: tuple, padding: tuple,
                 dilation: tuple, groups: int) -> np.ndarray:
    dtype, compute = x.dtype, _compute_dtype(x.dtype)
    geo = _Geometry(x.shape[2:], w.shape[2:], stride, padding, dilation, exact_long_rows=True)
    n, o = x.shape[0], w.shape[0]
    fuse_bias = b is not None and groups == 1
    cols = geo.columns_of(x.astype(compute, copy=False), ones_row=fuse_bias)
    weights = w.astype(compute, copy=False).reshape(groups, o // groups, math.prod(w.shape[1:]))
    if fuse_bias:
        weights = np.concatenate([weights, b.astype(compute, copy=False).reshape(1, o, 1)], axis=2)
    out = np.matmul(weights, cols.reshape(n, groups, cols.shape[1] // groups, geo.columns))
    out = out.reshape(n, o, geo.columns)
    result = geo.valid(out) if geo.wide else out.reshape(n, o, *geo.out_sizes)
    if b is not None and not fuse_bias:
        result = np.add(result, b.astype(compute, copy=False).reshape((o,) + (1,) * len(geo.out_sizes)))
    return np.ascontiguousarray(result, dtype=dtype)


def _input_grad_kernel(g: np.ndarray, w: np.ndarray, *, input_shape: tuple, stride: tuple, padding: tuple,
                       dilation: tuple, groups: int) -> np.ndarray:
    dtype, compute = g.dtype, _compute_dtype(g.dtype)
    geo = _Geometry(input_shape[2:], w.shape[2:], stride, padding, dilation, out_sizes=g.shape[2:])
    n, o, c = g.shape[0], w.shape[0], input_shape[1]
    per_out, per_in = o // groups, c // groups
    length = geo.plane_len if geo.wide else geo.positions
    grad = geo.widen(g.astype(compute, copy=False), True).reshape(n, groups, per_out, length)
    # Weight rows ordered (tap, channel) within each group, so each tap's columns come out as one block.
    weights = w.astype(compute, copy=False).reshape(groups, per_out, per_in, geo.taps)
    weights = weights.transpose(0, 3, 2, 1).reshape(groups, geo.taps * per_in, per_out)
    cols = np.matmul(weights, grad).reshape(n, groups, geo.taps, per_in, length)
    return geo.scatter(cols).astype(dtype, copy=False)


def _weight_grad_kernel(x: np.ndarray, g: np.ndarray, *, weight_shape: tuple, stride: tuple, padding: tuple,
                        dilation: tuple, groups: int) -> np.ndarray:
    dtype, compute = x.dtype, _compute_dtype(x.dtype)
    geo = _Geometry(x.shape[2:], weight_shape[2:], stride, padding, dilation, out_sizes=g.shape[2:],
                    exact_long_rows=True)
    n, o = g.shape[:2]
    if n == 0:
        return np.zeros(weight_shape, dtype=dtype)
    cols = geo.columns_of(x.astype(compute, copy=False))
    cols = cols.reshape(n, groups, cols.shape[1] // groups, geo.columns)
    grad = geo.widen(g.astype(compute, copy=False), False).reshape(n, groups, o // groups, geo.columns)
    # columns @ grad^T (then transposed) runs about twice as fast in OpenBLAS as grad @ columns^T here.
    out = np.matmul(cols, grad.transpose(0, 1, 3, 2)).sum(0).transpose(0, 2, 1)
    return np.ascontiguousarray(out.reshape(weight_shape), dtype=dtype)


def _check_dtype(op: str, *tensors: Tensor | None) -> None:
    dt = tensors[0]._dtype
    for t in tensors[1:]:
        if t is not None and t._dtype is not dt:
            raise RuntimeError(f"expected scalar type {dt.scalar_name} but found {t._dtype.scalar_name}")
    if dt.name == "bool":
        raise NotImplementedError(f"\"{op}\" not implemented for 'Bool'")


def _conv_meta(x: Tensor, w: Tensor, b: Tensor | None, *, stride: tuple, padding: tuple, dilation: tuple,
               groups: int) -> Meta:
    if b is not None and b._dtype is not x._dtype:
        raise RuntimeError(f"Input type ({x._dtype.cpp_name}) and bias type ({b._dtype.cpp_name}) should be the same")
    _check_dtype("convolution", x, w)
    geo = _Geometry(x._shape[2:], w._shape[2:], stride, padding, dilation)
    return cached_meta((x._shape[0], w._shape[0], *geo.out_sizes), x._dtype)


def _input_grad_meta(g: Tensor, w: Tensor, *, input_shape: tuple, **geometry: object) -> Meta:
    _check_dtype("convolution_input_grad", g, w)
    return cached_meta(tuple(input_shape), g._dtype)


def _weight_grad_meta(x: Tensor, g: Tensor, *, weight_shape: tuple, **geometry: object) -> Meta:
    _check_dtype("convolution_weight_grad", x, g)
    return cached_meta(tuple(weight_shape), x._dtype)


CONVOLUTION = defop("convolution", _conv_meta, cpu=_conv_kernel,
                    doc="N-d cross-correlation with stride, (low, high) padding, dilation, groups and a fused bias.")
CONVOLUTION_INPUT_GRAD = defop("convolution_input_grad", _input_grad_meta, cpu=_input_grad_kernel,
                               doc="The adjoint of convolution in its input (transposed convolution).")
CONVOLUTION_WEIGHT_GRAD = defop("convolution_weight_grad", _weight_grad_meta, cpu=_weight_grad_kernel,
                                doc="The adjoint of convolution in its weight.")


def _geometry(ctx) -> dict:
    attrs = ctx.attrs
    return {"stride": attrs["stride"], "padding": attrs["padding"], "dilation": attrs["dilation"],
            "groups": attrs["groups"]}


@derivative(CONVOLUTION, saves=((0, 1), (1, 0)))
def _convolution_backward(ctx, grad: Tensor) -> tuple:
    needs, geometry = ctx.needs_input_grad, _geometry(ctx)
    gx = convolution_input_grad(grad, ctx.input(1), ctx.shape(0), **geometry) if needs[0] else None
    gw = convolution_weight_grad(ctx.input(0), grad, ctx.shape(1), **geometry) if needs[1] else None
    gb = grad.sum([0, *range(2, grad.dim())]) if len(needs) > 2 and needs[2] else None
    return gx, gw, gb


def _output_like(y: Tensor, shape: tuple) -> Tensor:
    """A convolution output cut to an output gradient's ``shape``: an input sized by a transposed convolution's
    ``output_padding`` (below ``dilation`` but not ``stride``) gives extra positions that no gradient reached."""
    for dim in range(2, y.dim()):
        if y.shape[dim] != shape[dim]:
            y = y.narrow(dim, 0, shape[dim])
    return y


@derivative(CONVOLUTION_INPUT_GRAD, saves=((0, 1), (1, 0)))
def _input_grad_backward(ctx, grad: Tensor) -> tuple:
    needs, geometry = ctx.needs_input_grad, _geometry(ctx)
    gg = _output_like(convolution(grad, ctx.input(1), None, **geometry), ctx.shape(0)) if needs[0] else None
    gw = convolution_weight_grad(grad, ctx.input(0), ctx.shape(1), **geometry) if needs[1] else None
    return gg, gw


@derivative(CONVOLUTION_WEIGHT_GRAD, saves=((0, 1), (1, 0)))
def _weight_grad_backward(ctx, grad: Tensor) -> tuple:
    needs, geometry = ctx.needs_input_grad, _geometry(ctx)
    gx = convolution_input_grad(ctx.input(1), grad, ctx.shape(0), **geometry) if needs[0] else None
    gg = _output_like(convolution(ctx.input(0), grad, None, **geometry), ctx.shape(1)) if needs[1] else None
    return gx, gg


def convolution(input: Tensor, weight: Tensor, bias: Tensor | None, *, stride: tuple, padding: tuple,
                dilation: tuple, groups: int) -> Tensor:
    """Batched N-d cross-correlation; ``padding`` holds a (low, high) pair per spatial dim. Arguments are
    validated by the ``conv*d`` functionals."""
    return dispatch(CONVOLUTION, input, weight, bias, stride=stride, padding=padding, dilation=dilation,
                    groups=groups)


def convolution_input_grad(grad: Tensor, weight: Tensor, input_shape: tuple, *, stride: tuple, padding: tuple,
                           dilation: tuple, groups: int) -> Tensor:
    """The gradient of :func:`convolution` in its input, shaped ``input_shape``, for output gradient ``grad``."""
    return dispatch(CONVOLUTION_INPUT_GRAD, grad, weight, input_shape=tuple(input_shape), stride=stride,
                    padding=padding, dilation=dilation, groups=groups)


def convolution_weight_grad(input: Tensor, grad: Tensor, weight_shape: tuple, *, stride: tuple, padding: tuple,
                            dilation: tuple, groups: int) -> Tensor:
    """The gradient of :func:`convolution` in its weight, shaped ``weight_shape``, for output gradient ``grad``."""
    return dispatch(CONVOLUTION_WEIGHT_GRAD, input, grad, weight_shape=tuple(weight_shape), stride=stride,
                    padding=padding, dilation=dilation, groups=groups)
