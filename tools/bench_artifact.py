"""The artifact benchmark: what loading a saved ``.ember`` costs, and what the file weighs.

For each of the five JIT models of tests/jit/models.py (mlp, cnn, residual, attention, transformer_layer; traced
at batch 8, sequences of 12 tokens, with their dynamic dims) the model is saved with ``TracedModule.save``, then
loaded by ``ember_runtime`` in fresh processes where ``import ember`` fails, as a deployment would:

* load cold: ``ember_runtime.load`` with an empty object cache (``EMBER_CACHE_DIR`` a new directory): read and
  verify the file, verify the IR, optimise and compile it to machine code;
* load warm: the same in a new process with that cache filled (the machine code comes from the cache); the
  median of three processes (the aim is <= 50 ms for the CNN). It includes what the first load in a process
  pays once (initialising LLVM, and the runtime's kernel library for a graph that calls it), so the table also
  gives "load again": a second load of the file in the same process;
* first call: the first call at batch 1 (binding the shapes, preparing packed weights), then the median of 50
  calls at batch 1;
* file size against the raw weights (every parameter and buffer of the model, in bytes), and the import time of
  ``ember_runtime`` (numpy and llvmlite), which a fresh process pays once before any load.

Usage: ``python tools/bench_artifact.py [--models cnn,mlp]`` (about half a minute); prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TRACE_BATCH, LENGTH, WARM_RUNS = 8, 12, 3

# Runs in the fresh process: times the import, the load and the first calls, prints one JSON line.
MEASURE = """
import json, sys, time
sys.modules["ember"] = None  # a deployment has no framework
start = time.perf_counter()
import numpy as np
import ember_runtime
from ember_runtime.cli import bench_inputs
imported = time.perf_counter() - start
start = time.perf_counter()
model = ember_runtime.load(sys.argv[1])
loaded = time.perf_counter() - start
inputs = bench_inputs(model, 1, {"T": int(sys.argv[2])}, np.random.default_rng(0))
start = time.perf_counter()
model.run(inputs)
first = time.perf_counter() - start
times = []
for _ in range(50):
    start = time.perf_counter()
    model.run(inputs)
    times.append(time.perf_counter() - start)
start = time.perf_counter()
ember_runtime.load(sys.argv[1])
again = time.perf_counter() - start
print(json.dumps({"import_ms": imported * 1e3, "load_ms": loaded * 1e3, "again_ms": again * 1e3,
                  "first_ms": first * 1e3, "call_ms": sorted(times)[len(times) // 2] * 1e3,
                  "from_cache": model.from_cache}))
"""


def measure(artifact: Path, cache: Path) -> dict:
    """One fresh process loading ``artifact`` with the object cache in ``cache``."""
    env = {**os.environ, "EMBER_CACHE_DIR": str(cache), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", MEASURE, str(artifact), str(LENGTH)], capture_output=True,
                          text=True, env=env, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"measuring {artifact.name} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def save_model(case, ember, directory: Path) -> tuple[Path, int]:
    """``case``'s model (seeded, BatchNorm statistics randomised, eval mode) traced and saved: the artifact and the
    raw weight bytes."""
    from tests.jit.models import randomise_batchnorm

    ember.manual_seed(0)
    model = case.build(ember)
    randomise_batchnorm(model, ember)
    model.eval()
    raw = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    traced = ember.jit.trace(model, case.make(ember, TRACE_BATCH, LENGTH), dynamic_dims=case.dynamic_dims)
    path = directory / f"{case.name}.ember"
    traced.save(path)
    return path, raw


def _kib(nbytes: int) -> str:
    return f"{nbytes / 1024:.1f} KiB"


def main(argv: list[str] | None = None) -> None:
    import ember
    from tests.jit.models import MODELS

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=",".join(c.name for c in MODELS), help="comma-separated model names")
    args = parser.parse_args(argv)
    wanted = args.models.split(",")
    rows, imports = [], []
    with tempfile.TemporaryDirectory(prefix="ember-bench-artifact-") as tmp:
        directory = Path(tmp)
        for case in [c for c in MODELS if c.name in wanted]:
            path, raw = save_model(case, ember, directory)
            cache = directory / f"cache-{case.name}"
            cache.mkdir()
            cold = measure(path, cache)
            warm = [measure(path, cache) for _ in range(WARM_RUNS)]
            if cold["from_cache"] or not all(w["from_cache"] for w in warm):
                raise RuntimeError(f"{case.name}: the object cache did not behave (cold from cache: "
                                   f"{cold['from_cache']}, warm: {[w['from_cache'] for w in warm]})")
            imports += [cold["import_ms"], *(w["import_ms"] for w in warm)]
            size = path.stat().st_size
            rows.append([case.name, _kib(size), _kib(raw), f"{size / raw:.3f}",
                         f"{cold['load_ms']:.0f}", f"{statistics.median(w['load_ms'] for w in warm):.1f}",
                         f"{statistics.median(w['again_ms'] for w in warm):.1f}",
                         f"{statistics.median(w['first_ms'] for w in warm):.2f}",
                         f"{statistics.median(w['call_ms'] for w in warm):.3f}"])
    header = ["model", "file", "raw weights", "file / raw", "load cold (ms)", "load warm (ms)",
              "load again (ms)", "first call (ms)", "call, batch 1 (ms)"]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"\nimport ember_runtime (numpy + llvmlite) in a fresh process: {statistics.median(imports):.0f} ms "
          f"(median of {len(imports)}), paid once before the first load. Warm: the median of {WARM_RUNS} fresh "
          "processes with the object cache filled; again: a second load in the same process.")


if __name__ == "__main__":
    main()
