"""The ``index_select`` lowering (and the Embedding lookups that record it) against the reference interpreter."""

from __future__ import annotations

import numpy as np
import pytest

import ember

from .helpers import assert_matches_interpreter, compile_function, randint, randn


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("index_dtype", [ember.int64, ember.int32])
def test_index_select_along_each_dim(dim, index_dtype):
    source = randn(7, 5, 6, seed=1)
    size = source.shape[dim]
    traced, compiled = compile_function(lambda i: ember.index_select(source, dim, i),
                                        [randint(0, size, 9, dtype=index_dtype)])
    for n in (9, 1, 13):
        assert_matches_interpreter(traced, compiled, [randint(0, size, n, seed=n, dtype=index_dtype)])


def test_index_select_of_a_traced_non_contiguous_source():
    index = ember.tensor(np.array([3, 0, 0, 4, 2]))
    traced, compiled = compile_function(lambda x: ember.index_select(x.t(), 0, index) * 2, [randn(6, 5)])
    for batch in (2, 9):
        assert_matches_interpreter(traced, compiled, [randn(batch, 5, seed=batch)])


def test_embedding_lookup_compiles_whole():
    ember.manual_seed(0)
    embed = ember.nn.Embedding(50, 12).eval()
    tokens = randint(0, 50, 3, 7, dtype=ember.int64)
    traced = ember.jit.trace(embed, tokens, dynamic_dims={0: {0: "B", 1: "T"}}, backend="llvm")
    assert traced.backend == "llvm"
    for shape in ((1, 4), (5, 11)):
        x = randint(0, 50, *shape, seed=shape[1], dtype=ember.int64)
        np.testing.assert_array_equal(traced(x).numpy(), embed(x).detach().numpy())


@pytest.mark.parametrize("bad", [50, -1, 1000])
def test_an_index_out_of_range_raises_as_in_eager_mode(bad):
    # The kernel keeps its reads in bounds and reports the bad index; the call raises eager's IndexError.
    ember.manual_seed(0)
    embed = ember.nn.Embedding(50, 4).eval()
    traced = ember.jit.trace(embed, randint(0, 50, 2, 3, dtype=ember.int64), backend="llvm")
    tokens = randint(0, 50, 2, 3, dtype=ember.int64)
    tokens[1, 2] = bad
    with pytest.raises(IndexError, match="index out of range in self"):
        embed(tokens)
    with pytest.raises(IndexError, match="index out of range in self"):
        traced(tokens)
    tokens[1, 2] = 7
    np.testing.assert_array_equal(traced(tokens).numpy(), embed(tokens).detach().numpy())
