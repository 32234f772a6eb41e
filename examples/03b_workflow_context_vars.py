"""Workflow routed by a context variable: triage sets ``route``, the graph follows it.

The user seeds the question; triage's ``classify`` tool calls
``set_context(session, "route", ...)`` (an ``EV_CONTEXT_SET`` on the WAL);
``ContextEquals("route", "security") → AgentTarget(security)`` hands the next turn to
security, whose answer ends the session (``security_review_complete``). Runs offline
with scripted models; set ANTHROPIC_API_KEY to use Claude.

    python examples/03b_workflow_context_vars.py
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

QUESTION = "Someone logged into my account from another country. What now?"
PROMPTS = {
    "user": "You ask one question.",
    "triage": "Classify the request with the classify tool (security or general), then say why.",
    "security": "You are the security desk. Answer in one or two sentences.",
    "general": "You are the general help desk. Answer in one or two sentences.",
}


async def classify(route: str, session: SessionInject) -> str:
    """Route the request: ``route`` is "security" or "general"."""
    await set_context(session, "route", route)
    return f"routed to {route}"


def pick_configs() -> dict[str, Any]:
    """Claude when a key is configured, otherwise a scripted offline model per agent."""
    if os.environ.get("ANTHROPIC_API_KEY"):
        config = AnthropicConfig(model=os.environ.get("HUBBUB_MODEL", "claude-sonnet-4-6"))
        return dict.fromkeys(PROMPTS, config)
    return {
        "user": TestConfig("(the user only asks)"),
        "triage": TestConfig(
            ToolCallEvent("classify", arguments='{"route": "security"}'),
            "An unknown login is an account-security matter.",
        ),
        "security": TestConfig("Change your password now and turn on two-factor sign-in."),
        "general": TestConfig("Please contact support."),
    }


def graph(ids: dict[str, str]) -> TransitionGraph:
    """user → triage → (route) security | general → end."""
    return TransitionGraph(
        initial_speaker=ids["user"],
        transitions=[
            Transition(
                FromSpeaker(ids["security"]), TerminateTarget("security_review_complete"), -1
            ),
            Transition(FromSpeaker(ids["general"]), TerminateTarget("answered"), -1),
            Transition(FromSpeaker(ids["user"]), AgentTarget(ids["triage"])),
            Transition(ContextEquals("route", "security"), AgentTarget(ids["security"])),
            Transition(ContextEquals("route", "general"), AgentTarget(ids["general"])),
        ],
        default_target=TerminateTarget("unrouted"),
        max_turns=10,
    )


def transcript(wal: list[Any], names: dict[str, str]) -> list[str]:
    """One line per turn: ``name: text`` (a packet's handoff line first, if any)."""
    lines = []
    for e in wal:
        if e.event_type == EV_TEXT:
            lines.append(f"{names[e.sender_id]}: {e.event_data['text']}")
        elif e.event_type == EV_PACKET:
            routing = e.event_data.get("routing", {})
            via = (
                f"[Handed off via {routing.get('tool')}] "
                if routing.get("kind") == "handoff"
                else ""
            )
            lines.append(f"{names[e.sender_id]}: {via}{e.event_data.get('body', '')}".rstrip())
    return lines


async def run(
    connect: Callable[[], HubClient], configs: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Run the workflow; return the close reason, the transcript and the final context."""
    configs = configs or pick_configs()
    made: list[HubClient] = []
    try:
        agents: dict[str, AgentClient] = {}
        for name, prompt in PROMPTS.items():
            hc = connect()
            made.append(hc)
            agents[name] = await hc.register(
                Agent(
                    name,
                    prompt=prompt,
                    config=configs[name],
                    tools=[classify] if name == "triage" else [],
                ),
                Passport(name=name),
                Resume(),
            )
        ids = {name: client.agent_id for name, client in agents.items()}
        user = agents["user"]
        session = await user.open(
            type="workflow",
            target=["triage", "security", "general"],
            knobs={"graph": graph(ids).to_dict()},
        )
        await session.send(QUESTION)
        closed = await user.wait_for_session_event(
            session_id=session.session_id,
            predicate=lambda e: e.event_type in (EV_SESSION_CLOSED, EV_SESSION_EXPIRED),
            timeout=120.0,
        )
        names = {agent_id: name for name, agent_id in ids.items()}
        state = await user.adapter_state(session.session_id)
        return {
            "reason": closed.event_data.get("reason"),
            "transcript": transcript(await user.read_wal(session.session_id), names),
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
    print(f"context: {out['context']}")
    for line in out["transcript"]:
        print(line)


if __name__ == "__main__":
    asyncio.run(main())
