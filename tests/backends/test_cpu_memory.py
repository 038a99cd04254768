"""glibc's malloc settings for reusing freed memory: applied on glibc, and the user's own choices left alone."""

from __future__ import annotations

import platform

import pytest

from ember.backends.cpu_memory import keep_freed_memory

glibc = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                           reason="mallopt tuning applies to glibc only")


@glibc
def test_settings_apply_on_glibc(monkeypatch):
    for variable in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "GLIBC_TUNABLES"):
        monkeypatch.delenv(variable, raising=False)
    assert keep_freed_memory() is True


@glibc
def test_users_settings_are_left_alone(monkeypatch):
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=0")
    assert keep_freed_memory() is False
    monkeypatch.delenv("GLIBC_TUNABLES")
    for variable in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_"):
        monkeypatch.setenv(variable, "0")
    assert keep_freed_memory() is False


def test_other_platforms_are_not_touched(monkeypatch):
    monkeypatch.setattr(platform, "system", lambda: "Darwin")
    assert keep_freed_memory() is False
