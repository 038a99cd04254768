"""PyTorch checkpoints written by torch.save (zip and legacy formats) read by ember.load without torch."""

from __future__ import annotations

import math
import pickle
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

import ember
from tests.oracle import ALL_DTYPES, DTYPES, TORCH_TO_EMBER, to_torch, torch

FORMATS = {"zip": True, "legacy": False}


def save_torch(obj, path, fmt="zip"):
    torch.save(obj, path, _use_new_zipfile_serialization=FORMATS[fmt])
    return path


def assert_same(e: ember.Tensor, t: torch.Tensor) -> None:
    assert isinstance(e, ember.Tensor), type(e)
    assert e.dtype is TORCH_TO_EMBER[t.dtype] and tuple(e.shape) == tuple(t.shape)
    assert e.stride() == t.stride() and e.storage_offset() == t.storage_offset()
    assert e.requires_grad == t.requires_grad
    assert np.asarray(e.detach().numpy()).tobytes() == to_torch_bytes(t)


def to_torch_bytes(t: torch.Tensor) -> bytes:
    t = t.detach()
    if t.dtype is torch.bfloat16:
        t = t.view(torch.int16)
    return t.numpy().tobytes()


class TorchNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.bn = torch.nn.BatchNorm2d(4)
        self.fc = torch.nn.Linear(4, 2)
        self.fc.weight = torch.nn.Parameter(self.fc.weight.detach().t().contiguous().t())  # non-contiguous param


@pytest.mark.parametrize("fmt", FORMATS)
def test_state_dict_keys_values_dtypes_and_metadata(tmp_path, fmt):
    net = TorchNet()
    sd = net.state_dict()
    loaded = ember.load(save_torch(sd, tmp_path / "net.pt", fmt))
    assert type(loaded) is OrderedDict and list(loaded) == list(sd)
    for key, value in sd.items():
        assert_same(loaded[key], value)
    assert loaded["bn.num_batches_tracked"].dtype is ember.int64
    assert loaded._metadata == sd._metadata


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_dtype(tmp_path, fmt):
    rng = np.random.default_rng(0)
    tensors = {d.name: to_torch(ember.from_numpy(np.asarray(rng.uniform(-100, 100, (2, 3))).astype(
        np.float32 if d is ember.bfloat16 else d.np_dtype))).to(DTYPES[d]) for d in ALL_DTYPES}
    tensors["bool"] = torch.tensor([[True, False, True], [False, False, True]])
    tensors["scalar"] = torch.tensor(2.5, dtype=torch.float64)
    tensors["empty"] = torch.zeros(0, 4, dtype=torch.int16)
    loaded = ember.load(save_torch(tensors, tmp_path / "dtypes.pt", fmt))
    for name, t in tensors.items():
        assert_same(loaded[name], t)


@pytest.mark.parametrize("fmt", FORMATS)
def test_parameters_views_and_shared_storage(tmp_path, fmt):
    base = torch.arange(24.0).view(4, 6)
    obj = {"param": torch.nn.Parameter(torch.randn(3)), "frozen": torch.nn.Parameter(torch.ones(2), False),
           "base": base, "t": base.t(), "slice": base[1:, 2:5], "leaf": torch.ones(2, requires_grad=True),
           "tied": [base, base]}
    loaded = ember.load(save_torch(obj, tmp_path / "p.pt", fmt))
    assert isinstance(loaded["param"], ember.nn.Parameter) and loaded["param"].requires_grad
    assert isinstance(loaded["frozen"], ember.nn.Parameter) and not loaded["frozen"].requires_grad
    for name in ("param", "frozen", "base", "t", "slice", "leaf"):
        assert_same(loaded[name], obj[name])
    assert loaded["tied"][0] is loaded["tied"][1] is loaded["base"]
    loaded["base"][2, 3] = -1.0
    assert loaded["t"][3, 2].item() == -1.0 and loaded["slice"][1, 1].item() == -1.0


def test_bfloat16_values(tmp_path):
    t = torch.tensor([1.5, -2.25, 3e38, float("inf"), 1e-3], dtype=torch.bfloat16)
    loaded = ember.load(save_torch({"x": t}, tmp_path / "bf.pt"))["x"]
    assert loaded.dtype is ember.bfloat16
    np.testing.assert_array_equal(loaded.float().numpy(), t.float().numpy())


@pytest.mark.parametrize("fmt", FORMATS)
def test_plain_values(tmp_path, fmt):
    obj = {"epoch": 7, "lr": 1e-3, "nan": math.nan, "name": "run", "none": None, "tuple": (1, [2, 3]), 4: "int key",
           "size": torch.Size([2, 3]), "device": torch.device("cuda", 1), "dtype": torch.bfloat16, "bytes": b"\x00\xff",
           "set": {1, 2}, "big": 2**70}
    loaded = ember.load(save_torch(obj, tmp_path / "plain.pt", fmt))
    assert loaded["size"] == ember.Size([2, 3]) and type(loaded["size"]) is ember.Size
    assert loaded["device"] == ember.device("cuda:1") and loaded["dtype"] is ember.bfloat16
    assert math.isnan(loaded.pop("nan"))
    expected = {k: v for k, v in obj.items() if k not in ("nan", "size", "device", "dtype")}
    assert {k: loaded[k] for k in expected} == expected


def test_torch_optimizer_checkpoint_resumes_in_ember(tmp_path):
    t_params = [torch.nn.Parameter(torch.randn(3, 2)), torch.nn.Parameter(torch.randn(3))]
    t_opt = torch.optim.Adam(t_params, lr=0.01)
    for _ in range(2):
        t_opt.zero_grad()
        (t_params[0].sum() ** 2 + t_params[1].pow(2).sum()).backward()
        t_opt.step()
    state = ember.load(save_torch(t_opt.state_dict(), tmp_path / "opt.pt"))
    assert state["state"][0]["step"].item() == 2.0
    assert_same(state["state"][1]["exp_avg_sq"], t_opt.state_dict()["state"][1]["exp_avg_sq"])
    e_params = [ember.nn.Parameter(ember.tensor(p.detach().numpy())) for p in t_params]
    e_opt = ember.optim.Adam(e_params, lr=0.5)
    e_opt.load_state_dict(state)
    assert e_opt.param_groups[0]["lr"] == 0.01 and e_opt.param_groups[0]["betas"] == (0.9, 0.999)


def test_mmap(tmp_path):
    path = save_torch({"w": torch.arange(8.0)}, tmp_path / "m.pt")
    loaded = ember.load(path, mmap=True)
    loaded["w"][0] = 5.0
    assert loaded["w"].tolist()[:2] == [5.0, 1.0] and ember.load(path)["w"][0].item() == 0.0
    with pytest.raises(RuntimeError, match="mmap can only be used with files saved with"):
        ember.load(save_torch({"w": torch.ones(1)}, tmp_path / "legacy.pt", "legacy"), mmap=True)


def test_big_endian_checkpoint(tmp_path):
    path = save_torch({"w": torch.tensor([1.0, -2.5, 3.25]), "i": torch.tensor([1, 256], dtype=torch.int16)},
                      tmp_path / "le.pt")
    swapped = tmp_path / "be.pt"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(swapped, "w") as dst:
        widths = {"0": np.float32, "1": np.int16}
        for info in src.infolist():
            data = src.read(info)
            key = info.filename.rsplit("/", 1)[-1]
            if info.filename.endswith("/byteorder"):
                data = b"big"
            elif "/data/" in info.filename:
                data = np.frombuffer(data, widths[key]).byteswap().tobytes()
            dst.writestr(info, data)
    loaded = ember.load(swapped)
    assert loaded["w"].tolist() == [1.0, -2.5, 3.25] and loaded["i"].tolist() == [1, 256]


@pytest.mark.parametrize("fmt", FORMATS)
def test_whole_torch_module_is_refused_even_with_weights_only_false(tmp_path, fmt):
    path = save_torch(torch.nn.Linear(2, 2), tmp_path / "module.pt", fmt)
    with pytest.raises(pickle.UnpicklingError, match=r"refused global 'torch.nn.modules.linear.Linear'.*weights_only"):
        ember.load(path)
    with pytest.raises(pickle.UnpicklingError, match=r"refused global 'torch.nn.modules.linear.Linear'.*never "
                                                     r"imports torch: save a state_dict"):
        ember.load(path, weights_only=False)


def test_unsupported_dtype_is_named(tmp_path):
    path = save_torch({"z": torch.zeros(2, dtype=torch.complex64)}, tmp_path / "complex.pt")
    with pytest.raises(pickle.UnpicklingError, match=r"torch.ComplexFloatStorage.*no ember dtype"):
        ember.load(path)


def test_corrupt_and_truncated_torch_files(tmp_path):
    path = save_torch({"w": torch.arange(100.0)}, tmp_path / "ok.pt")
    data = path.read_bytes()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(RuntimeError, match="not a readable PyTorch checkpoint"):
        ember.load(truncated)
    start = data.index(np.arange(100.0, dtype=np.float32).tobytes())
    flipped = bytearray(data)
    flipped[start + 8] ^= 0xFF
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(bytes(flipped))
    with pytest.raises(RuntimeError, match="storage '0' is corrupt: Bad CRC-32"):
        ember.load(corrupt)
    missing = tmp_path / "missing.pt"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(missing, "w") as dst:
        for info in src.infolist():
            if "/data/" not in info.filename:
                dst.writestr(info, src.read(info))
    with pytest.raises(RuntimeError, match="storage '0' is missing from the archive"):
        ember.load(missing)
    legacy = save_torch({"w": torch.arange(100.0)}, tmp_path / "legacy.pt", "legacy").read_bytes()
    (tmp_path / "legacy_cut.pt").write_bytes(legacy[:-10])
    with pytest.raises(RuntimeError, match="truncated"):
        ember.load(tmp_path / "legacy_cut.pt")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_torchscript_archive_is_named(tmp_path):
    path = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), path)
    with pytest.raises(RuntimeError, match="is a TorchScript archive"):
        ember.load(path)
