"""The two seed documents, end to end, with scripted models."""

from __future__ import annotations

import itertools

from hubbub.network.client import AgentClient
from hubbub.network.envelope import (
    EV_SESSION_CLOSED,
    EV_SESSION_EXPIRED,
    EV_SESSION_INVITE,
    EV_SESSION_INVITE_ACK,
    EV_SESSION_OPENED,
    EV_TEXT,
    Envelope,
)
from hubbub.network.hub import AUDIT_KIND_TURN_FAILED
from hubbub.network.session import SessionState


def _is_close(e: Envelope) -> bool:
    return e.event_type == EV_SESSION_CLOSED


async def test_quick_start_consulting(net) -> None:
    hub = net.hub
    alice = await net.agent("alice", "What matters most?")
    bob = await net.agent("bob", "Fault tolerance.")

    session = await alice.open(type="consulting", target="bob")
    assert session.state is SessionState.ACTIVE
    meta = session.metadata
    assert meta.creator_id == alice.agent_id
    assert meta.pending_acks == []
    assert meta.participant_ids() == [alice.agent_id, bob.agent_id]

    await session.send(
        "What's the single most important property of a distributed system?",
        audience=[bob.agent_id],
    )
    close_env = await alice.wait_for_session_event(
        session_id=session.session_id, predicate=_is_close, timeout=10.0
    )
    assert close_env.event_data.get("reason") == "consulting_complete"
    assert session.state is SessionState.CLOSED
    assert session.is_terminal()

    wal = await hub.read_wal(session.session_id)
    assert [e.event_type for e in wal[:3]] == [
        EV_SESSION_INVITE,
        EV_SESSION_INVITE_ACK,
        EV_SESSION_OPENED,
    ]
    texts = [e for e in wal if e.event_type == EV_TEXT]
    assert [(e.sender_id, e.event_data["text"]) for e in texts] == [
        (alice.agent_id, "What's the single most important property of a distributed system?"),
        (bob.agent_id, "Fault tolerance."),
    ]
    assert texts[1].causation_id == texts[0].envelope_id
    assert (await hub.get_session(session.session_id)).close_reason == "consulting_complete"
    # Inbox accounting by receipt: nothing is left pending for anyone.
    assert hub.pending_inbox(bob.agent_id) == 0
    assert hub.pending_inbox(alice.agent_id) == 0


async def test_conversation_auto_drives_until_explicit_close(net) -> None:
    hub = net.hub
    alice = await net.agent("alice", "Tell me more.")
    bob = await net.agent("bob", "Gradient descent.")

    session = await alice.open(type="conversation", target="bob")
    await session.send("Hi bob, what's a good first ML concept to learn?")

    # Texts alternate alice, bob, alice, ...: bob's third text is the sixth one.
    for _ in range(3):
        await alice.wait_for_session_event(
            session_id=session.session_id,
            predicate=lambda e: e.event_type == EV_TEXT and e.sender_id == bob.agent_id,
            timeout=10.0,
        )
    await session.close()

    for client in (alice, bob):
        env = await client.wait_for_session_event(
            session_id=session.session_id, predicate=_is_close, timeout=10.0
        )
        assert env.event_data["reason"] == "explicit_close"
    assert session.state is SessionState.CLOSED
    bob_session = await bob.session(session.session_id)
    assert bob_session.state is SessionState.CLOSED

    wal = await hub.read_wal(session.session_id)
    texts = [e for e in wal if e.event_type == EV_TEXT]
    assert len(texts) >= 6
    speakers = [e.sender_id for e in texts]
    assert speakers[:6] == [alice.agent_id, bob.agent_id] * 3
    for prev, nxt in itertools.pairwise(texts):
        assert nxt.causation_id == prev.envelope_id
    assert wal[-1].event_type == EV_SESSION_CLOSED
    # A reply racing the close is dropped quietly, not reported as a failed turn.
    audit = await hub.audit_log.read_all()
    assert not [r for r in audit if r.get("kind") == AUDIT_KIND_TURN_FAILED]


async def test_handshake_from_both_sides(net) -> None:
    alice = await net.agent("alice")
    bob: AgentClient = await net.agent("bob")
    session = await alice.open(type="conversation", target=[bob.agent_id])
    opened = await bob.wait_for_session_event(
        session_id=session.session_id,
        predicate=lambda e: e.event_type == EV_SESSION_OPENED,
        timeout=10.0,
    )
    assert opened.session_id == session.session_id
    bob_view = await bob.session(session.session_id)
    assert bob_view.state is SessionState.ACTIVE
    info = await bob_view.info()
    assert info.state is SessionState.ACTIVE


async def test_ttl_expiry_reaches_the_session_handle(net, clock) -> None:
    alice = await net.agent("alice")
    bob = await net.agent("bob")
    session = await alice.open(type="conversation", target="bob", ttl=60)
    clock.advance(61)
    await net.hub.expire_due()
    for client in (alice, bob):
        env = await client.wait_for_session_event(
            session_id=session.session_id,
            predicate=lambda e: e.event_type == EV_SESSION_EXPIRED,
            timeout=5.0,
        )
        assert env.event_data["reason"] == "ttl_expired"
    assert session.state is SessionState.EXPIRED
    assert (await bob.session(session.session_id)).state is SessionState.EXPIRED
