"""Hub stores for the inspector tests, written by a real hub on a SQLite file.

:func:`populate` leaves, under known names:

* ``consulting`` — alice asks bob (a scripted model); bob's default handler
  answers; the session closes with ``consulting_complete``;
* ``chat`` — a conversation between carol and dave, posted by hand: five
  texts, dave's two replies carrying ``event_data["usage"]``, one text to an
  explicit audience; closed with ``explicit_close``;
* ``silent`` — alice asks mute, who never answers; the hub's clock moves past
  the consulting ``reply_within`` (600 s) so the expectation fires: an
  ``expectation_violated`` audit record and an auto-close;
* ``open`` — a conversation between carol and dave that stays active (two texts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hubbub import Agent
from hubbub.knowledge import KnowledgeStore
from hubbub.knowledge.sqlite import SqliteKnowledgeStore
from hubbub.network import (
    EV_SESSION_CLOSED,
    EV_SESSION_INVITE,
    Envelope,
    Hub,
    HubClient,
    LocalLink,
    Passport,
    Resume,
)
from hubbub.network.client.handlers import default_handler
from hubbub.network.clock import MockClock
from hubbub.testing import TestConfig

ANSWER = "Fault tolerance."
QUESTION = "What's the most important property of a distributed system?"
CHAT = [
    ("carol", "Shall we plan the launch?", None),
    (
        "dave",
        "Yes. Tuesday works.",
        {
            "model": "claude-test",
            "input_tokens": 120,
            "output_tokens": 30,
            "cache_read_tokens": 100,
            "cache_write_tokens": 0,
            "latency_ms": 850,
            "cost_usd": 0.0012,
        },
    ),
    ("carol", "Tuesday it is; I will tell the team.", None),
    (
        "dave",
        "Great, send me the notes.",
        {
            "model": "claude-test",
            "input_tokens": 200,
            "output_tokens": 50,
            "cache_read_tokens": 150,
            "cache_write_tokens": 10,
            "latency_ms": 1150,
            "cost_usd": 0.0020,
        },
    ),
    ("carol", "Notes to dave only.", "to-dave"),
]


def acks_only(agent: Any) -> Any:
    """A handler that acks invites and never answers anything else."""

    async def handle(envelope: Envelope) -> None:
        if envelope.event_type == EV_SESSION_INVITE:
            await default_handler(envelope, agent)

    return handle


@dataclass
class Facts:
    """What :func:`populate` wrote: session ids by name, agent ids by name, texts."""

    sessions: dict[str, str] = field(default_factory=dict)
    agents: dict[str, str] = field(default_factory=dict)


async def register_pair(
    hub: Hub, names: tuple[str, ...], *, mute: tuple[str, ...] = ()
) -> tuple[HubClient, dict[str, Any]]:
    """Register agents on one operator connection; those in ``mute`` never answer."""
    client = HubClient(LocalLink(hub))
    agents = {}
    for name in names:
        agent = await client.register(
            Agent(name, prompt=f"You are {name}.", config=TestConfig(ANSWER)),
            Passport(name=name),
            Resume(),
            attach_plugin=False,
        )
        if name in mute:
            agent.on_envelope(acks_only(agent))
        agents[name] = agent
    return client, agents


async def populate(db: str | KnowledgeStore, *, leave_open: bool = True) -> Facts:
    """Write the sessions described in the module docstring into the SQLite file ``db``
    (or into a store, which is closed at the end)."""
    clock = MockClock()
    store = SqliteKnowledgeStore(db) if isinstance(db, str) else db
    hub = await Hub.open(store, clock=clock, ttl_sweep_interval=0, expectation_sweep_interval=0)
    facts = Facts()
    client, a = await register_pair(
        hub, ("alice", "bob", "carol", "dave", "mute"), mute=("carol", "dave", "mute")
    )
    try:
        for name, agent in a.items():
            facts.agents[name] = agent.agent_id

        s = await a["alice"].open(type="consulting", target="bob")
        facts.sessions["consulting"] = s.session_id
        await s.send(QUESTION, audience=[a["bob"].agent_id])
        await a["alice"].wait_for_session_event(
            session_id=s.session_id,
            predicate=lambda e: e.event_type == EV_SESSION_CLOSED,
            timeout=30,
        )

        clock.advance(5)
        chat = await a["carol"].open(type="conversation", target="dave")
        facts.sessions["chat"] = chat.session_id
        dave_chat = await a["dave"].session(chat.session_id)
        for sender, text, extra in CHAT:
            clock.advance(2)
            session = chat if sender == "carol" else dave_chat
            if extra == "to-dave":
                await session.send(text, audience=[a["dave"].agent_id])
            elif isinstance(extra, dict):
                await session.send(event_data={"text": text, "usage": extra})
            else:
                await session.send(text)
        clock.advance(2)
        await chat.close()

        clock.advance(5)
        silent = await a["alice"].open(type="consulting", target="mute")
        facts.sessions["silent"] = silent.session_id
        await silent.send("Are you there?", audience=[a["mute"].agent_id])
        clock.advance(700)
        for _ in range(3):
            await hub.check_expectations()

        if leave_open:
            clock.advance(5)
            still = await a["carol"].open(type="conversation", target="dave")
            facts.sessions["open"] = still.session_id
            await still.send("Still there?")
            clock.advance(1)
            await (await a["dave"].session(still.session_id)).send("Yes.")
    finally:
        await client.close()
        await hub.close()
        await store.close()
    return facts
