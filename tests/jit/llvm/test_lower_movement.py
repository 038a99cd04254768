"""The copying shape ops (cat, stack, flip, roll, repeat, repeat_interleave, tril, triu), einsum, and the views
later kernels read (split, permute, chunk), against the reference interpreter at several batch sizes."""

from __future__ import annotations

import numpy as np
import pytest

import ember
from ember.jit.interpreter import run_graph

from .helpers import assert_matches_interpreter, compile_function, randint, randn


def _example(*shape: int, dtype, seed: int = 0) -> ember.Tensor:
    if dtype is ember.bool:
        return randn(*shape, seed=seed) > 0.2
    if dtype in (ember.int32, ember.int64):
        return randint(-50, 50, *shape, seed=seed, dtype=dtype)
    return randn(*shape, seed=seed, dtype=dtype)


def _assert_exact(traced, compiled, inputs) -> None:
    got, want = compiled(list(inputs)), run_graph(traced.graph, list(inputs), traced.params)
    for index, (g, w) in enumerate(zip(got, want, strict=True)):
        assert g.dtype is w.dtype and tuple(g.shape) == tuple(w.shape), f"output {index}"
        np.testing.assert_array_equal(g.numpy(), w.numpy(), err_msg=f"output {index}")


@pytest.mark.parametrize("dtype", [ember.float32, ember.float64, ember.int64, ember.bool])
def test_copying_shape_ops_match_the_interpreter_exactly(dtype):
    def shapes(x, y):
        # y is read transposed and sliced: every op reads a non-contiguous source too.
        yt = y.t()[:, 1:]
        return (ember.cat([x, yt, x[:, :1]], dim=1), ember.stack([x, yt], dim=-1), ember.stack([x, x], 0),
                x.flip(0, 1), yt.flip(-1), ember.roll(x, 2, 1), ember.roll(yt, (-1, 7), (0, 1)), ember.roll(x, -3),
                x.repeat(2, 1, 3), yt.repeat(1, 2), x.repeat_interleave(3, dim=1), yt.repeat_interleave(2, dim=0),
                ember.tril(x), ember.tril(yt, 1), ember.triu(x, -1), ember.triu(yt.unsqueeze(0).expand(2, -1, -1), 2))

    traced, compiled = compile_function(shapes, [_example(4, 5, dtype=dtype), _example(6, 4, dtype=dtype, seed=1)],
                                        dynamic_dims={0: {0: "B"}, 1: {1: "B"}})
    for batch in (4, 1, 7):
        _assert_exact(traced, compiled, [_example(batch, 5, dtype=dtype, seed=batch),
                                         _example(6, batch, dtype=dtype, seed=batch + 1)])


def test_cat_and_stack_promote_mixed_dtypes_and_skip_the_legacy_empty_tensor():
    empty = ember.zeros(0)

    def join(x, n):
        return ember.cat([x, n, empty], dim=0), ember.stack([n, x[:2]], dim=1), ember.cat([n.t(), x.t()], 1)

    traced, compiled = compile_function(join, [randn(3, 5), randint(-9, 9, 2, 5, dtype=ember.int32)],
                                        dynamic_dims={0: {0: "B"}, 1: {}})
    assert [n.op for n in traced.graph.nodes].count("cat") == 2
    for batch in (2, 3, 5):
        _assert_exact(traced, compiled, [randn(batch, 5, seed=batch), randint(-9, 9, 2, 5, seed=batch,
                                                                              dtype=ember.int32)])


def test_repeat_interleave_with_per_element_counts():
    counts = ember.tensor(np.array([2, 0, 3, 1]))

    def interleave(x):
        return x.repeat_interleave(counts, dim=1, output_size=6) * 1, ember.repeat_interleave(x[:, 0], 4, dim=0)

    traced, compiled = compile_function(interleave, [randn(3, 4)], dynamic_dims={0: {0: "B"}})
    for batch in (3, 1, 6):
        _assert_exact(traced, compiled, [randn(batch, 4, seed=batch)])


def test_repeat_interleave_counts_that_do_not_add_up_raise():
    def interleave(x, counts):
        return x.repeat_interleave(counts, dim=0, output_size=5)

    traced = ember.jit.trace(interleave, (randn(3, 2), ember.tensor(np.array([1, 2, 2]))), backend="llvm")
    assert traced.backend == "llvm"
    np.testing.assert_array_equal(traced(randn(3, 2), ember.tensor(np.array([0, 4, 1]))).shape, (5, 2))
    for bad in ([1, 1, 1], [3, 3, 3], [-1, 3, 3]):
        with pytest.raises(RuntimeError) as eager:
            interleave(randn(3, 2), ember.tensor(np.array(bad)))
        with pytest.raises(RuntimeError, match=str(eager.value)[:20]):
            traced(randn(3, 2), ember.tensor(np.array(bad)))


def test_views_feed_later_kernels_and_copies():
    def views(x):
        a, b = x.split([2, 3], dim=1)
        first, second = ember.chunk(x, 2, 0)
        return a * 2, b + 1, x.permute(1, 0).contiguous(), x.t().clone(), second - 1, first.flip(0)

    traced, compiled = compile_function(views, [randn(4, 5)], dynamic_dims={0: {0: "B"}})
    assert {"clone", "flip"} <= {n.op for n in traced.graph.nodes}
    for batch in (4, 2, 9):  # chunk makes two chunks from 2 rows on
        _assert_exact(traced, compiled, [randn(batch, 5, seed=batch)])


def test_einsum_equations():
    def contractions(x, y, z):
        stacked_x, stacked_y = x.unsqueeze(0).expand(2, -1, -1), y.unsqueeze(0).expand(2, -1, -1)
        return (ember.einsum("ij,jk->ik", x, y), ember.einsum("ii->i", z), ember.einsum("ij->", x),
                ember.einsum("bij,bjk->bik", stacked_x, stacked_y), ember.einsum("...j,kj", x, y.t()),
                ember.einsum("ij,ij,ij->j", x, x, x), ember.einsum("ij,kl->ijkl", x[:1], z), ember.einsum("ij", x.t()),
                ember.einsum("ij,j->i", x, z[:, :1].reshape(3)[:1].expand(3)))

    traced, compiled = compile_function(contractions, [randn(4, 3), randn(3, 5, seed=1), randn(3, 3, seed=2)],
                                        dynamic_dims={0: {0: "B"}})
    for batch in (4, 1, 6):
        assert_matches_interpreter(traced, compiled, [randn(batch, 3, seed=batch), randn(3, 5, seed=1),
                                                      randn(3, 3, seed=2)])


@pytest.mark.parametrize("dtype", [ember.int32, ember.float64])
def test_einsum_other_dtypes(dtype):
    def contractions(a, b):
        return ember.einsum("ij,jk->ik", a, b), ember.einsum("i,i->", a[0], a[1]), ember.einsum("ij->ji", b)

    make = (lambda *s, seed=0: randint(-5, 5, *s, seed=seed, dtype=dtype)) if dtype is ember.int32 else (
        lambda *s, seed=0: randn(*s, seed=seed, dtype=dtype))
    traced, compiled = compile_function(contractions, [make(3, 4), make(4, 2, seed=1)])
    assert_matches_interpreter(traced, compiled, [make(3, 4, seed=7), make(4, 2, seed=3)], rtol=1e-12, atol=1e-12)


def test_large_outputs_split_over_threads():
    # Outputs past two grains (64K elements) run their rows as parallel tasks: same results as one thread.
    index = randint(0, 260, 300, 260, seed=3, dtype=ember.int64)

    def large(x, w):
        return (x.flip(1), ember.roll(x, 5, 0), x.repeat(1, 2), ember.tril(x, 3), ember.gather(x, 1, index),
                x[index[:, 0]], ember.cat([x, x[:, ::2]], 1), x.repeat_interleave(2, dim=0),
                ember.eye(300, 260) * x, ember.einsum("ik,kj->ij", x[:, :3], w))

    traced, compiled = compile_function(large, [randn(300, 260), randn(3, 260, seed=1)])
    assert "ember_parallel_for" in compiled.lowered.ir_text
    assert_matches_interpreter(traced, compiled, [randn(300, 260, seed=2), randn(3, 260, seed=4)])


def test_einsum_sizes_that_differ_when_called_raise():
    # Label j is 4 in x but a dynamic size in y: the graph is right while they agree, and raises otherwise.
    traced = ember.jit.trace(lambda x, y: ember.einsum("ij,jk->ik", x, y), (randn(3, 4), randn(4, 2, seed=1)),
                             dynamic_dims={0: {0: "B"}, 1: {0: "J"}}, backend="llvm")
    assert traced.backend == "llvm"
    x, y = randn(5, 4, seed=2), randn(4, 2, seed=3)
    np.testing.assert_allclose(traced(x, y).numpy(), ember.einsum("ij,jk->ik", x, y).numpy(), rtol=1e-5)
    with pytest.raises(IndexError):
        traced(x, randn(6, 2, seed=4))
