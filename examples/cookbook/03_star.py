"""Cookbook 3 — star: a concierge asks spokes with plain tools routed by ``ToolCalled``.

``ask_weather`` / ``ask_sports`` / ``ask_finance`` are plain tools; graph rules
``ToolCalled(<tool>) → AgentTarget(<spoke>)`` route the turn, each spoke answers back
to the concierge, and ``synthesise(headline)`` reads the spokes' answers from the WAL,
stores them in ``context_vars["synthesis"]`` and ends the session (``answered``).
Offline by default; set ANTHROPIC_API_KEY to use Claude.

    python examples/cookbook/03_star.py              # one process
    python examples/cookbook/03_star.py --processes  # hubbub serve + a process per agent
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
    EV_PACKET,
    AgentClient,
    AgentTarget,
    FromSpeaker,
    HubInject,
    SessionInject,
    TerminateTarget,
    ToolCalled,
    Transition,
    TransitionGraph,
    set_context,
)
from hubbub.testing import TestConfig, TurnsConfig

SEED = "Give me a morning briefing: weather, sports and markets."


async def ask_weather(reason: str) -> str:
    """Ask the weather desk."""
    return "asking weather"


async def ask_sports(reason: str) -> str:
    """Ask the sports desk."""
    return "asking sports"


async def ask_finance(reason: str) -> str:
    """Ask the finance desk."""
    return "asking finance"


async def synthesise(headline: str, session: SessionInject, hub: HubInject) -> str:
    """Combine the desks' answers under ``headline`` and store the synthesis."""
    if session is None or hub is None:
        return "Error: not in a session"
    parts = []
    for e in await hub.read_wal(session.session_id):
        if e.sender_id != hub.agent_id and e.event_type == EV_PACKET:
            parts.append(e.event_data.get("body", ""))
    synthesis = f"{headline}: " + " / ".join(p for p in parts if p)
    await set_context(session, "synthesis", synthesis)
    return "stored"


AGENTS: dict[str, tuple[str, list[Any]]] = {
    "user": ("You only ask.", []),
    "concierge": (
        "Ask each desk in turn with its tool, then call synthesise.",
        [ask_weather, ask_sports, ask_finance, synthesise],
    ),
    "weather": ("Weather desk: one line.", []),
    "sports": ("Sports desk: one line.", []),
    "finance": ("Finance desk: one line.", []),
}


def offline_configs() -> dict[str, Any]:
    return {
        "user": TestConfig("(the user only asks)"),
        "concierge": TurnsConfig(
            (ToolCallEvent("ask_weather", arguments='{"reason": "forecast"}'), "Weather first."),
            (ToolCallEvent("ask_sports", arguments='{"reason": "last night"}'), "Now sports."),
            (ToolCallEvent("ask_finance", arguments='{"reason": "markets"}'), "Now markets."),
            (
                ToolCallEvent("synthesise", arguments='{"headline": "Morning"}'),
                "Your briefing is ready.",
            ),
        ),
        "weather": TestConfig("Sunny, 21 C, light wind."),
        "sports": TestConfig("The home side won 2-1."),
        "finance": TestConfig("Markets up 0.4%."),
    }


def graph(ids: dict[str, str]) -> TransitionGraph:
    """user → concierge; concierge ⇄ spokes by tool; synthesise ends it."""
    hub = ids["concierge"]
    return TransitionGraph(
        initial_speaker=ids["user"],
        transitions=[
            Transition(ToolCalled("synthesise"), TerminateTarget("answered")),
            Transition(ToolCalled("ask_weather"), AgentTarget(ids["weather"])),
            Transition(ToolCalled("ask_sports"), AgentTarget(ids["sports"])),
            Transition(ToolCalled("ask_finance"), AgentTarget(ids["finance"])),
            Transition(FromSpeaker(ids["user"]), AgentTarget(hub)),
            Transition(FromSpeaker(ids["weather"]), AgentTarget(hub)),
            Transition(FromSpeaker(ids["sports"]), AgentTarget(hub)),
            Transition(FromSpeaker(ids["finance"]), AgentTarget(hub)),
        ],
        default_target=TerminateTarget("fall_through"),
        max_turns=20,
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
