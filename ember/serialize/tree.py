"""The weights-only object tree: Python values to JSON nodes and back, with no code run on load.

A node is a JSON ``null``, ``true``/``false``, integer, finite float, string or array (a Python ``list``), or
an object whose ``"kind"`` member names one of the types below. ``docs/serialization.md`` is the normative
description; this module is its implementation.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any

from ..nn.parameter import Parameter
from ..tensor.devices import device
from ..tensor.dtypes import dtype
from ..tensor.tensor import Size, Tensor
from .tensors import DTYPES_BY_NAME, TensorTable

__all__ = ["NotExpressible", "encode_tree", "decode_tree"]

_NONFINITE = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}
_PLAIN = (type(None), bool, int, str)


class NotExpressible(Exception):
    """The object tree holds a value the weights-only schema has no node for; ``where`` says which."""

    def __init__(self, where: str, obj: Any):
        self.where = where
        kind = type(obj)
        super().__init__(f"{where} is a {kind.__module__}.{kind.__qualname__}")


def _float_node(value: float) -> Any:
    if math.isfinite(value):
        return value
    return {"kind": "float", "value": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}


class _Encoder:
    def __init__(self, table: TensorTable):
        self.table = table
        self.active: set[int] = set()  # containers being encoded: meeting one again means a cycle

    def encode(self, obj: Any, where: str) -> Any:
        kind = type(obj)
        if kind in _PLAIN:
            return obj
        if kind is float:
            return _float_node(obj)
        if kind is Tensor or kind is Parameter:
            return {"kind": "tensor", "index": self.table.add(obj)}
        if kind is dtype:
            return {"kind": "dtype", "name": obj.name}
        if kind is device:
            return {"kind": "device", "value": str(obj)}
        if kind is Size:
            return {"kind": "size", "items": list(obj)}
        if kind not in (list, tuple, dict, OrderedDict):
            raise NotExpressible(where, obj)
        if id(obj) in self.active:
            raise NotExpressible(where + " (a reference cycle)", obj)
        self.active.add(id(obj))
        try:
            return self._container(obj, kind, where)
        finally:
            self.active.discard(id(obj))

    def _container(self, obj: Any, kind: type, where: str) -> Any:
        if kind is list:
            return [self.encode(v, f"{where}[{i}]") for i, v in enumerate(obj)]
        if kind is tuple:
            return {"kind": "tuple", "items": [self.encode(v, f"{where}[{i}]") for i, v in enumerate(obj)]}
        items = [[self.encode(k, f"a key of {where}"), self.encode(v, f"{where}[{k!r}]")] for k, v in obj.items()]
        if kind is dict:
            return {"kind": "dict", "items": items}
        node = {"kind": "ordered_dict", "items": items}
        attrs = vars(obj)
        if attrs:
            # torch's state_dict() carries ``_metadata`` (per-module versions) as an attribute; keep it.
            node["attrs"] = [[name, self.encode(v, f"{where}.{name}")] for name, v in attrs.items()]
        return node


def encode_tree(obj: Any, table: TensorTable) -> Any:
    """The JSON node for ``obj``, adding its tensors to ``table``.

    Raises:
        NotExpressible: something in ``obj`` (named by the exception's ``where``) needs pickle.
    """
    return _Encoder(table).encode(obj, "the object")


class _Decoder:
    def __init__(self, tensors: list[Tensor], what: str):
        self.tensors = tensors
        self.what = what

    def fail(self, detail: str) -> RuntimeError:
        return RuntimeError(f"{self.what}: corrupt object tree: {detail}")

    def decode(self, node: Any) -> Any:
        if node is None or type(node) in (bool, int, float, str):
            return node
        if type(node) is list:
            return [self.decode(v) for v in node]
        if type(node) is not dict:
            raise self.fail(f"unexpected JSON value {node!r}")
        kind = node.get("kind")
        handler = _HANDLERS.get(kind) if isinstance(kind, str) else None
        if handler is None:
            raise self.fail(f"unknown node kind {kind!r}")
        return handler(self, node)

    def _field(self, node: dict, name: str, kind: type | tuple) -> Any:
        value = node.get(name)
        if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
            raise self.fail(f"a {node.get('kind')!r} node needs a {name!r} member of the right type, got {value!r}")
        return value

    def _node_float(self, node: dict) -> float:
        value = node.get("value")
        if value not in _NONFINITE:
            raise self.fail(f"float node value must be 'inf', '-inf' or 'nan', got {value!r}")
        return _NONFINITE[value]

    def _node_tensor(self, node: dict) -> Tensor:
        index = self._field(node, "index", int)
        if not 0 <= index < len(self.tensors):
            raise self.fail(f"tensor index {index} out of range (the file has {len(self.tensors)} tensors)")
        return self.tensors[index]

    def _node_dtype(self, node: dict) -> dtype:
        name = node.get("name")
        if name not in DTYPES_BY_NAME:
            raise self.fail(f"unknown dtype {name!r}")
        return DTYPES_BY_NAME[name]

    def _node_device(self, node: dict) -> device:
        value = self._field(node, "value", str)
        try:
            return device(value)
        except (RuntimeError, TypeError, ValueError) as exc:
            raise self.fail(f"bad device {value!r}: {exc}") from None

    def _node_size(self, node: dict) -> Size:
        items = self._field(node, "items", list)
        if not all(type(v) is int for v in items):
            raise self.fail(f"size items must be integers, got {items!r}")
        return Size(items)

    def _node_tuple(self, node: dict) -> tuple:
        return tuple(self.decode(v) for v in self._field(node, "items", list))

    def _pairs(self, node: dict, name: str) -> list[tuple[Any, Any]]:
        pairs = []
        for pair in self._field(node, name, list):
            if type(pair) is not list or len(pair) != 2:
                raise self.fail(f"{name} entries must be [key, value] pairs, got {pair!r}")
            key = self.decode(pair[0])
            try:
                hash(key)
            except TypeError:
                raise self.fail(f"unhashable dict key {key!r}") from None
            pairs.append((key, self.decode(pair[1])))
        return pairs

    def _node_dict(self, node: dict) -> dict:
        return dict(self._pairs(node, "items"))

    def _node_ordered_dict(self, node: dict) -> OrderedDict:
        result = OrderedDict(self._pairs(node, "items"))
        if "attrs" in node:
            for name, value in self._pairs(node, "attrs"):
                if type(name) is not str or not name.isidentifier() or name.startswith("__"):
                    raise self.fail(f"bad attribute name {name!r} on an ordered_dict")
                vars(result)[name] = value
        return result


_HANDLERS = {"float": _Decoder._node_float, "tensor": _Decoder._node_tensor, "dtype": _Decoder._node_dtype,
             "device": _Decoder._node_device, "size": _Decoder._node_size, "tuple": _Decoder._node_tuple,
             "dict": _Decoder._node_dict, "ordered_dict": _Decoder._node_ordered_dict}


def decode_tree(node: Any, tensors: list[Tensor], what: str) -> Any:
    """The Python value of a JSON node; ``tensors`` are the file's tensors by index.

    Raises:
        RuntimeError: a malformed node (the message starts with ``what``).
    """
    try:
        return _Decoder(tensors, what).decode(node)
    except RecursionError:
        raise RuntimeError(f"{what}: the object tree is nested too deeply to load") from None
