"""LocalLink: the in-process transport. Frames pass as objects; no serialisation.

``LocalLink(hub).client()`` creates a duplex pair and attaches the hub's end to
the hub, which returns a ``Connection`` — the hub API bound to this client's
identity. In-process, the HubClient calls the connection directly (request /
response without frames); envelopes for the client arrive as ``NotifyFrame``s
on ``frames()``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from hubbub.network.ids import make_id
from hubbub.network.transport.frames import Frame

if TYPE_CHECKING:
    from hubbub.network.hub import Connection, Hub

__all__ = ["LocalLink", "LocalLinkClient", "LocalLinkEndpoint"]

_CLOSED = None


class _Pipe:
    """One direction of the duplex pair: an unbounded FIFO with a close marker."""

    __slots__ = ("closed", "queue")

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Frame | None] = asyncio.Queue()
        self.closed = False

    def put(self, frame: Frame) -> None:
        if not self.closed:
            self.queue.put_nowait(frame)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.queue.put_nowait(_CLOSED)

    async def iterate(self) -> AsyncIterator[Frame]:
        while True:
            frame = await self.queue.get()
            if frame is None:
                return
            yield frame


class LocalLinkEndpoint:
    """The hub's end of an in-process connection."""

    def __init__(self, endpoint_id: str, to_client: _Pipe, to_hub: _Pipe) -> None:
        self.endpoint_id = endpoint_id
        self._to_client = to_client
        self._to_hub = to_hub

    async def send_frame(self, frame: Frame) -> None:
        """Queue a frame for the client (never blocks)."""
        self._to_client.put(frame)

    def send_frame_nowait(self, frame: Frame) -> None:
        """Queue a frame for the client from synchronous code."""
        self._to_client.put(frame)

    def frames(self) -> AsyncIterator[Frame]:
        """Frames the client sent."""
        return self._to_hub.iterate()

    async def close(self) -> None:
        """Close both directions."""
        self._to_client.close()
        self._to_hub.close()


class LocalLinkClient:
    """The client's end of an in-process connection, with direct access to its Connection."""

    def __init__(
        self, endpoint_id: str, to_client: _Pipe, to_hub: _Pipe, connection: Connection
    ) -> None:
        self.endpoint_id = endpoint_id
        self._to_client = to_client
        self._to_hub = to_hub
        self.connection = connection

    async def open(self) -> None:
        """Nothing to do in-process."""

    async def send_frame(self, frame: Frame) -> None:
        """Queue a frame for the hub."""
        self._to_hub.put(frame)

    def frames(self) -> AsyncIterator[Frame]:
        """Frames from the hub, until closed."""
        return self._to_client.iterate()

    async def close(self) -> None:
        """Close both directions and detach from the hub."""
        self._to_client.close()
        self._to_hub.close()
        await self.connection.close()


class LocalLink:
    """Factory of in-process duplex connections to one hub."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def client(self) -> LocalLinkClient:
        """Create a duplex pair, attach the hub's end, return the client's end."""
        to_client, to_hub = _Pipe(), _Pipe()
        endpoint_id = make_id()
        endpoint = LocalLinkEndpoint(endpoint_id, to_client, to_hub)
        connection = self.hub.attach_endpoint(endpoint)
        return LocalLinkClient(endpoint_id, to_client, to_hub, connection)
