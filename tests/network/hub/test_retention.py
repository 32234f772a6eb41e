"""Retention: closed sessions are archived or pruned by policy; audit segments are bounded."""

from __future__ import annotations

import pytest

from hubbub.knowledge import MemoryKnowledgeStore
from hubbub.network import EV_TEXT, AuditLog, Envelope, Hub, MockClock, NotFoundError, SessionState
from hubbub.network.hub.layout import session_meta_path, wal_path

OPTS = {"ttl_sweep_interval": 0, "expectation_sweep_interval": 0, "snapshot_interval": 0}


async def test_prune_closed_archives_then_deletes_only_old_closed_sessions(raw_peer) -> None:  # type: ignore[no-untyped-def]
    store, archive, clock = MemoryKnowledgeStore(), MemoryKnowledgeStore(), MockClock()
    hub = await Hub.open(store, clock=clock, retention_seconds=3600, archive_store=archive, **OPTS)
    alice = await raw_peer(hub, "alice").start()
    bob = await raw_peer(hub, "bob").start()
    old = await hub.create_session(
        creator_id=alice.agent_id, manifest_type="conversation", participants=[bob.agent_id]
    )
    await hub.post_envelope(
        Envelope(old.session_id, alice.agent_id, None, EV_TEXT, {"text": "keep me"})
    )
    await hub.close_session(old.session_id)
    clock.advance(3000)
    recent = await hub.create_session(
        creator_id=alice.agent_id, manifest_type="conversation", participants=[bob.agent_id]
    )
    await hub.close_session(recent.session_id)
    live = await hub.create_session(
        creator_id=alice.agent_id, manifest_type="conversation", participants=[bob.agent_id]
    )
    clock.advance(700)  # old: closed 3700 s ago; recent: 700 s ago
    assert await hub.prune_closed() == [old.session_id]
    assert await store.read(session_meta_path(old.session_id)) is None
    with pytest.raises(NotFoundError):
        await hub.get_session(old.session_id)
    assert (await hub.get_session(recent.session_id)).state is SessionState.CLOSED
    assert (await hub.get_session(live.session_id)).state is SessionState.ACTIVE
    # the archive is a loadable store of its own
    assert "keep me" in (await archive.read(wal_path(old.session_id)) or "")
    archived_hub = await Hub.open(archive, clock=clock, **OPTS)
    assert (await archived_hub.get_session(old.session_id)).close_reason == "explicit_close"
    await archived_hub.close()
    kinds = [r["kind"] for r in await hub.audit_log.read_all()]
    assert "sessions_pruned" in kinds
    await hub.close()


async def test_audit_prune_keeps_newest_segments() -> None:
    store = MemoryKnowledgeStore()
    log = AuditLog(store, clock=MockClock(), segment_records=2)
    await log.open()
    for i in range(9):
        await log.append({"kind": "custom", "n": i})
    assert len(await log.segments()) == 5
    dropped = await log.prune(keep_segments=2)
    assert len(dropped) == 3
    assert [r["n"] for r in await log.read_all()] == [6, 7, 8]


async def test_closed_sessions_do_not_stay_in_the_ttl_heap(raw_peer) -> None:  # type: ignore[no-untyped-def]
    hub = await Hub.open(MemoryKnowledgeStore(), clock=MockClock(), **OPTS)
    alice = await raw_peer(hub, "alice").start()
    bob = await raw_peer(hub, "bob").start()
    for _ in range(300):
        m = await hub.create_session(
            creator_id=alice.agent_id, manifest_type="conversation", participants=[bob.agent_id]
        )
        await hub.close_session(m.session_id)
    assert len(hub._table.ttl_heap) <= 2 * len(hub._table.live) + 64
    await hub.close()
