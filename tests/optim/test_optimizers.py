"""Optimizer trajectories, state and state_dict against torch.optim (float64, same gradients each step)."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest

import ember
import ember.optim as eoptim
from tests.oracle import from_torch, torch

SHAPES = [(3, 4), (5,), ()]
STEPS = 20


def _make_params(seed: int = 0):
    rng = np.random.default_rng(seed)
    arrays = [rng.uniform(-2, 2, size=s) for s in SHAPES]
    ember_params = [ember.tensor(a.copy(), dtype=ember.float64, requires_grad=True) for a in arrays]
    torch_params = [torch.tensor(a.copy(), dtype=torch.float64, requires_grad=True) for a in arrays]
    return ember_params, torch_params


def _grad(values: np.ndarray, step: int, index: int) -> np.ndarray:
    """A gradient that depends on the parameter and on the step, so state and updates interact."""
    rng = np.random.default_rng(1000 * step + index)
    return np.asarray(2 * values * (1 + index) + np.sin(values) + rng.uniform(-1, 1, size=values.shape))


def _set_ember_grads(ember_params, step: int) -> None:
    for i, p in enumerate(ember_params):
        p.grad = ember.tensor(_grad(np.array(p.detach().numpy()), step, i), dtype=ember.float64)


def _set_grads(ember_params, torch_params, step: int, skip: int | None = None) -> None:
    for i, (pe, pt) in enumerate(zip(ember_params, torch_params, strict=True)):
        if i == skip:
            pe.grad, pt.grad = None, None
            continue
        pe.grad = ember.tensor(_grad(np.array(pe.detach().numpy()), step, i), dtype=ember.float64)
        pt.grad = torch.tensor(_grad(pt.detach().numpy().copy(), step, i), dtype=torch.float64)


def _assert_params_equal(ember_params, torch_params) -> None:
    for pe, pt in zip(ember_params, torch_params, strict=True):
        np.testing.assert_allclose(np.array(pe.detach().numpy()), pt.detach().numpy(), rtol=1e-10, atol=1e-12)


def _assert_state_equal(ember_state: dict, torch_state: dict) -> None:
    assert sorted(ember_state) == sorted(torch_state)
    for k, per_param in torch_state.items():
        assert list(ember_state[k]) == list(per_param)
        for name, value in per_param.items():
            mine = ember_state[k][name]
            assert isinstance(mine, ember.Tensor)
            assert mine.dtype is from_torch(value).dtype
            np.testing.assert_allclose(np.array(mine.numpy()), value.numpy(), rtol=1e-10, atol=1e-12)


CASES = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.05, "momentum": 0.9}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.3}),
    ("SGD", {"lr": 0.05, "momentum": 0.8, "nesterov": True, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.05, "weight_decay": 0.1, "maximize": True}),
    ("Adam", {}),
    ("Adam", {"lr": 0.01, "betas": (0.8, 0.95), "amsgrad": True}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.1, "maximize": True}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True, "eps": 1e-3}),
    ("AdamW", {}),
    ("AdamW", {"lr": 0.02, "weight_decay": 0.2, "amsgrad": True}),
    ("AdamW", {"lr": 0.02, "maximize": True}),
    ("RMSprop", {}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.9, "alpha": 0.9}),
    ("RMSprop", {"lr": 0.01, "centered": True, "weight_decay": 0.05}),
    ("RMSprop", {"lr": 0.01, "centered": True, "momentum": 0.5, "maximize": True}),
    ("Adagrad", {}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01, "initial_accumulator_value": 0.5}),
    ("Adagrad", {"lr": 0.1, "weight_decay": 0.1, "eps": 1e-6, "maximize": True}),
]


def _case_id(case) -> str:
    name, kwargs = case
    return name + "-" + "-".join(f"{k}={v}" for k, v in kwargs.items())


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_trajectory_matches_torch(case):
    name, kwargs = case
    pe, pt = _make_params()
    opt_e = getattr(eoptim, name)(pe, **kwargs)
    opt_t = getattr(torch.optim, name)(pt, **kwargs)
    for step in range(STEPS):
        # The last parameter has no gradient on odd steps: it must be skipped, as torch skips it.
        _set_grads(pe, pt, step, skip=2 if step % 2 else None)
        opt_e.step()
        opt_t.step()
        _assert_params_equal(pe, pt)
    sd_e, sd_t = opt_e.state_dict(), opt_t.state_dict()
    assert sd_e["param_groups"] == sd_t["param_groups"]
    _assert_state_equal(sd_e["state"], sd_t["state"])


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_param_groups_with_different_options(name):
    pe, pt = _make_params(seed=3)
    extra = {"momentum": 0.5} if name in ("SGD", "RMSprop") else {}

    def groups(params):
        return [{"params": params[:2]}, {"params": params[2:], "lr": 0.3, "weight_decay": 0.1, **extra}]

    opt_e = getattr(eoptim, name)(groups(pe), lr=0.02)
    opt_t = getattr(torch.optim, name)(groups(pt), lr=0.02)
    for step in range(STEPS):
        _set_grads(pe, pt, step)
        opt_e.step()
        opt_t.step()
    _assert_params_equal(pe, pt)
    sd_e, sd_t = opt_e.state_dict(), opt_t.state_dict()
    assert sd_e["param_groups"] == sd_t["param_groups"]
    assert [g["params"] for g in sd_e["param_groups"]] == [[0, 1], [2]]
    _assert_state_equal(sd_e["state"], sd_t["state"])


@pytest.mark.parametrize("case", [CASES[1], CASES[6], CASES[11], CASES[15], CASES[17]], ids=_case_id)
def test_state_dict_round_trip_continues_the_same_run(case):
    name, kwargs = case
    pe, pt = _make_params(seed=5)
    opt_t = getattr(torch.optim, name)(pt, **kwargs)
    for step in range(STEPS):
        _set_grads(pe, pt, step)
        opt_t.step()
    # ``pe`` still holds the initial values (only torch stepped).

    # ember: run half, save (a deep copy, as writing to disk would), rebuild, load, run the other half.
    pe2 = [ember.tensor(np.array(p.detach().numpy()), requires_grad=True) for p in pe]
    opt_e = getattr(eoptim, name)(pe2, **kwargs)
    for step in range(STEPS // 2):
        _set_ember_grads(pe2, step)
        opt_e.step()
    saved = copy.deepcopy(opt_e.state_dict())
    resumed = getattr(eoptim, name)(pe2, lr=123.0)
    resumed.load_state_dict(saved)
    assert resumed.param_groups[0]["lr"] == opt_e.param_groups[0]["lr"]
    for step in range(STEPS // 2, STEPS):
        _set_ember_grads(pe2, step)
        resumed.step()
    _assert_params_equal(pe2, pt)


def test_load_state_dict_copies_and_does_not_alias_the_saved_state():
    pe, _ = _make_params()
    opt = eoptim.SGD(pe, lr=0.1, momentum=0.9)
    for p in pe:
        p.grad = ember.ones_like(p)
    opt.step()
    saved = opt.state_dict()
    other = eoptim.SGD(pe, lr=0.1, momentum=0.9)
    other.load_state_dict(saved)
    other.step()
    buf_saved = np.array(saved["state"][0]["momentum_buffer"].numpy())
    np.testing.assert_array_equal(buf_saved, np.ones(SHAPES[0]))
    assert other.state[pe[0]]["momentum_buffer"] is not saved["state"][0]["momentum_buffer"]


def test_load_torch_state_dict_converted_to_ember():
    pe, pt = _make_params(seed=7)
    kwargs = {"lr": 0.01, "amsgrad": True, "weight_decay": 0.01}
    opt_t = torch.optim.Adam(pt, **kwargs)
    for step in range(4):
        _set_grads(pe, pt, step)
        opt_t.step()
    sd = opt_t.state_dict()
    converted = {
        "state": {k: {n: from_torch(v) for n, v in s.items()} for k, s in sd["state"].items()},
        "param_groups": copy.deepcopy(sd["param_groups"]),
    }
    pe = [ember.tensor(p.detach().numpy().copy(), requires_grad=True) for p in pt]
    opt_e = eoptim.Adam(pe)
    opt_e.load_state_dict(converted)
    for step in range(4, STEPS):
        _set_grads(pe, pt, step)
        opt_e.step()
        opt_t.step()
    _assert_params_equal(pe, pt)


def test_load_state_dict_errors():
    pe, _ = _make_params()
    opt = eoptim.SGD(pe, lr=0.1)
    sd = opt.state_dict()
    two = eoptim.SGD([{"params": pe[:1]}, {"params": pe[1:]}], lr=0.1)
    with pytest.raises(ValueError, match="different number of parameter groups"):
        two.load_state_dict(sd)
    short = eoptim.SGD(pe[:2], lr=0.1)
    with pytest.raises(ValueError, match="doesn't match the size of optimizer's group"):
        short.load_state_dict(sd)


@pytest.mark.parametrize("set_to_none", [True, False])
def test_zero_grad(set_to_none):
    pe, _ = _make_params()
    opt = eoptim.Adam(pe)
    for p in pe:
        p.grad = ember.ones_like(p)
    opt.zero_grad(set_to_none=set_to_none)
    for p in pe:
        if set_to_none:
            assert p.grad is None
        else:
            np.testing.assert_array_equal(np.array(p.grad.numpy()), np.zeros(p.shape))


def test_zero_grad_default_sets_to_none():
    pe, _ = _make_params()
    for p in pe:
        p.grad = ember.ones_like(p)
    eoptim.SGD(pe).zero_grad()
    assert all(p.grad is None for p in pe)


def test_step_with_closure_returns_loss_and_records_grad():
    x = ember.tensor([1.0, -2.0], dtype=ember.float64, requires_grad=True)
    xt = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)
    opt_e, opt_t = eoptim.SGD([x], lr=0.1), torch.optim.SGD([xt], lr=0.1)

    def closure_e():
        opt_e.zero_grad()
        loss = (x * x).sum()
        loss.backward()
        return loss

    def closure_t():
        opt_t.zero_grad()
        loss = (xt * xt).sum()
        loss.backward()
        return loss

    with ember.no_grad():
        loss = opt_e.step(closure_e)
    assert float(loss.item()) == 5.0
    opt_t.step(closure_t)
    np.testing.assert_allclose(np.array(x.detach().numpy()), xt.detach().numpy(), rtol=1e-12)


def test_add_param_group_and_defaults():
    pe, pt = _make_params()
    opt_e, opt_t = eoptim.SGD(pe[:1], lr=0.1, momentum=0.9), torch.optim.SGD(pt[:1], lr=0.1, momentum=0.9)
    opt_e.add_param_group({"params": pe[1], "lr": 0.5})
    opt_t.add_param_group({"params": pt[1], "lr": 0.5})
    assert [{k: v for k, v in g.items() if k != "params"} for g in opt_e.param_groups] == [
        {k: v for k, v in g.items() if k != "params"} for g in opt_t.param_groups
    ]
    assert len(opt_e.param_groups[1]["params"]) == 1 and opt_e.param_groups[1]["params"][0] is pe[1]
    assert opt_e.defaults == opt_t.defaults
    with pytest.raises(ValueError, match="some parameters appear in more than one parameter group"):
        opt_e.add_param_group({"params": [pe[0]]})


def test_errors_match_torch():
    p = ember.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="optimizer got an empty parameter list"):
        eoptim.SGD([])
    with pytest.raises(TypeError, match="should be an iterable of Tensors or dicts"):
        eoptim.SGD(p)
    with pytest.raises(TypeError, match="ordered collections"):
        eoptim.SGD([{"params": {p}}])
    with pytest.raises(TypeError, match="optimizer can only optimize Tensors"):
        eoptim.SGD([p, 1.0])
    with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
        eoptim.SGD([p * 2])
    with pytest.raises(ValueError, match="some parameters appear in more than one parameter group"):
        eoptim.Adam([{"params": [p]}, {"params": [p]}])
    for cls, kwargs, message in [
        (eoptim.SGD, {"lr": -0.1}, "Invalid learning rate: -0.1"),
        (eoptim.SGD, {"momentum": -1}, "Invalid momentum value: -1"),
        (eoptim.SGD, {"weight_decay": -1}, "Invalid weight_decay value: -1"),
        (eoptim.SGD, {"nesterov": True}, "Nesterov momentum requires a momentum and zero dampening"),
        (eoptim.Adam, {"eps": -1}, "Invalid epsilon value: -1"),
        (eoptim.Adam, {"betas": (1.0, 0.9)}, "Invalid beta parameter at index 0: 1.0"),
        (eoptim.AdamW, {"betas": (0.9, -0.1)}, r"Invalid beta parameter at index 1: -0.1"),
        (eoptim.RMSprop, {"alpha": -1}, "Invalid alpha value: -1"),
        (eoptim.Adagrad, {"lr_decay": -1}, "Invalid lr_decay value: -1"),
        (eoptim.Adagrad, {"initial_accumulator_value": -1}, "Invalid initial_accumulator_value value: -1"),
    ]:
        with pytest.raises(ValueError, match=message):
            cls([p], **kwargs)
        with pytest.raises(ValueError, match=message):
            getattr(torch.optim, cls.__name__)([torch.zeros(2, requires_grad=True)], **kwargs)


def test_duplicate_parameters_in_a_group_warn():
    p = ember.zeros(2, requires_grad=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        eoptim.SGD([p, p], lr=0.1)
    assert any("duplicate parameters" in str(w.message) for w in caught)


def test_required_parameter_missing_in_group():
    p = ember.zeros(2, requires_grad=True)

    class Needs(eoptim.Optimizer):
        def __init__(self, params):
            from ember.optim.optimizer import required

            super().__init__(params, {"lr": required})

    with pytest.raises(ValueError, match="didn't specify a value of required optimization parameter lr"):
        Needs([p])
    assert Needs([{"params": [p], "lr": 0.1}]).param_groups[0]["lr"] == 0.1


def test_updates_are_in_place_and_not_recorded():
    pe, _ = _make_params()
    pointers = [p.data_ptr() for p in pe]
    versions = [p._version for p in pe]
    opt = eoptim.Adam(pe, lr=0.1)
    for p in pe:
        p.grad = ember.ones_like(p)
    opt.step()
    for p, ptr, version in zip(pe, pointers, versions, strict=True):
        assert p.is_leaf and p.requires_grad and p.grad_fn is None
        assert p.data_ptr() == ptr and p._version > version


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_float32_parameters_keep_their_dtype(name):
    rng = np.random.default_rng(11)
    arrays = [rng.uniform(-1, 1, size=(4, 3)).astype(np.float32)]
    pe = [ember.tensor(arrays[0].copy(), requires_grad=True)]
    pt = [torch.tensor(arrays[0].copy(), requires_grad=True)]
    kwargs = {"lr": 0.05, "momentum": 0.9} if name in ("SGD", "RMSprop") else {"lr": 0.05}
    opt_e, opt_t = getattr(eoptim, name)(pe, **kwargs), getattr(torch.optim, name)(pt, **kwargs)
    # float32 rounding differs in the last bit between libraries and RMSprop's momentum amplifies it, so the
    # float32 comparison stops at half the float64 trajectory length.
    for step in range(STEPS // 2):
        g = _grad(pt[0].detach().numpy().astype(np.float64), step, 0).astype(np.float32)
        pe[0].grad, pt[0].grad = ember.tensor(g.copy()), torch.tensor(g.copy())
        opt_e.step()
        opt_t.step()
    assert pe[0].dtype is ember.float32
    np.testing.assert_allclose(np.array(pe[0].detach().numpy()), pt[0].detach().numpy(), rtol=1e-5, atol=1e-6)
    for value in opt_e.state[pe[0]].values():
        assert value.dtype is ember.float32


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_differentiable_mode_is_refused(name):
    with pytest.raises(RuntimeError, match="differentiable=True"):
        getattr(eoptim, name)([ember.zeros(2, requires_grad=True)], differentiable=True)


def test_repr_matches_torch():
    pe, pt = _make_params()
    opt_e = eoptim.SGD([{"params": pe[:1]}, {"params": pe[1:], "lr": 0.5}], lr=0.1, momentum=0.9)
    opt_t = torch.optim.SGD([{"params": pt[:1]}, {"params": pt[1:], "lr": 0.5}], lr=0.1, momentum=0.9)
    assert repr(opt_e) == repr(opt_t)
