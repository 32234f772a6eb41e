"""HubClient: one connection to a hub, shared by the agents registered through it.

The client opens its connection lazily on the first registration. Everything it does
is a frame of the hub protocol (:class:`~hubbub.network.transport.client.ClientConnection`),
in-process (``LocalLink``) and across processes (``WsLink``) alike. Each delivery is
handed to the AgentClient it is addressed to, which queues it on the session's worker
— so a long turn, or a turn waiting on another session, never stalls delivery.

A person registers with :meth:`HubClient.register_human` and gets a
:class:`~hubbub.network.client.human_client.HumanClient` (no Agent, no default
handler) on the same connection.

Operator-style pass-throughs (``get_session``, ``read_wal``, ``close_session``, ...)
act as one of the registered agents: the only one, or the one named by ``as_agent=``
(alias ``caller_id=``). The hub checks each one as it checks a remote client's: no
client object holds the operator ``Hub``.

Adapters are pure values the client needs for its turns (turn input, view, reply
envelope). It takes them from ``adapters=``, then from the link (``LocalLink`` offers
the hub's), then from the built-in ones.

Registering a name this client's principal already owns, while no live connection
holds it (after a hub restart, or after the previous holder closed), takes the agent
back: same agent id, and its live sessions are adopted by the new AgentClient — each
one's turn state is rebuilt from the session's WAL before any envelope delivered to
it is handled, so the default handler answers in them again, with their history.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from hubbub.network.adapters import default_adapters
from hubbub.network.client.agent_client import AgentClient
from hubbub.network.client.human_client import HumanClient
from hubbub.network.client.intercept import ClientInterceptor
from hubbub.network.client.plugin import NetworkPlugin
from hubbub.network.client.session import Predicate
from hubbub.network.envelope import Envelope
from hubbub.network.errors import AccessDeniedError, InvalidValueError, NetworkError, NotFoundError
from hubbub.network.identity import Passport, Resume
from hubbub.network.protocol.ops import MAX_NAMES
from hubbub.network.rule import Rule
from hubbub.network.session import SessionMetadata
from hubbub.network.transport.client import ClientConnection
from hubbub.task import TaskMetadata, TaskState

if TYPE_CHECKING:
    from hubbub.agent import Agent
    from hubbub.network.adapters.base import SessionAdapter
    from hubbub.network.hub import Hub
    from hubbub.network.views import ViewPolicy

__all__ = ["HubClient"]

log = logging.getLogger(__name__)

#: Most live sessions a re-registered agent adopts (the hub's list_sessions limit).
_ADOPT_LIMIT = 1_000_000

#: Most agent names a client keeps (an id's name never changes, so they never go stale).
_NAME_CACHE = 10_000


class HubClient:
    """A connection to a hub, shared by the agents registered through it.

    Args:
        link: The transport factory: ``LocalLink(hub)`` in-process,
            ``WsLink("ws://host:port", token=...)`` across processes.
        hub: Accepted for the seeds' ``HubClient(link, hub=hub)``; the client never
            uses or exposes it (everything goes through the link).
        adapters: Session adapters for custom session types (by their
            ``manifest_type``/``manifest_version``); the link's and the built-in
            ones are used otherwise.
    """

    def __init__(
        self,
        link: Any,
        *,
        hub: Hub | None = None,
        adapters: list[SessionAdapter] | None = None,
        interceptors: Sequence[ClientInterceptor] = (),
    ) -> None:
        del hub  # the operator surface stays with the code that created the hub
        self._link = link
        #: code around every turn and post of this client's agents (``client.intercept``)
        self.interceptors: tuple[ClientInterceptor, ...] = tuple(interceptors)
        self._adapters: dict[tuple[str, int], SessionAdapter] = {
            (a.manifest.type, a.manifest.version): a for a in adapters or ()
        }
        self._connection: ClientConnection | None = None
        self._connecting: asyncio.Future[ClientConnection] | None = None
        self._clients: dict[str, AgentClient] = {}
        self._humans: dict[str, HumanClient] = {}
        self._closed = False
        self._lost = False
        self._names: dict[str, str] = {}  # agent id → name, as the hub told

    def __repr__(self) -> str:
        clients: list[AgentClient | HumanClient] = [*self._clients.values(), *self._humans.values()]
        names = [c.passport.name for c in clients]
        return f"HubClient(agents={names})"

    # -- properties ----------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True after ``close``."""
        return self._closed

    @property
    def connection(self) -> ClientConnection:
        """The protocol connection to the hub.

        Raises:
            RuntimeError: the client is closed or not connected yet.
            NetworkError: the connection ended — the error that ended it, with its code
                (``hub_shutdown``, ``slow_consumer``, ``connection_lost``, ...).
        """
        if self._closed:
            raise RuntimeError("HubClient is closed")
        if self._lost:
            assert self._connection is not None and self._connection.end_error is not None
            raise self._connection.end_error
        if self._connection is None:
            raise RuntimeError("HubClient is not connected (register an agent first)")
        return self._connection

    @property
    def connected(self) -> bool:
        """True while the connection to the hub is open."""
        return self._connection is not None and not self._closed and not self._lost

    @property
    def agents(self) -> dict[str, AgentClient]:
        """The registered agent clients by agent id (a copy)."""
        return dict(self._clients)

    @property
    def humans(self) -> dict[str, HumanClient]:
        """The registered human clients by agent id (a copy)."""
        return dict(self._humans)

    # -- connection ----------------------------------------------------------------------

    async def connect(self) -> ClientConnection:
        """Open the connection (idempotent; done by ``register``).

        Raises:
            RuntimeError: the client is closed.
            NetworkError: the hub refused the connection (``unauthenticated``, ...).
        """
        if self._closed:
            raise RuntimeError("HubClient is closed")
        if self._connection is not None:
            return self._connection
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._open())
        try:
            return await asyncio.shield(self._connecting)
        except BaseException:
            if self._connecting.done():
                self._connecting = None
            raise

    async def _open(self) -> ClientConnection:
        reconnect_for = float(getattr(self._link, "reconnect", 0) or 0)
        connection = ClientConnection(
            self._link.client(),
            on_delivery=self._route,
            on_end=self._on_end,
            reconnect=self._link.client if reconnect_for > 0 else None,
            reconnect_for=reconnect_for,
        )
        await connection.open()
        self._connection = connection
        return connection

    def _on_end(self, error: NetworkError) -> None:
        if not self._closed:
            self._lost = True  # ``connection`` raises ``error`` from now on
            log.info("the connection of %r ended: %s", self, error)

    def _route(
        self, recipient_id: str, envelope: Envelope, probe: dict[str, Any] | None = None
    ) -> None:
        client = self._clients.get(recipient_id)
        if client is not None:
            client._deliver(envelope, probe)
        elif recipient_id in self._humans:
            self._humans[recipient_id]._deliver(envelope)
        else:
            log.debug(
                "envelope %s for unknown agent %s dropped", envelope.envelope_id, recipient_id
            )

    def adapter(self, manifest_type: str, manifest_version: int = 1) -> SessionAdapter:
        """The adapter this client runs a session type's turns with.

        Raises:
            NotFoundError: no adapter for that type is known here (pass it in
                ``HubClient(..., adapters=[...])``).
        """
        key = (manifest_type, manifest_version)
        found = self._adapters.get(key)
        if found is None:
            offer = getattr(self._link, "adapter", None)
            found = offer(manifest_type, manifest_version) if offer is not None else None
            if found is None:
                found = _BUILT_IN.get(key)
            if found is None:
                raise NotFoundError(
                    f"no adapter for session type {manifest_type!r} v{manifest_version} in this "
                    "client; pass it in HubClient(..., adapters=[...])"
                )
            self._adapters[key] = found
        return found

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
        registration = await conn.register(passport, resume, skill_md=skill_md, rule=rule)
        client = AgentClient(
            agent=agent,
            passport=registration.passport,
            resume=registration.resume,
            rule=registration.rule,
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

    async def register_human(
        self,
        passport: Passport,
        *,
        resume: Resume | None = None,
        rule: Rule | None = None,
        auto_ack_invites: bool = True,
    ) -> HumanClient:
        """Register a person and return their HumanClient (no Agent, no model).

        The passport is registered with ``kind="human"`` whatever it says, so
        ``list_agents(kind="human")`` finds it. A name this client's principal
        already registered, and no live connection holds, is taken back (same id).

        Args:
            passport: Identity to register (the hub stamps ``agent_id``).
            resume: Capability claims (None: empty, or the stored one on re-register).
            rule: Governance (None: ``Rule()``, or the stored one on re-register).
            auto_ack_invites: Ack every session invite on arrival; False leaves it to
                ``HumanClient.accept_invite`` / ``reject_invite``.

        Raises:
            RuntimeError: the client is closed.
            InvalidValueError: an argument has the wrong type (the message names it).
            NameTakenError: the name is held by a live connection or another principal.
            StoreUnavailableError: the hub could not store the registration.
        """
        if self._closed:
            raise RuntimeError("HubClient is closed")
        _check_human_args(passport, resume, rule, auto_ack_invites)
        human = Passport.from_dict({**passport.to_dict(), "kind": "human"})
        conn = await self.connect()
        registration = await conn.register(human, resume, rule=rule)
        client = HumanClient(
            passport=registration.passport,
            resume=registration.resume,
            rule=registration.rule,
            hub_client=self,
            auto_ack_invites=auto_ack_invites,
        )
        self._humans[client.agent_id] = client
        return client

    async def unregister(self, agent_id: str) -> None:
        """Unregister one of this client's agents (or humans) and disconnect its client."""
        client: AgentClient | HumanClient | None = self._clients.pop(agent_id, None)
        if client is None:
            client = self._humans.pop(agent_id, None)
        try:
            if self.connected:
                await self.connection.call("unregister", agent_id=agent_id)
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
        humans, self._humans = list(self._humans.values()), {}
        everyone: list[AgentClient | HumanClient] = [*clients, *humans]
        for client in everyone:
            await client.disconnect()
        if self._connection is not None:
            await self._connection.close()

    async def shutdown(self) -> None:
        """Unregister every agent, then close."""
        for agent_id in [*self._clients, *self._humans]:
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
        meta = await client._create_session(
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

    async def can_send(
        self, session_id: str, sender_id: str, *, event_type: str | None = None
    ) -> bool:
        """Whether the hub would accept a send from ``sender_id`` right now."""
        return await self._caller(sender_id).can_send(session_id, event_type=event_type)

    async def adapter_for(
        self,
        session_id: str,
        *,
        as_agent: str | AgentClient | None = None,
        caller_id: str | None = None,
    ) -> SessionAdapter:
        """The adapter of a session (the caller must be a participant)."""
        return await self._caller(as_agent, caller_id).adapter_for(session_id)

    async def adapter_state(
        self,
        session_id: str,
        *,
        as_agent: str | AgentClient | None = None,
        caller_id: str | None = None,
    ) -> Any:
        """The session's adapter state (the caller must be a participant)."""
        return await self._caller(as_agent, caller_id).adapter_state(session_id)

    async def default_view_policy(self, session_id: str, participant_id: str) -> ViewPolicy:
        """The view policy the participant's turns use."""
        client = self._caller(participant_id)
        meta = await client.get_session(session_id)
        adapter = self.adapter(meta.manifest.type, meta.manifest.version)
        return adapter.default_view_policy(meta, participant_id)

    async def get_agent(self, name_or_id: str) -> Passport:
        """Look an agent up by name or id."""
        passport: Passport = await self.connection.call("get_agent", name_or_id=name_or_id)
        return passport

    async def get_passport(self, agent_id: str) -> Passport:
        """Alias of :meth:`get_agent`."""
        return await self.get_agent(agent_id)

    async def names_for(self, agent_ids: Iterable[str]) -> dict[str, str]:
        """The names of the agents with these ids (ids the hub has no name for are left out).

        Names are kept once learnt (an agent id's name never changes), so a view that
        shows names costs one request per new participant, not one per turn.
        """
        ids = [a for a in dict.fromkeys(agent_ids) if isinstance(a, str)]
        known = self._names
        wanted = [a for a in ids if a not in known]
        for start in range(0, len(wanted), MAX_NAMES):
            found: dict[str, str] = await self.connection.call(
                "names_for", agent_ids=wanted[start : start + MAX_NAMES]
            )
            if len(known) + len(found) > _NAME_CACHE:
                known.clear()
            known.update(found)
        return {a: known[a] for a in ids if a in known}

    async def name_for(self, agent_id: str) -> str | None:
        """The name of the agent with this id, or None (unknown, or since unregistered)."""
        return (await self.names_for([agent_id])).get(agent_id)

    async def find_agent_id(self, name: str) -> str | None:
        """The id of the agent registered under ``name`` now, or None."""
        found: str | None = await self.connection.call("find_agent_id", name=name)
        return found

    async def get_resume(self, agent_id: str) -> Resume:
        """An agent's resume."""
        resume: Resume = await self.connection.call("get_resume", agent_id=agent_id)
        return resume

    async def get_skill(self, agent_id: str) -> str | None:
        """An agent's SKILL.md, or None."""
        skill: str | None = await self.connection.call("get_skill", agent_id=agent_id)
        return skill

    async def list_agents(
        self,
        *,
        capability: str | None = None,
        query: str | None = None,
        kind: str | None = None,
        sort_by: str | None = None,
        limit: int = 50,
        online: bool | None = None,
    ) -> list[Passport]:
        """Discover agents by capability / summary text / kind; ``online=True`` lists
        only the agents with a live connection (``False``: only those without)."""
        found: list[Passport] = await self.connection.call(
            "list_agents",
            capability=capability,
            query=query,
            kind=kind,
            sort_by=sort_by,
            limit=limit,
            online=online,
        )
        return found

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
        await self.connection.call(
            "report_turn_failure",
            session_id=session_id,
            agent_id=agent_id,
            envelope_id=envelope_id,
            error_type=type(exc).__name__,
            error_message=str(exc),
        )

    # -- tasks (spec §20: the hub observes the tasks agents run) -------------------------

    async def observe_task(self, metadata: TaskMetadata) -> TaskMetadata:
        """Record a task one of this client's agents runs (its ``owner_id``); returns
        the hub's record."""
        md: TaskMetadata = await self.connection.call("observe_task", metadata=metadata)
        return md

    async def update_task(
        self,
        task_id: str,
        *,
        state: TaskState | str | None = None,
        progress: dict[str, Any] | None = None,
        result: Any = None,
        error: str | None = None,
    ) -> TaskMetadata:
        """Change a task of one of this client's agents; returns the hub's record
        (a terminal task comes back unchanged)."""
        md: TaskMetadata = await self.connection.call(
            "update_task",
            task_id=task_id,
            state=None if state is None else str(state),
            progress=progress,
            result=result,
            error=error,
        )
        return md

    async def get_task(self, task_id: str) -> TaskMetadata:
        """A task owned by one of this client's agents or in one of their sessions."""
        md: TaskMetadata = await self.connection.call("get_task", task_id=task_id)
        return md

    async def list_tasks(
        self,
        *,
        owner_id: str | None = None,
        session_id: str | None = None,
        state: TaskState | str | None = None,
        limit: int = 50,
    ) -> list[TaskMetadata]:
        """The tasks this client may read (see :meth:`get_task`), newest first."""
        found: list[TaskMetadata] = await self.connection.call(
            "list_tasks",
            owner_id=owner_id,
            session_id=session_id,
            state=None if state is None else str(state),
            limit=limit,
        )
        return found

    async def record_observation(
        self,
        agent_id: str,
        capability: str,
        outcome: TaskState | str,
        latency_ms: int | None = None,
        task_id: str | None = None,
    ) -> Resume:
        """Count a terminal outcome into one of this client's agents' track record
        (once per ``task_id``); returns the updated resume."""
        resume: Resume = await self.connection.call(
            "record_observation",
            agent_id=agent_id,
            capability=capability,
            outcome=str(outcome),
            latency_ms=latency_ms,
            task_id=task_id,
        )
        return resume

    async def observe(
        self,
        callback: Callable[[Envelope], None],
        *,
        session_id: str | None = None,
        event_types: list[str] | None = None,
        since_envelope_id: str | None = None,
    ) -> str:
        """Watch envelopes as the hub makes them durable (see ``ClientConnection.subscribe``);
        returns the subscription id for :meth:`stop_observing`."""
        conn = await self.connect()
        return await conn.subscribe(
            callback,
            session_id=session_id,
            event_types=event_types,
            since_envelope_id=since_envelope_id,
        )

    def stop_observing(self, subscription_id: str) -> None:
        """End a subscription made with :meth:`observe`."""
        self.connection.unsubscribe(subscription_id)

    async def wait_for_session_event(
        self,
        *,
        session_id: str,
        predicate: Predicate,
        timeout: float | None = 300.0,  # noqa: ASYNC109 - public API (spec §16.2)
    ) -> Envelope:
        """Wait on the inboxes of this client's agents (and humans) in the session (see
        AgentClient, HumanClient).

        Raises:
            asyncio.TimeoutError: nothing matched in time.
            ValueError: no agent is registered through this client.
        """
        clients: list[AgentClient | HumanClient] = [
            c for c in self._clients.values() if session_id in c._records
        ]
        clients += [h for h in self._humans.values() if session_id in h._sessions]
        if not clients:
            clients = [*self._clients.values(), *self._humans.values()]
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


def _check_human_args(passport: object, resume: object, rule: object, auto_ack: object) -> None:
    """Refuse ``register_human`` arguments of the wrong type before anything is sent."""
    if not isinstance(passport, Passport):
        raise InvalidValueError(
            f"register_human(passport=...) must be a Passport, got {type(passport).__name__}"
        )
    if resume is not None and not isinstance(resume, Resume):
        raise InvalidValueError(
            f"register_human(resume=...) must be a Resume or None, got {type(resume).__name__}"
        )
    if rule is not None and not isinstance(rule, Rule):
        raise InvalidValueError(
            f"register_human(rule=...) must be a Rule or None, got {type(rule).__name__}"
        )
    if not isinstance(auto_ack, bool):
        raise InvalidValueError(
            f"register_human(auto_ack_invites=...) must be True or False, got {auto_ack!r}"
        )


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
            "register(passport=...) has kind='human': a person registers with "
            "HubClient.register_human(passport), which needs no Agent, not with register()"
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
    me = client.agent_id
    try:
        metas = await client.list_sessions(limit=_ADOPT_LIMIT)
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
            except Exception:  # e.g. no adapter for its type here
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
                wal = await client.read_wal(record.session_id)
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


_BUILT_IN: dict[tuple[str, int], SessionAdapter] = {
    (a.manifest.type, a.manifest.version): a for a in default_adapters()
}
