"""ServerConnection: drives one connection's ServerProtocol against the hub.

Every transport — ``LocalLink`` in-process, the WebSocket server across processes —
makes one ``ServerConnection`` per client connection and gives it two callables:
``send(frame)`` (queue a frame for the client; must not block) and ``close()``
(end the transport). It then feeds the connection what the client sent
(``receive(frame)``, ``receive_invalid(error)``) and says when the transport went
away (``connection_lost()``). The connection runs each operation the protocol
asks for as its own task, so a long call (opening a session waits for every
invitee's ack) never holds up the frames behind it, and writes the frames the
protocol queues.

A transport that reads on its own (the WebSocket server) watches
``posts_in_flight``, the sends admitted but not yet answered: past its limit it
stops reading the socket, and it is told (``on_post_done``) as each one finishes.
So a client that sends faster than the store appends is held back by TCP, and
what waits in the hub for it stays bounded. (Only sends count: a send never
waits for another frame, so holding them back cannot deadlock; an ``open`` waits
for acks that may come on this very connection.)

Once the hello is accepted the connection is attached to the hub as an endpoint:
the hub calls ``deliver(recipient_id, envelope)`` for every envelope addressed to
an agent registered through it, and ``close()`` when the hub shuts down.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hubbub.network.envelope import Envelope, is_protocol_event
from hubbub.network.errors import NetworkError, ProtocolError
from hubbub.network.ids import make_id
from hubbub.network.protocol.frames import Frame
from hubbub.network.protocol.server import (
    Authenticate,
    Call,
    Close,
    Op,
    Post,
    Receipt,
    ServerProtocol,
    Subscribe,
    Unsubscribe,
)

if TYPE_CHECKING:
    from hubbub.network.hub import Connection, Hub

__all__ = ["ServerConnection"]

log = logging.getLogger(__name__)


class ServerConnection:
    """The hub's end of one client connection (see the module docstring).

    Args:
        hub: the hub served.
        send: queue one frame for the client (never blocks).
        close: end the transport (after the frames already queued).
        auth: checks a hello's credential and returns the principal
            (``await auth.authenticate(scheme, claim)``); required unless
            ``principal`` is given.
        principal: trust this connection as ``principal`` without a credential
            (in-process links).
        limits: what the welcome frame tells the client.
    """

    def __init__(
        self,
        hub: Hub,
        *,
        send: Callable[[Frame], None],
        close: Callable[[], Any],
        auth: Any = None,
        principal: str | None = None,
        limits: dict[str, Any] | None = None,
    ) -> None:
        if auth is None and principal is None:
            raise ValueError("ServerConnection needs auth= or a trusted principal=")
        self.endpoint_id = make_id()
        self.protocol = ServerProtocol(self.endpoint_id, dict(limits or {}))
        self._trusted = principal
        self._hub = hub
        self._send = send
        self._close_transport = close
        self._auth = auth
        self._connection: Connection | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        #: sends received and not yet answered (see the module docstring)
        self.posts_in_flight = 0
        #: called each time one of them is answered
        self.on_post_done: Callable[[], None] | None = None

    # ------------------------------------------------------------------ transport → hub

    @property
    def closed(self) -> bool:
        """True once the connection ended."""
        return self._closed

    @property
    def principal(self) -> str | None:
        """Who the connection authenticated as (None before the welcome)."""
        return self.protocol.principal if self.protocol.state == "open" else None

    def receive(self, frame: Frame) -> None:
        """One frame from the client."""
        if self._closed:
            return
        self._run(self.protocol.receive(frame))
        self._flush()

    async def run(self, frame: Frame) -> None:
        """One frame from a client that waits for its answer in this task (in-process).

        The operations it asks for run here, in the caller's task, instead of in
        tasks of their own: ``LocalLink`` hands over a request or send this way, so
        an in-process call costs no extra scheduling. Each caller still runs only
        its own operation, so calls from different tasks stay concurrent.
        """
        if self._closed:
            return
        for op in self.protocol.receive(frame):
            if isinstance(op, Post):
                await self._post(op)
            elif isinstance(op, Call) and _is_async(op.name):
                await self._call(op)
            else:
                self._run([op])
        self._flush()

    def receive_invalid(self, error: NetworkError, request_id: str = "") -> None:
        """A message from the client that is not a frame (it gets an error frame)."""
        if self._closed:
            return
        self._run(self.protocol.receive_invalid(error, request_id))
        self._flush()

    def connection_lost(self) -> None:
        """The transport is gone: detach from the hub (operations in flight finish)."""
        if self._closed:
            return
        self._closed = True
        self.protocol.state = "closed"
        if self._connection is not None:
            self._connection.detach()

    # ------------------------------------------------------------------ hub → client

    def deliver(self, recipient_id: str, envelope: Envelope) -> None:
        """The hub delivers an envelope to an agent registered through this connection.

        A content envelope carries the recipient's turn probe as of it (may it reply,
        and if so the adapter state), so a turn answering it needs no request of its own.
        """
        probe = None
        connection = self._connection
        if connection is not None and not is_protocol_event(envelope.event_type):
            try:
                probe = connection.delivery_probe(envelope.session_id, recipient_id)
            except NetworkError:
                probe = None
        if self.protocol.notify(recipient_id, envelope, probe):
            self._flush()

    def observe(self, subscription_id: str, envelope: Envelope) -> None:
        """The hub reports an envelope to one of this connection's subscriptions."""
        if self.protocol.event(subscription_id, envelope):
            self._flush()

    async def close(self) -> None:
        """The hub shuts down: say goodbye and end the transport."""
        if self._closed:
            return
        self._run(self.protocol.goodbye("hub_shutdown", "the hub is shutting down"))
        self._flush()

    def goodbye(self, code: str, reason: str) -> None:
        """End the connection from the hub's side with a reason (e.g. ``slow_consumer``)."""
        self._run(self.protocol.goodbye(code, reason))
        self._flush()

    async def drain(self) -> None:
        """Wait for the operations in flight (shutdown, tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # ------------------------------------------------------------------ operations

    def _run(self, ops: list[Op]) -> None:
        for op in ops:
            if isinstance(op, Receipt):
                if self._connection is not None:
                    self._connection.receipt(op.recipient_id)
            elif isinstance(op, Close):
                self._end()
            elif isinstance(op, Post):
                self.posts_in_flight += 1
                self._spawn(self._post_in_flight(op))
            elif isinstance(op, Call):
                if _is_async(op.name):
                    self._spawn(self._call(op))
                else:  # a probe (can_send, adapter_state): answered at once, no task
                    self._call_now(op)
            elif isinstance(op, Subscribe):
                self._spawn(self._subscribe(op))
            elif isinstance(op, Unsubscribe):
                if self._connection is not None:
                    self._connection.unsubscribe(op.subscription_id)
            elif isinstance(op, Authenticate):
                if self._trusted is not None:
                    self._attach(self._trusted)
                else:
                    self._spawn(self._authenticate(op))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _authenticate(self, op: Authenticate) -> None:
        try:
            principal = await self._auth.authenticate(op.scheme, op.claim)
            self._attach(principal)
        except NetworkError as exc:
            self._run(self.protocol.refuse(exc))
        except Exception as exc:
            log.exception("authenticating a connection failed")
            self._run(self.protocol.refuse(NetworkError(f"authentication failed: {exc}")))
        self._flush()

    def _attach(self, principal: str) -> None:
        self._connection = self._hub.attach_endpoint(self, principal=principal)
        self.protocol.authenticated(principal, self._hub.now())

    async def _call(self, op: Call) -> None:
        connection = self._connection
        try:
            if connection is None:
                raise ProtocolError("the connection is not open")
            if op.name == "register":
                await self._register(connection, op)
            else:
                self.protocol.complete(op, await getattr(connection, op.name)(**op.params))
        except NetworkError as exc:
            self.protocol.fail(op, exc)
        except Exception as exc:
            log.exception("operation %s failed", op.name)
            self.protocol.fail(op, NetworkError(f"{op.name} failed in the hub: {exc}"))
        self._flush()

    async def _register(self, connection: Connection, op: Call) -> None:
        """Register; with ``cursors`` (a client reconnecting), resend what the agent
        missed in each of those sessions before any live delivery."""
        params = dict(op.params)
        cursors = params.pop("cursors")
        registration = await connection.register(**params)
        self.protocol.complete(op, registration)
        if not cursors:
            return
        agent_id = registration.passport.agent_id
        assert agent_id is not None
        self.protocol.hold(agent_id, cursors)
        try:
            for session_id, seq in cursors.items():
                try:
                    missed = await connection.missed(session_id, agent_id, seq)
                except NetworkError:
                    continue  # gone, or never joined: nothing to resend there
                for env in missed:
                    self.protocol.resend(agent_id, env)
                self._flush()
        finally:
            self.protocol.release(agent_id)

    def _call_now(self, op: Call) -> None:
        connection = self._connection
        try:
            if connection is None:
                raise ProtocolError("the connection is not open")
            self.protocol.complete(op, getattr(connection, op.name)(**op.params))
        except NetworkError as exc:
            self.protocol.fail(op, exc)
        except Exception as exc:
            log.exception("operation %s failed", op.name)
            self.protocol.fail(op, NetworkError(f"{op.name} failed in the hub: {exc}"))

    async def _subscribe(self, op: Subscribe) -> None:
        connection = self._connection
        try:
            if connection is None:
                raise ProtocolError("the connection is not open")
            observer = await connection.subscribe(
                op.request_id,
                session_id=op.session_id,
                event_types=op.event_types,
                since_envelope_id=op.since_envelope_id,
            )
        except NetworkError as exc:
            self.protocol.fail(op, exc)
            self._flush()
            return
        self.protocol.complete(op, None)  # the answer goes out before the backlog
        self._flush()
        await connection.backfill(observer, op.since_envelope_id)
        self._flush()

    async def _post_in_flight(self, op: Post) -> None:
        try:
            await self._post(op)
        finally:
            self.posts_in_flight -= 1
            if self.on_post_done is not None:
                self.on_post_done()

    async def _post(self, op: Post) -> None:
        connection = self._connection
        try:
            if connection is None:
                raise ProtocolError("the connection is not open")
            stamped = await connection.post(op.envelope)
            self.protocol.complete(op, stamped)
        except NetworkError as exc:
            self.protocol.fail(op, exc)
        except Exception as exc:
            log.exception("a post failed in the hub")
            self.protocol.fail(op, NetworkError(f"post failed in the hub: {exc}"))
        self._flush()

    # ------------------------------------------------------------------ output

    def _flush(self) -> None:
        for frame in self.protocol.data_to_send():
            if self._closed:
                return
            try:
                self._send(frame)
            except Exception:
                log.exception("sending a frame to the client failed")
                self._end()
                return

    def _end(self) -> None:
        self._flush()
        if self._closed:
            return
        self.connection_lost()
        result = self._close_transport()
        if inspect.isawaitable(result):
            self._spawn(_quietly(result))


_ASYNC: dict[str, bool] = {}


def _is_async(name: str) -> bool:
    """Whether the hub Connection's method for an operation is a coroutine function."""
    known = _ASYNC.get(name)
    if known is None:
        from hubbub.network.hub.connection import Connection

        known = _ASYNC[name] = inspect.iscoroutinefunction(getattr(Connection, name, None))
    return known


async def _quietly(awaitable: Any) -> None:
    try:
        await awaitable
    except Exception:
        log.debug("closing a transport failed", exc_info=True)
