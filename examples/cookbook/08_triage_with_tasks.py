"""Cookbook 8 — triage with tasks: a plan seeds a queue, three specialists work it as tasks.

triage opens a workflow session whose ``knobs["context_vars"]`` seed the ticket queue
(its plan) and posts the plan; ``TransitionGraph.sequence`` hands the turn to researcher
→ writer → reviewer, and the session closes with ``sequence_complete``. Each
specialist's tool reads the queue from the session state (``SessionStateInject``) and
works every ticket inside ``agent.task(..., capability=..., context=ctx)``, so the hub
records one task per (specialist, ticket) in the session and counts each outcome in the
specialist's track record (``Resume.observed``). Offline by default; set
ANTHROPIC_API_KEY to use Claude.

    python examples/cookbook/08_triage_with_tasks.py              # one process
    python examples/cookbook/08_triage_with_tasks.py --processes  # hubbub serve + a process per agent
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import harness

from hubbub import Agent, Context
from hubbub.config import AnthropicConfig
from hubbub.events import ToolCallEvent
from hubbub.network import WORKFLOW_TYPE, AgentClient, SessionStateInject, TransitionGraph
from hubbub.testing import TestConfig

QUEUE = ["refund-policy", "shipping-delay", "login-bug"]
PLAN = "Plan: research each ticket, draft a reply, review the drafts. Tickets: " + ", ".join(QUEUE)

# name → (prompt, the tool it works the queue with, the capability its tasks exercise)
SPECIALISTS: dict[str, tuple[str, str, str]] = {
    "researcher": ("Research every ticket in the queue with your tool.", "research", "research"),
    "writer": ("Draft a reply for every ticket with your tool.", "draft", "writing"),
    "reviewer": ("Review every draft with your tool, then approve.", "review", "review"),
}


def specialist(name: str, config: Any) -> Agent:
    """An agent whose one tool works the session's queue, one task per ticket."""
    prompt, tool_name, capability = SPECIALISTS[name]
    agent = Agent(name, prompt=prompt, config=config)

    async def work_queue(state: SessionStateInject, ctx: Context) -> str:
        queue = list(getattr(state, "context_vars", {}).get("queue", []))
        for ticket in queue:
            async with agent.task(
                f"{tool_name} {ticket}",
                capability=capability,
                payload={"ticket": ticket},
                context=ctx,
            ) as task:
                await task.progress({"ticket": ticket, "step": tool_name})
                await task.complete({"ticket": ticket, "by": name})
        return f"{tool_name}: {len(queue)} tickets done"

    work_queue.__name__ = tool_name
    work_queue.__doc__ = f"{tool_name.capitalize()} every ticket in the session's queue."
    agent.tool(work_queue)
    return agent


def offline_configs() -> dict[str, Any]:
    """Scripted models: each specialist calls its tool, then says one line."""
    return {
        "triage": TestConfig("(triage only seeds the plan)"),
        "researcher": TestConfig(ToolCallEvent("research"), "Research notes ready for 3 tickets."),
        "writer": TestConfig(ToolCallEvent("draft"), "Drafts ready for 3 tickets."),
        "reviewer": TestConfig(ToolCallEvent("review"), "All 3 drafts approved."),
    }


def pick_configs() -> dict[str, Any]:
    """Claude when a key is configured, otherwise the scripted offline models."""
    if os.environ.get("ANTHROPIC_API_KEY"):
        config = AnthropicConfig(model=os.environ.get("HUBBUB_MODEL", "claude-sonnet-4-6"))
        return dict.fromkeys(["triage", *SPECIALISTS], config)
    return offline_configs()


def make(name: str) -> Agent:
    """The agent of one role (built in the process that runs it)."""
    config = pick_configs()[name]
    if name == "triage":
        return Agent("triage", prompt="You only seed the plan.", config=config)
    return specialist(name, config)


ROLES = [harness.Role(name, functools.partial(make, name)) for name in ["triage", *SPECIALISTS]]
DRIVER = "triage"


async def drive(triage: AgentClient) -> harness.Outcome:
    """Open the workflow with the queue seeded, post the plan, wait for the end; the
    close reason, the transcript, the final context, the tasks the hub recorded in the
    session (owner, ticket, state; oldest first) and each specialist's track record."""
    ids = await harness.agent_ids(triage, ["triage", *SPECIALISTS])
    graph = TransitionGraph.sequence([ids["triage"], *(ids[n] for n in SPECIALISTS)])
    session = await triage.open(
        type=WORKFLOW_TYPE,
        target=list(SPECIALISTS),
        knobs={"graph": graph.to_dict(), "context_vars": {"queue": list(QUEUE)}},
    )
    await session.send(PLAN)
    reason = await harness.wait_closed(triage, session.session_id)
    names = {agent_id: name for name, agent_id in ids.items()}
    # triage participates in the session, so it may read every task recorded there
    tasks = await triage.list_tasks(session_id=session.session_id, limit=100)
    observed = {}
    for name, (_prompt, _tool, capability) in SPECIALISTS.items():
        resume = await triage.hub_client.get_resume(ids[name])
        observed[name] = resume.observed.get(capability)
    state = await triage.adapter_state(session.session_id)
    return harness.Outcome(
        reason,
        await harness.transcript(triage, session.session_id),
        {
            "context": dict(getattr(state, "context_vars", {})),
            "tasks": [
                (names[t.owner_id], t.spec.payload.get("ticket"), t.state.value)
                for t in sorted(tasks, key=lambda t: (t.created_at, t.task_id))
            ],
            "observed": observed,
        },
    )


harness.main(__name__)
