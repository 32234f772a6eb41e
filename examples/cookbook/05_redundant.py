"""Cookbook 5 — redundant: three proposers answer in turn, an evaluator picks one.

A sequential fan-out: ``sequence(user, safe, clever, nerdy, evaluator)``; the session
closes with ``sequence_complete`` after the evaluator. Offline by default; set
ANTHROPIC_API_KEY to use Claude.

    python examples/cookbook/05_redundant.py              # one process
    python examples/cookbook/05_redundant.py --processes  # hubbub serve + a process per agent
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
from hubbub.network import AgentClient, TransitionGraph
from hubbub.testing import TestConfig

SEED = "Suggest a name for a note-taking app."
AGENTS: dict[str, tuple[str, list[Any]]] = {
    "user": ("You only ask.", []),
    "safe": ("Propose a safe, plain name with a reason.", []),
    "clever": ("Propose a clever name with a reason.", []),
    "nerdy": ("Propose a nerdy name with a reason.", []),
    "evaluator": ("Pick the best proposal above and say why, one line.", []),
}


def offline_configs() -> dict[str, Any]:
    return {
        "user": TestConfig("(the user only asks)"),
        "safe": TestConfig("NoteBook: says what it is."),
        "clever": TestConfig("Jotter: short, friendly, verb-like."),
        "nerdy": TestConfig("Zettel: after the Zettelkasten method."),
        "evaluator": TestConfig("Jotter: memorable and clear."),
    }


def graph(ids: dict[str, str]) -> TransitionGraph:
    """user → safe → clever → nerdy → evaluator → end."""
    return TransitionGraph.sequence([ids[n] for n in AGENTS])


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
