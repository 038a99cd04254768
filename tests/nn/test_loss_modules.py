"""ember.nn loss layers against torch.nn: reprs, state_dict keys (weight buffers), outputs and gradients of every
float input in float32 and float64 for each reduction, the legacy size_average/reduce arguments, and errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import ember
import ember.nn as nn
from tests.nn.functional_check import FLOATS, Fixed, check
from tests.nn.layer_check import check_layer
from tests.oracle import as_float64, assert_close, pair, torch


def both(name, **kwargs):
    """The loss ``name`` built in both libraries; (ember, torch) pairs among the kwargs are split between them."""
    def pick(i):
        return {k: v[i] if isinstance(v, tuple) else v for k, v in kwargs.items()}
    return getattr(nn, name)(**pick(0)), getattr(torch.nn, name)(**pick(1))


def labels(shape, classes, seed=0, low=0):
    values = np.random.default_rng(seed).integers(low, classes, size=shape)
    return Fixed((ember.tensor(values), torch.tensor(values)))


def signs(shape, dtype, seed=0):
    """+-1 targets, passed without gradient."""
    values = np.where(np.random.default_rng(seed).random(shape) < 0.5, -1.0, 1.0).astype(dtype.np_dtype)
    return Fixed((ember.tensor(values), torch.tensor(values)))


def probabilities(shape, dtype, seed=0, dim=-1):
    e, t = pair(shape, dtype, seed=seed)
    return ember.softmax(e, dim), torch.softmax(t, dim)


def cases(dtype):
    """(loss name, constructor kwargs, forward args): every loss with its arguments, inputs of ``dtype``."""
    x, y = pair((4, 5), dtype, seed=1), pair((4, 5), dtype, seed=2)
    w5 = pair((5,), dtype, seed=3, low=0.2, high=2)
    logits = pair((6, 5), dtype, seed=4)
    target = Fixed(labels((6,), 5, seed=5))
    log_probs = ember.log_softmax(logits[0], 1), torch.log_softmax(logits[1], 1)
    inside = pair((4, 5), dtype, seed=6, low=0.05, high=0.95)
    unit = pair((4, 5), dtype, seed=7, low=0, high=1)
    positive = pair((4, 5), dtype, seed=8, low=0.1, high=3)
    vectors = [pair((4, 6), dtype, seed=s) for s in (9, 10, 11)]
    # Non-negative, on both sides of 1 where the Stirling term switches on (torch's target gradient is NaN
    # for the negative targets that no Poisson count has).
    counts = pair((4, 5), dtype, seed=18, low=0, high=4)
    return [
        ("MSELoss", {}, (x, y)), ("L1Loss", {}, (x, y)), ("SmoothL1Loss", {}, (x, y)),
        ("SmoothL1Loss", {"beta": 0.5}, (x, y)), ("HuberLoss", {"delta": 0.7}, (x, y)),
        ("CrossEntropyLoss", {}, (logits, target)), ("CrossEntropyLoss", {"weight": w5}, (logits, target)),
        ("CrossEntropyLoss", {"ignore_index": 2, "label_smoothing": 0.1}, (logits, target)),
        ("CrossEntropyLoss", {"weight": w5, "label_smoothing": 0.2}, (logits, target)),
        ("CrossEntropyLoss", {}, (pair((3, 5, 2, 2), dtype, seed=12), labels((3, 2, 2), 5, seed=13))),
        ("CrossEntropyLoss", {"label_smoothing": 0.1}, (logits, probabilities((6, 5), dtype, seed=14))),
        ("NLLLoss", {}, (log_probs, target)), ("NLLLoss", {"weight": w5, "ignore_index": 1}, (log_probs, target)),
        ("BCELoss", {}, (inside, unit)), ("BCELoss", {"weight": w5}, (inside, unit)),
        ("BCEWithLogitsLoss", {}, (x, unit)),
        ("BCEWithLogitsLoss", {"weight": w5, "pos_weight": pair((5,), dtype, seed=15, low=0.5, high=3)}, (x, unit)),
        ("KLDivLoss", {"reduction": "batchmean"}, (log_probs, probabilities((6, 5), dtype, seed=16))),
        ("KLDivLoss", {"log_target": True}, (log_probs, pair((6, 5), dtype, seed=17))),
        ("PoissonNLLLoss", {}, (x, positive)),
        ("PoissonNLLLoss", {"log_input": False, "full": True}, (positive, counts)),
        ("GaussianNLLLoss", {}, (x, y, positive)), ("GaussianNLLLoss", {"full": True, "eps": 0.5}, (x, y, positive)),
        ("MarginRankingLoss", {"margin": 0.2}, (x, y, signs((4, 5), dtype))),
        ("HingeEmbeddingLoss", {"margin": 0.5}, (x, signs((4, 5), dtype, seed=1))),
        ("SoftMarginLoss", {}, (x, signs((4, 5), dtype, seed=2))),
        ("MultiLabelSoftMarginLoss", {"weight": w5}, (x, Fixed(unit))),
        ("CosineEmbeddingLoss", {"margin": 0.1}, (vectors[0], vectors[1], signs((4,), dtype, seed=3))),
        ("MultiMarginLoss", {}, (logits, target)),
        ("MultiMarginLoss", {"p": 2, "margin": 0.5, "weight": w5}, (logits, target)),
        ("MultiLabelMarginLoss", {}, (x, Fixed((ember.tensor([[3, 0, -1, 1, 2]] * 4),
                                                 torch.tensor([[3, 0, -1, 1, 2]] * 4))))),
        ("TripletMarginLoss", {}, tuple(vectors)),
        ("TripletMarginLoss", {"margin": 0.5, "p": 1, "swap": True}, tuple(vectors)),
    ]


def _ids(case):
    name, kwargs, _ = case
    return name + "-" + "-".join(f"{k}" for k in kwargs)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("index", range(len(cases(ember.float64))),
                         ids=[_ids(c) for c in cases(ember.float64)])
def test_loss_matches_torch(index, dtype, reduction):
    name, kwargs, args = cases(dtype)[index]
    if kwargs.get("reduction") == "batchmean":
        reduction = "batchmean"
    e_mod, t_mod = both(name, **{**kwargs, "reduction": reduction})
    with warnings.catch_warnings():
        # KLDivLoss warns that 'mean' is not the KL divergence, in both libraries.
        warnings.simplefilter("ignore")
        check_layer(e_mod, t_mod, *args)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_ctc_loss(reduction, dtype):
    e_mod, t_mod = both("CTCLoss", blank=0, reduction=reduction)
    assert repr(e_mod) == repr(t_mod)
    logits = pair((7, 2, 4), dtype, seed=3)
    targets, in_len, tgt_len = labels((2, 3), 4, seed=4, low=1), [7, 6], [3, 2]
    lengths = [Fixed((ember.tensor(v), torch.tensor(v))) for v in (in_len, tgt_len)]
    # Through log_softmax, the way CTC is used (ember's gradient matches torch's from there on).
    check(lambda x, t, i, n: e_mod(x.log_softmax(2), t, i, n), lambda x, t, i, n: t_mod(x.log_softmax(2), t, i, n),
          logits, targets, *lengths)
    assert nn.CTCLoss(blank=3, zero_infinity=True).zero_infinity and nn.CTCLoss(blank=3).blank == 3


def test_weight_buffers_and_state_dict():
    w = torch.tensor([1.0, 2.0, 0.5])
    e_mod = nn.CrossEntropyLoss(weight=ember.tensor([1.0, 2.0, 0.5]))
    t_mod = torch.nn.CrossEntropyLoss(weight=w)
    assert list(e_mod.state_dict()) == list(t_mod.state_dict()) == ["weight"]
    assert list(dict(e_mod.named_buffers())) == ["weight"] and list(e_mod.parameters()) == []
    assert nn.CrossEntropyLoss().state_dict() == {} and nn.CrossEntropyLoss().weight is None
    e_bce, t_bce = both("BCEWithLogitsLoss", weight=(ember.ones(3), torch.ones(3)),
                        pos_weight=(ember.ones(3), torch.ones(3)))
    assert list(e_bce.state_dict()) == list(t_bce.state_dict()) == ["weight", "pos_weight"]
    assert list(nn.BCEWithLogitsLoss(pos_weight=ember.ones(3)).state_dict()) == ["pos_weight"]
    assert list(nn.NLLLoss(ember.ones(3)).state_dict()) == ["weight"]
    # Buffers follow the module's dtype conversion.
    assert e_mod.double().weight.dtype is ember.float64
    e_mod.load_state_dict({"weight": ember.tensor([3.0, 3.0, 3.0])}, strict=True)
    assert e_mod.weight.tolist() == [3.0, 3.0, 3.0]


def test_reprs_and_attributes():
    for name in ["L1Loss", "MSELoss", "CrossEntropyLoss", "NLLLoss", "BCELoss", "BCEWithLogitsLoss", "KLDivLoss",
                 "HuberLoss", "SmoothL1Loss", "CTCLoss", "TripletMarginLoss", "MultiMarginLoss", "GaussianNLLLoss"]:
        e_mod, t_mod = getattr(nn, name)(), getattr(torch.nn, name)()
        assert repr(e_mod) == repr(t_mod) == f"{name}()"
        assert e_mod.reduction == t_mod.reduction == "mean"
        assert isinstance(e_mod, nn.Module)
    e_mod, t_mod = both("CrossEntropyLoss", ignore_index=3, label_smoothing=0.2, reduction="sum")
    for attr in ("ignore_index", "label_smoothing", "reduction"):
        assert getattr(e_mod, attr) == getattr(t_mod, attr)
    for name, attrs in [("TripletMarginLoss", ("margin", "p", "eps", "swap")), ("HuberLoss", ("delta",)),
                        ("SmoothL1Loss", ("beta",)), ("KLDivLoss", ("log_target",)),
                        ("MultiMarginLoss", ("p", "margin")), ("PoissonNLLLoss", ("log_input", "full", "eps")),
                        ("MarginRankingLoss", ("margin",)), ("HingeEmbeddingLoss", ("margin",)),
                        ("CosineEmbeddingLoss", ("margin",)), ("GaussianNLLLoss", ("full", "eps"))]:
        e_mod, t_mod = getattr(nn, name)(), getattr(torch.nn, name)()
        for attr in attrs:
            assert getattr(e_mod, attr) == getattr(t_mod, attr), (name, attr)


@pytest.mark.parametrize("size_average,reduce", [(False, None), (None, False), (True, True), (False, True)])
def test_legacy_reduction_arguments(size_average, reduce):
    with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
        e_mod = nn.MSELoss(size_average, reduce)
    with pytest.warns(UserWarning):
        t_mod = torch.nn.MSELoss(size_average, reduce)
    assert e_mod.reduction == t_mod.reduction
    with pytest.warns(UserWarning):
        e_weighted = nn.NLLLoss(None, size_average, -100, reduce)
    assert e_weighted.reduction == t_mod.reduction
    x, y = pair((3, 4), ember.float64), pair((3, 4), ember.float64, seed=1)
    assert_close(e_mod(x[0], y[0]), t_mod(x[1], y[1]))


def test_nll_loss_2d_is_deprecated():
    with pytest.warns(FutureWarning, match="`NLLLoss2d` has been deprecated"):
        layer = nn.NLLLoss2d(ignore_index=0)
    assert isinstance(layer, nn.NLLLoss) and layer.ignore_index == 0


def test_ignore_index_excluded_from_mean():
    layer = nn.CrossEntropyLoss(ignore_index=1)
    logits = ember.tensor([[0.0, 5.0], [1.0, 1.0]])
    expected = as_float64(-ember.log_softmax(logits, 1))[1, 0]
    assert layer(logits, ember.tensor([1, 0])).item() == pytest.approx(expected)


def test_constructor_errors():
    with pytest.raises(TypeError, match="delta must be a float or int, got: <class 'str'>"):
        nn.HuberLoss(delta="1")
    with pytest.raises(ValueError, match="only p == 1 and p == 2 supported"):
        nn.MultiMarginLoss(p=3)
    with pytest.raises(ValueError, match="MultiMarginLoss: expected weight to be None or 1D tensor, got 2D instead"):
        nn.MultiMarginLoss(weight=ember.ones(2, 2))
    with pytest.raises(ValueError, match="TripletMarginLoss: expected margin to be greater than 0, got 0 instead"):
        nn.TripletMarginLoss(margin=0)
    with pytest.raises(ValueError, match="is not a valid value for reduction"):
        nn.MSELoss(reduction="avg")(ember.ones(2), ember.ones(2))


def test_forward_errors():
    with pytest.raises(ValueError, match="Target size .* must be the same as input size"):
        nn.BCEWithLogitsLoss()(ember.ones(2, 3), ember.ones(3))
    with pytest.raises(IndexError, match="Target 7 is out of bounds"):
        nn.CrossEntropyLoss()(ember.ones(2, 3), ember.tensor([0, 7]))
    with pytest.raises(RuntimeError, match="label_smoothing must be between 0.0 and 1.0. Got: 1.5"):
        nn.CrossEntropyLoss(label_smoothing=1.5)(ember.ones(2, 3), ember.tensor([0, 1]))
    with pytest.raises(RuntimeError, match="all elements of input should be between 0 and 1"):
        nn.BCELoss()(ember.full((2,), 2.0), ember.ones(2))
    with pytest.raises(ValueError, match="var has negative entry/entries"):
        nn.GaussianNLLLoss()(ember.ones(2), ember.ones(2), -ember.ones(2))
