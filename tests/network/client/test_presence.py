"""Presence: inviting an agent with no live connection fails at once with agent_offline."""

from __future__ import annotations

import asyncio
import time

import pytest

from hubbub import Agent
from hubbub.knowledge import MemoryKnowledgeStore
from hubbub.network import (
    Hub,
    HubClient,
    InvalidValueError,
    LocalLink,
    Passport,
    ProtocolError,
    Resume,
)
from hubbub.testing import TestConfig


async def _net() -> tuple[Hub, HubClient, HubClient]:
    hub = await Hub.open(MemoryKnowledgeStore(), invite_ack_timeout=30)
    return hub, HubClient(LocalLink(hub)), HubClient(LocalLink(hub))


async def test_an_offline_invitee_fails_the_open_at_once() -> None:
    hub, a, b = await _net()
    alice = await a.register(
        Agent("alice", config=TestConfig("x")), Passport(name="alice"), Resume()
    )
    await b.register(Agent("bob", config=TestConfig("y")), Passport(name="bob"), Resume())
    await b.close()  # bob is registered, but nobody holds his connection
    started = time.monotonic()
    with pytest.raises(ProtocolError, match="no live connection") as info:
        await alice.open(type="conversation", target="bob")
    assert info.value.code == "agent_offline"
    assert time.monotonic() - started < 5  # not the 30 s ack timeout
    assert hub.health()["active_sessions"] == 0  # nothing was created
    online = [p.name for p in await a.list_agents(online=True)]
    offline = [p.name for p in await a.list_agents(online=False)]
    assert (online, offline) == (["alice"], ["bob"])
    await a.close()
    await hub.close()


async def test_wait_online_waits_for_the_invitee_to_connect() -> None:
    hub, a, b = await _net()
    alice = await a.register(
        Agent("alice", config=TestConfig("x")), Passport(name="alice"), Resume()
    )
    await b.register(Agent("bob", config=TestConfig("y")), Passport(name="bob"), Resume())
    await b.close()

    async def bob_comes_back() -> None:
        await asyncio.sleep(0.05)
        again = HubClient(LocalLink(hub))
        await again.register(Agent("bob", config=TestConfig("y")), Passport(name="bob"), Resume())

    returning = asyncio.ensure_future(bob_comes_back())
    session = await alice.open(type="conversation", target="bob", wait_online=5)
    await returning
    assert session.state.value == "active"
    c = HubClient(LocalLink(hub))
    await c.register(Agent("carol", config=TestConfig("z")), Passport(name="carol"), Resume())
    await c.close()  # carol will not come back
    with pytest.raises(ProtocolError, match=r"waited 0.05 s") as info:
        await alice.open(type="conversation", target="carol", wait_online=0.05)
    assert info.value.code == "agent_offline"
    with pytest.raises(InvalidValueError, match="wait_online"):
        await alice.open(type="conversation", target="bob", wait_online=-1)
    await a.close()
    await hub.close()
