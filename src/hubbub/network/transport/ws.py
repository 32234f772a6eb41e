"""The WebSocket transport: the hub served over ``ws://`` / ``wss://``, and ``WsLink`` to reach it.

One WebSocket text message carries one frame, the JSON of ``encode_frame(frame)``.
Both sides are thin shells around the protocol drivers:

* the server (:func:`serve_ws`, :func:`run_server`) makes one
  :class:`~hubbub.network.transport.server.ServerConnection` per socket, feeds it
  the decoded frames and writes what it sends; ``GET /healthz`` on the same port
  answers ``hub.health()`` as JSON;
* the client (:class:`WsLink`) is a link for
  :class:`~hubbub.network.transport.client.ClientConnection` (so ``HubClient(WsLink(url,
  token=...))`` works like ``HubClient(LocalLink(hub))``).

**Limits.** A message over ``max_frame_bytes`` (counted in bytes) is refused with
``frame_too_large`` (the connection stays up; one over four times that closes it).
Each connection has a bounded queue of frames waiting to be written. A client that
does not read while more than ``max_queued_frames`` pile up is a **slow consumer**:
what waits for it is dropped, a goodbye ``slow_consumer`` is written after what is
already on its way, and the socket is closed — aborted if the client has not
completed the close within ``close_timeout`` seconds (a client that reads nothing
never sees the goodbye). It reconnects and resumes from its cursors, so nothing is
lost. Shutting down closes every socket the same way, so a stalled client cannot
hold the server up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import ssl as ssl_module
from collections import deque
from collections.abc import AsyncIterator, Callable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import orjson
from websockets.asyncio.client import ClientConnection as WsClientConnection
from websockets.asyncio.client import connect
from websockets.asyncio.server import Server, serve
from websockets.asyncio.server import ServerConnection as WsServerConnection
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.http11 import Request, Response
from websockets.protocol import State

from hubbub.network.errors import NetworkError, ProtocolError, StoreUnavailableError
from hubbub.network.hub.metrics import CONTENT_TYPE, HubMetrics
from hubbub.network.protocol.frames import Frame, decode_frame, encode_frame
from hubbub.network.transport.server import ServerConnection

if TYPE_CHECKING:
    from hubbub.network.hub import Hub

__all__ = [
    "DEFAULT_MAX_FRAME_BYTES",
    "DEFAULT_MAX_QUEUED_FRAMES",
    "WsLink",
    "WsLinkClient",
    "run_server",
    "serve_ws",
]

log = logging.getLogger(__name__)

#: Largest message a connection accepts (an envelope at the hub's 1 MiB limit, plus framing).
DEFAULT_MAX_FRAME_BYTES = 2 << 20
#: Frames that may wait to be written to one client before it counts as a slow consumer.
DEFAULT_MAX_QUEUED_FRAMES = 10_000
#: Seconds a closing socket may take to write its last frames and finish the close
#: handshake before its TCP connection is aborted.
DEFAULT_CLOSE_TIMEOUT = 5.0


def _encode(frame: Frame) -> str:
    return orjson.dumps(encode_frame(frame)).decode()


def _decode(message: str | bytes | bytearray | memoryview) -> Frame:
    try:
        data = orjson.loads(message if not isinstance(message, memoryview) else bytes(message))
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"message is not JSON: {exc}", code="bad_frame") from exc
    return decode_frame(data)


def _request_id_of(message: bytes) -> str:
    """The request id of a message refused for its size, if it reads as a frame (so
    the request it carried fails instead of waiting); "" if not. The message is at
    most four times the frame limit (the socket's own limit), so reading it is bounded.
    """
    try:
        data = orjson.loads(message)
    except orjson.JSONDecodeError:
        return ""
    rid = data.get("request_id") if isinstance(data, dict) else None
    return rid if isinstance(rid, str) else ""


#: Bytes in a socket's write buffer under which a frame is written at once (not queued).
_DIRECT_WRITE_BELOW = 64 * 1024


class _Writer:
    """A socket's outgoing queue, written in order by one task; bounded."""

    def __init__(
        self,
        ws: WsServerConnection | WsClientConnection,
        limit: int | None,
        close_timeout: float,
    ) -> None:
        self._ws = ws
        self._queue: deque[str] = deque()
        self.limit = limit
        self._close_timeout = close_timeout
        self._wake: asyncio.Event = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="hubbub-ws-writer")
        self.closing = False

    def put(self, message: str) -> bool:
        """Write or queue a message; False when the queue is over its limit (it is
        queued anyway).

        With nothing queued and room in the socket's buffer the message is handed to
        the socket at once (what ``ws.send`` does before it would wait), saving the
        writing task a loop turn per frame; otherwise it waits its turn in the queue.
        """
        queue = self._queue
        if not queue and not self.closing:
            ws = self._ws
            if (
                ws.protocol.state is State.OPEN
                and ws.transport.get_write_buffer_size() < _DIRECT_WRITE_BELOW
            ):
                ws.protocol.send_text(message.encode())
                ws.send_data()
                return True
        queue.append(message)
        self._wake.set()
        return self.limit is None or len(queue) <= self.limit

    def abandon(self, last: str) -> None:
        """Drop every message still queued and write ``last`` instead (a slow consumer).

        The writing task may be stuck on a socket the peer does not read: it is
        replaced by one that writes ``last`` after what the socket already holds.
        """
        self._queue.clear()
        self._queue.append(last)
        self._task.cancel()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="hubbub-ws-writer")

    async def _run(self) -> None:
        ws, queue = self._ws, self._queue
        try:
            while True:
                if not queue:
                    if self.closing:
                        break
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                await ws.send(queue.popleft())  # waits only when the socket's buffer is full
        except ConnectionClosed:
            pass
        if self.closing:
            await ws.close()

    async def close(self) -> None:
        """Write what is queued, then close the socket; abort it after the close timeout."""
        self.closing = True
        self._wake.set()
        task = self._task
        done, _ = await asyncio.wait({task}, timeout=self._close_timeout)
        if not done:  # the peer reads nothing: stop waiting for it
            task.cancel()
            self._ws.transport.abort()
            await asyncio.gather(task, return_exceptions=True)

    def cancel(self) -> None:
        """Stop writing (the socket is gone)."""
        self._task.cancel()


# ============================================================================ server


def _peer(ws: WsServerConnection) -> str:
    address = ws.remote_address
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return str(address)


class _Served:
    """One client socket: the writer and the hub-side protocol connection."""

    def __init__(
        self,
        hub: Hub,
        ws: WsServerConnection,
        auth: Any,
        max_frame_bytes: int,
        max_queued: int,
        close_timeout: float,
    ) -> None:
        self.ws = ws
        self.writer = _Writer(ws, max_queued, close_timeout)
        self.max_frame_bytes = max_frame_bytes
        self.conn = ServerConnection(
            hub,
            send=self._send,
            close=self._close,
            auth=auth,
            limits={"max_frame_bytes": max_frame_bytes, "max_queued_frames": max_queued},
        )
        self._slow = False

    def _send(self, frame: Frame) -> None:
        message = _encode(frame)
        if self._slow:  # the goodbye below: it replaces everything still waiting
            self.writer.abandon(message)
            return
        if not self.writer.put(message):
            self._slow = True
            log.warning(
                "client %s is not reading its frames: disconnecting it", self.conn.endpoint_id
            )
            self.conn.goodbye(
                "slow_consumer",
                f"over {self.writer.limit} frames waited to be written; reconnect and resume",
            )

    def _close(self) -> Any:
        return self.writer.close()

    async def run(self) -> None:
        ws, conn = self.ws, self.conn
        try:
            while True:
                # Bytes, not text: the limit counts bytes, and orjson reads them as they are.
                message = await ws.recv(decode=False)
                size = len(message)
                if size > self.max_frame_bytes:
                    conn.receive_invalid(
                        ProtocolError(
                            f"frame of {size} bytes is over the {self.max_frame_bytes}-byte limit",
                            code="frame_too_large",
                        ),
                        _request_id_of(message),
                    )
                    continue
                try:
                    frame = _decode(message)
                except NetworkError as exc:
                    conn.receive_invalid(exc)
                    continue
                conn.receive(frame)
        except ConnectionClosed:
            pass
        finally:
            conn.connection_lost()
            if not self.writer.closing:
                self.writer.cancel()


class _Hosting:
    """The sockets one server holds (for shutdown)."""

    def __init__(
        self, hub: Hub, auth: Any, max_frame_bytes: int, max_queued: int, close_timeout: float
    ) -> None:
        self.hub = hub
        self.auth = auth
        self.max_frame_bytes = max_frame_bytes
        self.max_queued = max_queued
        self.close_timeout = close_timeout
        self.served: set[_Served] = set()
        self.metrics = next((i for i in hub.interceptors if isinstance(i, HubMetrics)), None)

    async def handler(self, ws: WsServerConnection) -> None:
        served = _Served(
            self.hub, ws, self.auth, self.max_frame_bytes, self.max_queued, self.close_timeout
        )
        self.served.add(served)
        metrics = self.metrics
        if metrics is not None:
            metrics.connection_opened()
        log.info("connection %s accepted from %s", served.conn.endpoint_id, _peer(ws))
        try:
            await served.run()
        finally:
            self.served.discard(served)
            if metrics is not None:
                metrics.connection_closed()
            log.info("connection %s closed", served.conn.endpoint_id)

    def health(self, ws: WsServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        if path == "/metrics" and self.metrics is not None:
            text = self.metrics.render(self.hub).encode()
            headers = Headers([("Content-Type", CONTENT_TYPE), ("Content-Length", str(len(text)))])
            return Response(HTTPStatus.OK.value, HTTPStatus.OK.phrase, headers, text)
        if path != "/healthz":
            return None
        health = self.hub.health()
        health["connections"] = len(self.served)
        body = orjson.dumps(health, default=str)
        status = HTTPStatus.OK if health.get("status") == "ok" else HTTPStatus.SERVICE_UNAVAILABLE
        if health.get("status") == "degraded":
            status = HTTPStatus.OK  # degraded still serves; the body says what is wrong
        headers = Headers(
            [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return Response(status.value, status.phrase, headers, body)

    async def shutdown(self) -> None:
        """Finish in-flight operations, say goodbye to every client, close their sockets."""
        served = list(self.served)
        await asyncio.gather(*(s.conn.drain() for s in served), return_exceptions=True)
        for s in served:
            s.conn.goodbye("hub_shutdown", "the hub is shutting down")
        await asyncio.gather(*(s.writer.close() for s in served), return_exceptions=True)


@contextlib.asynccontextmanager
async def serve_ws(
    hub: Hub,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    auth: Any,
    ssl: ssl_module.SSLContext | None = None,
    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
    max_queued_frames: int = DEFAULT_MAX_QUEUED_FRAMES,
    close_timeout: float = DEFAULT_CLOSE_TIMEOUT,
) -> AsyncIterator[str]:
    """Serve ``hub`` over WebSocket while the ``async with`` body runs; yields the URL.

    ``auth`` checks each connection's hello (``await auth.authenticate(scheme,
    claim)`` → principal, e.g. :class:`~hubbub.network.auth.ServerAuth`). ``port=0``
    picks a free port (the yielded URL has the real one). On exit every client is
    told the hub shuts down (operations in flight finish first); a socket that does not
    finish closing within ``close_timeout`` seconds is aborted.
    """
    hosting = _Hosting(hub, auth, max_frame_bytes, max_queued_frames, close_timeout)
    server: Server = await serve(
        hosting.handler,
        host,
        port,
        ssl=ssl,
        process_request=hosting.health,
        compression=None,
        max_size=max_frame_bytes * 4,
        max_queue=64,
        ping_interval=20,
        ping_timeout=20,
        close_timeout=close_timeout,
    )
    try:
        sock = next(iter(server.sockets))
        bound_port = sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        yield f"{'wss' if ssl else 'ws'}://{shown}:{bound_port}"
    finally:
        server.close(close_connections=False)
        await hosting.shutdown()
        server.close()
        await server.wait_closed()


async def run_server(
    hub: Hub,
    *,
    host: str,
    port: int,
    auth: Any,
    ssl: ssl_module.SSLContext | None,
    ready: Callable[[str], None],
) -> None:
    """Serve ``hub`` until SIGTERM or SIGINT (``hubbub serve``); ``ready(url)`` once listening."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with serve_ws(hub, host=host, port=port, auth=auth, ssl=ssl) as url:
            log.info("serving %s on the %s event loop", url, type(loop).__module__.split(".")[0])
            ready(url)
            # count the usage already in the WALs now, so /metrics shows it from the start
            counting = loop.create_task(_count_usage(hub), name="hubbub-usage-count")
            await stop.wait()
            counting.cancel()
            log.info("stopping: finishing in-flight operations")
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


async def _count_usage(hub: Hub) -> None:
    try:
        await hub.usage()
    except StoreUnavailableError:
        pass  # logged by the hub; the next hub.usage() retries


# ============================================================================ client


class WsLinkClient:
    """One WebSocket connection to a hub (a link for ``ClientConnection``)."""

    def __init__(self, link: WsLink) -> None:
        self._link = link
        self._ws: WsClientConnection | None = None
        self._writer: _Writer | None = None
        self._reader: asyncio.Task[None] | None = None
        self._closed = False
        self._max_send: int | None = None

    def credential(self) -> tuple[str, dict[str, Any]]:
        """The link's auth scheme and claim."""
        return self._link.credential()

    async def connect(
        self,
        on_frame: Callable[[Frame], None],
        on_lost: Callable[[BaseException | None], None],
    ) -> None:
        """Open the socket and start reading.

        Raises:
            ProtocolError: the hub cannot be reached (``connection_lost``).
        """
        link = self._link
        # wss:// without a context: the system's trust (websockets refuses ssl=None there).
        tls: ssl_module.SSLContext | bool | None = link.ssl
        if tls is None and link.url.startswith("wss://"):
            tls = True
        try:
            ws = await connect(
                link.url,
                ssl=tls,
                compression=None,
                proxy=None,
                open_timeout=link.open_timeout,
                max_size=link.max_frame_bytes * 4,
                ping_interval=20,
                ping_timeout=20,
            )
        except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as exc:
            raise ProtocolError(
                f"cannot connect to {link.url}: {exc}", code="connection_lost"
            ) from exc
        self._ws = ws
        self._writer = _Writer(ws, None, DEFAULT_CLOSE_TIMEOUT)
        self._reader = asyncio.get_running_loop().create_task(
            self._read(ws, on_frame, on_lost), name="hubbub-ws-reader"
        )

    async def _read(
        self,
        ws: WsClientConnection,
        on_frame: Callable[[Frame], None],
        on_lost: Callable[[BaseException | None], None],
    ) -> None:
        error: BaseException | None = None
        try:
            async for message in ws:
                try:
                    frame = _decode(message)
                except NetworkError:
                    log.warning("undecodable frame from the hub skipped", exc_info=True)
                    continue
                on_frame(frame)
        except ConnectionClosed as exc:
            error = exc
        if self._writer is not None and not self._writer.closing:
            self._writer.cancel()  # the socket is gone: nothing more will be written
        if not self._closed:
            self._closed = True
            on_lost(error)

    def apply_limits(self, limits: dict[str, Any]) -> None:
        """Take the hub's limits from its welcome (frames over its size are not sent)."""
        size = limits.get("max_frame_bytes")
        self._max_send = size if type(size) is int and size > 0 else None

    def send_frame(self, frame: Frame) -> None:
        """Queue one frame for the hub.

        Raises:
            ProtocolError: the link is closed (``connection_lost``), or the frame is
                over the hub's frame limit (``frame_too_large``; nothing is sent).
        """
        if self._closed or self._writer is None:
            raise ProtocolError("the link is closed", code="connection_lost")
        data = orjson.dumps(encode_frame(frame))
        if self._max_send is not None and len(data) > self._max_send:
            raise ProtocolError(
                f"{frame.kind} frame of {len(data)} bytes is over the hub's "
                f"{self._max_send}-byte limit",
                code="frame_too_large",
            )
        self._writer.put(data.decode())

    async def close(self) -> None:
        """Write what is queued, then close the socket; idempotent."""
        self._closed = True
        if self._writer is not None:
            await self._writer.close()
        reader = self._reader
        if reader is not None and reader is not asyncio.current_task():
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)

    async def abort(self) -> None:
        """Drop the TCP connection without a closing handshake (tests of reconnects)."""
        if self._ws is not None:
            self._ws.transport.abort()


class WsLink:
    """Connections to a hub served by ``hubbub serve`` / :func:`serve_ws`.

    Args:
        url: ``ws://host:port`` or ``wss://host:port``.
        token: the credential (bearer token, or a signed token with ``scheme="hmac"``).
        scheme: the auth scheme of ``token`` (default ``"bearer"``; ``"none"`` when no token).
        ssl: the client TLS context for ``wss://`` (e.g. trusting a private CA).
        open_timeout: seconds to wait for the socket to open.
        max_frame_bytes: the largest frame this client reads.
        reconnect: seconds a lost connection keeps being retried (with backoff)
            before calls fail; 0 turns reconnecting off.
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        scheme: str | None = None,
        ssl: ssl_module.SSLContext | None = None,
        open_timeout: float = 10.0,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        reconnect: float = 60.0,
    ) -> None:
        if not isinstance(url, str) or not url.startswith(("ws://", "wss://")):
            raise ValueError(f"WsLink url must start with ws:// or wss://, got {url!r}")
        self.url = url
        self.token = token
        self.scheme = scheme or ("bearer" if token is not None else "none")
        self.ssl = ssl
        self.open_timeout = open_timeout
        self.max_frame_bytes = max_frame_bytes
        self.reconnect = reconnect

    def __repr__(self) -> str:
        return f"WsLink({self.url!r})"

    def credential(self) -> tuple[str, dict[str, Any]]:
        """``(scheme, claim)`` for the hello frame."""
        if self.token is None:
            return (self.scheme, {})
        return (self.scheme, {"token": self.token})

    def client(self) -> WsLinkClient:
        """A new, unconnected link client."""
        return WsLinkClient(self)
