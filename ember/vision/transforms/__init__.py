"""Image transforms, as ``torchvision.transforms`` (``functional`` holds the function forms)."""

from . import functional
from .transforms import Compose, Lambda, Normalize, Pad, RandomCrop, RandomHorizontalFlip, ToTensor

__all__ = ["Compose", "Lambda", "Normalize", "Pad", "RandomCrop", "RandomHorizontalFlip", "ToTensor", "functional"]
