"""Graph -> one LLVM module: a kernel function per computing node and one entry function that calls them.

The ABI of the entry function::

    i64 ember_graph(ptr noalias buffers, ptr noalias symbols)

``buffers`` is an array of data pointers, in this order: the graph inputs, the parameters, the constants, the
outputs, the arena (one pointer, 64-byte aligned), then the packed region (64-byte aligned,
:attr:`LoweredGraph.packed_size` bytes, owned by the caller). Every tensor behind them is contiguous and of its
value's dtype; outputs are written, the rest read. ``symbols`` is an array of i64: the value of each of
:attr:`LoweredGraph.symbols` (sorted names), from which the entry function evaluates every size, stride and
arena offset (:class:`~ember.jit.llvm.codegen.SymEmitter`). The arena holds every intermediate at the offset
the memory plan gives it (:mod:`~ember.jit.llvm.memory`); its size, an expression of the symbols, is
:attr:`LoweredGraph.arena_size`.

View nodes produce no code (:mod:`~ember.jit.llvm.layout`). A node writes straight into an output buffer when
its value is a graph output; outputs that are views, inputs, parameters or repeated get a copy at the end.
An op without a lowering raises ``NotImplementedError`` naming it: the caller runs the interpreter instead.

When kernels asked for weights packed at compile time (:meth:`~.codegen.KernelContext.prepacked`), the module
also has ``i64 ember_prepare(ptr buffers, ptr symbols)`` (:attr:`LoweredGraph.prepare`), same table: the caller
calls it once, after binding the parameters and constants and before the first ``ember_graph`` call, and it
writes every packed copy into the packed region. Compiled code thus uses the weights as they were then; after
changing a weight the caller runs ``ember_prepare`` again.
The entry returns 0, or the status code a kernel reported on bad data (``codegen.ERRORS``: an index out of
range), which the caller raises as the eager op's exception.
"""

from __future__ import annotations

from dataclasses import dataclass

import llvmlite.ir as ir
from llvmlite.ir.values import FunctionAttributes

from ember_runtime.cpu import host_target

from ...tensor.registry import OPS, VIEW
from ..ir import NODE, Graph, Node, Value
from ..symbolic import SymExpr, as_expr
from . import (  # noqa: F401 - importing a lowering module registers its lowerings
    conv,
    conv_transpose,
    creation,
    einsum,
    elementwise,
    gather,
    linalg,
    linalg_extra,
    movement,
    pool,
    reduce,
    reduce_extra,
    scan,
    scatter,
    sort,
    training,
)
from .codegen import (
    I64,
    LOWERINGS,
    PTR,
    SCRATCH,
    KernelContext,
    Operand,
    PackedRegion,
    SymEmitter,
    memory_type,
    unsupported,
)
from .elementwise import emit_copy
from .epilogues import fuse_gemm_epilogues
from .layout import Layout, contiguous_strides, view_layout
from .memory import ArenaPlan, Request, plan_arena

__all__ = ["ENTRY", "PREPARE", "LoweredGraph", "lower_graph"]

ENTRY = "ember_graph"
PREPARE = "ember_prepare"
_WIDE = ('"min-legal-vector-width"="512"', '"prefer-vector-width"="512"')


class _KernelAttributes(FunctionAttributes):
    # llvmlite only knows keyword attributes; LLVM keeps 512-bit vectors for functions that ask with these.
    _known = FunctionAttributes._known | frozenset(_WIDE)


@dataclass
class LoweredGraph:
    """The LLVM module of a graph and what its caller needs to call it (see the module docstring)."""

    ir_text: str
    symbols: list[str]
    arena: ArenaPlan
    layouts: dict[Value, Layout]
    # The packed region (bytes) and the entry that fills it once before the first call (None: there is none).
    packed_size: int = 0
    prepare: str | None = None

    @property
    def arena_size(self) -> SymExpr:
        return self.arena.size


def _symbols_of(graph: Graph) -> list[str]:
    names = set(graph.symbols)
    for value in graph.values():
        for size in value.shape:
            if isinstance(size, SymExpr):
                names |= size.symbols()
    return sorted(names)


def _is_view(node: Node) -> bool:
    return node.op in OPS and OPS[node.op].kind == VIEW


def plan_layouts(graph: Graph, vector_bits: int) -> tuple[dict[Value, Layout], list[Node], ArenaPlan]:
    """Every value's layout, the nodes that run kernels, and the arena plan of their results and scratch
    (keys ``("arena", node index, output index)`` and ``("scratch", node index)``)."""
    layouts: dict[Value, Layout] = {}
    hints = {name: info["hint"] for name, info in graph.symbols.items() if info.get("hint") is not None}
    for kind, values in (("input", graph.inputs), ("param", graph.params), ("const", graph.constants)):
        for i, value in enumerate(values):
            layouts[value] = Layout((kind, i), as_expr(0), value.shape, contiguous_strides(value.shape))
    claimed: dict[Value, int] = {}
    for j, value in enumerate(graph.outputs):
        if value.kind == NODE and value not in claimed and not _is_view(value.node):
            claimed[value] = j
    kernels: list[Node] = []
    defined: dict[tuple, int] = {}
    for index, node in enumerate(graph.nodes):
        if _is_view(node):
            layouts[node.output] = view_layout(node, layouts[node.operands[0]], hints)
            continue
        if node.op not in LOWERINGS:
            raise unsupported(node.op, "no LLVM lowering is registered for it")
        kernels.append(node)
        for k, value in enumerate(node.outputs):
            storage = ("output", claimed[value]) if value in claimed else ("arena", index, k)
            defined[storage] = index
            layouts[value] = Layout(storage, as_expr(0), value.shape, contiguous_strides(value.shape))
    # A storage lives from its node until the last read of any value laid out on it (outputs: to the end).
    last = dict(defined)
    for index, node in enumerate(graph.nodes):
        for value in node.input_values():
            storage = layouts[value].storage
            if storage in last:
                last[storage] = max(last[storage], index)
    for value in graph.outputs:
        if layouts[value].storage in last:
            last[layouts[value].storage] = len(graph.nodes)
    sizes = {}
    for node in kernels:
        for value in node.outputs:
            count = as_expr(1)
            for size in value.shape:
                count = count * size
            sizes[layouts[value].storage] = count * value.dtype.itemsize
    requests = [Request(s, sizes[s], defined[s], last[s]) for s in defined if s[0] == "arena"]
    for index, node in enumerate(graph.nodes):
        scratch = SCRATCH[node.op](node, vector_bits) if node in kernels and node.op in SCRATCH else None
        if scratch is not None:
            requests.append(Request(("scratch", index), scratch, index, index))
    return layouts, kernels, plan_arena(requests)


class _ModuleBuilder:
    """Builds the module: the entry function, and one kernel function per computing node and output copy."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.symbols = _symbols_of(graph)
        self.module = ir.Module(name="ember_graph")
        self.vector_bits = host_target().vector_bits
        self.layouts, self.kernels, self.arena = plan_layouts(graph, self.vector_bits)
        base = len(graph.inputs) + len(graph.params) + len(graph.constants)
        self.slots = {"input": 0, "param": len(graph.inputs), "const": len(graph.inputs) + len(graph.params),
                      "output": base, "arena": base + len(graph.outputs), "packed": base + len(graph.outputs) + 1}
        self.region = PackedRegion()

    def _attributes(self, fn: ir.Function) -> None:
        fn.attributes = _KernelAttributes(["nounwind"])
        if self.vector_bits >= 512:
            for attribute in _WIDE:
                fn.attributes.add(attribute)

    def build(self) -> str:
        entry = ir.Function(self.module, ir.FunctionType(I64, [PTR, PTR]), ENTRY)
        self._attributes(entry)
        for arg in entry.args:
            arg.add_attribute("noalias")
        self.b = b = ir.IRBuilder(entry.append_basic_block("entry"))
        self.entry = entry
        self.symbol_values = [b.load(b.gep(entry.args[1], [ir.Constant(I64, i)], inbounds=True, source_etype=I64),
                                     typ=I64, name=name) for i, name in enumerate(self.symbols)]
        self.sym = SymEmitter(b, dict(zip(self.symbols, self.symbol_values, strict=True)))
        self.status = b.alloca(I64, name="status")
        b.store(ir.Constant(I64, 0), self.status)
        self.bases: dict[tuple, ir.Value] = {}
        kernels = set(self.kernels)
        for index, node in enumerate(self.graph.nodes):
            if node in kernels:
                inputs = list(dict.fromkeys(node.input_values()))
                scratch = ("scratch", index) if ("scratch", index) in self.arena.offsets else None
                fn = self._kernel(f"k{index}_{node.op}", node, node.outputs, inputs, LOWERINGS[node.op],
                                  scratch is not None)
                args = [self._pointer(self.layouts[v], v.dtype.itemsize) for v in (*node.outputs, *inputs)]
                if scratch is not None:
                    args.append(self._pointer(Layout(scratch, as_expr(0), (), ()), 1))
                b.call(fn, [*args, self._packed_base(), self.status, *self.symbol_values])
        for j, value in enumerate(self.graph.outputs):
            if self.layouts[value].storage != ("output", j):
                fn = self._kernel(f"output{j}_copy", None, [value], [value],
                                  lambda ctx, source=value: emit_copy(ctx, ctx.tensor(source)))
                out = Layout(("output", j), as_expr(0), (), ())
                args = [self._pointer(out, 1), self._pointer(self.layouts[value], value.dtype.itemsize)]
                b.call(fn, [*args, self._packed_base(), self.status, *self.symbol_values])
        b.ret(b.load(self.status, typ=I64))
        if self.region.requests:
            self._prepare()
        return str(self.module)

    def _packed_base(self) -> ir.Value:
        """The packed region's pointer for a kernel call: loaded from the table once some kernel has asked for a
        packed weight (a graph without any passes a table whose packed slot it never reads)."""
        if not self.region.requests:
            return ir.Constant(PTR, None)
        if ("packed",) not in self.bases:
            self.bases[("packed",)] = self.b.load(self._slot(self.b, self.entry.args[0], self.slots["packed"]), typ=PTR)
        return self.bases[("packed",)]

    @staticmethod
    def _slot(b: ir.IRBuilder, table: ir.Value, slot: int) -> ir.Value:
        return b.gep(table, [ir.Constant(I64, slot)], inbounds=True, source_etype=PTR)

    def _prepare(self) -> None:
        """``i64 ember_prepare(ptr buffers, ptr symbols)``: every packed copy written from its weight."""
        fn = ir.Function(self.module, ir.FunctionType(I64, [PTR, PTR]), PREPARE)
        self._attributes(fn)
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        packed = b.load(self._slot(b, fn.args[0], self.slots["packed"]), typ=PTR)
        for request in self.region.requests.values():
            value = request.value
            kind, index = self.layouts[value].storage
            source = b.load(self._slot(b, fn.args[0], self.slots[kind] + index), typ=PTR)
            dest = b.gep(packed, [ir.Constant(I64, request.offset)], inbounds=True, source_etype=ir.IntType(8))
            request.emit_pack(b, Operand(source, value.dtype, value.shape, contiguous_strides(value.shape)), dest)
        b.ret(ir.Constant(I64, 0))

    def _pointer(self, layout: Layout, itemsize: int) -> ir.Value:
        """The address of ``layout``'s element 0, from the pointer table and the arena plan."""
        b, storage = self.b, layout.storage
        in_arena = storage[0] in ("arena", "scratch")
        key = ("arena",) if in_arena else storage
        if key not in self.bases:
            slot = self.slots["arena"] if in_arena else self.slots[storage[0]] + storage[1]
            self.bases[key] = b.load(self._slot(b, self.entry.args[0], slot), typ=PTR)
        offset = as_expr(layout.offset) * itemsize
        if in_arena:
            offset = offset + self.arena.offsets[storage]
        base = self.bases[key]
        return base if offset == 0 else b.gep(base, [self.sym(offset)], inbounds=True, source_etype=ir.IntType(8))

    def _kernel(self, name: str, node: Node | None, outputs: list[Value], inputs: list[Value], lower,
                scratch: bool = False) -> ir.Function:
        """A kernel ``void name(out..., in..., [scratch,] packed, status, symbols...)`` whose body ``lower(ctx)``
        emits (``packed``: the packed region, see :meth:`_packed_base`)."""
        n_ptrs = len(outputs) + len(inputs) + int(scratch) + 2
        fn = ir.Function(self.module, ir.FunctionType(ir.VoidType(), [PTR] * n_ptrs + [I64] * len(self.symbols)),
                         name)
        fn.linkage = "internal"
        self._attributes(fn)
        for arg in fn.args[:len(outputs)]:
            arg.add_attribute("noalias")
        # Size expressions go to the entry block, which dominates the body's loops (see SymEmitter).
        prologue = ir.IRBuilder(fn.append_basic_block("entry"))
        body = fn.append_basic_block("body")
        prologue.position_before(prologue.branch(body))
        sym = SymEmitter(prologue, dict(zip(self.symbols, fn.args[n_ptrs:], strict=True)))
        op = node.op if node is not None else "output copy"
        for value in (*outputs, *inputs):
            memory_type(value.dtype, op)
        outs = [Operand(arg, v.dtype, v.shape, contiguous_strides(v.shape))
                for arg, v in zip(fn.args, outputs, strict=False)]
        tensors = {v: Operand(arg, v.dtype, self.layouts[v].shape, self.layouts[v].strides)
                   for arg, v in zip(fn.args[len(outputs):], inputs, strict=False)}
        builder = ir.IRBuilder(body)
        lower(KernelContext(node, builder, sym, tensors, outs, self.vector_bits,
                            fn.args[n_ptrs - 3] if scratch else None, fn.args[n_ptrs - 1], fn.args[n_ptrs - 2],
                            self.region))
        builder.ret_void()
        return fn


def lower_graph(graph: Graph) -> LoweredGraph:
    """The graph as one LLVM module (see the module docstring for the entry function's ABI).

    Raises:
        NotImplementedError: some node's op (or dtype, or case) has no lowering; the message names the op.
    """
    # linear/convolution + relu/residual add (+ max_pool) become one kernel (a rewritten copy: the interpreter keeps
    # running the caller's graph, whose nodes eager ops understand).
    builder = _ModuleBuilder(fuse_gemm_epilogues(graph))
    text = builder.build()
    region = builder.region
    return LoweredGraph(text, builder.symbols, builder.arena, builder.layouts, region.size,
                        PREPARE if region.requests else None)
