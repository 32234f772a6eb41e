"""The Session handle an agent holds for one session, and the client's per-session record.

A :class:`Session` is a thin handle: it posts through its owning client and reads
the session's state from the client's record, which the client keeps current from
the lifecycle envelopes it receives (ACTIVE after ``EV_SESSION_OPENED``, CLOSED /
EXPIRED after the close envelope). The handle works for any client that offers
``agent_id``, ``send_envelope``, ``get_session`` and ``close_session``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from hubbub.network.envelope import (
    EV_SESSION_CLOSED,
    EV_SESSION_EXPIRED,
    EV_SESSION_OPENED,
    EV_TEXT,
    Envelope,
)
from hubbub.network.session import TERMINAL_SESSION_STATES, SessionMetadata, SessionState

if TYPE_CHECKING:
    from hubbub.network.adapters.base import SessionAdapter
    from hubbub.network.views import Projection, ViewPolicy

__all__ = ["Session", "SessionClient"]

Predicate = Callable[[Envelope], bool]


class SessionClient(Protocol):
    """What a :class:`Session` handle needs from its owning client."""

    @property
    def agent_id(self) -> str:
        """The hub-stamped id of the client's agent."""
        ...

    async def send_envelope(self, envelope: Envelope) -> str:
        """Post ``envelope`` as this client; return its envelope id."""
        ...

    async def get_session(self, session_id: str) -> SessionMetadata:
        """Fresh metadata of a session the client participates in."""
        ...

    async def close_session(self, session_id: str, *, reason: str = "") -> SessionMetadata:
        """Close a session the client participates in."""
        ...


class _Waiter:
    """One pending ``wait_for_session_event`` call."""

    __slots__ = ("future", "predicate")

    def __init__(self, predicate: Predicate, future: asyncio.Future[Envelope]) -> None:
        self.predicate = predicate
        self.future = future


class _SessionRecord:
    """Everything one client keeps about one session (dropped soon after it ends).

    ``inbox`` is a bounded buffer of delivered envelopes for
    ``wait_for_session_event`` (a short list: most sessions hold a handful);
    ``pending`` is the ordered queue of the session's worker, present only while it
    runs; ``projection`` is the incremental view the default handler seeds turns from.
    """

    __slots__ = (
        "adapter",
        "handle",
        "inbox",
        "inbox_size",
        "metadata",
        "pending",
        "posts",
        "probe",
        "probes",
        "projection",
        "session_id",
        "state",
        "suppressed",
        "view",
        "waiters",
        "worker",
    )

    def __init__(self, session_id: str, inbox_size: int) -> None:
        self.session_id = session_id
        self.metadata: SessionMetadata | None = None
        self.posts = 0  # envelopes this client posted into the session (turns compare it)
        # (envelope id, the hub's turn probe as of it) for the latest delivered envelope
        self.probe: tuple[str, dict[str, Any]] | None = None
        # the probe each queued envelope came with (dropped once it is handled)
        self.probes: dict[str, dict[str, Any]] = {}
        self.state = SessionState.PENDING
        self.inbox: list[Envelope] = []
        self.inbox_size = inbox_size
        self.waiters: list[_Waiter] | None = None
        self.pending: deque[Envelope] | None = None
        self.worker: asyncio.Task[None] | None = None
        self.projection: Projection | None = None
        self.view: ViewPolicy | None = None
        self.adapter: SessionAdapter | None = None
        self.handle: Session | None = None
        self.suppressed = False

    def buffer(self, envelope: Envelope) -> None:
        """Keep ``envelope`` for waiters, dropping the oldest beyond ``inbox_size``."""
        inbox = self.inbox
        inbox.append(envelope)
        if len(inbox) > self.inbox_size:
            del inbox[0]

    @property
    def terminal(self) -> bool:
        """True once the session is CLOSED or EXPIRED (as far as this client knows)."""
        return self.state in TERMINAL_SESSION_STATES

    def adopt(self, metadata: SessionMetadata) -> None:
        """Take fresh hub metadata, never moving a terminal session back to live."""
        if self.terminal and not metadata.is_terminal():
            metadata.state = self.state
        if self.metadata is None:
            self.metadata = metadata
        else:  # keep the object handles already share; refresh its fields
            for name in SessionMetadata.__dataclass_fields__:
                setattr(self.metadata, name, getattr(metadata, name))
        self.state = self.metadata.state

    def observe(self, envelope: Envelope) -> bool:
        """Track lifecycle envelopes; return True when this one ended the session."""
        etype = envelope.event_type
        if etype == EV_SESSION_OPENED:
            if self.state is SessionState.PENDING:
                self._set_state(SessionState.ACTIVE, None)
            return False
        if etype in (EV_SESSION_CLOSED, EV_SESSION_EXPIRED):
            if self.terminal:
                return False
            reason = envelope.event_data.get("reason")
            new = SessionState.CLOSED if etype == EV_SESSION_CLOSED else SessionState.EXPIRED
            self._set_state(new, reason if isinstance(reason, str) else "")
            return True
        return False

    def mark_terminal(self, state: SessionState, reason: str) -> bool:
        """Record a terminal state learnt from the hub; True when it is news."""
        if self.terminal:
            return False
        self._set_state(state, reason)
        return True

    def _set_state(self, state: SessionState, reason: str | None) -> None:
        self.state = state
        meta = self.metadata
        if meta is not None:
            meta.state = state
            if state is SessionState.ACTIVE:
                meta.pending_acks = []
            if reason is not None:
                meta.close_reason = reason

    def retire(self) -> None:
        """Drop the turn machinery of an ended session (the inbox stays for waiters)."""
        self.projection = None
        self.view = None
        self.adapter = None


class Session:
    """A handle on one session, bound to the client that opened or joined it.

    Args:
        metadata: The session's metadata (the handle's snapshot).
        client: The owning client; posts and queries go through it.
    """

    __slots__ = ("_client", "_metadata", "_record")

    def __init__(
        self,
        *,
        metadata: SessionMetadata,
        client: SessionClient,
        _record: _SessionRecord | None = None,
    ) -> None:
        self._client = client
        self._metadata = metadata
        self._record = _record

    def __repr__(self) -> str:
        return f"Session({self.session_id!r}, state={self.state.value!r})"

    @property
    def session_id(self) -> str:
        """The hub-assigned session id."""
        return self._metadata.session_id

    @property
    def metadata(self) -> SessionMetadata:
        """A snapshot of the session's metadata as the client last saw it."""
        record = self._record
        meta = record.metadata if record is not None and record.metadata is not None else None
        return (meta or self._metadata).copy()

    @property
    def state(self) -> SessionState:
        """The session's state, kept current from the lifecycle envelopes the client receives."""
        record = self._record
        return record.state if record is not None else self._metadata.state

    @property
    def client(self) -> SessionClient:
        """The owning client."""
        return self._client

    def is_terminal(self) -> bool:
        """Return True once the session is CLOSED or EXPIRED."""
        return self.state in TERMINAL_SESSION_STATES

    async def send(
        self,
        content: str = "",
        *,
        audience: list[str] | None = None,
        causation_id: str | None = None,
        event_type: str = EV_TEXT,
        event_data: dict[str, Any] | None = None,
        depth: int | None = None,
    ) -> str:
        """Post one envelope into this session as the owning client; return its id.

        Args:
            content: The text; becomes ``event_data={"text": content}`` when
                ``event_data`` is None.
            audience: Recipient agent ids; None broadcasts to every other participant.
            causation_id: The envelope this one answers.
            event_type: The event type (``EV_TEXT`` by default).
            event_data: The payload; overrides ``content``.
            depth: Delegation hop count (0 by default).

        Raises:
            ProtocolError: the session refused the envelope (closed, out of turn, ...) or
                a field has the wrong type (code ``bad_envelope``, naming the field).
            AccessDeniedError: a rule refused it.
        """
        envelope = Envelope(
            session_id=self.session_id,
            sender_id=self._client.agent_id,
            # A list is copied; anything else goes as is, for the hub to refuse by name.
            audience=list(audience) if isinstance(audience, list | tuple) else audience,
            event_type=event_type,
            event_data={"text": content} if event_data is None else event_data,
            causation_id=causation_id,
            depth=0 if depth is None else depth,
        )
        return await self._client.send_envelope(envelope)

    async def info(self) -> SessionMetadata:
        """Fetch the session's current metadata from the hub (refreshing ``state``)."""
        meta = await self._client.get_session(self.session_id)
        if self._record is None:
            self._metadata = meta
        return meta

    async def close(self, reason: str = "") -> SessionMetadata:
        """Close the session; the hub uses ``"explicit_close"`` when ``reason`` is empty.

        Closing an already-ended session is a no-op that returns its metadata.
        """
        meta = await self._client.close_session(self.session_id, reason=reason)
        if self._record is None:
            self._metadata = meta
        return meta
