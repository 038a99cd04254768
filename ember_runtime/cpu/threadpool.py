"""A persistent pthread worker pool for compiled code, itself written in LLVM IR and compiled once per process.

Compiled kernels split large loops into tasks and call::

    void ember_parallel_for(ptr task_fn, ptr context, i64 n_tasks)   ; task_fn: void (ptr context, i64 task)

which runs every task once, on up to :func:`get_num_threads` threads (the caller is one of them and takes tasks
too), and returns when all are done. Tasks are handed out by an atomic counter; which thread runs a task never
changes what the task computes, so results are identical for any thread count.

The caller runs every task itself, in order, when the pool is set to one thread, when there is at most one task,
or when the pool is already running another call (another Python thread's graph, or a parallel loop inside a
task): a try-lock, so a busy pool never makes anyone wait. Workers are created lazily, up to the requested count
(shrinking the count just uses fewer); between calls they poll briefly (a call that follows soon starts in about
a microsecond) and then sleep on a condition variable. After ``fork()`` the
child has none of the parent's workers: the first call in a new process resets the pool's state and starts new
ones.

:func:`ensure_pool` compiles the pool (thread-safe, once) and registers its entry points with
``llvmlite.binding.add_symbol``, so graph modules that only ``declare`` them link when MCJIT finalizes them;
``compile_module`` calls it for IR that mentions ``ember_parallel_for``. This module never imports ember.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading

import llvmlite.binding as llvm
import llvmlite.ir as ir

__all__ = ["PARALLEL_FOR", "ensure_pool", "get_num_threads", "set_num_threads"]

PARALLEL_FOR = "ember_parallel_for"
_SET_THREADS = "ember_set_num_threads"
_GET_THREADS = "ember_get_num_threads"

# Workers learn their index and the generation they start at from their thread argument: index in the low bits.
_INDEX_BITS = 12
_MAX_WORKERS = (1 << _INDEX_BITS) - 1
# Polls of a spin wait before sleeping on a condition variable (with PAUSE, some tens of microseconds).
_SPIN = 2000
# Linux's sizes (glibc and musl, x86-64 and aarch64); all-zero bytes are the static initialisers
# PTHREAD_{MUTEX,COND}_INITIALIZER. On other systems the pool runs every call inline.
_MUTEX_BYTES, _COND_BYTES = 40, 48
_LIBC = ("pthread_create", "pthread_mutex_lock", "pthread_mutex_unlock", "pthread_cond_wait",
         "pthread_cond_broadcast", "getpid")

I32 = ir.IntType(32)
I64 = ir.IntType(64)
PTR = ir.PointerType()
VOID = ir.VoidType()


def _const(value: int, ty: ir.IntType = I64) -> ir.Constant:
    return ir.Constant(ty, value)


class _FunctionPointer:
    """A function pointer value that ``IRBuilder.call`` can call: with opaque pointers the value does not carry
    the function type, which the call instruction reads from its callee."""

    def __init__(self, pointer: ir.Value, function_type: ir.FunctionType):
        self.pointer = pointer
        self.type = pointer.type
        self.function_type = function_type

    def get_reference(self) -> str:
        return self.pointer.get_reference()


class _PoolModule:
    """Builds the pool's module: its state as globals, the worker loop and the three entry points."""

    def __init__(self, threaded: bool):
        self.threaded = threaded
        self.module = m = ir.Module(name="ember_threadpool")
        self.mutex = self._global("pool_mutex", ir.ArrayType(ir.IntType(8), _MUTEX_BYTES))
        self.work_ready = self._global("pool_work_ready", ir.ArrayType(ir.IntType(8), _COND_BYTES))
        self.work_done = self._global("pool_work_done", ir.ArrayType(ir.IntType(8), _COND_BYTES))
        self.busy = self._global("pool_busy", I32)
        self.owner_pid = self._global("pool_owner_pid", I32)
        self.threads = self._global("pool_threads", I64, 1)
        self.workers = self._global("pool_workers", I64)
        self.generation = self._global("pool_generation", I64)
        self.job_fn = self._global("pool_job_fn", PTR)
        self.job_context = self._global("pool_job_context", PTR)
        self.job_tasks = self._global("pool_job_tasks", I64)
        self.next_task = self._global("pool_next_task", I64)
        self.participants = self._global("pool_participants", I64)
        self.job_open = self._global("pool_job_open", I64)  # workers may still join the job
        self.active = self._global("pool_active", I64)  # workers that joined it and have not finished

        def declare(name: str, ret: ir.Type, args: list[ir.Type]) -> ir.Function:
            return ir.Function(m, ir.FunctionType(ret, args), name)

        self.pthread_create = declare("pthread_create", I32, [PTR, PTR, PTR, PTR])
        self.lock = declare("pthread_mutex_lock", I32, [PTR])
        self.unlock = declare("pthread_mutex_unlock", I32, [PTR])
        self.wait = declare("pthread_cond_wait", I32, [PTR, PTR])
        self.broadcast = declare("pthread_cond_broadcast", I32, [PTR])
        self.getpid = declare("getpid", I32, [])
        self.task_type = ir.FunctionType(VOID, [PTR, I64])
        # The spin loops' pause hint (x86: PAUSE, gentle on the sibling hyper-thread); elsewhere a plain poll.
        x86 = llvm.get_process_triple().startswith(("x86_64", "i686", "i386"))
        self.pause = declare("llvm.x86.sse2.pause", VOID, []) if x86 else None

    def _global(self, name: str, ty: ir.Type, initial: int | None = None) -> ir.GlobalVariable:
        variable = ir.GlobalVariable(self.module, ty, name)
        variable.linkage = "internal"
        variable.align = 8
        variable.initializer = ir.Constant(ty, None) if initial is None else ir.Constant(ty, initial)
        return variable

    def build(self) -> str:
        self.run_tasks = self._run_tasks()
        self.worker = self._worker()
        self._parallel_for()
        for name, body in ((_SET_THREADS, self._set_threads), (_GET_THREADS, self._get_threads)):
            body(name)
        return str(self.module)

    def _run_tasks(self) -> ir.Function:
        """``run_tasks(fn, context, n)``: take task numbers from the shared counter and run them until none is left."""
        fn = ir.Function(self.module, ir.FunctionType(VOID, [PTR, PTR, I64]), "pool_run_tasks")
        fn.linkage = "internal"
        task_fn, context, n = fn.args
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        loop, run, done = (fn.append_basic_block(x) for x in ("loop", "run", "done"))
        b.branch(loop)
        b.position_at_end(loop)
        task = b.atomic_rmw("add", self.next_task, _const(1), "monotonic")
        b.cbranch(b.icmp_signed("<", task, n), run, done)
        b.position_at_end(run)
        b.call(_FunctionPointer(task_fn, self.task_type), [context, task])
        b.branch(loop)
        b.position_at_end(done)
        b.ret_void()
        return fn

    def _spin(self, b: ir.IRBuilder, variable: ir.GlobalVariable, until, name: str) -> ir.Block:
        """Poll ``variable`` (atomically) up to ``_SPIN`` times until ``until(b, value)`` holds, pausing between
        polls: a job or a finish that comes soon is seen without the cost of a sleep and a wake-up. Returns the
        block that is reached when it held; the builder ends where it did not."""
        fn = b.function
        head, body, hit, miss = (fn.append_basic_block(f"{name}.{x}") for x in ("head", "body", "hit", "miss"))
        before = b.block
        b.branch(head)
        b.position_at_end(head)
        count = b.phi(I64)
        count.add_incoming(_const(0), before)
        value = b.load_atomic(variable, "acquire", 8, typ=I64)
        b.cbranch(until(b, value), hit, body)
        b.position_at_end(body)
        if self.pause is not None:
            b.call(self.pause, [])
        following = b.add(count, _const(1))
        count.add_incoming(following, body)
        b.cbranch(b.icmp_signed("<", following, _const(_SPIN)), head, miss)
        b.position_at_end(miss)
        return hit

    def _worker(self) -> ir.Function:
        """A worker thread: wait (spinning, then sleeping) until the generation changes; when it is one of the
        job's participants and the job is still open, join it (``active``), run tasks until none is left, leave,
        and wait again. Never returns."""
        fn = ir.Function(self.module, ir.FunctionType(PTR, [PTR]), "pool_worker")
        fn.linkage = "internal"
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        idle, locked, check, sleep, wake, work, notify, release = (fn.append_basic_block(x) for x in (
            "idle", "locked", "check", "sleep", "wake", "work", "notify", "release"))
        argument = b.ptrtoint(fn.args[0], I64)
        index = b.and_(argument, _const(_MAX_WORKERS))
        seen = b.alloca(I64, name="seen")
        b.store(b.lshr(argument, _const(_INDEX_BITS)), seen)
        b.branch(idle)
        b.position_at_end(idle)
        new_job = self._spin(b, self.generation, lambda b, g: b.icmp_unsigned("!=", g, b.load(seen, typ=I64)),
                             "idle")
        b.branch(locked)
        b.position_at_end(new_job)
        b.branch(locked)
        b.position_at_end(locked)
        b.call(self.lock, [self.mutex])
        b.branch(check)
        # With the mutex held: a job newer than the last one seen?
        b.position_at_end(check)
        generation = b.load(self.generation, typ=I64)
        b.cbranch(b.icmp_unsigned("==", generation, b.load(seen, typ=I64)), sleep, wake)
        b.position_at_end(sleep)
        b.call(self.wait, [self.work_ready, self.mutex])
        b.branch(check)
        b.position_at_end(wake)
        b.store(generation, seen)
        task_fn, context = b.load(self.job_fn, typ=PTR), b.load(self.job_context, typ=PTR)
        tasks = b.load(self.job_tasks, typ=I64)
        participant = b.and_(b.icmp_unsigned("<", index, b.load(self.participants, typ=I64)),
                             b.icmp_unsigned("!=", b.load(self.job_open, typ=I64), _const(0)))
        joined = b.add(b.load(self.active, typ=I64), b.zext(participant, I64))
        b.store_atomic(joined, self.active, "monotonic", 8)
        b.call(self.unlock, [self.mutex])
        b.cbranch(participant, work, idle)
        b.position_at_end(work)
        b.call(self.run_tasks, [task_fn, context, tasks])
        b.call(self.lock, [self.mutex])
        left = b.sub(b.load(self.active, typ=I64), _const(1))
        b.store_atomic(left, self.active, "release", 8)
        # The caller sleeps on work_done only once it has closed the job: the last worker out then wakes it.
        closed = b.icmp_unsigned("==", b.load(self.job_open, typ=I64), _const(0))
        b.cbranch(b.and_(b.icmp_unsigned("==", left, _const(0)), closed), notify, release)
        b.position_at_end(notify)
        b.call(self.broadcast, [self.work_done])
        b.branch(release)
        b.position_at_end(release)
        b.call(self.unlock, [self.mutex])
        b.branch(idle)
        return fn

    def _parallel_for(self) -> None:
        m = self.module
        fn = ir.Function(m, ir.FunctionType(VOID, [PTR, PTR, I64]), PARALLEL_FOR)
        task_fn, context, tasks = fn.args
        blocks = {name: fn.append_basic_block(name) for name in (
            "entry", "try_pool", "owned", "new_process", "spawn_check", "spawn", "created", "spawned", "ready",
            "share", "spin", "wait_check", "wait", "finished", "give_back", "alone", "inline", "inline_loop",
            "inline_run", "done")}
        b = ir.IRBuilder(blocks["entry"])
        handle, counter = b.alloca(I64, name="thread"), b.alloca(I64, name="task")
        threads = b.load_atomic(self.threads, "monotonic", 8, typ=I64)
        alone = b.or_(b.icmp_signed("<=", tasks, _const(1)), b.icmp_signed("<=", threads, _const(1)))
        if not self.threaded:  # the pthread object sizes are glibc's: elsewhere every call runs inline
            alone = ir.Constant(ir.IntType(1), 1)
        b.cbranch(alone, blocks["inline"], blocks["try_pool"])

        b.position_at_end(blocks["try_pool"])
        claimed = b.extract_value(b.cmpxchg(self.busy, _const(0, I32), _const(1, I32), "acquire", "monotonic"), 1)
        b.cbranch(claimed, blocks["owned"], blocks["inline"])

        # The pool is ours until busy is cleared. In a forked child the parent's workers do not exist, and the
        # mutex may have been copied locked: start afresh.
        b.position_at_end(blocks["owned"])
        pid = b.call(self.getpid, [])
        b.cbranch(b.icmp_signed("!=", pid, b.load(self.owner_pid, typ=I32)), blocks["new_process"],
                  blocks["spawn_check"])
        b.position_at_end(blocks["new_process"])
        for variable in (self.mutex, self.work_ready, self.work_done):
            b.store(ir.Constant(variable.value_type, None), variable)
        for variable in (self.workers, self.active, self.participants, self.job_open):
            b.store(_const(0), variable)
        b.store(pid, self.owner_pid)
        b.branch(blocks["spawn_check"])

        # Create workers up to threads - 1 (the caller is a thread too); a failed pthread_create just means fewer.
        b.position_at_end(blocks["spawn_check"])
        wanted = b.sub(threads, _const(1))
        wanted = b.select(b.icmp_signed("<", wanted, _const(_MAX_WORKERS)), wanted, _const(_MAX_WORKERS))
        workers = b.load(self.workers, typ=I64)
        b.cbranch(b.icmp_signed("<", workers, wanted), blocks["spawn"], blocks["spawned"])
        b.position_at_end(blocks["spawn"])
        start = b.or_(b.shl(b.load(self.generation, typ=I64), _const(_INDEX_BITS)), workers)
        failed = b.call(self.pthread_create, [handle, ir.Constant(PTR, None), self.worker, b.inttoptr(start, PTR)])
        b.cbranch(b.icmp_unsigned("==", failed, _const(0, I32)), blocks["created"], blocks["spawned"])
        b.position_at_end(blocks["created"])
        b.store(b.add(workers, _const(1)), self.workers)
        b.branch(blocks["spawn_check"])
        # Up to threads - 1 workers take part (fewer when pthread_create failed), and no more than tasks - 1.
        b.position_at_end(blocks["spawned"])
        workers = b.load(self.workers, typ=I64)
        helpers = b.select(b.icmp_signed("<", workers, wanted), workers, wanted)
        last = b.sub(tasks, _const(1))
        helpers = b.select(b.icmp_signed("<", helpers, last), helpers, last)
        b.cbranch(b.icmp_signed(">", helpers, _const(0)), blocks["ready"], blocks["alone"])

        # Publish the job under the mutex and wake the workers; then take tasks like them.
        b.position_at_end(blocks["ready"])
        b.call(self.lock, [self.mutex])
        b.store(task_fn, self.job_fn)
        b.store(context, self.job_context)
        b.store(tasks, self.job_tasks)
        b.store_atomic(_const(0), self.next_task, "monotonic", 8)
        b.store(helpers, self.participants)
        b.store(_const(1), self.job_open)
        b.store_atomic(_const(0), self.active, "monotonic", 8)
        b.store_atomic(b.add(b.load(self.generation, typ=I64), _const(1)), self.generation, "release", 8)
        b.call(self.broadcast, [self.work_ready])
        b.call(self.unlock, [self.mutex])
        b.branch(blocks["share"])
        b.position_at_end(blocks["share"])
        b.call(self.run_tasks, [task_fn, context, tasks])
        # Every task is taken. Close the job, so that a worker waking only now stays out of it, and wait for
        # those that joined (not for the sleepy ones: a busy machine may not run them for a while).
        b.call(self.lock, [self.mutex])
        b.store(_const(0), self.job_open)
        joined = b.load(self.active, typ=I64)
        b.call(self.unlock, [self.mutex])
        b.cbranch(b.icmp_unsigned("==", joined, _const(0)), blocks["give_back"], blocks["spin"])
        b.position_at_end(blocks["spin"])
        all_done = self._spin(b, self.active, lambda b, left: b.icmp_unsigned("==", left, _const(0)), "finish")
        b.call(self.lock, [self.mutex])
        b.branch(blocks["wait_check"])
        b.position_at_end(all_done)
        b.branch(blocks["give_back"])
        b.position_at_end(blocks["wait_check"])
        b.cbranch(b.icmp_unsigned("==", b.load(self.active, typ=I64), _const(0)), blocks["finished"],
                  blocks["wait"])
        b.position_at_end(blocks["wait"])
        b.call(self.wait, [self.work_done, self.mutex])
        b.branch(blocks["wait_check"])
        b.position_at_end(blocks["finished"])
        b.call(self.unlock, [self.mutex])
        b.branch(blocks["give_back"])
        b.position_at_end(blocks["give_back"])
        b.store_atomic(_const(0, I32), self.busy, "release", 4)
        b.ret_void()

        b.position_at_end(blocks["alone"])  # no worker could be created: run the tasks here
        b.store_atomic(_const(0, I32), self.busy, "release", 4)
        b.branch(blocks["inline"])

        b.position_at_end(blocks["inline"])
        b.store(_const(0), counter)
        b.branch(blocks["inline_loop"])
        b.position_at_end(blocks["inline_loop"])
        task = b.load(counter, typ=I64)
        b.cbranch(b.icmp_signed("<", task, tasks), blocks["inline_run"], blocks["done"])
        b.position_at_end(blocks["inline_run"])
        b.call(_FunctionPointer(task_fn, self.task_type), [context, task])
        b.store(b.add(task, _const(1)), counter)
        b.branch(blocks["inline_loop"])
        b.position_at_end(blocks["done"])
        b.ret_void()

    def _set_threads(self, name: str) -> None:
        fn = ir.Function(self.module, ir.FunctionType(VOID, [I64]), name)
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        count = fn.args[0]
        b.store_atomic(b.select(b.icmp_signed("<", count, _const(1)), _const(1), count), self.threads, "monotonic", 8)
        b.ret_void()

    def _get_threads(self, name: str) -> None:
        fn = ir.Function(self.module, ir.FunctionType(I64, []), name)
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        b.ret(b.load_atomic(self.threads, "monotonic", 8, typ=I64))


def default_num_threads() -> int:
    """``OMP_NUM_THREADS`` when it is a positive integer (as torch reads it), else the CPUs this process may use."""
    configured = os.environ.get("OMP_NUM_THREADS", "").strip()
    if configured.isdigit() and int(configured) > 0:
        return int(configured)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


_lock = threading.RLock()
_pool = None  # the CompiledModule, kept alive for the process: its machine code runs on the workers
_building = False
_set_threads_fn = None
_get_threads_fn = None


def _register_libc() -> None:
    """Give MCJIT the libc functions the pool calls (glibc >= 2.34 has pthread in libc itself)."""
    process = ctypes.CDLL(None)
    for name in _LIBC:
        llvm.add_symbol(name, ctypes.cast(getattr(process, name), ctypes.c_void_p).value)


def ensure_pool() -> None:
    """Compile the pool and register its entry points, once per process (thread-safe; idempotent)."""
    global _pool, _building, _set_threads_fn, _get_threads_fn
    if _pool is not None:
        return
    with _lock:
        if _pool is not None or _building:  # _building: compile_module's hook, called for our own module
            return
        _building = True
        try:
            from .engine import compile_generated, source_identity

            _register_libc()
            threaded = sys.platform.startswith("linux")
            module = compile_generated(f"ember thread pool, threaded={threaded}, {source_identity(__file__)}",
                                       lambda: _PoolModule(threaded=threaded).build())
            for name in (PARALLEL_FOR, _SET_THREADS, _GET_THREADS):
                llvm.add_symbol(name, module.address(name))
            _set_threads_fn = module.function(_SET_THREADS, None, ctypes.c_int64)
            _get_threads_fn = module.function(_GET_THREADS, ctypes.c_int64)
            _set_threads_fn(default_num_threads())
            # Workers run this code until the process ends, so it must outlive interpreter shutdown (which would
            # free the execution engine while a worker still spins in it): keep one reference forever.
            ctypes.pythonapi.Py_IncRef(ctypes.py_object(module))
            _pool = module
        finally:
            _building = False


def set_num_threads(count: int) -> None:
    """Use up to ``count`` threads (the caller included) in each parallel kernel; like ``torch.set_num_threads``.

    Raises:
        RuntimeError: ``count`` is not an int, or not positive (torch's messages).
    """
    if isinstance(count, bool) or not isinstance(count, int):
        raise RuntimeError(f"set_num_threads expects an int, but got {type(count).__name__}")
    if count < 1:
        raise RuntimeError("set_num_threads expects a positive integer")
    ensure_pool()
    _set_threads_fn(min(count, _MAX_WORKERS + 1))


def get_num_threads() -> int:
    """The number of threads parallel kernels use (default: :func:`default_num_threads`)."""
    ensure_pool()
    return int(_get_threads_fn())
