"""Authorization applies to every connection; bad input gets a clear error and writes nothing."""

from __future__ import annotations

import pytest

from hubbub.network import (
    EV_SESSION_CLOSED,
    EV_SESSION_OPENED,
    EV_TEXT,
    AccessBlock,
    AccessDeniedError,
    Envelope,
    Hub,
    InboxBlock,
    InboxFull,
    LimitsBlock,
    NameTakenError,
    NotFoundError,
    Passport,
    ProtocolError,
    Resume,
    Rule,
    SessionState,
)


async def pair(hub: Hub, peers, **bob_kw):  # type: ignore[no-untyped-def]
    alice = await peers("alice")
    bob = await peers("bob", **bob_kw)
    meta = await hub.create_session(
        creator_id=alice.agent_id, manifest_type="conversation", participants=[bob.agent_id]
    )
    return alice, bob, meta


async def test_outsider_cannot_read_post_or_close(hub: Hub, peers) -> None:  # type: ignore[no-untyped-def]
    alice, bob, meta = await pair(hub, peers)
    eve = await peers("eve")
    sid = meta.session_id
    with pytest.raises(AccessDeniedError, match="not a participant"):
        await eve.connection.read_wal(sid, caller_id=eve.agent_id)
    with pytest.raises(AccessDeniedError, match="not a participant"):
        await eve.connection.get_session(sid, caller_id=eve.agent_id)
    with pytest.raises(AccessDeniedError, match="not a participant"):
        await eve.connection.call("close_session", session_id=sid, caller_id=eve.agent_id)
    with pytest.raises(AccessDeniedError, match="not a participant"):
        await eve.send(sid, "let me in")
    with pytest.raises(AccessDeniedError):
        await eve.connection.call("adapter_state", session_id=sid, caller_id=eve.agent_id)
    assert not await eve.connection.call("can_send", session_id=sid, sender_id=eve.agent_id)
    assert (await hub.get_session(sid)).state is SessionState.ACTIVE


async def test_client_cannot_act_as_another_agent(hub: Hub, peers) -> None:  # type: ignore[no-untyped-def]
    alice, bob, meta = await pair(hub, peers)
    before = await hub.read_wal(meta.session_id)
    with pytest.raises(AccessDeniedError, match="not registered through this connection"):
        await bob.connection.post(
            Envelope(meta.session_id, alice.agent_id, None, EV_TEXT, {"text": "spoof"})
        )
    with pytest.raises(AccessDeniedError):
        await bob.connection.read_wal(meta.session_id, caller_id=alice.agent_id)
    with pytest.raises(AccessDeniedError):
        await bob.connection.call(
            "close_session", session_id=meta.session_id, caller_id=alice.agent_id
        )
    with pytest.raises(AccessDeniedError):
        await bob.connection.call(
            "create_session",
            creator_id=alice.agent_id,
            manifest_type="conversation",
            participants=[bob.agent_id],
        )
    assert await hub.read_wal(meta.session_id) == before


async def test_participant_read_wal_sees_only_visible_envelopes(hub: Hub, peers) -> None:  # type: ignore[no-untyped-def]
    alice, bob, meta = await pair(hub, peers)
    await alice.send(meta.session_id, "to all")
    await alice.send(meta.session_id, "to alice only", audience=[alice.agent_id])
    seen = await bob.connection.read_wal(meta.session_id, caller_id=bob.agent_id)
    texts = [e.event_data["text"] for e in seen if e.event_type == EV_TEXT]
    assert texts == ["to all"]
    mine = await alice.connection.read_wal(meta.session_id, caller_id=alice.agent_id)
    assert [e.event_data["text"] for e in mine if e.event_type == EV_TEXT] == [
        "to all",
        "to alice only",
    ]


async def test_clients_cannot_forge_hub_events(hub: Hub, peers) -> None:  # type: ignore[no-untyped-def]
    alice, bob, meta = await pair(hub, peers)
    for et in (EV_SESSION_CLOSED, EV_SESSION_OPENED):
        with pytest.raises(ProtocolError, match="reserved for the hub"):
            await alice.connection.post(
                Envelope(meta.session_id, alice.agent_id, None, et, {"reason": "x"})
            )
    assert (await hub.get_session(meta.session_id)).state is SessionState.ACTIVE


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("event_data", "not a dict", "event_data must be an object"),
        ("audience", "bob", "audience must be null or a list"),
        ("priority", "asap", "priority must be one of"),
        ("depth", -1, "depth must be a non-negative integer"),
        ("event_type", "", "event_type must be a non-empty string"),
        ("causation_id", 7, "causation_id must be null or a string"),
    ],
)
async def test_malformed_envelopes_are_rejected_with_named_field(
    hub: Hub, peers, field, value, message
) -> None:  # type: ignore[no-untyped-def]
    alice, bob, meta = await pair(hub, peers)
    before = await hub.read_wal(meta.session_id)
    env = Envelope(meta.session_id, alice.agent_id, None, EV_TEXT, {"text": "x"})
    setattr(env, field, value)
    with pytest.raises(ProtocolError, match=message) as info:
        await alice.connection.post(env)
    assert info.value.code == "bad_envelope"
    assert await hub.read_wal(meta.session_id) == before
    # the hub keeps serving
    await alice.send(meta.session_id, "still fine")


async def test_unknown_session_agent_and_duplicate_name(hub: Hub, peers) -> None:  # type: ignore[no-untyped-def]
    alice, bob, meta = await pair(hub, peers)
    with pytest.raises(NotFoundError, match="unknown session 'nope'"):
        await alice.send("nope", "hello")
    with pytest.raises(NotFoundError, match="unknown sender 'ghost'"):
        await hub.post_envelope(Envelope(meta.session_id, "ghost", None, EV_TEXT, {"text": "x"}))
    with pytest.raises(NotFoundError):
        await hub.get_agent("ghost")
    with pytest.raises(NotFoundError):
        await hub.get_session("nope")
    # alice's name is held by her live connection: neither the operator nor another
    # connection can take it (after a restart, or once she disconnects, it could be).
    with pytest.raises(NameTakenError, match="name 'alice' is held by a live connection"):
        await hub.register(Passport(name="alice"), Resume())
    with pytest.raises(NameTakenError, match="name 'alice' is held by a live connection"):
        await peers("alice")
    assert await hub.read_wal("nope") == []


async def test_oversized_payload_is_rejected(store, clock, raw_peer) -> None:  # type: ignore[no-untyped-def]
    hub = await Hub.open(
        store,
        clock=clock,
        ttl_sweep_interval=0,
        expectation_sweep_interval=0,
        max_envelope_bytes=2048,
    )
    alice = await raw_peer(hub, "alice").start()
    bob = await raw_peer(hub, "bob").start()
    meta = await hub.create_session(
        creator_id=alice.agent_id, manifest_type="conversation", participants=[bob.agent_id]
    )
    before = await hub.read_wal(meta.session_id)
    with pytest.raises(ProtocolError, match="over the hub's 2048-byte limit") as info:
        await alice.send(meta.session_id, "x" * 4000)
    assert info.value.code == "payload_too_large"
    assert await hub.read_wal(meta.session_id) == before
    await alice.send(meta.session_id, "small")
    assert len(await hub.read_wal(meta.session_id)) == len(before) + 1
    await hub.close()


async def test_audience_must_be_participants_and_rules_apply(hub: Hub, peers) -> None:  # type: ignore[no-untyped-def]
    alice, bob, meta = await pair(hub, peers)
    eve = await peers("eve")
    with pytest.raises(ProtocolError, match="not a participant"):
        await alice.send(meta.session_id, "psst", audience=[eve.agent_id])
    await hub.set_rule(alice.agent_id, Rule(access=AccessBlock(outbound_to=["carol*"])))
    with pytest.raises(AccessDeniedError, match="outbound_to"):
        await alice.send(meta.session_id, "to bob", audience=[bob.agent_id])
    await hub.set_rule(alice.agent_id, Rule(limits=LimitsBlock(delegation_depth=2)))
    with pytest.raises(AccessDeniedError, match="delegation depth 3"):
        await alice.send(meta.session_id, "deep", depth=3)
    await hub.set_rule(bob.agent_id, Rule(access=AccessBlock(inbound_from=["carol"])))
    with pytest.raises(AccessDeniedError, match="does not accept sessions from alice"):
        await hub.create_session(
            creator_id=alice.agent_id, manifest_type="conversation", participants=[bob.agent_id]
        )


async def test_concurrent_session_cap_counts_live_sessions(store, clock, raw_peer) -> None:  # type: ignore[no-untyped-def]
    """``max_concurrent_sessions`` counts every live session an agent is in, as creator or
    invitee; closed ones free a place; the count is rebuilt from the store at hydrate."""
    kw = {"ttl_sweep_interval": 0, "expectation_sweep_interval": 0, "invite_ack_timeout": 5}
    hub = await Hub.open(store, clock=clock, **kw)
    alice = await raw_peer(hub, "alice").start()
    bob = await raw_peer(hub, "bob").start()
    carol = await raw_peer(hub, "carol").start()
    await hub.set_rule(alice.agent_id, Rule(limits=LimitsBlock(max_concurrent_sessions=2)))

    async def alice_opens() -> str:
        meta = await hub.create_session(
            creator_id=alice.agent_id, manifest_type="conversation", participants=[bob.agent_id]
        )
        return meta.session_id

    first = await alice_opens()
    invited = await hub.create_session(  # alice is in this one as the invitee
        creator_id=carol.agent_id, manifest_type="conversation", participants=[alice.agent_id]
    )
    with pytest.raises(AccessDeniedError, match="alice already has 2 active sessions"):
        await alice_opens()
    await hub.close_session(invited.session_id)
    second = await alice_opens()
    with pytest.raises(AccessDeniedError, match="max_concurrent_sessions"):
        await alice_opens()
    # bob has no cap and is in both; carol's session is closed
    assert hub._table.live_count == {alice.agent_id: 2, bob.agent_id: 2}
    await hub.close()

    hub = await Hub.open(store, clock=clock, **kw)
    assert hub._table.live_count == {alice.agent_id: 2, bob.agent_id: 2}
    with pytest.raises(AccessDeniedError, match="max_concurrent_sessions"):
        await hub.create_session(
            creator_id=alice.agent_id, manifest_type="conversation", participants=[carol.agent_id]
        )
    for sid in (first, second):
        await hub.close_session(sid)
    assert hub._table.live_count == {}
    await hub.close()


async def test_inbox_is_released_by_receipts_not_by_sending(hub: Hub, peers) -> None:  # type: ignore[no-untyped-def]
    rule = Rule(limits=LimitsBlock(inbox=InboxBlock(max_pending=2)))
    alice, bob, meta = await pair(hub, peers, rule=rule, receipts=False)
    # The handshake (invite, opened) counts too until bob's client says it handled it.
    for env in list(bob.received):
        bob.connection.receipt(bob.agent_id, env)
    assert hub.pending_inbox(bob.agent_id) == 0
    await alice.send(meta.session_id, "1")
    await alice.send(meta.session_id, "2")
    with pytest.raises(InboxFull, match=r"inbox of .* is full"):
        await alice.send(meta.session_id, "3")
    assert hub.pending_inbox(bob.agent_id) == 2
    first = await bob.wait_for(lambda e: e.event_type == EV_TEXT)
    bob.connection.receipt(bob.agent_id, first)
    await alice.send(meta.session_id, "3")
    assert hub.pending_inbox(bob.agent_id) == 2


async def test_one_bad_session_does_not_disturb_another(hub: Hub, peers) -> None:  # type: ignore[no-untyped-def]
    alice, bob, meta = await pair(hub, peers)
    other = await hub.create_session(
        creator_id=alice.agent_id, manifest_type="consulting", participants=[bob.agent_id]
    )
    with pytest.raises(ProtocolError):
        await bob.send(other.session_id, "respondent first")
    await alice.send(meta.session_id, "conversation goes on")
    await alice.send(other.session_id, "q")
    await bob.send(other.session_id, "a")
    assert (await hub.get_session(other.session_id)).close_reason == "consulting_complete"
    assert (await hub.get_session(meta.session_id)).state is SessionState.ACTIVE


async def test_closed_sessions_leave_memory_and_are_read_back(store, clock, raw_peer) -> None:  # type: ignore[no-untyped-def]
    hub = await Hub.open(
        store, clock=clock, ttl_sweep_interval=0, expectation_sweep_interval=0, closed_cache_size=2
    )
    alice = await raw_peer(hub, "alice").start()
    bob = await raw_peer(hub, "bob").start()
    ids = []
    for _ in range(5):
        meta = await hub.create_session(
            creator_id=alice.agent_id, manifest_type="conversation", participants=[bob.agent_id]
        )
        await hub.close_session(meta.session_id)
        ids.append(meta.session_id)
    assert len(hub._table.live) == 0 and len(hub._table.closed) == 2
    old = await hub.get_session(ids[0])
    assert old.state is SessionState.CLOSED and old.close_reason == "explicit_close"
    with pytest.raises(ProtocolError, match="closed"):
        await hub.post_envelope(Envelope(ids[1], alice.agent_id, None, EV_TEXT, {"text": "x"}))
    await hub.close()
