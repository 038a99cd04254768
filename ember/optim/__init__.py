"""Optimizers and learning-rate schedulers (issue: Train real models).

This package is a placeholder in the layer map; it gains its contents with that issue."""
