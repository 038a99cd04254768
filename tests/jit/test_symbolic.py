"""Symbolic sizes: SymExpr's canonical form, printing, // and %, evaluation; SymInt's arithmetic and hashing, and
the shape caches that must keep traced and eager sizes apart."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

import ember
from ember.backends.cpu import contiguous_strides
from ember.jit import TracingError
from ember.jit.symbolic import SymExpr, SymInt, as_expr, free_symbols, sym
from ember.tensor.ops.linalg import _matmul_shape
from ember.tensor.ops.ranges import ARANGE
from ember.tensor.ops.views import view_geometry
from ember.tensor.registry import cached_meta
from ember.tensor.shape_rules import broadcast_shapes

N, T = sym("N"), sym("T")


# ----- SymExpr -------------------------------------------------------------------------------------------------
def test_canonical_form_makes_equal_expressions_equal():
    assert N + T == T + N and hash(N + T) == hash(T + N)
    assert (N + 1) * (N - 1) == N * N - 1
    assert (N + T) * 2 - T == 2 * N + T
    assert N - N == 0 and (N - N).is_const and SymExpr.const(0) == 0
    assert N != T and N + 1 != N and N != 1
    assert SymExpr.const(3) == 3 and hash(SymExpr.const(3)) == hash(3)


@pytest.mark.parametrize("expr, text", [
    (N, "N"), (N + T, "N+T"), (T + N, "N+T"), ((N + 1) * (N - 1), "N^2-1"), (2 * N * T + 3 * N - 1, "2*N*T+3*N-1"),
    (-N + 3, "-N+3"), (N * N * T, "N^2*T"), (SymExpr.const(0), "0"), (SymExpr.const(-4), "-4"),
    ((N + 1) // 2, "(N+1)//2"), ((N + T) % 3, "(N+T)%3"), (3 * ((N + 1) // 2), "3*((N+1)//2)"),
    (N // (T // 2), "N//(T//2)"), ((5 * N + 7) // 3, "N+((2*N+1)//3)+2"), (N // (2 * T), "N//(2*T)"),
    ((N + 3) // -2, "-N+((N+1)//2)-2"), ((N + 3) % -2, "-((N+1)%2)"),
])
def test_printing(expr, text):
    assert str(expr) == text and repr(expr) == f"SymExpr({text})"


@pytest.mark.parametrize("expr, simplified", [
    ((4 * N) // 2, 2 * N), ((2 * N + 1) // 2, N), ((2 * N + 1) % 2, SymExpr.const(1)), ((6 * N) % 3, 0),
    ((N * T) // N, T), ((N * T + N) // N, T + 1), ((N * T) % T, 0), (N // N, 1), (N % N, 0), (N // 1, N),
    ((2 * N - 4) // 2, N - 2), ((5 * N + 7) % 3, (2 * N + 1) % 3), (SymExpr.const(7) // 2, 3),
])
def test_floor_division_and_remainder_simplify(expr, simplified):
    assert expr == simplified


def _random_expr(rng: random.Random, depth: int = 2) -> SymExpr:
    expr = SymExpr.const(rng.randint(-3, 5))
    for _ in range(rng.randint(1, 3)):
        term = SymExpr.const(rng.randint(-4, 4))
        for name in rng.sample(["N", "T", "C"], rng.randint(0, 2)):
            term = term * sym(name)
        expr = expr + term
    if depth:
        other = _random_expr(rng, depth - 1)
        expr = {0: expr * other, 1: expr // rng.choice([2, 3, -2]), 2: expr % 3, 3: expr + other}[rng.randint(0, 3)]
    return expr


def test_every_simplification_agrees_with_python_integers():
    rng = random.Random(0)
    for _ in range(300):
        a, b = _random_expr(rng), _random_expr(rng, 1)
        for bindings in ({"N": 1, "T": 1, "C": 1}, {"N": 7, "T": 3, "C": 5}, {"N": 12, "T": 40, "C": 2}):
            x, y = a.evaluate(bindings), b.evaluate(bindings)
            assert (a + b).evaluate(bindings) == x + y and (a * b).evaluate(bindings) == x * y
            for d in (2, 3, -5):
                assert (a // d).evaluate(bindings) == x // d and (a % d).evaluate(bindings) == x % d
            if y:
                assert (a // b).evaluate(bindings) == x // y and (a % b).evaluate(bindings) == x % y


def test_evaluate_and_symbols():
    expr = (N * T + 2) // (T + 1)
    assert expr.symbols() == {"N", "T"} and free_symbols([(N, 3), [T * 2]]) == {"N", "T"}
    assert expr.evaluate({"N": 5, "T": 3}) == 17 // 4
    with pytest.raises(KeyError, match="no value bound for the symbolic size 'T'"):
        expr.evaluate({"N": 5})
    with pytest.raises(ZeroDivisionError):
        N // 0
    with pytest.raises(ZeroDivisionError):
        N % 0
    with pytest.raises(TypeError, match="a symbolic size expression needs ints, got float"):
        as_expr(2.5)
    bound = expr.evaluate({"N": SymInt(5, sym("B")), "T": 3})
    assert bound == 4 and isinstance(bound, SymInt) and str(bound.expr) == "(3*B+2)//4"


# ----- SymInt --------------------------------------------------------------------------------------------------
def test_symint_arithmetic_carries_the_expression():
    n, t = SymInt(8, N), SymInt(5, T)
    for value, expr, expected in [(n + 1, N + 1, 9), (2 * n, 2 * N, 16), (n * t, N * T, 40), (n - t, N - T, 3),
                                  (n // 3, N // 3, 2), (n % 3, N % 3, 2), (-n, -N, -8), (40 // t, 40 // T, 8),
                                  (n ** 2, N * N, 64), (abs(-n), N, 8), (math.floor(n), N, 8), (round(n), N, 8)]:
        assert isinstance(value, SymInt) and value == expected and value.expr == expr, (value, expr)
    assert divmod(n, 3) == (2, 2) and divmod(n, 3)[1].expr == N % 3
    assert type(n - n) is int and n - n == 0 and type(n // n) is int
    assert type(n ** 0) is int and n ** 0 == 1
    assert repr(n) == "8" and str(n) == "8" and f"{n}" == "8"


def test_symint_behaves_as_its_value():
    n = SymInt(8, N)
    assert n == 8 and int.__eq__(8, n) and n > 7 and n != 9 and bool(n)
    assert int(n) == 8 and type(int(n)) is int
    assert list(range(n)) == list(range(8)) and [0] * n == [0] * 8 and np.zeros((n, 2)).shape == (8, 2)
    assert max(n, 3) is n


def test_symint_never_hashes_like_the_int():
    n, m = SymInt(8, N), SymInt(8, T)
    assert hash(n) != hash(8) and hash(n) != hash(m) and hash(n) == hash(SymInt(8, N))
    assert len({(n, 3): "traced", (8, 3): "eager", (m, 3): "other"}) == 3
    assert SymInt(8, N - N + 3) == 8 and type(SymInt(8, SymExpr.const(8))) is int


def test_floats_of_a_symint_are_refused_in_user_code():
    n = SymInt(8, N)
    for fn, how in [(lambda: n / 2, "/"), (lambda: 1 / n, "/"), (lambda: n ** 0.5, r"\*\*"), (lambda: 2 ** n, r"\*\*"),
                    (lambda: float(n), r"float\(\)"), (lambda: math.sqrt(n), r"float\(\)")]:
        with pytest.raises(TracingError, match=f"the dynamic size N \\(8 in this example\\) went through {how} at "
                                               f"{__file__}:"):
            fn()
    assert (n / ember.ones(2)).tolist() == [8.0, 8.0]  # a tensor on the right takes the operation


def test_ember_code_may_compute_floats_from_a_symint():
    # arange's kernel and rule check its bounds in floating point; the rule's length stays symbolic.
    assert ember.arange(1, SymInt(9, N), 3).tolist() == [1, 4, 7]
    for start, end, step, length in [(0, SymInt(5, N), 1, N), (1, SymInt(9, N), 3, (N + 1) // 3),
                                     (SymInt(9, N), 0, -2, (N + 1) // 2)]:
        for dtype in (ember.int64, ember.float32):
            (size,) = ARANGE.infer(start=start, end=end, step=step, dtype=dtype).shape
            assert size.expr == length and size == len(np.arange(int(start), int(end), step))


# ----- shape caches keyed by shapes ----------------------------------------------------------------------------
def _is_symbolic(shape: tuple) -> bool:
    return any(isinstance(d, SymInt) for d in shape)


def test_shape_caches_keep_traced_and_eager_sizes_apart():
    n = SymInt(8, N)
    for first in ("eager", "traced"):
        for kind in ([first] * 2 + ["eager" if first == "traced" else "traced"]):
            b = n if kind == "traced" else 8
            meta = cached_meta((b, 3), ember.float32)
            assert _is_symbolic(meta.shape) == (kind == "traced")
            assert _is_symbolic(broadcast_shapes((b, 3), (1, 3))) == (kind == "traced")
            assert _is_symbolic(view_geometry((b, 3), (3, 1), (-1,))[0]) == (kind == "traced")
            assert _is_symbolic(_matmul_shape((b, 3), (3, 5))[1]) == (kind == "traced")
            assert _is_symbolic(contiguous_strides((4, b, 2))) == (kind == "traced")
        cached_meta.__globals__["_META_CACHE"].clear()
        for fn in (view_geometry, _matmul_shape):
            fn.cache_clear()
