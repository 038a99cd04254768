"""Status codes compiled graphs return, and the exception each one raises in the caller.

A kernel cannot raise: when it meets bad data (an index out of range) it keeps its memory accesses in bounds,
finishes, and stores a non-zero code in the graph call's status word; the entry function returns it and the
caller (ember's compiled graph or ``ember_runtime``'s executor) raises the matching exception, with the message
the eager op gives. The table is part of the artifact ABI: codes are never reused for another meaning.
"""

from __future__ import annotations

__all__ = ["GATHER_INDEX_OUT_OF_BOUNDS", "INDEX_OUT_OF_BOUNDS", "INDEX_OUT_OF_RANGE", "NEGATIVE_REPEATS",
           "REPEATS_MISMATCH", "STATUS_ERRORS", "TARGET_OUT_OF_BOUNDS", "raise_status"]

# code -> (exception type, message as the eager op words it)
STATUS_ERRORS: dict[int, tuple[type[Exception], str]] = {
    1: (IndexError, "index out of range in self"),
    2: (IndexError, "Target is out of bounds."),
    3: (RuntimeError, "index is out of bounds for the dimension it indexes"),  # gather, scatter, index_add
    4: (IndexError, "index is out of bounds for the dimension it indexes"),  # advanced indexing, take
    5: (RuntimeError, "repeats can not be negative"),
    6: (RuntimeError, "allocated size does not match required size"),  # repeat_interleave with output_size
}

# Named codes for the lowerings that report them.
INDEX_OUT_OF_RANGE, TARGET_OUT_OF_BOUNDS, GATHER_INDEX_OUT_OF_BOUNDS, INDEX_OUT_OF_BOUNDS = 1, 2, 3, 4
NEGATIVE_REPEATS, REPEATS_MISMATCH = 5, 6


def raise_status(status: int) -> None:
    """Raise the exception for a non-zero ``status`` a compiled graph returned."""
    error, message = STATUS_ERRORS.get(status, (RuntimeError, f"compiled graph failed with status {status}"))
    raise error(message)
