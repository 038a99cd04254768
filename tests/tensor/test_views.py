"""Zero-copy views against PyTorch: values, shapes, strides and storage offsets, shared storage, errors.

Inputs are built from one NumPy array in both libraries (torch from a copy), so strides and offsets of the
bases agree and every view's geometry can be compared exactly.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ember
from tests.oracle import ALL_DTYPES, DTYPES, assert_close, torch


def bases(shape: tuple, layout: str = "contiguous", dtype=np.float32) -> tuple[ember.Tensor, torch.Tensor]:
    """The same tensor in ember and torch with the same strides: contiguous, every other element of a
    wider array ("strided"), or a transposed array ("transposed"). Empty tensors are contiguous zeros
    (torch.from_numpy gives empty arrays all-zero strides)."""
    if 0 in shape:
        return ember.zeros(shape), torch.zeros(shape)
    if layout == "strided" and shape:
        wide = np.arange(np.prod(shape) * 2, dtype=dtype).reshape(tuple(shape[:-1]) + (shape[-1] * 2,))
        return ember.from_numpy(wide[..., ::2]), torch.from_numpy(wide.copy())[..., ::2]
    if layout == "transposed" and len(shape) >= 2:
        arr = np.arange(np.prod(shape), dtype=dtype).reshape(shape[::-1])
        return ember.from_numpy(arr).permute(*range(len(shape) - 1, -1, -1)), torch.from_numpy(arr.copy()).permute(
            *range(len(shape) - 1, -1, -1))
    arr = np.arange(np.prod(shape, dtype=int), dtype=dtype).reshape(shape)
    return ember.from_numpy(arr), torch.from_numpy(arr.copy())


def shares(e_view: ember.Tensor, e_base: ember.Tensor) -> bool:
    return e_view._storage is e_base._storage


def same_storage(t_view: torch.Tensor, t_base: torch.Tensor) -> bool:
    return t_view.untyped_storage().data_ptr() == t_base.untyped_storage().data_ptr()


def check_view(e_view, t_view, e_base, t_base) -> None:
    """Same values, shape, strides and offset as torch, and the same memory as the base."""
    assert_close(e_view, t_view)
    assert e_view.stride() == t_view.stride(), f"stride {e_view.stride()} != {t_view.stride()}"
    assert e_view.storage_offset() == t_view.storage_offset()
    assert e_view.is_contiguous() == t_view.is_contiguous()
    assert shares(e_view, e_base)
    if e_view.numel() and e_base.numel():  # torch's data_ptr() of an empty tensor is 0
        size = e_base.element_size()
        assert (e_view.data_ptr() - e_base.data_ptr()) // size == (t_view.data_ptr() - t_base.data_ptr()) // size


LAYOUTS = ["contiguous", "strided", "transposed"]


# ----- view / reshape --------------------------------------------------------------------------------
@pytest.mark.parametrize("shape,size", [
    ((2, 3), (3, 2)), ((2, 3), (-1,)), ((2, 3), (1, 6, 1)), ((2, 3, 4), (2, -1)), ((), (1,)), ((), ()),
    ((1,), ()), ((), (-1,)), ((1, 1), (1,)), ((0, 3), (3, 0)), ((0, 3), (0,)), ((2, 0), (0, 2)), ((4, 6), (2, 2, 6)),
])
def test_view_contiguous(shape, size):
    e, t = bases(shape)
    if size:
        check_view(e.view(*size), t.view(*size), e, t)
    check_view(e.view(size), t.view(size), e, t)


@pytest.mark.parametrize("shape,size", [
    ((4, 3), (2, 2, 3)), ((4, 3), (4, 3, 1)), ((4, 3), (4, 1, 3, 1)), ((4, 3), (12,)), ((2, 1, 3), (2, 3)),
    ((2, 3, 2), (6, 2)), ((0, 2), (2, 0)),
])
def test_view_strided_when_possible(shape, size):
    e, t = bases(shape, "strided")
    check_view(e.view(size), t.view(size), e, t)


@pytest.mark.parametrize("shape,size", [((2, 3), (6,)), ((2, 3, 4), (6, 4)), ((3, 4), (2, 6))])
def test_view_across_subspaces_errors_and_reshape_copies(shape, size):
    e, t = bases(shape, "transposed")
    with pytest.raises(RuntimeError, match=r"view size is not compatible with input tensor's size and stride \(at "
                       r"least one dimension spans across two contiguous subspaces\)\. "
                       r"Use \.reshape\(\.\.\.\) instead\."):
        e.view(size)
    r = e.reshape(size)
    assert_close(r, t.reshape(size))
    assert r.stride() == t.reshape(size).stride() and not shares(r, e)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("size", [(-1,), (4, 2, 3), (2, 12), (24, 1), (1, -1, 4)])
def test_reshape_is_a_view_exactly_when_torch_is(layout, size):
    e, t = bases((2, 3, 4), layout)
    e_r, t_r = ember.reshape(e, size), torch.reshape(t, size)
    assert_close(e_r, t_r)
    assert e_r.stride() == t_r.stride()
    assert shares(e_r, e) == same_storage(t_r, t)
    assert_close(e.reshape(*size), t_r)
    assert_close(ember.reshape(e, shape=size), t_r)


@pytest.mark.parametrize("size,message", [
    ((2, 5), r"shape '\[2, 5\]' is invalid for input of size 6"),
    ((-1, -1), "only one dimension can be inferred"),
    ((-2, 3), r"invalid shape dimension -2 at index 0 of shape \[-2, 3\]"),
    ((4, -1), r"shape '\[4, -1\]' is invalid for input of size 6"),
    ((-1, 0), r"shape '\[-1, 0\]' is invalid for input of size 6"),
])
def test_view_size_errors(size, message):
    e, t = bases((2, 3))
    with pytest.raises(RuntimeError, match=message):
        e.view(size)
    with pytest.raises(RuntimeError, match=message):
        e.reshape(size)
    with pytest.raises(RuntimeError):
        t.view(size)


def test_view_of_empty_with_inferred_dim_is_ambiguous():
    with pytest.raises(RuntimeError, match=r"cannot reshape tensor of 0 elements into shape \[0, -1\] because the "
                       "unspecified dimension size -1 can be any value and is ambiguous"):
        ember.zeros(0, 3).view(0, -1)


def test_view_argument_types():
    e = ember.zeros(2, 3)
    with pytest.raises(TypeError, match=r"view\(\): argument 'size\[1\]' must be int, not float"):
        e.view(2, 3.0)
    assert e.view(ember.Size([3, 2])).shape == (3, 2)
    assert e.view(np.int64(6)).shape == (6,)


def test_view_as_reshape_as():
    e, t = bases((2, 3, 4))
    other_e, other_t = ember.zeros(4, 6), torch.zeros(4, 6)
    check_view(e.view_as(other_e), t.view_as(other_t), e, t)
    e2, t2 = bases((2, 3, 4), "transposed")
    assert_close(e2.reshape_as(other_e), t2.reshape_as(other_t))


# ----- transposes ------------------------------------------------------------------------------------
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dims", [(0, 1), (1, 0), (-1, 0), (0, 2), (-2, -1), (1, 1)])
def test_transpose_and_aliases(layout, dims):
    e, t = bases((2, 3, 4), layout)
    for fn in ("transpose", "swapaxes", "swapdims"):
        check_view(getattr(ember, fn)(e, *dims), getattr(torch, fn)(t, *dims), e, t)
        check_view(getattr(e, fn)(*dims), getattr(t, fn)(*dims), e, t)


def test_transpose_of_0d_and_errors():
    e, t = bases(())
    check_view(e.transpose(0, -1), t.transpose(0, -1), e, t)
    with pytest.raises(IndexError, match=r"Dimension out of range \(expected to be in range of \[-2, 1\], but got 5\)"):
        ember.zeros(2, 3).transpose(0, 5)


@pytest.mark.parametrize("shape", [(), (3,), (2, 3), (0, 3)])
def test_t(shape):
    e, t = bases(shape)
    check_view(e.t(), t.t(), e, t)
    check_view(ember.t(e), torch.t(t), e, t)


def test_t_of_3d_errors():
    with pytest.raises(RuntimeError, match="t\\(\\) expects a tensor with <= 2 dimensions, but self is 3D"):
        ember.zeros(2, 3, 4).t()


@pytest.mark.parametrize("shape", [(), (3,), (2, 3), (2, 3, 4), (1, 2, 3, 4)])
def test_T_reverses_all_dims(shape):
    e, t = bases(shape, "strided")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = t.T
    check_view(e.T, expected, e, t)


@pytest.mark.parametrize("shape", [(), (2, 3), (2, 3, 4)])
def test_mT(shape):
    e, t = bases(shape, "strided")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = t.mT
    check_view(e.mT, expected, e, t)
    with pytest.raises(RuntimeError, match="tensor.mT is only supported on matrices or batches of matrices. Got 1-D"):
        _ = ember.zeros(3).mT


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dims", [(0, 1, 2), (2, 0, 1), (-1, 0, -2), (1, 2, 0)])
def test_permute(layout, dims):
    e, t = bases((2, 3, 4), layout)
    check_view(e.permute(*dims), t.permute(*dims), e, t)
    check_view(e.permute(dims), t.permute(dims), e, t)
    check_view(ember.permute(e, dims), torch.permute(t, dims), e, t)
    check_view(ember.permute(e, dims=list(dims)), torch.permute(t, dims=list(dims)), e, t)


def test_permute_errors():
    e = ember.zeros(2, 3)
    with pytest.raises(RuntimeError, match=r"permute\(\): duplicate dims are not allowed."):
        e.permute(0, 0)
    with pytest.raises(RuntimeError, match=r"input.dim\(\) = 2 is not equal to len\(dims\) = 3"):
        e.permute(0, 1, 2)
    with pytest.raises(IndexError, match="Dimension out of range"):
        e.permute(0, 2)
    with pytest.raises(TypeError, match=r"permute\(\): argument 'dims\[0\]' must be int, not float"):
        e.permute(1.0, 0)


@pytest.mark.parametrize("source,destination", [(0, 2), (-1, 0), ((0, 1), (2, 0)), ([0], [-1]), ((0, 1, 2), (2, 1, 0)),
                                                ((), ())])
def test_movedim(source, destination):
    e, t = bases((2, 3, 4), "strided")
    check_view(ember.movedim(e, source, destination), torch.movedim(t, source, destination), e, t)
    check_view(e.moveaxis(source, destination), t.moveaxis(source, destination), e, t)


@pytest.mark.parametrize("source,destination,message", [
    ((0, 1), (0,), r"movedim: Invalid source or destination dims: source \(\[0, 1\] dims\) should contain the same "
                   r"number of dims as destination \(\[0\] dims\)"),
    ((0, 0), (0, 1), r"movedim: repeated dim in `source` \(\[0, 0\]\)"),
    ((0, 1), (1, -1), r"movedim: repeated dim in `destination` \(\[1, -1\]\)"),
])
def test_movedim_errors(source, destination, message):
    with pytest.raises(RuntimeError, match=message):
        ember.zeros(2, 3).movedim(source, destination)


# ----- squeeze / unsqueeze ---------------------------------------------------------------------------
@pytest.mark.parametrize("dim", [None, 0, 1, -1, 2, (0, 2), (1,), (), [0, 1, 2, 3]])
@pytest.mark.parametrize("layout", ["contiguous", "strided"])
def test_squeeze(dim, layout):
    e, t = bases((1, 3, 1, 2), layout)
    if dim is None:
        check_view(e.squeeze(), t.squeeze(), e, t)
    check_view(ember.squeeze(e, dim), torch.squeeze(t, dim) if dim is not None else torch.squeeze(t), e, t)
    check_view(e.squeeze(dim=dim), t.squeeze(dim=dim) if dim is not None else t.squeeze(), e, t)


def test_squeeze_0d_empty_and_errors():
    e, t = bases(())
    check_view(e.squeeze(), t.squeeze(), e, t)
    check_view(e.squeeze(0), t.squeeze(0), e, t)
    e, t = bases((0, 1))
    check_view(e.squeeze(), t.squeeze(), e, t)
    with pytest.raises(RuntimeError, match="dim 0 appears multiple times in the list of dims"):
        ember.zeros(1, 1).squeeze((0, -2))
    with pytest.raises(IndexError, match=r"expected to be in range of \[-2, 1\], but got 2"):
        ember.zeros(2, 3).squeeze(2)


@pytest.mark.parametrize("dim", [0, 1, 2, -1, -3])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_unsqueeze(dim, layout):
    e, t = bases((4, 3), layout)
    check_view(e.unsqueeze(dim), t.unsqueeze(dim), e, t)
    check_view(ember.unsqueeze(e, dim=dim), torch.unsqueeze(t, dim=dim), e, t)


def test_unsqueeze_0d_and_errors():
    e, t = bases(())
    check_view(e.unsqueeze(0), t.unsqueeze(0), e, t)
    check_view(e.unsqueeze(-1), t.unsqueeze(-1), e, t)
    with pytest.raises(IndexError, match=r"expected to be in range of \[-3, 2\], but got 3"):
        ember.zeros(2, 3).unsqueeze(3)


@pytest.mark.parametrize("shape,size", [
    ((2, 1), (2, 4)), ((1, 3), (4, 1, 3)), ((1, 3), (4, 2, 3)), ((1, 3), (1, 1, 3)), ((), (2, 3)), ((), (1, 1)),
    ((3, 1), (-1, 5)), ((2, 3), (1, 1, 2, 3)), ((1, 3), (0, 3)), ((2, 3), (0, 2, 3)), ((1,), (3,)),
    ((2, 1, 1), (2, 1, 4)),
])
def test_expand(shape, size):
    e, t = bases(shape)
    check_view(e.expand(*size), t.expand(*size), e, t)
    check_view(e.expand(size), t.expand(size), e, t)
    check_view(ember.broadcast_to(e, size), torch.broadcast_to(t, size), e, t)
    other_e, other_t = ember.zeros([s if s >= 0 else shape[i - len(size) + len(shape)] for i, s in enumerate(size)]), \
        torch.zeros([s if s >= 0 else shape[i - len(size) + len(shape)] for i, s in enumerate(size)])
    check_view(e.expand_as(other_e), t.expand_as(other_t), e, t)


def test_expand_strided_base():
    e, t = bases((3, 1), "strided")
    check_view(e.expand(2, 3, 4), t.expand(2, 3, 4), e, t)


@pytest.mark.parametrize("shape,size,message", [
    ((2, 3), (2, 4), r"The expanded size of the tensor \(4\) must match the existing size \(3\) at non-singleton "
                     r"dimension 1.  Target sizes: \[2, 4\].  Tensor sizes: \[2, 3\]"),
    ((2, 3), (3,), r"expand\(ember.FloatTensor\{\[2, 3\]\}, size=\[3\]\): the number of sizes provided \(1\) must be "
                   r"greater or equal to the number of dimensions in the tensor \(2\)"),
    ((2, 3), (-1, 2, 3), r"The expanded size of the tensor \(-1\) isn't allowed in a leading, non-existing "
                         r"dimension 0"),
    ((2, 1), (2, -2), r"Trying to create tensor with negative dimension -2: \[2, -2\]"),
])
def test_expand_errors(shape, size, message):
    with pytest.raises(RuntimeError, match=message):
        ember.zeros(shape).expand(size)


def test_writing_through_expanded_view_is_refused():
    with pytest.raises(RuntimeError, match="more than one element of the written-to tensor refers to a single"):
        ember.zeros(1, 3).expand(2, 3).fill_(1.0)


# ----- flatten / unflatten ---------------------------------------------------------------------------
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("start,end", [(0, -1), (1, 2), (0, 1), (-2, -1), (1, 1), (2, 2)])
def test_flatten(layout, start, end):
    e, t = bases((2, 3, 4), layout)
    e_r, t_r = ember.flatten(e, start, end), torch.flatten(t, start, end)
    assert_close(e_r, t_r)
    assert e_r.stride() == t_r.stride()
    assert shares(e_r, e) == same_storage(t_r, t)
    assert_close(e.flatten(start_dim=start, end_dim=end), t_r)


def test_flatten_0d_empty_ravel_and_errors():
    e, t = bases(())
    check_view(e.flatten(), t.flatten(), e, t)
    e, t = bases((2, 0, 3))
    check_view(e.flatten(), t.flatten(), e, t)
    for layout in LAYOUTS:
        e, t = bases((2, 3), layout)
        assert_close(ember.ravel(e), torch.ravel(t))
        assert e.ravel().stride() == t.ravel().stride() and shares(e.ravel(), e) == same_storage(t.ravel(), t)
    with pytest.raises(RuntimeError, match=r"flatten\(\) has invalid args: start_dim cannot come after end_dim"):
        ember.zeros(2, 3).flatten(1, 0)


@pytest.mark.parametrize("dim,sizes", [(1, (2, 2)), (-1, (-1, 2)), (0, (1, 3)), (0, (3, 1)), (1, (4,)),
                                       (1, [1, -1, 1])])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_unflatten(dim, sizes, layout):
    e, t = bases((3, 4), layout)
    check_view(e.unflatten(dim, sizes), t.unflatten(dim, sizes), e, t)
    check_view(ember.unflatten(e, dim, sizes), torch.unflatten(t, dim, sizes), e, t)


@pytest.mark.parametrize("sizes,message", [
    ((), "unflatten: sizes must be non-empty"),
    ((2, 2), r"unflatten: Provided sizes \[2, 2\] don't multiply up to the size of dim 1 \(3\) in the input tensor"),
    ((-1, 4), r"unflatten: Provided sizes \[-1, 4\] don't multiply up to the size of dim 1 \(3\)"),
    ((-1, -1), "unflatten: only one dimension can be inferred"),
    ((3, -2), r"unflatten: invalid shape dimension -2 at index 1 of shape \[3, -2\]"),
])
def test_unflatten_errors(sizes, message):
    with pytest.raises(RuntimeError, match=message):
        ember.zeros(2, 3).unflatten(1, sizes)


# ----- narrow / select / diagonal / unfold / as_strided ----------------------------------------------
@pytest.mark.parametrize("dim,start,length", [(0, 0, 2), (1, 1, 2), (-1, -3, 2), (1, 3, 0), (2, 4, 0), (0, 1, 1)])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_narrow(dim, start, length, layout):
    e, t = bases((3, 3, 4), layout)
    check_view(e.narrow(dim, start, length), t.narrow(dim, start, length), e, t)
    check_view(ember.narrow(e, dim, ember.tensor(start), length),
               torch.narrow(t, dim, torch.tensor(start), length), e, t)


@pytest.mark.parametrize("args,error,message", [
    ((1, 2, 2), RuntimeError, r"start \(2\) \+ length \(2\) exceeds dimension size \(3\)\."),
    ((1, 4, 0), IndexError, r"start out of range \(expected to be in range of \[-3, 3\], but got 4\)"),
    ((1, -4, 1), IndexError, r"start out of range \(expected to be in range of \[-3, 3\], but got -4\)"),
    ((1, 0, -1), RuntimeError, r"narrow\(\): length must be non-negative\."),
    ((2, 0, 1), IndexError, "Dimension out of range"),
])
def test_narrow_errors(args, error, message):
    with pytest.raises(error, match=message):
        ember.zeros(2, 3).narrow(*args)


def test_narrow_0d_and_float_start_error():
    with pytest.raises(RuntimeError, match=r"narrow\(\) cannot be applied to a 0-dim tensor\."):
        ember.zeros(()).narrow(0, 0, 1)
    with pytest.raises(TypeError, match=r"narrow\(\): argument 'start' must be int, not float"):
        ember.zeros(3).narrow(0, 1.0, 1)


@pytest.mark.parametrize("dim,index", [(0, 0), (0, -1), (1, 2), (-1, 3), (2, -4)])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_select(dim, index, layout):
    e, t = bases((2, 3, 4), layout)
    check_view(e.select(dim, index), t.select(dim, index), e, t)
    check_view(ember.select(e, dim, index), torch.select(t, dim, index), e, t)


def test_select_errors():
    with pytest.raises(IndexError, match=r"select\(\): index 2 out of range for tensor of size \[2, 3\] at "
                                         "dimension 0"):
        ember.zeros(2, 3).select(0, 2)
    with pytest.raises(IndexError, match=r"select\(\): index -4 out of range for tensor of size \[2, 3\] at "
                                         "dimension 1"):
        ember.zeros(2, 3).select(1, -4)
    with pytest.raises(IndexError, match=r"select\(\) cannot be applied to a 0-dim tensor\."):
        ember.zeros(()).select(0, 0)


@pytest.mark.parametrize("offset,dim1,dim2", [(0, 0, 1), (1, 0, 1), (-1, 0, 1), (2, 1, 2), (-2, 2, 0), (5, 0, 1),
                                              (-5, 0, 1), (0, -1, -2), (3, 1, 2)])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_diagonal(offset, dim1, dim2, layout):
    e, t = bases((3, 4, 5), layout)
    check_view(e.diagonal(offset, dim1, dim2), t.diagonal(offset, dim1, dim2), e, t)
    check_view(ember.diagonal(e, offset=offset, dim1=dim1, dim2=dim2),
               torch.diagonal(t, offset=offset, dim1=dim1, dim2=dim2), e, t)


def test_diagonal_errors():
    with pytest.raises(RuntimeError, match="diagonal dimensions cannot be identical 0, 0"):
        ember.zeros(2, 3).diagonal(0, 0, 0)
    with pytest.raises(IndexError, match="Dimension out of range"):
        ember.zeros(3).diagonal()


@pytest.mark.parametrize("shape,args", [((2, 5), (1, 2, 1)), ((2, 5), (1, 2, 2)), ((2, 5), (0, 1, 1)),
                                        ((2, 5), (-1, 5, 3)), ((2, 5), (1, 0, 1)), ((), (0, 1, 1)), ((0, 3), (0, 0, 1)),
                                        ((4,), (0, 3, 1))])
@pytest.mark.parametrize("layout", ["contiguous", "strided"])
def test_unfold(shape, args, layout):
    e, t = bases(shape, layout)
    check_view(e.unfold(*args), t.unfold(*args), e, t)


@pytest.mark.parametrize("args,message", [((1, 4, 1), "maximum size for tensor at dimension 1 is 3 but size is 4"),
                                          ((1, 2, 0), "step is 0 but must be > 0"),
                                          ((1, 2, -1), "step is -1 but must be > 0"),
                                          ((1, -1, 1), "size is -1 but must be >= 0")])
def test_unfold_errors(args, message):
    with pytest.raises(RuntimeError, match=message):
        ember.zeros(2, 3).unfold(*args)


@pytest.mark.parametrize("size,stride,offset", [((3, 3), (1, 1), None), ((2, 2), (3, 1), 1), ((4,), (0,), 2),
                                                ((6,), (1,), 0), ((2, 0), (7, 100), 6), ((), (), 5)])
def test_as_strided(size, stride, offset):
    e, t = bases((2, 3))
    check_view(e.as_strided(size, stride, offset), t.as_strided(size, stride, offset), e, t)
    check_view(ember.as_strided(e, size, stride, offset), torch.as_strided(t, size, stride, offset), e, t)


def test_as_strided_default_offset_is_the_inputs():
    e, t = bases((2, 3))
    check_view(e.select(0, 1).as_strided((2,), (1,)), t.select(0, 1).as_strided((2,), (1,)), e, t)


@pytest.mark.parametrize("size,stride,offset,message", [
    ((2,), (1,), 5, r"setStorage: sizes \[2\], strides \[1\], storage offset 5, and itemsize 4 requiring a storage "
                    r"size of 28 are out of bounds for storage of size 24"),
    ((3, 3), (3, 1), 0, "out of bounds for storage of size 24"),
    ((3,), (-1,), 0, r"as_strided: Negative strides are not supported at the moment, got strides: \[-1\]"),
    ((2,), (1,), -1, "Tensor: invalid storage offset -1"),
    ((2, 2), (1,), 0, "mismatch in length of strides and shape"),
    ((-1,), (1,), 0, "Trying to create tensor with negative dimension -1"),
])
def test_as_strided_errors(size, stride, offset, message):
    with pytest.raises(RuntimeError, match=message):
        ember.zeros(2, 3).as_strided(size, stride, offset)


# ----- split / chunk / unbind / tensor_split ---------------------------------------------------------
def check_views(e_views, t_views, e_base, t_base) -> None:
    assert isinstance(e_views, tuple) and len(e_views) == len(t_views)
    for e_v, t_v in zip(e_views, t_views, strict=True):
        check_view(e_v, t_v, e_base, t_base)


@pytest.mark.parametrize("split,dim", [(2, 0), (3, 1), (1, -1), (10, 0), ([1, 4], 0), ((2, 0, 1), 1), ([4], -1)])
@pytest.mark.parametrize("layout", ["contiguous", "strided"])
def test_split(split, dim, layout):
    e, t = bases((5, 3, 4), layout)
    check_views(ember.split(e, split, dim), torch.split(t, split, dim), e, t)
    check_views(e.split(split, dim=dim), t.split(split, dim=dim), e, t)


def test_split_of_empty_dim():
    e, t = bases((0, 3))
    check_views(e.split(0), t.split(0), e, t)
    check_views(e.split(2), t.split(2), e, t)


@pytest.mark.parametrize("args,message", [
    ((0,), "split_size can only be 0 if dimension size is 0, but got dimension size of 2"),
    ((-1,), "split expects split_size be non-negative, but got split_size=-1"),
    (([1, 3],), r"split_with_sizes expects split_sizes to sum exactly to 2 \(input tensor's size at dimension 0\), but "
                r"got split_sizes=\[1, 3\]"),
    (([1, -1, 2], 1), r"split_with_sizes expects split_sizes have only non-negative entries, but got "
                      r"split_sizes=\[1, -1, 2\]"),
])
def test_split_errors(args, message):
    with pytest.raises(RuntimeError, match=message):
        ember.zeros(2, 3).split(*args)
    with pytest.raises(RuntimeError, match="split expects at least a 1-dimensional tensor"):
        ember.zeros(()).split(1)


@pytest.mark.parametrize("shape,chunks,dim", [((5,), 3, 0), ((6,), 4, 0), ((5,), 5, 0), ((2, 7), 3, 1), ((0, 3), 3, 0),
                                              ((0,), 2, 0), ((3,), 10, 0), ((4, 3), 2, -1)])
def test_chunk(shape, chunks, dim):
    e, t = bases(shape, "strided")
    check_views(e.chunk(chunks, dim), t.chunk(chunks, dim), e, t)
    check_views(ember.chunk(e, chunks, dim=dim), torch.chunk(t, chunks, dim=dim), e, t)


def test_chunk_errors():
    with pytest.raises(RuntimeError, match="chunk expects `chunks` to be greater than 0, got: 0"):
        ember.zeros(3).chunk(0)
    with pytest.raises(RuntimeError, match="chunk expects at least a 1-dimensional tensor"):
        ember.zeros(()).chunk(1)


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_unbind(dim, layout):
    e, t = bases((2, 3, 4), layout)
    check_views(e.unbind(dim), t.unbind(dim), e, t)
    check_views(ember.unbind(e, dim=dim), torch.unbind(t, dim=dim), e, t)


def test_unbind_errors_and_empty():
    e, t = bases((0, 3))
    assert e.unbind(0) == () and len(t.unbind(0)) == 0
    check_views(e.unbind(1), t.unbind(1), e, t)
    with pytest.raises(IndexError, match="Dimension specified as 0 but tensor has no dimensions"):
        ember.zeros(()).unbind()
    with pytest.raises(IndexError, match="Dimension out of range"):
        ember.zeros(2, 3).unbind(2)


def test_len_and_iteration():
    e, t = bases((3, 2), "strided")
    assert len(e) == 3
    rows = list(e)
    check_views(tuple(rows), tuple(t), e, t)
    assert [float(x) for x in ember.tensor([1.0, 2.0])] == [1.0, 2.0]
    with pytest.raises(TypeError, match="len\\(\\) of a 0-d tensor"):
        len(ember.zeros(()))
    with pytest.raises(TypeError, match="iteration over a 0-d tensor"):
        iter(ember.zeros(()))


@pytest.mark.parametrize("spec", [3, 1, 7, 10, [1, 5, 3, 9, -1], (2,), [], [0, 0], "tensor0d", "tensor1d"])
@pytest.mark.parametrize("dim", [0, -1])
def test_tensor_split(spec, dim):
    e, t = bases((7,) if dim == 0 else (2, 7), "strided")
    e_spec, t_spec = spec, spec
    if spec == "tensor0d":
        e_spec, t_spec = ember.tensor(3), torch.tensor(3)
    elif spec == "tensor1d":
        e_spec, t_spec = ember.tensor([2, 3]), torch.tensor([2, 3])
    check_views(ember.tensor_split(e, e_spec, dim), torch.tensor_split(t, t_spec, dim), e, t)
    check_views(e.tensor_split(e_spec, dim=dim), t.tensor_split(t_spec, dim=dim), e, t)


def test_tensor_split_errors():
    with pytest.raises(RuntimeError, match="number of sections must be larger than 0, got 0"):
        ember.zeros(3).tensor_split(0)
    with pytest.raises(RuntimeError, match="tensor_split expected at least a 1-dimensional tensor, but got a tensor "
                                           "with 0 dims"):
        ember.zeros(()).tensor_split(1)
    with pytest.raises(RuntimeError, match="tensor_split expected tensor_indices_or_sections to have dtype of long, "
                                           "but got Float"):
        ember.zeros(3).tensor_split(ember.tensor([1.0]))


@pytest.mark.parametrize("shape", [(), (3,), (2, 3), (2, 3, 4)])
def test_atleast_nd(shape):
    e, t = bases(shape)
    for fn in ("atleast_1d", "atleast_2d", "atleast_3d"):
        check_view(getattr(ember, fn)(e), getattr(torch, fn)(t), e, t)
    pair_e = ember.atleast_2d(e, e)
    assert isinstance(pair_e, tuple) and len(pair_e) == 2 and pair_e[0].shape == torch.atleast_2d(t).shape
    assert ember.atleast_3d([e])[0].shape == torch.atleast_3d([t])[0].shape


# ----- in-place metadata ops -------------------------------------------------------------------------
@pytest.mark.parametrize("op,args", [("t_", ()), ("transpose_", (0, 1)), ("squeeze_", ()), ("squeeze_", (1,)),
                                     ("unsqueeze_", (0,)), ("unsqueeze_", (-1,))])
def test_metadata_inplace_ops(op, args):
    e, t = bases((2, 3) if op == "t_" else (3, 1, 2), "strided")
    e.numpy()  # caches the array of the old geometry, which the op must drop
    same = getattr(e, op)(*args)
    getattr(t, op)(*args)
    assert same is e
    assert_close(e, t)
    assert e.stride() == t.stride() and e.numpy().shape == tuple(t.shape)


def test_metadata_inplace_errors():
    with pytest.raises(RuntimeError, match="t\\(\\) expects a tensor with <= 2 dimensions"):
        ember.zeros(2, 3, 4).t_()


# ----- writing through views, dtypes ------------------------------------------------------------------
VIEW_CHAINS = [
    lambda x: x.transpose(0, 2).narrow(0, 1, 2),
    lambda x: x.select(1, 2).unsqueeze(0),
    lambda x: x.diagonal(0, 1, 2),
    lambda x: x.permute(2, 0, 1).reshape(4, 6).narrow(0, 1, 1),
    lambda x: x.unfold(2, 2, 2).select(-1, 1),
    lambda x: x.view(6, 4).t().unflatten(0, (2, 2)),
    lambda x: x.chunk(2, 2)[1].squeeze(),
]


@pytest.mark.parametrize("chain", range(len(VIEW_CHAINS)))
def test_writes_through_views_show_in_base(chain):
    e, t = bases((2, 3, 4))
    e_v, t_v = VIEW_CHAINS[chain](e), VIEW_CHAINS[chain](t)
    check_view(e_v, t_v, e, t)
    e_v.fill_(-7.0)
    t_v.fill_(-7.0)
    assert_close(e, t)
    e_v.copy_(ember.from_numpy(np.arange(e_v.numel(), dtype=np.float32).reshape(e_v.shape)))
    t_v.copy_(torch.arange(t_v.numel(), dtype=torch.float32).reshape(t_v.shape))
    assert_close(e, t)


@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_views_keep_dtype(dtype):
    arr = (np.arange(24) % 2 == 0) if dtype is ember.bool else np.arange(24).astype(dtype.np_dtype)
    e = ember.from_numpy(arr.reshape(2, 3, 4))
    t = torch.from_numpy(np.asarray(arr, dtype=np.float32).reshape(2, 3, 4)).to(DTYPES[dtype])
    for chain in VIEW_CHAINS:
        e_v, t_v = chain(e), chain(t)
        assert e_v.dtype is dtype and e_v.stride() == t_v.stride()
        assert_close(e_v, t_v)


# ----- property: random chains of views --------------------------------------------------------------
@st.composite
def view_step(draw, shape: tuple):
    """One view op that is valid for ``shape``, as (name, args)."""
    n = len(shape)
    choices = ["unsqueeze", "expand", "reshape"]
    if n:
        choices += ["transpose", "permute", "narrow", "select", "squeeze", "flatten", "movedim"]
    if n >= 2:
        choices += ["diagonal"]
    op = draw(st.sampled_from(choices))
    dim = st.integers(-n, n - 1) if n else st.just(0)
    if op == "transpose":
        return op, (draw(dim), draw(dim))
    if op == "permute":
        return op, tuple(draw(st.permutations(range(n))))
    if op == "unsqueeze":
        return op, (draw(st.integers(-n - 1, n)),)
    if op == "squeeze":
        return op, draw(st.one_of(st.just(()), dim.map(lambda d: (d,))))
    if op == "narrow":
        d = draw(dim)
        start = draw(st.integers(0, shape[d]))
        return op, (d, start, draw(st.integers(0, shape[d] - start)))
    if op == "select":
        d = draw(dim.filter(lambda i: shape[i] > 0))
        return op, (d, draw(st.integers(-shape[d], shape[d] - 1)))
    if op == "expand":
        lead = tuple(draw(st.lists(st.integers(0, 3), max_size=2)))
        return op, (lead + tuple(draw(st.integers(1, 3)) if s == 1 else draw(st.sampled_from([s, -1])) for s in shape),)
    if op == "reshape":
        total = int(np.prod(shape, dtype=int))
        sizes = [s for s in range(1, 7) if total % s == 0] if total else [0]
        first = draw(st.sampled_from(sizes))
        return op, ((first, -1) if total else (first, draw(st.integers(0, 3))),)
    if op == "flatten":
        a, b = sorted((draw(st.integers(0, n - 1)), draw(st.integers(0, n - 1))))
        return op, (a, b)
    if op == "movedim":
        return op, (draw(dim), draw(dim))
    return op, (draw(st.integers(-2, 2)), *draw(st.permutations(range(n)))[:2])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), shape=st.lists(st.integers(0, 4), max_size=4).map(tuple),
       layout=st.sampled_from(LAYOUTS))
def test_random_view_chains_match_torch(data, shape, layout):
    e_base, t_base = bases(shape, layout)
    e, t = e_base, t_base
    for _ in range(data.draw(st.integers(1, 6))):
        if e.numel() > 4096:
            break
        op, args = data.draw(view_step(tuple(e.shape)))
        e, t = getattr(e, op)(*args), getattr(t, op)(*args)
        assert_close(e, t)
        assert e.stride() == t.stride(), f"{op}{args}: stride {e.stride()} != {t.stride()}"
        assert e.storage_offset() == t.storage_offset()
    if not t_base.numel():
        return
    t_shares = same_storage(t, t_base)
    assert shares(e, e_base) == t_shares
    if t_shares and e.numel():
        itemsize = e.element_size()
        assert (e.data_ptr() - e_base.data_ptr()) // itemsize == (t.data_ptr() - t_base.data_ptr()) // itemsize
        if all(st_ or sz <= 1 for sz, st_ in zip(e.shape, e.stride(), strict=True)):
            e.fill_(-1.0)
            t.fill_(-1.0)
            assert_close(e_base, t_base)
