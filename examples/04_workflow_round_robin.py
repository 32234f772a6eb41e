"""Workflow, round robin: three agents in turn, closed by the graph's turn cap.

``TransitionGraph.round_robin(ids, max_turns=6)`` — alice seeds (turn 1), then bob,
carol, alice, bob, carol; the sixth turn closes the session with ``max_turns``. Runs
offline with scripted models; set ANTHROPIC_API_KEY to use Claude.

    python examples/04_workflow_round_robin.py
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
    EV_PACKET,
    EV_SESSION_CLOSED,
    EV_SESSION_EXPIRED,
    EV_TEXT,
    AgentClient,
    Hub,
    HubClient,
    LocalLink,
    Passport,
    Resume,
    TransitionGraph,
)
from hubbub.testing import TestConfig

SEED = "Let's name our new data-pipeline tool. One name each, with a reason."
PROMPTS = {
    "alice": "Brainstorm partner. One short sentence.",
    "bob": "Brainstorm partner. One short sentence.",
    "carol": "Brainstorm partner. One short sentence.",
}
OFFLINE = {
    "alice": "Sluice: it controls the flow.",
    "bob": "Conduit: it carries things where they need to go.",
    "carol": "Millrace: the channel that drives the wheel.",
}


def graph(ids: list[str]) -> TransitionGraph:
    """Everyone in turn from the first; six turns in all."""
    return TransitionGraph.round_robin(ids, max_turns=6)


def pick_configs() -> dict[str, Any]:
    """Claude when a key is configured, otherwise a scripted offline model per agent."""
    if os.environ.get("ANTHROPIC_API_KEY"):
        config = AnthropicConfig(model=os.environ.get("HUBBUB_MODEL", "claude-sonnet-4-6"))
        return dict.fromkeys(PROMPTS, config)
    return {name: TestConfig(text) for name, text in OFFLINE.items()}


def transcript(wal: list[Any], names: dict[str, str]) -> list[str]:
    """One line per turn: ``name: text``."""
    lines = []
    for e in wal:
        if e.event_type == EV_TEXT:
            lines.append(f"{names[e.sender_id]}: {e.event_data['text']}")
        elif e.event_type == EV_PACKET:
            lines.append(f"{names[e.sender_id]}: {e.event_data.get('body', '')}")
    return lines


async def run(
    connect: Callable[[], HubClient], configs: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Register the agents (one HubClient each from ``connect``), run the workflow to its
    end; return the close reason and the transcript."""
    configs = configs or pick_configs()
    made: list[HubClient] = []
    try:
        agents: dict[str, AgentClient] = {}
        for name, prompt in PROMPTS.items():
            hc = connect()
            made.append(hc)
            agents[name] = await hc.register(
                Agent(name, prompt=prompt, config=configs[name]), Passport(name=name), Resume()
            )
        ids = [client.agent_id for client in agents.values()]
        opener = next(iter(agents.values()))
        session = await opener.open(
            type="workflow", target=list(agents)[1:], knobs={"graph": graph(ids).to_dict()}
        )
        await session.send(SEED)
        closed = await opener.wait_for_session_event(
            session_id=session.session_id,
            predicate=lambda e: e.event_type in (EV_SESSION_CLOSED, EV_SESSION_EXPIRED),
            timeout=120.0,
        )
        names = {client.agent_id: name for name, client in agents.items()}
        return {
            "reason": closed.event_data.get("reason"),
            "transcript": transcript(await opener.read_wal(session.session_id), names),
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
