"""AgentClient: one registered agent's view of the network.

Delivered envelopes are processed **concurrently across sessions and strictly in
order within a session**: each session with work gets one worker task, created on
demand and retired as soon as its queue is empty, so a slow turn in one session never
delays another (and a handler may wait on a second session without deadlocking).
Every delivered envelope also lands in the session's bounded inbox, which
``wait_for_session_event`` consumes; per-session state is dropped soon after the
session ends.

**A turn contains everything it raises.** A handler (the default one or a custom one)
raising any ``BaseException`` — ``SystemExit`` and ``KeyboardInterrupt`` included — is
logged and the session's worker goes on with the next envelope; only a real cancellation
of the worker (the client disconnecting) propagates. The default handler also tells the
session's other participants (:meth:`AgentClient.fail_turn`) and bounds every model turn
by :attr:`AgentClient.turn_timeout` (default :data:`DEFAULT_TURN_TIMEOUT`, 300 s).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from hubbub.network.client.deadlines import TurnDeadlines
from hubbub.network.client.handlers import (
    default_handler,
    turn_failure_data,
)
from hubbub.network.client.intercept import intercept_post
from hubbub.network.client.session import Predicate, Session, _SessionRecord, _Waiter
from hubbub.network.envelope import EV_TURN_FAILED, Envelope, is_protocol_event
from hubbub.network.errors import AccessDeniedError, InvalidValueError, SessionTimeoutError
from hubbub.network.identity import Passport, Resume, ResumeExample
from hubbub.network.rule import Rule
from hubbub.network.session import SessionMetadata
from hubbub.task import TaskMetadata, TaskState
from hubbub.tools import is_cancellation

if TYPE_CHECKING:
    from hubbub.agent import Agent
    from hubbub.network.adapters.base import SessionAdapter
    from hubbub.network.client.hub_client import HubClient
    from hubbub.network.client.plugin import NetworkPlugin
    from hubbub.network.transport.client import ClientConnection

__all__ = ["DEFAULT_TURN_TIMEOUT", "AgentClient", "EnvelopeHandler"]

log = logging.getLogger(__name__)

EnvelopeHandler = Callable[[Envelope], Awaitable[None]]

DEFAULT_TURN_TIMEOUT = 300.0
"""Seconds one model turn of the default handler may take before it fails with ``timeout``."""


class _Handling:
    """What the current task is handling: whose envelope, and where its turn spoke."""

    __slots__ = ("client", "envelope", "said_in")

    def __init__(self, client: AgentClient, envelope: Envelope) -> None:
        self.client = client
        self.envelope = envelope
        self.said_in: set[str] | None = None  # sessions a ``say`` of this turn posted into


_HANDLING: contextvars.ContextVar[_Handling | None] = contextvars.ContextVar(
    "hubbub_handling", default=None
)


class AgentClient:
    """A registered agent: open sessions, send, wait for events, run the notify handler.

    Built by :meth:`HubClient.register`; not constructed directly.

    Attributes:
        inbox_size: Envelopes kept per session for ``wait_for_session_event``
            (oldest dropped first).
        retain_ended: How many ended sessions keep the tail of their inbox (so a
            close that arrived before the wait is still found).
        ended_tail: How many of an ended session's last envelopes are kept.
        turn_timeout: Seconds a default-handler turn (``agent.ask``) may take; see the
            property. Set it per client: ``client.turn_timeout = 30``.
    """

    inbox_size = 64
    retain_ended = 256
    ended_tail = 8
    _turn_timeout: float | None = DEFAULT_TURN_TIMEOUT

    def __init__(
        self,
        *,
        agent: Agent,
        passport: Passport,
        resume: Resume,
        rule: Rule,
        hub_client: HubClient,
        attach_default_handler: bool = True,
    ) -> None:
        self._agent = agent
        self._passport = passport
        self._resume = resume
        self._rule = rule
        self._hub_client = hub_client
        self._handler: EnvelopeHandler | None = None if attach_default_handler else _ignore
        self._records: dict[str, _SessionRecord] = {}
        self._ended: OrderedDict[str, None] = OrderedDict()
        self._closed = False
        self._plugin: NetworkPlugin | None = None
        #: the deadlines of this client's running turns (``turn_timeout``)
        self.turn_deadlines = TurnDeadlines()

    def __repr__(self) -> str:
        return f"AgentClient({self._passport.name!r}, agent_id={self._passport.agent_id!r})"

    # -- properties ----------------------------------------------------------------------

    @property
    def agent(self) -> Agent:
        """The wrapped Agent."""
        return self._agent

    @property
    def passport(self) -> Passport:
        """The hub-stamped passport."""
        return self._passport

    @property
    def resume(self) -> Resume:
        """The resume as last set through this client."""
        return self._resume

    @property
    def rule(self) -> Rule:
        """The rule as last set through this client."""
        return self._rule

    @property
    def agent_id(self) -> str:
        """The hub-assigned id.

        Raises:
            RuntimeError: the passport was never stamped by a hub.
        """
        agent_id = self._passport.agent_id
        if not agent_id:
            raise RuntimeError("agent has no hub-stamped agent_id (not registered)")
        return agent_id

    @property
    def hub_client(self) -> HubClient:
        """The HubClient this agent is registered through."""
        return self._hub_client

    @property
    def connection(self) -> ClientConnection:
        """The protocol connection this agent's calls go through.

        Raises:
            RuntimeError: the client is disconnected.
        """
        if self._closed:
            raise RuntimeError(f"agent client {self._passport.name!r} is disconnected")
        return self._hub_client.connection

    @property
    def connected(self) -> bool:
        """False after ``disconnect``/``unregister``/``close``."""
        return not self._closed and self._hub_client.connected

    @property
    def turn_timeout(self) -> float | None:
        """Seconds one model turn of the default handler may take (None: no limit).

        Default :data:`DEFAULT_TURN_TIMEOUT` (300 s). A turn that runs longer is
        cancelled and fails with code ``timeout``: the other participants receive an
        ``EV_TURN_FAILED`` (in consulting the session closes with ``turn_failed``).

        Raises:
            InvalidValueError: on assignment, not a positive finite number or None.
        """
        return self._turn_timeout

    @turn_timeout.setter
    def turn_timeout(self, value: float | None) -> None:
        if value is not None and (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not 0 < value < float("inf")
        ):
            raise InvalidValueError(
                f"AgentClient.turn_timeout must be a positive number of seconds or None, "
                f"got {value!r}"
            )
        self._turn_timeout = None if value is None else float(value)

    @property
    def current_handling_depth(self) -> int:
        """Depth of the envelope this client is handling in the current task; 0 outside."""
        envelope = self.handling_envelope
        return 0 if envelope is None else envelope.depth

    @property
    def handling_envelope(self) -> Envelope | None:
        """The envelope this client is handling in the current task (None outside a handler)."""
        current = _HANDLING.get()
        if current is None or current.client is not self:
            return None
        return current.envelope

    def _note_said(self, session_id: str) -> None:
        """Record that the turn being handled spoke into ``session_id`` (the ``say`` tool)."""
        current = _HANDLING.get()
        if current is None or current.client is not self:
            return
        if current.said_in is None:
            current.said_in = set()
        current.said_in.add(session_id)

    def _said_in_turn(self, session_id: str) -> bool:
        """True when the turn being handled already spoke into ``session_id`` via ``say``."""
        current = _HANDLING.get()
        return (
            current is not None
            and current.client is self
            and current.said_in is not None
            and session_id in current.said_in
        )

    # -- handlers ------------------------------------------------------------------------

    def on_envelope(self, callback: EnvelopeHandler) -> EnvelopeHandler:
        """Replace the default handler with ``callback`` (an async callable of the envelope).

        Usable as a decorator; returns ``callback``.
        """
        self._handler = callback
        return callback

    def _suppress_handler(self, session_id: str) -> None:
        """Stop running the handler for one session (its inbox still fills)."""
        self._record(session_id).suppressed = True

    def _unsuppress_handler(self, session_id: str) -> None:
        """Undo ``_suppress_handler``."""
        record = self._records.get(session_id)
        if record is not None:
            record.suppressed = False

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

        Every target must be online (connected to the hub): one that is not fails
        the open at once with ``agent_offline`` — unless ``wait_online`` gives the
        seconds to wait for it to connect.

        Raises:
            RuntimeError: the client is disconnected.
            InvalidValueError: an argument has the wrong type (the message names it).
            NotFoundError: a target or the session type is unknown.
            ProtocolError: a target is offline (``agent_offline``), an invitee did
                not ack in time or rejected.
        """
        targets = _open_targets(type, target, ttl, knobs, intent, labels)
        _check_wait_online(wait_online)
        ids = [await self._resolve_agent(t) for t in targets]
        meta = await self._create_session(
            manifest_type=type,
            participants=ids,
            ttl=ttl,
            knobs=knobs,
            intent=intent,
            labels=labels,
            wait_online=wait_online,
        )
        record = self._adopt(meta)
        if not record.terminal and record.adapter is None:
            self._build_turn_state(record)
        return self._handle(record)

    async def _create_session(self, **params: Any) -> SessionMetadata:
        meta: SessionMetadata = await self.connection.call(
            "create_session", creator_id=self.agent_id, **params
        )
        return meta

    async def get_session(self, session_id: str) -> SessionMetadata:
        """Fresh metadata of a session this agent participates in."""
        _check_session_id("get_session", session_id)
        meta = await self.connection.get_session(session_id, caller_id=self.agent_id)
        self._adopt(meta)
        return meta

    async def close_session(self, session_id: str, *, reason: str = "") -> SessionMetadata:
        """Close a session this agent participates in (``reason`` "" → "explicit_close")."""
        _check_session_id("close_session", session_id)
        meta: SessionMetadata = await self.connection.call(
            "close_session", session_id=session_id, caller_id=self.agent_id, reason=reason
        )
        self._adopt(meta)
        return meta

    async def list_sessions(
        self, *, include_terminal: bool = False, limit: int = 50
    ) -> list[SessionMetadata]:
        """Sessions this agent participates in (live ones unless ``include_terminal``)."""
        metas: list[SessionMetadata] = await self.connection.call(
            "list_sessions", caller_id=self.agent_id, include_terminal=include_terminal, limit=limit
        )
        return metas

    async def read_wal(
        self, session_id: str, *, since: int = 0, until: int | None = None
    ) -> list[Envelope]:
        """The session's WAL as this agent may see it (participants only)."""
        _check_session_id("read_wal", session_id)
        return await self.connection.read_wal(
            session_id, caller_id=self.agent_id, since=since, until=until
        )

    async def adapter_state(self, session_id: str) -> Any:
        """The session's current adapter state (as the hub holds it now)."""
        _check_session_id("adapter_state", session_id)
        adapter = await self.adapter_for(session_id)
        data = await self.connection.call(
            "adapter_state", session_id=session_id, caller_id=self.agent_id
        )
        return self._load_state(session_id, adapter, data)

    async def usage(self, session_id: str | None = None) -> dict[str, Any]:
        """This agent's summed token usage, latency and cost as the hub counts them
        (``Hub.usage``): over all its turns, or in ``session_id`` only."""
        if session_id is not None:
            _check_session_id("usage", session_id)
        result: dict[str, Any] = await self.connection.call(
            "usage", agent_id=self.agent_id, session_id=session_id
        )
        return result

    async def turn_probe(
        self, session_id: str, envelope: Envelope | None = None
    ) -> tuple[bool, Any]:
        """``(can_send, adapter_state)``: what a turn answering ``envelope`` starts with.

        When the hub sent a probe along with the latest envelope delivered in the session
        and this client posted nothing since, that is the answer (for ``envelope`` or
        an older one still queued) — for an older one, only if the probe it came with
        allowed a reply too (in a round robin, the message before last was someone
        else's turn); otherwise the hub is asked. A "no" from a delivery's probe comes
        without the state (None): the hub sends the state only with a turn.
        """
        _check_session_id("turn_probe", session_id)
        adapter = await self.adapter_for(session_id)
        record = self._records.get(session_id)
        hint = None if record is None else record.probe
        # The probe of the latest delivered envelope is the freshest state this client
        # knows (its own posts drop it): it answers for an older queued envelope too.
        if envelope is not None and hint is not None:
            probe = hint[1]
            own = record.probes.get(envelope.envelope_id) if record is not None else None
            if own is not None and not own.get("can_send"):
                return False, None  # it was not this agent's turn when it arrived
            if not probe.get("can_send"):
                return False, None  # a delivery's probe carries the state only for a turn
            return True, self._load_state(session_id, adapter, probe.get("state"))
        data = await self.connection.call(
            "turn_probe", session_id=session_id, caller_id=self.agent_id
        )
        return bool(data["can_send"]), self._load_state(session_id, adapter, data["state"])

    def _load_state(self, session_id: str, adapter: SessionAdapter, data: Any) -> Any:
        record = self._records.get(session_id)
        assert record is not None and record.metadata is not None  # adapter_for adopted it
        load = getattr(adapter, "load_state", None)
        return data if load is None or data is None else load(record.metadata, data)

    async def adapter_for(self, session_id: str) -> SessionAdapter:
        """The adapter this client runs the session's turns with."""
        _check_session_id("adapter_for", session_id)
        record = self._records.get(session_id)
        if record is None or record.metadata is None:
            record = self._adopt(await self.get_session(session_id))
        assert record.metadata is not None
        manifest = record.metadata.manifest
        return self._hub_client.adapter(manifest.type, manifest.version)

    async def can_send(self, session_id: str, *, event_type: str | None = None) -> bool:
        """Would the hub admit an envelope from this agent in the session right now?"""
        _check_session_id("can_send", session_id)
        ok: bool = await self.connection.call(
            "can_send", session_id=session_id, sender_id=self.agent_id, event_type=event_type
        )
        return ok

    async def session(self, session_id: str) -> Session:
        """The handle of a session this agent participates in (the one its turns get).

        Raises:
            NotFoundError: unknown session.
            AccessDeniedError: this agent is not a participant.
            InvalidValueError: ``session_id`` is not a non-empty string.
        """
        _check_session_id("session", session_id)
        record = self._records.get(session_id)
        if record is None or record.metadata is None:
            record = self._adopt(
                await self.connection.get_session(session_id, caller_id=self.agent_id)
            )
        return self._handle(record)

    def ensure_session_inbox(self, session_id: str) -> None:
        """Make sure envelopes of ``session_id`` are buffered for ``wait_for_session_event``."""
        _check_session_id("ensure_session_inbox", session_id)
        self._record(session_id)

    def discard_session_inbox(self, session_id: str) -> None:
        """Drop the buffered envelopes of ``session_id``."""
        _check_session_id("discard_session_inbox", session_id)
        record = self._records.get(session_id)
        if record is None:
            return
        record.inbox.clear()
        self._forget_if_unused(record)

    async def wait_for_session_event(
        self,
        *,
        session_id: str,
        predicate: Predicate,
        timeout: float | None = 300.0,  # noqa: ASYNC109 - public API (spec §16.2)
    ) -> Envelope:
        """Return the next envelope of the session matching ``predicate``.

        Consumes the session's inbox: buffered envelopes are examined oldest first and
        non-matching ones are discarded; envelopes delivered before the call are found.

        Raises:
            SessionTimeoutError: nothing matched within ``timeout`` seconds (code
                ``timeout``; also a ``TimeoutError``, so ``except asyncio.TimeoutError``
                keeps working). The message names the session and the timeout.
            InvalidValueError: ``session_id``, ``predicate`` or ``timeout`` has the wrong
                type (or ``timeout`` is negative).
            RuntimeError: the client was disconnected while waiting.
        """
        _check_session_id("wait_for_session_event", session_id)
        if not callable(predicate):
            raise InvalidValueError(
                f"wait_for_session_event(predicate=...) must be callable, got {predicate!r:.100}"
            )
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout >= 0
        ):
            raise InvalidValueError(
                "wait_for_session_event(timeout=...) must be a non-negative number of "
                f"seconds or None, got {timeout!r:.100}"
            )
        record = self._record(session_id)
        inbox = record.inbox
        while inbox:
            envelope = inbox.pop(0)
            if predicate(envelope):
                return envelope
        if self._closed:
            raise RuntimeError(f"agent client {self._passport.name!r} is disconnected")
        waiter = _Waiter(predicate, asyncio.get_running_loop().create_future())
        if record.waiters is None:
            record.waiters = []
        record.waiters.append(waiter)
        try:
            return await asyncio.wait_for(waiter.future, timeout)
        except TimeoutError as exc:
            if not waiter.future.cancelled():
                raise  # the predicate itself raised a TimeoutError
            raise SessionTimeoutError(
                f"agent {self._passport.name!r}: no envelope of session {session_id} "
                f"matched within {timeout:g} s"
            ) from exc
        finally:
            waiters = record.waiters
            if waiters is not None:
                waiters.remove(waiter)
                if not waiters:
                    record.waiters = None
            self._forget_if_unused(record)

    # -- sending -------------------------------------------------------------------------

    async def send_envelope(self, envelope: Envelope) -> str:
        """Post ``envelope`` as this agent (a blank ``sender_id`` is filled); return its id.

        Raises:
            RuntimeError: the client is disconnected.
            AccessDeniedError: ``sender_id`` names another agent.
            ProtocolError: the session refused the envelope.
        """
        return (await self.post(envelope)).envelope_id

    async def post(self, envelope: Envelope) -> Envelope:
        """Like ``send_envelope`` but return the stamped, admitted envelope."""
        conn = self.connection
        me = self.agent_id
        if not envelope.sender_id:
            envelope.sender_id = me
        elif envelope.sender_id != me:
            raise AccessDeniedError(
                f"agent {me} cannot post as {envelope.sender_id}", code="access_denied"
            )
        interceptors = self.hub_client.interceptors
        if interceptors:
            stamped = await intercept_post(interceptors, envelope, conn.post)
        else:
            stamped = await conn.post(envelope)
        record = self._records.get(stamped.session_id)
        if record is not None:
            record.posts += 1
            record.probe = None  # a turn probe from before this post is stale
            record.probes.clear()
        if not is_protocol_event(stamped.event_type):
            record = self._records.get(stamped.session_id)
            if record is None or (record.adapter is None and not record.terminal):
                try:
                    record = await self._turn_record(stamped.session_id)
                except Exception:
                    log.debug("no view state for session %s", stamped.session_id, exc_info=True)
                    record = None
            if record is not None and record.projection is not None:
                record.projection.add(stamped)
        return stamped

    async def fail_turn(self, envelope: Envelope, exc: BaseException) -> None:
        """Tell the hub's audit, then the session's other participants, that handling
        ``envelope`` failed with ``exc``.

        Audits it (:meth:`report_turn_failure`), then posts an ``EV_TURN_FAILED``
        envelope to everyone else in the session, with ``causation_id`` =
        ``envelope.envelope_id`` and ``event_data`` = ``{"code", "message",
        "envelope_id"}`` (see :func:`~hubbub.network.client.handlers.turn_failure_data`)
        — so a peer that hears of the failure finds it audited. Nothing is posted
        into a session this client knows has ended. Never raises, except a real
        cancellation: a post the hub refuses (the session closed meanwhile, a full
        inbox) is logged.
        """
        await self.report_turn_failure(envelope, exc)
        record = self._records.get(envelope.session_id)
        if envelope.event_type != EV_TURN_FAILED and (record is None or not record.terminal):
            notice = Envelope(
                session_id=envelope.session_id,
                sender_id=self.agent_id,
                audience=None,
                event_type=EV_TURN_FAILED,
                event_data=turn_failure_data(envelope, exc),
                causation_id=envelope.envelope_id,
            )
            try:
                await self.post(notice)
            except BaseException as post_exc:
                if is_cancellation(post_exc):
                    raise
                log.info(
                    "agent %s could not post the turn failure into session %s: %s",
                    self.agent_id,
                    envelope.session_id,
                    post_exc,
                )

    async def report_turn_failure(self, envelope: Envelope, exc: BaseException) -> None:
        """Tell the hub that handling ``envelope`` failed (audited as ``turn_failed``)."""
        try:
            await self._hub_client.report_turn_failure(
                session_id=envelope.session_id,
                agent_id=self.agent_id,
                envelope_id=envelope.envelope_id,
                exc=exc,
            )
        except Exception:
            log.warning("could not report a turn failure to the hub", exc_info=True)

    # -- identity ------------------------------------------------------------------------

    async def set_resume(self, resume: Resume) -> None:
        """Replace this agent's resume on the hub."""
        await self.connection.call("set_resume", agent_id=self.agent_id, resume=resume)
        self._resume = resume

    async def add_example(self, example: ResumeExample) -> None:
        """Append one example to the resume and publish it."""
        resume = Resume.from_dict(self._resume.to_dict())
        resume.examples.append(example)
        await self.set_resume(resume)

    async def set_skill(self, skill_md: str | None) -> None:
        """Replace (None: delete) this agent's SKILL.md on the hub."""
        await self.connection.call("set_skill", agent_id=self.agent_id, skill_md=skill_md)

    async def set_rule(self, rule: Rule) -> None:
        """Replace this agent's rule on the hub."""
        await self.connection.call("set_rule", agent_id=self.agent_id, rule=rule)
        self._rule = rule

    # -- tasks (spec §20) ----------------------------------------------------------------

    async def observe_task(self, metadata: TaskMetadata) -> TaskMetadata:
        """Record a task this agent runs (``metadata.owner_id`` is this agent's id)."""
        return await self._hub_client.observe_task(metadata)

    async def update_task(
        self,
        task_id: str,
        *,
        state: TaskState | str | None = None,
        progress: dict[str, Any] | None = None,
        result: Any = None,
        error: str | None = None,
    ) -> TaskMetadata:
        """Change one of this agent's tasks; returns the hub's record."""
        return await self._hub_client.update_task(
            task_id, state=state, progress=progress, result=result, error=error
        )

    async def get_task(self, task_id: str) -> TaskMetadata:
        """A task this agent owns or that runs in one of its sessions."""
        return await self._hub_client.get_task(task_id)

    async def list_tasks(
        self,
        *,
        owner_id: str | None = None,
        session_id: str | None = None,
        state: TaskState | str | None = None,
        limit: int = 50,
    ) -> list[TaskMetadata]:
        """Tasks this agent's connection may read, newest first."""
        return await self._hub_client.list_tasks(
            owner_id=owner_id, session_id=session_id, state=state, limit=limit
        )

    async def record_observation(
        self,
        agent_id: str,
        capability: str,
        outcome: TaskState | str,
        latency_ms: int | None = None,
        task_id: str | None = None,
    ) -> Resume:
        """Count a terminal outcome into this agent's track record (``agent_id`` is
        this agent's id; the hub refuses any other)."""
        resume = await self._hub_client.record_observation(
            agent_id, capability, outcome, latency_ms, task_id
        )
        if agent_id == self.agent_id:
            self._resume = resume
        return resume

    async def save_checkpoint(self, key: str, data: dict[str, Any]) -> None:
        """Keep a task checkpoint of this agent on the hub."""
        await self.connection.call("save_checkpoint", agent_id=self.agent_id, key=key, data=data)

    async def load_checkpoint(self, key: str) -> dict[str, Any] | None:
        """A task checkpoint of this agent, or None."""
        data: dict[str, Any] | None = await self.connection.call(
            "load_checkpoint", agent_id=self.agent_id, key=key
        )
        return data

    async def delete_checkpoint(self, key: str) -> None:
        """Forget a task checkpoint of this agent (no-op when absent)."""
        await self.connection.call("delete_checkpoint", agent_id=self.agent_id, key=key)

    # -- lifecycle -----------------------------------------------------------------------

    async def unregister(self) -> None:
        """Remove this agent from the hub and disconnect this client (idempotent)."""
        await self._hub_client.unregister(self.agent_id)

    async def close(self) -> None:
        """Unregister the agent and disconnect this client (the HubClient stays open)."""
        if not self._closed and self._hub_client.connected:
            await self.unregister()
        await self.disconnect()

    async def disconnect(self) -> None:
        """Stop handling envelopes: cancel session workers, fail waiters (idempotent)."""
        if self._closed:
            return
        self._closed = True
        plugin = self._plugin
        if plugin is not None:
            plugin.detach(self._agent)
            self._plugin = None
        current = asyncio.current_task()
        workers = [
            r.worker
            for r in self._records.values()
            if r.worker is not None and r.worker is not current
        ]
        for record in self._records.values():
            for waiter in record.waiters or ():
                if not waiter.future.done():
                    waiter.future.set_exception(
                        RuntimeError(f"agent client {self._passport.name!r} disconnected")
                    )
        for task in workers:
            task.cancel()
        if workers:
            await asyncio.gather(*workers, return_exceptions=True)
        self._records.clear()
        self._ended.clear()

    async def __aenter__(self) -> AgentClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- delivery (called by the HubClient's receive loop; never blocks) -----------------

    def _deliver(self, envelope: Envelope, probe: dict[str, Any] | None = None) -> None:
        """Take one delivered envelope: track state, feed waiters, queue it for the handler."""
        if self._closed:
            return
        record = self._record(envelope.session_id)
        # only the latest envelope's probe is kept: a turn uses it if nothing came after
        record.probe = None if probe is None else (envelope.envelope_id, probe)
        protocol = is_protocol_event(envelope.event_type)
        if protocol and record.observe(envelope):
            self._ended_now(record)
        self._offer(record, envelope)
        if (
            not protocol
            and probe is not None
            and not probe.get("can_send")
            and self._handler is None
            and record.worker is None
            and not record.pending
            and record.adapter is not None
        ):
            self._pass_over(record, envelope)
            return
        if probe is not None:
            record.probes[envelope.envelope_id] = probe
        pending = record.pending
        if pending is None:
            pending = record.pending = deque()
        pending.append(envelope)
        if record.worker is None:
            record.worker = asyncio.get_running_loop().create_task(
                self._work(record), name=f"hubbub-session-{envelope.session_id[:8]}"
            )

    def _pass_over(self, record: _SessionRecord, envelope: Envelope) -> None:
        """A content envelope that is not this agent's turn, with nothing queued before
        it, under the default handler: what its worker would do (take it into the view,
        send the receipt), without a task. In a round robin most deliveries are these."""
        try:
            projection = record.projection
            if projection is not None and envelope.sender_id != self.agent_id:
                projection.add(envelope)
        except Exception:
            log.error(
                "view update of %s failed on envelope %s",
                self._passport.name,
                envelope.envelope_id,
                exc_info=True,
            )
        _send_receipt(self._hub_client, self.agent_id, envelope)

    def _offer(self, record: _SessionRecord, envelope: Envelope) -> None:
        waiters = record.waiters
        if not waiters:
            record.buffer(envelope)
            return
        for waiter in waiters:
            if waiter.future.done():
                continue
            try:
                matched = waiter.predicate(envelope)
            except BaseException as exc:  # the waiter's, not the receive loop's, failure
                waiter.future.set_exception(exc)
                continue
            if matched:
                waiter.future.set_result(envelope)
                return
        # Waiting consumers discard what they do not match (spec §16.2).

    async def _work(self, record: _SessionRecord) -> None:
        pending = record.pending
        assert pending is not None
        try:
            while pending:
                await self._handle_one(record, pending.popleft())
        finally:
            record.worker = None
            if not pending:
                record.pending = None  # an idle session holds no queue

    async def _handle_one(self, record: _SessionRecord, envelope: Envelope) -> None:
        _HANDLING.set(_Handling(self, envelope))
        try:
            if (
                record.adapter is None
                and not record.terminal
                and not is_protocol_event(envelope.event_type)
            ):
                try:
                    await self._turn_record(record.session_id)
                except Exception:
                    log.debug("no view state for session %s", record.session_id, exc_info=True)
            projection = record.projection
            if projection is not None and envelope.sender_id != self.agent_id:
                projection.add(envelope)
            if not record.suppressed:
                handler = self._handler
                if handler is None:
                    await default_handler(envelope, self)
                else:
                    await handler(envelope)
        except BaseException as exc:  # SystemExit & co. end this envelope, not the worker
            if is_cancellation(exc):
                raise
            log.error(
                "handler of %s failed on envelope %s",
                self._passport.name,
                envelope.envelope_id,
                exc_info=exc,
            )
        finally:
            record.probes.pop(envelope.envelope_id, None)
            _send_receipt(self._hub_client, self.agent_id, envelope)

    # -- records -------------------------------------------------------------------------

    def _record(self, session_id: str) -> _SessionRecord:
        record = self._records.get(session_id)
        if record is None:
            record = self._records[session_id] = _SessionRecord(session_id, self.inbox_size)
        return record

    def _forget_if_unused(self, record: _SessionRecord) -> None:
        """Drop a record that holds nothing (e.g. a wait on a session never seen)."""
        if (
            record.metadata is None
            and record.worker is None
            and record.waiters is None
            and not record.inbox
            and not record.suppressed
            and self._records.get(record.session_id) is record
        ):
            del self._records[record.session_id]

    def _adopt(self, metadata: SessionMetadata) -> _SessionRecord:
        record = self._record(metadata.session_id)
        was_terminal = record.terminal
        record.adopt(metadata.copy())
        if record.terminal and not was_terminal:
            self._ended_now(record)
        return record

    def _ended_now(self, record: _SessionRecord) -> None:
        """Drop an ended session's turn machinery; keep a bounded number of inboxes."""
        record.retire()
        inbox = record.inbox
        if len(inbox) > self.ended_tail:
            del inbox[: len(inbox) - self.ended_tail]
        ended = self._ended
        ended[record.session_id] = None
        while len(ended) > self.retain_ended:
            old, _ = ended.popitem(last=False)
            old_record = self._records.get(old)
            if old_record is not None and old_record.terminal:
                del self._records[old]

    def _handle(self, record: _SessionRecord) -> Session:
        handle = record.handle
        if handle is None:
            assert record.metadata is not None
            handle = record.handle = Session(metadata=record.metadata, client=self, _record=record)
        return handle

    def _build_turn_state(self, record: _SessionRecord) -> None:
        """Adapter, view and incremental projection of a live session (sync, once)."""
        metadata = record.metadata
        assert metadata is not None
        adapter = self._hub_client.adapter(metadata.manifest.type, metadata.manifest.version)
        view = adapter.default_view_policy(metadata, self.agent_id)
        make = getattr(view, "projection", None)
        record.projection = (
            make(self.agent_id, metadata, adapter.render_envelope) if make is not None else None
        )
        record.view = view
        record.adapter = adapter
        self._handle(record)

    async def _turn_record(self, session_id: str) -> _SessionRecord | None:
        """The session's record with its turn state built, or None once the session ended."""
        record = self._record(session_id)
        if record.metadata is None:
            self._adopt(await self.connection.get_session(session_id, caller_id=self.agent_id))
        if record.terminal:
            return None
        if record.adapter is None:
            self._build_turn_state(record)
        return record

    async def _resolve_agent(self, name_or_id: str) -> str:
        passport = await self._hub_client.get_agent(name_or_id)
        if not passport.agent_id:
            raise RuntimeError(f"hub returned an unstamped passport for {name_or_id!r}")
        return passport.agent_id


def _send_receipt(hub_client: HubClient, agent_id: str, envelope: Envelope) -> None:
    """Tell the hub ``agent_id`` is done with ``envelope`` (its inbox slot is free);
    never raises (a failure is logged)."""
    try:
        if hub_client.connected:
            hub_client.connection.receipt(agent_id, envelope)
    except Exception:
        log.debug("receipt for %s failed", envelope.envelope_id, exc_info=True)


def _check_wait_online(wait_online: object) -> None:
    if wait_online is None:
        return
    if (
        isinstance(wait_online, bool)
        or not isinstance(wait_online, int | float)
        or not wait_online >= 0
        or wait_online == float("inf")
    ):
        raise InvalidValueError(
            f"open(wait_online=...) must be a non-negative number of seconds or None, got {wait_online!r}"
        )


def _check_session_id(method: str, session_id: object) -> None:
    """Raise InvalidValueError unless ``session_id`` is a non-empty string."""
    if not isinstance(session_id, str) or not session_id:
        raise InvalidValueError(
            f"{method}(session_id=...) must be a non-empty string, got {session_id!r:.100}"
        )


def _open_targets(
    type: object,
    target: object,
    ttl: object,
    knobs: object,
    intent: object,
    labels: object,
) -> list[str]:
    """The target list of an ``open`` call, after checking every argument's type.

    Raises:
        InvalidValueError: naming the first argument of the wrong type.
    """
    if not isinstance(type, str) or not type:
        raise InvalidValueError(f"open(type=...) must be a non-empty string, got {type!r}")
    targets: list[object]
    if isinstance(target, str):
        targets = [target]
    elif isinstance(target, list | tuple):
        targets = list(target)
    else:
        raise InvalidValueError(
            f"open(target=...) must be an agent name or id, or a list of them, got {target!r}"
        )
    for t in targets:
        if not isinstance(t, str) or not t:
            raise InvalidValueError(
                f"open(target=...) entries must be non-empty strings, got {t!r}"
            )
    if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, str | int | float)):
        raise InvalidValueError(
            f"open(ttl=...) must be a duration (seconds or a string like '10m'), got {ttl!r}"
        )
    if knobs is not None and (
        not isinstance(knobs, dict) or not all(isinstance(k, str) for k in knobs)
    ):
        raise InvalidValueError(
            f"open(knobs=...) must be a dict with string keys, got {knobs!r:.200}"
        )
    if intent is not None and not isinstance(intent, str):
        raise InvalidValueError(f"open(intent=...) must be a string, got {intent!r:.200}")
    if labels is not None and (
        not isinstance(labels, dict)
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items())
    ):
        raise InvalidValueError(
            f"open(labels=...) must be a dict of strings to strings, got {labels!r:.200}"
        )
    return targets  # type: ignore[return-value]  # checked above: all str


async def _ignore(envelope: Envelope) -> None:
    """The handler of a client built without the default handler."""
