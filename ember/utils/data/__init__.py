"""Datasets, samplers and DataLoader (issue: Train real models).

This package is a placeholder in the layer map; it gains its contents with that issue."""
