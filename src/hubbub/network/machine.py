"""The session machine: the one place an envelope is checked, stamped and applied.

A :class:`SessionMachine` owns a session's metadata, lifecycle state, sequence
counter and adapter state. The live hub and recovery drive the same machine:

* ``check(envelope)`` — would the session take it now? (lifecycle table, an
  unapplied close, the adapter's ``validate_send``); raises ``ProtocolError``.
* ``stamp(envelope, envelope_id=, now=)`` — a new envelope with the next sequence
  number (the sender's object is never logged or delivered).
* ``apply(stamped)`` — fold it: sequence, adapter state, lifecycle transition,
  and the adapter's decision (open once every invitee acked, close on a reject,
  the adapter's auto-close). Replay calls exactly this, so live and replay
  cannot drift.
* ``admitted(sender_id, key)`` — the id, sequence and time of the envelope this
  sender already posted under this idempotency key (the last ``KEYS_KEPT`` keys of
  the session are kept; they are folded from the WAL like everything else, so a
  retry after a hub restart is recognised too).
* ``save()`` / ``restore(saved)`` — the hub applies an envelope before its WAL
  append is durable (so the next admission sees it); if the append fails, it
  restores the machine to what was durable.

Pure: no asyncio, no clock, no store, no ids — values in, values out.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from hubbub.network.adapters.base import SessionAdapter
from hubbub.network.envelope import (
    EV_SESSION_INVITE_ACK,
    EV_SESSION_INVITE_REJECT,
    PROTOCOL_PREFIXES,
    Envelope,
)
from hubbub.network.errors import ProtocolError, ReplayError
from hubbub.network.lifecycle import (
    KNOWN_KEYS,
    TRANSITIONS,
    apply_lifecycle_event,
    event_key,
    refusal,
)
from hubbub.network.session import SessionMetadata, SessionState

__all__ = ["KEYS_KEPT", "Decision", "SessionMachine", "replay_lines"]

#: How many idempotency keys a session remembers (the most recent ones).
KEYS_KEPT = 4096

_ACTIVE = SessionState.ACTIVE
_PENDING = SessionState.PENDING

#: What an applied envelope leads to: (ACTIVE, "") opens the session; (CLOSED or
#: EXPIRED, reason) ends it. The hub carries it out once the envelope is durable.
Decision = tuple[SessionState, str]

_OPEN: Decision = (_ACTIVE, "")  # compared by identity: the one open decision
_REJECTED: Decision = (SessionState.CLOSED, "invite_rejected")

# What ``save`` records: seq, state, closing, decision and the lifecycle fields.
_Saved = tuple[
    int, Any, "str | None", "Decision | None", SessionState, list[str], list[str], str, "str | None"
]


class SessionMachine:
    """One session's metadata, lifecycle, sequence and adapter state (see module doc).

    Attributes:
        meta: the session's metadata; its lifecycle fields are the fold of the WAL.
        adapter: the session type's adapter (None when its type is not registered:
            such a session can be read but accepts nothing).
        state: the adapter state after the last applied envelope.
        seq: the sequence number of the last applied envelope.
        pids: participant ids in order (they never change after creation).
        decision: a decision made by an applied envelope and not yet carried out
            (its open/close envelope not applied yet), or None.
        closing: the reason of a decided end; set, the session accepts nothing more.
    """

    __slots__ = ("adapter", "closing", "decision", "keys", "meta", "pids", "seq", "state")

    def __init__(
        self, meta: SessionMetadata, adapter: SessionAdapter | None, state: Any = None
    ) -> None:
        self.meta = meta
        self.adapter = adapter
        if state is None and adapter is not None:
            state = adapter.initial_state(meta)
        self.state = state
        self.seq = 0
        self.pids: tuple[str, ...] = tuple(meta.participant_ids())
        self.decision: Decision | None = None
        self.closing: str | None = None
        # (sender_id, idempotency key) → (envelope_id, sequence, created_at), oldest
        # first; an OrderedDict, so dropping the oldest is O(1) (a dict's first key is
        # found by scanning past every slot deleted before it)
        self.keys: OrderedDict[tuple[str, str], tuple[str, int, str]] = OrderedDict()

    def __repr__(self) -> str:
        return f"<SessionMachine {self.meta.session_id} {self.meta.state.value} seq={self.seq}>"

    # ------------------------------------------------------------------ live admission

    def check(self, envelope: Envelope) -> None:
        """Raise ProtocolError unless the session would take ``envelope`` now.

        Checks, in order: an end already decided or applied (``session_closed``),
        the lifecycle table for (state, event) (``not_active`` / ``unknown_event``),
        then the adapter's ``validate_send`` against the current state.
        """
        meta = self.meta
        if self.closing is not None:
            raise ProtocolError(f"session {meta.session_id} is closed", code="session_closed")
        et = envelope.event_type
        if et.startswith(PROTOCOL_PREFIXES):
            if (meta.state, event_key(et)) not in TRANSITIONS and not self._declared(et):
                raise refusal(meta, et)
        elif meta.state is not _ACTIVE:  # content: the table's only row is (ACTIVE, CONTENT)
            raise refusal(meta, et)
        adapter = self.adapter
        if adapter is None:
            raise ProtocolError(
                f"no adapter registered for {meta.manifest.type!r}@v{meta.manifest.version}",
                code="not_found",
            )
        adapter.validate_send(meta, envelope, self.state)

    def _declared(self, event_type: str) -> bool:
        """An ``ag2.session.*`` type the table does not know but the adapter declares (ACTIVE only)."""
        if self.meta.state is not _ACTIVE or event_key(event_type) in KNOWN_KEYS:
            return False
        return event_type in getattr(self.adapter, "protocol_events", ())

    def stamp(
        self, envelope: Envelope, envelope_id: str, now: str, data: dict[str, Any] | None = None
    ) -> Envelope:
        """A new envelope: ``envelope``'s fields with id, time and the next sequence number.

        The audience list is copied; ``data`` (default: ``envelope.event_data``)
        becomes its ``event_data`` — the hub passes its own decoded copy of what it logs.
        """
        return Envelope(
            envelope.session_id,
            envelope.sender_id,
            None if envelope.audience is None else list(envelope.audience),
            envelope.event_type,
            envelope.event_data if data is None else data,
            envelope_id,
            envelope.task_id,
            envelope.causation_id,
            envelope.trace_id,
            envelope.priority,
            envelope.depth,
            envelope.idempotency_key,
            now,
            envelope.ttl_seconds,
            self.seq + 1,
        )

    # ------------------------------------------------------------------ the fold

    def apply(self, envelope: Envelope) -> Decision | None:
        """Fold one stamped envelope; returns the decision it leads to (or None).

        Raises:
            ReplayError: its sequence is not the next one, or the lifecycle table
                has no row for it (a divergent log; the live hub checks first, so it
                never gets here with one). ``replay_lines`` also refuses a line of
                another session.
        """
        meta = self.meta
        if envelope.sequence != self.seq + 1:
            raise ReplayError(
                f"session {meta.session_id}: sequence {envelope.sequence}, expected {self.seq + 1}"
            )
        et = envelope.event_type
        protocol = et.startswith(PROTOCOL_PREFIXES)
        if protocol and not self._declared(et):
            try:
                apply_lifecycle_event(meta, envelope)
            except ProtocolError as exc:
                raise ReplayError(f"session {meta.session_id}: {exc}") from exc
        elif meta.state is not _ACTIVE:
            raise ReplayError(f"session {meta.session_id}: {et!r} in state {meta.state.value}")
        self.seq = envelope.sequence
        if envelope.idempotency_key is not None:
            self._remember(envelope)
        adapter = self.adapter
        if adapter is not None:
            self.state = adapter.fold(envelope, self.state)
        if not protocol:  # content in an ACTIVE session: only the adapter can decide
            decision = self._adapter_decision(envelope)
            if decision is not None:
                self.decision = decision
                self.closing = decision[1]
            return decision
        if meta.is_terminal():  # the end is applied: nothing is pending any more
            self.decision = None
            self.closing = meta.close_reason or "closed"
            return None
        if meta.state is _ACTIVE and self.decision is _OPEN:  # the open is applied
            self.decision = None
        decision = self._lifecycle_decision(envelope)
        if decision is not None:
            self.decision = decision
            if decision[0] is not _ACTIVE:
                self.closing = decision[1]
        return decision

    def _lifecycle_decision(self, envelope: Envelope) -> Decision | None:
        """Open once every invitee acked; close on a reject."""
        meta = self.meta
        et = envelope.event_type
        if et == EV_SESSION_INVITE_ACK:
            if meta.state is _PENDING and not meta.pending_acks and not meta.rejected_by:
                return _OPEN
            return None
        if et == EV_SESSION_INVITE_REJECT:
            return _REJECTED
        return None

    def _adapter_decision(self, envelope: Envelope) -> Decision | None:
        """The adapter's ``on_accepted`` as a decision: an end, or None to stay."""
        if self.adapter is None:
            return None
        result = self.adapter.on_accepted(self.meta, envelope, self.state)
        if result.next_state is None or result.next_state is _ACTIVE:
            return None
        state = (
            SessionState.EXPIRED
            if result.next_state is SessionState.EXPIRED
            else SessionState.CLOSED
        )
        return state, result.auto_close_reason or "adapter_closed"

    # ------------------------------------------------------------------ rollback

    def admitted(self, sender_id: str, key: str) -> tuple[str, int, str] | None:
        """``(envelope_id, sequence, created_at)`` of the envelope ``sender_id`` posted
        under ``key``, if it is among the session's recent keys."""
        return self.keys.get((sender_id, key))

    def _remember(self, envelope: Envelope) -> None:
        keys = self.keys
        keys[(envelope.sender_id, envelope.idempotency_key or "")] = (
            envelope.envelope_id,
            envelope.sequence,
            envelope.created_at,
        )
        if len(keys) > KEYS_KEPT:
            keys.popitem(last=False)

    def save(self) -> _Saved:
        """What ``restore`` needs to undo every ``apply`` after this call."""
        m = self.meta
        return (
            self.seq,
            self.state,
            self.closing,
            self.decision,
            m.state,
            m.pending_acks,
            m.rejected_by,
            m.close_reason,
            m.closed_at,
        )

    def restore(self, saved: _Saved) -> None:
        """Undo every ``apply`` since ``saved = save()`` (lifecycle lists are never mutated
        in place, so the saved references are the old values)."""
        m = self.meta
        if self.keys and saved[0] < self.seq:  # forget the keys of what is undone
            for k in [k for k, v in self.keys.items() if v[1] > saved[0]]:
                del self.keys[k]
        (
            self.seq,
            self.state,
            self.closing,
            self.decision,
            m.state,
            m.pending_acks,
            m.rejected_by,
            m.close_reason,
            m.closed_at,
        ) = saved


def replay_lines(
    machine: SessionMachine, lines: list[str], first_line: int = 1
) -> Iterator[Envelope]:
    """Fold WAL lines (numbered from ``first_line``) into ``machine``, yielding each envelope.

    Raises:
        ReplayError: a line does not decode, names another session, breaks the
            sequence or the lifecycle table.
    """
    sid = machine.meta.session_id
    for number, line in enumerate(lines, start=first_line):
        if not line:
            continue
        try:
            env = Envelope.from_wal_line(line, sid)
        except Exception as exc:
            raise ReplayError(f"session {sid}: WAL line {number} does not decode: {exc}") from exc
        if env.session_id != sid:
            raise ReplayError(
                f"session {sid}: WAL line {number} belongs to session {env.session_id}"
            )
        try:
            machine.apply(env)
        except ReplayError as exc:
            raise ReplayError(f"{exc} (WAL line {number})") from exc
        yield env
