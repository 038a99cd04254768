"""Symbolic sizes: integer expressions over named dims, and ``SymInt``, an ``int`` that remembers one.

A traced model sees its dynamic dims as ``SymInt``: an ``int`` subclass whose value is the example's size (so
every shape rule, kernel and comparison runs exactly as in eager mode) and whose ``expr`` says how the size is
made from the graph's symbols. Arithmetic on ``SymInt`` carries the expression along, so ``x.shape[0] * 4`` or a
``view(-1, 784)`` of an ``[N, 28, 28]`` tensor stays ``4*N`` / ``N`` in the graph. Comparisons use the value
(a branch on a size is taken as at trace time, as in PyTorch's tracer). What integers cannot express (``/``,
``**`` by a non-integer, ``float()``) is refused in the user's code with a ``TracingError`` rather than baked in.

Expressions are kept in a canonical polynomial form (sums of integer multiples of products of atoms), so equal
expressions compare and hash equal and print identically. An atom is a symbol name or an exact-division or
remainder of a polynomial that did not simplify (``(N+1)//2``).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Union

from ..tensor.tensor import guard_hooks

__all__ = ["SymExpr", "SymInt", "as_expr", "free_symbols", "guard_hooks", "sym"]

# A monomial is a sorted tuple of (atom, power); an atom is a str (a symbol) or a _Div/_Mod node.
_Monomial = tuple
_ONE: _Monomial = ()


class SymExpr:
    """An integer polynomial over symbols, in canonical form: ``terms`` maps monomials to non-zero coefficients."""

    __slots__ = ("terms", "_hash")

    def __init__(self, terms: Mapping[_Monomial, int]):
        self.terms = tuple(sorted(((m, c) for m, c in terms.items() if c), key=_term_key))
        # A constant equals the plain int (``SymExpr.const(3) == 3``), so it hashes like it.
        self._hash = hash(self.const_value) if self.is_const else hash(self.terms)

    # -- construction -----------------------------------------------------------------------------------
    @staticmethod
    def symbol(name: str) -> SymExpr:
        return SymExpr({((name, 1),): 1})

    @staticmethod
    def const(value: int) -> SymExpr:
        return SymExpr({_ONE: int(value)})

    # -- queries ----------------------------------------------------------------------------------------
    @property
    def is_const(self) -> bool:
        return all(m == _ONE for m, _ in self.terms)

    @property
    def const_value(self) -> int:
        return dict(self.terms).get(_ONE, 0)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, int):
            return self.is_const and self.const_value == other
        return isinstance(other, SymExpr) and self.terms == other.terms

    def __hash__(self) -> int:
        return self._hash

    # -- arithmetic -------------------------------------------------------------------------------------
    def __add__(self, other: ExprLike) -> SymExpr:
        other = as_expr(other)
        terms = dict(self.terms)
        for m, c in other.terms:
            terms[m] = terms.get(m, 0) + c
        return SymExpr(terms)

    __radd__ = __add__

    def __neg__(self) -> SymExpr:
        return SymExpr({m: -c for m, c in self.terms})

    def __sub__(self, other: ExprLike) -> SymExpr:
        return self + (-as_expr(other))

    def __rsub__(self, other: ExprLike) -> SymExpr:
        return as_expr(other) + (-self)

    def __mul__(self, other: ExprLike) -> SymExpr:
        other = as_expr(other)
        terms: dict = {}
        for m1, c1 in self.terms:
            for m2, c2 in other.terms:
                m = _mul_monomials(m1, m2)
                terms[m] = terms.get(m, 0) + c1 * c2
        return SymExpr(terms)

    __rmul__ = __mul__

    def __floordiv__(self, other: ExprLike) -> SymExpr:
        other = as_expr(other)
        if other.is_const:
            d = other.const_value
            if d == 0:
                raise ZeroDivisionError("symbolic size divided by zero")
            if d < 0:  # floor(x / -d) == floor(-x / d): denominators stay positive, so equal sizes print alike
                return (-self) // -d
            quotient, rest = _split_multiples(self, d)
            if rest.is_const:
                return quotient + rest.const_value // d
            return quotient + SymExpr({((_Div(rest, other), 1),): 1})
        if self == other:
            return SymExpr.const(1)
        else:
            quotient = _divide_exactly(self, other)
            if quotient is not None:
                return quotient
        return SymExpr({((_Div(self, other), 1),): 1})

    def __rfloordiv__(self, other: ExprLike) -> SymExpr:
        return as_expr(other) // self

    def __mod__(self, other: ExprLike) -> SymExpr:
        other = as_expr(other)
        if other.is_const:
            d = other.const_value
            if d == 0:
                raise ZeroDivisionError("symbolic size modulo zero")
            if d < 0:  # Python's x % -d == -((-x) % d)
                return -((-self) % -d)
            _, rest = _split_multiples(self, d)
            if rest.is_const:
                return SymExpr.const(rest.const_value % d)
            return SymExpr({((_Mod(rest, other), 1),): 1})
        if self == other or _divide_exactly(self, other) is not None:
            return SymExpr.const(0)
        return SymExpr({((_Mod(self, other), 1),): 1})

    def __rmod__(self, other: ExprLike) -> SymExpr:
        return as_expr(other) % self

    # -- evaluation and printing ------------------------------------------------------------------------
    def evaluate(self, bindings: Mapping[str, int]) -> int:
        """The value for the symbol values in ``bindings`` (KeyError naming a missing symbol)."""
        total = 0
        for monomial, coef in self.terms:
            value = coef
            for atom, power in monomial:
                value *= _atom_value(atom, bindings) ** power
            total += value
        return total

    def symbols(self) -> set[str]:
        found: set[str] = set()
        for monomial, _ in self.terms:
            for atom, _power in monomial:
                found |= {atom} if isinstance(atom, str) else atom.symbols()
        return found

    def __str__(self) -> str:
        if not self.terms:
            return "0"
        if len(self.terms) == 1 and self.terms[0][1] == 1 and len(self.terms[0][0]) == 1:
            (atom, power), = self.terms[0][0]
            if power == 1 and not isinstance(atom, str):
                return atom.text()  # a lone N//2 needs no parentheses
        parts = []
        for monomial, coef in self.terms:
            factors = [_atom_str(a) + (f"^{p}" if p > 1 else "") for a, p in monomial]
            if not factors:
                body = str(abs(coef))
            elif abs(coef) == 1:
                body = "*".join(factors)
            else:
                body = "*".join([str(abs(coef)), *factors])
            sign = "-" if coef < 0 else "+"
            parts.append((sign, body))
        first_sign, first = parts[0]
        text = ("-" if first_sign == "-" else "") + first
        return text + "".join(f"{s}{b}" for s, b in parts[1:])

    def __repr__(self) -> str:
        return f"SymExpr({self})"


class _Div:
    """An atom: ``num // den`` that did not simplify."""

    __slots__ = ("num", "den")
    op = "//"

    def __init__(self, num: SymExpr, den: SymExpr):
        self.num, self.den = num, den

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and (self.num, self.den) == (other.num, other.den)

    def __hash__(self) -> int:
        return hash((self.op, self.num, self.den))

    def symbols(self) -> set[str]:
        return self.num.symbols() | self.den.symbols()

    def value(self, bindings: Mapping[str, int]) -> int:
        return self.num.evaluate(bindings) // self.den.evaluate(bindings)

    def text(self) -> str:
        return f"{_paren(self.num)}{self.op}{_paren(self.den)}"

    def __str__(self) -> str:
        return f"({self.text()})"


class _Mod(_Div):
    """An atom: ``num % den`` that did not simplify."""

    __slots__ = ()
    op = "%"

    def value(self, bindings: Mapping[str, int]) -> int:
        return self.num.evaluate(bindings) % self.den.evaluate(bindings)


def _paren(expr: SymExpr) -> str:
    """``expr`` as an operand of ``//`` or ``%``: parenthesised unless it is one symbol or a non-negative constant."""
    text = str(expr)
    simple = expr.is_const and expr.const_value >= 0 or len(expr.terms) == 1 and expr.terms[0][1] == 1 \
        and len(expr.terms[0][0]) == 1 and expr.terms[0][0][0] == (text, 1)
    return text if simple else f"({text})"


def _atom_str(atom) -> str:
    return atom if isinstance(atom, str) else str(atom)


def _atom_value(atom, bindings: Mapping[str, int]) -> int:
    if isinstance(atom, str):
        if atom not in bindings:
            raise KeyError(f"no value bound for the symbolic size '{atom}'")
        value = bindings[atom]
        # A SymInt binding stays one: a traced graph replayed inside another trace keeps the outer symbols.
        return value if isinstance(value, int) else int(value)
    return atom.value(bindings)


def _atom_key(atom) -> tuple:
    return (0, atom) if isinstance(atom, str) else (1, str(atom))


def _term_key(term: tuple) -> tuple:
    monomial, _ = term
    # Higher degree first, then by atom names: "N*T+2*N+1".
    return (-sum(p for _, p in monomial), [(_atom_key(a), -p) for a, p in monomial])


def _mul_monomials(a: _Monomial, b: _Monomial) -> _Monomial:
    powers: dict = {}
    for atom, power in (*a, *b):
        powers[atom] = powers.get(atom, 0) + power
    return tuple(sorted(powers.items(), key=lambda item: _atom_key(item[0])))


def _split_multiples(expr: SymExpr, d: int) -> tuple[SymExpr, SymExpr]:
    """``(q, r)`` with ``expr == d*q + r``, each coefficient of ``r`` reduced modulo ``d``.

    ``expr // d == q + r // d`` and ``expr % d == r % d`` for every value of the symbols, since ``q`` is an integer
    polynomial; when ``r`` is a constant both are exact: ``(2*N+1) // 2 == N``, ``(2*N+1) % 2 == 1``.
    """
    return (SymExpr({m: c // d for m, c in expr.terms}), SymExpr({m: c % d for m, c in expr.terms}))


def _divide_exactly(num: SymExpr, den: SymExpr) -> SymExpr | None:
    """``num / den`` when ``den`` is a single term dividing every term of ``num`` exactly, else None."""
    if len(den.terms) != 1:
        return None
    (d_monomial, d_coef), = den.terms
    d_powers = dict(d_monomial)
    terms = {}
    for monomial, coef in num.terms:
        powers = dict(monomial)
        if coef % d_coef or any(powers.get(a, 0) < p for a, p in d_powers.items()):
            return None
        rest = {a: p - d_powers.get(a, 0) for a, p in powers.items() if p - d_powers.get(a, 0)}
        terms[tuple(sorted(rest.items(), key=lambda item: _atom_key(item[0])))] = coef // d_coef
    return SymExpr(terms)


ExprLike = Union[int, SymExpr, "SymInt"]


def as_expr(value: ExprLike) -> SymExpr:
    """``value`` as an expression: a ``SymInt``'s expression, or a constant."""
    if isinstance(value, SymInt):
        return value.expr
    if isinstance(value, SymExpr):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return SymExpr.const(value)
    raise TypeError(f"a symbolic size expression needs ints, got {type(value).__name__}")


def sym(name: str) -> SymExpr:
    """The expression made of the single symbol ``name``."""
    return SymExpr.symbol(name)


def free_symbols(values) -> set[str]:
    """The symbols used by a size, a shape (tuple), or nested tuples/lists of them."""
    if isinstance(values, SymExpr):
        return values.symbols()
    if isinstance(values, tuple | list):
        return set().union(*(free_symbols(v) for v in values)) if values else set()
    return set()


class SymInt(int):
    """An ``int`` (the size seen at trace time) carrying ``expr``, the size in terms of the graph's symbols.

    It behaves as its value everywhere (comparisons, indexing, NumPy, ``range``); ``+ - * // % divmod`` with ints
    or other ``SymInt``, ``**`` by a non-negative int, ``abs`` and rounding return a ``SymInt`` whose expression
    follows, or a plain ``int`` once the expression is a constant. It equals the plain int of its value but, on
    purpose, never hashes like it: the shape caches (``cached_meta``, the ``lru_cache`` shape rules) then never
    hand a traced shape to eager code, or an eager shape (which would bake the size) to a trace.
    """

    # (int subclasses cannot have __slots__; the instance dict holds ``expr``.)

    def __new__(cls, value: int, expr: SymExpr) -> SymInt | int:
        if expr.is_const:
            return int(value)
        self = super().__new__(cls, value)
        self.expr = expr
        return self

    def __hash__(self) -> int:
        return hash((int(self), self.expr, "SymInt"))

    def __eq__(self, other: object) -> bool:
        return int.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return int.__ne__(self, other)

    # Orderings decide with the example's value, and tell the guard hooks what must stay true for the decision to
    # hold at other sizes (x[:2] clamps its end with min(2, N): the graph is only right while N >= 2). Equality is
    # not guarded: broadcasting asks ``size == 1`` everywhere, and a batch of 1 must not be refused for it.
    def _ordered(self, other, op: str):
        if isinstance(other, bool) or not isinstance(other, int):
            return NotImplemented
        a, b = int(self), int(other)
        result = {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
        if guard_hooks:
            diff = self.expr - as_expr(other)
            # The condition that keeps ``result``, as ``expr >= 0``.
            condition = {("<", True): -diff - 1, ("<", False): diff, ("<=", True): -diff, ("<=", False): diff - 1,
                         (">", True): diff - 1, (">", False): -diff, (">=", True): diff, (">=", False): -diff - 1}
            condition = condition[op, result]
            if not condition.is_const:
                for hook in guard_hooks:
                    hook(condition)
        return result

    def __lt__(self, other):
        return self._ordered(other, "<")

    def __le__(self, other):
        return self._ordered(other, "<=")

    def __gt__(self, other):
        return self._ordered(other, ">")

    def __ge__(self, other):
        return self._ordered(other, ">=")

    def _combine(self, other, value_op, expr_op, reverse: bool = False):
        if isinstance(other, bool) or not isinstance(other, int):
            return NotImplemented
        a, b = (other, self) if reverse else (self, other)
        return SymInt(value_op(int(a), int(b)), expr_op(as_expr(a), as_expr(b)))

    def __add__(self, other):
        return self._combine(other, int.__add__, SymExpr.__add__)

    def __radd__(self, other):
        return self._combine(other, int.__add__, SymExpr.__add__, reverse=True)

    def __sub__(self, other):
        return self._combine(other, int.__sub__, SymExpr.__sub__)

    def __rsub__(self, other):
        return self._combine(other, int.__sub__, SymExpr.__sub__, reverse=True)

    def __mul__(self, other):
        return self._combine(other, int.__mul__, SymExpr.__mul__)

    def __rmul__(self, other):
        return self._combine(other, int.__mul__, SymExpr.__mul__, reverse=True)

    def __floordiv__(self, other):
        return self._combine(other, int.__floordiv__, SymExpr.__floordiv__)

    def __rfloordiv__(self, other):
        return self._combine(other, int.__floordiv__, SymExpr.__floordiv__, reverse=True)

    def __mod__(self, other):
        return self._combine(other, int.__mod__, SymExpr.__mod__)

    def __rmod__(self, other):
        return self._combine(other, int.__mod__, SymExpr.__mod__, reverse=True)

    def __divmod__(self, other):
        if isinstance(other, bool) or not isinstance(other, int):
            return NotImplemented
        return self // other, self % other

    def __rdivmod__(self, other):
        if isinstance(other, bool) or not isinstance(other, int):
            return NotImplemented
        return other // self, other % self

    def __pow__(self, other, modulo=None):
        if not isinstance(other, int | float):
            return NotImplemented
        if modulo is None and type(other) is int and other >= 0:
            result = 1
            for _ in range(other):
                result = self * result
            return result
        return _inexact(self, "**", pow(int(self), other, modulo))

    def __rpow__(self, other, modulo=None):
        return _inexact(self, "**", pow(other, int(self), modulo)) if isinstance(other, int | float) \
            else NotImplemented

    def __truediv__(self, other):
        return _inexact(self, "/", int(self) / other) if isinstance(other, int | float) else NotImplemented

    def __rtruediv__(self, other):
        return _inexact(self, "/", other / int(self)) if isinstance(other, int | float) else NotImplemented

    def __float__(self) -> float:
        return _inexact(self, "float()", float(int(self)))

    # Rounding an int gives the int: keep the expression (math.floor(n) would otherwise make a plain int).
    def __floor__(self):
        return self

    __ceil__ = __trunc__ = __floor__

    def __round__(self, ndigits=None):
        return self if ndigits is None or ndigits >= 0 else int(self).__round__(ndigits)

    def __neg__(self):
        return SymInt(-int(self), -self.expr)

    def __pos__(self):
        return self

    def __abs__(self):
        return self if int(self) >= 0 else -self

    def __repr__(self) -> str:
        return int.__repr__(self)

    __str__ = __repr__


def _inexact(size: SymInt, how: str, result):
    """``result``, computed from ``size`` by ``how`` outside integer arithmetic, where no expression can follow.

    ember's shape rules and kernels may do so (they see the example's value, and run again on every call of the
    graph); the user's code may not, since the number would be baked into the graph, so it raises TracingError.
    """
    from .tracer import TracingError, is_ember_code, user_location

    if is_ember_code(sys._getframe(2)):
        return result
    raise TracingError(
        f"the dynamic size {size.expr} ({int(size)} in this example) went through {how} at {user_location()}; the "
        f"result ({result!r}) would be baked into the graph. Keep size arithmetic in integers (+, -, *, //, %) or "
        "in tensor ops (x.mean(dim) instead of x.sum(dim) / x.shape[dim])")
