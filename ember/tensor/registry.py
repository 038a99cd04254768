"""The op registry: every primitive op is defined once, here, as an :class:`OpDef`.

An op's definition holds everything each layer needs from it:

* ``infer``: the shape and dtype rule. Called with the op's operands (tensors, scalars) and attributes,
  it validates them (errors name the operands) and returns the output :class:`Meta` (or a tuple of
  them). A shape of None marks a data-dependent output (nonzero, masked_select).
* ``kernels``: the eager kernel per device type. The CPU kernel takes NumPy arrays and Python values
  and returns fresh NumPy arrays; the CUDA backend adds ``kernels['cuda']`` in the same definition.
* ``view``: for view ops, the metadata rule ``(tensor, *args) -> (shape, stride, offset)``; no kernel.
* ``backward`` and ``lowerings``: filled in by autograd and by the code generators, in the op's own
  module, so no call site changes when they arrive.

Ops are defined by family in ``ember/tensor/ops/*.py`` with :func:`defop`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .dtypes import dtype


class Meta(NamedTuple):
    """The static description of one op output: its shape (None when data-dependent) and dtype."""

    shape: tuple | None
    dtype: dtype


_META_CACHE: dict[tuple, Meta] = {}


def cached_meta(shape: tuple, dt: dtype) -> Meta:
    """``Meta(shape, dt)``, shared between calls: the hot shape rules use it (a dict hit is cheaper than a
    NamedTuple construction)."""
    key = (shape, dt)
    found = _META_CACHE.get(key)
    if found is None:
        if len(_META_CACHE) > 8192:
            _META_CACHE.clear()
        found = _META_CACHE[key] = Meta(shape, dt)
    return found


COMPUTE, VIEW, INPLACE = "compute", "view", "inplace"


@dataclass(eq=False)
class OpDef:
    """One primitive op. See the module docstring for the role of each field."""

    name: str
    infer: Callable[..., Meta | tuple[Meta, ...]]
    kind: str = COMPUTE
    kernels: dict[str, Callable[..., Any]] = field(default_factory=dict)
    view: Callable[..., tuple[tuple, tuple, int]] | None = None
    backward: Callable[..., Any] | None = None
    saves: tuple = ()
    lowerings: dict[str, Callable[..., Any]] = field(default_factory=dict)
    doc: str = ""
    # In-place ops: the positions of the operands they write (the first, unless the op updates state beside it).
    writes: tuple[int, ...] = (0,)

    def __repr__(self) -> str:
        return f"OpDef({self.name!r}, kind={self.kind!r})"


OPS: dict[str, OpDef] = {}


def defop(
    name: str,
    infer: Callable[..., Meta | tuple[Meta, ...]] | None,
    *,
    cpu: Callable[..., Any] | None = None,
    kind: str = COMPUTE,
    view: Callable[..., tuple[tuple, tuple, int]] | None = None,
    doc: str = "",
    writes: tuple[int, ...] = (0,),
) -> OpDef:
    """Define and register a primitive op. ``cpu`` is its NumPy kernel; view ops give ``view`` instead; an
    in-place op that writes more than its first operand lists their positions in ``writes``."""
    if name in OPS:
        raise ValueError(f"op {name!r} is defined twice")
    if kind == VIEW:
        if view is None:
            raise ValueError(f"view op {name!r} needs a view rule")
        if infer is None:
            infer = _infer_from_view(view)
    if kind != VIEW and cpu is None:
        raise ValueError(f"op {name!r} needs a CPU kernel")
    op = OpDef(name=name, infer=infer, kind=kind, view=view, doc=doc, writes=writes)
    if cpu is not None:
        op.kernels["cpu"] = cpu
    OPS[name] = op
    return op


def _infer_from_view(view: Callable[..., tuple[tuple, tuple, int]]) -> Callable[..., Meta]:
    """A view's shape rule is its view rule's shape; the dtype is the base's."""

    def infer(base: Any, *args: Any, **attrs: Any) -> Meta:
        return Meta(view(base, *args, **attrs)[0], base.dtype)

    return infer


def derivative(op: OpDef, *, saves: tuple = ()) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: ``fn(ctx, *output_grads)`` is ``op``'s backward formula, written in ember ops (so it is itself
    differentiable and traceable). It returns one gradient per operand (None for non-tensor operands and
    operands without a gradient; a list for a list operand); gradients may keep broadcast dims, which the
    engine sums away. ``saves`` names what the formula reads: operand indices (``ctx.input(i)``), pairs
    ``(i, j)`` (operand i, kept only when operand j needs a gradient) and "out" (``ctx.out``/``ctx.outs``);
    shapes and dtypes of all tensor operands are always available."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        if op.backward is not None:
            raise ValueError(f"op {op.name!r} has two backward formulas")
        op.backward = fn
        op.saves = tuple(saves)
        return fn

    return register


def get_op(name: str) -> OpDef:
    try:
        return OPS[name]
    except KeyError:
        raise KeyError(f"no primitive op named {name!r}") from None
