"""The CPU kernel library: the fp32 GEMM compiled once per process, which compiled graphs call by name.

Every graph module used to carry its own copy of the GEMM (packers and the unrolled micro-kernel), which made its
IR large and its compile slow. The library is built once per process, for the host's vector width (AVX-512 or
AVX2), by :func:`ensure_library` (the engine caches its object code on disk like any module's), and its entry
points are registered with ``llvmlite.binding.add_symbol``: a graph module only ``declare``-s them
(:func:`declare`) and links against them when MCJIT finalizes it (``compile_module`` calls ``ensure_library``
for IR that declares an ``ember_rt_`` function). The standalone runtime does the same for an artifact's IR, so
this module never imports ember.

The ABI, version :data:`KERNEL_ABI` (a graph module records the version it was built for in its named metadata
``!ember.kernel_abi``; any change of a signature, flag or layout below bumps it)::

    void ember_rt_sgemm(int64_t m, int64_t n, int64_t k,
                        const float *a, int64_t lda,        /* A[M, K], row stride lda; A packed by
                                                               ember_rt_pack_a with PREPACKED_A (lda unused) */
                        const float *b, int64_t ldb,        /* B[K, N]; B[N, K] with TRANS_B; op(B) packed by
                                                               ember_rt_pack_b with PREPACKED_B (ldb unused) */
                        float *c, int64_t ldc,              /* C[M, N] */
                        const float *bias,                  /* [N] with BIAS_COLS, [M] with BIAS_ROWS */
                        const float *residual, int64_t ldr, /* R[M, N] with RESIDUAL_BEFORE / RESIDUAL_AFTER */
                        int64_t flags,                      /* GemmFlags bits */
                        float *pack_a,                      /* packed_a_floats(m, k) floats, unless PREPACKED_A */
                        float *pack_b);                     /* packed_b_floats(n, k) floats, unless PREPACKED_B */
    void ember_rt_pack_a(int64_t m, int64_t k, const float *a, int64_t lda, int64_t flags, float *packed);
    void ember_rt_pack_b(int64_t n, int64_t k, const float *b, int64_t ldb, int64_t flags, float *packed);
                                  /* A, op(B) into packed_a_floats(m, k), packed_b_floats(n, k) floats;
                                     pack_b reads TRANS_B of flags; both read SERIAL */

``C = epilogue(A @ op(B))``, or ``C = epilogue(C + A @ op(B))`` with ACCUMULATE; the epilogue adds the bias,
adds R (RESIDUAL_BEFORE), applies relu (RELU), adds R (RESIDUAL_AFTER), in that order. Every matrix is row-major
with a unit column stride; pointers a flag does not ask for may be NULL; ``a``, ``b``, ``bias`` and ``residual``
must not overlap ``c``. Packed buffers and workspaces are 64-byte aligned, of
``packed_a_floats(m, k) = max(ceil(m / MR) * MR * k, 1)`` and ``packed_b_floats(n, k) = max(ceil(n / NR) * NR * k,
1)`` floats with the library's ``MR x NR`` tile (:func:`library_config`). Packed layout (A: lines are rows, ``R =
MR``, ``BLOCK = MC``; op(B): lines are columns, ``R = NR``, ``BLOCK = NC``): the block of lines ``j0`` (``BLOCK``
of them) and k values ``p0`` (``KC``) starts at ``j0 * k + p0 * width``, ``width`` the block's line count rounded
up to ``R``; in it the ``R`` lines from ``j0 + i`` are at ``i * kc``, k-major (``[kk * R + line]``), zeros past
the last line. Large products run on the worker pool (:mod:`.threadpool`), cut into tasks whose number depends
only on the sizes, so the result is bitwise the same for any thread count; with the SERIAL flag (version 2) a
call runs its tasks in order on the calling thread, for a caller that is itself one task of a parallel loop.
The functions hold no state: any number of threads may call them at once.
"""

from __future__ import annotations

import ctypes
import re
import threading
from functools import lru_cache

import llvmlite.binding as llvm
from llvmlite import ir

from . import gemm, gemm_microkernel
from .engine import CompiledModule, compile_generated, host_target, source_identity
from .gemm import GemmConfig, emit_gemm, gemm_config
from .gemm_microkernel import GemmEpilogue, GemmFlags
from .threadpool import PARALLEL_FOR, ensure_pool

__all__ = ["DECLARES_LIBRARY", "KERNEL_ABI", "PACK_A", "PACK_B", "PREFIX", "SGEMM", "GemmConfig", "GemmEpilogue",
           "GemmFlags", "KernelLibrary", "build_library", "declare", "ensure_library", "library_config", "library_ir"]

KERNEL_ABI = 2
PREFIX = "ember_rt_"
SGEMM = PREFIX + "sgemm"
PACK_A = PREFIX + "pack_a"
PACK_B = PREFIX + "pack_b"

_I64, _PTR = ir.IntType(64), ir.PointerType()
_SIGNATURES: dict[str, list[ir.Type]] = {
    SGEMM: [_I64, _I64, _I64, _PTR, _I64, _PTR, _I64, _PTR, _I64, _PTR, _PTR, _I64, _I64, _PTR, _PTR],
    PACK_A: [_I64, _I64, _PTR, _I64, _I64, _PTR],
    PACK_B: [_I64, _I64, _PTR, _I64, _I64, _PTR],
}
_CTYPES: dict[str, tuple] = {
    SGEMM: (ctypes.c_int64,) * 3 + (ctypes.c_void_p, ctypes.c_int64) * 3 + (ctypes.c_void_p, ctypes.c_void_p,
                                                                           ctypes.c_int64, ctypes.c_int64,
                                                                           ctypes.c_void_p, ctypes.c_void_p),
    PACK_A: (ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p),
    PACK_B: (ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p),
}
# a graph module declares a library function: the engine then loads the library before linking the module
DECLARES_LIBRARY = re.compile(rf'^declare [^@\n]*@"?{PREFIX}', re.MULTILINE)


def library_config() -> GemmConfig:
    """The blocking of the process's library: :func:`~.gemm.gemm_config` of the host's vector width (at least
    256: AVX2 is the oldest host the GEMM is written for)."""
    return gemm_config(max(256, host_target().vector_bits))


def declare(module: ir.Module, name: str) -> ir.Function:
    """The library function ``name`` (:data:`SGEMM`, :data:`PACK_A`, :data:`PACK_B`) declared in ``module``
    (once), and the ABI version recorded in the module's ``!ember.kernel_abi`` metadata (so a cached object built
    against another version is never reused: the IR text differs)."""
    existing = module.globals.get(name)
    if existing is not None:
        return existing
    if "ember.kernel_abi" not in module.namedmetadata:
        module.add_named_metadata("ember.kernel_abi", [ir.Constant(ir.IntType(32), KERNEL_ABI)])
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), _SIGNATURES[name]), name)
    fn.attributes.add("nounwind")
    return fn


def library_ir(config: GemmConfig, *, threaded: bool = True) -> str:
    """The LLVM IR of a library built with ``config`` (the tests build other blockings than the process's);
    ``threaded`` runs large products on the worker pool."""
    module = ir.Module(name="ember_kernels")
    module.add_named_metadata("ember.kernel_abi", [ir.Constant(ir.IntType(32), KERNEL_ABI)])
    parallel_for = None
    if threaded:
        parallel_for = ir.Function(module, ir.FunctionType(ir.VoidType(), [_PTR, _PTR, _I64]), PARALLEL_FOR)
    emit_gemm(module, config, PREFIX, parallel_for)
    return str(module)


class KernelLibrary:
    """A compiled library: its machine code, blocking and ctypes callables of its entry points."""

    def __init__(self, compiled: CompiledModule, config: GemmConfig):
        self.compiled = compiled
        self.config = config
        self.sgemm = compiled.function(SGEMM, None, *_CTYPES[SGEMM])
        self.pack_a = compiled.function(PACK_A, None, *_CTYPES[PACK_A])
        self.pack_b = compiled.function(PACK_B, None, *_CTYPES[PACK_B])


@lru_cache(maxsize=8)
def build_library(config: GemmConfig, threaded: bool = True) -> KernelLibrary:
    """Compile (or load from the object cache) the library of ``config``; :func:`ensure_library` registers the
    process's one for linking, other builds are called only through ctypes."""
    if threaded:
        ensure_pool()  # the library calls the pool: register it before linking (a cache hit skips the IR's hooks)
    sources = source_identity(__file__, gemm.__file__, gemm_microkernel.__file__)
    identity = f"ember kernel library, abi={KERNEL_ABI}, {config!r}, threaded={threaded}, {sources}"
    return KernelLibrary(compile_generated(identity, lambda: library_ir(config, threaded=threaded)), config)


_lock = threading.RLock()
_library: KernelLibrary | None = None
_building = False


def ensure_library() -> KernelLibrary:
    """The process's library, compiled and registered for linking on the first call (thread-safe)."""
    global _library, _building
    if _library is not None:
        return _library
    with _lock:
        if _library is None and not _building:
            _building = True  # re-entrant: a hook of compile_module never builds the library twice
            try:
                library = build_library(library_config())
                for name in _SIGNATURES:
                    llvm.add_symbol(name, library.compiled.address(name))
                _library = library
            finally:
                _building = False
    return _library
