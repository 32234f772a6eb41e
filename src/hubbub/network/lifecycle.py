"""Session lifecycle in one place: the transition table and what each transition does.

A session's lifecycle state is not stored separately from its WAL: it is the
fold of the lifecycle envelopes (ack, reject, opened, closed, expired) over the
metadata written at creation. That makes "the WAL append and the state change it
causes cannot disagree after a crash" true by construction: there is one record.

Everything that affects the lifecycle lives here (as h11's ``_state.py`` does):
``TRANSITIONS`` is keyed by (state, event) and a miss is a ``ProtocolError`` —
for the live hub a refusal, for replay a divergent log.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from hubbub.network.envelope import (
    EV_EXPECTATION_VIOLATED,
    EV_SESSION_CLOSED,
    EV_SESSION_EXPIRED,
    EV_SESSION_INVITE,
    EV_SESSION_INVITE_ACK,
    EV_SESSION_INVITE_REJECT,
    EV_SESSION_OPENED,
    Envelope,
)
from hubbub.network.errors import ProtocolError
from hubbub.network.session import NO_IDS, SessionMetadata, SessionState

__all__ = [
    "ALLOWED_TRANSITIONS",
    "CONTENT",
    "LIFECYCLE_EVENTS",
    "TASK",
    "TRANSITIONS",
    "apply_lifecycle_event",
    "can_transition",
    "check_transition",
    "event_key",
    "terminal_envelope",
]

_S = SessionState

#: The table's key for every event that is not a hub protocol event (texts, packets, ...).
CONTENT = "content"
#: The table's key for every ``ag2.task.*`` event.
TASK = "ag2.task.*"

#: (state, event key) → the state after it. Anything missing is refused.
TRANSITIONS: dict[tuple[SessionState, str], SessionState] = {
    (_S.PENDING, EV_SESSION_INVITE): _S.PENDING,
    (_S.PENDING, EV_SESSION_INVITE_ACK): _S.PENDING,
    (_S.PENDING, EV_SESSION_INVITE_REJECT): _S.PENDING,
    (_S.PENDING, EV_EXPECTATION_VIOLATED): _S.PENDING,
    (_S.PENDING, EV_SESSION_OPENED): _S.ACTIVE,
    (_S.PENDING, EV_SESSION_CLOSED): _S.CLOSED,
    (_S.PENDING, EV_SESSION_EXPIRED): _S.EXPIRED,
    (_S.ACTIVE, CONTENT): _S.ACTIVE,
    (_S.ACTIVE, TASK): _S.ACTIVE,
    (_S.ACTIVE, EV_EXPECTATION_VIOLATED): _S.ACTIVE,
    (_S.ACTIVE, EV_SESSION_CLOSED): _S.CLOSED,
    (_S.ACTIVE, EV_SESSION_EXPIRED): _S.EXPIRED,
    (_S.CLOSING, EV_SESSION_CLOSED): _S.CLOSED,
    (_S.CLOSING, EV_SESSION_EXPIRED): _S.EXPIRED,
}

#: The event keys the table knows (an ``ag2.session.*`` type outside it is unknown).
KNOWN_KEYS = frozenset(key for _, key in TRANSITIONS)

#: state → states it may move to (derived from the table). Terminal states have no way out.
ALLOWED_TRANSITIONS: dict[SessionState, frozenset[SessionState]] = {
    state: frozenset(new for (s, _), new in TRANSITIONS.items() if s is state and new is not s)
    for state in SessionState
}

LIFECYCLE_EVENTS = frozenset(
    {
        EV_SESSION_INVITE_ACK,
        EV_SESSION_INVITE_REJECT,
        EV_SESSION_OPENED,
        EV_SESSION_CLOSED,
        EV_SESSION_EXPIRED,
    }
)


def event_key(event_type: str) -> str:
    """The table key of an event type: itself for ``ag2.session.*``, TASK, or CONTENT."""
    if event_type.startswith("ag2.session."):
        return event_type
    if event_type.startswith("ag2.task."):
        return TASK
    return CONTENT


def can_transition(current: SessionState, new: SessionState) -> bool:
    """Return True if the table allows ``current`` → ``new``."""
    return new in ALLOWED_TRANSITIONS[current]


def check_transition(current: SessionState, new: SessionState) -> None:
    """Raise ProtocolError unless ``current`` → ``new`` is allowed."""
    if not can_transition(current, new):
        raise ProtocolError(f"session cannot move from {current.value} to {new.value}")


def terminal_envelope(metadata: SessionMetadata, state: SessionState, reason: str) -> Envelope:
    """Build (unstamped) the close/expire envelope broadcast to every participant."""
    event_type = EV_SESSION_EXPIRED if state is SessionState.EXPIRED else EV_SESSION_CLOSED
    return Envelope(
        session_id=metadata.session_id,
        sender_id=metadata.creator_id,
        audience=metadata.participant_ids(),
        event_type=event_type,
        event_data={"reason": reason, "session_id": metadata.session_id},
    )


def refusal(metadata: SessionMetadata, event_type: str) -> ProtocolError:
    """The error for an event the table has no row for in the session's current state."""
    sid = metadata.session_id
    state = metadata.state
    if metadata.is_terminal():
        return ProtocolError(f"session {sid} is {state.value}", code="session_closed")
    key = event_key(event_type)
    if key not in KNOWN_KEYS:
        return ProtocolError(
            f"envelope.event_type {event_type!r} is not a known session event", code="unknown_event"
        )
    return ProtocolError(
        f"session {sid} is {state.value}: {event_type!r} is not accepted now", code="not_active"
    )


def apply_lifecycle_event(metadata: SessionMetadata, envelope: Envelope) -> SessionState:
    """Apply one envelope's lifecycle effect to ``metadata`` in place; returns the new state.

    Raises:
        ProtocolError: the table has no row for (state, event), or an ack/reject
            comes from someone without a pending invite. For the live hub that is a
            refusal (checked before anything is written); in a WAL it is divergence.
    """
    et = envelope.event_type
    state = metadata.state
    new = TRANSITIONS.get((state, event_key(et)))
    if new is None:
        raise refusal(metadata, et)
    if et in (EV_SESSION_INVITE_ACK, EV_SESSION_INVITE_REJECT):
        sender = envelope.sender_id
        if sender not in metadata.pending_acks or sender in metadata.rejected_by:
            raise ProtocolError(
                f"{sender} has no pending invite to session {metadata.session_id}",
                code="not_active",
            )
        if et == EV_SESSION_INVITE_ACK:
            left = [a for a in metadata.pending_acks if a != sender]
            metadata.pending_acks = left or NO_IDS
        else:
            metadata.rejected_by = [*metadata.rejected_by, sender]
    elif et == EV_SESSION_OPENED:
        metadata.pending_acks = NO_IDS
    elif new is _S.CLOSED or new is _S.EXPIRED:
        reason = envelope.event_data.get("reason")
        metadata.close_reason = reason if isinstance(reason, str) else ""
        metadata.closed_at = envelope.created_at or None
    metadata.state = new
    return new
