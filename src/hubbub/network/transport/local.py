"""LocalLink: the in-process transport, a driver of the protocol with no serialisation.

``LocalLink(hub).client()`` makes one link client. On ``connect`` it creates the
hub's side of the connection (a :class:`~hubbub.network.transport.server.ServerConnection`
trusted as the operator: code in the hub's process registers names for the
operator) and from then on hands frame objects across: what the client sends
goes straight into the server's protocol machine, what the hub sends goes
straight to the client's. Both machines are the ones a WebSocket connection
runs, so an in-process test exercises the remote code path, minus the codec.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hubbub.network.errors import ProtocolError
from hubbub.network.protocol.frames import Frame
from hubbub.network.transport.server import ServerConnection

if TYPE_CHECKING:
    from hubbub.network.adapters.base import SessionAdapter
    from hubbub.network.hub import Hub

__all__ = ["LocalLink", "LocalLinkClient"]


class LocalLinkClient:
    """The client's end of one in-process connection."""

    def __init__(self, hub: Hub, principal: str | None = None) -> None:
        self._hub = hub
        self._principal = principal
        self._server: ServerConnection | None = None
        self._on_frame: Callable[[Frame], None] | None = None
        self._on_lost: Callable[[BaseException | None], None] | None = None
        self._closed = False

    @property
    def endpoint_id(self) -> str:
        """The hub's id of this connection ("" before connect)."""
        return self._server.endpoint_id if self._server is not None else ""

    def credential(self) -> tuple[str, dict[str, Any]]:
        """In-process connections are trusted; the hello carries no credential."""
        return ("none", {})

    async def connect(
        self,
        on_frame: Callable[[Frame], None],
        on_lost: Callable[[BaseException | None], None],
    ) -> None:
        """Create the hub's side of the connection.

        Raises:
            ProtocolError: the hub is closed.
        """
        if self._server is not None:
            raise ProtocolError("this link client is already connected")
        if self._hub.closed:
            raise ProtocolError("hub is closed")
        from hubbub.network.hub.registry import OPERATOR  # in-process: the operator's names

        self._on_frame = on_frame
        self._on_lost = on_lost
        self._server = ServerConnection(
            self._hub,
            send=self._to_client,
            close=self._server_closed,
            principal=self._principal or OPERATOR,
        )

    def send_frame(self, frame: Frame) -> None:
        """Hand one frame to the hub's side."""
        server = self._server
        if server is None or self._closed:
            raise ProtocolError("the link is closed", code="connection_lost")
        server.receive(frame)

    async def run_frames(self, frames: list[Frame]) -> None:
        """Hand over frames whose answers the calling task awaits: the hub runs their
        operations in that task (see :meth:`ServerConnection.run`)."""
        server = self._server
        if server is None or self._closed:
            raise ProtocolError("the link is closed", code="connection_lost")
        for frame in frames:
            await server.run(frame)

    async def close(self) -> None:
        """End the connection (the hub detaches it); idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._server is not None:
            self._server.connection_lost()

    def _to_client(self, frame: Frame) -> None:
        if not self._closed and self._on_frame is not None:
            self._on_frame(frame)

    def _server_closed(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._on_lost is not None:
            self._on_lost(None)


class LocalLink:
    """Factory of in-process connections to one hub (the seeds' ``LocalLink(hub)``).

    Args:
        hub: the hub.
        principal: who the connections act for (default: the operator). In-process
            code is trusted, so this needs no credential; a multi-tenant process
            gives each tenant's clients their own principal.
    """

    def __init__(self, hub: Hub, *, principal: str | None = None) -> None:
        self.hub = hub
        self.principal = principal

    def client(self) -> LocalLinkClient:
        """A new, unconnected link client."""
        return LocalLinkClient(self.hub, self.principal)

    def adapter(self, manifest_type: str, manifest_version: int) -> SessionAdapter | None:
        """The hub's adapter for a session type (adapters are pure values)."""
        return self.hub.adapters().get((manifest_type, manifest_version))
