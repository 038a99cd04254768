"""Keep freed CPU memory for reuse: glibc's malloc settings for a process that allocates large arrays per op.

Every eager CPU op returns a fresh NumPy array, and a training step allocates and frees the same large buffers
(activations, im2col columns, gradients) again and again. With glibc's defaults, blocks above a dynamic
threshold come from ``mmap`` and a heap top above 128 KiB is trimmed on free, so each step maps fresh pages and
pays a page fault per 4 KiB on first touch: a third of a small CNN's training step (issue 4's benchmark).
Serving blocks up to 32 MiB from the heap, and trimming only past 256 MiB of free heap, makes the next step
reuse the same pages, as PyTorch's and NumPy's users get from jemalloc or tcmalloc.

Settings the user already chose (``MALLOC_*_`` environment variables, ``GLIBC_TUNABLES``) are left alone, and
other C libraries are not touched.
"""

from __future__ import annotations

import ctypes
import os
import platform

# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
_SETTINGS = (
    (_M_MMAP_THRESHOLD, "MALLOC_MMAP_THRESHOLD_", 32 << 20),  # glibc's largest allowed value on 64-bit
    (_M_TRIM_THRESHOLD, "MALLOC_TRIM_THRESHOLD_", 256 << 20),
    (_M_TOP_PAD, "MALLOC_TOP_PAD_", 16 << 20),
)


def keep_freed_memory() -> bool:
    """Apply the settings above where the process runs on glibc; returns whether they were applied."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc" or "malloc" in os.environ.get(
            "GLIBC_TUNABLES", ""):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    applied = False
    for param, variable, value in _SETTINGS:
        if variable not in os.environ:
            applied = bool(mallopt(param, value)) or applied
    return applied
