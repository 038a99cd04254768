"""The memory plan: every intermediate a kernel writes gets an offset in one arena, planned by lifetime.

Sizes are expressions of the graph's symbols (a batch ``N``), so the plan is symbolic too: values are packed
into *slots*, a slot is reused by a later value only when the two live ranges are disjoint and one size is
known to cover the other for every value of the symbols (all coefficients of the difference are non-negative,
sizes being polynomials of non-negative symbols). Slots are 64-byte aligned and laid end to end, so each
offset and the arena size are expressions evaluated at call time. Values that outlive their step are placed
first, then those live for one step only (a kernel's scratch): a chain of values alternates between two slots and
the scratch of its kernels goes beside them rather than between them.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

from ember_runtime.cpu.executor import ALIGNMENT  # the arena's alignment is part of the calling convention

from ..symbolic import SymExpr, as_expr

__all__ = ["ALIGNMENT", "ArenaPlan", "Request", "align", "covers", "plan_arena"]



@dataclass(frozen=True)
class Request:
    """One buffer to place: ``size`` bytes, live from step ``start`` to step ``end`` (both included)."""

    key: Hashable
    size: SymExpr | int
    start: int
    end: int


@dataclass
class ArenaPlan:
    """Offsets (bytes, multiples of :data:`ALIGNMENT`) of each request's key, and the arena's size."""

    offsets: dict = field(default_factory=dict)
    size: SymExpr = field(default_factory=lambda: as_expr(0))

    def evaluate(self, bindings: dict[str, int]) -> tuple[dict, int]:
        """Concrete offsets and size for one binding of the symbols."""
        return {k: as_expr(v).evaluate(bindings) for k, v in self.offsets.items()}, self.size.evaluate(bindings)


def align(size: SymExpr | int) -> SymExpr:
    """``size`` rounded up to a multiple of :data:`ALIGNMENT`."""
    return (as_expr(size) + (ALIGNMENT - 1)) // ALIGNMENT * ALIGNMENT


def covers(a: SymExpr | int, b: SymExpr | int) -> bool:
    """Whether ``a >= b`` for every non-negative value of the symbols (a sufficient test: ``a - b`` is a
    polynomial of plain symbols with non-negative coefficients)."""
    diff = as_expr(a) - as_expr(b)
    return all(c >= 0 and all(isinstance(atom, str) for atom, _ in monomial) for monomial, c in diff.terms)


@dataclass
class _Slot:
    size: SymExpr
    lives: list[tuple[int, int]] = field(default_factory=list)  # the (start, end) of each request placed here
    keys: list = field(default_factory=list)

    def free_during(self, start: int, end: int) -> bool:
        return all(end < s or e < start for s, e in self.lives)


def plan_arena(requests: Sequence[Request]) -> ArenaPlan:
    """Place ``requests`` so that no two whose live ranges overlap share a byte (see the module docstring).

    Requests are taken in order of their start, those live for more than one step first; each goes to a slot
    free while it lives that covers it (the first one), else to a free slot it covers (which grows to its size),
    else to a new slot.
    """
    slots: list[_Slot] = []
    for request in sorted(requests, key=lambda r: (r.start == r.end, r.start, r.end)):
        size = as_expr(request.size)
        free = [s for s in slots if s.free_during(request.start, request.end)]
        slot = next((s for s in free if covers(s.size, size)), None)
        if slot is None:
            slot = next((s for s in free if covers(size, s.size)), None)
            if slot is not None:
                slot.size = size
        if slot is None:
            slot = _Slot(size)
            slots.append(slot)
        slot.lives.append((request.start, request.end))
        slot.keys.append(request.key)
    plan = ArenaPlan()
    offset = as_expr(0)
    for slot in slots:
        for key in slot.keys:
            plan.offsets[key] = offset
        offset = offset + align(slot.size)
    plan.size = offset
    return plan
