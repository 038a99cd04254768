"""The quick start: it learns, its checkpoint resumes the same run exactly, it logs events, and its artifact serves
the same accuracy from ember_runtime in a fresh process without ember."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import ember

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "quickstart.py"


@pytest.fixture(scope="module")
def quickstart():
    spec = importlib.util.spec_from_file_location("quickstart", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_checkpoint_resumes_the_same_run(quickstart, tmp_path):
    ember.manual_seed(0)
    run = quickstart.Run(epochs=2, batch_size=64, lr=3e-3)
    run.train_epoch(None)
    ember.save(run.state_dict(), tmp_path / "checkpoint.pt")
    run.train_epoch(None)

    ember.manual_seed(1)
    resumed = quickstart.Run(epochs=2, batch_size=64, lr=3e-3)
    assert not quickstart.weights_equal(run.model, resumed.model)
    resumed.load_state_dict(ember.load(tmp_path / "checkpoint.pt"))
    assert resumed.epoch == 1
    resumed.train_epoch(None)
    assert quickstart.weights_equal(run.model, resumed.model)
    assert resumed.scheduler.get_last_lr() == run.scheduler.get_last_lr()
    # Two epochs on the digits already put the small CNN far above chance (10%).
    assert run.accuracy() > 0.6


def test_training_logs_tensorboard_events(quickstart, tmp_path):
    pytest.importorskip("tensorboardX")
    ember.manual_seed(0)
    run = quickstart.Run(epochs=1, batch_size=256, lr=3e-3)
    with quickstart.SummaryWriter(log_dir=str(tmp_path)) as writer:
        run.train_epoch(writer)
    events = list(tmp_path.glob("events.out.tfevents.*"))
    assert len(events) == 1 and events[0].stat().st_size > 100


def test_artifact_serves_the_same_accuracy_without_ember(quickstart, tmp_path):
    import ember_runtime

    ember.manual_seed(0)
    run = quickstart.Run(epochs=1, batch_size=64, lr=3e-3)
    run.train_epoch(None)
    accuracy = run.accuracy()
    report = quickstart.export_and_serve(run, tmp_path)
    # The fresh process (where `import ember` fails) classifies the test set exactly as ember does.
    assert report["accuracy"] == accuracy > 0.3
    assert report["inputs"] == ["x: float32['N', 1, 8, 8]"]
    assert set(report["latency_ms"]) == {"1", "64"} and all(t > 0 for t in report["latency_ms"].values())
    model = ember_runtime.load(tmp_path / "digits.ember")
    with ember.no_grad():
        images = next(iter(run.test_loader))[0][:5]
        np.testing.assert_allclose(model(images.numpy()), run.model(images).numpy(), rtol=1e-5, atol=1e-5)
