"""``SummaryWriter``: TensorBoard event files, as ``torch.utils.tensorboard.SummaryWriter``.

The event-file format (TFRecord framing, CRCs, protobufs) is delegated to the optional ``tensorboardX``
package, imported when the first writer is made; this module builds the same summaries as PyTorch's
writer, lays files out as it does (``add_scalars`` in ``<log_dir>/<main_tag>_<tag>``), and turns ember
tensors into NumPy arrays before handing them over. Files are written by :class:`EventFile`.
"""

from __future__ import annotations

import os
import socket
import time
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import numpy as np

from ...tensor.tensor import Tensor
from .event_file import EventFile

_MISSING = "ember.utils.tensorboard needs tensorboardX: pip install 'ember[tensorboard]'"


def _tensorboardx() -> SimpleNamespace:
    """The parts of tensorboardX the writer uses; a clear ImportError when it is not installed."""
    try:
        from tensorboardX import summary as tbx_summary
        from tensorboardX.event_file_writer import EventsWriter
        from tensorboardX.proto.event_pb2 import Event, SessionLog
        from tensorboardX.proto.plugin_hparams_pb2 import HParamsPluginData
        from tensorboardX.proto.summary_pb2 import Summary, SummaryMetadata
        from tensorboardX.proto.tensor_pb2 import TensorProto
    except ImportError as error:
        raise ImportError(_MISSING) from error
    return SimpleNamespace(EventsWriter=EventsWriter, summary=tbx_summary, Event=Event, SessionLog=SessionLog,
                           HParamsPluginData=HParamsPluginData, Summary=Summary, SummaryMetadata=SummaryMetadata,
                           TensorProto=TensorProto)


def _to_numpy(value: Any) -> np.ndarray:
    """An ember tensor (any device, with or without grad), array, list or Python number as an array."""
    if isinstance(value, Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _plain(value: Any) -> Any:
    """A one-element tensor or NumPy scalar as a Python number: what event steps and hparams protos take."""
    if isinstance(value, Tensor | np.ndarray | np.generic):
        return _to_numpy(value).reshape(-1)[0].item()
    return value


def _tensorflow_bins() -> list[float]:
    """TensorBoard's default histogram buckets: +-1e-12 growing by 10% up to 1e20, and 0."""
    v = 1e-12
    buckets, neg_buckets = [], []
    while v < 1e20:
        buckets.append(v)
        neg_buckets.append(-v)
        v *= 1.1
    return neg_buckets[::-1] + [0] + buckets


class SummaryWriter:
    """Writes scalars, histograms, text and hyperparameters to TensorBoard event files in ``log_dir``.

    Needs the ``tensorboardX`` package (``pip install 'ember[tensorboard]'``) for the event-file format.

    Args:
        log_dir: the directory; default ``runs/<Mon><DD>_<HH>-<MM>-<SS>_<hostname><comment>``.
        comment: suffix of the default ``log_dir``; ignored when ``log_dir`` is given.
        purge_step: after a crash at step ``T + X`` and a restart at ``T``, events of step ``>= T`` are
            hidden by TensorBoard; use the same ``log_dir``.
        max_queue: pending events before an ``add_*`` call forces a write.
        flush_secs: seconds between automatic flushes.
        filename_suffix: suffix of the event file names.

    Example::

        >>> with SummaryWriter("runs/exp1") as writer:
        ...     for step in range(3):
        ...         writer.add_scalar("loss", 1.0 / (step + 1), step)
    """

    def __init__(self, log_dir: str | None = None, comment: str = "", purge_step: int | None = None,
                 max_queue: int = 10, flush_secs: int = 120, filename_suffix: str = "") -> None:
        self._tbx = _tensorboardx()
        if not log_dir:
            current_time = datetime.now().strftime("%b%d_%H-%M-%S")
            log_dir = os.path.join("runs", current_time + "_" + socket.gethostname() + comment)
        self.log_dir = log_dir
        self.purge_step = purge_step
        self.max_queue = max_queue
        self.flush_secs = flush_secs
        self.filename_suffix = filename_suffix
        # Writers are created lazily and dropped on close(), so a closed writer reopens on the next add_*.
        self.file_writer = self.all_writers = None
        self._get_file_writer()
        self.default_bins = _tensorflow_bins()

    def _get_file_writer(self) -> Any:
        """The writer of ``log_dir``, created again after ``close()``."""
        if self.all_writers is None or self.file_writer is None:
            self.file_writer = EventFile(self._tbx, self.log_dir, self.max_queue, self.flush_secs, self.filename_suffix)
            self.all_writers = {self.file_writer.get_logdir(): self.file_writer}
            if self.purge_step is not None:
                step = self.purge_step
                self.file_writer.add_event(self._tbx.Event(step=step, file_version="brain.Event:2"))
                start = self._tbx.SessionLog(status=self._tbx.SessionLog.START)
                self.file_writer.add_event(self._tbx.Event(step=step, session_log=start))
                self.purge_step = None
        return self.file_writer

    def get_logdir(self) -> str:
        """The directory the event files are written to."""
        return self.log_dir

    def _scalar_summary(self, tag: str, scalar_value: Any, new_style: bool = False,
                        double_precision: bool = False) -> Any:
        value = _to_numpy(scalar_value).squeeze()
        if value.ndim != 0:
            raise AssertionError(f"Tensor should contain one element (0 dimensions). Was given size: {value.size} "
                                 f"and {value.ndim} dimensions.")
        scalar = float(value)
        tbx = self._tbx
        if not new_style:
            return tbx.Summary(value=[tbx.Summary.Value(tag=tag, simple_value=scalar)])
        if double_precision:
            tensor = tbx.TensorProto(double_val=[scalar], dtype="DT_DOUBLE")
        else:
            tensor = tbx.TensorProto(float_val=[scalar], dtype="DT_FLOAT")
        metadata = tbx.SummaryMetadata(plugin_data=tbx.SummaryMetadata.PluginData(plugin_name="scalars"))
        return tbx.Summary(value=[tbx.Summary.Value(tag=tag, tensor=tensor, metadata=metadata)])

    def add_scalar(self, tag: str, scalar_value: Any, global_step: int | None = None, walltime: float | None = None,
                   new_style: bool = False, double_precision: bool = False) -> None:
        """Logs one number.

        Args:
            tag: the series name.
            scalar_value: a Python number or a one-element tensor/array.
            global_step: the step.
            walltime: seconds since the epoch (default now).
            new_style: write a tensor (loads faster in TensorBoard) instead of the legacy ``simple_value``.
            double_precision: with ``new_style``, keep the value as float64.
        """
        summary = self._scalar_summary(tag, scalar_value, new_style, double_precision)
        self._get_file_writer().add_summary(summary, _plain(global_step), walltime)

    def add_scalars(self, main_tag: str, tag_scalar_dict: dict[str, Any], global_step: int | None = None,
                    walltime: float | None = None) -> None:
        """Logs several numbers on one chart: each tag goes to its own run ``<log_dir>/<main_tag>_<tag>``."""
        walltime = time.time() if walltime is None else walltime
        fw_logdir = self._get_file_writer().get_logdir()
        for tag, scalar_value in tag_scalar_dict.items():
            fw_tag = fw_logdir + "/" + main_tag.replace("/", "_") + "_" + tag
            if fw_tag not in self.all_writers:
                self.all_writers[fw_tag] = EventFile(self._tbx, fw_tag, self.max_queue, self.flush_secs,
                                                     self.filename_suffix)
            summary = self._scalar_summary(main_tag, scalar_value)
            self.all_writers[fw_tag].add_summary(summary, _plain(global_step), walltime)

    def add_histogram(self, tag: str, values: Any, global_step: int | None = None, bins: Any = "tensorflow",
                      walltime: float | None = None, max_bins: int | None = None) -> None:
        """Logs the distribution of ``values`` (tensor, array or list).

        Args:
            bins: 'tensorflow' (TensorBoard's default buckets), or any ``bins`` of ``numpy.histogram``.
            max_bins: merge neighbouring buckets down to at most this many.
        """
        if isinstance(bins, str) and bins == "tensorflow":
            bins = self.default_bins
        array = _to_numpy(values).astype(float)
        histogram = self._tbx.summary.make_histogram(array, bins, max_bins)
        summary = self._tbx.Summary(value=[self._tbx.Summary.Value(tag=tag, histo=histogram)])
        self._get_file_writer().add_summary(summary, _plain(global_step), walltime)

    def add_text(self, tag: str, text_string: str, global_step: int | None = None,
                 walltime: float | None = None) -> None:
        """Logs a string (rendered as markdown), under the tag ``<tag>/text_summary``."""
        summary = self._tbx.summary.text(tag, text_string)
        self._get_file_writer().add_summary(summary, _plain(global_step), walltime)

    def add_hparams(self, hparam_dict: dict[str, Any], metric_dict: dict[str, Any],
                    hparam_domain_discrete: dict[str, list] | None = None, run_name: str | None = None,
                    global_step: int | None = None) -> None:
        """Logs one run's hyperparameters and final metrics for TensorBoard's HPARAMS tab.

        They go to a sub-run ``<log_dir>/<run_name>`` (default: the current time), as in PyTorch.

        Args:
            hparam_dict: hyperparameter name -> bool, str, number or one-element tensor.
            metric_dict: metric name -> number; also logged as scalars. Use names not logged elsewhere.
            hparam_domain_discrete: hyperparameter name -> every value it can take.
        """
        if not isinstance(hparam_dict, dict) or not isinstance(metric_dict, dict):
            raise TypeError("hparam_dict and metric_dict should be dictionary.")
        hparam_dict = {key: _plain(value) for key, value in hparam_dict.items()}
        domains = hparam_domain_discrete or {}
        if not isinstance(domains, dict):
            raise TypeError("parameter: hparam_domain_discrete should be a dictionary, nothing logged.")
        for key, domain in domains.items():
            if key not in hparam_dict or not isinstance(domain, list) or not all(
                    isinstance(d, type(hparam_dict[key])) for d in domain):
                raise TypeError(f"parameter: hparam_domain_discrete[{key}] should be a list of same type as "
                                f"hparam_dict[{key}].")
        experiment, session_start, session_end = self._tbx.summary.hparams(hparam_dict, metric_dict)
        if domains:
            self._add_domains(experiment, domains)
        if not run_name:
            run_name = str(time.time())
        logdir = os.path.join(self._get_file_writer().get_logdir(), run_name)
        with SummaryWriter(log_dir=logdir) as run_writer:
            for summary in (experiment, session_start, session_end):
                run_writer.file_writer.add_summary(summary, _plain(global_step))
            for key, value in metric_dict.items():
                run_writer.add_scalar(key, value, global_step)

    def _add_domains(self, experiment: Any, domains: dict[str, list]) -> None:
        """Writes each hyperparameter's discrete domain into the experiment summary built by tensorboardX."""
        plugin_data = experiment.value[0].metadata.plugin_data
        content = self._tbx.HParamsPluginData.FromString(plugin_data.content)
        for info in content.experiment.hparam_infos:
            if info.name in domains:
                info.domain_discrete.extend(domains[info.name])
        plugin_data.content = content.SerializeToString()

    def flush(self) -> None:
        """Writes pending events of every run to disk."""
        if self.all_writers is None:
            return
        for writer in self.all_writers.values():
            writer.flush()

    def close(self) -> None:
        """Flushes and closes every event file; a later ``add_*`` opens new ones. Closing twice is fine."""
        if self.all_writers is None:
            return
        for writer in self.all_writers.values():
            writer.flush()
            writer.close()
        self.file_writer = self.all_writers = None

    def __enter__(self) -> SummaryWriter:
        return self

    def __exit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        self.close()
