"""Cookbook 6 — feedback loop: drafter ⇄ reviewer until the reviewer approves.

The reviewer's ``approve`` tool calls ``set_context(session, "done", True)``;
``ContextEquals("done", True) → TerminateTarget("approved")`` is checked first, and
``max_turns`` caps the loop (``max_turns`` if it is hit). Offline by default; set
ANTHROPIC_API_KEY to use Claude.

    python examples/cookbook/06_feedback_loop.py              # one process
    python examples/cookbook/06_feedback_loop.py --processes  # hubbub serve + a process per agent
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

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
from hubbub.testing import TestConfig, TurnsConfig

SEED = "Draft a one-sentence release note for the new dark mode."


async def approve(session: SessionInject) -> str:
    """Approve the latest draft."""
    await set_context(session, "done", True)
    return "approved"


AGENTS: dict[str, tuple[str, list[Any]]] = {
    "user": ("You only ask.", []),
    "drafter": ("Write or revise the draft, one sentence.", []),
    "reviewer": (
        "Review the draft; call approve when it is good, else say what to fix.",
        [approve],
    ),
}


def offline_configs() -> dict[str, Any]:
    return {
        "user": TestConfig("(the user only asks)"),
        "drafter": TurnsConfig(
            "Dark mode is here.",
            "Dark mode is here: easier on the eyes at night, on every screen.",
        ),
        "reviewer": TurnsConfig(
            "Say what it does for the reader.",
            (ToolCallEvent("approve"), "Approved."),
        ),
    }


def graph(ids: dict[str, str]) -> TransitionGraph:
    """user → drafter ⇄ reviewer until done (at most 10 turns)."""
    return TransitionGraph(
        initial_speaker=ids["user"],
        transitions=[
            Transition(ContextEquals("done", True), TerminateTarget("approved"), -1),
            Transition(FromSpeaker(ids["user"]), AgentTarget(ids["drafter"])),
            Transition(FromSpeaker(ids["drafter"]), AgentTarget(ids["reviewer"])),
            Transition(FromSpeaker(ids["reviewer"]), AgentTarget(ids["drafter"])),
        ],
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
    and the final context variables."""
    ids = await harness.agent_ids(user, list(AGENTS))
    return await harness.run_workflow(user, list(AGENTS)[1:], graph(ids), SEED)


harness.main(__name__)
