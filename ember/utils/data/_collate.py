"""Default collation and conversion of samples into batches, with PyTorch's rules.

``default_collate`` (used when the DataLoader batches): tensors are stacked along a new first dimension,
NumPy arrays and scalars become tensors first, Python floats a float64 tensor, ints an int64 tensor (bools a
bool tensor), strings and bytes stay a list, mappings are collated key by key, tuples and lists are
transposed and collated position by position (a tuple sample gives a list, a namedtuple keeps its type).
``default_convert`` (used when ``batch_size=None``) only turns NumPy arrays and scalars into tensors,
recursing into the same containers.
"""

from __future__ import annotations

import collections.abc
import copy
import re
from typing import Any

import numpy as np

from ...tensor.tensor import Tensor

__all__ = ["default_collate", "default_convert"]

# NumPy dtypes that hold strings or Python objects cannot become tensors.
np_str_obj_array_pattern = re.compile(r"[SaUO]")

default_collate_err_msg_format = (
    "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}"
)


def _is_namedtuple(obj: Any) -> bool:
    return isinstance(obj, tuple) and hasattr(obj, "_fields")


def _rebuild_sequence(elem: Any, items: list) -> Any:
    """A container like ``elem`` holding ``items``: a copy for mutable ones, else the same type, else a list."""
    try:
        if isinstance(elem, collections.abc.MutableSequence):
            clone = copy.copy(elem)
            for i, item in enumerate(items):
                clone[i] = item
            return clone
        return type(elem)(items)
    except TypeError:
        # The sequence type may not accept a list in its constructor.
        return items


def _rebuild_mapping(elem: Any, items: dict) -> Any:
    try:
        if isinstance(elem, collections.abc.MutableMapping):
            clone = copy.copy(elem)
            clone.update(items)
            return clone
        return type(elem)(items)
    except TypeError:
        return items


def default_convert(data: Any) -> Any:
    """Turn NumPy arrays and scalars in ``data`` into tensors, keeping everything else (containers recursed)."""
    from ...tensor.creation import as_tensor

    if isinstance(data, Tensor):
        return data
    if isinstance(data, np.ndarray | np.generic):
        if np_str_obj_array_pattern.search(data.dtype.str) is not None:
            return data
        return as_tensor(np.asarray(data))
    if isinstance(data, collections.abc.Mapping):
        return _rebuild_mapping(data, {key: default_convert(data[key]) for key in data})
    if _is_namedtuple(data):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, str | bytes):
        return _rebuild_sequence(data, [default_convert(d) for d in data])
    return data


def default_collate(batch: list) -> Any:
    """Merge a list of samples into a batch (see the module docstring for the rules).

    Example::

        >>> default_collate([(0, 1.5), (1, 2.5)])
        [tensor([0, 1]), tensor([1.5000, 2.5000], dtype=ember.float64)]
    """
    from ...tensor import dtypes
    from ...tensor.creation import as_tensor, tensor
    from ...tensor.ops.shape import stack

    elem = batch[0]
    if isinstance(elem, Tensor):
        return stack(batch, 0)
    if isinstance(elem, np.ndarray):
        if np_str_obj_array_pattern.search(elem.dtype.str) is not None:
            raise TypeError(default_collate_err_msg_format.format(elem.dtype))
        return default_collate([as_tensor(b) for b in batch])
    if isinstance(elem, np.generic) and not isinstance(elem, np.str_ | np.bytes_):
        return as_tensor(np.array(batch))
    if isinstance(elem, float):
        return tensor(batch, dtype=dtypes.float64)
    if isinstance(elem, int):
        return tensor(batch)
    if isinstance(elem, str | bytes):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        return _rebuild_mapping(elem, {key: default_collate([d[key] for d in batch]) for key in elem})
    if _is_namedtuple(elem):
        return type(elem)(*(default_collate(samples) for samples in zip(*batch, strict=True)))
    if isinstance(elem, collections.abc.Sequence):
        elem_size = len(elem)
        if not all(len(e) == elem_size for e in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        transposed = list(zip(*batch, strict=True))
        if isinstance(elem, tuple):
            return [default_collate(samples) for samples in transposed]
        return _rebuild_sequence(elem, [default_collate(samples) for samples in transposed])
    raise TypeError(default_collate_err_msg_format.format(type(elem)))
