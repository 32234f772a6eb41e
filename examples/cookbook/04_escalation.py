"""Cookbook 4 — escalation: tier1 → tier2 → senior by Handoff tools; ``resolve`` ends it.

``escalate_to_tier2`` / ``escalate_to_senior`` come from ``make_handoff_tools`` (the
Handoff names the next tier); the senior's ``resolve`` tool stores the resolution in
the context and ``ToolCalled("resolve") → TerminateTarget("resolved")``. Offline by
default; set ANTHROPIC_API_KEY to use Claude.

    python examples/cookbook/04_escalation.py
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
    FromSpeaker,
    Hub,
    HubClient,
    LocalLink,
    Passport,
    Resume,
    SessionInject,
    TerminateTarget,
    ToolCalled,
    Transition,
    TransitionGraph,
    make_handoff_tools,
    set_context,
)
from hubbub.testing import TestConfig

SEED = "My invoices show a charge I never authorised, and support closed my ticket."


async def resolve(resolution: str, session: SessionInject) -> str:
    """Record the ``resolution`` and end the case."""
    await set_context(session, "resolution", resolution)
    return "resolved"


AGENTS: dict[str, tuple[str, list[Any]]] = {
    "user": ("You only report the problem.", []),
    "tier1": (
        "First-line support. Escalate what you cannot fix.",
        make_handoff_tools({"escalate_to_tier2": "tier2"}),
    ),
    "tier2": (
        "Second-line support. Escalate disputes.",
        make_handoff_tools({"escalate_to_senior": "senior"}),
    ),
    "senior": ("Senior support. Resolve with the resolve tool.", [resolve]),
}


def offline_configs() -> dict[str, Any]:
    return {
        "user": TestConfig("(the user only reports)"),
        "tier1": TestConfig(
            ToolCallEvent("escalate_to_tier2", arguments='{"reason": "billing dispute"}'),
            "Passing this to billing specialists.",
        ),
        "tier2": TestConfig(
            ToolCallEvent("escalate_to_senior", arguments='{"reason": "refund over limit"}'),
            "A refund this size needs a senior.",
        ),
        "senior": TestConfig(
            ToolCallEvent("resolve", arguments='{"resolution": "refund issued, ticket reopened"}'),
            "Refunded and reopened; sorry for the trouble.",
        ),
    }


def graph(ids: dict[str, str]) -> TransitionGraph:
    """user → tier1; handoffs move it up; resolve ends it."""
    return TransitionGraph(
        initial_speaker=ids["user"],
        transitions=[
            Transition(ToolCalled("resolve"), TerminateTarget("resolved")),
            Transition(FromSpeaker(ids["user"]), AgentTarget(ids["tier1"])),
        ],
        default_target=TerminateTarget("unresolved"),
        max_turns=10,
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
