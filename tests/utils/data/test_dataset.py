"""Datasets and random_split against torch.utils.data: indexing, lengths, errors and seeded splits."""

from __future__ import annotations

import numpy as np
import pytest

import ember
from ember.utils.data import ChainDataset, ConcatDataset, Dataset, IterableDataset, Subset, TensorDataset, random_split
from tests.oracle import torch
from tests.utils.data.helpers import assert_same_batch

tud = torch.utils.data


def _tensor_datasets():
    x = np.arange(24, dtype=np.float32).reshape(6, 4)
    y = np.arange(6)
    return TensorDataset(ember.from_numpy(x), ember.from_numpy(y)), tud.TensorDataset(torch.from_numpy(x),
                                                                                       torch.from_numpy(y))


@pytest.mark.parametrize("index", [0, 3, -1, slice(1, 4), [0, 2]])
def test_tensor_dataset_indexing(index):
    e, t = _tensor_datasets()
    assert len(e) == len(t) == 6
    idx_t = torch.tensor(index) if isinstance(index, list) else index
    idx_e = ember.tensor(index) if isinstance(index, list) else index
    assert_same_batch(e[idx_e], t[idx_t])


def test_tensor_dataset_size_mismatch():
    with pytest.raises(AssertionError, match="Size mismatch between tensors"):
        TensorDataset(ember.zeros(3), ember.zeros(4))


def test_base_classes_raise_like_torch():
    with pytest.raises(NotImplementedError, match="Subclasses of Dataset should implement __getitem__"):
        Dataset()[0]
    with pytest.raises(NotImplementedError):
        iter(IterableDataset())


@pytest.mark.parametrize("index", [0, 2, 3, 7, -1, -8])
def test_concat_dataset_indexing(index):
    parts = [list(range(3)), list(range(10, 14)), [20]]
    e, t = ConcatDataset(parts), tud.ConcatDataset(parts)
    assert len(e) == len(t) == 8
    assert e.cumulative_sizes == t.cumulative_sizes
    assert e[index] == t[index]


def test_concat_dataset_errors_match_torch():
    e = ConcatDataset([list(range(3))])
    with pytest.raises(ValueError, match="absolute value of index should not exceed dataset length"):
        e[-4]
    with pytest.raises(AssertionError, match="datasets should not be an empty iterable"):
        ConcatDataset([])
    with pytest.raises(AssertionError, match="ConcatDataset does not support IterableDataset"):
        ConcatDataset([IterableDataset()])


def test_dataset_add_gives_concat_and_chain():
    class Squares(Dataset):
        def __getitem__(self, i):
            return i * i

        def __len__(self):
            return 3

    class Stream(IterableDataset):
        def __init__(self, n):
            self.n = n

        def __iter__(self):
            return iter(range(self.n))

        def __len__(self):
            return self.n

    both = Squares() + Squares()
    assert isinstance(both, ConcatDataset) and [both[i] for i in range(6)] == [0, 1, 4, 0, 1, 4]
    chained = Stream(2) + Stream(3)
    assert isinstance(chained, ChainDataset) and list(chained) == [0, 1, 0, 1, 2] and len(chained) == 5


def test_subset_indexing_and_getitems():
    data = list(range(100, 110))
    e, t = Subset(data, [9, 0, 4]), tud.Subset(data, [9, 0, 4])
    assert len(e) == len(t) == 3
    assert [e[i] for i in range(3)] == [t[i] for i in range(3)] == [109, 100, 104]
    assert e.__getitems__([2, 0]) == t.__getitems__([2, 0]) == [104, 109]
    x = ember.arange(10)
    assert Subset(x, [1, 5])[[0, 1]].tolist() == [1, 5]


@pytest.mark.parametrize("n, lengths", [(10, [3, 7]), (10, [0.3, 0.7]), (11, [0.5, 0.5]), (10, [0.1, 0.1, 0.8]),
                                        (7, [1 / 3, 1 / 3, 1 / 3]), (5, [5, 0])])
def test_random_split_sizes_match_torch(n, lengths):
    e = random_split(list(range(n)), lengths, generator=ember.Generator().manual_seed(0))
    t = tud.random_split(list(range(n)), lengths, generator=torch.Generator().manual_seed(0))
    assert [len(s) for s in e] == [len(s) for s in t]
    items = sorted(x for s in e for x in (s[i] for i in range(len(s))))
    assert items == list(range(n))  # a partition: every item exactly once


def test_random_split_is_reproducible():
    g = ember.Generator
    a = random_split(range(20), [0.25, 0.75], generator=g().manual_seed(3))
    b = random_split(range(20), [0.25, 0.75], generator=g().manual_seed(3))
    c = random_split(range(20), [0.25, 0.75], generator=g().manual_seed(4))
    assert [s.indices for s in a] == [s.indices for s in b]
    assert [s.indices for s in a] != [s.indices for s in c]
    ember.manual_seed(5)
    d = random_split(range(20), [5, 15])
    ember.manual_seed(5)
    assert [s.indices for s in random_split(range(20), [5, 15])] == [s.indices for s in d]


def test_random_split_errors_match_torch():
    with pytest.raises(ValueError, match="Sum of input lengths does not equal the length of the input dataset!"):
        random_split(range(10), [3, 3])
    with pytest.raises(ValueError, match="Fraction at index 1 is not between 0 and 1"):
        random_split(range(10), [0.5, 1.2, -0.7])
    with pytest.warns(UserWarning, match="Length of split at index 1 is 0"):
        random_split(range(2), [0.1, 0.1, 0.8])
