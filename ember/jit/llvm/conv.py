"""``convolution``: N-d cross-correlation of ``(N, C, *spatial)`` with ``(O, C / groups, *kernel)``, bias optional.

float32 with known channel and spatial sizes (the batch may be symbolic) runs as im2col + the runtime library's
GEMM (:mod:`~ember.jit.llvm.gemm`): per image, the columns ``cols[(c, tap), position]`` are written into the
kernel's arena scratch, then for each group ``out[n, group rows] = W_g @ cols_g``. The filters are A: packed once
at compile time when they are a weight (``ctx.prepacked``, PREPACKED_A), else by the GEMM per call. The bias is the
GEMM's per-row epilogue (BIAS_ROWS: added after the whole sum, as in the eager kernel); a relu and/or residual add
fused into the node by :mod:`.epilogues` runs in the same epilogue (the residual read per image as
``[O, positions]`` rows), or after the product over the output when it cannot.

When the GEMM's k fits one ``kc`` block, the positions one ``nc`` block, and every output row lies inside one
``nr``-column panel or is a whole number of them (the CNN and ResNet shapes: rows of 8, 16, 32, 64...), the
columns are written straight in the GEMM's packed-B layout (``nr``-column panels, k-major; PREPACKED_B): no
second copy of the columns per image (20-25% of a 3x3 convolution at batch 64 here). With unit-stride rows each
(channel, tap) row of panels is then written whole, the padding as zeros, by vector moves under constant masks
(:func:`_pack_image`). Otherwise, since which column entries fall in the padding depends only on the tap and the
position, the columns are zeroed once per call and each image overwrites only the entries inside the input: per
(channel, tap) a nest over the output positions whose input index is in range (constant bounds), short
unit-stride rows moved as (masked) vectors (:func:`_copy_tap`).

The images are shared out over the worker pool (:func:`~.parallel.parallel_for`): a batch is cut into at most
``_MAX_TASKS`` tasks of consecutive images (how many depends on the batch and the convolution's sizes only), each
running the whole per-image sequence (columns, GEMM with the SERIAL flag so that it does not fan out again,
epilogue, pool) on a scratch slot of its own, claimed from a row of busy flags when the task starts: the slots in
use are as many as the threads (one thread keeps reusing one, in cache), and since a task rewrites everything it
reads from its slot, which one it gets never changes a result. One task (a batch of one) keeps the GEMM's own task
split, for large single images.

Every other case (float64, integers, symbolic spatial sizes, a strided weight) is a direct loop nest
``out[n, o, p] = bias[o] + sum_{c, tap} w[o, c, tap] * x[n, g * C_g + c, p * stride + tap * dilation - pad]``
with the padding read as zero, correct for any operand strides.
"""

from __future__ import annotations

import itertools
import math
from contextlib import ExitStack
from dataclasses import dataclass

import llvmlite.ir as ir

from ember_runtime.cpu.gemm_microkernel import Intrinsics

from ...tensor import dtypes
from ..ir import Node
from ..symbolic import SymExpr
from .codegen import I64, SCRATCH, KernelContext, Operand, count_loop, llvm_type, lowering, unsupported
from .epilogues import emit_epilogue_loop, epilogue_of, pooled_convolution
from .gemm import GemmEpilogue, GemmFlags, call_pack, call_sgemm, library_config
from .layout import contiguous_strides
from .memory import align
from .parallel import parallel_for, rebind, task_context
from .reduce import nested_loops
from .scalar_ops import cast_value, constant

__all__ = ["lower_convolution"]

F32 = ir.FloatType()
# Unit-stride rows up to this many vectors are copied by unrolled vector moves (longer ones by a vectorised loop).
_VECTOR_ROW_LIMIT = 8
# The images of a batch are shared out over the worker pool in tasks of at least this many multiply-adds (a few
# microseconds: a parallel call costs about that), at most _MAX_TASKS of them (each task has its own scratch: more
# would only grow it) and at most as many as fit _SCRATCH_BUDGET bytes of scratch.
_TASK_MACS = 1 << 17
_MAX_TASKS = 16
_SCRATCH_BUDGET = 4 << 20
# The i32 busy flags of the tasks' scratch slots, one cache line in front of the slots.
_SLOT_FLAGS_BYTES = 64
assert _MAX_TASKS * 4 <= _SLOT_FLAGS_BYTES
_I32 = ir.IntType(32)


def _conv_sizes(node: Node) -> tuple:
    """The convolution's output spatial sizes (its node's output is the pooled result when it absorbed a pool)."""
    pooled = pooled_convolution(node)
    return tuple(node.output.shape[2:]) if pooled is None else pooled[2]


def _geometry(node: Node) -> tuple[tuple, tuple, tuple, tuple, int]:
    attrs = node.attrs
    return (tuple(attrs["stride"]), tuple(lo for lo, _ in attrs["padding"]), tuple(attrs["dilation"]),
            tuple(node.operands[1].shape[2:]), attrs["groups"])


@dataclass(frozen=True)
class _GemmPlan:
    """The sizes of the im2col + GEMM path and its scratch: the columns (``groups`` blocks of ``k`` rows by
    ``positions``; when ``packed``, each block already in the GEMM's packed-B layout), the GEMM's B workspace
    when not (where it packs one group's columns) and its A workspace (the filters, when not packed at compile
    time)."""

    groups: int
    in_group: int
    taps: int
    positions: int
    out_rows: int
    packed: bool
    cols_bytes: int
    workspace_bytes: int
    pack_a_bytes: int
    image_bytes: int  # one image's full convolution result, pooled from there (0: no pool absorbed)

    @property
    def k(self) -> int:
        return self.in_group * self.taps

    def offsets(self) -> tuple[int, int, int, int, int]:
        """Byte offsets of the columns, the B and the A workspaces and the image result in the scratch, and
        its size."""
        pack_b = align(self.cols_bytes)
        pack_a = pack_b + align(self.workspace_bytes)
        image = pack_a + align(self.pack_a_bytes)
        return 0, pack_b, pack_a, image, image + self.image_bytes


def _plan(node: Node, vector_bits: int) -> _GemmPlan | None:
    """The plan of the im2col + GEMM path, or None when it does not apply (see the module docstring)."""
    x, w = node.operands[0], node.operands[1]
    conv_sizes = _conv_sizes(node)
    sizes = (*x.shape[1:], *w.shape, *node.output.shape[1:], *conv_sizes)
    if (vector_bits < 256 or x.dtype is not dtypes.float32 or w.dtype is not dtypes.float32
            or not all(isinstance(s, int) for s in sizes)):
        return None
    groups, config = node.attrs["groups"], library_config()
    taps, positions = math.prod(w.shape[2:]), math.prod(conv_sizes)
    k = w.shape[1] * taps
    row = conv_sizes[-1]
    # im2col writes straight into the packed-B layout when one k block and one column block cover the product
    # and each output row lies in one nr-column panel or is a whole number of panels (the chunk offsets are then
    # compile-time constants): no second copy by the GEMM's packer.
    packed = k <= config.kc and positions <= config.nc and (config.nr % row == 0 or row % config.nr == 0)
    cols = groups * (config.packed_b_floats(positions, k) if packed else k * positions) * 4
    # a 1x1 convolution with stride 1 and no padding is the GEMM on the image itself: B is read in place
    # (the columns stay for an input whose channels are not contiguous) and packed by the GEMM
    workspace = not packed or _pointwise(node)
    return _GemmPlan(groups, w.shape[1], taps, positions, w.shape[0] // groups, packed, cols,
                     config.packed_b_floats(positions, k) * 4 if workspace else 0,
                     config.packed_a_floats(w.shape[0] // groups, k) * 4,
                     0 if pooled_convolution(node) is None else w.shape[0] * positions * 4)


def _pointwise(node: Node) -> bool:
    """A 1x1 convolution with stride 1 and no padding: its columns are the image."""
    stride, pad, _, kernel, _ = _geometry(node)
    high = tuple(hi for _, hi in node.attrs["padding"])
    return math.prod(kernel) == 1 and set(stride) == {1} and not any(pad) and not any(high)


def _conv_scratch(node: Node, vector_bits: int):
    """The slot flags and each image task's scratch slot (:func:`_scratch_bytes`)."""
    plan = _plan(node, vector_bits)
    return None if plan is None else _scratch_bytes(plan, node.operands[0].shape[0])


SCRATCH["convolution"] = _conv_scratch


@lowering("convolution")
def lower_convolution(ctx: KernelContext) -> None:
    node = ctx.node
    x, w = ctx.tensor(node.operands[0]), ctx.tensor(node.operands[1])
    bias = None if node.operands[2] is None else ctx.tensor(node.operands[2])
    if len(x.shape) < 3:
        raise unsupported(node.op, "an input without batch and channel dims")
    llvm_type(x.dtype, node.op)
    if x.dtype is dtypes.bool:
        raise unsupported(node.op, "bool operands")
    # relu / residual add fused by epilogues.fuse_gemm_epilogues: in the GEMM's epilogue, else after the loops
    activation, residual_value = epilogue_of(node)
    residual = None if residual_value is None else ctx.tensor(residual_value)
    out = ctx.outputs[0]
    w_contiguous = tuple(w.strides) == contiguous_strides(tuple(w.shape))
    bias_rows = bias is None or bias.strides[0] == 1 or bias.shape[0] == 1
    if ctx.scratch is not None and w_contiguous and bias_rows:
        # The GEMM reads the residual per image as [O, positions] rows: its dims past the batch contiguous.
        per_image = residual is None or tuple(residual.strides[1:]) == contiguous_strides(tuple(out.shape[1:]))
        epilogue = GemmEpilogue(activation=activation, residual="before" if residual is not None else None)
        _emit_im2col_gemm(ctx, x, w, bias, epilogue if per_image else GemmEpilogue(), residual)
        if per_image:
            return
    elif pooled_convolution(node) is not None:
        # epilogues.fuse_gemm_epilogues absorbs a pool only where the GEMM path applies (float32 weights)
        raise unsupported(node.op, "a fused max_pool off the im2col + GEMM path")
    else:
        _emit_direct(ctx, x, w, bias)
    emit_epilogue_loop(ctx, out, activation, residual)


def _f32_at(b: ir.IRBuilder, base: ir.Value, index) -> ir.Value:
    index = index if isinstance(index, ir.Value) else ir.Constant(I64, index)
    return b.gep(base, [index], inbounds=True, source_etype=F32)


def _image_tasks(batch: SymExpr | int, plan: _GemmPlan) -> tuple[SymExpr | int, int]:
    """How the images are shared out: ``(chunks, cap)``, the tasks being ``min(chunks, cap)``. Chunks of images
    worth at least ``_TASK_MACS`` each, at most ``_MAX_TASKS`` tasks and at most what ``_SCRATCH_BUDGET`` of
    per-task scratch allows (a large image keeps the GEMM's own task split instead). A function of the batch
    alone, so every thread count splits alike."""
    per_image = plan.groups * plan.out_rows * plan.k * plan.positions
    images_per_chunk = max(1, -(-_TASK_MACS // max(per_image, 1)))
    cap = max(1, min(_MAX_TASKS, _SCRATCH_BUDGET // _task_scratch_bytes(plan)))
    return (batch + (images_per_chunk - 1)) // images_per_chunk, cap


def _scratch_bytes(plan: _GemmPlan, batch: SymExpr | int) -> int:
    """The kernel's scratch: the slots' flags, then a slot per task that may run at once (:func:`_claim_slot`).
    With a symbolic batch, ``cap`` slots: a constant size (the arena planner can share it with other buffers),
    and slots no task claims are never touched."""
    chunks, cap = _image_tasks(batch, plan)
    slots = min(chunks, cap) if isinstance(chunks, int) else cap
    return _SLOT_FLAGS_BYTES + _task_scratch_bytes(plan) * slots


def _task_scratch_bytes(plan: _GemmPlan) -> int:
    """One task's scratch: its own columns, workspaces and image result (tasks run at once)."""
    return int(align(plan.offsets()[-1]).const_value)


def _emit_im2col_gemm(ctx: KernelContext, x: Operand, w: Operand, bias: Operand | None, epilogue: GemmEpilogue,
                      residual: Operand | None) -> None:
    """The im2col + GEMM path, the images shared out over the worker pool in :func:`_image_tasks` tasks (each with
    its own slice of the scratch), each task running its images one by one (:func:`_emit_images`)."""
    plan = _plan(ctx.node, ctx.host_vector_bits)
    filters = _prepacked_filters(ctx, plan)
    images = ctx.sym(x.shape[0])
    chunks, cap = _image_tasks(x.shape[0], plan)
    n_tasks = ctx.sym(chunks)
    if cap == 1:
        n_tasks = ir.Constant(I64, 1)  # one task takes every image (none of an empty batch)
    elif isinstance(n_tasks, ir.Constant):
        n_tasks = ir.Constant(I64, min(int(n_tasks.constant), cap))
    else:
        n_tasks = ctx.builder.select(ctx.builder.icmp_signed("<", n_tasks, ir.Constant(I64, cap)), n_tasks,
                                     ir.Constant(I64, cap))
    names = sorted(ctx.sym.symbols)
    pointers = list(dict.fromkeys(
        [op.ptr for op in ctx._tensors.values()] + [op.ptr for op in ctx.outputs] +
        [p for p in (ctx.status, ctx.scratch) if p is not None]))
    extra = [images, n_tasks] + ([] if filters is None else [filters])

    def task_body(builder: ir.IRBuilder, task: ir.Value, values: list[ir.Value]) -> None:
        inner = task_context(ctx, builder, names, pointers, values)
        count, parts = values[len(names) + len(pointers):][:2]
        task_filters = None if filters is None else values[-1]
        # Task t takes images [t * count / parts, (t + 1) * count / parts): balanced, fixed by the batch alone.
        first = builder.udiv(builder.mul(task, count), parts)
        last = builder.udiv(builder.mul(builder.add(task, ir.Constant(I64, 1)), count), parts)
        slot, release = _claim_slot(builder, inner.scratch, parts)
        scratch = _f32_at(builder, inner.scratch,
                          builder.add(ir.Constant(I64, _SLOT_FLAGS_BYTES // 4),
                                      builder.mul(slot, ir.Constant(I64, _task_scratch_bytes(plan) // 4))))
        # Several tasks: each is one thread's work, its GEMMs run whole on it (no second fan-out to the pool).
        # One task (a single image): the GEMM shares out its own product, as for any large matrix product.
        serial = builder.select(builder.icmp_signed(">", parts, ir.Constant(I64, 1)),
                                ir.Constant(I64, int(GemmFlags.SERIAL)), ir.Constant(I64, 0))
        _emit_images(inner, rebind(inner, x), rebind(inner, w), None if bias is None else rebind(inner, bias),
                     epilogue, None if residual is None else rebind(inner, residual), plan, task_filters, scratch,
                     first, last, serial)
        release()

    # every slot free (the flags are the scratch's first bytes, arena memory holds anything before the call)
    with count_loop(ctx.builder, n_tasks, "slot") as slot:
        ctx.builder.store(ir.Constant(_I32, 0), ctx.builder.gep(ctx.scratch, [slot], inbounds=True, source_etype=_I32))
    parallel_for(ctx, n_tasks, [ctx.sym.symbols[n] for n in names] + pointers + extra, task_body, "conv_images")


def _claim_slot(b: ir.IRBuilder, flags: ir.Value, slots: ir.Value) -> tuple[ir.Value, object]:
    """Claim a free scratch slot for this task: the first of ``slots`` whose i32 flag swaps from 0 to 1; and the
    function that emits its release. A task's scratch holds nothing across tasks (each rewrites what it reads), so
    which slot it gets never changes a result, and the slots touched are as many as tasks run at once: one
    thread reuses one slot (its scratch stays in cache), where a slot per task would stream them all. At most
    ``slots`` tasks run at once, so a free slot always exists."""
    entry = b.block
    search, taken, claimed = (b.append_basic_block(name) for name in ("slot.search", "slot.taken", "slot.claimed"))
    b.branch(search)
    b.position_at_end(search)
    slot = b.phi(I64, "slot")
    slot.add_incoming(ir.Constant(I64, 0), entry)
    flag = b.gep(flags, [slot], inbounds=True, source_etype=_I32)
    won = b.extract_value(b.cmpxchg(flag, ir.Constant(_I32, 0), ir.Constant(_I32, 1), "acquire", "monotonic"), 1)
    b.cbranch(won, claimed, taken)
    b.position_at_end(taken)
    following = b.add(slot, ir.Constant(I64, 1))
    slot.add_incoming(b.select(b.icmp_signed("<", following, slots), following, ir.Constant(I64, 0)), taken)
    b.branch(search)
    b.position_at_end(claimed)

    def release() -> None:
        # an atomic exchange: llvmlite's store_atomic needs a typed pointer
        b.atomic_rmw("xchg", flag, ir.Constant(_I32, 0), "release")

    return slot, release


def _emit_images(ctx: KernelContext, x: Operand, w: Operand, bias: Operand | None, epilogue: GemmEpilogue,
                 residual: Operand | None, plan: _GemmPlan, filters: ir.Value | None, scratch: ir.Value,
                 first_image: ir.Value, last_image: ir.Value, serial: ir.Value) -> None:
    """The convolution of images ``[first_image, last_image)`` with this task's ``scratch``: per image its
    columns, then per group the GEMM (``serial``: the SERIAL flag or 0), then the fused pool."""
    node, b = ctx.node, ctx.builder
    stride, pad, dilation, kernel, groups = _geometry(node)
    cols, workspace, pack_a, image_result = (b.gep(scratch, [ir.Constant(I64, offset)], inbounds=True,
                                                   source_etype=ir.IntType(8)) for offset in plan.offsets()[:4])
    pooled = pooled_convolution(node)
    out = ctx.outputs[0]
    positions, k, out_rows = plan.positions, plan.k, plan.out_rows
    in_sizes, out_sizes = x.shape[2:], _conv_sizes(node)
    const = lambda value: ir.Constant(I64, value)  # noqa: E731
    # One group's columns: k rows by positions, or the packed panels of them.
    group_floats = plan.cols_bytes // 4 // groups
    nr = library_config().nr

    def place(row: ir.Value, col: ir.Value) -> ir.Value:
        """The index of column entry (row, col) of one group's block: row-major, or in the packed-B layout
        (``nr``-column panels of k rows each; ``nr`` is a power of two, so these are shifts and masks)."""
        if not plan.packed:
            return b.add(b.mul(row, const(positions)), col)
        panel = b.mul(b.udiv(col, const(nr)), const(nr * k))
        return b.add(panel, b.add(b.mul(row, const(nr)), b.urem(col, const(nr))))

    # The packed layout with unit-stride rows is written whole per image, padding zeros included (no pass that
    # zeroes the columns each call: a third of the copy traffic at batch 1). Else entries in the padding stay
    # zero for every image and channel, so the columns are zeroed once per call and each image writes the rest.
    image_is_b = _pointwise(node) and tuple(x.strides[1:]) == contiguous_strides(tuple(x.shape[1:]))
    whole = plan.packed and stride[-1] == 1 and x.strides[-1] == 1 and ctx.host_vector_bits >= 256
    if not whole and not image_is_b:
        with count_loop(b, const(groups * group_floats), "zero") as i:
            b.store(ir.Constant(F32, 0.0), _f32_at(b, cols, i))
    elif positions % nr and not image_is_b:
        # the last panel's columns past the positions: never stored by the GEMM, zeroed to keep them finite
        tail = nr - positions % nr
        with count_loop(b, const(groups * k), "tail") as r:
            start = b.add(b.mul(b.udiv(r, const(k)), const(group_floats)), place(b.urem(r, const(k)), const(positions)))
            with count_loop(b, const(tail), "tail_col") as j:
                b.store(ir.Constant(F32, 0.0), _f32_at(b, cols, b.add(start, j)))
    out_plane = contiguous_strides(tuple(out_sizes))
    taps = list(itertools.product(*map(range, kernel)))  # row-major, as the weight
    # Split points of an output row into runs that each stay inside one packed panel (a row longer than a
    # panel is a whole number of them; a shorter one lies inside one).
    splits = tuple(range(nr, out_sizes[-1], nr)) if plan.packed else ()
    # The bias per output channel (a row of C) in the epilogue, after the whole sum as in the eager kernel.
    columns_packed = plan.packed and not image_is_b
    flags = (epilogue.flags | (GemmFlags.BIAS_ROWS if bias is not None else 0)
             | (GemmFlags.PREPACKED_B if columns_packed else 0) | (GemmFlags.PREPACKED_A if filters is not None else 0))
    a_floats = library_config().packed_a_floats(out_rows, k)
    flags_value = b.or_(ir.Constant(I64, int(flags)), serial)
    with count_loop(b, b.sub(last_image, first_image), "n") as image_index:
        n = b.add(first_image, image_index)
        image = b.mul(n, ctx.sym(x.strides[0]))
        if whole and not image_is_b:
            _pack_image(ctx, x, cols, image, plan, place, nr)
        elif not image_is_b:
            with count_loop(b, const(groups), "cg") as g, count_loop(b, const(plan.in_group), "c") as c:
                channel = b.add(image, b.mul(b.add(b.mul(g, const(plan.in_group)), c), ctx.sym(x.strides[1])))
                block = _f32_at(b, cols, b.mul(g, const(group_floats)))
                for t, tap in enumerate(taps):
                    row = b.add(b.mul(c, const(len(taps))), const(t))
                    _copy_tap(ctx, x, block, channel, lambda col, row=row: place(row, col), splits, tap, stride,
                              pad, dilation, in_sizes, out_sizes, out_plane)
        out_image = b.mul(n, const(groups * out_rows * positions))
        residual_image = None if residual is None else b.mul(n, ctx.sym(residual.strides[0]))
        with count_loop(b, const(groups), "g") as g:
            group_rows = b.mul(g, const(out_rows * positions))
            c_g = _f32_at(b, out.ptr, b.add(out_image, group_rows)) if pooled is None else \
                _f32_at(b, image_result, group_rows)
            # Without a residual the GEMM's epilogue may still issue masked-off loads from this pointer: a mapped
            # address (C's, never read) keeps them cheap (from NULL they measured up to 2x slower on this host).
            r_g = c_g
            if residual is not None and epilogue.residual:
                r_g = _f32_at(b, residual.ptr, b.add(residual_image, group_rows))
            a_g = (_f32_at(b, w.ptr, b.mul(g, const(out_rows * k))) if filters is None
                   else _f32_at(b, filters, b.mul(g, const(a_floats))))
            b_g = _f32_at(b, cols, b.mul(g, const(group_floats))) if not image_is_b else \
                _f32_at(b, x.ptr, b.add(image, b.mul(g, const(plan.in_group * positions))))
            call_sgemm(b, const(out_rows), const(positions), const(k), a_g, const(k), b_g, const(positions), c_g,
                       const(positions), flags=flags_value,
                       bias=None if bias is None else _f32_at(b, bias.ptr, b.mul(g, const(out_rows))), residual=r_g,
                       ldr=const(positions), pack_a=None if filters is not None else pack_a,
                       pack_b=None if columns_packed else workspace)
        if pooled is not None:
            _emit_max_pool(ctx, image_result, b.mul(n, const(math.prod(out.shape[1:]))), pooled)


def _prepacked_filters(ctx: KernelContext, plan: _GemmPlan) -> ir.Value | None:
    """The filters packed at compile time as the GEMM's A (each group's ``[out_rows, k]`` block packed whole,
    the blocks end to end), or None when the weight is not a parameter or constant."""
    config = library_config()
    a_floats = config.packed_a_floats(plan.out_rows, plan.k)

    def emit_pack(b: ir.IRBuilder, source: Operand, dest: ir.Value) -> None:
        const = lambda value: ir.Constant(I64, value)  # noqa: E731
        for g in range(plan.groups):
            call_pack(b, "a", const(plan.out_rows), const(plan.k), _f32_at(b, source.ptr, g * plan.out_rows * plan.k),
                      const(plan.k), packed=_f32_at(b, dest, g * a_floats))

    return ctx.prepacked(ctx.node.operands[1], plan.groups * a_floats * 4, emit_pack,
                         tag=f"sgemm_a_groups{plan.groups}_{config.vector_bits}_{config.mr}x{config.kc}")


def _emit_max_pool(ctx: KernelContext, image: ir.Value, out_image: ir.Value, pooled: tuple) -> None:
    """``out[n] = max_pool(image)`` for one image's ``[O, H, W]`` result still in cache: windows inside the image
    (no padding, no dilation), taps in row-major order, a tap taken when greater (the first maximum wins) or NaN,
    as the ``max_pool`` kernel (:mod:`.pool`) does."""
    b, out = ctx.builder, ctx.outputs[0]
    kernel, stride, (height, width) = pooled
    const = lambda value: ir.Constant(I64, value)  # noqa: E731
    channels, out_h, out_w = out.shape[1:]
    with count_loop(b, const(channels), "pool_o") as o, count_loop(b, const(out_h), "pool_y") as y, \
            count_loop(b, const(out_w), "pool_x") as x:
        corner = b.add(b.mul(o, const(height * width)),
                       b.add(b.mul(b.mul(y, const(stride[0])), const(width)), b.mul(x, const(stride[1]))))
        best = ir.Constant(F32, float("-inf"))
        for i, j in itertools.product(range(kernel[0]), range(kernel[1])):
            value = b.load(_f32_at(b, image, b.add(corner, const(i * width + j))), typ=F32)
            better = b.or_(b.fcmp_ordered(">", value, best), b.fcmp_unordered("uno", value, value))
            best = b.select(better, value, best)
        at = b.add(out_image, b.add(b.mul(o, const(out_h * out_w)), b.add(b.mul(y, const(out_w)), x)))
        b.store(best, _f32_at(b, out.ptr, at))


def _valid_range(out_size: int, stride: int, offset: int, in_size: int) -> tuple[int, int]:
    """The output indices ``j`` with ``0 <= j * stride + offset < in_size``, as ``[lo, hi)``."""
    lo = min(out_size, max(0, -(offset // stride)))
    hi = min(out_size, max(lo, -((offset - in_size) // stride)))
    return lo, hi


def _copy_tap(ctx: KernelContext, x: Operand, cols: ir.Value, channel: ir.Value, place, splits: tuple, tap: tuple,
              stride: tuple, pad: tuple, dilation: tuple, in_sizes: tuple, out_sizes: tuple,
              out_plane: tuple) -> None:
    """``cols[place(p)] = x[channel, p * stride + tap * dilation - pad]`` over the output positions ``p`` (as
    linear indices) inside the input; each output row's run is cut at ``splits`` (positions along the row where
    ``place`` may jump) and the pieces copied as unit runs of ``place``."""
    b = ctx.builder
    offsets = [t * d - p for t, d, p in zip(tap, dilation, pad, strict=True)]
    ranges = [_valid_range(o, s, off, n) for o, s, off, n in zip(out_sizes, stride, offsets, in_sizes, strict=True)]
    if any(lo >= hi for lo, hi in ranges):
        return
    width = ctx.host_vector_bits // 32
    lo, hi = ranges[-1]
    # Short unit-stride runs are copied by (masked) vector moves: the loop vectoriser leaves such rows (often a
    # vector minus one, with padding) to scalar code.
    cuts = [lo, *(s for s in splits if lo < s < hi), hi]
    vector_rows = stride[-1] == 1 and x.strides[-1] == 1 and width >= 8 and \
        max(e - s for s, e in itertools.pairwise(cuts)) <= _VECTOR_ROW_LIMIT * width
    with ExitStack() as stack:
        source, target = channel, ir.Constant(I64, 0)
        for d, (first, last) in enumerate(ranges[:-1]):
            j = b.add(stack.enter_context(count_loop(b, ir.Constant(I64, last - first), f"tap{d}")),
                      ir.Constant(I64, first))
            index = b.add(b.mul(j, ir.Constant(I64, stride[d])), ir.Constant(I64, offsets[d]))
            step = x.strides[d + 2]
            source = b.add(source, index if step == 1 else b.mul(index, ctx.sym(step)))
            target = b.add(target, j if out_plane[d] == 1 else b.mul(j, ir.Constant(I64, out_plane[d])))
        step = x.strides[-1]
        for start, end in itertools.pairwise(cuts):
            at = place(b.add(target, ir.Constant(I64, start)))
            first_input = start * stride[-1] + offsets[-1]
            if vector_rows:
                _copy_run(b, Intrinsics(ctx.module, width), x.ptr, b.add(source, ir.Constant(I64, first_input)),
                          cols, at, end - start)
                continue
            with count_loop(b, ir.Constant(I64, end - start), "run") as j:
                index = b.add(b.mul(j, ir.Constant(I64, stride[-1])), ir.Constant(I64, first_input))
                value = x.load(b, b.add(source, index if step == 1 else b.mul(index, ctx.sym(step))))
                b.store(value, _f32_at(b, cols, b.add(at, j)))


def _pack_image(ctx: KernelContext, x: Operand, cols: ir.Value, image: ir.Value, plan: _GemmPlan, place,
                nr: int) -> None:
    """Every entry ``cols[g][place(kk, p)]`` of one image's packed columns (all groups): the input value at
    ``p * stride + tap * dilation - pad`` of channel ``kk // taps``, or 0 in the padding.

    The output rows are the outer loops and the (channel, tap) rows of k the inner ones, so each panel is written
    front to back (stores that stream, not one line per panel in turn). Rows (unit input stride along them) go in
    pieces of ``min(row, nr)`` columns, each inside one panel, as vectors loaded under a mask of the in-range
    columns (zero elsewhere); a row whose input row is out of range loads nothing and stores zeros."""
    b = ctx.builder
    stride, pad, dilation, kernel, groups = _geometry(ctx.node)
    in_sizes, out_sizes = x.shape[2:], _conv_sizes(ctx.node)
    out_plane = contiguous_strides(tuple(out_sizes))
    width = ctx.host_vector_bits // 32
    vec = Intrinsics(ctx.module, width)
    row_length = out_sizes[-1]
    piece = min(row_length, nr)
    const = lambda value: ir.Constant(I64, value)  # noqa: E731
    taps = list(itertools.product(*map(range, kernel)))  # row-major, as the weight
    group_floats = plan.cols_bytes // 4 // groups
    with ExitStack() as stack:
        rows = [stack.enter_context(count_loop(b, const(size), f"pack{d}")) for d, size in enumerate(out_sizes[:-1])]
        start = const(0)
        for d, j in enumerate(rows):
            start = b.add(start, b.mul(j, const(out_plane[d])))
        targets = [place(const(0), b.add(start, const(first))) for first in range(0, row_length, piece)]
        g = stack.enter_context(count_loop(b, const(groups), "pack_g"))
        c = stack.enter_context(count_loop(b, const(plan.in_group), "pack_c"))
        block = _f32_at(b, cols, b.mul(g, const(group_floats)))
        channel = b.add(image, b.mul(b.add(b.mul(g, const(plan.in_group)), c), ctx.sym(x.strides[1])))
        for t, tap in enumerate(taps):
            offsets = [tp * dl - pd for tp, dl, pd in zip(tap, dilation, pad, strict=True)]
            lo, hi = _valid_range(row_length, 1, offsets[-1], in_sizes[-1])
            source, inside = channel, ir.Constant(ir.IntType(1), 1)
            for d, j in enumerate(rows):
                index = b.add(b.mul(j, const(stride[d])), const(offsets[d]))
                in_range = b.and_(b.icmp_signed(">=", index, const(0)), b.icmp_signed("<", index, const(in_sizes[d])))
                inside = b.and_(inside, in_range)
                # an out-of-range input row is never read (its mask is off): point at row 0 to stay in bounds
                index = b.select(in_range, index, const(0))
                step = x.strides[d + 2]
                source = b.add(source, index if step == 1 else b.mul(index, ctx.sym(step)))
            row_inside = vec.splat_i1(b, inside)
            # this tap's row of k in each panel: place(kk, col) = place(0, col) + kk * nr within a panel
            kk_offset = b.mul(b.add(b.mul(c, const(len(taps))), const(t)), const(nr))
            for piece_index, first_col in enumerate(range(0, row_length, piece)):
                target = b.add(targets[piece_index], kk_offset)
                for first in range(first_col, first_col + piece, width):
                    lanes = min(width, first_col + piece - first)
                    store_mask = ir.Constant(vec.mask, [int(lane < lanes) for lane in range(width)])
                    valid = [int(lane < lanes and lo <= first + lane < hi) for lane in range(width)]
                    value = ir.Constant(vec.vector, None)
                    if any(valid):
                        mask = b.and_(ir.Constant(vec.mask, valid), row_inside)
                        # lanes before the row start are masked off: a plain (not inbounds) address for them
                        at = b.gep(x.ptr, [b.add(source, const(first + offsets[-1]))], source_etype=F32)
                        value = vec.load(b, at, mask)
                    vec.store(b, value, _f32_at(b, block, b.add(target, const(first - first_col))), store_mask)


def _copy_run(b: ir.IRBuilder, vec: Intrinsics, src: ir.Value, source: ir.Value, dst: ir.Value, target: ir.Value,
              count: int) -> None:
    """``dst[target:target + count] = src[source:source + count]`` as vector moves, the last one masked."""
    for first in range(0, count, vec.width):
        lanes = min(vec.width, count - first)
        mask = ir.Constant(vec.mask, [1] * lanes + [0] * (vec.width - lanes))
        value = vec.load(b, _f32_at(b, src, b.add(source, ir.Constant(I64, first))), mask)
        vec.store(b, value, _f32_at(b, dst, b.add(target, ir.Constant(I64, first))), mask)


def _emit_direct(ctx: KernelContext, x: Operand, w: Operand, bias: Operand | None) -> None:
    node, b = ctx.node, ctx.builder
    stride, pad, dilation, kernel, groups = _geometry(node)
    out, dt = ctx.outputs[0], ctx.outputs[0].dtype
    floating = dt.is_floating_point
    nd = len(kernel)
    in_group = w.shape[1]
    out_group = b.sdiv(ctx.sym(w.shape[0]), ir.Constant(I64, groups))
    with nested_loops(ctx, list(out.shape), "o") as index:
        n, o, positions = index[0], index[1], index[2:]
        where = ctx.offset(out, index)
        start = constant(dt, 0) if bias is None else cast_value(b, bias.load(b, ctx.offset(bias, [o])), bias.dtype, dt)
        out.store(b, where, start)
        first_channel = b.mul(b.sdiv(o, out_group), ctx.sym(in_group))
        with count_loop(b, ctx.sym(in_group), "c") as c, nested_loops(ctx, list(kernel), "t") as tap:
            inside = ir.Constant(ir.IntType(1), 1)
            spatial = []
            for d in range(nd):
                i = b.add(b.mul(positions[d], ir.Constant(I64, stride[d])),
                          b.sub(b.mul(tap[d], ir.Constant(I64, dilation[d])), ir.Constant(I64, pad[d])))
                inside = b.and_(inside, b.and_(b.icmp_signed(">=", i, ir.Constant(I64, 0)),
                                               b.icmp_signed("<", i, ctx.sym(x.shape[d + 2]))))
                spatial.append(i)
            x_at = ctx.offset(x, [n, b.add(first_channel, c), *spatial])
            value = x.load(b, b.select(inside, x_at, ir.Constant(I64, 0)))
            value = b.select(inside, value, constant(dt, 0))
            weight = w.load(b, ctx.offset(w, [o, c, *tap]))
            product = b.fmul(weight, value) if floating else b.mul(weight, value)
            current = out.load(b, where)
            out.store(b, where, b.fadd(current, product) if floating else b.add(current, product))
