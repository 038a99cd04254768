"""ember.nn.functional against torch.nn.functional: activations, linear maps, normalisation, embeddings, dropout
and attention, forward values and gradients in float32 and float64."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from tests.nn.functional_check import FLOATS, TF, Fixed, check
from tests.oracle import assert_close, pair, torch


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name,kwargs", [
    ("relu", {}), ("relu6", {}), ("leaky_relu", {}), ("leaky_relu", {"negative_slope": 0.2}), ("elu", {}),
    ("elu", {"alpha": 0.5}), ("gelu", {}), ("gelu", {"approximate": "tanh"}), ("silu", {}), ("mish", {}),
    ("sigmoid", {}), ("tanh", {}), ("hardtanh", {}), ("hardtanh", {"min_val": -2.0, "max_val": 0.5}),
    ("softplus", {}), ("softplus", {"beta": 2.0, "threshold": 3.0}), ("logsigmoid", {}), ("hardsigmoid", {}),
    ("hardswish", {}), ("selu", {}), ("celu", {}), ("celu", {"alpha": 0.5}), ("softsign", {}), ("tanhshrink", {}),
    ("hardshrink", {}), ("softshrink", {"lambd": 1.0}), ("threshold", {"threshold": 0.5, "value": -2.0}),
])
def test_activations(name, kwargs, dtype):
    x = pair((4, 5), dtype, low=-8, high=8, noncontiguous=True)
    # torch's hardsigmoid gradient uses a float32 1/6 even for float64.
    check(getattr(F, name), getattr(TF, name), x, tol=1e-7 if name == "hardsigmoid" else None, **kwargs)


def test_activation_edge_values_and_inplace():
    values = [0.0, 6.0, -1.0, 1.0, 100.0, -100.0, 3.0, -3.0, 800.0, -800.0]
    x = (ember.tensor(values, dtype=ember.float64), torch.tensor(values, dtype=torch.float64))
    for name in ("relu6", "hardtanh", "elu", "leaky_relu", "mish", "silu", "hardswish", "hardsigmoid", "logsigmoid",
                 "selu", "celu"):
        check(getattr(F, name), getattr(TF, name), x, tol=1e-7 if name == "hardsigmoid" else None)
    for name in ("relu", "relu6", "leaky_relu", "elu", "silu", "mish", "hardtanh", "hardswish", "selu", "celu"):
        e, t = pair((3, 4), seed=3)
        out = getattr(F, name)(e, inplace=True)
        getattr(TF, name)(t, inplace=True)
        assert out is e
        assert_close(e, t)
    with pytest.raises(ValueError, match="min_val cannot be greater"):
        F.hardtanh(x[0], 1.0, -1.0)


def test_glu_prelu_softmin():
    x = pair((4, 6, 4), ember.float64)
    check(F.glu, TF.glu, x)
    check(F.glu, TF.glu, x, dim=1)
    with pytest.raises(RuntimeError, match="Halving dimension must be even, but dimension 2 is size 3"):
        F.glu(x[0][..., :3])
    check(F.prelu, TF.prelu, x, pair((6,), ember.float64, seed=1))
    check(F.prelu, TF.prelu, x, pair((1,), ember.float64, seed=1))
    check(F.prelu, TF.prelu, pair((5,), ember.float64), pair((1,), ember.float64, seed=1))
    with pytest.raises(RuntimeError, match="Found parameter numbers = 5 and channel size = 1"):
        F.prelu(x[0][0, 0], ember.ones(5))
    check(F.softmin, TF.softmin, x, dim=1)
    assert_close(F.softmin(x[0], 0, dtype=ember.float32), TF.softmin(x[1], 0, dtype=torch.float32))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_family(dim, dtype):
    x = pair((3, 4, 5), dtype, low=-20, high=20)
    check(F.softmax, TF.softmax, x, dim=dim)
    check(F.log_softmax, TF.log_softmax, x, dim=dim)
    e, t = pair((3, 4), ember.float32)
    assert_close(F.log_softmax(e, 1, dtype=ember.float64), TF.log_softmax(t, 1, dtype=torch.float64))


def test_softmax_implicit_dim_warns():
    for shape in [(5,), (2, 5), (2, 3, 4), (2, 3, 4, 5)]:
        e, t = pair(shape)
        with pytest.warns(UserWarning, match="Implicit dimension"):
            out = F.softmax(e)
        assert_close(out, TF.softmax(t, dim=0 if len(shape) in (0, 1, 3) else 1))


@pytest.mark.parametrize("dtype", FLOATS)
def test_linear_and_bilinear(dtype):
    x, w, b = pair((2, 3, 4), dtype), pair((5, 4), dtype, seed=1), pair((5,), dtype, seed=2)
    check(F.linear, TF.linear, x, w, b)
    check(F.linear, TF.linear, x, w)
    x2, wb = pair((2, 6), dtype, seed=3), pair((5, 4, 6), dtype, seed=4)
    check(F.bilinear, TF.bilinear, pair((2, 4), dtype), x2, wb, b)


def test_gradcheck_composites():
    x = ember.randn(2, 3, 5, 5, dtype=ember.float64, requires_grad=True)
    w = ember.randn(4, 3, 3, 3, dtype=ember.float64, requires_grad=True)
    assert ember.autograd.gradcheck(lambda a, b: F.conv2d(a, b, stride=2, padding=1), (x, w))
    logits = ember.randn(4, 5, dtype=ember.float64, requires_grad=True)
    target = ember.tensor([0, 4, 2, 1])
    assert ember.autograd.gradcheck(lambda a: F.cross_entropy(a, target, label_smoothing=0.1), (logits,))
    y = ember.randn(3, 6, dtype=ember.float64, requires_grad=True)
    assert ember.autograd.gradcheck(lambda a: F.layer_norm(a, [6]), (y,))
    assert ember.autograd.gradcheck(lambda a: F.max_pool2d(a, 2), (x,))


@pytest.mark.parametrize("dtype", FLOATS)
def test_layer_and_group_norm(dtype):
    x = pair((2, 6, 3, 4), dtype)
    w, b = pair((3, 4), dtype, seed=1), pair((3, 4), dtype, seed=2)
    check(F.layer_norm, TF.layer_norm, x, [3, 4], w, b, tol=1e-4 if dtype is ember.float32 else None)
    check(F.layer_norm, TF.layer_norm, x, (4,), eps=1e-3, tol=1e-4 if dtype is ember.float32 else None)
    gw, gb = pair((6,), dtype, seed=3), pair((6,), dtype, seed=4)
    check(F.group_norm, TF.group_norm, x, 3, gw, gb, tol=1e-4 if dtype is ember.float32 else None)
    check(F.group_norm, TF.group_norm, x, 6, tol=1e-4 if dtype is ember.float32 else None)
    with pytest.raises(RuntimeError, match="Given normalized_shape"):
        F.layer_norm(x[0], [3])
    with pytest.raises(RuntimeError, match="divisible by num_groups"):
        F.group_norm(x[0], 4)


@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 6), (2, 3, 4, 5)])
def test_batch_norm(shape):
    x = pair(shape, ember.float64)
    w, b = pair((3,), ember.float64, seed=1), pair((3,), ember.float64, seed=2)
    rm, rv = pair((3,), ember.float64, seed=3), pair((3,), ember.float64, seed=4, low=0.5, high=2)
    check(F.batch_norm, TF.batch_norm, x, Fixed(rm), Fixed(rv), w, b, training=False)
    e_rm, e_rv = rm[0].clone(), rv[0].clone()
    t_rm, t_rv = rm[1].clone(), rv[1].clone()
    check(F.batch_norm, TF.batch_norm, x, Fixed((e_rm, t_rm)), Fixed((e_rv, t_rv)), w, b, training=True,
          momentum=0.3)
    assert_close(e_rm, t_rm)
    assert_close(e_rv, t_rv)
    check(F.batch_norm, TF.batch_norm, x, None, None, training=True)
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        F.batch_norm(ember.randn(1, 3), None, None, training=True)


def test_embedding_and_one_hot():
    weight = pair((6, 4), ember.float64)
    idx = pair((2, 5), ember.int64, low=0, high=5, seed=1)
    check(F.embedding, TF.embedding, idx, weight)
    check(F.embedding, TF.embedding, idx, weight, padding_idx=2)
    check(F.embedding, TF.embedding, idx, weight, padding_idx=-1)
    check(F.embedding, TF.embedding, idx, weight, scale_grad_by_freq=True)
    e_w, t_w = weight[0].clone() * 3, weight[1].clone() * 3
    assert_close(F.embedding(idx[0], e_w, max_norm=1.0), TF.embedding(idx[1], t_w, max_norm=1.0))
    assert_close(e_w, t_w)
    with pytest.raises(IndexError, match="index out of range"):
        F.embedding(ember.tensor([6]), weight[0])
    assert_close(F.one_hot(idx[0]), TF.one_hot(idx[1]))
    assert_close(F.one_hot(idx[0], 8), TF.one_hot(idx[1], 8))
    with pytest.raises(RuntimeError, match="Class values must be smaller than num_classes"):
        F.one_hot(idx[0], 3)
    with pytest.raises(RuntimeError, match="LongTensor"):
        F.one_hot(ember.tensor([1.0]))


def test_dropout():
    x = ember.ones(2000, dtype=ember.float64, requires_grad=True)
    ember.manual_seed(0)
    out = F.dropout(x, 0.25)
    kept = out != 0
    assert 0.7 < float(kept.double().mean()) < 0.8
    np.testing.assert_allclose(out[kept].detach().numpy(), 1 / 0.75)
    out.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), kept.double().numpy() / 0.75)
    assert F.dropout(x, 0.5, training=False) is x
    assert not F.dropout(x, 1.0).detach().numpy().any()
    ember.manual_seed(1)
    first = F.dropout(x, 0.5)
    ember.manual_seed(1)
    assert ember.equal(first, F.dropout(x, 0.5))
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1, but got 1.5"):
        F.dropout(x, 1.5)


@pytest.mark.parametrize("dtype", FLOATS)
def test_scaled_dot_product_attention(dtype):
    q, k, v = pair((2, 3, 4, 8), dtype), pair((2, 3, 6, 8), dtype, seed=1), pair((2, 3, 6, 5), dtype, seed=2)
    tol = 1e-5 if dtype is ember.float32 else None
    check(F.scaled_dot_product_attention, TF.scaled_dot_product_attention, q, k, v, tol=tol)
    check(F.scaled_dot_product_attention, TF.scaled_dot_product_attention, q, k, v, is_causal=True, tol=tol)
    check(F.scaled_dot_product_attention, TF.scaled_dot_product_attention, q, k, v, scale=0.3, tol=tol)
    mask = pair((4, 6), ember.bool, seed=4)
    mask[0][:, 0], mask[1][:, 0] = True, True
    check(F.scaled_dot_product_attention, TF.scaled_dot_product_attention, q, k, v, mask, tol=tol)
    float_mask = pair((2, 1, 4, 6), dtype, seed=5)
    check(F.scaled_dot_product_attention, TF.scaled_dot_product_attention, q, k, v, float_mask, tol=tol)
    kg, vg = pair((2, 1, 6, 8), dtype, seed=6), pair((2, 1, 6, 5), dtype, seed=7)
    check(F.scaled_dot_product_attention, TF.scaled_dot_product_attention, q, kg, vg, enable_gqa=True, tol=tol)


@pytest.mark.parametrize("kind", ["bool", "float"])
def test_scaled_dot_product_attention_fully_masked_query_gets_zeros(kind):
    # PyTorch's safe softmax: a query that may attend to nothing gives zeros and zero gradients, not NaN.
    q, k, v = pair((1, 2, 3, 4), ember.float64), pair((1, 2, 5, 4), ember.float64, seed=1), pair(
        (1, 2, 5, 4), ember.float64, seed=2)
    allowed = torch.ones(3, 5, dtype=torch.bool)
    allowed[1] = False
    mask = allowed if kind == "bool" else torch.zeros(3, 5, dtype=torch.float64).masked_fill(~allowed, float("-inf"))
    mask_pair = (ember.tensor(mask.numpy()), mask)
    check(F.scaled_dot_product_attention, TF.scaled_dot_product_attention, q, k, v, mask_pair)


def test_public_names_match_torch():
    for name in F.__all__:
        assert hasattr(TF, name), name
    assert np.isclose(float(F.sigmoid(ember.tensor(0.0))), 0.5)


def test_instance_norm():
    x = pair((3, 4, 5, 6), ember.float64)
    w, b = pair((4,), ember.float64, seed=1), pair((4,), ember.float64, seed=2)
    check(F.instance_norm, TF.instance_norm, x, None, None, w, b)
    rm, rv = pair((4,), ember.float64, seed=3), pair((4,), ember.float64, seed=4, low=0.5, high=2)
    e_rm, e_rv, t_rm, t_rv = rm[0].clone(), rv[0].clone(), rm[1].clone(), rv[1].clone()
    check(F.instance_norm, TF.instance_norm, x, Fixed((e_rm, t_rm)), Fixed((e_rv, t_rv)), momentum=0.2)
    assert_close(e_rm, t_rm)
    assert_close(e_rv, t_rv)
    check(F.instance_norm, TF.instance_norm, x, Fixed(rm), Fixed(rv), w, b, use_input_stats=False)


def test_normalize_and_distances():
    x, y = pair((4, 5), ember.float64), pair((4, 5), ember.float64, seed=1)
    x[0][0], x[1][0] = 0.0, 0.0
    check(F.normalize, TF.normalize, x)
    check(F.normalize, TF.normalize, x, p=1.0, dim=0)
    check(F.cosine_similarity, TF.cosine_similarity, x, y)
    check(F.cosine_similarity, TF.cosine_similarity, x, pair((5,), ember.float64, seed=2), dim=-1)
    check(F.pairwise_distance, TF.pairwise_distance, x, y)
    check(F.pairwise_distance, TF.pairwise_distance, x, y, p=1.0, keepdim=True)


def test_feature_dropout():
    x = ember.ones(4, 50, 3, 3, dtype=ember.float64, requires_grad=True)
    ember.manual_seed(0)
    out = F.dropout2d(x, 0.4)
    per_channel = out.detach().numpy().reshape(4, 50, 9)
    # Each channel is all dropped or all kept (scaled by 1 / 0.6).
    assert np.all((per_channel == 0).all(-1) | np.isclose(per_channel, 1 / 0.6).all(-1))
    assert 0.45 < float((per_channel[..., 0] != 0).mean()) < 0.75
    out.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), per_channel.reshape(4, 50, 3, 3))
    assert F.dropout2d(x, training=False) is x
    one = F.dropout1d(ember.ones(30, 5), 0.5).numpy()
    assert np.all((one == 0).all(-1) | (one == 2).all(-1))
    three = F.dropout3d(ember.ones(30, 2, 2, 2), 0.5).numpy().reshape(30, 8)
    assert np.all((three == 0).all(-1) | (three == 2).all(-1))
    with pytest.warns(UserWarning, match="Received a 3D input to dropout2d"):
        F.dropout2d(ember.ones(2, 3, 4))
    with pytest.raises(RuntimeError, match="dropout1d: Expected 2D or 3D input"):
        F.dropout1d(ember.ones(2, 3, 4, 5))


def test_rms_norm_and_pixel_shuffle():
    x = pair((2, 3, 8), ember.float64)
    check(F.rms_norm, TF.rms_norm, x, [8], pair((8,), ember.float64, seed=1))
    check(F.rms_norm, TF.rms_norm, x, (3, 8), eps=1e-3)
    f = pair((2, 3, 8), ember.float32)
    check(F.rms_norm, TF.rms_norm, f, [8])
    y = pair((2, 8, 3, 5), ember.float64)
    check(F.pixel_shuffle, TF.pixel_shuffle, y, 2)
    check(F.pixel_unshuffle, TF.pixel_unshuffle, pair((1, 2, 3, 6, 4), ember.float64), 2)
    with pytest.raises(RuntimeError, match=r"input.size\(-3\)=8 is not divisible by 9"):
        F.pixel_shuffle(y[0], 3)


def test_inplace_functions():
    for name, args in [("relu_", ()), ("hardtanh_", (-0.5, 0.5)), ("leaky_relu_", (0.2,)), ("elu_", (0.5,)),
                       ("celu_", (2.0,)), ("selu_", ()), ("threshold_", (0.1, 9.0))]:
        e, t = pair((3, 4), seed=4)
        assert getattr(F, name)(e, *args) is e
        getattr(TF, name)(t, *args)
        assert_close(e, t)


def test_local_response_norm():
    check(F.local_response_norm, TF.local_response_norm, pair((2, 6, 5), ember.float64), 3)
    check(F.local_response_norm, TF.local_response_norm, pair((2, 6, 4, 5), ember.float64), 4, alpha=0.1,
          beta=0.5, k=2.0)
    check(F.local_response_norm, TF.local_response_norm, pair((2, 6, 3, 4, 2), ember.float64), 2)


def test_alpha_dropout():
    x = ember.randn(4000, dtype=ember.float64)
    assert F.alpha_dropout(x, 0.3) is x
    ember.manual_seed(3)
    out = F.alpha_dropout(x, 0.3, training=True).numpy()
    a = 1 / ((1.7580993408473766 ** 2 * 0.3 + 1) * 0.7) ** 0.5
    kept = np.isclose(out, a * x.numpy() + 1.7580993408473766 * a * 0.3)
    dropped = np.isclose(out, -1.7580993408473766 * a + 1.7580993408473766 * a * 0.3)
    assert np.all(kept | dropped)
    assert 0.25 < dropped.mean() < 0.35
    torch.manual_seed(0)
    reference = TF.alpha_dropout(torch.from_numpy(x.numpy()), 0.3, training=True).numpy()
    assert abs(out.mean() - reference.mean()) < 0.1 and abs(out.std() - reference.std()) < 0.1
    channels = F.feature_alpha_dropout(ember.zeros(8, 100, 5, dtype=ember.float64), 0.5, training=True).numpy()
    assert np.all(channels == channels[..., :1])
    with pytest.raises(ValueError, match="dropout probability"):
        F.alpha_dropout(x, -0.1, training=True)


@pytest.mark.parametrize("name", ["leaky_relu", "elu", "celu", "selu", "silu", "mish", "hardsigmoid", "hardswish",
                                  "logsigmoid", "hardshrink", "softshrink", "glu"])
def test_float_only_activations_reject_integers(name):
    with pytest.raises(NotImplementedError) as expected:
        getattr(TF, name)(torch.tensor([-1, 2]))
    with pytest.raises(NotImplementedError, match=str(expected.value).replace('"', '.')):
        getattr(F, name)(ember.tensor([-1, 2]))


def test_integer_passthrough_and_dropout_dtype():
    for name in ("relu", "relu6", "hardtanh"):
        assert_close(getattr(F, name)(ember.tensor([-3, 2, 9])), getattr(TF, name)(torch.tensor([-3, 2, 9])))
    with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired output type Long"):
        F.dropout(ember.ones(3, dtype=ember.int64))


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag(mode):
    weight = pair((7, 4), ember.float64)
    rows = pair((3, 5), ember.int64, low=0, high=6, seed=1)
    check(F.embedding_bag, TF.embedding_bag, rows, weight, mode=mode)
    check(F.embedding_bag, TF.embedding_bag, rows, weight, mode=mode, padding_idx=2)
    flat = pair((9,), ember.int64, low=0, high=6, seed=2)
    offsets = (ember.tensor([0, 2, 2, 6]), torch.tensor([0, 2, 2, 6]))
    check(F.embedding_bag, TF.embedding_bag, flat, weight, offsets, mode=mode)
    last = (ember.tensor([0, 3, 9]), torch.tensor([0, 3, 9]))
    check(F.embedding_bag, TF.embedding_bag, flat, weight, last, mode=mode, include_last_offset=True)
    if mode == "sum":
        check(F.embedding_bag, TF.embedding_bag, flat, weight, offsets, mode=mode,
              per_sample_weights=pair((9,), ember.float64, seed=3))
    else:
        with pytest.raises(NotImplementedError, match="per_sample_weights is only supported for mode='sum'"):
            F.embedding_bag(flat[0], weight[0], offsets[0], mode=mode, per_sample_weights=ember.ones(9))


def test_gumbel_softmax():
    logits = ember.tensor([[1.0, 2.0, 0.5]], dtype=ember.float64).repeat(4000, 1).requires_grad_()
    ember.manual_seed(0)
    soft = F.gumbel_softmax(logits, tau=0.5)
    np.testing.assert_allclose(soft.sum(-1).detach().numpy(), 1.0)
    ember.manual_seed(0)
    hard = F.gumbel_softmax(logits, tau=0.5, hard=True)
    picks = hard.detach().numpy()
    assert np.all(picks.sum(-1) == 1) and set(np.unique(picks)) <= {0.0, 1.0}
    np.testing.assert_array_equal(picks.argmax(-1), soft.detach().numpy().argmax(-1))
    # Gumbel-max sampling: class frequencies follow softmax(logits).
    frequencies = picks.mean(0)
    np.testing.assert_allclose(frequencies, torch.softmax(torch.tensor([1.0, 2.0, 0.5]), 0).numpy(), atol=0.03)
    (hard * ember.tensor([1.0, 2.0, 3.0], dtype=ember.float64)).sum().backward()
    soft_grad = ember.autograd.grad((soft * ember.tensor([1.0, 2.0, 3.0], dtype=ember.float64)).sum(), logits)[0]
    np.testing.assert_allclose(logits.grad.numpy(), soft_grad.numpy())


def test_small_network_matches_torch():
    """A CNN forward and backward through several functions at once gives torch's loss and gradients."""
    def net(lib, x, conv_w, conv_b, bn_w, bn_b, fc_w, fc_b, target):
        h = lib.conv2d(x, conv_w, conv_b, padding=1)
        h = lib.batch_norm(h, None, None, bn_w, bn_b, training=True)
        h = lib.max_pool2d(lib.gelu(h), 2)
        h = lib.dropout(h, 0.3, training=False)
        h = lib.adaptive_avg_pool2d(h, 2).flatten(1)
        return lib.cross_entropy(lib.linear(h, fc_w, fc_b), target, label_smoothing=0.1)

    args = [pair((4, 3, 8, 8), ember.float64), pair((5, 3, 3, 3), ember.float64, seed=1),
            pair((5,), ember.float64, seed=2), pair((5,), ember.float64, seed=3), pair((5,), ember.float64, seed=4),
            pair((3, 20), ember.float64, seed=5), pair((3,), ember.float64, seed=6),
            (ember.tensor([0, 2, 1, 2]), torch.tensor([0, 2, 1, 2]))]
    check(lambda *a: net(F, *a), lambda *a: net(TF, *a), *args)


@pytest.mark.parametrize("name,args,kernel", [("layer_norm", ([4],), "LayerNormKernelImpl"),
                                              ("group_norm", (2,), "GroupNormKernelImpl"),
                                              ("batch_norm", (None, None, None, None, True), "batch_norm")])
def test_normalisation_rejects_integers(name, args, kernel):
    with pytest.raises(NotImplementedError, match=f'"{kernel}" not implemented for \'Long\''):
        getattr(TF, name)(torch.ones(2, 4, 4, dtype=torch.int64), *args)
    with pytest.raises(NotImplementedError, match=f'"{kernel}" not implemented for \'Long\''):
        getattr(F, name)(ember.ones(2, 4, 4, dtype=ember.int64), *args)


def _mha_args(embed: int = 8, kdim: int = 8, seed: int = 0):
    return {"in_proj_weight": pair((3 * embed, embed), ember.float64, seed=seed + 1),
            "in_proj_bias": pair((3 * embed,), ember.float64, seed=seed + 2),
            "out_proj_weight": pair((embed, embed), ember.float64, seed=seed + 3),
            "out_proj_bias": pair((embed,), ember.float64, seed=seed + 4)}


@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("options", [
    {}, {"bias": True}, {"zero_attn": True}, {"padding": True}, {"mask": "bool"}, {"mask": "float", "padding": True},
    {"mask": "causal"}, {"average": False}, {"unbatched": True}, {"separate": True},
])
def test_multi_head_attention_forward(options, need_weights):
    heads, embed, length, source, batch = 2, 8, 4, 5, 3
    query, key = pair((length, batch, embed), ember.float64), pair((source, batch, embed), ember.float64, seed=9)
    value = pair((source, batch, embed), ember.float64, seed=10)
    kwargs = _mha_args(embed)
    kwargs.update(bias_k=None, bias_v=None, add_zero_attn=bool(options.get("zero_attn")), dropout_p=0.0,
                  need_weights=need_weights, average_attn_weights=options.get("average", True))
    if options.get("bias"):
        kwargs.update(bias_k=pair((1, 1, embed), ember.float64, seed=11), bias_v=pair((1, 1, embed), ember.float64,
                                                                                         seed=12))
    if options.get("padding"):
        pad_mask = np.zeros((batch, source), dtype=bool)
        pad_mask[:, -1] = True
        kwargs["key_padding_mask"] = (ember.tensor(pad_mask), torch.tensor(pad_mask))
    mask = options.get("mask")
    if mask == "bool":
        m = np.triu(np.ones((length, source), dtype=bool), 2)
        kwargs["attn_mask"] = (ember.tensor(m), torch.tensor(m))
    elif mask == "float":
        kwargs["attn_mask"] = Fixed(pair((batch * heads, length, source), ember.float64, seed=13))
    elif mask == "causal":
        query, key, value = query, pair((length, batch, embed), ember.float64, seed=9), \
            pair((length, batch, embed), ember.float64, seed=10)
        m = np.triu(np.ones((length, length), dtype=bool), 1)
        kwargs.update(attn_mask=(ember.tensor(m), torch.tensor(m)), is_causal=True)
    if options.get("unbatched"):
        query, key, value = (((t[0][:, 0]), t[1][:, 0]) for t in (query, key, value))
    if options.get("separate"):
        w = kwargs.pop("in_proj_weight")
        kwargs.update(in_proj_weight=None, use_separate_proj_weight=True,
                      q_proj_weight=(w[0][:embed], w[1][:embed]), k_proj_weight=(w[0][embed:2 * embed],
                                                                                 w[1][embed:2 * embed]),
                      v_proj_weight=(w[0][2 * embed:], w[1][2 * embed:]))

    def first(fn):
        return lambda *a, **k: fn(*a, **k)[0]

    mismatched = mask == "float" and options.get("padding")
    expect = pytest.warns(UserWarning, match="mismatched key_padding_mask and attn_mask") if mismatched \
        else contextlib.nullcontext()
    with expect:
        # Sums of many products taken in another order: float64 round-off reaches 1e-12.
        check(first(F.multi_head_attention_forward), first(TF.multi_head_attention_forward), query, key, value,
              embed, heads, tol=1e-9, **kwargs)
    if need_weights and not mismatched:
        e = F.multi_head_attention_forward(*(t[0] for t in (query, key, value)), embed, heads,
                                           **{k: v[0] if isinstance(v, tuple) else v for k, v in kwargs.items()})
        t = TF.multi_head_attention_forward(*(t[1] for t in (query, key, value)), embed, heads,
                                            **{k: v[1] if isinstance(v, tuple) else v for k, v in kwargs.items()})
        assert_close(e[1], t[1])
