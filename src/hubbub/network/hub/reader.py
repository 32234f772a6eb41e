"""A read-only view of a hub's store: agents, sessions, WALs, the audit log, replays.

:class:`StoreReader` reads what a hub wrote (the layout in :mod:`.layout`) and
never writes: it takes no writer lock, so it works on a store nobody serves and
on one a running hub holds (it then sees what is durable — a session's last
line may be newer than anything the hub has delivered yet).

What it answers and what each costs:

* :meth:`StoreReader.agents` — every agent's passport, resume and principal
  (one bulk read of the identity records).
* :meth:`StoreReader.sessions` — session summaries without reading WALs: the
  creation records in one bulk read; for the sessions listed, the WAL's line
  count (its sequence counter) and its **last line** only — a session's last
  line says whether it closed or expired, when and why (nothing follows a close),
  and whether it is still in its handshake. Cost: O(sessions), not O(envelopes).
* :meth:`StoreReader.wal_lines` / :meth:`StoreReader.envelopes` — one WAL.
* :meth:`StoreReader.audit` — audit records after a position (to follow the log).
* :meth:`StoreReader.replay` — a full re-fold of a WAL through its adapter by the
  pure session machine (:func:`~hubbub.network.hub.recovery.fold_lines`, the code
  recovery runs), ignoring snapshots; the snapshot, if any, is checked against
  the fold at its position. O(the session's WAL).
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from hubbub.knowledge import KnowledgeStore
from hubbub.knowledge.base import read_lines_many, read_many
from hubbub.network.adapters import default_adapters
from hubbub.network.adapters.base import SessionAdapter
from hubbub.network.auth import AuthRegistry
from hubbub.network.clock import iso_to_seconds
from hubbub.network.envelope import (
    EV_SESSION_CLOSED,
    EV_SESSION_EXPIRED,
    EV_SESSION_INVITE,
    EV_SESSION_INVITE_ACK,
    EV_SESSION_INVITE_REJECT,
    Envelope,
)
from hubbub.network.errors import NetworkError, NotFoundError, ReplayError
from hubbub.network.hub import layout, recovery
from hubbub.network.hub.arbiter import BaseHubArbiter
from hubbub.network.hub.audit import AUDIT_KIND_SESSION_QUARANTINED, AuditLog
from hubbub.network.hub.registry import Registry
from hubbub.network.hub.seam import HubSeam
from hubbub.network.hub.table import SessionTable, check_session_id
from hubbub.network.identity import Passport, Resume
from hubbub.network.session import SessionManifest, SessionMetadata

__all__ = [
    "AgentRecord",
    "AuditPosition",
    "ReplayReport",
    "SessionSummary",
    "StoreReader",
    "last_lines",
    "line_counts",
]

#: Sessions per bulk read of creation records / last lines.
_CHUNK = 1024

_HANDSHAKE = (EV_SESSION_INVITE, EV_SESSION_INVITE_ACK, EV_SESSION_INVITE_REJECT)

Progress = Callable[[int, int], None]
"""``progress(done, total)``: called as long work advances."""


@dataclass(frozen=True, slots=True)
class AgentRecord:
    """One registered agent as its identity records say."""

    passport: Passport
    resume: Resume
    principal: str

    @property
    def agent_id(self) -> str:
        """The agent's id."""
        return self.passport.agent_id or ""


@dataclass(frozen=True, slots=True)
class SessionSummary:
    """One session, from its creation record and the last line of its WAL.

    ``state`` is ``closed``/``expired`` when the last line is that event,
    ``pending`` while the WAL holds only the handshake's invite/ack/reject lines,
    ``active`` otherwise (``unknown`` if the last line does not decode).
    """

    session_id: str
    type: str
    participants: tuple[str, ...]
    created_at: str
    envelopes: int
    state: str
    closed_at: str | None = None
    close_reason: str = ""
    last_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "session_id": self.session_id,
            "type": self.type,
            "participants": list(self.participants),
            "created_at": self.created_at,
            "envelopes": self.envelopes,
            "state": self.state,
            "closed_at": self.closed_at,
            "close_reason": self.close_reason,
            "last_at": self.last_at,
        }


@dataclass(frozen=True, slots=True)
class AuditPosition:
    """A place in the audit log: segment number (1-based) and the line within it."""

    segment: int = 1
    line: int = 0


@dataclass(slots=True)
class ReplayReport:
    """What a full re-fold of one session's WAL came to."""

    session_id: str
    type: str
    lines: int
    sequence: int = 0
    state: str = ""
    close_reason: str = ""
    closed_at: str | None = None
    adapter_state: Any = None
    ok: bool = True
    problems: list[str] = field(default_factory=list)
    quarantined: str | None = None  # the hub's reason, from the audit log

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "session_id": self.session_id,
            "type": self.type,
            "lines": self.lines,
            "sequence": self.sequence,
            "state": self.state,
            "close_reason": self.close_reason,
            "closed_at": self.closed_at,
            "adapter_state": self.adapter_state,
            "ok": self.ok,
            "problems": list(self.problems),
            "quarantined": self.quarantined,
        }


@dataclass(frozen=True, slots=True)
class _Creation:
    """What a listing needs of a creation record."""

    session_id: str
    type: str
    participants: tuple[str, ...]
    created_at: str


def _manifest_ref(data: dict[str, Any]) -> str | None:
    block = data.get("manifest")
    if isinstance(block, dict) and "ref" in block and "type" not in block:
        return str(block["ref"])
    return None


async def last_lines(
    store: KnowledgeStore, paths: Sequence[str]
) -> builtins.list[tuple[int, str | None]]:
    """``(line count, last line or None)`` of every path: ``store.last_lines`` when it has
    one (SQLite: a primary-key lookup each), else :func:`line_counts` and one bulk read
    of each file's last line."""
    native = getattr(store, "last_lines", None)
    if native is not None:
        tails: builtins.list[tuple[int, str | None]] = await native(paths)
        return tails
    counts = await line_counts(store, paths)
    lasts = await read_lines_many(
        store, [(p, max(n - 1, 0)) for p, n in zip(paths, counts, strict=True)]
    )
    return [(n, last[-1] if last else None) for n, last in zip(counts, lasts, strict=True)]


async def line_counts(store: KnowledgeStore, paths: Sequence[str]) -> builtins.list[int]:
    """``line_count`` of every path: ``store.line_counts`` when it has one, else concurrent calls."""
    native = getattr(store, "line_counts", None)
    if native is not None:
        counted: builtins.list[int] = await native(paths)
        return counted
    out: builtins.list[int] = []
    for i in range(0, len(paths), 256):
        out.extend(await asyncio.gather(*(store.line_count(p) for p in paths[i : i + 256])))
    return out


class StoreReader:
    """Read-only access to what a hub keeps in ``store`` (see the module docstring).

    Args:
        store: the hub's store; the reader never writes to it or locks it.
        adapters: the session types to replay with (default: the built-in ones).
    """

    def __init__(
        self, store: KnowledgeStore, *, adapters: Iterable[SessionAdapter] | None = None
    ) -> None:
        self.store = store
        audit = AuditLog(store)  # read through only: nothing is ever appended
        self._seam = HubSeam(audit, BaseHubArbiter())
        # A table of nobody's sessions: what recovery's readers need (store, adapters,
        # manifest cache). Nothing is added to it, quarantined or indexed.
        self._table = SessionTable(store, self._seam, closed_cache_size=0)
        for adapter in default_adapters() if adapters is None else adapters:
            self._table.adapters[(adapter.manifest.type, adapter.manifest.version)] = adapter
        self._audit = audit
        self._metas: dict[str, SessionMetadata] = {}

    # ------------------------------------------------------------------ agents

    async def agents(self) -> list[AgentRecord]:
        """Every registered agent, by name."""
        registry = Registry(self.store, _no_clock, self._seam, AuthRegistry.default())
        await registry.load()  # reads only
        out = [
            AgentRecord(p, registry.resumes[aid], registry.principals.get(aid, ""))
            for aid, p in registry.passports.items()
        ]
        return sorted(out, key=lambda a: (a.passport.name, a.agent_id))

    # ------------------------------------------------------------------ sessions

    async def session_ids(self) -> list[str]:
        """Every session folder in the store (sorted)."""
        return [entry.rstrip("/") for entry in await self.store.list(layout.SESSIONS_DIR)]

    async def metadata(self, ids: Sequence[str]) -> list[SessionMetadata | None]:
        """The creation records of ``ids`` (None: missing or unreadable), bulk-read."""
        out: list[SessionMetadata | None] = []
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i : i + _CHUNK]
            raws = await read_many(self.store, [layout.session_meta_path(s) for s in chunk])
            for sid, raw in zip(chunk, raws, strict=True):
                meta = self._metas.get(sid)
                if meta is None and raw is not None:
                    try:
                        meta = await recovery.read_creation_record(self._table, raw, sid)
                    except (ValueError, TypeError, KeyError, NetworkError):
                        meta = None
                    if meta is not None:
                        self._metas[sid] = meta
                out.append(meta)
        return out

    async def session_metadata(self, session_id: str) -> SessionMetadata:
        """One session's creation record.

        Raises:
            NotFoundError: no such session (the message names it).
        """
        check_session_id(session_id)
        (meta,) = await self.metadata([session_id])
        if meta is None:
            raise NotFoundError(f"unknown session {session_id!r}")
        return meta

    async def summarize(self, metas: Sequence[SessionMetadata]) -> list[SessionSummary]:
        """Summaries of these sessions: line count and last line of each WAL, nothing more."""
        return await self._summaries(
            [
                _Creation(m.session_id, m.manifest.type, tuple(m.participant_ids()), m.created_at)
                for m in metas
            ]
        )

    async def _summaries(self, made: Sequence[_Creation]) -> list[SessionSummary]:
        out: list[SessionSummary] = []
        for i in range(0, len(made), _CHUNK):
            chunk = made[i : i + _CHUNK]
            tails = await last_lines(self.store, [layout.wal_path(c.session_id) for c in chunk])
            out.extend(_summary(c, n, last) for c, (n, last) in zip(chunk, tails, strict=True))
        return out

    async def _read_records(self, ids: Sequence[str]) -> list[str | None]:
        return await read_many(self.store, [layout.session_meta_path(s) for s in ids])

    async def _creations(self, ids: Sequence[str], raws: Sequence[str | None]) -> list[_Creation]:
        """What a listing needs of each creation record (type, participants, time).

        Records are decoded as JSON only (no ``SessionMetadata`` is built); a missing
        or unreadable record leaves its session out.
        """
        datas: list[tuple[str, dict[str, Any]]] = []
        refs: set[str] = set()
        for sid, raw in zip(ids, raws, strict=True):
            if raw is None:
                continue
            try:
                data = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue
            if isinstance(data, dict):
                datas.append((sid, data))
                ref = _manifest_ref(data)
                if ref is not None and ref not in self._table.manifest_refs:
                    refs.add(ref)
        if refs:
            ordered = sorted(refs)
            texts = await read_many(self.store, [layout.manifest_path(r) for r in ordered])
            for ref, text in zip(ordered, texts, strict=True):
                if text is not None:
                    self._table.manifest_refs[ref] = SessionManifest.from_dict(orjson.loads(text))
        out = []
        for sid, data in datas:
            block = data.get("manifest")
            ref = _manifest_ref(data)
            if ref is not None:
                manifest = self._table.manifest_refs.get(ref)
                kind = manifest.type if manifest is not None else "?"
            else:
                kind = str(block.get("type", "?")) if isinstance(block, dict) else "?"
            ids_or_records = data.get("participants") or []
            pids = tuple(
                p if isinstance(p, str) else str(p.get("agent_id", ""))
                for p in ids_or_records
                if isinstance(p, str | dict)
            )
            out.append(_Creation(sid, kind, pids, str(data.get("created_at", ""))))
        return out

    async def sessions(
        self,
        *,
        state: str | None = None,
        type: str | None = None,
        agent_id: str | None = None,
        created_after: str | None = None,
        limit: int | None = None,
    ) -> list[SessionSummary]:
        """Sessions matching every filter given, newest first, at most ``limit``.

        Newest first is by session id: ids are time-ordered (their first 48 bits
        are the creation time in milliseconds). Sessions are read in chunks of
        1,024 in that order, and reading stops once ``limit`` sessions matched:
        without filters only the listed sessions' records are read; with them,
        every candidate's creation record (one bulk read per chunk) and, for a
        ``state`` filter, each candidate's WAL length and last line.
        """
        after = iso_to_seconds(created_after) if created_after else None
        ids = sorted(await self.session_ids(), reverse=True)
        out: list[SessionSummary] = []
        step = _CHUNK if limit is None else max(1, min(_CHUNK, limit))
        chunks = [ids[i : i + step] for i in range(0, len(ids), step)]
        if not chunks:
            return out
        # One chunk's records are read while the one before it is decoded.
        ahead = asyncio.ensure_future(self._read_records(chunks[0]))
        try:
            for k, chunk in enumerate(chunks):
                raws = await ahead
                if k + 1 < len(chunks):
                    ahead = asyncio.ensure_future(self._read_records(chunks[k + 1]))
                made = [
                    c
                    for c in await self._creations(chunk, raws)
                    if (type is None or c.type == type)
                    and (agent_id is None or agent_id in c.participants)
                    and (after is None or (c.created_at and iso_to_seconds(c.created_at) >= after))
                ]
                found = await self._summaries(made)
                out.extend(found if state is None else [s for s in found if s.state == state])
                if limit is not None and len(out) >= limit:
                    break
        finally:
            if not ahead.done():
                ahead.cancel()
            await asyncio.gather(ahead, return_exceptions=True)
        return out if limit is None else out[:limit]

    # ------------------------------------------------------------------ WALs

    async def wal_lines(self, session_id: str) -> list[str]:
        """A session's WAL lines as stored.

        Raises:
            NotFoundError: no such session.
        """
        await self.session_metadata(session_id)
        return await self.store.read_lines(layout.wal_path(session_id))

    async def envelopes(self, session_id: str) -> list[Envelope]:
        """A session's envelopes; lines that do not decode are left out."""
        out = []
        for line in await self.wal_lines(session_id):
            if not line:
                continue
            try:
                out.append(Envelope.from_wal_line(line, session_id))
            except Exception:
                continue
        return out

    # ------------------------------------------------------------------ audit

    async def audit(
        self, since: AuditPosition | None = None
    ) -> tuple[list[dict[str, Any]], AuditPosition]:
        """The audit records after ``since`` (None: from the start), and the position after them."""
        pos = since or AuditPosition()
        records: list[dict[str, Any]] = []
        for path in await self._audit.segments():
            number = int(path.rsplit("-", 1)[1].split(".")[0])
            if number < pos.segment:
                continue
            start = pos.line if number == pos.segment else 0
            lines = await self.store.read_lines(path, start)
            for line in lines:
                if line:
                    try:
                        records.append(orjson.loads(line))
                    except orjson.JSONDecodeError:
                        records.append({"kind": "unreadable", "line": line})
            pos = AuditPosition(number, start + len(lines))
        return records, pos

    async def quarantined(self) -> dict[str, str]:
        """Sessions the hub quarantined (from the audit log): id → reason."""
        records, _ = await self.audit()
        return {
            str(r.get("session_id")): str(r.get("reason", ""))
            for r in records
            if r.get("kind") == AUDIT_KIND_SESSION_QUARANTINED
        }

    # ------------------------------------------------------------------ replay

    async def replay(self, session_id: str) -> ReplayReport:
        """Re-fold a session's whole WAL by the session machine, and check its snapshot.

        A WAL that does not replay is reported (``ok`` False, the ReplayError's
        message in ``problems``), never raised.

        Raises:
            NotFoundError: no such session.
        """
        meta = await self.session_metadata(session_id)
        lines = await self.store.read_lines(layout.wal_path(session_id))
        report = ReplayReport(session_id, meta.manifest.type, len(lines))
        if self._table.adapters.get((meta.manifest.type, meta.manifest.version)) is None:
            report.ok = False
            report.problems.append(
                f"no adapter for session type {meta.manifest.type!r} v{meta.manifest.version}"
            )
        snapshot = await self._snapshot(session_id)
        live = recovery.new_live(self._table, meta.copy())
        try:
            if snapshot is not None and 0 < snapshot[0] <= len(lines):
                recovery.fold_lines(live, lines[: snapshot[0]])
                report.problems.extend(_snapshot_problems(live, snapshot[1]))
                recovery.fold_lines(live, lines[snapshot[0] :], snapshot[0] + 1)
            else:
                if snapshot is not None:
                    report.problems.append(
                        f"snapshot at sequence {snapshot[0]} is past the WAL's {len(lines)} lines"
                    )
                recovery.fold_lines(live, lines)
        except ReplayError as exc:
            report.ok = False
            report.problems.append(str(exc))
        if report.problems:
            report.ok = False
        report.sequence = live.seq
        report.state = live.meta.state.value
        report.close_reason = live.meta.close_reason
        report.closed_at = live.meta.closed_at
        report.adapter_state = _dump(live.adapter, live.state)
        return report

    async def _snapshot(self, session_id: str) -> tuple[int, dict[str, Any]] | None:
        raw = await self.store.read(layout.snapshot_path(session_id))
        if raw is None:
            return None
        try:
            data = orjson.loads(raw)
            return int(data["sequence"]), data
        except Exception:
            return -1, {}


def _no_clock() -> str:
    return ""


def _dump(adapter: SessionAdapter | None, state: Any) -> Any:
    dump = getattr(adapter, "dump_state", None)
    if dump is None:
        return None
    try:
        return dump(state)
    except TypeError:
        return None


def _snapshot_problems(live: Any, snap: dict[str, Any]) -> list[str]:
    """How a snapshot differs from the fold of the WAL up to its sequence."""
    problems = []
    seq = snap.get("sequence")
    if snap.get("state") is not None and snap.get("state") != _dump(live.adapter, live.state):
        problems.append(f"snapshot at sequence {seq}: adapter state differs from the WAL's fold")
    life = snap.get("lifecycle") or {}
    if life.get("state") not in (None, live.meta.state.value):
        problems.append(
            f"snapshot at sequence {seq}: state {life.get('state')!r}, "
            f"the WAL's fold {live.meta.state.value!r}"
        )
    return problems


def _summary(made: _Creation, count: int, last: str | None) -> SessionSummary:
    """A session's summary from its creation record, line count and last WAL line."""
    state, closed_at, reason, last_at = "pending", None, "", None
    if last is not None:
        # The three fields a summary needs, straight from the line's JSON (a WAL line
        # always names its event type and time; ``Envelope.from_wal_line`` would build
        # and check the whole envelope).
        try:
            line = orjson.loads(last)
            event_type = line["event_type"]
            created = line.get("created_at") or None
            data = line.get("event_data") or {}
            if not isinstance(event_type, str) or not isinstance(data, dict):
                raise TypeError("not an envelope")
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
            state = "unknown"
        else:
            last_at = created if isinstance(created, str) else None
            if event_type in (EV_SESSION_CLOSED, EV_SESSION_EXPIRED):
                state = "closed" if event_type == EV_SESSION_CLOSED else "expired"
                closed_at = last_at
                text = data.get("reason")
                reason = text if isinstance(text, str) else ""
            elif event_type not in _HANDSHAKE:
                state = "active"
    return SessionSummary(
        made.session_id,
        made.type,
        made.participants,
        made.created_at,
        count,
        state,
        closed_at,
        reason,
        last_at,
    )
