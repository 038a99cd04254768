"""``ember.save`` / ``ember.load`` (ember's format, PyTorch ``.pt`` import) and the safetensors format.

``docs/serialization.md`` describes the file format and the safety rules.
"""

from . import safetensors
from .api import load, save

__all__ = ["load", "safetensors", "save"]
