"""Flattening nested arguments and results (tuples, lists, dicts of tensors) into leaves and back."""

from __future__ import annotations

from typing import Any

from ..tensor.tensor import Tensor

__all__ = ["flatten", "unflatten", "leaf_names", "describe", "constants"]

# A spec is ("tensor",), ("const", value), ("namedtuple" | "tuple" | "list", type, [child specs]) or
# ("dict", type, [(key, child spec)]). Sequence and dict subclasses (ember.Size, OrderedDict) keep their type.


def flatten(obj: Any) -> tuple[list[Tensor], Any]:
    """The tensors in ``obj`` (depth first, dict keys in insertion order) and a spec to rebuild it.

    Non-tensor leaves (None, numbers, strings) stay in the spec as they are.
    """
    leaves: list[Tensor] = []

    def walk(x: Any) -> Any:
        if isinstance(x, Tensor):
            leaves.append(x)
            return ("tensor",)
        if isinstance(x, tuple) and hasattr(x, "_fields"):
            return ("namedtuple", type(x), [walk(v) for v in x])
        if isinstance(x, tuple | list):
            return ("tuple" if isinstance(x, tuple) else "list", type(x), [walk(v) for v in x])
        if isinstance(x, dict):
            return ("dict", type(x), [(k, walk(v)) for k, v in x.items()])
        return ("const", x)

    return leaves, walk(obj)


def unflatten(spec: Any, leaves: list) -> Any:
    """Rebuild the structure ``spec`` describes with ``leaves`` in place of its tensors."""
    it = iter(leaves)

    def build(s: Any) -> Any:
        kind = s[0]
        if kind == "tensor":
            return next(it)
        if kind == "const":
            return s[1]
        if kind == "namedtuple":
            return s[1](*(build(v) for v in s[2]))
        if kind == "dict":
            return s[1]((k, build(v)) for k, v in s[2])
        return s[1](build(v) for v in s[2])

    return build(spec)


def leaf_names(spec: Any, prefix: str) -> list[str]:
    """A readable name per tensor leaf of ``spec``: ``prefix``, ``prefix.0``, ``prefix.key.1``..."""
    names: list[str] = []

    def walk(s: Any, path: str) -> None:
        kind = s[0]
        if kind == "tensor":
            names.append(path)
        elif kind == "namedtuple":
            for field, v in zip(s[1]._fields, s[2], strict=True):
                walk(v, f"{path}.{field}")
        elif kind in ("tuple", "list"):
            for i, v in enumerate(s[2]):
                walk(v, f"{path}.{i}")
        elif kind == "dict":
            for k, v in s[2]:
                walk(v, f"{path}.{k}")

    walk(spec, prefix)
    return names


def constants(spec: Any) -> list[Any]:
    """The non-tensor leaves of ``spec``, depth first."""
    kind = spec[0]
    if kind == "const":
        return [spec[1]]
    if kind == "dict":
        return [c for _, v in spec[2] for c in constants(v)]
    if kind == "tensor":
        return []
    return [c for v in spec[2] for c in constants(v)]


def describe(spec: Any) -> str:
    """The structure as text for error messages: ``(Tensor, [Tensor, Tensor], {'mask': Tensor})``."""
    kind = spec[0]
    if kind == "tensor":
        return "Tensor"
    if kind == "const":
        return repr(spec[1])
    if kind == "dict":
        return "{" + ", ".join(f"{k!r}: {describe(v)}" for k, v in spec[2]) + "}"
    inner = ", ".join(describe(v) for v in spec[2])
    if kind == "namedtuple":
        return f"{spec[1].__name__}({inner})"
    return f"[{inner}]" if kind == "list" else f"({inner}{',' if len(spec[2]) == 1 else ''})"
