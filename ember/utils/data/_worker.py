"""What runs inside a DataLoader worker process: its info, its seeding and its fetch loop.

A worker takes ``(task index, sampler output)`` pairs from its own index queue, fetches and collates the
batch, and puts ``(task index, result)`` on the shared data queue. ``None`` on the index queue ends it.
Exceptions travel back as an :class:`ExceptionWrapper` and are re-raised in the main process.
"""

from __future__ import annotations

import queue
import random
import sys
import traceback
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["WorkerInfo", "get_worker_info"]

# How long blocking queue reads wait before checking that the other side is still alive (seconds).
MP_STATUS_CHECK_INTERVAL = 5.0

_worker_info: WorkerInfo | None = None


@dataclass(frozen=True)
class WorkerInfo:
    """Facts about the current DataLoader worker: its ``id``, ``num_workers``, ``seed`` and its ``dataset`` copy."""

    id: int
    num_workers: int
    seed: int
    dataset: Any


def get_worker_info() -> WorkerInfo | None:
    """The :class:`WorkerInfo` of the current worker process, or ``None`` in the main process.

    Use it in ``worker_init_fn`` or an IterableDataset's ``__iter__`` to give each worker its share of the data.
    """
    return _worker_info


class ExceptionWrapper:
    """An exception raised in a worker, with its traceback as text (tracebacks cannot be pickled)."""

    def __init__(self, exc_info: tuple, where: str) -> None:
        self.exc_type = exc_info[0]
        self.exc_msg = "".join(traceback.format_exception(*exc_info))
        self.where = where

    def reraise(self) -> None:
        msg = f"Caught {self.exc_type.__name__} {self.where}.\nOriginal {self.exc_msg}"
        try:
            exception = self.exc_type(msg)
        except Exception:
            # Some exception types take other constructor arguments: the message still reaches the user.
            raise RuntimeError(msg) from None
        raise exception


class ResumeIteration:
    """Sent to a persistent worker to start a new epoch, and echoed back once it has."""


class IterableDatasetStopIteration:
    """Sent by a worker whose copy of an IterableDataset is exhausted."""

    def __init__(self, worker_id: int) -> None:
        self.worker_id = worker_id


def _seed_worker(seed: int, worker_id: int) -> None:
    """Seed Python's, ember's and NumPy's global generators differently in each worker."""
    from ...tensor.random import manual_seed

    random.seed(seed)
    manual_seed(seed)
    np.random.seed(np.random.SeedSequence([worker_id, seed]).generate_state(4))


def worker_loop(fetcher_factory: Any, dataset: Any, index_queue: Any, data_queue: Any, done_event: Any,
                base_seed: int, init_fn: Any, worker_id: int, num_workers: int) -> None:
    global _worker_info
    seed = base_seed + worker_id
    _seed_worker(seed, worker_id)
    _worker_info = WorkerInfo(id=worker_id, num_workers=num_workers, seed=seed, dataset=dataset)
    init_exception = fetcher = None
    try:
        if init_fn is not None:
            init_fn(worker_id)
        fetcher = fetcher_factory()
    except Exception:
        init_exception = ExceptionWrapper(sys.exc_info(), f"in DataLoader worker process {worker_id}")
    iteration_end = False
    while True:
        try:
            task = index_queue.get(timeout=MP_STATUS_CHECK_INTERVAL)
        except queue.Empty:
            if done_event.is_set():
                break
            continue
        if task is None:
            break
        if isinstance(task, ResumeIteration):
            # A new epoch of persistent workers: a fresh fetcher restarts an IterableDataset's iterator.
            iteration_end = False
            if init_exception is None:
                fetcher = fetcher_factory()
            data_queue.put((task, None))
            continue
        if done_event.is_set() or iteration_end:
            continue
        idx, index = task
        if init_exception is not None:
            data, init_exception = init_exception, None
        else:
            try:
                data = fetcher.fetch(index)
            except StopIteration:
                # Only an IterableDataset runs out; the main process stops sending this worker tasks.
                data = IterableDatasetStopIteration(worker_id)
                iteration_end = True
            except Exception:
                data = ExceptionWrapper(sys.exc_info(), f"in DataLoader worker process {worker_id}")
        data_queue.put((idx, data))
    data_queue.cancel_join_thread()
