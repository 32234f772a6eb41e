"""HubClient: one connection to a hub, shared by the agents registered through it.

The client opens its link lazily on the first registration and runs one receive loop
that hands each ``NotifyFrame`` to the AgentClient it is addressed to. The loop never
runs a handler itself — each AgentClient queues the envelope on the session's worker —
so a long turn, or a turn waiting on another session, never stalls delivery.

Operator-style pass-throughs (``get_session``, ``read_wal``, ``close_session``, ...)
act as one of the registered agents: the only one, or the one named by ``as_agent=``
(alias ``caller_id=``). They go through the hub connection, so the hub's participant
checks apply exactly as they do on the wire.

Registering a name this client's principal already owns, while no live connection
holds it (after a hub restart, or after the previous holder closed), takes the agent
back: same agent id, and its live sessions are adopted by the new AgentClient — each
one's turn state is rebuilt from the session's WAL before any envelope delivered to
it is handled, so the default handler answers in them again, with their history.
"""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType
from typing import TYPE_CHECKING, Any

from hubbub.network.client.agent_client import AgentClient
from hubbub.network.client.plugin import NetworkPlugin
from hubbub.network.client.session import Predicate
from hubbub.network.envelope import Envelope, visible_to
from hubbub.network.errors import AccessDeniedError, InvalidValueError
from hubbub.network.identity import Passport, Resume
from hubbub.network.rule import Rule
from hubbub.network.session import SessionMetadata
from hubbub.network.transport.frames import NotifyFrame

if TYPE_CHECKING:
    from hubbub.agent import Agent
    from hubbub.network.adapters.base import SessionAdapter
    from hubbub.network.hub import Connection, Hub
    from hubbub.network.transport.local import LocalLink, LocalLinkClient
    from hubbub.network.views import ViewPolicy

__all__ = ["HubClient"]

log = logging.getLogger(__name__)

#: Most live sessions a re-registered agent adopts (the hub's list_sessions limit).
_ADOPT_LIMIT = 1_000_000


class HubClient:
    """A connection to a hub, shared by the agents registered through it.

    Args:
        link: The transport factory (``LocalLink(hub)``).
        hub: The in-process hub (defaults to ``link.hub``); handed to turns as ``HubInject``.
    """

    def __init__(self, link: LocalLink, *, hub: Hub | None = None) -> None:
        self._link = link
        self._hub: Hub | None = hub if hub is not None else getattr(link, "hub", None)
        self._link_client: LocalLinkClient | None = None
        self._connection: Connection | None = None
        self._receiver: asyncio.Task[None] | None = None
        self._clients: dict[str, AgentClient] = {}
        self._closed = False
        self._lost = False

    def __repr__(self) -> str:
        return f"HubClient(agents={[c.passport.name for c in self._clients.values()]})"

    # -- properties ----------------------------------------------------------------------

    @property
    def hub(self) -> Hub | None:
        """The in-process hub, if known."""
        return self._hub

    @property
    def link(self) -> LocalLink:
        """The transport factory."""
        return self._link

    @property
    def closed(self) -> bool:
        """True after ``close``."""
        return self._closed

    @property
    def connection(self) -> Connection:
        """The hub connection (bound to this client's identity).

        Raises:
            RuntimeError: the client is closed or not connected yet.
        """
        if self._closed:
            raise RuntimeError("HubClient is closed")
        if self._lost:
            raise RuntimeError("the hub closed this HubClient's link")
        if self._connection is None:
            raise RuntimeError("HubClient is not connected (register an agent first)")
        return self._connection

    @property
    def connected(self) -> bool:
        """True while the link to the hub is open."""
        return self._connection is not None and not self._closed and not self._lost

    @property
    def agents(self) -> dict[str, AgentClient]:
        """The registered agent clients by agent id (a copy)."""
        return dict(self._clients)

    # -- connection ----------------------------------------------------------------------

    async def connect(self) -> Connection:
        """Open the link and start the receive loop (idempotent; done by ``register``)."""
        if self._closed:
            raise RuntimeError("HubClient is closed")
        if self._connection is None:
            link_client = self._link.client()
            await link_client.open()
            self._link_client = link_client
            self._connection = link_client.connection
            self._receiver = asyncio.get_running_loop().create_task(
                self._receive_loop(link_client), name="hubbub-hubclient-receive"
            )
        return self._connection

    async def _receive_loop(self, link_client: LocalLinkClient) -> None:
        async for frame in link_client.frames():
            try:
                if isinstance(frame, NotifyFrame):
                    self._route(frame)
                else:
                    log.debug("HubClient ignoring frame %r", frame)
            except Exception:
                log.exception("HubClient failed routing a frame")
        if not self._closed:
            self._lost = True
            log.info("the hub closed the link of %r", self)

    def _route(self, frame: NotifyFrame) -> None:
        envelope = frame.envelope
        if envelope is None:
            return
        client = self._clients.get(frame.recipient_id)
        if client is not None:
            client._deliver(envelope)
            return
        if frame.recipient_id:
            log.debug(
                "envelope %s for unknown agent %s dropped", envelope.envelope_id, frame.recipient_id
            )
            return
        for agent_id, c in list(self._clients.items()):
            if agent_id != envelope.sender_id and visible_to(envelope, agent_id):
                c._deliver(envelope)

    # -- registration --------------------------------------------------------------------

    async def register(
        self,
        agent: Agent,
        passport: Passport,
        resume: Resume | None,
        *,
        skill_md: str | None = None,
        rule: Rule | None = None,
        attach_plugin: bool = True,
    ) -> AgentClient:
        """Register ``agent`` with the hub and return its AgentClient.

        A name this client's principal already registered, and that no live
        connection holds, is taken back: the same ``agent_id``, ``resume``/``rule``/
        ``skill_md`` replacing the stored ones where they differ (versions bumped;
        ``None`` keeps what is stored), and the agent's live sessions adopted by
        the returned client (their history read back from the WAL).

        Args:
            agent: The Agent whose turns answer this identity's envelopes.
            passport: Identity to register (the hub stamps ``agent_id``).
            resume: Capability claims (None: empty, or the stored one on re-register).
            skill_md: Optional SKILL.md text.
            rule: Governance (None: ``Rule()``, or the stored one on re-register).
            attach_plugin: Add the NetworkPlugin (identity line, ``sessions`` and
                ``peers`` tools); False leaves the agent bare.

        Raises:
            RuntimeError: the client is closed.
            InvalidValueError: an argument has the wrong type (the message names
                it), ``passport.kind == "human"``, or the name has the form of an
                agent id.
            NameTakenError: the name is held by a live connection or belongs to
                another principal.
            StoreUnavailableError: the hub could not store the registration
                (nothing was registered; retry).
        """
        if self._closed:
            raise RuntimeError("HubClient is closed")
        _check_register_args(agent, passport, resume, skill_md, rule, attach_plugin)
        conn = await self.connect()
        registration = await conn.register_agent(passport, resume, skill_md=skill_md, rule=rule)
        client = AgentClient(
            agent=agent,
            passport=registration.passport,
            resume=registration.resume,
            rule=registration.rule,
            hub=self._hub,
            hub_client=self,
        )
        self._clients[client.agent_id] = client
        if attach_plugin:
            plugin = NetworkPlugin(client)
            plugin.attach(agent)
            client._plugin = plugin
        if registration.existing:
            await _adopt_live_sessions(client)
        return client

    async def unregister(self, agent_id: str) -> None:
        """Unregister one of this client's agents and disconnect its AgentClient."""
        client = self._clients.pop(agent_id, None)
        try:
            if self.connected:
                await self.connection.unregister(agent_id)
        finally:
            if client is not None:
                await client.disconnect()

    async def unregister_agent(self, agent_id: str) -> None:
        """Alias of :meth:`unregister`."""
        await self.unregister(agent_id)

    # -- lifecycle -----------------------------------------------------------------------

    async def close(self) -> None:
        """Disconnect every agent client, close the link, stop the receive loop (idempotent)."""
        if self._closed:
            return
        self._closed = True
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.disconnect()
        if self._link_client is not None:
            await self._link_client.close()
        receiver = self._receiver
        if receiver is not None and receiver is not asyncio.current_task():
            receiver.cancel()
            await asyncio.gather(receiver, return_exceptions=True)

    async def shutdown(self) -> None:
        """Unregister every agent, then close."""
        for agent_id in list(self._clients):
            try:
                await self.unregister(agent_id)
            except Exception:
                log.warning("unregistering %s failed", agent_id, exc_info=True)
        await self.close()

    async def __aenter__(self) -> HubClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- acting as a registered agent ----------------------------------------------------

    def _caller(
        self, as_agent: str | AgentClient | None, caller_id: str | None = None
    ) -> AgentClient:
        chosen = as_agent if as_agent is not None else caller_id
        if isinstance(chosen, AgentClient):
            return chosen
        if chosen is not None:
            client = self._clients.get(chosen)
            if client is None:
                for c in self._clients.values():
                    if c.passport.name == chosen:
                        return c
                raise AccessDeniedError(
                    f"agent {chosen!r} is not registered through this HubClient"
                )
            return client
        if len(self._clients) == 1:
            return next(iter(self._clients.values()))
        raise ValueError(
            f"this HubClient has {len(self._clients)} registered agents; pass as_agent= (or caller_id=)"
        )

    async def create_session(
        self,
        *,
        participants: list[str],
        manifest_type: str | None = None,
        type: str | None = None,
        manifest_version: int = 1,
        ttl: str | int | None = None,
        knobs: dict[str, Any] | None = None,
        intent: str | None = None,
        labels: dict[str, str] | None = None,
        creator_id: str | None = None,
        as_agent: str | AgentClient | None = None,
    ) -> SessionMetadata:
        """Create a session as a registered agent (participants are names or ids)."""
        client = self._caller(as_agent, creator_id)
        kind = manifest_type or type
        if not kind:
            raise ValueError("create_session needs manifest_type=")
        ids = [await client._resolve_agent(p) for p in participants]
        meta = await self.connection.create_session(
            creator_id=client.agent_id,
            manifest_type=kind,
            participants=ids,
            manifest_version=manifest_version,
            ttl=ttl,
            knobs=knobs,
            intent=intent,
            labels=labels,
        )
        client._adopt(meta)
        return meta

    async def get_session(
        self,
        session_id: str,
        *,
        as_agent: str | AgentClient | None = None,
        caller_id: str | None = None,
    ) -> SessionMetadata:
        """Session metadata (the caller must be a participant)."""
        return await self._caller(as_agent, caller_id).get_session(session_id)

    async def close_session(
        self,
        session_id: str,
        *,
        reason: str = "",
        as_agent: str | AgentClient | None = None,
        caller_id: str | None = None,
    ) -> SessionMetadata:
        """Close a session (the caller must be a participant)."""
        return await self._caller(as_agent, caller_id).close_session(session_id, reason=reason)

    async def list_sessions(
        self,
        *,
        agent_id: str | None = None,
        include_terminal: bool = False,
        limit: int = 50,
        as_agent: str | AgentClient | None = None,
    ) -> list[SessionMetadata]:
        """Sessions the agent participates in."""
        client = self._caller(as_agent, agent_id)
        return await client.list_sessions(include_terminal=include_terminal, limit=limit)

    async def read_wal(
        self,
        session_id: str,
        *,
        since: int = 0,
        until: int | None = None,
        as_agent: str | AgentClient | None = None,
        caller_id: str | None = None,
    ) -> list[Envelope]:
        """The session's WAL as the caller may see it (participants only)."""
        client = self._caller(as_agent, caller_id)
        return await client.read_wal(session_id, since=since, until=until)

    async def post_envelope(self, envelope: Envelope) -> str:
        """Post as the registered agent named by ``sender_id`` (blank: the only one)."""
        client = self._caller(None, envelope.sender_id or None)
        return await client.send_envelope(envelope)

    def can_send(self, session_id: str, sender_id: str, *, event_type: str | None = None) -> bool:
        """Whether the hub would accept a send from ``sender_id`` right now (sync probe)."""
        return self.connection.can_send(session_id, sender_id, event_type=event_type)

    def adapter_for(self, session_id: str) -> SessionAdapter:
        """The adapter of a session."""
        return self.connection.adapter_for(session_id)

    def adapter_state(
        self,
        session_id: str,
        *,
        as_agent: str | AgentClient | None = None,
        caller_id: str | None = None,
    ) -> Any:
        """The session's adapter state (the caller must be a participant)."""
        return self._caller(as_agent, caller_id).adapter_state(session_id)

    def default_view_policy(self, session_id: str, participant_id: str) -> ViewPolicy:
        """The view policy the participant's turns use."""
        return self.connection.default_view_policy(session_id, participant_id)

    async def get_agent(self, name_or_id: str) -> Passport:
        """Look an agent up by name or id."""
        return await self.connection.get_agent(name_or_id)

    async def get_passport(self, agent_id: str) -> Passport:
        """Alias of :meth:`get_agent`."""
        return await self.get_agent(agent_id)

    async def get_resume(self, agent_id: str) -> Resume:
        """An agent's resume."""
        return await self.connection.get_resume(agent_id)

    async def get_skill(self, agent_id: str) -> str | None:
        """An agent's SKILL.md, or None."""
        return await self.connection.get_skill(agent_id)

    async def list_agents(
        self,
        *,
        capability: str | None = None,
        query: str | None = None,
        kind: str | None = None,
        sort_by: str | None = None,
        limit: int = 50,
    ) -> list[Passport]:
        """Discover agents by capability / summary text / kind."""
        return await self.connection.list_agents(
            capability=capability, query=query, kind=kind, sort_by=sort_by, limit=limit
        )

    async def set_resume(self, agent_id: str, resume: Resume) -> None:
        """Replace the resume of one of this client's agents."""
        await self._caller(agent_id).set_resume(resume)

    async def set_skill(self, agent_id: str, skill_md: str | None) -> None:
        """Replace the SKILL.md of one of this client's agents."""
        await self._caller(agent_id).set_skill(skill_md)

    async def set_rule(self, agent_id: str, rule: Rule) -> None:
        """Replace the rule of one of this client's agents."""
        await self._caller(agent_id).set_rule(rule)

    async def report_turn_failure(
        self, *, session_id: str, agent_id: str, envelope_id: str, exc: BaseException
    ) -> None:
        """Report a failed turn of one of this client's agents (audited as ``turn_failed``)."""
        await self.connection.report_turn_failure(
            session_id=session_id, agent_id=agent_id, envelope_id=envelope_id, exc=exc
        )

    async def wait_for_session_event(
        self,
        *,
        session_id: str,
        predicate: Predicate,
        timeout: float | None = 300.0,  # noqa: ASYNC109 - public API (spec §16.2)
    ) -> Envelope:
        """Wait on the inboxes of this client's agents in the session (see AgentClient).

        Raises:
            asyncio.TimeoutError: nothing matched in time.
            ValueError: no agent is registered through this client.
        """
        clients = [c for c in self._clients.values() if session_id in c._records]
        if not clients:
            clients = list(self._clients.values())
        if not clients:
            raise ValueError("no agent is registered through this HubClient")
        if len(clients) == 1:
            return await clients[0].wait_for_session_event(
                session_id=session_id, predicate=predicate, timeout=timeout
            )
        tasks = [
            asyncio.ensure_future(
                c.wait_for_session_event(
                    session_id=session_id, predicate=predicate, timeout=timeout
                )
            )
            for c in clients
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if not task.cancelled() and task.exception() is None:
                    return task.result()
            return next(iter(done)).result()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


def _check_register_args(
    agent: object,
    passport: object,
    resume: object,
    skill_md: object,
    rule: object,
    attach_plugin: object,
) -> None:
    """Refuse ``register`` arguments of the wrong type before anything is sent."""
    from hubbub.agent import Agent

    if not isinstance(agent, Agent):
        raise InvalidValueError(f"register(agent=...) must be an Agent, got {type(agent).__name__}")
    if not isinstance(passport, Passport):
        raise InvalidValueError(
            f"register(passport=...) must be a Passport, got {type(passport).__name__}"
        )
    if passport.kind == "human":
        raise InvalidValueError(
            "register(passport=...): human participants register with register_human(), "
            "not register()"
        )
    if resume is not None and not isinstance(resume, Resume):
        raise InvalidValueError(
            f"register(resume=...) must be a Resume or None, got {type(resume).__name__}"
        )
    if skill_md is not None and not isinstance(skill_md, str):
        raise InvalidValueError(
            f"register(skill_md=...) must be a string or None, got {type(skill_md).__name__}"
        )
    if rule is not None and not isinstance(rule, Rule):
        raise InvalidValueError(
            f"register(rule=...) must be a Rule or None, got {type(rule).__name__}"
        )
    if not isinstance(attach_plugin, bool):
        raise InvalidValueError(
            f"register(attach_plugin=...) must be True or False, got {attach_plugin!r}"
        )


async def _adopt_live_sessions(client: AgentClient) -> None:
    """Give a re-registered agent's new client the agent's live sessions.

    Each live session is adopted (``_adopt``), its turn state built, and its
    projection fed the session's WAL, so a turn there sees the history from before
    the restart. While that happens the session's worker slot is held: envelopes
    delivered meanwhile are queued, and handled in order once the history is in.
    A session that cannot be taken back (no adapter for its type any more, the
    store failing) is logged and left to the lazy path: an envelope delivered in
    it still builds its turn state on arrival.
    """
    conn = client.connection
    me = client.agent_id
    try:
        metas = await conn.list_sessions(caller_id=me, limit=_ADOPT_LIMIT)
    except Exception:
        log.warning("agent %s: could not list its live sessions to adopt", me, exc_info=True)
        return
    current = asyncio.current_task()
    held = []
    try:
        for meta in metas:
            if meta.is_terminal():
                continue
            record = client._adopt(meta)
            if record.terminal or record.adapter is not None:
                continue
            try:
                client._build_turn_state(record)
            except Exception:
                log.warning("agent %s: session %s not adopted", me, meta.session_id, exc_info=True)
                continue
            if record.projection is None:
                continue  # the view reads the WAL itself on every turn
            if record.worker is None and current is not None:
                record.worker = current  # hold: deliveries queue until the history is in
                held.append(record)
        for record in held:
            projection = record.projection
            assert projection is not None
            try:
                wal = await conn.read_wal(record.session_id, caller_id=me)
            except Exception:
                log.warning(
                    "agent %s: history of session %s not read", me, record.session_id, exc_info=True
                )
                continue
            for envelope in wal:
                projection.add(envelope)
    finally:
        loop = asyncio.get_running_loop()
        for record in held:
            if record.worker is current:
                record.worker = None
            if record.pending and record.worker is None and client.connected:
                record.worker = loop.create_task(
                    client._work(record), name=f"hubbub-session-{record.session_id[:8]}"
                )
    if metas:
        log.info("agent %s took back %d live session(s)", me, len(held))
