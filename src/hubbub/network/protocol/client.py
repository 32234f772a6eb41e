"""The client's side of one connection, sans-I/O: calls → frames, frames in → events.

A driver holds one :class:`ClientProtocol` and feeds it::

    protocol.hello(scheme, claim, name)
    rid = protocol.request("get_agent", {"name_or_id": "bob"})
    rid = protocol.send(envelope)              # idempotency key attached
    for frame in protocol.data_to_send(): ...  # write these
    for event in protocol.receive(frame): ...  # a frame from the hub

Events: :class:`Welcomed`, :class:`Answered` (a request's or a send's result),
:class:`Failed` (its error, rebuilt from the code), :class:`Delivered` (an
envelope for one of this connection's agents), :class:`Ended` (goodbye, or a
connection-level error).

The protocol keeps the **cursor** of every (agent, session) — the highest
sequence delivered — and drops a delivery at or below it, so a resume after a
reconnect delivers each envelope exactly once. Every send carries an
**idempotency key**; a send retried after a reconnect keeps its key, and the hub
writes it once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hubbub.network.envelope import Envelope
from hubbub.network.errors import NetworkError, ProtocolError, error_from_code
from hubbub.network.protocol.frames import (
    AcceptFrame,
    ErrorFrame,
    EventFrame,
    Frame,
    GoodbyeFrame,
    HelloFrame,
    NotifyFrame,
    PingFrame,
    PongFrame,
    ReceiptFrame,
    RequestFrame,
    ResponseFrame,
    SendFrame,
    SubscribeFrame,
    UnsubscribeFrame,
    WelcomeFrame,
)
from hubbub.network.protocol.ops import READ_ONLY, decode_result, encode_params

__all__ = [
    "Answered",
    "ClientProtocol",
    "Delivered",
    "Ended",
    "Event",
    "Failed",
    "Observed",
    "Welcomed",
]


@dataclass(slots=True)
class Event:
    """Base of what the protocol reports to its driver."""


@dataclass(slots=True)
class Welcomed(Event):
    """The hub accepted the hello."""

    endpoint_id: str
    principal: str
    limits: dict[str, Any]


@dataclass(slots=True)
class Answered(Event):
    """A request (or send) succeeded: ``result`` is decoded.

    The result of a send is the tuple ``(envelope_id, sequence, created_at)``.
    """

    request_id: str
    result: Any


@dataclass(slots=True)
class Failed(Event):
    """A request (or send) failed with ``error`` (its class and code rebuilt)."""

    request_id: str
    error: NetworkError


@dataclass(slots=True)
class Delivered(Event):
    """An envelope for one of this connection's agents (``probe``: the hub's turn probe
    as of this envelope, when it sent one)."""

    recipient_id: str
    envelope: Envelope
    probe: dict[str, Any] | None = None


@dataclass(slots=True)
class Observed(Event):
    """An envelope for one of this connection's subscriptions."""

    subscription_id: str
    envelope: Envelope


@dataclass(slots=True)
class Ended(Event):
    """The hub ended the connection (goodbye) or refused it (an error with no request)."""

    error: NetworkError


@dataclass(slots=True)
class _Pending:
    op: str  # "send" for a send
    again: Frame | None = None  # what to send again after a reconnect (None: nothing)


@dataclass(slots=True)
class ClientProtocol:
    """One connection's protocol state on the client side (see the module docstring).

    Args:
        key_prefix: what this client's idempotency keys start with (unique per
            client: the driver passes a random id).
        keys: give every sent envelope an idempotency key (links that reconnect).
    """

    key_prefix: str = ""
    keys: bool = False
    state: str = "new"
    endpoint_id: str = ""
    principal: str = ""
    cursors: dict[tuple[str, str], int] = field(default_factory=dict)
    _pending: dict[str, _Pending] = field(default_factory=dict)
    _out: list[Frame] = field(default_factory=list)
    _next: int = 0

    # ------------------------------------------------------------------ calls → frames

    def hello(
        self, scheme: str = "none", claim: dict[str, Any] | None = None, name: str = ""
    ) -> None:
        """Start the connection with a credential."""
        self.state = "hello"
        self._out.append(HelloFrame(name, scheme, dict(claim or {})))

    def request(self, op: str, params: dict[str, Any]) -> str:
        """Queue a control-plane request; returns its request id.

        Raises:
            ProtocolError: ``op`` is not an operation (``unknown_op``).
        """
        encoded = encode_params(op, params)
        rid = self._new_id()
        frame = RequestFrame(rid, op, encoded)
        self._pending[rid] = _Pending(op, frame if op in READ_ONLY else None)
        self._out.append(frame)
        return rid

    def send(self, envelope: Envelope) -> str:
        """Queue an envelope; returns the request id its accept or error answers.

        With ``keys`` on, an envelope without an ``idempotency_key`` gets one
        unique to this client (``<key_prefix>-<n>``); the hub writes an envelope
        once per (sender, key), so resending it after a lost answer is safe.
        """
        rid = self._new_id()
        if self.keys and envelope.idempotency_key is None:
            envelope.idempotency_key = f"{self.key_prefix}-{rid}"
        frame = SendFrame(envelope, rid)
        self._pending[rid] = _Pending(
            "send", frame if envelope.idempotency_key is not None else None
        )
        self._out.append(frame)
        return rid

    def subscribe(
        self,
        *,
        session_id: str | None = None,
        event_types: list[str] | None = None,
        since_envelope_id: str | None = None,
    ) -> str:
        """Queue a subscription; returns its id (its answer is a response with that id)."""
        sid = f"sub-{self._new_id()}"
        self._pending[sid] = _Pending("subscribe")
        self._out.append(SubscribeFrame(sid, session_id, None, event_types, since_envelope_id))
        return sid

    def unsubscribe(self, subscription_id: str) -> None:
        """Stop a subscription (nothing more is reported for it)."""
        self._out.append(UnsubscribeFrame(subscription_id))

    def receipt(self, recipient_id: str, envelope: Envelope) -> None:
        """Tell the hub an agent finished handling a delivered envelope."""
        self._out.append(
            ReceiptFrame(
                envelope.envelope_id or "",
                "ack",
                "",
                recipient_id,
                envelope.session_id,
                envelope.sequence,
            )
        )

    def goodbye(self, reason: str = "") -> None:
        """Say the client is leaving."""
        self._out.append(GoodbyeFrame("closing", reason))
        self.state = "closed"

    def data_to_send(self) -> list[Frame]:
        """The frames queued since the last call, in order."""
        out, self._out = self._out, []
        return out

    def connection_lost(self, *, keep_sends: bool = False) -> list[Failed]:
        """The link closed: every request still waiting fails with ``connection_lost``.

        With ``keep_sends``, what is safe to repeat stays pending, to be sent again by
        :meth:`resend` on the next connection: sends with an idempotency key (the hub
        writes each once) and read-only requests (``ops.READ_ONLY``).
        """
        self.state = "closed"
        pending, self._pending = self._pending, {}
        failed = []
        for rid, p in pending.items():
            if keep_sends and p.again is not None:
                self._pending[rid] = p
            else:
                error = ProtocolError("the link to the hub closed", code="connection_lost")
                failed.append(Failed(rid, error))
        return failed

    def refuse(self, request_id: str, error: NetworkError) -> list[Event]:
        """A request the driver could not send (e.g. over the hub's frame limit) fails
        with ``error`` and is forgotten: it is never sent again."""
        if self._pending.pop(request_id, None) is None:
            return []
        return [Failed(request_id, error)]

    def resend(self) -> int:
        """Queue again every send and read-only request still waiting (after a reconnect)."""
        count = 0
        for p in self._pending.values():
            if p.again is not None:
                self._out.append(p.again)
                count += 1
        return count

    def resume_cursors(self, agent_id: str) -> dict[str, int]:
        """Session → the last sequence delivered to ``agent_id`` (what a resume starts after)."""
        return {s: seq for (a, s), seq in self.cursors.items() if a == agent_id}

    # ------------------------------------------------------------------ frames in → events

    def receive(self, frame: Frame) -> list[Event]:
        """Take one frame from the hub; return what happened."""
        if isinstance(frame, NotifyFrame):
            return self._delivery(frame)
        if isinstance(frame, EventFrame):
            if frame.envelope is None:
                return []
            return [Observed(frame.subscription_id, frame.envelope)]
        if isinstance(frame, AcceptFrame):
            if self._pending.pop(frame.request_id, None) is None:
                return []
            return [
                Answered(frame.request_id, (frame.envelope_id, frame.sequence, frame.created_at))
            ]
        if isinstance(frame, ResponseFrame):
            pending = self._pending.pop(frame.request_id, None)
            if pending is None:
                return []
            if not frame.ok:
                code = frame.error_code or "error"
                return [
                    Failed(frame.request_id, error_from_code(code, frame.error_message or code))
                ]
            if pending.op == "subscribe":
                return [Answered(frame.request_id, None)]
            try:
                return [Answered(frame.request_id, decode_result(pending.op, frame.result))]
            except NetworkError as exc:
                return [Failed(frame.request_id, exc)]
        if isinstance(frame, ErrorFrame):
            error = error_from_code(frame.code, frame.message or frame.code)
            if frame.request_id and self._pending.pop(frame.request_id, None) is not None:
                return [Failed(frame.request_id, error)]
            if self.state == "hello":
                self.state = "closed"
                return [Ended(error)]
            return [Ended(error)] if frame.code in _FATAL else []
        if isinstance(frame, WelcomeFrame):
            self.state = "open"
            self.endpoint_id = frame.endpoint_id
            self.principal = frame.principal
            return [Welcomed(frame.endpoint_id, frame.principal, dict(frame.limits))]
        if isinstance(frame, GoodbyeFrame):
            self.state = "closed"
            return [Ended(error_from_code(frame.code, frame.reason or frame.code))]
        if isinstance(frame, PingFrame):
            self._out.append(PongFrame())
        return []

    def _delivery(self, frame: NotifyFrame) -> list[Event]:
        envelope = frame.envelope
        if envelope is None:
            return []
        key = (frame.recipient_id, envelope.session_id)
        seq = envelope.sequence
        if seq:
            if seq <= self.cursors.get(key, 0):
                return []  # already delivered (a resume overlapping live delivery)
            self.cursors[key] = seq
        probe = frame.probe if isinstance(frame.probe, dict) else None
        return [Delivered(frame.recipient_id, envelope, probe)]

    def _new_id(self) -> str:
        self._next += 1
        return str(self._next)


#: Connection-level error codes after which the hub closes the connection.
_FATAL = frozenset({"unauthenticated", "hello_required", "slow_consumer", "hub_shutdown"})
