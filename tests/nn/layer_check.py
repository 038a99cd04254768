"""Shared checks for the ember.nn layer tests: the same layer built in both libraries, torch's state_dict loaded
into ember's (strict, so the keys must match), then outputs and every gradient compared."""

from __future__ import annotations

import ember
from tests.nn.functional_check import check
from tests.oracle import DTYPES, assert_close, from_torch, torch


def load_torch_state(e_mod, t_mod):
    """``e_mod`` with ``t_mod``'s state_dict loaded strictly; the keys, in order, must be torch's."""
    assert list(e_mod.state_dict()) == list(t_mod.state_dict())
    result = e_mod.load_state_dict({k: from_torch(v) for k, v in t_mod.state_dict().items()}, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    return e_mod


def check_layer(e_mod, t_mod, *args, tol=None, **kwargs):
    """Same repr, outputs and gradients (of the float inputs and of every parameter) for a random upstream
    gradient; ``t_mod``'s state is loaded into ``e_mod`` first."""
    assert repr(e_mod) == repr(t_mod)
    load_torch_state(e_mod, t_mod)
    check(e_mod, t_mod, *args, tol=tol, **kwargs)
    close = {} if tol is None else {"rtol": tol, "atol": tol}
    e_params, t_params = dict(e_mod.named_parameters()), dict(t_mod.named_parameters())
    assert list(e_params) == list(t_params)
    for name, t_param in t_params.items():
        if t_param.requires_grad:
            assert_close(e_params[name].grad, t_param.grad, **close)


def torch_dtype(dtype: ember.dtype):
    return DTYPES[dtype]


def randomize(t_mod, seed: int = 0) -> None:
    """Random values for every floating parameter of a torch module, so loading them is a real check."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in t_mod.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype))
