"""The hub's task table: observed tasks and agents' track records.

The hub never runs a task (spec §20): an agent's ``agent.task(...)`` runs it and a
:class:`~hubbub.network.client.task_mirror.TaskMirror` tells the hub what happens
(``observe_task``, ``update_task``, ``record_observation``). The table keeps those
records, durable in the KnowledgeStore, so they survive a restart on a durable store:

| path                                  | content                                           |
|---------------------------------------|---------------------------------------------------|
| /tasks/{task_id}/metadata.json        | the observed TaskMetadata (state as its string)   |
| /observations/{agent_id}.json         | recent latencies per capability, recent task ids  |
| /checkpoints/{owner_id}/{key}.json    | a task's checkpoint (:mod:`.checkpoints`)         |

Rules it keeps:

* a task belongs to its ``owner_id`` for good: it cannot change owner or session;
* a terminal task never changes again (a later update is a no-op); reaching a
  terminal state audits ``task_terminated``;
* a session that ends (closed or expired) takes its open tasks to EXPIRED with
  reason ``session_closed`` (also at ``load``, for a session that ended while the
  hub was down), recording an ``expired`` outcome for those with a capability;
* an open task past its ``expires_at`` (hub clock) expires with reason ``ttl_expired``
  at the TTL sweep (``Hub.expire_due``);
* an agent's ``Rule.limits.max_concurrent_tasks`` (0: no cap) bounds its open tasks;
* ``record_observation`` counts one terminal outcome into the agent's
  ``Resume.observed[capability]`` (``p50_latency_ms`` is the median of the last
  :data:`~hubbub.network.task_records.LATENCY_SAMPLES` latencies), at most once per
  task id, and audits ``resume_set`` with source ``observed``.

Memory: open tasks stay in memory; of the terminal ones the most recent
``terminal_cache_size`` do, older ones are read back from the store by ``get``.
Writes go to the store first: a failed write changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import orjson

from hubbub.knowledge import KnowledgeStore
from hubbub.knowledge.base import read_many, store_failure
from hubbub.network.clock import Clock, iso_to_seconds
from hubbub.network.errors import (
    AccessDeniedError,
    InvalidValueError,
    NetworkError,
    NotFoundError,
    ProtocolError,
)
from hubbub.network.hub.audit import AUDIT_KIND_TASK_TERMINATED
from hubbub.network.hub.checkpoints import Checkpoints
from hubbub.network.hub.seam import HubSeam
from hubbub.network.identity import Resume
from hubbub.network.session import SessionMetadata
from hubbub.network.task_records import (
    apply_update,
    check_key,
    check_task,
    copy_task,
    observe_outcome,
    parse_state,
    task_from_dict,
)
from hubbub.task import TERMINAL_TASK_STATES, TaskMetadata, TaskState

if TYPE_CHECKING:
    from hubbub.network.hub.registry import Registry
    from hubbub.network.hub.table import SessionTable

__all__ = [
    "OBSERVATIONS_DIR",
    "TASKS_DIR",
    "TaskTable",
    "observations_path",
    "task_meta_path",
]

log = logging.getLogger(__name__)

TASKS_DIR = "/tasks"
OBSERVATIONS_DIR = "/observations"

#: Task ids remembered per agent so one task's outcome is counted once.
_RECENT_TASK_IDS = 1000

#: Why the open tasks of an ended session expire.
SESSION_CLOSED_REASON = "session_closed"

#: Why an open task past its ``expires_at`` expires.
TTL_EXPIRED_REASON = "ttl_expired"


def task_meta_path(task_id: str) -> str:
    """Path of an observed task's metadata."""
    return f"{TASKS_DIR}/{task_id}/metadata.json"


def observations_path(agent_id: str) -> str:
    """Path of an agent's recent latencies and counted task ids."""
    return f"{OBSERVATIONS_DIR}/{agent_id}.json"


def _dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


class TaskTable:
    """Observed tasks (open ones and recent terminal ones in memory) and track records;
    ``checkpoints`` keeps the agents' task checkpoints.

    Args:
        store: where the records live.
        clock: the hub clock (stamps ``created_at``, ``completed_at`` ...).
        seam: its audit log is where terminal tasks and observations are recorded.
        registry: the agents (owners must be registered; track records live in resumes).
        sessions: the session table (a task's session must exist and hold its owner).
        terminal_cache_size: terminal tasks kept in memory.
    """

    def __init__(
        self,
        store: KnowledgeStore,
        clock: Clock,
        seam: HubSeam,
        registry: Registry,
        sessions: SessionTable,
        *,
        terminal_cache_size: int = 1024,
    ) -> None:
        self._store = store
        self._clock = clock
        self._seam = seam
        self._registry = registry
        self._sessions = sessions
        self.terminal_cache_size = terminal_cache_size
        self.open: dict[str, TaskMetadata] = {}
        self.done: OrderedDict[str, TaskMetadata] = OrderedDict()
        self._by_session: dict[str, set[str]] = {}
        self._open_count: dict[str, int] = {}
        self._observations: dict[str, dict[str, Any]] = {}
        self._lock = asyncio.Lock()
        self.checkpoints = Checkpoints(store, registry)

    # ------------------------------------------------------------------ loading

    async def load(self) -> list[TaskMetadata]:
        """Rebuild the table from the store; expire the open tasks of sessions that ended.

        A record that does not decode is skipped with a warning. Returns the tasks
        expired here (their session ended while the hub was down).
        """
        self.open.clear()
        self.done.clear()
        self._by_session.clear()
        self._open_count.clear()
        self._observations.clear()
        ids = [e.rstrip("/") for e in await self._store.list(TASKS_DIR) if e.endswith("/")]
        raws = await read_many(self._store, [task_meta_path(i) for i in ids])
        terminal: list[TaskMetadata] = []
        for task_id, raw in zip(ids, raws, strict=True):
            if raw is None:
                continue
            try:
                md = task_from_dict(orjson.loads(raw), f"stored task {task_id}")
            except (NetworkError, ValueError) as exc:
                log.warning("task %s not loaded: %s", task_id, exc)
                continue
            if md.state in TERMINAL_TASK_STATES:
                terminal.append(md)
            else:
                self._index(md)
        terminal.sort(key=lambda m: m.completed_at or m.created_at)
        for md in terminal[-self.terminal_cache_size :] if self.terminal_cache_size else ():
            self.done[md.task_id] = md
        expired: list[TaskMetadata] = []
        for session_id in list(self._by_session):
            try:
                meta = (await self._sessions.find(session_id)).meta
            except NetworkError:
                continue  # unknown or quarantined: its tasks stay as they are
            if meta.is_terminal():
                expired += await self.session_ended(meta)
        return expired

    def _index(self, md: TaskMetadata) -> None:
        self.open[md.task_id] = md
        self._open_count[md.owner_id] = self._open_count.get(md.owner_id, 0) + 1
        if md.session_id is not None:
            self._by_session.setdefault(md.session_id, set()).add(md.task_id)

    def _unindex(self, md: TaskMetadata) -> None:
        if self.open.pop(md.task_id, None) is None:
            return
        left = self._open_count.get(md.owner_id, 1) - 1
        if left:
            self._open_count[md.owner_id] = left
        else:
            self._open_count.pop(md.owner_id, None)
        if md.session_id is not None:
            ids = self._by_session.get(md.session_id)
            if ids is not None:
                ids.discard(md.task_id)
                if not ids:
                    del self._by_session[md.session_id]

    def _put(self, md: TaskMetadata) -> None:
        """Make ``md`` the task's current record in memory."""
        old = self.open.get(md.task_id)
        if old is not None:
            self._unindex(old)
        self.done.pop(md.task_id, None)
        if md.state in TERMINAL_TASK_STATES:
            self.done[md.task_id] = md
            while len(self.done) > self.terminal_cache_size:
                self.done.popitem(last=False)
        else:
            self._index(md)

    async def _write(self, md: TaskMetadata) -> None:
        try:
            await self._store.write(task_meta_path(md.task_id), _dumps(md.to_dict()))
        except Exception as exc:
            raise store_failure(self._store, exc) from exc

    # ------------------------------------------------------------------ queries

    def cached(self, task_id: str) -> TaskMetadata | None:
        """The task's record if it is in memory (never reads the store)."""
        return self.open.get(task_id) or self.done.get(task_id)

    async def find(self, task_id: str) -> TaskMetadata:
        """The task's current record (not a copy), reading an old terminal one from the store.

        Raises:
            InvalidValueError: ``task_id`` is not a task id.
            NotFoundError: no such task.
        """
        check_key(task_id, "task_id")
        md = self.cached(task_id)
        if md is not None:
            return md
        try:
            raw = await self._store.read(task_meta_path(task_id))
        except Exception as exc:
            raise store_failure(self._store, exc) from exc
        if raw is None:
            raise NotFoundError(f"unknown task {task_id!r}")
        try:
            return task_from_dict(orjson.loads(raw), f"stored task {task_id}")
        except (NetworkError, ValueError) as exc:
            raise NotFoundError(f"task {task_id!r} does not decode: {exc}") from exc

    async def get(self, task_id: str) -> TaskMetadata:
        """A copy of the task's record; NotFoundError."""
        return copy_task(await self.find(task_id))

    def select(
        self,
        *,
        owner_id: str | None = None,
        session_id: str | None = None,
        state: TaskState | str | None = None,
        limit: int = 50,
        visible: set[str] | None = None,
    ) -> list[TaskMetadata]:
        """Copies of the tasks in memory matching every filter, newest first.

        ``visible`` (for a connection) keeps the tasks owned by those agents or in a
        session one of them participates in.

        Raises:
            InvalidValueError: a filter of the wrong type.
        """
        for name, value in (("owner_id", owner_id), ("session_id", session_id)):
            if value is not None and not isinstance(value, str):
                raise InvalidValueError(f"list_tasks: {name} must be a string or null")
        if type(limit) is not int or limit < 0:
            raise InvalidValueError(f"list_tasks: limit must be a non-negative int, got {limit!r}")
        wanted = None if state is None else parse_state(state, "list_tasks: state")
        rows = [*self.open.values(), *self.done.values()]
        out = [
            md
            for md in rows
            if (owner_id is None or md.owner_id == owner_id)
            and (session_id is None or md.session_id == session_id)
            and (wanted is None or md.state is wanted)
            and (visible is None or self.readable(md, visible))
        ]
        out.sort(key=lambda m: (m.created_at, m.task_id), reverse=True)
        return [copy_task(md) for md in out[:limit]]

    def readable(self, md: TaskMetadata, agents: set[str]) -> bool:
        """Whether one of ``agents`` owns the task or participates in its session."""
        if md.owner_id in agents:
            return True
        if md.session_id is None:
            return False
        live = self._sessions.get(md.session_id)
        return live is not None and any(live.meta.is_participant(a) for a in agents)

    # ------------------------------------------------------------------ changes

    async def observe(self, metadata: TaskMetadata) -> TaskMetadata:
        """Insert a task, or replace an open one's record (same owner, same session).

        The hub stamps ``created_at`` (and ``started_at`` of a RUNNING task) when blank.
        A terminal task stays as it is (its record comes back unchanged).

        Raises:
            InvalidValueError: a bad field (named).
            NotFoundError: unknown owner or session.
            AccessDeniedError: the task belongs to another agent; the owner does not
                participate in the session; the owner is at ``max_concurrent_tasks``.
            ProtocolError: the session is over (``session_closed``); a task's session
                or owner cannot change.
            StoreUnavailableError: nothing was recorded.
        """
        md = check_task(metadata)
        self._registry.require(md.owner_id)
        async with self._lock:
            old = await self._find_or_none(md.task_id)
            if old is not None:
                if old.owner_id != md.owner_id:
                    raise AccessDeniedError(
                        f"task {md.task_id} belongs to {old.owner_id}, not {md.owner_id}"
                    )
                if old.session_id != md.session_id:
                    raise ProtocolError(
                        f"task {md.task_id}: session_id cannot change "
                        f"({old.session_id!r} → {md.session_id!r})"
                    )
                if old.state in TERMINAL_TASK_STATES:
                    return copy_task(old)
            else:
                await self._check_new(md)
            now = self._clock()
            if not md.created_at:
                md.created_at = old.created_at if old is not None else now
            if md.state is TaskState.RUNNING and md.started_at is None:
                md.started_at = (old.started_at if old is not None else None) or now
            if md.state in TERMINAL_TASK_STATES and md.completed_at is None:
                md.completed_at = now
            await self._write(md)
            self._put(md)
        self._report(md, "observed" if old is None else "updated")
        if md.state in TERMINAL_TASK_STATES:
            await self._terminated(md, md.error)
        return copy_task(md)

    def _report(self, md: TaskMetadata, kind: str) -> None:
        """``on_task_event(task_id, kind, task record)`` to the listeners: ``observed``
        (a new task), ``updated`` (state, progress or result changed), ``terminated``."""
        if self._seam.listeners:
            self._seam.emit("on_task_event", md.task_id, kind, md.to_dict())

    async def _find_or_none(self, task_id: str) -> TaskMetadata | None:
        try:
            return await self.find(task_id)
        except NotFoundError:
            return None

    async def _check_new(self, md: TaskMetadata) -> None:
        if md.session_id is not None:
            meta = (await self._sessions.find(md.session_id)).meta
            if not meta.is_participant(md.owner_id):
                raise AccessDeniedError(
                    f"task {md.task_id}: {md.owner_id} is not a participant of session "
                    f"{md.session_id}"
                )
            if meta.is_terminal() and md.state not in TERMINAL_TASK_STATES:
                raise ProtocolError(
                    f"task {md.task_id}: session {md.session_id} is {meta.state.value}",
                    code="session_closed",
                )
        if md.state not in TERMINAL_TASK_STATES:
            cap = self._registry.rules[md.owner_id].limits.max_concurrent_tasks
            if cap and self._open_count.get(md.owner_id, 0) >= cap:
                name = self._registry.passports[md.owner_id].name
                raise AccessDeniedError(
                    f"{name} already has {cap} open tasks (max_concurrent_tasks)"
                )

    async def update(
        self,
        task_id: str,
        *,
        state: TaskState | str | None = None,
        progress: dict[str, Any] | None = None,
        result: Any = None,
        error: str | None = None,
        reason: str = "",
    ) -> TaskMetadata:
        """Change an open task (see :func:`~hubbub.network.task_records.apply_update`);
        a terminal one comes back unchanged. Returns a copy of the record.

        Raises:
            InvalidValueError: a bad value (named).
            NotFoundError: unknown task.
            StoreUnavailableError: nothing changed.
        """
        async with self._lock:
            old = await self.find(task_id)
            new = apply_update(
                old, now=self._clock(), state=state, progress=progress, result=result, error=error
            )
            if new is None:
                return copy_task(old)
            await self._write(new)
            self._put(new)
        self._report(new, "updated")
        if new.state in TERMINAL_TASK_STATES:
            await self._terminated(new, reason or new.error)
        return copy_task(new)

    async def session_ended(self, meta: SessionMetadata) -> list[TaskMetadata]:
        """A session ended: its open tasks go to EXPIRED (reason ``session_closed``).

        Each expired task with a capability counts as an ``expired`` outcome of its
        owner. A task whose record cannot be written is logged and left open (it is
        expired again at the next load).
        """
        return await self._expire(
            sorted(self._by_session.get(meta.session_id, ())), SESSION_CLOSED_REASON
        )

    async def expire_due(self, now: str) -> list[TaskMetadata]:
        """Expire every open task whose ``expires_at`` is at or before ``now`` (reason
        ``ttl_expired``), counting an ``expired`` outcome for those with a capability."""
        now_s = iso_to_seconds(now)
        due = []
        for md in self.open.values():
            if md.expires_at is None:
                continue
            try:
                if iso_to_seconds(md.expires_at) <= now_s:
                    due.append(md.task_id)
            except ValueError:
                log.warning("task %s: expires_at %r is not a time", md.task_id, md.expires_at)
        return await self._expire(sorted(due), TTL_EXPIRED_REASON)

    async def _expire(self, task_ids: list[str], reason: str) -> list[TaskMetadata]:
        expired: list[TaskMetadata] = []
        for task_id in task_ids:
            try:
                md = await self.update(task_id, state=TaskState.EXPIRED, reason=reason)
            except NetworkError as exc:
                log.warning("expiring task %s (%s): %s", task_id, reason, exc)
                continue
            expired.append(md)
            capability = md.spec.capability
            if capability and md.owner_id in self._registry.passports:
                try:
                    await self.record_observation(
                        md.owner_id, capability, TaskState.EXPIRED, None, task_id=task_id
                    )
                except NetworkError as exc:
                    log.warning("observation of expired task %s: %s", task_id, exc)
        return expired

    async def _terminated(self, md: TaskMetadata, reason: str) -> None:
        self._report(md, "terminated")
        latency = _latency_ms(md)
        try:
            await self._seam.audit.append(
                {
                    "kind": AUDIT_KIND_TASK_TERMINATED,
                    "task_id": md.task_id,
                    "owner_id": md.owner_id,
                    "session_id": md.session_id,
                    "outcome": md.state.value,
                    "capability": md.spec.capability,
                    "reason": reason,
                    "latency_ms": latency,
                }
            )
        except Exception:
            log.warning("audit of task %s failed", md.task_id, exc_info=True)

    # ------------------------------------------------------------------ track records

    async def record_observation(
        self,
        agent_id: str,
        capability: str,
        outcome: TaskState | str,
        latency_ms: int | None = None,
        task_id: str | None = None,
    ) -> Resume:
        """Count one terminal outcome into ``agent_id``'s ``Resume.observed[capability]``.

        A ``task_id`` already counted for this agent changes nothing (the resume
        comes back as it is). Returns a copy of the resume.

        Raises:
            InvalidValueError: a bad value (named); an outcome other than
                completed / failed / expired.
            NotFoundError: unknown agent.
            AccessDeniedError: ``task_id`` names another agent's task.
            StoreUnavailableError: nothing was counted.
        """
        if not isinstance(capability, str) or not capability:
            raise InvalidValueError("record_observation: capability must be a non-empty string")
        state = parse_state(outcome, "record_observation: outcome")
        if latency_ms is not None and (type(latency_ms) is not int or latency_ms < 0):
            raise InvalidValueError(
                f"record_observation: latency_ms must be a non-negative int or null, got {latency_ms!r}"
            )
        if task_id is not None:
            check_key(task_id, "record_observation: task_id")
        self._registry.require(agent_id)
        async with self._lock:
            if task_id is not None:
                known = await self._find_or_none(task_id)
                if known is not None and known.owner_id != agent_id:
                    raise AccessDeniedError(f"task {task_id} belongs to {known.owner_id}")
            record = await self._observation_record(agent_id)
            if task_id is not None and task_id in record["task_ids"]:
                return Resume.from_dict(self._registry.require_resume(agent_id).to_dict())
            resume = self._registry.require_resume(agent_id)
            samples = list(record["latencies"].get(capability, []))
            stat, samples = observe_outcome(
                resume.observed.get(capability), state, latency_ms, samples
            )
            new = await self._registry.set_observed(
                agent_id,
                capability,
                stat,
                audit={"outcome": state.value, "task_id": task_id, "latency_ms": latency_ms},
            )
            record = {
                "latencies": {**record["latencies"], capability: samples},
                "task_ids": (
                    [*record["task_ids"], task_id][-_RECENT_TASK_IDS:]
                    if task_id is not None
                    else record["task_ids"]
                ),
            }
            self._observations[agent_id] = record
            try:
                await self._store.write(observations_path(agent_id), _dumps(record))
            except Exception:  # the count is in the resume already; only dedup/latency lag
                log.warning("observations of %s not stored", agent_id, exc_info=True)
        return Resume.from_dict(new.to_dict())

    async def _observation_record(self, agent_id: str) -> dict[str, Any]:
        record = self._observations.get(agent_id)
        if record is not None:
            return record
        try:
            raw = await self._store.read(observations_path(agent_id))
        except Exception as exc:
            raise store_failure(self._store, exc) from exc
        record = {"latencies": {}, "task_ids": []}
        if raw is not None:
            try:
                data = orjson.loads(raw)
                record = {
                    "latencies": {
                        str(k): [int(x) for x in v] for k, v in dict(data["latencies"]).items()
                    },
                    "task_ids": [str(t) for t in data["task_ids"]],
                }
            except (KeyError, TypeError, ValueError):
                log.warning("observations of %s do not decode; starting afresh", agent_id)
        self._observations[agent_id] = record
        return record


def _latency_ms(md: TaskMetadata) -> int | None:
    """Milliseconds from start to end by the hub's stamps, when both are known."""
    if not md.started_at or not md.completed_at:
        return None
    try:
        ms = round((iso_to_seconds(md.completed_at) - iso_to_seconds(md.started_at)) * 1000)
    except ValueError:
        return None
    return max(ms, 0)
