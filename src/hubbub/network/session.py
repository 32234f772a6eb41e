"""The session data model: states, participants, manifests and metadata.

Pure values. The allowed state transitions live in ``hubbub.network.lifecycle``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

__all__ = [
    "Expectation",
    "Participant",
    "ParticipantRole",
    "ParticipantSchema",
    "SessionManifest",
    "SessionMetadata",
    "SessionState",
    "TERMINAL_SESSION_STATES",
    "is_terminal_session_state",
    "participant_role",
]


class SessionState(str, enum.Enum):
    """Where a session is in its lifecycle (the docs' "INVITED" is PENDING)."""

    PENDING = "pending"
    ACTIVE = "active"
    CLOSING = "closing"
    CLOSED = "closed"
    EXPIRED = "expired"


TERMINAL_SESSION_STATES = frozenset({SessionState.CLOSED, SessionState.EXPIRED})


def is_terminal_session_state(state: SessionState | str) -> bool:
    """Return True for CLOSED and EXPIRED."""
    return SessionState(state) in TERMINAL_SESSION_STATES


class ParticipantRole(str, enum.Enum):
    """A participant's role: the creator, or the other side(s)."""

    INITIATOR = "initiator"
    RESPONDENT = "respondent"
    PARTICIPANT = "participant"


def participant_role(index: int, count: int) -> ParticipantRole:
    """The role of the participant at ``index`` of ``count``: creator first, respondent in a pair."""
    if index == 0:
        return ParticipantRole.INITIATOR
    return ParticipantRole.RESPONDENT if count == 2 else ParticipantRole.PARTICIPANT


@dataclass(slots=True)
class Participant:
    """One member of a session; ``order`` 0 is the initiator."""

    agent_id: str
    role: ParticipantRole
    order: int
    joined_at: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "agent_id": self.agent_id,
            "role": self.role.value,
            "order": self.order,
            "joined_at": self.joined_at,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Participant:
        """Rebuild from ``to_dict`` output."""
        return cls(
            data["agent_id"],
            ParticipantRole(data["role"]),
            data["order"],
            data.get("joined_at", ""),
        )


@dataclass(slots=True)
class ParticipantSchema:
    """How many participants a session type takes (inclusive bounds) and their roles."""

    min: int = 2
    max: int | None = None
    roles: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Expectation:
    """A liveness promise checked by the sweeper: evaluator ``name``, handler ``on_violation``."""

    name: str
    on_violation: str = "audit"
    params: dict[str, Any] = field(default_factory=dict)
    applies_to: list[str] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "name": self.name,
            "on_violation": self.on_violation,
            "params": dict(self.params),
            "applies_to": None if self.applies_to is None else list(self.applies_to),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Expectation:
        """Rebuild from ``to_dict`` output."""
        return cls(
            data["name"],
            data.get("on_violation", "audit"),
            dict(data.get("params") or {}),
            data.get("applies_to"),
        )


@dataclass(slots=True)
class SessionManifest:
    """Data describing a session type; the adapter (code) is found by ``(type, version)``.

    ``ttl_default`` (an addition, spec §28 #7) lets a session type carry its own
    default TTL; the creator's ``Rule.limits.session_ttl_default`` applies when it is None.
    """

    type: str
    version: int = 1
    participants: ParticipantSchema = field(default_factory=ParticipantSchema)
    knobs_schema: dict[str, Any] = field(default_factory=dict)
    default_view_policy: str = "full_transcript"
    expectations: list[Expectation] = field(default_factory=list)
    ttl_default: str | int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "type": self.type,
            "version": self.version,
            "participants": {
                "min": self.participants.min,
                "max": self.participants.max,
                "roles": list(self.participants.roles),
            },
            "knobs_schema": dict(self.knobs_schema),
            "default_view_policy": self.default_view_policy,
            "expectations": [e.to_dict() for e in self.expectations],
            "ttl_default": self.ttl_default,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SessionManifest:
        """Rebuild from ``to_dict`` output."""
        p = data.get("participants") or {}
        return cls(
            type=data["type"],
            version=data.get("version", 1),
            participants=ParticipantSchema(
                p.get("min", 2), p.get("max"), list(p.get("roles") or [])
            ),
            knobs_schema=dict(data.get("knobs_schema") or {}),
            default_view_policy=data.get("default_view_policy", "full_transcript"),
            expectations=[Expectation.from_dict(e) for e in data.get("expectations") or []],
            ttl_default=data.get("ttl_default"),
        )


def _refuse(self: object, *args: object, **kwargs: object) -> NoReturn:
    raise TypeError(
        "this empty container is shared by every session that has none: assign a new one instead"
    )


class _NoEntries(dict[str, Any]):
    """The one empty ``knobs``/``labels`` dict the hub's sessions share; every write raises."""

    __slots__ = ()
    __setitem__ = __delitem__ = __ior__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse


class _NoIds(list[str]):
    """The one empty ``pending_acks``/``rejected_by`` list the hub's sessions share; every write raises."""

    __slots__ = ()
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse
    append = extend = insert = remove = pop = clear = sort = reverse = _refuse


# A live session costs the hub a few KiB; most have no knobs, labels or pending
# acks, so the hub's own metadata shares these two (callers get copies).
NO_ENTRIES: dict[str, Any] = _NoEntries()
NO_IDS: list[str] = _NoIds()


def own_entries(data: Mapping[str, Any] | None) -> dict[str, Any]:
    """A private copy of ``data``, or the shared read-only empty dict."""
    return dict(data) if data else NO_ENTRIES


def own_ids(ids: Iterable[str] | None) -> list[str]:
    """A private list of ``ids``, or the shared read-only empty list."""
    out = list(ids or ())
    return out if out else NO_IDS


@dataclass(slots=True)
class SessionMetadata:
    """Everything the hub knows about one session besides its WAL and adapter state."""

    session_id: str
    manifest: SessionManifest
    creator_id: str
    participants: list[Participant]
    state: SessionState = SessionState.PENDING
    created_at: str = ""
    expires_at: str | None = None
    closed_at: str | None = None
    close_reason: str = ""
    parent_session_id: str | None = None
    knobs: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    required_acks: int | None = None
    pending_acks: list[str] = field(default_factory=list)
    rejected_by: list[str] = field(default_factory=list)

    def participant_ids(self) -> list[str]:
        """Participant agent ids in ``order``."""
        return [p.agent_id for p in self.participants]

    def is_participant(self, agent_id: str) -> bool:
        """Return True if ``agent_id`` is a member of this session."""
        for p in self.participants:  # noqa: SIM110 - a plain loop is ~2x faster than any() here
            if p.agent_id == agent_id:
                return True
        return False

    def role_of(self, agent_id: str) -> ParticipantRole | None:
        """The participant's role, or None for an outsider."""
        for p in self.participants:
            if p.agent_id == agent_id:
                return p.role
        return None

    def is_terminal(self) -> bool:
        """Return True once CLOSED or EXPIRED."""
        return self.state in TERMINAL_SESSION_STATES

    def copy(self) -> SessionMetadata:
        """A snapshot safe to hand to callers (lists and dicts copied one level)."""
        return SessionMetadata(
            session_id=self.session_id,
            manifest=self.manifest,
            creator_id=self.creator_id,
            participants=list(self.participants),
            state=self.state,
            created_at=self.created_at,
            expires_at=self.expires_at,
            closed_at=self.closed_at,
            close_reason=self.close_reason,
            parent_session_id=self.parent_session_id,
            knobs=dict(self.knobs),
            labels=dict(self.labels),
            required_acks=self.required_acks,
            pending_acks=list(self.pending_acks),
            rejected_by=list(self.rejected_by),
        )

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "session_id": self.session_id,
            "manifest": self.manifest.to_dict(),
            "creator_id": self.creator_id,
            "participants": [p.to_dict() for p in self.participants],
            "state": self.state.value,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "closed_at": self.closed_at,
            "close_reason": self.close_reason,
            "parent_session_id": self.parent_session_id,
            "knobs": self.knobs,
            "labels": self.labels,
            "required_acks": self.required_acks,
            "pending_acks": list(self.pending_acks),
            "rejected_by": list(self.rejected_by),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SessionMetadata:
        """Rebuild from ``to_dict`` output."""
        return cls(
            session_id=data["session_id"],
            manifest=SessionManifest.from_dict(data["manifest"]),
            creator_id=data["creator_id"],
            participants=[Participant.from_dict(p) for p in data.get("participants") or []],
            state=SessionState(data.get("state", "pending")),
            created_at=data.get("created_at", ""),
            expires_at=data.get("expires_at"),
            closed_at=data.get("closed_at"),
            close_reason=data.get("close_reason", ""),
            parent_session_id=data.get("parent_session_id"),
            knobs=dict(data.get("knobs") or {}),
            labels=dict(data.get("labels") or {}),
            required_acks=data.get("required_acks"),
            pending_acks=list(data.get("pending_acks") or []),
            rejected_by=list(data.get("rejected_by") or []),
        )
