"""Element-wise lowerings against the reference interpreter: every op family, dtypes and casts, broadcasting,
scalars, non-contiguous views, batch 1 and batches other than the traced one, single ops and fused groups."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember.jit.interpreter import run_graph
from ember.jit.passes import FUSED
from ember_runtime.cpu import host_target

from .helpers import assert_matches_interpreter, compile_function, randint, randn, uniform

BATCHES = (6, 1, 11)  # traced at 6


def _unary_any(x):
    return (ember.neg(x), ember.abs(x), ember.sign(x), ember.exp(x), ember.exp2(x), ember.expm1(x), ember.sin(x),
            ember.cos(x), ember.tan(x), ember.atan(x), ember.sinh(x), ember.cosh(x), ember.tanh(x), ember.asinh(x),
            ember.sigmoid(x), ember.relu(x), F.silu(x), ember.erf(x), ember.erfc(x), ember.floor(x * 3),
            ember.ceil(x * 3), ember.trunc(x * 3), ember.frac(x * 3), ember.round(x * 3), F.gelu(x),
            F.gelu(x, approximate="tanh"), F.softplus(x * 10, beta=2.0, threshold=5.0), ember.reciprocal(x))


def _unary_domain(x):
    return (ember.log(x), ember.log2(x), ember.log10(x), ember.log1p(x), ember.sqrt(x), ember.rsqrt(x),
            ember.asin(x), ember.acos(x), ember.atanh(x), ember.acosh(x + 1.5))


@pytest.mark.parametrize("optimize", [False, True])
@pytest.mark.parametrize("dtype", [ember.float32, ember.float64])
def test_unary_math(optimize, dtype):
    traced, compiled = compile_function(_unary_any, [randn(6, 9, dtype=dtype)], optimize=optimize)
    for batch in BATCHES:
        assert_matches_interpreter(traced, compiled, [randn(batch, 9, seed=batch, dtype=dtype)])
    traced, compiled = compile_function(_unary_domain, [uniform(0.05, 0.95, 6, 5, dtype=dtype)], optimize=optimize)
    for batch in BATCHES:
        assert_matches_interpreter(traced, compiled, [uniform(0.05, 0.95, batch, 5, seed=batch, dtype=dtype)])


def _binary(x, y, z):
    return (x + y, ember.add(x, z, alpha=2.5), x - z, ember.sub(y, x, alpha=0.5), x * y, x / z,
            ember.div(x * 5, z, rounding_mode="floor"), ember.div(x * 5, z, rounding_mode="trunc"),
            ember.maximum(x, y), ember.minimum(x, z), ember.pow(ember.abs(x) + 0.1, y), ember.atan2(x, z),
            ember.remainder(x * 5, z), ember.fmod(x * 5, z), x * 0.5 + 3, 2.0 - x, x ** 2)


@pytest.mark.parametrize("optimize", [False, True])
def test_binary_broadcasting(optimize):
    """x [N, 5, 7] against y [5, 1] and z [7] (trailing broadcast) and Python scalars."""
    traced, compiled = compile_function(_binary, [randn(6, 5, 7), randn(5, 1, seed=1), randn(7, seed=2)],
                                        dynamic_dims={0: [0]}, optimize=optimize)
    for batch in BATCHES:
        assert_matches_interpreter(traced, compiled, [randn(batch, 5, 7, seed=batch), randn(5, 1, seed=1),
                                                      randn(7, seed=2)])


def _predicates(x, y, mask):
    special = ember.where(mask, x / 0.0, x)  # +-inf where mask holds
    nan = ember.where(x > 1.0, special * 0.0, special)  # NaN where x > 1 and inf there
    return (x == y, x != y, x < y, x <= y, x > 0.5, x >= y, ember.logical_and(mask, x > 0),
            ember.logical_or(mask, x > 0), ember.logical_xor(mask, x > 0), ember.logical_not(mask),
            ember.isnan(nan), ember.isinf(nan), ember.isposinf(nan), ember.isneginf(nan), ember.isfinite(nan),
            ember.where(mask, x, y), ember.where(x > 0, x, 0.25), ember.clamp(x, -0.5, 0.5), ember.clamp(x, min=y),
            ember.clamp(x, max=0.1), ember.lerp(x, y, 0.3), ember.lerp(x, y, 0.8), ember.maximum(nan, x))


def test_comparisons_logical_ternary():
    traced, compiled = compile_function(_predicates, [randn(6, 8), randn(8, seed=1), randn(6, 8, seed=2) > 0.5],
                                        dynamic_dims={0: [0], 2: [0]})
    for batch in BATCHES:
        assert_matches_interpreter(traced, compiled, [randn(batch, 8, seed=batch), randn(8, seed=1),
                                                      randn(batch, 8, seed=batch + 1) > 0.5])


def _integers(a, b, small):
    return (a + b, a - b, a * b, -a, ember.abs(a), ember.maximum(a, b), ember.minimum(a, b * 2), a > b, a == 2,
            ember.bitwise_and(a, b), ember.bitwise_or(a, b), ember.bitwise_xor(a, b), ember.bitwise_not(a),
            ember.sign(a), ember.relu(a), a + 1.5, a / b.clamp(min=1), small + small, ember.clamp(a, -5, 5),
            ember.where(a > 0, a, b))


@pytest.mark.parametrize("dtype", [ember.int32, ember.int64, ember.int16, ember.int8])
def test_integer_ops(dtype):
    traced, compiled = compile_function(_integers, [randint(-9, 9, 6, 7, dtype=dtype),
                                                    randint(-9, 9, 7, seed=1, dtype=dtype),
                                                    randint(0, 200, 6, 7, seed=2, dtype=ember.uint8)],
                                        dynamic_dims={0: [0], 2: [0]})
    for batch in BATCHES:
        assert_matches_interpreter(traced, compiled, [randint(-9, 9, batch, 7, seed=batch, dtype=dtype),
                                                      randint(-9, 9, 7, seed=1, dtype=dtype),
                                                      randint(0, 200, batch, 7, seed=batch, dtype=ember.uint8)])


def _casts(x, i, flags):
    return (x.to(ember.int32), (x * 100).to(ember.int8), x.to(ember.float64), x.to(ember.bool), i.to(ember.float32),
            i.to(ember.int64), i.to(ember.uint8), flags.to(ember.float32), flags.to(ember.int64),
            (i > 0).to(ember.float64), x.double().float(), flags.sum(1), (i * 3).sum(0))


def test_casts():
    traced, compiled = compile_function(_casts, [randn(6, 5) * 4, randint(-300, 300, 6, 5, seed=3),
                                                 randn(6, 5, seed=4) > 0])
    for batch in BATCHES:
        assert_matches_interpreter(traced, compiled, [randn(batch, 5, seed=batch) * 4,
                                                      randint(-300, 300, batch, 5, seed=batch),
                                                      randn(batch, 5, seed=batch + 2) > 0])


def _views(x, y):
    t = x.transpose(0, 2)                             # [7, 5, N], strided
    p = x.permute(1, 0, 2)                            # [5, N, 7]
    e = y.unsqueeze(0).expand(x.shape[0], 5, 7)      # broadcast through an expand
    s = x[:, 1:4, ::2]                                # slices with a step
    n = x.narrow(2, 2, 3).select(1, 0)                # [N, 3]
    v = (x + 1).view(x.shape[0], 35)                  # a view of a computed value
    return (ember.exp(t), p * 2, x + e, ember.relu(s), n - 1, v, x.transpose(1, 2), x, y.squeeze(),
            x.flatten(1).sum(1), t.contiguous())


@pytest.mark.parametrize("optimize", [False, True])
def test_non_contiguous_views_and_output_copies(optimize):
    """Views produce no code; kernels read through strides; outputs that are views or inputs are copied."""
    traced, compiled = compile_function(_views, [randn(6, 5, 7), randn(5, 7, seed=1)], dynamic_dims={0: [0]},
                                        optimize=optimize)
    for batch in BATCHES:
        assert_matches_interpreter(traced, compiled, [randn(batch, 5, 7, seed=batch), randn(5, 7, seed=1)])


def test_fused_group_is_one_kernel():
    def f(x, b):
        return ember.sigmoid(F.gelu(x * 2 + b) - ember.exp(-x)) * 0.5

    traced, compiled = compile_function(f, [randn(6, 33), randn(33, seed=1)], dynamic_dims={0: [0]}, optimize=True)
    assert [n.op for n in traced.graph.nodes] == [FUSED]
    assert compiled.lowered.ir_text.count("define internal void @\"k") == 1
    for batch in (6, 1, 17):
        assert_matches_interpreter(traced, compiled, [randn(batch, 33, seed=batch), randn(33, seed=1)])


def test_special_values_propagate():
    """NaN through maximum/relu/clamp and infinities through exp, as the eager kernels give them."""
    data = np.array([[0.0, -0.0, math.inf, -math.inf, math.nan, 1e30, -1e30, 88.0, -104.0]], dtype=np.float32)
    x = ember.tensor(np.repeat(data, 3, axis=0))

    def f(x):
        return (ember.relu(x), ember.exp(x), ember.clamp(x, -1, 1), ember.maximum(x, x * 0), ember.sigmoid(x),
                ember.tanh(x), ember.sign(x), ember.isnan(x))

    traced, compiled = compile_function(f, [x])
    assert_matches_interpreter(traced, compiled, [x])


def _vmath_ops(x):
    return (ember.exp(x), ember.expm1(x), ember.tanh(x), ember.sigmoid(x), F.silu(x), ember.erf(x), F.softplus(x),
            ember.log(ember.abs(x)), ember.log1p(ember.abs(x)))


@pytest.mark.parametrize("dtype", [ember.float32, ember.float64])
def test_inline_math_over_wide_ranges(dtype):
    """The inline (vectorised) math functions on values spread over many decades and both signs, including
    exp's overflow and underflow ranges, within 1e-6 relative of the interpreter (NumPy) where the results are
    normal numbers."""
    rng = np.random.default_rng(3)
    values = np.concatenate([rng.uniform(-110, 110, 2000), np.exp(rng.uniform(-80, 5, 1000)),
                             -np.exp(rng.uniform(-80, 5, 1000)), rng.standard_normal(1001)])
    x = ember.tensor(values.reshape(1, -1), dtype=dtype)
    traced, compiled = compile_function(_vmath_ops, [x], optimize=True)
    assert_matches_interpreter(traced, compiled, [x], rtol=1e-6, atol=1e-37)
    # gelu's 1 + erf (or tanh) cancels for negative x, in the interpreter too: compared in absolute terms.
    traced, compiled = compile_function(lambda x: (F.gelu(x), F.gelu(x, approximate="tanh")), [x])
    assert_matches_interpreter(traced, compiled, [x], rtol=1e-6, atol=1e-6)


def test_inline_math_edge_values():
    data = np.array([[0.0, -0.0, math.inf, -math.inf, math.nan, 1e-45, -1e-45, 1e-40, 3.4e38, -3.4e38, 88.72,
                      88.73, -87.4, -103.9, -104.5, 1.0, -1.0, 3.95, -4.5]], dtype=np.float32)
    x = ember.tensor(np.repeat(data, 2, axis=0))
    traced, compiled = compile_function(lambda x: (*_vmath_ops(x), F.gelu(x), F.gelu(x, approximate="tanh")), [x])
    got = compiled([x])
    want = run_graph(traced.graph, [x], traced.params)
    for index, (g, w) in enumerate(zip(got, want, strict=True)):
        g, w = g.numpy(), w.numpy()
        special = ~np.isfinite(w) | (w == 0)
        # Infinities, NaN (any sign) and zeros exactly (with the sign of zero); the rest within 2 float32 ulp.
        np.testing.assert_array_equal(g[special], w[special], err_msg=f"output {index}")
        zeros = w == 0
        np.testing.assert_array_equal(np.signbit(g[zeros]), np.signbit(w[zeros]), err_msg=f"output {index}")
        np.testing.assert_allclose(g[~special], w[~special], rtol=2.5e-7, atol=0, err_msg=f"output {index}")


@pytest.mark.skipif("avx512f" not in host_target().feature_set, reason="the host has no AVX-512")
def test_fused_exp_kernel_uses_zmm_without_library_calls():
    def f(x):
        return ember.exp(x) * 2 + F.gelu(x) - ember.tanh(x)

    traced, compiled = compile_function(f, [randn(6, 1000)], optimize=True)
    assembly = compiled.module.assembly()
    assert "zmm" in assembly
    assert not re.search(r"call\w*\s+\S*(exp|erf|tanh)", assembly)
