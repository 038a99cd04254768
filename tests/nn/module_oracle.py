"""Shared checks for layer tests: the same module in ember and torch with torch's weights loaded into ember
(strict, so the state_dict keys must match), then outputs and every gradient compared."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import ember
from tests.nn.layer_check import load_torch_state
from tests.oracle import DTYPES, assert_close, from_torch, torch

FLOATS = [ember.float32, ember.float64]
CLOSE = {ember.float32: {"rtol": 1e-4, "atol": 1e-5}, ember.float64: {"rtol": 1e-9, "atol": 1e-11}}


def loaded(build: Callable, dtype: ember.dtype = ember.float32, seed: int = 0):
    """``build(lib)`` in both libraries, in eval mode and ``dtype``, torch's random initial weights loaded into
    ember's module with ``load_state_dict(strict=True)``."""
    torch.manual_seed(seed)
    tm = build(torch).to(DTYPES[dtype]).eval()
    em = build(ember).to(dtype).eval()
    return load_torch_state(em, tm), tm


def leaf(shape: tuple, dtype: ember.dtype, seed: int):
    """A random leaf requiring grad in torch and an equal one in ember, as ``(ember, torch)``."""
    t = torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=DTYPES[dtype]).requires_grad_()
    return from_torch(t).requires_grad_(), t


def fixed(t: torch.Tensor):
    """A torch tensor (a mask, say) and its ember copy, passed without gradients."""
    return from_torch(t), t


def same(a: ember.Tensor, b: ember.Tensor) -> None:
    """Two ember tensors hold the same values."""
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-12, atol=0)


def flat(result) -> list:
    """The tensors of a (possibly nested) tuple result, in order, skipping ``None``."""
    if isinstance(result, tuple | list):
        return [t for item in result for t in flat(item)]
    return [] if result is None else [result]


def _side(arg, k: int):
    if isinstance(arg, list):
        return tuple(_side(a, k) for a in arg)
    return arg[k] if isinstance(arg, tuple) else arg


def check_same(em, tm, args: list, dtype: ember.dtype, **kwargs) -> None:
    """Call both modules with the same arguments: an ``(ember, torch)`` pair per tensor argument (a list of
    pairs for a tuple argument such as LSTM's ``(h_0, c_0)``), anything else passed as is, positionally or by
    keyword. Compares every result and, after backward with random upstream gradients on every result, the
    gradients of the leaf arguments and of every parameter."""
    e_out = flat(em(*(_side(a, 0) for a in args), **{k: _side(v, 0) for k, v in kwargs.items()}))
    t_out = flat(tm(*(_side(a, 1) for a in args), **{k: _side(v, 1) for k, v in kwargs.items()}))
    close = CLOSE[dtype]
    assert_close(e_out, [t.detach() for t in t_out], **close)
    grads = [leaf(tuple(t.shape), dtype, 100 + i) for i, t in enumerate(t_out)]
    sum((o * g[0]).sum() for o, g in zip(e_out, grads, strict=True)).backward()
    sum((o * g[1].detach()).sum() for o, g in zip(t_out, grads, strict=True)).backward()
    for e, t in _pairs([*args, *kwargs.values()]):
        if t.requires_grad:
            assert_close(e.grad, t.grad, **close)
    for (ne, pe), (nt, pt) in zip(em.named_parameters(), tm.named_parameters(), strict=True):
        assert ne == nt
        assert_close(pe.grad, pt.grad, **close)


def _pairs(arg) -> list:
    if isinstance(arg, list):
        return [p for a in arg for p in _pairs(a)]
    if isinstance(arg, tuple) and len(arg) == 2 and isinstance(arg[1], torch.Tensor):
        return [arg]
    return []


def raised(fn: Callable) -> tuple[type, str]:
    """The type and message of the exception ``fn()`` raises (it must raise)."""
    with pytest.raises(Exception) as info:
        fn()
    return info.type, str(info.value)


def assert_same_error(call: Callable) -> None:
    """``call(torch)`` and ``call(ember)`` raise the same exception type with the same message (modulo the
    library name)."""
    t_type, t_msg = raised(lambda: call(torch))
    e_type, e_msg = raised(lambda: call(ember))
    assert e_type is t_type
    assert e_msg == t_msg.replace("torch.", "ember.")
