"""ember: a PyTorch-style deep-learning framework whose heart is a compiler.

``import ember as torch`` runs ordinary PyTorch tensor code: the same names, defaults and errors.
"""

from __future__ import annotations

from . import autograd, backends, cuda, jit, nn, optim, utils
from .autograd import enable_grad, inference_mode, is_grad_enabled, is_inference_mode_enabled, no_grad, set_grad_enabled
from .serialize import load, save
from .tensor import FAMILIES as _FAMILIES
from .tensor import Size, Tensor, device
from .tensor.dtypes import (
    bfloat16,
    bool,
    can_cast,
    double,
    dtype,
    float,
    float16,
    float32,
    float64,
    get_default_dtype,
    half,
    int,
    int8,
    int16,
    int32,
    int64,
    long,
    promote_types,
    result_type,
    set_default_dtype,
    short,
    uint8,
)

__version__ = "0.1.0"


def _export_families() -> None:
    namespace = globals()
    for family in _FAMILIES:
        for name in family.__all__:
            namespace[name] = getattr(family, name)


_export_families()


def is_tensor(obj: object) -> bool:
    """True when ``obj`` is an ember Tensor."""
    return isinstance(obj, Tensor)


def numel(input: Tensor) -> int:
    """The number of elements of ``input``."""
    return input.numel()


def set_num_threads(count: int) -> None:
    """Use up to ``count`` threads in each large compiled kernel (``torch.set_num_threads``); results do not
    depend on it. Raises RuntimeError when ``count`` is not a positive int, as torch does."""
    from ember_runtime.cpu import threadpool

    threadpool.set_num_threads(count)


def get_num_threads() -> int:
    """The number of threads large compiled kernels use (default: the usable CPUs, or ``OMP_NUM_THREADS``)."""
    from ember_runtime.cpu import threadpool

    return threadpool.get_num_threads()
