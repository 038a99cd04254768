"""ember.save / ember.load, safetensors and PyTorch checkpoint import (issue: Train real models).

This package is a placeholder in the layer map; it gains its contents with that issue."""
