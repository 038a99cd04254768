"""Each model of issue 5 (tests/jit/models.py) compiles whole with ``backend="llvm"``, with no op left to the
interpreter, and matches the interpreter at two batch sizes other than the traced one."""

from __future__ import annotations

import numpy as np
import pytest

import ember
from ember.jit.interpreter import run_graph

from ..models import MODELS
from .helpers import compile_model


@pytest.mark.parametrize("case", MODELS, ids=[case.name for case in MODELS])
def test_model_compiles_whole_and_matches_the_interpreter(case):
    traced = compile_model(case)
    assert traced.backend == "llvm"
    for batch, length in ((1, 3), (5, 9)):
        x = case.make(ember, batch, length)
        got = traced(x).numpy()
        want = run_graph(traced.graph, [x], traced.params)[0].numpy()
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())
