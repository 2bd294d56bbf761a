"""The allocator settings for megabyte bodies (``proxy.server.malloc``): applied on glibc,
left to the operator when ``GLIBC_TUNABLES`` is set, nothing elsewhere."""

from __future__ import annotations

import ctypes
from typing import Any

import pytest

from proxy.server import malloc


def test_applied_on_glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    calls: list[tuple[int, int]] = []

    class Libc:
        gnu_get_libc_version = object()

        def __init__(self) -> None:
            def mallopt(param: int, value: int) -> int:
                calls.append((param, value))
                return 1

            self.mallopt: Any = mallopt

    monkeypatch.setattr(ctypes, "CDLL", lambda name: Libc())
    assert malloc.tune() is True
    assert calls == [(-3, 2 * 1024 * 1024), (-1, 64 * 1024 * 1024), (-8, 2)]


def test_the_real_libc_takes_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    libc = ctypes.CDLL(None)
    if not hasattr(libc, "gnu_get_libc_version"):
        pytest.skip("not glibc")
    assert malloc.tune() is True


def test_an_operators_tunables_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.arena_max=4")
    monkeypatch.setattr(ctypes, "CDLL", lambda name: pytest.fail("libc was loaded"))
    assert malloc.tune() is False


def test_nothing_to_set_without_glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)

    class Musl:
        def mallopt(self, param: int, value: int) -> int:
            raise AssertionError("called")

    monkeypatch.setattr(ctypes, "CDLL", lambda name: Musl())
    assert malloc.tune() is False
