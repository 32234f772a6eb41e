"""The network tools over a real WebSocket (``serve_ws`` on 127.0.0.1, port 0; every
agent on its own ``WsLink`` connection): delegate inside a turn, the depth limit, the
say rule in consulting, other sessions progressing while a delegation waits."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from hubbub.agent import Agent
from hubbub.events import ToolCallEvent, ToolResultsEvent
from hubbub.knowledge.memory import MemoryKnowledgeStore
from hubbub.network import EV_SESSION_CLOSED, EV_TEXT, Envelope, Hub, HubClient, Passport, Resume
from hubbub.network.auth import BearerTokens, ServerAuth
from hubbub.network.client import default_handler
from hubbub.network.client.agent_client import AgentClient
from hubbub.network.envelope import EV_TURN_FAILED, is_protocol_event
from hubbub.network.errors import AccessDeniedError
from hubbub.network.rule import LimitsBlock, Rule
from hubbub.network.transport.ws import WsLink, serve_ws
from hubbub.testing import TestConfig, TrackingConfig

ANSWER_WITHIN = 5.0  # seconds a zero-latency delegation may take before the test fails


def call(name: str, **arguments: Any) -> ToolCallEvent:
    return ToolCallEvent(name, arguments=json.dumps(arguments))


def text_from(sender_id: str, session_id: str | None = None) -> Any:
    return lambda e: (
        e.event_type == EV_TEXT
        and e.sender_id == sender_id
        and (session_id is None or e.session_id == session_id)
    )


def is_close(e: Envelope) -> bool:
    return e.event_type == EV_SESSION_CLOSED


def quiet(client: AgentClient) -> AgentClient:
    """Let ``client`` ack invites but answer nothing (no auto-driven chain)."""

    async def handler(envelope: Envelope) -> None:
        if is_protocol_event(envelope.event_type):
            await default_handler(envelope, client)

    client.on_envelope(handler)
    return client


class Wire:
    """Agents on one hub served over WebSocket, each on a connection of its own."""

    def __init__(self, hub: Hub, url: str) -> None:
        self.hub = hub
        self.url = url
        self.made: list[HubClient] = []

    async def agent(self, name: str, *replies: Any, config: Any = None, **kw: Any) -> AgentClient:
        hc = HubClient(WsLink(self.url, token="ta", reconnect=0))
        self.made.append(hc)
        cfg = config if config is not None else TestConfig(*(replies or ("ok",)))
        return await hc.register(Agent(name, config=cfg, **kw), Passport(name=name), Resume())

    async def close(self) -> None:
        for hc in self.made:
            await hc.close()


@pytest.fixture
async def wire() -> AsyncIterator[Wire]:
    hub = await Hub.open(
        MemoryKnowledgeStore(),
        ttl_sweep_interval=0,
        expectation_sweep_interval=0,
        invite_ack_timeout=5.0,
    )
    auth = ServerAuth([BearerTokens({"ta": "owner-a"})])
    try:
        async with serve_ws(hub, host="127.0.0.1", port=0, auth=auth) as url:
            w = Wire(hub, url)
            try:
                yield w
            finally:
                await w.close()
    finally:
        await hub.close()


async def test_delegate_inside_a_turn_answers_over_the_wire(wire: Wire) -> None:
    tracking = TrackingConfig(
        TestConfig(call("delegate", target="carol", prompt="what is 2+2?"), "carol says four")
    )
    alice = quiet(await wire.agent("alice"))
    bob = await wire.agent("bob", config=tracking)
    carol = await wire.agent("carol", "four")
    session = await alice.open(type="conversation", target="bob")
    await session.send("ask carol")
    reply = await alice.wait_for_session_event(
        session_id=session.session_id, predicate=text_from(bob.agent_id), timeout=ANSWER_WITHIN
    )
    assert reply.event_data["text"] == "carol says four"
    results = [
        r.result.to_text()
        for e in tracking.calls[-1].messages
        if isinstance(e, ToolResultsEvent)
        for r in e.results
    ]
    assert results == ["four"]
    (consult,) = [
        m for m in await bob.list_sessions(include_terminal=True) if m.manifest.type == "consulting"
    ]
    assert consult.close_reason == "consulting_complete"
    wal = await wire.hub.read_wal(consult.session_id)
    assert [
        (e.sender_id, e.event_data["text"], e.depth) for e in wal if e.event_type == EV_TEXT
    ] == [
        (bob.agent_id, "what is 2+2?", 1),
        (carol.agent_id, "four", 0),
    ]


async def test_depth_limit_over_the_wire(wire: Wire) -> None:
    tracking = TrackingConfig(TestConfig(call("delegate", target="carol", prompt="deeper"), "no"))
    alice = quiet(await wire.agent("alice"))
    bob = await wire.agent("bob", config=tracking)
    await wire.agent("carol", "never asked")
    await bob.set_rule(Rule(limits=LimitsBlock(delegation_depth=1)))
    await alice.set_rule(Rule(limits=LimitsBlock(delegation_depth=1)))

    session = await alice.open(type="conversation", target="bob")
    with pytest.raises(AccessDeniedError) as info:  # the class survives the wire
        await session.send("too deep", depth=2)
    assert info.value.code == "delegation_too_deep"
    assert "exceeds the limit of 1 for alice" in str(info.value)

    await session.send("dig", depth=1)  # bob's delegation would be depth 2
    await alice.wait_for_session_event(
        session_id=session.session_id, predicate=text_from(bob.agent_id), timeout=ANSWER_WITHIN
    )
    results = [
        r.result.to_text()
        for e in tracking.calls[-1].messages
        if isinstance(e, ToolResultsEvent)
        for r in e.results
    ]
    assert len(results) == 1
    assert results[0].startswith("Error: the prompt to carol was refused")
    assert "delegation depth 2 exceeds the limit of 1 for bob" in results[0]


async def test_say_in_consulting_over_the_wire_posts_once(wire: Wire) -> None:
    alice = quiet(await wire.agent("alice"))
    bob = await wire.agent("bob", call("say", content="the answer is 4"), "done")
    attempted: list[str] = []
    real_post = bob.post

    async def post(envelope: Envelope) -> Envelope:
        attempted.append(envelope.event_type)
        return await real_post(envelope)

    bob.post = post  # type: ignore[method-assign]
    session = await alice.open(type="consulting", target="bob")
    await session.send("2+2?")
    await alice.wait_for_session_event(
        session_id=session.session_id, predicate=is_close, timeout=ANSWER_WITHIN
    )
    wal = await wire.hub.read_wal(session.session_id)
    assert [(e.sender_id, e.event_data["text"]) for e in wal if e.event_type == EV_TEXT] == [
        (alice.agent_id, "2+2?"),
        (bob.agent_id, "the answer is 4"),
    ]
    assert not [e for e in wal if e.event_type == EV_TURN_FAILED]
    assert (await wire.hub.get_session(session.session_id)).close_reason == "consulting_complete"
    assert attempted.count(EV_TEXT) == 1  # "done" was never sent into the ended session


async def test_other_sessions_progress_while_a_delegation_waits_over_the_wire(
    wire: Wire,
) -> None:
    release = asyncio.Event()
    started = asyncio.Event()

    async def slow_fact() -> str:
        """Look up the fact (blocks until the test releases it)."""
        started.set()
        await release.wait()
        return "forty-two"

    alice = quiet(await wire.agent("alice"))
    bob = await wire.agent(
        "bob", config=TestConfig(call("delegate", target="carol", prompt="fact?"), "relayed")
    )
    await wire.agent("carol", call("slow_fact"), "the fact is 42", tools=[slow_fact])
    waiting = await alice.open(type="conversation", target="bob")
    other = await alice.open(type="conversation", target="bob")
    await waiting.send("please ask carol")
    await asyncio.wait_for(started.wait(), ANSWER_WITHIN)  # bob's turn is delegating
    bob.agent.config = TestConfig("pong")  # turns started from now on answer at once
    sent = [await other.send(f"ping {i}") for i in range(3)]
    replies = [
        await alice.wait_for_session_event(
            session_id=other.session_id, predicate=text_from(bob.agent_id), timeout=ANSWER_WITHIN
        )
        for _ in sent
    ]
    assert [e.causation_id for e in replies] == sent  # in order, while the other turn waits
    release.set()
    relayed = await alice.wait_for_session_event(
        session_id=waiting.session_id, predicate=text_from(bob.agent_id), timeout=ANSWER_WITHIN
    )
    assert relayed.event_data["text"] == "relayed"
