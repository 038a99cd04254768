"""Autograd benchmark against PyTorch, both measured in the same run and reported as ratios.

Two sections, each printed as a Markdown table (times in microseconds; ratio > 1 means ember is slower):

* tiny graph: ``y = (x * 2 + 1).tanh().sum()`` on 10 float32 elements that require grad, where the cost is
  the Python-side graph recording and the engine's bookkeeping: the forward without grad (the baseline),
  the forward recording the graph, forward + backward, and the backward alone (graphs built untimed);
* MLP training step: batch 64, 784 -> 256 -> 10 with ReLU, ``log_softmax`` and the NLL loss written as
  ``-log_probs.gather(1, target).mean()``, then an Adam update written inline with tensor ops under
  ``no_grad`` (the same code for both libraries, so both do identical work): forward + backward, the Adam
  update alone, and the whole step.

Both libraries run single-threaded by default (``--threads``): PyTorch through ``torch.set_num_threads``,
NumPy's BLAS and OpenMP through their environment variables, set before NumPy is imported. A case that
fails in one library (an op without a backward formula, say) gets a row saying so instead of stopping the
run. Each case's results (gradients, loss, updated weights) are also compared with torch's.

Usage::

    python tools/bench_autograd.py            # the full run (about a minute)
    python tools/bench_autograd.py --quick    # fewer, shorter repeats (several seconds)
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_eager import best_time, notes_cell, start, timing_cells  # noqa: E402 - tools/ is not a package


@dataclass
class Lib:
    """One library under test: its module and how it makes a tensor from a NumPy array."""

    name: str
    module: Any
    wrap: Callable[[Any], Any]


@dataclass
class Case:
    """One benchmarked case. ``setup(lib, np)`` makes its state; ``run(lib, state)`` is what is timed. With
    ``prepare``, only ``run(lib, state, prepared)`` is timed and ``prepare(lib, state)`` runs untimed before each
    call (the backward alone needs a fresh graph each time). ``result(lib, state)`` runs the case once more and
    gives the tensors to compare with torch's, each alone or as ``(tensor, absolute tolerance)``."""

    name: str
    setup: Callable[[Lib, Any], dict]
    run: Callable[..., Any]
    result: Callable[[Lib, dict], list]
    prepare: Callable[[Lib, dict], Any] | None = None


# ---------------------------------------------------------------- tiny graph


def _tiny_setup(lib: Lib, np: Any) -> dict:
    x = lib.wrap(np.random.default_rng(0).standard_normal(10).astype(np.float32))
    return {"x": x.requires_grad_()}


def _tiny_forward(lib: Lib, state: dict) -> Any:
    return (state["x"] * 2 + 1).tanh().sum()


def _tiny_forward_no_grad(lib: Lib, state: dict) -> Any:
    with lib.module.no_grad():
        return (state["x"] * 2 + 1).tanh().sum()


def _tiny_step(lib: Lib, state: dict) -> None:
    state["x"].grad = None
    _tiny_forward(lib, state).backward()


def _tiny_backward(lib: Lib, state: dict, y: Any) -> None:
    y.backward()


def _tiny_prepare(lib: Lib, state: dict) -> Any:
    state["x"].grad = None
    return _tiny_forward(lib, state)


def _tiny_result(lib: Lib, state: dict) -> list:
    _tiny_step(lib, state)
    return [_tiny_forward(lib, state).detach(), state["x"].grad]


# ---------------------------------------------------------------- MLP training step

BATCH, N_IN, N_HIDDEN, N_OUT = 64, 784, 256, 10
LR, BETA1, BETA2, EPS = 1e-3, 0.9, 0.999, 1e-8


def _mlp_setup(lib: Lib, np: Any) -> dict:
    rng = np.random.default_rng(0)

    def uniform(shape: tuple, fan_in: int) -> Any:
        bound = 1 / fan_in**0.5
        return rng.uniform(-bound, bound, size=shape).astype(np.float32)

    arrays = [uniform((N_IN, N_HIDDEN), N_IN), uniform((N_HIDDEN,), N_IN),
              uniform((N_HIDDEN, N_OUT), N_HIDDEN), uniform((N_OUT,), N_HIDDEN)]
    params = [lib.wrap(a).requires_grad_() for a in arrays]
    return {
        "params": params,
        "moments": [(lib.module.zeros_like(p), lib.module.zeros_like(p)) for p in params],
        "step": 0,
        "x": lib.wrap(rng.standard_normal((BATCH, N_IN)).astype(np.float32)),
        "target": lib.wrap(rng.integers(0, N_OUT, size=BATCH).astype(np.int64)).unsqueeze(1),
        "np": np,
    }


def _mlp_loss(lib: Lib, state: dict) -> Any:
    w1, b1, w2, b2 = state["params"]
    hidden = (state["x"] @ w1 + b1).relu()
    log_probs = (hidden @ w2 + b2).log_softmax(dim=1)
    return -log_probs.gather(1, state["target"]).mean()


def _mlp_forward_backward(lib: Lib, state: dict) -> Any:
    for p in state["params"]:
        p.grad = None
    loss = _mlp_loss(lib, state)
    loss.backward()
    return loss


def _adam(lib: Lib, state: dict) -> None:
    """One Adam step (PyTorch's defaults, no weight decay) written with tensor ops, as torch.optim.Adam does it."""
    state["step"] += 1
    t = state["step"]
    bias1, bias2 = 1 - BETA1**t, 1 - BETA2**t
    with lib.module.no_grad():
        for p, (m, v) in zip(state["params"], state["moments"], strict=True):
            g = p.grad
            m.mul_(BETA1).add_(g, alpha=1 - BETA1)
            v.mul_(BETA2).add_(g * g, alpha=1 - BETA2)
            denom = (v / bias2).sqrt_().add_(EPS)
            p.sub_(m / denom, alpha=LR / bias1)


def _adam_prepare(lib: Lib, state: dict) -> None:
    if state["params"][0].grad is None:
        _mlp_forward_backward(lib, state)


def _adam_only(lib: Lib, state: dict, _: Any) -> None:
    _adam(lib, state)


def _train_step(lib: Lib, state: dict) -> Any:
    loss = _mlp_forward_backward(lib, state)
    _adam(lib, state)
    return loss


def _mlp_result(lib: Lib, state: dict) -> list:
    loss = _mlp_forward_backward(lib, state)
    grads = [p.grad for p in state["params"]]
    _adam(lib, state)
    # Adam's first step moves each weight by about lr * g / (|g| + eps): where g is near eps (dead ReLU units),
    # rounding-level differences in g change the step by a fraction of lr, so the weights get a looser tolerance.
    return [loss.detach(), *grads, *((p.detach(), LR / 20) for p in state["params"])]


def _fresh_mlp_result(lib: Lib, state: dict) -> list:
    # Compared from identical weights: the timed runs have taken different numbers of steps in each library.
    return _mlp_result(lib, _mlp_setup(lib, state["np"]))


TINY_CASES = [
    Case("forward, no_grad (baseline)", _tiny_setup, _tiny_forward_no_grad, _tiny_result),
    Case("forward, recording the graph", _tiny_setup, _tiny_forward, _tiny_result),
    Case("forward + backward", _tiny_setup, _tiny_step, _tiny_result),
    Case("backward alone", _tiny_setup, _tiny_backward, _tiny_result, prepare=_tiny_prepare),
]

MLP_CASES = [
    Case("forward + backward", _mlp_setup, _mlp_forward_backward, _fresh_mlp_result),
    Case("Adam update alone (inline, no_grad)", _mlp_setup, _adam_only, _fresh_mlp_result,
         prepare=_adam_prepare),
    Case("training step (forward + backward + Adam)", _mlp_setup, _train_step, _fresh_mlp_result),
]


# ---------------------------------------------------------------- timing and the tables


def split_time(prepare: Callable[[], Any], run: Callable[[Any], Any], min_time: float, repeats: int) -> float:
    """Best mean seconds of ``run(prepare())`` counting ``run`` alone, over ``repeats`` runs of ``min_time``."""
    best = float("inf")
    for _ in range(repeats):
        total, count, start = 0.0, 0, time.perf_counter()
        while time.perf_counter() - start < min_time or count == 0:
            prepared = prepare()
            t0 = time.perf_counter()
            run(prepared)
            total += time.perf_counter() - t0
            count += 1
        best = min(best, total / count)
    return best


def _error(exc: Exception) -> str:
    first = str(exc).splitlines()[0][:100] if str(exc) else ""
    return f"{type(exc).__name__}: {first}"


def measure(case: Case, libs: list[Lib], np: Any, min_time: float, repeats: int) -> dict:
    """Time ``case`` in each library (a failure gives its error instead) and check the results agree."""
    timings: dict = {}
    results: dict = {}
    for lib in libs:
        try:
            state = case.setup(lib, np)
            if case.prepare is None:
                case.run(lib, state)
                timings[lib.name] = best_time(partial(case.run, lib, state), min_time, repeats)
            else:
                timings[lib.name] = split_time(partial(case.prepare, lib, state), partial(case.run, lib, state),
                                               min_time, repeats)
            results[lib.name] = [r if isinstance(r, tuple) else (r, 1e-5) for r in case.result(lib, state)]
        except Exception as exc:  # noqa: BLE001 - a missing formula or op becomes a table row, not a crash
            timings[lib.name] = _error(exc)
    if len(results) == 2:
        ours, ref = results["ember"], results["torch"]
        timings["agree"] = len(ours) == len(ref) and all(
            _close(np, a, b, atol) for (a, atol), (b, _) in zip(ours, ref, strict=True))
    return timings


def _close(np: Any, ours: Any, ref: Any, atol: float) -> bool:
    if ours is None or ref is None:
        return ours is None and ref is None
    a, b = (np.asarray(t.detach().numpy(), dtype=np.float64) for t in (ours, ref))
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-4, atol=atol))


def _row(case: Case, timing: dict) -> str:
    return "| " + " | ".join([*timing_cells(case.name, timing), notes_cell(timing)]) + " |"


def print_table(title: str, cases: list[Case], libs: list[Lib], np: Any, min_time: float, repeats: int) -> None:
    """Measure ``cases`` and print their Markdown table, one row as each finishes."""
    header = ["case", "ember us", "torch us", "ratio (ember/torch)", "notes"]
    print(f"### {title}\n\n| " + " | ".join(header) + " |\n|" + "---|" * len(header), flush=True)
    for case in cases:
        print(_row(case, measure(case, libs, np, min_time, repeats)), flush=True)
    print()


def main(argv: list[str] | None = None) -> int:
    args, np, torch, ember, repeats = start(argv, __doc__, "ember autograd benchmark", "iteration")
    libs = [Lib("ember", ember, ember.from_numpy), Lib("torch", torch, torch.from_numpy)]
    tiny_time, mlp_time = (0.05, 0.2) if args.quick else (0.2, 1.0)
    print_table("Tiny graph: y = (x * 2 + 1).tanh().sum(), x of 10 float32 elements", TINY_CASES, libs, np,
                tiny_time, repeats)
    print_table(f"MLP training step: batch {BATCH}, {N_IN} -> {N_HIDDEN} -> {N_OUT}, ReLU, log_softmax + NLL, "
                "inline Adam", MLP_CASES, libs, np, mlp_time, repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
