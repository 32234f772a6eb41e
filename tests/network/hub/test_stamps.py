"""The hub's stamp clock: the ISO string it builds once per millisecond is exact."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from hubbub.network.clock import MockClock, iso_to_seconds, system_clock
from hubbub.network.hub import stamps
from hubbub.network.hub.stamps import StampClock

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _expected(ms: int) -> str:
    return (EPOCH + timedelta(milliseconds=ms)).isoformat(timespec="milliseconds")


def test_system_clock_stamps_match_datetime_to_the_millisecond(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = random.Random(7)
    base = 1_764_806_022_000  # 2025-12-04T00:33:42Z, in ms
    moments = [base + d for d in (0, 1, 998, 999, 1000, 1001, 59_999, 60_000, 86_399_999)]
    moments += sorted(rng.randrange(0, 4_102_444_800_000) for _ in range(500))  # to 2100
    clock = StampClock(system_clock)
    for ms in moments:
        t = ms / 1000 + 0.0004  # within the millisecond, as time.time() would be
        monkeypatch.setattr(stamps.time, "time", lambda t=t: t)
        iso, seconds = clock()
        assert iso == _expected(ms), ms
        assert seconds == t
        assert abs(iso_to_seconds(iso) - ms / 1000) < 1e-6
        assert clock()[0] == iso  # the same millisecond again: the cached string


def test_an_injected_clock_is_read_every_time() -> None:
    mock = MockClock("2026-12-04T02:13:42.123+00:00")
    clock = StampClock(mock)
    assert clock() == (mock(), iso_to_seconds("2026-12-04T02:13:42.123+00:00"))
    mock.advance(1.5)
    assert clock()[0] == mock()
