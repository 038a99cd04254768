"""One TensorBoard event file, written synchronously so that ``flush()`` means "on disk".

tensorboardX's ``EventsWriter`` does the format (TFRecord framing, masked CRC32C, the file-version
record). tensorboardX's own ``FileWriter`` queues events to a background thread and its ``flush`` does not
wait for that queue, so an event added just before ``flush()`` may still be missing from the file; PyTorch
promises it is there. Writing in the caller's thread keeps that promise, and costs little: events go to
a buffered file, and the disk is synced every ``max_queue`` events or ``flush_secs`` seconds.
"""

from __future__ import annotations

import itertools
import os
import time
import weakref
from typing import Any

# Numbers the files of this process: with the pid in the name, two files opened in the same second (a writer
# reopened after close(), two runs in one directory) never overwrite each other, as in PyTorch's naming.
_FILE_IDS = itertools.count()


class EventFile:
    """Appends events to a new event file in ``logdir`` (created if missing).

    Args:
        tbx: the tensorboardX parts (``EventsWriter``, ``Event``) from ``writer._tensorboardx``.
        logdir: the run directory.
        max_queue: events written before one of the adds syncs the file to disk.
        flush_secs: seconds after which the next add syncs the file to disk.
        filename_suffix: suffix of the file name ``events.out.tfevents.<time>.<hostname>.<pid>.<n><suffix>``.
    """

    def __init__(self, tbx: Any, logdir: str, max_queue: int = 10, flush_secs: float = 120,
                 filename_suffix: str = "") -> None:
        os.makedirs(logdir, exist_ok=True)
        self._tbx = tbx
        self._logdir = logdir
        self._max_queue = max_queue
        self._flush_secs = flush_secs
        unique = f".{os.getpid()}.{next(_FILE_IDS)}{filename_suffix}"
        self._writer = tbx.EventsWriter(os.path.join(logdir, "events"), unique)
        self._pending = 0
        self._last_flush = time.time()
        # Closes the file if the writer is dropped or the interpreter exits without close().
        self._finalizer = weakref.finalize(self, self._writer.close)

    def get_logdir(self) -> str:
        return self._logdir

    def add_event(self, event: Any) -> None:
        """Writes ``event``; syncs to disk once ``max_queue`` events are pending or ``flush_secs`` passed."""
        self._writer.write_event(event)
        self._pending += 1
        if self._pending >= self._max_queue or time.time() - self._last_flush >= self._flush_secs:
            self.flush()

    def add_summary(self, summary: Any, global_step: int | None = None, walltime: float | None = None) -> None:
        """Wraps ``summary`` in an event stamped with ``walltime`` (default now) and ``global_step``."""
        event = self._tbx.Event(summary=summary)
        event.wall_time = time.time() if walltime is None else walltime
        if global_step is not None:
            event.step = int(global_step)
        self.add_event(event)

    def flush(self) -> None:
        """Writes every added event to disk."""
        if self._finalizer.alive:
            self._writer.flush()
        self._pending = 0
        self._last_flush = time.time()

    def close(self) -> None:
        """Flushes and closes the file; closing twice is harmless."""
        self._finalizer()
