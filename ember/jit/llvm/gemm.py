"""The fp32 GEMM as the LLVM backend calls it: ``ember_rt_sgemm`` of the runtime's kernel library.

The GEMM itself (packers, micro-kernel, blocking, threading) is compiled once per process in
:mod:`ember_runtime.cpu.kernels`, whose docstring is the ABI; a graph module only declares the entry points and
calls them (:func:`call_sgemm`, :func:`call_pack`).
"""

from __future__ import annotations

import llvmlite.ir as ir

from ember_runtime.cpu.gemm import GemmConfig, gemm_config
from ember_runtime.cpu.gemm_microkernel import GemmEpilogue, GemmFlags
from ember_runtime.cpu.kernels import PACK_A, PACK_B, SGEMM, declare, library_config

__all__ = ["GemmConfig", "GemmEpilogue", "GemmFlags", "call_pack", "call_sgemm", "gemm_config", "library_config"]

_I64, _PTR = ir.IntType(64), ir.PointerType()


def call_sgemm(b: ir.IRBuilder, m: ir.Value, n: ir.Value, k: ir.Value, a: ir.Value, lda: ir.Value, bm: ir.Value,
               ldb: ir.Value, c: ir.Value, ldc: ir.Value, *, flags: int | ir.Value, bias: ir.Value | None = None,
               residual: ir.Value | None = None, ldr: ir.Value | None = None, pack_a: ir.Value | None = None,
               pack_b: ir.Value | None = None) -> None:
    """Emit ``ember_rt_sgemm(m, n, k, a, lda, b, ldb, c, ldc, bias, residual, ldr, flags, pack_a, pack_b)``
    (absent pointers are NULL). The workspaces, 64-byte aligned: ``pack_a`` of
    ``library_config().packed_a_floats(m, k)`` floats unless ``flags`` has PREPACKED_A, ``pack_b`` of
    ``packed_b_floats(n, k)`` unless PREPACKED_B. ``flags`` is a constant or an i64 computed at run time."""
    null, zero = ir.Constant(_PTR, None), ir.Constant(_I64, 0)
    flags = flags if isinstance(flags, ir.Value) else ir.Constant(_I64, int(flags))
    b.call(declare(b.module, SGEMM), [m, n, k, a, lda, bm, ldb, c, ldc, bias or null, residual or null,
                                      ldr or zero, flags, pack_a or null, pack_b or null])


def call_pack(b: ir.IRBuilder, operand: str, lines: ir.Value, k: ir.Value, source: ir.Value, ld: ir.Value, *,
              packed: ir.Value, trans_b: bool = False) -> None:
    """Emit ``ember_rt_pack_a`` (``operand="a"``: A [lines, k]) or ``ember_rt_pack_b`` (``"b"``: op(B) [k, lines],
    B stored [lines, k] when ``trans_b``) into ``packed``, for a PREPACKED_A / PREPACKED_B call (a weight packed
    at compile time: see ``KernelContext.prepacked``)."""
    flags = ir.Constant(_I64, int(GemmFlags.TRANS_B if trans_b else 0))
    b.call(declare(b.module, {"a": PACK_A, "b": PACK_B}[operand]), [lines, k, source, ld, flags, packed])
