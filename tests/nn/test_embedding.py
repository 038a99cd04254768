"""ember.nn.Embedding and EmbeddingBag against torch.nn: reprs, state_dict keys, lookups and weight gradients with
torch's weights (padding_idx, max_norm, scale_grad_by_freq, bag modes), the default initialisation, from_pretrained,
and the argument errors."""

from __future__ import annotations

import numpy as np
import pytest

import ember
import ember.nn as nn
from tests.nn.functional_check import FLOATS, Fixed
from tests.nn.layer_check import check_layer, load_torch_state, torch_dtype
from tests.oracle import as_float64, assert_close, torch


def indices(shape, high, seed=0):
    """The same int64 index tensor in both libraries (passed to the layers without gradient)."""
    values = np.random.default_rng(seed).integers(0, high, size=shape)
    return Fixed((ember.tensor(values), torch.tensor(values)))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("kwargs", [{}, {"padding_idx": 0}, {"padding_idx": -2}, {"scale_grad_by_freq": True},
                                    {"padding_idx": 3, "scale_grad_by_freq": True}])
def test_embedding_matches_torch(kwargs, dtype):
    e_mod = nn.Embedding(10, 4, dtype=dtype, **kwargs)
    t_mod = torch.nn.Embedding(10, 4, dtype=torch_dtype(dtype), **kwargs)
    # Indices with repeats and every padding row present, so the padding gradient is exercised.
    check_layer(e_mod, t_mod, indices((6, 5), 10))
    if e_mod.padding_idx is not None:
        assert as_float64(e_mod.weight.grad[e_mod.padding_idx]).tolist() == [0.0] * 4


def test_padding_idx_gradient_stays_zero_over_steps():
    layer = nn.Embedding(5, 3, padding_idx=1)
    assert layer.weight[1].tolist() == [0.0, 0.0, 0.0]
    for _ in range(2):
        layer(ember.tensor([[1, 2, 1], [0, 1, 4]])).sum().backward()
    assert layer.weight.grad[1].tolist() == [0.0, 0.0, 0.0]
    assert layer.weight.grad[2].tolist() == [2.0, 2.0, 2.0]


@pytest.mark.parametrize("norm_type", [2.0, 1.0])
def test_max_norm_renormalises_like_torch(norm_type):
    t_mod = torch.nn.Embedding(8, 5, max_norm=1.5, norm_type=norm_type, dtype=torch.float64)
    e_mod = load_torch_state(nn.Embedding(8, 5, max_norm=1.5, norm_type=norm_type, dtype=ember.float64), t_mod)
    assert repr(e_mod) == repr(t_mod)
    idx = [[0, 2, 2], [5, 7, 0]]
    assert_close(e_mod(ember.tensor(idx)), t_mod(torch.tensor(idx)))
    # Only the looked-up rows were renormalised, in place in the weight.
    assert_close(e_mod.weight, t_mod.weight.detach())


def test_reprs_and_attributes():
    for args, kwargs in [((10, 3), {}), ((10, 3), {"padding_idx": -1}), ((4, 2), {"max_norm": 2.0}),
                         ((4, 2), {"norm_type": 1.0, "scale_grad_by_freq": True})]:
        e_mod, t_mod = nn.Embedding(*args, **kwargs), torch.nn.Embedding(*args, **kwargs)
        assert repr(e_mod) == repr(t_mod)
        for name in ("num_embeddings", "embedding_dim", "padding_idx", "max_norm", "norm_type", "scale_grad_by_freq",
                     "sparse"):
            assert getattr(e_mod, name) == getattr(t_mod, name), name
        assert list(e_mod.state_dict()) == ["weight"]
    assert repr(nn.Embedding(10, 3, padding_idx=-1)) == "Embedding(10, 3, padding_idx=9)"


def test_default_initialisation():
    ember.manual_seed(0)
    layer = nn.Embedding(1000, 100, padding_idx=7)
    weight = as_float64(layer.weight)
    assert layer.weight.dtype is ember.float32 and layer.weight.requires_grad
    assert np.all(weight[7] == 0)
    rest = np.delete(weight, 7, axis=0)
    assert abs(rest.mean()) < 0.01 and abs(rest.std() - 1) < 0.01
    assert nn.Embedding(3, 4, dtype=ember.float64).weight.dtype is ember.float64
    layer.weight.data.fill_(5.0)
    layer.reset_parameters()
    assert np.all(as_float64(layer.weight)[7] == 0) and abs(as_float64(layer.weight).mean()) < 0.01


@pytest.mark.parametrize("freeze", [True, False])
def test_from_pretrained(freeze):
    table = ember.arange(12, dtype=ember.float32).reshape(4, 3)
    layer = nn.Embedding.from_pretrained(table, freeze=freeze, padding_idx=1)
    t_layer = torch.nn.Embedding.from_pretrained(torch.arange(12.0).reshape(4, 3), freeze=freeze, padding_idx=1)
    assert repr(layer) == repr(t_layer)
    assert layer.weight.requires_grad is (not freeze)
    # The pretrained padding row is kept, and the weight shares the given tensor's memory.
    assert layer.weight[1].tolist() == [3.0, 4.0, 5.0]
    table[0, 0] = 100.0
    assert layer(ember.tensor([0]))[0, 0].item() == 100.0
    bag = nn.EmbeddingBag.from_pretrained(table, freeze=freeze, mode="sum")
    assert bag.weight.requires_grad is (not freeze)
    assert repr(bag) == repr(torch.nn.EmbeddingBag.from_pretrained(torch.ones(4, 3), freeze=freeze, mode="sum"))


def test_weight_argument_is_shared_and_frozen():
    weight = ember.ones(3, 2)
    layer = nn.Embedding(3, 2, _weight=weight, _freeze=True)
    assert not layer.weight.requires_grad
    weight.fill_(2.0)
    assert layer.weight.tolist() == [[2.0, 2.0]] * 3


def test_errors():
    with pytest.raises(AssertionError, match="Padding_idx must be within num_embeddings"):
        nn.Embedding(4, 2, padding_idx=4)
    with pytest.raises(AssertionError, match="Padding_idx must be within num_embeddings"):
        nn.Embedding(4, 2, padding_idx=-5)
    with pytest.raises(AssertionError, match="padding_idx must be within num_embeddings"):
        nn.EmbeddingBag(4, 2, padding_idx=9)
    with pytest.raises(AssertionError, match="Shape of weight does not match num_embeddings and embedding_dim"):
        nn.Embedding(4, 2, _weight=ember.ones(2, 4))
    with pytest.raises(AssertionError, match="Embeddings parameter is expected to be 2-dimensional"):
        nn.Embedding.from_pretrained(ember.ones(4))
    with pytest.raises(AssertionError, match="Embeddings parameter is expected to be 2-dimensional"):
        nn.EmbeddingBag.from_pretrained(ember.ones(4, 2, 1))
    with pytest.raises(NotImplementedError, match="ember has no sparse gradients"):
        nn.Embedding(4, 2, sparse=True)
    with pytest.raises(NotImplementedError, match="ember has no sparse gradients"):
        nn.EmbeddingBag(4, 2, sparse=True)
    with pytest.raises(IndexError, match="index out of range in self"):
        nn.Embedding(4, 2)(ember.tensor([4]))
    with pytest.raises(RuntimeError, match="Expected tensor for argument #1 'indices'"):
        nn.Embedding(4, 2)(ember.tensor([1.0]))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_2d_input(mode, dtype):
    e_mod = nn.EmbeddingBag(10, 3, mode=mode, dtype=dtype)
    t_mod = torch.nn.EmbeddingBag(10, 3, mode=mode, dtype=torch_dtype(dtype))
    check_layer(e_mod, t_mod, indices((4, 5), 10, seed=1))


@pytest.mark.parametrize("kwargs", [{"mode": "sum"}, {"mode": "mean", "include_last_offset": True},
                                    {"mode": "sum", "padding_idx": 2}, {"mode": "max", "padding_idx": -1},
                                    {"mode": "mean", "max_norm": 1.0}])
def test_embedding_bag_offsets(kwargs):
    e_mod = nn.EmbeddingBag(6, 4, dtype=ember.float64, **kwargs)
    t_mod = torch.nn.EmbeddingBag(6, 4, dtype=torch.float64, **kwargs)
    flat = indices((9,), 6, seed=2)
    offsets = [0, 2, 2, 7] + ([9] if kwargs.get("include_last_offset") else [])
    check_layer(e_mod, t_mod, flat, Fixed((ember.tensor(offsets), torch.tensor(offsets))))


def test_embedding_bag_scale_grad_by_freq():
    """Each row's gradient is divided by its count in the batch, as the documentation says. torch 2.13's CPU kernel
    divides by another row's count here (pytorch/pytorch#190063), so it is no oracle for this case."""
    bag = nn.EmbeddingBag(6, 2, mode="sum", scale_grad_by_freq=True, dtype=ember.float64)
    bag(ember.tensor([5, 1, 0, 1, 2, 4, 2, 0, 2]), ember.tensor([0, 2, 2, 7])).sum().backward()
    assert as_float64(bag.weight.grad)[:, 0].tolist() == [1.0, 1.0, 1.0, 0.0, 1.0, 1.0]


def test_embedding_bag_per_sample_weights():
    t_mod = torch.nn.EmbeddingBag(6, 4, mode="sum", dtype=torch.float64)
    e_mod = load_torch_state(nn.EmbeddingBag(6, 4, mode="sum", dtype=ember.float64), t_mod)
    idx, offsets, weights = [1, 2, 4, 5, 4, 3], [0, 2], np.linspace(0.5, 2.0, 6)
    e_w = ember.tensor(weights).requires_grad_()
    t_w = torch.tensor(weights).requires_grad_()
    e_out = e_mod(ember.tensor(idx), ember.tensor(offsets), per_sample_weights=e_w)
    t_out = t_mod(torch.tensor(idx), torch.tensor(offsets), per_sample_weights=t_w)
    assert_close(e_out, t_out)
    e_out.sum().backward()
    t_out.sum().backward()
    assert_close(e_w.grad, t_w.grad)
    assert_close(e_mod.weight.grad, t_mod.weight.grad)


def test_embedding_bag_reprs_and_errors():
    for kwargs in [{}, {"mode": "sum", "padding_idx": 2}, {"max_norm": 1.0, "norm_type": 1.0},
                   {"scale_grad_by_freq": True, "mode": "max"}]:
        assert repr(nn.EmbeddingBag(5, 2, **kwargs)) == repr(torch.nn.EmbeddingBag(5, 2, **kwargs))
    bag = nn.EmbeddingBag(5, 2, padding_idx=-2)
    assert bag.padding_idx == 3 and bag.weight[3].tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match="mode has to be one of sum, mean or max"):
        nn.EmbeddingBag(5, 2, mode="median")(ember.tensor([[1, 2]]))
    with pytest.raises(NotImplementedError, match="per_sample_weights is only supported for mode='sum'"):
        nn.EmbeddingBag(5, 2)(ember.tensor([[1, 2]]), per_sample_weights=ember.ones(1, 2))
