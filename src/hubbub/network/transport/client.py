"""ClientConnection: drives one connection's ClientProtocol over a link.

The HubClient (and anything else that talks to a hub: raw test peers, the CLI,
the inspector) holds one ``ClientConnection``. Every call is a frame: a
control-plane call is a request awaiting its response, a post is a send awaiting
its accept or error, and each awaits only its own answer, so many calls are in
flight at once on one connection. Deliveries (notify frames) go to
``on_delivery(recipient_id, envelope)`` — or, without that callback, to
:meth:`deliveries`.

The link under it is any object with ``credential()``, ``connect(on_frame,
on_lost)``, ``send_frame(frame)`` and ``close()`` (see
:class:`~hubbub.network.transport.link.LinkClient`): ``LocalLink`` passes frame
objects in-process, the WebSocket link encodes them.

**Reconnecting.** Given ``reconnect`` (a factory of new link clients), a connection
that drops — the socket cut, the hub restarting (goodbye ``hub_shutdown``), the hub
dropping a slow reader (``slow_consumer``) — is opened again with backoff for up to
``reconnect_for`` seconds (0.05 s doubling to 2 s between attempts; a connection that
drops again within a second of coming back keeps backing off). Calls made meanwhile wait for it. On the new connection
every agent registered before is registered again (same principal, so the same
agent id) with the **cursors** of what it already received; the hub resends what it
missed from the WAL before any live delivery, and the protocol drops anything at or
below a cursor, so each envelope arrives exactly once and in order. Sends whose
answer was lost are sent again with their idempotency keys: the hub writes each
once; read-only calls in flight are asked again; other control-plane calls in
flight at the drop fail with ``connection_lost``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Any

from hubbub.network.envelope import Envelope
from hubbub.network.errors import NetworkError, ProtocolError
from hubbub.network.identity import Passport, Resume
from hubbub.network.ids import make_id
from hubbub.network.protocol.client import (
    Answered,
    ClientProtocol,
    Delivered,
    Ended,
    Event,
    Failed,
    Observed,
    Welcomed,
)
from hubbub.network.protocol.frames import Frame
from hubbub.network.protocol.ops import Registered
from hubbub.network.rule import Rule
from hubbub.network.session import SessionMetadata
from hubbub.network.transport.link import LinkClient

__all__ = ["ClientConnection"]

log = logging.getLogger(__name__)

#: ``(recipient_id, envelope, probe)``: probe is the hub's turn probe as of it, or None.
DeliveryCallback = Callable[[str, Envelope, "dict[str, Any] | None"], None]


class ClientConnection:
    """One connection to a hub, speaking the protocol over ``link`` (see the module docstring).

    Args:
        link: the link client (``LocalLink(hub).client()``, ``WsLink(url).client()``).
        on_delivery: called with ``(recipient_id, envelope)`` for each delivery; without
            it deliveries queue for :meth:`deliveries`.
        on_end: called once with the error when the hub ends the connection or the
            link drops (not after :meth:`close`).
        name: a label the hub logs for this connection.
    """

    def __init__(
        self,
        link: LinkClient,
        *,
        on_delivery: DeliveryCallback | None = None,
        on_end: Callable[[NetworkError], None] | None = None,
        name: str = "",
        reconnect: Callable[[], LinkClient] | None = None,
        reconnect_for: float = 60.0,
    ) -> None:
        self.link = link
        # Links that reconnect resend unanswered envelopes: those carry idempotency keys.
        self.protocol = ClientProtocol(key_prefix=make_id()[-12:], keys=reconnect is not None)
        self._on_delivery = on_delivery
        self._on_end = on_end
        self._name = name
        self._new_link = reconnect
        self._reconnect_for = reconnect_for
        self._waiting: dict[str, asyncio.Future[Any]] = {}
        self._welcome: asyncio.Future[Welcomed] | None = None
        self._queue: asyncio.Queue[tuple[str, Envelope] | None] | None = None
        if on_delivery is None:
            self._queue = asyncio.Queue()
        self._registrations: dict[str, dict[str, Any]] = {}  # agent id → register params
        self._observers: dict[str, _Subscription] = {}  # subscription id → what it asked
        self._reconnecting: asyncio.Task[None] | None = None
        self._generation = 0  # which link the callbacks belong to (old links are ignored)
        self._open = False
        self._closed = False
        self.end_error: NetworkError | None = None
        self.reconnects = 0
        # A connection that drops again soon after a reconnect keeps the backoff going
        # (a hub that accepts and then closes must not see a reconnect storm).
        self._restored_at: float | None = None
        self._delay = _FIRST_DELAY

    # ------------------------------------------------------------------ lifecycle

    @property
    def connected(self) -> bool:
        """True while the connection is open (not while it reconnects, not after it ended)."""
        return (
            self._open
            and not self._closed
            and self.end_error is None
            and self._reconnecting is None
        )

    @property
    def principal(self) -> str:
        """Who the hub authenticated this connection as."""
        return self.protocol.principal

    @property
    def endpoint_id(self) -> str:
        """The hub's id of this connection."""
        return self.protocol.endpoint_id

    async def open(self) -> None:
        """Connect the link, say hello with its credential, wait for the welcome.

        Raises:
            NetworkError: the hub refused the hello (``unauthenticated``, ...) or the
                link closed first (``connection_lost``).
        """
        if self._open:
            return
        await self._connect(self.link)
        self._open = True

    async def _connect(self, link: LinkClient) -> None:
        self._generation += 1
        generation = self._generation
        self._welcome = asyncio.get_running_loop().create_future()
        await link.connect(partial(self._on_frame, generation), partial(self._on_lost, generation))
        self.link = link
        scheme, claim = link.credential()
        self.protocol.hello(scheme, claim, self._name)
        self._flush()
        try:
            await self._welcome
        except BaseException:
            await link.close()
            raise

    async def close(self) -> None:
        """Say goodbye and close the link (idempotent); pending calls fail."""
        if self._closed:
            return
        self._closed = True
        if self._reconnecting is not None:
            self._reconnecting.cancel()
            await asyncio.gather(self._reconnecting, return_exceptions=True)
            self._reconnecting = None
        elif self.end_error is None and self._open:
            self.protocol.goodbye("client closing")
            self._flush()
        self._fail_pending(ProtocolError("the connection was closed", code="connection_lost"))
        try:
            await self.link.close()
        finally:
            if self._queue is not None:
                self._queue.put_nowait(None)

    async def deliveries(self) -> AsyncIterator[tuple[str, Envelope]]:
        """``(recipient_id, envelope)`` pairs, until the connection ends (no ``on_delivery``)."""
        if self._queue is None:
            raise RuntimeError("deliveries() needs a ClientConnection without on_delivery")
        while True:
            item = await self._queue.get()
            if item is None:
                return
            yield item

    # ------------------------------------------------------------------ calls

    async def call(self, op: str, **params: Any) -> Any:
        """Run one control-plane operation and return its decoded result.

        Raises:
            NetworkError: the hub refused or failed it (its code kept), or the
                connection ended first (``connection_lost``).
        """
        await self._usable()
        rid = self.protocol.request(op, params)
        result = await self._await(rid)
        if op == "register":
            agent_id = result.passport.agent_id
            self._registrations[agent_id] = {k: v for k, v in params.items() if k != "cursors"}
        elif op == "unregister":
            self._registrations.pop(str(params.get("agent_id")), None)
        return result

    async def post(self, envelope: Envelope) -> Envelope:
        """Send an envelope; return it as the hub stamped it (id, sequence, time).

        Raises:
            NetworkError: the hub refused it (its code kept), or the connection
                ended before the answer (``connection_lost``).
        """
        await self._usable()
        rid = self.protocol.send(envelope)
        envelope_id, sequence, created_at = await self._await(rid)
        return envelope.stamped(envelope_id, sequence, created_at)

    async def subscribe(
        self,
        callback: Callable[[Envelope], None],
        *,
        session_id: str | None = None,
        event_types: list[str] | None = None,
        since_envelope_id: str | None = None,
    ) -> str:
        """Observe envelopes as the hub makes them durable; returns the subscription id.

        ``callback(envelope)`` gets each one, in WAL order: those of ``session_id``
        (the operator may pass None: every session), only ``event_types`` if given,
        first what the WAL holds after ``since_envelope_id`` ("" = from the start).
        A participant's connection sees what its agents may see. After a reconnect
        the subscription continues after the last envelope it reported.

        Raises:
            AccessDeniedError: no agent of this connection participates (not operator).
            NotFoundError: unknown session.
        """
        await self._usable()
        sub = _Subscription(callback, session_id, event_types, since_envelope_id)
        rid = self.protocol.subscribe(
            session_id=session_id, event_types=event_types, since_envelope_id=since_envelope_id
        )
        self._observers[rid] = sub
        try:
            await self._await(rid)
        except BaseException:
            self._observers.pop(rid, None)
            raise
        return rid

    def unsubscribe(self, subscription_id: str) -> None:
        """Stop a subscription."""
        if self._observers.pop(subscription_id, None) is not None and self.connected:
            self.protocol.unsubscribe(subscription_id)
            self._flush()

    def receipt(self, recipient_id: str, envelope: Envelope) -> None:
        """Tell the hub an agent finished handling ``envelope`` (fire and forget)."""
        if self.connected:
            self.protocol.receipt(recipient_id, envelope)
            self._flush()

    async def register(
        self,
        passport: Passport,
        resume: Resume | None = None,
        *,
        skill_md: str | None = None,
        rule: Rule | None = None,
    ) -> Registered:
        """Register an agent as this connection's principal (or take its name back)."""
        result: Registered = await self.call(
            "register", passport=passport, resume=resume, skill_md=skill_md, rule=rule
        )
        return result

    async def get_session(self, session_id: str, *, caller_id: str) -> SessionMetadata:
        """A session's metadata, for a participant."""
        meta: SessionMetadata = await self.call(
            "get_session", session_id=session_id, caller_id=caller_id
        )
        return meta

    async def read_wal(
        self, session_id: str, *, caller_id: str, since: int = 0, until: int | None = None
    ) -> list[Envelope]:
        """The part of a session's WAL the caller may see."""
        wal: list[Envelope] = await self.call(
            "read_wal", session_id=session_id, caller_id=caller_id, since=since, until=until
        )
        return wal

    # ------------------------------------------------------------------ plumbing

    async def _usable(self) -> None:
        if self._reconnecting is not None and not self._closed:
            await asyncio.shield(self._reconnecting)  # a call made meanwhile waits for it
        if self._closed:
            raise ProtocolError("the connection is closed", code="connection_lost")
        if self.end_error is not None:
            raise self.end_error

    async def _await(self, rid: str) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[rid] = future
        run_frames = getattr(self.link, "run_frames", None)
        if run_frames is None:
            self._flush()
        else:  # in-process: the hub runs the operation in this task
            try:
                await run_frames(self.protocol.data_to_send())
            except NetworkError as exc:
                self._on_lost(self._generation, exc)
        return await future

    def _flush(self) -> None:
        for frame in self.protocol.data_to_send():
            try:
                self.link.send_frame(frame)
            except NetworkError as exc:
                if exc.code != "frame_too_large":
                    log.debug("sending a frame failed", exc_info=True)
                    self._on_lost(self._generation, exc)
                    return
                # Not sent, and never to be sent again: its caller gets the error.
                for event in self.protocol.refuse(getattr(frame, "request_id", ""), exc):
                    self._handle(event)
            except Exception as exc:
                log.debug("sending a frame failed", exc_info=True)
                self._on_lost(self._generation, exc)
                return

    def _on_frame(self, generation: int, frame: Frame) -> None:
        if generation != self._generation:
            return  # a frame from a link given up on
        try:
            events = self.protocol.receive(frame)
        except Exception:
            log.exception("a frame from the hub could not be handled")
            return
        for event in events:
            self._handle(event)
        self._flush()

    def _handle(self, event: Event) -> None:
        if isinstance(event, Answered):
            future = self._waiting.pop(event.request_id, None)
            if future is not None and not future.done():
                future.set_result(event.result)
        elif isinstance(event, Failed):
            future = self._waiting.pop(event.request_id, None)
            if future is not None and not future.done():
                future.set_exception(event.error)
        elif isinstance(event, Delivered):
            self._delivered(event.recipient_id, event.envelope, event.probe)
        elif isinstance(event, Observed):
            sub = self._observers.get(event.subscription_id)
            if sub is not None:
                sub.last = event.envelope.envelope_id or sub.last
                try:
                    sub.callback(event.envelope)
                except Exception:
                    log.exception("a subscription callback failed")
        elif isinstance(event, Welcomed):
            apply_limits = getattr(self.link, "apply_limits", None)
            if apply_limits is not None:
                apply_limits(event.limits)
            if self._welcome is not None and not self._welcome.done():
                self._welcome.set_result(event)
        elif isinstance(event, Ended):
            self._lost(event.error)

    def _delivered(
        self, recipient_id: str, envelope: Envelope, probe: dict[str, Any] | None
    ) -> None:
        if self._on_delivery is not None:
            try:
                self._on_delivery(recipient_id, envelope, probe)
            except Exception:
                log.exception("delivering envelope %s failed", envelope.envelope_id)
        elif self._queue is not None:
            self._queue.put_nowait((recipient_id, envelope))

    def _on_lost(self, generation: int, exc: BaseException | None) -> None:
        if generation != self._generation or self._closed or self.end_error is not None:
            return
        message = "the link to the hub closed" + (f": {exc}" if exc else "")
        self._lost(ProtocolError(message, code="connection_lost"))

    def _lost(self, error: NetworkError) -> None:
        """The connection dropped: reconnect if this client can, else it has ended."""
        if self._new_link is None or not self._open or error.code not in _RECONNECTABLE:
            self._ended(error)
            return
        self._generation += 1  # nothing more is taken from the lost link
        for failed in self.protocol.connection_lost(keep_sends=True):
            future = self._waiting.pop(failed.request_id, None)
            if future is not None and not future.done():
                future.set_exception(error)
                future.exception()
        if self._welcome is not None and not self._welcome.done():
            self._welcome.set_exception(error)
            self._welcome.exception()
        if self._reconnecting is None:
            log.info("connection to the hub lost (%s): reconnecting", error)
            self._reconnecting = asyncio.get_running_loop().create_task(
                self._reconnect(error), name="hubbub-reconnect"
            )

    async def _reconnect(self, cause: NetworkError) -> None:
        """Open a new link with backoff, then restore the agents and resend (module doc)."""
        assert self._new_link is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._reconnect_for
        last = cause
        if self._restored_at is not None and loop.time() - self._restored_at < _STABLE_AFTER:
            delay = self._delay  # the last reconnect did not hold: wait before trying again
            await asyncio.sleep(delay)
            delay = min(delay * 2, _MAX_DELAY)
        else:
            delay = _FIRST_DELAY
        while not self._closed:
            link = self._new_link()
            try:
                await self._connect(link)
                await self._restore()
            except NetworkError as exc:
                last = exc
                with contextlib.suppress(Exception):
                    await link.close()
                if exc.code == "unauthenticated":
                    break
            else:
                self.reconnects += 1
                self._restored_at, self._delay = loop.time(), delay
                self._reconnecting = None
                log.info("reconnected to the hub (%d agent(s) resumed)", len(self._registrations))
                return
            if loop.time() + delay > deadline:
                break
            await asyncio.sleep(delay)
            delay = min(delay * 2, _MAX_DELAY)
        self._reconnecting = None
        self._ended(last)

    async def _restore(self) -> None:
        for agent_id, params in list(self._registrations.items()):
            cursors = self.protocol.resume_cursors(agent_id)
            rid = self.protocol.request("register", {**params, "cursors": cursors})
            await self._await(rid)
        self.protocol.resend()
        self._flush()
        for old_id, sub in list(self._observers.items()):
            since = sub.last if sub.last is not None else sub.since_envelope_id
            rid = self.protocol.subscribe(
                session_id=sub.session_id, event_types=sub.event_types, since_envelope_id=since
            )
            del self._observers[old_id]
            self._observers[rid] = sub
            await self._await(rid)

    def _ended(self, error: NetworkError) -> None:
        """The connection is over for good: every call waiting fails with ``error``."""
        if self.end_error is not None or self._closed:
            return
        self.end_error = error
        self.protocol.connection_lost()
        self._fail_pending(error)
        if self._welcome is not None and not self._welcome.done():
            self._welcome.set_exception(error)
        if self._queue is not None:
            self._queue.put_nowait(None)
        if self._on_end is not None:
            try:
                self._on_end(error)
            except Exception:
                log.exception("on_end callback failed")

    def _fail_pending(self, error: NetworkError) -> None:
        waiting, self._waiting = self._waiting, {}
        for future in waiting.values():
            if not future.done():
                future.set_exception(error)
                future.exception()  # retrieved: a caller that went away must not warn


_FIRST_DELAY = 0.05  # seconds before the second reconnect attempt; doubles each time
_MAX_DELAY = 2.0
_STABLE_AFTER = 1.0  # a connection that lasted this long resets the backoff


class _Subscription:
    """What a subscription asked for, and the last envelope it reported (to resume)."""

    __slots__ = ("callback", "event_types", "last", "session_id", "since_envelope_id")

    def __init__(
        self,
        callback: Callable[[Envelope], None],
        session_id: str | None,
        event_types: list[str] | None,
        since_envelope_id: str | None,
    ) -> None:
        self.callback = callback
        self.session_id = session_id
        self.event_types = event_types
        self.since_envelope_id = since_envelope_id
        self.last: str | None = None


#: Why a connection may end and be opened again (a refused credential is final).
_RECONNECTABLE = frozenset({"connection_lost", "hub_shutdown", "slow_consumer"})
