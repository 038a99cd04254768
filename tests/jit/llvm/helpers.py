"""Shared by the LLVM backend tests: trace a function, compile it, and compare with the reference interpreter."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np

import ember
from ember.jit.interpreter import run_graph
from ember.jit.llvm.compiled import CompiledGraph, compile_graph


def compile_function(fn: Callable, examples: Sequence[ember.Tensor], *, dynamic_dims=None,
                     optimize: bool = False) -> tuple[ember.jit.TracedModule, CompiledGraph]:
    """``fn`` traced on ``examples`` (unoptimised by default, so each op is its own node) and compiled."""
    traced = ember.jit.trace(fn, tuple(examples), dynamic_dims=dynamic_dims, optimize=optimize)
    return traced, compile_graph(traced.graph, traced.params)


def assert_matches_interpreter(traced: ember.jit.TracedModule, compiled: CompiledGraph,
                               inputs: Sequence[ember.Tensor], rtol: float = 1e-5, atol: float = 1e-6) -> None:
    """The compiled outputs equal the interpreter's: same dtypes and shapes, values within ``rtol``/``atol``
    (NaN where the interpreter has NaN)."""
    got = compiled(list(inputs))
    want = run_graph(traced.graph, list(inputs), traced.params)
    assert len(got) == len(want)
    for index, (g, w) in enumerate(zip(got, want, strict=True)):
        assert g.dtype is w.dtype, f"output {index}: {g.dtype} != {w.dtype}"
        assert tuple(g.shape) == tuple(w.shape), f"output {index}: {tuple(g.shape)} != {tuple(w.shape)}"
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=rtol, atol=atol, err_msg=f"output {index}")


def randn(*shape: int, seed: int = 0, dtype=ember.float32) -> ember.Tensor:
    """Random normal values of ``dtype`` (never all zeros)."""
    rng = np.random.default_rng(seed + sum(shape) * 7919 + len(shape))
    return ember.tensor(rng.standard_normal(shape), dtype=dtype)


def uniform(low: float, high: float, *shape: int, seed: int = 0, dtype=ember.float32) -> ember.Tensor:
    rng = np.random.default_rng(seed + sum(shape) * 104729)
    return ember.tensor(rng.uniform(low, high, shape), dtype=dtype)


def randint(low: int, high: int, *shape: int, seed: int = 0, dtype=ember.int32) -> ember.Tensor:
    rng = np.random.default_rng(seed + sum(shape) * 31)
    return ember.tensor(rng.integers(low, high, shape), dtype=dtype)


def compile_model(case) -> ember.jit.TracedModule:
    """A model of tests/jit/models.py (BatchNorm statistics randomised, eval mode) traced at batch 2 and compiled
    whole: a fallback to the interpreter (which warns) fails the test."""
    from ..models import randomise_batchnorm

    ember.manual_seed(0)
    model = case.build(ember)
    randomise_batchnorm(model, ember)
    model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        traced = ember.jit.trace(model, (case.make(ember, 2, 5),), dynamic_dims=case.dynamic_dims, backend="llvm")
    assert traced.backend == "llvm"
    return traced
