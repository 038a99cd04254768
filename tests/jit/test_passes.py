"""The graph passes one by one: dead code, CSE, identity removal, algebraic simplification, constant folding.

Each pass runs alone on hand-built graphs and on traced ones (``trace(..., optimize=False)``), and the graph
must compute the same outputs before and after it (``check_pass``).
"""

from __future__ import annotations

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember import nn
from ember.jit.passes import (
    eliminate_common_subexpressions,
    eliminate_dead_code,
    fold_constants,
    remove_identities,
    simplify_algebra,
)
from ember.jit.passes.constant_folding import MATERIALIZE_LIMIT
from ember.jit.passes.rewrite import derived_name

from .graph_builder import GraphBuilder, check_pass, ops


def traced(fn, *example, **kwargs):
    tm = ember.jit.trace(fn, example if len(example) > 1 else example[0], optimize=False, **kwargs)
    return tm.graph, tm.params


# ----- dead code -------------------------------------------------------------------------------------------
def test_dead_code_drops_unread_nodes_params_and_constants():
    b = GraphBuilder()
    x, unused_input = b.input("x", 2, 3), b.input("y", 2, 3)
    w = b.param("w", ember.randn(3))
    b.param("unused", ember.randn(3))
    c = b.const(ember.ones(3))
    dead = b("exp", b("add", x, c))
    b("mul", dead, w)
    graph = b.returns(b("relu", b("mul", x, w)))
    graph, _ = check_pass(graph, b.params, eliminate_dead_code)
    assert ops(graph) == ["mul", "relu"]
    assert [v.name for v in graph.params] == ["w"] and graph.constants == []
    assert graph.inputs[1] is unused_input


def test_dead_code_on_a_traced_batchnorm_drops_the_step_counter():
    graph, params = traced(nn.BatchNorm1d(4).eval(), ember.randn(3, 4))
    assert "num_batches_tracked" in {v.name for v in graph.params}
    graph, _ = check_pass(graph, params, eliminate_dead_code)
    assert "num_batches_tracked" not in {v.name for v in graph.params}


# ----- CSE ---------------------------------------------------------------------------------------------------
def test_cse_merges_equal_nodes_only():
    b = GraphBuilder()
    x = b.input("x", 2, 3)
    a1, a2 = b("add", x, 1), b("add", x, 1)
    as_float = b("add", x, 1.0)  # 1 == 1.0 in Python, but not the same operand
    scaled = b("add", x, 1, alpha=2)
    e1, e2 = b("empty", (2, 3), dtype=ember.float32), b("empty", (2, 3), dtype=ember.float32)
    total = b("add", b("add", b("mul", a1, a2), as_float), scaled)
    graph = b.returns(total, b("mul", e1, 0.0), b("mul", e2, 0.0))
    graph, _ = check_pass(graph, {}, eliminate_common_subexpressions)
    assert ops(graph).count("add") == 5 and ops(graph).count("empty") == 2
    mul = graph.nodes[ops(graph).index("mul")]
    assert mul.operands[0] is mul.operands[1]


def test_cse_keeps_in_place_nodes_and_distinct_graph_outputs():
    b = GraphBuilder()
    x = b.input("x", 4)
    f1, f2 = b("fill_", x, 2.0), b("fill_", x, 2.0)
    r1, r2 = b("relu", x), b("relu", x)
    graph = b.returns(b("add", f1, f2), r1, r2)
    graph, _ = check_pass(graph, {}, eliminate_common_subexpressions)
    assert ops(graph).count("fill_") == 2 and ops(graph).count("relu") == 2


def test_cse_on_a_traced_function():
    graph, params = traced(lambda x: (x.exp() + 1) * (x.exp() + 1) + x.t().sum(), ember.randn(3, 3))
    graph, _ = check_pass(graph, params, eliminate_common_subexpressions, bindings=[None, {"N": 3}])
    assert ops(graph).count("exp") == 1 and ops(graph).count("add") == 2


# ----- identity removal ----------------------------------------------------------------------------------------
def test_identity_removal_of_views_that_change_nothing():
    b = GraphBuilder()
    x = b.input("x", 3, 1, 1, 4)
    v = b("view", x, size=(3, 1, 1, -1))
    e = b("expand", v, size=(3, 1, -1, 4))
    t = b("transpose", e, dim0=1, dim1=2)
    p = b("permute", t, dims=(0, 2, 1, 3))
    s = b("squeeze", p, dims=(0, 3))
    square = b.input("y", 3, 3)
    kept = b("transpose", square, dim0=0, dim1=1)
    moved = b("permute", x, dims=(3, 1, 2, 0))
    graph = b.returns(b("exp", s), b("exp", kept), b("exp", moved))
    graph, _ = check_pass(graph, {}, remove_identities)
    assert ops(graph) == ["transpose", "permute", "exp", "exp", "exp"]


def test_identity_removal_of_copies_read_only_by_computations():
    b = GraphBuilder()
    x = b.input("x", 2, 3)
    same = b("cast", b("clone", x), dtype=ember.float32)
    widened = b("cast", x, dtype=ember.float64)
    t = b("transpose", x, dim0=0, dim1=1)
    contiguous = b("clone", t)  # read by a view, which needs it contiguous
    flat = b("view", contiguous, size=(6,))
    graph = b.returns(b("exp", same), widened, b("exp", flat), b("clone", x))
    graph, _ = check_pass(graph, {}, remove_identities)
    # The copy that is a graph output stays: returning x itself would hand the caller its own input.
    assert ops(graph) == ["cast", "transpose", "clone", "view", "exp", "exp", "clone"]
    assert graph.nodes[4].operands[0] is graph.inputs[0]


def test_identity_removal_keeps_views_of_symbolic_sizes():
    def fn(x):
        return x.view(x.shape[0], -1).exp(), x.squeeze(0).exp(), x.unsqueeze(1).squeeze(1).exp()

    graph, params = traced(fn, ember.randn(4, 5))
    graph, _ = check_pass(graph, params, remove_identities, bindings=[None, {"N": 6}])
    # squeeze(0) of the batch dim is the identity at N = 4 but not at N = 1: it stays.
    assert ops(graph) == ["exp", "squeeze", "exp", "unsqueeze", "squeeze", "exp"]


def test_eval_dropout_never_reaches_the_graph():
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5), nn.ReLU(), nn.AlphaDropout(0.2))
    graph, _ = traced(model.eval(), ember.randn(2, 4))
    assert ops(graph) == ["linear", "relu"]
    graph, _ = traced(nn.Sequential(nn.Conv2d(2, 2, 1), nn.Dropout2d(0.3)).eval(), ember.randn(1, 2, 3, 3))
    assert ops(graph) == ["convolution"]
    graph, _ = traced(lambda x: F.dropout(x.exp(), 0.0, training=True) + F.dropout(x, 0.5, training=False),
                      ember.randn(2, 4))
    assert ops(graph) == ["exp", "add"]


# ----- algebraic simplification ------------------------------------------------------------------------------
def test_neutral_elements_go_when_the_result_is_unchanged():
    b = GraphBuilder()
    x = b.input("x", 2, 3)
    ones = b.const(ember.ones(1, 3))
    y = b("div", b("sub", b("add", 0, b("add", b("mul", 1, b("mul", x, 1.0)), 0.0)), 0), 1)
    y = b("mul", y, ones)
    i = b.input("i", 2, 3, dtype=ember.int64)
    as_float = b("mul", i, 1.0)  # int64 * 1.0 is float32: not the identity
    scaled = b("add", 0, x, alpha=2)  # 0 + 2 * x
    floored = b("div", x, 1, rounding_mode="floor")
    broadcast = b("mul", b.input("s", 3), ones)  # [3] * [1, 3] is [1, 3]
    graph = b.returns(b("exp", y), as_float, scaled, floored, broadcast)
    graph, _ = check_pass(graph, {}, simplify_algebra)
    assert ops(graph) == ["mul", "add", "div", "mul", "exp"]
    assert graph.nodes[-1].operands[0] is x


def test_view_transpose_and_negation_chains_collapse():
    b = GraphBuilder()
    x = b.input("x", 2, 3, 4)
    flat = b("view", b("view", b("view", x, size=(6, 4)), size=(24,)), size=(4, 6))
    cancel = b("transpose", b("transpose", x, dim0=0, dim1=2), dim0=2, dim1=0)
    rotate = b("permute", b("transpose", x, dim0=0, dim1=1), dims=(2, 0, 1))
    neg = b("neg", b("neg", b("neg", x)))
    graph = b.returns(b("exp", flat), b("exp", cancel), b("exp", rotate), neg)
    graph, _ = check_pass(graph, {}, simplify_algebra)
    assert ops(graph) == ["view", "permute", "neg", "exp", "exp", "exp"]
    assert graph.nodes[0].operands[0] is x and graph.nodes[1].attrs == {"dims": (2, 1, 0)}
    assert graph.nodes[4].operands[0] is x and graph.outputs[3] is graph.nodes[2].output


def test_algebraic_simplification_on_a_traced_function():
    def fn(x):
        y = x.transpose(0, 1).reshape(-1) * 1 + 0
        y = y.neg().neg()
        y = y.view(4, -1).view(-1).view(4, -1)
        return (y.t().t().t() / 1).exp()

    graph, params = traced(fn, ember.randn(3, 4))
    graph, _ = check_pass(graph, params, simplify_algebra, bindings=[None, {"N": 5}])
    assert ops(graph) == ["transpose", "clone", "view", "transpose", "exp"]


# ----- constant folding -------------------------------------------------------------------------------------
def test_folding_constants_and_parameter_subgraphs():
    b = GraphBuilder()
    x = b.input("x", 2, 3)
    w = ember.randn(4, 3)
    weight, scale = b.param("fc.weight", w), b.param("scale", ember.randn(4))
    table = b("add", b.const(ember.arange(3.0)), b.const(ember.ones(3)))
    wt = b("mul", b("transpose", weight, dim0=0, dim1=1), b("exp", scale))
    graph = b.returns(b("matmul", b("add", x, table), wt))
    before = {k: v.numpy().copy() for k, v in b.params.items()}
    graph, params = check_pass(graph, b.params, fold_constants)
    assert ops(graph) == ["add", "matmul"]
    assert [v.name for v in graph.params] == ["fc.weight.folded"] and list(params) == ["fc.weight.folded"]
    assert len(graph.constants) == 1
    np.testing.assert_allclose(params["fc.weight.folded"].numpy(), (w.t() * b.params["scale"].exp()).numpy())
    for name, data in before.items():  # the bound tensors are never written
        np.testing.assert_array_equal(b.params[name].numpy(), data)


def test_folding_skips_inputs_outputs_randomness_and_materialising_broadcasts():
    b = GraphBuilder()
    x = b.input("x", 64, 64)
    bias = b.param("bias", ember.randn(64))
    big = b("expand", bias, size=(64, 64))
    assert MATERIALIZE_LIMIT < 64 * 64
    noise = b("empty", (64,), dtype=ember.float32)
    graph = b.returns(b("add", x, big), b("mul", noise, 0.0), b("neg", bias))
    graph, params = check_pass(graph, b.params, fold_constants)
    assert ops(graph) == ["expand", "empty", "add", "mul", "neg"]
    assert list(params) == ["bias"] and params["bias"] is b.params["bias"]


def test_folded_views_own_their_memory():
    b = GraphBuilder()
    x = b.input("x", 2, 3)
    w = b.param("w", ember.randn(3))
    graph = b.returns(b("mul", x, b("view", w, size=(1, 3))))
    graph, params = check_pass(graph, b.params, fold_constants)
    folded = params["w.folded"]
    assert folded._base is None and folded._storage is not b.params["w"]._storage


def test_derived_names_are_fresh():
    b = GraphBuilder()
    b.param("w", ember.randn(1))
    b.param("w.folded", ember.randn(1))
    assert derived_name(b.graph, "w") == "w.folded2"
    assert derived_name(b.graph, "w.folded") == "w.folded2"
    assert derived_name(b.graph, "v.folded7") == "v.folded"


def test_folding_a_traced_batchnorm_leaves_one_parameter_per_step():
    bn = nn.BatchNorm2d(3).eval()
    bn.running_var.uniform_(0.5, 2.0)
    graph, params = traced(bn, ember.randn(2, 3, 4, 4))
    graph, params = check_pass(graph, params, fold_constants, bindings=[None, {"N": 5}])
    assert ops(graph) == ["sub", "mul", "mul", "add"]
    assert list(params) == ["running_mean.folded", "running_var.folded", "weight.folded", "bias.folded"]
    expected = (bn.running_var + bn.eps).rsqrt().reshape(1, 3, 1, 1)
    np.testing.assert_allclose(params["running_var.folded"].numpy(), expected.numpy(), rtol=1e-6)


@pytest.mark.parametrize("dtype", [ember.float32, ember.float64])
def test_folding_computes_in_the_graph_dtype(dtype):
    b = GraphBuilder()
    x = b.input("x", 3, dtype=dtype)
    c = b.const(ember.tensor([0.1, 0.2, 0.3], dtype=dtype))
    graph = b.returns(b("mul", x, b("sqrt", c)))
    graph, _ = check_pass(graph, {}, fold_constants)
    assert graph.constants[0].dtype is dtype and ops(graph) == ["mul"]
