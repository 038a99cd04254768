"""The CPU engine: LLVM IR compiled for the host, called through ctypes, and its per-user object cache."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

from ember_runtime.cpu import compile_module, host_target

AXPY = """
define void @axpy(ptr noalias nocapture %y, ptr noalias nocapture readonly %x, float %a, i64 %n) #0 {
entry:
  %empty = icmp eq i64 %n, 0
  br i1 %empty, label %exit, label %loop
loop:
  %i = phi i64 [0, %entry], [%next, %loop]
  %px = getelementptr inbounds float, ptr %x, i64 %i
  %py = getelementptr inbounds float, ptr %y, i64 %i
  %vx = load float, ptr %px, align 4
  %vy = load float, ptr %py, align 4
  %m = fmul float %vx, %a
  %s = fadd float %m, %vy
  store float %s, ptr %py, align 4
  %next = add nuw nsw i64 %i, 1
  %done = icmp eq i64 %next, %n
  br i1 %done, label %exit, label %loop
exit:
  ret void
}
attributes #0 = { "prefer-vector-width"="512" "min-legal-vector-width"="512" }
"""


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBER_CACHE_DIR", str(tmp_path))
    return tmp_path


def axpy(module):
    return module.function("axpy", None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_float, ctypes.c_int64)


def run_axpy(module, n=1001, seed=0):
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32)
    expected = y + np.float32(1.5) * x
    axpy(module)(y.ctypes.data, x.ctypes.data, 1.5, n)
    np.testing.assert_allclose(y, expected, rtol=1e-6, atol=1e-6)


def test_compiled_function_runs_through_ctypes(cache):
    module = compile_module(AXPY)
    assert not module.from_cache
    run_axpy(module)


def test_second_compile_reuses_the_cached_object(cache):
    compile_module(AXPY)
    files = [p for p in cache.iterdir() if p.suffix == ".o"]
    assert len(files) == 1 and not any(p.name.startswith(".tmp-") for p in cache.iterdir())
    again = compile_module(AXPY)
    assert again.from_cache
    run_axpy(again, seed=1)


def test_a_damaged_cache_entry_is_rebuilt_not_trusted(cache):
    compile_module(AXPY)
    (entry,) = [p for p in cache.iterdir() if p.suffix == ".o"]
    entry.write_bytes(b"garbage that is not an object file")
    module = compile_module(AXPY)
    assert not module.from_cache
    run_axpy(module, seed=2)


def test_empty_cache_dir_setting_disables_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBER_CACHE_DIR", "")
    assert not compile_module(AXPY).from_cache
    assert not compile_module(AXPY).from_cache


def test_invalid_ir_is_a_clear_error(cache):
    with pytest.raises(ValueError, match="invalid LLVM IR"):
        compile_module("define void @f() { ret i32 0 }")


def test_host_target_and_wide_vectors(cache):
    target = host_target()
    assert target.triple and target.cpu and target.llvm_version
    module = compile_module(AXPY)
    with pytest.raises(KeyError, match="nope"):
        module.address("nope")
    if "avx512f" in target.feature_set:
        assert target.vector_bits == 512
        assert "zmm" in module.assembly()
