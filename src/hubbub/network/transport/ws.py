"""The WebSocket transport: the hub served over ``ws://`` / ``wss://``, and ``WsLink`` to reach it.

One WebSocket text message carries one frame, the JSON of ``encode_frame(frame)``.
Each socket is an ``asyncio.BufferedProtocol`` driving websockets' sans-I/O protocol
(``ServerProtocol`` / ``ClientProtocol``): bytes in, complete messages out, handled
in the same callback with no reading task and no task switch per frame. Both sides
are thin shells around the hubbub protocol drivers:

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
hold the server up. A connection that is not welcomed (opening handshake done,
hello accepted) within ``open_timeout`` seconds is dropped, and so is a peer that
reads nothing while its pings keep asking for pongs (``UNREAD_ANSWERS_LIMIT``).
The other way round, a connection with ``max_posts_in_flight`` sends in the hub
(not yet answered: the store is slow) is not read until half of them are
answered: TCP holds back a client that sends faster than the hub writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import ssl as ssl_module
from collections import deque
from collections.abc import AsyncIterator, Callable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, cast

import orjson
from websockets.client import ClientProtocol
from websockets.datastructures import Headers
from websockets.exceptions import InvalidHandshake, InvalidURI
from websockets.frames import CloseCode, Opcode
from websockets.frames import Frame as WsFrame
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.uri import parse_uri

from hubbub.network.errors import NetworkError, ProtocolError, StoreUnavailableError
from hubbub.network.hub.metrics import CONTENT_TYPE, HubMetrics
from hubbub.network.protocol.frames import Frame, decode_frame, encode_frame
from hubbub.network.transport.server import ServerConnection

if TYPE_CHECKING:
    from hubbub.network.hub import Hub

__all__ = [
    "DEFAULT_MAX_FRAME_BYTES",
    "DEFAULT_MAX_POSTS_IN_FLIGHT",
    "DEFAULT_MAX_QUEUED_FRAMES",
    "DEFAULT_OPEN_TIMEOUT",
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
#: Sends one connection may have in the hub at once (admitted, not yet answered)
#: before the server stops reading its socket; it reads again below half of it.
DEFAULT_MAX_POSTS_IN_FLIGHT = 1_000
#: Seconds a new connection has to finish its opening handshake and be welcomed
#: (its hello accepted) before the server drops it.
DEFAULT_OPEN_TIMEOUT = 10.0
#: Seconds a closing socket may take to write its last frames and finish the close
#: handshake before its TCP connection is aborted.
DEFAULT_CLOSE_TIMEOUT = 5.0


def _encode(frame: Frame) -> bytes:
    return orjson.dumps(encode_frame(frame))


#: A message's bytes as the WebSocket protocol hands them over.
Data = bytes | bytearray | memoryview


def _decode(message: Data) -> Frame:
    try:
        data = orjson.loads(message if not isinstance(message, memoryview) else bytes(message))
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"message is not JSON: {exc}", code="bad_frame") from exc
    return decode_frame(data)


def _request_id_of(message: Data) -> str:
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


#: Seconds between keepalive pings. A peer from which nothing at all (not even the
#: pong) arrives for a whole interval after a ping is gone: its socket is aborted.
PING_INTERVAL = 20.0


#: Bytes a socket reads at most at once, into a buffer of its own.
READ_BYTES = 16 * 1024
#: Bytes of answers the protocol writes by itself (pongs) that a peer may leave
#: unread while it does not read: past them it is dropped. (Messages wait in the
#: socket's queue, bounded; answers to a ping flood would fill the memory.)
UNREAD_ANSWERS_LIMIT = 1 << 20


class _Socket(asyncio.BufferedProtocol):
    """One WebSocket connection, driven through websockets' sans-I/O protocol.

    The transport reads into the socket's own buffer (``BufferedProtocol``: no
    buffer allocated per read — asyncio's plain ``recv`` asks for 256 KiB each time,
    which glibc may hand out with ``mmap``). The bytes go into ``self.ws`` (a
    ``ServerProtocol`` or a ``ClientProtocol``), and each complete message it yields
    is handed to :meth:`message` in the same callback: a frame is handled without a
    task switch. The protocol answers pings and close frames itself; what it has to
    write is flushed after every step.

    A message out is written at once while the transport takes it. When the
    transport pushes back (``pause_writing``: the peer does not read) messages wait
    in a queue, written in order when it resumes; :meth:`send` says when that queue
    is over ``limit``. :meth:`close` writes what waits, then closes, and aborts the
    TCP connection if the peer has not finished closing within ``close_timeout``.
    """

    def __init__(
        self, ws: ServerProtocol | ClientProtocol, limit: int | None, close_timeout: float
    ) -> None:
        self.ws = ws
        self.limit = limit
        self.close_timeout = close_timeout
        self.transport: asyncio.Transport | None = None
        self.queue: deque[bytes] = deque()
        self.paused = False
        self.closing = False
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._partial: bytearray | None = None  # a fragmented message, so far
        self._buffer = memoryview(bytearray(READ_BYTES))
        self._heard = True  # anything arrived since the last ping
        self._unread_answers = 0  # bytes of pongs written since the transport paused
        self._pinger: asyncio.TimerHandle | None = None
        self._deadline: asyncio.TimerHandle | None = None  # aborts a close that hangs

    # ------------------------------------------------------------------ each side's part

    def handshake(self, event: Request | Response) -> None:
        """The opening handshake's request (server) or response (client)."""
        raise NotImplementedError

    def message(self, data: Data) -> None:
        """One complete message from the peer."""
        raise NotImplementedError

    def ended(self, exc: BaseException | None) -> None:
        """The TCP connection is gone (``exc``: why, if it broke)."""

    # ------------------------------------------------------------------ sending

    def send(self, message: bytes) -> bool:
        """Write one text message, or queue it while the transport pushes back; False
        when the queue is over its limit (the message is queued anyway). A message for
        a socket that is closing is dropped."""
        if self.ws.state is not State.OPEN or (self.closing and not self.queue):
            return True
        queue = self.queue
        if self.paused or queue:
            queue.append(message)
            return self.limit is None or len(queue) <= self.limit
        self.ws.send_text(message)
        self._flush()
        return True

    def abandon(self, last: bytes) -> None:
        """Drop every message still queued and write ``last`` instead (a slow consumer)."""
        self.queue.clear()
        self.queue.append(last)
        self._drain()

    async def close(self) -> None:
        """Write what is queued, then close; abort after the close timeout. Idempotent."""
        if not self.closing:
            self.closing = True
            if not self.queue:
                self._send_close()
        if self.lost.done():
            return
        try:
            async with asyncio.timeout(self.close_timeout):
                await asyncio.shield(self.lost)
        except TimeoutError:  # the peer reads nothing: stop waiting for it
            self.abort()
            await self.lost

    def abort(self) -> None:
        """Drop the TCP connection at once."""
        if self.transport is not None:
            self.transport.abort()

    def keep_alive(self) -> None:
        """Ping the peer every :data:`PING_INTERVAL`; abort when it has gone quiet."""
        self._pinger = asyncio.get_running_loop().call_later(PING_INTERVAL, self._ping)

    def _ping(self) -> None:
        if self.ws.state is not State.OPEN:
            return
        if not self._heard:
            log.info("no answer to a ping within %s s: dropping the connection", PING_INTERVAL)
            self.abort()
            return
        self._heard = False
        self.ws.send_ping(os.urandom(4))
        self._flush()
        self.keep_alive()

    def _send_close(self) -> None:
        if self.ws.state is State.OPEN:
            self.ws.send_close(CloseCode.NORMAL_CLOSURE)
            self._flush()

    def _drain(self) -> None:
        """Write queued messages while the transport takes them; close after the last
        if a close is waiting for them."""
        queue, ws = self.queue, self.ws
        while queue and not self.paused:
            if ws.state is not State.OPEN:
                queue.clear()
                break
            ws.send_text(queue.popleft())
            self._flush()
        if self.closing and not queue:
            self._send_close()

    def _flush(self) -> None:
        transport = self.transport
        assert transport is not None
        for data in self.ws.data_to_send():
            if data:
                transport.write(data)
            elif transport.can_write_eof():  # the protocol's end of stream: half-close
                with contextlib.suppress(Exception):  # uvloop may raise RuntimeError here
                    transport.write_eof()
            else:  # TLS cannot half-close
                transport.close()
        if self._deadline is None and self.ws.close_expected():
            self._deadline = asyncio.get_running_loop().call_later(
                self.close_timeout, transport.abort
            )

    # ------------------------------------------------------------------ asyncio.BufferedProtocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.received(bytes(self._buffer[:nbytes]))

    def received(self, data: bytes) -> None:
        """Bytes from the network: feed the protocol, handle what it yields."""
        ws = self.ws
        ws.receive_data(data)
        self._heard = True
        events = ws.events_received()
        if self.paused:  # the peer reads nothing, yet its pings get answers: count them
            transport = self.transport
            assert transport is not None
            before = transport.get_write_buffer_size()
            self._flush()
            self._unread_answers += transport.get_write_buffer_size() - before
            if self._unread_answers > UNREAD_ANSWERS_LIMIT:
                log.warning("a peer that reads nothing keeps asking for answers: dropping it")
                transport.abort()
                return
        else:
            self._flush()  # the protocol's own answers (pong, close) go first
        for event in events:
            if not isinstance(event, WsFrame):
                self.handshake(event)
                continue
            opcode = event.opcode
            if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
                if event.fin:
                    self.message(event.data)
                else:  # joined as it comes (many tiny fragments cost no more than one)
                    self._partial = bytearray(event.data)
            elif opcode is Opcode.CONT and self._partial is not None:
                self._partial += event.data
                if event.fin:
                    data, self._partial = bytes(self._partial), None
                    self.message(data)
            # close, ping and pong: answered by the protocol

    def eof_received(self) -> None:
        self.ws.receive_eof()
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self.ws.receive_eof()  # idempotent: the protocol's state becomes CLOSED
        for timer in (self._pinger, self._deadline):
            if timer is not None:
                timer.cancel()
        self.queue.clear()
        if not self.lost.done():
            self.lost.set_result(None)
        self.ended(exc)

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self._unread_answers = 0
        self._drain()


# ============================================================================ server


class _Served(_Socket):
    """One client socket: its opening handshake (or a ``GET /healthz``), then the
    hub-side protocol connection fed with every frame."""

    def __init__(self, hosting: _Hosting) -> None:
        super().__init__(
            ServerProtocol(max_size=hosting.max_frame_bytes * 4),
            hosting.max_queued,
            hosting.close_timeout,
        )
        self.hosting = hosting
        self.server = cast(ServerProtocol, self.ws)
        self.conn: ServerConnection | None = None
        self._slow = False
        self._held = False  # reading paused: too many of its sends are in the hub
        self._opening: asyncio.TimerHandle | None = None  # drops it if never welcomed

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.hosting.sockets.add(self)
        self._opening = asyncio.get_running_loop().call_later(
            self.hosting.open_timeout, self._not_opened
        )

    def _not_opened(self) -> None:
        if self.conn is None or self.conn.principal is None:
            log.info(
                "connection from %s not welcomed within %s s: dropped",
                self._peer(),
                self.hosting.open_timeout,
            )
            self.abort()

    def handshake(self, event: Request | Response) -> None:
        assert isinstance(event, Request)
        response = self.hosting.http(event)
        if response is None:
            response = self.server.accept(event)
        self.server.send_response(response)
        self._flush()
        if self.ws.state is State.OPEN:
            self._open()

    def _open(self) -> None:
        hosting = self.hosting
        self.conn = ServerConnection(
            hosting.hub,
            send=self._send,
            close=self.close,
            auth=hosting.auth,
            limits={"max_frame_bytes": hosting.max_frame_bytes, "max_queued_frames": self.limit},
        )
        self.conn.on_post_done = self._post_done
        if hosting.metrics is not None:
            hosting.metrics.connection_opened()
        log.info("connection %s accepted from %s", self.conn.endpoint_id, self._peer())
        self.keep_alive()

    def _peer(self) -> str:
        address = self.transport.get_extra_info("peername") if self.transport else None
        if isinstance(address, tuple) and len(address) >= 2:
            return f"{address[0]}:{address[1]}"
        return str(address)

    def _send(self, frame: Frame) -> None:
        message = _encode(frame)
        if self._slow:  # the goodbye below: it replaces everything still waiting
            self.abandon(message)
            return
        if not self.send(message):
            self._slow = True
            conn = self.conn
            assert conn is not None
            log.warning("client %s is not reading its frames: disconnecting it", conn.endpoint_id)
            conn.goodbye(
                "slow_consumer",
                f"over {self.limit} frames waited to be written; reconnect and resume",
            )

    def message(self, data: Data) -> None:
        conn = self.conn
        assert conn is not None
        size, limit = len(data), self.hosting.max_frame_bytes
        if size > limit:
            conn.receive_invalid(
                ProtocolError(
                    f"frame of {size} bytes is over the {limit}-byte limit",
                    code="frame_too_large",
                ),
                _request_id_of(data),
            )
            return
        try:
            frame = _decode(data)
        except NetworkError as exc:
            conn.receive_invalid(exc)
            return
        conn.receive(frame)
        if conn.posts_in_flight >= self.hosting.max_posts and not self._held:
            self._held = True  # the client sends faster than the hub answers: let TCP hold it
            assert self.transport is not None
            self.transport.pause_reading()

    def _post_done(self) -> None:
        conn = self.conn
        if self._held and conn is not None and conn.posts_in_flight <= self.hosting.max_posts // 2:
            self._held = False
            assert self.transport is not None
            if not self.transport.is_closing():
                self.transport.resume_reading()

    def ended(self, exc: BaseException | None) -> None:
        hosting = self.hosting
        hosting.sockets.discard(self)
        if self._opening is not None:
            self._opening.cancel()
        conn = self.conn
        if conn is None:
            return
        conn.connection_lost()
        if hosting.metrics is not None:
            hosting.metrics.connection_closed()
        log.info("connection %s closed", conn.endpoint_id)


class _Hosting:
    """What one server shares between its sockets, and the sockets it holds (for shutdown)."""

    def __init__(
        self,
        hub: Hub,
        auth: Any,
        max_frame_bytes: int,
        max_queued: int,
        close_timeout: float,
        max_posts: int,
        open_timeout: float,
    ) -> None:
        self.hub = hub
        self.auth = auth
        self.max_frame_bytes = max_frame_bytes
        self.max_queued = max_queued
        self.close_timeout = close_timeout
        self.max_posts = max_posts
        self.open_timeout = open_timeout
        self.sockets: set[_Served] = set()
        self.metrics = next((i for i in hub.interceptors if isinstance(i, HubMetrics)), None)

    def served(self) -> list[_Served]:
        """The sockets past their opening handshake."""
        return [s for s in self.sockets if s.conn is not None]

    def http(self, request: Request) -> Response | None:
        """The answer to a plain HTTP request (``/healthz``, ``/metrics``); None for
        anything else (the WebSocket handshake goes on)."""
        path = request.path.split("?", 1)[0]
        if path == "/metrics" and self.metrics is not None:
            text = self.metrics.render(self.hub).encode()
            headers = Headers([("Content-Type", CONTENT_TYPE), ("Content-Length", str(len(text)))])
            return Response(HTTPStatus.OK.value, HTTPStatus.OK.phrase, headers, text)
        if path != "/healthz":
            return None
        health = self.hub.health()
        health["connections"] = len(self.served())
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
        served = self.served()
        await asyncio.gather(
            *(s.conn.drain() for s in served if s.conn is not None), return_exceptions=True
        )
        for s in served:
            if s.conn is not None:
                s.conn.goodbye("hub_shutdown", "the hub is shutting down")
        await asyncio.gather(*(s.close() for s in served), return_exceptions=True)
        for s in list(self.sockets):  # still in their opening handshake
            s.abort()


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
    max_posts_in_flight: int = DEFAULT_MAX_POSTS_IN_FLIGHT,
    open_timeout: float = DEFAULT_OPEN_TIMEOUT,
) -> AsyncIterator[str]:
    """Serve ``hub`` over WebSocket while the ``async with`` body runs; yields the URL.

    ``auth`` checks each connection's hello (``await auth.authenticate(scheme,
    claim)`` → principal, e.g. :class:`~hubbub.network.auth.ServerAuth`). ``port=0``
    picks a free port (the yielded URL has the real one). On exit every client is
    told the hub shuts down (operations in flight finish first); a socket that does not
    finish closing within ``close_timeout`` seconds is aborted, and one not welcomed
    (handshake done, hello accepted) within ``open_timeout`` seconds is dropped. A
    connection with ``max_posts_in_flight`` sends in the hub is not read until half
    of them are answered.
    """
    hosting = _Hosting(
        hub,
        auth,
        max_frame_bytes,
        max_queued_frames,
        close_timeout,
        max_posts_in_flight,
        open_timeout,
    )
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Served(hosting), host, port, ssl=ssl)
    try:
        sock = next(iter(server.sockets))
        bound_port = sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        yield f"{'wss' if ssl else 'ws'}://{shown}:{bound_port}"
    finally:
        server.close()  # no new connections
        await hosting.shutdown()
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


class _Dialed(_Socket):
    """The client's socket: it sends the opening handshake, then hands each frame on."""

    def __init__(
        self,
        link: WsLink,
        on_frame: Callable[[Frame], None],
        on_lost: Callable[[BaseException | None], None],
    ) -> None:
        super().__init__(
            ClientProtocol(parse_uri(link.url), max_size=link.max_frame_bytes * 4),
            None,
            DEFAULT_CLOSE_TIMEOUT,
        )
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._on_frame = on_frame
        self._on_lost = on_lost

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        ws = self.ws
        assert isinstance(ws, ClientProtocol)
        ws.send_request(ws.connect())
        self._flush()

    def handshake(self, event: Request | Response) -> None:
        if self.ws.state is State.OPEN and not self.opened.done():
            self.opened.set_result(None)
            self.keep_alive()

    def received(self, data: bytes) -> None:
        super().received(data)
        failed = self.ws.handshake_exc
        if failed is not None and not self.opened.done():
            self.opened.set_exception(failed)

    def message(self, data: Data) -> None:
        try:
            frame = _decode(data)
        except NetworkError:
            log.warning("undecodable frame from the hub skipped", exc_info=True)
            return
        self._on_frame(frame)

    def ended(self, exc: BaseException | None) -> None:
        opened = self.opened
        if not opened.done():
            opened.set_exception(
                exc or ConnectionError("the hub closed the connection during the handshake")
            )
            return
        if opened.cancelled() or opened.exception() is not None:
            return  # it never opened: connect() raised that already
        self._on_lost(exc or self.ws.close_exc)


class WsLinkClient:
    """One WebSocket connection to a hub (a link for ``ClientConnection``)."""

    def __init__(self, link: WsLink) -> None:
        self._link = link
        self._socket: _Dialed | None = None
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
        """Open the socket; frames then go to ``on_frame`` as they arrive.

        Raises:
            ProtocolError: the hub cannot be reached (``connection_lost``).
        """
        link = self._link

        def lost(exc: BaseException | None) -> None:
            if not self._closed:
                self._closed = True
                on_lost(exc)

        socket: _Dialed | None = None
        try:
            uri = parse_uri(link.url)
            # wss:// without a context: the system's trust
            tls: ssl_module.SSLContext | bool | None = None
            if uri.secure:
                tls = link.ssl if link.ssl is not None else True
            socket = _Dialed(link, on_frame, lost)
            async with asyncio.timeout(link.open_timeout):
                await asyncio.get_running_loop().create_connection(
                    lambda: socket, uri.host, uri.port, ssl=tls
                )
                await socket.opened
        except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as exc:
            if socket is not None:
                socket.opened.cancel()
                socket.abort()
            raise ProtocolError(
                f"cannot connect to {link.url}: {exc}", code="connection_lost"
            ) from exc
        self._socket = socket

    def apply_limits(self, limits: dict[str, Any]) -> None:
        """Take the hub's limits from its welcome (frames over its size are not sent)."""
        size = limits.get("max_frame_bytes")
        self._max_send = size if type(size) is int and size > 0 else None

    def send_frame(self, frame: Frame) -> None:
        """Write (or queue) one frame for the hub.

        Raises:
            ProtocolError: the link is closed (``connection_lost``), or the frame is
                over the hub's frame limit (``frame_too_large``; nothing is sent).
        """
        if self._closed or self._socket is None:
            raise ProtocolError("the link is closed", code="connection_lost")
        data = orjson.dumps(encode_frame(frame))
        if self._max_send is not None and len(data) > self._max_send:
            raise ProtocolError(
                f"{frame.kind} frame of {len(data)} bytes is over the hub's "
                f"{self._max_send}-byte limit",
                code="frame_too_large",
            )
        self._socket.send(data)

    async def close(self) -> None:
        """Write what is queued, then close the socket; idempotent."""
        self._closed = True
        if self._socket is not None:
            await self._socket.close()

    async def abort(self) -> None:
        """Drop the TCP connection without a closing handshake (tests of reconnects)."""
        if self._socket is not None:
            self._socket.abort()


class WsLink:
    """Connections to a hub served by ``hubbub serve`` / :func:`serve_ws`.

    Args:
        url: ``ws://host:port`` or ``wss://host:port``.
        token: the credential (bearer token, or a signed token with ``scheme="hmac"``).
        scheme: the auth scheme of ``token`` (default ``"bearer"``; ``"none"`` when no token).
        ssl: the client TLS context for ``wss://`` (e.g. trusting a private CA); a
            ``ws://`` url with one is refused (``ValueError``) rather than sent in clear.
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
        if ssl is not None and url.startswith("ws://"):
            raise ValueError(f"WsLink was given a TLS context for a plain ws:// url ({url!r})")
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
