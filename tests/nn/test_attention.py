"""MultiheadAttention against torch.nn.MultiheadAttention with the same weights: outputs, attention weights and
the gradients of query, key, value and every parameter, for each option and mask; names, repr, init, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import ember
import ember.nn as nn
from tests.nn.module_oracle import FLOATS, assert_same_error, check_same, fixed, leaf, loaded, same
from tests.oracle import torch

CONFIGS = [
    {},
    {"kdim": 4, "vdim": 6},
    {"add_bias_kv": True, "add_zero_attn": True},
    {"bias": False},
    {"batch_first": True},
    {"dropout": 0.3, "kdim": 5},
]


def mha(dtype=ember.float32, **kwargs):
    """``MultiheadAttention(8, 2, **kwargs)`` in both libraries, torch's weights loaded into ember's."""
    return loaded(lambda lib: lib.nn.MultiheadAttention(8, 2, **kwargs), dtype)


def qkv(kwargs, dtype, batch=(3,)):
    """Query (length 5), key and value (length 7) leaves in the layout the options ask for."""
    def shape(length, dim):
        if not batch:
            return (length, dim)
        return (*batch, length, dim) if kwargs.get("batch_first") else (length, *batch, dim)
    return [leaf(shape(5, 8), dtype, 1), leaf(shape(7, kwargs.get("kdim", 8)), dtype, 2),
            leaf(shape(7, kwargs.get("vdim", 8)), dtype, 3)]


def padding(batch=3, length=7, dtype=torch.bool):
    mask = torch.zeros(batch, length, dtype=torch.bool)
    mask[1, -3:] = True
    mask[2, 3] = True  # with the causal mask, query 0 still sees key 0
    return mask if dtype is torch.bool else torch.zeros(batch, length, dtype=dtype).masked_fill(mask, -1e4)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("kwargs", CONFIGS)
@pytest.mark.parametrize("need_weights", [True, False])
def test_forward_and_gradients_match_torch(kwargs, dtype, need_weights):
    em, tm = mha(**kwargs, dtype=dtype)
    check_same(em, tm, qkv(kwargs, dtype), dtype, need_weights=need_weights)


@pytest.mark.parametrize("kwargs", CONFIGS)
def test_masks_match_torch(kwargs):
    dtype = ember.float64
    causal = torch.ones(5, 7, dtype=torch.bool).triu(1)
    for extra in [{"key_padding_mask": fixed(padding())},
                  {"key_padding_mask": fixed(padding(dtype=torch.float64))},
                  {"attn_mask": fixed(causal)},
                  {"attn_mask": fixed(torch.randn(6, 5, 7, dtype=torch.float64))},
                  {"attn_mask": fixed(causal), "key_padding_mask": fixed(padding()), "average_attn_weights": False},
                  {"attn_mask": fixed(causal), "key_padding_mask": fixed(padding()), "need_weights": False}]:
        em, tm = mha(**kwargs, dtype=dtype)
        check_same(em, tm, qkv(kwargs, dtype), dtype, **extra)


def test_causal_self_attention_with_the_is_causal_hint():
    dtype = ember.float64
    mask = torch.nn.Transformer.generate_square_subsequent_mask(5, dtype=torch.float64)
    for need_weights in (True, False):
        em, tm = mha(batch_first=True, dtype=dtype)
        x = leaf((3, 5, 8), dtype, 1)
        check_same(em, tm, [x, x, x], dtype, attn_mask=fixed(mask), is_causal=True, need_weights=need_weights)


@pytest.mark.parametrize("kwargs", [{}, {"batch_first": True}, {"kdim": 4, "vdim": 6, "add_zero_attn": True}])
def test_unbatched_input(kwargs):
    dtype = ember.float64
    for extra in [{}, {"key_padding_mask": fixed(padding()[1])}, {"average_attn_weights": False}]:
        em, tm = mha(**kwargs, dtype=dtype)
        check_same(em, tm, qkv(kwargs, dtype, batch=()), dtype, **extra)


def test_names_shapes_and_repr_match_torch():
    for kwargs in CONFIGS:
        em, tm = nn.MultiheadAttention(8, 2, **kwargs), torch.nn.MultiheadAttention(8, 2, **kwargs)
        assert [(n, tuple(p.shape)) for n, p in em.named_parameters()] == \
            [(n, tuple(p.shape)) for n, p in tm.named_parameters()]
        assert list(em.state_dict()) == list(tm.state_dict())
        assert repr(em) == repr(tm)
        assert (em.head_dim, em.kdim, em.vdim, em._qkv_same_embed_dim) == \
            (tm.head_dim, tm.kdim, tm.vdim, tm._qkv_same_embed_dim)
        assert isinstance(em.out_proj, nn.Linear)


def test_default_initialisation_follows_torch():
    ember.manual_seed(0)
    em = nn.MultiheadAttention(64, 4, add_bias_kv=True)
    w = em.in_proj_weight.detach().numpy()
    bound = math.sqrt(6 / (64 + 3 * 64))
    assert np.abs(w).max() <= bound and abs(w.std() - bound / math.sqrt(3)) < 0.05 * bound
    assert not em.in_proj_bias.detach().numpy().any() and not em.out_proj.bias.detach().numpy().any()
    assert np.abs(em.out_proj.weight.detach().numpy()).max() <= 1 / math.sqrt(64)
    assert abs(em.bias_k.detach().numpy().std() - math.sqrt(2 / 128)) < 0.3 * math.sqrt(2 / 128)  # fans 64 and 64
    separate = nn.MultiheadAttention(64, 4, kdim=32, vdim=16)
    assert np.abs(separate.k_proj_weight.detach().numpy()).max() <= math.sqrt(6 / (64 + 32))
    assert separate.in_proj_weight is None and separate.q_proj_weight.shape == (64, 64)


def test_attention_dropout_only_in_training():
    em, _ = mha(dropout=0.5)
    q, k, v = (e for e, _ in qkv({}, ember.float32))
    out, weights = em(q, k, v)
    same(em(q, k, v)[0], out)
    em.train()
    ember.manual_seed(0)
    train_out, train_weights = em(q, k, v)
    assert not np.allclose(train_out.detach().numpy(), out.detach().numpy())
    assert not np.allclose(train_weights.detach().numpy(), weights.detach().numpy())
    train_out.sum().backward()
    assert all(p.grad is not None for p in em.parameters())


@pytest.mark.parametrize("call", [
    lambda lib: lib.nn.MultiheadAttention(8, 3),
    lambda lib: lib.nn.MultiheadAttention(0, 2),
    lambda lib: lib.nn.MultiheadAttention(8, 2)(lib.zeros(5, 3, 6), lib.zeros(5, 3, 6), lib.zeros(5, 3, 6)),
    lambda lib: lib.nn.MultiheadAttention(8, 2)(lib.zeros(5, 3, 8), lib.zeros(5, 3, 8), lib.zeros(5, 3, 8),
                                                is_causal=True),
    lambda lib: lib.nn.MultiheadAttention(8, 2)(lib.zeros(5, 3, 8), lib.zeros(4, 3, 8), lib.zeros(4, 3, 8),
                                                attn_mask=lib.zeros(5, 5)),
    lambda lib: lib.nn.MultiheadAttention(8, 2)(lib.zeros(2, 5, 3, 8), lib.zeros(4, 3, 8), lib.zeros(4, 3, 8)),
])
def test_errors_match_torch(call):
    assert_same_error(call)


def test_wrong_key_padding_mask_shape_is_refused():
    em = nn.MultiheadAttention(8, 2)
    x = ember.zeros(4, 3, 8)
    with pytest.raises(AssertionError, match=r"Expected key_padded_mask.shape\[1\] to be 4, but got 5"):
        em(x, x, x, key_padding_mask=ember.zeros(3, 5, dtype=ember.bool))
