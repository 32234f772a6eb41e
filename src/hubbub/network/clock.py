"""Clocks: the hub's source of time. Tests inject a ``MockClock`` and advance it by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["Clock", "MockClock", "iso_to_seconds", "system_clock"]


class Clock(Protocol):
    """A callable returning the current time as an ISO-8601 string with offset."""

    def __call__(self) -> str:
        """Return the current time."""
        ...


def system_clock() -> str:
    """The wall clock, ISO-8601 in UTC (``+00:00``)."""
    return datetime.now(UTC).isoformat()


def iso_to_seconds(value: str) -> float:
    """Epoch seconds of an ISO-8601 timestamp (naive values are taken as UTC)."""
    dt = datetime.fromisoformat(value)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


class MockClock:
    """A clock that only moves when told to: ``clock.advance(45)``."""

    def __init__(self, start: str | datetime = "2026-01-01T00:00:00+00:00") -> None:
        self._now = _aware(start)

    def __call__(self) -> str:
        """Return the frozen current time."""
        return self._now.isoformat()

    def advance(self, seconds: float) -> str:
        """Move time forward by ``seconds`` and return the new time."""
        self._now += timedelta(seconds=seconds)
        return self()

    def set(self, when: str | datetime) -> None:
        """Jump to ``when`` (a naive value is taken as UTC, as in the constructor)."""
        self._now = _aware(when)


def _aware(when: str | datetime) -> datetime:
    """``when`` as a timezone-aware datetime; naive values are UTC.

    Without this, ``set("...T00:00:00")`` made the clock emit offset-less ISO
    strings, which the hub compares lexicographically against ``+00:00`` ones.
    """
    dt = datetime.fromisoformat(when) if isinstance(when, str) else when
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)
