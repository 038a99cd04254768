"""Training-step benchmark against PyTorch (issue 4), both measured in the same run and reported as ratios.

Two models, each built from the ``nn`` modules of both libraries with PyTorch's initialisation copied into
ember's through ``load_state_dict(strict=True)``, trained on one fixed batch of 64 with ``CrossEntropyLoss``
and Adam (PyTorch's defaults):

* MLP: ``Linear(784, 256)-ReLU-Linear(256, 128)-ReLU-Linear(128, 10)`` on 784 features;
* CNN: ``Conv2d(3, 16, 3, padding=1)-ReLU-MaxPool2d(2)-Conv2d(16, 32, 3, padding=1)-ReLU-MaxPool2d(2)-Flatten-
  Linear(2048, 128)-ReLU-Linear(128, 10)`` on 3x32x32 images.

Rows per model: the forward alone (under ``no_grad``), forward + backward (with ``zero_grad``), the Adam step
alone, and the whole training step (``zero_grad``, forward, loss, backward, ``step``); times in microseconds,
ratio > 1 means ember is slower. Each row is also checked against torch from identical weights: outputs,
loss and gradients, the parameters after an Adam step, and the losses of three training steps in a row.

Both libraries run single-threaded by default (``--threads``): PyTorch through ``torch.set_num_threads``,
NumPy's BLAS and OpenMP through their environment variables, set before NumPy is imported.

Usage::

    python tools/bench_train.py            # the full run (about a minute)
    python tools/bench_train.py --quick    # fewer, shorter repeats (several seconds)
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_eager import best_time, notes_cell, start, timing_cells  # noqa: E402 - tools/ is not a package

BATCH, CLASSES, LR = 64, 10, 1e-3
STEPS_COMPARED = 3


@dataclass
class Model:
    """One benchmarked model: ``build(nn)`` makes it from a library's ``nn`` namespace."""

    name: str
    build: Callable[[Any], Any]
    input_shape: tuple


def _mlp(nn: Any) -> Any:
    return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, CLASSES))


def _cnn(nn: Any) -> Any:
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(2048, 128), nn.ReLU(), nn.Linear(128, CLASSES))


MODELS = [
    Model("MLP 784-256-128-10", _mlp, (784,)),
    Model("CNN conv(3,16)-pool-conv(16,32)-pool-fc(2048,128)-fc(128,10), 3x32x32", _cnn, (3, 32, 32)),
]


@dataclass
class Trainer:
    """One library's model, Adam optimizer, loss and fixed batch."""

    lib: Any
    model: Any
    optimizer: Any
    loss_fn: Any
    x: Any
    y: Any

    def forward(self) -> Any:
        with self.lib.no_grad():
            return self.model(self.x)

    def forward_backward(self) -> Any:
        self.optimizer.zero_grad()
        loss = self.loss_fn(self.model(self.x), self.y)
        loss.backward()
        return loss

    def adam_step(self) -> None:
        self.optimizer.step()

    def train_step(self) -> Any:
        loss = self.forward_backward()
        self.optimizer.step()
        return loss


def _trainers(model: Model, np: Any, torch: Any, ember: Any) -> dict:
    """Both libraries' trainers from the same weights (torch's initialisation) and the same batch."""
    torch.manual_seed(0)
    reference = model.build(torch.nn)
    mine = model.build(ember.nn)
    mine.load_state_dict({k: ember.from_numpy(v.detach().numpy().copy()) for k, v in reference.state_dict().items()},
                         strict=True)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, *model.input_shape)).astype(np.float32)
    y = rng.integers(0, CLASSES, size=BATCH).astype(np.int64)
    return {lib.__name__: Trainer(lib, net, lib.optim.Adam(net.parameters(), lr=LR), lib.nn.CrossEntropyLoss(),
                                  lib.from_numpy(x.copy()), lib.from_numpy(y.copy()))
            for lib, net in ((ember, mine), (torch, reference))}


# Each check runs from fresh, identical trainers and gives the values to compare, each with its absolute tolerance.
def _check_forward(t: Trainer) -> list:
    return [(t.forward(), 1e-4)]


def _check_forward_backward(t: Trainer) -> list:
    loss = t.forward_backward()
    return [(loss.detach(), 1e-5), *((p.grad, 1e-5) for p in t.model.parameters())]


def _check_adam(t: Trainer) -> list:
    t.forward_backward()
    t.adam_step()
    # Adam's first step moves each weight by about lr * g / (|g| + eps): where g is near eps, rounding-level
    # differences in g change the step by a fraction of lr, so the weights get a looser tolerance.
    return [(p.detach(), LR / 20) for p in t.model.parameters()]


def _check_training(t: Trainer) -> list:
    losses = [(t.train_step().detach(), 1e-4) for _ in range(STEPS_COMPARED)]
    return [*losses, *((p.detach(), LR / 10) for p in t.model.parameters())]


@dataclass
class Case:
    """One row: ``run(trainer)`` is timed; ``prepare(trainer)`` runs once before timing (untimed)."""

    name: str
    run: Callable[[Trainer], Any]
    check: Callable[[Trainer], list]
    prepare: Callable[[Trainer], Any] | None = None


CASES = [
    Case("forward (no_grad)", Trainer.forward, _check_forward),
    Case("forward + backward", Trainer.forward_backward, _check_forward_backward),
    Case("Adam step alone", Trainer.adam_step, _check_adam, prepare=Trainer.forward_backward),
    Case("training step (zero_grad + forward + backward + Adam)", Trainer.train_step, _check_training),
]


def _agree(np: Any, ours: list, ref: list) -> bool:
    if len(ours) != len(ref):
        return False
    for (a, atol), (b, _) in zip(ours, ref, strict=True):
        a, b = (np.asarray(v.detach().numpy(), dtype=np.float64) for v in (a, b))
        if a.shape != b.shape or not np.allclose(a, b, rtol=1e-4, atol=atol):
            return False
    return True


def measure(model: Model, case: Case, np: Any, torch: Any, ember: Any, min_time: float, repeats: int) -> dict:
    """Time ``case`` on ``model`` in each library (a failure gives its error instead) and check the results agree."""
    timings: dict = {}
    for name, trainer in _trainers(model, np, torch, ember).items():
        try:
            if case.prepare is not None:
                case.prepare(trainer)
            case.run(trainer)
            timings[name] = best_time(partial(case.run, trainer), min_time, repeats)
        except Exception as exc:  # noqa: BLE001 - a failing case becomes a table row, not a crash
            timings[name] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:100] if str(exc) else ''}"
    if all(isinstance(timings[name], float) for name in ("ember", "torch")):
        fresh = _trainers(model, np, torch, ember)
        timings["agree"] = _agree(np, case.check(fresh["ember"]), case.check(fresh["torch"]))
    return timings


def print_table(model: Model, np: Any, torch: Any, ember: Any, min_time: float, repeats: int) -> None:
    """Measure every case on ``model`` and print its Markdown table, one row as each finishes."""
    header = ["case", "ember us", "torch us", "ratio (ember/torch)", "notes"]
    print(f"### {model.name}: batch {BATCH}, CrossEntropyLoss, Adam(lr={LR})\n\n| " + " | ".join(header)
          + " |\n|" + "---|" * len(header), flush=True)
    for case in CASES:
        timing = measure(model, case, np, torch, ember, min_time, repeats)
        print("| " + " | ".join([*timing_cells(case.name, timing), notes_cell(timing)]) + " |", flush=True)
    print()


def main(argv: list[str] | None = None) -> int:
    args, np, torch, ember, repeats = start(argv, __doc__, "ember training benchmark", "call")
    min_time = 0.1 if args.quick else 1.0
    for model in MODELS:
        print_table(model, np, torch, ember, min_time, repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
