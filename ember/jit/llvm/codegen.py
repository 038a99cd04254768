"""What every lowering shares: LLVM types for ember dtypes, loops, size expressions in IR, and the registry.

A lowering turns one graph node into the body of one kernel function (see :class:`KernelContext`). Kernels
see their tensor operands as :class:`Operand`: a typed pointer to the operand's element 0 and its shape and
strides in elements, as size expressions over the graph's symbols (:mod:`ember.jit.symbolic`), which
:class:`SymEmitter` evaluates in IR from the i64 symbol values the kernel receives. A stride of 0 is a
broadcast dim.

Weights packed at compile time: a lowering whose operand is a weight (a parameter or constant of static shape,
:func:`is_weight`) may ask for a re-laid-out copy of it with :meth:`KernelContext.prepacked`::

    packed = ctx.prepacked(node.operands[1], nbytes, emit_pack, tag="sgemm_b_t")

``emit_pack(builder, source, dest)`` emits the IR that writes the copy: ``source`` is the weight as an
:class:`Operand` (contiguous), ``dest`` the 64-byte aligned destination of ``nbytes`` bytes. It runs once, in the
graph's ``ember_prepare`` entry (:mod:`.lower`), which the caller calls after binding the weights and before the
first graph call; the kernel gets ``packed``, the pointer to the copy in the packed region. Requests with the same
weight and ``tag`` share one copy (a weight used twice is packed once), so a tag must name the layout fully
(everything ``emit_pack`` depends on besides the weight). Snapshot semantics: compiled code computes with the
weights as they were when ``ember_prepare`` last ran (as an ONNX Runtime session or a frozen TorchScript module
computes with the weights it was built with); a caller that changes a weight must run ``ember_prepare`` again
(ember's CompiledGraph does when a parameter's storage version moves). The GEMM is the example: linalg.py's
``linear`` packs its weight with ``ember_rt_pack_b`` and calls ``ember_rt_sgemm`` with PREPACKED_B (conv.py
packs its filters as A, PREPACKED_A).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import llvmlite.ir as ir

from ember_runtime.cpu.gemm_microkernel import counted_loop
from ember_runtime.cpu.status import STATUS_ERRORS

from ...tensor import dtypes
from ..ir import CONST, PARAM, Node, Value
from ..symbolic import SymExpr, _Div, _Mod, as_expr

__all__ = ["ERRORS", "LOWERINGS", "SCRATCH", "KernelContext", "Operand", "PackRequest", "PackedRegion", "SymEmitter",
           "count_loop", "is_weight", "llvm_type", "lowering", "memory_type", "unsupported"]

I64 = ir.IntType(64)
I8 = ir.IntType(8)
I1 = ir.IntType(1)
PTR = ir.PointerType()

_INT_BITS = {dtypes.int8: 8, dtypes.uint8: 8, dtypes.int16: 16, dtypes.int32: 32, dtypes.int64: 64}


def unsupported(node_op: str, why: str) -> NotImplementedError:
    """The error a lowering raises for a case it does not handle; the caller falls back to the interpreter."""
    return NotImplementedError(f"the LLVM backend cannot lower the op '{node_op}': {why}")


def llvm_type(dt: dtypes.dtype, node_op: str = "?") -> ir.Type:
    """The IR type kernels compute ``dt`` in (bool is i1)."""
    if dt is dtypes.float32:
        return ir.FloatType()
    if dt is dtypes.float64:
        return ir.DoubleType()
    if dt is dtypes.bool:
        return I1
    if dt in _INT_BITS:
        return ir.IntType(_INT_BITS[dt])
    raise unsupported(node_op, f"dtype {dt} is not supported (float32, float64, integers and bool are)")


def memory_type(dt: dtypes.dtype, node_op: str = "?") -> ir.Type:
    """The IR type ``dt`` is stored as (bool is one byte, as in NumPy)."""
    return I8 if dt is dtypes.bool else llvm_type(dt, node_op)


@dataclass
class Operand:
    """A tensor inside a kernel: pointer to its element 0, dtype, and shape/strides (elements) as expressions."""

    ptr: ir.Value
    dtype: dtypes.dtype
    shape: tuple
    strides: tuple

    def load(self, b: ir.IRBuilder, index: ir.Value) -> ir.Value:
        """The element at linear element ``index`` from ``ptr``, in its compute type."""
        mtype = memory_type(self.dtype)
        value = b.load(b.gep(self.ptr, [index], inbounds=True, source_etype=mtype), typ=mtype)
        return b.icmp_unsigned("!=", value, ir.Constant(I8, 0)) if self.dtype is dtypes.bool else value

    def store(self, b: ir.IRBuilder, index: ir.Value, value: ir.Value) -> None:
        mtype = memory_type(self.dtype)
        if self.dtype is dtypes.bool:
            value = b.zext(value, I8)
        b.store(value, b.gep(self.ptr, [index], inbounds=True, source_etype=mtype))


class SymEmitter:
    """Evaluates size expressions in IR from the symbols' i64 values, each distinct expression once.

    Expressions are emitted where the builder stands when first asked for, so kernels ask for them in their
    entry block (dominating every loop)."""

    def __init__(self, builder: ir.IRBuilder, symbols: dict[str, ir.Value]):
        self.builder = builder
        self.symbols = symbols
        self._cache: dict[SymExpr, ir.Value] = {}

    def __call__(self, expr: SymExpr | int) -> ir.Value:
        expr = as_expr(expr)
        if expr.is_const:
            return ir.Constant(I64, expr.const_value)
        found = self._cache.get(expr)
        if found is None:
            found = self._cache[expr] = self._emit(expr)
        return found

    def _emit(self, expr: SymExpr) -> ir.Value:
        b = self.builder
        total = None
        for monomial, coef in expr.terms:
            term = ir.Constant(I64, coef)
            for atom, power in monomial:
                atom_value = self._atom(atom)
                for _ in range(power):
                    term = b.mul(term, atom_value)
            total = term if total is None else b.add(total, term)
        return total

    def _atom(self, atom) -> ir.Value:
        if isinstance(atom, str):
            return self.symbols[atom]
        b = self.builder
        num, den = self(atom.num), self(atom.den)
        # Python's floor division and modulo (sizes are non-negative, but expressions like -N//2 need not be).
        quotient, rest = b.sdiv(num, den), b.srem(num, den)
        zero = ir.Constant(I64, 0)
        fix = b.and_(b.icmp_signed("!=", rest, zero), b.icmp_signed("!=", b.icmp_signed("<", rest, zero),
                                                                    b.icmp_signed("<", den, zero)))
        if isinstance(atom, _Mod):
            return b.select(fix, b.add(rest, den), rest)
        assert isinstance(atom, _Div)
        return b.select(fix, b.sub(quotient, ir.Constant(I64, 1)), quotient)


@contextmanager
def count_loop(b: ir.IRBuilder, count: ir.Value, name: str = "i") -> Iterator[ir.Value]:
    """``for i in range(count)``: the body is emitted inside the ``with``; the builder ends after the loop."""
    with counted_loop(b, ir.Constant(I64, 0), count, 1, name) as index:
        yield index


def is_weight(value: Value | None) -> bool:
    """Whether ``value`` is a parameter or constant of static shape (its packed copy has a constant size)."""
    return value is not None and value.kind in (PARAM, CONST) and value.is_static


EmitPack = Callable[[ir.IRBuilder, Operand, ir.Value], None]


@dataclass(frozen=True)
class PackRequest:
    """One weight's packed copy: at ``offset`` bytes into the packed region, ``nbytes`` long, written by
    ``emit_pack`` from ``value`` (see the module docstring)."""

    value: Value
    tag: str
    offset: int
    nbytes: int
    emit_pack: EmitPack


class PackedRegion:
    """The packed copies a module's kernels asked for, laid end to end at 64-byte aligned offsets."""

    ALIGNMENT = 64

    def __init__(self):
        self.requests: dict[tuple[Value, str], PackRequest] = {}
        self.size = 0

    def request(self, value: Value, nbytes: int, emit_pack: EmitPack, tag: str) -> PackRequest:
        key = (value, tag)
        found = self.requests.get(key)
        if found is None:
            found = self.requests[key] = PackRequest(value, tag, self.size, nbytes, emit_pack)
            self.size += -(-max(nbytes, 1) // self.ALIGNMENT) * self.ALIGNMENT
        elif found.nbytes != nbytes:
            raise ValueError(f"two packed copies of {value} tagged {tag!r} differ in size: {found.nbytes} and {nbytes}")
        return found


class KernelContext:
    """One kernel function being built for one node: its builder, operands, outputs and symbol values.

    Attributes:
        node: the graph node being lowered.
        builder: positioned in the kernel's entry block; the lowering emits the whole body (no ``ret``).
        sym: evaluates size expressions (see :class:`SymEmitter`).
        outputs: one contiguous :class:`Operand` per node output.
        host_vector_bits: the widest vector the host has (kernels pick tile widths from it).
        scratch: the pointer to the kernel's scratch space when its op registered one in :data:`SCRATCH`.
        status: the pointer to the graph call's i64 status word (see :meth:`report`).
        packed: the pointer to the graph's packed region (see :meth:`prepacked`).
        region: the module's :class:`PackedRegion` (None: this kernel cannot ask for packed weights).
    """

    def __init__(self, node: Node, builder: ir.IRBuilder, sym: SymEmitter, tensors: dict[Value, Operand],
                 outputs: list[Operand], host_vector_bits: int, scratch: ir.Value | None = None,
                 status: ir.Value | None = None, packed: ir.Value | None = None,
                 region: PackedRegion | None = None):
        self.node = node
        self.scratch = scratch
        self.status = status
        self.packed = packed
        self.region = region
        self.builder = builder
        self.sym = sym
        self._tensors = tensors
        self.outputs = outputs
        self.host_vector_bits = host_vector_bits

    def tensor(self, value: Value) -> Operand:
        """The kernel's view of the operand ``value``."""
        return self._tensors[value]

    def report(self, failed: ir.Value, code: int) -> None:
        """Record error ``code`` (a key of :data:`ERRORS`) in the call's status word where ``failed`` (an i1) holds.

        A kernel cannot raise: it keeps its memory accesses in bounds, finishes, and the caller turns a non-zero
        status into the Python exception, so bad data gives an error rather than a silently wrong answer. The first
        error a kernel reports is kept (a later check may fail only because of the first, as eager never reaches it).
        """
        b = self.builder
        with b.if_then(failed, likely=False):  # atomically, as the tasks of a parallel kernel may report at once
            b.cmpxchg(self.status, ir.Constant(I64, 0), ir.Constant(I64, code), "monotonic", "monotonic")

    def prepacked(self, value: Value, nbytes: int, emit_pack: EmitPack, tag: str) -> ir.Value | None:
        """The pointer to the packed copy of the weight ``value`` (``nbytes`` bytes that ``emit_pack`` writes
        once, in ``ember_prepare``; see the module docstring), or None when ``value`` is not a weight
        (:func:`is_weight`) or this kernel has no packed region."""
        if self.region is None or self.packed is None or not is_weight(value):
            return None
        request = self.region.request(value, nbytes, emit_pack, tag)
        return self.builder.gep(self.packed, [ir.Constant(I64, request.offset)], inbounds=True, source_etype=I8)

    @property
    def module(self) -> ir.Module:
        return self.builder.module

    def offset(self, operand: Operand, indices: list[ir.Value]) -> ir.Value:
        """The element offset ``sum(index_d * stride_d)`` of ``operand`` at ``indices`` (one per dim)."""
        b = self.builder
        total = ir.Constant(I64, 0)
        for index, stride in zip(indices, operand.strides, strict=True):
            if stride == 0:
                continue
            total = b.add(total, index if stride == 1 else b.mul(index, self.sym(stride)))
        return total


# Status codes a kernel may report (KernelContext.report) -> the exception the graph call raises; the table lives
# in the runtime, which raises them for artifacts too.
ERRORS = STATUS_ERRORS

# op name -> lowering(ctx) that emits the node's kernel body; a missing op makes compilation raise.
LOWERINGS: dict[str, Callable[[KernelContext], None]] = {}
# op name -> scratch(node, vector_bits) -> bytes of arena scratch its kernel needs (None: none), given to the
# kernel as ``ctx.scratch`` (64-byte aligned, live only while the kernel runs).
SCRATCH: dict[str, Callable[[Node, int], object]] = {}


def lowering(*names: str) -> Callable[[Callable[[KernelContext], None]], Callable[[KernelContext], None]]:
    """Decorator: register ``fn`` as the lowering of the ops ``names``."""

    def register(fn: Callable[[KernelContext], None]) -> Callable[[KernelContext], None]:
        for name in names:
            if name in LOWERINGS:
                raise ValueError(f"op {name!r} has two LLVM lowerings")
            LOWERINGS[name] = fn
        return fn

    return register
