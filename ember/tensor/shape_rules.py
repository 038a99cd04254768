"""Shape arithmetic shared by the ops' shape rules: dim wrapping, broadcasting, size arguments.

Errors follow PyTorch's wording and name the operands, since these rules are what users hit first.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any


def wrap_dim(dim: Any, ndim: int, name: str = "dim") -> int:
    """Turn a possibly negative ``dim`` into an index in ``[0, ndim)``; a 0-d tensor accepts -1 and 0."""
    if type(dim) is int and 0 <= dim < ndim:
        return dim
    if not isinstance(dim, int) or isinstance(dim, bool):
        if hasattr(dim, "__index__") and not isinstance(dim, bool):
            dim = dim.__index__()
        else:
            raise TypeError(f"{name} must be an int, got {type(dim).__name__}")
    bound = max(ndim, 1)
    if not -bound <= dim < bound:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-bound}, {bound - 1}], but got {dim})")
    return dim + bound if dim < 0 else dim


def wrap_dims(dims: Any, ndim: int) -> tuple:
    """Wrap a dim or a sequence of dims, refusing repeats."""
    if isinstance(dims, int):
        dims = (dims,)
    wrapped = tuple(wrap_dim(d, ndim) for d in dims)
    if len(set(wrapped)) != len(wrapped):
        repeated = next(d for i, d in enumerate(wrapped) if d in wrapped[:i])
        raise RuntimeError(f"dim {repeated} appears multiple times in the list of dims")
    return wrapped


@lru_cache(maxsize=4096)
def _broadcast_pair(a: tuple, b: tuple) -> tuple | None:
    if a == b:
        return a
    n = max(len(a), len(b))
    out = []
    for i in range(n):
        da = a[i - n + len(a)] if i - n + len(a) >= 0 else 1
        db = b[i - n + len(b)] if i - n + len(b) >= 0 else 1
        if da == db or db == 1:
            out.append(da)
        elif da == 1:
            out.append(db)
        else:
            return None
    return tuple(out)


def broadcast_shapes(*shapes: tuple, names: tuple | None = None) -> tuple:
    """The shape ``shapes`` broadcast to, or a RuntimeError naming both mismatched shapes."""
    result = tuple(shapes[0])
    for i, shape in enumerate(shapes[1:], start=1):
        found = _broadcast_pair(result, tuple(shape))
        if found is None:
            a_name = names[0] if names else "a"
            b_name = names[i] if names else "b"
            raise RuntimeError(
                f"The size of tensor {a_name} {list(result)} must match the size of tensor {b_name} {list(shape)} "
                "at a non-singleton dimension (shapes cannot be broadcast together)"
            )
        result = found
    return result


def parse_size(args: tuple, name: str = "size") -> tuple:
    """Accept ``f(2, 3)``, ``f((2, 3))``, ``f([2, 3])`` and ``f(ember.Size)``; refuse negatives and non-ints."""
    if not args:
        raise TypeError(f"missing 1 required positional argument: \"{name}\"")
    if len(args) == 1 and isinstance(args[0], list | tuple):
        args = tuple(args[0])
    out = []
    for a in args:
        if isinstance(a, bool) or not (isinstance(a, int) or hasattr(a, "__index__")):
            raise TypeError(f"{name} must be a tuple of ints, but got an element of type {type(a).__name__}")
        if type(a) is not int and not isinstance(a, int):
            a = a.__index__()  # int subclasses (the tracer's symbolic sizes) are kept as they are
        if a < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {a}: {list(args)}")
        out.append(a)
    return tuple(out)


def numel(shape: tuple) -> int:
    n = 1
    for s in shape:
        n *= s
    return n
