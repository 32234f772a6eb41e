"""Cookbook 1 — pipeline: intake → validator → enricher → fulfilment, then done.

A ``TransitionGraph.sequence``: each stage hands to the next; after fulfilment no rule
fires and the session closes with ``sequence_complete``. Offline by default; set
ANTHROPIC_API_KEY to use Claude.

    python examples/cookbook/01_pipeline.py              # one process
    python examples/cookbook/01_pipeline.py --processes  # hubbub serve + a process per agent
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
from hubbub.network import AgentClient, TransitionGraph
from hubbub.testing import TestConfig

SEED = "Order #1042: 3 x blue mug, ship to 12 Elm St, Springfield."
AGENTS: dict[str, tuple[str, list[Any]]] = {
    "intake": ("You only pass the order on.", []),
    "validator": ("Check the order is complete; one line.", []),
    "enricher": ("Add stock and shipping details; one line.", []),
    "fulfilment": ("Confirm the shipment; one line.", []),
}


def offline_configs() -> dict[str, Any]:
    return {
        "intake": TestConfig("(intake only seeds)"),
        "validator": TestConfig("Valid: item, quantity and address present."),
        "enricher": TestConfig("In stock (warehouse B); ground shipping, 3 days."),
        "fulfilment": TestConfig("Shipped: tracking 1Z999."),
    }


def graph(ids: dict[str, str]) -> TransitionGraph:
    """intake → validator → enricher → fulfilment → end (sequence_complete)."""
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
DRIVER = "intake"


async def drive(intake: AgentClient) -> harness.Outcome:
    """Open the workflow, seed the order, wait for the end; the close reason and the
    transcript."""
    ids = await harness.agent_ids(intake, list(AGENTS))
    return await harness.run_workflow(
        intake, ["validator", "enricher", "fulfilment"], graph(ids), SEED, context=False
    )


harness.main(__name__)
