"""The Hub: the single authority over agents, sessions, their WALs and the audit log.

``Hub`` is a facade over parts that each own their state:

* :class:`~hubbub.network.hub.registry.Registry` — agents, their records and indexes;
* :class:`~hubbub.network.hub.table.SessionTable` — live, cached and quarantined
  sessions, the TTL heap, manifests and the open-session index;
* :class:`~hubbub.network.hub.router.Router` — endpoints, connections, presence,
  inbox counts, observers; who gets a durable envelope;
* :class:`~hubbub.network.hub.pipeline.Pipeline` — admission, the append chains,
  decisions and their retries;
* :class:`~hubbub.network.hub.opening.SessionOpener` — creating a session;
* :class:`~hubbub.network.hub.sweepers.Sweepers` — the periodic jobs;
* :class:`~hubbub.network.hub.tasks.TaskTable` — observed tasks, track records, checkpoints;
* :class:`~hubbub.network.hub.audit.AuditLog`.

The hub builds them, hands each what it needs, and keeps the operator API.
A session's lifecycle state is the fold of its lifecycle envelopes, so recovery
(``hydrate``) is a fold of every WAL and nothing else.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from hubbub.knowledge import KnowledgeStore
from hubbub.network.adapters import default_adapters
from hubbub.network.adapters.base import SessionAdapter
from hubbub.network.auth import AuthRegistry
from hubbub.network.clock import Clock, iso_to_seconds, system_clock
from hubbub.network.envelope import Envelope
from hubbub.network.errors import InvalidValueError, ProtocolError
from hubbub.network.expectations import ExpectationEvaluator, default_evaluators
from hubbub.network.hub import recovery
from hubbub.network.hub.arbiter import HubArbiter, RuleBasedArbiter
from hubbub.network.hub.audit import AUDIT_KIND_TURN_FAILED, AuditLog
from hubbub.network.hub.connection import Connection
from hubbub.network.hub.intercept import HubInterceptor, hooks_of
from hubbub.network.hub.listeners import HubListener, ReportedTurnFailure
from hubbub.network.hub.lock import StoreLock
from hubbub.network.hub.opening import SessionOpener
from hubbub.network.hub.pipeline import Pipeline
from hubbub.network.hub.registry import OPERATOR, Registry
from hubbub.network.hub.retention import prune_closed
from hubbub.network.hub.router import Router
from hubbub.network.hub.seam import HubSeam
from hubbub.network.hub.snapshots import write_due_snapshots
from hubbub.network.hub.stamps import StampClock
from hubbub.network.hub.sweepers import Sweepers
from hubbub.network.hub.table import SessionTable
from hubbub.network.hub.tasks import TaskTable
from hubbub.network.hub.usage import HubUsage
from hubbub.network.hub.violations import ViolationHandler, default_handlers, run_expectation_tick
from hubbub.network.identity import Passport, Resume
from hubbub.network.rule import Rule
from hubbub.network.session import SessionMetadata, SessionState
from hubbub.network.views import ViewPolicy
from hubbub.task import TaskMetadata, TaskState

__all__ = ["Hub"]

log = logging.getLogger("hubbub.hub")


class Hub:
    """Registry, session authority, WAL, audit log and dispatcher in one process.

    Args:
        store: where everything is persisted.
        auth: credential schemes for registration (default: NoAuth only).
        clock: ISO-8601 time source (inject ``MockClock`` in tests).
        ttl_sweep_interval: seconds between TTL sweeps (0 disables the sweeper).
        expectation_sweep_interval: seconds between expectation sweeps (0 disables).
        invite_ack_timeout: seconds ``create_session`` waits for every invitee's ack.
        max_envelope_bytes: largest admitted envelope (its WAL line), in bytes.
        closed_cache_size: closed sessions kept in memory for inspection; older
            ones are read back from the store on demand.
        strict: raise ``ReplayError`` at open for a session whose WAL does not
            replay, instead of quarantining it.
        interceptors: code on the pipeline seam around every admitted envelope
            (``hubbub.network.hub.intercept``; e.g. tracing), the first outermost.
    """

    def __init__(
        self,
        store: KnowledgeStore,
        *,
        auth: AuthRegistry | None = None,
        clock: Clock | None = None,
        ttl_sweep_interval: float = 30.0,
        expectation_sweep_interval: float = 10.0,
        invite_ack_timeout: float = 30.0,
        max_envelope_bytes: int = 1 << 20,
        closed_cache_size: int = 1024,
        snapshot_interval: float = 30.0,
        snapshot_every: int = 200,
        retention_seconds: float = 0.0,
        retention_sweep_interval: float = 3600.0,
        archive_store: KnowledgeStore | None = None,
        strict: bool = False,
        interceptors: Sequence[HubInterceptor] = (),
    ) -> None:
        self._store = store
        self._clock: Clock = clock or system_clock
        self._auth = auth or AuthRegistry.default()
        self.ttl_sweep_interval = ttl_sweep_interval
        self.expectation_sweep_interval = expectation_sweep_interval
        self.snapshot_interval = snapshot_interval
        self.snapshot_every = snapshot_every
        self.retention_seconds = retention_seconds
        self.retention_sweep_interval = retention_sweep_interval
        self.archive_store = archive_store
        self._seam = HubSeam(AuditLog(store, clock=self._clock), RuleBasedArbiter())
        self._registry = Registry(store, self._clock, self._seam, self._auth)
        self._table = SessionTable(store, self._seam, closed_cache_size=closed_cache_size)
        self._evaluators: dict[str, ExpectationEvaluator] = {}
        self._handlers: dict[str, ViolationHandler] = {}
        self._router = Router(self._registry, self._seam)
        self._registry.live = self._router.is_online  # a bound name is name_taken
        self._stamp_clock = StampClock(self._clock)
        self._pipeline = Pipeline(
            store,
            self._stamp_clock,
            self._registry,
            self._table,
            self._router,
            self._seam,
            max_envelope_bytes=max_envelope_bytes,
        )
        self._opener = SessionOpener(
            self._registry,
            self._table,
            self._pipeline,
            self._seam,
            self._clock,
            invite_ack_timeout=invite_ack_timeout,
        )
        self._tasks = TaskTable(store, self._clock, self._seam, self._registry, self._table)
        self._pipeline.on_terminated.append(self._tasks.session_ended)
        self._usage = HubUsage(store)
        self._pipeline.durable_hooks.append(self._usage.on_durable)
        self._interceptors: tuple[Any, ...] = ()
        for interceptor in interceptors:
            self.register_interceptor(interceptor)
        self._sweepers = Sweepers()
        self._closed_hub = False
        self._owns_store = False
        self._lock = StoreLock(store)
        self.strict = strict

    @property
    def invite_ack_timeout(self) -> float:
        """Seconds ``create_session`` waits for every invitee's ack."""
        return self._opener.invite_ack_timeout

    @invite_ack_timeout.setter
    def invite_ack_timeout(self, seconds: float) -> None:
        self._opener.invite_ack_timeout = seconds

    @property
    def max_envelope_bytes(self) -> int:
        """The largest admitted envelope (its WAL line), in bytes."""
        return self._pipeline.max_envelope_bytes

    @max_envelope_bytes.setter
    def max_envelope_bytes(self, size: int) -> None:
        self._pipeline.max_envelope_bytes = size

    # ================================================================ lifecycle

    @classmethod
    async def open(
        cls,
        store: KnowledgeStore | str | os.PathLike[str],
        *,
        register_default_adapters: bool = True,
        **kwargs: Any,
    ) -> Hub:
        """Construct, register the built-in adapters/evaluators/handlers, hydrate, start sweepers.

        ``store`` may be a path: the hub then runs on its own ``SqliteKnowledgeStore``
        (the embedded durable default) at that path and closes it in ``close()``.
        """
        owned = False
        if isinstance(store, str | os.PathLike):
            from hubbub.knowledge.sqlite import SqliteKnowledgeStore

            store = SqliteKnowledgeStore(os.fspath(store))
            owned = True
        hub = cls(store, **kwargs)
        hub._owns_store = owned
        try:
            await hub._lock.acquire()
        except BaseException:
            if owned:
                await store.close()
            raise
        if register_default_adapters:
            for adapter in default_adapters():
                hub.register_adapter(adapter)
            for evaluator in default_evaluators():
                hub.register_expectation_evaluator(evaluator)
            for name, handler in default_handlers().items():
                hub.register_violation_handler(handler, name=name)
        try:
            await hub.hydrate()
        except BaseException:
            await hub._lock.release()
            if owned:
                await store.close()
            raise
        await hub.start()
        log.info(
            "hub open on %s: %d live session(s), %d agent(s), %d quarantined",
            type(hub._store).__name__,
            len(hub._table.live),
            len(hub._registry.passports),
            len(hub._table.quarantined),
        )
        return hub

    async def start(self) -> None:
        """Start the TTL, expectation and custom sweepers (idempotent)."""
        sweepers = self._sweepers
        if sweepers.started:
            return
        if self.ttl_sweep_interval > 0:
            sweepers.register_default("ttl", self.ttl_sweep_interval, self.expire_due)
        if self.expectation_sweep_interval > 0:
            sweepers.register_default(
                "expectations", self.expectation_sweep_interval, self.check_expectations
            )
        if self.snapshot_interval > 0:
            sweepers.register_default("snapshots", self.snapshot_interval, self.write_snapshots)
        if self.ttl_sweep_interval > 0:
            sweepers.register_default("decisions", _RETRY_INTERVAL, self.retry_decisions)
        if self.retention_seconds > 0 and self.retention_sweep_interval > 0:
            sweepers.register_default("retention", self.retention_sweep_interval, self.prune_closed)
        sweepers.start()

    def register_sweeper(
        self, name: str, interval_seconds: float, fn: Callable[[], Awaitable[object]]
    ) -> None:
        """Run ``fn`` every ``interval_seconds`` (replaces a sweeper of the same name).

        Raises:
            InvalidValueError: ``interval_seconds`` is not a positive finite number.
        """
        self._sweepers.register(name, interval_seconds, fn)

    async def unregister_sweeper(self, name: str) -> None:
        """Stop and forget a sweeper; unknown names are ignored."""
        await self._sweepers.unregister(name)

    async def close(self) -> None:
        """Stop sweepers, fail pending opens and close every attached endpoint (idempotent).

        The store is the caller's: it is not closed here.
        """
        if self._closed_hub:
            return
        self._closed_hub = True
        await self._sweepers.stop()
        await self._usage.stop()
        await self._pipeline.drain()  # tails finishing posts for callers that went away
        try:
            await self.write_snapshots(min_new=1)
        except Exception:
            log.exception("snapshots at close failed")
        self._pipeline.abort_handshakes()
        await self._seam.close(_LISTENER_CLOSE_TIMEOUT)  # listeners hear everything up to here
        await self._router.close()
        await self._lock.release()
        log.info("hub closed")
        if self._owns_store:
            await self._store.close()

    async def __aenter__(self) -> Hub:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ================================================================ extension points

    def register_adapter(self, adapter: SessionAdapter) -> None:
        """Make a session type available under ``(manifest.type, manifest.version)`` (replaces)."""
        self._table.adapters[(adapter.manifest.type, adapter.manifest.version)] = adapter

    def register_expectation_evaluator(self, evaluator: ExpectationEvaluator) -> None:
        """Make an evaluator available under its ``name``."""
        self._evaluators[evaluator.name] = evaluator

    def register_violation_handler(
        self, handler: ViolationHandler, *, name: str | None = None
    ) -> None:
        """Make a violation handler available under ``name`` (default: its ``name``)."""
        self._handlers[name or handler.name] = handler

    @property
    def audit_log(self) -> AuditLog:
        """The hub's audit log (the sink every audit record goes to)."""
        return self._seam.audit

    def replace_audit_log(self, audit_log: AuditLog) -> AuditLog:
        """Send every audit record from now on to ``audit_log``; returns the one replaced.

        ``audit_log`` is an :class:`AuditLog` (or a subclass: override ``append`` to
        also write records elsewhere, calling ``super().append``). Records already
        written stay where they are, and subscribers of the old log stay with it.
        A log on a store that already holds audit segments should be opened
        (``await audit_log.open()``) first, so it continues after its last segment.
        Health's ``audit_log_bytes`` counts the new log's bytes.

        Raises:
            InvalidValueError: ``audit_log`` is not an AuditLog.
        """
        if not isinstance(audit_log, AuditLog):
            raise InvalidValueError(
                f"replace_audit_log: expected an AuditLog, got {type(audit_log).__name__}"
            )
        old, self._seam.audit = self._seam.audit, audit_log
        return old

    # ---------------------------------------------------------------- listeners, arbiter

    def register_listener(self, listener: HubListener) -> None:
        """Add a listener (spec §15): it hears every hub event after those registered before.

        A listener's exceptions are logged and never reach the hub; events are
        delivered in order by one task (:meth:`flush_listeners` waits for them).
        """
        self._seam.register(listener)

    def unregister_listener(self, listener: HubListener) -> None:
        """Remove a listener; unknown ones are ignored."""
        self._seam.unregister(listener)

    @property
    def listeners(self) -> list[HubListener]:
        """The registered listeners, in registration (and calling) order."""
        return list(self._seam.listeners)

    async def flush_listeners(self) -> None:
        """Wait until every event so far has reached every listener."""
        await self._seam.flush()

    @property
    def interceptors(self) -> tuple[HubInterceptor, ...]:
        """The interceptors, outermost first (``hubbub.network.hub.intercept``)."""
        return self._interceptors

    def register_interceptor(self, interceptor: HubInterceptor) -> None:
        """Run ``interceptor`` around every admission from now on, inside those before it
        (``await interceptor.intercept_admit(envelope, call_next)``), and/or tell it of
        every durable envelope (``interceptor.on_durable(envelope)``). Adding one twice
        is a no-op. For tracing and metrics that need an admission's duration or its
        outcome in the posting task (listeners hear of it later).

        Raises:
            InvalidValueError: it has neither ``intercept_admit`` nor ``on_durable``.
        """
        admit, durable = hooks_of(interceptor)
        if not (admit or durable):
            raise InvalidValueError(
                f"register_interceptor: {type(interceptor).__name__} has neither "
                "intercept_admit nor on_durable"
            )
        if interceptor in self._interceptors:
            return
        self._interceptors = (*self._interceptors, interceptor)
        if admit:
            self._seam.add_interceptor(interceptor)
        if durable:
            self._pipeline.durable_hooks.append(interceptor.on_durable)

    def unregister_interceptor(self, interceptor: HubInterceptor) -> None:
        """Stop running an interceptor; unknown ones are ignored."""
        if interceptor not in self._interceptors:
            return
        self._interceptors = tuple(x for x in self._interceptors if x is not interceptor)
        self._seam.remove_interceptor(interceptor)
        if hooks_of(interceptor)[1]:  # its bound on_durable compares equal to the one added
            self._pipeline.durable_hooks.remove(interceptor.on_durable)

    def register_arbiter(self, arbiter: HubArbiter) -> HubArbiter:
        """Make ``arbiter`` take every access decision from now on; returns the one replaced.

        The default is a :class:`RuleBasedArbiter` (the agents' rules); subclass it
        to add checks, or :class:`BaseHubArbiter` to decide everything yourself.
        """
        if not isinstance(arbiter, HubArbiter):
            raise InvalidValueError(
                f"register_arbiter: {type(arbiter).__name__} does not implement HubArbiter"
            )
        old, self._seam.arbiter = self._seam.arbiter, arbiter
        return old

    @property
    def arbiter(self) -> HubArbiter:
        """The arbiter taking the hub's access decisions."""
        return self._seam.arbiter

    @property
    def store(self) -> KnowledgeStore:
        """The hub's knowledge store."""
        return self._store

    def now(self) -> str:
        """The hub clock's current time."""
        return self._clock()

    # ================================================================ registry

    async def register(
        self,
        passport: Passport,
        resume: Resume | None = None,
        *,
        skill_md: str | None = None,
        rule: Rule | None = None,
    ) -> Passport:
        """Register an agent; returns the passport stamped with ``agent_id`` and ``created_at``."""
        return await self._registry.register(passport, resume, skill_md=skill_md, rule=rule)

    async def unregister(self, agent_id: str) -> None:
        """Forget an agent (its sessions and WALs stay)."""
        await self._registry.unregister(agent_id)
        self._router.unbind(agent_id)

    async def get_agent(self, name_or_id: str) -> Passport:
        """A passport by id, else by name (a name never shadows an id); NotFoundError."""
        return self._registry.resolve(name_or_id)

    get_passport = get_agent

    def name_for(self, agent_id: str) -> str | None:
        """The name of a registered agent, or None (unknown or unregistered id)."""
        passport = self._registry.passports.get(agent_id) if type(agent_id) is str else None
        return None if passport is None else passport.name

    def find_agent_id(self, name: str) -> str | None:
        """The id of the agent registered under ``name``, or None (a name never matches an id)."""
        return self._registry.by_name.get(name) if type(name) is str else None

    async def get_resume(self, agent_id: str) -> Resume:
        """A copy of an agent's resume; NotFoundError."""
        return Resume.from_dict(self._registry.require_resume(agent_id).to_dict())

    async def get_rule(self, agent_id: str) -> Rule:
        """A copy of an agent's rule; NotFoundError."""
        self._registry.require(agent_id)
        return Rule.from_dict(self._registry.rules[agent_id].to_dict())

    async def get_skill(self, agent_id: str) -> str | None:
        """An agent's SKILL.md or None; NotFoundError for unknown agents."""
        return await self._registry.get_skill(agent_id)

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
        """Registered agents matching the filters; ``online`` True (False) keeps the
        agents with (without) a live connection."""
        if online is None:
            return self._registry.list_agents(
                capability=capability, query=query, kind=kind, sort_by=sort_by, limit=limit
            )
        if type(online) is not bool:
            raise InvalidValueError(
                f"list_agents: online must be True, False or None, got {online!r}"
            )
        everyone = self._registry.list_agents(
            capability=capability,
            query=query,
            kind=kind,
            sort_by=sort_by,
            limit=len(self._registry.passports) + 1,
        )
        is_online = self._router.is_online
        return [p for p in everyone if is_online(p.agent_id or "") is online][: max(limit, 0)]

    def is_online(self, agent_id: str) -> bool:
        """True while ``agent_id`` has a live connection."""
        return self._router.is_online(agent_id)

    async def wait_online(self, agent_ids: list[str], *, timeout: float = 0.0) -> list[str]:  # noqa: ASYNC109
        """Wait up to ``timeout`` seconds for every agent to have a live connection;
        returns those that still have none (``[]``: all online)."""
        return await self._router.wait_online(agent_ids, timeout=timeout)

    def agents_with_capability(self, capability: str) -> list[str]:
        """Sorted ids of agents claiming or having shown ``capability``."""
        return sorted(self._registry.by_capability.get(capability, ()))

    async def set_resume(self, agent_id: str, resume: Resume) -> Resume:
        """Replace an agent's resume (version bumped)."""
        return await self._registry.set_resume(agent_id, resume)

    async def set_skill(self, agent_id: str, skill_md: str | None) -> None:
        """Replace or delete an agent's SKILL.md."""
        await self._registry.set_skill(agent_id, skill_md)

    async def set_rule(self, agent_id: str, rule: Rule) -> Rule:
        """Replace an agent's rule (version bumped); its send rate starts afresh."""
        stored = await self._registry.set_rule(agent_id, rule)
        self._pipeline.forget_rate(agent_id)
        return stored

    # ================================================================ sweepers

    async def expire_due(self) -> int:
        """Expire every live session whose TTL has passed (and every open task past its
        ``expires_at``); returns how many sessions expired."""
        now = self._clock()
        now_s = iso_to_seconds(now)
        expired = 0
        while (live := self._table.next_expired(now_s)) is not None:
            await self._pipeline.terminate(live, SessionState.EXPIRED, "ttl_expired")
            expired += 1
        await self._tasks.expire_due(now)
        return expired

    async def check_expectations(self) -> None:
        """Evaluate every live session's expectations once and run the handlers of new
        violations (what the ``expectations`` sweeper does every ``expectation_sweep_interval``)."""
        sessions = list(self._table.live.values())
        await run_expectation_tick(self, sessions, self._evaluators, self._handlers, self._seam)

    async def write_snapshots(self, *, min_new: int | None = None) -> int:
        """Snapshot live sessions with at least ``min_new`` new envelopes since their last snapshot.

        The periodic sweep (``min_new`` None) takes those with ``snapshot_every`` new
        envelopes, and also any session with new envelopes whose traffic has been quiet
        for ``snapshot_interval`` seconds: a session is snapshotted once when it goes
        idle, so a restart after a crash re-folds at most the busy sessions' tails.
        """
        threshold = self.snapshot_every if min_new is None else min_new
        quiet_since = float("-inf")
        if min_new is None and self.snapshot_interval > 0:
            quiet_since = self._stamp_clock()[1] - self.snapshot_interval
        return await write_due_snapshots(
            self._store, self._table.live.values(), threshold, quiet_since
        )

    async def prune_closed(
        self, *, older_than: float | None = None, archive: KnowledgeStore | None = None
    ) -> list[str]:
        """Archive (optionally) and delete sessions closed long enough ago (see ``retention``)."""
        return await prune_closed(
            self._table,
            self._seam.audit,
            self._clock(),
            older_than=self.retention_seconds if older_than is None else older_than,
            archive=archive if archive is not None else self.archive_store,
        )

    async def post_violation(self, session_id: str, envelope_data: dict[str, Any]) -> None:
        """Log and broadcast an EV_EXPECTATION_VIOLATED on a live session (used by handlers)."""
        live = self._table.live.get(session_id) if type(session_id) is str else None
        if live is None or live.closing is not None:
            return
        await self._pipeline.post_violation(live, envelope_data)

    # ================================================================ endpoints

    def attach_endpoint(self, endpoint: Any, *, principal: str = OPERATOR) -> Connection:
        """Attach a connection's endpoint; returns the hub API bound to its identity.

        ``endpoint`` needs ``endpoint_id``, ``deliver(recipient_id, envelope)`` (called
        for every envelope addressed to an agent registered through it; must not
        block) and ``async close()`` (the hub shuts down).
        """
        if self._closed_hub:
            raise ProtocolError("hub is closed")
        connection = Connection(
            self,
            endpoint,
            principal=principal,
            sessions=self._table,
            pipeline=self._pipeline,
            router=self._router,
            registry=self._registry,
            tasks=self._tasks,
        )
        self._router.attach(endpoint, connection)
        return connection

    @property
    def closed(self) -> bool:
        """True once ``close`` began."""
        return self._closed_hub

    def adapters(self) -> dict[tuple[str, int], SessionAdapter]:
        """The registered adapters by (type, version) (a copy; adapters are pure values)."""
        return dict(self._table.adapters)

    def bind_endpoint(self, endpoint_id: str, agent_id: str) -> None:
        """Deliver ``agent_id``'s envelopes to the endpoint; NotFoundError if either is unknown."""
        self._router.bind(endpoint_id, agent_id)

    def detach_endpoint(self, endpoint_id: str) -> None:
        """Forget an endpoint and every agent binding to it."""
        self._router.detach(endpoint_id)

    def receipt(self, recipient_id: str, envelope: Envelope | None = None) -> None:
        """A recipient finished handling a delivered envelope: release its inbox slot."""
        self._router.receipt(recipient_id)

    def pending_inbox(self, agent_id: str) -> int:
        """Envelopes delivered to ``agent_id`` and not yet acknowledged."""
        return self._router.pending(agent_id)

    async def report_turn_failure(
        self,
        *,
        session_id: str,
        agent_id: str,
        envelope_id: str,
        exc: BaseException | None = None,
        error_type: str = "",
        error_message: str = "",
    ) -> None:
        """Audit a crashed agent turn (the session stays alive).

        The error is ``exc`` (in-process) or its ``error_type`` / ``error_message``
        (what a client reports over the protocol).
        """
        if exc is not None:
            error_type, error_message = type(exc).__name__, str(exc)
        if self._seam.listeners:
            failure = exc if exc is not None else ReportedTurnFailure(error_type, error_message)
            self._seam.emit("on_turn_failed", session_id, agent_id, envelope_id, failure)
        await self._seam.audit.append(
            {
                "kind": AUDIT_KIND_TURN_FAILED,
                "session_id": session_id,
                "agent_id": agent_id,
                "envelope_id": envelope_id,
                "exc_type": error_type,
                "exc_message": error_message,
            }
        )

    def health(self) -> dict[str, Any]:
        """Counters for a health endpoint; ``quarantined_sessions`` maps id → reason."""
        inbox = self._router.pending_inbox
        return {
            "status": "degraded" if self._table.quarantined or self._pipeline.retry else "ok",
            "active_sessions": len(self._table.live),
            "quarantined_sessions": dict(self._table.quarantined),
            "undelivered_decisions": len(self._pipeline.retry),
            "registered_agents": len(self._registry.passports),
            "pending_inbox_total": sum(inbox.values()),
            "max_pending_inbox_depth": max(inbox.values(), default=0),
            "adapters_loaded": sorted(f"{t}@v{v}" for t, v in self._table.adapters),
            "audit_log_bytes": self._seam.audit.bytes_written,
            "registered_listeners": len(self._seam.listeners),
            "usage": {**self._usage.query(), "complete": self._usage.complete},
        }

    async def usage(
        self, *, agent_id: str | None = None, session_id: str | None = None
    ) -> dict[str, Any]:
        """Summed token usage, latency and cost of the turns posted so far (operator).

        Every reply carrying ``event_data["usage"]`` (``hubbub.network.usage``) counts,
        those logged before the hub opened included (rebuilt from the WALs). With
        ``agent_id`` and/or ``session_id`` only that agent's / session's turns count.
        Returns ``{"turns", "input_tokens", "output_tokens", "cache_read_tokens",
        "cache_write_tokens", "latency_ms", "cost_usd", "unpriced_turns"}``
        (``cost_usd`` None while no counted turn had a price).

        Raises:
            InvalidValueError: ``agent_id`` or ``session_id`` is not a string or None.
            StoreUnavailableError: counting the WALs that existed at open failed (the
                next call tries again).
        """
        for name, value in (("agent_id", agent_id), ("session_id", session_id)):
            if value is not None and type(value) is not str:
                raise InvalidValueError(f"usage: {name} must be a string or None, got {value!r}")
        await self._usage.ready()
        return self._usage.query(agent_id=agent_id, session_id=session_id)

    def live_session_states(self) -> dict[str, int]:
        """How many live sessions are in each lifecycle state (``"pending"``, ``"active"``)."""
        out: dict[str, int] = {}
        for live in self._table.live.values():
            state = live.meta.state.value
            out[state] = out.get(state, 0) + 1
        return out

    def usage_by_agent(self) -> dict[str, dict[str, Any]]:
        """Usage totals per agent id, as counted so far (for metrics; no waiting)."""
        return {aid: t.to_dict() for aid, t in self._usage.ledger.by_agent().items()}

    # ================================================================ sessions

    async def create_session(
        self,
        *,
        creator_id: str,
        manifest_type: str,
        participants: list[str],
        manifest_version: int = 1,
        required_acks: int | None = None,
        ttl: str | int | None = None,
        knobs: dict[str, Any] | None = None,
        intent: str | None = None,
        labels: dict[str, str] | None = None,
    ) -> SessionMetadata:
        """Create a session, invite everyone, and return once all acked (state ACTIVE).

        Raises:
            NotFoundError: unknown creator, participant or adapter.
            AccessDeniedError: a rule forbids it.
            ProtocolError: bad participant list or knobs, ack timeout, rejection.
        """
        return await self._opener.create(
            creator_id=creator_id,
            manifest_type=manifest_type,
            participants=participants,
            manifest_version=manifest_version,
            required_acks=required_acks,
            ttl=ttl,
            knobs=knobs,
            intent=intent,
            labels=labels,
        )

    async def post_envelope(self, envelope: Envelope) -> str:
        """Admit an envelope (operator path: any registered sender); returns its envelope_id."""
        return (await self._pipeline.admit(envelope)).envelope_id

    async def admit(self, envelope: Envelope) -> Envelope:
        """Admit an envelope and return the stamped copy that was logged."""
        return await self._pipeline.admit(envelope)

    async def close_session(self, session_id: str, *, reason: str = "") -> SessionMetadata:
        """Close a session (``reason`` defaults to "explicit_close"); closing a closed one is a no-op.

        A session whose end was decided but could not be logged (the store was
        down) is closed now with the decided reason.
        """
        if type(reason) is not str:
            raise InvalidValueError(f"close_session: reason must be a str, got {reason!r}")
        live = await self._table.find(session_id)
        await self._pipeline.close(live, reason)
        return live.meta.copy()

    async def retry_decisions(self) -> int:
        """Carry out opens and ends that were decided but could not be logged (store down)."""
        return await self._pipeline.retry_decisions()

    async def get_session(self, session_id: str) -> SessionMetadata:
        """A snapshot of a session's metadata; NotFoundError."""
        return (await self._table.find(session_id)).meta.copy()

    async def list_sessions(
        self,
        *,
        agent_id: str | None = None,
        state: SessionState | str | None = None,
        include_terminal: bool = False,
        type: str | None = None,
        created_after: str | None = None,
        created_before: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[SessionMetadata]:
        """Sessions matching every filter given, newest first.

        Live sessions come from memory; closed ones (with ``include_terminal`` or a
        terminal ``state``) from the store too, so sessions closed before a restart
        are listed. ``created_after``/``created_before`` are ISO-8601 times;
        ``offset`` and ``limit`` page through the result.

        Raises:
            InvalidValueError: a filter of the wrong type or value.
        """
        return await self._table.list_sessions(
            agent_id=agent_id,
            state=state,
            include_terminal=include_terminal,
            type=type,
            created_after=created_after,
            created_before=created_before,
            limit=limit,
            offset=offset,
        )

    def adapter_for(self, session_id: str) -> SessionAdapter:
        """The adapter running a session; NotFoundError / ProtocolError if unregistered."""
        return self._table.adapter_for(session_id)

    def adapter_state(self, session_id: str) -> Any:
        """A session's current adapter state, or None for an unknown session."""
        live = self._table.get(session_id)
        return None if live is None else live.state

    def default_view_policy(self, session_id: str, participant_id: str) -> ViewPolicy:
        """The view a participant's turns are built from; NotFoundError."""
        live = self._table.require(session_id)
        return self._table.adapter_for(session_id).default_view_policy(live.meta, participant_id)

    async def read_wal(
        self, session_id: str, *, since: int = 0, until: int | None = None
    ) -> list[Envelope]:
        """A session's logged envelopes in admission order (``since``/``until`` are list indices).

        A quarantined session's WAL is readable: lines that do not decode are left out.

        Raises:
            InvalidValueError: ``since``/``until`` are not non-negative ints.
        """
        return await self._table.read_wal(session_id, since, until)

    def can_send(self, session_id: str, sender_id: str, *, event_type: str | None = None) -> bool:
        """Would the hub admit a (blank) envelope of ``event_type`` from ``sender_id`` right now?"""
        return self._table.can_send(session_id, sender_id, event_type)

    # ================================================================ tasks (observe-only)

    async def observe_task(self, metadata: TaskMetadata) -> TaskMetadata:
        """Record a task an agent runs (insert, or replace an open one's record).

        Raises:
            InvalidValueError, NotFoundError, AccessDeniedError, ProtocolError,
            StoreUnavailableError: see :meth:`TaskTable.observe`.
        """
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
        """Change an observed task (a terminal one stays as it is); returns its record."""
        return await self._tasks.update(
            task_id, state=state, progress=progress, result=result, error=error
        )

    async def get_task(self, task_id: str) -> TaskMetadata:
        """An observed task's record; NotFoundError."""
        return await self._tasks.get(task_id)

    async def list_tasks(
        self,
        *,
        owner_id: str | None = None,
        session_id: str | None = None,
        state: TaskState | str | None = None,
        limit: int = 50,
        agent_id: str | None = None,
    ) -> list[TaskMetadata]:
        """Observed tasks matching every filter, newest first (``agent_id``: the spec's
        name for ``owner_id``). Open tasks and the most recent terminal ones are listed."""
        return self._tasks.select(
            owner_id=owner_id if owner_id is not None else agent_id,
            session_id=session_id,
            state=state,
            limit=limit,
        )

    async def record_observation(
        self,
        agent_id: str,
        capability: str,
        outcome: TaskState | str,
        latency_ms: int | None = None,
        task_id: str | None = None,
    ) -> Resume:
        """Count one terminal outcome into the agent's ``Resume.observed[capability]``
        (once per ``task_id``); audits ``resume_set`` with source ``observed``."""
        return await self._tasks.record_observation(
            agent_id, capability, outcome, latency_ms, task_id=task_id
        )

    # ================================================================ recovery

    async def hydrate(self) -> None:
        """Rebuild every cache from the store by folding each session's WAL (idempotent)."""
        self._table.clear()
        self._router.clear_inbox()
        await self._registry.load()
        await self._seam.audit.open()
        finish = await recovery.hydrate(self._table, strict=self.strict)
        # usage totals are derived: the WALs up to here are counted on demand, live from here on
        await self._usage.start_rebuild({sid: live.seq for sid, live in self._table.live.items()})
        for live, state, reason in finish:
            await self._pipeline.terminate(live, state, reason)
        await self._tasks.load()  # after the sessions: tasks of ended sessions expire


# Seconds the hub's close waits for its listeners to hear what is queued.
_LISTENER_CLOSE_TIMEOUT = 10.0

# Seconds between retries of opens/closes that were decided while the store was down.
_RETRY_INTERVAL = 5.0
