"""Cookbook 7 — context-aware routing: the router's classify tools set ``category``.

``classify_billing`` / ``classify_technical`` store ``category`` in the context;
``ContextEquals("category", ...)`` picks the branch; the branch's answer ends the
session (``handled``). Offline by default; set ANTHROPIC_API_KEY to use Claude.

    python examples/cookbook/07_context_aware_routing.py
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
    EV_PACKET,
    EV_SESSION_CLOSED,
    EV_SESSION_EXPIRED,
    EV_TEXT,
    AgentClient,
    AgentTarget,
    ContextEquals,
    FromSpeaker,
    Hub,
    HubClient,
    LocalLink,
    Passport,
    Resume,
    SessionInject,
    TerminateTarget,
    Transition,
    TransitionGraph,
    set_context,
)
from hubbub.testing import TestConfig

SEED = "The app crashes when I upload a photo larger than 10 MB."


async def classify_billing(session: SessionInject) -> str:
    """The request is about money: plans, invoices, refunds."""
    await set_context(session, "category", "billing")
    return "billing"


async def classify_technical(session: SessionInject) -> str:
    """The request is about the product not working."""
    await set_context(session, "category", "technical")
    return "technical"


AGENTS: dict[str, tuple[str, list[Any]]] = {
    "user": ("You only ask.", []),
    "router": (
        "Classify the request with one classify tool.",
        [classify_billing, classify_technical],
    ),
    "billing": ("Billing desk: answer in one line.", []),
    "technical": ("Technical desk: answer in one line.", []),
}


def offline_configs() -> dict[str, Any]:
    return {
        "user": TestConfig("(the user only asks)"),
        "router": TestConfig(ToolCallEvent("classify_technical"), "A crash is a technical issue."),
        "billing": TestConfig("Your plan renews monthly."),
        "technical": TestConfig("Known bug with large uploads; fixed in 2.4.1, please update."),
    }


def graph(ids: dict[str, str]) -> TransitionGraph:
    """user → router → (category) billing | technical → end."""
    return TransitionGraph(
        initial_speaker=ids["user"],
        transitions=[
            Transition(FromSpeaker(ids["billing"]), TerminateTarget("handled"), -1),
            Transition(FromSpeaker(ids["technical"]), TerminateTarget("handled"), -1),
            Transition(FromSpeaker(ids["user"]), AgentTarget(ids["router"])),
            Transition(ContextEquals("category", "billing"), AgentTarget(ids["billing"])),
            Transition(ContextEquals("category", "technical"), AgentTarget(ids["technical"])),
        ],
        default_target=TerminateTarget("unclassified"),
        max_turns=6,
    )


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
