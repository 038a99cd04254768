"""The GEMM of :mod:`.gemm` compiled on its own and called on numpy arrays: what the tests and
``tools/bench_gemm.py`` use (the backend's lowering calls the exported functions from its own modules).

Example::

    gemm = compile_sgemm(trans_b=True, epilogue=GemmEpilogue(bias=True, activation="relu"))
    y = gemm(x, weight, bias=b)                          # relu(x @ weight.T + b)

    linear = compile_sgemm(trans_b=True, prepacked_b=True)
    packed = linear.pack_b(weight)                       # once, like a weight packed at compile time
    y = linear(x, packed)
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from llvmlite import ir

from ember_runtime.cpu import CompiledModule, compile_module, host_target

from .gemm import GemmConfig, GemmEpilogue, emit_pack_b, emit_sgemm, gemm_config

__all__ = ["PackedB", "SgemmCall", "compile_sgemm"]

_I64, _PTR = ctypes.c_int64, ctypes.c_void_p
_SGEMM_ARGS = (_I64,) * 4 + (_PTR, _I64) * 3 + (_PTR, _PTR, _I64, _PTR, _PTR)
_PACK_ARGS = (_I64, _I64, _PTR, _I64, _PTR)


@dataclass(frozen=True)
class PackedB:
    """op(B) [k, n] packed whole by :meth:`SgemmCall.pack_b` (``data`` is 64-byte aligned)."""

    data: np.ndarray
    n: int
    k: int


class SgemmCall:
    """One compiled GEMM variant (see :func:`compile_sgemm`)."""

    def __init__(self, compiled: CompiledModule, config: GemmConfig, trans_b: bool, prepacked_b: bool):
        self.compiled = compiled
        self.config = config
        self.trans_b = trans_b
        self.prepacked_b = prepacked_b
        self.function = compiled.function("sgemm", None, *_SGEMM_ARGS)
        self._pack = compiled.function("sgemm_pack_b", None, *_PACK_ARGS) if prepacked_b else None

    def _shape_of_b(self, b: np.ndarray) -> tuple[int, int]:
        """``(k, n)`` of op(b)."""
        return (b.shape[1], b.shape[0]) if self.trans_b else b.shape

    def pack_b(self, b: np.ndarray) -> PackedB:
        """op(``b``) in the packed layout of a ``prepacked_b`` variant."""
        if self._pack is None:
            raise RuntimeError("sgemm: pack_b needs a variant compiled with prepacked_b=True")
        _check_arrays(b)
        k, n = self._shape_of_b(b)
        data = _aligned(self.config.packed_b_floats(n, k))
        self._pack(n, k, _address(b), b.strides[0] // 4, _address(data))
        return PackedB(data, n, k)

    def __call__(self, a: np.ndarray, b: np.ndarray | PackedB, *, bias: np.ndarray | None = None,
                 residual: np.ndarray | None = None, out: np.ndarray | None = None,
                 rows: tuple[int, int] | None = None) -> np.ndarray:
        """``out (=|+=) a @ op(b)`` plus the epilogue, over ``rows`` of the output (default all). Arrays are
        float32 with a contiguous last axis and any row stride; ``b`` is a :class:`PackedB` for a
        ``prepacked_b`` variant. Returns ``out`` (allocated when not given)."""
        run, out = self.bind(a, b, bias=bias, residual=residual, out=out, rows=rows)
        run()
        return out

    def bind(self, a: np.ndarray, b: np.ndarray | PackedB, *, bias: np.ndarray | None = None,
             residual: np.ndarray | None = None, out: np.ndarray | None = None,
             rows: tuple[int, int] | None = None) -> tuple[Callable[[], None], np.ndarray]:
        """:meth:`__call__`'s checks and argument marshalling done once: returns ``(run, out)`` where ``run()``
        is only the ctypes call (what the backend's compiled graph pays per GEMM; the benchmark times it)."""
        if isinstance(b, PackedB) != self.prepacked_b:
            raise TypeError(f"sgemm: b must {'' if self.prepacked_b else 'not '}be a PackedB for this variant")
        m, k = a.shape
        k_b, n = (b.k, b.n) if isinstance(b, PackedB) else self._shape_of_b(b)
        if k_b != k:
            raise ValueError(f"sgemm: a {a.shape} and op(b) [{k_b}, {n}] do not multiply")
        out = np.empty((m, n), np.float32) if out is None else out
        _check_arrays(a, out, bias, residual, *(() if isinstance(b, PackedB) else (b,)))
        begin, end = rows or (0, m)
        pack_a = _aligned(self.config.pack_a_floats(end - begin, k))
        pack_b = None if isinstance(b, PackedB) else _aligned(self.config.pack_b_floats(n, k))
        b_data, ldb = (b.data, 0) if isinstance(b, PackedB) else (b, b.strides[0] // 4)
        args = (begin, end, n, k, _address(a), a.strides[0] // 4, _address(b_data), ldb, _address(out),
                out.strides[0] // 4, _address(bias), _address(residual),
                0 if residual is None else residual.strides[0] // 4, _address(pack_a), _address(pack_b))
        keep_alive = (a, b_data, out, bias, residual, pack_a, pack_b)  # the addresses in args point into these

        def run(function=self.function, args=args, _arrays=keep_alive) -> None:
            function(*args)

        return run, out


def _check_arrays(*arrays: np.ndarray | None) -> None:
    for array in arrays:
        if array is not None and (array.dtype != np.float32 or (array.shape[-1] > 1 and array.strides[-1] != 4)):
            raise ValueError(f"sgemm: arrays must be float32 with a contiguous last axis, got {array.dtype} with "
                             f"strides {array.strides}")


def _address(array: np.ndarray | None) -> int | None:
    return None if array is None else array.ctypes.data


def _aligned(floats: int) -> np.ndarray:
    """``floats`` float32 values starting on a 64-byte boundary (the packing buffers' contract)."""
    raw = np.empty(floats + 16, np.float32)
    offset = (-raw.ctypes.data % 64) // 4
    return raw[offset:offset + floats]


def compile_sgemm(*, trans_b: bool = False, vector_bits: int | None = None, epilogue: GemmEpilogue | None = None,
                  accumulate: bool = False, prepacked_b: bool = False, config: GemmConfig | None = None) -> SgemmCall:
    """Emit (:func:`.gemm.emit_sgemm`, and :func:`.gemm.emit_pack_b` when ``prepacked_b``), compile with
    ``ember_runtime.cpu.compile_module`` and wrap one GEMM variant. ``vector_bits`` defaults to the host's
    (at least 256); the other arguments are :func:`.gemm.emit_sgemm`'s."""
    vector_bits = vector_bits or max(256, host_target().vector_bits)
    config = config or gemm_config(vector_bits)
    module = ir.Module("ember_sgemm")
    emit_sgemm(module, "sgemm", trans_b=trans_b, vector_bits=vector_bits, epilogue=epilogue, accumulate=accumulate,
               prepacked_b=prepacked_b, config=config)
    if prepacked_b:
        emit_pack_b(module, "sgemm_pack_b", trans_b=trans_b, vector_bits=vector_bits, config=config)
    return SgemmCall(compile_module(str(module)), config, trans_b, prepacked_b)
