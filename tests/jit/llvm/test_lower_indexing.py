"""Index ops (gather, take, advanced indexing, scatter and its reductions, index_add, index_put_, masked_fill) and
the in-place writes the tracer records on intermediates (fill_, copy_, index_put_), against the interpreter."""

from __future__ import annotations

import numpy as np
import pytest

import ember
from ember.jit.interpreter import run_graph

from .helpers import assert_matches_interpreter, compile_function, randint, randn


def _assert_exact(traced, compiled, inputs) -> None:
    got, want = compiled(list(inputs)), run_graph(traced.graph, list(inputs), traced.params)
    for index, (g, w) in enumerate(zip(got, want, strict=True)):
        assert g.dtype is w.dtype and tuple(g.shape) == tuple(w.shape), f"output {index}"
        np.testing.assert_array_equal(g.numpy(), w.numpy(), err_msg=f"output {index}")


@pytest.mark.parametrize("dtype", [ember.float32, ember.int64])
def test_reads_at_index_tensors(dtype):
    def reads(x, rows, cols):
        xt = x.t()  # a non-contiguous source
        return (ember.gather(x, 1, cols), ember.gather(xt, 0, cols.t()[:2]), ember.take(x, rows), ember.take(xt, cols),
                x[rows], x[:, rows[:2]], x[rows, rows], x[rows[:, None], cols[:1]], xt[1:, rows], x[rows, 1:][:, 0])

    def make(batch, seed):
        source = randn(batch, 5, seed=seed) * 10
        return [source.to(dtype), randint(-batch, batch, 3, seed=seed, dtype=ember.int64),
                randint(0, 5, batch, 4, seed=seed, dtype=ember.int64)]

    traced, compiled = compile_function(reads, make(4, 0), dynamic_dims={0: {0: "B"}, 2: {0: "B"}})
    for batch in (4, 1, 7):
        inputs = make(batch, batch)
        inputs[1] = randint(-1, 1, 3, seed=batch, dtype=ember.int64)  # in range for every batch, negatives too
        _assert_exact(traced, compiled, inputs)


def test_int32_indices():
    def reads(x, i, signed):
        return ember.gather(x, 0, i[None, :].expand(2, -1)), x[signed], ember.index_select(x, 1, i)

    make = [randn(5, 6), randint(0, 5, 4, dtype=ember.int32), randint(-5, 5, 3, dtype=ember.int32)]
    traced, compiled = compile_function(reads, make)
    _assert_exact(traced, compiled, [randn(5, 6, seed=2), randint(0, 5, 4, seed=3, dtype=ember.int32),
                                     randint(-5, 5, 3, seed=4, dtype=ember.int32)])


@pytest.mark.parametrize("op", ["gather", "take", "index", "scatter", "index_add", "index_put"])
def test_an_index_out_of_range_raises(op):
    def run(x, i):
        if op == "gather":
            return ember.gather(x, 1, i[None, :].expand(x.shape[0], -1))
        if op == "take":
            return ember.take(x, i)
        if op == "index":
            return x[:, i]
        if op == "scatter":
            return x.scatter_add(1, i[None, :].expand(x.shape[0], -1), x[:, :3])
        if op == "index_add":
            return ember.index_add(x, 1, i, x[:, :3])
        y = x + 1
        y[:, i] = 0.5
        return y

    traced = ember.jit.trace(run, (randn(4, 5), ember.tensor(np.array([0, 4, 2]))), backend="llvm")
    assert traced.backend == "llvm"
    good = ember.tensor(np.array([1, 3, 0]))
    np.testing.assert_allclose(traced(randn(4, 5), good).numpy(), run(randn(4, 5), good).numpy(), rtol=1e-6)
    too_big = 25 if op == "take" else 5
    for bad in (too_big, -too_big - 1):
        with pytest.raises((IndexError, RuntimeError)) as eager:
            run(randn(4, 5), ember.tensor(np.array([0, bad, 1])))
        with pytest.raises(type(eager.value), match="out of bounds"):  # the eager op's exception type
            traced(randn(4, 5), ember.tensor(np.array([0, bad, 1])))


@pytest.mark.parametrize("dtype", [ember.float32, ember.float64, ember.int32])
def test_scatter_family_with_repeated_indices(dtype):
    index = ember.tensor(np.array([[0, 2, 0, 1, 2], [1, 1, 1, 0, 3], [3, 0, 0, 0, 2]]))

    def scatters(x, s):
        out = [ember.scatter(x, 0, index, s), x.scatter_add(0, index, s), x.scatter(1, index[:, :2], 7),
               x.scatter_reduce(0, index, s, "sum", include_self=False), x.scatter_reduce(0, index, s, "prod"),
               x.scatter_reduce(0, index, s, "amax", include_self=False), x.scatter_reduce(0, index, s, "amin"),
               ember.index_add(x.t(), 0, index[0], x.t()[1:] * 3, alpha=2),
               ember.index_add(x, 1, index[2, :5], x[:, 1:]),
               x.scatter_reduce(0, index, s, "mean"),
               x.scatter_reduce(1, index[:, :2], s[:, :2], "mean", include_self=False)]
        return out

    def make(batch, seed):
        if dtype is ember.int32:
            return [randint(-20, 20, batch, 6, seed=seed), randint(-20, 20, 5, 6, seed=seed + 1)]
        return [randn(batch, 6, seed=seed, dtype=dtype), randn(5, 6, seed=seed + 1, dtype=dtype)]

    traced, compiled = compile_function(scatters, make(4, 0), dynamic_dims={0: {0: "B"}})
    for batch in (4, 7):
        # Sums of repeated indices run in the same order as the eager kernel's: bit-identical.
        _assert_exact(traced, compiled, make(batch, batch))


def test_masked_fill_broadcasts_and_converts():
    def fills(x, m):
        return (x.masked_fill(m, -1.5), x.t().masked_fill(x.t() > 0, 2), x.to(ember.int32).masked_fill(m[:1], 3),
                (x > 0).masked_fill(m, True), x.masked_fill(m[:, :1], float("inf")))

    traced, compiled = compile_function(fills, [randn(4, 5), randn(4, 5, seed=1) > 0], dynamic_dims={0: {0: "B"},
                                                                                                   1: {0: "B"}})
    for batch in (4, 1, 6):
        _assert_exact(traced, compiled, [randn(batch, 5, seed=batch), randn(batch, 5, seed=batch + 1) > 0])


def test_masked_fill_with_a_value_tensor_that_requires_grad():
    value = ember.tensor(0.25, requires_grad=True)
    traced, compiled = compile_function(lambda x: x.masked_fill(x > 0.5, value), [randn(3, 4)],
                                        dynamic_dims={0: {0: "B"}})
    assert [n.op for n in traced.graph.nodes][-1] == "masked_fill"
    assert_matches_interpreter(traced, compiled, [randn(5, 4, seed=5)])


def test_in_place_writes_on_intermediates():
    index = ember.tensor(np.array([2, 0, 2]))

    def writes(x, v):
        y = x * 2
        y.fill_(3)
        z = x + 1
        z.copy_(x.t().t() * 5)
        w = x - 1
        w.index_put_((index,), v, accumulate=True)
        u = x * 1
        u[index] = 0.5
        n = x.to(ember.int32)
        n.copy_(x * 10)
        q = x + 0
        q[:, index] = v[:1, :3] + 9
        return y, z, w, u, n, q

    traced, compiled = compile_function(writes, [randn(4, 6), randn(3, 6, seed=1)], dynamic_dims={0: {0: "B"}})
    assert {"fill_", "copy_", "index_put_"} <= {n.op for n in traced.graph.nodes}
    for batch in (4, 3, 8):
        _assert_exact(traced, compiled, [randn(batch, 6, seed=batch), randn(3, 6, seed=batch + 1)])


def test_a_write_through_a_view_is_refused_by_the_tracer():
    def through_view(x):
        y = x * 2
        y[0] = 1
        return y

    with pytest.raises(ember.jit.TracingError):
        ember.jit.trace(through_view, (randn(3, 4),))


def test_non_adjacent_index_dims_and_bool_data():
    def reads(x, i, j, flags):
        # Index tensors at dims 0 and 2 (not adjacent): the broadcast index dims go in front.
        y = flags.clone()
        y[j[:2]] = flags[:1]
        return (x[i, :, j], x[:, i[:1]][..., j[None, :2]], ember.gather(flags, 1, j[None, :].expand(2, -1)),
                ember.take(flags, i), flags[i], y, ember.scatter(flags, 0, j[None, :3], ~flags[:1]),
                flags.masked_fill(~flags, True))

    def make(seed):
        return [randn(4, 3, 5, seed=seed), randint(-3, 3, 3, seed=seed, dtype=ember.int64),
                randint(0, 3, 3, seed=seed + 1, dtype=ember.int64), randn(4, 5, seed=seed) > 0]

    traced, compiled = compile_function(reads, make(0), dynamic_dims={0: {}, 1: {}, 2: {}, 3: {}})
    for seed in (1, 2):
        _assert_exact(traced, compiled, make(seed))
