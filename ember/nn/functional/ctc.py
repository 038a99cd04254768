"""Connectionist temporal classification loss: the forward (alpha) recursion over time in ember ops.

The recursion runs over the blank-interleaved targets of the whole batch at once; autograd differentiates it
(PyTorch's hand-written backward returns the gradient for normalised log-probabilities, which agrees with
this one once it has gone through ``log_softmax``, the way CTC is used).
"""

from __future__ import annotations

import numpy as np

import ember
from ember.tensor.tensor import Tensor

_NEG_INF = float("-inf")


def _logsumexp(*terms: Tensor) -> Tensor:
    """Element-wise ``log(sum(exp(terms)))`` that stays ``-inf`` (with zero gradient) where every term is."""
    stacked = ember.stack(terms, 0)
    top = stacked.detach().amax(0)
    top = ember.where(top.isinf(), 0.0, top)
    total = (stacked - top).exp().sum(0)
    reachable = total > 0
    return ember.where(reachable, ember.where(reachable, total, 1.0).log() + top, _NEG_INF)


def _lengths(value, name: str) -> np.ndarray:
    array = value.numpy() if isinstance(value, Tensor) else np.asarray(value)
    if array.dtype.kind not in "iu":
        raise RuntimeError(f"{name} must be integral")
    return array.astype(np.int64).reshape(-1)


def ctc_loss(log_probs: Tensor, targets: Tensor, input_lengths, target_lengths, blank: int = 0,
             reduction: str = "mean", zero_infinity: bool = False) -> Tensor:
    """Negative log likelihood of the ``targets`` under all monotonic alignments of the ``(T, N, C)``
    ``log_probs`` (with ``blank`` between repeats); 'mean' divides each loss by its target length first.
    ``targets`` is ``(N, S)`` padded or the 1-D concatenation of all targets."""
    batched = log_probs.dim() == 3
    lp = log_probs if batched else log_probs.unsqueeze(1)
    steps, batch, classes = lp.shape
    in_len, tgt_len = _lengths(input_lengths, "input_lengths"), _lengths(target_lengths, "target_lengths")
    if len(in_len) != batch or len(tgt_len) != batch:
        raise RuntimeError(f"input_lengths and target_lengths must have batch size {batch}, but got "
                           f"{len(in_len)} and {len(tgt_len)}")
    if np.any(in_len > steps):
        raise RuntimeError(f"Expected input_lengths to have value at most {steps}, but got value {in_len.max()}")
    if not 0 <= blank < classes:
        raise RuntimeError("blank must be in label range")
    flat = targets.numpy().astype(np.int64)
    longest = int(tgt_len.max()) if batch else 0
    labels = np.zeros((batch, longest), dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(tgt_len)[:-1]])
    for n in range(batch):
        # 1-D targets are the concatenation of all of them (or one unbatched sequence); 2-D ones are padded.
        labels[n, :tgt_len[n]] = flat[starts[n]:starts[n] + tgt_len[n]] if flat.ndim == 1 else flat[n, :tgt_len[n]]
    # Blank-interleaved labels: blank, l1, blank, l2, ..., blank.
    width = 2 * longest + 1
    extended = np.full((batch, width), blank, dtype=np.int64)
    extended[:, 1::2] = labels
    skip = np.zeros((batch, width), dtype=bool)
    skip[:, 2:] = (extended[:, 2:] != blank) & (extended[:, 2:] != extended[:, :-2])
    index = ember.from_numpy(extended)
    can_skip = ember.from_numpy(skip)
    running = ember.from_numpy(in_len)
    neg_inf_col = ember.full((batch, 1), _NEG_INF, dtype=lp.dtype)

    start = np.full((batch, width), -np.inf)
    start[:, 0] = 0.0
    start[tgt_len > 0, 1] = 0.0
    alpha = ember.from_numpy(start).to(lp.dtype) + lp[0].gather(1, index)
    for t in range(1, steps):
        stay = alpha
        step = ember.cat([neg_inf_col, alpha[:, :-1]], 1)
        jump = ember.where(can_skip, ember.cat([neg_inf_col, neg_inf_col, alpha[:, :-2]], 1), _NEG_INF)
        advanced = _logsumexp(stay, step, jump) + lp[t].gather(1, index)
        alpha = ember.where((running > t).unsqueeze(1), advanced, alpha)
    ends = ember.from_numpy(np.stack([2 * tgt_len, np.maximum(2 * tgt_len - 1, 0)], 1))
    final = alpha.gather(1, ends)
    last_label = ember.where(ember.from_numpy(tgt_len > 0), final[:, 1], _NEG_INF)
    loss = -_logsumexp(final[:, 0], last_label)
    if zero_infinity:
        loss = ember.where(loss.isinf(), 0.0, loss)
    if reduction == "mean":
        return (loss / ember.from_numpy(np.maximum(tgt_len, 1)).to(loss.dtype)).mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss if batched else loss.squeeze(0)
    raise ValueError(f"{reduction} is not a valid value for reduction")


__all__ = ["ctc_loss"]
