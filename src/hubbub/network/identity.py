"""Identity records: Passport (who), Resume (what it can do), and their parts.

Plain data: ``to_dict``/``from_dict`` round-trip every record, nested values
included. The hub stamps ``Passport.agent_id`` and ``created_at`` at registration.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = [
    "PASSPORT_KINDS",
    "AgentRuntime",
    "AuthBlock",
    "CostProfile",
    "ObservedStat",
    "Passport",
    "PassportKind",
    "Resume",
    "ResumeExample",
]

PassportKind = Literal["agent", "human", "remote_agent"]
PASSPORT_KINDS: tuple[str, ...] = ("agent", "human", "remote_agent")


@dataclass(slots=True)
class AuthBlock:
    """How an agent proves its identity: a scheme name plus the claim it presents."""

    scheme: str = "none"
    issuer: str | None = None
    audience: str | None = None
    key_fingerprint: str | None = None
    claim: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> AuthBlock:
        """Rebuild from ``to_dict`` output (missing keys take defaults)."""
        data = data or {}
        return cls(
            scheme=data.get("scheme", "none"),
            issuer=data.get("issuer"),
            audience=data.get("audience"),
            key_fingerprint=data.get("key_fingerprint"),
            claim=dict(data.get("claim") or {}),
        )


@dataclass(slots=True)
class CostProfile:
    """Advertised price and latency tier of an agent's model (not validated)."""

    input_per_mtok: float | None = None
    output_per_mtok: float | None = None
    latency_tier: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> CostProfile | None:
        """Rebuild from ``to_dict`` output; None stays None."""
        if data is None:
            return None
        return cls(
            data.get("input_per_mtok"), data.get("output_per_mtok"), data.get("latency_tier")
        )


@dataclass(slots=True)
class Passport:
    """Immutable identity of one registered agent; change it by re-registering."""

    name: str
    owner: str = ""
    provider: str | None = None
    model: str | None = None
    cost: CostProfile | None = None
    region: str | None = None
    auth: AuthBlock = field(default_factory=AuthBlock)
    kind: PassportKind | None = None
    version: int = 1
    agent_id: str | None = None
    created_at: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError("Passport.name must be a non-empty string")
        if self.kind is not None and self.kind not in PASSPORT_KINDS:
            raise ValueError(
                f"Passport.kind must be one of {PASSPORT_KINDS} or None, got {self.kind!r}"
            )

    @property
    def effective_kind(self) -> str:
        """The kind with None resolved to ``"agent"``."""
        return self.kind or "agent"

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (nested records as dicts)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Passport:
        """Rebuild from ``to_dict`` output."""
        return cls(
            name=data["name"],
            owner=data.get("owner", ""),
            provider=data.get("provider"),
            model=data.get("model"),
            cost=CostProfile.from_dict(data.get("cost")),
            region=data.get("region"),
            auth=AuthBlock.from_dict(data.get("auth")),
            kind=data.get("kind"),
            version=data.get("version", 1),
            agent_id=data.get("agent_id"),
            created_at=data.get("created_at", ""),
        )


@dataclass(slots=True)
class ResumeExample:
    """One worked example an agent advertises (or the hub observed)."""

    title: str
    outcome: str = ""
    task_id: str | None = None
    session_id: str | None = None
    when: str | None = None
    note: str = ""


@dataclass(slots=True)
class ObservedStat:
    """Hub-observed track record for one capability."""

    n: int = 0
    completed: int = 0
    failed: int = 0
    expired: int = 0
    p50_latency_ms: int | None = None


@dataclass(slots=True)
class Resume:
    """Capability claims plus the hub's observed track record."""

    claimed_capabilities: list[str] = field(default_factory=list)
    domains: list[str] = field(default_factory=list)
    summary: str = ""
    examples: list[ResumeExample] = field(default_factory=list)
    observed: dict[str, ObservedStat] = field(default_factory=dict)
    version: int = 1
    last_updated: str = ""

    def capabilities(self) -> set[str]:
        """Claimed and observed capability names together."""
        return set(self.claimed_capabilities) | set(self.observed)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (nested records as dicts)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Resume:
        """Rebuild from ``to_dict`` output."""
        return cls(
            claimed_capabilities=list(data.get("claimed_capabilities") or []),
            domains=list(data.get("domains") or []),
            summary=data.get("summary", ""),
            examples=[ResumeExample(**e) for e in data.get("examples") or []],
            observed={k: ObservedStat(**v) for k, v in (data.get("observed") or {}).items()},
            version=data.get("version", 1),
            last_updated=data.get("last_updated", ""),
        )


@dataclass(slots=True)
class AgentRuntime:
    """Where an agent is reachable right now (hub bookkeeping, never persisted as truth)."""

    agent_id: str
    binding: str = "local"
    target: str | None = None
    reachable: bool = True
    last_heartbeat: str | None = None
