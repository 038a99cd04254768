"""The reference interpreter: runs any graph node by node with the eager kernels.

It is the definition every compiled backend is tested against, so it checks as it goes: the input shapes bind
the symbols consistently, and every node's result has the dtype and shape the graph says it has.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..tensor.dispatch import dispatch
from ..tensor.registry import INPLACE, OPS
from ..tensor.tensor import Tensor
from .ir import Graph, Node, Value, format_shape
from .symbolic import SymExpr

__all__ = ["bind_symbols", "evaluate_attr", "run_graph", "NODE_RUNNERS"]

# Ops that are not registry primitives (made by passes, e.g. fusion groups) register how to run here:
# runner(node, operands, attrs, bindings) -> tuple of tensors.
NODE_RUNNERS: dict[str, Any] = {}

_PLAIN_ERRORS = (RuntimeError, ValueError, IndexError, TypeError)


def bind_symbols(graph: Graph, inputs: Sequence[Tensor], names: Sequence[str] | None = None) -> dict[str, int]:
    """The value of every symbol, from the input shapes; errors name the input and the dim that disagree."""
    bindings: dict[str, int] = {}
    names = names or [v.name for v in graph.inputs]
    for value, tensor, name in zip(graph.inputs, inputs, names, strict=True):
        if tensor.dim() != len(value.shape):
            raise RuntimeError(f"input '{name}' must have {len(value.shape)} dims {format_shape(value.shape)}, "
                               f"got {tensor.dim()} dims {list(tensor.shape)}")
        # Sizes are kept as they are: a graph replayed inside another trace binds its symbols to the outer SymInts.
        for dim, (declared, actual) in enumerate(zip(value.shape, tensor.shape, strict=True)):
            if isinstance(declared, SymExpr):
                (symbol,) = declared.symbols()
                bound = bindings.setdefault(symbol, actual)
                if bound != actual:
                    raise RuntimeError(f"input '{name}' dim {dim} is the symbolic size {symbol}, already bound to "
                                       f"{bound} by an earlier input, but got {actual}")
                low = graph.symbols.get(symbol, {}).get("min") or 0
                high = graph.symbols.get(symbol, {}).get("max")
                if actual < low or (high is not None and actual > high):
                    raise RuntimeError(f"input '{name}' dim {dim} ({symbol}) must lie in [{low}, {high or 'inf'}], "
                                       f"got {actual}")
            elif declared != actual:
                hint = (" (dynamic dims traced at size 0 or 1 stay static: trace with a batch of 2 or more, or mark "
                        "the dim in dynamic_dims)") if declared < 2 else ""
                raise RuntimeError(f"input '{name}' must have shape {format_shape(value.shape)}, got "
                                   f"{list(tensor.shape)} (dim {dim} is static: {declared}){hint}")
    for guard in graph.guards:
        if guard.evaluate(bindings) < 0:
            raise RuntimeError(f"the graph was traced assuming {guard} >= 0 (a comparison of sizes in the traced "
                               f"code), which does not hold for {bindings}; trace with sizes like these")
    return bindings


def evaluate_attr(x: Any, bindings: Mapping[str, int]) -> Any:
    """An operand or attribute with its size expressions evaluated to ints."""
    if isinstance(x, SymExpr):
        return x.evaluate(bindings)
    if isinstance(x, tuple):
        return tuple(evaluate_attr(v, bindings) for v in x)
    if isinstance(x, list):
        return [evaluate_attr(v, bindings) for v in x]
    return x


def run_graph(graph: Graph, inputs: Sequence[Tensor], params: Mapping[str, Tensor],
              bindings: Mapping[str, int] | None = None) -> list[Tensor]:
    """The graph's outputs for ``inputs`` (in ``graph.inputs`` order) and ``params`` (by name)."""
    if bindings is None:
        bindings = bind_symbols(graph, inputs)
    env: dict[Value, Tensor] = dict(zip(graph.inputs, inputs, strict=True))
    for value in graph.params:
        if value.name not in params:
            raise KeyError(f"no tensor bound to the graph parameter '{value.name}'")
        env[value] = params[value.name]
    for value in graph.constants:
        env[value] = value.data

    def resolve(x: Any) -> Any:
        if isinstance(x, Value):
            return env[x]
        if isinstance(x, list) and x and isinstance(x[0], Value):
            return [env[v] for v in x]
        return evaluate_attr(x, bindings)

    for index, node in enumerate(graph.nodes):
        operands = [resolve(x) for x in node.operands]
        attrs = {k: evaluate_attr(v, bindings) for k, v in node.attrs.items()}
        try:
            results = _run_node(node, operands, attrs, bindings)
        except _PLAIN_ERRORS as error:
            if type(error) not in _PLAIN_ERRORS:
                raise
            # The eager kernel's message, with the node that failed (kernels raise for bad data, such as an
            # embedding index out of range, and for sizes the trace specialised on).
            raise type(error)(f"{error}\n  in graph node: {_node_line(graph, index)}") from error
        for value, result in zip(node.outputs, results, strict=True):
            _check_result(graph, index, value, result, bindings)
            env[value] = result
    return [env[v] for v in graph.outputs]


def _node_line(graph: Graph, index: int) -> str:
    """The printed form of ``graph.nodes[index]``, as ``str(graph)`` shows it."""
    return graph.format_node(graph.nodes[index])


def _run_node(node: Node, operands: list, attrs: dict, bindings: Mapping[str, int]) -> tuple:
    runner = NODE_RUNNERS.get(node.op)
    if runner is not None:
        return runner(node, operands, attrs, bindings)
    op = OPS[node.op]
    if op.kind == INPLACE:
        # The graph is functional: the in-place op updates a private copy, never an input or a shared value.
        operands[0] = operands[0].clone()
    result = dispatch(op, *operands, **attrs)
    return result if isinstance(result, tuple) else (result,)


def _check_result(graph: Graph, index: int, value: Value, result: Tensor, bindings: Mapping[str, int]) -> None:
    expected = tuple(d.evaluate(bindings) if isinstance(d, SymExpr) else d for d in value.shape)
    if result.dtype is not value.dtype or tuple(result.shape) != expected:
        raise RuntimeError(f"graph node {_node_line(graph, index)} produced {result.dtype}{list(result.shape)} but "
                           f"the graph declares {value.type_str} = {list(expected)} for it; the trace specialised on "
                           "its example (re-trace with this shape as the example, or mark the dim dynamic)")
