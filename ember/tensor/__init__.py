"""Tensors, dtypes, devices, the op registry and the dispatcher, and every eager op by family.

Each family module under ``ops/`` defines its primitive ops with ``defop``, its public functions, and
attaches them as Tensor methods; its ``__all__`` lists what ``ember`` re-exports.
"""

from . import creation, dtypes, printing, random, sampling
from .devices import device
from .dispatch import add_dispatch_hook, dispatch
from .ops import (
    arithmetic,
    comparison,
    copy,
    elementwise,
    extrema,
    gather_scatter,
    indexing,
    linalg,
    ranges,
    reduction,
    scan,
    shape,
    softmax,
    sorting,
    statistics,
    ternary,
    unary,
    view_composites,
    views,
)
from .registry import OPS, Meta, OpDef, defop
from .tensor import Size, Tensor

FAMILIES = (creation, random, sampling, copy, elementwise, unary, arithmetic, comparison, ternary, reduction, extrema,
            statistics, softmax, scan, views, view_composites, shape, indexing, gather_scatter, sorting, linalg,
            ranges, printing)

__all__ = ["OPS", "Meta", "OpDef", "Size", "Tensor", "add_dispatch_hook", "defop", "device", "dispatch", "dtypes",
           "printing", "FAMILIES"]
