"""wait_for_session_event: early events are found, buffers stay bounded, ended sessions are dropped."""

from __future__ import annotations

import asyncio

import pytest

from hubbub.network.envelope import EV_SESSION_CLOSED, EV_TEXT


def _text(value: str):
    return lambda e: e.event_type == EV_TEXT and e.event_data.get("text") == value


async def test_events_delivered_before_the_wait_are_found(net, tap) -> None:
    alice = await net.agent("alice")
    bob = await net.agent("bob")
    tap(alice, quiet=True)
    bob_tap = tap(bob, quiet=True)
    session = await alice.open(type="conversation", target="bob")
    for text in ("one", "two", "three"):
        await session.send(text)
    await bob_tap.wait(_text("three"))  # all three arrived before anyone waits

    got = await bob.wait_for_session_event(
        session_id=session.session_id, predicate=_text("two"), timeout=5.0
    )
    assert got.event_data["text"] == "two"
    # Consuming: "one" was discarded on the way, "three" is next.
    nxt = await bob.wait_for_session_event(
        session_id=session.session_id, predicate=lambda e: e.event_type == EV_TEXT, timeout=5.0
    )
    assert nxt.event_data["text"] == "three"


async def test_wait_times_out(net) -> None:
    alice = await net.agent("alice")
    with pytest.raises(asyncio.TimeoutError):
        await alice.wait_for_session_event(
            session_id="no-such-session", predicate=lambda e: True, timeout=0.01
        )
    assert "no-such-session" not in alice._records  # a failed wait leaves nothing behind


async def test_waiter_gets_an_envelope_delivered_while_waiting(net, tap) -> None:
    alice = await net.agent("alice")
    bob = await net.agent("bob")
    tap(alice, quiet=True)
    tap(bob, quiet=True)
    session = await alice.open(type="conversation", target="bob")
    waiting = asyncio.ensure_future(
        bob.wait_for_session_event(
            session_id=session.session_id, predicate=_text("later"), timeout=5.0
        )
    )
    await session.send("later")
    assert (await waiting).event_data["text"] == "later"


async def test_inbox_is_bounded(net, tap) -> None:
    alice = await net.agent("alice")
    bob = await net.agent("bob")
    bob.inbox_size = 4
    tap(alice, quiet=True)
    bob_tap = tap(bob, quiet=True)
    session = await alice.open(type="conversation", target="bob")
    for i in range(10):
        await session.send(f"m{i}")
    await bob_tap.wait(_text("m9"))
    oldest = await bob.wait_for_session_event(
        session_id=session.session_id, predicate=lambda e: True, timeout=5.0
    )
    assert oldest.event_data["text"] == "m6"  # only the last four were kept


async def test_ended_sessions_drop_their_state_and_stay_bounded(net, tap) -> None:
    alice = await net.agent("alice")
    bob = await net.agent("bob")
    alice.retain_ended = 3
    tap(alice, quiet=True)
    ids = []
    for _ in range(5):
        s = await alice.open(type="conversation", target="bob")
        await s.send("hi")
        await s.close()
        ids.append(s.session_id)
        env = await alice.wait_for_session_event(
            session_id=s.session_id,
            predicate=lambda e: e.event_type == EV_SESSION_CLOSED,
            timeout=5.0,
        )
        assert env.event_data["reason"] == "explicit_close"
    records = alice._records
    assert len(records) <= 3
    for record in records.values():
        assert record.projection is None and record.adapter is None
        assert record.terminal
    assert bob is not None


async def test_close_arriving_before_the_wait_is_still_found(net) -> None:
    alice = await net.agent("alice", "q")
    await net.agent("bob", "a")
    session = await alice.open(type="consulting", target="bob")
    await session.send("question")
    # Do other work first; the close lands in the (retained) inbox meanwhile.
    info = await session.info()
    env = await alice.wait_for_session_event(
        session_id=session.session_id,
        predicate=lambda e: e.event_type == EV_SESSION_CLOSED,
        timeout=5.0,
    )
    assert env.event_data["reason"] == "consulting_complete"
    assert info.session_id == session.session_id


async def test_hub_client_wait_delegates_to_its_participant(net) -> None:
    hc = net.hub_client()
    alice = await net.agent("alice", "q", hc=hc)
    await net.agent("bob", "a")
    session = await alice.open(type="consulting", target="bob")
    await session.send("question")
    env = await hc.wait_for_session_event(
        session_id=session.session_id,
        predicate=lambda e: e.event_type == EV_SESSION_CLOSED,
        timeout=5.0,
    )
    assert env.event_data["reason"] == "consulting_complete"
