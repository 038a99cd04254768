"""``ember.cuda``: whether a CUDA GPU can be used, asked of the driver itself.

ember has no CUDA eager backend yet; tensors on ``'cuda'`` are refused with a clear error. ``is_available``
still gives the true answer so that scripts written ``device = 'cuda' if ember.cuda.is_available() else
'cpu'`` take the CPU path here.
"""

from __future__ import annotations

import functools

__all__ = ["is_available", "device_count"]


@functools.lru_cache(maxsize=1)
def _driver_device_count() -> int:
    """Devices the CUDA driver reports; 0 when cuda-python is missing, no driver is loaded or init fails."""
    try:
        from cuda.bindings import driver
    except ImportError:
        return 0
    try:
        (err,) = driver.cuInit(0)
        if err != driver.CUresult.CUDA_SUCCESS:
            return 0
        err, count = driver.cuDeviceGetCount()
    except RuntimeError:
        # cuda-python raises a RuntimeError subclass when libcuda.so itself cannot be loaded.
        return 0
    return count if err == driver.CUresult.CUDA_SUCCESS else 0


def device_count() -> int:
    """The number of CUDA devices the driver can see (0 without a driver)."""
    return _driver_device_count()


def is_available() -> bool:
    """True when a CUDA driver is loaded and reports at least one GPU."""
    return _driver_device_count() > 0
