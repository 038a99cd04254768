"""The fp32 GEMM of the LLVM CPU backend: ``C[M, N] (=|+=) A[M, K] @ op(B)`` with a fused epilogue.

:func:`emit_sgemm` adds one exported function to an ``llvmlite.ir.Module``, with this C signature (every
matrix row-major with its own row stride, in elements)::

    void name(int64_t m_begin, int64_t m_end, int64_t n, int64_t k,
              const float *a, int64_t lda,        /* A[M, K] */
              const float *b, int64_t ldb,        /* B[K, N], or B[N, K] when trans_b (the Linear weight),
                                                     or op(B) packed by emit_pack_b when prepacked_b */
              float *c, int64_t ldc,              /* C[M, N] */
              const float *bias,                  /* [N], read when the epilogue has a bias, else may be NULL */
              const float *residual, int64_t ldr, /* R[M, N], read when the epilogue has one, else may be NULL */
              float *pack_a, float *pack_b);      /* scratch: GemmConfig.pack_a_floats / pack_b_floats
                                                     (pack_b unused when prepacked_b) */

It computes the rows ``m_begin <= m < m_end`` of C only. Every output element is computed from the same
packed values in the same order (k in blocks of ``KC``, each block summed in k order by one FMA chain, the
blocks added into C in order) whatever the row range, so splitting M across threads (each with its own
``pack_a``/``pack_b``, both 64-byte aligned) gives bitwise the same C as one call. ``k == 0`` gives the
epilogue of a zero product; ``a``, ``b``, ``bias``, ``residual`` must not overlap ``c``
(``accumulate=True`` is the in-place ``C += A @ op(B)``). The function holds no state and allocates
nothing: it is safe to call from several threads at once on disjoint row ranges.

Blocking follows BLIS: for each ``NC`` columns and ``KC`` values of k, op(B) is packed into ``NR``-column
panels (or read pre-packed); for each ``MC`` rows A is packed into ``MR``-row panels; the micro-kernel
(:mod:`.gemm_microkernel`) keeps an ``MR x NR`` tile of C in vector registers, with smaller-row variants
for the bottom edge. :mod:`.gemm_call` compiles one variant alone and calls it on numpy arrays.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from llvmlite import ir

from .gemm_microkernel import (
    I1,
    I64,
    PTR,
    GemmEpilogue,
    Intrinsics,
    counted_loop,
    emit_microkernel,
    emit_pack_cols,
    emit_pack_rows,
    gep,
    new_function,
    smin,
)

__all__ = ["GemmConfig", "GemmEpilogue", "emit_pack_b", "emit_sgemm", "gemm_config"]


@dataclass(frozen=True)
class GemmConfig:
    """The register tile (``mr x nr``, ``nr`` a multiple of the vector width) and the cache blocks
    (``mc`` rows of A, ``kc`` values of k, ``nc`` columns of B) of one GEMM variant."""

    vector_bits: int
    mr: int
    nr: int
    mc: int
    kc: int
    nc: int

    def __post_init__(self):
        if self.vector_bits not in (256, 512):
            raise ValueError(f"GemmConfig: vector_bits must be 256 or 512, got {self.vector_bits}")
        if self.nr % (self.vector_bits // 32) or self.mc % self.mr or self.nc % self.nr:
            raise ValueError(f"GemmConfig: nr must be a multiple of the vector width, mc of mr and nc of nr: {self}")

    @property
    def width(self) -> int:
        return self.vector_bits // 32

    def pack_a_floats(self, m: int, k: int) -> int:
        """Floats of ``pack_a`` for a call over ``m`` rows (``m_end - m_begin``)."""
        return _round_up(min(self.mc, max(m, 1)), self.mr) * min(self.kc, max(k, 1))

    def pack_b_floats(self, n: int, k: int) -> int:
        """Floats of ``pack_b`` for a call with ``n`` columns."""
        return _round_up(min(self.nc, max(n, 1)), self.nr) * min(self.kc, max(k, 1))

    def packed_b_floats(self, n: int, k: int) -> int:
        """Floats of a whole op(B) packed by :func:`emit_pack_b` (at least 1)."""
        return max(_round_up(n, self.nr) * k, 1)


def _round_up(x: int, multiple: int) -> int:
    return -(-x // multiple) * multiple


def gemm_config(vector_bits: int) -> GemmConfig:
    """The tuned default for ``vector_bits`` (512: AVX-512, 256: AVX2).

    AVX-512 keeps a 14 x 32 tile in 28 of the 32 zmm registers (2 B vectors, 1 broadcast); AVX2 the classic
    6 x 16 in 12 of 16 ymm. ``kc = 512`` spreads each tile's C update over 512 FMA steps (the micro-panels
    then stream from L2, which keeps up); ``mc x kc`` of packed A stays in L2. Measured on this host's
    AVX-512 core (tools/bench_gemm.py), kc 256..768, mc 70..280 and tiles 12x32, 8x48 are within noise.
    """
    if vector_bits == 512:
        return GemmConfig(512, mr=14, nr=32, mc=140, kc=512, nc=4096)
    return GemmConfig(vector_bits, mr=6, nr=16, mc=144, kc=512, nc=4096)


def emit_sgemm(module: ir.Module, name: str, *, trans_b: bool, vector_bits: int,
               epilogue: GemmEpilogue | None = None, accumulate: bool = False, prepacked_b: bool = False,
               config: GemmConfig | None = None) -> ir.Function:
    """Add the GEMM ``name`` (signature in the module docstring) and its internal helpers to ``module``.

    Args:
        module: the module to extend; helper names are prefixed with ``name``.
        name: the exported function's name.
        trans_b: B is stored [N, K] and used transposed (``x @ W^T`` of ``Linear``); else B is [K, N].
        vector_bits: 512 (AVX-512, ``<16 x float>``) or 256 (AVX2, ``<8 x float>``).
        epilogue: bias / activation / residual applied to the finished tiles; default none.
        accumulate: ``C += A @ op(B)`` (then the epilogue) instead of ``C = ...``.
        prepacked_b: ``b`` is op(B) already packed by :func:`emit_pack_b`'s function with the same config (a
            weight packed once at compile time); ``ldb`` and ``pack_b`` are then unused.
        config: the blocking; default :func:`gemm_config` of ``vector_bits``.

    Returns:
        The exported function.
    """
    config = _checked_config(config, vector_bits)
    epilogue = epilogue or GemmEpilogue()
    vec = Intrinsics(module, config.width)
    # one kernel per row count of the bottom edge (halving down to 1 row), so a short tile, or a product with
    # M < mr (a batch-1 Linear), does not pay for mr rows of FMAs
    kernels = {rows: emit_microkernel(module, f"{name}.tile{rows}", vec, rows, config.nr, config.mr, epilogue,
                                      vector_bits) for rows in _row_variants(config.mr)}
    pack_a_rows = emit_pack_rows(module, f"{name}.pack_a", config.mr, vector_bits)
    pack_b = None if prepacked_b else _emit_pack_b_block(module, name, vec, trans_b, config)

    fn, b = new_function(module, name, [("m_begin", I64), ("m_end", I64), ("n", I64), ("k", I64), ("a", PTR),
                                        ("lda", I64), ("b", PTR), ("ldb", I64), ("c", PTR), ("ldc", I64),
                                        ("bias", PTR), ("residual", PTR), ("ldr", I64), ("pack_a", PTR),
                                        ("pack_b", PTR)], internal=False, vector_bits=vector_bits)
    m_begin, m_end, n, k, a, lda, bm, ldb, c, ldc, bias, residual, ldr, pack_a_ptr, pack_b_ptr = fn.args
    for ptr in (a, bm, c, bias, residual, pack_a_ptr, pack_b_ptr):
        ptr.add_attribute("noalias")
    for ptr in (pack_a_ptr, pack_b_ptr) + ((bm,) if prepacked_b else ()):
        ptr.attributes.align = 64
    const = lambda value: ir.Constant(I64, value)  # noqa: E731
    zero = const(0)

    with b.if_then(b.icmp_signed("<", m_begin, m_end)), counted_loop(b, zero, n, config.nc, "jc") as jc:
        nc = smin(b, const(config.nc), b.sub(n, jc))
        with _k_blocks(b, k, config.kc) as (pc, kc):
            load_c = b.or_(ir.Constant(I1, int(accumulate)), b.icmp_signed(">", pc, zero))
            last = b.icmp_signed(">=", b.add(pc, kc), k)
            if prepacked_b:
                panels = gep(b, bm, _packed_block_offset(b, config, jc, nc, pc, k))
            else:
                b.call(pack_b, [kc, nc, _b_block(b, bm, ldb, jc, pc, trans_b), ldb, pack_b_ptr])
                panels = pack_b_ptr
            with counted_loop(b, m_begin, m_end, config.mc, "ic") as ic:
                mc = smin(b, const(config.mc), b.sub(m_end, ic))
                b.call(pack_a_rows, [kc, mc, gep(b, a, b.add(b.mul(ic, lda), pc)), lda, pack_a_ptr])
                with counted_loop(b, zero, nc, config.nr, "jr") as jr:
                    cols = smin(b, const(config.nr), b.sub(nc, jr))
                    col = b.add(jc, jr)
                    with counted_loop(b, zero, mc, config.mr, "ir") as ir_:
                        rows = smin(b, const(config.mr), b.sub(mc, ir_))
                        row = b.add(ic, ir_)
                        tile_residual = gep(b, residual, b.add(b.mul(row, ldr), col)) if epilogue.residual else residual
                        _call_by_rows(b, kernels, rows, [
                            kc, gep(b, pack_a_ptr, b.mul(ir_, kc)), gep(b, panels, b.mul(jr, kc)),
                            gep(b, c, b.add(b.mul(row, ldc), col)), ldc, rows, cols, load_c, last,
                            gep(b, bias, col) if epilogue.bias else bias, tile_residual, ldr])
    b.ret_void()
    return fn


def emit_pack_b(module: ir.Module, name: str, *, trans_b: bool, vector_bits: int,
                config: GemmConfig | None = None) -> ir.Function:
    """Add ``void name(int64_t n, int64_t k, const float *b, int64_t ldb, float *out)``: op(B) packed whole for a
    ``prepacked_b`` GEMM of the same config, into ``out`` (64-byte aligned, ``config.packed_b_floats(n, k)``
    floats). Layout: the block of columns ``jc`` and k values ``pc`` starts at ``jc * k + pc * nc_pad``
    (``nc_pad``: that column block's width rounded up to ``nr``), itself ``nr``-column panels, k-major."""
    config = _checked_config(config, vector_bits)
    pack_b = _emit_pack_b_block(module, name, Intrinsics(module, config.width), trans_b, config)
    fn, b = new_function(module, name, [("n", I64), ("k", I64), ("b", PTR), ("ldb", I64), ("out", PTR)],
                         internal=False, vector_bits=vector_bits)
    n, k, bm, ldb, out = fn.args
    out.attributes.align = 64
    with counted_loop(b, ir.Constant(I64, 0), n, config.nc, "jc") as jc:
        nc = smin(b, ir.Constant(I64, config.nc), b.sub(n, jc))
        with _k_blocks(b, k, config.kc) as (pc, kc):
            b.call(pack_b, [kc, nc, _b_block(b, bm, ldb, jc, pc, trans_b), ldb,
                            gep(b, out, _packed_block_offset(b, config, jc, nc, pc, k))])
    b.ret_void()
    return fn


def _row_variants(mr: int) -> list[int]:
    """``mr`` and the powers of two below it: 14 -> [1, 2, 4, 8, 14]."""
    return sorted({mr} | {1 << i for i in range(mr.bit_length()) if 1 << i < mr})


def _call_by_rows(b: ir.IRBuilder, kernels: dict[int, ir.Function], rows: ir.Value, args: list[ir.Value]) -> None:
    """Call the kernel with the fewest rows that covers ``rows`` (a ``switch`` on 1..mr)."""
    done = b.append_basic_block("tile.done")
    blocks = {}
    for count, kernel in kernels.items():
        blocks[count] = b.append_basic_block(f"tile{count}")
        with b.goto_block(blocks[count]):
            b.call(kernel, args)
            b.branch(done)
    full = max(kernels)
    switch = b.switch(rows, blocks[full])
    for value in range(1, full):
        switch.add_case(ir.Constant(I64, value), blocks[min(c for c in kernels if c >= value)])
    b.position_at_end(done)


def _checked_config(config: GemmConfig | None, vector_bits: int) -> GemmConfig:
    config = config or gemm_config(vector_bits)
    if config.vector_bits != vector_bits:
        raise ValueError(f"emit_sgemm: config is for {config.vector_bits}-bit vectors, asked for {vector_bits}")
    return config


def _emit_pack_b_block(module: ir.Module, name: str, vec: Intrinsics, trans_b: bool,
                       config: GemmConfig) -> ir.Function:
    """The packer of one ``kc x nc`` block of op(B): ``(kc, nc, src, ldb, dst)``."""
    if trans_b:
        return emit_pack_rows(module, f"{name}.pack_b", config.nr, config.vector_bits)
    return emit_pack_cols(module, f"{name}.pack_b", vec, config.nr, config.vector_bits)


def _b_block(b: ir.IRBuilder, bm: ir.Value, ldb: ir.Value, jc: ir.Value, pc: ir.Value, trans_b: bool) -> ir.Value:
    """The address of op(B)[pc, jc] in B as stored."""
    return gep(b, bm, b.add(b.mul(jc, ldb), pc) if trans_b else b.add(b.mul(pc, ldb), jc))


def _packed_block_offset(b: ir.IRBuilder, config: GemmConfig, jc, nc, pc, k) -> ir.Value:
    nr = ir.Constant(I64, config.nr)
    nc_pad = b.mul(b.sdiv(b.add(nc, ir.Constant(I64, config.nr - 1)), nr), nr)
    return b.add(b.mul(jc, k), b.mul(pc, nc_pad))


@contextmanager
def _k_blocks(b: ir.IRBuilder, k: ir.Value, block: int) -> Iterator[tuple[ir.Value, ir.Value]]:
    """Yields ``(pc, kc)`` for each block of k; a do-while, so ``k == 0`` still runs one empty block (the
    epilogue of a zero product is written)."""
    before = b.block
    body = b.append_basic_block("pc.body")
    done = b.append_basic_block("pc.done")
    b.branch(body)
    b.position_at_end(body)
    pc = b.phi(I64, "pc")
    pc.add_incoming(ir.Constant(I64, 0), before)
    yield pc, smin(b, ir.Constant(I64, block), b.sub(k, pc))
    next_pc = b.add(pc, ir.Constant(I64, block))
    pc.add_incoming(next_pc, b.block)
    b.cbranch(b.icmp_signed("<", next_pc, k), body, done)
    b.position_at_end(done)
