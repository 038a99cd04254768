"""Samplers against torch.utils.data: deterministic orders, lengths, errors, and seeded reproducibility."""

from __future__ import annotations

from collections import Counter

import pytest

import ember
from ember.utils.data import (
    BatchSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)
from tests.oracle import torch

tud = torch.utils.data


def _gen(seed):
    return ember.Generator().manual_seed(seed)


def test_sequential_sampler_matches_torch():
    for n in (0, 1, 7):
        assert list(SequentialSampler(range(n))) == list(tud.SequentialSampler(range(n)))
        assert len(SequentialSampler(range(n))) == n


@pytest.mark.parametrize("n, batch_size, drop_last", [(10, 3, False), (10, 3, True), (9, 3, True), (2, 5, False),
                                                      (2, 5, True), (0, 2, False)])
def test_batch_sampler_matches_torch(n, batch_size, drop_last):
    e = BatchSampler(SequentialSampler(range(n)), batch_size, drop_last)
    t = tud.BatchSampler(tud.SequentialSampler(range(n)), batch_size, drop_last)
    assert list(e) == list(t)
    assert len(e) == len(t)


@pytest.mark.parametrize("kwargs, message", [({"batch_size": 0, "drop_last": False}, "batch_size should be a positive"),
                                             ({"batch_size": True, "drop_last": False}, "batch_size should be"),
                                             ({"batch_size": 2, "drop_last": 1}, "drop_last should be a boolean")])
def test_batch_sampler_errors_match_torch(kwargs, message):
    with pytest.raises(ValueError, match=message):
        tud.BatchSampler(range(3), **kwargs)
    with pytest.raises(ValueError, match=message):
        BatchSampler(range(3), **kwargs)


def test_random_sampler_is_a_seeded_permutation():
    a = list(RandomSampler(range(20), generator=_gen(1)))
    assert sorted(a) == list(range(20)) and a != list(range(20))
    assert a == list(RandomSampler(range(20), generator=_gen(1)))
    assert a != list(RandomSampler(range(20), generator=_gen(2)))
    ember.manual_seed(7)
    b = list(RandomSampler(range(20)))
    ember.manual_seed(7)
    assert b == list(RandomSampler(range(20)))


def test_random_sampler_reshuffles_each_pass():
    sampler = RandomSampler(range(30), generator=_gen(0))
    assert list(sampler) != list(sampler)


@pytest.mark.parametrize("replacement, num_samples", [(False, 25), (False, 4), (True, 70), (True, 5)])
def test_random_sampler_num_samples(replacement, num_samples):
    e = list(RandomSampler(range(10), replacement=replacement, num_samples=num_samples, generator=_gen(0)))
    t = list(tud.RandomSampler(range(10), replacement=replacement, num_samples=num_samples))
    assert len(e) == len(t) == num_samples
    assert all(0 <= i < 10 for i in e)
    if not replacement:  # every full pass is a permutation, as in torch
        assert sorted(e[:10 * (num_samples // 10)]) == sorted(list(range(10)) * (num_samples // 10))
    assert len(RandomSampler(range(10), replacement=replacement, num_samples=num_samples)) == num_samples


def test_random_sampler_errors_match_torch():
    with pytest.raises(TypeError, match="replacement should be a boolean value, but got replacement=1"):
        RandomSampler(range(3), replacement=1)
    with pytest.raises(ValueError, match="num_samples should be a positive integer value, but got num_samples=0"):
        RandomSampler(range(3), num_samples=0)
    with pytest.raises(ValueError, match="num_samples should be a positive integer value"):
        RandomSampler([])


def test_subset_random_sampler():
    indices = [3, 8, 11, 40]
    out = list(SubsetRandomSampler(indices, generator=_gen(0)))
    assert sorted(out) == sorted(indices) and len(SubsetRandomSampler(indices)) == 4
    assert out == list(SubsetRandomSampler(indices, generator=_gen(0)))


def test_weighted_random_sampler_follows_weights():
    weights = [0.0, 1.0, 3.0, 0.0]
    out = list(WeightedRandomSampler(weights, 4000, generator=_gen(0)))
    counts = Counter(out)
    assert set(counts) == {1, 2} and 2.6 < counts[2] / counts[1] < 3.4
    no_repeat = list(WeightedRandomSampler([1, 1, 1, 1], 4, replacement=False, generator=_gen(0)))
    assert sorted(no_repeat) == [0, 1, 2, 3]
    assert out == list(WeightedRandomSampler(weights, 4000, generator=_gen(0)))
    assert len(WeightedRandomSampler(weights, 7)) == 7


@pytest.mark.parametrize("args, kwargs, message", [
    (([1.0, 2.0], 0), {}, "num_samples should be a positive integer value, but got num_samples=0"),
    (([1.0, 2.0], 2), {"replacement": 1}, "replacement should be a boolean value, but got replacement=1"),
    (([[1.0, 2.0]], 2), {}, r"weights should be a 1d sequence but given weights have shape \(1, 2\)"),
])
def test_weighted_random_sampler_errors_match_torch(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        tud.WeightedRandomSampler(*args, **kwargs)
    with pytest.raises(ValueError, match=message):
        WeightedRandomSampler(*args, **kwargs)


def test_custom_sampler_subclass():
    class Reverse(Sampler):
        def __init__(self, n):
            self.n = n

        def __iter__(self):
            return iter(range(self.n - 1, -1, -1))

        def __len__(self):
            return self.n

    assert list(BatchSampler(Reverse(5), 2, False)) == [[4, 3], [2, 1], [0]]
