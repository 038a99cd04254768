"""Tracing never bakes silently: each way of leaving the graph raises TracingError naming the user's line."""

from __future__ import annotations

import numpy as np
import pytest

import ember
from ember import nn
from ember.jit import TracingError
from ember.jit.tracer import Tracer


def _refused(fn, example, match: str, line_offset: int = 1, **kwargs) -> TracingError:
    """Trace ``fn`` and check the TracingError: its message matches ``match`` and names this file at the line
    ``line_offset`` lines below the ``def`` of ``fn`` (its ``forward`` for a module)."""
    code = (fn.forward if isinstance(fn, nn.Module) else fn).__code__
    with pytest.raises(TracingError, match=match) as info:
        ember.jit.trace(fn, example, **kwargs)
    assert f"{__file__}:{code.co_firstlineno + line_offset} (" in str(info.value), str(info.value)
    assert Tracer._active is None  # the failed trace removed its hooks
    return info.value


@pytest.fixture
def x():
    return ember.randn(4, 3)


# ----- a traced tensor turned into a Python value -------------------------------------------------------------
def test_item(x):
    def forward(x):
        return x * x.sum().item()

    _refused(forward, x, r"converted by item\(\)")


def test_bool_of_an_if_on_a_tensor(x):
    def forward(x):
        if x.sum() > 0:
            return x
        return -x

    _refused(forward, x, r"converted by bool\(\) \(an if, while")


def test_int_and_float(x):
    def by_int(x):
        return x * int(x[0, 0])

    def by_float(x):
        return x * float(x.mean())

    _refused(by_int, x, r"converted by int\(\)")
    _refused(by_float, x, r"converted by float\(\)")


def test_tolist_numpy_and_array_conversion(x):
    def by_tolist(x):
        return x * len(x.tolist())

    def by_numpy(x):
        return x + float(x.numpy().sum())

    def by_asarray(x):
        return x + float(np.asarray(x.detach()).max())

    _refused(by_tolist, x, r"converted by tolist\(\)")
    _refused(by_numpy, x, r"converted by numpy\(\)")
    _refused(by_asarray, x, r"converted by numpy\(\)")


def test_a_tensor_used_as_an_index(x):
    def forward(x):
        return x[x.argmax(1)[0]]

    _refused(forward, x, r"the graph would bake in this example's value")


# ----- random numbers ------------------------------------------------------------------------------------------
def test_random_ops(x):
    def by_randn(x):
        return x + ember.randn(x.shape)

    def by_rand_like(x):
        return x + ember.rand_like(x)

    def by_functional_dropout(x):
        return nn.functional.dropout(x, 0.5, training=True)

    for fn in (by_randn, by_rand_like, by_functional_dropout):
        _refused(fn, x, r"random numbers were drawn .* eval\(\) mode")


def test_dropout_in_training_mode_names_the_forward_line_and_eval_traces(x):
    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.drop = nn.Linear(3, 3), nn.Dropout(0.5)

        def forward(self, x):
            return self.drop(self.fc(x))

    model = Model()
    _refused(model, x, "random numbers were drawn")
    traced = ember.jit.trace(model.eval(), x, optimize=False)
    assert [n.op for n in traced.graph.nodes] == ["linear"]


# ----- data-dependent shapes -----------------------------------------------------------------------------------
def test_data_dependent_shapes(x):
    def by_nonzero(x):
        return x.nonzero()

    def by_masked_select(x):
        return x.masked_select(x > 0)

    def by_boolean_mask(x):
        return x[x > 0]

    _refused(by_nonzero, x, r"'nonzero' .* output shape that depends on the data")
    _refused(by_masked_select, x, r"'masked_select' .* output shape that depends on the data")
    _refused(by_boolean_mask, x, r"depends on the data .* torch.where\(mask, x, 0\)")


# ----- writes the functional graph cannot replay ---------------------------------------------------------------
def test_write_through_a_view_of_a_traced_tensor(x):
    def into_input(x):
        x[:, 0] = 1
        return x * 2

    def into_a_clone(x):
        y = x.clone()
        y[:, 0] = 1
        return y * 2

    _refused(into_input, x, "writes in place through a view of a traced tensor")
    _refused(into_a_clone, x, r"writes in place through a view .*like x\[:, 0\] = 1", line_offset=2)


def test_a_stale_alias_is_refused_where_it_is_used(x):
    def forward(x):
        y = x * 2
        column = y[:, 0]
        y.add_(1)
        return column * 2

    _refused(forward, x, "shares memory with a tensor written in place", line_offset=4)


def test_in_place_ops_on_a_traced_intermediate_are_recorded_functionally(x):
    def forward(x):
        y = x * 2
        y.relu_()
        return y + 1

    traced = ember.jit.trace(forward, x, optimize=False)
    other = ember.randn(6, 3)
    before = other.numpy().copy()
    np.testing.assert_allclose(traced(other).numpy(), forward(other).numpy())
    np.testing.assert_array_equal(other.numpy(), before)


def test_values_made_from_constants_only_may_be_converted(x):
    table = ember.tensor([2.0, 3.0])

    def forward(x):
        scale = (table * 2).max().item()
        return x * scale + float(ember.ones(3).sum())

    traced = ember.jit.trace(forward, x)
    np.testing.assert_allclose(traced(x).numpy(), x.numpy() * 6 + 3, rtol=1e-6)

    def sized(x):
        return x * ember.ones(x.shape[0]).sum().item()

    _refused(sized, x, r"converted by item\(\)")


def test_writes_into_inputs_and_buffers(x):
    def into_input(x):
        x.mul_(2)
        return x

    _refused(into_input, x, r"writes in place into the input 'x'")

    class Normalised(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm = nn.BatchNorm1d(3)

        def forward(self, x):
            return self.norm(x)

    _refused(Normalised(), x, r"writes in place into the parameter or buffer 'norm\.[a-z_]+'.* use eval\(\)")


def test_an_optimizer_step_updating_its_state_in_place(x):
    from ember.optim.update_kernels import sgd_momentum_step_

    def step(x):
        param, buffer = x * 1, x * 0.5
        options = dict(lr=0.1, momentum=0.9, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False)
        sgd_momentum_step_(param, x, buffer, **options)
        return param + buffer

    _refused(step, x, line_offset=3,
             match=r"'sgd_momentum_step_' at .* updates several tensors in place \(operands \[0, 2\]\)")


def test_a_dynamic_size_tensor_made_without_an_op(x):
    def forward(x):
        # A tensor object built around new memory with x's (symbolic) shape, as a device transfer would.
        fresh = ember.zeros(x.shape[0] * 3)._storage
        made = ember.Tensor._make(fresh, x._shape, x._stride, 0, x.dtype)
        return made + 1

    _refused(forward, x, r"dynamic sizes \['N'\] was made outside ember's ops", line_offset=4)


# ----- sizes that Python would turn into plain numbers ---------------------------------------------------------
def test_len_iteration_and_float_arithmetic_on_dynamic_sizes(x):
    def by_len(x):
        return x * len(x)

    def by_iteration(x):
        return sum(row for row in x)

    def by_true_division(x):
        return x[: x.shape[0] / 2]

    def by_float(x):
        return x / float(x.size(0))

    def by_split(x):
        return x.split(2)

    def by_tensor_split(x):
        return x.tensor_split(3)

    _refused(by_len, x, r"len\(\) at .*, on a traced tensor of shape \[4, 3\], depends on a dynamic size")
    _refused(by_iteration, x, r"unbind\(\) or iteration")
    _refused(by_split, x, r"split\(\) along a dynamic dim into pieces of a fixed size .* explicit split sizes")
    _refused(by_tensor_split, x, r"tensor_split\(\) along a dynamic dim")
    _refused(by_true_division, x, r"dynamic size N \(4 in this example\) went through /")
    _refused(by_float, x, r"went through float\(\) .* result \(4.0\)")


def test_splits_that_the_graph_can_express(x):
    def forward(x):
        a, b = x.split([1, x.shape[0] - 1])
        first, second = x.chunk(2, dim=1)
        return a.sum(0) + b.sum(0), first, second, x.split(2, dim=1)[0]

    traced = ember.jit.trace(forward, x)
    other = ember.randn(7, 3)
    for got, expected in zip(traced(other), forward(other), strict=True):
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-6)


def test_static_sizes_are_plain_ints(x):
    def forward(x):
        return x * (len(x[0]) / x.shape[1]) + float(x.size(1)) ** 0.5

    traced = ember.jit.trace(forward, x)
    np.testing.assert_allclose(traced(ember.ones(7, 3)).numpy(), np.full((7, 3), 1 + 3 ** 0.5), rtol=1e-6)


def test_tensor_copies_of_traced_data_and_sizes(x):
    def from_tensor(x):
        return ember.tensor(x) * 2

    def from_sizes(x):
        return x.sum(1) * ember.tensor([x.shape[0], 2])[0]

    _refused(from_tensor, x, r"converted by ember.tensor\(\) \(copy a tensor with clone\(\)\)")
    _refused(from_sizes, x, r"ember.tensor\(\) of a list holding a dynamic size at .*ember.full\(\(\), n\)")


def test_returning_a_dynamic_size(x):
    def forward(x):
        return x * 2, x.shape[0]

    with pytest.raises(TracingError, match=r"returned the dynamic size N \(4 in this example\) as a Python int"):
        ember.jit.trace(forward, x)


# ----- nesting -------------------------------------------------------------------------------------------------
def test_nested_tracing(x):
    def forward(x):
        return ember.jit.trace(lambda y: y * 2, x)(x)

    _refused(forward, x, "while another trace runs; traces cannot be nested")


def test_a_traced_module_called_inside_a_trace_is_inlined_symbolically(x):
    ember.manual_seed(0)
    inner = ember.jit.trace(nn.Linear(3, 5).eval(), x)

    def forward(x):
        return inner(x.view(x.shape[0], 1, 3).view(-1, 3)).relu()

    traced = ember.jit.trace(forward, x, optimize=False)
    assert [n.op for n in traced.graph.nodes] == ["view", "view", "linear", "relu"]
    assert str(traced.graph.outputs[0].type_str) == "f32[N,5]"
    other = ember.randn(9, 3)
    np.testing.assert_allclose(traced(other).numpy(), forward(other).numpy())
