"""Define-by-run automatic differentiation (issue: Autograd).

This package is a placeholder in the layer map; it gains its contents with that issue."""
