"""The store registry's server policy: skip locally, fail under CI."""

from __future__ import annotations

from collections.abc import Callable

import pytest


def test_missing_server_fails_under_ci(
    monkeypatch: pytest.MonkeyPatch, server_unavailable: Callable[[str], None]
) -> None:
    monkeypatch.setenv("CI", "1")
    with pytest.raises(pytest.fail.Exception):
        server_unavailable("no server")


def test_missing_server_skips_locally(
    monkeypatch: pytest.MonkeyPatch, server_unavailable: Callable[[str], None]
) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        server_unavailable("no server")
