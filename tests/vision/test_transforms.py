"""Transforms against torchvision's documented semantics, computed with torch ops or by hand (no torchvision)."""

from __future__ import annotations

import numpy as np
import pytest

import ember
from ember.vision import transforms as T
from ember.vision.transforms import functional as F
from tests.oracle import assert_close, from_torch, torch


def _uint8_image(*shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


# ---------------------------------------------------------------- ToTensor


@pytest.mark.parametrize("shape", [(5, 7), (5, 7, 3), (4, 4, 1)])
def test_to_tensor_scales_uint8_to_chw_floats(shape):
    image = _uint8_image(*shape)
    expected = torch.from_numpy(image if image.ndim == 3 else image[:, :, None]).permute(2, 0, 1).float().div(255)
    result = T.ToTensor()(image)
    assert result.dtype == ember.float32 and result.is_contiguous()
    assert_close(result, expected)


def test_to_tensor_follows_the_default_dtype_and_keeps_other_arrays():
    ember.set_default_dtype(ember.float64)
    assert T.ToTensor()(_uint8_image(2, 2)).dtype == ember.float64
    floats = np.random.default_rng(1).standard_normal((3, 4, 2))
    assert_close(T.ToTensor()(floats), torch.from_numpy(floats).permute(2, 0, 1))
    ints = np.arange(6, dtype=np.int32).reshape(2, 3)
    assert T.ToTensor()(ints).dtype == ember.int32 and T.ToTensor()(ints).tolist() == [[[0, 1, 2], [3, 4, 5]]]
    big_endian = floats.astype(">f8")
    assert_close(T.ToTensor()(big_endian), torch.from_numpy(floats).permute(2, 0, 1))
    tensor = ember.rand(1, 3, 3)
    assert T.ToTensor()(tensor) is tensor


def test_to_tensor_errors():
    with pytest.raises(TypeError, match="pic should be an ndarray or an ember Tensor. Got <class 'list'>"):
        T.ToTensor()([[1, 2]])
    with pytest.raises(ValueError, match="pic should be 2/3 dimensional. Got 4 dimensions."):
        T.ToTensor()(np.zeros((1, 2, 2, 3), np.uint8))


# ---------------------------------------------------------------- Normalize


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(3, 4, 5), (2, 3, 4, 5)])
def test_normalize_matches_torch(dtype, shape):
    x = np.random.default_rng(2).standard_normal(shape).astype(dtype)
    mean, std = (0.485, 0.456, 0.406), [0.229, 0.224, 0.225]
    t = torch.from_numpy(x)
    expected = (t - torch.tensor(mean, dtype=t.dtype)[:, None, None]) / torch.tensor(std, dtype=t.dtype)[:, None, None]
    source = ember.from_numpy(x.copy())
    result = T.Normalize(mean, std)(source)
    assert_close(result, expected)
    assert_close(source, t)  # not in place by default


def test_normalize_inplace_and_scalar_statistics():
    y = torch.rand(1, 2, 2)
    x = from_torch(y)
    result = T.Normalize(0.5, 0.25, inplace=True)(x)
    assert result is x
    assert_close(x, (y - 0.5) / 0.25)
    assert_close(T.Normalize(0.5, 0.25, inplace=True)(from_torch(y)), (y - 0.5) / 0.25)  # statistics reused intact
    assert_close(T.Normalize([0.5], [0.25])(from_torch(y)), (y - 0.5) / 0.25)


def test_normalize_statistics_as_tensors_and_edited_lists():
    y = torch.rand(2, 3, 3, dtype=torch.float64)
    mean, std = [0.1, 0.2], [0.5, 2.0]
    normalize = T.Normalize(mean, std)
    normalize(from_torch(y))
    mean[1] = 0.7  # the transform holds the list: later calls see the edit
    expected = (y - torch.tensor(mean, dtype=y.dtype)[:, None, None]) / torch.tensor(std, dtype=y.dtype)[:, None, None]
    assert_close(normalize(from_torch(y)), expected)
    as_tensors = T.Normalize(ember.tensor(mean, dtype=ember.float64), ember.tensor(std, dtype=ember.float64))
    assert_close(as_tensors(from_torch(y)), expected)


def test_normalize_errors_and_repr():
    with pytest.raises(TypeError, match="Input tensor should be a float tensor. Got ember.uint8."):
        T.Normalize([0.5], [0.5])(ember.zeros(1, 2, 2, dtype=ember.uint8))
    with pytest.raises(ValueError, match=r"Expected tensor to be a tensor image of size \(..., C, H, W\)"):
        T.Normalize([0.5], [0.5])(ember.zeros(2, 2))
    with pytest.raises(ValueError, match="std evaluated to zero after conversion to ember.float32"):
        T.Normalize([0.5], [0.0])(ember.zeros(1, 2, 2))
    with pytest.raises(TypeError, match="img should be Tensor Image"):
        T.Normalize([0.5], [0.5])(np.zeros((1, 2, 2)))
    assert repr(T.Normalize((0.1307,), (0.3081,))) == "Normalize(mean=(0.1307,), std=(0.3081,))"


# ---------------------------------------------------------------- Pad


_SIDES = [(1, 2, 3, 1), (2, 0, 0, 1)]


@pytest.mark.parametrize("sides", _SIDES)
@pytest.mark.parametrize("mode, torch_mode", [("constant", "constant"), ("edge", "replicate"),
                                              ("reflect", "reflect")])
def test_pad_tensor_matches_torch_pad(sides, mode, torch_mode):
    image = torch.from_numpy(np.random.default_rng(3).standard_normal((2, 4, 5)).astype(np.float32))
    left, top, right, bottom = sides
    expected = torch.nn.functional.pad(image, [left, right, top, bottom], mode=torch_mode)
    assert_close(F.pad(from_torch(image), list(sides), padding_mode=mode), expected)


def test_pad_symmetric_by_hand():
    row = np.array([[1, 2, 3]], dtype=np.uint8)
    assert F.pad(row, [2, 0, 1, 0], padding_mode="symmetric").tolist() == [[2, 1, 1, 2, 3, 3]]
    assert F.pad(ember.from_numpy(row), [2, 0, 1, 0], padding_mode="symmetric").tolist() == [[2, 1, 1, 2, 3, 3]]
    assert F.pad(row, [2, 0, 1, 0], padding_mode="reflect").tolist() == [[3, 2, 1, 2, 3, 2]]


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "symmetric"])
@pytest.mark.parametrize("shape", [(4, 5), (4, 5, 3)])
def test_pad_arrays_and_tensors_agree(mode, shape):
    image = _uint8_image(*shape, seed=4)
    fill = 9 if mode == "constant" else 0
    padded = F.pad(image, [2, 1], fill=fill, padding_mode=mode)
    assert padded.shape[:2] == (shape[0] + 2, shape[1] + 4) and padded.dtype == np.uint8
    assert np.array_equal(padded[1:-1, 2:-2], image) and (mode != "constant" or padded[0, 0].max() == 9)
    chw = ember.from_numpy(np.ascontiguousarray(np.atleast_3d(image).transpose(2, 0, 1)))
    as_tensor = F.pad(chw, [2, 1], fill=fill, padding_mode=mode)
    np.testing.assert_array_equal(np.atleast_3d(padded).transpose(2, 0, 1), as_tensor.numpy())


def test_pad_fill_per_channel_and_repr():
    image = np.zeros((1, 1, 3), np.uint8)
    padded = T.Pad(1, fill=(10, 20, 30))(image)
    assert padded[0, 0].tolist() == [10, 20, 30] and padded[1, 1].tolist() == [0, 0, 0]
    assert repr(T.Pad([1, 2], padding_mode="edge")) == "Pad(padding=[1, 2], fill=0, padding_mode=edge)"


def test_pad_errors():
    with pytest.raises(ValueError, match="Padding must be an int or a 1, 2, or 4 element tuple, not a 3 element"):
        T.Pad((1, 2, 3))
    with pytest.raises(ValueError, match="Padding mode should be either constant, edge, reflect or symmetric"):
        T.Pad(1, padding_mode="wrap")
    with pytest.raises(TypeError, match="Got inappropriate padding arg"):
        T.Pad("1")
    with pytest.raises(TypeError, match="Got inappropriate fill arg"):
        T.Pad(1, fill="red")
    with pytest.raises(ValueError, match="padding values must be non-negative"):
        T.Pad(-1)
    with pytest.raises(TypeError, match="fill of a tensor image must be a number"):
        T.Pad(1, fill=(1, 2, 3))(ember.zeros(3, 2, 2))
    with pytest.raises(ValueError, match="one value per channel"):
        T.Pad(1, fill=(1, 2))(np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(TypeError, match="img should be an ember Tensor or a NumPy ndarray"):
        F.pad([[1]], 1)


# ---------------------------------------------------------------- RandomCrop


def _drawn_offsets(seed, height_range, width_range):
    ember.manual_seed(seed)
    return ember.randint(0, height_range, size=(1,)).item(), ember.randint(0, width_range, size=(1,)).item()


@pytest.mark.parametrize("as_tensor", [False, True])
def test_random_crop_draws_like_torchvision(as_tensor):
    image = _uint8_image(10, 12, 3, seed=5)
    source = ember.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))) if as_tensor else image
    padded = np.pad(image, [(2, 2), (2, 2), (0, 0)])
    top, left = _drawn_offsets(11, 14 - 6 + 1, 16 - 8 + 1)
    ember.manual_seed(11)
    result = T.RandomCrop((6, 8), padding=2)(source)
    expected = padded[top:top + 6, left:left + 8]
    if as_tensor:
        expected = expected.transpose(2, 0, 1)
    np.testing.assert_array_equal(result.numpy() if as_tensor else result, expected)


def test_random_crop_is_reproducible_and_reaches_every_offset():
    crop = T.RandomCrop(8, padding=1)
    image = np.arange(64, dtype=np.uint8).reshape(8, 8)
    ember.manual_seed(0)
    first = [crop(image) for _ in range(5)]
    ember.manual_seed(0)
    second = [crop(image) for _ in range(5)]
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    ember.manual_seed(1)
    padded = np.pad(image, 1)
    offsets = set()
    for _ in range(200):
        out = crop(image)
        offsets |= {(i, j) for i in range(3) for j in range(3) if np.array_equal(padded[i:i + 8, j:j + 8], out)}
    assert offsets == {(i, j) for i in range(3) for j in range(3)}


def test_random_crop_same_size_draws_nothing():
    image = _uint8_image(4, 4)
    state = ember.get_rng_state()
    np.testing.assert_array_equal(T.RandomCrop(4)(image), image)
    assert ember.equal(ember.get_rng_state(), state)


def test_random_crop_pad_if_needed_and_errors():
    image = np.ones((3, 2), np.uint8)
    ember.manual_seed(0)
    out = T.RandomCrop((4, 5), pad_if_needed=True, fill=7)(image)
    assert out.shape == (4, 5) and set(np.unique(out).tolist()) == {1, 7} and (out == 1).sum() == 6
    with pytest.raises(ValueError, match=r"Required crop size \(4, 5\) is larger than input image size \(3, 2\)"):
        T.RandomCrop((4, 5))(image)
    with pytest.raises(ValueError, match=r"Please provide only two dimensions \(h, w\) for size."):
        T.RandomCrop((1, 2, 3))
    assert T.RandomCrop([5]).size == (5, 5)
    assert repr(T.RandomCrop(32, padding=4)) == "RandomCrop(size=(32, 32), padding=4)"


def test_crop_outside_the_image_is_zero():
    image = ember.ones(1, 2, 2)
    assert F.crop(image, -1, 1, 3, 2).tolist() == [[[0.0, 0.0], [1.0, 0.0], [1.0, 0.0]]]
    assert F.crop(np.ones((2, 2), np.uint8), 1, -1, 1, 2).tolist() == [[0, 1]]


# ---------------------------------------------------------------- RandomHorizontalFlip


def test_horizontal_flip_matches_torch_flip():
    t = torch.rand(2, 3, 4)
    assert_close(T.RandomHorizontalFlip(p=1.0)(from_torch(t)), torch.flip(t, dims=[-1]))
    image = _uint8_image(3, 4, 2)
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=1.0)(image), image[:, ::-1])
    assert T.RandomHorizontalFlip(p=0.0)(image) is image


def test_horizontal_flip_follows_the_global_generator():
    ember.manual_seed(7)
    decisions = [ember.rand(1).item() < 0.5 for _ in range(20)]
    assert any(decisions) and not all(decisions)
    ember.manual_seed(7)
    flip = T.RandomHorizontalFlip()
    image = np.arange(6, dtype=np.uint8).reshape(2, 3)
    flipped = [np.array_equal(flip(image), image[:, ::-1]) for _ in range(20)]
    assert flipped == decisions
    assert repr(flip) == "RandomHorizontalFlip(p=0.5)"


# ---------------------------------------------------------------- Compose, Lambda


def test_compose_applies_in_order_and_prints_like_torchvision():
    pipeline = T.Compose([T.RandomCrop(4, padding=2), T.RandomHorizontalFlip(), T.ToTensor(),
                          T.Normalize((0.5,), (0.5,)), T.Lambda(lambda x: x * 2)])
    assert repr(pipeline) == ("Compose(\n    RandomCrop(size=(4, 4), padding=2)\n    RandomHorizontalFlip(p=0.5)\n"
                              "    ToTensor()\n    Normalize(mean=(0.5,), std=(0.5,))\n    Lambda()\n)")
    ember.manual_seed(3)
    out = pipeline(_uint8_image(4, 4))
    assert out.shape == (1, 4, 4) and out.dtype == ember.float32
    assert float(out.min()) >= -2.0 and float(out.max()) <= 2.0
    added = T.Compose([T.Lambda(lambda x: x + [1]), T.Lambda(lambda x: x + [2])])
    assert added([0]) == [0, 1, 2]


def test_lambda_needs_a_callable():
    with pytest.raises(TypeError, match="Argument lambd should be callable, got 'int'"):
        T.Lambda(3)


def test_get_dimensions():
    assert F.get_dimensions(np.zeros((5, 6), np.uint8)) == [1, 5, 6]
    assert F.get_dimensions(np.zeros((5, 6, 3), np.uint8)) == [3, 5, 6]
    assert F.get_dimensions(ember.zeros(2, 3, 5, 6)) == [3, 5, 6]
    with pytest.raises(ValueError, match="ndarray image should be H x W or H x W x C"):
        F.get_dimensions(np.zeros(5))
