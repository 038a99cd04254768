"""``compile_graph(graph, params) -> CompiledGraph``: a traced graph as host machine code, called through ctypes.

The parameters are bound once: their data pointers go into the pointer table as they are (a non-contiguous
parameter is copied once, at compile time). The arena of intermediates is one 64-byte aligned buffer, grown
to the largest size a call has needed and reused, so calls allocate only their outputs (which the caller
keeps). Inputs that are not contiguous are copied before the call. A non-zero status from the machine code
(a kernel met bad data, such as an index out of range) is raised as the eager op's exception. ctypes releases
the GIL during the call; calls of one CompiledGraph from several threads take turns (they share the arena and
the pointer table).

A call costs a few microseconds of Python around the machine code: what depends only on the input shapes,
strides and dtypes (the checks, the symbol values, the arena size, the output shapes) is worked out on the first
call with them and kept (:class:`_Binding`), so later calls only write the data pointers and allocate outputs.
"""

from __future__ import annotations

import ctypes
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ember_runtime.cpu import CompiledModule, compile_module

from ...backends import get_backend
from ...backends.cpu import contiguous_strides
from ...tensor import dtypes
from ...tensor.devices import as_device
from ...tensor.storage import Storage
from ...tensor.tensor import Tensor, escape_hooks, notify_escape
from ..interpreter import bind_symbols
from ..ir import Graph
from ..passes import debug_level
from ..symbolic import SymExpr
from .codegen import ERRORS
from .lower import ENTRY, LoweredGraph, lower_graph
from .memory import ALIGNMENT

__all__ = ["CompiledGraph", "compile_graph"]

# Bindings kept per CompiledGraph: one per distinct set of input shapes seen (a server sees a handful of batch
# sizes; a caller cycling through thousands re-binds, which is the cost of a first call, not an error).
MAX_BINDINGS = 64

_CPU = as_device("cpu")
_CPU_BACKEND = get_backend("cpu")
_NO_BYTES = ctypes.c_char * 0


def _address(array: np.ndarray) -> int:
    """The address of ``array``'s first element (``array.ctypes.data`` costs three times as much)."""
    try:
        return ctypes.addressof(_NO_BYTES.from_buffer(array))
    except TypeError:  # read-only memory: ctypes exports writable buffers only
        return array.ctypes.data


def _contiguous(tensor: Tensor) -> np.ndarray:
    return np.ascontiguousarray(tensor.detach().numpy())


def _output_tensor(array: np.ndarray, stride: tuple, dt: dtypes.dtype) -> Tensor:
    # As ember's own kernels wrap their results: the C-contiguous array is the storage buffer itself.
    tensor = Tensor._make(Storage(array, _CPU, _CPU_BACKEND), array.shape, stride, 0, dt)
    tensor._np = array
    return tensor


@dataclass
class _Binding:
    """What a call with given input shapes, strides and dtypes needs, worked out once (:meth:`CompiledGraph._bind`).

    ``contiguous`` says per input whether its memory is passed as it is (else a contiguous copy is);
    ``outputs`` holds per output its pointer-table slot, shape, strides, NumPy and ember dtypes; ``args`` are the
    entry function's arguments (the pointer table and this binding's symbol values).
    """

    contiguous: tuple[bool, ...]
    outputs: tuple[tuple[int, tuple, tuple, np.dtype, dtypes.dtype], ...]
    symbols: ctypes.Array
    args: tuple[int, int]


class CompiledGraph:
    """A compiled graph: call it with the graph's inputs (ember tensors) to get its outputs (ember tensors).

    Attributes:
        graph: the graph compiled.
        lowered: the :class:`~ember.jit.llvm.lower.LoweredGraph` (LLVM IR text, symbol order, arena plan).
        module: the :class:`~ember_runtime.cpu.CompiledModule` holding the machine code.
    """

    def __init__(self, graph: Graph, params: Mapping[str, Tensor], lowered: LoweredGraph, module: CompiledModule):
        self.graph = graph
        self.lowered = lowered
        self.module = module
        self._entry = module.function(ENTRY, ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p)
        n_in, n_params, n_consts = len(graph.inputs), len(graph.params), len(graph.constants)
        self._first_output = n_in + n_params + n_consts
        self._pointers = (ctypes.c_void_p * (self._first_output + len(graph.outputs) + 1))()
        self._keep: list[np.ndarray] = []  # bound arrays (and copies of non-contiguous parameters) stay alive
        bound = [params[v.name] for v in graph.params] + [v.data for v in graph.constants]
        for slot, tensor in enumerate(bound, start=n_in):
            array = _contiguous(tensor)
            self._keep.append(array)
            self._pointers[slot] = array.ctypes.data
        self._arena = np.empty(0, dtype=np.uint8)
        self._arena_capacity = -1
        self._bindings: dict[tuple, _Binding] = {}
        self._lock = threading.Lock()

    def _bind_arena(self, bindings: Mapping[str, int]) -> None:
        size = self.lowered.arena_size.evaluate(bindings)
        if size > self._arena_capacity:
            self._arena = np.empty(size + ALIGNMENT, dtype=np.uint8)
            self._arena_capacity = size
            start = self._arena.ctypes.data
            self._pointers[-1] = start + (-start) % ALIGNMENT

    def _bind(self, inputs: Sequence[Tensor], key: tuple) -> _Binding:
        """Check ``inputs`` against the graph, size the arena for them and keep what later calls can reuse.

        The arena only grows, so every kept binding stays valid when a later one grows it.
        """
        graph = self.graph
        bindings = bind_symbols(graph, inputs)
        for value, tensor in zip(graph.inputs, inputs, strict=True):
            if tensor.dtype is not value.dtype:
                raise TypeError(f"input '{value.name}' must have dtype {value.dtype}, got {tensor.dtype}")
        self._bind_arena(bindings)
        symbols = (ctypes.c_int64 * max(1, len(self.lowered.symbols)))(
            *(int(bindings[name]) for name in self.lowered.symbols))
        outputs = []
        for j, value in enumerate(graph.outputs):
            shape = tuple(int(d.evaluate(bindings)) if isinstance(d, SymExpr) else d for d in value.shape)
            outputs.append((self._first_output + j, shape, contiguous_strides(shape), value.dtype.np_dtype,
                            value.dtype))
        binding = _Binding(tuple(t.is_contiguous() for t in inputs), tuple(outputs), symbols,
                           (ctypes.addressof(self._pointers), ctypes.addressof(symbols)))
        if len(self._bindings) >= MAX_BINDINGS:
            del self._bindings[next(iter(self._bindings))]  # the oldest
        self._bindings[key] = binding
        return binding

    def __call__(self, inputs: Sequence[Tensor]) -> list[Tensor]:
        """The graph's outputs for ``inputs`` (in ``graph.inputs`` order; shapes bind the symbols)."""
        if escape_hooks:  # inside a trace: reading input data escapes it, as Tensor.numpy() reports
            for tensor in inputs:
                notify_escape(tensor, "numpy()")
        key = tuple([(t._shape, t._stride, t._dtype) for t in inputs])
        with self._lock:
            binding = self._bindings.get(key)
            if binding is None:
                binding = self._bind(inputs, key)
            return self._run(inputs, binding)

    def _run(self, inputs: Sequence[Tensor], binding: _Binding) -> list[Tensor]:
        pointers = self._pointers
        copies = []  # contiguous copies of strided inputs, alive until the call returns
        for slot, (tensor, contiguous) in enumerate(zip(inputs, binding.contiguous, strict=True)):
            if contiguous:
                data = tensor._storage.data
                if type(data) is np.ndarray:
                    pointers[slot] = _address(data) + tensor._offset * data.itemsize
                    continue
            array = _contiguous(tensor)
            copies.append(array)
            pointers[slot] = array.ctypes.data
        results = []
        for slot, shape, stride, np_dtype, dt in binding.outputs:
            array = np.empty(shape, np_dtype)
            pointers[slot] = _address(array)
            results.append(_output_tensor(array, stride, dt))
        status = self._entry(*binding.args)
        if status:  # a kernel met bad data (an index out of range): raise as the eager op does
            error, message = ERRORS[status]
            raise error(message)
        return results


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
