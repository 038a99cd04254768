"""Single-threaded fp32 GEMM throughput: ember's LLVM kernel against ``torch.matmul`` (issue 6).

Prints a Markdown table of GFLOP/s at square sizes 256, 512, 1024 and 2048, with ember / torch. Both run on
one thread (``torch.set_num_threads(1)``; ember's kernel is single-threaded until the worker pool lands), on
the same float32 inputs, best of repeats timed alternately; each row also checks ember's result against torch's.

Usage: ``python tools/bench_gemm.py [--quick] [--trans-b] [--vector-bits 256|512]``
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

for _variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_variable] = "1"  # before torch loads its BLAS: the comparison is one thread against one
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tools/ runs without installing ember

import numpy as np  # noqa: E402
import torch  # noqa: E402

from ember.jit.llvm.gemm_call import compile_sgemm  # noqa: E402


def _best_seconds(first, second, budget: float) -> tuple[float, float]:
    """Best time of each of two calls, timed alternately (this VM's clock speed drifts: interleaving keeps
    the ratio fair)."""
    first(), second()  # warm-up: page faults, caches
    best = [float("inf"), float("inf")]
    spent = 0.0
    while spent < budget or float("inf") in best:
        for i, fn in enumerate((first, second)):
            start = time.perf_counter()
            fn()
            elapsed = time.perf_counter() - start
            best[i], spent = min(best[i], elapsed), spent + elapsed
    return best[0], best[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, short timing (a smoke test)")
    parser.add_argument("--trans-b", action="store_true", help="B stored [N, K] (the Linear weight layout)")
    parser.add_argument("--vector-bits", type=int, default=None, help="256 (AVX2) or 512 (AVX-512)")
    args = parser.parse_args()
    sizes, budget = ((64, 96), 0.02) if args.quick else ((256, 512, 1024, 2048), 2.0)
    torch.set_num_threads(1)
    gemm = compile_sgemm(trans_b=args.trans_b, vector_bits=args.vector_bits)
    rng = np.random.default_rng(0)
    print(f"sgemm, 1 thread, {gemm.config.vector_bits}-bit vectors, tile {gemm.config.mr}x{gemm.config.nr}, "
          f"trans_b={args.trans_b}")
    print()
    print("| size | ember GFLOP/s | torch GFLOP/s | ember / torch | check |")
    print("|---|---|---|---|---|")
    for size in sizes:
        a = rng.standard_normal((size, size), dtype=np.float32)
        b = rng.standard_normal((size, size), dtype=np.float32)
        out = np.empty((size, size), np.float32)
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        tb_op = tb.t() if args.trans_b else tb
        tout = torch.empty(size, size)
        run, _ = gemm.bind(a, b, out=out)  # the checks and ctypes marshalling once, as a compiled graph does
        ember_s, torch_s = _best_seconds(run, lambda: torch.matmul(ta, tb_op, out=tout), budget)  # noqa: B023
        close = np.allclose(out, tout.numpy(), rtol=1e-4, atol=1e-4 * np.sqrt(size))
        flops = 2.0 * size**3
        print(f"| {size} | {flops / ember_s / 1e9:.1f} | {flops / torch_s / 1e9:.1f} | {torch_s / ember_s:.2f}x | "
              f"{'matches torch' if close else 'differs from torch'} |")


if __name__ == "__main__":
    main()
