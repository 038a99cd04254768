"""ember quick start: train a small CNN on the bundled handwritten digits, PyTorch-style.

It reads the 8x8 digits that ship with ember through a DataLoader, trains with Adam and a cosine learning-rate
schedule behind a progress bar, logs to TensorBoard (``runs/quickstart``), checks the test accuracy, and saves
a checkpoint half-way. Then it shows that resuming from that checkpoint in fresh objects continues the very
same run: the resumed weights equal the uninterrupted run's bit for bit. Finally it deploys: it traces the
trained model, saves it as ``digits.ember`` (a compiled artifact) and serves it with ``ember_runtime`` in a fresh
Python process where ember itself cannot even be imported, which reports the same test accuracy and its latency.

Run: ``.venv/bin/python examples/quickstart.py`` (``--help`` for the options).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import ember as torch  # ember answers to PyTorch's names
import ember.vision as vision
from ember import nn
from ember.utils.data import DataLoader

try:
    from tqdm import tqdm
except ImportError:  # the 'progress' extra is optional; without it the epochs print plain lines

    def tqdm(iterable, **_):
        return iterable


try:
    import tensorboardX  # noqa: F401 -- SummaryWriter needs it; the 'tensorboard' extra is optional

    from ember.utils.tensorboard import SummaryWriter
except ImportError:
    SummaryWriter = None


class DigitsNet(nn.Module):
    """Two conv + ReLU + max-pool stages and two linear layers, for 1x8x8 images."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 16 x 4 x 4
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 32 x 2 x 2
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class Run:
    """Everything whose state a checkpoint must hold to continue a run exactly."""

    def __init__(self, epochs: int, batch_size: int, lr: float) -> None:
        self.model = DigitsNet()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=lr)
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=epochs)
        self.shuffle = torch.Generator().manual_seed(1)
        transform = vision.transforms.Compose([
            vision.transforms.ToTensor(), vision.transforms.Normalize((0.5,), (0.5,)),
        ])
        train_set = vision.datasets.Digits(train=True, transform=transform)
        test_set = vision.datasets.Digits(train=False, transform=transform)
        self.train_loader = DataLoader(train_set, batch_size=batch_size, shuffle=True, generator=self.shuffle)
        self.test_loader = DataLoader(test_set, batch_size=256)
        self.loss_fn = nn.CrossEntropyLoss()
        self.epoch = 0

    def state_dict(self) -> dict:
        return {
            "epoch": self.epoch,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "shuffle": self.shuffle.get_state(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.epoch = state["epoch"]
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.shuffle.set_state(state["shuffle"])

    def train_epoch(self, writer) -> float:
        self.model.train()
        total, batches = 0.0, 0
        # disable=None: a bar on a terminal, quiet in logs.
        bar = tqdm(self.train_loader, desc=f"epoch {self.epoch + 1}", leave=False, unit="batch", disable=None)
        for images, labels in bar:
            self.optimizer.zero_grad()
            loss = self.loss_fn(self.model(images), labels)
            loss.backward()
            self.optimizer.step()
            total, batches = total + loss.item(), batches + 1
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{loss.item():.3f}")
        self.scheduler.step()
        self.epoch += 1
        if writer is not None:
            writer.add_scalar("train/loss", total / batches, self.epoch)
            writer.add_scalar("train/lr", self.scheduler.get_last_lr()[0], self.epoch)
            writer.add_histogram("weights/classifier.3", self.model.classifier[3].weight, self.epoch)
        return total / batches

    @torch.no_grad()
    def accuracy(self) -> float:
        self.model.eval()
        correct = count = 0
        for images, labels in self.test_loader:
            correct += (self.model(images).argmax(dim=1) == labels).sum().item()
            count += len(labels)
        return correct / count


def weights_equal(a: nn.Module, b: nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))


# What a deployment runs: numpy and ember_runtime only (`pip install ./runtime`). The quick start runs it in a
# fresh process with `import ember` made to fail, to show that the artifact needs nothing of the framework.
SERVE = """
import json, sys, time
sys.modules["ember"] = None  # any `import ember` now fails: the artifact must run without the framework
import numpy as np
import ember_runtime

artifact, data = sys.argv[1], sys.argv[2]
start = time.perf_counter()
model = ember_runtime.load(artifact)  # verify, then compile the LLVM IR for this CPU (cached per user)
load_ms = (time.perf_counter() - start) * 1e3
with np.load(data) as test:
    images, labels = test["images"], test["labels"]
predictions = np.concatenate([model(images[i:i + 64]).argmax(axis=1) for i in range(0, len(images), 64)])
latency_ms = {}
for batch in (1, 64):
    x = images[:batch]
    model(x)  # the first call at a new batch size binds its shapes
    times = []
    for _ in range(50):
        start = time.perf_counter()
        model(x)
        times.append(time.perf_counter() - start)
    latency_ms[batch] = sorted(times)[len(times) // 2] * 1e3
print(json.dumps({"accuracy": float((predictions == labels).mean()), "load_ms": load_ms,
                  "latency_ms": latency_ms,
                  "inputs": [f"{i.name}: {i.dtype}{list(i.shape)}" for i in model.inputs]}))
"""


def export_and_serve(run: Run, out: Path) -> dict:
    """Trace ``run``'s model, save ``out/digits.ember`` and the normalised test set, and serve the artifact with
    ``ember_runtime`` in a fresh process (ember blocked). Returns that process's report: accuracy, load time,
    latency at batches 1 and 64, input signature."""
    run.model.eval()
    images = torch.cat([x for x, _ in run.test_loader])
    labels = torch.cat([y for _, y in run.test_loader])
    # dim 0 of the input is the batch symbol N: the artifact serves any batch size
    traced = torch.jit.trace(run.model, images[:8], dynamic_dims={0: {0: "N"}})
    artifact, data = out / "digits.ember", out / "digits_test.npz"
    traced.save(artifact)
    np.savez(data, images=images.numpy(), labels=labels.numpy())
    # PYTHONPATH lets the fresh process find ember_runtime in a checkout too (an install puts it on the path)
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    served = subprocess.run([sys.executable, "-c", SERVE, str(artifact), str(data)], capture_output=True,
                            text=True, env=env, timeout=300)
    if served.returncode != 0:
        raise SystemExit(f"quick start failed: serving {artifact} with ember_runtime failed:\n{served.stderr}")
    return json.loads(served.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--out", type=Path, default=Path("runs/quickstart"), help="checkpoint and log directory")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    checkpoint = args.out / "checkpoint.pt"

    torch.manual_seed(0)
    run = Run(args.epochs, args.batch_size, args.lr)
    writer = SummaryWriter(log_dir=str(args.out)) if SummaryWriter is not None else None
    print(run.model)
    start = time.perf_counter()
    half = args.epochs // 2
    for _ in range(args.epochs):
        loss = run.train_epoch(writer)
        accuracy = run.accuracy()
        if writer is not None:
            writer.add_scalar("test/accuracy", accuracy, run.epoch)
        print(f"epoch {run.epoch:2d}  loss {loss:.4f}  test accuracy {accuracy:.2%}")
        if run.epoch == half:
            torch.save(run.state_dict(), checkpoint)
            print(f"           checkpoint saved to {checkpoint}")
    seconds = time.perf_counter() - start
    if writer is not None:
        writer.close()
    print(f"trained {args.epochs} epochs in {seconds:.1f} s; test accuracy {accuracy:.2%}"
          + ("" if writer is None else f"; TensorBoard logs in {args.out}"))

    # A fresh run restored from the half-way checkpoint must end exactly where the uninterrupted one did.
    torch.manual_seed(12345)  # different initial weights, so equality can only come from the checkpoint
    resumed = Run(args.epochs, args.batch_size, args.lr)
    resumed.load_state_dict(torch.load(checkpoint))
    while resumed.epoch < args.epochs:
        resumed.train_epoch(None)
    same = weights_equal(run.model, resumed.model)
    print(f"resumed from epoch {half}: weights {'identical to' if same else 'DIFFERENT from'} the uninterrupted "
          f"run, test accuracy {resumed.accuracy():.2%}")
    if not same or accuracy < 0.95:
        raise SystemExit("quick start failed: " + ("resume diverged" if not same else "accuracy below 95%"))

    # Deploy: the trained model as a compiled artifact, served by ember_runtime alone in a fresh process.
    report = export_and_serve(run, args.out)
    artifact = args.out / "digits.ember"
    print(f"saved {artifact} ({artifact.stat().st_size / 1024:.0f} KiB); ember_runtime in a fresh process without "
          f"ember: load {report['load_ms']:.0f} ms, test accuracy {report['accuracy']:.2%}, latency "
          f"{report['latency_ms']['1']:.3f} ms at batch 1, {report['latency_ms']['64']:.3f} ms at batch 64")
    if abs(report["accuracy"] - accuracy) > 1e-12:
        raise SystemExit(f"quick start failed: the artifact's accuracy {report['accuracy']:.4f} differs from "
                         f"ember's {accuracy:.4f}")


if __name__ == "__main__":
    main()
