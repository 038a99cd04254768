"""The runtime's size-expression parser reads back what ember's symbolic sizes print, with the same values."""

from __future__ import annotations

import itertools

import pytest

from ember.jit.symbolic import sym
from ember_runtime.symbolic import parse_dim, parse_expr

N, T = sym("N"), sym("T")
EXPRESSIONS = [N, N * 4 + 64, (N + 1) // 2, (N * T) % 3, N * N * T - 7, -N // 4, (2 * N - 1) // (T + 1),
               ((N + 3) // 2) * T + (N % 5), 3 * (N // 2) * (T // 3)]


@pytest.mark.parametrize("expr", EXPRESSIONS, ids=str)
def test_printed_sizes_parse_back_to_the_same_values(expr):
    parsed = parse_expr(str(expr))
    assert parsed.symbols() == expr.symbols()
    for n, t in itertools.product((1, 2, 7, 64), (1, 3, 40)):
        assert parsed.evaluate({"N": n, "T": t}) == expr.evaluate({"N": n, "T": t}), (str(expr), n, t)


def test_python_floor_semantics_and_powers():
    assert parse_expr("-7//2").evaluate({}) == -4
    assert parse_expr("-7%3").evaluate({}) == 2
    assert parse_expr("N^3+1").evaluate({"N": 2}) == 9
    assert parse_expr("2*(N+1)").evaluate({"N": 4}) == 10
    assert str(parse_expr("4*N+64")) == "4*N+64"
    assert parse_expr("64").is_const and not parse_expr("N").is_const


@pytest.mark.parametrize("text", ["", "N+", "(N", "N)", "N^x", "4**N", "N $ 2", "*3", "1 2"])
def test_malformed_text_is_refused(text):
    with pytest.raises(ValueError, match="malformed size expression|empty"):
        parse_expr(text)


def test_missing_symbol_and_division_by_zero_are_named():
    with pytest.raises(KeyError, match="'B'"):
        parse_expr("B*2").evaluate({"N": 1})
    with pytest.raises(ZeroDivisionError, match="N//0"):
        parse_expr("N//0").evaluate({"N": 1})


def test_dims():
    assert parse_dim(3) == 3
    assert parse_dim("N").evaluate({"N": 5}) == 5
    for bad in (-1, True, 2.5, None):
        with pytest.raises(ValueError):
            parse_dim(bad)
