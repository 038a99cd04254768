"""Parallel kernels (ember/jit/llvm/parallel.py): large element-wise, pooling, reduction and softmax kernels and
convolutions over images split over the worker pool give bit-identical results for 1, 2, 3 and 8 threads, equal to
the interpreter's; the five models too; compiled graphs called from 8 Python threads at once; small kernels make
no pool call."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember.jit.interpreter import run_graph
from ember.jit.llvm.lower import lower_graph

from ..models import MODELS
from .helpers import assert_matches_interpreter, compile_function, compile_model, randint, randn

THREAD_COUNTS = (1, 2, 3, 8)


@pytest.fixture(autouse=True)
def restore_thread_count():
    before = ember.get_num_threads()
    yield
    ember.set_num_threads(before)


def _per_thread_count(run) -> list[np.ndarray]:
    """``run()``'s outputs (numpy arrays) at each thread count, asserted bit-identical; returns the first."""
    results = {}
    for threads in THREAD_COUNTS:
        ember.set_num_threads(threads)
        results[threads] = [np.asarray(r) for r in run()]
    first = results[THREAD_COUNTS[0]]
    for threads, outputs in results.items():
        for index, (got, want) in enumerate(zip(outputs, first, strict=True)):
            np.testing.assert_array_equal(got, want, err_msg=f"output {index} with {threads} threads")
    return first


def _check_graph(fn, examples, calls, dynamic_dims=None, rtol=1e-5, atol=1e-6):
    """Compile ``fn``; for each input list in ``calls``: bit-identical for every thread count, and equal to the
    interpreter. Returns the lowered IR text."""
    traced, compiled = compile_function(fn, examples, dynamic_dims=dynamic_dims)
    for inputs in calls:
        _per_thread_count(lambda inputs=inputs: [t.numpy() for t in compiled(list(inputs))])
        assert_matches_interpreter(traced, compiled, inputs, rtol=rtol, atol=atol)
    return lower_graph(traced.graph).ir_text


def test_ember_thread_count_api():
    ember.set_num_threads(3)
    assert ember.get_num_threads() == 3
    for bad in (0, -1, 1.5, True):
        with pytest.raises(RuntimeError, match="set_num_threads expects"):
            ember.set_num_threads(bad)
    assert ember.get_num_threads() == 3


def test_large_elementwise_split_over_tasks_with_broadcast_and_views():
    def fn(x, bias, y):
        # x: [B, 48, 40, 33] float32; bias broadcast over channels; y viewed transposed (non-contiguous).
        z = (x * 1.5 + bias.view(1, 48, 1, 1)).relu() * x.sigmoid()
        return z, z + y.transpose(2, 3), (x > 0.25).to(ember.int32) + 7

    shape = (2, 48, 40, 33)
    bias, y = randn(48, seed=1), randn(2, 48, 33, 40, seed=2)
    ir_text = _check_graph(fn, [randn(*shape), bias, y], [[randn(*shape, seed=3), bias, y]])
    assert "ember_parallel_for" in ir_text
    # Contiguous one-dim loops over many elements (a single merged dim, cut into rows), float64 and a dynamic batch.
    ir_text = _check_graph(lambda a: (a.exp() - a) * 0.5, [randn(3, 70001, dtype=ember.float64)],
                           [[randn(b, 70001, seed=b, dtype=ember.float64)] for b in (1, 4)], dynamic_dims={0: {0: "B"}})
    assert "ember_parallel_for" in ir_text


def test_small_kernels_stay_on_one_thread():
    """Static small sizes emit no pool call at all; a dynamic batch calls the pool only when the size asks."""
    def fn(a, b):
        return (a * b).relu().sum(1).softmax(0), F.max_pool2d(a.view(1, 1, 17, 33), 2)

    traced, _ = compile_function(fn, [randn(17, 33), randn(17, 33)], dynamic_dims={})
    assert "ember_parallel_for" not in lower_graph(traced.graph).ir_text


def test_pooling_split_over_planes():
    def fn(x):
        values, indices = F.max_pool2d(x, 3, 2, 1, return_indices=True)
        return values, indices, F.avg_pool2d(x, 2, count_include_pad=False), F.avg_pool2d(x[:, :, 1:, :], (3, 2), 1, 1)

    _check_graph(fn, [randn(2, 24, 45, 47)], [[randn(b, 24, 45, 47, seed=b)] for b in (1, 3)],
                 dynamic_dims={0: {0: "B"}})
    # Integers, one plane per batch image with few channels.
    _check_graph(lambda x: F.max_pool2d(x, 2), [randint(-50, 50, 2, 3, 130, 128)],
                 [[randint(-50, 50, 2, 3, 130, 128, seed=4)]])


def test_convolutions_split_over_images():
    """The im2col + GEMM convolutions share out their images (ember/jit/llvm/conv.py), each task on its own
    scratch slot: fused relu + max_pool, a residual add + relu with filters that are a graph input (packed per
    call), a grouped strided conv (columns zeroed per task), rows that straddle panels on a sliced view (the GEMM
    packs the columns) and a large image whose scratch allows few tasks (one on AVX-512); batches of 1, 2 and 19
    (more images than tasks, split unevenly)."""
    w1, b1 = randn(16, 8, 3, 3, seed=1), randn(16, seed=2)
    w2, w3, w4 = randn(8, 4, 3, 3, seed=3), randn(5, 8, 3, 3, seed=4), randn(16, 3, 3, 3, seed=5)

    def fn(x, filters, residual, large):
        pooled = F.max_pool2d(F.relu(F.conv2d(x, w1, b1, padding=1)), 2)
        added = F.relu(F.conv2d(x, filters, padding=1) + residual)
        return (pooled, added, F.conv2d(x, w2, stride=2, padding=1, groups=2),
                F.conv2d(x[:, :, :, 1:], w3, padding=1), F.conv2d(large, w4, b1, padding=1))

    def inputs(batch: int) -> list:
        return [randn(batch, 8, 16, 16, seed=batch), randn(16, 8, 3, 3, seed=6), randn(batch, 16, 16, 16, seed=7),
                randn(batch, 3, 120, 120, seed=8)]

    batch = {0: "N"}
    ir_text = _check_graph(fn, inputs(2), [inputs(b) for b in (1, 2, 19)],
                           dynamic_dims={0: batch, 2: batch, 3: batch}, atol=1e-5)
    assert "conv_images" in ir_text and "ember_parallel_for" in ir_text


def test_reductions_and_softmax_split_over_rows():
    def fn(x):
        return (x.sum(-1), x.mean((1, 3), keepdim=True), x.amax(2), x.std(-1), x.sum(1),
                x.softmax(-1), x.log_softmax(1), x.transpose(1, 3).softmax(-1), x.sum())

    _check_graph(fn, [randn(2, 40, 37, 65)], [[randn(b, 40, 37, 65, seed=b)] for b in (1, 3)],
                 dynamic_dims={0: {0: "B"}}, rtol=1e-5, atol=1e-5)
    _check_graph(lambda x: (x.amin(0), x.sum(-1)), [randint(-1000, 1000, 300, 301, dtype=ember.int64)],
                 [[randint(-1000, 1000, 300, 301, seed=5, dtype=ember.int64)]])


@pytest.mark.parametrize("case", MODELS, ids=[case.name for case in MODELS])
def test_models_identical_for_any_thread_count(case):
    traced = compile_model(case)
    x = case.make(ember, 32, 64)
    got = _per_thread_count(lambda: [traced(x).numpy()])[0]
    want = run_graph(traced.graph, [x], traced.params)[0].numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())


def test_python_threads_call_compiled_graphs_at_once():
    """8 Python threads (the GIL is released in compiled code) share the pool: a call that finds it busy runs its
    tasks itself. Every result must be the single-threaded one."""
    def fn(x):
        return (x * 2.0 + 1.0).tanh().softmax(-1), x.sum(-1)

    traced, compiled = compile_function(fn, [randn(4, 256, 300)], dynamic_dims={0: {0: "B"}})
    inputs = [randn(2 + k % 3, 256, 300, seed=k) for k in range(8)]
    ember.set_num_threads(1)
    expected = [[t.numpy() for t in compiled([x])] for x in inputs]
    ember.set_num_threads(3)
    failures = []

    def worker(k: int) -> None:
        try:
            for _ in range(6):
                for got, want in zip(compiled([inputs[k]]), expected[k], strict=True):
                    np.testing.assert_array_equal(got.numpy(), want)
        except Exception as error:  # noqa: BLE001 - reported by the main thread
            failures.append(error)

    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a graph call hung"
    assert not failures, failures[0]
