"""The layers of :mod:`ember.nn`, one module per family, as ``torch.nn.modules``."""

from .container import ModuleDict, ModuleList, ParameterList, Sequential
from .module import Module

__all__ = ["Module", "Sequential", "ModuleList", "ModuleDict", "ParameterList"]
