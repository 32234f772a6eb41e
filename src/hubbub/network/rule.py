"""Rule — per-agent governance: who it may talk to, and its limits.

The canonical shape has exactly two blocks, ``access`` and ``limits`` (rate and
inbox nest inside limits). The docs' spellings are accepted as aliases:
``AccessBlock(session_types_allowed=[...])``, ``RateBlock(envelopes_per_minute=N)``
and ``Rule(rate=..., inbox=...)`` at the top level.

Every block checks its fields where it is built (constructor and ``from_dict``):
a wrong type or a nonsense value raises ``InvalidValueError`` (a ``NetworkError``
and a ``ValueError``) whose message names the field's path and shows the value,
e.g. ``Rule.limits.inbox.max_pending must be a non-negative integer, got 'lots'``.
Pattern lists must be lists (a bare string is refused, never read as a list of
one-letter globs) and are copied. Blocks are built when a rule is set, never
per envelope.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from hubbub.network.errors import InvalidValueError
from hubbub.network.identity import (
    build,
    check_count,
    check_record,
    check_str_list,
    nested,
    record_fields,
    show,
)

__all__ = [
    "INBOX_OVERFLOW_POLICIES",
    "MAX_DURATION_SECONDS",
    "AccessBlock",
    "InboxBlock",
    "LimitsBlock",
    "RateBlock",
    "Rule",
    "SessionTypeAccess",
    "parse_duration",
]

#: The longest duration :func:`parse_duration` accepts: 100 years of 365 days, in seconds.
MAX_DURATION_SECONDS = 100 * 365 * 86400

#: ``InboxBlock.overflow`` values (only ``reject`` behaviour exists; the others act as it).
INBOX_OVERFLOW_POLICIES: tuple[str, ...] = ("reject", "drop_oldest", "drop_newest")

_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$", re.ASCII)
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_MAX_DIGITS = 12  # more digits than this is over the cap in any unit
_PATTERNS = "name patterns"


def parse_duration(value: str | int | float | None) -> int:
    """Parse ``"30s"``, ``"15m"``, ``"2h"``, ``"1d"``, bare digits or a number into seconds.

    ``None``, ``""`` and ``0`` mean "no duration" (no TTL) and give 0. A float is
    truncated to whole seconds. The result is at most :data:`MAX_DURATION_SECONDS`
    (100 years): anything longer is a mistake, not a TTL.

    Raises:
        InvalidValueError: (also a ``ValueError``) on a bool, a negative, NaN or
            infinite number, a value over 100 years, an unknown unit, a garbled
            string or a value of another type.
    """
    if value is None or value == "":
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidValueError(f"not a duration: {show(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidValueError(f"not a duration: {show(value)} (durations are finite)")
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match is None and _DURATION.match(value.replace("-", "", 1)) is not None:
            raise InvalidValueError(f"duration must be non-negative, got {show(value)}")
        if match is None:
            raise InvalidValueError(
                f"not a duration: {show(value)} (use e.g. '30s', '15m', '2h', '1d')"
            )
        digits, unit = match.groups()
        if len(digits) > _MAX_DIGITS:
            raise _too_long(value)
        seconds = int(digits) * _UNIT[unit]
    else:
        if value < 0:
            raise InvalidValueError(f"duration must be non-negative, got {show(value)}")
        if value > MAX_DURATION_SECONDS:
            raise _too_long(value)
        seconds = int(value)
    if seconds > MAX_DURATION_SECONDS:
        raise _too_long(value)
    return seconds


def _too_long(value: object) -> InvalidValueError:
    return InvalidValueError(
        f"duration {show(value)} is over the {MAX_DURATION_SECONDS}-second (100-year) limit"
    )


def _check_duration(value: Any, where: str) -> None:
    try:
        parse_duration(value)
    except InvalidValueError as exc:
        raise InvalidValueError(f"{where}: {exc.message}") from None


@dataclass(slots=True)
class SessionTypeAccess:
    """Which session types an agent may initiate and accept (fnmatch globs)."""

    initiate: list[str] = field(default_factory=lambda: ["*"])
    accept: list[str] = field(default_factory=lambda: ["*"])

    def __post_init__(self) -> None:
        self._check("SessionTypeAccess")

    def _check(self, where: str) -> None:
        self.initiate = check_str_list(self.initiate, f"{where}.initiate", _PATTERNS)
        self.accept = check_str_list(self.accept, f"{where}.accept", _PATTERNS)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> SessionTypeAccess:
        """Rebuild from ``to_dict``-shaped data; None or missing keys take defaults.

        Raises:
            InvalidValueError: not a dict, unknown keys or a bad field.
        """
        if data is None:
            return cls()
        return build(cls, "SessionTypeAccess", record_fields(data, "SessionTypeAccess", _ST))


_ST = ("initiate", "accept")


@dataclass(slots=True, init=False)
class AccessBlock:
    """Who an agent may receive from and send to (fnmatch globs over Passport.name)."""

    inbound_from: list[str]
    outbound_to: list[str]
    session_types: SessionTypeAccess

    def __init__(
        self,
        inbound_from: list[str] | None = None,
        outbound_to: list[str] | None = None,
        session_types: SessionTypeAccess | None = None,
        *,
        session_types_allowed: list[str] | None = None,
    ) -> None:
        self.inbound_from = inbound_from if inbound_from is not None else ["*"]
        self.outbound_to = outbound_to if outbound_to is not None else ["*"]
        if session_types is None:
            allowed = (
                check_str_list(
                    session_types_allowed, "AccessBlock.session_types_allowed", _PATTERNS
                )
                if session_types_allowed is not None
                else ["*"]
            )
            session_types = SessionTypeAccess(initiate=allowed, accept=list(allowed))
        self.session_types = session_types
        self._check("AccessBlock")

    def _check(self, where: str) -> None:
        self.inbound_from = check_str_list(self.inbound_from, f"{where}.inbound_from", _PATTERNS)
        self.outbound_to = check_str_list(self.outbound_to, f"{where}.outbound_to", _PATTERNS)
        check_record(self.session_types, SessionTypeAccess, f"{where}.session_types")
        self.session_types._check(f"{where}.session_types")

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> AccessBlock:
        """Rebuild from ``to_dict``-shaped data; None or missing keys take defaults.

        Raises:
            InvalidValueError: not a dict, unknown keys or a bad field.
        """
        if data is None:
            return cls()
        kwargs = dict(record_fields(data, "AccessBlock", _ACCESS))
        if "session_types" in kwargs:
            kwargs["session_types"] = nested(
                "AccessBlock.session_types", SessionTypeAccess.from_dict, kwargs["session_types"]
            )
        return build(cls, "AccessBlock", kwargs)


_ACCESS = ("inbound_from", "outbound_to", "session_types", "session_types_allowed")


@dataclass(slots=True, init=False)
class RateBlock:
    """Envelopes an agent may post per minute (0 = unlimited), with a burst allowance."""

    per_minute: int
    burst: int

    def __init__(
        self, per_minute: int = 0, burst: int = 0, *, envelopes_per_minute: int | None = None
    ) -> None:
        if envelopes_per_minute is not None:
            self.per_minute = check_count(envelopes_per_minute, "RateBlock.envelopes_per_minute")
        else:
            self.per_minute = per_minute
        self.burst = burst
        self._check("RateBlock")

    def _check(self, where: str) -> None:
        check_count(self.per_minute, f"{where}.per_minute")
        check_count(self.burst, f"{where}.burst")

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> RateBlock:
        """Rebuild from ``to_dict``-shaped data; None or missing keys take defaults.

        Raises:
            InvalidValueError: not a dict, unknown keys or a bad field.
        """
        if data is None:
            return cls()
        return build(cls, "RateBlock", record_fields(data, "RateBlock", _RATE))


_RATE = ("per_minute", "burst", "envelopes_per_minute")


@dataclass(slots=True)
class InboxBlock:
    """Bound on envelopes delivered to an agent but not yet acknowledged by it.

    ``max_pending`` and ``high_water`` are non-negative ints (``high_water`` may be
    None); ``overflow`` is one of :data:`INBOX_OVERFLOW_POLICIES`.
    """

    max_pending: int = 1000
    overflow: str = "reject"
    high_water: int | None = None

    def __post_init__(self) -> None:
        self._check("InboxBlock")

    def _check(self, where: str) -> None:
        check_count(self.max_pending, f"{where}.max_pending")
        if not isinstance(self.overflow, str) or self.overflow not in INBOX_OVERFLOW_POLICIES:
            raise InvalidValueError(
                f"{where}.overflow must be one of {INBOX_OVERFLOW_POLICIES}, "
                f"got {show(self.overflow)}"
            )
        if self.high_water is not None:
            check_count(self.high_water, f"{where}.high_water")

    def effective_high_water(self) -> int:
        """The pressure threshold: ``high_water`` or 80 % of ``max_pending`` (0 disables)."""
        if self.high_water is not None:
            return self.high_water
        return (self.max_pending * 4) // 5

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> InboxBlock:
        """Rebuild from ``to_dict``-shaped data; None or missing keys take defaults.

        Raises:
            InvalidValueError: not a dict, unknown keys or a bad field.
        """
        if data is None:
            return cls()
        return build(cls, "InboxBlock", record_fields(data, "InboxBlock", _INBOX))


_INBOX = ("max_pending", "overflow", "high_water")


@dataclass(slots=True)
class LimitsBlock:
    """Numeric limits; 0 disables a cap.

    Counts are non-negative ints; the TTL defaults are anything
    :func:`parse_duration` accepts (kept as given, e.g. ``"2h"``).
    """

    max_concurrent_sessions: int = 0
    max_concurrent_tasks: int = 0
    session_ttl_default: str | int = "2h"
    task_ttl_default: str | int = "15m"
    rate: RateBlock = field(default_factory=RateBlock)
    delegation_depth: int = 5
    inbox: InboxBlock = field(default_factory=InboxBlock)

    def __post_init__(self) -> None:
        self._check("LimitsBlock")

    def _check(self, where: str) -> None:
        check_count(self.max_concurrent_sessions, f"{where}.max_concurrent_sessions")
        check_count(self.max_concurrent_tasks, f"{where}.max_concurrent_tasks")
        _check_duration(self.session_ttl_default, f"{where}.session_ttl_default")
        _check_duration(self.task_ttl_default, f"{where}.task_ttl_default")
        check_record(self.rate, RateBlock, f"{where}.rate")
        self.rate._check(f"{where}.rate")
        check_count(self.delegation_depth, f"{where}.delegation_depth")
        check_record(self.inbox, InboxBlock, f"{where}.inbox")
        self.inbox._check(f"{where}.inbox")

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> LimitsBlock:
        """Rebuild from ``to_dict``-shaped data; None or missing keys take defaults.

        Raises:
            InvalidValueError: not a dict, unknown keys or a bad field.
        """
        if data is None:
            return cls()
        kwargs = dict(record_fields(data, "LimitsBlock", cls.__dataclass_fields__))
        kwargs["rate"] = nested("LimitsBlock.rate", RateBlock.from_dict, kwargs.get("rate"))
        kwargs["inbox"] = nested("LimitsBlock.inbox", InboxBlock.from_dict, kwargs.get("inbox"))
        return build(cls, "LimitsBlock", kwargs)


@dataclass(slots=True, init=False)
class Rule:
    """Per-agent governance: an access block and a limits block."""

    version: int
    access: AccessBlock
    limits: LimitsBlock

    def __init__(
        self,
        version: int = 1,
        access: AccessBlock | None = None,
        limits: LimitsBlock | None = None,
        *,
        rate: RateBlock | None = None,
        inbox: InboxBlock | None = None,
    ) -> None:
        self.version = check_count(version, "Rule.version")
        self.access = access if access is not None else AccessBlock()
        check_record(self.access, AccessBlock, "Rule.access")
        self.limits = limits if limits is not None else LimitsBlock()
        check_record(self.limits, LimitsBlock, "Rule.limits")
        if rate is not None:
            check_record(rate, RateBlock, "Rule.rate")
            self.limits.rate = rate
        if inbox is not None:
            check_record(inbox, InboxBlock, "Rule.inbox")
            self.limits.inbox = inbox
        # A block may have been changed since it was built: check both again, by full path.
        self._check()

    def _check(self) -> None:
        check_count(self.version, "Rule.version")
        check_record(self.access, AccessBlock, "Rule.access")
        self.access._check("Rule.access")
        check_record(self.limits, LimitsBlock, "Rule.limits")
        self.limits._check("Rule.limits")

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict in the canonical two-block shape.

        Raises:
            InvalidValueError: a field was changed to a bad value after the rule was built.
        """
        self._check()
        lim = self.limits
        return {
            "version": self.version,
            "access": {
                "inbound_from": list(self.access.inbound_from),
                "outbound_to": list(self.access.outbound_to),
                "session_types": {
                    "initiate": list(self.access.session_types.initiate),
                    "accept": list(self.access.session_types.accept),
                },
            },
            "limits": {
                "max_concurrent_sessions": lim.max_concurrent_sessions,
                "max_concurrent_tasks": lim.max_concurrent_tasks,
                "session_ttl_default": lim.session_ttl_default,
                "task_ttl_default": lim.task_ttl_default,
                "rate": {"per_minute": lim.rate.per_minute, "burst": lim.rate.burst},
                "delegation_depth": lim.delegation_depth,
                "inbox": {
                    "max_pending": lim.inbox.max_pending,
                    "overflow": lim.inbox.overflow,
                    "high_water": lim.inbox.high_water,
                },
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Rule:
        """Rebuild from ``to_dict`` output; None and missing blocks take defaults.

        Raises:
            InvalidValueError: ``data`` or a block is not a dict, has unknown keys,
                or a field is bad; the message names its path
                (``Rule.limits.inbox.max_pending``).
        """
        if data is None:
            return cls()
        kwargs = dict(record_fields(data, "Rule", ("version", "access", "limits")))
        kwargs["access"] = nested("Rule.access", AccessBlock.from_dict, kwargs.get("access"))
        kwargs["limits"] = nested("Rule.limits", LimitsBlock.from_dict, kwargs.get("limits"))
        return build(cls, "Rule", kwargs)
