"""Discussion: optimist, realist and skeptic take turns (round robin from the opener).

Every agent's default handler sees every message, but only the expected speaker
calls its model. After six texts the optimist closes the session with
``cap_reached``. Runs offline with scripted models; set ANTHROPIC_API_KEY to use Claude.

    python examples/03_discussion_3way.py
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Any

from hubbub import Agent
from hubbub.config import AnthropicConfig
from hubbub.knowledge import MemoryKnowledgeStore
from hubbub.network import (
    EV_SESSION_CLOSED,
    EV_SESSION_EXPIRED,
    EV_TEXT,
    AgentClient,
    Hub,
    HubClient,
    LocalLink,
    Passport,
    Resume,
)
from hubbub.testing import TestConfig

TOPIC = "Should our team rewrite the billing service in Rust this quarter?"
TURNS = 6
ROLES = {
    "optimist": "You see the upside. One short sentence.",
    "realist": "You weigh costs and benefits. One short sentence.",
    "skeptic": "You look for what can go wrong. One short sentence.",
}
OFFLINE = {
    "optimist": "Rust would make billing faster and safer; let's go for it.",
    "realist": "Only if we can keep the old service running while we port it.",
    "skeptic": "Nobody on the team has shipped Rust; this quarter is too soon.",
}


def pick_configs() -> dict[str, Any]:
    """Claude when a key is configured, otherwise a scripted offline model per agent."""
    if os.environ.get("ANTHROPIC_API_KEY"):
        config = AnthropicConfig(model=os.environ.get("HUBBUB_MODEL", "claude-sonnet-4-6"))
        return dict.fromkeys(ROLES, config)
    return {name: TestConfig(text) for name, text in OFFLINE.items()}


async def run(
    connect: Callable[[], HubClient], configs: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Register the three agents (one HubClient each from ``connect``), run the discussion,
    close it after ``TURNS`` texts; return the close reason and the first texts."""
    configs = configs or pick_configs()
    made: list[HubClient] = []
    try:
        agents: dict[str, AgentClient] = {}
        for name, prompt in ROLES.items():
            hc = connect()
            made.append(hc)
            agents[name] = await hc.register(
                Agent(name, prompt=prompt, config=configs[name]), Passport(name=name), Resume()
            )
        opener = agents["optimist"]
        session = await opener.open(type="discussion", target=["realist", "skeptic"])
        await session.send(TOPIC)
        texts = await wait_for_texts(opener, session.session_id, TURNS)
        await session.close(reason="cap_reached")
        closed = await opener.wait_for_session_event(
            session_id=session.session_id,
            predicate=lambda e: e.event_type in (EV_SESSION_CLOSED, EV_SESSION_EXPIRED),
            timeout=60.0,
        )
        names = {client.agent_id: name for name, client in agents.items()}
        return {
            "reason": closed.event_data.get("reason"),
            "transcript": [f"{names[e.sender_id]}: {e.event_data['text']}" for e in texts[:TURNS]],
        }
    finally:
        for hc in made:
            await hc.close()


async def wait_for_texts(
    client: AgentClient, session_id: str, count: int, timeout: float = 120.0
) -> list[Any]:
    """Poll the WAL (as a participant) until it holds ``count`` texts."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        texts = [e for e in await client.read_wal(session_id) if e.event_type == EV_TEXT]
        if len(texts) >= count:
            return texts
        if loop.time() > deadline:
            raise TimeoutError(f"only {len(texts)} of {count} texts arrived")
        await asyncio.sleep(0.02)


async def main() -> None:
    hub = await Hub.open(MemoryKnowledgeStore(), ttl_sweep_interval=0)
    try:
        out = await run(lambda: HubClient(LocalLink(hub), hub=hub))
    finally:
        await hub.close()
    print(f"closed: {out['reason']!r}")
    for line in out["transcript"]:
        print(line)


if __name__ == "__main__":
    asyncio.run(main())
