"""The whole pipeline (``optimize``): golden IR text, ``EMBER_DEBUG=3``, untouched module tensors, and optimised
graphs that still equal eager execution on real models at the traced batch and at another."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember import nn
from ember.jit import passes
from ember.jit.passes import FUSED, optimize
from ember.jit.verifier import GraphError

from .graph_builder import ops

GOLDEN = Path(__file__).parent / "golden"


class SmallNet(nn.Module):
    """Conv-BN-ReLU, max pool, Linear-BN1d, a hand-written tanh GELU, Linear: every pass has work here."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4 * 4 * 4, 8)
        self.bn1 = nn.BatchNorm1d(8)
        self.drop = nn.Dropout(0.1)
        self.head = nn.Linear(8, 2)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn(self.conv(x))), 2)
        h = self.bn1(self.fc(x.reshape(x.shape[0], -1)))
        h = 0.5 * h * (1 + ember.tanh(0.7978845608 * (h + 0.044715 * h * h * h)))
        return self.head(self.drop(h))


def small_net() -> SmallNet:
    ember.manual_seed(0)
    model = SmallNet()
    for bn in (model.bn, model.bn1):
        bn.running_mean.uniform_(-1.0, 1.0)
        bn.running_var.uniform_(0.5, 2.0)
    return model.eval()


def check_golden(name: str, text: str) -> None:
    """Compare with ``golden/<name>.txt``; ``EMBER_UPDATE_GOLDEN=1`` rewrites the file instead."""
    path = GOLDEN / f"{name}.txt"
    if os.environ.get("EMBER_UPDATE_GOLDEN") == "1":
        path.write_text(text + "\n")
    assert text + "\n" == path.read_text(), f"the printed graph differs from {path}"


def test_golden_ir_before_and_after_the_pipeline():
    model, x = small_net(), ember.randn(2, 3, 8, 8)
    before = ember.jit.trace(model, x, optimize=False)
    after = ember.jit.trace(model, x)
    check_golden("small_net_traced", str(before.graph))
    check_golden("small_net_optimized", str(after.graph))
    assert str(ember.jit.trace(small_net(), ember.randn(5, 3, 8, 8)).graph) == str(after.graph)


def test_the_optimised_graph_equals_eager_and_the_module_is_untouched():
    model = small_net()
    state = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    tm = ember.jit.trace(model, ember.randn(2, 3, 8, 8))
    assert ops(tm.graph) == ["convolution", "relu", "max_pool", "view", "linear", FUSED, "linear"]
    for batch in (2, 5):
        x = ember.randn(batch, 3, 8, 8)
        np.testing.assert_allclose(tm(x).numpy(), model(x).detach().numpy(), rtol=1e-5, atol=1e-5)
    for name, data in model.state_dict().items():
        np.testing.assert_array_equal(data.numpy(), state[name], err_msg=name)
    assert tm.params["head.weight"] is model.head.weight
    assert set(tm.params) == {v.name for v in tm.graph.params}


def test_ember_debug_3_prints_the_graph_after_each_pass(monkeypatch, capsys):
    monkeypatch.setenv("EMBER_DEBUG", "3")
    tm = ember.jit.trace(small_net(), ember.randn(2, 3, 8, 8))
    err = capsys.readouterr().err
    headers = [line for line in err.splitlines() if line.startswith("=== ember.jit pass: ")]
    assert headers == ["=== ember.jit pass: input ==="] + [f"=== ember.jit pass: {name} ===" for name, *_ in
                                                          passes.PIPELINE]
    assert err.rstrip().endswith(str(tm.graph))
    monkeypatch.setenv("EMBER_DEBUG", "2")
    ember.jit.trace(small_net(), ember.randn(2, 3, 8, 8))
    assert capsys.readouterr().err == ""


def test_a_pass_that_breaks_the_graph_is_named(monkeypatch):
    def drop_the_first_node(graph):
        graph.nodes.pop(0)
        return graph

    monkeypatch.setattr(passes, "PIPELINE", [("broken", drop_the_first_node, False)])
    tm = ember.jit.trace(small_net(), ember.randn(2, 3, 8, 8), optimize=False)
    with pytest.raises(GraphError, match=r"after the graph pass 'broken': node \d+ \(sub\): reads .* before"):
        optimize(tm.graph, tm.params)


class ResidualBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(4, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4)
        self.c2, self.b2 = nn.Conv2d(4, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4)
        self.pool, self.fc = nn.AdaptiveAvgPool2d(1), nn.Linear(4, 3)

    def forward(self, x):
        y = self.b2(self.c2(F.relu(self.b1(self.c1(x)))))
        return self.fc(self.pool(F.relu(x + y)).flatten(1))


class Attention(nn.Module):
    def __init__(self, dim=8, heads=2):
        super().__init__()
        self.heads = heads
        self.embed, self.norm = nn.Embedding(11, dim), nn.LayerNorm(dim)
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, tokens):
        x = self.embed(tokens)
        b, t, d = x.shape
        q, k, v = self.qkv(self.norm(x)).chunk(3, dim=-1)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        attn = (q @ k.transpose(-2, -1) * (d // self.heads) ** -0.5).softmax(-1)
        x = x + self.proj((attn @ v).transpose(1, 2).reshape(b, t, d))
        return (x + self.mlp(self.norm(x))).mean(1)


def _models():
    ember.manual_seed(1)
    return [
        ("mlp", nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3)), lambda n: ember.randn(n, 6)),
        ("residual", ResidualBlock(), lambda n: ember.randn(n, 4, 6, 6)),
        ("attention", Attention(), lambda n: ember.randint(0, 11, (n, 5))),
        ("encoder", nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, batch_first=True),
         lambda n: ember.randn(n, 5, 8)),
    ]


@pytest.mark.parametrize("name, model, make", _models(), ids=[m[0] for m in _models()])
def test_optimised_models_equal_eager_at_two_batch_sizes(name, model, make):
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.running_mean.uniform_(-1.0, 1.0)
            module.running_var.uniform_(0.5, 2.0)
    model.eval()
    tm = ember.jit.trace(model, make(3))
    unoptimised = ember.jit.trace(model, make(3), optimize=False)
    # The MLP is three nodes already; every other model has something to fold, simplify or fuse.
    assert len(tm.graph.nodes) < len(unoptimised.graph.nodes) or name == "mlp"
    for batch in (3, 6):
        x = make(batch)
        np.testing.assert_allclose(tm(x).numpy(), model(x).detach().numpy(), rtol=1e-5, atol=1e-5)
