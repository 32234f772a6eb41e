"""Connection: the hub's API bound to one link endpoint's identity.

Everything a client may do goes through its Connection, in-process and over a
wire alike: the protocol driver (:class:`~hubbub.network.transport.server.ServerConnection`)
calls the method named by each request's ``op`` with its decoded parameters.
The agents registered through a connection are the only identities it may act
as, and session reads/closes require being a participant. The Hub's own methods
stay the trusted operator surface.

A connection acts for one **principal**: the owner of the names it registers
(:data:`~hubbub.network.hub.registry.OPERATOR` in-process; a wire transport that
authenticates its peer passes the credential's subject). Registering a name the
principal already owns, while no live connection holds it, takes the agent back
with its id (see :meth:`Registry.register_agent`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hubbub.knowledge.base import read_lines_many, read_many
from hubbub.network.envelope import Envelope, visible_to
from hubbub.network.errors import (
    AccessDeniedError,
    InvalidValueError,
    ProtocolError,
)
from hubbub.network.hub.observers import Observer
from hubbub.network.hub.registry import OPERATOR, Registration, Registry
from hubbub.network.identity import Passport, Resume
from hubbub.network.protocol.ops import MAX_NAMES
from hubbub.network.rule import Rule
from hubbub.network.session import SessionMetadata
from hubbub.task import TaskMetadata, TaskState

if TYPE_CHECKING:
    from hubbub.network.hub.core import Hub
    from hubbub.network.hub.pipeline import Pipeline
    from hubbub.network.hub.router import Router
    from hubbub.network.hub.table import SessionTable
    from hubbub.network.hub.tasks import TaskTable

__all__ = ["Connection"]

#: What one operator store read answers at most: text bytes, paths, lines.
_READ_BUDGET = 512 * 1024
_READ_MAX_PATHS = 4096
_READ_MAX_LINES = 4096


def _fitting(texts: Sequence[str | None], budget: int) -> int:
    """How many of the first texts add up to at most ``budget`` (at least one)."""
    total = 0
    for i, text in enumerate(texts):
        total += 16 + (len(text) if text is not None else 0)
        if total > budget and i > 0:
            return i
    return len(texts)


class Connection:
    """Authorised access to the hub for the agents registered through one endpoint.

    Args:
        hub: the hub.
        endpoint: the link endpoint deliveries go to.
        principal: who registers through this connection (owner of its names).
        sessions: the hub's session table (lookups).
        pipeline: the hub's post pipeline (admission).
        router: the hub's router (bindings, deliveries, observers).
        registry: the hub's registry (registration as this principal).
        tasks: the hub's task table (tasks of this connection's agents).
    """

    def __init__(
        self,
        hub: Hub,
        endpoint: Any,
        *,
        principal: str = OPERATOR,
        sessions: SessionTable,
        pipeline: Pipeline,
        router: Router,
        registry: Registry,
        tasks: TaskTable,
    ) -> None:
        if not isinstance(principal, str) or not principal:
            raise InvalidValueError(f"principal must be a non-empty string, got {principal!r}")
        self.hub = hub
        self._sessions = sessions
        self._admit = pipeline.admit
        self._router = router
        self._registry = registry
        self._tasks = tasks
        self.endpoint = endpoint
        self.endpoint_id: str = endpoint.endpoint_id
        self.principal = principal
        self.agent_ids: set[str] = set()
        self._closed = False

    # ------------------------------------------------------------------ checks

    def _own(self, agent_id: str) -> None:
        if self._closed:
            raise ProtocolError("connection is closed")
        if type(agent_id) is not str or agent_id not in self.agent_ids:
            raise AccessDeniedError(f"agent {agent_id!r} is not registered through this connection")

    async def _participant(self, session_id: str, caller_id: str) -> SessionMetadata:
        self._own(caller_id)
        live = await self._sessions.find(session_id)
        if not live.meta.is_participant(caller_id):
            raise AccessDeniedError(f"{caller_id} is not a participant of session {session_id}")
        return live.meta

    # ------------------------------------------------------------------ identity

    async def register(
        self,
        passport: Passport,
        resume: Resume | None = None,
        *,
        skill_md: str | None = None,
        rule: Rule | None = None,
    ) -> Registration:
        """Register as this connection's principal and deliver the agent's envelopes here.

        ``Registration.existing`` is True when the name's agent id came back (a
        re-registration); its live sessions then continue with this connection.

        Raises:
            ProtocolError: the connection or the hub is closed.
            InvalidValueError, AuthError, NameTakenError, StoreUnavailableError: see
                :meth:`Registry.register_agent`.
        """
        if self._closed:
            raise ProtocolError("connection is closed")
        if self.hub.closed:
            raise ProtocolError("hub is closed")
        registration = await self._registry.register_agent(
            passport, resume, skill_md=skill_md, rule=rule, principal=self.principal
        )
        agent_id = registration.passport.agent_id
        assert agent_id is not None
        if self._closed:  # closed while the records were written: the agent stays unbound
            raise ProtocolError("connection is closed")
        self.agent_ids.add(agent_id)
        self._router.bind(self.endpoint_id, agent_id)
        return registration

    async def missed(self, session_id: str, agent_id: str, since: int) -> list[Envelope]:
        """What the hub delivered to an own agent in a session after sequence ``since``
        (read back from the WAL, by the rules of live delivery): what a client that
        reconnects with that cursor has not seen."""
        wal = await self.read_wal(session_id, caller_id=agent_id, since=since)
        return [e for e in wal if self._router.delivered_to(e, agent_id)]

    async def unregister(self, agent_id: str) -> None:
        """Unregister one of this connection's agents."""
        self._own(agent_id)
        self.agent_ids.discard(agent_id)
        await self.hub.unregister(agent_id)

    async def get_agent(self, name_or_id: str) -> Passport:
        """A passport by name or id."""
        return await self.hub.get_agent(name_or_id)

    def names_for(self, agent_ids: list[str]) -> dict[str, str]:
        """The names of the registered agents among ``agent_ids`` (unknown ids are left out).

        Raises:
            InvalidValueError: more than :data:`MAX_NAMES` ids in one call.
        """
        if len(agent_ids) > MAX_NAMES:
            raise InvalidValueError(
                f"names_for: at most {MAX_NAMES} agent_ids per call, got {len(agent_ids)}"
            )
        name_for = self.hub.name_for
        names = {}
        for agent_id in agent_ids:
            name = name_for(agent_id)
            if name is not None:
                names[agent_id] = name
        return names

    def find_agent_id(self, name: str) -> str | None:
        """The id of the agent registered under ``name``, or None."""
        return self.hub.find_agent_id(name)

    async def get_resume(self, agent_id: str) -> Resume:
        """An agent's resume."""
        return await self.hub.get_resume(agent_id)

    async def get_skill(self, agent_id: str) -> str | None:
        """An agent's SKILL.md or None."""
        return await self.hub.get_skill(agent_id)

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
        """Registered agents matching the filters (see Hub.list_agents); ``online``
        True/False keeps only the agents with / without a live connection."""
        return await self.hub.list_agents(
            capability=capability,
            query=query,
            kind=kind,
            sort_by=sort_by,
            limit=limit,
            online=online,
        )

    async def set_resume(self, agent_id: str, resume: Resume) -> Resume:
        """Replace an own agent's resume."""
        self._own(agent_id)
        return await self.hub.set_resume(agent_id, resume)

    async def set_skill(self, agent_id: str, skill_md: str | None) -> None:
        """Replace or delete an own agent's skill."""
        self._own(agent_id)
        await self.hub.set_skill(agent_id, skill_md)

    async def set_rule(self, agent_id: str, rule: Rule) -> Rule:
        """Replace an own agent's rule."""
        self._own(agent_id)
        return await self.hub.set_rule(agent_id, rule)

    # ------------------------------------------------------------------ sessions

    async def create_session(
        self,
        *,
        creator_id: str,
        manifest_type: str,
        participants: list[str],
        manifest_version: int = 1,
        ttl: str | int | None = None,
        knobs: dict[str, Any] | None = None,
        intent: str | None = None,
        labels: dict[str, str] | None = None,
        wait_online: float | None = None,
    ) -> SessionMetadata:
        """Create a session as one of this connection's agents; returns when ACTIVE.

        Every other participant must have a live connection: one that has none
        fails the call at once with ``agent_offline`` — or, with ``wait_online``
        seconds, once that long has passed without it connecting.
        """
        self._own(creator_id)
        offline = await self.hub.wait_online(
            [p for p in participants if p != creator_id], timeout=wait_online or 0.0
        )
        if offline:
            raise ProtocolError(
                f"create_session: participant(s) {offline} have no live connection "
                + (f"(waited {wait_online:g} s)" if wait_online else "(pass wait_online= to wait)"),
                code="agent_offline",
            )
        return await self.hub.create_session(
            creator_id=creator_id,
            manifest_type=manifest_type,
            participants=participants,
            manifest_version=manifest_version,
            ttl=ttl,
            knobs=knobs,
            intent=intent,
            labels=labels,
        )

    async def post(self, envelope: Envelope) -> Envelope:
        """Admit an envelope whose sender is one of this connection's agents; returns the stamped copy.

        An envelope whose ``idempotency_key`` its sender already used in the
        session is not written again: the first admission's id and sequence come back.
        """
        if not isinstance(envelope, Envelope):
            raise ProtocolError(
                f"expected an Envelope, got {type(envelope).__name__}", code="bad_envelope"
            )
        self._own(envelope.sender_id)  # type-checks the sender; _admit checks the rest
        if self.hub.closed:
            raise ProtocolError("hub is closed")
        return await self._admit(envelope)

    async def close_session(
        self, session_id: str, *, caller_id: str, reason: str = ""
    ) -> SessionMetadata:
        """Close a session the caller participates in."""
        await self._participant(session_id, caller_id)
        return await self.hub.close_session(session_id, reason=reason)

    async def get_session(self, session_id: str, *, caller_id: str) -> SessionMetadata:
        """A session's metadata, for a participant."""
        return (await self._participant(session_id, caller_id)).copy()

    async def list_sessions(
        self, *, caller_id: str, include_terminal: bool = False, limit: int = 50
    ) -> list[SessionMetadata]:
        """Sessions the caller participates in."""
        self._own(caller_id)
        return await self.hub.list_sessions(
            agent_id=caller_id, include_terminal=include_terminal, limit=limit
        )

    async def read_wal(
        self, session_id: str, *, caller_id: str, since: int = 0, until: int | None = None
    ) -> list[Envelope]:
        """The part of a session's WAL visible to the caller (a participant)."""
        await self._participant(session_id, caller_id)
        return [
            e
            for e in await self.hub.read_wal(session_id, since=since, until=until)
            if visible_to(e, caller_id)
        ]

    def can_send(self, session_id: str, sender_id: str, *, event_type: str | None = None) -> bool:
        """Would the hub admit a blank envelope from an own agent right now?"""
        if sender_id not in self.agent_ids:
            return False
        return self._sessions.can_send(session_id, sender_id, event_type)

    def turn_probe(self, session_id: str, *, caller_id: str) -> dict[str, Any]:
        """What a turn starts with: ``{"can_send": bool, "state": adapter_state}``."""
        state = self.adapter_state(session_id, caller_id=caller_id)
        return {"can_send": self.can_send(session_id, caller_id), "state": state}

    def delivery_probe(self, session_id: str, recipient_id: str) -> dict[str, Any]:
        """The turn probe a delivery carries: the state only when the recipient may
        reply (a recipient whose turn it is not runs no turn, so needs none)."""
        if not self.can_send(session_id, recipient_id):
            return {"can_send": False, "state": None}
        return {"can_send": True, "state": self.adapter_state(session_id, caller_id=recipient_id)}

    async def usage(self, *, agent_id: str, session_id: str | None = None) -> dict[str, Any]:
        """An own agent's usage totals (``Hub.usage``), in one session or overall."""
        self._own(agent_id)
        return await self.hub.usage(agent_id=agent_id, session_id=session_id)

    def adapter_state(self, session_id: str, *, caller_id: str) -> Any:
        """A session's adapter state as its adapter dumps it (JSON-ready), for a participant."""
        self._own(caller_id)
        live = self._sessions.require(session_id)
        if not live.meta.is_participant(caller_id):
            raise AccessDeniedError(f"{caller_id} is not a participant of session {session_id}")
        adapter = live.adapter
        if adapter is None:
            return None
        dump = getattr(adapter, "dump_state", None)
        return dump(live.state) if dump is not None else None

    # ------------------------------------------------------------------ operator reads

    def _operator(self, op: str) -> None:
        if self._closed:
            raise ProtocolError("connection is closed")
        if self.principal != OPERATOR:
            raise AccessDeniedError(
                f"{op}: only the operator may read the hub's store "
                f"(this connection is {self.principal!r}; hubbub serve --operator-token)"
            )

    async def store_list(self, path: str = "/") -> list[str]:
        """Operator only: the names under ``path`` in the hub's store (``KnowledgeStore.list``)."""
        self._operator("store_list")
        return await self._sessions.store.list(path)

    async def store_read(self, paths: list[str]) -> list[str | None]:
        """Operator only: the files at ``paths``, in order — as many as fit in one answer
        (about half a MiB, at least one); the caller asks again for the rest."""
        self._operator("store_read")
        texts = await read_many(self._sessions.store, paths[:_READ_MAX_PATHS])
        return texts[: _fitting(texts, _READ_BUDGET)]

    async def store_read_lines(
        self, path: str, start: int = 0, end: int | None = None
    ) -> list[str]:
        """Operator only: lines ``[start, end)`` of a file — as many as fit in one answer."""
        self._operator("store_read_lines")
        if start < 0 or (end is not None and end < start):
            raise InvalidValueError(
                f"store_read_lines: start/end must be 0 <= start <= end, got {start}, {end}"
            )
        stop = start + _READ_MAX_LINES if end is None else min(end, start + _READ_MAX_LINES)
        lines = await self._sessions.store.read_lines(path, start, stop)
        return lines[: _fitting(lines, _READ_BUDGET)]

    async def store_read_lines_many(self, paths: list[str], starts: list[int]) -> list[Any]:
        """Operator only: ``[lines, more]`` for each ``(path, start)`` — the lines from
        ``start`` and whether there are more after them; as many requests as fit in one
        answer (at least one), the caller asks again for the rest."""
        self._operator("store_read_lines_many")
        if len(paths) != len(starts):
            raise InvalidValueError(
                f"store_read_lines_many: {len(paths)} paths but {len(starts)} starts"
            )
        count = min(len(paths), _READ_MAX_PATHS)
        requests = [(p, s) for p, s in zip(paths[:count], starts[:count], strict=True)]
        results = await read_lines_many(self._sessions.store, requests)
        out: list[Any] = []
        budget = _READ_BUDGET
        for lines in results:
            fit = _fitting(lines, budget)
            more = fit < len(lines)
            out.append([lines[:fit], more])
            budget -= sum(16 + len(line) for line in lines[:fit])
            if more or budget <= 0:
                break
        return out

    async def store_line_counts(self, paths: list[str]) -> list[int]:
        """Operator only: the line count of every path (0 for a missing file)."""
        self._operator("store_line_counts")
        store = self._sessions.store
        out: list[int] = []
        for i in range(0, len(paths), 256):
            out.extend(await asyncio.gather(*(store.line_count(p) for p in paths[i : i + 256])))
        return out

    # ------------------------------------------------------------------ tasks

    async def observe_task(self, metadata: TaskMetadata) -> TaskMetadata:
        """Record a task one of this connection's agents runs (its ``owner_id``).

        Raises:
            AccessDeniedError: the owner is not an agent of this connection, or the
                task id belongs to another agent's task.
            InvalidValueError, NotFoundError, ProtocolError: see :meth:`TaskTable.observe`.
        """
        self._own(getattr(metadata, "owner_id", None))  # type: ignore[arg-type]
        return await self._tasks.observe(metadata)

    async def update_task(
        self,
        task_id: str,
        *,
        state: TaskState | str | None = None,
        progress: dict[str, Any] | None = None,
        result: Any = None,
        error: str | None = None,
    ) -> TaskMetadata:
        """Change a task of one of this connection's agents (AccessDeniedError otherwise)."""
        md = await self._tasks.find(task_id)
        if self._closed:
            raise ProtocolError("connection is closed")
        if md.owner_id not in self.agent_ids:
            raise AccessDeniedError(
                f"task {task_id} belongs to {md.owner_id}, which is not registered through "
                "this connection"
            )
        return await self._tasks.update(
            task_id, state=state, progress=progress, result=result, error=error
        )

    async def get_task(self, task_id: str) -> TaskMetadata:
        """A task owned by one of this connection's agents or in a session one of them
        participates in (AccessDeniedError otherwise)."""
        md = await self._tasks.find(task_id)
        if not self._tasks.readable(md, self.agent_ids):
            raise AccessDeniedError(
                f"task {task_id} is neither owned by an agent of this connection nor in one "
                "of their sessions"
            )
        return await self._tasks.get(task_id)

    async def list_tasks(
        self,
        *,
        owner_id: str | None = None,
        session_id: str | None = None,
        state: str | None = None,
        limit: int = 50,
    ) -> list[TaskMetadata]:
        """The tasks :meth:`get_task` may read, matching every filter, newest first."""
        return self._tasks.select(
            owner_id=owner_id,
            session_id=session_id,
            state=state,
            limit=limit,
            visible=set(self.agent_ids),
        )

    async def record_observation(
        self,
        *,
        agent_id: str,
        capability: str,
        outcome: TaskState | str,
        latency_ms: int | None = None,
        task_id: str | None = None,
    ) -> Resume:
        """Count a terminal outcome into an own agent's track record."""
        self._own(agent_id)
        return await self._tasks.record_observation(
            agent_id, capability, outcome, latency_ms, task_id=task_id
        )

    async def save_checkpoint(self, *, agent_id: str, key: str, data: dict[str, Any]) -> None:
        """Keep a task checkpoint of an own agent."""
        self._own(agent_id)
        await self._tasks.checkpoints.save(agent_id, key, data)

    async def load_checkpoint(self, *, agent_id: str, key: str) -> dict[str, Any] | None:
        """A task checkpoint of an own agent, or None."""
        self._own(agent_id)
        return await self._tasks.checkpoints.load(agent_id, key)

    async def delete_checkpoint(self, *, agent_id: str, key: str) -> None:
        """Forget a task checkpoint of an own agent."""
        self._own(agent_id)
        await self._tasks.checkpoints.delete(agent_id, key)

    # ------------------------------------------------------------------ delivery

    def receipt(self, recipient_id: str) -> None:
        """An own agent finished handling a delivered envelope."""
        if recipient_id in self.agent_ids:
            self._router.receipt(recipient_id)

    async def report_turn_failure(
        self,
        *,
        session_id: str,
        agent_id: str,
        envelope_id: str,
        error_type: str,
        error_message: str = "",
    ) -> None:
        """Audit a failed turn of an own agent."""
        self._own(agent_id)
        await self.hub.report_turn_failure(
            session_id=session_id,
            agent_id=agent_id,
            envelope_id=envelope_id,
            error_type=error_type,
            error_message=error_message,
        )

    async def subscribe(
        self,
        subscription_id: str,
        *,
        session_id: str | None = None,
        event_types: list[str] | None = None,
        since_envelope_id: str | None = None,
    ) -> Observer:
        """Start observing a session's envelopes (see :mod:`~hubbub.network.hub.observers`);
        live ones are held until :meth:`backfill` sends the backlog.

        The operator may observe every session (``session_id=None``); any other
        principal observes a session one of its agents participates in, and sees
        what those agents may see. ``since_envelope_id`` starts with what the WAL
        holds after that envelope ("" : from the beginning; None: only new ones).

        Raises:
            InvalidValueError: a bad argument (named).
            AccessDeniedError: not the operator and no own agent participates.
            NotFoundError: unknown session.
        """
        if self._closed:
            raise ProtocolError("connection is closed")
        for name, value in (("session_id", session_id), ("since_envelope_id", since_envelope_id)):
            if value is not None and type(value) is not str:
                raise InvalidValueError(f"subscribe: {name} must be a string or null")
        if event_types is not None and not (
            isinstance(event_types, list) and all(type(t) is str for t in event_types)
        ):
            raise InvalidValueError("subscribe: event_types must be a list of strings or null")
        viewers: frozenset[str] | None = None
        if self.principal != OPERATOR or session_id is not None:
            if session_id is None:
                raise AccessDeniedError("subscribe: only the operator may observe every session")
            meta = (await self._sessions.find(session_id)).meta
            if self.principal != OPERATOR:
                viewers = frozenset(a for a in self.agent_ids if meta.is_participant(a))
                if not viewers:
                    raise AccessDeniedError(
                        f"subscribe: no agent of this connection participates in session {session_id}"
                    )
        observer = Observer(
            self.endpoint,
            subscription_id,
            session_id,
            None if event_types is None else frozenset(event_types),
            viewers,
        )
        self._router.subscribe(self.endpoint_id, observer)
        return observer

    async def backfill(self, observer: Observer, since_envelope_id: str | None) -> None:
        """Send an observer what its session's WAL holds after ``since_envelope_id``
        (nothing for None), then the live envelopes held meanwhile."""
        backlog: list[Envelope] = []
        try:
            if since_envelope_id is not None and observer.session_id is not None:
                wal = await self.hub.read_wal(observer.session_id)
                start = 0
                if since_envelope_id:
                    ids = [e.envelope_id for e in wal]
                    start = ids.index(since_envelope_id) + 1 if since_envelope_id in ids else 0
                backlog = wal[start:]
        finally:
            observer.backfill(backlog)

    def unsubscribe(self, subscription_id: str) -> None:
        """Stop an observer of this connection."""
        self._router.unsubscribe(self.endpoint_id, subscription_id)

    def mark_closed(self) -> None:
        """Refuse every further call (the hub is shutting down)."""
        self._closed = True

    def detach(self) -> None:
        """Detach from the hub (agents stay registered but receive nothing); idempotent."""
        if self._closed:
            return
        self._closed = True
        self._router.detach(self.endpoint_id)
