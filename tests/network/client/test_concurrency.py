"""Per-session ordering, cross-session concurrency, and no deadlock across sessions (W1/S7)."""

from __future__ import annotations

import asyncio

from hubbub.events import ToolCallEvent
from hubbub.network.client import AgentClientInject, default_handler
from hubbub.network.envelope import EV_SESSION_CLOSED, EV_TEXT, Envelope, is_protocol_event


async def test_one_agent_answers_twenty_sessions_concurrently(net, tap) -> None:
    n = 20
    started = 0
    all_started = asyncio.Event()
    release = asyncio.Event()

    async def slow_lookup() -> str:
        """Look something up (blocks until the test releases it)."""
        nonlocal started
        started += 1
        if started == n:
            all_started.set()
        await release.wait()
        return "found"

    alice = await net.agent("alice")
    bob = await net.agent("bob", ToolCallEvent("slow_lookup"), "answer", tools=[slow_lookup])
    alice_tap = tap(alice, quiet=True)

    sessions = [await alice.open(type="conversation", target="bob") for _ in range(n)]
    for s in sessions:
        await s.send("question")

    # Every turn is in flight at once: a serial handler would never get here.
    await asyncio.wait_for(all_started.wait(), 10.0)
    release.set()
    for s in sessions:
        await alice_tap.wait(
            lambda e, sid=s.session_id: (
                e.session_id == sid and e.event_type == EV_TEXT and e.sender_id == bob.agent_id
            )
        )


async def test_order_within_a_session_is_kept_while_others_proceed(net, tap) -> None:
    alice = await net.agent("alice")
    bob = await net.agent("bob")
    tap(alice, quiet=True)
    gate = asyncio.Event()
    handled: list[tuple[str, str]] = []

    async def handler(envelope: Envelope) -> None:
        if is_protocol_event(envelope.event_type):
            await default_handler(envelope, bob)
            return
        text = envelope.event_data["text"]
        if text == "a1":
            await gate.wait()
        handled.append((envelope.session_id, text))

    bob_tap = tap(bob, inner=handler)
    a = await alice.open(type="conversation", target="bob")
    b = await alice.open(type="conversation", target="bob")
    for text in ("a1", "a2", "a3"):
        await a.send(text)
    await b.send("b1")

    await bob_tap.wait(lambda e: e.event_data.get("text") == "b1")
    assert handled == [(b.session_id, "b1")]  # a1 is blocked, a2/a3 wait behind it
    gate.set()
    await bob_tap.wait(lambda e: e.event_data.get("text") == "a3")
    assert [t for sid, t in handled if sid == a.session_id] == ["a1", "a2", "a3"]


async def test_a_turn_can_consult_another_agent_mid_turn(net, tap) -> None:
    """The W1 shape: a tool opens a second session and waits for its reply inside a turn."""
    answers: list[str] = []

    async def ask_carol(question: str, client: AgentClientInject) -> str:
        """Ask carol a question and return her answer."""
        sub = await client.open(type="consulting", target="carol")
        await sub.send(question)
        reply = await client.wait_for_session_event(
            session_id=sub.session_id,
            predicate=lambda e: e.event_type == EV_TEXT and e.sender_id != client.agent_id,
            timeout=10.0,
        )
        answers.append(reply.event_data["text"])
        return str(reply.event_data["text"])

    shared = net.hub_client()  # bob and carol share one connection (W2 shape too)
    alice = await net.agent("alice")
    bob = await net.agent(
        "bob",
        ToolCallEvent("ask_carol", arguments='{"question": "2+2?"}'),
        "carol says four",
        hc=shared,
        tools=[ask_carol],
    )
    await net.agent("carol", "four", hc=shared)
    alice_tap = tap(alice, quiet=True)

    session = await alice.open(type="conversation", target="bob")
    await session.send("what is 2+2? ask carol")
    reply = await alice_tap.wait(lambda e: e.event_type == EV_TEXT and e.sender_id == bob.agent_id)
    assert reply.event_data["text"] == "carol says four"
    assert answers == ["four"]
    consults = [
        m for m in await bob.list_sessions(include_terminal=True) if m.manifest.type == "consulting"
    ]
    assert len(consults) == 1
    assert consults[0].close_reason == "consulting_complete"


async def test_close_envelope_is_delivered_after_everything_before_it(net, tap) -> None:
    alice = await net.agent("alice")
    bob = await net.agent("bob")
    tap(alice, quiet=True)
    bob_tap = tap(bob, quiet=True)
    session = await alice.open(type="conversation", target="bob")
    for i in range(5):
        await session.send(f"m{i}")
    await session.close()
    await bob_tap.wait(lambda e: e.event_type == EV_SESSION_CLOSED)
    seqs = [e.sequence for e in bob_tap.seen if e.session_id == session.session_id]
    assert seqs == sorted(seqs)
    assert bob_tap.seen[-1].event_type == EV_SESSION_CLOSED
