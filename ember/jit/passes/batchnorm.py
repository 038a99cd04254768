"""BatchNorm folding: a per-channel affine chain that follows a convolution or a linear layer is folded into the
layer's weight and bias.

In eval mode ``F.batch_norm`` records ``(x - mean) * rsqrt(var + eps) * weight + bias`` with the statistics
reshaped to broadcast along the channel dim; after constant folding every operand but ``x`` is a parameter of
one value per channel, so the chain is ``x * scale + shift``. When ``x`` is the output of

* ``convolution(input, w, b)`` (channels on dim 1): ``w[o] * scale[o]``, ``b * scale + shift``;
* ``linear(input, w, b)`` (channels on the last dim): the same on ``w``'s rows;
* ``matmul(input, w)`` with a 2-D parameter ``w`` (channels on the last dim): ``w[:, o] * scale[o]``, and the
  shift added by one ``add`` node,

and nothing else reads it, the layer takes new parameters (``conv.weight.folded``, ``conv.bias.folded``) and the
chain goes. Any chain of ``add``, ``sub``, ``mul`` and ``div`` by per-channel parameters, constants or Python
numbers folds the same way, whatever layer wrote it. The products are computed in float64, then rounded once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from ...autograd import no_grad
from ...tensor import dtypes
from ...tensor.creation import full
from ...tensor.tensor import Tensor
from ..ir import CONST, PARAM, Graph, Node, Value
from .rewrite import DerivedParams, Forwarding, source_name

__all__ = ["fold_batchnorm"]

_FLOATING = (dtypes.float16, dtypes.bfloat16, dtypes.float32, dtypes.float64)


class _Site(NamedTuple):
    """A layer whose output channels can absorb a per-channel affine."""

    node: Node
    weight: Value
    bias: Value | None
    channel_dim: int  # in the layer's output
    channels: int
    weight_channel_dim: int  # the dim of ``weight`` indexed by the output channel


class _Step(NamedTuple):
    """One link of the chain: ``op(chain, other)`` (or ``op(other, chain)`` when not ``chain_first``)."""

    node: Node
    other: Any
    chain_first: bool
    alpha: Any


def _is_stored(x: Any) -> bool:
    return isinstance(x, Value) and x.kind in (PARAM, CONST)


def _site(node: Node) -> _Site | None:
    out = node.output if len(node.outputs) == 1 else None
    if out is None or out.dtype not in _FLOATING or not node.operands:
        return None
    if node.op in ("convolution", "linear"):
        weight = node.operands[1]
        bias = node.operands[2] if len(node.operands) > 2 else None
        if not _is_stored(weight) or bias is not None and not _is_stored(bias):
            return None
        channel_dim = 1 if node.op == "convolution" else len(out.shape) - 1
        return _Site(node, weight, bias, channel_dim, weight.shape[0], 0)
    if node.op == "matmul" and len(node.operands) == 2 and not node.attrs:
        weight = node.operands[1]
        if not _is_stored(weight) or len(weight.shape) != 2 or not out.shape:
            return None
        return _Site(node, weight, None, len(out.shape) - 1, weight.shape[1], 1)
    return None


def _per_channel(other: Any, site: _Site) -> bool:
    """A Python number, or a stored tensor whose only dim larger than 1 is the output's channel dim."""
    if isinstance(other, int | float) and not isinstance(other, bool):
        return True
    if not _is_stored(other) or other.dtype is not site.node.output.dtype:
        return False
    rank = len(site.node.output.shape)
    if len(other.shape) > rank:
        return False
    lead = rank - len(other.shape)
    return all(d == 1 or lead + i == site.channel_dim and d == site.channels for i, d in enumerate(other.shape))


def _step(value: Value, reader: Node, site: _Site) -> _Step | None:
    if reader.op not in ("add", "sub", "mul", "div") or len(reader.operands) != 2:
        return None
    a, b = reader.operands
    if (a is value) == (b is value):
        return None
    chain_first = a is value
    other = b if chain_first else a
    allowed = {"add": {"alpha"}, "sub": {"alpha"}, "mul": set(), "div": {"rounding_mode"}}[reader.op]
    if set(reader.attrs) - allowed or reader.attrs.get("rounding_mode") is not None:
        return None
    if reader.op == "div" and not chain_first or not _per_channel(other, site):
        return None
    out = reader.output
    if out.dtype is not value.dtype or out.shape != value.shape:
        return None
    alpha = reader.attrs.get("alpha", 1)
    return _Step(reader, other, chain_first, alpha) if not isinstance(alpha, bool) else None


def _chain(site: _Site, readers: Mapping[Value, list[Node]], outputs: set[Value]) -> list[_Step]:
    steps = []
    value = site.node.output
    while value not in outputs and len(readers.get(value, [])) == 1:
        step = _step(value, readers[value][0], site)
        if step is None:
            break
        steps.append(step)
        value = step.node.output
    return steps


def _compose(steps: list[_Step], site: _Site, tensor_of: Any) -> tuple[Tensor, Tensor]:
    """``(scale, shift)``, float64 vectors of one value per channel, with ``chain end = x * scale + shift``."""
    channels = site.channels

    def vector(x: Any) -> Tensor:
        if not isinstance(x, Value):
            return full((channels,), float(x), dtype=dtypes.float64)
        flat = tensor_of(x).double().reshape(-1)
        return flat.expand(channels) if flat.numel() == 1 else flat

    scale = full((channels,), 1.0, dtype=dtypes.float64)
    shift = full((channels,), 0.0, dtype=dtypes.float64)
    for step in steps:
        p, alpha = vector(step.other), float(step.alpha)
        op = step.node.op
        if op == "mul":
            scale, shift = scale * p, shift * p
        elif op == "div":
            scale, shift = scale / p, shift / p
        elif step.chain_first:
            shift = shift + alpha * p if op == "add" else shift - alpha * p
        else:
            sign = alpha if op == "add" else -alpha
            scale, shift = scale * sign, shift * sign + p
    return scale, shift


def fold_batchnorm(graph: Graph, params: Mapping[str, Tensor]) -> tuple[Graph, dict[str, Tensor]]:
    """Fold per-channel affine chains into the convolution, linear or matmul before them (module docstring).

    A layer folds when its weight (and bias) are parameters or constants and its output has no other reader and
    is not a graph output; the chain stops at the first step that is not per-channel or whose value is read
    twice or returned. A ``matmul`` folds only a chain that scales (a lone bias ``add`` would stay an ``add``).

    Args:
        graph: rewritten in place.
        params: the tensors bound to ``graph.params``, by name; not modified.

    Returns:
        ``(graph, params)``: the folded parameters added, those no longer read dropped.
    """
    readers = graph.users()
    outputs = set(graph.outputs)
    derived = DerivedParams(graph)
    forwarding = Forwarding(graph)

    def tensor_of(value: Value) -> Tensor:
        return params[value.name] if value.kind == PARAM else value.data

    for node in list(graph.nodes):
        site = _site(node)
        if site is None:
            continue
        steps = _chain(site, readers, outputs)
        scales = any(s.node.op in ("mul", "div") or s.node.op == "sub" and not s.chain_first for s in steps)
        if not steps or node.op == "matmul" and not scales:
            continue
        with no_grad():
            _fold(graph, derived, site, steps, tensor_of, forwarding)
    for node in graph.nodes:
        forwarding.apply(node)
    forwarding.finish()
    return graph, derived.finish(params)


def _sources(site: _Site, steps: list[_Step]) -> tuple[str | None, str | None]:
    """The parameters the folded weight and bias are named after (None: all constants, they stay constants).

    The weight keeps the layer's weight name; the bias takes the layer's bias name, else the one its weight name
    implies (``c.weight`` -> ``c.bias``), else that of the chain's first added parameter.
    """
    params = [v.name for v in (site.weight, site.bias, *(s.other for s in steps))
              if isinstance(v, Value) and v.kind == PARAM]
    if not params:
        return None, None
    weight = source_name(site.weight.name) if site.weight.kind == PARAM else params[0]
    if site.bias is not None and site.bias.kind == PARAM:
        return weight, site.bias.name
    if weight.endswith(".weight"):
        return weight, weight[: -len("weight")] + "bias"
    added = [s.other.name for s in steps if s.node.op in ("add", "sub") and isinstance(s.other, Value)
             and s.other.kind == PARAM]
    return weight, added[0] if added else f"{weight}.bias"


def _fold(graph: Graph, derived: DerivedParams, site: _Site, steps: list[_Step], tensor_of: Any,
          forwarding: Forwarding) -> None:
    scale, shift = _compose(steps, site, tensor_of)
    weight = tensor_of(site.weight)
    dtype = weight.dtype
    shape = [1] * weight.dim()
    shape[site.weight_channel_dim] = site.channels
    new_weight = (weight.double() * scale.reshape(shape)).to(dtype)
    new_bias = shift if site.bias is None else tensor_of(site.bias).double() * scale + shift
    new_bias = new_bias.to(dtype)

    weight_source, bias_source = _sources(site, steps)

    def store(tensor: Tensor, source: str | None) -> Value:
        return graph.add_constant(tensor) if source is None else derived.add(source, tensor)

    node, end = site.node, steps[-1].node.output
    node.operands[1] = store(new_weight, weight_source)
    result = node.output
    if node.op != "matmul":
        node.operands[2:] = [store(new_bias, bias_source)]
    elif any(s.node.op in ("add", "sub") for s in steps):
        # matmul has no bias operand: the shift is added by a node of its own.
        bias_add = graph.add_node("add", [result, store(new_bias, bias_source)], {}, [(end.dtype, end.shape)],
                                  index=graph.nodes.index(node) + 1)
        result = bias_add.output
    forwarding.forward(end, result)
