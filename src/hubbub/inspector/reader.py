"""StoreReader: what the inspector shows, read from a hub's KnowledgeStore without writing.

The reader never takes the store's writer lock and never writes, so it can read
a store a running hub holds (offline ``hubbub inspect``) or the store of the hub
in its own process (``hubbub serve --ui``). It knows the store layout
(:mod:`hubbub.network.hub.layout`) and nothing of the hub's logic: a session's
state at any point is the fold of its WAL prefix through the pure
:class:`~hubbub.network.machine.SessionMachine`, as recovery folds it.

The session listing never reads a WAL: it comes from the creation records
(read in bulk, once per session, cached), the open-session index and the audit
log's close records (read incrementally). Its state is therefore ``open``
(pending or active), ``closed`` or ``expired``; the session page folds the WAL
and shows the exact lifecycle state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from hubbub.inspector.usage import Totals, usage_by_sender, usage_of
from hubbub.knowledge.base import KnowledgeStore, read_lines_many, read_many
from hubbub.network.adapters import SessionAdapter, default_adapters
from hubbub.network.envelope import EV_TEXT, Envelope
from hubbub.network.errors import ProtocolError, ReplayError
from hubbub.network.hub import layout
from hubbub.network.hub.index import INDEX_PATH
from hubbub.network.hub.recovery import creation_defaults
from hubbub.network.machine import SessionMachine, replay_lines
from hubbub.network.session import SessionManifest, SessionMetadata, participant_role

__all__ = [
    "LIST_STATES",
    "ListedSession",
    "StoreReader",
    "envelope_json",
]

#: Listing states: what the index and the audit log tell without reading a WAL.
LIST_STATES = ("open", "closed", "expired")


@dataclass(slots=True)
class ListedSession:
    """One row of the session listing (creation record + index + audit)."""

    session_id: str
    type: str
    version: int
    participants: list[str]
    created_at: str
    labels: dict[str, str]
    state: str = "open"
    reason: str = ""
    closed_at: str = ""

    def to_json(self, names: dict[str, str]) -> dict[str, Any]:
        """JSON for the API; ``names`` maps agent ids to names."""
        return {
            "session_id": self.session_id,
            "type": self.type,
            "version": self.version,
            "participants": [{"id": p, "name": names.get(p, p)} for p in self.participants],
            "created_at": self.created_at,
            "labels": self.labels,
            "state": self.state,
            "reason": self.reason,
            "closed_at": self.closed_at,
        }


def envelope_json(envelope: Envelope) -> dict[str, Any]:
    """An envelope for the API: every field, plus its text (for a text) and its usage."""
    data = envelope.to_dict()
    text = envelope.event_data.get("text") if envelope.event_type == EV_TEXT else None
    data["text"] = text if isinstance(text, str) else None
    data["usage"] = usage_of(envelope)
    return data


class StoreReader:
    """Read-only views of one hub store (see the module docstring).

    Args:
        store: the hub's knowledge store (opened by the caller, closed by it).
        adapters: adapters by (type, version) to fold sessions with; the
            built-in ones by default. A session of an unknown type still lists
            and shows its envelopes; its adapter state is None.
    """

    def __init__(
        self,
        store: KnowledgeStore,
        adapters: dict[tuple[str, int], SessionAdapter] | None = None,
    ) -> None:
        self.store = store
        if adapters is None:
            adapters = {(a.manifest.type, a.manifest.version): a for a in default_adapters()}
        self.adapters = adapters
        self._sessions: dict[str, ListedSession] = {}
        self._ordered: list[ListedSession] = []  # newest first
        self._manifests: dict[str, SessionManifest] = {}
        self._audit_seen: dict[str, int] = {}  # audit segment path → lines read
        self._ends: dict[str, tuple[str, str, str]] = {}  # sid → (state, reason, at)
        self._records: dict[str, list[dict[str, Any]]] = {}  # segment path → its records
        self._names: dict[str, str] = {}
        self._wal_usage: dict[str, tuple[int, dict[str, Totals]]] = {}
        self._lock = asyncio.Lock()

    # ------------------------------------------------------------------ agents

    async def agents(self) -> list[dict[str, Any]]:
        """Every registered agent's passport (as JSON), sorted by name."""
        ids = [entry.rstrip("/") for entry in await self.store.list(layout.AGENTS_DIR)]
        raws = await read_many(self.store, [layout.passport_path(i) for i in ids])
        out: list[dict[str, Any]] = []
        for agent_id, raw in zip(ids, raws, strict=True):
            if raw is None:
                continue
            data = orjson.loads(raw)
            data.setdefault("agent_id", agent_id)
            self._names[agent_id] = str(data.get("name") or agent_id)
            out.append(data)
        out.sort(key=lambda p: (str(p.get("name", "")), str(p.get("agent_id"))))
        return out

    async def names(self) -> dict[str, str]:
        """Agent id → name (read once, refreshed when an unknown id turns up)."""
        if not self._names:
            await self.agents()
        return self._names

    async def agent_usage(self) -> dict[str, dict[str, Any]]:
        """Per agent: usage over every session's replies, sessions taken part in.

        Reads each WAL once and afterwards only the lines appended since.
        """
        await self.refresh()
        sessions = list(self._sessions.values())
        requests = [
            (layout.wal_path(s.session_id), self._wal_usage.get(s.session_id, (0, {}))[0])
            for s in sessions
        ]
        tails = await read_lines_many(self.store, requests)
        totals: dict[str, Totals] = {}
        counts: dict[str, int] = {}
        for listed, (_, start), lines in zip(sessions, requests, tails, strict=True):
            sid = listed.session_id
            _, known = self._wal_usage.get(sid, (0, {}))
            if lines:
                fresh = usage_by_sender(_decode_lines(lines, sid))
                for sender, part in fresh.items():
                    known.setdefault(sender, Totals()).merge(part)
                self._wal_usage[sid] = (start + len(lines), known)
            for sender, part in known.items():
                totals.setdefault(sender, Totals()).merge(part)
            for pid in listed.participants:
                counts[pid] = counts.get(pid, 0) + 1
        ids = set(totals) | set(counts)
        return {
            aid: {"sessions": counts.get(aid, 0), **totals.get(aid, Totals()).to_json()}
            for aid in ids
        }

    # ------------------------------------------------------------------ the listing

    async def refresh(self) -> None:
        """Read what is new: creation records of new sessions, new audit lines, the index."""
        async with self._lock:
            ids = [entry.rstrip("/") for entry in await self.store.list(layout.SESSIONS_DIR)]
            new = [sid for sid in ids if sid not in self._sessions]
            if new:
                raws = await read_many(self.store, [layout.session_meta_path(s) for s in new])
                for sid, raw in zip(new, raws, strict=True):
                    if raw is None:
                        continue
                    try:
                        meta = await self._metadata(sid, raw)
                    except Exception as exc:  # listed, with why it cannot be read
                        self._sessions[sid] = ListedSession(
                            sid, "?", 0, [], "", {}, "unreadable", f"creation record: {exc}"
                        )
                        continue
                    self._sessions[sid] = ListedSession(
                        sid,
                        meta.manifest.type,
                        meta.manifest.version,
                        [p.agent_id for p in meta.participants],
                        meta.created_at,
                        dict(meta.labels),
                    )
                self._ordered = sorted(
                    self._sessions.values(),
                    key=lambda s: (s.created_at, s.session_id),
                    reverse=True,
                )
                if any(p not in self._names for s in self._ordered for p in s.participants):
                    self._names = {}  # an agent registered since: read the names again
            await self._read_audit_ends()
            live = await self._index_live()
            for sid, listed in self._sessions.items():
                end = self._ends.get(sid)
                if listed.state == "unreadable":
                    continue
                if end is not None:
                    listed.state, listed.reason, listed.closed_at = end
                elif live is not None and sid not in live:
                    listed.state = "closed"  # the index says it ended; the audit has no record

    async def _index_live(self) -> set[str] | None:
        if not await self.store.exists(INDEX_PATH):
            return None
        live: dict[str, None] = {}
        for line in await self.store.read_lines(INDEX_PATH):
            if line.startswith("+"):
                live[line[1:]] = None
            elif line.startswith("-"):
                live.pop(line[1:], None)
        return set(live)

    async def _read_audit_ends(self) -> None:
        """Read the audit lines appended since the last call; note each session's end."""
        segments = await self._audit_segments()
        for gone in set(self._records) - set(segments):  # pruned meanwhile
            del self._records[gone]
            self._audit_seen.pop(gone, None)
        for path in segments:
            start = self._audit_seen.get(path, 0)
            lines = await self.store.read_lines(path, start)
            self._audit_seen[path] = start + len(lines)
            records = self._records.setdefault(path, [])
            for line in lines:
                if not line:
                    continue
                record = orjson.loads(line)
                records.append(record)
                kind = record.get("kind")
                if kind in ("session_closed", "session_expired"):
                    state = "expired" if kind == "session_expired" else "closed"
                    self._ends[str(record.get("session_id"))] = (
                        state,
                        str(record.get("reason", "")),
                        str(record.get("at", "")),
                    )

    async def _audit_segments(self) -> list[str]:
        names = await self.store.list(layout.AUDIT_DIR)
        return sorted(
            f"{layout.AUDIT_DIR}/{n}"
            for n in names
            if n.startswith("audit-") and n.endswith(".jsonl")
        )

    async def list_sessions(
        self,
        *,
        state: str | None = None,
        type: str | None = None,
        agent: str | None = None,
        q: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[int, list[ListedSession]]:
        """Sessions matching every filter, newest first: (how many match, one page of them).

        Args:
            state: ``open``, ``closed`` or ``expired``.
            type: the session type.
            agent: an agent id or name that takes part.
            q: text found (case-insensitively) in the id, type, a participant's
                name or id, a label, or the close reason.
            limit, offset: the page.
        """
        await self.refresh()
        names = await self.names()
        agent_ids: set[str] | None = None
        if agent:
            agent_ids = {aid for aid, name in names.items() if name == agent} | {agent}
        needle = q.lower() if q else None
        matched: list[ListedSession] = []
        for s in self._ordered:
            if state and s.state != state:
                continue
            if type and s.type != type:
                continue
            if agent_ids is not None and not agent_ids.intersection(s.participants):
                continue
            if needle is not None and needle not in _haystack(s, names):
                continue
            matched.append(s)
        return len(matched), matched[offset : offset + limit]

    def session_types(self) -> list[str]:
        """The session types seen so far, sorted."""
        return sorted({s.type for s in self._sessions.values()})

    # ------------------------------------------------------------------ one session

    async def _metadata(self, session_id: str, raw: str) -> SessionMetadata:
        """A creation record as the session's metadata at creation (state pending)."""
        data = creation_defaults(orjson.loads(raw), session_id)
        block = data.get("manifest")
        if isinstance(block, dict) and "ref" in block and "type" not in block:
            ref = str(block["ref"])
            manifest = self._manifests.get(ref)
            if manifest is None:
                text = await self.store.read(layout.manifest_path(ref))
                if text is None:
                    raise ReplayError(f"session {session_id}: manifest {ref} is missing")
                manifest = SessionManifest.from_dict(orjson.loads(text))
                self._manifests[ref] = manifest
            data["manifest"] = manifest.to_dict()
        ids = data.get("participants") or []
        if all(isinstance(i, str) for i in ids):
            data["participants"] = [
                {
                    "agent_id": pid,
                    "role": participant_role(i, len(ids)).value,
                    "order": i,
                    "joined_at": data.get("created_at", ""),
                }
                for i, pid in enumerate(ids)
            ]
        return SessionMetadata.from_dict(data)

    async def creation(self, session_id: str) -> SessionMetadata | None:
        """A session's metadata as created (None if there is no such session).

        Raises:
            ReplayError: the creation record (or its manifest) does not load.
        """
        raw = await self.store.read(layout.session_meta_path(session_id))
        if raw is None:
            return None
        try:
            return await self._metadata(session_id, raw)
        except ReplayError:
            raise
        except Exception as exc:
            raise ReplayError(
                f"session {session_id}: creation record does not load: {exc}"
            ) from exc

    async def wal_lines(self, session_id: str, start: int = 0) -> list[str]:
        """The session's WAL lines from line ``start`` (0-based)."""
        return await self.store.read_lines(layout.wal_path(session_id), start)

    def envelopes(self, session_id: str, lines: list[str]) -> list[Envelope]:
        """WAL lines decoded (lines that do not decode are left out)."""
        return list(_decode_lines(lines, session_id))

    async def audit(
        self, *, session_id: str | None = None, kind: str | None = None
    ) -> list[dict[str, Any]]:
        """Audit records, oldest first, optionally of one session or kind.

        The log is read incrementally: each call reads only the lines appended since.
        """
        async with self._lock:
            await self._read_audit_ends()
        out: list[dict[str, Any]] = []
        for path in sorted(self._records):
            for record in self._records[path]:
                if session_id is not None and record.get("session_id") != session_id:
                    continue
                if kind is not None and record.get("kind") != kind:
                    continue
                out.append(record)
        return out

    def fold(self, meta: SessionMetadata, lines: list[str], at: int) -> dict[str, Any]:
        """The session's state after its first ``at`` WAL lines, folded by the session machine.

        Returns lifecycle state and fields, the sequence reached, the adapter's
        state (as it dumps it), who may send a text now, and the pending
        decision; ``error`` says why the fold stopped early (a WAL that does not
        replay).
        """
        adapter = self.adapters.get((meta.manifest.type, meta.manifest.version))
        machine = SessionMachine(meta.copy(), adapter)  # the fold changes its metadata
        applied = 0
        error: str | None = None
        try:
            for _ in replay_lines(machine, lines[:at]):
                applied += 1
        except ReplayError as exc:
            error = str(exc)
        state: Any = None
        if adapter is not None and machine.state is not None:
            dump = getattr(adapter, "dump_state", None)
            try:
                state = dump(machine.state) if dump is not None else repr(machine.state)
            except TypeError:
                state = repr(machine.state)
        may_send: dict[str, bool] = {}
        for pid in machine.pids:
            try:
                machine.check(Envelope(meta.session_id, pid, None, EV_TEXT, {"text": ""}))
                may_send[pid] = True
            except ProtocolError:
                may_send[pid] = False
        m = machine.meta
        return {
            "at": at,
            "applied": applied,
            "sequence": machine.seq,
            "state": m.state.value,
            "pending_acks": list(m.pending_acks),
            "rejected_by": list(m.rejected_by),
            "close_reason": m.close_reason,
            "closed_at": m.closed_at,
            "closing": machine.closing,
            "decision": None
            if machine.decision is None
            else {"state": machine.decision[0].value, "reason": machine.decision[1]},
            "adapter": None if adapter is None else f"{type(adapter).__name__}",
            "adapter_state": state,
            "may_send": may_send,
            "knobs": dict(m.knobs),
            "labels": dict(m.labels),
            "error": error,
        }

    @staticmethod
    def usage(envelopes: list[Envelope]) -> dict[str, Any]:
        """Usage of a session's replies: in total and per sender."""
        by_sender = usage_by_sender(envelopes)
        total = Totals()
        for part in by_sender.values():
            total.merge(part)
        return {
            "total": total.to_json(),
            "by_agent": {sender: t.to_json() for sender, t in by_sender.items()},
        }


def _decode_lines(lines: list[str], session_id: str) -> Iterable[Envelope]:
    for line in lines:
        if not line:
            continue
        try:
            yield Envelope.from_wal_line(line, session_id)
        except Exception:  # a line that does not decode: shown by the fold's error
            continue


def _haystack(s: ListedSession, names: dict[str, str]) -> str:
    parts = [s.session_id, s.type, s.reason, *s.participants]
    parts += [names.get(p, "") for p in s.participants]
    parts += [f"{k}={v}" for k, v in s.labels.items()]
    return " ".join(parts).lower()
