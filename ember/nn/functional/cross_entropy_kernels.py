"""Cross-entropy with class indices as one primitive, with a backward primitive: ``log_softmax`` + ``nll_loss``.

Composed from tensor ops, the loss of a classifier's training step took some two dozen dispatches forward and a
dozen backward (target masks, bounds checks, gather, weights, reduction), more than the layers of a small MLP.
Here the forward is one NumPy kernel (a stable log-softmax, the picked log-probabilities, torch's weighted mean)
and its gradient another, ``(softmax - one_hot(target)) * weight[target] * scale``, whose own derivative is
written with tensor ops, so the loss differentiates twice.

Only the common case runs here: a ``(N, C)`` or ``(C,)`` floating input, int64 targets, an optional per-class
weight and no label smoothing; ``cross_entropy`` sends everything else through its composite form.
"""

from __future__ import annotations

import numpy as np

import ember
from ember.tensor.dispatch import dispatch
from ember.tensor.registry import Meta, cached_meta, defop, derivative
from ember.tensor.tensor import Tensor

__all__ = ["can_fuse_cross_entropy", "fused_cross_entropy"]


def _rows(x: np.ndarray, target: np.ndarray, weight: np.ndarray | None, ignore_index: int) -> tuple:
    """The kernels' shared prologue: the 2-D input in its compute dtype, the safe target per row and each row's
    weight (0 where the target is ``ignore_index``)."""
    x2 = x.reshape(-1, x.shape[-1])
    if x2.dtype.itemsize < 4:
        x2 = x2.astype(np.float32)
    t = target.reshape(-1)
    kept = t != ignore_index
    safe = np.where(kept, t, 0)
    out_of_bounds = (safe < 0) | (safe >= x2.shape[1])
    if out_of_bounds.any():
        raise IndexError(f"Target {int(safe[out_of_bounds][0])} is out of bounds.")
    weights = kept.astype(x2.dtype) if weight is None else weight.astype(x2.dtype)[safe] * kept
    return x2, safe, weights


def _log_softmax(x: np.ndarray) -> np.ndarray:
    shifted = x - x.max(axis=1, keepdims=True, initial=-np.inf)
    shifted -= np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return shifted


def _cross_entropy_kernel(x: np.ndarray, target: np.ndarray, weight: np.ndarray | None, *, ignore_index: int,
                          reduction: str) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        x2, safe, weights = _rows(x, target, weight, ignore_index)
        losses = -_log_softmax(x2)[np.arange(len(safe)), safe] * weights
        if reduction == "mean":
            out = losses.sum() / weights.sum()
        elif reduction == "sum":
            out = losses.sum()
        else:
            out = losses.reshape(target.shape)
        return np.array(out, dtype=x.dtype)


def _cross_entropy_backward_kernel(grad: np.ndarray, x: np.ndarray, target: np.ndarray, weight: np.ndarray | None,
                                   *, ignore_index: int, reduction: str) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        x2, safe, weights = _rows(x, target, weight, ignore_index)
        scale = grad.reshape(-1).astype(x2.dtype)
        if reduction == "mean":
            scale = scale / weights.sum()
        coef = weights * scale
        out = np.exp(_log_softmax(x2))
        out *= coef[:, None]
        out[np.arange(len(safe)), safe] -= coef
        return out.reshape(x.shape).astype(x.dtype, copy=False)


def _cross_entropy_meta(x: Tensor, target: Tensor, weight: Tensor | None, *, ignore_index: int,
                        reduction: str) -> Meta:
    return cached_meta(target._shape if reduction == "none" else (), x._dtype)


def _cross_entropy_backward_meta(grad: Tensor, x: Tensor, *args: object, **attrs: object) -> Meta:
    return cached_meta(x._shape, x._dtype)


CROSS_ENTROPY = defop("cross_entropy", _cross_entropy_meta, cpu=_cross_entropy_kernel,
                      doc="nll_loss(log_softmax(input)) for class-index targets, with class weights.")
CROSS_ENTROPY_BACKWARD = defop("cross_entropy_backward", _cross_entropy_backward_meta,
                               cpu=_cross_entropy_backward_kernel,
                               doc="The input gradient of cross_entropy: (softmax - one_hot) * weight * scale.")


@derivative(CROSS_ENTROPY, saves=(0, 1, 2))
def _cross_entropy_backward(ctx, grad: Tensor) -> tuple:
    gx = dispatch(CROSS_ENTROPY_BACKWARD, grad, ctx.input(0), ctx.input(1), ctx.input(2), **ctx.attrs)
    return gx, None, None


@derivative(CROSS_ENTROPY_BACKWARD, saves=(0, 1, 2, 3))
def _cross_entropy_double_backward(ctx, upstream: Tensor) -> tuple:
    """With ``a_i = weight[t_i] * scale_i`` and ``s = softmax(x)``, row i of the output is ``a_i (s_i - e_{t_i})``:
    its derivative in ``x`` is ``a_i s_i * (G_i - <s_i, G_i>)`` and in ``grad`` it is ``<G_i, s_i - e_{t_i}>``
    times ``weight[t_i]`` (over the total weight for 'mean')."""
    grad, x, target, weight = (ctx.input(i) for i in range(4))
    reduction, ignore_index = ctx.attrs["reduction"], ctx.attrs["ignore_index"]
    x2 = x.reshape(-1, x.shape[-1])
    t = target.reshape(-1)
    kept = t != ignore_index
    safe = ember.where(kept, t, 0)
    weights = kept.to(x.dtype) if weight is None else weight[safe] * kept
    if reduction == "mean":
        weights = weights / weights.sum()
    s = x2.softmax(1)
    g = upstream.reshape(x2.shape)
    along = (g * s).sum(1)
    dx = (weights * grad.reshape(-1)).unsqueeze(1) * s * (g - along.unsqueeze(1))
    inner = weights * (along - g.gather(1, safe.unsqueeze(1)).squeeze(1))
    dgrad = inner.reshape(grad.shape) if reduction == "none" else inner.sum()
    return dgrad, dx.reshape(x.shape), None, None


def can_fuse_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None, label_smoothing: float) -> bool:
    """Whether :func:`fused_cross_entropy` applies (see the module docstring); ``cross_entropy`` checks the rest."""
    return (isinstance(input, Tensor) and isinstance(target, Tensor) and input.dtype.is_floating_point
            and input.dim() in (1, 2) and target.dtype is ember.int64 and target.dim() == input.dim() - 1
            and (input.dim() == 1 or target.shape[0] == input.shape[0]) and label_smoothing == 0
            and (weight is None or isinstance(weight, Tensor) and weight.dtype is input.dtype
                 and tuple(weight.shape) == (input.shape[-1],)))


def fused_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None, ignore_index: int,
                        reduction: str) -> Tensor:
    """``nll_loss(log_softmax(input, -1), target, weight, ignore_index=..., reduction=...)`` as one primitive."""
    return dispatch(CROSS_ENTROPY, input, target, weight, ignore_index=int(ignore_index), reduction=reduction)
