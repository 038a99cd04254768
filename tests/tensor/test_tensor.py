"""The Tensor object: metadata, Python/NumPy conversions, dtype moves, version counter, registry, dispatch."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import ember
from ember.tensor.dispatch import add_dispatch_hook
from ember.tensor.registry import COMPUTE, INPLACE, OPS, VIEW
from tests.oracle import ALL_DTYPES, DTYPES, assert_close, pair, torch


def test_metadata_matches_torch():
    e, t = pair((2, 3, 4), noncontiguous=True)
    assert e.shape == t.shape and e.size() == t.size() and e.size(-1) == t.size(-1)
    assert e.stride() == (24, 8, 2) and e.stride(1) == 8
    assert e.dim() == e.ndim == e.ndimension() == 3
    assert e.numel() == e.nelement() == t.numel()
    assert e.element_size() == e.itemsize == 4 and e.nbytes == 96
    assert e.is_contiguous() is False and e.storage_offset() == 0
    assert repr(e.shape) == "ember.Size([2, 3, 4])"
    assert e.shape[1:] == (3, 4) and isinstance(e.shape[1:], ember.Size) and e.shape.numel() == 24


@pytest.mark.parametrize("shape", [(), (0,), (1,), (3, 1), (1, 0, 2)])
def test_contiguity_edge_cases(shape):
    e = ember.zeros(shape)
    assert e.is_contiguous() and e.stride() == torch.zeros(shape).stride()


def test_dim_out_of_range_is_an_index_error():
    with pytest.raises(IndexError, match=r"Dimension out of range \(expected to be in range of \[-2, 1\], but got 2\)"):
        ember.zeros(2, 3).size(2)


@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_item_tolist_numpy_array(dtype):
    e, t = pair((2, 3), dtype)
    assert e.tolist() == t.tolist()
    assert type(e.tolist()[0][0]) is type(t.tolist()[0][0])
    scalar = ember.zeros((), dtype=dtype)
    assert scalar.item() == torch.zeros((), dtype=DTYPES[dtype]).item()
    assert type(scalar.item()) is type(torch.zeros((), dtype=DTYPES[dtype]).item())
    assert np.asarray(e).shape == (2, 3)
    assert np.array(e, dtype=np.float64).dtype == np.float64


def test_numpy_shares_memory():
    e = ember.zeros(3)
    e.numpy()[1] = 4
    assert e.tolist() == [0, 4, 0]


def test_item_of_several_elements_errors():
    with pytest.raises(RuntimeError, match="a Tensor with 2 elements cannot be converted to Scalar"):
        ember.zeros(2).item()


def test_python_protocols():
    e = ember.tensor([[1, 2], [3, 4]])
    assert len(e) == 2
    assert bool(ember.tensor([1])) is True and bool(ember.tensor(0.0)) is False
    assert int(ember.tensor(3.7)) == 3 and float(ember.tensor(2)) == 2.0
    assert [10, 20, 30][ember.tensor(1)] == 20
    assert f"{ember.tensor(2.5):.2f}" == "2.50"
    with pytest.raises(RuntimeError, match="Boolean value of Tensor with more than one value is ambiguous"):
        bool(ember.zeros(2))
    with pytest.raises(TypeError, match="len\\(\\) of a 0-d tensor"):
        len(ember.tensor(1))
    with pytest.raises(TypeError, match="iteration over a 0-d tensor"):
        iter(ember.tensor(1))
    with pytest.raises(TypeError, match="only integer tensors of a single element can be converted to an index"):
        [1, 2][ember.tensor(1.0)]
    with pytest.raises(ValueError, match="only one element tensors can be converted to Python scalars"):
        float(ember.zeros(2))
    assert hash(e) == hash(e) and len({e, e}) == 1


@pytest.mark.parametrize("method,dtype", [("float", ember.float32), ("double", ember.float64), ("half", ember.float16),
                                          ("bfloat16", ember.bfloat16), ("int", ember.int32), ("long", ember.int64),
                                          ("short", ember.int16), ("char", ember.int8), ("byte", ember.uint8),
                                          ("bool", ember.bool)])
def test_dtype_conversion_methods(method, dtype):
    e, t = pair((3, 2), ember.float64, noncontiguous=True)
    assert_close(getattr(e, method)(), getattr(t, method)())
    assert getattr(e, method)().dtype is dtype


def test_to_overloads():
    e = ember.tensor([1.7, -2.2])
    assert e.to(ember.float32) is e
    assert e.to(ember.float32, copy=True) is not e
    assert e.to("cpu") is e
    assert e.to("cpu", ember.int64).tolist() == [1, -2]
    assert e.to(dtype=ember.float64).dtype is ember.float64
    assert e.to(ember.zeros(1, dtype=ember.int16)).dtype is ember.int16
    assert e.type() == "ember.FloatTensor" and e.type(ember.float64).dtype is ember.float64
    with pytest.raises(TypeError, match="invalid combination of arguments"):
        e.to(3.5)


def test_cast_of_nan_to_int_does_not_warn():
    with np.errstate(all="raise"):
        ember.tensor([float("nan"), float("inf")]).long()


def test_version_counter_is_shared_and_bumped_by_in_place_ops():
    e = ember.zeros(4)
    v0 = e._version
    e.fill_(1)
    e.copy_(ember.ones(4))
    e.zero_()
    assert e._version == v0 + 3


def test_copy_broadcasts_and_casts():
    e = ember.zeros(2, 3, dtype=ember.int32)
    e.copy_(ember.tensor([1.9, 2.5, -3.7]))
    t = torch.zeros(2, 3, dtype=torch.int32)
    t.copy_(torch.tensor([1.9, 2.5, -3.7]))
    assert_close(e, t)
    with pytest.raises(RuntimeError, match=r"tensor self \[2, 3\] must match the size of tensor src \[4\]"):
        e.copy_(ember.zeros(4))


def test_fill_accepts_zero_dim_tensor_only():
    e = ember.zeros(3)
    e.fill_(ember.tensor(2.0))
    assert e.tolist() == [2, 2, 2]
    with pytest.raises(RuntimeError, match="fill_ only supports 0-dimension value tensor"):
        e.fill_(ember.ones(2))


def test_clone_and_contiguous():
    e, t = pair((3, 4), noncontiguous=True)
    c = e.contiguous()
    assert c.is_contiguous() and c.stride() == t.contiguous().stride()
    assert_close(c, t.contiguous())
    ready = ember.zeros(2, 2)
    assert ready.contiguous() is ready
    cl = ready.clone()
    cl.fill_(1)
    assert ready.tolist() == [[0, 0], [0, 0]]


def test_pickle_and_deepcopy_round_trip():
    e, _ = pair((2, 3), ember.bfloat16)
    for back in (pickle.loads(pickle.dumps(e)), copy.deepcopy(e)):
        assert back.dtype is ember.bfloat16 and back.tolist() == e.tolist()


def test_every_registered_op_is_complete():
    assert len(OPS) > 0
    for name, op in OPS.items():
        assert op.name == name
        assert op.kind in (COMPUTE, VIEW, INPLACE)
        assert callable(op.infer)
        if op.kind == VIEW:
            assert callable(op.view) and not op.kernels
        else:
            assert callable(op.kernels.get("cpu")), f"op {name} has no CPU kernel"


def test_dispatch_hook_sees_every_primitive_op():
    seen = []
    handle = add_dispatch_hook(lambda op, operands, attrs, out: seen.append((op.name, attrs)))
    try:
        e = ember.zeros(2, 3)
        e.fill_(2.0)
        e.to(ember.float64)
    finally:
        handle.remove()
    assert [name for name, _ in seen] == ["full", "fill_", "cast"]
    assert seen[2][1] == {"dtype": ember.float64}
    e.clone()
    assert len(seen) == 3
