"""Frames: the messages a link carries between a client and the hub (pure codec).

In-process (``LocalLink``) frames travel as objects; over a wire each frame is
the JSON object ``encode_frame(frame)``: its fields plus a ``kind`` discriminator.

The vocabulary, by direction and pairing:

* hello → welcome (or error ``unauthenticated`` and the connection closes);
* request → response, correlated by ``request_id`` (control-plane calls);
* send → accept or error, correlated by ``request_id`` (envelopes);
* notify → receipt (delivery to one registered agent);
* subscribe → event, unsubscribe (observers);
* goodbye (either side: this connection ends now, with a reason);
* ping → pong.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from hubbub.network.envelope import Envelope
from hubbub.network.errors import ProtocolError

__all__ = [
    "AcceptFrame",
    "ErrorFrame",
    "EventFrame",
    "Frame",
    "GoodbyeFrame",
    "HelloFrame",
    "NotifyFrame",
    "PingFrame",
    "PongFrame",
    "ReceiptFrame",
    "RequestFrame",
    "ResponseFrame",
    "SendFrame",
    "SubscribeFrame",
    "UnsubscribeFrame",
    "WelcomeFrame",
    "decode_frame",
    "encode_frame",
]


@dataclass(slots=True)
class Frame:
    """Base of every frame; ``kind`` names the concrete class on the wire."""

    kind: ClassVar[str] = ""


@dataclass(slots=True)
class HelloFrame(Frame):
    """Client → hub: who connects and with which credential."""

    kind: ClassVar[str] = "hello"
    name: str = ""
    auth_scheme: str = "none"
    auth_claim: dict[str, Any] = field(default_factory=dict)
    since_envelope_id: str | None = None


@dataclass(slots=True)
class WelcomeFrame(Frame):
    """Hub → client: the endpoint id the hub assigned, and the hub's time."""

    kind: ClassVar[str] = "welcome"
    endpoint_id: str = ""
    hub_time: str = ""
    principal: str = ""
    limits: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class PingFrame(Frame):
    """Either direction: liveness probe."""

    kind: ClassVar[str] = "ping"


@dataclass(slots=True)
class PongFrame(Frame):
    """Either direction: answer to a ping."""

    kind: ClassVar[str] = "pong"


@dataclass(slots=True)
class SendFrame(Frame):
    """Client → hub: post this envelope."""

    kind: ClassVar[str] = "send"
    envelope: Envelope | None = None
    request_id: str = ""


@dataclass(slots=True)
class AcceptFrame(Frame):
    """Hub → client: the envelope was durably admitted under this id."""

    kind: ClassVar[str] = "accept"
    envelope_id: str = ""
    sequence: int = 0
    request_id: str = ""
    created_at: str = ""


@dataclass(slots=True)
class ErrorFrame(Frame):
    """Hub → client: a request or send failed, with a stable code."""

    kind: ClassVar[str] = "error"
    code: str = "error"
    message: str = ""
    envelope_id: str | None = None
    request_id: str = ""


@dataclass(slots=True)
class GoodbyeFrame(Frame):
    """Either direction: this connection ends now (hub shutdown, slow consumer, client leaving)."""

    kind: ClassVar[str] = "goodbye"
    code: str = "closing"
    reason: str = ""


@dataclass(slots=True)
class NotifyFrame(Frame):
    """Hub → client: deliver an admitted envelope to one recipient."""

    kind: ClassVar[str] = "notify"
    envelope: Envelope | None = None
    recipient_id: str = ""
    #: what a turn answering it starts with, as of this envelope: ``{"can_send", "state"}``
    probe: dict[str, Any] | None = None


@dataclass(slots=True)
class ReceiptFrame(Frame):
    """Client → hub: a delivered envelope was handled (ack) or refused (nack)."""

    kind: ClassVar[str] = "receipt"
    envelope_id: str = ""
    status: str = "ack"
    reason: str = ""
    recipient_id: str = ""
    session_id: str = ""
    sequence: int = 0


@dataclass(slots=True)
class SubscribeFrame(Frame):
    """Client → hub: observe envelopes matching a filter."""

    kind: ClassVar[str] = "subscribe"
    subscription_id: str = ""
    session_id: str | None = None
    task_id: str | None = None
    event_types: list[str] | None = None
    since_envelope_id: str | None = None


@dataclass(slots=True)
class UnsubscribeFrame(Frame):
    """Client → hub: stop a subscription."""

    kind: ClassVar[str] = "unsubscribe"
    subscription_id: str = ""


@dataclass(slots=True)
class EventFrame(Frame):
    """Hub → client: one envelope for a subscription."""

    kind: ClassVar[str] = "event"
    subscription_id: str = ""
    envelope: Envelope | None = None


@dataclass(slots=True)
class RequestFrame(Frame):
    """Client → hub: a control-plane call (``op`` with ``params``)."""

    kind: ClassVar[str] = "request"
    request_id: str = ""
    op: str = ""
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ResponseFrame(Frame):
    """Hub → client: the result of a control-plane call."""

    kind: ClassVar[str] = "response"
    request_id: str = ""
    ok: bool = True
    result: Any = None
    error_code: str | None = None
    error_message: str | None = None


_KINDS: dict[str, type[Frame]] = {
    cls.kind: cls
    for cls in (
        HelloFrame,
        WelcomeFrame,
        PingFrame,
        PongFrame,
        SendFrame,
        AcceptFrame,
        ErrorFrame,
        GoodbyeFrame,
        NotifyFrame,
        ReceiptFrame,
        SubscribeFrame,
        UnsubscribeFrame,
        EventFrame,
        RequestFrame,
        ResponseFrame,
    )
}


def _type_ok(parts: tuple[str, ...], value: Any) -> bool:
    """Check a decoded value against a frame field's annotation, split at ``|`` (the few
    shapes frames use).

    Without this a wire peer could plant, say, a non-string ``name`` or id that
    only fails deep inside the hub.
    """
    for part in parts:
        if part == "Any":
            return True
        if part == "None":
            ok = value is None
        elif part == "str":
            ok = isinstance(value, str)
        elif part == "int":
            ok = type(value) is int
        elif part == "bool":
            ok = type(value) is bool
        elif part.startswith("dict["):
            ok = isinstance(value, dict)
        elif part == "list[str]":
            ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        elif part == "Envelope":
            ok = isinstance(value, Envelope)
        else:  # an annotation this checker does not know: a frame was added, extend above
            raise TypeError(f"frame field annotation {'|'.join(parts)!r} is not checkable")
        if ok:
            return True
    return False


#: Each frame class's fields: (name, its annotation split at ``|``), computed once.
_FIELDS: dict[type[Frame], tuple[tuple[str, tuple[str, ...]], ...]] = {
    cls: tuple((f.name, tuple(p.strip() for p in str(f.type).split("|"))) for f in fields(cls))
    for cls in _KINDS.values()
}


def encode_frame(frame: Frame) -> dict[str, Any]:
    """Return the JSON-ready dict of a frame (nested envelope as a dict) plus ``kind``."""
    out: dict[str, Any] = {"kind": frame.kind}
    for name, _ in _FIELDS[type(frame)]:
        value = getattr(frame, name)
        out[name] = value.to_dict() if isinstance(value, Envelope) else value
    return out


def decode_frame(data: Any) -> Frame:
    """Rebuild a frame from ``encode_frame`` output; ProtocolError(code="bad_frame") on bad input."""
    if not isinstance(data, dict):
        raise ProtocolError("frame must be a JSON object", code="bad_frame")
    kind = data.get("kind")
    cls = _KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ProtocolError(f"unknown frame kind {kind!r}", code="bad_frame")
    spec = _FIELDS[cls]
    unknown = set(data) - {name for name, _ in spec} - {"kind"}
    if unknown:
        raise ProtocolError(
            f"{kind} frame has unknown field(s): {sorted(unknown)}", code="bad_frame"
        )
    kwargs = {k: v for k, v in data.items() if k != "kind"}
    if "envelope" in kwargs and kwargs["envelope"] is not None:
        kwargs["envelope"] = Envelope.from_dict(kwargs["envelope"])
    for name, parts in spec:
        if name in kwargs and not _type_ok(parts, kwargs[name]):
            raise ProtocolError(
                f"{kind} frame field {name!r} must be {' | '.join(parts)}, "
                f"got {type(kwargs[name]).__name__}",
                code="bad_frame",
            )
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ProtocolError(f"bad {kind} frame: {exc}", code="bad_frame") from exc
