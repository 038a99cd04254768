"""``ember.jit.trace``: record a module's or function's forward into a graph and wrap it as a callable."""

from __future__ import annotations

import inspect
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from ..autograd import no_grad
from ..nn.modules.module import Module
from ..tensor.tensor import Tensor
from . import passes
from .artifact import save as save_artifact
from .check import check_trace
from .interpreter import bind_symbols, run_graph
from .ir import INPUT, PARAM, Graph, Value, format_dtype, format_shape
from .pytree import constants, describe, flatten, leaf_names, unflatten
from .symbolic import SymExpr, SymInt, sym
from .tracer import Tracer, TracingError, symbolic_tensor
from .verifier import verify

__all__ = ["TensorSpec", "TracedModule", "TracingError", "trace"]

DynamicDims = Mapping[int | str, Mapping[int, str] | Sequence[int]] | None


class TensorSpec(NamedTuple):
    """One input or output of a traced graph: its name, dtype and shape (ints, and symbol names as str)."""

    name: str
    dtype: Any
    shape: tuple

    def __str__(self) -> str:
        return f"{self.name}: {format_dtype(self.dtype)}{format_shape(self.shape)}"


class TracedModule:
    """A traced forward: call it with tensors shaped like the example (dynamic dims free).

    Calls are checked against the signature: the number and structure of the arguments, each input's dtype and
    rank, its static sizes, and that inputs sharing a symbol agree on its size; errors name the input.

    Attributes:
        graph: the optimised :class:`~ember.jit.ir.Graph` (``print(traced.graph)`` shows it).
        inputs / outputs: lists of :class:`TensorSpec`, in the order of the flattened arguments and results.
        params: the tensors bound to the graph's parameter inputs, by name (the module's own parameters and
            buffers, shared with it; tensors that passes derived, such as folded BatchNorm weights, are new).
        backend: what runs the graph: ``"llvm"`` (machine code compiled for this CPU, the default) or
            ``"interpreter"`` (the reference, op by op; for debugging, and for graphs the compiler cannot lower).

    Parameters stay shared with the module, as in ``torch.jit.trace``: in-place updates reach the graph (the
    compiled code re-lays out its weights on the next call). Tensors the passes derived (folded BatchNorm weights)
    are snapshots taken at trace time.
    """

    def __init__(self, graph: Graph, params: dict[str, Tensor], in_spec: Any, out_spec: Any, name: str,
                 backend: str = "llvm"):
        self.graph = graph
        self.params = params
        self._in_spec, self._out_spec = in_spec, out_spec
        self.name = name
        self.backend = backend
        self._compiled = None
        inputs = {v: i for i, v in enumerate(graph.inputs)}
        self._aliased_outputs = [(j, v.kind, inputs[v] if v.kind == INPUT else v.name)
                                 for j, v in enumerate(graph.outputs) if v.kind in (INPUT, PARAM)]
        self._one_to_one = in_spec == (("tuple", tuple, [("tensor",)])) and out_spec == ("tensor",) \
            and not self._aliased_outputs
        if backend == "llvm":
            from .llvm.compiled import compile_graph

            try:
                self._compiled = compile_graph(graph, params)
            except NotImplementedError as error:
                warnings.warn(f"{name}: running the graph with the interpreter: {error}", stacklevel=3)
                self.backend = "interpreter"

    @property
    def inputs(self) -> list[TensorSpec]:
        return [_spec(v.name, v) for v in self.graph.inputs]

    @property
    def outputs(self) -> list[TensorSpec]:
        names = leaf_names(self._out_spec, "output")
        return [_spec(n, v) for n, v in zip(names, self.graph.outputs, strict=True)]

    def _check_inputs(self, leaves: list, spec: Any) -> None:
        specs = self.graph.inputs
        if len(leaves) != len(specs):
            raise TypeError(f"{self.name} takes {len(specs)} tensor inputs ({', '.join(v.name for v in specs)}), "
                            f"got {len(leaves)}")
        if spec != self._in_spec:
            raise TypeError(f"{self.name} was traced with arguments structured as {describe(self._in_spec)}, got "
                            f"{describe(spec)} (non-tensor arguments are fixed at their traced values)")
        for value, x in zip(specs, leaves, strict=True):
            if x.dtype is not value.dtype:
                raise TypeError(f"input '{value.name}' must have dtype {value.dtype}, got {x.dtype}")

    def forward(self, *args: Any) -> Any:
        """Run the graph on ``args`` (structured as the example inputs) and return the results likewise."""
        compiled = self._compiled
        if compiled is not None and self._one_to_one and len(args) == 1 and type(args[0]) is Tensor \
                and Tracer._active is None:
            # The common case, a tensor in and a tensor out, without the structure walks (the compiled graph
            # checks the input itself).
            return compiled(args)[0]
        leaves, spec = flatten(args)
        self._check_inputs(leaves, spec)
        if self._compiled is not None and Tracer._active is None:
            # The compiled graph binds (and checks) the symbols once per input signature itself. (Inside another
            # trace the interpreter runs instead, so that the graph's ops are recorded, inlined.)
            outputs = self._compiled(leaves)
            for j, kind, key in self._aliased_outputs:  # an input or parameter returned is the tensor itself
                outputs[j] = leaves[key] if kind == INPUT else self.params[key]
        else:
            with no_grad():
                outputs = run_graph(self.graph, leaves, self.params, bind_symbols(self.graph, leaves))
        return unflatten(self._out_spec, outputs)

    __call__ = forward

    def save(self, path: str | os.PathLike) -> None:
        """Write the traced model as an ``.ember`` artifact (``docs/artifact-format.md``), which
        ``ember.jit.load`` and the standalone ``ember_runtime.load`` run; a graph not compiled yet is compiled
        for the CPU first (``NotImplementedError`` names an op without an LLVM lowering)."""
        save_artifact(self, path)

    def __repr__(self) -> str:
        ins = ", ".join(map(str, self.inputs))
        outs = ", ".join(map(str, self.outputs))
        return f"TracedModule({self.name}: ({ins}) -> ({outs}), {len(self.graph.nodes)} nodes)"


def _spec(name: str, value: Value) -> TensorSpec:
    return TensorSpec(name, value.dtype, tuple(str(d) if isinstance(d, SymExpr) else d for d in value.shape))


def _argument_names(fn: Callable, count: int) -> list[str]:
    try:
        params = [p for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    names = [p.name for p in params[:count]]
    return names + [f"input{i}" for i in range(len(names), count)]


def _symbols_for(names: list[str], leaves: list[Tensor], dynamic_dims: DynamicDims) -> list[dict[int, str]]:
    """For each input leaf, which dims are symbolic and their symbol names."""
    if dynamic_dims is None:
        # Dim 0 of every input is a batch symbol; inputs whose dim 0 agree at trace time share it. A size of 0 or
        # 1 stays static: such a dim broadcasts, so the trace could not tell which ops depend on it.
        by_size: dict[int, str] = {}
        result = []
        for t in leaves:
            if t.dim() == 0 or t.shape[0] < 2:
                result.append({})
                continue
            size = int(t.shape[0])
            by_size.setdefault(size, "N" if not by_size else f"N{len(by_size)}")
            result.append({0: by_size[size]})
        return result
    if not isinstance(dynamic_dims, Mapping):
        raise TypeError("dynamic_dims must be None or a dict mapping an input (position or name) to its dynamic "
                        f"dims, got {type(dynamic_dims).__name__}")
    known = set(range(len(leaves))) | set(names)
    unknown = [k for k in dynamic_dims if k not in known]
    if unknown:
        raise ValueError(f"dynamic_dims names unknown inputs {unknown}; the inputs are {names}")
    result = []
    for i, (name, t) in enumerate(zip(names, leaves, strict=True)):
        dims = dynamic_dims.get(i, dynamic_dims.get(name, {}))
        if isinstance(dims, Sequence) and not isinstance(dims, str):
            dims = {d: ("N" if d == 0 else f"S{d}") for d in dims}
        if not isinstance(dims, Mapping):
            raise TypeError(f"dynamic_dims['{name}'] must be a dict {{dim: symbol}} or a list of dims, got "
                            f"{type(dims).__name__}")
        checked = {}
        for d, symbol in dims.items():
            if isinstance(d, bool) or not isinstance(d, int) or not -t.dim() <= d < t.dim():
                raise ValueError(f"dynamic_dims: input '{name}' has {t.dim()} dims, so {d!r} is not one of its dims")
            if not isinstance(symbol, str) or not symbol.isidentifier():
                raise ValueError(f"dynamic_dims: a symbol name must be an identifier, got {symbol!r}")
            if t.shape[d] < 2:
                raise ValueError(f"dynamic_dims: input '{name}' dim {d} ({symbol}) has size {t.shape[d]} in the "
                                 "example; trace with a size of at least 2 on a dynamic dim (sizes 0 and 1 "
                                 "broadcast, so the trace could not tell which ops depend on it)")
            checked[d % t.dim()] = symbol
        result.append(checked)
    return result


def trace(fn_or_module: Module | Callable, example_inputs: Any, *, dynamic_dims: DynamicDims = None,
          check_inputs: Sequence[Any] | None = None, optimize: bool = True,
          backend: str = "llvm") -> TracedModule:
    """Trace ``fn_or_module`` on ``example_inputs`` into a static graph.

    The forward runs once, eagerly, on the example; every primitive op it dispatches becomes a node. Python
    control flow is not recorded: a branch or loop runs as it did for the example (pass ``check_inputs`` to
    catch a trace that depends on it). Sizes read from dynamic dims (``x.shape[0]``, ``x.size(1)``) stay symbolic
    through integer arithmetic, so ``view``/``reshape`` on them follow the size at run time.

    Args:
        fn_or_module: an :class:`ember.nn.Module` (its parameters and buffers become named graph inputs bound to
            the module's tensors) or a function of tensors.
        example_inputs: a tensor or a tuple of positional arguments (tensors, tuples/lists/dicts of them, and
            non-tensor values, which stay fixed).
        dynamic_dims: which dims are symbolic. ``None`` makes dim 0 of every input a batch symbol (``N``; inputs
            whose dim 0 differ get ``N1``, ``N2``...), except a dim 0 of size 0 or 1, which stays static. A dict
            maps an input (the position or name of a flattened input, as ``TracedModule.inputs`` lists them) to a
            dict ``{dim: symbol}`` or a list of dims (named ``N`` for dim 0, ``S<d>`` otherwise); inputs missing
            from the dict are static. Inputs sharing a symbol must agree on its size.
        check_inputs: further argument tuples (or single tensors); the traced graph is run on each and compared
            with eager execution, and a divergence raises :class:`TracingError`.
        optimize: run the graph passes (dead code, CSE, folding, simplification, fusion grouping).
        backend: ``"llvm"`` (the default): compile the graph to machine code for this CPU (:mod:`ember.jit.llvm`);
            a graph with an op or dtype the compiler lacks warns and runs with the interpreter. ``"interpreter"``:
            run the graph op by op with the reference interpreter (for debugging).

    Returns:
        A :class:`TracedModule`.

    Raises:
        TracingError: the forward does something a static graph cannot represent (a tensor turned into a
            Python value, random numbers, data-dependent shapes, writes through views or into inputs); the
            message names the user's source line.

    Example::

        >>> model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10)).eval()
        >>> traced = ember.jit.trace(model, ember.randn(8, 784))
        >>> traced(ember.randn(3, 784)).shape
        ember.Size([3, 10])
    """
    if backend not in ("interpreter", "llvm"):
        raise ValueError(f"ember.jit.trace: backend must be 'interpreter' or 'llvm', got {backend!r}")
    args = example_inputs if isinstance(example_inputs, tuple) else (example_inputs,)
    leaves, in_spec = flatten(args)
    if not leaves:
        raise TypeError("ember.jit.trace needs at least one tensor among the example inputs")
    is_module = isinstance(fn_or_module, Module)
    forward = fn_or_module.forward if is_module else fn_or_module
    name = type(fn_or_module).__name__ if is_module else getattr(fn_or_module, "__name__", "function")
    arg_names = _argument_names(forward, len(args))
    names = [n for i, a in enumerate(args) for n in leaf_names(flatten(a)[1], arg_names[i])]

    graph = Graph()
    params: dict[str, Tensor] = {}
    tracer = Tracer(graph)
    if is_module:
        for pname, tensor in [*fn_or_module.named_parameters(), *fn_or_module.named_buffers()]:
            tracer.bind(tensor, graph.add_param(pname, tensor.dtype, tuple(tensor.shape)))
            params[pname] = tensor
    traced_leaves = []
    for leaf_name, t, dims in zip(names, leaves, _symbols_for(names, leaves, dynamic_dims), strict=True):
        while leaf_name in params:  # an argument named like a parameter ("weight") keeps the graph's names unique
            leaf_name = f"input.{leaf_name}"
        shape = tuple(sym(dims[d]) if d in dims else int(n) for d, n in enumerate(t.shape))
        for d, symbol in dims.items():
            known = graph.symbols.setdefault(symbol, {"hint": int(t.shape[d]), "min": 1, "max": None})
            if known["hint"] != t.shape[d]:
                raise ValueError(f"dynamic_dims: input '{leaf_name}' dim {d} is the symbol {symbol}, whose size is "
                                 f"{known['hint']} in an earlier input, but it has size {t.shape[d]}")
        traced = symbolic_tensor(t.detach(), shape)
        tracer.bind(traced, graph.add_input(leaf_name, t.dtype, shape))
        traced_leaves.append(traced)
    with tracer, no_grad():
        result = fn_or_module(*unflatten(in_spec, traced_leaves))
    out_leaves, out_spec = flatten(result)
    if not out_leaves:
        raise TracingError(f"{name} returned no tensors; there is nothing to trace")
    sizes = [c for c in constants(out_spec) if isinstance(c, SymInt)]
    if sizes:
        raise TracingError(f"{name} returned the dynamic size {sizes[0].expr} ({int(sizes[0])} in this example) as a "
                           "Python int, which the graph would always return; return a tensor, or read the size "
                           "from an output's shape")
    with tracer:
        graph.outputs = [tracer.value_of(t) for t in out_leaves]
    verify(graph)
    if optimize:
        graph, params = passes.optimize(graph, params)
    traced_module = TracedModule(graph, params, in_spec, out_spec, name, backend)
    if check_inputs:
        check_trace(traced_module, fn_or_module, check_inputs)
    return traced_module
