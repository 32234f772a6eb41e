"""HumanClient (§19) and HubClient.register_human (§16.1), in-process and over WebSocket.

Every test here runs twice: with ``LocalLink`` and with a real WebSocket server on
127.0.0.1 (port 0). The human is a HumanClient; the agents are AgentClients with
the offline scripted model.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from tests.faults._forwarder import Forwarder
from tests.network.client._links import KINDS, Links, open_links

from hubbub.agent import Agent
from hubbub.network.auth import BearerTokens, ServerAuth
from hubbub.network.client import AgentClient, HubClient, HumanClient, default_handler
from hubbub.network.envelope import (
    EV_SESSION_CLOSED,
    EV_SESSION_INVITE,
    EV_SESSION_OPENED,
    EV_TEXT,
    Envelope,
)
from hubbub.network.errors import (
    AccessDeniedError,
    InvalidValueError,
    NetworkError,
    SessionTimeoutError,
)
from hubbub.network.hub import Hub
from hubbub.network.identity import Passport, Resume
from hubbub.network.rule import InboxBlock, LimitsBlock, Rule
from hubbub.network.session import SessionState
from hubbub.network.transport.ws import WsLink, serve_ws
from hubbub.testing import TestConfig

DEADLINE = 10.0


@pytest.fixture(params=KINDS)
async def links(request: pytest.FixtureRequest, hub: Hub) -> AsyncIterator[Links]:
    async with open_links(hub, request.param) as made:
        yield made


async def agent(links: Links, name: str, *replies: Any) -> AgentClient:
    return await links.hub_client().register(
        Agent(name, prompt=f"Be {name}.", config=TestConfig(*(replies or ("ok",)))),
        Passport(name=name),
        Resume(),
    )


async def human(links: Links, name: str = "hana", **kw: Any) -> HumanClient:
    return await links.hub_client().register_human(Passport(name=name), **kw)


def is_text(value: str | None = None) -> Callable[[Envelope], bool]:
    return lambda e: e.event_type == EV_TEXT and (value is None or e.event_data["text"] == value)


async def eventually(predicate: Callable[[], Any], what: str) -> None:
    """Bounded polling for state held in another task (receipts, counters)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE
    while not predicate():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


# ---------------------------------------------------------------- registration


async def test_register_human_forces_the_kind_and_is_discoverable(links: Links) -> None:
    hana = await links.hub_client().register_human(
        Passport(name="hana", kind="agent"), resume=Resume(summary="the reviewer")
    )
    assert hana.passport.kind == "human" and hana.agent_id
    assert hana.resume.summary == "the reviewer"
    bob = await agent(links, "bob")
    humans = await bob.hub_client.list_agents(kind="human")
    assert [p.name for p in humans] == ["hana"]
    assert [p.name for p in await bob.hub_client.list_agents(kind="agent")] == ["bob"]
    assert (await bob.hub_client.get_agent("hana")).kind == "human"
    assert hana.hub_client.humans == {hana.agent_id: hana}
    assert hana.hub_client.agents == {}


async def test_register_refuses_humans_and_register_human_checks_its_arguments(
    links: Links,
) -> None:
    hc = links.hub_client()
    with pytest.raises(InvalidValueError, match="register_human"):
        await hc.register(
            Agent("h", config=TestConfig("x")), Passport(name="h", kind="human"), None
        )
    with pytest.raises(InvalidValueError, match="passport"):
        await hc.register_human("hana")  # type: ignore[arg-type]
    with pytest.raises(InvalidValueError, match="resume"):
        await hc.register_human(Passport(name="hana"), resume={})  # type: ignore[arg-type]
    with pytest.raises(InvalidValueError, match="rule"):
        await hc.register_human(Passport(name="hana"), rule="strict")  # type: ignore[arg-type]
    with pytest.raises(InvalidValueError, match="auto_ack_invites"):
        await hc.register_human(Passport(name="hana"), auto_ack_invites=1)  # type: ignore[arg-type]
    await hc.close()
    with pytest.raises(RuntimeError, match="closed"):
        await hc.register_human(Passport(name="hana"))


# ---------------------------------------------------------------- receiving


async def test_an_agent_invites_a_human_who_hears_it_every_way(links: Links, tap: Any) -> None:
    hana = await human(links)
    bob = await agent(links, "bob")
    tap(bob, quiet=True)
    order: list[str] = []
    seen_async: list[str] = []

    def first(env: Envelope) -> None:
        if env.event_type == EV_TEXT:
            order.append("first:" + env.event_data["text"])

    def broken(env: Envelope) -> None:
        raise RuntimeError("a callback bug")

    async def second(env: Envelope) -> None:
        await asyncio.sleep(0)
        if env.event_type == EV_TEXT:
            order.append("second:" + env.event_data["text"])
            seen_async.append(env.event_data["text"])

    hana.on_envelope(first)
    hana.on_envelope(broken)
    assert hana.on_envelope(second) is second

    session = await bob.open(type="conversation", target="hana")  # auto-acked
    assert session.state is SessionState.ACTIVE
    await session.send("hello hana")

    got = await hana.wait_for_session_event(
        session_id=session.session_id, predicate=is_text(), timeout=DEADLINE
    )
    assert got.event_data["text"] == "hello hana" and got.sender_id == bob.agent_id
    pulled = await hana.next_envelope(predicate=is_text(), timeout=DEADLINE)
    assert pulled.envelope_id == got.envelope_id  # the same envelope in both queues
    await eventually(lambda: seen_async == ["hello hana"], "the async callback")
    assert order == ["first:hello hana", "second:hello hana"]  # in order, past the broken one

    hana.remove_envelope_callback(first)
    hana.remove_envelope_callback(first)  # again: ignored
    await session.send("again")
    await eventually(lambda: seen_async == ["hello hana", "again"], "the second envelope")
    assert order[-1] == "second:again" and "first:again" not in order
    assert hana.receive_chunk("ignored", "chunks") is None
    with pytest.raises(InvalidValueError, match="callable"):
        hana.on_envelope("nope")  # type: ignore[arg-type]


async def test_a_human_and_an_agent_talk(links: Links) -> None:
    hana = await human(links)
    bob = await agent(links, "bob", "Fault tolerance.")
    session = await hana.open(type="conversation", target="bob", intent="ask bob")
    assert session.state is SessionState.ACTIVE and session.client is hana
    mine = await hana.send(session.session_id, "What matters most?")
    reply = await hana.wait_for_session_event(
        session_id=session.session_id,
        predicate=lambda e: is_text()(e) and e.sender_id == bob.agent_id,
        timeout=DEADLINE,
    )
    assert reply.event_data["text"] == "Fault tolerance."
    assert reply.causation_id == mine
    again = await session.send("And then?")  # the Session handle posts through the HumanClient
    second = await hana.wait_for_session_event(
        session_id=session.session_id,
        predicate=lambda e: e.causation_id == again,
        timeout=DEADLINE,
    )
    assert second.sender_id == bob.agent_id
    texts = [e.event_data["text"] for e in await hana.read_wal(session.session_id) if is_text()(e)]
    assert texts == ["What matters most?", "Fault tolerance.", "And then?", "Fault tolerance."]

    closed = await session.close()  # no reason: the human's default
    assert closed.close_reason == "human_closed"
    await hana.wait_for_session_event(
        session_id=session.session_id,
        predicate=lambda e: e.event_type == EV_SESSION_CLOSED,
        timeout=DEADLINE,
    )
    assert session.state is SessionState.CLOSED
    assert (await hana.close_session(session.session_id)).close_reason == "human_closed"


async def test_close_session_with_a_reason_and_list_sessions(links: Links) -> None:
    hana = await human(links)
    await agent(links, "bob")
    session = await hana.open(type="conversation", target="bob")
    assert [m.session_id for m in await hana.list_sessions()] == [session.session_id]
    meta = await hana.close_session(session.session_id, reason="done for today")
    assert meta.close_reason == "done for today"
    assert await hana.list_sessions() == []
    assert len(await hana.list_sessions(include_terminal=True)) == 1


async def test_send_resolves_audience_names_and_refuses_posing(links: Links, tap: Any) -> None:
    hana = await human(links)
    bob = await agent(links, "bob")
    bob_tap = tap(bob, quiet=True)
    session = await hana.open(type="conversation", target="bob")
    await hana.send(session.session_id, "for bob", audience=["bob"])
    delivered = await bob_tap.wait(is_text("for bob"))
    assert delivered.audience == [bob.agent_id]
    with pytest.raises(AccessDeniedError):
        await hana.post_envelope(
            Envelope(session.session_id, bob.agent_id, None, EV_TEXT, {"text": "as bob"})
        )
    env_id = await hana.send_envelope(
        Envelope(session.session_id, "", None, EV_TEXT, {"text": "raw"})
    )
    assert (await bob_tap.wait(is_text("raw"))).envelope_id == env_id
    with pytest.raises(InvalidValueError, match="text"):
        await hana.send(session.session_id, 42)  # type: ignore[arg-type]
    with pytest.raises(InvalidValueError, match="audience"):
        await hana.send(session.session_id, "x", audience="bob")  # type: ignore[arg-type]
    with pytest.raises(InvalidValueError, match="session_id"):
        await hana.send("", "x")


async def test_invites_wait_for_the_human_without_auto_ack(links: Links, tap: Any) -> None:
    hana = await human(links, auto_ack_invites=False)
    assert not hana.auto_ack_invites
    bob = await agent(links, "bob")
    tap(bob, quiet=True)
    opening = asyncio.ensure_future(bob.open(type="conversation", target="hana"))
    invite = await hana.next_envelope(
        predicate=lambda e: e.event_type == EV_SESSION_INVITE, timeout=DEADLINE
    )
    assert not opening.done()
    await hana.accept_invite(invite)
    session = await asyncio.wait_for(opening, DEADLINE)
    assert session.state is SessionState.ACTIVE
    await hana.wait_for_session_event(
        session_id=session.session_id,
        predicate=lambda e: e.event_type == EV_SESSION_OPENED,
        timeout=DEADLINE,
    )
    handle = await hana.session(session.session_id)
    assert handle.state is SessionState.ACTIVE

    refused = asyncio.ensure_future(bob.open(type="conversation", target="hana"))
    second = await hana.next_envelope(
        predicate=lambda e: e.event_type == EV_SESSION_INVITE, timeout=DEADLINE
    )
    await hana.reject_invite(second, reason="busy")
    with pytest.raises(NetworkError, match=f"rejected by {hana.agent_id}"):
        await asyncio.wait_for(refused, DEADLINE)
    with pytest.raises(InvalidValueError, match="invite"):
        await hana.accept_invite(second.__class__(second.session_id, "", None, EV_TEXT, {}))


# ---------------------------------------------------------------- pulling and ending


async def test_next_envelope_discards_times_out_and_checks(links: Links, tap: Any) -> None:
    hana = await human(links)
    bob = await agent(links, "bob")
    tap(bob, quiet=True)
    session = await bob.open(type="conversation", target="hana")
    for text in ("one", "two", "three"):
        await session.send(text)
    await hana.wait_for_session_event(
        session_id=session.session_id, predicate=is_text("three"), timeout=DEADLINE
    )
    two = await hana.next_envelope(predicate=is_text("two"), timeout=DEADLINE)
    assert two.event_data["text"] == "two"
    nxt = await hana.next_envelope(timeout=DEADLINE)  # "one" and the protocol ones are gone
    assert nxt.event_data["text"] == "three"
    with pytest.raises(SessionTimeoutError, match="pull queue"):
        await hana.next_envelope(timeout=0.01)
    with pytest.raises(asyncio.TimeoutError):  # SessionTimeoutError is a TimeoutError
        await hana.wait_for_session_event(
            session_id=session.session_id, predicate=is_text(), timeout=0.01
        )
    with pytest.raises(InvalidValueError, match="timeout"):
        await hana.next_envelope(timeout=-1)
    with pytest.raises(InvalidValueError, match="predicate"):
        await hana.wait_for_session_event(session_id=session.session_id, predicate=None)  # type: ignore[arg-type]


async def test_disconnect_wakes_every_blocked_consumer(links: Links, tap: Any) -> None:
    hana = await human(links)
    bob = await agent(links, "bob")
    tap(bob, quiet=True)
    session = await bob.open(type="conversation", target="hana")
    await session.send("before")
    await hana.wait_for_session_event(
        session_id=session.session_id, predicate=is_text("before"), timeout=DEADLINE
    )
    streamed: list[str] = []

    async def stream() -> None:
        async for env in hana.envelopes():
            if env.event_type == EV_TEXT:
                streamed.append(env.event_data["text"])

    streaming = asyncio.ensure_future(stream())
    pulling = asyncio.ensure_future(hana.next_envelope(predicate=is_text("never")))
    waiting = asyncio.ensure_future(
        hana.wait_for_session_event(session_id=session.session_id, predicate=is_text("never"))
    )
    await eventually(lambda: streamed == ["before"], "the stream to drain the queue")
    assert not (streaming.done() or pulling.done() or waiting.done())

    await hana.disconnect()
    await hana.disconnect()  # idempotent
    await asyncio.wait_for(streaming, DEADLINE)  # the iteration ended
    with pytest.raises(RuntimeError, match="disconnected"):
        await asyncio.wait_for(pulling, DEADLINE)
    with pytest.raises(RuntimeError, match="disconnected"):
        await asyncio.wait_for(waiting, DEADLINE)
    with pytest.raises(RuntimeError, match="disconnected"):
        await hana.next_envelope(timeout=1)
    with pytest.raises(RuntimeError, match="disconnected"):
        await hana.send(session.session_id, "after")
    assert not hana.connected


async def test_what_was_queued_is_still_taken_after_disconnect(links: Links, tap: Any) -> None:
    hana = await human(links)
    bob = await agent(links, "bob")
    tap(bob, quiet=True)
    session = await bob.open(type="conversation", target="hana")
    await session.send("kept")
    await hana.wait_for_session_event(
        session_id=session.session_id, predicate=is_text("kept"), timeout=DEADLINE
    )
    await hana.disconnect()
    texts = [e.event_data["text"] async for e in hana.envelopes() if e.event_type == EV_TEXT]
    assert texts == ["kept"]


async def test_unregister_and_the_hub_client_closing_end_a_human(links: Links) -> None:
    hana = await human(links)
    other = await human(links, "ines")
    waiting = asyncio.ensure_future(hana.next_envelope())
    await hana.unregister()
    with pytest.raises(RuntimeError):
        await asyncio.wait_for(waiting, DEADLINE)
    assert await other.hub_client.list_agents(kind="human") == [other.passport]
    await other.hub_client.close()
    assert not other.connected


async def test_the_pull_queue_is_bounded_drop_oldest_and_counted(links: Links, tap: Any) -> None:
    hana = await human(links)
    hana.queue_size = 3
    with pytest.raises(InvalidValueError, match="queue_size"):
        hana.queue_size = -1
    bob = await agent(links, "bob")
    tap(bob, quiet=True)
    session = await bob.open(type="conversation", target="hana")
    for i in range(10):
        await session.send(f"m{i}")
    await hana.wait_for_session_event(
        session_id=session.session_id, predicate=is_text("m9"), timeout=DEADLINE
    )
    kept = [(await hana.next_envelope(timeout=DEADLINE)).event_data["text"] for _ in range(3)]
    assert kept == ["m7", "m8", "m9"]
    # invite + opened + ten texts went into a queue of three
    assert hana.dropped.pull == 12 - 3
    assert hana.dropped.total >= hana.dropped.pull


# ---------------------------------------------------------------- listening never blocks senders


N_ENVELOPES = 5_000
SENDERS = 4


async def blast(session: Any, n: int, senders: int) -> int:
    """Post ``n`` texts from ``senders`` concurrent loops; every post must be admitted."""

    async def loop(k: int) -> int:
        sent = 0
        for i in range(k, n, senders):
            await session.send(f"m{i}")
            sent += 1
        return sent

    return sum(await asyncio.gather(*(loop(k) for k in range(senders))))


@pytest.mark.parametrize("listening", ["pull_never_drained", "stuck_push_callback"])
async def test_a_listen_only_human_never_makes_senders_fail(
    links: Links, hub: Hub, tap: Any, listening: str
) -> None:
    hana = await human(links)
    hana.queue_size = 1_000
    hana.push_backlog = 500
    stuck = asyncio.Event()
    if listening == "stuck_push_callback":
        hana.queue_size = 0  # nothing kept for pulling: push only

        async def reads_forever(env: Envelope) -> None:
            await stuck.wait()  # a person who never gets to the end of the first message

        hana.on_envelope(reads_forever)
    bob = await agent(links, "bob")
    tap(bob, quiet=True)
    session = await bob.open(type="conversation", target="hana")
    assert hana.rule.limits.inbox.max_pending == 1000  # the default cap a stuck reader would hit

    assert await blast(session, N_ENVELOPES, SENDERS) == N_ENVELOPES  # no InboxFull, no error
    await eventually(lambda: hub.pending_inbox(hana.agent_id) == 0, "every receipt")

    delivered = N_ENVELOPES + 2  # the invite and the opened notice too
    drops = hana.dropped
    assert drops.sessions == delivered - hana.inbox_size
    wal = await hana.read_wal(session.session_id)
    texts = [e for e in wal if e.event_type == EV_TEXT]
    assert len(texts) == N_ENVELOPES  # nothing lost: the WAL has every one
    if listening == "pull_never_drained":
        assert drops.pull == delivered - 1_000 and drops.push == 0
        kept = [(await hana.next_envelope(timeout=DEADLINE)).envelope_id for _ in range(1_000)]
        assert kept == [e.envelope_id for e in texts[-1_000:]]  # the newest 1,000, in order
    else:
        # one envelope is in the stuck callback, 500 wait behind it, the rest were dropped
        assert drops.push == delivered - 1 - 500 and drops.pull == delivered
        stuck.set()


async def test_without_receipts_a_stuck_reader_does_make_senders_fail(
    hub: Hub, tap: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The control of the test above: an agent whose handler never finishes holds its
    inbox slots, so the same load does hit ``inbox_full`` (in-process is enough)."""
    caplog.set_level(logging.CRITICAL)
    async with open_links(hub, "local") as made:
        carl = await agent(made, "carl")
        never = asyncio.Event()

        async def stuck(env: Envelope) -> None:
            if env.event_type == EV_TEXT:
                await never.wait()
            else:
                await default_handler(env, carl)  # acks the invite

        carl.on_envelope(stuck)
        bob = await agent(made, "bob")
        tap(bob, quiet=True)
        session = await bob.open(type="conversation", target="carl")
        with pytest.raises(NetworkError) as raised:
            await blast(session, N_ENVELOPES, 1)
        assert raised.value.code == "inbox_full"
        never.set()


# ---------------------------------------------------------------- reconnect


async def test_a_human_whose_connection_is_cut_misses_nothing(hub: Hub, tap: Any) -> None:
    """Over WebSocket through a forwarder the test cuts twice: the human's client
    reconnects, registers again (still a human) and gets what it missed from the WAL,
    each envelope once, in order."""
    auth = ServerAuth([BearerTokens({"th": "people", "tb": "agents"})])
    async with serve_ws(hub, host="127.0.0.1", port=0, auth=auth) as url:
        fwd = await Forwarder.start("127.0.0.1", int(url.rsplit(":", 1)[1]))
        people = HubClient(WsLink(f"ws://127.0.0.1:{fwd.port}", token="th", reconnect=30))
        agents = HubClient(WsLink(url, token="tb", reconnect=0))
        try:
            hana = await people.register_human(Passport(name="hana"))
            got: list[Envelope] = []
            hana.on_envelope(got.append)
            bob = await agents.register(
                Agent("bob", config=TestConfig("x")), Passport(name="bob"), Resume()
            )
            tap(bob, quiet=True)
            session = await bob.open(type="conversation", target="hana")
            for i in range(60):
                if i in (15, 40):
                    assert fwd.cut() == 1
                await session.send(f"m{i}")
            await eventually(
                lambda: sum(1 for e in got if e.event_type == EV_TEXT) >= 60, "all 60 texts"
            )
            assert people.connection.reconnects == 2
            assert (await hub.get_agent("hana")).kind == "human"
            wal = await hub.read_wal(session.session_id)
            expected = [
                e.envelope_id
                for e in wal
                if e.sender_id != hana.agent_id and e.event_type != "ag2.session.invite.ack"
            ]
            assert [e.envelope_id for e in got] == expected
        finally:
            await people.close()
            await agents.close()
            await fwd.close()


async def test_the_hub_client_waits_on_its_human(links: Links, tap: Any) -> None:
    hc = links.hub_client()
    hana = await hc.register_human(Passport(name="hana"))
    bob = await agent(links, "bob")
    tap(bob, quiet=True)
    session = await bob.open(type="conversation", target="hana")
    await session.send("via the hub client")
    got = await hc.wait_for_session_event(
        session_id=session.session_id, predicate=is_text(), timeout=DEADLINE
    )
    assert got.event_data["text"] == "via the hub client"
    assert repr(hc) == "HubClient(agents=['hana'])" and "hana" in repr(hana)


async def test_a_disconnected_human_still_frees_its_inbox(links: Links, hub: Hub, tap: Any) -> None:
    small = Rule(limits=LimitsBlock(inbox=InboxBlock(max_pending=50)))
    hana = await human(links, rule=small)
    bob = await agent(links, "bob")
    tap(bob, quiet=True)
    session = await bob.open(type="conversation", target="hana")
    await hana.disconnect()  # gone, but still registered and bound to its connection
    for i in range(200):
        await session.send(f"m{i}")  # four times the cap: none refused
    await eventually(lambda: hub.pending_inbox(hana.agent_id) == 0, "every receipt")
    assert hana.dropped.total == 0  # nothing was queued after the disconnect
