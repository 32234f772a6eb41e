"""Workflow, sequence: the user's brief goes researcher → writer → editor, then ends.

``TransitionGraph.sequence(user, researcher, writer, editor)`` — each step hands to
the next; after the editor no rule fires and the default target closes the session
with ``sequence_complete``. Runs offline with scripted models; set ANTHROPIC_API_KEY
to use Claude.

    python examples/05_workflow_sequence.py              # one process
    python examples/05_workflow_sequence.py --processes  # hubbub serve + a process per agent
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

SEED = "Brief: a 3-sentence note on why our API moved to cursor pagination."
PROMPTS = {
    "user": "You only write the brief.",
    "researcher": "List the two key facts for the brief, one line.",
    "writer": "Write the note from the facts, three sentences.",
    "editor": "Tighten the note; reply with the final text only.",
}
OFFLINE = {
    "user": "(the user only writes the brief)",
    "researcher": "Facts: offsets skipped rows under writes; cursors are stable and cheaper.",
    "writer": "We moved to cursors. Offsets skipped rows when data changed. Cursors fix that.",
    "editor": "We now page with cursors: offsets skipped rows as data changed; cursors don't.",
}


def graph(ids: list[str]) -> TransitionGraph:
    """user → researcher → writer → editor → end."""
    return TransitionGraph.sequence(ids)


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
DRIVER = "user"


async def drive(user: AgentClient) -> harness.Outcome:
    """Open the workflow, seed the brief, wait for the end; the close reason and the
    transcript."""
    ids = await harness.agent_ids(user, list(PROMPTS))
    return await harness.run_workflow(
        user, ["researcher", "writer", "editor"], graph(list(ids.values())), SEED, context=False
    )


harness.main(__name__)
