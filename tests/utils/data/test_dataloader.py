"""DataLoader against torch.utils.data.DataLoader: batches, lengths, argument errors, seeding and workers."""

from __future__ import annotations

import multiprocessing
import os

import numpy as np
import pytest

import ember
from ember.utils.data import (
    BatchSampler,
    DataLoader,
    Dataset,
    IterableDataset,
    SequentialSampler,
    SubsetRandomSampler,
    TensorDataset,
    get_worker_info,
)
from tests.oracle import torch
from tests.utils.data.helpers import assert_same_batch

tud = torch.utils.data


class Records(Dataset):
    """Dict samples with a tensor, an int, a float and a string: exercises collation through the loader."""

    def __init__(self, library, n=7):
        self.library, self.n = library, n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return {"x": self.library.full((2,), float(i)), "label": i, "w": 0.5 * i, "name": f"r{i}"}

    def __len__(self):
        return self.n


class Stream(IterableDataset):
    """0 .. n-1, split between workers by get_worker_info as PyTorch's documentation shows."""

    def __init__(self, n, info):
        self.n, self.info = n, info

    def __iter__(self):
        info = self.info()
        if info is None:
            return iter(range(self.n))
        return iter(range(info.id, self.n, info.num_workers))

    def __len__(self):
        return self.n


class TorchStream(Stream, tud.IterableDataset):
    """The same stream as a torch IterableDataset, for the oracle."""


class Failing(Dataset):
    def __getitem__(self, i):
        if i == 3:
            raise KeyError("bad sample 3")
        return i

    def __len__(self):
        return 6


@pytest.mark.parametrize("kwargs", [{}, {"batch_size": 3}, {"batch_size": 3, "drop_last": True}, {"batch_size": None},
                                    {"batch_size": 10}, {"batch_size": 7, "drop_last": True}])
def test_sequential_batches_match_torch(kwargs):
    expected = list(tud.DataLoader(Records(torch), **kwargs))
    actual = list(DataLoader(Records(ember), **kwargs))
    assert len(actual) == len(expected) == len(DataLoader(Records(ember), **kwargs))
    for a, e in zip(actual, expected, strict=True):
        assert_same_batch(a, e)


def test_tensor_dataset_batches_match_torch():
    x = np.arange(30, dtype=np.float32).reshape(10, 3)
    y = np.arange(10)
    e = DataLoader(TensorDataset(ember.from_numpy(x), ember.from_numpy(y)), batch_size=4)
    t = tud.DataLoader(tud.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=4)
    for a, b in zip(e, t, strict=True):
        assert_same_batch(a, b)


def test_sampler_batch_sampler_and_collate_fn():
    sampler = SubsetRandomSampler([1, 3, 5], generator=ember.Generator().manual_seed(0))
    assert sorted(DataLoader(range(10), sampler=sampler, batch_size=None)) == [1, 3, 5]
    batch_sampler = BatchSampler(SequentialSampler(range(5)), 2, False)
    assert [b.tolist() for b in DataLoader(range(10, 15), batch_sampler=batch_sampler)] == [[10, 11], [12, 13], [14]]
    assert len(DataLoader(range(5), batch_sampler=batch_sampler)) == 3
    assert list(DataLoader(range(5), batch_size=2, collate_fn=sum)) == [1, 5, 4]


@pytest.mark.parametrize("kwargs, message", [
    ({"shuffle": True, "sampler": SequentialSampler(range(4))}, "sampler option is mutually exclusive with shuffle"),
    ({"batch_size": 2, "batch_sampler": [[0]]}, "batch_sampler option is mutually exclusive with batch_size"),
    ({"drop_last": True, "batch_sampler": [[0]]}, "batch_sampler option is mutually exclusive"),
    ({"shuffle": True, "batch_sampler": [[0]]}, "batch_sampler option is mutually exclusive"),
    ({"batch_size": None, "drop_last": True}, "batch_size=None option disables auto-batching"),
    ({"num_workers": -1}, "num_workers option should be non-negative"),
    ({"timeout": -1}, "timeout option should be non-negative"),
    ({"prefetch_factor": 2}, "prefetch_factor option could only be specified in multiprocessing"),
    ({"batch_size": 0}, "batch_size should be a positive integer value"),
    ({"multiprocessing_context": "fork"}, "multiprocessing_context can only be used with multi-process loading"),
    ({"multiprocessing_context": "nope", "num_workers": 1}, "should specify a valid start method in"),
])
def test_argument_errors_match_torch(kwargs, message):
    with pytest.raises(ValueError, match=message):
        tud.DataLoader(range(4), **kwargs)
    with pytest.raises(ValueError, match=message):
        DataLoader(range(4), **kwargs)


def test_iterable_dataset_errors_and_attributes_frozen():
    stream = Stream(4, get_worker_info)
    for kwargs in ({"shuffle": True}, {"sampler": [0]}, {"batch_sampler": [[0]]}):
        with pytest.raises(ValueError, match="DataLoader with IterableDataset: expected unspecified"):
            DataLoader(stream, **kwargs)
    loader = DataLoader(range(4))
    with pytest.raises(ValueError, match="batch_size attribute should not be set after DataLoader is initialized"):
        loader.batch_size = 2


@pytest.mark.parametrize("batch_size, drop_last", [(None, False), (1, False), (3, False), (3, True)])
def test_iterable_dataset_matches_torch(batch_size, drop_last):
    e = DataLoader(Stream(8, get_worker_info), batch_size=batch_size, drop_last=drop_last)
    t = tud.DataLoader(TorchStream(8, tud.get_worker_info), batch_size=batch_size, drop_last=drop_last)
    expected = list(t)
    assert len(e) == len(t)
    for a, b in zip(list(e), expected, strict=True):
        assert_same_batch(a, b)


def _epoch(loader):
    return [b.tolist() for b in loader]


def test_shuffle_is_reproducible_with_seed_and_generator():
    ember.manual_seed(0)
    first = _epoch(DataLoader(range(20), batch_size=4, shuffle=True))
    ember.manual_seed(0)
    assert _epoch(DataLoader(range(20), batch_size=4, shuffle=True)) == first
    assert sorted(sum(first, [])) == list(range(20)) and sum(first, []) != list(range(20))
    loader = DataLoader(range(20), batch_size=4, shuffle=True, generator=ember.Generator().manual_seed(3))
    epoch1, epoch2 = _epoch(loader), _epoch(loader)
    assert epoch1 != epoch2  # a new order every epoch
    again = DataLoader(range(20), batch_size=4, shuffle=True, generator=ember.Generator().manual_seed(3))
    assert [_epoch(again), _epoch(again)] == [epoch1, epoch2]


def _record_worker(worker_id):
    info = get_worker_info()
    assert info is not None and info.id == worker_id
    info.dataset.seen_by.append((worker_id, info.num_workers, os.getpid()))


class Tracked(Dataset):
    def __init__(self, n):
        self.n, self.seen_by = n, []

    def __getitem__(self, i):
        info = get_worker_info()
        return ember.tensor([i, info.id, *self.seen_by[0][:2]])

    def __len__(self):
        return self.n


def test_workers_give_the_same_batches_as_main_process():
    for kwargs in ({"batch_size": 3}, {"batch_size": 3, "drop_last": True}, {"batch_size": None}):
        single = list(DataLoader(Records(ember, 11), **kwargs))
        multi = list(DataLoader(Records(ember, 11), num_workers=2, timeout=30, **kwargs))
        assert len(single) == len(multi)
        for a, b in zip(multi, single, strict=True):
            assert a["x"].tolist() == b["x"].tolist() and a["name"] == b["name"]


def test_worker_init_fn_and_worker_info():
    assert get_worker_info() is None
    batches = list(DataLoader(Tracked(6), batch_size=2, num_workers=2, worker_init_fn=_record_worker, timeout=30))
    rows = ember.cat(batches).tolist()
    assert [r[0] for r in rows] == list(range(6))  # in order, whichever worker finished first
    # Round-robin: batch k comes from worker k % 2, whose init fn ran with its own id and num_workers=2.
    assert [r[1:] for r in rows] == [[0, 0, 2]] * 2 + [[1, 1, 2]] * 2 + [[0, 0, 2]] * 2


def test_worker_seeds_differ_and_follow_the_generator():
    class Seeds(Dataset):
        def __getitem__(self, i):
            return get_worker_info().seed

        def __len__(self):
            return 4

    def seeds(seed):
        loader = DataLoader(Seeds(), num_workers=2, batch_size=None, timeout=30,
                            generator=ember.Generator().manual_seed(seed))
        return list(loader)

    a = seeds(1)
    assert a[0] != a[1] and a[0] == a[2] and a == seeds(1) and a != seeds(2)


def test_multiprocessing_context_choices():
    with pytest.raises(TypeError, match="multiprocessing_context option should be a valid context object"):
        DataLoader(range(4), num_workers=1, multiprocessing_context=3)
    for context in ("fork", multiprocessing.get_context("fork")):
        loader = DataLoader(range(4), batch_size=2, num_workers=1, multiprocessing_context=context, timeout=30)
        assert _epoch(loader) == [[0, 1], [2, 3]]


def test_iterable_dataset_with_workers():
    loader = DataLoader(Stream(10, get_worker_info), batch_size=2, num_workers=2, timeout=30)
    values = sorted(sum((b.tolist() for b in loader), []))
    assert values == list(range(10))


def test_worker_exception_is_reraised_and_early_break_is_clean():
    with pytest.raises(KeyError, match="bad sample 3"):
        list(DataLoader(Failing(), batch_size=None, num_workers=2, timeout=30))
    with pytest.raises(KeyError, match="bad sample 3"):
        list(DataLoader(Failing(), batch_size=None))
    it = iter(DataLoader(range(100), batch_size=2, num_workers=2, timeout=30))
    assert next(it).tolist() == [0, 1]
    it._shutdown_workers()
    assert all(not w.is_alive() for w in it._workers)


def test_timeout_raises():
    class Slow(Dataset):
        def __getitem__(self, i):
            import time

            time.sleep(1)
            return i

        def __len__(self):
            return 2

    with pytest.raises(RuntimeError, match="DataLoader timed out after 0.2 seconds"):
        next(iter(DataLoader(Slow(), num_workers=1, timeout=0.2)))


class Counting(Dataset):
    """Samples carry the pid of the worker that loaded them and how many times init ran in that worker."""

    def __init__(self, n):
        self.n, self.inits = n, 0

    def __getitem__(self, i):
        return ember.tensor([i, os.getpid(), self.inits])

    def __len__(self):
        return self.n


def _count_init(worker_id):
    get_worker_info().dataset.inits += 1


def test_persistent_workers_survive_epochs():
    with pytest.raises(ValueError, match="persistent_workers option needs num_workers > 0"):
        DataLoader(range(4), persistent_workers=True)
    loader = DataLoader(Counting(8), batch_size=2, num_workers=2, persistent_workers=True,
                        worker_init_fn=_count_init, timeout=30)
    first = ember.cat(list(loader)).tolist()
    it = iter(loader)
    next(it)  # leave an epoch early: its outstanding results must not leak into the next one
    second = ember.cat(list(iter(loader))).tolist()
    assert [r[0] for r in first] == [r[0] for r in second] == list(range(8))
    assert {r[1] for r in first} == {r[1] for r in second} and len({r[1] for r in first}) == 2
    assert all(r[2] == 1 for r in first + second)  # worker_init_fn ran once per worker, not per epoch
    stream = DataLoader(Stream(6, get_worker_info), batch_size=2, num_workers=2, persistent_workers=True, timeout=30)
    for _ in range(2):
        assert sorted(sum((b.tolist() for b in stream), [])) == list(range(6))
    stream._iterator._shutdown_workers()
    loader._iterator._shutdown_workers()


def test_loader_len_matches_torch():
    for kwargs in ({"batch_size": 3}, {"batch_size": 3, "drop_last": True}, {"batch_size": None}):
        assert len(DataLoader(range(10), **kwargs)) == len(tud.DataLoader(range(10), **kwargs))
        e = DataLoader(Stream(10, get_worker_info), **kwargs)
        assert len(e) == len(tud.DataLoader(TorchStream(10, tud.get_worker_info), **kwargs))
