"""The backend interface and the CPU backend: strided views of storage, adopting kernel outputs, refusals."""

from __future__ import annotations

import numpy as np
import pytest

from ember.backends import CPU_BACKEND, Backend, get_backend
from ember.backends.cpu import contiguous_strides


def test_cpu_backend_is_registered_and_cuda_is_refused():
    assert get_backend("cpu") is CPU_BACKEND and isinstance(CPU_BACKEND, Backend)
    with pytest.raises(RuntimeError, match="device 'cuda' is not supported by this build of ember"):
        get_backend("cuda")


def test_view_is_a_strided_window_sharing_memory():
    buffer = np.arange(12, dtype=np.float32)
    view = CPU_BACKEND.view(buffer, (3, 2), (1, 3), 2)
    assert view.tolist() == [[2, 5], [3, 6], [4, 7]]
    view[0, 0] = -1
    assert buffer[2] == -1


def test_empty_window_past_the_end_is_allowed():
    assert CPU_BACKEND.view(np.zeros(4, np.int64), (0, 3), (3, 1), 9).shape == (0, 3)


@pytest.mark.parametrize("result", [np.float64(2.5), np.arange(6.0).reshape(2, 3).T, np.ones((2, 2), np.float64)])
def test_adopt_gives_c_contiguous_storage_of_the_rule_dtype(result):
    data, shape, stride, view = CPU_BACKEND.adopt(result, np.dtype(np.float32))
    assert view.dtype == np.float32 and view.flags.c_contiguous and shape == np.shape(result)
    assert stride == contiguous_strides(shape)
    np.testing.assert_array_equal(view, np.asarray(result, dtype=np.float32))


def test_contiguous_strides_match_pytorch_for_size_one_and_empty_dims():
    assert contiguous_strides((2, 1, 3)) == (3, 3, 1)
    assert contiguous_strides((0, 4)) == (4, 1)
    assert contiguous_strides(()) == ()


def test_allocator_round_trip():
    alloc = CPU_BACKEND.allocator
    flat = alloc.from_host(np.arange(6, dtype=np.int16).reshape(2, 3))
    assert flat.shape == (6,) and alloc.to_host(flat).tolist() == [0, 1, 2, 3, 4, 5]
    assert alloc.empty(5, np.dtype(np.float64)).shape == (5,)
