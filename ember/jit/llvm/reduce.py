"""Reductions (sum, mean, amax, amin, var, std over any dims, keepdim or not) and the softmax/log_softmax row kernels.

A reduction loops over the kept dims outside and the reduced dims inside (reduced dims that the source walks as
one are merged first, so reducing the trailing dims of a contiguous tensor is one long row). Float32 sums
accumulate in float64, which keeps long sums within float32 rounding of the exact value (NumPy's pairwise sums
are as close); var/std compute in float64 as their eager kernel does. amax/amin propagate NaN, as
``np.maximum.reduce`` does.

Vector accumulators: LLVM may not reorder a floating-point sum (llvmlite's builder sets no fast-math flags), so
a scalar accumulator loop stays scalar. Where the innermost reduced dim is contiguous, the row is read in chunks
of ``lanes`` elements into a ``<lanes x acc>`` vector of partial results (four registers wide, to hide the add
latency; fewer for short static rows, and a scalar loop below one register), the last partial chunk through a
masked load with its empty lanes set to the neutral element, and at the end the vector is folded in halves (a
fixed tree). Where instead the source's innermost dim is kept and contiguous (``x.sum(0)`` of a matrix), a
vector of neighbouring outputs accumulates at once, each lane in the order it would alone, the last group
masked. The order of operations depends only on the shape, never on the machine's thread count, so results are
deterministic. Large reductions split their outputs (rows of outputs, with vectors across them) over the worker
pool (:mod:`~ember.jit.llvm.parallel`); a reduction to one value stays on one thread.

softmax and log_softmax run per row (every index of the other dims): the row maximum, then the sum of
``exp(x - max)`` (softmax stores the exponentials on the way), then the normalised row (softmax multiplies by
``1 / sum``, as PyTorch does), in three passes, each vectorised the same way (one register wide) when the row is
the source's contiguous last dim. Large inputs split their rows over the worker pool.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

import llvmlite.ir as ir

from ...tensor import dtypes
from ..symbolic import as_expr
from .codegen import I64, KernelContext, Operand, count_loop, llvm_type, lowering, memory_type, unsupported
from .parallel import parallel_rows
from .scalar_ops import cast_value, constant, intrinsic, math_function
from .vmath import splat

__all__ = ["fit_lanes", "lane_indices", "lanes_for", "load_lanes", "nested_loops", "reduce_step", "reduced_loops",
           "reduction_identity", "row_pass", "store_lanes", "sum_products"]

_MAX_LANES = 64
# Vectors of neighbouring outputs per block of columns, the unit of parallel work of a reduction across them.
_BLOCK_VECTORS = 8


@contextmanager
def nested_loops(ctx: KernelContext, sizes: list, name: str) -> Iterator[list[ir.Value]]:
    """Loops over ``sizes`` (expressions), outermost first; yields the indices."""
    with ExitStack() as stack:
        yield [stack.enter_context(count_loop(ctx.builder, ctx.sym(s), f"{name}{d}")) for d, s in enumerate(sizes)]


def lanes_for(dt: dtypes.dtype, vector_bits: int, registers: int) -> int:
    """Vector lanes of ``dt`` filling ``registers`` host vector registers (at most 64)."""
    bits = 1 if dt is dtypes.bool else dt.itemsize * 8
    return max(2, min(_MAX_LANES, registers * vector_bits // bits))


def fit_lanes(lanes: int, length, register: int) -> int:
    """``lanes`` for a row of ``length``, or fewer when ``length`` is static: the least power of two covering it
    (folding lanes that would only hold the neutral element costs time), and 1 (a scalar loop) for rows shorter
    than one ``register`` of lanes, where the fold would cost more than the row."""
    length = as_expr(length)
    if not length.is_const:
        return lanes
    if length.const_value < register:
        return 1
    return min(lanes, 1 << (length.const_value - 1).bit_length())


def _accumulator_type(op: str, dt: dtypes.dtype) -> dtypes.dtype:
    return dtypes.float64 if dt is dtypes.float32 and op in ("sum", "mean") else dt


def reduction_identity(op: str, dt: dtypes.dtype) -> ir.Constant:
    if op in ("sum", "mean"):
        return constant(dt, 0)
    largest = op == "amax"
    if dt.is_floating_point:
        return constant(dt, -math.inf if largest else math.inf)
    if dt is dtypes.bool:
        return constant(dt, not largest)
    bits = llvm_type(dt).width
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if dt.is_signed else (0, (1 << bits) - 1)
    return ir.Constant(llvm_type(dt), low if largest else high)


def reduce_step(b: ir.IRBuilder, op: str, dt: dtypes.dtype, acc: ir.Value, x: ir.Value) -> ir.Value:
    """``acc`` and ``x`` (scalars or vectors of ``dt``) combined by ``op``."""
    if op in ("sum", "mean"):
        if dt is dtypes.bool:
            return b.or_(acc, x)
        return b.fadd(acc, x) if dt.is_floating_point else b.add(acc, x)
    largest = op == "amax"
    if dt.is_floating_point:
        return intrinsic(b, "maximum" if largest else "minimum", acc, x)
    compare = b.icmp_signed if dt.is_signed else b.icmp_unsigned
    return b.select(compare(">" if largest else "<", x, acc), x, acc)


def _masked(b: ir.IRBuilder, name: str, ret: ir.Type, args: list[ir.Value]) -> ir.Value:
    vector = args[0].type if name == "store" else ret
    full = f"llvm.masked.{name}.v{vector.count}{vector.element.intrinsic_name}.p0"
    fn = b.module.globals.get(full) or ir.Function(b.module, ir.FunctionType(ret, [a.type for a in args]), full)
    return b.call(fn, args)


def load_lanes(b: ir.IRBuilder, operand: Operand, index: ir.Value, width: int,
               mask: ir.Value | None = None) -> ir.Value:
    """``width`` consecutive elements of ``operand`` from linear ``index`` (one: a scalar), in compute type; with
    ``mask``, only the lanes it sets are read (the others are zero)."""
    if width == 1:
        return operand.load(b, index)
    mtype = memory_type(operand.dtype)
    vtype = ir.VectorType(mtype, width)
    at = b.gep(operand.ptr, [index], inbounds=True, source_etype=mtype)
    if mask is None:
        value = b.load(at, typ=vtype, align=operand.dtype.itemsize)
    else:
        align = ir.Constant(ir.IntType(32), operand.dtype.itemsize)
        value = _masked(b, "load", vtype, [at, align, mask, ir.Constant(vtype, [0] * width)])
    if operand.dtype is dtypes.bool:
        return b.icmp_unsigned("!=", value, ir.Constant(value.type, [0] * width))
    return value


def store_lanes(b: ir.IRBuilder, operand: Operand, index: ir.Value, value: ir.Value,
                mask: ir.Value | None = None) -> None:
    """``value`` (a scalar or vector in compute type) stored at linear ``index`` of ``operand`` onwards; with
    ``mask``, only the lanes it sets."""
    if not isinstance(value.type, ir.VectorType):
        operand.store(b, index, value)
        return
    mtype = memory_type(operand.dtype)
    if operand.dtype is dtypes.bool:
        value = b.zext(value, ir.VectorType(mtype, value.type.count))
    at = b.gep(operand.ptr, [index], inbounds=True, source_etype=mtype)
    if mask is None:
        b.store(value, at, align=operand.dtype.itemsize)
    else:
        _masked(b, "store", ir.VoidType(), [value, at, ir.Constant(ir.IntType(32), operand.dtype.itemsize), mask])


class _Accumulator:
    """A running ``op`` of dtype ``dt``: a ``<lanes x dt>`` vector of partial results, or a scalar when
    ``lanes`` is 1, in a stack slot (which LLVM keeps in registers)."""

    def __init__(self, ctx: KernelContext, op: str, dt: dtypes.dtype, lanes: int):
        self.b, self.op, self.dt, self.lanes = ctx.builder, op, dt, lanes
        self.type = ir.VectorType(llvm_type(dt), lanes) if lanes > 1 else llvm_type(dt)
        initial = reduction_identity(op, dt)
        self.initial = ir.Constant(self.type, [initial.constant] * lanes) if lanes > 1 else initial
        self.slot = ctx.sym.builder.alloca(self.type)

    def reset(self) -> None:
        self.b.store(self.initial, self.slot)

    def add(self, x: ir.Value, mask: ir.Value | None = None) -> None:
        """Combine ``x`` (of the accumulator's type); with ``mask``, only the lanes it sets."""
        if mask is not None:
            x = self.b.select(mask, x, self.initial)
        self.b.store(reduce_step(self.b, self.op, self.dt, self.b.load(self.slot), x), self.slot)

    def result(self) -> ir.Value:
        """The partial results combined: the vector folded in halves (a fixed tree)."""
        b = self.b
        vector = b.load(self.slot)
        if self.lanes == 1:
            return vector
        while vector.type.count > 1:
            half = vector.type.count // 2
            undefined = ir.Constant(vector.type, ir.Undefined)
            low = b.shuffle_vector(vector, undefined, lane_indices(range(half)))
            high = b.shuffle_vector(vector, undefined, lane_indices(range(half, 2 * half)))
            vector = reduce_step(b, self.op, self.dt, low, high)
        return b.extract_element(vector, ir.Constant(ir.IntType(32), 0))


def lane_indices(values) -> ir.Constant:
    values = list(values)
    return ir.Constant(ir.VectorType(ir.IntType(32), len(values)), values)


def row_pass(ctx: KernelContext, count: ir.Value, lanes: int, body: Callable) -> None:
    """``body(index, width, mask)`` over a row of ``count``: chunks of ``lanes`` (``mask`` None), then the rest
    as one chunk with ``mask`` setting its lanes; with ``lanes`` 1, every element (``width`` 1)."""
    b = ctx.builder
    if lanes == 1:
        with count_loop(b, count, "i") as i:
            body(i, 1, None)
        return
    step = ir.Constant(I64, lanes)
    chunks = b.udiv(count, step)
    with count_loop(b, chunks, "chunk") as c:
        body(b.mul(c, step), lanes, None)
    done = b.mul(chunks, step)
    rest = b.trunc(b.sub(count, done), ir.IntType(32))
    with b.if_then(b.icmp_unsigned("!=", rest, ir.Constant(ir.IntType(32), 0))):
        mask = b.icmp_unsigned("<", lane_indices(range(lanes)), splat(b, rest, ir.VectorType(ir.IntType(32), lanes)))
        body(done, lanes, mask)


def reduced_loops(source: Operand, dims: tuple) -> list[tuple]:
    """``(size, stride)`` of the loops over the reduced dims, outermost first: size-1 dims dropped, and
    neighbours merged where the outer one's stride is the inner one's extent."""
    loops = [(source.shape[d], source.strides[d]) for d in dims if source.shape[d] != 1]
    k = len(loops) - 2
    while k >= 0:
        (outer, outer_stride), (inner, inner_stride) = loops[k], loops[k + 1]
        if outer_stride == inner_stride * inner:
            loops[k:k + 2] = [(outer * inner, inner_stride)]
        k -= 1
    return loops


@lowering("sum", "mean", "amax", "amin", "var", "std")
def lower_reduction(ctx: KernelContext) -> None:
    node = ctx.node
    source = ctx.tensor(node.operands[0])
    out = ctx.outputs[0]
    dims = tuple(node.attrs["dim"])
    compute = node.attrs.get("dtype", source.dtype)
    if compute in (dtypes.float16, dtypes.bfloat16):
        raise unsupported(node.op, "float16/bfloat16 reductions")
    statistic = node.op in ("var", "std")
    acc_dt = dtypes.float64 if statistic else _accumulator_type(node.op, compute)
    rank = len(source.shape)
    kept = [d for d in range(rank) if d not in dims]
    loops = reduced_loops(source, dims)
    contiguous = bool(loops) and loops[-1][1] == 1
    wide, register = lanes_for(acc_dt, ctx.host_vector_bits, 4), lanes_for(acc_dt, ctx.host_vector_bits, 1)
    lanes = fit_lanes(wide, loops[-1][0], register) if contiguous else 1
    # Otherwise, when the source's innermost dim is kept and contiguous, a vector of neighbouring outputs
    # accumulates at once, each lane in the same order as alone.
    across = 1
    if not contiguous and loops and kept and kept[-1] == rank - 1 and source.strides[-1] == 1:
        across = fit_lanes(wide, source.shape[-1], 2)
    # The output is contiguous in the reduced shape: keepdim leaves size-1 dims where the reduced ones were.
    out_strides = [out.strides[d] for d in kept] if node.attrs["keepdim"] else list(out.strides)

    def emit_outputs(ctx: KernelContext, outer: list[ir.Value]) -> None:
        """The outputs at the kept indices ``outer`` (with ``across``, the last index is a block of columns),
        emitted with ``ctx``, the kernel's or a task function's (see :func:`parallel_rows`)."""
        b = ctx.builder
        source, out = ctx.tensor(node.operands[0]), ctx.outputs[0]
        count = ir.Constant(I64, 1)
        for d in dims:
            count = b.mul(count, ctx.sym(source.shape[d]))
        accumulators = {op: _Accumulator(ctx, op, acc_dt, max(lanes, across))
                        for op in (("sum",) if statistic else (node.op,))}

        def accumulate(op: str, base: ir.Value, width: int, mask: ir.Value | None, transform=None) -> ir.Value:
            """The ``op`` of the reduced elements from ``base``: of one output (``width`` 1, or the row in vectors
            of ``lanes``), or of ``width`` neighbouring outputs (``across``; ``mask`` sets the valid ones)."""
            acc = accumulators[op]
            acc.reset()
            if across > 1:
                with nested_loops(ctx, [size for size, _ in loops], "r") as inner:
                    at = b.add(base, sum_products(b, ctx, inner, [stride for _, stride in loops]))
                    x = cast_value(b, load_lanes(b, source, at, width, mask), source.dtype, acc_dt)
                    acc.add(x if transform is None else transform(x))
                return b.load(acc.slot)
            with nested_loops(ctx, [size for size, _ in loops[:-1]], "r") as inner:
                row = b.add(base, sum_products(b, ctx, inner, [stride for _, stride in loops[:-1]]))
                stride = ctx.sym(loops[-1][1]) if loops else None

                def body(i: ir.Value, width: int, mask: ir.Value | None) -> None:
                    at = b.add(row, i if contiguous or stride is None else b.mul(i, stride))
                    x = cast_value(b, load_lanes(b, source, at, width, mask), source.dtype, acc_dt)
                    acc.add(x if transform is None else transform(x), mask)

                if loops:
                    row_pass(ctx, ctx.sym(loops[-1][0]), lanes, body)
                else:  # every reduced dim has size 1 (or there are none): the one element
                    body(ir.Constant(I64, 0), 1, None)
            return acc.result()

        def result(base: ir.Value, width: int, mask: ir.Value | None) -> ir.Value:
            """The outputs from ``base`` (``width`` of them), in the output dtype."""
            ty = llvm_type(acc_dt) if width == 1 else ir.VectorType(llvm_type(acc_dt), width)
            if statistic:
                elements = splat(b, b.sitofp(count, llvm_type(acc_dt)), ty)
                mean = b.fdiv(accumulate("sum", base, width, mask), elements)

                def square(x: ir.Value) -> ir.Value:
                    deviation = b.fsub(x, mean if x.type == mean.type else splat(b, mean, x.type))
                    return b.fmul(deviation, deviation)

                squares = accumulate("sum", base, width, mask, square)
                divisor = b.fsub(b.sitofp(count, llvm_type(acc_dt)), constant(acc_dt, node.attrs["correction"]))
                positive = b.fcmp_ordered(">", divisor, constant(acc_dt, 0))
                divisor = b.select(positive, divisor, constant(acc_dt, 0))
                value = b.fdiv(squares, splat(b, divisor, ty))
                if node.op == "std":
                    value = intrinsic(b, "sqrt", value)
            else:
                value = accumulate(node.op, base, width, mask)
                if node.op == "mean":
                    value = b.fdiv(value, splat(b, b.sitofp(count, llvm_type(acc_dt)), ty))
            return cast_value(b, value, acc_dt, out.dtype)

        if across > 1:
            # outer ends with the block of columns: [block * j, block * (j + 1)) of the kept last dim.
            first = b.mul(outer[-1], ir.Constant(I64, block))
            base = b.add(sum_products(b, ctx, outer[:-1], [source.strides[d] for d in kept[:-1]]), first)
            out_base = b.add(sum_products(b, ctx, outer[:-1], out_strides[:-1]), first)
            left = b.sub(ctx.sym(source.shape[-1]), first)
            columns = b.select(b.icmp_signed("<", left, ir.Constant(I64, block)), left, ir.Constant(I64, block))

            def group(i: ir.Value, width: int, mask: ir.Value | None) -> None:
                store_lanes(b, out, b.add(out_base, i), result(b.add(base, i), width, mask), mask)

            row_pass(ctx, columns, across, group)
        else:
            base = sum_products(b, ctx, outer, [source.strides[d] for d in kept])
            out.store(b, sum_products(b, ctx, outer, out_strides), result(base, 1, None))

    # Each output is reduced alone, in the same order on any thread: split the outputs over tasks (with across,
    # blocks of columns, a whole number of vectors each, so that only the last block has a masked tail).
    per_output = math.prod([source.shape[d] for d in dims], start=as_expr(1))
    if across > 1:
        block = across * _BLOCK_VECTORS
        blocks = (as_expr(source.shape[-1]) + (block - 1)) // block
        sizes = [*(source.shape[d] for d in kept[:-1]), blocks]
        parallel_rows(ctx, sizes, per_output * block, emit_outputs, "out")
    else:
        parallel_rows(ctx, [source.shape[d] for d in kept], per_output, emit_outputs, "out")


def sum_products(b: ir.IRBuilder, ctx: KernelContext, indices: list, strides: list) -> ir.Value:
    total = ir.Constant(I64, 0)
    for index, stride in zip(indices, strides, strict=True):
        if stride == 0:
            continue
        total = b.add(total, index if stride == 1 else b.mul(index, ctx.sym(stride)))
    return total


@lowering("softmax", "log_softmax")
def lower_softmax(ctx: KernelContext) -> None:
    node = ctx.node
    source = ctx.tensor(node.operands[0])
    dt = node.attrs["dtype"]
    if dt not in (dtypes.float32, dtypes.float64):
        raise unsupported(node.op, f"dtype {dt}")
    rank = len(source.shape)
    if rank == 0:
        raise unsupported(node.op, "a 0-d input")
    dim = node.attrs["dim"] % rank
    others = [d for d in range(rank) if d != dim]
    # The output is contiguous, so its last dim has stride 1; the source's must too for the vector passes.
    contiguous = dim == rank - 1 and source.strides[dim] == 1
    # One register wide: the exponential's polynomial keeps many registers busy already.
    register = lanes_for(dt, ctx.host_vector_bits, 1)
    lanes = fit_lanes(register, source.shape[dim], register) if contiguous else 1

    def emit_row(ctx: KernelContext, outer: list[ir.Value]) -> None:
        """The row at the other dims' indices ``outer``, emitted with ``ctx`` (the kernel's or a task's)."""
        b = ctx.builder
        source, out = ctx.tensor(node.operands[0]), ctx.outputs[0]
        top, total = _Accumulator(ctx, "amax", dt, lanes), _Accumulator(ctx, "sum", dt, lanes)
        length = ctx.sym(source.shape[dim])
        src_stride, out_stride = ctx.sym(source.strides[dim]), ctx.sym(out.strides[dim])
        src_row = sum_products(b, ctx, outer, [source.strides[d] for d in others])
        out_row = sum_products(b, ctx, outer, [out.strides[d] for d in others])

        def src_at(i: ir.Value) -> ir.Value:
            return b.add(src_row, i if contiguous else b.mul(i, src_stride))

        def out_at(i: ir.Value) -> ir.Value:
            return b.add(out_row, i if contiguous else b.mul(i, out_stride))

        def element(i: ir.Value, width: int, mask: ir.Value | None) -> ir.Value:
            return cast_value(b, load_lanes(b, source, src_at(i), width, mask), source.dtype, dt)

        top.reset()
        row_pass(ctx, length, lanes, lambda i, width, mask: top.add(element(i, width, mask), mask))
        row_max = top.result()

        def exponentials(i: ir.Value, width: int, mask: ir.Value | None) -> None:
            x = element(i, width, mask)
            e = math_function(b, "exp", b.fsub(x, splat(b, row_max, x.type)))
            if node.op == "softmax":
                store_lanes(b, out, out_at(i), e, mask)
            total.add(e, mask)

        total.reset()
        row_pass(ctx, length, lanes, exponentials)
        row_sum = total.result()
        log_sum = math_function(b, "log", row_sum) if node.op == "log_softmax" else None
        # Multiplying by 1/sum (as PyTorch does) instead of dividing each element: within 1 ulp, and a vector
        # division costs several times a multiplication.
        inverse = b.fdiv(constant(dt, 1), row_sum)

        def normalise(i: ir.Value, width: int, mask: ir.Value | None) -> None:
            if node.op == "softmax":
                e = load_lanes(b, out, out_at(i), width, mask)
                store_lanes(b, out, out_at(i), b.fmul(e, splat(b, inverse, e.type)), mask)
            else:
                # (x - max) - log(sum): x - max is exact near the maximum, where the result is small.
                x = element(i, width, mask)
                shifted = b.fsub(x, splat(b, row_max, x.type))
                store_lanes(b, out, out_at(i), b.fsub(shifted, splat(b, log_sum, x.type)), mask)

        row_pass(ctx, length, lanes, normalise)

    # Rows are independent and each is computed the same way on any thread: split them over tasks.
    parallel_rows(ctx, [source.shape[d] for d in others], source.shape[dim], emit_row, "row")
