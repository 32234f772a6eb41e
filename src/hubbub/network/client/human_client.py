"""HumanClient: a person in a session — no Agent, no model, no default handler.

Registered with :meth:`HubClient.register_human` (passport kind ``"human"``, so
``list_agents(kind="human")`` finds it). What it receives can be consumed three
ways, together or apart:

* **push** — ``on_envelope(cb)`` callbacks (several compose, run in order, sync
  or async; an exception is logged, never propagated);
* **pull** — ``await next_envelope(predicate=..., timeout=...)`` or
  ``async for env in human.envelopes()`` over one queue of everything delivered;
* **per session** — ``await wait_for_session_event(session_id=..., predicate=...)``.

Invites are acked on arrival (``auto_ack_invites=True``, the default) or left to
:meth:`HumanClient.accept_invite` / :meth:`HumanClient.reject_invite`.

**A listener never holds senders back.** The hub counts each delivered envelope
against the recipient's inbox (``Rule.limits.inbox.max_pending``) until its
client sends the receipt; an AgentClient sends it after its handler ran. A
HumanClient sends it as soon as the envelope is in its own memory: a person who
reads slowly, or only listens, must not make the agents' sends fail with
``inbox_full``. What the person has not read yet waits in this client's bounded
queues instead — the pull queue (:attr:`HumanClient.queue_size`), each session's
inbox (:attr:`HumanClient.inbox_size`) and the push backlog
(:attr:`HumanClient.push_backlog`) — each dropping its **oldest** envelope when
full and counting it in :attr:`HumanClient.dropped`. Nothing is lost for good:
the session's WAL (:meth:`HumanClient.read_wal`) holds every envelope.

``disconnect()`` ends every queue: consumers blocked on one wake up (iteration
stops, ``next_envelope`` / ``wait_for_session_event`` raise ``RuntimeError``)
once what was already queued has been taken.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from hubbub.network.client.agent_client import _check_session_id, _open_targets, _send_receipt
from hubbub.network.client.session import Session, _SessionRecord
from hubbub.network.envelope import (
    EV_SESSION_INVITE,
    EV_SESSION_INVITE_ACK,
    EV_SESSION_INVITE_REJECT,
    EV_TEXT,
    Envelope,
    is_protocol_event,
)
from hubbub.network.errors import AccessDeniedError, InvalidValueError, SessionTimeoutError
from hubbub.network.identity import Passport, Resume
from hubbub.network.ids import looks_like_id
from hubbub.network.rule import Rule
from hubbub.network.session import SessionMetadata
from hubbub.tools import is_cancellation

if TYPE_CHECKING:
    from hubbub.network.client.hub_client import HubClient
    from hubbub.network.transport.client import ClientConnection

__all__ = ["EnvelopeCallback", "HumanClient", "HumanDrops"]

log = logging.getLogger(__name__)

#: A push callback: called with each delivered envelope; may return an awaitable.
EnvelopeCallback = Callable[[Envelope], "Awaitable[None] | None"]
EnvelopePredicate = Callable[[Envelope], bool]

#: The close reason of a human's close when none is given.
HUMAN_CLOSED = "human_closed"

#: Envelopes the pull queue keeps by default (:attr:`HumanClient.queue_size`).
DEFAULT_QUEUE_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class HumanDrops:
    """Envelopes a HumanClient dropped (oldest first) because a queue was full."""

    pull: int = 0
    """From the pull queue (``next_envelope`` / ``envelopes()``)."""
    sessions: int = 0
    """From the per-session inboxes (``wait_for_session_event``)."""
    push: int = 0
    """From the backlog of the push callbacks."""

    @property
    def total(self) -> int:
        """All of them."""
        return self.pull + self.sessions + self.push


class _Waiter:
    __slots__ = ("future", "predicate")

    def __init__(
        self, predicate: EnvelopePredicate | None, future: asyncio.Future[Envelope | None]
    ) -> None:
        self.predicate = predicate
        self.future = future


class _Feed:
    """A bounded queue of envelopes with the consumers waiting on it.

    An arriving envelope goes to the first waiter whose predicate takes it, else
    into the buffer (the oldest is dropped, and counted, beyond ``limit``). A
    consumer first takes from the buffer, discarding what its predicate refuses.
    ``end()`` wakes every waiter with None (end of stream).
    """

    __slots__ = ("buffer", "dropped", "ended", "limit", "waiters")

    def __init__(self, limit: int) -> None:
        self.buffer: deque[Envelope] = deque()
        self.waiters: list[_Waiter] = []
        self.limit = limit
        self.dropped = 0
        self.ended = False

    def offer(self, envelope: Envelope) -> None:
        for waiter in self.waiters:
            if waiter.future.done():
                continue
            try:
                matched = waiter.predicate is None or waiter.predicate(envelope)
            except BaseException as exc:  # the consumer's predicate failed: its error
                waiter.future.set_exception(exc)
                continue
            if matched:
                waiter.future.set_result(envelope)
                return
        buffer = self.buffer
        buffer.append(envelope)
        while len(buffer) > max(self.limit, 0):
            buffer.popleft()
            self.dropped += 1

    def take(self, predicate: EnvelopePredicate | None) -> Envelope | None:
        buffer = self.buffer
        while buffer:
            envelope = buffer.popleft()
            if predicate is None or predicate(envelope):
                return envelope
        return None

    def end(self) -> None:
        self.ended = True
        for waiter in self.waiters:
            if not waiter.future.done():
                waiter.future.set_result(None)


class _HumanSession:
    """What a HumanClient keeps about one session: its state and its inbox."""

    __slots__ = ("inbox", "record")

    def __init__(self, session_id: str, inbox_size: int) -> None:
        self.record = _SessionRecord(session_id, inbox_size)
        self.inbox = _Feed(inbox_size)


class HumanClient:
    """A human participant: receives envelopes (push, pull, per session) and sends text.

    Built by :meth:`HubClient.register_human`; not constructed directly.

    Attributes:
        inbox_size: Envelopes each session's inbox keeps for ``wait_for_session_event``
            (sessions first seen after a change get the new size).
        push_backlog: Envelopes waiting for the push callbacks (oldest dropped first).
        retain_ended: How many ended sessions keep their inbox.
    """

    inbox_size = 256
    push_backlog = 10_000
    retain_ended = 256

    def __init__(
        self,
        *,
        passport: Passport,
        resume: Resume,
        rule: Rule,
        hub_client: HubClient,
        auto_ack_invites: bool = True,
    ) -> None:
        self._passport = passport
        self._resume = resume
        self._rule = rule
        self._hub_client = hub_client
        self._auto_ack = auto_ack_invites
        self._callbacks: list[EnvelopeCallback] = []
        self._queue = _Feed(DEFAULT_QUEUE_SIZE)
        self._sessions: dict[str, _HumanSession] = {}
        self._ended: OrderedDict[str, None] = OrderedDict()
        self._push: deque[Envelope] = deque()
        self._push_dropped = 0
        self._pusher: asyncio.Task[None] | None = None
        self._acks: set[asyncio.Task[None]] = set()
        self._closed = False

    def __repr__(self) -> str:
        return f"HumanClient({self._passport.name!r}, agent_id={self._passport.agent_id!r})"

    # -- properties ----------------------------------------------------------------------

    @property
    def passport(self) -> Passport:
        """The hub-stamped passport (kind ``"human"``)."""
        return self._passport

    @property
    def resume(self) -> Resume:
        """The resume as registered."""
        return self._resume

    @property
    def rule(self) -> Rule:
        """The rule as registered."""
        return self._rule

    @property
    def agent_id(self) -> str:
        """The hub-assigned id.

        Raises:
            RuntimeError: the passport was never stamped by a hub.
        """
        agent_id = self._passport.agent_id
        if not agent_id:
            raise RuntimeError("human has no hub-stamped agent_id (not registered)")
        return agent_id

    @property
    def hub_client(self) -> HubClient:
        """The HubClient this human is registered through."""
        return self._hub_client

    @property
    def connection(self) -> ClientConnection:
        """The protocol connection this human's calls go through.

        Raises:
            RuntimeError: the client is disconnected.
        """
        if self._closed:
            raise RuntimeError(f"human client {self._passport.name!r} is disconnected")
        return self._hub_client.connection

    @property
    def connected(self) -> bool:
        """False after ``disconnect``/``unregister``/``close``."""
        return not self._closed and self._hub_client.connected

    @property
    def auto_ack_invites(self) -> bool:
        """Whether invites are acked on arrival."""
        return self._auto_ack

    @property
    def queue_size(self) -> int:
        """Envelopes the pull queue keeps (oldest dropped first); settable."""
        return self._queue.limit

    @queue_size.setter
    def queue_size(self, size: int) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise InvalidValueError(
                f"HumanClient.queue_size must be a non-negative integer, got {size!r}"
            )
        self._queue.limit = size

    @property
    def dropped(self) -> HumanDrops:
        """Envelopes dropped so far because a queue was full (see the module doc)."""
        return HumanDrops(
            pull=self._queue.dropped,
            sessions=sum(s.inbox.dropped for s in self._sessions.values()),
            push=self._push_dropped,
        )

    # -- push ----------------------------------------------------------------------------

    def on_envelope(self, callback: EnvelopeCallback) -> EnvelopeCallback:
        """Add a push callback (after those already added); usable as a decorator.

        Each delivered envelope is given to every callback, in the order they were
        added, one envelope after the other. A callback may be a plain function or
        return an awaitable (an ``async def``), which is awaited before the next.
        What a callback raises is logged.

        Raises:
            InvalidValueError: ``callback`` is not callable.
        """
        if not callable(callback):
            raise InvalidValueError(f"on_envelope(callback=...) must be callable, got {callback!r}")
        self._callbacks.append(callback)
        return callback

    def remove_envelope_callback(self, callback: EnvelopeCallback) -> None:
        """Remove a push callback (one that was never added is ignored)."""
        try:
            self._callbacks.remove(callback)
        except ValueError:
            pass

    # -- pull ----------------------------------------------------------------------------

    async def next_envelope(
        self,
        *,
        predicate: EnvelopePredicate | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - public API (spec §19)
    ) -> Envelope:
        """The next delivered envelope (matching ``predicate``) from the pull queue.

        Queued envelopes the predicate refuses are discarded.

        Raises:
            SessionTimeoutError: nothing matched within ``timeout`` seconds (also a
                ``TimeoutError``).
            RuntimeError: the client is disconnected and the queue holds no match.
            InvalidValueError: a bad ``predicate`` or ``timeout``.
        """
        _check_wait("next_envelope", predicate, timeout, optional=True)
        return await self._wait(self._queue, predicate, timeout, "the pull queue")

    async def envelopes(self) -> AsyncIterator[Envelope]:
        """Every delivered envelope, in order, until the client disconnects."""
        while True:
            try:
                envelope = await self._wait(self._queue, None, None, "the pull queue")
            except RuntimeError:
                return
            yield envelope

    async def wait_for_session_event(
        self,
        *,
        session_id: str,
        predicate: EnvelopePredicate,
        timeout: float | None = 300.0,  # noqa: ASYNC109 - public API (spec §19)
    ) -> Envelope:
        """The next envelope of one session matching ``predicate`` (its inbox is consumed:
        queued envelopes that do not match are discarded; ones delivered before the
        call are found).

        Raises:
            SessionTimeoutError: nothing matched within ``timeout`` seconds.
            RuntimeError: the client is disconnected and the inbox holds no match.
            InvalidValueError: a bad ``session_id``, ``predicate`` or ``timeout``.
        """
        _check_session_id("wait_for_session_event", session_id)
        _check_wait("wait_for_session_event", predicate, timeout, optional=False)
        inbox = self._session(session_id).inbox
        return await self._wait(inbox, predicate, timeout, f"session {session_id}")

    async def _wait(
        self,
        feed: _Feed,
        predicate: EnvelopePredicate | None,
        seconds: float | None,
        where: str,
    ) -> Envelope:
        found = feed.take(predicate)
        if found is not None:
            return found
        if self._closed or feed.ended:
            raise RuntimeError(f"human client {self._passport.name!r} is disconnected")
        waiter = _Waiter(predicate, asyncio.get_running_loop().create_future())
        feed.waiters.append(waiter)
        try:
            result = await asyncio.wait_for(waiter.future, seconds)
        except TimeoutError as exc:
            if not waiter.future.cancelled():
                raise  # the predicate itself raised a TimeoutError
            raise SessionTimeoutError(
                f"human {self._passport.name!r}: no envelope from {where} matched "
                f"within {seconds:g} s"
            ) from exc
        finally:
            feed.waiters.remove(waiter)
        if result is None:
            raise RuntimeError(f"human client {self._passport.name!r} disconnected")
        return result

    # -- sending -------------------------------------------------------------------------

    async def send(
        self,
        session_id: str,
        text: str,
        *,
        audience: list[str] | None = None,
        causation_id: str | None = None,
    ) -> str:
        """Say ``text`` in a session; returns the envelope id.

        Args:
            session_id: The session.
            text: What the person says (an ``EV_TEXT``).
            audience: Recipients by agent id or name (None: every other participant).
            causation_id: The envelope this answers.

        Raises:
            InvalidValueError: a bad argument (named).
            ProtocolError, AccessDeniedError: the hub refused the envelope.
        """
        _check_session_id("send", session_id)
        if not isinstance(text, str):
            raise InvalidValueError(f"send(text=...) must be a string, got {text!r:.100}")
        ids = None if audience is None else await self._audience(audience)
        envelope = Envelope(
            session_id=session_id,
            sender_id=self.agent_id,
            audience=ids,
            event_type=EV_TEXT,
            event_data={"text": text},
            causation_id=causation_id,
        )
        return await self.post_envelope(envelope)

    async def _audience(self, audience: object) -> list[str]:
        if not isinstance(audience, list | tuple) or not all(
            isinstance(a, str) and a for a in audience
        ):
            raise InvalidValueError(
                f"send(audience=...) must be a list of agent ids or names, got {audience!r:.100}"
            )
        out = []
        for entry in audience:
            if looks_like_id(entry):
                out.append(entry)
            else:
                passport = await self._hub_client.get_agent(entry)
                out.append(passport.agent_id or entry)
        return out

    async def post_envelope(self, envelope: Envelope) -> str:
        """Post any envelope as this human (a blank ``sender_id`` is filled); return its id.

        Raises:
            RuntimeError: the client is disconnected.
            AccessDeniedError: ``sender_id`` names someone else.
            ProtocolError: the session refused the envelope.
        """
        return (await self.post(envelope)).envelope_id

    async def send_envelope(self, envelope: Envelope) -> str:
        """Alias of :meth:`post_envelope`."""
        return await self.post_envelope(envelope)

    async def post(self, envelope: Envelope) -> Envelope:
        """Like :meth:`post_envelope` but return the stamped, admitted envelope."""
        if not isinstance(envelope, Envelope):
            raise InvalidValueError(
                f"post_envelope(envelope=...) must be an Envelope, got {type(envelope).__name__}"
            )
        conn = self.connection
        me = self.agent_id
        if not envelope.sender_id:
            envelope.sender_id = me
        elif envelope.sender_id != me:
            raise AccessDeniedError(f"human {me} cannot post as {envelope.sender_id}")
        return await conn.post(envelope)

    async def accept_invite(self, invite: Envelope) -> str:
        """Ack an invite (what ``auto_ack_invites`` does on arrival); returns the ack's id."""
        return await self.post_envelope(_answer(invite, self.agent_id, EV_SESSION_INVITE_ACK))

    async def reject_invite(self, invite: Envelope, reason: str = "") -> str:
        """Refuse an invite: the session does not open (``invite_rejected``)."""
        answer = _answer(invite, self.agent_id, EV_SESSION_INVITE_REJECT)
        if reason:
            answer.event_data["reason"] = reason
        return await self.post_envelope(answer)

    def receive_chunk(self, *args: Any, **kwargs: Any) -> None:
        """The streaming hook of the client protocol: a human takes whole envelopes only."""

    # -- sessions ------------------------------------------------------------------------

    async def open(
        self,
        *,
        type: str,
        target: str | list[str],
        ttl: str | int | None = None,
        knobs: dict[str, Any] | None = None,
        intent: str | None = None,
        labels: dict[str, str] | None = None,
        wait_online: float | None = None,
    ) -> Session:
        """Create a session with ``target`` (names or ids) and return it once ACTIVE.

        Raises:
            RuntimeError: the client is disconnected.
            InvalidValueError: an argument has the wrong type (the message names it).
            NotFoundError: a target or the session type is unknown.
            ProtocolError: a target is offline (``agent_offline``), or did not ack.
        """
        targets = _open_targets(type, target, ttl, knobs, intent, labels)
        ids = []
        for t in targets:
            passport = await self._hub_client.get_agent(t)
            ids.append(passport.agent_id or t)
        meta: SessionMetadata = await self.connection.call(
            "create_session",
            creator_id=self.agent_id,
            manifest_type=type,
            participants=ids,
            ttl=ttl,
            knobs=knobs,
            intent=intent,
            labels=labels,
            wait_online=wait_online,
        )
        return self._handle(self._adopt(meta))

    async def session(self, session_id: str) -> Session:
        """The handle of a session this human participates in (e.g. one it was invited to)."""
        _check_session_id("session", session_id)
        return self._handle(self._adopt(await self._fetch(session_id)))

    async def get_session(self, session_id: str) -> SessionMetadata:
        """Fresh metadata of a session this human participates in."""
        _check_session_id("get_session", session_id)
        meta = await self._fetch(session_id)
        self._adopt(meta)
        return meta

    async def _fetch(self, session_id: str) -> SessionMetadata:
        return await self.connection.get_session(session_id, caller_id=self.agent_id)

    async def close_session(self, session_id: str, reason: str = HUMAN_CLOSED) -> SessionMetadata:
        """Close a session this human participates in (reason "" → ``human_closed``)."""
        _check_session_id("close_session", session_id)
        if not isinstance(reason, str):
            raise InvalidValueError(f"close_session(reason=...) must be a string, got {reason!r}")
        meta: SessionMetadata = await self.connection.call(
            "close_session",
            session_id=session_id,
            caller_id=self.agent_id,
            reason=reason or HUMAN_CLOSED,
        )
        self._adopt(meta)
        return meta

    async def list_sessions(
        self, *, include_terminal: bool = False, limit: int = 50
    ) -> list[SessionMetadata]:
        """Sessions this human participates in (live ones unless ``include_terminal``)."""
        metas: list[SessionMetadata] = await self.connection.call(
            "list_sessions", caller_id=self.agent_id, include_terminal=include_terminal, limit=limit
        )
        return metas

    async def read_wal(
        self, session_id: str, *, since: int = 0, until: int | None = None
    ) -> list[Envelope]:
        """The session's envelopes this human may see (the whole record, nothing dropped)."""
        _check_session_id("read_wal", session_id)
        return await self.connection.read_wal(
            session_id, caller_id=self.agent_id, since=since, until=until
        )

    # -- lifecycle -----------------------------------------------------------------------

    async def unregister(self) -> None:
        """Remove this human from the hub and disconnect this client."""
        await self._hub_client.unregister(self.agent_id)

    async def close(self) -> None:
        """Unregister and disconnect (the HubClient stays open)."""
        if not self._closed and self._hub_client.connected:
            await self.unregister()
        await self.disconnect()

    async def disconnect(self) -> None:
        """Stop receiving and end every queue so blocked consumers wake (idempotent).

        What is already queued can still be taken; then the consumers end
        (``envelopes()`` stops, ``next_envelope`` / ``wait_for_session_event`` raise
        ``RuntimeError``).
        """
        if self._closed:
            return
        self._closed = True
        self._queue.end()
        for state in self._sessions.values():
            state.inbox.end()
        current = asyncio.current_task()
        tasks = [t for t in (self._pusher, *self._acks) if t is not None and t is not current]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._push.clear()

    async def __aenter__(self) -> HumanClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- delivery (called by the HubClient's receive loop; never blocks) -----------------

    async def receive(self, envelope: Envelope) -> None:
        """Take one delivered envelope (the client protocol's entry point; see ``_deliver``)."""
        self._deliver(envelope)

    def _deliver(self, envelope: Envelope, probe: dict[str, Any] | None = None) -> None:
        """Receipt it, ack an invite, then queue it: session inbox, pull queue, push.

        After ``disconnect`` an envelope is only receipted: a person who left without
        unregistering still never fills the hub's inbox count.
        """
        # in this client's memory: the hub's inbox slot is free
        _send_receipt(self._hub_client, self.agent_id, envelope)
        if self._closed:
            return
        if envelope.event_type == EV_SESSION_INVITE and self._auto_ack:
            task = asyncio.get_running_loop().create_task(self._ack(envelope))
            self._acks.add(task)
            task.add_done_callback(self._acks.discard)
        state = self._session(envelope.session_id)
        if is_protocol_event(envelope.event_type) and state.record.observe(envelope):
            self._ended_now(envelope.session_id)
        state.inbox.offer(envelope)
        self._queue.offer(envelope)
        if self._callbacks:
            push = self._push
            push.append(envelope)
            while len(push) > max(self.push_backlog, 0):
                push.popleft()
                self._push_dropped += 1
            if self._pusher is None:
                self._pusher = asyncio.get_running_loop().create_task(
                    self._run_callbacks(), name=f"hubbub-human-{self._passport.name[:16]}"
                )

    async def _ack(self, invite: Envelope) -> None:
        try:
            await self.accept_invite(invite)
        except Exception:
            log.warning(
                "human %s could not ack the invite to session %s",
                self._passport.name,
                invite.session_id,
                exc_info=True,
            )

    async def _run_callbacks(self) -> None:
        push = self._push
        try:
            while push:
                envelope = push.popleft()
                for callback in list(self._callbacks):
                    try:
                        result = callback(envelope)
                        if inspect.isawaitable(result):
                            await result
                    except BaseException as exc:
                        if is_cancellation(exc):
                            raise
                        log.error(
                            "a push callback of human %s failed on envelope %s",
                            self._passport.name,
                            envelope.envelope_id,
                            exc_info=exc,
                        )
        finally:
            self._pusher = None

    # -- records -------------------------------------------------------------------------

    def _session(self, session_id: str) -> _HumanSession:
        state = self._sessions.get(session_id)
        if state is None:
            state = self._sessions[session_id] = _HumanSession(session_id, self.inbox_size)
            if self._closed:
                state.inbox.end()
        return state

    def _adopt(self, metadata: SessionMetadata) -> _SessionRecord:
        record = self._session(metadata.session_id).record
        was_terminal = record.terminal
        record.adopt(metadata.copy())
        if record.terminal and not was_terminal:
            self._ended_now(metadata.session_id)
        return record

    def _ended_now(self, session_id: str) -> None:
        """Keep a bounded number of ended sessions (their inbox stays for waiters)."""
        ended = self._ended
        ended[session_id] = None
        while len(ended) > self.retain_ended:
            old, _ = ended.popitem(last=False)
            state = self._sessions.get(old)
            if state is not None and state.record.terminal and not state.inbox.waiters:
                del self._sessions[old]

    def _handle(self, record: _SessionRecord) -> Session:
        handle = record.handle
        if handle is None:
            assert record.metadata is not None
            handle = record.handle = Session(metadata=record.metadata, client=self, _record=record)
        return handle


def _answer(invite: Envelope, me: str, event_type: str) -> Envelope:
    if not isinstance(invite, Envelope) or invite.event_type != EV_SESSION_INVITE:
        raise InvalidValueError(
            f"expected an {EV_SESSION_INVITE} envelope, got {getattr(invite, 'event_type', invite)!r:.100}"
        )
    session_id = invite.event_data.get("session_id") or invite.session_id
    return Envelope(
        session_id=invite.session_id,
        sender_id=me,
        audience=None,
        event_type=event_type,
        event_data={"session_id": session_id},
        causation_id=invite.envelope_id,
    )


def _check_wait(method: str, predicate: object, timeout: object, *, optional: bool) -> None:
    if not (callable(predicate) or (optional and predicate is None)):
        raise InvalidValueError(
            f"{method}(predicate=...) must be callable{' or None' if optional else ''}, "
            f"got {predicate!r:.100}"
        )
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout >= 0
    ):
        raise InvalidValueError(
            f"{method}(timeout=...) must be a non-negative number of seconds or None, "
            f"got {timeout!r:.100}"
        )
