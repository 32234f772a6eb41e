"""What counts as a JSON value the hub will log and deliver, and how big it is.

Pure (sans-I/O). The hub calls :func:`check_json_value` only on its slow path,
when a cheap encode/decode round trip of a payload does not give the payload
back; the function then says exactly what is wrong and where, so clarity wins
over speed here. It walks the value with an explicit stack, never recursion,
so hostile nesting cannot exhaust the interpreter's stack.

Accepted: ``dict`` with ``str`` keys, ``list``, ``tuple``, ``str`` (no lone
surrogates, so it encodes as UTF-8), ``int`` in the signed 64-bit range
(``bool`` included), finite ``float`` and ``None``; subclasses of those count
as their base. Anything else (``set``, ``bytes``, ``Decimal``, ``datetime``,
dataclasses, ...) is refused, even where orjson would encode it.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

from hubbub.network.errors import ProtocolError

__all__ = ["MAX_DEPTH", "check_json_value", "json_bytes"]

#: Deepest nesting accepted: containers inside containers, the outer value being level 1.
MAX_DEPTH = 64

_INT_MIN = -(2**63)
_INT_MAX = 2**63 - 1
_SHORT = 60  # longest key or value text quoted in a message


def _refuse(message: str) -> ProtocolError:
    return ProtocolError(message, code="bad_envelope")


def _describe_int(value: int) -> str:
    """``2**70`` for a power of two, the digits up to 128 bits, else the bit count.

    (``str()`` of a huge int raises ValueError past 4,300 digits; never call it there.)
    """
    if value > 0 and value & (value - 1) == 0:
        return f"2**{value.bit_length() - 1}"
    if value.bit_length() <= 128:
        return str(value)
    return f"{'-' if value < 0 else ''}<{value.bit_length()}-bit number>"


def check_json_value(value: Any, where: str) -> None:
    """Raise ``ProtocolError(code="bad_envelope")`` unless ``value`` is plain JSON.

    Args:
        value: the value to check (typically an envelope's ``event_data``).
        where: the path to name in the message, e.g. ``"envelope.event_data"``;
            keys and indexes are appended (``envelope.event_data.items[3].x``).

    Raises:
        ProtocolError: code ``bad_envelope``; the message names the exact path
            and the problem (NaN/Infinity, a non-JSON type, a non-string key, a
            lone surrogate, nesting deeper than :data:`MAX_DEPTH`, an integer
            outside the signed 64-bit range). The first problem in document
            order is the one reported.
    """
    # Each item: (value, its path, its nesting level). A path is a linked pair
    # (parent path, key or index), rendered only for the message.
    stack: list[tuple[Any, _Path, int]] = [(value, (None, where), 1)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, dict):
            if depth > MAX_DEPTH:
                raise _refuse(f"{_render(path)} nests deeper than {MAX_DEPTH} levels")
            children: list[tuple[Any, _Path, int]] = []
            for key, child in item.items():
                if not isinstance(key, str):
                    raise _refuse(f"{_render(path)} key {_short(key)} is not a string")
                if not _utf8_ok(key):
                    raise _refuse(
                        f"{_render(path)} key {_short(key)} contains a lone surrogate "
                        "(JSON text must be valid UTF-8)"
                    )
                children.append((child, (path, key), depth + 1))
            stack.extend(reversed(children))
        elif isinstance(item, list | tuple):
            if depth > MAX_DEPTH:
                raise _refuse(f"{_render(path)} nests deeper than {MAX_DEPTH} levels")
            stack.extend(
                (child, (path, i), depth + 1) for i, child in reversed(list(enumerate(item)))
            )
        else:
            problem = _scalar_problem(item)
            if problem is not None:
                raise _refuse(f"{_render(path)} {problem}")


#: A path to a value: (parent path, key or index); the root is (None, its name).
_Path = tuple[Any, "str | int"]


def _render(path: _Path) -> str:
    """``envelope.event_data.items[3].x`` from a linked path."""
    parts: list[str] = []
    node: _Path | None = path
    while node is not None:
        parent, key = node
        if parent is None:
            parts.append(str(key))
        elif isinstance(key, int):
            parts.append(f"[{key}]")
        elif key.isidentifier() and len(key) <= _SHORT:
            parts.append(f".{key}")
        else:
            parts.append(f"[{_short(key)}]")
        node = parent
    return "".join(reversed(parts))


def _short(value: Any) -> str:
    """``repr(value)``, cut to about :data:`_SHORT` characters (hostile keys can be huge)."""
    text = repr(value)
    return text if len(text) <= _SHORT else f"{text[: _SHORT - 3]}..."


def _utf8_ok(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _scalar_problem(value: Any) -> str | None:
    """What is wrong with a non-container value, or None when it is a JSON scalar."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        if _utf8_ok(value):
            return None
        index = next(i for i, ch in enumerate(value) if 0xD800 <= ord(ch) <= 0xDFFF)
        return (
            f"contains a lone surrogate (U+{ord(value[index]):04X} at index {index}); "
            "JSON text must be valid UTF-8"
        )
    if isinstance(value, int):
        if _INT_MIN <= value <= _INT_MAX:
            return None
        return f"integer {_describe_int(value)} is outside the 64-bit range JSON peers accept"
    if isinstance(value, float):
        if math.isnan(value):
            return "is NaN (JSON has no NaN/Infinity)"
        if math.isinf(value):
            return f"is {'-' if value < 0 else ''}Infinity (JSON has no NaN/Infinity)"
        return None
    return f"is a {type(value).__name__}, not a JSON value"


def json_bytes(value: Any) -> int:
    """Return the size in bytes of ``value``'s compact UTF-8 JSON encoding.

    This is what a limit on stored payloads counts (``"é"`` is 4 bytes with its
    quotes, an emoji 6), not characters.

    Raises:
        ProtocolError: code ``bad_envelope`` when ``value`` cannot be encoded;
            the message comes from :func:`check_json_value` when it finds the
            cause, else from the encoder.
    """
    try:
        return len(orjson.dumps(value))
    except (TypeError, orjson.JSONEncodeError) as exc:
        check_json_value(value, "value")
        raise _refuse(f"value is not JSON-serialisable: {exc}") from exc
