"""Quick start (seed 1): one in-process hub, two agents, a consulting session that auto-closes.

Runs offline with scripted models; set ANTHROPIC_API_KEY to use Claude
(ANTHROPIC_BASE_URL / HUBBUB_MODEL are honoured too).

    python examples/quick_start.py
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from hubbub import Agent
from hubbub.config import AnthropicConfig
from hubbub.knowledge import MemoryKnowledgeStore
from hubbub.network import (
    EV_SESSION_CLOSED,
    EV_TEXT,
    Hub,
    HubClient,
    LocalLink,
    Passport,
    Resume,
)
from hubbub.testing import TestConfig


def pick_configs() -> tuple[Any, Any]:
    """Claude when a key is configured, otherwise a scripted offline model per agent."""
    if os.environ.get("ANTHROPIC_API_KEY"):
        config = AnthropicConfig(model=os.environ.get("HUBBUB_MODEL", "claude-sonnet-4-6"))
        return config, config
    return (
        TestConfig("What's the single most important property of a distributed system?"),
        TestConfig(
            "Fault tolerance — because a system that can't survive partial failures defeats its entire purpose."
        ),
    )


async def main(alice_config: Any = None, bob_config: Any = None) -> None:
    if alice_config is None or bob_config is None:
        alice_config, bob_config = pick_configs()

    # Hub: registry + WAL + audit log + adapters live here.
    hub = await Hub.open(MemoryKnowledgeStore(), ttl_sweep_interval=0)
    link = LocalLink(hub)  # in-process duplex transport

    # Each agent gets its own HubClient (its own duplex pair to the hub).
    alice_hc = HubClient(link, hub=hub)
    bob_hc = HubClient(link, hub=hub)

    alice = await alice_hc.register(
        Agent("alice", prompt="Ask one focused question and stop.", config=alice_config),
        Passport(name="alice"),
        Resume(),
    )
    bob = await bob_hc.register(
        Agent("bob", prompt="Answer in one short sentence.", config=bob_config),
        Passport(name="bob"),
        Resume(),
    )

    # Strict 1Q1R; the adapter auto-closes on bob's reply.
    session = await alice.open(type="consulting", target="bob")
    await session.send(
        "What's the single most important property of a distributed system?",
        audience=[bob.agent_id],
    )

    close_env = await alice.wait_for_session_event(
        session_id=session.session_id,
        predicate=lambda e: e.event_type == EV_SESSION_CLOSED,
        timeout=60.0,
    )
    print(f"closed: {close_env.event_data.get('reason')!r}")

    # Replay the conversation from the hub's write-ahead log.
    wal = await hub.read_wal(session.session_id)
    for env in wal:
        if env.event_type == EV_TEXT:
            speaker = "alice" if env.sender_id == alice.agent_id else "bob"
            print(f"{speaker}: {env.event_data['text']}")

    await alice_hc.close()
    await bob_hc.close()
    await hub.close()


if __name__ == "__main__":
    asyncio.run(main())
