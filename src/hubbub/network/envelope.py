"""The envelope — the one unit the hub admits, logs and delivers — and the event catalogue.

Pure values: no I/O, no clock. The hub stamps ``envelope_id``, ``created_at`` and
``sequence`` when it admits an envelope; everything else is the sender's.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import orjson

from hubbub.network.errors import ProtocolError

__all__ = [
    "EV_CONTEXT_SET",
    "EV_EXPECTATION_VIOLATED",
    "EV_HANDOFF",
    "EV_PACKET",
    "EV_SESSION_CLOSED",
    "EV_SESSION_EXPIRED",
    "EV_SESSION_INVITE",
    "EV_SESSION_INVITE_ACK",
    "EV_SESSION_INVITE_REJECT",
    "EV_SESSION_OPENED",
    "EV_TASK_COMPLETED",
    "EV_TASK_EXPIRED",
    "EV_TASK_FAILED",
    "EV_TASK_PROGRESS",
    "EV_TASK_STARTED",
    "EV_TEXT",
    "EV_TURN_FAILED",
    "PROTOCOL_PREFIXES",
    "Envelope",
    "Priority",
    "is_protocol_event",
    "visible_to",
]

EV_TEXT = "ag2.msg.text"
# A participant's turn failed: posted by its client so the others hear at once
# (event_data: {"code": str, "message": str, "envelope_id": str}); never answered
# by a model turn.
EV_TURN_FAILED = "ag2.msg.turn_failed"
EV_PACKET = "ag2.packet"
EV_HANDOFF = "ag2.handoff"
EV_CONTEXT_SET = "ag2.context.set"
EV_SESSION_INVITE = "ag2.session.invite"
EV_SESSION_INVITE_ACK = "ag2.session.invite.ack"
EV_SESSION_INVITE_REJECT = "ag2.session.invite.reject"
EV_SESSION_OPENED = "ag2.session.opened"
EV_SESSION_CLOSED = "ag2.session.closed"
EV_SESSION_EXPIRED = "ag2.session.expired"
# The session-docs string (spec §28 #14): a violation is a protocol event, so it
# can be posted on a session in any live state.
EV_EXPECTATION_VIOLATED = "ag2.session.expectation_violated"
EV_TASK_STARTED = "ag2.task.started"
EV_TASK_PROGRESS = "ag2.task.progress"
EV_TASK_COMPLETED = "ag2.task.completed"
EV_TASK_FAILED = "ag2.task.failed"
EV_TASK_EXPIRED = "ag2.task.expired"

PROTOCOL_PREFIXES = ("ag2.session.", "ag2.task.")


class Priority(str, enum.Enum):
    """Delivery priority hint. The docs' LOW/HIGH spellings are aliases."""

    BACKGROUND = "background"
    NORMAL = "normal"
    URGENT = "urgent"
    LOW = "background"
    HIGH = "urgent"


_PRIORITIES = frozenset(p.value for p in Priority)
_WAL_OPTS = orjson.OPT_APPEND_NEWLINE

# What a lifecycle event's data repeats, and so its WAL line leaves out: the
# session (the WAL's path names it), the creator (the invite's sender) and empty
# knobs and labels. The source says where ``from_wal_line`` takes it back from.
_SESSION, _SENDER, _EMPTY = 0, 1, 2
_IMPLIED: dict[str, tuple[tuple[str, int], ...]] = {
    EV_SESSION_INVITE: (
        ("session_id", _SESSION),
        ("creator_id", _SENDER),
        ("knobs", _EMPTY),
        ("labels", _EMPTY),
    ),
    EV_SESSION_INVITE_ACK: (("session_id", _SESSION),),
    EV_SESSION_INVITE_REJECT: (("session_id", _SESSION),),
    EV_SESSION_OPENED: (("session_id", _SESSION),),
    EV_SESSION_CLOSED: (("session_id", _SESSION),),
    EV_SESSION_EXPIRED: (("session_id", _SESSION),),
}


def _implied(source: int, session_id: str, sender_id: Any) -> Any:
    return session_id if source == _SESSION else sender_id if source == _SENDER else {}


def _without_implied(env: Envelope, implied: tuple[tuple[str, int], ...]) -> dict[str, Any] | None:
    """``env.event_data`` less what it repeats; None if it lacks an implied key (write it verbatim)."""
    kept = dict(env.event_data)
    for key, source in implied:
        if key not in kept:
            return None
        if kept[key] == _implied(source, env.session_id, env.sender_id):
            del kept[key]
    return kept


def _all_str(items: list[Any]) -> bool:
    """Every item is exactly a str (a loop: cheaper than ``all()`` over a generator)."""
    for item in items:  # noqa: SIM110 (the loop is the point)
        if type(item) is not str:
            return False
    return True


def is_protocol_event(event_type: str) -> bool:
    """Return True for hub lifecycle events (``ag2.session.*``, ``ag2.task.*``)."""
    return event_type.startswith(PROTOCOL_PREFIXES)


@dataclass(slots=True)
class Envelope:
    """One event in one session, as logged in the WAL and delivered to the audience.

    ``audience=None`` broadcasts to every participant except the sender; a list
    notifies only those ids (``[]`` notifies nobody). ``sequence`` is the 1-based
    per-session admission number stamped by the hub (WAL order).
    """

    session_id: str
    sender_id: str
    audience: list[str] | None
    event_type: str
    event_data: dict[str, Any] = field(default_factory=dict)
    envelope_id: str = ""
    task_id: str | None = None
    causation_id: str | None = None
    trace_id: str | None = None
    priority: str = "normal"
    depth: int = 0
    idempotency_key: str | None = None
    created_at: str = ""
    ttl_seconds: int | None = None
    sequence: int = 0

    def stamped(self, envelope_id: str, sequence: int, created_at: str) -> Envelope:
        """A copy with the hub's stamp (``dataclasses.replace``, without its overhead)."""
        return Envelope(
            self.session_id,
            self.sender_id,
            self.audience,
            self.event_type,
            self.event_data,
            envelope_id,
            self.task_id,
            self.causation_id,
            self.trace_id,
            self.priority,
            self.depth,
            self.idempotency_key,
            created_at,
            self.ttl_seconds,
            sequence,
        )

    def to_dict(self) -> dict[str, Any]:
        """Return a plain, JSON-ready dict of every field."""
        return {
            "session_id": self.session_id,
            "sender_id": self.sender_id,
            "audience": None if self.audience is None else list(self.audience),
            "event_type": self.event_type,
            "event_data": self.event_data,
            "envelope_id": self.envelope_id,
            "task_id": self.task_id,
            "causation_id": self.causation_id,
            "trace_id": self.trace_id,
            "priority": self.priority,
            "depth": self.depth,
            "idempotency_key": self.idempotency_key,
            "created_at": self.created_at,
            "ttl_seconds": self.ttl_seconds,
            "sequence": self.sequence,
        }

    def to_json(self) -> str:
        """Serialise to compact JSON with sorted keys (the WAL line format)."""
        return orjson.dumps(self.to_dict(), option=orjson.OPT_SORT_KEYS).decode()

    def to_wal_line(self) -> str:
        """Serialise as one compact WAL line plus "\n", for the session's own WAL file.

        Fields at their default are left out, and so is ``session_id``: the WAL's
        path names the session. So is what a lifecycle event's data repeats (its
        session, the invite's creator = sender, empty knobs and labels); a
        lifecycle event whose data lacks one of those is written verbatim, with
        its ``session_id``. ``from_wal_line`` restores all of it, so the line
        round-trips exactly. Keys are in field order (no sort: it is deterministic).
        """
        data = self.event_data
        d: dict[str, Any] = {"sender_id": self.sender_id}
        implied = _IMPLIED.get(self.event_type)
        if implied is not None:
            kept = _without_implied(self, implied)
            if kept is None:  # nothing to restore a missing key from: the line names its session
                d = {"session_id": self.session_id, "sender_id": self.sender_id}
            else:
                data = kept
        if self.audience is not None:
            d["audience"] = self.audience
        d["event_type"] = self.event_type
        if data:
            d["event_data"] = data
        d["envelope_id"] = self.envelope_id
        d["created_at"] = self.created_at
        d["sequence"] = self.sequence
        if self.task_id is not None:
            d["task_id"] = self.task_id
        if self.causation_id is not None:
            d["causation_id"] = self.causation_id
        if self.trace_id is not None:
            d["trace_id"] = self.trace_id
        if self.priority != "normal":
            d["priority"] = self.priority
        if self.depth:
            d["depth"] = self.depth
        if self.idempotency_key is not None:
            d["idempotency_key"] = self.idempotency_key
        if self.ttl_seconds is not None:
            d["ttl_seconds"] = self.ttl_seconds
        return orjson.dumps(d, option=_WAL_OPTS).decode()

    @classmethod
    def from_dict(cls, data: Any) -> Envelope:
        """Build an envelope from untrusted data, raising ProtocolError on a bad shape."""
        if not isinstance(data, dict):
            raise ProtocolError("envelope must be a JSON object", code="bad_envelope")
        if not data.keys() <= _FIELDS:
            unknown = sorted(set(data) - _FIELDS)
            raise ProtocolError(f"envelope has unknown field(s): {unknown}", code="bad_envelope")
        get = data.get
        try:
            event_data = get("event_data")
            env = cls(  # positional, in field order: this runs for every replayed WAL line
                data["session_id"],
                get("sender_id", ""),
                get("audience"),
                data["event_type"],
                # Only null means "no payload": [] / "" / 0 must reach check_shape and fail.
                {} if event_data is None else event_data,
                get("envelope_id", ""),
                get("task_id"),
                get("causation_id"),
                get("trace_id"),
                get("priority", "normal"),
                get("depth", 0),
                get("idempotency_key"),
                get("created_at", ""),
                get("ttl_seconds"),
                get("sequence", 0),
            )
        except KeyError as exc:
            raise ProtocolError(
                f"envelope is missing field {exc.args[0]!r}", code="bad_envelope"
            ) from exc
        env.check_shape()
        return env

    @classmethod
    def from_wal_line(cls, text: str | bytes, session_id: str) -> Envelope:
        """Parse a line of ``session_id``'s WAL (a line that names a session is verbatim)."""
        data = _loads(text)
        if type(data) is dict and "session_id" not in data:
            data["session_id"] = session_id
            implied = _IMPLIED.get(data.get("event_type", ""))
            if implied is not None:
                given = data.get("event_data")
                if given is None:
                    given = {}
                if type(given) is dict:
                    sender = data.get("sender_id")
                    full = {
                        k: _implied(s, session_id, sender) for k, s in implied if k not in given
                    }
                    full.update(given)
                    data["event_data"] = full
        return cls.from_dict(data)

    @classmethod
    def from_json(cls, text: str | bytes) -> Envelope:
        """Parse a wire payload (or a WAL line that names its session)."""
        return cls.from_dict(_loads(text))

    def check_shape(self) -> None:
        """Raise ProtocolError naming the first field whose type or value is wrong."""
        audience = self.audience
        # Fast path: one combined test for the well-formed common case.
        if (
            type(self.session_id) is str
            and self.session_id
            and type(self.sender_id) is str
            and type(self.event_type) is str
            and self.event_type
            and type(self.event_data) is dict
            and (audience is None or (type(audience) is list and _all_str(audience)))
            and type(self.priority) is str
            and self.priority in _PRIORITIES
            and type(self.depth) is int
            and self.depth >= 0
            and (self.task_id is None or type(self.task_id) is str)
            and (self.causation_id is None or type(self.causation_id) is str)
            and (self.trace_id is None or type(self.trace_id) is str)
            and (self.idempotency_key is None or type(self.idempotency_key) is str)
            and (
                self.ttl_seconds is None
                or (type(self.ttl_seconds) is int and self.ttl_seconds >= 0)
            )
            and type(self.envelope_id) is str
            and type(self.created_at) is str
            and type(self.sequence) is int
            and self.sequence >= 0
        ):
            return
        self._explain_shape()

    def _explain_shape(self) -> None:
        if not isinstance(self.session_id, str) or not self.session_id:
            raise ProtocolError(
                "envelope.session_id must be a non-empty string", code="bad_envelope"
            )
        if not isinstance(self.sender_id, str):
            raise ProtocolError("envelope.sender_id must be a string", code="bad_envelope")
        if not isinstance(self.event_type, str) or not self.event_type:
            raise ProtocolError(
                "envelope.event_type must be a non-empty string", code="bad_envelope"
            )
        if not isinstance(self.event_data, dict):
            raise ProtocolError("envelope.event_data must be an object", code="bad_envelope")
        audience = self.audience
        if audience is not None and (
            not isinstance(audience, list) or not all(isinstance(a, str) for a in audience)
        ):
            raise ProtocolError(
                "envelope.audience must be null or a list of agent ids", code="bad_envelope"
            )
        if type(self.priority) is not str or self.priority not in _PRIORITIES:
            raise ProtocolError(
                f"envelope.priority must be one of {sorted(_PRIORITIES)}, got {self.priority!r}",
                code="bad_envelope",
            )
        if type(self.depth) is not int or self.depth < 0:
            raise ProtocolError(
                "envelope.depth must be a non-negative integer", code="bad_envelope"
            )
        for name in ("task_id", "causation_id", "trace_id", "idempotency_key"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise ProtocolError(
                    f"envelope.{name} must be null or a string", code="bad_envelope"
                )
        ttl = self.ttl_seconds
        if ttl is not None and (type(ttl) is not int or ttl < 0):
            raise ProtocolError(
                "envelope.ttl_seconds must be null or a non-negative integer", code="bad_envelope"
            )
        for name in ("envelope_id", "created_at"):
            if not isinstance(getattr(self, name), str):
                raise ProtocolError(f"envelope.{name} must be a string", code="bad_envelope")
        if type(self.sequence) is not int or self.sequence < 0:
            raise ProtocolError(
                "envelope.sequence must be a non-negative integer", code="bad_envelope"
            )


_FIELDS = frozenset(Envelope.__dataclass_fields__)


def _loads(text: str | bytes) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"envelope is not valid JSON: {exc}", code="bad_envelope") from exc


def visible_to(envelope: Envelope, participant_id: str) -> bool:
    """Return True if ``participant_id`` sent the envelope or is in its audience."""
    return (
        envelope.sender_id == participant_id
        or envelope.audience is None
        or participant_id in envelope.audience
    )


def json_size_ok(value: Any, limit: int) -> int:
    """Return the JSON size of ``value`` in bytes, raising ProtocolError when it is not JSON or too big."""
    try:
        size = len(orjson.dumps(value))
    except (TypeError, orjson.JSONEncodeError) as exc:
        raise ProtocolError(
            f"envelope.event_data is not JSON-serialisable: {exc}", code="bad_envelope"
        ) from exc
    if size > limit:
        raise ProtocolError(
            f"envelope payload is {size} bytes, over the {limit}-byte limit",
            code="payload_too_large",
        )
    return size
