"""Inference latency of ember's compiled graphs against the interpreter, PyTorch, TorchScript and ONNX Runtime.

Issue 6's benchmark, one run, every runtime side by side on the same models and weights. The models are
tests/jit/models.py's (the builders tools/bench_trace.py times), built once with PyTorch (BatchNorm given
non-trivial statistics) and copied into ember with ``load_state_dict``:

* mlp: ``Flatten-Linear(784, 256)-ReLU-Linear(256, 10)`` on 784 features;
* cnn: ``Conv2d(3, 16)-ReLU-MaxPool-Conv2d(16, 32)-ReLU-MaxPool-Linear(2048, 128)-ReLU-Linear(128, 10)`` on
  3x32x32 images;
* residual: a stem convolution and a residual block with BatchNorm (eval), adaptive average pooling, a classifier,
  on 3x16x16 images;
* attention: Embedding, LayerNorm, q/k/v from one Linear, 4 heads, softmax attention, a GELU MLP, residuals and
  the mean over tokens, on 12 tokens.

Runtimes: ember compiled (``ember.jit.trace(..., backend="llvm")``: a model with an op the compiler lacks runs
with the interpreter, and its rows say so), the ember interpreter (``ember.jit.trace``), PyTorch eager (under
``no_grad``), TorchScript (``torch.jit.trace`` + ``torch.jit.freeze``) and ONNX Runtime's CPU provider (the model
exported by ``torch.onnx.export`` with a dynamic batch axis). ember and TorchScript trace at batch 8 and are
called at the benchmarked batches. Every row is checked against PyTorch eager (max abs diff in the notes).

Then the compile time per model (lowering to LLVM IR + optimising + machine code; cold: an empty object cache,
``EMBER_CACHE_DIR`` a fresh directory; warm: the same graph again with that cache) and the GFLOP/s of ember's
sgemm kernel against ``torch.matmul`` (tools/bench_gemm.py's measurement).

Every runtime uses ``--threads`` threads (default one): torch through ``torch.set_num_threads``, ONNX Runtime
through ``intra_op_num_threads`` (and ``inter_op_num_threads=1``), ember's compiled code through
``ember.set_num_threads`` (its worker pool; results are identical for any count).

Usage::

    python tools/bench_jit.py            # the full run (about two minutes)
    python tools/bench_jit.py --quick    # batches 1 and 8, short repeats, small GEMMs (under a minute)
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_eager import best_time, notes_cell, start, timing_cells  # noqa: E402 - tools/ is not a package

TRACE_BATCH, LENGTH = 8, 12
MODEL_NAMES = ("mlp", "cnn", "residual", "attention")
COMPILED, INTERPRETER, EAGER, SCRIPT, ORT = ("ember compiled", "ember interpreter", "torch eager", "TorchScript",
                                             "ONNX Runtime")
RUNTIMES = (COMPILED, INTERPRETER, EAGER, SCRIPT, ORT)
TOLERANCE = 1e-4  # rtol and atol against PyTorch eager: float32 sums in another order


def _fallback_op(caught: list) -> str:
    """The op named by the warning ``ember.jit.trace(..., backend="llvm")`` gives when it falls back."""
    for warning in caught:
        found = re.search(r"'([^']+)'", str(warning.message))
        if "interpreter" in str(warning.message) and found:
            return found.group(1)
    return "unknown op"


def _error(exc: Exception) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0][:100] if str(exc) else ''}"


class Runtimes:
    """One model in every runtime: ``runners[name]`` is (numpy input -> runtime input, runtime call) or an error."""

    def __init__(self, case: Any, np: Any, torch: Any, ember: Any, ort: Any, threads: int, workdir: str):
        self.case, self.np, self.torch, self.ember = case, np, torch, ember
        from tests.jit.models import randomise_batchnorm

        torch.manual_seed(0)
        reference = case.build(torch)
        randomise_batchnorm(reference, torch)
        self.reference = reference.eval()
        mine = case.build(ember)
        weights = {k: ember.from_numpy(v.detach().numpy().copy()) for k, v in reference.state_dict().items()}
        mine.load_state_dict(weights, strict=True)
        self.mine = mine.eval()
        example = self.inputs(TRACE_BATCH)
        self.notes: dict[str, str] = {}
        self.runners: dict[str, Any] = {}
        builders = {COMPILED: self._compiled, INTERPRETER: self._interpreter, EAGER: self._eager,
                    SCRIPT: self._torchscript, ORT: lambda x: self._onnx(x, ort, threads, workdir)}
        for name, build in builders.items():
            try:
                self.runners[name] = build(example)
            except Exception as exc:  # noqa: BLE001 - a runtime that cannot run the model becomes a row saying why
                self.runners[name] = _error(exc)

    def inputs(self, batch: int) -> Any:
        """The model's input at ``batch`` as a NumPy array (random, fixed per batch)."""
        return self.case.make(self.torch, batch, LENGTH).numpy()

    def _ember_trace(self, example: Any, **kwargs: Any) -> Any:
        return self.ember.jit.trace(self.mine, self.ember.from_numpy(example.copy()),
                                    dynamic_dims=self.case.dynamic_dims, **kwargs)

    def _compiled(self, example: Any) -> tuple:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            traced = self._ember_trace(example, backend="llvm")
        if traced.backend != "llvm":
            self.notes[COMPILED] = f"interpreter fallback: {_fallback_op(caught)}"
        return self.ember.from_numpy, traced

    def _interpreter(self, example: Any) -> tuple:
        # the interpreter explicitly: ember.jit.trace compiles by default
        self.traced = self._ember_trace(example, backend="interpreter")
        return self.ember.from_numpy, self.traced

    def _eager(self, example: Any) -> tuple:
        torch, model = self.torch, self.reference

        def run(x: Any) -> Any:
            with torch.no_grad():
                return model(x)

        return torch.from_numpy, run

    def _torchscript(self, example: Any) -> tuple:
        torch = self.torch
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TracerWarnings about sizes read in Python: the batch stays dynamic
            scripted = torch.jit.freeze(torch.jit.trace(self.reference, torch.from_numpy(example.copy())).eval())

        def run(x: Any) -> Any:
            with torch.no_grad():
                return scripted(x)

        return torch.from_numpy, run

    def _onnx(self, example: Any, ort: Any, threads: int, workdir: str) -> tuple:
        path = os.path.join(workdir, f"{self.case.name}.onnx")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript-based exporter is deprecated (onnxscript is absent)
            self.torch.onnx.export(self.reference, (self.torch.from_numpy(example.copy()),), path, dynamo=False,
                                   input_names=["x"], output_names=["y"],
                                   dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        return (lambda x: x), lambda x: session.run(None, {"x": x})[0]

    def output(self, value: Any) -> Any:
        if hasattr(value, "detach"):
            value = value.detach().numpy()
        return self.np.asarray(value, dtype=self.np.float64)

    def measure(self, batch: int, min_time: float, repeats: int) -> dict:
        """Per runtime: seconds per call (or its error), max abs diff from PyTorch eager and whether it agrees."""
        np = self.np
        array = self.inputs(batch)
        results: dict = {}
        expected = None
        for name in (EAGER, *(r for r in RUNTIMES if r != EAGER)):
            runner = self.runners[name]
            if isinstance(runner, str):
                results[name] = {"time": runner}
                continue
            convert, call = runner
            x = convert(array.copy())
            try:
                got = self.output(call(x))
                seconds = best_time(lambda call=call, x=x: call(x), min_time, repeats)
            except Exception as exc:  # noqa: BLE001 - a failing call becomes a row saying why
                results[name] = {"time": _error(exc)}
                continue
            if expected is None:  # PyTorch eager, measured first: the reference
                expected = got
                results[name] = {"time": seconds}
                continue
            diff = float(np.max(np.abs(got - expected))) if got.shape == expected.shape else float("inf")
            agree = got.shape == expected.shape and bool(np.allclose(got, expected, rtol=TOLERANCE, atol=TOLERANCE))
            results[name] = {"time": seconds, "diff": diff, "agree": agree}
        return results

    def compile_times(self, repeats: int) -> tuple[float, float]:
        """Best cold and warm seconds of ``compile_graph`` on the traced graph (each cold with an empty cache)."""
        from ember.jit.llvm.compiled import compile_graph

        graph, params = self.traced.graph, self.traced.params
        saved = os.environ.get("EMBER_CACHE_DIR")
        cold = warm = float("inf")
        try:
            for _ in range(repeats):
                with tempfile.TemporaryDirectory() as cache:
                    os.environ["EMBER_CACHE_DIR"] = cache
                    for kind in ("cold", "warm"):
                        begin = time.perf_counter()
                        compile_graph(graph, params)
                        elapsed = time.perf_counter() - begin
                        if kind == "cold":
                            cold = min(cold, elapsed)
                        else:
                            warm = min(warm, elapsed)
        finally:
            if saved is None:
                os.environ.pop("EMBER_CACHE_DIR", None)
            else:
                os.environ["EMBER_CACHE_DIR"] = saved
        return cold, warm


def _us(seconds: Any) -> str:
    return f"{seconds * 1e6:.1f}" if isinstance(seconds, float) else "n/a"


def latency_table(runtimes: Runtimes, batches: tuple, min_time: float, repeats: int) -> bool:
    """Print the model's latency table; True when every runtime that ran agrees with PyTorch."""
    header = ["runtime", "batch", "us per call", "torch eager us", "ratio (/ torch eager)", "ratio (/ ONNX Runtime)",
              "notes"]
    print(f"### {runtimes.case.name}\n\n| " + " | ".join(header) + " |\n|" + "---|" * len(header), flush=True)
    agreed = True
    for batch in batches:
        results = runtimes.measure(batch, min_time, repeats)
        ort_time = results[ORT]["time"]
        for name in RUNTIMES:
            result = results[name]
            timing = {"ember": result["time"], "torch": results[EAGER]["time"]}
            if "agree" in result:
                timing["agree"] = result["agree"]
                agreed &= result["agree"]
            cells = timing_cells(name, timing)
            cells[1:3] = [str(batch), _us(result["time"]), _us(results[EAGER]["time"])]
            both = isinstance(result["time"], float) and isinstance(ort_time, float)
            cells.append(f"{result['time'] / ort_time:.2f}" if both else "n/a")
            notes = [notes_cell(timing).replace("ember: ", f"{name}: ")]
            if "diff" in result:
                notes.append(f"max abs diff {result['diff']:.1e}")
            if name == EAGER:
                notes.append("the reference of the checks")
            if name in runtimes.notes:
                notes.append(runtimes.notes[name])
            cells.append("; ".join(n for n in notes if n))
            print("| " + " | ".join(cells) + " |", flush=True)
    print()
    return agreed


def compile_table(all_runtimes: list[Runtimes], repeats: int) -> None:
    print("### Compile time (ember.jit.llvm.compile_graph on the optimised graph)\n")
    print("| model | graph nodes | cold ms (empty cache) | warm ms (object cache) | notes |\n|---|---:|---:|---:|---|")
    for runtimes in all_runtimes:
        traced = getattr(runtimes, "traced", None)
        if traced is None:
            print(f"| {runtimes.case.name} | n/a | n/a | n/a | {runtimes.runners[INTERPRETER]} |")
            continue
        try:
            cold, warm = runtimes.compile_times(repeats)
        except NotImplementedError as exc:
            print(f"| {runtimes.case.name} | {len(traced.graph.nodes)} | n/a | n/a | no lowering: {exc} |")
            continue
        print(f"| {runtimes.case.name} | {len(traced.graph.nodes)} | {cold * 1e3:.1f} | {warm * 1e3:.1f} | "
              f"{runtimes.notes.get(COMPILED, '')} |", flush=True)
    print()


def gemm_table(np: Any, torch: Any, sizes: tuple, budget: float) -> None:
    """ember's sgemm kernel against torch.matmul, measured as tools/bench_gemm.py does (its function)."""
    from bench_gemm import _best_seconds

    from ember.jit.llvm.gemm_call import compile_sgemm

    gemm = compile_sgemm()
    rng = np.random.default_rng(0)
    print(f"### sgemm, square float32, {torch.get_num_threads()} thread(s) ({gemm.config.vector_bits}-bit vectors, "
          f"tile {gemm.config.mr}x{gemm.config.nr})\n")
    print("| size | ember GFLOP/s | torch GFLOP/s | ember / torch | check |\n|---:|---:|---:|---:|---|")
    for size in sizes:
        a, b = (rng.standard_normal((size, size), dtype=np.float32) for _ in range(2))
        out = np.empty((size, size), np.float32)
        ta, tb, tout = torch.from_numpy(a), torch.from_numpy(b), torch.empty(size, size)
        run, _ = gemm.bind(a, b, out=out)
        ember_s, torch_s = _best_seconds(run, lambda ta=ta, tb=tb, tout=tout: torch.matmul(ta, tb, out=tout), budget)
        close = np.allclose(out, tout.numpy(), rtol=1e-4, atol=1e-4 * np.sqrt(size))
        flops = 2.0 * size**3
        print(f"| {size} | {flops / ember_s / 1e9:.1f} | {flops / torch_s / 1e9:.1f} | {torch_s / ember_s:.2f} | "
              f"{'matches torch' if close else 'differs from torch'} |", flush=True)
    print()


def main(argv: list[str] | None = None) -> int:
    args, np, torch, ember, repeats = start(argv, __doc__, "ember.jit compiled inference benchmark", "call")
    import onnxruntime as ort

    from ember_runtime.cpu import host_target
    from tests.jit.models import MODELS

    batches, min_time = ((1, 8), 0.01) if args.quick else ((1, 64), 0.2)
    ember.set_num_threads(args.threads)
    target = host_target()
    print(f"ONNX Runtime {ort.__version__}: CPUExecutionProvider, intra_op_num_threads={args.threads}, "
          f"inter_op_num_threads=1. TorchScript: torch.jit.trace + torch.jit.freeze on torch's threads. ember "
          f"compiled code: {ember.get_num_threads()} thread(s), {target.cpu} ({target.vector_bits}-bit vectors), LLVM "
          f"{target.llvm_version}. "
          f"ember and TorchScript trace at batch {TRACE_BATCH}; sequences have {LENGTH} tokens. Every row is "
          f"checked against PyTorch eager (rtol = atol = {TOLERANCE:g}).\n")
    cases = {case.name: case for case in MODELS}
    agreed = True
    all_runtimes = []
    with tempfile.TemporaryDirectory() as workdir:
        for name in MODEL_NAMES:
            runtimes = Runtimes(cases[name], np, torch, ember, ort, args.threads, workdir)
            all_runtimes.append(runtimes)
            agreed &= latency_table(runtimes, batches, min_time, repeats)
    compile_table(all_runtimes, 1 if args.quick else 3)
    if args.quick:
        gemm_table(np, torch, (64, 96), 0.02)
    else:
        gemm_table(np, torch, (256, 512, 1024, 2048), 2.0)
    return 0 if agreed else 1


if __name__ == "__main__":
    sys.exit(main())
