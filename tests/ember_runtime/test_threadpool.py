"""The worker pool (ember_runtime/cpu/threadpool.py): every task runs exactly once for any thread count and task
count, nested and concurrent calls run inline instead of waiting, workers are created lazily, a forked child gets
a working pool, and ``set_num_threads`` validates like torch. The risky ones run in a subprocess with a timeout,
so a hang fails the test instead of stalling the suite."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import llvmlite.ir as ir
import pytest

from ember_runtime.cpu import threadpool
from ember_runtime.cpu.engine import compile_module

ROOT = Path(__file__).resolve().parents[2]
I64 = ir.IntType(64)
PTR = ir.PointerType()


def _counting_module() -> ctypes._CFuncPtr:
    """``run(counts, n, nested)``: ``ember_parallel_for`` over ``n`` tasks, each adding 1 to ``counts[task]``
    atomically; with ``nested`` > 0 each task first runs a parallel loop of its own over ``nested`` tasks that
    add 1 to ``counts[n + task * nested + inner]``."""
    m = ir.Module("pool_test")
    parallel_for = ir.Function(m, ir.FunctionType(ir.VoidType(), [PTR, PTR, I64]), threadpool.PARALLEL_FOR)
    frame = ir.LiteralStructType([PTR, I64, I64, I64])  # counts, n, nested, outer task

    def field(b: ir.IRBuilder, ptr: ir.Value, k: int) -> ir.Value:
        return b.gep(ptr, [ir.Constant(ir.IntType(32), 0), ir.Constant(ir.IntType(32), k)], inbounds=True,
                     source_etype=frame)

    def pack(b: ir.IRBuilder, values) -> ir.Value:
        packed = ir.Constant(frame, ir.Undefined)
        for k, value in enumerate(values):
            packed = b.insert_value(packed, value, k)
        return packed

    def bump(b: ir.IRBuilder, counts: ir.Value, index: ir.Value) -> None:
        b.atomic_rmw("add", b.gep(counts, [index], inbounds=True, source_etype=I64), ir.Constant(I64, 1), "seq_cst")

    inner = ir.Function(m, ir.FunctionType(ir.VoidType(), [PTR, I64]), "inner_task")
    b = ir.IRBuilder(inner.append_basic_block())
    counts, n, nested, outer = (b.load(field(b, inner.args[0], k), typ=t) for k, t in enumerate((PTR, I64, I64, I64)))
    bump(b, counts, b.add(n, b.add(b.mul(outer, nested), inner.args[1])))
    b.ret_void()

    outer_task = ir.Function(m, ir.FunctionType(ir.VoidType(), [PTR, I64]), "outer_task")
    b = ir.IRBuilder(outer_task.append_basic_block())
    own = b.alloca(frame)
    counts, n, nested = (b.load(field(b, outer_task.args[0], k), typ=t) for k, t in enumerate((PTR, I64, I64)))
    b.store(pack(b, (counts, n, nested, outer_task.args[1])), own)
    b.call(parallel_for, [inner, own, nested])
    bump(b, counts, outer_task.args[1])
    b.ret_void()

    run = ir.Function(m, ir.FunctionType(ir.VoidType(), [PTR, I64, I64]), "run")
    b = ir.IRBuilder(run.append_basic_block())
    top = b.alloca(frame)
    b.store(pack(b, (*run.args, ir.Constant(I64, 0))), top)
    b.call(parallel_for, [outer_task, top, run.args[1]])
    b.ret_void()
    compiled = compile_module(str(m))
    function = compiled.function("run", None, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64)
    function.machine_code = compiled  # the engine owns the code: keep it alive with the function
    return function


@pytest.fixture(scope="module")
def run_tasks():
    before = threadpool.get_num_threads()
    yield _counting_module()
    threadpool.set_num_threads(before)


def _counts(run, n: int, nested: int = 0) -> list[int]:
    counts = (ctypes.c_int64 * max(1, n + n * nested))()
    run(ctypes.addressof(counts), n, nested)
    return list(counts)[:n + n * nested]


@pytest.mark.parametrize("threads", [1, 2, 3, 8])
def test_every_task_runs_exactly_once(run_tasks, threads):
    threadpool.set_num_threads(threads)
    assert threadpool.get_num_threads() == threads
    for n in (0, 1, 2, 3, 7, 1000):
        assert _counts(run_tasks, n) == [1] * n, n
    # A task that calls ember_parallel_for finds the pool busy and runs its inner tasks itself.
    assert _counts(run_tasks, 5, nested=9) == [1] * 50


def test_workers_are_created_lazily_up_to_the_thread_count():
    """In a fresh process: no worker before a parallel call; then threads - 1 of them (the caller is the other);
    shrinking creates none and still runs every task."""
    _run_script("""
        import os
        from ember_runtime.cpu import threadpool
        from tests.ember_runtime.test_threadpool import _counting_module, _counts

        def threads_now():
            return len(os.listdir("/proc/self/task"))

        run = _counting_module()
        threadpool.set_num_threads(3)
        base = threads_now()
        assert _counts(run, 64) == [1] * 64
        assert threads_now() == base + 2, (base, threads_now())
        threadpool.set_num_threads(2)
        assert _counts(run, 64) == [1] * 64
        assert threads_now() == base + 2
        threadpool.set_num_threads(5)
        assert _counts(run, 64) == [1] * 64
        assert threads_now() == base + 4
    """)


def test_set_num_threads_validates_like_torch():
    torch = pytest.importorskip("torch")
    for bad in (0, -3, 2.0, "2", True):
        with pytest.raises(RuntimeError) as ours:
            threadpool.set_num_threads(bad)
        with pytest.raises(RuntimeError) as theirs:
            torch.set_num_threads(bad)
        assert str(ours.value) == str(theirs.value)


def _run_script(script: str, env: dict | None = None, timeout: float = 120) -> str:
    """Run ``script`` in a fresh interpreter (repository root on the path); fails on a non-zero exit or a hang."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True,
                            env=environment, timeout=timeout, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_default_thread_count_follows_omp_num_threads_else_the_usable_cpus():
    script = "import ember; print(ember.get_num_threads())"
    assert _run_script(script, {"OMP_NUM_THREADS": "3"}).strip() == "3"
    environment = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT,
                            env={**environment, "PYTHONPATH": str(ROOT)})
    assert result.stdout.strip() == str(len(os.sched_getaffinity(0))), result.stderr[-2000:]


def test_concurrent_python_threads_and_fork_never_hang():
    """8 Python threads calling parallel code at once (a busy pool means inline), then a forked child (which has
    none of the parent's workers) running parallel code, all under a timeout."""
    _run_script("""
        import ctypes, os, threading
        from ember_runtime.cpu import threadpool
        from tests.ember_runtime.test_threadpool import _counting_module, _counts

        run = _counting_module()
        threadpool.set_num_threads(3)
        failures = []

        def hammer(k):
            for _ in range(300):
                n = 1 + (k * 37) % 200
                if _counts(run, n) != [1] * n:
                    failures.append(k)

        threads = [threading.Thread(target=hammer, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not failures, failures
        pid = os.fork()
        if pid == 0:
            ok = _counts(run, 500) == [1] * 500 and _counts(run, 4, nested=5) == [1] * 24
            os._exit(0 if ok else 3)
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
        assert _counts(run, 500) == [1] * 500
        print("done")
    """)
