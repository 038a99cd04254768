"""The models of issue 5 trace, and their graphs (run by the reference interpreter) equal eager execution and
PyTorch at the traced batch and at others, with and without the passes."""

from __future__ import annotations

import numpy as np
import pytest

import ember
from ember.jit import TensorSpec
from ember.jit.symbolic import SymExpr
from ember.tensor.devices import device
from ember.tensor.dtypes import ALL_DTYPES

from .models import MODELS, ModelCase, randomise_batchnorm, transformer_encoder

torch = pytest.importorskip("torch")

# (batch, length) of the traced example and of the calls; the length only matters to sequence models.
TRACED = (8, 12)
CALLS = [(8, 12), (3, 12), (1, 12), (33, 12)]
SEQUENCE_CALLS = [(8, 12), (3, 5), (1, 1), (33, 17), (2, 40)]


def _build(case: ModelCase):
    ember.manual_seed(0)
    model = case.build(ember)
    randomise_batchnorm(model, ember)
    return model.eval()


def _close(got: ember.Tensor, expected: np.ndarray, tol: float = 1e-5) -> None:
    assert tuple(got.shape) == expected.shape
    np.testing.assert_allclose(got.numpy(), expected, rtol=tol, atol=tol)


@pytest.fixture(scope="module", params=MODELS, ids=lambda case: case.name)
def case(request):
    return request.param


@pytest.mark.parametrize("optimize", [False, True], ids=["plain", "optimized"])
def test_graph_equals_eager_at_the_traced_and_other_sizes(case, optimize):
    model = _build(case)
    traced = ember.jit.trace(model, case.make(ember, *TRACED), dynamic_dims=case.dynamic_dims, optimize=optimize)
    for batch, length in SEQUENCE_CALLS if case.dynamic_dims else CALLS:
        x = case.make(ember, batch, length)
        with ember.no_grad():
            expected = model(x).numpy()
        _close(traced(x), expected)


def test_graph_equals_pytorch_with_the_same_weights(case):
    model = _build(case)
    twin = case.build(torch)
    twin.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in model.state_dict().items()})
    twin.eval()
    traced = ember.jit.trace(model, case.make(ember, *TRACED), dynamic_dims=case.dynamic_dims)
    for batch, length in [(3, 7), (16, 12)]:
        with torch.no_grad():
            expected = twin(case.make(torch, batch, length)).numpy()
        _close(traced(case.make(ember, batch, length)), expected, tol=1e-4)


def test_every_value_is_typed_and_no_node_records_a_device(case):
    traced = ember.jit.trace(_build(case), case.make(ember, *TRACED), dynamic_dims=case.dynamic_dims,
                             optimize=False)

    def leaves(x):
        if isinstance(x, list | tuple):
            for v in x:
                yield from leaves(v)
        elif isinstance(x, dict):
            for v in x.values():
                yield from leaves(v)
        else:
            yield x

    for node in traced.graph.nodes:
        for item in leaves([node.operands, node.attrs]):
            assert not isinstance(item, device), f"{node.op} records the device {item}"
            assert not (isinstance(item, str) and item.startswith(("cpu", "cuda"))), f"{node.op} records {item!r}"
    for value in traced.graph.values():
        assert value.dtype in ALL_DTYPES
        assert all(isinstance(d, SymExpr) or type(d) is int for d in value.shape), value


def test_signatures_and_printed_graph_show_the_symbols(case):
    traced = ember.jit.trace(_build(case), case.make(ember, *TRACED), dynamic_dims=case.dynamic_dims)
    (inp,), (out,) = traced.inputs, traced.outputs
    assert isinstance(inp, TensorSpec) and isinstance(out, TensorSpec)
    batch = "B" if case.dynamic_dims else "N"
    assert inp.shape[0] == batch and out.shape[0] == batch and out.name == "output"
    if case.dynamic_dims:
        assert inp.shape[1] == "T"
    text = str(traced.graph)
    assert text.startswith(f"graph(%{inp.name}: {str(inp).split(': ')[1]}")
    assert text.splitlines()[-1].startswith("  return ")
    assert f"[{batch}," in text and str(traced.graph) == text


def test_cnn_graph_is_the_primitive_ops_with_a_symbolic_batch():
    traced = ember.jit.trace(_build(MODELS[1]), ember.randn(8, 3, 32, 32), optimize=False)
    assert [n.op for n in traced.graph.nodes] == ["convolution", "relu", "max_pool", "convolution", "relu",
                                                  "max_pool", "view", "linear", "relu", "linear"]
    view = traced.graph.nodes[6]
    assert str(view.outputs[0].type_str) == "f32[N,2048]" and "size=(N, -1)" in str(traced.graph)
    assert traced.inputs == [TensorSpec("x", ember.float32, ("N", 3, 32, 32))]
    assert [p.name for p in traced.graph.params] == ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias",
                                                     "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]


def test_attention_keeps_batch_and_length_symbolic_through_the_head_reshapes():
    traced = ember.jit.trace(_build(MODELS[3]), MODELS[3].make(ember, 8, 12), dynamic_dims={0: {0: "B", 1: "T"}},
                             optimize=False)
    text = str(traced.graph)
    assert "f32[B,4,T,T]" in text and "i64[B*T]" in text and "size=(B, T, 4, 8)" in text
    assert not any(12 in value.shape for value in traced.graph.values()), "the length was baked in"
    assert traced.graph.symbols == {"B": {"hint": 8, "min": 1, "max": None}, "T": {"hint": 12, "min": 1, "max": None}}


def test_transformer_encoder_stack_traces_with_dynamic_batch_and_length():
    ember.manual_seed(0)
    model = transformer_encoder(ember).eval()
    traced = ember.jit.trace(model, ember.randn(4, 10, 32), dynamic_dims={0: {0: "B", 1: "T"}})
    twin = transformer_encoder(torch).eval()
    twin.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in model.state_dict().items()})
    for batch, length in [(4, 10), (2, 3), (5, 17)]:
        x = np.random.default_rng(length).standard_normal((batch, length, 32)).astype(np.float32)
        with ember.no_grad():
            _close(traced(ember.tensor(x)), model(ember.tensor(x)).numpy())
        with torch.no_grad():
            _close(traced(ember.tensor(x)), twin(torch.from_numpy(x)).numpy(), tol=1e-4)


def test_a_model_traced_with_a_static_length_refuses_another_length():
    case = MODELS[4]
    traced = ember.jit.trace(_build(case), case.make(ember, 8, 12))
    assert traced.inputs[0].shape == ("N", 12, 32)
    with pytest.raises(RuntimeError, match=r"input 'src' must have shape \[N,12,32\], got \[2, 5, 32\] \(dim 1 is "
                                           r"static: 12\)"):
        traced(case.make(ember, 2, 5))
