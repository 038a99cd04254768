"""MNIST and Fashion-MNIST from their IDX files, with a complete reader for the IDX format."""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np

from ...tensor.creation import from_numpy
from .vision import ImageClassification, find_file, not_downloadable

# IDX type codes (third magic byte) -> big-endian element types.
_IDX_DTYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
               0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_GZIP_MAGIC = b"\x1f\x8b"


def _read_maybe_gzipped(path: str) -> bytes:
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] != _GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as error:
        raise ValueError(f"{path}: corrupt gzip data ({error})") from error


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Reads an IDX file (the MNIST format), plain or gzip-compressed, into a native-endian NumPy array.

    The format: two zero bytes, a type code (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32,
    0x0E float64), the number of dimensions, then each dimension as a big-endian uint32, then the elements
    big-endian in C order.

    Raises:
        ValueError: naming the file, for a bad magic number, a truncated header or body, or trailing bytes.
    """
    path = os.fspath(path)
    raw = _read_maybe_gzipped(path)
    if len(raw) < 4:
        raise ValueError(f"{path}: truncated IDX file: {len(raw)} bytes, shorter than the 4-byte magic number")
    code, ndim = raw[2], raw[3]
    if raw[:2] != b"\x00\x00" or code not in _IDX_DTYPES:
        raise ValueError(f"{path}: not an IDX file: bad magic number 0x{raw[:4].hex()} (expected 0x0000 followed "
                         f"by a type code among {', '.join(f'0x{c:02X}' for c in _IDX_DTYPES)} and the rank)")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated IDX file: the header of a rank-{ndim} array needs {header} bytes, "
                         f"the file has {len(raw)}")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = _IDX_DTYPES[code]
    count = math.prod(shape)
    expected = count * dtype.itemsize
    found = len(raw) - header
    if found < expected:
        raise ValueError(f"{path}: truncated IDX file: shape {shape} of {dtype.name} needs {expected} data bytes "
                         f"after the {header}-byte header, the file has {found}")
    if found > expected:
        raise ValueError(f"{path}: {found - expected} unexpected bytes after the data of shape {shape}")
    array = np.frombuffer(raw, dtype=dtype, count=count, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


class MNIST(ImageClassification):
    """The MNIST handwritten digits read from their IDX files (ember never downloads).

    The four files (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
    ``t10k-labels-idx1-ubyte``), plain or with ``.gz``, are looked for in ``root/MNIST/raw`` (torchvision's
    layout) and then in ``root`` itself.

    Images are ``uint8`` NumPy arrays of shape ``(28, 28)`` where torchvision returns PIL images;
    ``transforms.ToTensor()`` turns them into ``(1, 28, 28)`` float tensors in [0, 1] all the same.

    Args:
        root: the directory described above.
        train: the 60,000 training images if True (default), else the 10,000 test images.
        transform: a callable applied to the image.
        target_transform: a callable applied to the label.
        download: accepted for compatibility: with the files in place it changes nothing; without them
            the error says where to put them.

    Attributes:
        data: ``uint8`` tensor of shape ``(N, 28, 28)``.
        targets: ``int64`` tensor of shape ``(N,)``.
    """

    resources = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"]
    source = "https://yann.lecun.com/exdb/mnist/ (or a mirror such as https://ossci-datasets.s3.amazonaws.com/mnist/)"
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five", "6 - six", "7 - seven",
               "8 - eight", "9 - nine"]

    def __init__(self, root: str | os.PathLike, train: bool = True, transform: Callable | None = None,
                 target_transform: Callable | None = None, download: bool = False) -> None:
        super().__init__(root, transform=transform, target_transform=target_transform)
        self.train = train
        prefix = "train" if train else "t10k"
        images_path = self._find(f"{prefix}-images-idx3-ubyte")
        labels_path = self._find(f"{prefix}-labels-idx1-ubyte")
        images, labels = read_idx(images_path), read_idx(labels_path)
        if images.ndim != 3 or images.dtype != np.uint8:
            raise ValueError(f"{images_path}: expected a 3-d uint8 array of images, got {images.ndim}-d "
                             f"{images.dtype.name} of shape {images.shape}")
        if labels.ndim != 1 or labels.dtype != np.uint8:
            raise ValueError(f"{labels_path}: expected a 1-d uint8 array of labels, got {labels.ndim}-d "
                             f"{labels.dtype.name} of shape {labels.shape}")
        if len(images) != len(labels):
            raise ValueError(f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels")
        self.data = from_numpy(images)
        self.targets = from_numpy(labels.astype(np.int64))

    @property
    def raw_folder(self) -> str:
        return os.path.join(self.root, self.__class__.__name__, "raw")

    def _find(self, name: str) -> str:
        path = find_file([self.raw_folder, os.fspath(self.root)], name)
        if path is None:
            raise not_downloadable(self.__class__.__name__, f"{self.raw_folder} or {self.root} (optionally .gz)",
                                   self.resources, self.source)
        return path

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        """Returns ``(image, label)``: a ``(28, 28)`` ``uint8`` array (a copy) and an int, both transformed."""
        image = self.data[index].numpy().copy()
        return self._apply_transforms(image, int(self.targets[index]))


class FashionMNIST(MNIST):
    """Fashion-MNIST: MNIST's file names and format, read from ``root/FashionMNIST/raw`` or ``root``."""

    source = "https://github.com/zalandoresearch/fashion-mnist"
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
               "Ankle boot"]
