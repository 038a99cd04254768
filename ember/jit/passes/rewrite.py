"""What the graph passes share: forwarding one value to another, the node facts passes decide by, and names for
the parameters that passes derive.

Passes rewrite a graph in place. A rewrite that makes a value redundant *forwards* it: every later reader (and
the graph's outputs) reads the replacement instead, and the node left without readers is swept by dead-code
elimination at the end of the pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...tensor.registry import COMPUTE, INPLACE, OPS
from ...tensor.tensor import Tensor
from ..ir import NODE, Graph, Node, Value
from ..symbolic import SymExpr
from .dead_code import eliminate_dead_code

__all__ = ["NONDETERMINISTIC_OPS", "DerivedParams", "Forwarding", "bound_params", "derived_name", "has_symbolic",
           "numel", "op_kind", "permutation", "source_name"]

# Ops whose result is not a function of their operands. Random draws never reach a graph (the tracer refuses
# them); ``empty`` does, and its contents are unspecified, so two ``empty`` nodes are two different tensors and
# none is ever baked into a constant.
NONDETERMINISTIC_OPS = frozenset({"empty"})


def op_kind(node: Node) -> str | None:
    """The registry kind (COMPUTE, VIEW, INPLACE) of ``node``'s op, or None for nodes made by passes (``fused``)."""
    op = OPS.get(node.op)
    return None if op is None else op.kind


def has_symbolic(x: Any) -> bool:
    """Whether an operand or attribute holds a size expression (it then depends on the bound symbols)."""
    if isinstance(x, SymExpr):
        return True
    if isinstance(x, list | tuple):
        return any(has_symbolic(v) for v in x)
    return False


def permutation(node: Node) -> list[int]:
    """For a ``transpose`` or ``permute`` node: result dim ``i`` is operand dim ``permutation(node)[i]``."""
    rank = len(node.output.shape)
    if node.op == "permute":
        return [d % rank for d in node.attrs["dims"]]
    order = list(range(rank))
    a, b = node.attrs["dim0"] % rank, node.attrs["dim1"] % rank
    order[a], order[b] = order[b], order[a]
    return order


def numel(shape: tuple) -> int:
    count = 1
    for d in shape:
        count *= d
    return count


class Forwarding:
    """Value replacements made during one walk over a graph's nodes, applied as the walk goes.

    Call :meth:`apply` on each node before inspecting it (its operands then read the current replacements), record
    replacements with :meth:`forward`, and call :meth:`finish` after the walk to redirect the graph's outputs.
    Replacements are always final values: a value forwarded to is defined earlier, and so already substituted.
    """

    def __init__(self, graph: Graph):
        self.graph = graph
        self.replaced: dict[Value, Value] = {}
        self._outputs = set(graph.outputs)

    def can_forward(self, old: Value, new: Value) -> bool:
        """A graph output may only be forwarded to a fresh computed value that is not returned already: returning
        an input, a parameter, a view, or one tensor twice would hand the caller aliased memory."""
        if old not in self._outputs:
            return True
        return new.kind == NODE and new not in self._outputs and op_kind(new.node) in (COMPUTE, INPLACE, None)

    def forward(self, old: Value, new: Value) -> bool:
        """Make every later reader of ``old`` read ``new``; False (and nothing done) when :meth:`can_forward`
        refuses."""
        if not self.can_forward(old, new):
            return False
        self.replaced[old] = new
        if old in self._outputs:
            self._outputs.add(new)
        return True

    def apply(self, node: Node) -> None:
        if self.replaced and any(v in self.replaced for v in node.input_values()):
            node.operands = [self._swap(x) for x in node.operands]

    def _swap(self, x: Any) -> Any:
        if isinstance(x, Value):
            return self.replaced.get(x, x)
        if isinstance(x, list | tuple):
            return type(x)(self._swap(v) for v in x)
        return x

    def finish(self) -> None:
        self.graph.outputs = [self.replaced.get(v, v) for v in self.graph.outputs]


def source_name(name: str) -> str:
    """The module parameter a (possibly derived) parameter name comes from: ``w.folded2`` -> ``w``."""
    head, dot, tail = name.rpartition(".")
    if dot and tail.startswith("folded") and (tail == "folded" or tail[6:].isdigit()):
        return head
    return name


def derived_name(graph: Graph, source: str) -> str:
    """A fresh parameter name for a tensor derived from parameter ``source``: ``source.folded``, then
    ``source.folded2``... (a source that is itself derived gives its root's next name, not ``.folded.folded``)."""
    root = source_name(source)
    taken = {v.name for v in (*graph.inputs, *graph.params)}
    candidate, index = f"{root}.folded", 1
    while candidate in taken:
        index += 1
        candidate = f"{root}.folded{index}"
    return candidate


def bound_params(graph: Graph, params: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """``params`` restricted to the tensors ``graph.params`` names, in the graph's order."""
    return {v.name: params[v.name] for v in graph.params}


class DerivedParams:
    """The parameters a pass derives, named once the pass is done.

    Naming waits for dead-code elimination so that a derived tensor that replaces another derived one (folding
    ``w.folded`` again) takes the name its predecessor leaves free.
    """

    def __init__(self, graph: Graph):
        self.graph = graph
        self._pending: list[tuple[Value, str, Tensor]] = []

    def add(self, source: str, tensor: Tensor) -> Value:
        """A new parameter bound to ``tensor``, derived from the parameter named ``source``."""
        placeholder = f"<derived #{len(self._pending)} from {source}>"  # no module attribute is named so
        value = self.graph.add_param(placeholder, tensor.dtype, tuple(tensor.shape))
        self._pending.append((value, source, tensor))
        return value

    def finish(self, params: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Sweep dead code, name the derived parameters still read, and return the tensors bound to the graph."""
        eliminate_dead_code(self.graph)
        live = set(self.graph.params)
        pending = [(v, source, t) for v, source, t in self._pending if v in live]
        for value, _, _ in pending:
            value.name = None
        bound = dict(params)
        for value, source, tensor in pending:
            value.name = derived_name(self.graph, source)
            bound[value.name] = tensor
        return bound_params(self.graph, bound)
