"""``hubbub inspect``: the web inspector over a hub's store, without a hub (offline).

It reads the store and never writes it or takes its writer lock, so it also
reads the store of a hub that is running (its live tails then poll the WAL).
It asks for the same credentials as ``hubbub serve`` (``--token``,
``--token-file``, ``--hmac-secret-file``, or ``--insecure-no-auth`` on a
loopback host). ``hubbub serve --ui`` runs the same pages next to a live hub.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from collections.abc import Callable
from typing import Any

from hubbub.cli._errors import CommandError, UsageError
from hubbub.cli.serve import build_auth, options_from_args
from hubbub.network.errors import InvalidValueError

__all__ = ["DEFAULT_PORT", "add_parser", "port_number", "run", "store_path_problem"]

DEFAULT_PORT = 8780  # hubbub.inspector.DEFAULT_UI_PORT (not imported: starlette loads lazily)


def port_number(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"not a port number (0-65535): {text!r}")
    return port


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Add the ``inspect`` subcommand to ``commands`` (``ArgumentParser.add_subparsers()``)."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "inspect",
        help="browse a hub's store in a web inspector (read-only, no hub needed)",
        description="Serve the web inspector (agents, sessions, timelines, audit log) over "
        "a hub's store. Read-only; the same credentials as 'hubbub serve'.",
    )
    parser.add_argument(
        "--store",
        required=True,
        metavar="URL",
        help="disk:PATH, sqlite:///PATH, redis://..., postgresql://... (an existing store)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1")
    parser.add_argument(
        "--port",
        type=port_number,
        default=DEFAULT_PORT,
        help=f"default {DEFAULT_PORT}; 0 picks one",
    )
    auth = parser.add_argument_group("authentication (at least one, or --insecure-no-auth)")
    auth.add_argument("--token", action="append", default=[], metavar="[SUBJECT:]TOKEN")
    auth.add_argument("--token-file", metavar="FILE")
    auth.add_argument("--hmac-secret-file", metavar="FILE")
    auth.add_argument("--insecure-no-auth", action="store_true", help="loopback hosts only")
    tls = parser.add_argument_group("TLS (both or neither)")
    tls.add_argument("--tls-cert", metavar="FILE")
    tls.add_argument("--tls-key", metavar="FILE")
    parser.set_defaults(run=run)
    return parser


def store_path_problem(url: str) -> str | None:
    """Why an offline inspector cannot read ``url`` (a file or folder that is not there), or None."""
    if url.strip().lower() == "memory:":
        return "a memory: store is empty in a new process; inspect a durable store"
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
        if not os.path.isfile(path):
            return f"no SQLite file at {path}"
    if url.startswith("disk:"):
        path = url[len("disk:") :]
        path = path[2:] if path.startswith("///") else path
        if not os.path.isdir(path):
            return f"no store directory at {path}"
    return None


def _announce(address: str) -> None:
    print(f"hubbub: inspector at {address}", flush=True)


async def _inspect(args: argparse.Namespace, ready: Callable[[str], None]) -> None:
    from hubbub.inspector import offline_inspector, serve_inspector
    from hubbub.knowledge.urls import open_store

    options = options_from_args(args)
    auth = build_auth(options)
    problem = store_path_problem(options.store)
    if problem is not None:
        raise UsageError(f"--store: {problem}")
    try:
        store = open_store(options.store)
    except InvalidValueError as exc:
        raise UsageError(f"--store: {exc.message}") from None
    tls = (options.tls_cert, options.tls_key) if options.tls_cert and options.tls_key else None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        try:
            server = serve_inspector(
                offline_inspector(store, auth), host=options.host, port=options.port, tls_files=tls
            )
            async with server as url:
                ready(url)
                await stop.wait()
        except OSError as exc:
            raise CommandError(
                f"cannot listen on {options.host}:{options.port}: {exc.strerror or exc}"
            ) from exc
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await store.close()


def run(args: argparse.Namespace) -> int:
    """``hubbub inspect``: serve the inspector until SIGTERM or SIGINT; 0 then.

    Raises:
        UsageError: bad arguments, credentials or store URL.
        CommandError: the port cannot be bound.
        NetworkError: the store cannot be read.
    """
    asyncio.run(_inspect(args, _announce))
    return 0
