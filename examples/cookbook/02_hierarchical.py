"""Cookbook 2 — hierarchical: a coordinator delegates to specialists with Handoffs.

The coordinator's ``delegate_research`` / ``delegate_writing`` tools return
``Handoff(target=<name>)`` (built by ``make_handoff_tools``); each specialist's turn
goes back to the coordinator (``FromSpeaker(spoke) → AgentTarget(coordinator)``);
``finish`` sets the context flag ``done`` and ``ContextEquals("done", True)`` ends
the session (``delegation_complete``). Offline by default; set ANTHROPIC_API_KEY to
use Claude.

    python examples/cookbook/02_hierarchical.py
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
    make_handoff_tools,
    set_context,
)
from hubbub.testing import TestConfig, TurnsConfig

SEED = "Prepare a one-paragraph brief on heat pumps for a homeowner."


async def finish(summary: str, session: SessionInject) -> str:
    """Declare the work complete with a one-line ``summary``."""
    await set_context(session, "done", True)
    await set_context(session, "summary", summary)
    return "finished"


DELEGATES = make_handoff_tools({"delegate_research": "research", "delegate_writing": "writing"})
AGENTS: dict[str, tuple[str, list[Any]]] = {
    "user": ("You only ask.", []),
    "coordinator": (
        "Delegate research first, then writing, then call finish.",
        [*DELEGATES, finish],
    ),
    "research": ("Give the two key facts, one line.", []),
    "writing": ("Write the paragraph from the facts.", []),
}


def offline_configs() -> dict[str, Any]:
    return {
        "user": TestConfig("(the user only asks)"),
        "coordinator": TurnsConfig(
            (
                ToolCallEvent("delegate_research", arguments='{"reason": "facts first"}'),
                "Research, please.",
            ),
            (
                ToolCallEvent("delegate_writing", arguments='{"reason": "now the prose"}'),
                "Writing, please.",
            ),
            (
                ToolCallEvent("finish", arguments='{"summary": "brief ready"}'),
                "The brief is ready.",
            ),
        ),
        "research": TestConfig(
            "Heat pumps move heat instead of making it; 3x as efficient as resistive heat."
        ),
        "writing": TestConfig(
            "A heat pump moves heat rather than burning fuel, so it heats for a third of the cost."
        ),
    }


def graph(ids: dict[str, str]) -> TransitionGraph:
    """user → coordinator ⇄ specialists (by handoff) until done."""
    coordinator = ids["coordinator"]
    return TransitionGraph(
        initial_speaker=ids["user"],
        transitions=[
            Transition(ContextEquals("done", True), TerminateTarget("delegation_complete"), -1),
            Transition(FromSpeaker(ids["user"]), AgentTarget(coordinator)),
            Transition(FromSpeaker(ids["research"]), AgentTarget(coordinator)),
            Transition(FromSpeaker(ids["writing"]), AgentTarget(coordinator)),
        ],
        default_target=TerminateTarget("fall_through"),
        max_turns=12,
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
