"""HubClients on one hub, in-process (``LocalLink``) or over a real WebSocket on loopback.

Client tests that must hold on both transports take a ``links`` fixture made with
:func:`open_links` and build every HubClient through it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from hubbub.network.adapters.base import SessionAdapter
from hubbub.network.auth import BearerTokens, ServerAuth
from hubbub.network.client import HubClient
from hubbub.network.hub import Hub
from hubbub.network.transport.local import LocalLink
from hubbub.network.transport.ws import WsLink, serve_ws

TOKEN = "people-token"
KINDS = ["local", "ws"]


class Links:
    """Makes HubClients of one kind on one hub; closes them all at the end."""

    def __init__(
        self, hub: Hub, kind: str, url: str | None, adapters: list[SessionAdapter] | None
    ) -> None:
        self.hub = hub
        self.kind = kind
        self.url = url
        self._adapters = adapters
        self.made: list[HubClient] = []

    def hub_client(self, **kw: Any) -> HubClient:
        kw.setdefault("adapters", self._adapters)
        if self.kind == "ws":
            assert self.url is not None
            hc = HubClient(WsLink(self.url, token=TOKEN, reconnect=0), **kw)
        else:
            hc = HubClient(LocalLink(self.hub), hub=self.hub, **kw)
        self.made.append(hc)
        return hc

    async def close(self) -> None:
        for hc in self.made:
            await hc.close()


@asynccontextmanager
async def open_links(
    hub: Hub, kind: str, *, adapters: list[SessionAdapter] | None = None
) -> AsyncIterator[Links]:
    """Links of ``kind`` (``"local"`` or ``"ws"``); a WebSocket server runs meanwhile."""
    if kind == "ws":
        auth = ServerAuth([BearerTokens({TOKEN: "people"})])
        async with serve_ws(hub, host="127.0.0.1", port=0, auth=auth) as url:
            links = Links(hub, kind, url, adapters)
            try:
                yield links
            finally:
                await links.close()
    else:
        links = Links(hub, kind, None, adapters)
        try:
            yield links
        finally:
            await links.close()
