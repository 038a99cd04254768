"""BatchNorm folding into the convolution, linear or matmul before it (after constant folding, as in optimize)."""

from __future__ import annotations

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember import nn
from ember.jit.passes import fold_batchnorm, fold_constants

from .graph_builder import GraphBuilder, check_pass, ops


def randomize_statistics(model: nn.Module) -> nn.Module:
    """Running statistics and affine parameters away from their initial 0/1, so a wrong fold shows."""
    ember.manual_seed(0)
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.running_mean.uniform_(-1.0, 1.0)
            module.running_var.uniform_(0.5, 2.0)
            with ember.no_grad():
                module.weight.uniform_(0.5, 2.0)
                module.bias.uniform_(-1.0, 1.0)
    return model.eval()


def fold(model_or_fn, example, *, batch: int = 5):
    tm = ember.jit.trace(model_or_fn, example, optimize=False)
    graph, params = fold_constants(tm.graph, tm.params)
    return check_pass(graph, params, fold_batchnorm, bindings=[None, {"N": batch}])


@pytest.mark.parametrize("bias", [True, False])
def test_conv_batchnorm_folds_into_the_convolution(bias):
    model = randomize_statistics(nn.Sequential(nn.Conv2d(3, 6, 3, padding=1, bias=bias), nn.BatchNorm2d(6),
                                               nn.ReLU()))
    graph, params = fold(model, ember.randn(2, 3, 6, 6))
    assert ops(graph) == ["convolution", "relu"]
    assert [v.name for v in graph.params] == ["0.weight.folded", "0.bias.folded"] and list(params) == [
        "0.weight.folded", "0.bias.folded"]
    conv, bn = model[0], model[1]
    scale = bn.weight / (bn.running_var + bn.eps).sqrt()
    np.testing.assert_allclose(params["0.weight.folded"].numpy(),
                               (conv.weight * scale.reshape(6, 1, 1, 1)).detach().numpy(), rtol=1e-6)


def test_linear_batchnorm1d_folds_into_the_linear():
    model = randomize_statistics(nn.Sequential(nn.Linear(8, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 2)))
    graph, params = fold(model, ember.randn(4, 8))
    assert ops(graph) == ["linear", "relu", "linear"]
    assert list(params) == ["3.weight", "3.bias", "0.weight.folded", "0.bias.folded"]
    assert params["3.weight"] is model[3].weight


def test_grouped_and_1d_convolutions_fold():
    model = randomize_statistics(nn.Sequential(nn.Conv1d(4, 8, 3, groups=2), nn.BatchNorm1d(8)))
    graph, _ = fold(model, ember.randn(2, 4, 7))
    assert ops(graph) == ["convolution"]


def test_matmul_with_a_parameter_folds_and_keeps_one_bias_add():
    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.w, self.b = nn.Parameter(ember.randn(6, 5)), nn.Parameter(ember.randn(6))
            self.bn = nn.BatchNorm1d(6)

        def forward(self, x):
            return self.bn(x @ self.w.t() + self.b)

    graph, params = fold(randomize_statistics(Functional()), ember.randn(3, 5))
    assert ops(graph) == ["matmul", "add"]
    assert list(params) == ["w.folded", "b.folded"]
    assert graph.nodes[0].operands[1].name == "w.folded" and tuple(params["w.folded"].shape) == (5, 6)


def test_any_per_channel_affine_chain_folds():
    b = GraphBuilder()
    x = b.input("x", 2, 3, 4, 4)
    weight, bias = b.param("c.weight", ember.randn(5, 3, 1, 1)), b.param("c.bias", ember.randn(5))
    shift = b.param("shift", ember.randn(5, 1, 1))
    scale = b.const(ember.tensor([0.5, 2.0, -1.0, 3.0, 1.5]).reshape(1, 5, 1, 1))
    y = b("convolution", x, weight, bias, stride=(1, 1), padding=((0, 0), (0, 0)), dilation=(1, 1), groups=1)
    y = b("sub", 2.0, b("add", shift, b("div", b("mul", scale, b("sub", y, shift, alpha=0.5)), 4), alpha=3))
    graph = b.returns(b("exp", b("mul", y, 0.1)))
    graph, params = check_pass(graph, b.params, fold_batchnorm)
    assert ops(graph) == ["convolution", "exp"]
    assert list(params) == ["c.weight.folded", "c.bias.folded"]


def test_chains_that_are_not_per_output_channel_stay():
    b = GraphBuilder()
    x = b.input("x", 2, 3, 4, 4)
    weight = b.param("c.weight", ember.randn(5, 3, 1, 1))
    spatial = b.param("spatial", ember.randn(4, 1))  # broadcasts along H, not the channels
    conv = dict(stride=(1, 1), padding=((0, 0), (0, 0)), dilation=(1, 1), groups=1)
    along_h = b("mul", b("convolution", x, weight, None, **conv), spatial)
    twice = b("convolution", x, weight, None, **conv)  # read by two nodes
    divided = b("div", 1.0, b("convolution", x, weight, None, **conv))  # 1 / x is not affine
    returned = b("convolution", x, weight, None, **conv)
    graph = b.returns(along_h, b("mul", twice, 2.0), b("exp", twice), divided, returned,
                      b("mul", returned, 2.0))
    graph, _ = check_pass(graph, b.params, fold_batchnorm)
    assert ops(graph) == ["convolution", "mul", "convolution", "convolution", "div", "convolution", "mul", "exp",
                          "mul"]


def test_batchnorm_over_a_dim_other_than_the_linear_outputs_stays():
    # BatchNorm1d on (N, C, L) normalises dim 1; the linear's outputs are dim 2.
    model = randomize_statistics(nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(3)))
    graph, _ = fold(model, ember.randn(2, 3, 5))
    assert ops(graph) == ["linear", "sub", "mul", "mul", "add"]


def test_training_mode_batchnorm_is_left_alone():
    model = nn.Sequential(nn.Conv2d(2, 3, 1), nn.BatchNorm2d(3))
    with pytest.raises(ember.jit.TracingError):
        ember.jit.trace(model.train(), ember.randn(2, 2, 3, 3), optimize=False)


def test_functional_batch_norm_on_a_half_precision_conv():
    weight, mean, var = ember.randn(4, 2, 3, 3), ember.randn(4), ember.rand(4) + 0.5

    def fn(x):
        y = F.conv2d(x, weight.half())
        return F.batch_norm(y, mean.half(), var.half(), training=False)

    graph, params = fold(fn, ember.randn(2, 2, 5, 5).half())
    assert ops(graph) == ["convolution"] and graph.constants[0].dtype is ember.float16
