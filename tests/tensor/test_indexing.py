"""Tensor.__getitem__ against PyTorch: basic indexing as one view (values, strides, offsets, shared storage),
advanced indexing (integer tensors, lists, masks, bools, mixtures) as a copy, 0-d/empty/strided inputs, errors.

Inputs come from one NumPy array in both libraries (torch from a copy with the same strides), so view
geometry can be compared exactly. Index items written ``A(...)`` become an integer/bool tensor in each library.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ember
from ember.tensor.dispatch import add_dispatch_hook
from tests.oracle import ALL_DTYPES, assert_close, pair, torch


class A:
    """An index item that is a tensor (built from ``data``) in each library."""

    def __init__(self, data, dtype=None):
        self.array = np.asarray(data, dtype=dtype)

    def __repr__(self) -> str:
        return f"A({self.array.tolist()}, {self.array.dtype})"


def keys_for(key):
    """The key as ember and as torch sees it: A items become tensors, lists and tuples are walked."""
    if isinstance(key, A):
        return ember.tensor(key.array), torch.from_numpy(key.array.copy())
    if isinstance(key, tuple | list):
        pairs = [keys_for(k) for k in key]
        kind = type(key)
        return kind(p[0] for p in pairs), kind(p[1] for p in pairs)
    return key, key


def bases(shape: tuple, layout: str = "contiguous", dtype=np.float32) -> tuple[ember.Tensor, torch.Tensor]:
    """The same values and strides in both libraries: contiguous, every other column, or transposed.

    Each library gets its own copy, taken the same way (NumPy may give an empty array other strides after a copy).
    """
    arr = np.arange(int(np.prod(shape)), dtype=dtype).reshape(shape)
    if layout == "strided" and shape:
        wide = np.repeat(arr, 2, axis=-1)
        return ember.from_numpy(wide.copy()[..., ::2]), torch.from_numpy(wide.copy()[..., ::2])
    if layout == "transposed" and len(shape) >= 2:
        flipped = np.ascontiguousarray(arr.transpose())
        return ember.from_numpy(flipped.copy().transpose()), torch.from_numpy(flipped.copy().transpose())
    return ember.from_numpy(arr.copy()), torch.from_numpy(arr.copy())


def check_view(e_view, t_view, e_base, t_base) -> None:
    """Same values, shape, strides and offset as torch, and the same memory as the base."""
    assert_close(e_view, t_view)
    assert e_view.stride() == t_view.stride(), f"stride {e_view.stride()} != {t_view.stride()}"
    assert e_view.storage_offset() - e_base.storage_offset() == t_view.storage_offset() - t_base.storage_offset()
    assert e_view._storage is e_base._storage


LAYOUTS = ["contiguous", "strided", "transposed"]

BASIC_KEYS = [
    0, -1, 1, slice(None), slice(1, None), slice(None, -1), slice(None, None, 2), slice(-10, 10), slice(5, 1),
    slice(10, 20), (0, 1), (0, 1, 2), (-1, -2, -3), (slice(None), 1), (1, slice(0, 3, 2)), None, (None, 0),
    (0, None), (slice(None), None), (Ellipsis, None), (None, Ellipsis, None), Ellipsis, (Ellipsis, 0),
    (0, Ellipsis, 1), (slice(1, None), None, slice(2, None)), (slice(1, -1, 2),), (None, None, 1, None, slice(None, 1)),
    (slice(None), slice(None), slice(None)), (0, 0, 0, None), (slice(3, None), None),
    (slice(None), slice(5, None), None),
]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("key", BASIC_KEYS, ids=repr)
def test_basic_index_is_a_view_like_torch(key, layout):
    e, t = bases((2, 3, 4), layout)
    check_view(e[key], t[key], e, t)


def test_basic_index_is_one_view_primitive_with_a_plain_spec():
    e, _ = bases((2, 3, 4))
    seen = []
    handle = add_dispatch_hook(lambda op, operands, attrs, out: seen.append((op.name, attrs)))
    try:
        e[0, None, 1:3, ...]
        e[ember.tensor([0, 1]), :, 1]
    finally:
        handle.remove()
    assert seen[0] == ("basic_index", {"spec": (0, None, (1, 3, 1))})
    assert [name for name, _ in seen[1:]] == ["basic_index", "index"]
    hash(seen[0][1]["spec"])


@pytest.mark.parametrize("key", [A(1), A(-1), A(1, np.int32), (1, A(2)), (Ellipsis, A(3)), (slice(None), A(0), 1)],
                         ids=repr)
def test_zero_dim_integer_tensor_indexes_like_an_int(key):
    e, t = bases((2, 3, 4))
    ek, tk = keys_for(key)
    check_view(e[ek], t[tk], e, t)


def test_index_with_numpy_integers_and_index_objects():
    e, t = bases((2, 3, 4))
    check_view(e[np.int64(1)], t[np.int64(1)], e, t)
    check_view(e[np.int64(1):], t[np.int64(1):], e, t)
    check_view(e[ember.tensor(1):], t[torch.tensor(1):], e, t)
    check_view(e[np.array(1)], t[np.array(1)], e, t)


ADVANCED_KEYS = [
    [0, 1], [1, 1, 0], [-1], [], [0.7], A([1, 0]), A([[0], [1]]), A([0, 1], np.int32), (0, slice(None), [0, 1]),
    ([0, 1], slice(None), [0, 1]), (slice(None), [0, 1], 0), ([0, 1], None, [0, 1]), (None, [0, 1], None, [0, 1]),
    ([[0, 1], [1, 0]], [[0], [2]]), ([0, -1], [-3, 2]), (Ellipsis, [3, 0]), (0, Ellipsis, A([1, 2])),
    (slice(0, 1), [0, 1], slice(0, 1)), ([0, 1], A([[1], [2]])), (slice(None), [], slice(None)), ([], []),
    True, False, (True, True), (True, 0), (Ellipsis, True), (slice(None), True, [0, 1]), ([0, 1], slice(None), True),
    (0, False), A(True), A(False), A(1, np.uint8), (slice(None), A(0, np.uint8)),
    [True, False], A([True, False]), (Ellipsis, [True, False, True, True]),
    A([[True, False, True], [False, True, True]]),
    (A([[True, False, True], [False, True, True]]), slice(1, 3)), (A([[True, False, True], [False, True, True]]), None),
    (None, A([[True, False, True], [False, True, True]])), (0, A([True, True, False])),
    (A([[True, False, True], [False, True, True]]), [0, 1, 2, 3]), (slice(None), A([[False] * 4] * 3)),
    A(np.ones((2, 3, 4), dtype=bool)), (1, slice(None), A([True, False, False, True])),
]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("key", ADVANCED_KEYS, ids=repr)
def test_advanced_index_matches_torch(key, layout):
    e, t = bases((2, 3, 4), layout)
    ek, tk = keys_for(key)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = t[tk]
        got = e[ek]
    assert_close(got, expected)
    assert got._storage is not e._storage


@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_indexing_every_dtype(dtype):
    e, t = pair((3, 4), dtype, seed=1, noncontiguous=True)
    mask = np.random.default_rng(2).random((3, 4)) < 0.5
    assert_close(e[1, 1:], t[1, 1:])
    assert_close(e[[2, 0]], t[[2, 0]])
    assert_close(e[:, [3, 3, 1]], t[:, [3, 3, 1]])
    assert_close(e[ember.from_numpy(mask)], t[torch.from_numpy(mask)])
    row = [True, False, True, False]
    assert_close(e[None, ..., ember.tensor(row)], t[None, ..., torch.tensor(row)])


def test_zero_dim_tensor():
    e, t = bases(())
    for key in (Ellipsis, None, (None, None), (Ellipsis, None)):
        check_view(e[key], t[key], e, t)
    for key in (True, False, ember.tensor(True)):
        assert_close(e[key], t[keys_for(key)[1] if not isinstance(key, ember.Tensor) else torch.tensor(True)])
    with pytest.raises(IndexError, match=r"invalid index of a 0-dim tensor\. Use `tensor\.item\(\)`"):
        e[0]
    with pytest.raises(IndexError, match="index 5 is out of bounds for dimension 0 with size 0"):
        e[5]
    with pytest.raises(IndexError, match=r"slice\(\) cannot be applied to a 0-dim tensor\."):
        e[1:]
    for key in ((0,), [0], ember.tensor([0])):
        with pytest.raises(IndexError, match="too many indices for tensor of dimension 0"):
            e[key]


@pytest.mark.parametrize("key", [slice(None), (slice(None), 1), (slice(None), [2, 0]), ([], 1), (slice(1, 1), None),
                                 (slice(None), A([True, False, True])), A(np.zeros((0, 3), bool))], ids=repr)
def test_empty_tensors(key):
    e, t = bases((0, 3))
    ek, tk = keys_for(key)
    assert_close(e[ek], t[tk])


def test_empty_tensor_errors():
    e, _ = bases((0, 3))
    with pytest.raises(IndexError, match="index 0 is out of bounds for dimension 0 with size 0"):
        e[0]
    with pytest.raises(IndexError, match="index is out of bounds for dimension with size 0"):
        e[[0, 0]]


def test_mask_of_all_false_and_mask_covering_all_dims():
    e, t = bases((2, 3))
    none = np.zeros((2, 3), dtype=bool)
    assert_close(e[ember.from_numpy(none)], t[torch.from_numpy(none)])
    assert_close(e[ember.from_numpy(~none)], t[torch.from_numpy(~none)])


@pytest.mark.parametrize("key,exc,match", [
    (5, IndexError, "index 5 is out of bounds for dimension 0 with size 2"),
    (-3, IndexError, "index -3 is out of bounds for dimension 0 with size 2"),
    ((slice(None), 3), IndexError, "index 3 is out of bounds for dimension 1 with size 3"),
    ((None, slice(None), 7), IndexError, "index 7 is out of bounds for dimension 1 with size 3"),
    ((0, 0, 0, 0), IndexError, "too many indices for tensor of dimension 3"),
    ((A([[True, True, True]] * 2), 0, 0), IndexError, "too many indices for tensor of dimension 3"),
    (slice(None, None, -1), ValueError, "step must be greater than zero"),
    (slice(None, None, 0), ValueError, "slice step cannot be zero"),
    (slice(1.5, None), TypeError, "slice indices must be integers or None or have an __index__ method"),
    (1.5, IndexError, r"only integers, slices \(`:`\), ellipsis \(`\.\.\.`\), None and long or byte Variables are "
     r"valid indices \(got float\)"),
    ({0}, IndexError, r"valid indices \(got set\)"),
    (np.bool_(True), IndexError, r"valid indices \(got numpy\.bool"),
    ("a", TypeError, "str"),
    ([5], IndexError, "index 5 is out of bounds for dimension 0 with size 2"),
    ([0, -3], IndexError, "index -3 is out of bounds for dimension 0 with size 2"),
    ((slice(None), [5]), IndexError, "index 5 is out of bounds for dimension 0 with size 3"),
    (([0], slice(None), [9]), IndexError, "index 9 is out of bounds for dimension 1 with size 4"),
    (([0, 1], [0, 1, 2]), IndexError, r"shape mismatch: indexing tensors could not be broadcast together with "
     r"shapes \[2\], \[3\]"),
    ((A(np.ones((2, 3), bool)), A([0, 1, 2, 3])), IndexError, r"shapes \[6\], \[6\], \[4\]"),
    (A([0.0]), IndexError, "tensors used as indices must be long, int, byte or bool tensors"),
    (A(1.0), IndexError, "tensors used as indices must be long, int, byte or bool tensors"),
    (A([0], np.int16), IndexError, "tensors used as indices must be long, int, byte or bool tensors"),
    (A([0], np.int8), IndexError, "tensors used as indices must be long, int, byte or bool tensors"),
    (A(np.ones((3, 3), bool)), IndexError, r"The shape of the mask \[3, 3\] at index 0 does not match the shape of "
     r"the indexed tensor \[2, 3, 4\] at index 0"),
    ((slice(None), A(np.ones((2, 2), bool))), IndexError, r"The shape of the mask \[2, 2\] at index 0 does not match "
     r"the shape of the indexed tensor \[2, 3, 4\] at index 1"),
    ((A([[True]]), 0), IndexError, r"mask \[1, 1\] at index 0 does not match the shape of the indexed tensor \[2, 3\]"),
    ([True, False, True], IndexError, r"The shape of the mask \[3\] at index 0"),
    ((Ellipsis, 0, Ellipsis), IndexError, "an index can only have a single ellipsis"),
], ids=repr)
def test_getitem_errors(key, exc, match):
    e, t = bases((2, 3, 4))
    ek, tk = keys_for(key)
    with pytest.raises(exc, match=match):
        e[ek]
    if exc is not TypeError and "ellipsis" not in match:
        # torch raises the same error type (ember refuses a second Ellipsis where torch gives odd results).
        with pytest.raises(exc), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t[tk]


def test_deprecated_forms_warn_and_still_work():
    e, t = bases((2, 3, 4))
    with pytest.warns(UserWarning, match="non-tuple sequence for multidimensional indexing"):
        got = e[[0, slice(None)]]
    check_view(got, t[0, :], e, t)
    with pytest.warns(UserWarning, match="non-tuple sequence"):
        got = e[[[0, 1], [1, 2]]]
    assert_close(got, t[[0, 1], [1, 2]])
    with pytest.warns(UserWarning, match=r"indexing with dtype ember\.uint8 is now deprecated"):
        got = e[ember.tensor([1, 0], dtype=ember.uint8)]
    assert_close(got, t[torch.tensor([True, False])])


def test_list_of_zero_dim_tensors_is_a_tuple_of_ints():
    e, t = bases((2, 3, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_view(e[[ember.tensor(0), ember.tensor(1)]], t[[torch.tensor(0), torch.tensor(1)]], e, t)


# ----- hypothesis: random basic index tuples give torch's values and strides, sharing storage ------------
@st.composite
def basic_index_cases(draw):
    shape = tuple(draw(st.lists(st.integers(0, 4), min_size=0, max_size=4)))
    layout = draw(st.sampled_from(LAYOUTS))
    items = []
    remaining = len(shape)
    used_ellipsis = False
    for _ in range(draw(st.integers(0, 5))):
        choice = draw(st.sampled_from(["int", "slice", "none", "ellipsis"]))
        dim = len(shape) - remaining
        if choice == "none":
            items.append(None)
        elif choice == "ellipsis" and not used_ellipsis:
            used_ellipsis = True
            items.append(Ellipsis)
        elif choice == "int" and remaining and shape[dim] > 0 and not used_ellipsis:
            items.append(draw(st.integers(-shape[dim], shape[dim] - 1)))
            remaining -= 1
        elif choice == "slice" and remaining and not used_ellipsis:
            bound = st.one_of(st.none(), st.integers(-6, 6))
            items.append(slice(draw(bound), draw(bound), draw(st.one_of(st.none(), st.integers(1, 3)))))
            remaining -= 1
    return shape, layout, tuple(items)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(basic_index_cases())
def test_random_basic_indices_match_torch_values_and_strides(case):
    shape, layout, key = case
    e, t = bases(shape, layout)
    check_view(e[key], t[key], e, t)
