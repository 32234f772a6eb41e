"""Cookbook 4 — escalation: tier1 → tier2 → senior by Handoff tools; ``resolve`` ends it.

``escalate_to_tier2`` / ``escalate_to_senior`` come from ``make_handoff_tools`` (the
Handoff names the next tier); the senior's ``resolve`` tool stores the resolution in
the context and ``ToolCalled("resolve") → TerminateTarget("resolved")``. Offline by
default; set ANTHROPIC_API_KEY to use Claude.

    python examples/cookbook/04_escalation.py              # one process
    python examples/cookbook/04_escalation.py --processes  # hubbub serve + a process per agent
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for ``import harness``

import harness

from hubbub import Agent
from hubbub.config import AnthropicConfig
from hubbub.events import ToolCallEvent
from hubbub.network import (
    AgentClient,
    AgentTarget,
    FromSpeaker,
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


def make(name: str) -> Agent:
    """The agent of one role (built in the process that runs it)."""
    prompt, tools = AGENTS[name]
    return Agent(name, prompt=prompt, config=pick_configs()[name], tools=tools)


ROLES = [harness.Role(name, functools.partial(make, name)) for name in AGENTS]
DRIVER = "user"


async def drive(user: AgentClient) -> harness.Outcome:
    """Open the workflow, seed it, wait for the end; the close reason, the transcript
    (handoff lines included) and the final context variables."""
    ids = await harness.agent_ids(user, list(AGENTS))
    return await harness.run_workflow(user, list(AGENTS)[1:], graph(ids), SEED, handoffs=True)


harness.main(__name__)
