"""ember.nn normalisation layers against torch.nn: BatchNorm1d/2d/3d (train and eval, running statistics over
several steps, momentum None, no running statistics, no affine, state_dict keys and buffer dtypes, loading old
checkpoints, input checks) and LayerNorm, GroupNorm, RMSNorm, LocalResponseNorm (outputs, gradients, reprs,
default initialisation, errors), float32/float64."""

from __future__ import annotations

import pytest

import ember
import ember.nn as nn
from tests.nn.functional_check import FLOATS
from tests.nn.layer_check import check_layer, load_torch_state, randomize, torch_dtype
from tests.oracle import assert_close, pair, torch

BATCH_NORMS = [("BatchNorm1d", (4, 3)), ("BatchNorm1d", (4, 3, 5)), ("BatchNorm2d", (4, 3, 5, 4)),
               ("BatchNorm3d", (2, 3, 3, 4, 2))]
BN_OPTIONS = [{}, {"momentum": None}, {"momentum": 0.3, "eps": 1e-3}, {"affine": False}, {"bias": False},
              {"track_running_stats": False}, {"affine": False, "track_running_stats": False}]


def _bn_pair(name, kwargs, dtype):
    e_mod = getattr(nn, name)(3, **kwargs, dtype=dtype)
    t_mod = getattr(torch.nn, name)(3, **kwargs, dtype=torch_dtype(dtype))
    randomize(t_mod)
    return e_mod, t_mod


def _assert_same_state(e_mod, t_mod):
    e_state = e_mod.state_dict()
    assert list(e_state) == list(t_mod.state_dict())
    for key, value in t_mod.state_dict().items():
        assert_close(e_state[key], value)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("kwargs", BN_OPTIONS)
@pytest.mark.parametrize("name,shape", BATCH_NORMS)
def test_batch_norm_train_then_eval_matches_torch(name, shape, kwargs, dtype):
    e_mod, t_mod = _bn_pair(name, kwargs, dtype)
    # Step 1 loads torch's state and compares outputs and every gradient; steps 2-4 must keep the running
    # statistics and the batch count in step with torch's.
    check_layer(e_mod, t_mod, pair(shape, dtype, seed=1))
    for seed in range(2, 5):
        check_layer(e_mod, t_mod, pair(shape, dtype, seed=seed, low=-1, high=4))
        _assert_same_state(e_mod, t_mod)
    e_mod.eval()
    t_mod.eval()
    check_layer(e_mod, t_mod, pair(shape, dtype, seed=9))
    _assert_same_state(e_mod, t_mod)


def test_batch_norm_buffers_and_state_dict():
    bn, t_bn = nn.BatchNorm2d(5), torch.nn.BatchNorm2d(5)
    assert list(bn.state_dict()) == list(t_bn.state_dict()) == [
        "weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    assert bn.num_batches_tracked.dtype is ember.int64 and bn.num_batches_tracked.shape == ()
    assert bn.running_mean.tolist() == [0.0] * 5 and bn.running_var.tolist() == [1.0] * 5
    assert bn.weight.tolist() == [1.0] * 5 and bn.bias.tolist() == [0.0] * 5
    assert [n for n, _ in bn.named_buffers()] == [n for n, _ in t_bn.named_buffers()]
    for _ in range(3):
        bn(ember.randn(4, 5, 2, 2))
    assert bn.num_batches_tracked.item() == 3
    bn.eval()
    bn(ember.randn(4, 5, 2, 2))
    assert bn.num_batches_tracked.item() == 3
    bn.reset_running_stats()
    assert bn.num_batches_tracked.item() == 0 and bn.running_var.tolist() == [1.0] * 5
    untracked = nn.BatchNorm1d(5, track_running_stats=False, affine=False)
    assert untracked.running_mean is None and untracked.num_batches_tracked is None
    assert list(untracked.state_dict()) == [] and list(untracked.parameters()) == []
    assert nn.BatchNorm1d(3, dtype=ember.float64).running_mean.dtype is ember.float64


def test_batch_norm_loads_checkpoints_without_num_batches_tracked():
    # Checkpoints from before num_batches_tracked existed: the key is filled in, not reported missing.
    t_bn = torch.nn.BatchNorm1d(3)
    randomize(t_bn)
    e_bn = nn.BatchNorm1d(3)
    e_bn(ember.randn(4, 3))
    old = {k: ember.tensor(v.numpy()) for k, v in t_bn.state_dict().items() if k != "num_batches_tracked"}
    result = e_bn.load_state_dict(old)
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert e_bn.num_batches_tracked.item() == 1
    assert_close(e_bn.running_var, t_bn.running_var)


@pytest.mark.parametrize("name,good,bad", [("BatchNorm1d", "2D or 3D", [(4,), (2, 3, 4, 5)]),
                                           ("BatchNorm2d", "4D", [(4, 3), (2, 3, 4)]),
                                           ("BatchNorm3d", "5D", [(2, 3, 4, 5)])])
def test_batch_norm_input_dim_errors(name, good, bad):
    for shape in bad:
        for lib in (ember, torch):
            with pytest.raises(ValueError, match=rf"expected {good} input \(got {len(shape)}D input\)"):
                getattr(lib.nn, name)(3)(lib.zeros(shape))


def test_batch_norm_single_value_per_channel_in_training():
    e, t = pair((1, 3), ember.float32)
    for mod, x in ((nn.BatchNorm1d(3), e), (torch.nn.BatchNorm1d(3), t)):
        with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
            mod(x)
    assert nn.BatchNorm1d(3).eval()(e).shape == (1, 3)


@pytest.mark.parametrize("kwargs", [{}, {"momentum": None}, {"affine": False, "eps": 0.01},
                                    {"track_running_stats": False}, {"bias": False}])
def test_batch_norm_repr(kwargs):
    assert repr(nn.BatchNorm2d(8, **kwargs)) == repr(torch.nn.BatchNorm2d(8, **kwargs))


def test_batch_norm_gradients_in_eval_use_running_statistics():
    e_mod, t_mod = _bn_pair("BatchNorm2d", {}, ember.float64)
    with torch.no_grad():
        t_mod.running_mean.uniform_(-1, 1)
        t_mod.running_var.uniform_(0.5, 2)
    e_mod.eval()
    t_mod.eval()
    check_layer(e_mod, t_mod, pair((2, 3, 4, 4), ember.float64))


# (class name, positional args, keyword args, input shape)
NORMS = [
    ("LayerNorm", (5,), {}, (3, 5)),
    ("LayerNorm", ((4, 5),), {"eps": 1e-3}, (2, 3, 4, 5)),
    ("LayerNorm", ([5],), {"bias": False}, (2, 4, 5)),
    ("LayerNorm", (5,), {"elementwise_affine": False}, (4, 5)),
    ("GroupNorm", (2, 6), {}, (3, 6, 4)),
    ("GroupNorm", (3, 6), {"eps": 1e-3}, (2, 6, 3, 2)),
    ("GroupNorm", (1, 4), {"affine": False}, (2, 4, 5)),
    ("GroupNorm", (4, 4), {"bias": False}, (2, 4, 3, 3)),
    ("RMSNorm", (5,), {}, (3, 5)),
    ("RMSNorm", ((3, 5),), {"eps": 1e-4}, (2, 3, 5)),
    ("RMSNorm", (5,), {"elementwise_affine": False}, (2, 5)),
    ("LocalResponseNorm", (3,), {}, (2, 5, 4)),
    ("LocalResponseNorm", (2,), {"alpha": 0.1, "beta": 0.5, "k": 2.0}, (2, 6, 3, 3)),
    ("LocalResponseNorm", (4,), {}, (1, 5, 2, 2, 3)),
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name,args,kwargs,shape", NORMS)
def test_norm_matches_torch(name, args, kwargs, shape, dtype):
    factory = {} if name == "LocalResponseNorm" else {"dtype": dtype}
    e_mod = getattr(nn, name)(*args, **kwargs, **factory)
    t_mod = getattr(torch.nn, name)(*args, **kwargs, **({"dtype": torch_dtype(dtype)} if factory else {}))
    randomize(t_mod)
    check_layer(e_mod, t_mod, pair(shape, dtype, seed=1))


@pytest.mark.parametrize("name,args,kwargs", [(n, a, k) for n, a, k, _ in NORMS] + [("RMSNorm", (4,), {"eps": 0.1})])
def test_norm_default_init_repr_and_keys(name, args, kwargs):
    e_mod, t_mod = getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    assert repr(e_mod) == repr(t_mod)
    load_torch_state(e_mod, t_mod)
    for key, value in t_mod.state_dict().items():
        # ones and zeros exactly: the default initialisation is deterministic.
        assert e_mod.state_dict()[key].tolist() == value.tolist()
    for attr in ("normalized_shape", "eps", "elementwise_affine", "num_groups", "num_channels", "affine", "size"):
        assert getattr(e_mod, attr, None) == getattr(t_mod, attr, None), attr


def test_norm_errors_match_torch():
    for lib in (torch, ember):
        with pytest.raises(ValueError, match=r"num_channels \(6\) must be divisible by num_groups \(4\)"):
            lib.nn.GroupNorm(4, 6)
    e, t = pair((2, 3, 4), ember.float32)
    for e_mod, t_mod in ((nn.LayerNorm(5), torch.nn.LayerNorm(5)), (nn.LayerNorm((3, 5)), torch.nn.LayerNorm((3, 5))),
                         (nn.GroupNorm(2, 4), torch.nn.GroupNorm(2, 4)), (nn.RMSNorm(3), torch.nn.RMSNorm(3))):
        with pytest.raises(RuntimeError) as t_err:
            t_mod(t)
        with pytest.raises(type(t_err.value)):
            e_mod(e)
    with pytest.raises(RuntimeError, match=r"Given normalized_shape=\[5\], expected input with shape \[\*, 5\]"):
        nn.LayerNorm(5)(e)


def test_norms_in_a_trained_model_match_torch():
    def build(lib):
        return lib.nn.Sequential(lib.nn.Conv2d(2, 4, 3, padding=1), lib.nn.BatchNorm2d(4), lib.nn.ReLU(),
                                 lib.nn.GroupNorm(2, 4), lib.nn.Flatten(), lib.nn.LayerNorm(64), lib.nn.Linear(64, 3))

    t_model = build(torch).double()
    e_model = load_torch_state(build(ember).double(), t_model)
    e_opt, t_opt = ember.optim.SGD(e_model.parameters(), lr=0.05), torch.optim.SGD(t_model.parameters(), lr=0.05)
    for seed in range(3):
        e, t = pair((3, 2, 4, 4), ember.float64, seed=seed)
        for model, opt, x in ((e_model, e_opt, e), (t_model, t_opt, t)):
            opt.zero_grad()
            model(x).square().mean().backward()
            opt.step()
    _assert_same_state(e_model, t_model)
    e_model.eval()
    t_model.eval()
    e, t = pair((2, 2, 4, 4), ember.float64, seed=7)
    assert_close(e_model(e), t_model(t).detach())
