"""The graph passes and :func:`optimize`, the pipeline ``ember.jit.trace`` runs on every traced graph.

Each pass is usable alone: ``pass(graph) -> graph``, or ``pass(graph, params) -> (graph, params)`` for those
that derive new parameters from the bound tensors. Passes rewrite the graph in place, keep it valid (the
verifier accepts it) and leave no dead nodes, parameters or constants behind.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping

from ...tensor.tensor import Tensor
from ..ir import Graph
from ..verifier import GraphError, verify
from .algebraic import simplify_algebra
from .batchnorm import fold_batchnorm
from .constant_folding import fold_constants
from .cse import eliminate_common_subexpressions
from .dead_code import eliminate_dead_code
from .fusion import ELEMENTWISE_OPS, FUSED, group_elementwise
from .identity import remove_identities
from .rewrite import bound_params

__all__ = ["ELEMENTWISE_OPS", "FUSED", "PIPELINE", "eliminate_common_subexpressions", "eliminate_dead_code",
           "fold_batchnorm", "fold_constants", "group_elementwise", "optimize", "remove_identities",
           "simplify_algebra"]

# (name, pass, whether it takes and returns the parameters), in the order optimize runs them. BatchNorm folding
# needs the statistics folded into one parameter per step; CSE runs again because simplification makes operands
# equal that were not (relu(x * 1) and relu(x)); fusion comes last, as it hides nodes from the other passes.
PIPELINE: list[tuple[str, Callable, bool]] = [
    ("dead_code", eliminate_dead_code, False),
    ("cse", eliminate_common_subexpressions, False),
    ("identity", remove_identities, False),
    ("algebraic", simplify_algebra, False),
    ("constant_folding", fold_constants, True),
    ("batchnorm_folding", fold_batchnorm, True),
    ("cse_again", eliminate_common_subexpressions, False),
    ("fusion", group_elementwise, False),
]


def debug_level() -> int:
    """``EMBER_DEBUG`` as an int (0 when unset or not a number)."""
    try:
        return int(os.environ.get("EMBER_DEBUG", "0") or 0)
    except ValueError:
        return 0


def optimize(graph: Graph, params: Mapping[str, Tensor]) -> tuple[Graph, dict[str, Tensor]]:
    """Run :data:`PIPELINE` on a traced graph: dead code, CSE, identity removal, algebraic simplification,
    constant folding (parameters included: the graph is for inference), BatchNorm folding into the layer before
    it, CSE again, and element-wise fusion grouping. The verifier checks the graph after every pass.

    Set ``EMBER_DEBUG=3`` (or more) to print the graph to stderr before the passes and after each one, under a
    header naming the pass (``=== ember.jit pass: cse ===``).

    Args:
        graph: a verified graph; rewritten in place.
        params: the tensors bound to ``graph.params``, by name. They are never modified: passes that derive
            tensors from them (folding) bind new parameters.

    Returns:
        ``(graph, params)``: the optimised graph and the tensors bound to its parameters (the module's own
        tensors still read, shared, and the derived ones).

    Raises:
        GraphError: a pass broke an IR invariant (a bug in that pass); the message names the pass.
    """
    level = debug_level()
    if level >= 3:
        print(f"=== ember.jit pass: input ===\n{graph}", file=sys.stderr)
    params = bound_params(graph, params)
    for name, run, takes_params in PIPELINE:
        if takes_params:
            graph, params = run(graph, params)
        else:
            graph = run(graph)
        try:
            verify(graph)
        except GraphError as error:
            raise GraphError(f"after the graph pass '{name}': {error}") from error
        if level >= 3:
            print(f"=== ember.jit pass: {name} ===\n{graph}", file=sys.stderr)
    return graph, bound_params(graph, params)
