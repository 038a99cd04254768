"""Data utilities, imported as in PyTorch: ``ember.utils.data``."""
