"""Trace + optimise time of ``ember.jit.trace`` on the models of issue 5 (its aim: the CNN under 50 ms).

The models are tests/jit/models.py's, traced at batch 8 (sequence models at length 12, with the batch and length
dynamic):

* MLP: ``Flatten-Linear(784, 256)-ReLU-Linear(256, 10)`` on 784 features;
* CNN: ``Conv2d(3, 16)-ReLU-MaxPool-Conv2d(16, 32)-ReLU-MaxPool-Linear(2048, 128)-ReLU-Linear(128, 10)`` on
  3x32x32 images;
* residual: a stem convolution and a residual block with BatchNorm (eval), adaptive average pooling, a classifier;
* attention: Embedding, LayerNorm, q/k/v from one Linear split with chunk, 4 heads, softmax attention, a GELU MLP,
  residuals and the mean over tokens;
* transformer layer: ``nn.TransformerEncoderLayer(32, 4, 64, batch_first=True)`` in eval mode.

Per model: the time to trace (the eager forward on the example, recorded), to run the passes, and both together
(the best of the repeats, each timed as one trace followed by one optimisation), with the number of graph nodes
before and after the passes. Each optimised graph is then run at another batch (and length) and compared with
eager execution.

Usage::

    python tools/bench_trace.py            # 20 repeats (a few seconds)
    python tools/bench_trace.py --quick    # 3 repeats
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_eager import THREAD_VARIABLES  # noqa: E402 - tools/ is not a package

TRACED, CHECKED = (8, 12), (3, 7)


def measure(ember, case, repeats: int) -> dict:
    """Best trace, optimise and total seconds over ``repeats``, node counts, and the check against eager mode."""
    ember.manual_seed(0)
    model = case.build(ember).eval()
    example = case.make(ember, *TRACED)
    best = {"trace": float("inf"), "optimize": float("inf"), "total": float("inf")}
    for _ in range(repeats):
        start = time.perf_counter()
        traced = ember.jit.trace(model, example, dynamic_dims=case.dynamic_dims, optimize=False)
        traced_at = time.perf_counter()
        nodes_before = len(traced.graph.nodes)
        graph, _ = ember.jit.passes.optimize(traced.graph, traced.params)
        done = time.perf_counter()
        for key, seconds in (("trace", traced_at - start), ("optimize", done - traced_at), ("total", done - start)):
            best[key] = min(best[key], seconds)
    optimised = ember.jit.trace(model, example, dynamic_dims=case.dynamic_dims)
    x = case.make(ember, *CHECKED)
    with ember.no_grad():
        difference = (optimised(x) - model(x)).abs().max().item()
    return {**best, "before": nodes_before, "after": len(graph.nodes), "difference": difference}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 repeats instead of 20")
    args = parser.parse_args(argv)
    # One thread, as the other benchmarks: the eager forward inside the trace then times the same on any machine.
    for var in THREAD_VARIABLES:
        os.environ[var] = "1"
    root = Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(root))
    import ember
    from tests.jit.models import MODELS

    repeats = 3 if args.quick else 20
    print(f"## ember.jit.trace: trace + optimise ({'quick' if args.quick else 'full'} run)\n")
    print(f"Best of {repeats} repeats, milliseconds; batch {TRACED[0]} (sequence models: length {TRACED[1]}, batch "
          f"and length dynamic); checked at batch {CHECKED[0]} (length {CHECKED[1]}). ember {ember.__version__}, "
          "one thread.\n")
    print("| model | trace ms | optimise ms | trace + optimise ms | nodes traced | nodes optimised | check |")
    print("|---|---:|---:|---:|---:|---:|---|")
    failed = False
    for case in MODELS:
        result = measure(ember, case, repeats)
        agrees = result["difference"] <= 1e-4
        failed |= not agrees
        check = f"{'matches' if agrees else 'DIFFERS from'} eager (max abs diff {result['difference']:.1e})"
        print(f"| {case.name} | {result['trace'] * 1e3:.2f} | {result['optimize'] * 1e3:.2f} | "
              f"{result['total'] * 1e3:.2f} | {result['before']} | {result['after']} | {check} |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
