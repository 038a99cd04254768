"""Parallel loops in kernels: outline a loop body into a task function and run its tasks on the worker pool.

:func:`parallel_for` is the primitive: it moves ``body`` into a new internal function ``void (ptr, i64 task)``
of the module, passes it the kernel values it needs (``captures``) in a struct on the kernel's stack, and calls
``ember_parallel_for`` (:mod:`ember_runtime.cpu.threadpool`), which runs the tasks on up to
``ember.get_num_threads()`` threads and returns when all are done. With a single task the kernel calls the task
function directly, which LLVM inlines, so a small kernel costs what it did without threads.

:func:`parallel_rows` is what most lowerings use: it splits a loop over the flattened product of some outer
dims into contiguous chunks, one per task, and gives the emitter a complete :class:`KernelContext` inside the
task function (the kernel's operands, symbols, status and scratch, all captured), so a lowering's per-row code is
the same inside and outside a task.

Determinism: the number of tasks and the chunk bounds depend only on the problem size (:func:`task_count`),
never on the thread count, and each task computes its own outputs the way one thread would, so results are
bit-identical for any thread count.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import llvmlite.ir as ir

from ember_runtime.cpu.gemm_microkernel import counted_loop, smin
from ember_runtime.cpu.threadpool import PARALLEL_FOR

from ..symbolic import SymExpr, as_expr
from .codegen import I64, PTR, KernelContext, Operand, SymEmitter

__all__ = ["GRAIN", "MAX_TASKS", "flat_range", "parallel_for", "parallel_rows", "rebind", "task_context", "task_count"]

# Work items (about one element's worth of simple arithmetic each) below which a kernel stays on one thread: a
# parallel call costs a few microseconds to wake the workers, about what 32K elements of a fused loop take.
GRAIN = 32768
# The most tasks one kernel is split into: enough to balance uneven thread counts on large machines.
MAX_TASKS = 1024


def _const(value: int) -> ir.Constant:
    return ir.Constant(I64, value)


def task_count(ctx: KernelContext, work_items: ir.Value, grain: int = GRAIN) -> ir.Value:
    """``ceil(work_items / grain)`` clamped to ``[1, MAX_TASKS]``: a function of the problem size only, never of
    the thread count, so every thread count splits the work the same way."""
    b = ctx.builder
    if isinstance(work_items, ir.Constant):
        return _const(max(1, min(MAX_TASKS, -(-int(work_items.constant) // grain))))
    tasks = b.sdiv(b.add(work_items, _const(grain - 1)), _const(grain))
    tasks = smin(b, tasks, _const(MAX_TASKS))
    return b.select(b.icmp_signed("<", tasks, _const(1)), _const(1), tasks)


def _parallel_for_declaration(module: ir.Module) -> ir.Function:
    existing = module.globals.get(PARALLEL_FOR)
    if existing is not None:
        return existing
    return ir.Function(module, ir.FunctionType(ir.VoidType(), [PTR, PTR, I64]), PARALLEL_FOR)


def parallel_for(ctx: KernelContext, n_tasks: ir.Value, captures: Sequence[ir.Value],
                 body: Callable[[ir.IRBuilder, ir.Value, list[ir.Value]], None], name: str) -> None:
    """Run ``body`` for every task index in ``range(n_tasks)``, on the worker pool.

    ``body(builder, task, values)`` emits one task's code into a new function, with ``values`` the task's copies
    of ``captures`` (i64, pointer, float or double values of the kernel), loaded in its entry block; the body may
    use only those, never the kernel's own values. Tasks may run in any order and at once: each must write its
    own part of the outputs. The builder continues after the call, when every task has finished.
    """
    parent_builder = ctx.builder
    module = parent_builder.module
    parent = parent_builder.function
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [PTR, I64]), module.get_unique_name(name))
    fn.linkage = "internal"
    fn.attributes = copy.copy(parent.attributes)
    fn.args[0].add_attribute("noalias")
    struct = ir.LiteralStructType([value.type for value in captures])

    prologue = ir.IRBuilder(fn.append_basic_block("entry"))
    start = fn.append_basic_block("body")
    prologue.position_before(prologue.branch(start))
    values = []
    for k, value in enumerate(captures):
        at = prologue.gep(fn.args[0], [ir.Constant(ir.IntType(32), 0), ir.Constant(ir.IntType(32), k)],
                          inbounds=True, source_etype=struct)
        values.append(prologue.load(at, typ=value.type))
    builder = ir.IRBuilder(start)
    body(builder, fn.args[1], values)
    builder.ret_void()

    b = parent_builder
    # The struct lives in the kernel's entry block (an alloca in a loop would grow the stack each iteration).
    frame = ctx.sym.builder.alloca(struct, name=f"{name}.captures")
    packed = ir.Constant(struct, ir.Undefined)
    for k, value in enumerate(captures):
        packed = b.insert_value(packed, value, k)
    b.store(packed, frame)
    if isinstance(n_tasks, ir.Constant) and int(n_tasks.constant) <= 1:
        if int(n_tasks.constant) == 1:
            b.call(fn, [frame, _const(0)])
        return
    with b.if_else(b.icmp_signed(">", n_tasks, _const(1))) as (many, one):
        with many:
            b.call(_parallel_for_declaration(module), [fn, frame, n_tasks])
        with one, b.if_then(b.icmp_signed("==", n_tasks, _const(1))):  # a direct call, which LLVM inlines
            b.call(fn, [frame, _const(0)])


def task_context(ctx: KernelContext, builder: ir.IRBuilder, names: list[str], pointers: list[ir.Value],
                 values: list[ir.Value]) -> KernelContext:
    """``ctx`` rebuilt inside a task function from the captured ``values`` (see :func:`parallel_rows`)."""
    symbols = dict(zip(names, values[:len(names)], strict=True))
    remap = dict(zip(pointers, values[len(names):len(names) + len(pointers)], strict=True))
    prologue = ir.IRBuilder(builder.function.entry_basic_block)
    prologue.position_before(builder.function.entry_basic_block.terminator)
    task = copy.copy(ctx)
    task.builder = builder
    task.sym = SymEmitter(prologue, symbols)
    task._tensors = {v: dataclasses.replace(op, ptr=remap[op.ptr]) for v, op in ctx._tensors.items()}
    task.outputs = [dataclasses.replace(op, ptr=remap[op.ptr]) for op in ctx.outputs]
    task.status = remap.get(ctx.status)
    task.scratch = remap.get(ctx.scratch)
    task._captured = {**getattr(ctx, "_captured", {}), **remap}
    return task


def rebind(ctx: KernelContext, operand: Operand) -> Operand:
    """``operand`` (one of the kernel's) as seen from ``ctx``: in a task function, on the captured pointer."""
    captured = getattr(ctx, "_captured", None)
    if not captured or operand.ptr not in captured:
        return operand
    return dataclasses.replace(operand, ptr=captured[operand.ptr])


@contextmanager
def flat_range(ctx: KernelContext, start: ir.Value, stop: ir.Value, sizes: Sequence[ir.Value],
               name: str) -> Iterator[list[ir.Value]]:
    """Loop over the flat indices ``[start, stop)`` of a row-major nest of ``sizes``, yielding each one's
    indices (one per size): divided out once at ``start``, then counted up like an odometer."""
    b = ctx.builder
    slots = [ctx.sym.builder.alloca(I64, name=f"{name}{d}") for d in range(len(sizes))]
    rest = start
    for d in reversed(range(len(sizes))):
        if d == 0:
            b.store(rest, slots[0])
        else:
            # An empty dim makes the range empty; dividing by 1 instead keeps the (unused) division defined.
            size = sizes[d] if isinstance(sizes[d], ir.Constant) and int(sizes[d].constant) > 0 else \
                b.select(b.icmp_unsigned("==", sizes[d], _const(0)), _const(1), sizes[d])
            b.store(b.urem(rest, size), slots[d])
            rest = b.udiv(rest, size)
    with counted_loop(b, start, stop, 1, name):
        indices = [b.load(slot, typ=I64) for slot in slots]
        yield indices
        carry = None
        for d in reversed(range(len(sizes))):
            bumped = b.add(indices[d], _const(1)) if carry is None else b.add(indices[d], b.zext(carry, I64))
            if d == 0:
                b.store(bumped, slots[0])
                break
            wrapped = b.icmp_unsigned("==", bumped, sizes[d])
            b.store(b.select(wrapped, _const(0), bumped), slots[d])
            carry = wrapped if carry is None else b.and_(carry, wrapped)


def parallel_rows(ctx: KernelContext, sizes: Sequence[SymExpr | int], row_work: SymExpr | int,
                  emit: Callable[[KernelContext, list[ir.Value]], None], name: str, grain: int = GRAIN,
                  pointers: Sequence[ir.Value] = ()) -> None:
    """For every index of the row-major nest ``sizes``: ``emit(task_ctx, indices)``, where each row costs about
    ``row_work`` work items; split in chunks of consecutive rows over the worker pool when the whole is at least
    two grains. ``emit`` gets a :class:`KernelContext` to emit with (the kernel's, or the task function's) and
    must write only its row's outputs; operands it holds from the kernel's context are read through
    :func:`rebind`. The kernel's scratch memory (``ctx.scratch``) is shared by every task: a parallel kernel
    must not use it for per-row temporaries. ``pointers``: further pointer values of the kernel ``emit`` reads
    through :func:`rebind` (an operand the lowering made itself, such as a window of its output)."""
    total_rows = as_expr(1)
    for size in sizes:
        total_rows = total_rows * size
    work = ctx.sym(total_rows * row_work)
    tasks = task_count(ctx, work, grain)
    rows = ctx.sym(total_rows)
    if isinstance(rows, ir.Constant) and isinstance(tasks, ir.Constant):
        tasks = _const(min(int(tasks.constant), int(rows.constant)))
    if any(isinstance(v, ir.Constant) and int(v.constant) <= 1 for v in (tasks, rows)):
        with flat_range(ctx, _const(0), rows, [ctx.sym(s) for s in sizes], name) as indices:
            emit(ctx, indices)
        return
    b = ctx.builder
    tasks = smin(b, tasks, rows)
    names = sorted(ctx.sym.symbols)
    pointers = list(dict.fromkeys(
        [op.ptr for op in ctx._tensors.values()] + [op.ptr for op in ctx.outputs] +
        [p for p in (ctx.status, ctx.scratch) if p is not None] + list(pointers)))
    captures = [ctx.sym.symbols[n] for n in names] + pointers + [rows, tasks]

    def body(builder: ir.IRBuilder, task: ir.Value, values: list[ir.Value]) -> None:
        inner = task_context(ctx, builder, names, pointers, values)
        count, parts = values[-2], values[-1]
        # Task t takes rows [t * count / parts, (t + 1) * count / parts): balanced, fixed by the size alone.
        first = builder.udiv(builder.mul(task, count), parts)
        last = builder.udiv(builder.mul(builder.add(task, _const(1)), count), parts)
        with flat_range(inner, first, last, [inner.sym(s) for s in sizes], name) as indices:
            emit(inner, indices)

    parallel_for(ctx, tasks, captures, body, f"{name}_task")
