"""Data sets: the bundled digits, MNIST IDX files and CIFAR-10 batches (written here), and DataLoader batching."""

from __future__ import annotations

import gzip
import os
import pickle
import re
import struct

import numpy as np
import pytest

import ember
from ember.utils.data import DataLoader
from ember.vision import datasets, transforms
from ember.vision.datasets import CIFAR10, MNIST, Digits, FashionMNIST, RefusedPickleError, read_idx

BUNDLED = os.path.join(os.path.dirname(datasets.__file__), "data", "digits.csv.gz")


# ---------------------------------------------------------------- digits


def _file_rows() -> np.ndarray:
    with gzip.open(BUNDLED, "rt") as f:
        return np.loadtxt(f, delimiter=",", dtype=np.int64)


def _rows(dataset: Digits) -> list[tuple]:
    pairs = zip(dataset.data, dataset.targets, strict=True)
    return sorted(tuple(image.reshape(-1).tolist()) + (label,) for image, label in pairs)


def test_digits_bundled_file_is_the_uci_set():
    rows = _file_rows()
    assert rows.shape == (1797, 65)
    assert rows[:, :64].min() == 0 and rows[:, :64].max() == 16
    assert sorted(set(rows[:, 64].tolist())) == list(range(10))


def test_digits_split_is_disjoint_covers_the_file_and_is_scaled():
    train, test = Digits(train=True), Digits(train=False)
    assert (len(train), len(test)) == (1438, 359)
    rows = _file_rows()
    expected = sorted(tuple((rows[i, :64] * 255 // 16).tolist()) + (int(rows[i, 64]),) for i in range(len(rows)))
    # As multisets, train + test is exactly the file: nothing lost, nothing in both splits.
    assert sorted(_rows(train) + _rows(test)) == expected
    assert train.data.dtype == np.uint8 and train.data.shape == (1438, 8, 8)
    assert all(type(t) is int for t in train.targets)
    assert set(np.unique(train.data).tolist()) <= {v * 255 // 16 for v in range(17)}


def test_digits_split_is_deterministic_and_seeded():
    a, b = Digits(train=False, split_seed=3), Digits(train=False, split_seed=3)
    np.testing.assert_array_equal(a.data, b.data)
    assert a.targets == b.targets
    other = Digits(train=False, split_seed=4)
    assert _rows(other) != _rows(a)
    assert len(Digits(train=False, test_fraction=0.5)) == 898


def test_digits_from_root_csv_exact_split(tmp_path):
    rows = np.array([[i % 17] * 64 + [i % 10] for i in range(10)])
    np.savetxt(tmp_path / "digits.csv", rows, fmt="%d", delimiter=",")
    test = Digits(root=str(tmp_path), train=False, split_seed=7, test_fraction=0.3)
    train = Digits(root=str(tmp_path), train=True, split_seed=7, test_fraction=0.3)
    order = np.random.default_rng(7).permutation(10)
    expected_test = np.sort(order[:3])
    np.testing.assert_array_equal(test.data, np.full((3, 8, 8), 1) * (expected_test % 17 * 255 // 16)[:, None, None])
    assert test.targets == [int(i % 10) for i in expected_test]
    # Row i has label i: the splits are disjoint and cover the file.
    assert sorted(train.targets + test.targets) == list(range(10))


def test_digits_items_and_transforms():
    dataset = Digits(transform=transforms.ToTensor(), target_transform=lambda y: y + 100)
    image, label = dataset[5]
    assert image.shape == (1, 8, 8) and image.dtype == ember.float32
    np.testing.assert_allclose(image.numpy()[0], dataset.data[5] / 255, rtol=1e-6)
    assert label == dataset.targets[5] + 100
    raw, _ = Digits()[5]
    raw[:] = 0  # items are copies: editing one leaves the data set intact
    assert Digits().data[5].any()


def test_digits_repr_and_classes():
    dataset = Digits(train=False, transform=transforms.ToTensor())
    assert repr(dataset) == ("Dataset Digits\n    Number of datapoints: 359\n    Split: Test\n    StandardTransform\n"
                             "Transform: ToTensor()")
    assert dataset.classes[3] == "3 - three" and dataset.class_to_idx["9 - nine"] == 9


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1e-9])
def test_digits_bad_test_fraction(fraction):
    with pytest.raises(ValueError, match="test_fraction"):
        Digits(test_fraction=fraction)


def test_digits_bad_files(tmp_path):
    with pytest.raises(RuntimeError, match="Digits not found: expected digits.csv.gz"):
        Digits(root=str(tmp_path))
    (tmp_path / "digits.csv").write_text("1,2,3\n")
    with pytest.raises(ValueError, match=r"digits.csv: expected 65 columns"):
        Digits(root=str(tmp_path))
    (tmp_path / "digits.csv").write_text(",".join(["17"] * 64 + ["1"]) + "\n")
    with pytest.raises(ValueError, match=r"pixel values must lie in 0..16"):
        Digits(root=str(tmp_path))
    (tmp_path / "digits.csv").write_text("")
    with pytest.raises(ValueError, match=r"cannot read the digits CSV .*holds no rows"):
        Digits(root=str(tmp_path))


def test_dataloader_over_digits_batches_like_torchvision():
    loader = DataLoader(Digits(transform=transforms.ToTensor()), batch_size=32, shuffle=True)
    images, labels = next(iter(loader))
    assert images.shape == (32, 1, 8, 8) and images.dtype == ember.float32
    assert labels.shape == (32,) and labels.dtype == ember.int64
    assert float(images.max()) <= 1.0 and float(images.min()) >= 0.0
    assert sum(len(y) for _, y in loader) == 1438


# ---------------------------------------------------------------- IDX / MNIST

_CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D, np.float64: 0x0E}


def write_idx(path, array: np.ndarray, compress: bool = False) -> None:
    code = _CODES[array.dtype.type]
    raw = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    raw += array.astype(array.dtype.newbyteorder(">")).tobytes()
    with (gzip.open if compress else open)(path, "wb") as f:
        f.write(raw)


@pytest.mark.parametrize("dtype", list(_CODES))
@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_round_trips_every_type(tmp_path, dtype, compress):
    array = (np.arange(24).reshape(2, 3, 4) * (-1) ** np.arange(24).reshape(2, 3, 4)).astype(dtype)
    if dtype is np.uint8:
        array = np.abs(array).astype(dtype)
    write_idx(tmp_path / "a.idx", array, compress)
    result = read_idx(tmp_path / "a.idx")
    assert result.dtype == np.dtype(dtype) and result.dtype.isnative
    np.testing.assert_array_equal(result, array)


@pytest.mark.parametrize("payload, message", [
    (b"", "truncated IDX file: 0 bytes"),
    (b"\x00\x00\x08", "truncated IDX file: 3 bytes"),
    (b"\x01\x00\x08\x01\x00\x00\x00\x01\x05", "not an IDX file: bad magic number 0x01000801"),
    (b"\x00\x00\x0a\x01\x00\x00\x00\x01\x05", "not an IDX file: bad magic number 0x00000a01"),
    (b"\x00\x00\x08\x02\x00\x00\x00\x01", "the header of a rank-2 array needs 12 bytes, the file has 8"),
    (b"\x00\x00\x0c\x01\x00\x00\x00\x02" + b"\x00" * 7, "shape \\(2,\\) of int32 needs 8 data bytes .* has 7"),
    (b"\x00\x00\x08\x01\x00\x00\x00\x02" + b"\x00" * 3, "1 unexpected bytes after the data of shape \\(2,\\)"),
    (b"\x1f\x8b\x08\x00garbage", "corrupt gzip data"),
])
def test_read_idx_errors_name_the_file(tmp_path, payload, message):
    path = tmp_path / "bad-idx"
    path.write_bytes(payload)
    with pytest.raises(ValueError, match=f"{re.escape(str(path))}: .*{message}"):
        read_idx(path)


def _write_mnist(directory, train_count=5, test_count=3, compress=False, prefix=0):
    os.makedirs(directory, exist_ok=True)
    suffix = ".gz" if compress else ""
    for split, count in (("train", train_count), ("t10k", test_count)):
        images = ((np.arange(count * 28 * 28) + prefix) % 256).astype(np.uint8).reshape(count, 28, 28)
        labels = (np.arange(count) % 10).astype(np.uint8)
        write_idx(os.path.join(directory, f"{split}-images-idx3-ubyte{suffix}"), images, compress)
        write_idx(os.path.join(directory, f"{split}-labels-idx1-ubyte{suffix}"), labels, compress)


def test_mnist_torchvision_layout(tmp_path):
    _write_mnist(tmp_path / "MNIST" / "raw")
    train = MNIST(str(tmp_path), train=True, transform=transforms.ToTensor())
    test = MNIST(str(tmp_path), train=False)
    assert (len(train), len(test)) == (5, 3)
    assert train.data.dtype == ember.uint8 and train.data.shape == (5, 28, 28)
    assert train.targets.dtype == ember.int64 and train.targets.tolist() == [0, 1, 2, 3, 4]
    image, label = train[2]
    assert image.shape == (1, 28, 28) and image.dtype == ember.float32 and label == 2
    np.testing.assert_allclose(image.numpy()[0], train.data[2].numpy() / 255, rtol=1e-6)
    raw, _ = test[1]
    assert isinstance(raw, np.ndarray) and raw.dtype == np.uint8 and raw.shape == (28, 28)
    assert repr(test) == f"Dataset MNIST\n    Number of datapoints: 3\n    Root location: {tmp_path}\n    Split: Test"


def test_mnist_flat_gzipped_layout_and_download_flag(tmp_path):
    _write_mnist(tmp_path, compress=True)
    assert len(MNIST(str(tmp_path), train=True, download=True)) == 5
    with pytest.raises(RuntimeError, match="MNIST not found: .*ember does not download data sets"):
        MNIST(str(tmp_path / "empty"), download=True)
    with pytest.raises(RuntimeError, match=r"train-images-idx3-ubyte.*MNIST/raw"):
        MNIST(str(tmp_path / "empty"))


def test_mnist_inconsistent_files(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    _write_mnist(raw)
    write_idx(raw / "train-labels-idx1-ubyte", np.zeros(4, np.uint8))
    with pytest.raises(ValueError, match="holds 5 images but .*train-labels-idx1-ubyte holds 4 labels"):
        MNIST(str(tmp_path))
    write_idx(raw / "train-images-idx3-ubyte", np.zeros((4, 28 * 28), np.uint8))
    with pytest.raises(ValueError, match="train-images-idx3-ubyte: expected a 3-d uint8 array of images, got 2-d"):
        MNIST(str(tmp_path))
    write_idx(raw / "train-images-idx3-ubyte", np.zeros((4, 28, 28), np.float32))
    with pytest.raises(ValueError, match="got 3-d float32"):
        MNIST(str(tmp_path))


def test_fashion_mnist_uses_its_own_folder(tmp_path):
    _write_mnist(tmp_path / "FashionMNIST" / "raw", prefix=7)
    dataset = FashionMNIST(str(tmp_path), train=False)
    assert len(dataset) == 3 and dataset.classes[9] == "Ankle boot"
    assert dataset.data[0, 0, 0].item() == 7
    with pytest.raises(RuntimeError, match="^MNIST not found: .*/MNIST/raw"):
        MNIST(str(tmp_path))


# ---------------------------------------------------------------- CIFAR-10


def _cifar_images(count: int, seed: int) -> tuple[np.ndarray, list[int]]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, count).tolist()


def _planes(images: np.ndarray) -> np.ndarray:
    """The files' layout: per image the 1024 red, then green, then blue bytes."""
    return images.transpose(0, 3, 1, 2).reshape(len(images), 3072)


_COUNTS = (2, 1, 3, 1, 2, 2)  # images in data_batch_1 .. data_batch_5 and test_batch


def _cifar_batches(root, folder_name, suffix, seed, counts):
    """Creates ``root/folder_name`` and draws each batch: {file path: (images, labels)}."""
    folder = root / folder_name
    folder.mkdir(parents=True)
    names = [f"data_batch_{i}{suffix}" for i in range(1, 6)] + [f"test_batch{suffix}"]
    return {folder / name: _cifar_images(count, seed + index)
            for index, (name, count) in enumerate(zip(names, counts, strict=True))}


def _write_cifar_bin(root, seed=0, counts=_COUNTS):
    batches = _cifar_batches(root, "cifar-10-batches-bin", ".bin", seed, counts)
    for path, (images, labels) in batches.items():
        path.write_bytes(np.concatenate([np.array(labels, np.uint8)[:, None], _planes(images)], axis=1).tobytes())
    return {path.name: batch for path, batch in batches.items()}


def _write_cifar_py(root, seed=0, counts=_COUNTS, protocol=2, str_keys=False):
    batches = _cifar_batches(root, "cifar-10-batches-py", "", seed, counts)
    for path, (images, labels) in batches.items():
        entry = {b"batch_label": b"batch", b"labels": labels, b"data": _planes(images),
                 b"filenames": [b"x.png"] * len(labels)}
        if str_keys:  # what Python 2's pickles of the real files become with encoding="latin1"
            entry = {key.decode(): value for key, value in entry.items()}
        with open(path, "wb") as f:
            pickle.dump(entry, f, protocol=protocol)
    return {path.name: batch for path, batch in batches.items()}


def _expected(batches, names):
    return np.concatenate([batches[n][0] for n in names]), [y for n in names for y in batches[n][1]]


def test_cifar10_binary_batches(tmp_path):
    batches = _write_cifar_bin(tmp_path)
    train = CIFAR10(str(tmp_path), train=True)
    images, labels = _expected(batches, [f"data_batch_{i}.bin" for i in range(1, 6)])
    assert train.data.shape == (9, 32, 32, 3) and train.data.dtype == np.uint8
    np.testing.assert_array_equal(train.data, images)
    assert train.targets == labels
    test = CIFAR10(str(tmp_path), train=False, transform=transforms.ToTensor())
    image, label = test[1]
    assert image.shape == (3, 32, 32) and label == batches["test_batch.bin"][1][1]
    np.testing.assert_allclose(image.numpy(), batches["test_batch.bin"][0][1].transpose(2, 0, 1) / 255, rtol=1e-6)


@pytest.mark.parametrize("protocol, str_keys", [(2, False), (2, True), (pickle.DEFAULT_PROTOCOL, False), (5, False)])
def test_cifar10_python_batches(tmp_path, protocol, str_keys):
    batches = _write_cifar_py(tmp_path, protocol=protocol, str_keys=str_keys)
    train = CIFAR10(str(tmp_path))
    images, labels = _expected(batches, [f"data_batch_{i}" for i in range(1, 6)])
    np.testing.assert_array_equal(train.data, images)
    assert train.targets == labels and len(CIFAR10(str(tmp_path), train=False)) == 2
    image, label = train[0]
    assert isinstance(image, np.ndarray) and image.shape == (32, 32, 3) and label == labels[0]
    assert train.classes[0] == "airplane" and train.class_to_idx["truck"] == 9


def test_cifar10_prefers_the_binary_version(tmp_path):
    binary = _write_cifar_bin(tmp_path, seed=0)
    _write_cifar_py(tmp_path, seed=100)
    np.testing.assert_array_equal(CIFAR10(str(tmp_path), train=False).data, binary["test_batch.bin"][0])


class _Exploit:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return os.mkdir, (self.target,)


def test_cifar10_refuses_a_malicious_pickle(tmp_path):
    _write_cifar_py(tmp_path)
    target = str(tmp_path / "pwned")
    with open(tmp_path / "cifar-10-batches-py" / "test_batch", "wb") as f:
        pickle.dump({b"data": _Exploit(target), b"labels": []}, f)
    with pytest.raises(RefusedPickleError, match=r"test_batch: refusing to load global '(posix|os|nt)\.mkdir'"):
        CIFAR10(str(tmp_path), train=False)
    assert not os.path.exists(target)
    with open(tmp_path / "cifar-10-batches-py" / "test_batch", "wb") as f:
        pickle.dump({b"data": np.zeros((1, 3072), np.uint8), b"labels": [print]}, f)
    with pytest.raises(pickle.UnpicklingError, match="refusing to load global 'builtins.print'"):
        CIFAR10(str(tmp_path), train=False)


def test_cifar10_damaged_files(tmp_path):
    _write_cifar_bin(tmp_path)
    test_file = tmp_path / "cifar-10-batches-bin" / "test_batch.bin"
    test_file.write_bytes(test_file.read_bytes()[:-1])
    with pytest.raises(ValueError, match="test_batch.bin: 6145 bytes is not a whole, non-zero number of 3073-byte"):
        CIFAR10(str(tmp_path), train=False)
    test_file.write_bytes(bytes([10]) + bytes(3072))
    with pytest.raises(ValueError, match="labels must lie in 0..9, found 10"):
        CIFAR10(str(tmp_path), train=False)

    py_root = tmp_path / "py"
    _write_cifar_py(py_root)
    batch = py_root / "cifar-10-batches-py" / "test_batch"
    batch.write_bytes(b"not a pickle at all")
    with pytest.raises(ValueError, match="test_batch: not a readable CIFAR python batch"):
        CIFAR10(str(py_root), train=False)
    with open(batch, "wb") as f:
        pickle.dump({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, f)
    with pytest.raises(ValueError, match=r"'data' must be a uint8 array of shape \(N, 3072\), got uint8 of shape"):
        CIFAR10(str(py_root), train=False)
    with open(batch, "wb") as f:
        pickle.dump({b"data": np.zeros((2, 3072), np.uint8)}, f)
    with pytest.raises(ValueError, match="the batch has no 'labels' entry"):
        CIFAR10(str(py_root), train=False)
    with open(batch, "wb") as f:
        pickle.dump([1, 2], f)
    with pytest.raises(ValueError, match="a CIFAR python batch is a dict, got list"):
        CIFAR10(str(py_root), train=False)


def test_cifar10_missing(tmp_path):
    with pytest.raises(RuntimeError, match="CIFAR10 not found: .*cifar-10-batches-bin.*cifar-10-batches-py.*"
                                           "ember does not download"):
        CIFAR10(str(tmp_path), download=True)


def test_dataloader_over_cifar10(tmp_path):
    _write_cifar_bin(tmp_path)
    pipeline = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))])
    images, labels = next(iter(DataLoader(CIFAR10(str(tmp_path), transform=pipeline), batch_size=4)))
    assert images.shape == (4, 3, 32, 32) and images.dtype == ember.float32 and labels.dtype == ember.int64
