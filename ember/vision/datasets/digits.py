"""The bundled 8x8 handwritten digits (UCI, CC BY 4.0): a real data set that needs no download."""

from __future__ import annotations

import gzip
import os
from collections.abc import Callable

import numpy as np

from .mnist import MNIST
from .vision import ImageClassification

_BUNDLED = os.path.join(os.path.dirname(__file__), "data", "digits.csv.gz")
_SIDE = 8
_MAX_VALUE = 16


def _read_digits_csv(path: str) -> tuple[np.ndarray, np.ndarray]:
    """Parses and checks the CSV: rows of 64 pixel counts in 0..16 and a label in 0..9."""
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="ascii") as f:
            lines = [line for line in f.read().splitlines() if line.strip()]
        if not lines:
            raise ValueError("the file holds no rows")
        table = np.loadtxt(lines, delimiter=",", dtype=np.int64, ndmin=2)
    except (OSError, EOFError, ValueError) as error:
        raise ValueError(f"cannot read the digits CSV {path}: {error}") from error
    if table.shape[1] != _SIDE * _SIDE + 1:
        raise ValueError(f"{path}: expected {_SIDE * _SIDE + 1} columns (64 pixels and a label) per row, "
                         f"got {table.shape[1]}")
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > _MAX_VALUE:
        raise ValueError(f"{path}: pixel values must lie in 0..{_MAX_VALUE}, found {pixels.min()}..{pixels.max()}")
    if labels.min() < 0 or labels.max() > 9:
        raise ValueError(f"{path}: labels must lie in 0..9, found {labels.min()}..{labels.max()}")
    return pixels.reshape(-1, _SIDE, _SIDE), labels


class Digits(ImageClassification):
    """The 8x8 handwritten digits: 1,797 grey-scale images of 0..9 from the UCI ML repository (CC BY 4.0).

    The data ship with ember (``ember/vision/datasets/data/digits.csv.gz``, credited in the README beside
    it). The file has no train/test split, so one is drawn here: a permutation seeded by ``split_seed``
    puts ``round(test_fraction * 1797)`` images in the test split and the rest in the train split. The two
    are disjoint, cover the whole file, and are the same on every machine for the same seed.

    Images are ``uint8`` NumPy arrays of shape ``(8, 8)``: the file's pixel counts 0..16 are rescaled to
    0..255 as ``value * 255 // 16``, so ``transforms.ToTensor()`` gives ``float32`` tensors of shape
    ``(1, 8, 8)`` in [0, 1], as it does for MNIST.

    Args:
        root: a directory holding ``digits.csv.gz`` (or ``digits.csv``) to read instead of the bundled copy;
            ``None`` (default) reads the bundled copy.
        train: the train split if True (default), else the test split.
        transform: a callable applied to the image, e.g. ``transforms.ToTensor()``.
        target_transform: a callable applied to the label.
        split_seed: seed of the permutation that draws the split.
        test_fraction: the share of images in the test split, strictly between 0 and 1.

    Attributes:
        data: ``uint8`` array of shape ``(N, 8, 8)`` of this split's images (values 0..255).
        targets: list of this split's labels (ints 0..9).
        classes: the class names, ``'0 - zero'`` to ``'9 - nine'`` as ``MNIST.classes``.

    Example::

        >>> from ember.vision import datasets, transforms
        >>> train = datasets.Digits(train=True, transform=transforms.ToTensor())
        >>> image, label = train[0]
        >>> image.shape
        ember.Size([1, 8, 8])
    """

    classes = MNIST.classes

    def __init__(self, root: str | os.PathLike | None = None, train: bool = True, transform: Callable | None = None,
                 target_transform: Callable | None = None, split_seed: int = 0, test_fraction: float = 0.2) -> None:
        super().__init__(root, transform=transform, target_transform=target_transform)
        if not 0.0 < test_fraction < 1.0:
            raise ValueError(f"test_fraction must lie strictly between 0 and 1, got {test_fraction}")
        self.train = train
        self.split_seed = split_seed
        self.test_fraction = test_fraction
        pixels, labels = _read_digits_csv(self._csv_path())
        count = len(labels)
        test_count = int(round(test_fraction * count))
        if not 0 < test_count < count:
            raise ValueError(f"test_fraction={test_fraction} of {count} images leaves an empty split")
        order = np.random.default_rng(split_seed).permutation(count)
        # Sorted so each split keeps the file's order: only membership depends on the seed.
        chosen = np.sort(order[test_count:] if train else order[:test_count])
        self.data = (pixels[chosen] * 255 // _MAX_VALUE).astype(np.uint8)
        self.targets = [int(label) for label in labels[chosen]]

    def _csv_path(self) -> str:
        if self.root is None:
            return _BUNDLED
        for name in ("digits.csv.gz", "digits.csv"):
            path = os.path.join(self.root, name)
            if os.path.isfile(path):
                return path
        raise RuntimeError(f"Digits not found: expected digits.csv.gz or digits.csv in {self.root}; pass root=None "
                           "to use the copy bundled with ember")
