"""The Hub: the single authority over agents, sessions, their WALs and the audit log.

The post pipeline (``architecture.md``) for every envelope:

1. check the sender, access rules, session state and inbox limits;
2. ``adapter.validate_send`` — a rejection raises to the sender, nothing is written;
3. stamp ``envelope_id``, ``created_at`` and the per-session ``sequence``;
4. fold the adapter state and start the WAL append — synchronously, in one step,
   so admission order = sequence order = WAL order = fold order without a lock
   (stores enqueue an append before their first suspension);
5. await the append: the envelope is durable on the store's terms;
6. acknowledge (return), dispatch to the audience, then apply the adapter's
   decision (open / close) through the one terminal-transition routine.

A session's lifecycle state is the fold of its lifecycle envelopes, so recovery
(``hydrate``) is a fold of every WAL and nothing else.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import heapq
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from hubbub.knowledge import KnowledgeStore
from hubbub.network.adapters import default_adapters
from hubbub.network.adapters.base import AdapterResult, SessionAdapter
from hubbub.network.auth import AuthRegistry
from hubbub.network.clock import Clock, iso_to_seconds, system_clock
from hubbub.network.envelope import (
    EV_EXPECTATION_VIOLATED,
    EV_SESSION_CLOSED,
    EV_SESSION_EXPIRED,
    EV_SESSION_INVITE,
    EV_SESSION_INVITE_ACK,
    EV_SESSION_INVITE_REJECT,
    EV_SESSION_OPENED,
    EV_TEXT,
    PROTOCOL_PREFIXES,
    Envelope,
    is_protocol_event,
)
from hubbub.network.errors import (
    AccessDeniedError,
    InboxFull,
    NetworkError,
    NotFoundError,
    ProtocolError,
)
from hubbub.network.expectations import ExpectationEvaluator, SessionActivity, default_evaluators
from hubbub.network.hub import layout
from hubbub.network.hub.audit import (
    AUDIT_KIND_SESSION_CLOSED,
    AUDIT_KIND_SESSION_CREATED,
    AUDIT_KIND_SESSION_EXPIRED,
    AUDIT_KIND_TURN_FAILED,
    AuditLog,
)
from hubbub.network.hub.registry import Registry, glob_match
from hubbub.network.hub.runtime import LiveSession
from hubbub.network.hub.snapshots import index_add, index_remove, write_snapshot
from hubbub.network.hub.violations import ViolationHandler, default_handlers, run_expectation_tick
from hubbub.network.identity import Passport, Resume
from hubbub.network.ids import make_id
from hubbub.network.lifecycle import apply_lifecycle_event, terminal_envelope
from hubbub.network.rule import Rule, parse_duration
from hubbub.network.session import (
    Participant,
    SessionManifest,
    SessionMetadata,
    SessionState,
    participant_role,
)
from hubbub.network.transport.frames import NotifyFrame
from hubbub.network.views import ViewPolicy

__all__ = ["Hub"]

log = logging.getLogger(__name__)

_ACTIVE = SessionState.ACTIVE
_PENDING = SessionState.PENDING
#: Lifecycle events only the hub may write.
HUB_ONLY_EVENTS = frozenset(
    {
        EV_SESSION_INVITE,
        EV_SESSION_OPENED,
        EV_SESSION_CLOSED,
        EV_SESSION_EXPIRED,
        EV_EXPECTATION_VIOLATED,
    }
)


def _dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


class _AdapterStates(Mapping[str, Any]):
    """``hub._adapter_states``: the adapter state of every live or recently closed session."""

    def __init__(self, hub: Hub) -> None:
        self._hub = hub

    def __getitem__(self, session_id: str) -> Any:
        live = self._hub._sessions.get(session_id) or self._hub._closed.get(session_id)
        if live is None:
            raise KeyError(session_id)
        return live.state

    def __iter__(self) -> Iterator[str]:
        yield from self._hub._sessions
        yield from self._hub._closed

    def __len__(self) -> int:
        return len(self._hub._sessions) + len(self._hub._closed)


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
    ) -> None:
        self._store = store
        self._clock: Clock = clock or system_clock
        self._auth = auth or AuthRegistry.default()
        self.ttl_sweep_interval = ttl_sweep_interval
        self.expectation_sweep_interval = expectation_sweep_interval
        self.invite_ack_timeout = invite_ack_timeout
        self.max_envelope_bytes = max_envelope_bytes
        self._closed_cache_size = closed_cache_size
        self.snapshot_interval = snapshot_interval
        self.snapshot_every = snapshot_every
        self.retention_seconds = retention_seconds
        self.retention_sweep_interval = retention_sweep_interval
        self.archive_store = archive_store
        self._audit_log = AuditLog(store, clock=self._clock)
        self._registry = Registry(store, self._clock, self._audit_log, self._auth)
        self._adapters: dict[tuple[str, int], SessionAdapter] = {}
        self._evaluators: dict[str, ExpectationEvaluator] = {}
        self._handlers: dict[str, ViolationHandler] = {}
        self._sessions: dict[str, LiveSession] = {}
        self._closed: OrderedDict[str, LiveSession] = OrderedDict()
        self._by_agent: dict[str, set[str]] = {}
        self._ttl_heap: list[tuple[float, str]] = []
        self._adapter_states = _AdapterStates(self)
        self._endpoints: dict[str, Any] = {}
        self._manifest_refs: dict[str, SessionManifest] = {}
        self._manifest_ref_of: dict[int, tuple[SessionManifest, SessionManifest, str]] = {}
        self._connections: dict[str, Any] = {}
        self._agent_endpoint: dict[str, Any] = {}
        self._pending_inbox: dict[str, int] = {}
        self._sweepers: dict[str, tuple[float, Callable[[], Awaitable[object]]]] = {}
        self._sweeper_tasks: dict[str, asyncio.Task[None]] = {}
        self._started = False
        self._closed_hub = False
        self._now_ms = -1
        self._owns_store = False
        self._now_iso = ""

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
        if register_default_adapters:
            for adapter in default_adapters():
                hub.register_adapter(adapter)
            for evaluator in default_evaluators():
                hub.register_expectation_evaluator(evaluator)
            for name, handler in default_handlers().items():
                hub.register_violation_handler(handler, name=name)
        await hub.hydrate()
        await hub.start()
        return hub

    async def start(self) -> None:
        """Start the TTL, expectation and custom sweepers (idempotent)."""
        if self._started:
            return
        self._started = True
        if self.ttl_sweep_interval > 0:
            self._sweepers.setdefault("ttl", (self.ttl_sweep_interval, self.expire_due))
        if self.expectation_sweep_interval > 0:
            self._sweepers.setdefault(
                "expectations", (self.expectation_sweep_interval, self._expectation_tick)
            )
        if self.snapshot_interval > 0:
            self._sweepers.setdefault("snapshots", (self.snapshot_interval, self.write_snapshots))
        if self.retention_seconds > 0 and self.retention_sweep_interval > 0:
            self._sweepers.setdefault(
                "retention", (self.retention_sweep_interval, self.prune_closed)
            )
        for name in list(self._sweepers):
            self._spawn_sweeper(name)

    def _spawn_sweeper(self, name: str) -> None:
        interval, fn = self._sweepers[name]

        async def loop() -> None:
            while True:
                await asyncio.sleep(interval)
                try:
                    await fn()
                except Exception:
                    log.exception("sweeper %s failed", name)

        self._sweeper_tasks[name] = asyncio.create_task(loop(), name=f"hubbub-sweeper-{name}")

    def register_sweeper(
        self, name: str, interval_seconds: float, fn: Callable[[], Awaitable[object]]
    ) -> None:
        """Run ``fn`` every ``interval_seconds`` (replaces a sweeper of the same name)."""
        self._sweepers[name] = (interval_seconds, fn)
        if self._started:
            old = self._sweeper_tasks.pop(name, None)
            if old is not None:
                old.cancel()
            self._spawn_sweeper(name)

    async def unregister_sweeper(self, name: str) -> None:
        """Stop and forget a sweeper; unknown names are ignored."""
        self._sweepers.pop(name, None)
        task = self._sweeper_tasks.pop(name, None)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def close(self) -> None:
        """Stop sweepers, fail pending opens and close every attached endpoint (idempotent).

        The store is the caller's: it is not closed here.
        """
        if self._closed_hub:
            return
        self._closed_hub = True
        tasks = list(self._sweeper_tasks.values())
        self._sweeper_tasks.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        try:
            await self.write_snapshots(min_new=1)
        except Exception:
            log.exception("snapshots at close failed")
        for live in self._sessions.values():
            if live.waiter is not None and not live.waiter.done():
                live.waiter.set_exception(ProtocolError("hub closed during handshake"))
                live.waiter.exception()  # mark retrieved
        for connection in list(self._connections.values()):
            connection.mark_closed()
        self._connections.clear()
        for endpoint in list(self._endpoints.values()):
            try:
                await endpoint.close()
            except Exception:
                log.exception("closing endpoint failed")
        self._endpoints.clear()
        self._agent_endpoint.clear()
        if self._owns_store:
            await self._store.close()

    async def __aenter__(self) -> Hub:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ================================================================ extension points

    def register_adapter(self, adapter: SessionAdapter) -> None:
        """Make a session type available under ``(manifest.type, manifest.version)`` (replaces)."""
        self._adapters[(adapter.manifest.type, adapter.manifest.version)] = adapter

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
        """The hub's audit log."""
        return self._audit_log

    @property
    def store(self) -> KnowledgeStore:
        """The hub's knowledge store."""
        return self._store

    def now(self) -> str:
        """The hub clock's current time."""
        return self._clock()

    def _now(self) -> tuple[str, float]:
        """Current time as (ISO string, epoch seconds); the system clock is cached per millisecond."""
        if self._clock is system_clock:
            t = time.time()
            ms = int(t * 1000)
            if ms != self._now_ms:
                self._now_ms = ms
                self._now_iso = datetime.fromtimestamp(ms / 1000, UTC).isoformat(
                    timespec="milliseconds"
                )
            return self._now_iso, t
        iso = self._clock()
        return iso, iso_to_seconds(iso)

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
        return await self._registry.register(
            passport, resume or Resume(), skill_md=skill_md, rule=rule
        )

    async def unregister(self, agent_id: str) -> None:
        """Forget an agent (its sessions and WALs stay)."""
        await self._registry.unregister(agent_id)
        self._agent_endpoint.pop(agent_id, None)
        self._pending_inbox.pop(agent_id, None)

    async def get_agent(self, name_or_id: str) -> Passport:
        """A passport by name (first) or id; NotFoundError."""
        return self._registry.resolve(name_or_id)

    get_passport = get_agent

    async def get_resume(self, agent_id: str) -> Resume:
        """An agent's resume; NotFoundError."""
        return self._registry.require_resume(agent_id)

    async def get_rule(self, agent_id: str) -> Rule:
        """An agent's rule; NotFoundError."""
        self._registry.require(agent_id)
        return self._registry.rules[agent_id]

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
    ) -> list[Passport]:
        """Registered agents matching the filters."""
        return self._registry.list_agents(
            capability=capability, query=query, kind=kind, sort_by=sort_by, limit=limit
        )

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
        """Replace an agent's rule (version bumped)."""
        return await self._registry.set_rule(agent_id, rule)

    # ================================================================ sessions

    def _live(self, session_id: str) -> LiveSession:
        live = self._sessions.get(session_id) or self._closed.get(session_id)
        if live is None:
            raise NotFoundError(f"unknown session {session_id!r}")
        return live

    async def _find(self, session_id: str) -> LiveSession:
        """The session's record, reading a long-closed one back from the store."""
        live = self._sessions.get(session_id) or self._closed.get(session_id)
        if live is not None:
            return live
        if not isinstance(session_id, str) or not session_id or "/" in session_id:
            raise NotFoundError(f"unknown session {session_id!r}")
        live = await self._load_session(session_id)
        if live is None:
            raise NotFoundError(f"unknown session {session_id!r}")
        self._remember_closed(live)
        return live

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
        reg = self._registry
        creator = reg.require(creator_id)
        if not isinstance(participants, list) or not participants:
            raise ProtocolError("a session needs at least one participant besides the creator")
        if len(set(participants)) != len(participants):
            raise ProtocolError(f"duplicate participants in {participants}")
        for pid in participants:
            reg.require(pid)
        ids = [creator_id, *[p for p in participants if p != creator_id]]
        adapter = self._adapters.get((manifest_type, manifest_version))
        if adapter is None:
            raise NotFoundError(f"no adapter registered for {manifest_type!r}@v{manifest_version}")
        creator_rule = reg.rules[creator_id]
        if not glob_match(manifest_type, creator_rule.access.session_types.initiate):
            raise AccessDeniedError(f"{creator.name} may not initiate {manifest_type!r} sessions")
        for pid in ids[1:]:
            rule = reg.rules[pid]
            name = reg.passports[pid].name
            if not glob_match(creator.name, rule.access.inbound_from):
                raise AccessDeniedError(f"{name} does not accept sessions from {creator.name}")
            if not glob_match(manifest_type, rule.access.session_types.accept):
                raise AccessDeniedError(f"{name} does not accept {manifest_type!r} sessions")
        cap = creator_rule.limits.max_concurrent_sessions
        if cap and len(self._by_agent.get(creator_id, ())) >= cap:
            raise AccessDeniedError(
                f"{creator.name} already has {cap} active sessions (max_concurrent_sessions)"
            )

        now = self._clock()
        now_s = iso_to_seconds(now)
        manifest = adapter.manifest
        ttl_value = (
            ttl
            if ttl is not None
            else (
                manifest.ttl_default
                if manifest.ttl_default is not None
                else creator_rule.limits.session_ttl_default
            )
        )
        try:
            ttl_s = parse_duration(ttl_value)
        except ValueError as exc:
            raise ProtocolError(f"bad ttl: {exc}") from exc
        expires_at_s = now_s + ttl_s if ttl_s else None
        parts = [
            Participant(pid, participant_role(i, len(ids)), i, now) for i, pid in enumerate(ids)
        ]
        all_labels = dict(labels or {})
        if intent:
            all_labels["intent"] = intent
        session_id = make_id()
        meta = SessionMetadata(
            session_id=session_id,
            manifest=manifest,
            creator_id=creator_id,
            participants=parts,
            state=_PENDING,
            created_at=now,
            expires_at=_iso_after(now, ttl_s) if ttl_s else None,
            knobs=dict(knobs or {}),
            labels=all_labels,
            required_acks=required_acks,
            pending_acks=ids[1:],
        )
        adapter.validate_create(meta)
        live = LiveSession(
            meta,
            adapter,
            adapter.initial_state(meta),
            layout.wal_path(session_id),
            SessionActivity(now_s, now_s),
            expires_at_s,
        )
        await index_add(self, session_id)
        await self._store.write(
            layout.session_meta_path(session_id), await self._creation_record(meta)
        )
        self._add_live(live)
        await self._audit_log.append(
            {
                "kind": AUDIT_KIND_SESSION_CREATED,
                "session_id": session_id,
                "manifest_type": manifest.type,
                "manifest_version": manifest.version,
                "creator_id": creator_id,
                "participants": ids,
            }
        )
        if not meta.pending_acks:
            await self._activate(live)
            return meta.copy()
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        live.waiter = waiter
        try:
            for invitee in ids[1:]:
                await self._admit(
                    Envelope(
                        session_id=session_id,
                        sender_id=creator_id,
                        audience=[invitee],
                        event_type=EV_SESSION_INVITE,
                        event_data={
                            "session_id": session_id,
                            "manifest_type": manifest.type,
                            "manifest_version": manifest.version,
                            "creator_id": creator_id,
                            "knobs": meta.knobs,
                            "labels": meta.labels,
                        },
                    ),
                    internal=True,
                )
        except BaseException:
            await self._terminate(live, SessionState.CLOSED, "invite_failed")
            raise
        try:
            await asyncio.wait_for(asyncio.shield(waiter), timeout=self.invite_ack_timeout)
        except TimeoutError:
            await self._terminate(live, SessionState.CLOSED, "invite_timeout")
            raise ProtocolError(
                f"session {session_id} ack timeout after {self.invite_ack_timeout}s"
            ) from None
        finally:
            live.waiter = None
        return meta.copy()

    async def _creation_record(self, meta: SessionMetadata) -> str:
        """The compact creation record: defaults left out, the manifest stored once by content hash."""
        ref = await self._manifest_ref(meta.manifest)
        record: dict[str, Any] = {
            "session_id": meta.session_id,
            "manifest": {"ref": ref},
            "creator_id": meta.creator_id,
            # Roles, order and join time follow from the id list at creation (see recovery).
            "participants": meta.participant_ids(),
            "state": meta.state.value,
            "created_at": meta.created_at,
        }
        optional = (
            ("expires_at", meta.expires_at),
            ("parent_session_id", meta.parent_session_id),
            ("knobs", meta.knobs),
            ("labels", meta.labels),
            ("required_acks", meta.required_acks),
            ("pending_acks", meta.pending_acks),
        )
        for key, value in optional:
            if value is not None and value != {} and value != []:
                record[key] = value
        return _dumps(record)

    async def _manifest_ref(self, manifest: SessionManifest) -> str:
        """The content hash a creation record names its manifest by; stores the manifest once."""
        known = self._manifest_ref_of.get(id(manifest))
        # Cached by identity, with a copy to compare: a manifest changed in place is re-hashed.
        if known is not None and known[0] is manifest and known[1] == manifest:
            ref = known[2]
        else:
            ref = hashlib.sha256(_dumps(manifest.to_dict()).encode()).hexdigest()[:24]
            self._manifest_ref_of[id(manifest)] = (manifest, copy.deepcopy(manifest), ref)
        if ref not in self._manifest_refs:
            path = layout.manifest_path(ref)
            if not await self._store.exists(path):
                await self._store.write(path, _dumps(manifest.to_dict()))
            self._manifest_refs[ref] = manifest
        return ref

    async def close_session(self, session_id: str, *, reason: str = "") -> SessionMetadata:
        """Close a session (``reason`` defaults to "explicit_close"); closing a closed one is a no-op."""
        live = await self._find(session_id)
        await self._terminate(live, SessionState.CLOSED, reason or "explicit_close")
        return live.meta.copy()

    async def get_session(self, session_id: str) -> SessionMetadata:
        """A snapshot of a session's metadata; NotFoundError."""
        return (await self._find(session_id)).meta.copy()

    async def list_sessions(
        self,
        *,
        agent_id: str | None = None,
        state: SessionState | str | None = None,
        include_terminal: bool = False,
        limit: int = 50,
    ) -> list[SessionMetadata]:
        """Sessions (live ones, plus recently closed with ``include_terminal``) matching the filters."""
        wanted = SessionState(state) if state is not None else None
        pool: list[LiveSession] = list(self._sessions.values())
        if include_terminal or (
            wanted is not None and wanted in (SessionState.CLOSED, SessionState.EXPIRED)
        ):
            pool.extend(self._closed.values())
        out = []
        for live in pool:
            meta = live.meta
            if agent_id is not None and not meta.is_participant(agent_id):
                continue
            if wanted is not None and meta.state is not wanted:
                continue
            out.append(meta.copy())
            if len(out) >= limit:
                break
        return out

    def adapter_for(self, session_id: str) -> SessionAdapter:
        """The adapter running a session; NotFoundError / ProtocolError if unregistered."""
        live = self._live(session_id)
        if live.adapter is None:
            raise ProtocolError(
                f"no adapter registered for session {session_id}'s type {live.meta.manifest.type!r}"
            )
        return live.adapter

    def adapter_state(self, session_id: str) -> Any:
        """A session's current adapter state, or None for an unknown session."""
        live = self._sessions.get(session_id) or self._closed.get(session_id)
        return None if live is None else live.state

    def default_view_policy(self, session_id: str, participant_id: str) -> ViewPolicy:
        """The view a participant's turns are built from; NotFoundError."""
        live = self._live(session_id)
        return self.adapter_for(session_id).default_view_policy(live.meta, participant_id)

    async def read_wal(
        self, session_id: str, *, since: int = 0, until: int | None = None
    ) -> list[Envelope]:
        """A session's logged envelopes in admission order (``since``/``until`` are list indices)."""
        if not isinstance(session_id, str) or not session_id or "/" in session_id:
            return []
        lines = await self._store.read_lines(layout.wal_path(session_id), since, until)
        return [Envelope.from_wal_line(line, session_id) for line in lines if line]

    def can_send(self, session_id: str, sender_id: str, *, event_type: str | None = None) -> bool:
        """Would the hub admit a (blank) envelope of ``event_type`` from ``sender_id`` right now?"""
        live = self._sessions.get(session_id)
        if live is None or live.closing is not None or live.adapter is None:
            return False
        meta = live.meta
        et = event_type or EV_TEXT
        if meta.is_terminal() or not meta.is_participant(sender_id):
            return False
        if meta.state is not _ACTIVE and not is_protocol_event(et):
            return False
        probe = Envelope(session_id, sender_id, None, et, {"text": ""})
        try:
            live.adapter.validate_send(meta, probe, live.state)
        except NetworkError:
            return False
        return True

    # ================================================================ the post pipeline

    async def post_envelope(self, envelope: Envelope) -> str:
        """Admit an envelope (operator path: any registered sender); returns its envelope_id."""
        return (await self._admit(envelope)).envelope_id

    async def admit(self, envelope: Envelope) -> Envelope:
        """Admit an envelope and return the stamped copy that was logged."""
        return await self._admit(envelope)

    async def _admit(self, env: Envelope, *, internal: bool = False) -> Envelope:
        if not isinstance(env, Envelope):
            raise ProtocolError(
                f"expected an Envelope, got {type(env).__name__}", code="bad_envelope"
            )
        reg = self._registry
        if not internal:
            env.check_shape()
            if env.sender_id not in reg.passports:
                raise NotFoundError(f"unknown sender {env.sender_id!r}")
            if env.event_type == EV_TEXT and type(env.event_data.get("text")) is not str:
                raise ProtocolError(
                    "an EV_TEXT envelope needs event_data.text as a string", code="bad_envelope"
                )
        live = self._sessions.get(env.session_id)
        if live is None:
            await self._find(env.session_id)  # NotFoundError for unknown ids
            raise ProtocolError(f"session {env.session_id} is closed")
        meta = live.meta
        if live.closing is not None or meta.is_terminal():
            raise ProtocolError(f"session {meta.session_id} is closed")
        adapter = live.adapter
        if adapter is None:
            raise ProtocolError(
                f"no adapter registered for {meta.manifest.type!r}@v{meta.manifest.version}"
            )
        et = env.event_type
        sender = env.sender_id
        protocol = et.startswith(PROTOCOL_PREFIXES)
        if not internal:
            self._check_send(live, env, et, sender, protocol)
        adapter.validate_send(meta, env, live.state)

        # ---- stamp, fold and start the append: one synchronous step --------
        now, now_s = self._now()
        stamped = Envelope(
            env.session_id,
            sender,
            None if env.audience is None else list(env.audience),
            et,
            env.event_data,
            make_id(),
            env.task_id,
            env.causation_id,
            env.trace_id,
            env.priority,
            env.depth,
            env.idempotency_key,
            now,
            env.ttl_seconds,
            live.seq + 1,
        )
        line = stamped.to_wal_line()
        if len(line) > self.max_envelope_bytes:
            raise ProtocolError(
                f"envelope is {len(line) - 1} bytes, over the hub's {self.max_envelope_bytes}-byte limit",
                code="payload_too_large",
            )
        live.seq += 1
        live.state = adapter.fold(stamped, live.state)
        follow: tuple[str, str] | None = None  # what the admission leads to: open or close
        if protocol:
            apply_lifecycle_event(meta, stamped)
            if et == EV_SESSION_INVITE_ACK:
                if meta.state is _PENDING and not meta.pending_acks and not meta.rejected_by:
                    follow = ("open", "")
            elif et == EV_SESSION_INVITE_REJECT:
                live.closing = f"rejected by {sender}"
                follow = ("close", "invite_rejected")
        else:
            live.activity.observe(stamped, now_s, live.pids)
            result: AdapterResult = adapter.on_accepted(meta, stamped, live.state)
            if result.next_state is not None and result.next_state is not _ACTIVE:
                reason = result.auto_close_reason or "adapter_closed"
                live.closing = reason
                follow = (
                    "expire" if result.next_state is SessionState.EXPIRED else "close",
                    reason,
                )
        await self._store.append(live.wal, line)
        live.durable = stamped.sequence

        # ---- durable: acknowledge, dispatch, then consequences ---------------
        if et != EV_SESSION_INVITE_ACK and et != EV_SESSION_INVITE_REJECT:
            self._dispatch(stamped, live.pids, not protocol)
        if follow is not None:
            kind, reason = follow
            if kind == "open":
                await self._activate(live)
            else:
                live.closing = None
                await self._terminate(
                    live, SessionState.EXPIRED if kind == "expire" else SessionState.CLOSED, reason
                )
        return stamped

    def _check_send(
        self, live: LiveSession, env: Envelope, et: str, sender: str, protocol: bool
    ) -> None:
        """Identity, participation, state, access and inbox checks for a client's envelope."""
        meta = live.meta
        if et in HUB_ONLY_EVENTS:
            raise ProtocolError(f"event type {et!r} is reserved for the hub")
        if sender not in live.pids:
            raise AccessDeniedError(f"{sender} is not a participant of session {meta.session_id}")
        if not protocol and meta.state is not _ACTIVE:
            raise ProtocolError(
                f"session {meta.session_id} is not active (state={meta.state.value})"
            )
        if et in (EV_SESSION_INVITE_ACK, EV_SESSION_INVITE_REJECT):
            if meta.state is not _PENDING or sender not in meta.pending_acks:
                raise ProtocolError(f"{sender} has no pending invite to session {meta.session_id}")
            return
        reg = self._registry
        rule = reg.rules[sender]
        depth_cap = rule.limits.delegation_depth
        if depth_cap and env.depth > depth_cap:
            raise AccessDeniedError(
                f"delegation depth {env.depth} exceeds {depth_cap} for {reg.passports[sender].name}"
            )
        audience = env.audience
        if audience:
            for rid in audience:
                if rid == sender:
                    continue
                if rid not in live.pids:
                    raise ProtocolError(
                        f"audience member {rid!r} is not a participant of session {meta.session_id}"
                    )
                if not glob_match(reg.passports[rid].name, rule.access.outbound_to):
                    raise AccessDeniedError(
                        f"{reg.passports[sender].name} may not send to {reg.passports[rid].name} (outbound_to)"
                    )
        if not protocol:
            for rid in audience if audience is not None else meta.participant_ids():
                if rid == sender:
                    continue
                pending = self._pending_inbox.get(rid, 0)
                if pending:
                    cap = reg.rules[rid].limits.inbox.max_pending if rid in reg.rules else 0
                    if cap and pending >= cap:
                        raise InboxFull(f"inbox of {rid} is full ({pending}/{cap} pending)")

    def _dispatch(self, env: Envelope, pids: list[str], substantive: bool = False) -> None:
        """Queue a NotifyFrame for every recipient that is connected (never raises).

        ``substantive`` (not a protocol event): the recipients' pending-inbox counts grow.
        """
        sender = env.sender_id
        recipients = env.audience if env.audience is not None else pids
        reg = self._registry
        for rid in recipients:
            if rid == sender and env.audience is None:
                continue
            endpoint = self._agent_endpoint.get(rid)
            if endpoint is None:
                continue
            rule = reg.rules.get(rid)
            sender_p = reg.passports.get(sender)
            if (
                rule is not None
                and sender_p is not None
                and not glob_match(sender_p.name, rule.access.inbound_from)
            ):
                continue
            if substantive:
                self._pending_inbox[rid] = self._pending_inbox.get(rid, 0) + 1
            try:
                endpoint.send_frame_nowait(NotifyFrame(env, rid))
            except Exception:
                log.exception("dispatch of %s to %s failed", env.envelope_id, rid)

    def _stamp_internal(self, live: LiveSession, env: Envelope) -> tuple[Envelope, str]:
        now, _ = self._now()
        live.seq += 1
        env.envelope_id = make_id()
        env.created_at = now
        env.sequence = live.seq
        return env, env.to_wal_line()

    async def _activate(self, live: LiveSession) -> None:
        """PENDING → ACTIVE: log and broadcast EV_SESSION_OPENED, release the creator's open()."""
        meta = live.meta
        opened, line = self._stamp_internal(
            live,
            Envelope(
                meta.session_id,
                meta.creator_id,
                meta.participant_ids(),
                EV_SESSION_OPENED,
                {"session_id": meta.session_id},
            ),
        )
        live.state = (
            live.adapter.fold(opened, live.state) if live.adapter is not None else live.state
        )
        apply_lifecycle_event(meta, opened)
        await self._store.append(live.wal, line)
        live.durable = opened.sequence
        self._dispatch(opened, live.pids)
        if live.waiter is not None and not live.waiter.done():
            live.waiter.set_result(None)

    async def _terminate(self, live: LiveSession, new_state: SessionState, reason: str) -> None:
        """The one terminal-transition routine: log + broadcast the close, audit, release memory."""
        meta = live.meta
        if meta.is_terminal() or live.closing is not None:
            return
        live.closing = reason
        env, line = self._stamp_internal(live, terminal_envelope(meta, new_state, reason))
        apply_lifecycle_event(meta, env)
        if live.adapter is not None:
            live.state = live.adapter.fold(env, live.state)
        self._drop_live(live)
        waiter = live.waiter
        if waiter is not None and not waiter.done():
            msg = f"session {meta.session_id} closed during handshake: {reason}"
            if reason == "invite_rejected" and meta.rejected_by:
                msg = f"session {meta.session_id} rejected by {', '.join(meta.rejected_by)}"
            waiter.set_exception(ProtocolError(msg))
            waiter.exception()  # the opener may be gone (timeout); don't log "never retrieved"
        await self._store.append(live.wal, line)
        live.durable = env.sequence
        self._dispatch(env, live.pids)
        await index_remove(self, meta.session_id)
        kind = (
            AUDIT_KIND_SESSION_EXPIRED
            if new_state is SessionState.EXPIRED
            else AUDIT_KIND_SESSION_CLOSED
        )
        await self._audit_log.append(
            {"kind": kind, "session_id": meta.session_id, "reason": reason}
        )

    # ================================================================ bookkeeping

    def _add_live(self, live: LiveSession) -> None:
        sid = live.meta.session_id
        self._sessions[sid] = live
        for pid in live.meta.participant_ids():
            self._by_agent.setdefault(pid, set()).add(sid)
        if live.expires_at_s is not None:
            heapq.heappush(self._ttl_heap, (live.expires_at_s, sid))

    def _drop_live(self, live: LiveSession) -> None:
        sid = live.meta.session_id
        self._sessions.pop(sid, None)
        for pid in live.meta.participant_ids():
            bucket = self._by_agent.get(pid)
            if bucket is not None:
                bucket.discard(sid)
                if not bucket:
                    del self._by_agent[pid]
        live.fired = None
        heap = self._ttl_heap
        if len(heap) > 2 * len(self._sessions) + 64:
            # Closed sessions' expiry entries would otherwise stay until their TTL.
            self._ttl_heap = [e for e in heap if e[1] in self._sessions]
            heapq.heapify(self._ttl_heap)
        self._remember_closed(live)

    def _remember_closed(self, live: LiveSession) -> None:
        if self._closed_cache_size <= 0:
            return
        sid = live.meta.session_id
        self._closed[sid] = live
        self._closed.move_to_end(sid)
        while len(self._closed) > self._closed_cache_size:
            self._closed.popitem(last=False)

    # ================================================================ sweepers

    async def expire_due(self) -> int:
        """Expire every live session whose TTL has passed; returns how many expired."""
        now_s = iso_to_seconds(self._clock())
        heap = self._ttl_heap
        expired = 0
        while heap and heap[0][0] <= now_s:
            _, sid = heapq.heappop(heap)
            live = self._sessions.get(sid)
            if live is None or live.expires_at_s is None or live.expires_at_s > now_s:
                continue
            await self._terminate(live, SessionState.EXPIRED, "ttl_expired")
            expired += 1
        return expired

    _ttl_tick = expire_due

    async def _expectation_tick(self) -> None:
        """Evaluate every live session's expectations once and run the handlers of new violations."""
        await run_expectation_tick(self, self._evaluators, self._handlers)

    async def write_snapshots(self, *, min_new: int | None = None) -> int:
        """Snapshot every live session with at least ``min_new`` (default ``snapshot_every``) new envelopes."""
        threshold = self.snapshot_every if min_new is None else min_new
        due = [live for live in self._sessions.values() if live.seq - live.snap_seq >= threshold]
        written = 0
        # Concurrent writes in chunks: a group-committing store puts a chunk in one transaction.
        for start in range(0, len(due), _SNAPSHOT_CHUNK):
            chunk = due[start : start + _SNAPSHOT_CHUNK]
            results = await asyncio.gather(
                *(write_snapshot(self, live) for live in chunk), return_exceptions=True
            )
            for result in results:
                if isinstance(result, BaseException):
                    raise result
                written += result
        return written

    async def prune_closed(
        self, *, older_than: float | None = None, archive: KnowledgeStore | None = None
    ) -> list[str]:
        """Archive (optionally) and delete sessions closed long enough ago (see ``retention``)."""
        from hubbub.network.hub.retention import prune_closed

        return await prune_closed(
            self,
            older_than=self.retention_seconds if older_than is None else older_than,
            archive=archive if archive is not None else self.archive_store,
        )

    async def post_violation(self, session_id: str, envelope_data: dict[str, Any]) -> None:
        """Log and broadcast an EV_EXPECTATION_VIOLATED on a live session (used by handlers)."""
        live = self._sessions.get(session_id)
        if live is None:
            return
        meta = live.meta
        await self._admit(
            Envelope(
                session_id,
                meta.creator_id,
                meta.participant_ids(),
                EV_EXPECTATION_VIOLATED,
                envelope_data,
            ),
            internal=True,
        )

    # ================================================================ endpoints

    def attach_endpoint(self, endpoint: Any) -> Any:
        """Attach a link endpoint; returns the Connection bound to it."""
        from hubbub.network.hub.connection import Connection

        if self._closed_hub:
            raise ProtocolError("hub is closed")
        self._endpoints[endpoint.endpoint_id] = endpoint
        connection = Connection(self, endpoint)
        self._connections[endpoint.endpoint_id] = connection
        return connection

    def bind_endpoint(self, endpoint_id: str, agent_id: str) -> None:
        """Deliver ``agent_id``'s envelopes to the endpoint; NotFoundError if either is unknown."""
        endpoint = self._endpoints.get(endpoint_id)
        if endpoint is None:
            raise NotFoundError(f"unknown endpoint {endpoint_id!r}")
        self._registry.require(agent_id)
        self._agent_endpoint[agent_id] = endpoint

    def detach_endpoint(self, endpoint_id: str) -> None:
        """Forget an endpoint and every agent binding to it."""
        self._connections.pop(endpoint_id, None)
        endpoint = self._endpoints.pop(endpoint_id, None)
        if endpoint is None:
            return
        for agent_id in [a for a, e in self._agent_endpoint.items() if e is endpoint]:
            del self._agent_endpoint[agent_id]

    def receipt(self, recipient_id: str, envelope: Envelope) -> None:
        """A recipient finished handling a delivered envelope: release its inbox slot."""
        if is_protocol_event(envelope.event_type):
            return
        pending = self._pending_inbox.get(recipient_id, 0)
        if pending > 1:
            self._pending_inbox[recipient_id] = pending - 1
        elif pending == 1:
            del self._pending_inbox[recipient_id]

    def pending_inbox(self, agent_id: str) -> int:
        """Envelopes delivered to ``agent_id`` and not yet acknowledged."""
        return self._pending_inbox.get(agent_id, 0)

    async def report_turn_failure(
        self, *, session_id: str, agent_id: str, envelope_id: str, exc: BaseException
    ) -> None:
        """Audit a crashed agent turn (the session stays alive)."""
        await self._audit_log.append(
            {
                "kind": AUDIT_KIND_TURN_FAILED,
                "session_id": session_id,
                "agent_id": agent_id,
                "envelope_id": envelope_id,
                "exc_type": type(exc).__name__,
                "exc_message": str(exc),
            }
        )

    def health(self) -> dict[str, Any]:
        """Counters for a health endpoint."""
        return {
            "active_sessions": len(self._sessions),
            "registered_agents": len(self._registry.passports),
            "pending_inbox_total": sum(self._pending_inbox.values()),
            "max_pending_inbox_depth": max(self._pending_inbox.values(), default=0),
            "adapters_loaded": sorted(f"{t}@v{v}" for t, v in self._adapters),
            "audit_log_bytes": self._audit_log.bytes_written,
        }

    # ================================================================ recovery

    async def hydrate(self) -> None:
        """Rebuild every cache from the store by folding each session's WAL (idempotent)."""
        from hubbub.network.hub.recovery import hydrate

        await hydrate(self)

    async def _load_session(self, session_id: str) -> LiveSession | None:
        from hubbub.network.hub.recovery import load_session

        return await load_session(self, session_id)


_SNAPSHOT_CHUNK = 256


def _iso_after(iso: str, seconds: float) -> str:
    return (datetime.fromisoformat(iso) + timedelta(seconds=seconds)).isoformat()
