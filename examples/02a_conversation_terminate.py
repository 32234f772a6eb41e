"""Conversation with a sentinel: the session closes itself when a text says TERMINATE.

``TerminatingConversationAdapter`` subclasses the built-in conversation adapter
(spec §10.7): ``on_accepted`` returns CLOSED with ``terminate_keyword:<KEYWORD>``
when an accepted text contains the keyword. It is pure — the decision is re-derived
from the WAL on hydrate — and the keyword message is on the WAL before the close.
Registering it under the same (type, version) replaces the built-in.

Runs offline with scripted models; set ANTHROPIC_API_KEY to use Claude.

    python examples/02a_conversation_terminate.py
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
    AdapterResult,
    ConversationAdapter,
    Envelope,
    Hub,
    HubClient,
    LocalLink,
    Passport,
    Resume,
    SessionMetadata,
    SessionState,
)
from hubbub.testing import TestConfig


class TerminatingConversationAdapter(ConversationAdapter):
    """A conversation that closes when an accepted text contains ``keyword``."""

    def __init__(self, keyword: str = "TERMINATE") -> None:
        super().__init__()  # keeps the conversation manifest: this replaces the built-in
        self.keyword = keyword

    def on_accepted(
        self, metadata: SessionMetadata, envelope: Envelope, state: Any
    ) -> AdapterResult:
        """CLOSED with ``terminate_keyword:<KEYWORD>`` on a text carrying the keyword."""
        if envelope.event_type == EV_TEXT and self.keyword in envelope.event_data.get("text", ""):
            return AdapterResult(SessionState.CLOSED, f"terminate_keyword:{self.keyword}")
        return super().on_accepted(metadata, envelope, state)


def pick_configs() -> tuple[Any, Any]:
    """Claude when a key is configured, otherwise a scripted offline model per agent."""
    if os.environ.get("ANTHROPIC_API_KEY"):
        config = AnthropicConfig(model=os.environ.get("HUBBUB_MODEL", "claude-sonnet-4-6"))
        return config, config
    return (
        TestConfig("Thanks, that is all I needed. TERMINATE"),
        TestConfig("Linear regression: loss, gradients and overfitting in one small model."),
    )


async def main(alice_config: Any = None, bob_config: Any = None) -> None:
    if alice_config is None or bob_config is None:
        alice_config, bob_config = pick_configs()
    hub = await Hub.open(MemoryKnowledgeStore(), ttl_sweep_interval=0)
    hub.register_adapter(TerminatingConversationAdapter(keyword="TERMINATE"))
    link = LocalLink(hub)
    alice_hc = HubClient(link, hub=hub)
    bob_hc = HubClient(link, hub=hub)
    alice = await alice_hc.register(
        Agent(
            "alice",
            prompt="Curious novice. Once you have an answer, thank bob and end with TERMINATE.",
            config=alice_config,
        ),
        Passport(name="alice"),
        Resume(),
    )
    bob = await bob_hc.register(
        Agent("bob", prompt="Patient expert. One short sentence.", config=bob_config),
        Passport(name="bob"),
        Resume(),
    )

    session = await alice.open(type="conversation", target="bob")
    await session.send("Hi bob, what's a good first ML concept to learn?")
    closed = await bob.wait_for_session_event(
        session_id=session.session_id,
        predicate=lambda e: e.event_type == EV_SESSION_CLOSED,
        timeout=60.0,
    )
    print(f"closed: {closed.event_data.get('reason')!r}")
    for env in await hub.read_wal(session.session_id):
        if env.event_type == EV_TEXT:
            speaker = "alice" if env.sender_id == alice.agent_id else "bob"
            print(f"{speaker}: {env.event_data['text']}")

    await alice_hc.close()
    await bob_hc.close()
    await hub.close()


if __name__ == "__main__":
    asyncio.run(main())
