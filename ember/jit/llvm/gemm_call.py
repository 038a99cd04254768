"""The kernel library's GEMM (:mod:`ember_runtime.cpu.kernels`) called on numpy arrays through ctypes: what the
tests and ``tools/bench_gemm.py`` use (compiled graphs call the same entry points from their own modules).

Example::

    gemm = compile_sgemm(trans_b=True, epilogue=GemmEpilogue(bias=True, activation="relu"))
    y = gemm(x, weight, bias=b)                          # relu(x @ weight.T + b)

    linear = compile_sgemm(trans_b=True, prepacked_b=True)
    packed = linear.pack_b(weight)                       # once, like a weight packed at compile time
    y = linear(x, packed)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ember_runtime.cpu import host_target
from ember_runtime.cpu.kernels import KernelLibrary, build_library, ensure_library, library_config

from .gemm import GemmConfig, GemmEpilogue, GemmFlags, gemm_config

__all__ = ["PackedA", "PackedB", "SgemmCall", "compile_sgemm"]


@dataclass(frozen=True)
class PackedB:
    """op(B) [k, n] packed whole by :meth:`SgemmCall.pack_b` (``data`` is 64-byte aligned)."""

    data: np.ndarray
    n: int
    k: int


@dataclass(frozen=True)
class PackedA:
    """A [m, k] packed whole by :meth:`SgemmCall.pack_a` (``data`` is 64-byte aligned)."""

    data: np.ndarray
    m: int
    k: int


class SgemmCall:
    """One GEMM variant: a library and the flags of its calls (see :func:`compile_sgemm`)."""

    def __init__(self, library: KernelLibrary, flags: GemmFlags, epilogue: GemmEpilogue):
        self.library = library
        self.compiled = library.compiled
        self.config = library.config
        self.flags = flags
        self.epilogue = epilogue
        self.trans_b = bool(flags & GemmFlags.TRANS_B)
        self.prepacked_b = bool(flags & GemmFlags.PREPACKED_B)
        self.prepacked_a = bool(flags & GemmFlags.PREPACKED_A)

    def _shape_of_b(self, b: np.ndarray) -> tuple[int, int]:
        """``(k, n)`` of op(b)."""
        return (b.shape[1], b.shape[0]) if self.trans_b else b.shape

    def pack_b(self, b: np.ndarray) -> PackedB:
        """op(``b``) in the packed layout of a ``prepacked_b`` variant."""
        if not self.prepacked_b:
            raise RuntimeError("sgemm: pack_b needs a variant compiled with prepacked_b=True")
        _check_arrays(b)
        k, n = self._shape_of_b(b)
        data = _aligned(self.config.packed_b_floats(n, k))
        self.library.pack_b(n, k, _address(b), b.strides[0] // 4, int(self.flags & GemmFlags.TRANS_B), _address(data))
        return PackedB(data, n, k)

    def pack_a(self, a: np.ndarray) -> PackedA:
        """``a`` in the packed layout of a ``prepacked_a`` variant."""
        if not self.prepacked_a:
            raise RuntimeError("sgemm: pack_a needs a variant compiled with prepacked_a=True")
        _check_arrays(a)
        data = _aligned(self.config.packed_a_floats(*a.shape))
        self.library.pack_a(a.shape[0], a.shape[1], _address(a), a.strides[0] // 4, 0, _address(data))
        return PackedA(data, *a.shape)

    def __call__(self, a: np.ndarray | PackedA, b: np.ndarray | PackedB, *, bias: np.ndarray | None = None,
                 residual: np.ndarray | None = None, out: np.ndarray | None = None,
                 rows: tuple[int, int] | None = None) -> np.ndarray:
        """``out (=|+=) a @ op(b)`` plus the epilogue, over ``rows`` of the output (default all). Arrays are
        float32 with a contiguous last axis and any row stride; ``a`` is a :class:`PackedA` for a ``prepacked_a``
        variant (then ``rows`` must be None), ``b`` a :class:`PackedB` for a ``prepacked_b`` one. Returns ``out``
        (allocated when not given)."""
        run, out = self.bind(a, b, bias=bias, residual=residual, out=out, rows=rows)
        run()
        return out

    def bind(self, a: np.ndarray | PackedA, b: np.ndarray | PackedB, *, bias: np.ndarray | None = None,
             residual: np.ndarray | None = None, out: np.ndarray | None = None,
             rows: tuple[int, int] | None = None) -> tuple[Callable[[], None], np.ndarray]:
        """:meth:`__call__`'s checks and argument marshalling done once: returns ``(run, out)`` where ``run()``
        is only the ctypes call (what the backend's compiled graph pays per GEMM; the benchmark times it)."""
        if isinstance(b, PackedB) != self.prepacked_b:
            raise TypeError(f"sgemm: b must {'' if self.prepacked_b else 'not '}be a PackedB for this variant")
        if isinstance(a, PackedA) != self.prepacked_a or isinstance(a, PackedA) and rows is not None:
            raise TypeError(f"sgemm: a must {'' if self.prepacked_a else 'not '}be a PackedA for this variant "
                            "(and a PackedA takes no row range)")
        m, k = (a.m, a.k) if isinstance(a, PackedA) else a.shape
        k_b, n = (b.k, b.n) if isinstance(b, PackedB) else self._shape_of_b(b)
        if k_b != k:
            raise ValueError(f"sgemm: a [{m}, {k}] and op(b) [{k_b}, {n}] do not multiply")
        out = np.empty((m, n), np.float32) if out is None else out
        _check_arrays(out, bias, residual, *(() if isinstance(b, PackedB) else (b,)),
                      *(() if isinstance(a, PackedA) else (a,)))
        begin, end = rows or (0, m)
        pack_a = None if isinstance(a, PackedA) else _aligned(self.config.packed_a_floats(end - begin, k))
        pack_b = None if isinstance(b, PackedB) else _aligned(self.config.packed_b_floats(n, k))
        a_data, lda = (a.data, 0) if isinstance(a, PackedA) else (a, a.strides[0] // 4)
        b_data, ldb = (b.data, 0) if isinstance(b, PackedB) else (b, b.strides[0] // 4)
        ldr = 0 if residual is None else residual.strides[0] // 4
        ldc = out.strides[0] // 4
        bias_at = 0 if bias is None or not self.epilogue.row_bias else begin * 4
        args = (end - begin, n, k, _address(a_data, begin * lda * 4), lda, _address(b_data), ldb,
                _address(out, begin * ldc * 4), ldc, _address(bias, bias_at), _address(residual, begin * ldr * 4),
                ldr, int(self.flags), _address(pack_a), _address(pack_b))
        keep_alive = (a_data, b_data, out, bias, residual, pack_a, pack_b)  # the addresses in args point into these

        def run(function=self.library.sgemm, args=args, _arrays=keep_alive) -> None:
            function(*args)

        return run, out


def _check_arrays(*arrays: np.ndarray | None) -> None:
    for array in arrays:
        if array is not None and (array.dtype != np.float32 or (array.shape[-1] > 1 and array.strides[-1] != 4)):
            raise ValueError(f"sgemm: arrays must be float32 with a contiguous last axis, got {array.dtype} with "
                             f"strides {array.strides}")


def _address(array: np.ndarray | None, byte_offset: int = 0) -> int | None:
    return None if array is None else array.ctypes.data + byte_offset


def _aligned(floats: int) -> np.ndarray:
    """``floats`` float32 values starting on a 64-byte boundary (the packing buffers' contract)."""
    raw = np.empty(floats + 16, np.float32)
    offset = (-raw.ctypes.data % 64) // 4
    return raw[offset:offset + floats]


def compile_sgemm(*, trans_b: bool = False, vector_bits: int | None = None, epilogue: GemmEpilogue | None = None,
                  accumulate: bool = False, prepacked_b: bool = False, config: GemmConfig | None = None,
                  prepacked_a: bool = False) -> SgemmCall:
    """One GEMM variant: the process's kernel library when ``config`` (default: :func:`.gemm.gemm_config` of
    ``vector_bits``, default the host's, at least 256) is its blocking, else a library compiled for ``config``;
    the other arguments choose the call's flags (:class:`~.gemm.GemmFlags`)."""
    config = config or gemm_config(vector_bits or max(256, host_target().vector_bits))
    library = ensure_library() if config == library_config() else build_library(config)
    epilogue = epilogue or GemmEpilogue()
    flags = epilogue.flags | (GemmFlags.TRANS_B if trans_b else 0) | (GemmFlags.ACCUMULATE if accumulate else 0)
    flags |= (GemmFlags.PREPACKED_B if prepacked_b else 0) | (GemmFlags.PREPACKED_A if prepacked_a else 0)
    return SgemmCall(library, flags, epilogue)
