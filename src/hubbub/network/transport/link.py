"""The link protocols: a client's side and the hub's side of one duplex connection."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

from hubbub.network.transport.frames import Frame

__all__ = ["LinkClient", "LinkEndpoint"]


@runtime_checkable
class LinkClient(Protocol):
    """The client's end: send frames to the hub, iterate frames from it."""

    endpoint_id: str

    async def open(self) -> None:
        """Connect (a no-op in-process)."""
        ...

    async def send_frame(self, frame: Frame) -> None:
        """Send one frame to the hub."""
        ...

    def frames(self) -> AsyncIterator[Frame]:
        """Frames from the hub, until the link closes."""
        ...

    async def close(self) -> None:
        """Close both directions; idempotent."""
        ...


@runtime_checkable
class LinkEndpoint(Protocol):
    """The hub's end of one connection."""

    endpoint_id: str

    async def send_frame(self, frame: Frame) -> None:
        """Deliver one frame to the client; must not block on a slow reader."""
        ...

    def frames(self) -> AsyncIterator[Frame]:
        """Frames from the client, until the link closes."""
        ...

    async def close(self) -> None:
        """Close both directions; idempotent."""
        ...
