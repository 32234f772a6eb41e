"""The session table: every session the hub knows of, and how to find one.

Live sessions are in memory; closed ones are cached (most recently used first
out) and read back from the store when asked for; a session whose WAL does
not replay is quarantined: readable, listed, refusing posts. Listing and WAL
reads for the operator API are answered here.
"""

from __future__ import annotations

import hashlib
import heapq
import logging
from collections import OrderedDict
from typing import Any

import orjson

from hubbub.knowledge import KnowledgeStore
from hubbub.network.adapters.base import SessionAdapter
from hubbub.network.clock import iso_to_seconds
from hubbub.network.envelope import EV_TEXT, Envelope
from hubbub.network.errors import (
    InvalidValueError,
    NetworkError,
    NotFoundError,
    ProtocolError,
    ReplayError,
    SessionCorruptError,
)
from hubbub.network.hub import layout, recovery
from hubbub.network.hub.audit import AUDIT_KIND_SESSION_QUARANTINED
from hubbub.network.hub.index import SessionIndex
from hubbub.network.hub.runtime import LiveSession
from hubbub.network.hub.seam import HubSeam
from hubbub.network.session import SessionManifest, SessionMetadata, SessionState

__all__ = ["SessionTable", "check_session_id", "manifest_hash"]

log = logging.getLogger("hubbub.hub")


def check_session_id(session_id: object) -> None:
    """Raise NotFoundError for anything that cannot be a session id (and so a store path)."""
    if (
        type(session_id) is not str
        or not session_id
        or len(session_id) > 256
        or "/" in session_id
        or "\x00" in session_id
        or session_id in (".", "..")
    ):
        raise NotFoundError(f"unknown session {session_id!r}")


def dumps_sorted(value: Any) -> str:
    """JSON text with sorted keys (what the store holds for records named by content)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def manifest_hash(manifest: SessionManifest) -> str:
    """The content hash a creation record names its manifest by."""
    return hashlib.sha256(dumps_sorted(manifest.to_dict()).encode()).hexdigest()[:24]


class SessionTable:
    """Sessions by id: live, recently closed, quarantined; with what building them needs.

    Owns the live sessions, the closed-session cache, the live-session count of
    every participant (for ``max_concurrent_sessions``), the TTL heap, the
    registered adapters (the session types it can build), the manifests by
    content hash, the quarantined sessions and the open-session index.

    Args:
        store: where the sessions are stored.
        seam: its audit sink is where quarantines are recorded.
        closed_cache_size: closed sessions kept in memory; older ones are read
            back from the store on demand.
    """

    def __init__(self, store: KnowledgeStore, seam: HubSeam, *, closed_cache_size: int) -> None:
        self.store = store
        self._seam = seam
        self.closed_cache_size = closed_cache_size
        self.adapters: dict[tuple[str, int], SessionAdapter] = {}
        self.live: dict[str, LiveSession] = {}
        self.closed: OrderedDict[str, LiveSession] = OrderedDict()
        self.live_count: dict[str, int] = {}  # participant id → its live sessions
        self.ttl_heap: list[tuple[float, str]] = []  # (expiry in epoch seconds, session id)
        self.manifest_refs: dict[str, SessionManifest] = {}
        self.quarantined: dict[str, str] = {}  # session id → why its WAL does not replay
        self.index = SessionIndex(store)

    def clear(self) -> None:
        """Forget every session (before hydrate rebuilds the table from the store)."""
        self.live.clear()
        self.closed.clear()
        self.live_count.clear()
        self.ttl_heap.clear()
        self.quarantined.clear()

    # ------------------------------------------------------------------ lookups

    def get(self, session_id: object) -> LiveSession | None:
        """A live or cached closed session, else None (never reads the store)."""
        if type(session_id) is not str:
            return None
        return self.live.get(session_id) or self.closed.get(session_id)

    def require(self, session_id: str) -> LiveSession:
        """A live or cached closed session; NotFoundError otherwise."""
        check_session_id(session_id)
        live = self.live.get(session_id) or self.closed.get(session_id)
        if live is None:
            raise NotFoundError(f"unknown session {session_id!r}")
        return live

    async def find(self, session_id: str) -> LiveSession:
        """The session's record, reading a long-closed one back from the store.

        Raises:
            NotFoundError: no such session (or not a session id at all).
            SessionCorruptError: the session is quarantined (its WAL does not replay).
        """
        check_session_id(session_id)
        live = self.live.get(session_id) or self.closed.get(session_id)
        if live is not None:
            return live
        reason = self.quarantined.get(session_id)
        if reason is not None:
            raise SessionCorruptError(f"session {session_id} is quarantined: {reason}")
        try:
            live = await recovery.load_session(self, session_id)
        except ReplayError as exc:
            await self.quarantine(session_id, str(exc))
            raise SessionCorruptError(f"session {session_id} is quarantined: {exc}") from exc
        if live is None:
            raise NotFoundError(f"unknown session {session_id!r}")
        self.remember_closed(live)
        return live

    def adapter_for(self, session_id: str) -> SessionAdapter:
        """The adapter running a session; NotFoundError / ProtocolError if unregistered."""
        live = self.require(session_id)
        if live.adapter is None:
            raise ProtocolError(
                f"no adapter registered for session {session_id}'s type {live.meta.manifest.type!r}"
            )
        return live.adapter

    def can_send(self, session_id: str, sender_id: str, event_type: str | None) -> bool:
        """Would the session's machine admit a (blank) envelope of ``event_type`` now?"""
        live = self.live.get(session_id) if type(session_id) is str else None
        if live is None or sender_id not in live.pids:
            return False
        probe = Envelope(session_id, sender_id, None, event_type or EV_TEXT, {"text": ""})
        try:
            live.machine.check(probe)
        except NetworkError:
            return False
        return True

    # ------------------------------------------------------------------ bookkeeping

    def add(self, live: LiveSession) -> None:
        """A session is live: index it, count it for its participants, schedule its expiry."""
        sid = live.meta.session_id
        self.live[sid] = live
        counts = self.live_count
        for pid in live.pids:
            counts[pid] = counts.get(pid, 0) + 1
        if live.expires_at_s is not None:
            heapq.heappush(self.ttl_heap, (live.expires_at_s, sid))

    async def create(self, live: LiveSession, record: str) -> None:
        """Store a new session's manifest, index line and creation record; then it is live."""
        sid = live.meta.session_id
        await self.store_manifest(live.meta.manifest)
        # Index line first: a crash before the record leaves a line that open() drops;
        # the other order would leave a session that open() never loads.
        await self.index.add(sid)
        await self.store.write(layout.session_meta_path(sid), record)
        self.add(live)

    def _unlist(self, session_id: str) -> LiveSession | None:
        """Take a session out of the live sessions and its participants' counts."""
        live = self.live.pop(session_id, None)
        if live is not None:
            counts = self.live_count
            for pid in live.pids:
                left = counts[pid] - 1
                if left:
                    counts[pid] = left
                else:
                    del counts[pid]
        return live

    def drop(self, live: LiveSession) -> None:
        """A session's end is durable: it leaves the live tables for the closed cache."""
        self._unlist(live.meta.session_id)
        live.fired = None
        heap = self.ttl_heap
        if len(heap) > 2 * len(self.live) + 64:
            # Closed sessions' expiry entries would otherwise stay until their TTL.
            heap[:] = [e for e in heap if e[1] in self.live]
            heapq.heapify(heap)
        self.remember_closed(live)

    def remember_closed(self, live: LiveSession) -> None:
        """Keep a closed session in the cache (the oldest one leaves when it is full)."""
        if self.closed_cache_size <= 0:
            return
        sid = live.meta.session_id
        self.closed[sid] = live
        self.closed.move_to_end(sid)
        while len(self.closed) > self.closed_cache_size:
            self.closed.popitem(last=False)

    def next_expired(self, now_s: float) -> LiveSession | None:
        """Take the next live session whose TTL passed by ``now_s`` off the heap (None: none)."""
        heap = self.ttl_heap
        while heap and heap[0][0] <= now_s:
            _, sid = heapq.heappop(heap)
            live = self.live.get(sid)
            if live is not None and live.expires_at_s is not None and live.expires_at_s <= now_s:
                return live
        return None

    async def quarantine(self, session_id: str, reason: str) -> None:
        """Set a session whose WAL does not replay aside: readable, listed, refusing posts.

        A live one leaves the live sessions (its TTL entry is skipped when due).
        """
        self._unlist(session_id)
        self.quarantined[session_id] = reason
        log.warning("session %s quarantined: %s", session_id, reason)
        await self._seam.audit.append(
            {"kind": AUDIT_KIND_SESSION_QUARANTINED, "session_id": session_id, "reason": reason}
        )

    async def store_manifest(self, manifest: SessionManifest) -> str:
        """Store a manifest once under its content hash (what creation records name it by)."""
        ref = manifest_hash(manifest)
        if ref not in self.manifest_refs:
            path = layout.manifest_path(ref)
            if not await self.store.exists(path):
                await self.store.write(path, dumps_sorted(manifest.to_dict()))
            self.manifest_refs[ref] = manifest
        return ref

    # ------------------------------------------------------------------ reads

    async def list_sessions(
        self,
        *,
        agent_id: str | None,
        state: SessionState | str | None,
        include_terminal: bool,
        type: str | None,
        created_after: str | None,
        created_before: str | None,
        limit: int,
        offset: int,
    ) -> list[SessionMetadata]:
        """Sessions matching every filter given, newest first (see :meth:`Hub.list_sessions`).

        Raises:
            InvalidValueError: a filter of the wrong type or value.
        """
        wanted = _state_filter(state)
        for name, value in (("agent_id", agent_id), ("type", type)):
            if value is not None and not isinstance(value, str):
                raise InvalidValueError(f"list_sessions: {name} must be a str, got {value!r}")
        after = _time_filter("created_after", created_after)
        before = _time_filter("created_before", created_before)
        for name, count in (("limit", limit), ("offset", offset)):
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise InvalidValueError(
                    f"list_sessions: {name} must be a non-negative int, got {count!r}"
                )
        terminal = include_terminal or wanted in (SessionState.CLOSED, SessionState.EXPIRED)

        def keep(meta: SessionMetadata) -> bool:
            if agent_id is not None and not meta.is_participant(agent_id):
                return False
            if wanted is not None and meta.state is not wanted:
                return False
            if type is not None and meta.manifest.type != type:
                return False
            created = iso_to_seconds(meta.created_at) if meta.created_at else 0.0
            return (after is None or created >= after) and (before is None or created < before)

        found: dict[str, SessionMetadata] = {}
        for live in self.live.values():
            if keep(live.meta):
                found[live.meta.session_id] = live.meta
        if terminal:
            for live in self.closed.values():
                if keep(live.meta):
                    found[live.meta.session_id] = live.meta
            for meta in await self._stored_sessions(skip=found.keys()):
                if keep(meta):
                    found[meta.session_id] = meta
        ordered = sorted(found.values(), key=lambda m: (m.created_at, m.session_id), reverse=True)
        return [meta.copy() for meta in ordered[offset : offset + limit]]

    async def _stored_sessions(self, *, skip: Any) -> list[SessionMetadata]:
        """Every session in the store that is neither live nor cached (read back and folded)."""
        ids = [entry.rstrip("/") for entry in await self.store.list(layout.SESSIONS_DIR)]
        out = []
        for sid in ids:
            if sid in skip or sid in self.live or sid in self.quarantined:
                continue
            try:
                live = await self.find(sid)
            except NetworkError:
                continue  # quarantined or gone meanwhile
            out.append(live.meta)
        return out

    async def read_wal(self, session_id: str, since: int, until: int | None) -> list[Envelope]:
        """A session's logged envelopes (see :meth:`Hub.read_wal`).

        Raises:
            InvalidValueError: ``since``/``until`` are not non-negative ints.
        """
        if isinstance(since, bool) or not isinstance(since, int) or since < 0:
            raise InvalidValueError(f"read_wal: since must be a non-negative int, got {since!r}")
        if until is not None and (
            isinstance(until, bool) or not isinstance(until, int) or until < 0
        ):
            raise InvalidValueError(f"read_wal: until must be a non-negative int, got {until!r}")
        try:
            check_session_id(session_id)
        except NotFoundError:
            return []
        lines = await self.store.read_lines(layout.wal_path(session_id), since, until)
        if session_id not in self.quarantined:
            return [Envelope.from_wal_line(line, session_id) for line in lines if line]
        out = []
        for line in lines:
            try:
                out.append(Envelope.from_wal_line(line, session_id))
            except ProtocolError:
                continue
        return out


def _state_filter(state: SessionState | str | None) -> SessionState | None:
    if state is None:
        return None
    try:
        return SessionState(state)
    except ValueError:
        raise InvalidValueError(
            f"list_sessions: state must be one of {[s.value for s in SessionState]}, got {state!r}"
        ) from None


def _time_filter(name: str, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return iso_to_seconds(value)
    except (TypeError, ValueError):
        raise InvalidValueError(
            f"list_sessions: {name} must be an ISO-8601 time, got {value!r}"
        ) from None
