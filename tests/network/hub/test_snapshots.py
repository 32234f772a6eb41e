"""Fast restarts: snapshots cover a durable WAL prefix; the open-session index skips closed sessions."""

from __future__ import annotations

from pathlib import Path

import orjson

from hubbub.knowledge import DiskKnowledgeStore, MemoryKnowledgeStore
from hubbub.network import EV_TEXT, Envelope, Hub, MockClock, SessionMetadata, SessionState
from hubbub.network.hub.index import INDEX_PATH
from hubbub.network.hub.layout import session_meta_path, snapshot_path, wal_path
from hubbub.network.hub.recovery import load_session, read_creation_record, replay

OPTS = {"ttl_sweep_interval": 0, "expectation_sweep_interval": 0, "snapshot_interval": 0}


async def chatty_hub(store, clock, raw_peer, texts: int):  # type: ignore[no-untyped-def]
    hub = await Hub.open(store, clock=clock, **OPTS)
    alice = await raw_peer(hub, "alice").start()
    bob = await raw_peer(hub, "bob").start()
    meta = await hub.create_session(
        creator_id=alice.agent_id, manifest_type="conversation", participants=[bob.agent_id]
    )
    for i in range(texts):
        await hub.post_envelope(
            Envelope(meta.session_id, alice.agent_id, None, EV_TEXT, {"text": f"t{i}"})
        )
    return hub, alice, bob, meta


async def test_snapshot_then_tail_equals_full_replay(tmp_path: Path, raw_peer) -> None:  # type: ignore[no-untyped-def]
    clock = MockClock()
    hub, alice, bob, meta = await chatty_hub(DiskKnowledgeStore(tmp_path), clock, raw_peer, 250)
    assert await hub.write_snapshots() == 1  # 253 envelopes >= snapshot_every (200)
    snap = orjson.loads(await hub.store.read(snapshot_path(meta.session_id)))
    assert snap["sequence"] == 253 and snap["state"]["turn_count"] == 250
    for i in range(5):  # the tail after the snapshot
        await hub.post_envelope(
            Envelope(meta.session_id, bob.agent_id, None, EV_TEXT, {"text": f"r{i}"})
        )
    live_state = hub.adapter_state(meta.session_id)
    # no clean shutdown: the snapshot on disk is the one at 253
    await hub.store.release_lock()  # as if its process had died: the OS drops the lock
    reopened = await Hub.open(DiskKnowledgeStore(tmp_path), clock=clock, **OPTS)
    try:
        assert reopened.adapter_state(meta.session_id) == live_state
        assert reopened._table.live[meta.session_id].seq == 258
        lines = await reopened.store.read_lines(wal_path(meta.session_id))
        full = replay(reopened._table, await _creation(reopened, meta.session_id), lines)
        assert full.state == live_state and full.seq == 258
        await reopened.post_envelope(
            Envelope(meta.session_id, bob.agent_id, None, EV_TEXT, {"text": "more"})
        )
        assert (await reopened.read_wal(meta.session_id))[-1].sequence == 259
    finally:
        await reopened.close()
        await hub.close()


async def test_bad_or_stale_snapshot_is_ignored(raw_peer) -> None:  # type: ignore[no-untyped-def]
    store = MemoryKnowledgeStore()
    clock = MockClock()
    hub, alice, bob, meta = await chatty_hub(store, clock, raw_peer, 10)
    expected = hub.adapter_state(meta.session_id)
    for junk in (
        "not json",
        '{"sequence": 999, "state": {}}',
        '{"sequence": 5, "state": {"turn_count": "x"}}',
    ):
        await store.write(snapshot_path(meta.session_id), junk)
        again = await Hub.open(store, clock=clock, **OPTS)
        assert again.adapter_state(meta.session_id) == expected
        await again.close()
    await hub.close()


async def test_clean_close_snapshots_every_live_session(raw_peer) -> None:  # type: ignore[no-untyped-def]
    store = MemoryKnowledgeStore()
    hub, alice, bob, meta = await chatty_hub(store, MockClock(), raw_peer, 3)
    await hub.close()
    snap = orjson.loads(await store.read(snapshot_path(meta.session_id)))
    assert snap["sequence"] == 6 and snap["lifecycle"]["state"] == "active"


async def test_index_loads_only_live_sessions(raw_peer) -> None:  # type: ignore[no-untyped-def]
    store = MemoryKnowledgeStore()
    clock = MockClock()
    hub, alice, bob, live_meta = await chatty_hub(store, clock, raw_peer, 1)
    closed_ids = []
    for _ in range(4):
        m = await hub.create_session(
            creator_id=alice.agent_id, manifest_type="conversation", participants=[bob.agent_id]
        )
        await hub.close_session(m.session_id)
        closed_ids.append(m.session_id)
    reopened = await Hub.open(store, clock=clock, **OPTS)
    try:
        assert set(reopened._table.live) == {live_meta.session_id}
        assert not reopened._table.closed  # closed sessions were not read at open
        assert (await store.read_lines(INDEX_PATH)) == [f"+{live_meta.session_id}"]  # compacted
        old = await reopened.get_session(closed_ids[0])  # read back on demand
        assert old.state is SessionState.CLOSED and old.close_reason == "explicit_close"
    finally:
        await reopened.close()
        await hub.close()


async def test_store_without_index_is_scanned_and_indexed(raw_peer) -> None:  # type: ignore[no-untyped-def]
    store = MemoryKnowledgeStore()
    clock = MockClock()
    hub, alice, bob, meta = await chatty_hub(store, clock, raw_peer, 2)
    other = await hub.create_session(
        creator_id=alice.agent_id, manifest_type="conversation", participants=[bob.agent_id]
    )
    await hub.close_session(other.session_id)
    await store.delete(INDEX_PATH)
    reopened = await Hub.open(store, clock=clock, **OPTS)
    try:
        assert set(reopened._table.live) == {meta.session_id}
        assert await store.read_lines(INDEX_PATH) == [f"+{meta.session_id}"]
        assert (await reopened.get_session(other.session_id)).state is SessionState.CLOSED
    finally:
        await reopened.close()
        await hub.close()


async def test_a_path_opens_a_hub_on_sqlite(tmp_path: Path, raw_peer) -> None:  # type: ignore[no-untyped-def]
    from hubbub.knowledge.sqlite import SqliteKnowledgeStore

    path = tmp_path / "hub.db"
    hub = await Hub.open(path, **OPTS)
    assert isinstance(hub.store, SqliteKnowledgeStore)
    alice = await raw_peer(hub, "alice").start()
    bob = await raw_peer(hub, "bob").start()
    meta = await hub.create_session(
        creator_id=alice.agent_id, manifest_type="consulting", participants=[bob.agent_id]
    )
    await hub.post_envelope(Envelope(meta.session_id, alice.agent_id, None, EV_TEXT, {"text": "q"}))
    await hub.close()
    again = await Hub.open(str(path), **OPTS)
    assert again.adapter_state(meta.session_id).initiator_sent
    await again.close()


async def test_close_snapshots_many_sessions_concurrently(tmp_path: Path, raw_peer) -> None:  # type: ignore[no-untyped-def]
    """More live sessions than one write chunk: every one gets its snapshot, written together."""
    from hubbub.knowledge.sqlite import SqliteKnowledgeStore

    store = SqliteKnowledgeStore(tmp_path / "hub.db")
    hub = await Hub.open(store, clock=MockClock(), **OPTS)
    alice = await raw_peer(hub, "alice").start()
    bob = await raw_peer(hub, "bob").start()
    ids = []
    for i in range(300):
        meta = await hub.create_session(
            creator_id=alice.agent_id, manifest_type="conversation", participants=[bob.agent_id]
        )
        await hub.post_envelope(
            Envelope(meta.session_id, alice.agent_id, None, EV_TEXT, {"text": f"t{i}"})
        )
        ids.append(meta.session_id)
    states = {sid: hub.adapter_state(sid) for sid in ids}
    await hub.close()  # snapshots every live session with a new envelope
    for sid in ids:
        snap = orjson.loads(await store.read(snapshot_path(sid)) or "null")
        assert snap is not None and snap["sequence"] == 4, sid  # invite, ack, opened, text
    assert await hub.write_snapshots(min_new=1) == 0  # nothing new since
    await store.close()
    reopened = await Hub.open(SqliteKnowledgeStore(tmp_path / "hub.db"), clock=MockClock(), **OPTS)
    try:
        assert {sid: reopened.adapter_state(sid) for sid in ids} == states
    finally:
        await reopened.close()
        await reopened.store.close()


async def test_periodic_sweep_snapshots_a_session_once_it_goes_quiet(raw_peer) -> None:  # type: ignore[no-untyped-def]
    """Below ``snapshot_every``, a session is snapshotted once its traffic has been quiet."""
    clock = MockClock()
    store = MemoryKnowledgeStore()
    hub, alice, bob, meta = await chatty_hub(store, clock, raw_peer, 0)
    hub.snapshot_interval = 30.0  # the sweeper itself stays off (OPTS); we call it by hand
    sid = meta.session_id
    try:
        for i in range(5):
            await hub.post_envelope(Envelope(sid, alice.agent_id, None, EV_TEXT, {"text": f"t{i}"}))
        assert await hub.write_snapshots() == 0  # busy just now, far below snapshot_every
        clock.advance(29)
        assert await hub.write_snapshots() == 0
        clock.advance(2)  # quiet for 31 s
        assert await hub.write_snapshots() == 1
        snap = orjson.loads(await store.read(snapshot_path(sid)) or "null")
        assert snap["sequence"] == 8  # invite, ack, opened, 5 texts
        assert await hub.write_snapshots() == 0  # once: nothing new since
        await hub.post_envelope(Envelope(sid, bob.agent_id, None, EV_TEXT, {"text": "again"}))
        clock.advance(31)
        assert await hub.write_snapshots() == 1
    finally:
        await hub.close()


async def test_snapshot_ahead_of_a_wal_that_lost_its_tail_is_ignored(
    tmp_path: Path, raw_peer
) -> None:  # type: ignore[no-untyped-def]
    """A store that kept the snapshot but lost WAL lines after it: the WAL wins, whole."""
    clock = MockClock()
    hub, alice, bob, meta = await chatty_hub(DiskKnowledgeStore(tmp_path), clock, raw_peer, 10)
    sid = meta.session_id
    assert await hub.write_snapshots(min_new=1) == 1  # covers all 13 envelopes
    await hub.close()
    wal_file = tmp_path / "sessions" / sid / "wal.jsonl"
    kept = wal_file.read_text().splitlines(keepends=True)[:8]  # the last 5 texts are lost
    wal_file.write_text("".join(kept))
    snap_file = tmp_path / "sessions" / sid / "snapshot.json"
    ahead = snap_file.read_text()
    assert orjson.loads(ahead)["sequence"] == 13
    for store_reads_one in (False, True):
        snap_file.write_text(ahead)  # (a clean close rewrites it)
        reopened = await Hub.open(DiskKnowledgeStore(tmp_path), clock=clock, **OPTS)
        try:
            if store_reads_one:  # the read-back path: one session loaded on demand
                reopened._table.live.clear()
                live = await load_session(reopened._table, sid)
                assert live is not None
            else:  # the bulk hydrate path
                live = reopened._table.live[sid]
            assert live.seq == 8 and live.state.turn_count == 5
            lines = await reopened.store.read_lines(wal_path(sid))
            full = replay(reopened._table, await _creation(reopened, sid), lines)
            assert full.state == live.state
        finally:
            await reopened.close()


async def _creation(hub: Hub, session_id: str) -> SessionMetadata:
    """The session's metadata as created (what a replay from the first WAL line starts from)."""
    raw = await hub.store.read(session_meta_path(session_id))
    assert raw is not None
    return await read_creation_record(hub._table, raw, session_id)
