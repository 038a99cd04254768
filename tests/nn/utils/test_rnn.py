"""Packed and padded sequences against torch.nn.utils.rnn, and the recurrent layers run on packed input with the
same weights as torch's: values, batch sizes, permutations, gradients and errors."""

from __future__ import annotations

import pytest

import ember
import ember.nn as nn
from ember.nn.utils import rnn as rnn_utils
from tests.nn.module_oracle import CLOSE, FLOATS, assert_same_error, leaf, loaded
from tests.oracle import assert_close, torch

T_RNN = torch.nn.utils.rnn
LENGTHS = [3, 5, 1, 4]


def backward_both(e_out, t_out, seed=7):
    """Backward with the same random upstream gradient in both libraries."""
    g_e, g_t = leaf(tuple(t_out.shape), e_out.dtype, seed)
    e_out.backward(g_e.detach())
    t_out.backward(g_t.detach())


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("enforce_sorted", [True, False])
def test_pack_and_pad_round_trip_match_torch(batch_first, enforce_sorted):
    lengths = sorted(LENGTHS, reverse=True) if enforce_sorted else LENGTHS
    e_x, t_x = leaf((4, 5, 2) if batch_first else (5, 4, 2), ember.float64, 1)
    e_packed = rnn_utils.pack_padded_sequence(e_x, lengths, batch_first=batch_first, enforce_sorted=enforce_sorted)
    t_packed = T_RNN.pack_padded_sequence(t_x, lengths, batch_first=batch_first, enforce_sorted=enforce_sorted)
    assert isinstance(e_packed, rnn_utils.PackedSequence) and isinstance(e_packed, tuple)
    assert_close(e_packed.data, t_packed.data.detach())
    assert_close(e_packed.batch_sizes, t_packed.batch_sizes)
    for e, t in ((e_packed.sorted_indices, t_packed.sorted_indices),
                 (e_packed.unsorted_indices, t_packed.unsorted_indices)):
        assert (e is None) == (t is None)
        if t is not None:
            assert_close(e, t)
    for kwargs in ({}, {"padding_value": -2.0, "total_length": 7}):
        e_pad, e_len = rnn_utils.pad_packed_sequence(e_packed, batch_first=batch_first, **kwargs)
        t_pad, t_len = T_RNN.pad_packed_sequence(t_packed, batch_first=batch_first, **kwargs)
        assert_close(e_pad, t_pad.detach())
        assert_close(e_len, t_len)
    backward_both(e_pad, t_pad)
    assert_close(e_x.grad, t_x.grad)


@pytest.mark.parametrize("dtype", FLOATS)
def test_pad_pack_and_unpack_sequences_match_torch(dtype):
    pairs = [leaf((n, 3), dtype, i) for i, n in enumerate(LENGTHS)]
    e_seqs, t_seqs = [e for e, _ in pairs], [t for _, t in pairs]
    for kwargs in ({}, {"batch_first": True, "padding_value": 1.5}, {"padding_side": "left"}):
        assert_close(rnn_utils.pad_sequence(e_seqs, **kwargs), T_RNN.pad_sequence(t_seqs, **kwargs).detach())
    e_packed = rnn_utils.pack_sequence(e_seqs, enforce_sorted=False)
    t_packed = T_RNN.pack_sequence(t_seqs, enforce_sorted=False)
    assert_close(e_packed.data, t_packed.data.detach())
    e_back, t_back = rnn_utils.unpack_sequence(e_packed), T_RNN.unpack_sequence(t_packed)
    assert_close(e_back, [t.detach() for t in t_back])
    backward_both(ember.cat([s * (i + 1) for i, s in enumerate(e_back)]),
                  torch.cat([s * (i + 1) for i, s in enumerate(t_back)]))
    for e, t in pairs:
        assert_close(e.grad, t.grad)
    padded = rnn_utils.pad_sequence(e_seqs)
    unpadded = rnn_utils.unpad_sequence(padded, ember.tensor(LENGTHS))
    assert [tuple(u.shape) for u in unpadded] == [(n, 3) for n in LENGTHS] and padded.shape == (5, 4, 3)


def test_invert_permutation_and_conversions():
    perm = ember.tensor([2, 0, 3, 1])
    assert rnn_utils.invert_permutation(perm).tolist() == T_RNN.invert_permutation(torch.tensor([2, 0, 3, 1])).tolist()
    assert rnn_utils.invert_permutation(None) is None
    packed = rnn_utils.pack_sequence([ember.ones(3, 2), ember.ones(1, 2)])
    assert packed.double().data.dtype is ember.float64 and packed.to(ember.float32) is packed
    assert packed.double().batch_sizes.tolist() == [2, 1, 1] and not packed.is_cuda


PACKED_CONFIGS = [
    ("RNN", {}),
    ("LSTM", {"num_layers": 2, "bidirectional": True}),
    ("LSTM", {"proj_size": 2, "bidirectional": True}),
    ("GRU", {"num_layers": 2, "bidirectional": True}),
]


@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported")
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize(("name", "kwargs"), PACKED_CONFIGS)
@pytest.mark.parametrize("given_state", [False, True])
def test_recurrent_layers_on_packed_input_match_torch(name, kwargs, dtype, given_state):
    em, tm = loaded(lambda lib: getattr(lib.nn, name)(2, 4, **kwargs), dtype)
    e_x, t_x = leaf((5, 4, 2), dtype, 1)
    e_in = rnn_utils.pack_padded_sequence(e_x, LENGTHS, enforce_sorted=False)
    t_in = T_RNN.pack_padded_sequence(t_x, LENGTHS, enforce_sorted=False)
    layers = kwargs.get("num_layers", 1) * (2 if kwargs.get("bidirectional") else 1)
    states = [leaf((layers, 4, kwargs.get("proj_size") or 4), dtype, 2), leaf((layers, 4, 4), dtype, 3)]
    states = states if name == "LSTM" else states[:1]
    e_hx = None if not given_state else tuple(e for e, _ in states) if name == "LSTM" else states[0][0]
    t_hx = None if not given_state else tuple(t for _, t in states) if name == "LSTM" else states[0][1]
    (e_out, e_h), (t_out, t_h) = em(e_in, e_hx), tm(t_in, t_hx)
    assert isinstance(e_out, rnn_utils.PackedSequence)
    assert_close(e_out.batch_sizes, t_out.batch_sizes)
    e_h, t_h = (e_h if name == "LSTM" else (e_h,)), (t_h if name == "LSTM" else (t_h,))
    close = CLOSE[dtype]
    assert_close([e_out.data, *e_h], [t_out.data.detach(), *(h.detach() for h in t_h)], **close)
    e_pad, _ = rnn_utils.pad_packed_sequence(e_out)
    t_pad, _ = T_RNN.pad_packed_sequence(t_out)
    g = [leaf(tuple(t.shape), dtype, 10 + i) for i, t in enumerate([t_pad, *t_h])]
    sum((o * gi[0].detach()).sum() for o, gi in zip([e_pad, *e_h], g, strict=True)).backward()
    sum((o * gi[1].detach()).sum() for o, gi in zip([t_pad, *t_h], g, strict=True)).backward()
    assert_close(e_x.grad, t_x.grad, **close)
    if given_state:
        for e, t in states:
            assert_close(e.grad, t.grad, **close)
    for (_, pe), (_, pt) in zip(em.named_parameters(), tm.named_parameters(), strict=True):
        assert_close(pe.grad, pt.grad, **close)


def test_packed_input_checks_hidden_size_like_torch():
    assert_same_error(lambda lib: lib.nn.GRU(2, 4)(lib.nn.utils.rnn.pack_sequence([lib.ones(3, 2), lib.ones(2, 2)]),
                                                   lib.zeros(1, 3, 4)))
    assert_same_error(lambda lib: lib.nn.GRU(3, 4)(lib.nn.utils.rnn.pack_sequence([lib.ones(3, 2)])))


@pytest.mark.parametrize("call", [
    lambda lib: lib.nn.utils.rnn.pack_padded_sequence(lib.zeros(4, 3, 2), [4, 2]),
    lambda lib: lib.nn.utils.rnn.pack_padded_sequence(lib.zeros(4, 3, 2), [2, 3, 1]),
    lambda lib: lib.nn.utils.rnn.pack_padded_sequence(lib.zeros(4, 3, 2), [3, 1, 0]),
    lambda lib: lib.nn.utils.rnn.pad_packed_sequence(
        lib.nn.utils.rnn.pack_padded_sequence(lib.zeros(4, 3, 2), [4, 2, 1]), total_length=3),
    lambda lib: lib.nn.utils.rnn.pad_sequence([]),
    lambda lib: lib.nn.utils.rnn.pad_sequence([lib.ones(2)], padding_side="middle"),
    lambda lib: lib.nn.utils.rnn.pad_sequence(5),
])
def test_errors_match_torch(call):
    assert_same_error(call)


def test_lengths_beyond_the_padded_input_are_refused():
    # PyTorch reads past the end of the input for these lengths; ember says what is wrong instead.
    with pytest.raises(RuntimeError, match=r"longest length in 'lengths' \(5\) exceeds the padded sequence length "
                                           r"\(4\)"):
        nn.utils.rnn.pack_padded_sequence(ember.zeros(4, 3, 2), [5, 2, 1])
    with pytest.raises(RuntimeError, match="'lengths' argument should be a 1D CPU int64 tensor"):
        nn.utils.rnn.pack_padded_sequence(ember.zeros(4, 3, 2), ember.tensor([[4, 2, 1]]))
    with pytest.raises(RuntimeError, match="trailing shape"):
        nn.utils.rnn.pad_sequence([ember.ones(2, 3), ember.ones(2, 4)])
