"""``einsum``: Einstein summation, one primitive whose attribute is the equation string.

The equation is parsed once per (equation, operand shapes) into integer labels (letters, plus one label
per dim covered by an ellipsis), validated with PyTorch's messages, and computed by ``np.einsum``
(with a contraction-order search and BLAS for big or many operands). Its backward is einsum again:
each operand's gradient is the einsum of the output gradient with the other operands.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np

from .. import dtypes
from ..dispatch import dispatch
from ..registry import Meta, defop, derivative
from ..tensor import Tensor

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_LABEL = {c: i for i, c in enumerate(_LETTERS)}
_ELLIPSIS = -1
_FIRST_ELLIPSIS_LABEL = len(_LETTERS)  # ellipsis dims get labels after the 52 letters, so they sort last


def require_tensor(fn: str, name: str, position: int, value: Any) -> None:
    """PyTorch's TypeError for a non-tensor argument."""
    if not isinstance(value, Tensor):
        raise TypeError(f"{fn}(): argument '{name}' (position {position}) must be Tensor, not {type(value).__name__}")


def _invalid(index: int) -> RuntimeError:
    return RuntimeError(
        f"einsum(): invalid subscript given at index {index} in the equation string, subscripts must be in [a-zA-Z]"
    )


def _parse_term(equation: str, start: int, stop: int, owner: str) -> list[int]:
    """Labels of one operand's (or the output's) subscripts, ``_ELLIPSIS`` standing for ``...``."""
    term: list[int] = []
    i = start
    while i < stop:
        c = equation[i]
        if c == ".":
            if _ELLIPSIS in term:
                detail = "but an ellipsis (...) was already found" if owner == "output" else \
                    "for which an ellipsis was already found"
                raise RuntimeError(f"einsum(): found '.' for {owner} {detail}")
            if equation[i:i + 3] != "..." or i + 3 > stop:
                detail = "that is not part of any ellipsis" + (" (...)" if owner == "output" else "")
                raise RuntimeError(f"einsum(): found '.' for {owner} {detail}")
            term.append(_ELLIPSIS)
            i += 3
            continue
        if c != " ":
            if c not in _LABEL:
                raise _invalid(i)
            term.append(_LABEL[c])
        i += 1
    return term


@lru_cache(maxsize=1024)
def _parse_equation(equation: str) -> tuple[tuple[tuple[int, ...], ...], tuple[int, ...] | None]:
    """The operand terms and the output term (None in implicit mode) of an equation string."""
    arrow = equation.find("->")
    lhs_end = len(equation) if arrow < 0 else arrow
    terms, start = [], 0
    for i in range(lhs_end + 1):
        if i == lhs_end or equation[i] == ",":
            terms.append(tuple(_parse_term(equation, start, i, f"operand {len(terms)}")))
            start = i + 1
    if arrow < 0:
        return tuple(terms), None
    out = _parse_term(equation, arrow + 2, len(equation), "output")
    seen_in = {label for term in terms for label in term}
    for pos, label in enumerate(out):
        if label == _ELLIPSIS:
            continue
        if label not in seen_in:
            raise RuntimeError(
                f"einsum(): output subscript {_LETTERS[label]} does not appear in the equation for any input operand"
            )
        if label in out[:pos]:
            raise RuntimeError(f"einsum(): output subscript {_LETTERS[label]} appears more than once in the output")
    return tuple(terms), tuple(out)


class _Plan(NamedTuple):
    """An equation resolved for given shapes: numpy-ready labels (0..51) and what the dtype rule needs."""

    op_labels: tuple[tuple[int, ...], ...]
    out_labels: tuple[int, ...]
    op_shapes: tuple[tuple[int, ...], ...]  # each operand's shape with size-1 dims broadcast to the label size
    out_shape: tuple[int, ...]
    summed_alone: tuple[bool, ...]  # the operand has a label summed away that no other operand has
    contracting: tuple[bool, ...]  # the operand has a label summed away that another operand shares


def _expand_ellipses(terms: tuple, shapes: tuple) -> tuple[list[list[int]], int]:
    ell_dims = []
    for i, (term, shape) in enumerate(zip(terms, shapes, strict=True)):
        named = len(term) - term.count(_ELLIPSIS)
        if _ELLIPSIS in term:
            if named > len(shape):
                raise RuntimeError(
                    f"einsum(): the number of subscripts in the equation ({named}) is more than the number of "
                    f"dimensions ({len(shape)}) for operand {i}"
                )
        elif named != len(shape):
            raise RuntimeError(
                f"einsum(): the number of subscripts in the equation ({named}) does not match the number of "
                f"dimensions ({len(shape)}) for operand {i} and no ellipsis was given"
            )
        ell_dims.append(len(shape) - named)
    n_ell = max(ell_dims, default=0)
    expanded = []
    for term, count in zip(terms, ell_dims, strict=True):
        labels = []
        for label in term:
            if label == _ELLIPSIS:
                # Ellipsis dims align from the right, like broadcasting.
                labels.extend(range(_FIRST_ELLIPSIS_LABEL + n_ell - count, _FIRST_ELLIPSIS_LABEL + n_ell))
            else:
                labels.append(label)
        expanded.append(labels)
    return expanded, n_ell


def _label_sizes(op_labels: list[list[int]], shapes: tuple) -> dict[int, int]:
    sizes: dict[int, int] = {}
    for i, (labels, shape) in enumerate(zip(op_labels, shapes, strict=True)):
        first_in_operand: dict[int, int] = {}
        for dim, (label, size) in enumerate(zip(labels, shape, strict=True)):
            if label in first_in_operand:
                if size != first_in_operand[label]:
                    raise RuntimeError(
                        f"einsum(): subscript {_LETTERS[label]} is repeated for operand {i} but the sizes don't "
                        f"match, {size} != {first_in_operand[label]}"
                    )
                continue
            first_in_operand[label] = size
            prev = sizes.get(label)
            if prev is None or prev == 1:
                sizes[label] = size
            elif size not in (1, prev):
                if label >= _FIRST_ELLIPSIS_LABEL:
                    raise RuntimeError(
                        f"einsum(): dimension {dim} covered by ellipsis in operand {i} has size {size} which does "
                        f"not broadcast with previously seen ellipsis with size {prev} for the respective dimension"
                    )
                raise RuntimeError(
                    f"einsum(): subscript {_LETTERS[label]} has size {size} for operand {i} which does not "
                    f"broadcast with previously seen size {prev}"
                )
    return sizes


@lru_cache(maxsize=1024)
def einsum_plan(equation: str, shapes: tuple) -> _Plan:
    terms, out_term = _parse_equation(equation)
    if len(terms) < len(shapes):
        raise RuntimeError("einsum(): more operands were provided than specified in the equation")
    if len(terms) > len(shapes):
        raise RuntimeError("einsum(): fewer operands were provided than specified in the equation")
    op_labels, n_ell = _expand_ellipses(terms, shapes)
    ellipsis_labels = list(range(_FIRST_ELLIPSIS_LABEL, _FIRST_ELLIPSIS_LABEL + n_ell))
    if out_term is None:
        # Implicit mode: ellipsis dims, then the letters used exactly once, in alphabetical (upper first) order.
        counts: dict[int, int] = {}
        for labels in op_labels:
            for label in labels:
                counts[label] = counts.get(label, 0) + 1
        out = ellipsis_labels + sorted(k for k, c in counts.items() if c == 1 and k < _FIRST_ELLIPSIS_LABEL)
    else:
        out = []
        for label in out_term:
            out.extend(ellipsis_labels if label == _ELLIPSIS else (label,))
    sizes = _label_sizes(op_labels, shapes)
    holders = {label: sum(label in labels for labels in op_labels) for label in sizes}
    summed = [label for label in sizes if label not in out]
    used = sorted(set(sizes) | set(out))
    if len(used) > len(_LETTERS):
        raise RuntimeError(f"einsum(): at most {len(_LETTERS)} distinct dimensions are supported, ellipsis dims "
                           f"included, but the equation uses {len(used)}")
    compact = {label: i for i, label in enumerate(used)}
    return _Plan(
        op_labels=tuple(tuple(compact[label] for label in labels) for labels in op_labels),
        out_labels=tuple(compact[label] for label in out),
        op_shapes=tuple(tuple(sizes[label] for label in labels) for labels in op_labels),
        out_shape=tuple(sizes[label] for label in out),
        summed_alone=tuple(any(holders[k] == 1 and k in labels for k in summed) for labels in op_labels),
        contracting=tuple(any(holders[k] > 1 and k in labels for k in summed) for labels in op_labels),
    )


def _einsum_meta(operands: list[Tensor], equation: str) -> Meta:
    plan = einsum_plan(equation, tuple(t._shape for t in operands))
    # PyTorch sums an operand's private labels first with ``sum``, which widens bool and integers to int64,
    # then combines operands with mul (dtypes promote) or bmm (dtypes must agree, and bool is refused).
    kinds = [dtypes.int64 if alone and not t._dtype.is_floating_point else t._dtype
             for t, alone in zip(operands, plan.summed_alone, strict=True)]
    contracted = [d for d, c in zip(kinds, plan.contracting, strict=True) if c]
    for d in contracted[1:]:
        if d is not contracted[0]:
            raise RuntimeError(f"expected scalar type {contracted[0].scalar_name} but found {d.scalar_name}")
    result = kinds[0]
    for d in kinds[1:]:
        result = dtypes.promote_types(result, d)
    if result is dtypes.bool and contracted:
        raise NotImplementedError("\"bmm\" not implemented for 'Bool'")
    return Meta(plan.out_shape, result)


def _compute_dtype(arrays: list[np.ndarray]) -> np.dtype:
    found = {a.dtype for a in arrays}
    if np.dtype(np.float64) in found:
        return np.dtype(np.float64)
    if found & {np.dtype(np.float32), np.dtype(np.float16), dtypes.bfloat16.np_dtype}:
        return np.dtype(np.float32)  # PyTorch's CPU opmath for half and bfloat16
    return np.dtype(np.int64)  # integers wrap to the result dtype afterwards; bools become 0/1 counts


# Below this many elements the contraction-order search costs more than the naive loop saves.
_OPTIMIZE_MIN_ELEMENTS = 4096


def _einsum_kernel(operands: list[np.ndarray], equation: str) -> np.ndarray:
    plan = einsum_plan(equation, tuple(a.shape for a in operands))
    compute = _compute_dtype(operands)
    args: list[Any] = []
    for a, labels, shape in zip(operands, plan.op_labels, plan.op_shapes, strict=True):
        a = a.astype(compute, copy=False)
        args += [a if a.shape == shape else np.broadcast_to(a, shape), list(labels)]
    optimize = len(operands) > 2 or max(a.size for a in operands) >= _OPTIMIZE_MIN_ELEMENTS
    result = np.einsum(*args, list(plan.out_labels), optimize=optimize)
    # np.einsum returns views for pure permutations and diagonals; kernels must return fresh memory.
    if isinstance(result, np.ndarray) and any(np.may_share_memory(result, a) for a in operands):
        result = result.copy()
    return result


EINSUM = defop(
    "einsum", _einsum_meta, cpu=_einsum_kernel,
    doc="Einstein summation over a list of operands; the attribute ``equation`` is torch.einsum's string.",
)


@lru_cache(maxsize=1024)
def _grad_equation(plan: _Plan, i: int) -> tuple[str, tuple[tuple[int, int], ...], tuple[int, ...]]:
    """The einsum giving operand ``i``'s gradient from (grad, the other operands, one identity per repeat).

    Operand ``i``'s subscripts become the output. A label repeated in it (a diagonal) keeps its first
    occurrence and gives the others fresh labels, each tied to the first by an identity matrix operand, so
    the gradient lands on the diagonal and is zero elsewhere. Labels found in no operand of this einsum
    (summed away in the forward by operand ``i`` alone) are left out, to be unsqueezed and expanded.
    Returns the equation, the (size label, fresh label) pair of each identity, and the dims to unsqueeze.
    """
    labels = plan.op_labels[i]
    free = [k for k in range(len(_LETTERS)) if k not in set(plan.out_labels).union(*plan.op_labels)]
    out, identities, seen = [], [], set()
    for label in labels:
        if label in seen:
            if not free:
                raise RuntimeError(f"einsum(): the gradient needs more than {len(_LETTERS)} distinct dimensions")
            fresh = free.pop()
            identities.append((label, fresh))
            out.append(fresh)
        else:
            seen.add(label)
            out.append(label)
    terms = [plan.out_labels] + [t for j, t in enumerate(plan.op_labels) if j != i] + list(identities)
    present = {label for term in terms for label in term}
    missing = tuple(dim for dim, label in enumerate(out) if label not in present)
    kept = [label for label in out if label in present]
    spelled = ["".join(_LETTERS[k] for k in term) for term in terms]
    equation = ",".join(spelled) + "->" + "".join(_LETTERS[k] for k in kept)
    return equation, tuple(identities), missing


@derivative(EINSUM, saves=(0,))
def _einsum_backward(ctx: Any, grad: Tensor) -> list:
    from .ranges import eye

    operands = ctx.input(0)
    plan = einsum_plan(ctx.attrs["equation"], tuple(ctx.shape(0)))
    # Mixed-dtype einsums promote; the gradient einsum contracts everything in grad's dtype.
    same = [t if t._dtype is grad._dtype else t.to(grad._dtype) for t in operands]
    sizes = {}
    for labels, shape in zip(plan.op_labels, plan.op_shapes, strict=True):
        sizes.update(zip(labels, shape, strict=True))
    grads: list = []
    for i, t in enumerate(operands):
        if not t.requires_grad:
            grads.append(None)
            continue
        equation, identities, missing = _grad_equation(plan, i)
        extra = [eye(sizes[label], dtype=grad._dtype) for label, _ in identities]
        g = dispatch(EINSUM, [grad] + same[:i] + same[i + 1:] + extra, equation=equation)
        for dim in missing:
            g = g.unsqueeze(dim)
        if g._shape != plan.op_shapes[i]:
            # Summed-alone labels, and labels that only size-1 (broadcast) dims gave this einsum.
            g = g.expand(plan.op_shapes[i])
        grads.append(g)
    return grads


def _sublist_subscript(n: Any) -> str:
    if n is Ellipsis:
        return "..."
    if isinstance(n, bool) or not isinstance(n, int | np.integer):
        raise TypeError(f"einsum(): subscripts in a subscript list must be ints or Ellipsis, got {type(n).__name__}")
    if not 0 <= n < len(_LETTERS):
        raise ValueError("einsum(): subscript in subscript list is not within the valid range [0, 52)")
    return _LETTERS[n]


def _sublist_equation(args: tuple) -> tuple[str, tuple]:
    """Turn ``einsum(op0, sublist0, op1, sublist1, ..., [out_sublist])`` into an equation and operands."""
    for sub in args[1::2]:
        if not isinstance(sub, list | tuple):
            raise TypeError(f"einsum(): expected a list of subscripts after each operand, got {type(sub).__name__}")
    equation = ",".join("".join(_sublist_subscript(n) for n in sub) for sub in args[1::2])
    if len(args) % 2 == 1:
        if not isinstance(args[-1], list | tuple):
            raise TypeError(f"einsum(): expected a list of output subscripts, got {type(args[-1]).__name__}")
        equation += "->" + "".join(_sublist_subscript(n) for n in args[-1])
        return equation, args[:-1:2]
    return equation, args[::2]


def einsum(*args: Any) -> Tensor:
    """Sum products of elements of the operands along the dims named by an Einstein-notation equation.

    ``einsum(equation, *operands)``, ``einsum(equation, [operands])`` or the sublist form
    ``einsum(op0, [0, 1], op1, [1, 2], [0, 2])``. Subscripts are letters ``[a-zA-Z]``; ``...`` stands for
    broadcast dims. Without ``->`` the output holds the ellipsis dims, then each letter used once, in
    alphabetical order (upper case first). A letter repeated in one operand takes its diagonal; letters
    missing from the output are summed. Size-1 dims broadcast against the same letter elsewhere.

    Args:
        equation (str): the subscripts, e.g. ``"bij,bjk->bik"``.
        operands (Tensor...): the tensors, one per comma-separated term.

    Example::

        >>> ember.einsum("ii", ember.eye(3))
        tensor(3.)
        >>> ember.einsum("bij,bjk->bik", ember.ones(2, 3, 4), ember.ones(2, 4, 5)).shape
        ember.Size([2, 3, 5])
    """
    if args and isinstance(args[0], Tensor):
        equation, operands = _sublist_equation(args)
    elif args and isinstance(args[0], str):
        equation, operands = args[0], args[1:]
        if len(operands) == 1 and isinstance(operands[0], list | tuple):
            operands = tuple(operands[0])
    elif args:
        raise TypeError(f"einsum(): argument 'equation' (position 1) must be str, not {type(args[0]).__name__}")
    if not args or not operands:
        raise ValueError("einsum(): must specify the equation string and at least one operand, or at least one "
                         "operand and its subscripts list")
    for i, op in enumerate(operands):
        if not isinstance(op, Tensor):
            raise TypeError(f"expected Tensor as element {i} in argument 1, but got {type(op).__name__}")
    return dispatch(EINSUM, list(operands), equation=equation)
