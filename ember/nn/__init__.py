"""Neural-network modules, layers, losses and init (issue: Train real models).

This package is a placeholder in the layer map; it gains its contents with that issue."""
