"""Expectations with a fake clock, TTL expiry and every close route (spec §29.1 items 18–20)."""

from __future__ import annotations

import asyncio

import pytest

from hubbub.network import (
    EV_EXPECTATION_VIOLATED,
    EV_SESSION_CLOSED,
    EV_SESSION_EXPIRED,
    EV_SESSION_INVITE,
    EV_TEXT,
    AdapterResult,
    ConversationAdapter,
    Envelope,
    Expectation,
    Hub,
    InvalidValueError,
    LimitsBlock,
    MockClock,
    ProtocolError,
    Rule,
    SessionMetadata,
    SessionState,
)


async def conversation(hub: Hub, peers, **open_kw):  # type: ignore[no-untyped-def]
    alice = await peers("alice", **open_kw.pop("alice_kw", {}))
    bob = await peers("bob")
    meta = await hub.create_session(
        creator_id=alice.agent_id,
        manifest_type=open_kw.pop("type", "conversation"),
        participants=[bob.agent_id],
        **open_kw,
    )
    return alice, bob, meta


async def audit_kinds(hub: Hub, kind: str) -> list[dict]:  # type: ignore[type-arg]
    return [r for r in await hub.audit_log.read_all() if r["kind"] == kind]


async def test_acks_within_auto_close_fails_the_open(hub: Hub, peers, clock: MockClock) -> None:  # type: ignore[no-untyped-def]
    alice = await peers("alice")
    bob = await peers("bob", ack=False)
    opening = asyncio.create_task(
        hub.create_session(
            creator_id=alice.agent_id, manifest_type="consulting", participants=[bob.agent_id]
        )
    )
    await bob.wait_for(lambda e: e.event_type == EV_SESSION_INVITE)
    clock.advance(45)
    await hub.check_expectations()
    with pytest.raises(
        ProtocolError, match="closed during handshake: expectation_violated:acks_within"
    ):
        await opening
    (meta,) = await hub.list_sessions(include_terminal=True)
    assert meta.state is SessionState.CLOSED
    assert "expectation_violated:acks_within" in meta.close_reason
    (record,) = await audit_kinds(hub, "expectation_violated")
    assert record["expectation"] == "acks_within" and record["violators"] == [bob.agent_id]


async def test_audit_handler_records_once_and_session_stays_active(
    hub: Hub, peers, clock: MockClock
) -> None:  # type: ignore[no-untyped-def]
    alice, bob, meta = await conversation(hub, peers)
    await alice.send(meta.session_id, "hello")
    clock.advance(3700)
    for _ in range(3):
        await hub.check_expectations()
    info = await hub.get_session(meta.session_id)
    assert info.state is SessionState.ACTIVE
    assert not [
        e for e in await hub.read_wal(meta.session_id) if e.event_type == EV_EXPECTATION_VIOLATED
    ]
    records = await audit_kinds(hub, "expectation_violated")
    assert [r["expectation"] for r in records] == ["max_silence"]


class NotifyingConversation(ConversationAdapter):
    def __init__(self) -> None:
        super().__init__()
        self.manifest.type = "conversation_notify"
        self.manifest.expectations = [Expectation("max_silence", "notify_session", {"seconds": 60})]


async def test_notify_handler_posts_violation_to_everyone(
    hub: Hub, peers, clock: MockClock
) -> None:  # type: ignore[no-untyped-def]
    hub.register_adapter(NotifyingConversation())
    alice, bob, meta = await conversation(hub, peers, type="conversation_notify")
    clock.advance(61)
    await hub.check_expectations()
    await hub.check_expectations()
    violations = [
        e for e in await hub.read_wal(meta.session_id) if e.event_type == EV_EXPECTATION_VIOLATED
    ]
    assert len(violations) == 1
    assert violations[0].event_data["expectation"] == "max_silence"
    assert (await hub.get_session(meta.session_id)).state is SessionState.ACTIVE
    for peer in (alice, bob):
        await peer.wait_for(lambda e: e.event_type == EV_EXPECTATION_VIOLATED)


async def test_reply_within_auto_closes_consulting(hub: Hub, peers, clock: MockClock) -> None:  # type: ignore[no-untyped-def]
    alice, bob, meta = await conversation(hub, peers, type="consulting")
    await alice.send(meta.session_id, "q?")
    clock.advance(599)
    await hub.check_expectations()
    assert (await hub.get_session(meta.session_id)).state is SessionState.ACTIVE
    clock.advance(2)
    await hub.check_expectations()
    info = await hub.get_session(meta.session_id)
    assert info.close_reason == "expectation_violated:reply_within"


async def test_ttl_expiry_from_rule_default(hub: Hub, peers, clock: MockClock) -> None:  # type: ignore[no-untyped-def]
    rule = Rule(limits=LimitsBlock(session_ttl_default="10s"))
    alice, bob, meta = await conversation(hub, peers, alice_kw={"rule": rule})
    assert meta.expires_at == "2026-01-01T00:00:10+00:00"
    clock.advance(9)
    assert await hub.expire_due() == 0
    clock.advance(2)
    assert await hub.expire_due() == 1
    info = await hub.get_session(meta.session_id)
    assert info.state is SessionState.EXPIRED and info.close_reason == "ttl_expired"
    expired = await bob.wait_for(lambda e: e.event_type == EV_SESSION_EXPIRED)
    assert expired.event_data == {"reason": "ttl_expired", "session_id": meta.session_id}
    assert await audit_kinds(hub, "session_expired")
    with pytest.raises(ProtocolError, match="closed"):
        await alice.send(meta.session_id, "late")


async def test_explicit_ttl_argument_wins(hub: Hub, peers, clock: MockClock) -> None:  # type: ignore[no-untyped-def]
    alice, bob, meta = await conversation(hub, peers, ttl="1m")
    assert meta.expires_at == "2026-01-01T00:01:00+00:00"
    with pytest.raises(InvalidValueError, match="ttl"):
        await hub.create_session(
            creator_id=alice.agent_id,
            manifest_type="conversation",
            participants=[bob.agent_id],
            ttl="soon",
        )


async def test_explicit_close_default_reason_and_idempotent(hub: Hub, peers) -> None:  # type: ignore[no-untyped-def]
    alice, bob, meta = await conversation(hub, peers)
    closed = await hub.close_session(meta.session_id)
    assert closed.state is SessionState.CLOSED and closed.close_reason == "explicit_close"
    again = await hub.close_session(meta.session_id, reason="other")
    assert again.close_reason == "explicit_close"
    closes = [e for e in await hub.read_wal(meta.session_id) if e.event_type == EV_SESSION_CLOSED]
    assert len(closes) == 1 and closes[0].audience == [alice.agent_id, bob.agent_id]
    for peer in (alice, bob):
        env = await peer.wait_for(lambda e: e.event_type == EV_SESSION_CLOSED)
        assert env.event_data["reason"] == "explicit_close"


class TerminatingConversation(ConversationAdapter):
    def __init__(self, keyword: str = "TERMINATE") -> None:
        super().__init__()
        self.keyword = keyword

    def on_accepted(
        self, metadata: SessionMetadata, envelope: Envelope, state: object
    ) -> AdapterResult:
        text = envelope.event_data.get("text")
        if envelope.event_type == EV_TEXT and isinstance(text, str) and self.keyword in text:
            return AdapterResult(SessionState.CLOSING, f"terminate_keyword:{self.keyword}")
        return AdapterResult()


async def test_sentinel_adapter_subclass_closes_after_keyword(hub: Hub, peers) -> None:  # type: ignore[no-untyped-def]
    hub.register_adapter(TerminatingConversation())
    alice, bob, meta = await conversation(hub, peers)
    await alice.send(meta.session_id, "hi")
    await bob.send(meta.session_id, "done. TERMINATE")
    info = await hub.get_session(meta.session_id)
    assert info.state is SessionState.CLOSED and info.close_reason == "terminate_keyword:TERMINATE"
    wal = await hub.read_wal(meta.session_id)
    assert [e.event_type for e in wal[-2:]] == [EV_TEXT, EV_SESSION_CLOSED]
    assert wal[-2].event_data["text"] == "done. TERMINATE"
    with pytest.raises(ProtocolError):
        await alice.send(meta.session_id, "after")
