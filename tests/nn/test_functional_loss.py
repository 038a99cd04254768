"""ember.nn.functional losses against torch.nn.functional: values and gradients for every reduction."""

from __future__ import annotations

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from tests.nn.functional_check import FLOATS, TF, Fixed, check
from tests.oracle import assert_close, pair, torch


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_regression_losses(reduction, dtype):
    x, y = pair((3, 4), dtype, seed=1), pair((3, 4), dtype, seed=2)
    w = pair((3, 4), dtype, seed=3, low=0.1, high=2)
    check(F.mse_loss, TF.mse_loss, x, y, reduction=reduction)
    check(F.l1_loss, TF.l1_loss, x, y, reduction=reduction)
    check(F.mse_loss, TF.mse_loss, x, y, reduction=reduction, weight=w)
    check(F.l1_loss, TF.l1_loss, x, y, reduction=reduction, weight=w)
    for beta in (0.0, 0.5, 2.0):
        check(F.smooth_l1_loss, TF.smooth_l1_loss, x, y, reduction=reduction, beta=beta)
    for delta in (0.5, 2.0):
        check(F.huber_loss, TF.huber_loss, x, y, reduction=reduction, delta=delta)
        check(F.huber_loss, TF.huber_loss, x, y, reduction=reduction, delta=delta, weight=w)


def test_loss_argument_handling():
    x, y = pair((3, 4), seed=1), pair((4,), seed=2)
    with pytest.warns(UserWarning, match="different to the input size"):
        check(F.mse_loss, TF.mse_loss, x, y)
    with pytest.warns(UserWarning, match="size_average and reduce"):
        out = F.mse_loss(x[0], x[0] * 2, size_average=False)
    assert_close(out, TF.mse_loss(x[1], x[1] * 2, reduction="sum"))
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        F.mse_loss(x[0], x[0], reduction="avg")
    with pytest.raises(ValueError, match="Weights and input must have the same size"):
        F.l1_loss(x[0], x[0], weight=y[0])


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy_and_nll(smoothing, reduction, dtype):
    logits = pair((6, 5), dtype)
    target = pair((6,), ember.int64, low=0, high=4, seed=5)
    target[0][1], target[1][1] = -100, -100
    weight = Fixed(pair((5,), dtype, low=0.2, high=2.0, seed=6))
    kwargs = {"reduction": reduction, "label_smoothing": smoothing}
    check(F.cross_entropy, TF.cross_entropy, logits, target, **kwargs)
    check(F.cross_entropy, TF.cross_entropy, logits, target, weight, **kwargs)
    check(F.cross_entropy, TF.cross_entropy, logits, Fixed((target[0].clamp(min=0), target[1].clamp(min=0))),
          ignore_index=2, **kwargs)
    probs = pair((6, 5), dtype, low=0, high=1, seed=7)
    check(F.cross_entropy, TF.cross_entropy, logits, probs, weight, **kwargs)
    spatial, spatial_target = pair((2, 5, 3, 4), dtype), pair((2, 3, 4), ember.int64, low=0, high=4, seed=8)
    check(F.cross_entropy, TF.cross_entropy, spatial, spatial_target, weight, **kwargs)
    check(F.cross_entropy, TF.cross_entropy, pair((5,), dtype), (ember.tensor(3), torch.tensor(3)), **kwargs)
    logp = pair((6, 5), dtype, low=-4, high=0)
    check(F.nll_loss, TF.nll_loss, logp, target, weight, reduction=reduction)


def test_nll_loss_errors():
    logp = pair((3, 4))[0]
    with pytest.raises(IndexError, match="Target 7 is out of bounds"):
        F.nll_loss(logp, ember.tensor([0, 7, 1]))
    with pytest.raises(ValueError, match=r"Expected input batch_size \(3\) to match target batch_size \(2\)"):
        F.nll_loss(logp, ember.tensor([0, 1]))
    with pytest.raises(RuntimeError, match="expected scalar type Long"):
        F.nll_loss(logp, ember.tensor([0.0, 1.0, 2.0]))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_losses(reduction, dtype):
    probs, target = pair((4, 3), dtype, low=0.02, high=0.98), pair((4, 3), dtype, low=0, high=1, seed=1)
    weight = Fixed(pair((3,), dtype, low=0.5, high=2, seed=2))
    # The gradient formulas are equal but not written alike ((x - t) / (x (1 - x)) against -t/x + (1-t)/(1-x)).
    tol = 1e-8 if dtype is ember.float64 else 1e-5
    check(F.binary_cross_entropy, TF.binary_cross_entropy, probs, target, reduction=reduction, tol=tol)
    check(F.binary_cross_entropy, TF.binary_cross_entropy, probs, target, weight, reduction=reduction, tol=tol)
    logits = pair((4, 3), dtype, low=-30, high=30, seed=3)
    pos = Fixed(pair((3,), dtype, low=0.5, high=3, seed=4))
    check(F.binary_cross_entropy_with_logits, TF.binary_cross_entropy_with_logits, logits, target,
          reduction=reduction)
    check(F.binary_cross_entropy_with_logits, TF.binary_cross_entropy_with_logits, logits, target, weight,
          reduction=reduction, pos_weight=pos)
    with pytest.raises(ValueError, match="different to the input size"):
        F.binary_cross_entropy(probs[0], target[0][0])
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        F.binary_cross_entropy(probs[0] + 1, target[0])


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides")
@pytest.mark.parametrize("reduction", ["mean", "sum", "none", "batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div(reduction, log_target):
    logp = pair((3, 4), ember.float64, low=-4, high=0)
    target = pair((3, 4), ember.float64, low=0, high=1, seed=1) if not log_target else \
        pair((3, 4), ember.float64, low=-3, high=0, seed=1)
    check(F.kl_div, TF.kl_div, logp, target, reduction=reduction, log_target=log_target)
    if not log_target:
        # A zero target contributes 0 (0 * log 0 counts as 0); torch's target gradient there is NaN, so only
        # the input's gradient is compared.
        target[0][0, 0], target[1][0, 0] = 0.0, 0.0
        check(F.kl_div, TF.kl_div, logp, Fixed(target), reduction=reduction, log_target=log_target)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_margin_and_embedding_losses(reduction):
    x1, x2 = pair((5, 4), ember.float64), pair((5, 4), ember.float64, seed=1)
    sign = (ember.tensor([1.0, -1.0, 1.0, -1.0, -1.0], dtype=ember.float64),
            torch.tensor([1.0, -1.0, 1.0, -1.0, -1.0], dtype=torch.float64))
    sign2d = pair((5, 4), ember.float64, seed=2)
    sign2d = Fixed((sign2d[0].sign(), sign2d[1].sign()))
    check(F.margin_ranking_loss, TF.margin_ranking_loss, x1, x2, sign2d, margin=0.3, reduction=reduction)
    check(F.hinge_embedding_loss, TF.hinge_embedding_loss, x1, sign2d, margin=0.5, reduction=reduction)
    check(F.soft_margin_loss, TF.soft_margin_loss, x1, sign2d, reduction=reduction)
    labels = pair((5, 4), ember.float64, low=0, high=1, seed=3)
    check(F.multilabel_soft_margin_loss, TF.multilabel_soft_margin_loss, x1, Fixed(labels), reduction=reduction)
    check(F.multilabel_soft_margin_loss, TF.multilabel_soft_margin_loss, x1, Fixed(labels),
          Fixed(pair((4,), ember.float64, seed=4, low=0.5, high=2)), reduction=reduction)
    classes = pair((5,), ember.int64, low=0, high=3, seed=5)
    for p in (1, 2):
        check(F.multi_margin_loss, TF.multi_margin_loss, x1, classes, p=p, margin=0.7, reduction=reduction)
    check(F.multi_margin_loss, TF.multi_margin_loss, x1, classes,
          weight=Fixed(pair((4,), ember.float64, seed=6, low=0.5, high=2)), reduction=reduction)
    check(F.cosine_embedding_loss, TF.cosine_embedding_loss, x1, x2, Fixed(sign), margin=0.2, reduction=reduction)
    x3 = pair((5, 4), ember.float64, seed=7)
    for swap in (False, True):
        check(F.triplet_margin_loss, TF.triplet_margin_loss, x1, x2, x3, margin=2.0, swap=swap, reduction=reduction)
    check(F.triplet_margin_loss, TF.triplet_margin_loss, x1, x2, x3, p=1, reduction=reduction)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_likelihood_losses(reduction):
    x = pair((3, 4), ember.float64, low=0.1, high=3)
    counts = Fixed(pair((3, 4), ember.float64, low=0, high=6, seed=1))
    for log_input in (True, False):
        for full in (False, True):
            check(F.poisson_nll_loss, TF.poisson_nll_loss, x, counts, log_input=log_input, full=full,
                  reduction=reduction)
    mean, target = pair((3, 4), ember.float64, seed=2), pair((3, 4), ember.float64, seed=3)
    var = pair((3, 4), ember.float64, low=0.0, high=2, seed=4)
    var[0][0, 0], var[1][0, 0] = 1e-9, 1e-9
    check(F.gaussian_nll_loss, TF.gaussian_nll_loss, mean, target, var, reduction=reduction)
    check(F.gaussian_nll_loss, TF.gaussian_nll_loss, mean, target, pair((3, 1), ember.float64, low=0.5, high=2),
          full=True, reduction=reduction)
    check(F.gaussian_nll_loss, TF.gaussian_nll_loss, mean, target, pair((3,), ember.float64, low=0.5, high=2),
          reduction=reduction)
    with pytest.raises(ValueError, match="var has negative entry"):
        F.gaussian_nll_loss(mean[0], target[0], -ember.ones(3, 4, dtype=ember.float64))
    with pytest.raises(ValueError, match="var is of incorrect size"):
        F.gaussian_nll_loss(mean[0], target[0], ember.ones(2, dtype=ember.float64))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_multilabel_margin_loss(reduction):
    x = pair((3, 5), ember.float64)
    target = (ember.tensor([[3, 0, -1, 1, 1], [1, 2, 4, 3, 0], [-1, 2, 0, 0, 0]]),
              torch.tensor([[3, 0, -1, 1, 1], [1, 2, 4, 3, 0], [-1, 2, 0, 0, 0]]))
    check(F.multilabel_margin_loss, TF.multilabel_margin_loss, x, target, reduction=reduction)
    check(F.multilabel_margin_loss, TF.multilabel_margin_loss, pair((5,), ember.float64),
          (ember.tensor([2, 2, -1, 0, 0]), torch.tensor([2, 2, -1, 0, 0])), reduction=reduction)


def _ctc_args(concatenated: bool):
    targets = np.array([[2, 2, 3, 1], [1, 4, 4, 2], [3, 1, 2, 4]])
    target_lengths = np.array([4, 0, 3])
    if concatenated:
        targets = np.concatenate([targets[n, :target_lengths[n]] for n in range(3)])
    return ((ember.tensor(targets), torch.tensor(targets)), (ember.tensor([12, 9, 5]), torch.tensor([12, 9, 5])),
            (ember.tensor(target_lengths), torch.tensor(target_lengths)))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("concatenated", [False, True])
def test_ctc_loss(reduction, concatenated):
    # Through log_softmax, as CTC is used: torch's own gradient is only meant for normalised log-probabilities.
    logits = pair((12, 3, 5), ember.float64)
    targets, input_lengths, target_lengths = _ctc_args(concatenated)
    check(lambda x, *a, **k: F.ctc_loss(F.log_softmax(x, 2), *a, **k),
          lambda x, *a, **k: TF.ctc_loss(TF.log_softmax(x, 2), *a, **k),
          logits, targets, input_lengths, target_lengths, reduction=reduction)
    check(lambda x, *a, **k: F.ctc_loss(F.log_softmax(x, 1), *a, **k),
          lambda x, *a, **k: TF.ctc_loss(TF.log_softmax(x, 1), *a, **k),
          pair((7, 5), ember.float64), (ember.tensor([1, 3, 3]), torch.tensor([1, 3, 3])), (7,), (3,),
          reduction=reduction)


def test_ctc_loss_impossible_alignment():
    logits = pair((12, 3, 5), ember.float64)
    targets, _, target_lengths = _ctc_args(False)
    short = (ember.tensor([2, 9, 5]), torch.tensor([2, 9, 5]))
    e_loss = F.ctc_loss(F.log_softmax(logits[0], 2), targets[0], short[0], target_lengths[0], reduction="none")
    assert_close(e_loss, TF.ctc_loss(TF.log_softmax(logits[1], 2), targets[1], short[1], target_lengths[1],
                                     reduction="none"))
    assert np.isinf(e_loss.numpy()[0])
    check(lambda x, *a, **k: F.ctc_loss(F.log_softmax(x, 2), *a, **k),
          lambda x, *a, **k: TF.ctc_loss(TF.log_softmax(x, 2), *a, **k),
          logits, targets, short, target_lengths, zero_infinity=True)
