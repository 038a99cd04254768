"""A leaf keeps a fresh, unshared gradient as its ``.grad`` without a copy (as torch's AccumulateGrad does), and
copies every gradient something else can still see."""

from __future__ import annotations

import numpy as np

import ember
from ember.tensor.dispatch import add_dispatch_hook


def _ops_during(fn) -> list:
    names = []
    handle = add_dispatch_hook(lambda op, operands, attrs, out: names.append(op.name))
    try:
        fn()
    finally:
        handle.remove()
    return names


def test_fresh_gradients_are_kept_without_a_copy_and_accumulate_correctly():
    w = ember.randn(3, 4, requires_grad=True)
    x = ember.randn(5, 4)
    assert "clone" not in _ops_during(lambda: ember.nn.functional.linear(x, w).sum().backward())
    first = w.grad.clone()
    np.testing.assert_allclose(first.numpy(), np.tile(x.numpy().sum(0), (3, 1)), rtol=1e-5)
    ember.nn.functional.linear(x, w).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), 2 * first.numpy(), rtol=1e-5)


def test_shared_gradients_are_copied():
    a, b = ember.randn(3, requires_grad=True), ember.randn(3, requires_grad=True)
    (a + b).sum().backward()
    assert a.grad._storage is not b.grad._storage
    a.grad.add_(1)
    np.testing.assert_array_equal(b.grad.numpy(), np.ones(3, dtype=np.float32))

    kept = []
    c = ember.randn(3, requires_grad=True)
    c.register_hook(lambda g: kept.append(g))
    (c * 2).sum().backward()
    assert c.grad is not kept[0] and c.grad._storage is not kept[0]._storage

    leaf = ember.randn(3, requires_grad=True)
    given = ember.ones(3)
    leaf.backward(given)
    assert leaf.grad is not given
    leaf.grad.add_(1)
    np.testing.assert_array_equal(given.numpy(), np.ones(3, dtype=np.float32))
