"""The pieces of the fp32 GEMM as LLVM IR: the register-blocked micro-kernel and the panel packers.

Everything here is written with ``llvmlite.ir`` as explicit vector IR, so the tile shape and the instruction mix
are ours, not the loop vectoriser's. Packed layouts (the contract between the packers and the micro-kernel):

- an A panel holds ``MR`` rows of A for ``kc`` values of k, k-major: ``pa[k * MR + i] = A[i, k]``;
- a B panel holds ``NR`` columns of op(B) for ``kc`` values of k, k-major: ``pb[k * NR + j] = op(B)[k, j]``.

Rows and columns beyond the matrix edge are packed as zeros, so the micro-kernel always runs the full
``MR x NR`` tile and only its stores are masked (``llvm.masked.store`` on the columns, a branch per row).

The epilogue (bias, relu, residual) is chosen at run time by :class:`GemmFlags` bits: it runs once per finished
tile, after ``kc`` FMA steps, so testing a flag there costs nothing measurable, and one micro-kernel per row
count serves every epilogue (the kernel library, :mod:`.kernels`, stays small).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import IntFlag

from llvmlite import ir

F32 = ir.FloatType()
I1 = ir.IntType(1)
I32 = ir.IntType(32)
I64 = ir.IntType(64)
PTR = ir.PointerType()

ACTIVATIONS = (None, "relu")


class GemmFlags(IntFlag):
    """The ``flags`` argument of the kernel library's GEMM entry points (part of its ABI, :mod:`.kernels`)."""

    TRANS_B = 1  # B is stored [N, K] and used transposed (the Linear weight)
    PREPACKED_B = 2  # b is op(B) packed by ember_rt_pack_b
    ACCUMULATE = 4  # C += A @ op(B) (then the epilogue) instead of C = ...
    BIAS_COLS = 8  # + bias[n], one value per column (Linear)
    BIAS_ROWS = 16  # + bias[m], one value per row (a convolution's output channels)
    RELU = 32  # max(x, 0) after the bias (NaN stays NaN)
    RESIDUAL_BEFORE = 64  # + R[m, n] before the activation: act(acc + bias + R), the ResNet block
    RESIDUAL_AFTER = 128  # + R[m, n] after it: act(acc + bias) + R, the transformer block
    PREPACKED_A = 256  # a is A packed by ember_rt_pack_a (a weight on the left: a convolution's filters)
    # run every task of the call in order on the calling thread: the caller is itself one task of a parallel loop
    # (a convolution over images), where handing the product's small tasks to the pool again only synchronises
    SERIAL = 512


EPILOGUE_FLAGS = (GemmFlags.BIAS_COLS | GemmFlags.BIAS_ROWS | GemmFlags.RELU | GemmFlags.RESIDUAL_BEFORE
                  | GemmFlags.RESIDUAL_AFTER)


@dataclass(frozen=True)
class GemmEpilogue:
    """What the GEMM applies to each finished output tile, in this order: ``+ bias[n]`` (one value per column),
    ``+ residual[m, n]`` when ``residual == "before"``, the activation, ``+ residual[m, n]`` when
    ``residual == "after"``.

    Args:
        bias: add a per-column bias vector (``bias[n]``).
        activation: ``None`` or ``"relu"`` (NaN stays NaN, like ``torch.relu``).
        residual: ``None``, ``"before"`` (``act(acc + bias + R)``, the ResNet block) or ``"after"``
            (``act(acc + bias) + R``, the transformer block).
        row_bias: add a per-row bias vector (``bias[m]``) instead (a convolution's per-channel bias).
    """

    bias: bool = False
    activation: str | None = None
    residual: str | None = None
    row_bias: bool = False

    def __post_init__(self):
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"GemmEpilogue: activation must be one of {ACTIVATIONS}, got {self.activation!r}")
        if self.residual not in (None, "before", "after"):
            raise ValueError(f"GemmEpilogue: residual must be None, 'before' or 'after', got {self.residual!r}")
        if self.bias and self.row_bias:
            raise ValueError("GemmEpilogue: bias (per column) and row_bias (per row) exclude each other")

    @property
    def flags(self) -> GemmFlags:
        """The epilogue's bits of the library's ``flags`` argument."""
        flags = GemmFlags(0)
        flags |= GemmFlags.BIAS_COLS if self.bias else 0
        flags |= GemmFlags.BIAS_ROWS if self.row_bias else 0
        flags |= GemmFlags.RELU if self.activation == "relu" else 0
        flags |= {None: 0, "before": GemmFlags.RESIDUAL_BEFORE, "after": GemmFlags.RESIDUAL_AFTER}[self.residual]
        return flags


class Intrinsics:
    """The vector intrinsics of one module, declared once per name."""

    def __init__(self, module: ir.Module, width: int):
        self.module = module
        self.width = width
        self.vector = ir.VectorType(F32, width)
        self.mask = ir.VectorType(I1, width)
        suffix = f"v{width}f32"
        self.fma = self._declare(f"llvm.fma.{suffix}", self.vector, [self.vector] * 3)
        self.masked_load = self._declare(f"llvm.masked.load.{suffix}.p0", self.vector,
                                         [PTR, I32, self.mask, self.vector])
        self.masked_store = self._declare(f"llvm.masked.store.{suffix}.p0", ir.VoidType(),
                                          [self.vector, PTR, I32, self.mask])
        self.prefetch = self._declare("llvm.prefetch.p0", ir.VoidType(), [PTR, I32, I32, I32])

    def _declare(self, name: str, ret: ir.Type, args: list[ir.Type]) -> ir.Function:
        existing = self.module.globals.get(name)
        return existing if existing is not None else ir.Function(self.module, ir.FunctionType(ret, args), name)

    def splat(self, b: ir.IRBuilder, scalar: ir.Value) -> ir.Value:
        one = b.insert_element(ir.Constant(self.vector, ir.Undefined), scalar, ir.Constant(I32, 0))
        zeros = ir.Constant(ir.VectorType(I32, self.width), [0] * self.width)
        return b.shuffle_vector(one, ir.Constant(self.vector, ir.Undefined), zeros)

    def lanes_below(self, b: ir.IRBuilder, first: int, count: ir.Value) -> ir.Value:
        """The mask of lanes ``first + lane < count`` (the in-bounds columns of a vector starting at ``first``)."""
        lanes = ir.Constant(ir.VectorType(I64, self.width), list(range(first, first + self.width)))
        bound = b.shuffle_vector(b.insert_element(ir.Constant(ir.VectorType(I64, self.width), ir.Undefined), count,
                                                  ir.Constant(I32, 0)),
                                 ir.Constant(ir.VectorType(I64, self.width), ir.Undefined),
                                 ir.Constant(ir.VectorType(I32, self.width), [0] * self.width))
        return b.icmp_signed("<", lanes, bound)

    def splat_i1(self, b: ir.IRBuilder, flag: ir.Value) -> ir.Value:
        """``flag`` (an i1) in every lane of a mask."""
        one = b.insert_element(ir.Constant(self.mask, ir.Undefined), flag, ir.Constant(I32, 0))
        return b.shuffle_vector(one, ir.Constant(self.mask, ir.Undefined),
                                ir.Constant(ir.VectorType(I32, self.width), [0] * self.width))

    def load(self, b: ir.IRBuilder, ptr: ir.Value, mask: ir.Value, passthru: ir.Value | None = None) -> ir.Value:
        """The lanes of ``mask`` from ``ptr``, the others from ``passthru`` (default 0.0); masked-off lanes are
        never read."""
        passthru = passthru if passthru is not None else ir.Constant(self.vector, None)
        return b.call(self.masked_load, [ptr, ir.Constant(I32, 4), mask, passthru])

    def store(self, b: ir.IRBuilder, value: ir.Value, ptr: ir.Value, mask: ir.Value) -> None:
        b.call(self.masked_store, [value, ptr, ir.Constant(I32, 4), mask])


def _no_vectorize(module: ir.Module) -> ir.values.MDValue:
    """The loop ID ``!{self, !{"llvm.loop.vectorize.width", i32 1}}`` (a loop ID must name itself, which
    ``Module.add_metadata`` cannot build, hence the direct MDValue)."""
    width = module.add_metadata([ir.MetaDataString(module, "llvm.loop.vectorize.width"), ir.Constant(I32, 1)])
    loop_id = ir.values.MDValue(module, [], name=str(len(module.metadata)))
    loop_id.operands = (loop_id, width)
    return loop_id


@contextmanager
def counted_loop(b: ir.IRBuilder, start: ir.Value, stop: ir.Value, step: int, name: str, *,
                 vectorize: bool = True) -> Iterator[ir.Value]:
    """``for (i = start; i < stop; i += step)``: yields ``i`` with the builder in the body; after the block
    the builder is positioned after the loop. ``vectorize=False`` keeps LLVM's loop vectoriser off it."""
    before = b.block
    head = b.append_basic_block(f"{name}.head")
    body = b.append_basic_block(f"{name}.body")
    done = b.append_basic_block(f"{name}.done")
    b.branch(head)
    b.position_at_end(head)
    i = b.phi(I64, name)
    i.add_incoming(start, before)
    b.cbranch(b.icmp_signed("<", i, stop), body, done)
    b.position_at_end(body)
    yield i
    i.add_incoming(b.add(i, ir.Constant(I64, step)), b.block)
    latch = b.branch(head)
    if not vectorize:
        latch.set_metadata("llvm.loop", _no_vectorize(b.module))
    b.position_at_end(done)


def smin(b: ir.IRBuilder, x: ir.Value, y: ir.Value) -> ir.Value:
    return b.select(b.icmp_signed("<", x, y), x, y)


def gep(b: ir.IRBuilder, ptr: ir.Value, index: ir.Value, ty: ir.Type = F32) -> ir.Value:
    return b.gep(ptr, [index], source_etype=ty)


class _FunctionAttributes(ir.values.FunctionAttributes):
    """llvmlite only accepts its list of keyword attributes; LLVM's vector-width hints are string attributes."""

    _known = ir.values.FunctionAttributes._known | {'"prefer-vector-width"="512"', '"min-legal-vector-width"="512"'}


def new_function(module: ir.Module, name: str, args: list[tuple[str, ir.Type]], *, internal: bool,
                 vector_bits: int) -> tuple[ir.Function, ir.IRBuilder]:
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [t for _, t in args]), name)
    fn.attributes = _FunctionAttributes()
    for arg, (arg_name, _) in zip(fn.args, args, strict=True):
        arg.name = arg_name
    if internal:
        fn.linkage = "internal"
    fn.attributes.add("nounwind")
    if vector_bits == 512:  # LLVM keeps to 256-bit vectors on AVX-512 hosts without these
        fn.attributes.add('"prefer-vector-width"="512"')
        fn.attributes.add('"min-legal-vector-width"="512"')
    return fn, ir.IRBuilder(fn.append_basic_block("entry"))


def emit_microkernel(module: ir.Module, name: str, vec: Intrinsics, mr: int, nr: int, a_stride: int,
                     vector_bits: int) -> ir.Function:
    """``void name(i64 kc, ptr pa, ptr pb, ptr c, i64 ldc, i64 rows, i64 cols, i1 load_c, i64 epilogue,
    ptr bias_cols, ptr bias_rows, ptr res, i64 ldr)``: ``C[:rows, :cols] (=|+=) pa @ pb`` for one packed
    ``mr x nr`` tile (``rows <= mr``), then the epilogue its :class:`GemmFlags` bits ask for (the caller passes
    0 but for the last block of k). The A panel holds ``a_stride >= mr`` rows per k (a kernel with fewer rows
    than the panel serves the bottom edge). ``bias_cols``, ``bias_rows`` and ``res`` point at the tile's first
    column / row / element (read only when a flag asks); ``pb`` must be aligned to the vector size."""
    fn, b = new_function(module, name, [("kc", I64), ("pa", PTR), ("pb", PTR), ("c", PTR), ("ldc", I64),
                                        ("rows", I64), ("cols", I64), ("load_c", I1), ("epilogue", I64),
                                        ("bias_cols", PTR), ("bias_rows", PTR), ("res", PTR), ("ldr", I64)],
                         internal=True, vector_bits=vector_bits)
    kc, pa, pb, c, ldc, rows, cols, load_c, epilogue, bias_cols, bias_rows, res, ldr = fn.args
    for ptr in (pa, pb, c, bias_cols, bias_rows, res):
        ptr.add_attribute("noalias")
    nvec = nr // vec.width
    # the C tile is touched once, after kc steps: fetching it now hides its cache misses behind the FMAs
    # (a prefetch never faults, so rows past the edge need no guard)
    for i in range(mr):
        for line in range(0, nr, 16):
            address = gep(b, c, b.add(b.mul(ir.Constant(I64, i), ldc), ir.Constant(I64, line)))
            b.call(vec.prefetch, [address, ir.Constant(I32, 1), ir.Constant(I32, 3), ir.Constant(I32, 1)])
    zero = ir.Constant(vec.vector, None)
    # One row has only nvec FMA chains, too few to hide the FMA latency: it sums k in 4 interleaved chains
    # (k mod 4) added at the end. Which kernel computes a row depends only on m (tiles start at multiples of mr),
    # so the result is still the same for any split of the product into tasks.
    chains = 4 if mr == 1 else 1
    main_stop = b.sub(kc, b.srem(kc, ir.Constant(I64, chains))) if chains > 1 else kc
    sets = _fma_loop(b, vec, pa, pb, ir.Constant(I64, 0), main_stop, chains,
                     [[[zero] * nvec for _ in range(mr)] for _ in range(chains)], a_stride, nr, "k")
    if chains > 1:
        first = _fma_loop(b, vec, pa, pb, main_stop, kc, 1, sets[:1], a_stride, nr, "k.tail")[0][0]
        sets = [[[b.fadd(b.fadd(s0, s1), b.fadd(s2, s3))
                  for s0, s1, s2, s3 in zip(first, sets[1][0], sets[2][0], sets[3][0], strict=True)]]]
    acc = sets[0]
    masks = [vec.lanes_below(b, v * vec.width, cols) for v in range(nvec)]
    with b.if_else(b.icmp_signed("!=", epilogue, ir.Constant(I64, 0))) as (finish, partial):
        with finish:
            _store_tile(b, vec, acc, c, ldc, rows, load_c, masks,
                        _Epilogue(b, epilogue, bias_cols, bias_rows, res, ldr))
        with partial:
            _store_tile(b, vec, acc, c, ldc, rows, load_c, masks, None)
    b.ret_void()
    return fn


def _fma_loop(b: ir.IRBuilder, vec: Intrinsics, pa, pb, start: ir.Value, stop: ir.Value, step: int, init, a_stride: int,
              nr: int, name: str) -> list:
    """``for k in range(start, stop, step)``: accumulator set ``u`` (of ``step``) gains ``A[:, k + u] * B[k + u]``
    by FMAs; ``init[u][i][v]`` are the sets' values before; returns their values after the loop."""
    w, nvec, rows = vec.width, nr // vec.width, len(init[0])
    entry = b.block
    head, body, done = (b.append_basic_block(f"{name}.{part}") for part in ("head", "body", "done"))
    b.branch(head)
    b.position_at_end(head)
    k = b.phi(I64, name)
    k.add_incoming(start, entry)
    acc = [[[b.phi(vec.vector) for _ in range(nvec)] for _ in range(rows)] for _ in init]
    for phis, values in zip(acc, init, strict=True):
        for row, row_values in zip(phis, values, strict=True):
            for phi, value in zip(row, row_values, strict=True):
                phi.add_incoming(value, entry)
    b.cbranch(b.icmp_signed("<", k, stop), body, done)
    b.position_at_end(body)
    const = lambda value: ir.Constant(I64, value)  # noqa: E731
    for u, sums in enumerate(acc):
        ku = b.add(k, const(u)) if u else k
        b_base = b.mul(ku, const(nr))
        if u == 0:
            # the panels outgrow L1 at kc = 512: fetch B 8 steps and A 16 steps ahead (2048^3 gains ~4%)
            for line in range(0, nr, 16):
                b.call(vec.prefetch, [gep(b, pb, b.add(b_base, const(8 * nr + line))), ir.Constant(I32, 0),
                                      ir.Constant(I32, 3), ir.Constant(I32, 1)])
            b.call(vec.prefetch, [gep(b, pa, b.add(b.mul(ku, const(a_stride)), const(16 * a_stride))),
                                  ir.Constant(I32, 0), ir.Constant(I32, 3), ir.Constant(I32, 1)])
        b_vecs = [b.load(gep(b, pb, b.add(b_base, const(v * w))), typ=vec.vector, align=4 * w) for v in range(nvec)]
        a_base = b.mul(ku, const(a_stride))
        for i in range(rows):
            a = vec.splat(b, b.load(gep(b, pa, b.add(a_base, const(i))), typ=F32, align=4))
            for v in range(nvec):
                sums[i][v].add_incoming(b.call(vec.fma, [a, b_vecs[v], sums[i][v]]), b.block)
    k.add_incoming(b.add(k, const(step)), b.block)
    b.branch(head)
    b.position_at_end(done)
    return acc


@dataclass
class _Epilogue:
    """The micro-kernel's epilogue arguments, and its flag bits as i1 values."""

    b: ir.IRBuilder
    flags: ir.Value
    bias_cols: ir.Value
    bias_rows: ir.Value
    res: ir.Value
    ldr: ir.Value

    def has(self, flag: GemmFlags) -> ir.Value:
        b = self.b
        return b.icmp_signed("!=", b.and_(self.flags, ir.Constant(I64, int(flag))), ir.Constant(I64, 0))


def _store_tile(b: ir.IRBuilder, vec: Intrinsics, acc, c, ldc, rows, load_c, masks,
                epilogue: _Epilogue | None) -> None:
    w = vec.width
    # x + (-0.0) == x for every x (signed zeros and NaN included): an absent bias or residual adds -0.0, so the
    # epilogue is one straight sequence whatever its flags (a masked-off load touches no memory)
    minus_zero = ir.Constant(vec.vector, [-0.0] * w)
    if epilogue is not None:
        bias_on, res_on = vec.splat_i1(b, epilogue.has(GemmFlags.BIAS_COLS)), epilogue.has(GemmFlags.RESIDUAL_BEFORE)
        res_after = epilogue.has(GemmFlags.RESIDUAL_AFTER)
        res_mask_on = vec.splat_i1(b, b.or_(res_on, res_after))
        relu = vec.splat_i1(b, epilogue.has(GemmFlags.RELU))
        row_bias_on = epilogue.has(GemmFlags.BIAS_ROWS)
        bias_vecs = [vec.load(b, gep(b, epilogue.bias_cols, ir.Constant(I64, v * w)), b.and_(m, bias_on), minus_zero)
                     for v, m in enumerate(masks)]
    for i, row in enumerate(acc):
        # rows beyond the edge were packed as zeros: computed, never stored
        guard = b.icmp_signed("<", ir.Constant(I64, i), rows) if i else ir.Constant(I1, 1)
        with b.if_then(guard):
            c_row = gep(b, c, b.mul(ir.Constant(I64, i), ldc))
            if epilogue is not None:
                res_row = gep(b, epilogue.res, b.mul(ir.Constant(I64, i), epilogue.ldr))
                row_bias = vec.splat(b, _load_if(b, row_bias_on, gep(b, epilogue.bias_rows, ir.Constant(I64, i)),
                                                 ir.Constant(F32, -0.0)))
            for v, value in enumerate(row):
                ptr = gep(b, c_row, ir.Constant(I64, v * w))
                value = _add_if(b, load_c, value, lambda ptr=ptr, v=v: vec.load(b, ptr, masks[v]))
                if epilogue is not None:
                    residual = vec.load(b, gep(b, res_row, ir.Constant(I64, v * w)), b.and_(masks[v], res_mask_on),
                                        minus_zero)
                    value = b.fadd(b.fadd(value, bias_vecs[v]), row_bias)
                    value = b.fadd(value, b.select(res_on, residual, minus_zero))
                    # select(x < 0, 0, x) keeps NaN (the compare is false), as torch.relu does
                    negative = b.and_(b.fcmp_ordered("<", value, ir.Constant(vec.vector, None)), relu)
                    value = b.select(negative, ir.Constant(vec.vector, None), value)
                    value = b.fadd(value, b.select(res_after, residual, minus_zero))
                vec.store(b, value, ptr, masks[v])


def _add_if(b: ir.IRBuilder, flag: ir.Value, value: ir.Value, load: Callable[[], ir.Value]) -> ir.Value:
    """``flag ? value + load() : value``, loading only when ``flag`` (C may be uninitialised memory)."""
    before = b.block
    with b.if_then(flag):
        summed = b.fadd(value, load())
        summed_block = b.block
    merged = b.phi(value.type)
    merged.add_incoming(value, before)
    merged.add_incoming(summed, summed_block)
    return merged


def _load_if(b: ir.IRBuilder, flag: ir.Value, ptr: ir.Value, default: ir.Constant) -> ir.Value:
    """``flag ? *ptr : default`` (a float), reading ``ptr`` only when ``flag``."""
    before = b.block
    with b.if_then(flag):
        loaded = b.load(ptr, typ=F32, align=4)
        loaded_block = b.block
    merged = b.phi(F32)
    merged.add_incoming(default, before)
    merged.add_incoming(loaded, loaded_block)
    return merged


def emit_pack_rows(module: ir.Module, name: str, r: int, vector_bits: int,
                   variants: list[int] | None = None) -> ir.Function:
    """``void name(i64 kc, i64 count, ptr src, i64 ld, ptr dst)``: packs ``count`` rows of a row-major matrix
    (row ``i`` at ``src + i * ld``, ``kc`` values each) into panels of ``r`` rows, k-major, zero-padding the
    last panel. Packs A, and B when op(B) = B^T (B stored [N, K]). With ``variants`` (the row counts of the
    micro-kernels, A's case), the last panel is padded only up to the smallest variant that covers it: the kernel
    that computes it reads no further (a batch-1 Linear packs one row, not ``r``)."""
    fn, b = new_function(module, name, [("kc", I64), ("count", I64), ("src", PTR), ("ld", I64), ("dst", PTR)],
                         internal=True, vector_bits=vector_bits)
    kc, count, src, ld, dst = fn.args
    src.add_attribute("noalias")
    dst.add_attribute("noalias")
    const = lambda value: ir.Constant(I64, value)  # noqa: E731
    with counted_loop(b, const(0), count, r, "panel") as first:
        present = b.sub(count, first)
        out = gep(b, dst, b.mul(first, kc))
        with b.if_else(b.icmp_signed(">=", present, const(r))) as (full, edge):
            with full:
                _copy_panel(b, kc, [gep(b, src, b.mul(b.add(first, const(i)), ld)) for i in range(r)], out)
            with edge:
                rows = const(r)
                for variant in sorted(variants or [], reverse=True):
                    rows = b.select(b.icmp_signed("<=", present, const(variant)), const(variant), rows)
                # one row at a time (stores of stride r): rows past the edge are zeros
                with counted_loop(b, const(0), rows, 1, "row") as i:
                    inside = b.icmp_signed("<", i, present)
                    line = gep(b, src, b.select(inside, b.mul(b.add(first, i), ld), const(0)))  # past: row 0
                    with counted_loop(b, const(0), kc, 1, "k", vectorize=False) as k:
                        value = b.load(gep(b, line, k), typ=F32, align=4)
                        b.store(b.select(inside, value, ir.Constant(F32, 0.0)),
                                gep(b, out, b.add(b.mul(k, const(r)), i)), align=4)
    b.ret_void()
    return fn


def _copy_panel(b: ir.IRBuilder, kc: ir.Value, lines: list[ir.Value], out: ir.Value) -> None:
    """``out[k * r + i] = lines[i][k]``, walking the r rows side by side so each k writes r consecutive floats.
    Kept scalar: vectorised over k it becomes scatters (stride r)."""
    r = len(lines)
    with counted_loop(b, ir.Constant(I64, 0), kc, 1, "k", vectorize=False) as k:
        base = b.mul(k, ir.Constant(I64, r))
        for i, line in enumerate(lines):
            b.store(b.load(gep(b, line, k), typ=F32, align=4), gep(b, out, b.add(base, ir.Constant(I64, i))),
                    align=4)


def emit_pack_cols(module: ir.Module, name: str, vec: Intrinsics, nr: int, vector_bits: int) -> ir.Function:
    """``void name(i64 kc, i64 count, ptr src, i64 ld, ptr dst)``: packs ``count`` columns of a row-major
    ``kc x count`` block (row ``k`` at ``src + k * ld``) into panels of ``nr`` columns, k-major, with masked
    vector loads that zero the columns past the edge. Packs B when op(B) = B (B stored [K, N])."""
    fn, b = new_function(module, name, [("kc", I64), ("count", I64), ("src", PTR), ("ld", I64), ("dst", PTR)],
                         internal=True, vector_bits=vector_bits)
    kc, count, src, ld, dst = fn.args
    src.add_attribute("noalias")
    dst.add_attribute("noalias")
    zero = ir.Constant(I64, 0)
    w = vec.width
    with counted_loop(b, zero, count, nr, "panel") as col:
        masks = [vec.lanes_below(b, v * w, b.sub(count, col)) for v in range(nr // w)]
        out = gep(b, dst, b.mul(col, kc))
        with counted_loop(b, zero, kc, 1, "k") as k:
            line = gep(b, src, b.add(b.mul(k, ld), col))
            for v, mask in enumerate(masks):
                value = vec.load(b, gep(b, line, ir.Constant(I64, v * w)), mask)
                b.store(value, gep(b, out, b.add(b.mul(k, ir.Constant(I64, nr)), ir.Constant(I64, v * w))),
                        align=4 * w)
    b.ret_void()
    return fn
