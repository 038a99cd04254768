"""Weights packed at compile time (KernelContext.prepacked, the ember_prepare entry): a Linear's weight is packed
once into the packed region and its GEMM reads the panels; results equal the interpreter's at any batch; a weight
used twice is packed once; a weight computed in the graph is packed per call instead; and a weight changed in
place is packed again."""

from __future__ import annotations

import numpy as np
import pytest

import ember
import ember.nn as nn
from ember.jit.llvm.lower import PREPARE, lower_graph
from ember_runtime.cpu import host_target
from ember_runtime.cpu.kernels import library_config

from .helpers import assert_matches_interpreter, compile_function, randn

pytestmark = pytest.mark.skipif(host_target().vector_bits < 256, reason="the GEMM needs AVX2 or AVX-512")


def pack_calls(ir_text: str) -> int:
    return ir_text.count('call void @"ember_rt_pack_b"')


def test_linear_weights_are_packed_once_and_the_model_matches_the_interpreter_at_any_batch():
    ember.manual_seed(0)
    model = nn.Sequential(nn.Linear(37, 45), nn.ReLU(), nn.Linear(45, 19)).eval()
    traced = ember.jit.trace(model, (randn(3, 37),), dynamic_dims={0: {0: "N"}})
    lowered = lower_graph(traced.graph)
    config = library_config()
    assert lowered.prepare == PREPARE and f'define i64 @"{PREPARE}"' in lowered.ir_text
    assert lowered.packed_size >= (config.packed_b_floats(45, 37) + config.packed_b_floats(19, 45)) * 4
    assert pack_calls(lowered.ir_text) == 2 and "llvm.fma" not in lowered.ir_text  # the GEMM is the library's
    compiled = ember.jit.llvm.compiled.compile_graph(traced.graph, traced.params)
    for batch in (1, 5, 64):
        assert_matches_interpreter(traced, compiled, [randn(batch, 37, seed=batch)], rtol=1e-5, atol=1e-5)


def test_a_weight_used_twice_is_packed_once():
    weight = randn(23, 23, seed=3)
    bias = randn(23, seed=4)

    def twice(x):
        return ember.nn.functional.linear(ember.nn.functional.linear(x, weight, bias), weight)

    traced, compiled = compile_function(twice, [randn(6, 23)])
    assert pack_calls(compiled.lowered.ir_text) == 1
    assert compiled.lowered.packed_size == library_config().packed_b_floats(23, 23) * 4
    assert_matches_interpreter(traced, compiled, [randn(6, 23, seed=1)], rtol=1e-5, atol=1e-5)


def test_a_weight_computed_in_the_graph_is_packed_per_call():
    def scaled(x, w):
        return ember.nn.functional.linear(x, w * 2.0)

    traced, compiled = compile_function(scaled, [randn(9, 33), randn(17, 33, seed=2)], dynamic_dims={0: {0: "N"}})
    assert compiled.lowered.prepare is None and compiled.lowered.packed_size == 0
    assert 'call void @"ember_rt_sgemm"' in compiled.lowered.ir_text
    for batch in (1, 9, 40):  # the packed rows of x in the scratch grow with the batch
        assert_matches_interpreter(traced, compiled, [randn(batch, 33, seed=5), randn(17, 33, seed=6)], rtol=1e-5,
                                   atol=1e-5)


def test_a_weight_changed_in_place_is_packed_again_before_the_next_call():
    """The packed copy is a snapshot made by ember_prepare; ember's CompiledGraph runs it again when a parameter
    changes (its storage version moves), so the compiled model follows optimizer steps like the eager one."""
    ember.manual_seed(1)
    model = nn.Linear(29, 31).eval()
    x = randn(4, 29)
    traced = ember.jit.trace(model, (x,))
    compiled = ember.jit.llvm.compiled.compile_graph(traced.graph, traced.params)
    before = compiled([x])[0].numpy().copy()
    with ember.no_grad():
        model.weight.mul_(3.0)
    after = compiled([x])[0].numpy()
    assert not np.allclose(after, before)
    np.testing.assert_allclose(after, model(x).detach().numpy(), rtol=1e-5, atol=1e-5)
