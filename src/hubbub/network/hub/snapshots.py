"""Fast restarts: the open-session index and per-session snapshots.

* ``/index/sessions.log`` — one line per lifecycle fact: ``+<sid>`` when a session
  is created, ``-<sid>`` once its close is durable. Hydrate reads this one file
  and loads only live sessions; closed ones are read back on demand. The log is
  compacted (rewritten atomically with only the live ids) when it grows. A crash
  between a close and its ``-`` line is harmless: the session loads, folds to
  terminal, and the line is written then.
* ``/sessions/<sid>/snapshot.json`` — the adapter state, lifecycle fields and
  activity record at a WAL position that was durable when it was taken. Hydrate
  restores it and folds only the WAL tail after it. A snapshot that does not fit
  its WAL (wrong position, undecodable) is ignored and the whole WAL is folded.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import orjson

from hubbub.network.hub import layout
from hubbub.network.hub.runtime import LiveSession
from hubbub.network.session import SessionState

if TYPE_CHECKING:
    from hubbub.network.hub.core import Hub

__all__ = ["INDEX_PATH", "read_index", "restore_snapshot", "snapshot_record", "write_snapshot"]

log = logging.getLogger(__name__)

INDEX_PATH = "/index/sessions.log"


async def read_index(hub: Hub) -> tuple[list[str], int] | None:
    """Live session ids in creation order and the index's line count; None if there is no index."""
    if not await hub.store.exists(INDEX_PATH):
        return None
    lines = await hub.store.read_lines(INDEX_PATH)
    live: dict[str, None] = {}
    for line in lines:
        if len(line) < 2:
            continue
        if line[0] == "+":
            live[line[1:]] = None
        elif line[0] == "-":
            live.pop(line[1:], None)
    return list(live), len(lines)


async def index_add(hub: Hub, session_id: str) -> None:
    """Record a new session in the index."""
    await hub.store.append(INDEX_PATH, f"+{session_id}\n")


async def index_remove(hub: Hub, session_id: str) -> None:
    """Record that a session's close is durable."""
    await hub.store.append(INDEX_PATH, f"-{session_id}\n")


async def compact_index(hub: Hub, live_ids: list[str]) -> None:
    """Rewrite the index with only the live ids (one atomic write)."""
    await hub.store.write(INDEX_PATH, "".join(f"+{sid}\n" for sid in live_ids))


def snapshot_record(hub: Hub, live: LiveSession) -> str | None:
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
    return orjson.dumps(record, default=str).decode()


async def write_snapshot(hub: Hub, live: LiveSession) -> bool:
    """Store a snapshot of ``live`` if one can be taken now; returns whether it was written."""
    record = snapshot_record(hub, live)
    if record is None:
        return False
    seq = live.seq
    await hub.store.write(layout.snapshot_path(live.meta.session_id), record)
    live.snap_seq = max(live.snap_seq, seq)
    return True


async def restore_snapshot(hub: Hub, live: LiveSession) -> int:
    """Apply a stored snapshot to a freshly built ``live``; returns the WAL position it covers (0: none)."""
    raw = await hub.store.read(layout.snapshot_path(live.meta.session_id))
    if raw is None or live.adapter is None or not hasattr(live.adapter, "load_state"):
        return 0
    try:
        data = orjson.loads(raw)
        seq = int(data["sequence"])
        state = live.adapter.load_state(live.meta, data["state"])
        life = data["lifecycle"]
        act = data["activity"]
        meta = live.meta
        meta.state = SessionState(life["state"])
        meta.pending_acks = list(life["pending_acks"])
        meta.rejected_by = list(life["rejected_by"])
        meta.close_reason = life["close_reason"]
        meta.closed_at = life["closed_at"]
        live.activity.created_at = float(act["created_at"])
        live.activity.last_content_at = float(act["last_content_at"])
        live.activity.text_to = {str(k): float(v) for k, v in act["text_to"].items()}
        live.activity.text_from = {str(k): float(v) for k, v in act["text_from"].items()}
    except Exception as exc:  # a bad snapshot is never fatal: fold the whole WAL instead
        log.warning("snapshot of session %s ignored: %s", live.meta.session_id, exc)
        return 0
    live.state = state
    live.seq = seq
    live.durable = seq
    live.snap_seq = seq
    return seq
