"""The base class of ember's image data sets, as ``torchvision.datasets.VisionDataset``.

Images are NumPy arrays where torchvision returns PIL images (ember does not depend on Pillow): ``uint8``
of shape ``(H, W)`` for grey-scale and ``(H, W, C)`` for colour, which ``transforms.ToTensor`` turns into
float ``(C, H, W)`` tensors in [0, 1] exactly as it does PIL images.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from ...utils.data import Dataset


class StandardTransform:
    """Applies ``transform`` to the input and ``target_transform`` to the target of one sample."""

    def __init__(self, transform: Callable | None = None, target_transform: Callable | None = None) -> None:
        self.transform = transform
        self.target_transform = target_transform

    def __call__(self, input: Any, target: Any) -> tuple[Any, Any]:
        if self.transform is not None:
            input = self.transform(input)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return input, target

    def _format_transform_repr(self, transform: Callable, head: str) -> list[str]:
        lines = repr(transform).splitlines()
        return [f"{head}{lines[0]}"] + [" " * len(head) + line for line in lines[1:]]

    def __repr__(self) -> str:
        body = [self.__class__.__name__]
        if self.transform is not None:
            body += self._format_transform_repr(self.transform, "Transform: ")
        if self.target_transform is not None:
            body += self._format_transform_repr(self.target_transform, "Target transform: ")
        return "\n".join(body)


class VisionDataset(Dataset):
    """Base class for image data sets: stores ``root`` and the transforms, prints like torchvision's.

    Args:
        root: directory of the data set (``~`` is expanded); ``None`` where the data ship with ember.
        transforms: a callable taking and returning ``(image, target)``; exclusive with the next two.
        transform: a callable applied to the image (e.g. ``transforms.ToTensor()``).
        target_transform: a callable applied to the target.
    """

    _repr_indent = 4

    def __init__(self, root: str | os.PathLike | None = None, transforms: Callable | None = None,
                 transform: Callable | None = None, target_transform: Callable | None = None) -> None:
        if isinstance(root, str):
            root = os.path.expanduser(root)
        self.root = root
        has_transforms = transforms is not None
        has_separate_transform = transform is not None or target_transform is not None
        if has_transforms and has_separate_transform:
            raise ValueError("Only transforms or transform/target_transform can be passed as argument")
        self.transform = transform
        self.target_transform = target_transform
        if has_separate_transform:
            transforms = StandardTransform(transform, target_transform)
        self.transforms = transforms

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError

    def extra_repr(self) -> str:
        """Lines added to the repr by subclasses (the split, for instance)."""
        return ""

    def __repr__(self) -> str:
        head = "Dataset " + self.__class__.__name__
        body = [f"Number of datapoints: {self.__len__()}"]
        if self.root is not None:
            body.append(f"Root location: {self.root}")
        body += self.extra_repr().splitlines()
        if self.transforms is not None:
            body += [repr(self.transforms)]
        lines = [head] + [" " * self._repr_indent + line for line in body]
        return "\n".join(lines)

    def _apply_transforms(self, image: Any, target: Any) -> tuple[Any, Any]:
        if self.transforms is not None:
            image, target = self.transforms(image, target)
        return image, target


class ImageClassification(VisionDataset):
    """An in-memory image classification split: ``data`` (images), ``targets`` (labels), ``classes``, ``train``.

    Subclasses fill ``data`` with ``uint8`` NumPy images and ``targets`` with int labels; an item is a copy
    of one image (so transforms may write to it) and its label, both transformed.
    """

    classes: list[str] = []
    train: bool = True

    @property
    def class_to_idx(self) -> dict[str, int]:
        return {name: index for index, name in enumerate(self.classes)}

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        return self._apply_transforms(self.data[index].copy(), self.targets[index])

    def __len__(self) -> int:
        return len(self.data)

    def extra_repr(self) -> str:
        return f"Split: {'Train' if self.train is True else 'Test'}"


def find_file(directories: list[str], name: str) -> str | None:
    """The first of ``dir/name`` and ``dir/name.gz`` that exists, over ``directories`` in order."""
    for directory in directories:
        for candidate in (name, name + ".gz"):
            path = os.path.join(directory, candidate)
            if os.path.isfile(path):
                return path
    return None


def not_downloadable(dataset: str, where: str, files: list[str], source: str) -> RuntimeError:
    """The error raised when a data set's files are missing: ember never downloads."""
    listing = ", ".join(files)
    return RuntimeError(f"{dataset} not found: expected {listing} in {where}. ember does not download data sets: "
                        f"get the files from {source} and put them there.")
