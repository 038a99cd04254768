"""The CPU kernel library (ember_runtime.cpu.kernels): graph modules that only declare its entry points link
against it, it works without ember, its results are bitwise the same for any thread count, and its ABI version
is recorded in the modules that call it."""

from __future__ import annotations

import ctypes
import itertools
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from llvmlite import ir

from ember_runtime.cpu import compile_module, host_target, threadpool
from ember_runtime.cpu.kernels import (
    DECLARES_LIBRARY,
    KERNEL_ABI,
    PACK_B,
    SGEMM,
    GemmFlags,
    declare,
    ensure_library,
    library_config,
    library_ir,
)

pytestmark = pytest.mark.skipif(host_target().vector_bits < 256, reason="the GEMM needs AVX2 or AVX-512")
ROOT = Path(__file__).resolve().parents[2]
I64, PTR = ir.IntType(64), ir.PointerType()


def caller_module() -> str:
    """A graph-like module: ``linear(n, k, x, w, packed, y, m)`` packs ``w`` [n, k] then ``y = relu(x @ w^T)``."""
    module = ir.Module("caller")
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [I64, I64, PTR, PTR, PTR, PTR, I64, PTR]), "linear")
    n, k, x, w, packed, y, m, pack_a = fn.args
    b = ir.IRBuilder(fn.append_basic_block())
    flags = GemmFlags.TRANS_B
    b.call(declare(module, PACK_B), [n, k, w, k, ir.Constant(I64, int(flags)), packed])
    flags |= GemmFlags.PREPACKED_B | GemmFlags.RELU
    null = ir.Constant(PTR, None)
    b.call(declare(module, SGEMM), [m, n, k, x, k, packed, k, y, n, null, null, ir.Constant(I64, 0),
                                    ir.Constant(I64, int(flags)), pack_a, null])
    b.ret_void()
    return str(module)


def aligned(floats: int) -> np.ndarray:
    raw = np.empty(floats + 16, np.float32)
    offset = (-raw.ctypes.data % 64) // 4
    return raw[offset:offset + floats]


def run_linear(module, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    config = library_config()
    (m, k), n = x.shape, w.shape[0]
    packed, pack_a = aligned(config.packed_b_floats(n, k)), aligned(config.packed_a_floats(m, k))
    y = np.empty((m, n), np.float32)
    linear = module.function("linear", None, *[ctypes.c_int64] * 2, *[ctypes.c_void_p] * 4, ctypes.c_int64,
                             ctypes.c_void_p)
    linear(n, k, x.ctypes.data, w.ctypes.data, packed.ctypes.data, y.ctypes.data, m, pack_a.ctypes.data)
    return y


def test_a_module_that_declares_the_library_links_against_it():
    text = caller_module()
    assert text.count("\ndefine ") == 1 and DECLARES_LIBRARY.search(text)  # the GEMM itself is not in it
    assert f"!{{ i32 {KERNEL_ABI} }}" in text
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((37, 301), dtype=np.float32), rng.standard_normal((53, 301), dtype=np.float32)
    y = run_linear(compile_module(text), x, w)
    np.testing.assert_allclose(y, np.maximum(x.astype(np.float64) @ w.T.astype(np.float64), 0.0), rtol=1e-4,
                               atol=1e-4)


def test_the_library_is_built_for_the_host_vector_width_with_its_abi_version():
    text = library_ir(library_config())
    width = library_config().width
    assert f"llvm.fma.v{width}f32" in text and f"!{{ i32 {KERNEL_ABI} }}" in text
    assert "declare void @\"ember_parallel_for\"" in text
    library = ensure_library()
    assert library is ensure_library() and library.config == library_config()


@pytest.mark.parametrize("m,n,k", [(300, 333, 290), (3, 1000, 700), (700, 20, 300)])
def test_results_are_bitwise_the_same_for_any_thread_count(m, n, k):
    """Square, wide (batch-1-like) and tall products are cut into tasks along rows, columns or both; with the SERIAL
    flag (a caller that is itself a task of a parallel loop) the tasks run in order on the calling thread."""
    rng = np.random.default_rng(m + n + k)
    a, b = rng.standard_normal((m, k), dtype=np.float32), rng.standard_normal((k, n), dtype=np.float32)
    bias = rng.standard_normal(n, dtype=np.float32)
    library, config = ensure_library(), library_config()
    flags = int(GemmFlags.BIAS_COLS | GemmFlags.RELU)
    results = []
    before = threadpool.get_num_threads()
    try:
        for threads, serial in itertools.product((1, 2, 3, 8), (0, int(GemmFlags.SERIAL))):
            threadpool.set_num_threads(threads)
            c = np.full((m, n), np.nan, np.float32)
            pack_a, pack_b = aligned(config.packed_a_floats(m, k)), aligned(config.packed_b_floats(n, k))
            library.sgemm(m, n, k, a.ctypes.data, k, b.ctypes.data, n, c.ctypes.data, n, bias.ctypes.data, None, 0,
                          flags | serial, pack_a.ctypes.data, pack_b.ctypes.data)
            results.append(c)
    finally:
        threadpool.set_num_threads(before)
    for c in results[1:]:
        np.testing.assert_array_equal(c, results[0])
    expected = np.maximum(a.astype(np.float64) @ b.astype(np.float64) + bias, 0.0)
    np.testing.assert_allclose(results[0], expected, rtol=1e-4, atol=1e-4 * np.sqrt(k))


def test_the_runtime_uses_the_library_without_importing_ember(tmp_path):
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from tests.ember_runtime.test_kernels import caller_module, run_linear
        import numpy as np
        from ember_runtime.cpu import compile_module
        x = np.ones((5, 40), np.float32)
        w = np.full((7, 40), 0.5, np.float32)
        assert (run_linear(compile_module(caller_module()), x, w) == 20.0).all()
        assert not [name for name in sys.modules if name == "ember" or name.startswith("ember.")]
        print("ok")
    """)
    env = {"EMBER_CACHE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
