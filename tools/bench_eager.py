"""Eager-mode benchmark against PyTorch, both measured in the same run and reported as ratios.

Two sections, each printed as a Markdown table:

* overhead: per-call time of ops on tiny tensors (10 float32 elements, a 4x4 matmul), where the cost
  is the Python-side dispatch rather than arithmetic;
* throughput: ops on 10^6-element float32 tensors (softmax over the last dim of 1000x1000, a 1024^2
  matmul), with the rate each library reaches in GB/s (bytes read + written) or GFLOP/s.

Times are the best of several timeit repeats, in microseconds per call. Both libraries run with the
same number of threads (``--threads``, default 1): PyTorch through ``torch.set_num_threads``, NumPy's
BLAS and OpenMP through their environment variables, set before NumPy is imported. An op ember does
not have yet, or one that fails, gets a row saying so instead of stopping the run.

Usage::

    python tools/bench_eager.py            # the full run (under a minute)
    python tools/bench_eager.py --quick    # fewer, shorter repeats (a few seconds)
"""

from __future__ import annotations

import argparse
import os
import sys
import timeit
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")


@dataclass
class Case:
    """One benchmarked op: ``run(lib, inputs)`` calls it through ``lib`` (the ember or torch module)."""

    name: str
    make: Callable[[Any], dict]  # numpy module -> named NumPy inputs, shared by both libraries
    run: Callable[[Any, dict], Any]
    work: float = 0.0  # bytes moved or flops done per call, for the throughput section
    unit: str = ""  # "GB/s" or "GFLOP/s"


def _tiny_inputs(np: Any) -> dict:
    rng = np.random.default_rng(0)
    return {
        "x": rng.standard_normal(10).astype(np.float32),
        "y": rng.standard_normal(10).astype(np.float32),
        "a": rng.standard_normal((4, 4)).astype(np.float32),
        "b": rng.standard_normal((4, 4)).astype(np.float32),
        "m": rng.standard_normal((2, 5)).astype(np.float32),
    }


def _big_inputs(np: Any) -> dict:
    rng = np.random.default_rng(0)
    return {
        "x": rng.standard_normal(10**6).astype(np.float32),
        "y": rng.standard_normal(10**6).astype(np.float32),
        "s": rng.standard_normal((1000, 1000)).astype(np.float32),
        "a": rng.standard_normal((1024, 1024)).astype(np.float32),
        "b": rng.standard_normal((1024, 1024)).astype(np.float32),
    }


MB4 = 4.0 * 10**6  # bytes in 10^6 float32 values

OVERHEAD_CASES = [
    Case("add", _tiny_inputs, lambda L, t: L.add(t["x"], t["y"])),
    Case("mul", _tiny_inputs, lambda L, t: L.mul(t["x"], t["y"])),
    Case("relu", _tiny_inputs, lambda L, t: L.relu(t["x"])),
    Case("exp", _tiny_inputs, lambda L, t: L.exp(t["x"])),
    Case("sum", _tiny_inputs, lambda L, t: L.sum(t["x"])),
    Case("matmul 4x4", _tiny_inputs, lambda L, t: L.matmul(t["a"], t["b"])),
    Case("view", _tiny_inputs, lambda L, t: t["x"].view(2, 5)),
    Case("transpose (.t())", _tiny_inputs, lambda L, t: t["m"].t()),
    Case("index x[0]", _tiny_inputs, lambda L, t: t["x"][0]),
    Case("cat", _tiny_inputs, lambda L, t: L.cat([t["x"], t["y"]])),
]

THROUGHPUT_CASES = [
    Case("add 1e6", _big_inputs, lambda L, t: L.add(t["x"], t["y"]), 3 * MB4, "GB/s"),
    Case("mul 1e6", _big_inputs, lambda L, t: L.mul(t["x"], t["y"]), 3 * MB4, "GB/s"),
    Case("exp 1e6", _big_inputs, lambda L, t: L.exp(t["x"]), 2 * MB4, "GB/s"),
    Case("sum 1e6", _big_inputs, lambda L, t: L.sum(t["x"]), MB4, "GB/s"),
    Case("softmax 1000x1000 dim=-1", _big_inputs, lambda L, t: L.softmax(t["s"], dim=-1), 2 * MB4, "GB/s"),
    Case("matmul 1024^2", _big_inputs, lambda L, t: L.matmul(t["a"], t["b"]), 2.0 * 1024**3, "GFLOP/s"),
]


def best_time(fn: Callable[[], Any], min_time: float, repeats: int) -> float:
    """Best per-call seconds over ``repeats`` timeit runs of about ``min_time`` each."""
    timer = timeit.Timer(fn)
    number = 1
    while (elapsed := timer.timeit(number)) < min_time / 10:
        number *= 10
    number = max(1, round(number * min_time / elapsed))
    return min(timer.repeat(repeat=repeats, number=number)) / number


def _to_numpy(np: Any, value: Any) -> Any:
    if hasattr(value, "detach"):
        value = value.detach()
    return np.asarray(value.numpy() if hasattr(value, "numpy") else value, dtype=np.float64)


def measure(case: Case, libs: dict, np: Any, min_time: float, repeats: int) -> dict:
    """Time ``case`` in each library; a library whose op is missing or fails gets its error instead."""
    arrays = case.make(np)
    result: dict = {}
    outputs = {}
    for name, (lib, wrap) in libs.items():
        inputs = {k: wrap(v.copy()) for k, v in arrays.items()}
        try:
            outputs[name] = case.run(lib, inputs)
        except Exception as exc:  # noqa: BLE001 - a missing or broken op becomes a table row, not a crash
            result[name] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:80] if str(exc) else ''}"
            continue
        result[name] = best_time(lambda lib=lib, inputs=inputs: case.run(lib, inputs), min_time, repeats)
    if len(outputs) == 2:
        ours, ref = (_to_numpy(np, outputs[k]) for k in ("ember", "torch"))
        result["agree"] = ours.shape == ref.shape and bool(np.allclose(ours, ref, rtol=1e-3, atol=1e-3))
    return result


def _cell(value: Any) -> str:
    return f"{value * 1e6:.2f}" if isinstance(value, float) else "n/a"


def timing_cells(name: str, timing: dict) -> list[str]:
    """The row's first cells: case name, both libraries' times in microseconds, and their ratio."""
    ours, ref = timing["ember"], timing["torch"]
    both = isinstance(ours, float) and isinstance(ref, float)
    return [name, _cell(ours), _cell(ref), f"{ours / ref:.2f}" if both else "n/a"]


def notes_cell(timing: dict) -> str:
    """The row's last cell: a library's error instead of a time, and whether the results agree."""
    notes = [f"{lib}: {timing[lib]}" for lib in ("ember", "torch") if not isinstance(timing[lib], float)]
    if timing.get("agree") is False:
        notes.append("results differ from torch")
    elif timing.get("agree"):
        notes.append("results match torch")
    return "; ".join(notes).replace("|", "/")


def _row(case: Case, timing: dict, throughput: bool) -> str:
    cells = timing_cells(case.name, timing)
    if throughput:
        for t in (timing["ember"], timing["torch"]):
            cells.append(f"{case.work / t / 1e9:.2f} {case.unit}" if isinstance(t, float) else "n/a")
    cells.append(notes_cell(timing))
    return "| " + " | ".join(cells) + " |"


def print_table(title: str, cases: list[Case], libs: dict, np: Any, min_time: float, repeats: int,
                throughput: bool) -> None:
    """Measure ``cases`` and print their Markdown table, one row as each finishes."""
    header = ["op", "ember us", "torch us", "ratio (ember/torch)"]
    if throughput:
        header += ["ember rate", "torch rate"]
    header.append("notes")
    print(f"### {title}\n\n| " + " | ".join(header) + " |\n|" + "---|" * len(header), flush=True)
    for case in cases:
        print(_row(case, measure(case, libs, np, min_time, repeats), throughput), flush=True)
    print()


def start(argv: list[str] | None, doc: str, title: str, unit: str) -> tuple:
    """Parse the common options, pin both libraries to the same threads, import them and print the run's header.

    Returns (args, numpy, torch, ember, repeats).
    """
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer and shorter repeats (a few seconds in all)")
    parser.add_argument("--threads", type=int, default=1, help="threads for both libraries (default 1)")
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error("--threads must be at least 1")

    # Before NumPy (and so ember and torch) is imported: BLAS reads these once, at load time.
    for var in THREAD_VARIABLES:
        os.environ[var] = str(args.threads)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import numpy as np
    import torch

    import ember

    torch.set_num_threads(args.threads)
    repeats = 3 if args.quick else 7
    print(f"## {title} ({'quick' if args.quick else 'full'} run)\n")
    print(f"threads: {args.threads} for both (torch.set_num_threads({args.threads}); NumPy/ember via "
          f"{', '.join(THREAD_VARIABLES)}={args.threads}); CPU cores available: {os.cpu_count()}; "
          f"torch {torch.__version__}, numpy {np.__version__}, ember {ember.__version__}. "
          f"Times: best of {repeats} repeats, microseconds per {unit}; ratio > 1 means ember is slower.\n")
    return args, np, torch, ember, repeats


def main(argv: list[str] | None = None) -> int:
    args, np, torch, ember, repeats = start(argv, __doc__, "ember eager benchmark", "call")
    libs = {"ember": (ember, ember.from_numpy), "torch": (torch, torch.from_numpy)}
    tiny_time, big_time = (0.02, 0.05) if args.quick else (0.1, 0.25)
    print_table("Per-op overhead, tiny tensors (10 float32 elements; matmul 4x4)", OVERHEAD_CASES, libs, np,
                tiny_time, repeats, throughput=False)
    print_table("Throughput, 10^6-element float32 tensors", THROUGHPUT_CASES, libs, np, big_time, repeats,
                throughput=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
