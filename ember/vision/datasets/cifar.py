"""CIFAR-10 from its binary batches (no pickle) or its python batches (through an allow-listed unpickler)."""

from __future__ import annotations

import importlib
import os
import pickle
from collections.abc import Callable
from typing import Any

import numpy as np

from ...serialize.restricted_pickle import latin1_encode
from .vision import ImageClassification, not_downloadable

_SIDE, _CHANNELS = 32, 3
_PIXELS = _SIDE * _SIDE * _CHANNELS
_RECORD = 1 + _PIXELS  # the binary version: one label byte, then the red, green and blue planes


def _numpy_attr(modules: tuple[str, ...], name: str) -> Any:
    """``name`` from the first importable module: numpy 2 moved ``numpy.core`` to ``numpy._core``."""
    for module in modules:
        try:
            return getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue
    raise ImportError(f"numpy provides none of {', '.join(f'{m}.{name}' for m in modules)}")


class RefusedPickleError(pickle.UnpicklingError):
    """A CIFAR python batch named a global outside the allow-list: the file is refused unread."""


class _BatchUnpickler(pickle.Unpickler):
    """Rebuilds only what CIFAR batches hold: dicts, lists, str/bytes, ints and NumPy arrays.

    Any other global (``os.system``, ``builtins.eval``, ...) is refused, so a crafted batch file cannot run
    code. Python 2-era batches name ``numpy.core.multiarray`` and NumPy 2 writes ``numpy._core``: both are
    mapped to whichever this NumPy has; ``_codecs.encode`` is how protocol-2 pickles spell bytes.
    """

    _MULTIARRAY = ("numpy._core.multiarray", "numpy.core.multiarray")
    _NUMERIC = ("numpy._core.numeric", "numpy.core.numeric")

    def __init__(self, file: Any, path: str) -> None:
        super().__init__(file, encoding="latin1")
        self.path = path

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("numpy", "ndarray"):
            return np.ndarray
        if (module, name) == ("numpy", "dtype"):
            return np.dtype
        if (module, name) == ("_codecs", "encode"):
            return latin1_encode
        if module in self._MULTIARRAY and name == "_reconstruct":
            return _numpy_attr(self._MULTIARRAY, name)
        if module in self._NUMERIC and name == "_frombuffer":
            return _numpy_attr(self._NUMERIC, name)
        raise RefusedPickleError(f"{self.path}: refusing to load global '{module}.{name}': CIFAR batches hold "
                                     "only dicts, lists and NumPy arrays, so this file is not one (or is malicious)")


def _entry(batch: dict, key: str, path: str) -> Any:
    for candidate in (key, key.encode("ascii")):
        if candidate in batch:
            return batch[candidate]
    raise ValueError(f"{path}: the batch has no '{key}' entry (keys: {sorted(map(str, batch))})")


def _read_python_batch(path: str) -> tuple[np.ndarray, list[int]]:
    with open(path, "rb") as f:
        try:
            batch = _BatchUnpickler(f, path).load()
        except RefusedPickleError:
            raise
        except Exception as error:  # a damaged pickle fails in many ways; all mean the same to the user
            raise ValueError(f"{path}: not a readable CIFAR python batch ({type(error).__name__}: {error})") from error
    if not isinstance(batch, dict):
        raise ValueError(f"{path}: a CIFAR python batch is a dict, got {type(batch).__name__}")
    data = np.asarray(_entry(batch, "data", path))
    labels = _entry(batch, "labels", path)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != _PIXELS:
        raise ValueError(f"{path}: 'data' must be a uint8 array of shape (N, {_PIXELS}), got {data.dtype.name} "
                         f"of shape {data.shape}")
    labels = [int(label) for label in labels]
    if len(labels) != len(data):
        raise ValueError(f"{path}: {len(data)} images but {len(labels)} labels")
    return data, labels


def _read_binary_batch(path: str) -> tuple[np.ndarray, list[int]]:
    with open(path, "rb") as f:
        raw = f.read()
    if not raw or len(raw) % _RECORD:
        raise ValueError(f"{path}: {len(raw)} bytes is not a whole, non-zero number of {_RECORD}-byte CIFAR-10 "
                         f"records (1 label byte + {_PIXELS} pixel bytes); the file is truncated or not a batch")
    records = np.frombuffer(raw, dtype=np.uint8).reshape(-1, _RECORD)
    return records[:, 1:].copy(), records[:, 0].tolist()


class CIFAR10(ImageClassification):
    """CIFAR-10: 60,000 colour images of 32x32 in 10 classes, read from the batches (ember never downloads).

    ``root`` holds ``cifar-10-batches-bin`` (the binary version: ``data_batch_1.bin`` ...
    ``data_batch_5.bin``, ``test_batch.bin``), read without pickle and preferred, or
    ``cifar-10-batches-py`` (the python version torchvision uses: ``data_batch_1`` ... ``test_batch``),
    read with an unpickler that refuses everything but dicts, lists and NumPy arrays.

    Images are ``uint8`` NumPy arrays of shape ``(32, 32, 3)`` (HWC) where torchvision returns PIL images;
    ``transforms.ToTensor()`` turns them into ``(3, 32, 32)`` float tensors in [0, 1].

    Args:
        root: the directory described above.
        train: the five training batches (50,000 images) if True (default), else the test batch.
        transform: a callable applied to the image.
        target_transform: a callable applied to the label.
        download: accepted for compatibility: with the files in place it changes nothing; without them
            the error says where to put them.

    Attributes:
        data: ``uint8`` array of shape ``(N, 32, 32, 3)``.
        targets: list of the labels (ints 0..9).
    """

    base_folder = "cifar-10-batches-py"
    binary_folder = "cifar-10-batches-bin"
    train_list = ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5"]
    test_list = ["test_batch"]
    source = "https://www.cs.toronto.edu/~kriz/cifar.html (the python or the binary version), extracted"
    classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

    def __init__(self, root: str | os.PathLike, train: bool = True, transform: Callable | None = None,
                 target_transform: Callable | None = None, download: bool = False) -> None:
        super().__init__(root, transform=transform, target_transform=target_transform)
        self.train = train
        names = self.train_list if train else self.test_list
        batches = [reader(path) for reader, path in self._batch_files(names)]
        data = np.concatenate([images for images, _ in batches])
        labels = [label for _, batch_labels in batches for label in batch_labels]
        bad = [label for label in labels if not 0 <= label < len(self.classes)]
        if bad:
            raise ValueError(f"{self.__class__.__name__} labels must lie in 0..{len(self.classes) - 1}, "
                             f"found {bad[0]} under {self.root}")
        # Stored planes are CHW; torchvision's (and PIL's) image layout is HWC.
        self.data = np.ascontiguousarray(data.reshape(-1, _CHANNELS, _SIDE, _SIDE).transpose(0, 2, 3, 1))
        self.targets = labels

    def _batch_files(self, names: list[str]) -> list[tuple[Callable, str]]:
        binary = [os.path.join(self.root, self.binary_folder, name + ".bin") for name in names]
        if all(os.path.isfile(path) for path in binary):
            return [(_read_binary_batch, path) for path in binary]
        python = [os.path.join(self.root, self.base_folder, name) for name in names]
        if all(os.path.isfile(path) for path in python):
            return [(_read_python_batch, path) for path in python]
        where = (f"{os.path.join(self.root, self.binary_folder)} (binary version, with .bin) or "
                 f"{os.path.join(self.root, self.base_folder)} (python version)")
        raise not_downloadable(self.__class__.__name__, where, names, self.source)
