"""The time the hub stamps on envelopes: ISO string and epoch seconds, read once."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from hubbub.network.clock import Clock, iso_to_seconds, system_clock

__all__ = ["StampClock"]


class StampClock:
    """The hub's clock as ``(ISO-8601 string, epoch seconds)``.

    On the system clock the ISO string (``2026-12-04T02:13:42.123+00:00``) is built
    once per millisecond (a busy hub stamps many envelopes in one), its date and time
    of day once per second; an injected clock (``MockClock``) is read and parsed
    every time.
    """

    __slots__ = ("_clock", "_day_time", "_iso", "_ms", "_second")

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._ms = -1
        self._iso = ""
        self._second = -1
        self._day_time = ""  # "YYYY-MM-DDTHH:MM:SS" of ``_second``

    def __call__(self) -> tuple[str, float]:
        """The current time."""
        if self._clock is system_clock:
            t = time.time()
            ms = int(t * 1000)
            if ms != self._ms:
                self._ms = ms
                second, milli = divmod(ms, 1000)
                if second != self._second:
                    self._second = second
                    self._day_time = datetime.fromtimestamp(second, UTC).isoformat()[:19]
                self._iso = f"{self._day_time}.{milli:03d}+00:00"
            return self._iso, t
        iso = self._clock()
        return iso, iso_to_seconds(iso)
