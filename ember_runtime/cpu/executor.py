"""Calling a compiled graph: the program's calling convention, and an executor that binds NumPy arrays to it.

A :class:`Program` is everything a caller needs besides the machine code and the weights: the LLVM IR, the names
of its entry functions, the signature (input and output names, dtypes and shapes, whose dims are ints or size
expressions of the graph's symbols), the order of the symbols, the arena size (an expression) and the packed
region's size. ember builds one when it compiles a traced graph; an artifact stores one in its manifest.

The calling convention (what ember's LLVM lowering emits)::

    i64 ember_graph(ptr buffers, ptr symbols)      # every call
    i64 ember_prepare(ptr buffers, ptr symbols)    # once, before the first call (when the program has one)

``buffers`` is a table of data pointers: the inputs, the weights (the graph's parameters then its constants),
the outputs, the arena (scratch for intermediates, 64-byte aligned, :attr:`Program.arena_size` bytes for the
call's symbols) and the packed region (64-byte aligned, :attr:`Program.packed_size` bytes, written once by
``ember_prepare`` with weights re-laid out for the kernels). Every tensor is C-contiguous and of its spec's
dtype. ``symbols`` is an i64 array of the symbols' values, in :attr:`Program.symbols` order. The entry returns 0
or a status code (:mod:`ember_runtime.cpu.status`) that the executor raises.

The :class:`Executor` is safe to call from many threads at once: what depends only on the input shapes (symbol
values, arena size, output shapes) is worked out once per shape and shared; each concurrent call takes its own
workspace (pointer table and arena) from a free list, so calls never wait for one another, and in steady state
a call allocates only its outputs.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..symbolic import Expr, parse_dim, parse_expr
from .engine import CompiledModule
from .status import raise_status

__all__ = ["ALIGNMENT", "SIGNATURE_DTYPES", "Binding", "Executor", "Program", "TensorSpec", "format_shape"]

ALIGNMENT = 64
# Bindings kept per executor: one per distinct set of input shapes (a server sees a handful of batch sizes; a
# caller cycling through thousands re-binds, which costs what a first call costs).
MAX_BINDINGS = 64
_NO_BYTES = ctypes.c_char * 0
# The dtypes a compiled graph's inputs and outputs may have, by NumPy name (weights: format.DTYPES).
SIGNATURE_DTYPES = ("float32", "float64", "float16", "int8", "uint8", "int16", "int32", "int64", "bool")


def format_shape(shape: Sequence) -> str:
    return "[" + ",".join(str(d) for d in shape) + "]"


def address(array: np.ndarray) -> int:
    """The address of ``array``'s first element (``array.ctypes.data`` costs three times as much)."""
    try:
        return ctypes.addressof(_NO_BYTES.from_buffer(array))
    except TypeError:  # read-only memory (a memory-mapped weight): ctypes exports writable buffers only
        return array.ctypes.data


def _aligned_bytes(size: int) -> tuple[np.ndarray, int]:
    """A zeroed byte buffer of at least ``size`` bytes and the 64-byte aligned address inside it."""
    buffer = np.zeros(size + ALIGNMENT, dtype=np.uint8)
    start = buffer.ctypes.data
    return buffer, start + (-start) % ALIGNMENT


@dataclass(frozen=True)
class TensorSpec:
    """A graph input or output: its name, NumPy dtype and shape (dims are ints or size expressions)."""

    name: str
    dtype: np.dtype
    shape: tuple

    def to_json(self) -> dict:
        return {"name": self.name, "dtype": self.dtype.name,
                "shape": [d if isinstance(d, int) else str(d) for d in self.shape]}

    @staticmethod
    def from_json(data: dict) -> TensorSpec:
        """The spec a manifest entry describes, its JSON types exact; ``ValueError`` names what is malformed."""
        try:
            name, dtype, shape = _typed(data, "name", str), _typed(data, "dtype", str), _typed(data, "shape", list)
            if dtype not in SIGNATURE_DTYPES:
                raise ValueError(f"unknown dtype {dtype!r} (one of {', '.join(SIGNATURE_DTYPES)})")
            return TensorSpec(name, np.dtype(dtype), tuple(parse_dim(d) for d in shape))
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"malformed tensor spec {data!r}: {error}") from None


def _typed(data: dict, key: str, kind: type, default: object = ...) -> object:
    """``data[key]`` when it has exactly the JSON type ``kind`` (an int is a non-negative int, never a bool or a
    float or a string that ``int()`` would take: a size the code trusts must be what the producer wrote)."""
    if not isinstance(data, dict):
        raise TypeError(f"expected a JSON object, got {type(data).__name__}")
    if key not in data and default is not ...:
        return default
    value = data[key]
    if type(value) is not kind or (kind is int and value < 0):
        raise TypeError(f"'{key}' must be a{' non-negative' if kind is int else ''} {kind.__name__}, got {value!r}")
    return value


def _strings(values: list, what: str) -> list[str]:
    if not all(type(v) is str for v in values):
        raise TypeError(f"'{what}' must hold strings, got {values!r}")
    return list(values)


def _symbol_range(name: str, bounds: object) -> tuple[int, int | None]:
    if not (type(bounds) is list and len(bounds) == 2 and type(bounds[0]) is int and bounds[0] >= 0
            and (bounds[1] is None or type(bounds[1]) is int and bounds[1] >= bounds[0])):
        raise TypeError(f"the range of '{name}' must be [low, high or null] with 0 <= low <= high, got {bounds!r}")
    return bounds[0], bounds[1]


@dataclass
class Program:
    """A compiled graph's calling convention (see the module docstring); ``to_json``/``from_json`` give the
    manifest form (the IR text is stored beside it)."""

    ir_text: str
    entry: str
    prepare: str | None
    symbols: list[str]
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    n_weights: int
    arena_size: Expr
    packed_size: int = 0
    symbol_ranges: dict[str, tuple[int, int | None]] = field(default_factory=dict)
    # Conditions ``expr >= 0`` on the symbols beyond their ranges, which the trace assumed (x[:n + 1] needs n+1 <= N).
    guards: list[Expr] = field(default_factory=list)
    # Each weight's name, dtype and (static) shape, in order: what the bound arrays are checked against.
    weights: list[TensorSpec] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"entry": self.entry, "prepare": self.prepare, "symbols": list(self.symbols),
                "inputs": [s.to_json() for s in self.inputs], "outputs": [s.to_json() for s in self.outputs],
                "n_weights": self.n_weights, "arena_size": str(self.arena_size), "packed_size": self.packed_size,
                "symbol_ranges": {k: list(v) for k, v in sorted(self.symbol_ranges.items())},
                "guards": [str(g) for g in self.guards], "weights": [w.to_json() for w in self.weights]}

    @staticmethod
    def from_json(data: dict, ir_text: str) -> Program:
        """The program a manifest describes, its JSON types exact; ``ValueError`` names what is malformed."""
        try:
            required = isinstance(data, dict) and "prepare" in data and data["prepare"] is not None
            prepare = _typed(data, "prepare", str) if required else data["prepare"]
            ranges = _typed(data, "symbol_ranges", dict, {})
            program = Program(ir_text, _typed(data, "entry", str), prepare,
                              _strings(_typed(data, "symbols", list), "symbols"),
                              [TensorSpec.from_json(s) for s in _typed(data, "inputs", list)],
                              [TensorSpec.from_json(s) for s in _typed(data, "outputs", list)],
                              _typed(data, "n_weights", int), parse_expr(_typed(data, "arena_size", str)),
                              _typed(data, "packed_size", int), {k: _symbol_range(k, v) for k, v in ranges.items()},
                              [parse_expr(g) for g in _strings(_typed(data, "guards", list, []), "guards")],
                              [TensorSpec.from_json(w) for w in _typed(data, "weights", list, [])])
        except (KeyError, TypeError) as error:
            raise ValueError(f"malformed program description: {type(error).__name__}: {error}") from None
        program.validate()
        return program

    def validate(self) -> None:
        """Every size expression uses declared symbols only, and every symbol is an input dim."""
        declared = set(self.symbols)
        bound = {d.args[0] for s in self.inputs for d in s.shape if isinstance(d, Expr) and d.op == "sym"}
        exprs = [self.arena_size, *self.guards,
                 *(d for s in (*self.inputs, *self.outputs) for d in s.shape if isinstance(d, Expr))]
        for expr in exprs:
            unknown = expr.symbols() - declared
            if unknown:
                raise ValueError(f"size expression '{expr}' uses undeclared symbols {sorted(unknown)}")
        if declared - bound:
            raise ValueError(f"symbols {sorted(declared - bound)} are not the size of any input dim")
        if self.n_weights < 0 or self.packed_size < 0:
            raise ValueError("n_weights and packed_size must not be negative")
        if self.packed_size and self.prepare is None:
            raise ValueError(f"a packed region of {self.packed_size} bytes needs a prepare entry to fill it")
        if self.weights and len(self.weights) != self.n_weights:
            raise ValueError(f"{len(self.weights)} weight specs for {self.n_weights} weights")
        if any(not isinstance(d, int) for w in self.weights for d in w.shape):
            raise ValueError("weight shapes must be static")


@dataclass
class Binding:
    """What a call with given input shapes and dtypes needs, worked out once: the i64 symbol values, the arena
    size and each output's shape."""

    symbols: ctypes.Array
    arena_size: int
    output_shapes: tuple[tuple[int, ...], ...]


class _Workspace:
    """One call's pointer table and arena (a call in flight owns it; the arena only grows)."""

    def __init__(self, template: Sequence[int], arena_slot: int):
        self.table = (ctypes.c_void_p * len(template))(*template)
        self.arena_slot = arena_slot
        self.arena = np.empty(0, dtype=np.uint8)
        self.capacity = -1

    def reserve(self, size: int) -> None:
        if size > self.capacity:
            self.arena, self.table[self.arena_slot] = _aligned_bytes(size)
            self.capacity = size


class Executor:
    """Runs a :class:`Program` compiled into ``module`` with its ``weights`` bound (see the module docstring).

    Args:
        program: the calling convention.
        weights: the graph's parameters then constants, in order (copied once if not C-contiguous).
        module: the machine code (:func:`ember_runtime.cpu.compile_module` of ``program.ir_text``).
    """

    def __init__(self, program: Program, weights: Sequence[np.ndarray], module: CompiledModule):
        if len(weights) != program.n_weights:
            raise ValueError(f"the program takes {program.n_weights} weights, got {len(weights)}")
        self.program = program
        self.module = module
        self._entry = module.function(program.entry, ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p)
        for spec, weight in zip(program.weights, weights, strict=False):
            if weight.dtype != spec.dtype or tuple(weight.shape) != spec.shape:
                raise ValueError(f"weight '{spec.name}' must be {spec.dtype.name}{format_shape(spec.shape)}, got "
                                 f"{weight.dtype.name}{format_shape(weight.shape)}")
        self._weights = [w if w.flags.c_contiguous else np.asarray(w, order="C") for w in weights]
        n_in, n_out = len(program.inputs), len(program.outputs)
        self._first_output = n_in + program.n_weights
        self._arena_slot = self._first_output + n_out
        self._packed, packed_address = _aligned_bytes(program.packed_size)
        self._template = [0] * n_in + [address(w) for w in self._weights] + [0] * n_out + [0, packed_address]
        self._workspaces: list[_Workspace] = []
        self._bindings: dict[tuple, Binding] = {}
        self._lock = threading.Lock()
        self._no_symbols = (ctypes.c_int64 * max(1, len(program.symbols)))()
        if program.prepare is not None:
            prepare = module.function(program.prepare, ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p)
            table = (ctypes.c_void_p * len(self._template))(*self._template)
            status = prepare(ctypes.addressof(table), ctypes.addressof(self._no_symbols))
            if status:
                raise_status(status)

    # -- binding input shapes ---------------------------------------------------------------------------------
    def binding(self, shapes: Sequence[tuple[int, ...]], dtypes: Sequence[np.dtype]) -> Binding:
        """The :class:`Binding` for inputs of these shapes and dtypes (checked; cached per distinct key).

        Raises:
            TypeError: an input's dtype differs from its spec's.
            RuntimeError: a rank, a static dim or a symbol's size disagrees (the message names the input).
        """
        key = (tuple(shapes), tuple(dtypes))
        found = self._bindings.get(key)
        if found is not None:
            return found
        program = self.program
        if len(shapes) != len(program.inputs):
            raise TypeError(f"the model takes {len(program.inputs)} inputs "
                            f"({', '.join(s.name for s in program.inputs)}), got {len(shapes)}")
        values = self._bind_symbols(shapes, dtypes)
        symbols = (ctypes.c_int64 * max(1, len(program.symbols)))(*(values[name] for name in program.symbols))
        outputs = tuple(tuple(d if isinstance(d, int) else d.evaluate(values) for d in spec.shape)
                        for spec in program.outputs)
        found = Binding(symbols, program.arena_size.evaluate(values), outputs)
        with self._lock:
            if len(self._bindings) >= MAX_BINDINGS:
                del self._bindings[next(iter(self._bindings))]  # the oldest
            self._bindings[key] = found
        return found

    def _bind_symbols(self, shapes: Sequence[tuple[int, ...]], dtypes: Sequence[np.dtype]) -> dict[str, int]:
        values: dict[str, int] = {}
        for spec, shape, dtype in zip(self.program.inputs, shapes, dtypes, strict=True):
            if dtype != spec.dtype:
                raise TypeError(f"input '{spec.name}' must have dtype {spec.dtype.name}, got {np.dtype(dtype).name}")
            if len(shape) != len(spec.shape):
                raise RuntimeError(f"input '{spec.name}' must have {len(spec.shape)} dims {format_shape(spec.shape)}, "
                                   f"got {len(shape)} dims {list(shape)}")
            for dim, (declared, actual) in enumerate(zip(spec.shape, shape, strict=True)):
                if isinstance(declared, int):
                    if declared != actual:
                        hint = (" (dynamic dims traced at size 0 or 1 stay static: trace with a batch of 2 or more, "
                                "or mark the dim in dynamic_dims)") if declared < 2 else ""
                        raise RuntimeError(f"input '{spec.name}' must have shape {format_shape(spec.shape)}, got "
                                           f"{list(shape)} (dim {dim} is static: {declared}){hint}")
                    continue
                if declared.op != "sym":
                    continue  # a derived size: checked below, once every symbol is bound
                symbol = declared.args[0]
                bound = values.setdefault(symbol, actual)
                if bound != actual:
                    raise RuntimeError(f"input '{spec.name}' dim {dim} is the symbolic size {symbol}, already bound to "
                                       f"{bound} by an earlier input, but got {actual}")
                low, high = self.program.symbol_ranges.get(symbol, (0, None))
                if actual < low or (high is not None and actual > high):
                    raise RuntimeError(f"input '{spec.name}' dim {dim} ({symbol}) must lie in [{low}, "
                                       f"{'inf' if high is None else high}], got {actual}")
        for spec, shape in zip(self.program.inputs, shapes, strict=True):
            for dim, (declared, actual) in enumerate(zip(spec.shape, shape, strict=True)):
                if isinstance(declared, Expr) and declared.op != "sym" and declared.evaluate(values) != actual:
                    raise RuntimeError(f"input '{spec.name}' dim {dim} must be {declared} = "
                                       f"{declared.evaluate(values)}, got {actual}")
        for guard in self.program.guards:
            if guard.evaluate(values) < 0:
                raise RuntimeError(f"the graph was traced assuming {guard} >= 0 (a comparison of sizes in the traced "
                                   f"code), which does not hold for {values}; trace with sizes like these")
        return values

    # -- calls ------------------------------------------------------------------------------------------------
    def execute(self, binding: Binding, input_addresses: Sequence[int]) -> list[np.ndarray]:
        """Run the graph on inputs at ``input_addresses`` (C-contiguous, of the binding's shapes and dtypes; the
        caller keeps them alive) and return the new output arrays."""
        try:
            workspace = self._workspaces.pop()
        except IndexError:
            workspace = _Workspace(self._template, self._arena_slot)
        try:
            workspace.reserve(binding.arena_size)
            table = workspace.table
            for slot, pointer in enumerate(input_addresses):
                table[slot] = pointer
            outputs = []
            slot = self._first_output
            for spec, shape in zip(self.program.outputs, binding.output_shapes, strict=True):
                array = np.empty(shape, spec.dtype)
                table[slot] = address(array)
                outputs.append(array)
                slot += 1
            status = self._entry(ctypes.addressof(table), ctypes.addressof(binding.symbols))
        finally:
            self._workspaces.append(workspace)
        if status:
            raise_status(status)
        return outputs

    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """The graph's outputs for ``inputs`` (NumPy arrays or anything ``np.asarray`` takes, in input order)."""
        arrays = [np.asarray(x, order="C") for x in inputs]  # (ascontiguousarray would make 0-d arrays 1-d)
        binding = self.binding([a.shape for a in arrays], [a.dtype for a in arrays])
        return self.execute(binding, [address(a) if a.size else a.ctypes.data for a in arrays])
