"""Workflow routed by a context variable: triage sets ``route``, the graph follows it.

The user seeds the question; triage's ``classify`` tool calls
``set_context(session, "route", ...)`` (an ``EV_CONTEXT_SET`` on the WAL);
``ContextEquals("route", "security") → AgentTarget(security)`` hands the next turn to
security, whose answer ends the session (``security_review_complete``). Runs offline
with scripted models; set ANTHROPIC_API_KEY to use Claude.

    python examples/03b_workflow_context_vars.py              # one process
    python examples/03b_workflow_context_vars.py --processes  # hubbub serve + a process per agent
"""

from __future__ import annotations

import functools
import os
from typing import Any

import harness

from hubbub import Agent
from hubbub.config import AnthropicConfig
from hubbub.events import ToolCallEvent
from hubbub.network import (
    EV_PACKET,
    EV_TEXT,
    AgentClient,
    AgentTarget,
    ContextEquals,
    FromSpeaker,
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


def transcript(wal: list[Any], names: dict[str, str]) -> list[tuple[str, str]]:
    """One ``(name, text)`` per turn (a packet's handoff line first, if any)."""
    lines = []
    for e in wal:
        if e.event_type == EV_TEXT:
            lines.append((names[e.sender_id], e.event_data["text"]))
        elif e.event_type == EV_PACKET:
            routing = e.event_data.get("routing", {})
            via = (
                f"[Handed off via {routing.get('tool')}] "
                if routing.get("kind") == "handoff"
                else ""
            )
            lines.append((names[e.sender_id], f"{via}{e.event_data.get('body', '')}".rstrip()))
    return lines


def make(name: str) -> Agent:
    """The agent of one role (built in the process that runs it)."""
    tools = [classify] if name == "triage" else []
    return Agent(name, prompt=PROMPTS[name], config=pick_configs()[name], tools=tools)


ROLES = [harness.Role(name, functools.partial(make, name)) for name in PROMPTS]
DRIVER = "user"


async def drive(user: AgentClient) -> harness.Outcome:
    """Open the workflow, seed the question, wait for the end; the close reason, the
    transcript and the final context."""
    ids = await harness.agent_ids(user, list(PROMPTS))
    session = await user.open(
        type="workflow",
        target=["triage", "security", "general"],
        knobs={"graph": graph(ids).to_dict()},
    )
    await session.send(QUESTION)
    reason = await harness.wait_closed(user, session.session_id)
    names = {agent_id: name for name, agent_id in ids.items()}
    state = await user.adapter_state(session.session_id)
    return harness.Outcome(
        reason,
        transcript(await user.read_wal(session.session_id), names),
        {"context": dict(state.context_vars)},
    )


harness.main(__name__)
