"""ember.nn.utils parameters_to_vector and vector_to_parameters against torch.nn.utils: values, order, gradients
through the vector, the parameters' data becoming views of the vector, and the errors."""

from __future__ import annotations

import pytest

import ember
import ember.nn as nn
from tests.nn.layer_check import load_torch_state, randomize
from tests.oracle import assert_close, pair, torch


def _models():
    t_model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Conv1d(2, 3, 2, bias=False))
    randomize(t_model)
    e_model = nn.Sequential(nn.Linear(3, 4), nn.Conv1d(2, 3, 2, bias=False))
    return load_torch_state(e_model, t_model), t_model


def test_parameters_to_vector_matches_torch():
    e_model, t_model = _models()
    e_vec = nn.utils.parameters_to_vector(e_model.parameters())
    t_vec = torch.nn.utils.parameters_to_vector(t_model.parameters())
    assert_close(e_vec, t_vec.detach())
    g_e, g_t = pair(tuple(t_vec.shape), ember.float32, seed=5)
    (e_vec * g_e).sum().backward()
    (t_vec * g_t).sum().backward()
    for e_p, t_p in zip(e_model.parameters(), t_model.parameters(), strict=True):
        assert_close(e_p.grad, t_p.grad)


def test_vector_to_parameters_matches_torch():
    e_model, t_model = _models()
    count = sum(p.numel() for p in t_model.parameters())
    e_vec, t_vec = pair((count,), ember.float32, seed=3)
    params = list(e_model.parameters())
    assert nn.utils.vector_to_parameters(e_vec, e_model.parameters()) is None
    torch.nn.utils.vector_to_parameters(t_vec, t_model.parameters())
    for e_p, (name, t_p) in zip(e_model.parameters(), t_model.named_parameters(), strict=True):
        assert_close(e_p.detach(), t_p.detach())
        assert e_model.state_dict()[name].shape == t_p.shape
    # The parameters stay the same objects (optimizers keep working) and now share the vector's memory.
    assert all(a is b for a, b in zip(params, e_model.parameters(), strict=True))
    e_vec[0] = 42.0
    assert params[0].detach().reshape(-1)[0].item() == 42.0
    t_vec[0] = 42.0
    assert_close(nn.utils.parameters_to_vector(e_model.parameters()), t_vec)


@pytest.mark.parametrize("bad", [[1.0, 2.0], 3, None])
def test_vector_to_parameters_type_error(bad):
    name = type(bad).__name__
    with pytest.raises(TypeError, match=f"expected torch.Tensor, but got: {name}"):
        torch.nn.utils.vector_to_parameters(bad, [])
    with pytest.raises(TypeError, match=f"expected ember.Tensor, but got: {name}"):
        nn.utils.vector_to_parameters(bad, [])
