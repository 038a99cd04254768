"""Loss functions, composed from ember tensor ops with PyTorch's formulas, reductions and conventions."""

from __future__ import annotations

import math
import warnings

import ember
from ember.tensor.tensor import Tensor

from .activation import _neg_log_sigmoid
from .cross_entropy_kernels import can_fuse_cross_entropy, fused_cross_entropy

_REDUCTIONS = ("none", "mean", "sum")


def _legacy_reduction(size_average: bool | None, reduce: bool | None, reduction: str) -> str:
    """The reduction named by the deprecated ``size_average``/``reduce`` pair, when either is given."""
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    chosen = ("mean" if size_average else "sum") if reduce else "none"
    warnings.warn(f"size_average and reduce args will be deprecated, please use reduction='{chosen}' instead.",
                  stacklevel=3)
    return chosen


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "none":
        return loss
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    raise ValueError(f"{reduction} is not a valid value for reduction")


def _pointwise(input: Tensor, target: Tensor, weight: Tensor | None, reduction: str, loss_fn,
               weighted_mean_by_weight: bool) -> Tensor:
    """A loss of ``input - target`` with PyTorch's size warning, broadcasting and optional per-element weight."""
    if target.shape != input.shape:
        warnings.warn(f"Using a target size ({target.shape}) that is different to the input size ({input.shape}). "
                      "This will likely lead to incorrect results due to broadcasting. "
                      "Please ensure they have the same size.", stacklevel=3)
    loss = loss_fn(input - target)
    if weight is None:
        return _reduce(loss, reduction)
    if weight.shape != input.shape:
        raise ValueError("Weights and input must have the same size.")
    loss = loss * weight
    if reduction not in _REDUCTIONS:
        raise ValueError(f"Invalid reduction mode: {reduction}. Expected one of 'none', 'mean', 'sum'.")
    if reduction == "mean" and weighted_mean_by_weight:
        return loss.sum() / weight.sum()
    return _reduce(loss, reduction)


def mse_loss(input: Tensor, target: Tensor, size_average: bool | None = None, reduce: bool | None = None,
             reduction: str = "mean", weight: Tensor | None = None) -> Tensor:
    """Mean squared error ``(input - target)**2``; with ``weight``, 'mean' divides by ``weight.sum()``."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    return _pointwise(input, target, weight, reduction, ember.square, True)


def l1_loss(input: Tensor, target: Tensor, size_average: bool | None = None, reduce: bool | None = None,
            reduction: str = "mean", weight: Tensor | None = None) -> Tensor:
    """Mean absolute error ``|input - target|``; with ``weight``, 'mean' divides by ``weight.sum()``."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    return _pointwise(input, target, weight, reduction, ember.abs, True)


def _huber(diff: Tensor, delta: float, scale: float) -> Tensor:
    """``0.5 * d**2 * scale`` inside ``|d| < delta``, the matching straight line outside."""
    magnitude = diff.abs()
    return ember.where(magnitude < delta, 0.5 * diff * diff * scale, (magnitude - 0.5 * delta) * (delta * scale))


def smooth_l1_loss(input: Tensor, target: Tensor, size_average: bool | None = None, reduce: bool | None = None,
                   reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """Quadratic ``0.5 * d**2 / beta`` for ``|d| < beta``, else ``|d| - 0.5 * beta``; plain L1 when beta is 0."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    if beta == 0:
        return _pointwise(input, target, None, reduction, ember.abs, True)
    return _pointwise(input, target, None, reduction, lambda d: _huber(d, beta, 1.0 / beta), True)


def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean", delta: float = 1.0,
               weight: Tensor | None = None) -> Tensor:
    """Quadratic ``0.5 * d**2`` for ``|d| < delta``, else ``delta * (|d| - 0.5 * delta)``."""
    if delta <= 0:
        raise RuntimeError("huber_loss does not support non-positive values for delta.")
    return _pointwise(input, target, weight, reduction, lambda d: _huber(d, delta, 1.0), False)


def _class_weight_shape(input: Tensor) -> tuple:
    """The shape that broadcasts a per-class vector against ``input`` (classes in dim 1, or dim 0 if 1-D)."""
    return (-1,) if input.dim() == 1 else (1, -1) + (1,) * (input.dim() - 2)


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average: bool | None = None,
             ignore_index: int = -100, reduce: bool | None = None, reduction: str = "mean") -> Tensor:
    """Negative log likelihood ``-weight[t] * input[n, t]`` for class indices ``t``; 'mean' divides by the
    summed weights of the targets that are not ``ignore_index``."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if input.dim() < 1:
        raise ValueError(f"Expected 1 or more dimensions (got {input.dim()})")
    batched = input.dim() > 1
    if (input.shape[0] if batched else 1) != (target.shape[0] if target.dim() else 1):
        raise ValueError(f"Expected input batch_size ({input.shape[0] if batched else 1}) to match target "
                         f"batch_size ({target.shape[0] if target.dim() else 1}).")
    if target.dtype.is_floating_point or target.dtype is ember.bool:
        raise RuntimeError(f"expected scalar type Long but found {target.dtype.scalar_name}")
    classes = input.shape[1] if batched else input.shape[0]
    if weight is not None and weight.shape != (classes,):
        raise RuntimeError(f"weight tensor should be defined either for all {classes} classes or no classes but "
                           f"got weight tensor of shape: {list(weight.shape)}")
    kept = target != ignore_index
    safe = ember.where(kept, target, 0)
    if safe.numel() and (bool((safe < 0).any()) or bool((safe >= classes).any())):
        bad = int(safe[(safe < 0) | (safe >= classes)][0])
        raise IndexError(f"Target {bad} is out of bounds.")
    class_dim = 1 if batched else 0
    picked = input.gather(class_dim, safe.unsqueeze(class_dim)).squeeze(class_dim)
    weights = kept.to(input.dtype) if weight is None else weight[safe] * kept
    loss = -picked * weights
    if reduction == "mean":
        return loss.sum() / weights.sum()
    return _reduce(loss, reduction)


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average: bool | None = None,
                  ignore_index: int = -100, reduce: bool | None = None, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """``nll_loss(log_softmax(input, class_dim), target)`` for class indices, or ``-sum(target * log_softmax)``
    for class probabilities (a floating ``target`` shaped like ``input``), with optional label smoothing."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    if reduction in _REDUCTIONS and can_fuse_cross_entropy(input, target, weight, label_smoothing):
        return fused_cross_entropy(input, target, weight, ignore_index, reduction)
    class_dim = 0 if input.dim() == 1 else 1
    classes = input.shape[class_dim]
    logp = ember.log_softmax(input, class_dim)
    if target.dtype.is_floating_point:
        if target.shape != input.shape:
            raise RuntimeError(f"Expected target size {list(input.shape)}, got {list(target.shape)}")
        if label_smoothing > 0:
            target = target * (1 - label_smoothing) + label_smoothing / classes
        weighted = logp * target if weight is None else logp * target * weight.reshape(_class_weight_shape(input))
        loss = -weighted.sum(class_dim)
        if reduction == "mean":
            return loss.sum() / (input.numel() // classes if classes else 0)
        return _reduce(loss, reduction)
    nll = nll_loss(logp, target, weight, ignore_index=ignore_index, reduction=reduction)
    if label_smoothing == 0:
        return nll
    kept = target != ignore_index
    per_class = logp if weight is None else logp * weight.reshape(_class_weight_shape(input))
    smooth = -per_class.sum(class_dim) * kept
    if reduction == "mean":
        total = kept.sum() if weight is None else weight[ember.where(kept, target, 0)][kept].sum()
        smooth = smooth.sum() / total
    else:
        smooth = _reduce(smooth, reduction)
    return (1 - label_smoothing) * nll + smooth * (label_smoothing / classes)


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                         size_average: bool | None = None, reduce: bool | None = None,
                         reduction: str = "mean") -> Tensor:
    """``-(t * log(x) + (1 - t) * log(1 - x))`` for probabilities ``x``, the logs clamped at -100."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if target.shape != input.shape:
        raise ValueError(f"Using a target size ({target.shape}) that is different to the input size "
                         f"({input.shape}) is deprecated. Please ensure they have the same size.")
    if input.numel() and bool(((input < 0) | (input > 1)).any()):
        raise RuntimeError("all elements of input should be between 0 and 1")
    loss = -(target * input.log().clamp(min=-100) + (1 - target) * (1 - input).log().clamp(min=-100))
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, weight: Tensor | None = None,
                                     size_average: bool | None = None, reduce: bool | None = None,
                                     reduction: str = "mean", pos_weight: Tensor | None = None) -> Tensor:
    """``binary_cross_entropy(sigmoid(input), target)`` computed stably from logits; ``pos_weight`` scales
    the positive term."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if target.shape != input.shape:
        raise ValueError(f"Target size ({target.shape}) must be the same as input size ({input.shape})")
    neg_log_sigmoid = _neg_log_sigmoid(input)
    if pos_weight is None:
        loss = (1 - target) * input + neg_log_sigmoid
    else:
        loss = (1 - target) * input + ((pos_weight - 1) * target + 1) * neg_log_sigmoid
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def kl_div(input: Tensor, target: Tensor, size_average: bool | None = None, reduce: bool | None = None,
           reduction: str = "mean", log_target: bool = False) -> Tensor:
    """Kullback-Leibler divergence ``target * (log(target) - input)`` for log-probabilities ``input``
    (``target`` in log space too when ``log_target``); 'batchmean' divides the sum by the batch size."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if reduction == "mean":
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the support size."
                      "'batchmean' divides only by the batch size, and aligns with the KL div math definition."
                      "'mean' will be changed to behave the same as 'batchmean' in the next major release.",
                      stacklevel=2)
    if log_target:
        loss = target.exp() * (target - input)
    else:
        # xlogy: 0 * log(0) counts as 0; the log never sees 0, so no NaN reaches the target's gradient.
        loss = target * ember.where(target == 0, 1, target).log() - target * input
    if reduction == "batchmean":
        return loss.sum() / input.shape[0] if input.dim() else loss.sum()
    return _reduce(loss, reduction)


def margin_ranking_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0,
                        size_average: bool | None = None, reduce: bool | None = None,
                        reduction: str = "mean") -> Tensor:
    """``max(0, -target * (input1 - input2) + margin)`` for targets of +-1."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if input1.dim() != input2.dim() or input1.dim() != target.dim():
        raise RuntimeError(f"margin_ranking_loss : All input tensors should have same dimension but got sizes: "
                           f"input1: {input1.shape}, input2: {input2.shape}, target: {target.shape} ")
    return _reduce((-target * (input1 - input2) + margin).clamp(min=0), reduction)


def hinge_embedding_loss(input: Tensor, target: Tensor, margin: float = 1.0, size_average: bool | None = None,
                         reduce: bool | None = None, reduction: str = "mean") -> Tensor:
    """``x`` where ``target == 1``, ``max(0, margin - x)`` where ``target == -1``."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    zeros = ember.zeros_like(input)
    loss = ember.where(target != 1, (margin - input).clamp(min=0), zeros) + ember.where(target != -1, input, zeros)
    return _reduce(loss, reduction)


def soft_margin_loss(input: Tensor, target: Tensor, size_average: bool | None = None, reduce: bool | None = None,
                     reduction: str = "mean") -> Tensor:
    """Two-class logistic loss ``log(1 + exp(-target * input))``."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    return _reduce(ember.log1p(ember.exp(-input * target)), reduction)


def multilabel_soft_margin_loss(input: Tensor, target: Tensor, weight: Tensor | None = None,
                                size_average: bool | None = None, reduce: bool | None = None,
                                reduction: str = "mean") -> Tensor:
    """Per-class binary cross entropy on logits, averaged over the classes (the last dim)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    loss = target * _neg_log_sigmoid(input) + (1 - target) * _neg_log_sigmoid(-input)
    if weight is not None:
        loss = loss * weight
    class_dim = input.dim() - 1
    return _reduce(loss.sum(class_dim) / input.shape[class_dim], reduction)


def multi_margin_loss(input: Tensor, target: Tensor, p: int = 1, margin: float = 1.0, weight: Tensor | None = None,
                      size_average: bool | None = None, reduce: bool | None = None, reduction: str = "mean") -> Tensor:
    """Multi-class hinge loss ``sum_{i != y} max(0, margin - x[y] + x[i])**p / C`` (scaled by ``weight[y]``)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if p not in (1, 2):
        raise ValueError("only p == 1 and p == 2 supported")
    x = input if input.dim() == 2 else input.reshape(1, -1)
    y = target.reshape(-1)
    classes = x.shape[1]
    hinge = (margin - x.gather(1, y.unsqueeze(1)) + x).clamp(min=0)
    if p == 2:
        hinge = hinge * hinge
    if weight is not None:
        hinge = hinge * weight[y].unsqueeze(1)
    others = y.unsqueeze(1) != ember.arange(classes)
    loss = (hinge * others).sum(1) / classes
    return _reduce(loss if input.dim() == 2 else loss.reshape(target.shape), reduction)


def multilabel_margin_loss(input: Tensor, target: Tensor, size_average: bool | None = None,
                           reduce: bool | None = None, reduction: str = "mean") -> Tensor:
    """Multi-label hinge loss: ``sum over targets j and non-targets i of max(0, 1 - (x[j] - x[i])) / C``; each
    row of ``target`` lists class indices up to its first -1."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if target.shape != input.shape:
        raise RuntimeError(f"inconsistent target size: {list(target.shape)} for input of size: {list(input.shape)}")
    x, t = (input, target) if input.dim() == 2 else (input.reshape(1, -1), target.reshape(1, -1))
    classes = x.shape[1]
    if t.numel() and (bool((t < -1).any()) or bool((t >= classes).any())):
        raise RuntimeError(f"multilabel_margin_loss: target values must be in [-1, {classes - 1}]")
    listed = (t != -1).long().cumprod(1).bool()
    safe = ember.where(listed, t, 0)
    is_target = ((safe.unsqueeze(-1) == ember.arange(classes)) & listed.unsqueeze(-1)).any(1)
    hinge = (1 - x.gather(1, safe).unsqueeze(-1) + x.unsqueeze(1)).clamp(min=0)
    pairs = listed.unsqueeze(-1) & is_target.logical_not().unsqueeze(1)
    loss = (hinge * pairs).sum((1, 2)) / classes
    return _reduce(loss if input.dim() == 2 else loss.reshape(()), reduction)


def cosine_embedding_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0,
                          size_average: bool | None = None, reduce: bool | None = None,
                          reduction: str = "mean") -> Tensor:
    """``1 - cos(x1, x2)`` where ``target == 1``, ``max(0, cos(x1, x2) - margin)`` where ``target == -1``."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    dim = 1 if input1.dim() == 2 else 0
    # PyTorch's formula: squared magnitudes get 1e-12 added before the product's square root.
    denominator = (((input1 * input1).sum(dim) + 1e-12) * ((input2 * input2).sum(dim) + 1e-12)).sqrt()
    cos = (input1 * input2).sum(dim) / denominator
    zeros = ember.zeros_like(cos)
    loss = ember.where(target == 1, 1 - cos, zeros) + ember.where(target == -1, (cos - margin).clamp(min=0), zeros)
    return _reduce(loss, reduction)


def triplet_margin_loss(anchor: Tensor, positive: Tensor, negative: Tensor, margin: float = 1.0, p: float = 2,
                        eps: float = 1e-6, swap: bool = False, size_average: bool | None = None,
                        reduce: bool | None = None, reduction: str = "mean") -> Tensor:
    """``max(0, margin + d(anchor, positive) - d(anchor, negative))`` with the pairwise p-norm distance;
    ``swap`` uses the smaller of d(anchor, negative) and d(positive, negative)."""
    from .layers import pairwise_distance

    reduction = _legacy_reduction(size_average, reduce, reduction)
    d_pos = pairwise_distance(anchor, positive, p, eps)
    d_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_neg = ember.minimum(d_neg, pairwise_distance(positive, negative, p, eps))
    return _reduce((margin + d_pos - d_neg).clamp(min=0), reduction)


def poisson_nll_loss(input: Tensor, target: Tensor, log_input: bool = True, full: bool = False,
                     size_average: bool | None = None, eps: float = 1e-8, reduce: bool | None = None,
                     reduction: str = "mean") -> Tensor:
    """Poisson negative log likelihood: ``exp(x) - t * x`` for log rates (else ``x - t * log(x + eps)``), plus
    Stirling's approximation of ``log(t!)`` for ``t > 1`` when ``full``."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    loss = input.exp() - target * input if log_input else input - target * (input + eps).log()
    if full:
        safe = ember.where(target > 1, target, 1.0)
        stirling = safe * safe.log() - safe + 0.5 * (2 * math.pi * safe).log()
        loss = loss + ember.where(target > 1, stirling, 0.0)
    return _reduce(loss, reduction)


def gaussian_nll_loss(input: Tensor, target: Tensor, var: Tensor | float, full: bool = False, eps: float = 1e-6,
                      reduction: str = "mean") -> Tensor:
    """Gaussian negative log likelihood ``0.5 * (log(var) + (input - target)**2 / var)``, ``var`` clamped to
    ``eps`` (value only, as PyTorch does), plus ``0.5 * log(2 pi)`` when ``full``."""
    if not isinstance(var, Tensor):
        var = ember.full(input.shape, float(var), dtype=input.dtype)
    if var.shape != input.shape:
        if tuple(input.shape[:-1]) == tuple(var.shape):
            var = var.unsqueeze(-1)
        elif not (tuple(input.shape[:-1]) == tuple(var.shape[:-1]) and var.shape[-1] == 1):
            raise ValueError("var is of incorrect size")
    if reduction not in _REDUCTIONS:
        raise ValueError(reduction + " is not valid")
    if bool((var < 0).any()):
        raise ValueError("var has negative entry/entries")
    var = var + (var.clamp(min=eps) - var).detach()
    loss = 0.5 * (var.log() + (input - target) ** 2 / var)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)


__all__ = ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "nll_loss", "cross_entropy",
           "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div", "margin_ranking_loss",
           "hinge_embedding_loss", "soft_margin_loss", "multilabel_soft_margin_loss", "multi_margin_loss",
           "multilabel_margin_loss", "cosine_embedding_loss", "triplet_margin_loss", "poisson_nll_loss",
           "gaussian_nll_loss"]
