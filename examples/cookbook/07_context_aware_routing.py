"""Cookbook 7 — context-aware routing: the router's classify tools set ``category``.

``classify_billing`` / ``classify_technical`` store ``category`` in the context;
``ContextEquals("category", ...)`` picks the branch; the branch's answer ends the
session (``handled``). Offline by default; set ANTHROPIC_API_KEY to use Claude.

    python examples/cookbook/07_context_aware_routing.py              # one process
    python examples/cookbook/07_context_aware_routing.py --processes  # hubbub serve + a process per agent
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
