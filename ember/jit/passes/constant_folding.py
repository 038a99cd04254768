"""Constant folding: what does not depend on a graph input is computed once, at optimisation time.

A traced graph is for inference, so a parameter is as fixed as a constant: besides nodes of constants only,
subgraphs of parameters (``transpose(fc.weight)``, ``rsqrt(bn.running_var + eps) * bn.weight``) are folded. The
folded values are computed by the reference interpreter (the eager kernels) and become new parameters, named
after the parameter they derive from (``bn.running_var.folded``), or constants when no parameter takes part.
The module's own tensors are never written; a folded parameter is a new tensor, so later changes to the module
do not reach an optimised graph (trace again).
"""

from __future__ import annotations

from collections.abc import Mapping

from ...autograd import no_grad
from ...tensor.registry import OPS
from ...tensor.tensor import Tensor
from ..interpreter import run_graph
from ..ir import Graph, Node, Value
from .dead_code import eliminate_dead_code
from .rewrite import NONDETERMINISTIC_OPS, DerivedParams, Forwarding, bound_params, has_symbolic, numel

__all__ = ["MATERIALIZE_LIMIT", "fold_constants"]

# A folded value may hold this many elements whatever its inputs' size (small tables, aranges); beyond it, at
# most twice its inputs' elements, so that an expand or a broadcast of a parameter is not materialised.
MATERIALIZE_LIMIT = 1024


def _foldable(node: Node, known: Mapping[Value, str | None], outputs: set[Value]) -> bool:
    if node.op not in OPS or node.op in NONDETERMINISTIC_OPS:
        return False
    inputs = list(node.input_values())
    if any(v not in known for v in inputs) or any(v in outputs for v in node.outputs):
        return False
    if has_symbolic(node.operands) or has_symbolic(list(node.attrs.values())):
        return False
    if any(has_symbolic(v.shape) for v in node.outputs):
        return False
    size_in = sum(numel(v.shape) for v in inputs)
    return all(numel(v.shape) <= max(MATERIALIZE_LIMIT, 2 * size_in) for v in node.outputs)


def fold_constants(graph: Graph, params: Mapping[str, Tensor]) -> tuple[Graph, dict[str, Tensor]]:
    """Replace every value computed from parameters and constants only by a new parameter (or constant).

    Not folded: nodes of non-deterministic ops (``empty``), nodes reading a graph input or a symbolic size,
    results much larger than their inputs (see :data:`MATERIALIZE_LIMIT`), and graph outputs (returning a
    stored tensor would let the caller modify it; the node computing the output stays, on folded operands).

    Args:
        graph: rewritten in place.
        params: the tensors bound to ``graph.params``, by name; not modified.

    Returns:
        ``(graph, params)``: the new parameters added, those no longer read dropped.
    """
    eliminate_dead_code(graph)
    outputs = set(graph.outputs)
    # For every value computable now: the parameter it derives from (its name), or None for constants only.
    known: dict[Value, str | None] = {v: v.name for v in graph.params}
    known.update((v, None) for v in graph.constants)
    folded: list[Node] = []
    for node in graph.nodes:
        if _foldable(node, known, outputs):
            folded.append(node)
            source = next((known[v] for v in node.input_values() if known[v] is not None), None)
            known.update((v, source) for v in node.outputs)
    if not folded:
        return graph, bound_params(graph, params)
    # The folded values that unfolded nodes read: computed in one run of the folded nodes.
    inside = {v for node in folded for v in node.outputs}
    folded_nodes = set(folded)
    frontier = list(dict.fromkeys(v for node in graph.nodes if node not in folded_nodes
                                  for v in node.input_values() if v in inside))
    evaluation = Graph()
    evaluation.params = list(graph.params)
    evaluation.constants = list(graph.constants)
    evaluation.nodes = folded
    evaluation.outputs = frontier
    with no_grad():
        results = run_graph(evaluation, [], params, {})
    derived = DerivedParams(graph)
    forwarding = Forwarding(graph)
    for value, result in zip(frontier, results, strict=True):
        # A folded view still shares the module's memory: the folded tensor gets its own.
        result = result.detach() if result._base is None else result.detach().clone()
        source = known[value]
        forwarding.forward(value, graph.add_constant(result) if source is None else derived.add(source, result))
    for node in graph.nodes:
        forwarding.apply(node)
    forwarding.finish()
    return graph, derived.finish(params)
