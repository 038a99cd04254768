"""Neural-network modules and parameters, as ``torch.nn``."""

from . import functional, init, utils
from .modules import *  # noqa: F403
from .modules import __all__ as _modules
from .parameter import Parameter

__all__ = ["Parameter", "functional", "init", "utils", *_modules]
