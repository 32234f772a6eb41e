"""Identifier generation: random, unguessable, time-sortable ids (agent, session, envelope).

An id is 26 characters of Crockford base32 (``0-9`` and ``A-Z`` without ``I L O U``),
the ULID layout: 10 characters for the 48-bit Unix time in milliseconds, then 16
characters for 80 bits from the operating system's CSPRNG (``os.urandom``). So ids
sort by creation time to the millisecond, and knowing any number of ids tells
nothing about the next one: 80 fresh random bits in every id, no counter, no
per-process base.

``make_id`` is on the post path (every envelope gets one), so random bytes are
drawn 4 KiB at a time and each id takes a 16-byte slice, one character per byte
(5 of its 8 bits), and the time part is encoded once per millisecond. Each slice
is handed out once, also across threads (an iterator's ``next`` is atomic), and a
forked child drops the parent's unused bytes.

Ids the hub assigned before this format (32 lowercase hex digits) stay valid in
stores written then; :func:`looks_like_id` recognises both formats.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator

__all__ = ["ID_LENGTH", "looks_like_id", "make_id"]

#: Characters in an id made by :func:`make_id`.
ID_LENGTH = 26

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# byte -> one Crockford character from its low 5 bits (256 divides evenly by 32: unbiased)
_BYTE_TO_CHAR = bytes(ord(_ALPHABET[b & 31]) for b in range(256))
_POOL_BYTES = 4096
_RANDOM_CHARS = 16  # 16 x 5 bits = 80 random bits
_TIME_CHARS = ID_LENGTH - _RANDOM_CHARS  # 10 x 5 bits hold 48 bits of milliseconds

_ID_RE = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}|[0-9a-f]{32}", re.IGNORECASE)

_random_parts: Iterator[str] = iter(())
_time_part: tuple[int, str] = (-1, "")


def _refill() -> Iterator[str]:
    global _random_parts
    chars = os.urandom(_POOL_BYTES).translate(_BYTE_TO_CHAR).decode("ascii")
    parts = iter([chars[i : i + _RANDOM_CHARS] for i in range(0, _POOL_BYTES, _RANDOM_CHARS)])
    _random_parts = parts
    return parts


def _encode(value: int, chars: int) -> str:
    """``value``'s low ``5 * chars`` bits as ``chars`` base32 characters, most significant first."""
    out = []
    for _ in range(chars):
        out.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(out))


# The time part is built once per millisecond: its first 8 characters (bits 10 and up,
# ~1 s) are kept while they stay the same, its last 2 come from this table.
_LOW_TIME = [_encode(v, 2) for v in range(1024)]
_high_part: tuple[int, str] = (-1, "")


def _encode_time(ms: int) -> str:
    global _high_part
    high, chars = _high_part
    if ms >> 10 != high:
        high = ms >> 10
        chars = _encode(high, _TIME_CHARS - 2)
        _high_part = (high, chars)
    return chars + _LOW_TIME[ms & 1023]


def make_id() -> str:
    """Return a new 26-character id: 48-bit millisecond time, then 80 random bits.

    Ids sort by creation time across processes (to the millisecond); within one
    millisecond their order is random.
    """
    ms = time.time_ns() // 1_000_000
    cached_ms, prefix = _time_part
    if ms != cached_ms:
        prefix = _encode_time(ms & 0xFFFF_FFFF_FFFF)
        _set_time_part(ms, prefix)
    part = next(_random_parts, None)
    if part is None:
        part = next(_refill())
    return prefix + part


def _set_time_part(ms: int, prefix: str) -> None:
    global _time_part
    _time_part = (ms, prefix)


def looks_like_id(value: str) -> bool:
    """True if ``value`` has the shape of an id the hub assigns (or assigned before).

    Matches 26 Crockford base32 characters or 32 hex digits, in any letter case, so
    a name that passes this test could one day be, or already is, an agent's id.
    """
    return _ID_RE.fullmatch(value) is not None


def _after_fork() -> None:
    global _random_parts
    _random_parts = iter(())  # never hand the parent's random bytes to a child


os.register_at_fork(after_in_child=_after_fork)
