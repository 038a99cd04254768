"""The graph IR: a functional SSA list of nodes over ember's primitive ops.

A :class:`Graph` has input values (the caller's tensors, then the module's parameters and buffers, each named),
constant values (tensors baked into the graph), a list of :class:`Node` in execution order, and output values.
Every :class:`Value` has a dtype and a shape whose dims are ints or :class:`~ember.jit.symbolic.SymExpr` over the
graph's symbols (a dynamic batch ``N``). A node names a primitive op of the registry (``ember.tensor.registry.
OPS``) and holds its operands exactly as the dispatcher takes them (values, lists of values, plain Python
numbers) plus its attributes (plain values; sizes may be expressions). Nodes of INPLACE ops are functional here:
their output is the updated copy of operand 0, which no later node reads.

The printed form (``str(graph)``) is deterministic: values are numbered in order of definition, and a node
holding a sub-graph (a ``fused`` node's body) is followed by it, indented, numbered on its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..tensor import dtypes
from ..tensor.tensor import Tensor
from .symbolic import SymExpr

__all__ = ["Graph", "Node", "Value", "INPUT", "PARAM", "CONST", "NODE", "format_dtype", "format_shape"]

INPUT, PARAM, CONST, NODE = "input", "param", "const", "node"

_SHORT = {
    dtypes.bool: "bool", dtypes.uint8: "u8", dtypes.int8: "i8", dtypes.int16: "i16", dtypes.int32: "i32",
    dtypes.int64: "i64", dtypes.float16: "f16", dtypes.bfloat16: "bf16", dtypes.float32: "f32",
    dtypes.float64: "f64",
}
DTYPE_BY_SHORT = {v: k for k, v in _SHORT.items()}


def format_dtype(dt: dtypes.dtype) -> str:
    return _SHORT[dt]


def format_shape(shape: tuple) -> str:
    return "[" + ",".join(str(d) for d in shape) + "]"


@dataclass(eq=False)
class Value:
    """One SSA value: a graph input, parameter, constant or the output of a node."""

    kind: str
    dtype: dtypes.dtype
    shape: tuple
    name: str | None = None  # inputs and parameters are named; other values are numbered when printed
    node: Node | None = None  # the producer, for NODE values
    data: Tensor | None = None  # the value of a CONST

    @property
    def type_str(self) -> str:
        return format_dtype(self.dtype) + format_shape(self.shape)

    @property
    def is_static(self) -> bool:
        return not any(isinstance(d, SymExpr) for d in self.shape)

    def __repr__(self) -> str:
        return f"Value({self.kind}, {self.name or '?'}: {self.type_str})"


@dataclass(eq=False)
class Node:
    """``outputs = op(*operands, **attrs)`` for the primitive op named ``op``."""

    op: str
    operands: list
    attrs: dict
    outputs: list[Value] = field(default_factory=list)

    def input_values(self) -> Iterator[Value]:
        """Every Value among the operands (lists flattened), in order."""
        for operand in self.operands:
            if isinstance(operand, Value):
                yield operand
            elif isinstance(operand, list | tuple):
                yield from (v for v in operand if isinstance(v, Value))

    def replace_input(self, old: Value, new: Value) -> None:
        def swap(x):
            if x is old:
                return new
            if isinstance(x, list):
                return [swap(v) for v in x]
            if isinstance(x, tuple):
                return tuple(swap(v) for v in x)
            return x

        self.operands = [swap(x) for x in self.operands]

    @property
    def output(self) -> Value:
        return self.outputs[0]


class Graph:
    """Inputs, parameters, constants, nodes in execution order, and outputs. See the module docstring."""

    def __init__(self) -> None:
        self.inputs: list[Value] = []
        self.params: list[Value] = []
        self.constants: list[Value] = []
        self.nodes: list[Node] = []
        self.outputs: list[Value] = []
        # Each symbol's value at trace time (a hint for shape rules and passes) and its allowed range.
        self.symbols: dict[str, dict[str, int | None]] = {}
        # Conditions ``expr >= 0`` the trace assumed beyond the symbols' ranges (see :meth:`assume`).
        self.guards: list[SymExpr] = []

    def assume(self, condition: SymExpr) -> None:
        """Record that the graph is right only where ``condition >= 0`` (a comparison of sizes decided while
        tracing). A condition on one symbol, linear in it, narrows that symbol's range; others are kept in
        :attr:`guards`. Calls check both, so sizes the trace did not cover raise instead of computing garbage."""
        names = condition.symbols()
        linear = len(names) == 1 and all(m == () or m == ((next(iter(names)), 1),) for m, _ in condition.terms)
        if linear and next(iter(names)) in self.symbols:
            (name,) = names
            slope = dict(condition.terms)[((name, 1),)]
            known = self.symbols[name]
            if slope > 0:  # slope*S + c >= 0  <=>  S >= ceil(-c / slope)
                known["min"] = max(known.get("min") or 0, -(condition.const_value // slope))
            else:  # S <= floor(c / -slope)
                high = condition.const_value // -slope
                known["max"] = high if known.get("max") is None else min(known["max"], high)
        elif condition not in self.guards:
            self.guards.append(condition)

    # -- building ---------------------------------------------------------------------------------------
    def add_input(self, name: str, dtype: dtypes.dtype, shape: tuple) -> Value:
        value = Value(INPUT, dtype, tuple(shape), name=name)
        self.inputs.append(value)
        return value

    def add_param(self, name: str, dtype: dtypes.dtype, shape: tuple) -> Value:
        value = Value(PARAM, dtype, tuple(shape), name=name)
        self.params.append(value)
        return value

    def add_constant(self, tensor: Tensor) -> Value:
        value = Value(CONST, tensor.dtype, tuple(int(d) for d in tensor.shape), data=tensor)
        self.constants.append(value)
        return value

    def add_node(self, op: str, operands: list, attrs: dict, metas: list[tuple[dtypes.dtype, tuple]],
                 index: int | None = None) -> Node:
        node = Node(op, list(operands), dict(attrs))
        node.outputs = [Value(NODE, dt, tuple(shape), node=node) for dt, shape in metas]
        if index is None:
            self.nodes.append(node)
        else:
            self.nodes.insert(index, node)
        return node

    # -- queries ----------------------------------------------------------------------------------------
    def users(self) -> dict[Value, list[Node]]:
        """For every value, the nodes reading it (in order; a node reading a value twice appears twice)."""
        found: dict[Value, list[Node]] = {}
        for node in self.nodes:
            for value in node.input_values():
                found.setdefault(value, []).append(node)
        return found

    def replace_all_uses(self, old: Value, new: Value) -> None:
        """Make every node and output that read ``old`` read ``new``."""
        for node in self.nodes:
            node.replace_input(old, new)
        self.outputs = [new if v is old else v for v in self.outputs]

    def values(self) -> Iterator[Value]:
        yield from self.inputs
        yield from self.params
        yield from self.constants
        for node in self.nodes:
            yield from node.outputs

    # -- printing ---------------------------------------------------------------------------------------
    def names(self) -> dict[Value, str]:
        """The printed name of every value: inputs and parameters by name, constants ``%cK``, the rest ``%K``."""
        names = {v: f"%{v.name}" for v in (*self.inputs, *self.params)}
        names.update({v: f"%c{i}" for i, v in enumerate(self.constants)})
        counter = 0
        for node in self.nodes:
            for value in node.outputs:
                names[value] = f"%{counter}"
                counter += 1
        return names

    def __str__(self) -> str:
        return "\n".join(self._lines(""))

    def _lines(self, indent: str) -> list[str]:
        """The printed lines; a node whose attributes hold graphs (a ``fused`` node's body) is followed by each
        of them, indented one level deeper, in attribute order."""
        names = self.names()
        header = ", ".join(f"{names[v]}: {v.type_str}" for v in (*self.inputs, *self.params))
        lines = [f"{indent}graph({header}):"]
        for value in self.constants:
            lines.append(f"{indent}  {names[value]} = constant() : {value.type_str}")
        for node in self.nodes:
            lines.append(f"{indent}  {self.format_node(node, names)}")
            for body in (v for v in node.attrs.values() if isinstance(v, Graph)):
                lines.extend(body._lines(indent + "    "))
        lines.extend(f"{indent}  assume {g} >= 0" for g in self.guards)
        lines.append(f"{indent}  return " + ", ".join(names[v] for v in self.outputs))
        return lines

    def format_node(self, node: Node, names: dict[Value, str] | None = None) -> str:
        """``node``'s line as ``str(graph)`` prints it, unindented and without the body graphs that follow it."""
        names = self.names() if names is None else names
        args = [_format_operand(x, names) for x in node.operands]
        args += [f"{k}={_format_attr(v)}" for k, v in node.attrs.items() if not isinstance(v, Graph)]
        targets = ", ".join(names[v] for v in node.outputs)
        types = ", ".join(v.type_str for v in node.outputs)
        return f"{targets} = {node.op}({', '.join(args)}) : {types}"


def _format_operand(x: Any, names: dict) -> str:
    if isinstance(x, Value):
        return names[x]
    if isinstance(x, list | tuple) and x and any(isinstance(v, Value) for v in x):
        inner = ", ".join(_format_operand(v, names) for v in x)
        return f"[{inner}]"
    return _format_attr(x)


def _format_attr(x: Any) -> str:
    if isinstance(x, dtypes.dtype):
        return format_dtype(x)
    if isinstance(x, tuple | list):
        inner = ", ".join(_format_attr(v) for v in x)
        return f"({inner}{',' if len(x) == 1 and isinstance(x, tuple) else ''})" if isinstance(x, tuple) \
            else f"[{inner}]"
    if isinstance(x, float):
        return repr(x)
    return str(x)
