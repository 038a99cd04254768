"""CompiledGraph and the ``backend=`` switch of ``ember.jit.trace``: unlowered ops fail clearly (and the traced
module falls back to the interpreter), the arena is reused across calls, EMBER_DEBUG prints IR and assembly,
and element-wise kernels are vectorised at the host's full width."""

from __future__ import annotations

import re
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember.jit.interpreter import run_graph
from ember.jit.llvm.compiled import compile_graph
from ember.jit.llvm.lower import lower_graph
from ember.jit.symbolic import sym
from ember.tensor.ops.views import chunk_strides
from ember_runtime.cpu import host_target

from ..models import MODELS
from .helpers import assert_matches_interpreter, compile_function, randn

B, T = sym("B"), sym("T")


def test_unlowered_dtype_raises_naming_it():
    half = ember.jit.trace(lambda x: ember.relu(x) + 1, (randn(4, 5).half(),), backend="interpreter")
    with pytest.raises(NotImplementedError, match="float16"):
        lower_graph(half.graph)
    with pytest.raises(NotImplementedError, match="float16"):
        compile_graph(half.graph, {})


def test_trace_backend_switch():
    ember.manual_seed(1)
    model = ember.nn.Sequential(ember.nn.Linear(12, 24), ember.nn.SiLU(), ember.nn.Linear(24, 3)).eval()
    example = randn(5, 12)
    assert ember.jit.trace(model, example, backend="interpreter").backend == "interpreter"
    compiled = ember.jit.trace(model, example)  # compiled is the default
    assert compiled.backend == "llvm"
    for batch in (5, 1, 8):
        x = randn(batch, 12, seed=batch)
        np.testing.assert_allclose(compiled(x).numpy(), model(x).detach().numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="backend"):
        ember.jit.trace(model, example, backend="gpu")


def test_trace_backend_falls_back_with_a_warning():
    def scaled_in_half(x):
        return (ember.relu(x) * 2).half()

    with pytest.warns(UserWarning, match="float16"):
        traced = ember.jit.trace(scaled_in_half, (randn(2, 6),))
    assert traced.backend == "interpreter"
    x = randn(2, 6, seed=3)
    np.testing.assert_array_equal(traced(x).numpy(), scaled_in_half(x).numpy())


def test_arena_is_reused_across_calls():
    traced, compiled = compile_function(lambda x: (ember.exp(x) * 2).sum(1) + 1, [randn(6, 10)])
    workspaces = compiled.executor._workspaces
    compiled([randn(6, 10)])
    (workspace,) = workspaces  # one call at a time: one workspace, returned after the call
    arena = workspace.arena
    compiled([randn(6, 10, seed=1)])
    compiled([randn(2, 10, seed=2)])
    assert workspaces == [workspace] and workspace.arena is arena  # same or smaller batches: no new allocation
    assert_matches_interpreter(traced, compiled, [randn(200, 10, seed=3)])
    grown = workspace.arena
    assert grown.nbytes > arena.nbytes
    assert_matches_interpreter(traced, compiled, [randn(3, 10, seed=4)])
    assert workspace.arena is grown


def test_inputs_may_be_non_contiguous_and_outputs_are_fresh():
    traced, compiled = compile_function(lambda x: ember.tanh(x) + x, [randn(6, 9)])
    x = randn(9, 6, seed=5).t()
    assert not x.is_contiguous()
    first = compiled([x])[0]
    expected = run_graph(traced.graph, [x], {})[0].numpy()
    compiled([randn(6, 9, seed=6)])
    np.testing.assert_allclose(first.numpy(), expected, rtol=1e-6)
    with pytest.raises(TypeError, match="dtype"):
        compiled([x.double()])


def test_debug_levels_print_ir_and_assembly(monkeypatch, capsys):
    traced = ember.jit.trace(lambda x: F.relu(x) * 3, (randn(4, 8),))
    monkeypatch.setenv("EMBER_DEBUG", "4")
    compile_graph(traced.graph, {})
    err = capsys.readouterr().err
    assert "=== ember.jit LLVM IR ===" in err and "define i64 @\"ember_graph\"" in err
    assert "=== ember.jit assembly ===" not in err
    monkeypatch.setenv("EMBER_DEBUG", "5")
    compile_graph(traced.graph, {})
    err = capsys.readouterr().err
    assert "=== ember.jit assembly ===" in err and "ember_graph:" in err


def test_elementwise_kernel_uses_full_width_vectors():
    traced, compiled = compile_function(lambda x, y: ember.relu(x * y + 1.0), [randn(6, 100), randn(6, 100)],
                                        optimize=True)
    register = {512: "zmm", 256: "ymm"}.get(host_target().vector_bits, "xmm")
    asm = compiled.module.assembly()
    vector_ops = set(re.findall(rf"\b(v\w+ps)\s+[^\n]*%{register}", asm))
    assert {"vmulps", "vaddps"} <= vector_ops, sorted(vector_ops)
    assert_matches_interpreter(traced, compiled, [randn(3, 100, seed=1), randn(3, 100, seed=2)])


def test_transformer_layer_compiles_whole():
    """Attention heads are views that split a transposed dim (a symbolic view of a non-contiguous tensor),
    then batched matmuls, softmax, layer norm statistics and the linears; batch and length both dynamic."""
    ember.manual_seed(2)
    case = next(c for c in MODELS if c.name == "transformer_layer")
    model = case.build(ember).eval()
    traced = ember.jit.trace(model, case.make(ember, 4, 8), dynamic_dims=case.dynamic_dims)
    compiled = compile_graph(traced.graph, traced.params)
    for batch, length in ((4, 8), (1, 1), (3, 17)):
        x = case.make(ember, batch, length)
        assert_matches_interpreter(traced, compiled, [x], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(compiled([x])[0].numpy(), model(x).detach().numpy(), rtol=1e-5, atol=1e-5)


def test_symbolic_view_strides():
    # [4*B, T, 8] laid out as the transpose of a contiguous [T, 4*B, 8], viewed as [B, 4, T, 8].
    shape, strides = (4 * B, T, 8), (8, 32 * B, 1)
    assert chunk_strides(shape, strides, (B, 4, T, 8)) == (32, 8, 32 * B, 1)
    # Merging the transposed dims is no view, for any B and T.
    assert chunk_strides(shape, strides, (4 * B * T, 8)) is None


def _batch_dynamic(fn, *examples):
    traced = ember.jit.trace(fn, tuple(examples), dynamic_dims={i: {0: "B"} for i in range(len(examples))},
                             optimize=False)
    return traced, compile_graph(traced.graph, traced.params)


def test_alternating_batch_sizes_reuse_their_bindings():
    traced, compiled = _batch_dynamic(lambda x, y: (ember.exp(x) * y).sum(1, keepdim=True) + x, randn(4, 7),
                                      randn(4, 7))
    batches = (4, 1, 9, 1, 4, 30, 9, 1)  # the arena grows at 9 and 30 while 1 and 4 stay bound
    for step, batch in enumerate(batches):
        x, y = randn(batch, 7, seed=step), randn(batch, 7, seed=100 + step)
        assert_matches_interpreter(traced, compiled, [x, y], rtol=1e-5, atol=1e-5)
    assert len(compiled._plans) == len(compiled.executor._bindings) == len(set(batches))
    with pytest.raises(TypeError, match="dtype"):  # same shapes as a bound call, another dtype: checked again
        compiled([randn(4, 7).double(), randn(4, 7)])
    with pytest.raises(RuntimeError, match="already bound"):
        compiled([randn(4, 7), randn(5, 7)])


def test_outputs_are_fresh_for_repeated_shapes():
    _, compiled = _batch_dynamic(lambda x: (ember.tanh(x), x * 2), randn(3, 5))
    x = randn(3, 5, seed=1)
    first = compiled([x])
    second = compiled([randn(3, 5, seed=2)])
    assert all(a.numpy().ctypes.data != b.numpy().ctypes.data for a, b in zip(first, second, strict=True))
    np.testing.assert_allclose(first[0].numpy(), np.tanh(x.numpy()), rtol=1e-6)
    np.testing.assert_allclose(first[1].numpy(), x.numpy() * 2)
    assert first[0].is_contiguous() and tuple(first[0].shape) == (3, 5)
    first[0].add_(1)  # outputs are ordinary writable tensors
    np.testing.assert_allclose(first[0].numpy(), np.tanh(x.numpy()) + 1, rtol=1e-5, atol=1e-6)


def test_inputs_with_offsets_strides_or_read_only_memory():
    traced, compiled = _batch_dynamic(lambda x: ember.relu(x) * 3 - x, randn(4, 6))
    base = randn(10, 6, seed=3)
    read_only = np.random.default_rng(4).standard_normal((5, 6)).astype(np.float32)
    read_only.flags.writeable = False
    # One shape reached three ways: an offset window, the same sizes transposed (its own binding), read-only.
    for x in (base[2:7], randn(6, 5, seed=5).t(), ember.from_numpy(read_only), base[5:10], base[0:5]):
        assert_matches_interpreter(traced, compiled, [x])
    assert len(compiled._plans) == 2  # (one executor binding: the transposed input passes as a contiguous copy)
    assert len(compiled.executor._bindings) == 1


def test_bindings_are_bounded(monkeypatch):
    monkeypatch.setattr("ember.jit.llvm.compiled.MAX_PLANS", 3)
    monkeypatch.setattr("ember_runtime.cpu.executor.MAX_BINDINGS", 3)
    traced, compiled = _batch_dynamic(lambda x: ember.sigmoid(x) + x, randn(4, 3))
    for batch in (2, 3, 4, 5, 6, 2, 7):
        assert_matches_interpreter(traced, compiled, [randn(batch, 3, seed=batch)])
        assert len(compiled._plans) <= 3 and len(compiled.executor._bindings) <= 3


def test_concurrent_calls_with_different_batches():
    traced, compiled = _batch_dynamic(lambda x: ember.softmax(x * 2, -1), randn(4, 33))
    inputs = [randn(batch, 33, seed=batch) for batch in (1, 8, 3, 64, 8, 1) * 4]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda x: compiled([x])[0].numpy(), inputs))
    for x, got in zip(inputs, results, strict=True):
        np.testing.assert_allclose(got, run_graph(traced.graph, [x], {})[0].numpy(), rtol=1e-5, atol=1e-7)


def test_inside_a_trace_a_compiled_module_is_inlined_and_the_machine_code_refused():
    traced = ember.jit.trace(lambda x: ember.relu(x) + 1, (randn(4, 10),), dynamic_dims={0: {0: "B"}})
    assert traced.backend == "llvm"
    outer = ember.jit.trace(lambda x: traced(x) * 2, (randn(3, 10),))  # the interpreter runs it: its ops record
    assert [n.op for n in outer.graph.nodes if n.op != "fused"] == [] and outer.graph.nodes
    x = randn(5, 10, seed=1)
    np.testing.assert_allclose(outer(x).numpy(), ((ember.relu(x) + 1) * 2).numpy(), rtol=1e-6)
    with pytest.raises(ember.jit.TracingError, match="numpy"):  # opaque machine code would bake its result in
        ember.jit.trace(lambda x: traced._compiled([x])[0] * 2, (randn(3, 10),))


@pytest.mark.parametrize("view", [
    lambda x: x[:, x.shape[1] - 1],  # the last step of a sequence
    lambda x: x[:, x.shape[1] // 2:],
    lambda x: x[:, 1 - x.shape[1]:],  # a negative symbolic start counts from the end
    lambda x: x[:, 1 - x.shape[1]],
    lambda x: x.narrow(1, x.shape[1] - 2, 2),
    lambda x: x.select(1, x.shape[1] - 3),
], ids=["last", "half", "negative_start", "negative_index", "narrow", "select"])
def test_views_at_symbolic_positions_compile(view):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a fallback to the interpreter warns: fail on it
        traced = ember.jit.trace(lambda x: view(x) * 2, (randn(3, 5, 4),), dynamic_dims={0: {0: "N", 1: "T"}})
    assert traced.backend == "llvm"
    for shape in ((3, 5, 4), (2, 9, 4), (1, 3, 4)):
        x = randn(*shape, seed=shape[1])
        np.testing.assert_array_equal(traced(x).numpy(), (view(x) * 2).numpy())
