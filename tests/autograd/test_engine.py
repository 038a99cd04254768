"""The autograd engine: grad modes, leaves, hooks, retain_graph, autograd.grad, higher order, deep graphs."""

from __future__ import annotations

import gc
import sys
import tracemalloc

import numpy as np
import pytest

import ember
from tests.oracle import assert_close, torch


def leaf(values, dtype=ember.float64):
    return ember.tensor(values, dtype=dtype, requires_grad=True)


def test_requires_grad_flags_and_leaves():
    x = leaf([1.0, 2.0])
    y = x * 2
    assert x.requires_grad and x.is_leaf and x.grad_fn is None
    assert y.requires_grad and not y.is_leaf and repr(y.grad_fn) == "<MulBackward0>"
    assert not (y > 1).requires_grad
    assert not ember.ones(2).requires_grad
    with pytest.raises(RuntimeError, match="only Tensors of floating point dtype can require gradients"):
        ember.tensor([1, 2]).requires_grad_()
    with pytest.raises(RuntimeError, match="you can only change requires_grad flags of leaf variables"):
        y.requires_grad = False
    assert "grad_fn=<MulBackward0>" in repr(y)


def test_backward_accumulates_into_leaves():
    x = leaf([1.0, 2.0, 3.0])
    (x * x).sum().backward()
    assert x.grad.tolist() == [2.0, 4.0, 6.0]
    (x * 3).sum().backward()
    assert x.grad.tolist() == [5.0, 7.0, 9.0]
    assert x.grad.grad_fn is None and not x.grad.requires_grad


def test_shared_upstream_gradient_does_not_alias_two_grads():
    a, b = leaf([1.0]), leaf([2.0])
    (a + b).sum().backward()
    a.grad.add_(10)
    assert b.grad.tolist() == [1.0]


def test_backward_needs_a_scalar_or_a_gradient():
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar outputs"):
        (x * 2).backward()
    (x * 2).backward(ember.tensor([1.0, 0.5], dtype=ember.float64))
    assert x.grad.tolist() == [2.0, 1.0]
    with pytest.raises(RuntimeError, match="element 0 of tensors does not require grad"):
        ember.ones(1).sum().backward()


def test_grad_modes():
    x = leaf([1.0])
    with ember.no_grad():
        assert not (x * 2).requires_grad
        with ember.enable_grad():
            assert (x * 2).requires_grad
    with ember.set_grad_enabled(False):
        assert not ember.is_grad_enabled()
    assert ember.is_grad_enabled()

    @ember.no_grad()
    def doubled(t):
        return t * 2

    assert not doubled(x).requires_grad
    with ember.inference_mode():
        assert not (x * 2).requires_grad and ember.is_inference_mode_enabled()
    ember.set_grad_enabled(False)
    assert not ember.is_grad_enabled()
    ember.set_grad_enabled(True)


def test_second_backward_needs_retain_graph():
    x = leaf([1.0, 2.0])
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    assert_close(x.grad, 2 * torch.tensor([1.0, 2.0], dtype=torch.float64).exp() * torch.tensor([2.0, 3.0],
                                                                                                 dtype=torch.float64))
    with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time"):
        y.backward()


def test_autograd_grad_returns_without_accumulating():
    x, w = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    (gx, gw) = ember.autograd.grad((x * w).sum(), [x, w])
    assert gx.tolist() == [3.0, 4.0] and gw.tolist() == [1.0, 2.0]
    assert x.grad is None and w.grad is None
    unused = leaf([0.0])
    with pytest.raises(RuntimeError, match="appears to not have been used in the graph"):
        ember.autograd.grad((x * 2).sum(), [x, unused])
    assert ember.autograd.grad((x * 2).sum(), [x, unused], allow_unused=True)[1] is None


def test_higher_order_gradients():
    x = leaf([0.3, -0.7])
    (g,) = ember.autograd.grad((x * x * x).sum(), x, create_graph=True)
    assert g.requires_grad
    (gg,) = ember.autograd.grad(g.sum(), x)
    assert_close(gg, 6 * torch.tensor([0.3, -0.7], dtype=torch.float64))


def test_hooks_on_leaves_and_intermediates():
    x = leaf([1.0, 2.0])
    seen = []
    handle = x.register_hook(lambda g: g * 10)
    y = x * 3
    y.register_hook(lambda g: seen.append(g.tolist()))
    y.sum().backward()
    assert seen == [[1.0, 1.0]] and x.grad.tolist() == [30.0, 30.0]
    handle.remove()
    x.grad = None
    (x * 3).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]
    with pytest.raises(RuntimeError, match="cannot register a hook on a tensor that doesn't require gradient"):
        ember.ones(1).register_hook(lambda g: g)


def test_retain_grad_keeps_intermediate_grads():
    x = leaf([1.0, 2.0])
    y = x * 2
    y.retain_grad()
    (y * y).sum().backward()
    assert y.retains_grad and y.grad.tolist() == [4.0, 8.0]
    z = x * 2
    (z * z).sum().backward()
    assert z.grad is None


def test_detach_and_data_cut_the_graph():
    x = leaf([1.0, 2.0])
    y = x * 2
    d = y.detach()
    assert not d.requires_grad and d.is_leaf
    d.fill_(0)
    assert y.tolist() == [0.0, 0.0]
    assert not x.data.requires_grad
    y2 = x * 2
    y2.detach_()
    assert not y2.requires_grad and y2.grad_fn is None


def test_in_place_on_a_leaf_that_requires_grad_is_refused():
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place"):
        x.add_(1)
    with pytest.raises(RuntimeError, match="a view of a leaf Variable that requires grad"):
        x[0].fill_(3)
    with ember.no_grad():
        x.add_(1)
    assert x.tolist() == [2.0, 3.0]


def test_modified_saved_tensor_is_detected():
    x = leaf([1.0, 2.0])
    y = x * 1
    z = (y * y).sum()
    y.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.backward()


def test_in_place_on_intermediate_matches_torch():
    def run(lib, requires):
        x = lib.tensor([1.0, -2.0, 3.0], dtype=lib.float64, requires_grad=True)
        b = lib.tensor([0.5, 0.25, 2.0], dtype=lib.float64, requires_grad=True)
        y = x * 2
        y.mul_(b)
        y.add_(x)
        (y * y).sum().backward()
        return x.grad, b.grad

    for mine, ref in zip(run(ember, True), run(torch, True), strict=True):
        assert_close(mine, ref)


def test_custom_function():
    class Cube(ember.autograd.Function):
        @staticmethod
        def forward(ctx, x, scale):
            ctx.save_for_backward(x)
            ctx.scale = scale
            return x * x * x * scale

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            assert ctx.needs_input_grad == (True, False)
            return 3 * x * x * ctx.scale * grad, None

    x = leaf([1.0, 2.0])
    y = Cube.apply(x, 2.0)
    assert repr(y.grad_fn) == "<CubeBackward0>" or y.grad_fn is not None
    y.sum().backward()
    assert x.grad.tolist() == [6.0, 24.0]
    assert ember.autograd.gradcheck(lambda t: Cube.apply(t, 1.5), (leaf([0.4, -1.2]),))


def test_custom_function_non_differentiable_output():
    class SortedWithIndex(ember.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            idx = ember.tensor([1, 0])
            ctx.mark_non_differentiable(idx)
            return x * 1, idx

        @staticmethod
        def backward(ctx, grad, grad_idx):
            return grad

    out, idx = SortedWithIndex.apply(leaf([1.0, 2.0]))
    assert out.requires_grad and not idx.requires_grad


def test_gradcheck_reports_a_wrong_formula():
    class Wrong(ember.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * x

        @staticmethod
        def backward(ctx, grad):
            return grad

    with pytest.raises(ember.autograd.GradcheckError, match="Jacobian mismatch"):
        ember.autograd.gradcheck(Wrong.apply, (leaf([0.5, 1.5]),))
    assert not ember.autograd.gradcheck(Wrong.apply, (leaf([1.5]),), raise_exception=False)


def test_detect_anomaly_names_the_op():
    x = leaf([0.0, 1.0])
    with ember.autograd.detect_anomaly(), pytest.raises(RuntimeError, match="'SqrtBackward0' returned nan"):
        (x.sqrt() * 0).sum().backward()


def test_deep_graph_has_no_recursion_limit():
    x = leaf([1.0])
    y = x
    for _ in range(max(sys.getrecursionlimit() * 3, 5000)):
        y = y * 1.0001
    y.sum().backward()
    assert x.grad.item() == pytest.approx(1.0001 ** max(sys.getrecursionlimit() * 3, 5000), rel=1e-9)


def test_training_steps_keep_memory_flat():
    rng = np.random.default_rng(0)
    w = ember.tensor(rng.standard_normal((8, 4)), dtype=ember.float32, requires_grad=True)
    x = ember.tensor(rng.standard_normal((16, 8)), dtype=ember.float32)

    def step():
        loss = ((x @ w).tanh() ** 2).mean()
        loss.backward()
        with ember.no_grad():
            w.sub_(0.01 * w.grad)
        w.grad = None

    for _ in range(200):
        step()
    gc.collect()
    gc.disable()
    try:
        tracemalloc.start()
        base, _ = tracemalloc.get_traced_memory()
        for _ in range(10_000):
            step()
        grown = tracemalloc.get_traced_memory()[0] - base
        tracemalloc.stop()
        # Reference counting alone must free every graph: no cycles left for the collector.
        assert gc.collect() == 0
    finally:
        gc.enable()
    assert grown < 256 * 1024, f"memory grew by {grown} bytes over 10,000 steps"


@pytest.mark.parametrize("factory", [
    lambda: ember.zeros(2, requires_grad=True), lambda: ember.ones(2, requires_grad=True),
    lambda: ember.full((2,), 3.0, requires_grad=True), lambda: ember.empty(2, requires_grad=True),
    lambda: ember.tensor([1.0, 2.0], requires_grad=True), lambda: ember.randn(2, requires_grad=True),
    lambda: ember.rand(2, requires_grad=True), lambda: ember.arange(2.0, requires_grad=True),
    lambda: ember.linspace(0, 1, 2, requires_grad=True), lambda: ember.eye(2, requires_grad=True),
    lambda: ember.zeros_like(ember.ones(2), requires_grad=True),
    lambda: ember.randn_like(ember.ones(2), requires_grad=True),
])
def test_factories_take_requires_grad(factory):
    t = factory()
    assert t.requires_grad and t.is_leaf


def test_integer_factory_refuses_requires_grad():
    with pytest.raises(RuntimeError, match="only Tensors of floating point dtype can require gradients"):
        ember.arange(3, requires_grad=True)
