"""A store filled by a real network run: the two seeds with scripted agents, in-process, on SQLite.

``fill(path)`` runs the quick start (a consulting session: alice asks, bob answers,
the session closes with ``consulting_complete``) and the conversation seed (alice
and bob talk until six texts are logged, then alice closes it) on a fresh
``SqliteKnowledgeStore`` at ``path``, closes the hub, and returns what was run.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from hubbub import Agent
from hubbub.knowledge import SqliteKnowledgeStore
from hubbub.network import EV_SESSION_CLOSED, EV_TEXT, Hub, HubClient, LocalLink, Passport, Resume
from hubbub.testing import TestConfig

QUESTION = "What's the single most important property of a distributed system?"
ANSWER = "Fault tolerance."
OPENING = "Hi bob, what's a good first ML concept to learn?"
ALICE_SAYS = "Thanks! Could you say more?"
BOB_SAYS = "Start with linear regression."
TEXTS = 6


@dataclass(frozen=True, slots=True)
class Filled:
    """What the run left in the store."""

    url: str
    consulting_id: str
    conversation_id: str
    alice_id: str
    bob_id: str
    conversation_texts: int


async def fill(path: Path) -> Filled:
    """Run both seeds on a SQLite store at ``path`` and close everything."""
    store = SqliteKnowledgeStore(path)
    hub = await Hub.open(store, ttl_sweep_interval=0)
    try:
        link = LocalLink(hub)
        alice_hc, bob_hc = HubClient(link, hub=hub), HubClient(link, hub=hub)
        alice = await alice_hc.register(
            Agent("alice", config=TestConfig(ALICE_SAYS)),
            Passport(name="alice"),
            Resume(claimed_capabilities=["asking"]),
        )
        bob = await bob_hc.register(
            Agent("bob", config=TestConfig(ANSWER)),
            Passport(name="bob"),
            Resume(claimed_capabilities=["answering", "ml"]),
        )
        consulting = await alice.open(type="consulting", target="bob")
        await consulting.send(QUESTION, audience=[bob.agent_id])
        await alice.wait_for_session_event(
            session_id=consulting.session_id,
            predicate=lambda e: e.event_type == EV_SESSION_CLOSED,
            timeout=30,
        )
        # The conversation: bob now answers BOB_SAYS (a fresh agent under the same name
        # is not needed: the scripted config answers the same text on every turn).
        conversation = await alice.open(type="conversation", target="bob")
        await conversation.send(OPENING)
        texts = 0
        for _ in range(600):
            wal = await hub.read_wal(conversation.session_id)
            texts = sum(1 for e in wal if e.event_type == EV_TEXT)
            if texts >= TEXTS:
                break
            await asyncio.sleep(0.05)
        await conversation.close()
        texts = sum(
            1 for e in await hub.read_wal(conversation.session_id) if e.event_type == EV_TEXT
        )
        await alice_hc.close()
        await bob_hc.close()
        assert alice.agent_id is not None and bob.agent_id is not None
        return Filled(
            f"sqlite:///{path}",
            consulting.session_id,
            conversation.session_id,
            alice.agent_id,
            bob.agent_id,
            texts,
        )
    finally:
        await hub.close()
        await store.close()
