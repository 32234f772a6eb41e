"""``hubbub serve --ui``: the web inspector of the served hub, on a port of its own.

The inspector runs in the hub's process, as a client of the hub's protocol over
``LocalLink`` (the operator's connection: its observer subscription feeds the
live tail), on ``--host`` and ``--ui-port`` (default 8780), with the same
credentials and TLS files as the WebSocket endpoint. It prints
``hubbub: inspector at http://HOST:PORT`` before the ``serving`` line.
"""

from __future__ import annotations

import argparse
import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING

from hubbub.cli._errors import CommandError
from hubbub.cli.inspect import DEFAULT_PORT, port_number
from hubbub.cli.serve import RunServer, ServeOptions
from hubbub.network.auth import ServerAuth

if TYPE_CHECKING:
    from hubbub.network import Hub

__all__ = ["add_ui_arguments", "with_inspector"]


def add_ui_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--ui`` and ``--ui-port`` to the ``serve`` parser."""
    group = parser.add_argument_group("web inspector")
    group.add_argument(
        "--ui",
        action="store_true",
        help="also serve the web inspector of this hub (same host, credentials and TLS)",
    )
    group.add_argument(
        "--ui-port",
        type=port_number,
        default=DEFAULT_PORT,
        metavar="PORT",
        help=f"the inspector's port (default {DEFAULT_PORT}; 0 picks one)",
    )


def _announce(address: str) -> None:
    print(f"hubbub: inspector at {address}", flush=True)


def with_inspector(
    run_server: RunServer,
    options: ServeOptions,
    ui_port: int,
    *,
    announce: Callable[[str], None] = _announce,
) -> RunServer:
    """``run_server`` with the inspector of its hub served alongside, for as long as it runs.

    Raises (from the returned function):
        CommandError: the inspector's port cannot be bound.
    """
    tls = (options.tls_cert, options.tls_key) if options.tls_cert and options.tls_key else None

    async def run_both(
        hub: Hub,
        *,
        host: str,
        port: int,
        auth: ServerAuth,
        ssl: ssl.SSLContext | None,
        ready: Callable[[str], None],
    ) -> None:
        from hubbub.inspector import live_inspector, serve_inspector

        async with live_inspector(hub, auth) as app:
            try:
                server = serve_inspector(app, host=host, port=ui_port, tls_files=tls)
                url = await server.__aenter__()
            except OSError as exc:
                raise CommandError(
                    f"cannot listen on {host}:{ui_port} for the inspector: {exc.strerror or exc}"
                ) from exc
            try:
                announce(url)
                await run_server(hub, host=host, port=port, auth=auth, ssl=ssl, ready=ready)
            finally:
                await server.__aexit__(None, None, None)

    return run_both
