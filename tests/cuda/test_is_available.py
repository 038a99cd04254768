"""ember.cuda.is_available asks the real driver and answers False, never crashes, without one."""

from __future__ import annotations

import sys
import types

import pytest

import ember
import ember.cuda as ember_cuda


@pytest.fixture
def fresh_probe():
    ember_cuda._driver_device_count.cache_clear()
    yield
    ember_cuda._driver_device_count.cache_clear()


def _fake_driver(monkeypatch, cu_init):
    driver = types.SimpleNamespace(
        cuInit=cu_init,
        cuDeviceGetCount=lambda: (driver.CUresult.CUDA_SUCCESS, 2),
        CUresult=types.SimpleNamespace(CUDA_SUCCESS=0),
    )
    bindings = types.ModuleType("cuda.bindings")
    bindings.driver = driver
    monkeypatch.setitem(sys.modules, "cuda", types.ModuleType("cuda"))
    monkeypatch.setitem(sys.modules, "cuda.bindings", bindings)
    monkeypatch.setitem(sys.modules, "cuda.bindings.driver", driver)


def test_no_driver_means_not_available(monkeypatch, fresh_probe):
    def cu_init(flags):
        raise RuntimeError("Failed to dlopen libcuda.so.1")

    _fake_driver(monkeypatch, cu_init)
    assert ember.cuda.is_available() is False
    assert ember.cuda.device_count() == 0


def test_driver_error_code_means_not_available(monkeypatch, fresh_probe):
    _fake_driver(monkeypatch, lambda flags: (100,))
    assert ember.cuda.is_available() is False


def test_working_driver_reports_its_devices(monkeypatch, fresh_probe):
    _fake_driver(monkeypatch, lambda flags: (0,))
    assert ember.cuda.is_available() is True
    assert ember.cuda.device_count() == 2


def test_missing_cuda_python_means_not_available(monkeypatch, fresh_probe):
    monkeypatch.setitem(sys.modules, "cuda", None)
    assert ember.cuda.is_available() is False


def test_this_machine_answers_without_crashing():
    assert isinstance(ember.cuda.is_available(), bool)
