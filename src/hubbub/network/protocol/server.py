"""The hub's side of one connection, sans-I/O: frames in → operations for the hub, frames out.

A driver (``LocalLink``'s, the WebSocket server's) holds one :class:`ServerProtocol`
per connection and feeds it::

    ops = protocol.receive(frame)          # a frame from the client
    ... run each op against the hub ...
    protocol.complete(op, result)          # or protocol.fail(op, error)
    protocol.notify(recipient_id, env)     # the hub delivers to an own agent
    for frame in protocol.data_to_send():  # then write what the protocol queued
        ...

The protocol holds the connection's **identity** — the principal it
authenticated as and the agents it registered — and refuses, with an error frame
and no operation, anything that acts as someone else: a send whose sender is not
one of its agents, a request whose agent parameter names another connection's
agent. It also holds the delivery **cursors** (the last sequence delivered per
agent and session) and counts frames it refused.

States: ``hello`` (only a hello is accepted; anything else is answered with
``hello_required`` and the connection closes), ``open``, ``closed``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hubbub.network.envelope import Envelope
from hubbub.network.errors import AccessDeniedError, NetworkError
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
from hubbub.network.protocol.ops import (
    decode_params,
    encode_result,
    own_params,
)

__all__ = [
    "Authenticate",
    "Call",
    "Close",
    "Op",
    "Post",
    "Receipt",
    "ServerProtocol",
    "Subscribe",
    "Unsubscribe",
]


@dataclass(slots=True)
class Op:
    """Base of what the protocol asks its driver to do."""


@dataclass(slots=True)
class Authenticate(Op):
    """Check a hello's credential; answer with ``authenticated`` or ``refuse``."""

    scheme: str
    claim: dict[str, Any]
    name: str


@dataclass(slots=True)
class Call(Op):
    """Run a control-plane operation; answer with ``complete`` or ``fail``."""

    request_id: str
    name: str
    params: dict[str, Any]


@dataclass(slots=True)
class Post(Op):
    """Admit an envelope from an own agent; answer with ``complete`` (stamped copy) or ``fail``."""

    request_id: str
    envelope: Envelope


@dataclass(slots=True)
class Receipt(Op):
    """An own agent finished handling a delivered envelope (no answer)."""

    recipient_id: str
    envelope_id: str
    session_id: str
    sequence: int


@dataclass(slots=True)
class Subscribe(Op):
    """Start an observer: the envelopes of a session (or, for the operator, of every
    session), optionally only some event types, after ``since_envelope_id``. Answer
    with ``complete``/``fail`` (the subscription id is the request id)."""

    request_id: str
    session_id: str | None
    event_types: list[str] | None
    since_envelope_id: str | None


@dataclass(slots=True)
class Unsubscribe(Op):
    """Stop an observer (no answer)."""

    subscription_id: str


@dataclass(slots=True)
class Close(Op):
    """The connection must end (after the frames queued so far are written)."""

    code: str
    reason: str


@dataclass(slots=True)
class _Counters:
    frames_in: int = 0
    frames_out: int = 0
    refused: int = 0


@dataclass(slots=True)
class ServerProtocol:
    """One connection's protocol state on the hub side (see the module docstring).

    Args:
        endpoint_id: the id the hub gave this connection (sent in the welcome).
        limits: what the welcome tells the client (frame bytes, queue depth, ...).
    """

    endpoint_id: str
    limits: dict[str, Any] = field(default_factory=dict)
    state: str = "hello"
    agent_ids: set[str] = field(default_factory=set)
    cursors: dict[tuple[str, str], int] = field(default_factory=dict)
    counters: _Counters = field(default_factory=_Counters)
    principal: str | None = None
    _out: list[Frame] = field(default_factory=list)
    subscriptions: set[str] = field(default_factory=set)
    # agent id → deliveries held back while that agent's missed envelopes are resent
    _held: dict[str, list[Envelope]] = field(default_factory=dict)

    # ------------------------------------------------------------------ frames in

    def receive(self, frame: Frame) -> list[Op]:
        """Take one frame from the client; return what the driver must do for it."""
        self.counters.frames_in += 1
        if self.state == "closed":
            return []
        if self.state == "hello":
            return self._receive_hello(frame)
        if isinstance(frame, SendFrame):
            return self._receive_send(frame)
        if isinstance(frame, RequestFrame):
            return self._receive_request(frame)
        if isinstance(frame, ReceiptFrame):
            if type(frame.recipient_id) is not str or frame.recipient_id not in self.agent_ids:
                return []  # a receipt for someone else's delivery releases nothing
            return [
                Receipt(frame.recipient_id, frame.envelope_id, frame.session_id, frame.sequence)
            ]
        if isinstance(frame, SubscribeFrame):
            sub = frame.subscription_id
            if type(sub) is not str or not sub or sub in self.subscriptions:
                self._refuse(
                    ResponseFrame(
                        str(sub), False, None, "invalid_value",
                        "subscribe: subscription_id must be a new non-empty string",
                    )
                )  # fmt: skip
                return []
            self.subscriptions.add(sub)
            return [Subscribe(sub, frame.session_id, frame.event_types, frame.since_envelope_id)]
        if isinstance(frame, UnsubscribeFrame):
            sub = frame.subscription_id
            if type(sub) is not str or sub not in self.subscriptions:
                return []
            self.subscriptions.discard(sub)
            return [Unsubscribe(sub)]
        if isinstance(frame, PingFrame):
            self._out.append(PongFrame())
            return []
        if isinstance(frame, PongFrame):
            return []
        if isinstance(frame, GoodbyeFrame):
            self.state = "closed"
            return [Close("closing", frame.reason or "the client said goodbye")]
        self._refuse(ErrorFrame("bad_frame", f"a client may not send a {frame.kind} frame"))
        return []

    def receive_invalid(self, error: NetworkError, request_id: str = "") -> list[Op]:
        """A message from the client that is not a frame (undecodable, too large).

        It is answered with an error frame carrying the error's code (and the
        message's request id, when the driver could read one, so the request it
        answers fails instead of waiting); before the hello it also ends the
        connection.
        """
        self.counters.frames_in += 1
        self._refuse(ErrorFrame(error.code, str(error), request_id=request_id))
        if self.state == "hello":
            return self._close("hello_required", "the connection did not start with a hello")
        return []

    def _receive_hello(self, frame: Frame) -> list[Op]:
        if not isinstance(frame, HelloFrame):
            self._refuse(
                ErrorFrame("hello_required", f"expected a hello frame first, got {frame.kind}")
            )
            return self._close("hello_required", "the connection did not start with a hello")
        scheme, claim, name = frame.auth_scheme, frame.auth_claim, frame.name
        if type(scheme) is not str or not isinstance(claim, dict) or type(name) is not str:
            self._refuse(
                ErrorFrame(
                    "bad_frame",
                    "hello frame: auth_scheme and name must be strings, auth_claim an object",
                )
            )
            return self._close("bad_frame", "the hello frame does not have the hello's shape")
        return [Authenticate(scheme, dict(claim), name)]

    def _receive_send(self, frame: SendFrame) -> list[Op]:
        envelope, rid = frame.envelope, frame.request_id
        if type(rid) is not str:
            self._refuse(ErrorFrame("bad_frame", "send frame: request_id must be a string"))
            return []
        if not isinstance(envelope, Envelope):
            self._refuse(ErrorFrame("bad_frame", "send frame has no envelope", None, rid))
            return []
        sender = envelope.sender_id
        if type(sender) is not str or sender not in self.agent_ids:
            self._refuse(
                ErrorFrame(
                    AccessDeniedError.default_code,
                    f"sender_id {sender!r} is not registered through this connection",
                    None,
                    frame.request_id,
                )
            )
            return []
        return [Post(frame.request_id, envelope)]

    def _receive_request(self, frame: RequestFrame) -> list[Op]:
        if type(frame.request_id) is not str:
            self._refuse(ResponseFrame("", False, None, "bad_frame", "request_id must be a string"))
            return []
        try:
            params = decode_params(frame.op, frame.params)
            for name in own_params(frame.op):
                if params[name] not in self.agent_ids:
                    raise AccessDeniedError(
                        f"{frame.op}: {name} {params[name]!r} is not registered through "
                        "this connection"
                    )
        except NetworkError as exc:
            self._refuse(ResponseFrame(frame.request_id, False, None, exc.code, str(exc)))
            return []
        return [Call(frame.request_id, frame.op, params)]

    # ------------------------------------------------------------------ answers

    def authenticated(self, principal: str, hub_time: str) -> None:
        """The hello's credential is good: welcome the client as ``principal``."""
        self.principal = principal
        self.state = "open"
        self._out.append(WelcomeFrame(self.endpoint_id, hub_time, principal, dict(self.limits)))

    def refuse(self, error: NetworkError) -> list[Op]:
        """The hello's credential is bad: answer the error and end the connection."""
        self._refuse(ErrorFrame(error.code, str(error)))
        return self._close(error.code, str(error))

    def event(self, subscription_id: str, envelope: Envelope) -> bool:
        """Queue one observed envelope for a live subscription; False if there is none."""
        if self.state != "open" or subscription_id not in self.subscriptions:
            return False
        self._out.append(EventFrame(subscription_id, envelope))
        return True

    def complete(self, op: Call | Post | Subscribe, result: Any) -> None:
        """``op`` succeeded with ``result`` (the stamped envelope for a post)."""
        if self.state == "closed":
            return
        if isinstance(op, Subscribe):
            self._out.append(ResponseFrame(op.request_id, True, None))
            return
        if isinstance(op, Post):
            env: Envelope = result
            self._out.append(
                AcceptFrame(
                    env.envelope_id or "", env.sequence, op.request_id, env.created_at or ""
                )
            )
            return
        if op.name == "register":
            agent_id = result.passport.agent_id
            if agent_id:
                self.agent_ids.add(agent_id)
        elif op.name == "unregister":
            self.agent_ids.discard(op.params["agent_id"])
        self._out.append(ResponseFrame(op.request_id, True, encode_result(op.name, result)))

    def fail(self, op: Call | Post | Subscribe, error: NetworkError) -> None:
        """``op`` failed with ``error`` (its code travels to the client)."""
        if self.state == "closed":
            return
        if isinstance(op, Subscribe):
            self.subscriptions.discard(op.request_id)
        if isinstance(op, Post):
            self._refuse(ErrorFrame(error.code, str(error), None, op.request_id))
        else:
            self._refuse(ResponseFrame(op.request_id, False, None, error.code, str(error)))

    # ------------------------------------------------------------------ hub → client

    def notify(
        self, recipient_id: str, envelope: Envelope, probe: dict[str, Any] | None = None
    ) -> bool:
        """Queue the delivery of ``envelope`` to an own agent; False if it is not one.

        A delivery at or below the agent's cursor for the session (already sent,
        e.g. by a resume) is skipped and still returns True; one for an agent being
        resumed waits until :meth:`release`.
        """
        if self.state != "open" or recipient_id not in self.agent_ids:
            return False
        held = self._held.get(recipient_id)
        if held is not None:
            held.append(envelope)
            return True
        return self._notify(recipient_id, envelope, probe)

    def hold(self, agent_id: str, cursors: dict[str, int]) -> None:
        """Start resuming an own agent: its client has every envelope up to ``cursors``
        (session → sequence); live deliveries wait until :meth:`release`."""
        for session_id, seq in cursors.items():
            key = (agent_id, session_id)
            self.cursors[key] = max(self.cursors.get(key, 0), seq)
        self._held.setdefault(agent_id, [])

    def resend(self, agent_id: str, envelope: Envelope) -> None:
        """Deliver an envelope the agent missed (read back from the WAL) during a resume."""
        if self.state == "open" and agent_id in self.agent_ids:
            self._notify(agent_id, envelope)

    def release(self, agent_id: str) -> None:
        """End a resume: the held live deliveries go out (those already resent are skipped)."""
        for envelope in self._held.pop(agent_id, ()):
            self.notify(agent_id, envelope)

    def _notify(
        self, recipient_id: str, envelope: Envelope, probe: dict[str, Any] | None = None
    ) -> bool:
        key = (recipient_id, envelope.session_id)
        seq = envelope.sequence
        if seq and seq <= self.cursors.get(key, 0):
            return True
        if seq:
            self.cursors[key] = seq
        self._out.append(NotifyFrame(envelope, recipient_id, probe))
        return True

    def goodbye(self, code: str, reason: str) -> list[Op]:
        """The hub ends this connection (shutdown, slow consumer)."""
        if self.state == "closed":
            return []
        self._out.append(GoodbyeFrame(code, reason))
        return self._close(code, reason)

    def data_to_send(self) -> list[Frame]:
        """The frames queued since the last call, in order."""
        out, self._out = self._out, []
        self.counters.frames_out += len(out)
        return out

    # ------------------------------------------------------------------ helpers

    def _refuse(self, frame: Frame) -> None:
        self.counters.refused += 1
        self._out.append(frame)

    def _close(self, code: str, reason: str) -> list[Op]:
        self.state = "closed"
        return [Close(code, reason)]
