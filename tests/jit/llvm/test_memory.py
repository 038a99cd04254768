"""The arena plan: values live at the same time never overlap, offsets are 64-byte aligned, sizes and offsets are
expressions of the symbols, and space is reused once a value is dead."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import ember
from ember.jit.llvm.lower import plan_layouts
from ember.jit.llvm.memory import ALIGNMENT, Request, align, covers, plan_arena
from ember.jit.symbolic import as_expr, sym

N, T = sym("N"), sym("T")


def _check_plan(requests, plan, bindings):
    offsets, size = plan.evaluate(bindings)
    sizes = {r.key: as_expr(r.size).evaluate(bindings) for r in requests}
    for r in requests:
        assert offsets[r.key] % ALIGNMENT == 0
        assert offsets[r.key] + sizes[r.key] <= size
    for a, b in itertools.combinations(requests, 2):
        if a.start <= b.end and b.start <= a.end:  # live at the same time
            (lo, lo_size), (hi, _) = sorted([(offsets[a.key], sizes[a.key]), (offsets[b.key], sizes[b.key])])
            assert lo + lo_size <= hi, f"{a.key} and {b.key} overlap at {bindings}"


@pytest.mark.parametrize("seed", range(20))
def test_random_plans_are_overlap_free(seed):
    rng = np.random.default_rng(seed)
    requests = []
    for i in range(int(rng.integers(1, 25))):
        start = int(rng.integers(0, 30))
        size = int(rng.integers(0, 5)) * N * int(rng.integers(1, 300)) + int(rng.integers(0, 2)) * N * T * 4 \
            + int(rng.integers(1, 5000))
        requests.append(Request(("v", i), size, start, start + int(rng.integers(0, 6))))
    plan = plan_arena(requests)
    for n, t in [(1, 1), (7, 3), (64, 129), (1000, 1)]:
        _check_plan(requests, plan, {"N": n, "T": t})


def test_dead_values_share_space():
    # A chain a -> b -> c -> d: each value dies when the next is made, so two slots suffice.
    requests = [Request(i, 4 * N * 256, i, i + 1) for i in range(4)]
    plan = plan_arena(requests)
    assert plan.offsets[0] == plan.offsets[2] and plan.offsets[1] == plan.offsets[3]
    assert plan.size == 2 * 1024 * N
    # A larger later value grows the slot it reuses; an incomparable size takes a new slot.
    grown = plan_arena([Request("a", 10 * N, 0, 0), Request("b", 20 * N + 4, 1, 1)])
    assert grown.offsets["a"] == grown.offsets["b"] and grown.size == align(20 * N + 4)
    apart = plan_arena([Request("a", 10 * N, 0, 0), Request("b", 5 * T, 1, 1)])
    assert apart.offsets["a"] != apart.offsets["b"]


def test_covers_and_align():
    assert covers(4 * N + 1, 2 * N) and covers(N * T + N, N * T) and covers(7, 7)
    # Conservative: N*T >= T needs N >= 1, and symbols are only known to be non-negative.
    assert not covers(2 * N, 4 * N) and not covers(N, T) and not covers(N * T, T)
    assert align(1) == 64 and align(64) == 64 and align(0) == 0
    assert align(4 * N).evaluate({"N": 17}) == 128


def test_plan_of_a_traced_model_reuses_and_aligns():
    model = ember.nn.Sequential(*[m for _ in range(4) for m in (ember.nn.Linear(48, 48), ember.nn.ReLU())]).eval()
    traced = ember.jit.trace(model, ember.randn(5, 48))
    layouts, kernels, plan = plan_layouts(traced.graph, 512)
    intermediates = [k for k in plan.offsets if k[0] == "arena"]
    assert len(intermediates) == len(kernels) - 1  # the last node writes the output buffer itself
    offsets, size = plan.evaluate({"N": 9})
    assert all(o % ALIGNMENT == 0 for o in offsets.values())
    # A chain: each intermediate dies when the next node has read it, so two slots hold all seven.
    assert len({offsets[k] for k in intermediates}) == 2
    assert size >= max(offsets.values())
