"""The quick start's training run: it learns, its checkpoint resumes the same run exactly, and it logs events."""

from __future__ import annotations

import importlib.util
from pathlib import Path

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
