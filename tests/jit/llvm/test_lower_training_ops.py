"""The lowerings of the loss, norm and backward ops against the reference interpreter: ``cross_entropy`` (and its
gradient), ``nuclear_norm`` (and its gradient), ``avg_pool_backward`` and ``max_pool_backward``. The backward ops
are dispatched directly (the tracer runs under no_grad, so autograd never records them)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
import ember.nn.functional as F
from ember.nn.functional.cross_entropy_kernels import CROSS_ENTROPY_BACKWARD
from ember.nn.functional.pool_kernels import AVG_POOL_BACKWARD, MAX_POOL_BACKWARD
from ember.tensor.dispatch import dispatch
from ember.tensor.ops.statistics import NUCLEAR_NORM_BACKWARD

from .helpers import assert_matches_interpreter, compile_function, randint, randn, uniform

BATCH = {0: {0: "N"}, 1: {0: "N"}}


@pytest.mark.parametrize("dtype", [ember.float32, ember.float64])
def test_cross_entropy_every_reduction_weights_and_ignore_index(dtype):
    weight = uniform(0.2, 2.0, 7, seed=1, dtype=dtype)

    def fn(x, target):
        logits = x.t()  # a non-contiguous (N, C) input
        return (F.cross_entropy(logits, target), F.cross_entropy(logits, target, reduction="sum", ignore_index=2),
                F.cross_entropy(logits, target, weight=weight, reduction="none", ignore_index=2),
                F.cross_entropy(logits, target, weight=weight, ignore_index=2),
                F.cross_entropy(logits[0], target[0], weight=weight),
                dispatch(CROSS_ENTROPY_BACKWARD, ember.tensor(1.5, dtype=dtype), logits, target, weight,
                         ignore_index=2, reduction="mean"),
                dispatch(CROSS_ENTROPY_BACKWARD, logits[:, 0], logits, target, None, ignore_index=-100,
                         reduction="none"))

    traced, compiled = compile_function(fn, [randn(7, 6, dtype=dtype), randint(0, 7, 6, dtype=ember.int64)],
                                        dynamic_dims={0: {1: "N"}, 1: {0: "N"}})
    assert sum(node.op.startswith("cross_entropy") for node in traced.graph.nodes) == 7
    for batch in (6, 1, 9):
        inputs = [randn(7, batch, seed=batch, dtype=dtype), randint(0, 7, batch, seed=batch, dtype=ember.int64)]
        assert_matches_interpreter(traced, compiled, inputs, rtol=1e-5, atol=1e-6)
    # Every target ignored: the mean is 0 / 0 = NaN, as in eager mode.
    assert_matches_interpreter(traced, compiled, [randn(7, 3, dtype=dtype), ember.full((3,), 2, dtype=ember.int64)])


@pytest.mark.parametrize("bad", [7, -1, 100])
def test_cross_entropy_target_out_of_range_raises(bad):
    traced = ember.jit.trace(lambda x, t: F.cross_entropy(x, t), (randn(4, 7), randint(0, 7, 4, dtype=ember.int64)),
                             backend="llvm")
    assert traced.backend == "llvm"
    x, target = randn(4, 7, seed=3), randint(0, 7, 4, seed=3, dtype=ember.int64)
    np.testing.assert_allclose(traced(x, target).numpy(),
                               torch.nn.functional.cross_entropy(torch.from_numpy(x.numpy()),
                                                                 torch.from_numpy(target.numpy())).numpy(), rtol=1e-6)
    target[2] = bad
    with pytest.raises(IndexError, match="Target .* is out of bounds"):
        F.cross_entropy(x, target)
    with pytest.raises(IndexError, match="Target is out of bounds"):
        traced(x, target)


def test_nuclear_norm_and_its_gradient():
    def fn(x):
        return (ember.norm(x, "nuc", dim=(1, 2)), ember.norm(x.transpose(1, 2), "nuc", dim=(1, 2), keepdim=True),
                ember.norm(x, "nuc", dim=(0, 2)), ember.norm(x.double(), "nuc", dim=(2, 1)),
                dispatch(NUCLEAR_NORM_BACKWARD, x, dim=(1, 2)), dispatch(NUCLEAR_NORM_BACKWARD, x.double(), dim=(2, 0)))

    # Every size dynamic: wide, tall, square and one-row matrices (the kernel orients them at run time).
    traced, compiled = compile_function(fn, [randn(3, 4, 6)], dynamic_dims={0: {0: "N", 1: "M", 2: "K"}})
    for shape in ((3, 4, 6), (1, 7, 3), (4, 5, 5), (2, 1, 4)):
        assert_matches_interpreter(traced, compiled, [randn(*shape, seed=shape[1])], rtol=1e-4, atol=1e-5)


def test_pool_backward_ops():
    def fn(g, g1, positions):
        geometry = dict(input_sizes=(7, 8), kernel=(3, 2), stride=(2, 2), padding=(1, 1), out_sizes=(4, 5),
                        divisor_override=None)
        return (dispatch(AVG_POOL_BACKWARD, g, count_include_pad=False, **geometry),
                dispatch(AVG_POOL_BACKWARD, g.transpose(0, 1), count_include_pad=True, **geometry),
                dispatch(AVG_POOL_BACKWARD, g1.double(), input_sizes=(9,), kernel=(3,), stride=(1,), padding=(0,),
                         out_sizes=(7,), count_include_pad=True, divisor_override=5),
                dispatch(MAX_POOL_BACKWARD, g, positions, input_sizes=(7, 8), overlapping=True))

    def inputs(batch: int) -> list:
        return [randn(batch, 3, 4, 5, seed=batch), randn(batch, 2, 7, seed=batch),
                randint(0, 56, batch, 3, 4, 5, seed=batch, dtype=ember.int64)]

    traced, compiled = compile_function(fn, inputs(2), dynamic_dims={0: {0: "N"}, 1: {0: "N"}, 2: {0: "N"}})
    for batch in (2, 1, 3):
        assert_matches_interpreter(traced, compiled, inputs(batch))
    bad = inputs(2)
    bad[2][1, 0, 2, 3] = 56
    with pytest.raises(IndexError):
        compiled(bad)


def test_max_pool_backward_of_real_pooling_indices():
    def fn(x):
        values, positions = F.max_pool2d(x, (2, 3), return_indices=True)
        return dispatch(MAX_POOL_BACKWARD, values * 3, positions, input_sizes=(6, 7), overlapping=False)

    traced, compiled = compile_function(fn, [randn(2, 3, 6, 7)], dynamic_dims={0: {0: "N"}})
    for batch in (2, 1):
        assert_matches_interpreter(traced, compiled, [randn(batch, 3, 6, 7, seed=batch)], atol=0)
