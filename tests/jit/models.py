"""The models of issue 5's "Show it", written once against a torch-like library so that the same code builds the
ember model and its PyTorch twin (``build(ember)``, ``build(torch)``). tools/bench_trace.py times them too."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


def mlp(lib: Any) -> Any:
    nn = lib.nn
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))


def cnn(lib: Any) -> Any:
    """Conv(3,16)-pool-Conv(16,32)-pool-Linear(2048,128)-Linear(128,10) on 3x32x32 images."""
    nn, F = lib.nn, lib.nn.functional

    class CNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 16, 3, padding=1)
            self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
            self.fc1 = nn.Linear(2048, 128)
            self.fc2 = nn.Linear(128, 10)

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.conv1(x)), 2)
            x = F.max_pool2d(F.relu(self.conv2(x)), 2)
            x = x.view(x.size(0), -1)
            return self.fc2(F.relu(self.fc1(x)))

    return CNN()


def residual(lib: Any) -> Any:
    """A stem convolution, one residual block with BatchNorm, adaptive average pooling and a classifier."""
    nn, F = lib.nn, lib.nn.functional

    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 16, 3, padding=1, bias=False)
            self.bn0 = nn.BatchNorm2d(16)
            self.conv1 = nn.Conv2d(16, 16, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(16)
            self.conv2 = nn.Conv2d(16, 16, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(16)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(16, 10)

        def forward(self, x):
            x = F.relu(self.bn0(self.stem(x)))
            y = F.relu(self.bn1(self.conv1(x)))
            y = self.bn2(self.conv2(y))
            x = F.relu(x + y)
            return self.fc(lib.flatten(self.pool(x), 1))

    return Residual()


def attention(lib: Any) -> Any:
    """Embedding, LayerNorm, one Linear for q/k/v split with chunk, heads by view/transpose on sizes read from the
    input, scaled q @ k^T, softmax, @ v, a GELU MLP, residuals, and the mean over tokens."""
    nn = lib.nn

    class Attention(nn.Module):
        def __init__(self, vocab: int = 100, dim: int = 32, heads: int = 4):
            super().__init__()
            self.heads = heads
            self.embed = nn.Embedding(vocab, dim)
            self.norm1 = nn.LayerNorm(dim)
            self.qkv = nn.Linear(dim, 3 * dim)
            self.proj = nn.Linear(dim, dim)
            self.norm2 = nn.LayerNorm(dim)
            self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

        def forward(self, tokens):
            x = self.embed(tokens)
            B, T, C = x.shape
            q, k, v = self.qkv(self.norm1(x)).chunk(3, dim=-1)
            head_dim = C // self.heads
            q = q.view(B, T, self.heads, head_dim).transpose(1, 2)
            k = k.reshape(x.size(0), x.size(1), self.heads, -1).transpose(1, 2)
            v = v.view(B, -1, self.heads, head_dim).transpose(1, 2)
            scores = (q @ k.transpose(-2, -1)) * head_dim ** -0.5
            y = scores.softmax(dim=-1) @ v
            y = y.transpose(1, 2).reshape(B, T, C)
            x = x + self.proj(y)
            x = x + self.mlp(self.norm2(x))
            return x.mean(dim=1)

    return Attention()


def transformer_layer(lib: Any) -> Any:
    return lib.nn.TransformerEncoderLayer(d_model=32, nhead=4, dim_feedforward=64, batch_first=True)


def transformer_encoder(lib: Any) -> Any:
    nn = lib.nn
    return nn.TransformerEncoder(nn.TransformerEncoderLayer(32, 4, 64, batch_first=True), num_layers=2)


@dataclass
class ModelCase:
    """A model, the example-input maker ``make(lib, batch, length) -> tensor`` and its dynamic dims."""

    name: str
    build: Callable[[Any], Any]
    make: Callable[[Any, int, int], Any]
    dynamic_dims: dict | None = None


def _floats(*shape: int) -> Callable[[Any, int, int], Any]:
    def make(lib: Any, batch: int, length: int) -> Any:
        rng = np.random.default_rng(batch * 100 + length)
        return lib.tensor(rng.standard_normal((batch, *shape)).astype(np.float32))

    return make


def _sequence(lib: Any, batch: int, length: int) -> Any:
    return lib.tensor(np.random.default_rng(batch * 100 + length).standard_normal((batch, length, 32)),
                      dtype=lib.float32)


def _tokens(lib: Any, batch: int, length: int) -> Any:
    return lib.tensor(np.random.default_rng(batch * 100 + length).integers(0, 100, (batch, length)))


SEQUENCE_DIMS = {0: {0: "B", 1: "T"}}

MODELS = [
    ModelCase("mlp", mlp, _floats(784)),
    ModelCase("cnn", cnn, _floats(3, 32, 32)),
    ModelCase("residual", residual, _floats(3, 16, 16)),
    ModelCase("attention", attention, _tokens, SEQUENCE_DIMS),
    ModelCase("transformer_layer", transformer_layer, _sequence, SEQUENCE_DIMS),
]


def randomise_batchnorm(model: Any, lib: Any) -> None:
    """Give every BatchNorm non-trivial statistics and affine parameters, so that eval mode exercises them."""
    rng = np.random.default_rng(1)
    with lib.no_grad():
        for module in model.modules():
            if isinstance(module, lib.nn.BatchNorm2d):
                n = module.num_features
                module.running_mean.copy_(lib.tensor(rng.standard_normal(n).astype(np.float32)))
                module.running_var.copy_(lib.tensor(rng.uniform(0.5, 2.0, n).astype(np.float32)))
                module.weight.copy_(lib.tensor(rng.uniform(0.5, 1.5, n).astype(np.float32)))
                module.bias.copy_(lib.tensor(rng.standard_normal(n).astype(np.float32)))
