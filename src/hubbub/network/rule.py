"""Rule — per-agent governance: who it may talk to, and its limits.

The canonical shape has exactly two blocks, ``access`` and ``limits`` (rate and
inbox nest inside limits). The docs' spellings are accepted as aliases:
``AccessBlock(session_types_allowed=[...])``, ``RateBlock(envelopes_per_minute=N)``
and ``Rule(rate=..., inbox=...)`` at the top level.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "AccessBlock",
    "InboxBlock",
    "LimitsBlock",
    "RateBlock",
    "Rule",
    "SessionTypeAccess",
    "parse_duration",
]

_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: str | int | float | None) -> int:
    """Parse ``"30s"``, ``"15m"``, ``"2h"``, ``"1d"``, bare digits or an int into seconds.

    Raises:
        ValueError: on an unknown unit or a negative/garbled value.
    """
    if value is None or value == "":
        return 0
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"duration must be non-negative, got {value!r}")
        return int(value)
    match = _DURATION.match(value)
    if match is None:
        raise ValueError(f"not a duration: {value!r} (use e.g. '30s', '15m', '2h', '1d')")
    return int(match.group(1)) * _UNIT[match.group(2)]


@dataclass(slots=True)
class SessionTypeAccess:
    """Which session types an agent may initiate and accept (fnmatch globs)."""

    initiate: list[str] = field(default_factory=lambda: ["*"])
    accept: list[str] = field(default_factory=lambda: ["*"])


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
        self.inbound_from = list(inbound_from) if inbound_from is not None else ["*"]
        self.outbound_to = list(outbound_to) if outbound_to is not None else ["*"]
        if session_types is None:
            allowed = list(session_types_allowed) if session_types_allowed is not None else ["*"]
            session_types = SessionTypeAccess(initiate=allowed, accept=list(allowed))
        self.session_types = session_types


@dataclass(slots=True, init=False)
class RateBlock:
    """Envelopes an agent may post per minute (0 = unlimited), with a burst allowance."""

    per_minute: int
    burst: int

    def __init__(
        self, per_minute: int = 0, burst: int = 0, *, envelopes_per_minute: int | None = None
    ) -> None:
        self.per_minute = envelopes_per_minute if envelopes_per_minute is not None else per_minute
        self.burst = burst


@dataclass(slots=True)
class InboxBlock:
    """Bound on envelopes delivered to an agent but not yet acknowledged by it."""

    max_pending: int = 1000
    overflow: str = "reject"
    high_water: int | None = None

    def effective_high_water(self) -> int:
        """The pressure threshold: ``high_water`` or 80 % of ``max_pending`` (0 disables)."""
        if self.high_water is not None:
            return self.high_water
        return (self.max_pending * 4) // 5


@dataclass(slots=True)
class LimitsBlock:
    """Numeric limits; 0 disables a cap."""

    max_concurrent_sessions: int = 0
    max_concurrent_tasks: int = 0
    session_ttl_default: str | int = "2h"
    task_ttl_default: str | int = "15m"
    rate: RateBlock = field(default_factory=RateBlock)
    delegation_depth: int = 5
    inbox: InboxBlock = field(default_factory=InboxBlock)


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
        self.version = version
        self.access = access if access is not None else AccessBlock()
        self.limits = limits if limits is not None else LimitsBlock()
        if rate is not None:
            self.limits.rate = rate
        if inbox is not None:
            self.limits.inbox = inbox

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict in the canonical two-block shape."""
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
        """Rebuild from ``to_dict`` output; missing blocks take defaults."""
        data = data or {}
        acc = data.get("access") or {}
        st = acc.get("session_types") or {}
        lim = data.get("limits") or {}
        return cls(
            version=data.get("version", 1),
            access=AccessBlock(
                inbound_from=acc.get("inbound_from"),
                outbound_to=acc.get("outbound_to"),
                session_types=SessionTypeAccess(
                    initiate=list(st.get("initiate", ["*"])), accept=list(st.get("accept", ["*"]))
                ),
            ),
            limits=LimitsBlock(
                max_concurrent_sessions=lim.get("max_concurrent_sessions", 0),
                max_concurrent_tasks=lim.get("max_concurrent_tasks", 0),
                session_ttl_default=lim.get("session_ttl_default", "2h"),
                task_ttl_default=lim.get("task_ttl_default", "15m"),
                rate=RateBlock(**(lim.get("rate") or {})),
                delegation_depth=lim.get("delegation_depth", 5),
                inbox=InboxBlock(**(lim.get("inbox") or {})),
            ),
        )
