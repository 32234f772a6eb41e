"""Identifier generation: 32-hex, time-ordered, unique across processes."""

from __future__ import annotations

import itertools
import os
import time

__all__ = ["make_id"]

# 48 bits of millisecond time + 40 random bits fixed per process + a 40-bit counter.
# Ordered by creation time within a process, unique across processes with
# overwhelming probability, and ~10x cheaper than uuid4() on the post path.
_NODE = int.from_bytes(os.urandom(5), "big")
_COUNTER = itertools.count(int.from_bytes(os.urandom(3), "big"))


def make_id() -> str:
    """Return a new 32-hex-digit identifier (UUID7-like: time-ordered, unique)."""
    return f"{time.time_ns() // 1_000_000 & 0xFFFFFFFFFFFF:012x}{_NODE:010x}{next(_COUNTER) & 0xFFFFFFFFFF:010x}"


def _after_fork() -> None:
    global _NODE, _COUNTER
    _NODE = int.from_bytes(os.urandom(5), "big")
    _COUNTER = itertools.count(int.from_bytes(os.urandom(3), "big"))


os.register_at_fork(after_in_child=_after_fork)
