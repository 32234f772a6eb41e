"""Observers: subscribe/event frames, in-process and over a WebSocket."""

from __future__ import annotations

import asyncio

import pytest

from hubbub import Agent
from hubbub.knowledge import MemoryKnowledgeStore
from hubbub.network import (
    EV_TEXT,
    AccessDeniedError,
    Envelope,
    Hub,
    HubClient,
    LocalLink,
    Passport,
    Resume,
)
from hubbub.network.auth import BearerTokens, ServerAuth
from hubbub.network.transport.ws import WsLink, serve_ws
from hubbub.testing import TestConfig


class Seen:
    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []
        self.changed = asyncio.Event()

    def __call__(self, env: Envelope) -> None:
        self.envelopes.append(env)
        self.changed.set()

    async def until(self, count: int, timeout: float = 5.0) -> None:
        async def wait() -> None:
            while len(self.envelopes) < count:
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(wait(), timeout)


async def test_the_operator_observes_every_session_in_wal_order() -> None:
    hub = await Hub.open(MemoryKnowledgeStore())
    watcher = HubClient(LocalLink(hub))
    seen = Seen()
    await watcher.observe(seen)  # the operator's connection: every session
    hc = HubClient(LocalLink(hub))
    alice = await hc.register(
        Agent("alice", config=TestConfig("x")), Passport(name="alice"), Resume()
    )
    await hc.register(Agent("bob", config=TestConfig("")), Passport(name="bob"), Resume())
    session = await alice.open(type="conversation", target="bob")
    await session.send("hello")
    wal = await hub.read_wal(session.session_id)
    await seen.until(len(wal))
    assert [e.envelope_id for e in seen.envelopes] == [e.envelope_id for e in wal]  # acks too
    await watcher.close()
    await hc.close()
    await hub.close()


async def test_a_participant_observes_its_session_with_backlog_and_filter_over_ws() -> None:
    hub = await Hub.open(MemoryKnowledgeStore())
    auth = ServerAuth([BearerTokens({"ta": "A", "tb": "B", "te": "E"})])
    async with serve_ws(hub, port=0, auth=auth) as url:
        a = HubClient(WsLink(url, token="ta"))
        b = HubClient(WsLink(url, token="tb"))
        e = HubClient(WsLink(url, token="te"))
        try:
            alice = await a.register(
                Agent("alice", config=TestConfig("x")), Passport(name="alice"), Resume()
            )
            await b.register(Agent("bob", config=TestConfig("")), Passport(name="bob"), Resume())
            await e.register(Agent("eve", config=TestConfig("")), Passport(name="eve"), Resume())
            session = await alice.open(type="conversation", target="bob")
            first = await session.send("before")
            await session.send("private", audience=[alice.agent_id])
            texts = Seen()
            await a.observe(
                texts, session_id=session.session_id, event_types=[EV_TEXT], since_envelope_id=""
            )
            await session.send("after")
            await texts.until(3)
            assert [x.event_data["text"] for x in texts.envelopes] == ["before", "private", "after"]
            later = Seen()
            await a.observe(later, session_id=session.session_id, since_envelope_id=first)
            await later.until(2)
            assert [x.event_data["text"] for x in later.envelopes][:2] == ["private", "after"]
            bobs = Seen()  # bob sees what bob may see: not alice's private note
            await b.observe(
                bobs, session_id=session.session_id, event_types=[EV_TEXT], since_envelope_id=""
            )
            await bobs.until(2)
            assert [x.event_data["text"] for x in bobs.envelopes] == ["before", "after"]
            with pytest.raises(AccessDeniedError):
                await e.observe(Seen(), session_id=session.session_id)  # not a participant
            with pytest.raises(AccessDeniedError):
                await e.observe(Seen())  # only the operator watches everything
        finally:
            for c in (a, b, e):
                await c.close()
    await hub.close()
