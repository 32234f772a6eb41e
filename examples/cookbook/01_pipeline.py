"""Cookbook 1 — pipeline: intake → validator → enricher → fulfilment, then done.

A ``TransitionGraph.sequence``: each stage hands to the next; after fulfilment no rule
fires and the session closes with ``sequence_complete``. Offline by default; set
ANTHROPIC_API_KEY to use Claude.

    python examples/cookbook/01_pipeline.py
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

SEED = "Order #1042: 3 x blue mug, ship to 12 Elm St, Springfield."
AGENTS: dict[str, tuple[str, list[Any]]] = {
    "intake": ("You only pass the order on.", []),
    "validator": ("Check the order is complete; one line.", []),
    "enricher": ("Add stock and shipping details; one line.", []),
    "fulfilment": ("Confirm the shipment; one line.", []),
}


def offline_configs() -> dict[str, Any]:
    return {
        "intake": TestConfig("(intake only seeds)"),
        "validator": TestConfig("Valid: item, quantity and address present."),
        "enricher": TestConfig("In stock (warehouse B); ground shipping, 3 days."),
        "fulfilment": TestConfig("Shipped: tracking 1Z999."),
    }


def graph(ids: dict[str, str]) -> TransitionGraph:
    """intake → validator → enricher → fulfilment → end (sequence_complete)."""
    return TransitionGraph.sequence([ids[n] for n in AGENTS])


def pick_configs() -> dict[str, Any]:
    """Claude when a key is configured, otherwise the scripted offline models."""
    if os.environ.get("ANTHROPIC_API_KEY"):
        config = AnthropicConfig(model=os.environ.get("HUBBUB_MODEL", "claude-sonnet-4-6"))
        return dict.fromkeys(AGENTS, config)
    return offline_configs()


def transcript(wal: list[Any], names: dict[str, str]) -> list[str]:
    """One line per turn: ``name: text``, a tool-routed packet with its handoff line."""
    lines = []
    for e in wal:
        if e.event_type == EV_TEXT:
            lines.append(f"{names[e.sender_id]}: {e.event_data['text']}")
        elif e.event_type == EV_PACKET:
            routing = e.event_data.get("routing", {})
            via = ""
            if routing.get("kind") == "handoff":
                via = f"[Handed off via {routing.get('tool')}] {routing.get('reason', '')}".rstrip()
                via += " | "
            lines.append(f"{names[e.sender_id]}: {via}{e.event_data.get('body', '')}")
    return lines


async def run(
    connect: Callable[[], HubClient], configs: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Register the agents (one HubClient each from ``connect``), run the workflow to its
    end; return the close reason, the transcript and the final context variables."""
    configs = configs or pick_configs()
    made: list[HubClient] = []
    try:
        agents: dict[str, AgentClient] = {}
        for name, (prompt, tools) in AGENTS.items():
            hc = connect()
            made.append(hc)
            agents[name] = await hc.register(
                Agent(name, prompt=prompt, config=configs[name], tools=tools),
                Passport(name=name),
                Resume(),
            )
        ids = {name: client.agent_id for name, client in agents.items()}
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
        names = {agent_id: name for name, agent_id in ids.items()}
        state = await opener.adapter_state(session.session_id)
        return {
            "reason": closed.event_data.get("reason"),
            "transcript": transcript(await opener.read_wal(session.session_id), names),
            "context": dict(state.context_vars),
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
    if out["context"]:
        print(f"context: {out['context']}")
    for line in out["transcript"]:
        print(line)


if __name__ == "__main__":
    asyncio.run(main())
