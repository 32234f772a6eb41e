"""The link protocol: what a transport offers the client driver.

A link client is one duplex connection to a hub. The
:class:`~hubbub.network.transport.client.ClientConnection` drives it: it asks
for the credential to put in the hello, connects with two callbacks, and writes
frames. ``LocalLink`` implements it in-process (frame objects handed over, no
serialisation); the WebSocket link implements it over a socket.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from hubbub.network.envelope import Envelope
from hubbub.network.protocol.frames import Frame

__all__ = ["LinkClient", "LinkEndpoint"]


@runtime_checkable
class LinkClient(Protocol):
    """The client's end of one connection."""

    def credential(self) -> tuple[str, dict[str, Any]]:
        """The ``(auth_scheme, auth_claim)`` the hello carries."""
        ...

    async def connect(
        self,
        on_frame: Callable[[Frame], None],
        on_lost: Callable[[BaseException | None], None],
    ) -> None:
        """Open the connection; then every frame from the hub goes to ``on_frame``, in
        order, and ``on_lost`` is called once if the connection drops."""
        ...

    def send_frame(self, frame: Frame) -> None:
        """Queue one frame for the hub; never blocks."""
        ...

    async def close(self) -> None:
        """Close the connection; idempotent. ``on_lost`` is not called for it."""
        ...


@runtime_checkable
class LinkEndpoint(Protocol):
    """The hub's end of one connection, as ``Hub.attach_endpoint`` takes it.

    :class:`~hubbub.network.transport.server.ServerConnection` is the one every
    transport uses.
    """

    endpoint_id: str

    def deliver(self, recipient_id: str, envelope: Envelope) -> None:
        """Send an admitted envelope to an agent registered through this connection;
        must not block."""
        ...

    async def close(self) -> None:
        """The hub shuts down: end the connection."""
        ...
