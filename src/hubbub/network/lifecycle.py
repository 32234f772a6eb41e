"""Session lifecycle in one place: the transition table and the lifecycle fold.

A session's lifecycle state is not stored separately from its WAL: it is the
fold of the lifecycle envelopes (ack, reject, opened, closed, expired) over the
metadata written at creation. That makes "the WAL append and the state change it
causes cannot disagree after a crash" true by construction: there is one record.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from hubbub.network.envelope import (
    EV_SESSION_CLOSED,
    EV_SESSION_EXPIRED,
    EV_SESSION_INVITE_ACK,
    EV_SESSION_INVITE_REJECT,
    EV_SESSION_OPENED,
    Envelope,
)
from hubbub.network.errors import ProtocolError
from hubbub.network.session import NO_IDS, SessionMetadata, SessionState

__all__ = [
    "ALLOWED_TRANSITIONS",
    "LIFECYCLE_EVENTS",
    "apply_lifecycle_event",
    "can_transition",
    "check_transition",
    "terminal_envelope",
]

_S = SessionState

#: state → states it may move to. Terminal states have no way out.
ALLOWED_TRANSITIONS: dict[SessionState, frozenset[SessionState]] = {
    _S.PENDING: frozenset({_S.ACTIVE, _S.CLOSED, _S.EXPIRED}),
    _S.ACTIVE: frozenset({_S.CLOSING, _S.CLOSED, _S.EXPIRED}),
    _S.CLOSING: frozenset({_S.CLOSED, _S.EXPIRED}),
    _S.CLOSED: frozenset(),
    _S.EXPIRED: frozenset(),
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


def apply_lifecycle_event(metadata: SessionMetadata, envelope: Envelope) -> bool:
    """Apply one admitted lifecycle envelope to ``metadata`` in place.

    Returns True if the envelope was a lifecycle event (and so changed, or
    confirmed, the metadata). Illegal transitions in a log are ignored rather
    than raised, so that replay of a log is total; the live hub never writes one.
    """
    et = envelope.event_type
    if et not in LIFECYCLE_EVENTS:
        return False
    state = metadata.state
    if et == EV_SESSION_INVITE_ACK:
        if state is _S.PENDING and envelope.sender_id in metadata.pending_acks:
            metadata.pending_acks.remove(envelope.sender_id)
    elif et == EV_SESSION_INVITE_REJECT:
        if state is _S.PENDING and envelope.sender_id not in metadata.rejected_by:
            metadata.rejected_by = [*metadata.rejected_by, envelope.sender_id]
    elif et == EV_SESSION_OPENED:
        if can_transition(state, _S.ACTIVE):
            metadata.state = _S.ACTIVE
            metadata.pending_acks = NO_IDS
    else:
        new = _S.EXPIRED if et == EV_SESSION_EXPIRED else _S.CLOSED
        if can_transition(state, new):
            metadata.state = new
            reason = envelope.event_data.get("reason")
            metadata.close_reason = reason if isinstance(reason, str) else ""
            metadata.closed_at = envelope.created_at or None
    return True
