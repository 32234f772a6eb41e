"""Conversation (seed 2): a free-form two-party session that both default handlers auto-drive.

It runs until six texts are in the WAL, then closes explicitly. Runs offline with
scripted models; set ANTHROPIC_API_KEY to use Claude.

    python examples/conversation.py
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from hubbub import Agent
from hubbub.config import AnthropicConfig
from hubbub.knowledge import MemoryKnowledgeStore
from hubbub.network import EV_SESSION_CLOSED, EV_TEXT, Hub, HubClient, LocalLink, Passport, Resume
from hubbub.testing import TestConfig


def pick_configs() -> tuple[Any, Any]:
    """Claude when a key is configured, otherwise a scripted offline model per agent."""
    if os.environ.get("ANTHROPIC_API_KEY"):
        config = AnthropicConfig(model=os.environ.get("HUBBUB_MODEL", "claude-sonnet-4-6"))
        return config, config
    return (
        TestConfig("Thanks! What should I learn right after that?"),
        TestConfig(
            "Linear regression: it teaches loss, gradients and overfitting in one small model."
        ),
    )


async def wait_for_text_count(
    hub: Hub, session_id: str, expected: int, *, timeout: float = 120.0
) -> None:
    deadline = asyncio.get_event_loop().time() + timeout
    while asyncio.get_event_loop().time() < deadline:
        wal = await hub.read_wal(session_id)
        if sum(1 for e in wal if e.event_type == EV_TEXT) >= expected:
            return
        await asyncio.sleep(0.05)
    raise TimeoutError("did not reach expected count")


async def main(alice_config: Any = None, bob_config: Any = None) -> None:
    if alice_config is None or bob_config is None:
        alice_config, bob_config = pick_configs()
    hub = await Hub.open(MemoryKnowledgeStore(), ttl_sweep_interval=0)
    link = LocalLink(hub)

    alice_hc = HubClient(link, hub=hub)
    bob_hc = HubClient(link, hub=hub)

    alice = await alice_hc.register(
        Agent(
            "alice",
            prompt="Curious novice. One short sentence with a follow-up.",
            config=alice_config,
        ),
        Passport(name="alice"),
        Resume(),
    )
    bob = await bob_hc.register(
        Agent(
            "bob",
            prompt="Patient expert. One short sentence, no questions back.",
            config=bob_config,
        ),
        Passport(name="bob"),
        Resume(),
    )

    session = await alice.open(type="conversation", target="bob")
    await session.send("Hi bob, what's a good first ML concept to learn?")

    # Cap by message count, then explicit close.
    await wait_for_text_count(hub, session.session_id, expected=6)
    await session.close()
    close_env = await bob.wait_for_session_event(
        session_id=session.session_id,
        predicate=lambda e: e.event_type == EV_SESSION_CLOSED,
        timeout=60.0,
    )
    print(f"closed: {close_env.event_data.get('reason')!r}")

    wal = await hub.read_wal(session.session_id)
    for env in [e for e in wal if e.event_type == EV_TEXT][:6]:
        speaker = "alice" if env.sender_id == alice.agent_id else "bob"
        print(f"{speaker}: {env.event_data['text']}")

    await alice_hc.close()
    await bob_hc.close()
    await hub.close()


if __name__ == "__main__":
    asyncio.run(main())
