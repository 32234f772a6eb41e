"""Transports: frames (pure codec), link protocols, the in-process LocalLink."""

from __future__ import annotations

from hubbub.network.transport.frames import (
    AcceptFrame,
    ErrorFrame,
    EventFrame,
    Frame,
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
from hubbub.network.transport.local import LocalLink, LocalLinkClient, LocalLinkEndpoint

__all__ = [
    "AcceptFrame",
    "ErrorFrame",
    "EventFrame",
    "Frame",
    "HelloFrame",
    "LinkClient",
    "LinkEndpoint",
    "LocalLink",
    "LocalLinkClient",
    "LocalLinkEndpoint",
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
