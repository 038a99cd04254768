"""GEMM epilogues from the graph: ``linear``/``convolution`` followed by ``relu`` and/or a residual ``add`` become
one node whose GEMM applies them to each finished output tile, so the product's intermediate is never written.

:func:`fuse_gemm_epilogues` matches, after the optimisation passes, a float ``linear`` or ``convolution`` node
``P`` whose result has exactly one reader and is not a graph output, with that reader ``U`` one of:

* ``relu(P)``;
* ``add(P, R)`` or ``add(R, P)`` (``R`` of ``P``'s exact shape and dtype: no broadcast), then also a ``relu`` of
  that sum when the sum has no other reader;
* a ``fused`` element-wise group (:mod:`ember.jit.passes.fusion`) whose body is one of those shapes
  (``relu(in)``, ``add(in, in')``, ``relu(add(in, in'))``) over ``P`` and ``R``.

A float32 2-d ``convolution`` with weight and bias parameters (or constants) and static image sizes, followed
(after any relu above) by a ``max_pool`` without padding or dilation whose windows all lie inside the image and
whose indices are not read, also absorbs the pool (:func:`pooled_convolution`): the convolution kernel pools
each image's result while it is in cache, and the full-size result is never written.

The pair is replaced by one node of ``P``'s op, at ``U``'s place (where ``R`` is computed), with the operands
``[x, weight, bias, R or None]`` and two more attributes, ``activation`` (``"relu"`` or None) and ``residual``
(bool): ``activation(P + R)``, the order of :class:`~ember.jit.llvm.gemm.GemmEpilogue` with
``residual="before"`` and of the eager ops. The lowerings (:mod:`.linalg`, :mod:`.conv`) read them with
:func:`epilogue_of` and apply them in the GEMM's epilogue, or with :func:`emit_epilogue_loop` after a loop-nest
product (never silently dropped). Such a node is for the LLVM backend only: the interpreter runs the original graph.
"""

from __future__ import annotations

import copy

import llvmlite.ir as ir

from ember_runtime.cpu import host_target

from ...tensor import dtypes
from ..ir import CONST, NODE, PARAM, Graph, Node, Value
from ..passes.fusion import FUSED
from .codegen import KernelContext, Operand
from .elementwise import emit_pointwise

__all__ = ["GEMM_OPS", "emit_epilogue_loop", "epilogue_of", "fuse_gemm_epilogues", "pooled_convolution"]

# The ops whose lowering applies the epilogue attributes (their operands: input, weight, bias).
GEMM_OPS = frozenset({"linear", "convolution"})
_FLOATS = (dtypes.float32, dtypes.float64)


def epilogue_of(node: Node) -> tuple[str | None, Value | None]:
    """``(activation, residual value)`` of a node :func:`fuse_gemm_epilogues` made; ``(None, None)`` for others."""
    residual = node.operands[3] if node.attrs.get("residual") else None
    return node.attrs.get("activation"), residual


def pooled_convolution(node: Node) -> tuple[tuple, tuple, tuple] | None:
    """``(pool kernel, pool stride, convolution output sizes)`` of a convolution that absorbed a max_pool, else
    None (its output is then the pooled ``[N, O, *out_sizes]``)."""
    if "pool_kernel" not in node.attrs:
        return None
    return tuple(node.attrs["pool_kernel"]), tuple(node.attrs["pool_stride"]), tuple(node.attrs["conv_sizes"])


def emit_epilogue_loop(ctx: KernelContext, out: Operand, activation: str | None, residual: Operand | None) -> None:
    """``out = activation(out + residual)`` in place over the finished output: the epilogue of a product computed
    by a loop nest (the GEMM's own epilogue applies it per tile instead)."""
    if activation is None and residual is None:
        return
    reads = [out] + ([residual] if residual is not None else [])

    def compute(b: ir.IRBuilder, loaded: list[ir.Value]) -> ir.Value:
        value = loaded[0] if residual is None else b.fadd(loaded[0], loaded[1])
        if activation == "relu":
            # torch.relu keeps NaN: only an ordered "less than zero" becomes zero.
            value = b.select(b.fcmp_ordered("<", value, ir.Constant(value.type, 0.0)),
                             ir.Constant(value.type, 0.0), value)
        return value

    emit_pointwise(ctx, out, reads, compute)


def _same_meta(a: Value, b: Value) -> bool:
    return a.dtype is b.dtype and tuple(a.shape) == tuple(b.shape)


def _plain_add(node: Node) -> bool:
    return (node.op == "add" and len(node.operands) == 2 and all(isinstance(x, Value) for x in node.operands)
            and set(node.attrs) <= {"alpha"} and node.attrs.get("alpha", 1) == 1)


def _residual_of(add: Node, product: Value) -> Value | None:
    """The other operand of ``add(product, R)`` / ``add(R, product)``, or None when it is not a usable residual."""
    first, second = add.operands
    if (first is product) == (second is product):
        return None
    other = second if first is product else first
    return other if _same_meta(other, product) else None


def _match_fused(node: Node, product: Value) -> tuple[str | None, Value | None] | None:
    """``(activation, residual)`` when the fused group ``node`` is ``relu(P)``, ``P + R`` or ``relu(P + R)``."""
    body: Graph = node.attrs["body"]
    if len(node.operands) != len(body.inputs) or [x for x in node.operands if x is product] != [product]:
        return None
    inner = body.inputs[node.operands.index(product)]
    outer = dict(zip(body.inputs, node.operands, strict=True))
    nodes = body.nodes
    if len(nodes) == 1 and nodes[0].op == "relu" and nodes[0].operands == [inner]:
        return "relu", None
    if not nodes or not _plain_add(nodes[0]) or len(nodes) > 2:
        return None
    residual = _residual_of(nodes[0], inner)
    if residual is None or residual not in outer or not _same_meta(outer[residual], product):
        return None
    if len(nodes) == 1:
        return None, outer[residual]
    if nodes[1].op == "relu" and nodes[1].operands == [nodes[0].output] and body.outputs == [nodes[1].output]:
        return "relu", outer[residual]
    return None


def _copy_graph(graph: Graph) -> Graph:
    """A copy of ``graph`` to rewrite (the caller's graph is left as it is), sharing the constants' tensors."""
    memo = {id(v.data): v.data for v in graph.constants if v.data is not None}
    return copy.deepcopy(graph, memo)


def fuse_gemm_epilogues(graph: Graph) -> Graph:
    """A copy of ``graph`` with each product + epilogue pair of the module docstring as one node.

    The copy has the same inputs, parameters, constants and outputs (in order, names, dtypes and shapes), so it
    lowers in the original's place; ``graph`` itself is not changed. Returns ``graph`` when nothing matches.
    """
    if not any(node.op in GEMM_OPS for node in graph.nodes):
        return graph
    original, graph = graph, _copy_graph(graph)
    changed = False
    while True:  # one match per walk: each rewrite changes the readers of the values around it
        readers, outputs = graph.users(), set(graph.outputs)
        match = next((m for node in graph.nodes if (m := _match(node, readers, outputs)) is not None), None)
        pooled = None if match else next((m for node in graph.nodes
                                          if (m := _match_pool(node, readers, outputs)) is not None), None)
        if match is None and pooled is None:
            break
        changed = True
        if match is not None:
            product, consumers, activation, residual = match
            fused = Node(product.op, [*product.operands[:3], residual],
                         {**product.attrs, "activation": activation, "residual": residual is not None})
        else:
            product, pool = pooled
            consumers = [pool]
            fused = Node(product.op, [*product.operands[:3], None],
                         {"activation": None, "residual": False, **product.attrs,
                          "pool_kernel": tuple(pool.attrs["kernel"]), "pool_stride": tuple(pool.attrs["stride"]),
                          "conv_sizes": tuple(product.output.shape[2:])})
        last = consumers[-1]
        fused.outputs = [Value(NODE, last.output.dtype, last.output.shape, node=fused)]
        graph.nodes[graph.nodes.index(last)] = fused
        for gone in (product, *consumers[:-1]):
            graph.nodes.remove(gone)
        graph.replace_all_uses(last.output, fused.output)
    return graph if changed else original


def _match_pool(node: Node, readers: dict, outputs: set) -> tuple[Node, Node] | None:
    """``(convolution, max_pool)`` when the pool can run inside the convolution's kernel (module docstring)."""
    if node.op != "convolution" or "pool_kernel" in node.attrs or node.attrs.get("residual"):
        return None
    product, (x, w, bias) = node.output, node.operands[:3]
    static = all(isinstance(size, int) for size in (*x.shape[1:], *product.shape[1:]))
    if (host_target().vector_bits < 256 or product.dtype is not dtypes.float32 or x.dtype is not dtypes.float32
            or len(product.shape) != 4
            or not static or not _is_weight(w) or (bias is not None and not _is_weight(bias))
            or product in outputs or len(readers.get(product, ())) != 1):
        return None
    pool = readers[product][0]
    if pool.op != "max_pool" or pool.operands[0] is not product or len(pool.outputs) != 2:
        return None
    values, indices = pool.outputs
    kernel, stride = tuple(pool.attrs["kernel"]), tuple(pool.attrs["stride"])
    inside = all((out - 1) * s + k <= size
                 for out, s, k, size in zip(values.shape[2:], stride, kernel, product.shape[2:], strict=True))
    if (indices in outputs or readers.get(indices) or any(pool.attrs["padding"]) or set(pool.attrs["dilation"]) != {1}
            or len(kernel) != 2 or not inside):
        return None
    return node, pool


def _is_weight(value: Value) -> bool:
    """A parameter or constant: contiguous where the kernel reads it, so the GEMM path applies."""
    return isinstance(value, Value) and value.kind in (PARAM, CONST)


def _match(node: Node, readers: dict, outputs: set) -> tuple[Node, list[Node], str | None, Value | None] | None:
    """``(product node, the nodes it absorbs in order, activation, residual)`` for a product node that can take
    its reader as an epilogue (see the module docstring), else None."""
    if (node.op not in GEMM_OPS or node.attrs.get("activation") or node.attrs.get("residual")
            or "pool_kernel" in node.attrs):
        return None
    product = node.output
    if product.dtype not in _FLOATS or product in outputs or len(readers.get(product, ())) != 1:
        return None
    reader = readers[product][0]
    if reader.op == "relu" and reader.operands == [product]:
        return node, [reader], "relu", None
    if reader.op == FUSED:
        found = _match_fused(reader, product)
        return None if found is None else (node, [reader], *found)
    if not _plain_add(reader) or (residual := _residual_of(reader, product)) is None:
        return None
    total = reader.output
    after = readers.get(total, ())
    if total not in outputs and len(after) == 1 and after[0].op == "relu" and after[0].operands == [total]:
        return node, [reader, after[0]], "relu", residual
    return node, [reader], None, residual
