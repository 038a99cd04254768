"""Image data sets, as ``torchvision.datasets``: the bundled digits, and MNIST / CIFAR-10 from their files.

Images are NumPy ``uint8`` arrays (``H x W`` or ``H x W x C``) where torchvision returns PIL images;
``ember.vision.transforms.ToTensor`` treats them as it treats PIL images. ember never downloads.
"""

from .cifar import CIFAR10, RefusedPickleError
from .digits import Digits
from .mnist import MNIST, FashionMNIST, read_idx
from .vision import StandardTransform, VisionDataset

__all__ = ["CIFAR10", "Digits", "FashionMNIST", "MNIST", "RefusedPickleError", "StandardTransform", "VisionDataset",
           "read_idx"]
