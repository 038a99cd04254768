"""ember.device parsing, and the refusal of CUDA tensors while ember has no CUDA backend."""

from __future__ import annotations

import pytest

import ember
from tests.oracle import torch


@pytest.mark.parametrize("spec", ["cpu", "cuda", "cuda:0", "cuda:3", "cpu:0", "cpu:1"])
def test_device_parsing_matches_torch(spec):
    e, t = ember.device(spec), torch.device(spec)
    assert (e.type, e.index) == (t.type, t.index)
    assert repr(e) == repr(t)
    assert str(e) == str(t)


def test_device_type_and_index_form():
    assert ember.device("cuda", 1) == ember.device("cuda:1")
    assert ember.device("cpu") == "cpu"
    assert ember.device(ember.device("cuda:2")).index == 2
    assert len({ember.device("cpu"), ember.device("cpu")}) == 1


@pytest.mark.parametrize("spec", ["gpu", "cuda:x", "cuda:-1", ""])
def test_bad_device_strings_are_runtime_errors(spec):
    with pytest.raises(RuntimeError):
        torch.device(spec)
    with pytest.raises(RuntimeError):
        ember.device(spec)


def test_device_argument_type_error():
    with pytest.raises(TypeError, match="expected a string or device"):
        ember.device(3.5)


def test_cpu_tensors_report_their_device():
    t = ember.zeros(2)
    assert t.device == ember.device("cpu") and t.is_cpu and not t.is_cuda
    assert t.cpu() is t


@pytest.mark.parametrize("make", [
    lambda: ember.zeros(2, device="cuda"),
    lambda: ember.tensor([1.0], device="cuda:0"),
    lambda: ember.zeros(2).cuda(),
    lambda: ember.zeros(2).to("cuda"),
    lambda: ember.ones(3, device=ember.device("cuda", 1)),
])
def test_cuda_tensors_are_refused_with_a_clear_error(make):
    with pytest.raises(RuntimeError, match="device 'cuda' is not supported by this build of ember"):
        make()
