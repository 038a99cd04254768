"""Gradients of the view and shape ops (views.py, shape.py, view_composites.py) against PyTorch and gradcheck,
and in-place writes through views (CopySlices)."""

from __future__ import annotations

import numpy as np
import pytest

import ember
from tests.oracle import assert_close, pair, torch

FLOATS = [ember.float32, ember.float64]


def run_both(fn, shapes, dtype, *, noncontiguous=False, seed=0):
    """``fn(lib, *inputs)`` in ember and torch on the same leaves; backward with the same random upstream
    gradient(s); the outputs and every input's ``.grad`` must match."""
    es, ts = [], []
    for i, shape in enumerate(shapes):
        e, t = pair(shape, dtype, seed=seed + i, noncontiguous=noncontiguous)
        es.append(e.requires_grad_())
        ts.append(t.requires_grad_())
    out_e, out_t = fn(ember, *es), fn(torch, *ts)
    outs_e = list(out_e) if isinstance(out_e, tuple | list) else [out_e]
    outs_t = list(out_t) if isinstance(out_t, tuple | list) else [out_t]
    assert_close(outs_e, outs_t)
    ups = [pair(tuple(o.shape), dtype, seed=100 + k) for k, o in enumerate(outs_t)]
    ember.autograd.backward(outs_e, [u[0] for u in ups])
    torch.autograd.backward(outs_t, [u[1] for u in ups])
    for e, t in zip(es, ts, strict=True):
        if t.grad is None:  # the shape-only operand of view_as/expand_as
            assert e.grad is None
        else:
            assert_close(e.grad, t.grad)


def leaves(*shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [ember.tensor(rng.uniform(-2, 2, size=s), dtype=ember.float64, requires_grad=True) for s in shapes]


# (id, fn(lib, *inputs), input shapes): every case runs against torch and through gradcheck.
CASES = [
    ("view", lambda m, x: x.view(3, 4), [(2, 6)]),
    ("view_infer", lambda m, x: x.view(-1, 2, 1), [(2, 3, 2)]),
    ("view_0d", lambda m, x: x.view(1, 1), [()]),
    ("view_as", lambda m, x, y: x.view_as(y), [(2, 6), (12,)]),
    ("reshape_copy", lambda m, x: x.t().reshape(-1), [(3, 4)]),
    ("reshape_fn", lambda m, x: m.reshape(x, (4, 3)), [(2, 6)]),
    ("permute", lambda m, x: x.permute(2, 0, 1), [(2, 3, 4)]),
    ("permute_neg", lambda m, x: m.permute(x, (-1, -3, -2)), [(2, 3, 4)]),
    ("transpose", lambda m, x: x.transpose(0, -1), [(2, 3, 4)]),
    ("transpose_same", lambda m, x: x.transpose(1, -2), [(2, 3, 4)]),
    ("squeeze_all", lambda m, x: x.squeeze(), [(2, 1, 3, 1)]),
    ("squeeze_dim", lambda m, x: x.squeeze(-1), [(2, 1, 3, 1)]),
    ("squeeze_dims", lambda m, x: m.squeeze(x, (1, 0)), [(2, 1, 3)]),
    ("unsqueeze", lambda m, x: x.unsqueeze(-1), [(2, 3)]),
    ("unsqueeze_0d", lambda m, x: x.unsqueeze(0), [()]),
    ("expand", lambda m, x: x.expand(2, 3, 4), [(3, 1)]),
    ("expand_keep", lambda m, x: x.expand(-1, 4), [(3, 1)]),
    ("expand_0d", lambda m, x: x.expand(2, 3), [()]),
    ("expand_same", lambda m, x: x.expand(2, 3), [(2, 3)]),
    ("expand_as", lambda m, x, y: x.expand_as(y), [(1, 4), (3, 4)]),
    ("broadcast_to", lambda m, x: m.broadcast_to(x, (2, 2, 3)), [(1, 3)]),
    ("narrow", lambda m, x: x.narrow(-1, 1, 3), [(4, 5)]),
    ("narrow_neg_start", lambda m, x: m.narrow(x, 0, -2, 2), [(4, 5)]),
    ("narrow_empty", lambda m, x: x.narrow(1, 2, 0), [(4, 5)]),
    ("select", lambda m, x: x.select(1, -1), [(3, 4, 5)]),
    ("select_fn", lambda m, x: m.select(x, 0, 2), [(3, 4)]),
    ("diagonal", lambda m, x: x.diagonal(), [(4, 5)]),
    ("diagonal_above", lambda m, x: x.diagonal(1), [(4, 5)]),
    ("diagonal_below", lambda m, x: m.diagonal(x, -2), [(4, 5)]),
    ("diagonal_dims", lambda m, x: x.diagonal(0, -1, 0), [(3, 2, 4)]),
    ("diagonal_empty", lambda m, x: x.diagonal(7), [(4, 5)]),
    ("unfold_overlap", lambda m, x: x.unfold(0, 3, 2), [(7,)]),
    ("unfold_disjoint", lambda m, x: x.unfold(-1, 2, 3), [(3, 8)]),
    ("unfold_step1", lambda m, x: x.unfold(1, 3, 1), [(2, 5, 3)]),
    ("unfold_0d", lambda m, x: x.unfold(0, 1, 1), [()]),
    ("as_strided", lambda m, x: x.as_strided((2, 2), (1, 2)), [(3, 4)]),
    ("as_strided_offset", lambda m, x: m.as_strided(x, (2, 3), (4, 1), 5), [(3, 4)]),
    ("as_strided_overlap", lambda m, x: x.as_strided((3, 3), (1, 1)), [(3, 4)]),
    ("as_strided_of_view", lambda m, x: x.t().as_strided((2, 3), (3, 2), 1), [(3, 4)]),
    ("as_strided_of_offset_view", lambda m, x: x[1:].as_strided((2, 2), (4, 1), 6), [(3, 4)]),
    ("as_strided_of_expanded", lambda m, x: x.expand(3, 4).as_strided((2, 3), (1, 1)), [(4,)]),
    ("cat", lambda m, x, y: m.cat([x, y]), [(2, 3), (4, 3)]),
    ("cat_neg_dim", lambda m, x, y, z: m.cat((x, y, z), dim=-1), [(2, 3), (2, 1), (2, 2)]),
    ("cat_legacy_empty", lambda m, x, y: m.cat([x, y], 1), [(2, 3), (0,)]),
    ("concat", lambda m, x, y: m.concat([x, y], 0), [(1, 3), (2, 3)]),
    ("stack", lambda m, x, y, z: m.stack([x, y, z], 1), [(2, 3)] * 3),
    ("stack_neg", lambda m, x, y: m.stack((x, y), -1), [(2, 3)] * 2),
    ("stack_0d", lambda m, x, y: m.stack([x, y]), [()] * 2),
    ("hstack", lambda m, x, y: m.hstack([x, y]), [(2, 3), (2, 1)]),
    ("vstack", lambda m, x, y: m.vstack([x, y]), [(3,), (2, 3)]),
    ("dstack", lambda m, x, y: m.dstack([x, y]), [(2, 3), (2, 3)]),
    ("flip", lambda m, x: x.flip(0, -1), [(2, 3, 4)]),
    ("flip_fn", lambda m, x: m.flip(x, (1,)), [(2, 3)]),
    ("fliplr", lambda m, x: m.fliplr(x), [(2, 3)]),
    ("flipud", lambda m, x: x.flipud(), [(2, 3)]),
    ("roll", lambda m, x: x.roll(1, 0), [(3, 4)]),
    ("roll_dims", lambda m, x: m.roll(x, (1, -3), (0, -1)), [(3, 4)]),
    ("roll_flat", lambda m, x: x.roll(5), [(3, 4)]),
    ("tril", lambda m, x: x.tril(), [(4, 5)]),
    ("tril_diag", lambda m, x: m.tril(x, -1), [(2, 3, 3)]),
    ("triu", lambda m, x: x.triu(), [(4, 5)]),
    ("triu_diag", lambda m, x: m.triu(x, diagonal=2), [(2, 4, 5)]),
    ("repeat", lambda m, x: x.repeat(2, 1, 3), [(2, 3)]),
    ("repeat_0d", lambda m, x: x.repeat(2, 3), [()]),
    ("repeat_ones", lambda m, x: x.repeat(1, 1), [(2, 3)]),
    ("repeat_zero", lambda m, x: x.repeat(0, 2), [(2, 3)]),
    ("tile", lambda m, x: m.tile(x, (2,)), [(2, 3)]),
    ("repeat_interleave", lambda m, x: x.repeat_interleave(2, dim=0), [(3, 2)]),
    ("repeat_interleave_neg_dim", lambda m, x: m.repeat_interleave(x, 3, dim=-1), [(2, 2)]),
    ("repeat_interleave_flat", lambda m, x: x.repeat_interleave(2), [(2, 3)]),
    ("repeat_interleave_counts", lambda m, x: x.repeat_interleave(m.tensor([1, 0, 3]), dim=1), [(2, 3)]),
    ("repeat_interleave_one_count", lambda m, x: m.repeat_interleave(x, m.tensor([2]), dim=0), [(3, 2)]),
    # Composites of the primitives (view_composites.py): no formulas of their own, checked end to end.
    ("flatten", lambda m, x: x.flatten(), [(2, 3, 4)]),
    ("flatten_dims", lambda m, x: m.flatten(x, 1), [(2, 3, 4)]),
    ("unflatten", lambda m, x: x.unflatten(1, (2, -1)), [(3, 4)]),
    ("split", lambda m, x: x.split(2, dim=1), [(3, 5)]),
    ("split_sizes", lambda m, x: m.split(x, [1, 3], -1), [(2, 4)]),
    ("chunk", lambda m, x: x.chunk(3), [(5, 2)]),
    ("unbind", lambda m, x: x.unbind(1), [(2, 3)]),
    ("movedim", lambda m, x: m.movedim(x, 0, -1), [(2, 3, 4)]),
    ("t", lambda m, x: x.t(), [(2, 3)]),
    ("T", lambda m, x: x.T, [(2, 3)]),
    ("mT", lambda m, x: x.mT, [(2, 3, 4)]),
]
IDS = [c[0] for c in CASES]
# as_strided windows are relative to the storage, which pair's non-contiguous input lays out differently in
# torch (a compact copy); those cases build their non-contiguity from views in both libraries instead.
STORAGE_RELATIVE = {"as_strided", "as_strided_offset", "as_strided_overlap", "as_strided_of_view",
                    "as_strided_of_offset_view", "as_strided_of_expanded"}


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name, fn, shapes", CASES, ids=IDS)
def test_grad_matches_torch(name, fn, shapes, dtype):
    run_both(fn, shapes, dtype)


@pytest.mark.parametrize("name, fn, shapes", [c for c in CASES if c[0] not in STORAGE_RELATIVE and c[2][0]],
                         ids=[c[0] for c in CASES if c[0] not in STORAGE_RELATIVE and c[2][0]])
def test_grad_matches_torch_noncontiguous(name, fn, shapes):
    run_both(fn, shapes, ember.float32, noncontiguous=True, seed=7)


@pytest.mark.parametrize("name, fn, shapes", CASES, ids=IDS)
def test_gradcheck(name, fn, shapes):
    assert ember.autograd.gradcheck(lambda *xs: fn(ember, *xs), leaves(*shapes))


SECOND_ORDER = ["view", "reshape_copy", "permute", "squeeze_dim", "expand", "narrow", "select", "diagonal_dims",
                "unfold_overlap", "as_strided_overlap", "as_strided_of_expanded", "cat_neg_dim", "stack",
                "roll_dims", "triu_diag", "repeat", "repeat_interleave_counts", "split"]


@pytest.mark.parametrize("name", SECOND_ORDER)
def test_gradgradcheck(name):
    fn, shapes = next((c[1], c[2]) for c in CASES if c[0] == name)
    # Squaring makes the second derivative non-zero, so the double backward of the op itself is exercised.
    def squared(*xs):
        out = fn(ember, *xs)
        return [o * o for o in out] if isinstance(out, tuple | list) else out * out

    assert ember.autograd.gradgradcheck(squared, leaves(*shapes, seed=3))


def test_cat_of_mixed_dtypes_casts_each_gradient_back():
    x = ember.tensor([[1.0, 2.0]], dtype=ember.float32, requires_grad=True)
    y = ember.tensor([[3.0, 4.0]], dtype=ember.float64, requires_grad=True)
    out = ember.cat([x, y])
    assert out.dtype is ember.float64
    out.backward(ember.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=ember.float64))
    assert x.grad.dtype is ember.float32 and x.grad.tolist() == [[1.0, 2.0]]
    assert y.grad.dtype is ember.float64 and y.grad.tolist() == [[3.0, 4.0]]


def test_cat_and_stack_skip_inputs_that_do_not_require_grad():
    x = ember.ones(2, 3, requires_grad=True)
    c = ember.ones(1, 3)
    ember.cat([c, x, c]).backward(ember.arange(12.0).view(4, 3))
    assert x.grad.tolist() == [[3.0, 4.0, 5.0], [6.0, 7.0, 8.0]]
    assert c.grad is None
    x.grad = None
    ember.stack([c[0], x[1]], 1).backward(ember.arange(6.0).view(3, 2))
    assert x.grad.tolist() == [[0.0, 0.0, 0.0], [1.0, 3.0, 5.0]]


def test_expand_gradient_sums_leading_and_broadcast_dims():
    x = ember.tensor([[1.0], [2.0]], requires_grad=True)
    y = x.expand(3, 2, 4)
    assert y.grad_fn.name_() == "ExpandBackward0"
    y.backward(ember.ones(3, 2, 4))
    assert x.grad.tolist() == [[12.0], [12.0]]


def test_view_chain_backward_keeps_the_leaf_shape():
    x = ember.zeros(2, 3, 4, requires_grad=True)
    y = x.permute(2, 0, 1).reshape(4, 6).t().unsqueeze(0).narrow(1, 1, 4)
    y.backward(ember.ones(1, 4, 4))
    expected = torch.zeros(2, 3, 4, requires_grad=True)
    expected.permute(2, 0, 1).reshape(4, 6).t().unsqueeze(0).narrow(1, 1, 4).backward(torch.ones(1, 4, 4))
    assert_close(x.grad, expected.grad)


# ----- in-place writes through views: CopySlices ------------------------------------------------------
def _setitem_row(m, b, c):
    b[0] = c


def _mul_slice(m, b, c):
    b[:, 1:3].mul_(c)


def _fill_transposed_row(m, b, c):
    b.t()[1].fill_(0)


def _add_diagonal(m, b, c):
    b.diagonal().add_(c)


def _copy_into_narrow(m, b, c):
    b.narrow(1, 0, 2).copy_(c)


def _twice(m, b, c):
    b[1:].mul_(2)
    b[:, -1:].add_(c[:, :1])


def _through_view_of_view(m, b, c):
    b.view(4, 3)[1:3].select(1, 0).mul_(c[0, :2])


def _through_as_strided(m, b, c):
    b.as_strided((2, 2), (1, 4), 1).sub_(c[:2, :2])


def _index_put_accumulate(m, b, c):
    # An in-place op whose formula also sends gradient to the old values of the view it writes.
    b[1:].index_put_((m.tensor([0, 1, 0]),), c, accumulate=True)


INPLACE_CASES = [
    ("index_put_accumulate", _index_put_accumulate, (3, 4)),
    ("setitem", _setitem_row, (4,)),
    ("mul_slice", _mul_slice, (3, 2)),
    ("fill_transposed", _fill_transposed_row, (1,)),
    ("add_diagonal", _add_diagonal, (3,)),
    ("copy_narrow", _copy_into_narrow, (3, 2)),
    ("twice", _twice, (3, 4)),
    ("view_of_view", _through_view_of_view, (3, 4)),
    ("as_strided", _through_as_strided, (3, 4)),
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name, write, c_shape", INPLACE_CASES, ids=[c[0] for c in INPLACE_CASES])
def test_inplace_write_through_view_matches_torch(name, write, c_shape, dtype):
    a_e, a_t = pair((3, 4), dtype, seed=1)
    c_e, c_t = pair(c_shape, dtype, seed=2)
    for x in (a_e, a_t, c_e, c_t):
        x.requires_grad_()
    results = []
    for m, a, c in ((ember, a_e, c_e), (torch, a_t, c_t)):
        b = a * 1.5
        write(m, b, c)
        # A non-uniform upstream gradient: sin makes it depend on the written values too.
        (b.sin() * m.arange(12.0, dtype=b.dtype).view(3, 4)).sum().backward()
        results.append((b, a.grad, c.grad))
    (b_e, ga_e, gc_e), (b_t, ga_t, gc_t) = results
    assert_close(b_e, b_t)
    assert_close(ga_e, ga_t)
    if gc_t is None:
        assert gc_e is None
    else:
        assert_close(gc_e, gc_t)


def test_plain_sum_backward_after_slice_write():
    a = ember.ones(3, 4, requires_grad=True)
    c = ember.full((4,), 2.0, requires_grad=True)
    b = a * 3
    b[0] = c * c
    b.sum().backward()
    assert a.grad.tolist() == [[0.0] * 4, [3.0] * 4, [3.0] * 4]
    assert c.grad.tolist() == [4.0] * 4


def test_write_into_zeros_without_grad_makes_it_require_grad():
    x_e, x_t = pair((4,), ember.float64, seed=3)
    x_e.requires_grad_()
    x_t.requires_grad_()
    outs = []
    for m, x in ((ember, x_e), (torch, x_t)):
        out = m.zeros(3, 4, dtype=x.dtype)
        out[1] = x
        out[2, 1:3] = x[:2] * 2
        assert out.requires_grad and not out.is_leaf
        (out * m.arange(12.0, dtype=x.dtype).view(3, 4)).sum().backward()
        outs.append(out)
    assert_close(outs[0], outs[1])
    assert_close(x_e.grad, x_t.grad)


def test_inplace_write_double_backward():
    # The gradient of a CopySlices node is itself differentiable.
    def fn(a, c):
        b = a * a
        b[1:, :2] = c * c
        return b

    assert ember.autograd.gradgradcheck(fn, leaves((3, 4), (2, 2), seed=5))


def test_view_of_leaf_requiring_grad_refuses_inplace():
    a = ember.ones(2, 2, requires_grad=True)
    with pytest.raises(RuntimeError, match="a view of a leaf Variable that requires grad"):
        a[0].mul_(2)


def test_engine_sums_broadcast_gradients_to_new_leading_and_size_one_dims():
    # expand's formula reduces its own gradient; the engine's sum_to does the same for formulas that return
    # a broadcast gradient.
    from ember.autograd.engine import sum_to

    grad = ember.arange(24.0).view(2, 3, 4)
    assert_close(sum_to(grad, (3, 1)), torch.arange(24.0).view(2, 3, 4).sum((0, 2)).view(3, 1))
    assert_close(sum_to(grad, (1, 4)), torch.arange(24.0).view(2, 3, 4).sum((0, 1)).view(1, 4))
    assert_close(sum_to(grad, ()), torch.arange(24.0).sum())
