"""Cookbook 2 — hierarchical: a coordinator delegates to specialists with Handoffs.

The coordinator's ``delegate_research`` / ``delegate_writing`` tools return
``Handoff(target=<name>)`` (built by ``make_handoff_tools``); each specialist's turn
goes back to the coordinator (``FromSpeaker(spoke) → AgentTarget(coordinator)``);
``finish`` sets the context flag ``done`` and ``ContextEquals("done", True)`` ends
the session (``delegation_complete``). Offline by default; set ANTHROPIC_API_KEY to
use Claude.

    python examples/cookbook/02_hierarchical.py              # one process
    python examples/cookbook/02_hierarchical.py --processes  # hubbub serve + a process per agent
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
    ContextEquals,
    FromSpeaker,
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
