"""Fast restarts: per-session snapshots (``/sessions/<sid>/snapshot.json``).

A snapshot holds the adapter state, lifecycle fields and activity record at a
WAL position that was durable when it was taken. Hydrate restores it and folds
only the WAL tail after it. A snapshot that does not fit its WAL (wrong
position, undecodable) is ignored and the whole WAL is folded. (The
open-session index, the other half of a fast restart, is in ``index``.)
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

import orjson

from hubbub.knowledge import KnowledgeStore
from hubbub.network.hub import layout
from hubbub.network.hub.runtime import LiveSession
from hubbub.network.session import SessionState, own_ids

__all__ = [
    "apply_snapshot",
    "restore_snapshot",
    "snapshot_record",
    "write_due_snapshots",
    "write_snapshot",
]

log = logging.getLogger(__name__)

#: Snapshots written concurrently: a group-committing store puts a chunk in one transaction.
_SNAPSHOT_CHUNK = 256


def snapshot_record(live: LiveSession) -> str | None:
    """The snapshot JSON of a session at its durable position, or None if it cannot be taken now."""
    adapter = live.adapter
    dump = getattr(adapter, "dump_state", None)
    if adapter is None or dump is None or live.durable != live.seq or live.seq == 0:
        return None
    meta = live.meta
    act = live.activity
    try:
        state = dump(live.state)
    except TypeError:
        return None
    record: dict[str, Any] = {
        "sequence": live.seq,
        "state": state,
        "lifecycle": {
            "state": meta.state.value,
            "pending_acks": meta.pending_acks,
            "rejected_by": meta.rejected_by,
            "close_reason": meta.close_reason,
            "closed_at": meta.closed_at,
        },
        "activity": {
            "created_at": act.created_at,
            "last_content_at": act.last_content_at,
            "text_to": act.text_to,
            "text_from": act.text_from,
        },
    }
    keys = live.machine.keys
    if keys:  # recent idempotency keys: a retry after a restart is still recognised
        record["keys"] = [[s, k, *v] for (s, k), v in keys.items()]
    decision = live.machine.decision
    if decision is not None:  # decided, not carried out yet (the store was down)
        record["decision"] = [decision[0].value, decision[1]]
    return orjson.dumps(record, default=str).decode()


async def write_snapshot(store: KnowledgeStore, live: LiveSession) -> bool:
    """Store a snapshot of ``live`` if one can be taken now; returns whether it was written."""
    record = snapshot_record(live)
    if record is None:
        return False
    seq = live.seq
    await store.write(layout.snapshot_path(live.meta.session_id), record)
    live.snap_seq = max(live.snap_seq, seq)
    return True


async def write_due_snapshots(
    store: KnowledgeStore, sessions: Iterable[LiveSession], min_new: int, quiet_since: float
) -> int:
    """Snapshot the sessions with ``min_new`` envelopes since their last snapshot, and those
    with any whose traffic has been quiet since ``quiet_since``; returns how many were written."""
    due = [
        live
        for live in sessions
        if (new := live.seq - live.snap_seq) >= min_new
        or (new > 0 and live.activity.last_content_at <= quiet_since)
    ]
    written = 0
    for start in range(0, len(due), _SNAPSHOT_CHUNK):
        chunk = due[start : start + _SNAPSHOT_CHUNK]
        results = await asyncio.gather(
            *(write_snapshot(store, live) for live in chunk), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result
            written += result
    return written


async def restore_snapshot(store: KnowledgeStore, live: LiveSession) -> int:
    """Apply a stored snapshot to a freshly built ``live``; returns the WAL position it covers (0: none)."""
    return apply_snapshot(live, await store.read(layout.snapshot_path(live.meta.session_id)))


def apply_snapshot(live: LiveSession, raw: str | dict[str, Any] | None) -> int:
    """Apply a snapshot (its JSON, or that parsed; None: there is none) to a freshly built ``live``.

    Returns the WAL position it covers; 0 if there is none, the adapter cannot
    load one, or it does not parse (then ``live`` is left as it was).
    """
    if raw is None or live.adapter is None or not hasattr(live.adapter, "load_state"):
        return 0
    try:
        data = orjson.loads(raw) if isinstance(raw, str) else raw
        seq = int(data["sequence"])
        state = live.adapter.load_state(live.meta, data["state"])
        life = data["lifecycle"]
        act = data["activity"]
        lifecycle = (
            SessionState(life["state"]),
            own_ids(life["pending_acks"]),
            own_ids(life["rejected_by"]),
            life["close_reason"],
            life["closed_at"],
        )
        activity = (
            float(act["created_at"]),
            float(act["last_content_at"]),
            {str(k): float(v) for k, v in act["text_to"].items()},
            {str(k): float(v) for k, v in act["text_from"].items()},
        )
        keys = OrderedDict(
            ((str(s), str(k)), (str(eid), int(q), str(at)))
            for s, k, eid, q, at in data.get("keys", ())
        )
    except Exception as exc:  # a bad snapshot is never fatal: fold the whole WAL instead
        log.warning("snapshot of session %s ignored: %s", live.meta.session_id, exc)
        return 0
    meta = live.meta
    meta.state, meta.pending_acks, meta.rejected_by, meta.close_reason, meta.closed_at = lifecycle
    act_rec = live.activity
    act_rec.created_at, act_rec.last_content_at, act_rec.text_to, act_rec.text_from = activity
    machine = live.machine
    machine.state = state
    machine.seq = seq
    machine.keys = keys
    decided = data.get("decision")
    if decided:
        machine.decision = (SessionState(decided[0]), str(decided[1]))
        if machine.decision[0] is not SessionState.ACTIVE:
            machine.closing = machine.decision[1]
    if meta.is_terminal():
        machine.closing = meta.close_reason or "closed"
    live.durable = seq
    live.snap_seq = seq
    return seq
