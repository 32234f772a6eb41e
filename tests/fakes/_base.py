"""Provider-neutral reply specs and the threaded loopback HTTP server both fakes share.

See the package docstring (``tests/fakes/__init__.py``) for how to use the fakes.
"""

from __future__ import annotations

import json
import socket
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

__all__ = [
    "ErrorReply",
    "FakeProviderServer",
    "FakeUsage",
    "RawReply",
    "RecordedRequest",
    "Reply",
    "ReplySpec",
    "Responder",
    "ToolCall",
    "text",
    "tool_call",
]


# --------------------------------------------------------------------------- reply specs


@dataclass(frozen=True, slots=True)
class FakeUsage:
    """Token counts a fake reply reports (rendered in each provider's own shape).

    Anthropic: ``input_tokens``/``output_tokens``/``cache_read_input_tokens``/
    ``cache_creation_input_tokens`` (+ ``output_tokens_details.thinking_tokens``).
    OpenAI: ``prompt_tokens=input_tokens``, ``completion_tokens=output_tokens``,
    ``total_tokens`` = their sum, ``prompt_tokens_details.cached_tokens=cache_read_tokens``,
    ``completion_tokens_details.reasoning_tokens=reasoning_tokens``.
    """

    input_tokens: int = 10
    output_tokens: int = 5
    cache_read_tokens: int | None = None
    cache_creation_tokens: int | None = None
    reasoning_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One tool call the fake model requests; ``id`` is generated when None."""

    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)
    id: str | None = None


@dataclass(frozen=True, slots=True)
class Reply:
    """A successful model answer, rendered as JSON or SSE depending on the request's ``stream``.

    Args:
        text: the answer text; a sequence gives several text blocks (Anthropic) or is
            concatenated (OpenAI). None/empty = no text.
        tool_calls: tool calls requested after the text.
        stop_reason: provider stop/finish reason; default ``tool_use``/``end_turn``
            (Anthropic) or ``tool_calls``/``stop`` (OpenAI).
        usage: token counts to report; None omits usage where the protocol allows.
        delay: seconds to wait before sending the response headers (timeout tests).
        model: model name to report; default echoes the request's ``model``.
        id: response id; generated when None.
        headers: extra response headers.
    """

    text: str | Sequence[str] | None = None
    tool_calls: Sequence[ToolCall] = ()
    stop_reason: str | None = None
    usage: FakeUsage | None = field(default_factory=FakeUsage)
    delay: float = 0.0
    model: str | None = None
    id: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def text_blocks(self) -> list[str]:
        """The text as a list of non-empty blocks."""
        if self.text is None:
            return []
        if isinstance(self.text, str):
            return [self.text] if self.text else []
        return [t for t in self.text if t]


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """An HTTP error in the provider's error-body shape.

    ``retry-after-ms: 10`` is sent by default so SDK retries in tests take milliseconds;
    pass ``headers={"x-should-retry": "false"}`` to forbid a retry.
    """

    status: int
    message: str = "fake provider error"
    error_type: str | None = None
    headers: Mapping[str, str] = field(default_factory=lambda: {"retry-after-ms": "10"})
    delay: float = 0.0


@dataclass(frozen=True, slots=True)
class RawReply:
    """Send ``body`` verbatim (JSON-encoded unless it is ``str``/``bytes``)."""

    body: Any
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    delay: float = 0.0


ReplySpec = Reply | ErrorReply | RawReply | str
"""What a queue item or a responder may return; a bare ``str`` means ``Reply(text=...)``."""

Responder = Callable[[dict[str, Any]], ReplySpec]
"""Called with the decoded request body when the queue is empty."""


def text(content: str | Sequence[str], **kwargs: Any) -> Reply:
    """Shorthand for ``Reply(text=content, **kwargs)``."""
    return Reply(text=content, **kwargs)


def tool_call(
    name: str, arguments: Mapping[str, Any] | None = None, *, id: str | None = None, **kwargs: Any
) -> Reply:
    """Shorthand for a reply requesting one tool call."""
    return Reply(tool_calls=[ToolCall(name, dict(arguments or {}), id)], **kwargs)


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One HTTP request the fake received (every attempt, retries included)."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: Any

    @property
    def json(self) -> dict[str, Any]:
        """The decoded JSON body (``{}`` when it was not a JSON object)."""
        return self.body if isinstance(self.body, dict) else {}


# --------------------------------------------------------------------------- the server


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    owner: FakeProviderServer

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self.connections_lock:
                self.connections.discard(request)

    def drop_connections(self) -> None:
        """Shut down open keep-alive connections so their handler threads finish."""
        with self.connections_lock:
            conns = list(self.connections)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (timeout test) leaves a broken pipe behind: not an error here.
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.server.owner._handle(self)

    def do_GET(self) -> None:
        self.server.owner._handle(self)


class SSEWriter:
    """Writes a chunked ``text/event-stream`` body."""

    def __init__(self, handler: BaseHTTPRequestHandler) -> None:
        self._h = handler

    def event(self, data: Any, event: str | None = None) -> None:
        """Write one SSE event (``data`` is JSON-encoded unless it is a ``str``)."""
        payload = data if isinstance(data, str) else json.dumps(data)
        chunk = (f"event: {event}\n" if event else "") + f"data: {payload}\n\n"
        self._write_chunk(chunk.encode())

    def _write_chunk(self, raw: bytes) -> None:
        self._h.wfile.write(f"{len(raw):x}\r\n".encode() + raw + b"\r\n")
        self._h.wfile.flush()

    def close(self) -> None:
        self._h.wfile.write(b"0\r\n\r\n")
        self._h.wfile.flush()


class FakeProviderServer:
    """A scriptable provider API on ``127.0.0.1:<ephemeral port>``, served from a thread.

    Subclasses implement :meth:`_route` (which paths exist), :meth:`_render_json`,
    :meth:`_render_stream` and :meth:`_error_body` for their provider's protocol.

    Reply selection per request: the next queued reply (``replies=`` / :meth:`add`), else
    ``responder(request_body)``, else ``default`` (if given), else an HTTP 418 error
    with ``x-should-retry: false`` saying the script is exhausted.
    """

    url_suffix = ""

    def __init__(
        self,
        replies: Iterable[ReplySpec] = (),
        *,
        responder: Responder | None = None,
        default: ReplySpec | None = None,
    ) -> None:
        self._queue: deque[ReplySpec] = deque(replies)
        self.responder = responder
        self.default = default
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._closing = threading.Event()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self._counter = 0

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> Self:
        """Bind an ephemeral loopback port and start serving (idempotent)."""
        if self._httpd is None:
            httpd = _Server(("127.0.0.1", 0), _Handler)
            httpd.owner = self
            self._httpd = httpd
            self._thread = threading.Thread(
                target=httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"{type(self).__name__}:{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving, wake delayed handlers and release the port."""
        self._closing.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.drop_connections()
            self._httpd.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._httpd = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- addresses ----------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port (the server must be started)."""
        assert self._httpd is not None, "server not started"
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """The value to pass as the SDK's/config's ``base_url``."""
        return f"http://127.0.0.1:{self.port}{self.url_suffix}"

    base_url = url

    # -- scripting / inspection -----------------------------------------------------------

    def add(self, *replies: ReplySpec) -> None:
        """Append replies to the queue."""
        with self._lock:
            self._queue.extend(replies)

    @property
    def pending(self) -> int:
        """Number of queued replies not yet consumed."""
        with self._lock:
            return len(self._queue)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far (a copy), in arrival order."""
        with self._lock:
            return list(self._requests)

    @property
    def bodies(self) -> list[dict[str, Any]]:
        """The JSON bodies of every request received so far."""
        return [r.json for r in self.requests]

    @property
    def last_body(self) -> dict[str, Any]:
        """The JSON body of the most recent request."""
        reqs = self.requests
        assert reqs, "the fake server received no request"
        return reqs[-1].json

    def next_id(self, prefix: str) -> str:
        """A fresh, deterministic id such as ``msg_fake_3``."""
        with self._lock:
            self._counter += 1
            return f"{prefix}_fake_{self._counter}"

    # -- request handling ---------------------------------------------------------------

    def _next_reply(self, body: dict[str, Any]) -> ReplySpec | None:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        if self.responder is not None:
            return self.responder(body)
        return self.default

    def _handle(self, h: _Handler) -> None:
        length = int(h.headers.get("content-length") or 0)
        raw = h.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        record = RecordedRequest(
            method=h.command,
            path=h.path,
            headers={k.lower(): v for k, v in h.headers.items()},
            body=body,
        )
        with self._lock:
            self._requests.append(record)

        if not self._route(h.command, h.path.split("?", 1)[0]):
            self._send_json(h, 404, self._error_body(404, f"no route {h.command} {h.path}", None))
            return
        request = body if isinstance(body, dict) else {}
        try:
            spec = self._next_reply(request)
        except Exception as exc:  # a broken responder should fail the test loudly
            spec = ErrorReply(500, f"responder raised {exc!r}", headers={"x-should-retry": "false"})
        if spec is None:
            spec = ErrorReply(
                418,
                f"{type(self).__name__}: no reply scripted for request #{len(self.requests)}",
                headers={"x-should-retry": "false"},
            )
        if isinstance(spec, str):
            spec = Reply(text=spec)

        if spec.delay and self._closing.wait(spec.delay):
            return  # shutting down

        try:
            if isinstance(spec, ErrorReply):
                self._send_json(
                    h,
                    spec.status,
                    self._error_body(spec.status, spec.message, spec.error_type),
                    spec.headers,
                )
            elif isinstance(spec, RawReply):
                payload = spec.body
                if not isinstance(payload, str | bytes):
                    payload = json.dumps(payload)
                data = payload.encode() if isinstance(payload, str) else payload
                self._send_bytes(h, spec.status, data, spec.content_type, spec.headers)
            elif request.get("stream"):
                h.send_response(200)
                h.send_header("content-type", "text/event-stream")
                h.send_header("transfer-encoding", "chunked")
                h.send_header("cache-control", "no-cache")
                for k, v in spec.headers.items():
                    h.send_header(k, v)
                h.end_headers()
                writer = SSEWriter(h)
                self._render_stream(spec, request, writer)
                writer.close()
            else:
                self._send_json(h, 200, self._render_json(spec, request), spec.headers)
        except (BrokenPipeError, ConnectionResetError):
            h.close_connection = True

    @staticmethod
    def _send_json(
        h: BaseHTTPRequestHandler,
        status: int,
        obj: Any,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        FakeProviderServer._send_bytes(
            h, status, json.dumps(obj).encode(), "application/json", headers or {}
        )

    @staticmethod
    def _send_bytes(
        h: BaseHTTPRequestHandler,
        status: int,
        data: bytes,
        content_type: str,
        headers: Mapping[str, str],
    ) -> None:
        h.send_response(status)
        h.send_header("content-type", content_type)
        h.send_header("content-length", str(len(data)))
        for k, v in headers.items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(data)
        h.wfile.flush()

    # -- protocol hooks (subclasses) -----------------------------------------------------

    def _route(self, method: str, path: str) -> bool:
        raise NotImplementedError

    def _render_json(self, reply: Reply, request: dict[str, Any]) -> Any:
        raise NotImplementedError

    def _render_stream(self, reply: Reply, request: dict[str, Any], sse: SSEWriter) -> None:
        raise NotImplementedError

    def _error_body(self, status: int, message: str, error_type: str | None) -> Any:
        raise NotImplementedError


def iter_tool_ids(
    server: FakeProviderServer, prefix: str, calls: Sequence[ToolCall]
) -> Iterator[str]:
    """Yield each call's id, generating ``<prefix>_fake_<n>`` for calls without one."""
    for call in calls:
        yield call.id or server.next_id(prefix)
