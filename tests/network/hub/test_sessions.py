"""Hub session lifecycle: handshake, consulting flow, rejection paths, hydrate (spec §29.1 items 1–7)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hubbub.knowledge import DiskKnowledgeStore
from hubbub.network import (
    EV_SESSION_CLOSED,
    EV_SESSION_INVITE,
    EV_SESSION_INVITE_ACK,
    EV_SESSION_OPENED,
    EV_TEXT,
    ConsultingAdapter,
    ConsultingState,
    ConversationAdapter,
    Envelope,
    Hub,
    InvalidValueError,
    NotFoundError,
    ProtocolError,
    SessionState,
    SessionTimeoutError,
)


async def open_consulting(hub: Hub, peers, **kw):  # type: ignore[no-untyped-def]
    alice = await peers("alice")
    bob = await peers("bob", **kw)
    meta = await hub.create_session(
        creator_id=alice.agent_id, manifest_type="consulting", participants=[bob.agent_id]
    )
    return alice, bob, meta


async def test_handshake_opens_session_and_logs_invite_ack_opened(hub: Hub, peers) -> None:  # type: ignore[no-untyped-def]
    alice, bob, meta = await open_consulting(hub, peers)
    assert meta.state is SessionState.ACTIVE
    assert meta.creator_id == alice.agent_id
    assert meta.participant_ids() == [alice.agent_id, bob.agent_id]
    assert meta.pending_acks == []
    wal = await hub.read_wal(meta.session_id)
    assert [e.event_type for e in wal] == [
        EV_SESSION_INVITE,
        EV_SESSION_INVITE_ACK,
        EV_SESSION_OPENED,
    ]
    assert [e.sequence for e in wal] == [1, 2, 3]
    assert all(e.envelope_id and e.created_at for e in wal)
    opened = await alice.wait_for(lambda e: e.event_type == EV_SESSION_OPENED)
    assert opened.audience == [alice.agent_id, bob.agent_id]
    # What the handshake logged reads back as sent: the invite names its session,
    # creator, knobs and labels although its WAL line leaves them out.
    assert wal[0].event_data == {
        "session_id": meta.session_id,
        "manifest_type": "consulting",
        "manifest_version": 1,
        "creator_id": alice.agent_id,
        "knobs": {},
        "labels": {},
    }
    assert wal[1].event_data == wal[2].event_data == {"session_id": meta.session_id}


async def test_live_session_records_compare_by_identity(hub: Hub, peers) -> None:  # type: ignore[no-untyped-def]
    """A live session record is its own activity record, yet two sessions with the same
    activity are still two records (compared and hashed by identity)."""
    alice, bob, one = await open_consulting(hub, peers)
    two = await hub.create_session(
        creator_id=alice.agent_id, manifest_type="consulting", participants=[bob.agent_id]
    )
    a, b = hub._table.live[one.session_id], hub._table.live[two.session_id]
    a.created_at = a.last_content_at = b.created_at = b.last_content_at = 0.0
    assert a.activity is a and a != b and len({a, b}) == 2
    assert repr(a) == f"<LiveSession {one.session_id} active seq=3>"


async def test_consulting_question_reply_auto_closes(hub: Hub, peers) -> None:  # type: ignore[no-untyped-def]
    alice, bob, meta = await open_consulting(hub, peers)
    sid = meta.session_id
    await alice.send(sid, "What matters most?")
    question = await bob.wait_for(lambda e: e.event_type == EV_TEXT)
    await bob.send(sid, "Fault tolerance.", causation_id=question.envelope_id)
    closed = await alice.wait_for(lambda e: e.event_type == EV_SESSION_CLOSED)
    assert closed.event_data["reason"] == "consulting_complete"
    await bob.wait_for(lambda e: e.event_type == EV_SESSION_CLOSED)
    info = await hub.get_session(sid)
    assert info.state is SessionState.CLOSED and info.close_reason == "consulting_complete"
    texts = [e for e in await hub.read_wal(sid) if e.event_type == EV_TEXT]
    assert [t.event_data["text"] for t in texts] == ["What matters most?", "Fault tolerance."]
    assert texts[1].causation_id == question.envelope_id
    wal = await hub.read_wal(sid)
    assert [e.sequence for e in wal] == list(range(1, len(wal) + 1))
    assert wal[-1].event_type == EV_SESSION_CLOSED


async def test_respondent_first_is_rejected_and_nothing_is_logged(hub: Hub, peers) -> None:  # type: ignore[no-untyped-def]
    alice, bob, meta = await open_consulting(hub, peers)
    before = await hub.read_wal(meta.session_id)
    with pytest.raises(ProtocolError, match="initiator"):
        await hub.post_envelope(
            Envelope(meta.session_id, bob.agent_id, None, EV_TEXT, {"text": "hi"})
        )
    assert await hub.read_wal(meta.session_id) == before


async def test_any_send_after_completion_is_rejected(hub: Hub, peers) -> None:  # type: ignore[no-untyped-def]
    alice, bob, meta = await open_consulting(hub, peers)
    await alice.send(meta.session_id, "q")
    await bob.send(meta.session_id, "a")
    before = await hub.read_wal(meta.session_id)
    for peer in (alice, bob):
        with pytest.raises(ProtocolError, match="closed"):
            await peer.send(meta.session_id, "more")
    assert await hub.read_wal(meta.session_id) == before


async def test_invite_timeout_closes_and_raises(store, clock, raw_peer) -> None:  # type: ignore[no-untyped-def]
    hub = await Hub.open(
        store,
        clock=clock,
        ttl_sweep_interval=0,
        expectation_sweep_interval=0,
        invite_ack_timeout=0.2,
    )
    alice = await raw_peer(hub, "alice").start()
    bob = await raw_peer(hub, "bob", ack=False).start()
    with pytest.raises(SessionTimeoutError, match="ack timeout"):
        await hub.create_session(
            creator_id=alice.agent_id, manifest_type="consulting", participants=[bob.agent_id]
        )
    (meta,) = await hub.list_sessions(include_terminal=True)
    assert meta.state is SessionState.CLOSED and meta.close_reason == "invite_timeout"
    await hub.close()


async def test_invite_reject_fails_open(hub: Hub, peers) -> None:  # type: ignore[no-untyped-def]
    alice = await peers("alice")
    bob = await peers("bob", reject=True)
    with pytest.raises(ProtocolError, match=f"rejected by {bob.agent_id}"):
        await hub.create_session(
            creator_id=alice.agent_id, manifest_type="consulting", participants=[bob.agent_id]
        )
    (meta,) = await hub.list_sessions(include_terminal=True)
    assert meta.close_reason == "invite_rejected"
    assert meta.rejected_by == [bob.agent_id]


async def test_open_registers_default_adapters(hub: Hub) -> None:
    assert isinstance(hub.adapters()[("consulting", 1)], ConsultingAdapter)
    assert isinstance(hub.adapters()[("conversation", 1)], ConversationAdapter)


async def test_create_session_bad_requests(hub: Hub, peers) -> None:  # type: ignore[no-untyped-def]
    alice = await peers("alice")
    bob = await peers("bob")
    with pytest.raises(NotFoundError, match="no adapter registered for 'nope'"):
        await hub.create_session(
            creator_id=alice.agent_id, manifest_type="nope", participants=[bob.agent_id]
        )
    with pytest.raises(NotFoundError, match="unknown agent"):
        await hub.create_session(
            creator_id=alice.agent_id, manifest_type="consulting", participants=["ghost"]
        )
    with pytest.raises(NotFoundError, match="unknown agent"):
        await hub.create_session(
            creator_id="ghost", manifest_type="consulting", participants=[bob.agent_id]
        )
    with pytest.raises(ProtocolError, match="duplicate"):
        await hub.create_session(
            creator_id=alice.agent_id,
            manifest_type="consulting",
            participants=[bob.agent_id, bob.agent_id],
        )
    with pytest.raises(InvalidValueError, match="participants must be a non-empty list"):
        await hub.create_session(
            creator_id=alice.agent_id, manifest_type="consulting", participants=[]
        )
    carol = await peers("carol")
    with pytest.raises(ProtocolError, match="exactly 2 participants"):
        await hub.create_session(
            creator_id=alice.agent_id,
            manifest_type="consulting",
            participants=[bob.agent_id, carol.agent_id],
        )
    assert await hub.list_sessions(include_terminal=True) == []


async def test_hydrate_mid_flight_on_disk(tmp_path: Path, clock, raw_peer) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path / "hub"
    hub = await Hub.open(
        DiskKnowledgeStore(root), clock=clock, ttl_sweep_interval=0, expectation_sweep_interval=0
    )
    alice = await raw_peer(hub, "alice").start()
    bob = await raw_peer(hub, "bob").start()
    meta = await hub.create_session(
        creator_id=alice.agent_id, manifest_type="consulting", participants=[bob.agent_id]
    )
    await alice.send(meta.session_id, "question?")
    await hub.close()

    fresh = await Hub.open(
        DiskKnowledgeStore(root), clock=clock, ttl_sweep_interval=0, expectation_sweep_interval=0
    )
    try:
        info = await fresh.get_session(meta.session_id)
        assert info.manifest.type == "consulting"
        assert info.state is SessionState.ACTIVE
        assert fresh.adapter_state(meta.session_id) == ConsultingState(
            initiator_sent=True,
            respondent_replied=False,
            last_envelope_id=fresh.adapter_state(meta.session_id).last_envelope_id,
        )
        assert (await fresh.get_agent("bob")).agent_id == bob.agent_id
        # the session continues where it was: bob's reply completes it
        await fresh.post_envelope(
            Envelope(meta.session_id, bob.agent_id, None, EV_TEXT, {"text": "answer"})
        )
        after = await fresh.get_session(meta.session_id)
        assert after.state is SessionState.CLOSED and after.close_reason == "consulting_complete"
        wal = await fresh.read_wal(meta.session_id)
        assert [e.sequence for e in wal] == list(range(1, len(wal) + 1))
    finally:
        await fresh.close()


async def test_pending_session_is_closed_on_hydrate(tmp_path: Path, clock, raw_peer) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    root = tmp_path / "hub"
    hub = await Hub.open(
        DiskKnowledgeStore(root), clock=clock, ttl_sweep_interval=0, expectation_sweep_interval=0
    )
    alice = await raw_peer(hub, "alice").start()
    bob = await raw_peer(hub, "bob", ack=False).start()
    opening = asyncio.create_task(
        hub.create_session(
            creator_id=alice.agent_id, manifest_type="conversation", participants=[bob.agent_id]
        )
    )
    await bob.wait_for(lambda e: e.event_type == EV_SESSION_INVITE)
    await hub.store.release_lock()  # as if its process had died: the OS drops the lock
    fresh = await Hub.open(
        DiskKnowledgeStore(root), clock=clock, ttl_sweep_interval=0, expectation_sweep_interval=0
    )
    (meta,) = await fresh.list_sessions(include_terminal=True)
    assert meta.state is SessionState.CLOSED and meta.close_reason == "invite_interrupted"
    await fresh.close()
    opening.cancel()
    await hub.close()
    await asyncio.gather(opening, return_exceptions=True)
