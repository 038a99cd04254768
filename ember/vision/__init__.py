"""Data sets and image transforms for ember, as torchvision: ``import ember.vision as torchvision``.

``ember.vision.datasets`` holds the bundled 8x8 digits and readers for MNIST (IDX) and CIFAR-10;
``ember.vision.transforms`` holds Compose, ToTensor, Normalize, Pad, RandomCrop, RandomHorizontalFlip
and Lambda, whose random draws come from ember's global generator (``ember.manual_seed``).
"""

from . import datasets, transforms

__all__ = ["datasets", "transforms"]
