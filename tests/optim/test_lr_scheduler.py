"""Learning-rate schedules against torch.optim.lr_scheduler: the same lr sequence over 30 steps."""

from __future__ import annotations

import copy
import math
import warnings

import numpy as np
import pytest

import ember
import ember.optim as eoptim
from ember.optim import lr_scheduler as els
from tests.oracle import torch

tls = torch.optim.lr_scheduler
STEPS = 30


def _optimizers(name: str = "SGD", **kwargs):
    """Matching ember and torch optimizers over two param groups with different learning rates."""
    pe = [
        ember.zeros(2, dtype=ember.float64, requires_grad=True),
        ember.zeros(3, dtype=ember.float64, requires_grad=True),
    ]
    pt = [
        torch.zeros(2, dtype=torch.float64, requires_grad=True),
        torch.zeros(3, dtype=torch.float64, requires_grad=True),
    ]
    opt_e = getattr(eoptim, name)([{"params": pe[:1]}, {"params": pe[1:], "lr": 0.05}], lr=0.1, **kwargs)
    opt_t = getattr(torch.optim, name)([{"params": pt[:1]}, {"params": pt[1:], "lr": 0.05}], lr=0.1, **kwargs)
    return opt_e, opt_t


def _seq(opt, sched, steps: int = STEPS, metrics=None):
    """Run ``steps`` epochs (optimizer step then scheduler step) and record lrs (and momenta/betas)."""
    out = [(sched.get_last_lr(), [g["lr"] for g in opt.param_groups])]
    for i in range(steps):
        opt.step()
        if metrics is None:
            sched.step()
        else:
            sched.step(metrics[i])
        out.append((list(sched.get_last_lr()), [g["lr"] for g in opt.param_groups]))
        out.append([g.get("momentum", g.get("betas")) for g in opt.param_groups])
    return out


def _assert_same(a, b):
    np.testing.assert_allclose(np.array(_flatten(a), dtype=float), np.array(_flatten(b), dtype=float), rtol=1e-13)


def _flatten(x):
    if isinstance(x, (list, tuple)):
        return [v for item in x for v in _flatten(item)]
    return [x]


SCHEDULERS = [
    ("StepLR", {"step_size": 7}),
    ("StepLR", {"step_size": 3, "gamma": 0.5}),
    ("MultiStepLR", {"milestones": [4, 10, 10, 22], "gamma": 0.3}),
    ("ExponentialLR", {"gamma": 0.9}),
    ("CosineAnnealingLR", {"T_max": 10}),
    ("CosineAnnealingLR", {"T_max": 7, "eta_min": 0.01}),
    ("LambdaLR", {"lr_lambda": lambda epoch: 0.95**epoch / (1 + epoch % 3)}),
    ("LinearLR", {}),
    ("LinearLR", {"start_factor": 0.2, "end_factor": 0.6, "total_iters": 12}),
    ("OneCycleLR", {"max_lr": 0.5, "total_steps": STEPS}),
    ("OneCycleLR", {"max_lr": [0.5, 0.2], "epochs": 3, "steps_per_epoch": 10, "anneal_strategy": "linear"}),
    ("OneCycleLR", {"max_lr": 0.5, "total_steps": 40, "three_phase": True, "pct_start": 0.25}),
]


@pytest.mark.parametrize("name,kwargs", SCHEDULERS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(SCHEDULERS)])
@pytest.mark.parametrize("optimizer", ["SGD", "Adam"])
def test_schedule_matches_torch(name, kwargs, optimizer):
    opt_kwargs = {"momentum": 0.9} if optimizer == "SGD" else {}
    opt_e, opt_t = _optimizers(optimizer, **opt_kwargs)
    sched_e = getattr(els, name)(opt_e, **kwargs)
    sched_t = getattr(tls, name)(opt_t, **kwargs)
    _assert_same(_seq(opt_e, sched_e), _seq(opt_t, sched_t))
    assert sorted(opt_e.param_groups[0]) == sorted(opt_t.param_groups[0])


def test_lambda_lr_one_function_per_group():
    fns = [lambda e: 1 / (e + 1), lambda e: 0.9**e]
    opt_e, opt_t = _optimizers()
    _assert_same(_seq(opt_e, els.LambdaLR(opt_e, fns)), _seq(opt_t, tls.LambdaLR(opt_t, fns)))
    with pytest.raises(ValueError, match="Expected 2 lr_lambdas, but got 1"):
        els.LambdaLR(opt_e, [fns[0]])


@pytest.mark.parametrize(
    "kwargs,metrics",
    [
        ({}, [1.0] * STEPS),
        ({"patience": 2, "factor": 0.5}, [5 - 0.1 * i if i % 4 == 0 else 5.0 for i in range(STEPS)]),
        ({"mode": "max", "patience": 1, "cooldown": 2, "min_lr": [0.01, 0.02]}, [math.sin(i) for i in range(STEPS)]),
        (
            {"threshold_mode": "abs", "threshold": 0.5, "patience": 0, "min_lr": 1e-3},
            [10 - 0.3 * i for i in range(STEPS)],
        ),
    ],
)
def test_reduce_lr_on_plateau(kwargs, metrics):
    opt_e, opt_t = _optimizers()
    sched_e = els.ReduceLROnPlateau(opt_e, **kwargs)
    sched_t = tls.ReduceLROnPlateau(opt_t, **kwargs)
    _assert_same(_seq(opt_e, sched_e, metrics=metrics), _seq(opt_t, sched_t, metrics=metrics))
    assert sched_e.num_bad_epochs == sched_t.num_bad_epochs and sched_e.best == sched_t.best


def _sequential(mod, opt, kind: int):
    if kind == 0:
        parts = [mod.LinearLR(opt, start_factor=0.1, total_iters=5), mod.CosineAnnealingLR(opt, T_max=20)]
        return mod.SequentialLR(opt, parts, milestones=[5])
    parts = [mod.ExponentialLR(opt, gamma=0.9), mod.StepLR(opt, step_size=4), mod.MultiStepLR(opt, [3, 6])]
    return mod.SequentialLR(opt, parts, milestones=[8, 20])


@pytest.mark.parametrize("kind", [0, 1])
def test_sequential_lr(kind):
    opt_e, opt_t = _optimizers()
    _assert_same(_seq(opt_e, _sequential(els, opt_e, kind)), _seq(opt_t, _sequential(tls, opt_t, kind)))


@pytest.mark.parametrize(
    "make",
    [
        lambda m, o: m.StepLR(o, step_size=4, gamma=0.5),
        lambda m, o: m.CosineAnnealingLR(o, T_max=8),
        lambda m, o: m.OneCycleLR(o, max_lr=0.4, total_steps=STEPS),
        lambda m, o: _sequential(m, o, 0),
    ],
)
def test_scheduler_state_dict_round_trip(make):
    opt_t = _optimizers()[1]
    expected = _seq(opt_t, make(tls, opt_t))[-2:]
    opt_e = _optimizers()[0]
    sched = make(els, opt_e)
    _seq(opt_e, sched, steps=STEPS // 2)
    saved_sched, saved_opt = copy.deepcopy(sched.state_dict()), copy.deepcopy(opt_e.state_dict())
    assert "optimizer" not in saved_sched
    opt2 = _optimizers()[0]
    sched2 = make(els, opt2)
    sched2.load_state_dict(saved_sched)
    opt2.load_state_dict(saved_opt)
    assert sched2.last_epoch == sched.last_epoch
    _assert_same(_seq(opt2, sched2, steps=STEPS - STEPS // 2)[-2:], expected)


def test_reduce_lr_on_plateau_state_dict_round_trip():
    opt_e = _optimizers()[0]
    sched = els.ReduceLROnPlateau(opt_e, patience=1)
    for m in [3.0, 2.0, 2.0, 2.0]:
        sched.step(m)
    state = copy.deepcopy(sched.state_dict())
    other = els.ReduceLROnPlateau(_optimizers()[0], mode="max")
    other.load_state_dict(state)
    assert (other.mode, other.best, other.num_bad_epochs, other.mode_worse) == ("min", 2.0, 0, math.inf)


def test_get_last_lr_and_last_epoch():
    opt_e, _ = _optimizers()
    sched = els.StepLR(opt_e, step_size=2)
    assert sched.last_epoch == 0 and sched.get_last_lr() == [0.1, 0.05]
    assert [g["initial_lr"] for g in opt_e.param_groups] == [0.1, 0.05]
    for _ in range(2):
        opt_e.step()
        sched.step()
    assert sched.last_epoch == 2
    np.testing.assert_allclose(sched.get_last_lr(), [0.01, 0.005], rtol=1e-15)


def test_step_with_epoch_uses_closed_form_and_warns():
    opt_e, opt_t = _optimizers()
    sched_e, sched_t = els.CosineAnnealingLR(opt_e, T_max=10), tls.CosineAnnealingLR(opt_t, T_max=10)
    opt_e.step()
    opt_t.step()
    with pytest.warns(UserWarning, match="The epoch parameter in `scheduler.step\\(\\)` was not necessary"):
        sched_e.step(7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sched_t.step(7)
    _assert_same(sched_e.get_last_lr(), sched_t.get_last_lr())


def test_warns_when_scheduler_steps_before_optimizer():
    opt_e, _ = _optimizers()
    sched = els.ExponentialLR(opt_e, gamma=0.5)
    with pytest.warns(UserWarning, match="Detected call of `lr_scheduler.step\\(\\)` before `optimizer.step\\(\\)`"):
        sched.step()
    opt2, _ = _optimizers()
    sched2 = els.ExponentialLR(opt2, gamma=0.5)
    opt2.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sched2.step()


def test_get_lr_outside_step_warns():
    opt_e, _ = _optimizers()
    sched = els.StepLR(opt_e, step_size=2)
    with pytest.warns(UserWarning, match="please use `get_last_lr\\(\\)`"):
        sched.get_lr()


def test_scheduler_errors_match_torch():
    opt_e, opt_t = _optimizers()
    cases = [
        (lambda m, o: m.StepLR(object(), 3), TypeError, "object is not an Optimizer"),
        (lambda m, o: m.StepLR(o, 3, last_epoch=4), KeyError, "param 'initial_lr' is not specified"),
        (lambda m, o: m.LinearLR(o, start_factor=0), ValueError, "Starting multiplicative factor"),
        (lambda m, o: m.LinearLR(o, end_factor=2), ValueError, "Ending multiplicative factor"),
        (lambda m, o: m.ReduceLROnPlateau(o, factor=1.0), ValueError, "Factor should be < 1.0."),
        (lambda m, o: m.ReduceLROnPlateau(o, mode="mid"), ValueError, "mode mid is unknown!"),
        (lambda m, o: m.ReduceLROnPlateau(o, min_lr=[0.1]), ValueError, "expected 2 min_lrs, got 1"),
        (lambda m, o: m.OneCycleLR(o, 0.1), ValueError, "You must define either total_steps OR"),
        (lambda m, o: m.OneCycleLR(o, 0.1, total_steps=0), ValueError, "Expected positive integer total_steps"),
        (lambda m, o: m.OneCycleLR(o, 0.1, 10, pct_start=2.0), ValueError, "Expected float between 0 and 1"),
        (lambda m, o: m.OneCycleLR(o, [0.1], 10), ValueError, "max_lr must have the same length"),
        (lambda m, o: m.SequentialLR(o, [], []), ValueError, "expects at least one scheduler"),
        (lambda m, o: m.SequentialLR(o, [m.StepLR(o, 2)], [3]), ValueError, "number of milestones"),
        (lambda m, o: m.SequentialLR(o, [m.ReduceLROnPlateau(o)], []), ValueError, "does not support"),
    ]
    for make, error, message in cases:
        with pytest.raises(error, match=message):
            make(els, opt_e)
        with pytest.raises(error, match=message):
            make(tls, opt_t)


def test_one_cycle_rejects_optimizer_without_momentum_and_stepping_past_the_end():
    p = ember.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="optimizer must support momentum or beta1"):
        els.OneCycleLR(eoptim.Adagrad([p]), max_lr=0.1, total_steps=5)
    opt_e, _ = _optimizers()
    sched = els.OneCycleLR(opt_e, max_lr=0.1, total_steps=2)
    opt_e.step()
    sched.step()
    sched.step()
    with pytest.raises(ValueError, match="Tried to step 3 times. The specified number of total steps is 2"):
        sched.step()
