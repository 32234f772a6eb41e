"""Recovery: rebuild the hub's state from its store by folding every WAL."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import orjson

from hubbub.network.clock import iso_to_seconds
from hubbub.network.envelope import Envelope, is_protocol_event
from hubbub.network.expectations import SessionActivity
from hubbub.network.hub import layout
from hubbub.network.hub.runtime import LiveSession
from hubbub.network.hub.snapshots import compact_index, read_index, restore_snapshot
from hubbub.network.lifecycle import apply_lifecycle_event
from hubbub.network.session import SessionManifest, SessionMetadata, SessionState, participant_role

if TYPE_CHECKING:
    from hubbub.network.hub.core import Hub

__all__ = ["ReplayError", "fold_lines", "hydrate", "load_session", "new_live", "replay"]

log = logging.getLogger(__name__)


class ReplayError(Exception):
    """A WAL does not replay: out-of-order sequence, wrong session, or undecodable line."""


def new_live(hub: Hub, meta: SessionMetadata) -> LiveSession:
    """A session record at its creation: initial adapter state, nothing folded yet."""
    adapter = hub._adapters.get((meta.manifest.type, meta.manifest.version))
    created_s = iso_to_seconds(meta.created_at) if meta.created_at else 0.0
    state = adapter.initial_state(meta) if adapter is not None else None
    expires_at_s = iso_to_seconds(meta.expires_at) if meta.expires_at else None
    return LiveSession(
        meta,
        adapter,
        state,
        layout.wal_path(meta.session_id),
        SessionActivity(created_s, created_s),
        expires_at_s,
    )


def fold_lines(live: LiveSession, lines: list[str], first_line: int = 1) -> LiveSession:
    """Fold WAL lines (numbered from ``first_line``) into ``live``; ReplayError on a bad log."""
    fold_tail(live, lines, first_line)
    return live


def fold_tail(live: LiveSession, lines: list[str], first_line: int = 1) -> Envelope | None:
    """Fold WAL lines into ``live``; returns the last non-protocol envelope folded (or None)."""
    last: Envelope | None = None
    meta = live.meta
    adapter = live.adapter
    pids = live.pids
    for number, line in enumerate(lines, start=first_line):
        if not line:
            continue
        try:
            env = Envelope.from_wal_line(line, meta.session_id)
        except Exception as exc:
            raise ReplayError(
                f"session {meta.session_id}: WAL line {number} does not decode: {exc}"
            ) from exc
        if env.session_id != meta.session_id:
            raise ReplayError(
                f"session {meta.session_id}: WAL line {number} belongs to session {env.session_id}"
            )
        if env.sequence != live.seq + 1:
            raise ReplayError(
                f"session {meta.session_id}: WAL line {number} has sequence {env.sequence}, "
                f"expected {live.seq + 1}"
            )
        live.seq = env.sequence
        if adapter is not None:
            live.state = adapter.fold(env, live.state)
        if is_protocol_event(env.event_type):
            apply_lifecycle_event(meta, env)
        else:
            last = env
            if env.created_at:
                live.activity.observe(env, iso_to_seconds(env.created_at), pids)
    live.durable = live.seq
    return last


def replay(hub: Hub, meta: SessionMetadata, lines: list[str]) -> LiveSession:
    """Fold a session's whole WAL over its creation record; raises ReplayError on a bad log."""
    return fold_lines(new_live(hub, meta), lines)


async def read_creation_record(hub: Hub, raw: str) -> SessionMetadata:
    """Parse a session's creation record, resolving its manifest reference (shared, cached)."""
    data = orjson.loads(raw)
    ref_block = data.get("manifest")
    manifest = None
    if isinstance(ref_block, dict) and "ref" in ref_block and "type" not in ref_block:
        ref = ref_block["ref"]
        manifest = hub._manifest_refs.get(ref)
        if manifest is None:
            text = await hub.store.read(layout.manifest_path(ref))
            if text is None:
                raise ReplayError(f"session {data.get('session_id')}: manifest {ref} is missing")
            manifest = SessionManifest.from_dict(orjson.loads(text))
            hub._manifest_refs[ref] = manifest
        data["manifest"] = {"type": manifest.type}
    ids = data.get("participants")
    if isinstance(ids, list) and all(isinstance(i, str) for i in ids):
        data["participants"] = [
            {
                "agent_id": pid,
                "role": participant_role(i, len(ids)).value,
                "order": i,
                "joined_at": data.get("created_at", ""),
            }
            for i, pid in enumerate(ids)
        ]
    meta = SessionMetadata.from_dict(data)
    if manifest is not None:
        meta.manifest = manifest
    return meta


async def load_session(hub: Hub, session_id: str) -> LiveSession | None:
    """Read one session back from the store: snapshot + WAL tail (None if it does not exist)."""
    loaded = await _load(hub, session_id)
    return None if loaded is None else loaded[0]


async def _load(hub: Hub, session_id: str) -> tuple[LiveSession, Envelope | None] | None:
    raw = await hub.store.read(layout.session_meta_path(session_id))
    if raw is None:
        return None
    meta = await read_creation_record(hub, raw)
    live = new_live(hub, meta)
    covered = await restore_snapshot(hub, live)
    lines = await hub.store.read_lines(layout.wal_path(session_id), covered)
    try:
        return live, fold_tail(live, lines, covered + 1)
    except ReplayError:
        if not covered:
            raise
        # The snapshot and the log disagree: trust the log.
        log.warning(
            "session %s: snapshot at %d does not fit its WAL; folding it all", session_id, covered
        )
        live = new_live(hub, await read_creation_record(hub, raw))
        return live, fold_tail(live, await hub.store.read_lines(layout.wal_path(session_id)))


def _pending_decision(live: LiveSession, last: Envelope | None) -> tuple[SessionState, str] | None:
    """The close the adapter decided on the last admitted envelope, if a crash beat its record."""
    if last is None or live.adapter is None:
        return None
    result = live.adapter.on_accepted(live.meta, last, live.state)
    if result.next_state is None or result.next_state is SessionState.ACTIVE:
        return None
    state = (
        SessionState.EXPIRED if result.next_state is SessionState.EXPIRED else SessionState.CLOSED
    )
    return state, result.auto_close_reason or "adapter_closed"


async def hydrate(hub: Hub) -> None:
    """Clear the hub's caches and rebuild them from the store.

    With an open-session index only live sessions are loaded (snapshot + WAL
    tail each); closed ones are read back on demand. Without one (a store
    written before the index existed) every session folder is scanned and the
    index is written. A session still PENDING had a creator waiting in a process
    that is gone; it is closed with reason ``invite_interrupted``.
    """
    hub._sessions.clear()
    hub._closed.clear()
    hub._by_agent.clear()
    hub._ttl_heap.clear()
    hub._pending_inbox.clear()
    await hub._registry.load()
    await hub._audit_log.open()
    index = await read_index(hub)
    if index is None:
        ids = [entry.rstrip("/") for entry in await hub.store.list(layout.SESSIONS_DIR)]
        index_lines = -1
    else:
        ids, index_lines = index
    live_ids: list[str] = []
    finish: list[tuple[LiveSession, SessionState, str]] = []
    # Load in concurrent batches so a threaded store answers many reads per round trip.
    loads: list[tuple[str, tuple[LiveSession, Envelope | None] | None]] = []
    for start in range(0, len(ids), 128):
        chunk = ids[start : start + 128]
        results = await asyncio.gather(*(_load(hub, sid) for sid in chunk))
        loads.extend(zip(chunk, results, strict=True))
    for session_id, loaded in loads:
        if loaded is None:
            log.warning("session %s has no creation record; ignored", session_id)
            continue
        live, last = loaded
        if live.meta.is_terminal():
            hub._remember_closed(live)
            continue
        hub._add_live(live)
        live_ids.append(session_id)
        if live.meta.state is SessionState.PENDING:
            # The creator's open() was waiting in a process that is gone.
            reason = "invite_rejected" if live.meta.rejected_by else "invite_interrupted"
            finish.append((live, SessionState.CLOSED, reason))
        else:
            decision = _pending_decision(live, last)
            if decision is not None:  # decided and acknowledged, but the close was not logged yet
                finish.append((live, *decision))
    if index_lines < 0 or index_lines != len(live_ids):
        await compact_index(hub, live_ids)
    for live, state, reason in finish:
        await hub._terminate(live, state, reason)
