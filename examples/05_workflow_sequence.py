"""Workflow, sequence: the user's brief goes researcher → writer → editor, then ends.

``TransitionGraph.sequence(user, researcher, writer, editor)`` — each step hands to
the next; after the editor no rule fires and the default target closes the session
with ``sequence_complete``. Runs offline with scripted models; set ANTHROPIC_API_KEY
to use Claude.

    python examples/05_workflow_sequence.py
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

SEED = "Brief: a 3-sentence note on why our API moved to cursor pagination."
PROMPTS = {
    "user": "You only write the brief.",
    "researcher": "List the two key facts for the brief, one line.",
    "writer": "Write the note from the facts, three sentences.",
    "editor": "Tighten the note; reply with the final text only.",
}
OFFLINE = {
    "user": "(the user only writes the brief)",
    "researcher": "Facts: offsets skipped rows under writes; cursors are stable and cheaper.",
    "writer": "We moved to cursors. Offsets skipped rows when data changed. Cursors fix that.",
    "editor": "We now page with cursors: offsets skipped rows as data changed; cursors don't.",
}


def graph(ids: list[str]) -> TransitionGraph:
    """user → researcher → writer → editor → end."""
    return TransitionGraph.sequence(ids)


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
