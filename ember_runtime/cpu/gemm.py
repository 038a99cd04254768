"""The fp32 GEMM of the kernel library: ``C[M, N] (=|+=) A[M, K] @ op(B)`` with a fused epilogue, as LLVM IR.

:func:`emit_gemm` adds the library's entry points to an ``llvmlite.ir.Module`` (their C signatures, flags and
packed layouts are the kernel ABI, documented in :mod:`.kernels`): ``ember_rt_pack_a`` and ``ember_rt_pack_b``
pack A into ``MR``-row panels and op(B) into ``NR``-column panels, and ``ember_rt_sgemm`` multiplies, first packing
whichever operand does not come pre-packed (a weight packed once at compile time) into the caller's workspace.

Blocking follows BLIS: C is computed for each ``NC`` columns and ``KC`` values of k, ``MC`` rows at a time, by the
micro-kernel (:mod:`.gemm_microkernel`), which keeps an ``MR x NR`` tile of C in vector registers, with
smaller-row variants for the bottom edge. Both operands are packed whole before the product (by several tasks
when large), so the product's tasks share them and pack nothing.

The product is cut into rectangles of C (rows in multiples of ``MR``, columns in multiples of ``NR``) whose
number depends only on ``m``, ``n`` and ``k`` (:func:`_task_grid`), never on the thread count. Every output
element is computed by the same kernel (tiles start at multiples of ``MR`` whatever the cut) with the same FMA
chains in the same order (k in blocks of ``KC``, the blocks added into C in order), so the result is bitwise the
same however the rectangles are spread over threads.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from llvmlite import ir

from .gemm_microkernel import (
    EPILOGUE_FLAGS,
    I64,
    PTR,
    GemmFlags,
    Intrinsics,
    counted_loop,
    emit_microkernel,
    emit_pack_cols,
    emit_pack_rows,
    gep,
    new_function,
    smin,
)

__all__ = ["GemmConfig", "emit_gemm", "gemm_config"]

# A rectangle of C below this many multiply-adds is not cut further: 2^20 MACs (~10-20 us on one core) keep the
# hand-off to a worker thread a small part of a task's time.
_TASK_MACS = 1 << 20
# At most this many rectangles: enough to balance a many-core host, few enough that each streams a good share of
# the packed operands.
_MAX_TASKS = 64
# Packing an operand is cut into tasks of at least this many floats (256 KiB: a copy of some tens of microseconds).
_PACK_TASK_FLOATS = 1 << 16


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

    def packed_a_floats(self, m: int, k: int) -> int:
        """Floats of a whole A ``[m, k]`` packed by ``ember_rt_pack_a`` (at least 1): the ``pack_a`` workspace
        of a call without PREPACKED_A."""
        return max(_round_up(m, self.mr) * k, 1)

    def packed_b_floats(self, n: int, k: int) -> int:
        """Floats of a whole op(B) ``[k, n]`` packed by ``ember_rt_pack_b`` (at least 1): the ``pack_b``
        workspace of a call without PREPACKED_B."""
        return max(_round_up(n, self.nr) * k, 1)

    pack_a_floats = packed_a_floats  # the names of the per-call workspaces, as lowerings size their scratch
    pack_b_floats = packed_b_floats


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


# The fields of a GEMM call a rectangle task reads (the task's context is a struct of them).
_CALL_FIELDS = (("m", I64), ("n", I64), ("k", I64), ("packed_a", PTR), ("packed_b", PTR), ("c", PTR), ("ldc", I64),
                ("bias", PTR), ("residual", PTR), ("ldr", I64), ("flags", I64), ("rows_per", I64),
                ("cols_per", I64), ("tasks_n", I64))
_CALL = ir.LiteralStructType([t for _, t in _CALL_FIELDS])
# A packing job: ``lines`` rows of A or columns of op(B), ``k`` values each, from ``src`` (``by_rows``: line i at
# src + i * ld, else column i of a row-major [k, lines] matrix), ``lines_per`` lines per task.
_PACK_FIELDS = (("lines", I64), ("k", I64), ("src", PTR), ("ld", I64), ("by_rows", I64), ("out", PTR),
                ("lines_per", I64))
_PACK = ir.LiteralStructType([t for _, t in _PACK_FIELDS])
# Both packing jobs of a call in one dispatch: tasks [0, tasks_a) pack A, the rest op(B).
_BOTH_FIELDS = (("job_a", PTR), ("job_b", PTR), ("tasks_a", I64))
_BOTH = ir.LiteralStructType([t for _, t in _BOTH_FIELDS])
_PACK_SIGNATURE = [("lines", I64), ("k", I64), ("src", PTR), ("ld", I64), ("flags", I64), ("out", PTR)]


def emit_gemm(module: ir.Module, config: GemmConfig, prefix: str, parallel_for: ir.Function | None) -> None:
    """Add ``{prefix}pack_a``, ``{prefix}pack_b`` and ``{prefix}sgemm`` (see :mod:`.kernels` for the ABI).

    ``parallel_for`` is the declared ``void ember_parallel_for(ptr task_fn, ptr context, i64 n_tasks)`` that
    runs the tasks of a call on the worker pool, or None to run them in order on the calling thread.
    """
    vec = Intrinsics(module, config.width)
    pack_a_task = _emit_pack_task(module, f"{prefix}pack_a.task", config, config.mr, config.mc, vec,
                                  _row_variants(config.mr))
    pack_b_task = _emit_pack_task(module, f"{prefix}pack_b.task", config, config.nr, config.nc, vec, None)
    for name, task, r, trans_flag in (("pack_a", pack_a_task, config.mr, None),
                                      ("pack_b", pack_b_task, config.nr, GemmFlags.TRANS_B)):
        fn, b = new_function(module, f"{prefix}{name}", _PACK_SIGNATURE, internal=False,
                             vector_bits=config.vector_bits)
        lines, k, src, ld, flags, out = fn.args
        out.attributes.align = 64
        job, n_tasks = _pack_job(b, lines, k, src, ld, _by_rows(b, flags, trans_flag), out, r)
        _run_tasks(b, parallel_for, task, job, n_tasks, flags)
        b.ret_void()
    both = _emit_pack_both(module, f"{prefix}pack.task", config, pack_a_task, pack_b_task)
    rect = _emit_rectangle(module, f"{prefix}sgemm.rect", vec, config)
    task = _emit_task(module, f"{prefix}sgemm.task", rect, config)

    fn, b = new_function(module, f"{prefix}sgemm", [("m", I64), ("n", I64), ("k", I64), ("a", PTR), ("lda", I64),
                                                    ("b", PTR), ("ldb", I64), ("c", PTR), ("ldc", I64),
                                                    ("bias", PTR), ("residual", PTR), ("ldr", I64),
                                                    ("flags", I64), ("pack_a", PTR), ("pack_b", PTR)],
                         internal=False, vector_bits=config.vector_bits)
    m, n, k, a, lda, bm, ldb, c, ldc, bias, residual, ldr, flags, pack_a, pack_b = fn.args
    const = lambda value: ir.Constant(I64, value)  # noqa: E731
    zero = const(0)
    with b.if_then(b.and_(b.icmp_signed(">", m, zero), b.icmp_signed(">", n, zero))):
        prepacked_a = b.icmp_signed("!=", b.and_(flags, const(int(GemmFlags.PREPACKED_A))), zero)
        prepacked_b = b.icmp_signed("!=", b.and_(flags, const(int(GemmFlags.PREPACKED_B))), zero)
        job_a, tasks_a = _pack_job(b, m, k, a, lda, const(1), pack_a, config.mr)
        job_b, tasks_b = _pack_job(b, n, k, bm, ldb, _by_rows(b, flags, GemmFlags.TRANS_B), pack_b, config.nr)
        tasks_a, tasks_b = b.select(prepacked_a, zero, tasks_a), b.select(prepacked_b, zero, tasks_b)
        _run_tasks(b, parallel_for, both, _store_struct(b, _BOTH, [job_a, job_b, tasks_a]), b.add(tasks_a, tasks_b),
                   flags)
        rows_per, tasks_m, cols_per, tasks_n = _task_grid(b, config, m, n, k)
        call = _store_struct(b, _CALL, [m, n, k, b.select(prepacked_a, a, pack_a), b.select(prepacked_b, bm, pack_b),
                                        c, ldc, bias, residual, ldr, flags, rows_per, cols_per, tasks_n])
        _run_tasks(b, parallel_for, task, call, b.mul(tasks_m, tasks_n), flags)
    b.ret_void()


def _by_rows(b: ir.IRBuilder, flags: ir.Value, trans_flag: GemmFlags | None) -> ir.Value:
    """1 when the packed lines are rows of the source (A always, B when TRANS_B), else 0."""
    if trans_flag is None:
        return ir.Constant(I64, 1)
    return b.lshr(b.and_(flags, ir.Constant(I64, int(trans_flag))), ir.Constant(I64, int(trans_flag).bit_length() - 1))


def _pack_job(b: ir.IRBuilder, lines, k, src, ld, by_rows, out, r: int) -> tuple[ir.Value, ir.Value]:
    """A packing job's context and task count: panels of ``r`` lines shared out in tasks of at least
    ``_PACK_TASK_FLOATS`` floats (the count depends only on the sizes)."""
    const = lambda value: ir.Constant(I64, value)  # noqa: E731
    panels = b.sdiv(b.add(lines, const(r - 1)), const(r))
    work = b.mul(b.mul(panels, const(r)), k)
    want = smin(b, smin(b, const(_MAX_TASKS), b.add(b.sdiv(work, const(_PACK_TASK_FLOATS)), const(1))), panels)
    want = b.select(b.icmp_signed("<", want, const(1)), const(1), want)
    lines_per = b.mul(b.sdiv(b.add(panels, b.sub(want, const(1))), want), const(r))
    n_tasks = b.sdiv(b.add(lines, b.sub(lines_per, const(1))), lines_per)
    return _store_struct(b, _PACK, [lines, k, src, ld, by_rows, out, lines_per]), n_tasks


def _emit_pack_both(module: ir.Module, name: str, config: GemmConfig, pack_a: ir.Function,
                    pack_b: ir.Function) -> ir.Function:
    """``void name(ptr both, i64 task)``: task ``t`` of A's packing job, or ``t - tasks_a`` of B's."""
    fn, b = new_function(module, name, [("both", PTR), ("task", I64)], internal=True, vector_bits=config.vector_bits)
    job_a, job_b, tasks_a = _load_struct(b, _BOTH, _BOTH_FIELDS, fn.args[0])
    task = fn.args[1]
    with b.if_else(b.icmp_signed("<", task, tasks_a)) as (of_a, of_b):
        with of_a:
            b.call(pack_a, [job_a, task])
        with of_b:
            b.call(pack_b, [job_b, b.sub(task, tasks_a)])
    b.ret_void()
    return fn


def _emit_pack_task(module: ir.Module, name: str, config: GemmConfig, r: int, block: int, vec: Intrinsics,
                    variants: list[int] | None) -> ir.Function:
    """``void name(ptr job, i64 task)``: lines ``[task * lines_per, ...)`` of a packing job, into the packed
    layout (see :mod:`.kernels`): the block of lines ``j0`` (``block`` of them) and k values ``p0`` (``kc``)
    starts at ``j0 * k + p0 * width``, ``width`` the block's line count rounded up to ``r``; in it the panel of
    lines ``j0 + i`` (``i`` a multiple of ``r``) starts at ``i * kc``, k-major, zero past the last line."""
    fn, b = new_function(module, name, [("job", PTR), ("task", I64)], internal=True, vector_bits=config.vector_bits)
    by_rows_packer = emit_pack_rows(module, f"{name}.rows", r, config.vector_bits, variants)
    by_cols_packer = emit_pack_cols(module, f"{name}.cols", vec, r, config.vector_bits)
    lines, k, src, ld, by_rows, out, lines_per = _load_struct(b, _PACK, _PACK_FIELDS, fn.args[0])
    const = lambda value: ir.Constant(I64, value)  # noqa: E731
    line0 = b.mul(fn.args[1], lines_per)
    line1 = smin(b, lines, b.add(line0, lines_per))
    rows = b.icmp_signed("!=", by_rows, const(0))
    with counted_loop(b, b.mul(b.sdiv(line0, const(block)), const(block)), line1, block, "jc") as jc:
        width = smin(b, const(block), b.sub(lines, jc))
        lo = b.select(b.icmp_signed(">", line0, jc), line0, jc)  # this task's lines of the block
        count = b.sub(smin(b, line1, b.add(jc, width)), lo)
        with _k_blocks(b, k, config.kc) as (pc, kc):
            dst = gep(b, out, b.add(_block_offset(b, r, jc, width, pc, k), b.mul(b.sub(lo, jc), kc)))
            with b.if_else(rows) as (of_rows, of_cols):
                with of_rows:
                    b.call(by_rows_packer, [kc, count, gep(b, src, b.add(b.mul(lo, ld), pc)), ld, dst])
                with of_cols:
                    b.call(by_cols_packer, [kc, count, gep(b, src, b.add(b.mul(pc, ld), lo)), ld, dst])
    b.ret_void()
    return fn


def _task_grid(b: ir.IRBuilder, config: GemmConfig, m, n, k) -> tuple[ir.Value, ir.Value, ir.Value, ir.Value]:
    """``(rows_per, tasks_m, cols_per, tasks_n)``: C cut into ``tasks_m x tasks_n`` rectangles of ``rows_per``
    rows (a multiple of ``mr``) by ``cols_per`` columns (a multiple of ``nr``), from the sizes only. Each
    rectangle streams its rows of packed A and its columns of packed B, so for ``T`` rectangles the traffic
    ``tasks_n * m + tasks_m * n`` is least at ``tasks_m = sqrt(T * m / n)``: square products are cut both ways,
    a batch-1 Linear or a convolution with few output channels only along its columns."""
    const = lambda value: ir.Constant(I64, value)  # noqa: E731
    one = const(1)

    def ceil_div(x, y):
        return b.sdiv(b.add(x, b.sub(y, one)), y)

    def round_up(x, multiple: int):
        return b.mul(ceil_div(x, const(multiple)), const(multiple))

    # a product of few rows is bound by streaming packed B, which costs about as much per value as 16 rows of
    # FMAs: count it as 16 rows, so a batch-1 Linear with a large weight is still shared out
    rows = b.select(b.icmp_signed(">", m, const(16)), m, const(16))
    macs = b.mul(b.mul(rows, n), b.select(b.icmp_signed(">", k, one), k, one))
    want = smin(b, const(_MAX_TASKS), b.add(b.sdiv(macs, const(_TASK_MACS)), one))
    f64 = ir.DoubleType()
    sqrt = b.module.globals.get("llvm.sqrt.f64") or ir.Function(b.module, ir.FunctionType(f64, [f64]), "llvm.sqrt.f64")
    balanced = b.call(sqrt, [b.fdiv(b.sitofp(b.mul(want, m), f64), b.sitofp(n, f64))])
    tasks_m = b.fptosi(b.fadd(balanced, ir.Constant(f64, 0.5)), I64)
    tasks_m = smin(b, smin(b, want, ceil_div(m, const(config.mr))),
                   b.select(b.icmp_signed("<", tasks_m, one), one, tasks_m))
    rows_per = round_up(ceil_div(m, tasks_m), config.mr)
    tasks_m = ceil_div(m, rows_per)
    tasks_n = smin(b, ceil_div(want, tasks_m), ceil_div(n, const(config.nr)))
    cols_per = round_up(ceil_div(n, tasks_n), config.nr)
    return rows_per, tasks_m, cols_per, ceil_div(n, cols_per)


def _emit_task(module: ir.Module, name: str, rect: ir.Function, config: GemmConfig) -> ir.Function:
    """``void name(ptr call, i64 task)``: the rectangle ``task`` of the product described by ``call``."""
    fn, b = new_function(module, name, [("call", PTR), ("task", I64)], internal=True, vector_bits=config.vector_bits)
    call, task = fn.args
    fields = dict(zip([field for field, _ in _CALL_FIELDS], _load_struct(b, _CALL, _CALL_FIELDS, call), strict=True))
    row0 = b.mul(b.sdiv(task, fields["tasks_n"]), fields["rows_per"])
    col0 = b.mul(b.srem(task, fields["tasks_n"]), fields["cols_per"])
    row1 = smin(b, fields["m"], b.add(row0, fields["rows_per"]))
    col1 = smin(b, fields["n"], b.add(col0, fields["cols_per"]))
    b.call(rect, [row0, row1, col0, col1, *(fields[f] for f, _ in _CALL_FIELDS[:11])])
    b.ret_void()
    return fn


def _emit_rectangle(module: ir.Module, name: str, vec: Intrinsics, config: GemmConfig) -> ir.Function:
    """``void name(i64 row0, i64 row1, i64 col0, i64 col1, <the call's fields>)``: the rows ``[row0, row1)`` and
    columns ``[col0, col1)`` of C (multiples of ``mr`` and ``nr``) from A and op(B) packed whole, in BLIS order:
    column blocks, k blocks, row blocks, then ``nr``-column panels and ``mr``-row tiles."""
    kernels = {rows: emit_microkernel(module, f"{name}.tile{rows}", vec, rows, config.nr, config.mr,
                                      config.vector_bits) for rows in _row_variants(config.mr)}
    fn, b = new_function(module, name, [("row0", I64), ("row1", I64), ("col0", I64), ("col1", I64),
                                        *_CALL_FIELDS[:11]], internal=True, vector_bits=config.vector_bits)
    row0, row1, col0, col1, m, n, k, packed_a, packed_b, c, ldc, bias, residual, ldr, flags = fn.args
    for ptr in (packed_a, packed_b, c, bias, residual):
        ptr.add_attribute("noalias")
    packed_a.attributes.align = 64
    packed_b.attributes.align = 64
    const = lambda value: ir.Constant(I64, value)  # noqa: E731
    zero = const(0)

    def has(flag: int) -> ir.Value:
        return b.icmp_signed("!=", b.and_(flags, const(flag)), zero)

    accumulate, bias_cols, bias_rows = has(GemmFlags.ACCUMULATE), has(GemmFlags.BIAS_COLS), has(GemmFlags.BIAS_ROWS)
    with_residual = has(GemmFlags.RESIDUAL_BEFORE | GemmFlags.RESIDUAL_AFTER)
    ldr = b.select(with_residual, ldr, ldc)
    epilogue_flags = b.and_(flags, const(int(EPILOGUE_FLAGS)))
    with (_blocks(b, col0, col1, n, config.nc, "jc") as (jc, nc, j_lo, j_hi),
          _k_blocks(b, k, config.kc) as (pc, kc)):
        load_c = b.or_(accumulate, b.icmp_signed(">", pc, zero))
        epilogue = b.select(b.icmp_signed(">=", b.add(pc, kc), k), epilogue_flags, zero)
        b_block = gep(b, packed_b, _block_offset(b, config.nr, jc, nc, pc, k))
        with _blocks(b, row0, row1, m, config.mc, "ic") as (ic, mc, i_lo, i_hi):
            a_block = gep(b, packed_a, _block_offset(b, config.mr, ic, mc, pc, k))
            with counted_loop(b, j_lo, j_hi, config.nr, "jr") as jr:
                cols = smin(b, const(config.nr), b.sub(j_hi, jr))
                col = b.add(jc, jr)
                with counted_loop(b, i_lo, i_hi, config.mr, "ir") as ir_:
                    rows = smin(b, const(config.mr), b.sub(i_hi, ir_))
                    row = b.add(ic, ir_)
                    tile = gep(b, c, b.add(b.mul(row, ldc), col))
                    # an operand the flags leave out points at the tile: its masked-off loads then touch a mapped
                    # page (masked-off lanes at an unmapped address, NULL, cost a microcode assist each)
                    _call_by_rows(b, kernels, rows, [
                        kc, gep(b, a_block, b.mul(ir_, kc)), gep(b, b_block, b.mul(jr, kc)), tile, ldc, rows, cols,
                        load_c, epilogue, b.select(bias_cols, gep(b, bias, col), tile),
                        b.select(bias_rows, gep(b, bias, row), tile),
                        b.select(with_residual, gep(b, residual, b.add(b.mul(row, ldr), col)), tile), ldr])
    b.ret_void()
    return fn


@contextmanager
def _blocks(b: ir.IRBuilder, lo: ir.Value, hi: ir.Value, total: ir.Value, block: int,
            name: str) -> Iterator[tuple[ir.Value, ir.Value, ir.Value, ir.Value]]:
    """For each block of ``block`` lines (of ``total``) that meets ``[lo, hi)``: yields its first line, its
    width, and the part of ``[lo, hi)`` inside it relative to its first line."""
    const = lambda value: ir.Constant(I64, value)  # noqa: E731
    with counted_loop(b, b.mul(b.sdiv(lo, const(block)), const(block)), hi, block, name) as first:
        width = smin(b, const(block), b.sub(total, first))
        start = b.sub(b.select(b.icmp_signed(">", lo, first), lo, first), first)
        yield first, width, start, b.sub(smin(b, hi, b.add(first, width)), first)


def _store_struct(b: ir.IRBuilder, struct: ir.LiteralStructType, values: list[ir.Value]) -> ir.Value:
    """A stack struct holding ``values`` (a task context)."""
    ptr = b.alloca(struct)
    for index, value in enumerate(values):
        # the alloca's pointer is typed: a GEP without source_etype gives the field's pointer type
        b.store(value, b.gep(ptr, [ir.Constant(ir.IntType(32), 0), ir.Constant(ir.IntType(32), index)]))
    return ptr


def _load_struct(b: ir.IRBuilder, struct: ir.LiteralStructType, fields, ptr: ir.Value) -> list[ir.Value]:
    return [b.load(b.gep(ptr, [ir.Constant(ir.IntType(32), 0), ir.Constant(ir.IntType(32), index)],
                         source_etype=struct), typ=typ, name=field) for index, (field, typ) in enumerate(fields)]


def _run_tasks(b: ir.IRBuilder, parallel_for: ir.Function | None, task: ir.Function, context: ir.Value,
               n_tasks: ir.Value, flags: ir.Value) -> None:
    """Every task of ``task(context, i)``: on the worker pool, or in order on this thread (a library built
    without the pool, or a call with the SERIAL flag)."""

    def in_order() -> None:
        with counted_loop(b, ir.Constant(I64, 0), n_tasks, 1, "task") as t:
            b.call(task, [context, t])

    if parallel_for is None:
        in_order()
        return
    serial = b.and_(flags, ir.Constant(I64, int(GemmFlags.SERIAL)))
    with b.if_else(b.icmp_signed("!=", serial, ir.Constant(I64, 0))) as (alone, pooled):
        with alone:
            in_order()
        with pooled:
            b.call(parallel_for, [task, context, n_tasks])


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


def _block_offset(b: ir.IRBuilder, r: int, first: ir.Value, width: ir.Value, pc: ir.Value, k: ir.Value) -> ir.Value:
    """Where the packed block of lines ``first`` (``width`` of them) and k values from ``pc`` starts."""
    rounded = b.mul(b.sdiv(b.add(width, ir.Constant(I64, r - 1)), ir.Constant(I64, r)), ir.Constant(I64, r))
    return b.add(b.mul(first, k), b.mul(pc, rounded))


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
