"""ember.save / ember.load round trips in ember's own format: values, dtypes, views, sharing, parameters,
containers, model and optimizer state, whole modules, BytesIO and mmap."""

from __future__ import annotations

import io
import math
import pickle
from collections import OrderedDict

import numpy as np
import pytest

import ember
from ember import nn
from tests.oracle import ALL_DTYPES, random_array


def roundtrip(obj, **load_kwargs):
    buffer = io.BytesIO()
    ember.save(obj, buffer)
    buffer.seek(0)
    return ember.load(buffer, **load_kwargs)


def same_tensor(a: ember.Tensor, b: ember.Tensor) -> None:
    assert type(a) is type(b)
    assert a.dtype is b.dtype and a.shape == b.shape and a.stride() == b.stride()
    assert a.storage_offset() == b.storage_offset() and a.requires_grad == b.requires_grad
    np.testing.assert_array_equal(np.asarray(a.detach().numpy()), np.asarray(b.detach().numpy()))


class TinyNet(nn.Module):
    """Two affine maps with a buffer, built from Module + Parameter only."""

    def __init__(self):
        super().__init__()
        self.w1 = nn.Parameter(ember.randn(8, 4) * 0.5)
        self.b1 = nn.Parameter(ember.zeros(8))
        self.w2 = nn.Parameter(ember.randn(3, 8) * 0.5)
        self.register_buffer("steps", ember.tensor(0))

    def forward(self, x):
        return (x @ self.w1.t() + self.b1).relu() @ self.w2.t()


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=lambda d: d.name)
def test_every_dtype_round_trips_bit_exactly(dtype):
    t = ember.from_numpy(np.asarray(random_array((3, 5), dtype, np.random.default_rng(0))).astype(dtype.np_dtype))
    loaded = roundtrip(t)
    same_tensor(loaded, t)
    assert loaded.numpy().tobytes() == t.numpy().tobytes()


@pytest.mark.parametrize("make", [lambda: ember.tensor(3.5), lambda: ember.zeros(0), lambda: ember.zeros(2, 0, 3),
                                  lambda: ember.tensor(7, dtype=ember.int16)],
                         ids=["0-d", "empty", "empty-3d", "0-d-int"])
def test_zero_dim_and_empty(make):
    t = make()
    same_tensor(roundtrip(t), t)


def test_special_floats_survive():
    t = ember.tensor([math.inf, -math.inf, math.nan, -0.0, 1e-45, 3.4e38])
    loaded = roundtrip({"t": t, "values": [math.inf, -math.inf, math.nan, -0.0, 1e300]})
    assert loaded["t"].numpy().tobytes() == t.numpy().tobytes()
    values = loaded["values"]
    assert values[:2] == [math.inf, -math.inf] and math.isnan(values[2])
    assert math.copysign(1.0, values[3]) == -1.0 and values[4] == 1e300


def test_non_contiguous_views_keep_their_layout():
    base = ember.arange(24.0).view(4, 6)
    views = {"t": base.t(), "slice": base[1:3, ::2], "col": base[:, 5], "expanded": ember.ones(3, 1).expand(3, 4)}
    loaded = roundtrip(views)
    for name, view in views.items():
        same_tensor(loaded[name], view)
    assert not loaded["slice"].is_contiguous() and loaded["slice"].storage_offset() == 6


def test_shared_storage_stays_shared_and_writes_show_through():
    base = ember.arange(12.0).view(3, 4)
    loaded = roundtrip({"base": base, "row": base[1], "t": base.t()})
    loaded["base"][1, 2] = -5.0
    assert loaded["row"][2].item() == -5.0 and loaded["t"][2, 1].item() == -5.0
    assert base[1, 2].item() == 6.0  # the loaded tensors own new memory, not the saved tensor's


def test_same_tensor_object_loads_as_one_object():
    t = ember.ones(3)
    loaded = roundtrip([t, t, {"again": t}])
    assert loaded[0] is loaded[1] is loaded[2]["again"]


def test_parameters_and_requires_grad():
    p = nn.Parameter(ember.randn(2, 3))
    frozen = nn.Parameter(ember.randn(2), requires_grad=False)
    leaf = ember.ones(3, requires_grad=True)
    loaded = roundtrip({"p": p, "frozen": frozen, "leaf": leaf, "nonleaf": leaf * 2})
    assert isinstance(loaded["p"], nn.Parameter) and loaded["p"].requires_grad
    assert isinstance(loaded["frozen"], nn.Parameter) and not loaded["frozen"].requires_grad
    assert type(loaded["leaf"]) is ember.Tensor and loaded["leaf"].requires_grad and loaded["leaf"].is_leaf
    assert loaded["nonleaf"].requires_grad and loaded["nonleaf"].is_leaf and loaded["nonleaf"].grad_fn is None
    (loaded["p"] * 2).sum().backward()
    np.testing.assert_array_equal(loaded["p"].grad.numpy(), np.full((2, 3), 2.0, np.float32))


def test_nested_containers_and_plain_values():
    od = OrderedDict([("z", 1), ("a", [2, (3, "x")])])
    od._metadata = {"": {"version": 1}}
    obj = {"od": od, 0: None, 5: True, -1: "ünïcode \U0001f525", "tuple": (1, (2.5, [None])), "empty": ([], {}, ()),
           "dtype": ember.bfloat16, "device": ember.device("cuda:1"), "size": ember.Size([2, 3]), "big": 2**100,
           (1, "k"): "tuple key", 2.5: "float key", None: "none key"}
    loaded = roundtrip(obj)
    assert loaded == obj
    assert list(loaded) == list(obj)
    assert type(loaded["od"]) is OrderedDict and loaded["od"]._metadata == {"": {"version": 1}}
    assert type(loaded["tuple"]) is tuple and type(loaded["tuple"][1][1]) is list
    assert loaded["dtype"] is ember.bfloat16 and type(loaded["size"]) is ember.Size


def test_weights_only_file_holds_no_pickle():
    buffer = io.BytesIO()
    ember.save({"w": ember.ones(2), "cfg": {"lr": 0.1}}, buffer)
    header = buffer.getvalue()
    assert header.startswith(b"\x89EMB\r\n\x1a\n") and b'"root"' in header and b'"pickle"' not in header


def test_model_state_dict_round_trip():
    ember.manual_seed(0)
    model = TinyNet()
    loaded = roundtrip(model.state_dict())
    assert type(loaded) is OrderedDict and list(loaded) == ["w1", "b1", "w2", "steps"]
    fresh = TinyNet()
    assert not fresh.load_state_dict(loaded, strict=True).missing_keys
    x = ember.randn(5, 4)
    np.testing.assert_array_equal(fresh(x).detach().numpy(), model(x).detach().numpy())


def _train(model, optimizer, steps, seed):
    gen = np.random.default_rng(seed)
    for _ in range(steps):
        x = ember.tensor(gen.standard_normal((6, 4)).astype(np.float32))
        optimizer.zero_grad()
        (model(x) ** 2).mean().backward()
        optimizer.step()


def test_optimizer_state_round_trip_then_training_continues_identically(tmp_path):
    ember.manual_seed(1)
    model = TinyNet()
    optimizer = ember.optim.Adam(model.parameters(), lr=0.01, amsgrad=True)
    _train(model, optimizer, 3, seed=0)
    ember.save({"model": model.state_dict(), "optim": optimizer.state_dict(), "epoch": 3}, tmp_path / "ckpt.pt")

    checkpoint = ember.load(tmp_path / "ckpt.pt")
    assert checkpoint["optim"]["param_groups"][0]["betas"] == (0.9, 0.999)
    assert set(checkpoint["optim"]["state"]) == {0, 1, 2}
    resumed = TinyNet()
    resumed.load_state_dict(checkpoint["model"])
    resumed_opt = ember.optim.Adam(resumed.parameters(), lr=0.5)
    resumed_opt.load_state_dict(checkpoint["optim"])
    assert resumed_opt.param_groups[0]["lr"] == 0.01

    _train(model, optimizer, 3, seed=1)
    _train(resumed, resumed_opt, 3, seed=1)
    for a, b in zip(model.parameters(), resumed.parameters(), strict=True):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


def test_whole_module_needs_weights_only_false(tmp_path):
    ember.manual_seed(2)
    model = TinyNet()
    ember.save(model, tmp_path / "model.pt")
    with pytest.raises(pickle.UnpicklingError, match=r"weights_only=True refuses this file: it holds arbitrary Python "
                                                     r"objects \(the object is a .*TinyNet\).*can run any code"
                                                     r".*weights_only=False only if you trust"):
        ember.load(tmp_path / "model.pt")
    loaded = ember.load(tmp_path / "model.pt", weights_only=False)
    assert type(loaded) is TinyNet and isinstance(loaded.w1, nn.Parameter) and loaded.w1.requires_grad
    x = ember.randn(2, 4)
    np.testing.assert_array_equal(loaded(x).detach().numpy(), model(x).detach().numpy())
    loaded(x).sum().backward()
    assert loaded.w2.grad is not None


def test_pickle_path_keeps_tensor_sharing():
    base = ember.arange(6.0)
    loaded = roundtrip({"holder": TinyNet, "a": base, "b": base[2:]}, weights_only=False)
    loaded["a"][3] = 100.0
    assert loaded["b"][1].item() == 100.0 and loaded["holder"] is TinyNet


def test_reference_cycle_falls_back_to_pickle():
    cycle = [ember.ones(1)]
    cycle.append(cycle)
    with pytest.raises(pickle.UnpicklingError, match=r"\(the object\[1\] \(a reference cycle\) is a builtins.list\)"):
        roundtrip(cycle)
    loaded = roundtrip(cycle, weights_only=False)
    assert loaded[1] is loaded and loaded[0].tolist() == [1.0]


@pytest.mark.parametrize("protocol", [0, 2, 5])
def test_pickle_protocols_for_whole_modules(protocol):
    model = TinyNet()
    buffer = io.BytesIO()
    ember.save({"net": model, "w": model.w1}, buffer, pickle_protocol=protocol)
    buffer.seek(0)
    loaded = ember.load(buffer, weights_only=False, pickle_module=pickle)
    assert loaded["w"] is loaded["net"].w1
    np.testing.assert_array_equal(loaded["w"].detach().numpy(), model.w1.detach().numpy())


def test_mmap_maps_storages_copy_on_write(tmp_path):
    path = tmp_path / "w.pt"
    ember.save({"w": ember.arange(16.0).view(4, 4)}, path)
    loaded = ember.load(path, mmap=True)
    loaded["w"][0, 0] = 42.0
    assert loaded["w"][0, 0].item() == 42.0
    assert ember.load(path)["w"][0, 0].item() == 0.0  # private mapping: the file is unchanged
    with pytest.raises(ValueError, match="f must be a file path in order to use the mmap argument"):
        ember.load(io.BytesIO(path.read_bytes()), mmap=True)


def test_load_argument_errors():
    buffer = io.BytesIO()
    ember.save([1], buffer)
    buffer.seek(0)
    with pytest.raises(RuntimeError, match="Can not safely load weights when explicit pickle_module is specified"):
        ember.load(buffer, pickle_module=pickle)
    with pytest.raises(TypeError, match="unexpected keyword"):
        ember.load(buffer, fix_imports=True)
    with pytest.raises(AttributeError, match="file-like object with a 'write' attribute"):
        ember.save([1], 3)
    assert ember.load(buffer, weights_only=None) == [1]
