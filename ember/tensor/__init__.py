"""Tensors, dtypes, devices, the op registry and the dispatcher, and every eager op by family.

Each family module under ``ops/`` defines its primitive ops with ``defop``, its public functions, and
attaches them as Tensor methods; its ``__all__`` lists what ``ember`` re-exports.
"""

from . import creation, dtypes, printing, random
from .devices import device
from .dispatch import add_dispatch_hook, dispatch
from .ops import copy, elementwise, indexing, linalg, ranges, reduction, shape, sorting
from .registry import OPS, Meta, OpDef, defop
from .tensor import Size, Tensor

FAMILIES = (creation, random, copy, elementwise, reduction, shape, indexing, sorting, linalg, ranges)

__all__ = ["OPS", "Meta", "OpDef", "Size", "Tensor", "add_dispatch_hook", "defop", "device", "dispatch", "dtypes",
           "printing", "FAMILIES"]
