"""Idempotency keys: an envelope its sender posts twice under one key is written once.

The keys are folded from the WAL by the session machine (and kept in snapshots),
so a retry that reaches a restarted hub is recognised too.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hubbub.knowledge import MemoryKnowledgeStore, SqliteKnowledgeStore
from hubbub.network import EV_SESSION_INVITE_ACK, EV_TEXT, Envelope, Hub, Passport
from hubbub.network.machine import KEYS_KEPT, SessionMachine


async def _session(hub: Hub) -> tuple[str, str, str]:
    a = (await hub.register(Passport(name="alice"))).agent_id
    b = (await hub.register(Passport(name="bob"))).agent_id
    assert a and b
    import asyncio

    opening = asyncio.ensure_future(
        hub.create_session(creator_id=a, manifest_type="conversation", participants=[b])
    )
    while not hub._table.live:
        await asyncio.sleep(0)
    sid = next(iter(hub._table.live))
    await hub.post_envelope(Envelope(sid, b, None, EV_SESSION_INVITE_ACK, {"session_id": sid}))
    await opening
    return a, b, sid


def _text(sid: str, sender: str, text: str, key: str | None) -> Envelope:
    return Envelope(sid, sender, None, EV_TEXT, {"text": text}, idempotency_key=key)


async def test_a_repeated_key_returns_the_first_admission_and_writes_nothing() -> None:
    hub = await Hub.open(MemoryKnowledgeStore())
    a, b, sid = await _session(hub)
    first = await hub.admit(_text(sid, a, "once", "k-1"))
    before = await hub.read_wal(sid)
    again = await hub.admit(_text(sid, a, "once", "k-1"))
    assert (again.envelope_id, again.sequence) == (first.envelope_id, first.sequence)
    assert await hub.read_wal(sid) == before
    # the key is the sender's: another sender's envelope under the same key is new
    other = await hub.admit(_text(sid, b, "mine", "k-1"))
    assert other.envelope_id != first.envelope_id
    await hub.close()


@pytest.mark.parametrize("snapshots", [True, False], ids=["from-snapshot", "from-wal-fold"])
async def test_keys_survive_a_restart(tmp_path: Path, snapshots: bool) -> None:
    db = tmp_path / "hub.db"
    store = SqliteKnowledgeStore(db)
    hub = await Hub.open(store, snapshot_every=1 if snapshots else 1_000_000)
    a, b, sid = await _session(hub)
    first = await hub.admit(_text(sid, a, "before the restart", "retry-me"))
    if snapshots:
        assert await hub.write_snapshots(min_new=1) >= 1
    # the restart: no snapshot at close when folding is what is tested
    hub.snapshot_every = 1_000_000
    hub._closed_hub = True  # skip the close-time snapshot; release the lock ourselves
    await hub._lock.release()
    await store.close()

    store = SqliteKnowledgeStore(db)
    hub = await Hub.open(store)
    try:
        wal = await hub.read_wal(sid)
        again = await hub.admit(_text(sid, a, "before the restart", "retry-me"))
        assert again.envelope_id == first.envelope_id
        assert await hub.read_wal(sid) == wal
    finally:
        await hub.close()
        await store.close()


def test_a_machine_keeps_the_most_recent_keys_only() -> None:
    from hubbub.network.adapters import ConversationAdapter
    from hubbub.network.session import SessionManifest, SessionMetadata, SessionState

    meta = SessionMetadata.from_dict(
        {
            "session_id": "s",
            "manifest": SessionManifest(type="conversation", version=1).to_dict(),
            "creator_id": "a",
            "participants": [],
            "state": SessionState.ACTIVE.value,
        }
    )
    machine = SessionMachine(meta, ConversationAdapter())
    for i in range(KEYS_KEPT + 10):
        env = machine.stamp(_text("s", "a", str(i), f"k{i}"), f"e{i}", "t")
        machine.apply(env)
    assert len(machine.keys) == KEYS_KEPT
    assert machine.admitted("a", "k0") is None
    assert machine.admitted("a", f"k{KEYS_KEPT + 9}") == (f"e{KEYS_KEPT + 9}", KEYS_KEPT + 10, "t")
    # restore forgets the keys of what it undoes
    saved = machine.save()
    machine.apply(machine.stamp(_text("s", "a", "x", "undone"), "eu", "t"))
    machine.restore(saved)
    assert machine.admitted("a", "undone") is None
