"""Shared checks for the ember.nn.functional tests: forward values and gradients against torch."""

from __future__ import annotations

import ember
from tests.oracle import assert_close, pair, torch

TF = torch.nn.functional
FLOATS = [ember.float32, ember.float64]


class Fixed(tuple):
    """An (ember, torch) pair passed without requires_grad (for arguments torch does not differentiate)."""


def _leaves(args):
    """Copies of the float tensor arguments as leaves requiring grad, in ember and in torch."""
    e_args, t_args, leaves = [], [], []
    for arg in args:
        if isinstance(arg, tuple) and len(arg) == 2 and isinstance(arg[0], ember.Tensor):
            e, t = arg
            if e.dtype.is_floating_point and not isinstance(arg, Fixed):
                e, t = e.detach().clone().requires_grad_(), t.detach().clone().requires_grad_()
                leaves.append((e, t))
            e_args.append(e)
            t_args.append(t)
        else:
            e_args.append(arg)
            t_args.append(arg)
    return e_args, t_args, leaves


def check(e_fn, t_fn, *args, grad=True, tol=None, **kwargs):
    """Same outputs, and the same gradients for a random upstream gradient, for every float tensor argument."""
    names = list(kwargs)
    e_args, t_args, leaves = _leaves([*args, *kwargs.values()])
    e_kw, t_kw = dict(zip(names, e_args[len(args):], strict=True)), dict(zip(names, t_args[len(args):], strict=True))
    e_out, t_out = e_fn(*e_args[:len(args)], **e_kw), t_fn(*t_args[:len(args)], **t_kw)
    close = {} if tol is None else {"rtol": tol, "atol": tol}
    assert_close(e_out, t_out, **close)
    if not grad:
        return
    g_e, g_t = pair(tuple(t_out.shape), e_out.dtype, seed=99)
    e_out.backward(g_e)
    t_out.backward(g_t)
    for e, t in leaves:
        assert_close(e.grad, t.grad, **close)
