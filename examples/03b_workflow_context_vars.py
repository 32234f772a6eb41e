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


def make(name: str) -> Agent:
    """The agent of one role (built in the process that runs it)."""
    tools = [classify] if name == "triage" else []
    return Agent(name, prompt=PROMPTS[name], config=pick_configs()[name], tools=tools)


ROLES = [harness.Role(name, functools.partial(make, name)) for name in PROMPTS]
DRIVER = "user"


async def drive(user: AgentClient) -> harness.Outcome:
    """Open the workflow, seed the question, wait for the end; the close reason, the
    transcript (handoff lines included) and the final context."""
    ids = await harness.agent_ids(user, list(PROMPTS))
    return await harness.run_workflow(
        user, ["triage", "security", "general"], graph(ids), QUESTION, handoffs=True
    )


harness.main(__name__)
