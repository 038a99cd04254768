"""Transformer encoder/decoder layers and stacks against torch.nn with the same weights: outputs and the gradients
of the inputs and every parameter, post-norm and pre-norm, relu/gelu/callable activations, masks; names, repr,
deep copies, dropout and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import ember
import ember.nn as nn
from tests.nn.module_oracle import FLOATS, assert_same_error, check_same, fixed, leaf, loaded, same
from tests.oracle import DTYPES, assert_close, from_torch, torch

LAYER_CONFIGS = [
    {},
    {"norm_first": True},
    {"activation": "gelu", "batch_first": True},
    {"norm_first": True, "activation": "gelu", "bias": False},
    {"layer_norm_eps": 1e-3, "dim_feedforward": 12},
]


def encoder_layer(lib, **kwargs):
    return lib.nn.TransformerEncoderLayer(8, 2, **{"dim_feedforward": 16, **kwargs})


def decoder_layer(lib, **kwargs):
    return lib.nn.TransformerDecoderLayer(8, 2, **{"dim_feedforward": 16, **kwargs})


def seq(length, kwargs, dtype, seed, batch=(3,)):
    """A (length, batch, 8) sequence leaf, (batch, length, 8) with ``batch_first``, (length, 8) unbatched."""
    if not batch:
        return leaf((length, 8), dtype, seed)
    return leaf((*batch, length, 8) if kwargs.get("batch_first") else (length, *batch, 8), dtype, seed)


def padding(length=5, dtype=torch.bool):
    """A (3, length) key padding mask hiding the last two keys of the second sequence; a float one when asked."""
    mask = torch.zeros(3, length, dtype=torch.bool)
    mask[1, -2:] = True
    return mask if dtype is torch.bool else torch.zeros(3, length, dtype=dtype).masked_fill(mask, float("-inf"))


CAUSAL = torch.nn.Transformer.generate_square_subsequent_mask(5)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("kwargs", LAYER_CONFIGS)
def test_encoder_layer_matches_torch(kwargs, dtype):
    em, tm = loaded(lambda lib: encoder_layer(lib, **kwargs), dtype)
    assert repr(em) == repr(tm)
    check_same(em, tm, [seq(5, kwargs, dtype, 1)], dtype)


@pytest.mark.parametrize("kwargs", LAYER_CONFIGS)
def test_encoder_layer_masks_and_unbatched_input(kwargs):
    dtype = ember.float64
    causal = CAUSAL.to(torch.float64)
    for extra in [{"src_mask": fixed(causal)}, {"src_mask": fixed(causal), "is_causal": True},
                  {"src_key_padding_mask": fixed(padding())},
                  {"src_mask": fixed(causal.isinf()), "src_key_padding_mask": fixed(padding())}]:
        em, tm = loaded(lambda lib: encoder_layer(lib, **kwargs), dtype)
        check_same(em, tm, [seq(5, kwargs, dtype, 1)], dtype, **extra)
    em, tm = loaded(lambda lib: encoder_layer(lib, **kwargs), dtype)
    check_same(em, tm, [seq(5, kwargs, dtype, 1, batch=())], dtype, src_key_padding_mask=fixed(padding()[1]))


def test_callable_and_module_activations():
    dtype = ember.float64
    for make in (lambda lib: lib.nn.functional.silu, lambda lib: lib.nn.GELU(approximate="tanh"),
                 lambda lib: lib.nn.ReLU()):
        em, tm = loaded(lambda lib, make=make: encoder_layer(lib, activation=make(lib)), dtype)
        assert em.activation_relu_or_gelu == tm.activation_relu_or_gelu
        assert repr(em) == repr(tm)
        check_same(em, tm, [seq(5, {}, dtype, 1)], dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("kwargs", [{}, {"norm_first": True, "batch_first": True, "activation": "gelu"}])
def test_encoder_stack_matches_torch(kwargs, dtype):
    def build(lib):
        return lib.nn.TransformerEncoder(encoder_layer(lib, **kwargs), 2, norm=lib.nn.LayerNorm(8),
                                         enable_nested_tensor=False)
    em, tm = loaded(build, dtype)
    assert list(em.state_dict()) == list(tm.state_dict())
    assert repr(em) == repr(tm)
    mask = CAUSAL.to(DTYPES[dtype])
    check_same(em, tm, [seq(5, kwargs, dtype, 1)], dtype)
    em, tm = loaded(build, dtype)
    check_same(em, tm, [seq(5, kwargs, dtype, 1)], dtype, mask=fixed(mask),
               src_key_padding_mask=fixed(padding(dtype=DTYPES[dtype])))
    em, tm = loaded(build, dtype)
    check_same(em, tm, [seq(5, kwargs, dtype, 1)], dtype, mask=fixed(mask), is_causal=True)


def test_encoder_deep_copies_the_layer_and_keeps_nested_tensor_flags():
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16)
    stack = nn.TransformerEncoder(layer, 3, enable_nested_tensor=True, mask_check=False)
    assert len(stack.layers) == stack.num_layers == 3 and stack.norm is None
    assert stack.enable_nested_tensor is True and stack.use_nested_tensor is False and stack.mask_check is False
    weights = [m.linear1.weight for m in stack.layers]
    assert all(w is not layer.linear1.weight for w in weights) and weights[0] is not weights[1]
    same(weights[0], weights[1])
    with ember.no_grad():
        weights[0].add_(1.0)
    assert not np.allclose(weights[0].numpy(), weights[1].numpy())


def test_causal_mask_detection_matches_the_explicit_hint():
    ember.manual_seed(0)
    stack = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, dim_feedforward=16), 2).eval()
    x = ember.randn(5, 3, 8)
    mask = nn.Transformer.generate_square_subsequent_mask(5)
    same(stack(x, mask=mask), stack(x, mask=mask, is_causal=True))
    same(stack(x, mask=mask.isinf()), stack(x, mask=mask, is_causal=False))


def test_mismatched_mask_types_warn_like_torch():
    em, tm = loaded(lambda lib: lib.nn.TransformerEncoder(encoder_layer(lib), 1, enable_nested_tensor=False),
                    ember.float32)
    x = ember.zeros(5, 3, 8)
    message = "Support for mismatched src_key_padding_mask and mask is deprecated"
    with pytest.warns(UserWarning, match=message):
        tm(torch.zeros(5, 3, 8), mask=CAUSAL, src_key_padding_mask=padding())
    with pytest.warns(UserWarning, match=message):
        em(x, mask=from_torch(CAUSAL), src_key_padding_mask=from_torch(padding()))


def test_generate_square_subsequent_mask_matches_torch():
    assert_close(nn.Transformer.generate_square_subsequent_mask(6),
                 torch.nn.Transformer.generate_square_subsequent_mask(6))
    assert_close(nn.Transformer.generate_square_subsequent_mask(3, dtype=ember.float64),
                 torch.nn.Transformer.generate_square_subsequent_mask(3, dtype=torch.float64))


@pytest.mark.parametrize("kwargs", [{}, {"norm_first": True, "batch_first": True, "activation": "gelu"}])
def test_decoder_layer_and_stack_match_torch(kwargs):
    dtype = ember.float64
    mask = fixed(CAUSAL.to(torch.float64))
    em, tm = loaded(lambda lib: decoder_layer(lib, **kwargs), dtype)
    assert repr(em) == repr(tm)
    check_same(em, tm, [seq(5, kwargs, dtype, 1), seq(6, kwargs, dtype, 2)], dtype, tgt_mask=mask,
               tgt_is_causal=True, memory_key_padding_mask=fixed(padding(6)))

    def build(lib):
        return lib.nn.TransformerDecoder(decoder_layer(lib, **kwargs), 2, norm=lib.nn.LayerNorm(8))
    em, tm = loaded(build, dtype)
    assert list(em.state_dict()) == list(tm.state_dict())
    check_same(em, tm, [seq(5, kwargs, dtype, 1), seq(6, kwargs, dtype, 2)], dtype, tgt_mask=mask,
               tgt_key_padding_mask=fixed(padding(dtype=torch.float64)))


@pytest.mark.parametrize("dtype", FLOATS)
def test_transformer_matches_torch(dtype):
    def build(lib):
        return lib.nn.Transformer(8, 2, num_encoder_layers=2, num_decoder_layers=1, dim_feedforward=16,
                                  batch_first=True)
    em, tm = loaded(build, dtype)
    assert repr(em) == repr(tm)
    kwargs = {"batch_first": True}
    check_same(em, tm, [seq(6, kwargs, dtype, 1), seq(5, kwargs, dtype, 2)], dtype,
               tgt_mask=fixed(CAUSAL.to(DTYPES[dtype])), src_key_padding_mask=fixed(padding(6)))


def test_transformer_initialisation_is_xavier_on_matrices():
    ember.manual_seed(0)
    model = nn.Transformer(16, 2, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=32)
    for name, p in model.named_parameters():
        values = p.detach().numpy()
        if p.dim() > 1:
            fan_out, fan_in = p.shape
            assert np.abs(values).max() <= math.sqrt(6 / (fan_in + fan_out)), name
        elif name.endswith("norm1.weight"):
            assert (values == 1).all()
        elif "bias" in name and "norm" in name:
            assert not values.any()


def test_dropout_only_in_training():
    ember.manual_seed(0)
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.3)
    x = ember.randn(5, 3, 8)
    layer.eval()
    out = layer(x)
    same(layer(x), out)
    layer.train()
    first, second = layer(x), layer(x)
    assert not np.allclose(first.detach().numpy(), out.detach().numpy())
    assert not np.allclose(first.detach().numpy(), second.detach().numpy())


@pytest.mark.parametrize("call", [
    lambda lib: lib.nn.TransformerEncoderLayer(8, 2, activation="tanh"),
    lambda lib: lib.nn.TransformerDecoderLayer(8, 2, activation="swish"),
    lambda lib: lib.nn.Transformer(8, 2, 1, 1, 16)(lib.zeros(5, 3, 8), lib.zeros(4, 2, 8)),
    lambda lib: lib.nn.Transformer(8, 2, 1, 1, 16, batch_first=True)(lib.zeros(3, 5, 8), lib.zeros(2, 4, 8)),
    lambda lib: lib.nn.Transformer(8, 2, 1, 1, 16)(lib.zeros(5, 3, 8), lib.zeros(4, 3, 6)),
    lambda lib: lib.nn.TransformerEncoderLayer(8, 3),
])
@pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")  # torch's note on its nested-tensor fast path
def test_errors_match_torch(call):
    assert_same_error(call)

