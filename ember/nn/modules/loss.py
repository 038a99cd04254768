"""Loss layers, as ``torch.nn`` losses: modules over :mod:`ember.nn.functional` with PyTorch's ``_Loss`` /
``_WeightedLoss`` structure (the legacy ``size_average``/``reduce`` pair, per-class ``weight`` as a buffer, so
state_dict keys are PyTorch's).

Every loss takes ``reduction``: ``'none'`` (per-element losses), ``'mean'`` (default) or ``'sum'``.
"""

from __future__ import annotations

import warnings

from ...tensor.tensor import Tensor
from .. import functional as F
from ..functional.loss import _legacy_reduction
from .module import Module

__all__ = ["L1Loss", "NLLLoss", "NLLLoss2d", "PoissonNLLLoss", "GaussianNLLLoss", "KLDivLoss", "MSELoss", "BCELoss",
           "BCEWithLogitsLoss", "HingeEmbeddingLoss", "MultiLabelMarginLoss", "SmoothL1Loss", "HuberLoss",
           "SoftMarginLoss", "CrossEntropyLoss", "MultiLabelSoftMarginLoss", "CosineEmbeddingLoss",
           "MarginRankingLoss", "MultiMarginLoss", "TripletMarginLoss", "CTCLoss"]


class _Loss(Module):
    """A loss with a ``reduction``, which the deprecated ``size_average``/``reduce`` pair overrides when given."""

    def __init__(self, size_average: bool | None = None, reduce: bool | None = None, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = _legacy_reduction(size_average, reduce, reduction)


class _WeightedLoss(_Loss):
    """A loss with an optional per-class rescaling ``weight``, registered as a buffer (``None`` when absent)."""

    def __init__(self, weight: Tensor | None = None, size_average: bool | None = None, reduce: bool | None = None,
                 reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)


class L1Loss(_Loss):
    """Mean absolute error ``|input - target|``.

    Shape:
        - Input, Target: :math:`(*)`, the same shape; Output: scalar, or :math:`(*)` for ``reduction='none'``.
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.l1_loss(input, target, reduction=self.reduction)


class MSELoss(_Loss):
    """Mean squared error ``(input - target)**2``.

    Shape:
        - Input, Target: :math:`(*)`, the same shape; Output: scalar, or :math:`(*)` for ``reduction='none'``.
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.mse_loss(input, target, reduction=self.reduction)


class NLLLoss(_WeightedLoss):
    """Negative log likelihood of class indices under log-probabilities: ``-weight[t] * input[n, t]``.

    Args:
        weight: a manual rescaling weight for each class, of size ``C``.
        ignore_index: a target value that is ignored and does not count towards the mean. Default: -100
        reduction: ``'mean'`` divides by the summed weights of the non-ignored targets.

    Shape:
        - Input: :math:`(N, C)`, :math:`(C)` or :math:`(N, C, d_1, ..., d_K)` log-probabilities.
        - Target: :math:`(N)`, :math:`()` or :math:`(N, d_1, ..., d_K)` class indices in ``[0, C)``.
    """

    def __init__(self, weight: Tensor | None = None, size_average: bool | None = None, ignore_index: int = -100,
                 reduce: bool | None = None, reduction: str = "mean") -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.nll_loss(input, target, weight=self.weight, ignore_index=self.ignore_index, reduction=self.reduction)


class NLLLoss2d(NLLLoss):
    """Deprecated alias of :class:`NLLLoss` (which handles any number of spatial dims), kept for old scripts."""

    def __init__(self, weight: Tensor | None = None, size_average: bool | None = None, ignore_index: int = -100,
                 reduce: bool | None = None, reduction: str = "mean") -> None:
        warnings.warn("`NLLLoss2d` has been deprecated. Please use `NLLLoss` instead as a drop-in replacement and see "
                      "https://pytorch.org/docs/main/nn.html#torch.nn.NLLLoss for more details.", FutureWarning,
                      stacklevel=2)
        super().__init__(weight, size_average, ignore_index, reduce, reduction)


class CrossEntropyLoss(_WeightedLoss):
    """Cross entropy between logits and class indices (or class probabilities): ``nll_loss(log_softmax(input))``.

    Args:
        weight: a manual rescaling weight for each class, of size ``C``.
        ignore_index: a target index that is ignored (class-index targets only). Default: -100
        reduction: ``'mean'`` divides by the summed weights of the non-ignored targets.
        label_smoothing: in ``[0, 1]``, mixes the target with the uniform distribution. Default: 0.0

    Shape:
        - Input: :math:`(N, C)`, :math:`(C)` or :math:`(N, C, d_1, ..., d_K)` unnormalised logits.
        - Target: class indices of shape :math:`(N)`, :math:`()` or :math:`(N, d_1, ..., d_K)`; or probabilities
          of the input's shape.
    """

    def __init__(self, weight: Tensor | None = None, size_average: bool | None = None, ignore_index: int = -100,
                 reduce: bool | None = None, reduction: str = "mean", label_smoothing: float = 0.0) -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.cross_entropy(input, target, weight=self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)


class BCELoss(_WeightedLoss):
    """Binary cross entropy ``-weight * (t * log(x) + (1 - t) * log(1 - x))`` for probabilities ``x``.

    Args:
        weight: a manual rescaling weight for each element, broadcast against the input.

    Shape:
        - Input, Target: :math:`(*)`, the same shape, input in ``[0, 1]``.
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.binary_cross_entropy(input, target, weight=self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Binary cross entropy on logits (a sigmoid and :class:`BCELoss` in one, computed stably).

    Args:
        weight: a manual rescaling weight for each element, broadcast against the input.
        pos_weight: a weight for the positive examples, broadcast against the target (one per class, in the
            last dim, for multi-label targets).

    Shape:
        - Input, Target: :math:`(*)`, the same shape.
    """

    def __init__(self, weight: Tensor | None = None, size_average: bool | None = None, reduce: bool | None = None,
                 reduction: str = "mean", pos_weight: Tensor | None = None) -> None:
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(input, target, self.weight, pos_weight=self.pos_weight,
                                                  reduction=self.reduction)


class KLDivLoss(_Loss):
    """Kullback-Leibler divergence ``target * (log(target) - input)`` for log-probabilities ``input``.

    Args:
        reduction: also ``'batchmean'``: the sum divided by the batch size (the mathematical KL divergence).
        log_target: whether ``target`` is given in log space. Default: ``False``

    Shape:
        - Input, Target: :math:`(*)`, the same shape.
    """

    def __init__(self, size_average: bool | None = None, reduce: bool | None = None, reduction: str = "mean",
                 log_target: bool = False) -> None:
        super().__init__(size_average, reduce, reduction)
        self.log_target = log_target

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.kl_div(input, target, reduction=self.reduction, log_target=self.log_target)


class SmoothL1Loss(_Loss):
    """``0.5 * d**2 / beta`` where ``|d| < beta``, else ``|d| - 0.5 * beta``, for ``d = input - target``.

    Args:
        beta: the threshold between the quadratic and the linear part, non-negative. Default: 1.0
    """

    def __init__(self, size_average: bool | None = None, reduce: bool | None = None, reduction: str = "mean",
                 beta: float = 1.0) -> None:
        super().__init__(size_average, reduce, reduction)
        self.beta = beta

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class HuberLoss(_Loss):
    """``0.5 * d**2`` where ``|d| < delta``, else ``delta * (|d| - 0.5 * delta)``, for ``d = input - target``.

    Args:
        delta: the threshold between the quadratic and the linear part, positive. Default: 1.0
    """

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        if not isinstance(delta, (float, int)):
            raise TypeError(f"delta must be a float or int, got: {type(delta)}")
        super().__init__(reduction=reduction)
        self.delta = delta

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class PoissonNLLLoss(_Loss):
    """Poisson negative log likelihood: ``exp(input) - target * input`` for log rates.

    Args:
        log_input: whether ``input`` is the log of the rate (else the rate, with ``input - target *
            log(input + eps)``). Default: ``True``
        full: add Stirling's approximation of ``log(target!)``. Default: ``False``
        eps: keeps the log finite when ``log_input=False``. Default: 1e-8
    """

    def __init__(self, log_input: bool = True, full: bool = False, size_average: bool | None = None,
                 eps: float = 1e-8, reduce: bool | None = None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.log_input = log_input
        self.full = full
        self.eps = eps

    def forward(self, log_input: Tensor, target: Tensor) -> Tensor:
        return F.poisson_nll_loss(log_input, target, log_input=self.log_input, full=self.full, eps=self.eps,
                                  reduction=self.reduction)


class GaussianNLLLoss(_Loss):
    """Gaussian negative log likelihood ``0.5 * (log(var) + (input - target)**2 / var)``.

    Args:
        full: add the constant ``0.5 * log(2 pi)``. Default: ``False``
        eps: the value ``var`` is clamped to from below, for stability. Default: 1e-6
    """

    def __init__(self, *, full: bool = False, eps: float = 1e-6, reduction: str = "mean") -> None:
        super().__init__(None, None, reduction)
        self.full = full
        self.eps = eps

    def forward(self, input: Tensor, target: Tensor, var: Tensor | float) -> Tensor:
        return F.gaussian_nll_loss(input, target, var, full=self.full, eps=self.eps, reduction=self.reduction)


class _MarginLoss(_Loss):
    """A loss with a ``margin`` (pairwise and embedding losses)."""

    def __init__(self, margin: float = 0.0, size_average: bool | None = None, reduce: bool | None = None,
                 reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.margin = margin


class HingeEmbeddingLoss(_MarginLoss):
    """``x`` where ``target == 1``, ``max(0, margin - x)`` where ``target == -1``.

    Args:
        margin: Default: 1.0
    """

    def __init__(self, margin: float = 1.0, size_average: bool | None = None, reduce: bool | None = None,
                 reduction: str = "mean") -> None:
        super().__init__(margin, size_average, reduce, reduction)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.hinge_embedding_loss(input, target, margin=self.margin, reduction=self.reduction)


class CosineEmbeddingLoss(_MarginLoss):
    """``1 - cos(x1, x2)`` where ``target == 1``, ``max(0, cos(x1, x2) - margin)`` where ``target == -1``.

    Args:
        margin: in ``[-1, 1]``. Default: 0.0
    """

    def forward(self, input1: Tensor, input2: Tensor, target: Tensor) -> Tensor:
        return F.cosine_embedding_loss(input1, input2, target, margin=self.margin, reduction=self.reduction)


class MarginRankingLoss(_MarginLoss):
    """``max(0, -target * (input1 - input2) + margin)`` for targets of +-1.

    Args:
        margin: Default: 0.0
    """

    def forward(self, input1: Tensor, input2: Tensor, target: Tensor) -> Tensor:
        return F.margin_ranking_loss(input1, input2, target, margin=self.margin, reduction=self.reduction)


class SoftMarginLoss(_Loss):
    """Two-class logistic loss ``log(1 + exp(-target * input))`` for targets of +-1."""

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.soft_margin_loss(input, target, reduction=self.reduction)


class MultiLabelMarginLoss(_Loss):
    """Multi-label hinge loss; each row of ``target`` lists class indices, ended by the first -1."""

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.multilabel_margin_loss(input, target, reduction=self.reduction)


class MultiLabelSoftMarginLoss(_WeightedLoss):
    """Per-class binary cross entropy on logits, averaged over the classes.

    Args:
        weight: a manual rescaling weight for each class, of size ``C``.

    Shape:
        - Input, Target: :math:`(N, C)` (target of 0s and 1s); Output: scalar, or :math:`(N)` for 'none'.
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.multilabel_soft_margin_loss(input, target, weight=self.weight, reduction=self.reduction)


class MultiMarginLoss(_WeightedLoss):
    """Multi-class hinge loss ``sum_{i != y} max(0, margin - x[y] + x[i])**p / C``.

    Args:
        p: 1 or 2. Default: 1
        margin: Default: 1.0
        weight: a manual rescaling weight for each class, of size ``C``.
    """

    def __init__(self, p: int = 1, margin: float = 1.0, weight: Tensor | None = None,
                 size_average: bool | None = None, reduce: bool | None = None, reduction: str = "mean") -> None:
        super().__init__(weight, size_average, reduce, reduction)
        if p not in (1, 2):
            raise ValueError("only p == 1 and p == 2 supported")
        if weight is not None and weight.dim() != 1:
            raise ValueError(f"MultiMarginLoss: expected weight to be None or 1D tensor, got {weight.dim()}D instead")
        self.p = p
        self.margin = margin

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.multi_margin_loss(input, target, p=self.p, margin=self.margin, weight=self.weight,
                                   reduction=self.reduction)


class TripletMarginLoss(_Loss):
    """``max(0, margin + d(anchor, positive) - d(anchor, negative))`` with the pairwise p-norm distance ``d``.

    Args:
        margin: positive. Default: 1.0
        p: the norm degree of the pairwise distance. Default: 2
        eps: added inside the distance for numerical stability. Default: 1e-6
        swap: use the smaller of d(anchor, negative) and d(positive, negative). Default: ``False``
    """

    def __init__(self, margin: float = 1.0, p: float = 2.0, eps: float = 1e-6, swap: bool = False,
                 size_average: bool | None = None, reduce: bool | None = None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        if margin <= 0:
            raise ValueError(f"TripletMarginLoss: expected margin to be greater than 0, got {margin} instead")
        self.margin = margin
        self.p = p
        self.eps = eps
        self.swap = swap

    def forward(self, anchor: Tensor, positive: Tensor, negative: Tensor) -> Tensor:
        return F.triplet_margin_loss(anchor, positive, negative, margin=self.margin, p=self.p, eps=self.eps,
                                     swap=self.swap, reduction=self.reduction)


class CTCLoss(_Loss):
    """Connectionist temporal classification loss: the negative log likelihood of the targets summed over
    every alignment with the input sequence.

    Args:
        blank: the blank label. Default: 0
        reduction: ``'mean'`` divides each loss by its target length, then averages over the batch.
        zero_infinity: replace infinite losses (impossible alignments) and their gradients by zero.
            Default: ``False``

    Shape:
        - Log_probs: :math:`(T, N, C)` or :math:`(T, C)`; Targets: :math:`(N, S)` or the 1-D concatenation of
          all targets; Input_lengths, Target_lengths: :math:`(N)`.
    """

    def __init__(self, blank: int = 0, reduction: str = "mean", zero_infinity: bool = False) -> None:
        super().__init__(reduction=reduction)
        self.blank = blank
        self.zero_infinity = zero_infinity

    def forward(self, log_probs: Tensor, targets: Tensor, input_lengths: Tensor, target_lengths: Tensor) -> Tensor:
        return F.ctc_loss(log_probs, targets, input_lengths, target_lengths, self.blank, self.reduction,
                          self.zero_infinity)
