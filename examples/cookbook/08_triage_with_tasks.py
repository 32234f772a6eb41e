"""Cookbook 8 — triage with tasks: a plan seeds a queue, three specialists work it as tasks.

triage opens a workflow session whose ``knobs["context_vars"]`` seed the ticket queue
(its plan) and posts the plan; ``TransitionGraph.sequence`` hands the turn to researcher
→ writer → reviewer, and the session closes with ``sequence_complete``. Each
specialist's tool reads the queue from the session state (``SessionStateInject``) and
works every ticket inside ``agent.task(..., capability=..., context=ctx)``, so the hub
records one task per (specialist, ticket) in the session and counts each outcome in the
specialist's track record (``Resume.observed``). Offline by default; set
ANTHROPIC_API_KEY to use Claude.

    python examples/cookbook/08_triage_with_tasks.py
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Any

from hubbub import Agent, Context
from hubbub.config import AnthropicConfig
from hubbub.events import ToolCallEvent
from hubbub.knowledge import MemoryKnowledgeStore
from hubbub.network import (
    EV_PACKET,
    EV_SESSION_CLOSED,
    EV_SESSION_EXPIRED,
    EV_TEXT,
    WORKFLOW_TYPE,
    AgentClient,
    Hub,
    HubClient,
    LocalLink,
    Passport,
    Resume,
    SessionStateInject,
    TransitionGraph,
)
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


def transcript(wal: list[Any], names: dict[str, str]) -> list[str]:
    """One line per turn: ``name: text`` (a workflow packet's body)."""
    lines = []
    for e in wal:
        if e.event_type == EV_TEXT:
            lines.append(f"{names[e.sender_id]}: {e.event_data['text']}")
        elif e.event_type == EV_PACKET:
            lines.append(f"{names[e.sender_id]}: {e.event_data.get('body', '')}")
    return lines


def pick_configs() -> dict[str, Any]:
    """Claude when a key is configured, otherwise the scripted offline models."""
    if os.environ.get("ANTHROPIC_API_KEY"):
        config = AnthropicConfig(model=os.environ.get("HUBBUB_MODEL", "claude-sonnet-4-6"))
        return dict.fromkeys(["triage", *SPECIALISTS], config)
    return offline_configs()


async def run(
    connect: Callable[[], HubClient], configs: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Register triage and the specialists (one HubClient each from ``connect``), run the
    workflow to its end; return the close reason, the transcript, the final context, the
    tasks the hub recorded in the session and each specialist's track record."""
    configs = configs or pick_configs()
    made: list[HubClient] = []
    try:
        agents: dict[str, AgentClient] = {}
        for name in ["triage", *SPECIALISTS]:
            hc = connect()
            made.append(hc)
            agent = (
                Agent("triage", prompt="You only seed the plan.", config=configs["triage"])
                if name == "triage"
                else specialist(name, configs[name])
            )
            agents[name] = await hc.register(agent, Passport(name=name), Resume())
        ids = {name: client.agent_id for name, client in agents.items()}
        triage = agents["triage"]
        graph = TransitionGraph.sequence([ids["triage"], *(ids[n] for n in SPECIALISTS)])
        session = await triage.open(
            type=WORKFLOW_TYPE,
            target=list(SPECIALISTS),
            knobs={"graph": graph.to_dict(), "context_vars": {"queue": list(QUEUE)}},
        )
        await session.send(PLAN)
        closed = await triage.wait_for_session_event(
            session_id=session.session_id,
            predicate=lambda e: e.event_type in (EV_SESSION_CLOSED, EV_SESSION_EXPIRED),
            timeout=120.0,
        )
        names = {agent_id: name for name, agent_id in ids.items()}
        # triage participates in the session, so it may read every task recorded there
        tasks = await triage.list_tasks(session_id=session.session_id, limit=100)
        observed = {}
        for name, (_prompt, _tool, capability) in SPECIALISTS.items():
            resume = await triage.hub_client.get_resume(ids[name])
            observed[name] = resume.observed.get(capability)
        state = await triage.adapter_state(session.session_id)
        return {
            "reason": closed.event_data.get("reason"),
            "transcript": transcript(await triage.read_wal(session.session_id), names),
            "context": dict(getattr(state, "context_vars", {})),
            "tasks": [
                (names[t.owner_id], t.spec.payload.get("ticket"), t.state.value)
                for t in sorted(tasks, key=lambda t: (t.created_at, t.task_id))
            ],
            "observed": observed,
        }
    finally:
        for hc in made:
            await hc.close()


async def main() -> None:
    hub = await Hub.open(MemoryKnowledgeStore(), ttl_sweep_interval=0)
    try:
        out = await run(lambda: HubClient(LocalLink(hub), hub=hub))
    finally:
        await hub.close()
    print(f"closed: {out['reason']!r}")
    for line in out["transcript"]:
        print(line)
    for owner, ticket, state in out["tasks"]:
        print(f"task {owner}/{ticket}: {state}")
    for name, stat in out["observed"].items():
        print(f"{name}: completed={stat.completed} n={stat.n} p50_latency_ms={stat.p50_latency_ms}")


if __name__ == "__main__":
    asyncio.run(main())
