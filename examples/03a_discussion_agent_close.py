"""Discussion closed by an agent: every agent has an ``end_conversation`` tool.

The skeptic decides the point is settled and calls ``end_conversation(reason)``,
which closes the session with ``agent_close:<reason>``. Runs offline with scripted
models; set ANTHROPIC_API_KEY to use Claude.

    python examples/03a_discussion_agent_close.py
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Any

from hubbub import Agent
from hubbub.config import AnthropicConfig
from hubbub.events import ToolCallEvent
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
    SessionInject,
)
from hubbub.testing import TestConfig

TOPIC = "Is a four-day work week good for a ten-person startup?"
ROLES = {
    "optimist": "You see the upside. One short sentence.",
    "realist": "You weigh costs and benefits. One short sentence.",
    "skeptic": (
        "You look for what can go wrong. When the question is settled, call "
        "end_conversation with a one-word reason instead of arguing on."
    ),
}


async def end_conversation(reason: str, session: SessionInject) -> str:
    """End the discussion for everyone; ``reason`` is one word."""
    if session is None:
        return "Error: not in a session"
    await session.close(reason=f"agent_close:{reason}")
    return "closed"


def pick_configs() -> dict[str, Any]:
    """Claude when a key is configured, otherwise a scripted offline model per agent."""
    if os.environ.get("ANTHROPIC_API_KEY"):
        config = AnthropicConfig(model=os.environ.get("HUBBUB_MODEL", "claude-sonnet-4-6"))
        return dict.fromkeys(ROLES, config)
    return {
        "optimist": TestConfig("More rest, better focus: try it for a quarter."),
        "realist": TestConfig("Customers still need cover on Fridays; rotate the day off."),
        "skeptic": TestConfig(
            ToolCallEvent("end_conversation", arguments='{"reason": "consensus"}'),
            "A rotating day off answers my worry; we agree.",
        ),
    }


async def run(
    connect: Callable[[], HubClient], configs: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Run the discussion until an agent closes it; return the close reason and the texts."""
    configs = configs or pick_configs()
    made: list[HubClient] = []
    try:
        agents: dict[str, AgentClient] = {}
        for name, prompt in ROLES.items():
            hc = connect()
            made.append(hc)
            agents[name] = await hc.register(
                Agent(name, prompt=prompt, config=configs[name], tools=[end_conversation]),
                Passport(name=name),
                Resume(),
            )
        opener = agents["optimist"]
        session = await opener.open(type="discussion", target=["realist", "skeptic"])
        await session.send(TOPIC)
        closed = await opener.wait_for_session_event(
            session_id=session.session_id,
            predicate=lambda e: e.event_type in (EV_SESSION_CLOSED, EV_SESSION_EXPIRED),
            timeout=120.0,
        )
        names = {client.agent_id: name for name, client in agents.items()}
        wal = await opener.read_wal(session.session_id)
        return {
            "reason": closed.event_data.get("reason"),
            "transcript": [
                f"{names[e.sender_id]}: {e.event_data['text']}"
                for e in wal
                if e.event_type == EV_TEXT
            ],
        }
    finally:
        for hc in made:
            await hc.close()


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
