"""CompiledGraph and the ``backend=`` switch of ``ember.jit.trace``: unlowered ops fail clearly (and the traced
module falls back to the interpreter), the arena is reused across calls, EMBER_DEBUG prints IR and assembly,
and element-wise kernels are vectorised at the host's full width."""

from __future__ import annotations

import re

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember.jit.interpreter import run_graph
from ember.jit.llvm.compiled import compile_graph
from ember.jit.llvm.layout import view_strides
from ember.jit.llvm.lower import lower_graph
from ember.jit.symbolic import sym
from ember_runtime.cpu import host_target

from ..models import MODELS
from .helpers import assert_matches_interpreter, compile_function, randn

B, T = sym("B"), sym("T")


def test_unlowered_op_raises_naming_it():
    traced = ember.jit.trace(lambda x: ember.cumsum(ember.relu(x), 1), (randn(4, 5),))
    with pytest.raises(NotImplementedError, match="'cumsum'"):
        lower_graph(traced.graph)
    half = ember.jit.trace(lambda x: ember.relu(x) + 1, (randn(4, 5).half(),))
    with pytest.raises(NotImplementedError, match="float16"):
        compile_graph(half.graph, {})


def test_trace_backend_switch():
    ember.manual_seed(1)
    model = ember.nn.Sequential(ember.nn.Linear(12, 24), ember.nn.SiLU(), ember.nn.Linear(24, 3)).eval()
    example = randn(5, 12)
    assert ember.jit.trace(model, example).backend == "interpreter"
    compiled = ember.jit.trace(model, example, backend="llvm")
    assert compiled.backend == "llvm"
    for batch in (5, 1, 8):
        x = randn(batch, 12, seed=batch)
        np.testing.assert_allclose(compiled(x).numpy(), model(x).detach().numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="backend"):
        ember.jit.trace(model, example, backend="gpu")


def test_trace_backend_falls_back_with_a_warning():
    conv = ember.nn.Conv2d(2, 3, 3).eval()
    with pytest.warns(UserWarning, match="'convolution'"):
        traced = ember.jit.trace(conv, randn(2, 2, 6, 6), backend="llvm")
    assert traced.backend == "interpreter"
    x = randn(3, 2, 6, 6, seed=3)
    np.testing.assert_allclose(traced(x).numpy(), conv(x).detach().numpy(), rtol=1e-5, atol=1e-6)


def test_arena_is_reused_across_calls():
    traced, compiled = compile_function(lambda x: (ember.exp(x) * 2).sum(1) + 1, [randn(6, 10)])
    compiled([randn(6, 10)])
    arena = compiled._arena
    compiled([randn(6, 10, seed=1)])
    compiled([randn(2, 10, seed=2)])
    assert compiled._arena is arena  # same or smaller batches: no new allocation
    assert_matches_interpreter(traced, compiled, [randn(200, 10, seed=3)])
    grown = compiled._arena
    assert grown.nbytes > arena.nbytes
    assert_matches_interpreter(traced, compiled, [randn(3, 10, seed=4)])
    assert compiled._arena is grown


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
    assert "=== ember.jit LLVM IR ===" in err and "define void @\"ember_graph\"" in err
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
    assert view_strides(shape, strides, (B, 4, T, 8)) == (32, 8, 32 * B, 1)
    # Merging the transposed dims is no view, for any B and T.
    assert view_strides(shape, strides, (4 * B * T, 8)) is None
