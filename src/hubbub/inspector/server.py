"""Serving the inspector: uvicorn on a socket this module binds, in the caller's event loop.

:func:`serve_inspector` is an async context manager: it binds ``host:port``
(``0`` picks a free port), starts uvicorn on it and yields the base URL; on exit
it stops uvicorn (open live tails are cut after one second). It installs no
signal handlers: the command that runs it (``hubbub inspect``, ``hubbub
serve --ui``) owns SIGTERM/SIGINT.

:func:`live_inspector` builds the application for the hub in this process (the
live tail from the operator's observer subscription), :func:`offline_inspector`
for a store alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import uvicorn
from starlette.applications import Starlette

from hubbub.inspector.app import build_app
from hubbub.inspector.feeds import HubFeed, StoreFeed
from hubbub.inspector.reader import StoreReader
from hubbub.knowledge.base import KnowledgeStore
from hubbub.network.auth import ServerAuth

if TYPE_CHECKING:
    from hubbub.network import Hub

__all__ = ["DEFAULT_UI_PORT", "live_inspector", "offline_inspector", "serve_inspector"]

#: The inspector's default port (``hubbub inspect --port``, ``hubbub serve --ui-port``).
DEFAULT_UI_PORT = 8780


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers (the command owns the signals)."""

    @contextlib.contextmanager
    def capture_signals(self):  # type: ignore[no-untyped-def]
        yield


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except BaseException:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


@contextlib.asynccontextmanager
async def serve_inspector(
    app: Starlette,
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_UI_PORT,
    tls_files: tuple[str, str] | None = None,
) -> AsyncIterator[str]:
    """Serve ``app`` on ``host:port`` until the block ends; yields ``http(s)://host:port``.

    Args:
        tls_files: (certificate chain, key) PEM files to serve HTTPS with.

    Raises:
        OSError: the address cannot be bound (the port is taken, ...).
    """
    sock = _bind(host, port)
    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=1,
        ssl_certfile=tls_files[0] if tls_files else None,
        ssl_keyfile=tls_files[1] if tls_files else None,
    )
    server = _Server(config)
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()  # raises why it stopped
                raise OSError(f"the inspector on {host}:{port} stopped at start")
            await asyncio.sleep(0.01)
        bound = sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        yield f"{'https' if tls_files else 'http'}://{shown}:{bound}"
    finally:
        server.should_exit = True
        try:
            await task
        finally:
            sock.close()


def offline_inspector(store: KnowledgeStore, auth: ServerAuth) -> Starlette:
    """The inspector of a store alone (no hub): history from the store, tails poll it."""
    reader = StoreReader(store)
    return build_app(reader, StoreFeed(reader), auth)


@contextlib.asynccontextmanager
async def live_inspector(hub: Hub, auth: ServerAuth) -> AsyncIterator[Starlette]:
    """The inspector of the hub in this process, as a client of its protocol.

    It connects to the hub over ``LocalLink`` — in-process, so as the operator,
    the one principal that may observe every session — and takes the live tail
    from that observer subscription and the online flags from ``list_agents``.
    History is read from the hub's store with the store reader; nothing is written.
    """
    from hubbub.network import HubClient, LocalLink

    reader = StoreReader(hub.store, adapters=hub.adapters())
    client = HubClient(LocalLink(hub))
    feed = HubFeed(client, reader)
    await feed.start()

    async def online() -> set[str]:
        found = await client.list_agents(online=True, limit=100_000)
        return {p.agent_id for p in found if p.agent_id is not None}

    try:
        yield build_app(reader, feed, auth, online_agents=online)
    finally:
        await feed.close()
