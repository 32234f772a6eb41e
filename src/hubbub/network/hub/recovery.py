"""Recovery: rebuild the hub's state from its store by folding every WAL."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import orjson

from hubbub.knowledge.base import read_lines_many, read_many
from hubbub.network.clock import iso_to_seconds
from hubbub.network.envelope import is_protocol_event
from hubbub.network.errors import ReplayError
from hubbub.network.hub import layout
from hubbub.network.hub.runtime import LiveSession
from hubbub.network.hub.snapshots import apply_snapshot, restore_snapshot
from hubbub.network.machine import replay_lines
from hubbub.network.session import (
    Participant,
    SessionManifest,
    SessionMetadata,
    SessionState,
    own_entries,
    own_ids,
    participant_role,
)

if TYPE_CHECKING:
    from hubbub.network.hub.table import SessionTable

__all__ = ["ReplayError", "fold_lines", "hydrate", "load_session", "new_live", "replay"]

log = logging.getLogger(__name__)


def new_live(table: SessionTable, meta: SessionMetadata) -> LiveSession:
    """A session record at its creation: initial adapter state, nothing folded yet."""
    adapter = table.adapters.get((meta.manifest.type, meta.manifest.version))
    created_s = iso_to_seconds(meta.created_at) if meta.created_at else 0.0
    expires_at_s = iso_to_seconds(meta.expires_at) if meta.expires_at else None
    return LiveSession(meta, adapter, None, created_s, expires_at_s)


def fold_lines(live: LiveSession, lines: list[str], first_line: int = 1) -> LiveSession:
    """Fold WAL lines (numbered from ``first_line``) into ``live``; ReplayError on a bad log.

    The session machine applies each envelope exactly as the live pipeline does;
    the traffic record is rebuilt from the stamped times.
    """
    pids = live.pids
    for env in replay_lines(live.machine, lines, first_line):
        if env.created_at and not is_protocol_event(env.event_type):
            live.observe(env, iso_to_seconds(env.created_at), pids)
    live.durable = live.seq
    return live


def replay(table: SessionTable, meta: SessionMetadata, lines: list[str]) -> LiveSession:
    """Fold a session's whole WAL over its creation record; raises ReplayError on a bad log."""
    return fold_lines(new_live(table, meta), lines)


async def read_creation_record(table: SessionTable, raw: str, session_id: str) -> SessionMetadata:
    """Parse ``session_id``'s creation record, resolving its manifest reference (shared, cached)."""
    data = orjson.loads(raw)
    ref = _manifest_ref(data)
    if ref is not None and ref not in table.manifest_refs:
        await _load_manifests(table, [ref])
    return _creation_metadata(table, data, session_id)


def creation_defaults(data: dict[str, Any], session_id: str) -> dict[str, Any]:
    """Put back, in place, what a creation record leaves out because it follows from the rest.

    The session id is its path; the creator is the first participant; a new
    session is pending and waits for every other participant's ack. Records
    that spell these out (older ones, golden files) keep what they say.
    """
    data.setdefault("session_id", session_id)
    ids: list[Any] = data.get("participants") or []
    names = [p if type(p) is str else p.get("agent_id") for p in ids]
    if "creator_id" not in data and names:
        data["creator_id"] = names[0]
    if "pending_acks" not in data and data.get("state", "pending") == "pending":
        data["pending_acks"] = names[1:]
    return data


def _manifest_ref(data: dict[str, Any]) -> str | None:
    """The manifest reference of a parsed creation record (None: the manifest is inline)."""
    block = data.get("manifest")
    if isinstance(block, dict) and "ref" in block and "type" not in block:
        return str(block["ref"])
    return None


async def _load_manifests(table: SessionTable, refs: list[str]) -> None:
    """Read manifests into the table's cache, one bulk read; ReplayError if one is missing."""
    texts = await read_many(table.store, [layout.manifest_path(ref) for ref in refs])
    for ref, text in zip(refs, texts, strict=True):
        if text is not None:
            table.manifest_refs[ref] = SessionManifest.from_dict(orjson.loads(text))


def _creation_metadata(
    table: SessionTable, data: dict[str, Any], session_id: str
) -> SessionMetadata:
    """A parsed creation record as metadata; its manifest reference must be cached already.

    A record written by the hub (manifest by reference, participants as ids) is
    built directly, field by field as ``SessionMetadata.from_dict`` would: this
    runs once per live session at hydrate. Anything else goes through ``from_dict``.
    """
    creation_defaults(data, session_id)
    ref = _manifest_ref(data)
    ids: list[Any] = data.get("participants") or []
    compact = isinstance(ids, list) and all(type(i) is str for i in ids)
    created = data.get("created_at", "")
    if ref is None:
        if compact:
            data["participants"] = [
                {
                    "agent_id": pid,
                    "role": participant_role(i, len(ids)).value,
                    "order": i,
                    "joined_at": created,
                }
                for i, pid in enumerate(ids)
            ]
        return SessionMetadata.from_dict(data)
    manifest = table.manifest_refs.get(ref)
    if manifest is None:
        raise ReplayError(f"session {data.get('session_id')}: manifest {ref} is missing")
    if compact:
        count = len(ids)
        parts = [
            Participant(pid, participant_role(i, count), i, created) for i, pid in enumerate(ids)
        ]
    else:
        parts = [Participant.from_dict(p) for p in ids]
    state = data.get("state", "pending")
    return SessionMetadata(
        session_id=data["session_id"],
        manifest=manifest,
        creator_id=data["creator_id"],
        participants=parts,
        state=_STATES.get(state) or SessionState(state),
        created_at=created,
        expires_at=data.get("expires_at"),
        closed_at=data.get("closed_at"),
        close_reason=data.get("close_reason", ""),
        parent_session_id=data.get("parent_session_id"),
        knobs=own_entries(data.get("knobs")),
        labels=own_entries(data.get("labels")),
        required_acks=data.get("required_acks"),
        pending_acks=own_ids(data.get("pending_acks")),
        rejected_by=own_ids(data.get("rejected_by")),
    )


_STATES = {s.value: s for s in SessionState}


async def load_session(table: SessionTable, session_id: str) -> LiveSession | None:
    """Read one session back from the store: snapshot + WAL tail (None if it does not exist)."""
    return await _load(table, session_id)


async def _load(table: SessionTable, session_id: str) -> LiveSession | None:
    raw = await table.store.read(layout.session_meta_path(session_id))
    if raw is None:
        return None
    live = new_live(table, await read_creation_record(table, raw, session_id))
    covered = await restore_snapshot(table.store, live)
    lines = await table.store.read_lines(layout.wal_path(session_id), _tail_start(covered))
    return await _fold_or_refold(table, live, raw, covered, lines)


def _tail_start(covered: int) -> int:
    """Where to read a WAL tail after a snapshot covering ``covered`` envelopes.

    One line early: the last covered line comes back too, and shows that the WAL
    really reaches the snapshot (a store that lost its tail would otherwise look
    like one with nothing after the snapshot).
    """
    return covered - 1 if covered > 0 else 0


def _sequence_of(line: str) -> object:
    try:
        return orjson.loads(line).get("sequence")
    except Exception:
        return None


async def _fold_or_refold(
    table: SessionTable, live: LiveSession, raw: str, covered: int, lines: list[str]
) -> LiveSession:
    """Fold the WAL tail after a snapshot; if they disagree, fold the whole WAL instead.

    ``lines`` starts at ``_tail_start(covered)``: with a snapshot, its first line must
    be the snapshot's last envelope, else the snapshot is ahead of the log.
    """
    try:
        if covered:
            if not lines or _sequence_of(lines[0]) != covered:
                raise ReplayError(f"the WAL does not reach the snapshot's sequence {covered}")
            lines = lines[1:]
        return fold_lines(live, lines, covered + 1)
    except ReplayError:
        if not covered:
            raise
        # The snapshot and the log disagree: trust the log.
        session_id = live.meta.session_id
        log.warning(
            "session %s: snapshot at %d does not fit its WAL; folding it all", session_id, covered
        )
        live = new_live(table, await read_creation_record(table, raw, session_id))
        return fold_lines(live, await table.store.read_lines(layout.wal_path(session_id)))


# Sessions per bulk read at hydrate: two store round trips per chunk, bounded memory.
_HYDRATE_CHUNK = 1024
# Chunks read ahead while one is built (the store works while the loop folds).
_READ_AHEAD = 2

# A loaded session, or why it could not be (its WAL or records do not replay).
_Loaded = LiveSession | ReplayError


class _Chunk:
    """One chunk's store records: creation records, parsed snapshots, WAL tails after them."""

    __slots__ = ("metas", "snaps", "starts", "tails")

    def __init__(
        self,
        metas: list[str | None],
        snaps: list[dict[str, Any] | str | None],
        starts: list[int],
        tails: list[list[str]],
    ) -> None:
        self.metas = metas
        self.snaps = snaps
        self.starts = starts  # the sequence each snapshot covers (its tail starts one line earlier)
        self.tails = tails  # one per session with a creation record, in order


def _parse_snapshot(raw: str | None) -> tuple[dict[str, Any] | str | None, int]:
    """A snapshot's JSON (the raw text if it does not parse) and the sequence it claims."""
    if raw is None:
        return None, 0
    try:
        data = orjson.loads(raw)
        return data, int(data["sequence"])
    except Exception:
        return raw, 0  # apply_snapshot rejects it again, and says so


async def _read_chunk(table: SessionTable, ids: list[str]) -> _Chunk:
    """Read a chunk: creation records and snapshots in one bulk read, then the WAL tails."""
    count = len(ids)
    paths = [layout.session_meta_path(sid) for sid in ids]
    paths += [layout.snapshot_path(sid) for sid in ids]
    records = await read_many(table.store, paths)
    metas = records[:count]
    parsed = [_parse_snapshot(raw) for raw in records[count:]]
    starts = [seq for _, seq in parsed]
    requests = [
        (layout.wal_path(sid), _tail_start(start))
        for sid, meta, start in zip(ids, metas, starts, strict=True)
        if meta is not None
    ]
    tails = await read_lines_many(table.store, requests)
    return _Chunk(metas, [snap for snap, _ in parsed], starts, tails)


async def _load_chunk(table: SessionTable, ids: list[str], chunk: _Chunk) -> list[_Loaded | None]:
    """Build the sessions of one chunk from what ``_read_chunk`` read.

    A session whose records do not decode or whose WAL does not replay comes
    back as the ReplayError saying why (the caller quarantines it).
    """
    datas = [_parse_record(raw, sid) for raw, sid in zip(chunk.metas, ids, strict=True)]
    missing = {
        ref
        for data in datas
        if isinstance(data, dict)
        and (ref := _manifest_ref(data)) is not None
        and ref not in table.manifest_refs
    }
    if missing:
        await _load_manifests(table, sorted(missing))
    out: list[_Loaded | None] = [None] * len(ids)
    tails = iter(chunk.tails)
    for i, data in enumerate(datas):
        if data is None:
            continue
        lines = next(tails)
        if isinstance(data, ReplayError):
            out[i] = data
            continue
        try:
            live = new_live(table, _creation_metadata(table, data, ids[i]))
        except ReplayError as exc:
            out[i] = exc
            continue
        except Exception as exc:
            out[i] = ReplayError(f"session {ids[i]}: creation record does not load: {exc!r}")
            continue
        covered = apply_snapshot(live, chunk.snaps[i])
        if covered != chunk.starts[i]:  # the snapshot was rejected: its tail is not this one
            lines = await table.store.read_lines(live.wal, _tail_start(covered))
        raw = chunk.metas[i]
        assert raw is not None
        try:
            out[i] = await _fold_or_refold(table, live, raw, covered, lines)
        except ReplayError as exc:
            out[i] = exc
    return out


def _parse_record(raw: str | None, session_id: str) -> dict[str, Any] | ReplayError | None:
    """A creation record's JSON object, None if there is none, or why it does not parse."""
    if raw is None:
        return None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return ReplayError(f"session {session_id}: creation record is not JSON: {exc}")
    if not isinstance(data, dict):
        return ReplayError(f"session {session_id}: creation record is not a JSON object")
    return data


async def _load_all(table: SessionTable, ids: list[str]) -> list[_Loaded | None]:
    """Load ``ids`` chunk by chunk; the store reads the next chunks while one is built."""
    chunks = [ids[i : i + _HYDRATE_CHUNK] for i in range(0, len(ids), _HYDRATE_CHUNK)]
    reads: deque[asyncio.Future[_Chunk]] = deque()
    out: list[_Loaded | None] = []
    try:
        for k, chunk in enumerate(chunks):
            while len(reads) <= _READ_AHEAD and k + len(reads) < len(chunks):
                reads.append(asyncio.ensure_future(_read_chunk(table, chunks[k + len(reads)])))
            out.extend(await _load_chunk(table, chunk, await reads.popleft()))
    finally:
        for read in reads:  # an error left reads in flight: do not leak them
            read.cancel()
        await asyncio.gather(*reads, return_exceptions=True)
    return out


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while sessions are loaded in bulk.

    Loading allocates many long-lived objects and no cycles worth collecting;
    with the collector on, its full passes over the growing heap cost ~20% of a
    large hydrate. It is switched back on (if it was on) however the block ends.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


#: A session to close once the table is loaded: (session, terminal state, reason).
Finish = tuple[LiveSession, SessionState, str]


async def hydrate(table: SessionTable, *, strict: bool) -> list[Finish]:
    """Rebuild the (cleared) session table from the store; returns the closes still to make.

    With an open-session index only live sessions are loaded (snapshot + WAL
    tail each, read in bulk: two store round trips per 1,024 sessions); closed
    ones are read back on demand. Without one (a store written before the index
    existed) every session folder is scanned and the index is written. A session
    still PENDING had a creator waiting in a process that is gone; it is to be
    closed with reason ``invite_interrupted``. A close the adapter decided whose
    record a crash beat is to be carried out now.

    A session whose WAL does not replay is quarantined (``table.quarantined``:
    reported by ``health()`` and the audit log, posts refused with
    ``session_corrupt``); every other session loads. With ``strict`` the
    ReplayError is raised instead.
    """
    index = await table.index.read()
    if index is None:
        ids = [entry.rstrip("/") for entry in await table.store.list(layout.SESSIONS_DIR)]
        index_lines = -1
    else:
        ids, index_lines = index
    live_ids: list[str] = []
    corrupt: list[tuple[str, ReplayError]] = []
    finish: list[Finish] = []
    with _gc_paused():
        loads = zip(ids, await _load_all(table, ids), strict=True)
        for session_id, loaded in loads:
            if loaded is None:
                log.warning("session %s has no creation record; ignored", session_id)
                continue
            if isinstance(loaded, ReplayError):
                if strict:
                    raise loaded
                corrupt.append((session_id, loaded))
                continue
            live = loaded
            if live.meta.is_terminal():
                table.remember_closed(live)
                continue
            table.add(live)
            live_ids.append(session_id)
            if live.meta.state is SessionState.PENDING:
                # The creator's open() was waiting in a process that is gone.
                reason = "invite_rejected" if live.meta.rejected_by else "invite_interrupted"
                finish.append((live, SessionState.CLOSED, reason))
            elif live.machine.decision is not None:  # decided and acknowledged, not logged yet
                state, reason = live.machine.decision
                if state is not SessionState.ACTIVE:
                    finish.append((live, state, reason))
    await table.index.open(live_ids + [sid for sid, _ in corrupt], index_lines)
    for session_id, exc in corrupt:
        await table.quarantine(session_id, str(exc))
    return finish
