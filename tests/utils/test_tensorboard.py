"""SummaryWriter: event files read back through their TFRecord framing (CRCs checked) and tensorboardX's protos."""

from __future__ import annotations

import os
import socket
import struct
import sys

import numpy as np
import pytest

import ember
from ember.utils.tensorboard import SummaryWriter

event_pb2 = pytest.importorskip("tensorboardX.proto.event_pb2")
from tensorboardX.proto.plugin_hparams_pb2 import HParamsPluginData  # noqa: E402
from tensorboardX.record_writer import masked_crc32c  # noqa: E402


def read_records(path: str) -> list[bytes]:
    """Each record: 8-byte length, 4-byte masked CRC of the length, the data, 4-byte masked CRC of the data."""
    with open(path, "rb") as f:
        raw = f.read()
    records, offset = [], 0
    while offset < len(raw):
        header = raw[offset:offset + 8]
        (length,) = struct.unpack("<Q", header)
        (header_crc,) = struct.unpack("<I", raw[offset + 8:offset + 12])
        assert header_crc == masked_crc32c(header)
        data = raw[offset + 12:offset + 12 + length]
        (data_crc,) = struct.unpack("<I", raw[offset + 12 + length:offset + 16 + length])
        assert len(data) == length and data_crc == masked_crc32c(data)
        records.append(data)
        offset += 16 + length
    return records


def read_events(directory) -> list:
    """Every event of the event files directly in ``directory``, in file then write order."""
    files = sorted(f for f in os.listdir(directory) if f.startswith("events.out.tfevents."))
    assert files, f"no event file in {directory}"
    return [event_pb2.Event.FromString(r) for f in files for r in read_records(os.path.join(directory, f))]


def summaries(directory) -> list[tuple[int, object]]:
    """(step, Summary.Value) of every summary value written to ``directory``."""
    return [(e.step, v) for e in read_events(directory) if e.HasField("summary") for v in e.summary.value]


def test_add_scalar_writes_tags_steps_and_values(tmp_path):
    with SummaryWriter(str(tmp_path)) as writer:
        writer.add_scalar("loss", 0.5, 0)
        writer.add_scalar("loss", ember.tensor(0.25), 1)
        writer.add_scalar("loss", ember.tensor([0.125], requires_grad=True), ember.tensor(2))
        writer.add_scalar("acc", np.float64(0.75), 2, walltime=123.5)
    values = summaries(tmp_path)
    assert [(step, v.tag) for step, v in values] == [(0, "loss"), (1, "loss"), (2, "loss"), (2, "acc")]
    assert [v.simple_value for _, v in values] == [0.5, 0.25, 0.125, 0.75]
    first = read_events(tmp_path)[0]
    assert first.file_version == "brain.Event:2"
    assert [e.wall_time for e in read_events(tmp_path) if e.HasField("summary")][-1] == 123.5


def test_add_scalar_new_style(tmp_path):
    with SummaryWriter(str(tmp_path)) as writer:
        writer.add_scalar("f", 1.0 / 3, 1, new_style=True)
        writer.add_scalar("d", 1.0 / 3, 2, new_style=True, double_precision=True)
    (_, f), (_, d) = summaries(tmp_path)
    assert f.metadata.plugin_data.plugin_name == "scalars" and f.tensor.dtype == 1  # DT_FLOAT
    assert f.tensor.float_val[0] == pytest.approx(1.0 / 3, rel=1e-7)
    assert d.tensor.double_val[0] == 1.0 / 3


def test_add_scalar_rejects_many_values(tmp_path):
    with SummaryWriter(str(tmp_path)) as writer, pytest.raises(AssertionError,
                                                               match="Tensor should contain one element"):
        writer.add_scalar("x", ember.ones(3), 0)


def test_add_scalars_writes_one_run_per_tag_as_torch(tmp_path):
    with SummaryWriter(str(tmp_path)) as writer:
        for step in range(3):
            writer.add_scalars("loss/phase", {"train": step * 1.0, "val": ember.tensor(step * 2.0)}, step)
    assert sorted(os.listdir(tmp_path / "loss_phase_train")) and (tmp_path / "loss_phase_val").is_dir()
    train = summaries(tmp_path / "loss_phase_train")
    assert [(s, v.tag, v.simple_value) for s, v in train] == [(0, "loss/phase", 0.0), (1, "loss/phase", 1.0),
                                                              (2, "loss/phase", 2.0)]
    assert [v.simple_value for _, v in summaries(tmp_path / "loss_phase_val")] == [0.0, 2.0, 4.0]


@pytest.mark.parametrize("bins", ["tensorflow", "auto", 5])
def test_add_histogram_statistics(tmp_path, bins):
    values = ember.randn(1000, requires_grad=True)
    array = values.detach().numpy().astype(np.float64)
    with SummaryWriter(str(tmp_path)) as writer:
        writer.add_histogram("weights", values, 7, bins=bins)
        writer.add_histogram("counts", np.arange(10), 8, bins=bins)
    (step, hist), (_, counts) = summaries(tmp_path)
    histo = hist.histo
    assert step == 7 and hist.tag == "weights"
    assert (histo.num, histo.min, histo.max) == (1000, array.min(), array.max())
    assert histo.sum == pytest.approx(array.sum()) and histo.sum_squares == pytest.approx(array @ array)
    assert sum(histo.bucket) == 1000 and len(histo.bucket) == len(histo.bucket_limit)
    assert list(histo.bucket_limit) == sorted(histo.bucket_limit) and histo.bucket_limit[-1] >= array.max()
    assert counts.histo.num == 10 and counts.histo.sum == 45


def test_add_histogram_max_bins_and_empty(tmp_path):
    with SummaryWriter(str(tmp_path)) as writer:
        writer.add_histogram("h", np.linspace(-1, 1, 500), 0, bins=100, max_bins=10)
        with pytest.raises(ValueError, match="The input has no element."):
            writer.add_histogram("e", ember.zeros(0), 1)
    (_, hist), = summaries(tmp_path)
    assert len(hist.histo.bucket) <= 11 and sum(hist.histo.bucket) == 500


def test_add_text(tmp_path):
    with SummaryWriter(str(tmp_path)) as writer:
        writer.add_text("notes", "**lr** = 0.1", 3)
    (step, value), = summaries(tmp_path)
    assert (step, value.tag) == (3, "notes/text_summary")
    assert value.metadata.plugin_data.plugin_name == "text" and value.tensor.string_val == [b"**lr** = 0.1"]


def test_add_hparams(tmp_path):
    with SummaryWriter(str(tmp_path)) as writer:
        writer.add_hparams({"lr": 0.1, "optimizer": "adam", "bs": ember.tensor(32), "nesterov": True},
                           {"hparam/accuracy": 0.9}, hparam_domain_discrete={"optimizer": ["adam", "sgd"]},
                           run_name="trial0", global_step=5)
    values = summaries(tmp_path / "trial0")
    by_tag = {v.tag: (step, v) for step, v in values}
    assert set(by_tag) == {"_hparams_/experiment", "_hparams_/session_start_info", "_hparams_/session_end_info",
                           "hparam/accuracy"}
    assert by_tag["hparam/accuracy"][0] == 5 and by_tag["hparam/accuracy"][1].simple_value == pytest.approx(0.9)
    start = HParamsPluginData.FromString(by_tag["_hparams_/session_start_info"][1].metadata.plugin_data.content)
    hparams = start.session_start_info.hparams
    assert hparams["lr"].number_value == 0.1 and hparams["optimizer"].string_value == "adam"
    assert hparams["bs"].number_value == 32 and hparams["nesterov"].bool_value is True
    experiment = HParamsPluginData.FromString(by_tag["_hparams_/experiment"][1].metadata.plugin_data.content)
    infos = {info.name: info for info in experiment.experiment.hparam_infos}
    assert [v.string_value for v in infos["optimizer"].domain_discrete.values] == ["adam", "sgd"]
    assert not infos["lr"].HasField("domain_discrete")
    assert [m.name.tag for m in experiment.experiment.metric_infos] == ["hparam/accuracy"]


def test_add_hparams_errors(tmp_path):
    with SummaryWriter(str(tmp_path)) as writer:
        with pytest.raises(TypeError, match="hparam_dict and metric_dict should be dictionary."):
            writer.add_hparams([("lr", 0.1)], {})
        with pytest.raises(TypeError, match=r"hparam_domain_discrete\[lr\] should be a list of same type"):
            writer.add_hparams({"lr": 0.1}, {"m": 1.0}, hparam_domain_discrete={"lr": ["fast"]})


def test_purge_step_marks_a_restart(tmp_path):
    with SummaryWriter(str(tmp_path), purge_step=42) as writer:
        writer.add_scalar("loss", 1.0, 42)
    events = read_events(tmp_path)
    restart = [e for e in events if e.HasField("session_log")]
    assert len(restart) == 1 and restart[0].step == 42 and restart[0].session_log.status == event_pb2.SessionLog.START


def test_default_log_dir_flush_close_and_reopen(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    writer = SummaryWriter(comment="_lr0.1", filename_suffix=".ember")
    log_dir = writer.get_logdir()
    assert log_dir == writer.log_dir and os.path.dirname(log_dir) == "runs"
    assert log_dir.endswith("_" + socket.gethostname() + "_lr0.1") and os.path.isdir(log_dir)
    writer.add_scalar("x", 1.0, 0)
    writer.flush()
    assert [v.simple_value for _, v in summaries(log_dir)] == [1.0]
    assert all(name.endswith(".ember") for name in os.listdir(log_dir))
    writer.close()
    writer.close()
    writer.add_scalar("x", 2.0, 1)  # a closed writer opens a new event file
    writer.close()
    assert len(os.listdir(log_dir)) == 2
    assert sorted(v.simple_value for _, v in summaries(log_dir)) == [1.0, 2.0]


def test_missing_tensorboardx_is_a_clear_import_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    with pytest.raises(ImportError, match=r"ember.utils.tensorboard needs tensorboardX: "
                                          r"pip install 'ember\[tensorboard\]'"):
        SummaryWriter(str(tmp_path / "never"))
    assert not (tmp_path / "never").exists()


def test_a_full_queue_reaches_the_disk_without_flush(tmp_path):
    writer = SummaryWriter(str(tmp_path), max_queue=3, flush_secs=3600)
    for step in range(3):  # the third add fills the queue
        writer.add_scalar("x", float(step), step)
    assert [v.simple_value for _, v in summaries(tmp_path)] == [0.0, 1.0, 2.0]
    writer.close()
