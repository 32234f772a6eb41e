"""Usage and cost: every reply carries its turn's tokens, latency and cost; the hub sums them.

The scripted model (``TestConfig(..., usage=Usage(...))``) reports a known usage on
every model call, so every total here is checked against what it reported: in
process (``LocalLink``), over a real WebSocket server, and after a restart on a
SQLite file (the totals are derived data, rebuilt from the WALs).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from hubbub.agent import Agent
from hubbub.events import ToolCallEvent, Usage
from hubbub.knowledge.memory import MemoryKnowledgeStore
from hubbub.knowledge.sqlite import SqliteKnowledgeStore
from hubbub.network import (
    EV_SESSION_CLOSED,
    EV_TEXT,
    Envelope,
    Hub,
    HubClient,
    LocalLink,
    Passport,
    Resume,
)
from hubbub.network.auth import BearerTokens, ServerAuth
from hubbub.network.client.agent_client import AgentClient
from hubbub.network.errors import AccessDeniedError, InvalidValueError
from hubbub.network.identity import CostProfile
from hubbub.network.transport.ws import WsLink, serve_ws
from hubbub.network.usage import PRICES, price_for, turn_cost
from hubbub.testing import TestConfig

USAGE = Usage(
    prompt_tokens=120,
    completion_tokens=30,
    cache_read_input_tokens=10,
    cache_creation_input_tokens=4,
)
MODEL = "claude-sonnet-4-5-20250929"
KEYS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")


def sonnet_cost(turns: int) -> float:
    return turns * (120 * 3.0 + 30 * 15.0 + 10 * 0.30 + 4 * 3.75) / 1e6


def tokens(n: int) -> dict[str, int]:
    """What ``n`` scripted model calls reported."""
    return {
        "input_tokens": 120 * n,
        "output_tokens": 30 * n,
        "cache_read_tokens": 10 * n,
        "cache_write_tokens": 4 * n,
    }


@pytest.fixture
async def hub() -> AsyncIterator[Hub]:
    h = await Hub.open(MemoryKnowledgeStore(), ttl_sweep_interval=0, expectation_sweep_interval=0)
    yield h
    await h.close()


async def register(
    hc: HubClient, name: str, *script: Any, usage: Usage | None = None, **passport: Any
) -> AgentClient:
    config = TestConfig(*(script or ("ok",)), usage=usage, model=MODEL if usage else None)
    return await hc.register(Agent(name, config=config), Passport(name=name, **passport), Resume())


async def consult(alice: AgentClient, bob: AgentClient, question: str = "Why?") -> str:
    session = await alice.open(type="consulting", target="bob")
    await session.send(question, audience=[bob.agent_id])
    await alice.wait_for_session_event(
        session_id=session.session_id,
        predicate=lambda e: e.event_type == EV_SESSION_CLOSED,
        timeout=10,
    )
    return session.session_id


def only_tokens(totals: dict[str, Any]) -> dict[str, Any]:
    return {k: totals[k] for k in KEYS}


async def test_a_reply_carries_its_turns_usage_and_the_hub_sums_it(hub: Hub) -> None:
    link = LocalLink(hub)
    alice_hc, bob_hc = HubClient(link), HubClient(link)
    alice = await register(alice_hc, "alice")
    bob = await register(bob_hc, "bob", "Fault tolerance.", usage=USAGE)
    sid = await consult(alice, bob)

    (reply,) = [e for e in await hub.read_wal(sid) if e.event_data.get("usage")]
    assert reply.sender_id == bob.agent_id and reply.event_type == EV_TEXT
    usage = reply.event_data["usage"]
    assert set(usage) == {"model", *KEYS, "latency_ms", "cost_usd"}
    assert usage["model"] == MODEL
    assert only_tokens(usage) == tokens(1)
    assert isinstance(usage["latency_ms"], float) and usage["latency_ms"] >= 0
    assert usage["cost_usd"] == pytest.approx(sonnet_cost(1))

    for query in ({}, {"agent_id": bob.agent_id}, {"session_id": sid}):
        totals = await hub.usage(**query)
        assert only_tokens(totals) == tokens(1), query
        assert totals["turns"] == 1 and totals["cost_usd"] == pytest.approx(sonnet_cost(1))
    assert (await hub.usage(agent_id=alice.agent_id))["turns"] == 0  # alice's text was typed
    assert (await hub.usage(agent_id=alice.agent_id))["cost_usd"] is None
    health = hub.health()["usage"]
    assert only_tokens(health) == tokens(1) and health["complete"] is True

    # the client reads its own usage through the protocol, and nobody else's
    assert only_tokens(await bob.usage()) == tokens(1)
    assert only_tokens(await bob.usage(sid)) == tokens(1)
    assert (await alice.usage(sid))["turns"] == 0
    with pytest.raises(AccessDeniedError):
        await alice.connection.call("usage", agent_id=bob.agent_id, session_id=None)
    with pytest.raises(InvalidValueError, match="agent_id"):
        await hub.usage(agent_id=7)  # type: ignore[arg-type]
    await alice_hc.close()
    await bob_hc.close()


async def test_a_turn_with_tool_rounds_sums_every_model_call(hub: Hub) -> None:
    link = LocalLink(hub)
    alice_hc, bob_hc = HubClient(link), HubClient(link)
    alice = await register(alice_hc, "alice")
    calls = [ToolCallEvent(name="missing", arguments="{}"), ToolCallEvent(name="gone")]
    bob = await register(bob_hc, "bob", calls[0], calls[1], "done", usage=USAGE)
    bob.agent.config.raise_tool_errors = False  # an unknown tool is an error result
    sid = await consult(alice, bob)
    assert only_tokens(await hub.usage(session_id=sid)) == tokens(3)  # three model calls
    assert (await hub.usage(session_id=sid))["turns"] == 1
    await alice_hc.close()
    await bob_hc.close()


async def test_a_conversation_sums_per_agent_and_per_session(hub: Hub) -> None:
    link = LocalLink(hub)
    alice_hc, bob_hc = HubClient(link), HubClient(link)
    alice = await register(alice_hc, "alice", "")  # alice's turns are empty: nothing posted
    bob = await register(bob_hc, "bob", "Sure.", usage=USAGE)
    session = await alice.open(type="conversation", target="bob")
    for n in range(1, 4):
        await session.send(f"question {n}")
        await wait_replies(hub, session.session_id, bob.agent_id, n)
    wal = await hub.read_wal(session.session_id)
    replies = [e for e in wal if e.sender_id == bob.agent_id and e.event_type == EV_TEXT]
    assert len(replies) == 3
    assert only_tokens(await hub.usage(session_id=session.session_id)) == tokens(3)
    assert only_tokens(await hub.usage(agent_id=bob.agent_id)) == tokens(3)
    other = await consult(alice, bob)  # a second session of the same agent
    assert only_tokens(await hub.usage(agent_id=bob.agent_id)) == tokens(4)
    assert only_tokens(await hub.usage(session_id=other)) == tokens(1)
    by_both = await hub.usage(agent_id=bob.agent_id, session_id=session.session_id)
    assert only_tokens(by_both) == tokens(3)
    assert only_tokens(await bob.usage()) == tokens(4)
    await alice_hc.close()
    await bob_hc.close()


async def test_the_passports_cost_profile_prices_the_turn(hub: Hub) -> None:
    link = LocalLink(hub)
    alice_hc, bob_hc = HubClient(link), HubClient(link)
    alice = await register(alice_hc, "alice")
    profile = CostProfile(input_per_mtok=1.0, output_per_mtok=2.0)
    bob = await register(bob_hc, "bob", "Fine.", usage=USAGE, cost=profile)
    sid = await consult(alice, bob)
    expected = ((120 + 10 + 4) * 1.0 + 30 * 2.0) / 1e6
    assert (await hub.usage(session_id=sid))["cost_usd"] == pytest.approx(expected)
    await alice_hc.close()
    await bob_hc.close()


async def test_an_unknown_model_has_no_cost(hub: Hub) -> None:
    link = LocalLink(hub)
    alice_hc, bob_hc = HubClient(link), HubClient(link)
    alice = await register(alice_hc, "alice")
    bob = await bob_hc.register(
        Agent("bob", config=TestConfig("x", usage=USAGE, model="my-local-llama")),
        Passport(name="bob"),
        Resume(),
    )
    sid = await consult(alice, bob)
    (reply,) = [e for e in await hub.read_wal(sid) if e.event_data.get("usage")]
    assert reply.event_data["usage"]["cost_usd"] is None
    assert reply.event_data["usage"]["model"] == "my-local-llama"
    totals = await hub.usage()
    assert totals["cost_usd"] is None and totals["unpriced_turns"] == 1
    assert only_tokens(totals) == tokens(1)
    await alice_hc.close()
    await bob_hc.close()


def test_the_price_table() -> None:
    assert price_for("claude-sonnet-4-5-20250929") is PRICES["claude-sonnet-4-5"]
    assert price_for("gpt-4o-mini-2024-07-18") is PRICES["gpt-4o-mini"]  # not gpt-4o
    assert price_for("llama3") is None
    # OpenAI counts cached tokens inside the prompt: they are priced once, at the cache rate
    assert turn_cost("gpt-4o", 1000, 0, 400) == pytest.approx((600 * 2.5 + 400 * 1.25) / 1e6)
    assert turn_cost("llama3", 1, 1) is None
    half = CostProfile(input_per_mtok=1.0)  # a profile without both prices: the table
    assert turn_cost("gpt-4o", 1000, 0, profile=half) == pytest.approx(1000 * 2.5 / 1e6)


async def test_usage_is_rebuilt_from_the_wal_when_the_hub_opens(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"

    async def run_hub(rounds: int) -> tuple[dict[str, Any], dict[str, Any]]:
        store = SqliteKnowledgeStore(str(path))
        hub = await Hub.open(store, ttl_sweep_interval=0, expectation_sweep_interval=0)
        before = await hub.usage()
        link = LocalLink(hub)
        alice_hc, bob_hc = HubClient(link), HubClient(link)
        alice = await register(alice_hc, "alice")
        bob = await register(bob_hc, "bob", "ok", usage=USAGE)
        for _ in range(rounds):
            await consult(alice, bob)
        after = await hub.usage(agent_id=bob.agent_id)
        await alice_hc.close()
        await bob_hc.close()
        await hub.close()
        await store.close()
        return before, after

    before, after = await run_hub(2)
    assert before["turns"] == 0 and only_tokens(after) == tokens(2)
    before, after = await run_hub(1)  # same bob (same id after the restart)
    assert only_tokens(before) == tokens(2)  # rebuilt from the WALs
    assert only_tokens(after) == tokens(3)  # and counted on, live


async def test_a_live_session_is_counted_once_across_a_restart(tmp_path: Path) -> None:
    """WAL lines before the restart come from the rebuild, later ones live: none twice."""
    path = tmp_path / "hub.db"
    store = SqliteKnowledgeStore(str(path))
    hub = await Hub.open(store, ttl_sweep_interval=0, expectation_sweep_interval=0)
    link = LocalLink(hub)
    alice_hc, bob_hc = HubClient(link), HubClient(link)
    alice = await register(alice_hc, "alice", "")
    bob = await register(bob_hc, "bob", "Sure.", usage=USAGE)
    session = await alice.open(type="conversation", target="bob")
    await session.send("one")
    await wait_replies(hub, session.session_id, bob.agent_id, 1)
    await alice_hc.close()
    await bob_hc.close()
    await hub.close()
    await store.close()

    store = SqliteKnowledgeStore(str(path))
    hub = await Hub.open(store, ttl_sweep_interval=0, expectation_sweep_interval=0)
    link = LocalLink(hub)
    alice_hc, bob_hc = HubClient(link), HubClient(link)
    alice = await register(alice_hc, "alice", "")
    bob = await register(bob_hc, "bob", "Sure.", usage=USAGE)
    await alice.send_envelope(
        Envelope(
            session_id=session.session_id,
            sender_id=alice.agent_id,
            audience=[bob.agent_id],
            event_type=EV_TEXT,
            event_data={"text": "two"},
        )
    )
    await wait_replies(hub, session.session_id, bob.agent_id, 2)
    assert only_tokens(await hub.usage(session_id=session.session_id)) == tokens(2)
    assert only_tokens(await hub.usage()) == tokens(2)
    await alice_hc.close()
    await bob_hc.close()
    await hub.close()
    await store.close()


async def wait_replies(hub: Hub, session_id: str, sender_id: str, n: int) -> None:
    async with asyncio.timeout(10):
        while True:
            wal = await hub.read_wal(session_id)
            if sum(1 for e in wal if e.sender_id == sender_id and e.event_type == EV_TEXT) >= n:
                return
            await asyncio.sleep(0.01)


async def test_usage_over_websocket(hub: Hub) -> None:
    auth = ServerAuth([BearerTokens({"ta": "owner-a", "tb": "owner-b"})])
    async with serve_ws(hub, host="127.0.0.1", port=0, auth=auth) as url:
        alice_hc = HubClient(WsLink(url, token="ta", reconnect=0))
        bob_hc = HubClient(WsLink(url, token="tb", reconnect=0))
        alice = await register(alice_hc, "alice")
        bob = await register(bob_hc, "bob", "Over the wire.", usage=USAGE)
        sid = await consult(alice, bob)
        sid2 = await consult(alice, bob)
        assert only_tokens(await hub.usage(agent_id=bob.agent_id)) == tokens(2)
        mine = await bob.usage()
        assert only_tokens(mine) == tokens(2)
        assert mine["cost_usd"] == pytest.approx(sonnet_cost(2))
        assert only_tokens(await bob.usage(sid)) == tokens(1)
        assert only_tokens(await bob.usage(sid2)) == tokens(1)
        with pytest.raises(AccessDeniedError):
            await alice.connection.call("usage", agent_id=bob.agent_id, session_id=None)
        wal = await alice.read_wal(sid)
        (reply,) = [e for e in wal if e.sender_id == bob.agent_id and e.event_type == EV_TEXT]
        assert only_tokens(reply.event_data["usage"]) == tokens(1)
        await alice_hc.close()
        await bob_hc.close()
