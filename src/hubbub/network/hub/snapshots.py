"""Fast restarts: the open-session index and per-session snapshots.

* ``/index/sessions.log`` — one line per lifecycle fact: ``+<sid>`` when a session
  is created, ``-<sid>`` once its close is durable. Hydrate reads this one file
  and loads only live sessions; closed ones are read back on demand. The log is
  compacted (rewritten atomically with only the live ids) at hydrate and, at run
  time, once it holds more than twice as many lines as live ids (plus
  ``COMPACT_SLACK``), so reading it costs O(live sessions). A crash between a
  close and its ``-`` line is harmless: the session loads, folds to terminal,
  and the line is written then.
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
from hubbub.network.session import SessionState, own_ids

if TYPE_CHECKING:
    from hubbub.network.hub.core import Hub

__all__ = [
    "COMPACT_SLACK",
    "INDEX_PATH",
    "IndexMirror",
    "apply_snapshot",
    "compact_index",
    "index_add",
    "index_remove",
    "open_index",
    "read_index",
    "restore_snapshot",
    "snapshot_record",
    "write_snapshot",
]

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


class IndexMirror:
    """What the index log folds to once every line issued so far has landed.

    Kept as ``hub._index`` from ``open_index`` (at hydrate) on. A hub that never
    hydrated has none and never compacts at run time: it does not know what the
    log already holds.
    """

    __slots__ = ("lines", "live")

    def __init__(self, live_ids: list[str]) -> None:
        self.live: dict[str, None] = dict.fromkeys(live_ids)
        self.lines = len(self.live)


#: Run-time compaction once the log has more lines than twice the live ids plus this.
COMPACT_SLACK = 1024


async def open_index(hub: Hub, live_ids: list[str], index_lines: int) -> None:
    """At hydrate: compact the index unless it already holds exactly ``live_ids``; track it."""
    if index_lines != len(live_ids):
        await hub.store.write(INDEX_PATH, "".join(f"+{sid}\n" for sid in live_ids))
    hub._index = IndexMirror(live_ids)


async def index_add(hub: Hub, session_id: str) -> None:
    """Record a new session in the index."""
    mirror = hub._index
    if mirror is not None:  # updated as the append is issued: stores keep call order
        mirror.live[session_id] = None
        mirror.lines += 1
    await hub.store.append(INDEX_PATH, f"+{session_id}\n")


async def index_remove(hub: Hub, session_id: str) -> None:
    """Record that a session's close is durable; compact the log once it is mostly closed ids.

    The rewrite holds the ids live once every line issued before it has landed;
    the store applies mutations in call order, so lines issued after it land
    after it. Reading the index at hydrate so costs O(live sessions), not
    O(sessions ever opened).
    """
    mirror = hub._index
    if mirror is not None:
        mirror.live.pop(session_id, None)
        mirror.lines += 1
    await hub.store.append(INDEX_PATH, f"-{session_id}\n")
    if mirror is not None and mirror.lines > 2 * len(mirror.live) + COMPACT_SLACK:
        mirror.lines = len(mirror.live)
        await hub.store.write(INDEX_PATH, "".join(f"+{sid}\n" for sid in mirror.live))


async def compact_index(hub: Hub, live_ids: list[str]) -> None:
    """Rewrite the index with only the live ids (one atomic write) and track it."""
    await open_index(hub, live_ids, -1)


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
    keys = live.machine.keys
    if keys:  # recent idempotency keys: a retry after a restart is still recognised
        record["keys"] = [[s, k, *v] for (s, k), v in keys.items()]
    decision = live.machine.decision
    if decision is not None:  # decided, not carried out yet (the store was down)
        record["decision"] = [decision[0].value, decision[1]]
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
    return apply_snapshot(live, await hub.store.read(layout.snapshot_path(live.meta.session_id)))


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
        keys = {
            (str(s), str(k)): (str(eid), int(q), str(at))
            for s, k, eid, q, at in data.get("keys", ())
        }
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
