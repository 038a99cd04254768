"""``compile_graph(graph, params) -> CompiledGraph``: a traced graph as host machine code, called through ctypes.

Compiling lowers the graph to LLVM IR (:mod:`~ember.jit.llvm.lower`), describes its calling convention as an
:class:`ember_runtime.cpu.Program` (the same description an artifact stores) and hands both, with the weights, to
the runtime's :class:`~ember_runtime.cpu.Executor`, which ember and ``ember_runtime`` share: one definition of
how a compiled graph is called. The weights (parameters then constants) are bound at compile time, and
re-laid-out for the kernels once by the program's prepare entry. Parameters stay shared with the module, as
``torch.jit.trace``'s are: a call first checks each parameter's storage and version counter, and when an in-place
update (an optimizer step, ``load_state_dict``) or a new ``.data`` changed one, it re-binds the weights and re-runs
the prepare entry before computing.

A call costs a few microseconds of Python around the machine code: what depends only on the input shapes,
strides and dtypes (the checks, the symbol values, the arena size, the output shapes) is worked out on the first
call with them and kept, so later calls only pass the data pointers and allocate outputs. ctypes releases the GIL
during the call, and concurrent calls from several threads run at once, each on its own workspace.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Mapping, Sequence

import numpy as np

from ember_runtime.cpu import CompiledModule, compile_module
from ember_runtime.cpu.executor import Binding, Executor, Program, TensorSpec, address
from ember_runtime.symbolic import parse_dim, parse_expr

from ...backends import get_backend
from ...backends.cpu import contiguous_strides
from ...tensor import dtypes
from ...tensor.devices import as_device
from ...tensor.storage import Storage
from ...tensor.tensor import Tensor, escape_hooks, notify_escape
from ..ir import Graph, Value
from ..passes import debug_level
from ..symbolic import SymExpr
from .lower import ENTRY, LoweredGraph, lower_graph

__all__ = ["CompiledGraph", "compile_graph", "graph_program", "weight_names"]

# Per-signature call plans kept per CompiledGraph (as the executor keeps its bindings).
MAX_PLANS = 64

_CPU = as_device("cpu")
_CPU_BACKEND = get_backend("cpu")


def _output_tensor(array: np.ndarray, stride: tuple, dt: dtypes.dtype) -> Tensor:
    # As ember's own kernels wrap their results: the C-contiguous array is the storage buffer itself.
    tensor = Tensor._make(Storage(array, _CPU, _CPU_BACKEND), array.shape, stride, 0, dt)
    tensor._np = array
    return tensor


def _spec(name: str, value: Value) -> TensorSpec:
    shape = tuple(parse_dim(str(d)) if isinstance(d, SymExpr) else int(d) for d in value.shape)
    return TensorSpec(name, np.dtype(value.dtype.np_dtype), shape)


def weight_names(graph: Graph) -> list[str]:
    """The names of the graph's weights in binding order: its parameters', then ``constant<i>``."""
    return [v.name for v in graph.params] + [f"constant{i}" for i in range(len(graph.constants))]


def graph_program(graph: Graph, lowered: LoweredGraph, output_names: Sequence[str] | None = None) -> Program:
    """The calling convention of ``graph`` lowered as ``lowered`` (what the executor and an artifact need)."""
    names = list(output_names) if output_names is not None else [f"output{j}" for j in range(len(graph.outputs))]
    ranges = {name: (int(info.get("min") or 0), None if info.get("max") is None else int(info["max"]))
              for name, info in graph.symbols.items() if name in lowered.symbols}
    program = Program(lowered.ir_text, ENTRY, lowered.prepare, list(lowered.symbols),
                      [_spec(v.name, v) for v in graph.inputs],
                      [_spec(n, v) for n, v in zip(names, graph.outputs, strict=True)],
                      len(graph.params) + len(graph.constants), parse_expr(str(lowered.arena_size)),
                      lowered.packed_size, ranges, [parse_expr(str(g)) for g in graph.guards],
                      [_spec(name, value) for name, value in
                       zip(weight_names(graph), [*graph.params, *graph.constants], strict=True)])
    program.validate()
    return program


class _Plan:
    """A call with given input shapes, strides and dtypes: which inputs pass as they are (else a contiguous copy
    does), the executor's binding, and each output's strides and ember dtype."""

    __slots__ = ("contiguous", "binding", "outputs")

    def __init__(self, contiguous: tuple[bool, ...], binding: Binding, outputs: tuple):
        self.contiguous, self.binding, self.outputs = contiguous, binding, outputs


class CompiledGraph:
    """A compiled graph: call it with the graph's inputs (ember tensors) to get its outputs (ember tensors).

    Attributes:
        graph: the graph compiled.
        lowered: the :class:`~ember.jit.llvm.lower.LoweredGraph` (LLVM IR text, symbol order, arena plan).
        program: its calling convention (:class:`ember_runtime.cpu.Program`).
        weight_names / weights: the bound weights (parameter names, then ``constant<i>``), as NumPy arrays (views
            of contiguous parameters' own data).
        module: the :class:`~ember_runtime.cpu.CompiledModule` holding the machine code.
        executor: the runtime's :class:`~ember_runtime.cpu.Executor` that makes the calls.
    """

    def __init__(self, graph: Graph, params: Mapping[str, Tensor], lowered: LoweredGraph, module: CompiledModule):
        self.graph = graph
        self.lowered = lowered
        self.module = module
        self.program = graph_program(graph, lowered)
        self._bound = [params[v.name] for v in graph.params] + [v.data for v in graph.constants]
        self.weight_names = weight_names(graph)
        self._output_dtypes = [v.dtype for v in graph.outputs]
        self._lock = threading.Lock()
        self._bind_weights()

    def _bind_weights(self) -> None:
        """Bind the weights' current data (a fresh executor: its workspaces point at them, and its prepare entry
        re-lays them out) and remember each parameter's storage and version, to notice later updates."""
        # Constants are frozen at trace time; parameters are watched (storage identity and version counter).
        self._params = self._bound[:len(self.graph.params)]
        self._seen = self._watch()
        self.weights = [np.asarray(t.detach().numpy(), order="C") for t in self._bound]
        self.executor = Executor(self.program, self.weights, self.module)
        self._plans: dict[tuple, _Plan] = {}

    def _watch(self) -> list[tuple]:
        return [(t._storage, t._storage.version) for t in self._params]

    def _plan(self, inputs: Sequence[Tensor], key: tuple) -> _Plan:
        for value, tensor in zip(self.graph.inputs, inputs, strict=True):
            if tensor.dtype is not value.dtype:
                raise TypeError(f"input '{value.name}' must have dtype {value.dtype}, got {tensor.dtype}")
        binding = self.executor.binding([tuple(t.shape) for t in inputs], [t.dtype.np_dtype for t in inputs])
        outputs = tuple((contiguous_strides(shape), dt)
                        for shape, dt in zip(binding.output_shapes, self._output_dtypes, strict=True))
        plan = _Plan(tuple(t.is_contiguous() for t in inputs), binding, outputs)
        with self._lock:
            if len(self._plans) >= MAX_PLANS:
                del self._plans[next(iter(self._plans))]  # the oldest
            self._plans[key] = plan
        return plan

    def __call__(self, inputs: Sequence[Tensor]) -> list[Tensor]:
        """The graph's outputs for ``inputs`` (in ``graph.inputs`` order; shapes bind the symbols)."""
        if escape_hooks:  # inside a trace: reading input data escapes it, as Tensor.numpy() reports
            for tensor in inputs:
                notify_escape(tensor, "numpy()")
        if len(inputs) != len(self.graph.inputs):
            raise TypeError(f"the graph takes {len(self.graph.inputs)} inputs, got {len(inputs)}")
        if self._watch() != self._seen:  # a parameter was updated in place or given new data: re-bind, re-pack
            with self._lock:
                if self._watch() != self._seen:
                    self._bind_weights()
        key = tuple([(t._shape, t._stride, t._dtype) for t in inputs])
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plan(inputs, key)
        addresses = []
        copies = []  # contiguous copies of strided inputs, alive until the call returns
        for tensor, contiguous in zip(inputs, plan.contiguous, strict=True):
            if contiguous:
                data = tensor._storage.data
                if type(data) is np.ndarray:
                    addresses.append(address(data) + tensor._offset * data.itemsize)
                    continue
            array = np.asarray(tensor.detach().numpy(), order="C")
            copies.append(array)
            addresses.append(address(array))
        arrays = self.executor.execute(plan.binding, addresses)
        return [_output_tensor(a, stride, dt) for a, (stride, dt) in zip(arrays, plan.outputs, strict=True)]


def compile_graph(graph: Graph, params: Mapping[str, Tensor]) -> CompiledGraph:
    """Compile ``graph`` (with ``params`` bound to its parameters, by name) for this machine.

    ``EMBER_DEBUG=4`` prints the LLVM IR to stderr, ``=5`` also the optimised assembly.

    Raises:
        NotImplementedError: an op of the graph has no LLVM lowering (the message names it); run the graph with
            the interpreter instead.
        KeyError: a graph parameter has no tensor in ``params``.
    """
    missing = [v.name for v in graph.params if v.name not in params]
    if missing:
        raise KeyError(f"no tensor bound to the graph parameters {missing}")
    lowered = lower_graph(graph)
    level = debug_level()
    if level >= 4:
        print(f"=== ember.jit LLVM IR ===\n{lowered.ir_text}", file=sys.stderr)
    module = compile_module(lowered.ir_text)
    if level >= 5:
        print(f"=== ember.jit assembly ===\n{module.assembly()}", file=sys.stderr)
    return CompiledGraph(graph, params, lowered, module)
