"""The runtime's executor: a compiled graph called with NumPy arrays, its checks, its manifest form, and
concurrent calls from many threads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import ember
from ember_runtime.cpu import compile_module
from ember_runtime.cpu.executor import Executor, Program

from ..jit.llvm.helpers import randn


def _compiled(fn, *examples, dynamic_dims=None):
    traced = ember.jit.trace(fn, examples, dynamic_dims=dynamic_dims, backend="llvm")
    assert traced.backend == "llvm"
    return traced, traced._compiled


def _two_input_graph():
    weight = randn(7, 5, seed=9)
    return _compiled(lambda x, y: (ember.tanh(x @ weight) * y.sum(1, keepdim=True), x.mean()),
                     randn(4, 7), randn(4, 3))


def test_numpy_calls_equal_eager_at_other_batch_sizes():
    traced, compiled = _two_input_graph()
    executor = compiled.executor
    for batch in (1, 4, 19):
        x, y = randn(batch, 7, seed=batch), randn(batch, 3, seed=batch + 1)
        got = executor.run([x.numpy(), y.numpy()])
        want = traced(x, y)
        for g, w in zip(got, want, strict=True):
            assert g.dtype == np.float32 and g.shape == tuple(w.shape)
            np.testing.assert_allclose(g, w.numpy(), rtol=1e-5, atol=1e-6)


def test_program_round_trips_through_its_manifest_form():
    _, compiled = _two_input_graph()
    program = compiled.program
    data = program.to_json()
    again = Program.from_json(data, program.ir_text)
    assert again.to_json() == data
    assert [str(d) for d in again.inputs[0].shape] == ["N", "7"]
    assert str(again.outputs[1].shape) == "()"
    executor = Executor(again, compiled.weights, compile_module(again.ir_text))
    x, y = randn(6, 7, seed=1).numpy(), randn(6, 3, seed=2).numpy()
    for g, w in zip(executor.run([x, y]), compiled.executor.run([x, y]), strict=True):
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("change, error, match", [
    (lambda d: d.pop("entry"), ValueError, "malformed program"),
    (lambda d: d.update(arena_size="M*4"), ValueError, "undeclared symbols"),
    (lambda d: d.update(arena_size="N+"), ValueError, "malformed size expression"),
    (lambda d: d["inputs"][0].update(dtype="float77"), ValueError, "unknown dtype 'float77'"),
    (lambda d: d["inputs"][0].update(dtype="object"), ValueError, "unknown dtype 'object'"),
    (lambda d: d.update(n_weights=-1), ValueError, "negative"),
    (lambda d: d["inputs"][0].update(shape=["M", 7]), ValueError, "undeclared"),
    # Sizes the code trusts must have exactly the JSON type the producer writes.
    (lambda d: d.update(n_weights=str(d["n_weights"])), ValueError, "'n_weights' must be a non-negative int"),
    (lambda d: d.update(packed_size=float(d["packed_size"])), ValueError, "'packed_size' must be"),
    (lambda d: d.update(packed_size=True), ValueError, "'packed_size' must be"),
    (lambda d: d["outputs"][0].update(shape={}), ValueError, "'shape' must be a non-negative list|must be a list"),
    (lambda d: d.update(symbol_ranges={"N": [1]}), ValueError, "range of 'N'"),
    (lambda d: d.update(symbols=["N", 3]), ValueError, "'symbols' must hold strings"),
])
def test_malformed_program_descriptions_are_refused(change, error, match):
    _, compiled = _two_input_graph()
    data = compiled.program.to_json()
    change(data)
    with pytest.raises(error, match=match):
        Program.from_json(data, compiled.program.ir_text)


def test_inputs_are_checked_and_named():
    _, compiled = _two_input_graph()
    run = compiled.executor.run
    x, y = np.ones((3, 7), np.float32), np.ones((3, 3), np.float32)
    with pytest.raises(TypeError, match="takes 2 inputs"):
        run([x])
    with pytest.raises(TypeError, match="input 'x' must have dtype float32, got float64"):
        run([x.astype(np.float64), y])
    with pytest.raises(RuntimeError, match="input 'y' must have 2 dims"):
        run([x, y[0]])
    with pytest.raises(RuntimeError, match=r"input 'x' must have shape \[N,7\], got \[3, 6\]"):
        run([x[:, :6], y])
    with pytest.raises(RuntimeError, match="input 'y' dim 0 is the symbolic size N, already bound to 3"):
        run([x, y[:2]])


def test_eight_threads_calling_at_once_get_what_one_thread_gets():
    _, compiled = _two_input_graph()
    executor = compiled.executor
    inputs = [(randn(b, 7, seed=b).numpy(), randn(b, 3, seed=b + 50).numpy()) for b in (1, 64, 5, 33, 2, 17, 8, 40)]
    serial = [executor.run(list(pair)) for pair in inputs]
    with ThreadPoolExecutor(max_workers=8) as pool:
        for _ in range(4):
            parallel = list(pool.map(lambda pair: executor.run(list(pair)), inputs * 3))
            for got, want in zip(parallel, serial * 3, strict=True):
                for g, w in zip(got, want, strict=True):
                    np.testing.assert_array_equal(g, w)
    assert 1 <= len(executor._workspaces) <= 8
