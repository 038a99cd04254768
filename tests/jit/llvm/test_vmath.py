"""The inline math functions (ember/jit/llvm/vmath.py) against float64 NumPy: whole-range sweeps in ulp, the
IEEE edge values, and that a loop calling them compiles to 512-bit vector code on an AVX-512 host."""

from __future__ import annotations

import ctypes
import math
import re
from functools import cache

import llvmlite.ir as ir
import numpy as np
import pytest

from ember.jit.llvm import vmath
from ember.tensor.ops.erf import erf as reference_erf
from ember_runtime.cpu import compile_module, host_target

_REFERENCE = {"exp": np.exp, "expm1": np.expm1, "log": np.log, "log1p": np.log1p, "tanh": np.tanh,
              "erf": reference_erf}
_ULP_LIMIT = {"exp": 1.0, "expm1": 1.5, "log": 1.0, "log1p": 2.5, "tanh": 1.5, "erf": 1.5}
_F64_ULP_LIMIT = {"exp": 1.0, "expm1": 2.0, "log": 1.0, "log1p": 2.0, "tanh": 3.0}


@cache
def _kernel(name: str, dtype: str):
    """``void f(ptr out, ptr in, i64 n)``: ``out[i] = vmath.<name>(in[i])``, and its compiled module."""
    ty = ir.FloatType() if dtype == "float32" else ir.DoubleType()
    module = ir.Module(name="vmath_test")
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [ir.PointerType(), ir.PointerType(), ir.IntType(64)]),
                     "f")
    fn.attributes.add("nounwind")
    out, src, n = fn.args
    out.add_attribute("noalias")
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    loop, done = fn.append_basic_block("loop"), fn.append_basic_block("done")
    entry = b.block
    b.cbranch(b.icmp_signed(">", n, ir.Constant(ir.IntType(64), 0)), loop, done)
    b.position_at_end(loop)
    i = b.phi(ir.IntType(64))
    i.add_incoming(ir.Constant(ir.IntType(64), 0), entry)
    x = b.load(b.gep(src, [i], source_etype=ty), typ=ty)
    b.store(getattr(vmath, name)(b, x), b.gep(out, [i], source_etype=ty))
    step = b.add(i, ir.Constant(ir.IntType(64), 1))
    i.add_incoming(step, loop)
    b.cbranch(b.icmp_signed("<", step, n), loop, done)
    b.position_at_end(done)
    b.ret_void()
    compiled = compile_module(str(module))
    return compiled, compiled.function("f", None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)


def _run(name: str, x: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(x)
    out = np.empty_like(x)
    _kernel(name, x.dtype.name)[1](out.ctypes.data, x.ctypes.data, x.size)
    return out


def _ulp_error(got: np.ndarray, want: np.ndarray, dtype) -> np.ndarray:
    """|got - want| in units of the spacing of ``dtype`` at ``want`` (0 where both are equal or both NaN)."""
    with np.errstate(over="ignore"):
        rounded = want.astype(dtype)
    spacing = np.spacing(np.abs(rounded)).astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        error = np.abs(got.astype(np.float64) - want) / spacing
    same = (got.astype(np.float64) == rounded.astype(np.float64)) | (np.isnan(got) & np.isnan(want))
    return np.where(same, 0.0, error)


def _sweep(name: str, dtype) -> np.ndarray:
    """Every decade of positive and negative magnitudes, denormals to the largest finite value, plus random."""
    info = np.finfo(dtype)
    rng = np.random.default_rng(7)
    magnitude = np.exp(rng.uniform(np.log(info.smallest_subnormal), np.log(info.max), 200_001))
    near = rng.uniform(-30, 30, 100_001)
    x = np.concatenate([magnitude, -magnitude, near, np.linspace(-1.5, 1.5, 30_001)]).astype(dtype)
    if name in ("exp", "expm1"):
        x = np.concatenate([x, rng.uniform(-110 if dtype == np.float32 else -750,
                                           90 if dtype == np.float32 else 712, 100_001).astype(dtype)])
    return x


@pytest.mark.parametrize("name", sorted(_REFERENCE))
def test_float32_accuracy_over_the_whole_range(name):
    x = _sweep(name, np.float32)
    got = _run(name, x)
    with np.errstate(all="ignore"):
        want = _REFERENCE[name](x.astype(np.float64))
    ulp = _ulp_error(got, want, np.float32)
    worst = int(np.argmax(ulp))
    # Relative error where the float32 result is a normal number (denormals have fewer significant bits).
    with np.errstate(over="ignore"):
        normal = np.isfinite(want.astype(np.float32)) & (np.abs(want) >= np.finfo(np.float32).tiny)
    relative = np.max(np.abs(got[normal] - want[normal]) / np.abs(want[normal]))
    assert ulp[worst] <= _ULP_LIMIT[name], (f"{name}: max error {ulp[worst]:.2f} ulp at x={x[worst]!r} "
                                            f"(got {got[worst]!r}, want {want[worst]!r}); max rel {relative:.2e}")
    assert relative <= _ULP_LIMIT[name] * np.finfo(np.float32).eps, f"{name}: max relative error {relative:.2e}"


@pytest.mark.parametrize("name", sorted(vmath.HAS_FLOAT64))
def test_float64_accuracy(name):
    x = _sweep(name, np.float64)
    got = _run(name, x)
    with np.errstate(all="ignore"):
        want = _REFERENCE[name](x)
    # NumPy's float64 functions are themselves within about 1 ulp: compare with a margin of that.
    ulp = _ulp_error(got, want, np.float64)
    worst = int(np.argmax(ulp))
    assert ulp[worst] <= _F64_ULP_LIMIT[name] + 1, f"{name}: {ulp[worst]:.2f} ulp at x={x[worst]!r}"


_EDGES = [0.0, -0.0, math.inf, -math.inf, math.nan, 1.0, -1.0, 1e-45, -1e-45, 1e-40, -1e-40, 1.1754944e-38,
          3.4028235e38, -3.4028235e38, 88.72283, 88.72284, 89.0, -87.33655, -103.97, -104.0, -200.0, 200.0, 0.5,
          1e-8, -1e-8, 0.9999999, 1.0000001, 3.9, 4.0, 10.0, -18.0, -20.0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(_REFERENCE))
def test_edge_values_match_numpy(name, dtype):
    if dtype == np.float64 and name not in vmath.HAS_FLOAT64:
        pytest.skip("float64 erf stays the C library's")
    x = np.array(_EDGES, dtype=dtype)
    got = _run(name, x)
    with np.errstate(all="ignore"):
        want = _REFERENCE[name](x.astype(np.float64)).astype(dtype)
    for value, g, w in zip(x, got, want, strict=True):
        if np.isnan(w) or np.isinf(w) or w == 0:
            # Special results exactly, with the sign of zero.
            assert (np.isnan(g) and np.isnan(w)) or (g == w and np.signbit(g) == np.signbit(w)), \
                f"{name}({value!r}) = {g!r}, want {w!r}"
        else:
            assert abs(float(g) - float(w)) <= 3 * np.spacing(abs(w)), f"{name}({value!r}) = {g!r}, want {w!r}"


def test_non_float_types_are_refused():
    b = ir.IRBuilder(ir.Function(ir.Module(), ir.FunctionType(ir.VoidType(), []), "g").append_basic_block())
    with pytest.raises(TypeError):
        vmath.exp(b, ir.Constant(ir.IntType(32), 1))
    with pytest.raises(TypeError):
        vmath.erf(b, ir.Constant(ir.DoubleType(), 1.0))


@pytest.mark.skipif(not host_target().feature_set & {"avx2", "avx512f"}, reason="the host has no AVX2")
@pytest.mark.parametrize("name", sorted(_REFERENCE))
def test_loops_vectorise(name):
    """No library calls, and packed 256-bit arithmetic (the kernels' 512-bit preference is tested with them)."""
    compiled, _ = _kernel(name, "float32")
    assembly = compiled.assembly()
    assert "call" not in assembly
    assert re.search(r"vfmadd\w*ps\s.*[yz]mm", assembly), "no packed fused multiply-add"
