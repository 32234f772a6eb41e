"""Workflow, round robin: three agents in turn, closed by the graph's turn cap.

``TransitionGraph.round_robin(ids, max_turns=6)`` — alice seeds (turn 1), then bob,
carol, alice, bob, carol; the sixth turn closes the session with ``max_turns``. Runs
offline with scripted models; set ANTHROPIC_API_KEY to use Claude.

    python examples/04_workflow_round_robin.py              # one process
    python examples/04_workflow_round_robin.py --processes  # hubbub serve + a process per agent
"""

from __future__ import annotations

import functools
import os
from typing import Any

import harness

from hubbub import Agent
from hubbub.config import AnthropicConfig
from hubbub.network import AgentClient, TransitionGraph
from hubbub.testing import TestConfig

SEED = "Let's name our new data-pipeline tool. One name each, with a reason."
PROMPTS = {
    "alice": "Brainstorm partner. One short sentence.",
    "bob": "Brainstorm partner. One short sentence.",
    "carol": "Brainstorm partner. One short sentence.",
}
OFFLINE = {
    "alice": "Sluice: it controls the flow.",
    "bob": "Conduit: it carries things where they need to go.",
    "carol": "Millrace: the channel that drives the wheel.",
}


def graph(ids: list[str]) -> TransitionGraph:
    """Everyone in turn from the first; six turns in all."""
    return TransitionGraph.round_robin(ids, max_turns=6)


def pick_configs() -> dict[str, Any]:
    """Claude when a key is configured, otherwise a scripted offline model per agent."""
    if os.environ.get("ANTHROPIC_API_KEY"):
        config = AnthropicConfig(model=os.environ.get("HUBBUB_MODEL", "claude-sonnet-4-6"))
        return dict.fromkeys(PROMPTS, config)
    return {name: TestConfig(text) for name, text in OFFLINE.items()}


def make(name: str) -> Agent:
    """The agent of one role (built in the process that runs it)."""
    return Agent(name, prompt=PROMPTS[name], config=pick_configs()[name])


ROLES = [harness.Role(name, functools.partial(make, name)) for name in PROMPTS]
DRIVER = "alice"


async def drive(alice: AgentClient) -> harness.Outcome:
    """Open the workflow, seed it, wait for the end; the close reason and the transcript."""
    ids = await harness.agent_ids(alice, list(PROMPTS))
    return await harness.run_workflow(
        alice, ["bob", "carol"], graph(list(ids.values())), SEED, context=False
    )


harness.main(__name__)
