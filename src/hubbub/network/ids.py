"""Identifier generation: 32-hex, unique across processes, ordered within one."""

from __future__ import annotations

import itertools
import os
import time

__all__ = ["make_id"]

# A 20-hex prefix (process start in ms + 32 random bits) and a 12-hex counter:
# unique across processes and restarts with overwhelming probability, ordered
# by creation within a process, and cheap enough for the post path (one format).
_PREFIX = ""
_COUNTER: itertools.count[int] = itertools.count()


def _reseed() -> None:
    global _PREFIX, _COUNTER
    ms = time.time_ns() // 1_000_000 & 0xFFFFFFFFFFFF
    _PREFIX = f"{ms:012x}{int.from_bytes(os.urandom(4), 'big'):08x}"
    _COUNTER = itertools.count(int.from_bytes(os.urandom(2), "big"))


def make_id() -> str:
    """Return a new 32-hex-digit identifier."""
    return f"{_PREFIX}{next(_COUNTER) & 0xFFFFFFFFFFFF:012x}"


_reseed()
os.register_at_fork(after_in_child=_reseed)
