"""Size expressions as artifacts write them: parse ``4*N+64`` or ``(N+1)//2`` and evaluate them for a batch.

A compiled graph's sizes (output shapes, the arena of intermediates) are integer expressions of its symbols, the
dynamic dims of its inputs. ember prints them (``ember.jit.symbolic.SymExpr``) and the runtime reads the text
back with this small parser, so a manifest stays readable and the runtime needs no part of ember. The grammar is
Python's integer arithmetic on names, with ``^`` for powers::

    expr   := term (("+" | "-") term)*
    term   := unary (("*" | "//" | "%") unary)*
    unary  := "-" unary | power
    power  := atom ("^" INT)?
    atom   := INT | NAME | "(" expr ")"

``//`` and ``%`` floor as Python's do. A malformed text raises ``ValueError`` naming it.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping

__all__ = ["Expr", "parse_expr", "parse_dim"]

_TOKEN = re.compile(r"\s*(?:(\d+)|([A-Za-z_][A-Za-z0-9_]*)|(//|[-+*%^()]))")
_BINARY: dict[str, Callable[[int, int], int]] = {"+": operator.add, "-": operator.sub, "*": operator.mul,
                                                 "//": operator.floordiv, "%": operator.mod}


class Expr:
    """A parsed size expression: a constant, a symbol, or an operator applied to sub-expressions."""

    __slots__ = ("op", "args", "text")

    def __init__(self, op: str, args: tuple, text: str):
        self.op, self.args, self.text = op, args, text

    def evaluate(self, bindings: Mapping[str, int]) -> int:
        """The value for the symbol values in ``bindings`` (``KeyError`` naming a symbol without one)."""
        op, args = self.op, self.args
        if op == "int":
            return args[0]
        if op == "sym":
            if args[0] not in bindings:
                raise KeyError(f"no value bound for the symbolic size '{args[0]}'")
            return int(bindings[args[0]])
        if op == "neg":
            return -args[0].evaluate(bindings)
        if op == "^":
            return args[0].evaluate(bindings) ** args[1]
        left, right = args[0].evaluate(bindings), args[1].evaluate(bindings)
        if op in ("//", "%") and right == 0:
            raise ZeroDivisionError(f"size expression '{self.text}' divides by zero")
        return _BINARY[op](left, right)

    def symbols(self) -> set[str]:
        if self.op == "sym":
            return {self.args[0]}
        found: set[str] = set()
        for arg in self.args:
            if isinstance(arg, Expr):
                found |= arg.symbols()
        return found

    @property
    def is_const(self) -> bool:
        return not self.symbols()

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Expr({self.text!r})"


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens: list[str | int] = []
        position = 0
        while position < len(text):
            match = _TOKEN.match(text, position)
            if match is None:
                if text[position:].strip() == "":
                    break
                raise ValueError(f"malformed size expression {text!r} at character {position}")
            number, name, symbol = match.groups()
            self.tokens.append(int(number) if number is not None else name or symbol)
            position = match.end()
        self.position = 0

    def peek(self) -> str | int | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> str | int | None:
        token = self.peek()
        self.position += 1
        return token

    def fail(self, what: str) -> ValueError:
        return ValueError(f"malformed size expression {self.text!r}: {what}")

    def parse(self) -> Expr:
        if not self.tokens:
            raise self.fail("it is empty")
        expr = self.expr()
        if self.peek() is not None:
            raise self.fail(f"unexpected {self.peek()!r}")
        return expr

    def expr(self) -> Expr:
        left = self.term()
        while self.peek() in ("+", "-"):
            op = self.take()
            right = self.term()
            left = Expr(op, (left, right), f"{left.text}{op}{right.text}")
        return left

    def term(self) -> Expr:
        left = self.unary()
        while self.peek() in ("*", "//", "%"):
            op = self.take()
            right = self.unary()
            left = Expr(op, (left, right), f"{left.text}{op}{right.text}")
        return left

    def unary(self) -> Expr:
        if self.peek() == "-":
            self.take()
            inner = self.unary()
            return Expr("neg", (inner,), f"-{inner.text}")
        return self.power()

    def power(self) -> Expr:
        base = self.atom()
        if self.peek() == "^":
            self.take()
            exponent = self.take()
            if not isinstance(exponent, int):
                raise self.fail("'^' must be followed by an integer")
            return Expr("^", (base, exponent), f"{base.text}^{exponent}")
        return base

    def atom(self) -> Expr:
        token = self.take()
        if isinstance(token, int):
            return Expr("int", (token,), str(token))
        if token == "(":
            inner = self.expr()
            if self.take() != ")":
                raise self.fail("a '(' is not closed")
            return Expr(inner.op, inner.args, f"({inner.text})")
        if isinstance(token, str) and token not in _BINARY and token not in ("(", ")", "^"):
            return Expr("sym", (token,), token)
        raise self.fail("expected a number, a name or '('" if token is not None else "it ends too early")


def parse_expr(text: str) -> Expr:
    """The size expression ``text`` (see the module docstring for the grammar)."""
    if not isinstance(text, str):
        raise ValueError(f"a size expression must be a string, got {type(text).__name__}")
    return _Parser(text).parse()


def parse_dim(dim: int | str) -> int | Expr:
    """A manifest's dim: an ``int`` stays one (it must not be negative); a string is parsed as an expression."""
    if isinstance(dim, bool) or not isinstance(dim, int | str):
        raise ValueError(f"a dim must be an integer or a size expression, got {dim!r}")
    if isinstance(dim, int):
        if dim < 0:
            raise ValueError(f"a dim must not be negative, got {dim}")
        return dim
    return parse_expr(dim)
