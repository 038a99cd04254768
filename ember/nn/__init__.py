"""Neural-network modules and parameters, as ``torch.nn``."""

from . import functional
from .modules import Module, ModuleDict, ModuleList, ParameterList, Sequential
from .parameter import Parameter

__all__ = ["Module", "Parameter", "Sequential", "ModuleList", "ModuleDict", "ParameterList"]
