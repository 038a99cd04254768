"""ember.jit.trace's interface: inputs and outputs of any structure, the call-signature checks, dynamic_dims and
check_inputs."""

from __future__ import annotations

from collections import namedtuple

import numpy as np
import pytest

import ember
from ember import nn
from ember.jit import TensorSpec, TracedModule, TracingError


def _same(got, expected) -> None:
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-6, atol=1e-6)


# ----- structures ---------------------------------------------------------------------------------------------
def test_plain_function_with_several_inputs_and_nested_outputs():
    def step(x, pair, scale=2.0):
        a, b = pair
        return x + a, [x * b, a - b], {"mean": (x * scale).mean(1), "first": b[:, :1]}

    x, a, b = ember.randn(4, 3), ember.randn(4, 3), ember.randn(4, 3)
    traced = ember.jit.trace(step, (x, (a, b)))
    assert isinstance(traced, TracedModule) and "TracedModule(step: (" in repr(traced)
    assert [s.name for s in traced.inputs] == ["x", "pair.0", "pair.1"]
    assert [s.name for s in traced.outputs] == ["output.0", "output.1.0", "output.1.1", "output.2.mean",
                                                "output.2.first"]
    assert traced.outputs[3] == TensorSpec("output.2.mean", ember.float32, ("N",))
    x, a, b = ember.randn(7, 3), ember.randn(7, 3), ember.randn(7, 3)
    got, expected = traced(x, (a, b)), step(x, (a, b))
    assert type(got) is tuple and type(got[1]) is list and list(got[2]) == ["mean", "first"]
    for g, e in zip([got[0], *got[1], *got[2].values()], [expected[0], *expected[1], *expected[2].values()],
                    strict=True):
        _same(g, e)


def test_dict_input_and_namedtuple_output():
    Result = namedtuple("Result", ["logits", "hidden"])

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed, self.head = nn.Embedding(10, 4), nn.Linear(4, 2)

        def forward(self, batch):
            hidden = self.embed(batch["ids"]) * batch["mask"].unsqueeze(-1)
            return Result(self.head(hidden).sum(1), hidden)

    ember.manual_seed(0)
    model = Model().eval()
    batch = {"ids": ember.randint(0, 10, (3, 5)), "mask": ember.ones(3, 5)}
    traced = ember.jit.trace(model, batch, dynamic_dims={"batch.ids": {0: "B", 1: "T"}, "batch.mask": [0, 1]},
                             optimize=False)
    assert [str(s) for s in traced.inputs] == ["batch.ids: i64[B,T]", "batch.mask: f32[N,S1]"]
    other = {"ids": ember.randint(0, 10, (2, 8)), "mask": (ember.rand(2, 8) > 0.5).float()}
    got = traced(other)
    assert isinstance(got, Result) and [s.name for s in traced.outputs] == ["output.logits", "output.hidden"]
    _same(got.logits, model(other).logits)


def test_an_output_may_be_an_input_a_parameter_or_a_constant():
    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(ember.ones(3))

        def forward(self, x):
            return x, self.scale, ember.tensor([1.0, 2.0])

    traced = ember.jit.trace(Model(), ember.randn(4, 3))
    x = ember.randn(2, 3)
    got = traced(x)
    assert got[0] is x and got[1] is traced.params["scale"]
    np.testing.assert_array_equal(got[2].numpy(), [1.0, 2.0])


def test_parameters_are_bound_by_name_and_shared_with_the_module():
    model = nn.Linear(3, 2)
    traced = ember.jit.trace(model, ember.randn(4, 3), optimize=False)
    assert traced.params == {"weight": model.weight, "bias": model.bias}
    assert [str(v.type_str) for v in traced.graph.params] == ["f32[2,3]", "f32[2]"]
    with ember.no_grad():
        model.weight.mul_(2)
    x = ember.randn(5, 3)
    _same(traced(x), model(x))


def test_constants_are_frozen_at_trace_time():
    offset = ember.ones(3)
    traced = ember.jit.trace(lambda x: x + offset, ember.zeros(4, 3))
    offset.add_(1)
    np.testing.assert_array_equal(traced(ember.zeros(2, 3)).numpy(), np.ones((2, 3)))


def test_non_tensor_arguments_are_fixed_and_named_in_structure_errors():
    traced = ember.jit.trace(lambda x, power: x ** power, (ember.randn(4, 3), 2))
    _same(traced(ember.ones(2, 3) * 3, 2), ember.full((2, 3), 9.0))
    with pytest.raises(TypeError, match=r"traced with arguments structured as \(Tensor, 2\), got \(Tensor, 3\)"):
        traced(ember.ones(2, 3), 3)


# ----- the call signature -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pair():
    return ember.jit.trace(lambda x, y: x @ y.t(), (ember.randn(4, 3), ember.randn(4, 3)))


def test_call_signature_errors_name_the_input(pair):
    assert [str(s) for s in pair.inputs] == ["x: f32[N,3]", "y: f32[N,3]"]
    cases = [
        ((ember.randn(5),), TypeError, r"takes 2 tensor inputs \(x, y\), got 1"),
        ((ember.randn(5, 3), ember.randn(5, 3), ember.randn(5, 3)), TypeError, "takes 2 tensor inputs"),
        ((ember.randn(5, 3), [ember.randn(5, 3)]), TypeError, r"structured as \(Tensor, Tensor\), got \(Tensor, "
                                                              r"\[Tensor\]\)"),
        ((ember.randn(5, 3), np.ones((5, 3))), TypeError, "takes 2 tensor inputs"),
        ((ember.randn(5, 3), ember.randn(5, 3, dtype=ember.float64)), TypeError,
         r"input 'y' must have dtype ember.float32, got ember.float64"),
        ((ember.randn(5), ember.randn(5, 3)), RuntimeError, r"input 'x' must have 2 dims \[N,3\], got 1 dims \[5\]"),
        ((ember.randn(5, 3), ember.randn(5, 4)), RuntimeError,
         r"input 'y' must have shape \[N,3\], got \[5, 4\] \(dim 1 is static: 3\)"),
        ((ember.randn(5, 3), ember.randn(6, 3)), RuntimeError,
         r"input 'y' dim 0 is the symbolic size N, already bound to 5 by an earlier input, but got 6"),
    ]
    for args, error, match in cases:
        with pytest.raises(error, match=match):
            pair(*args)
    assert tuple(pair(ember.randn(6, 3), ember.randn(6, 3)).shape) == (6, 6)


def test_inputs_with_different_batch_sizes_get_different_symbols():
    traced = ember.jit.trace(lambda a, b, c: (a.sum(0) + b.sum(0), c * 2),
                             (ember.randn(4, 3), ember.randn(6, 3), ember.randn(4, 2)))
    assert [s.shape for s in traced.inputs] == [("N", 3), ("N1", 3), ("N", 2)]
    got = traced(ember.ones(2, 3), ember.ones(9, 3), ember.ones(2, 2))
    np.testing.assert_array_equal(got[0].numpy(), np.full(3, 11.0))


def test_a_batch_of_one_stays_static_and_the_error_says_why():
    traced = ember.jit.trace(nn.Linear(3, 2), ember.randn(1, 3))
    assert traced.inputs[0].shape == (1, 3)
    with pytest.raises(RuntimeError, match="dynamic dims traced at size 0 or 1 stay static"):
        traced(ember.randn(4, 3))


# ----- dynamic_dims -------------------------------------------------------------------------------------------
def _shapes(fn, example, dynamic_dims):
    return [s.shape for s in ember.jit.trace(fn, example, dynamic_dims=dynamic_dims).inputs]


def test_dynamic_dims_forms():
    two = (ember.randn(4, 5, 6), ember.randn(4, 5))

    def f(a, b):
        return a.sum(2) + b

    assert _shapes(f, two, {}) == [(4, 5, 6), (4, 5)]
    assert _shapes(f, two, {0: [0, 1], 1: [0, 1]}) == [("N", "S1", 6), ("N", "S1")]
    assert _shapes(f, two, {"a": {0: "B", -2: "T"}, 1: {0: "B", 1: "T"}}) == [("B", "T", 6), ("B", "T")]
    assert _shapes(f, two, {"a": {1: "T"}, "b": {1: "T"}}) == [(4, "T", 6), (4, "T")]
    traced = ember.jit.trace(f, two, dynamic_dims={"a": {0: "B", 1: "T"}, "b": {0: "B", 1: "T"}})
    assert traced.graph.symbols["T"] == {"hint": 5, "min": 1, "max": None}
    a, b = ember.randn(2, 9, 6), ember.randn(2, 9)
    _same(traced(a, b), f(a, b))


def test_dynamic_dims_errors():
    x = ember.randn(4, 5)

    def f(x):
        return x * 2

    cases = [
        ([0], TypeError, "dynamic_dims must be None or a dict"),
        ({"y": [0]}, ValueError, r"names unknown inputs \['y'\]; the inputs are \['x'\]"),
        ({3: [0]}, ValueError, r"unknown inputs \[3\]"),
        ({0: 0}, TypeError, r"dynamic_dims\['x'\] must be a dict \{dim: symbol\} or a list of dims, got int"),
        ({0: [2]}, ValueError, "input 'x' has 2 dims, so 2 is not one of its dims"),
        ({0: {0: "2N"}}, ValueError, "a symbol name must be an identifier, got '2N'"),
        ({0: {0: "B", 1: "B"}}, ValueError, "input 'x' dim 1 is the symbol B, whose size is 4 in an earlier input, "
                                            "but it has size 5"),
    ]
    for dims, error, match in cases:
        with pytest.raises(error, match=match):
            ember.jit.trace(f, x, dynamic_dims=dims)
    with pytest.raises(ValueError, match=r"input 'x' dim 0 \(N\) has size 1 in the example; trace with a size of "
                                         "at least 2"):
        ember.jit.trace(f, ember.randn(1, 5), dynamic_dims={0: [0]})


def test_ops_made_from_dynamic_sizes_stay_symbolic():
    def f(x):
        n, t = x.shape[0], x.shape[1]
        causal = ember.ones(t, t, dtype=ember.bool).tril()
        scores = (x @ x.transpose(1, 2)).masked_fill(~causal, -1e9).softmax(-1) + ember.eye(t)
        ramp = ember.linspace(0, 1, t).view(1, -1, 1) * ember.arange(t, dtype=ember.float32).view(1, -1, 1)
        padded = nn.functional.pad(x, (0, 0, 0, 10 - t))[:, :t] + x[:, t - 1 : t] + x.select(1, t - 1).unsqueeze(1)
        return scores @ (x + ramp) + padded * ember.tensor(t) + ember.full((n, 1, 1), 2.0)

    traced = ember.jit.trace(f, ember.randn(2, 5, 3), dynamic_dims={0: {0: "B", 1: "T"}})
    for shape in [(2, 5, 3), (3, 8, 3), (1, 2, 3)]:
        x = ember.randn(*shape)
        np.testing.assert_allclose(traced(x).numpy(), f(x).numpy(), rtol=1e-5, atol=1e-5)


def test_size_arithmetic_stays_symbolic():
    def f(x):
        n, t, c = x.shape
        half = t // 2
        y = x[:, :half] + x[:, half : 2 * half].flip(1)
        y = y.reshape(n * half, c).view(-1, 2, c // 2)
        pad = ember.zeros(x.size(0) * half, 1, c // 2)
        return ember.cat([y, pad], dim=1).sum(-1) / x.shape[1] + ember.arange(t - half, dtype=ember.float32)[:1]

    traced = ember.jit.trace(f, ember.randn(4, 6, 8), dynamic_dims={0: {0: "N", 1: "T"}}, optimize=False)
    assert str(traced.graph.outputs[0].type_str) == "f32[N*(T//2),3]"
    for shape in [(4, 6, 8), (3, 7, 8), (1, 2, 8)]:
        x = ember.randn(*shape)
        _same(traced(x), f(x))


# ----- check_inputs -------------------------------------------------------------------------------------------
def _branchy(x):
    if x.shape[0] > 4:  # a Python branch on a size: taken as for the example
        return x * 2
    return x - 1


def test_check_inputs_passes_when_the_graph_agrees():
    traced = ember.jit.trace(_branchy, ember.randn(8, 3), check_inputs=[ember.randn(5, 3), (ember.randn(9, 3),)])
    _same(traced(ember.ones(6, 3)), ember.full((6, 3), 2.0))


def test_a_branch_on_a_size_is_guarded_and_check_inputs_reports_the_other_way():
    # The comparison made the trace assume N > 4; calls outside that range are refused, not run down the wrong branch.
    traced = ember.jit.trace(_branchy, ember.randn(8, 3))
    x = ember.randn(6, 3)
    np.testing.assert_allclose(traced(x).numpy(), (x * 2).numpy())
    with pytest.raises(RuntimeError, match=r"input 'x' dim 0 \(N\) must lie in \[5, inf\], got 2"):
        traced(ember.randn(2, 3))
    with pytest.raises(TracingError, match=r"check_inputs\[1\]: the traced graph cannot run these inputs, which "
                                           r"eager execution runs: input 'x' dim 0 \(N\) must lie in \[5, inf\]"):
        ember.jit.trace(_branchy, ember.randn(8, 3), check_inputs=[ember.randn(6, 3), ember.randn(2, 3)])


def test_check_inputs_reports_baked_sizes_and_unrolled_loops():
    def mean_by_hand(x):
        return x.sum(1) * (1.0 / x.shape[1])  # a float of a size: Python gives a plain number

    def unrolled(x):
        return sum(x[i] for i in range(x.shape[0]))

    with pytest.raises(TracingError, match=r"check_inputs\[0\]: output diverges"):
        ember.jit.trace(mean_by_hand, ember.randn(3, 4), dynamic_dims={0: [0, 1]}, check_inputs=[ember.randn(3, 7)])
    with pytest.raises(TracingError, match=r"check_inputs\[0\]: output diverges"):
        ember.jit.trace(unrolled, ember.randn(3, 4), check_inputs=[ember.randn(5, 4)])
    # x[2] in the unrolled loop made the trace assume N >= 3: a batch of 2 is refused, not run wrongly.
    with pytest.raises(TracingError, match=r"check_inputs\[0\]: the traced graph cannot run these inputs, which "
                                           r"eager execution runs: input 'x' dim 0 \(N\) must lie in \[3, inf\]"):
        ember.jit.trace(unrolled, ember.randn(3, 4), check_inputs=[ember.randn(2, 4)])


def test_check_inputs_reports_a_changed_number_of_outputs():
    def forward(x):
        return (x, x * 2) if x.shape[0] > 4 else (x,)

    # The branch made the trace assume N > 4: a batch of 3 is refused by the graph (check_inputs reports it).
    with pytest.raises(TracingError, match=r"check_inputs\[0\]: the traced graph cannot run these inputs, which "
                                           r"eager execution runs: input 'x' dim 0 \(N\) must lie in \[5, inf\]"):
        ember.jit.trace(forward, ember.randn(8, 3), check_inputs=[ember.randn(3, 3)])
