"""RNN, LSTM, GRU and their cells against torch.nn with the same weights: outputs, final states and the gradients
of the input, the initial state and every parameter; names, repr, initialisation, dropout and errors."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

import ember
import ember.nn as nn
from tests.nn.module_oracle import CLOSE, FLOATS, assert_same_error, check_same, leaf, loaded, same
from tests.oracle import assert_close, torch

# torch notes that its oneDNN kernels lack LSTM projections; irrelevant to the comparison.
pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections is not supported")


def pair(name, *args, dtype=ember.float32, **kwargs):
    """``nn.<name>(*args, **kwargs)`` in both libraries, torch's weights loaded into ember's."""
    return loaded(lambda lib: getattr(lib.nn, name)(*args, **kwargs), dtype)


CONFIGS = [
    ("RNN", {}),
    ("RNN", {"nonlinearity": "relu", "num_layers": 2}),
    ("RNN", {"bidirectional": True, "bias": False}),
    ("LSTM", {}),
    ("LSTM", {"num_layers": 2, "bidirectional": True}),
    ("LSTM", {"proj_size": 3, "num_layers": 2, "bidirectional": True}),
    ("LSTM", {"batch_first": True, "bias": False}),
    ("GRU", {}),
    ("GRU", {"num_layers": 3, "bidirectional": True, "batch_first": True}),
    ("GRU", {"bias": False, "num_layers": 2}),
]


def state_shapes(name, kwargs, batch):
    layers = kwargs.get("num_layers", 1) * (2 if kwargs.get("bidirectional") else 1)
    h = (layers, *batch, kwargs.get("proj_size") or 6)
    return [h, (layers, *batch, 6)] if name == "LSTM" else [h]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize(("name", "kwargs"), CONFIGS)
def test_sequence_modules_match_torch(name, kwargs, dtype):
    em, tm = pair(name, 4, 6, dtype=dtype, **kwargs)
    shape = (3, 5, 4) if kwargs.get("batch_first") else (5, 3, 4)
    check_same(em, tm, [leaf(shape, dtype, 1)], dtype)


@pytest.mark.parametrize(("name", "kwargs"), CONFIGS)
def test_given_initial_state_and_unbatched_input(name, kwargs):
    dtype = ember.float64
    for batch in ((3,), ()):
        em, tm = pair(name, 4, 6, dtype=dtype, **kwargs)
        shape = ((3, 5, 4) if kwargs.get("batch_first") else (5, 3, 4)) if batch else (5, 4)
        states = [leaf(s, dtype, 10 + i) for i, s in enumerate(state_shapes(name, kwargs, batch))]
        hx = states if name == "LSTM" else states[0]
        check_same(em, tm, [leaf(shape, dtype, 2), hx], dtype)


def test_names_shapes_repr_and_flat_weights_match_torch():
    for name, kwargs in [*CONFIGS, ("LSTM", {"dropout": 0.5, "num_layers": 2}), ("RNN", {"nonlinearity": "relu"})]:
        em, tm = nn.__dict__[name](4, 6, **kwargs), getattr(torch.nn, name)(4, 6, **kwargs)
        assert [(n, tuple(p.shape)) for n, p in em.named_parameters()] == \
            [(n, tuple(p.shape)) for n, p in tm.named_parameters()]
        assert repr(em) == repr(tm)
        assert em._flat_weights_names == tm._flat_weights_names
        assert [[tuple(w.shape) for w in ws] for ws in em.all_weights] == \
            [[tuple(w.shape) for w in ws] for ws in tm.all_weights]
        assert em.flatten_parameters() is None


def test_init_is_uniform_within_one_over_sqrt_hidden():
    ember.manual_seed(0)
    em = nn.LSTM(64, 100, num_layers=2, proj_size=50)
    bound = 1 / math.sqrt(100)
    values = np.concatenate([p.detach().numpy().ravel() for p in em.parameters()])
    assert np.abs(values).max() <= bound
    assert abs(values.mean()) < 0.02 * bound
    assert abs(values.std() - bound / math.sqrt(3)) < 0.02 * bound
    cell = nn.GRUCell(8, 16)
    assert all(np.abs(p.detach().numpy()).max() <= 0.25 for p in cell.parameters())
    assert cell.weight_ih.dtype is ember.float32 and nn.RNN(2, 3, dtype=ember.float64).weight_hh_l0.dtype \
        is ember.float64


def test_dropout_between_layers_only_in_training():
    em, _ = pair("LSTM", 4, 6, num_layers=3, dropout=0.5)
    x = leaf((5, 3, 4), ember.float32, 3)[0]
    eval_out = em(x)[0]
    same(em(x)[0], eval_out)
    em.train()
    ember.manual_seed(1)
    first = em(x)[0]
    ember.manual_seed(2)
    second = em(x)[0]
    assert not np.allclose(first.detach().numpy(), eval_out.detach().numpy())
    assert not np.allclose(first.detach().numpy(), second.detach().numpy())
    first.sum().backward()
    assert all(p.grad is not None for p in em.parameters())
    no_dropout, _ = pair("GRU", 4, 6, num_layers=2)
    same(no_dropout.train()(x)[0], no_dropout.eval()(x)[0])


def test_dropout_on_a_single_layer_warns_like_torch():
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1, but got "
                                         "dropout=0.2 and num_layers=1"):
        nn.GRU(3, 4, dropout=0.2)


@pytest.mark.parametrize(("name", "kwargs"), [("RNNCell", {}), ("RNNCell", {"nonlinearity": "relu", "bias": False}),
                                              ("LSTMCell", {}), ("LSTMCell", {"bias": False}), ("GRUCell", {}),
                                              ("GRUCell", {"bias": False})])
@pytest.mark.parametrize("dtype", FLOATS)
def test_cells_match_torch(name, kwargs, dtype):
    em, tm = pair(name, 4, 6, dtype=dtype, **kwargs)
    assert repr(em) == repr(tm)
    assert [n for n, _ in em.named_parameters()] == [n for n, _ in tm.named_parameters()]
    check_same(em, tm, [leaf((3, 4), dtype, 1)], dtype)
    for batch in ((3,), ()):
        states = [leaf((*batch, 6), dtype, 20 + i) for i in range(2 if name == "LSTMCell" else 1)]
        hx = states if name == "LSTMCell" else states[0]
        em, tm = pair(name, 4, 6, dtype=dtype, **kwargs)
        check_same(em, tm, [leaf((*batch, 4), dtype, 2), hx], dtype)


def test_to_double_deepcopy_and_state_dict_round_trip():
    em, tm = pair("LSTM", 4, 6, num_layers=2, bidirectional=True)
    em.double()
    x = leaf((5, 3, 4), ember.float64, 4)
    assert_close(em(x[0])[0], tm.double()(x[1])[0].detach(), **CLOSE[ember.float64])
    clone = copy.deepcopy(em)
    same(clone(x[0])[0], em(x[0])[0])
    fresh = nn.LSTM(4, 6, num_layers=2, bidirectional=True, dtype=ember.float64)
    fresh.load_state_dict(em.state_dict())
    same(fresh(x[0])[1][1], em(x[0])[1][1])


@pytest.mark.parametrize("call", [
    lambda lib: lib.nn.LSTM(4, 6)(lib.zeros(5, 3, 3)),
    lambda lib: lib.nn.GRU(4, 6)(lib.zeros(5, 3, 4), lib.zeros(1, 2, 6)),
    lambda lib: lib.nn.GRU(4, 6)(lib.zeros(5, 3, 4), lib.zeros(2, 6)),
    lambda lib: lib.nn.RNN(4, 6)(lib.zeros(5, 4), lib.zeros(1, 1, 6)),
    lambda lib: lib.nn.RNN(4, 6)(lib.zeros(2, 5, 3, 4)),
    lambda lib: lib.nn.LSTM(4, 6)(lib.zeros(5, 3, 4), (lib.zeros(1, 3, 6), lib.zeros(1, 3, 5))),
    lambda lib: lib.nn.LSTM(4, 6)(lib.zeros(5, 3, 4), (lib.zeros(1, 3, 5), lib.zeros(1, 3, 6))),
    lambda lib: lib.nn.LSTM(4, 6)(lib.zeros(5, 3, 4), (lib.zeros(3, 6), lib.zeros(3, 6))),
    lambda lib: lib.nn.LSTM(4, 6)(lib.zeros(5, 4), (lib.zeros(1, 1, 6), lib.zeros(1, 1, 6))),
    lambda lib: lib.nn.LSTM(4, 6)(lib.zeros(0, 3, 4)),
    lambda lib: lib.nn.GRU(4, 6)(lib.zeros(5, 3, 4, dtype=lib.float64)),
    lambda lib: lib.nn.GRU(4, 6, proj_size=2),
    lambda lib: lib.nn.LSTM(4, 6, proj_size=6),
    lambda lib: lib.nn.LSTM(4, 6, proj_size=-1),
    lambda lib: lib.nn.RNN(4, 6, nonlinearity="gelu"),
    lambda lib: lib.nn.RNN(4, 6, dropout=1.5),
    lambda lib: lib.nn.RNN(4, 0),
    lambda lib: lib.nn.RNN(4, 6, num_layers=0),
    lambda lib: lib.nn.RNN(4.0, 6),
    lambda lib: lib.nn.RNN(4, 6, bias=1),
    lambda lib: lib.nn.RNNCell(4, 6)(lib.zeros(2, 5)),
    lambda lib: lib.nn.RNNCell(4, 6)(lib.zeros(2, 4), lib.zeros(3, 6)),
    lambda lib: lib.nn.GRUCell(4, 6)(lib.zeros(2, 4), lib.zeros(2, 5)),
    lambda lib: lib.nn.GRUCell(4, 6)(lib.zeros(2, 2, 4)),
    lambda lib: lib.nn.GRUCell(4, 6)(lib.zeros(2, 4), lib.zeros(1, 2, 6)),
    lambda lib: lib.nn.LSTMCell(4, 6)(lib.zeros(2, 4), (lib.zeros(2, 6), lib.zeros(3, 6))),
    lambda lib: lib.nn.LSTMCell(4, 6)(lib.zeros(4), (lib.zeros(6), lib.zeros(2, 2, 6))),
])
def test_errors_match_torch(call):
    assert_same_error(call)
