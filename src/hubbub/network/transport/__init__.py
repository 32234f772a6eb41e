"""Transports: drivers of the hub protocol — the in-process LocalLink, the client and server
connections every link uses (frames are re-exported from :mod:`hubbub.network.protocol.frames`)."""

from __future__ import annotations

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
    decode_frame,
    encode_frame,
)
from hubbub.network.transport.link import LinkClient, LinkEndpoint
from hubbub.network.transport.local import LocalLink, LocalLinkClient

__all__ = [
    "AcceptFrame",
    "ErrorFrame",
    "EventFrame",
    "GoodbyeFrame",
    "Frame",
    "HelloFrame",
    "LinkClient",
    "LinkEndpoint",
    "LocalLink",
    "LocalLinkClient",
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
