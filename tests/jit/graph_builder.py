"""Hand-built graphs for the pass tests, and the before/after check every pass test makes."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

import ember
from ember.jit.interpreter import run_graph
from ember.jit.ir import Graph, Value
from ember.jit.verifier import verify
from ember.tensor.registry import OPS, Meta


class GraphBuilder:
    """Builds a static graph node by node, each output typed by the op's own shape rule."""

    def __init__(self) -> None:
        self.graph = Graph()
        self.params: dict[str, ember.Tensor] = {}

    def input(self, name: str, *shape: int, dtype=ember.float32) -> Value:
        return self.graph.add_input(name, dtype, shape)

    def param(self, name: str, tensor: ember.Tensor) -> Value:
        self.params[name] = tensor
        return self.graph.add_param(name, tensor.dtype, tuple(tensor.shape))

    def const(self, tensor: ember.Tensor) -> Value:
        return self.graph.add_constant(tensor)

    def __call__(self, op: str, *operands, **attrs) -> Value | tuple[Value, ...]:
        def example(x):
            if isinstance(x, Value):
                return ember.ones(x.shape, dtype=x.dtype)
            if isinstance(x, list):
                return [example(v) for v in x]
            return x

        meta = OPS[op].infer(*[example(x) for x in operands], **attrs)
        metas = [meta] if type(meta) is Meta else list(meta)
        node = self.graph.add_node(op, list(operands), attrs, [(m.dtype, tuple(m.shape)) for m in metas])
        return node.output if len(node.outputs) == 1 else tuple(node.outputs)

    def returns(self, *values: Value) -> Graph:
        self.graph.outputs = list(values)
        verify(self.graph)
        return self.graph


def random_inputs(graph: Graph, bindings: dict[str, int] | None = None, seed: int = 0) -> list[ember.Tensor]:
    """Random non-zero inputs shaped like the graph's (symbolic dims from ``bindings``, else their hints)."""
    rng = np.random.default_rng(seed)
    bindings = bindings or {name: info["hint"] for name, info in graph.symbols.items()}
    inputs = []
    for value in graph.inputs:
        shape = tuple(d if isinstance(d, int) else d.evaluate(bindings) for d in value.shape)
        data = rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
        inputs.append(ember.tensor(data, dtype=value.dtype))
    return inputs


def check_pass(graph: Graph, params: dict, run: Callable, *, bindings: list[dict[str, int]] | None = None):
    """Run ``run`` (a pass: ``graph -> graph`` or ``(graph, params) -> (graph, params)``) and check that the graph
    stays valid and computes the same outputs (relative 1e-5) on random inputs; returns ``(graph, params)``."""
    cases = [random_inputs(graph, b, seed=i) for i, b in enumerate(bindings or [None])]
    expected = [run_graph(graph, inputs, params) for inputs in cases]
    result = run(graph, params) if _takes_params(run) else (run(graph), params)
    graph, params = result
    verify(graph)
    for inputs, before in zip(cases, expected, strict=True):
        after = run_graph(graph, inputs, params)
        assert len(after) == len(before)
        for a, b in zip(after, before, strict=True):
            assert a.dtype == b.dtype and tuple(a.shape) == tuple(b.shape)
            # Half precision rounds each step of the unfolded graph: a tolerance of its own epsilon.
            tolerance = 1e-5 if a.dtype.itemsize >= 4 else 4e-3
            a, b = a.numpy().astype(np.float64), b.numpy().astype(np.float64)
            scale = max(1.0, float(np.abs(b).max(initial=0)))
            np.testing.assert_allclose(a, b, rtol=tolerance, atol=tolerance * scale)
    return graph, params


def _takes_params(run: Callable) -> bool:
    import inspect

    return len(inspect.signature(run).parameters) == 2


def ops(graph: Graph) -> list[str]:
    return [node.op for node in graph.nodes]
