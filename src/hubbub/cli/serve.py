"""``hubbub serve``: a hub in its own process, behind a WebSocket endpoint.

The pure parts live here and are tested without a server: the arguments and
their checks (:func:`options_from_args`), the connection authentication they
ask for (:func:`build_auth`) and the TLS contexts (:func:`server_ssl_context`,
:func:`client_ssl_context`). The endpoint itself is
``hubbub.network.transport.ws.run_server``, imported when the command runs.

A hub serves without authentication only when told so (``--insecure-no-auth``)
and only on a loopback address, so a forgotten flag cannot open a hub to a
network.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import inspect
import ipaddress
import os
import ssl
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

from hubbub.cli._errors import CommandError, UsageError
from hubbub.cli.logs import LOG_LEVELS, configure_logging
from hubbub.network.auth import (
    BearerTokens,
    ConnectionAuth,
    ServerAuth,
    SignedTokens,
    parse_token_entry,
    read_token_file,
)
from hubbub.network.errors import InvalidValueError

if TYPE_CHECKING:
    from hubbub.network import Hub

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "RunServer",
    "ServeOptions",
    "add_parser",
    "build_auth",
    "client_ssl_context",
    "is_loopback",
    "load_run_server",
    "options_from_args",
    "run",
    "serve",
    "server_ssl_context",
]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765

#: The module that provides the WebSocket endpoint, imported when ``serve`` runs.
TRANSPORT_MODULE = "hubbub.network.transport.ws"

_NO_CREDENTIALS = (
    "no credentials: pass --token [SUBJECT:]TOKEN (repeatable), --token-file FILE "
    "(one [SUBJECT:]TOKEN per line) or --hmac-secret-file FILE; "
    "--insecure-no-auth serves without authentication, on a loopback host only"
)


class RunServer(Protocol):
    """``hubbub.network.transport.ws.run_server``: serve ``hub`` until stopped."""

    async def __call__(
        self,
        hub: Hub,
        *,
        host: str,
        port: int,
        auth: ServerAuth,
        ssl: ssl.SSLContext | None,
        ready: Callable[[str], None],
    ) -> None:
        """Listen on ``host:port``, call ``ready(address)`` once listening, serve until stopped."""
        ...


@dataclass(frozen=True, slots=True)
class ServeOptions:
    """The checked arguments of ``hubbub serve``."""

    store: str
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    tokens: tuple[str, ...] = ()
    token_file: str | None = None
    hmac_secret_file: str | None = None
    insecure_no_auth: bool = False
    tls_cert: str | None = None
    tls_key: str | None = None
    operator_tokens: tuple[str, ...] = ()
    operator_token_file: str | None = None
    log_level: str = "WARNING"
    log_json: bool = False
    trace: bool = False
    setup: tuple[str, ...] = ()


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"not a port number (0-65535): {text!r}")
    return port


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Add the ``serve`` subcommand to ``commands`` (``ArgumentParser.add_subparsers()``)."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "serve",
        help="run a hub with a WebSocket endpoint",
        description="Run a hub on a knowledge store and serve it over WebSocket. "
        "Connections must authenticate unless --insecure-no-auth (loopback only).",
    )
    parser.add_argument(
        "--store",
        required=True,
        metavar="URL",
        help="memory:, disk:PATH, sqlite:///PATH, redis://HOST[:PORT][/DB][?prefix=P], "
        "postgresql://HOST[:PORT]/DB[?schema=S]",
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"default {DEFAULT_HOST}")
    parser.add_argument(
        "--port", type=_port, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}; 0 picks one"
    )
    auth = parser.add_argument_group("authentication (at least one, or --insecure-no-auth)")
    auth.add_argument(
        "--token",
        action="append",
        default=[],
        metavar="[SUBJECT:]TOKEN",
        help="accept this bearer token (repeatable); visible to other local users "
        "in the process list, so prefer --token-file",
    )
    auth.add_argument(
        "--token-file", metavar="FILE", help="bearer tokens, one [SUBJECT:]TOKEN per line"
    )
    auth.add_argument(
        "--hmac-secret-file",
        metavar="FILE",
        help="accept hmac-signed tokens made with the secret in FILE (32 bytes or more)",
    )
    auth.add_argument(
        "--insecure-no-auth",
        action="store_true",
        help="accept connections without a credential (principal 'anonymous'); "
        "refused unless --host is a loopback address",
    )
    auth.add_argument(
        "--operator-token",
        action="append",
        default=[],
        metavar="TOKEN",
        help="a bearer token whose holder is the operator (repeatable): it may read every "
        "session, the audit log and the store (hubbub sessions --hub URL --token TOKEN)",
    )
    auth.add_argument(
        "--operator-token-file",
        metavar="FILE",
        help="operator tokens, one per line ('#' comments)",
    )
    tls = parser.add_argument_group("TLS (both or neither)")
    tls.add_argument("--tls-cert", metavar="FILE", help="certificate chain, PEM")
    tls.add_argument("--tls-key", metavar="FILE", help="private key, PEM")
    from hubbub.cli import serve_ui  # --ui: the web inspector alongside

    serve_ui.add_ui_arguments(parser)
    logs = parser.add_argument_group("logging (to stderr)")
    logs.add_argument(
        "--log-level",
        type=str.upper,
        choices=LOG_LEVELS,
        default="WARNING",
        help="the least severe hubbub.* records written (default WARNING; INFO adds the "
        "lifecycle: hub open/close, sessions created/opened/ended, connections)",
    )
    logs.add_argument(
        "--log-json", action="store_true", help="one JSON object per line instead of text"
    )
    parser.add_argument(
        "--setup",
        action="append",
        default=[],
        metavar="MODULE:FUNCTION",
        help="call FUNCTION(hub) (sync or async) once the hub is open, before serving: "
        "register custom adapters, evaluators, listeners, interceptors; MODULE is a dotted "
        "module name or a path to a .py file (repeatable, in order)",
    )
    parser.add_argument(
        "--trace",
        action="store_true",
        help="OpenTelemetry spans of every admission (hubbub[otel]) to the global tracer "
        "provider; OTEL_TRACES_EXPORTER=console writes them to stderr, one JSON line each, "
        "=otlp sends them to OTEL_EXPORTER_OTLP_ENDPOINT",
    )
    parser.set_defaults(run=run)
    return parser


def is_loopback(host: str) -> bool:
    """Whether ``host`` is ``localhost`` or an address in 127.0.0.0/8 or ``::1``."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def options_from_args(args: argparse.Namespace) -> ServeOptions:
    """Check the parsed arguments of ``serve`` against each other.

    Raises:
        UsageError: no credential and no ``--insecure-no-auth``;
            ``--insecure-no-auth`` on a host that is not loopback; one of
            ``--tls-cert`` / ``--tls-key`` without the other; an empty host.
    """
    options = ServeOptions(
        store=args.store,
        host=args.host,
        port=args.port,
        tokens=tuple(args.token),
        token_file=args.token_file,
        hmac_secret_file=args.hmac_secret_file,
        insecure_no_auth=args.insecure_no_auth,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        operator_tokens=tuple(getattr(args, "operator_token", ()) or ()),
        operator_token_file=getattr(args, "operator_token_file", None),
        log_level=getattr(args, "log_level", "WARNING"),
        log_json=getattr(args, "log_json", False),
        trace=getattr(args, "trace", False),
        setup=tuple(getattr(args, "setup", ()) or ()),
    )
    if not options.host:
        raise UsageError("--host is empty")
    has_credentials = bool(
        options.tokens
        or options.token_file
        or options.hmac_secret_file
        or options.operator_tokens
        or options.operator_token_file
    )
    if not has_credentials and not options.insecure_no_auth:
        raise UsageError(_NO_CREDENTIALS)
    if options.insecure_no_auth and not is_loopback(options.host):
        raise UsageError(
            f"refusing --insecure-no-auth on host {options.host!r}: without authentication "
            "the hub listens on a loopback address only (127.0.0.1, ::1, localhost)"
        )
    if (options.tls_cert is None) != (options.tls_key is None):
        raise UsageError("--tls-cert and --tls-key go together: give both or neither")
    return options


def _bearer_tokens(options: ServeOptions) -> dict[str, str]:
    """``{token: subject}`` from ``--token`` and ``--token-file``; a token given twice is refused."""
    tokens: dict[str, str] = {}
    for number, entry in enumerate(options.tokens, start=1):
        try:
            subject, token = parse_token_entry(entry)
        except InvalidValueError as exc:
            raise UsageError(f"--token #{number}: {exc.message}") from None
        if token in tokens:
            raise UsageError(f"--token #{number}: the same token as an earlier --token")
        tokens[token] = subject
    if options.token_file is not None:
        try:
            from_file = read_token_file(options.token_file)
        except InvalidValueError as exc:
            raise UsageError(f"--token-file: {exc.message}") from None
        if tokens.keys() & from_file.keys():
            raise UsageError(f"--token-file {options.token_file}: a token is also given by --token")
        tokens.update(from_file)
    return tokens


def _operator_tokens(options: ServeOptions) -> list[str]:
    """The operator tokens of ``--operator-token`` and ``--operator-token-file``."""
    tokens = [t for t in options.operator_tokens]
    for number, token in enumerate(tokens, start=1):
        if not token.strip() or token != token.strip():
            raise UsageError(f"--operator-token #{number}: empty or padded with whitespace")
    if options.operator_token_file is not None:
        try:
            with open(options.operator_token_file, encoding="utf-8") as handle:
                lines = handle.read().splitlines()
        except OSError as exc:
            raise UsageError(
                f"--operator-token-file: cannot read {exc.filename}: {_reason(exc)}"
            ) from None
        found = [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
        if not found:
            raise UsageError(f"--operator-token-file {options.operator_token_file}: no token")
        tokens += found
    return tokens


def build_auth(options: ServeOptions) -> ServerAuth:
    """The connection authentication the options ask for (reads the token and secret files).

    Raises:
        UsageError: a token, token file or secret file is not acceptable (the
            message names which; it never contains a token or the secret).
    """
    schemes: list[ConnectionAuth] = []
    tokens = _bearer_tokens(options)
    if tokens:
        schemes.append(BearerTokens(tokens))
    if options.hmac_secret_file is not None:
        try:
            schemes.append(SignedTokens.from_file(options.hmac_secret_file))
        except InvalidValueError as exc:
            raise UsageError(f"--hmac-secret-file: {exc.message}") from None
    operators = _operator_tokens(options)
    if tokens.keys() & set(operators):
        raise UsageError("an operator token is also given as a --token / --token-file token")
    try:
        return ServerAuth(
            schemes, allow_anonymous=options.insecure_no_auth, operator_tokens=operators
        )
    except InvalidValueError as exc:  # options_from_args makes this unreachable
        raise UsageError(exc.message) from None


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def server_ssl_context(cert: str, key: str) -> ssl.SSLContext:
    """A TLS server context (TLS 1.2 or later) with the certificate chain and key.

    Args:
        cert: the certificate chain file, PEM (the server's certificate first).
        key: its private key file, PEM, not encrypted.

    Raises:
        InvalidValueError: a file cannot be read, or they do not make a pair
            (the message names both).
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except OSError as exc:  # ssl.SSLError is an OSError
        raise InvalidValueError(
            f"cannot load TLS certificate {cert} with key {key}: {_reason(exc)}"
        ) from exc
    return context


def client_ssl_context(cafile: str | None = None) -> ssl.SSLContext:
    """A TLS client context (TLS 1.2 or later) that verifies the server and its host name.

    Args:
        cafile: PEM certificates to trust (a private CA, or a hub's self-signed
            certificate); ``None`` trusts the system's certificate authorities.

    Raises:
        InvalidValueError: ``cafile`` cannot be read or holds no certificate.
    """
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile)
    except OSError as exc:  # ssl.SSLError is an OSError
        raise InvalidValueError(
            f"cannot load TLS certificate authorities {cafile}: {_reason(exc)}"
        ) from exc
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def load_run_server() -> RunServer:
    """``run_server`` of the WebSocket transport, imported now.

    Raises:
        CommandError: the transport module is missing or has no ``run_server``.
    """
    try:
        module = importlib.import_module(TRANSPORT_MODULE)
        return cast(RunServer, module.run_server)
    except (ImportError, AttributeError) as exc:
        raise CommandError(
            f"the WebSocket transport is not available ({TRANSPORT_MODULE}: {exc})"
        ) from exc


def _announce(address: str) -> None:
    print(f"hubbub: serving {address}", flush=True)


async def serve(
    options: ServeOptions,
    auth: ServerAuth,
    ssl_context: ssl.SSLContext | None,
    run_server: RunServer,
    *,
    ready: Callable[[str], None] = _announce,
) -> None:
    """Open the store and a hub on it, and serve the hub until ``run_server`` returns.

    The hub is closed, then the store, however serving ends.

    Raises:
        UsageError: the store URL is not acceptable.
        NetworkError: the store cannot be opened (unavailable, locked, foreign).
        CommandError: the endpoint cannot listen (the port is taken, the host
            does not resolve or is not this machine's).
    """
    from hubbub.knowledge.urls import open_store
    from hubbub.network import Hub
    from hubbub.network.hub.metrics import HubMetrics

    setups = [load_setup(spec) for spec in options.setup]  # a bad one: before the store opens
    try:
        store = open_store(options.store)
    except InvalidValueError as exc:
        raise UsageError(f"--store: {exc.message}") from None
    interceptors: list[Any] = [HubMetrics()]
    flush_spans: Callable[[], None] = lambda: None  # noqa: E731
    if options.trace:
        from hubbub.cli.serve_trace import hub_tracing

        tracing, flush_spans = hub_tracing()
        interceptors.append(tracing)
    listening = False

    def announce(address: str) -> None:
        nonlocal listening
        listening = True
        ready(address)

    try:
        hub = await Hub.open(store, interceptors=interceptors)
        try:
            for setup in setups:
                result = setup(hub)
                if inspect.isawaitable(result):
                    await result
            await run_server(
                hub,
                host=options.host,
                port=options.port,
                auth=auth,
                ssl=ssl_context,
                ready=announce,
            )
        except OSError as exc:
            if listening:
                raise
            # Binding failed: say so in one line, not with a traceback.
            errno = exc.errno if isinstance(exc.errno, int) and exc.errno > 0 else None
            reason = os.strerror(errno) if errno is not None else _reason(exc)
            raise CommandError(f"cannot listen on {options.host}:{options.port}: {reason}") from exc
        finally:
            await hub.close()
    finally:
        await store.close()
        flush_spans()


def load_setup(spec: str) -> Callable[[Any], Any]:
    """The function ``MODULE:FUNCTION`` names (``MODULE`` dotted, or a ``.py`` path whose
    directory goes on ``sys.path`` first, as when that file runs as a script).

    Raises:
        UsageError: a malformed spec, a module that does not import, a missing or
            uncallable function.
    """
    module_name, sep, function = spec.rpartition(":")
    if not sep or not module_name or not function:
        raise UsageError(f"--setup {spec!r}: expected MODULE:FUNCTION or path/to/file.py:FUNCTION")
    try:
        if module_name.endswith(".py"):
            path = Path(module_name).resolve()
            if not path.is_file():
                raise UsageError(f"--setup {spec!r}: no such file {str(path)!r}")
            if str(path.parent) not in sys.path:
                sys.path.insert(0, str(path.parent))
            loaded = importlib.util.spec_from_file_location(f"hubbub_setup_{path.stem}", path)
            if loaded is None or loaded.loader is None:
                raise UsageError(f"--setup {spec!r}: cannot load {str(path)!r}")
            module = importlib.util.module_from_spec(loaded)
            loaded.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
    except UsageError:
        raise
    except Exception as exc:
        raise UsageError(f"--setup {spec!r}: cannot import {module_name!r}: {exc}") from None
    fn = getattr(module, function, None)
    if not callable(fn):
        raise UsageError(f"--setup {spec!r}: {module_name!r} has no function {function!r}")
    return cast("Callable[[Any], Any]", fn)


def run(args: argparse.Namespace) -> int:
    """``hubbub serve``: check everything that can be checked, then serve.

    Raises:
        UsageError: bad arguments, token or secret files, TLS files or store URL.
        CommandError: the WebSocket transport is missing, or it cannot listen.
        NetworkError: the store cannot be opened.
    """
    options = options_from_args(args)
    configure_logging(options.log_level, json=options.log_json)
    auth = build_auth(options)
    ssl_context: ssl.SSLContext | None = None
    if options.tls_cert is not None and options.tls_key is not None:
        try:
            ssl_context = server_ssl_context(options.tls_cert, options.tls_key)
        except InvalidValueError as exc:
            raise UsageError(exc.message) from None
    run_server = load_run_server()
    if getattr(args, "ui", False):
        from hubbub.cli import serve_ui

        run_server = serve_ui.with_inspector(run_server, options, args.ui_port)
    run_loop(serve(options, auth, ssl_context, run_server))
    return 0


def run_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run the server's event loop: uvloop when it is installed (``hubbub[fast]``, part of
    ``all``; about 10-15 % lower envelope latency across processes), unless
    ``HUBBUB_LOOP=asyncio``; else asyncio's own."""
    if os.environ.get("HUBBUB_LOOP", "").lower() != "asyncio":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            uvloop.run(main)
            return
    asyncio.run(main)
