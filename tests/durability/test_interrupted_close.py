"""A crash between an envelope's durable append and the close the adapter decided on it.

The hub acknowledges a consulting reply once it is in the WAL and only then
appends the auto-close (``consulting_complete``). A kill -9 in between leaves a
WAL whose last line is the reply. Before the crash the session was closing; after
it, it must not come back ACTIVE with nobody allowed to send (it could never
complete). The store is written here exactly as the crash leaves it.
"""

from __future__ import annotations

from pathlib import Path

from tests.durability._peers import RawPeer

from hubbub.knowledge import DiskKnowledgeStore
from hubbub.network import EV_SESSION_CLOSED, EV_TEXT, Envelope, Hub, MockClock, SessionState
from hubbub.network.hub import layout

HUB_KW = {"ttl_sweep_interval": 0, "expectation_sweep_interval": 0}


async def test_reply_without_its_auto_close_is_closed_on_hydrate(tmp_path: Path) -> None:
    clock = MockClock()
    store = DiskKnowledgeStore(tmp_path / "store")
    hub = await Hub.open(store, clock=clock, **HUB_KW)
    try:
        alice = await RawPeer(hub, "alice").start()
        bob = await RawPeer(hub, "bob").start()
        meta = await hub.create_session(
            creator_id=alice.agent_id, manifest_type="consulting", participants=[bob.agent_id]
        )
        sid = meta.session_id
        question = await hub.admit(Envelope(sid, alice.agent_id, None, EV_TEXT, {"text": "q?"}))
    finally:
        await hub.close()
    # what the dead hub had made durable: the reply, stamped, and nothing after it
    reply = Envelope(
        sid,
        bob.agent_id,
        None,
        EV_TEXT,
        {"text": "a."},
        envelope_id="f" * 32,
        created_at=clock(),
        sequence=question.sequence + 1,
    )
    await store.append(layout.wal_path(sid), reply.to_wal_line())
    await store.close()

    store = DiskKnowledgeStore(tmp_path / "store")
    fresh = await Hub.open(store, clock=clock, **HUB_KW)
    try:
        after = await fresh.get_session(sid)
        stuck = after.state is SessionState.ACTIVE and not any(
            fresh.can_send(sid, p) for p in after.participant_ids()
        )
        assert not stuck, (
            "hydrate left a completed consulting session ACTIVE with nobody allowed to send: "
            "the auto-close decided on its last envelope was never applied"
        )
        assert after.state is SessionState.CLOSED
        assert after.close_reason == "consulting_complete"
        wal = await fresh.read_wal(sid)
        assert wal[-1].event_type == EV_SESSION_CLOSED
        assert [e.sequence for e in wal] == list(range(1, len(wal) + 1))
    finally:
        await fresh.close()
        await store.close()
