"""Utilities, imported as in PyTorch: ``ember.utils.data``."""

from . import data
