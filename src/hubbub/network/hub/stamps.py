"""The time the hub stamps on envelopes: ISO string and epoch seconds, read once."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from hubbub.network.clock import Clock, iso_to_seconds, system_clock

__all__ = ["StampClock"]


class StampClock:
    """The hub's clock as ``(ISO-8601 string, epoch seconds)``.

    On the system clock the ISO string is built once per millisecond (a busy hub
    stamps many envelopes in one); an injected clock (``MockClock``) is read
    and parsed every time.
    """

    __slots__ = ("_clock", "_iso", "_ms")

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._ms = -1
        self._iso = ""

    def __call__(self) -> tuple[str, float]:
        """The current time."""
        if self._clock is system_clock:
            t = time.time()
            ms = int(t * 1000)
            if ms != self._ms:
                self._ms = ms
                self._iso = datetime.fromtimestamp(ms / 1000, UTC).isoformat(
                    timespec="milliseconds"
                )
            return self._iso, t
        iso = self._clock()
        return iso, iso_to_seconds(iso)
